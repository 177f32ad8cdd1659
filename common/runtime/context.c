/*
 * context.c — the processor API (nudge/processor.h): every nd_ctx_* and
 * nd_entry_* function a processor calls, and nd_action_id. OVERALL DESIGN
 *
 * An nd_ctx_t is one trigger instance of a task (struct nd_ctx_s,
 * task_int.h) and an nd_entry_t is a store entry whose value starts with
 * the runtime's header (the entry's timer); these functions are the thin
 * mapping between the two, keeping the instance's armed-timer count and
 * the entry's dirty flag (what goes to the changelog) right, so that a
 * processor never has to. Every call runs on the task's thread, inside a
 * hook. nd_ctx_emit() completes the action from the instance — trigger
 * type from the processor's definition, trigger_name, emitted_at — and
 * hands it to the task's sink.
 */
#include "nudge/processor.h"

#include <stdarg.h>
#include <string.h>

/* WHY static linking only: it exposes XXH3_state_t so the hash state can
 * live on the stack; the header and library come from one Debian package. */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "catalog.h"
#include "clock.h"
#include "log.h"
#include "store.h"
#include "task_int.h"
#include "timer.h"
#include "watermark.h"

/* An nd_entry_t is a store entry; the cast is the whole mapping. */
static inline nd_store_entry_t *SE(nd_entry_t *e) {
        return (nd_store_entry_t *)e;
}
static inline struct nd__task_hdr *HDR(const nd_entry_t *e) {
        return nd_store_value((const nd_store_entry_t *)e);
}

/* ------------------------------------------------------------------ */
/* The instance                                                        */

const char *nd_ctx_name(const nd_ctx_t *ctx) {
        return ctx->tc->name;
}

int32_t nd_ctx_partition(const nd_ctx_t *ctx) {
        return ctx->task->conf.partition;
}

int64_t nd_ctx_watermark(const nd_ctx_t *ctx) {
        return nd_watermark_get(&ctx->task->wm);
}

int64_t nd_ctx_wall_ms(const nd_ctx_t *ctx) {
        return ctx->task->conf.live ? nd_clock_wall_ms()
                                    : nd_watermark_get(&ctx->task->wm);
}

void nd_ctx_log(nd_ctx_t *ctx, int level, const char *fmt, ...) {
        va_list ap;
        /* a processor's level is a plain int: clamp it to the table's */
        if (level < ND_LOG_DEBUG)
                level = ND_LOG_DEBUG;
        if (level > ND_LOG_ERROR)
                level = ND_LOG_ERROR;
        if (!nd_log_enabled((nd_log_level_t)level))
                return;
        va_start(ap, fmt);
        nd_logv((nd_log_level_t)level, ctx->tc->name, fmt, ap);
        va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Keyed state                                                         */

/* state.ttl (TRIGGERS.md §5), the same in replay and live: while an event
 * is applied, an entry it reaches that nothing touched since ttl_limit
 * (W - ttl) and that holds no pending timer is dropped first, as if it had
 * been evicted; otherwise the event touches it. WHY at access: an entry
 * without a timer changes only through its customer's events, so dropping
 * it when the next one arrives is exactly dropping it when it expired;
 * nd_task_evict's sweep only frees the memory sooner. */
static nd_store_entry_t *live_entry(nd_ctx_t *ctx, nd_store_entry_t *e) {
        nd_task_t *task = ctx->task;
        if (!e || !task->in_event)
                return e;
        if (nd_store_touched(e) < task->ttl_limit &&
            !nd_timer_is_armed(
                &((struct nd__task_hdr *)nd_store_value(e))->tmr)) {
                nd_store_delete(ctx->st, e);
                task->stats.evicted++;
                return NULL;
        }
        nd_store_touch(ctx->st, e, task->now_ts);
        return e;
}

nd_entry_t *nd_ctx_get(nd_ctx_t *ctx, nd_str_t key) {
        if (!ctx->st || key.len == 0)
                return NULL;
        return (nd_entry_t *)live_entry(ctx,
                                        nd_store_get(ctx->st, key.p, key.len));
}

nd_entry_t *nd_ctx_upsert(nd_ctx_t *ctx, nd_str_t key, bool *created) {
        nd_store_entry_t *e = NULL;
        bool made = false;
        if (created)
                *created = false;
        if (!ctx->st || key.len == 0 || key.p[0] == '\0')
                return NULL;
        if (ctx->task->in_event &&
            (e = live_entry(ctx, nd_store_get(ctx->st, key.p, key.len))))
                return (nd_entry_t *)e;
        if (nd_store_upsert(ctx->st, key.p, key.len, ctx->task->now_ts, &e,
                            &made) != ND_OK)
                return NULL;
        if (made) {
                struct nd__task_hdr *hdr = nd_store_value(e);
                nd_timer_init(&hdr->tmr, (uint16_t)ctx->idx);
                nd_store_mark_dirty(ctx->st, e);
        }
        if (created)
                *created = made;
        return (nd_entry_t *)e;
}

void *nd_entry_value(nd_entry_t *e) {
        return (char *)nd_store_value(SE(e)) + ND__TASK_HDR_SIZE;
}

nd_str_t nd_entry_key(const nd_entry_t *e) {
        size_t klen;
        const void *k = nd_store_key((const nd_store_entry_t *)e, &klen);
        return (nd_str_t){k, (uint32_t)klen};
}

void nd_ctx_changed(nd_ctx_t *ctx, nd_entry_t *e) {
        nd_store_mark_dirty(ctx->st, SE(e));
}

void nd_ctx_delete(nd_ctx_t *ctx, nd_entry_t *e) {
        if (nd_timer_is_armed(&HDR(e)->tmr))
                ctx->armed--;
        nd_timers_cancel(ctx->task->timers, &HDR(e)->tmr);
        nd_store_delete(ctx->st, SE(e));
}

void *nd_entry_blob(const nd_entry_t *e, size_t *len) {
        return nd_store_blob((const nd_store_entry_t *)e, len);
}

nd_err_t nd_ctx_blob_resize(nd_ctx_t *ctx, nd_entry_t *e, size_t len) {
        nd_err_t err = nd_store_blob_resize(ctx->st, SE(e), len);
        if (err == ND_OK)
                nd_store_mark_dirty(ctx->st, SE(e));
        return err;
}

/* ------------------------------------------------------------------ */
/* Timers                                                              */

void nd_ctx_timer_set(nd_ctx_t *ctx, nd_entry_t *e, int64_t due) {
        if (!nd_timer_is_armed(&HDR(e)->tmr))
                ctx->armed++;
        nd_timers_arm(ctx->task->timers, &HDR(e)->tmr, due);
        nd_store_mark_dirty(ctx->st, SE(e));
}

void nd_ctx_timer_clear(nd_ctx_t *ctx, nd_entry_t *e) {
        if (!nd_timer_is_armed(&HDR(e)->tmr))
                return;
        ctx->armed--;
        nd_timers_cancel(ctx->task->timers, &HDR(e)->tmr);
        nd_store_mark_dirty(ctx->st, SE(e));
}

bool nd_entry_timer_armed(const nd_entry_t *e) {
        return nd_timer_is_armed(&HDR(e)->tmr);
}

int64_t nd_entry_timer_due(const nd_entry_t *e) {
        return HDR(e)->tmr.due;
}

/* ------------------------------------------------------------------ */
/* Output and the catalog                                              */

nd_err_t nd_ctx_emit(nd_ctx_t *ctx, const nd_action_t *act) {
        nd_task_t *task = ctx->task;
        nd_action_t a = *act;
        nd_err_t err;
        /* WHY from the definition: a new trigger type needs no runtime
         * edit, and no processor can emit under another's type. */
        a.trigger = ctx->def->trigger;
        if ((unsigned)a.trigger >= ND_TRIGGER__CNT)
                return ND_ERR_INVAL;
        if (nd_str_is_null(a.trigger_name))
                a.trigger_name =
                    (nd_str_t){ctx->tc->name, (uint32_t)strlen(ctx->tc->name)};
        /* WHY created_at in replay: replays must be byte-identical, so no
         * wall clock leaks into their output. */
        a.emitted_at = task->conf.live ? nd_clock_wall_ms() : a.created_at;
        if (!task->conf.sink.emit)
                return ND_ERR_INVAL;
        err = task->conf.sink.emit(task->conf.sink.arg, task, ctx->idx, &a);
        if (err == ND_OK)
                task->stats.actions++;
        else
                task->stats.emit_errors++;
        return err;
}

nd_err_t nd_ctx_forward(nd_ctx_t *ctx, const void *key, size_t key_len,
                        const void *value, size_t value_len) {
        nd_task_t *task = ctx->task;
        if (!task->conf.sink.forward)
                return ND_ERR_INVAL;
        return task->conf.sink.forward(task->conf.sink.arg, task, ctx->idx, key,
                                       key_len, value, value_len);
}

const nd_product_rec_t *nd_ctx_catalog_get(nd_ctx_t *ctx, nd_str_t sku) {
        if (!ctx->task->conf.catalog)
                return NULL;
        return nd_catalog_get(ctx->task->conf.catalog, sku);
}

void nd_action_id(const nd_str_t *parts, int cnt, char out[33]) {
        static const char hex[] = "0123456789abcdef";
        XXH3_state_t st;
        XXH128_canonical_t c;
        XXH3_128bits_reset(&st);
        for (int i = 0; i < cnt; i++) {
                uint8_t len[4] = {(uint8_t)parts[i].len,
                                  (uint8_t)(parts[i].len >> 8),
                                  (uint8_t)(parts[i].len >> 16),
                                  (uint8_t)(parts[i].len >> 24)};
                XXH3_128bits_update(&st, len, sizeof(len));
                if (parts[i].len)
                        XXH3_128bits_update(&st, parts[i].p, parts[i].len);
        }
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&st));
        for (int i = 0; i < 16; i++) {
                out[2 * i] = hex[c.digest[i] >> 4];
                out[2 * i + 1] = hex[c.digest[i] & 15];
        }
        out[32] = '\0';
}
