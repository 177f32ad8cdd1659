/*
 * replay.c — `nudge replay`: the configured triggers over a file of events,
 * on event time only (TRIGGERS.md §2 "Replay / backtest"). OVERALL DESIGN
 *
 * One task (partition 0) reads the events in file order and writes its
 * actions as JSON lines. Nothing reads the wall clock: the watermark moves
 * with event timestamps only, emitted_at is the decision's event time, and
 * an optional end time advances W once after the last event (W := max(W,
 * end), then what is due fires; without one, pending timers do not fire).
 * So the same input gives byte-identical output, run after run.
 *
 * Input is JSON lines (one event per line, TRIGGERS.md §1) or an Avro
 * object container file of one topic's events (common/ocf.h), told apart by
 * the first byte: a container starts with its magic "Obj\x01", a JSON line
 * never with 'O'. (Peeking one byte with ungetc works on pipes too.)
 * Records that do not decode, lack required fields or are too long are
 * counted, reported on stderr with their line or record number, optionally
 * written to a dead-letter file, and do not touch the task (§5: no
 * watermark, no activity) — as the engine does with the dead-letter topic.
 * A container whose blocks are damaged (bad sync marker, truncated) stops
 * the replay with exit code 1 after the records before the damage.
 */
#include "replay.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "clock.h"
#include "log.h"
#include "mem.h"
#include "ocf.h"
#include "serde.h"
#include "task.h"

#define LINE_MAX_BYTES (1 << 20)
#define OUT_BUF        65536

struct replay {
        const nd_replay_opts_t *opts;
        FILE *out;
        FILE *dlq;
        char *buf;
        uint64_t actions;
        uint64_t write_errors;
        /* Avro input: the record being processed, for sink_forward */
        const nd_event_t *cur_ev;
        const void *cur_value;
        /* progress */
        nd_task_t *task;
        uint64_t events, bad;
        int64_t last_progress;
        bool progress;
};

static nd_err_t sink_emit(void *arg, nd_task_t *task, int inst,
                          const nd_action_t *act) {
        struct replay *r = arg;
        size_t len;
        nd_err_t err;
        (void)task;
        (void)inst;
        err = nd_action_write_json(act, r->buf, OUT_BUF, &len);
        if (err != ND_OK)
                return err;
        if (fwrite(r->buf, 1, len, r->out) != len) {
                r->write_errors++;
                return ND_ERR_IO;
        }
        r->actions++;
        return ND_OK;
}

static nd_err_t sink_forward(void *arg, nd_task_t *task, int inst,
                             const void *key, size_t key_len, const void *value,
                             size_t value_len) {
        struct replay *r = arg;
        (void)task;
        (void)inst;
        (void)key;
        (void)key_len;
        /* The reference processor forwards raw records: one per line. */
        if (fwrite(value, 1, value_len, r->out) != value_len ||
            fputc('\n', r->out) == EOF)
                return ND_ERR_IO;
        r->actions++;
        return ND_OK;
}

int nd_replay_parse_time(const char *s, int64_t *out) {
        char *end;
        struct tm tm;
        long long v;
        const char *rest;
        int ms = 0;

        errno = 0;
        v = strtoll(s, &end, 10);
        if (end != s && *end == '\0' && errno == 0 && v >= 0) {
                *out = v;
                return 0;
        }
        memset(&tm, 0, sizeof(tm));
        rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!rest)
                return -1;
        if (*rest == '.') {
                int digits = 0;
                rest++;
                while (*rest >= '0' && *rest <= '9') {
                        if (digits++ < 3)
                                ms = ms * 10 + (*rest - '0');
                        rest++;
                }
                while (digits > 0 && digits < 3) {
                        ms *= 10;
                        digits++;
                }
        }
        if (strcmp(rest, "Z") && strcmp(rest, "+00:00"))
                return -1;
        *out = (int64_t)timegm(&tm) * 1000 + ms;
        return 0;
}

static void json_string(FILE *f, const char *s, size_t len) {
        fputc('"', f);
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c < 0x20)
                        fprintf(f, "\\u%04x", c);
                else
                        fputc(c, f);
        }
        fputc('"', f);
}

/* A bad line: stderr, and the dead-letter file as one JSON object with the
 * reason and the original record. rec NULL: a record of an Avro container,
 * numbered from 1 ("record" instead of "line", no copy of the bytes). */
static void dead_letter(struct replay *r, const char *file, long line,
                        nd_err_t err, const char *text, const char *rec,
                        size_t len) {
        fprintf(stderr, "%s:%s%ld: %s: %s\n", file, rec ? "" : "record ", line,
                nd_err_name(err), text);
        if (!r->dlq)
                return;
        fprintf(r->dlq, "{\"%s\":%ld,\"error\":\"%s\",\"text\":",
                rec ? "line" : "record", line, nd_err_name(err));
        json_string(r->dlq, text, strlen(text));
        if (rec) {
                fputs(",\"record\":", r->dlq);
                json_string(r->dlq, rec, len);
        }
        fputs("}\n", r->dlq);
}

/* One decoded event into the task. */
static void feed(struct replay *r, nd_event_t *ev, const char *topic,
                 int64_t offset, const void *value, size_t value_len) {
        nd_rec_t rec = {.topic = topic, .partition = 0};
        rec.offset = offset;
        rec.timestamp = ev->timestamp;
        rec.key = ev->key.p;
        rec.key_len = ev->key.len;
        rec.value = value;
        rec.value_len = value_len;
        rec.ev = ev;
        nd_task_process(r->task, &rec);
        r->events++;
        if (r->progress && (r->events & 0xffff) == 0 &&
            nd_clock_mono_ms() - r->last_progress >= 2000) {
                fprintf(stderr,
                        "\rreplay: %" PRIu64 " events, %" PRIu64 " actions",
                        r->events, r->actions);
                r->last_progress = nd_clock_mono_ms();
        }
}

/* The events of an Avro object container file. 0, or 1 when the file is
 * damaged past a record (the events before the damage are processed). */
static int replay_ocf(struct replay *r, nd_serde_t *serde, FILE *in) {
        nd_ocf_reader_t *rd = NULL;
        nd_event_t ev;
        char errstr[512];
        long recno = 0;
        nd_err_t err;

        err = nd_ocf_reader_open(serde, in, &rd, errstr, sizeof(errstr));
        if (err != ND_OK) {
                fprintf(stderr, "nudge replay: --input %s: %s\n",
                        r->opts->input, errstr);
                return 1;
        }
        r->cur_ev = &ev;
        for (;;) {
                errstr[0] = '\0';
                err = nd_ocf_reader_next(rd, &ev, errstr, sizeof(errstr));
                if (err == ND_ERR_NOENT)
                        break;
                recno++;
                if (err != ND_OK && nd_err_class(err) != ND_ERR_CLASS_RECORD) {
                        fprintf(stderr, "nudge replay: --input %s: %s\n",
                                r->opts->input, errstr);
                        nd_ocf_reader_close(rd);
                        r->cur_ev = NULL;
                        return 1;
                }
                if (err != ND_OK) {
                        dead_letter(r, r->opts->input, recno, err,
                                    errstr[0] ? errstr : nd_err_str(err), NULL,
                                    0);
                        r->bad++;
                        continue;
                }
                {
                        const void *raw;
                        size_t raw_len;
                        nd_ocf_reader_raw(rd, &raw, &raw_len);
                        r->cur_value = raw;
                        feed(r, &ev, nd_ocf_reader_topic(rd), recno, raw,
                             raw_len);
                }
        }
        {
                nd_ocf_stats_t st;
                nd_ocf_reader_stats(rd, &st);
                /* records lost with the rest of a bad block */
                r->bad += st.skipped;
        }
        nd_ocf_reader_close(rd);
        r->cur_ev = NULL;
        return 0;
}

static nd_err_t load_catalog(nd_catalog_t *cat, nd_serde_t *serde,
                             const char *path, char *errstr,
                             size_t errstr_size) {
        FILE *f = fopen(path, "r");
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        long lineno = 0, bad = 0;
        if (!f) {
                snprintf(errstr, errstr_size, "--catalog %s: %s", path,
                         strerror(errno));
                return ND_ERR_IO;
        }
        while ((n = getline(&line, &cap, f)) >= 0) {
                nd_product_rec_t prod;
                char why[256];
                lineno++;
                while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                        line[--n] = '\0';
                if (n == 0)
                        continue;
                if (nd_serde_decode_product_json(serde, line, (size_t)n, &prod,
                                                 why, sizeof(why)) != ND_OK ||
                    nd_catalog_put(cat, &prod) != ND_OK) {
                        fprintf(stderr, "%s:%ld: bad catalog record: %s\n",
                                path, lineno, why);
                        bad++;
                }
        }
        free(line);
        fclose(f);
        nd_log_info("replay", "catalog %s: %zu products (%ld bad lines)", path,
                    nd_catalog_count(cat), bad);
        return ND_OK;
}

int nd_replay_run(const nd_config_t *cfg, const nd_replay_opts_t *opts) {
        struct replay r = {.opts = opts};
        nd_serde_t *serde = NULL;
        nd_catalog_t *cat = nd_catalog_new();
        nd_task_t *task = NULL;
        nd_serde_conf_t sc;
        FILE *in = NULL;
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        long lineno = 0;
        char errstr[512];
        bool is_ocf = false;
        int rc = 2;

        r.buf = nd_malloc(OUT_BUF);
        nd_serde_conf_from_config(&sc, cfg);
        if (nd_serde_new(&sc, &serde, errstr, sizeof(errstr)) != ND_OK) {
                fprintf(stderr, "nudge replay: %s\n", errstr);
                goto out;
        }
        if (opts->catalog && load_catalog(cat, serde, opts->catalog, errstr,
                                          sizeof(errstr)) != ND_OK) {
                fprintf(stderr, "nudge replay: %s\n", errstr);
                goto out;
        }
        in = strcmp(opts->input, "-") ? fopen(opts->input, "r") : stdin;
        if (!in) {
                fprintf(stderr, "nudge replay: --input %s: %s\n", opts->input,
                        strerror(errno));
                goto out;
        }
        r.out = strcmp(opts->output, "-") ? fopen(opts->output, "w") : stdout;
        if (!r.out) {
                fprintf(stderr, "nudge replay: --output %s: %s\n", opts->output,
                        strerror(errno));
                goto out;
        }
        if (opts->dead_letter && !(r.dlq = fopen(opts->dead_letter, "w"))) {
                fprintf(stderr, "nudge replay: --dead-letter %s: %s\n",
                        opts->dead_letter, strerror(errno));
                goto out;
        }
        {
                nd_task_conf_t tc = {.cfg = cfg,
                                     .partition = 0,
                                     .sink = {sink_emit, sink_forward, &r},
                                     .catalog = cat,
                                     .live = false};
                task = nd_task_new(&tc);
                if (nd_task_start(task) != ND_OK)
                        goto out;
        }

        rc = 1;
        r.task = task;
        r.last_progress = nd_clock_mono_ms();
        r.progress = isatty(2);
        {
                int c = getc(in);
                if (c != EOF && ungetc(c, in) == EOF)
                        goto out;
                is_ocf = c == ND_OCF_MAGIC[0];
        }
        if (is_ocf && replay_ocf(&r, serde, in) != 0)
                goto out;
        while (!is_ocf && (n = getline(&line, &cap, in)) >= 0) {
                nd_event_t ev;
                nd_err_t err;
                lineno++;
                while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                        line[--n] = '\0';
                if (n == 0)
                        continue;
                if (n > LINE_MAX_BYTES) {
                        dead_letter(&r, opts->input, lineno, ND_ERR_BAD_LENGTH,
                                    "line longer than 1 MiB", line, (size_t)n);
                        r.bad++;
                        continue;
                }
                errstr[0] = '\0';
                err = nd_serde_decode_json(serde, line, (size_t)n, &ev, errstr,
                                           sizeof(errstr));
                if (err != ND_OK) {
                        dead_letter(&r, opts->input, lineno, err,
                                    errstr[0] ? errstr : nd_err_str(err), line,
                                    (size_t)n);
                        r.bad++;
                        continue;
                }
                feed(&r, &ev, opts->input, lineno, line, (size_t)n);
        }
        if (ferror(in)) {
                fprintf(stderr, "nudge replay: reading %s: %s\n", opts->input,
                        strerror(errno));
                goto out;
        }
        if (opts->has_end)
                nd_task_end(task, opts->end_time);
        if (fflush(r.out) != 0 || r.write_errors) {
                fprintf(stderr, "nudge replay: writing %s failed\n",
                        opts->output);
                goto out;
        }
        {
                nd_task_stats_t st;
                nd_task_stats(task, &st);
                fprintf(stderr,
                        "%sreplay: %" PRIu64 " events, %" PRIu64
                        " bad %s, %" PRIu64 " actions, %zu timers still "
                        "pending, %zu customers in state\n",
                        r.progress ? "\r" : "", r.events, r.bad,
                        is_ocf ? "records" : "lines", r.actions,
                        st.timers_pending, st.entries);
        }
        rc = 0;
out:
        nd_task_destroy(task);
        if (in && in != stdin)
                fclose(in);
        if (r.out && r.out != stdout)
                fclose(r.out);
        if (r.dlq)
                fclose(r.dlq);
        free(line);
        nd_serde_destroy(serde);
        nd_catalog_destroy(cat);
        nd_free(r.buf);
        return rc;
}
