/*
 * test_ocf.c — Avro object container files: our writer read back by our
 * reader and by avro-c, avro-c's writer read by ours (same and evolved
 * schemas, null and deflate codecs), and damaged files: truncated at every
 * byte, bad sync markers, bad records inside a block, corrupt deflate data,
 * wrong schemas and codecs.
 */
#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nd_test.h"
#include "ocf.h"
#include "serde.h"

static const uint8_t sync16[16] = {0xde, 0xad, 0xbe, 0xef, 1, 2,  3,  4,
                                   5,    6,    7,    8,    9, 10, 11, 12};

static nd_serde_t *new_serde(void) {
        nd_serde_conf_t conf = {0};
        nd_serde_t *serde = NULL;
        char err[512];
        ck_assert_msg(nd_serde_new(&conf, &serde, err, sizeof(err)) == ND_OK,
                      "%s", err);
        return serde;
}

static nd_str_t S(const char *s) {
        return (nd_str_t){s, (uint32_t)strlen(s)};
}

/* Event i of a cart file: varied types, ids, lists. */
static char strs[4][32];
static nd_line_item_t lines[3];

static nd_event_t cart_event(int i) {
        nd_event_t ev;
        memset(&ev, 0, sizeof(ev));
        snprintf(strs[0], sizeof(strs[0]), "ev-%d", i);
        snprintf(strs[1], sizeof(strs[1]), "cust-%d", i % 97);
        snprintf(strs[2], sizeof(strs[2]), "SKU-%d", i % 13);
        ev.type = (nd_event_type_t)(ND_EV_PRODUCT_ADDED + i % 4);
        ev.event_id = S(strs[0]);
        if (i % 5)
                ev.customer_id = S(strs[1]);
        else
                ev.anonymous_id = S(strs[1]);
        ev.timestamp = 1700000000000LL + i;
        ev.channel = (nd_channel_t)(i % ND_CHANNEL__CNT);
        ev.device_type = (nd_device_type_t)(i % ND_DEVICE__CNT);
        ev.quantity = 1;
        if (ev.type <= ND_EV_PRODUCT_REMOVED || i % 3 == 0) {
                ev.has_product = true;
                ev.product.sku = S(strs[2]);
                ev.product.has_price = i % 2;
                ev.product.price_cents = ev.product.has_price ? i : 0;
        }
        if (i % 2) {
                ev.quantity = i % 7;
                ev.has_quantity = true;
        }
        if (ev.type >= ND_EV_CART_VIEWED) {
                for (int k = 0; k < 3; k++) {
                        lines[k].sku = S(strs[2]);
                        lines[k].quantity = k + 1;
                }
                ev.has_products = true;
                ev.products = lines;
                ev.product_cnt = (uint32_t)(i % 4);
        }
        ck_assert_int_eq(nd_serde_validate_event(&ev, NULL, 0), ND_OK);
        return ev;
}

static void assert_same(const nd_event_t *a, const nd_event_t *b, int i) {
        ck_assert_msg(
            a->type == b->type && nd_str_eq(a->event_id, b->event_id) &&
                nd_str_eq(a->key, b->key) && a->timestamp == b->timestamp &&
                a->channel == b->channel && a->device_type == b->device_type &&
                a->has_product == b->has_product &&
                nd_str_eq(a->product.sku, b->product.sku) &&
                a->product.has_price == b->product.has_price &&
                a->product.price_cents == b->product.price_cents &&
                a->has_quantity == b->has_quantity &&
                a->quantity == b->quantity &&
                a->has_products == b->has_products &&
                a->product_cnt == b->product_cnt,
            "record %d differs", i);
        for (uint32_t k = 0; k < a->product_cnt; k++)
                ck_assert(nd_str_eq(a->products[k].sku, b->products[k].sku) &&
                          a->products[k].quantity == b->products[k].quantity);
}

/* Writes n cart events into a memory buffer (*lenp bytes, malloc'ed). */
static uint8_t *write_cart_file(nd_serde_t *serde, int n, nd_ocf_codec_t codec,
                                size_t block_size, size_t *lenp) {
        char *mem = NULL;
        size_t mlen = 0;
        FILE *f = open_memstream(&mem, &mlen);
        nd_ocf_writer_opts_t o = {codec, block_size, sync16};
        nd_ocf_writer_t *w;
        char err[256];

        ck_assert_msg(nd_ocf_writer_open(serde, f, ND_EV_CART_VIEWED, &o, &w,
                                         err, sizeof(err)) == ND_OK,
                      "%s", err);
        for (int i = 0; i < n; i++) {
                nd_event_t ev = cart_event(i);
                ck_assert_int_eq(nd_ocf_writer_append(w, &ev), ND_OK);
        }
        ck_assert_int_eq(nd_ocf_writer_close(w), ND_OK);
        fclose(f);
        *lenp = mlen;
        return (uint8_t *)mem;
}

/* Reads the file; returns the events read in order (checked against
 * cart_event), and the final status in *endp. */
static int read_all(nd_serde_t *serde, const uint8_t *buf, size_t len,
                    nd_err_t *endp, char *err, size_t err_size,
                    int *record_errs) {
        FILE *f = fmemopen((void *)buf, len, "rb");
        nd_ocf_reader_t *r;
        nd_event_t ev;
        nd_err_t rc;
        int n = 0;

        *record_errs = 0;
        rc = nd_ocf_reader_open(serde, f, &r, err, err_size);
        if (rc) {
                fclose(f);
                *endp = rc;
                return -1;
        }
        while ((rc = nd_ocf_reader_next(r, &ev, err, err_size)) == ND_OK ||
               nd_err_class(rc) == ND_ERR_CLASS_RECORD) {
                if (rc) {
                        (*record_errs)++;
                        continue;
                }
                n++;
        }
        *endp = rc;
        /* a fatal error sticks */
        if (rc != ND_ERR_NOENT)
                ck_assert_int_eq(nd_ocf_reader_next(r, &ev, NULL, 0), rc);
        nd_ocf_reader_close(r);
        fclose(f);
        return n;
}

START_TEST(written_events_read_back_equal_across_blocks) {
        nd_serde_t *serde = new_serde();
        nd_ocf_codec_t codec = _i ? ND_OCF_CODEC_DEFLATE : ND_OCF_CODEC_NULL;
        size_t len;
        uint8_t *buf = write_cart_file(serde, 5000, codec, 4096, &len);
        FILE *f = fmemopen(buf, len, "rb");
        nd_ocf_reader_t *r;
        nd_ocf_stats_t st;
        nd_event_t ev;
        char err[256];
        int i = 0;
        nd_err_t rc;

        ck_assert_msg(nd_ocf_reader_open(serde, f, &r, err, sizeof(err)) ==
                          ND_OK,
                      "%s", err);
        ck_assert_str_eq(nd_ocf_reader_topic(r), "cart");
        ck_assert_int_eq(nd_ocf_reader_codec(r), codec);
        while ((rc = nd_ocf_reader_next(r, &ev, err, sizeof(err))) == ND_OK) {
                nd_event_t want = cart_event(i);
                assert_same(&ev, &want, i);
                i++;
        }
        ck_assert_msg(rc == ND_ERR_NOENT, "%s", err);
        ck_assert_int_eq(i, 5000);
        nd_ocf_reader_stats(r, &st);
        ck_assert_uint_gt(st.blocks, 10);
        ck_assert_uint_eq(st.records, 5000);
        ck_assert_uint_eq(st.skipped, 0);
        nd_ocf_reader_close(r);
        fclose(f);
        free(buf);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(an_empty_file_has_a_header_and_no_records) {
        nd_serde_t *serde = new_serde();
        size_t len;
        uint8_t *buf = write_cart_file(serde, 0, ND_OCF_CODEC_NULL, 0, &len);
        nd_err_t end;
        char err[256];
        int bad;
        ck_assert_int_eq(
            read_all(serde, buf, len, &end, err, sizeof(err), &bad), 0);
        ck_assert_int_eq(end, ND_ERR_NOENT);
        free(buf);
        nd_serde_destroy(serde);
}
END_TEST

/* ---- avro-c on our files, ours on avro-c's ---- */

static char *tmp_path(void) {
        static char path[64];
        int fd;
        snprintf(path, sizeof(path), "/tmp/nd-ocf-XXXXXX");
        fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        close(fd);
        return path;
}

START_TEST(avro_c_reads_our_files) {
        nd_serde_t *serde = new_serde();
        size_t len;
        uint8_t *buf = write_cart_file(
            serde, 3000, _i ? ND_OCF_CODEC_DEFLATE : ND_OCF_CODEC_NULL, 8192,
            &len);
        char *path = tmp_path();
        FILE *f = fopen(path, "wb");
        avro_file_reader_t fr;
        avro_schema_t s;
        avro_value_iface_t *cls;
        avro_value_t rec, fld, br;
        int n = 0;

        ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
        fclose(f);
        ck_assert_msg(avro_file_reader(path, &fr) == 0, "%s", avro_strerror());
        s = avro_file_reader_get_writer_schema(fr);
        cls = avro_generic_class_from_schema(s);
        avro_generic_value_new(cls, &rec);
        while (avro_file_reader_read_value(fr, &rec) == 0) {
                nd_event_t want = cart_event(n);
                const char *str;
                size_t sl;
                int64_t ts;
                avro_value_get_by_name(&rec, "event_id", &fld, NULL);
                avro_value_get_string(&fld, &str, &sl);
                ck_assert(nd_str_eq((nd_str_t){str, (uint32_t)(sl - 1)},
                                    want.event_id));
                avro_value_get_by_name(&rec, "timestamp", &fld, NULL);
                avro_value_get_long(&fld, &ts);
                ck_assert_int_eq(ts, want.timestamp);
                avro_value_get_by_name(&rec, "products", &fld, NULL);
                avro_value_get_current_branch(&fld, &br);
                if (want.has_products) {
                        avro_value_get_size(&br, &sl);
                        ck_assert_uint_eq(sl, want.product_cnt);
                } else {
                        ck_assert_int_eq(avro_value_get_type(&br), AVRO_NULL);
                }
                n++;
        }
        ck_assert_int_eq(n, 3000);
        avro_value_decref(&rec);
        avro_value_iface_decref(cls);
        avro_schema_decref(s);
        avro_file_reader_close(fr);
        unlink(path);
        free(buf);
        nd_serde_destroy(serde);
}
END_TEST

/* A clickstream schema from a newer producer: an extra field first, a
 * field dropped (action_id), and a channel symbol we do not know. */
static const char *const evolved =
    "{\"type\":\"record\",\"name\":\"ClickstreamEvent\",\"namespace\":"
    "\"io.nudge.events\",\"fields\":["
    "{\"name\":\"tenant\",\"type\":\"string\"},"
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":"
    "\"ClickstreamEventType\",\"symbols\":[\"page_viewed\","
    "\"product_viewed\"]}},"
    "{\"name\":\"customer_id\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"timestamp\",\"type\":\"long\"},"
    "{\"name\":\"channel\",\"type\":{\"type\":\"enum\",\"name\":\"Channel\","
    "\"symbols\":[\"web\",\"tiktok\"]}}]}";

START_TEST(our_reader_reads_avro_c_files_with_an_evolved_schema) {
        nd_serde_t *serde = new_serde();
        const char *codec = _i ? "deflate" : "null";
        char *path = tmp_path();
        avro_schema_t s;
        avro_value_iface_t *cls;
        avro_value_t rec, fld, br;
        avro_file_writer_t fw;
        FILE *f;
        nd_ocf_reader_t *r;
        nd_event_t ev;
        char err[256], id[32];
        int n = 0;
        nd_err_t rc;

        ck_assert_int_eq(
            avro_schema_from_json_length(evolved, strlen(evolved), &s), 0);
        unlink(path);
        ck_assert_msg(
            avro_file_writer_create_with_codec(path, s, &fw, codec, 4096) == 0,
            "%s", avro_strerror());
        cls = avro_generic_class_from_schema(s);
        avro_generic_value_new(cls, &rec);
        for (int i = 0; i < 2000; i++) {
                snprintf(id, sizeof(id), "e%d", i);
                avro_value_get_by_name(&rec, "tenant", &fld, NULL);
                avro_value_set_string(&fld, "acme");
                avro_value_get_by_name(&rec, "event_id", &fld, NULL);
                avro_value_set_string(&fld, id);
                avro_value_get_by_name(&rec, "type", &fld, NULL);
                avro_value_set_enum(&fld, 0);
                avro_value_get_by_name(&rec, "customer_id", &fld, NULL);
                avro_value_set_branch(&fld, 1, &br);
                avro_value_set_string(&br, "c1");
                avro_value_get_by_name(&rec, "timestamp", &fld, NULL);
                avro_value_set_long(&fld, 1000 + i);
                avro_value_get_by_name(&rec, "channel", &fld, NULL);
                avro_value_set_enum(&fld, i % 2);
                ck_assert_int_eq(avro_file_writer_append_value(fw, &rec), 0);
        }
        avro_file_writer_close(fw);
        avro_value_decref(&rec);
        avro_value_iface_decref(cls);
        avro_schema_decref(s);

        f = fopen(path, "rb");
        ck_assert_msg(nd_ocf_reader_open(serde, f, &r, err, sizeof(err)) ==
                          ND_OK,
                      "%s", err);
        ck_assert_str_eq(nd_ocf_reader_topic(r), "clickstream");
        while ((rc = nd_ocf_reader_next(r, &ev, err, sizeof(err))) == ND_OK) {
                snprintf(id, sizeof(id), "e%d", n);
                ck_assert(nd_str_eq(ev.event_id, S(id)));
                ck_assert_int_eq(ev.type, ND_EV_PAGE_VIEWED);
                ck_assert(nd_str_eq(ev.key, S("c1")));
                ck_assert_int_eq(ev.timestamp, 1000 + n);
                ck_assert_int_eq(ev.channel,
                                 n % 2 ? ND_CHANNEL_OTHER : ND_CHANNEL_WEB);
                ck_assert_int_eq(ev.device_type, ND_DEVICE_UNKNOWN);
                n++;
        }
        ck_assert_msg(rc == ND_ERR_NOENT, "%s", err);
        ck_assert_int_eq(n, 2000);
        nd_ocf_reader_close(r);
        fclose(f);
        unlink(path);
        nd_serde_destroy(serde);
}
END_TEST

/* ---- damaged files ---- */

START_TEST(a_file_cut_at_any_byte_fails_cleanly) {
        nd_serde_t *serde = new_serde();
        nd_ocf_codec_t codec = _i ? ND_OCF_CODEC_DEFLATE : ND_OCF_CODEC_NULL;
        size_t len;
        uint8_t *buf = write_cart_file(serde, 60, codec, 512, &len);
        int full, bad, clean_cuts = 0;
        nd_err_t end;
        char err[512];

        full = read_all(serde, buf, len, &end, err, sizeof(err), &bad);
        ck_assert_int_eq(full, 60);
        for (size_t cut = 0; cut < len; cut++) {
                uint8_t *copy = malloc(cut + 1);
                int n;
                memcpy(copy, buf, cut);
                n = read_all(serde, copy, cut, &end, err, sizeof(err), &bad);
                ck_assert_int_eq(bad, 0);
                if (n < 0) { /* inside the header */
                        ck_assert_msg(end == ND_ERR_IO ||
                                          end == ND_ERR_BAD_MAGIC,
                                      "cut %zu: %s", cut, nd_err_name(end));
                } else if (end == ND_ERR_NOENT) {
                        /* only right after a sync marker */
                        ck_assert(memcmp(copy + cut - 16, sync16, 16) == 0);
                        clean_cuts++;
                } else {
                        ck_assert_int_eq(end, ND_ERR_IO);
                        ck_assert_msg(strstr(err, "truncated"), "%s", err);
                        ck_assert_int_lt(n, 60);
                }
                free(copy);
        }
        ck_assert_int_gt(clean_cuts, 2);
        free(buf);
        nd_serde_destroy(serde);
}
END_TEST

/* Offset of the data of the first block (header = what the writer wrote
 * before the first block). */
static size_t header_len(const uint8_t *buf, size_t len) {
        for (size_t i = 4; i + 16 <= len; i++)
                if (!memcmp(buf + i, sync16, 16))
                        return i + 16;
        ck_abort_msg("no sync marker");
        return 0;
}

START_TEST(a_bad_sync_marker_stops_the_file_after_the_good_blocks) {
        nd_serde_t *serde = new_serde();
        size_t len, h;
        uint8_t *buf =
            write_cart_file(serde, 200, ND_OCF_CODEC_NULL, 1024, &len);
        uint8_t *second;
        nd_err_t end;
        char err[512];
        int n, bad;

        h = header_len(buf, len);
        second = memmem(buf + h, len - h, sync16, 16); /* end of block 1 */
        ck_assert_ptr_nonnull(second);
        second = memmem(second + 16, len - (size_t)(second + 16 - buf), sync16,
                        16); /* end of block 2 */
        ck_assert_ptr_nonnull(second);
        second[5] ^= 0xff;
        n = read_all(serde, buf, len, &end, err, sizeof(err), &bad);
        ck_assert_int_eq(end, ND_ERR_IO);
        ck_assert_msg(strstr(err, "block 2") && strstr(err, "sync marker"),
                      "%s", err);
        ck_assert_int_gt(n, 0);
        ck_assert_int_lt(n, 200);
        free(buf);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(corrupt_deflate_data_is_a_fatal_block_error) {
        nd_serde_t *serde = new_serde();
        size_t len, h;
        uint8_t *buf =
            write_cart_file(serde, 100, ND_OCF_CODEC_DEFLATE, 100000, &len);
        nd_err_t end;
        char err[512];
        int bad;

        h = header_len(buf, len);
        /* count and size take a few bytes; garble the deflate stream */
        for (size_t i = h + 6; i < h + 40; i++)
                buf[i] ^= 0x5a;
        ck_assert_int_eq(
            read_all(serde, buf, len, &end, err, sizeof(err), &bad), 0);
        ck_assert_int_eq(end, ND_ERR_IO);
        ck_assert_msg(strstr(err, "deflate"), "%s", err);
        free(buf);
        nd_serde_destroy(serde);
}
END_TEST

/* ---- hand-made files ---- */

struct bb {
        uint8_t b[1 << 16];
        size_t n;
};

static void bb_put(struct bb *bb, const void *p, size_t n) {
        memcpy(bb->b + bb->n, p, n);
        bb->n += n;
}

static void bb_long(struct bb *bb, int64_t v) {
        uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
        while (u >= 0x80) {
                bb->b[bb->n++] = (uint8_t)(u | 0x80);
                u >>= 7;
        }
        bb->b[bb->n++] = (uint8_t)u;
}

static void bb_bytes(struct bb *bb, const char *s, size_t n) {
        bb_long(bb, (int64_t)n);
        bb_put(bb, s, n);
}

static void bb_header(struct bb *bb, const char *schema, size_t slen,
                      const char *codec) {
        bb->n = 0;
        bb_put(bb, "Obj\x01", 4);
        bb_long(bb, codec ? 2 : 1);
        bb_bytes(bb, "avro.schema", 11);
        bb_bytes(bb, schema, slen);
        if (codec) {
                bb_bytes(bb, "avro.codec", 10);
                bb_bytes(bb, codec, strlen(codec));
        }
        bb_long(bb, 0);
        bb_put(bb, sync16, 16);
}

/* One null-codec block of the bodies given. */
static void bb_block(struct bb *bb, const uint8_t *const *bodies,
                     const size_t *lens, int cnt) {
        size_t size = 0;
        for (int i = 0; i < cnt; i++)
                size += lens[i];
        bb_long(bb, cnt);
        bb_long(bb, (int64_t)size);
        for (int i = 0; i < cnt; i++)
                bb_put(bb, bodies[i], lens[i]);
        bb_put(bb, sync16, 16);
}

START_TEST(bad_records_are_skipped_and_reading_goes_on) {
        nd_serde_t *serde = new_serde();
        size_t slen, lens[4];
        const char *schema = nd_serde_reader_schema(serde, "cart", &slen);
        static uint8_t good[4][256], no_id[256], broken[256];
        const uint8_t *bodies[4];
        static struct bb bb;
        FILE *f;
        nd_ocf_reader_t *r;
        nd_ocf_stats_t st;
        nd_event_t ev;
        char err[512];

        for (int i = 0; i < 4; i++) {
                nd_event_t e = cart_event(i);
                ck_assert_int_eq(
                    nd_serde_encode_event_body(&e, good[i], 256, &lens[i]),
                    ND_OK);
        }
        /* event_id "" (the body of "ev-0" without its 4 characters): fails
         * the contract checks only, its end is known */
        no_id[0] = 0;
        memcpy(no_id + 1, good[0] + 5, lens[0] - 5);
        /* a negative string length: the record cannot be decoded */
        memcpy(broken, good[1], lens[1]);
        broken[0] = 0x01;

        bb_header(&bb, schema, slen, NULL);
        bodies[0] = good[0];
        bodies[1] = no_id;
        bodies[2] = good[1];
        {
                size_t l3[3] = {lens[0], lens[0] - 4, lens[1]};
                bb_block(&bb, bodies, l3, 3);
        }
        bodies[0] = broken;
        bodies[1] = good[2];
        bodies[2] = good[3];
        {
                size_t l3[3] = {lens[1], lens[2], lens[3]};
                bb_block(&bb, bodies, l3, 3);
        }
        bodies[0] = good[3];
        bb_block(&bb, bodies, &lens[3], 1);

        f = fmemopen(bb.b, bb.n, "rb");
        ck_assert_int_eq(nd_ocf_reader_open(serde, f, &r, err, sizeof(err)),
                         ND_OK);
        ck_assert_int_eq(nd_ocf_reader_next(r, &ev, err, sizeof(err)), ND_OK);
        ck_assert(nd_str_eq(ev.event_id, S("ev-0")));
        ck_assert_int_eq(nd_ocf_reader_next(r, &ev, err, sizeof(err)),
                         ND_ERR_MISSING_FIELD);
        ck_assert_int_eq(nd_ocf_reader_next(r, &ev, err, sizeof(err)), ND_OK);
        ck_assert(nd_str_eq(ev.event_id, S("ev-1")));
        ck_assert_int_eq(nd_ocf_reader_next(r, &ev, err, sizeof(err)),
                         ND_ERR_BAD_LENGTH);
        ck_assert_msg(strstr(err, "block 2") && strstr(err, "2 later"), "%s",
                      err);
        ck_assert_int_eq(nd_ocf_reader_next(r, &ev, err, sizeof(err)), ND_OK);
        ck_assert(nd_str_eq(ev.event_id, S("ev-3")));
        ck_assert_int_eq(nd_ocf_reader_next(r, &ev, err, sizeof(err)),
                         ND_ERR_NOENT);
        nd_ocf_reader_stats(r, &st);
        ck_assert_uint_eq(st.blocks, 3);
        ck_assert_uint_eq(st.skipped, 2);
        nd_ocf_reader_close(r);
        fclose(f);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(a_block_with_bytes_after_its_records_is_fatal) {
        nd_serde_t *serde = new_serde();
        size_t slen, len;
        const char *schema = nd_serde_reader_schema(serde, "cart", &slen);
        static uint8_t body[300];
        const uint8_t *bodies[1] = {body};
        static struct bb bb;
        nd_event_t e = cart_event(0);
        nd_err_t end;
        char err[512];
        int bad;

        ck_assert_int_eq(nd_serde_encode_event_body(&e, body, 256, &len),
                         ND_OK);
        body[len] = 0; /* one byte too many for one record */
        len++;
        bb_header(&bb, schema, slen, "null");
        bb_block(&bb, bodies, &len, 1);
        ck_assert_int_eq(
            read_all(serde, bb.b, bb.n, &end, err, sizeof(err), &bad), 1);
        ck_assert_int_eq(end, ND_ERR_IO);
        ck_assert_msg(strstr(err, "1 bytes left"), "%s", err);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(oversized_and_negative_block_sizes_are_refused) {
        nd_serde_t *serde = new_serde();
        size_t slen;
        const char *schema = nd_serde_reader_schema(serde, "cart", &slen);
        static struct bb bb;
        nd_err_t end;
        char err[512];
        int bad;

        bb_header(&bb, schema, slen, NULL);
        bb_long(&bb, 1);
        bb_long(&bb, _i ? -5 : (int64_t)ND_OCF_MAX_BLOCK + 1);
        bb_put(&bb, sync16, 16);
        ck_assert_int_eq(
            read_all(serde, bb.b, bb.n, &end, err, sizeof(err), &bad), 0);
        ck_assert_int_eq(end, ND_ERR_IO);
        ck_assert_msg(strstr(err, "bad record count"), "%s", err);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(wrong_schemas_codecs_and_magic_are_refused_at_open) {
        static const struct {
                const char *schema;
                const char *codec;
                nd_err_t want;
                const char *text;
        } cases[] = {
            {"{\"type\":\"record\",\"name\":\"Order\",\"fields\":[]}", NULL,
             ND_ERR_UNKNOWN_SCHEMA, "not one nudge reads"},
            {"{\"type\":\"record\",\"name\":\"CartEvent\",\"fields\":["
             "{\"name\":\"event_id\",\"type\":\"long\"}]}",
             NULL, ND_ERR_INCOMPATIBLE_SCHEMA, "as CartEvent"},
            {"{\"type\":\"record\",\"name\":\"CatalogProduct\",\"fields\":["
             "{\"name\":\"sku\",\"type\":\"string\"}]}",
             NULL, ND_ERR_UNKNOWN_SCHEMA, "not events"},
            {"not json", NULL, ND_ERR_UNKNOWN_SCHEMA, "does not parse"},
            {NULL, "snappy", ND_ERR_IO, "snappy"},
            {NULL, NULL, ND_ERR_BAD_MAGIC, "magic"},
        };
        nd_serde_t *serde = new_serde();
        size_t slen;
        const char *schema = cases[_i].schema;
        static struct bb bb;
        FILE *f;
        nd_ocf_reader_t *r;
        char err[512];

        if (!schema)
                schema = nd_serde_reader_schema(serde, "purchase", &slen);
        else
                slen = strlen(schema);
        bb_header(&bb, schema, slen, cases[_i].codec);
        if (cases[_i].want == ND_ERR_BAD_MAGIC)
                bb.b[3] = 2;
        f = fmemopen(bb.b, bb.n, "rb");
        ck_assert_int_eq(nd_ocf_reader_open(serde, f, &r, err, sizeof(err)),
                         cases[_i].want);
        ck_assert_ptr_null(r);
        ck_assert_msg(strstr(err, cases[_i].text), "%s", err);
        fclose(f);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(a_metadata_count_of_int64_min_is_refused) {
        /* fuzz_ocf's finding (corpus/ocf/regress-meta-count-int64-min):
         * the map's block count is the zigzag varint of INT64_MIN, whose
         * negation does not exist; refused as too many entries. */
        static const uint8_t file[] = {'O',  'b',  'j',  1,    0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                                       0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0x00, '{',  '\n'};
        nd_serde_t *serde = new_serde();
        nd_ocf_reader_t *r;
        char err[512] = "";
        FILE *f = fmemopen((void *)file, sizeof(file), "rb");
        ck_assert_int_ne(nd_ocf_reader_open(serde, f, &r, err, sizeof(err)),
                         ND_OK);
        ck_assert_ptr_null(r);
        ck_assert_msg(strstr(err, "metadata entries"), "%s", err);
        fclose(f);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(the_writer_refuses_events_of_another_topic) {
        nd_serde_t *serde = new_serde();
        char *mem = NULL;
        size_t mlen = 0;
        FILE *f = open_memstream(&mem, &mlen);
        nd_ocf_writer_t *w;
        nd_event_t ev = cart_event(1);
        char err[256];

        ck_assert_int_eq(nd_ocf_writer_open(serde, f, ND_EV_ORDER_COMPLETED,
                                            NULL, &w, err, sizeof(err)),
                         ND_OK);
        ck_assert_int_eq(nd_ocf_writer_append(w, &ev), ND_ERR_INVAL);
        ck_assert_int_eq(nd_ocf_writer_close(w), ND_OK);
        fclose(f);
        ck_assert(nd_ocf_has_magic(mem, mlen));
        free(mem);
        nd_serde_destroy(serde);
}
END_TEST

static Suite *ocf_suite(void) {
        Suite *s = suite_create("ocf");
        TCase *tc = tcase_create("round trip");
        tcase_add_loop_test(tc, written_events_read_back_equal_across_blocks, 0,
                            2);
        tcase_add_test(tc, an_empty_file_has_a_header_and_no_records);
        tcase_add_loop_test(tc, avro_c_reads_our_files, 0, 2);
        tcase_add_loop_test(
            tc, our_reader_reads_avro_c_files_with_an_evolved_schema, 0, 2);
        tcase_add_test(tc, a_metadata_count_of_int64_min_is_refused);
        tcase_add_test(tc, the_writer_refuses_events_of_another_topic);
        suite_add_tcase(s, tc);
        tc = tcase_create("damage");
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, a_file_cut_at_any_byte_fails_cleanly, 0, 2);
        tcase_add_test(tc,
                       a_bad_sync_marker_stops_the_file_after_the_good_blocks);
        tcase_add_test(tc, corrupt_deflate_data_is_a_fatal_block_error);
        tcase_add_test(tc, bad_records_are_skipped_and_reading_goes_on);
        tcase_add_test(tc, a_block_with_bytes_after_its_records_is_fatal);
        tcase_add_loop_test(tc, oversized_and_negative_block_sizes_are_refused,
                            0, 2);
        tcase_add_loop_test(
            tc, wrong_schemas_codecs_and_magic_are_refused_at_open, 0, 6);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(ocf_suite());
}
