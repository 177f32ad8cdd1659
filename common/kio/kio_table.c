/*
 * kio_table.c — table readers and the tools' simple clients.
 *
 * A table reader (nd_kio_table_new) reads whole partitions outside any
 * group: the runtime restores a task's state from its changelog partitions
 * with one, and loads the catalog (a global table) with another. It
 * assigns the partitions from the beginning, read_committed, and notes
 * each one's end offset when it is created; a
 * partition is done once its records up to that end were read or an EOF
 * came, and the table is loaded when every partition is done. Records
 * written after the reader was created may be read too, they just are not
 * waited for. Table readers take records in batches from the consumer
 * queue (WHY in nd_kio_client_read) and fetch large: a restore is bound by
 * how fast it reads.
 *
 * The simple producer and group reader (nd_kio_producer_new,
 * nd_kio_reader_new) are for the demo and the tools, not the engine; they
 * share nd_kio_client_t and its read loop with the table readers.
 */
#include "kio_int.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "mem.h"

#define KIO_TABLE_BATCH 1024 /* records per dequeue of a table reader */

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
            nd__kio_build_conf(cfg, "producer", bootstrap, errstr, errstr_size);
        if (!kc)
                goto fail;
        rd_kafka_conf_set(kc, "enable.idempotence", "true", NULL, 0);
        rd_kafka_conf_set(kc, "partitioner", "murmur2_random", NULL, 0);
        rd_kafka_conf_set(kc, "linger.ms", "5", NULL, 0);
        rd_kafka_conf_set(kc, "client.id", "nudge-client", NULL, 0);
        rd_kafka_conf_set_dr_msg_cb(kc, client_dr_cb);
        rd_kafka_conf_set_opaque(kc, cl);
        cl->rk = nd__kio_handle_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
        if (!cl->rk)
                goto fail;
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
            nd__kio_build_conf(cfg, "consumer", bootstrap, errstr, errstr_size);
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
        cl->rk = nd__kio_handle_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size);
        if (!cl->rk)
                goto fail;
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
            nd__kio_topic_get(cl->rk, cl->topics, &cl->topic_cnt, topic);
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

/* ------------------------------------------------------------------ */
/* Table readers                                                       */

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
            nd__kio_build_conf(cfg, "consumer", bootstrap, errstr, errstr_size);
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
        cl->rk = nd__kio_handle_new(RD_KAFKA_CONSUMER, kc, errstr, errstr_size);
        if (!cl->rk)
                goto fail;
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

/* ------------------------------------------------------------------ */
/* Reading and destroying (every nd_kio_client_t)                      */

/* The element of cl->unread for a message's partition, or NULL. */
static rd_kafka_topic_partition_t *
unread_find(nd_kio_client_t *cl, const char *topic, int32_t partition) {
        if (!cl->unread)
                return NULL;
        return rd_kafka_topic_partition_list_find(cl->unread, topic, partition);
}

void nd_kio_client_unread(nd_kio_client_t *cl, const nd_rec_t *rec) {
        if (unread_find(cl, rec->topic, rec->partition))
                return;
        if (!cl->unread)
                cl->unread = rd_kafka_topic_partition_list_new(4);
        rd_kafka_topic_partition_list_add(cl->unread, rec->topic,
                                          rec->partition)
            ->offset = rec->offset;
}

/* Seeks the partitions given back to where they were given back. */
static void unread_apply(nd_kio_client_t *cl) {
        rd_kafka_error_t *error;
        if (!cl->unread)
                return;
        error = rd_kafka_seek_partitions(cl->rk, cl->unread, 10000);
        if (error) {
                nd_log_warn("kio", "seek back: %s",
                            rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        }
        rd_kafka_topic_partition_list_destroy(cl->unread);
        cl->unread = NULL;
}

/* One consumed message: EOF bookkeeping for tables, else the callback. */
static bool client_msg(nd_kio_client_t *cl, rd_kafka_message_t *rkm,
                       void (*cb)(void *arg, const nd_rec_t *rec), void *arg) {
        nd_rec_t rec;
        if (cl->unread &&
            unread_find(cl, rd_kafka_topic_name(rkm->rkt), rkm->partition)) {
                rd_kafka_message_destroy(rkm); /* read again after the seek */
                return false;
        }
        if (rkm->err) {
                if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && cl->table)
                        table_mark_end(cl, rkm, rkm->offset);
                rd_kafka_message_destroy(rkm);
                return false;
        }
        nd__kio_fill_rec(&rec, rkm);
        cb(arg, &rec);
        if (cl->unread && unread_find(cl, rec.topic, rec.partition)) {
                rd_kafka_message_destroy(rkm);
                return false;
        }
        if (cl->table) {
                cl->read++;
                table_mark_end(cl, rkm, -1);
        }
        rd_kafka_message_destroy(rkm);
        return true;
}

static int client_read(nd_kio_client_t *cl, int max, int timeout_ms,
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

int nd_kio_client_read(nd_kio_client_t *cl, int max, int timeout_ms,
                       void (*cb)(void *arg, const nd_rec_t *rec), void *arg) {
        int n = client_read(cl, max, timeout_ms, cb, arg);
        unread_apply(cl);
        return n;
}

void nd_kio_client_destroy(nd_kio_client_t *cl) {
        if (!cl)
                return;
        nd__kio_topics_release(cl->topics, cl->topic_cnt);
        if (cl->queue)
                rd_kafka_queue_destroy(cl->queue);
        nd_free(cl->batch);
        if (cl->rk && cl->consumer && !cl->table)
                rd_kafka_consumer_close(cl->rk);
        if (cl->rk)
                rd_kafka_destroy(cl->rk);
        if (cl->table)
                rd_kafka_topic_partition_list_destroy(cl->table);
        if (cl->unread)
                rd_kafka_topic_partition_list_destroy(cl->unread);
        nd_free(cl->end);
        nd_free(cl);
}
