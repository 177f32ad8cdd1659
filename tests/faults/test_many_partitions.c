/*
 * test_many_partitions.c — the engine on more than 1024 topic-partitions,
 * against librdkafka's mock cluster (no real broker).
 *
 * The rebalance callback once copied an assignment's partition numbers
 * into a fixed array of 1024: an assignment of more topic-partitions than
 * that reached the runtime as no partitions at all, so the worker had no
 * task, skipped every record as "not ours", and committed past them.
 *
 * The mock runs in this test process (nudge's own embedded broker stops at
 * embedded.partitions: 256, i.e. 768 topic-partitions); `nudge run` is
 * pointed at it. The three event topics have PARTS partitions each
 * (1,200 topic-partitions in one assignment) and every one of them gets
 * one event of its own customer; the passthrough trigger forwards each
 * event once. Every event must come out on the actions topic, once, and
 * none may be dead-lettered; under at-least-once the group's committed
 * offsets must also cover every record. (Not under exactly-once: the
 * mock's TxnOffsetCommit answers without storing the offsets.)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "faults.h"
#include "nd_kafka_test.h"
#include "nd_proc_test.h"
#include "nd_test.h"

#define PARTS   400 /* per event topic */
#define WAIT_MS 60000

static const char *const guarantees[] = {"exactly_once", "at_least_once"};

START_TEST(every_record_of_1200_topic_partitions_is_processed) {
        const char *guarantee = guarantees[_i];
        static const char *const kinds[FT__CNT] = {"click", "cart", "purchase"};
        char topics[FT__CNT][96], actions[96], dlq[96], app[96], cat[96],
            changelog[128];
        char errstr[512], yaml[4096], cfg[256], val[1024], id[64], cust[64];
        ft_ids_t want = {0}, got = {0}, avro = {0};
        nd_kt_mock_t *mock;
        nd_proc_t p;
        rd_kafka_t *rk;
        size_t n = (size_t)FT__CNT * PARTS, lost;
        bool tasks_ok;
        int64_t t0 = nd_clock_wall_ms(), t;

        mock = nd_kt_mock_new(1, errstr, sizeof(errstr));
        ck_assert_msg(mock != NULL, "%s", errstr);
        for (int k = 0; k < FT__CNT; k++) {
                nd_kt_unique_name(topics[k], sizeof(topics[k]), kinds[k]);
                ck_assert_int_eq(nd_kt_mock_topic(mock, topics[k], PARTS),
                                 ND_OK);
        }
        nd_kt_unique_name(actions, sizeof(actions), "actions");
        nd_kt_unique_name(dlq, sizeof(dlq), "dlq");
        nd_kt_unique_name(cat, sizeof(cat), "catalog");
        nd_kt_unique_name(app, sizeof(app), "app");
        ck_assert_int_eq(nd_kt_mock_topic(mock, actions, 16), ND_OK);
        ck_assert_int_eq(nd_kt_mock_topic(mock, dlq, 4), ND_OK);
        ck_assert_int_eq(nd_kt_mock_topic(mock, cat, 1), ND_OK);
        /* The mock has no CreateTopics: the changelog is made here too. */
        snprintf(changelog, sizeof(changelog), "%s-changelog", app);
        ck_assert_int_eq(nd_kt_mock_topic(mock, changelog, PARTS), ND_OK);

        snprintf(yaml, sizeof(yaml),
                 "application.id: %s\n"
                 "kafka:\n  bootstrap.servers: %s\n"
                 "topics:\n  clickstream: %s\n  cart: %s\n  purchase: %s\n"
                 "  catalog: %s\n  actions: %s\n  dead_letter: %s\n"
                 "input.format: json\nhttp.listen: \"\"\n"
                 "processing:\n  guarantee: %s\n"
                 "triggers:\n  - name: mirror\n    type: passthrough\n",
                 app, nd_kt_mock_bootstraps(mock), topics[FT_CLICK],
                 topics[FT_CART], topics[FT_PURCHASE], cat, actions, dlq,
                 guarantee);
        snprintf(cfg, sizeof(cfg), "%s", nd_proc_write_file("nudge-mp", yaml));
        {
                const char *argv[] = {"run", "-c", cfg, NULL};
                nd_proc_start(&p, argv, NULL);
        }
        if (!nd_proc_wait_log(&p, "worker 0: [0-9]+ tasks", WAIT_MS)) {
                nd_proc_dump(&p);
                ck_abort_msg("the worker got no assignment");
        }
        /* One task per partition number: 400 (checked after the actions,
         * which say what a wrong count costs). */
        tasks_ok = nd_proc_wait_log(&p, "worker 0: 400 tasks", 0);
        t = nd_clock_mono_ms();

        /* One event per topic-partition, each of its own customer. */
        rk = nd_kt_producer_new(NULL, WAIT_MS, errstr, sizeof(errstr));
        ck_assert_msg(rk != NULL, "%s", errstr);
        for (int k = 0; k < FT__CNT; k++)
                for (int part = 0; part < PARTS; part++) {
                        nd_kt_msg_t m;
                        snprintf(id, sizeof(id), "mp-%s-%d", kinds[k], part);
                        snprintf(cust, sizeof(cust), "mp-c%d-%d", k, part);
                        ft_event_json(val, sizeof(val), k, id, cust, t0 + part);
                        m = nd_kt_msg(cust, val);
                        ck_assert_msg(nd_kt_send(rk, topics[k], part, &m, 1,
                                                 errstr,
                                                 sizeof(errstr)) == ND_OK,
                                      "%s", errstr);
                        ft_ids_add(&want, id);
                }
        ck_assert_int_eq(nd_kt_flush(rk, WAIT_MS), ND_OK);
        ck_assert_int_eq(nd_kt_delivery_failures(), 0);
        rd_kafka_destroy(rk);

        /* Wait until as many actions as events came out, then stop (a
         * clean stop commits) and read the whole topic: every event once
         * (the mock's read_committed is read_uncommitted, so nothing may
         * have been aborted either), nothing dead-lettered. */
        ft_read_ids(actions, n, WAIT_MS, &got, &avro);
        fprintf(stderr, "%s, %zu topic-partitions: %zu actions in %.1f s\n",
                guarantee, n, got.cnt, (nd_clock_mono_ms() - t) / 1000.0);
        ck_assert_int_eq(nd_proc_stop(&p, SIGTERM, 30000), 0);
        ft_ids_fini(&got);
        ft_ids_fini(&avro);
        ft_read_ids(actions, 0, WAIT_MS, &got, &avro);
        lost = ft_ids_missing(&want, &got, "actions");
        if (lost || got.cnt != n)
                nd_proc_dump(&p);
        ck_assert_msg(lost == 0, "%zu of %zu events have no action", lost, n);
        ck_assert_msg(tasks_ok, "1,200 topic-partitions did not make 400 "
                                "tasks");
        ck_assert_uint_eq(ft_ids_dups(&got), 0);
        ck_assert_uint_eq(got.cnt, n);
        ck_assert_uint_eq(avro.cnt, 0);
        ck_assert_int_eq(ft_topic_end(dlq), 0);
        /* The offsets cover every record. */
        for (int k = 0; _i == 1 && k < FT__CNT; k++)
                ck_assert_int_eq(
                    ft_committed_sum(app, topics[k], PARTS, WAIT_MS), PARTS);

        ft_ids_fini(&want);
        ft_ids_fini(&got);
        ft_ids_fini(&avro);
        nd_kt_mock_destroy(mock);
}
END_TEST

static Suite *many_partitions_suite(void) {
        Suite *s = suite_create("many_partitions");
        TCase *tc = tcase_create("mock");
        tcase_set_timeout(tc, 180);
        tcase_add_loop_test(
            tc, every_record_of_1200_topic_partitions_is_processed, 0, 2);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(many_partitions_suite());
}
