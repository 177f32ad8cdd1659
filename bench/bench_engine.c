/*
 * bench_engine.c — the engine alone: a replay from memory, no Kafka.
 *
 * Usage: bench_engine CONFIG EVENTS.jsonl [CATALOG.jsonl] [ROUNDS]
 *
 * Loads the events nudge-gen wrote (JSON lines), encodes each once as
 * Confluent-framed Avro (the wire format of the topics), then times, on one
 * thread:
 *   decode   nd_serde_decode() of every record (the fast Avro path)
 *   engine   decode + nd_task_process() of every record in file order
 *            through one task with the configured triggers (replay mode:
 *            event time only), actions encoded as Avro and dropped
 * The task is rebuilt for each round, so every round starts from empty
 * state. Prints events/s for both and the engine's share without decode,
 * as one JSON line; the best of ROUNDS (default 3) rounds.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "clock.h"
#include "config.h"
#include "mem.h"
#include "registry.h"
#include "serde.h"
#include "task.h"

struct sink {
        nd_serde_t *serde;
        char buf[65536];
        uint64_t actions, forwarded;
};

static nd_err_t on_emit(void *arg, nd_task_t *task, int inst,
                        const nd_action_t *act) {
        struct sink *s = arg;
        size_t len;
        s->actions++;
        return nd_serde_encode_action(s->serde, act, s->buf, sizeof(s->buf),
                                      &len);
}

static nd_err_t on_forward(void *arg, nd_task_t *task, int inst,
                           const void *key, size_t key_len, const void *value,
                           size_t value_len) {
        struct sink *s = arg;
        s->forwarded++;
        return ND_OK;
}

int main(int argc, char **argv) {
        nd_config_t *cfg = NULL;
        nd_serde_t *serde = NULL;
        nd_catalog_t *cat = nd_catalog_new();
        nd_serde_conf_t sc;
        struct sink sink = {0};
        char errstr[1024], *line = NULL;
        size_t cap = 0, n = 0, recs_cap = 1 << 20, arena_len = 0;
        size_t arena_cap = 256u << 20;
        ssize_t len;
        uint8_t *arena;
        size_t *off;
        FILE *f;
        int rounds = argc > 4 ? atoi(argv[4]) : 3;
        double best_dec = 0, best_eng = 0;
        nd_task_stats_t st = {0};

        if (argc < 3) {
                fprintf(stderr, "usage: bench_engine CONFIG EVENTS.jsonl "
                                "[CATALOG.jsonl] [ROUNDS]\n");
                return 2;
        }
        if (nd_config_load(argv[1], nd_processor_find, &cfg, errstr,
                           sizeof(errstr)) != ND_OK) {
                fprintf(stderr, "bench_engine: %s\n", errstr);
                return 2;
        }
        nd_serde_conf_from_config(&sc, cfg);
        if (nd_serde_new(&sc, &serde, errstr, sizeof(errstr)) != ND_OK) {
                fprintf(stderr, "bench_engine: %s\n", errstr);
                return 2;
        }
        sink.serde = serde;
        if (argc > 3 && strcmp(argv[3], "-")) {
                if (!(f = fopen(argv[3], "r"))) {
                        perror(argv[3]);
                        return 2;
                }
                while ((len = getline(&line, &cap, f)) > 1) {
                        nd_product_rec_t prod;
                        if (nd_serde_decode_product_json(
                                serde, line, (size_t)len - 1, &prod, errstr,
                                sizeof(errstr)) == ND_OK)
                                nd_catalog_put(cat, &prod);
                }
                fclose(f);
        }
        if (!(f = fopen(argv[2], "r"))) {
                perror(argv[2]);
                return 2;
        }
        arena = nd_malloc(arena_cap);
        off = nd_malloc((recs_cap + 1) * sizeof(*off));
        while ((len = getline(&line, &cap, f)) > 1) {
                nd_event_t ev;
                size_t used;
                if (nd_serde_decode_json(serde, line, (size_t)len - 1, &ev,
                                         errstr, sizeof(errstr)) != ND_OK) {
                        fprintf(stderr, "bench_engine: line %zu: %s\n", n + 1,
                                errstr);
                        return 1;
                }
                if (n == recs_cap) {
                        recs_cap *= 2;
                        off = nd_realloc(off, (recs_cap + 1) * sizeof(*off));
                }
                if (arena_len + 65536 > arena_cap) {
                        arena_cap *= 2;
                        arena = nd_realloc(arena, arena_cap);
                }
                if (nd_serde_encode_event(serde, &ev, arena + arena_len, 65536,
                                          &used) != ND_OK) {
                        fprintf(stderr,
                                "bench_engine: line %zu: cannot "
                                "encode\n",
                                n + 1);
                        return 1;
                }
                off[n++] = arena_len;
                arena_len += used;
        }
        off[n] = arena_len;
        fclose(f);
        free(line);

        for (int r = 0; r < rounds; r++) {
                nd_task_conf_t tc = {.cfg = cfg,
                                     .partition = 0,
                                     .sink = {on_emit, on_forward, &sink},
                                     .catalog = cat,
                                     .live = false};
                nd_task_t *task;
                int64_t t0 = nd_clock_mono_ns(), dt;
                nd_event_t ev;
                double v;

                for (size_t i = 0; i < n; i++)
                        if (nd_serde_decode(serde, arena + off[i],
                                            off[i + 1] - off[i], &ev, errstr,
                                            sizeof(errstr)) != ND_OK)
                                return 1;
                dt = nd_clock_mono_ns() - t0;
                v = (double)n * 1e9 / (double)dt;
                if (v > best_dec)
                        best_dec = v;

                task = nd_task_new(&tc);
                if (nd_task_start(task) != ND_OK)
                        return 1;
                sink.actions = sink.forwarded = 0;
                t0 = nd_clock_mono_ns();
                for (size_t i = 0; i < n; i++) {
                        nd_rec_t rec = {.topic = "bench", .offset = (int64_t)i};
                        if (nd_serde_decode(serde, arena + off[i],
                                            off[i + 1] - off[i], &ev, errstr,
                                            sizeof(errstr)) != ND_OK)
                                return 1;
                        rec.timestamp = ev.timestamp;
                        rec.key = ev.key.p;
                        rec.key_len = ev.key.len;
                        rec.value = arena + off[i];
                        rec.value_len = off[i + 1] - off[i];
                        rec.ev = &ev;
                        nd_task_process(task, &rec);
                }
                dt = nd_clock_mono_ns() - t0;
                v = (double)n * 1e9 / (double)dt;
                if (v > best_eng)
                        best_eng = v;
                nd_task_stats(task, &st);
                nd_task_destroy(task);
        }
        printf("{\"events\":%zu,\"avro_bytes_per_event\":%.1f,"
               "\"decode_per_s\":%.0f,\"engine_per_s\":%.0f,"
               "\"engine_without_decode_per_s\":%.0f,\"actions\":%" PRIu64
               ",\"forwarded\":%" PRIu64 ",\"customers\":%zu,"
               "\"state_bytes\":%zu,\"timers_pending\":%zu}\n",
               n, (double)arena_len / (double)n, best_dec, best_eng,
               1.0 / (1.0 / best_eng - 1.0 / best_dec), sink.actions,
               sink.forwarded, st.entries, st.bytes, st.timers_pending);
        nd_free(arena);
        nd_free(off);
        nd_serde_destroy(serde);
        nd_catalog_destroy(cat);
        nd_config_destroy(cfg);
        return 0;
}
