/*
 * watermark.c — see watermark.h. The rules are TRIGGERS.md §2 verbatim; the
 * only design here is saturating arithmetic (nudge/time.h), so that a timestamp
 * of INT64_MIN (or a due time of INT64_MAX) behaves as "never" instead of
 * wrapping around into the far past or future.
 */
#include "watermark.h"

void nd_watermark_init(nd_watermark_t *wm, int64_t max_out_of_orderness_ms,
                       int64_t idle_advance_after_ms) {
        wm->w = INT64_MIN;
        wm->max_ts = INT64_MIN;
        wm->max_ooo = max_out_of_orderness_ms > 0 ? max_out_of_orderness_ms : 0;
        wm->idle_after = idle_advance_after_ms > 0 ? idle_advance_after_ms : 0;
}

int64_t nd_watermark_get(const nd_watermark_t *wm) {
        return wm->w;
}

static int64_t raise_to(nd_watermark_t *wm, int64_t w) {
        if (w > wm->w)
                wm->w = w;
        return wm->w;
}

int64_t nd_watermark_observe(nd_watermark_t *wm, int64_t ts) {
        if (ts > wm->max_ts)
                wm->max_ts = ts;
        return raise_to(wm, nd_time_sub_sat(ts, wm->max_ooo));
}

int64_t nd_watermark_idle(nd_watermark_t *wm, int64_t wall_ms,
                          int64_t idle_since_ms, bool caught_up) {
        if (!caught_up ||
            nd_time_sub_sat(wall_ms, idle_since_ms) < wm->idle_after)
                return wm->w;
        return raise_to(wm, nd_time_sub_sat(wall_ms, wm->max_ooo));
}

int64_t nd_watermark_set_end(nd_watermark_t *wm, int64_t end) {
        return raise_to(wm, end);
}

size_t nd_time_fire(nd_timers_t *ts, int64_t W, nd_timer_fire_cb *cb, void *arg,
                    size_t max) {
        size_t n = 0;
        nd_timer_t *tmr;
        while ((max == 0 || n < max) && (tmr = nd_timers_pop_due(ts, W))) {
                cb(tmr, W, arg);
                n++;
        }
        return n;
}

size_t nd_time_step(nd_watermark_t *wm, nd_timers_t *ts, int64_t event_ts,
                    nd_timer_fire_cb *cb, void *arg) {
        return nd_time_fire(ts, nd_watermark_observe(wm, event_ts), cb, arg, 0);
}
