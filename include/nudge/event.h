/*
 * nudge — the input event as processors see it (TRIGGERS.md §1).
 *
 * The runtime decodes every input record (Avro in the Confluent wire format,
 * or JSON) into one flat nd_event_t and hands it to processors through
 * nd_rec_t.ev. The struct is flat on purpose: no tree, no per-event
 * allocation. Strings are nd_str_t slices that point into the message buffer
 * (Avro) or into the decoder's scratch (JSON); lists point into arrays owned
 * by the decoder and reused for the next record. So an event, its strings
 * and its lists are BORROWED: valid until process() returns (precisely: until
 * the next decode on the same worker thread). A processor that keeps a value
 * copies it.
 *
 * Nulls: a null or empty string is { NULL, 0 } or { p, 0 }: test with
 * nd_str_is_null(), never p alone (TRIGGERS.md §5: empty-string ids count as
 * null). Nullable numbers carry a has_ flag.
 *
 * Thread safety: plain data; the name functions are pure and thread-safe.
 */
#ifndef ND_EVENT_H
#define ND_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** A string slice, NOT NUL-terminated. len 0 means null or empty. */
typedef struct nd_str_s {
        const char *p;
        uint32_t len;
} nd_str_t;

#define ND_STR_NULL ((nd_str_t){NULL, 0})

static inline bool nd_str_is_null(nd_str_t s) {
        return s.len == 0;
}

/** true when a and b hold the same bytes (two nulls are equal). */
static inline bool nd_str_eq(nd_str_t a, nd_str_t b) {
        return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/**
 * Byte order of a and b, a prefix first (null, the empty string, first of
 * all): < 0, 0 or > 0 like memcmp. The order in which instances of one
 * trigger due at the same time fire (TRIGGERS.md §5).
 */
static inline int nd_str_cmp(nd_str_t a, nd_str_t b) {
        uint32_t n = a.len < b.len ? a.len : b.len;
        int c = n ? memcmp(a.p, b.p, n) : 0;
        if (c)
                return c;
        return a.len < b.len ? -1 : a.len > b.len;
}

/** Event types, in the order of TRIGGERS.md §1. */
typedef enum {
        ND_EV_PAGE_VIEWED = 0,
        ND_EV_PRODUCT_VIEWED,
        ND_EV_PRODUCTS_SEARCHED,
        ND_EV_APP_OPENED,
        ND_EV_MESSAGE_CLICKED,
        ND_EV_PRODUCT_ADDED,
        ND_EV_PRODUCT_REMOVED,
        ND_EV_CART_VIEWED,
        ND_EV_CHECKOUT_STARTED,
        ND_EV_ORDER_COMPLETED,
        ND_EV_ORDER_REFUNDED,
        ND_EV_ORDER_CANCELLED,
        ND_EV__CNT
} nd_event_type_t;

/**
 * The co-partitioned event topics (TRIGGERS.md §1), in this order wherever
 * something is kept per topic: topic names, merge queues, metrics. Loops and
 * arrays use ND_TOPIC__CNT, never a bare 3.
 */
typedef enum {
        ND_TOPIC_CLICKSTREAM = 0,
        ND_TOPIC_CART,
        ND_TOPIC_PURCHASE,
        ND_TOPIC__CNT
} nd_event_topic_t;

/** The topic an event type arrives on (TRIGGERS.md §1); type < ND_EV__CNT. */
static inline nd_event_topic_t nd_event_type_topic_of(nd_event_type_t type) {
        return type <= ND_EV_MESSAGE_CLICKED    ? ND_TOPIC_CLICKSTREAM
               : type <= ND_EV_CHECKOUT_STARTED ? ND_TOPIC_CART
                                                : ND_TOPIC_PURCHASE;
}

typedef enum {
        ND_CHANNEL_WEB = 0,
        ND_CHANNEL_APP,
        ND_CHANNEL_EMAIL,
        ND_CHANNEL_SMS,
        ND_CHANNEL_PUSH,
        ND_CHANNEL_WHATSAPP,
        ND_CHANNEL_STORE,
        ND_CHANNEL_OTHER,
        ND_CHANNEL__CNT
} nd_channel_t;

typedef enum {
        ND_DEVICE_DESKTOP = 0,
        ND_DEVICE_MOBILE,
        ND_DEVICE_TABLET,
        ND_DEVICE_TV,
        ND_DEVICE_KIOSK,
        ND_DEVICE_UNKNOWN,
        ND_DEVICE__CNT
} nd_device_type_t;

/** The product an event is about (product_viewed/added/removed). */
typedef struct nd_product_s {
        nd_str_t sku;
        nd_str_t category;
        int64_t price_cents; /* unit price, minor units; 0 unless has_price */
        bool has_price;
        nd_str_t currency;
} nd_product_t;

/** One line of a cart snapshot or an order (also an action's items). */
typedef struct nd_line_item_s {
        nd_str_t sku;
        nd_str_t category;
        int64_t quantity;    /* 1 when the writer left it out */
        int64_t price_cents; /* 0 unless has_price */
        bool has_price;
} nd_line_item_t;

/** Most lines one event may carry; more is a BAD_LENGTH record error. */
#define ND_EVENT_MAX_ITEMS 256

typedef struct nd_event_s {
        nd_event_type_t type;
        nd_str_t event_id; /* never empty in a decoded event */
        nd_str_t customer_id;
        nd_str_t anonymous_id;
        int64_t timestamp; /* event time, ms since epoch, UTC */
        nd_channel_t channel;
        nd_str_t device_id;
        nd_device_type_t device_type;
        nd_str_t session_id;

        /* The customer key (TRIGGERS.md §1): customer_id when not empty,
         * else anonymous_id. Never empty in a decoded event. */
        nd_str_t key;
        bool key_is_customer; /* key came from customer_id */

        /* product events */
        bool has_product;
        nd_product_t product;

        /* cart events */
        nd_str_t cart_id; /* null: the open cart */
        int64_t quantity; /* 1 when !has_quantity (null means 1) */
        bool has_quantity;

        /* cart_viewed, checkout_started, order events. has_products false:
         * the field was absent or null (no snapshot); true with
         * product_cnt 0: the list [] (an empty cart). */
        bool has_products;
        uint32_t product_cnt;
        const nd_line_item_t *products;

        /* order events */
        nd_str_t order_id;
        int64_t value_cents; /* 0 unless has_value */
        bool has_value;
        nd_str_t currency;
        nd_str_t checkout_id;

        /* message_clicked */
        nd_str_t campaign_id;
        nd_str_t action_id;
} nd_event_t;

/** Most complements one catalog record may carry. */
#define ND_PRODUCT_MAX_COMPLEMENTS 256

/** A record of the compacted catalog topic (key = sku). Borrowed as above. */
typedef struct nd_product_rec_s {
        nd_str_t sku;
        nd_str_t name;
        nd_str_t category;
        int64_t price_cents;
        bool has_price;
        nd_str_t currency;
        bool in_stock; /* true when the writer left it out */
        uint32_t complement_cnt;
        const nd_str_t *complements;
} nd_product_rec_t;

/** "page_viewed"...; "?" for a value out of range. */
const char *nd_event_type_name(nd_event_type_t type);
const char *nd_channel_name(nd_channel_t channel);
const char *nd_device_type_name(nd_device_type_t device_type);

/** Parse a name (len bytes, no NUL needed); -1 when unknown. */
int nd_event_type_parse(const char *name, size_t len);
int nd_channel_parse(const char *name, size_t len);
int nd_device_type_parse(const char *name, size_t len);

/** The topic an event type arrives on: "clickstream", "cart", "purchase". */
const char *nd_event_type_topic(nd_event_type_t type);

#endif
