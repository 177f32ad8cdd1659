/*
 * bench_kafka.c — the Kafka side of bench/bench.sh. OVERALL DESIGN
 *
 *   bench_kafka create BOOTSTRAP PARTITIONS TOPIC...
 *       creates the input topics with message.timestamp.type=LogAppendTime,
 *       so a record's timestamp is the moment the broker appended it: the
 *       start of the "append -> visible" latency.
 *
 *   bench_kafka passthrough BOOTSTRAP eos|alos OUT EXPECT IN...
 *       the ceiling: a raw librdkafka consume -> produce loop over the same
 *       records, no decoding, no state. eos: a transactional producer that
 *       commits the consumed offsets with the outputs every 100 ms (the
 *       engine's default commit interval); alos: an idempotent producer,
 *       flush then commit the offsets every 100 ms. Exits after EXPECT
 *       records were consumed and committed.
 *
 *   bench_kafka read BOOTSTRAP OUT EXPECT TIMEOUT_S [PID] [IN...]
 *       a read_committed consumer of OUT (and of the inputs IN, for their
 *       append times). It counts the forwarded events (records whose first
 *       Avro field or JSON "event_id" is an event id e<seed>-<n>) and the
 *       actions (Avro framed with the action schema: created_at is the
 *       decision's event time, for a timer its due time). It stops after
 *       EXPECT forwarded events (EXPECT 0: never) or TIMEOUT_S seconds,
 *       and prints one JSON line: the count, the rate between the first and
 * last forwarded event seen, the CPU seconds process PID used in that time
 * (from /proc), and latency percentiles of append -> visible for forwarded
 *       events and of due -> visible for timer actions (all of them, and
 *       those due more than idle_advance_after after the last append:
 *       fired by the hybrid clock on an idle input). The output topic is
 *       LogAppendTime as well, which splits append -> visible into the
 *       engine's hop (input append -> output append) and the reader's
 *       (output append -> visible); "immediate_steady" leaves out the
 *       first 5 s of input (start-up). ND_BENCH_DUMP=FILE writes one line per
 *       forwarded event: seq, input append, output append, visible (ms).
 *
 * WHY rdkafka.h here: kio is the only runtime file that includes it, but
 * the ceiling must be librdkafka with nothing of nudge in between.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "mem.h"

#define COMMIT_MS 100
#define IDLE_MS   1000 /* time.idle_advance_after of bench.sh */
#define WARMUP_MS 5000 /* "steady": events appended after the first 5 s */

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
        (void)sig;
        stop = 1;
}

static void die(const char *what, const char *why) {
        fprintf(stderr, "bench_kafka: %s: %s\n", what, why);
        exit(1);
}

static rd_kafka_conf_t *conf_new(const char *bootstrap) {
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        char err[256];
        if (rd_kafka_conf_set(c, "bootstrap.servers", bootstrap, err,
                              sizeof(err)) != RD_KAFKA_CONF_OK)
                die("bootstrap.servers", err);
        return c;
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v) {
        char err[256];
        if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
                die(k, err);
}

/* ------------------------------------------------------------------ */
/* create                                                              */

static int cmd_create(const char *bootstrap, int parts, char **topics,
                      int cnt) {
        char err[256];
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf_new(bootstrap),
                                      err, sizeof(err));
        rd_kafka_queue_t *q;
        rd_kafka_NewTopic_t **nt;
        rd_kafka_event_t *ev;
        const rd_kafka_topic_result_t **res;
        size_t n;
        int rc = 0;
        if (!rk)
                die("producer", err);
        q = rd_kafka_queue_new(rk);
        nt = nd_calloc((size_t)cnt, sizeof(*nt));
        for (int i = 0; i < cnt; i++) {
                nt[i] = rd_kafka_NewTopic_new(topics[i], parts, 1, err,
                                              sizeof(err));
                rd_kafka_NewTopic_set_config(nt[i], "message.timestamp.type",
                                             "LogAppendTime");
        }
        rd_kafka_CreateTopics(rk, nt, (size_t)cnt, NULL, q);
        ev = rd_kafka_queue_poll(q, 30000);
        if (!ev)
                die("create", "no answer in 30 s");
        res = rd_kafka_CreateTopics_result_topics(
            rd_kafka_event_CreateTopics_result(ev), &n);
        for (size_t i = 0; i < n; i++) {
                rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
                if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                        fprintf(stderr, "bench_kafka: create %s: %s\n",
                                rd_kafka_topic_result_name(res[i]),
                                rd_kafka_err2str(e));
                        rc = 1;
                }
        }
        rd_kafka_event_destroy(ev);
        rd_kafka_NewTopic_destroy_array(nt, (size_t)cnt);
        nd_free(nt);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
        return rc;
}

/* ------------------------------------------------------------------ */
/* passthrough: the ceiling                                            */

static void check(rd_kafka_error_t *e, const char *what) {
        if (e) {
                fprintf(stderr, "bench_kafka: %s: %s\n", what,
                        rd_kafka_error_string(e));
                exit(1);
        }
}

static int cmd_passthrough(const char *bootstrap, bool eos, const char *out,
                           long expect, char **in, int in_cnt) {
        char err[256], group[128];
        rd_kafka_conf_t *cc = conf_new(bootstrap), *pc = conf_new(bootstrap);
        rd_kafka_t *consumer, *producer;
        rd_kafka_topic_partition_list_t *sub;
        long consumed = 0, committed = 0;
        int64_t last_commit = nd_clock_mono_ms();

        snprintf(group, sizeof(group), "ceiling-%s-%d", out, (int)getpid());
        set(cc, "group.id", group);
        set(cc, "enable.auto.commit", "false");
        set(cc, "auto.offset.reset", "earliest");
        set(cc, "isolation.level", "read_committed");
        set(cc, "partition.assignment.strategy", "range");
        set(pc, "linger.ms", "5");
        set(pc, "enable.idempotence", "true");
        if (eos) {
                snprintf(group, sizeof(group), "ceiling-%s-%d-txn", out,
                         (int)getpid());
                set(pc, "transactional.id", group);
        }
        consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof(err));
        if (!consumer)
                die("consumer", err);
        producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err));
        if (!producer)
                die("producer", err);
        rd_kafka_poll_set_consumer(consumer);
        sub = rd_kafka_topic_partition_list_new(in_cnt);
        for (int i = 0; i < in_cnt; i++)
                rd_kafka_topic_partition_list_add(sub, in[i],
                                                  RD_KAFKA_PARTITION_UA);
        if (rd_kafka_subscribe(consumer, sub))
                die("subscribe", "failed");
        rd_kafka_topic_partition_list_destroy(sub);
        if (eos) {
                check(rd_kafka_init_transactions(producer, 30000), "init");
                check(rd_kafka_begin_transaction(producer), "begin");
        }
        while (!stop && committed < expect) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 10);
                int64_t now = nd_clock_mono_ms();
                if (m && !m->err) {
                        while (rd_kafka_producev(
                                   producer, RD_KAFKA_V_TOPIC(out),
                                   RD_KAFKA_V_KEY(m->key, m->key_len),
                                   RD_KAFKA_V_VALUE(m->payload, m->len),
                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                   RD_KAFKA_V_END) ==
                               RD_KAFKA_RESP_ERR__QUEUE_FULL)
                                rd_kafka_poll(producer, 10);
                        consumed++;
                }
                if (m)
                        rd_kafka_message_destroy(m);
                rd_kafka_poll(producer, 0);
                if (now - last_commit < COMMIT_MS && consumed < expect)
                        continue;
                last_commit = now;
                if (consumed == committed)
                        continue;
                if (eos) {
                        rd_kafka_topic_partition_list_t *pos;
                        rd_kafka_consumer_group_metadata_t *md =
                            rd_kafka_consumer_group_metadata(consumer);
                        rd_kafka_assignment(consumer, &pos);
                        rd_kafka_position(consumer, pos);
                        check(rd_kafka_send_offsets_to_transaction(
                                  producer, pos, md, 30000),
                              "send offsets");
                        rd_kafka_consumer_group_metadata_destroy(md);
                        rd_kafka_topic_partition_list_destroy(pos);
                        check(rd_kafka_commit_transaction(producer, 30000),
                              "commit");
                        check(rd_kafka_begin_transaction(producer), "begin");
                } else {
                        rd_kafka_flush(producer, 30000);
                        rd_kafka_commit(consumer, NULL, 0);
                }
                committed = consumed;
        }
        if (eos)
                rd_kafka_abort_transaction(producer, 10000);
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
        rd_kafka_destroy(producer);
        fprintf(stderr, "bench_kafka passthrough: %ld records\n", committed);
        return 0;
}

/* ------------------------------------------------------------------ */
/* read: throughput, CPU and latency as a downstream consumer sees it  */

static double proc_cpu_s(int pid) {
        char path[64], buf[1024], *p;
        unsigned long ut = 0, st = 0;
        FILE *f;
        size_t n;
        if (pid <= 0)
                return 0;
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        if (!(f = fopen(path, "r")))
                return 0;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* Fields after the command name, which ends with ')'. */
        if (!(p = strrchr(buf, ')')))
                return 0;
        if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                   &ut, &st) != 2)
                return 0;
        return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static uint64_t zz_read(const unsigned char **p, const unsigned char *end,
                        bool *ok) {
        uint64_t v = 0;
        int shift = 0;
        while (*p < end && shift < 64) {
                unsigned char b = *(*p)++;
                v |= (uint64_t)(b & 0x7f) << shift;
                if (!(b & 0x80))
                        return (v >> 1) ^ (~(v & 1) + 1);
                shift += 7;
        }
        *ok = false;
        return 0;
}

/* The sequence number of an event id e<seed>-<n>, or -1. */
static long event_seq(const char *s, size_t len) {
        long v = 0;
        size_t i = len;
        if (len < 3 || s[0] != 'e')
                return -1;
        while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
                i--;
        if (i == len || i == 0 || s[i - 1] != '-')
                return -1;
        for (; i < len; i++)
                v = v * 10 + (s[i] - '0');
        return v;
}

/* Forwarded event (Avro or JSON): its sequence number, else -1. */
static long record_seq(const void *buf, size_t len) {
        const unsigned char *p = buf, *end = p + len;
        if (len > 5 && p[0] == 0) {
                bool ok = true;
                int64_t n;
                p += 5;
                n = (int64_t)zz_read(&p, end, &ok);
                if (!ok || n < 0 || n > end - p)
                        return -1;
                return event_seq((const char *)p, (size_t)n);
        }
        if (len > 14 && !memcmp(buf, "{\"event_id\":\"", 13)) {
                const char *s = (const char *)buf + 13;
                const char *q = memchr(s, '"', len - 13);
                return q ? event_seq(s, (size_t)(q - s)) : -1;
        }
        return -1;
}

/* An Avro action: created_at (skipping the fields before it), else -1. */
static int64_t action_created_at(const void *buf, size_t len,
                                 int32_t *triggerp) {
        const unsigned char *p = buf, *end = p + len;
        bool ok = true;
        int64_t n;
        if (len < 6 || p[0] != 0)
                return -1;
        p += 5;
        n = (int64_t)zz_read(&p, end, &ok); /* action_id */
        p += n;
        *triggerp = (int32_t)zz_read(&p, end, &ok);
        n = (int64_t)zz_read(&p, end, &ok); /* trigger_name */
        p += n;
        for (int u = 0; u < 2 && ok && p < end; u++) /* customer, anonymous */
                if (zz_read(&p, end, &ok) == 1) {
                        n = (int64_t)zz_read(&p, end, &ok);
                        p += n;
                }
        zz_read(&p, end, &ok);            /* channel */
        if (zz_read(&p, end, &ok) == 1) { /* device_id */
                n = (int64_t)zz_read(&p, end, &ok);
                p += n;
        }
        zz_read(&p, end, &ok); /* stage */
        n = (int64_t)zz_read(&p, end, &ok);
        return ok && p <= end ? n : -1;
}

/* The wall clock in ms with a fraction: the broker stamps appends with the
 * same (CLOCK_REALTIME) clock, in whole ms. */
static double wall_ms_f(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static void pct(FILE *f, const char *name, double *v, long n) {
        qsort(v, (size_t)n, sizeof(*v), cmp_d);
        if (!n) {
                fprintf(f, ",\"%s\":{\"n\":0}", name);
                return;
        }
        fprintf(f,
                ",\"%s\":{\"n\":%ld,\"p50_ms\":%.1f,\"p99_ms\":%.1f,"
                "\"max_ms\":%.1f}",
                name, n, v[(size_t)(n * 50 / 100)], v[(size_t)(n * 99 / 100)],
                v[n - 1]);
}

/* Says "assigned" on stderr once the reader has its partitions, so the
 * bench starts the load only when every append will be seen at once. */
static void reader_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *parts,
                             void *opaque) {
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                rd_kafka_assign(rk, parts);
                fprintf(stderr, "bench_kafka read: assigned %d partitions\n",
                        parts->cnt);
        } else {
                rd_kafka_assign(rk, NULL);
        }
}

static int cmd_read(const char *bootstrap, const char *out, long expect,
                    int timeout_s, int pid, char **in, int in_cnt) {
        char err[256], group[128];
        rd_kafka_conf_t *cc = conf_new(bootstrap);
        rd_kafka_t *rk;
        rd_kafka_topic_partition_list_t *sub;
        /* Append times (ms) and visible times (ms, fractional) per event
         * sequence number; sized for EXPECT with room. */
        long cap = expect > 0 ? expect * 2 + 1000000 : 8000000;
        int64_t *app = nd_calloc((size_t)cap, sizeof(*app));
        double *vis = nd_calloc((size_t)cap, sizeof(*vis));
        int64_t *oapp = nd_calloc((size_t)cap, sizeof(*oapp));
        double *hop = NULL, *steady = NULL;
        long nhop = 0, nsteady = 0;
        int64_t first_append = INT64_MAX;
        const char *dump = getenv("ND_BENCH_DUMP");
        double *lat = NULL, *due = nd_calloc(1000000, sizeof(*due));
        double *idle = nd_calloc(1000000, sizeof(*idle));
        int64_t *due_at = nd_calloc(1000000, sizeof(*due_at));
        int64_t last_append = 0;
        long nidle = 0;
        long fwd = 0, actions = 0, timers = 0, nlat = 0, max_seq = -1;
        double t_first = 0, t_last = 0, t_cpu = 0, cpu_first = 0, cpu_last = 0;
        int64_t deadline = nd_clock_mono_ms() + (int64_t)timeout_s * 1000;

        snprintf(group, sizeof(group), "reader-%s-%d", out, (int)getpid());
        set(cc, "group.id", group);
        set(cc, "enable.auto.commit", "false");
        set(cc, "auto.offset.reset", "earliest");
        set(cc, "isolation.level", "read_committed");
        set(cc, "fetch.wait.max.ms", "10");
        rd_kafka_conf_set_rebalance_cb(cc, reader_rebalance);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof(err));
        if (!rk)
                die("consumer", err);
        rd_kafka_poll_set_consumer(rk);
        sub = rd_kafka_topic_partition_list_new(in_cnt + 1);
        rd_kafka_topic_partition_list_add(sub, out, RD_KAFKA_PARTITION_UA);
        for (int i = 0; i < in_cnt; i++)
                rd_kafka_topic_partition_list_add(sub, in[i],
                                                  RD_KAFKA_PARTITION_UA);
        if (rd_kafka_subscribe(rk, sub))
                die("subscribe", "failed");
        rd_kafka_topic_partition_list_destroy(sub);

        while (!stop && (expect <= 0 || fwd < expect) &&
               nd_clock_mono_ms() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                double now;
                long seq;
                if (!m)
                        continue;
                if (m->err) {
                        rd_kafka_message_destroy(m);
                        continue;
                }
                now = wall_ms_f();
                seq = record_seq(m->payload, m->len);
                if (strcmp(rd_kafka_topic_name(m->rkt), out)) {
                        /* an input record: its append time */
                        if (seq >= 0 && seq < cap) {
                                app[seq] = rd_kafka_message_timestamp(m, NULL);
                                if (app[seq] < first_append)
                                        first_append = app[seq];
                                if (app[seq] > last_append)
                                        last_append = app[seq];
                        }
                } else if (seq >= 0) {
                        if (!fwd) {
                                t_first = (double)nd_clock_mono_ns() / 1e9;
                                cpu_first = proc_cpu_s(pid);
                        }
                        fwd++;
                        t_last = (double)nd_clock_mono_ns() / 1e9;
                        /* The process may exit right after its last
                         * output: sample as we go, keep the last. */
                        if (t_last - t_cpu >= 0.05 || fwd == expect) {
                                double c = proc_cpu_s(pid);
                                if (c > 0)
                                        cpu_last = c;
                                t_cpu = t_last;
                        }
                        if (seq < cap && vis[seq] == 0) {
                                vis[seq] = now;
                                oapp[seq] = rd_kafka_message_timestamp(m, NULL);
                        }
                        if (seq > max_seq)
                                max_seq = seq;
                } else {
                        int32_t trig = -1;
                        int64_t created =
                            action_created_at(m->payload, m->len, &trig);
                        actions++;
                        /* cart_abandonment (0) fires on timers only */
                        if (created > 0 && trig == 0 && timers < 1000000) {
                                due[timers] = now - (double)created;
                                due_at[timers++] = created;
                        }
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);

        lat = nd_calloc((size_t)(max_seq + 2), sizeof(*lat));
        hop = nd_calloc((size_t)(max_seq + 2) * 2, sizeof(*hop));
        steady = nd_calloc((size_t)(max_seq + 2), sizeof(*steady));
        {
                FILE *df = dump ? fopen(dump, "w") : NULL;
                /* The output topic is LogAppendTime too (cmd_create): its
                 * timestamp splits the latency into the engine's hop
                 * (input append -> output append) and the reader's. */
                for (long s = 0; s <= max_seq && s < cap; s++) {
                        if (!(vis[s] > 0 && app[s] > 0))
                                continue;
                        lat[nlat++] = vis[s] - (double)app[s];
                        if (app[s] >= first_append + WARMUP_MS)
                                steady[nsteady++] = vis[s] - (double)app[s];
                        if (oapp[s] > 0) {
                                hop[nhop] = (double)(oapp[s] - app[s]);
                                hop[max_seq + 1 + nhop++] =
                                    vis[s] - (double)oapp[s];
                        }
                        if (df)
                                fprintf(df, "%ld %lld %lld %.1f\n", s,
                                        (long long)app[s], (long long)oapp[s],
                                        vis[s]);
                }
                if (df)
                        fclose(df);
        }
        {
                double secs = t_last - t_first;
                printf("{\"forwarded\":%ld,\"actions\":%ld,\"seconds\":%.3f,"
                       "\"events_per_s\":%.0f,\"cpu_s\":%.2f,"
                       "\"cpu_s_per_m\":%.2f",
                       fwd, actions, secs,
                       secs > 0 ? (double)(fwd - 1) / secs : 0.0,
                       cpu_last - cpu_first,
                       fwd ? (cpu_last - cpu_first) * 1e6 / (double)fwd : 0.0);
                pct(stdout, "immediate", lat, nlat);
                pct(stdout, "immediate_steady", steady, nsteady);
                pct(stdout, "immediate_engine", hop, nhop);
                pct(stdout, "immediate_reader", hop + max_seq + 1, nhop);
                /* Timers due after the input went idle: after the last
                 * append + idle_advance_after (the bench's 1 s), when
                 * only the hybrid clock can fire them. */
                for (long t = 0; t < timers; t++)
                        if (due_at[t] > last_append + IDLE_MS)
                                idle[nidle++] = due[t];
                pct(stdout, "timer", due, timers);
                pct(stdout, "timer_idle", idle, nidle);
                printf("}\n");
        }
        nd_free(app);
        nd_free(vis);
        nd_free(oapp);
        nd_free(hop);
        nd_free(steady);
        nd_free(lat);
        nd_free(due);
        nd_free(idle);
        nd_free(due_at);
        return fwd >= expect || expect <= 0 ? 0 : 3;
}

int main(int argc, char **argv) {
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        if (argc >= 4 && !strcmp(argv[1], "create"))
                return cmd_create(argv[2], atoi(argv[3]), argv + 4, argc - 4);
        if (argc >= 7 && !strcmp(argv[1], "passthrough"))
                return cmd_passthrough(argv[2], !strcmp(argv[3], "eos"),
                                       argv[4], atol(argv[5]), argv + 6,
                                       argc - 6);
        if (argc >= 6 && !strcmp(argv[1], "read"))
                return cmd_read(argv[2], argv[3], atol(argv[4]), atoi(argv[5]),
                                argc > 6 ? atoi(argv[6]) : 0,
                                argv + 7 > argv + argc ? NULL : argv + 7,
                                argc > 7 ? argc - 7 : 0);
        fprintf(stderr,
                "usage: bench_kafka create BOOTSTRAP PARTITIONS TOPIC...\n"
                "       bench_kafka passthrough BOOTSTRAP eos|alos OUT EXPECT "
                "IN...\n"
                "       bench_kafka read BOOTSTRAP OUT EXPECT TIMEOUT_S [PID "
                "[IN...]]\n");
        return 2;
}
