/*
 * test_action_id.c — action_id pinned to TRIGGERS.md §4 byte for byte: the
 * lowercase hex of the canonical (big-endian) XXH3 128-bit digest, seed 0,
 * of the parts in order, each part as its UTF-8 byte length (4 bytes,
 * little-endian) then its bytes; a stage as its decimal text. The expected
 * ids are computed here independently (one buffer, libxxhash's one-shot
 * XXH3_128bits, the halves printed high first) and compared with the ids
 * of the actions a small trace makes every trigger type emit; a few
 * literal ids catch a change of the hash function itself.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#include "nd_test.h"
#include "nd_test_driver.h"
#include "nd_test_events.h"
#include "nudge/processor.h"

/* The §4 id of the NULL-terminated list of parts, into out[33]. */
static void want_id(char out[33], ...) {
        unsigned char buf[1024];
        size_t n = 0;
        const char *p;
        va_list ap;
        XXH128_hash_t h;

        va_start(ap, out);
        while ((p = va_arg(ap, const char *)) != NULL) {
                size_t len = strlen(p);
                ck_assert_uint_le(n + 4 + len, sizeof(buf));
                buf[n++] = (unsigned char)(len & 0xff);
                buf[n++] = (unsigned char)(len >> 8 & 0xff);
                buf[n++] = (unsigned char)(len >> 16 & 0xff);
                buf[n++] = (unsigned char)(len >> 24 & 0xff);
                memcpy(buf + n, p, len);
                n += len;
        }
        va_end(ap);
        h = XXH3_128bits(buf, n);
        snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64,
                 (unsigned long long)h.low64);
}

/* nd_action_id() over the same parts. */
static void engine_id(char out[33], int cnt, const char *const *parts) {
        nd_str_t s[8];
        for (int i = 0; i < cnt; i++)
                s[i] = (nd_str_t){parts[i], (uint32_t)strlen(parts[i])};
        nd_action_id(s, cnt, out);
}

START_TEST(literal_ids_pin_the_hash_function) {
        static const char *const cart[] = {"cart_reminder", "c1", "m1", "0"};
        static const char *const one[] = {"a"};
        static const char *const empty[] = {""};
        char got[33], want[33];

        engine_id(got, 4, cart);
        want_id(want, "cart_reminder", "c1", "m1", "0", NULL);
        ck_assert_str_eq(got, want);
        ck_assert_str_eq(got, "ca4b45f7d98d56139ddfb148ada6479b");
        engine_id(got, 1, one);
        ck_assert_str_eq(got, "11a7721c705222583cdb5a3e3b9b29cb");
        engine_id(got, 1, empty);
        ck_assert_str_eq(got, "2a33816ed7e0c373dbe563c737220b65");
}
END_TEST

static const char *const cfg_all =
    "time: {max_out_of_orderness: 0}\n"
    "triggers:\n"
    "  - {name: cart_reminder, type: cart_abandonment, delays: [1h, 2h], "
    "min_inactivity: 0}\n"
    "  - {name: browse, type: browse_abandonment, min_views: 2}\n"
    "  - {name: upsell, type: post_purchase_upsell, delay: 1d}\n"
    "  - {name: switch, type: channel_switch}\n";

/* The id of the only action of trigger `name` for customer `cust` at
 * `stage`; fails when there is not exactly one. */
static const char *id_of(nd_test_driver_t *d, int cnt,
                         const nd_test_action_t *acts[], const char *name,
                         const char *cust, int stage) {
        const char *found = NULL;
        for (int i = 0; i < cnt; i++) {
                const nd_action_t *a = &acts[i]->act;
                if (strcmp(S(d, a->trigger_name), name) ||
                    strcmp(S(d, a->customer_id), cust) || a->stage != stage)
                        continue;
                ck_assert_msg(found == NULL, "two %s actions for %s", name,
                              cust);
                found = S(d, a->action_id);
        }
        ck_assert_msg(found != NULL, "no %s action for %s stage %d", name, cust,
                      stage);
        return found;
}

START_TEST(every_trigger_s_ids_follow_the_contract) {
        nd_test_driver_t *d = nd_test_driver_new(cfg_all, T0);
        const nd_test_action_t *acts[32];
        char want[33], at[32];
        int cnt = 0;

        nd_test_driver_catalog(
            d, "{\"sku\":\"A\",\"name\":\"n\",\"category\":\"c\","
               "\"price_cents\":100,\"currency\":\"EUR\",\"in_stock\":true,"
               "\"complements\":[\"X\"]}");
        nd_test_driver_catalog(
            d, "{\"sku\":\"X\",\"name\":\"n\",\"category\":\"c\","
               "\"price_cents\":100,\"currency\":\"EUR\",\"in_stock\":true,"
               "\"complements\":[]}");
        /* c1: a cart with a cart_id, on web; then seen on an app device. */
        ADD(d, "m1", 0, "A", .cust = "c1", .cart = "cart-1", .channel = "web",
            .device = "d-web");
        VIEW(d, "b1", 5 * MIN, .cust = "c1", .channel = "app",
             .device = "d-app");
        /* c2: a cart without cart_id, opened at T0 + 1 s; seen on app
         * without a device: B is the channel. */
        ADD(d, "m2", SEC, "A", .cust = "c2", .channel = "web", .device = "d2");
        VIEW(d, "b2", 2 * MIN, .cust = "c2", .channel = "app");
        /* c3 browses; c4 orders. */
        EV(d, .type = "product_viewed", .id = "v1", .ts = 0, .sku = "A",
           .cust = "c3");
        EV(d, .type = "product_viewed", .id = "v2", .ts = MIN, .sku = "X",
           .cust = "c3");
        EV(d, .type = "order_completed", .id = "o1", .ts = 0, .order = "ord-1",
           .products = "[{\"sku\":\"A\"}]", .cust = "c4");
        nd_test_driver_end(d, T0 + 3 * 24 * HOUR);
        while (cnt < 32 && (acts[cnt] = nd_test_driver_read(d)) != NULL)
                cnt++;

        want_id(want, "cart_reminder", "c1", "m1", "0", NULL);
        ck_assert_str_eq(id_of(d, cnt, acts, "cart_reminder", "c1", 0), want);
        want_id(want, "cart_reminder", "c1", "m1", "1", NULL);
        ck_assert_str_eq(id_of(d, cnt, acts, "cart_reminder", "c1", 1), want);
        want_id(want, "browse", "c3", "v2", NULL);
        ck_assert_str_eq(id_of(d, cnt, acts, "browse", "c3", 0), want);
        want_id(want, "upsell", "c4", "ord-1", NULL);
        ck_assert_str_eq(id_of(d, cnt, acts, "upsell", "c4", 0), want);
        want_id(want, "switch", "c1", "cart-1", "d-app", NULL);
        ck_assert_str_eq(id_of(d, cnt, acts, "switch", "c1", 0), want);
        snprintf(at, sizeof(at), "@%lld", (long long)(T0 + SEC));
        want_id(want, "switch", "c2", at, "app", NULL);
        ck_assert_str_eq(id_of(d, cnt, acts, "switch", "c2", 0), want);
        nd_test_driver_destroy(d);
}
END_TEST

static Suite *action_id_suite(void) {
        Suite *s = suite_create("action_id");
        TCase *tc = tcase_create("contract");
        tcase_add_test(tc, literal_ids_pin_the_hash_function);
        tcase_add_test(tc, every_trigger_s_ids_follow_the_contract);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(action_id_suite());
}
