/*
 * test_restart.c — timers restored from the changelog fire after a restart
 * that brings no new input (issue 14, item 1), against a real broker.
 *
 * The hybrid clock moves a task's watermark with the wall clock only once
 * its partitions are caught up. Before the partition group, "caught up"
 * compared the consumer's position with the high watermark, and a
 * restarted consumer has no position until it consumed a record: on a
 * quiet restart it never answered yes, and the restored timers never
 * fired. Now it is librdkafka's partition EOF, which also comes right
 * after an assignment with nothing to read.
 *
 * The scenario, once per guarantee:
 *
 *   1. `nudge run` consumes one cart per customer, stamped now, whose
 *      cart_abandonment reminders are due DELAY_S later, and commits them
 *      (the changelog holds the armed timers, the group's offsets are at
 *      the end of the cart topic);
 *   2. it is stopped (SIGTERM) before any reminder is due, and nothing has
 *      been written to the actions topic;
 *   3. it is started again with no new input at all; it must log the
 *      restored timers and emit every reminder exactly once, to a
 *      read_committed reader, with the due time as created_at.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "nd_action_test.h"
#include "nd_http_test.h"
#include "nd_kafka_test.h"
#include "nd_proc_test.h"
#include "nd_test.h"

#define WAIT_MS 90000
#define PARTS   3
#define CARTS   30 /* customers rs-c0..rs-c29, customer i on partition i % 3 */
/* WHY 20 s: step 1 (consume and commit 30 records, one transaction) takes
 * well under a second, and the stop a few more, also under ASan; the due
 * time must not come before the stop, and everything after it is waited
 * for, so a longer delay only makes the test longer. */
#define DELAY_S 20
/* How long after the due time the reminders may take: the restart, the
 * restore, the idle clock (time.idle_advance_after: 1s) and the commit. */
#define LATE_MS 60000

struct env {
        char click[96], cart[96], purchase[96], actions[96], dlq[96], app[96];
        char cfg[256];
};

static const char *const guarantees[] = {"exactly_once", "at_least_once"};

static void make_env(struct env *e, const char *guarantee) {
        char errstr[512], yaml[4096];
        const char *topics[] = {e->click, e->cart, e->purchase};

        nd_kt_unique_name(e->click, sizeof(e->click), "click");
        nd_kt_unique_name(e->cart, sizeof(e->cart), "cart");
        nd_kt_unique_name(e->purchase, sizeof(e->purchase), "purchase");
        nd_kt_unique_name(e->actions, sizeof(e->actions), "actions");
        nd_kt_unique_name(e->dlq, sizeof(e->dlq), "dlq");
        nd_kt_unique_name(e->app, sizeof(e->app), "app");
        for (int i = 0; i < 3; i++)
                ck_assert_msg(nd_kt_create_topic(topics[i], PARTS, NULL,
                                                 WAIT_MS, errstr,
                                                 sizeof(errstr)) == ND_OK,
                              "%s", errstr);
        /* Static membership: the restarted process takes the old member's
         * place at once instead of waiting for its session to end. */
        snprintf(yaml, sizeof(yaml),
                 "application.id: %s\n"
                 "kafka:\n  bootstrap.servers: %s\n"
                 "  group.instance.id: restart-a\n"
                 "  session.timeout.ms: 6000\n"
                 "topics:\n  clickstream: %s\n  cart: %s\n  purchase: %s\n"
                 "  catalog: %s-catalog\n  actions: %s\n  dead_letter: %s\n"
                 "input.format: json\nhttp.listen: \"127.0.0.1:0\"\n"
                 "processing:\n  guarantee: %s\n"
                 "time:\n  max_out_of_orderness: 500ms\n"
                 "  idle_advance_after: 1s\n"
                 "triggers:\n"
                 "  - {name: cart_reminder, type: cart_abandonment, "
                 "delays: [%ds], min_inactivity: 0s}\n",
                 e->app, nd_kt_bootstrap(), e->click, e->cart, e->purchase,
                 e->app, e->actions, e->dlq, guarantee, DELAY_S);
        snprintf(e->cfg, sizeof(e->cfg), "%s",
                 nd_proc_write_file("nudge-restart", yaml));
}

static void start(nd_proc_t *p, const struct env *e) {
        const char *argv[] = {"run", "-c", e->cfg, NULL};
        nd_proc_start(p, argv, NULL);
        if (!nd_proc_wait_log(p, "worker 0: [0-9]+ tasks", WAIT_MS)) {
                nd_proc_dump(p);
                ck_abort_msg("nudge run did not get its tasks");
        }
}

/* Customer i's cart, stamped ts. */
static void cart_json(char *buf, size_t size, int i, int64_t ts) {
        snprintf(buf, size,
                 "{\"event_id\":\"rs-e%d\",\"type\":\"product_added\","
                 "\"customer_id\":\"rs-c%d\",\"anonymous_id\":null,"
                 "\"timestamp\":%lld,\"channel\":\"web\",\"device_id\":"
                 "\"lap-%d\",\"device_type\":\"desktop\",\"session_id\":null,"
                 "\"product\":{\"sku\":\"S1\",\"category\":\"shoes\","
                 "\"price_cents\":5900,\"currency\":\"EUR\"},"
                 "\"cart_id\":\"k%d\",\"quantity\":1}",
                 i, i, (long long)ts, i, i);
}

/* True once the group's committed offset of every cart partition is at
 * that partition's count of records (asked with require_stable). */
static bool all_committed(void *arg) {
        const struct env *e = arg;
        char errstr[512];
        for (int p = 0; p < PARTS; p++) {
                int64_t off;
                int want = CARTS / PARTS + (p < CARTS % PARTS);
                if (nd_kt_committed(e->app, e->cart, p, &off, 5000, errstr,
                                    sizeof(errstr)) != ND_OK ||
                    off != want)
                        return false;
        }
        return true;
}

/* Records ever written to topic (transaction markers included). */
static int64_t topic_end(const char *topic) {
        char errstr[512];
        int64_t sum = 0;
        int parts = nd_kt_topic_partitions(NULL, topic, WAIT_MS);
        ck_assert_int_gt(parts, 0);
        for (int p = 0; p < parts; p++) {
                int64_t end;
                ck_assert_msg(nd_kt_end_offset(topic, p, &end, WAIT_MS, errstr,
                                               sizeof(errstr)) == ND_OK,
                              "%s", errstr);
                sum += end;
        }
        return sum;
}

/* Sum of the timers of the "partition N restored: E entries, T timers"
 * lines, and how many such lines; -1 when there is none. */
static long restored_timers(const nd_proc_t *p, int *lines) {
        FILE *f = fopen(p->log, "r");
        char line[4096];
        long total = -1;
        *lines = 0;
        while (f && fgets(line, sizeof(line), f)) {
                const char *s = strstr(line, "partition ");
                long entries, timers;
                int part;
                if (s &&
                    sscanf(s, "partition %d restored: %ld entries, %ld timers",
                           &part, &entries, &timers) == 3) {
                        total = (total < 0 ? 0 : total) + timers;
                        (*lines)++;
                }
        }
        if (f)
                fclose(f);
        return total;
}

START_TEST(restored_timers_fire_after_a_restart_with_no_new_input) {
        const char *guarantee = guarantees[_i];
        struct env e;
        nd_proc_t p;
        char errstr[512], val[1024], key[32], series[256];
        rd_kafka_t *rk, *c;
        nd_kt_recs_t recs = {0};
        int seen[CARTS] = {0}, port, lines, bad = 0;
        int64_t t0, deadline;
        long timers;

        make_env(&e, guarantee);

        /* 1. One cart per customer, due DELAY_S after now; consumed and
         *    committed. */
        start(&p, &e);
        port = nd_http_port_of(&p);
        ck_assert_int_gt(port, 0);
        t0 = nd_clock_wall_ms();
        rk = nd_kt_producer_new(NULL, WAIT_MS, errstr, sizeof(errstr));
        ck_assert_msg(rk != NULL, "%s", errstr);
        for (int i = 0; i < CARTS; i++) {
                nd_kt_msg_t m;
                cart_json(val, sizeof(val), i, t0 + i);
                snprintf(key, sizeof(key), "rs-c%d", i);
                m = nd_kt_msg(key, val);
                ck_assert_int_eq(nd_kt_send(rk, e.cart, i % PARTS, &m, 1,
                                            errstr, sizeof(errstr)),
                                 ND_OK);
        }
        ck_assert_int_eq(nd_kt_flush(rk, WAIT_MS), ND_OK);
        ck_assert_int_eq(nd_kt_delivery_failures(), 0);
        rd_kafka_destroy(rk);
        snprintf(series, sizeof(series),
                 "nudge_timers_pending{trigger_name=\"cart_reminder\"}");
        if (!nd_http_wait_metric(port, series, CARTS, WAIT_MS) ||
            !nd_test_wait(all_committed, &e, WAIT_MS, 100)) {
                nd_proc_dump(&p);
                ck_abort_msg("the carts were not consumed and committed");
        }

        /* 2. Stopped before any reminder is due: nothing was emitted. */
        ck_assert_int_eq(nd_proc_stop(&p, SIGTERM, 30000), 0);
        ck_assert_msg(nd_clock_wall_ms() < t0 + DELAY_S * 1000LL,
                      "the first run took longer than the %d s delay: the "
                      "reminders may have been due before it stopped",
                      DELAY_S);
        if (topic_end(e.actions) != 0) {
                nd_proc_dump(&p);
                ck_abort_msg("the first run wrote to the actions topic");
        }

        /* 3. Restarted with no new input: the timers come back from the
         *    changelog and fire on the idle clock. */
        start(&p, &e);
        timers = restored_timers(&p, &lines);
        if (timers != CARTS || lines != PARTS)
                nd_proc_dump(&p);
        ck_assert_int_eq(lines, PARTS);
        ck_assert_int_eq(timers, CARTS);

        c = nd_kt_consumer_new(e.actions, NULL, ND_KT_READ_COMMITTED, errstr,
                               sizeof(errstr));
        ck_assert_msg(c != NULL, "%s", errstr);
        deadline = t0 + DELAY_S * 1000LL + LATE_MS;
        while (recs.cnt < CARTS && nd_clock_wall_ms() < deadline)
                nd_kt_consume(c, CARTS, 1000, &recs);
        /* Linger: a duplicate would come right after. */
        nd_kt_consume(c, recs.cnt + 1, 3000, &recs);
        if (recs.cnt != CARTS)
                nd_proc_dump(&p);
        for (size_t r = 0; r < recs.cnt; r++) {
                nd_at_action_t a;
                int i = -1;
                nd_at_decode(recs.v[r].value, recs.v[r].value_len, &a);
                fprintf(stderr, "%s: %s %s stage %d due +%lld ms\n", guarantee,
                        a.trigger, a.customer, a.stage,
                        (long long)(a.created_at - t0));
                if (sscanf(a.customer, "rs-c%d", &i) != 1 || i < 0 ||
                    i >= CARTS) {
                        bad++;
                        continue;
                }
                seen[i]++;
                ck_assert_str_eq(recs.v[r].key, a.customer);
                ck_assert_str_eq(a.trigger, "cart_abandonment");
                ck_assert_str_eq(a.trigger_name, "cart_reminder");
                ck_assert_int_eq(a.stage, 0);
                ck_assert_int_eq(a.created_at, t0 + i + DELAY_S * 1000LL);
        }
        ck_assert_int_eq(bad, 0);
        for (int i = 0; i < CARTS; i++)
                ck_assert_msg(seen[i] == 1,
                              "%s: customer rs-c%d's reminder came %d times "
                              "(%zu actions in all)",
                              guarantee, i, seen[i], recs.cnt);
        ck_assert_uint_eq(recs.cnt, CARTS);
        ck_assert_int_eq(nd_proc_stop(&p, SIGTERM, 30000), 0);
        nd_kt_consumer_destroy(c);
        nd_kt_recs_fini(&recs);
}
END_TEST

static Suite *restart_suite(void) {
        Suite *s = suite_create("restart");
        TCase *tc = tcase_create("quiet_restart");
        tcase_set_timeout(tc, 240);
        tcase_add_loop_test(
            tc, restored_timers_fire_after_a_restart_with_no_new_input, 0, 2);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(restart_suite());
}
