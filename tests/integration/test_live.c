/*
 * test_live.c — live equals replay: `nudge run` against the real broker
 * gives the actions `nudge replay --partitions 3` gives over the same
 * events. OVERALL DESIGN
 *
 * Live, a task is one partition number of the three event topics and
 * applies its partitions merged by the events' timestamps, ties to the
 * lower topic index, holding records back while a partition has nothing
 * buffered and has not reached its end (common/kio/kio_group.c). Replay
 * --partitions N gives each event to the task of its customer key
 * (murmur2 % N, as the producers) and merges per-topic lanes of the file
 * the same way. So for a backlog that is in Kafka before the engine starts
 * the two must agree exactly, whatever the fetch sizes; and for events
 * produced one at a time while the engine runs they agree when the order
 * of production is the order replay's merge gives (see case 3).
 *
 * Three cases, each with its own topics (3 partitions) and group:
 *
 * 1. Backlog of nudge-gen traffic (seeded, event time fixed in the past,
 *    few customers; 50k events): the topics are filled, the same seed
 *    writes the same events to a JSON-lines file, then the engine starts,
 *    consumes the backlog and, once idle for time.idle_advance_after
 *    (1 s), moves its watermark to the wall clock, so every pending timer
 *    fires. Replay gets --end-time now. Run with exactly_once and Avro
 *    input, and with at_least_once and JSON input.
 * 2. Backlog of adversarial traces of tests/diff/gen.py (ties across
 *    topics at due times, events late by hours, reused and empty cart
 *    ids, dead-letter records), produced by the producer below.
 * 3. Events of a gen.py trace produced while the engine runs, one at a
 *    time, each delivered before the next is sent, in the order replay's
 *    merge applies them (merge_order() says why not in file order);
 *    time.idle_advance_after 1h so the wall clock never moves a
 *    watermark: replay without an end time.
 *
 * Every case compares the actions as multisets keyed by action_id, every
 * field but emitted_at (a canonical text of the record, built from the
 * Avro schema for both sides), then the order of each customer's actions
 * (one customer's actions are one task's firings, in order, on one
 * partition of the actions topic). It checks that no action arrives twice
 * live (nudge-gen's traffic: no action_id twice), that the engine applied
 * and dead-lettered what replay read and rejected, that the count of
 * actions is far from trivial, and that the trace is one
 * where --partitions 1 gives other actions than --partitions 3, so the
 * equality shows that live runs tasks as replay --partitions 3 does.
 *
 * Waits are conditions with deadlines: the engine's /metrics
 * (nudge_events_in_total + nudge_dead_letter_total reached what was
 * produced; case 1 and 2 also every task's watermark lag back near the
 * wall clock) and the read_committed action count equal to
 * nudge_actions_out_total and unchanged for QUIET_MS.
 */
#include <avro.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "kio.h"
#include "mem.h"
#include "nd_http_test.h"
#include "nd_kafka_test.h"
#include "nd_proc_test.h"
#include "nd_test.h"
#include "nudge/event.h"

#define WAIT_MS  120000
#define PARTS    3
#define QUIET_MS 1500
#define MAX_DIFF 10 /* differences printed per kind */

/* Case 1: nudge-gen's traffic. 50k events at 1 ms of event time each
 * (--rate 0) span 50 s, so the 1m/5m cart reminders only fall due when
 * the idle clock (live) or the end time (replay) moves the watermark; the
 * short triggers fall due in the middle of the backlog, where the order in
 * which a task takes its three partitions decides what fires. */
#define GEN_SEED   "7"
#define GEN_START  "1780000000000" /* 2026-05-28, in the past */
#define GEN_EVENTS 50000
#define STR_(x)    #x
#define STR(x)     STR_(x) /* a number macro as a string */

static const char *const gen_triggers =
    "triggers:\n"
    "  - {name: cart_reminder, type: cart_abandonment, delays: [1m, 5m], "
    "min_inactivity: 30s}\n"
    "  - {name: cart_quick, type: cart_abandonment, delays: [2s, 10s], "
    "min_inactivity: 1s}\n"
    "  - {name: browse, type: browse_abandonment, session_gap: 3s, "
    "delay: 2s, min_views: 1}\n"
    "  - {name: upsell, type: post_purchase_upsell, delay: 3s}\n"
    "  - {name: continue, type: channel_switch, switch_window: 10s, "
    "grace: 2s}\n";

/* ------------------------------------------------------------------ */
/* Topics and configuration                                            */

struct env {
        char topic[ND_TOPIC__CNT][ND_KT_NAME_MAX]; /* by nd_event_topic_t */
        char catalog[ND_KT_NAME_MAX], actions[ND_KT_NAME_MAX];
        char dlq[ND_KT_NAME_MAX], app[ND_KT_NAME_MAX];
        char cfg[256]; /* path of the configuration file */
};

static void env_init(struct env *e) {
        static const char *const prefix[ND_TOPIC__CNT] = {"click", "cart",
                                                          "purchase"};
        const char *compact[] = {"cleanup.policy", "compact", NULL};
        char errstr[512];
        for (int t = 0; t < ND_TOPIC__CNT; t++) {
                nd_kt_unique_name(e->topic[t], sizeof(e->topic[t]), prefix[t]);
                ck_assert_msg(nd_kt_create_topic(e->topic[t], PARTS, NULL,
                                                 WAIT_MS, errstr,
                                                 sizeof(errstr)) == ND_OK,
                              "%s", errstr);
        }
        nd_kt_unique_name(e->catalog, sizeof(e->catalog), "catalog");
        ck_assert_msg(nd_kt_create_topic(e->catalog, 1, compact, WAIT_MS,
                                         errstr, sizeof(errstr)) == ND_OK,
                      "%s", errstr);
        nd_kt_unique_name(e->actions, sizeof(e->actions), "actions");
        nd_kt_unique_name(e->dlq, sizeof(e->dlq), "dlq");
        nd_kt_unique_name(e->app, sizeof(e->app), "app");
}

/* Writes the configuration: the test's Kafka settings in dotted form, then
 * body (time settings and triggers, nested or dotted). */
static void env_config(struct env *e, const char *guarantee, const char *fmt,
                       const char *idle, const char *body) {
        size_t n = strlen(body) + 4096;
        char *yaml = nd_malloc(n);
        snprintf(yaml, n,
                 "application.id: %s\n"
                 "kafka.bootstrap.servers: %s\n"
                 "topics.clickstream: %s\ntopics.cart: %s\n"
                 "topics.purchase: %s\ntopics.catalog: %s\n"
                 "topics.actions: %s\ntopics.dead_letter: %s\n"
                 "processing.guarantee: %s\n"
                 "%s%s%s"
                 "time.idle_advance_after: %s\n"
                 "http.listen: \"127.0.0.1:0\"\n%s",
                 e->app, nd_kt_bootstrap(), e->topic[ND_TOPIC_CLICKSTREAM],
                 e->topic[ND_TOPIC_CART], e->topic[ND_TOPIC_PURCHASE],
                 e->catalog, e->actions, e->dlq, guarantee,
                 fmt ? "input.format: " : "", fmt ? fmt : "", fmt ? "\n" : "",
                 idle, body);
        snprintf(e->cfg, sizeof(e->cfg), "%s",
                 nd_proc_write_file("nudge-live", yaml));
        nd_free(yaml);
}

/* ------------------------------------------------------------------ */
/* Event files and a producer that writes them to their topics         */

struct line {
        char *text; /* without the newline */
        size_t len;
        int topic; /* nd_event_topic_t */
        char *key; /* the customer key, or no-customer-key-<line> */
        long long ts;
        int task; /* murmur2(key) % PARTS; -1: a dead letter */
};

struct trace {
        struct line *v;
        size_t cnt, cap;
        size_t bad; /* dead letters (is_dead_letter) */
        size_t per_topic[ND_TOPIC__CNT];
};

/* The customer key: customer_id, else anonymous_id (TRIGGERS.md §1; an
 * empty string counts as null, §5). */
static const char *key_of(json_t *o) {
        static const char *const ids[] = {"customer_id", "anonymous_id"};
        for (int i = 0; i < 2; i++) {
                const char *s = json_string_value(json_object_get(o, ids[i]));
                if (s && *s)
                        return s;
        }
        return NULL;
}

/* Whether the engine must dead-letter the event (replay: a bad line), for
 * the kinds tests/diff/gen.py writes: no JSON object, no customer key, no
 * timestamp, a message_clicked without campaign_id. The test checks its
 * count against replay's. */
static bool is_dead_letter(json_t *o) {
        const char *type = json_string_value(json_object_get(o, "type"));
        const char *camp = json_string_value(json_object_get(o, "campaign_id"));
        return !json_is_object(o) || !key_of(o) ||
               !json_is_integer(json_object_get(o, "timestamp")) ||
               (type && !strcmp(type, "message_clicked") && !(camp && *camp));
}

/* Reads a JSON-lines file of events. A line that is no JSON object or has
 * no type goes to clickstream; one without a customer key gets a key
 * that is not one (the engine dead-letters it on decoding anyway). */
static void trace_load(struct trace *t, const char *path) {
        FILE *f = fopen(path, "r");
        char *buf = NULL;
        size_t cap = 0;
        ssize_t n;
        ck_assert_msg(f != NULL, "%s", path);
        memset(t, 0, sizeof(*t));
        while ((n = getline(&buf, &cap, f)) > 0) {
                struct line *l;
                json_t *o;
                const char *type, *key;
                while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                        n--;
                if (n == 0)
                        continue;
                if (t->cnt == t->cap) {
                        t->cap = t->cap ? 2 * t->cap : 1024;
                        t->v = nd_realloc(t->v, t->cap * sizeof(*t->v));
                }
                l = &t->v[t->cnt++];
                memset(l, 0, sizeof(*l));
                l->text = nd_strndup(buf, (size_t)n);
                l->len = (size_t)n;
                l->topic = ND_TOPIC_CLICKSTREAM;
                l->task = -1;
                o = json_loadb(buf, (size_t)n, 0, NULL);
                type = json_string_value(json_object_get(o, "type"));
                for (int e = 0; type && e < ND_EV__CNT; e++)
                        if (!strcmp(type, nd_event_type_name(e)))
                                l->topic = (int)nd_event_type_topic_of(e);
                key = json_is_object(o) ? key_of(o) : NULL;
                l->ts = json_integer_value(json_object_get(o, "timestamp"));
                if (key) {
                        l->key = nd_strdup(key);
                } else {
                        /* Not null: a null key is partitioned at random,
                         * and a failed run should be reproducible record
                         * for record, offsets included. t->cnt is the
                         * line number. */
                        char k[32];
                        snprintf(k, sizeof(k), "no-customer-key-%zu", t->cnt);
                        l->key = nd_strdup(k);
                }
                if (is_dead_letter(o))
                        t->bad++;
                else
                        l->task = nd_kio_partition_of(key, strlen(key), PARTS);
                t->per_topic[l->topic]++;
                json_decref(o);
        }
        free(buf);
        fclose(f);
}

static void trace_fini(struct trace *t) {
        for (size_t i = 0; i < t->cnt; i++) {
                nd_free(t->v[i].text);
                nd_free(t->v[i].key);
        }
        nd_free(t->v);
        memset(t, 0, sizeof(*t));
}

/* Delivery reports of the trace producer (one producer per test). */
static int dr_failed, dr_misplaced;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
        (void)rk;
        (void)opaque;
        if (m->err)
                dr_failed++;
        /* The partition librdkafka's murmur2_random chose for an event
         * (opaque: the topic's partition count) must be the one replay
         * computes (nd_kio_partition_of), or the two cannot agree. */
        else if (m->key && m->_private &&
                 nd_kio_partition_of(m->key, m->key_len,
                                     (int32_t)(intptr_t)m->_private) !=
                     m->partition)
                dr_misplaced++;
}

/* An idempotent producer partitioning by murmur2 like the Java client
 * (TRIGGERS.md §1), so the records land where nudge's tasks expect them. */
static rd_kafka_t *trace_producer_new(void) {
        rd_kafka_conf_t *conf = nd_kt_conf();
        char errstr[512];
        rd_kafka_t *rk;
        static const char *const props[][2] = {
            {"partitioner", "murmur2_random"},
            {"enable.idempotence", "true"},
            {"acks", "all"},
            {"linger.ms", "5"}};
        for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
                ck_assert_msg(rd_kafka_conf_set(conf, props[i][0], props[i][1],
                                                errstr, sizeof(errstr)) ==
                                  RD_KAFKA_CONF_OK,
                              "%s", errstr);
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        ck_assert_msg(rk != NULL, "%s", errstr);
        dr_failed = dr_misplaced = 0;
        return rk;
}

/* Sends one record; parts: the topic's partition count when the
 * delivery report is to check the partition, else 0. */
static void produce(rd_kafka_t *rk, const char *topic, int parts,
                    const char *key, const void *value, size_t len) {
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(topic),
                    RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                    RD_KAFKA_V_VALUE((void *)value, len),
                    RD_KAFKA_V_OPAQUE((void *)(intptr_t)parts),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(rk, 10);
        ck_assert_msg(err == RD_KAFKA_RESP_ERR_NO_ERROR, "produce: %s",
                      rd_kafka_err2str(err));
}

static void producer_flush(rd_kafka_t *rk) {
        ck_assert_int_eq(nd_kt_flush(rk, WAIT_MS), ND_OK);
        ck_assert_int_eq(dr_failed, 0);
        ck_assert_int_eq(dr_misplaced, 0);
}

/* Produces the catalog file (JSON lines, key = sku). Returns its size. */
static int produce_catalog(rd_kafka_t *rk, const struct env *e,
                           const char *path) {
        struct trace cat;
        int n = 0;
        trace_load(&cat, path);
        for (size_t i = 0; i < cat.cnt; i++) {
                json_t *o = json_loadb(cat.v[i].text, cat.v[i].len, 0, NULL);
                const char *sku = json_string_value(json_object_get(o, "sku"));
                ck_assert_ptr_nonnull(sku);
                produce(rk, e->catalog, 0, sku, cat.v[i].text, cat.v[i].len);
                json_decref(o);
                n++;
        }
        producer_flush(rk);
        trace_fini(&cat);
        return n;
}

/* Each line to the topic of its event type, keyed by the customer key,
 * in the order of order[] (NULL: file order). With sync, every record is
 * delivered before the next is sent. */
static void produce_trace(rd_kafka_t *rk, const struct env *e,
                          const struct trace *t, const size_t *order,
                          bool sync) {
        for (size_t i = 0; i < t->cnt; i++) {
                const struct line *l = &t->v[order ? order[i] : i];
                produce(rk, e->topic[l->topic], PARTS, l->key, l->text, l->len);
                if (sync)
                        producer_flush(rk);
        }
        producer_flush(rk);
}

/* Records in a topic: the sum of its partitions' high watermarks (the
 * producers here are not transactional, so there are no markers). */
static long long topic_records(rd_kafka_t *rk, const char *topic) {
        long long sum = 0;
        for (int p = 0; p < PARTS; p++) {
                int64_t lo = 0, hi = 0;
                ck_assert_int_eq(rd_kafka_query_watermark_offsets(
                                     rk, topic, p, &lo, &hi, WAIT_MS),
                                 RD_KAFKA_RESP_ERR_NO_ERROR);
                sum += hi - lo;
        }
        return sum;
}

/* ------------------------------------------------------------------ */
/* Actions: a canonical text of every field but emitted_at              */

struct act {
        char id[48];
        char name[48]; /* trigger_name */
        char key[64];
        int stage;
        long long created_at;
        size_t seq; /* position in its source */
        char *canon;
};

struct acts {
        struct act *v;
        size_t cnt, cap;
};

struct sbuf {
        char *p;
        size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...) {
        va_list ap;
        int n;
        if (!b->p) {
                b->cap = 256;
                b->p = nd_malloc(b->cap);
                b->len = 0;
        }
        for (;;) {
                size_t room = b->cap - b->len;
                va_start(ap, fmt);
                n = vsnprintf(b->p + b->len, room, fmt, ap);
                va_end(ap);
                if ((size_t)n < room)
                        break;
                b->cap = 2 * (b->cap + (size_t)n) + 64;
                b->p = nd_realloc(b->p, b->cap);
        }
        b->len += (size_t)n;
}

static avro_schema_t action_schema(void) {
        size_t n;
        char *json = nd_test_slurp(ND_SOURCE_DIR "/schemas/action.avsc", &n);
        avro_schema_t schema;
        ck_assert_int_eq(avro_schema_from_json_length(json, n, &schema), 0);
        nd_free(json);
        return schema;
}

/* The text of an Avro value: records as {name=value;...} in schema order,
 * arrays as [a,b], null as null, enums by symbol. */
static void canon_avro(avro_value_t *v, struct sbuf *b) {
        avro_value_t c;
        const char *s, *name;
        size_t n;
        int32_t i32;
        int64_t i64;
        int sym;
        switch (avro_value_get_type(v)) {
        case AVRO_STRING:
                avro_value_get_string(v, &s, &n);
                sb_add(b, "\"%s\"", s);
                break;
        case AVRO_INT32:
                avro_value_get_int(v, &i32);
                sb_add(b, "%d", (int)i32);
                break;
        case AVRO_INT64:
                avro_value_get_long(v, &i64);
                sb_add(b, "%lld", (long long)i64);
                break;
        case AVRO_ENUM:
                avro_value_get_enum(v, &sym);
                sb_add(b, "\"%s\"",
                       avro_schema_enum_get(avro_value_get_schema(v), sym));
                break;
        case AVRO_UNION:
                avro_value_get_current_branch(v, &c);
                canon_avro(&c, b);
                break;
        case AVRO_ARRAY:
                avro_value_get_size(v, &n);
                sb_add(b, "[");
                for (size_t k = 0; k < n; k++) {
                        avro_value_get_by_index(v, k, &c, NULL);
                        sb_add(b, k ? "," : "");
                        canon_avro(&c, b);
                }
                sb_add(b, "]");
                break;
        case AVRO_RECORD:
                avro_value_get_size(v, &n);
                sb_add(b, "{");
                for (size_t k = 0; k < n; k++) {
                        avro_value_get_by_index(v, k, &c, &name);
                        if (strcmp(name, "emitted_at")) {
                                sb_add(b, "%s=", name);
                                canon_avro(&c, b);
                                sb_add(b, ";");
                        }
                }
                sb_add(b, "}");
                break;
        case AVRO_NULL:
                sb_add(b, "null");
                break;
        default:
                ck_abort_msg("unexpected Avro type %d in an action",
                             (int)avro_value_get_type(v));
        }
}

/* The same text of a JSON value (replay's output), read by the schema. */
static void canon_json(json_t *j, avro_schema_t s, struct sbuf *b) {
        if (is_avro_union(s)) {
                avro_schema_t u = s;
                if (!j || json_is_null(j)) {
                        sb_add(b, "null");
                        return;
                }
                for (size_t k = 0; k < avro_schema_union_size(u); k++)
                        if (!is_avro_null(avro_schema_union_branch(u, (int)k)))
                                s = avro_schema_union_branch(u, (int)k);
                if (is_avro_link(s))
                        s = avro_schema_link_target(s);
        }
        if (!j || json_is_null(j)) {
                sb_add(b, "null");
        } else if (is_avro_string(s) || is_avro_enum(s)) {
                sb_add(b, "\"%s\"",
                       json_is_string(j) ? json_string_value(j) : "?");
        } else if (is_avro_int32(s) || is_avro_int64(s)) {
                sb_add(b, "%lld", (long long)json_integer_value(j));
        } else if (is_avro_array(s)) {
                sb_add(b, "[");
                for (size_t k = 0; k < json_array_size(j); k++) {
                        sb_add(b, k ? "," : "");
                        canon_json(json_array_get(j, k),
                                   avro_schema_array_items(s), b);
                }
                sb_add(b, "]");
        } else if (is_avro_record(s)) {
                sb_add(b, "{");
                for (size_t k = 0; k < avro_schema_record_size(s); k++) {
                        const char *name =
                            avro_schema_record_field_name(s, (int)k);
                        if (!strcmp(name, "emitted_at"))
                                continue;
                        sb_add(b, "%s=", name);
                        canon_json(
                            json_object_get(j, name),
                            avro_schema_record_field_get_by_index(s, (int)k),
                            b);
                        sb_add(b, ";");
                }
                sb_add(b, "}");
        } else {
                ck_abort_msg("unexpected schema type in action.avsc");
        }
}

static struct act *acts_push(struct acts *a) {
        if (a->cnt == a->cap) {
                a->cap = a->cap ? 2 * a->cap : 1024;
                a->v = nd_realloc(a->v, a->cap * sizeof(*a->v));
        }
        memset(&a->v[a->cnt], 0, sizeof(a->v[0]));
        a->v[a->cnt].seq = a->cnt;
        return &a->v[a->cnt++];
}

static void acts_fini(struct acts *a) {
        for (size_t i = 0; i < a->cnt; i++)
                nd_free(a->v[i].canon);
        nd_free(a->v);
        memset(a, 0, sizeof(*a));
}

/* Pulls the summary fields out of a canonical text (field=value;). */
static void act_summary(struct act *a) {
        static const char *const keys[] = {"customer_id=\"", "anonymous_id=\""};
        const char *p;
        sscanf(a->canon, "{action_id=\"%47[^\"]", a->id);
        if ((p = strstr(a->canon, ";trigger_name=\"")))
                sscanf(p + 15, "%47[^\"]", a->name);
        for (int i = 0; i < 2 && !a->key[0]; i++)
                if ((p = strstr(a->canon, keys[i])))
                        sscanf(p + strlen(keys[i]), "%63[^\"]", a->key);
        if ((p = strstr(a->canon, ";stage=")))
                a->stage = atoi(p + 7);
        if ((p = strstr(a->canon, ";created_at=")))
                a->created_at = atoll(p + 12);
        /* the text was read, not an empty shell on both sides */
        ck_assert_msg(strlen(a->id) == 32 && a->name[0] && a->key[0] &&
                          a->created_at > 0,
                      "an action's text: %s", a->canon);
}

/* Decodes the Confluent-framed actions a read_committed consumer read,
 * with avro-c's generic reader (as any downstream sender would). */
static void acts_from_kafka(const nd_kt_recs_t *recs, avro_schema_t schema,
                            struct acts *out) {
        avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
        avro_value_t val;
        avro_generic_value_new(iface, &val);
        for (size_t i = 0; i < recs->cnt; i++) {
                const nd_kt_rec_t *r = &recs->v[i];
                struct sbuf b = {0};
                struct act *a;
                avro_reader_t rd;
                ck_assert_uint_gt(r->value_len, 5);
                ck_assert_int_eq((unsigned char)r->value[0], 0);
                rd =
                    avro_reader_memory(r->value + 5, (int64_t)r->value_len - 5);
                ck_assert_msg(avro_value_read(rd, &val) == 0,
                              "an action does not decode: %s", avro_strerror());
                avro_reader_free(rd);
                canon_avro(&val, &b);
                a = acts_push(out);
                a->canon = b.p;
                act_summary(a);
                ck_assert_str_eq(r->key ? r->key : "", a->key);
        }
        avro_value_decref(&val);
        avro_value_iface_decref(iface);
}

static void acts_from_file(const char *path, avro_schema_t schema,
                           struct acts *out) {
        FILE *f = fopen(path, "r");
        char *buf = NULL;
        size_t cap = 0;
        ssize_t n;
        ck_assert_msg(f != NULL, "%s", path);
        while ((n = getline(&buf, &cap, f)) > 0) {
                json_error_t jerr;
                json_t *o = json_loadb(buf, (size_t)n, 0, &jerr);
                struct sbuf b = {0};
                struct act *a;
                ck_assert_msg(o != NULL, "%s: %s", path, jerr.text);
                canon_json(o, schema, &b);
                json_decref(o);
                a = acts_push(out);
                a->canon = b.p;
                act_summary(a);
        }
        free(buf);
        fclose(f);
}

static int act_cmp(const void *x, const void *y) {
        const struct act *a = x, *b = y;
        int c = strcmp(a->id, b->id);
        return c ? c : strcmp(a->canon, b->canon);
}

static int act_cmp_key(const void *x, const void *y) {
        const struct act *a = x, *b = y;
        int c = strcmp(a->key, b->key);
        return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

static void act_print(const char *what, const struct act *a) {
        fprintf(stderr, "  %s: %s %s key %s stage %d created_at %lld\n", what,
                a->id, a->name, a->key, a->stage, a->created_at);
}

/* Actions whose action_id (with same_fields: and every other field but
 * emitted_at) equals the one before them in id order; printed when
 * verbose. */
static size_t acts_dups(struct acts *a, bool same_fields, bool verbose) {
        size_t n = 0;
        qsort(a->v, a->cnt, sizeof(a->v[0]), act_cmp);
        for (size_t i = 1; i < a->cnt; i++)
                if (!strcmp(a->v[i].id, a->v[i - 1].id) &&
                    (!same_fields ||
                     !strcmp(a->v[i].canon, a->v[i - 1].canon)) &&
                    n++ < MAX_DIFF && verbose)
                        act_print("repeated", &a->v[i]);
        return n;
}

/*
 * Compares a and b (labels an, bn) as multisets keyed by action_id, every
 * field but emitted_at; then, when they hold the same actions, the order
 * of each customer's actions. Prints up to MAX_DIFF differences of each
 * kind when verbose, and a summary. Returns the number of differences.
 */
static size_t acts_diff(struct acts *a, const char *an, struct acts *b,
                        const char *bn, bool verbose) {
        size_t i = 0, j = 0, only_a = 0, only_b = 0, changed = 0, moved = 0;
        char what[64];
        qsort(a->v, a->cnt, sizeof(a->v[0]), act_cmp);
        qsort(b->v, b->cnt, sizeof(b->v[0]), act_cmp);
        while (i < a->cnt || j < b->cnt) {
                int c = i == a->cnt   ? 1
                        : j == b->cnt ? -1
                                      : strcmp(a->v[i].id, b->v[j].id);
                if (c == 0 && strcmp(a->v[i].canon, b->v[j].canon)) {
                        if (verbose && changed < MAX_DIFF) {
                                act_print("same id, other fields", &a->v[i]);
                                fprintf(stderr, "    %s: %s\n    %s: %s\n", an,
                                        a->v[i].canon, bn, b->v[j].canon);
                        }
                        changed++;
                } else if (c < 0 && only_a++ < MAX_DIFF && verbose) {
                        snprintf(what, sizeof(what), "only %s", an);
                        act_print(what, &a->v[i]);
                } else if (c > 0 && only_b++ < MAX_DIFF && verbose) {
                        snprintf(what, sizeof(what), "only %s", bn);
                        act_print(what, &b->v[j]);
                }
                i += c <= 0;
                j += c >= 0;
        }
        if (!only_a && !only_b && !changed) {
                qsort(a->v, a->cnt, sizeof(a->v[0]), act_cmp_key);
                qsort(b->v, b->cnt, sizeof(b->v[0]), act_cmp_key);
                for (i = 0; i < a->cnt; i++)
                        if (strcmp(a->v[i].id, b->v[i].id) &&
                            moved++ < MAX_DIFF && verbose) {
                                act_print("customer's order differs", &a->v[i]);
                                act_print("                     vs", &b->v[i]);
                        }
        }
        fprintf(stderr,
                "%s: %zu actions, %s: %zu; only %s: %zu, only %s: %zu, "
                "other fields: %zu, other order: %zu\n",
                an, a->cnt, bn, b->cnt, an, only_a, bn, only_b, changed, moved);
        return only_a + only_b + changed + moved;
}

/* ------------------------------------------------------------------ */
/* The engine and replay                                               */

/* Sum of every series of the metric name in body (-1: none). */
static double metric_sum(const nd_http_body_t *body, const char *name) {
        size_t n = strlen(name);
        double sum = -1;
        for (const char *p = body->buf; p && *p; p = strchr(p, '\n')) {
                p += *p == '\n';
                if (!strncmp(p, name, n) && (p[n] == '{' || p[n] == ' ')) {
                        const char *v = strchr(p, ' ');
                        sum = (sum < 0 ? 0 : sum) + (v ? atof(v + 1) : 0);
                }
        }
        return sum;
}

static void engine_start(nd_proc_t *p, const struct env *e, int products,
                         int *port) {
        const char *argv[] = {"run", "-c", e->cfg, NULL};
        char re[64];
        nd_proc_start(p, argv, NULL);
        snprintf(re, sizeof(re), "catalog loaded: %d products", products);
        if (!nd_proc_wait_log(p, "worker 0: [0-9]+ tasks", WAIT_MS) ||
            !nd_proc_wait_log(p, re, WAIT_MS)) {
                nd_proc_dump(p);
                ck_abort_msg("the engine did not start");
        }
        *port = nd_http_port_of(p);
        ck_assert_int_gt(*port, 0);
}

/*
 * Reads actions into recs until the engine has applied `records` input
 * records (events plus dead letters), with idle_clock every task's
 * watermark has followed the wall clock (events are months old, so a lag
 * under an hour means the idle advance happened), the read_committed
 * count equals nudge_actions_out_total and nothing changed for QUIET_MS.
 * Then stops the engine with SIGTERM and reads what a last commit may add.
 * Returns the events the engine counted as applied.
 */
static long engine_drain(nd_proc_t *p, int port, rd_kafka_t *c,
                         nd_kt_recs_t *recs, size_t records, bool idle_clock,
                         long *dead) {
        static nd_http_body_t body;
        int64_t start = nd_clock_mono_ms(), deadline = start + WAIT_MS;
        int64_t stable_since = -1;
        double in = 0, dlq = 0, out = -1, last_out = -2;
        size_t last_cnt = (size_t)-1;
        for (;;) {
                bool wm_ok = true;
                nd_kt_consume(c, (size_t)-1, 200, recs);
                if (nd_http_get(port, "/metrics", &body) != 200) {
                        nd_proc_dump(p);
                        ck_abort_msg("no /metrics (did the engine exit?)");
                }
                in = metric_sum(&body, "nudge_events_in_total");
                dlq = metric_sum(&body, "nudge_dead_letter_total");
                out = metric_sum(&body, "nudge_actions_out_total");
                for (int part = 0; idle_clock && part < PARTS; part++) {
                        char series[64];
                        double lag;
                        snprintf(
                            series, sizeof(series),
                            "nudge_watermark_lag_seconds{partition=\"%d\"}",
                            part);
                        lag = nd_http_metric(&body, series);
                        wm_ok = wm_ok && lag >= 0 && lag < 3600;
                }
                if ((in < 0 ? 0 : in) + (dlq < 0 ? 0 : dlq) >=
                        (double)records &&
                    wm_ok && (double)recs->cnt >= out && out >= 0 &&
                    recs->cnt == last_cnt && out == last_out) {
                        if (stable_since < 0)
                                stable_since = nd_clock_mono_ms();
                        else if (nd_clock_mono_ms() - stable_since >= QUIET_MS)
                                break;
                } else {
                        stable_since = -1;
                }
                last_cnt = recs->cnt;
                last_out = out;
                if (nd_clock_mono_ms() > deadline) {
                        nd_proc_dump(p);
                        ck_abort_msg("not done within %d ms: %.0f events and "
                                     "%.0f dead letters of %zu records, "
                                     "%zu actions read, %.0f out, watermarks "
                                     "%s",
                                     WAIT_MS, in, dlq, records, recs->cnt, out,
                                     wm_ok ? "ok" : "behind");
                }
        }
        fprintf(stderr,
                "live: %zu records applied in %.1f s, %zu actions (engine "
                "log %s)\n",
                records, (double)(nd_clock_mono_ms() - start) / 1000.0,
                recs->cnt, p->log);
        {
                double enforced =
                    nd_http_metric(&body, "nudge_records_enforced_total");
                /* Enforced records were applied out of the merge order:
                 * live and replay could then differ by design, so say it
                 * if a mismatch follows. */
                if (enforced > 0)
                        fprintf(stderr,
                                "live: %.0f records enforced past "
                                "processing.max_task_idle\n",
                                enforced);
        }
        ck_assert_int_eq(nd_proc_stop(p, SIGTERM, 30000), 0);
        nd_kt_consume(c, recs->cnt + 1, 1000, recs);
        *dead = (long)(dlq < 0 ? 0 : dlq);
        return (long)(in < 0 ? 0 : in);
}

/* `nudge replay` over events with partitions tasks (0: none, one task in
 * file order) and an end time (< 0: none) into out. Returns the events and
 * bad lines it reported. */
static void replay(const struct env *e, const char *events, const char *catalog,
                   int partitions, long long end, const char *out, long *good,
                   long *bad) {
        const char *argv[16];
        char parts[16], endt[32];
        int n = 0;
        nd_proc_t rp;
        char *log, *s;
        argv[n++] = "replay";
        argv[n++] = "-c";
        argv[n++] = e->cfg;
        argv[n++] = "--input";
        argv[n++] = events;
        argv[n++] = "--catalog";
        argv[n++] = catalog;
        argv[n++] = "--output";
        argv[n++] = out;
        if (partitions > 0) {
                snprintf(parts, sizeof(parts), "%d", partitions);
                argv[n++] = "--partitions";
                argv[n++] = parts;
        }
        if (end >= 0) {
                snprintf(endt, sizeof(endt), "%lld", end);
                argv[n++] = "--end-time";
                argv[n++] = endt;
        }
        argv[n] = NULL;
        if (nd_proc_run(&rp, argv, WAIT_MS) != 0) {
                nd_proc_dump(&rp);
                ck_abort_msg("nudge replay failed");
        }
        log = nd_test_slurp(rp.log, NULL);
        for (s = log; s && sscanf(s, "replay: %ld events, %ld bad lines", good,
                                  bad) != 2;
             s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL)
                ;
        ck_assert_msg(s != NULL, "no summary in replay's output: %s", log);
        nd_free(log);
        unlink(rp.log);
}

/*
 * The comparison every case ends with: live against replay --partitions 3
 * (end: the end time, < 0 none), the input counts (dead: the dead letters
 * the test produced), no action twice (ids_unique: no action_id twice),
 * at least min_actions actions, and replay --partitions 1 giving other
 * actions (else the trace could not tell a per-partition task from one
 * task, and the equality would prove less than it claims).
 */
static void compare_with_replay(const struct env *e, const nd_kt_recs_t *recs,
                                const char *events, const char *catalog,
                                long long end, long live_in, long live_dead,
                                size_t dead, bool ids_unique,
                                size_t min_actions) {
        avro_schema_t schema = action_schema();
        struct acts live = {0}, rep = {0}, rep1 = {0};
        char out3[256], out1[256];
        long good, bad, good1, bad1;
        snprintf(out3, sizeof(out3), "%s", nd_test_tmp_path("live", "rep3"));
        snprintf(out1, sizeof(out1), "%s", nd_test_tmp_path("live", "rep1"));
        replay(e, events, catalog, PARTS, end, out3, &good, &bad);
        replay(e, events, catalog, 1, end, out1, &good1, &bad1);
        acts_from_kafka(recs, schema, &live);
        acts_from_file(out3, schema, &rep);
        acts_from_file(out1, schema, &rep1);

        /* The engine applied and dead-lettered what replay read and
         * rejected, the dead letters the test made. */
        ck_assert_int_eq(live_in, good);
        ck_assert_int_eq(live_dead, bad);
        ck_assert_int_eq(bad, (long)dead);
        ck_assert_int_eq(good1, good);
        /* Nothing is delivered twice; and where every firing has an
         * action_id of its own, no id repeats. An upsell's id is
         * hash(trigger name, key, order_id) (TRIGGERS.md §3), and gen.py
         * completes an order_id twice now and then: two firings, one id,
         * in replay as well (the comparison below counts them). */
        ck_assert_msg(acts_dups(&live, true, true) == 0,
                      "an action was delivered twice live (above)");
        if (ids_unique)
                ck_assert_msg(acts_dups(&live, false, true) == 0,
                              "an action_id repeats live (above)");
        ck_assert_msg(acts_diff(&live, "live", &rep, "replay-3", true) == 0,
                      "live and replay --partitions 3 differ (above)");
        ck_assert_uint_ge(live.cnt, min_actions);
        ck_assert_msg(acts_diff(&rep, "replay-3", &rep1, "replay-1", false) > 0,
                      "replay --partitions 1 gives the same actions: the "
                      "trace does not tell tasks apart");
        acts_fini(&live);
        acts_fini(&rep);
        acts_fini(&rep1);
        avro_schema_decref(schema);
        unlink(out3);
        unlink(out1);
}

/* ------------------------------------------------------------------ */
/* 1. A backlog of nudge-gen traffic                                   */

static const char *nudge_gen_path(void) {
        return ND_BINARY_DIR "/tools/nudge-gen/nudge-gen";
}

START_TEST(backlog_of_generated_traffic_gives_replays_actions) {
        /* _i 0: exactly-once with Avro input; 1: at-least-once, JSON. */
        const char *guarantee = _i ? "at_least_once" : "exactly_once";
        const char *fmt = _i ? "json" : "avro";
        char events[256], catalog[256], errstr[512];
        const char *common[] = {"--seed",   GEN_SEED,        "--start-time",
                                GEN_START,  "--rate",        "0",
                                "--events", STR(GEN_EVENTS), "--customers",
                                "300",      "--sessions",    "100",
                                "-q"};
        const char *argv[32];
        size_t nc = sizeof(common) / sizeof(common[0]);
        struct env e;
        struct trace t;
        nd_kt_recs_t recs = {0};
        rd_kafka_t *c, *rk;
        nd_proc_t p;
        int port, n;
        long in, dead;
        long long end;

        env_init(&e);
        env_config(&e, guarantee, fmt, "1s", gen_triggers);
        snprintf(events, sizeof(events), "%s",
                 nd_test_tmp_path("live", "gen.jsonl"));
        snprintf(catalog, sizeof(catalog), "%s",
                 nd_test_tmp_path("live", "gen-catalog.jsonl"));

        /* The backlog, before the engine starts; then the same seed to a
         * file (the catalog goes to both). */
        n = 0;
        argv[n++] = nudge_gen_path();
        argv[n++] = "-c";
        argv[n++] = e.cfg;
        for (size_t i = 0; i < nc; i++)
                argv[n++] = common[i];
        argv[n] = NULL;
        ck_assert_int_eq(nd_proc_tool(argv, WAIT_MS), 0);
        n = 0;
        argv[n++] = nudge_gen_path();
        argv[n++] = "-c";
        argv[n++] = e.cfg;
        argv[n++] = "-o";
        argv[n++] = events;
        argv[n++] = "--catalog-out";
        argv[n++] = catalog;
        for (size_t i = 0; i < nc; i++)
                argv[n++] = common[i];
        argv[n] = NULL;
        ck_assert_int_eq(nd_proc_tool(argv, WAIT_MS), 0);

        /* The file and the topics hold the same events, topic by topic. */
        trace_load(&t, events);
        ck_assert_uint_eq(t.cnt, GEN_EVENTS);
        ck_assert_uint_eq(t.bad, 0);
        rk = nd_kt_producer_new(NULL, WAIT_MS, errstr, sizeof(errstr));
        ck_assert_msg(rk != NULL, "%s", errstr);
        for (int i = 0; i < ND_TOPIC__CNT; i++) {
                ck_assert_uint_gt(t.per_topic[i], 0);
                ck_assert_int_eq(topic_records(rk, e.topic[i]),
                                 (long long)t.per_topic[i]);
        }
        rd_kafka_destroy(rk);

        c = nd_kt_consumer_new(e.actions, NULL, ND_KT_READ_COMMITTED, errstr,
                               sizeof(errstr));
        ck_assert_msg(c != NULL, "%s", errstr);
        engine_start(&p, &e, 1000, &port);
        in = engine_drain(&p, port, c, &recs, t.cnt, true, &dead);
        end = nd_clock_wall_ms();
        compare_with_replay(&e, &recs, events, catalog, end, in, dead, 0, true,
                            1000);

        nd_kt_consumer_destroy(c);
        nd_kt_recs_fini(&recs);
        trace_fini(&t);
        unlink(events);
        unlink(catalog);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 2. Adversarial traces as a backlog                                  */

/* tests/diff/gen.py's trace of seed into dir (config.yaml, events.jsonl,
 * catalog.jsonl). It needs only Python's standard library. */
static void diff_trace(const char *seed, const char *events_n,
                       const char *dir) {
        const char *argv[] = {"python3",  ND_SOURCE_DIR "/tests/diff/gen.py",
                              "--seed",   seed,
                              "--events", events_n,
                              "--out",    dir,
                              NULL};
        ck_assert_int_eq(nd_proc_tool(argv, WAIT_MS), 0);
}

static void rm_trace(const char *dir) {
        static const char *const files[] = {"config.yaml", "events.jsonl",
                                            "catalog.jsonl", "end_time"};
        char path[512];
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
                unlink(path);
        }
        rmdir(dir);
}

/* Seeds whose traces replay --partitions 1 and 3 tell apart (checked). */
static const char *const diff_seeds[] = {"2", "3", "5"};

START_TEST(backlog_of_adversarial_trace_gives_replays_actions) {
        char dir[256], path[512], events[512], catalog[512], errstr[512];
        struct env e;
        struct trace t;
        nd_kt_recs_t recs = {0};
        rd_kafka_t *c, *rk;
        nd_proc_t p;
        int port, products;
        long in, dead;
        char *body;

        snprintf(dir, sizeof(dir), "%s",
                 nd_test_tmp_path("live", diff_seeds[_i]));
        diff_trace(diff_seeds[_i], "1500", dir);
        snprintf(path, sizeof(path), "%s/config.yaml", dir);
        snprintf(events, sizeof(events), "%s/events.jsonl", dir);
        snprintf(catalog, sizeof(catalog), "%s/catalog.jsonl", dir);
        body = nd_test_slurp(path, NULL);
        env_init(&e);
        env_config(&e, "exactly_once", NULL, "1s", body);
        nd_free(body);

        trace_load(&t, events);
        ck_assert_uint_gt(t.bad, 0); /* dead letters are part of the test */
        rk = trace_producer_new();
        products = produce_catalog(rk, &e, catalog);
        produce_trace(rk, &e, &t, NULL, false);
        rd_kafka_destroy(rk);

        c = nd_kt_consumer_new(e.actions, NULL, ND_KT_READ_COMMITTED, errstr,
                               sizeof(errstr));
        ck_assert_msg(c != NULL, "%s", errstr);
        engine_start(&p, &e, products, &port);
        in = engine_drain(&p, port, c, &recs, t.cnt, true, &dead);
        compare_with_replay(&e, &recs, events, catalog, nd_clock_wall_ms(), in,
                            dead, t.bad, false, 300);

        nd_kt_consumer_destroy(c);
        nd_kt_recs_fini(&recs);
        trace_fini(&t);
        rm_trace(dir);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 3. Events produced while the engine runs                            */

/*
 * The order to produce t in so that live applies each task's events in
 * the order replay --partitions PARTS merges them: per task, the lanes
 * (one per topic, file order) merged by timestamp, ties to the lower
 * topic; the tasks (and the dead letters, which both sides reject)
 * interleaved by file position. A dead letter is in no lane: replay skips
 * it, live hands it out at once (it has no event time, kio_group.c).
 *
 * Why not file order: produced one at a time, each record is applied as
 * it arrives (the task's other partitions are at their end), while replay
 * sees the whole file and takes the lane head with the smallest
 * timestamp. A file with [cart@10, click@5] is applied cart, click live
 * and click, cart by replay: neither is wrong, live cannot wait for an
 * event nobody has produced yet. Late events within one topic stay: the
 * lanes keep their own order, live and replay alike.
 */
static size_t *merge_order(const struct trace *t) {
        size_t *order = nd_malloc((t->cnt + 1) * sizeof(*order));
        size_t *seq[PARTS], seq_cnt[PARTS] = {0}, head[PARTS] = {0};
        size_t n = 0, bad = 0;
        for (int k = 0; k < PARTS; k++) {
                size_t cur[ND_TOPIC__CNT] = {0};
                seq[k] = nd_malloc((t->cnt + 1) * sizeof(*seq[k]));
                for (;;) {
                        int best = -1;
                        for (int tp = 0; tp < ND_TOPIC__CNT; tp++) {
                                while (cur[tp] < t->cnt &&
                                       (t->v[cur[tp]].task != k ||
                                        t->v[cur[tp]].topic != tp))
                                        cur[tp]++;
                                if (cur[tp] < t->cnt &&
                                    (best < 0 ||
                                     t->v[cur[tp]].ts < t->v[cur[best]].ts))
                                        best = tp;
                        }
                        if (best < 0)
                                break;
                        seq[k][seq_cnt[k]++] = cur[best]++;
                }
        }
        while (n < t->cnt) {
                size_t pick = (size_t)-1;
                int from = -1;
                while (bad < t->cnt && t->v[bad].task >= 0)
                        bad++;
                if (bad < t->cnt)
                        pick = bad;
                for (int k = 0; k < PARTS; k++)
                        if (head[k] < seq_cnt[k] && seq[k][head[k]] < pick) {
                                pick = seq[k][head[k]];
                                from = k;
                        }
                order[n++] = pick;
                if (from < 0)
                        bad++;
                else
                        head[from]++;
        }
        for (int k = 0; k < PARTS; k++)
                nd_free(seq[k]);
        return order;
}

static void write_lines(const char *path, const struct trace *t,
                        const size_t *order) {
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        for (size_t i = 0; i < t->cnt; i++)
                fprintf(f, "%s\n", t->v[order[i]].text);
        ck_assert_int_eq(fclose(f), 0);
}

/*
 * When this case fails and the backlog cases pass, live applied a record
 * before one that was produced, and delivered, earlier on another
 * partition of its task: e.g. the partition group trusting a partition's
 * end-of-partition event while librdkafka is still handing out the fetch
 * response that holds that partition's next record (it enqueues a
 * response partition by partition, and a poll can fall in between). The
 * differences printed name the customer; replaying its task's events in
 * merge order with one adjacent pair swapped finds the pair.
 */
START_TEST(events_produced_while_running_give_replays_actions) {
        char dir[256], path[512], events[512], catalog[512], merged[512];
        char errstr[512];
        const char *seed = "4";
        struct env e;
        struct trace t;
        struct acts a = {0}, b = {0};
        nd_kt_recs_t recs = {0};
        rd_kafka_t *c, *rk;
        nd_proc_t p;
        int port, products;
        long in, dead, good, bad;
        size_t *order;
        char *body;
        avro_schema_t schema;

        snprintf(dir, sizeof(dir), "%s", nd_test_tmp_path("live", "run"));
        diff_trace(seed, "1500", dir);
        snprintf(path, sizeof(path), "%s/config.yaml", dir);
        snprintf(events, sizeof(events), "%s/events.jsonl", dir);
        snprintf(catalog, sizeof(catalog), "%s/catalog.jsonl", dir);
        snprintf(merged, sizeof(merged), "%s/merged.jsonl", dir);
        body = nd_test_slurp(path, NULL);
        env_init(&e);
        /* The idle clock never fires within the test: every firing is due
         * to an event, so replay needs no end time. A record waits 50 ms
         * for records of its task's other topics fetched in the same
         * moment (librdkafka hands a fetch response over partition by
         * partition; without the grace the engine applied a record before
         * one produced and acknowledged earlier on another topic, 6 runs
         * in 10: docs/design.md). */
        {
                size_t n = strlen(body) + 64;
                char *b2 = nd_malloc(n);
                snprintf(b2, n, "processing.cross_topic_grace: 50ms\n%s", body);
                env_config(&e, "exactly_once", NULL, "1h", b2);
                nd_free(b2);
        }
        nd_free(body);
        trace_load(&t, events);
        order = merge_order(&t);

        /* The order is replay's own: replay over the file written in it
         * gives what replay over the trace gives. */
        write_lines(merged, &t, order);
        {
                char o1[512], o2[512];
                long g2, b2;
                snprintf(o1, sizeof(o1), "%s/a.jsonl", dir);
                snprintf(o2, sizeof(o2), "%s/b.jsonl", dir);
                schema = action_schema();
                replay(&e, events, catalog, PARTS, -1, o1, &good, &bad);
                replay(&e, merged, catalog, PARTS, -1, o2, &g2, &b2);
                acts_from_file(o1, schema, &a);
                acts_from_file(o2, schema, &b);
                ck_assert_msg(acts_diff(&a, "trace", &b, "merged", true) == 0,
                              "merge_order() is not replay's merge");
                acts_fini(&a);
                acts_fini(&b);
                avro_schema_decref(schema);
                unlink(o1);
                unlink(o2);
        }

        rk = trace_producer_new();
        products = produce_catalog(rk, &e, catalog);
        c = nd_kt_consumer_new(e.actions, NULL, ND_KT_READ_COMMITTED, errstr,
                               sizeof(errstr));
        ck_assert_msg(c != NULL, "%s", errstr);
        engine_start(&p, &e, products, &port);
        produce_trace(rk, &e, &t, order, true);
        rd_kafka_destroy(rk);
        in = engine_drain(&p, port, c, &recs, t.cnt, false, &dead);
        compare_with_replay(&e, &recs, events, catalog, -1, in, dead, t.bad,
                            false, 100);

        nd_free(order);
        unlink(merged);
        nd_kt_consumer_destroy(c);
        nd_kt_recs_fini(&recs);
        trace_fini(&t);
        rm_trace(dir);
}
END_TEST

static Suite *live_suite(void) {
        Suite *s = suite_create("live");
        TCase *tc = tcase_create("backlog");
        tcase_set_timeout(tc, 240);
        tcase_add_loop_test(
            tc, backlog_of_generated_traffic_gives_replays_actions, 0, 2);
        suite_add_tcase(s, tc);
        tc = tcase_create("adversarial");
        tcase_set_timeout(tc, 240);
        tcase_add_loop_test(
            tc, backlog_of_adversarial_trace_gives_replays_actions, 0,
            (int)(sizeof(diff_seeds) / sizeof(diff_seeds[0])));
        suite_add_tcase(s, tc);
        tc = tcase_create("while_running");
        tcase_set_timeout(tc, 240);
        tcase_add_test(tc, events_produced_while_running_give_replays_actions);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(live_suite());
}
