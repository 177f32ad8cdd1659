/*
 * passthrough — the reference processor. OVERALL DESIGN: it forwards every
 * input record, key and value unchanged, to the actions topic; with
 * `quiet_after` set it also keeps, per customer, how many events it saw and
 * arms the customer's timer at the last event's time + quiet_after; when the
 * timer fires (nobody heard from the customer for that long, in event time)
 * it logs the fact and forgets the customer.
 *
 * It exists to show every hook and every kind of state of the processor API
 * in the simplest form (as haproxy's flt_trace and fluent-bit's in_dummy
 * do): configuration, per-task state, keyed state that goes to the
 * changelog, a timer, init/process/on_timer/close. Copy it to start a new
 * processor.
 */
#include <stddef.h>
#include <stdint.h>

#include "nudge/processor.h"

struct passthrough_conf {
        bool log_records;
        int64_t quiet_after; /* ms; 0 = keep no state */
};

/* Per task: counters, not persisted. */
struct passthrough {
        const struct passthrough_conf *conf;
        uint64_t seen;
        uint64_t forwarded;
        uint64_t went_quiet;
};

/* Per customer: persisted through the changelog; plain bytes only. */
struct customer {
        uint64_t events;
        int64_t last_ts;
};

static const nd_cfg_prop_t props[] = {
    ND_CFG_BOOL("log_records", "false",
                offsetof(struct passthrough_conf, log_records),
                "Log every record at debug level."),
    ND_CFG_DURATION("quiet_after", "0",
                    offsetof(struct passthrough_conf, quiet_after), 0,
                    ND_DAY(365),
                    "When set, log (at debug level) each customer who has "
                    "been quiet for this long in event time, then forget "
                    "them. 0 keeps no per-customer state."),
    ND_CFG_END};

static nd_err_t pt_init(nd_ctx_t *ctx, void *state, const void *conf) {
        struct passthrough *pt = state;
        pt->conf = conf;
        return ND_OK;
}

static void pt_process(nd_ctx_t *ctx, void *state, const nd_rec_t *rec) {
        struct passthrough *pt = state;
        pt->seen++;
        if (pt->conf->log_records)
                nd_ctx_log(ctx, ND_CTX_DEBUG, "%s [%d] @%lld: %zu bytes",
                           rec->topic, (int)rec->partition,
                           (long long)rec->offset, rec->value_len);
        if (nd_ctx_forward(ctx, rec->key, rec->key_len, rec->value,
                           rec->value_len) == ND_OK)
                pt->forwarded++;
        if (pt->conf->quiet_after > 0 && rec->ev) {
                nd_entry_t *e = nd_ctx_upsert(ctx, rec->ev->key, NULL);
                struct customer *c;
                if (!e)
                        return;
                c = nd_entry_value(e);
                c->events++;
                if (rec->ev->timestamp > c->last_ts)
                        c->last_ts = rec->ev->timestamp;
                nd_ctx_changed(ctx, e);
                nd_ctx_timer_set(ctx, e, c->last_ts + pt->conf->quiet_after);
        }
}

static void pt_on_timer(nd_ctx_t *ctx, void *state, nd_entry_t *e,
                        int64_t due) {
        struct passthrough *pt = state;
        const struct customer *c = nd_entry_value(e);
        nd_str_t key = nd_entry_key(e);
        pt->went_quiet++;
        nd_ctx_log(ctx, ND_CTX_DEBUG,
                   "%.*s quiet since %lld (%llu events), as of %lld",
                   (int)key.len, key.p, (long long)c->last_ts,
                   (unsigned long long)c->events, (long long)due);
        nd_ctx_delete(ctx, e);
}

static void pt_close(nd_ctx_t *ctx, void *state) {
        struct passthrough *pt = state;
        nd_ctx_log(ctx, ND_CTX_INFO,
                   "partition %d: %llu records seen, %llu forwarded, %llu "
                   "customers went quiet",
                   (int)nd_ctx_partition(ctx), (unsigned long long)pt->seen,
                   (unsigned long long)pt->forwarded,
                   (unsigned long long)pt->went_quiet);
}

const nd_processor_def_t nd_proc_passthrough = {
    .abi = ND_PROCESSOR_ABI_1,
    .name = "passthrough",
    .trigger = ND_TRIGGER_NONE,
    .doc = "Forwards every input record unchanged to the actions topic; "
           "optionally tracks when each customer goes quiet. The reference "
           "processor: a template for new ones.",
    .config = props,
    .config_size = sizeof(struct passthrough_conf),
    .state_size = sizeof(struct passthrough),
    .value_size = sizeof(struct customer),
    .init = pt_init,
    .process = pt_process,
    .on_timer = pt_on_timer,
    .close = pt_close,
};
