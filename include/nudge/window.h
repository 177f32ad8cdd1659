/*
 * nudge — windows: tumbling, hopping and session window assignment with
 * grace, and the emit policies, for processors to use over their own state.
 *
 * Everything here is a pure function over caller memory: no allocation, no
 * runtime, no clock. Time is event time in ms; W is the task's watermark
 * (TRIGGERS.md §2), which the processor gets from its context.
 *
 * Time windows are half-open, [start, end), aligned to the Unix epoch
 * (start is a multiple of the advance, also for negative times).
 *   tumbling(size):          one window per record
 *   hopping(size, advance):  ceil(size / advance) windows per record
 * A time window is CLOSED once W >= end + grace. A record whose window is
 * closed is LATE: it must not change that window's result; the processor
 * reports it (counts it) and may still use it for other state.
 *
 * Sessions are closed intervals [start, end] of record times (first and
 * last record). A record joins a session when it lies within `gap` of it:
 * start - gap <= ts <= end + gap (inclusive, as TRIGGERS.md §5 specifies for
 * browse sessions). A session is CLOSED once W > end + gap + grace, i.e. no
 * on-time record can join it any more.
 *
 * Firing on close: nd_window_close_due() / nd_session_close_due() give the
 * due time D of a timer that fires (W > D) exactly when the window closes,
 * so emit-on-close is "arm a timer at the close due time".
 *
 * Emit policies:
 *   ND_WINDOW_EMIT_ON_UPDATE  emit the window's new result after every
 *                             on-time record (Kafka Streams' default);
 *   ND_WINDOW_EMIT_ON_CLOSE   emit once, the final result, when it closes
 *                             (Kafka Streams' suppress(untilWindowCloses)).
 * nd_window_on_record() and nd_window_emits_on_close() encode them.
 *
 * All arithmetic saturates: timestamps near INT64_MIN/MAX never wrap.
 * Thread safety: pure functions; the caller's memory is its own business.
 */
#ifndef ND_WINDOW_H
#define ND_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nudge/err.h"

/** A time window [start, end). */
typedef struct nd_window_s {
        int64_t start;
        int64_t end;
} nd_window_t;

typedef enum {
        ND_WINDOW_EMIT_ON_UPDATE = 0,
        ND_WINDOW_EMIT_ON_CLOSE,
} nd_window_emit_t;

/** What to do with a record assigned to a window. */
typedef enum {
        ND_WINDOW_LATE = 0,    /* window closed: count it as late, no update */
        ND_WINDOW_UPDATE,      /* update the window, emit nothing now */
        ND_WINDOW_UPDATE_EMIT, /* update the window and emit its new result */
} nd_window_action_t;

/**
 * The tumbling window of size ms containing ts. ND_ERR_INVAL when size <= 0
 * or when the window does not fit in int64 (ts within size of either end).
 */
nd_err_t nd_window_tumbling(int64_t size, int64_t ts, nd_window_t *win);

/**
 * The hopping windows (size, advance) containing ts, oldest first, into
 * wins[0..cap). Returns how many (0 when advance > size leaves ts in a gap),
 * or ND_ERR_INVAL when size or advance <= 0, a window does not fit in int64,
 * or cap is too small (ceil(size / advance) is always enough).
 */
int nd_window_hopping(int64_t size, int64_t advance, int64_t ts,
                      nd_window_t *wins, size_t cap);

/** True when win is closed at watermark W: W >= end + grace. */
bool nd_window_is_closed(const nd_window_t *win, int64_t grace, int64_t W);
/** Due time of a timer that fires exactly when win closes: end + grace - 1. */
int64_t nd_window_close_due(const nd_window_t *win, int64_t grace);

/**
 * Decides for an incoming record of window win at watermark W (after the
 * watermark has moved for this record): LATE when win is closed, else
 * UPDATE_EMIT under EMIT_ON_UPDATE and UPDATE under EMIT_ON_CLOSE.
 */
nd_window_action_t nd_window_on_record(nd_window_emit_t policy,
                                       const nd_window_t *win, int64_t grace,
                                       int64_t W);
/** True when the policy emits the final result at close (EMIT_ON_CLOSE). */
bool nd_window_emits_on_close(nd_window_emit_t policy);

/** A session [start, end] of record times; empty when start > end. */
typedef struct nd_session_s {
        int64_t start;
        int64_t end;
} nd_session_t;

typedef enum {
        ND_SESSION_NEW = 0,  /* a new session [ts, ts] was started */
        ND_SESSION_JOINED,   /* ts joined (and maybe extended) one session */
        ND_SESSION_MERGED,   /* ts bridged two sessions, now one */
        ND_SESSION_REPLACED, /* single form: ts starts a new session after
                              * the old one; the old one is gone */
        ND_SESSION_LATE,     /* ts is too old: nothing changed */
        ND_SESSION_FULL,     /* list form: no room for a new session */
} nd_session_res_t;

/** Makes sess empty. */
void nd_session_init(nd_session_t *sess);
bool nd_session_is_empty(const nd_session_t *sess);

/**
 * Single-session form: one open session per key (browse_abandonment).
 *   empty                       -> NEW       [ts, ts]
 *   start-gap <= ts <= end+gap  -> JOINED    [min(start,ts), max(end,ts)]
 *   ts > end + gap              -> REPLACED  [ts, ts] (drop the old state)
 *   ts < start - gap            -> LATE      unchanged
 * gap < 0 counts as 0.
 */
nd_session_res_t nd_session_add(nd_session_t *sess, int64_t ts, int64_t gap);

/** True when sess is closed at W: W > end + gap + grace. */
bool nd_session_is_closed(const nd_session_t *sess, int64_t gap, int64_t grace,
                          int64_t W);
/** Due time of a timer that fires exactly when sess closes: end+gap+grace. */
int64_t nd_session_close_due(const nd_session_t *sess, int64_t gap,
                             int64_t grace);

/**
 * List form: several sessions per key, sess[0..*n) sorted by start, any two
 * more than gap apart (Kafka Streams session windows). Adds a record at ts:
 *   - joins the one session within gap:                JOINED, *idx = it;
 *   - bridges two (sess[i], sess[i+1]):               MERGED, *idx = i;
 *     sess[i+1] is folded into sess[i] and removed (the caller folds and
 *     removes its aggregate i+1 the same way);
 *   - else inserts [ts, ts] at its sorted place:       NEW, *idx = it
 *     (the caller inserts its aggregate there too); FULL when *n == cap;
 *   - LATE, nothing changed, when the session the record would make (joined,
 *     merged or new) is already closed at W (nd_session_is_closed).
 */
nd_session_res_t nd_sessions_add(nd_session_t *sess, size_t *n, size_t cap,
                                 int64_t ts, int64_t gap, int64_t grace,
                                 int64_t W, size_t *idx);
/**
 * How many sessions at the front of sess[0..n) are closed at W. They are a
 * prefix (sessions are sorted and disjoint): emit them (EMIT_ON_CLOSE), then
 * drop them with nd_sessions_remove().
 */
size_t nd_sessions_closed(const nd_session_t *sess, size_t n, int64_t gap,
                          int64_t grace, int64_t W);
/** Removes count sessions from index i, shifting the rest down. */
void nd_sessions_remove(nd_session_t *sess, size_t *n, size_t i, size_t count);

#endif
