/*
 * replay — `nudge replay -c CONFIG --input FILE [--input FILE...]
 * [--catalog FILE] [--end-time T] [--partitions N] --output FILE|-`: the
 * triggers over files of events, on event time only, with byte-identical
 * output for the same inputs. Several inputs are merged by timestamp, ties
 * in the order given, each input keeping its own order. With --partitions
 * N, one task per partition number as live runs them, each merging its
 * topic lanes by timestamp. See replay.c.
 */
#ifndef ND_REPLAY_H
#define ND_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/** The most --input files of one replay. */
#define ND_REPLAY_MAX_INPUTS 64

/** The largest --partitions. */
#define ND_REPLAY_MAX_PARTITIONS 1024

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
        /* --partitions: 0 runs one task over every event, each input in
         * file order; 1..ND_REPLAY_MAX_PARTITIONS runs that many tasks, one
         * after another, each over the events whose key hashes to it, in
         * topic lanes (replay.c). Then no input may be stdin or a pipe:
         * each is read once per task and topic. */
        int partitions;
} nd_replay_opts_t;

/**
 * Runs the triggers over the merged inputs (replay.c says in which order).
 * With opts->partitions, the actions of task 0 come first, then those of
 * task 1, and so on. Returns the exit code: 0 ok, 1 an input damaged or
 * unreadable past its start, or an output failure, 2 bad setup (an input
 * that cannot be opened, a bad catalog path, too many inputs, a partition
 * count out of range, stdin or a pipe with --partitions). Messages go to
 * stderr and name the file.
 */
int nd_replay_run(const nd_config_t *cfg, const nd_replay_opts_t *opts);

/**
 * Parses a time: milliseconds since the epoch, or ISO 8601 UTC
 * ("2026-11-22T10:00:00Z", optional .mmm). 0 on success, -1 otherwise.
 */
int nd_replay_parse_time(const char *s, int64_t *out);

#endif
