/*
 * task_int.h — the task's structures, shared by task.c (the task core),
 * context.c (the nd_ctx_* functions processors call) and changelog.c (the
 * changelog records). Nothing else includes it. OVERALL DESIGN
 *
 * Every trigger instance of a task owns a store (common/state/store.c)
 * whose entry values hold, in this order, a runtime header and the
 * processor's value:
 *
 *     [ struct nd__task_hdr: the entry's timer, 16 B ][ value_size bytes ]
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
 * WHY three files share plain structs and no functions: the per-event
 * paths (nd_task_process, nd_ctx_get/upsert/timer_set/emit) read and write
 * these fields directly, so the split adds no call on any of them.
 */
#ifndef ND_TASK_INT_H
#define ND_TASK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "task.h"
#include "timer.h"
#include "watermark.h"

/* The runtime's header at the start of every entry value. */
struct nd__task_hdr {
        nd_timer_t tmr;
};
#define ND__TASK_HDR_SIZE ((sizeof(struct nd__task_hdr) + 15) & ~(size_t)15)
_Static_assert(sizeof(struct nd__task_hdr) == 16, "a 16-byte timer");

/* One trigger instance of a task: what a processor's nd_ctx_t points at. */
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
        /* While an event is applied (in_event): entries touched before
         * ttl_limit = W - state.ttl and holding no timer are expired. */
        bool in_event;
        int64_t ttl_limit;
        bool restored; /* nd_task_restored() ran: no restore */
        uint8_t *enc;  /* changelog encoding scratch */
        size_t enc_cap;
        const nd_store_entry_t **rec_ents; /* one record's entries */
        uint8_t *rec_seen;   /* restore: instances in the record */
        size_t reserve_n;    /* nd_task_reserve(): records coming */
        size_t reserve_at;   /* size the stores after this many */
        size_t restore_recs; /* records applied so far */
        nd_task_stats_t stats;
};

#endif
