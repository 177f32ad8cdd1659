/*
 * nd_test_events — building input events for processor tests: a struct
 * with designated initializers (unset fields are null) turned into the JSON
 * of TRIGGERS.md §1 and piped into an nd_test_driver, plus the shorthands
 * the trigger tests share. Timestamps are offsets from T0.
 *
 *     EV(d, .type = "order_completed", .id = "o1", .ts = 5 * MIN, ...);
 *     ADD(d, "e1", 0, "S1", .qty = 2);      product_added of S1
 *     VIEW(d, "e2", 10 * MIN);              page_viewed
 *     TICK(d, 2 * HOUR);                    another customer: moves W
 */
#ifndef ND_TEST_EVENTS_H
#define ND_TEST_EVENTS_H

#include <stdint.h>

#include "nd_test.h"
#include "nd_test_driver.h"

#define T0   1700000000000LL
#define SEC  1000LL
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)

/* One input event; unset fields are null, ts is an offset from T0. */
struct evt {
        const char *type, *id, *cust, *anon;
        int64_t ts;
        const char *channel, *device, *cart, *sku, *cat, *currency;
        int64_t qty, price;   /* 0: null */
        const char *products; /* raw JSON list, or NULL */
        const char *order, *campaign;
};

/** Pipes e (customer c1 when no id is given); the event must decode. */
void nd_test_put(nd_test_driver_t *d, struct evt e);

#define EV(d, ...) nd_test_put(d, (struct evt){__VA_ARGS__})
#define ADD(d, id_, ts_, sku_, ...)                                       \
        EV(d, .type = "product_added", .id = id_, .ts = ts_, .sku = sku_, \
           __VA_ARGS__)
#define VIEW(d, id_, ts_, ...) \
        EV(d, .type = "page_viewed", .id = id_, .ts = ts_, __VA_ARGS__)
/* Moves W to T0 + ts with another customer's event. */
#define TICK(d, ts_) VIEW(d, "tick", ts_, .cust = "zz-clock")

/** One step of a scenario (a switch on step, usually). */
typedef void (*nd_test_step_fn)(nd_test_driver_t *d, int step);

/**
 * Runs steps 0..n-1 on d, restarting it (changelog round trip) before step
 * restart_at (-1: never), then destroys d and returns the JSON of every
 * action emitted, in order (free() it). Two runs that differ only in where
 * they restart must return the same text.
 */
char *nd_test_run_steps(nd_test_driver_t *d, nd_test_step_fn step, int n,
                        int restart_at);

/** The next action; fails the test when there is none. */
static inline const nd_test_action_t *next(nd_test_driver_t *d) {
        const nd_test_action_t *a = nd_test_driver_read(d);
        ck_assert_msg(a != NULL, "expected one more action");
        return a;
}

/** A NUL-terminated copy of s for ck_assert_str_eq. */
static inline const char *S(nd_test_driver_t *d, nd_str_t s) {
        return nd_test_str(d, s);
}

#endif
