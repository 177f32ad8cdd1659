/*
 * test_passthrough.c — the reference processor through nd_test_driver:
 * with quiet_after it keeps per-customer state, arms a timer, forgets a
 * customer when the timer fires, and its state survives a restart.
 */
#include "nd_test.h"
#include "nd_test_driver.h"

#define T0 1700000000000LL

static const char *const cfg =
    "time:\n  max_out_of_orderness: 0\n"
    "triggers:\n  - {name: mirror, type: passthrough, quiet_after: 10m}\n";

static void view(nd_test_driver_t *drv, const char *cust, long long ts) {
        nd_test_driver_pipef(drv,
                             "{\"event_id\":\"e%lld\",\"type\":\"app_opened\","
                             "\"customer_id\":\"%s\",\"anonymous_id\":null,"
                             "\"timestamp\":%lld,\"channel\":\"app\","
                             "\"device_id\":\"d1\",\"device_type\":\"mobile\","
                             "\"session_id\":null}",
                             ts, cust, ts);
}

START_TEST(quiet_customers_are_forgotten_when_their_timer_fires) {
        nd_test_driver_t *drv = nd_test_driver_new(cfg, T0);
        view(drv, "a", T0);
        view(drv, "b", T0 + 1000);
        ck_assert_uint_eq(nd_test_driver_entries(drv, "mirror"), 2);
        ck_assert_uint_eq(nd_test_driver_timers(drv), 2);
        view(drv, "b", T0 + 600001); /* a's timer (T0 + 10m) is due */
        ck_assert_uint_eq(nd_test_driver_entries(drv, "mirror"), 1);
        ck_assert_uint_eq(nd_test_driver_timers(drv), 1);
        nd_test_driver_destroy(drv);
}
END_TEST

START_TEST(state_and_timers_survive_a_restart) {
        nd_test_driver_t *drv = nd_test_driver_new(cfg, T0);
        view(drv, "a", T0);
        nd_test_driver_restart(drv);
        ck_assert_uint_eq(nd_test_driver_entries(drv, "mirror"), 1);
        ck_assert_uint_eq(nd_test_driver_timers(drv), 1);
        ck_assert_int_eq(nd_test_driver_end(drv, T0 + 600001), 1);
        ck_assert_uint_eq(nd_test_driver_entries(drv, "mirror"), 0);
        nd_test_driver_destroy(drv);
}
END_TEST

START_TEST(without_quiet_after_no_state_is_kept) {
        nd_test_driver_t *drv = nd_test_driver_new(
            "triggers:\n  - {name: mirror, type: passthrough}\n", T0);
        view(drv, "a", T0);
        ck_assert_uint_eq(nd_test_driver_entries(drv, "mirror"), 0);
        ck_assert_int_eq(nd_test_driver_output_count(drv), 0);
        nd_test_driver_destroy(drv);
}
END_TEST

static Suite *passthrough_suite(void) {
        Suite *s = suite_create("passthrough");
        TCase *tc = tcase_create("state");
        tcase_add_test(tc,
                       quiet_customers_are_forgotten_when_their_timer_fires);
        tcase_add_test(tc, state_and_timers_survive_a_restart);
        tcase_add_test(tc, without_quiet_after_no_state_is_kept);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(passthrough_suite());
}
