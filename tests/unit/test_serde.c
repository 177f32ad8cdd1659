/* test_serde.c — schemas, Avro decode, bad records, evolution, JSON. */
#include <avro.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nd_test.h"
#include "serde.h"

#define ID_CLICK   1
#define ID_CART    2
#define ID_PURCH   3
#define ID_CATALOG 4
#define ID_ACTION  5

static const char *const schema_files[] = {"clickstream", "cart", "purchase",
                                           "catalog", "action"};

static nd_serde_t *new_serde(unsigned flags) {
        nd_serde_conf_t conf = {0};
        nd_serde_t *serde = NULL;
        char err[512];
        conf.id_clickstream = ID_CLICK;
        conf.id_cart = ID_CART;
        conf.id_purchase = ID_PURCH;
        conf.id_catalog = ID_CATALOG;
        conf.id_action = ID_ACTION;
        conf.flags = flags;
        ck_assert_msg(nd_serde_new(&conf, &serde, err, sizeof(err)) == ND_OK,
                      "%s", err);
        return serde;
}

static char *slurp(const char *name, size_t *lenp) {
        char path[512];
        FILE *f;
        static char buf[65536];
        snprintf(path, sizeof(path), "%s/schemas/%s.avsc", ND_SOURCE_DIR, name);
        f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        *lenp = fread(buf, 1, sizeof(buf) - 1, f);
        buf[*lenp] = '\0';
        fclose(f);
        return buf;
}

static avro_schema_t load_schema(const char *name) {
        size_t len;
        char *text = slurp(name, &len);
        avro_schema_t s = NULL;
        ck_assert_msg(avro_schema_from_json_length(text, len, &s) == 0,
                      "%s: %s", name, avro_strerror());
        return s;
}

static bool str_is(nd_str_t s, const char *want) {
        return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

/* ---- a tiny Avro byte writer for hand-made records ---- */
struct bb {
        uint8_t b[8192];
        size_t n;
};

static void bb_frame(struct bb *bb, uint32_t id) {
        bb->n = 0;
        bb->b[bb->n++] = 0;
        bb->b[bb->n++] = (uint8_t)(id >> 24);
        bb->b[bb->n++] = (uint8_t)(id >> 16);
        bb->b[bb->n++] = (uint8_t)(id >> 8);
        bb->b[bb->n++] = (uint8_t)id;
}

static void bb_raw(struct bb *bb, uint64_t u) {
        while (u >= 0x80) {
                bb->b[bb->n++] = (uint8_t)(u | 0x80);
                u >>= 7;
        }
        bb->b[bb->n++] = (uint8_t)u;
}

static void bb_long(struct bb *bb, int64_t v) {
        bb_raw(bb, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void bb_str(struct bb *bb, const char *s) {
        bb_long(bb, (int64_t)strlen(s));
        memcpy(bb->b + bb->n, s, strlen(s));
        bb->n += strlen(s);
}

/* ---- generic avro-c records ---- */
static avro_value_iface_t *iface_of(avro_schema_t s) {
        return avro_generic_class_from_schema(s);
}

static void set_str(avro_value_t *rec, const char *field, const char *v) {
        avro_value_t f, br;
        ck_assert_int_eq(avro_value_get_by_name(rec, field, &f, NULL), 0);
        if (avro_value_get_type(&f) == AVRO_UNION) {
                if (!v) {
                        ck_assert_int_eq(avro_value_set_branch(&f, 0, &br), 0);
                        avro_value_set_null(&br);
                        return;
                }
                ck_assert_int_eq(avro_value_set_branch(&f, 1, &br), 0);
                avro_value_set_string(&br, v);
                return;
        }
        avro_value_set_string(&f, v);
}

static void set_long(avro_value_t *rec, const char *field, int64_t v) {
        avro_value_t f, br;
        ck_assert_int_eq(avro_value_get_by_name(rec, field, &f, NULL), 0);
        if (avro_value_get_type(&f) == AVRO_UNION) {
                ck_assert_int_eq(avro_value_set_branch(&f, 1, &br), 0);
                if (avro_value_get_type(&br) == AVRO_INT32)
                        avro_value_set_int(&br, (int32_t)v);
                else
                        avro_value_set_long(&br, v);
                return;
        }
        if (avro_value_get_type(&f) == AVRO_INT32)
                avro_value_set_int(&f, (int32_t)v);
        else
                avro_value_set_long(&f, v);
}

static void set_enum(avro_value_t *rec, const char *field, const char *sym) {
        avro_value_t f;
        avro_schema_t es;
        ck_assert_int_eq(avro_value_get_by_name(rec, field, &f, NULL), 0);
        es = avro_value_get_schema(&f);
        ck_assert_int_ge(avro_schema_enum_get_by_name(es, sym), 0);
        avro_value_set_enum(&f, avro_schema_enum_get_by_name(es, sym));
}

/* Sets every union field to null (generic values start unset). */
static void null_unions(avro_value_t *rec) {
        size_t n;
        avro_value_get_size(rec, &n);
        for (size_t i = 0; i < n; i++) {
                avro_value_t f, br;
                avro_value_get_by_index(rec, i, &f, NULL);
                if (avro_value_get_type(&f) == AVRO_UNION) {
                        avro_value_set_branch(&f, 0, &br);
                        avro_value_set_null(&br);
                }
        }
}

static size_t write_framed(avro_value_t *v, uint32_t id, uint8_t *buf,
                           size_t cap) {
        avro_writer_t w = avro_writer_memory((char *)buf + 5, (int64_t)cap - 5);
        size_t n;
        buf[0] = 0;
        buf[1] = (uint8_t)(id >> 24);
        buf[2] = (uint8_t)(id >> 16);
        buf[3] = (uint8_t)(id >> 8);
        buf[4] = (uint8_t)id;
        ck_assert_msg(avro_value_write(w, v) == 0, "%s", avro_strerror());
        n = (size_t)avro_writer_tell(w);
        avro_writer_free(w);
        return n + 5;
}

/* ================================================================== */

START_TEST(every_schema_parses_with_avro_c) {
        avro_schema_t s = load_schema(schema_files[_i]);
        ck_assert_int_eq(avro_typeof(s), AVRO_RECORD);
        avro_schema_decref(s);
}
END_TEST

static void check_docs(json_t *node, const char *file, int *fields) {
        size_t i;
        json_t *v;
        const char *k;
        if (json_is_array(node)) {
                json_array_foreach(node, i, v) check_docs(v, file, fields);
                return;
        }
        if (!json_is_object(node))
                return;
        if (json_is_array(json_object_get(node, "fields"))) {
                ck_assert_msg(json_is_string(json_object_get(node, "doc")),
                              "%s: record without doc", file);
                json_array_foreach(json_object_get(node, "fields"), i, v) {
                        ck_assert_msg(
                            json_is_string(json_object_get(v, "doc")),
                            "%s: field %s has no doc", file,
                            json_string_value(json_object_get(v, "name")));
                        (*fields)++;
                }
        }
        json_object_foreach(node, k, v) check_docs(v, file, fields);
}

START_TEST(every_field_has_a_doc_and_timestamps_are_logical) {
        size_t len;
        char *text = slurp(schema_files[_i], &len);
        json_t *doc = json_loadb(text, len, 0, NULL);
        int fields = 0;
        ck_assert_ptr_nonnull(doc);
        ck_assert_ptr_nonnull(strstr(text, "\"namespace\": \"io.nudge."));
        check_docs(doc, schema_files[_i], &fields);
        ck_assert_int_gt(fields, 5);
        if (strcmp(schema_files[_i], "catalog") != 0)
                ck_assert_ptr_nonnull(strstr(text, "timestamp-millis"));
        json_decref(doc);
}
END_TEST

START_TEST(serde_refuses_a_missing_schema_dir) {
        nd_serde_conf_t conf = {0};
        nd_serde_t *serde = (nd_serde_t *)1;
        char err[256];
        conf.schema_dir = "/nonexistent";
        ck_assert_int_eq(nd_serde_new(&conf, &serde, err, sizeof(err)),
                         ND_ERR_IO);
        ck_assert_ptr_null(serde);
        ck_assert_ptr_nonnull(strstr(err, "/nonexistent/clickstream.avsc"));
}
END_TEST

/* Writes file name with text into dir. */
static void write_file(const char *dir, const char *name, const char *text,
                       size_t len) {
        char path[512];
        FILE *f;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(text, 1, len, f), len);
        fclose(f);
}

/* The encoder writes act->trigger as the TriggerType index, so an
 * action.avsc whose symbols are not ND_TRIGGER_TYPE_MAP in order would
 * have senders read the wrong type: nd_serde_new refuses it, naming the
 * file, the symbol and its index. */
START_TEST(an_action_schema_with_trigger_types_out_of_order_is_refused) {
        char dir[64], err[512], path[600];
        nd_serde_conf_t conf = {0};
        nd_serde_t *serde = (nd_serde_t *)1;
        size_t len;
        char *text, *modified;
        json_t *doc, *trigger, *syms;

        snprintf(dir, sizeof(dir), "%s", nd_test_tmp_path("serde", "schemas"));
        ck_assert_int_eq(mkdir(dir, 0700), 0);
        for (int i = 0; i < 4; i++) { /* the reader schemas, unchanged */
                char name[64];
                text = slurp(schema_files[i], &len);
                snprintf(name, sizeof(name), "%s.avsc", schema_files[i]);
                write_file(dir, name, text, len);
        }
        /* browse_abandonment (1) and post_purchase_upsell (2) swapped */
        text = slurp("action", &len);
        doc = json_loadb(text, len, 0, NULL);
        ck_assert_ptr_nonnull(doc);
        trigger = json_array_get(json_object_get(doc, "fields"), 1);
        ck_assert_str_eq(json_string_value(json_object_get(trigger, "name")),
                         "trigger");
        syms = json_object_get(json_object_get(trigger, "type"), "symbols");
        ck_assert_str_eq(json_string_value(json_array_get(syms, 1)),
                         "browse_abandonment");
        json_array_insert(syms, 1, json_array_get(syms, 2));
        json_array_remove(syms, 3);
        modified = json_dumps(doc, JSON_INDENT(2));
        write_file(dir, "action.avsc", modified, strlen(modified));
        free(modified);
        json_decref(doc);

        conf.schema_dir = dir;
        ck_assert_int_eq(nd_serde_new(&conf, &serde, err, sizeof(err)),
                         ND_ERR_CONFIG);
        ck_assert_ptr_null(serde);
        snprintf(path, sizeof(path), "%s/action.avsc: ", dir);
        ck_assert_msg(strstr(err, path) == err, "%s", err);
        ck_assert_msg(strstr(err, "symbol 'post_purchase_upsell' at index 1 "
                                  "must be 'browse_abandonment'"),
                      "%s", err);

        for (int i = 0; i < 5; i++) {
                snprintf(path, sizeof(path), "%s/%s.avsc", dir,
                         schema_files[i]);
                ck_assert_int_eq(unlink(path), 0);
        }
        ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* A full product_added through avro-c's generic writer. */
static size_t make_product_added(uint8_t *buf, size_t cap, const char *customer,
                                 const char *anon) {
        avro_schema_t s = load_schema("cart");
        avro_value_iface_t *cls = iface_of(s);
        avro_value_t rec, f, br, fld;
        size_t n;
        avro_generic_value_new(cls, &rec);
        null_unions(&rec);
        set_str(&rec, "event_id", "ev-1");
        set_enum(&rec, "type", "product_added");
        set_str(&rec, "customer_id", customer);
        set_str(&rec, "anonymous_id", anon);
        set_long(&rec, "timestamp", 1700000000123LL);
        set_enum(&rec, "channel", "app");
        set_str(&rec, "device_id", "dev-9");
        set_enum(&rec, "device_type", "tablet");
        set_str(&rec, "cart_id", "cart-7");
        set_long(&rec, "quantity", 3);
        avro_value_get_by_name(&rec, "product", &f, NULL);
        avro_value_set_branch(&f, 1, &br);
        null_unions(&br);
        avro_value_get_by_name(&br, "sku", &fld, NULL);
        avro_value_set_string(&fld, "SKU-1");
        set_str(&br, "category", "shoes");
        set_long(&br, "price_cents", 4999);
        set_str(&br, "currency", "EUR");
        n = write_framed(&rec, ID_CART, buf, cap);
        avro_value_decref(&rec);
        avro_value_iface_decref(cls);
        avro_schema_decref(s);
        return n;
}

START_TEST(product_added_decodes_every_field) {
        nd_serde_t *serde = new_serde(0);
        uint8_t buf[1024];
        size_t n = make_product_added(buf, sizeof(buf), "cust-1", "anon-1");
        nd_event_t ev;
        char err[256];
        ck_assert_msg(nd_serde_decode(serde, buf, n, &ev, err, sizeof(err)) ==
                          ND_OK,
                      "%s", err);
        ck_assert_int_eq(ev.type, ND_EV_PRODUCT_ADDED);
        ck_assert(str_is(ev.event_id, "ev-1"));
        ck_assert(str_is(ev.customer_id, "cust-1"));
        ck_assert(str_is(ev.anonymous_id, "anon-1"));
        ck_assert_int_eq(ev.timestamp, 1700000000123LL);
        ck_assert_int_eq(ev.channel, ND_CHANNEL_APP);
        ck_assert(str_is(ev.device_id, "dev-9"));
        ck_assert_int_eq(ev.device_type, ND_DEVICE_TABLET);
        ck_assert(nd_str_is_null(ev.session_id));
        ck_assert(ev.has_product);
        ck_assert(str_is(ev.product.sku, "SKU-1"));
        ck_assert(str_is(ev.product.category, "shoes"));
        ck_assert(ev.product.has_price);
        ck_assert_int_eq(ev.product.price_cents, 4999);
        ck_assert(str_is(ev.product.currency, "EUR"));
        ck_assert(str_is(ev.cart_id, "cart-7"));
        ck_assert(ev.has_quantity);
        ck_assert_int_eq(ev.quantity, 3);
        ck_assert(!ev.has_products);
        ck_assert(str_is(ev.key, "cust-1"));
        ck_assert(ev.key_is_customer);
        /* zero copy: the strings are slices of the input buffer */
        ck_assert((const uint8_t *)ev.event_id.p > buf &&
                  (const uint8_t *)ev.event_id.p < buf + n);
        ck_assert((const uint8_t *)ev.product.sku.p < buf + n);
        ck_assert_int_eq(nd_serde_check_key(&ev, "cust-1", 6, err, sizeof(err)),
                         ND_OK);
        nd_serde_destroy(serde);
}
END_TEST

/* The shipped schemas are the ones the specialised decoders were written
 * for: if this fails after a schema edit, update sp_<topic>() and
 * nd__serde_fast_sigs[] in serde_fast.c (nd_serde_new logs the new
 * signature). */
START_TEST(shipped_schemas_take_the_specialised_decoders) {
        nd_serde_t *serde = new_serde(0);
        uint8_t buf[1024];
        size_t n = make_product_added(buf, sizeof(buf), "cust-1", NULL);
        nd_serde_stats_t st;
        nd_event_t ev;
        char err[256];
        ck_assert_int_eq(nd_serde_decode(serde, buf, n, &ev, err, sizeof(err)),
                         ND_OK);
        /* a record it refuses (one byte short) goes to the interpreter,
         * which names the problem */
        ck_assert_int_eq(
            nd_serde_decode(serde, buf, n - 1, &ev, err, sizeof(err)),
            ND_ERR_TRUNCATED);
        ck_assert_ptr_nonnull(strstr(err, "field 'checkout_id'"));
        nd_serde_stats(serde, &st);
        ck_assert_uint_eq(st.decoded_fast, 1);
        ck_assert_uint_eq(st.decoded, 1);
        ck_assert_uint_eq(st.failed, 1);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(empty_customer_id_counts_as_null_for_the_key) {
        nd_serde_t *serde = new_serde(0);
        uint8_t buf[1024];
        size_t n = make_product_added(buf, sizeof(buf), "", "anon-1");
        nd_event_t ev;
        char err[256];
        ck_assert_int_eq(nd_serde_decode(serde, buf, n, &ev, err, sizeof(err)),
                         ND_OK);
        ck_assert(nd_str_is_null(ev.customer_id));
        ck_assert(str_is(ev.key, "anon-1"));
        ck_assert(!ev.key_is_customer);
        ck_assert_int_eq(nd_serde_check_key(&ev, "cust-1", 6, err, sizeof(err)),
                         ND_ERR_WRONG_KEY);
        ck_assert_ptr_nonnull(strstr(err, "anon-1"));
        ck_assert_int_eq(nd_serde_check_key(&ev, NULL, 0, err, sizeof(err)),
                         ND_ERR_WRONG_KEY);
        ck_assert_int_eq(nd_serde_check_key(&ev, "anon-1", 6, err, sizeof(err)),
                         ND_OK);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(an_event_without_any_id_is_missing_a_field) {
        nd_serde_t *serde = new_serde(0);
        uint8_t buf[1024];
        size_t n = make_product_added(buf, sizeof(buf), "", NULL);
        nd_event_t ev;
        char err[256];
        ck_assert_int_eq(nd_serde_decode(serde, buf, n, &ev, err, sizeof(err)),
                         ND_ERR_MISSING_FIELD);
        ck_assert_ptr_nonnull(strstr(err, "customer_id or anonymous_id"));
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(cart_viewed_products_and_catalog_lists_decode) {
        nd_serde_t *serde = new_serde(0);
        avro_schema_t s = load_schema("cart"), cs = load_schema("catalog");
        avro_value_iface_t *cls = iface_of(s), *ccls = iface_of(cs);
        avro_value_t rec, f, br, item, fld;
        uint8_t buf[4096];
        size_t n;
        nd_event_t ev;
        nd_product_rec_t prod;
        char err[256];

        avro_generic_value_new(cls, &rec);
        null_unions(&rec);
        set_str(&rec, "event_id", "ev-2");
        set_enum(&rec, "type", "cart_viewed");
        set_str(&rec, "anonymous_id", "a-1");
        set_long(&rec, "timestamp", 5);
        set_enum(&rec, "channel", "web");
        set_enum(&rec, "device_type", "desktop");
        avro_value_get_by_name(&rec, "products", &f, NULL);
        avro_value_set_branch(&f, 1, &br);
        for (int i = 0; i < 3; i++) {
                char sku[16];
                snprintf(sku, sizeof(sku), "S%d", i);
                avro_value_append(&br, &item, NULL);
                null_unions(&item);
                avro_value_get_by_name(&item, "sku", &fld, NULL);
                avro_value_set_string(&fld, sku);
                avro_value_get_by_name(&item, "quantity", &fld, NULL);
                avro_value_set_int(&fld, i + 1);
                if (i == 1)
                        set_long(&item, "price_cents", 250);
        }
        n = write_framed(&rec, ID_CART, buf, sizeof(buf));
        ck_assert_msg(nd_serde_decode(serde, buf, n, &ev, err, sizeof(err)) ==
                          ND_OK,
                      "%s", err);
        ck_assert(ev.has_products);
        ck_assert_int_eq(ev.product_cnt, 3);
        ck_assert(str_is(ev.products[2].sku, "S2"));
        ck_assert_int_eq(ev.products[2].quantity, 3);
        ck_assert(ev.products[1].has_price);
        ck_assert_int_eq(ev.products[1].price_cents, 250);
        ck_assert(!ev.products[0].has_price);
        ck_assert(!ev.has_quantity);
        ck_assert_int_eq(ev.quantity, 1); /* null means 1 */
        ck_assert(str_is(ev.key, "a-1"));

        /* [] is a snapshot of an empty cart, unlike null */
        avro_value_reset(&br);
        n = write_framed(&rec, ID_CART, buf, sizeof(buf));
        ck_assert_int_eq(nd_serde_decode(serde, buf, n, &ev, err, sizeof(err)),
                         ND_OK);
        ck_assert(ev.has_products);
        ck_assert_int_eq(ev.product_cnt, 0);

        /* a catalog record is not an event, and the other way round */
        ck_assert_int_eq(
            nd_serde_decode_product(serde, buf, n, &prod, err, sizeof(err)),
            ND_ERR_UNKNOWN_SCHEMA);
        avro_value_decref(&rec);
        avro_generic_value_new(ccls, &rec);
        null_unions(&rec);
        avro_value_get_by_name(&rec, "sku", &fld, NULL);
        avro_value_set_string(&fld, "SKU-9");
        set_str(&rec, "name", "Boot");
        avro_value_get_by_name(&rec, "in_stock", &fld, NULL);
        avro_value_set_boolean(&fld, 0);
        avro_value_get_by_name(&rec, "complements", &f, NULL);
        avro_value_append(&f, &item, NULL);
        avro_value_set_string(&item, "SKU-10");
        avro_value_append(&f, &item, NULL);
        avro_value_set_string(&item, "SKU-11");
        n = write_framed(&rec, ID_CATALOG, buf, sizeof(buf));
        ck_assert_msg(nd_serde_decode_product(serde, buf, n, &prod, err,
                                              sizeof(err)) == ND_OK,
                      "%s", err);
        ck_assert(str_is(prod.sku, "SKU-9"));
        ck_assert(str_is(prod.name, "Boot"));
        ck_assert(!prod.in_stock);
        ck_assert_int_eq(prod.complement_cnt, 2);
        ck_assert(str_is(prod.complements[1], "SKU-11"));
        ck_assert_int_eq(nd_serde_decode(serde, buf, n, &ev, err, sizeof(err)),
                         ND_ERR_UNKNOWN_SCHEMA);
        avro_value_decref(&rec);
        avro_value_iface_decref(cls);
        avro_value_iface_decref(ccls);
        avro_schema_decref(s);
        avro_schema_decref(cs);
        nd_serde_destroy(serde);
}
END_TEST

/* ---- bad records: hand-made bytes against small writer schemas ---- */

/* id 100: the envelope only; reader defaults fill the rest. */
static const char *const mini_schema =
    "{\"type\":\"record\",\"name\":\"CartEvent\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":"
    "\"CartEventType\",\"symbols\":[\"product_added\",\"product_removed\","
    "\"cart_viewed\",\"checkout_started\"]}},"
    "{\"name\":\"customer_id\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"anonymous_id\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"timestamp\",\"type\":\"long\"},"
    "{\"name\":\"products\",\"type\":[\"null\",{\"type\":\"array\","
    "\"items\":{\"type\":\"record\",\"name\":\"LineItem\",\"fields\":["
    "{\"name\":\"sku\",\"type\":\"string\"}]}}]}]}";

/* id 101: event_id nullable in the writer, required in the reader. */
static const char *const nullable_id_schema =
    "{\"type\":\"record\",\"name\":\"CartEvent\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":"
    "\"CartEventType\",\"symbols\":[\"cart_viewed\"]}},"
    "{\"name\":\"anonymous_id\",\"type\":\"string\"},"
    "{\"name\":\"timestamp\",\"type\":\"long\"}]}";

enum mut {
        M_NONE,
        M_SHORT_FRAME,
        M_MAGIC,
        M_UNKNOWN_ID,
        M_CUT_VARINT,
        M_VARINT_OVERFLOW,
        M_NEG_LENGTH,
        M_BIG_LENGTH,
        M_BAD_ENUM,
        M_BAD_UNION,
        M_EMPTY_ID,
        M_NULL_ID,
        M_TRAILING,
        M_ITEMS_OVER_CAP,
        M_ITEM_SKU_TOO_LONG,
        M_NEG_ARRAY_COUNT_HUGE,
};

static void make_mini(struct bb *bb, enum mut m) {
        bb_frame(bb, m == M_UNKNOWN_ID ? 999 : m == M_NULL_ID ? 101 : 100);
        if (m == M_MAGIC)
                bb->b[0] = 7;
        if (m == M_NULL_ID) {
                bb_long(bb, 0); /* event_id: null branch */
                bb_long(bb, 0);
                bb_str(bb, "a");
                bb_long(bb, 1);
                return;
        }
        if (m == M_NEG_LENGTH)
                bb_long(bb, -3);
        else if (m == M_BIG_LENGTH)
                bb_long(bb, 4000000);
        else
                bb_str(bb, m == M_EMPTY_ID ? "" : "ev-1");
        bb_long(bb, m == M_BAD_ENUM ? 9 : 2);  /* cart_viewed */
        bb_long(bb, m == M_BAD_UNION ? 5 : 1); /* customer_id */
        bb_str(bb, "cust-1");
        bb_long(bb, 0); /* anonymous_id */
        if (m == M_VARINT_OVERFLOW) {
                for (int i = 0; i < 11; i++)
                        bb->b[bb->n++] = 0xff;
                bb->b[bb->n++] = 0x01;
        } else {
                bb_long(bb, 1700000000000LL);
        }
        if (m == M_CUT_VARINT) {
                bb->n -= 2; /* inside the timestamp */
                return;
        }
        bb_long(bb, 1); /* products: the array branch */
        if (m == M_ITEMS_OVER_CAP) {
                bb_long(bb, ND_EVENT_MAX_ITEMS + 1);
                for (int i = 0; i <= ND_EVENT_MAX_ITEMS; i++)
                        bb_str(bb, "s");
        } else if (m == M_NEG_ARRAY_COUNT_HUGE) {
                bb_long(bb, INT64_MIN);
        } else {
                bb_long(bb, 3);
                bb_str(bb, "s0");
                bb_str(bb, "s1");
                if (m == M_ITEM_SKU_TOO_LONG)
                        bb_long(bb, 4000000);
                else
                        bb_str(bb, "s2");
        }
        bb_long(bb, 0);
        if (m == M_TRAILING)
                bb->b[bb->n++] = 0x42;
        if (m == M_SHORT_FRAME)
                bb->n = 3;
}

static const struct bad_case {
        enum mut m;
        nd_err_t want;
        const char *text;
} bad_cases[] = {
    {M_SHORT_FRAME, ND_ERR_TRUNCATED, "shorter than the 5-byte"},
    {M_MAGIC, ND_ERR_BAD_MAGIC, "magic byte is 0x07"},
    {M_UNKNOWN_ID, ND_ERR_UNKNOWN_SCHEMA, "schema id 999"},
    {M_CUT_VARINT, ND_ERR_TRUNCATED, "field 'timestamp': record ends"},
    {M_VARINT_OVERFLOW, ND_ERR_BAD_VARINT, "field 'timestamp': long varint"},
    {M_NEG_LENGTH, ND_ERR_BAD_LENGTH, "field 'event_id': negative length -3"},
    {M_BIG_LENGTH, ND_ERR_BAD_LENGTH, "length 4000000 exceeds record"},
    {M_BAD_ENUM, ND_ERR_BAD_ENUM, "field 'type': enum index 9"},
    {M_BAD_UNION, ND_ERR_BAD_UNION, "field 'customer_id': union branch 5"},
    {M_EMPTY_ID, ND_ERR_MISSING_FIELD, "field 'event_id' is empty"},
    {M_NULL_ID, ND_ERR_MISSING_FIELD, "field 'event_id': null is not"},
    {M_TRAILING, ND_ERR_BAD_LENGTH, "1 bytes left after the record"},
    {M_ITEMS_OVER_CAP, ND_ERR_BAD_LENGTH, "257 items exceed the cap of 256"},
    {M_ITEM_SKU_TOO_LONG, ND_ERR_BAD_LENGTH,
     "field 'products[2].sku': length 4000000 exceeds record"},
    {M_NEG_ARRAY_COUNT_HUGE, ND_ERR_BAD_LENGTH, "out of range"},
};

static nd_serde_t *new_mini_serde(void) {
        nd_serde_t *serde = new_serde(0);
        char err[512];
        ck_assert_msg(nd_serde_add_schema(serde, 100, mini_schema,
                                          strlen(mini_schema), err,
                                          sizeof(err)) == ND_OK,
                      "%s", err);
        ck_assert_msg(nd_serde_add_schema(serde, 101, nullable_id_schema,
                                          strlen(nullable_id_schema), err,
                                          sizeof(err)) == ND_OK,
                      "%s", err);
        return serde;
}

START_TEST(a_good_hand_made_record_decodes) {
        nd_serde_t *serde = new_mini_serde();
        struct bb bb;
        nd_event_t ev;
        char err[256];
        make_mini(&bb, M_NONE);
        ck_assert_msg(
            nd_serde_decode(serde, bb.b, bb.n, &ev, err, sizeof(err)) == ND_OK,
            "%s", err);
        ck_assert_int_eq(ev.type, ND_EV_CART_VIEWED);
        ck_assert_int_eq(ev.product_cnt, 3);
        ck_assert(str_is(ev.products[1].sku, "s1"));
        /* reader defaults for what the writer lacks */
        ck_assert_int_eq(ev.products[1].quantity, 1);
        ck_assert_int_eq(ev.channel, ND_CHANNEL_OTHER);
        ck_assert_int_eq(ev.device_type, ND_DEVICE_UNKNOWN);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(each_bad_record_class_yields_its_code_and_text) {
        const struct bad_case *bc = &bad_cases[_i];
        nd_serde_t *serde = new_mini_serde();
        struct bb bb;
        nd_event_t ev;
        char err[256] = "";
        nd_err_t rc;
        make_mini(&bb, bc->m);
        rc = nd_serde_decode(serde, bb.b, bb.n, &ev, err, sizeof(err));
        ck_assert_msg(rc == bc->want, "case %d: got %s (%s), want %s", _i,
                      nd_err_name(rc), err, nd_err_name(bc->want));
        ck_assert_int_eq(nd_err_class(rc), ND_ERR_CLASS_RECORD);
        ck_assert_msg(strstr(err, bc->text) != NULL,
                      "case %d: text '%s' lacks '%s'", _i, err, bc->text);
        /* the decoder goes on after a bad record */
        make_mini(&bb, M_NONE);
        ck_assert_int_eq(
            nd_serde_decode(serde, bb.b, bb.n, &ev, err, sizeof(err)), ND_OK);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(every_prefix_of_a_record_fails_cleanly) {
        nd_serde_t *serde = new_serde(0);
        uint8_t buf[1024];
        size_t n = make_product_added(buf, sizeof(buf), "c", "a");
        nd_event_t ev;
        char err[256];
        for (size_t len = 0; len < n; len++) {
                nd_err_t rc =
                    nd_serde_decode(serde, buf, len, &ev, err, sizeof(err));
                ck_assert_msg(rc == ND_ERR_TRUNCATED || rc == ND_ERR_BAD_LENGTH,
                              "len %zu: %s", len, nd_err_name(rc));
        }
        nd_serde_destroy(serde);
}
END_TEST


/* A name defined twice is invalid Avro, and avro-c 1.11 leaks on it (the
 * OCF fuzzer found it): such writer schemas are refused before avro-c. */
START_TEST(a_writer_schema_defining_a_name_twice_is_refused) {
        static const char *const twice =
            "{\"type\":\"record\",\"name\":\"CartEvent\",\"namespace\":"
            "\"io.nudge.events\",\"fields\":["
            "{\"name\":\"a\",\"type\":{\"type\":\"record\",\"name\":"
            "\"Product\",\"fields\":[{\"name\":\"sku\",\"type\":"
            "\"string\"}]}},"
            "{\"name\":\"b\",\"type\":{\"type\":\"record\",\"name\":"
            "\"Product\",\"fields\":[{\"name\":\"sku\",\"type\":"
            "\"string\"}]}}]}";
        static const char *const nested_ns =
            "{\"type\":\"record\",\"name\":\"a.b.Outer\",\"fields\":["
            "{\"name\":\"x\",\"type\":{\"type\":\"enum\",\"name\":"
            "\"E\",\"symbols\":[\"s\"]}},"
            "{\"name\":\"y\",\"type\":{\"type\":\"enum\",\"name\":"
            "\"c.E\",\"symbols\":[\"s\"]}}]}";
        nd_serde_t *serde = new_serde(0);
        char err[512];
        ck_assert_int_eq(nd_serde_add_schema(serde, 300, twice, strlen(twice),
                                             err, sizeof(err)),
                         ND_ERR_UNKNOWN_SCHEMA);
        ck_assert_ptr_nonnull(strstr(err, "io.nudge.events.Product twice"));
        /* a.b.E and c.E are different names: not refused for that */
        nd_serde_add_schema(serde, 301, nested_ns, strlen(nested_ns), err,
                            sizeof(err));
        ck_assert_ptr_null(strstr(err, "twice"));
        nd_serde_destroy(serde);
}
END_TEST

/* ---- schema evolution ---- */

struct evo_case {
        const char *name;
        const char *schema; /* writer, a CartEvent */
        void (*write)(struct bb *bb);
        nd_err_t add_err; /* what nd_serde_add_schema says */
};

#define ENV_FIELDS                                                 \
        "{\"name\":\"event_id\",\"type\":\"string\"},"             \
        "{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":" \
        "\"CartEventType\",\"symbols\":[\"checkout_started\"]}},"  \
        "{\"name\":\"customer_id\",\"type\":[\"null\",\"string\"]},"

/* Added reader fields with defaults (session_id, channel, device_type, the
 * line's quantity...) and writer-only fields of every type, skipped. */
static const char *const evo_extra =
    "{\"type\":\"record\",\"name\":\"CartEvent\",\"fields\":[" ENV_FIELDS
    "{\"name\":\"w_f\",\"type\":\"float\"},"
    "{\"name\":\"w_d\",\"type\":\"double\"},"
    "{\"name\":\"w_fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F3\","
    "\"size\":3}},"
    "{\"name\":\"w_m\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"
    "{\"name\":\"w_a\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"
    "{\"name\":\"w_r\",\"type\":{\"type\":\"record\",\"name\":\"X\","
    "\"fields\":[{\"name\":\"b\",\"type\":\"boolean\"},{\"name\":\"s\","
    "\"type\":[\"null\",\"bytes\",\"string\"]}]}},"
    "{\"name\":\"w_e\",\"type\":{\"type\":\"enum\",\"name\":\"E\","
    "\"symbols\":[\"x\",\"y\"]}},"
    "{\"name\":\"timestamp\",\"type\":\"long\"}]}";

static void write_extra(struct bb *bb) {
        bb_str(bb, "ev");
        bb_long(bb, 0);
        bb_long(bb, 1);
        bb_str(bb, "c");
        memcpy(bb->b + bb->n, "\0\0\x80?", 4); /* float 1.0 */
        bb->n += 4;
        memset(bb->b + bb->n, 0, 8);
        bb->n += 8;
        memcpy(bb->b + bb->n, "abc", 3);
        bb->n += 3;
        bb_long(bb, -1); /* map block of 1, with a byte size */
        bb_long(bb, 3);
        bb_str(bb, "k");
        bb_long(bb, 7);
        bb_long(bb, 0);
        bb_long(bb, 4); /* 4 nulls */
        bb_long(bb, 0);
        bb->b[bb->n++] = 1; /* w_r.b */
        bb_long(bb, 2);
        bb_str(bb, "zz");
        bb_long(bb, 1); /* w_e */
        bb_long(bb, 42);
}

/* Reordered fields, int->long, bytes->string, a non-union writer field into
 * a reader union. */
static const char *const evo_reorder =
    "{\"type\":\"record\",\"name\":\"CartEvent\",\"fields\":["
    "{\"name\":\"timestamp\",\"type\":\"int\"},"
    "{\"name\":\"quantity\",\"type\":\"int\"},"
    "{\"name\":\"customer_id\",\"type\":\"bytes\"},"
    "{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":"
    "\"CartEventType\",\"symbols\":[\"zzz\",\"product_added\"]}},"
    "{\"name\":\"product\",\"type\":{\"type\":\"record\",\"name\":"
    "\"Product\",\"fields\":[{\"name\":\"price_cents\",\"type\":\"int\"},"
    "{\"name\":\"sku\",\"type\":\"bytes\"}]}},"
    "{\"name\":\"event_id\",\"type\":\"string\"}]}";

static void write_reorder(struct bb *bb) {
        bb_long(bb, 42);
        bb_long(bb, 5);
        bb_str(bb, "c");
        bb_long(bb, 1);
        bb_long(bb, 1999);
        bb_str(bb, "SKU");
        bb_str(bb, "ev");
}

/* A writer union with a branch the reader cannot take. */
static const char *const evo_wide_union =
    "{\"type\":\"record\",\"name\":\"CartEvent\",\"fields\":[" ENV_FIELDS
    "{\"name\":\"timestamp\",\"type\":[\"long\",\"string\"]}]}";

static void write_wide_union_ok(struct bb *bb) {
        bb_str(bb, "ev");
        bb_long(bb, 0);
        bb_long(bb, 1);
        bb_str(bb, "c");
        bb_long(bb, 0);
        bb_long(bb, 42);
}

static const char *const evo_no_order_id =
    "{\"type\":\"record\",\"name\":\"PurchaseEvent\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"}]}";

static const char *const evo_string_timestamp =
    "{\"type\":\"record\",\"name\":\"CartEvent\",\"fields\":[" ENV_FIELDS
    "{\"name\":\"timestamp\",\"type\":\"string\"}]}";

static const char *const evo_recursive =
    "{\"type\":\"record\",\"name\":\"CartEvent\",\"fields\":[" ENV_FIELDS
    "{\"name\":\"timestamp\",\"type\":\"long\"},"
    "{\"name\":\"next\",\"type\":[\"null\",\"CartEvent\"]}]}";

static const char *const evo_foreign =
    "{\"type\":\"record\",\"name\":\"Unrelated\",\"fields\":["
    "{\"name\":\"a\",\"type\":\"long\"}]}";

static const struct evo_case evo_cases[] = {
    {"extra", evo_extra, write_extra, ND_OK},
    {"reorder", evo_reorder, write_reorder, ND_OK},
    {"wide_union", evo_wide_union, write_wide_union_ok, ND_OK},
    {"no_order_id", evo_no_order_id, NULL, ND_ERR_INCOMPATIBLE_SCHEMA},
    {"string_ts", evo_string_timestamp, NULL, ND_ERR_INCOMPATIBLE_SCHEMA},
    {"recursive", evo_recursive, NULL, ND_ERR_UNKNOWN_SCHEMA},
    {"foreign", evo_foreign, NULL, ND_ERR_UNKNOWN_SCHEMA},
    {"not json", "{\"type\":", NULL, ND_ERR_UNKNOWN_SCHEMA},
};

START_TEST(writer_schemas_resolve_by_avro_rules) {
        const struct evo_case *ec = &evo_cases[_i];
        nd_serde_t *serde = new_serde(0);
        struct bb bb;
        nd_event_t ev;
        char err[512] = "";
        nd_err_t rc = nd_serde_add_schema(serde, 200, ec->schema,
                                          strlen(ec->schema), err, sizeof(err));
        ck_assert_msg(rc == ec->add_err, "%s: %s (%s)", ec->name,
                      nd_err_name(rc), err);
        if (rc == ND_OK) {
                bb_frame(&bb, 200);
                ec->write(&bb);
                rc = nd_serde_decode(serde, bb.b, bb.n, &ev, err, sizeof(err));
                ck_assert_msg(rc == ND_OK, "%s: %s", ec->name, err);
                ck_assert(str_is(ev.event_id, "ev"));
                ck_assert(str_is(ev.customer_id, "c"));
                ck_assert_int_eq(ev.timestamp, 42);
                ck_assert_int_eq(ev.type, ec->write == write_reorder
                                              ? ND_EV_PRODUCT_ADDED
                                              : ND_EV_CHECKOUT_STARTED);
                ck_assert_int_eq(ev.channel, ND_CHANNEL_OTHER);
                ck_assert(nd_str_is_null(ev.session_id));
        } else {
                /* every record of that id gets the same error */
                bb_frame(&bb, 200);
                bb_long(&bb, 0);
                ck_assert_int_eq(
                    nd_serde_decode(serde, bb.b, bb.n, &ev, err, sizeof(err)),
                    ec->add_err);
                ck_assert_ptr_nonnull(strstr(err, "schema id 200"));
        }
        if (ec->write == write_reorder) {
                ck_assert(ev.has_product);
                ck_assert(str_is(ev.product.sku, "SKU"));
                ck_assert_int_eq(ev.product.price_cents, 1999);
                ck_assert(ev.has_quantity);
                ck_assert_int_eq(ev.quantity, 5);
        }
        if (ec->write == write_wide_union_ok) {
                /* the string branch has no reader counterpart */
                bb_frame(&bb, 200);
                bb_str(&bb, "ev");
                bb_long(&bb, 0);
                bb_long(&bb, 0);
                bb_long(&bb, 1);
                bb_str(&bb, "soon");
                ck_assert_int_eq(
                    nd_serde_decode(serde, bb.b, bb.n, &ev, err, sizeof(err)),
                    ND_ERR_BAD_UNION);
                ck_assert_ptr_nonnull(strstr(err, "string"));
        }
        if (ec->write == write_reorder) {
                /* a writer enum symbol the reader lacks */
                bb_frame(&bb, 200);
                bb_long(&bb, 42);
                bb_long(&bb, 5);
                bb_str(&bb, "c");
                bb_long(&bb, 0); /* zzz */
                bb_long(&bb, 1);
                bb_str(&bb, "S");
                bb_str(&bb, "ev");
                ck_assert_int_eq(
                    nd_serde_decode(serde, bb.b, bb.n, &ev, err, sizeof(err)),
                    ND_ERR_BAD_ENUM);
                ck_assert_ptr_nonnull(strstr(err, "'zzz'"));
        }
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(an_unknown_channel_symbol_takes_the_reader_default) {
        static const char *const schema =
            "{\"type\":\"record\",\"name\":\"CartEvent\",\"fields\":"
            "[" ENV_FIELDS "{\"name\":\"timestamp\",\"type\":\"long\"},"
            "{\"name\":\"channel\",\"type\":{\"type\":\"enum\",\"name\":"
            "\"Channel\",\"symbols\":[\"web\",\"hologram\"]}}]}";
        nd_serde_t *serde = new_serde(0);
        struct bb bb;
        nd_event_t ev;
        char err[512];
        ck_assert_int_eq(nd_serde_add_schema(serde, 300, schema, strlen(schema),
                                             err, sizeof(err)),
                         ND_OK);
        for (int sym = 0; sym < 2; sym++) {
                bb_frame(&bb, 300);
                bb_str(&bb, "ev");
                bb_long(&bb, 0);
                bb_long(&bb, 1);
                bb_str(&bb, "c");
                bb_long(&bb, 1);
                bb_long(&bb, sym);
                ck_assert_int_eq(
                    nd_serde_decode(serde, bb.b, bb.n, &ev, err, sizeof(err)),
                    ND_OK);
                ck_assert_int_eq(ev.channel,
                                 sym == 0 ? ND_CHANNEL_WEB : ND_CHANNEL_OTHER);
        }
        nd_serde_destroy(serde);
}
END_TEST

/* ---- JSON ---- */

struct json_case {
        const char *json;
        nd_err_t want;
        const char *text;
};

static const struct json_case json_cases[] = {
    {"{\"event_id\":\"e\",\"type\":\"page_viewed\",\"customer_id\":\"c\","
     "\"timestamp\":1}",
     ND_OK, NULL},
    {"{\"type\":\"page_viewed\",\"customer_id\":\"c\",\"timestamp\":1}",
     ND_ERR_MISSING_FIELD, "'event_id' is missing"},
    {"{\"event_id\":null,\"type\":\"page_viewed\",\"customer_id\":\"c\","
     "\"timestamp\":1}",
     ND_ERR_MISSING_FIELD, "'event_id' is null"},
    {"{\"event_id\":\"e\",\"type\":\"page_viewed\",\"customer_id\":\"c\","
     "\"timestamp\":\"yesterday\"}",
     ND_ERR_BAD_TYPE, "'timestamp' must be an integer, not a string"},
    {"{\"event_id\":\"e\",\"type\":\"page_viewed\",\"customer_id\":\"c\","
     "\"timestamp\":1.5}",
     ND_ERR_BAD_TYPE, "not a real number"},
    {"{\"event_id\":\"e\",\"type\":\"teleported\",\"customer_id\":\"c\","
     "\"timestamp\":1}",
     ND_ERR_BAD_ENUM, "unknown symbol 'teleported'"},
    {"{\"event_id\":\"e\",\"type\":\"page_viewed\",\"customer_id\":\"\","
     "\"anonymous_id\":null,\"timestamp\":1}",
     ND_ERR_MISSING_FIELD, "customer_id or anonymous_id"},
    {"{\"event_id\":\"e\",\"type\":\"product_viewed\",\"customer_id\":\"c\","
     "\"timestamp\":1}",
     ND_ERR_MISSING_FIELD, "product.sku"},
    {"{\"event_id\":\"e\",\"type\":\"order_completed\",\"customer_id\":\"c\","
     "\"timestamp\":1}",
     ND_ERR_MISSING_FIELD, "order_id"},
    {"{\"event_id\":\"e\",\"type\":\"cart_viewed\",\"customer_id\":\"c\","
     "\"timestamp\":1,\"products\":[{\"sku\":\"a\"},{\"quantity\":2}]}",
     ND_ERR_MISSING_FIELD, "'products[1].sku' is missing"},
    {"{\"event_id\":\"e\",\"type\":\"cart_viewed\",\"customer_id\":\"c\","
     "\"timestamp\":1,\"products\":{}}",
     ND_ERR_BAD_TYPE, "'products' must be an array"},
    {"{\"event_id\":\"e\",\"type\":\"page_viewed\",\"customer_id\":\"c\","
     "\"timestamp\":1,\"channel\":\"fax\"}",
     ND_ERR_BAD_ENUM, "'channel': unknown symbol 'fax'"},
    {"{\"event_id\":\"e\",", ND_ERR_BAD_JSON, "JSON at byte"},
    {"[1,2]", ND_ERR_BAD_JSON, "not a JSON object"},
    {"", ND_ERR_BAD_JSON, "JSON"},
    {"{\"event_id\":\"e\",\"event_id\":\"f\"}", ND_ERR_BAD_JSON, "duplicate"},
    {"{\"event_id\":\"a\\u0000b\",\"type\":\"page_viewed\"}", ND_ERR_BAD_JSON,
     "JSON"},
};

START_TEST(json_records_classify_like_avro_ones) {
        const struct json_case *jc = &json_cases[_i];
        nd_serde_t *serde = new_serde(0);
        nd_event_t ev;
        char err[256] = "";
        nd_err_t rc = nd_serde_decode_json(serde, jc->json, strlen(jc->json),
                                           &ev, err, sizeof(err));
        ck_assert_msg(rc == jc->want, "case %d: %s (%s)", _i, nd_err_name(rc),
                      err);
        if (jc->text)
                ck_assert_msg(strstr(err, jc->text) != NULL,
                              "case %d: '%s' lacks '%s'", _i, err, jc->text);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(json_cart_event_decodes_nulls_defaults_and_unicode) {
        static const char *const js =
            "{\"event_id\":\"e-\\u00e9\\ud83d\\ude00\",\"type\":\"cart_"
            "viewed\","
            "\"customer_id\":null,\"anonymous_id\":\"an\\\"on\","
            "\"timestamp\":1700000000000,\"device_id\":null,"
            "\"cart_id\":\"c1\",\"quantity\":null,\"extra\":{\"x\":[1]},"
            "\"products\":[{\"sku\":\"A\",\"category\":null,\"quantity\":4,"
            "\"price_cents\":100},{\"sku\":\"B\"}]}";
        nd_serde_t *serde = new_serde(0);
        nd_event_t ev;
        char err[256];
        ck_assert_msg(nd_serde_decode_json(serde, js, strlen(js), &ev, err,
                                           sizeof(err)) == ND_OK,
                      "%s", err);
        ck_assert(str_is(ev.event_id, "e-\xc3\xa9\xf0\x9f\x98\x80"));
        ck_assert(nd_str_is_null(ev.customer_id));
        ck_assert(str_is(ev.anonymous_id, "an\"on"));
        ck_assert(str_is(ev.key, "an\"on"));
        ck_assert_int_eq(ev.channel, ND_CHANNEL_OTHER);
        ck_assert_int_eq(ev.device_type, ND_DEVICE_UNKNOWN);
        ck_assert(!ev.has_quantity);
        ck_assert_int_eq(ev.quantity, 1);
        ck_assert(ev.has_products);
        ck_assert_int_eq(ev.product_cnt, 2);
        ck_assert_int_eq(ev.products[0].quantity, 4);
        ck_assert_int_eq(ev.products[0].price_cents, 100);
        ck_assert_int_eq(ev.products[1].quantity, 1);
        ck_assert(!ev.products[1].has_price);
        ck_assert(!ev.has_product);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(json_catalog_record_decodes_with_defaults) {
        static const char *const js =
            "{\"sku\":\"S\",\"complements\":[\"A\",\"B\"],\"price_cents\":5}";
        static const char *const bad = "{\"sku\":\"S\",\"complements\":[1]}";
        nd_serde_t *serde = new_serde(0);
        nd_product_rec_t prod;
        char err[256];
        ck_assert_int_eq(nd_serde_decode_product_json(serde, js, strlen(js),
                                                      &prod, err, sizeof(err)),
                         ND_OK);
        ck_assert(prod.in_stock);
        ck_assert_int_eq(prod.complement_cnt, 2);
        ck_assert(str_is(prod.complements[0], "A"));
        ck_assert(prod.has_price);
        ck_assert_int_eq(nd_serde_decode_product_json(serde, bad, strlen(bad),
                                                      &prod, err, sizeof(err)),
                         ND_ERR_BAD_TYPE);
        nd_serde_destroy(serde);
}
END_TEST

static Suite *serde_suite(void) {
        Suite *s = suite_create("serde");
        TCase *tc = tcase_create("schemas");
        tcase_add_loop_test(tc, every_schema_parses_with_avro_c, 0, 5);
        tcase_add_loop_test(
            tc, every_field_has_a_doc_and_timestamps_are_logical, 0, 5);
        tcase_add_test(tc, serde_refuses_a_missing_schema_dir);
        tcase_add_test(
            tc, an_action_schema_with_trigger_types_out_of_order_is_refused);
        suite_add_tcase(s, tc);

        tc = tcase_create("avro");
        tcase_add_test(tc, product_added_decodes_every_field);
        tcase_add_test(tc, shipped_schemas_take_the_specialised_decoders);
        tcase_add_test(tc, empty_customer_id_counts_as_null_for_the_key);
        tcase_add_test(tc, an_event_without_any_id_is_missing_a_field);
        tcase_add_test(tc, cart_viewed_products_and_catalog_lists_decode);
        suite_add_tcase(s, tc);

        tc = tcase_create("bad_records");
        tcase_add_test(tc, a_good_hand_made_record_decodes);
        tcase_add_loop_test(tc, each_bad_record_class_yields_its_code_and_text,
                            0, sizeof(bad_cases) / sizeof(bad_cases[0]));
        tcase_add_test(tc, every_prefix_of_a_record_fails_cleanly);
        suite_add_tcase(s, tc);

        tc = tcase_create("evolution");
        tcase_add_test(tc, a_writer_schema_defining_a_name_twice_is_refused);
        tcase_add_loop_test(tc, writer_schemas_resolve_by_avro_rules, 0,
                            sizeof(evo_cases) / sizeof(evo_cases[0]));
        tcase_add_test(tc, an_unknown_channel_symbol_takes_the_reader_default);
        suite_add_tcase(s, tc);

        tc = tcase_create("json");
        tcase_add_loop_test(tc, json_records_classify_like_avro_ones, 0,
                            sizeof(json_cases) / sizeof(json_cases[0]));
        tcase_add_test(tc, json_cart_event_decodes_nulls_defaults_and_unicode);
        tcase_add_test(tc, json_catalog_record_decodes_with_defaults);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(serde_suite());
}
