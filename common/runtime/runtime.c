/*
 * runtime.c — worker threads, tasks and the commit loop. OVERALL DESIGN
 *
 * Each worker thread owns an nd_kio_t (consumer + producer), an nd_serde_t,
 * a copy of the catalog, and the tasks (task.c) of the partition numbers
 * its consumer is assigned. Nothing is shared between workers, so the hot
 * path takes no locks. The loop:
 *
 *   1. take a batch of what has been fetched (at most processing.batch_size,
 *      waiting at most until the next commit is due);
 *   2. decode each record into a stack nd_event_t (zero-copy), check its key,
 *      and hand it to its task, which runs TRIGGERS.md §2's order; records
 *      that cannot be used go to the dead-letter topic with the reason in
 *      headers and do not touch the task (§5: no watermark, no activity);
 *   3. advance idle tasks' watermarks from the wall clock (hybrid clock);
 *   4. every processing.commit_interval: evict expired state, then commit.
 *      kio calls back before committing, and the tasks' changelog records
 *      are produced then, so actions, changelog and input offsets share one
 *      transaction under exactly-once.
 *
 * Assignment restores each new task from its changelog partitions before it
 * sees a record; revocation happens after kio committed. When a commit must
 * be aborted, kio rewinds the input to the committed offsets and the worker
 * rebuilds every task from its changelog, so state and input agree again.
 *
 * A record's writer schema may need the schema registry. While the registry
 * cannot be reached (a transient error), the record's task is held back:
 * kio puts the record and the task's later ones back in their buffers and
 * hands them out again after a backoff, nothing past them commits, and the
 * worker goes on with its other tasks (it never sleeps). A record that can
 * never be used is dead-lettered, or stops the worker before it
 * (errors.tolerance: stop); a transient error that lasts longer than
 * errors.retry_timeout counts as such.
 */
#include "runtime.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>

#include "clock.h"
#include "log.h"
#include "mem.h"
#include "runtime_int.h"

#define POLL_MAX_WAIT_MS 100
#define TOPIC_TIMEOUT_MS 15000
#define IDLE_CHECK_MS    50
#define EVICT_SLOTS      256
#define DLQ_LOG_PER_SEC  10
#define RETRY_FIRST_MS   25 /* a new schema id's fetch takes about this */
#define RETRY_MAX_MS     10000

static void paused_update(struct nd_worker *w);
static bool pause_next(struct nd_worker *w, struct nd_pause *ps, int64_t now,
                       const char *what, const char *text);
static void pause_end(struct nd_worker *w, struct nd_pause *ps,
                      const char *what);

/* ------------------------------------------------------------------ */
/* Outputs                                                             */

/*
 * An output (action, forwarded record, dead letter) could not be queued:
 * the next commit is abandoned (exactly-once aborts, at-least-once does
 * not commit) and the input is read again from the last commit, so no
 * offset is committed past a record whose output was lost.
 */
static void output_failed(struct nd_worker *w, nd_err_t err) {
        if (w->out_failed == ND_OK)
                w->out_failed = err;
}

/* Room left for key, headers and framing when a dead letter's value is
 * cut to the producer's limit. */
#define DLQ_OVERHEAD 65536

/* The largest value the producer may send with room for key and headers. */
static size_t output_max(struct nd_worker *w) {
        size_t max = nd_kio_max_message(w->kio);
        return max > 2 * DLQ_OVERHEAD ? max - DLQ_OVERHEAD : max / 2;
}

/*
 * An output no producer can take (an action encoded larger than the
 * producer's limit, a forwarded record over it): retrying cannot help, so
 * instead of abandoning the commit for ever it goes to the dead-letter
 * topic, header-only, saying what it was (OUTPUT_TOO_LARGE). kind is
 * "action" or "forwarded record"; inst names the trigger.
 */
static void output_dead_letter(struct nd_worker *w, int inst, const char *kind,
                               nd_str_t key, nd_str_t action_id, size_t size) {
        const nd_trigger_conf_t *tc = &w->rt->cfg->triggers[inst];
        const char *code = nd_err_name(ND_ERR_OUTPUT_TOO_LARGE);
        char text[512], sz[24];
        nd_kio_header_t hdrs[5] = {
            {"nudge.error.code", code, strlen(code)},
            {"nudge.error.text", text, 0},
            {"nudge.trigger.name", tc->name, strlen(tc->name)},
            {"nudge.source.size", sz, 0},
            {"nudge.action.id", action_id.p, action_id.len},
        };
        nd_err_t err;
        hdrs[1].size = (size_t)snprintf(
            text, sizeof(text),
            "%s of trigger %s (key %.*s) is %zu bytes, over the producer's "
            "limit of %zu (message.max.bytes less room for key and headers)",
            kind, tc->name, (int)(key.len > 64 ? 64 : key.len), key.p, size,
            output_max(w));
        hdrs[3].size = (size_t)snprintf(sz, sizeof(sz), "%zu", size);
        err = nd_kio_produce(w->kio, w->rt->cfg->topic_dead_letter, -1, key.p,
                             key.len, NULL, 0, hdrs,
                             nd_str_is_null(action_id) ? 4 : 5);
        if (err != ND_OK) {
                output_failed(w, err);
                return;
        }
        atomic_fetch_add_explicit(&w->dead_letter, 1, memory_order_relaxed);
        nd__rt_metrics_dlq(w, ND_ERR_OUTPUT_TOO_LARGE);
        nd_log_warn("runtime", "dead-lettered an output: %s", text);
}

static nd_err_t sink_emit(void *arg, nd_task_t *task, int inst,
                          const nd_action_t *act) {
        struct nd_worker *w = arg;
        const nd_config_t *cfg = w->rt->cfg;
        nd_str_t key = nd_action_key(act);
        char topic[300];
        const char *t = cfg->topic_actions;
        size_t len = 0;
        nd_err_t err;
        (void)task;

        err = nd_serde_encode_action(w->serde, act, w->abuf, w->abuf_cap, &len);
        if (err == ND_ERR_INVAL && len > w->abuf_cap) {
                /* WHY grow, not cut: the buffer follows the largest action
                 * seen (processors bound an action: docs/action-contract.md
                 * "Size"), so it is allocated a few times per life, never
                 * per event */
                if (len > output_max(w)) {
                        output_dead_letter(w, inst, "action", key,
                                           act->action_id, len);
                        return ND_ERR_OUTPUT_TOO_LARGE;
                }
                while (w->abuf_cap < len)
                        w->abuf_cap *= 2;
                nd_free(w->abuf);
                w->abuf = nd_malloc(w->abuf_cap);
                err = nd_serde_encode_action(w->serde, act, w->abuf,
                                             w->abuf_cap, &len);
        }
        if (err != ND_OK) {
                /* a required field missing: a processor's bug, the same
                 * every time; retrying the input would not help */
                nd_log_error("runtime", "encoding an action of %.*s: %s",
                             (int)act->trigger_name.len, act->trigger_name.p,
                             nd_err_str(err));
                return err;
        }
        if (cfg->actions_per_channel) {
                snprintf(topic, sizeof(topic), "%s.%s", cfg->topic_actions,
                         nd_channel_name(act->channel));
                t = topic;
        }
        err = nd_kio_produce(w->kio, t, -1, key.p, key.len, w->abuf, len, NULL,
                             0);
        if (err == ND_ERR_BAD_LENGTH) {
                output_dead_letter(w, inst, "action", key, act->action_id, len);
                return err;
        }
        if (err != ND_OK) {
                output_failed(w, err);
                return err;
        }
        atomic_fetch_add_explicit(&w->records_out, 1, memory_order_relaxed);
        nd_counter_add(w->m_actions[inst], 1);
        if (w->rt->tap)
                w->rt->tap(w->rt->tap_arg, act);
        return ND_OK;
}

static nd_err_t sink_forward(void *arg, nd_task_t *task, int inst,
                             const void *key, size_t key_len, const void *value,
                             size_t value_len) {
        struct nd_worker *w = arg;
        nd_err_t err = nd_kio_produce(w->kio, w->rt->cfg->topic_actions, -1,
                                      key, key_len, value, value_len, NULL, 0);
        (void)task;
        if (err == ND_ERR_BAD_LENGTH) {
                output_dead_letter(w, inst, "forwarded record",
                                   (nd_str_t){key, (uint32_t)key_len},
                                   (nd_str_t){NULL, 0}, value_len);
                return err;
        }
        if (err != ND_OK) {
                output_failed(w, err);
                return err;
        }
        atomic_fetch_add_explicit(&w->records_out, 1, memory_order_relaxed);
        nd_counter_add(w->m_actions[inst], 1);
        return ND_OK;
}

/* Returns what the produce returned: not ND_OK means the record was not
 * dead-lettered (for an event, the commit is abandoned; the catalog holds
 * the record back and retries it). */
static nd_err_t dead_letter(struct nd_worker *w, const nd_rec_t *rec,
                            nd_err_t err, const char *text) {
        char part[16], off[24], size[24];
        const char *code = nd_err_name(err);
        int64_t now = nd_clock_mono_ms();
        size_t max, vlen = rec->value_len;
        nd_kio_header_t hdrs[6] = {
            {"nudge.error.code", code, strlen(code)},
            {"nudge.error.text", text, strlen(text)},
            {"nudge.source.topic", rec->topic, strlen(rec->topic)},
            {"nudge.source.partition", part, 0},
            {"nudge.source.offset", off, 0},
            {"nudge.source.size", size, 0},
        };
        nd_err_t perr;
        hdrs[3].size =
            (size_t)snprintf(part, sizeof(part), "%d", (int)rec->partition);
        hdrs[4].size =
            (size_t)snprintf(off, sizeof(off), "%" PRId64, rec->offset);
        hdrs[5].size = (size_t)snprintf(size, sizeof(size), "%zu", vlen);
        /* WHY cut, not drop: a record the broker took can be larger than
         * the producer may send (message.max.bytes); the dead letter then
         * keeps the head of the value, and its size and coordinates say
         * where the whole one is. */
        max = output_max(w);
        if (vlen > max)
                vlen = max;
        perr = nd_kio_produce(w->kio, w->rt->cfg->topic_dead_letter,
                              rec->partition, rec->key, rec->key_len,
                              rec->value, vlen, hdrs, 6);
        if (perr != ND_OK) {
                nd_log_error("runtime",
                             "could not dead-letter %s [%d] @%" PRId64
                             ": %s; the record is read again",
                             rec->topic, (int)rec->partition, rec->offset,
                             nd_err_str(perr));
                output_failed(w, perr);
                return perr;
        }
        atomic_fetch_add_explicit(&w->dead_letter, 1, memory_order_relaxed);
        nd__rt_metrics_dlq(w, err);
        /* WHY a rate limit: a poisoned topic must not drown the log. */
        if (now - w->dlq_log_window >= 1000) {
                if (w->dlq_log_cnt > DLQ_LOG_PER_SEC)
                        nd_log_warn("runtime",
                                    "%d more records dead-lettered in the "
                                    "last second",
                                    w->dlq_log_cnt - DLQ_LOG_PER_SEC);
                w->dlq_log_window = now;
                w->dlq_log_cnt = 0;
        }
        if (w->dlq_log_cnt++ < DLQ_LOG_PER_SEC)
                nd_log_warn(
                    "runtime", "dead-lettered %s [%d] @%" PRId64 ": %s: %s",
                    rec->topic, (int)rec->partition, rec->offset, code, text);
        return ND_OK;
}

/* ------------------------------------------------------------------ */
/* Changelog and restore                                               */

struct log_arg {
        struct nd_worker *w;
        nd_task_t *task;
};

/*
 * One changelog record. One the producer can never send (a customer whose
 * state in all triggers together is larger than message.max.bytes) is
 * skipped, loudly: failing the commit would fail every retry the same way,
 * for ever. The customer's state stays in memory; a restore brings back the
 * previous version of the record (docs/operations.md, "Sizing").
 */
static nd_err_t log_one(void *arg, const void *key, size_t klen,
                        const void *value, size_t vlen) {
        struct log_arg *la = arg;
        struct nd_worker *w = la->w;
        nd_err_t err = nd_kio_produce(w->kio, w->rt->changelog,
                                      nd_task_partition(la->task), key, klen,
                                      value, vlen, NULL, 0);
        if (err != ND_ERR_BAD_LENGTH)
                return err;
        atomic_fetch_add_explicit(&w->changelog_too_large, 1,
                                  memory_order_relaxed);
        nd_log_error("runtime",
                     "worker %d: the state of customer %.*s is %zu bytes, "
                     "more than the producer may send: not written to the "
                     "changelog (it stays in memory; a restore brings back "
                     "its previous version). Raise "
                     "kafka.producer.message.max.bytes and the changelog "
                     "topic's max.message.bytes",
                     w->idx, (int)(klen > 64 ? 64 : klen), (const char *)key,
                     vlen);
        return ND_OK;
}

static nd_err_t before_commit(void *arg) {
        struct nd_worker *w = arg;
        if (w->out_failed != ND_OK) {
                nd_err_t err = w->out_failed;
                nd_log_warn("runtime",
                            "worker %d: an output could not be produced "
                            "(%s): abandoning this commit, the input is read "
                            "again from the last one",
                            w->idx, nd_err_str(err));
                w->out_failed = ND_OK;
                return err;
        }
        for (int p = 0; p < w->task_cap; p++) {
                struct log_arg la = {w, w->tasks[p]};
                nd_err_t err;
                if (!w->tasks[p])
                        continue;
                if ((err = nd_task_flush(w->tasks[p], log_one, &la)) != ND_OK)
                        return err;
        }
        return ND_OK;
}

/*
 * A failpoint for tests: while the file named by the environment variable
 * `name` exists, wait here (bounded by a stop request). It lets a test
 * observe a state (readiness false while restoring) without racing a
 * timer. Unset in production: one getenv() per restore.
 */
static void failpoint_hold(struct nd_worker *w, const char *name) {
        const char *path = getenv(name);
        struct timespec ts = {0, 50 * 1000000L};
        if (!path || access(path, F_OK) != 0)
                return;
        nd_log_warn("runtime", "failpoint %s: holding while %s exists", name,
                    path);
        while (access(path, F_OK) == 0 && !atomic_load(&w->rt->stop))
                nanosleep(&ts, NULL);
}

struct restore_arg {
        struct nd_worker *w;
        uint64_t *applied; /* entries per instance */
        uint64_t bad;
};

static void restore_one(void *arg, const nd_rec_t *rec) {
        struct restore_arg *ra = arg;
        nd_task_t *task = rec->partition < ra->w->task_cap
                              ? ra->w->tasks[rec->partition]
                              : NULL;
        if (task && nd_task_restore(task, rec->key, rec->key_len, rec->value,
                                    rec->value_len, ra->applied) != ND_OK)
                ra->bad++;
}

/*
 * Reads the changelog partitions parts[] to their ends into the (new, not
 * yet started) tasks of those partitions: one reader for all of them, so a
 * large assignment restores in parallel fetches rather than one partition
 * after another.
 */
static nd_err_t restore_tasks(struct nd_worker *w, const int32_t *parts,
                              int part_cnt) {
        const nd_config_t *cfg = w->rt->cfg;
        int n = nd_task_has_state(cfg) ? 1 : 0;
        const char *names[1] = {w->rt->changelog};
        struct restore_arg ra = {
            w, nd_calloc((size_t)(cfg->trigger_cnt + 1), sizeof(uint64_t)), 0};
        nd_kio_client_t *cl = NULL;
        char errstr[512];
        int64_t start = nd_clock_mono_ms(), last_log = start, read = 0, total;
        nd_err_t err = ND_OK;

        if (n == 0 || part_cnt == 0)
                goto out;
        cl = nd_kio_table_new(cfg, w->rt->bootstrap, names, n, parts, part_cnt,
                              errstr, sizeof(errstr));
        if (!cl) {
                nd_log_error("runtime", "restore: %s", errstr);
                err = ND_ERR_KAFKA;
                goto out;
        }
        nd_kio_table_progress(cl, &read, &total);
        atomic_store(&w->restore_remaining, total);
        /* Size the stores up front: the end offsets bound the number of
         * customers per partition (tombstones, older versions of a key and
         * customers that only some instances track make it an
         * overestimate). */
        for (int i = 0; i < part_cnt && total > 0; i++)
                if (w->tasks[parts[i]])
                        nd_task_reserve(w->tasks[parts[i]],
                                        (size_t)(total / part_cnt));
        failpoint_hold(w, "NUDGE_FAILPOINT_RESTORE_HOLD");
        while (!nd_kio_table_loaded(cl)) {
                int64_t now = nd_clock_mono_ms();
                nd_kio_client_read(cl, 10000, 100, restore_one, &ra);
                nd_kio_table_progress(cl, &read, &total);
                atomic_store(&w->restore_remaining,
                             total > read ? total - read : 0);
                if (atomic_load(&w->rt->stop)) {
                        err = ND_ERR_SHUTDOWN;
                        goto out;
                }
                if (now - last_log >= 2000) {
                        nd_kio_table_progress(cl, &read, &total);
                        nd_log_info(
                            "runtime",
                            "worker %d: restoring %d partitions: %" PRId64
                            " of ~%" PRId64 " changelog records",
                            w->idx, part_cnt, read, total);
                        last_log = now;
                }
        }
        nd_kio_table_progress(cl, &read, &total);
        atomic_fetch_add(&w->restored, (unsigned long long)read);
out:
        atomic_store(&w->restore_remaining, 0);
        nd_kio_client_destroy(cl);
        for (int i = 0; i < part_cnt; i++) {
                nd_task_t *task = w->tasks[parts[i]];
                nd_task_stats_t st;
                if (!task)
                        continue;
                nd_task_restored(task);
                if (n == 0)
                        continue;
                nd_task_stats(task, &st);
                nd_log_info("runtime",
                            "partition %d restored: %zu entries, %zu timers, "
                            "watermark %" PRId64,
                            (int)parts[i], st.entries, st.timers_pending,
                            st.watermark);
        }
        if (n > 0 && part_cnt > 0)
                nd_log_info("runtime",
                            "worker %d: restored %d partitions from %" PRId64
                            " changelog records in %lld ms%s",
                            w->idx, part_cnt, read,
                            (long long)(nd_clock_mono_ms() - start),
                            ra.bad ? " (bad records skipped)" : "");
        for (int i = 0; i < cfg->trigger_cnt; i++)
                if (ra.applied[i])
                        nd_counter_add(w->m_restored[i], ra.applied[i]);
        nd_free(ra.applied);
        return err;
}

/* ------------------------------------------------------------------ */
/* Tasks                                                               */

/* Creates the task of p (not restored, not started). */
static void task_create(struct nd_worker *w, int32_t p) {
        nd_task_conf_t tc = {.cfg = w->rt->cfg,
                             .partition = p,
                             .sink = {sink_emit, sink_forward, w},
                             .catalog = w->catalog,
                             .live = true};
        nd_task_t *task;
        if (p >= w->task_cap) {
                int cap = w->task_cap ? w->task_cap : 16;
                while (cap <= p)
                        cap *= 2;
                w->tasks =
                    nd_realloc(w->tasks, (size_t)cap * sizeof(*w->tasks));
                w->last_rec_ms =
                    nd_realloc(w->last_rec_ms, (size_t)cap * sizeof(int64_t));
                w->pause =
                    nd_realloc(w->pause, (size_t)cap * sizeof(*w->pause));
                memset(w->tasks + w->task_cap, 0,
                       (size_t)(cap - w->task_cap) * sizeof(*w->tasks));
                memset(w->pause + w->task_cap, 0,
                       (size_t)(cap - w->task_cap) * sizeof(*w->pause));
                w->task_cap = cap;
        }
        if (w->tasks[p])
                return;
        task = nd_task_new(&tc);
        w->tasks[p] = task;
        w->last_rec_ms[p] = nd_clock_wall_ms();
        w->task_cnt++;
        atomic_store(&w->tasks_alive, w->task_cnt);
}

static void task_close(struct nd_worker *w, int32_t p) {
        if (p >= w->task_cap || !w->tasks[p])
                return;
        nd_task_destroy(w->tasks[p]);
        w->tasks[p] = NULL;
        w->task_cnt--;
        atomic_store(&w->tasks_alive, w->task_cnt);
}

/* Creates, restores and starts the tasks of parts[] that are new. */
static void tasks_open(struct nd_worker *w, const int32_t *parts, int cnt) {
        int32_t *fresh = nd_calloc((size_t)(cnt ? cnt : 1), sizeof(*fresh));
        int n = 0;
        for (int i = 0; i < cnt; i++)
                if (parts[i] >= w->task_cap || !w->tasks[parts[i]]) {
                        task_create(w, parts[i]);
                        fresh[n++] = parts[i];
                }
        restore_tasks(w, fresh, n);
        for (int i = 0; i < n; i++)
                nd_task_start(w->tasks[fresh[i]]);
        nd_free(fresh);
}

static void on_assign(void *arg, const int32_t *parts, int cnt) {
        struct nd_worker *w = arg;
        atomic_fetch_add(&w->rebalances, 1);
        nd_counter_add(w->rt->m_rebalance[ND_RT_REBALANCE_ASSIGN], 1);
        atomic_store(&w->ready, false);
        tasks_open(w, parts, cnt);
        atomic_store(&w->ready, true);
        nd_log_info("runtime", "worker %d: %d tasks", w->idx, w->task_cnt);
}

static void on_revoke(void *arg, const int32_t *parts, int cnt, bool lost) {
        struct nd_worker *w = arg;
        atomic_fetch_add(&w->rebalances, 1);
        nd_counter_add(w->rt->m_rebalance[lost ? ND_RT_REBALANCE_LOST
                                               : ND_RT_REBALANCE_REVOKE],
                       1);
        for (int i = 0; i < cnt; i++) {
                task_close(w, parts[i]);
                if (parts[i] < w->task_cap)
                        memset(&w->pause[parts[i]], 0, sizeof(*w->pause));
        }
        paused_update(w);
        nd_log_info("runtime", "worker %d: %d tasks after %s", w->idx,
                    w->task_cnt, lost ? "losing partitions" : "revocation");
}

/* After an aborted commit: state must match the rewound input again. */
static void rebuild_tasks(struct nd_worker *w) {
        nd_log_warn("runtime",
                    "worker %d: rebuilding %d tasks from their "
                    "changelog after an aborted commit",
                    w->idx, w->task_cnt);
        int32_t *parts =
            nd_calloc((size_t)(w->task_cap ? w->task_cap : 1), sizeof(*parts));
        int n = 0;
        for (int32_t p = 0; p < w->task_cap; p++)
                if (w->tasks[p]) {
                        task_close(w, p);
                        parts[n++] = p;
                }
        tasks_open(w, parts, n);
        nd_free(parts);
}

static void tasks_destroy_all(struct nd_worker *w) {
        for (int32_t p = 0; p < w->task_cap; p++)
                task_close(w, p);
        nd_free(w->tasks);
        nd_free(w->last_rec_ms);
        nd_free(w->pause);
        w->tasks = NULL;
        w->last_rec_ms = NULL;
        w->pause = NULL;
        w->task_cap = 0;
}

/* ------------------------------------------------------------------ */
/* The catalog                                                         */

static void catalog_one(void *arg, const nd_rec_t *rec) {
        struct nd_worker *w = arg;
        struct nd_pause *ps = &w->catalog_pause;
        nd_product_rec_t prod;
        char errstr[256], what[300];
        int64_t now = nd_clock_mono_ms();
        nd_err_t err;
        if (ps->since && now < ps->until) {
                nd_kio_client_unread(w->catalog_reader, rec);
                return; /* held back with an earlier record */
        }
        if (!rec->value) {
                nd_catalog_delete(w->catalog,
                                  (nd_str_t){rec->key, (uint32_t)rec->key_len});
                return;
        }
        err =
            w->rt->cfg->input_format == ND_FORMAT_JSON
                ? nd_serde_decode_product_json(w->serde, rec->value,
                                               rec->value_len, &prod, errstr,
                                               sizeof(errstr))
                : nd_serde_decode_product(w->serde, rec->value, rec->value_len,
                                          &prod, errstr, sizeof(errstr));
        if (err == ND_OK)
                err = nd_catalog_put(w->catalog, &prod);
        snprintf(what, sizeof(what), "the catalog (at %s [%d] offset %lld)",
                 rec->topic, (int)rec->partition, (long long)rec->offset);
        if (err != ND_OK && nd_err_class(err) == ND_ERR_CLASS_RETRIABLE &&
            pause_next(w, ps, now, what, errstr)) {
                nd_kio_client_unread(w->catalog_reader, rec);
                paused_update(w);
                return;
        }
        if (err != ND_OK && w->rt->cfg->errors_tolerance == ND_TOLERANCE_STOP) {
                nd_log_error("runtime",
                             "worker %d: %s [%d] offset %lld cannot be used "
                             "(%s: %s); errors.tolerance is stop: stopping",
                             w->idx, rec->topic, (int)rec->partition,
                             (long long)rec->offset, nd_err_name(err), errstr);
                nd_kio_client_unread(w->catalog_reader, rec);
                ps->until = INT64_MAX; /* nothing more from the catalog */
                if (w->err == ND_OK)
                        w->err = ND_ERR_INPUT_STOP;
                return;
        }
        if (err != ND_OK && dead_letter(w, rec, err, errstr) != ND_OK &&
            pause_next(w, ps, now, what, "the dead-letter topic")) {
                nd_kio_client_unread(w->catalog_reader, rec);
                paused_update(w);
                return;
        }
        if (ps->since && (err == ND_OK || !ps->expired))
                pause_end(w, ps, "the catalog");
}

/* Reads what the catalog topic has, unless a transient error holds it. */
static void catalog_read(struct nd_worker *w, int max, int timeout_ms) {
        int64_t now = nd_clock_mono_ms();
        if (w->catalog_pause.since && now < w->catalog_pause.until) {
                int64_t left = w->catalog_pause.until - now;
                if (timeout_ms > 0) { /* catalog_load: nothing else to do */
                        struct timespec ts = {0, (left < 100 ? left : 100) *
                                                     1000000L};
                        nanosleep(&ts, NULL);
                }
                return;
        }
        nd_kio_client_read(w->catalog_reader, max, timeout_ms, catalog_one, w);
}

static nd_err_t catalog_load(struct nd_worker *w) {
        const nd_config_t *cfg = w->rt->cfg;
        const char *topics[1] = {cfg->topic_catalog};
        char errstr[512];
        int64_t start = nd_clock_mono_ms();
        w->catalog_reader = nd_kio_table_new(cfg, w->rt->bootstrap, topics, 1,
                                             NULL, 0, errstr, sizeof(errstr));
        if (!w->catalog_reader) {
                nd_log_error("runtime", "catalog %s: %s", cfg->topic_catalog,
                             errstr);
                return ND_ERR_KAFKA;
        }
        while (!nd_kio_table_loaded(w->catalog_reader)) {
                catalog_read(w, 10000, 100);
                if (atomic_load(&w->rt->stop))
                        return ND_ERR_SHUTDOWN;
                if (w->err != ND_OK)
                        return w->err;
        }
        nd_log_info("runtime",
                    "worker %d: catalog loaded: %zu products in "
                    "%lld ms",
                    w->idx, nd_catalog_count(w->catalog),
                    (long long)(nd_clock_mono_ms() - start));
        return ND_OK;
}

/* ------------------------------------------------------------------ */
/* The worker loop                                                     */

static nd_err_t decode(struct nd_worker *w, const nd_rec_t *rec, nd_event_t *ev,
                       char *errstr, size_t errstr_size) {
        nd_err_t err;
        if (!rec->value)
                return nd_err_fmt(errstr, errstr_size, ND_ERR_BAD_RECORD,
                                  "null value (tombstone) on an event topic");
        err = w->rt->cfg->input_format == ND_FORMAT_JSON
                  ? nd_serde_decode_json(w->serde, rec->value, rec->value_len,
                                         ev, errstr, errstr_size)
                  : nd_serde_decode(w->serde, rec->value, rec->value_len, ev,
                                    errstr, errstr_size);
        if (err != ND_OK)
                return err;
        return nd_serde_check_key(ev, rec->key, rec->key_len, errstr,
                                  errstr_size);
}

/* ------------------------------------------------------------------ */
/* Input that cannot be used: transient (hold) or not (dead letter)    */

/* Recounts the topic-partitions held back, for nudge_partitions_paused
 * and /readyz (the catalog counts as one). */
static void paused_update(struct nd_worker *w) {
        int n = w->catalog_pause.since ? 1 : 0;
        if (w->catalog_pause.expired)
                n = 0;
        for (int32_t p = 0; p < w->task_cap; p++)
                if (w->pause[p].since && !w->pause[p].expired)
                        n += nd_kio_task_partitions(w->kio, p);
        atomic_store(&w->paused, n);
}

/* A transient error on what pause stands for: the next wait, or false
 * when errors.retry_timeout ran out (the error is then permanent). The
 * first failure is not logged: a schema id seen for the first time fails
 * once, while the registry is asked (RETRY_FIRST_MS later it is there). */
static bool pause_next(struct nd_worker *w, struct nd_pause *ps, int64_t now,
                       const char *what, const char *text) {
        int64_t bound = w->rt->cfg->errors_retry_timeout_ms;
        if (!ps->since) {
                ps->since = now;
                ps->backoff = RETRY_FIRST_MS;
        } else if (bound && now - ps->since >= bound) {
                /* spent: what fails the same way until something works is
                 * permanent at once, not after another bound each */
                if (!ps->expired) {
                        nd_log_error("runtime",
                                     "worker %d: %s: still failing after "
                                     "%lld ms (errors.retry_timeout): %s; "
                                     "records that fail so are now treated "
                                     "per errors.tolerance until one "
                                     "succeeds",
                                     w->idx, what, (long long)(now - ps->since),
                                     text);
                        ps->expired = true;
                        ps->told = true;
                        paused_update(w);
                }
                return false;
        } else {
                if (!ps->told)
                        nd_log_warn("runtime",
                                    "worker %d: %s paused: %s; retrying with "
                                    "backoff (for at most "
                                    "errors.retry_timeout: %lld ms, 0: no "
                                    "bound), nothing after it is committed "
                                    "meanwhile",
                                    w->idx, what, text, (long long)bound);
                ps->told = true;
                ps->backoff *= 2;
                if (ps->backoff > RETRY_MAX_MS)
                        ps->backoff = RETRY_MAX_MS;
        }
        ps->until = now + ps->backoff;
        atomic_fetch_add_explicit(&w->retries, 1, memory_order_relaxed);
        return true;
}

static void pause_end(struct nd_worker *w, struct nd_pause *ps,
                      const char *what) {
        if (!ps->since)
                return;
        if (ps->told)
                nd_log_info("runtime", "worker %d: %s resumed after %lld ms",
                            w->idx, what,
                            (long long)(nd_clock_mono_ms() - ps->since));
        memset(ps, 0, sizeof(*ps));
        paused_update(w);
}

/*
 * recs[k] cannot be used. A transient error holds its task back (kio
 * hands it out again after the backoff); a permanent one dead-letters it,
 * or, under errors.tolerance: stop, holds every record from it on and ends
 * the worker (w->err), which then commits what came before.
 */
static void bad_input(struct nd_worker *w, nd_rec_t *recs, int n, int k,
                      nd_err_t err, const char *text) {
        nd_rec_t *rec = &recs[k];
        int32_t p = rec->partition;
        int64_t now = nd_clock_mono_ms();
        char what[320], why[640];

        snprintf(what, sizeof(what), "task %d (at %s [%d] offset %lld)", (int)p,
                 rec->topic, (int)p, (long long)rec->offset);
        if (nd_err_class(err) == ND_ERR_CLASS_RETRIABLE) {
                if (pause_next(w, &w->pause[p], now, what, text)) {
                        nd_kio_hold(w->kio, recs, n, k, w->pause[p].until);
                        paused_update(w);
                        return;
                }
                snprintf(why, sizeof(why),
                         "%s (still failing after errors.retry_timeout)", text);
                text = why;
        }
        if (w->rt->cfg->errors_tolerance == ND_TOLERANCE_STOP) {
                nd_log_error("runtime",
                             "worker %d: %s [%d] offset %lld cannot be used "
                             "(%s: %s); errors.tolerance is stop: committing "
                             "what came before it and stopping",
                             w->idx, rec->topic, (int)p, (long long)rec->offset,
                             nd_err_name(err), text);
                for (int j = k; j < n; j++)
                        if (recs[j].topic)
                                nd_kio_hold(w->kio, recs, n, j, INT64_MAX);
                w->err = ND_ERR_INPUT_STOP;
                return;
        }
        dead_letter(w, rec, err, text);
        if (!w->pause[p].expired)
                pause_end(w, &w->pause[p], what);
}

/*
 * kio's timestamp callback: the event time by which a task's partitions
 * are merged (kio_group.c), read once per record as it is consumed. A
 * record that does not decode goes first (INT64_MIN) and is dead-lettered
 * when processed; no retry here, the processing path retries.
 */
static int64_t rec_timestamp(void *arg, const nd_rec_t *rec) {
        struct nd_worker *w = arg;
        nd_event_t ev;
        char errstr[8];
        nd_err_t err;
        if (!rec->value)
                return INT64_MIN;
        err = w->rt->cfg->input_format == ND_FORMAT_JSON
                  ? nd_serde_decode_json(w->serde, rec->value, rec->value_len,
                                         &ev, errstr, sizeof(errstr))
                  : nd_serde_decode(w->serde, rec->value, rec->value_len, &ev,
                                    errstr, sizeof(errstr));
        return err == ND_OK ? ev.timestamp : INT64_MIN;
}

/* The ND_TOPIC_* of rec's event topic (-1: none); pointer compare first,
 * as librdkafka hands out one name pointer per topic. */
static int topic_index(struct nd_worker *w, const nd_rec_t *rec) {
        for (int i = 0; i < ND_TOPIC__CNT; i++)
                if (rec->topic == w->topic_ptr[i])
                        return i;
        for (int i = 0; i < ND_TOPIC__CNT; i++)
                if (!strcmp(rec->topic, w->rt->event_topics[i])) {
                        w->topic_ptr[i] = rec->topic;
                        return i;
                }
        return -1;
}

/*
 * Applies a batch: kio hands the records out in each task's order
 * (kio_group.c: merged by event time across the task's partitions, held
 * back while a partition has not reached its end), so they go to their
 * tasks as they come.
 */
static void process_batch(struct nd_worker *w, nd_rec_t *recs, int n) {
        int64_t now = nd_clock_wall_ms();
        char errstr[512];
        int done = 0;
        for (int k = 0; k < n && w->err == ND_OK; k++) {
                nd_rec_t *rec = &recs[k];
                nd_task_t *task;
                nd_event_t ev;
                nd_err_t err;
                if (!rec->topic)
                        continue; /* held back (nd_kio_hold) */
                task = rec->partition < w->task_cap ? w->tasks[rec->partition]
                                                    : NULL;
                if (!task)
                        continue; /* kio hands out assigned partitions only */
                errstr[0] = '\0';
                err = decode(w, rec, &ev, errstr, sizeof(errstr));
                if (err == ND_OK &&
                    (int)nd_event_type_topic_of(ev.type) != topic_index(w, rec))
                        err = nd_err_fmt(
                            errstr, sizeof(errstr), ND_ERR_WRONG_TOPIC,
                            "a %s event on %s (its topic: %s)",
                            nd_event_type_name(ev.type), rec->topic,
                            w->rt->event_topics[nd_event_type_topic_of(
                                ev.type)]);
                if (err != ND_OK) {
                        bad_input(w, recs, n, k, err,
                                  errstr[0] ? errstr : nd_err_str(err));
                        continue;
                }
                if (w->pause[rec->partition].since) {
                        char what[32];
                        snprintf(what, sizeof(what), "task %d",
                                 (int)rec->partition);
                        pause_end(w, &w->pause[rec->partition], what);
                }
                rec->ev = &ev;
                nd__rt_metrics_event(w, rec, &ev);
                nd_task_process(task, rec);
                rec->ev = NULL;
                w->last_rec_ms[rec->partition] = now;
                done++;
        }
        atomic_fetch_add_explicit(&w->records_in, (unsigned long long)done,
                                  memory_order_relaxed);
}

static void idle_tasks(struct nd_worker *w) {
        int64_t now = nd_clock_wall_ms();
        int64_t after = w->rt->cfg->idle_advance_after_ms;
        for (int32_t p = 0; p < w->task_cap; p++) {
                size_t fired;
                if (!w->tasks[p] || now - w->last_rec_ms[p] < after)
                        continue;
                fired = nd_task_idle(w->tasks[p], now, w->last_rec_ms[p],
                                     nd_kio_partition_caught_up(w->kio, p));
                if (fired)
                        atomic_fetch_add(&w->timers_fired, fired);
        }
}

/* True when a task has state changes for the changelog (timers that fired
 * on the idle clock change state without any record consumed). */
static bool changes_pending(struct nd_worker *w) {
        for (int32_t p = 0; p < w->task_cap; p++)
                if (w->tasks[p] && nd_task_pending_changes(w->tasks[p]))
                        return true;
        return false;
}

/* Returns true when the worker must end (fatal). */
static bool commit(struct nd_worker *w) {
        nd_err_t err;
        for (int32_t p = 0; p < w->task_cap; p++)
                if (w->tasks[p])
                        nd_task_evict(w->tasks[p], EVICT_SLOTS);
        nd__rt_metrics_publish(w);
        if (!nd_kio_has_pending(w->kio) && !changes_pending(w))
                return false;
        err = nd_kio_commit(w->kio);
        switch (err) {
        case ND_OK:
                atomic_fetch_add_explicit(&w->commits, 1, memory_order_relaxed);
                nd_counter_add(w->rt->m_txn_committed, 1);
                nd_histogram_observe(w->rt->m_commit_seconds,
                                     nd_kio_last_commit_ns(w->kio) / 1e9);
                return false;
        case ND_ERR_ABORTABLE:
                atomic_fetch_add_explicit(&w->aborts, 1, memory_order_relaxed);
                nd_counter_add(w->rt->m_txn_aborted, 1);
                rebuild_tasks(w);
                return false;
        case ND_ERR_KAFKA:
                atomic_fetch_add_explicit(&w->aborts, 1, memory_order_relaxed);
                nd_counter_add(w->rt->m_txn_aborted, 1);
                return false;
        default:
                /* fenced or fatal: worker_main starts the worker over
                 * (rejoin()) or, past processing.rejoin_timeout, ends it */
                w->err = err;
                return true;
        }
}

/* Waits up to ms, or less when a stop is requested. */
static void backoff(struct nd_worker *w, int64_t ms) {
        int64_t until = nd_clock_mono_ms() + ms;
        struct timespec ts = {0, 50 * 1000000L};
        while (nd_clock_mono_ms() < until && !atomic_load(&w->rt->stop))
                nanosleep(&ts, NULL);
}

/*
 * After a fatal client error (err: from nd_kio_poll() or commit()): the
 * worker starts over as a restart would, within processing.rejoin_timeout
 * counted from the first such error since it last committed. Its tasks
 * are closed (their state holds the effects of records after the
 * committed offsets; the new assignment restores them from the
 * changelog), and kio recreates the consumer and the producer
 * (nd_kio_rejoin(): under exactly-once that aborts the open transaction)
 * until it succeeds, with backoff. Each attempt is logged with its reason
 * and counted. Returns true when the worker has new clients and goes on;
 * false with w->err set when the bound is spent (or 0), or a stop was
 * requested.
 */
static bool rejoin(struct nd_worker *w, nd_err_t err) {
        const nd_config_t *cfg = w->rt->cfg;
        int64_t bound = cfg->rejoin_timeout_ms, delay = 500;
        char why[600], buf[512], errstr[512];
        const char *reason = nd_kio_fatal_reason(w->kio, buf, sizeof(buf));

        snprintf(why, sizeof(why), "%s", reason ? reason : nd_err_str(err));
        if (!w->rejoin_since) {
                w->rejoin_since = nd_clock_mono_ms();
                w->rejoin_attempts = 0;
        }
        atomic_store(&w->ready, false);
        for (int32_t p = 0; p < w->task_cap; p++) {
                task_close(w, p);
                memset(&w->pause[p], 0, sizeof(w->pause[p])); /* kio's too */
        }
        paused_update(w);
        w->out_failed = ND_OK;
        /* the new consumer's topic names are other pointers */
        memset(w->topic_ptr, 0, sizeof(w->topic_ptr));
        for (;;) {
                int64_t left = w->rejoin_since + bound - nd_clock_mono_ms();
                if (left <= 0 || atomic_load(&w->rt->stop)) {
                        nd_log_error(
                            "runtime",
                            "worker %d: %s: %s after %d attempts in %lld "
                            "ms (processing.rejoin_timeout: %lld ms)",
                            w->idx, why,
                            atomic_load(&w->rt->stop) ? "stopping"
                                                      : "giving up",
                            w->rejoin_attempts,
                            (long long)(nd_clock_mono_ms() - w->rejoin_since),
                            (long long)bound);
                        w->err = err;
                        return false;
                }
                w->rejoin_attempts++;
                nd_log_warn("runtime",
                            "worker %d: %s: recreating its consumer and "
                            "producer and rejoining the group (attempt %d; "
                            "%lld ms left of processing.rejoin_timeout)",
                            w->idx, why, w->rejoin_attempts, (long long)left);
                nd_counter_add(w->rt->m_recreated, 1);
                if (nd_kio_rejoin(w->kio, errstr, sizeof(errstr)) == ND_OK) {
                        w->err = ND_OK;
                        return true;
                }
                snprintf(why, sizeof(why), "new clients: %s", errstr);
                backoff(w, delay < left ? delay : left);
                if (delay < 8000)
                        delay *= 2;
        }
}

/* The worker committed (or had nothing to) with its partitions since it
 * rejoined: the next fatal error gets the whole bound again. */
static void rejoined(struct nd_worker *w) {
        nd_log_info("runtime",
                    "worker %d: rejoined and committing again, %lld ms "
                    "after the first fatal error (%d attempts)",
                    w->idx, (long long)(nd_clock_mono_ms() - w->rejoin_since),
                    w->rejoin_attempts);
        w->rejoin_since = 0;
        w->rejoin_attempts = 0;
}

static void *worker_main(void *arg) {
        struct nd_worker *w = arg;
        nd_runtime_t *rt = w->rt;
        const nd_config_t *cfg = rt->cfg;
        nd_rec_t *recs = nd_calloc((size_t)cfg->batch_size, sizeof(*recs));
        int64_t next_commit = nd_clock_mono_ms() + cfg->commit_interval_ms;
        int64_t last_idle = 0;
        int n;

        if (catalog_load(w) != ND_OK) {
                if (w->err != ND_OK)
                        goto out; /* errors.tolerance: stop */
                nd_log_warn("runtime", "worker %d: running without a catalog",
                            w->idx);
                nd_kio_client_destroy(w->catalog_reader);
                w->catalog_reader = NULL;
        }
        if (nd_kio_subscribe(w->kio, rt->event_topics, ND_TOPIC__CNT) !=
            ND_OK) {
                w->err = ND_ERR_KAFKA;
                goto out;
        }
        while (!atomic_load_explicit(&rt->stop, memory_order_relaxed)) {
                int64_t now = nd_clock_mono_ms();
                int64_t wait = next_commit - now;
                if (wait < 0)
                        wait = 0;
                if (wait > POLL_MAX_WAIT_MS)
                        wait = POLL_MAX_WAIT_MS;
                n = nd_kio_poll(w->kio, recs, (int)cfg->batch_size, (int)wait);
                if (n < 0) {
                        if (rejoin(w, (nd_err_t)n))
                                continue;
                        break;
                }
                process_batch(w, recs, n);
                nd_kio_release(w->kio);
                if (w->catalog_reader && w->err == ND_OK)
                        catalog_read(w, 1000, 0);
                if (w->err != ND_OK)
                        break; /* errors.tolerance: stop */
                now = nd_clock_mono_ms();
                if (now - last_idle >= IDLE_CHECK_MS) {
                        idle_tasks(w);
                        last_idle = now;
                }
                if (now >= next_commit) {
                        unsigned long long aborts = atomic_load(&w->aborts);
                        if (commit(w)) {
                                if (rejoin(w, w->err))
                                        continue;
                                break;
                        }
                        if (w->rejoin_since && atomic_load(&w->ready) &&
                            !nd_kio_has_pending(w->kio) &&
                            atomic_load(&w->aborts) == aborts)
                                rejoined(w);
                        /* WHY start to start (as Kafka Streams): counting
                         * the interval from the end of a commit would add
                         * the commit's own duration to every record's
                         * wait under exactly-once. A commit that outlasts
                         * the interval is followed by one more batch, not
                         * by a second commit at once. */
                        next_commit += cfg->commit_interval_ms;
                        if (next_commit <= now)
                                next_commit = now + cfg->commit_interval_ms;
                }
        }
        if (w->err == ND_OK || w->err == ND_ERR_SHUTDOWN ||
            w->err == ND_ERR_INPUT_STOP) {
                bool pending = nd_kio_has_pending(w->kio);
                nd_err_t err =
                    nd_kio_close(w->kio, (int)cfg->shutdown_timeout_ms);
                if (err == ND_OK && pending)
                        atomic_fetch_add(&w->commits, 1);
                else if (err != ND_OK)
                        nd_log_warn("runtime",
                                    "worker %d: final commit failed: %s",
                                    w->idx, nd_err_str(err));
        }
out:
        tasks_destroy_all(w);
        nd_free(recs);
        if (w->err != ND_OK) {
                atomic_store(&rt->fatal, true);
                atomic_store(&rt->stop, true);
        }
        atomic_store(&w->done, true);
        nd_log_info("runtime", "worker %d: stopped%s%s", w->idx,
                    w->err ? ": " : "", w->err ? nd_err_str(w->err) : "");
        return NULL;
}

/* ------------------------------------------------------------------ */
/* Start, stop                                                         */

nd_runtime_t *nd_runtime_new(const nd_config_t *cfg, const char *bootstrap) {
        nd_runtime_t *rt = nd_calloc(1, sizeof(*rt));
        rt->cfg = cfg;
        rt->bootstrap = bootstrap ? nd_strdup(bootstrap) : NULL;
        rt->event_topics[ND_TOPIC_CLICKSTREAM] = cfg->topic_clickstream;
        rt->event_topics[ND_TOPIC_CART] = cfg->topic_cart;
        rt->event_topics[ND_TOPIC_PURCHASE] = cfg->topic_purchase;
        nd_task_changelog_topic(cfg, rt->changelog, sizeof(rt->changelog));
        nd__rt_metrics_init(rt);
        return rt;
}

void nd_runtime_set_tap(nd_runtime_t *rt,
                        void (*tap)(void *arg, const nd_action_t *act),
                        void *arg) {
        rt->tap = tap;
        rt->tap_arg = arg;
}

nd_metrics_t *nd_runtime_metrics(const nd_runtime_t *rt) {
        return rt->reg;
}

int nd_runtime_paused(const nd_runtime_t *rt) {
        int n = 0;
        for (int i = 0; i < rt->worker_cnt; i++)
                n += atomic_load(&rt->workers[i].paused);
        return n;
}

bool nd_runtime_healthy(const nd_runtime_t *rt) {
        return !atomic_load(&rt->fatal);
}

/* check_topics()'s list: the event topics at their ND_TOPIC_* index, then
 * the outputs from T_ACTIONS on (actions, dead letters, actions.<channel>
 * when actions go to one topic per channel, the changelog when some trigger
 * keeps state). */
enum { T_ACTIONS = ND_TOPIC__CNT, T_DEAD_LETTER, T_CHANNELS };

/*
 * Co-partitioning (TRIGGERS.md §1): every event topic exists and all have
 * the same partition count. Creates the output and changelog topics that
 * are missing, with that count. Returns the count, or -1 with *errp set.
 */
static int check_topics(nd_runtime_t *rt, char *errstr, size_t errstr_size,
                        nd_err_t *errp) {
        const nd_config_t *cfg = rt->cfg;
        int cnt = T_CHANNELS + ND_CHANNEL__CNT + 1; /* + the changelog */
        const char **topics = nd_calloc((size_t)cnt, sizeof(*topics));
        char log[300];
        char(*chans)[300] = nd_calloc(ND_CHANNEL__CNT, sizeof(*chans));
        int first_log, parts;
        int *counts = nd_calloc((size_t)cnt, sizeof(*counts));
        /* the configuration keys, topics.<key> */
        static const char *const keys[ND_TOPIC__CNT] = {
            [ND_TOPIC_CLICKSTREAM] = "clickstream",
            [ND_TOPIC_CART] = "cart",
            [ND_TOPIC_PURCHASE] = "purchase"};
        int n = T_CHANNELS, ret = -1;
        nd_err_t err;

        for (int i = 0; i < ND_TOPIC__CNT; i++)
                topics[i] = rt->event_topics[i];
        topics[T_ACTIONS] = cfg->topic_actions;
        topics[T_DEAD_LETTER] = cfg->topic_dead_letter;
        /* actions.<channel> when actions go to one topic per channel */
        for (int c = 0; cfg->actions_per_channel && c < ND_CHANNEL__CNT; c++) {
                snprintf(chans[c], sizeof(chans[c]), "%s.%s",
                         cfg->topic_actions, nd_channel_name((nd_channel_t)c));
                topics[n++] = chans[c];
        }
        first_log = n;
        if (nd_task_has_state(cfg)) {
                nd_task_changelog_topic(cfg, log, sizeof(log));
                topics[n++] = log;
        }
        rt->out_cnt = n - T_ACTIONS;
        rt->out_topics = nd_calloc((size_t)rt->out_cnt, sizeof(char *));
        for (int i = T_ACTIONS; i < n; i++)
                rt->out_topics[i - T_ACTIONS] = nd_strdup(topics[i]);
        err = nd_kio_partition_counts(cfg, rt->bootstrap, topics, n, counts,
                                      TOPIC_TIMEOUT_MS, errstr, errstr_size);
        if (err != ND_OK) {
                *errp = err;
                goto out;
        }
        for (int i = 0; i < ND_TOPIC__CNT; i++)
                if (counts[i] < 0) {
                        snprintf(errstr, errstr_size,
                                 "event topic '%s' does not exist "
                                 "(topics.%s)",
                                 topics[i], keys[i]);
                        *errp = ND_ERR_CONFIG;
                        goto out;
                }
        if (counts[ND_TOPIC_CART] != counts[ND_TOPIC_CLICKSTREAM] ||
            counts[ND_TOPIC_PURCHASE] != counts[ND_TOPIC_CLICKSTREAM]) {
                snprintf(errstr, errstr_size,
                         "the event topics must have the same partition count "
                         "(co-partitioning): '%s' has %d, '%s' has %d, '%s' "
                         "has %d",
                         topics[ND_TOPIC_CLICKSTREAM],
                         counts[ND_TOPIC_CLICKSTREAM], topics[ND_TOPIC_CART],
                         counts[ND_TOPIC_CART], topics[ND_TOPIC_PURCHASE],
                         counts[ND_TOPIC_PURCHASE]);
                *errp = ND_ERR_CONFIG;
                goto out;
        }
        parts = counts[ND_TOPIC_CLICKSTREAM]; /* every event topic's */
        for (int i = T_ACTIONS; i < n; i++) {
                if (counts[i] >= 0) {
                        if (i >= first_log && counts[i] != parts)
                                nd_log_warn("runtime",
                                            "changelog %s has %d partitions, "
                                            "the event topics %d",
                                            topics[i], counts[i], parts);
                        continue;
                }
                nd_log_info("runtime", "creating topic %s (%d partitions%s)",
                            topics[i], parts,
                            i >= first_log ? ", compacted" : "");
                err = nd_kio_create_topic(cfg, rt->bootstrap, topics[i], parts,
                                          i >= first_log, TOPIC_TIMEOUT_MS,
                                          errstr, errstr_size);
                if (err != ND_OK) {
                        *errp = err;
                        goto out;
                }
        }
        ret = parts;
out:
        nd_free(topics);
        nd_free(chans);
        nd_free(counts);
        return ret;
}

nd_err_t nd_runtime_start(nd_runtime_t *rt, char *errstr, size_t errstr_size) {
        const nd_config_t *cfg = rt->cfg;
        nd_err_t err = ND_OK;
        int partitions = check_topics(rt, errstr, errstr_size, &err);
        nd_serde_conf_t sc;

        if (partitions < 0)
                return err;
        nd_log_info("runtime", "event topics %s, %s, %s: %d partitions each",
                    rt->event_topics[ND_TOPIC_CLICKSTREAM],
                    rt->event_topics[ND_TOPIC_CART],
                    rt->event_topics[ND_TOPIC_PURCHASE], partitions);

        nd_serde_conf_from_config(&sc, cfg);
        sc.registry_async = true; /* a worker never waits for HTTP */
        rt->worker_cnt = (int)cfg->threads;
        rt->workers = nd_calloc((size_t)rt->worker_cnt, sizeof(*rt->workers));
        for (int i = 0; i < rt->worker_cnt; i++) {
                struct nd_worker *w = &rt->workers[i];
                nd_kio_conf_t kc = {.cfg = cfg,
                                    .bootstrap = rt->bootstrap,
                                    .thread = i,
                                    .on_assign = on_assign,
                                    .on_revoke = on_revoke,
                                    .before_commit = before_commit,
                                    .timestamp = rec_timestamp,
                                    .arg = w};
                w->rt = rt;
                w->idx = i;
                nd__rt_metrics_worker_init(w);
                w->abuf_cap = ND_ACTION_BUF;
                w->abuf = nd_malloc(w->abuf_cap);
                w->catalog = nd_catalog_new();
                if ((err = nd_serde_new(&sc, &w->serde, errstr, errstr_size)) !=
                    ND_OK) {
                        rt->worker_cnt = i + 1;
                        return err;
                }
                if ((err = nd_kio_new(&kc, &w->kio, errstr, errstr_size)) !=
                    ND_OK) {
                        rt->worker_cnt = i + 1;
                        nd_runtime_request_stop(rt);
                        return err;
                }
                nd_kio_warm(w->kio, (const char *const *)rt->out_topics,
                            rt->out_cnt, 5000);
        }
        for (int i = 0; i < rt->worker_cnt; i++) {
                struct nd_worker *w = &rt->workers[i];
                int rc = pthread_create(&w->thread, NULL, worker_main, w);
                if (rc) {
                        snprintf(errstr, errstr_size,
                                 "cannot start worker thread: %s",
                                 strerror(rc));
                        nd_runtime_request_stop(rt);
                        return ND_ERR_INVAL;
                }
                w->started = true;
        }
        nd_log_info("runtime",
                    "started %d worker(s), %s, commit every %lld ms, %d "
                    "trigger(s)",
                    rt->worker_cnt,
                    cfg->guarantee == ND_GUARANTEE_EXACTLY_ONCE
                        ? "exactly-once"
                        : "at-least-once",
                    (long long)cfg->commit_interval_ms, cfg->trigger_cnt);
        return ND_OK;
}

void nd_runtime_request_stop(nd_runtime_t *rt) {
        atomic_store(&rt->stop, true);
}

bool nd_runtime_stopping(const nd_runtime_t *rt) {
        return atomic_load(&rt->stop);
}

bool nd_runtime_ready(const nd_runtime_t *rt) {
        return nd__rt_ready(rt);
}

nd_err_t nd_runtime_wait(nd_runtime_t *rt, int timeout_ms) {
        nd_err_t err = ND_OK;
        int64_t deadline = -1;

        for (int i = 0; i < rt->worker_cnt; i++) {
                struct nd_worker *w = &rt->workers[i];
                if (!w->started)
                        continue;
                /* Block until a stop is asked for, then bound the wait. */
                while (!atomic_load(&w->done)) {
                        struct timespec ts = {0, 20 * 1000000L};
                        if (atomic_load(&rt->stop) && deadline < 0)
                                deadline = nd_clock_mono_ms() + timeout_ms;
                        if (deadline >= 0 && nd_clock_mono_ms() > deadline) {
                                nd_log_error("runtime",
                                             "workers did not stop within "
                                             "%d ms",
                                             timeout_ms);
                                return ND_ERR_TIMEOUT;
                        }
                        nanosleep(&ts, NULL);
                }
                pthread_join(w->thread, NULL);
                w->started = false;
                if (w->err != ND_OK && err == ND_OK)
                        err = w->err;
        }
        return err;
}

void nd_runtime_stats(const nd_runtime_t *rt, nd_runtime_stats_t *out) {
        memset(out, 0, sizeof(*out));
        for (int i = 0; i < rt->worker_cnt; i++) {
                struct nd_worker *w = &rt->workers[i];
                out->records_in += atomic_load(&w->records_in);
                out->records_out += atomic_load(&w->records_out);
                out->dead_letter += atomic_load(&w->dead_letter);
                out->commits += atomic_load(&w->commits);
                out->aborts += atomic_load(&w->aborts);
                out->rebalances += atomic_load(&w->rebalances);
                out->restored += atomic_load(&w->restored);
                out->timers_fired += atomic_load(&w->timers_fired);
                out->tasks += atomic_load(&w->tasks_alive);
        }
}

void nd_runtime_destroy(nd_runtime_t *rt) {
        if (!rt)
                return;
        for (int i = 0; i < rt->worker_cnt; i++) {
                struct nd_worker *w = &rt->workers[i];
                nd_kio_destroy(w->kio);
                nd_kio_client_destroy(w->catalog_reader);
                nd_serde_destroy(w->serde);
                nd_catalog_destroy(w->catalog);
                nd_free(w->abuf);
                if (w->inst)
                        nd__rt_metrics_worker_fini(w);
        }
        nd_metrics_destroy(rt->reg);
        nd_free(rt->inst_gauges);
        for (int i = 0; i < rt->out_cnt; i++)
                nd_free(rt->out_topics[i]);
        nd_free(rt->out_topics);
        nd_free(rt->workers);
        nd_free(rt->bootstrap);
        nd_free(rt);
}

/* ------------------------------------------------------------------ */
/* Embedded broker                                                     */

nd_err_t nd_embedded_start(const nd_config_t *cfg, nd_kio_cluster_t **out,
                           char *errstr, size_t errstr_size) {
        nd_kio_cluster_t *mc = NULL;
        int parts = (int)cfg->embedded_partitions;
        const char *topics[] = {cfg->topic_clickstream, cfg->topic_cart,
                                cfg->topic_purchase,    cfg->topic_catalog,
                                cfg->topic_actions,     cfg->topic_dead_letter};
        char log[300];
        nd_err_t err = nd_kio_cluster_new((int)cfg->embedded_brokers, &mc,
                                          errstr, errstr_size);
        if (err != ND_OK)
                return err;
        for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
                if (nd_kio_cluster_create_topic(mc, topics[i], parts) != ND_OK)
                        goto fail;
        for (int c = 0; cfg->actions_per_channel && c < ND_CHANNEL__CNT; c++) {
                snprintf(log, sizeof(log), "%s.%s", cfg->topic_actions,
                         nd_channel_name((nd_channel_t)c));
                if (nd_kio_cluster_create_topic(mc, log, parts) != ND_OK)
                        goto fail;
        }
        /* The mock has no CreateTopics: make the changelog here too. */
        if (nd_task_has_state(cfg)) {
                nd_task_changelog_topic(cfg, log, sizeof(log));
                if (nd_kio_cluster_create_topic(mc, log, parts) != ND_OK)
                        goto fail;
        }
        nd_log_info("embedded",
                    "embedded Kafka (librdkafka mock cluster, %d broker(s)) "
                    "at %s; topics have %d partitions; try: kcat -b %s -L",
                    (int)cfg->embedded_brokers, nd_kio_cluster_bootstraps(mc),
                    parts, nd_kio_cluster_bootstraps(mc));
        *out = mc;
        return ND_OK;
fail:
        snprintf(errstr, errstr_size, "embedded broker: cannot create topics");
        nd_kio_cluster_destroy(mc);
        return ND_ERR_KAFKA;
}
