/*
 * test_serde_diff.c — differential test: random records generated from the
 * schemas by avro-c's generic writer are decoded by serde's fast decoder and
 * by avro-c's generic reader (avro_value_read); every field must agree.
 *
 * The generator walks the schema and takes every union branch, empty, short
 * and long strings, empty and full (up to the cap) arrays, and numbers of
 * every varint length. Each record is decoded twice: through the
 * specialised decoder of the schema (with the plan interpreter behind it
 * for what it refuses) and through the interpreter alone. Seeded: ND_TEST_SEED
 * overrides the seed, and a failure prints the seed and record number to replay
 * it.
 */
#include <avro.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nd_test.h"
#include "serde.h"

#define RECORDS_PER_SCHEMA 3000
#define BUF_SIZE           (4 << 20)

static uint64_t rng_state;

static uint64_t rnd(void) {
        /* xorshift64*: fast, seedable, good enough for test data */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 2685821657736338717ULL;
}

static uint32_t rnd_below(uint32_t n) {
        return (uint32_t)(rnd() % n);
}

static int64_t rnd_number(void) {
        /* every varint length, both signs, the extremes */
        switch (rnd_below(8)) {
        case 0:
                return 0;
        case 1:
                return INT64_MAX;
        case 2:
                return INT64_MIN;
        case 3:
                return (int64_t)rnd_below(64) - 32;
        default: {
                int bits = (int)rnd_below(63) + 1;
                int64_t v = (int64_t)(rnd() >> (64 - bits));
                return rnd_below(2) ? v : -v;
        }
        }
}

static size_t rnd_strlen(void) {
        switch (rnd_below(10)) {
        case 0:
                return 0;
        case 1:
                return 200 + rnd_below(2000); /* long: multi-byte length */
        default:
                return 1 + rnd_below(20);
        }
}

static uint32_t rnd_count(void) {
        switch (rnd_below(12)) {
        case 0:
                return 0;
        case 1:
                return ND_EVENT_MAX_ITEMS; /* the cap itself */
        default:
                return 1 + rnd_below(6);
        }
}

static char strbuf[4096];

static void fill(avro_value_t *v, int depth) {
        avro_schema_t s = avro_value_get_schema(v);
        avro_value_t child;
        size_t n;
        switch (avro_value_get_type(v)) {
        case AVRO_NULL:
                avro_value_set_null(v);
                break;
        case AVRO_BOOLEAN:
                avro_value_set_boolean(v, (int)rnd_below(2));
                break;
        case AVRO_INT32:
                avro_value_set_int(v, (int32_t)rnd_number());
                break;
        case AVRO_INT64:
                avro_value_set_long(v, rnd_number());
                break;
        case AVRO_STRING:
        case AVRO_BYTES:
                n = rnd_strlen();
                for (size_t i = 0; i < n; i++)
                        strbuf[i] = (char)(1 + rnd_below(255)); /* no NUL */
                strbuf[n] = '\0';
                if (avro_value_get_type(v) == AVRO_STRING)
                        avro_value_set_string_len(v, strbuf, n + 1);
                else
                        avro_value_set_bytes(v, strbuf, n);
                break;
        case AVRO_ENUM:
                avro_value_set_enum(
                    v, (int)rnd_below(
                           (uint32_t)avro_schema_enum_number_of_symbols(s)));
                break;
        case AVRO_UNION:
                avro_value_set_branch(
                    v, (int)rnd_below((uint32_t)avro_schema_union_size(s)),
                    &child);
                fill(&child, depth + 1);
                break;
        case AVRO_RECORD:
                avro_value_get_size(v, &n);
                for (size_t i = 0; i < n; i++) {
                        avro_value_get_by_index(v, i, &child, NULL);
                        fill(&child, depth + 1);
                }
                break;
        case AVRO_ARRAY: {
                uint32_t cnt = rnd_count();
                avro_value_reset(v);
                for (uint32_t i = 0; i < cnt; i++) {
                        avro_value_append(v, &child, NULL);
                        fill(&child, depth + 1);
                }
                break;
        }
        default:
                ck_abort_msg("unexpected type in our schemas");
        }
}

/* ---- comparing ---- */

struct cmp {
        const char *what; /* for messages */
        int rec;
};

/* v: a string, bytes, or a ["null", string] union. */
static void cmp_str(struct cmp *c, avro_value_t *v, nd_str_t got,
                    const char *name) {
        avro_value_t br;
        const void *p = NULL;
        size_t len = 0;
        if (avro_value_get_type(v) == AVRO_UNION) {
                avro_value_get_current_branch(v, &br);
                v = &br;
        }
        if (avro_value_get_type(v) == AVRO_STRING) {
                const char *s;
                avro_value_get_string(v, &s, &len);
                p = s;
                len--; /* avro-c counts the NUL */
        } else if (avro_value_get_type(v) == AVRO_BYTES) {
                avro_value_get_bytes(v, &p, &len);
        }
        ck_assert_msg(got.len == len && (len == 0 || !memcmp(got.p, p, len)),
                      "%s record %d field %s: %u bytes vs %zu", c->what, c->rec,
                      name, got.len, len);
}

/* v: a long/int or a union with null; has: NULL when not nullable. */
static void cmp_num(struct cmp *c, avro_value_t *v, int64_t got, bool has,
                    const char *name) {
        avro_value_t br;
        int64_t want = 0;
        int32_t i32;
        if (avro_value_get_type(v) == AVRO_UNION) {
                avro_value_get_current_branch(v, &br);
                if (avro_value_get_type(&br) == AVRO_NULL) {
                        ck_assert_msg(!has, "%s record %d field %s: not null",
                                      c->what, c->rec, name);
                        return;
                }
                v = &br;
        }
        if (avro_value_get_type(v) == AVRO_INT32) {
                avro_value_get_int(v, &i32);
                want = i32;
        } else {
                avro_value_get_long(v, &want);
        }
        ck_assert_msg(has && got == want, "%s record %d field %s: %lld vs %lld",
                      c->what, c->rec, name, (long long)got, (long long)want);
}

static void cmp_enum(struct cmp *c, avro_value_t *v, const char *got,
                     const char *name) {
        int e;
        avro_value_get_enum(v, &e);
        ck_assert_msg(
            !strcmp(got, avro_schema_enum_get(avro_value_get_schema(v), e)),
            "%s record %d field %s: %s", c->what, c->rec, name, got);
}

/* Returns the union's current branch in *out; false when it is null. */
static bool branch(avro_value_t *v, avro_value_t *out) {
        if (avro_value_get_type(v) != AVRO_UNION) {
                *out = *v;
                return true;
        }
        avro_value_get_current_branch(v, out);
        return avro_value_get_type(out) != AVRO_NULL;
}


/* The string fields of nd_event_t that the schemas carry as they are. */
static const struct {
        const char *name;
        size_t off;
} str_fields[] = {
    {"event_id", offsetof(nd_event_t, event_id)},
    {"customer_id", offsetof(nd_event_t, customer_id)},
    {"anonymous_id", offsetof(nd_event_t, anonymous_id)},
    {"device_id", offsetof(nd_event_t, device_id)},
    {"session_id", offsetof(nd_event_t, session_id)},
    {"cart_id", offsetof(nd_event_t, cart_id)},
    {"order_id", offsetof(nd_event_t, order_id)},
    {"currency", offsetof(nd_event_t, currency)},
    {"checkout_id", offsetof(nd_event_t, checkout_id)},
    {"campaign_id", offsetof(nd_event_t, campaign_id)},
    {"action_id", offsetof(nd_event_t, action_id)},
};

static void cmp_event(struct cmp *c, avro_value_t *rec, const nd_event_t *ev) {
        size_t n;
        avro_value_get_size(rec, &n);
        for (size_t i = 0; i < n; i++) {
                const char *name;
                avro_value_t f, b, it, fld;
                avro_value_get_by_index(rec, i, &f, &name);
                {
                        bool done = false;
                        for (size_t k = 0;
                             k < sizeof(str_fields) / sizeof(str_fields[0]);
                             k++)
                                if (!strcmp(name, str_fields[k].name)) {
                                        const nd_str_t *sv =
                                            (const nd_str_t
                                                 *)((const char *)ev +
                                                    str_fields[k].off);
                                        cmp_str(c, &f, *sv, name);
                                        done = true;
                                        break;
                                }
                        if (done)
                                continue;
                }
                if (!strcmp(name, "type"))
                        cmp_enum(c, &f, nd_event_type_name(ev->type), name);
                else if (!strcmp(name, "channel"))
                        cmp_enum(c, &f, nd_channel_name(ev->channel), name);
                else if (!strcmp(name, "device_type"))
                        cmp_enum(c, &f, nd_device_type_name(ev->device_type),
                                 name);
                else if (!strcmp(name, "timestamp"))
                        cmp_num(c, &f, ev->timestamp, true, name);
                else if (!strcmp(name, "quantity"))
                        cmp_num(c, &f, ev->quantity, ev->has_quantity, name);
                else if (!strcmp(name, "value_cents"))
                        cmp_num(c, &f, ev->value_cents, ev->has_value, name);
                else if (!strcmp(name, "product")) {
                        bool has = branch(&f, &b);
                        ck_assert_int_eq(has, ev->has_product);
                        if (!has)
                                continue;
                        avro_value_get_by_name(&b, "sku", &fld, NULL);
                        cmp_str(c, &fld, ev->product.sku, "product.sku");
                        avro_value_get_by_name(&b, "category", &fld, NULL);
                        cmp_str(c, &fld, ev->product.category,
                                "product.category");
                        avro_value_get_by_name(&b, "price_cents", &fld, NULL);
                        cmp_num(c, &fld, ev->product.price_cents,
                                ev->product.has_price, "product.price_cents");
                        avro_value_get_by_name(&b, "currency", &fld, NULL);
                        cmp_str(c, &fld, ev->product.currency,
                                "product.currency");
                } else if (!strcmp(name, "products")) {
                        size_t cnt;
                        bool has = branch(&f, &b);
                        ck_assert_int_eq(has, ev->has_products);
                        if (!has)
                                continue;
                        avro_value_get_size(&b, &cnt);
                        ck_assert_int_eq(cnt, ev->product_cnt);
                        for (size_t k = 0; k < cnt; k++) {
                                const nd_line_item_t *li = &ev->products[k];
                                avro_value_get_by_index(&b, k, &it, NULL);
                                avro_value_get_by_name(&it, "sku", &fld, NULL);
                                cmp_str(c, &fld, li->sku, "products.sku");
                                avro_value_get_by_name(&it, "category", &fld,
                                                       NULL);
                                cmp_str(c, &fld, li->category,
                                        "products.category");
                                avro_value_get_by_name(&it, "quantity", &fld,
                                                       NULL);
                                cmp_num(c, &fld, li->quantity, true,
                                        "products.quantity");
                                avro_value_get_by_name(&it, "price_cents", &fld,
                                                       NULL);
                                cmp_num(c, &fld, li->price_cents, li->has_price,
                                        "products.price_cents");
                        }
                } else {
                        ck_abort_msg("field %s is not compared", name);
                }
        }
}

static void cmp_product(struct cmp *c, avro_value_t *rec,
                        const nd_product_rec_t *p) {
        avro_value_t f, it;
        size_t cnt;
        int b;
        avro_value_get_by_name(rec, "sku", &f, NULL);
        cmp_str(c, &f, p->sku, "sku");
        avro_value_get_by_name(rec, "name", &f, NULL);
        cmp_str(c, &f, p->name, "name");
        avro_value_get_by_name(rec, "category", &f, NULL);
        cmp_str(c, &f, p->category, "category");
        avro_value_get_by_name(rec, "price_cents", &f, NULL);
        cmp_num(c, &f, p->price_cents, p->has_price, "price_cents");
        avro_value_get_by_name(rec, "currency", &f, NULL);
        cmp_str(c, &f, p->currency, "currency");
        avro_value_get_by_name(rec, "in_stock", &f, NULL);
        avro_value_get_boolean(&f, &b);
        ck_assert_int_eq(b, p->in_stock);
        avro_value_get_by_name(rec, "complements", &f, NULL);
        avro_value_get_size(&f, &cnt);
        ck_assert_int_eq(cnt, p->complement_cnt);
        for (size_t k = 0; k < cnt; k++) {
                avro_value_get_by_index(&f, k, &it, NULL);
                cmp_str(c, &it, p->complements[k], "complements");
        }
}

static const char *const files[] = {"clickstream", "cart", "purchase",
                                    "catalog"};

START_TEST(fast_decoder_agrees_with_avro_c_on_random_records) {
        const char *file = files[_i];
        char path[512], err[512];
        static char text[65536];
        FILE *f;
        size_t tlen;
        avro_schema_t schema;
        avro_value_iface_t *cls;
        avro_value_t in, out;
        nd_serde_conf_t conf = {0};
        nd_serde_t *serde, *slow;
        nd_serde_stats_t st;
        uint8_t *buf = malloc(BUF_SIZE);
        uint64_t seed = 0x5eed0000ULL + (uint64_t)_i;
        const char *env = getenv("ND_TEST_SEED");
        struct cmp c = {file, 0};
        int products_full = 0, empty_strings = 0;

        if (env)
                seed = strtoull(env, NULL, 0) + (uint64_t)_i;
        rng_state = seed ? seed : 1;
        snprintf(path, sizeof(path), "%s/schemas/%s.avsc", ND_SOURCE_DIR, file);
        f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        tlen = fread(text, 1, sizeof(text), f);
        fclose(f);
        ck_assert_int_eq(avro_schema_from_json_length(text, tlen, &schema), 0);
        cls = avro_generic_class_from_schema(schema);
        avro_generic_value_new(cls, &in);
        avro_generic_value_new(cls, &out);

        conf.id_clickstream = 1;
        conf.id_cart = 2;
        conf.id_purchase = 3;
        conf.id_catalog = 4;
        conf.flags = ND_SERDE_F_NO_VALIDATE;
        ck_assert_int_eq(nd_serde_new(&conf, &serde, err, sizeof(err)), ND_OK);
        conf.flags |= ND_SERDE_F_NO_FAST;
        ck_assert_int_eq(nd_serde_new(&conf, &slow, err, sizeof(err)), ND_OK);

        for (c.rec = 0; c.rec < RECORDS_PER_SCHEMA; c.rec++) {
                avro_writer_t w;
                avro_reader_t r;
                size_t len;
                nd_event_t ev;
                nd_product_rec_t prod;
                nd_err_t rc;

                fill(&in, 0);
                buf[0] = 0;
                buf[1] = buf[2] = buf[3] = 0;
                buf[4] = (uint8_t)(_i + 1);
                w = avro_writer_memory((char *)buf + 5, BUF_SIZE - 5);
                ck_assert_msg(avro_value_write(w, &in) == 0, "%s",
                              avro_strerror());
                len = (size_t)avro_writer_tell(w) + 5;
                avro_writer_free(w);

                r = avro_reader_memory((char *)buf + 5, (int64_t)len - 5);
                avro_value_reset(&out);
                ck_assert_int_eq(avro_value_read(r, &out), 0);
                avro_reader_free(r);

                if (_i == 3) {
                        rc = nd_serde_decode_product(slow, buf, len, &prod, err,
                                                     sizeof(err));
                        ck_assert_msg(rc == ND_OK, "seed %llu record %d: %s",
                                      (unsigned long long)seed, c.rec, err);
                        cmp_product(&c, &out, &prod);
                        rc = nd_serde_decode_product(serde, buf, len, &prod,
                                                     err, sizeof(err));
                        ck_assert_msg(rc == ND_OK, "seed %llu record %d: %s",
                                      (unsigned long long)seed, c.rec, err);
                        cmp_product(&c, &out, &prod);
                        products_full +=
                            prod.complement_cnt == ND_PRODUCT_MAX_COMPLEMENTS;
                } else {
                        rc = nd_serde_decode(slow, buf, len, &ev, err,
                                             sizeof(err));
                        ck_assert_msg(rc == ND_OK, "seed %llu record %d: %s",
                                      (unsigned long long)seed, c.rec, err);
                        cmp_event(&c, &out, &ev);
                        rc = nd_serde_decode(serde, buf, len, &ev, err,
                                             sizeof(err));
                        ck_assert_msg(rc == ND_OK, "seed %llu record %d: %s",
                                      (unsigned long long)seed, c.rec, err);
                        cmp_event(&c, &out, &ev);
                        products_full += ev.product_cnt == ND_EVENT_MAX_ITEMS;
                        empty_strings += ev.event_id.len == 0;
                        /* zero copy */
                        if (ev.event_id.len)
                                ck_assert(
                                    (const uint8_t *)ev.event_id.p > buf &&
                                    (const uint8_t *)ev.event_id.p < buf + len);
                }
        }
        /* the generator did reach the edges */
        if (_i != 0) /* clickstream has no lists */
                ck_assert_int_gt(products_full, 0);
        if (_i != 3)
                ck_assert_int_gt(empty_strings, 0);

        /* every valid record of a shipped schema took the specialised
         * decoder; the interpreter alone decoded the same ones */
        nd_serde_stats(serde, &st);
        ck_assert_uint_eq(st.decoded_fast, RECORDS_PER_SCHEMA);
        nd_serde_stats(slow, &st);
        ck_assert_uint_eq(st.decoded_fast, 0);
        nd_serde_destroy(serde);
        nd_serde_destroy(slow);
        avro_value_decref(&in);
        avro_value_decref(&out);
        avro_value_iface_decref(cls);
        avro_schema_decref(schema);
        free(buf);
}
END_TEST

static Suite *serde_diff_suite(void) {
        Suite *s = suite_create("serde_diff");
        TCase *tc = tcase_create("differential");
        tcase_set_timeout(tc, 120);
        tcase_add_loop_test(
            tc, fast_decoder_agrees_with_avro_c_on_random_records, 0, 4);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(serde_diff_suite());
}
