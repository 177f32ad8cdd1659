/*
 * task.c — the task core: instances, the per-event order, time. OVERALL
 * DESIGN
 *
 * A task (task.h) is one instance of every configured trigger over one
 * partition number, a watermark and one timer heap; the entry layout that
 * lets one heap serve every instance is task_int.h's. This file creates and
 * destroys the instances, runs TRIGGERS.md §2's per-event order
 * (nd_task_process), moves time on the idle and end clocks, evicts expired
 * state and sums the figures. The processors' side of the API is
 * context.c; the changelog records, written at commit and read back on
 * assignment, are changelog.c.
 *
 * The per-event order is nd_time_fire() before process(); a timer armed by
 * process() that is already due waits for the next firing step (§5), and one
 * armed while firing fires in the same step, both by construction of
 * nd_time_fire(). The watermark never goes back, across restores too.
 */
#include "task.h"

#include "log.h"
#include "mem.h"
#include "store.h"
#include "task_int.h"
#include "timer.h"
#include "watermark.h"

/* The timer set's key callback: the timer is at the start of a value. */
static const void *timer_key(const nd_timer_t *tmr, size_t *klen, void *arg) {
        (void)arg;
        return nd_store_key(nd_store_entry_of(tmr), klen);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */

nd_task_t *nd_task_new(const nd_task_conf_t *conf) {
        const nd_config_t *cfg = conf->cfg;
        nd_task_t *task = nd_calloc(1, sizeof(*task));
        task->conf = *conf;
        task->cfg = cfg;
        nd_watermark_init(&task->wm, cfg->max_out_of_orderness_ms,
                          cfg->idle_advance_after_ms);
        task->timers = nd_timers_new(timer_key, task);
        task->inst_cnt = cfg->trigger_cnt;
        task->inst =
            nd_calloc((size_t)(cfg->trigger_cnt ? cfg->trigger_cnt : 1),
                      sizeof(*task->inst));
        task->wm_inst = -1;
        task->now_ts = INT64_MIN;
        task->rec_ents =
            nd_calloc((size_t)(cfg->trigger_cnt ? cfg->trigger_cnt : 1),
                      sizeof(*task->rec_ents));
        task->rec_seen =
            nd_calloc((size_t)(cfg->trigger_cnt ? cfg->trigger_cnt : 1), 1);
        for (int i = 0; i < cfg->trigger_cnt; i++) {
                struct nd_ctx_s *ctx = &task->inst[i];
                ctx->task = task;
                ctx->idx = i;
                ctx->tc = &cfg->triggers[i];
                ctx->def = ctx->tc->def;
                /* Name index i is instance i (fire() relies on it). */
                uint16_t name = nd_timers_add_name(task->timers, ctx->tc->name);
                nd_assert(name == i);
                ctx->state = nd_calloc(
                    1, ctx->def->state_size ? ctx->def->state_size : 1);
                ctx->tag = nd_task_changelog_tag(ctx->tc->name);
                if (ctx->def->value_size) {
                        ctx->st = nd_store_new(ctx->tc->name,
                                               ND__TASK_HDR_SIZE +
                                                   ctx->def->value_size);
                        if (task->wm_inst < 0)
                                task->wm_inst = i;
                }
        }
        return task;
}

nd_err_t nd_task_start(nd_task_t *task) {
        for (int i = 0; i < task->inst_cnt; i++) {
                struct nd_ctx_s *ctx = &task->inst[i];
                nd_err_t err = ND_OK;
                if (ctx->inited)
                        continue;
                if (ctx->def->init)
                        err = ctx->def->init(ctx, ctx->state, ctx->tc->conf);
                if (err != ND_OK) {
                        nd_log_error("task",
                                     "trigger %s: init on partition %d: %s",
                                     ctx->tc->name, (int)task->conf.partition,
                                     nd_err_str(err));
                        return err;
                }
                ctx->inited = true;
        }
        return ND_OK;
}

void nd_task_destroy(nd_task_t *task) {
        if (!task)
                return;
        for (int i = 0; i < task->inst_cnt; i++) {
                struct nd_ctx_s *ctx = &task->inst[i];
                if (ctx->inited && ctx->def->close)
                        ctx->def->close(ctx, ctx->state);
                nd_store_destroy(ctx->st);
                nd_free(ctx->state);
        }
        nd_timers_destroy(task->timers);
        nd_free(task->inst);
        nd_free(task->enc);
        nd_free(task->rec_ents);
        nd_free(task->rec_seen);
        nd_free(task);
}

int32_t nd_task_partition(const nd_task_t *task) {
        return task->conf.partition;
}

int nd_task_instance_count(const nd_task_t *task) {
        return task->inst_cnt;
}

const nd_trigger_conf_t *nd_task_instance(const nd_task_t *task, int i) {
        return task->inst[i].tc;
}

struct nd_store_s *nd_task_store(const nd_task_t *task, int i) {
        return i >= 0 && i < task->inst_cnt ? task->inst[i].st : NULL;
}

int64_t nd_task_watermark(const nd_task_t *task) {
        return nd_watermark_get(&task->wm);
}

/* ------------------------------------------------------------------ */
/* Time                                                                */

static void fire(nd_timer_t *tmr, int64_t W, void *arg) {
        nd_task_t *task = arg;
        nd_store_entry_t *se = nd_store_entry_of(tmr);
        struct nd_ctx_s *ctx;
        (void)W;
        if (tmr->name >= task->inst_cnt || !task->inst[tmr->name].st)
                return;
        ctx = &task->inst[tmr->name];
        /* The timer's armed flag is part of the entry's bytes. */
        nd_store_mark_dirty(ctx->st, se);
        ctx->armed--;
        task->stats.timers_fired++;
        if (ctx->inited && ctx->def->on_timer) {
                int64_t saved = task->now_ts;
                task->now_ts = tmr->due;
                ctx->def->on_timer(ctx, ctx->state, (nd_entry_t *)se, tmr->due);
                task->now_ts = saved;
        }
}

static size_t fire_due(nd_task_t *task) {
        return nd_time_fire(task->timers, nd_watermark_get(&task->wm), fire,
                            task, 0);
}

void nd_task_process(nd_task_t *task, const nd_rec_t *rec) {
        const nd_event_t *ev = rec->ev;
        if (ev) {
                int64_t before = nd_watermark_get(&task->wm), W;
                if (nd_watermark_observe(&task->wm, ev->timestamp) != before)
                        task->wm_dirty = true;
                fire_due(task);
                task->now_ts = ev->timestamp;
                /* state.ttl: entries touched before W - ttl expire when
                 * this event reaches them (context.c, live_entry). */
                W = nd_watermark_get(&task->wm);
                task->ttl_limit = nd_time_sub_sat(W, task->cfg->state_ttl_ms);
                task->in_event = true;
        }
        for (int i = 0; i < task->inst_cnt; i++) {
                struct nd_ctx_s *ctx = &task->inst[i];
                if (ctx->inited && ctx->def->process)
                        ctx->def->process(ctx, ctx->state, rec);
        }
        task->in_event = false;
        task->stats.events++;
}

size_t nd_task_idle(nd_task_t *task, int64_t wall_ms, int64_t idle_since_ms,
                    bool caught_up) {
        int64_t before = nd_watermark_get(&task->wm);
        if (nd_watermark_idle(&task->wm, wall_ms, idle_since_ms, caught_up) ==
            before)
                return 0;
        task->wm_dirty = true;
        return fire_due(task);
}

size_t nd_task_end(nd_task_t *task, int64_t end_time) {
        int64_t before = nd_watermark_get(&task->wm);
        if (nd_watermark_set_end(&task->wm, end_time) != before)
                task->wm_dirty = true;
        return fire_due(task);
}

/* WHY keep armed entries: state.ttl never drops state that holds a
 * pending timer (TRIGGERS.md §5); it lives until the timer fires, and the
 * TTL applies from its last touch after that. */
static bool evict_cb(nd_store_t *st, nd_store_entry_t *e, void *arg) {
        struct nd_ctx_s *ctx = arg;
        struct nd__task_hdr *hdr = nd_store_value(e);
        (void)st;
        if (nd_timer_is_armed(&hdr->tmr))
                return false;
        ctx->task->stats.evicted++;
        return true;
}

size_t nd_task_evict(nd_task_t *task, size_t max) {
        size_t n = 0;
        int64_t W = nd_watermark_get(&task->wm);
        if (W == INT64_MIN)
                return 0;
        for (int i = 0; i < task->inst_cnt; i++)
                if (task->inst[i].st)
                        n += nd_store_evict_expired(
                            task->inst[i].st, W, task->cfg->state_ttl_ms, max,
                            evict_cb, &task->inst[i]);
        return n;
}

/* ------------------------------------------------------------------ */
/* Figures                                                             */

void nd_task_stats(const nd_task_t *task, nd_task_stats_t *out) {
        *out = task->stats;
        out->watermark = nd_watermark_get(&task->wm);
        out->timers_pending = nd_timers_count(task->timers);
        out->entries = 0;
        out->bytes = nd_timers_bytes(task->timers);
        for (int i = 0; i < task->inst_cnt; i++)
                if (task->inst[i].st) {
                        out->entries += nd_store_count(task->inst[i].st);
                        out->bytes += nd_store_bytes(task->inst[i].st);
                }
}

void nd_task_instance_stats(const nd_task_t *task, int i,
                            nd_task_inst_stats_t *out) {
        const struct nd_ctx_s *ctx = &task->inst[i];
        out->timers = ctx->armed;
        out->entries = ctx->st ? nd_store_count(ctx->st) : 0;
        out->bytes = ctx->st ? nd_store_bytes(ctx->st) : 0;
}
