/*
 * test_metrics.c — the HTTP endpoint during a run against a real broker:
 * /metrics counts what was produced (events by topic and type, actions,
 * dead letters by reason, state entries, commits, lag back to zero), and
 * /readyz is 503 while the state is being restored and 200 after.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "nd_http_test.h"
#include "nd_kafka_test.h"
#include "nd_proc_test.h"
#include "nd_test.h"

#define WAIT_MS 90000

struct env {
        char click[96], cart[96], purchase[96], actions[96], dlq[96], app[96];
        char yaml_path[256];
};

static void setup(struct env *e) {
        char errstr[512], yaml[4096];
        nd_kt_unique_name(e->click, sizeof(e->click), "click");
        nd_kt_unique_name(e->cart, sizeof(e->cart), "cart");
        nd_kt_unique_name(e->purchase, sizeof(e->purchase), "purchase");
        nd_kt_unique_name(e->actions, sizeof(e->actions), "actions");
        nd_kt_unique_name(e->dlq, sizeof(e->dlq), "dlq");
        nd_kt_unique_name(e->app, sizeof(e->app), "app");
        ck_assert_int_eq(nd_kt_create_topic(e->click, 2, NULL, WAIT_MS, errstr,
                                            sizeof(errstr)),
                         ND_OK);
        ck_assert_int_eq(nd_kt_create_topic(e->cart, 2, NULL, WAIT_MS, errstr,
                                            sizeof(errstr)),
                         ND_OK);
        ck_assert_int_eq(nd_kt_create_topic(e->purchase, 2, NULL, WAIT_MS,
                                            errstr, sizeof(errstr)),
                         ND_OK);
        snprintf(yaml, sizeof(yaml),
                 "application.id: %s\n"
                 "kafka:\n  bootstrap.servers: %s\n"
                 "  group.instance.id: metrics-a\n  session.timeout.ms: 6000\n"
                 "topics:\n  clickstream: %s\n  cart: %s\n  purchase: %s\n"
                 "  catalog: %s-catalog\n  actions: %s\n  dead_letter: %s\n"
                 "input.format: json\nhttp.listen: \"127.0.0.1:0\"\n"
                 "triggers:\n  - {name: mirror, type: passthrough, "
                 "quiet_after: 1h}\n",
                 e->app, nd_kt_bootstrap(), e->click, e->cart, e->purchase,
                 e->app, e->actions, e->dlq);
        snprintf(e->yaml_path, sizeof(e->yaml_path), "%s",
                 nd_proc_write_file("nudge-metrics", yaml));
}

static void produce(const char *topic, const char *type, int n, int base,
                    int bad) {
        nd_kt_msg_t *m = calloc((size_t)(n + bad), sizeof(*m));
        char(*v)[512] = calloc((size_t)(n + bad), 512);
        char(*k)[32] = calloc((size_t)(n + bad), 32);
        char errstr[512];
        int64_t now = nd_clock_wall_ms();
        for (int i = 0; i < n; i++) {
                snprintf(k[i], 32, "m%d", (base + i) % 40);
                snprintf(v[i], 512,
                         "{\"event_id\":\"%s-%d\",\"type\":\"%s\","
                         "\"customer_id\":\"%s\",\"anonymous_id\":null,"
                         "\"timestamp\":%lld,\"channel\":\"web\","
                         "\"device_id\":null,\"device_type\":\"desktop\","
                         "\"session_id\":null%s}",
                         type, base + i, type, k[i], (long long)now,
                         strcmp(type, "product_added")
                             ? ""
                             : ",\"product\":{\"sku\":\"S1\",\"category\":"
                               "\"c\",\"price_cents\":100,\"currency\":"
                               "\"EUR\"},\"cart_id\":\"k1\",\"quantity\":1");
                m[i] = nd_kt_msg(k[i], v[i]);
        }
        for (int i = n; i < n + bad; i++)
                m[i] = nd_kt_msg("junk", "{not json");
        ck_assert_int_eq(nd_kt_produce(topic, RD_KAFKA_PARTITION_UA, m,
                                       (size_t)(n + bad), WAIT_MS, errstr,
                                       sizeof(errstr)),
                         ND_OK);
        free(m);
        free(v);
        free(k);
}

struct want {
        int port;
        const char *series;
        double value;
};

static bool has_value(void *arg) {
        struct want *w = arg;
        static nd_http_body_t b;
        return nd_http_get(w->port, "/metrics", &b) == 200 &&
               nd_http_metric(&b, w->series) == w->value;
}

static void expect_metric(int port, const char *series, double value) {
        struct want w = {port, series, value};
        static nd_http_body_t b;
        if (!nd_test_wait(has_value, &w, WAIT_MS, 100)) {
                nd_http_get(port, "/metrics", &b);
                ck_abort_msg("%s is %g, wanted %g", series,
                             nd_http_metric(&b, series), value);
        }
}

struct ready {
        int port;
        long code;
};

static bool is_code(void *arg) {
        struct ready *r = arg;
        static nd_http_body_t b;
        return nd_http_get(r->port, "/readyz", &b) == r->code;
}

START_TEST(metrics_count_what_was_produced_and_readiness_follows_restore) {
        struct env e;
        nd_proc_t p;
        nd_http_body_t b;
        struct ready r;
        char series[512], hold[64] = "/tmp/nudge-hold-XXXXXX";
        const char *argv[] = {"run", "-c", NULL, NULL};
        const char *env[2] = {NULL, NULL};
        char envbuf[128];
        int port, fd;

        setup(&e);
        argv[2] = e.yaml_path;
        nd_proc_start(&p, argv, NULL);
        ck_assert(nd_proc_wait_log(&p, "HTTP on .*port [0-9]+", WAIT_MS));
        port = nd_http_port_of(&p);
        ck_assert_int_gt(port, 0);
        ck_assert_int_eq(nd_http_get(port, "/healthz", &b), 200);
        r.port = port;
        r.code = 200;
        ck_assert(nd_test_wait(is_code, &r, WAIT_MS, 100));

        produce(e.click, "page_viewed", 100, 0, 0);
        produce(e.cart, "product_added", 50, 100, 5);
        snprintf(series, sizeof(series),
                 "nudge_events_in_total{topic=\"%s\",type=\"page_viewed\"}",
                 e.click);
        expect_metric(port, series, 100);
        snprintf(series, sizeof(series),
                 "nudge_events_in_total{topic=\"%s\",type=\"product_added\"}",
                 e.cart);
        expect_metric(port, series, 50);
        expect_metric(port, "nudge_dead_letter_total{reason=\"bad_json\"}", 5);
        expect_metric(port,
                      "nudge_actions_out_total{trigger=\"passthrough\","
                      "trigger_name=\"mirror\"}",
                      150);
        expect_metric(port, "nudge_state_entries{store=\"mirror\"}", 40);
        expect_metric(port, "nudge_timers_pending{trigger_name=\"mirror\"}",
                      40);
        for (int part = 0; part < 2; part++) {
                snprintf(series, sizeof(series),
                         "nudge_consumer_lag{topic=\"%s\",partition=\"%d\"}",
                         e.cart, part);
                expect_metric(port, series, 0);
        }
        ck_assert_int_eq(nd_http_get(port, "/metrics", &b), 200);
        ck_assert(nd_http_metric(
                      &b, "nudge_transactions_total{result=\"committed\"}") >
                  0);
        ck_assert(nd_http_metric(&b, "nudge_transaction_commit_seconds_count") >
                  0);
        ck_assert(nd_http_metric(&b, "nudge_ready") == 1);
        ck_assert_int_eq(nd_proc_stop(&p, SIGTERM, 30000), 0);

        /* Again, with the restore held: not ready until it is done. */
        fd = mkstemp(hold);
        ck_assert_int_ge(fd, 0);
        close(fd);
        snprintf(envbuf, sizeof(envbuf), "NUDGE_FAILPOINT_RESTORE_HOLD=%s",
                 hold);
        env[0] = envbuf;
        nd_proc_start(&p, argv, env);
        ck_assert(nd_proc_wait_log(&p, "failpoint NUDGE_FAILPOINT_RESTORE_HOLD",
                                   WAIT_MS));
        port = nd_http_port_of(&p);
        ck_assert_int_eq(nd_http_get(port, "/readyz", &b), 503);
        ck_assert_int_eq(nd_http_get(port, "/healthz", &b), 200);
        ck_assert_int_eq(nd_http_get(port, "/metrics", &b), 200);
        ck_assert(nd_http_metric(&b, "nudge_ready") == 0);
        ck_assert(nd_http_metric(&b, "nudge_restore_remaining") > 0);
        unlink(hold);
        r.port = port;
        r.code = 200;
        ck_assert(nd_test_wait(is_code, &r, WAIT_MS, 100));
        expect_metric(port, "nudge_state_entries{store=\"mirror\"}", 40);
        expect_metric(port, "nudge_restore_remaining", 0);
        ck_assert_int_eq(nd_proc_stop(&p, SIGTERM, 30000), 0);
}
END_TEST

static Suite *metrics_suite(void) {
        Suite *s = suite_create("metrics");
        TCase *tc = tcase_create("http");
        tcase_set_timeout(tc, 300);
        tcase_add_test(
            tc, metrics_count_what_was_produced_and_readiness_follows_restore);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(metrics_suite());
}
