/*
 * cart.c — the cart model (see cart.h for the rules and the layout).
 *
 * OVERALL DESIGN: the cart's strings and lines are packed at the start of
 * the entry's blob; every change is one or a few nd_blob_splice() calls, so
 * a cart update allocates nothing beyond the blob's own (amortised) growth,
 * and the processor's records after the cart move along untouched. Lines
 * keep the order in which their skus entered the cart (a snapshot sets the
 * order of its list); that is the order of an action's items. Finding a sku
 * is a linear scan: carts are small, and a scan over packed bytes beats a
 * pointer structure that could not live in the changelog anyway.
 */
#include "cart.h"

#include "blob.h"

#define LINE_HDR    24
#define L_QTY       0
#define L_PRICE     8
#define L_SKU_LEN   16
#define L_CAT_LEN   18
#define L_HAS_PRICE 20

enum { S_CART_ID = 0, S_EVENT_ID, S_DEVICE_ID, S_CURRENCY, S__CNT };

static uint16_t *str_len_field(nd_cart_t *cart, int which) {
        switch (which) {
        case S_CART_ID:
                return &cart->cart_id_len;
        case S_EVENT_ID:
                return &cart->event_id_len;
        case S_DEVICE_ID:
                return &cart->device_id_len;
        default:
                return &cart->currency_len;
        }
}

/* Bytes before the cart's strings: the last order's timestamp, when set. */
static uint32_t base_off(const nd_cart_t *cart) {
        return (cart->flags & ND_CART_F_ORDERED) ? 8 : 0;
}

static uint32_t str_off(const nd_cart_t *cart, int which) {
        uint32_t off = base_off(cart);
        if (which > S_CART_ID)
                off += cart->cart_id_len;
        if (which > S_EVENT_ID)
                off += cart->event_id_len;
        if (which > S_DEVICE_ID)
                off += cart->device_id_len;
        if (which > S_CURRENCY)
                off += cart->currency_len;
        return off;
}

static uint32_t lines_off(const nd_cart_t *cart) {
        return str_off(cart, S__CNT);
}

static nd_str_t get_str(nd_entry_t *e, const nd_cart_t *cart, int which) {
        uint16_t len = *str_len_field((nd_cart_t *)cart, which);
        if (!len)
                return ND_STR_NULL;
        return (nd_str_t){(const char *)nd_blob_bytes(e) + str_off(cart, which),
                          len};
}

static nd_err_t set_str(nd_ctx_t *ctx, nd_entry_t *e, nd_cart_t *cart,
                        uint32_t *used, int which, nd_str_t s) {
        uint16_t *lenp = str_len_field(cart, which);
        nd_err_t err;
        s = nd_blob_clamp(s);
        if (s.len == *lenp &&
            (s.len == 0 ||
             !memcmp(nd_blob_bytes(e) + str_off(cart, which), s.p, s.len)))
                return ND_OK;
        err = nd_blob_splice(ctx, e, used, str_off(cart, which), *lenp, s.p,
                             s.len);
        if (err)
                return err;
        cart->len = cart->len - *lenp + s.len;
        *lenp = (uint16_t)s.len;
        return ND_OK;
}

nd_str_t nd_cart_id(nd_entry_t *e, const nd_cart_t *cart) {
        return get_str(e, cart, S_CART_ID);
}

nd_str_t nd_cart_event_id(nd_entry_t *e, const nd_cart_t *cart) {
        return get_str(e, cart, S_EVENT_ID);
}

nd_str_t nd_cart_device_id(nd_entry_t *e, const nd_cart_t *cart) {
        return get_str(e, cart, S_DEVICE_ID);
}

nd_str_t nd_cart_currency(nd_entry_t *e, const nd_cart_t *cart) {
        return get_str(e, cart, S_CURRENCY);
}

bool nd_cart_is_cart_event(const nd_event_t *ev) {
        return ev->type == ND_EV_PRODUCT_ADDED ||
               ev->type == ND_EV_PRODUCT_REMOVED ||
               ev->type == ND_EV_CART_VIEWED ||
               ev->type == ND_EV_CHECKOUT_STARTED;
}

bool nd_cart_is_mutation(const nd_event_t *ev) {
        return ev->type == ND_EV_PRODUCT_ADDED ||
               ev->type == ND_EV_PRODUCT_REMOVED ||
               ev->type == ND_EV_CHECKOUT_STARTED ||
               (ev->type == ND_EV_CART_VIEWED && ev->has_products);
}

bool nd_cart_opens(const nd_event_t *ev) {
        return nd_cart_is_mutation(ev) ||
               (nd_cart_is_cart_event(ev) && !nd_str_is_null(ev->cart_id));
}

nd_entry_t *nd_cart_entry(nd_ctx_t *ctx, const nd_event_t *ev) {
        /* Entries exist only for customers with an open cart or a
         * processed order; an event that opens no cart and is no order
         * needs none. Every event of a customer who has one touches it
         * (nd_ctx_get does): state.ttl counts from the customer's last
         * event. One lookup when the entry exists, the common case. */
        nd_entry_t *e = nd_ctx_get(ctx, ev->key);
        if (e || (!nd_cart_opens(ev) && ev->type != ND_EV_ORDER_COMPLETED))
                return e;
        return nd_ctx_upsert(ctx, ev->key, NULL);
}

bool nd_cart_last_order(nd_entry_t *e, const nd_cart_t *cart, int64_t *ts) {
        if (!(cart->flags & ND_CART_F_ORDERED))
                return false;
        *ts = nd_blob_get_i64(nd_blob_bytes(e));
        return true;
}

nd_err_t nd_cart_order(nd_ctx_t *ctx, nd_entry_t *e, nd_cart_t *cart,
                       uint32_t *used, int64_t ts) {
        int64_t old;
        if (!nd_cart_last_order(e, cart, &old)) {
                nd_err_t err = nd_blob_splice(ctx, e, used, 0, 0, NULL, 8);
                if (err)
                        return err;
                cart->flags |= ND_CART_F_ORDERED;
                cart->len += 8;
                old = ts;
        }
        nd_blob_put_i64(nd_blob_bytes(e), ts > old ? ts : old);
        nd_cart_clear(ctx, e, cart, used);
        return ND_OK;
}

/* The line of sku: its offset and length; false when absent. */
static bool find_line(nd_entry_t *e, const nd_cart_t *cart, nd_str_t sku,
                      uint32_t *off, uint32_t *len) {
        const uint8_t *b = nd_blob_bytes(e);
        uint32_t o = lines_off(cart);
        sku = nd_blob_clamp(sku);
        for (uint16_t i = 0; i < cart->line_cnt; i++) {
                uint16_t sl = nd_blob_get_u16(b + o + L_SKU_LEN);
                uint16_t cl = nd_blob_get_u16(b + o + L_CAT_LEN);
                if (sl == sku.len && !memcmp(b + o + LINE_HDR, sku.p, sl)) {
                        *off = o;
                        *len = LINE_HDR + sl + cl;
                        return true;
                }
                o += LINE_HDR + sl + cl;
        }
        return false;
}

/* Packs a line into buf (LINE_HDR + 2 * ND_BLOB_STR_MAX bytes). */
static uint32_t pack_line(uint8_t *buf, nd_str_t sku, nd_str_t cat, int64_t qty,
                          int64_t price, bool has_price) {
        sku = nd_blob_clamp(sku);
        cat = nd_blob_clamp(cat);
        memset(buf, 0, LINE_HDR);
        nd_blob_put_i64(buf + L_QTY, qty);
        nd_blob_put_i64(buf + L_PRICE, has_price ? price : 0);
        nd_blob_put_u16(buf + L_SKU_LEN, (uint16_t)sku.len);
        nd_blob_put_u16(buf + L_CAT_LEN, (uint16_t)cat.len);
        buf[L_HAS_PRICE] = has_price;
        if (sku.len)
                memcpy(buf + LINE_HDR, sku.p, sku.len);
        if (cat.len)
                memcpy(buf + LINE_HDR + sku.len, cat.p, cat.len);
        return LINE_HDR + sku.len + cat.len;
}

static nd_err_t splice_lines(nd_ctx_t *ctx, nd_entry_t *e, nd_cart_t *cart,
                             uint32_t *used, uint32_t off, uint32_t old_len,
                             const void *src, uint32_t new_len) {
        nd_err_t err = nd_blob_splice(ctx, e, used, off, old_len, src, new_len);
        if (!err)
                cart->len = cart->len - old_len + new_len;
        return err;
}

/* Adds qty (may be negative) of sku; a line at 0 or below leaves. */
static nd_err_t add_line(nd_ctx_t *ctx, nd_entry_t *e, nd_cart_t *cart,
                         uint32_t *used, nd_str_t sku, nd_str_t cat,
                         int64_t qty, int64_t price, bool has_price) {
        uint8_t buf[LINE_HDR + 2 * ND_BLOB_STR_MAX];
        uint32_t off, len, n;
        nd_err_t err;

        if (find_line(e, cart, sku, &off, &len)) {
                uint8_t *b = nd_blob_bytes(e) + off;
                int64_t q = nd_blob_get_i64(b + L_QTY), nq;
                nd_str_t old_cat;
                if (__builtin_add_overflow(q, qty, &nq))
                        nq = qty > 0 ? INT64_MAX : INT64_MIN;
                if (nq <= 0) {
                        err =
                            splice_lines(ctx, e, cart, used, off, len, NULL, 0);
                        if (!err)
                                cart->line_cnt--;
                        return err;
                }
                nd_blob_put_i64(b + L_QTY, nq);
                if (has_price) {
                        nd_blob_put_i64(b + L_PRICE, price);
                        b[L_HAS_PRICE] = 1;
                }
                old_cat.len = nd_blob_get_u16(b + L_CAT_LEN);
                old_cat.p =
                    (const char *)b + LINE_HDR + nd_blob_get_u16(b + L_SKU_LEN);
                if (nd_str_is_null(cat) ||
                    nd_str_eq(nd_blob_clamp(cat), old_cat))
                        return ND_OK;
                /* A new category: repack the line (rare). */
                n = pack_line(buf, sku, cat, nq, nd_blob_get_i64(b + L_PRICE),
                              b[L_HAS_PRICE]);
                return splice_lines(ctx, e, cart, used, off, len, buf, n);
        }
        if (qty <= 0 || cart->line_cnt >= ND_CART_MAX_LINES)
                return ND_OK;
        n = pack_line(buf, sku, cat, qty, price, has_price);
        err = splice_lines(ctx, e, cart, used, cart->len, 0, buf, n);
        if (!err)
                cart->line_cnt++;
        return err;
}

static nd_err_t drop_lines(nd_ctx_t *ctx, nd_entry_t *e, nd_cart_t *cart,
                           uint32_t *used) {
        uint32_t off = lines_off(cart);
        nd_err_t err =
            splice_lines(ctx, e, cart, used, off, cart->len - off, NULL, 0);
        if (!err)
                cart->line_cnt = 0;
        return err;
}

void nd_cart_clear(nd_ctx_t *ctx, nd_entry_t *e, nd_cart_t *cart,
                   uint32_t *used) {
        uint32_t base = base_off(cart);
        uint8_t keep = cart->flags & ND_CART_F_ORDERED;
        /* Shrinking never fails (blob.h). */
        (void)nd_blob_splice(ctx, e, used, base, cart->len - base, NULL, 0);
        memset(cart, 0, sizeof(*cart));
        cart->flags = keep;
        cart->len = base;
}

int nd_cart_apply(nd_ctx_t *ctx, nd_entry_t *e, nd_cart_t *cart, uint32_t *used,
                  const nd_event_t *ev) {
        bool switched = false;
        nd_err_t err = ND_OK;

        int64_t order_ts;

        if (!nd_cart_is_cart_event(ev))
                return ND_CART_NONE;
        if (nd_cart_is_mutation(ev) && nd_cart_last_order(e, cart, &order_ts) &&
            ev->timestamp <= order_ts)
                return ND_CART_STALE; /* nothing from before the last order */
        if (!(cart->flags & ND_CART_F_OPEN)) {
                if ((err = set_str(ctx, e, cart, used, S_CART_ID, ev->cart_id)))
                        return err;
                cart->flags |= ND_CART_F_OPEN;
                cart->opened_ts = ev->timestamp;
        } else if (!nd_str_is_null(ev->cart_id) &&
                   !nd_str_eq(nd_blob_clamp(ev->cart_id),
                              nd_cart_id(e, cart))) {
                if ((err = drop_lines(ctx, e, cart, used)) ||
                    (err = set_str(ctx, e, cart, used, S_CART_ID, ev->cart_id)))
                        return err;
                cart->flags &= (uint8_t)~ND_CART_F_CHECKOUT;
                cart->opened_ts = ev->timestamp;
                switched = true;
        }
        if (!nd_cart_is_mutation(ev))
                return switched ? ND_CART_SWITCHED : ND_CART_NONE;

        switch (ev->type) {
        case ND_EV_PRODUCT_ADDED:
        case ND_EV_PRODUCT_REMOVED: {
                int64_t q = ev->has_quantity ? ev->quantity : 1;
                if (ev->type == ND_EV_PRODUCT_REMOVED)
                        q = q == INT64_MIN ? INT64_MAX : -q;
                if (ev->has_product)
                        err = add_line(ctx, e, cart, used, ev->product.sku,
                                       ev->product.category, q,
                                       ev->product.price_cents,
                                       ev->product.has_price);
                if (!err && ev->has_product &&
                    !nd_str_is_null(ev->product.currency))
                        err = set_str(ctx, e, cart, used, S_CURRENCY,
                                      ev->product.currency);
                break;
        }
        default: /* cart_viewed with products, checkout_started */
                if (ev->has_products) {
                        err = drop_lines(ctx, e, cart, used);
                        for (uint32_t i = 0; !err && i < ev->product_cnt; i++) {
                                const nd_line_item_t *li = &ev->products[i];
                                if (li->quantity <= 0)
                                        continue;
                                err = add_line(ctx, e, cart, used, li->sku,
                                               li->category, li->quantity,
                                               li->price_cents, li->has_price);
                        }
                }
                if (!err && !nd_str_is_null(ev->currency))
                        err = set_str(ctx, e, cart, used, S_CURRENCY,
                                      ev->currency);
                if (ev->type == ND_EV_CHECKOUT_STARTED)
                        cart->flags |= ND_CART_F_CHECKOUT;
                break;
        }
        if (!err)
                err = set_str(ctx, e, cart, used, S_EVENT_ID, ev->event_id);
        if (!err)
                err = set_str(ctx, e, cart, used, S_DEVICE_ID, ev->device_id);
        if (err)
                return err;
        cart->mut_ts = ev->timestamp;
        cart->mut_channel = (uint8_t)ev->channel;
        cart->flags |= ND_CART_F_MUTATED;
        if (ev->key_is_customer)
                cart->flags |= ND_CART_F_CUSTOMER;
        else
                cart->flags &= (uint8_t)~ND_CART_F_CUSTOMER;
        return ND_CART_MUTATED;
}

uint32_t nd_cart_items(nd_entry_t *e, const nd_cart_t *cart,
                       nd_line_item_t *items, int64_t *value, bool *has_value) {
        const uint8_t *b = nd_blob_bytes(e);
        uint32_t o = lines_off(cart);
        *value = 0;
        *has_value = false;
        for (uint16_t i = 0; i < cart->line_cnt; i++) {
                nd_line_item_t *it = &items[i];
                uint16_t sl = nd_blob_get_u16(b + o + L_SKU_LEN);
                uint16_t cl = nd_blob_get_u16(b + o + L_CAT_LEN);
                int64_t line;
                it->quantity = nd_blob_get_i64(b + o + L_QTY);
                it->price_cents = nd_blob_get_i64(b + o + L_PRICE);
                it->has_price = b[o + L_HAS_PRICE] != 0;
                it->sku = (nd_str_t){(const char *)b + o + LINE_HDR, sl};
                it->category =
                    cl ? (nd_str_t){(const char *)b + o + LINE_HDR + sl, cl}
                       : ND_STR_NULL;
                if (it->has_price) {
                        *has_value = true;
                        if (__builtin_mul_overflow(it->quantity,
                                                   it->price_cents, &line) ||
                            __builtin_add_overflow(*value, line, value))
                                *value = INT64_MAX;
                }
                o += LINE_HDR + sl + cl;
        }
        return cart->line_cnt;
}
