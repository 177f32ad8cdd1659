/*
 * post_purchase_upsell — recommends complements of what a customer bought,
 * `delay` after the order (TRIGGERS.md §3, §5; docs/triggers.md).
 * OVERALL DESIGN
 *
 * One entry per customer with at least one pending order; the entry is
 * deleted when none is left. The pending orders are packed records in the
 * blob, in the order they were armed:
 *
 *     [due i64][len u32][order_id, cart_id, event_id, device_id lengths
 *      u16 x4][rec_cnt u16][channel u8][customer u8]
 *     [order_id][cart_id][event_id][device_id][rec: len u16, sku]...
 *
 * The entry's single timer is armed at the earliest due time; on firing,
 * every pending order due then is handled in byte order of its order_id
 * (TRIGGERS.md §5), and the timer is re-armed at the next one, which keeps
 * the global (D, key, trigger name) order. Recommendations are computed on
 * order_completed from the catalog (complements of each ordered sku in catalog
 * order, no duplicates, none of the order's skus, only skus in the catalog and
 * in stock) and kept up to KEEP_RECS, untruncated, so that a later order can
 * remove skus before the truncation to max_items at firing. At firing the list
 * is checked against the catalog once more (a sku gone or out of stock since
 * the order is dropped; our choice, docs/triggers.md).
 */
#include <stdio.h>

#include "nudge/processor.h"

#include "act.h"
#include "blob.h"

#define KEEP_RECS 32
#define MAX_ITEMS 32

#define P_DUE      0
#define P_LEN      8
#define P_SLEN     12 /* 4 x u16: order_id, cart_id, event_id, device_id */
#define P_RECS     20
#define P_CHANNEL  22
#define P_CUSTOMER 23
#define P_HDR      24
#define P_STRS     (4 * ND_BLOB_STR_MAX)
#define P_MAX      (P_HDR + P_STRS + KEEP_RECS * (2 + ND_BLOB_STR_MAX))

enum { S_ORDER = 0, S_CART, S_EVENT, S_DEVICE };

struct pu_conf {
        int64_t delay;
        int64_t max_items;
        int64_t expires_after;
};

struct pu_val {
        uint32_t used; /* blob bytes in use */
        uint16_t cnt;  /* pending orders */
};

struct pu_state {
        const struct pu_conf *conf;
        nd_str_t recs[KEEP_RECS];
        uint8_t rec[P_MAX]; /* one record being built */
};

static const nd_cfg_prop_t pu_props[] = {
    ND_CFG_DURATION("delay", "3d", offsetof(struct pu_conf, delay), 0,
                    ND_DAY(365),
                    "The action is due at the order's time + delay."),
    ND_CFG_INT("max_items", "3", offsetof(struct pu_conf, max_items), 1,
               MAX_ITEMS, "Most recommended skus in one action."),
    ND_ACT_CFG_EXPIRES_AFTER("1d", offsetof(struct pu_conf, expires_after)),
    ND_CFG_END};

static nd_err_t pu_init(nd_ctx_t *ctx, void *state, const void *conf) {
        struct pu_state *s = state;
        s->conf = conf;
        return ND_OK;
}

/* ---- packed records ---------------------------------------------- */

static uint16_t rec_slen(const uint8_t *r, int which) {
        return nd_blob_get_u16(r + P_SLEN + 2 * which);
}

static nd_str_t rec_str(const uint8_t *r, int which) {
        uint32_t off = P_HDR;
        for (int i = 0; i < which; i++)
                off += rec_slen(r, i);
        if (!rec_slen(r, which))
                return ND_STR_NULL;
        return (nd_str_t){(const char *)r + off, rec_slen(r, which)};
}

/* Offset of the recommendations inside a record. */
static uint32_t rec_recs_off(const uint8_t *r) {
        return P_HDR + rec_slen(r, 0) + rec_slen(r, 1) + rec_slen(r, 2) +
               rec_slen(r, 3);
}

/* Reads a record's recommendations into out (pointing into r). */
static uint16_t rec_recs(const uint8_t *r, nd_str_t *out) {
        uint16_t n = nd_blob_get_u16(r + P_RECS);
        uint32_t off = rec_recs_off(r);
        for (uint16_t i = 0; i < n; i++) {
                uint16_t l = nd_blob_get_u16(r + off);
                out[i] = (nd_str_t){(const char *)r + off + 2, l};
                off += 2 + l;
        }
        return n;
}

static uint32_t put_str(uint8_t *buf, uint32_t off, nd_str_t s) {
        if (s.len)
                memcpy(buf + off, s.p, s.len);
        return off + s.len;
}

/* Packs a record into buf from its parts; returns its length. recs may
 * point into another record (never into buf). */
static uint32_t pack(uint8_t *buf, int64_t due, const nd_str_t strs[4],
                     uint8_t channel, bool customer, const nd_str_t *recs,
                     uint16_t n) {
        uint32_t off = P_HDR;
        memset(buf, 0, P_HDR);
        nd_blob_put_i64(buf + P_DUE, due);
        for (int i = 0; i < 4; i++) {
                nd_str_t s = nd_blob_clamp(strs[i]);
                nd_blob_put_u16(buf + P_SLEN + 2 * i, (uint16_t)s.len);
                off = put_str(buf, off, s);
        }
        nd_blob_put_u16(buf + P_RECS, n);
        buf[P_CHANNEL] = channel;
        buf[P_CUSTOMER] = customer;
        for (uint16_t i = 0; i < n; i++) {
                nd_str_t s = nd_blob_clamp(recs[i]);
                nd_blob_put_u16(buf + off, (uint16_t)s.len);
                off = put_str(buf, off + 2, s);
        }
        nd_blob_put_u32(buf + P_LEN, off);
        return off;
}

static bool has_sku(const nd_str_t *list, uint32_t n, nd_str_t sku) {
        for (uint32_t i = 0; i < n; i++)
                if (nd_str_eq(list[i], sku))
                        return true;
        return false;
}

static bool in_order(const nd_event_t *ev, nd_str_t sku) {
        for (uint32_t i = 0; i < ev->product_cnt; i++)
                if (nd_str_eq(ev->products[i].sku, sku))
                        return true;
        return false;
}

static bool in_stock(nd_ctx_t *ctx, nd_str_t sku) {
        const nd_product_rec_t *p = nd_ctx_catalog_get(ctx, sku);
        return p && p->in_stock;
}

/* The order's recommendations (§3), into s->recs; returns their count. */
static uint16_t recommend(nd_ctx_t *ctx, struct pu_state *s,
                          const nd_event_t *ev) {
        uint16_t n = 0;
        for (uint32_t i = 0; i < ev->product_cnt && n < KEEP_RECS; i++) {
                const nd_product_rec_t *p =
                    nd_ctx_catalog_get(ctx, ev->products[i].sku);
                if (!p)
                        continue;
                for (uint32_t j = 0; j < p->complement_cnt && n < KEEP_RECS;
                     j++) {
                        nd_str_t c = p->complements[j];
                        if (nd_str_is_null(c) || in_order(ev, c) ||
                            has_sku(s->recs, n, c) || !in_stock(ctx, c))
                                continue;
                        s->recs[n++] = c;
                }
        }
        return n;
}

/* Re-arms the timer at the earliest pending order, or deletes the entry
 * when none is left. */
static void settle(nd_ctx_t *ctx, nd_entry_t *e) {
        struct pu_val *v = nd_entry_value(e);
        const uint8_t *b = nd_blob_bytes(e);
        int64_t first = INT64_MAX;
        uint32_t off = 0;
        if (!v->cnt) {
                nd_ctx_delete(ctx, e);
                return;
        }
        for (uint16_t i = 0; i < v->cnt; i++) {
                int64_t due = nd_blob_get_i64(b + off + P_DUE);
                if (due < first)
                        first = due;
                off += nd_blob_get_u32(b + off + P_LEN);
        }
        nd_ctx_timer_set(ctx, e, first);
        nd_ctx_changed(ctx, e);
}

static void remove_rec(nd_ctx_t *ctx, nd_entry_t *e, uint32_t off) {
        struct pu_val *v = nd_entry_value(e);
        uint32_t len = nd_blob_get_u32(nd_blob_bytes(e) + off + P_LEN);
        (void)nd_blob_splice(ctx, e, &v->used, off, len, NULL, 0);
        v->cnt--;
}

/* Removes the skus of order ev from every other pending order's list; an
 * emptied list cancels its order. */
static void trim_pending(nd_ctx_t *ctx, struct pu_state *s, nd_entry_t *e,
                         const nd_event_t *ev) {
        struct pu_val *v = nd_entry_value(e);
        uint32_t off = 0;
        uint16_t i = 0;
        while (i < v->cnt) {
                const uint8_t *r = nd_blob_bytes(e) + off;
                uint32_t len = nd_blob_get_u32(r + P_LEN);
                nd_str_t strs[4], recs[KEEP_RECS];
                uint16_t n, kept = 0;
                if (nd_str_eq(rec_str(r, S_ORDER),
                              nd_blob_clamp(ev->order_id))) {
                        off += len, i++;
                        continue;
                }
                n = rec_recs(r, recs);
                for (uint16_t j = 0; j < n; j++)
                        if (!in_order(ev, recs[j]))
                                recs[kept++] = recs[j];
                if (kept == n) {
                        off += len, i++;
                        continue;
                }
                if (!kept) {
                        remove_rec(ctx, e, off);
                        continue;
                }
                for (int k = 0; k < 4; k++)
                        strs[k] = rec_str(r, k);
                len = pack(s->rec, nd_blob_get_i64(r + P_DUE), strs,
                           r[P_CHANNEL], r[P_CUSTOMER], recs, kept);
                /* Shrinking: never fails (blob.h). */
                (void)nd_blob_splice(ctx, e, &v->used, off,
                                     nd_blob_get_u32(r + P_LEN), s->rec, len);
                off += len, i++;
        }
}

/* The offset of order_id's record, or -1. */
static int64_t find_order(nd_entry_t *e, nd_str_t order_id) {
        struct pu_val *v = nd_entry_value(e);
        const uint8_t *b = nd_blob_bytes(e);
        uint32_t off = 0;
        order_id = nd_blob_clamp(order_id);
        for (uint16_t i = 0; i < v->cnt; i++) {
                if (nd_str_eq(rec_str(b + off, S_ORDER), order_id))
                        return off;
                off += nd_blob_get_u32(b + off + P_LEN);
        }
        return -1;
}

static void on_order(nd_ctx_t *ctx, struct pu_state *s, const nd_event_t *ev) {
        nd_entry_t *e = nd_ctx_get(ctx, ev->key);
        uint16_t n = recommend(ctx, s, ev);
        struct pu_val *v;
        int64_t at;

        if (!e && !n)
                return;
        if (!e && !(e = nd_ctx_upsert(ctx, ev->key, NULL)))
                return;
        v = nd_entry_value(e);
        trim_pending(ctx, s, e, ev);
        /* A repeated order_id recomputes and re-arms. */
        if ((at = find_order(e, ev->order_id)) >= 0)
                remove_rec(ctx, e, (uint32_t)at);
        if (n) {
                nd_str_t strs[4] = {ev->order_id, ev->cart_id, ev->event_id,
                                    ev->device_id};
                uint32_t len =
                    pack(s->rec, nd_time_add_sat(ev->timestamp, s->conf->delay),
                         strs, (uint8_t)ev->channel, ev->key_is_customer,
                         s->recs, n);
                nd_err_t err =
                    nd_blob_splice(ctx, e, &v->used, v->used, 0, s->rec, len);
                if (err == ND_OK)
                        v->cnt++;
                else
                        nd_ctx_log(ctx, ND_CTX_WARN, "order %.*s not kept: %s",
                                   (int)ev->order_id.len, ev->order_id.p,
                                   nd_err_str(err));
        }
        settle(ctx, e);
}

static void pu_process(nd_ctx_t *ctx, void *state, const nd_rec_t *rec) {
        struct pu_state *s = state;
        const nd_event_t *ev = rec->ev;
        nd_entry_t *e;
        int64_t at;

        if (!ev || nd_str_is_null(ev->order_id))
                return;
        switch (ev->type) {
        case ND_EV_ORDER_COMPLETED:
                on_order(ctx, s, ev);
                break;
        case ND_EV_ORDER_REFUNDED:
        case ND_EV_ORDER_CANCELLED:
                if (!(e = nd_ctx_get(ctx, ev->key)) ||
                    (at = find_order(e, ev->order_id)) < 0)
                        return; /* nothing pending: nothing to do */
                remove_rec(ctx, e, (uint32_t)at);
                settle(ctx, e);
                break;
        default:
                break;
        }
}

static void emit_order(nd_ctx_t *ctx, struct pu_state *s, nd_entry_t *e,
                       const uint8_t *r, int64_t due) {
        const char *name = nd_ctx_name(ctx);
        nd_str_t key = nd_entry_key(e);
        nd_str_t order_id = rec_str(r, S_ORDER);
        nd_str_t event_id = rec_str(r, S_EVENT);
        nd_str_t recs[KEEP_RECS];
        nd_str_t parts[3];
        nd_action_t act = {0};
        uint16_t n = rec_recs(r, recs), kept = 0;
        char id[33];

        for (uint16_t i = 0; i < n && kept < s->conf->max_items; i++)
                if (in_stock(ctx, recs[i]))
                        recs[kept++] = recs[i];
        if (!kept)
                return;
        parts[0] = (nd_str_t){name, (uint32_t)strlen(name)};
        parts[1] = key;
        parts[2] = order_id;
        nd_action_id(parts, 3, id);
        act.action_id = (nd_str_t){id, 32};
        nd_act_set_key(&act, key, r[P_CUSTOMER]);
        act.channel = (nd_channel_t)r[P_CHANNEL];
        act.device_id = rec_str(r, S_DEVICE);
        act.created_at = due;
        nd_act_set_expiry(&act, s->conf->expires_after);
        act.order_id = order_id;
        act.cart_id = rec_str(r, S_CART);
        act.recommended_skus = recs;
        act.recommended_cnt = kept;
        act.source_event_ids = &event_id;
        act.source_event_cnt = 1;
        nd_ctx_emit(ctx, &act);
}

/* The offset of the pending order due by `due` whose order_id comes first
 * in byte order, or -1. */
static int64_t first_due(nd_entry_t *e, int64_t due) {
        struct pu_val *v = nd_entry_value(e);
        const uint8_t *b = nd_blob_bytes(e);
        int64_t best = -1;
        uint32_t off = 0;
        for (uint16_t i = 0; i < v->cnt; i++) {
                const uint8_t *r = b + off;
                if (nd_blob_get_i64(r + P_DUE) <= due &&
                    (best < 0 || nd_str_cmp(rec_str(r, S_ORDER),
                                            rec_str(b + best, S_ORDER)) < 0))
                        best = off;
                off += nd_blob_get_u32(r + P_LEN);
        }
        return best;
}

static void pu_timer(nd_ctx_t *ctx, void *state, nd_entry_t *e, int64_t due) {
        struct pu_state *s = state;
        int64_t at;
        /* Every order due now, in byte order of order_id (TRIGGERS.md §5). */
        while ((at = first_due(e, due)) >= 0) {
                emit_order(ctx, s, e, nd_blob_bytes(e) + at, due);
                remove_rec(ctx, e, (uint32_t)at);
        }
        settle(ctx, e);
}

const nd_processor_def_t nd_proc_post_purchase_upsell = {
    .abi = ND_PROCESSOR_ABI_1,
    .name = "post_purchase_upsell",
    .trigger = ND_TRIGGER_POST_PURCHASE_UPSELL,
    .doc = "Recommends in-stock complements of the ordered skus (from the "
           "catalog) `delay` after an order, unless it is refunded or "
           "cancelled or later orders bought them all (TRIGGERS.md §3; "
           "docs/triggers.md).",
    .config = pu_props,
    .config_size = sizeof(struct pu_conf),
    .state_size = sizeof(struct pu_state),
    .value_size = sizeof(struct pu_val),
    .init = pu_init,
    .process = pu_process,
    .on_timer = pu_timer,
};
