/*
 * nd_kafka_test.c — see nd_kafka_test.h.
 *
 * OVERALL DESIGN: every helper opens the librdkafka handle it needs and
 * closes it before returning (topic creation, one-shot produce, committed
 * offsets), unless it hands the handle to the test (producers, consumers).
 * Short-lived handles cost a connection each, which is nothing next to a
 * broker round trip, and they keep tests free of shared client state.
 * Waits poll the broker with a deadline taken from the monotonic clock.
 */
#include "nd_kafka_test.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include <librdkafka/rdkafka_mock.h>

#include "clock.h"
#include "log.h"
#include "mem.h"
#include "nd_test.h"

#define LOG_MOD "kafka-test"

/* Failed deliveries of every producer made here (nd_kt_delivery_failures). */
static atomic_int delivery_failures;

const char *nd_kt_bootstrap(void) {
        const char *bs = getenv("ND_TEST_BOOTSTRAP");
        if (!bs || !*bs)
                ck_abort_msg("ND_TEST_BOOTSTRAP is not set: this test needs "
                             "a Kafka broker. Run scripts/kafka.sh start, "
                             "then set -a; . .cache/kafka/run/broker.env; "
                             "set +a (docs/internals/TEST-BROKER.md)");
        return bs;
}

const char *nd_kt_version(void) {
        const char *v = getenv("ND_TEST_KAFKA_VERSION");
        return v && *v ? v : "unknown";
}

char *nd_kt_unique_name(char *buf, size_t size, const char *prefix) {
        static atomic_uint counter;
        uint32_t rnd = 0;
        /* The pid and the counter make names unique within one machine's
         * run; the random part keeps them apart across runs that reuse a
         * broker, where pids repeat. */
        if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
                rnd = (uint32_t)nd_clock_mono_ns();
        snprintf(buf, size, "%s-%ld-%u-%08" PRIx32, prefix, (long)getpid(),
                 atomic_fetch_add(&counter, 1) + 1, rnd);
        return buf;
}

static nd_err_t conf_set(rd_kafka_conf_t *conf, const char *name,
                         const char *value, char *errstr, size_t errstr_size) {
        if (rd_kafka_conf_set(conf, name, value, errstr, errstr_size) !=
            RD_KAFKA_CONF_OK)
                return ND_ERR_CONFIG;
        return ND_OK;
}

rd_kafka_conf_t *nd_kt_conf(void) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char errstr[256];
        if (conf_set(conf, "bootstrap.servers", nd_kt_bootstrap(), errstr,
                     sizeof(errstr)) != ND_OK ||
            conf_set(conf, "client.id", "nd-test", errstr, sizeof(errstr)) !=
                ND_OK)
                ck_abort_msg("librdkafka rejects the test config: %s", errstr);
        return conf;
}

int nd_kt_topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_t *own = NULL;
        rd_kafka_resp_err_t kerr;
        int n = 0;

        if (!rk) {
                char errstr[256];
                rd_kafka_conf_t *conf = nd_kt_conf();
                own = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr,
                                   sizeof(errstr));
                if (!own) {
                        rd_kafka_conf_destroy(conf);
                        nd_log_warn(LOG_MOD, "rd_kafka_new: %s", errstr);
                        return ND_ERR_KAFKA;
                }
                rk = own;
        }
        /* All topics rather than one: asking for one topic by name through
         * a producer handle would request its auto-creation. */
        kerr = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
        if (kerr) {
                n = kerr == RD_KAFKA_RESP_ERR__TIMED_OUT ? ND_ERR_TIMEOUT
                                                         : ND_ERR_KAFKA;
                goto out;
        }
        for (int i = 0; i < md->topic_cnt; i++) {
                const rd_kafka_metadata_topic_t *t = &md->topics[i];
                if (strcmp(t->topic, topic) != 0 || t->err)
                        continue;
                /* Only partitions that can be written to count. */
                for (int p = 0; p < t->partition_cnt; p++)
                        if (!t->partitions[p].err &&
                            t->partitions[p].leader >= 0)
                                n++;
        }
out:
        if (md)
                rd_kafka_metadata_destroy(md);
        if (own)
                rd_kafka_destroy(own);
        return n;
}

nd_err_t nd_kt_create_topic(const char *topic, int partitions,
                            const char *const *config, int timeout_ms,
                            char *errstr, size_t errstr_size) {
        rd_kafka_conf_t *conf = nd_kt_conf();
        rd_kafka_t *rk = NULL;
        rd_kafka_NewTopic_t *nt = NULL;
        rd_kafka_AdminOptions_t *opts = NULL;
        rd_kafka_queue_t *q = NULL;
        rd_kafka_event_t *ev = NULL;
        const rd_kafka_CreateTopics_result_t *res;
        const rd_kafka_topic_result_t **tres;
        size_t tcnt = 0;
        int64_t deadline = nd_clock_mono_ms() + timeout_ms;
        nd_err_t err = ND_ERR_KAFKA;

        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
        if (!rk) {
                rd_kafka_conf_destroy(conf);
                goto out;
        }
        nt = rd_kafka_NewTopic_new(topic, partitions, 1, errstr, errstr_size);
        if (!nt) {
                err = ND_ERR_INVAL;
                goto out;
        }
        for (; config && config[0]; config += 2) {
                if (!config[1]) {
                        snprintf(errstr, errstr_size, "config %s has no value",
                                 config[0]);
                        err = ND_ERR_INVAL;
                        goto out;
                }
                if (rd_kafka_NewTopic_set_config(nt, config[0], config[1])) {
                        snprintf(errstr, errstr_size, "bad config %s=%s",
                                 config[0], config[1]);
                        err = ND_ERR_INVAL;
                        goto out;
                }
        }
        opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        /* The operation timeout makes the broker answer only once the
         * topic is created, not merely accepted. */
        if (rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms,
                                                        errstr, errstr_size) ||
            rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, errstr,
                                                      errstr_size))
                goto out;
        q = rd_kafka_queue_new(rk);
        rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
        ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
        if (!ev) {
                snprintf(errstr, errstr_size, "CreateTopics %s: no answer",
                         topic);
                err = ND_ERR_TIMEOUT;
                goto out;
        }
        if (rd_kafka_event_error(ev)) {
                snprintf(errstr, errstr_size, "CreateTopics %s: %s", topic,
                         rd_kafka_event_error_string(ev));
                goto out;
        }
        res = rd_kafka_event_CreateTopics_result(ev);
        tres = rd_kafka_CreateTopics_result_topics(res, &tcnt);
        if (tcnt != 1 || rd_kafka_topic_result_error(tres[0])) {
                snprintf(errstr, errstr_size, "CreateTopics %s: %s", topic,
                         tcnt == 1 ? rd_kafka_topic_result_error_string(tres[0])
                                   : "no topic in the result");
                goto out;
        }
        /* Created on the controller; wait until the broker's metadata has
         * every partition with a leader, so that the test can produce. */
        for (;;) {
                int64_t left = deadline - nd_clock_mono_ms();
                int n = nd_kt_topic_partitions(rk, topic, 2000);
                if (n == partitions) {
                        err = ND_OK;
                        break;
                }
                if (left <= 0) {
                        snprintf(errstr, errstr_size,
                                 "topic %s: %d of %d partitions ready after "
                                 "%d ms",
                                 topic, n, partitions, timeout_ms);
                        err = ND_ERR_TIMEOUT;
                        break;
                }
                nd_test_pause_ms(50);
        }
out:
        if (ev)
                rd_kafka_event_destroy(ev);
        if (q)
                rd_kafka_queue_destroy(q);
        if (opts)
                rd_kafka_AdminOptions_destroy(opts);
        if (nt)
                rd_kafka_NewTopic_destroy(nt);
        if (rk)
                rd_kafka_destroy(rk);
        return err;
}

/* Delivery reports: counted process-wide, and per call when the producer's
 * opaque is a counter (nd_kt_produce). */
static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg,
                      void *opaque) {
        if (!msg->err)
                return;
        atomic_fetch_add(&delivery_failures, 1);
        if (opaque)
                atomic_fetch_add((atomic_int *)opaque, 1);
        nd_log_warn(LOG_MOD, "delivery to %s [%" PRId32 "] failed: %s",
                    rd_kafka_topic_name(msg->rkt), msg->partition,
                    rd_kafka_err2str(msg->err));
}

static rd_kafka_t *producer_new(const char *transactional_id,
                                atomic_int *failures, int timeout_ms,
                                char *errstr, size_t errstr_size) {
        rd_kafka_conf_t *conf = nd_kt_conf();
        rd_kafka_t *rk = NULL;
        rd_kafka_error_t *error;

        if (conf_set(conf, "acks", "all", errstr, errstr_size) ||
            conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) ||
            conf_set(conf, "linger.ms", "5", errstr, errstr_size) ||
            /* records up to the broker's limit (~1 MiB), not the client's */
            conf_set(conf, "message.max.bytes", "2000000", errstr,
                     errstr_size) ||
            (transactional_id &&
             conf_set(conf, "transactional.id", transactional_id, errstr,
                      errstr_size))) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
        rd_kafka_conf_set_opaque(conf, failures);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
        if (!rk) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        if (!transactional_id)
                return rk;
        error = rd_kafka_init_transactions(rk, timeout_ms);
        if (error) {
                snprintf(errstr, errstr_size, "init_transactions: %s",
                         rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
                rd_kafka_destroy(rk);
                return NULL;
        }
        return rk;
}

rd_kafka_t *nd_kt_producer_new(const char *transactional_id, int timeout_ms,
                               char *errstr, size_t errstr_size) {
        return producer_new(transactional_id, NULL, timeout_ms, errstr,
                            errstr_size);
}

int nd_kt_delivery_failures(void) {
        return atomic_load(&delivery_failures);
}

nd_err_t nd_kt_flush(rd_kafka_t *rk, int timeout_ms) {
        if (rd_kafka_flush(rk, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return ND_ERR_TIMEOUT;
        return ND_OK;
}

static rd_kafka_resp_err_t send_one(rd_kafka_t *rk, const char *topic,
                                    int32_t partition, const nd_kt_msg_t *m) {
        rd_kafka_headers_t *hdrs = NULL;
        rd_kafka_resp_err_t kerr;

        if (m->header_cnt > 0) {
                hdrs = rd_kafka_headers_new(m->header_cnt);
                for (size_t i = 0; i < m->header_cnt; i++)
                        rd_kafka_header_add(hdrs, m->headers[i].name, -1,
                                            m->headers[i].value,
                                            (ssize_t)m->headers[i].size);
        }
        kerr = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(m->key, m->key_len),
            RD_KAFKA_V_VALUE((void *)m->value, m->value_len),
            RD_KAFKA_V_TIMESTAMP(m->timestamp), RD_KAFKA_V_HEADERS(hdrs),
            RD_KAFKA_V_END);
        /* The headers belong to the message only once it is queued. */
        if (kerr && hdrs)
                rd_kafka_headers_destroy(hdrs);
        return kerr;
}

nd_err_t nd_kt_send(rd_kafka_t *rk, const char *topic, int32_t partition,
                    const nd_kt_msg_t *msgs, size_t cnt, char *errstr,
                    size_t errstr_size) {
        int64_t deadline = nd_clock_mono_ms() + ND_KT_TIMEOUT_MS;

        for (size_t i = 0; i < cnt; i++) {
                rd_kafka_resp_err_t kerr;
                while ((kerr = send_one(rk, topic, partition, &msgs[i])) ==
                           RD_KAFKA_RESP_ERR__QUEUE_FULL &&
                       nd_clock_mono_ms() < deadline)
                        rd_kafka_poll(rk, 100);
                if (kerr) {
                        snprintf(errstr, errstr_size,
                                 "produce to %s [%" PRId32 "]: %s", topic,
                                 partition, rd_kafka_err2str(kerr));
                        return ND_ERR_KAFKA;
                }
                rd_kafka_poll(rk, 0);
        }
        return ND_OK;
}

nd_err_t nd_kt_produce(const char *topic, int32_t partition,
                       const nd_kt_msg_t *msgs, size_t cnt, int timeout_ms,
                       char *errstr, size_t errstr_size) {
        atomic_int failures = 0;
        rd_kafka_t *rk;
        nd_err_t err;

        rk = producer_new(NULL, &failures, timeout_ms, errstr, errstr_size);
        if (!rk)
                return ND_ERR_KAFKA;
        err = nd_kt_send(rk, topic, partition, msgs, cnt, errstr, errstr_size);
        if (err)
                goto out;
        if ((err = nd_kt_flush(rk, timeout_ms)) != ND_OK) {
                snprintf(errstr, errstr_size,
                         "%d of %zu records to %s not delivered in %d ms",
                         rd_kafka_outq_len(rk), cnt, topic, timeout_ms);
                goto out;
        }
        if (atomic_load(&failures)) {
                snprintf(errstr, errstr_size, "%d of %zu records to %s failed",
                         atomic_load(&failures), cnt, topic);
                err = ND_ERR_KAFKA;
        }
out:
        rd_kafka_destroy(rk);
        return err;
}

static rd_kafka_t *consumer_new(const char *group_id,
                                nd_kt_isolation_t isolation, char *errstr,
                                size_t errstr_size) {
        rd_kafka_conf_t *conf = nd_kt_conf();
        rd_kafka_t *rk;
        char group[ND_KT_NAME_MAX];

        if (!group_id)
                group_id = nd_kt_unique_name(group, sizeof(group), "nd-grp");
        if (conf_set(conf, "group.id", group_id, errstr, errstr_size) ||
            conf_set(conf, "auto.offset.reset", "earliest", errstr,
                     errstr_size) ||
            conf_set(conf, "enable.auto.commit", "false", errstr,
                     errstr_size) ||
            conf_set(conf, "enable.partition.eof", "false", errstr,
                     errstr_size) ||
            conf_set(conf, "isolation.level",
                     isolation == ND_KT_READ_COMMITTED ? "read_committed"
                                                       : "read_uncommitted",
                     errstr, errstr_size)) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
        if (!rk) {
                rd_kafka_conf_destroy(conf);
                return NULL;
        }
        rd_kafka_poll_set_consumer(rk);
        return rk;
}

rd_kafka_t *nd_kt_consumer_new(const char *topic, const char *group_id,
                               nd_kt_isolation_t isolation, char *errstr,
                               size_t errstr_size) {
        rd_kafka_t *rk = consumer_new(group_id, isolation, errstr, errstr_size);
        rd_kafka_topic_partition_list_t *topics;
        rd_kafka_resp_err_t kerr;

        if (!rk)
                return NULL;
        topics = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
        kerr = rd_kafka_subscribe(rk, topics);
        rd_kafka_topic_partition_list_destroy(topics);
        if (kerr) {
                snprintf(errstr, errstr_size, "subscribe %s: %s", topic,
                         rd_kafka_err2str(kerr));
                nd_kt_consumer_destroy(rk);
                return NULL;
        }
        return rk;
}

void nd_kt_consumer_destroy(rd_kafka_t *rk) {
        if (!rk)
                return;
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
}

static char *copy_bytes(const void *p, size_t len) {
        char *s;
        if (!p)
                return NULL;
        s = nd_malloc(len + 1);
        memcpy(s, p, len);
        s[len] = '\0';
        return s;
}

static void rec_copy(nd_kt_rec_t *rec, const rd_kafka_message_t *msg) {
        rd_kafka_headers_t *hdrs = NULL;

        memset(rec, 0, sizeof(*rec));
        rec->topic = nd_strdup(rd_kafka_topic_name(msg->rkt));
        rec->partition = msg->partition;
        rec->offset = msg->offset;
        rec->timestamp = rd_kafka_message_timestamp(msg, NULL);
        rec->key = copy_bytes(msg->key, msg->key_len);
        rec->key_len = msg->key_len;
        rec->value = copy_bytes(msg->payload, msg->len);
        rec->value_len = msg->len;
        if (rd_kafka_message_headers(msg, &hdrs) || !hdrs)
                return;
        rec->header_cnt = rd_kafka_header_cnt(hdrs);
        if (!rec->header_cnt)
                return;
        rec->headers = nd_calloc(rec->header_cnt, sizeof(*rec->headers));
        for (size_t i = 0; i < rec->header_cnt; i++) {
                const char *name;
                const void *val;
                size_t size;
                nd_kt_header_t *h = &rec->headers[i];
                if (rd_kafka_header_get_all(hdrs, i, &name, &val, &size))
                        break;
                h->name = nd_strdup(name);
                h->value = copy_bytes(val, size);
                h->size = size;
        }
}

size_t nd_kt_consume(rd_kafka_t *rk, size_t want, int timeout_ms,
                     nd_kt_recs_t *recs) {
        int64_t deadline = nd_clock_mono_ms() + timeout_ms;

        while (recs->cnt < want) {
                int64_t left = deadline - nd_clock_mono_ms();
                rd_kafka_message_t *msg;
                if (left <= 0)
                        break;
                msg = rd_kafka_consumer_poll(rk, left < 200 ? (int)left : 200);
                if (!msg)
                        continue;
                if (msg->err) {
                        char reason[256];
                        rd_kafka_resp_err_t fatal;
                        nd_log_warn(LOG_MOD, "consumer: %s",
                                    rd_kafka_message_errstr(msg));
                        rd_kafka_message_destroy(msg);
                        fatal =
                            rd_kafka_fatal_error(rk, reason, sizeof(reason));
                        if (fatal) {
                                nd_log_error(LOG_MOD, "consumer fatal: %s",
                                             reason);
                                break;
                        }
                        continue;
                }
                if (recs->cnt == recs->cap) {
                        recs->cap = recs->cap ? recs->cap * 2 : 16;
                        recs->v =
                            nd_realloc(recs->v, recs->cap * sizeof(*recs->v));
                }
                rec_copy(&recs->v[recs->cnt++], msg);
                rd_kafka_message_destroy(msg);
        }
        return recs->cnt;
}

void nd_kt_recs_fini(nd_kt_recs_t *recs) {
        for (size_t i = 0; i < recs->cnt; i++) {
                nd_kt_rec_t *rec = &recs->v[i];
                for (size_t h = 0; h < rec->header_cnt; h++) {
                        nd_free((void *)rec->headers[h].name);
                        nd_free((void *)rec->headers[h].value);
                }
                nd_free(rec->headers);
                nd_free(rec->topic);
                nd_free(rec->key);
                nd_free(rec->value);
        }
        nd_free(recs->v);
        memset(recs, 0, sizeof(*recs));
}

const nd_kt_header_t *nd_kt_rec_header(const nd_kt_rec_t *rec,
                                       const char *name) {
        for (size_t i = 0; i < rec->header_cnt; i++)
                if (rec->headers[i].name &&
                    strcmp(rec->headers[i].name, name) == 0)
                        return &rec->headers[i];
        return NULL;
}

const nd_kt_rec_t *nd_kt_recs_find(const nd_kt_recs_t *recs, const char *key) {
        size_t len = strlen(key);
        for (size_t i = 0; i < recs->cnt; i++)
                if (recs->v[i].key && recs->v[i].key_len == len &&
                    memcmp(recs->v[i].key, key, len) == 0)
                        return &recs->v[i];
        return NULL;
}

nd_err_t nd_kt_topic_config(const char *topic, const char *name, char *value,
                            size_t value_size, int timeout_ms, char *errstr,
                            size_t errstr_size) {
        rd_kafka_conf_t *conf = nd_kt_conf();
        rd_kafka_t *rk;
        rd_kafka_ConfigResource_t *cr = NULL;
        rd_kafka_queue_t *q = NULL;
        rd_kafka_event_t *ev = NULL;
        const rd_kafka_ConfigResource_t **rs;
        const rd_kafka_ConfigEntry_t **entries;
        size_t rcnt = 0, ecnt = 0;
        nd_err_t err = ND_ERR_KAFKA;

        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
        if (!rk) {
                rd_kafka_conf_destroy(conf);
                return ND_ERR_KAFKA;
        }
        cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
        q = rd_kafka_queue_new(rk);
        rd_kafka_DescribeConfigs(rk, &cr, 1, NULL, q);
        ev = rd_kafka_queue_poll(q, timeout_ms);
        if (!ev) {
                snprintf(errstr, errstr_size, "DescribeConfigs %s: no answer",
                         topic);
                err = ND_ERR_TIMEOUT;
                goto out;
        }
        if (rd_kafka_event_error(ev)) {
                snprintf(errstr, errstr_size, "DescribeConfigs %s: %s", topic,
                         rd_kafka_event_error_string(ev));
                goto out;
        }
        rs = rd_kafka_DescribeConfigs_result_resources(
            rd_kafka_event_DescribeConfigs_result(ev), &rcnt);
        if (rcnt != 1 || rd_kafka_ConfigResource_error(rs[0])) {
                snprintf(errstr, errstr_size, "DescribeConfigs %s: %s", topic,
                         rcnt == 1 ? rd_kafka_ConfigResource_error_string(rs[0])
                                   : "no resource in the result");
                goto out;
        }
        entries = rd_kafka_ConfigResource_configs(rs[0], &ecnt);
        for (size_t i = 0; i < ecnt; i++) {
                const char *v;
                if (strcmp(rd_kafka_ConfigEntry_name(entries[i]), name) != 0)
                        continue;
                v = rd_kafka_ConfigEntry_value(entries[i]);
                snprintf(value, value_size, "%s", v ? v : "");
                err = ND_OK;
                goto out;
        }
        snprintf(errstr, errstr_size, "topic %s has no config %s", topic, name);
        err = ND_ERR_NOENT;
out:
        if (ev)
                rd_kafka_event_destroy(ev);
        if (q)
                rd_kafka_queue_destroy(q);
        rd_kafka_ConfigResource_destroy(cr);
        rd_kafka_destroy(rk);
        return err;
}

nd_err_t nd_kt_committed(const char *group_id, const char *topic,
                         int32_t partition, int64_t *offset, int timeout_ms,
                         char *errstr, size_t errstr_size) {
        /* read_committed makes librdkafka's OffsetFetch require stable
         * offsets (KIP-447): an offset still pending in an open
         * transaction is waited for, not reported stale. */
        rd_kafka_t *rk =
            consumer_new(group_id, ND_KT_READ_COMMITTED, errstr, errstr_size);
        rd_kafka_topic_partition_list_t *parts;
        rd_kafka_resp_err_t kerr;
        nd_err_t err = ND_OK;

        *offset = RD_KAFKA_OFFSET_INVALID;
        if (!rk)
                return ND_ERR_KAFKA;
        parts = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(parts, topic, partition);
        kerr = rd_kafka_committed(rk, parts, timeout_ms);
        if (!kerr)
                kerr = parts->elems[0].err;
        if (kerr) {
                snprintf(errstr, errstr_size,
                         "committed offset of %s on %s [%" PRId32 "]: %s",
                         group_id, topic, partition, rd_kafka_err2str(kerr));
                err = kerr == RD_KAFKA_RESP_ERR__TIMED_OUT ? ND_ERR_TIMEOUT
                                                           : ND_ERR_KAFKA;
        } else {
                *offset = parts->elems[0].offset;
        }
        rd_kafka_topic_partition_list_destroy(parts);
        nd_kt_consumer_destroy(rk);
        return err;
}

nd_err_t nd_kt_end_offset(const char *topic, int32_t partition, int64_t *end,
                          int timeout_ms, char *errstr, size_t errstr_size) {
        rd_kafka_conf_t *conf = nd_kt_conf();
        rd_kafka_t *rk;
        rd_kafka_resp_err_t kerr;
        int64_t lo = -1;

        *end = -1;
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
        if (!rk) {
                rd_kafka_conf_destroy(conf);
                return ND_ERR_KAFKA;
        }
        kerr = rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, end,
                                                timeout_ms);
        rd_kafka_destroy(rk);
        if (kerr) {
                snprintf(errstr, errstr_size,
                         "end offset of %s [%" PRId32 "]: %s", topic, partition,
                         rd_kafka_err2str(kerr));
                return kerr == RD_KAFKA_RESP_ERR__TIMED_OUT ? ND_ERR_TIMEOUT
                                                            : ND_ERR_KAFKA;
        }
        return ND_OK;
}

struct nd_kt_mock_s {
        rd_kafka_t *rk; /* hosts the cluster's thread */
        rd_kafka_mock_cluster_t *mc;
};

nd_kt_mock_t *nd_kt_mock_new(int brokers, char *errstr, size_t errstr_size) {
        nd_kt_mock_t *m = nd_calloc(1, sizeof(*m));
        rd_kafka_conf_t *conf = rd_kafka_conf_new();

        /* The host handle connects nowhere: keep its "no bootstrap.servers"
         * notice out of the test's output. */
        rd_kafka_conf_set(conf, "log_level", "4", errstr, errstr_size);
        m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
        if (!m->rk) {
                rd_kafka_conf_destroy(conf);
                goto fail;
        }
        m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
        if (!m->mc) {
                snprintf(errstr, errstr_size, "rd_kafka_mock_cluster_new");
                goto fail;
        }
        setenv("ND_TEST_BOOTSTRAP", rd_kafka_mock_cluster_bootstraps(m->mc), 1);
        setenv("ND_TEST_KAFKA_VERSION", "librdkafka mock", 1);
        return m;
fail:
        nd_kt_mock_destroy(m);
        return NULL;
}

const char *nd_kt_mock_bootstraps(const nd_kt_mock_t *mock) {
        return rd_kafka_mock_cluster_bootstraps(mock->mc);
}

nd_err_t nd_kt_mock_topic(nd_kt_mock_t *mock, const char *topic,
                          int partitions) {
        return rd_kafka_mock_topic_create(mock->mc, topic, partitions, 1)
                   ? ND_ERR_KAFKA
                   : ND_OK;
}

void nd_kt_mock_destroy(nd_kt_mock_t *mock) {
        if (!mock)
                return;
        if (mock->mc)
                rd_kafka_mock_cluster_destroy(mock->mc);
        if (mock->rk)
                rd_kafka_destroy(mock->rk);
        nd_free(mock);
}
