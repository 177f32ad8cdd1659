/*
 * passthrough — the reference processor. OVERALL DESIGN: it forwards every
 * input record, key and value unchanged, to the output topic, and counts what
 * it saw. It exists to show every hook of the processor API in the simplest
 * form (as haproxy's flt_trace and fluent-bit's in_dummy do) and to let the
 * pipeline be tested end to end before any trigger exists. Copy it to start
 * a new processor.
 */
#include <stddef.h>
#include <stdint.h>

#include "nudge/processor.h"

struct passthrough_conf {
        bool log_records;
};

struct passthrough {
        const struct passthrough_conf *conf;
        uint64_t seen;
        uint64_t forwarded;
};

static const nd_cfg_prop_t props[] = {
        ND_CFG_BOOL("log_records", "false",
                    offsetof(struct passthrough_conf, log_records),
                    "Log every record at debug level."),
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
                nd_ctx_log(ctx, ND_CTX_DEBUG, "%s [%d] @%lld: %zu bytes", rec->topic,
                           (int)rec->partition, (long long)rec->offset,
                           rec->value_len);
        if (nd_ctx_forward(ctx, rec->key, rec->key_len, rec->value,
                           rec->value_len) == ND_OK)
                pt->forwarded++;
}

static void pt_close(nd_ctx_t *ctx, void *state) {
        struct passthrough *pt = state;
        nd_ctx_log(ctx, ND_CTX_INFO, "partition %d: %llu records seen, %llu forwarded",
                   (int)nd_ctx_partition(ctx), (unsigned long long)pt->seen,
                   (unsigned long long)pt->forwarded);
}

const nd_processor_def_t nd_proc_passthrough = {
        .abi = ND_PROCESSOR_ABI_1,
        .name = "passthrough",
        .doc = "Forwards every input record unchanged to the actions topic. "
               "The reference processor: a template for new ones.",
        .config = props,
        .config_size = sizeof(struct passthrough_conf),
        .state_size = sizeof(struct passthrough),
        .init = pt_init,
        .process = pt_process,
        .close = pt_close,
};
