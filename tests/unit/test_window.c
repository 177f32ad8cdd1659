/* test_window.c — tumbling, hopping and session windows, grace, policies. */
#include <stdio.h>
#include <string.h>

#include "nd_test.h"
#include "nudge/window.h"

#define MIN INT64_MIN
#define MAX INT64_MAX

/* ---- tumbling ---- */

static const struct tcase_ {
        int64_t size, ts;
        nd_err_t err;
        int64_t start, end;
} tumbling[] = {
    {1000, 0, ND_OK, 0, 1000},
    {1000, 999, ND_OK, 0, 1000},
    {1000, 1000, ND_OK, 1000, 2000},
    {1000, -1, ND_OK, -1000, 0},
    {1000, -1000, ND_OK, -1000, 0},
    {1000, -1001, ND_OK, -2000, -1000},
    {60000, 1700000012345, ND_OK, 1699999980000, 1700000040000},
    {0, 5, ND_ERR_INVAL, 0, 0},
    {-5, 5, ND_ERR_INVAL, 0, 0},
    {1000, MAX, ND_ERR_INVAL, 0, 0}, /* end would not fit */
    {1000, MIN, ND_ERR_INVAL, 0, 0}, /* start would not fit */
    {1024, MIN, ND_OK, MIN, MIN + 1024},
};

START_TEST(tumbling_window_contains_its_record) {
        const struct tcase_ *c = &tumbling[_i];
        nd_window_t win = {0, 0};
        ck_assert_int_eq(nd_window_tumbling(c->size, c->ts, &win), c->err);
        if (c->err == ND_OK) {
                ck_assert_int_eq(win.start, c->start);
                ck_assert_int_eq(win.end, c->end);
                ck_assert(win.start <= c->ts && c->ts < win.end);
        }
}
END_TEST

/* ---- hopping ---- */

static const struct hcase {
        int64_t size, advance, ts;
        size_t cap;
        int want; /* count, or an error */
        int64_t starts[6];
} hopping[] = {
    {1000, 250, 1100, 8, 4, {250, 500, 750, 1000}},
    {1000, 250, 1000, 8, 4, {250, 500, 750, 1000}},
    {1000, 250, 999, 8, 4, {0, 250, 500, 750}},
    {1000, 300, 1000, 8, 3, {300, 600, 900}}, /* start 0 is too old */
    {1000, 1000, 1500, 8, 1, {1000}},         /* = tumbling */
    {100, 250, 520, 8, 1, {500}},             /* advance > size */
    {100, 250, 620, 8, 0, {0}},               /* in a gap */
    {1000, 250, -1, 8, 4, {-1000, -750, -500, -250}},
    {1000, 250, 1100, 3, ND_ERR_INVAL, {0}}, /* cap too small */
    {1000, 0, 1100, 8, ND_ERR_INVAL, {0}},
    {0, 250, 1100, 8, ND_ERR_INVAL, {0}},
    {1000, 250, MAX, 8, ND_ERR_INVAL, {0}},
};

START_TEST(hopping_windows_are_every_window_containing_the_record) {
        const struct hcase *c = &hopping[_i];
        nd_window_t wins[8];
        int n = nd_window_hopping(c->size, c->advance, c->ts, wins, c->cap);
        int i;
        ck_assert_int_eq(n, c->want);
        for (i = 0; i < n; i++) {
                /* Expected starts are listed oldest first, zero-padded. */
                ck_assert_int_eq(wins[i].start, c->starts[i]);
                ck_assert_int_eq(wins[i].end, wins[i].start + c->size);
                ck_assert(wins[i].start <= c->ts && c->ts < wins[i].end);
        }
}
END_TEST

/* ---- closing and policies ---- */

START_TEST(window_closes_when_w_reaches_end_plus_grace) {
        nd_window_t win = {0, 1000};
        ck_assert(!nd_window_is_closed(&win, 0, 999));
        ck_assert(nd_window_is_closed(&win, 0, 1000));
        ck_assert(!nd_window_is_closed(&win, 500, 1499));
        ck_assert(nd_window_is_closed(&win, 500, 1500));
        ck_assert(!nd_window_is_closed(&win, 500, MIN));
        win.end = MAX;
        ck_assert(!nd_window_is_closed(&win, 500, MAX - 1));
        ck_assert(nd_window_is_closed(&win, 500, MAX));
}
END_TEST

/* A timer armed at the close due time fires (W > D) exactly at closing. */
START_TEST(close_due_time_fires_exactly_when_the_window_closes) {
        static const int64_t graces[] = {0, 1, 500};
        nd_window_t win = {0, 1000};
        nd_session_t sess = {100, 400};
        size_t g;
        int64_t W;
        for (g = 0; g < 3; g++) {
                int64_t d = nd_window_close_due(&win, graces[g]);
                int64_t ds = nd_session_close_due(&sess, 300, graces[g]);
                for (W = 0; W < 3000; W++) {
                        ck_assert_int_eq(
                            nd_window_is_closed(&win, graces[g], W), W > d);
                        ck_assert_int_eq(
                            nd_session_is_closed(&sess, 300, graces[g], W),
                            W > ds);
                }
        }
        win.end = MIN;
        ck_assert_int_eq(nd_window_close_due(&win, 0), MIN);
}
END_TEST

static const struct pcase {
        nd_window_emit_t policy;
        int64_t W;
        nd_window_action_t want;
} policies[] = {
    /* window [0, 1000), grace 100 */
    {ND_WINDOW_EMIT_ON_UPDATE, 500, ND_WINDOW_UPDATE_EMIT},
    {ND_WINDOW_EMIT_ON_UPDATE, 1099, ND_WINDOW_UPDATE_EMIT},
    {ND_WINDOW_EMIT_ON_UPDATE, 1100, ND_WINDOW_LATE},
    {ND_WINDOW_EMIT_ON_CLOSE, 500, ND_WINDOW_UPDATE},
    {ND_WINDOW_EMIT_ON_CLOSE, 1099, ND_WINDOW_UPDATE},
    {ND_WINDOW_EMIT_ON_CLOSE, 1100, ND_WINDOW_LATE},
};

START_TEST(emit_policy_decides_update_emit_or_late) {
        const struct pcase *c = &policies[_i];
        nd_window_t win = {0, 1000};
        ck_assert_int_eq(nd_window_on_record(c->policy, &win, 100, c->W),
                         c->want);
        ck_assert_int_eq(nd_window_emits_on_close(c->policy),
                         c->policy == ND_WINDOW_EMIT_ON_CLOSE);
}
END_TEST

/* ---- single session ---- */

static const struct scase {
        const char *what;
        int64_t gap;
        int64_t ts[6]; /* records, MIN ends */
        nd_session_res_t res[6];
        int64_t start, end;
} single[] = {
    {"views within the gap join",
     100,
     {0, 50, 150, MIN},
     {ND_SESSION_NEW, ND_SESSION_JOINED, ND_SESSION_JOINED},
     0,
     150},
    {"exactly the gap after the latest view joins (inclusive)",
     100,
     {0, 100, 200, MIN},
     {ND_SESSION_NEW, ND_SESSION_JOINED, ND_SESSION_JOINED},
     0,
     200},
    {"one ms beyond the gap starts a new session",
     100,
     {0, 101, MIN},
     {ND_SESSION_NEW, ND_SESSION_REPLACED},
     101,
     101},
    {"a late view inside the session joins it",
     300,
     {1000, 1200, 1100, MIN},
     {ND_SESSION_NEW, ND_SESSION_JOINED, ND_SESSION_JOINED},
     1000,
     1200},
    {"a late view within the gap before the start extends it",
     100,
     {1000, 900, MIN},
     {ND_SESSION_NEW, ND_SESSION_JOINED},
     900,
     1000},
    {"a view older than start minus gap is late and ignored",
     100,
     {1000, 899, MIN},
     {ND_SESSION_NEW, ND_SESSION_LATE},
     1000,
     1000},
    {"extreme timestamps do not wrap",
     100,
     {MAX, MAX - 100, MIN + 1, MIN},
     {ND_SESSION_NEW, ND_SESSION_JOINED, ND_SESSION_LATE},
     MAX - 100,
     MAX},
};

START_TEST(single_session_follows_the_browse_rules) {
        const struct scase *c = &single[_i];
        nd_session_t sess;
        int i;
        nd_session_init(&sess);
        ck_assert(nd_session_is_empty(&sess));
        for (i = 0; i < 6 && c->ts[i] != MIN; i++)
                ck_assert_msg(nd_session_add(&sess, c->ts[i], c->gap) ==
                                  c->res[i],
                              "%s: record %d", c->what, i);
        ck_assert(!nd_session_is_empty(&sess));
        ck_assert_int_eq(sess.start, c->start);
        ck_assert_int_eq(sess.end, c->end);
}
END_TEST

/* ---- session lists ---- */

static const struct lcase {
        const char *what;
        int64_t W; /* watermark when the record arrives */
        int64_t ts;
        nd_session_res_t res;
        size_t idx;
        const char *after; /* sessions afterwards */
} lists[] = {
    /* Before each: [100,200] [350,600] [1000,1000]; gap 100, grace 50. */
    {"joins the session it falls into", 0, 150, ND_SESSION_JOINED, 0,
     "[100,200][350,600][1000,1000]"},
    {"extends a session by the gap", 0, 700, ND_SESSION_JOINED, 1,
     "[100,200][350,700][1000,1000]"},
    {"bridges two sessions into one", 0, 290, ND_SESSION_MERGED, 0,
     "[100,600][1000,1000]"},
    {"starts a new session between two", 0, 800, ND_SESSION_NEW, 2,
     "[100,200][350,600][800,800][1000,1000]"},
    {"starts a new first session", 0, -10, ND_SESSION_NEW, 0,
     "[-10,-10][100,200][350,600][1000,1000]"},
    {"starts a new last session", 0, 5000, ND_SESSION_NEW, 3,
     "[100,200][350,600][1000,1000][5000,5000]"},
    {"joining a closed session is late", 381, 230, ND_SESSION_LATE, 0,
     "[100,200][350,600][1000,1000]"},
    {"joining a session still in grace is on time", 380, 230, ND_SESSION_JOINED,
     0, "[100,230][350,600][1000,1000]"},
    {"a merge whose result is still open is on time", 750, 290,
     ND_SESSION_MERGED, 0, "[100,600][1000,1000]"},
    {"a merge whose result is closed is late", 751, 290, ND_SESSION_LATE, 0,
     "[100,200][350,600][1000,1000]"},
    {"a new session already closed is late", 3000, 2000, ND_SESSION_LATE, 0,
     "[100,200][350,600][1000,1000]"},
};

static void print_sessions(char *buf, const nd_session_t *s, size_t n) {
        size_t i;
        buf[0] = '\0';
        for (i = 0; i < n; i++)
                sprintf(buf + strlen(buf), "[%lld,%lld]", (long long)s[i].start,
                        (long long)s[i].end);
}

START_TEST(session_list_joins_merges_inserts_or_reports_late) {
        const struct lcase *c = &lists[_i];
        nd_session_t s[4] = {{100, 200}, {350, 600}, {1000, 1000}};
        size_t n = 3, idx = 99;
        char got[256];
        ck_assert_int_eq(nd_sessions_add(s, &n, 4, c->ts, 100, 50, c->W, &idx),
                         c->res);
        if (c->res != ND_SESSION_LATE)
                ck_assert_uint_eq(idx, c->idx);
        print_sessions(got, s, n);
        ck_assert_msg(strcmp(got, c->after) == 0, "%s: %s", c->what, got);
}
END_TEST

START_TEST(a_full_session_list_refuses_a_new_session) {
        nd_session_t s[2] = {{100, 200}, {500, 600}};
        size_t n = 2, idx;
        ck_assert_int_eq(nd_sessions_add(s, &n, 2, 2000, 100, 0, 0, &idx),
                         ND_SESSION_FULL);
        ck_assert_uint_eq(n, 2);
        ck_assert_int_eq(nd_sessions_add(s, &n, 2, 250, 100, 0, 0, &idx),
                         ND_SESSION_JOINED);
}
END_TEST

START_TEST(closed_sessions_are_a_prefix_and_can_be_dropped) {
        nd_session_t s[4] = {{100, 200}, {500, 600}, {1000, 1000}};
        size_t n = 3;
        char got[128];
        /* gap 100, grace 50: closes when W > end + 150 */
        ck_assert_uint_eq(nd_sessions_closed(s, n, 100, 50, 350), 0);
        ck_assert_uint_eq(nd_sessions_closed(s, n, 100, 50, 351), 1);
        ck_assert_uint_eq(nd_sessions_closed(s, n, 100, 50, 751), 2);
        ck_assert_uint_eq(nd_sessions_closed(s, n, 100, 50, MAX), 3);
        nd_sessions_remove(s, &n, 0, 2);
        print_sessions(got, s, n);
        ck_assert_str_eq(got, "[1000,1000]");
        nd_sessions_remove(s, &n, 5, 1); /* out of range: nothing */
        ck_assert_uint_eq(n, 1);
}
END_TEST

static Suite *window_suite(void) {
        Suite *s = suite_create("window");
        TCase *tc = tcase_create("time windows");
        tcase_add_loop_test(tc, tumbling_window_contains_its_record, 0,
                            sizeof(tumbling) / sizeof(tumbling[0]));
        tcase_add_loop_test(
            tc, hopping_windows_are_every_window_containing_the_record, 0,
            sizeof(hopping) / sizeof(hopping[0]));
        suite_add_tcase(s, tc);
        tc = tcase_create("closing");
        tcase_add_test(tc, window_closes_when_w_reaches_end_plus_grace);
        tcase_add_test(tc, close_due_time_fires_exactly_when_the_window_closes);
        tcase_add_loop_test(tc, emit_policy_decides_update_emit_or_late, 0,
                            sizeof(policies) / sizeof(policies[0]));
        suite_add_tcase(s, tc);
        tc = tcase_create("sessions");
        tcase_add_loop_test(tc, single_session_follows_the_browse_rules, 0,
                            sizeof(single) / sizeof(single[0]));
        tcase_add_loop_test(tc,
                            session_list_joins_merges_inserts_or_reports_late,
                            0, sizeof(lists) / sizeof(lists[0]));
        tcase_add_test(tc, a_full_session_list_refuses_a_new_session);
        tcase_add_test(tc, closed_sessions_are_a_prefix_and_can_be_dropped);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(window_suite());
}
