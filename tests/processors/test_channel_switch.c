/*
 * test_channel_switch.c — the channel_switch trigger through the test
 * driver: what counts as another channel or device B, the switch window,
 * grace, what cancels, what fires, at most one action per (cart, B), the
 * action's fields, restarts, two instances and defaults (TRIGGERS.md §3,
 * §5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nd_test.h"
#include "nd_test_driver.h"
#include "nd_test_events.h"


static const char *const cfg_basic =
    "time: {max_out_of_orderness: 0}\n"
    "triggers:\n"
    "  - {name: switch, type: channel_switch, channels: [web, app, store], "
    "switch_window: 30m, grace: 10m}\n";

/* The cart: two of A on web, device d1, at 0. */
#define CART(d)                                                    \
        ADD(d, "m1", 0, "A", .cart = "k1", .qty = 2, .price = 300, \
            .device = "d1")
#define OPEN(d, id_, ts_, ...) \
        EV(d, .type = "app_opened", .id = id_, .ts = ts_, __VA_ARGS__)

/* ---------------------------------------------------------------- */
/* What starts an instance                                            */

START_TEST(another_channel_within_the_window_fires_after_grace) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        CART(d);
        OPEN(d, "b1", 5 * MIN, .channel = "app", .device = "d2");
        TICK(d, 15 * MIN);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        TICK(d, 15 * MIN + 1);
        a = next(d);
        ck_assert_int_eq(a->act.trigger, ND_TRIGGER_CHANNEL_SWITCH);
        ck_assert_int_eq(a->act.created_at, T0 + 15 * MIN);
        ck_assert_int_eq(a->act.channel, ND_CHANNEL_APP);
        ck_assert_str_eq(S(d, a->act.device_id), "d2");
        ck_assert(a->act.has_from_channel);
        ck_assert_int_eq(a->act.from_channel, ND_CHANNEL_WEB);
        ck_assert_str_eq(S(d, a->act.from_device_id), "d1");
        /* the gap: from the cart mutation to the first event on B */
        ck_assert(a->act.has_gap);
        ck_assert_int_eq(a->act.gap_ms, 5 * MIN);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(another_device_on_the_same_channel_counts) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        CART(d);
        VIEW(d, "b1", MIN, .channel = "web", .device = "d9");
        TICK(d, HOUR);
        a = next(d);
        ck_assert_int_eq(a->act.channel, ND_CHANNEL_WEB);
        ck_assert_str_eq(S(d, a->act.device_id), "d9");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(the_same_channel_without_both_devices_is_not_another_place) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        CART(d);
        VIEW(d, "b1", MIN, .channel = "web");
        VIEW(d, "b2", MIN, .channel = "web", .device = "d1");
        TICK(d, HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_channel_outside_the_list_does_not_count) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        CART(d);
        EV(d, .type = "message_clicked", .id = "b1", .ts = MIN,
           .channel = "email", .campaign = "c");
        TICK(d, HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

static const struct window_case {
        int64_t at;
        int fires;
} window_cases[] = {
    {0, 1},
    {30 * MIN, 1},
    {30 * MIN + 1, 0},
    {-1, 0},
};

START_TEST(the_switch_window_runs_from_the_mutation_inclusive) {
        const struct window_case *c = &window_cases[_i];
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        TICK(d, 0);
        CART(d);
        OPEN(d, "b1", c->at, .channel = "app");
        TICK(d, 2 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), c->fires);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(no_cart_means_no_instance_and_no_state) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        OPEN(d, "b1", 0, .channel = "app");
        ck_assert_uint_eq(nd_test_driver_entries(d, "switch"), 0);
        ADD(d, "m1", MIN, "A");
        EV(d, .type = "product_removed", .id = "m2", .ts = 2 * MIN, .sku = "A");
        OPEN(d, "b2", 3 * MIN, .channel = "app"); /* empty cart */
        TICK(d, HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(further_events_on_the_same_b_do_not_move_the_timer) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        CART(d);
        OPEN(d, "b1", 5 * MIN, .channel = "app", .device = "d2");
        VIEW(d, "b2", 9 * MIN, .channel = "app", .device = "d2");
        TICK(d, 15 * MIN + 1);
        a = next(d);
        ck_assert_int_eq(a->act.created_at, T0 + 15 * MIN);
        ck_assert_str_eq(S(d, a->act.source_event_ids[1]), "b1");
        ck_assert_ptr_null(nd_test_driver_read(d));
        nd_test_driver_destroy(d);
}
END_TEST

/* ---------------------------------------------------------------- */
/* Cancelling and firing                                              */

START_TEST(a_cart_mutation_on_b_cancels_its_instance) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        CART(d);
        OPEN(d, "b1", 5 * MIN, .channel = "app", .device = "d2");
        ADD(d, "m2", 15 * MIN, "B", .channel = "app", .device = "d2");
        /* at the due time: applied before the timer fires */
        TICK(d, HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(mutations_on_a_or_a_third_device_do_not_cancel) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        CART(d);
        OPEN(d, "b1", 5 * MIN, .channel = "app", .device = "d2");
        ADD(d, "m2", 6 * MIN, "B", .device = "d1"); /* A */
        ADD(d, "m3", 7 * MIN, "C", .channel = "store", .device = "d3");
        TICK(d, 15 * MIN + 1);
        a = next(d);
        ck_assert_uint_eq(a->act.item_cnt, 3); /* the cart at firing */
        ck_assert_int_eq(a->act.from_channel, ND_CHANNEL_WEB);
        ck_assert_str_eq(S(d, a->act.from_device_id), "d1");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(an_order_cancels_every_instance) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        CART(d);
        OPEN(d, "b1", 5 * MIN, .channel = "app", .device = "d2");
        OPEN(d, "b2", 6 * MIN, .channel = "store");
        ck_assert_uint_eq(nd_test_driver_timers(d), 1);
        EV(d, .type = "order_completed", .id = "o1", .ts = 7 * MIN,
           .order = "ord1");
        /* The entry stays (the order's time, the emitted pairs). */
        ck_assert_uint_eq(nd_test_driver_entries(d, "switch"), 1);
        ck_assert_uint_eq(nd_test_driver_timers(d), 0);
        TICK(d, HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(an_emptied_or_replaced_cart_ends_the_instance_silently) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        CART(d);
        OPEN(d, "b1", 5 * MIN, .channel = "app", .device = "d2");
        EV(d, .type = "product_removed", .id = "m2", .ts = 6 * MIN, .sku = "A",
           .qty = 2, .device = "d1");
        TICK(d, HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        /* A new cart k2 while k1's instance is pending. */
        ADD(d, "m3", 2 * HOUR, "A", .cart = "k1", .device = "d1");
        OPEN(d, "b2", 2 * HOUR + MIN, .channel = "app", .device = "d2");
        ADD(d, "m4", 2 * HOUR + 2 * MIN, "B", .cart = "k2", .device = "d1");
        TICK(d, 3 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(at_most_one_action_per_cart_and_b) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        CART(d);
        OPEN(d, "b1", 5 * MIN, .channel = "app", .device = "d2");
        TICK(d, 20 * MIN);
        ck_assert_int_eq(nd_test_driver_output_count(d), 1);
        ADD(d, "m2", 30 * MIN, "B", .device = "d1");
        OPEN(d, "b2", 31 * MIN, .channel = "app", .device = "d2");
        OPEN(d, "b3", 31 * MIN, .channel = "app", .device = "d3");
        TICK(d, 2 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 2);
        next(d);
        ck_assert_str_eq(S(d, next(d)->act.device_id), "d3");
        /* A new cart: the same B may be reminded again. */
        ADD(d, "m3", 3 * HOUR, "A", .cart = "k2", .device = "d1");
        OPEN(d, "b4", 3 * HOUR + MIN, .channel = "app", .device = "d2");
        TICK(d, 4 * HOUR);
        ck_assert_str_eq(S(d, next(d)->act.cart_id), "k2");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_reused_cart_id_after_an_order_gets_no_second_action_for_b) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        CART(d);
        OPEN(d, "b1", 5 * MIN, .channel = "app", .device = "d2");
        TICK(d, 20 * MIN);
        ck_assert_int_eq(nd_test_driver_output_count(d), 1);
        nd_test_driver_clear(d);
        EV(d, .type = "order_completed", .id = "o1", .ts = 30 * MIN,
           .order = "ord1");
        ADD(d, "m2", HOUR, "A", .cart = "k1", .device = "d1"); /* reused */
        OPEN(d, "b2", HOUR + MIN, .channel = "app", .device = "d2");
        OPEN(d, "b3", HOUR + MIN, .channel = "store"); /* another B */
        nd_test_driver_restart(d);
        TICK(d, 2 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 1);
        ck_assert_str_eq(S(d, next(d)->act.source_event_ids[1]), "b3");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(many_emitted_pairs_are_all_remembered) {
        /* 20 devices each get their action; after an order the reused cart
         * gets none on any of them, the first included. */
        nd_test_driver_t *d = nd_test_driver_new(
            "time: {max_out_of_orderness: 0}\n"
            "triggers: [{name: switch, type: channel_switch, "
            "switch_window: 1d, grace: 0}]\n",
            T0);
        char dev[8];
        CART(d);
        for (int i = 0; i < 20; i++) {
                snprintf(dev, sizeof(dev), "x%02d", i);
                OPEN(d, "b", (i + 1) * MIN, .channel = "app", .device = dev);
        }
        TICK(d, 30 * MIN);
        ck_assert_int_eq(nd_test_driver_output_count(d), 20);
        nd_test_driver_clear(d);
        EV(d, .type = "order_completed", .id = "o1", .ts = 31 * MIN,
           .order = "ord1");
        ADD(d, "m2", HOUR, "A", .cart = "k1", .device = "d1"); /* reused */
        for (int i = 0; i < 20; i++) {
                snprintf(dev, sizeof(dev), "x%02d", i);
                OPEN(d, "b", HOUR + (i + 1) * MIN, .channel = "app",
                     .device = dev);
        }
        TICK(d, 3 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(instances_due_together_fire_in_reference_order) {
        /* Two B's first seen at the same time: "d2" before "d9" (bytes),
         * whatever the order in which they were seen. */
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        CART(d);
        OPEN(d, "b9", 5 * MIN, .channel = "app", .device = "d9");
        OPEN(d, "b2", 5 * MIN, .channel = "app", .device = "d2");
        OPEN(d, "bs", 5 * MIN, .channel = "store");
        TICK(d, HOUR);
        ck_assert_str_eq(S(d, next(d)->act.device_id), "d2");
        ck_assert_str_eq(S(d, next(d)->act.device_id), "d9");
        ck_assert_int_eq(next(d)->act.channel, ND_CHANNEL_STORE);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_mutation_on_b_is_one_with_b_s_identity) {
        /* B = device d2 (app). A mutation on app without a device_id has
         * the identity "app", not d2: it does not cancel; one on d2 from
         * another channel does. */
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        CART(d);
        OPEN(d, "b1", 5 * MIN, .channel = "app", .device = "d2");
        OPEN(d, "b2", 5 * MIN, .channel = "store");
        ADD(d, "m2", 6 * MIN, "B", .channel = "app"); /* identity "app" */
        ADD(d, "m3", 7 * MIN, "B", .channel = "store", .device = "d7");
        TICK(d, HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 2);
        ck_assert_str_eq(S(d, next(d)->act.device_id), "d2");
        ck_assert_int_eq(next(d)->act.channel, ND_CHANNEL_STORE);
        nd_test_driver_clear(d);
        CART(d);
        ADD(d, "m4", 2 * HOUR, "A", .cart = "k9", .device = "d1");
        OPEN(d, "b3", 2 * HOUR + MIN, .channel = "app", .device = "d2");
        ADD(d, "m5", 2 * HOUR + 2 * MIN, "B", .channel = "web",
            .device = "d2"); /* d2 itself, on another channel */
        TICK(d, 4 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_mutation_on_a_sharing_b_s_device_does_not_cancel) {
        /* A = web / d1, B = app / d1 (one phone, two channels): a mutation
         * on web / d1 is on A, which never cancels. */
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        CART(d);
        OPEN(d, "b1", 5 * MIN, .channel = "app", .device = "d1");
        ADD(d, "m2", 6 * MIN, "B", .device = "d1");
        TICK(d, HOUR);
        ck_assert_str_eq(S(d, next(d)->act.device_id), "d1");
        nd_test_driver_clear(d);
        ADD(d, "m3", 2 * HOUR, "A", .cart = "k2", .device = "d1");
        OPEN(d, "b2", 2 * HOUR + MIN, .channel = "app", .device = "d1");
        ADD(d, "m4", 2 * HOUR + 2 * MIN, "B", .channel = "app",
            .device = "d1"); /* on B itself */
        TICK(d, 4 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_mutation_stamped_before_the_last_order_is_no_mutation_nor_b) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        CART(d);
        EV(d, .type = "order_completed", .id = "o1", .ts = 10 * MIN,
           .order = "ord1");
        ADD(d, "m2", 20 * MIN, "A", .cart = "k2", .device = "d1");
        /* a flushed offline queue: stale, on app d2 */
        ADD(d, "stale", 5 * MIN, "Z", .cart = "k2", .channel = "app",
            .device = "d2");
        OPEN(d, "b1", 21 * MIN, .channel = "app", .device = "d2");
        TICK(d, HOUR);
        a = next(d);
        ck_assert_str_eq(S(d, a->act.from_device_id), "d1");
        ck_assert_uint_eq(a->act.item_cnt, 1);
        ck_assert_str_eq(S(d, a->act.source_event_ids[0]), "m2");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_cart_without_id_after_an_order_is_a_new_cart) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        char first[33];
        char id[33];
        nd_str_t parts[4] = {
            {"switch", 6}, {"c1", 2}, {"@1700003600000", 14}, {"app", 3}};
        ADD(d, "m1", 0, "A", .device = "d1");
        OPEN(d, "b1", MIN, .channel = "app");
        TICK(d, 20 * MIN);
        strcpy(first, S(d, next(d)->act.action_id));
        EV(d, .type = "order_completed", .id = "o1", .ts = 30 * MIN,
           .order = "ord1");
        ADD(d, "m2", HOUR, "B", .device = "d1");
        OPEN(d, "b2", HOUR + MIN, .channel = "app");
        TICK(d, 2 * HOUR);
        nd_action_id(parts, 4, id);
        ck_assert_str_eq(S(d, nd_test_driver_read(d)->act.action_id), id);
        ck_assert_str_ne(id, first);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_cancelled_instance_may_start_again) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        CART(d);
        OPEN(d, "b1", 5 * MIN, .channel = "app", .device = "d2");
        ADD(d, "m2", 6 * MIN, "B", .channel = "app", .device = "d2");
        ADD(d, "m3", 7 * MIN, "C", .device = "d1");
        OPEN(d, "b2", 8 * MIN, .channel = "app", .device = "d2");
        TICK(d, HOUR);
        a = next(d);
        ck_assert_int_eq(a->act.created_at, T0 + 18 * MIN);
        ck_assert_str_eq(S(d, a->act.source_event_ids[0]), "m3");
        ck_assert_str_eq(S(d, a->act.source_event_ids[1]), "b2");
        ck_assert_ptr_null(nd_test_driver_read(d));
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(instances_of_one_customer_fire_in_due_order) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        CART(d);
        OPEN(d, "b1", 5 * MIN, .channel = "store");
        OPEN(d, "b2", 3 * MIN, .channel = "app"); /* late: due earlier */
        TICK(d, HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 2);
        ck_assert_int_eq(next(d)->act.channel, ND_CHANNEL_APP);
        ck_assert_int_eq(next(d)->act.channel, ND_CHANNEL_STORE);
        nd_test_driver_destroy(d);
}
END_TEST

/* ---------------------------------------------------------------- */
/* The action, restarts, instances, defaults                          */

START_TEST(the_action_continues_the_cart_on_b) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        char id[33];
        nd_str_t parts[4] = {
            {"switch", 6}, {"anon-3", 6}, {"k1", 2}, {"store", 5}};
        ADD(d, "m1", 0, "A", .anon = "anon-3", .cart = "k1", .qty = 2,
            .price = 300, .currency = "EUR", .device = "d1");
        VIEW(d, "b1", 4 * MIN, .anon = "anon-3", .channel = "store");
        TICK(d, HOUR);
        a = next(d);
        nd_action_id(parts, 4, id);
        ck_assert_str_eq(S(d, a->act.action_id), id);
        ck_assert_str_eq(S(d, a->act.anonymous_id), "anon-3");
        ck_assert_ptr_null(a->act.customer_id.p);
        ck_assert_int_eq(a->act.channel, ND_CHANNEL_STORE);
        ck_assert_ptr_null(a->act.device_id.p);
        ck_assert_int_eq(a->act.stage, 0);
        ck_assert_str_eq(S(d, a->act.cart_id), "k1");
        ck_assert_uint_eq(a->act.item_cnt, 1);
        ck_assert_int_eq(a->act.items[0].quantity, 2);
        ck_assert_int_eq(a->act.value_cents, 600);
        ck_assert_str_eq(S(d, a->act.currency), "EUR");
        ck_assert(a->act.has_expires_at);
        ck_assert_int_eq(a->act.expires_at, T0 + 14 * MIN + HOUR);
        ck_assert_uint_eq(a->act.source_event_cnt, 2);
        ck_assert_str_eq(S(d, a->act.source_event_ids[0]), "m1");
        ck_assert_str_eq(S(d, a->act.source_event_ids[1]), "b1");
        nd_test_driver_destroy(d);
}
END_TEST

static void scenario_step(nd_test_driver_t *d, int step) {
        switch (step) {
        case 0:
                CART(d);
                ADD(d, "n1", 0, "Z", .cust = "c2", .channel = "app");
                break;
        case 1:
                OPEN(d, "b1", 5 * MIN, .channel = "app", .device = "d2");
                VIEW(d, "w1", 6 * MIN, .cust = "c2");
                break;
        case 2:
                OPEN(d, "b2", 7 * MIN, .channel = "store");
                break;
        case 3:
                TICK(d, 16 * MIN);
                break;
        case 4:
                ADD(d, "m2", 20 * MIN, "Q", .device = "d1");
                OPEN(d, "b3", 21 * MIN, .channel = "app", .device = "d2");
                break;
        default:
                TICK(d, 5 * HOUR);
                break;
        }
}

static char *run_scenario(int restart_at) {
        return nd_test_run_steps(nd_test_driver_new(cfg_basic, T0),
                                 scenario_step, 6, restart_at);
}

START_TEST(a_restart_in_the_middle_gives_the_same_actions) {
        char *straight = run_scenario(-1);
        ck_assert_ptr_nonnull(strstr(straight, "\"c2\""));
        ck_assert_ptr_nonnull(strstr(straight, "\"store\""));
        for (int at = 1; at < 6; at++) {
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
            "  - {name: sw_app, type: channel_switch, channels: [app], "
            "grace: 1m}\n"
            "  - {name: sw_all, type: channel_switch, grace: 20m}\n",
            T0);
        const nd_test_action_t *a;
        CART(d);
        OPEN(d, "b1", 5 * MIN, .channel = "app");
        OPEN(d, "b2", 5 * MIN, .channel = "store");
        TICK(d, HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 3);
        a = next(d);
        ck_assert_str_eq(S(d, a->act.trigger_name), "sw_app");
        ck_assert_int_eq(a->act.created_at, T0 + 6 * MIN);
        a = next(d);
        ck_assert_str_eq(S(d, a->act.trigger_name), "sw_all");
        ck_assert_int_eq(a->act.created_at, T0 + 25 * MIN);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(defaults_match_the_contract) {
        nd_test_driver_t *d = nd_test_driver_new(
            "triggers: [{name: switch, type: channel_switch}]\n", T0);
        const nd_test_action_t *a;
        CART(d);
        EV(d, .type = "page_viewed", .id = "x1", .ts = MIN,
           .channel = "email");                    /* not listed */
        OPEN(d, "b1", 30 * MIN, .channel = "app"); /* window 30m */
        VIEW(d, "b2", 30 * MIN, .channel = "store");
        VIEW(d, "b3", 30 * MIN + 1, .channel = "web", .device = "d5");
        TICK(d, 40 * MIN + 5 * SEC); /* grace 10m */
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        TICK(d, 40 * MIN + 6 * SEC);
        ck_assert_int_eq(nd_test_driver_output_count(d), 2);
        a = next(d);
        ck_assert_int_eq(a->act.created_at, T0 + 40 * MIN);
        nd_test_driver_destroy(d);
}
END_TEST

static Suite *channel_switch_suite(void) {
        Suite *s = suite_create("channel_switch");
        TCase *tc = tcase_create("start");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, another_channel_within_the_window_fires_after_grace);
        tcase_add_test(tc, another_device_on_the_same_channel_counts);
        tcase_add_test(
            tc, the_same_channel_without_both_devices_is_not_another_place);
        tcase_add_test(tc, a_channel_outside_the_list_does_not_count);
        tcase_add_loop_test(tc,
                            the_switch_window_runs_from_the_mutation_inclusive,
                            0, sizeof(window_cases) / sizeof(window_cases[0]));
        tcase_add_test(tc, no_cart_means_no_instance_and_no_state);
        tcase_add_test(tc, further_events_on_the_same_b_do_not_move_the_timer);
        suite_add_tcase(s, tc);

        tc = tcase_create("cancel_and_fire");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, a_cart_mutation_on_b_cancels_its_instance);
        tcase_add_test(tc, mutations_on_a_or_a_third_device_do_not_cancel);
        tcase_add_test(tc, an_order_cancels_every_instance);
        tcase_add_test(tc,
                       an_emptied_or_replaced_cart_ends_the_instance_silently);
        tcase_add_test(tc, at_most_one_action_per_cart_and_b);
        tcase_add_test(tc, a_cart_without_id_after_an_order_is_a_new_cart);
        tcase_add_test(
            tc, a_reused_cart_id_after_an_order_gets_no_second_action_for_b);
        tcase_add_test(tc, many_emitted_pairs_are_all_remembered);
        tcase_add_test(tc, instances_due_together_fire_in_reference_order);
        tcase_add_test(tc, a_mutation_on_b_is_one_with_b_s_identity);
        tcase_add_test(tc, a_mutation_on_a_sharing_b_s_device_does_not_cancel);
        tcase_add_test(
            tc, a_mutation_stamped_before_the_last_order_is_no_mutation_nor_b);
        tcase_add_test(tc, a_cancelled_instance_may_start_again);
        tcase_add_test(tc, instances_of_one_customer_fire_in_due_order);
        suite_add_tcase(s, tc);

        tc = tcase_create("lifecycle");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, the_action_continues_the_cart_on_b);
        tcase_add_test(tc, a_restart_in_the_middle_gives_the_same_actions);
        tcase_add_test(tc, two_instances_keep_their_own_state);
        tcase_add_test(tc, defaults_match_the_contract);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(channel_switch_suite());
}
