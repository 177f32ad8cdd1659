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
 * Tasks (--partitions N). Live, a task per partition number reads that
 * partition of clickstream, cart and purchase, keeps its own watermark,
 * and merges its three partitions by the events' timestamps, ties to the
 * lower topic index (TRIGGERS.md §2). Replay emulates that: each event
 * goes to task nd_kio_partition_of(its customer key, N), the producers'
 * murmur2, and a task's events come in "lanes", one per (input, topic of
 * the event's type), each in file order. The lanes are ordered topic
 * first, then input, and the merge above runs over them, so a tie goes to
 * clickstream, then cart, then purchase, then to the input given first;
 * a mixed file and one file per topic give the same lanes. The tasks run
 * one after another, each a pass over the inputs in which every lane opens
 * its input again and skips the events of other tasks and topics:
 * streaming, no more memory than one input per lane, O(events x lanes x
 * N) decoding. (Reading each input once would need every lane's events
 * buffered until the merge takes them: unbounded.) The first pass notes
 * which lanes hold events of which task, so later passes open only those.
 * A bad record is reported once, by the first pass's clickstream lane of
 * its input (a record that does not decode has no key and no topic); the
 * other lanes skip it silently. The end time closes each task; the
 * actions come task by task, 0 first. Inputs must be readable again, so
 * stdin and pipes are refused.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "clock.h"
#include "kio.h"
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
        /* --partitions; 0: one task over every event, no lanes */
        int32_t parts;
        int32_t task_idx; /* the task being replayed */
        /* [input][topic][task]: the lane (input, topic) has events of the
         * task; filled in the first pass (task 0), which reads every lane.
         * See lane_flag(). */
        unsigned char *lane_has;
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

/* One input file and its head event. With --partitions, one lane: the
 * events of one topic of one input that go to the task being replayed. */
struct input {
        const char *path;  /* as given; "-" is stdin */
        int idx;           /* the --input it reads, from 0 */
        int lane_topic;    /* an nd_event_topic_t; -1: every event (no lanes) */
        bool reports;      /* reports and counts its input's bad records */
        FILE *f;           /* NULL: a lane with nothing for this task */
        nd_serde_t *serde; /* this input's: the head borrows its scratch */
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
        nd_rec_t rec = {.topic = topic, .partition = r->task_idx};
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
                if (r->parts)
                        fprintf(stderr, "\rreplay: task %d (0..%d), ",
                                (int)r->task_idx, (int)r->parts - 1);
                else
                        fputs("\rreplay: ", stderr);
                fprintf(stderr, "%" PRIu64 " events, %" PRIu64 " actions",
                        r->events, r->actions);
                r->last_progress = nd_clock_mono_ms();
        }
}

/* The lane_has flag of (input idx, topic, task t). */
static unsigned char *lane_flag(struct replay *r, int idx, int topic,
                                int32_t t) {
        size_t lane = (size_t)idx * ND_TOPIC__CNT + (size_t)topic;
        return &r->lane_has[lane * (size_t)r->parts + (size_t)t];
}

/* Whether in's decoded head belongs to its lane: its topic, and the task
 * being replayed. The first pass also notes, for every task, that the lane
 * has events of it. */
static bool lane_takes(struct replay *r, const struct input *in) {
        int32_t p;
        if (in->lane_topic < 0)
                return true;
        if ((int)nd_event_type_topic_of(in->ev.type) != in->lane_topic)
                return false;
        p = nd_kio_partition_of(in->ev.key.p, in->ev.key.len, r->parts);
        if (r->task_idx == 0)
                *lane_flag(r, in->idx, in->lane_topic, p) = 1;
        return p == r->task_idx;
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
                        if (in->reports)
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
                        if (in->reports) {
                                dead_letter(r, in->path, in->pos, err,
                                            errstr[0] ? errstr
                                                      : nd_err_str(err),
                                            NULL, 0);
                                r->bad++;
                        }
                        continue;
                }
                if (!lane_takes(r, in))
                        continue;
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
                        if (in->reports) {
                                dead_letter(
                                    r, in->path, in->pos, ND_ERR_BAD_LENGTH,
                                    "line longer than 1 MiB", line, (size_t)n);
                                r->bad++;
                        }
                        continue;
                }
                errstr[0] = '\0';
                err = nd_serde_decode_json(in->serde, line, (size_t)n, &in->ev,
                                           errstr, sizeof(errstr));
                if (err != ND_OK) {
                        if (in->reports) {
                                dead_letter(r, in->path, in->pos, err,
                                            errstr[0] ? errstr
                                                      : nd_err_str(err),
                                            line, (size_t)n);
                                r->bad++;
                        }
                        continue;
                }
                if (!lane_takes(r, in))
                        continue;
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
                if (in->reports)
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
                if (ins[i].f && start_input(r, &ins[i]) != 0)
                        return 1;
        for (;;) {
                struct input *in = NULL;
                /* strictly smaller: a tie goes to the input (lane) first
                 * in ins */
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

/* With --partitions: whether every input can be read once per pass. 0, or
 * 2 with a message naming the input. */
static int check_rereadable(const nd_replay_opts_t *opts) {
        for (int i = 0; i < opts->input_cnt; i++) {
                const char *path = opts->inputs[i];
                struct stat sb;
                if (!strcmp(path, "-")) {
                        fprintf(stderr,
                                "nudge replay: --input - (stdin) cannot be "
                                "used with --partitions, which reads every "
                                "input once per task and topic: give a "
                                "file\n");
                        return 2;
                }
                if (stat(path, &sb) != 0) {
                        fprintf(stderr, "nudge replay: --input %s: %s\n", path,
                                strerror(errno));
                        return 2;
                }
                if (S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode)) {
                        fprintf(stderr,
                                "nudge replay: --input %s is a pipe: "
                                "--partitions reads every input once per "
                                "task and topic: give a file\n",
                                path);
                        return 2;
                }
        }
        return 0;
}

/* Opens the lanes of task t, each from the start of its input; a lane that
 * the first pass found without events of t stays closed (f NULL). 0, or 1
 * with a message naming the input (it was there at the start). */
static int open_lanes(struct replay *r, struct input *ins, int cnt) {
        for (int i = 0; i < cnt; i++) {
                struct input *in = &ins[i];
                in->pos = 0;
                in->has_head = false;
                /* the first pass reads every lane, and its clickstream lane
                 * of each input reports the input's bad records */
                in->reports = r->task_idx == 0 && in->lane_topic == 0;
                if (r->task_idx > 0 &&
                    !*lane_flag(r, in->idx, in->lane_topic, r->task_idx))
                        continue;
                if (!(in->f = fopen(in->path, "r"))) {
                        fprintf(stderr, "nudge replay: --input %s: %s\n",
                                in->path, strerror(errno));
                        return 1;
                }
        }
        return 0;
}

static void close_lanes(struct input *ins, int cnt) {
        for (int i = 0; i < cnt; i++) {
                nd_ocf_reader_close(ins[i].ocf);
                ins[i].ocf = NULL;
                if (ins[i].f && ins[i].f != stdin)
                        fclose(ins[i].f);
                ins[i].f = NULL;
        }
}

/* One task: created, fed the merged events of its lanes (with --partitions,
 * opened here), ended, its stats into *st, destroyed. Returns the exit
 * code: 0, 1 (a damaged or unreadable input), 2 (a processor's init). */
static int replay_task(struct replay *r, const nd_config_t *cfg,
                       const nd_catalog_t *cat, struct input *ins, int cnt,
                       nd_task_stats_t *st) {
        nd_task_conf_t tc = {.cfg = cfg,
                             .partition = r->task_idx,
                             .sink = {sink_emit, sink_forward, r},
                             .catalog = cat,
                             .live = false};
        int rc = 2;
        r->task = nd_task_new(&tc);
        if (nd_task_start(r->task) != ND_OK)
                goto out;
        rc = 1;
        if (r->parts && open_lanes(r, ins, cnt) != 0)
                goto out;
        if (merge(r, ins, cnt) != 0)
                goto out;
        if (r->opts->has_end)
                nd_task_end(r->task, r->opts->end_time);
        nd_task_stats(r->task, st);
        rc = 0;
out:
        if (r->parts)
                close_lanes(ins, cnt);
        nd_task_destroy(r->task);
        r->task = NULL;
        return rc;
}

int nd_replay_run(const nd_config_t *cfg, const nd_replay_opts_t *opts) {
        struct replay r = {.opts = opts, .parts = opts->partitions};
        nd_serde_t *serde = NULL;
        nd_catalog_t *cat = nd_catalog_new();
        nd_serde_conf_t sc;
        struct input *ins = NULL;
        int cnt = opts->input_cnt;
        int lane_cnt = 0;
        size_t timers_pending = 0, entries = 0;
        char errstr[512];
        int rc = 2;

        r.buf = nd_malloc(OUT_BUF);
        nd_serde_conf_from_config(&sc, cfg);
        if (cnt < 1 || cnt > ND_REPLAY_MAX_INPUTS) {
                fprintf(stderr, "nudge replay: 1 to %d --input files, not %d\n",
                        ND_REPLAY_MAX_INPUTS, cnt);
                goto out;
        }
        if (opts->partitions < 0 ||
            opts->partitions > ND_REPLAY_MAX_PARTITIONS) {
                fprintf(stderr,
                        "nudge replay: --partitions: expected 1 to %d, not "
                        "%d\n",
                        ND_REPLAY_MAX_PARTITIONS, opts->partitions);
                goto out;
        }
        if (r.parts && check_rereadable(opts) != 0)
                goto out;
        /* With --partitions, the lanes topic first, then input: the
         * merge's ties go to the lane first in ins (see the top). */
        lane_cnt = r.parts ? cnt * ND_TOPIC__CNT : cnt;
        ins = nd_calloc((size_t)lane_cnt, sizeof(*ins));
        if (nd_serde_new(&sc, &serde, errstr, sizeof(errstr)) != ND_OK) {
                fprintf(stderr, "nudge replay: %s\n", errstr);
                goto out;
        }
        if (opts->catalog && load_catalog(cat, serde, opts->catalog, errstr,
                                          sizeof(errstr)) != ND_OK) {
                fprintf(stderr, "nudge replay: %s\n", errstr);
                goto out;
        }
        for (int i = 0; i < lane_cnt; i++) {
                struct input *in = &ins[i];
                in->idx = i % cnt;
                in->lane_topic = r.parts ? i / cnt : -1;
                in->reports = true;
                in->path = opts->inputs[in->idx];
                if (r.parts) {
                        /* opened by each task's pass (open_lanes) */
                } else if (!strcmp(in->path, "-")) {
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
        if (r.parts)
                r.lane_has =
                    nd_calloc((size_t)cnt * ND_TOPIC__CNT * (size_t)r.parts, 1);

        r.last_progress = nd_clock_mono_ms();
        r.progress = isatty(2);
        for (r.task_idx = 0; r.task_idx < (r.parts ? r.parts : 1);
             r.task_idx++) {
                nd_task_stats_t st;
                if ((rc = replay_task(&r, cfg, cat, ins, lane_cnt, &st)) != 0)
                        goto out;
                timers_pending += st.timers_pending;
                entries += st.entries;
                if (r.write_errors)
                        break;
        }
        rc = 1;
        if (fflush(r.out) != 0 || r.write_errors) {
                fprintf(stderr, "nudge replay: writing %s failed\n",
                        opts->output);
                goto out;
        }
        fprintf(stderr,
                "%sreplay: %" PRIu64 " events, %" PRIu64 " bad %s, %" PRIu64
                " actions, %zu timers still pending, %zu customers in state",
                r.progress ? "\r" : "", r.events, r.bad,
                r.ocf_inputs == 0     ? "lines"
                : r.ocf_inputs == cnt ? "records"
                                      : "lines or records",
                r.actions, timers_pending, entries);
        if (r.parts == 1)
                fputs(" (1 task)", stderr);
        else if (r.parts)
                fprintf(stderr, " (sums over %d tasks)", (int)r.parts);
        fputc('\n', stderr);
        rc = 0;
out:
        for (int i = 0; ins && i < lane_cnt; i++) {
                nd_ocf_reader_close(ins[i].ocf);
                if (ins[i].f && ins[i].f != stdin)
                        fclose(ins[i].f);
                free(ins[i].line); /* getline's */
                nd_serde_destroy(ins[i].serde);
        }
        nd_free(ins);
        nd_free(r.lane_has);
        if (r.out && r.out != stdout)
                fclose(r.out);
        if (r.dlq)
                fclose(r.dlq);
        nd_serde_destroy(serde);
        nd_catalog_destroy(cat);
        nd_free(r.buf);
        return rc;
}
