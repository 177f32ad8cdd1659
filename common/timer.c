/*
 * timer.c — 4-ary min-heap of embedded timers.
 *
 * OVERALL DESIGN. The heap array holds (due, timer) pairs rather than bare
 * pointers: nearly every comparison is decided by the due time, which is
 * then read from the array itself, and only ties (same millisecond) follow
 * the pointer to compare key and name. A 4-ary heap halves the depth of a
 * binary one and its four children sit in one 64-byte line, which suits
 * pop-heavy use (every fire is a pop). Each timer stores its slot + 1, so
 * cancel and move find it without searching; slot 0 means "not armed".
 *
 * A timer decoded from a changelog carries a stale slot. Every operation
 * that trusts tmr->slot first checks that the heap really holds tmr there
 * (is_member), so a stale slot reads as "not armed" and can never make us
 * touch another timer's heap entry.
 */
#include "timer.h"

#include "log.h"
#include <string.h>

#include "mem.h"

#define ARITY 4

struct node {
        int64_t due;
        nd_timer_t *tmr;
};

struct nd_timers_s {
        struct node *heap;
        size_t count;
        size_t cap;
};

nd_timers_t *nd_timers_new(void)
{
        return nd_calloc(1, sizeof(nd_timers_t));
}

void nd_timers_destroy(nd_timers_t *ts)
{
        if (!ts)
                return;
        nd_free(ts->heap);
        nd_free(ts);
}

void nd_timers_reserve(nd_timers_t *ts, size_t n)
{
        if (n <= ts->cap)
                return;
        ts->heap = nd_realloc(ts->heap, n * sizeof(*ts->heap));
        ts->cap = n;
}

void nd_timer_init(nd_timer_t *tmr, const void *key, size_t klen,
                   const char *name, void *data)
{
        nd_assert(klen <= 255);
        memset(tmr, 0, sizeof(*tmr));
        tmr->key = key;
        tmr->klen = (uint8_t)klen;
        tmr->name = name;
        tmr->data = data;
}

void nd_timer_set_sub(nd_timer_t *tmr, uint64_t sub)
{
        tmr->sub = sub;
}

bool nd_timer_is_armed(const nd_timer_t *tmr)
{
        return tmr->slot != 0;
}

int nd_timer_cmp(const nd_timer_t *a, const nd_timer_t *b)
{
        size_t n;
        int c;
        if (a->due != b->due)
                return a->due < b->due ? -1 : 1;
        n = a->klen < b->klen ? a->klen : b->klen;
        if (n && (c = memcmp(a->key, b->key, n)) != 0)
                return c;
        if (a->klen != b->klen)
                return a->klen < b->klen ? -1 : 1;
        if (a->name != b->name) {
                c = strcmp(a->name ? a->name : "", b->name ? b->name : "");
                if (c)
                        return c;
        }
        if (a->sub != b->sub)
                return a->sub < b->sub ? -1 : 1;
        return 0;
}

static inline bool node_less(const struct node *a, const struct node *b)
{
        if (a->due != b->due)
                return a->due < b->due;
        return nd_timer_cmp(a->tmr, b->tmr) < 0;
}

static inline void place(nd_timers_t *ts, size_t i, struct node nd)
{
        ts->heap[i] = nd;
        nd.tmr->slot = (uint32_t)(i + 1);
}

static void sift_up(nd_timers_t *ts, size_t i)
{
        struct node nd = ts->heap[i];
        while (i > 0) {
                size_t parent = (i - 1) / ARITY;
                if (!node_less(&nd, &ts->heap[parent]))
                        break;
                place(ts, i, ts->heap[parent]);
                i = parent;
        }
        place(ts, i, nd);
}

static void sift_down(nd_timers_t *ts, size_t i)
{
        struct node nd = ts->heap[i];
        for (;;) {
                size_t first = i * ARITY + 1, best, c, end;
                if (first >= ts->count)
                        break;
                end = first + ARITY < ts->count ? first + ARITY : ts->count;
                best = first;
                for (c = first + 1; c < end; c++)
                        if (node_less(&ts->heap[c], &ts->heap[best]))
                                best = c;
                if (!node_less(&ts->heap[best], &nd))
                        break;
                place(ts, i, ts->heap[best]);
                i = best;
        }
        place(ts, i, nd);
}

static inline bool is_member(const nd_timers_t *ts, const nd_timer_t *tmr)
{
        return tmr->slot != 0 && tmr->slot <= ts->count &&
               ts->heap[tmr->slot - 1].tmr == tmr;
}

/* Removes the node at slot i and restores the heap property. */
static void remove_at(nd_timers_t *ts, size_t i)
{
        nd_timer_t *tmr = ts->heap[i].tmr;
        ts->count--;
        if (i != ts->count) {
                ts->heap[i] = ts->heap[ts->count];
                /* The moved node may belong above or below slot i. */
                if (i > 0 &&
                    node_less(&ts->heap[i], &ts->heap[(i - 1) / ARITY]))
                        sift_up(ts, i);
                else
                        sift_down(ts, i);
        }
        tmr->slot = 0;
}

void nd_timers_arm(nd_timers_t *ts, nd_timer_t *tmr, int64_t due)
{
        if (is_member(ts, tmr)) {
                size_t i = tmr->slot - 1;
                int64_t old = tmr->due;
                tmr->due = due;
                ts->heap[i].due = due;
                if (due < old)
                        sift_up(ts, i);
                else if (due > old)
                        sift_down(ts, i);
                return;
        }
        if (ts->count == ts->cap)
                nd_timers_reserve(ts, ts->cap ? ts->cap * 2 : 64);
        tmr->due = due;
        ts->heap[ts->count].due = due;
        ts->heap[ts->count].tmr = tmr;
        ts->count++;
        sift_up(ts, ts->count - 1);
}

void nd_timers_cancel(nd_timers_t *ts, nd_timer_t *tmr)
{
        if (!is_member(ts, tmr)) {
                tmr->slot = 0; /* stale (restored) or not armed */
                return;
        }
        remove_at(ts, tmr->slot - 1);
}

nd_timer_t *nd_timers_peek(const nd_timers_t *ts)
{
        return ts->count ? ts->heap[0].tmr : NULL;
}

nd_timer_t *nd_timers_pop_due(nd_timers_t *ts, int64_t W)
{
        nd_timer_t *tmr;
        if (!ts->count || !(W > ts->heap[0].due))
                return NULL;
        tmr = ts->heap[0].tmr;
        remove_at(ts, 0);
        return tmr;
}

size_t nd_timers_count(const nd_timers_t *ts)
{
        return ts->count;
}

size_t nd_timers_bytes(const nd_timers_t *ts)
{
        return sizeof(*ts) + ts->cap * sizeof(*ts->heap);
}

bool nd_timers_rearm(nd_timers_t *ts, nd_timer_t *tmr, const void *key,
                     size_t klen, const char *name, void *data)
{
        bool member = is_member(ts, tmr);
        bool was_armed = tmr->slot != 0;
        nd_assert(klen <= 255);
        tmr->key = key;
        tmr->klen = (uint8_t)klen;
        tmr->name = name;
        tmr->data = data;
        if (member)
                return true;
        tmr->slot = 0;
        if (was_armed)
                nd_timers_arm(ts, tmr, tmr->due);
        return was_armed;
}
