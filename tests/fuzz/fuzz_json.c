/*
 * fuzz_json — the JSON decoders (nd_serde_decode_json,
 * nd_serde_decode_product_json) on arbitrary bytes, and the action JSON
 * writer on what they decode. Any input must give ND_OK or a RECORD-class
 * error, never a crash, a leak or an out-of-bounds read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serde.h"

static nd_serde_t *serde_;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        nd_serde_conf_t conf = {0};
        char err[512];
        if (nd_serde_new(&conf, &serde_, err, sizeof(err)))
                abort();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        nd_event_t ev;
        nd_product_rec_t prod;
        char err[256], out[4096];
        size_t len;
        nd_err_t rc;
        uint8_t *buf = malloc(size ? size : 1);
        memcpy(buf, data, size);
        rc = nd_serde_decode_json(serde_, buf, size, &ev, err, sizeof(err));
        if (rc != ND_OK && nd_err_class(rc) != ND_ERR_CLASS_RECORD)
                abort();
        if (rc == ND_OK) {
                /* the decoded strings go out again through the writer */
                nd_action_t act;
                memset(&act, 0, sizeof(act));
                act.action_id = ev.event_id;
                act.trigger_name = ev.key;
                act.customer_id = ev.customer_id;
                act.channel = ev.channel;
                act.items = ev.products;
                act.item_cnt = ev.product_cnt;
                nd_action_write_json(&act, out, sizeof(out), &len);
        }
        rc = nd_serde_decode_product_json(serde_, buf, size, &prod, err,
                                          sizeof(err));
        if (rc != ND_OK && nd_err_class(rc) != ND_ERR_CLASS_RECORD)
                abort();
        free(buf);
        return 0;
}
