/* test_timer.c — the timer heap: order, arm/move/cancel, restore. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nd_test.h"
#include "store.h"
#include "timer.h"

/* A timer and its key, as an owner keeps them: the timer set finds the
 * key from the timer's address (container-of). */
struct owned {
        nd_timer_t t; /* first: the owner's address is the timer's */
        const char *key;
};

static const void *owned_key(const nd_timer_t *tmr, size_t *klen, void *arg) {
        const struct owned *o = (const struct owned *)tmr;
        (void)arg;
        *klen = strlen(o->key);
        return o->key;
}

static void own(nd_timer_t *t, const char *key, uint16_t name) {
        nd_timer_init(t, name);
        ((struct owned *)t)->key = key;
}

static nd_timers_t *new_set(void) {
        nd_timers_t *ts = nd_timers_new(owned_key, NULL);
        ck_assert_uint_eq(nd_timers_add_name(ts, "n"), 0);
        return ts;
}

/* ---- order ---- */

struct tdef {
        int64_t due;
        const char *key;
        const char *name;
        uint16_t sub;
};

static const struct ocase {
        const char *what;
        struct tdef arm[6]; /* armed in this order; key NULL ends */
        const char *want;   /* pop order, "key/name/sub@due;" */
} ocases[] = {
    {"due time first",
     {{300, "a", "x", 0}, {100, "c", "x", 0}, {200, "b", "x", 0}},
     "c/x/0@100;b/x/0@200;a/x/0@300;"},
    {"same due: key bytes, then name",
     {{100, "k2", "a", 0},
      {100, "k1", "b", 0},
      {100, "k1", "a", 0},
      {99, "k3", "a", 0}},
     "k3/a/0@99;k1/a/0@100;k1/b/0@100;k2/a/0@100;"},
    {"a key that is a prefix of another comes first",
     {{5, "ab", "n", 0}, {5, "a", "n", 0}, {5, "abc", "n", 0}},
     "a/n/0@5;ab/n/0@5;abc/n/0@5;"},
    {"names compare as strings, not as pointers",
     {{7, "k", "upsell", 0},
      {7, "k", "cart_reminder", 0},
      {7, "k", "browse", 0}},
     "k/browse/0@7;k/cart_reminder/0@7;k/upsell/0@7;"},
    {"sub breaks the remaining tie",
     {{1, "k", "n", 3}, {1, "k", "n", 1}, {1, "k", "n", 2}},
     "k/n/1@1;k/n/2@1;k/n/3@1;"},
    {"extreme due times order correctly",
     {{INT64_MAX, "k", "n", 0}, {INT64_MIN, "k", "n", 0}, {0, "k", "n", 0}},
     "k/n/0@-9223372036854775808;k/n/0@0;k/n/0@9223372036854775807;"},
    {"due times beyond the heap's packed range still order exactly",
     {{INT64_MAX - 1, "k", "n", 0},
      {((int64_t)1 << 52) + 1, "k", "n", 0},
      {(int64_t)1 << 52, "k", "n", 0},
      {-((int64_t)1 << 52), "k", "n", 0},
      {-((int64_t)1 << 52) - 1, "k", "n", 0}},
     "k/n/0@-4503599627370497;k/n/0@-4503599627370496;"
     "k/n/0@4503599627370496;k/n/0@4503599627370497;"
     "k/n/0@9223372036854775806;"},
};

static void describe(nd_timers_t *ts, const nd_timer_t *t, char *buf,
                     size_t size) {
        size_t klen;
        const char *key = nd_timers_key(ts, t, &klen);
        snprintf(buf, size, "%.*s/%s/%u@%lld;", (int)klen, key,
                 nd_timers_name(ts, t->name), (unsigned)t->sub,
                 (long long)t->due);
}

START_TEST(timers_pop_by_due_then_key_then_name) {
        const struct ocase *c = &ocases[_i];
        nd_timers_t *ts = nd_timers_new(owned_key, NULL);
        struct owned tmrs[6];
        char got[512] = "", one[64];
        char names[6][32];
        nd_timer_t *t;
        int i;
        for (i = 0; i < 6 && c->arm[i].key; i++) {
                /* One name index per timer, each a copy: equal strings
                 * must order as equal, whatever their index or address. */
                snprintf(names[i], sizeof(names[i]), "%s", c->arm[i].name);
                own(&tmrs[i].t, c->arm[i].key,
                    nd_timers_add_name(ts, names[i]));
                nd_timer_set_sub(&tmrs[i].t, c->arm[i].sub);
                nd_timers_arm(ts, &tmrs[i].t, c->arm[i].due);
        }
        while ((t = nd_timers_pop_due(ts, INT64_MAX)) != NULL) {
                describe(ts, t, one, sizeof(one));
                strcat(got, one);
        }
        /* INT64_MAX is never < W, so it is left: pop it by hand. */
        if ((t = nd_timers_peek(ts)) != NULL) {
                nd_timers_cancel(ts, t);
                describe(ts, t, one, sizeof(one));
                strcat(got, one);
        }
        ck_assert_msg(strcmp(got, c->want) == 0, "%s: got %s", c->what, got);
        ck_assert_uint_eq(nd_timers_count(ts), 0);
        nd_timers_destroy(ts);
}
END_TEST

START_TEST(a_timer_is_due_only_when_w_is_past_it) {
        nd_timers_t *ts = new_set();
        struct owned o;
        nd_timer_t *t = &o.t;
        own(t, "k", 0);
        nd_timers_arm(ts, t, 100);
        ck_assert(nd_timer_is_armed(t));
        ck_assert_ptr_null(nd_timers_pop_due(ts, 99));
        ck_assert_ptr_null(nd_timers_pop_due(ts, 100));
        ck_assert_ptr_eq(nd_timers_pop_due(ts, 101), t);
        ck_assert(!nd_timer_is_armed(t));
        ck_assert_int_eq(t->due, 100);
        ck_assert_ptr_null(nd_timers_pop_due(ts, INT64_MAX));
        nd_timers_destroy(ts);
}
END_TEST

START_TEST(arm_moves_and_cancel_removes) {
        nd_timers_t *ts = new_set();
        struct owned oa, ob;
        nd_timer_t *a = &oa.t, *b = &ob.t;
        own(a, "a", 0);
        own(b, "b", 0);
        nd_timers_cancel(ts, a); /* not armed: no-op */
        nd_timers_arm(ts, a, 100);
        nd_timers_arm(ts, b, 200);
        nd_timers_arm(ts, a, 300); /* move later */
        ck_assert_uint_eq(nd_timers_count(ts), 2);
        ck_assert_ptr_eq(nd_timers_peek(ts), b);
        nd_timers_arm(ts, a, 50); /* move earlier */
        ck_assert_ptr_eq(nd_timers_peek(ts), a);
        nd_timers_cancel(ts, a);
        ck_assert(!nd_timer_is_armed(a));
        ck_assert_int_eq(a->due, 50);
        ck_assert_uint_eq(nd_timers_count(ts), 1);
        nd_timers_cancel(ts, a);
        ck_assert_uint_eq(nd_timers_count(ts), 1);
        ck_assert_ptr_eq(nd_timers_pop_due(ts, 1000), b);
        ck_assert_ptr_null(nd_timers_peek(ts));
        nd_timers_destroy(ts);
        nd_timers_destroy(NULL);
}
END_TEST

/* Random arm/move/cancel/pop against a brute-force model. */
START_TEST(heap_matches_a_sorted_model_under_random_operations) {
        enum { N = 300, OPS = 30000 };
        static struct owned own_[N];
        static nd_timer_t *tmrs[N];
        static char keys[N][8];
        static bool armed[N];
        nd_timers_t *ts = nd_timers_new(owned_key, NULL);
        int op, i;
        int64_t W = 0;
        srand(11);
        /* Added in reverse order: index order is not name order. */
        ck_assert_uint_eq(nd_timers_add_name(ts, "b"), 0);
        ck_assert_uint_eq(nd_timers_add_name(ts, "a"), 1);
        for (i = 0; i < N; i++) {
                snprintf(keys[i], sizeof(keys[i]), "k%03d", i % 37);
                tmrs[i] = &own_[i].t;
                own(tmrs[i], keys[i], (uint16_t)(i % 2));
                nd_timer_set_sub(tmrs[i], (uint16_t)i);
        }
        for (op = 0; op < OPS; op++) {
                int r = rand() % 10;
                i = rand() % N;
                if (r < 5) {
                        nd_timers_arm(ts, tmrs[i], W + rand() % 500);
                        armed[i] = true;
                } else if (r < 7) {
                        nd_timers_cancel(ts, tmrs[i]);
                        armed[i] = false;
                } else {
                        nd_timer_t *t, *best = NULL;
                        int j;
                        W += rand() % 20;
                        for (j = 0; j < N; j++)
                                if (armed[j] && tmrs[j]->due < W &&
                                    (!best ||
                                     nd_timer_cmp(ts, tmrs[j], best) < 0))
                                        best = tmrs[j];
                        t = nd_timers_pop_due(ts, W);
                        ck_assert_ptr_eq(t, best);
                        if (t)
                                armed[(struct owned *)t - own_] = false;
                }
        }
        for (i = 0; i < N; i++)
                ck_assert_int_eq(nd_timer_is_armed(tmrs[i]), armed[i]);
        nd_timers_destroy(ts);
}
END_TEST

START_TEST(reserve_makes_room_without_changing_order) {
        nd_timers_t *ts = new_set();
        struct owned t[100];
        size_t bytes;
        int i;
        nd_timers_reserve(ts, 1000);
        bytes = nd_timers_bytes(ts);
        for (i = 0; i < 100; i++) {
                own(&t[i].t, "k", 0);
                nd_timers_arm(ts, &t[i].t, 100 - i);
        }
        ck_assert_uint_eq(nd_timers_bytes(ts), bytes);
        for (i = 99; i >= 0; i--)
                ck_assert_ptr_eq(nd_timers_pop_due(ts, INT64_MAX), &t[i].t);
        nd_timers_destroy(ts);
}
END_TEST

/* ---- restore ---- */

/* A processor's per-customer record, as it lives in a store value. */
struct cart {
        int64_t last_mutation;
        nd_timer_t remind; /* name index 0 */
        nd_timer_t upsell; /* name index 1 */
};

static const char *const REMIND = "cart_reminder";
static const char *const UPSELL = "upsell";

/* Container-of through the store: the name index tells which field. */
static const void *cart_key(const nd_timer_t *tmr, size_t *klen, void *arg) {
        size_t off = tmr->name == 0 ? offsetof(struct cart, remind)
                                    : offsetof(struct cart, upsell);
        (void)arg;
        return nd_store_key(nd_store_entry_of((const char *)tmr - off), klen);
}

static nd_timers_t *cart_timers(void) {
        nd_timers_t *ts = nd_timers_new(cart_key, NULL);
        ck_assert_uint_eq(nd_timers_add_name(ts, REMIND), 0);
        ck_assert_uint_eq(nd_timers_add_name(ts, UPSELL), 1);
        return ts;
}

START_TEST(rearm_after_restore_brings_back_the_same_timers) {
        nd_store_t *st = nd_store_new("carts", sizeof(struct cart));
        nd_store_t *copy = nd_store_new("carts", sizeof(struct cart));
        nd_timers_t *ts = cart_timers(), *ts2 = cart_timers();
        nd_store_entry_t *e;
        unsigned char buf[256];
        char key[16], order1[2048] = "", order2[2048] = "", one[48];
        size_t pos = 0, len, klen;
        nd_timer_t *t;
        int i;
        for (i = 0; i < 20; i++) {
                struct cart *c;
                snprintf(key, sizeof(key), "cust%02d", i);
                nd_store_upsert(st, key, strlen(key), 0, &e, NULL);
                c = nd_store_value(e);
                nd_timer_init(&c->remind, 0);
                nd_timer_init(&c->upsell, 1);
                nd_timers_arm(ts, &c->remind, 1000 + (i % 4) * 10);
                if (i % 3 == 0)
                        nd_timers_arm(ts, &c->upsell, 1000 + (i % 5) * 10);
        }
        /* Encode every entry into a fresh store: the changelog, restored. */
        while ((e = nd_store_next(st, &pos)) != NULL) {
                ck_assert_int_eq(
                    nd_store_entry_encode(st, e, buf, sizeof(buf), &len),
                    ND_OK);
                ck_assert_int_eq(
                    nd_store_entry_decode_into(copy, buf, len, NULL), ND_OK);
        }
        /* Restore done: re-arm from the values. */
        pos = 0;
        while ((e = nd_store_next(copy, &pos)) != NULL) {
                struct cart *c = nd_store_value(e);
                nd_timers_rearm(ts2, &c->remind, 0);
                nd_timers_rearm(ts2, &c->upsell, 1);
        }
        ck_assert_uint_eq(nd_timers_count(ts2), nd_timers_count(ts));
        while ((t = nd_timers_pop_due(ts, INT64_MAX)) != NULL) {
                const char *k = nd_timers_key(ts, t, &klen);
                snprintf(one, sizeof(one), "%.*s/%s@%lld;", (int)klen, k,
                         nd_timers_name(ts, t->name), (long long)t->due);
                strcat(order1, one);
        }
        while ((t = nd_timers_pop_due(ts2, INT64_MAX)) != NULL) {
                const char *k = nd_timers_key(ts2, t, &klen);
                /* The key leads back to the restored entry's own key. */
                ck_assert_ptr_eq(
                    nd_store_key(nd_store_get(copy, k, klen), NULL), k);
                snprintf(one, sizeof(one), "%.*s/%s@%lld;", (int)klen, k,
                         nd_timers_name(ts2, t->name), (long long)t->due);
                strcat(order2, one);
        }
        ck_assert_str_eq(order1, order2);
        ck_assert_ptr_nonnull(strstr(order1, "cust00/cart_reminder@1000;"));
        nd_timers_destroy(ts);
        nd_timers_destroy(ts2);
        nd_store_destroy(st);
        nd_store_destroy(copy);
}
END_TEST

START_TEST(a_stale_slot_never_touches_another_timer) {
        nd_timers_t *ts = new_set();
        struct owned lo, so;
        nd_timer_t *live = &lo.t, *stale = &so.t;
        own(live, "a", 0);
        nd_timers_arm(ts, live, 10);
        /* As if decoded from a changelog: armed flag set, slot meaningless,
         * a name index from another run. */
        own(stale, "b", 7);
        stale->slot = 1;
        stale->due = 5;
        nd_timers_cancel(ts, stale);
        ck_assert(!nd_timer_is_armed(stale));
        ck_assert_uint_eq(nd_timers_count(ts), 1);
        ck_assert_ptr_eq(nd_timers_peek(ts), live);
        stale->slot = 1;
        ck_assert(nd_timers_rearm(ts, stale, 0));
        ck_assert_uint_eq(stale->name, 0);
        ck_assert_uint_eq(nd_timers_count(ts), 2);
        ck_assert_ptr_eq(nd_timers_pop_due(ts, 100), stale);
        ck_assert_ptr_eq(nd_timers_pop_due(ts, 100), live);
        /* Re-arming an unarmed timer leaves it unarmed; twice is harmless. */
        ck_assert(!nd_timers_rearm(ts, stale, 0));
        nd_timers_arm(ts, stale, 3);
        ck_assert(nd_timers_rearm(ts, stale, 0));
        ck_assert_uint_eq(nd_timers_count(ts), 1);
        nd_timers_destroy(ts);
}
END_TEST

static Suite *timer_suite(void) {
        Suite *s = suite_create("timer");
        TCase *tc = tcase_create("order");
        tcase_add_loop_test(tc, timers_pop_by_due_then_key_then_name, 0,
                            sizeof(ocases) / sizeof(ocases[0]));
        tcase_add_test(tc, a_timer_is_due_only_when_w_is_past_it);
        tcase_add_test(tc, heap_matches_a_sorted_model_under_random_operations);
        suite_add_tcase(s, tc);
        tc = tcase_create("arm");
        tcase_add_test(tc, arm_moves_and_cancel_removes);
        tcase_add_test(tc, reserve_makes_room_without_changing_order);
        suite_add_tcase(s, tc);
        tc = tcase_create("restore");
        tcase_add_test(tc, rearm_after_restore_brings_back_the_same_timers);
        tcase_add_test(tc, a_stale_slot_never_touches_another_timer);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(timer_suite());
}
