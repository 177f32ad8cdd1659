/*
 * changelog.c — a task's changelog records: encode, decode, apply. OVERALL
 * DESIGN
 *
 * A task's state goes to the application's one changelog topic
 * (<application.id>-changelog, compacted, co-partitioned with the event
 * topics) as one record per customer, keyed by the customer key, holding
 * the customer's entry in every stateful instance, each under the tag of
 * its trigger's name (format 3, docs/internals/STORE.md "Changelog
 * records"); the watermark travels under a reserved key. The runtime
 * produces the records at commit (nd_task_flush, inside the transaction of
 * the actions and offsets under exactly-once) and reads them back into a
 * new task before it starts (nd_task_restore, then nd_task_restored, which
 * builds the timer heap once). The store encodes single entries; this file
 * frames them, and knows nothing of Kafka: runtime.c produces and reads the
 * bytes.
 */
#include "task.h"

#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#include "log.h"
#include "mem.h"
#include "store.h"
#include "task_int.h"
#include "timer.h"

/* The watermark's reserved changelog key: no customer key starts with NUL
 * (nd_ctx_upsert refuses them). */
static const char WM_KEY[] = "\0watermark";
#define WM_KEY_LEN   (sizeof(WM_KEY) - 1)
#define WM_VALUE_LEN 17 /* format byte, W, max timestamp */
/* Restore records applied before the stores are sized (nd_task_reserve) */
#define RESERVE_SAMPLE 8192

/* ------------------------------------------------------------------ */
/* Where the changelog is                                              */

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

/* ------------------------------------------------------------------ */
/* Flush                                                               */

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

/* ------------------------------------------------------------------ */
/* Restore                                                             */

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
        nd_err_t rc = ND_OK;
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
                                /* WHY go on: one trigger's entry that
                                 * does not decode (a layout of an earlier
                                 * build) must not cost the customer the
                                 * other triggers' state; it is dropped
                                 * (no entry: the tombstone below) and the
                                 * record counted as bad. */
                                if (nd_store_entry_decode_into(ctx->st, q, len,
                                                               NULL) != ND_OK) {
                                        rc = ND_ERR_BAD_RECORD;
                                        break;
                                }
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
        return rc;
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
                        struct nd__task_hdr *hdr = nd_store_value(e);
                        if (nd_timers_rearm(task->timers, &hdr->tmr,
                                            (uint16_t)i))
                                ctx->armed++;
                }
        }
}
