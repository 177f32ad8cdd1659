/*
 * timer — the per-task timer service: a 4-ary min-heap of timers that live
 * inside their owners (STYLE.md §5.4), ordered by (due, key, name, sub).
 *
 * A timer (nd_timer_t, 16 bytes) is caller memory, usually a field of a
 * processor's per-customer record inside a store entry. Entries never move
 * (common/store.h), so a timer's address is stable while it is armed. The
 * heap holds 12-byte (due, timer pointer) pairs and every armed timer knows
 * its heap slot, so arm, move and cancel are O(log n) and allocate nothing
 * once the heap has grown to its working size (nd_timers_reserve()
 * pre-sizes it).
 *
 * A timer does not point at its key or its trigger name: the set recovers
 * the key through a callback given to nd_timers_new() (the owner finds its
 * entry from the timer's address, container-of style), and the name is a
 * 16-bit index into a table of names the set keeps (nd_timers_add_name).
 * Both are only needed to break ties between timers due at the same time.
 *
 * Order (TRIGGERS.md §2): due time, then the key bytes (memcmp order, a
 * shorter key first when one is a prefix of the other), then the trigger
 * name (strcmp of the strings, not index order), then `sub`, a
 * processor-chosen number that orders several timers of one trigger and
 * key (e.g. the stage). Timers equal in all four fire in an unspecified
 * order.
 *
 * Firing: nd_timers_pop_due(ts, W) returns the first timer with due < W
 * (a timer fires when W > D, strictly) and disarms it; the caller fires it,
 * and may re-arm it from the callback. Calling pop_due in a loop until it
 * returns NULL therefore also fires, in the same firing step, any timer armed
 * or moved during firing that is already due (TRIGGERS.md §5).
 * nd_time_fire() in watermark.h is that loop.
 *
 * Persistence: timers are part of the state. A timer has no pointers: `due`,
 * `sub`, the name index and the armed flag (`slot` != 0) are plain bytes
 * that travel inside the owner's value through the changelog
 * (common/store.h). After a restore nd_timers_rearm() re-arms a timer that
 * was armed when it was written. See docs/internals/TIMERS.md.
 *
 * Addresses: an armed timer must be 8-byte aligned and below 2^48 (the heap
 * packs its address into 45 bits; checked, every Linux user address on
 * x86-64 and arm64 qualifies).
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
 * Zeroed memory is a valid, unarmed timer of name index 0.
 */
typedef struct nd_timer_s {
        int64_t due;   /* due time; kept after firing or cancel */
        uint32_t slot; /* heap slot + 1 while armed, 0 when not (persisted
                        * as the "armed" flag: see nd_timers_rearm) */
        uint16_t name; /* index into the set's name table */
        uint16_t sub;  /* tie-break among timers of one (key, name) */
} nd_timer_t;

typedef struct nd_timers_s nd_timers_t;

/**
 * Where a timer's key is: the owner's key bytes (borrowed; stable while the
 * timer is armed) and their length (at most 255) in *klen. Called only to
 * order timers due at the same time. Must not touch the timer set.
 */
typedef const void *(nd_timer_key_fn)(const nd_timer_t *tmr, size_t *klen,
                                      void *arg);

/**
 * A new, empty timer set; key (may be NULL: every key is empty) finds the
 * key of a timer, with arg. Never NULL (aborts on OOM).
 */
nd_timers_t *nd_timers_new(nd_timer_key_fn *key, void *arg);
/**
 * Frees the set. Timers still armed are left as they are (their `slot`
 * stays set); their owners must not use them with another set. NULL is fine.
 */
void nd_timers_destroy(nd_timers_t *ts);
/** Grows the heap so that n timers fit without allocating. */
void nd_timers_reserve(nd_timers_t *ts, size_t n);

/**
 * Adds name (borrowed: it must outlive the set) to the name table and
 * returns its index, 0 for the first name, then 1, 2... Two equal strings
 * get two indexes that order as equal. At most 65535 names.
 */
uint16_t nd_timers_add_name(nd_timers_t *ts, const char *name);
/** The name of index idx ("" when there is no such index). */
const char *nd_timers_name(const nd_timers_t *ts, uint16_t idx);
/** tmr's key through the set's callback (NULL and 0 without one). */
const void *nd_timers_key(const nd_timers_t *ts, const nd_timer_t *tmr,
                          size_t *klen);

/**
 * Resets tmr for trigger name index `name`: unarmed, due 0, sub 0. tmr must
 * not be armed.
 */
void nd_timer_init(nd_timer_t *tmr, uint16_t name);
/** Sets the tie-break `sub`; only while tmr is not armed. */
void nd_timer_set_sub(nd_timer_t *tmr, uint16_t sub);
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
/** Bytes held by the set (heap array, name table), for accounting. */
size_t nd_timers_bytes(const nd_timers_t *ts);

/**
 * After a restore: tmr's bytes came back from a changelog, so its slot is
 * stale and its name index may be another run's. Sets the name index to
 * `name` (keeping due and sub) and, when tmr was armed when it was written,
 * arms it again at its due time. Returns true when tmr is armed afterwards.
 * Calling it on a timer that is already armed in ts only sets the name.
 * Restore every entry first, then re-arm (an entry may be written several
 * times in a changelog).
 */
bool nd_timers_rearm(nd_timers_t *ts, nd_timer_t *tmr, uint16_t name);

/**
 * Total order of two timers of ts as the heap sees it (due, key, name, sub):
 * negative, 0 or positive. Exposed for tests and for the runtime's
 * deterministic iteration.
 */
int nd_timer_cmp(const nd_timers_t *ts, const nd_timer_t *a,
                 const nd_timer_t *b);

#endif
