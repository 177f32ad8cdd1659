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
 */
#include "kio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "clock.h"
#include "log.h"
#include "mem.h"

#define KIO_TXN_TIMEOUT_MS  30000
#define KIO_COMMIT_RETRIES  5
#define KIO_TOPIC_CACHE     16
#define KIO_PRODUCE_WAIT_MS 30000
#define KIO_FETCH_WAIT_MS   "50" /* consumers' fetch.wait.max.ms */
#define KIO_TABLE_BATCH     1024 /* records per dequeue of a table reader */
#define KIO_EPOCHS          64   /* at-least-once commits awaiting delivery */

struct nd_kio_cluster_s {
        rd_kafka_t *rk; /* hosts the mock cluster */
        rd_kafka_mock_cluster_t *mc;
};

struct topic_ref {
        char *name; /* our copy */
        rd_kafka_topic_t *rkt;
};

struct nd_kio_s {
        nd_kio_conf_t conf;
        const nd_config_t *cfg;
        rd_kafka_t *consumer;
        rd_kafka_t *producer;
        bool eos;
        bool in_txn;
        bool pending;   /* consumed or produced since commit */
        long dr_failed; /* failed deliveries since commit */
        rd_kafka_topic_partition_list_t *assignment; /* our own copy */
        rd_kafka_message_t **batch;
        int batch_cnt;
        int batch_cap;
        struct topic_ref topics[KIO_TOPIC_CACHE];
        int topic_cnt;
        int64_t last_commit_ns; /* duration of the last commit */
        /* At-least-once: every record produced is tagged with the current
         * epoch; a commit closes the epoch with a snapshot of the consumed
         * positions, committed once that epoch's records are delivered. */
        bool sync_commit; /* revoke/close: flush and wait */
        uint32_t epoch;
        uint32_t snap_first; /* oldest epoch not yet committed */
        int64_t outstanding[KIO_EPOCHS];
        rd_kafka_topic_partition_list_t *snap[KIO_EPOCHS];
};

struct nd_kio_client_s {
        rd_kafka_t *rk;
        bool consumer;
        long dr_failed;
        struct topic_ref topics[KIO_TOPIC_CACHE];
        int topic_cnt;
        /* table readers: the partitions and where they end */
        rd_kafka_topic_partition_list_t *table;
        int64_t *end; /* end offset per table element */
        int64_t read;
        rd_kafka_queue_t *queue;    /* table readers: the consumer queue */
        rd_kafka_message_t **batch; /* and what one read takes from it */
};

const char *nd_kio_version(void) {
        return rd_kafka_version_str();
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
        nd_log_level_t lvl = level <= 3   ? ND_LOG_ERROR
                             : level == 4 ? ND_LOG_WARN
                             : level <= 6 ? ND_LOG_INFO
                                          : ND_LOG_DEBUG;
        nd_log(lvl, "rdkafka", "%s: [%s] %s", rd_kafka_name(rk), fac, buf);
}

static bool conf_put(rd_kafka_conf_t *kc, const char *key, const char *value,
                     char *errstr, size_t errstr_size) {
        char why[256];
        if (rd_kafka_conf_set(kc, key, value, why, sizeof(why)) ==
            RD_KAFKA_CONF_OK)
                return true;
        snprintf(errstr, errstr_size, "key 'kafka.%s': %s", key, why);
        return false;
}

/* True when the user set key (for this role) in the kafka section. */
static const char *user_prop(const nd_config_t *cfg, const char *role,
                             const char *key) {
        char scoped[256];
        const char *v;
        snprintf(scoped, sizeof(scoped), "%s.%s", role, key);
        if ((v = nd_config_kafka_get(cfg, scoped)))
                return v;
        return nd_config_kafka_get(cfg, key);
}

/*
 * Builds a librdkafka conf for role ("consumer" or "producer"): every
 * kafka.* property, then role-scoped ones, then bootstrap. Returns NULL
 * with errstr naming the key on a bad property.
 */
static rd_kafka_conf_t *build_conf(const nd_config_t *cfg, const char *role,
                                   const char *bootstrap, char *errstr,
                                   size_t errstr_size) {
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        size_t rlen = strlen(role);

        rd_kafka_conf_set_log_cb(kc, log_cb);
        for (int i = 0; cfg && i < cfg->kafka_cnt; i++) {
                const char *k = cfg->kafka[i].key;
                if (!strncmp(k, "consumer.", 9) || !strncmp(k, "producer.", 9))
                        continue;
                if (!conf_put(kc, k, cfg->kafka[i].value, errstr, errstr_size))
                        goto fail;
        }
        for (int i = 0; cfg && i < cfg->kafka_cnt; i++) {
                const char *k = cfg->kafka[i].key;
                if (strncmp(k, role, rlen) || k[rlen] != '.')
                        continue;
                if (!conf_put(kc, k + rlen + 1, cfg->kafka[i].value, errstr,
                              errstr_size))
                        goto fail;
        }
        if (bootstrap && *bootstrap &&
            !conf_put(kc, "bootstrap.servers", bootstrap, errstr, errstr_size))
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
            !conf_put(kc, "fetch.wait.max.ms",
                      nd_config_is_embedded(cfg) ? "10" : KIO_FETCH_WAIT_MS,
                      errstr, errstr_size))
                goto fail;
        return kc;
fail:
        rd_kafka_conf_destroy(kc);
        return NULL;
}

/* Sets key unless the user did. */
static bool conf_default(rd_kafka_conf_t *kc, const nd_config_t *cfg,
                         const char *role, const char *key, const char *value,
                         char *errstr, size_t errstr_size) {
        if (user_prop(cfg, role, key))
                return true;
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

/* ------------------------------------------------------------------ */
/* Embedded broker                                                     */

nd_err_t nd_kio_cluster_new(int brokers, nd_kio_cluster_t **out, char *errstr,
                            size_t errstr_size) {
        nd_kio_cluster_t *c = nd_calloc(1, sizeof(*c));
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(kc, log_cb);
        rd_kafka_conf_set(kc, "client.id", "nudge-embedded", NULL, 0);
        c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
        if (!c->rk) {
                rd_kafka_conf_destroy(kc);
                goto fail;
        }
        c->mc = rd_kafka_mock_cluster_new(c->rk, brokers);
        if (!c->mc) {
                snprintf(errstr, errstr_size,
                         "could not start the embedded mock cluster");
                goto fail;
        }
        *out = c;
        return ND_OK;
fail:
        nd_kio_cluster_destroy(c);
        *out = NULL;
        return ND_ERR_KAFKA;
}

const char *nd_kio_cluster_bootstraps(const nd_kio_cluster_t *mc) {
        return rd_kafka_mock_cluster_bootstraps(mc->mc);
}

nd_err_t nd_kio_cluster_create_topic(nd_kio_cluster_t *mc, const char *topic,
                                     int partitions) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mc->mc, topic, partitions, 1);
        if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                nd_log_error("kio", "embedded: creating topic %s: %s", topic,
                             rd_kafka_err2str(err));
                return ND_ERR_KAFKA;
        }
        return ND_OK;
}

void nd_kio_cluster_destroy(nd_kio_cluster_t *mc) {
        if (!mc)
                return;
        if (mc->mc)
                rd_kafka_mock_cluster_destroy(mc->mc);
        if (mc->rk)
                rd_kafka_destroy(mc->rk);
        nd_free(mc);
}

/* ------------------------------------------------------------------ */
/* Admin                                                               */

static rd_kafka_t *admin_handle(const nd_config_t *cfg, const char *bootstrap,
                                char *errstr, size_t errstr_size) {
        rd_kafka_conf_t *kc =
            build_conf(cfg, "producer", bootstrap, errstr, errstr_size);
        rd_kafka_t *rk;
        if (!kc)
                return NULL;
        rd_kafka_conf_set(kc, "client.id", "nudge-admin", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
        if (!rk)
                rd_kafka_conf_destroy(kc);
        return rk;
}

nd_err_t nd_kio_partition_counts(const nd_config_t *cfg, const char *bootstrap,
                                 const char *const *topics, int cnt,
                                 int *counts, int timeout_ms, char *errstr,
                                 size_t errstr_size) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err;
        rd_kafka_t *rk = admin_handle(cfg, bootstrap, errstr, errstr_size);
        if (!rk)
                return ND_ERR_CONFIG;
        /* WHY all topics: asking for one topic by name can make a broker
         * with auto.create.topics.enable create it. */
        err = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
        if (err) {
                snprintf(errstr, errstr_size,
                         "cannot read cluster metadata: %s",
                         rd_kafka_err2str(err));
                rd_kafka_destroy(rk);
                return ND_ERR_KAFKA;
        }
        for (int i = 0; i < cnt; i++) {
                counts[i] = -1;
                for (int j = 0; j < md->topic_cnt; j++)
                        if (!strcmp(md->topics[j].topic, topics[i]) &&
                            !md->topics[j].err)
                                counts[i] = md->topics[j].partition_cnt;
        }
        rd_kafka_metadata_destroy(md);
        rd_kafka_destroy(rk);
        return ND_OK;
}

nd_err_t nd_kio_create_topic(const nd_config_t *cfg, const char *bootstrap,
                             const char *topic, int partitions, bool compact,
                             int timeout_ms, char *errstr, size_t errstr_size) {
        nd_err_t ret = ND_ERR_KAFKA;
        rd_kafka_NewTopic_t *nt = NULL;
        rd_kafka_queue_t *q = NULL;
        rd_kafka_event_t *ev = NULL;
        rd_kafka_AdminOptions_t *opts = NULL;
        char why[256];
        rd_kafka_t *rk = admin_handle(cfg, bootstrap, errstr, errstr_size);
        if (!rk)
                return ND_ERR_CONFIG;

        nt = rd_kafka_NewTopic_new(topic, partitions, -1, why, sizeof(why));
        if (!nt) {
                snprintf(errstr, errstr_size, "topic %s: %s", topic, why);
                goto out;
        }
        if (compact)
                rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
        q = rd_kafka_queue_new(rk);
        opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, NULL, 0);
        rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
        ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
        if (!ev) {
                snprintf(errstr, errstr_size, "creating topic %s: timed out",
                         topic);
                ret = ND_ERR_TIMEOUT;
                goto out;
        }
        if (rd_kafka_event_error(ev)) {
                snprintf(errstr, errstr_size, "creating topic %s: %s", topic,
                         rd_kafka_event_error_string(ev));
                goto out;
        } else {
                const rd_kafka_CreateTopics_result_t *res =
                    rd_kafka_event_CreateTopics_result(ev);
                size_t n;
                const rd_kafka_topic_result_t **tr =
                    rd_kafka_CreateTopics_result_topics(res, &n);
                rd_kafka_resp_err_t terr =
                    n ? rd_kafka_topic_result_error(tr[0])
                      : RD_KAFKA_RESP_ERR_NO_ERROR;
                if (terr && terr != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                        snprintf(errstr, errstr_size, "creating topic %s: %s",
                                 topic,
                                 rd_kafka_topic_result_error_string(tr[0]));
                        goto out;
                }
        }
        ret = ND_OK;
out:
        if (ev)
                rd_kafka_event_destroy(ev);
        if (opts)
                rd_kafka_AdminOptions_destroy(opts);
        if (q)
                rd_kafka_queue_destroy(q);
        if (nt)
                rd_kafka_NewTopic_destroy(nt);
        rd_kafka_destroy(rk);
        return ret;
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

static rd_kafka_topic_t *topic_get(rd_kafka_t *rk, struct topic_ref *refs,
                                   int *cnt, const char *name) {
        /* WHY a cache: rd_kafka_producev() by name looks the topic up in a
         * locked hash on every call. The names are copied: callers may pass
         * a buffer they reuse. */
        for (int i = 0; i < *cnt; i++)
                if (!strcmp(refs[i].name, name))
                        return refs[i].rkt;
        if (*cnt == KIO_TOPIC_CACHE)
                return NULL;
        refs[*cnt].name = nd_strdup(name);
        refs[*cnt].rkt = rd_kafka_topic_new(rk, name, NULL);
        return refs[(*cnt)++].rkt;
}

static void topics_release(struct topic_ref *refs, int cnt) {
        for (int i = 0; i < cnt; i++) {
                rd_kafka_topic_destroy(refs[i].rkt);
                nd_free(refs[i].name);
        }
}

/* Distinct partition numbers of a list, into out[]; returns how many. */
static int partition_numbers(const rd_kafka_topic_partition_list_t *parts,
                             int32_t *out) {
        int n = 0;
        for (int i = 0; i < parts->cnt; i++) {
                int32_t p = parts->elems[i].partition;
                bool seen = false;
                for (int j = 0; j < n && !seen; j++)
                        seen = out[j] == p;
                if (!seen)
                        out[n++] = p;
        }
        return n;
}

static void log_txn_error(const char *what, rd_kafka_error_t *error) {
        nd_log_warn("kio", "%s: %s%s%s", what, rd_kafka_error_string(error),
                    rd_kafka_error_is_retriable(error) ? " (retriable)" : "",
                    rd_kafka_error_txn_requires_abort(error) ? " (abortable)"
                                                             : "");
}

static nd_err_t fatal_from(rd_kafka_error_t *error) {
        rd_kafka_resp_err_t code = rd_kafka_error_code(error);
        if (code == RD_KAFKA_RESP_ERR__FENCED ||
            code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
            code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH)
                return ND_ERR_FENCED;
        return ND_ERR_KAFKA_FATAL;
}

/* Seeks every assigned partition back to its committed offset. */
static void rewind_to_committed(nd_kio_t *kio) {
        rd_kafka_topic_partition_list_t *parts;
        rd_kafka_resp_err_t err;
        rd_kafka_error_t *error;

        if (!kio->assignment || kio->assignment->cnt == 0)
                return;
        parts = rd_kafka_topic_partition_list_copy(kio->assignment);
        err = rd_kafka_committed(kio->consumer, parts, KIO_TXN_TIMEOUT_MS);
        if (err) {
                nd_log_error("kio", "reading committed offsets: %s",
                             rd_kafka_err2str(err));
                rd_kafka_topic_partition_list_destroy(parts);
                return;
        }
        for (int i = 0; i < parts->cnt; i++)
                if (parts->elems[i].offset < 0)
                        parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
        error =
            rd_kafka_seek_partitions(kio->consumer, parts, KIO_TXN_TIMEOUT_MS);
        if (error) {
                nd_log_error("kio", "rewinding: %s",
                             rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        } else {
                nd_log_warn("kio", "rewound %d partitions to committed offsets",
                            parts->cnt);
        }
        rd_kafka_topic_partition_list_destroy(parts);
}

/* The positions to commit: assigned partitions we have read from. */
static rd_kafka_topic_partition_list_t *positions(nd_kio_t *kio) {
        rd_kafka_topic_partition_list_t *pos, *out;
        if (!kio->assignment || kio->assignment->cnt == 0)
                return NULL;
        pos = rd_kafka_topic_partition_list_copy(kio->assignment);
        rd_kafka_position(kio->consumer, pos);
        out = rd_kafka_topic_partition_list_new(pos->cnt);
        for (int i = 0; i < pos->cnt; i++)
                if (pos->elems[i].offset >= 0)
                        rd_kafka_topic_partition_list_add(
                            out, pos->elems[i].topic, pos->elems[i].partition)
                            ->offset = pos->elems[i].offset;
        rd_kafka_topic_partition_list_destroy(pos);
        if (out->cnt == 0) {
                rd_kafka_topic_partition_list_destroy(out);
                return NULL;
        }
        return out;
}

static nd_err_t begin_txn(nd_kio_t *kio) {
        rd_kafka_error_t *error = rd_kafka_begin_transaction(kio->producer);
        if (error) {
                nd_err_t err = fatal_from(error);
                log_txn_error("begin transaction", error);
                rd_kafka_error_destroy(error);
                return err;
        }
        kio->in_txn = true;
        return ND_OK;
}

static nd_err_t abort_and_rewind(nd_kio_t *kio) {
        rd_kafka_error_t *error;
        /* WHY flush first: with librdkafka 2.0.2, aborting while the first
         * AddPartitionsToTxn is in flight gets INVALID_TXN_STATE from the
         * broker and is made fatal (librdkafka issue #4849). Waiting for
         * outstanding deliveries avoids the race; their failures are moot,
         * the transaction is being aborted. */
        rd_kafka_flush(kio->producer, KIO_TXN_TIMEOUT_MS);
        error = rd_kafka_abort_transaction(kio->producer, KIO_TXN_TIMEOUT_MS);
        if (error) {
                nd_err_t err = fatal_from(error);
                log_txn_error("abort transaction", error);
                rd_kafka_error_destroy(error);
                return err;
        }
        kio->in_txn = false;
        rewind_to_committed(kio);
        kio->pending = false;
        kio->dr_failed = 0;
        return begin_txn(kio) == ND_OK ? ND_ERR_ABORTABLE : ND_ERR_KAFKA_FATAL;
}

static nd_err_t commit_eos(nd_kio_t *kio) {
        rd_kafka_topic_partition_list_t *pos = positions(kio);
        rd_kafka_error_t *error = NULL;
        nd_err_t err;

        if (pos) {
                rd_kafka_consumer_group_metadata_t *cgmd =
                    rd_kafka_consumer_group_metadata(kio->consumer);
                error = rd_kafka_send_offsets_to_transaction(
                    kio->producer, pos, cgmd, KIO_TXN_TIMEOUT_MS);
                rd_kafka_consumer_group_metadata_destroy(cgmd);
                rd_kafka_topic_partition_list_destroy(pos);
        }
        for (int attempt = 0; !error; attempt++) {
                error = rd_kafka_commit_transaction(kio->producer,
                                                    KIO_TXN_TIMEOUT_MS);
                if (!error)
                        break;
                /* Retriable commit errors leave the transaction as it was:
                 * commit_transaction() may simply be called again. */
                if (!rd_kafka_error_is_retriable(error) ||
                    attempt + 1 >= KIO_COMMIT_RETRIES)
                        break;
                log_txn_error("commit transaction (retrying)", error);
                rd_kafka_error_destroy(error);
                error = NULL;
        }
        if (error) {
                log_txn_error("commit transaction", error);
                if (rd_kafka_error_txn_requires_abort(error) ||
                    rd_kafka_error_is_retriable(error)) {
                        rd_kafka_error_destroy(error);
                        return abort_and_rewind(kio);
                }
                err = fatal_from(error);
                rd_kafka_error_destroy(error);
                return err;
        }
        kio->in_txn = false;
        kio->pending = false;
        kio->dr_failed = 0;
        return begin_txn(kio);
}

static void snaps_clear(nd_kio_t *kio) {
        for (; kio->snap_first != kio->epoch; kio->snap_first++) {
                uint32_t i = kio->snap_first % KIO_EPOCHS;
                if (kio->snap[i])
                        rd_kafka_topic_partition_list_destroy(kio->snap[i]);
                kio->snap[i] = NULL;
        }
}

/*
 * At-least-once, without blocking the loop: commits (asynchronously) the
 * newest snapshot whose epoch, and every epoch before it, has all its
 * records delivered. Called from the poll loop and at every commit.
 */
static void alos_try_commit(nd_kio_t *kio) {
        rd_kafka_topic_partition_list_t *ready = NULL;
        if (kio->dr_failed)
                return; /* the next commit rewinds */
        while (kio->snap_first != kio->epoch &&
               kio->outstanding[kio->snap_first % KIO_EPOCHS] == 0) {
                uint32_t i = kio->snap_first % KIO_EPOCHS;
                if (ready)
                        rd_kafka_topic_partition_list_destroy(ready);
                ready = kio->snap[i];
                kio->snap[i] = NULL;
                kio->snap_first++;
        }
        if (ready) {
                rd_kafka_resp_err_t rerr;
                rerr = rd_kafka_commit(kio->consumer, ready, 1);
                if (rerr && rerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
                        nd_log_warn("kio", "offset commit failed: %s",
                                    rd_kafka_err2str(rerr));
                rd_kafka_topic_partition_list_destroy(ready);
        }
}

static nd_err_t alos_rewind(nd_kio_t *kio, rd_kafka_resp_err_t rerr) {
        nd_log_warn("kio",
                    "%ld deliveries failed (%s): not committing, re-reading "
                    "from the committed offsets",
                    kio->dr_failed, rd_kafka_err2str(rerr));
        rd_kafka_flush(kio->producer, KIO_TXN_TIMEOUT_MS);
        rewind_to_committed(kio);
        snaps_clear(kio);
        memset(kio->outstanding, 0, sizeof(kio->outstanding));
        kio->dr_failed = 0;
        kio->pending = false;
        return ND_ERR_ABORTABLE;
}

/*
 * At-least-once commit. WHY not flush-then-commit every interval: the flush
 * blocks the loop until every record in flight is acknowledged, which put
 * up to a commit interval of latency on every action (measured p99 104 ms
 * at 2k events/s). Instead the interval closes an epoch; its offsets are
 * committed once its records are delivered (alos_try_commit), so offsets
 * never run ahead of outputs and changelog, and the loop never waits.
 * Revocation and close still flush and commit synchronously.
 */
static nd_err_t commit_alos(nd_kio_t *kio) {
        rd_kafka_topic_partition_list_t *pos;
        rd_kafka_resp_err_t rerr = RD_KAFKA_RESP_ERR_NO_ERROR;

        if (kio->dr_failed)
                return alos_rewind(kio, rerr);
        if (kio->sync_commit ||
            kio->epoch - kio->snap_first >= KIO_EPOCHS - 1) {
                rerr = rd_kafka_flush(kio->producer, KIO_TXN_TIMEOUT_MS);
                if (rerr || kio->dr_failed)
                        return alos_rewind(kio, rerr);
                snaps_clear(kio);
                pos = positions(kio);
                if (pos) {
                        rerr = rd_kafka_commit(kio->consumer, pos, 0);
                        rd_kafka_topic_partition_list_destroy(pos);
                        if (rerr && rerr != RD_KAFKA_RESP_ERR__NO_OFFSET) {
                                nd_log_warn("kio", "offset commit failed: %s",
                                            rd_kafka_err2str(rerr));
                                return ND_ERR_KAFKA;
                        }
                }
                kio->pending = false;
                return ND_OK;
        }
        kio->snap[kio->epoch % KIO_EPOCHS] = positions(kio);
        kio->epoch++;
        kio->outstanding[kio->epoch % KIO_EPOCHS] = 0;
        kio->pending = false;
        alos_try_commit(kio);
        return ND_OK;
}

void nd_kio_warm(nd_kio_t *kio, const char *const *topics, int cnt,
                 int timeout_ms) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err;
        for (int i = 0; i < cnt; i++)
                topic_get(kio->producer, kio->topics, &kio->topic_cnt,
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

nd_err_t nd_kio_commit(nd_kio_t *kio) {
        int64_t t0;
        nd_err_t err;
        if (kio->conf.before_commit &&
            (err = kio->conf.before_commit(kio->conf.arg)) != ND_OK) {
                nd_log_warn("kio", "worker %d: before commit: %s",
                            kio->conf.thread, nd_err_str(err));
                if (kio->eos)
                        return abort_and_rewind(kio);
                rewind_to_committed(kio);
                kio->pending = false;
                return ND_ERR_ABORTABLE;
        }
        /* A synchronous commit (revocation, close) also settles epochs
         * whose offsets still wait for their deliveries. */
        if (!kio->pending &&
            !(kio->sync_commit && kio->snap_first != kio->epoch)) {
                kio->sync_commit = false;
                return ND_OK;
        }
        t0 = nd_clock_mono_ns();
        err = kio->eos ? commit_eos(kio) : commit_alos(kio);
        kio->sync_commit = false;
        kio->last_commit_ns = nd_clock_mono_ns() - t0;
        nd_log_debug("kio", "worker %d: commit took %.1f ms: %s",
                     kio->conf.thread, kio->last_commit_ns / 1e6,
                     nd_err_str(err));
        return err;
}

int64_t nd_kio_last_commit_ns(const nd_kio_t *kio) {
        return kio->last_commit_ns;
}

bool nd_kio_has_pending(const nd_kio_t *kio) {
        return kio->pending;
}

static void assignment_add(nd_kio_t *kio,
                           const rd_kafka_topic_partition_list_t *parts) {
        for (int i = 0; i < parts->cnt; i++)
                if (!rd_kafka_topic_partition_list_find(
                        kio->assignment, parts->elems[i].topic,
                        parts->elems[i].partition))
                        rd_kafka_topic_partition_list_add(
                            kio->assignment, parts->elems[i].topic,
                            parts->elems[i].partition);
}

static void assignment_del(nd_kio_t *kio,
                           const rd_kafka_topic_partition_list_t *parts) {
        for (int i = 0; i < parts->cnt; i++)
                rd_kafka_topic_partition_list_del(kio->assignment,
                                                  parts->elems[i].topic,
                                                  parts->elems[i].partition);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
        nd_kio_t *kio = opaque;
        bool cooperative =
            !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
        int32_t nums[1024];
        int n = parts->cnt <= 1024 ? partition_numbers(parts, nums) : 0;
        rd_kafka_error_t *error = NULL;

        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                nd_log_info("kio", "worker %d: assigned %d partitions",
                            kio->conf.thread, parts->cnt);
                if (cooperative)
                        error = rd_kafka_incremental_assign(rk, parts);
                else
                        rd_kafka_assign(rk, parts);
                assignment_add(kio, parts);
                if (kio->conf.on_assign)
                        kio->conf.on_assign(kio->conf.arg, nums, n);
        } else {
                bool lost = rd_kafka_assignment_lost(rk);
                nd_log_info("kio", "worker %d: %s %d partitions",
                            kio->conf.thread, lost ? "lost" : "revoked",
                            parts->cnt);
                /* Commit before letting go, so that the next owner starts
                 * exactly after what we emitted; a lost assignment may
                 * already belong to someone else: abort instead. */
                if (lost) {
                        if (kio->eos && kio->pending)
                                abort_and_rewind(kio);
                        kio->pending = false;
                } else if ((kio->sync_commit = true, nd_kio_commit(kio)) !=
                           ND_OK) {
                        nd_log_warn("kio",
                                    "commit before revocation failed; the "
                                    "next owner re-reads from the last "
                                    "commit");
                }
                if (kio->conf.on_revoke)
                        kio->conf.on_revoke(kio->conf.arg, nums, n, lost);
                if (cooperative) {
                        error = rd_kafka_incremental_unassign(rk, parts);
                        assignment_del(kio, parts);
                } else {
                        rd_kafka_assign(rk, NULL);
                        rd_kafka_topic_partition_list_destroy(kio->assignment);
                        kio->assignment = rd_kafka_topic_partition_list_new(16);
                }
        }
        if (error) {
                nd_log_error("kio", "rebalance: %s",
                             rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
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

nd_kio_t *nd_kio_new(const nd_kio_conf_t *conf, char *errstr,
                     size_t errstr_size) {
        const nd_config_t *cfg = conf->cfg;
        nd_kio_t *kio = nd_calloc(1, sizeof(*kio));
        rd_kafka_conf_t *cc = NULL, *pc = NULL;
        char buf[256], host[128];
        const char *strategy;

        kio->conf = *conf;
        kio->cfg = cfg;
        kio->eos = cfg->guarantee == ND_GUARANTEE_EXACTLY_ONCE;
        kio->assignment = rd_kafka_topic_partition_list_new(16);

        strategy = user_prop(cfg, "consumer", "partition.assignment.strategy");
        if (strategy && strcmp(strategy, "range")) {
                snprintf(errstr, errstr_size,
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
                        snprintf(errstr, errstr_size,
                                 "key 'kafka.enable.auto.commit': must be "
                                 "false under exactly_once (offsets commit "
                                 "inside the transaction)");
                        goto fail;
                }
        }

        /* Consumer */
        if (!(cc = build_conf(cfg, "consumer", conf->bootstrap, errstr,
                              errstr_size)))
                goto fail;
        snprintf(buf, sizeof(buf), "%s-%d", cfg->application_id, conf->thread);
        if (!conf_default(cc, cfg, "consumer", "client.id", buf, errstr,
                          errstr_size) ||
            !conf_default(cc, cfg, "consumer", "group.id", cfg->application_id,
                          errstr, errstr_size) ||
            !conf_put(cc, "enable.auto.commit", "false", errstr, errstr_size) ||
            !conf_put(cc, "enable.auto.offset.store", "false", errstr,
                      errstr_size) ||
            !conf_put(cc, "partition.assignment.strategy", "range", errstr,
                      errstr_size) ||
            !conf_default(cc, cfg, "consumer", "isolation.level",
                          "read_committed", errstr, errstr_size) ||
            !conf_default(cc, cfg, "consumer", "auto.offset.reset", "earliest",
                          errstr, errstr_size))
                goto fail;
        /* group.instance.id is per process: with several threads each
         * consumer needs its own. */
        if (user_prop(cfg, "consumer", "group.instance.id") &&
            cfg->threads > 1) {
                snprintf(buf, sizeof(buf), "%s-%d",
                         user_prop(cfg, "consumer", "group.instance.id"),
                         conf->thread);
                if (!conf_put(cc, "group.instance.id", buf, errstr,
                              errstr_size))
                        goto fail;
        }
        rd_kafka_conf_set_rebalance_cb(cc, rebalance_cb);
        rd_kafka_conf_set_opaque(cc, kio);
        kio->consumer =
            rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, errstr_size);
        if (!kio->consumer)
                goto fail;
        cc = NULL;
        rd_kafka_poll_set_consumer(kio->consumer);

        /* Producer */
        if (!(pc = build_conf(cfg, "producer", conf->bootstrap, errstr,
                              errstr_size)))
                goto fail;
        snprintf(buf, sizeof(buf), "%s-%d-producer", cfg->application_id,
                 conf->thread);
        if (!conf_default(pc, cfg, "producer", "client.id", buf, errstr,
                          errstr_size) ||
            !conf_put(pc, "enable.idempotence", "true", errstr, errstr_size) ||
            !conf_default(pc, cfg, "producer", "partitioner", "murmur2_random",
                          errstr, errstr_size) ||
            !conf_default(pc, cfg, "producer", "linger.ms", "5", errstr,
                          errstr_size))
                goto fail;
        if (kio->eos) {
                /* WHY a stable id (not a random one): a restarted instance
                 * then fences its predecessor's open transaction at once,
                 * instead of read_committed consumers waiting for
                 * transaction.timeout.ms. */
                const char *tid =
                    user_prop(cfg, "producer", "transactional.id");
                if (tid)
                        snprintf(buf, sizeof(buf), "%s-%d", tid, conf->thread);
                else
                        snprintf(
                            buf, sizeof(buf), "%s-%s-%d", cfg->application_id,
                            instance_id(cfg, host, sizeof(host)), conf->thread);
                if (!conf_put(pc, "transactional.id", buf, errstr, errstr_size))
                        goto fail;
        }
        rd_kafka_conf_set_dr_msg_cb(pc, worker_dr_cb);
        rd_kafka_conf_set_opaque(pc, kio);
        kio->producer =
            rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, errstr_size);
        if (!kio->producer)
                goto fail;
        pc = NULL;

        if (kio->eos) {
                rd_kafka_error_t *error = rd_kafka_init_transactions(
                    kio->producer, KIO_TXN_TIMEOUT_MS);
                if (error) {
                        snprintf(errstr, errstr_size,
                                 "initialising transactions: %s",
                                 rd_kafka_error_string(error));
                        rd_kafka_error_destroy(error);
                        goto fail;
                }
                if (begin_txn(kio) != ND_OK) {
                        snprintf(errstr, errstr_size,
                                 "cannot begin a transaction");
                        goto fail;
                }
        }
        kio->batch_cap = (int)cfg->batch_size;
        kio->batch = nd_calloc((size_t)kio->batch_cap, sizeof(*kio->batch));
        log_latency_conf(kio);
        return kio;
fail:
        if (cc)
                rd_kafka_conf_destroy(cc);
        if (pc)
                rd_kafka_conf_destroy(pc);
        nd_kio_destroy(kio);
        return NULL;
}

nd_err_t nd_kio_subscribe(nd_kio_t *kio, const char *const *topics, int cnt) {
        rd_kafka_topic_partition_list_t *sub =
            rd_kafka_topic_partition_list_new(cnt);
        rd_kafka_resp_err_t err;
        for (int i = 0; i < cnt; i++)
                rd_kafka_topic_partition_list_add(sub, topics[i],
                                                  RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(kio->consumer, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        if (err) {
                nd_log_error("kio", "subscribe: %s", rd_kafka_err2str(err));
                return ND_ERR_KAFKA;
        }
        return ND_OK;
}

static void fill_rec(nd_rec_t *rec, const rd_kafka_message_t *rkm) {
        rec->topic = rd_kafka_topic_name(rkm->rkt);
        rec->partition = rkm->partition;
        rec->offset = rkm->offset;
        rec->timestamp = rd_kafka_message_timestamp(rkm, NULL);
        rec->key = rkm->key;
        rec->key_len = rkm->key_len;
        rec->value = rkm->payload;
        rec->value_len = rkm->len;
        rec->ev = NULL;
}

int nd_kio_poll(nd_kio_t *kio, nd_rec_t *recs, int max, int timeout_ms) {
        int n = 0;
        char why[256];

        if (kio->batch_cnt)
                nd_kio_release(kio);
        if (max > kio->batch_cap)
                max = kio->batch_cap;
        rd_kafka_poll(kio->producer, 0);
        if (!kio->eos)
                alos_try_commit(kio);
        while (n < max) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(
                    kio->consumer, n == 0 ? timeout_ms : 0);
                if (!rkm)
                        break;
                if (rkm->err) {
                        if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                                nd_log_warn("kio", "consumer: %s",
                                            rd_kafka_message_errstr(rkm));
                        rd_kafka_message_destroy(rkm);
                        if (rd_kafka_fatal_error(kio->consumer, why,
                                                 sizeof(why))) {
                                nd_log_error("kio", "fatal consumer error: %s",
                                             why);
                                return ND_ERR_KAFKA_FATAL;
                        }
                        timeout_ms = 0;
                        continue;
                }
                kio->batch[kio->batch_cnt++] = rkm;
                fill_rec(&recs[n++], rkm);
        }
        if (n)
                kio->pending = true;
        return n;
}

void nd_kio_release(nd_kio_t *kio) {
        for (int i = 0; i < kio->batch_cnt; i++)
                rd_kafka_message_destroy(kio->batch[i]);
        kio->batch_cnt = 0;
}

nd_err_t nd_kio_produce(nd_kio_t *kio, const char *topic, int32_t partition,
                        const void *key, size_t key_len, const void *value,
                        size_t value_len, const nd_kio_header_t *hdrs,
                        int hdr_cnt) {
        rd_kafka_topic_t *rkt =
            topic_get(kio->producer, kio->topics, &kio->topic_cnt, topic);
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
        return err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? ND_ERR_TIMEOUT
                                                    : ND_ERR_KAFKA;
}

bool nd_kio_caught_up(nd_kio_t *kio) {
        rd_kafka_topic_partition_list_t *pos;
        bool caught_up = true;
        if (!kio->assignment || kio->assignment->cnt == 0)
                return true;
        pos = rd_kafka_topic_partition_list_copy(kio->assignment);
        rd_kafka_position(kio->consumer, pos);
        for (int i = 0; i < pos->cnt && caught_up; i++) {
                int64_t lo = -1, hi = -1;
                if (rd_kafka_get_watermark_offsets(
                        kio->consumer, pos->elems[i].topic,
                        pos->elems[i].partition, &lo, &hi) != 0 ||
                    hi < 0)
                        continue; /* nothing fetched yet: no known backlog */
                if (pos->elems[i].offset < 0 ? hi > lo
                                             : pos->elems[i].offset < hi)
                        caught_up = false;
        }
        rd_kafka_topic_partition_list_destroy(pos);
        return caught_up;
}

bool nd_kio_partition_caught_up(nd_kio_t *kio, int32_t partition) {
        bool caught_up = true;
        for (int i = 0; i < kio->assignment->cnt && caught_up; i++) {
                rd_kafka_topic_partition_t *tp = &kio->assignment->elems[i];
                rd_kafka_topic_partition_list_t *one;
                int64_t lo = -1, hi = -1;
                if (tp->partition != partition)
                        continue;
                if (rd_kafka_get_watermark_offsets(kio->consumer, tp->topic,
                                                   tp->partition, &lo,
                                                   &hi) != 0 ||
                    hi < 0)
                        continue;
                one = rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(one, tp->topic,
                                                  tp->partition);
                rd_kafka_position(kio->consumer, one);
                if (one->elems[0].offset < 0 ? hi > lo
                                             : one->elems[0].offset < hi)
                        caught_up = false;
                rd_kafka_topic_partition_list_destroy(one);
        }
        return caught_up;
}

void nd_kio_lag_foreach(nd_kio_t *kio,
                        void (*cb)(void *arg, const char *topic,
                                   int32_t partition, int64_t lag),
                        void *arg) {
        rd_kafka_topic_partition_list_t *pos;
        if (!kio->assignment || kio->assignment->cnt == 0)
                return;
        pos = rd_kafka_topic_partition_list_copy(kio->assignment);
        rd_kafka_position(kio->consumer, pos);
        for (int i = 0; i < pos->cnt; i++) {
                rd_kafka_topic_partition_t *tp = &pos->elems[i];
                int64_t lo = -1, hi = -1, lag = -1;
                if (rd_kafka_get_watermark_offsets(kio->consumer, tp->topic,
                                                   tp->partition, &lo,
                                                   &hi) == 0 &&
                    hi >= 0)
                        lag = tp->offset >= 0 ? hi - tp->offset
                                              : (lo >= 0 ? hi - lo : -1);
                cb(arg, tp->topic, tp->partition, lag < 0 ? -1 : lag);
        }
        rd_kafka_topic_partition_list_destroy(pos);
}

nd_err_t nd_kio_close(nd_kio_t *kio, int timeout_ms) {
        nd_err_t err = ND_OK;
        rd_kafka_resp_err_t rerr;
        nd_kio_release(kio);
        kio->sync_commit = true;
        err = nd_kio_commit(kio);
        /* The final revocation inside close commits again: a no-op now. */
        rerr = rd_kafka_consumer_close(kio->consumer);
        if (rerr)
                nd_log_warn("kio", "consumer close: %s",
                            rd_kafka_err2str(rerr));
        rerr = rd_kafka_flush(kio->producer, timeout_ms);
        if (rerr) {
                nd_log_warn("kio", "producer flush: %s",
                            rd_kafka_err2str(rerr));
                if (err == ND_OK)
                        err = ND_ERR_TIMEOUT;
        }
        return err;
}

void nd_kio_destroy(nd_kio_t *kio) {
        if (!kio)
                return;
        if (kio->batch) {
                nd_kio_release(kio);
                nd_free(kio->batch);
        }
        topics_release(kio->topics, kio->topic_cnt);
        if (kio->consumer)
                rd_kafka_destroy(kio->consumer);
        if (kio->producer)
                rd_kafka_destroy(kio->producer);
        if (kio->assignment)
                rd_kafka_topic_partition_list_destroy(kio->assignment);
        snaps_clear(kio);
        nd_free(kio);
}

/* ------------------------------------------------------------------ */
/* Simple clients                                                      */

static void client_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                         void *opaque) {
        nd_kio_client_t *cl = opaque;
        if (rkm->err)
                cl->dr_failed++;
}

nd_kio_client_t *nd_kio_producer_new(const nd_config_t *cfg,
                                     const char *bootstrap, char *errstr,
                                     size_t errstr_size) {
        nd_kio_client_t *cl = nd_calloc(1, sizeof(*cl));
        rd_kafka_conf_t *kc =
            build_conf(cfg, "producer", bootstrap, errstr, errstr_size);
        if (!kc)
                goto fail;
        rd_kafka_conf_set(kc, "enable.idempotence", "true", NULL, 0);
        rd_kafka_conf_set(kc, "partitioner", "murmur2_random", NULL, 0);
        rd_kafka_conf_set(kc, "linger.ms", "5", NULL, 0);
        rd_kafka_conf_set(kc, "client.id", "nudge-client", NULL, 0);
        rd_kafka_conf_set_dr_msg_cb(kc, client_dr_cb);
        rd_kafka_conf_set_opaque(kc, cl);
        cl->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
        if (!cl->rk) {
                rd_kafka_conf_destroy(kc);
                goto fail;
        }
        return cl;
fail:
        nd_free(cl);
        return NULL;
}

nd_kio_client_t *nd_kio_reader_new(const nd_config_t *cfg,
                                   const char *bootstrap, const char *topic,
                                   bool read_committed, char *errstr,
                                   size_t errstr_size) {
        nd_kio_client_t *cl = nd_calloc(1, sizeof(*cl));
        rd_kafka_topic_partition_list_t *sub;
        rd_kafka_conf_t *kc =
            build_conf(cfg, "consumer", bootstrap, errstr, errstr_size);
        char group[128];
        if (!kc)
                goto fail;
        snprintf(group, sizeof(group), "nudge-reader-%d-%lld", (int)getpid(),
                 (long long)nd_clock_mono_ns());
        rd_kafka_conf_set(kc, "group.id", group, NULL, 0);
        rd_kafka_conf_set(kc, "client.id", "nudge-reader", NULL, 0);
        rd_kafka_conf_set(kc, "auto.offset.reset", "earliest", NULL, 0);
        rd_kafka_conf_set(kc, "enable.auto.commit", "false", NULL, 0);
        rd_kafka_conf_set(
            kc, "isolation.level",
            read_committed ? "read_committed" : "read_uncommitted", NULL, 0);
        cl->consumer = true;
        cl->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size);
        if (!cl->rk) {
                rd_kafka_conf_destroy(kc);
                goto fail;
        }
        rd_kafka_poll_set_consumer(cl->rk);
        sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_subscribe(cl->rk, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        return cl;
fail:
        nd_free(cl);
        return NULL;
}

nd_err_t nd_kio_client_produce(nd_kio_client_t *cl, const char *topic,
                               const void *key, size_t key_len,
                               const void *value, size_t value_len) {
        rd_kafka_topic_t *rkt =
            topic_get(cl->rk, cl->topics, &cl->topic_cnt, topic);
        int64_t deadline = nd_clock_mono_ms() + KIO_PRODUCE_WAIT_MS;
        if (!rkt)
                return ND_ERR_KAFKA; /* more topics than the cache holds */
        for (;;) {
                if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA,
                                     RD_KAFKA_MSG_F_COPY, (void *)value,
                                     value_len, key, key_len, NULL) == 0)
                        return ND_OK;
                if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL ||
                    nd_clock_mono_ms() > deadline)
                        return ND_ERR_KAFKA;
                rd_kafka_poll(cl->rk, 10);
        }
}

long nd_kio_client_poll(nd_kio_client_t *cl, int timeout_ms) {
        rd_kafka_poll(cl->rk, timeout_ms);
        return cl->dr_failed;
}

nd_err_t nd_kio_client_flush(nd_kio_client_t *cl, int timeout_ms) {
        return rd_kafka_flush(cl->rk, timeout_ms) ? ND_ERR_TIMEOUT : ND_OK;
}

/* A table partition is done once its records up to the end offset noted
 * at creation were read, or an EOF came (eof_at >= 0). */
static void table_mark_end(nd_kio_client_t *cl, const rd_kafka_message_t *rkm,
                           int64_t eof_at) {
        const char *topic = rd_kafka_topic_name(rkm->rkt);
        for (int i = 0; i < cl->table->cnt; i++) {
                rd_kafka_topic_partition_t *tp = &cl->table->elems[i];
                if (tp->partition != rkm->partition || strcmp(tp->topic, topic))
                        continue;
                if (eof_at >= 0 || rkm->offset + 1 >= cl->end[i])
                        tp->err = RD_KAFKA_RESP_ERR__PARTITION_EOF;
        }
}

nd_kio_client_t *nd_kio_table_new(const nd_config_t *cfg, const char *bootstrap,
                                  const char *const *topics, int topic_cnt,
                                  const int32_t *parts, int part_cnt,
                                  char *errstr, size_t errstr_size) {
        nd_kio_client_t *cl = nd_calloc(1, sizeof(*cl));
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err;
        rd_kafka_conf_t *kc =
            build_conf(cfg, "consumer", bootstrap, errstr, errstr_size);
        if (!kc)
                goto fail;
        rd_kafka_conf_set(kc, "client.id", "nudge-table", NULL, 0);
        rd_kafka_conf_set(kc, "enable.partition.eof", "true", NULL, 0);
        rd_kafka_conf_set(kc, "enable.auto.commit", "false", NULL, 0);
        rd_kafka_conf_set(kc, "isolation.level", "read_committed", NULL, 0);
        /* WHY: the end of a partition is seen as an empty fetch, which the
         * broker holds for fetch.wait.max.ms; a restore should not wait
         * half a second per partition for it. */
        rd_kafka_conf_set(kc, "fetch.wait.max.ms", "10", NULL, 0);
        /* WHY large fetches: a restore reads whole partitions as fast as it
         * can; with the default 1 MB per partition per fetch it spends its
         * time in round trips (measured: 175k records/s). */
        rd_kafka_conf_set(kc, "max.partition.fetch.bytes", "67108864", NULL, 0);
        rd_kafka_conf_set(kc, "fetch.max.bytes", "134217728", NULL, 0);
        rd_kafka_conf_set(kc, "receive.message.max.bytes", "135266304", NULL,
                          0);
        rd_kafka_conf_set(kc, "queued.max.messages.kbytes", "1048576", NULL, 0);
        rd_kafka_conf_set(kc, "queued.min.messages", "1000000", NULL, 0);
        /* A consumer handle needs a group id to exist; it never joins. */
        rd_kafka_conf_set(kc, "group.id", "nudge-table-reader", NULL, 0);
        cl->consumer = true;
        cl->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size);
        if (!cl->rk) {
                rd_kafka_conf_destroy(kc);
                goto fail;
        }
        rd_kafka_poll_set_consumer(cl->rk);
        cl->queue = rd_kafka_queue_get_consumer(cl->rk);
        cl->batch = nd_calloc(KIO_TABLE_BATCH, sizeof(*cl->batch));
        err = rd_kafka_metadata(cl->rk, 1, NULL, &md, KIO_TXN_TIMEOUT_MS);
        if (err) {
                snprintf(errstr, errstr_size, "metadata: %s",
                         rd_kafka_err2str(err));
                goto fail;
        }
        cl->table = rd_kafka_topic_partition_list_new(16);
        for (int t = 0; t < topic_cnt; t++)
                for (int j = 0; j < md->topic_cnt; j++) {
                        const struct rd_kafka_metadata_topic *mt =
                            &md->topics[j];
                        if (strcmp(mt->topic, topics[t]) || mt->err)
                                continue;
                        for (int k = 0; k < mt->partition_cnt; k++) {
                                bool want = !parts;
                                for (int q = 0; q < part_cnt && !want; q++)
                                        want = parts[q] == mt->partitions[k].id;
                                if (want)
                                        rd_kafka_topic_partition_list_add(
                                            cl->table, mt->topic,
                                            mt->partitions[k].id)
                                            ->offset =
                                            RD_KAFKA_OFFSET_BEGINNING;
                        }
                }
        rd_kafka_metadata_destroy(md);
        md = NULL;
        cl->end = nd_calloc((size_t)(cl->table->cnt ? cl->table->cnt : 1),
                            sizeof(*cl->end));
        for (int i = 0; i < cl->table->cnt; i++) {
                rd_kafka_topic_partition_t *tp = &cl->table->elems[i];
                int64_t lo = 0, hi = 0;
                err = rd_kafka_query_watermark_offsets(cl->rk, tp->topic,
                                                       tp->partition, &lo, &hi,
                                                       KIO_TXN_TIMEOUT_MS);
                if (err) {
                        snprintf(errstr, errstr_size, "%s [%d]: %s", tp->topic,
                                 (int)tp->partition, rd_kafka_err2str(err));
                        goto fail;
                }
                cl->end[i] = hi;
                /* Empty partitions are done before they start. */
                tp->err = hi <= lo ? RD_KAFKA_RESP_ERR__PARTITION_EOF
                                   : RD_KAFKA_RESP_ERR_NO_ERROR;
        }
        if (cl->table->cnt && (err = rd_kafka_assign(cl->rk, cl->table)) != 0) {
                snprintf(errstr, errstr_size, "assign: %s",
                         rd_kafka_err2str(err));
                goto fail;
        }
        return cl;
fail:
        if (md)
                rd_kafka_metadata_destroy(md);
        cl->consumer = false; /* never subscribed: nothing to close */
        nd_kio_client_destroy(cl);
        return NULL;
}

bool nd_kio_table_loaded(nd_kio_client_t *cl) {
        for (int i = 0; i < cl->table->cnt; i++)
                if (cl->table->elems[i].err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        return false;
        return true;
}

void nd_kio_table_progress(const nd_kio_client_t *cl, int64_t *read,
                           int64_t *total) {
        *read = cl->read;
        *total = 0;
        for (int i = 0; i < cl->table->cnt; i++)
                *total += cl->end[i];
}

/* One consumed message: EOF bookkeeping for tables, else the callback. */
static bool client_msg(nd_kio_client_t *cl, rd_kafka_message_t *rkm,
                       void (*cb)(void *arg, const nd_rec_t *rec), void *arg) {
        nd_rec_t rec;
        if (rkm->err) {
                if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && cl->table)
                        table_mark_end(cl, rkm, rkm->offset);
                rd_kafka_message_destroy(rkm);
                return false;
        }
        fill_rec(&rec, rkm);
        cb(arg, &rec);
        if (cl->table) {
                cl->read++;
                table_mark_end(cl, rkm, -1);
        }
        rd_kafka_message_destroy(rkm);
        return true;
}

int nd_kio_client_read(nd_kio_client_t *cl, int max, int timeout_ms,
                       void (*cb)(void *arg, const nd_rec_t *rec), void *arg) {
        int n = 0;
        /* WHY in batches for table readers: a restore reads millions of
         * records, and one rd_kafka_consumer_poll() per record takes the
         * queue's lock and wakes the fetcher's bookkeeping each time.
         * WHY not for the worker's consumer (nd_kio_poll): librdkafka
         * 2.0.0's release notes list known issues of the batch API with
         * seek, pause, resume and rebalancing, and exactly-once rewinds
         * seek; a table reader only assigns, once. */
        while (cl->queue && n < max) {
                int want =
                    max - n < KIO_TABLE_BATCH ? max - n : KIO_TABLE_BATCH;
                ssize_t got = rd_kafka_consume_batch_queue(
                    cl->queue, n == 0 ? timeout_ms : 0, cl->batch,
                    (size_t)want);
                if (got <= 0)
                        return n;
                for (ssize_t i = 0; i < got; i++)
                        if (client_msg(cl, cl->batch[i], cb, arg))
                                n++;
                if (got < want)
                        return n;
        }
        while (n < max) {
                rd_kafka_message_t *rkm =
                    rd_kafka_consumer_poll(cl->rk, n == 0 ? timeout_ms : 0);
                if (!rkm)
                        break;
                if (client_msg(cl, rkm, cb, arg))
                        n++;
                else
                        timeout_ms = 0;
        }
        return n;
}

void nd_kio_client_destroy(nd_kio_client_t *cl) {
        if (!cl)
                return;
        topics_release(cl->topics, cl->topic_cnt);
        if (cl->queue)
                rd_kafka_queue_destroy(cl->queue);
        nd_free(cl->batch);
        if (cl->rk && cl->consumer && !cl->table)
                rd_kafka_consumer_close(cl->rk);
        if (cl->rk)
                rd_kafka_destroy(cl->rk);
        if (cl->table)
                rd_kafka_topic_partition_list_destroy(cl->table);
        nd_free(cl->end);
        nd_free(cl);
}
