/*
 * test_revocation.c — a revocation while records are buffered commits only
 * what was processed (issue 14, item 4), against the real broker.
 *
 * kio's partition group takes records out of librdkafka's per-partition
 * queues into its own rings and hands them out merged by event time, so
 * at any moment of a backlog a worker holds records it has fetched but not
 * processed (up to a ring refill of each partition, and librdkafka's
 * prefetch behind it). A revocation commits before the partitions go; if
 * it committed the consumer's position (which counts what was taken into
 * the rings), the next owner would skip those records: lost. If it
 * committed less than was processed, they would be applied twice.
 *
 * Once per guarantee, on a backlog of EVENTS events (three topics, PARTS
 * partitions each, every partition's records fetched in one go;
 * passthrough forwards each event, cart_abandonment emits reminders from
 * state and timers, so the changelog is handed over too):
 *
 *   reference  one clean instance of another application.id over the same
 *              input, to its own actions topic: the expected actions;
 *   A          starts alone, slowed down (its producer's queue holds a few
 *              messages, each batch lingers: a few hundred records a
 *              second), and gets going;
 *   B          joins: A's partitions are revoked mid-backlog (checked: the
 *              group's committed offsets after the rebalance are still
 *              short of the end); B works a while and leaves, revoking A's
 *              again; then A stops, still mid-backlog;
 *   C          a clean instance of the same application finishes the input.
 *
 * The actions of A, B and C together (read_committed) must be those of the
 * reference: every passthrough event id and every reminder's action_id
 * present, nothing the reference does not have and, under exactly-once,
 * each once. A reminder can only be missing if a record was lost or
 * applied out of event-time order (a task that went on without one of its
 * partitions, processing.max_task_idle: the logs are searched for it).
 * The real broker, not the mock: the mock's Fetch reports no aborted
 * transaction and its TxnOffsetCommit stores no offset
 * (tests/faults/README.md).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "faults.h"
#include "nd_http_test.h"
#include "nd_kafka_test.h"
#include "nd_proc_test.h"
#include "nd_test.h"

#define PARTS     4
#define CUSTOMERS 120 /* customer c on partition c % PARTS of every topic */
#define PER_CUST  50  /* events per customer */
#define EVENTS    (CUSTOMERS * PER_CUST)
#define STEP_MS   20 /* event time between consecutive events */
/* A's and B's batch, and their producer's queue: this short, each batch
 * lingering, they emit a few hundred records a second, so the backlog
 * outlasts two rebalances. They also commit only every second, so a
 * revocation almost always finds processed records not yet committed: the
 * revocation's own commit is the one that counts. */
#define THROTTLE_MSGS 20
#define WAIT_MS       90000

static const char *const guarantees[] = {"exactly_once", "at_least_once"};

struct env {
        char topics[FT__CNT][96], app[96], ref[96], actions[96],
            ref_actions[96], dlq[96];
        const char *guarantee;
        bool eos;
};

/*
 * A configuration file for an instance of app writing to actions. id
 * names its producer's transactional.id; slow throttles it. No
 * group.instance.id: B's close must leave the group at once (a static
 * member leaves only when its session times out).
 */
static const char *config(const struct env *e, const char *app,
                          const char *actions, const char *id, bool slow) {
        static char path[256];
        char yaml[4096], tid[256] = "", throttle[256];
        snprintf(throttle, sizeof(throttle),
                 "  producer.linger.ms: 20\n"
                 "  producer.queue.buffering.max.messages: %d\n",
                 THROTTLE_MSGS);
        /* Not under at-least-once: a transactional.id would make the
         * producer transactional there, and nothing would be sent. */
        if (e->eos)
                snprintf(tid, sizeof(tid),
                         "  producer.transactional.id: %s-%s\n", app, id);
        snprintf(yaml, sizeof(yaml),
                 "application.id: %s\n"
                 "kafka:\n  bootstrap.servers: %s\n"
                 "%s"
                 "  consumer.session.timeout.ms: 6000\n"
                 "  consumer.heartbeat.interval.ms: 300\n"
                 "%s"
                 "topics:\n  clickstream: %s\n  cart: %s\n  purchase: %s\n"
                 "  catalog: %s-catalog\n  actions: %s\n  dead_letter: %s\n"
                 "input.format: json\nhttp.listen: \"127.0.0.1:0\"\n"
                 "processing:\n  guarantee: %s\n  batch_size: %d\n"
                 "  commit_interval: %s\n"
                 "time:\n  max_out_of_orderness: 500ms\n"
                 "  idle_advance_after: 1s\n"
                 "triggers:\n"
                 "  - {name: mirror, type: passthrough}\n"
                 "  - {name: cart_reminder, type: cart_abandonment, "
                 "delays: [1s], min_inactivity: 0s}\n",
                 app, nd_kt_bootstrap(), tid, slow ? throttle : "",
                 e->topics[FT_CLICK], e->topics[FT_CART],
                 e->topics[FT_PURCHASE], app, actions, e->dlq, e->guarantee,
                 slow ? THROTTLE_MSGS : 1000, slow ? "1s" : "100ms");
        snprintf(path, sizeof(path), "%s",
                 nd_proc_write_file("nudge-revoke", yaml));
        return path;
}

static void start(nd_proc_t *p, const char *cfg) {
        const char *argv[] = {"run", "-c", cfg, NULL};
        nd_proc_start(p, argv, NULL);
}

/* Waits for p's n-th "worker 0: N tasks" line with N > 0; its HTTP port. */
static int wait_tasks(nd_proc_t *p, int n, const char *who) {
        if (!ft_wait_log_count(p, "worker 0: [1-9][0-9]* tasks", n, WAIT_MS)) {
                nd_proc_dump(p);
                ck_abort_msg("%s: no tasks (rebalance %d)", who, n);
        }
        return nd_http_port_of(p);
}

/* Records of the input that app's group has committed. */
static int64_t committed(const struct env *e, const char *app) {
        int64_t sum = 0;
        for (int k = 0; k < FT__CNT; k++) {
                int64_t s = ft_committed_sum(app, e->topics[k], PARTS, WAIT_MS);
                ck_assert_int_ge(s, 0);
                sum += s;
        }
        return sum;
}

static bool wait_committed(const struct env *e, const char *app, int64_t want,
                           int timeout_ms) {
        int64_t deadline = nd_clock_mono_ms() + timeout_ms;
        while (committed(e, app) < want)
                if (nd_clock_mono_ms() >= deadline)
                        return false;
                else
                        nd_test_pause_ms(100);
        return true;
}

/* Runs p (an instance that has its tasks) to the end of the input: every
 * record committed and every reminder fired; then stops it. */
static void finish(const struct env *e, nd_proc_t *p, const char *app, int port,
                   const char *who) {
        if (!wait_committed(e, app, EVENTS, WAIT_MS) ||
            !ft_wait_metric_eq(port,
                               "nudge_timers_pending{trigger_name=\"cart_"
                               "reminder\"}",
                               0, WAIT_MS)) {
                nd_proc_dump(p);
                ck_abort_msg("%s did not finish the input", who);
        }
        ck_assert_int_eq(nd_proc_stop(p, SIGTERM, 30000), 0);
}

/* The backlog: customer c's j-th event is event j * CUSTOMERS + c, on
 * partition c % PARTS; carts, views and orders in a fixed pattern. */
static void produce_backlog(const struct env *e, int64_t base) {
        char errstr[512], val[1024], id[64], cust[64];
        rd_kafka_t *rk =
            nd_kt_producer_new(NULL, WAIT_MS, errstr, sizeof(errstr));
        ck_assert_msg(rk != NULL, "%s", errstr);
        for (int k = 0; k < EVENTS; k++) {
                int c = k % CUSTOMERS, j = k / CUSTOMERS;
                int topic = j % 10 == 9 ? FT_PURCHASE
                            : j % 10 == 0 || j % 10 == 3 || j % 10 == 7
                                ? FT_CART
                                : FT_CLICK;
                nd_kt_msg_t m;
                snprintf(id, sizeof(id), "rv-e%d", k);
                snprintf(cust, sizeof(cust), "rv-c%d", c);
                ft_event_json(val, sizeof(val), topic, id, cust,
                              base + (int64_t)k * STEP_MS);
                m = nd_kt_msg(cust, val);
                ck_assert_msg(nd_kt_send(rk, e->topics[topic], c % PARTS, &m, 1,
                                         errstr, sizeof(errstr)) == ND_OK,
                              "%s", errstr);
        }
        ck_assert_int_eq(nd_kt_flush(rk, WAIT_MS), ND_OK);
        ck_assert_int_eq(nd_kt_delivery_failures(), 0);
        rd_kafka_destroy(rk);
}

START_TEST(a_revocation_mid_backlog_loses_and_duplicates_nothing) {
        static const char *const kinds[FT__CNT] = {"click", "cart", "purchase"};
        struct env e = {.guarantee = guarantees[_i], .eos = _i == 0};
        char errstr[512];
        nd_proc_t ref, a, b, c;
        ft_ids_t ref_ev = {0}, ref_act = {0}, ev = {0}, act = {0};
        int port_a, port_b, port_c, port_ref;
        int64_t t = nd_clock_mono_ms(), mark, at_join, at_rebalance;
        size_t lost_ev, lost_act, extra_ev, extra_act;
        int enforced;
        bool eos = _i == 0;

        for (int k = 0; k < FT__CNT; k++) {
                nd_kt_unique_name(e.topics[k], sizeof(e.topics[k]), kinds[k]);
                ck_assert_msg(nd_kt_create_topic(e.topics[k], PARTS, NULL,
                                                 WAIT_MS, errstr,
                                                 sizeof(errstr)) == ND_OK,
                              "%s", errstr);
        }
        nd_kt_unique_name(e.app, sizeof(e.app), "app");
        nd_kt_unique_name(e.ref, sizeof(e.ref), "ref");
        nd_kt_unique_name(e.actions, sizeof(e.actions), "actions");
        nd_kt_unique_name(e.ref_actions, sizeof(e.ref_actions), "ref-actions");
        nd_kt_unique_name(e.dlq, sizeof(e.dlq), "dlq");
        /* An hour ago: every reminder is due long before the wall clock,
         * so the set of actions depends on the input alone. */
        produce_backlog(&e, nd_clock_wall_ms() - 3600 * 1000LL);

        /* The reference runs alongside, unthrottled. */
        start(&ref, config(&e, e.ref, e.ref_actions, "ref", false));
        start(&a, config(&e, e.app, e.actions, "a", true));
        port_a = wait_tasks(&a, 1, "A");
        ck_assert_int_gt(port_a, 0);

        /* A mid-backlog: its rings hold records it has not processed. */
        if (!wait_committed(&e, e.app, EVENTS / 20, WAIT_MS)) {
                nd_proc_dump(&a);
                ck_abort_msg("A did not get going");
        }
        at_join = committed(&e, e.app);

        /* B joins: A's partitions are revoked while it has records
         * buffered. */
        start(&b, config(&e, e.app, e.actions, "b", true));
        port_b = wait_tasks(&b, 1, "B");
        ck_assert_int_gt(port_b, 0);
        ck_assert(
            ft_wait_log_count(&a, "revoked [0-9]+ partitions", 1, WAIT_MS));
        wait_tasks(&a, 2, "A");
        at_rebalance = committed(&e, e.app);
        fprintf(stderr,
                "%s: B joined with %lld of %d records committed, %lld after "
                "the rebalance\n",
                e.guarantee, (long long)at_join, EVENTS,
                (long long)at_rebalance);
        ck_assert_msg(at_rebalance < EVENTS,
                      "A finished the backlog before the revocation: the "
                      "test proves nothing (make the backlog longer)");

        /* B works, then leaves: A's partitions are revoked again. */
        mark = at_rebalance + EVENTS / 20;
        if (!wait_committed(&e, e.app, mark, WAIT_MS)) {
                nd_proc_dump(&a);
                nd_proc_dump(&b);
                ck_abort_msg("A and B made no progress");
        }
        ck_assert_int_eq(nd_proc_stop(&b, SIGTERM, 30000), 0);
        ck_assert(
            ft_wait_log_count(&a, "revoked [0-9]+ partitions", 2, WAIT_MS));
        wait_tasks(&a, 3, "A");
        mark = committed(&e, e.app) + EVENTS / 40;
        if (!wait_committed(&e, e.app, mark, WAIT_MS)) {
                nd_proc_dump(&a);
                ck_abort_msg("A made no progress after B left");
        }
        ck_assert_int_eq(nd_proc_stop(&a, SIGTERM, 30000), 0);
        mark = committed(&e, e.app);
        fprintf(stderr, "%s: A and B stopped with %lld of %d committed\n",
                e.guarantee, (long long)mark, EVENTS);
        ck_assert_msg(mark < EVENTS,
                      "A finished the backlog before B left: the second "
                      "revocation proves nothing (make the backlog longer)");

        /* C finishes the input; so does the reference. */
        start(&c, config(&e, e.app, e.actions, "a", false));
        port_c = wait_tasks(&c, 1, "C");
        finish(&e, &c, e.app, port_c, "C");
        port_ref = nd_http_port_of(&ref);
        ck_assert_int_gt(port_ref, 0);
        finish(&e, &ref, e.ref, port_ref, "the reference");

        ft_read_ids(e.ref_actions, 0, WAIT_MS, &ref_ev, &ref_act);
        ft_read_ids(e.actions, 0, WAIT_MS, &ev, &act);
        fprintf(stderr,
                "%s: reference %zu events, %zu reminders; A+B+C %zu events, "
                "%zu reminders; %.1f s\n",
                e.guarantee, ref_ev.cnt, ref_act.cnt, ev.cnt, act.cnt,
                (nd_clock_mono_ms() - t) / 1000.0);
        /* The reference itself: every event once, and reminders. */
        ck_assert_uint_eq(ref_ev.cnt, EVENTS);
        ck_assert_uint_eq(ft_ids_dups(&ref_ev), 0);
        ck_assert_uint_gt(ref_act.cnt, 0);
        ck_assert_uint_eq(ft_ids_dups(&ref_act), 0);

        lost_ev = ft_ids_missing(&ref_ev, &ev, "events");
        lost_act = ft_ids_missing(&ref_act, &act, "reminders");
        extra_ev = ft_ids_missing(&ev, &ref_ev, "events, not in the reference");
        extra_act =
            ft_ids_missing(&act, &ref_act, "reminders, not in the reference");
        /* A task that went on without one of its partitions applies
         * records out of event-time order: reminders differ. */
        enforced = ft_log_count(&a, "processing.max_task_idle") +
                   ft_log_count(&b, "processing.max_task_idle") +
                   ft_log_count(&c, "processing.max_task_idle");
        if (lost_ev || lost_act || extra_ev || extra_act || enforced) {
                nd_proc_dump(&a);
                nd_proc_dump(&b);
                nd_proc_dump(&c);
        }
        ck_assert_msg(lost_ev == 0, "%zu events lost", lost_ev);
        ck_assert_msg(lost_act == 0,
                      "%zu reminders lost (%d waits for a partition ran "
                      "out)",
                      lost_act, enforced);
        ck_assert_msg(extra_ev == 0 && extra_act == 0,
                      "%zu events and %zu reminders the reference does not "
                      "have",
                      extra_ev, extra_act);
        if (eos) {
                ck_assert_uint_eq(ft_ids_dups(&ev), 0);
                ck_assert_uint_eq(ft_ids_dups(&act), 0);
        } else {
                fprintf(stderr, "at-least-once: %zu + %zu duplicates\n",
                        ft_ids_dups(&ev), ft_ids_dups(&act));
        }
        ck_assert_int_eq(ft_topic_end(e.dlq), 0);
        ck_assert_msg(enforced == 0,
                      "%d times a task waited processing.max_task_idle for "
                      "a partition that neither delivered nor reached its "
                      "end",
                      enforced);

        ft_ids_fini(&ref_ev);
        ft_ids_fini(&ref_act);
        ft_ids_fini(&ev);
        ft_ids_fini(&act);
}
END_TEST

static Suite *revocation_suite(void) {
        Suite *s = suite_create("revocation");
        TCase *tc = tcase_create("real_broker");
        tcase_set_timeout(tc, 180);
        tcase_add_loop_test(
            tc, a_revocation_mid_backlog_loses_and_duplicates_nothing, 0, 2);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(revocation_suite());
}
