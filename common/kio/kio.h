/*
 * kio — Kafka I/O. The only module that includes rdkafka.h (STYLE.md §2).
 *
 * A worker thread owns one nd_kio_t: a consumer in the application's group
 * (offsets never auto-committed) and a producer that is transactional
 * under exactly-once and idempotent under at-least-once. The consumer uses
 * the range assignor, forced: it gives partition p of every event topic to
 * the same consumer, so a customer's clickstream, cart and purchase
 * records reach one task (the sticky assignors do not; docs/design.md
 * "Range assignment, not cooperative-sticky"). The worker loop is
 *
 *     n = nd_kio_poll(kio, recs, max, timeout)   a batch of what is there
 *     ... process recs[0..n), nd_kio_produce() outputs ...
 *     nd_kio_release(kio)                        the batch's memory goes
 *     nd_kio_commit(kio)                         every commit interval
 *
 * Under exactly-once, nd_kio_commit() sends the consumed positions to the
 * open transaction and commits it, so outputs and input offsets become
 * visible together; then it opens the next one. Under at-least-once it
 * closes an epoch: the consumed positions are committed (asynchronously,
 * from nd_kio_poll()) once every record produced up to then is delivered;
 * revocation and close flush the producer and commit at once. When the
 * transaction must be aborted (or a delivery failed), kio aborts, rewinds
 * the consumer to the committed offsets and returns ND_ERR_ABORTABLE: the
 * caller drops what it derived from the records since the last commit and
 * goes on. ND_ERR_FENCED / ND_ERR_KAFKA_FATAL mean these clients cannot go
 * on: the caller drops its tasks and calls nd_kio_rejoin() (new clients),
 * or stops. The whole protocol, with the runtime's side:
 * docs/internals/COMMIT.md.
 *
 * Rebalances are served inside nd_kio_poll(). Before partitions are taken
 * away, kio commits the open transaction (or the offsets), then calls the
 * revoke callback; after new partitions are added, the assign callback.
 * Lost partitions (session timeout) are aborted, not committed.
 *
 * Properties: every `kafka.*` key of the configuration goes to both clients
 * as it is, except `consumer.*` and `producer.*` keys, which go to that
 * client only with the prefix removed. kio sets what exactly-once needs
 * (group.id = application.id unless given, enable.auto.commit=false,
 * isolation.level=read_committed, transactional.id, ...); a user value for
 * those wins where it is safe and is refused where it would break the
 * guarantee (enable.auto.commit=true under exactly-once).
 *
 * Thread safety: an nd_kio_t is used by its worker thread only. The
 * cluster, admin and simple-client helpers may be used from any one thread.
 */
#ifndef ND_KIO_H
#define ND_KIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "nudge/err.h"
#include "nudge/processor.h"

typedef struct nd_kio_s nd_kio_t;
typedef struct nd_kio_cluster_s nd_kio_cluster_t;
typedef struct nd_kio_client_s nd_kio_client_t;

typedef struct nd_kio_header_s {
        const char *name;
        const void *value;
        size_t size;
} nd_kio_header_t;

/* ------------------------------------------------------------------ */
/* The embedded broker: librdkafka's in-process mock cluster.          */

/**
 * Starts a mock cluster of `brokers` brokers on loopback ports.
 * Returns ND_OK and *out, or ND_ERR_KAFKA with errstr.
 */
nd_err_t nd_kio_cluster_new(int brokers, nd_kio_cluster_t **out, char *errstr,
                            size_t errstr_size);
/** "127.0.0.1:port,..." of the mock brokers; owned by the cluster. */
const char *nd_kio_cluster_bootstraps(const nd_kio_cluster_t *mc);
/** Creates a topic on the mock cluster (no-op when it exists). */
nd_err_t nd_kio_cluster_create_topic(nd_kio_cluster_t *mc, const char *topic,
                                     int partitions);
/** nd_kio_cluster_destroy(NULL) is a no-op. Destroy after every client. */
void nd_kio_cluster_destroy(nd_kio_cluster_t *mc);

/* ------------------------------------------------------------------ */
/* Admin: topics and metadata, against the configured cluster.         */

/**
 * Reads the partition count of each topic into counts[] (-1: the topic
 * does not exist). bootstrap overrides kafka.bootstrap.servers when set.
 */
nd_err_t nd_kio_partition_counts(const nd_config_t *cfg, const char *bootstrap,
                                 const char *const *topics, int cnt,
                                 int *counts, int timeout_ms, char *errstr,
                                 size_t errstr_size);

/**
 * Creates topic with `partitions` partitions unless it exists; compact
 * selects cleanup.policy=compact. Replication factor: the broker default.
 */
nd_err_t nd_kio_create_topic(const nd_config_t *cfg, const char *bootstrap,
                             const char *topic, int partitions, bool compact,
                             int timeout_ms, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------------ */
/* The worker's clients.                                               */

typedef struct nd_kio_conf_s {
        const nd_config_t *cfg;
        const char *bootstrap; /* overrides kafka.bootstrap.servers */
        int thread;            /* worker index, for ids and logs */
        /* Called from nd_kio_poll() on the worker thread. */
        void (*on_assign)(void *arg, const int32_t *partitions, int cnt);
        void (*on_revoke)(void *arg, const int32_t *partitions, int cnt,
                          bool lost);
        /* Called at the start of every commit (interval, revocation,
         * close): the runtime produces its changelog records here, so they
         * join the same transaction. An error aborts the commit. */
        nd_err_t (*before_commit)(void *arg);
        /* The event time of a record, by which a task's partitions are
         * merged (called once per record as it is consumed; INT64_MIN
         * puts a record that cannot be read first, to be dead-lettered).
         * NULL: the Kafka record timestamp. */
        int64_t (*timestamp)(void *arg, const nd_rec_t *rec);
        void *arg;
} nd_kio_conf_t;

/**
 * Creates the consumer and producer of one worker and, under exactly-once,
 * initialises transactions (fencing any older producer with the same
 * transactional.id) and begins the first one. conf is copied. Returns ND_OK
 * and *kiop (the caller destroys it), or with *kiop NULL and errstr:
 * ND_ERR_CONFIG when a property is refused, by kio's own checks
 * (partition.assignment.strategy other than range, enable.auto.commit under
 * exactly-once) or by librdkafka (errstr names the key), and ND_ERR_KAFKA
 * when librdkafka cannot create a client or initialise transactions.
 * Called from the thread that starts the workers; the nd_kio_t then
 * belongs to its worker thread.
 */
nd_err_t nd_kio_new(const nd_kio_conf_t *conf, nd_kio_t **kiop, char *errstr,
                    size_t errstr_size);

/**
 * Prepares the producer for the topics it will write (actions, dead
 * letters, changelogs): a topic handle each and one metadata request, so
 * the first record of each does not wait for a metadata round trip and a
 * connection (measured: the first actions after a start took 100-200 ms
 * more than the rest). Bounded by timeout_ms; a failure is only logged:
 * producing works without it, just later.
 */
void nd_kio_warm(nd_kio_t *kio, const char *const *topics, int cnt,
                 int timeout_ms);

/** Subscribes to topics (the event topics). */
nd_err_t nd_kio_subscribe(nd_kio_t *kio, const char *const *topics, int cnt);

/**
 * Hands out up to max records in the order the tasks must apply them
 * (kio_group.c): per partition number, the partitions of the subscribed
 * topics merged by event time (conf.timestamp), ties to the topic
 * subscribed first, each partition in its own order; a task's records are
 * held back while one of its partitions has nothing buffered and has not
 * reached its end (up to processing.max_task_idle). Waits up to timeout_ms
 * when nothing can be handed out at once. Fills recs[] (ev = NULL) and
 * returns the count (0 on timeout) or a negative nd_err_t (fatal consumer
 * error). The records stay valid until nd_kio_release() and count as
 * processed at the next commit. Serves rebalances.
 */
int nd_kio_poll(nd_kio_t *kio, nd_rec_t *recs, int max, int timeout_ms);

/** Releases the batch returned by the last nd_kio_poll(). */
void nd_kio_release(nd_kio_t *kio);

/**
 * Holds task p = recs[k].partition back: recs[k] and every later record of
 * recs[0..n) with that partition number go back to the head of their
 * partitions' buffers, in their order, and are handed out again by a poll
 * at or after until_ms (monotonic; INT64_MAX: never). Their topic is set to
 * NULL in recs[] (the caller skips them), and the positions to commit go
 * back to them: no commit passes a held record. The caller uses it for a
 * transient error (the schema registry cannot be reached) and to stop on a
 * permanent one without committing past it. The task's other partitions
 * wait too, so the order across its topics holds.
 */
void nd_kio_hold(nd_kio_t *kio, nd_rec_t *recs, int n, int k, int64_t until_ms);

/** Topic-partitions of task p that are assigned (0: none). */
int nd_kio_task_partitions(const nd_kio_t *kio, int32_t p);

/**
 * Produces one record (key and value are copied). partition -1 lets the
 * producer's partitioner choose by key, as the Java client does (murmur2).
 * Under exactly-once it joins the open transaction. ND_ERR_BAD_LENGTH: over
 * nd_kio_max_message(); ND_ERR_TIMEOUT, ND_ERR_KAFKA: could not be queued
 * (the caller must not commit past what it was for).
 */
nd_err_t nd_kio_produce(nd_kio_t *kio, const char *topic, int32_t partition,
                        const void *key, size_t key_len, const void *value,
                        size_t value_len, const nd_kio_header_t *hdrs,
                        int hdr_cnt);

/**
 * The largest record the worker's producer sends (its message.max.bytes,
 * key, value, headers and framing included); a bigger one fails with
 * ND_ERR_BAD_LENGTH from nd_kio_produce(), every time.
 */
size_t nd_kio_max_message(const nd_kio_t *kio);

/**
 * Commits: see the top of this file. ND_OK, ND_ERR_ABORTABLE (rewound; drop
 * derived state), ND_ERR_KAFKA (at-least-once: a synchronous offset commit
 * failed; still pending), ND_ERR_FENCED or ND_ERR_KAFKA_FATAL.
 */
nd_err_t nd_kio_commit(nd_kio_t *kio);

/** How long the last nd_kio_commit() that had work took, in ns. */
int64_t nd_kio_last_commit_ns(const nd_kio_t *kio);

/** True when something was consumed or produced since the last commit. */
bool nd_kio_has_pending(const nd_kio_t *kio);

/**
 * True when every assigned partition has nothing buffered and has reached
 * its end (librdkafka's partition EOF: under read_committed, the last
 * stable offset), the hybrid clock's "consumed everything available".
 */
bool nd_kio_caught_up(nd_kio_t *kio);

/** Records handed out without waiting for an empty partition that had not
 * reached its end (processing.max_task_idle ran out), since creation. */
uint64_t nd_kio_enforced(const nd_kio_t *kio);

/** Tasks that hold records back, waiting for one of their partitions. */
int nd_kio_waiting_tasks(const nd_kio_t *kio);

/**
 * Why the clients cannot go on, after nd_kio_poll() or nd_kio_commit()
 * returned ND_ERR_KAFKA_FATAL or ND_ERR_FENCED: librdkafka's fatal error of
 * the consumer or the producer, else the transactional call kio gave up on
 * ("consumer: ..." / "producer: ..."), into buf. Returns buf, or NULL when
 * there is none.
 */
const char *nd_kio_fatal_reason(nd_kio_t *kio, char *buf, size_t size);

/**
 * After a fatal client error: starts over as a restart of the worker would,
 * without the process. Everything that came from the old clients is
 * dropped (the batch, every buffered record, the assignment, under
 * exactly-once the open transaction, under at-least-once the epochs not
 * yet committed); the consumer is destroyed without leaving the group and
 * the producer without flushing; new ones are created (exactly-once:
 * init_transactions() with the same transactional.id, which aborts what
 * the old producer left open, and the first transaction), and the new
 * consumer subscribes to the same topics. The caller must have dropped
 * its tasks: no revoke callback comes for the old assignment, and the new
 * one comes through on_assign as at a start, from the committed offsets.
 * ND_OK, or ND_ERR_CONFIG / ND_ERR_KAFKA with errstr (the broker still
 * away, say); then kio has no working clients and the caller calls this
 * again or destroys it. Worker thread only.
 */
nd_err_t nd_kio_rejoin(nd_kio_t *kio, char *errstr, size_t errstr_size);

/**
 * Commits what is pending (synchronously), leaves the group and flushes the
 * producer. timeout_ms bounds the flush; the commit's transactional calls
 * have kio's own bound (30 s). Returns the commit's error, else
 * ND_ERR_TIMEOUT when the flush did not finish.
 */
nd_err_t nd_kio_close(nd_kio_t *kio, int timeout_ms);

/** nd_kio_destroy(NULL) is a no-op. Call nd_kio_close() first. */
void nd_kio_destroy(nd_kio_t *kio);

/* ------------------------------------------------------------------ */
/* Standalone clients: simple ones for tools and the demo (not on the  */
/* engine's path), and the table readers of restore and the catalog.   */

/** A plain producer (idempotent, linger 5 ms). */
nd_kio_client_t *nd_kio_producer_new(const nd_config_t *cfg,
                                     const char *bootstrap, char *errstr,
                                     size_t errstr_size);
/**
 * A consumer of one topic from the beginning in its own new group;
 * read_committed selects isolation.level.
 */
nd_kio_client_t *nd_kio_reader_new(const nd_config_t *cfg,
                                   const char *bootstrap, const char *topic,
                                   bool read_committed, char *errstr,
                                   size_t errstr_size);
/** Produces to topic, partitioned by key; waits when the queue is full. */
nd_err_t nd_kio_client_produce(nd_kio_client_t *cl, const char *topic,
                               const void *key, size_t key_len,
                               const void *value, size_t value_len);
/** Serves delivery reports; returns the count of failed deliveries so far. */
long nd_kio_client_poll(nd_kio_client_t *cl, int timeout_ms);
/** Flushes a producer. */
nd_err_t nd_kio_client_flush(nd_kio_client_t *cl, int timeout_ms);
/**
 * Reads up to max records, calling cb for each; returns how many were read
 * (0 on timeout).
 */
int nd_kio_client_read(nd_kio_client_t *cl, int max, int timeout_ms,
                       void (*cb)(void *arg, const nd_rec_t *rec), void *arg);
void nd_kio_client_destroy(nd_kio_client_t *cl);

/**
 * From a read callback: rec was not used. It and the rest of its partition
 * are skipped for the rest of this nd_kio_client_read() (and do not count
 * towards a table's end), and the partition is read again from rec when
 * the read returns (a seek). The catalog's answer to a transient error.
 */
void nd_kio_client_unread(nd_kio_client_t *cl, const nd_rec_t *rec);

/**
 * A group-less reader of whole partitions, for restoring changelogs and for
 * the catalog (a global table): assigns the partitions parts[0..part_cnt)
 * (parts NULL: every partition) of each topic from the beginning,
 * read_committed, and notes each partition's end offset at creation. Topics
 * that do not exist are skipped. Read with nd_kio_client_read().
 */
nd_kio_client_t *nd_kio_table_new(const nd_config_t *cfg, const char *bootstrap,
                                  const char *const *topics, int topic_cnt,
                                  const int32_t *parts, int part_cnt,
                                  char *errstr, size_t errstr_size);
/** True once every assigned partition was read up to its end at creation. */
bool nd_kio_table_loaded(nd_kio_client_t *cl);
/** Records read so far, and the end offsets' total (for progress). */
void nd_kio_table_progress(const nd_kio_client_t *cl, int64_t *read,
                           int64_t *total);

/**
 * nd_kio_caught_up() for the task of partition number `partition`.
 */
bool nd_kio_partition_caught_up(nd_kio_t *kio, int32_t partition);

/**
 * Calls cb for every assigned partition with its consumer lag: the high
 * watermark last reported by the broker minus the offset after the last
 * record handed out (buffered records count as lag; -1 when not known
 * yet). Worker thread only.
 */
void nd_kio_lag_foreach(nd_kio_t *kio,
                        void (*cb)(void *arg, const char *topic,
                                   int32_t partition, int64_t lag),
                        void *arg);

/**
 * The partition of a record with this key among `partition_cnt`, as the
 * producers partition (TRIGGERS.md §1): murmur2 like the Java client's
 * default partitioner and librdkafka's murmur2_random (keys are never null
 * here). Used by replay to give each record the task live would.
 */
int32_t nd_kio_partition_of(const void *key, size_t key_len,
                            int32_t partition_cnt);

/** librdkafka's version string. */
const char *nd_kio_version(void);

#endif
