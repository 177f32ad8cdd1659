/*
 * runtime — the engine: worker threads, tasks, the commit loop.
 *
 * A task is one partition number of the co-partitioned event topics
 * (TRIGGERS.md §1): it holds one instance of every configured trigger and
 * sees, in partition order, every record of that partition number of every
 * event topic. Tasks live on the worker whose consumer was assigned their
 * partitions; workers share nothing, so the hot path takes no locks.
 *
 * Start-up (nd_runtime_start): check that every event topic exists and that
 * all have the same partition count (else ND_ERR_CONFIG, naming the topics
 * and their counts), create the actions and dead-letter topics when
 * missing, then start processing.threads workers.
 *
 * Stop (nd_runtime_request_stop, async-signal-safe): each worker finishes
 * the batch in hand, commits, leaves the group and ends; nd_runtime_wait()
 * bounds that by processing.shutdown_timeout.
 *
 * Thread safety: new/start/wait/destroy from one (the main) thread;
 * request_stop from anywhere, signal handlers included; stats anywhere.
 */
#ifndef ND_RUNTIME_H
#define ND_RUNTIME_H

#include <stdint.h>

#include "config.h"
#include "kio.h"
#include "metrics.h"

typedef struct nd_runtime_s nd_runtime_t;

typedef struct nd_runtime_stats_s {
        uint64_t records_in;   /* input records consumed */
        uint64_t records_out;  /* records produced to the actions topic */
        uint64_t dead_letter;  /* records sent to the dead-letter topic */
        uint64_t commits;      /* successful commits (transactions) */
        uint64_t aborts;       /* aborted transactions / rewinds */
        uint64_t rebalances;   /* assignments + revocations */
        uint64_t restored;     /* changelog records restored */
        uint64_t timers_fired; /* by the hybrid clock's idle advance */
        int tasks;             /* tasks alive now */
} nd_runtime_stats_t;

/**
 * Creates a runtime for cfg (borrowed: it must outlive the runtime).
 * bootstrap overrides kafka.bootstrap.servers (the embedded broker's).
 */
nd_runtime_t *nd_runtime_new(const nd_config_t *cfg, const char *bootstrap);

/**
 * Checks the topics and starts the workers. ND_ERR_CONFIG (topics missing
 * or not co-partitioned, bad kafka property) or ND_ERR_KAFKA, with errstr.
 */
nd_err_t nd_runtime_start(nd_runtime_t *rt, char *errstr, size_t errstr_size);

/** Asks every worker to stop. Async-signal-safe; idempotent. */
void nd_runtime_request_stop(nd_runtime_t *rt);

/**
 * Readiness: every worker has had its assignment and restored its tasks,
 * and no stop is under way.
 */
bool nd_runtime_ready(const nd_runtime_t *rt);

/** False once a worker ended on a fatal error (/healthz). */
bool nd_runtime_healthy(const nd_runtime_t *rt);

/** Topic-partitions held back by a transient input error (the schema
 * registry cannot be reached); while any is, nd_runtime_ready() is false. */
int nd_runtime_paused(const nd_runtime_t *rt);

/**
 * The runtime's metrics registry (docs/operations.md lists the metrics);
 * owned by the runtime. Stop the HTTP server before nd_runtime_destroy().
 */
nd_metrics_t *nd_runtime_metrics(const nd_runtime_t *rt);

/** True once a stop was requested or a worker ended on a fatal error. */
bool nd_runtime_stopping(const nd_runtime_t *rt);

/**
 * Waits for the workers to end, up to timeout_ms after a stop request
 * (forever before one). ND_OK when all ended cleanly, the first worker's
 * fatal error otherwise, ND_ERR_TIMEOUT when the bound passed.
 */
nd_err_t nd_runtime_wait(nd_runtime_t *rt, int timeout_ms);

/** Sums the workers' counters. */
void nd_runtime_stats(const nd_runtime_t *rt, nd_runtime_stats_t *out);

/**
 * An observer of every action as it is emitted (before it is committed):
 * the demo's live view. Called on worker threads; must be thread-safe and
 * quick. Set before nd_runtime_start().
 */
void nd_runtime_set_tap(nd_runtime_t *rt,
                        void (*tap)(void *arg, const nd_action_t *act),
                        void *arg);

/** nd_runtime_destroy(NULL) is a no-op. Only after nd_runtime_wait(). */
void nd_runtime_destroy(nd_runtime_t *rt);

/**
 * The embedded broker: starts the mock cluster and creates the configured
 * topics on it (event topics and catalog with embedded.partitions
 * partitions, actions, dead-letter). Logs its bootstrap address.
 */
nd_err_t nd_embedded_start(const nd_config_t *cfg, nd_kio_cluster_t **out,
                           char *errstr, size_t errstr_size);

#endif
