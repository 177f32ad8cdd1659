/*
 * browse_abandonment — reminds a customer of the products they looked at
 * and left (TRIGGERS.md §3, §5; docs/triggers.md). OVERALL DESIGN
 *
 * One entry per customer while a browsing session is open or a cooldown is
 * pending, deleted otherwise. The value holds the session's bounds (start
 * = earliest view, latest = latest view, by timestamp), its view count, the
 * due time of the last emitted action (for the cooldown) and the last
 * view's channel; the blob holds the last view's event_id and device_id,
 * then one packed record per sku seen in the session:
 *
 *     [latest view ts i64][price i64][count u32][seq u32][sku_len u16]
 *     [cat_len u16][has_price u8][pad 3][sku][category]
 *
 * `seq` is the session's view number of the sku's last processed view: the
 * "processing order" tie-break of the ranking. The entry's one timer is the
 * session's (last view + delay) while a session is open; after a session
 * ends with a cooldown pending it is re-armed at the cooldown's end, and
 * that firing deletes the entry. So a customer costs nothing once both are
 * over. (A view arriving after that, older than the cooldown's end, is not
 * suppressed: the watermark had already passed the cooldown.)
 */
#include <stdio.h>
#include <stdlib.h>

#include "nudge/processor.h"

#include "../common/blob.h"

#define MAX_SKUS  64
#define MAX_ITEMS 32

#define K_TS        0
#define K_PRICE     8
#define K_COUNT     16
#define K_SEQ       20
#define K_SKU_LEN   24
#define K_CAT_LEN   26
#define K_HAS_PRICE 28
#define K_HDR       32

enum { F_SESSION = 0x1, F_EMITTED = 0x2, F_CUSTOMER = 0x4 };

struct ba_conf {
        int64_t session_gap;
        int64_t delay;
        int64_t min_views;
        int64_t max_items;
        int64_t cooldown;
        int64_t expires_after;
};

struct ba_val {
        int64_t start;     /* session: earliest view */
        int64_t latest;    /* session: latest view */
        int64_t last_emit; /* due time of the last emitted action */
        uint32_t used;     /* blob bytes in use */
        uint32_t views;    /* views in the session, repeats included */
        uint16_t sku_cnt;
        uint16_t event_id_len; /* last view's, at the blob's start */
        uint16_t device_id_len;
        uint8_t channel; /* last view's */
        uint8_t flags;   /* F_* */
};

struct ranked {
        int64_t latest;
        uint32_t count, seq;
        nd_line_item_t item;
};

struct ba_state {
        const struct ba_conf *conf;
        struct ranked rank[MAX_SKUS];
        nd_line_item_t items[MAX_ITEMS];
        uint8_t rec[K_HDR + 2 * ND_BLOB_STR_MAX];
};

static const nd_cfg_prop_t ba_props[] = {
    ND_CFG_DURATION("session_gap", "30m", offsetof(struct ba_conf, session_gap),
                    0, ND_DAY(30),
                    "A view joins the session when it is at most this after "
                    "the session's latest view; a later one starts a new "
                    "session."),
    ND_CFG_DURATION("delay", "1h", offsetof(struct ba_conf, delay), 0,
                    ND_DAY(30),
                    "Each view sets the timer to its timestamp + delay."),
    ND_CFG_INT("min_views", "2", offsetof(struct ba_conf, min_views), 1,
               1000000,
               "Fewest product views (repeats included) in the session for "
               "an action."),
    ND_CFG_INT("max_items", "3", offsetof(struct ba_conf, max_items), 1,
               MAX_ITEMS, "Most skus in one action (best first)."),
    ND_CFG_DURATION("cooldown", "24h", offsetof(struct ba_conf, cooldown), 0,
                    ND_DAY(365),
                    "No browse action for the customer until this after the "
                    "due time of the last one; 0: none."),
    ND_CFG_DURATION("expires_after", "12h",
                    offsetof(struct ba_conf, expires_after), 0, ND_DAY(365),
                    "`expires_at` = `created_at` + this; 0 leaves "
                    "`expires_at` null."),
    ND_CFG_END};

static nd_err_t ba_init(nd_ctx_t *ctx, void *state, const void *conf) {
        struct ba_state *s = state;
        s->conf = conf;
        return ND_OK;
}

static uint32_t skus_off(const struct ba_val *v) {
        return (uint32_t)v->event_id_len + v->device_id_len;
}

/* Drops the session (its skus and the last view's strings). */
static void drop_session(nd_ctx_t *ctx, nd_entry_t *e, struct ba_val *v) {
        (void)nd_blob_splice(ctx, e, &v->used, 0, v->used, NULL, 0);
        v->sku_cnt = 0;
        v->views = 0;
        v->event_id_len = v->device_id_len = 0;
        v->flags &= (uint8_t)~F_SESSION;
        nd_ctx_changed(ctx, e);
}

/* After a session ended: keep the entry only while a cooldown runs. */
static void after_session(nd_ctx_t *ctx, const struct ba_conf *c, nd_entry_t *e,
                          struct ba_val *v) {
        if (!(v->flags & F_EMITTED) || c->cooldown == 0) {
                nd_ctx_delete(ctx, e);
                return;
        }
        nd_ctx_timer_set(ctx, e, nd_blob_add_sat(v->last_emit, c->cooldown));
}

static nd_err_t set_last_view(nd_ctx_t *ctx, nd_entry_t *e, struct ba_val *v,
                              const nd_event_t *ev) {
        nd_str_t id = nd_blob_clamp(ev->event_id);
        nd_str_t dev = nd_blob_clamp(ev->device_id);
        nd_err_t err;
        if ((err = nd_blob_splice(ctx, e, &v->used, 0, v->event_id_len, id.p,
                                  id.len)))
                return err;
        v->event_id_len = (uint16_t)id.len;
        if ((err = nd_blob_splice(ctx, e, &v->used, v->event_id_len,
                                  v->device_id_len, dev.p, dev.len)))
                return err;
        v->device_id_len = (uint16_t)dev.len;
        v->channel = (uint8_t)ev->channel;
        if (ev->key_is_customer)
                v->flags |= F_CUSTOMER;
        else
                v->flags &= (uint8_t)~F_CUSTOMER;
        return ND_OK;
}

/* Counts a view of ev's sku. */
static nd_err_t count_sku(nd_ctx_t *ctx, struct ba_state *s, nd_entry_t *e,
                          struct ba_val *v, const nd_event_t *ev) {
        nd_str_t sku = nd_blob_clamp(ev->product.sku);
        nd_str_t cat = nd_blob_clamp(ev->product.category);
        uint8_t *b = nd_blob_bytes(e);
        uint32_t off = skus_off(v), len;
        for (uint16_t i = 0; i < v->sku_cnt; i++) {
                uint16_t sl = nd_blob_get_u16(b + off + K_SKU_LEN);
                uint16_t cl = nd_blob_get_u16(b + off + K_CAT_LEN);
                if (sl == sku.len && !memcmp(b + off + K_HDR, sku.p, sl)) {
                        uint8_t *r = b + off;
                        if (ev->timestamp > nd_blob_get_i64(r + K_TS))
                                nd_blob_put_i64(r + K_TS, ev->timestamp);
                        nd_blob_put_u32(r + K_COUNT,
                                        nd_blob_get_u32(r + K_COUNT) + 1);
                        nd_blob_put_u32(r + K_SEQ, v->views);
                        if (ev->product.has_price) {
                                nd_blob_put_i64(r + K_PRICE,
                                                ev->product.price_cents);
                                r[K_HAS_PRICE] = 1;
                        }
                        return ND_OK;
                }
                off += K_HDR + sl + cl;
        }
        if (v->sku_cnt >= MAX_SKUS)
                return ND_OK; /* counted in views, not ranked */
        memset(s->rec, 0, K_HDR);
        nd_blob_put_i64(s->rec + K_TS, ev->timestamp);
        nd_blob_put_i64(s->rec + K_PRICE,
                        ev->product.has_price ? ev->product.price_cents : 0);
        nd_blob_put_u32(s->rec + K_COUNT, 1);
        nd_blob_put_u32(s->rec + K_SEQ, v->views);
        nd_blob_put_u16(s->rec + K_SKU_LEN, (uint16_t)sku.len);
        nd_blob_put_u16(s->rec + K_CAT_LEN, (uint16_t)cat.len);
        s->rec[K_HAS_PRICE] = ev->product.has_price;
        memcpy(s->rec + K_HDR, sku.p, sku.len);
        if (cat.len)
                memcpy(s->rec + K_HDR + sku.len, cat.p, cat.len);
        len = K_HDR + sku.len + cat.len;
        if (nd_blob_splice(ctx, e, &v->used, v->used, 0, s->rec, len) != ND_OK)
                return ND_OK; /* counted in views, not ranked */
        v->sku_cnt++;
        return ND_OK;
}

static void on_view(nd_ctx_t *ctx, struct ba_state *s, const nd_event_t *ev) {
        const struct ba_conf *c = s->conf;
        nd_entry_t *e = nd_ctx_get(ctx, ev->key);
        struct ba_val *v;
        int64_t t = ev->timestamp;

        if (!e && !(e = nd_ctx_upsert(ctx, ev->key, NULL)))
                return;
        v = nd_entry_value(e);
        if (v->flags & F_SESSION) {
                if (t < nd_blob_add_sat(v->start, -c->session_gap))
                        return; /* older than the session: ignored */
                if (t > nd_blob_add_sat(v->latest, c->session_gap))
                        drop_session(ctx, e, v); /* a new session */
        }
        if (!(v->flags & F_SESSION)) {
                v->flags |= F_SESSION;
                v->start = v->latest = t;
        }
        if (t < v->start)
                v->start = t;
        if (t > v->latest)
                v->latest = t;
        if (v->views < UINT32_MAX)
                v->views++;
        (void)set_last_view(ctx, e, v, ev);
        (void)count_sku(ctx, s, e, v, ev);
        nd_ctx_timer_set(ctx, e, nd_blob_add_sat(t, c->delay));
        nd_ctx_changed(ctx, e);
}

static void ba_process(nd_ctx_t *ctx, void *state, const nd_rec_t *rec) {
        struct ba_state *s = state;
        const nd_event_t *ev = rec->ev;
        nd_entry_t *e;
        struct ba_val *v;

        if (!ev)
                return;
        switch (ev->type) {
        case ND_EV_PRODUCT_VIEWED:
                if (ev->has_product && !nd_str_is_null(ev->product.sku))
                        on_view(ctx, s, ev);
                break;
        case ND_EV_PRODUCT_ADDED:
        case ND_EV_CHECKOUT_STARTED:
        case ND_EV_ORDER_COMPLETED:
                /* The customer moved on: the session ends silently. */
                if (!(e = nd_ctx_get(ctx, ev->key)))
                        return;
                v = nd_entry_value(e);
                if (!(v->flags & F_SESSION))
                        return;
                drop_session(ctx, e, v);
                nd_ctx_timer_clear(ctx, e);
                after_session(ctx, s->conf, e, v);
                break;
        default:
                break;
        }
}

/* Best first: view count, then latest view, then processing order. */
static int rank_cmp(const void *pa, const void *pb) {
        const struct ranked *a = pa, *b = pb;
        if (a->count != b->count)
                return a->count > b->count ? -1 : 1;
        if (a->latest != b->latest)
                return a->latest > b->latest ? -1 : 1;
        return a->seq > b->seq ? -1 : a->seq < b->seq;
}

static void emit_session(nd_ctx_t *ctx, struct ba_state *s, nd_entry_t *e,
                         struct ba_val *v, int64_t due) {
        const struct ba_conf *c = s->conf;
        const char *name = nd_ctx_name(ctx);
        const uint8_t *b = nd_blob_bytes(e);
        nd_str_t key = nd_entry_key(e);
        nd_str_t event_id = {(const char *)b, v->event_id_len};
        nd_str_t parts[3];
        nd_action_t act = {0};
        uint32_t off = skus_off(v), n = v->sku_cnt;
        char id[33];

        for (uint32_t i = 0; i < n; i++) {
                const uint8_t *r = b + off;
                struct ranked *k = &s->rank[i];
                uint16_t sl = nd_blob_get_u16(r + K_SKU_LEN);
                uint16_t cl = nd_blob_get_u16(r + K_CAT_LEN);
                k->latest = nd_blob_get_i64(r + K_TS);
                k->count = nd_blob_get_u32(r + K_COUNT);
                k->seq = nd_blob_get_u32(r + K_SEQ);
                k->item.sku = (nd_str_t){(const char *)r + K_HDR, sl};
                k->item.category =
                    cl ? (nd_str_t){(const char *)r + K_HDR + sl, cl}
                       : ND_STR_NULL;
                k->item.quantity = k->count;
                k->item.has_price = r[K_HAS_PRICE] != 0;
                k->item.price_cents = nd_blob_get_i64(r + K_PRICE);
                off += K_HDR + sl + cl;
        }
        qsort(s->rank, n, sizeof(s->rank[0]), rank_cmp);
        if (n > (uint32_t)c->max_items)
                n = (uint32_t)c->max_items;
        for (uint32_t i = 0; i < n; i++)
                s->items[i] = s->rank[i].item;

        parts[0] = (nd_str_t){name, (uint32_t)strlen(name)};
        parts[1] = key;
        parts[2] = event_id;
        nd_action_id(parts, 3, id);
        act.action_id = (nd_str_t){id, 32};
        act.trigger = ND_TRIGGER_BROWSE_ABANDONMENT;
        if (v->flags & F_CUSTOMER)
                act.customer_id = key;
        else
                act.anonymous_id = key;
        act.channel = (nd_channel_t)v->channel;
        act.device_id =
            (nd_str_t){(const char *)b + v->event_id_len, v->device_id_len};
        act.created_at = due;
        if (c->expires_after > 0) {
                act.expires_at = nd_blob_add_sat(due, c->expires_after);
                act.has_expires_at = true;
        }
        act.items = s->items;
        act.item_cnt = n;
        act.source_event_ids = &event_id;
        act.source_event_cnt = 1;
        nd_ctx_emit(ctx, &act);
}

static void ba_timer(nd_ctx_t *ctx, void *state, nd_entry_t *e, int64_t due) {
        struct ba_state *s = state;
        const struct ba_conf *c = s->conf;
        struct ba_val *v = nd_entry_value(e);

        if (!(v->flags & F_SESSION)) {
                nd_ctx_delete(ctx, e); /* the cooldown is over */
                return;
        }
        if (v->views >= c->min_views) {
                bool cooling = (v->flags & F_EMITTED) &&
                               due < nd_blob_add_sat(v->last_emit, c->cooldown);
                if (!cooling) {
                        emit_session(ctx, s, e, v, due);
                        v->last_emit = due;
                        v->flags |= F_EMITTED;
                }
        }
        drop_session(ctx, e, v);
        after_session(ctx, c, e, v);
}

const nd_processor_def_t nd_proc_browse_abandonment = {
    .abi = ND_PROCESSOR_ABI_1,
    .name = "browse_abandonment",
    .doc = "Reminds a customer of the products viewed in a browsing session "
           "that ended without adding to cart or buying, `delay` after the "
           "last view, at most once per `cooldown` (TRIGGERS.md §3; "
           "docs/triggers.md).",
    .config = ba_props,
    .config_size = sizeof(struct ba_conf),
    .state_size = sizeof(struct ba_state),
    .value_size = sizeof(struct ba_val),
    .init = ba_init,
    .process = ba_process,
    .on_timer = ba_timer,
};
