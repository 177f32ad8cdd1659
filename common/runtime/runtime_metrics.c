/*
 * runtime_metrics.c — the engine's Prometheus metrics (docs/operations.md).
 *
 * Counters are updated on the worker's hot path through handles taken once
 * (relaxed atomics, no lock). Everything that lives in worker-owned
 * structures — consumer lag, watermarks, timers, state sizes — is published
 * by the worker into atomics or a small locked snapshot once per commit
 * interval (nd__rt_metrics_publish), and the scrape, which runs on the HTTP
 * thread, reads only those: it never touches a task or a librdkafka handle.
 *
 * The calls go one way: runtime.c calls the nd__rt_metrics_* functions
 * (registry set-up, per-worker set-up, the hot-path counters, publish) and
 * this file calls nothing in runtime.c; it only reads the structures of
 * runtime_int.h.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "kio.h"
#include "log.h"
#include "mem.h"
#include "runtime_int.h"

static const char *const L_TOPIC_TYPE[] = {"topic", "type"};
static const char *const L_TRIGGER[] = {"trigger", "trigger_name"};
static const char *const L_NAME[] = {"trigger_name"};
static const char *const L_STORE[] = {"store"};
static const char *const L_REASON[] = {"reason"};
static const char *const L_RESULT[] = {"result"};
static const char *const L_KIND[] = {"kind"};
static const char *const L_TOPIC_PART[] = {"topic", "partition"};
static const char *const L_PART[] = {"partition"};

static double inst_gauge(void *arg) {
        struct nd_inst_gauge *g = arg;
        nd_runtime_t *rt = g->rt;
        long long sum = 0;
        for (int i = 0; i < rt->worker_cnt; i++) {
                struct nd_inst_stats *s = &rt->workers[i].inst[g->inst];
                sum +=
                    atomic_load(g->kind == ND_RT_GAUGE_TIMERS    ? &s->timers
                                : g->kind == ND_RT_GAUGE_ENTRIES ? &s->entries
                                                                 : &s->bytes);
        }
        return (double)sum;
}

static double ready_gauge(void *arg) {
        return nd__rt_ready(arg) ? 1 : 0;
}

static double restore_remaining(void *arg) {
        nd_runtime_t *rt = arg;
        long long sum = 0;
        for (int i = 0; i < rt->worker_cnt; i++)
                sum += atomic_load(&rt->workers[i].restore_remaining);
        return (double)sum;
}

static double records_enforced(void *arg) {
        nd_runtime_t *rt = arg;
        unsigned long long sum = 0;
        for (int i = 0; i < rt->worker_cnt; i++)
                sum += atomic_load(&rt->workers[i].enforced);
        return (double)sum;
}

static double partitions_paused(void *arg) {
        nd_runtime_t *rt = arg;
        long long sum = 0;
        for (int i = 0; i < rt->worker_cnt; i++)
                sum += atomic_load(&rt->workers[i].paused);
        return (double)sum;
}

static double input_retries(void *arg) {
        nd_runtime_t *rt = arg;
        unsigned long long sum = 0;
        for (int i = 0; i < rt->worker_cnt; i++)
                sum += atomic_load(&rt->workers[i].retries);
        return (double)sum;
}

static double changelog_too_large(void *arg) {
        nd_runtime_t *rt = arg;
        unsigned long long sum = 0;
        for (int i = 0; i < rt->worker_cnt; i++)
                sum += atomic_load(&rt->workers[i].changelog_too_large);
        return (double)sum;
}

static double tasks_waiting(void *arg) {
        nd_runtime_t *rt = arg;
        long long sum = 0;
        for (int i = 0; i < rt->worker_cnt; i++)
                sum += atomic_load(&rt->workers[i].waiting);
        return (double)sum;
}

static void collect_lag(void *arg, nd_metrics_sink_t *sink) {
        nd_runtime_t *rt = arg;
        for (int i = 0; i < rt->worker_cnt; i++) {
                struct nd_worker *w = &rt->workers[i];
                pthread_mutex_lock(&w->snap_lock);
                for (int j = 0; j < w->lag_cnt; j++) {
                        char part[16];
                        const char *vals[2] = {
                            rt->event_topics[w->lags[j].topic], part};
                        if (w->lags[j].lag < 0)
                                continue;
                        snprintf(part, sizeof(part), "%d",
                                 (int)w->lags[j].partition);
                        nd_metrics_sink_emit(sink, vals,
                                             (double)w->lags[j].lag);
                }
                pthread_mutex_unlock(&w->snap_lock);
        }
}

static void collect_wm(void *arg, nd_metrics_sink_t *sink) {
        nd_runtime_t *rt = arg;
        for (int i = 0; i < rt->worker_cnt; i++) {
                struct nd_worker *w = &rt->workers[i];
                pthread_mutex_lock(&w->snap_lock);
                for (int j = 0; j < w->wm_cnt; j++) {
                        char part[16];
                        const char *vals[1] = {part};
                        snprintf(part, sizeof(part), "%d",
                                 (int)w->wms[j].partition);
                        nd_metrics_sink_emit(sink, vals,
                                             w->wms[j].lag_ms / 1000.0);
                }
                pthread_mutex_unlock(&w->snap_lock);
        }
}

void nd__rt_metrics_init(nd_runtime_t *rt) {
        const nd_config_t *cfg = rt->cfg;
        static const char *const bl[] = {"version", "librdkafka"};
        const char *bv[] = {ND_VERSION, nd_kio_version()};
        nd_metrics_t *reg = rt->reg = nd_metrics_new();

        nd_gauge_set(nd_metrics_gauge(reg, "nudge_build_info",
                                      "Build information.", 2, bl, bv),
                     1);
        rt->m_commit_seconds = nd_metrics_histogram(
            reg, "nudge_transaction_commit_seconds",
            "Time to commit one transaction (or offset commit at least "
            "once).",
            0, NULL, NULL, nd_metrics_latency_buckets,
            nd_metrics_latency_bucket_cnt);
        rt->m_txn_committed = nd_metrics_counter(
            reg, "nudge_transactions_total",
            "Commits, by result (aborted: rewound and restored).", 1, L_RESULT,
            (const char *[]){"committed"});
        rt->m_txn_aborted = nd_metrics_counter(
            reg, "nudge_transactions_total",
            "Commits, by result (aborted: rewound and restored).", 1, L_RESULT,
            (const char *[]){"aborted"});
        for (int k = 0; k < ND_RT_REBALANCE__CNT; k++) {
                static const char *const kinds[ND_RT_REBALANCE__CNT] = {
                    [ND_RT_REBALANCE_ASSIGN] = "assign",
                    [ND_RT_REBALANCE_REVOKE] = "revoke",
                    [ND_RT_REBALANCE_LOST] = "lost"};
                rt->m_rebalance[k] = nd_metrics_counter(
                    reg, "nudge_rebalances_total",
                    "Partition assignments, revocations and losses.", 1, L_KIND,
                    &kinds[k]);
        }
        rt->m_recreated = nd_metrics_counter(
            reg, "nudge_consumer_recreations_total",
            "Times a worker recreated its consumer and producer after a "
            "fatal client error (processing.rejoin_timeout).",
            0, NULL, NULL);
        nd_metrics_gauge_fn(reg, ND_METRIC_GAUGE, "nudge_ready",
                            "1 when every assigned task is restored and "
                            "consuming.",
                            0, NULL, NULL, ready_gauge, rt);
        nd_metrics_gauge_fn(reg, ND_METRIC_GAUGE, "nudge_restore_remaining",
                            "Changelog records left to restore.", 0, NULL, NULL,
                            restore_remaining, rt);
        nd_metrics_gauge_fn(
            reg, ND_METRIC_COUNTER, "nudge_records_enforced_total",
            "Records applied without waiting for a partition of their task "
            "that had nothing buffered and had not reached its end "
            "(processing.max_task_idle ran out): their order across topics "
            "may differ from replay's.",
            0, NULL, NULL, records_enforced, rt);
        nd_metrics_gauge_fn(reg, ND_METRIC_GAUGE, "nudge_tasks_waiting",
                            "Tasks holding records back until a partition "
                            "that has not reached its end delivers "
                            "(processing.max_task_idle).",
                            0, NULL, NULL, tasks_waiting, rt);
        nd_metrics_gauge_fn(reg, ND_METRIC_GAUGE, "nudge_partitions_paused",
                            "Input topic-partitions held back by a transient "
                            "error (the schema registry cannot be reached; "
                            "the catalog counts as one): nothing after the "
                            "failing record is processed or committed until "
                            "it clears.",
                            0, NULL, NULL, partitions_paused, rt);
        nd_metrics_gauge_fn(reg, ND_METRIC_COUNTER, "nudge_input_retries_total",
                            "Retries of an input record after a transient "
                            "error (each one a backoff of its task).",
                            0, NULL, NULL, input_retries, rt);
        nd_metrics_gauge_fn(reg, ND_METRIC_COUNTER,
                            "nudge_changelog_too_large_total",
                            "Changelog records not written because they are "
                            "larger than the producer may send (a customer's "
                            "state over kafka.producer.message.max.bytes); "
                            "should stay 0.",
                            0, NULL, NULL, changelog_too_large, rt);
        nd_metrics_collector(reg, ND_METRIC_GAUGE, "nudge_consumer_lag",
                             "Records behind the high watermark, per event "
                             "topic partition.",
                             2, L_TOPIC_PART, collect_lag, rt);
        nd_metrics_collector(reg, ND_METRIC_GAUGE,
                             "nudge_watermark_lag_seconds",
                             "Wall clock minus the task's watermark.", 1,
                             L_PART, collect_wm, rt);
        rt->inst_gauges =
            nd_calloc((size_t)(cfg->trigger_cnt * ND_RT_GAUGE__CNT + 1),
                      sizeof(*rt->inst_gauges));
        for (int i = 0; i < cfg->trigger_cnt; i++) {
                const char *name = cfg->triggers[i].name;
                struct nd_inst_gauge *gs =
                    &rt->inst_gauges[i * ND_RT_GAUGE__CNT];
                for (int k = 0; k < ND_RT_GAUGE__CNT; k++) {
                        struct nd_inst_gauge *g = &gs[k];
                        g->rt = rt;
                        g->inst = i;
                        g->kind = k;
                }
                nd_metrics_gauge_fn(reg, ND_METRIC_GAUGE,
                                    "nudge_timers_pending",
                                    "Armed timers, per trigger.", 1, L_NAME,
                                    &name, inst_gauge, &gs[ND_RT_GAUGE_TIMERS]);
                nd_metrics_gauge_fn(reg, ND_METRIC_GAUGE, "nudge_state_entries",
                                    "Customers in the state store.", 1, L_STORE,
                                    &name, inst_gauge,
                                    &gs[ND_RT_GAUGE_ENTRIES]);
                nd_metrics_gauge_fn(reg, ND_METRIC_GAUGE, "nudge_state_bytes",
                                    "Bytes of the state store (entries, "
                                    "blobs, table).",
                                    1, L_STORE, &name, inst_gauge,
                                    &gs[ND_RT_GAUGE_BYTES]);
        }
}

void nd__rt_metrics_worker_init(struct nd_worker *w) {
        nd_runtime_t *rt = w->rt;
        const nd_config_t *cfg = rt->cfg;
        int n = cfg->trigger_cnt ? cfg->trigger_cnt : 1;
        pthread_mutex_init(&w->snap_lock, NULL);
        w->inst = nd_calloc((size_t)n, sizeof(*w->inst));
        w->m_actions = nd_calloc((size_t)n, sizeof(*w->m_actions));
        w->m_restored = nd_calloc((size_t)n, sizeof(*w->m_restored));
        for (int i = 0; i < cfg->trigger_cnt; i++) {
                const char *tv[2] = {cfg->triggers[i].def->name,
                                     cfg->triggers[i].name};
                w->m_actions[i] =
                    nd_metrics_counter(rt->reg, "nudge_actions_out_total",
                                       "Actions emitted.", 2, L_TRIGGER, tv);
                w->m_restored[i] = nd_metrics_counter(
                    rt->reg, "nudge_restore_records_total",
                    "Changelog records restored.", 1, L_STORE, &tv[1]);
        }
        /* Each event type on its own topic; other pairs on first sight. */
        for (int t = 0; t < ND_EV__CNT; t++) {
                const char *topic = nd_event_type_topic((nd_event_type_t)t);
                int ti = !strcmp(topic, "cart")       ? ND_TOPIC_CART
                         : !strcmp(topic, "purchase") ? ND_TOPIC_PURCHASE
                                                      : ND_TOPIC_CLICKSTREAM;
                const char *vals[2] = {rt->event_topics[ti],
                                       nd_event_type_name((nd_event_type_t)t)};
                w->m_events[ti][t] = nd_metrics_counter(
                    rt->reg, "nudge_events_in_total",
                    "Events consumed and applied, by topic and type.", 2,
                    L_TOPIC_TYPE, vals);
        }
}

void nd__rt_metrics_worker_fini(struct nd_worker *w) {
        nd_free(w->inst);
        nd_free(w->m_actions);
        nd_free(w->m_restored);
        nd_free(w->lags);
        nd_free(w->wms);
        pthread_mutex_destroy(&w->snap_lock);
}

void nd__rt_metrics_event(struct nd_worker *w, const nd_rec_t *rec,
                          const nd_event_t *ev) {
        nd_runtime_t *rt = w->rt;
        int ti = rec->topic == rt->event_topics[ND_TOPIC_CLICKSTREAM]
                     ? ND_TOPIC_CLICKSTREAM
                     : -1;
        /* The record's topic name is librdkafka's copy: compare text. */
        for (int i = 0; ti < 0 && i < ND_TOPIC__CNT; i++)
                if (!strcmp(rec->topic, rt->event_topics[i]))
                        ti = i;
        if (ti < 0 || ev->type >= ND_EV__CNT)
                return;
        if (!w->m_events[ti][ev->type]) {
                const char *vals[2] = {rt->event_topics[ti],
                                       nd_event_type_name(ev->type)};
                w->m_events[ti][ev->type] = nd_metrics_counter(
                    rt->reg, "nudge_events_in_total",
                    "Events consumed and applied, by topic and type.", 2,
                    L_TOPIC_TYPE, vals);
        }
        nd_counter_add(w->m_events[ti][ev->type], 1);
}

void nd__rt_metrics_dlq(struct nd_worker *w, nd_err_t err) {
        int i = -(int)err;
        if (i <= 0 || i >= ND_DLQ_CODES)
                i = 0;
        if (!w->m_dlq[i]) {
                char reason[64];
                const char *vals[1] = {reason};
                const char *name = nd_err_name(err);
                size_t k;
                for (k = 0; name[k] && k < sizeof(reason) - 1; k++)
                        reason[k] = (char)(name[k] >= 'A' && name[k] <= 'Z'
                                               ? name[k] - 'A' + 'a'
                                               : name[k]);
                reason[k] = '\0';
                w->m_dlq[i] = nd_metrics_counter(
                    w->rt->reg, "nudge_dead_letter_total",
                    "Records sent to the dead-letter topic, by reason.", 1,
                    L_REASON, vals);
        }
        nd_counter_add(w->m_dlq[i], 1);
}

struct lag_arg {
        struct nd_worker *w;
        int n;
};

static void lag_one(void *arg, const char *topic, int32_t partition,
                    int64_t lag) {
        struct lag_arg *la = arg;
        struct nd_worker *w = la->w;
        int ti = -1;
        for (int i = 0; i < ND_TOPIC__CNT && ti < 0; i++)
                if (!strcmp(topic, w->rt->event_topics[i]))
                        ti = i;
        if (ti < 0)
                return;
        if (la->n == w->lag_cap) {
                w->lag_cap = w->lag_cap ? w->lag_cap * 2 : 16;
                w->lags =
                    nd_realloc(w->lags, (size_t)w->lag_cap * sizeof(*w->lags));
        }
        w->lags[la->n].topic = ti;
        w->lags[la->n].partition = partition;
        w->lags[la->n].lag = lag;
        la->n++;
}

void nd__rt_metrics_publish(struct nd_worker *w) {
        const nd_config_t *cfg = w->rt->cfg;
        int64_t now = nd_clock_wall_ms();
        struct lag_arg la = {w, 0};
        int wn = 0;

        for (int i = 0; i < cfg->trigger_cnt; i++) {
                atomic_store(&w->inst[i].timers, 0);
                atomic_store(&w->inst[i].entries, 0);
                atomic_store(&w->inst[i].bytes, 0);
        }
        atomic_store(&w->enforced, (unsigned long long)nd_kio_enforced(w->kio));
        atomic_store(&w->waiting, nd_kio_waiting_tasks(w->kio));
        pthread_mutex_lock(&w->snap_lock);
        nd_kio_lag_foreach(w->kio, lag_one, &la);
        w->lag_cnt = la.n;
        for (int32_t p = 0; p < w->task_cap; p++) {
                nd_task_t *task = w->tasks[p];
                nd_task_stats_t st;
                if (!task)
                        continue;
                nd_task_stats(task, &st);
                if (wn == w->wm_cap) {
                        w->wm_cap = w->wm_cap ? w->wm_cap * 2 : 16;
                        w->wms = nd_realloc(w->wms, (size_t)w->wm_cap *
                                                        sizeof(*w->wms));
                }
                w->wms[wn].partition = p;
                w->wms[wn].lag_ms =
                    st.watermark == INT64_MIN ? 0 : now - st.watermark;
                wn++;
                for (int i = 0; i < cfg->trigger_cnt; i++) {
                        struct nd_store_s *sto = nd_task_store(task, i);
                        nd_task_inst_stats_t is;
                        if (!sto)
                                continue;
                        nd_task_instance_stats(task, i, &is);
                        atomic_fetch_add(&w->inst[i].timers,
                                         (long long)is.timers);
                        atomic_fetch_add(&w->inst[i].entries,
                                         (long long)is.entries);
                        atomic_fetch_add(&w->inst[i].bytes,
                                         (long long)is.bytes);
                }
        }
        w->wm_cnt = wn;
        pthread_mutex_unlock(&w->snap_lock);
}
