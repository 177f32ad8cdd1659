/*
 * window.c — window assignment, closing and session merging; see
 * include/nudge/window.h for the semantics.
 *
 * OVERALL DESIGN. Nothing here owns memory: processors keep windows and
 * sessions inside their per-customer records (store values) and call these
 * functions to decide which window a record belongs to, whether it is late,
 * whether to emit, and when to arm the closing timer. Closing is expressed
 * in the timer's own rule (fires when W > D) so that "window closed" and
 * "close timer fired" are the same instant by construction:
 *   time window  closed iff W >= end + grace        D = end + grace - 1
 *   session      closed iff W >  end + gap + grace  D = end + gap + grace
 * Windows whose bounds would not fit in int64 are refused rather than
 * wrapped; session bounds saturate (a session at INT64_MAX never closes).
 */
#include "nudge/window.h"

#include "nudge/time.h"

#include <string.h>

static int64_t floor_div(int64_t a, int64_t b) {
        int64_t q = a / b;
        if ((a % b) != 0 && (a < 0))
                q--;
        return q;
}

/* The largest multiple of step <= ts, or false when it underflows. */
static bool align_down(int64_t ts, int64_t step, int64_t *out) {
        return !__builtin_mul_overflow(floor_div(ts, step), step, out);
}

nd_err_t nd_window_tumbling(int64_t size, int64_t ts, nd_window_t *win) {
        int64_t start, end;
        if (size <= 0 || !align_down(ts, size, &start) ||
            __builtin_add_overflow(start, size, &end))
                return ND_ERR_INVAL;
        win->start = start;
        win->end = end;
        return ND_OK;
}

int nd_window_hopping(int64_t size, int64_t advance, int64_t ts,
                      nd_window_t *wins, size_t cap) {
        int64_t last, s, lo;
        size_t n = 0, i;
        if (size <= 0 || advance <= 0 || !align_down(ts, advance, &last))
                return ND_ERR_INVAL;
        /* Windows with start in (ts - size, ts], start a multiple of
         * advance. Walk down from the last one, then reverse. */
        lo = nd_time_sub_sat(ts, size); /* exclusive lower bound for start */
        for (s = last; s > lo;) {
                int64_t end;
                if (__builtin_add_overflow(s, size, &end))
                        return ND_ERR_INVAL;
                if (n == cap)
                        return ND_ERR_INVAL;
                wins[n].start = s;
                wins[n].end = end;
                n++;
                if (__builtin_sub_overflow(s, advance, &s))
                        break; /* no older start is representable */
        }
        for (i = 0; i < n / 2; i++) {
                nd_window_t tmp = wins[i];
                wins[i] = wins[n - 1 - i];
                wins[n - 1 - i] = tmp;
        }
        return (int)n;
}

bool nd_window_is_closed(const nd_window_t *win, int64_t grace, int64_t W) {
        return W >= nd_time_add_sat(win->end, grace < 0 ? 0 : grace);
}

int64_t nd_window_close_due(const nd_window_t *win, int64_t grace) {
        int64_t c = nd_time_add_sat(win->end, grace < 0 ? 0 : grace);
        /* WHY the guard: a window that closes at INT64_MIN is closed from the
         * start, and INT64_MIN - 1 would wrap. */
        return c == INT64_MIN ? INT64_MIN : c - 1;
}

nd_window_action_t nd_window_on_record(nd_window_emit_t policy,
                                       const nd_window_t *win, int64_t grace,
                                       int64_t W) {
        if (nd_window_is_closed(win, grace, W))
                return ND_WINDOW_LATE;
        return policy == ND_WINDOW_EMIT_ON_UPDATE ? ND_WINDOW_UPDATE_EMIT
                                                  : ND_WINDOW_UPDATE;
}

bool nd_window_emits_on_close(nd_window_emit_t policy) {
        return policy == ND_WINDOW_EMIT_ON_CLOSE;
}

/* ---- sessions ---- */

void nd_session_init(nd_session_t *sess) {
        sess->start = INT64_MAX;
        sess->end = INT64_MIN;
}

bool nd_session_is_empty(const nd_session_t *sess) {
        return sess->start > sess->end;
}

static void extend(nd_session_t *sess, int64_t ts) {
        if (ts < sess->start)
                sess->start = ts;
        if (ts > sess->end)
                sess->end = ts;
}

static bool within(const nd_session_t *sess, int64_t ts, int64_t gap) {
        return ts >= nd_time_sub_sat(sess->start, gap) &&
               ts <= nd_time_add_sat(sess->end, gap);
}

nd_session_res_t nd_session_add(nd_session_t *sess, int64_t ts, int64_t gap) {
        if (gap < 0)
                gap = 0;
        if (nd_session_is_empty(sess)) {
                sess->start = sess->end = ts;
                return ND_SESSION_NEW;
        }
        if (within(sess, ts, gap)) {
                extend(sess, ts);
                return ND_SESSION_JOINED;
        }
        if (ts > sess->end) {
                sess->start = sess->end = ts;
                return ND_SESSION_REPLACED;
        }
        return ND_SESSION_LATE;
}

bool nd_session_is_closed(const nd_session_t *sess, int64_t gap, int64_t grace,
                          int64_t W) {
        return W > nd_session_close_due(sess, gap, grace);
}

int64_t nd_session_close_due(const nd_session_t *sess, int64_t gap,
                             int64_t grace) {
        return nd_time_add_sat(nd_time_add_sat(sess->end, gap < 0 ? 0 : gap),
                               grace < 0 ? 0 : grace);
}

nd_session_res_t nd_sessions_add(nd_session_t *sess, size_t *n, size_t cap,
                                 int64_t ts, int64_t gap, int64_t grace,
                                 int64_t W, size_t *idx) {
        size_t i, first = *n, matches = 0;
        nd_session_t cand = {ts, ts};
        if (gap < 0)
                gap = 0;
        /* Sessions are disjoint by more than gap, so at most two (adjacent)
         * ones lie within gap of ts. */
        for (i = 0; i < *n; i++) {
                if (within(&sess[i], ts, gap)) {
                        if (!matches)
                                first = i;
                        extend(&cand, sess[i].start);
                        extend(&cand, sess[i].end);
                        matches++;
                } else if (sess[i].start > ts) {
                        break;
                }
        }
        if (nd_session_is_closed(&cand, gap, grace, W))
                return ND_SESSION_LATE;
        if (matches == 0) {
                /* i is the first session starting after ts. */
                if (*n == cap)
                        return ND_SESSION_FULL;
                memmove(&sess[i + 1], &sess[i], (*n - i) * sizeof(*sess));
                sess[i] = cand;
                (*n)++;
                *idx = i;
                return ND_SESSION_NEW;
        }
        sess[first] = cand;
        *idx = first;
        if (matches == 1)
                return ND_SESSION_JOINED;
        nd_sessions_remove(sess, n, first + 1, 1);
        return ND_SESSION_MERGED;
}

size_t nd_sessions_closed(const nd_session_t *sess, size_t n, int64_t gap,
                          int64_t grace, int64_t W) {
        size_t k = 0;
        while (k < n && nd_session_is_closed(&sess[k], gap, grace, W))
                k++;
        return k;
}

void nd_sessions_remove(nd_session_t *sess, size_t *n, size_t i, size_t count) {
        if (i >= *n)
                return;
        if (count > *n - i)
                count = *n - i;
        memmove(&sess[i], &sess[i + count], (*n - i - count) * sizeof(*sess));
        *n -= count;
}
