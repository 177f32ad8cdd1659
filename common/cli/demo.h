/*
 * demo — `nudge demo`: the engine on the embedded broker with synthetic
 * traffic and a live view in the terminal.
 *
 * It starts the mock cluster, the runtime with the given configuration, a
 * generator thread producing customer journeys at a fixed rate and a
 * read_committed reader of the actions topic, prints a status line every
 * second and a few sample records, and ends with a summary after
 * `duration_ms` or when stop is set (Ctrl-C).
 */
#ifndef ND_DEMO_H
#define ND_DEMO_H

#include <signal.h>
#include <stdint.h>

#include "config.h"

typedef struct nd_demo_opts_s {
        int64_t duration_ms; /* how long to generate traffic */
        int rate;            /* events per second */
        int customers;       /* distinct customers */
        uint64_t seed;
        volatile sig_atomic_t *stop; /* set by the caller's signal handler */
} nd_demo_opts_t;

/** Runs the demo; returns the process exit code (0 when all went well). */
int nd_demo_run(const nd_config_t *cfg, const nd_demo_opts_t *opts);

#endif
