/*
 * watermark — a task's event-time clock: the watermark W and the hybrid
 * clock of TRIGGERS.md §2, plus the per-event driver that applies its order.
 *
 *   W = max(timestamp seen) - max_out_of_orderness, and W never goes back.
 *   Before any event W = INT64_MIN, so nothing fires.
 *   Live and idle: once the task has consumed everything available and has
 *   been idle for idle_advance_after, W := max(W, wall - max_out_of_orderness).
 *   Replay end: W := max(W, end_time) (the end time itself, no bound).
 *
 * All arithmetic saturates at INT64_MIN / INT64_MAX, so timestamps near
 * either end never wrap.
 *
 * Per incoming event the task does, in this order (TRIGGERS.md §2):
 *   1. W := max(W, e.timestamp - max_out_of_orderness)
 *   2. fire every timer with W > D, in (D, key, name) order, including
 *      timers armed or moved during firing that are already due (§5)
 *   3. apply e to state.
 * nd_time_step() does 1 and 2 and returns; the caller then does 3. A record
 * that goes to the dead-letter topic must not reach nd_time_step() (§5).
 *
 * This module sits above timer.h: the watermark is the stream-time clock of
 * the task's timers, and the driver is the one place that joins the two.
 *
 * Thread safety: none; one watermark per task, used on the task's thread.
 */
#ifndef ND_WATERMARK_H
#define ND_WATERMARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nudge/time.h"
#include "timer.h"

typedef struct nd_watermark_s {
        int64_t w;          /* the watermark W; INT64_MIN before any event */
        int64_t max_ts;     /* largest event timestamp seen, or INT64_MIN */
        int64_t max_ooo;    /* max_out_of_orderness, ms, >= 0 */
        int64_t idle_after; /* idle_advance_after, ms, >= 0 */
} nd_watermark_t;

/** Initialises wm: W = INT64_MIN. Negative durations count as 0. */
void nd_watermark_init(nd_watermark_t *wm, int64_t max_out_of_orderness_ms,
                       int64_t idle_advance_after_ms);
/** The current W. */
int64_t nd_watermark_get(const nd_watermark_t *wm);
/** Step 1 for an event with timestamp ts; returns the new W. */
int64_t nd_watermark_observe(nd_watermark_t *wm, int64_t ts);
/**
 * Hybrid clock (live mode only). When caught_up (everything available on the
 * task's partitions has been consumed) and wall_ms - idle_since_ms >=
 * idle_advance_after, W := max(W, wall_ms - max_out_of_orderness).
 * idle_since_ms is the wall time of the task's last record (or of the moment it
 * caught up, whichever is later). Returns the new W; the caller then fires
 * timers (nd_time_fire) as for an event.
 */
int64_t nd_watermark_idle(nd_watermark_t *wm, int64_t wall_ms,
                          int64_t idle_since_ms, bool caught_up);
/** Replay end: W := max(W, end). Returns the new W. */
int64_t nd_watermark_set_end(nd_watermark_t *wm, int64_t end);

/**
 * Fires a timer: called with the timer already disarmed; tmr->due is the
 * action's created_at. May arm, move or cancel any timer of the set,
 * including tmr itself.
 */
typedef void(nd_timer_fire_cb)(nd_timer_t *tmr, int64_t W, void *arg);

/**
 * Step 2: pops and fires, in order, every timer of ts with W > due, at most
 * max of them (0 = no limit). Timers armed by cb that are already due fire
 * in the same call. Returns how many fired; when it returns max, more may be
 * due: call again (with the same W) before applying the event.
 */
size_t nd_time_fire(nd_timers_t *ts, int64_t W, nd_timer_fire_cb *cb, void *arg,
                    size_t max);

/**
 * Steps 1 and 2 for one event: observe event_ts, then fire everything due.
 * Returns the number of timers fired. The caller applies the event next.
 */
size_t nd_time_step(nd_watermark_t *wm, nd_timers_t *ts, int64_t event_ts,
                    nd_timer_fire_cb *cb, void *arg);

#endif
