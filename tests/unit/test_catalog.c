/*
 * test_catalog.c — the catalog (global table): records are copied in and
 * come back intact, replaced and deleted by sku, with the complements array
 * aligned whatever the store does with small blobs.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "nd_test.h"

#define S(lit) ((nd_str_t){lit, (uint32_t)(sizeof(lit) - 1)})

static nd_str_t str(const char *s) {
        return (nd_str_t){s, (uint32_t)strlen(s)};
}

static void check(const nd_product_rec_t *r, const char *sku, const char *name,
                  int ncomp) {
        ck_assert_ptr_nonnull(r);
        ck_assert(nd_str_eq(r->sku, str(sku)));
        ck_assert(nd_str_eq(r->name, str(name)));
        ck_assert_uint_eq(r->complement_cnt, (unsigned)ncomp);
        if (ncomp)
                ck_assert_uint_eq((uintptr_t)r->complements % 8, 0);
}

START_TEST(a_record_is_copied_and_found_by_sku) {
        nd_catalog_t *cat = nd_catalog_new();
        char sku[8] = "SKU-1", name[16] = "Runner";
        nd_str_t comps[2] = {S("SKU-2"), S("SKU-3")};
        nd_product_rec_t in = {.sku = str(sku),
                               .name = str(name),
                               .category = S("shoes"),
                               .price_cents = 5900,
                               .has_price = true,
                               .currency = S("EUR"),
                               .in_stock = true,
                               .complement_cnt = 2,
                               .complements = comps};
        const nd_product_rec_t *r;
        ck_assert_int_eq(nd_catalog_put(cat, &in), ND_OK);
        memset(sku, 'x', 5); /* the catalog owns its copy */
        memset(name, 'x', 6);
        r = nd_catalog_get(cat, S("SKU-1"));
        check(r, "SKU-1", "Runner", 2);
        ck_assert(nd_str_eq(r->complements[1], S("SKU-3")));
        ck_assert(nd_str_eq(r->currency, S("EUR")));
        ck_assert_int_eq(r->price_cents, 5900);
        ck_assert(r->in_stock);
        ck_assert_ptr_null(nd_catalog_get(cat, S("SKU-9")));
        ck_assert_ptr_null(nd_catalog_get(cat, ND_STR_NULL));
        nd_catalog_destroy(cat);
}
END_TEST

START_TEST(a_later_record_replaces_and_a_tombstone_deletes) {
        nd_catalog_t *cat = nd_catalog_new();
        nd_str_t few[1] = {S("A")};
        nd_str_t many[6] = {S("complement-number-one"),
                            S("two"),
                            S("three"),
                            S("four"),
                            S("five"),
                            S("six")};
        nd_product_rec_t in = {.sku = S("P"),
                               .name = S("short"),
                               .complement_cnt = 1,
                               .complements = few};
        ck_assert_int_eq(nd_catalog_put(cat, &in), ND_OK);
        in.name = S("a much longer name than before");
        in.complement_cnt = 6;
        in.complements = many;
        in.in_stock = false;
        ck_assert_int_eq(nd_catalog_put(cat, &in), ND_OK);
        check(nd_catalog_get(cat, S("P")), "P",
              "a much longer name than before", 6);
        ck_assert(nd_str_eq(nd_catalog_get(cat, S("P"))->complements[0],
                            S("complement-number-one")));
        ck_assert(!nd_catalog_get(cat, S("P"))->in_stock);
        ck_assert_uint_eq(nd_catalog_count(cat), 1);
        nd_catalog_delete(cat, S("P"));
        ck_assert_ptr_null(nd_catalog_get(cat, S("P")));
        ck_assert_uint_eq(nd_catalog_count(cat), 0);
        in.sku = ND_STR_NULL;
        ck_assert_int_eq(nd_catalog_put(cat, &in), ND_ERR_INVAL);
        nd_catalog_destroy(cat);
}
END_TEST

START_TEST(many_products_with_keys_of_every_length_stay_aligned) {
        nd_catalog_t *cat = nd_catalog_new();
        char sku[64], other[64];
        for (int i = 0; i < 2000; i++) {
                nd_str_t comp[1];
                nd_product_rec_t in = {0};
                snprintf(sku, sizeof(sku), "%.*s%d", i % 23,
                         "kkkkkkkkkkkkkkkkkkkkkkk", i);
                snprintf(other, sizeof(other), "c%d", i);
                comp[0] = str(other);
                in.sku = str(sku);
                in.name = S("n");
                in.complement_cnt = 1;
                in.complements = comp;
                ck_assert_int_eq(nd_catalog_put(cat, &in), ND_OK);
        }
        for (int i = 0; i < 2000; i++) {
                const nd_product_rec_t *r;
                snprintf(sku, sizeof(sku), "%.*s%d", i % 23,
                         "kkkkkkkkkkkkkkkkkkkkkkk", i);
                snprintf(other, sizeof(other), "c%d", i);
                r = nd_catalog_get(cat, str(sku));
                check(r, sku, "n", 1);
                ck_assert(nd_str_eq(r->complements[0], str(other)));
        }
        ck_assert_uint_eq(nd_catalog_count(cat), 2000);
        ck_assert_uint_gt(nd_catalog_bytes(cat), 0);
        nd_catalog_destroy(cat);
}
END_TEST

static Suite *catalog_suite(void) {
        Suite *s = suite_create("catalog");
        TCase *tc = tcase_create("table");
        tcase_add_test(tc, a_record_is_copied_and_found_by_sku);
        tcase_add_test(tc, a_later_record_replaces_and_a_tombstone_deletes);
        tcase_add_test(tc,
                       many_products_with_keys_of_every_length_stay_aligned);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(catalog_suite());
}
