/*
 * test_cart_abandonment.c — the cart_abandonment trigger through the test
 * driver: one test per rule of TRIGGERS.md §3 cart_abandonment and per fine
 * point of §5 (cart model, stages, active elsewhere, ties at the due time,
 * late events), restarts, two instances, defaults and the action's fields.
 * Times are offsets from T0; most configurations set max_out_of_orderness
 * to 0 so that W is the latest timestamp.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "nd_test.h"
#include "nd_test_driver.h"
#include "nd_test_events.h"

static const char *const cfg_basic =
    "time: {max_out_of_orderness: 0}\n"
    "triggers:\n"
    "  - {name: cart, type: cart_abandonment, delays: [1h, 24h], "
    "min_inactivity: 10m}\n";
#include "registry.h"


/* ---------------------------------------------------------------- */
/* Stages                                                             */

START_TEST(stage_zero_fires_only_when_the_watermark_passes_the_due_time) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        ADD(d, "m1", 0, "A");
        TICK(d, HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        TICK(d, HOUR + 1);
        a = next(d);
        ck_assert_int_eq(a->act.stage, 0);
        ck_assert_int_eq(a->act.created_at, T0 + HOUR);
        ck_assert_int_eq(a->act.trigger, ND_TRIGGER_CART_ABANDONMENT);
        ck_assert_str_eq(S(d, a->act.trigger_name), "cart");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(each_stage_is_due_from_the_last_mutation) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        ADD(d, "m1", 0, "A");
        TICK(d, 30 * HOUR);
        a = next(d);
        ck_assert_int_eq(a->act.stage, 0);
        ck_assert_int_eq(a->act.created_at, T0 + HOUR);
        a = next(d);
        ck_assert_int_eq(a->act.stage, 1);
        ck_assert_int_eq(a->act.created_at, T0 + 24 * HOUR);
        ck_assert_ptr_null(nd_test_driver_read(d));
        /* No stage after the last: the cart stays, unarmed. */
        ck_assert_uint_eq(nd_test_driver_entries(d, "cart"), 1);
        ck_assert_uint_eq(nd_test_driver_timers(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_mutation_restarts_the_stages_from_zero) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        char first[33];
        ADD(d, "m1", 0, "A");
        TICK(d, 2 * HOUR);
        a = next(d);
        strcpy(first, S(d, a->act.action_id));
        ADD(d, "m2", 3 * HOUR, "B");
        TICK(d, 4 * HOUR + 1);
        a = next(d);
        ck_assert_int_eq(a->act.stage, 0);
        ck_assert_int_eq(a->act.created_at, T0 + 4 * HOUR);
        ck_assert_str_ne(S(d, a->act.action_id), first);
        ck_assert_int_eq(a->act.item_cnt, 2);
        TICK(d, 27 * HOUR + 1);
        ck_assert_int_eq(next(d)->act.created_at, T0 + 27 * HOUR);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_mutation_at_the_due_time_restarts_the_stage) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        ADD(d, "m1", 0, "A");
        ADD(d, "m2", HOUR, "A"); /* W = D: applied before anything fires */
        TICK(d, 2 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        TICK(d, 2 * HOUR + 1);
        ck_assert_int_eq(next(d)->act.created_at, T0 + 2 * HOUR);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_stage_already_due_fires_in_the_same_firing_step) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        ADD(d, "m1", 0, "A");
        nd_test_driver_end(d, T0 + 48 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 2);
        ck_assert_int_eq(next(d)->act.created_at, T0 + HOUR);
        ck_assert_int_eq(next(d)->act.created_at, T0 + 24 * HOUR);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_late_mutation_arms_a_past_timer_that_fires_at_the_next_step) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        TICK(d, 5 * HOUR);
        ADD(d, "late", 0, "A"); /* due T0 + 1h, already behind W */
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        TICK(d, 5 * HOUR + 1);
        ck_assert_int_eq(next(d)->act.created_at, T0 + HOUR);
        ck_assert_ptr_null(nd_test_driver_read(d));
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(the_last_mutation_is_the_last_processed_not_the_latest_stamped) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        ADD(d, "m-new", 30 * MIN, "A");
        ADD(d, "m-old", 0, "B"); /* processed last: due T0 + 1h */
        TICK(d, HOUR + 1);
        a = next(d);
        ck_assert_int_eq(a->act.created_at, T0 + HOUR);
        ck_assert_str_eq(S(d, a->act.source_event_ids[0]), "m-old");
        nd_test_driver_destroy(d);
}
END_TEST

/* ---------------------------------------------------------------- */
/* Cart model                                                         */

START_TEST(product_added_adds_quantity_and_null_means_one) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        ADD(d, "m1", 0, "A", .qty = 2, .price = 500);
        ADD(d, "m2", 1, "A");
        ADD(d, "m3", 2, "B", .qty = 1, .price = 250);
        TICK(d, 2 * HOUR);
        a = next(d);
        ck_assert_int_eq(a->act.item_cnt, 2);
        ck_assert_str_eq(S(d, a->act.items[0].sku), "A");
        ck_assert_int_eq(a->act.items[0].quantity, 3);
        ck_assert_str_eq(S(d, a->act.items[1].sku), "B");
        ck_assert_int_eq(a->act.items[1].quantity, 1);
        ck_assert(a->act.has_value);
        ck_assert_int_eq(a->act.value_cents, 3 * 500 + 250);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(product_removed_below_zero_leaves_the_cart) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        ADD(d, "m1", 0, "A", .qty = 2);
        ADD(d, "m2", 1, "B");
        EV(d, .type = "product_removed", .id = "m3", .ts = 2, .sku = "A",
           .qty = 5);
        TICK(d, 2 * HOUR);
        a = next(d);
        ck_assert_int_eq(a->act.item_cnt, 1);
        ck_assert_str_eq(S(d, a->act.items[0].sku), "B");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(removing_every_line_disarms_the_timer) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        ADD(d, "m1", 0, "A");
        EV(d, .type = "product_removed", .id = "m2", .ts = 1, .sku = "A");
        ck_assert_uint_eq(nd_test_driver_timers(d), 0);
        TICK(d, 30 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(removing_an_absent_sku_is_still_a_mutation) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        ADD(d, "m1", 0, "A");
        EV(d, .type = "product_removed", .id = "m2", .ts = 20 * MIN,
           .sku = "Z");
        TICK(d, HOUR + 1);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        TICK(d, HOUR + 20 * MIN + 1);
        a = next(d);
        ck_assert_str_eq(S(d, a->act.source_event_ids[0]), "m2");
        ck_assert_int_eq(a->act.item_cnt, 1);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_snapshot_replaces_the_cart) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        ADD(d, "m1", 0, "A", .qty = 3);
        EV(d, .type = "cart_viewed", .id = "m2", .ts = MIN,
           .products = "[{\"sku\":\"B\",\"quantity\":2,\"price_cents\":100,"
                       "\"category\":\"shoes\"},{\"sku\":\"C\"}]");
        TICK(d, HOUR + MIN + 1);
        a = next(d);
        ck_assert_int_eq(a->act.created_at, T0 + HOUR + MIN);
        ck_assert_int_eq(a->act.item_cnt, 2);
        ck_assert_str_eq(S(d, a->act.items[0].sku), "B");
        ck_assert_int_eq(a->act.items[0].quantity, 2);
        ck_assert_str_eq(S(d, a->act.items[0].category), "shoes");
        ck_assert_str_eq(S(d, a->act.items[1].sku), "C");
        ck_assert_int_eq(a->act.items[1].quantity, 1);
        ck_assert(!a->act.items[1].has_price);
        ck_assert_int_eq(a->act.value_cents, 200);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(an_empty_snapshot_empties_the_cart_and_disarms) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        ADD(d, "m1", 0, "A");
        EV(d, .type = "cart_viewed", .id = "m2", .ts = MIN, .products = "[]");
        ck_assert_uint_eq(nd_test_driver_timers(d), 0);
        TICK(d, 30 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(cart_viewed_without_products_is_not_a_mutation) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        ADD(d, "m1", 0, "A");
        EV(d, .type = "cart_viewed", .id = "v1", .ts = 5 * MIN);
        TICK(d, HOUR + 1);
        a = next(d);
        ck_assert_int_eq(a->act.created_at, T0 + HOUR);
        ck_assert_str_eq(S(d, a->act.source_event_ids[0]), "m1");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(checkout_started_is_a_mutation_even_without_products) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        ADD(d, "m1", 0, "A");
        EV(d, .type = "checkout_started", .id = "m2", .ts = 20 * MIN);
        TICK(d, HOUR + 20 * MIN + 1);
        a = next(d);
        ck_assert_int_eq(a->act.created_at, T0 + HOUR + 20 * MIN);
        ck_assert_str_eq(S(d, a->act.source_event_ids[0]), "m2");
        ck_assert_int_eq(a->act.item_cnt, 1);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(another_cart_id_starts_a_new_cart) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        ADD(d, "m1", 0, "A", .cart = "k1");
        ADD(d, "m2", 1, "B", .cart = "k2");
        TICK(d, HOUR + 2);
        a = next(d);
        ck_assert_str_eq(S(d, a->act.cart_id), "k2");
        ck_assert_int_eq(a->act.item_cnt, 1);
        ck_assert_str_eq(S(d, a->act.items[0].sku), "B");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_null_cart_id_means_the_open_cart) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        ADD(d, "m1", 0, "A", .cart = "k1");
        ADD(d, "m2", 1, "B");
        TICK(d, HOUR + 2);
        a = next(d);
        ck_assert_str_eq(S(d, a->act.cart_id), "k1");
        ck_assert_int_eq(a->act.item_cnt, 2);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(viewing_another_cart_empties_the_open_one_and_disarms) {
        /* Our choice (docs/triggers.md): the §5 new-cart rule applies to
         * every cart event, so the customer now has an empty cart k2. */
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        ADD(d, "m1", 0, "A", .cart = "k1");
        EV(d, .type = "cart_viewed", .id = "v1", .ts = MIN, .cart = "k2");
        ck_assert_uint_eq(nd_test_driver_timers(d), 0);
        TICK(d, 30 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(order_completed_clears_the_cart_and_keeps_its_time) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        ADD(d, "m1", 0, "A", .cart = "k1");
        EV(d, .type = "order_completed", .id = "o1", .ts = MIN,
           .order = "ord-9"); /* any order, whatever its cart */
        /* The entry stays: it remembers the order's timestamp. */
        ck_assert_uint_eq(nd_test_driver_entries(d, "cart"), 1);
        ck_assert_uint_eq(nd_test_driver_timers(d), 0);
        TICK(d, 30 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_mutation_stamped_before_the_last_order_is_ignored) {
        /* A phone flushes its offline queue after the customer paid: the
         * late add (before the order) opens no cart; one at the order's
         * time neither; one after it does. */
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        ADD(d, "m1", 0, "A", .cart = "k1");
        EV(d, .type = "order_completed", .id = "o1", .ts = 10 * MIN,
           .order = "ord-1");
        ADD(d, "late", 5 * MIN, "A", .cart = "k1");
        ADD(d, "tie", 10 * MIN, "A", .cart = "k2");
        ck_assert_uint_eq(nd_test_driver_timers(d), 0);
        TICK(d, 3 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        ADD(d, "m2", 3 * HOUR, "B", .cart = "k3");
        TICK(d, 5 * HOUR);
        ck_assert_str_eq(S(d, next(d)->act.source_event_ids[0]), "m2");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(the_last_order_is_remembered_after_the_cart_is_gone) {
        /* An order from a customer with no cart, then one with an earlier
         * time: the largest stays. A stale mutation still counts as
         * activity. */
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        EV(d, .type = "order_completed", .id = "o1", .ts = HOUR,
           .order = "ord-1");
        EV(d, .type = "order_completed", .id = "o0", .ts = 30 * MIN,
           .order = "ord-0");
        ADD(d, "stale", 50 * MIN, "A");
        ck_assert_uint_eq(nd_test_driver_timers(d), 0);
        ADD(d, "m1", 61 * MIN, "A");
        ADD(d, "stale2", 2 * HOUR, "A", .cart = "old"); /* after: opens */
        ck_assert_uint_eq(nd_test_driver_timers(d), 1);
        EV(d, .type = "order_completed", .id = "o2", .ts = 3 * HOUR,
           .order = "ord-2");
        ADD(d, "m3", 4 * HOUR, "A");
        ADD(d, "stale3", 2 * HOUR + 55 * MIN, "Z"); /* ignored */
        VIEW(d, "p", 4 * HOUR + 59 * MIN);
        TICK(d, 6 * HOUR);
        /* due 5h, the view at 4h59m postpones to 5h09m */
        {
                const nd_test_action_t *a = next(d);
                ck_assert_int_eq(a->act.created_at, T0 + 5 * HOUR + 9 * MIN);
                ck_assert_uint_eq(a->act.item_cnt, 1);
                ck_assert_str_eq(S(d, a->act.source_event_ids[0]), "m3");
        }
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(the_last_order_survives_a_restart) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        EV(d, .type = "order_completed", .id = "o1", .ts = HOUR,
           .order = "ord-1");
        nd_test_driver_restart(d);
        ADD(d, "stale", 50 * MIN, "A");
        ck_assert_uint_eq(nd_test_driver_timers(d), 0);
        TICK(d, 3 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(events_that_open_no_cart_create_no_state) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        VIEW(d, "p1", 0);
        EV(d, .type = "cart_viewed", .id = "v1", .ts = 1);
        ck_assert_uint_eq(nd_test_driver_entries(d, "cart"), 0);
        nd_test_driver_destroy(d);
}
END_TEST

/* ---------------------------------------------------------------- */
/* Active elsewhere                                                   */

START_TEST(activity_before_the_due_time_moves_the_timer) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        ADD(d, "m1", 0, "A");
        VIEW(d, "p1", 55 * MIN, .channel = "app");
        TICK(d, HOUR + 5 * MIN);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        TICK(d, HOUR + 5 * MIN + 1);
        ck_assert_int_eq(next(d)->act.created_at, T0 + HOUR + 5 * MIN);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(activity_exactly_min_inactivity_before_due_does_not_count) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        ADD(d, "m1", 0, "A");
        VIEW(d, "p1", 50 * MIN); /* D - 10m: outside (D - 10m, D] */
        TICK(d, HOUR + 1);
        ck_assert_int_eq(next(d)->act.created_at, T0 + HOUR);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(activity_at_the_due_time_postpones) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        ADD(d, "m1", 0, "A");
        VIEW(d, "p1", HOUR); /* W = D: applied first, inside the window */
        TICK(d, HOUR + 1);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        TICK(d, HOUR + 10 * MIN + 1);
        ck_assert_int_eq(next(d)->act.created_at, T0 + HOUR + 10 * MIN);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(activity_after_the_due_time_does_not_count) {
        nd_test_driver_t *d = nd_test_driver_new(
            "time: {max_out_of_orderness: 5s}\n"
            "triggers: [{name: cart, type: cart_abandonment}]\n",
            T0);
        ADD(d, "m1", 0, "A");
        VIEW(d, "p1", HOUR + 3 * SEC); /* W = D - 2s: nothing fires */
        TICK(d, HOUR + 6 * SEC);       /* W = D + 1s: fires */
        ck_assert_int_eq(next(d)->act.created_at, T0 + HOUR);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(the_check_repeats_after_a_postponement) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        ADD(d, "m1", 0, "A");
        VIEW(d, "p1", 55 * MIN);
        VIEW(d, "p2", 64 * MIN); /* inside (55m, 65m] */
        TICK(d, HOUR + 14 * MIN);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        TICK(d, HOUR + 14 * MIN + 1);
        ck_assert_int_eq(next(d)->act.created_at, T0 + HOUR + 14 * MIN);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_late_event_counts_by_its_timestamp) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        ADD(d, "m1", 0, "A");
        VIEW(d, "p-new", 57 * MIN);
        VIEW(d, "p-late", 52 * MIN); /* processed last, older: latest ≤ D is
                                        still 57m */
        TICK(d, HOUR + 7 * MIN + 1);
        ck_assert_int_eq(next(d)->act.created_at, T0 + HOUR + 7 * MIN);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(any_event_type_on_any_channel_counts_as_activity) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        ADD(d, "m1", 0, "A");
        EV(d, .type = "message_clicked", .id = "x1", .ts = 58 * MIN,
           .channel = "email", .campaign = "spring");
        TICK(d, HOUR + 8 * MIN + 1);
        ck_assert_int_eq(next(d)->act.created_at, T0 + HOUR + 8 * MIN);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(activity_postpones_every_stage) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        ADD(d, "m1", 0, "A");
        TICK(d, HOUR + 1);
        ck_assert_int_eq(next(d)->act.stage, 0);
        VIEW(d, "p1", 24 * HOUR - MIN);
        TICK(d, 24 * HOUR + 1);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        TICK(d, 24 * HOUR + 9 * MIN + 1);
        ck_assert_int_eq(next(d)->act.stage, 1);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(the_next_stage_is_due_from_the_mutation_not_the_postponed_firing) {
        nd_test_driver_t *d = nd_test_driver_new(
            "time: {max_out_of_orderness: 0}\n"
            "triggers:\n"
            "  - {name: cart, type: cart_abandonment, delays: [10m, 20m], "
            "min_inactivity: 5m}\n",
            T0);
        ADD(d, "m1", 0, "A");
        VIEW(d, "p1", 9 * MIN);
        TICK(d, 15 * MIN);
        ck_assert_int_eq(next(d)->act.created_at, T0 + 14 * MIN);
        TICK(d, 20 * MIN + 1);
        ck_assert_int_eq(next(d)->act.created_at, T0 + 20 * MIN);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(min_inactivity_zero_turns_the_check_off) {
        nd_test_driver_t *d = nd_test_driver_new(
            "time: {max_out_of_orderness: 0}\n"
            "triggers: [{name: cart, type: cart_abandonment, "
            "min_inactivity: 0}]\n",
            T0);
        ADD(d, "m1", 0, "A");
        VIEW(d, "p1", HOUR);
        TICK(d, HOUR + 1);
        ck_assert_int_eq(next(d)->act.created_at, T0 + HOUR);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_late_mutation_after_much_activity_fires_exactly) {
        /* Issue 12's reproduction: delays [30m, 2h, 24h], min_inactivity
         * 10m. Nothing was applied in (D - 10m, D] for stage 0's D: it
         * fires at D, not after the later views. */
        nd_test_driver_t *d = nd_test_driver_new(
            "triggers: [{name: cart, type: cart_abandonment, "
            "delays: [30m, 2h, 24h]}]\n",
            T0);
        const int64_t base = 1717266473850LL - T0;
        const int64_t views[4] = {1717282616234LL, 1717282734862LL,
                                  1717282885673LL, 1717283053016LL};
        const nd_test_action_t *a;
        EV(d, .type = "cart_viewed", .id = "cv", .cust = "c0024",
           .ts = 1717279304967LL - T0,
           .products = "[{\"sku\":\"S\",\"quantity\":1}]");
        for (int i = 0; i < 4; i++)
                EV(d, .type = "product_viewed", .id = "pv", .cust = "c0024",
                   .ts = views[i] - T0, .sku = "S");
        ADD(d, "late", base, "S", .cust = "c0024");
        nd_test_driver_end(d, 1717283053016LL + 1);
        /* the cart_viewed's own stage 0, fired when the first view moved
         * W past it */
        a = next(d);
        ck_assert_int_eq(a->act.created_at, 1717279304967LL + 30 * MIN);
        ck_assert_str_eq(S(d, a->act.source_event_ids[0]), "cv");
        a = next(d);
        ck_assert_str_eq(S(d, a->act.source_event_ids[0]), "late");
        ck_assert_int_eq(a->act.stage, 0);
        ck_assert_int_eq(a->act.created_at, 1717268273850LL);
        /* stage 1 at base + 2h: the cart_viewed at 1717279304967 is in
         * (D - 10m, D]? D = 1717273673850: no; it fires there too. */
        a = next(d);
        ck_assert_int_eq(a->act.stage, 1);
        ck_assert_int_eq(a->act.created_at, T0 + base + 2 * HOUR);
        ck_assert_ptr_null(nd_test_driver_read(d));
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(past_the_interval_cap_a_check_fires_later_never_earlier) {
        /* 70 separate visits (20m apart, min_inactivity 10m) while one cart
         * is open, then a mutation stamped before all of them: the list
         * keeps 64 intervals, the oldest merged. Stage 0's D = late + 1h
         * falls in a gap between two of the oldest visits: the contract
         * fires at D, the cap may only make it later. */
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        ADD(d, "open", 0, "A");
        for (int i = 0; i < 70; i++)
                VIEW(d, "v", 2 * HOUR + i * 20 * MIN);
        ADD(d, "late", 65 * MIN + 5 * MIN, "A"); /* D = 2h10m: a gap */
        nd_test_driver_end(d, 2 * HOUR + 70 * 20 * MIN + 25 * HOUR);
        while ((a = nd_test_driver_read(d)) != NULL)
                if (a->act.stage == 0 &&
                    !strcmp(S(d, a->act.source_event_ids[0]), "late"))
                        break;
        ck_assert_ptr_nonnull(a);
        ck_assert_int_ge(a->act.created_at, T0 + 2 * HOUR + 10 * MIN);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(repeated_postponement_ends_at_the_end_of_the_activity_run) {
        /* Views at 55m, 62m, 71m (each within 10m of the previous) cover
         * [55m, 81m); a gap, then 95m. A late mutation's D = 1h moves to
         * 81m exactly, the views having come in out of order. */
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        ADD(d, "m0", 100 * MIN, "A");
        VIEW(d, "p3", 71 * MIN);
        VIEW(d, "p4", 95 * MIN);
        VIEW(d, "p1", 55 * MIN);
        VIEW(d, "p2", 62 * MIN);
        ADD(d, "m1", 0, "A"); /* due 1h, behind W */
        TICK(d, 3 * HOUR);
        ck_assert_int_eq(next(d)->act.created_at, T0 + 81 * MIN);
        ck_assert_ptr_null(nd_test_driver_read(d));
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(activity_ending_exactly_at_the_due_time_does_not_count) {
        /* [t, t + m) with t + m = D does not contain D. */
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        VIEW(d, "p0", 40 * MIN); /* no entry yet: not recorded */
        ADD(d, "m1", 0, "A");
        VIEW(d, "p1", 45 * MIN);
        VIEW(d, "p2", 50 * MIN); /* [45m, 60m): ends at D */
        TICK(d, HOUR + 1);
        ck_assert_int_eq(next(d)->act.created_at, T0 + HOUR);
        nd_test_driver_destroy(d);
}
END_TEST

/* The contract's rule, by brute force over every applied timestamp: while
 * one is in (D - m, D], D := the latest such + m. */
static int64_t brute_fire(const int64_t *ts, int n, int64_t D, int64_t m) {
        for (;;) {
                int64_t best = INT64_MIN;
                for (int i = 0; i < n; i++)
                        if (ts[i] > D - m && ts[i] <= D && ts[i] > best)
                                best = ts[i];
                if (best == INT64_MIN)
                        return D;
                D = best + m;
        }
}

START_TEST(active_elsewhere_matches_the_rule_on_random_traces) {
        /* A cart, up to 12 views, maybe an order, then a mutation stamped
         * anywhere (late or not), all applied before anything fires (a
         * one-day out-of-orderness bound); every stage must fire where
         * the rule, applied by brute force, says. */
        uint64_t rng = 12345;
#define RND(n)                                                          \
        ((rng = rng * 6364136223846793005ULL + 1442695040888963407ULL), \
         (int64_t)((rng >> 33) % (uint64_t)(n)))
        for (int seed = 0; seed < 300; seed++) {
                nd_test_driver_t *d = nd_test_driver_new(
                    "time: {max_out_of_orderness: 1d}\n"
                    "triggers: [{name: cart, type: cart_abandonment, "
                    "delays: [30m, 2h], min_inactivity: 10m}]\n",
                    T0);
                int64_t ts[16], span = 4 * HOUR, late, order = -1;
                int n = 0, views = (int)RND(13);
                ts[n++] = RND(span);
                ADD(d, "m0", ts[0], "A");
                for (int i = 0; i < views; i++) {
                        ts[n] = RND(span);
                        VIEW(d, "v", ts[n]);
                        n++;
                }
                if (RND(2)) {
                        order = RND(span);
                        ts[n++] = order;
                        EV(d, .type = "order_completed", .id = "o", .ts = order,
                           .order = "ord");
                }
                late = RND(span);
                ts[n++] = late;
                ADD(d, "m1", late, "B");
                nd_test_driver_end(d, T0 + 2 * 24 * HOUR);
                for (int i = 0; i < n; i++)
                        ts[i] += T0;
                if (order >= 0 && late <= order) {
                        ck_assert_msg(nd_test_driver_output_count(d) == 0,
                                      "seed %d: a stale mutation fired", seed);
                } else {
                        for (int st = 0; st < 2; st++) {
                                const nd_test_action_t *a = next(d);
                                int64_t due =
                                    T0 + late + (st ? 2 * HOUR : 30 * MIN);
                                ck_assert_int_eq(a->act.stage, st);
                                ck_assert_msg(
                                    a->act.created_at ==
                                        brute_fire(ts, n, due, 10 * MIN),
                                    "seed %d stage %d: %lld, rule %lld", seed,
                                    st, (long long)a->act.created_at,
                                    (long long)brute_fire(ts, n, due,
                                                          10 * MIN));
                        }
                        ck_assert_ptr_null(nd_test_driver_read(d));
                }
                nd_test_driver_destroy(d);
        }
#undef RND
}
END_TEST

/* ---------------------------------------------------------------- */
/* The action                                                         */

START_TEST(the_action_is_aimed_at_the_last_mutation_and_carries_the_cart) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        char id[33];
        nd_str_t parts[4] = {{"cart", 4}, {"c1", 2}, {"m2", 2}, {"0", 1}};
        ADD(d, "m1", 0, "A", .cart = "k1", .channel = "web", .device = "d1",
            .price = 1999, .currency = "EUR", .cat = "shoes");
        ADD(d, "m2", MIN, "B", .channel = "app", .device = "d2", .qty = 2,
            .price = 500);
        VIEW(d, "p1", 2 * MIN, .channel = "web", .device = "d1");
        TICK(d, HOUR + MIN + 1);
        a = next(d);
        nd_action_id(parts, 4, id);
        ck_assert_str_eq(S(d, a->act.action_id), id);
        ck_assert_str_eq(S(d, a->act.customer_id), "c1");
        ck_assert_ptr_null(a->act.anonymous_id.p);
        ck_assert_int_eq(a->act.channel, ND_CHANNEL_APP);
        ck_assert_str_eq(S(d, a->act.device_id), "d2");
        ck_assert_str_eq(S(d, a->act.cart_id), "k1");
        ck_assert_int_eq(a->act.item_cnt, 2);
        ck_assert_str_eq(S(d, a->act.items[0].category), "shoes");
        ck_assert_int_eq(a->act.value_cents, 1999 + 2 * 500);
        ck_assert_str_eq(S(d, a->act.currency), "EUR");
        ck_assert(a->act.has_expires_at);
        ck_assert_int_eq(a->act.expires_at, T0 + HOUR + MIN + 12 * HOUR);
        ck_assert_uint_eq(a->act.source_event_cnt, 1);
        ck_assert_str_eq(S(d, a->act.source_event_ids[0]), "m2");
        ck_assert_int_eq(a->act.recommended_cnt, 0);
        ck_assert(!a->act.has_from_channel);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(an_anonymous_key_goes_into_anonymous_id) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        ADD(d, "m1", 0, "A", .anon = "anon-7");
        TICK(d, HOUR + 1);
        a = next(d);
        ck_assert_str_eq(S(d, a->act.anonymous_id), "anon-7");
        ck_assert_ptr_null(a->act.customer_id.p);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(action_ids_differ_by_stage_and_repeat_on_replay) {
        const char *ids[2][2];
        for (int run = 0; run < 2; run++) {
                nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
                ADD(d, "m1", 0, "A");
                TICK(d, 30 * HOUR);
                ids[run][0] = strdup(S(d, next(d)->act.action_id));
                ids[run][1] = strdup(S(d, next(d)->act.action_id));
                nd_test_driver_destroy(d);
        }
        ck_assert_str_ne(ids[0][0], ids[0][1]);
        ck_assert_str_eq(ids[0][0], ids[1][0]);
        ck_assert_str_eq(ids[0][1], ids[1][1]);
        for (int i = 0; i < 4; i++)
                free((void *)ids[i / 2][i % 2]);
}
END_TEST

/* ---------------------------------------------------------------- */
/* Restarts, instances, defaults, configuration                       */

/* A scenario with pending timers; restart_at: after which step (or -1). */
static void scenario_step(nd_test_driver_t *d, int step) {
        switch (step) {
        case 0:
                ADD(d, "m1", 0, "A", .cart = "k1", .price = 100);
                ADD(d, "n1", 0, "X", .cust = "c2");
                break;
        case 1:
                VIEW(d, "p1", 55 * MIN);
                break;
        case 2:
                TICK(d, HOUR + 1); /* c2 fires, c1 postponed */
                break;
        case 3:
                ADD(d, "m2", 70 * MIN, "B", .qty = 3);
                break;
        case 4:
                TICK(d, 3 * HOUR);
                break;
        case 5:
                VIEW(d, "p2", 25 * HOUR);
                break;
        default:
                TICK(d, 40 * HOUR);
                break;
        }
}

static char *run_scenario(int restart_at) {
        return nd_test_run_steps(nd_test_driver_new(cfg_basic, T0),
                                 scenario_step, 7, restart_at);
}

START_TEST(a_restart_in_the_middle_gives_the_same_actions) {
        char *straight = run_scenario(-1);
        ck_assert_int_eq((int)(strlen(straight) > 0), 1);
        for (int at = 1; at < 7; at++) {
                char *restarted = run_scenario(at);
                ck_assert_str_eq(restarted, straight);
                free(restarted);
        }
        free(straight);
}
END_TEST

START_TEST(two_instances_keep_their_own_state) {
        nd_test_driver_t *d = nd_test_driver_new(
            "time: {max_out_of_orderness: 0}\n"
            "triggers:\n"
            "  - {name: cart_1h, type: cart_abandonment, delays: [1h]}\n"
            "  - {name: cart_24h, type: cart_abandonment, delays: [24h], "
            "min_inactivity: 0}\n",
            T0);
        const nd_test_action_t *a, *b;
        ADD(d, "m1", 0, "A");
        VIEW(d, "p1", 55 * MIN);
        TICK(d, 30 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 2);
        a = next(d);
        b = next(d);
        ck_assert_str_eq(S(d, a->act.trigger_name), "cart_1h");
        ck_assert_int_eq(a->act.created_at, T0 + HOUR + 5 * MIN);
        ck_assert_str_eq(S(d, b->act.trigger_name), "cart_24h");
        ck_assert_int_eq(b->act.created_at, T0 + 24 * HOUR);
        ck_assert_int_eq(b->act.stage, 0);
        ck_assert_str_ne(S(d, a->act.action_id), S(d, b->act.action_id));
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(defaults_are_one_hour_and_a_day_with_ten_minutes_inactivity) {
        nd_test_driver_t *d = nd_test_driver_new(
            "triggers: [{name: cart, type: cart_abandonment}]\n", T0);
        ADD(d, "m1", 0, "A");
        VIEW(d, "p1", 50 * MIN + 1); /* inside (D - 10m, D] */
        TICK(d, 2 * HOUR);
        ck_assert_int_eq(next(d)->act.created_at, T0 + HOUR + 1);
        TICK(d, 24 * HOUR + 6 * SEC); /* default out-of-orderness 5s */
        ck_assert_int_eq(next(d)->act.created_at, T0 + 24 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

static nd_err_t load(const char *yaml, char *errstr, size_t n) {
        nd_config_t *cfg = NULL;
        nd_err_t err = nd_config_load_string(
            "t.yaml", yaml, strlen(yaml), nd_processor_find, &cfg, errstr, n);
        nd_config_destroy(cfg);
        return err;
}

static const struct bad_case {
        const char *yaml, *msg;
} bad_cases[] = {
    {"triggers: [{name: c, type: cart_abandonment, delays: []}]\n",
     "at least one"},
    {"triggers: [{name: c, type: cart_abandonment, delays: [2h, 1h]}]\n",
     "strictly increasing"},
    {"triggers: [{name: c, type: cart_abandonment, delays: [1h, 1h]}]\n",
     "strictly increasing"},
    {"triggers: [{name: c, type: cart_abandonment, min_inactivity: -1s}]\n",
     "min_inactivity"},
    {"triggers: [{name: c, type: cart_abandonment, delay: 1h}]\n", "delay"},
};

START_TEST(bad_configurations_are_refused_with_a_reason) {
        char errstr[512] = "";
        ck_assert_int_eq(load(bad_cases[_i].yaml, errstr, sizeof(errstr)),
                         ND_ERR_CONFIG);
        ck_assert_msg(strstr(errstr, bad_cases[_i].msg) != NULL,
                      "'%s' does not mention '%s'", errstr, bad_cases[_i].msg);
}
END_TEST

static Suite *cart_abandonment_suite(void) {
        Suite *s = suite_create("cart_abandonment");
        TCase *tc = tcase_create("stages");
        tcase_set_timeout(tc, 30);
        tcase_add_test(
            tc, stage_zero_fires_only_when_the_watermark_passes_the_due_time);
        tcase_add_test(tc, each_stage_is_due_from_the_last_mutation);
        tcase_add_test(tc, a_mutation_restarts_the_stages_from_zero);
        tcase_add_test(tc, a_mutation_at_the_due_time_restarts_the_stage);
        tcase_add_test(tc, a_stage_already_due_fires_in_the_same_firing_step);
        tcase_add_test(
            tc, a_late_mutation_arms_a_past_timer_that_fires_at_the_next_step);
        tcase_add_test(
            tc, the_last_mutation_is_the_last_processed_not_the_latest_stamped);
        suite_add_tcase(s, tc);

        tc = tcase_create("cart_model");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, product_added_adds_quantity_and_null_means_one);
        tcase_add_test(tc, product_removed_below_zero_leaves_the_cart);
        tcase_add_test(tc, removing_every_line_disarms_the_timer);
        tcase_add_test(tc, removing_an_absent_sku_is_still_a_mutation);
        tcase_add_test(tc, a_snapshot_replaces_the_cart);
        tcase_add_test(tc, an_empty_snapshot_empties_the_cart_and_disarms);
        tcase_add_test(tc, cart_viewed_without_products_is_not_a_mutation);
        tcase_add_test(tc,
                       checkout_started_is_a_mutation_even_without_products);
        tcase_add_test(tc, another_cart_id_starts_a_new_cart);
        tcase_add_test(tc, a_null_cart_id_means_the_open_cart);
        tcase_add_test(tc,
                       viewing_another_cart_empties_the_open_one_and_disarms);
        tcase_add_test(tc, order_completed_clears_the_cart_and_keeps_its_time);
        tcase_add_test(tc, a_mutation_stamped_before_the_last_order_is_ignored);
        tcase_add_test(tc, the_last_order_is_remembered_after_the_cart_is_gone);
        tcase_add_test(tc, the_last_order_survives_a_restart);
        tcase_add_test(tc, events_that_open_no_cart_create_no_state);
        suite_add_tcase(s, tc);

        tc = tcase_create("active_elsewhere");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, activity_before_the_due_time_moves_the_timer);
        tcase_add_test(
            tc, activity_exactly_min_inactivity_before_due_does_not_count);
        tcase_add_test(tc, activity_at_the_due_time_postpones);
        tcase_add_test(tc, activity_after_the_due_time_does_not_count);
        tcase_add_test(tc, the_check_repeats_after_a_postponement);
        tcase_add_test(tc, a_late_event_counts_by_its_timestamp);
        tcase_add_test(tc, any_event_type_on_any_channel_counts_as_activity);
        tcase_add_test(tc, activity_postpones_every_stage);
        tcase_add_test(
            tc,
            the_next_stage_is_due_from_the_mutation_not_the_postponed_firing);
        tcase_add_test(tc, min_inactivity_zero_turns_the_check_off);
        tcase_add_test(tc, a_late_mutation_after_much_activity_fires_exactly);
        tcase_add_test(
            tc, repeated_postponement_ends_at_the_end_of_the_activity_run);
        tcase_add_test(tc,
                       past_the_interval_cap_a_check_fires_later_never_earlier);
        tcase_add_test(tc,
                       activity_ending_exactly_at_the_due_time_does_not_count);
        tcase_add_test(tc, active_elsewhere_matches_the_rule_on_random_traces);
        suite_add_tcase(s, tc);

        tc = tcase_create("action");
        tcase_set_timeout(tc, 30);
        tcase_add_test(
            tc, the_action_is_aimed_at_the_last_mutation_and_carries_the_cart);
        tcase_add_test(tc, an_anonymous_key_goes_into_anonymous_id);
        tcase_add_test(tc, action_ids_differ_by_stage_and_repeat_on_replay);
        suite_add_tcase(s, tc);

        tc = tcase_create("lifecycle");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, a_restart_in_the_middle_gives_the_same_actions);
        tcase_add_test(tc, two_instances_keep_their_own_state);
        tcase_add_test(
            tc, defaults_are_one_hour_and_a_day_with_ten_minutes_inactivity);
        tcase_add_loop_test(tc, bad_configurations_are_refused_with_a_reason, 0,
                            sizeof(bad_cases) / sizeof(bad_cases[0]));
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(cart_abandonment_suite());
}
