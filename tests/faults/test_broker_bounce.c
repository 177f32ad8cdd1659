/*
 * test_broker_bounce.c — the engine rides through a broker outage longer
 * than its consumer's session (issue 14, item 6), against the real broker
 * stopped and restarted with the same data and ports (scripts/kafka.sh
 * stop --keep, restart).
 *
 * A static member (group.instance.id) whose broker stays away longer than
 * session.timeout.ms times its session out, and when the restarted
 * coordinator answers a request still made with the old member id (a
 * heartbeat, a JoinGroup, an offset commit) with FENCED_INSTANCE_ID,
 * librdkafka 2.0.2 makes it a fatal consumer error ("Static consumer
 * fenced by other consumer with same group.instance.id"); which request
 * comes first is a race, so that fence happens in some bounces only. A
 * transactional producer whose transaction outlived transaction.timeout.ms
 * is fenced by the coordinator when it is back (the epoch bump of the
 * timed-out abort), every time. The engine used to exit 1 on either; now
 * the worker recreates its clients and rejoins, within
 * processing.rejoin_timeout (docs/internals/COMMIT.md, "Fatal client
 * errors").
 *
 * On a backlog of EVENTS events (as test_revocation.c: passthrough
 * forwards each event, cart_abandonment emits reminders from state and
 * timers), A is one instance, a static member with a 10 s session (and,
 * under exactly-once, a 10 s transaction timeout), slowed down (a producer
 * queue of a few messages) so that it is in the middle of the backlog
 * when the fault comes:
 *
 *   the bounce  once per guarantee: the broker is stopped (exactly-once:
 *               kill -9; at-least-once: SIGTERM), stays away OUTAGE_MS
 *               (ND_BOUNCE_OUTAGE_S seconds when set) and is started again
 *               with the same data and ports; under exactly-once A must
 *               have recreated its clients;
 *   the fence   at-least-once: a consumer with A's group.instance.id joins,
 *               which fences A's consumer on cue (what a bounce does by
 *               chance); A must have recreated them.
 *
 * Then A, without a restart, finishes the backlog, and a clean instance of
 * another application.id runs over the same input. A must not exit on its
 * own, and its actions (read_committed) must be the reference's: every
 * passthrough event id and every reminder's action_id, nothing more and,
 * under exactly-once, each once. The broker is left serving whatever
 * happens (an unchecked fixture restarts it), since the tests after this
 * one use it.
 *
 * The one-minute bounce (not in the test command):
 *   ND_BOUNCE_OUTAGE_S=60 build/tests/faults/test_faults_broker_bounce
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "clock.h"
#include "faults.h"
#include "nd_http_test.h"
#include "nd_kafka_test.h"
#include "nd_proc_test.h"
#include "nd_test.h"

#define PARTS     4
#define CUSTOMERS 120 /* customer c on partition c % PARTS of every topic */
#define PER_CUST  40  /* events per customer */
#define EVENTS    (CUSTOMERS * PER_CUST)
#define STEP_MS   20 /* event time between consecutive events */
/* A's batch and producer queue: a few hundred records a second, so the
 * backlog outlasts the time to get going and the bounce. */
#define THROTTLE_MSGS 20
#define SESSION_MS    10000
/* The outage (from the stop to the restart; the broker then takes 2-15 s
 * to serve again): twice the session, so that A's consumer has timed its
 * session out before the broker is back. */
#define OUTAGE_MS 20000
#define WAIT_MS   90000
/* An open transaction outlives this during the outage: the coordinator
 * aborts it when it is back and fences the producer's epoch. */
#define TXN_TIMEOUT_MS 10000

#define KAFKA_SH ND_SOURCE_DIR "/scripts/kafka.sh"

static const char *const guarantees[] = {"exactly_once", "at_least_once"};

struct env {
        char topics[FT__CNT][96], app[96], ref[96], actions[96],
            ref_actions[96], dlq[96], instance[96];
        const char *guarantee;
        bool eos;
};

static int outage_ms(void) {
        const char *v = getenv("ND_BOUNCE_OUTAGE_S");
        return v && atoi(v) > 0 ? atoi(v) * 1000 : OUTAGE_MS;
}

/* Runs kafka.sh with args; its exit code. */
static int kafka_sh(const char *args) {
        char cmd[512];
        int rc;
        snprintf(cmd, sizeof(cmd), "'%s' %s", KAFKA_SH, args);
        fflush(NULL);
        rc = system(cmd);
        return rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}

/* The broker serves, restarted if it does not (a test that failed while
 * it was stopped); fails loudly when it cannot be. */
static void broker_up(void) {
        if (kafka_sh("status >/dev/null") == 0)
                return;
        fprintf(stderr, "broker_bounce: the broker is not serving: "
                        "restarting it\n");
        ck_assert_msg(kafka_sh("restart") == 0,
                      "scripts/kafka.sh restart failed: the broker at "
                      "ND_TEST_BOOTSTRAP is down for the tests after this "
                      "one");
}

/*
 * A configuration file for an instance of app writing to actions; a
 * static member with a short session when instance is not NULL, slowed
 * down when slow. WHY processing.max_task_idle 10m: while the broker is
 * away, a task whose partition has nothing buffered waits for it, and
 * past max_task_idle goes on without it by design (out of event-time
 * order, which changes reminders); this test is about the rejoin, not
 * that bound.
 */
static const char *config(const struct env *e, const char *app,
                          const char *actions, const char *instance,
                          bool slow) {
        static char path[256];
        char yaml[4096], member[256] = "", throttle[256];
        snprintf(throttle, sizeof(throttle),
                 "  producer.linger.ms: 20\n"
                 "  producer.queue.buffering.max.messages: %d\n",
                 THROTTLE_MSGS);
        if (instance)
                snprintf(member, sizeof(member),
                         "  consumer.group.instance.id: %s\n"
                         "  consumer.session.timeout.ms: %d\n"
                         "  consumer.heartbeat.interval.ms: 500\n"
                         "  reconnect.backoff.max.ms: 1000\n",
                         instance, SESSION_MS);
        if (instance && e->eos)
                snprintf(
                    member + strlen(member), sizeof(member) - strlen(member),
                    "  producer.transaction.timeout.ms: %d\n", TXN_TIMEOUT_MS);
        snprintf(yaml, sizeof(yaml),
                 "application.id: %s\n"
                 "kafka:\n  bootstrap.servers: %s\n"
                 "%s%s"
                 "topics:\n  clickstream: %s\n  cart: %s\n  purchase: %s\n"
                 "  catalog: %s-catalog\n  actions: %s\n  dead_letter: %s\n"
                 "input.format: json\nhttp.listen: \"127.0.0.1:0\"\n"
                 "processing:\n  guarantee: %s\n  batch_size: %d\n"
                 "  commit_interval: %s\n  max_task_idle: 10m\n"
                 "time:\n  max_out_of_orderness: 500ms\n"
                 "  idle_advance_after: 1s\n"
                 "triggers:\n"
                 "  - {name: mirror, type: passthrough}\n"
                 "  - {name: cart_reminder, type: cart_abandonment, "
                 "delays: [1s], min_inactivity: 0s}\n",
                 app, nd_kt_bootstrap(), member, slow ? throttle : "",
                 e->topics[FT_CLICK], e->topics[FT_CART],
                 e->topics[FT_PURCHASE], app, actions, e->dlq, e->guarantee,
                 slow ? THROTTLE_MSGS : 1000, slow ? "1s" : "100ms");
        snprintf(path, sizeof(path), "%s",
                 nd_proc_write_file("nudge-bounce", yaml));
        return path;
}

static void start(nd_proc_t *p, const char *cfg) {
        const char *argv[] = {"run", "-c", cfg, NULL};
        nd_proc_start(p, argv, NULL);
}

/* Records of the input that app's group has committed. */
static int64_t committed(const struct env *e, const char *app) {
        int64_t sum = 0;
        for (int k = 0; k < FT__CNT; k++) {
                int64_t s = ft_committed_sum(app, e->topics[k], PARTS, WAIT_MS);
                if (s < 0)
                        return -1; /* the coordinator is loading */
                sum += s;
        }
        return sum;
}

/* Waits until app committed want records; false when the time ran out or
 * p (if not NULL) exited. */
static bool wait_committed(const struct env *e, const char *app, int64_t want,
                           nd_proc_t *p, int timeout_ms) {
        int64_t deadline = nd_clock_mono_ms() + timeout_ms;
        while (committed(e, app) < want) {
                if (nd_clock_mono_ms() >= deadline ||
                    (p && nd_proc_wait(p, 0) >= 0))
                        return false;
                nd_test_pause_ms(200);
        }
        return true;
}

/* Runs p to the end of the input: every record committed and every
 * reminder fired; then stops it, which must be clean. */
static void finish(const struct env *e, nd_proc_t *p, const char *app,
                   const char *who) {
        int port;
        if (!wait_committed(e, app, EVENTS, p, WAIT_MS)) {
                nd_proc_dump(p);
                ck_abort_msg("%s did not finish the input (exit status %d; "
                             "-1: still running)",
                             who, nd_proc_wait(p, 0));
        }
        port = nd_http_port_of(p);
        if (port <= 0 ||
            !ft_wait_metric_eq(port,
                               "nudge_timers_pending{trigger_name=\"cart_"
                               "reminder\"}",
                               0, WAIT_MS)) {
                nd_proc_dump(p);
                ck_abort_msg("%s did not fire its reminders", who);
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
                snprintf(id, sizeof(id), "bb-e%d", k);
                snprintf(cust, sizeof(cust), "bb-c%d", c);
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

/* The broker goes away (sig), stays away for outage_ms() while A runs,
 * and comes back with the same data. */
static void bounce(nd_proc_t *a, bool kill9) {
        int64_t down_at, left;
        int outage = outage_ms();
        fprintf(stderr, "broker_bounce: stopping the broker (%s) for %d s\n",
                kill9 ? "kill -9" : "SIGTERM", outage / 1000);
        ck_assert_msg(kafka_sh(kill9 ? "stop --keep --kill" : "stop --keep") ==
                          0,
                      "scripts/kafka.sh stop --keep failed");
        down_at = nd_clock_mono_ms();
        /* A notices: its clients lose their connections. */
        if (!ft_wait_log_count(a,
                               "Connection refused|brokers are down|"
                               "all broker connections are down",
                               1, WAIT_MS)) {
                nd_proc_dump(a);
                broker_up();
                ck_abort_msg("A did not notice the broker going away");
        }
        /* The outage itself is the duration under test, not a wait for
         * a condition: A must outlive it. */
        while ((left = down_at + outage - nd_clock_mono_ms()) > 0 &&
               nd_proc_wait(a, 0) < 0)
                nd_test_pause_ms(left < 200 ? (int)left : 200);
        ck_assert_msg(kafka_sh(kill9 ? "restart --kill" : "restart") == 0,
                      "scripts/kafka.sh restart could not bring the broker "
                      "back on the same port: the tests after this one "
                      "have no broker");
        fprintf(stderr, "broker_bounce: the broker is back after %.1f s\n",
                (nd_clock_mono_ms() - down_at) / 1000.0);
}

/* Topics, names and the backlog of one case; A started and in the middle
 * of the backlog. */
static void setup(struct env *e, nd_proc_t *a) {
        static const char *const kinds[FT__CNT] = {"click", "cart", "purchase"};
        char errstr[512];

        broker_up();
        for (int k = 0; k < FT__CNT; k++) {
                nd_kt_unique_name(e->topics[k], sizeof(e->topics[k]), kinds[k]);
                ck_assert_msg(nd_kt_create_topic(e->topics[k], PARTS, NULL,
                                                 WAIT_MS, errstr,
                                                 sizeof(errstr)) == ND_OK,
                              "%s", errstr);
        }
        nd_kt_unique_name(e->app, sizeof(e->app), "app");
        nd_kt_unique_name(e->ref, sizeof(e->ref), "ref");
        nd_kt_unique_name(e->actions, sizeof(e->actions), "actions");
        nd_kt_unique_name(e->ref_actions, sizeof(e->ref_actions),
                          "ref-actions");
        nd_kt_unique_name(e->dlq, sizeof(e->dlq), "dlq");
        nd_kt_unique_name(e->instance, sizeof(e->instance), "pod");
        /* An hour ago: every reminder is due long before the wall clock,
         * so the set of actions depends on the input alone. */
        produce_backlog(e, nd_clock_wall_ms() - 3600 * 1000LL);

        start(a, config(e, e->app, e->actions, e->instance, true));
        if (!ft_wait_log_count(a, "worker 0: [1-9][0-9]* tasks", 1, WAIT_MS)) {
                nd_proc_dump(a);
                ck_abort_msg("A: no tasks");
        }
        /* A in the middle of the backlog, committing. */
        if (!wait_committed(e, e->app, EVENTS / 10, a, WAIT_MS)) {
                nd_proc_dump(a);
                ck_abort_msg("A did not get going");
        }
}

/*
 * After the fault: A, still the same process, finishes the backlog; a
 * clean reference of another application.id runs over the same input;
 * A's actions must be the reference's (exactly-once: each once). Returns
 * how many times A recreated its clients.
 */
static int finish_and_compare(struct env *e, nd_proc_t *a, int64_t t0) {
        nd_proc_t ref;
        ft_ids_t ref_ev = {0}, ref_act = {0}, ev = {0}, act = {0};
        size_t lost_ev, lost_act, extra_ev, extra_act;
        int recreated;

        start(&ref, config(e, e->ref, e->ref_actions, NULL, false));
        finish(e, a, e->app, "A (after the fault)");
        finish(e, &ref, e->ref, "the reference");
        recreated = ft_log_count(a, "recreating its consumer");

        ft_read_ids(e->ref_actions, 0, WAIT_MS, &ref_ev, &ref_act);
        ft_read_ids(e->actions, 0, WAIT_MS, &ev, &act);
        fprintf(stderr,
                "%s: reference %zu events, %zu reminders; A %zu events, "
                "%zu reminders; %d client recreations; %.1f s\n",
                e->guarantee, ref_ev.cnt, ref_act.cnt, ev.cnt, act.cnt,
                recreated, (nd_clock_mono_ms() - t0) / 1000.0);
        ck_assert_uint_eq(ref_ev.cnt, EVENTS);
        ck_assert_uint_eq(ft_ids_dups(&ref_ev), 0);
        ck_assert_uint_gt(ref_act.cnt, 0);
        ck_assert_uint_eq(ft_ids_dups(&ref_act), 0);

        lost_ev = ft_ids_missing(&ref_ev, &ev, "events");
        lost_act = ft_ids_missing(&ref_act, &act, "reminders");
        extra_ev = ft_ids_missing(&ev, &ref_ev, "events, not in the reference");
        extra_act =
            ft_ids_missing(&act, &ref_act, "reminders, not in the reference");
        if (lost_ev || lost_act || extra_ev || extra_act)
                nd_proc_dump(a);
        ck_assert_msg(lost_ev == 0, "%zu events lost", lost_ev);
        ck_assert_msg(lost_act == 0, "%zu reminders lost", lost_act);
        ck_assert_msg(extra_ev == 0 && extra_act == 0,
                      "%zu events and %zu reminders the reference does not "
                      "have",
                      extra_ev, extra_act);
        if (e->eos) {
                ck_assert_uint_eq(ft_ids_dups(&ev), 0);
                ck_assert_uint_eq(ft_ids_dups(&act), 0);
        } else {
                fprintf(stderr, "at-least-once: %zu + %zu duplicates\n",
                        ft_ids_dups(&ev), ft_ids_dups(&act));
        }
        ck_assert_int_eq(ft_topic_end(e->dlq), 0);

        ft_ids_fini(&ref_ev);
        ft_ids_fini(&ref_act);
        ft_ids_fini(&ev);
        ft_ids_fini(&act);
        return recreated;
}

/*
 * Exactly-once with kill -9, at-least-once with SIGTERM. Under
 * exactly-once the open transaction outlives its transaction.timeout.ms
 * (10 s) during the outage, so the coordinator aborts it when it is back
 * and the producer is fenced: the worker must recreate its clients (it
 * used to exit 1). Whether the consumer is fenced as well depends on what
 * the restarted coordinator answers first (the static member's rejoin
 * races its own session, see the top of the file); the next test makes
 * that case happen every time.
 */
START_TEST(a_broker_outage_longer_than_the_session_loses_nothing) {
        struct env e = {.guarantee = guarantees[_i], .eos = _i == 0};
        nd_proc_t a;
        int64_t t0 = nd_clock_mono_ms(), at_bounce;
        int recreated;

        setup(&e, &a);
        at_bounce = committed(&e, e.app);
        bounce(&a, e.eos);
        fprintf(stderr, "%s: the broker went with %lld of %d committed\n",
                e.guarantee, (long long)at_bounce, EVENTS);
        ck_assert_msg(at_bounce < EVENTS,
                      "A finished the backlog before the outage: the test "
                      "proves nothing (make the backlog longer)");
        recreated = finish_and_compare(&e, &a, t0);
        if (e.eos)
                ck_assert_msg(recreated >= 1,
                              "the producer's transaction outlived its "
                              "timeout, yet A did not recreate its clients");
}
END_TEST

/*
 * The fatal consumer error itself, on cue: another consumer joins with
 * A's group.instance.id, which is what the coordinator believes happened
 * when a static member comes back after its session ran out, and A's next
 * heartbeat is answered FENCED_INSTANCE_ID ("Static consumer fenced by
 * other consumer with same group.instance.id", a fatal error in
 * librdkafka). A must recreate its consumer, whose join fences the
 * intruder in turn, and lose nothing.
 */
START_TEST(a_fenced_static_member_recreates_its_consumer) {
        struct env e = {.guarantee = "at_least_once", .eos = false};
        rd_kafka_conf_t *conf;
        rd_kafka_topic_partition_list_t *sub;
        rd_kafka_t *dup;
        nd_proc_t a;
        char errstr[512], session[16];
        int64_t t0 = nd_clock_mono_ms();

        setup(&e, &a);
        conf = nd_kt_conf();
        snprintf(session, sizeof(session), "%d", SESSION_MS);
        if (rd_kafka_conf_set(conf, "group.id", e.app, errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "group.instance.id", e.instance, errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "session.timeout.ms", session, errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "partition.assignment.strategy", "range",
                              errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            !(dup = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr,
                                 sizeof(errstr)))) {
                rd_kafka_conf_destroy(conf);
                ck_abort_msg("the intruder: %s", errstr);
        }
        rd_kafka_poll_set_consumer(dup);
        sub = rd_kafka_topic_partition_list_new(FT__CNT);
        for (int k = 0; k < FT__CNT; k++)
                rd_kafka_topic_partition_list_add(sub, e.topics[k],
                                                  RD_KAFKA_PARTITION_UA);
        ck_assert_int_eq(rd_kafka_subscribe(dup, sub), 0);
        rd_kafka_topic_partition_list_destroy(sub);
        /* The intruder polls (and commits nothing) until A says why it
         * recreates its consumer, or A exits as it used to. */
        for (int64_t deadline = nd_clock_mono_ms() + WAIT_MS;
             ft_log_count(&a, "fenced.*recreating its consumer") == 0;) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(dup, 100);
                if (m)
                        rd_kafka_message_destroy(m);
                if (nd_proc_wait(&a, 0) >= 0 ||
                    nd_clock_mono_ms() >= deadline) {
                        nd_proc_dump(&a);
                        rd_kafka_destroy_flags(
                            dup, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
                        ck_abort_msg("A was not fenced and recreated (exit "
                                     "status %d; -1: still running)",
                                     nd_proc_wait(&a, 0));
                }
        }
        /* Gone without leaving: a static member does not leave the group
         * on close anyway, A's new consumer takes its place. */
        rd_kafka_destroy_flags(dup, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        ck_assert_int_ge(finish_and_compare(&e, &a, t0), 1);
}
END_TEST

static Suite *bounce_suite(void) {
        Suite *s = suite_create("broker_bounce");
        TCase *tc = tcase_create("real_broker");
        /* WHY unchecked: its teardown runs in the runner's process after
         * the tests, also when one failed or timed out with the broker
         * stopped. */
        tcase_add_unchecked_fixture(tc, NULL, broker_up);
        tcase_set_timeout(tc, 150 + 2 * outage_ms() / 1000);
        tcase_add_loop_test(
            tc, a_broker_outage_longer_than_the_session_loses_nothing, 0, 2);
        tcase_add_test(tc, a_fenced_static_member_recreates_its_consumer);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(bounce_suite());
}
