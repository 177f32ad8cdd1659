/*
 * fuzz_ocf — the Avro object container reader (nd_ocf_reader_*) on
 * arbitrary files: header, metadata, codec, sync markers, block counts and
 * sizes, deflate data and the records inside. Every input must end in
 * ND_ERR_NOENT or a FATAL-class error after any number of records and
 * RECORD-class errors, never a crash, a leak or an out-of-bounds read; and
 * a fatal error must stick. Seeds (corpus/ocf/) are files of our writer,
 * null and deflate, written by the target itself with -runs=0 and
 * ND_FUZZ_OCF_SEEDS=dir (see gen_corpus.py).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocf.h"
#include "serde.h"

static nd_serde_t *serde_;
static volatile size_t sink_;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_seed(const char *dir, const char *name, nd_ocf_codec_t codec,
                       nd_event_type_t type) {
        static const uint8_t sync[16] = {7, 7, 7, 7, 7, 7, 7, 7,
                                         7, 7, 7, 7, 7, 7, 7, 7};
        char path[512];
        nd_ocf_writer_opts_t o = {codec, 200, sync};
        nd_ocf_writer_t *w;
        nd_line_item_t li = {{"SKU-2", 5}, {NULL, 0}, 2, 100, true};
        FILE *f;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "wb");
        if (!f || nd_ocf_writer_open(serde_, f, type, &o, &w, NULL, 0))
                abort();
        for (int i = 0; i < 8; i++) {
                nd_event_t ev;
                memset(&ev, 0, sizeof(ev));
                ev.type = type;
                ev.event_id = (nd_str_t){"ev-1", 4};
                ev.customer_id = (nd_str_t){i % 2 ? "c1" : "", i % 2 ? 2 : 0};
                ev.anonymous_id = (nd_str_t){"a1", 2};
                ev.timestamp = 1700000000000LL + i;
                ev.quantity = 1;
                ev.has_product = true;
                ev.product.sku = (nd_str_t){"SKU-1", 5};
                ev.order_id = (nd_str_t){"o1", 2};
                ev.campaign_id = (nd_str_t){"camp", 4};
                if (type >= ND_EV_CART_VIEWED) {
                        ev.has_products = true;
                        ev.products = &li;
                        ev.product_cnt = (uint32_t)(i % 2);
                }
                if (nd_ocf_writer_append(w, &ev))
                        abort();
        }
        if (nd_ocf_writer_close(w) || fclose(f))
                abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        nd_serde_conf_t conf = {0};
        char err[512];
        const char *seeds = getenv("ND_FUZZ_OCF_SEEDS");
        (void)argc;
        (void)argv;
        if (nd_serde_new(&conf, &serde_, err, sizeof(err)))
                abort();
        if (seeds) {
                write_seed(seeds, "seed-click-null", ND_OCF_CODEC_NULL,
                           ND_EV_MESSAGE_CLICKED);
                write_seed(seeds, "seed-cart-deflate", ND_OCF_CODEC_DEFLATE,
                           ND_EV_CART_VIEWED);
                write_seed(seeds, "seed-purchase-null", ND_OCF_CODEC_NULL,
                           ND_EV_ORDER_COMPLETED);
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* an exact-size heap copy: ASan sees any read past the end */
        uint8_t *buf = malloc(size ? size : 1);
        FILE *f;
        nd_ocf_reader_t *r = NULL;
        nd_event_t ev;
        char err[512];
        nd_err_t rc;

        memcpy(buf, data, size);
        f = fmemopen(buf, size ? size : 1, "rb");
        if (!f)
                abort();
        if (size == 0)
                fgetc(f); /* fmemopen needs a size: read the one byte away */
        if (nd_ocf_reader_open(serde_, f, &r, err, sizeof(err)) == ND_OK) {
                for (;;) {
                        rc = nd_ocf_reader_next(r, &ev, err, sizeof(err));
                        if (rc == ND_OK) {
                                if (ev.event_id.len)
                                        sink_ += (size_t)ev.event_id
                                                     .p[ev.event_id.len - 1];
                                for (uint32_t i = 0; i < ev.product_cnt; i++)
                                        sink_ += ev.products[i].sku.len;
                                continue;
                        }
                        if (nd_err_class(rc) == ND_ERR_CLASS_RECORD)
                                continue;
                        if (rc != ND_ERR_NOENT &&
                            nd_ocf_reader_next(r, &ev, NULL, 0) != rc)
                                abort(); /* a fatal error sticks */
                        break;
                }
                nd_ocf_reader_close(r);
        }
        fclose(f);
        free(buf);
        return 0;
}
