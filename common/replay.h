/*
 * replay — `nudge replay -c CONFIG --input FILE [--catalog FILE]
 * [--end-time T] --output FILE|-`: the triggers over a file, on event time
 * only, with byte-identical output for the same input. See replay.c.
 */
#ifndef ND_REPLAY_H
#define ND_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

typedef struct nd_replay_opts_s {
        const char *input;       /* JSON lines; "-" for stdin */
        const char *catalog;     /* JSON lines of products, or NULL */
        const char *output;      /* "-" for stdout */
        const char *dead_letter; /* where bad lines are listed, or NULL */
        bool has_end;
        int64_t end_time; /* ms since epoch, UTC */
} nd_replay_opts_t;

/** Returns the exit code: 0 ok, 1 I/O failure, 2 bad setup. */
int nd_replay_run(const nd_config_t *cfg, const nd_replay_opts_t *opts);

/**
 * Parses a time: milliseconds since the epoch, or ISO 8601 UTC
 * ("2026-11-22T10:00:00Z", optional .mmm). 0 on success, -1 otherwise.
 */
int nd_replay_parse_time(const char *s, int64_t *out);

#endif
