/*
 * nudge — the processor (trigger operator) API.
 *
 * A processor is a const vtable, nd_processor_def_t, registered by one line
 * in processors/registry.c. The runtime creates one instance per configured
 * trigger per task (one partition number of the co-partitioned event topics)
 * and calls its hooks on that task's thread only, so hooks never race and
 * take no locks. The shape is Kafka Streams' Processor / ProcessorContext.
 *
 * Lifecycle (all on the task's thread):
 *   init(ctx, state, conf)      once, after the task's state is restored
 *   process(ctx, state, rec)    once per input record, in partition order,
 *                               after the timers that the record's event
 *                               time made due have fired (TRIGGERS.md §2)
 *   on_timer(ctx, state, e, D)  when the timer of entry e is due: W > D
 *   close(ctx, state)           once; idempotent; frees only what init
 *                               allocated (the runtime owns the entries)
 *
 * Keyed state. Each instance has its own store of entries, one per customer
 * key, each holding value_size bytes of the processor's record (zeroed when
 * created), an optional byte blob for variable-size parts (a cart's lines),
 * and one timer. Entries, values and blobs are written to the application's
 * changelog topic at every commit (one record per customer with its entries
 * in every trigger) and restored from it on assignment, the timer included:
 * a processor keeps ALL its per-customer state there, never in `state`
 * (which is per task, not persisted, for caches and counters).
 * After changing a value call nd_ctx_changed(); the timer and blob calls mark
 * the entry changed themselves. Values are plain bytes: no pointers in them.
 *
 * Pointer lifetimes: an nd_entry_t and its value stay valid until the entry
 * is deleted (nd_ctx_delete, or evicted by state.ttl, which never happens
 * during a hook). A blob pointer is valid until the next blob call on that
 * entry. Records passed to process() are borrowed until the call returns.
 *
 * Hooks never block, sleep or start threads, and do bounded work per call.
 */
#ifndef ND_PROCESSOR_H
#define ND_PROCESSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nudge/action.h"
#include "nudge/config.h"
#include "nudge/err.h"
#include "nudge/event.h"
#include "nudge/time.h"

#define ND_PROCESSOR_ABI_1 1

typedef struct nd_ctx_s nd_ctx_t;
typedef struct nd_entry_s nd_entry_t;

/** One input record as the runtime hands it to process(). Borrowed. */
typedef struct nd_rec_s {
        const char *topic;
        int32_t partition;
        int64_t offset;
        int64_t timestamp; /* Kafka timestamp, ms */
        const void *key;
        size_t key_len;
        const void *value;
        size_t value_len;
        const nd_event_t *ev; /* the decoded event; NULL only in
                                 raw pipelines (no decoding) */
} nd_rec_t;

typedef struct nd_processor_def_s {
        int abi;          /* ND_PROCESSOR_ABI_1 */
        const char *name; /* the trigger `type` in the config */
        /* The type of the actions it emits, which the runtime writes into
         * every action (nd_ctx_emit); ND_TRIGGER_NONE when it emits none.
         * Its name (nd_trigger_type_name) is the processor's name. */
        nd_trigger_type_t trigger;
        const char *doc;             /* one paragraph for the docs */
        const nd_cfg_prop_t *config; /* its properties, or NULL */
        size_t config_size;          /* size of the struct config fills */
        /* Cross-field checks after parsing; NULL when there are none. */
        nd_err_t (*config_check)(const void *conf, char *errstr,
                                 size_t errstr_size);
        size_t state_size; /* per instance and task, zeroed */
        size_t value_size; /* per customer entry; 0: no entries */

        nd_err_t (*init)(nd_ctx_t *ctx, void *state, const void *conf);
        void (*process)(nd_ctx_t *ctx, void *state, const nd_rec_t *rec);
        /* The entry's timer fired at due time `due` (already disarmed). */
        void (*on_timer)(nd_ctx_t *ctx, void *state, nd_entry_t *e,
                         int64_t due);
        void (*close)(nd_ctx_t *ctx, void *state);
} nd_processor_def_t;

/* ------------------------------------------------------------------ */
/* Context                                                             */

/** The instance's configured name (trigger_name). */
const char *nd_ctx_name(const nd_ctx_t *ctx);
/** The task's partition number. */
int32_t nd_ctx_partition(const nd_ctx_t *ctx);
/** The task's watermark W (INT64_MIN before the first event). */
int64_t nd_ctx_watermark(const nd_ctx_t *ctx);
/**
 * Wall-clock milliseconds for emitted_at; in replay (event time only) the
 * watermark, so that replays are byte-identical.
 */
int64_t nd_ctx_wall_ms(const nd_ctx_t *ctx);

/** Log levels for nd_ctx_log(). */
enum { ND_CTX_DEBUG = 0, ND_CTX_INFO, ND_CTX_WARN, ND_CTX_ERROR };

/** Logs a line (level ND_CTX_*) under the trigger's name. */
void nd_ctx_log(nd_ctx_t *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------ */
/* Keyed state                                                         */

/** The entry of key, or NULL when there is none. */
nd_entry_t *nd_ctx_get(nd_ctx_t *ctx, nd_str_t key);
/**
 * The entry of key, created (value zeroed, no blob, timer unarmed) when
 * absent; *created says which (may be NULL). Marks the entry touched at the
 * current event time (for state.ttl). NULL when the key is empty, starts
 * with a NUL byte (reserved by the runtime) or is longer than 255 bytes,
 * when the processor keeps no entries (value_size 0), and when memory for
 * a new entry runs out.
 */
nd_entry_t *nd_ctx_upsert(nd_ctx_t *ctx, nd_str_t key, bool *created);
/** The processor's value_size bytes. */
void *nd_entry_value(nd_entry_t *e);
/** The entry's customer key (not NUL-terminated). */
nd_str_t nd_entry_key(const nd_entry_t *e);
/** Records that the value changed (it goes to the changelog). */
void nd_ctx_changed(nd_ctx_t *ctx, nd_entry_t *e);
/** Deletes the entry (its timer is cancelled); e is invalid afterwards. */
void nd_ctx_delete(nd_ctx_t *ctx, nd_entry_t *e);

/**
 * The entry's blob (NULL and 0 when it has none). It has no alignment
 * guarantee (a small blob lives inside the entry, right after the key):
 * read and write numbers in it with memcpy, or align by hand.
 */
void *nd_entry_blob(const nd_entry_t *e, size_t *len);
/**
 * Resizes the blob to len bytes (0 frees it), keeping the first
 * min(old, len) bytes; new bytes are zero. ND_ERR_BAD_LENGTH over 1 MiB,
 * ND_ERR_NOMEM when memory runs out (the blob is unchanged then).
 */
nd_err_t nd_ctx_blob_resize(nd_ctx_t *ctx, nd_entry_t *e, size_t len);

/** Arms the entry's timer at due, or moves it there. */
void nd_ctx_timer_set(nd_ctx_t *ctx, nd_entry_t *e, int64_t due);
/** Disarms the entry's timer (no-op when it is not armed). */
void nd_ctx_timer_clear(nd_ctx_t *ctx, nd_entry_t *e);
bool nd_entry_timer_armed(const nd_entry_t *e);
/** The due time the timer was last armed at (0 when never). */
int64_t nd_entry_timer_due(const nd_entry_t *e);

/* ------------------------------------------------------------------ */
/* Output and the catalog                                              */

/**
 * Emits an action (encoded and produced before the call returns). The
 * runtime fills in the trigger type (from the definition's `trigger`:
 * ND_ERR_INVAL when that is ND_TRIGGER_NONE), trigger_name when it is
 * empty (the instance's name), and emitted_at (the wall clock when live,
 * created_at in replay). In exactly-once mode it commits with the state
 * change that produced it and the input offsets.
 */
nd_err_t nd_ctx_emit(nd_ctx_t *ctx, const nd_action_t *act);

/**
 * Sends raw bytes to the actions topic (the reference processor's path;
 * triggers use nd_ctx_emit).
 */
nd_err_t nd_ctx_forward(nd_ctx_t *ctx, const void *key, size_t key_len,
                        const void *value, size_t value_len);

/**
 * The catalog's current record for sku, or NULL when it is not in the
 * catalog (TRIGGERS.md §3 post_purchase_upsell). Valid until the hook
 * returns.
 */
const nd_product_rec_t *nd_ctx_catalog_get(nd_ctx_t *ctx, nd_str_t sku);

/**
 * A stable 128-bit hash of parts, as 32 lowercase hex digits and a NUL in
 * out: the action_id of TRIGGERS.md §3. Each part is length-prefixed, so
 * ("ab","c") and ("a","bc") differ. Same on every platform and build.
 */
void nd_action_id(const nd_str_t *parts, int cnt, char out[33]);

#endif
