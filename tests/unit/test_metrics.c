/* test_metrics.c — the registry and its Prometheus text rendering. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "mem.h"
#include "metrics.h"
#include "nd_test.h"

static nd_metrics_t *reg;

static void setup(void) {
        reg = nd_metrics_new();
}

static void teardown(void) {
        nd_metrics_destroy(reg);
        reg = NULL;
}

/* Renders reg into a static buffer (one test at a time: CK_FORK). */
static const char *render(void) {
        static char out[16384];
        char *text;
        size_t len;
        ck_assert_int_eq(nd_metrics_render(reg, &text, &len), ND_OK);
        ck_assert_uint_eq(strlen(text), len);
        ck_assert_uint_lt(len, sizeof(out));
        memcpy(out, text, len + 1);
        nd_free(text);
        return out;
}

START_TEST(small_registry_renders_exactly) {
        static const double b[] = {0.01, 0.1, 1};
        nd_counter_t *cart =
            nd_metrics_counter(reg, "nudge_events_in_total", "Events consumed.",
                               2, (const char *[]){"topic", "type"},
                               (const char *[]){"cart", "product_added"});
        nd_counter_t *click =
            nd_metrics_counter(reg, "nudge_events_in_total", "Events consumed.",
                               2, (const char *[]){"topic", "type"},
                               (const char *[]){"clickstream", "page_view"});
        nd_gauge_t *ready = nd_metrics_gauge(reg, "nudge_ready",
                                             "1 when ready.", 0, NULL, NULL);
        nd_histogram_t *h =
            nd_metrics_histogram(reg, "nudge_transaction_commit_seconds",
                                 "Commit latency.", 0, NULL, NULL, b, 3);

        nd_counter_add(cart, 3);
        nd_counter_add(click, 1);
        nd_counter_add(click, 1);
        nd_gauge_set(ready, 1);
        nd_histogram_observe(h, 0.005);
        nd_histogram_observe(h, 0.1); /* on a bound: counted in that bucket */
        nd_histogram_observe(h, 0.5);
        nd_histogram_observe(h, 3);

        ck_assert_str_eq(
            render(),
            "# HELP nudge_events_in_total Events consumed.\n"
            "# TYPE nudge_events_in_total counter\n"
            "nudge_events_in_total{topic=\"cart\",type=\"product_added\"} 3\n"
            "nudge_events_in_total{topic=\"clickstream\",type=\"page_view\"} "
            "2\n"
            "# HELP nudge_ready 1 when ready.\n"
            "# TYPE nudge_ready gauge\n"
            "nudge_ready 1\n"
            "# HELP nudge_transaction_commit_seconds Commit latency.\n"
            "# TYPE nudge_transaction_commit_seconds histogram\n"
            "nudge_transaction_commit_seconds_bucket{le=\"0.01\"} 1\n"
            "nudge_transaction_commit_seconds_bucket{le=\"0.1\"} 2\n"
            "nudge_transaction_commit_seconds_bucket{le=\"1\"} 3\n"
            "nudge_transaction_commit_seconds_bucket{le=\"+Inf\"} 4\n"
            "nudge_transaction_commit_seconds_sum 3.605\n"
            "nudge_transaction_commit_seconds_count 4\n");
}
END_TEST

START_TEST(families_sort_by_name_whatever_the_registration_order) {
        nd_gauge_set(nd_metrics_gauge(reg, "zeta", "z", 0, NULL, NULL), 1);
        nd_gauge_set(nd_metrics_gauge(reg, "alpha", "a", 0, NULL, NULL), 2);
        nd_gauge_set(nd_metrics_gauge(reg, "mid", "m", 0, NULL, NULL), 3);
        ck_assert_str_eq(render(), "# HELP alpha a\n# TYPE alpha gauge\n"
                                   "alpha 2\n"
                                   "# HELP mid m\n# TYPE mid gauge\n"
                                   "mid 3\n"
                                   "# HELP zeta z\n# TYPE zeta gauge\n"
                                   "zeta 1\n");
}
END_TEST

START_TEST(digit_label_values_sort_as_numbers) {
        const char *names[] = {"topic", "partition"};
        const char *parts[] = {"10", "2", "1", "02x"};
        for (int i = 0; i < 4; i++)
                nd_gauge_set(nd_metrics_gauge(reg, "lag", "", 2, names,
                                              (const char *[]){"t", parts[i]}),
                             i);
        ck_assert_str_eq(render(), "# HELP lag \n# TYPE lag gauge\n"
                                   "lag{topic=\"t\",partition=\"02x\"} 3\n"
                                   "lag{topic=\"t\",partition=\"1\"} 2\n"
                                   "lag{topic=\"t\",partition=\"2\"} 1\n"
                                   "lag{topic=\"t\",partition=\"10\"} 0\n");
}
END_TEST

START_TEST(label_values_and_help_are_escaped) {
        nd_counter_add(nd_metrics_counter(reg, "x_total",
                                          "a \\ and a\nnewline \"kept\"", 1,
                                          (const char *[]){"reason"},
                                          (const char *[]){"say \"hi\"\\\n"}),
                       1);
        ck_assert_str_eq(render(),
                         "# HELP x_total a \\\\ and a\\nnewline \"kept\"\n"
                         "# TYPE x_total counter\n"
                         "x_total{reason=\"say \\\"hi\\\"\\\\\\n\"} 1\n");
}
END_TEST

START_TEST(gauge_values_print_as_the_shortest_exact_text) {
        static const struct {
                double v;
                const char *text;
        } cases[] = {
            {0.1, "0.1"},
            {-2.5, "-2.5"},
            {1e-9, "1e-09"},
            {123456789, "123456789"},
            {1e20, "1e+20"},
            {NAN, "NaN"},
            {INFINITY, "+Inf"},
            {-INFINITY, "-Inf"},
            {1.0 / 3, "0.33333333333333331"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char want[128];
                nd_metrics_destroy(reg);
                reg = nd_metrics_new();
                nd_gauge_set(nd_metrics_gauge(reg, "g", "", 0, NULL, NULL),
                             cases[i].v);
                snprintf(want, sizeof(want),
                         "# HELP g \n# TYPE g gauge\ng %s\n", cases[i].text);
                ck_assert_str_eq(render(), want);
        }
}
END_TEST

START_TEST(same_labels_return_the_same_series) {
        const char *n[] = {"reason"}, *v[] = {"bad_magic"};
        nd_counter_t *a = nd_metrics_counter(reg, "dl_total", "", 1, n, v);
        nd_counter_t *b = nd_metrics_counter(reg, "dl_total", "", 1, n, v);
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_eq(a, b);
        nd_counter_add(a, 2);
        nd_counter_add(b, 3);
        ck_assert_uint_eq(nd_counter_value(a), 5);
}
END_TEST

START_TEST(a_family_keeps_its_type_and_label_names) {
        const char *n[] = {"reason"}, *v[] = {"x"};
        ck_assert_ptr_nonnull(nd_metrics_counter(reg, "m", "", 1, n, v));
        ck_assert_ptr_null(nd_metrics_gauge(reg, "m", "", 1, n, v));
        ck_assert_ptr_null(
            nd_metrics_counter(reg, "m", "", 1, (const char *[]){"other"}, v));
        ck_assert_ptr_null(nd_metrics_counter(reg, "m", "", 0, NULL, NULL));
}
END_TEST

START_TEST(invalid_names_are_refused) {
        const char *v[] = {"x"};
        ck_assert_ptr_null(nd_metrics_counter(reg, "1abc", "", 0, NULL, NULL));
        ck_assert_ptr_null(nd_metrics_counter(reg, "a-b", "", 0, NULL, NULL));
        ck_assert_ptr_null(nd_metrics_counter(reg, "", "", 0, NULL, NULL));
        ck_assert_ptr_null(
            nd_metrics_counter(reg, "ok", "", 1, (const char *[]){"a:b"}, v));
        ck_assert_ptr_null(
            nd_metrics_counter(reg, "ok", "", 1, (const char *[]){"__x"}, v));
        ck_assert_ptr_null(nd_metrics_counter(reg, "ok", "", 2,
                                              (const char *[]){"a", "a"},
                                              (const char *[]){"1", "2"}));
        ck_assert_ptr_null(
            nd_metrics_counter(reg, "ok", "", 1, (const char *[]){"a"}, NULL));
        ck_assert_ptr_null(nd_metrics_histogram(
            reg, "h", "", 1, (const char *[]){"le"}, v,
            nd_metrics_latency_buckets, nd_metrics_latency_bucket_cnt));
        ck_assert_ptr_null(nd_metrics_histogram(reg, "h", "", 0, NULL, NULL,
                                                (const double[]){1, 1}, 2));
        ck_assert_ptr_nonnull(
            nd_metrics_counter(reg, "ns:ok_total", "", 0, NULL, NULL));
        ck_assert_str_eq(render(), "# HELP ns:ok_total \n"
                                   "# TYPE ns:ok_total counter\n"
                                   "ns:ok_total 0\n");
}
END_TEST

START_TEST(null_registry_and_handles_are_no_ops) {
        nd_counter_t *c =
            nd_metrics_counter(NULL, "c_total", "", 0, NULL, NULL);
        char *out = (char *)"x";
        ck_assert_ptr_null(c);
        nd_counter_add(NULL, 1);
        nd_gauge_set(NULL, 1);
        nd_gauge_add(NULL, 1);
        nd_histogram_observe(NULL, 1);
        ck_assert_uint_eq(nd_counter_value(NULL), 0);
        ck_assert_int_eq(nd_metrics_render(NULL, &out, NULL), ND_ERR_INVAL);
        ck_assert_ptr_null(out);
        nd_metrics_destroy(NULL);
}
END_TEST

static double read_double(void *arg) {
        return *(double *)arg;
}

struct lag {
        int parts[4];
        int cnt;
};

static void collect_lag(void *arg, nd_metrics_sink_t *sink) {
        struct lag *l = arg;
        for (int i = 0; i < l->cnt; i++) {
                char p[16];
                snprintf(p, sizeof(p), "%d", l->parts[i]);
                nd_metrics_sink_emit(sink, (const char *[]){"cart", p},
                                     l->parts[i] * 10);
        }
}

START_TEST(callbacks_are_read_at_render_time) {
        double entries = 42;
        ck_assert_int_eq(nd_metrics_gauge_fn(
                             reg, ND_METRIC_GAUGE, "nudge_state_entries",
                             "Entries.", 1, (const char *[]){"store"},
                             (const char *[]){"carts"}, read_double, &entries),
                         ND_OK);
        ck_assert_str_eq(render(), "# HELP nudge_state_entries Entries.\n"
                                   "# TYPE nudge_state_entries gauge\n"
                                   "nudge_state_entries{store=\"carts\"} 42\n");
        entries = 7;
        ck_assert_ptr_nonnull(strstr(render(), "{store=\"carts\"} 7\n"));
        ck_assert_int_eq(nd_metrics_gauge_fn(
                             reg, ND_METRIC_GAUGE, "nudge_state_entries", "", 1,
                             (const char *[]){"store"},
                             (const char *[]){"carts"}, read_double, &entries),
                         ND_ERR_INVAL);
}
END_TEST

START_TEST(collectors_emit_sorted_series_merged_across_workers) {
        struct lag w1 = {{11, 2}, 2}, w2 = {{0, 5}, 2};
        const char *names[] = {"topic", "partition"};
        ck_assert_int_eq(nd_metrics_collector(reg, ND_METRIC_GAUGE,
                                              "nudge_consumer_lag", "Lag.", 2,
                                              names, collect_lag, &w1),
                         ND_OK);
        ck_assert_int_eq(nd_metrics_collector(reg, ND_METRIC_GAUGE,
                                              "nudge_consumer_lag", "Lag.", 2,
                                              names, collect_lag, &w2),
                         ND_OK);
        ck_assert_str_eq(
            render(),
            "# HELP nudge_consumer_lag Lag.\n"
            "# TYPE nudge_consumer_lag gauge\n"
            "nudge_consumer_lag{topic=\"cart\",partition=\"0\"} 0\n"
            "nudge_consumer_lag{topic=\"cart\",partition=\"2\"} 20\n"
            "nudge_consumer_lag{topic=\"cart\",partition=\"5\"} 50\n"
            "nudge_consumer_lag{topic=\"cart\",partition=\"11\"} 110\n");
        w1.cnt = 0; /* a rebalance took worker 1's partitions */
        ck_assert_ptr_null(strstr(render(), "partition=\"11\""));
}
END_TEST

START_TEST(removed_callbacks_never_run_again) {
        struct lag w = {{1}, 1};
        double v = 3;
        ck_assert_int_eq(
            nd_metrics_collector(reg, ND_METRIC_GAUGE, "lag", "", 2,
                                 (const char *[]){"topic", "partition"},
                                 collect_lag, &w),
            ND_OK);
        ck_assert_int_eq(nd_metrics_gauge_fn(reg, ND_METRIC_COUNTER,
                                             "restored_total", "", 0, NULL,
                                             NULL, read_double, &w),
                         ND_OK);
        ck_assert_int_eq(nd_metrics_gauge_fn(reg, ND_METRIC_GAUGE, "other", "",
                                             0, NULL, NULL, read_double, &v),
                         ND_OK);
        ck_assert_int_eq(nd_metrics_remove_callbacks(reg, &w), 2);
        ck_assert_int_eq(nd_metrics_remove_callbacks(reg, &w), 0);
        ck_assert_str_eq(render(), "# HELP lag \n# TYPE lag gauge\n"
                                   "# HELP other \n# TYPE other gauge\n"
                                   "other 3\n"
                                   "# HELP restored_total \n"
                                   "# TYPE restored_total counter\n");
}
END_TEST

START_TEST(histogram_series_share_the_family_bounds) {
        static const double b[] = {1, 2};
        const char *n[] = {"store"};
        nd_histogram_t *a = nd_metrics_histogram(reg, "h", "", 1, n,
                                                 (const char *[]){"a"}, b, 2);
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_null(nd_metrics_histogram(reg, "h", "", 1, n,
                                                (const char *[]){"b"},
                                                (const double[]){1, 3}, 2));
        nd_histogram_observe(a, 1.5);
        nd_histogram_observe(a, NAN); /* ignored */
        ck_assert_uint_eq(nd_histogram_count(a), 1);
        ck_assert(nd_histogram_sum(a) == 1.5);
        ck_assert_str_eq(render(), "# HELP h \n# TYPE h histogram\n"
                                   "h_bucket{store=\"a\",le=\"1\"} 0\n"
                                   "h_bucket{store=\"a\",le=\"2\"} 1\n"
                                   "h_bucket{store=\"a\",le=\"+Inf\"} 1\n"
                                   "h_sum{store=\"a\"} 1.5\n"
                                   "h_count{store=\"a\"} 1\n");
}
END_TEST

#define THREADS 4
#define ROUNDS  200000

struct hot {
        nd_counter_t *c;
        nd_gauge_t *g;
        nd_histogram_t *h;
};

static void *hammer(void *arg) {
        struct hot *hot = arg;
        for (int i = 0; i < ROUNDS; i++) {
                nd_counter_add(hot->c, 1);
                nd_gauge_add(hot->g, 0.5);
                nd_histogram_observe(hot->h, (i % 4) * 0.25);
        }
        return NULL;
}

START_TEST(concurrent_updates_from_threads_sum_exactly) {
        struct hot hot = {
            nd_metrics_counter(reg, "c_total", "", 0, NULL, NULL),
            nd_metrics_gauge(reg, "g", "", 0, NULL, NULL),
            nd_metrics_histogram(reg, "h", "", 0, NULL, NULL,
                                 (const double[]){0.3, 0.6}, 2),
        };
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++)
                ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, &hot), 0);
        /* Scrapes while they run must not disturb them. */
        for (int i = 0; i < 20; i++)
                ck_assert_ptr_nonnull(strstr(render(), "c_total "));
        for (int i = 0; i < THREADS; i++)
                pthread_join(t[i], NULL);
        ck_assert_uint_eq(nd_counter_value(hot.c), (uint64_t)THREADS * ROUNDS);
        /* Sums of halves and quarters are exact in binary. */
        ck_assert(nd_gauge_value(hot.g) == THREADS * ROUNDS * 0.5);
        ck_assert_uint_eq(nd_histogram_count(hot.h),
                          (uint64_t)THREADS * ROUNDS);
        ck_assert(nd_histogram_sum(hot.h) == THREADS * (ROUNDS / 4) * 1.5);
        ck_assert_ptr_nonnull(strstr(render(), "h_bucket{le=\"0.3\"} 400000\n"
                                               "h_bucket{le=\"0.6\"} 600000\n"
                                               "h_bucket{le=\"+Inf\"} 800000\n"
                                               "h_sum 300000\n"
                                               "h_count 800000\n"));
}
END_TEST

static Suite *metrics_suite(void) {
        Suite *s = suite_create("metrics");
        TCase *tc = tcase_create("render");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, small_registry_renders_exactly);
        tcase_add_test(tc,
                       families_sort_by_name_whatever_the_registration_order);
        tcase_add_test(tc, digit_label_values_sort_as_numbers);
        tcase_add_test(tc, label_values_and_help_are_escaped);
        tcase_add_test(tc, gauge_values_print_as_the_shortest_exact_text);
        suite_add_tcase(s, tc);
        tc = tcase_create("registration");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, same_labels_return_the_same_series);
        tcase_add_test(tc, a_family_keeps_its_type_and_label_names);
        tcase_add_test(tc, invalid_names_are_refused);
        tcase_add_test(tc, null_registry_and_handles_are_no_ops);
        tcase_add_test(tc, histogram_series_share_the_family_bounds);
        suite_add_tcase(s, tc);
        tc = tcase_create("callbacks");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, callbacks_are_read_at_render_time);
        tcase_add_test(tc, collectors_emit_sorted_series_merged_across_workers);
        tcase_add_test(tc, removed_callbacks_never_run_again);
        suite_add_tcase(s, tc);
        tc = tcase_create("concurrency");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, concurrent_updates_from_threads_sum_exactly);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(metrics_suite());
}
