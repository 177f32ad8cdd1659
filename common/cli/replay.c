/*
 * replay.c — `nudge replay`: the configured triggers over files of events,
 * on event time only (TRIGGERS.md §2 "Replay / backtest"). OVERALL DESIGN
 *
 * One task (partition 0) reads the events and writes its actions as JSON
 * lines. Nothing reads the wall clock: the watermark moves with event
 * timestamps only, emitted_at is the decision's event time, and an optional
 * end time advances W once after the last event (W := max(W, end), then
 * what is due fires; without one, pending timers do not fire). So the same
 * input gives byte-identical output, run after run.
 *
 * Inputs. Each --input is JSON lines (one event per line, TRIGGERS.md §1)
 * or an Avro object container file of one topic's events (common/ocf.h),
 * told apart by its own first byte: a container starts with its magic
 * "Obj\x01", a JSON line never with 'O'. (Peeking one byte with ungetc
 * works on pipes too.) With several inputs the events are merged the way
 * the runtime merges a task's three partitions (Kafka Streams'
 * PartitionGroup): every input has one decoded head event, and the head
 * with the smallest timestamp goes next, ties to the input given first.
 * Each input keeps its own order, even where its timestamps go back: this
 * is a k-way merge of streams, not a sort. One input is read in file order,
 * as before. Each input has its own nd_serde_t because a decoded event
 * borrows its serde's scratch until that serde's next decode, and all the
 * heads must stay valid at once. Memory is bounded per input (a line, or
 * the container reader's block buffer); nothing is read ahead of a head.
 * The merge looks at every head for every event: inputs are few (at most
 * ND_REPLAY_MAX_INPUTS, typically three), where a heap would cost more.
 *
 * Records that do not decode, lack required fields or are too long are
 * counted, reported on stderr with their file and line or record number,
 * optionally written to a dead-letter file, and do not touch the task (§5:
 * no watermark, no activity) — as the engine does with the dead-letter
 * topic. A container whose blocks are damaged (bad sync marker, truncated)
 * or a read error stops the replay with exit code 1 after the events
 * merged before the damage.
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
        int ocf_inputs; /* inputs that are container files */
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

/* One input file and its head event. */
struct input {
        const char *path; /* as given; "-" is stdin */
        FILE *f;
        nd_serde_t *serde;    /* this input's: the head borrows its scratch */
        nd_ocf_reader_t *ocf; /* NULL: JSON lines */
        char *line;           /* JSON lines: the head's line */
        size_t cap;
        long pos; /* line or record number of the head, from 1 */
        bool has_head;
        nd_event_t ev; /* the head; borrowed from line, ocf and serde */
        const char *topic;
        const void *value; /* the head's bytes: the line or the Avro body */
        size_t value_len;
};

/* A bad line: stderr, and the dead-letter file as one JSON object with the
 * reason and the original record. rec NULL: a record of an Avro container,
 * numbered from 1 ("record" instead of "line", no copy of the bytes). With
 * several inputs the object names its input first. */
static void dead_letter(struct replay *r, const char *file, long line,
                        nd_err_t err, const char *text, const char *rec,
                        size_t len) {
        fprintf(stderr, "%s:%s%ld: %s: %s\n", file, rec ? "" : "record ", line,
                nd_err_name(err), text);
        if (!r->dlq)
                return;
        fputc('{', r->dlq);
        if (r->opts->input_cnt > 1) {
                fputs("\"input\":", r->dlq);
                json_string(r->dlq, file, strlen(file));
                fputc(',', r->dlq);
        }
        fprintf(r->dlq, "\"%s\":%ld,\"error\":\"%s\",\"text\":",
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

/* The next good record of a container into in's head; bad records are
 * reported on the way. 0 (has_head false at the end), or 1 when the file
 * is damaged or unreadable from here on. */
static int next_ocf(struct replay *r, struct input *in) {
        char errstr[512];
        nd_err_t err;

        for (;;) {
                errstr[0] = '\0';
                err = nd_ocf_reader_next(in->ocf, &in->ev, errstr,
                                         sizeof(errstr));
                if (err == ND_ERR_NOENT) {
                        nd_ocf_stats_t st;
                        nd_ocf_reader_stats(in->ocf, &st);
                        /* records lost with the rest of a bad block */
                        r->bad += st.skipped;
                        return 0;
                }
                in->pos++;
                if (err != ND_OK && nd_err_class(err) != ND_ERR_CLASS_RECORD) {
                        fprintf(stderr, "nudge replay: --input %s: %s\n",
                                in->path, errstr);
                        return 1;
                }
                if (err != ND_OK) {
                        dead_letter(r, in->path, in->pos, err,
                                    errstr[0] ? errstr : nd_err_str(err), NULL,
                                    0);
                        r->bad++;
                        continue;
                }
                nd_ocf_reader_raw(in->ocf, &in->value, &in->value_len);
                in->has_head = true;
                return 0;
        }
}

/* The next good line of a JSON lines input into in's head, as next_ocf. */
static int next_json(struct replay *r, struct input *in) {
        char errstr[512];
        ssize_t n;

        while ((n = getline(&in->line, &in->cap, in->f)) >= 0) {
                char *line = in->line;
                nd_err_t err;
                in->pos++;
                while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                        line[--n] = '\0';
                if (n == 0)
                        continue;
                if (n > LINE_MAX_BYTES) {
                        dead_letter(r, in->path, in->pos, ND_ERR_BAD_LENGTH,
                                    "line longer than 1 MiB", line, (size_t)n);
                        r->bad++;
                        continue;
                }
                errstr[0] = '\0';
                err = nd_serde_decode_json(in->serde, line, (size_t)n, &in->ev,
                                           errstr, sizeof(errstr));
                if (err != ND_OK) {
                        dead_letter(r, in->path, in->pos, err,
                                    errstr[0] ? errstr : nd_err_str(err), line,
                                    (size_t)n);
                        r->bad++;
                        continue;
                }
                in->value = line;
                in->value_len = (size_t)n;
                in->has_head = true;
                return 0;
        }
        if (ferror(in->f)) {
                fprintf(stderr, "nudge replay: reading %s: %s\n", in->path,
                        strerror(errno));
                return 1;
        }
        return 0;
}

static int next_event(struct replay *r, struct input *in) {
        in->has_head = false;
        return in->ocf ? next_ocf(r, in) : next_json(r, in);
}

/* Tells the input's format by its first byte, opens a container's reader,
 * and reads the first head. 0, or 1 with a message naming the file. */
static int start_input(struct replay *r, struct input *in) {
        char errstr[512];
        int c = getc(in->f);
        if (c != EOF && ungetc(c, in->f) == EOF) {
                fprintf(stderr, "nudge replay: reading %s: %s\n", in->path,
                        strerror(errno));
                return 1;
        }
        if (c == ND_OCF_MAGIC[0]) {
                if (nd_ocf_reader_open(in->serde, in->f, &in->ocf, errstr,
                                       sizeof(errstr)) != ND_OK) {
                        fprintf(stderr, "nudge replay: --input %s: %s\n",
                                in->path, errstr);
                        return 1;
                }
                in->topic = nd_ocf_reader_topic(in->ocf);
                r->ocf_inputs++;
        } else {
                in->topic = in->path;
        }
        return next_event(r, in);
}

/* The events of every input into the task, merged by timestamp (see the
 * top of the file). 0, or 1 after a damaged or unreadable input. */
static int merge(struct replay *r, struct input *ins, int cnt) {
        for (int i = 0; i < cnt; i++)
                if (start_input(r, &ins[i]) != 0)
                        return 1;
        for (;;) {
                struct input *in = NULL;
                /* strictly smaller: a tie goes to the input given first */
                for (int i = 0; i < cnt; i++)
                        if (ins[i].has_head &&
                            (!in || ins[i].ev.timestamp < in->ev.timestamp))
                                in = &ins[i];
                if (!in)
                        return 0;
                feed(r, &in->ev, in->topic, in->pos, in->value, in->value_len);
                if (next_event(r, in) != 0)
                        return 1;
        }
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
        struct input *ins = NULL;
        int cnt = opts->input_cnt;
        char errstr[512];
        int rc = 2;

        r.buf = nd_malloc(OUT_BUF);
        nd_serde_conf_from_config(&sc, cfg);
        if (cnt < 1 || cnt > ND_REPLAY_MAX_INPUTS) {
                fprintf(stderr, "nudge replay: 1 to %d --input files, not %d\n",
                        ND_REPLAY_MAX_INPUTS, cnt);
                goto out;
        }
        ins = nd_calloc((size_t)cnt, sizeof(*ins));
        if (nd_serde_new(&sc, &serde, errstr, sizeof(errstr)) != ND_OK) {
                fprintf(stderr, "nudge replay: %s\n", errstr);
                goto out;
        }
        if (opts->catalog && load_catalog(cat, serde, opts->catalog, errstr,
                                          sizeof(errstr)) != ND_OK) {
                fprintf(stderr, "nudge replay: %s\n", errstr);
                goto out;
        }
        for (int i = 0; i < cnt; i++) {
                struct input *in = &ins[i];
                in->path = opts->inputs[i];
                if (!strcmp(in->path, "-")) {
                        for (int j = 0; j < i; j++)
                                if (ins[j].f == stdin) {
                                        fprintf(
                                            stderr,
                                            "nudge replay: --input - (stdin) "
                                            "can be given once\n");
                                        goto out;
                                }
                        in->f = stdin;
                } else if (!(in->f = fopen(in->path, "r"))) {
                        fprintf(stderr, "nudge replay: --input %s: %s\n",
                                in->path, strerror(errno));
                        goto out;
                }
                if (nd_serde_new(&sc, &in->serde, errstr, sizeof(errstr)) !=
                    ND_OK) {
                        fprintf(stderr, "nudge replay: %s\n", errstr);
                        goto out;
                }
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
        if (merge(&r, ins, cnt) != 0)
                goto out;
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
                        r.ocf_inputs == 0     ? "lines"
                        : r.ocf_inputs == cnt ? "records"
                                              : "lines or records",
                        r.actions, st.timers_pending, st.entries);
        }
        rc = 0;
out:
        nd_task_destroy(task);
        for (int i = 0; ins && i < cnt; i++) {
                nd_ocf_reader_close(ins[i].ocf);
                if (ins[i].f && ins[i].f != stdin)
                        fclose(ins[i].f);
                free(ins[i].line); /* getline's */
                nd_serde_destroy(ins[i].serde);
        }
        nd_free(ins);
        if (r.out && r.out != stdout)
                fclose(r.out);
        if (r.dlq)
                fclose(r.dlq);
        nd_serde_destroy(serde);
        nd_catalog_destroy(cat);
        nd_free(r.buf);
        return rc;
}
