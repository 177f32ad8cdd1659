/*
 * test_post_purchase_upsell.c — the post_purchase_upsell trigger through the
 * test driver: recommendations from the catalog, one timer per order,
 * refunds and cancellations, later orders, repeated order ids, the action's
 * fields, restarts, two instances and defaults (TRIGGERS.md §3, §5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nd_test.h"
#include "nd_test_driver.h"
#include "nd_test_events.h"


#define DAY (24 * HOUR)

static const char *const cfg_basic =
    "time: {max_out_of_orderness: 0}\n"
    "triggers:\n"
    "  - {name: upsell, type: post_purchase_upsell, delay: 3d, "
    "max_items: 3}\n";

static void product(nd_test_driver_t *d, const char *sku,
                    const char *complements, bool stock) {
        char buf[512];
        snprintf(buf, sizeof(buf),
                 "{\"sku\":\"%s\",\"name\":\"n\",\"category\":\"c\","
                 "\"price_cents\":100,\"currency\":\"EUR\",\"in_stock\":%s,"
                 "\"complements\":%s}",
                 sku, stock ? "true" : "false", complements);
        nd_test_driver_catalog(d, buf);
}

/* A catalog: A -> X Y Z W V, B -> Y Q, C -> (none); all in stock. */
static nd_test_driver_t *driver(const char *yaml) {
        nd_test_driver_t *d = nd_test_driver_new(yaml, T0);
        product(d, "A", "[\"X\",\"Y\",\"Z\",\"W\",\"V\"]", true);
        product(d, "B", "[\"Y\",\"Q\"]", true);
        product(d, "C", "[]", true);
        product(d, "D", "[\"A\",\"X\",\"X\",\"NOPE\",\"OUT\"]", true);
        for (const char *s = "XYZWVQ"; *s; s++) {
                char sku[2] = {*s, 0};
                product(d, sku, "[]", true);
        }
        product(d, "OUT", "[]", false);
        return d;
}

#define ORDER(d, id_, ts_, order_, products_, ...)             \
        EV(d, .type = "order_completed", .id = id_, .ts = ts_, \
           .order = order_, .products = products_, __VA_ARGS__)

static void recs_are(nd_test_driver_t *d, const nd_test_action_t *a,
                     const char *want) {
        char got[256] = "";
        for (uint32_t i = 0; i < a->act.recommended_cnt; i++) {
                if (i)
                        strcat(got, ",");
                strcat(got, S(d, a->act.recommended_skus[i]));
        }
        ck_assert_str_eq(got, want);
}

/* ---------------------------------------------------------------- */
/* Recommendations                                                    */

START_TEST(recommendations_are_complements_in_catalog_order_after_delay) {
        nd_test_driver_t *d = driver(cfg_basic);
        const nd_test_action_t *a;
        ORDER(d, "o1", 0, "ord1", "[{\"sku\":\"C\"},{\"sku\":\"B\"}]");
        TICK(d, 3 * DAY);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        TICK(d, 3 * DAY + 1);
        a = next(d);
        ck_assert_int_eq(a->act.created_at, T0 + 3 * DAY);
        ck_assert_int_eq(a->act.trigger, ND_TRIGGER_POST_PURCHASE_UPSELL);
        recs_are(d, a, "Y,Q");
        ck_assert_uint_eq(nd_test_driver_entries(d, "upsell"), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(duplicates_ordered_missing_and_out_of_stock_skus_are_left_out) {
        nd_test_driver_t *d = driver(cfg_basic);
        ORDER(d, "o1", 0, "ord1", "[{\"sku\":\"D\"},{\"sku\":\"A\"}]");
        TICK(d, 3 * DAY + 1);
        /* D -> A (ordered) X X (dup) NOPE (missing) OUT (no stock); then
         * A -> X (dup) Y Z W V; truncated to 3. */
        recs_are(d, next(d), "X,Y,Z");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(an_order_without_recommendations_arms_nothing) {
        nd_test_driver_t *d = driver(cfg_basic);
        ORDER(d, "o1", 0, "ord1", "[{\"sku\":\"C\"},{\"sku\":\"UNKNOWN\"}]");
        ORDER(d, "o2", 1, "ord2", NULL);
        ck_assert_uint_eq(nd_test_driver_entries(d, "upsell"), 0);
        ck_assert_uint_eq(nd_test_driver_timers(d), 0);
        TICK(d, 10 * DAY);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(at_most_max_items_are_recommended) {
        nd_test_driver_t *d =
            driver("time: {max_out_of_orderness: 0}\n"
                   "triggers: [{name: upsell, type: post_purchase_upsell, "
                   "max_items: 2}]\n");
        ORDER(d, "o1", 0, "ord1", "[{\"sku\":\"A\"}]");
        TICK(d, 3 * DAY + 1);
        recs_are(d, next(d), "X,Y");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_sku_out_of_stock_by_the_due_time_is_dropped) {
        nd_test_driver_t *d = driver(cfg_basic);
        ORDER(d, "o1", 0, "ord1", "[{\"sku\":\"A\"}]");
        product(d, "Y", "[]", false); /* catalog kept current */
        TICK(d, 3 * DAY + 1);
        recs_are(d, next(d), "X,Z,W");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(nothing_is_sent_when_every_recommendation_sold_out) {
        nd_test_driver_t *d = driver(cfg_basic);
        ORDER(d, "o1", 0, "ord1", "[{\"sku\":\"B\"}]");
        product(d, "Y", "[]", false);
        product(d, "Q", "[]", false);
        TICK(d, 3 * DAY + 1);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        ck_assert_uint_eq(nd_test_driver_entries(d, "upsell"), 0);
        nd_test_driver_destroy(d);
}
END_TEST

/* ---------------------------------------------------------------- */
/* Cancelling and changing pending orders                              */

static const char *const cancel_types[] = {"order_refunded", "order_cancelled"};

START_TEST(a_refund_or_cancellation_cancels_that_order) {
        nd_test_driver_t *d = driver(cfg_basic);
        const nd_test_action_t *a;
        ORDER(d, "o1", 0, "ord1", "[{\"sku\":\"A\"}]");
        ORDER(d, "o2", 1, "ord2", "[{\"sku\":\"B\"}]");
        EV(d, .type = cancel_types[_i], .id = "r1", .ts = DAY, .order = "ord1");
        TICK(d, 4 * DAY);
        a = next(d);
        ck_assert_str_eq(S(d, a->act.order_id), "ord2");
        ck_assert_ptr_null(nd_test_driver_read(d));
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_refund_at_the_due_time_still_cancels) {
        nd_test_driver_t *d = driver(cfg_basic);
        ORDER(d, "o1", 0, "ord1", "[{\"sku\":\"A\"}]");
        EV(d, .type = "order_refunded", .id = "r1", .ts = 3 * DAY,
           .order = "ord1");
        TICK(d, 4 * DAY);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        ck_assert_uint_eq(nd_test_driver_entries(d, "upsell"), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_refund_without_a_pending_order_does_nothing) {
        nd_test_driver_t *d = driver(cfg_basic);
        EV(d, .type = "order_refunded", .id = "r0", .ts = 0, .order = "ord0");
        ck_assert_uint_eq(nd_test_driver_entries(d, "upsell"), 0);
        ORDER(d, "o1", 1, "ord1", "[{\"sku\":\"A\"}]");
        EV(d, .type = "order_cancelled", .id = "r1", .ts = 2, .order = "other");
        TICK(d, 3 * DAY + 2);
        recs_are(d, next(d), "X,Y,Z");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_later_order_removes_its_skus_before_truncation) {
        nd_test_driver_t *d = driver(cfg_basic);
        const nd_test_action_t *a;
        ORDER(d, "o1", 0, "ord1", "[{\"sku\":\"A\"}]");
        ORDER(d, "o2", DAY, "ord2", "[{\"sku\":\"X\"},{\"sku\":\"B\"}]");
        TICK(d, 5 * DAY);
        a = next(d);
        ck_assert_str_eq(S(d, a->act.order_id), "ord1");
        recs_are(d, a, "Y,Z,W");
        a = next(d); /* the later order's own list, as usual */
        ck_assert_str_eq(S(d, a->act.order_id), "ord2");
        ck_assert_int_eq(a->act.created_at, T0 + 4 * DAY);
        recs_are(d, a, "Y,Q");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_later_order_that_bought_every_recommendation_cancels) {
        nd_test_driver_t *d = driver(cfg_basic);
        const nd_test_action_t *a;
        ORDER(d, "o1", 0, "ord1", "[{\"sku\":\"B\"}]");
        ORDER(d, "o2", DAY, "ord2", "[{\"sku\":\"Y\"},{\"sku\":\"Q\"}]");
        ck_assert_uint_eq(nd_test_driver_entries(d, "upsell"), 0);
        ORDER(d, "o3", DAY + 1, "ord3", "[{\"sku\":\"C\"}]");
        TICK(d, 5 * DAY);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        (void)a;
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_repeated_order_id_recomputes_and_rearms) {
        nd_test_driver_t *d = driver(cfg_basic);
        const nd_test_action_t *a;
        ORDER(d, "o1", 0, "ord1", "[{\"sku\":\"A\"}]");
        ORDER(d, "o1b", DAY, "ord1", "[{\"sku\":\"B\"}]");
        TICK(d, 3 * DAY + 1);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        TICK(d, 4 * DAY + 1);
        a = next(d);
        ck_assert_int_eq(a->act.created_at, T0 + 4 * DAY);
        recs_are(d, a, "Y,Q");
        ck_assert_str_eq(S(d, a->act.source_event_ids[0]), "o1b");
        ck_assert_ptr_null(nd_test_driver_read(d));
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(each_order_has_its_own_timer) {
        nd_test_driver_t *d = driver(cfg_basic);
        const nd_test_action_t *a;
        ORDER(d, "o2", DAY, "ord2", "[{\"sku\":\"B\"}]");
        ORDER(d, "o1", 0, "ord1", "[{\"sku\":\"C\"},{\"sku\":\"D\"}]");
        ORDER(d, "o3", DAY, "ord3", "[{\"sku\":\"C\"}]"); /* none: no-op */
        ck_assert_uint_eq(nd_test_driver_timers(d), 1);
        TICK(d, 3 * DAY + 1);
        a = next(d);
        ck_assert_str_eq(S(d, a->act.order_id), "ord1");
        ck_assert_ptr_null(nd_test_driver_read(d));
        TICK(d, 4 * DAY + 1);
        a = next(d);
        ck_assert_str_eq(S(d, a->act.order_id), "ord2");
        ck_assert_uint_eq(nd_test_driver_entries(d, "upsell"), 0);
        nd_test_driver_destroy(d);
}
END_TEST

/* TRIGGERS.md §5: orders of one customer due at the same D fire in the
 * byte order of their order_id (a prefix first), not the order armed. */
START_TEST(orders_due_at_the_same_time_fire_in_byte_order_of_order_id) {
        nd_test_driver_t *d = driver(cfg_basic);
        ORDER(d, "o1", 0, "ord-z", "[{\"sku\":\"B\"}]");
        ORDER(d, "o2", 0, "ord-a", "[{\"sku\":\"D\"}]");
        ORDER(d, "o3", 0, "ord", "[{\"sku\":\"B\"}]");
        ORDER(d, "o4", 0, "ORD-Z", "[{\"sku\":\"B\"}]");
        TICK(d, 3 * DAY + 1);
        ck_assert_int_eq(nd_test_driver_output_count(d), 4);
        ck_assert_str_eq(S(d, next(d)->act.order_id), "ORD-Z");
        ck_assert_str_eq(S(d, next(d)->act.order_id), "ord");
        ck_assert_str_eq(S(d, next(d)->act.order_id), "ord-a");
        ck_assert_str_eq(S(d, next(d)->act.order_id), "ord-z");
        nd_test_driver_destroy(d);
}
END_TEST

/* ---------------------------------------------------------------- */
/* The action, restarts, instances, defaults                          */

START_TEST(the_action_names_the_order_and_aims_at_the_order_event) {
        nd_test_driver_t *d = driver(cfg_basic);
        const nd_test_action_t *a;
        char id[33];
        nd_str_t parts[3] = {{"upsell", 6}, {"anon-1", 6}, {"ord1", 4}};
        ORDER(d, "o1", 0, "ord1", "[{\"sku\":\"B\"}]", .anon = "anon-1",
              .channel = "app", .device = "phone-1", .cart = "k9");
        TICK(d, 3 * DAY + 1);
        a = next(d);
        nd_action_id(parts, 3, id);
        ck_assert_str_eq(S(d, a->act.action_id), id);
        ck_assert_str_eq(S(d, a->act.anonymous_id), "anon-1");
        ck_assert_ptr_null(a->act.customer_id.p);
        ck_assert_int_eq(a->act.channel, ND_CHANNEL_APP);
        ck_assert_str_eq(S(d, a->act.device_id), "phone-1");
        ck_assert_str_eq(S(d, a->act.order_id), "ord1");
        ck_assert_str_eq(S(d, a->act.cart_id), "k9");
        ck_assert_uint_eq(a->act.item_cnt, 0);
        ck_assert_int_eq(a->act.stage, 0);
        ck_assert(a->act.has_expires_at);
        ck_assert_int_eq(a->act.expires_at, T0 + 4 * DAY);
        ck_assert_uint_eq(a->act.source_event_cnt, 1);
        ck_assert_str_eq(S(d, a->act.source_event_ids[0]), "o1");
        nd_test_driver_destroy(d);
}
END_TEST

static void scenario_step(nd_test_driver_t *d, int step) {
        switch (step) {
        case 0:
                ORDER(d, "o1", 0, "ord1", "[{\"sku\":\"A\"}]");
                ORDER(d, "o2", HOUR, "ord2", "[{\"sku\":\"B\"}]", .cust = "c2");
                break;
        case 1:
                ORDER(d, "o3", DAY, "ord3", "[{\"sku\":\"Y\"}]");
                break;
        case 2:
                ORDER(d, "o4", DAY, "ord4", "[{\"sku\":\"D\"}]", .cust = "c3");
                break;
        case 3:
                TICK(d, 3 * DAY + 30 * MIN);
                break;
        case 4:
                EV(d, .type = "order_refunded", .id = "r4",
                   .ts = 3 * DAY + 40 * MIN, .order = "ord4", .cust = "c3");
                break;
        default:
                TICK(d, 10 * DAY);
                break;
        }
}

static char *run_scenario(int restart_at) {
        return nd_test_run_steps(driver(cfg_basic), scenario_step, 6,
                                 restart_at);
}

START_TEST(a_restart_in_the_middle_gives_the_same_actions) {
        char *straight = run_scenario(-1);
        ck_assert_ptr_nonnull(strstr(straight, "ord2"));
        ck_assert_ptr_null(strstr(straight, "ord4"));
        for (int at = 1; at < 6; at++) {
                char *restarted = run_scenario(at);
                ck_assert_str_eq(restarted, straight);
                free(restarted);
        }
        free(straight);
}
END_TEST

START_TEST(two_instances_keep_their_own_state) {
        nd_test_driver_t *d =
            driver("time: {max_out_of_orderness: 0}\n"
                   "triggers:\n"
                   "  - {name: up_fast, type: post_purchase_upsell, delay: 1h, "
                   "max_items: 1}\n"
                   "  - {name: up_slow, type: post_purchase_upsell}\n");
        const nd_test_action_t *a;
        ORDER(d, "o1", 0, "ord1", "[{\"sku\":\"A\"}]");
        TICK(d, HOUR + 1);
        a = next(d);
        ck_assert_str_eq(S(d, a->act.trigger_name), "up_fast");
        recs_are(d, a, "X");
        EV(d, .type = "order_refunded", .id = "r1", .ts = 2 * HOUR,
           .order = "ord1");
        ck_assert_uint_eq(nd_test_driver_entries(d, "up_slow"), 0);
        ORDER(d, "o2", 2 * HOUR, "ord2", "[{\"sku\":\"A\"}]");
        ck_assert_uint_eq(nd_test_driver_entries(d, "up_fast"), 1);
        ck_assert_uint_eq(nd_test_driver_entries(d, "up_slow"), 1);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(defaults_are_three_days_and_three_items) {
        nd_test_driver_t *d =
            driver("triggers: [{name: upsell, type: post_purchase_upsell}]\n");
        const nd_test_action_t *a;
        ORDER(d, "o1", 0, "ord1", "[{\"sku\":\"A\"}]");
        TICK(d, 3 * DAY + 5 * SEC); /* W = 3d exactly: not yet */
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        TICK(d, 3 * DAY + 6 * SEC);
        a = next(d);
        ck_assert_int_eq(a->act.created_at, T0 + 3 * DAY);
        recs_are(d, a, "X,Y,Z");
        nd_test_driver_destroy(d);
}
END_TEST

static Suite *post_purchase_upsell_suite(void) {
        Suite *s = suite_create("post_purchase_upsell");
        TCase *tc = tcase_create("recommendations");
        tcase_set_timeout(tc, 30);
        tcase_add_test(
            tc, recommendations_are_complements_in_catalog_order_after_delay);
        tcase_add_test(
            tc, duplicates_ordered_missing_and_out_of_stock_skus_are_left_out);
        tcase_add_test(tc, an_order_without_recommendations_arms_nothing);
        tcase_add_test(tc, at_most_max_items_are_recommended);
        tcase_add_test(tc, a_sku_out_of_stock_by_the_due_time_is_dropped);
        tcase_add_test(tc, nothing_is_sent_when_every_recommendation_sold_out);
        suite_add_tcase(s, tc);

        tc = tcase_create("pending");
        tcase_set_timeout(tc, 30);
        tcase_add_loop_test(tc, a_refund_or_cancellation_cancels_that_order, 0,
                            2);
        tcase_add_test(tc, a_refund_at_the_due_time_still_cancels);
        tcase_add_test(tc, a_refund_without_a_pending_order_does_nothing);
        tcase_add_test(tc, a_later_order_removes_its_skus_before_truncation);
        tcase_add_test(tc,
                       a_later_order_that_bought_every_recommendation_cancels);
        tcase_add_test(tc, a_repeated_order_id_recomputes_and_rearms);
        tcase_add_test(tc, each_order_has_its_own_timer);
        tcase_add_test(
            tc, orders_due_at_the_same_time_fire_in_byte_order_of_order_id);
        suite_add_tcase(s, tc);

        tc = tcase_create("lifecycle");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc,
                       the_action_names_the_order_and_aims_at_the_order_event);
        tcase_add_test(tc, a_restart_in_the_middle_gives_the_same_actions);
        tcase_add_test(tc, two_instances_keep_their_own_state);
        tcase_add_test(tc, defaults_are_three_days_and_three_items);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(post_purchase_upsell_suite());
}
