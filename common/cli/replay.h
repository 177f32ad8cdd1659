/*
 * replay — `nudge replay -c CONFIG --input FILE [--input FILE...]
 * [--catalog FILE] [--end-time T] --output FILE|-`: the triggers over files
 * of events, on event time only, with byte-identical output for the same
 * inputs. Several inputs are merged by timestamp, ties in the order given,
 * each input keeping its own order. See replay.c.
 */
#ifndef ND_REPLAY_H
#define ND_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/** The most --input files of one replay. */
#define ND_REPLAY_MAX_INPUTS 64

typedef struct nd_replay_opts_s {
        /* input_cnt (1..ND_REPLAY_MAX_INPUTS) files, each JSON lines or an
         * Avro object container file; "-" (once) for stdin */
        const char *const *inputs;
        int input_cnt;
        const char *catalog;     /* JSON lines of products, or NULL */
        const char *output;      /* "-" for stdout */
        const char *dead_letter; /* where bad lines are listed, or NULL */
        bool has_end;
        int64_t end_time; /* ms since epoch, UTC */
} nd_replay_opts_t;

/**
 * Runs the triggers over the merged inputs (replay.c says in which order).
 * Returns the exit code: 0 ok, 1 an input damaged or unreadable past its
 * start, or an output failure, 2 bad setup (an input that cannot be
 * opened, a bad catalog path, too many inputs). Messages go to stderr and
 * name the file.
 */
int nd_replay_run(const nd_config_t *cfg, const nd_replay_opts_t *opts);

/**
 * Parses a time: milliseconds since the epoch, or ISO 8601 UTC
 * ("2026-11-22T10:00:00Z", optional .mmm). 0 on success, -1 otherwise.
 */
int nd_replay_parse_time(const char *s, int64_t *out);

#endif
