/* nd_test_events.c — see nd_test_events.h. */
#include "nd_test_events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int jstr(char *p, size_t n, const char *s) {
        return s ? snprintf(p, n, "\"%s\"", s) : snprintf(p, n, "null");
}

void nd_test_put(nd_test_driver_t *d, struct evt e) {
        char buf[4096];
        size_t o = 0;
#define J(...) o += (size_t)snprintf(buf + o, sizeof(buf) - o, __VA_ARGS__)
#define JS(s)  o += (size_t)jstr(buf + o, sizeof(buf) - o, s)
        if (!e.cust && !e.anon)
                e.cust = "c1";
        J("{\"event_id\":");
        JS(e.id ? e.id : "e?");
        J(",\"type\":\"%s\",\"customer_id\":", e.type);
        JS(e.cust);
        J(",\"anonymous_id\":");
        JS(e.anon);
        J(",\"timestamp\":%lld,\"channel\":\"%s\",\"device_id\":",
          (long long)(T0 + e.ts), e.channel ? e.channel : "web");
        JS(e.device);
        J(",\"device_type\":\"desktop\",\"session_id\":null,\"cart_id\":");
        JS(e.cart);
        if (e.qty)
                J(",\"quantity\":%lld", (long long)e.qty);
        if (e.sku) {
                J(",\"product\":{\"sku\":\"%s\",\"category\":", e.sku);
                JS(e.cat);
                if (e.price)
                        J(",\"price_cents\":%lld", (long long)e.price);
                J(",\"currency\":");
                JS(e.currency);
                J("}");
        }
        if (e.products)
                J(",\"products\":%s", e.products);
        if (e.order)
                J(",\"order_id\":\"%s\"", e.order);
        if (e.campaign)
                J(",\"campaign_id\":\"%s\"", e.campaign);
        J("}");
#undef J
#undef JS
        ck_assert_int_eq(nd_test_driver_pipe(d, buf), ND_OK);
}

char *nd_test_run_steps(nd_test_driver_t *d, nd_test_step_fn step, int n,
                        int restart_at) {
        size_t cap = 65536, len = 0;
        char *all = calloc(1, cap);
        const nd_test_action_t *a;
        for (int i = 0; i < n; i++) {
                if (i == restart_at)
                        nd_test_driver_restart(d);
                step(d, i);
        }
        while ((a = nd_test_driver_read(d))) {
                size_t k = strlen(a->json);
                ck_assert_msg(len + k < cap, "scenario output over 64 KiB");
                memcpy(all + len, a->json, k + 1);
                len += k;
        }
        nd_test_driver_destroy(d);
        return all;
}
