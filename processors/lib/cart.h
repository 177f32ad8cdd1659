/*
 * cart — the cart model of TRIGGERS.md §5, shared by cart_abandonment and
 * channel_switch (each keeps its own copy, in its own entries).
 *
 * A cart is a fixed part, nd_cart_t, that the processor embeds in its entry
 * value, and a variable part at the start of the entry's blob:
 *
 *     [last order ts][cart_id][last mutation's event_id][its device_id]
 *     [currency][lines]
 *
 * the first part, an i64, only once the customer has ordered
 * (ND_CART_F_ORDERED; customers who never ordered pay nothing for it), each
 * line being a 24-byte packed header (quantity, unit price, string
 * lengths, has_price) followed by its sku and category. nd_cart_t holds the
 * lengths, so the processor's own packed records may follow the cart in the
 * same blob, from offset cart->len; every cart call keeps them intact and
 * moves them along. The processor keeps the blob's bytes in use in *used
 * (see blob.h).
 *
 * Rules implemented (TRIGGERS.md §3 cart_abandonment, §5 Cart model):
 * product_added adds quantity (a null quantity is 1), product_removed
 * subtracts, a sku at 0 or below leaves the cart, removing an absent sku is
 * still a mutation; cart_viewed / checkout_started with a products list
 * replace the cart by that snapshot ([] empties it); a cart_viewed without
 * products is not a mutation, checkout_started always is; a cart event with
 * a non-null cart_id other than the open cart's starts a new, empty cart
 * first (also a cart_viewed without products: the new cart is then empty
 * and the event is still no mutation); a null cart_id means the open cart;
 * with no open cart, the event opens one; order_completed closes the cart
 * (nd_cart_order); "nothing from before the last order": a mutation stamped
 * at or before the largest timestamp of the customer's processed orders
 * neither opens nor changes a cart (ND_CART_STALE), the timestamp being kept
 * for the life of the entry, also while no cart is open.
 *
 * Bounds: at most ND_CART_MAX_LINES distinct skus (a new sku past that is
 * ignored; the event still counts as a mutation); strings are kept up to
 * ND_BLOB_STR_MAX bytes.
 *
 * Thread safety: as the processor hooks that call it (task thread).
 */
#ifndef ND_PROC_CART_H
#define ND_PROC_CART_H

#include <stdbool.h>
#include <stdint.h>

#include "nudge/processor.h"

#define ND_CART_MAX_LINES 256

enum {
        ND_CART_F_OPEN = 0x1,     /* a cart is open (maybe empty) */
        ND_CART_F_CHECKOUT = 0x2, /* checkout started on the open cart */
        ND_CART_F_MUTATED = 0x4,  /* the mutation fields are set */
        ND_CART_F_CUSTOMER = 0x8, /* the last mutation's key was customer_id */
        ND_CART_F_ORDERED = 0x10, /* the blob starts with the last order's
                                     timestamp (i64), counted in len */
};

/** The fixed part of a cart, embedded in a processor's value. Zero = none. */
typedef struct nd_cart_s {
        int64_t mut_ts;    /* last mutation's timestamp */
        int64_t opened_ts; /* timestamp of the event that opened
                              the cart (or started it, on a new
                              cart_id): tells carts without a
                              cart_id apart */
        uint32_t len;      /* bytes of the cart at the blob's start */
        uint16_t line_cnt;
        uint16_t cart_id_len;
        uint16_t event_id_len;  /* last mutation's event_id */
        uint16_t device_id_len; /* last mutation's device_id */
        uint16_t currency_len;
        uint8_t mut_channel; /* last mutation's channel */
        uint8_t flags;       /* ND_CART_F_* */
} nd_cart_t;

/** What nd_cart_apply() did. */
typedef enum {
        ND_CART_NONE = 0, /* not a cart event, or nothing changed */
        ND_CART_SWITCHED, /* a new, empty cart replaced the open one, and
                             the event was no mutation */
        ND_CART_MUTATED,  /* a mutation: it is now the last mutation */
        ND_CART_STALE,    /* a mutation stamped at or before the last order:
                             ignored by the cart (still activity) */
} nd_cart_result_t;

/** true for the four cart events (the `cart` topic). */
bool nd_cart_is_cart_event(const nd_event_t *ev);

/** true when ev is a cart mutation (§5), whatever the cart holds. */
bool nd_cart_is_mutation(const nd_event_t *ev);

/**
 * true when ev opens a cart for a customer who has none: a cart mutation,
 * or a cart event that names a cart_id.
 */
bool nd_cart_opens(const nd_event_t *ev);

/**
 * The open-cart rule, for a processor that keeps one entry per customer with
 * an open cart or a processed order (cart_abandonment, channel_switch): the
 * customer's entry for ev (ev->key), or NULL when there is nothing to track:
 * the existing entry; with none, a new one (value zeroed) when ev opens a
 * cart (nd_cart_opens) or is an order_completed (whose timestamp must be
 * remembered: call nd_cart_order), else NULL. NULL too when the entry
 * cannot be created (nd_ctx_upsert).
 */
nd_entry_t *nd_cart_entry(nd_ctx_t *ctx, const nd_event_t *ev);

/**
 * order_completed at ts: closes the cart (nd_cart_clear) and raises the
 * remembered last-order timestamp to ts. Errors as nd_cart_apply (the blob
 * cannot grow; only on a customer's first order).
 */
nd_err_t nd_cart_order(nd_ctx_t *ctx, nd_entry_t *e, nd_cart_t *cart,
                       uint32_t *used, int64_t ts);

/** The largest processed order timestamp in *ts; false when none. */
bool nd_cart_last_order(nd_entry_t *e, const nd_cart_t *cart, int64_t *ts);

/**
 * Applies ev to the cart (events that are no cart events are ignored).
 * Returns the nd_cart_result_t (>= 0), or a negative nd_err_t when the
 * blob cannot grow (the cart may then be partly updated, never corrupt).
 */
int nd_cart_apply(nd_ctx_t *ctx, nd_entry_t *e, nd_cart_t *cart, uint32_t *used,
                  const nd_event_t *ev);

/** Removes the cart (lines, strings, flags) from the blob and *cart; keeps
 * the last order's timestamp. */
void nd_cart_clear(nd_ctx_t *ctx, nd_entry_t *e, nd_cart_t *cart,
                   uint32_t *used);

static inline bool nd_cart_is_empty(const nd_cart_t *cart) {
        return cart->line_cnt == 0;
}

/* The cart's strings, pointing into e's blob (valid until the next blob
 * change of e); null when unset. */
nd_str_t nd_cart_id(nd_entry_t *e, const nd_cart_t *cart);
nd_str_t nd_cart_event_id(nd_entry_t *e, const nd_cart_t *cart);
nd_str_t nd_cart_device_id(nd_entry_t *e, const nd_cart_t *cart);
nd_str_t nd_cart_currency(nd_entry_t *e, const nd_cart_t *cart);

/**
 * Fills items[0..ND_CART_MAX_LINES) with the cart's lines in the order they
 * entered the cart (strings point into the blob) and returns their count.
 * *value is the sum of quantity * unit price over lines with a price
 * (saturating), *has_value whether any line has one.
 */
uint32_t nd_cart_items(nd_entry_t *e, const nd_cart_t *cart,
                       nd_line_item_t *items, int64_t *value, bool *has_value);

#endif
