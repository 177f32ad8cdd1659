/*
 * bench_store.c — per-operation cost of the state store and the timers.
 *
 * Usage: bench_store [entries] [value_size]   (defaults: 1000000, 128)
 *
 * Measures, with N customer keys of ~16 bytes:
 *   upsert-new   insert N keys into an empty store (table growth included)
 *   get-hit      look up existing keys in random order
 *   get-miss     look up absent keys
 *   upsert-hit   upsert existing keys (lookup + touch)
 *   timer-arm    arm one timer per entry (embedded in the value), random due
 *   timer-move   move each armed timer to a new random due time
 *   timer-pop    pop every timer in order (nd_timers_pop_due)
 *   event-step   a whole per-event step: watermark, fire due timers, lookup,
 *                touch and re-arm, with the clock moving 1 ms per event
 * and prints ns/op and Mops/s per line, and the store's accounted bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "mem.h"
#include "store.h"
#include "timer.h"
#include "watermark.h"

struct val {
        nd_timer_t tmr;
        int64_t last;
        unsigned char pad[]; /* up to value_size */
};

static char (*keys)[24];
static size_t *klens;
static uint32_t *perm;

static uint64_t rng = 88172645463325252ULL;
static uint64_t xorshift(void) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}

static void report(const char *what, size_t n, int64_t ns) {
        printf("%-11s %9zu ops %8.1f ns/op %7.2f Mops/s\n", what, n,
               (double)ns / (double)n, (double)n * 1e3 / (double)ns);
}

/* The timer is at the start of the value: container-of to the entry. */
static const void *val_key(const nd_timer_t *tmr, size_t *klen, void *arg) {
        (void)arg;
        return nd_store_key(nd_store_entry_of(tmr), klen);
}

static void fire(nd_timer_t *tmr, int64_t W, void *arg) {
        size_t *fired = arg;
        (*fired)++;
}

int main(int argc, char **argv) {
        size_t n = argc > 1 ? (size_t)atol(argv[1]) : 1000000;
        size_t vsize = argc > 2 ? (size_t)atol(argv[2]) : 128;
        nd_store_t *st;
        nd_timers_t *ts = nd_timers_new(val_key, NULL);
        nd_watermark_t wm;
        nd_store_entry_t *e;
        size_t i, hits = 0, fired = 0;
        int64_t t0;
        char miss[32];

        if (vsize < sizeof(struct val))
                vsize = sizeof(struct val);
        keys = nd_malloc(n * sizeof(*keys));
        klens = nd_malloc(n * sizeof(*klens));
        perm = nd_malloc(n * sizeof(*perm));
        for (i = 0; i < n; i++) {
                klens[i] = (size_t)snprintf(keys[i], sizeof(keys[i]),
                                            "cust-%010zu", i * 7919);
                perm[i] = (uint32_t)i;
        }
        for (i = n - 1; i > 0; i--) {
                size_t j = xorshift() % (i + 1);
                uint32_t tmp = perm[i];
                perm[i] = perm[j];
                perm[j] = tmp;
        }
        printf("allocator: %s, entries: %zu, value_size: %zu\n",
               nd_mem_allocator(), n, vsize);
        st = nd_store_new("bench", vsize);

        t0 = nd_clock_mono_ns();
        for (i = 0; i < n; i++)
                nd_store_upsert(st, keys[i], klens[i], 0, &e, NULL);
        report("upsert-new", n, nd_clock_mono_ns() - t0);
        nd_store_flush(st, NULL, NULL, 0);

        t0 = nd_clock_mono_ns();
        for (i = 0; i < n; i++)
                hits += nd_store_get(st, keys[perm[i]], klens[perm[i]]) != NULL;
        report("get-hit", n, nd_clock_mono_ns() - t0);

        t0 = nd_clock_mono_ns();
        for (i = 0; i < n; i++) {
                size_t kl = (size_t)snprintf(miss, sizeof(miss), "anon-%zu", i);
                hits += nd_store_get(st, miss, kl) != NULL;
        }
        report("get-miss*", n, nd_clock_mono_ns() - t0);

        t0 = nd_clock_mono_ns();
        for (i = 0; i < n; i++)
                nd_store_upsert(st, keys[perm[i]], klens[perm[i]], 1, &e, NULL);
        report("upsert-hit", n, nd_clock_mono_ns() - t0);
        nd_store_flush(st, NULL, NULL, 0);

        nd_timers_add_name(ts, "cart_reminder");
        nd_timers_reserve(ts, n);
        t0 = nd_clock_mono_ns();
        for (i = 0; i < n; i++) {
                struct val *v;
                e = nd_store_get(st, keys[perm[i]], klens[perm[i]]);
                v = nd_store_value(e);
                nd_timer_init(&v->tmr, 0);
                nd_timers_arm(ts, &v->tmr, (int64_t)(xorshift() % 3600000));
        }
        report("timer-arm+", n, nd_clock_mono_ns() - t0);

        t0 = nd_clock_mono_ns();
        for (i = 0; i < n; i++) {
                struct val *v;
                e = nd_store_get(st, keys[perm[i]], klens[perm[i]]);
                v = nd_store_value(e);
                nd_timers_arm(ts, &v->tmr, (int64_t)(xorshift() % 3600000));
        }
        report("timer-move+", n, nd_clock_mono_ns() - t0);

        t0 = nd_clock_mono_ns();
        while (nd_timers_pop_due(ts, INT64_MAX))
                fired++;
        report("timer-pop", n, nd_clock_mono_ns() - t0);

        /* The per-event engine path: a clock moving 1 ms per event, one
         * hour delays, so timers fire continuously once W passes them. */
        nd_watermark_init(&wm, 5000, 1000);
        t0 = nd_clock_mono_ns();
        for (i = 0; i < n; i++) {
                int64_t ts_ev = (int64_t)i;
                struct val *v;
                nd_time_step(&wm, ts, ts_ev, fire, &fired);
                nd_store_upsert(st, keys[perm[i]], klens[perm[i]], ts_ev, &e,
                                NULL);
                v = nd_store_value(e);
                v->last = ts_ev;
                nd_timers_arm(ts, &v->tmr, ts_ev + (int64_t)(i % 100000));
        }
        report("event-step", n, nd_clock_mono_ns() - t0);
        printf("(* includes snprintf of the key; + includes a get)\n");
        printf("store bytes: %zu (%.1f per entry), timer heap bytes: %zu, "
               "hits %zu fired %zu\n",
               nd_store_bytes(st), (double)nd_store_bytes(st) / (double)n,
               nd_timers_bytes(ts), hits, fired);

        /* Cancel before the entries go away (store.h pointer rules). */
        while (nd_timers_pop_due(ts, INT64_MAX))
                ;
        nd_timers_destroy(ts);
        nd_store_destroy(st);
        nd_free(keys);
        nd_free(klens);
        nd_free(perm);
        return 0;
}
