/*
 * test_serde_events.c — events and catalog records out: Avro
 * (nd_serde_encode_event/_product) and JSON (nd_event_write_json,
 * nd_product_write_json), read back by serde's own decoders and by avro-c's
 * generic reader, for every event type with its nullable fields set and
 * null.
 */
#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nd_test.h"
#include "serde.h"

#define ID_CLICK   11
#define ID_CART    12
#define ID_PURCH   13
#define ID_CATALOG 14

static nd_serde_t *new_serde(void) {
        nd_serde_conf_t conf = {0};
        nd_serde_t *serde = NULL;
        char err[512];
        conf.id_clickstream = ID_CLICK;
        conf.id_cart = ID_CART;
        conf.id_purchase = ID_PURCH;
        conf.id_catalog = ID_CATALOG;
        ck_assert_msg(nd_serde_new(&conf, &serde, err, sizeof(err)) == ND_OK,
                      "%s", err);
        return serde;
}

static nd_str_t S(const char *s) {
        return (nd_str_t){s, (uint32_t)strlen(s)};
}

static const nd_line_item_t lines[] = {
    {{"SKU-1", 5}, {"shoes", 5}, 2, 4999, true},
    {{"SKU-\"2\"\\", 8}, {NULL, 0}, 1, 0, false},
    {{"SKU-\xc3\xa9", 6}, {"socks", 5}, -3, -1, true},
};

/*
 * Event type t (0..11); full: every nullable field of its topic set, else
 * every nullable field null (and lists null). Fields outside the topic's
 * schema stay empty, so the round trip must give back exactly ev.
 */
static nd_event_t make_event(int t, bool full) {
        nd_event_t ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = (nd_event_type_t)t;
        ev.event_id = S("ev-\"1\"\n\t");
        ev.quantity = 1;
        ev.timestamp = full ? 1700000000123LL : -5;
        ev.channel =
            full ? (nd_channel_t)(t % ND_CHANNEL__CNT) : ND_CHANNEL_OTHER;
        ev.device_type =
            full ? (nd_device_type_t)(t % ND_DEVICE__CNT) : ND_DEVICE_UNKNOWN;
        if (full) {
                ev.customer_id = S("cust-1");
                ev.anonymous_id = S("anon-1");
                ev.device_id = S("dev-1");
                ev.session_id = S("sess-1");
        } else {
                ev.anonymous_id = S("anon-only");
        }
        if (t <= ND_EV_MESSAGE_CLICKED) {
                if (full || t == ND_EV_PRODUCT_VIEWED) {
                        ev.has_product = true;
                        ev.product.sku = S("SKU-9");
                }
                if (full) {
                        ev.product.category = S("hats");
                        ev.product.price_cents = INT64_MIN;
                        ev.product.has_price = true;
                        ev.product.currency = S("EUR");
                        ev.action_id = S("act-1");
                }
                if (full || t == ND_EV_MESSAGE_CLICKED)
                        ev.campaign_id = S("camp-1");
        } else if (t <= ND_EV_CHECKOUT_STARTED) {
                if (full || t <= ND_EV_PRODUCT_REMOVED) {
                        ev.has_product = true;
                        ev.product.sku = S("SKU-8");
                }
                if (full) {
                        ev.cart_id = S("cart-1");
                        ev.quantity = INT32_MIN;
                        ev.has_quantity = true;
                        ev.has_products = true;
                        ev.products = lines;
                        ev.product_cnt = t == ND_EV_CART_VIEWED ? 0 : 3;
                        ev.checkout_id = S("co-1");
                }
        } else {
                ev.order_id = S("ord-1");
                if (full) {
                        ev.value_cents = INT64_MAX;
                        ev.has_value = true;
                        ev.currency = S("USD");
                        ev.cart_id = S("cart-2");
                        ev.checkout_id = S("co-2");
                        ev.has_products = true;
                        ev.products = lines;
                        ev.product_cnt = 3;
                }
        }
        ck_assert_int_eq(nd_serde_validate_event(&ev, NULL, 0), ND_OK);
        return ev;
}

static void assert_str(nd_str_t got, nd_str_t want, const char *name) {
        ck_assert_msg(nd_str_eq(got, want), "%s: '%.*s' vs '%.*s'", name,
                      (int)got.len, got.p ? got.p : "", (int)want.len,
                      want.p ? want.p : "");
}

static void assert_same_event(const nd_event_t *a, const nd_event_t *b) {
#define STR(f) assert_str(a->f, b->f, #f)
#define INT(f)                                                               \
        ck_assert_msg(a->f == b->f, "%s: %lld vs %lld", #f, (long long)a->f, \
                      (long long)b->f)
        INT(type);
        STR(event_id);
        STR(customer_id);
        STR(anonymous_id);
        INT(timestamp);
        INT(channel);
        STR(device_id);
        INT(device_type);
        STR(session_id);
        STR(key);
        INT(key_is_customer);
        INT(has_product);
        STR(product.sku);
        STR(product.category);
        INT(product.has_price);
        INT(product.price_cents);
        STR(product.currency);
        STR(cart_id);
        INT(has_quantity);
        INT(quantity);
        INT(has_products);
        INT(product_cnt);
        for (uint32_t i = 0; i < a->product_cnt; i++) {
                STR(products[i].sku);
                STR(products[i].category);
                INT(products[i].quantity);
                INT(products[i].has_price);
                INT(products[i].price_cents);
        }
        STR(order_id);
        INT(has_value);
        INT(value_cents);
        STR(currency);
        STR(checkout_id);
        STR(campaign_id);
        STR(action_id);
#undef STR
#undef INT
}

START_TEST(every_event_type_round_trips_through_avro) {
        nd_serde_t *serde = new_serde();
        nd_event_t ev = make_event(_i / 2, _i % 2), got;
        uint8_t buf[2048];
        size_t len;
        char err[256];
        static const int ids[] = {ID_CLICK, ID_CART, ID_PURCH};
        int topic = ev.type <= ND_EV_MESSAGE_CLICKED    ? 0
                    : ev.type <= ND_EV_CHECKOUT_STARTED ? 1
                                                        : 2;

        ck_assert_int_eq(
            nd_serde_encode_event(serde, &ev, buf, sizeof(buf), &len), ND_OK);
        ck_assert_int_eq(buf[0], 0);
        ck_assert_int_eq(buf[4], ids[topic]);
        ck_assert_msg(
            nd_serde_decode(serde, buf, len, &got, err, sizeof(err)) == ND_OK,
            "%s", err);
        assert_same_event(&got, &ev);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(every_event_type_round_trips_through_json) {
        nd_serde_t *serde = new_serde();
        nd_event_t ev = make_event(_i / 2, _i % 2), got;
        char buf[4096];
        size_t len;
        char err[256];

        ck_assert_int_eq(nd_event_write_json(&ev, buf, sizeof(buf), &len),
                         ND_OK);
        ck_assert_int_eq(strlen(buf), len);
        ck_assert_int_eq(buf[len - 1], '\n');
        ck_assert_msg(nd_serde_decode_json(serde, buf, len, &got, err,
                                           sizeof(err)) == ND_OK,
                      "%s: %s", err, buf);
        assert_same_event(&got, &ev);
        if (!(_i % 2))
                ck_assert_ptr_nonnull(strstr(buf, "\"customer_id\":null"));
        nd_serde_destroy(serde);
}
END_TEST

/* ---- avro-c's generic reader on our encodings ---- */

static avro_schema_t load_schema(const char *name) {
        char path[512];
        static char text[65536];
        size_t n;
        avro_schema_t s = NULL;
        FILE *f;
        snprintf(path, sizeof(path), "%s/schemas/%s.avsc", ND_SOURCE_DIR, name);
        f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        n = fread(text, 1, sizeof(text), f);
        fclose(f);
        ck_assert_int_eq(avro_schema_from_json_length(text, n, &s), 0);
        return s;
}

/* The value of field name, through a union's current branch; false when
 * it is null. */
static bool get(avro_value_t *rec, const char *name, avro_value_t *out) {
        avro_value_t f;
        ck_assert_msg(avro_value_get_by_name(rec, name, &f, NULL) == 0, "%s",
                      name);
        if (avro_value_get_type(&f) == AVRO_UNION) {
                avro_value_get_current_branch(&f, out);
                return avro_value_get_type(out) != AVRO_NULL;
        }
        *out = f;
        return true;
}

static void want_str(avro_value_t *rec, const char *name, nd_str_t want) {
        avro_value_t v;
        const char *s;
        size_t n;
        if (!get(rec, name, &v)) {
                ck_assert_msg(nd_str_is_null(want), "%s is null", name);
                return;
        }
        avro_value_get_string(&v, &s, &n);
        assert_str((nd_str_t){s, (uint32_t)(n - 1)}, want, name);
}

static void want_num(avro_value_t *rec, const char *name, bool has,
                     int64_t want) {
        avro_value_t v;
        int64_t l;
        int32_t i;
        if (!get(rec, name, &v)) {
                ck_assert_msg(!has, "%s is null", name);
                return;
        }
        ck_assert_msg(has, "%s is not null", name);
        if (avro_value_get_type(&v) == AVRO_INT32) {
                avro_value_get_int(&v, &i);
                l = i;
        } else {
                avro_value_get_long(&v, &l);
        }
        ck_assert_msg(l == want, "%s: %lld vs %lld", name, (long long)l,
                      (long long)want);
}

static void want_enum(avro_value_t *rec, const char *name, const char *want) {
        avro_value_t v;
        int e;
        get(rec, name, &v);
        avro_value_get_enum(&v, &e);
        ck_assert_str_eq(avro_schema_enum_get(avro_value_get_schema(&v), e),
                         want);
}

static void want_lines(avro_value_t *rec, const nd_event_t *ev) {
        avro_value_t v, it;
        size_t n;
        if (!get(rec, "products", &v)) {
                ck_assert(!ev->has_products);
                return;
        }
        ck_assert(ev->has_products);
        avro_value_get_size(&v, &n);
        ck_assert_int_eq(n, ev->product_cnt);
        for (size_t i = 0; i < n; i++) {
                avro_value_get_by_index(&v, i, &it, NULL);
                want_str(&it, "sku", ev->products[i].sku);
                want_str(&it, "category", ev->products[i].category);
                want_num(&it, "quantity", true, ev->products[i].quantity);
                want_num(&it, "price_cents", ev->products[i].has_price,
                         ev->products[i].price_cents);
        }
}

static void want_product(avro_value_t *rec, const nd_event_t *ev) {
        avro_value_t p;
        if (!get(rec, "product", &p)) {
                ck_assert(!ev->has_product);
                return;
        }
        ck_assert(ev->has_product);
        want_str(&p, "sku", ev->product.sku);
        want_str(&p, "category", ev->product.category);
        want_num(&p, "price_cents", ev->product.has_price,
                 ev->product.price_cents);
        want_str(&p, "currency", ev->product.currency);
}

START_TEST(avro_c_reads_every_encoded_event_field) {
        static const char *const topics[] = {"clickstream", "cart", "purchase"};
        nd_serde_t *serde = new_serde();
        nd_event_t ev = make_event(_i / 2, _i % 2);
        int topic = ev.type <= ND_EV_MESSAGE_CLICKED    ? 0
                    : ev.type <= ND_EV_CHECKOUT_STARTED ? 1
                                                        : 2;
        avro_schema_t s = load_schema(topics[topic]);
        avro_value_iface_t *cls = avro_generic_class_from_schema(s);
        avro_value_t rec;
        avro_reader_t r;
        uint8_t buf[2048];
        size_t len, fields;
        char extra;

        ck_assert_int_eq(
            nd_serde_encode_event(serde, &ev, buf, sizeof(buf), &len), ND_OK);
        avro_generic_value_new(cls, &rec);
        r = avro_reader_memory((const char *)buf + 5, (int64_t)len - 5);
        ck_assert_msg(avro_value_read(r, &rec) == 0, "%s", avro_strerror());
        /* avro-c consumed the whole body: nothing is left to read */
        ck_assert_int_ne(avro_read(r, &extra, 1), 0);
        want_str(&rec, "event_id", ev.event_id);
        want_enum(&rec, "type", nd_event_type_name(ev.type));
        want_str(&rec, "customer_id", ev.customer_id);
        want_str(&rec, "anonymous_id", ev.anonymous_id);
        want_num(&rec, "timestamp", true, ev.timestamp);
        want_enum(&rec, "channel", nd_channel_name(ev.channel));
        want_str(&rec, "device_id", ev.device_id);
        want_enum(&rec, "device_type", nd_device_type_name(ev.device_type));
        want_str(&rec, "session_id", ev.session_id);
        avro_value_get_size(&rec, &fields);
        if (topic == 0) {
                ck_assert_int_eq(fields, 12);
                want_product(&rec, &ev);
                want_str(&rec, "campaign_id", ev.campaign_id);
                want_str(&rec, "action_id", ev.action_id);
        } else if (topic == 1) {
                ck_assert_int_eq(fields, 14);
                want_str(&rec, "cart_id", ev.cart_id);
                want_product(&rec, &ev);
                want_num(&rec, "quantity", ev.has_quantity, ev.quantity);
                want_lines(&rec, &ev);
                want_str(&rec, "checkout_id", ev.checkout_id);
        } else {
                ck_assert_int_eq(fields, 15);
                want_str(&rec, "order_id", ev.order_id);
                want_num(&rec, "value_cents", ev.has_value, ev.value_cents);
                want_str(&rec, "currency", ev.currency);
                want_str(&rec, "cart_id", ev.cart_id);
                want_str(&rec, "checkout_id", ev.checkout_id);
                want_lines(&rec, &ev);
        }
        avro_reader_free(r);
        avro_value_decref(&rec);
        avro_value_iface_decref(cls);
        avro_schema_decref(s);
        nd_serde_destroy(serde);
}
END_TEST

/* ---- sizes and refusals ---- */

START_TEST(a_short_buffer_reports_the_size_needed) {
        nd_serde_t *serde = new_serde();
        nd_event_t ev = make_event(ND_EV_ORDER_COMPLETED, true);
        uint8_t buf[1024];
        char js[2048];
        size_t need, len;

        ck_assert_int_eq(
            nd_serde_encode_event(serde, &ev, buf, sizeof(buf), &need), ND_OK);
        for (size_t cap = 0; cap < need; cap++) {
                ck_assert_int_eq(
                    nd_serde_encode_event(serde, &ev, buf, cap, &len),
                    ND_ERR_INVAL);
                ck_assert_int_eq(len, need);
        }
        ck_assert_int_eq(nd_serde_encode_event(serde, &ev, buf, need, &len),
                         ND_OK);
        ck_assert_int_eq(len, need);

        ck_assert_int_eq(nd_event_write_json(&ev, js, sizeof(js), &need),
                         ND_OK);
        ck_assert_int_eq(nd_event_write_json(&ev, js, need, &len),
                         ND_ERR_INVAL);
        ck_assert_int_eq(len, need);
        ck_assert_int_eq(js[need - 1], '\0');
        ck_assert_int_eq(nd_event_write_json(&ev, js, need + 1, &len), ND_OK);
        nd_serde_destroy(serde);
}
END_TEST

START_TEST(invalid_events_are_not_encoded) {
        nd_serde_t *serde = new_serde();
        uint8_t buf[1024];
        size_t len;
        nd_event_t ev;

        ev = make_event(ND_EV_PAGE_VIEWED, false);
        ev.event_id = ND_STR_NULL;
        ck_assert_int_eq(
            nd_serde_encode_event(serde, &ev, buf, sizeof(buf), &len),
            ND_ERR_INVAL);
        ev = make_event(ND_EV_PAGE_VIEWED, false);
        ev.anonymous_id = S("");
        ck_assert_int_eq(
            nd_serde_encode_event(serde, &ev, buf, sizeof(buf), &len),
            ND_ERR_INVAL);
        ev = make_event(ND_EV_PRODUCT_ADDED, false);
        ev.has_product = false;
        ck_assert_int_eq(
            nd_serde_encode_event(serde, &ev, buf, sizeof(buf), &len),
            ND_ERR_INVAL);
        ev = make_event(ND_EV_ORDER_REFUNDED, false);
        ev.order_id = ND_STR_NULL;
        ck_assert_int_eq(
            nd_serde_encode_event(serde, &ev, buf, sizeof(buf), &len),
            ND_ERR_INVAL);
        ev = make_event(ND_EV_CART_VIEWED, true);
        ev.quantity = (int64_t)INT32_MAX + 1;
        ck_assert_int_eq(
            nd_serde_encode_event(serde, &ev, buf, sizeof(buf), &len),
            ND_ERR_INVAL);
        ev = make_event(ND_EV_CHECKOUT_STARTED, true);
        ev.products = NULL;
        ck_assert_int_eq(
            nd_serde_encode_event(serde, &ev, buf, sizeof(buf), &len),
            ND_ERR_INVAL);
        ev = make_event(ND_EV_APP_OPENED, false);
        ev.channel = ND_CHANNEL__CNT;
        ck_assert_int_eq(
            nd_serde_encode_event(serde, &ev, buf, sizeof(buf), &len),
            ND_ERR_INVAL);
        ev.channel = ND_CHANNEL_WEB;
        ck_assert_int_eq(
            nd_serde_encode_event(serde, &ev, buf, sizeof(buf), &len), ND_OK);
        nd_serde_destroy(serde);
}
END_TEST

/* ---- catalog records ---- */

static const nd_str_t comps[] = {{"SKU-2", 5}, {"SKU-3", 5}};

static nd_product_rec_t make_product(bool full) {
        nd_product_rec_t p;
        memset(&p, 0, sizeof(p));
        p.sku = S("SKU-1");
        p.in_stock = !full;
        if (full) {
                p.name = S("Red \"shoe\"");
                p.category = S("shoes");
                p.price_cents = 4999;
                p.has_price = true;
                p.currency = S("EUR");
                p.complements = comps;
                p.complement_cnt = 2;
        }
        return p;
}

static void assert_same_product(const nd_product_rec_t *a,
                                const nd_product_rec_t *b) {
        assert_str(a->sku, b->sku, "sku");
        assert_str(a->name, b->name, "name");
        assert_str(a->category, b->category, "category");
        ck_assert_int_eq(a->has_price, b->has_price);
        ck_assert_int_eq(a->price_cents, b->price_cents);
        assert_str(a->currency, b->currency, "currency");
        ck_assert_int_eq(a->in_stock, b->in_stock);
        ck_assert_int_eq(a->complement_cnt, b->complement_cnt);
        for (uint32_t i = 0; i < a->complement_cnt; i++)
                assert_str(a->complements[i], b->complements[i], "complements");
}

START_TEST(catalog_records_round_trip_and_avro_c_reads_them) {
        nd_serde_t *serde = new_serde();
        nd_product_rec_t p = make_product(_i), got;
        uint8_t buf[1024];
        char js[1024], err[256];
        size_t len, jlen;
        avro_schema_t s = load_schema("catalog");
        avro_value_iface_t *cls = avro_generic_class_from_schema(s);
        avro_value_t rec, f, it;
        avro_reader_t r;
        int b;
        size_t n;

        ck_assert_int_eq(
            nd_serde_encode_product(serde, &p, buf, sizeof(buf), &len), ND_OK);
        ck_assert_int_eq(buf[4], ID_CATALOG);
        ck_assert_msg(nd_serde_decode_product(serde, buf, len, &got, err,
                                              sizeof(err)) == ND_OK,
                      "%s", err);
        assert_same_product(&got, &p);
        ck_assert_int_eq(nd_product_write_json(&p, js, sizeof(js), &jlen),
                         ND_OK);
        ck_assert_msg(nd_serde_decode_product_json(serde, js, jlen, &got, err,
                                                   sizeof(err)) == ND_OK,
                      "%s", err);
        assert_same_product(&got, &p);

        avro_generic_value_new(cls, &rec);
        r = avro_reader_memory((const char *)buf + 5, (int64_t)len - 5);
        ck_assert_int_eq(avro_value_read(r, &rec), 0);
        want_str(&rec, "sku", p.sku);
        want_str(&rec, "name", p.name);
        want_str(&rec, "category", p.category);
        want_num(&rec, "price_cents", p.has_price, p.price_cents);
        want_str(&rec, "currency", p.currency);
        get(&rec, "in_stock", &f);
        avro_value_get_boolean(&f, &b);
        ck_assert_int_eq(b, p.in_stock);
        get(&rec, "complements", &f);
        avro_value_get_size(&f, &n);
        ck_assert_int_eq(n, p.complement_cnt);
        for (size_t i = 0; i < n; i++) {
                const char *cs;
                size_t cl;
                avro_value_get_by_index(&f, i, &it, NULL);
                avro_value_get_string(&it, &cs, &cl);
                assert_str((nd_str_t){cs, (uint32_t)(cl - 1)}, p.complements[i],
                           "complements");
        }
        avro_reader_free(r);
        avro_value_decref(&rec);
        avro_value_iface_decref(cls);
        avro_schema_decref(s);

        p.sku = ND_STR_NULL;
        ck_assert_int_eq(
            nd_serde_encode_product(serde, &p, buf, sizeof(buf), &len),
            ND_ERR_INVAL);
        nd_serde_destroy(serde);
}
END_TEST

static Suite *serde_events_suite(void) {
        Suite *s = suite_create("serde_events");
        TCase *tc = tcase_create("round trip");
        tcase_add_loop_test(tc, every_event_type_round_trips_through_avro, 0,
                            2 * ND_EV__CNT);
        tcase_add_loop_test(tc, every_event_type_round_trips_through_json, 0,
                            2 * ND_EV__CNT);
        tcase_add_loop_test(tc, avro_c_reads_every_encoded_event_field, 0,
                            2 * ND_EV__CNT);
        tcase_add_loop_test(
            tc, catalog_records_round_trip_and_avro_c_reads_them, 0, 2);
        suite_add_tcase(s, tc);
        tc = tcase_create("refusals");
        tcase_add_test(tc, a_short_buffer_reports_the_size_needed);
        tcase_add_test(tc, invalid_events_are_not_encoded);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(serde_events_suite());
}
