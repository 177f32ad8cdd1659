/*
 * fuzz_avro — the Avro decoder (nd_serde_decode, nd_serde_decode_product)
 * on arbitrary bytes. The frame's schema id picks the plan, so the fuzzer
 * reaches every local schema (ids 1-4) and two writer schemas that exercise
 * the skip ops and the resolution paths (ids 100, 101). Any input must give
 * ND_OK or a RECORD-class error, never a crash or an out-of-bounds read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serde.h"

static nd_serde_t *serde_;
static volatile size_t sink_; /* keeps the reads below from being elided */

/* Every writer-only type: skipped. Reader fields it lacks: defaults. */
static const char *const wide =
    "{\"type\":\"record\",\"name\":\"CartEvent\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":[\"null\",\"bytes\",\"string\"]},"
    "{\"name\":\"w_f\",\"type\":\"float\"},"
    "{\"name\":\"w_d\",\"type\":[\"double\",\"null\"]},"
    "{\"name\":\"w_fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F3\","
    "\"size\":3}},"
    "{\"name\":\"w_m\",\"type\":{\"type\":\"map\",\"values\":{\"type\":"
    "\"array\",\"items\":\"null\"}}},"
    "{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":"
    "\"CartEventType\",\"symbols\":[\"zz\",\"cart_viewed\"]}},"
    "{\"name\":\"customer_id\",\"type\":\"string\"},"
    "{\"name\":\"timestamp\",\"type\":[\"int\",\"string\",\"null\"]},"
    "{\"name\":\"channel\",\"type\":{\"type\":\"enum\",\"name\":\"Channel\","
    "\"symbols\":[\"web\",\"fax\"]}},"
    "{\"name\":\"products\",\"type\":{\"type\":\"array\",\"items\":{"
    "\"type\":\"record\",\"name\":\"LineItem\",\"fields\":["
    "{\"name\":\"sku\",\"type\":\"bytes\"},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"price_cents\",\"type\":\"int\"}]}}}]}";

static const char *const catalog_wide =
    "{\"type\":\"record\",\"name\":\"CatalogProduct\",\"fields\":["
    "{\"name\":\"complements\",\"type\":[\"null\",{\"type\":\"array\","
    "\"items\":\"string\"}]},"
    "{\"name\":\"sku\",\"type\":\"string\"},"
    "{\"name\":\"in_stock\",\"type\":[\"boolean\",\"null\"]}]}";

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        nd_serde_conf_t conf = {0};
        char err[512];
        conf.id_clickstream = 1;
        conf.id_cart = 2;
        conf.id_purchase = 3;
        conf.id_catalog = 4;
        if (nd_serde_new(&conf, &serde_, err, sizeof(err)) ||
            nd_serde_add_schema(serde_, 100, wide, strlen(wide), err,
                                sizeof(err)) ||
            nd_serde_add_schema(serde_, 101, catalog_wide, strlen(catalog_wide),
                                err, sizeof(err)))
                abort();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        nd_event_t ev;
        nd_product_rec_t prod;
        char err[256];
        nd_err_t rc;
        /* an exact-size heap copy: ASan sees any read past the end */
        uint8_t *buf = malloc(size ? size : 1);
        memcpy(buf, data, size);
        rc = nd_serde_decode(serde_, buf, size, &ev, err, sizeof(err));
        if (rc != ND_OK && nd_err_class(rc) != ND_ERR_CLASS_RECORD)
                abort();
        if (rc == ND_OK) {
                /* touch every slice */
                if (ev.event_id.len)
                        sink_ += (size_t)ev.event_id.p[ev.event_id.len - 1];
                for (uint32_t i = 0; i < ev.product_cnt; i++)
                        sink_ += ev.products[i].sku.len
                                     ? (size_t)ev.products[i].sku.p[0]
                                     : 0;
                nd_serde_check_key(&ev, buf, size > 8 ? 8 : size, err,
                                   sizeof(err));
        }
        rc =
            nd_serde_decode_product(serde_, buf, size, &prod, err, sizeof(err));
        if (rc != ND_OK && nd_err_class(rc) != ND_ERR_CLASS_RECORD)
                abort();
        free(buf);
        return 0;
}
