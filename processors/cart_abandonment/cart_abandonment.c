/*
 * cart_abandonment — reminds a customer of an open cart (TRIGGERS.md §3,
 * §5; docs/triggers.md). OVERALL DESIGN
 *
 * One entry per customer with an open cart or a processed order: the cart
 * model of processors/lib/cart.h (lines, the last mutation and the last
 * order's time in the blob), the stage the timer is armed for, and the
 * customer's activity for the "active elsewhere" check. Every mutation that
 * leaves the cart non-empty re-arms the entry's timer at last_mutation +
 * delays[0] (stage 0); an empty cart disarms it; order_completed closes the
 * cart and disarms (the entry stays: the cart model remembers the order's
 * time). On firing the stage either postpones (the customer was active in the
 * min_inactivity before the due time) or emits and arms the next stage at
 * last_mutation + delays[i+1].
 *
 * The activity summary. The check at a due time D asks for the latest
 * applied timestamp t in (D - min_inactivity, D] and repeats at t +
 * min_inactivity; repeated, it lands on the first instant at or after D
 * that no interval [t, t + min_inactivity) of an applied event covers: the
 * end of the component of their union that contains D (t in (D - m, D] is
 * D in [t, t + m)). So the entry keeps that union, exactly, as a sorted list
 * of disjoint, non-adjacent half-open intervals in the blob after the cart
 * (an event inside or next to one extends it; one interval per visit), and
 * a firing either finds D in an interval [s, e) and moves to e, or fires.
 * Events arrive out of order and are applied whenever they come, so the
 * union at each check is the one the contract's rule sees then: exact.
 *
 * What can be dropped. A future check is at or after the unpostponed due
 * time of the armed stage (last_mutation + delays[stage]) or comes from a
 * future mutation; a late one may be stamped anywhere, but never at or
 * before the last order (those are no mutations, TRIGGERS.md §5), so its
 * check is after last_order + delays[0]. An interval that ends at or before
 * the smaller of the two can never contain a check again and is dropped
 * after every event and firing. A customer who never ordered has no such
 * bound: the list is capped at MAX_INTERVALS and, past it, the two oldest
 * intervals merge (the gap between them counts as activity: a check that
 * lands in it fires later than the contract says, never earlier). Reaching
 * the cap takes 64 separate visits (1 KiB of intervals) while one cart
 * stays open, then a mutation stamped before most of them; 16 was reached
 * by the differential tests' traces (tests/diff), 64 is not.
 * Events of the customer before the entry exists (no open cart, no order)
 * are not recorded: they are at least delays[0] - min_inactivity older
 * than the first due time unless the input is that far out of order.
 */
#include <inttypes.h>
#include <stdio.h>

#include "nudge/processor.h"

#include "act.h"
#include "blob.h"
#include "cart.h"

#define MAX_INTERVALS 64
#define IV_SIZE       16 /* start i64, end i64 */

struct ca_conf {
        nd_cfg_durations_t delays;
        int64_t min_inactivity;
        int64_t expires_after;
};

struct ca_val {
        nd_cart_t cart;
        uint32_t used;   /* blob bytes in use */
        uint16_t iv_cnt; /* activity intervals after the cart in the blob */
        uint8_t stage;   /* the stage the timer is armed for */
        uint8_t pad;
};

struct ca_state {
        const struct ca_conf *conf;
        nd_line_item_t items[ND_CART_MAX_LINES];
};

static const nd_cfg_prop_t ca_props[] = {
    ND_CFG_DURATIONS("delays", "[1h, 24h]", offsetof(struct ca_conf, delays), 0,
                     ND_DAY(365),
                     "Reminder stages: stage `i` is due at the last cart "
                     "mutation's time + `delays[i]`. Non-empty, strictly "
                     "increasing, at most 16."),
    ND_CFG_DURATION("min_inactivity", "10m",
                    offsetof(struct ca_conf, min_inactivity), 0, ND_DAY(30),
                    "A stage whose due time D has an event of the customer "
                    "in (D - min_inactivity, D] moves to that event's time + "
                    "min_inactivity (\"active elsewhere\"). 0 turns the check "
                    "off."),
    ND_ACT_CFG_EXPIRES_AFTER("12h", offsetof(struct ca_conf, expires_after)),
    ND_CFG_END};

static nd_err_t ca_check(const void *conf, char *errstr, size_t errstr_size) {
        const struct ca_conf *c = conf;
        if (c->delays.cnt < 1) {
                snprintf(errstr, errstr_size,
                         "delays: at least one delay is needed");
                return ND_ERR_CONFIG;
        }
        for (int i = 1; i < c->delays.cnt; i++) {
                if (c->delays.ms[i] <= c->delays.ms[i - 1]) {
                        snprintf(
                            errstr, errstr_size,
                            "delays: must be strictly increasing "
                            "(delays[%d] = %" PRId64
                            " ms is not after delays[%d] = %" PRId64 " ms)",
                            i, c->delays.ms[i], i - 1, c->delays.ms[i - 1]);
                        return ND_ERR_CONFIG;
                }
        }
        return ND_OK;
}

static nd_err_t ca_init(nd_ctx_t *ctx, void *state, const void *conf) {
        struct ca_state *s = state;
        s->conf = conf;
        return ND_OK;
}

/* The activity intervals, copied out of the blob (at most MAX_INTERVALS + 1
 * while one is inserted). */
struct ivs {
        int64_t s[MAX_INTERVALS + 1], e[MAX_INTERVALS + 1];
        int n;
};

static void ivs_load(nd_entry_t *e, const struct ca_val *v, struct ivs *iv) {
        const uint8_t *b = nd_blob_bytes(e) + v->cart.len;
        iv->n = v->iv_cnt;
        for (int i = 0; i < iv->n; i++) {
                iv->s[i] = nd_blob_get_i64(b + IV_SIZE * i);
                iv->e[i] = nd_blob_get_i64(b + IV_SIZE * i + 8);
        }
}

static void ivs_store(nd_ctx_t *ctx, nd_entry_t *e, struct ca_val *v,
                      const struct ivs *iv) {
        uint8_t buf[IV_SIZE * (MAX_INTERVALS + 1)];
        for (int i = 0; i < iv->n; i++) {
                nd_blob_put_i64(buf + IV_SIZE * i, iv->s[i]);
                nd_blob_put_i64(buf + IV_SIZE * i + 8, iv->e[i]);
        }
        if (iv->n == v->iv_cnt &&
            (!iv->n || !memcmp(buf, nd_blob_bytes(e) + v->cart.len,
                               (size_t)iv->n * IV_SIZE)))
                return; /* unchanged */
        /* A failed growth leaves the old list: a missed interval only
         * makes a check fire earlier; logged. */
        if (nd_blob_splice(ctx, e, &v->used, v->cart.len,
                           (uint32_t)v->iv_cnt * IV_SIZE, buf,
                           (uint32_t)iv->n * IV_SIZE) != ND_OK) {
                nd_ctx_log(ctx, ND_CTX_WARN, "activity not recorded");
                return;
        }
        v->iv_cnt = (uint16_t)iv->n;
}

/* Adds [t, t + m) to the union (see the design note). */
static void iv_add(struct ivs *iv, int64_t t, int64_t m) {
        int64_t a = t, b = nd_time_add_sat(t, m);
        int i = 0, j;
        while (i < iv->n && iv->e[i] < a)
                i++; /* intervals [0, i) end before a, not adjacent */
        for (j = i; j < iv->n && iv->s[j] <= b; j++) {
                if (iv->s[j] < a)
                        a = iv->s[j];
                if (iv->e[j] > b)
                        b = iv->e[j];
        }
        /* [i, j) merge into [a, b) */
        if (j - i != 1) {
                int shift = 1 - (j - i);
                memmove(&iv->s[j + shift], &iv->s[j],
                        sizeof(int64_t) * (size_t)(iv->n - j));
                memmove(&iv->e[j + shift], &iv->e[j],
                        sizeof(int64_t) * (size_t)(iv->n - j));
                iv->n += shift;
        }
        iv->s[i] = a;
        iv->e[i] = b;
        if (iv->n > MAX_INTERVALS) {
                /* The fallback: the two oldest merge (design note). */
                iv->e[0] = iv->e[1];
                memmove(&iv->s[1], &iv->s[2],
                        sizeof(int64_t) * (size_t)(iv->n - 2));
                memmove(&iv->e[1], &iv->e[2],
                        sizeof(int64_t) * (size_t)(iv->n - 2));
                iv->n--;
        }
}

/* Drops the intervals that can contain no future check (design note). */
static void iv_prune(const struct ca_conf *c, nd_entry_t *e,
                     const struct ca_val *v, struct ivs *iv) {
        int64_t bound = INT64_MAX, order_ts;
        int k = 0;
        if (nd_entry_timer_armed(e) && v->stage < c->delays.cnt)
                bound = nd_time_add_sat(v->cart.mut_ts, c->delays.ms[v->stage]);
        if (!nd_cart_last_order(e, &v->cart, &order_ts))
                return; /* a late mutation may be stamped anywhere */
        order_ts = nd_time_add_sat(order_ts, 1);
        if (nd_time_add_sat(order_ts, c->delays.ms[0]) < bound)
                bound = nd_time_add_sat(order_ts, c->delays.ms[0]);
        while (k < iv->n && iv->e[k] <= bound)
                k++;
        if (!k)
                return;
        memmove(&iv->s[0], &iv->s[k], sizeof(int64_t) * (size_t)(iv->n - k));
        memmove(&iv->e[0], &iv->e[k], sizeof(int64_t) * (size_t)(iv->n - k));
        iv->n -= k;
}

/* Records an applied event at t, then prunes. */
static void activity_note(nd_ctx_t *ctx, const struct ca_conf *c, nd_entry_t *e,
                          struct ca_val *v, int64_t t) {
        struct ivs iv;
        if (c->min_inactivity <= 0)
                return;
        ivs_load(e, v, &iv);
        iv_add(&iv, t, c->min_inactivity);
        iv_prune(c, e, v, &iv);
        ivs_store(ctx, e, v, &iv);
}

/* Re-prunes after a firing or an order moved the bound. */
static void activity_prune(nd_ctx_t *ctx, const struct ca_conf *c,
                           nd_entry_t *e, struct ca_val *v) {
        struct ivs iv;
        int n;
        if (!v->iv_cnt)
                return;
        ivs_load(e, v, &iv);
        n = iv.n;
        iv_prune(c, e, v, &iv);
        if (iv.n != n)
                ivs_store(ctx, e, v, &iv);
}

/* The end of the activity interval containing D, or D when none does. */
static int64_t activity_until(nd_entry_t *e, const struct ca_val *v,
                              int64_t D) {
        const uint8_t *b = nd_blob_bytes(e) + v->cart.len;
        for (uint16_t i = 0; i < v->iv_cnt; i++) {
                int64_t s = nd_blob_get_i64(b + IV_SIZE * i);
                int64_t end = nd_blob_get_i64(b + IV_SIZE * i + 8);
                if (s > D)
                        break;
                if (D < end)
                        return end;
        }
        return D;
}

static void ca_process(nd_ctx_t *ctx, void *state, const nd_rec_t *rec) {
        const struct ca_state *s = state;
        const nd_event_t *ev = rec->ev;
        struct ca_val *v;
        nd_entry_t *e;
        int r;

        if (!ev || !(e = nd_cart_entry(ctx, ev)))
                return; /* no cart to track */
        v = nd_entry_value(e);
        if (ev->type == ND_EV_ORDER_COMPLETED) {
                /* Closes the cart, keeps its timestamp and the activity. */
                nd_ctx_timer_clear(ctx, e);
                if (nd_cart_order(ctx, e, &v->cart, &v->used, ev->timestamp))
                        nd_ctx_log(ctx, ND_CTX_WARN,
                                   "event %.*s: order not remembered",
                                   (int)ev->event_id.len, ev->event_id.p);
                activity_note(ctx, s->conf, e, v, ev->timestamp);
                nd_ctx_changed(ctx, e);
                return;
        }
        if (!nd_cart_is_cart_event(ev)) {
                /* The cart is unchanged: only the activity is (it marks
                 * the entry changed itself). */
                activity_note(ctx, s->conf, e, v, ev->timestamp);
                return;
        }
        r = nd_cart_apply(ctx, e, &v->cart, &v->used, ev);
        if (r < 0)
                nd_ctx_log(ctx, ND_CTX_WARN, "event %.*s: cart not updated: %s",
                           (int)ev->event_id.len, ev->event_id.p,
                           nd_err_str((nd_err_t)r));
        if (r == ND_CART_MUTATED && !nd_cart_is_empty(&v->cart)) {
                v->stage = 0;
                nd_ctx_timer_set(
                    ctx, e,
                    nd_time_add_sat(v->cart.mut_ts, s->conf->delays.ms[0]));
        } else if (nd_cart_is_empty(&v->cart)) {
                nd_ctx_timer_clear(ctx, e);
        }
        /* After the cart: the prune bound depends on the armed stage. */
        activity_note(ctx, s->conf, e, v, ev->timestamp);
        nd_ctx_changed(ctx, e);
}

static void emit_stage(nd_ctx_t *ctx, struct ca_state *s, nd_entry_t *e,
                       struct ca_val *v, int64_t due) {
        const char *name = nd_ctx_name(ctx);
        char stage_txt[8], id[33];
        nd_str_t key = nd_entry_key(e);
        nd_str_t event_id = nd_cart_event_id(e, &v->cart);
        nd_str_t parts[4];
        nd_action_t act = {0};

        snprintf(stage_txt, sizeof(stage_txt), "%u", (unsigned)v->stage);
        parts[0] = (nd_str_t){name, (uint32_t)strlen(name)};
        parts[1] = key;
        parts[2] = event_id;
        parts[3] = (nd_str_t){stage_txt, (uint32_t)strlen(stage_txt)};
        nd_action_id(parts, 4, id);

        act.action_id = (nd_str_t){id, 32};
        nd_act_set_key(&act, key, v->cart.flags & ND_CART_F_CUSTOMER);
        act.channel = (nd_channel_t)v->cart.mut_channel;
        act.device_id = nd_cart_device_id(e, &v->cart);
        act.stage = v->stage;
        act.created_at = due;
        nd_act_set_expiry(&act, s->conf->expires_after);
        act.cart_id = nd_cart_id(e, &v->cart);
        act.item_cnt = nd_cart_items(e, &v->cart, s->items, &act.value_cents,
                                     &act.has_value);
        act.items = s->items;
        act.currency = nd_cart_currency(e, &v->cart);
        act.source_event_ids = &event_id;
        act.source_event_cnt = 1;
        nd_ctx_emit(ctx, &act);
}

static void ca_timer(nd_ctx_t *ctx, void *state, nd_entry_t *e, int64_t due) {
        struct ca_state *s = state;
        const struct ca_conf *c = s->conf;
        struct ca_val *v = nd_entry_value(e);
        int64_t until;

        if (nd_cart_is_empty(&v->cart) || v->stage >= c->delays.cnt)
                return; /* a stale timer; nothing is pending */
        until = activity_until(e, v, due);
        if (until > due) {
                /* Active elsewhere: the check repeats until the end of
                 * the activity interval containing due (design note). */
                nd_ctx_timer_set(ctx, e, until);
                return;
        }
        emit_stage(ctx, s, e, v, due);
        v->stage++;
        if (v->stage < c->delays.cnt)
                nd_ctx_timer_set(
                    ctx, e,
                    nd_time_add_sat(v->cart.mut_ts, c->delays.ms[v->stage]));
        activity_prune(ctx, c, e, v);
        nd_ctx_changed(ctx, e);
}

const nd_processor_def_t nd_proc_cart_abandonment = {
    .abi = ND_PROCESSOR_ABI_1,
    .name = "cart_abandonment",
    .trigger = ND_TRIGGER_CART_ABANDONMENT,
    .doc = "Reminds a customer of an open, non-empty cart `delays[i]` after "
           "the last cart mutation, one action per stage, postponed while "
           "the customer is active elsewhere (TRIGGERS.md §3; "
           "docs/triggers.md).",
    .config = ca_props,
    .config_size = sizeof(struct ca_conf),
    .config_check = ca_check,
    .state_size = sizeof(struct ca_state),
    .value_size = sizeof(struct ca_val),
    .init = ca_init,
    .process = ca_process,
    .on_timer = ca_timer,
};
