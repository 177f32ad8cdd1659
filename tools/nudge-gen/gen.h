/*
 * gen — the traffic model of nudge-gen: synthetic customer journeys as a
 * stream of nd_event_t (TRIGGERS.md §1), deterministic for a seed.
 *
 * N customers, a share of them known (customer_id) and the rest anonymous
 * (anonymous_id only), each with one to three devices. A fixed number of
 * sessions run at once; each event comes from one of them, picked at
 * random, so sessions interleave as they do on a real site. A session
 * enters on a channel (web, app, an email or push click, a store kiosk),
 * browses, may fill a cart, may continue on another device, and ends in an
 * abandoned cart or an order; some orders are refunded or cancelled later
 * in the session. A share of events carry a timestamp moved back by up to
 * the maximum lateness (out of order). docs/load-generator.md documents the
 * mix and every parameter.
 *
 * Time: with wall_clock false, event time starts at start_ms and advances
 * by 1000 / sim_rate ms per event, so the same options and seed give the
 * same events, byte for byte. With wall_clock true, each event is stamped
 * with the wall clock when it is generated (live traffic).
 *
 * Thread safety: an nd_gen_t is used by one thread at a time.
 */
#ifndef ND_GEN_H
#define ND_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nudge/err.h"
#include "nudge/event.h"

typedef struct nd_gen_s nd_gen_t;

typedef struct nd_gen_opts_s {
        uint64_t seed;
        long customers;          /* distinct customers, >= 1 */
        double known_share;      /* customers with a customer_id */
        int sessions;            /* sessions running at once, >= 1 */
        int products;            /* catalog size, >= 10 */
        double cart_share;       /* sessions that put something in a cart */
        double abandon_share;    /* carts that end without an order */
        double switch_share;     /* carts continued on another device */
        double refund_share;     /* orders later refunded or cancelled */
        double ooo_share;        /* events stamped late (out of order) */
        int64_t max_lateness_ms; /* how late at most, >= 1 */
        int64_t start_ms;        /* event time of the first event */
        double sim_rate;         /* events per second of event time */
        bool wall_clock;         /* stamp events with the wall clock */
} nd_gen_opts_t;

/** Fills opts with the documented defaults (seed 1). */
void nd_gen_opts_default(nd_gen_opts_t *opts);

/**
 * Checks opts; ND_OK or ND_ERR_INVAL with errstr naming the option.
 */
nd_err_t nd_gen_opts_check(const nd_gen_opts_t *opts, char *errstr,
                           size_t errstr_size);

/** A new generator (opts copied; call nd_gen_opts_check() first). */
nd_gen_t *nd_gen_new(const nd_gen_opts_t *opts);
/** nd_gen_destroy(NULL) is a no-op. */
void nd_gen_destroy(nd_gen_t *gen);

/**
 * The next event. Its strings and lists point into gen and stay valid
 * until the next call. Every event passes nd_serde_validate_event(); key
 * and key_is_customer are set.
 */
void nd_gen_next(nd_gen_t *gen, nd_event_t *ev);

/** Events generated so far. */
uint64_t nd_gen_count(const nd_gen_t *gen);

/** Number of catalog products (opts.products). */
int nd_gen_product_count(const nd_gen_t *gen);

/**
 * Catalog product i (0 <= i < count), the skus events use: name,
 * category, price, in_stock, complements (other skus of the catalog).
 * Valid until the next nd_gen_product() call.
 */
void nd_gen_product(nd_gen_t *gen, int i, nd_product_rec_t *prod);

#endif
