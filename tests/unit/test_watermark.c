/*
 * test_watermark.c — the watermark, the hybrid clock and the per-event order
 * of TRIGGERS.md §2, driven by a fake processor through scripted scenarios.
 */
#include <stdio.h>
#include <string.h>

#include "nd_test.h"
#include "timer.h"
#include "watermark.h"

/* ---- the watermark alone ---- */

START_TEST(watermark_starts_at_int64_min_and_never_goes_back) {
        nd_watermark_t wm;
        nd_watermark_init(&wm, 5000, 1000);
        ck_assert_int_eq(nd_watermark_get(&wm), INT64_MIN);
        ck_assert_int_eq(nd_watermark_observe(&wm, 10000), 5000);
        ck_assert_int_eq(nd_watermark_observe(&wm, 7000), 5000);
        ck_assert_int_eq(nd_watermark_observe(&wm, 10001), 5001);
        ck_assert_int_eq(nd_watermark_set_end(&wm, 100), 5001);
        ck_assert_int_eq(nd_watermark_idle(&wm, 0, -100000, true), 5001);
        ck_assert_int_eq(nd_watermark_get(&wm), 5001);
}
END_TEST

START_TEST(watermark_arithmetic_saturates_at_both_ends) {
        nd_watermark_t wm;
        nd_watermark_init(&wm, 5000, 1000);
        ck_assert_int_eq(nd_watermark_observe(&wm, INT64_MIN), INT64_MIN);
        ck_assert_int_eq(nd_watermark_observe(&wm, INT64_MIN + 4999),
                         INT64_MIN);
        ck_assert_int_eq(nd_watermark_observe(&wm, INT64_MIN + 5001),
                         INT64_MIN + 1);
        ck_assert_int_eq(nd_watermark_observe(&wm, INT64_MAX),
                         INT64_MAX - 5000);
        ck_assert_int_eq(nd_time_sub_sat(INT64_MIN, 1), INT64_MIN);
        ck_assert_int_eq(nd_time_sub_sat(INT64_MAX, -1), INT64_MAX);
        ck_assert_int_eq(nd_time_add_sat(INT64_MAX, 1), INT64_MAX);
        ck_assert_int_eq(nd_time_add_sat(INT64_MIN, -1), INT64_MIN);
        nd_watermark_init(&wm, -3, -3); /* negative bounds count as 0 */
        ck_assert_int_eq(nd_watermark_observe(&wm, 42), 42);
        /* A wall clock far behind idle_since is not "idle". */
        ck_assert_int_eq(nd_watermark_idle(&wm, INT64_MIN, INT64_MAX, true),
                         42);
}
END_TEST

static const struct icase {
        const char *what;
        int64_t wall, idle_since;
        bool caught_up;
        int64_t want;
} icases[] = {
    /* max_out_of_orderness 5000, idle_advance_after 1000, W starts at 0 */
    {"idle long enough and caught up", 20000, 19000, true, 15000},
    {"idle one ms too short", 20000, 19001, true, 0},
    {"not caught up", 20000, 0, false, 0},
    {"wall clock behind W", 4000, 0, true, 0},
    {"wall - bound exactly W + 1", 5001, 0, true, 1},
};

START_TEST(idle_advance_follows_the_hybrid_clock_rule) {
        const struct icase *c = &icases[_i];
        nd_watermark_t wm;
        nd_watermark_init(&wm, 5000, 1000);
        nd_watermark_observe(&wm, 5000); /* W = 0 */
        ck_assert_msg(nd_watermark_idle(&wm, c->wall, c->idle_since,
                                        c->caught_up) == c->want,
                      "%s", c->what);
        ck_assert_int_eq(nd_watermark_get(&wm), c->want);
}
END_TEST

/* ---- scenarios: the order of TRIGGERS.md §2 with a fake processor ---- */

enum { EV = 1, IDLE, LIVE, END }; /* op kinds (LIVE: not caught up) */
enum { NONE = 0, ARM, CANCEL };   /* what the event does to state */

struct op {
        int kind;
        int64_t t;          /* EV: timestamp; IDLE/LIVE: wall clock; END: end */
        int act;            /* EV: what applying the event does */
        const char *tk;     /* timer "key/name", e.g. "k1/a" */
        int64_t due;        /* ARM: due time */
        int64_t idle_since; /* IDLE/LIVE */
};

struct scenario {
        const char *what;
        int64_t ooo, idle_after;
        int64_t chain, chain_until; /* on fire: re-arm at due + chain while
                                     * the new due < chain_until */
        struct op ops[10];
        const char *want; /* fired, in order: "key/name@due^W;" */
};

/* clang-format off */
#define MIN INT64_MIN
#define E(t)              {EV, (t), NONE, NULL, 0, 0}
#define E_ARM(t, tk, d)   {EV, (t), ARM, (tk), (d), 0}
#define E_CANCEL(t, tk)   {EV, (t), CANCEL, (tk), 0, 0}
#define IDLE_AT(w, since) {IDLE, (w), NONE, NULL, 0, (since)}
#define LIVE_AT(w, since) {LIVE, (w), NONE, NULL, 0, (since)}
#define END_AT(t)         {END, (t), NONE, NULL, 0, 0}

/* what; ooo, idle_after, chain, chain_until; ops; fired */
static const struct scenario scenarios[] = {
    {"an event at exactly the due time cancels the timer",
     0, 1000, 0, 0,
     {E_ARM(0, "k1/a", 100), E_CANCEL(100, "k1/a"), E(500)},
     ""},
    {"one ms past the due time fires before the event applies",
     0, 1000, 0, 0,
     {E_ARM(0, "k1/a", 100), E_CANCEL(101, "k1/a")},
     "k1/a@100^101;"},
    {"the bound delays firing until W passes the due time",
     5000, 1000, 0, 0,
     {E_ARM(0, "k1/a", 1000), E(6000), E(6001)},
     "k1/a@1000^1001;"},
    {"out of order within the bound does not move W",
     50, 1000, 0, 0,
     {E_ARM(0, "k1/a", 100), E(140), E(120), E(151)},
     "k1/a@100^101;"},
    {"a late event still cancels a pending timer",
     50, 1000, 0, 0,
     {E_ARM(0, "k1/a", 100), E(149), E_CANCEL(10, "k1/a"), E(1000)},
     ""},
    {"a late event arming an overdue timer fires at the next step with D",
     10, 1000, 0, 0,
     {E_ARM(0, "k1/a", 100), E(200), E_ARM(50, "k2/a", 60), E(190)},
     "k1/a@100^190;k2/a@60^190;"},
    {"simultaneous timers fire by key, then by name",
     0, 1000, 0, 0,
     {E_ARM(0, "k2/a", 100), E_ARM(0, "k1/b", 100), E_ARM(0, "k1/a", 100),
      E_ARM(0, "k3/a", 99), E(200)},
     "k3/a@99^200;k1/a@100^200;k1/b@100^200;k2/a@100^200;"},
    {"a timer armed while firing that is already due fires in the same step",
     0, 1000, 10, 130,
     {E_ARM(0, "k1/a", 100), E(200)},
     "k1/a@100^200;k1/a@110^200;k1/a@120^200;"},
    {"a timer armed while firing that is not yet due waits",
     0, 1000, 150, 1000,
     {E_ARM(0, "k1/a", 100), E(200), E(250), E(251)},
     "k1/a@100^200;k1/a@250^251;"},
    {"moving a timer later postpones it",
     0, 1000, 0, 0,
     {E_ARM(0, "k1/a", 100), E_ARM(50, "k1/a", 300), E(200), E(301)},
     "k1/a@300^301;"},
    {"idle advance fires on time in live mode",
     5000, 1000, 0, 0,
     {E_ARM(1000, "k1/a", 2000), IDLE_AT(10000, 9500), IDLE_AT(10500, 9500)},
     "k1/a@2000^5500;"},
    {"idle advance waits until the task has caught up",
     5000, 1000, 0, 0,
     {E_ARM(1000, "k1/a", 2000), LIVE_AT(60000, 0), IDLE_AT(60000, 0)},
     "k1/a@2000^55000;"},
    {"idle advance never moves W back",
     5000, 1000, 0, 0,
     {E_ARM(100000, "k1/a", 95500), IDLE_AT(50000, 0), E(100400), E(100501)},
     "k1/a@95500^95501;"},
    {"the replay end time advances W to the end itself",
     5000, 1000, 0, 0,
     {E_ARM(0, "k1/a", 1000), END_AT(1000), END_AT(1001)},
     "k1/a@1000^1001;"},
    {"without an end time pending timers do not fire",
     5000, 1000, 0, 0,
     {E_ARM(0, "k1/a", 1000), E(5999)},
     ""},
    {"timestamps near INT64_MIN saturate instead of wrapping",
     5000, 1000, 0, 0,
     {E_ARM(MIN + 10, "k1/a", MIN), E(MIN + 5000), E(MIN + 5001)},
     "k1/a@-9223372036854775808^-9223372036854775807;"},
};
/* clang-format on */

/* The fake processor: timers for keys k1..k3 and names a, b. */
static const char *const fkeys[] = {"k1", "k2", "k3"};
static const char *const fnames[] = {"a", "b"};

struct fake {
        nd_timers_t *ts;
        nd_timer_t tmr[3][2];
        const struct scenario *sc;
        char log[1024];
};

/* The set's key callback: the key of a timer is its row in tmr. */
static const void *fake_key(const nd_timer_t *tmr, size_t *klen, void *arg) {
        struct fake *f = arg;
        size_t k = (size_t)(tmr - &f->tmr[0][0]) / 2;
        *klen = 2;
        return fkeys[k];
}

static nd_timer_t *find(struct fake *f, const char *tk) {
        int k = tk[1] - '1', n = tk[3] - 'a';
        ck_assert(k >= 0 && k < 3 && n >= 0 && n < 2);
        return &f->tmr[k][n];
}

static void on_fire(nd_timer_t *tmr, int64_t W, void *arg) {
        struct fake *f = arg;
        char one[96];
        int64_t next;
        /* Fired timers are disarmed, and D is their created_at. */
        ck_assert(!nd_timer_is_armed(tmr));
        ck_assert_int_gt(W, tmr->due);
        size_t klen;
        const char *key = nd_timers_key(f->ts, tmr, &klen);
        snprintf(one, sizeof(one), "%.*s/%s@%lld^%lld;", (int)klen, key,
                 nd_timers_name(f->ts, tmr->name), (long long)tmr->due,
                 (long long)W);
        strcat(f->log, one);
        next = tmr->due + f->sc->chain;
        if (f->sc->chain && next < f->sc->chain_until)
                nd_timers_arm(f->ts, tmr, next);
}

START_TEST(scenario_fires_exactly_the_expected_timers) {
        const struct scenario *sc = &scenarios[_i];
        nd_watermark_t wm;
        struct fake f;
        int i, k, n;
        memset(&f, 0, sizeof(f));
        f.sc = sc;
        f.ts = nd_timers_new(fake_key, &f);
        for (n = 0; n < 2; n++)
                ck_assert_uint_eq(nd_timers_add_name(f.ts, fnames[n]), n);
        for (k = 0; k < 3; k++)
                for (n = 0; n < 2; n++)
                        nd_timer_init(&f.tmr[k][n], (uint16_t)n);
        nd_watermark_init(&wm, sc->ooo, sc->idle_after);
        for (i = 0; i < 10 && sc->ops[i].kind; i++) {
                const struct op *o = &sc->ops[i];
                int64_t W;
                switch (o->kind) {
                case EV:
                        /* Steps 1 and 2, then 3: apply the event. */
                        nd_time_step(&wm, f.ts, o->t, on_fire, &f);
                        if (o->act == ARM)
                                nd_timers_arm(f.ts, find(&f, o->tk), o->due);
                        else if (o->act == CANCEL)
                                nd_timers_cancel(f.ts, find(&f, o->tk));
                        break;
                case IDLE:
                case LIVE:
                        W = nd_watermark_idle(&wm, o->t, o->idle_since,
                                              o->kind == IDLE);
                        nd_time_fire(f.ts, W, on_fire, &f, 0);
                        break;
                case END:
                        W = nd_watermark_set_end(&wm, o->t);
                        nd_time_fire(f.ts, W, on_fire, &f, 0);
                        break;
                }
        }
        ck_assert_msg(strcmp(f.log, sc->want) == 0, "%s:\n got  %s\n want %s",
                      sc->what, f.log, sc->want);
        nd_timers_destroy(f.ts);
}
END_TEST

static void count_fire(nd_timer_t *tmr, int64_t W, void *arg) {
        (*(int *)arg)++;
}

START_TEST(fire_does_at_most_max_and_resumes_in_order) {
        nd_timers_t *ts = nd_timers_new(NULL, NULL);
        nd_timer_t t[10];
        int i, fired = 0;
        for (i = 0; i < 10; i++) {
                nd_timer_init(&t[i], 0);
                nd_timers_arm(ts, &t[i], i);
        }
        ck_assert_uint_eq(nd_time_fire(ts, 100, count_fire, &fired, 4), 4);
        ck_assert_int_eq(nd_timers_peek(ts)->due, 4);
        ck_assert_uint_eq(nd_time_fire(ts, 100, count_fire, &fired, 4), 4);
        ck_assert_uint_eq(nd_time_fire(ts, 100, count_fire, &fired, 4), 2);
        ck_assert_uint_eq(nd_time_fire(ts, 100, count_fire, &fired, 4), 0);
        ck_assert_int_eq(fired, 10);
        nd_timers_destroy(ts);
}
END_TEST

static Suite *watermark_suite(void) {
        Suite *s = suite_create("watermark");
        TCase *tc = tcase_create("watermark");
        tcase_add_test(tc, watermark_starts_at_int64_min_and_never_goes_back);
        tcase_add_test(tc, watermark_arithmetic_saturates_at_both_ends);
        tcase_add_loop_test(tc, idle_advance_follows_the_hybrid_clock_rule, 0,
                            sizeof(icases) / sizeof(icases[0]));
        suite_add_tcase(s, tc);
        tc = tcase_create("order");
        tcase_set_timeout(tc, 10);
        tcase_add_loop_test(tc, scenario_fires_exactly_the_expected_timers, 0,
                            sizeof(scenarios) / sizeof(scenarios[0]));
        tcase_add_test(tc, fire_does_at_most_max_and_resumes_in_order);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(watermark_suite());
}
