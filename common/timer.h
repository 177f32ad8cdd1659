/*
 * timer — the per-task timer service: a 4-ary min-heap of timers that live
 * inside their owners (STYLE.md §5.4), ordered by (due, key, name, sub).
 *
 * A timer (nd_timer_t) is caller memory, usually a field of a processor's
 * per-customer record inside a store entry. Entries never move
 * (common/store.h), so a timer's address is stable while it is armed. The
 * heap holds (due, timer pointer) pairs and every armed timer knows its heap
 * slot, so arm, move and cancel are O(log n) and allocate nothing once the
 * heap has grown to its working size (nd_timers_reserve() pre-sizes it).
 *
 * Order (TRIGGERS.md §2): due time, then the key bytes (memcmp order, a
 * shorter key first when one is a prefix of the other), then the trigger
 * name (strcmp), then `sub`, a processor-chosen number that orders several
 * timers of one trigger and key (e.g. the stage, a hash of the order id).
 * Timers equal in all four fire in an unspecified order.
 *
 * Firing: nd_timers_pop_due(ts, W) returns the first timer with due < W
 * (a timer fires when W > D, strictly) and disarms it; the caller fires it,
 * and may re-arm it from the callback. Calling pop_due in a loop until it
 * returns NULL therefore also fires, in the same firing step, any timer armed
 * or moved during firing that is already due (TRIGGERS.md §5).
 * nd_time_fire() in watermark.h is that loop.
 *
 * Persistence: timers are part of the state. `due` and the armed flag are
 * plain fields of the timer, so they travel inside the owner's value bytes
 * through the changelog (common/store.h); the pointer fields do not survive
 * a restore and are re-bound by nd_timers_rearm(), which also re-arms a timer
 * that was armed when it was written. See docs/internals/TIMERS.md.
 *
 * Lifetime: an armed timer must be cancelled before its memory goes away —
 * in particular before nd_store_delete() of the entry that holds it.
 *
 * Thread safety: none; a timer set and its timers belong to one task thread.
 */
#ifndef ND_TIMER_H
#define ND_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nudge/err.h"

/*
 * One timer. Fields are read-only for users except through the functions
 * below; `due` may be read at any time (a fired timer's created_at).
 * Zeroed memory is a valid, unarmed, unbound timer.
 */
typedef struct nd_timer_s {
        int64_t due;      /* due time; kept after firing or cancel */
        uint32_t slot;    /* heap slot + 1 while armed, 0 when not (persisted
                           * as the "armed" flag: see nd_timers_rearm) */
        uint8_t klen;     /* key length */
        uint8_t pad_[3];  /* zero */
        const void *key;  /* borrowed: the owner's key, e.g. the entry's */
        const char *name; /* borrowed: the trigger instance's name */
        uint64_t sub;     /* tie-break among timers of one (key, name) */
        void *data;       /* for the firing callback: the owner, usually */
} nd_timer_t;

typedef struct nd_timers_s nd_timers_t;

/** A new, empty timer set. Never NULL (aborts on OOM). */
nd_timers_t *nd_timers_new(void);
/**
 * Frees the set. Timers still armed are left as they are (their `slot`
 * stays set); their owners must not use them with another set. NULL is fine.
 */
void nd_timers_destroy(nd_timers_t *ts);
/** Grows the heap so that n timers fit without allocating. */
void nd_timers_reserve(nd_timers_t *ts, size_t n);

/**
 * Binds tmr to its key (at most 255 bytes, borrowed: it must outlive every
 * armed period, as an entry's key does), its trigger name (borrowed) and
 * callback data, and resets it: unarmed, due 0, sub 0. tmr must not be armed.
 */
void nd_timer_init(nd_timer_t *tmr, const void *key, size_t klen,
                   const char *name, void *data);
/** Sets the tie-break `sub`; only while tmr is not armed. */
void nd_timer_set_sub(nd_timer_t *tmr, uint64_t sub);
/** True while tmr is armed in a timer set. */
bool nd_timer_is_armed(const nd_timer_t *tmr);

/**
 * Arms tmr at due, or moves it there when it is already armed in ts.
 * O(log n); allocates only when the heap grows.
 */
void nd_timers_arm(nd_timers_t *ts, nd_timer_t *tmr, int64_t due);
/** Disarms tmr; a no-op when it is not armed. O(log n). Keeps tmr->due. */
void nd_timers_cancel(nd_timers_t *ts, nd_timer_t *tmr);

/** The first timer in order without removing it, or NULL when empty. */
nd_timer_t *nd_timers_peek(const nd_timers_t *ts);
/**
 * Removes and returns the first timer when its due time is before W
 * (W > due), else NULL. The returned timer is disarmed, keeps its `due`,
 * and may be re-armed at once.
 */
nd_timer_t *nd_timers_pop_due(nd_timers_t *ts, int64_t W);
/** Number of armed timers. */
size_t nd_timers_count(const nd_timers_t *ts);
/** Bytes held by the set (its heap array), for memory accounting. */
size_t nd_timers_bytes(const nd_timers_t *ts);

/**
 * After a restore: tmr's bytes came back from a changelog, so its pointers
 * are stale. Re-binds key, klen, name and data (keeping due and sub), and,
 * when tmr was armed when it was written, arms it again at its due time.
 * Returns true when tmr is armed afterwards. Calling it on a timer that is
 * already armed in ts only re-binds it. Restore every entry first, then
 * re-arm (an entry may be written several times in a changelog).
 */
bool nd_timers_rearm(nd_timers_t *ts, nd_timer_t *tmr, const void *key,
                     size_t klen, const char *name, void *data);

/**
 * Total order of two timers as the heap sees it (due, key, name, sub):
 * negative, 0 or positive. Exposed for tests and for the runtime's
 * deterministic iteration.
 */
int nd_timer_cmp(const nd_timer_t *a, const nd_timer_t *b);

#endif
