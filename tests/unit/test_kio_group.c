/*
 * test_kio_group.c — the partition group of kio (kio_group.c) against the
 * embedded mock cluster: what nd_kio_poll() hands out and in which order.
 *
 * Each record's value is its event time in decimal, read back by the
 * timestamp callback, so a test states the event times per topic and the
 * order a task must apply them in (TRIGGERS.md §2; docs/design.md "the
 * partition group"): merged by event time across the task's topics, ties
 * to the topic subscribed first, each partition in its own order; and
 * "caught up" from the partitions' ends (EOF), also before any record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "kio.h"
#include "nd_test.h"

#define WAIT_MS 20000

static const char *const topics[3] = {"t.click", "t.cart", "t.purchase"};

struct fixture {
        nd_kio_cluster_t *mc;
        nd_config_t *cfg;
        nd_kio_t *kio;
};

static int64_t value_ts(void *arg, const nd_rec_t *rec) {
        char buf[32];
        size_t n =
            rec->value_len < sizeof(buf) - 1 ? rec->value_len : sizeof(buf) - 1;
        (void)arg;
        memcpy(buf, rec->value, n);
        buf[n] = '\0';
        return strtoll(buf, NULL, 10);
}

static void setup(struct fixture *f, const char *app, int64_t max_idle_ms) {
        char yaml[512], errstr[512];
        nd_kio_conf_t kc;
        memset(f, 0, sizeof(*f));
        ck_assert_int_eq(nd_kio_cluster_new(1, &f->mc, errstr, sizeof(errstr)),
                         ND_OK);
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(
                    nd_kio_cluster_create_topic(f->mc, topics[i], 1), ND_OK);
        snprintf(yaml, sizeof(yaml),
                 "application: {id: %s}\n"
                 "processing: {guarantee: at_least_once, max_task_idle: "
                 "%lldms}\n",
                 app, (long long)max_idle_ms);
        ck_assert_msg(nd_config_load_string("t.yaml", yaml, strlen(yaml), NULL,
                                            &f->cfg, errstr,
                                            sizeof(errstr)) == ND_OK,
                      "%s", errstr);
        memset(&kc, 0, sizeof(kc));
        kc.cfg = f->cfg;
        kc.bootstrap = nd_kio_cluster_bootstraps(f->mc);
        kc.timestamp = value_ts;
        ck_assert_msg(nd_kio_new(&kc, &f->kio, errstr, sizeof(errstr)) == ND_OK,
                      "%s", errstr);
}

static void teardown(struct fixture *f) {
        nd_kio_close(f->kio, 5000);
        nd_kio_destroy(f->kio);
        nd_config_destroy(f->cfg);
        nd_kio_cluster_destroy(f->mc);
}

/* Produces the event times ts[0..n) to topic t (one partition). */
static void produce(struct fixture *f, int t, const int64_t *ts, int n) {
        char errstr[512], v[32];
        nd_kio_client_t *p = nd_kio_producer_new(
            f->cfg, nd_kio_cluster_bootstraps(f->mc), errstr, sizeof(errstr));
        ck_assert_msg(p != NULL, "%s", errstr);
        for (int i = 0; i < n; i++) {
                int len = snprintf(v, sizeof(v), "%lld", (long long)ts[i]);
                ck_assert_int_eq(
                    nd_kio_client_produce(p, topics[t], "k", 1, v, (size_t)len),
                    ND_OK);
        }
        ck_assert_int_eq(nd_kio_client_flush(p, 10000), ND_OK);
        ck_assert_int_eq(nd_kio_client_poll(p, 0), 0);
        nd_kio_client_destroy(p);
}

/* Polls until n records came (deadline), writing "topic:ts" of each into
 * out, comma-separated. */
static void take(struct fixture *f, int n, char *out, size_t size) {
        nd_rec_t recs[64];
        int64_t deadline = nd_clock_mono_ms() + WAIT_MS;
        int got = 0;
        out[0] = '\0';
        while (got < n && nd_clock_mono_ms() < deadline) {
                int k = nd_kio_poll(f->kio, recs, 64, 100);
                ck_assert_int_ge(k, 0);
                for (int i = 0; i < k; i++) {
                        int t = 0;
                        size_t len = strlen(out);
                        while (t < 3 && strcmp(recs[i].topic, topics[t]))
                                t++;
                        snprintf(out + len, size - len, "%s%d:%lld",
                                 got ? "," : "", t,
                                 (long long)value_ts(NULL, &recs[i]));
                        got++;
                }
        }
        ck_assert_msg(got == n, "took %d of %d records: %s", got, n, out);
}

/* A backlog on three topics comes out merged by event time, ties to the
 * topic subscribed first, each partition keeping its order (the late 1 on
 * topic 0 stays behind the 9 before it). */
START_TEST(backlog_merged_by_event_time) {
        struct fixture f;
        char got[512];
        static const int64_t t0[] = {1, 5, 9, 1, 12};
        static const int64_t t1[] = {2, 3, 5, 10};
        static const int64_t t2[] = {4, 5, 8, 20};
        setup(&f, "kg-merge", 30000);
        produce(&f, 0, t0, 5);
        produce(&f, 1, t1, 4);
        produce(&f, 2, t2, 4);
        ck_assert_int_eq(nd_kio_subscribe(f.kio, topics, 3), ND_OK);
        take(&f, 13, got, sizeof(got));
        ck_assert_str_eq(got, "0:1,1:2,1:3,2:4,0:5,1:5,2:5,2:8,0:9,0:1,1:10,"
                              "0:12,2:20");
        ck_assert_uint_eq(nd_kio_enforced(f.kio), 0);
        teardown(&f);
}
END_TEST

/* Topics with nothing in them reach their end (EOF) right after the
 * assignment: the task is caught up without a record, and a topic that is
 * empty does not hold the others back. */
START_TEST(empty_topics_reach_their_end) {
        struct fixture f;
        char got[128];
        static const int64_t t1[] = {7, 3};
        int64_t deadline;
        setup(&f, "kg-empty", 30000);
        ck_assert_int_eq(nd_kio_subscribe(f.kio, topics, 3), ND_OK);
        deadline = nd_clock_mono_ms() + WAIT_MS;
        while (!nd_kio_caught_up(f.kio) && nd_clock_mono_ms() < deadline) {
                nd_rec_t r[4];
                ck_assert_int_eq(nd_kio_poll(f.kio, r, 4, 100), 0);
        }
        ck_assert_msg(nd_kio_caught_up(f.kio), "not caught up on empty topics");
        ck_assert(nd_kio_partition_caught_up(f.kio, 0));
        produce(&f, 1, t1, 2);
        take(&f, 2, got, sizeof(got));
        ck_assert_str_eq(got, "1:7,1:3");
        deadline = nd_clock_mono_ms() + WAIT_MS;
        while (!nd_kio_caught_up(f.kio) && nd_clock_mono_ms() < deadline) {
                nd_rec_t r[4];
                ck_assert_int_eq(nd_kio_poll(f.kio, r, 4, 100), 0);
        }
        ck_assert(nd_kio_caught_up(f.kio));
        ck_assert_uint_eq(nd_kio_enforced(f.kio), 0);
        teardown(&f);
}
END_TEST

/* A batch smaller than the backlog cuts the merge anywhere and the next
 * poll goes on with it: the order is that of one big take. */
START_TEST(small_batches_keep_the_order) {
        struct fixture f;
        char got[2048], want[2048];
        int64_t a[40], b[40];
        nd_rec_t recs[3];
        int n = 0;
        size_t len = 0;
        int64_t deadline;
        for (int i = 0; i < 40; i++) {
                a[i] = 2 * i;     /* even */
                b[i] = 2 * i + 1; /* odd */
        }
        setup(&f, "kg-small", 30000);
        produce(&f, 0, a, 40);
        produce(&f, 2, b, 40);
        ck_assert_int_eq(nd_kio_subscribe(f.kio, topics, 3), ND_OK);
        got[0] = '\0';
        deadline = nd_clock_mono_ms() + WAIT_MS;
        while (n < 80 && nd_clock_mono_ms() < deadline) {
                int k = nd_kio_poll(f.kio, recs, 3, 100);
                ck_assert_int_ge(k, 0);
                ck_assert_int_le(k, 3);
                for (int i = 0; i < k; i++, n++)
                        len += (size_t)snprintf(
                            got + len, sizeof(got) - len, "%s%lld",
                            n ? "," : "", (long long)value_ts(NULL, &recs[i]));
        }
        len = 0;
        for (int i = 0; i < 80; i++)
                len += (size_t)snprintf(want + len, sizeof(want) - len, "%s%d",
                                        i ? "," : "", i);
        ck_assert_str_eq(got, want);
        teardown(&f);
}
END_TEST

/* nd_kio_hold(): a record and the task's later ones go back and come out
 * again, in the same order, once the hold ends; not before. */
START_TEST(held_records_come_back_in_order) {
        struct fixture f;
        char got[512], rest[512];
        static const int64_t t0[] = {1, 5, 9};
        static const int64_t t1[] = {2, 3, 10};
        nd_rec_t recs[64], none[4];
        int64_t deadline;
        int n = 0, at = -1;
        size_t len = 0;
        setup(&f, "kg-hold", 30000);
        produce(&f, 0, t0, 3);
        produce(&f, 1, t1, 3);
        ck_assert_int_eq(nd_kio_subscribe(f.kio, topics, 3), ND_OK);
        /* the first batch that reaches ts 3 */
        got[0] = '\0';
        deadline = nd_clock_mono_ms() + WAIT_MS;
        while (at < 0 && nd_clock_mono_ms() < deadline) {
                n = nd_kio_poll(f.kio, recs, 64, 100);
                ck_assert_int_ge(n, 0);
                for (int i = 0; i < n && at < 0; i++) {
                        int64_t ts = value_ts(NULL, &recs[i]);
                        if (ts == 3)
                                at = i;
                        else
                                len += (size_t)snprintf(got + len,
                                                        sizeof(got) - len,
                                                        "%lld,", (long long)ts);
                }
        }
        ck_assert_int_ge(at, 0);
        ck_assert_int_eq(nd_kio_task_partitions(f.kio, 0), 3);
        nd_kio_hold(f.kio, recs, n, at, nd_clock_mono_ms() + 1500);
        for (int i = at; i < n; i++)
                ck_assert_ptr_null(recs[i].topic);
        ck_assert_str_eq(got, "1,2,");
        /* held: nothing now */
        ck_assert_int_eq(nd_kio_poll(f.kio, none, 4, 0), 0);
        take(&f, 4, rest, sizeof(rest));
        ck_assert_str_eq(rest, "1:3,0:5,0:9,1:10");
        teardown(&f);
}
END_TEST

static Suite *kio_group_suite(void) {
        Suite *s = suite_create("kio_group");
        TCase *tc = tcase_create("group");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, backlog_merged_by_event_time);
        tcase_add_test(tc, empty_topics_reach_their_end);
        tcase_add_test(tc, small_batches_keep_the_order);
        tcase_add_test(tc, held_records_come_back_in_order);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(kio_group_suite());
}
