/*
 * serde_encode.c — nd_action_t, nd_event_t and nd_product_rec_t to
 * Confluent-framed Avro.
 *
 * Written out by hand in the field order of schemas/action.avsc and of the
 * reader schemas, like the specialised decoders and for the same reason
 * (avro-c's generic writer costs ~0.8 µs per action, docs/benchmarks.md):
 * a bounded writer into the caller's buffer that keeps counting past its
 * end, so a short buffer says how much is needed; no allocation. Enums are
 * written as their C value, which is the symbol's index because the
 * schemas list symbols in the C enums' order (for TriggerType, nd_serde_new
 * checks it, serde_names.c). What the encoders refuse is what the decoder
 * would refuse (the contract checks of nd__serde_check_event).
 */
#include <string.h>

#include "serde_int.h"

/* ------------------------------------------------------------------ */
/* Encoding actions                                                    */

/* A bounded writer that keeps counting past cap (for *lenp): once
 * something does not fit, nothing more is written, only counted. WHY
 * always_inline: with the event and catalog encoders as further callers,
 * gcc stopped inlining these and the action encoder got 30% slower. */
#define W_INLINE static inline __attribute__((always_inline))
struct wbuf {
        uint8_t *p, *end;
        size_t over;
};

W_INLINE void w_bytes(struct wbuf *w, const void *src, size_t n) {
        if ((size_t)(w->end - w->p) >= n) {
                memcpy(w->p, src, n);
                w->p += n;
        } else {
                w->end = w->p;
                w->over += n;
        }
}

W_INLINE void w_long(struct wbuf *w, int64_t v) {
        uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
        if (w->end - w->p >= 10) {
                while (u >= 0x80) {
                        *w->p++ = (uint8_t)(u | 0x80);
                        u >>= 7;
                }
                *w->p++ = (uint8_t)u;
        } else {
                uint8_t tmp[10];
                size_t n = 0;
                while (u >= 0x80) {
                        tmp[n++] = (uint8_t)(u | 0x80);
                        u >>= 7;
                }
                tmp[n++] = (uint8_t)u;
                w_bytes(w, tmp, n);
        }
}

/* A one-byte varint (0..63), the union indexes and enum symbols. */
W_INLINE void w_small(struct wbuf *w, unsigned v) {
        uint8_t b = (uint8_t)(v << 1);
        w_bytes(w, &b, 1);
}

W_INLINE void w_str(struct wbuf *w, nd_str_t s) {
        w_long(w, s.len);
        if (s.len)
                w_bytes(w, s.p, s.len);
}

/* ["null","string"]: empty means null. */
W_INLINE void w_nstr(struct wbuf *w, nd_str_t s) {
        if (nd_str_is_null(s)) {
                w_small(w, 0);
        } else {
                w_small(w, 1);
                w_str(w, s);
        }
}

W_INLINE void w_nlong(struct wbuf *w, bool has, int64_t v) {
        w_small(w, has);
        if (has)
                w_long(w, v);
}

static inline void w_strs(struct wbuf *w, const nd_str_t *strs, uint32_t n) {
        if (n) {
                w_long(w, n);
                for (uint32_t i = 0; i < n; i++)
                        w_str(w, strs[i]);
        }
        w_small(w, 0);
}

nd_err_t nd_serde_encode_action(nd_serde_t *serde, const nd_action_t *act,
                                void *buf, size_t cap, size_t *lenp) {
        struct wbuf w = {buf, (uint8_t *)buf + cap, 0};
        uint8_t hdr[5];
        uint32_t id = (uint32_t)serde->conf.id_action;

        *lenp = 0;
        if (nd_str_is_null(act->action_id) ||
            nd_str_is_null(act->trigger_name) ||
            (unsigned)act->trigger >= ND_TRIGGER__CNT ||
            (unsigned)act->channel >= ND_CHANNEL__CNT ||
            (act->has_from_channel &&
             (unsigned)act->from_channel >= ND_CHANNEL__CNT) ||
            (act->item_cnt && !act->items) ||
            (act->recommended_cnt && !act->recommended_skus) ||
            (act->source_event_cnt && !act->source_event_ids))
                return ND_ERR_INVAL;
        hdr[0] = 0;
        hdr[1] = (uint8_t)(id >> 24);
        hdr[2] = (uint8_t)(id >> 16);
        hdr[3] = (uint8_t)(id >> 8);
        hdr[4] = (uint8_t)id;
        w_bytes(&w, hdr, sizeof(hdr));
        /* The field order of schemas/action.avsc. */
        w_str(&w, act->action_id);
        w_small(&w, act->trigger);
        w_str(&w, act->trigger_name);
        w_nstr(&w, act->customer_id);
        w_nstr(&w, act->anonymous_id);
        w_small(&w, act->channel);
        w_nstr(&w, act->device_id);
        w_long(&w, act->stage);
        w_long(&w, act->created_at);
        w_long(&w, act->emitted_at);
        w_nlong(&w, act->has_expires_at, act->expires_at);
        w_nstr(&w, act->cart_id);
        w_nstr(&w, act->order_id);
        if (act->item_cnt) {
                w_long(&w, act->item_cnt);
                for (uint32_t i = 0; i < act->item_cnt; i++) {
                        const nd_line_item_t *it = &act->items[i];
                        w_str(&w, it->sku);
                        w_long(&w, it->quantity);
                        w_nlong(&w, it->has_price, it->price_cents);
                        w_nstr(&w, it->category);
                }
        }
        w_small(&w, 0);
        w_nlong(&w, act->has_value, act->value_cents);
        w_nstr(&w, act->currency);
        w_strs(&w, act->recommended_skus, act->recommended_cnt);
        w_small(&w, act->has_from_channel);
        if (act->has_from_channel)
                w_small(&w, act->from_channel);
        w_nstr(&w, act->from_device_id);
        w_strs(&w, act->source_event_ids, act->source_event_cnt);
        w_nlong(&w, act->has_gap, act->gap_ms);
        *lenp = (size_t)(w.p - (uint8_t *)buf) + w.over;
        return w.over == 0 ? ND_OK : ND_ERR_INVAL;
}

/* ------------------------------------------------------------------ */
/* Encoding events and catalog records                                 */

static bool fits_int(int64_t v) {
        return v >= INT32_MIN && v <= INT32_MAX;
}

/* What the encoders refuse beyond the contract checks. */
static bool event_encodable(const nd_event_t *ev) {
        bool lines = ev->has_products || ev->product_cnt;
        if ((unsigned)ev->type >= ND_EV__CNT ||
            (unsigned)ev->channel >= ND_CHANNEL__CNT ||
            (unsigned)ev->device_type >= ND_DEVICE__CNT ||
            ev->product_cnt > ND_EVENT_MAX_ITEMS ||
            (ev->product_cnt && !ev->products))
                return false;
        if (nd_event_type_topic_of(ev->type) == ND_TOPIC_CART &&
            ev->has_quantity && !fits_int(ev->quantity))
                return false;
        for (uint32_t i = 0; lines && i < ev->product_cnt; i++)
                if (!fits_int(ev->products[i].quantity))
                        return false;
        return nd__serde_check_event(ev, NULL, 0) == ND_OK;
}

static void w_product(struct wbuf *w, const nd_event_t *ev) {
        w_small(w, ev->has_product);
        if (!ev->has_product)
                return;
        w_str(w, ev->product.sku);
        w_nstr(w, ev->product.category);
        w_nlong(w, ev->product.has_price, ev->product.price_cents);
        w_nstr(w, ev->product.currency);
}

/* ["null", array of LineItem]: the list when has_products. */
static void w_lines(struct wbuf *w, const nd_event_t *ev) {
        if (!ev->has_products && !ev->product_cnt) {
                w_small(w, 0);
                return;
        }
        w_small(w, 1);
        if (ev->product_cnt) {
                w_long(w, ev->product_cnt);
                for (uint32_t i = 0; i < ev->product_cnt; i++) {
                        const nd_line_item_t *it = &ev->products[i];
                        w_str(w, it->sku);
                        w_nstr(w, it->category);
                        w_long(w, it->quantity);
                        w_nlong(w, it->has_price, it->price_cents);
                }
        }
        w_small(w, 0);
}

/* The body in the field order of the topic's .avsc. */
static void w_event(struct wbuf *w, const nd_event_t *ev) {
        static const nd_event_type_t first[ND_TOPIC__CNT] = {
            [ND_TOPIC_CLICKSTREAM] = ND_EV_PAGE_VIEWED,
            [ND_TOPIC_CART] = ND_EV_PRODUCT_ADDED,
            [ND_TOPIC_PURCHASE] = ND_EV_ORDER_COMPLETED};
        nd_event_topic_t topic = nd_event_type_topic_of(ev->type);

        w_str(w, ev->event_id);
        w_small(w, (unsigned)(ev->type - first[topic]));
        w_nstr(w, ev->customer_id);
        w_nstr(w, ev->anonymous_id);
        w_long(w, ev->timestamp);
        w_small(w, ev->channel);
        w_nstr(w, ev->device_id);
        w_small(w, ev->device_type);
        w_nstr(w, ev->session_id);
        switch (topic) {
        case ND_TOPIC_CLICKSTREAM:
                w_product(w, ev);
                w_nstr(w, ev->campaign_id);
                w_nstr(w, ev->action_id);
                break;
        case ND_TOPIC_CART:
                w_nstr(w, ev->cart_id);
                w_product(w, ev);
                w_nlong(w, ev->has_quantity, ev->quantity);
                w_lines(w, ev);
                w_nstr(w, ev->checkout_id);
                break;
        default: /* ND_TOPIC_PURCHASE */
                w_str(w, ev->order_id);
                w_nlong(w, ev->has_value, ev->value_cents);
                w_nstr(w, ev->currency);
                w_nstr(w, ev->cart_id);
                w_nstr(w, ev->checkout_id);
                w_lines(w, ev);
                break;
        }
}

static void w_frame(struct wbuf *w, int32_t id) {
        uint8_t hdr[5];
        hdr[0] = 0;
        hdr[1] = (uint8_t)((uint32_t)id >> 24);
        hdr[2] = (uint8_t)((uint32_t)id >> 16);
        hdr[3] = (uint8_t)((uint32_t)id >> 8);
        hdr[4] = (uint8_t)id;
        w_bytes(w, hdr, sizeof(hdr));
}

static nd_err_t w_done(struct wbuf *w, const void *buf, size_t *lenp) {
        *lenp = (size_t)(w->p - (const uint8_t *)buf) + w->over;
        return w->over == 0 ? ND_OK : ND_ERR_INVAL;
}

nd_err_t nd_serde_encode_event_body(const nd_event_t *ev, void *buf, size_t cap,
                                    size_t *lenp) {
        struct wbuf w = {buf, (uint8_t *)buf + cap, 0};
        *lenp = 0;
        if (!event_encodable(ev))
                return ND_ERR_INVAL;
        w_event(&w, ev);
        return w_done(&w, buf, lenp);
}

nd_err_t nd_serde_encode_event(nd_serde_t *serde, const nd_event_t *ev,
                               void *buf, size_t cap, size_t *lenp) {
        struct wbuf w = {buf, (uint8_t *)buf + cap, 0};
        const int32_t ids[ND_TOPIC__CNT] = {
            [ND_TOPIC_CLICKSTREAM] = serde->conf.id_clickstream,
            [ND_TOPIC_CART] = serde->conf.id_cart,
            [ND_TOPIC_PURCHASE] = serde->conf.id_purchase};
        *lenp = 0;
        if (!event_encodable(ev))
                return ND_ERR_INVAL;
        w_frame(&w, ids[nd_event_type_topic_of(ev->type)]);
        w_event(&w, ev);
        return w_done(&w, buf, lenp);
}

nd_err_t nd_serde_encode_product(nd_serde_t *serde,
                                 const nd_product_rec_t *prod, void *buf,
                                 size_t cap, size_t *lenp) {
        struct wbuf w = {buf, (uint8_t *)buf + cap, 0};
        uint8_t b;
        *lenp = 0;
        if (nd_str_is_null(prod->sku) ||
            prod->complement_cnt > ND_PRODUCT_MAX_COMPLEMENTS ||
            (prod->complement_cnt && !prod->complements))
                return ND_ERR_INVAL;
        w_frame(&w, serde->conf.id_catalog);
        w_str(&w, prod->sku);
        w_nstr(&w, prod->name);
        w_nstr(&w, prod->category);
        w_nlong(&w, prod->has_price, prod->price_cents);
        w_nstr(&w, prod->currency);
        b = prod->in_stock ? 1 : 0;
        w_bytes(&w, &b, 1);
        w_strs(&w, prod->complements, prod->complement_cnt);
        return w_done(&w, buf, lenp);
}
