/* test_http.c — /metrics, /healthz and /readyz over real HTTP (libcurl). */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "mem.h"
#include "metrics.h"
#include "nd_test.h"

/* What the runtime would report: flipped by the tests. */
struct probe {
        atomic_int ready; /* restored tasks */
        int tasks;        /* assigned tasks */
        atomic_bool healthy;
};

static bool ready_cb(void *arg, char *reason, size_t size) {
        struct probe *p = arg;
        int n = atomic_load(&p->ready);
        if (n >= p->tasks)
                return true;
        snprintf(reason, size, "restoring: %d of %d tasks ready", n, p->tasks);
        return false;
}

static bool health_cb(void *arg, char *reason, size_t size) {
        struct probe *p = arg;
        if (atomic_load(&p->healthy))
                return true;
        snprintf(reason, size, "worker 0 stopped: producer fenced");
        return false;
}

struct resp {
        long status;
        char body[65536];
        size_t len;
        char type[128];
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg) {
        struct resp *r = arg;
        size_t n = size * nmemb;
        ck_assert_uint_lt(r->len + n, sizeof(r->body));
        memcpy(r->body + r->len, ptr, n);
        r->len += n;
        r->body[r->len] = '\0';
        return n;
}

/* One request to 127.0.0.1:port path; method NULL means GET. */
static void fetch(int port, const char *method, const char *path,
                  struct resp *r) {
        char url[128];
        char *type = NULL;
        CURL *c = curl_easy_init();
        memset(r, 0, sizeof(*r));
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
        ck_assert_ptr_nonnull(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        if (method && !strcmp(method, "POST"))
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
        else if (method && !strcmp(method, "HEAD"))
                curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        else if (method)
                curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
        if (type)
                snprintf(r->type, sizeof(r->type), "%s", type);
        curl_easy_cleanup(c);
}

static nd_metrics_t *reg;
static nd_http_t *srv;
static struct probe probe;
static int port;

static void setup(void) {
        char errstr[256];
        curl_global_init(CURL_GLOBAL_DEFAULT);
        reg = nd_metrics_new();
        atomic_store(&probe.ready, 0);
        probe.tasks = 3;
        atomic_store(&probe.healthy, true);
        ck_assert_int_eq(nd_http_start("127.0.0.1:0", reg, ready_cb, health_cb,
                                       &probe, &srv, errstr, sizeof(errstr)),
                         ND_OK);
        port = nd_http_port(srv);
        ck_assert_int_gt(port, 0);
}

static void teardown(void) {
        nd_http_stop(srv);
        srv = NULL;
        nd_metrics_destroy(reg);
        reg = NULL;
        curl_global_cleanup();
}

START_TEST(metrics_serves_the_registry_in_prometheus_text) {
        struct resp r;
        nd_counter_add(nd_metrics_counter(reg, "nudge_dead_letter_total",
                                          "Records dead-lettered.", 1,
                                          (const char *[]){"reason"},
                                          (const char *[]){"bad_magic"}),
                       4);
        fetch(port, NULL, "/metrics", &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.type, "text/plain; version=0.0.4; charset=utf-8");
        ck_assert_str_eq(r.body,
                         "# HELP nudge_dead_letter_total Records "
                         "dead-lettered.\n"
                         "# TYPE nudge_dead_letter_total counter\n"
                         "nudge_dead_letter_total{reason=\"bad_magic\"} 4\n");
}
END_TEST

START_TEST(healthz_is_ok_until_the_check_fails) {
        struct resp r;
        fetch(port, NULL, "/healthz", &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, "ok\n");
        atomic_store(&probe.healthy, false);
        fetch(port, NULL, "/healthz", &r);
        ck_assert_int_eq(r.status, 503);
        ck_assert_str_eq(r.body, "worker 0 stopped: producer fenced\n");
}
END_TEST

START_TEST(readyz_is_503_while_restoring_and_200_after) {
        struct resp r;
        fetch(port, NULL, "/readyz", &r);
        ck_assert_int_eq(r.status, 503);
        ck_assert_str_eq(r.body, "restoring: 0 of 3 tasks ready\n");
        atomic_store(&probe.ready, 2);
        fetch(port, NULL, "/readyz", &r);
        ck_assert_int_eq(r.status, 503);
        ck_assert_str_eq(r.body, "restoring: 2 of 3 tasks ready\n");
        atomic_store(&probe.ready, 3);
        fetch(port, NULL, "/readyz", &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, "ready\n");
}
END_TEST

START_TEST(unknown_paths_are_404_and_other_methods_405) {
        struct resp r;
        fetch(port, NULL, "/", &r);
        ck_assert_int_eq(r.status, 404);
        fetch(port, NULL, "/metrics/x", &r);
        ck_assert_int_eq(r.status, 404);
        fetch(port, "POST", "/metrics", &r);
        ck_assert_int_eq(r.status, 405);
        fetch(port, "DELETE", "/readyz", &r);
        ck_assert_int_eq(r.status, 405);
        fetch(port, "HEAD", "/healthz", &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_uint_eq(r.len, 0);
}
END_TEST

START_TEST(null_callbacks_and_registry_answer_yes_and_empty) {
        char errstr[256];
        nd_http_t *bare = NULL;
        struct resp r;
        ck_assert_int_eq(nd_http_start("127.0.0.1:0", NULL, NULL, NULL, NULL,
                                       &bare, errstr, sizeof(errstr)),
                         ND_OK);
        fetch(nd_http_port(bare), NULL, "/readyz", &r);
        ck_assert_int_eq(r.status, 200);
        fetch(nd_http_port(bare), NULL, "/healthz", &r);
        ck_assert_int_eq(r.status, 200);
        fetch(nd_http_port(bare), NULL, "/metrics", &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_uint_eq(r.len, 0);
        nd_http_stop(bare);
        nd_http_stop(NULL);
}
END_TEST

START_TEST(bad_listen_addresses_are_config_errors) {
        static const char *bad[] = {"9464",     "host:",     "1.2.3.4:70000",
                                    "::1:9464", "[::1:9464", "x:12ab",
                                    ""};
        char errstr[256];
        nd_http_t *s = NULL;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                errstr[0] = '\0';
                ck_assert_int_eq(nd_http_start(bad[i], NULL, NULL, NULL, NULL,
                                               &s, errstr, sizeof(errstr)),
                                 ND_ERR_CONFIG);
                ck_assert_ptr_null(s);
                ck_assert_ptr_nonnull(strstr(errstr, "http.listen"));
        }
}
END_TEST

START_TEST(a_port_in_use_is_an_io_error_that_says_so) {
        char listen[64], errstr[256];
        nd_http_t *s = NULL;
        snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
        ck_assert_int_eq(nd_http_start(listen, NULL, NULL, NULL, NULL, &s,
                                       errstr, sizeof(errstr)),
                         ND_ERR_IO);
        ck_assert_ptr_null(s);
        ck_assert_ptr_nonnull(strstr(errstr, "in use"));
}
END_TEST

START_TEST(stop_releases_the_port_for_a_restart) {
        char listen[64], errstr[256];
        struct resp r;
        snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
        fetch(port, NULL, "/healthz", &r);
        nd_http_stop(srv);
        srv = NULL;
        ck_assert_int_eq(nd_http_start(listen, reg, ready_cb, health_cb, &probe,
                                       &srv, errstr, sizeof(errstr)),
                         ND_OK);
        ck_assert_int_eq(nd_http_port(srv), port);
        fetch(port, NULL, "/healthz", &r);
        ck_assert_int_eq(r.status, 200);
}
END_TEST

START_TEST(listen_accepts_any_address_and_bracketed_v6) {
        char errstr[256];
        struct resp r;
        nd_http_t *s = NULL;
        ck_assert_int_eq(nd_http_start(":0", NULL, NULL, NULL, NULL, &s, errstr,
                                       sizeof(errstr)),
                         ND_OK);
        fetch(nd_http_port(s), NULL, "/healthz", &r);
        ck_assert_int_eq(r.status, 200);
        nd_http_stop(s);
        /* A machine without IPv6 cannot bind [::1]: that is an I/O error,
         * not a parse error. */
        nd_err_t err = nd_http_start("[::1]:0", NULL, NULL, NULL, NULL, &s,
                                     errstr, sizeof(errstr));
        ck_assert(err == ND_OK || err == ND_ERR_IO);
        nd_http_stop(s);
}
END_TEST

#define WORKERS 3
#define EVENTS  100000

static atomic_int workers_done;

static void *worker(void *arg) {
        nd_counter_t *c =
            nd_metrics_counter(reg, "nudge_events_in_total", "Events consumed.",
                               2, (const char *[]){"topic", "type"},
                               (const char *[]){"cart", "product_added"});
        for (int i = 0; i < EVENTS; i++)
                nd_counter_add(c, 1);
        atomic_fetch_add(&workers_done, 1);
        return arg;
}

START_TEST(scrapes_during_updates_end_with_the_exact_total) {
        pthread_t t[WORKERS];
        struct resp r;
        char want[128];
        int scrapes = 0;
        atomic_store(&workers_done, 0);
        for (int i = 0; i < WORKERS; i++)
                ck_assert_int_eq(pthread_create(&t[i], NULL, worker, NULL), 0);
        /* Scrape until the workers finish (bounded: they always do). */
        while (atomic_load(&workers_done) < WORKERS || scrapes == 0) {
                fetch(port, NULL, "/metrics", &r);
                ck_assert_int_eq(r.status, 200);
                scrapes++;
        }
        for (int i = 0; i < WORKERS; i++)
                pthread_join(t[i], NULL);
        fetch(port, NULL, "/metrics", &r);
        snprintf(want, sizeof(want),
                 "nudge_events_in_total{topic=\"cart\",type=\"product_added\"}"
                 " %d\n",
                 WORKERS * EVENTS);
        ck_assert_ptr_nonnull(strstr(r.body, want));
}
END_TEST

static Suite *http_suite(void) {
        Suite *s = suite_create("http");
        TCase *tc = tcase_create("endpoints");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, metrics_serves_the_registry_in_prometheus_text);
        tcase_add_test(tc, healthz_is_ok_until_the_check_fails);
        tcase_add_test(tc, readyz_is_503_while_restoring_and_200_after);
        tcase_add_test(tc, unknown_paths_are_404_and_other_methods_405);
        tcase_add_test(tc, null_callbacks_and_registry_answer_yes_and_empty);
        suite_add_tcase(s, tc);
        tc = tcase_create("listen");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, bad_listen_addresses_are_config_errors);
        tcase_add_test(tc, a_port_in_use_is_an_io_error_that_says_so);
        tcase_add_test(tc, stop_releases_the_port_for_a_restart);
        tcase_add_test(tc, listen_accepts_any_address_and_bracketed_v6);
        suite_add_tcase(s, tc);
        tc = tcase_create("concurrency");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, scrapes_during_updates_end_with_the_exact_total);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(http_suite());
}
