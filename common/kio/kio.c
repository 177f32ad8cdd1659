/*
 * kio.c — Kafka I/O on librdkafka. OVERALL DESIGN
 *
 * Each worker has one consumer and one producer (the Kafka Streams
 * StreamThread model, DESIGN.md "Threads"). Records are taken in batches of
 * "whatever is already fetched" (a blocking poll for the first, then
 * non-blocking polls) rather than with rd_kafka_consume_batch_queue(), which
 * waits for a full batch or its whole timeout and would add that wait to the
 * latency of every action at low rates.
 *
 * Partition assignment uses the range assignor, not cooperative-sticky.
 * WHY: a task is one partition number of the co-partitioned event topics,
 * so partition p of clickstream, cart and purchase must land on the same
 * consumer. The range assignor guarantees that for topics of equal partition
 * counts (it assigns each topic's partitions in the same member order);
 * the sticky assignors balance partitions across topics and do not, and
 * librdkafka has no API for a co-partition-aware assignor like Kafka
 * Streams' own. Static membership (group.instance.id) keeps restarts from
 * rebalancing at all, which recovers most of what cooperative rebalancing
 * would give.
 *
 * Exactly-once follows librdkafka's transactions example: one transaction
 * per commit interval carrying outputs and input positions
 * (send_offsets_to_transaction with the consumer group metadata, KIP-447),
 * abort + rewind on abortable errors, stop on fatal ones. See kio.h.
 *
 * This file holds the configuration, the worker's clients, their poll and
 * produce paths (delivery reports included) and the position queries; the
 * commit protocol and rebalances are in kio_commit.c, topics and the
 * embedded broker in kio_admin.c, table readers and the tools' clients in
 * kio_table.c (the map: kio_int.h; the protocol: docs/internals/COMMIT.md).
 */
#include "kio_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "mem.h"

#define KIO_FETCH_WAIT_MS "50" /* consumers' fetch.wait.max.ms */

const char *nd_kio_version(void) {
        return rd_kafka_version_str();
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */

void nd__kio_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                    const char *buf) {
        nd_log_level_t lvl = level <= 3   ? ND_LOG_ERROR
                             : level == 4 ? ND_LOG_WARN
                             : level <= 6 ? ND_LOG_INFO
                                          : ND_LOG_DEBUG;
        nd_log(lvl, "rdkafka", "%s: [%s] %s", rd_kafka_name(rk), fac, buf);
}

/* Sets key; a refused property is ND_ERR_CONFIG with errstr naming it. */
static nd_err_t conf_put(rd_kafka_conf_t *kc, const char *key,
                         const char *value, char *errstr, size_t errstr_size) {
        char why[256];
        if (rd_kafka_conf_set(kc, key, value, why, sizeof(why)) ==
            RD_KAFKA_CONF_OK)
                return ND_OK;
        return nd_err_fmt(errstr, errstr_size, ND_ERR_CONFIG,
                          "key 'kafka.%s': %s", key, why);
}

/* The user's value of key for this role in the kafka section (role.key
 * first, then key), or NULL. */
static const char *user_prop(const nd_config_t *cfg, const char *role,
                             const char *key) {
        char scoped[256];
        const char *v;
        snprintf(scoped, sizeof(scoped), "%s.%s", role, key);
        if ((v = nd_config_kafka_get(cfg, scoped)))
                return v;
        return nd_config_kafka_get(cfg, key);
}

rd_kafka_conf_t *nd__kio_build_conf(const nd_config_t *cfg, const char *role,
                                    const char *bootstrap, char *errstr,
                                    size_t errstr_size) {
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        size_t rlen = strlen(role);

        rd_kafka_conf_set_log_cb(kc, nd__kio_log_cb);
        for (int i = 0; cfg && i < cfg->kafka_cnt; i++) {
                const char *k = cfg->kafka[i].key;
                if (!strncmp(k, "consumer.", 9) || !strncmp(k, "producer.", 9))
                        continue;
                if (conf_put(kc, k, cfg->kafka[i].value, errstr, errstr_size) !=
                    ND_OK)
                        goto fail;
        }
        for (int i = 0; cfg && i < cfg->kafka_cnt; i++) {
                const char *k = cfg->kafka[i].key;
                if (strncmp(k, role, rlen) || k[rlen] != '.')
                        continue;
                if (conf_put(kc, k + rlen + 1, cfg->kafka[i].value, errstr,
                             errstr_size) != ND_OK)
                        goto fail;
        }
        if (bootstrap && *bootstrap &&
            conf_put(kc, "bootstrap.servers", bootstrap, errstr, errstr_size) !=
                ND_OK)
                goto fail;
        /* WHY: the mock cluster answers a fetch only when fetch.wait.max.ms
         * has passed, not when data arrives (measured: input in 500 ms
         * bursts), which would add up to 500 ms to every action. */
        /* WHY 50 ms on a real broker: librdkafka keeps one fetch in flight
         * per broker, and a fetch holds only the partitions that were
         * fetchable when it was sent. After an assignment (start,
         * rebalance) the first fetch often holds one partition while the
         * others still look up their offsets; their records then wait for
         * that fetch's fetch.wait.max.ms (default 500 ms; measured: the
         * first 250 ms of input after a start 120-250 ms late). 50 ms
         * bounds that wait; an idle consumer then sends 20 fetches per
         * second per broker instead of 2. */
        if (cfg && !strcmp(role, "consumer") &&
            !user_prop(cfg, role, "fetch.wait.max.ms") &&
            conf_put(kc, "fetch.wait.max.ms",
                     nd_config_is_embedded(cfg) ? "10" : KIO_FETCH_WAIT_MS,
                     errstr, errstr_size) != ND_OK)
                goto fail;
        return kc;
fail:
        rd_kafka_conf_destroy(kc);
        return NULL;
}

/* Sets key unless the user did. */
static nd_err_t conf_default(rd_kafka_conf_t *kc, const nd_config_t *cfg,
                             const char *role, const char *key,
                             const char *value, char *errstr,
                             size_t errstr_size) {
        if (user_prop(cfg, role, key))
                return ND_OK;
        return conf_put(kc, key, value, errstr, errstr_size);
}

static const char *instance_id(const nd_config_t *cfg, char *buf, size_t size) {
        const char *v = user_prop(cfg, "consumer", "group.instance.id");
        if (v && *v)
                return v;
        if (gethostname(buf, size) != 0 || !*buf)
                snprintf(buf, size, "local");
        buf[size - 1] = '\0';
        return buf;
}

rd_kafka_t *nd__kio_handle_new(rd_kafka_type_t type, rd_kafka_conf_t *kc,
                               char *errstr, size_t errstr_size) {
        rd_kafka_t *rk = rd_kafka_new(type, kc, errstr, errstr_size);
        if (!rk)
                rd_kafka_conf_destroy(kc);
        return rk;
}

/* ------------------------------------------------------------------ */
/* Worker clients                                                      */

static void worker_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                         void *opaque) {
        nd_kio_t *kio = opaque;
        kio->outstanding[(uintptr_t)rkm->_private % KIO_EPOCHS]--;
        if (rkm->err) {
                kio->dr_failed++;
                nd_log_warn("kio", "delivery to %s failed: %s",
                            rd_kafka_topic_name(rkm->rkt),
                            rd_kafka_err2str(rkm->err));
        }
}

/* The effective settings that bound latency, once per worker: they are
 * librdkafka's, partly nudge's defaults (build_conf), partly the user's. */
static void log_latency_conf(nd_kio_t *kio) {
        char fw[32] = "?", lg[32] = "?";
        size_t n = sizeof(fw);
        rd_kafka_conf_get(rd_kafka_conf(kio->consumer), "fetch.wait.max.ms", fw,
                          &n);
        n = sizeof(lg);
        rd_kafka_conf_get(rd_kafka_conf(kio->producer), "linger.ms", lg, &n);
        nd_log_info("kio",
                    "worker %d: consumer fetch.wait.max.ms=%s, producer "
                    "linger.ms=%s",
                    kio->conf.thread, fw, lg);
}

/* The worker consumer's own properties (on top of nd__kio_build_conf's);
 * ND_ERR_CONFIG with errstr when one is refused. */
static nd_err_t consumer_props(const nd_kio_t *kio, rd_kafka_conf_t *cc,
                               char *errstr, size_t errstr_size) {
        const nd_config_t *cfg = kio->cfg;
        char buf[256];
        snprintf(buf, sizeof(buf), "%s-%d", cfg->application_id,
                 kio->conf.thread);
        if (conf_default(cc, cfg, "consumer", "client.id", buf, errstr,
                         errstr_size) != ND_OK ||
            conf_default(cc, cfg, "consumer", "group.id", cfg->application_id,
                         errstr, errstr_size) != ND_OK ||
            conf_put(cc, "enable.auto.commit", "false", errstr, errstr_size) !=
                ND_OK ||
            conf_put(cc, "enable.auto.offset.store", "false", errstr,
                     errstr_size) != ND_OK ||
            conf_put(cc, "partition.assignment.strategy", "range", errstr,
                     errstr_size) != ND_OK ||
            conf_default(cc, cfg, "consumer", "isolation.level",
                         "read_committed", errstr, errstr_size) != ND_OK ||
            conf_default(cc, cfg, "consumer", "auto.offset.reset", "earliest",
                         errstr, errstr_size) != ND_OK ||
            /* the partition group's "at its end" (kio_group.c) */
            conf_put(cc, "enable.partition.eof", "true", errstr, errstr_size) !=
                ND_OK)
                return ND_ERR_CONFIG;
        /* group.instance.id is per process: with several threads each
         * consumer needs its own. */
        if (user_prop(cfg, "consumer", "group.instance.id") &&
            cfg->threads > 1) {
                snprintf(buf, sizeof(buf), "%s-%d",
                         user_prop(cfg, "consumer", "group.instance.id"),
                         kio->conf.thread);
                return conf_put(cc, "group.instance.id", buf, errstr,
                                errstr_size);
        }
        return ND_OK;
}

/* The worker producer's own properties (transactional under exactly-once);
 * ND_ERR_CONFIG with errstr when one is refused. */
static nd_err_t producer_props(const nd_kio_t *kio, rd_kafka_conf_t *pc,
                               char *errstr, size_t errstr_size) {
        const nd_config_t *cfg = kio->cfg;
        char buf[256], host[128];
        snprintf(buf, sizeof(buf), "%s-%d-producer", cfg->application_id,
                 kio->conf.thread);
        if (conf_default(pc, cfg, "producer", "client.id", buf, errstr,
                         errstr_size) != ND_OK ||
            conf_put(pc, "enable.idempotence", "true", errstr, errstr_size) !=
                ND_OK ||
            conf_default(pc, cfg, "producer", "partitioner", "murmur2_random",
                         errstr, errstr_size) != ND_OK ||
            conf_default(pc, cfg, "producer", "linger.ms", "5", errstr,
                         errstr_size) != ND_OK)
                return ND_ERR_CONFIG;
        if (kio->eos) {
                /* WHY a stable id (not a random one): a restarted instance
                 * then fences its predecessor's open transaction at once,
                 * instead of read_committed consumers waiting for
                 * transaction.timeout.ms. */
                const char *tid =
                    user_prop(cfg, "producer", "transactional.id");
                if (tid)
                        snprintf(buf, sizeof(buf), "%s-%d", tid,
                                 kio->conf.thread);
                else
                        snprintf(buf, sizeof(buf), "%s-%s-%d",
                                 cfg->application_id,
                                 instance_id(cfg, host, sizeof(host)),
                                 kio->conf.thread);
                return conf_put(pc, "transactional.id", buf, errstr,
                                errstr_size);
        }
        return ND_OK;
}

/*
 * Creates the worker's consumer or producer (type) into *rkp: the kafka.*
 * properties, the role's own, then its callbacks with kio as their opaque.
 * ND_ERR_CONFIG with errstr when a property is refused, ND_ERR_KAFKA when
 * librdkafka cannot create the client.
 */
static nd_err_t worker_client(nd_kio_t *kio, rd_kafka_type_t type,
                              rd_kafka_t **rkp, char *errstr,
                              size_t errstr_size) {
        bool consumer = type == RD_KAFKA_CONSUMER;
        rd_kafka_conf_t *kc =
            nd__kio_build_conf(kio->cfg, consumer ? "consumer" : "producer",
                               kio->conf.bootstrap, errstr, errstr_size);
        if (!kc)
                return ND_ERR_CONFIG;
        if ((consumer
                 ? consumer_props(kio, kc, errstr, errstr_size)
                 : producer_props(kio, kc, errstr, errstr_size)) != ND_OK) {
                rd_kafka_conf_destroy(kc);
                return ND_ERR_CONFIG;
        }
        if (consumer)
                rd_kafka_conf_set_rebalance_cb(kc, nd__kio_rebalance_cb);
        else
                rd_kafka_conf_set_dr_msg_cb(kc, worker_dr_cb);
        rd_kafka_conf_set_opaque(kc, kio);
        *rkp = nd__kio_handle_new(type, kc, errstr, errstr_size);
        return *rkp ? ND_OK : ND_ERR_KAFKA;
}

/*
 * Creates the worker's producer (under exactly-once: initialises its
 * transactions and begins the first one), then its consumer. ND_ERR_CONFIG
 * or ND_ERR_KAFKA with errstr; what was made is kept for the caller to
 * destroy.
 */
static nd_err_t clients_new(nd_kio_t *kio, char *errstr, size_t errstr_size) {
        nd_err_t err;
        /* The producer first: when clients are made again after a fatal
         * error (nd_kio_rejoin), init_transactions() aborts what the old
         * producer left open before the new consumer asks for the
         * committed offsets. */
        if ((err = worker_client(kio, RD_KAFKA_PRODUCER, &kio->producer, errstr,
                                 errstr_size)) != ND_OK)
                return err;
        if (kio->eos) {
                rd_kafka_error_t *error = rd_kafka_init_transactions(
                    kio->producer, KIO_TXN_TIMEOUT_MS);
                if (error) {
                        err = nd_err_fmt(errstr, errstr_size, ND_ERR_KAFKA,
                                         "initialising transactions: %s",
                                         rd_kafka_error_string(error));
                        rd_kafka_error_destroy(error);
                        return err;
                }
                if (nd__kio_begin_txn(kio) != ND_OK)
                        return nd_err_fmt(errstr, errstr_size, ND_ERR_KAFKA,
                                          "cannot begin a transaction");
        }
        if ((err = worker_client(kio, RD_KAFKA_CONSUMER, &kio->consumer, errstr,
                                 errstr_size)) != ND_OK)
                return err;
        rd_kafka_poll_set_consumer(kio->consumer);
        return ND_OK;
}

nd_err_t nd_kio_new(const nd_kio_conf_t *conf, nd_kio_t **kiop, char *errstr,
                    size_t errstr_size) {
        const nd_config_t *cfg = conf->cfg;
        nd_kio_t *kio = nd_calloc(1, sizeof(*kio));
        const char *strategy;
        nd_err_t err;

        *kiop = NULL;
        kio->conf = *conf;
        kio->cfg = cfg;
        kio->eos = cfg->guarantee == ND_GUARANTEE_EXACTLY_ONCE;
        kio->assignment = rd_kafka_topic_partition_list_new(16);

        strategy = user_prop(cfg, "consumer", "partition.assignment.strategy");
        if (strategy && strcmp(strategy, "range")) {
                err = nd_err_fmt(
                    errstr, errstr_size, ND_ERR_CONFIG,
                    "key 'kafka.partition.assignment.strategy': must be "
                    "'range' (got '%s'): partition p of every event "
                    "topic must go to the same instance, which only the "
                    "range assignor guarantees",
                    strategy);
                goto fail;
        }
        if (kio->eos) {
                const char *ac =
                    user_prop(cfg, "consumer", "enable.auto.commit");
                if (ac && strcmp(ac, "false")) {
                        err = nd_err_fmt(
                            errstr, errstr_size, ND_ERR_CONFIG,
                            "key 'kafka.enable.auto.commit': must be "
                            "false under exactly_once (offsets commit "
                            "inside the transaction)");
                        goto fail;
                }
        }

        if ((err = clients_new(kio, errstr, errstr_size)) != ND_OK)
                goto fail;
        kio->batch_cap = (int)cfg->batch_size;
        kio->max_idle_ms = cfg->max_task_idle_ms;
        kio->grace_ms = cfg->cross_topic_grace_ms;
        kio->batch = nd_calloc((size_t)kio->batch_cap, sizeof(*kio->batch));
        kio->batch_ts =
            nd_calloc((size_t)kio->batch_cap, sizeof(*kio->batch_ts));
        log_latency_conf(kio);
        *kiop = kio;
        return ND_OK;
fail:
        nd_kio_destroy(kio);
        return err;
}

void nd_kio_destroy(nd_kio_t *kio) {
        if (!kio)
                return;
        if (kio->batch) {
                nd_kio_release(kio);
                nd_free(kio->batch);
        }
        nd_free(kio->batch_ts);
        nd__kio_topics_release(kio->topics, kio->topic_cnt);
        nd__kio_group_free(kio);
        for (int i = 0; i < kio->sub_cnt; i++)
                nd_free(kio->sub[i]);
        if (kio->consumer)
                rd_kafka_destroy(kio->consumer);
        if (kio->producer)
                rd_kafka_destroy(kio->producer);
        if (kio->assignment)
                rd_kafka_topic_partition_list_destroy(kio->assignment);
        nd__kio_snaps_clear(kio);
        nd_free(kio);
}

void nd_kio_warm(nd_kio_t *kio, const char *const *topics, int cnt,
                 int timeout_ms) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err;
        for (int i = 0; i < cnt; i++)
                nd__kio_topic_get(kio->producer, kio->topics, &kio->topic_cnt,
                                  topics[i]);
        /* all_topics 0, no topic: the topics this handle knows. */
        err = rd_kafka_metadata(kio->producer, 0, NULL, &md, timeout_ms);
        if (err)
                nd_log_warn("kio",
                            "worker %d: metadata of the output topics: "
                            "%s",
                            kio->conf.thread, rd_kafka_err2str(err));
        else
                rd_kafka_metadata_destroy(md);
}

/* Subscribes the consumer to kio->sub[]. */
static nd_err_t subscribe(nd_kio_t *kio) {
        rd_kafka_topic_partition_list_t *sub =
            rd_kafka_topic_partition_list_new(kio->sub_cnt);
        rd_kafka_resp_err_t err;
        for (int i = 0; i < kio->sub_cnt; i++)
                rd_kafka_topic_partition_list_add(sub, kio->sub[i],
                                                  RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(kio->consumer, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        if (err) {
                nd_log_error("kio", "subscribe: %s", rd_kafka_err2str(err));
                return ND_ERR_KAFKA;
        }
        return ND_OK;
}

nd_err_t nd_kio_subscribe(nd_kio_t *kio, const char *const *topics, int cnt) {
        if (cnt > KIO_MAX_TOPICS || kio->sub_cnt) {
                nd_log_error("kio", "subscribe: once, to at most %d topics",
                             KIO_MAX_TOPICS);
                return ND_ERR_INVAL;
        }
        for (int i = 0; i < cnt; i++)
                kio->sub[kio->sub_cnt++] = nd_strdup(topics[i]);
        return subscribe(kio);
}

/* ------------------------------------------------------------------ */
/* Fatal errors: new clients                                           */

const char *nd_kio_fatal_reason(nd_kio_t *kio, char *buf, size_t size) {
        char why[512];
        if (kio->consumer &&
            rd_kafka_fatal_error(kio->consumer, why, sizeof(why))) {
                snprintf(buf, size, "consumer: %s", why);
                return buf;
        }
        if (kio->producer &&
            rd_kafka_fatal_error(kio->producer, why, sizeof(why))) {
                snprintf(buf, size, "producer: %s", why);
                return buf;
        }
        /* not fatal to librdkafka, but kio gave up on the transaction (an
         * abort that timed out while the broker was away, say) */
        if (kio->txn_error[0]) {
                snprintf(buf, size, "producer: %s", kio->txn_error);
                return buf;
        }
        return NULL;
}

/*
 * Lets go of the worker's clients and of everything that came from them.
 *
 * WHY the producer goes too, not only the consumer that failed. Under
 * exactly-once the open transaction holds the outputs and changelog
 * records of records whose offsets were not committed; the new consumer
 * reads those records again, so the transaction must be aborted whatever
 * state the producer is in. After an outage longer than
 * transaction.timeout.ms the coordinator has aborted it already and
 * bumped the producer's epoch, so the old producer is fenced (a fatal
 * error) and cannot abort anything; init_transactions() of a new producer
 * with the same transactional.id aborts what is open and fences the old
 * epoch in every case, as a restart does. Under at-least-once the
 * idempotent producer may be fatal too (a sequence gap after records timed
 * out), and its records in flight belong to epochs being dropped: their
 * delivery reports would count down the tags of the new epochs. Purging
 * them and starting afresh keeps the counts right without waiting for a
 * flush; the records are produced again from the input read again (the
 * duplicates at-least-once allows).
 */
static void clients_drop(nd_kio_t *kio) {
        nd_kio_release(kio);
        /* Buffered messages and queue references hold the consumer:
         * first. */
        nd__kio_group_reset(kio);
        nd__kio_topics_release(kio->topics, kio->topic_cnt);
        kio->topic_cnt = 0;
        if (kio->consumer) {
                /* WHY not rd_kafka_consumer_close(): its final revocation
                 * would commit (nd__kio_rebalance_cb) what the new clients
                 * read again, and a fenced member cannot leave anyway. */
                rd_kafka_destroy_flags(kio->consumer,
                                       RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
                kio->consumer = NULL;
        }
        if (kio->producer) {
                rd_kafka_purge(kio->producer, RD_KAFKA_PURGE_F_QUEUE |
                                                  RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_destroy(kio->producer);
                kio->producer = NULL;
        }
        rd_kafka_topic_partition_list_destroy(kio->assignment);
        kio->assignment = rd_kafka_topic_partition_list_new(16);
        nd__kio_snaps_clear(kio);
        memset(kio->outstanding, 0, sizeof(kio->outstanding));
        kio->dr_failed = 0;
        kio->txn_error[0] = '\0';
        kio->in_txn = false;
        kio->pending = false;
        kio->sync_commit = false;
}

nd_err_t nd_kio_rejoin(nd_kio_t *kio, char *errstr, size_t errstr_size) {
        nd_err_t err;
        clients_drop(kio);
        if ((err = clients_new(kio, errstr, errstr_size)) != ND_OK)
                return err;
        if (subscribe(kio) != ND_OK)
                return nd_err_fmt(errstr, errstr_size, ND_ERR_KAFKA,
                                  "cannot subscribe the new consumer");
        nd_log_info("kio",
                    "worker %d: new consumer and producer, joining "
                    "the group again",
                    kio->conf.thread);
        return ND_OK;
}

/* ------------------------------------------------------------------ */
/* Poll and produce                                                    */

size_t nd_kio_max_message(const nd_kio_t *kio) {
        char v[32];
        size_t n = sizeof(v);
        long long m;
        if (rd_kafka_conf_get(rd_kafka_conf(kio->producer), "message.max.bytes",
                              v, &n) != RD_KAFKA_CONF_OK ||
            (m = atoll(v)) <= 0)
                return 1000000;
        return (size_t)m;
}

nd_err_t nd_kio_produce(nd_kio_t *kio, const char *topic, int32_t partition,
                        const void *key, size_t key_len, const void *value,
                        size_t value_len, const nd_kio_header_t *hdrs,
                        int hdr_cnt) {
        rd_kafka_topic_t *rkt = nd__kio_topic_get(kio->producer, kio->topics,
                                                  &kio->topic_cnt, topic);
        int64_t deadline = 0;
        rd_kafka_resp_err_t err;
        void *epoch_tag = (void *)(uintptr_t)(kio->epoch % KIO_EPOCHS);

        for (;;) {
                rd_kafka_headers_t *h = NULL;
                if (hdr_cnt > 0) {
                        h = rd_kafka_headers_new((size_t)hdr_cnt);
                        for (int i = 0; i < hdr_cnt; i++)
                                rd_kafka_header_add(h, hdrs[i].name, -1,
                                                    hdrs[i].value,
                                                    (ssize_t)hdrs[i].size);
                }
                if (rkt)
                        err = rd_kafka_producev(
                            kio->producer, RD_KAFKA_V_RKT(rkt),
                            RD_KAFKA_V_PARTITION(partition),
                            RD_KAFKA_V_KEY(key, key_len),
                            RD_KAFKA_V_VALUE((void *)value, value_len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_OPAQUE(epoch_tag), RD_KAFKA_V_HEADERS(h),
                            RD_KAFKA_V_END);
                else
                        err = rd_kafka_producev(
                            kio->producer, RD_KAFKA_V_TOPIC(topic),
                            RD_KAFKA_V_PARTITION(partition),
                            RD_KAFKA_V_KEY(key, key_len),
                            RD_KAFKA_V_VALUE((void *)value, value_len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_OPAQUE(epoch_tag), RD_KAFKA_V_HEADERS(h),
                            RD_KAFKA_V_END);
                if (!err) {
                        kio->outstanding[kio->epoch % KIO_EPOCHS]++;
                        kio->pending = true;
                        return ND_OK;
                }
                if (h)
                        rd_kafka_headers_destroy(h);
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        break;
                /* Backpressure: serve deliveries until there is room. */
                if (!deadline)
                        deadline = nd_clock_mono_ms() + KIO_PRODUCE_WAIT_MS;
                else if (nd_clock_mono_ms() > deadline)
                        break;
                rd_kafka_poll(kio->producer, 10);
        }
        nd_log_error("kio", "produce to %s: %s", topic, rd_kafka_err2str(err));
        if (err == RD_KAFKA_RESP_ERR__FATAL)
                return ND_ERR_KAFKA_FATAL;
        if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
                return ND_ERR_BAD_LENGTH; /* the same every time */
        return err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? ND_ERR_TIMEOUT
                                                    : ND_ERR_KAFKA;
}
