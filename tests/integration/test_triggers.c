/*
 * test_triggers.c — the four triggers end to end against a real broker.
 *
 * One scenario per trigger is produced with event time = now; then the
 * input stays idle, so every action is due to the hybrid clock alone (the
 * watermark follows the wall clock once the input is idle). The actions are
 * read back by a read_committed consumer and decoded with avro-c's generic
 * reader and schemas/action.avsc — as any downstream sender would. Finally
 * the same events go through `nudge replay`, and replay and live must give
 * the same actions (ids, triggers, customers, stages, due times).
 */
#include <avro.h>
#include <stdarg.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "nd_action_test.h"
#include "nd_http_test.h"
#include "nudge/event.h"
#include "nd_kafka_test.h"
#include "nd_proc_test.h"
#include "nd_test.h"

#define WAIT_MS 90000
#define MAX_ACT 64

struct act {
        char id[64];
        char trigger[40];
        char who[128];
        int stage;
        long long created_at;
};

static int act_cmp(const void *a, const void *b) {
        return strcmp(((const struct act *)a)->id, ((const struct act *)b)->id);
}

/* Decodes Confluent-framed actions with avro-c's generic reader
 * (nd_at_decode, as any downstream sender would). */
static int decode_actions(const nd_kt_recs_t *recs, struct act *out,
                          int *chan) {
        int cnt = 0;
        for (size_t i = 0; i < recs->cnt && cnt < MAX_ACT; i++) {
                const nd_kt_rec_t *r = &recs->v[i];
                nd_at_action_t a;
                nd_at_decode(r->value, r->value_len, &a);
                snprintf(out[cnt].id, sizeof(out[cnt].id), "%s", a.id);
                snprintf(out[cnt].trigger, sizeof(out[cnt].trigger), "%s",
                         a.trigger);
                snprintf(out[cnt].who, sizeof(out[cnt].who), "%s", a.customer);
                out[cnt].stage = a.stage;
                out[cnt].created_at = (long long)a.created_at;
                chan[cnt] = -1;
                for (int ch = 0; ch < ND_CHANNEL__CNT; ch++)
                        if (!strcasecmp(a.channel,
                                        nd_channel_name((nd_channel_t)ch)))
                                chan[cnt] = ch;
                /* the Kafka key is the customer key */
                ck_assert_str_eq(r->key, out[cnt].who);
                cnt++;
        }
        return cnt;
}

/* The replay's JSON lines, reduced to the same fields. */
static int read_replay(const char *path, struct act *out) {
        FILE *f = fopen(path, "r");
        char line[8192];
        int cnt = 0;
        ck_assert_ptr_nonnull(f);
        while (cnt < MAX_ACT && fgets(line, sizeof(line), f)) {
                char *p;
                struct act *a = &out[cnt++];
                memset(a, 0, sizeof(*a));
#define GETS(field, dst)                            \
        if ((p = strstr(line, "\"" field "\":\""))) \
                sscanf(p + strlen(field) + 4, "%39[^\"]", dst);
                GETS("action_id", a->id)
                GETS("trigger", a->trigger)
                GETS("customer_id", a->who)
                if (!a->who[0])
                        GETS("anonymous_id", a->who)
#undef GETS
                if ((p = strstr(line, "\"stage\":")))
                        a->stage = atoi(p + 8);
                if ((p = strstr(line, "\"created_at\":")))
                        a->created_at = atoll(p + 13);
        }
        fclose(f);
        return cnt;
}

static char events[16][1024];
static char ekeys[16][16];
static int event_cnt;

static void add_event(const char *key, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_event(const char *key, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(events[event_cnt], sizeof(events[0]), fmt, ap);
        va_end(ap);
        snprintf(ekeys[event_cnt], sizeof(ekeys[0]), "%s", key);
        event_cnt++;
}

#define ENV(id, type, cust, ts, ch, dev, dt)                            \
        "{\"event_id\":\"" id "\",\"type\":\"" type                     \
        "\",\"customer_id\":\"" cust                                    \
        "\",\"anonymous_id\":null,\"timestamp\":%lld,\"channel\":\"" ch \
        "\",\"device_id\":\"" dev "\",\"device_type\":\"" dt            \
        "\",\"session_id\":null"

static void scenario(long long t0) {
        event_cnt = 0;
        /* cart_abandonment: two stages, 3 s and 6 s after the mutation */
        add_event("c1",
                  ENV("e1", "product_added", "c1", t0, "web", "lap-1",
                      "desktop") ",\"product\":{\"sku\":\"S1\","
                                 "\"category\":\"shoes\",\"price_"
                                 "cents\":5900,\"currency\":\"EUR\"},"
                                 "\"cart_id\":\"k1\",\"quantity\":1}",
                  t0);
        /* browse_abandonment: two views, 3 s after the last */
        add_event("c2",
                  ENV("e2", "product_viewed", "c2", t0, "web", "lap-2",
                      "desktop") ",\"product\":{\"sku\":\"S2\","
                                 "\"category\":\"hats\",\"price_cents\":"
                                 "1900,\"currency\":\"EUR\"}}",
                  t0);
        add_event("c2",
                  ENV("e3", "product_viewed", "c2", t0 + 10, "web", "lap-2",
                      "desktop") ",\"product\":{\"sku\":\"S3\","
                                 "\"category\":\"bags\","
                                 "\"price_cents\":9900,"
                                 "\"currency\":\"EUR\"}}",
                  t0 + 10);
        /* post_purchase_upsell: complements of S1 from the catalog */
        add_event("c3",
                  ENV("e4", "order_completed", "c3", t0, "app", "ph-3",
                      "mobile") ",\"order_id\":\"o3\",\"value_cents\":"
                                "5900,\"currency\":\"EUR\",\"cart_id\":"
                                "null,\"checkout_id\":null,\"products\":"
                                "[{\"sku\":\"S1\",\"category\":\"shoes\","
                                "\"quantity\":1,\"price_cents\":5900}]}",
                  t0);
        /* channel_switch: a cart on the laptop, then the phone */
        add_event("c4",
                  ENV("e5", "product_added", "c4", t0, "web", "lap-4",
                      "desktop") ",\"product\":{\"sku\":\"S3\","
                                 "\"category\":\"bags\",\"price_cents\":"
                                 "9900,\"currency\":\"EUR\"},"
                                 "\"cart_id\":\"k4\",\"quantity\":1}",
                  t0);
        add_event(
            "c4",
            ENV("e6", "app_opened", "c4", t0 + 20, "app", "ph-4", "mobile") "}",
            t0 + 20);
}

static const char *const trigger_yaml =
    "time:\n  max_out_of_orderness: 500ms\n  idle_advance_after: 500ms\n"
    "triggers:\n"
    "  - {name: cart_reminder, type: cart_abandonment, delays: [3s, 6s], "
    "min_inactivity: 1s}\n"
    "  - {name: browse_reminder, type: browse_abandonment, session_gap: 5s, "
    "delay: 3s}\n"
    "  - {name: upsell, type: post_purchase_upsell, delay: 3s}\n"
    "  - {name: continue, type: channel_switch, switch_window: 10s, "
    "grace: 2s}\n";

START_TEST(each_trigger_fires_on_idle_input_and_replay_agrees_with_live) {
        char click[96], cart[96], purchase[96], catalog[96], actions[96],
            dlq[96], app[96], yaml[4096], errstr[512], endt[32];
        const char *catcfg[] = {"cleanup.policy", "compact", NULL};
        static const char *const products[] = {
            "{\"sku\":\"S1\",\"name\":\"Runner\",\"category\":\"shoes\","
            "\"price_cents\":5900,\"currency\":\"EUR\",\"in_stock\":true,"
            "\"complements\":[\"S4\",\"S5\"]}",
            "{\"sku\":\"S4\",\"name\":\"Socks\",\"category\":\"shoes\","
            "\"price_cents\":900,\"currency\":\"EUR\",\"in_stock\":true,"
            "\"complements\":[]}",
            "{\"sku\":\"S5\",\"name\":\"Laces\",\"category\":\"shoes\","
            "\"price_cents\":300,\"currency\":\"EUR\",\"in_stock\":false,"
            "\"complements\":[]}"};
        static const char *const skus[] = {"S1", "S4", "S5"};
        nd_kt_msg_t msgs[16];
        struct act live[MAX_ACT], replay[MAX_ACT];
        rd_kafka_t *chan_c[ND_CHANNEL__CNT] = {0};
        int chan_of[MAX_ACT] = {0}, chan[MAX_ACT] = {0};
        nd_kt_recs_t recs = {0};
        rd_kafka_t *c;
        nd_proc_t p;
        const char *argv[4] = {"run", "-c", NULL, NULL};
        char evpath[256], catpath[256], outpath[256], cfgpath[256];
        FILE *f;
        int n_live, n_replay, counts[4] = {0}, port;
        char series[512];
        long long t0 = nd_clock_wall_ms();

        nd_kt_unique_name(click, sizeof(click), "click");
        nd_kt_unique_name(cart, sizeof(cart), "cart");
        nd_kt_unique_name(purchase, sizeof(purchase), "purchase");
        nd_kt_unique_name(catalog, sizeof(catalog), "catalog");
        nd_kt_unique_name(actions, sizeof(actions), "actions");
        nd_kt_unique_name(dlq, sizeof(dlq), "dlq");
        nd_kt_unique_name(app, sizeof(app), "app");
        ck_assert_int_eq(
            nd_kt_create_topic(click, 2, NULL, WAIT_MS, errstr, sizeof(errstr)),
            ND_OK);
        ck_assert_int_eq(
            nd_kt_create_topic(cart, 2, NULL, WAIT_MS, errstr, sizeof(errstr)),
            ND_OK);
        ck_assert_int_eq(nd_kt_create_topic(purchase, 2, NULL, WAIT_MS, errstr,
                                            sizeof(errstr)),
                         ND_OK);
        ck_assert_int_eq(nd_kt_create_topic(catalog, 1, catcfg, WAIT_MS, errstr,
                                            sizeof(errstr)),
                         ND_OK);
        for (int i = 0; i < 3; i++)
                msgs[i] = nd_kt_msg(skus[i], products[i]);
        ck_assert_int_eq(
            nd_kt_produce(catalog, 0, msgs, 3, WAIT_MS, errstr, sizeof(errstr)),
            ND_OK);

        /* _i 1: one actions topic per channel, actions.<channel> */
        snprintf(yaml, sizeof(yaml),
                 "application.id: %s\nkafka:\n  bootstrap.servers: %s\n"
                 "topics:\n  clickstream: %s\n  cart: %s\n  purchase: %s\n"
                 "  catalog: %s\n  actions: %s\n  dead_letter: %s\n"
                 "  actions_per_channel: %s\n"
                 "input.format: json\nhttp.listen: \"127.0.0.1:0\"\n%s",
                 app, nd_kt_bootstrap(), click, cart, purchase, catalog,
                 actions, dlq, _i ? "true" : "false", trigger_yaml);
        snprintf(cfgpath, sizeof(cfgpath), "%s",
                 nd_proc_write_file("nudge-trig", yaml));
        argv[2] = cfgpath;
        nd_proc_start(&p, argv, NULL);
        ck_assert(nd_proc_wait_log(&p, "worker 0: [0-9]+ tasks", WAIT_MS));
        ck_assert(nd_proc_wait_log(&p, "catalog loaded: 3 products", 1000));

        scenario(t0);
        port = nd_http_port_of(&p);
        ck_assert_int_gt(port, 0);
        for (int i = 0; i < event_cnt; i++) {
                const char *topic = strstr(events[i], "order_") ? purchase
                                    : strstr(events[i], "product_added")
                                        ? cart
                                        : click;
                nd_kt_msg_t m = nd_kt_msg(ekeys[i], events[i]);
                /* The device switch only counts after the cart it
                 * continues: records of two topics may be fetched in either
                 * order, so wait until the cart event was applied. */
                if (strstr(events[i], "\"app_opened\"")) {
                        snprintf(series, sizeof(series),
                                 "nudge_events_in_total{topic=\"%s\","
                                 "type=\"product_added\"}",
                                 cart);
                        ck_assert(
                            nd_http_wait_metric(port, series, 2, WAIT_MS));
                }
                ck_assert_int_eq(nd_kt_produce(topic, RD_KAFKA_PARTITION_UA, &m,
                                               1, WAIT_MS, errstr,
                                               sizeof(errstr)),
                                 ND_OK);
        }
        /* No more input. c1's and c4's carts: 2 stages each; c2 browse;
         * c3 upsell; c4 moved to the phone: continue-on-device. */
        if (_i) {
                /* Every action on the topic of its channel, none on the
                 * base topic. */
                int64_t deadline = nd_clock_mono_ms() + WAIT_MS;
                for (int ch = 0; ch < ND_CHANNEL__CNT; ch++) {
                        char t[128];
                        snprintf(t, sizeof(t), "%s.%s", actions,
                                 nd_channel_name((nd_channel_t)ch));
                        chan_c[ch] =
                            nd_kt_consumer_new(t, NULL, ND_KT_READ_COMMITTED,
                                               errstr, sizeof(errstr));
                        ck_assert_msg(chan_c[ch] != NULL, "%s", errstr);
                }
                while (recs.cnt < 7 && nd_clock_mono_ms() < deadline)
                        for (int ch = 0; ch < ND_CHANNEL__CNT; ch++) {
                                size_t before = recs.cnt;
                                nd_kt_consume(chan_c[ch], recs.cnt + 1, 200,
                                              &recs);
                                for (size_t r = before; r < recs.cnt; r++)
                                        chan_of[r] = ch;
                        }
                for (int ch = 0; ch < ND_CHANNEL__CNT; ch++) {
                        size_t before = recs.cnt;
                        nd_kt_consume(chan_c[ch], recs.cnt + 1, 300, &recs);
                        ck_assert_uint_eq(recs.cnt, before); /* no more */
                }
                c = nd_kt_consumer_new(actions, NULL, ND_KT_READ_COMMITTED,
                                       errstr, sizeof(errstr));
                {
                        nd_kt_recs_t none = {0};
                        nd_kt_consume(c, 1, 2000, &none);
                        ck_assert_uint_eq(none.cnt, 0);
                        nd_kt_recs_fini(&none);
                }
        } else {
                c = nd_kt_consumer_new(actions, NULL, ND_KT_READ_COMMITTED,
                                       errstr, sizeof(errstr));
                nd_kt_consume(c, 7, WAIT_MS, &recs);
                nd_kt_consume(c, 8, 3000, &recs); /* nothing more may come */
        }
        if (recs.cnt != 7)
                nd_proc_dump(&p);
        n_live = decode_actions(&recs, live, chan);
        for (int i = 0; _i && i < n_live; i++)
                ck_assert_int_eq(chan[i], chan_of[i]); /* the right topic */
        for (int i = 0; i < n_live; i++)
                fprintf(stderr, "live: %s %s %s stage %d at %lld\n",
                        live[i].trigger, live[i].who, live[i].id, live[i].stage,
                        live[i].created_at - t0);
        ck_assert_uint_eq(recs.cnt, 7);
        for (int i = 0; i < n_live; i++) {
                static const char *const names[] = {
                    "cart_abandonment", "browse_abandonment",
                    "post_purchase_upsell", "channel_switch"};
                for (int k = 0; k < 4; k++)
                        if (!strcmp(live[i].trigger, names[k]))
                                counts[k]++;
        }
        ck_assert_int_eq(counts[0], 4);
        ck_assert_int_eq(counts[1], 1);
        ck_assert_int_eq(counts[2], 1);
        ck_assert_int_eq(counts[3], 1);
        ck_assert_int_eq(nd_proc_stop(&p, SIGTERM, 30000), 0);

        /* The same events through replay, to an end past every due time. */
        snprintf(evpath, sizeof(evpath), "/tmp/nudge-trig-ev-%d.jsonl",
                 (int)getpid());
        snprintf(catpath, sizeof(catpath), "/tmp/nudge-trig-cat-%d.jsonl",
                 (int)getpid());
        snprintf(outpath, sizeof(outpath), "/tmp/nudge-trig-out-%d.jsonl",
                 (int)getpid());
        f = fopen(evpath, "w");
        for (int i = 0; i < event_cnt; i++)
                fprintf(f, "%s\n", events[i]);
        fclose(f);
        f = fopen(catpath, "w");
        for (int i = 0; i < 3; i++)
                fprintf(f, "%s\n", products[i]);
        fclose(f);
        snprintf(endt, sizeof(endt), "%lld", t0 + 60000);
        {
                const char *rargv[] = {"replay",   "-c",         cfgpath,
                                       "--input",  evpath,       "--catalog",
                                       catpath,    "--end-time", endt,
                                       "--output", outpath,      NULL};
                nd_proc_t rp;
                ck_assert_int_eq(nd_proc_run(&rp, rargv, WAIT_MS), 0);
        }
        n_replay = read_replay(outpath, replay);
        ck_assert_int_eq(n_replay, n_live);
        qsort(live, (size_t)n_live, sizeof(live[0]), act_cmp);
        qsort(replay, (size_t)n_replay, sizeof(replay[0]), act_cmp);
        for (int i = 0; i < n_live; i++) {
                ck_assert_str_eq(live[i].id, replay[i].id);
                ck_assert_str_eq(live[i].trigger, replay[i].trigger);
                ck_assert_str_eq(live[i].who, replay[i].who);
                ck_assert_int_eq(live[i].stage, replay[i].stage);
                ck_assert_int_eq(live[i].created_at, replay[i].created_at);
        }
        unlink(evpath);
        unlink(catpath);
        unlink(outpath);
        nd_kt_consumer_destroy(c);
        for (int ch = 0; ch < ND_CHANNEL__CNT; ch++)
                nd_kt_consumer_destroy(chan_c[ch]);
        nd_kt_recs_fini(&recs);
}
END_TEST

static Suite *triggers_suite(void) {
        Suite *s = suite_create("triggers");
        TCase *tc = tcase_create("end_to_end");
        tcase_set_timeout(tc, 300);
        tcase_add_loop_test(
            tc, each_trigger_fires_on_idle_input_and_replay_agrees_with_live, 0,
            2);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(triggers_suite());
}
