/*
 * nd_kafka_test — talk to the real Apache Kafka broker of the integration
 * tests (scripts/kafka.sh, docs/internals/TEST-BROKER.md).
 *
 * Built on librdkafka directly, not on kio: these helpers set up topics and
 * records around the engine and read back what it wrote, so they must not
 * share its bugs. Every wait has a deadline; nothing sleeps a fixed time.
 *
 * Tests take the broker address from ND_TEST_BOOTSTRAP, which
 * scripts/test.sh sets from .cache/kafka/run/broker.env (or, for the fault
 * tests that need no real broker, nd_kt_mock_new() from an in-process
 * mock cluster). Each test makes its
 * own topics and consumer groups with nd_kt_unique_name(), so tests never see
 * each other's records, whatever order they run in and however often.
 *
 * Errors: functions returning nd_err_t give 0 or a negative code and, where
 * they take errstr, a message in it; the test asserts. nd_kt_bootstrap()
 * fails the running Check test itself when the broker is not configured.
 *
 * Thread safety: every function may be called from any thread; a handle
 * (rd_kafka_t, nd_kt_recs_t) is used by one thread at a time.
 */
#ifndef ND_KAFKA_TEST_H
#define ND_KAFKA_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "nudge/err.h"

/** Room for any name nd_kt_unique_name() makes (with a 40-char prefix). */
#define ND_KT_NAME_MAX 96

/** Default deadline of the helpers that take none, in ms. */
#define ND_KT_TIMEOUT_MS 30000

/**
 * The broker's bootstrap address, from ND_TEST_BOOTSTRAP. When it is unset
 * or empty, fails the calling Check test with a message saying how to start
 * a broker; never returns NULL.
 */
const char *nd_kt_bootstrap(void);

/** The broker's version from ND_TEST_KAFKA_VERSION, or "unknown". */
const char *nd_kt_version(void);

/**
 * Writes "<prefix>-<pid>-<n>-<random hex>" into buf (size bytes, at least
 * ND_KT_NAME_MAX for prefixes up to 40 characters), n counting calls in this
 * process. Usable as a topic, group or transactional id. Returns buf.
 */
char *nd_kt_unique_name(char *buf, size_t size, const char *prefix);

/**
 * A new configuration with bootstrap.servers set and the client.id
 * "nd-test"; the caller owns it (rd_kafka_new() takes it on success).
 */
rd_kafka_conf_t *nd_kt_conf(void);

/**
 * Creates topic with partitions partitions (replication factor 1) and waits
 * until the broker's metadata lists all of them, at most timeout_ms.
 * config is NULL or a NULL-terminated list of name, value pairs, e.g.
 * {"cleanup.policy", "compact", NULL}. Returns ND_OK, ND_ERR_TIMEOUT, or
 * ND_ERR_KAFKA with the broker's reason in errstr (also when the topic
 * exists already).
 */
nd_err_t nd_kt_create_topic(const char *topic, int partitions,
                            const char *const *config, int timeout_ms,
                            char *errstr, size_t errstr_size);

/**
 * Number of partitions of topic in the broker's metadata: > 0 when it
 * exists, 0 when it does not, a negative nd_err_t when the metadata request
 * fails. rk is any client handle, or NULL for a short-lived one.
 */
int nd_kt_topic_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms);

/**
 * The value of topic config name as the broker describes it (set or
 * default), copied into value (value_size bytes; "" for a null value).
 * Returns ND_OK, ND_ERR_NOENT when the broker lists no such config,
 * ND_ERR_TIMEOUT or ND_ERR_KAFKA, with the reason in errstr.
 */
nd_err_t nd_kt_topic_config(const char *topic, const char *name, char *value,
                            size_t value_size, int timeout_ms, char *errstr,
                            size_t errstr_size);

/** A record header for nd_kt_produce(); value may be NULL (a null header). */
typedef struct nd_kt_header_s {
        const char *name;
        const void *value;
        size_t size;
} nd_kt_header_t;

/** A record to produce; key and value may be NULL (null key / tombstone). */
typedef struct nd_kt_msg_s {
        const void *key;
        size_t key_len;
        const void *value;
        size_t value_len;
        const nd_kt_header_t *headers;
        size_t header_cnt;
        int64_t timestamp; /* ms since the epoch; 0 = now */
} nd_kt_msg_t;

/** A nd_kt_msg_t from two C strings (either may be NULL), no headers. */
static inline nd_kt_msg_t nd_kt_msg(const char *key, const char *value) {
        nd_kt_msg_t m = {0};
        m.key = key;
        m.key_len = key ? strlen(key) : 0;
        m.value = value;
        m.value_len = value ? strlen(value) : 0;
        return m;
}

/**
 * A producer with acks=all and idempotence on, or, when transactional_id is
 * not NULL, a transactional producer on which rd_kafka_init_transactions()
 * has succeeded within timeout_ms. Returns NULL with the reason in errstr.
 * Destroy with rd_kafka_destroy(). Failed deliveries are counted in
 * nd_kt_delivery_failures(); a transaction's commit fails on them anyway.
 */
rd_kafka_t *nd_kt_producer_new(const char *transactional_id, int timeout_ms,
                               char *errstr, size_t errstr_size);

/**
 * Failed delivery reports of all nd_kt_producer_new() producers of this
 * process so far (Check forks each test, so: of this test).
 */
int nd_kt_delivery_failures(void);

/**
 * Waits until everything rk has sent is delivered or failed, at most
 * timeout_ms. Returns ND_OK, or ND_ERR_TIMEOUT with records still queued.
 */
nd_err_t nd_kt_flush(rd_kafka_t *rk, int timeout_ms);

/**
 * Sends cnt records to topic and partition (RD_KAFKA_PARTITION_UA: by key)
 * through producer rk without waiting for delivery; inside a transaction
 * when one is open on rk. Copies keys, values and headers. Returns ND_OK or
 * ND_ERR_KAFKA with the reason in errstr.
 */
nd_err_t nd_kt_send(rd_kafka_t *rk, const char *topic, int32_t partition,
                    const nd_kt_msg_t *msgs, size_t cnt, char *errstr,
                    size_t errstr_size);

/**
 * Produces cnt records to topic and partition with a producer of its own,
 * flushes, and checks every delivery report. Returns ND_OK, ND_ERR_TIMEOUT
 * when not all were delivered within timeout_ms, or ND_ERR_KAFKA.
 */
nd_err_t nd_kt_produce(const char *topic, int32_t partition,
                       const nd_kt_msg_t *msgs, size_t cnt, int timeout_ms,
                       char *errstr, size_t errstr_size);

typedef enum {
        ND_KT_READ_UNCOMMITTED = 0,
        ND_KT_READ_COMMITTED,
} nd_kt_isolation_t;

/**
 * A consumer subscribed to topic in group group_id (NULL: a new unique
 * group), auto.offset.reset=earliest, the given isolation level, and
 * enable.auto.commit=false so that offsets move only when a test commits.
 * Returns NULL with the reason in errstr. Close with nd_kt_consumer_destroy().
 */
rd_kafka_t *nd_kt_consumer_new(const char *topic, const char *group_id,
                               nd_kt_isolation_t isolation, char *errstr,
                               size_t errstr_size);

/** rd_kafka_consumer_close() then rd_kafka_destroy(); NULL is a no-op. */
void nd_kt_consumer_destroy(rd_kafka_t *rk);

/** A consumed record; all its memory belongs to the nd_kt_recs_t. */
typedef struct nd_kt_rec_s {
        char *topic;
        int32_t partition;
        int64_t offset;
        int64_t timestamp;
        char *key; /* NUL-terminated copy, NULL for a null key */
        size_t key_len;
        char *value; /* NUL-terminated copy, NULL for a null value */
        size_t value_len;
        nd_kt_header_t *headers; /* copies; value NUL-terminated or NULL */
        size_t header_cnt;
} nd_kt_rec_t;

/** A growing array of consumed records; zero-initialise, then _fini. */
typedef struct nd_kt_recs_s {
        nd_kt_rec_t *v;
        size_t cnt;
        size_t cap;
} nd_kt_recs_t;

/**
 * Polls consumer rk and appends what it reads to recs until recs holds at
 * least want records or timeout_ms passes. Returns recs->cnt. Consumer
 * errors are logged and polling goes on, except after a fatal error, which
 * ends the call early.
 */
size_t nd_kt_consume(rd_kafka_t *rk, size_t want, int timeout_ms,
                     nd_kt_recs_t *recs);

/** Frees every record of recs and leaves it empty; reusable after. */
void nd_kt_recs_fini(nd_kt_recs_t *recs);

/** The first header of rec called name, or NULL. */
const nd_kt_header_t *nd_kt_rec_header(const nd_kt_rec_t *rec,
                                       const char *name);

/** The first record of recs whose key is the C string key, or NULL. */
const nd_kt_rec_t *nd_kt_recs_find(const nd_kt_recs_t *recs, const char *key);

/**
 * The offset that group_id has committed for topic and partition (the next
 * offset it would read), RD_KAFKA_OFFSET_INVALID (-1001) when it has none,
 * into *offset. Asks with require_stable, so pending transactional commits
 * are waited for. Returns ND_OK, ND_ERR_KAFKA or ND_ERR_TIMEOUT.
 */
nd_err_t nd_kt_committed(const char *group_id, const char *topic,
                         int32_t partition, int64_t *offset, int timeout_ms,
                         char *errstr, size_t errstr_size);

/**
 * The end (high watermark) of topic and partition into *end, asked of the
 * partition's leader. Returns ND_OK, ND_ERR_TIMEOUT or ND_ERR_KAFKA with
 * the reason in errstr.
 */
nd_err_t nd_kt_end_offset(const char *topic, int32_t partition, int64_t *end,
                          int timeout_ms, char *errstr, size_t errstr_size);

/**
 * librdkafka's in-process mock cluster, for the fault tests (tests/faults):
 * no real broker. It has no CreateTopics, so topics are made with
 * nd_kt_mock_topic(). Its Fetch reports every offset as stable and no
 * aborted transaction, so read_committed cannot be checked against it.
 */
typedef struct nd_kt_mock_s nd_kt_mock_t;

/**
 * Starts a mock cluster with brokers brokers and points ND_TEST_BOOTSTRAP
 * (this process's environment) at it, so that every helper above talks to
 * it. Returns NULL with the reason in errstr.
 */
nd_kt_mock_t *nd_kt_mock_new(int brokers, char *errstr, size_t errstr_size);

/** The mock's bootstrap address ("127.0.0.1:port,..."). */
const char *nd_kt_mock_bootstraps(const nd_kt_mock_t *mock);

/** Creates topic with partitions partitions on the mock. */
nd_err_t nd_kt_mock_topic(nd_kt_mock_t *mock, const char *topic,
                          int partitions);

/** Stops the mock; NULL is a no-op. */
void nd_kt_mock_destroy(nd_kt_mock_t *mock);

#endif
