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
 *   init(ctx, state, conf)   once, after the task's state is restored
 *   process(ctx, state, rec) once per input record, in partition order
 *   on_timer(ctx, state, t)  when a timer it armed is due (issue #4)
 *   close(ctx, state)        once; must be idempotent and free only what
 *                            init allocated (the runtime owns the stores)
 *
 * Hooks never block, sleep or start threads, and do bounded work per call.
 * Records passed to process() are borrowed until the call returns.
 */
#ifndef ND_PROCESSOR_H
#define ND_PROCESSOR_H

#include <stddef.h>
#include <stdint.h>

#include "nudge/config.h"
#include "nudge/err.h"

#define ND_PROCESSOR_ABI_1 1

typedef struct nd_ctx_s nd_ctx_t;
typedef struct nd_event_s nd_event_t; /* nudge/event.h */

/** One input record as the runtime hands it to process(). Borrowed. */
typedef struct nd_rec_s {
        const char *topic;
        int32_t partition;
        int64_t offset;
        int64_t timestamp;            /* Kafka timestamp, ms */
        const void *key;
        size_t key_len;
        const void *value;
        size_t value_len;
        const nd_event_t *ev;         /* decoded event, or NULL */
} nd_rec_t;

typedef struct nd_processor_def_s {
        int abi;                      /* ND_PROCESSOR_ABI_1 */
        const char *name;             /* the trigger `type` in the config */
        const char *doc;              /* one paragraph for the docs */
        const nd_cfg_prop_t *config;  /* its properties, or NULL */
        size_t config_size;           /* size of the struct config fills */
        /* Cross-field checks after parsing; NULL when there are none. */
        nd_err_t (*config_check)(const void *conf, char *errstr,
                                 size_t errstr_size);
        size_t state_size;            /* per-instance state, zeroed */

        nd_err_t (*init)(nd_ctx_t *ctx, void *state, const void *conf);
        void (*process)(nd_ctx_t *ctx, void *state, const nd_rec_t *rec);
        void (*close)(nd_ctx_t *ctx, void *state);
} nd_processor_def_t;

/** The instance's configured name (trigger_name). */
const char *nd_ctx_name(const nd_ctx_t *ctx);
/** The task's partition number. */
int32_t nd_ctx_partition(const nd_ctx_t *ctx);

/**
 * Sends a record to the output topic as part of the task's current
 * transaction (or batch, at-least-once). key and value are copied.
 */
nd_err_t nd_ctx_forward(nd_ctx_t *ctx, const void *key, size_t key_len,
                        const void *value, size_t value_len);

/** Logs a line under the processor's name. */
void nd_ctx_log(nd_ctx_t *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
