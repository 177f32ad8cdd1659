/*
 * runtime_int.h — the worker and runtime structures, shared by the two
 * files of the runtime's engine: runtime.c (the workers, which write them)
 * and runtime_metrics.c (the metrics, which read them and publish
 * snapshots). No test and no other module includes it.
 *
 * WHY the calls go one way: runtime.c calls runtime_metrics.c (the
 * nd__rt_metrics_* functions below) and runtime_metrics.c calls nothing in
 * runtime.c; what both need (readiness) is a static inline here. This
 * header therefore does not include runtime.h, whose functions are
 * runtime.c's; it repeats the nd_runtime_t typedef instead (allowed in C11).
 */
#ifndef ND_RUNTIME_INT_H
#define ND_RUNTIME_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "catalog.h"
#include "config.h"
#include "kio.h"
#include "metrics.h"
#include "serde.h"
#include "task.h"

typedef struct nd_runtime_s nd_runtime_t;

#define ND_ACTION_BUF 65536
#define ND_DLQ_CODES  64

/* What a worker publishes for scrapes, per trigger instance. */
struct nd_inst_stats {
        atomic_llong timers;
        atomic_llong entries;
        atomic_llong bytes;
};

struct nd_lag_snap {
        int topic; /* index in rt->event_topics */
        int32_t partition;
        int64_t lag;
};

struct nd_wm_snap {
        int32_t partition;
        int64_t lag_ms; /* wall clock - watermark */
};

/* A task (or the catalog) held back by a transient input error. */
struct nd_pause {
        int64_t since;   /* mono ms of the first failure; 0: not paused */
        int64_t backoff; /* the current wait before the next retry */
        int64_t until;   /* mono ms of the next retry (the catalog's) */
        bool expired;    /* errors.retry_timeout spent: failures permanent */
        bool told;       /* the pause was logged (from its second failure) */
};

struct nd_worker {
        nd_runtime_t *rt;
        int idx;
        pthread_t thread;
        bool started;
        nd_kio_t *kio;
        nd_serde_t *serde;
        nd_catalog_t *catalog;
        nd_kio_client_t *catalog_reader; /* NULL: no catalog topic */
        nd_task_t **tasks;               /* indexed by partition number */
        int64_t *last_rec_ms;            /* wall time of a task's last record */
        struct nd_pause *pause;          /* by partition number */
        struct nd_pause catalog_pause;
        int task_cap;
        int task_cnt;
        uint8_t *abuf;                        /* action encoding buffer */
        size_t abuf_cap;                      /* grows to the largest one */
        const char *topic_ptr[ND_TOPIC__CNT]; /* librdkafka's name pointers */
        nd_err_t err;                         /* why the worker ended */
        nd_err_t out_failed; /* an output failed since the last commit */
        /* Fatal client errors (rejoin() in runtime.c): mono ms of the first
         * error since the worker last committed (0: none), attempts since */
        int64_t rejoin_since;
        int rejoin_attempts;
        atomic_bool done;
        bool restoring;
        int64_t dlq_log_window; /* rate limit of DLQ log lines */
        int dlq_log_cnt;
        /* counters, written by the worker, read by anyone */
        atomic_ullong records_in;
        atomic_ullong records_out;
        atomic_ullong dead_letter;
        atomic_ullong commits;
        atomic_ullong aborts;
        atomic_ullong rebalances;
        atomic_ullong restored;
        atomic_ullong timers_fired;
        atomic_int tasks_alive;
        atomic_bool ready;
        atomic_int paused;     /* topic-partitions held by transient errors */
        atomic_ullong retries; /* records retried after a transient error */
        atomic_ullong changelog_too_large; /* changelog records skipped */
        /* the partition group's (kio), published at every commit */
        atomic_ullong enforced;
        atomic_int waiting;
        /* metrics: handles (shared series) and published snapshots */
        nd_counter_t *m_events[ND_TOPIC__CNT][ND_EV__CNT];
        nd_counter_t **m_actions; /* per trigger instance */
        nd_counter_t *m_dlq[ND_DLQ_CODES];
        nd_counter_t **m_restored;  /* per trigger instance */
        struct nd_inst_stats *inst; /* per trigger instance */
        atomic_llong restore_remaining;
        pthread_mutex_t snap_lock; /* guards lags and wms */
        struct nd_lag_snap *lags;
        int lag_cnt, lag_cap;
        struct nd_wm_snap *wms;
        int wm_cnt, wm_cap;
};

/* The per-trigger gauges of one instance, in rt->inst_gauges. */
enum {
        ND_RT_GAUGE_TIMERS = 0, /* nudge_timers_pending */
        ND_RT_GAUGE_ENTRIES,    /* nudge_state_entries */
        ND_RT_GAUGE_BYTES,      /* nudge_state_bytes */
        ND_RT_GAUGE__CNT
};

struct nd_inst_gauge {
        nd_runtime_t *rt;
        int inst;
        int kind; /* ND_RT_GAUGE_* */
};

/* The kinds of nudge_rebalances_total, in rt->m_rebalance. */
enum {
        ND_RT_REBALANCE_ASSIGN = 0,
        ND_RT_REBALANCE_REVOKE,
        ND_RT_REBALANCE_LOST,
        ND_RT_REBALANCE__CNT
};

struct nd_runtime_s {
        const nd_config_t *cfg;
        char *bootstrap;
        const char *event_topics[ND_TOPIC__CNT]; /* by ND_TOPIC_* */
        char **out_topics; /* actions, dead letters, changelogs */
        int out_cnt;
        struct nd_worker *workers;
        int worker_cnt;
        atomic_bool stop;
        atomic_bool fatal;
        nd_metrics_t *reg;
        nd_histogram_t *m_commit_seconds;
        nd_counter_t *m_txn_committed;
        nd_counter_t *m_txn_aborted;
        nd_counter_t *m_rebalance[ND_RT_REBALANCE__CNT];
        nd_counter_t *m_recreated; /* nudge_consumer_recreations_total */
        struct nd_inst_gauge *inst_gauges;
        void (*tap)(void *arg, const nd_action_t *act);
        void *tap_arg;
        char changelog[300]; /* <application.id>-changelog */
};

/*
 * Readiness (nd_runtime_ready, the nudge_ready gauge): every worker has had
 * its assignment and restored its tasks, and no stop is under way. Any
 * thread.
 */
static inline bool nd__rt_ready(const nd_runtime_t *rt) {
        if (rt->worker_cnt == 0 || atomic_load(&rt->stop))
                return false;
        for (int i = 0; i < rt->worker_cnt; i++)
                if (!atomic_load(&rt->workers[i].ready) ||
                    atomic_load(&rt->workers[i].paused) > 0)
                        return false;
        return true;
}

/* runtime_metrics.c, called by runtime.c */
void nd__rt_metrics_init(nd_runtime_t *rt);
void nd__rt_metrics_worker_init(struct nd_worker *w);
void nd__rt_metrics_worker_fini(struct nd_worker *w);
void nd__rt_metrics_publish(struct nd_worker *w);
void nd__rt_metrics_event(struct nd_worker *w, const nd_rec_t *rec,
                          const nd_event_t *ev);
void nd__rt_metrics_dlq(struct nd_worker *w, nd_err_t err);

#endif
