/*
 * nd_test_driver — our TopologyTestDriver: one task with the triggers of a
 * YAML configuration, fed JSON events, no broker. Time moves only when the
 * test moves it: event time through the events piped in, the wall clock
 * (for the hybrid clock's idle advance and emitted_at) through
 * nd_test_driver_advance_wall(). Actions are kept, in order, as deep copies.
 *
 * Every function fails the running Check test (ck_abort) on misuse or on a
 * configuration error, so tests stay short.
 */
#ifndef ND_TEST_DRIVER_H
#define ND_TEST_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "nudge/action.h"
#include "nudge/err.h"
#include "nudge/processor.h"

typedef struct nd_test_driver_s nd_test_driver_t;

/** An emitted action: act points into memory the driver owns. */
typedef struct nd_test_action_s {
        nd_action_t act;
        char *json; /* the replay JSON line of act, with '\n' */
} nd_test_action_t;

/**
 * A driver for the configuration yaml (only `time` and `triggers` matter;
 * no Kafka). The wall clock starts at wall_ms. Live mode (hybrid clock on).
 */
nd_test_driver_t *nd_test_driver_new(const char *yaml, int64_t wall_ms);
/** The same, resolving trigger types with lookup (test-only processors). */
nd_test_driver_t *nd_test_driver_new_lookup(
    const char *yaml, int64_t wall_ms,
    const nd_processor_def_t *(*lookup)(const char *type));
/** Runs close() hooks and frees everything, then checks nothing leaked
 * through the driver's own bookkeeping. */
void nd_test_driver_destroy(nd_test_driver_t *drv);

/** Adds a catalog product given as JSON (the catalog schema's fields). */
void nd_test_driver_catalog(nd_test_driver_t *drv, const char *json);

/**
 * Decodes one JSON event (TRIGGERS.md §1) and processes it: advance W, fire
 * due timers, apply. Returns ND_OK, or the decode error (the record would
 * have been dead-lettered: nothing happened). The Kafka key is taken to be
 * the event's customer key.
 */
nd_err_t nd_test_driver_pipe(nd_test_driver_t *drv, const char *json);

/** printf-style nd_test_driver_pipe(); ck_aborts when decoding fails. */
void nd_test_driver_pipef(nd_test_driver_t *drv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/**
 * Moves the wall clock forward by ms, as if the input were idle and fully
 * consumed, and lets the hybrid clock advance W (when idle for
 * idle_advance_after). Returns how many timers fired.
 */
int nd_test_driver_advance_wall(nd_test_driver_t *drv, int64_t ms);

/** Replay end: W := max(W, end_time), then fire what is due. */
int nd_test_driver_end(nd_test_driver_t *drv, int64_t end_time);

int64_t nd_test_driver_watermark(const nd_test_driver_t *drv);

/** Number of actions emitted and not read yet. */
int nd_test_driver_output_count(const nd_test_driver_t *drv);
/** The next unread action (FIFO), or NULL when none is left. */
const nd_test_action_t *nd_test_driver_read(nd_test_driver_t *drv);
/** Drops every unread action. */
void nd_test_driver_clear(nd_test_driver_t *drv);

/** Entries in the store of the trigger named name. */
size_t nd_test_driver_entries(const nd_test_driver_t *drv, const char *name);
/** Timers armed over all triggers. */
size_t nd_test_driver_timers(const nd_test_driver_t *drv);

/**
 * Simulates a restart: writes every trigger's changelog, destroys the task,
 * builds a new one and restores it from that changelog (the restore path of
 * a rebalance). Unread actions are kept.
 */
void nd_test_driver_restart(nd_test_driver_t *drv);

/**
 * The changelog as the driver keeps it (every record since the start, in
 * order, not compacted): nd_test_driver_flush() writes the pending changes
 * to it (a restart does too) and returns how many records it added;
 * nd_test_driver_log() gives record i (value NULL: a tombstone).
 */
int nd_test_driver_flush(nd_test_driver_t *drv);
int nd_test_driver_log_count(const nd_test_driver_t *drv);
void nd_test_driver_log(const nd_test_driver_t *drv, int i, nd_str_t *key,
                        const uint8_t **value, size_t *vlen);
/**
 * Appends a record to the changelog (a test's own bytes). A restart then
 * expects nd_task_restore() to refuse it when bad is true, else to take it.
 */
void nd_test_driver_log_append(nd_test_driver_t *drv, const void *key,
                               size_t klen, const void *value, size_t vlen,
                               bool bad);

/** NUL-terminated copy of s in a per-driver buffer ring (for asserts). */
const char *nd_test_str(nd_test_driver_t *drv, nd_str_t s);

#endif
