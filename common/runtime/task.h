/*
 * task — one partition number's worth of the engine, without Kafka.
 *
 * A task holds the watermark W, one timer set, and for every configured
 * trigger an instance: the processor's per-task state and its keyed store.
 * nd_task_process() runs the per-event order of TRIGGERS.md §2 exactly:
 *
 *     1. W := max(W, e.timestamp - max_out_of_orderness)
 *     2. fire every timer with W > D, in order (D, key, trigger name),
 *        including timers armed or moved while firing that are already due
 *     3. apply e: every instance's process(), in configuration order
 *
 * Outputs go to a sink (the runtime produces them to Kafka; replay writes
 * JSON lines; the test driver keeps them in memory), so the same task code
 * runs live, in replay and in processor tests.
 *
 * State is written to the application's changelog (nd_task_flush at commit)
 * and read back from it (nd_task_restore, then nd_task_restored), one
 * record per customer. The watermark travels in it under a reserved key
 * that no customer key can take (it starts with a NUL byte).
 *
 * Files: task.c (the task core), context.c (the nd_ctx_* functions of
 * nudge/processor.h), changelog.c (the changelog records); task_int.h holds
 * the structures they share.
 *
 * Thread safety: a task is used by one thread at a time.
 */
#ifndef ND_TASK_H
#define ND_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "nudge/processor.h"

typedef struct nd_task_s nd_task_t;
typedef struct nd_catalog_s nd_catalog_t;

/** Where a task's outputs go. Each call may fail; the task counts it. */
typedef struct nd_task_sink_s {
        /* An action emitted by instance `inst` (trigger_name filled). */
        nd_err_t (*emit)(void *arg, nd_task_t *task, int inst,
                         const nd_action_t *act);
        /* Raw bytes from nd_ctx_forward(). */
        nd_err_t (*forward)(void *arg, nd_task_t *task, int inst,
                            const void *key, size_t key_len, const void *value,
                            size_t value_len);
        void *arg;
} nd_task_sink_t;

typedef struct nd_task_conf_s {
        const nd_config_t *cfg; /* borrowed; outlives the task */
        int32_t partition;
        nd_task_sink_t sink;
        const nd_catalog_t *catalog; /* may be NULL: no products */
        bool live;                   /* false: replay (event time only) */
} nd_task_conf_t;

typedef struct nd_task_stats_s {
        int64_t watermark;
        uint64_t events; /* records applied */
        uint64_t timers_fired;
        uint64_t actions;     /* emitted */
        uint64_t emit_errors; /* sink failures */
        size_t timers_pending;
        size_t entries;   /* over all instances */
        size_t bytes;     /* stores + timer heap */
        uint64_t evicted; /* by state.ttl */
} nd_task_stats_t;

/**
 * Creates the task and its instances. The processors' init() hooks run in
 * nd_task_start(), after a restore. Never NULL (aborts on OOM).
 */
nd_task_t *nd_task_new(const nd_task_conf_t *conf);

/** Runs every instance's init(). Call once, after restoring. */
nd_err_t nd_task_start(nd_task_t *task);

/** Runs close() hooks and frees everything. NULL is fine. */
void nd_task_destroy(nd_task_t *task);

int32_t nd_task_partition(const nd_task_t *task);
int nd_task_instance_count(const nd_task_t *task);
/** The trigger configuration of instance i. */
const nd_trigger_conf_t *nd_task_instance(const nd_task_t *task, int i);

/**
 * Steps 1-3 for one decoded record (rec->ev must be set for the time
 * steps; a raw record, ev NULL, is only handed to process()).
 */
void nd_task_process(nd_task_t *task, const nd_rec_t *rec);

/**
 * Hybrid clock (live only): when caught_up and idle since idle_since_ms for
 * idle_advance_after, W := max(W, wall_ms - max_out_of_orderness), then
 * fire what is due. Returns how many timers fired.
 */
size_t nd_task_idle(nd_task_t *task, int64_t wall_ms, int64_t idle_since_ms,
                    bool caught_up);

/** Replay end: W := max(W, end_time), then fire what is due. */
size_t nd_task_end(nd_task_t *task, int64_t end_time);

int64_t nd_task_watermark(const nd_task_t *task);

/**
 * Evicts, in every store, entries whose last event is older than
 * state.ttl (W > touched + ttl), examining at most max slots per store;
 * an entry whose timer is armed is kept (TRIGGERS.md §5). Tombstones go
 * to the changelog.
 */
size_t nd_task_evict(nd_task_t *task, size_t max);

/* ------------------------------------------------------------------ */
/* Changelog                                                           */

/**
 * The first byte of a changelog record's value (docs/internals/STORE.md):
 * 3 = one record per customer with the entries of all instances. Format 2
 * (one topic and one record per instance) is not read.
 */
#define ND_TASK_CHANGELOG_FORMAT 3

/** One changelog record: value NULL is a tombstone. */
typedef nd_err_t(nd_task_log_cb)(void *arg, const void *key, size_t klen,
                                 const void *value, size_t vlen);

/**
 * Writes every change since the last flush through cb: one record per
 * changed customer holding the customer's entries in every stateful
 * instance (a tombstone when none is left), then the watermark. On a cb
 * error it stops and every change stays pending (a later flush writes
 * them again).
 */
nd_err_t nd_task_flush(nd_task_t *task, nd_task_log_cb *cb, void *arg);

/** Number of changes waiting for nd_task_flush(). */
size_t nd_task_pending_changes(const nd_task_t *task);

/**
 * Restore: applies one changelog record (all of one customer's entries, or
 * the watermark). Entries of triggers no longer configured are skipped;
 * applied[i] (may be NULL) counts the entries applied per instance. Bad
 * records are skipped with ND_ERR_BAD_RECORD (the caller logs and counts
 * them); a well-framed record with one entry that does not decode (another
 * value layout, e.g. of an earlier build) applies its other entries, drops
 * that one and also returns ND_ERR_BAD_RECORD. Only on a new task, before
 * nd_task_restored() and nd_task_start().
 */
nd_err_t nd_task_restore(nd_task_t *task, const void *key, size_t klen,
                         const void *value, size_t vlen, uint64_t *applied);
/**
 * Before a restore: about n changelog records are coming. Once the first
 * of them are applied (RESERVE_SAMPLE, or n/16 when fewer), each store is
 * sized for its share of n as seen in that sample, so that the rest of the
 * restore does not rehash as the tables grow, and a store that holds few
 * customers does not get a table for all of them.
 */
void nd_task_reserve(nd_task_t *task, size_t n);

/** Ends a restore: re-arms every restored timer. */
void nd_task_restored(nd_task_t *task);

/** True when some trigger instance keeps state (needs the changelog). */
bool nd_task_has_state(const nd_config_t *cfg);

/** The changelog topic of the application: <application.id>-changelog. */
void nd_task_changelog_topic(const nd_config_t *cfg, char *buf, size_t size);

/** The tag of a trigger's entries in changelog records (32 bits of
 * XXH3-64 of its name; nd_config refuses names whose tags collide). */
uint32_t nd_task_changelog_tag(const char *trigger_name);
/** True when instance inst keeps keyed state (has a changelog). */
bool nd_task_instance_has_state(const nd_config_t *cfg, int inst);

void nd_task_stats(const nd_task_t *task, nd_task_stats_t *out);

typedef struct nd_task_inst_stats_s {
        size_t timers; /* armed timers of the instance */
        size_t entries;
        size_t bytes; /* its store */
} nd_task_inst_stats_t;

/** Per-instance figures (metrics). */
void nd_task_instance_stats(const nd_task_t *task, int i,
                            nd_task_inst_stats_t *out);

/** The store of instance i (tests and metrics), or NULL. */
struct nd_store_s *nd_task_store(const nd_task_t *task, int i);

#endif
