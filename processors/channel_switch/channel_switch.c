/*
 * channel_switch — cross-device continuation: a customer who filled a cart
 * on one channel or device (A) and shows up on another (B) soon after gets
 * a "continue where you left off" action on B (TRIGGERS.md §3, §5;
 * docs/triggers.md). OVERALL DESIGN
 *
 * One entry per customer with an open cart or a processed order: its own
 * copy of the cart model (processors/lib/cart.h; A is the last mutation's
 * channel and device) and, in the blob after the cart and the emitted set
 * (below), one packed record per pending instance, keyed by
 * (cart_id, B), B being the first B event's device_id when set, else its
 * channel name:
 *
 *     [due i64][len u32][cart opened_ts i64][5 x u16 string lengths]
 *     [B channel u8][A channel u8][state u8][flags u8][pad 2]
 *     [cart_id][B][A's device_id][B event_id][A mutation event_id]
 *
 * A record is a PENDING instance (timer at first B event + grace); a
 * cancelled, silently ended or emitted one is removed. "At most one action
 * per cart and device B" for the life of the entry, also across orders, is
 * kept by the emitted set: the first 64 bits of the action_id of every
 * instance that emitted (the id is a hash of the trigger name, the key, the
 * cart part and B, so within one entry it names the pair; a 64-bit
 * collision is negligible), packed between the cart and the records, at
 * most MAX_DONE of them (the oldest goes past that: 512 cross-device
 * actions to one customer while their state lives, not reached in
 * practice). The entry's one timer is armed at the earliest pending due
 * time; on firing, the instances due then are handled in the byte order of
 * their reference, the cart part then B (TRIGGERS.md §5). Pending records
 * are bounded by MAX_RECORDS: none starts when all are pending.
 * order_completed closes the cart and cancels every pending instance; the
 * entry stays (the last order's timestamp, cart.h, and the emitted set).
 *
 * A cart without a cart_id is told apart from the customer's later carts
 * by the time it was opened: the record keeps it, and the action_id's cart
 * part is then "@" and that time in decimal ms (docs/triggers.md), so that
 * a new cart after an order gets a new action_id.
 */
#include <stdio.h>

#include "nudge/processor.h"

#include "act.h"
#include "blob.h"
#include "cart.h"

#define MAX_RECORDS 16
#define MAX_DONE    512

#define I_DUE    0
#define I_LEN    8
#define I_OPENED 12 /* the cart's opened_ts */
#define I_SLEN   20 /* 5 x u16 */
#define I_BCH    30
#define I_ACH    31
#define I_STATE  32
#define I_FLAGS  33
#define I_GAP    36 /* B.timestamp - mutation timestamp, for the action */
#define I_HDR    44

enum { S_CART = 0, S_B, S_ADEV, S_BEVENT, S_AEVENT, S__CNT };
/* ST_DONE_V0: an emitted instance as versions before the emitted set kept
 * it (a record that stayed); upgrade() turns them into set entries. */
enum { ST_PENDING = 0, ST_DONE_V0 = 1 };
enum { IF_B_IS_DEVICE = 0x1, IF_CUSTOMER = 0x2 };

struct cs_conf {
        uint32_t channels;
        int64_t switch_window;
        int64_t grace;
        int64_t expires_after;
};

struct cs_val {
        nd_cart_t cart;
        uint32_t used;     /* blob bytes in use */
        uint16_t rec_cnt;  /* pending instance records after the set */
        uint16_t done_cnt; /* emitted set (u64 each) after the cart */
};

struct cs_state {
        const struct cs_conf *conf;
        nd_line_item_t items[ND_CART_MAX_LINES];
        uint8_t rec[I_HDR + S__CNT * ND_BLOB_STR_MAX];
};

static const char *const channel_names[] = {
    "web", "app", "email", "sms", "push", "whatsapp", "store", "other", NULL};

static const nd_cfg_prop_t cs_props[] = {
    ND_CFG_ENUMSET("channels", "[web, app, store]",
                   offsetof(struct cs_conf, channels), channel_names,
                   "Channels on which a B event counts."),
    ND_CFG_DURATION("switch_window", "30m",
                    offsetof(struct cs_conf, switch_window), 0, ND_DAY(30),
                    "A B event counts when it is at most this after the last "
                    "cart mutation (and not before it)."),
    ND_CFG_DURATION("grace", "10m", offsetof(struct cs_conf, grace), 0,
                    ND_DAY(30),
                    "The instance fires at the first B event + grace unless "
                    "the customer mutates the cart on B or orders."),
    ND_ACT_CFG_EXPIRES_AFTER("1h", offsetof(struct cs_conf, expires_after)),
    ND_CFG_END};

static nd_err_t cs_init(nd_ctx_t *ctx, void *state, const void *conf) {
        struct cs_state *s = state;
        s->conf = conf;
        return ND_OK;
}

/* ---- instance records -------------------------------------------- */

static nd_str_t rec_str(const uint8_t *r, int which) {
        uint32_t off = I_HDR;
        uint16_t len;
        for (int i = 0; i < which; i++)
                off += nd_blob_get_u16(r + I_SLEN + 2 * i);
        len = nd_blob_get_u16(r + I_SLEN + 2 * which);
        return len ? (nd_str_t){(const char *)r + off, len} : ND_STR_NULL;
}

static uint32_t rec_len(const uint8_t *r) {
        return nd_blob_get_u32(r + I_LEN);
}

/* Offset of the first instance record (after the cart and the set). */
static uint32_t recs_off(const struct cs_val *v) {
        return v->cart.len + 8u * v->done_cnt;
}

/* The reference's cart part: cart_id, or "@" and the opening time. */
static nd_str_t cart_part(nd_str_t cart_id, int64_t opened, char buf[24]) {
        int n;
        if (!nd_str_is_null(cart_id))
                return nd_blob_clamp(cart_id);
        n = snprintf(buf, 24, "@%lld", (long long)opened);
        return (nd_str_t){buf, (uint32_t)n};
}

/* The pair's key in the emitted set: the action_id's first 64 bits. */
static uint64_t pair_hash(nd_ctx_t *ctx, nd_str_t key, nd_str_t cart,
                          nd_str_t b, char id[33]) {
        const char *name = nd_ctx_name(ctx);
        nd_str_t parts[4] = {{name, (uint32_t)strlen(name)}, key, cart, b};
        uint64_t h = 0;
        nd_action_id(parts, 4, id);
        for (int i = 0; i < 16; i++) {
                char c = id[i];
                h = h << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        return h;
}

static bool done_has(nd_entry_t *e, const struct cs_val *v, uint64_t h) {
        const uint8_t *b = nd_blob_bytes(e) + v->cart.len;
        for (uint16_t i = 0; i < v->done_cnt; i++) {
                uint64_t x;
                memcpy(&x, b + 8u * i, 8);
                if (x == h)
                        return true;
        }
        return false;
}

static void done_add(nd_ctx_t *ctx, nd_entry_t *e, struct cs_val *v,
                     uint64_t h) {
        if (v->done_cnt >= MAX_DONE) {
                (void)nd_blob_splice(ctx, e, &v->used, v->cart.len, 8, NULL, 0);
                v->done_cnt--;
        }
        if (nd_blob_splice(ctx, e, &v->used, recs_off(v), 0, &h, 8) == ND_OK)
                v->done_cnt++;
        else
                nd_ctx_log(ctx, ND_CTX_WARN, "emitted set not updated");
}

/* Whether record r is about the open cart (cart_id, and the opening time
 * when there is no cart_id). */
static bool same_cart(const uint8_t *r, nd_str_t cart_id, int64_t opened) {
        if (!nd_str_eq(rec_str(r, S_CART), nd_blob_clamp(cart_id)))
                return false;
        return !nd_str_is_null(cart_id) ||
               nd_blob_get_i64(r + I_OPENED) == opened;
}

/* B's identity for ev: its device_id when set, else its channel's name. */
static nd_str_t b_identity(const nd_event_t *ev) {
        const char *ch;
        if (!nd_str_is_null(ev->device_id))
                return nd_blob_clamp(ev->device_id);
        ch = nd_channel_name(ev->channel);
        return (nd_str_t){ch, (uint32_t)strlen(ch)};
}

/* Whether ev happened on record r's B: the same identity (its device_id
 * when set, else its channel), and not on the instance's A (a B and its A
 * may share a device_id on two channels; "mutations on A do not cancel"
 * wins then). */
static bool on_b(const uint8_t *r, const nd_event_t *ev) {
        bool dev = !nd_str_is_null(ev->device_id);
        nd_str_t a_dev = rec_str(r, S_ADEV);
        if (dev != ((r[I_FLAGS] & IF_B_IS_DEVICE) != 0))
                return false;
        if (!dev ? (nd_channel_t)r[I_BCH] != ev->channel
                 : !nd_str_eq(rec_str(r, S_B), nd_blob_clamp(ev->device_id)))
                return false;
        return (nd_channel_t)r[I_ACH] != ev->channel ||
               (!nd_str_is_null(a_dev) && dev &&
                !nd_str_eq(a_dev, nd_blob_clamp(ev->device_id)));
}

static void remove_rec(nd_ctx_t *ctx, nd_entry_t *e, struct cs_val *v,
                       uint32_t off) {
        uint32_t len = rec_len(nd_blob_bytes(e) + off);
        (void)nd_blob_splice(ctx, e, &v->used, off, len, NULL, 0);
        v->rec_cnt--;
}

/* Entries restored from a changelog written before the emitted set may hold
 * ST_DONE_V0 records: each becomes an entry of the set. */
static void upgrade(nd_ctx_t *ctx, nd_entry_t *e, struct cs_val *v) {
        uint32_t off = recs_off(v);
        uint16_t i = 0;
        while (i < v->rec_cnt) {
                const uint8_t *r = nd_blob_bytes(e) + off;
                if (r[I_STATE] == ST_DONE_V0) {
                        char opened[24], id[33];
                        uint32_t rel = off - recs_off(v);
                        uint64_t h = pair_hash(
                            ctx, nd_entry_key(e),
                            cart_part(rec_str(r, S_CART),
                                      nd_blob_get_i64(r + I_OPENED), opened),
                            rec_str(r, S_B), id);
                        remove_rec(ctx, e, v, off);
                        done_add(ctx, e, v, h);
                        off = recs_off(v) + rel;
                        continue;
                }
                off += rec_len(r), i++;
        }
}

/* Arms the timer at the earliest pending instance, or disarms it. */
static void settle(nd_ctx_t *ctx, nd_entry_t *e, struct cs_val *v) {
        const uint8_t *b = nd_blob_bytes(e);
        uint32_t off = recs_off(v);
        int64_t first = INT64_MAX;
        for (uint16_t i = 0; i < v->rec_cnt; i++) {
                const uint8_t *r = b + off;
                if (nd_blob_get_i64(r + I_DUE) < first)
                        first = nd_blob_get_i64(r + I_DUE);
                off += rec_len(r);
        }
        if (first == INT64_MAX)
                nd_ctx_timer_clear(ctx, e);
        else
                nd_ctx_timer_set(ctx, e, first);
        nd_ctx_changed(ctx, e);
}

/* A mutation on B cancels B's pending instances; an order (ev NULL) all. */
static void cancel_on(nd_ctx_t *ctx, nd_entry_t *e, struct cs_val *v,
                      const nd_event_t *ev) {
        uint32_t off = recs_off(v);
        uint16_t i = 0;
        while (i < v->rec_cnt) {
                const uint8_t *r = nd_blob_bytes(e) + off;
                if (!ev || on_b(r, ev)) {
                        remove_rec(ctx, e, v, off);
                        continue;
                }
                off += rec_len(r), i++;
        }
}

/* Starts an instance for B event ev unless (cart_id, B) is pending or
 * emitted; true when it did. */
static bool maybe_start(nd_ctx_t *ctx, struct cs_state *s, nd_entry_t *e,
                        struct cs_val *v, const nd_event_t *ev) {
        const struct cs_conf *c = s->conf;
        const nd_cart_t *cart = &v->cart;
        nd_str_t a_dev = nd_cart_device_id(e, cart);
        nd_str_t cart_id = nd_cart_id(e, cart);
        nd_str_t b = b_identity(ev);
        nd_str_t strs[S__CNT];
        int64_t gap;
        uint32_t off = recs_off(v), len;
        uint8_t *buf = s->rec;
        char opened[24], id[33];

        if (!(cart->flags & ND_CART_F_MUTATED) || nd_cart_is_empty(cart) ||
            !(c->channels & (1u << ev->channel)))
                return false;
        if ((nd_channel_t)cart->mut_channel == ev->channel &&
            (nd_str_is_null(a_dev) || nd_str_is_null(ev->device_id) ||
             nd_str_eq(a_dev, nd_blob_clamp(ev->device_id))))
                return false; /* the same channel and device: not another one */
        if (__builtin_sub_overflow(ev->timestamp, cart->mut_ts, &gap) ||
            gap < 0 || gap > c->switch_window)
                return false;
        for (uint16_t i = 0; i < v->rec_cnt; i++) {
                const uint8_t *r = nd_blob_bytes(e) + off;
                if (same_cart(r, cart_id, cart->opened_ts) &&
                    nd_str_eq(rec_str(r, S_B), b))
                        return false; /* pending */
                off += rec_len(r);
        }
        if (v->rec_cnt >= MAX_RECORDS ||
            done_has(e, v,
                     pair_hash(ctx, nd_entry_key(e),
                               cart_part(cart_id, cart->opened_ts, opened), b,
                               id)))
                return false; /* full, or already emitted */
        strs[S_CART] = cart_id;
        strs[S_B] = b;
        strs[S_ADEV] = a_dev;
        strs[S_BEVENT] = ev->event_id;
        strs[S_AEVENT] = nd_cart_event_id(e, cart);
        memset(buf, 0, I_HDR);
        nd_blob_put_i64(buf + I_DUE, nd_time_add_sat(ev->timestamp, c->grace));
        nd_blob_put_i64(buf + I_OPENED, cart->opened_ts);
        nd_blob_put_i64(buf + I_GAP, gap);
        len = I_HDR;
        for (int i = 0; i < S__CNT; i++) {
                nd_str_t x = nd_blob_clamp(strs[i]);
                nd_blob_put_u16(buf + I_SLEN + 2 * i, (uint16_t)x.len);
                if (x.len)
                        memcpy(buf + len, x.p, x.len);
                len += x.len;
        }
        nd_blob_put_u32(buf + I_LEN, len);
        buf[I_BCH] = (uint8_t)ev->channel;
        buf[I_ACH] = cart->mut_channel;
        buf[I_STATE] = ST_PENDING;
        buf[I_FLAGS] = (nd_str_is_null(ev->device_id) ? 0 : IF_B_IS_DEVICE) |
                       (ev->key_is_customer ? IF_CUSTOMER : 0);
        if (nd_blob_splice(ctx, e, &v->used, v->used, 0, buf, len) != ND_OK)
                return false;
        v->rec_cnt++;
        return true;
}

static void cs_process(nd_ctx_t *ctx, void *state, const nd_rec_t *rec) {
        struct cs_state *s = state;
        const nd_event_t *ev = rec->ev;
        struct cs_val *v;
        nd_entry_t *e;
        int r;

        if (!ev || !(e = nd_cart_entry(ctx, ev)))
                return;
        v = nd_entry_value(e);
        if (v->rec_cnt)
                upgrade(ctx, e, v);
        if (ev->type == ND_EV_ORDER_COMPLETED) {
                /* Cancels every instance and closes the cart; the entry
                 * keeps the order's timestamp and the emitted set. */
                cancel_on(ctx, e, v, NULL);
                if (nd_cart_order(ctx, e, &v->cart, &v->used, ev->timestamp))
                        nd_ctx_log(ctx, ND_CTX_WARN,
                                   "event %.*s: order not remembered",
                                   (int)ev->event_id.len, ev->event_id.p);
                settle(ctx, e, v);
                return;
        }
        if (!nd_cart_is_cart_event(ev)) {
                /* The cart is unchanged: only a new instance changes the
                 * entry (most events of a customer who has one). */
                if (maybe_start(ctx, s, e, v, ev))
                        settle(ctx, e, v);
                return;
        }
        r = nd_cart_apply(ctx, e, &v->cart, &v->used, ev);
        if (r == ND_CART_MUTATED)
                cancel_on(ctx, e, v, ev); /* a mutation is never a B event */
        else if (r >= 0 && r != ND_CART_STALE)
                maybe_start(ctx, s, e, v, ev);
        settle(ctx, e, v);
}

static void emit_instance(nd_ctx_t *ctx, struct cs_state *s, nd_entry_t *e,
                          struct cs_val *v, const uint8_t *r, int64_t due,
                          uint64_t *hash) {
        nd_str_t key = nd_entry_key(e);
        nd_str_t sources[2];
        nd_action_t act = {0};
        char id[33], opened[24];

        *hash = pair_hash(ctx, key,
                          cart_part(rec_str(r, S_CART),
                                    nd_blob_get_i64(r + I_OPENED), opened),
                          rec_str(r, S_B), id);
        act.action_id = (nd_str_t){id, 32};
        nd_act_set_key(&act, key, r[I_FLAGS] & IF_CUSTOMER);
        act.channel = (nd_channel_t)r[I_BCH];
        if (r[I_FLAGS] & IF_B_IS_DEVICE)
                act.device_id = rec_str(r, S_B);
        act.from_channel = (nd_channel_t)r[I_ACH];
        act.has_from_channel = true;
        act.from_device_id = rec_str(r, S_ADEV);
        act.created_at = due;
        nd_act_set_expiry(&act, s->conf->expires_after);
        act.cart_id = rec_str(r, S_CART);
        act.item_cnt = nd_cart_items(e, &v->cart, s->items, &act.value_cents,
                                     &act.has_value);
        act.items = s->items;
        act.currency = nd_cart_currency(e, &v->cart);
        sources[0] = rec_str(r, S_AEVENT);
        sources[1] = rec_str(r, S_BEVENT);
        act.source_event_ids = sources;
        act.source_event_cnt = 2;
        act.gap_ms = nd_blob_get_i64(r + I_GAP);
        act.has_gap = true;
        nd_ctx_emit(ctx, &act);
}

/* Byte order of two records' references: the cart part, then B. */
static int ref_cmp(const uint8_t *x, const uint8_t *y) {
        char bx[24], by[24];
        nd_str_t p[2][2] = {
            {cart_part(rec_str(x, S_CART), nd_blob_get_i64(x + I_OPENED), bx),
             rec_str(x, S_B)},
            {cart_part(rec_str(y, S_CART), nd_blob_get_i64(y + I_OPENED), by),
             rec_str(y, S_B)}};
        int c = nd_str_cmp(p[0][0], p[1][0]);
        return c ? c : nd_str_cmp(p[0][1], p[1][1]);
}

static void cs_timer(nd_ctx_t *ctx, void *state, nd_entry_t *e, int64_t due) {
        struct cs_state *s = state;
        struct cs_val *v = nd_entry_value(e);
        upgrade(ctx, e, v);
        for (;;) {
                /* The first due record in reference order. */
                const uint8_t *b = nd_blob_bytes(e);
                uint32_t off = recs_off(v), best = 0;
                bool found = false;
                uint64_t h;
                for (uint16_t i = 0; i < v->rec_cnt; i++) {
                        const uint8_t *r = b + off;
                        if (nd_blob_get_i64(r + I_DUE) <= due &&
                            (!found || ref_cmp(r, b + best) < 0)) {
                                best = off;
                                found = true;
                        }
                        off += rec_len(r);
                }
                if (!found)
                        break;
                if ((v->cart.flags & ND_CART_F_OPEN) &&
                    !nd_cart_is_empty(&v->cart) &&
                    same_cart(b + best, nd_cart_id(e, &v->cart),
                              v->cart.opened_ts)) {
                        emit_instance(ctx, s, e, v, b + best, due, &h);
                        remove_rec(ctx, e, v, best);
                        done_add(ctx, e, v, h);
                } else {
                        remove_rec(ctx, e, v, best); /* ends silently */
                }
        }
        settle(ctx, e, v);
}

const nd_processor_def_t nd_proc_channel_switch = {
    .abi = ND_PROCESSOR_ABI_1,
    .name = "channel_switch",
    .trigger = ND_TRIGGER_CHANNEL_SWITCH,
    .doc = "Cross-device continuation: when a customer with an open cart "
           "shows up on another channel or device within `switch_window` of "
           "the last cart mutation, and neither changes the cart there nor "
           "orders within `grace`, aims a \"continue where you left off\" "
           "action at that channel and device (TRIGGERS.md §3; "
           "docs/triggers.md).",
    .config = cs_props,
    .config_size = sizeof(struct cs_conf),
    .state_size = sizeof(struct cs_state),
    .value_size = sizeof(struct cs_val),
    .init = cs_init,
    .process = cs_process,
    .on_timer = cs_timer,
};
