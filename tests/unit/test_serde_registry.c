/*
 * test_serde_registry.c — writer schemas from a Confluent-compatible schema
 * registry, served by a tiny in-test HTTP server (libmicrohttpd):
 *   GET /schemas/ids/10  -> 200 {"schema": "<a CartEvent writer schema>"}
 *   GET /schemas/ids/11  -> 200 {"schema": "...", "schemaType": "PROTOBUF"}
 *   GET /schemas/ids/500 -> 500
 *   anything else        -> 404 {"error_code":40403,...}
 */
#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "nd_test.h"
#include "schema_registry.h"
#include "serde.h"

static const char *const cart_writer =
    "{\"type\":\"record\",\"name\":\"CartEvent\",\"namespace\":"
    "\"io.nudge.events\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":"
    "\"CartEventType\",\"symbols\":[\"checkout_started\"]}},"
    "{\"name\":\"anonymous_id\",\"type\":\"string\"},"
    "{\"name\":\"timestamp\",\"type\":\"long\"}]}";

static atomic_int requests;

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn,
                             const char *url, const char *method,
                             const char *version, const char *upload,
                             size_t *upload_size, void **con_cls) {
        struct MHD_Response *resp;
        char *body;
        unsigned status = 200;
        enum MHD_Result ret;
        json_t *doc;

        atomic_fetch_add(&requests, 1);
        if (!strcmp(url, "/schemas/ids/10")) {
                doc = json_pack("{s:s}", "schema", cart_writer);
        } else if (!strcmp(url, "/schemas/ids/11")) {
                doc = json_pack("{s:s,s:s}", "schema", "syntax = \"proto3\";",
                                "schemaType", "PROTOBUF");
        } else if (!strcmp(url, "/schemas/ids/500")) {
                doc = json_pack("{s:i,s:s}", "error_code", 50001, "message",
                                "store unavailable");
                status = 500;
        } else {
                doc = json_pack("{s:i,s:s}", "error_code", 40403, "message",
                                "Schema not found");
                status = 404;
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

static struct MHD_Daemon *daemon_;
static char url[64];

static void setup(void) {
        const union MHD_DaemonInfo *info;
        atomic_store(&requests, 0);
        daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                                   NULL, serve, NULL, MHD_OPTION_END);
        ck_assert_ptr_nonnull(daemon_);
        info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
        ck_assert_ptr_nonnull(info);
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/", info->port);
}

static void teardown(void) {
        MHD_stop_daemon(daemon_);
        daemon_ = NULL;
}

static nd_serde_t *new_serde_async(const char *registry, bool async) {
        nd_serde_conf_t conf = {0};
        nd_serde_t *serde = NULL;
        char err[512];
        conf.registry_url = registry;
        conf.registry_timeout_ms = 2000;
        conf.registry_async = async;
        ck_assert_msg(nd_serde_new(&conf, &serde, err, sizeof(err)) == ND_OK,
                      "%s", err);
        return serde;
}

static nd_serde_t *new_serde(const char *registry) {
        return new_serde_async(registry, false);
}

/* Decodes buf until the answer is not "waiting" (deadline); its result. */
static nd_err_t decode_settled(nd_serde_t *serde, const uint8_t *buf, size_t n,
                               nd_event_t *ev, char *err, size_t size) {
        int64_t deadline = nd_clock_mono_ms() + 10000;
        nd_err_t rc;
        while ((rc = nd_serde_decode(serde, buf, n, ev, err, size)) ==
                   ND_ERR_REGISTRY &&
               strstr(err, "waiting for") && nd_clock_mono_ms() < deadline)
                nd_test_pause_ms(5);
        return rc;
}

static size_t record(uint8_t *b, uint32_t id) {
        size_t n = 0;
        b[n++] = 0;
        b[n++] = (uint8_t)(id >> 24);
        b[n++] = (uint8_t)(id >> 16);
        b[n++] = (uint8_t)(id >> 8);
        b[n++] = (uint8_t)id;
        b[n++] = 4; /* "ev" */
        memcpy(b + n, "ev", 2);
        n += 2;
        b[n++] = 0; /* checkout_started */
        b[n++] = 2; /* "a" */
        b[n++] = 'a';
        b[n++] = 0x54; /* 42 */
        return n;
}

START_TEST(a_registry_schema_decodes_and_is_fetched_once) {
        nd_serde_t *serde = new_serde(url);
        uint8_t buf[64];
        size_t n = record(buf, 10);
        nd_event_t ev;
        nd_serde_stats_t st;
        char err[256];
        for (int i = 0; i < 3; i++) {
                ck_assert_msg(nd_serde_decode(serde, buf, n, &ev, err,
                                              sizeof(err)) == ND_OK,
                              "%s", err);
                ck_assert_int_eq(ev.type, ND_EV_CHECKOUT_STARTED);
                ck_assert_int_eq(ev.timestamp, 42);
        }
        ck_assert_int_eq(atomic_load(&requests), 1);
        nd_serde_stats(serde, &st);
        ck_assert_int_eq(st.registry_fetches, 1);
        ck_assert_int_eq(st.decoded, 3);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(an_id_the_registry_lacks_is_unknown_and_asked_once) {
        nd_serde_t *serde = new_serde(url);
        uint8_t buf[64];
        size_t n = record(buf, 99);
        nd_event_t ev;
        char err[256];
        for (int i = 0; i < 3; i++) {
                ck_assert_int_eq(
                    nd_serde_decode(serde, buf, n, &ev, err, sizeof(err)),
                    ND_ERR_UNKNOWN_SCHEMA);
                ck_assert_ptr_nonnull(strstr(err, "99"));
        }
        ck_assert_int_eq(atomic_load(&requests), 1);
        n = record(buf, 11);
        ck_assert_int_eq(nd_serde_decode(serde, buf, n, &ev, err, sizeof(err)),
                         ND_ERR_UNKNOWN_SCHEMA);
        ck_assert_ptr_nonnull(strstr(err, "PROTOBUF"));
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(a_registry_failure_is_retriable_not_a_bad_record) {
        nd_serde_t *serde = new_serde(url);
        uint8_t buf[64];
        size_t n = record(buf, 500);
        nd_event_t ev;
        char err[256];
        nd_err_t rc = nd_serde_decode(serde, buf, n, &ev, err, sizeof(err));
        ck_assert_int_eq(rc, ND_ERR_REGISTRY);
        ck_assert_int_eq(nd_err_class(rc), ND_ERR_CLASS_RETRIABLE);
        ck_assert_ptr_nonnull(strstr(err, "HTTP 500"));
        /* remembered for a moment (the records behind it do not each wait
         * for the registry), then asked again: retriable, not cached */
        ck_assert_int_eq(nd_serde_decode(serde, buf, n, &ev, err, sizeof(err)),
                         ND_ERR_REGISTRY);
        ck_assert_ptr_nonnull(strstr(err, "HTTP 500"));
        {
                int64_t deadline = nd_clock_mono_ms() + 10000;
                while (atomic_load(&requests) < 2 &&
                       nd_clock_mono_ms() < deadline) {
                        ck_assert_int_eq(nd_serde_decode(serde, buf, n, &ev,
                                                         err, sizeof(err)),
                                         ND_ERR_REGISTRY);
                        nd_test_pause_ms(20);
                }
        }
        ck_assert_int_eq(atomic_load(&requests), 2);
        nd_serde_destroy(serde);

        /* nobody listening: the first URL fails, the second answers */
        {
                char two[160];
                snprintf(two, sizeof(two), "http://127.0.0.1:1,%s", url);
                serde = new_serde(two);
                n = record(buf, 10);
                ck_assert_msg(nd_serde_decode(serde, buf, n, &ev, err,
                                              sizeof(err)) == ND_OK,
                              "%s", err);
                nd_serde_destroy(serde);
        }
        serde = new_serde("http://127.0.0.1:1");
        ck_assert_int_eq(nd_serde_decode(serde, buf, n, &ev, err, sizeof(err)),
                         ND_ERR_REGISTRY);
        nd_serde_destroy(serde);
}
END_TEST

/* Async mode (the engine's workers): a decode never waits for HTTP; the
 * first sight of an id says "waiting", the fetch thread asks once, and the
 * answer (a schema, a 404, a 500) is there for the next try. */
START_TEST(async_mode_never_blocks_and_asks_once) {
        nd_serde_t *serde = new_serde_async(url, true);
        uint8_t buf[64];
        size_t n = record(buf, 10);
        nd_event_t ev;
        char err[256];
        nd_err_t rc = nd_serde_decode(serde, buf, n, &ev, err, sizeof(err));
        ck_assert_int_eq(rc, ND_ERR_REGISTRY);
        ck_assert_ptr_nonnull(strstr(err, "waiting for the schema registry"));
        ck_assert_int_eq(decode_settled(serde, buf, n, &ev, err, sizeof(err)),
                         ND_OK);
        ck_assert_int_eq(ev.timestamp, 42);
        ck_assert_int_eq(nd_serde_decode(serde, buf, n, &ev, err, sizeof(err)),
                         ND_OK);
        /* a 404 is a bad record, a 500 stays retriable */
        n = record(buf, 99);
        ck_assert_int_eq(decode_settled(serde, buf, n, &ev, err, sizeof(err)),
                         ND_ERR_UNKNOWN_SCHEMA);
        n = record(buf, 500);
        ck_assert_int_eq(decode_settled(serde, buf, n, &ev, err, sizeof(err)),
                         ND_ERR_REGISTRY);
        ck_assert_ptr_nonnull(strstr(err, "HTTP 500"));
        ck_assert_int_eq(atomic_load(&requests), 3);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(the_client_caches_schema_texts) {
        nd_schema_registry_t *reg;
        const char *text, *again;
        size_t len;
        char err[256];
        ck_assert_int_eq(
            nd_schema_registry_new(url, 1000, &reg, err, sizeof(err)), ND_OK);
        ck_assert_int_eq(
            nd_schema_registry_get(reg, 10, &text, &len, err, sizeof(err)),
            ND_OK);
        ck_assert_int_eq(len, strlen(cart_writer));
        ck_assert_str_eq(text, cart_writer);
        ck_assert_int_eq(
            nd_schema_registry_get(reg, 10, &again, &len, err, sizeof(err)),
            ND_OK);
        ck_assert_ptr_eq(text, again);
        ck_assert_int_eq(nd_schema_registry_requests(reg), 1);
        ck_assert_int_eq(
            nd_schema_registry_get(reg, 12, &text, &len, err, sizeof(err)),
            ND_ERR_UNKNOWN_SCHEMA);
        nd_schema_registry_destroy(reg);
        ck_assert_int_eq(
            nd_schema_registry_new("", 1000, &reg, err, sizeof(err)),
            ND_ERR_CONFIG);
}
END_TEST

static Suite *serde_registry_suite(void) {
        Suite *s = suite_create("serde_registry");
        TCase *tc = tcase_create("registry");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, a_registry_schema_decodes_and_is_fetched_once);
        tcase_add_test(tc, an_id_the_registry_lacks_is_unknown_and_asked_once);
        tcase_add_test(tc, a_registry_failure_is_retriable_not_a_bad_record);
        tcase_add_test(tc, the_client_caches_schema_texts);
        tcase_add_test(tc, async_mode_never_blocks_and_asks_once);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(serde_registry_suite());
}
