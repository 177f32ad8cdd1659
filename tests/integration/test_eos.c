/*
 * test_eos.c — state, exactly-once and rebalancing against a real broker.
 *
 * - State and timers written to the changelog come back after a restart.
 * - kill -9 mid-stream, restart: a read_committed consumer sees every
 *   output exactly once.
 * - A second instance joins mid-stream and leaves again: nothing lost,
 *   nothing duplicated.
 *
 * The engine runs the reference processor, which forwards every input once
 * (so "exactly once" is checkable record by record through the event ids)
 * and, with quiet_after, keeps per-customer state and a timer.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "nd_kafka_test.h"
#include "nd_proc_test.h"
#include "nd_test.h"

#define WAIT_MS 90000

struct env {
        char click[96], cart[96], purchase[96], actions[96], dlq[96], app[96];
};

static void make_env(struct env *e, int parts) {
        char errstr[512];
        nd_kt_unique_name(e->click, sizeof(e->click), "click");
        nd_kt_unique_name(e->cart, sizeof(e->cart), "cart");
        nd_kt_unique_name(e->purchase, sizeof(e->purchase), "purchase");
        nd_kt_unique_name(e->actions, sizeof(e->actions), "actions");
        nd_kt_unique_name(e->dlq, sizeof(e->dlq), "dlq");
        nd_kt_unique_name(e->app, sizeof(e->app), "app");
        ck_assert_int_eq(nd_kt_create_topic(e->click, parts, NULL, WAIT_MS,
                                            errstr, sizeof(errstr)),
                         ND_OK);
        ck_assert_int_eq(nd_kt_create_topic(e->cart, parts, NULL, WAIT_MS,
                                            errstr, sizeof(errstr)),
                         ND_OK);
        ck_assert_int_eq(nd_kt_create_topic(e->purchase, parts, NULL, WAIT_MS,
                                            errstr, sizeof(errstr)),
                         ND_OK);
}

/* instance: the group.instance.id (static membership: a restart takes the
 * old member's place at once, and it names the transactional id). */
static const char *config(const struct env *e, const char *instance,
                          const char *trigger_extra) {
        static char yaml[4096];
        snprintf(yaml, sizeof(yaml),
                 "application.id: %s\n"
                 "kafka:\n  bootstrap.servers: %s\n"
                 "  group.instance.id: %s\n  session.timeout.ms: 6000\n"
                 "topics:\n  clickstream: %s\n  cart: %s\n  purchase: %s\n"
                 "  catalog: %s-catalog\n  actions: %s\n  dead_letter: %s\n"
                 "input.format: json\nhttp.listen: \"\"\n"
                 "triggers:\n  - name: mirror\n    type: passthrough\n%s",
                 e->app, nd_kt_bootstrap(), instance, e->click, e->cart,
                 e->purchase, e->app, e->actions, e->dlq,
                 trigger_extra ? trigger_extra : "");
        return nd_proc_write_file("nudge-eos", yaml);
}

static void start(nd_proc_t *p, const char *cfg) {
        const char *argv[] = {"run", "-c", cfg, NULL};
        nd_proc_start(p, argv, NULL);
}

static void event_json(char *buf, size_t size, int i, int64_t base_ts) {
        snprintf(buf, size,
                 "{\"event_id\":\"ev-%d\",\"type\":\"app_opened\","
                 "\"customer_id\":\"c%d\",\"anonymous_id\":null,"
                 "\"timestamp\":%lld,\"channel\":\"app\",\"device_id\":"
                 "\"d%d\",\"device_type\":\"mobile\",\"session_id\":null}",
                 i, i % 500, (long long)(base_ts + i), i % 500);
}

/* A paced producer: n events over about `ms` milliseconds. */
struct feeder {
        const char *topic;
        int n;
        int ms;
        int64_t base_ts; /* event time of event 0; 0: 2023-11-14 */
        int sent;
        pthread_t thr;
};

static void *feed(void *arg) {
        struct feeder *f = arg;
        char errstr[512], val[512], key[32];
        rd_kafka_t *rk =
            nd_kt_producer_new(NULL, WAIT_MS, errstr, sizeof(errstr));
        int64_t start = nd_clock_mono_ms();
        if (!rk)
                return NULL;
        for (int i = 0; i < f->n; i++) {
                nd_kt_msg_t m;
                int64_t due = start + (int64_t)i * f->ms / f->n;
                while (nd_clock_mono_ms() < due)
                        nd_test_pause_ms(2);
                event_json(val, sizeof(val), i,
                           f->base_ts ? f->base_ts : 1700000000000LL);
                snprintf(key, sizeof(key), "c%d", i % 500);
                m = nd_kt_msg(key, val);
                if (nd_kt_send(rk, f->topic, RD_KAFKA_PARTITION_UA, &m, 1,
                               errstr, sizeof(errstr)) != ND_OK)
                        break;
                f->sent = i + 1;
        }
        nd_kt_flush(rk, WAIT_MS);
        rd_kafka_destroy(rk);
        return NULL;
}

/* Reads the actions read_committed until n distinct event ids were seen
 * (or the deadline); fails on any duplicate. Returns the distinct count. */
static int read_exactly_once(const char *topic, int n, int timeout_ms,
                             int *dups) {
        char errstr[512];
        rd_kafka_t *c = nd_kt_consumer_new(topic, NULL, ND_KT_READ_COMMITTED,
                                           errstr, sizeof(errstr));
        nd_kt_recs_t recs = {0};
        unsigned char *seen = calloc((size_t)n, 1);
        int distinct = 0;
        int64_t deadline = nd_clock_mono_ms() + timeout_ms;
        size_t done = 0;
        *dups = 0;
        ck_assert_ptr_nonnull(c);
        while (distinct < n && nd_clock_mono_ms() < deadline) {
                nd_kt_consume(c, recs.cnt + 1000, 1000, &recs);
                for (; done < recs.cnt; done++) {
                        const char *v = recs.v[done].value;
                        const char *p = v ? strstr(v, "\"ev-") : NULL;
                        int id = p ? atoi(p + 4) : -1;
                        if (id < 0 || id >= n)
                                continue;
                        if (seen[id])
                                (*dups)++;
                        else
                                distinct++;
                        seen[id] = 1;
                }
        }
        /* Linger: a duplicate committed late would show up now. */
        nd_kt_consume(c, recs.cnt + 1, 2000, &recs);
        for (; done < recs.cnt; done++) {
                const char *v = recs.v[done].value;
                const char *p = v ? strstr(v, "\"ev-") : NULL;
                int id = p ? atoi(p + 4) : -1;
                if (id >= 0 && id < n && seen[id])
                        (*dups)++;
        }
        nd_kt_consumer_destroy(c);
        nd_kt_recs_fini(&recs);
        free(seen);
        return distinct;
}

static long sum_log(const nd_proc_t *p, const char *fmt) {
        FILE *f = fopen(p->log, "r");
        char line[4096];
        long total = 0;
        while (f && fgets(line, sizeof(line), f)) {
                const char *s = strstr(line, "restored: ");
                long entries, timers;
                int part;
                if (!s)
                        continue;
                s = strstr(line, "partition ");
                if (s && sscanf(s,
                                "partition %d restored: %ld entries, %ld "
                                "timers",
                                &part, &entries, &timers) == 3)
                        total += !strcmp(fmt, "entries") ? entries : timers;
        }
        if (f)
                fclose(f);
        return total;
}

START_TEST(state_and_timers_come_back_from_the_changelog_after_a_restart) {
        struct env e;
        nd_proc_t p;
        struct feeder f = {0};
        const char *cfg;
        int dups;
        char errstr[512], topic[256], policy[64];

        make_env(&e, 3);
        cfg = config(&e, "restart-a", "    quiet_after: 1h\n");
        start(&p, cfg);
        ck_assert(nd_proc_wait_log(&p, "worker 0: [0-9]+ tasks", WAIT_MS));
        f.topic = e.click;
        f.n = 500; /* one event per customer c0..c499 */
        f.ms = 100;
        /* Event time = now: the timers (1 h ahead) must not be due by the
         * hybrid clock's idle advance while the test runs. */
        f.base_ts = nd_clock_wall_ms();
        feed(&f);
        ck_assert_int_eq(read_exactly_once(e.actions, 500, WAIT_MS, &dups),
                         500);
        ck_assert_int_eq(dups, 0);
        ck_assert_int_eq(nd_proc_stop(&p, SIGTERM, 30000), 0);

        snprintf(topic, sizeof(topic), "%s-changelog", e.app);
        ck_assert_int_eq(nd_kt_topic_config(topic, "cleanup.policy", policy,
                                            sizeof(policy), WAIT_MS, errstr,
                                            sizeof(errstr)),
                         ND_OK);
        ck_assert_str_eq(policy, "compact");

        start(&p, cfg);
        ck_assert(nd_proc_wait_log(&p, "worker 0: [0-9]+ tasks", WAIT_MS));
        if (sum_log(&p, "entries") != 500)
                nd_proc_dump(&p);
        ck_assert_int_eq(sum_log(&p, "entries"), 500);
        ck_assert_int_eq(sum_log(&p, "timers"), 500);
        ck_assert_int_eq(nd_proc_stop(&p, SIGTERM, 30000), 0);
}
END_TEST

START_TEST(kill_9_mid_stream_then_restart_outputs_each_record_once) {
        struct env e;
        nd_proc_t p;
        struct feeder f = {0};
        const char *cfg;
        int dups, got;
        enum { N = 20000 };

        make_env(&e, 3);
        cfg = config(&e, "kill-a", NULL);
        start(&p, cfg);
        ck_assert(nd_proc_wait_log(&p, "worker 0: [0-9]+ tasks", WAIT_MS));
        f.topic = e.click;
        f.n = N;
        f.ms = 6000;
        pthread_create(&f.thr, NULL, feed, &f);
        /* Let it run under load for a while, then pull the plug. */
        while (f.sent < N / 4)
                nd_test_pause_ms(20);
        ck_assert_int_eq(nd_proc_stop(&p, SIGKILL, 10000), 128 + SIGKILL);
        start(&p, cfg);
        pthread_join(f.thr, NULL);
        ck_assert_int_eq(f.sent, N);
        got = read_exactly_once(e.actions, N, WAIT_MS, &dups);
        if (got != N || dups)
                nd_proc_dump(&p);
        ck_assert_int_eq(got, N);
        ck_assert_int_eq(dups, 0);
        ck_assert_int_eq(nd_proc_stop(&p, SIGTERM, 30000), 0);
}
END_TEST

START_TEST(kill_9_under_at_least_once_loses_nothing) {
        struct env e;
        nd_proc_t p;
        struct feeder f = {0};
        char cfg[256];
        int dups, got;
        enum { N = 20000 };

        make_env(&e, 3);
        /* config() plus the guarantee: at least once */
        snprintf(cfg, sizeof(cfg), "%s", config(&e, "alos-a", NULL));
        {
                FILE *fp = fopen(cfg, "a");
                fputs("processing:\n  guarantee: at_least_once\n", fp);
                fclose(fp);
        }
        start(&p, cfg);
        ck_assert(nd_proc_wait_log(&p, "worker 0: [0-9]+ tasks", WAIT_MS));
        f.topic = e.click;
        f.n = N;
        f.ms = 6000;
        pthread_create(&f.thr, NULL, feed, &f);
        while (f.sent < N / 3)
                nd_test_pause_ms(20);
        ck_assert_int_eq(nd_proc_stop(&p, SIGKILL, 10000), 128 + SIGKILL);
        start(&p, cfg);
        pthread_join(f.thr, NULL);
        ck_assert_int_eq(f.sent, N);
        /* every record comes out at least once; duplicates are allowed */
        got = read_exactly_once(e.actions, N, WAIT_MS, &dups);
        if (got != N)
                nd_proc_dump(&p);
        ck_assert_int_eq(got, N);
        fprintf(stderr, "at-least-once after kill -9: %d duplicates\n", dups);
        ck_assert_int_eq(nd_proc_stop(&p, SIGTERM, 30000), 0);
}
END_TEST

START_TEST(an_instance_joining_and_leaving_loses_and_duplicates_nothing) {
        struct env e;
        nd_proc_t a, b;
        struct feeder f = {0};
        int dups, got;
        enum { N = 20000 };

        make_env(&e, 4);
        start(&a, config(&e, "join-a", NULL));
        ck_assert(nd_proc_wait_log(&a, "worker 0: [0-9]+ tasks", WAIT_MS));
        f.topic = e.click;
        f.n = N;
        f.ms = 8000;
        pthread_create(&f.thr, NULL, feed, &f);
        while (f.sent < N / 5)
                nd_test_pause_ms(20);
        start(&b, config(&e, "join-b", NULL));
        /* b gets a share of the partitions... */
        if (!nd_proc_wait_log(&b, "worker 0: [1-9][0-9]* tasks", WAIT_MS)) {
                nd_proc_dump(&b);
                ck_abort_msg("the second instance got no partitions");
        }
        while (f.sent < N * 3 / 5)
                nd_test_pause_ms(20);
        /* ...and leaves again; a takes them back after the session ends. */
        ck_assert_int_eq(nd_proc_stop(&b, SIGTERM, 30000), 0);
        pthread_join(f.thr, NULL);
        got = read_exactly_once(e.actions, N, WAIT_MS, &dups);
        if (got != N || dups) {
                nd_proc_dump(&a);
                nd_proc_dump(&b);
        }
        ck_assert_int_eq(got, N);
        ck_assert_int_eq(dups, 0);
        ck_assert_int_eq(nd_proc_stop(&a, SIGTERM, 30000), 0);
}
END_TEST

static Suite *eos_suite(void) {
        Suite *s = suite_create("eos");
        TCase *tc = tcase_create("restore");
        tcase_set_timeout(tc, 240);
        tcase_add_test(
            tc, state_and_timers_come_back_from_the_changelog_after_a_restart);
        suite_add_tcase(s, tc);
        tc = tcase_create("crash");
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc,
                       kill_9_mid_stream_then_restart_outputs_each_record_once);
        suite_add_tcase(s, tc);
        tcase_add_test(tc, kill_9_under_at_least_once_loses_nothing);
        tc = tcase_create("rebalance");
        tcase_set_timeout(tc, 300);
        tcase_add_test(
            tc, an_instance_joining_and_leaving_loses_and_duplicates_nothing);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(eos_suite());
}
