/* test_serde_encode.c — actions out: Avro read back by avro-c, JSON lines. */
#include <avro.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "nd_test.h"
#include "serde.h"

#define ID_ACTION 77

static nd_serde_t *new_serde(void) {
        nd_serde_conf_t conf = {0};
        nd_serde_t *serde = NULL;
        char err[512];
        conf.id_action = ID_ACTION;
        ck_assert_msg(nd_serde_new(&conf, &serde, err, sizeof(err)) == ND_OK,
                      "%s", err);
        return serde;
}

static nd_str_t S(const char *s) {
        return (nd_str_t){s, (uint32_t)strlen(s)};
}

static const nd_line_item_t items[] = {
    {{"SKU-1", 5}, {"shoes", 5}, 2, 4999, true},
    {{"SKU-\"2\"\n", 8}, {NULL, 0}, 1, 0, false},
};
static const nd_str_t recs[] = {{"R1", 2}, {"R2", 2}, {"R3", 2}};
static const nd_str_t srcs[] = {{"ev-1", 4}};

static nd_action_t full_action(void) {
        nd_action_t a;
        memset(&a, 0, sizeof(a));
        a.action_id = S("a1b2c3");
        a.trigger = ND_TRIGGER_CHANNEL_SWITCH;
        a.trigger_name = S("continue");
        a.customer_id = S("cust-1");
        a.channel = ND_CHANNEL_APP;
        a.device_id = S("dev-B");
        a.stage = 1;
        a.created_at = 1700000000000LL;
        a.emitted_at = 1700000000321LL;
        a.expires_at = 1700086400000LL;
        a.has_expires_at = true;
        a.cart_id = S("cart-1");
        a.items = items;
        a.item_cnt = 2;
        a.value_cents = 9998;
        a.has_value = true;
        a.currency = S("EUR");
        a.recommended_skus = recs;
        a.recommended_cnt = 3;
        a.from_channel = ND_CHANNEL_WEB;
        a.has_from_channel = true;
        a.from_device_id = S("dev-A");
        a.source_event_ids = srcs;
        a.source_event_cnt = 1;
        a.gap_ms = 300000;
        a.has_gap = true;
        return a;
}

/* ---- reading back with avro-c's generic reader ---- */

static avro_value_t field(avro_value_t *rec, const char *name) {
        avro_value_t f;
        ck_assert_msg(avro_value_get_by_name(rec, name, &f, NULL) == 0, "%s",
                      name);
        return f;
}

/* The string value of a string or ["null","string"], NULL when null. */
static const char *get_nstr(avro_value_t *rec, const char *name, size_t *lenp) {
        avro_value_t f = field(rec, name), br;
        const char *s;
        if (avro_value_get_type(&f) == AVRO_UNION) {
                int disc;
                avro_value_get_discriminant(&f, &disc);
                if (disc == 0)
                        return NULL;
                avro_value_get_current_branch(&f, &br);
                f = br;
        }
        avro_value_get_string(&f, &s, lenp);
        (*lenp)--; /* avro-c counts the NUL */
        return s;
}

static void assert_nstr(avro_value_t *rec, const char *name, nd_str_t want) {
        size_t len;
        const char *s = get_nstr(rec, name, &len);
        if (nd_str_is_null(want)) {
                ck_assert_msg(s == NULL, "%s should be null", name);
                return;
        }
        ck_assert_msg(s && len == want.len && !memcmp(s, want.p, len),
                      "%s differs", name);
}

static bool get_nlong(avro_value_t *rec, const char *name, int64_t *v) {
        avro_value_t f = field(rec, name), br;
        int32_t i;
        if (avro_value_get_type(&f) == AVRO_UNION) {
                int disc;
                avro_value_get_discriminant(&f, &disc);
                if (disc == 0)
                        return false;
                avro_value_get_current_branch(&f, &br);
                f = br;
        }
        if (avro_value_get_type(&f) == AVRO_INT32) {
                avro_value_get_int(&f, &i);
                *v = i;
        } else {
                avro_value_get_long(&f, v);
        }
        return true;
}

static void assert_strs(avro_value_t *rec, const char *name,
                        const nd_str_t *want, uint32_t n) {
        avro_value_t f = field(rec, name), it;
        size_t cnt;
        avro_value_get_size(&f, &cnt);
        ck_assert_int_eq(cnt, n);
        for (uint32_t i = 0; i < n; i++) {
                const char *s;
                size_t len;
                avro_value_get_by_index(&f, i, &it, NULL);
                avro_value_get_string(&it, &s, &len);
                ck_assert(len - 1 == want[i].len &&
                          !memcmp(s, want[i].p, want[i].len));
        }
}

static void read_back(const nd_action_t *a, const uint8_t *buf, size_t len) {
        char path[512], text[65536];
        FILE *f;
        size_t tlen;
        avro_schema_t schema;
        avro_value_iface_t *cls;
        avro_value_t rec, fv, it;
        avro_reader_t rd;
        int e;
        int64_t v;
        size_t cnt;
        char extra;

        snprintf(path, sizeof(path), "%s/schemas/action.avsc", ND_SOURCE_DIR);
        f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        tlen = fread(text, 1, sizeof(text), f);
        fclose(f);
        ck_assert_int_eq(avro_schema_from_json_length(text, tlen, &schema), 0);
        cls = avro_generic_class_from_schema(schema);
        avro_generic_value_new(cls, &rec);

        ck_assert_int_eq(buf[0], 0);
        ck_assert_int_eq((buf[1] << 24) | (buf[2] << 16) | (buf[3] << 8) |
                             buf[4],
                         ID_ACTION);
        rd = avro_reader_memory((const char *)buf + 5, (int64_t)len - 5);
        ck_assert_msg(avro_value_read(rd, &rec) == 0, "%s", avro_strerror());
        /* avro-c consumed every byte: reading one more fails */
        ck_assert_int_ne(avro_read(rd, &extra, 1), 0);

        assert_nstr(&rec, "action_id", a->action_id);
        fv = field(&rec, "trigger");
        avro_value_get_enum(&fv, &e);
        ck_assert_int_eq(e, a->trigger);
        assert_nstr(&rec, "trigger_name", a->trigger_name);
        assert_nstr(&rec, "customer_id", a->customer_id);
        assert_nstr(&rec, "anonymous_id", a->anonymous_id);
        fv = field(&rec, "channel");
        avro_value_get_enum(&fv, &e);
        ck_assert_str_eq(avro_schema_enum_get(avro_value_get_schema(&fv), e),
                         nd_channel_name(a->channel));
        assert_nstr(&rec, "device_id", a->device_id);
        ck_assert(get_nlong(&rec, "stage", &v) && v == a->stage);
        ck_assert(get_nlong(&rec, "created_at", &v) && v == a->created_at);
        ck_assert(get_nlong(&rec, "emitted_at", &v) && v == a->emitted_at);
        ck_assert_int_eq(get_nlong(&rec, "expires_at", &v), a->has_expires_at);
        if (a->has_expires_at)
                ck_assert_int_eq(v, a->expires_at);
        assert_nstr(&rec, "cart_id", a->cart_id);
        assert_nstr(&rec, "order_id", a->order_id);
        fv = field(&rec, "items");
        avro_value_get_size(&fv, &cnt);
        ck_assert_int_eq(cnt, a->item_cnt);
        for (uint32_t i = 0; i < a->item_cnt; i++) {
                avro_value_get_by_index(&fv, i, &it, NULL);
                assert_nstr(&it, "sku", a->items[i].sku);
                ck_assert(get_nlong(&it, "quantity", &v) &&
                          v == a->items[i].quantity);
                ck_assert_int_eq(get_nlong(&it, "price_cents", &v),
                                 a->items[i].has_price);
                if (a->items[i].has_price)
                        ck_assert_int_eq(v, a->items[i].price_cents);
                assert_nstr(&it, "category", a->items[i].category);
        }
        ck_assert_int_eq(get_nlong(&rec, "value_cents", &v), a->has_value);
        if (a->has_value)
                ck_assert_int_eq(v, a->value_cents);
        assert_nstr(&rec, "currency", a->currency);
        assert_strs(&rec, "recommended_skus", a->recommended_skus,
                    a->recommended_cnt);
        fv = field(&rec, "from_channel");
        avro_value_get_discriminant(&fv, &e);
        ck_assert_int_eq(e, a->has_from_channel);
        if (a->has_from_channel) {
                avro_value_t br;
                avro_value_get_current_branch(&fv, &br);
                avro_value_get_enum(&br, &e);
                ck_assert_int_eq(e, a->from_channel);
        }
        assert_nstr(&rec, "from_device_id", a->from_device_id);
        assert_strs(&rec, "source_event_ids", a->source_event_ids,
                    a->source_event_cnt);
        ck_assert_int_eq(get_nlong(&rec, "gap_ms", &v), a->has_gap);
        if (a->has_gap)
                ck_assert_int_eq(v, a->gap_ms);

        avro_reader_free(rd);
        avro_value_decref(&rec);
        avro_value_iface_decref(cls);
        avro_schema_decref(schema);
}

START_TEST(a_full_action_reads_back_with_avro_c) {
        nd_serde_t *serde = new_serde();
        nd_action_t a = full_action();
        uint8_t buf[1024];
        size_t len;
        ck_assert_int_eq(
            nd_serde_encode_action(serde, &a, buf, sizeof(buf), &len), ND_OK);
        read_back(&a, buf, len);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(an_action_with_nulls_and_empty_lists_reads_back_with_avro_c) {
        nd_serde_t *serde = new_serde();
        nd_action_t a;
        uint8_t buf[1024];
        size_t len;
        memset(&a, 0, sizeof(a));
        a.action_id = S("x");
        a.trigger = ND_TRIGGER_POST_PURCHASE_UPSELL;
        a.trigger_name = S("upsell");
        a.anonymous_id = S("anon");
        a.channel = ND_CHANNEL_WHATSAPP;
        a.created_at = -5; /* negative numbers zigzag too */
        a.recommended_skus = recs;
        a.recommended_cnt = 1;
        ck_assert_int_eq(
            nd_serde_encode_action(serde, &a, buf, sizeof(buf), &len), ND_OK);
        read_back(&a, buf, len);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(a_small_buffer_reports_the_size_needed) {
        nd_serde_t *serde = new_serde();
        nd_action_t a = full_action();
        uint8_t buf[1024], small[16];
        size_t len, need;
        ck_assert_int_eq(
            nd_serde_encode_action(serde, &a, small, sizeof(small), &need),
            ND_ERR_INVAL);
        ck_assert_int_eq(nd_serde_encode_action(serde, &a, buf, need, &len),
                         ND_OK);
        ck_assert_int_eq(len, need);
        a.action_id = ND_STR_NULL;
        ck_assert_int_eq(
            nd_serde_encode_action(serde, &a, buf, sizeof(buf), &len),
            ND_ERR_INVAL);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(the_json_line_has_every_field_of_the_contract) {
        nd_action_t a = full_action();
        char buf[2048], small[8];
        size_t len, need;
        json_t *doc, *it;
        json_error_t jerr;

        ck_assert_int_eq(nd_action_write_json(&a, buf, sizeof(buf), &len),
                         ND_OK);
        ck_assert_int_eq(strlen(buf), len);
        ck_assert_int_eq(buf[len - 1], '\n');
        doc = json_loads(buf, 0, &jerr);
        ck_assert_msg(doc != NULL, "%s: %s", jerr.text, buf);
        ck_assert_str_eq(json_string_value(json_object_get(doc, "action_id")),
                         "a1b2c3");
        ck_assert_str_eq(json_string_value(json_object_get(doc, "trigger")),
                         "channel_switch");
        ck_assert_str_eq(json_string_value(json_object_get(doc, "channel")),
                         "app");
        ck_assert(json_is_null(json_object_get(doc, "anonymous_id")));
        ck_assert(json_is_null(json_object_get(doc, "order_id")));
        ck_assert_int_eq(json_integer_value(json_object_get(doc, "stage")), 1);
        ck_assert_int_eq(json_integer_value(json_object_get(doc, "expires_at")),
                         1700086400000LL);
        it = json_array_get(json_object_get(doc, "items"), 1);
        ck_assert_str_eq(json_string_value(json_object_get(it, "sku")),
                         "SKU-\"2\"\n");
        ck_assert(json_is_null(json_object_get(it, "price_cents")));
        ck_assert_int_eq(
            json_array_size(json_object_get(doc, "recommended_skus")), 3);
        ck_assert_str_eq(
            json_string_value(json_object_get(doc, "from_channel")), "web");
        ck_assert_str_eq(json_string_value(json_array_get(
                             json_object_get(doc, "source_event_ids"), 0)),
                         "ev-1");
        ck_assert_int_eq(json_object_size(doc), 21);
        json_decref(doc);

        ck_assert_int_eq(nd_action_write_json(&a, small, sizeof(small), &need),
                         ND_ERR_INVAL);
        ck_assert_int_eq(need, len);
        ck_assert_int_eq(strlen(small), sizeof(small) - 1);
}
END_TEST

static Suite *serde_encode_suite(void) {
        Suite *s = suite_create("serde_encode");
        TCase *tc = tcase_create("avro");
        tcase_add_test(tc, a_full_action_reads_back_with_avro_c);
        tcase_add_test(
            tc, an_action_with_nulls_and_empty_lists_reads_back_with_avro_c);
        tcase_add_test(tc, a_small_buffer_reports_the_size_needed);
        suite_add_tcase(s, tc);
        tc = tcase_create("json");
        tcase_add_test(tc, the_json_line_has_every_field_of_the_contract);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(serde_encode_suite());
}
