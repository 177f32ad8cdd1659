/*
 * test_browse_abandonment.c — the browse_abandonment trigger through the
 * test driver: sessions (gap, late views), min_views, ranking, the events
 * that end a session, cooldown, state clean-up, the action's fields,
 * restarts, two instances and defaults (TRIGGERS.md §3, §5).
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
    "  - {name: browse, type: browse_abandonment, session_gap: 30m, "
    "delay: 1h, min_views: 2, max_items: 3, cooldown: 24h}\n";

#define PV(d, id_, ts_, sku_, ...)                                         \
        EV(d, .type = "product_viewed", .id = id_, .ts = ts_, .sku = sku_, \
           __VA_ARGS__)

static void items_are(nd_test_driver_t *d, const nd_test_action_t *a,
                      const char *want) {
        char got[256] = "";
        for (uint32_t i = 0; i < a->act.item_cnt; i++) {
                char one[64];
                snprintf(one, sizeof(one), "%s%s:%lld", i ? "," : "",
                         S(d, a->act.items[i].sku),
                         (long long)a->act.items[i].quantity);
                strcat(got, one);
        }
        ck_assert_str_eq(got, want);
}

/* ---------------------------------------------------------------- */
/* Sessions                                                           */

START_TEST(a_session_fires_delay_after_its_last_view) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        PV(d, "v1", 0, "A");
        PV(d, "v2", 10 * MIN, "B");
        TICK(d, HOUR + 10 * MIN);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        TICK(d, HOUR + 10 * MIN + 1);
        a = next(d);
        ck_assert_int_eq(a->act.trigger, ND_TRIGGER_BROWSE_ABANDONMENT);
        ck_assert_int_eq(a->act.created_at, T0 + HOUR + 10 * MIN);
        ck_assert_int_eq(a->act.stage, 0);
        items_are(d, a, "B:1,A:1");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(fewer_than_min_views_end_the_session_silently) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        PV(d, "v1", 0, "A");
        TICK(d, 2 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        ck_assert_uint_eq(nd_test_driver_entries(d, "browse"), 0);
        PV(d, "v2", 2 * HOUR, "A"); /* a new session: one view */
        TICK(d, 4 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(min_views_counts_repeated_views) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        PV(d, "v1", 0, "A");
        PV(d, "v2", MIN, "A");
        TICK(d, 2 * HOUR);
        items_are(d, next(d), "A:2");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(skus_rank_by_count_then_latest_view_then_processing_order) {
        nd_test_driver_t *d = nd_test_driver_new(
            "time: {max_out_of_orderness: 0}\n"
            "triggers: [{name: browse, type: browse_abandonment, "
            "max_items: 4}]\n",
            T0);
        PV(d, "v1", 0, "E");
        PV(d, "v2", 1 * MIN, "A");
        PV(d, "v3", 2 * MIN, "A");
        PV(d, "v4", 6 * MIN, "C");
        PV(d, "v5", 5 * MIN, "B"); /* late: older than C's */
        PV(d, "v6", 6 * MIN, "D"); /* same time as C, processed later */
        TICK(d, 3 * HOUR);
        items_are(d, next(d), "A:2,D:1,C:1,B:1");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_view_exactly_session_gap_later_joins_the_session) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        PV(d, "v1", 0, "A");
        PV(d, "v2", 30 * MIN, "B");
        TICK(d, 2 * HOUR);
        items_are(d, next(d), "B:1,A:1");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_view_more_than_session_gap_later_starts_a_new_session) {
        nd_test_driver_t *d = nd_test_driver_new(
            "time: {max_out_of_orderness: 0}\n"
            "triggers: [{name: browse, type: browse_abandonment, "
            "delay: 2h}]\n",
            T0);
        const nd_test_action_t *a;
        PV(d, "v1", 0, "A");
        PV(d, "v2", 1, "A");
        PV(d, "v3", 30 * MIN + 2, "B"); /* discards A's session and timer */
        PV(d, "v4", 40 * MIN, "C");
        TICK(d, 5 * HOUR);
        a = next(d);
        ck_assert_int_eq(a->act.created_at, T0 + 2 * HOUR + 40 * MIN);
        items_are(d, a, "C:1,B:1");
        ck_assert_ptr_null(nd_test_driver_read(d));
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_late_view_in_the_session_sets_the_timer_to_its_own_time) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        PV(d, "v1", 0, "A");
        PV(d, "v2", 20 * MIN, "B");
        PV(d, "v3", 10 * MIN, "C"); /* late, inside the session */
        TICK(d, HOUR + 10 * MIN + 1);
        a = next(d);
        ck_assert_int_eq(a->act.created_at, T0 + HOUR + 10 * MIN);
        ck_assert_uint_eq(a->act.item_cnt, 3);
        ck_assert_str_eq(S(d, a->act.source_event_ids[0]), "v3");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_view_before_session_start_minus_gap_is_ignored) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        PV(d, "v1", 60 * MIN, "A");
        PV(d, "v2", 70 * MIN, "B");
        PV(d, "v3", 29 * MIN, "C"); /* < 60m - 30m */
        PV(d, "v4", 30 * MIN, "D"); /* = 60m - 30m: joins */
        TICK(d, 4 * HOUR);
        a = next(d);
        ck_assert_int_eq(a->act.created_at, T0 + 90 * MIN);
        items_are(d, a, "B:1,A:1,D:1");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(a_view_at_the_due_time_moves_the_timer) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        PV(d, "v1", 0, "A");
        TICK(d, 59 * MIN);
        PV(d, "v2", 59 * MIN, "A");        /* joins (gap inclusive), re-arms */
        PV(d, "v3", HOUR + 59 * MIN, "B"); /* 1h after v2 > gap: new */
        TICK(d, 3 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

static const char *const enders[] = {"product_added", "checkout_started",
                                     "order_completed"};

START_TEST(adding_checking_out_or_ordering_ends_the_session) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        PV(d, "v1", 0, "A");
        PV(d, "v2", MIN, "B");
        EV(d, .type = enders[_i], .id = "x", .ts = HOUR + MIN, .sku = "A",
           .order = "o1"); /* at the due time: still in time */
        ck_assert_uint_eq(nd_test_driver_entries(d, "browse"), 0);
        TICK(d, 5 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

/* ---------------------------------------------------------------- */
/* Cooldown                                                           */

START_TEST(the_cooldown_suppresses_firings_without_extending_itself) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        PV(d, "v1", 0, "A");
        PV(d, "v2", MIN, "A");
        TICK(d, 2 * HOUR); /* emits at D = 1h1m */
        ck_assert_int_eq(next(d)->act.created_at, T0 + HOUR + MIN);
        PV(d, "v3", 10 * HOUR, "B");
        PV(d, "v4", 10 * HOUR + 1, "B");
        TICK(d, 12 * HOUR); /* D' = 11h: suppressed */
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        ck_assert_uint_eq(nd_test_driver_entries(d, "browse"), 1);
        PV(d, "v5", 24 * HOUR + MIN, "C");
        PV(d, "v6", 24 * HOUR + MIN, "C");
        TICK(d, 26 * HOUR); /* D'' = 25h1m = D + cooldown: emits */
        a = next(d);
        ck_assert_int_eq(a->act.created_at, T0 + 25 * HOUR + MIN);
        items_are(d, a, "C:2");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(the_last_action_is_remembered_after_the_cooldown) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        PV(d, "v1", 0, "A");
        PV(d, "v2", MIN, "A");
        TICK(d, 2 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 1);
        ck_assert_uint_eq(nd_test_driver_entries(d, "browse"), 1);
        ck_assert_uint_eq(nd_test_driver_timers(d), 0);
        TICK(d, 30 * HOUR);
        /* No timer: state.ttl drops it; a late view can still be cooled. */
        ck_assert_uint_eq(nd_test_driver_entries(d, "browse"), 1);
        ck_assert_uint_eq(nd_test_driver_timers(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

/* Issue 12's reproduction (browse_eager, bound 5 s, absolute times): the
 * late view's firing at 1717459325786 lies inside the 6 h cooldown of the
 * action at 1717446799326, though the watermark had passed the cooldown's
 * end before the late view arrived. */
START_TEST(a_late_session_inside_a_past_cooldown_is_suppressed) {
        nd_test_driver_t *d = nd_test_driver_new(
            "time: {max_out_of_orderness: 5s}\n"
            "triggers: [{name: browse_eager, type: browse_abandonment, "
            "min_views: 1, delay: 20m, max_items: 2, cooldown: 6h}]\n",
            T0);
        const nd_test_action_t *a;
        PV(d, "v1", 1717445599326LL - T0, "S1", .cust = "a0034-br");
        VIEW(d, "p1", 1717469792757LL - T0, .cust = "other");
        a = next(d);
        ck_assert_int_eq(a->act.created_at, 1717446799326LL);
        PV(d, "v2", 1717458125786LL - T0, "S2", .cust = "a0034-br");
        nd_test_driver_end(d, 1717490000000LL);
        ck_assert_ptr_null(nd_test_driver_read(d));
        /* A suppressed firing does not extend the cooldown. */
        PV(d, "v3", 1717446799326LL + 6 * HOUR - 20 * MIN - T0, "S3",
           .cust = "a0034-br");
        nd_test_driver_end(d, 1717490000001LL);
        a = next(d);
        ck_assert_int_eq(a->act.created_at, 1717446799326LL + 6 * HOUR);
        items_are(d, a, "S3:1");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(cooldown_zero_keeps_no_state_after_firing) {
        nd_test_driver_t *d = nd_test_driver_new(
            "time: {max_out_of_orderness: 0}\n"
            "triggers: [{name: browse, type: browse_abandonment, "
            "cooldown: 0}]\n",
            T0);
        PV(d, "v1", 0, "A");
        PV(d, "v2", MIN, "A");
        TICK(d, 2 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 1);
        ck_assert_uint_eq(nd_test_driver_entries(d, "browse"), 0);
        PV(d, "v3", 3 * HOUR, "A");
        PV(d, "v4", 3 * HOUR, "A");
        TICK(d, 5 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 2);
        nd_test_driver_destroy(d);
}
END_TEST


/* state.ttl (TRIGGERS.md §5) in replay as live: an entry without a timer
 * that nothing touched for ttl is dropped when the customer's next event
 * reaches it, and the cooldown goes with it; an event that reaches it in
 * time touches it. */
START_TEST(state_ttl_drops_a_remembered_action_untouched_that_long) {
        static const char *const cfg =
            "time: {max_out_of_orderness: 0}\n"
            "state: {ttl: 2h}\n"
            "triggers: [{name: browse, type: browse_abandonment, "
            "min_views: 1, delay: 1h, cooldown: 24h}]\n";
        nd_test_driver_t *d = nd_test_driver_new(cfg, T0);
        const nd_test_action_t *a;
        PV(d, "v1", 0, "A");
        TICK(d, HOUR + 1);
        ck_assert_int_eq(next(d)->act.created_at, T0 + HOUR);
        TICK(d, 4 * HOUR);          /* untouched since 0: W - 0 > 2h */
        PV(d, "v2", 30 * MIN, "B"); /* late: the cooldown was dropped */
        nd_test_driver_end(d, T0 + 4 * HOUR + 1);
        a = next(d);
        ck_assert_int_eq(a->act.created_at, T0 + 90 * MIN);
        items_are(d, a, "B:1");
        nd_test_driver_destroy(d);

        d = nd_test_driver_new(cfg, T0);
        PV(d, "v1", 0, "A");
        TICK(d, HOUR + 1);
        ck_assert_int_eq(next(d)->act.created_at, T0 + HOUR);
        ADD(d, "x1", 90 * MIN, "A"); /* reaches the entry: touches it */
        TICK(d, 3 * HOUR);           /* W - 90m <= 2h: kept */
        PV(d, "v2", 30 * MIN, "B");  /* inside the cooldown: suppressed */
        nd_test_driver_end(d, T0 + 3 * HOUR + 1);
        ck_assert_ptr_null(nd_test_driver_read(d));
        ck_assert_uint_eq(nd_test_driver_entries(d, "browse"), 1);
        nd_test_driver_destroy(d);
}
END_TEST

/* ---------------------------------------------------------------- */
/* The action, restarts, instances, defaults                          */

START_TEST(the_action_aims_at_the_last_view) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        char id[33];
        nd_str_t parts[3] = {{"browse", 6}, {"c1", 2}, {"v2", 2}};
        PV(d, "v1", 0, "A", .channel = "web", .device = "d1", .price = 990,
           .cat = "hats");
        PV(d, "v2", MIN, "B", .channel = "app", .device = "d2");
        TICK(d, 2 * HOUR);
        a = next(d);
        nd_action_id(parts, 3, id);
        ck_assert_str_eq(S(d, a->act.action_id), id);
        ck_assert_str_eq(S(d, a->act.customer_id), "c1");
        ck_assert_int_eq(a->act.channel, ND_CHANNEL_APP);
        ck_assert_str_eq(S(d, a->act.device_id), "d2");
        ck_assert_str_eq(S(d, a->act.items[1].sku), "A");
        ck_assert_str_eq(S(d, a->act.items[1].category), "hats");
        ck_assert(a->act.items[1].has_price);
        ck_assert_int_eq(a->act.items[1].price_cents, 990);
        ck_assert(!a->act.items[0].has_price);
        ck_assert(!a->act.has_value);
        ck_assert(a->act.has_expires_at);
        ck_assert_int_eq(a->act.expires_at, T0 + HOUR + MIN + 12 * HOUR);
        ck_assert_str_eq(S(d, a->act.source_event_ids[0]), "v2");
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(an_anonymous_key_goes_into_anonymous_id) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_basic, T0);
        const nd_test_action_t *a;
        PV(d, "v1", 0, "A", .anon = "cookie-1");
        PV(d, "v2", 1, "A", .anon = "cookie-1");
        TICK(d, 2 * HOUR);
        a = next(d);
        ck_assert_str_eq(S(d, a->act.anonymous_id), "cookie-1");
        ck_assert_ptr_null(a->act.customer_id.p);
        nd_test_driver_destroy(d);
}
END_TEST

static void scenario_step(nd_test_driver_t *d, int step) {
        switch (step) {
        case 0:
                PV(d, "v1", 0, "A", .price = 10);
                PV(d, "w1", 0, "Z", .cust = "c2");
                break;
        case 1:
                PV(d, "v2", 5 * MIN, "B", .cat = "x");
                PV(d, "w2", 5 * MIN, "Z", .cust = "c2");
                break;
        case 2:
                PV(d, "v3", 6 * MIN, "B");
                break;
        case 3:
                TICK(d, 3 * HOUR);
                break;
        case 4:
                PV(d, "v4", 4 * HOUR, "A");
                PV(d, "v5", 4 * HOUR, "A");
                break;
        default:
                TICK(d, 40 * HOUR);
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
        for (int at = 1; at < 6; at++) {
                char *restarted = run_scenario(at);
                ck_assert_str_eq(restarted, straight);
                free(restarted);
        }
        free(straight);
}
END_TEST

START_TEST(two_instances_keep_their_own_sessions_and_cooldowns) {
        nd_test_driver_t *d = nd_test_driver_new(
            "time: {max_out_of_orderness: 0}\n"
            "triggers:\n"
            "  - {name: b_quick, type: browse_abandonment, delay: 10m, "
            "min_views: 1}\n"
            "  - {name: b_slow, type: browse_abandonment}\n",
            T0);
        const nd_test_action_t *a;
        PV(d, "v1", 0, "A");
        TICK(d, 11 * MIN);
        a = next(d);
        ck_assert_str_eq(S(d, a->act.trigger_name), "b_quick");
        PV(d, "v2", 12 * MIN, "A"); /* b_slow: same session, 2 views */
        TICK(d, 2 * HOUR);
        a = next(d);
        ck_assert_str_eq(S(d, a->act.trigger_name), "b_slow");
        items_are(d, a, "A:2");
        ck_assert_ptr_null(nd_test_driver_read(d)); /* b_quick cooling */
        nd_test_driver_destroy(d);
}
END_TEST

START_TEST(defaults_match_the_contract) {
        nd_test_driver_t *d = nd_test_driver_new(
            "triggers: [{name: browse, type: browse_abandonment}]\n", T0);
        const nd_test_action_t *a;
        PV(d, "v1", 0, "A");
        PV(d, "v2", 30 * MIN, "B"); /* gap 30m, inclusive */
        PV(d, "v3", 30 * MIN, "C");
        PV(d, "v4", 31 * MIN, "D");
        TICK(d, 91 * MIN + 5 * SEC); /* W = D: not yet */
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        TICK(d, 91 * MIN + 6 * SEC); /* delay 1h, out-of-orderness 5s */
        a = next(d);
        ck_assert_int_eq(a->act.created_at, T0 + 91 * MIN);
        ck_assert_uint_eq(a->act.item_cnt, 3); /* max_items 3 */
        PV(d, "v5", 2 * HOUR, "A");
        PV(d, "v6", 2 * HOUR, "A");
        TICK(d, 24 * HOUR + 91 * MIN - 1); /* cooldown 24h: suppressed */
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        PV(d, "v7", 25 * HOUR, "E"); /* min_views 2: one view, nothing */
        TICK(d, 28 * HOUR);
        ck_assert_int_eq(nd_test_driver_output_count(d), 0);
        nd_test_driver_destroy(d);
}
END_TEST

static Suite *browse_abandonment_suite(void) {
        Suite *s = suite_create("browse_abandonment");
        TCase *tc = tcase_create("sessions");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, a_session_fires_delay_after_its_last_view);
        tcase_add_test(tc, fewer_than_min_views_end_the_session_silently);
        tcase_add_test(tc, min_views_counts_repeated_views);
        tcase_add_test(
            tc, skus_rank_by_count_then_latest_view_then_processing_order);
        tcase_add_test(tc, a_view_exactly_session_gap_later_joins_the_session);
        tcase_add_test(tc,
                       a_view_more_than_session_gap_later_starts_a_new_session);
        tcase_add_test(
            tc, a_late_view_in_the_session_sets_the_timer_to_its_own_time);
        tcase_add_test(tc, a_view_before_session_start_minus_gap_is_ignored);
        tcase_add_test(tc, a_view_at_the_due_time_moves_the_timer);
        tcase_add_loop_test(
            tc, adding_checking_out_or_ordering_ends_the_session, 0, 3);
        suite_add_tcase(s, tc);

        tc = tcase_create("cooldown");
        tcase_set_timeout(tc, 30);
        tcase_add_test(
            tc, the_cooldown_suppresses_firings_without_extending_itself);
        tcase_add_test(tc, the_last_action_is_remembered_after_the_cooldown);
        tcase_add_test(tc, a_late_session_inside_a_past_cooldown_is_suppressed);
        tcase_add_test(tc, cooldown_zero_keeps_no_state_after_firing);
        tcase_add_test(tc,
                       state_ttl_drops_a_remembered_action_untouched_that_long);
        suite_add_tcase(s, tc);

        tc = tcase_create("lifecycle");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, the_action_aims_at_the_last_view);
        tcase_add_test(tc, an_anonymous_key_goes_into_anonymous_id);
        tcase_add_test(tc, a_restart_in_the_middle_gives_the_same_actions);
        tcase_add_test(tc, two_instances_keep_their_own_sessions_and_cooldowns);
        tcase_add_test(tc, defaults_match_the_contract);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(browse_abandonment_suite());
}
