/*
 * test_registry_outage.c — a schema registry that cannot be reached pauses
 * the input instead of dead-lettering it (issue 14, item 2), and
 * errors.tolerance / errors.retry_timeout decide what an error that does
 * not clear does; against the real broker and a registry served by the
 * test (libmicrohttpd) that can answer, fail with HTTP 503, or be gone.
 *
 * The input: nudge-gen traffic (seeded, event time in the past) framed
 * with schema ids 1001-1004, which only the registry knows (the engine's
 * own schema.ids stay 1-4), on every event topic and the catalog. The
 * expected actions: a clean reference run of another application.id with
 * the registry up (cart reminders: they depend on every event being
 * applied, in order).
 *
 *   outage           the registry answers 503, then is gone (connection
 *                    refused), then comes back: meanwhile nothing is
 *                    dead-lettered and nothing committed, the partitions
 *                    show as paused, /readyz is not ready, retries go on;
 *                    afterwards the actions equal the reference's, each
 *                    once, and nothing was dead-lettered.
 *   retry_timeout    the registry never comes back: with a bound and
 *                    errors.tolerance: stop, nudge exits with status 3
 *                    having committed nothing; with dead_letter, every
 *                    record goes to the dead-letter topic as REGISTRY.
 *   tolerance stop   a record that can never be used (bad bytes) at the
 *                    end of a partition: nudge commits everything before
 *                    it and exits 3, the committed offset is the bad
 *                    record's; a restart with dead_letter dead-letters it
 *                    and finishes; both runs' actions are the reference's.
 */
#include <jansson.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "faults.h"
#include "mem.h"
#include "nd_http_test.h"
#include "nd_kafka_test.h"
#include "nd_proc_test.h"
#include "nd_test.h"

#define PARTS   2
#define EVENTS  4000
#define WAIT_MS 90000
#define ID_BASE 1000 /* the registry's id of schema.ids.X is ID_BASE + X */

/* ------------------------------------------------------------------ */
/* The registry                                                        */

enum { REG_UP, REG_503 };

static atomic_int reg_mode;
static struct MHD_Daemon *reg_daemon;
static unsigned reg_port;
static char *reg_schema[5]; /* by schema.ids default: 1..4 */

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn,
                             const char *url, const char *method,
                             const char *version, const char *upload,
                             size_t *upload_size, void **con_cls) {
        struct MHD_Response *resp;
        unsigned status = 404;
        json_t *doc;
        char *body;
        int id = -1;
        enum MHD_Result ret;
        (void)cls, (void)method, (void)version, (void)upload;
        (void)upload_size, (void)con_cls;

        if (atomic_load(&reg_mode) == REG_503) {
                doc = json_pack("{s:i,s:s}", "error_code", 50003, "message",
                                "backend unavailable");
                status = 503;
        } else if (sscanf(url, "/schemas/ids/%d", &id) == 1 && id > ID_BASE &&
                   id <= ID_BASE + 4) {
                doc = json_pack("{s:s}", "schema", reg_schema[id - ID_BASE]);
                status = 200;
        } else {
                doc = json_pack("{s:i,s:s}", "error_code", 40403, "message",
                                "Schema not found");
        }
        body = json_dumps(doc, 0);
        json_decref(doc);
        resp = MHD_create_response_from_buffer(strlen(body), body,
                                               MHD_RESPMEM_MUST_COPY);
        free(body);
        MHD_add_response_header(resp, "Content-Type",
                                "application/vnd.schemaregistry.v1+json");
        ret = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* Starts the registry (on reg_port once it has one: a comeback). */
static void reg_start(void) {
        reg_daemon = MHD_start_daemon(
            MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)reg_port, NULL, NULL,
            serve, NULL, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
        ck_assert_msg(reg_daemon != NULL, "registry: cannot listen on %u",
                      reg_port);
        reg_port =
            MHD_get_daemon_info(reg_daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static void reg_stop(void) {
        if (reg_daemon)
                MHD_stop_daemon(reg_daemon);
        reg_daemon = NULL;
}

/* ------------------------------------------------------------------ */
/* Topics, input, configuration                                        */

struct env {
        char topics[FT__CNT][96], catalog[96], dlq[96], prefix[64];
        char ref_actions[96];
        ft_ids_t ref; /* the reference run's action ids */
};

static struct env E;

/* nudge-gen's configuration: the same topics, framed with ids 100X. */
static const char *gen_config(void) {
        char yaml[2048];
        snprintf(yaml, sizeof(yaml),
                 "kafka:\n  bootstrap.servers: %s\n"
                 "topics:\n  clickstream: %s\n  cart: %s\n  purchase: %s\n"
                 "  catalog: %s\n"
                 "input.format: avro\nschema.dir: %s/schemas\n"
                 "schema.ids:\n  clickstream: %d\n  cart: %d\n"
                 "  purchase: %d\n  catalog: %d\n",
                 nd_kt_bootstrap(), E.topics[FT_CLICK], E.topics[FT_CART],
                 E.topics[FT_PURCHASE], E.catalog, ND_SOURCE_DIR, ID_BASE + 1,
                 ID_BASE + 2, ID_BASE + 3, ID_BASE + 4);
        return nd_proc_write_file("nudge-reg-gen", yaml);
}

/* A run's configuration; errors is the errors: block (may be ""). */
static const char *config(const char *app, const char *actions,
                          const char *errors) {
        static char path[256];
        char yaml[4096];
        snprintf(yaml, sizeof(yaml),
                 "application.id: %s\n"
                 "kafka:\n  bootstrap.servers: %s\n"
                 "  consumer.session.timeout.ms: 6000\n"
                 "  consumer.heartbeat.interval.ms: 300\n"
                 "topics:\n  clickstream: %s\n  cart: %s\n  purchase: %s\n"
                 "  catalog: %s\n  actions: %s\n  dead_letter: %s\n"
                 "input.format: avro\nschema.dir: %s/schemas\n"
                 "schema.registry.url: http://127.0.0.1:%u\n"
                 "http.listen: \"127.0.0.1:0\"\n"
                 "processing:\n  guarantee: exactly_once\n"
                 "  commit_interval: 100ms\n"
                 "time:\n  max_out_of_orderness: 500ms\n"
                 "  idle_advance_after: 1s\n"
                 "%s"
                 "triggers:\n"
                 "  - {name: cart_reminder, type: cart_abandonment, "
                 "delays: [1s], min_inactivity: 0s}\n",
                 app, nd_kt_bootstrap(), E.topics[FT_CLICK], E.topics[FT_CART],
                 E.topics[FT_PURCHASE], E.catalog, actions, E.dlq,
                 ND_SOURCE_DIR, reg_port, errors);
        snprintf(path, sizeof(path), "%s",
                 nd_proc_write_file("nudge-reg", yaml));
        return path;
}

static void start(nd_proc_t *p, const char *cfg) {
        const char *argv[] = {"run", "-c", cfg, NULL};
        nd_proc_start(p, argv, NULL);
}

/* Input records app's group has committed, over the event topics; -1
 * when the broker cannot say yet (the group's coordinator is being found:
 * asked again). */
static int64_t committed(const char *app) {
        int64_t deadline = nd_clock_mono_ms() + WAIT_MS;
        for (;;) {
                int64_t sum = 0;
                for (int k = 0; k < FT__CNT && sum >= 0; k++) {
                        int64_t s =
                            ft_committed_sum(app, E.topics[k], PARTS, WAIT_MS);
                        sum = s < 0 ? -1 : sum + s;
                }
                if (sum >= 0 || nd_clock_mono_ms() >= deadline)
                        return sum;
                nd_test_pause_ms(200);
        }
}

static bool wait_committed(const char *app, int64_t want) {
        int64_t deadline = nd_clock_mono_ms() + WAIT_MS;
        while (committed(app) < want)
                if (nd_clock_mono_ms() >= deadline)
                        return false;
                else
                        nd_test_pause_ms(100);
        return true;
}

/* The value of series on p's /metrics (-1: not there or no answer). */
static double metric(int port, const char *series) {
        static nd_http_body_t b;
        if (nd_http_get(port, "/metrics", &b) != 200)
                return -1;
        return nd_http_metric(&b, series);
}

/* Waits (deadline) until series is at least value. */
static bool wait_metric_ge(nd_proc_t *p, int port, const char *series,
                           double value) {
        int64_t deadline = nd_clock_mono_ms() + WAIT_MS;
        while (metric(port, series) < value) {
                if (nd_clock_mono_ms() >= deadline || nd_proc_wait(p, 0) >= 0)
                        return false;
                nd_test_pause_ms(100);
        }
        return true;
}

/* Every record committed and every reminder fired; then SIGTERM, exit 0. */
static void finish(nd_proc_t *p, const char *app, int port, const char *who) {
        if (!wait_committed(app, EVENTS) ||
            !ft_wait_metric_eq(port,
                               "nudge_timers_pending{trigger_name=\"cart_"
                               "reminder\"}",
                               0, WAIT_MS)) {
                nd_proc_dump(p);
                ck_abort_msg("%s did not finish the input", who);
        }
        ck_assert_int_eq(nd_proc_stop(p, SIGTERM, 30000), 0);
}

/* Compares the action ids of actions with the reference: equal sets, no
 * duplicates (exactly-once). */
static void same_as_reference(const char *actions, const char *who) {
        ft_ids_t got = {0};
        size_t missing, extra;
        ft_read_ids(actions, E.ref.cnt, WAIT_MS, NULL, &got);
        missing = ft_ids_missing(&E.ref, &got, who);
        extra = ft_ids_missing(&got, &E.ref, "not in the reference");
        ck_assert_msg(missing == 0 && extra == 0,
                      "%s: %zu actions missing, %zu extra (of %zu)", who,
                      missing, extra, E.ref.cnt);
        ck_assert_msg(ft_ids_dups(&got) == 0, "%s: duplicated actions", who);
        ft_ids_fini(&got);
}

static char *slurp_schema(const char *name) {
        char path[512];
        snprintf(path, sizeof(path), "%s/schemas/%s.avsc", ND_SOURCE_DIR, name);
        return nd_test_slurp(path, NULL);
}

/*
 * Once for the suite: topics, input (nudge-gen), the registry, and the
 * reference run's actions.
 */
static void setup(void) {
        static const char *const kinds[FT__CNT] = {"click", "cart", "purchase"};
        static const char *const names[5] = {NULL, "clickstream", "cart",
                                             "purchase", "catalog"};
        nd_proc_t ref;
        char errstr[512], app[96], events[32];
        int port;

        for (int i = 1; i <= 4; i++)
                reg_schema[i] = slurp_schema(names[i]);
        nd_kt_unique_name(E.prefix, sizeof(E.prefix), "reg");
        for (int k = 0; k < FT__CNT; k++) {
                snprintf(E.topics[k], sizeof(E.topics[k]), "%s-%s", E.prefix,
                         kinds[k]);
                ck_assert_msg(nd_kt_create_topic(E.topics[k], PARTS, NULL,
                                                 WAIT_MS, errstr,
                                                 sizeof(errstr)) == ND_OK,
                              "%s", errstr);
        }
        snprintf(E.catalog, sizeof(E.catalog), "%s-catalog", E.prefix);
        snprintf(E.dlq, sizeof(E.dlq), "%s-dlq", E.prefix);
        ck_assert_msg(nd_kt_create_topic(E.catalog, 1, NULL, WAIT_MS, errstr,
                                         sizeof(errstr)) == ND_OK,
                      "%s", errstr);
        snprintf(events, sizeof(events), "%d", EVENTS);
        {
                const char *argv[] = {ND_BINARY_DIR
                                      "/tools/nudge-gen/nudge-gen",
                                      "-c",
                                      gen_config(),
                                      "--events",
                                      events,
                                      "--rate",
                                      "0",
                                      "--seed",
                                      "14",
                                      "--customers",
                                      "300",
                                      "--products",
                                      "50",
                                      "--start-time",
                                      "1717200000000",
                                      "--quiet",
                                      NULL};
                ck_assert_int_eq(nd_proc_tool(argv, WAIT_MS), 0);
        }
        reg_start();
        snprintf(app, sizeof(app), "%s-ref", E.prefix);
        snprintf(E.ref_actions, sizeof(E.ref_actions), "%s-ref-actions",
                 E.prefix);
        start(&ref, config(app, E.ref_actions, ""));
        ck_assert_msg(nd_proc_wait_log(&ref, "HTTP on", WAIT_MS),
                      "reference run did not start");
        port = nd_http_port_of(&ref);
        finish(&ref, app, port, "reference");
        ck_assert_int_eq(ft_log_count(&ref, "paused"), 0);
        ft_read_ids(E.ref_actions, 1, WAIT_MS, NULL, &E.ref);
        ck_assert_msg(E.ref.cnt > 50, "only %zu reference actions", E.ref.cnt);
        ck_assert_msg(ft_ids_dups(&E.ref) == 0, "reference duplicates");
        /* WHY stop it here: every test runs in a child process (Check's
         * fork mode), which has no thread of this daemon; each starts its
         * own (fresh_registry) */
        reg_stop();
}

/* A registry of this test's process, on a new port, answering. */
static void fresh_registry(int mode) {
        atomic_store(&reg_mode, mode);
        reg_port = 0;
        reg_start();
}

static void teardown(void) {
        reg_stop();
        ft_ids_fini(&E.ref);
        for (int i = 1; i <= 4; i++)
                nd_free(reg_schema[i]);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */

START_TEST(an_outage_pauses_the_input_and_loses_nothing) {
        nd_proc_t p;
        char app[96], actions[96];
        const char *paused = "nudge_partitions_paused";
        const char *retries = "nudge_input_retries_total";
        double before;
        int port;

        snprintf(app, sizeof(app), "%s-outage", E.prefix);
        snprintf(actions, sizeof(actions), "%s-outage-actions", E.prefix);
        fresh_registry(REG_503);
        start(&p, config(app, actions, ""));
        ck_assert_msg(nd_proc_wait_log(&p, "HTTP on", WAIT_MS), "no start");
        port = nd_http_port_of(&p);

        /* 503: paused, retried, not ready; nothing dead-lettered or
         * committed */
        if (!wait_metric_ge(&p, port, paused, 1) ||
            !wait_metric_ge(&p, port, retries, 3)) {
                nd_proc_dump(&p);
                ck_abort_msg("the input was not paused and retried");
        }
        {
                nd_http_body_t b = {0};
                ck_assert_int_eq(nd_http_get(port, "/readyz", &b), 503);
                ck_assert_int_eq(nd_http_get(port, "/healthz", &b), 200);
        }
        ck_assert_int_ge(ft_log_count(&p, "paused: "), 1);

        /* gone: connection refused, still retried */
        reg_stop();
        before = metric(port, retries);
        ck_assert_msg(wait_metric_ge(&p, port, retries, before + 2),
                      "no retries while the registry is gone");
        ck_assert_double_eq(
            metric(port, "nudge_dead_letter_total{reason=\"registry\"}"), -1);
        ck_assert_int_eq(committed(app), 0);

        /* back */
        atomic_store(&reg_mode, REG_UP);
        reg_start();
        finish(&p, app, port, "after the outage");
        ck_assert_int_ge(ft_log_count(&p, "resumed after"), 1);
        ck_assert_int_eq(ft_log_count(&p, "dead.letter"), 0);
        same_as_reference(actions, "after the outage");
}
END_TEST

START_TEST(retry_timeout_then_tolerance_decides) {
        nd_proc_t p;
        char app[96], actions[96];
        int port;

        fresh_registry(REG_503);
        /* stop: exit status 3, nothing committed */
        snprintf(app, sizeof(app), "%s-stop", E.prefix);
        snprintf(actions, sizeof(actions), "%s-stop-actions", E.prefix);
        start(&p, config(app, actions,
                         "errors:\n  retry_timeout: 1s\n  tolerance: stop\n"));
        ck_assert_int_eq(nd_proc_wait(&p, WAIT_MS), 3);
        ck_assert_int_ge(ft_log_count(&p, "errors.tolerance is stop"), 1);
        ck_assert_int_eq(committed(app), 0);

        /* dead_letter: every record goes, as REGISTRY */
        snprintf(app, sizeof(app), "%s-dl", E.prefix);
        snprintf(actions, sizeof(actions), "%s-dl-actions", E.prefix);
        start(&p, config(app, actions,
                         "errors:\n  retry_timeout: 1s\n"
                         "  tolerance: dead_letter\n"));
        ck_assert_msg(nd_proc_wait_log(&p, "HTTP on", WAIT_MS), "no start");
        port = nd_http_port_of(&p);
        /* the events and the catalog's records */
        if (!wait_metric_ge(&p, port,
                            "nudge_dead_letter_total{reason=\"registry\"}",
                            EVENTS) ||
            !wait_committed(app, EVENTS)) {
                nd_proc_dump(&p);
                ck_abort_msg("the records were not dead-lettered");
        }
        ck_assert_int_ge(ft_log_count(&p, "errors.retry_timeout"), 1);
        ck_assert_int_eq(nd_proc_stop(&p, SIGTERM, 30000), 0);
        atomic_store(&reg_mode, REG_UP);
}
END_TEST

START_TEST(tolerance_stop_commits_up_to_the_bad_record) {
        nd_proc_t p;
        char app[96], actions[96], errstr[512];
        int64_t end = -1, at = -1;
        int port;

        /* bad bytes at the end of clickstream partition 0 */
        {
                nd_kt_msg_t m = nd_kt_msg("c-bad", "not an Avro record");
                rd_kafka_t *rk =
                    nd_kt_producer_new(NULL, WAIT_MS, errstr, sizeof(errstr));
                ck_assert_msg(rk != NULL, "%s", errstr);
                ck_assert_int_eq(nd_kt_send(rk, E.topics[FT_CLICK], 0, &m, 1,
                                            errstr, sizeof(errstr)),
                                 ND_OK);
                ck_assert_int_eq(nd_kt_flush(rk, WAIT_MS), ND_OK);
                rd_kafka_destroy(rk);
                ck_assert_int_eq(nd_kt_end_offset(E.topics[FT_CLICK], 0, &end,
                                                  WAIT_MS, errstr,
                                                  sizeof(errstr)),
                                 ND_OK);
        }
        fresh_registry(REG_UP);
        snprintf(app, sizeof(app), "%s-bad", E.prefix);
        snprintf(actions, sizeof(actions), "%s-bad-actions", E.prefix);
        start(&p, config(app, actions, "errors:\n  tolerance: stop\n"));
        ck_assert_int_eq(nd_proc_wait(&p, WAIT_MS), 3);
        ck_assert_int_ge(
            ft_log_count(&p, "BAD_MAGIC.*errors.tolerance is stop"), 1);
        ck_assert_int_eq(nd_kt_committed(app, E.topics[FT_CLICK], 0, &at,
                                         WAIT_MS, errstr, sizeof(errstr)),
                         ND_OK);
        ck_assert_int_eq(at, end - 1); /* up to it, not past it */

        /* dead_letter goes on from there */
        start(&p, config(app, actions, ""));
        ck_assert_msg(nd_proc_wait_log(&p, "HTTP on", WAIT_MS), "no start");
        port = nd_http_port_of(&p);
        ck_assert_msg(ft_wait_metric_eq(
                          port, "nudge_dead_letter_total{reason=\"bad_magic\"}",
                          1, WAIT_MS),
                      "the bad record was not dead-lettered");
        finish(&p, app, port, "after the stop");
        ck_assert_int_eq(nd_kt_committed(app, E.topics[FT_CLICK], 0, &at,
                                         WAIT_MS, errstr, sizeof(errstr)),
                         ND_OK);
        ck_assert_int_eq(at, end);
        same_as_reference(actions, "stop, then dead_letter");
}
END_TEST

static Suite *suite(void) {
        Suite *s = suite_create("faults_registry_outage");
        TCase *tc = tcase_create("registry");
        tcase_set_timeout(tc, 280);
        tcase_add_unchecked_fixture(tc, setup, teardown);
        tcase_add_test(tc, an_outage_pauses_the_input_and_loses_nothing);
        tcase_add_test(tc, retry_timeout_then_tolerance_decides);
        tcase_add_test(tc, tolerance_stop_commits_up_to_the_bad_record);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(suite());
}
