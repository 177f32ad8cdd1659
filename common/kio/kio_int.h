/*
 * kio_int.h — what the .c files of kio share: the client structures, the
 * constants they are sized by, and the nd__kio_* functions one file
 * defines for another. Only kio's own .c files include it; it is also
 * what keeps librdkafka's types inside kio (STYLE.md §2: kio.h shows
 * none of them).
 *
 * The files:
 *   kio.c         configuration, the worker's clients, poll and produce
 *                 (batches, delivery reports), positions and lag
 *   kio_commit.c  the commit protocol (transactions, at-least-once
 *                 epochs, abort and rewind), rebalances, close
 *   kio_admin.c   topic metadata and creation, the embedded mock cluster
 *   kio_table.c   table readers (restore, catalog) and the tools' simple
 *                 clients, everything on nd_kio_client_t
 * The protocol across kio and the runtime: docs/internals/COMMIT.md.
 */
#ifndef ND_KIO_INT_H
#define ND_KIO_INT_H

#include <string.h>

#include <librdkafka/rdkafka.h>

#include "kio.h"
#include "mem.h"

#define KIO_TXN_TIMEOUT_MS  30000
#define KIO_TOPIC_CACHE     16
#define KIO_PRODUCE_WAIT_MS 30000
#define KIO_EPOCHS          64 /* at-least-once commits awaiting delivery */
#define KIO_MAX_TOPICS      8  /* event topics of one task */

/* kio_group.c: a buffered record and its event time. */
struct kio_slot {
        rd_kafka_message_t *rkm;
        int64_t ts;      /* event time */
        int64_t arrived; /* mono ms it was buffered */
};

/* One assigned partition's buffer (a ring of records not handed out). */
struct kio_part {
        bool assigned;
        bool at_end; /* an EOF event came after the last record fetched */
        int32_t partition;
        rd_kafka_queue_t *rkq; /* its own fetch queue (not forwarded) */
        struct kio_slot *ring;
        int cap, head, cnt;
        int64_t next; /* offset after the last record handed out; -1 */
};

/* One partition number: a task's partitions, one per subscribed topic. */
struct kio_task {
        int assigned;       /* how many of part[] are */
        int64_t hold_since; /* mono ms it began to wait; 0 = not waiting */
        int64_t held_until; /* nd_kio_hold(): mono ms; 0 = not held */
        bool told;          /* the enforced processing of this wait logged */
        struct kio_part part[KIO_MAX_TOPICS];
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
        bool pending;        /* consumed or produced since commit */
        long dr_failed;      /* failed deliveries since commit */
        char txn_error[256]; /* the transactional call that failed for good */
        rd_kafka_topic_partition_list_t *assignment; /* our own copy */
        rd_kafka_message_t **batch; /* handed out by the last poll */
        int64_t *batch_ts;          /* their event times (nd_kio_hold) */
        int batch_cnt;
        int batch_cap;
        /* The partition group (kio_group.c): the subscribed topics in
         * order (a topic's index breaks timestamp ties), a task per
         * partition number. */
        char *sub[KIO_MAX_TOPICS];
        const char *sub_ptr[KIO_MAX_TOPICS]; /* librdkafka's name pointer */
        int sub_cnt;
        struct kio_task *tasks; /* by partition number */
        int task_cap;
        int take_from;             /* the task the next take() starts with */
        int64_t max_idle_ms;       /* processing.max_task_idle */
        int64_t grace_ms;          /* processing.cross_topic_grace */
        int64_t now_ms;            /* mono ms of the current drain or fill */
        int64_t wake_at;           /* mono ms a grace ends (0: none) */
        uint64_t enforced;         /* records handed out without waiting */
        rd_kafka_queue_t *cq;      /* the consumer queue (wakes us too) */
        int wake[2];               /* the queues' wake-up pipe */
        rd_kafka_message_t **fill; /* what one queue read takes */
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
        /* nd_kio_client_unread(): partitions to read again from offset */
        rd_kafka_topic_partition_list_t *unread;
};

/* ------------------------------------------------------------------ */
/* kio.c: configuration                                                */

/** librdkafka's log lines into nd_log (set on every handle kio makes). */
void nd__kio_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                    const char *buf);

/**
 * Builds a librdkafka conf for role ("consumer" or "producer"): every
 * kafka.* property, then role-scoped ones, then bootstrap. Returns NULL
 * with errstr naming the key when librdkafka refuses a property (a
 * configuration error, ND_ERR_CONFIG to the caller's caller).
 */
rd_kafka_conf_t *nd__kio_build_conf(const nd_config_t *cfg, const char *role,
                                    const char *bootstrap, char *errstr,
                                    size_t errstr_size);

/**
 * rd_kafka_new() that always takes kc: librdkafka frees the conf only on
 * success, this frees it on failure too (STYLE.md §5.2), so callers NULL
 * their pointer right after the call. Returns NULL with errstr on failure.
 */
rd_kafka_t *nd__kio_handle_new(rd_kafka_type_t type, rd_kafka_conf_t *kc,
                               char *errstr, size_t errstr_size);

/* ------------------------------------------------------------------ */
/* kio_commit.c: for the worker's clients in kio.c                      */

/** Begins the next transaction; ND_OK, ND_ERR_FENCED or KAFKA_FATAL. */
nd_err_t nd__kio_begin_txn(nd_kio_t *kio);

/**
 * At-least-once: commits asynchronously the newest snapshot whose epoch,
 * and every one before it, is fully delivered. Never blocks.
 */
void nd__kio_alos_try_commit(nd_kio_t *kio);

/** Frees the at-least-once snapshots not committed yet. */
void nd__kio_snaps_clear(nd_kio_t *kio);

/** The consumer's rebalance callback (opaque: the nd_kio_t). */
void nd__kio_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t *parts, void *opaque);

/* ------------------------------------------------------------------ */
/* kio_group.c: for the rebalance and commit paths in kio_commit.c      */

/** The subscription index of a topic name, or -1. */
int nd__kio_topic_index(nd_kio_t *kio, const char *name);
/** New partitions: empty buffers, not at their end. */
void nd__kio_group_assign(nd_kio_t *kio,
                          const rd_kafka_topic_partition_list_t *parts);
/** Partitions taken away: their buffered records are dropped. */
void nd__kio_group_revoke(nd_kio_t *kio,
                          const rd_kafka_topic_partition_list_t *parts);
/** After a seek to the committed offsets: every buffer dropped. */
void nd__kio_group_rewound(nd_kio_t *kio);
/** The positions to commit: after the last record handed out of each
 * partition that handed one out since its assignment; NULL when none. */
rd_kafka_topic_partition_list_t *nd__kio_group_positions(nd_kio_t *kio);
/** Frees the buffers (destroy). */
void nd__kio_group_free(nd_kio_t *kio);
/** Lets go of every queue reference (before the consumer closes). */
void nd__kio_group_release_queues(nd_kio_t *kio);
/** Before the consumer is recreated: frees every buffer and queue, and
 * forgets what referred to the old consumer (its topic name pointers),
 * so that the new one starts with no partition. */
void nd__kio_group_reset(nd_kio_t *kio);

/* ------------------------------------------------------------------ */
/* Inline: on the per-record paths of kio.c and kio_table.c             */

/* Fills rec from a consumed message (ev = NULL); borrows its memory. */
static inline void nd__kio_fill_rec(nd_rec_t *rec,
                                    const rd_kafka_message_t *rkm) {
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

/* The topic handle of name from a cache of KIO_TOPIC_CACHE; NULL when the
 * cache is full (produce by name then). */
static inline rd_kafka_topic_t *nd__kio_topic_get(rd_kafka_t *rk,
                                                  struct topic_ref *refs,
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

static inline void nd__kio_topics_release(struct topic_ref *refs, int cnt) {
        for (int i = 0; i < cnt; i++) {
                rd_kafka_topic_destroy(refs[i].rkt);
                nd_free(refs[i].name);
        }
}

#endif
