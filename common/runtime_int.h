/*
 * runtime_int.h — the worker structure, shared by runtime.c and the
 * runtime's tests only.
 */
#ifndef ND_RUNTIME_INT_H
#define ND_RUNTIME_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "catalog.h"
#include "runtime.h"
#include "serde.h"
#include "task.h"

#define ND_ACTION_BUF 65536

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
        int task_cap;
        int task_cnt;
        uint8_t *abuf;                   /* action encoding buffer */
        nd_err_t err;                    /* why the worker ended */
        atomic_bool done;
        bool restoring;
        int64_t dlq_log_window;          /* rate limit of DLQ log lines */
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
};

struct nd_runtime_s {
        const nd_config_t *cfg;
        char *bootstrap;
        const char *event_topics[3];
        struct nd_worker *workers;
        int worker_cnt;
        atomic_bool stop;
};

#endif
