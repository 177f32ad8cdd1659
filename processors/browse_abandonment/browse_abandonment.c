/*
 * browse_abandonment — reminds a customer of the products they looked at
 * and left (TRIGGERS.md §3, §5; docs/triggers.md). OVERALL DESIGN
 *
 * One entry per customer while a browsing session is open or after a
 * browse action was emitted (with a cooldown), deleted otherwise. It is the
 * only state a customer who just browses has, so it is kept small (issue #6: ≤
 * 128 bytes per such customer, table and timer included): the value is the
 * session's latest view time, and everything else is one packed record in the
 * blob, small enough for a session of a few skus to fit the store's in-place
 * tail:
 *
 *     u8   flags (F_*) | channel << 3       channel: the last view's
 *     [zz  latest - last_emit]              only with F_EMITTED
 *     [zz  latest - start                   only with F_SESSION, from here
 *      uv  views                            in the session, repeats too
 *      uv  event_id length, bytes           the last view's
 *      uv  device_id length, bytes          the last view's
 *      per sku seen in the session, to the end of the blob:
 *        uv sku length, bytes
 *        uv category length, bytes
 *        zz latest - the sku's latest view
 *        uv count << 1 | has_price
 *        uv views - seq
 *        [zz 0 - price_cents]             only with has_price]
 *
 * uv is an unsigned LEB128 varint, zz a zigzag varint of a wrapping
 * difference (so any int64 round-trips). `seq` is the session's view
 * number of the sku's last processed view: the "processing order"
 * tie-break of the ranking. Each hook decodes the record into a struct
 * sess in the instance state, changes it, and writes it back whole: a few
 * dozen bytes for a usual session, at most ~130 KB (64 skus of 1 KiB
 * strings), no allocation when the blob keeps its size class.
 *
 * The entry's one timer is the session's (last view + delay) while a
 * session is open, and there is none after it. WHY the entry outlives the
 * cooldown: a late view may open a session whose firing D' lies before
 * the cooldown's end however late it arrives, and it must be suppressed
 * (TRIGGERS.md §5), so the due time of the last emitted action is kept for
 * the life of the customer's state; state.ttl drops it once nothing has
 * touched it that long (it holds no timer). A customer who never got an
 * action costs nothing once the session is over.
 */
#include <stdio.h>
#include <stdlib.h>

#include "nudge/processor.h"

#include "act.h"
#include "blob.h"

#define MAX_SKUS  64
#define MAX_ITEMS 32

enum { F_SESSION = 0x1, F_EMITTED = 0x2, F_CUSTOMER = 0x4 };
#define FLAG_MASK 0x7
#define CH_SHIFT  3

/* Largest record: header, two strings, MAX_SKUS skus of two strings. */
#define VU_MAX  10 /* bytes of a 64-bit varint */
#define STR_ENC (3 + ND_BLOB_STR_MAX)
#define ENC_MAX \
        (1 + 3 * VU_MAX + 2 * STR_ENC + MAX_SKUS * (2 * STR_ENC + 4 * VU_MAX))

struct ba_conf {
        int64_t session_gap;
        int64_t delay;
        int64_t min_views;
        int64_t max_items;
        int64_t cooldown;
        int64_t expires_after;
};

/* The value: the base the blob's times are relative to. */
struct ba_val {
        int64_t latest; /* session: latest view */
};

struct sku_rec {
        nd_str_t sku, cat;
        int64_t ts; /* the sku's latest view */
        int64_t price;
        uint32_t count, seq;
        bool has_price;
};

/* The decoded record; strings point into the blob or the event. */
struct sess {
        uint8_t flags, channel;
        int64_t last_emit; /* due time of the last emitted action */
        int64_t start;     /* session: earliest view */
        int64_t latest;    /* session: latest view */
        uint32_t views;    /* views in the session, repeats included */
        nd_str_t event_id, device_id;
        uint32_t sku_cnt;
        struct sku_rec skus[MAX_SKUS];
};

struct ranked {
        int64_t latest;
        uint32_t count, seq;
        nd_line_item_t item;
};

struct ba_state {
        const struct ba_conf *conf;
        struct sess cur;
        struct ranked rank[MAX_SKUS];
        nd_line_item_t items[MAX_ITEMS];
        uint8_t buf[ENC_MAX];
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
    ND_ACT_CFG_EXPIRES_AFTER("12h", offsetof(struct ba_conf, expires_after)),
    ND_CFG_END};

static nd_err_t ba_init(nd_ctx_t *ctx, void *state, const void *conf) {
        struct ba_state *s = state;
        (void)ctx;
        s->conf = conf;
        return ND_OK;
}

/* ---- the packed record ---- */

static uint8_t *put_uv(uint8_t *p, uint64_t v) {
        while (v >= 0x80) {
                *p++ = (uint8_t)(v | 0x80);
                v >>= 7;
        }
        *p++ = (uint8_t)v;
        return p;
}

/* base - v, wrapping, zigzag-encoded: exact for every pair of int64. */
static uint8_t *put_zz(uint8_t *p, int64_t base, int64_t v) {
        uint64_t d = (uint64_t)base - (uint64_t)v;
        return put_uv(p, (d << 1) ^ (0 - (d >> 63)));
}

static uint8_t *put_str(uint8_t *p, nd_str_t s) {
        p = put_uv(p, s.len);
        if (s.len)
                memcpy(p, s.p, s.len);
        return p + s.len;
}

struct rd {
        const uint8_t *p, *end;
        bool bad;
};

static uint64_t get_uv(struct rd *r) {
        uint64_t v = 0;
        for (int sh = 0; sh < 64; sh += 7) {
                if (r->p >= r->end)
                        break;
                uint8_t b = *r->p++;
                v |= (uint64_t)(b & 0x7f) << sh;
                if (!(b & 0x80))
                        return v;
        }
        r->bad = true;
        return 0;
}

/* v such that put_zz(base, v) wrote what r reads. */
static int64_t get_zz(struct rd *r, int64_t base) {
        uint64_t z = get_uv(r);
        uint64_t d = (z >> 1) ^ (0 - (z & 1));
        return (int64_t)((uint64_t)base - d);
}

static nd_str_t get_str(struct rd *r) {
        uint64_t n = get_uv(r);
        nd_str_t s = {(const char *)r->p, 0};
        if (r->bad || n > ND_BLOB_STR_MAX || n > (uint64_t)(r->end - r->p)) {
                r->bad = true;
                return s;
        }
        s.len = (uint32_t)n;
        r->p += n;
        return s;
}

/* Reads e's record into s->cur. A new entry (no blob) reads as empty. */
static void load(struct ba_state *s, nd_entry_t *e) {
        struct sess *v = &s->cur;
        size_t len;
        const uint8_t *b = nd_entry_blob(e, &len);
        struct rd r = {b, b + len, false};
        const struct ba_val *val = nd_entry_value(e);

        memset(v, 0, offsetof(struct sess, skus));
        v->latest = val->latest;
        if (!len)
                return;
        v->flags = b[0] & FLAG_MASK;
        v->channel = (uint8_t)(b[0] >> CH_SHIFT);
        r.p++;
        if (v->flags & F_EMITTED)
                v->last_emit = get_zz(&r, v->latest);
        if (!(v->flags & F_SESSION))
                return;
        v->start = get_zz(&r, v->latest);
        v->views = (uint32_t)get_uv(&r);
        v->event_id = get_str(&r);
        v->device_id = get_str(&r);
        while (!r.bad && r.p < r.end && v->sku_cnt < MAX_SKUS) {
                struct sku_rec *k = &v->skus[v->sku_cnt];
                uint64_t ch;
                k->sku = get_str(&r);
                k->cat = get_str(&r);
                k->ts = get_zz(&r, v->latest);
                ch = get_uv(&r);
                k->count = (uint32_t)(ch >> 1);
                k->has_price = ch & 1;
                k->seq = v->views - (uint32_t)get_uv(&r);
                k->price = k->has_price ? get_zz(&r, 0) : 0;
                if (!r.bad)
                        v->sku_cnt++;
        }
}

/* Writes s->cur back as e's value and blob; marks the entry changed. */
static nd_err_t store(nd_ctx_t *ctx, struct ba_state *s, nd_entry_t *e) {
        const struct sess *v = &s->cur;
        uint8_t *p = s->buf;
        size_t len;
        nd_err_t err;

        *p++ = (uint8_t)(v->flags | v->channel << CH_SHIFT);
        if (v->flags & F_EMITTED)
                p = put_zz(p, v->latest, v->last_emit);
        if (v->flags & F_SESSION) {
                p = put_zz(p, v->latest, v->start);
                p = put_uv(p, v->views);
                p = put_str(p, v->event_id);
                p = put_str(p, v->device_id);
                for (uint32_t i = 0; i < v->sku_cnt; i++) {
                        const struct sku_rec *k = &v->skus[i];
                        p = put_str(p, k->sku);
                        p = put_str(p, k->cat);
                        p = put_zz(p, v->latest, k->ts);
                        p = put_uv(p, (uint64_t)k->count << 1 | k->has_price);
                        p = put_uv(p, v->views - k->seq);
                        if (k->has_price)
                                p = put_zz(p, 0, k->price);
                }
        }
        len = (size_t)(p - s->buf);
        /* WHY resize then copy: the strings of s->cur may point into the
         * blob, so the record is built aside first. */
        if ((err = nd_ctx_blob_resize(ctx, e, len)) != ND_OK)
                return err;
        memcpy(nd_entry_blob(e, NULL), s->buf, len);
        ((struct ba_val *)nd_entry_value(e))->latest = v->latest;
        nd_ctx_changed(ctx, e);
        return ND_OK;
}

/* ---- session rules ---- */

/* Drops the session (its skus and the last view's strings). */
static void drop_session(struct sess *v) {
        v->sku_cnt = 0;
        v->views = 0;
        v->event_id = v->device_id = (nd_str_t){NULL, 0};
        v->flags &= (uint8_t)~F_SESSION;
}

/* After a session ended (its timer no longer armed): keep the entry only
 * to remember the last emitted action for the cooldown. */
static void after_session(nd_ctx_t *ctx, struct ba_state *s, nd_entry_t *e) {
        const struct ba_conf *c = s->conf;
        if (!(s->cur.flags & F_EMITTED) || c->cooldown == 0 ||
            store(ctx, s, e) != ND_OK)
                nd_ctx_delete(ctx, e);
}

/* Counts a view of ev's sku; true when that added a sku to the session
 * (false: a known sku, or no room for another). */
static bool count_sku(struct sess *v, const nd_event_t *ev) {
        nd_str_t sku = nd_blob_clamp(ev->product.sku);
        nd_str_t cat = nd_blob_clamp(ev->product.category);
        struct sku_rec *k;
        for (uint32_t i = 0; i < v->sku_cnt; i++) {
                k = &v->skus[i];
                if (k->sku.len == sku.len &&
                    !memcmp(k->sku.p, sku.p, sku.len)) {
                        if (ev->timestamp > k->ts)
                                k->ts = ev->timestamp;
                        k->count++;
                        k->seq = v->views;
                        if (ev->product.has_price) {
                                k->price = ev->product.price_cents;
                                k->has_price = true;
                        }
                        return false;
                }
        }
        if (v->sku_cnt >= MAX_SKUS)
                return false; /* counted in views, not ranked */
        k = &v->skus[v->sku_cnt++];
        k->sku = sku;
        k->cat = cat;
        k->ts = ev->timestamp;
        k->price = ev->product.has_price ? ev->product.price_cents : 0;
        k->has_price = ev->product.has_price;
        k->count = 1;
        k->seq = v->views;
        return true;
}

static void on_view(nd_ctx_t *ctx, struct ba_state *s, const nd_event_t *ev) {
        const struct ba_conf *c = s->conf;
        nd_entry_t *e = nd_ctx_get(ctx, ev->key);
        struct sess *v = &s->cur;
        int64_t t = ev->timestamp;
        bool added;

        if (!e && !(e = nd_ctx_upsert(ctx, ev->key, NULL)))
                return;
        load(s, e);
        if (v->flags & F_SESSION) {
                if (t < nd_time_add_sat(v->start, -c->session_gap))
                        return; /* older than the session: ignored */
                if (t > nd_time_add_sat(v->latest, c->session_gap))
                        drop_session(v); /* a new session */
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
        v->event_id = nd_blob_clamp(ev->event_id);
        v->device_id = nd_blob_clamp(ev->device_id);
        v->channel = (uint8_t)ev->channel;
        if (ev->key_is_customer)
                v->flags |= F_CUSTOMER;
        else
                v->flags &= (uint8_t)~F_CUSTOMER;
        added = count_sku(v, ev);
        if (store(ctx, s, e) != ND_OK && added) {
                /* Out of memory: keep the view counted, the sku unranked. */
                v->sku_cnt--;
                (void)store(ctx, s, e);
        }
        nd_ctx_timer_set(ctx, e, nd_time_add_sat(t, c->delay));
}

static void ba_process(nd_ctx_t *ctx, void *state, const nd_rec_t *rec) {
        struct ba_state *s = state;
        const nd_event_t *ev = rec->ev;
        nd_entry_t *e;

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
                load(s, e);
                if (!(s->cur.flags & F_SESSION))
                        return;
                drop_session(&s->cur);
                nd_ctx_timer_clear(ctx, e);
                after_session(ctx, s, e);
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
                         int64_t due) {
        const struct ba_conf *c = s->conf;
        const struct sess *v = &s->cur;
        const char *name = nd_ctx_name(ctx);
        nd_str_t key = nd_entry_key(e);
        nd_str_t event_id = v->event_id;
        nd_str_t parts[3];
        nd_action_t act = {0};
        uint32_t n = v->sku_cnt;
        char id[33];

        for (uint32_t i = 0; i < n; i++) {
                const struct sku_rec *r = &v->skus[i];
                struct ranked *k = &s->rank[i];
                k->latest = r->ts;
                k->count = r->count;
                k->seq = r->seq;
                k->item = (nd_line_item_t){0};
                k->item.sku = r->sku;
                k->item.category = r->cat.len ? r->cat : ND_STR_NULL;
                k->item.quantity = r->count;
                k->item.has_price = r->has_price;
                k->item.price_cents = r->price;
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
        nd_act_set_key(&act, key, v->flags & F_CUSTOMER);
        act.channel = (nd_channel_t)v->channel;
        act.device_id = v->device_id;
        act.created_at = due;
        nd_act_set_expiry(&act, c->expires_after);
        act.items = s->items;
        act.item_cnt = n;
        act.source_event_ids = &event_id;
        act.source_event_cnt = 1;
        nd_ctx_emit(ctx, &act);
}

static void ba_timer(nd_ctx_t *ctx, void *state, nd_entry_t *e, int64_t due) {
        struct ba_state *s = state;
        const struct ba_conf *c = s->conf;
        struct sess *v = &s->cur;

        load(s, e);
        if (!(v->flags & F_SESSION))
                return; /* a cooldown timer of older state: nothing to do */
        if (v->views >= c->min_views) {
                bool cooling = (v->flags & F_EMITTED) &&
                               due < nd_time_add_sat(v->last_emit, c->cooldown);
                if (!cooling) {
                        emit_session(ctx, s, e, due);
                        v->last_emit = due;
                        v->flags |= F_EMITTED;
                }
        }
        drop_session(v);
        after_session(ctx, s, e);
}

const nd_processor_def_t nd_proc_browse_abandonment = {
    .abi = ND_PROCESSOR_ABI_1,
    .name = "browse_abandonment",
    .trigger = ND_TRIGGER_BROWSE_ABANDONMENT,
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
