/*
 * task.c — a task and the nd_ctx_* functions processors call. OVERALL DESIGN
 *
 * Every trigger instance of a task owns a store (common/store.c) whose
 * entry values hold, in this order, a runtime header and the processor's
 * value:
 *
 *     [ struct entry_hdr: the entry's timer, 16 B ][ value_size bytes ]
 *
 * The timer lives inside the entry (STYLE.md §5.4) and entries never move,
 * so the task's single timer heap can point at it. The timer holds no
 * pointers: it sits at the start of the store value, so the entry (and its
 * key, for the heap's tie-breaks) is nd_store_entry_of(timer), and its name
 * is a name index equal to the instance's index (every instance's name is
 * added to the timer set, in order, stateless ones included). Keeping the
 * timer in the entry's bytes also puts it in the changelog: a restored
 * entry comes back with its due time and its armed flag, and
 * nd_task_restored() re-arms it. One heap for all instances gives the
 * total firing order of TRIGGERS.md §2 — (due, key, trigger name) — across
 * triggers.
 *
 * The per-event order is nd_time_fire() before process(); a timer armed by
 * process() that is already due waits for the next firing step (§5), and one
 * armed while firing fires in the same step, both by construction of
 * nd_time_fire(). The watermark never goes back, across restores too.
 */
#include "task.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* WHY static linking only: it exposes XXH3_state_t so the hash state can
 * live on the stack; the header and library come from one Debian package. */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "catalog.h"
#include "clock.h"
#include "log.h"
#include "mem.h"
#include "store.h"
#include "timer.h"
#include "watermark.h"

/* The watermark's reserved changelog key: no customer key starts with NUL
 * (nd_ctx_upsert refuses them). */
static const char WM_KEY[] = "\0watermark";
#define WM_KEY_LEN   (sizeof(WM_KEY) - 1)
#define WM_VALUE_LEN 17 /* format byte, W, max timestamp */
/* Restore records applied before the stores are sized (nd_task_reserve) */
#define RESERVE_SAMPLE 8192

struct entry_hdr {
        nd_timer_t tmr;
};
#define HDR_SIZE ((sizeof(struct entry_hdr) + 15) & ~(size_t)15)
_Static_assert(sizeof(struct entry_hdr) == 16, "a 16-byte timer");

/* The timer set's key callback: the timer is at the start of a value. */
static const void *timer_key(const nd_timer_t *tmr, size_t *klen, void *arg) {
        (void)arg;
        return nd_store_key(nd_store_entry_of(tmr), klen);
}

struct nd_ctx_s {
        nd_task_t *task;
        int idx;
        const nd_trigger_conf_t *tc;
        const nd_processor_def_t *def;
        void *state;
        nd_store_t *st; /* NULL when value_size is 0 */
        size_t armed;   /* armed timers of this instance */
        uint32_t tag;   /* its entries' tag in changelog records */
        bool inited;
};

struct nd_task_s {
        nd_task_conf_t conf;
        const nd_config_t *cfg;
        nd_watermark_t wm;
        bool wm_dirty;
        int wm_inst; /* instance whose changelog carries W */
        nd_timers_t *timers;
        int inst_cnt;
        struct nd_ctx_s *inst;
        int64_t now_ts; /* event time being applied */
        bool restored;  /* nd_task_restored() ran: no restore */
        uint8_t *enc;   /* changelog encoding scratch */
        size_t enc_cap;
        const nd_store_entry_t **rec_ents; /* one record's entries */
        uint8_t *rec_seen;   /* restore: instances in the record */
        size_t reserve_n;    /* nd_task_reserve(): records coming */
        size_t reserve_at;   /* size the stores after this many */
        size_t restore_recs; /* records applied so far */
        nd_task_stats_t stats;
};

/* An nd_entry_t is a store entry; the cast is the whole mapping. */
static inline nd_store_entry_t *SE(nd_entry_t *e) {
        return (nd_store_entry_t *)e;
}
static inline struct entry_hdr *HDR(const nd_entry_t *e) {
        return nd_store_value((const nd_store_entry_t *)e);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */

bool nd_task_instance_has_state(const nd_config_t *cfg, int inst) {
        return cfg->triggers[inst].def->value_size > 0;
}

bool nd_task_has_state(const nd_config_t *cfg) {
        for (int i = 0; i < cfg->trigger_cnt; i++)
                if (nd_task_instance_has_state(cfg, i))
                        return true;
        return false;
}

void nd_task_changelog_topic(const nd_config_t *cfg, char *buf, size_t size) {
        snprintf(buf, size, "%s-changelog", cfg->application_id);
}

uint32_t nd_task_changelog_tag(const char *trigger_name) {
        return (uint32_t)XXH3_64bits(trigger_name, strlen(trigger_name));
}

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
                                               HDR_SIZE + ctx->def->value_size);
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
                int64_t before = nd_watermark_get(&task->wm);
                if (nd_watermark_observe(&task->wm, ev->timestamp) != before)
                        task->wm_dirty = true;
                fire_due(task);
                task->now_ts = ev->timestamp;
        }
        for (int i = 0; i < task->inst_cnt; i++) {
                struct nd_ctx_s *ctx = &task->inst[i];
                if (ctx->inited && ctx->def->process)
                        ctx->def->process(ctx, ctx->state, rec);
        }
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

static bool evict_cb(nd_store_t *st, nd_store_entry_t *e, void *arg) {
        struct nd_ctx_s *ctx = arg;
        struct entry_hdr *hdr = nd_store_value(e);
        (void)st;
        if (nd_timer_is_armed(&hdr->tmr))
                ctx->armed--;
        nd_timers_cancel(ctx->task->timers, &hdr->tmr);
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
/* Changelog                                                           */

struct flush_arg {
        nd_task_t *task;
        int inst;
        nd_task_log_cb *cb;
        void *arg;
};

static uint8_t *put_le32(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++, v >>= 8)
                *p++ = (uint8_t)v;
        return p;
}

static uint32_t get_le32(const uint8_t *p) {
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
               (uint32_t)p[3] << 24;
}

/*
 * One customer's changelog record: the current entry of key in every
 * stateful instance (docs/internals/STORE.md, "Changelog records"). The
 * dirty lists are walked instance by instance, and a key dirty in several
 * instances is written once, in the pass of the first of them; so a key
 * dirty in an earlier instance is skipped here. (A key deleted there is a
 * tombstone, not an entry, and cannot be seen: it is then written twice,
 * the same bytes twice, which compaction and a restore both take.)
 */
static nd_err_t flush_one(nd_store_t *st, const void *key, size_t klen,
                          const nd_store_entry_t *e, void *arg) {
        struct flush_arg *fa = arg;
        nd_task_t *task = fa->task;
        size_t need = 1, len;
        uint8_t *p;
        (void)st;
        (void)e;
        for (int j = 0; j < task->inst_cnt; j++) {
                nd_store_t *sj = task->inst[j].st;
                const nd_store_entry_t *ej =
                    sj ? nd_store_get(sj, key, klen) : NULL;
                if (j < fa->inst && ej && nd_store_is_dirty(ej))
                        return ND_OK;
                task->rec_ents[j] = ej;
                if (ej)
                        need += 8 + nd_store_entry_encoded_size(sj, ej);
        }
        if (need == 1)
                return fa->cb(fa->arg, key, klen, NULL, 0);
        if (need > task->enc_cap) {
                task->enc_cap = need * 2;
                task->enc = nd_realloc(task->enc, task->enc_cap);
        }
        p = task->enc;
        *p++ = ND_TASK_CHANGELOG_FORMAT;
        for (int j = 0; j < task->inst_cnt; j++) {
                const nd_store_entry_t *ej = task->rec_ents[j];
                nd_err_t err;
                if (!ej)
                        continue;
                p = put_le32(p, task->inst[j].tag);
                err = nd_store_entry_encode(task->inst[j].st, ej, p + 4,
                                            need - (size_t)(p + 4 - task->enc),
                                            &len);
                if (err != ND_OK)
                        return err;
                p = put_le32(p, (uint32_t)len) + len;
        }
        return fa->cb(fa->arg, key, klen, task->enc, (size_t)(p - task->enc));
}

static void put_be64(uint8_t *p, int64_t v) {
        for (int i = 7; i >= 0; i--, v = (int64_t)((uint64_t)v >> 8))
                p[i] = (uint8_t)v;
}

static int64_t get_be64(const uint8_t *p) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return (int64_t)v;
}

nd_err_t nd_task_flush(nd_task_t *task, nd_task_log_cb *cb, void *arg) {
        nd_err_t err;
        /* Written first, forgotten after: flush_one() tells a key already
         * written by its dirty flag in the earlier instances. */
        for (int i = 0; i < task->inst_cnt; i++) {
                struct flush_arg fa = {task, i, cb, arg};
                if (!task->inst[i].st)
                        continue;
                err = nd_store_dirty_foreach(task->inst[i].st, flush_one, &fa);
                if (err != ND_OK)
                        return err;
        }
        if (task->wm_dirty && task->wm_inst >= 0) {
                uint8_t v[WM_VALUE_LEN];
                v[0] = ND_TASK_CHANGELOG_FORMAT;
                put_be64(v + 1, task->wm.w);
                put_be64(v + 9, task->wm.max_ts);
                err = cb(arg, WM_KEY, WM_KEY_LEN, v, sizeof(v));
                if (err != ND_OK)
                        return err;
        }
        for (int i = 0; i < task->inst_cnt; i++)
                if (task->inst[i].st)
                        nd_store_flush(task->inst[i].st, NULL, NULL, 0);
        task->wm_dirty = false;
        return ND_OK;
}

size_t nd_task_pending_changes(const nd_task_t *task) {
        size_t n = task->wm_dirty && task->wm_inst >= 0;
        for (int i = 0; i < task->inst_cnt; i++)
                if (task->inst[i].st)
                        n += nd_store_dirty_count(task->inst[i].st);
        return n;
}

/* The sample is in: size each store for its share of the records. */
static void reserve_from_sample(nd_task_t *task) {
        for (int i = 0; i < task->inst_cnt; i++) {
                nd_store_t *st = task->inst[i].st;
                if (st)
                        nd_store_reserve(st,
                                         (size_t)((double)task->reserve_n *
                                                  (double)nd_store_count(st) /
                                                  (double)task->restore_recs));
        }
        task->reserve_n = 0;
}

nd_err_t nd_task_restore(nd_task_t *task, const void *key, size_t klen,
                         const void *value, size_t vlen, uint64_t *applied) {
        const uint8_t *p = value, *end = p + vlen;
        uint8_t *seen = task->rec_seen; /* instances in the record */
        if (task->wm_inst < 0)
                return ND_ERR_BAD_RECORD; /* no stateful instance */
        if (klen == WM_KEY_LEN && !memcmp(key, WM_KEY, WM_KEY_LEN)) {
                if (!value || vlen != WM_VALUE_LEN ||
                    p[0] != ND_TASK_CHANGELOG_FORMAT)
                        return ND_ERR_BAD_RECORD;
                /* Never back: keep the larger of what we have and what was
                 * logged. */
                int64_t w = get_be64(p + 1), max_ts = get_be64(p + 9);
                if (w > task->wm.w)
                        task->wm.w = w;
                if (max_ts > task->wm.max_ts)
                        task->wm.max_ts = max_ts;
                return ND_OK;
        }
        /* WHY no timer calls here: until nd_task_restored() the timers
         * in restored bytes are not in the heap (their slot field holds
         * the persisted armed flag), so entries may be overwritten or
         * deleted freely; the heap is built once, at the end. */
        nd_assert(!task->restored);
        memset(seen, 0, (size_t)task->inst_cnt);
        if (value) {
                /* Check the framing and the keys before changing anything. */
                if (vlen < 1 || p[0] != ND_TASK_CHANGELOG_FORMAT)
                        return ND_ERR_BAD_RECORD;
                for (const uint8_t *q = p + 1; q < end;) {
                        size_t len;
                        if (end - q < 8)
                                return ND_ERR_BAD_RECORD;
                        len = get_le32(q + 4);
                        q += 8;
                        /* an entry: format, key length, key, ... */
                        if ((size_t)(end - q) < len || len < 2 + klen ||
                            q[1] != klen || memcmp(q + 2, key, klen))
                                return ND_ERR_BAD_RECORD;
                        q += len;
                }
                for (const uint8_t *q = p + 1; q < end;) {
                        uint32_t tag = get_le32(q);
                        size_t len = get_le32(q + 4);
                        q += 8;
                        for (int i = 0; i < task->inst_cnt; i++) {
                                struct nd_ctx_s *ctx = &task->inst[i];
                                if (!ctx->st || ctx->tag != tag)
                                        continue;
                                if (nd_store_entry_decode_into(ctx->st, q, len,
                                                               NULL) != ND_OK)
                                        return ND_ERR_BAD_RECORD;
                                seen[i] = 1;
                                if (applied)
                                        applied[i]++;
                                break;
                        }
                        /* an unknown tag: a trigger no longer configured */
                        q += len;
                }
        }
        /* The record is the customer's whole state: an instance without an
         * entry in it has none (a tombstone deletes them all). */
        for (int i = 0; i < task->inst_cnt; i++)
                if (task->inst[i].st && !seen[i])
                        nd_store_restore_tombstone(task->inst[i].st, key, klen);
        if (task->reserve_n && ++task->restore_recs == task->reserve_at)
                reserve_from_sample(task);
        return ND_OK;
}

void nd_task_reserve(nd_task_t *task, size_t n) {
        task->reserve_n = n;
        task->reserve_at = n / 16 < RESERVE_SAMPLE ? n / 16 : RESERVE_SAMPLE;
        if (task->reserve_at == 0)
                task->reserve_at = 1;
        task->restore_recs = 0;
}

void nd_task_restored(nd_task_t *task) {
        task->restored = true;
        for (int i = 0; i < task->inst_cnt; i++) {
                struct nd_ctx_s *ctx = &task->inst[i];
                size_t pos = 0;
                nd_store_entry_t *e;
                if (!ctx->st)
                        continue;
                while ((e = nd_store_next(ctx->st, &pos))) {
                        struct entry_hdr *hdr = nd_store_value(e);
                        if (nd_timers_rearm(task->timers, &hdr->tmr,
                                            (uint16_t)i))
                                ctx->armed++;
                }
        }
}

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

/* ------------------------------------------------------------------ */
/* nd_ctx_* (nudge/processor.h)                                        */

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
        if (!nd_log_enabled((nd_log_level_t)level))
                return;
        va_start(ap, fmt);
        nd_logv((nd_log_level_t)level, ctx->tc->name, fmt, ap);
        va_end(ap);
}

nd_entry_t *nd_ctx_get(nd_ctx_t *ctx, nd_str_t key) {
        if (!ctx->st || key.len == 0)
                return NULL;
        return (nd_entry_t *)nd_store_get(ctx->st, key.p, key.len);
}

nd_entry_t *nd_ctx_upsert(nd_ctx_t *ctx, nd_str_t key, bool *created) {
        nd_store_entry_t *e = NULL;
        bool made = false;
        if (created)
                *created = false;
        if (!ctx->st || key.len == 0 || key.p[0] == '\0')
                return NULL;
        if (nd_store_upsert(ctx->st, key.p, key.len, ctx->task->now_ts, &e,
                            &made) != ND_OK)
                return NULL;
        if (made) {
                struct entry_hdr *hdr = nd_store_value(e);
                nd_timer_init(&hdr->tmr, (uint16_t)ctx->idx);
                nd_store_mark_dirty(ctx->st, e);
        }
        if (created)
                *created = made;
        return (nd_entry_t *)e;
}

void *nd_entry_value(nd_entry_t *e) {
        return (char *)nd_store_value(SE(e)) + HDR_SIZE;
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
