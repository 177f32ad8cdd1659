/*
 * cart_abandonment — reminds a customer of an open cart (TRIGGERS.md §3,
 * §5; docs/triggers.md). OVERALL DESIGN
 *
 * One entry per customer with an open cart or a processed order: the cart
 * model of processors/lib/cart.h (lines, the last mutation and the last
 * order's time in the blob), the stage
 * the timer is armed for, and a small summary of the customer's activity for
 * the "active elsewhere" check. Every mutation that leaves the cart
 * non-empty re-arms the entry's timer at last_mutation + delays[0] (stage
 * 0); an empty cart disarms it; order_completed closes the cart and
 * disarms (the entry stays: the cart model remembers the order's time). On
 * firing the stage either postpones (the customer was active in the
 * min_inactivity before the due time) or emits and arms the next stage at
 * last_mutation + delays[i+1].
 *
 * The activity summary. The check needs, for a due time D, the latest
 * timestamp t <= D among the events applied so far (events arrive out of
 * order, so "latest" is by value, not by arrival). We keep the ACTIVITY_KEEP
 * largest distinct timestamps seen since the entry was created, plus
 * `floor`, the largest timestamp we dropped (every dropped one is <= floor
 * < every kept one). If some kept timestamp is <= D, the largest of them is
 * the exact answer; else if floor <= D, floor is; else (more than
 * ACTIVITY_KEEP distinct timestamps after D were applied before D fired —
 * only when a late mutation armed a timer far in the past) the answer is
 * unknown and we postpone to floor + min_inactivity: conservative, the
 * action then comes later than the exact rule says, never earlier. Events
 * of the customer before the entry exists (no open cart, no order) are not
 * recorded; they are at least delays[0] - min_inactivity older than
 * the first due time, unless the input is that far out of order.
 */
#include <inttypes.h>
#include <stdio.h>

#include "nudge/processor.h"

#include "act.h"
#include "blob.h"
#include "cart.h"

#define ACTIVITY_KEEP 4

enum { F_HAS_FLOOR = 0x1 };

struct ca_conf {
        nd_cfg_durations_t delays;
        int64_t min_inactivity;
        int64_t expires_after;
};

struct ca_val {
        nd_cart_t cart;
        int64_t recent[ACTIVITY_KEEP]; /* distinct timestamps, descending */
        int64_t floor;                 /* largest dropped timestamp */
        uint32_t used;                 /* blob bytes in use */
        uint8_t recent_cnt;
        uint8_t stage; /* the stage the timer is armed for */
        uint8_t flags; /* F_* */
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

/* Records an applied event's timestamp in the activity summary. */
static void activity_note(struct ca_val *v, int64_t t) {
        int i;
        for (i = 0; i < v->recent_cnt; i++)
                if (v->recent[i] == t)
                        return;
        if (v->recent_cnt == ACTIVITY_KEEP) {
                int64_t low = v->recent[ACTIVITY_KEEP - 1];
                int64_t drop = t < low ? t : low;
                if (!(v->flags & F_HAS_FLOOR) || drop > v->floor)
                        v->floor = drop;
                v->flags |= F_HAS_FLOOR;
                if (t < low)
                        return;
                v->recent_cnt--;
        }
        for (i = v->recent_cnt; i > 0 && v->recent[i - 1] < t; i--)
                v->recent[i] = v->recent[i - 1];
        v->recent[i] = t;
        v->recent_cnt++;
}

enum { LATEST_NONE, LATEST_FOUND, LATEST_UNKNOWN };

/* The latest applied timestamp <= D (see the design note). */
static int activity_latest(const struct ca_val *v, int64_t D, int64_t *t) {
        for (int i = 0; i < v->recent_cnt; i++) {
                if (v->recent[i] <= D) {
                        *t = v->recent[i];
                        return LATEST_FOUND;
                }
        }
        if (!(v->flags & F_HAS_FLOOR))
                return LATEST_NONE;
        *t = v->floor;
        return v->floor <= D ? LATEST_FOUND : LATEST_UNKNOWN;
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
        activity_note(v, ev->timestamp);
        if (ev->type == ND_EV_ORDER_COMPLETED) {
                /* Closes the cart, keeps its timestamp and the activity. */
                nd_ctx_timer_clear(ctx, e);
                if (nd_cart_order(ctx, e, &v->cart, &v->used, ev->timestamp))
                        nd_ctx_log(ctx, ND_CTX_WARN,
                                   "event %.*s: order not remembered",
                                   (int)ev->event_id.len, ev->event_id.p);
                nd_ctx_changed(ctx, e);
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
        int64_t t = 0;
        int latest;

        if (nd_cart_is_empty(&v->cart) || v->stage >= c->delays.cnt)
                return; /* a stale timer; nothing is pending */
        if (c->min_inactivity > 0) {
                latest = activity_latest(v, due, &t);
                if (latest == LATEST_UNKNOWN ||
                    (latest == LATEST_FOUND && t > due - c->min_inactivity)) {
                        /* Active elsewhere. t + min_inactivity > due, so
                         * the check always moves forward. */
                        nd_ctx_timer_set(ctx, e,
                                         nd_time_add_sat(t, c->min_inactivity));
                        return;
                }
        }
        emit_stage(ctx, s, e, v, due);
        v->stage++;
        if (v->stage < c->delays.cnt)
                nd_ctx_timer_set(
                    ctx, e,
                    nd_time_add_sat(v->cart.mut_ts, c->delays.ms[v->stage]));
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
