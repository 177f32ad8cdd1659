/*
 * test_replay.c — `nudge replay` over several inputs (common/cli/replay.c),
 * through nd_replay_run() with the passthrough processor, which forwards
 * every record as it comes: the output lists the events in the order the
 * task applied them. Checked: the merge by timestamp with ties in --input
 * order, each input keeping its own order when its timestamps go back;
 * JSON lines and container files mixed; a bad line among inputs naming its
 * file; an unreadable input; a damaged container among several stopping
 * the replay after the events merged before the damage.
 *
 * --partitions N (one task per partition number, as live): the events of a
 * task in topic lanes, ties to clickstream, then cart, then purchase, then
 * to the input given first, each lane in file order; a mixed file and one
 * file per topic giving the same tasks; each task keeping its own
 * watermark (so --partitions 1 and 2 differ, legitimately, on a real
 * trigger) with the actions task by task; bad lines reported once however
 * many passes read them; stdin and bad counts refused. Which task a key
 * goes to: of 2, alice 1 and bob, carol, dave 0; of 3, alice and bob 0,
 * dave 1, carol 2 (murmur2: test_kio_partition.c checks it).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "mem.h"
#include "nd_test.h"
#include "ocf.h"
#include "registry.h"
#include "replay.h"
#include "serde.h"

static const char passthrough_yaml[] = "input:\n"
                                       "  format: json\n"
                                       "schema:\n"
                                       "  dir: " ND_SOURCE_DIR "/schemas\n"
                                       "triggers:\n"
                                       "  - name: pt\n"
                                       "    type: passthrough\n";

/* A valid page_viewed event line (with newline) with event id id. */
static int event_line(char *buf, size_t size, const char *id, long ts) {
        return snprintf(buf, size,
                        "{\"event_id\":\"%s\",\"type\":\"page_viewed\","
                        "\"customer_id\":\"cust-%s\",\"anonymous_id\":null,"
                        "\"timestamp\":%ld,\"channel\":\"web\","
                        "\"device_id\":\"d1\",\"device_type\":\"desktop\","
                        "\"session_id\":\"s1\"}\n",
                        id, id, ts);
}

/* Writes a JSON lines file of events "id:ts,id:ts,..." to tmp name. */
static const char *json_file(const char *name, const char *spec) {
        const char *path = nd_test_tmp_path("replay-test", name);
        FILE *f = fopen(path, "w");
        char id[32], line[512];
        long ts;
        int n;
        ck_assert_ptr_nonnull(f);
        while (sscanf(spec, "%31[^:]:%ld%n", id, &ts, &n) == 2) {
                event_line(line, sizeof(line), id, ts);
                fputs(line, f);
                spec += n;
                if (*spec == ',')
                        spec++;
        }
        ck_assert_int_eq(fclose(f), 0);
        return path;
}

struct run {
        int rc;
        char *out; /* the event ids of the output, space-separated */
        char *raw; /* the output as written */
        char *err; /* stderr */
        char *dlq; /* the dead-letter file */
};

static void run_free(struct run *r) {
        nd_free(r->out);
        nd_free(r->raw);
        nd_free(r->err);
        nd_free(r->dlq);
}

/* Replays inputs with the configuration yaml (the opts' output and
 * dead-letter file are set here); stderr is captured. */
static struct run replay_opts(const char *yaml, nd_replay_opts_t opts) {
        nd_config_t *cfg = NULL;
        char errstr[512];
        const char *out = nd_test_tmp_path("replay-test", "out.jsonl"),
                   *err = nd_test_tmp_path("replay-test", "err.txt");
        const char *dlq = nd_test_tmp_path("replay-test", "dlq.jsonl");
        struct run r;
        int saved, fd;
        size_t len = 0;
        char *raw, *p, *w;

        opts.output = out;
        opts.dead_letter = dlq;
        ck_assert_int_eq(nd_config_load_string("t.yaml", yaml, strlen(yaml),
                                               nd_processor_find, &cfg, errstr,
                                               sizeof(errstr)),
                         ND_OK);
        unlink(out);
        fflush(stderr);
        saved = dup(2);
        fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ck_assert_int_ge(fd, 0);
        dup2(fd, 2);
        close(fd);
        r.rc = nd_replay_run(cfg, &opts);
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
        nd_config_destroy(cfg);
        r.err = nd_test_slurp(err, NULL);
        r.dlq = access(dlq, F_OK) == 0 ? nd_test_slurp(dlq, NULL) : NULL;
        /* Keep the event ids of the forwarded JSON lines only (the Avro
         * bodies forwarded from containers hold NUL bytes: memmem). */
        raw = access(out, F_OK) == 0 ? nd_test_slurp(out, &len) : NULL;
        r.out = nd_calloc(1, raw ? len + 1 : 1);
        w = r.out;
        for (p = raw; p && (p = memmem(p, len - (size_t)(p - raw),
                                       "\"event_id\":\"", 12)) != NULL;) {
                p += 12;
                if (w != r.out)
                        *w++ = ' ';
                while (*p != '"')
                        *w++ = *p++;
        }
        r.raw = raw ? raw : nd_calloc(1, 1);
        unlink(out);
        unlink(err);
        unlink(dlq);
        return r;
}

/* Replays inputs with the passthrough processor, one task in file order. */
static struct run replay(const char *const *inputs, int cnt) {
        nd_replay_opts_t opts = {.inputs = inputs, .input_cnt = cnt};
        return replay_opts(passthrough_yaml, opts);
}

/* The same with --partitions parts. */
static struct run replay_parts(const char *const *inputs, int cnt, int parts) {
        nd_replay_opts_t opts = {
            .inputs = inputs, .input_cnt = cnt, .partitions = parts};
        return replay_opts(passthrough_yaml, opts);
}

/* ------------------------------------------------------------------ */
/* Merge order                                                          */

/* A: 10 20 20 15 30 (goes back), B: 5 20 25, C: 20 10 (goes back). */
#define A "a1:10,a2:20,a3:20,a4:15,a5:30"
#define B "b1:5,b2:20,b3:25"
#define C "c1:20,c2:10"

static const struct order_case {
        const char *files; /* the order of the --input options */
        const char *want;
} order_cases[] = {
    /* ties at 20: a2 a3 (A's head stays smallest while it is 20, then
     * a4 at 15 goes back: A's own order is kept), then B, then C */
    {"ABC", "b1 a1 a2 a3 a4 b2 c1 c2 b3 a5"},
    /* the same ties go to C first, then B, then A */
    {"CBA", "b1 a1 c1 c2 b2 a2 a3 a4 b3 a5"},
    {"BA", "b1 a1 b2 a2 a3 a4 b3 a5"},
    /* one input: file order, timestamps going back or not */
    {"A", "a1 a2 a3 a4 a5"},
    {"C", "c1 c2"},
};

START_TEST(inputs_merge_by_timestamp_ties_in_input_order) {
        const struct order_case *c = &order_cases[_i];
        const char *paths[3];
        const char *a = json_file("a.jsonl", A);
        const char *b = json_file("b.jsonl", B);
        const char *cc = json_file("c.jsonl", C);
        struct run r;
        int n = 0;
        for (const char *f = c->files; *f; f++)
                paths[n++] = *f == 'A' ? a : *f == 'B' ? b : cc;
        r = replay(paths, n);
        ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
        ck_assert_str_eq(r.out, c->want);
        run_free(&r);
        unlink(a);
        unlink(b);
        unlink(cc);
}
END_TEST

/* Writes the events of a JSON lines spec (all of one topic) as a
 * container file with one record per block, so that a cut file still
 * has whole blocks before the cut. */
static const char *ocf_file(const char *name, const char *spec) {
        const char *json = json_file("tmp-for-ocf.jsonl", spec);
        const char *path = nd_test_tmp_path("replay-test", name);
        nd_serde_conf_t sc = {0};
        nd_serde_t *serde;
        nd_ocf_writer_t *w;
        nd_ocf_writer_opts_t wo = {ND_OCF_CODEC_NULL, 1, NULL};
        char errstr[256];
        char *buf = nd_test_slurp(json, NULL), *line, *nl;
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(nd_serde_new(&sc, &serde, errstr, sizeof(errstr)),
                         ND_OK);
        ck_assert_int_eq(nd_ocf_writer_open(serde, f, ND_EV_PAGE_VIEWED, &wo,
                                            &w, errstr, sizeof(errstr)),
                         ND_OK);
        for (line = buf; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
                nd_event_t ev;
                ck_assert_int_eq(nd_serde_decode_json(serde, line,
                                                      (size_t)(nl - line), &ev,
                                                      errstr, sizeof(errstr)),
                                 ND_OK);
                ck_assert_int_eq(nd_ocf_writer_append(w, &ev), ND_OK);
        }
        ck_assert_int_eq(nd_ocf_writer_close(w), ND_OK);
        ck_assert_int_eq(fclose(f), 0);
        nd_serde_destroy(serde);
        nd_free(buf);
        unlink(json);
        return path;
}

START_TEST(json_lines_and_containers_merge_alike) {
        const char *a = json_file("a.jsonl", A);
        const char *b = ocf_file("b.avro", B);
        const char *cc = json_file("c.jsonl", C);
        const char *paths[3] = {a, b, cc};
        struct run r = replay(paths, 3);
        ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
        /* The container's records are forwarded as Avro bodies, not JSON:
         * only the JSON events show here, in the order of case ABC. */
        ck_assert_str_eq(r.out, "a1 a2 a3 a4 c1 c2 a5");
        ck_assert_msg(strstr(r.err, "10 events, 0 bad lines or records"), "%s",
                      r.err);
        run_free(&r);
        unlink(a);
        unlink(b);
        unlink(cc);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Errors                                                               */

START_TEST(a_bad_line_names_its_input_and_line) {
        const char *a = json_file("a.jsonl", A);
        const char *b = nd_test_tmp_path("replay-test", "b.jsonl");
        const char *paths[2] = {a, b};
        char line[512], want[300];
        FILE *f = fopen(b, "w");
        struct run r;
        ck_assert_ptr_nonnull(f);
        event_line(line, sizeof(line), "b1", 12);
        fputs(line, f);
        fputs("{\"event_id\":\"b2\"}\n", f);
        event_line(line, sizeof(line), "b3", 13);
        fputs(line, f);
        ck_assert_int_eq(fclose(f), 0);
        r = replay(paths, 2);
        ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
        ck_assert_str_eq(r.out, "a1 b1 b3 a2 a3 a4 a5");
        snprintf(want, sizeof(want), "%s:2: MISSING_FIELD", b);
        ck_assert_msg(strstr(r.err, want), "no '%s' in: %s", want, r.err);
        ck_assert_ptr_nonnull(r.dlq);
        snprintf(want, sizeof(want), "{\"input\":\"%s\",\"line\":2,", b);
        ck_assert_msg(!strncmp(r.dlq, want, strlen(want)), "%s", r.dlq);
        run_free(&r);
        unlink(a);
        unlink(b);
}
END_TEST

START_TEST(an_unreadable_input_is_a_setup_error_naming_it) {
        const char *a = json_file("a.jsonl", A);
        const char *missing =
            nd_test_tmp_path("replay-test", "no-such-file.avro");
        const char *paths[2] = {a, missing};
        struct run r = replay(paths, 2);
        ck_assert_int_eq(r.rc, 2);
        ck_assert_msg(strstr(r.err, missing), "%s", r.err);
        ck_assert_str_eq(r.out, "");
        run_free(&r);
        unlink(a);
}
END_TEST

START_TEST(a_corrupt_container_among_several_fails_naming_it) {
        const char *a = json_file("a.jsonl", A);
        const char *bad = nd_test_tmp_path("replay-test", "bad.avro");
        const char *paths[2] = {a, bad};
        struct run r;
        FILE *f = fopen(bad, "wb");
        ck_assert_ptr_nonnull(f);
        fputs("Obj\001 this is not a container header", f);
        ck_assert_int_eq(fclose(f), 0);
        r = replay(paths, 2);
        ck_assert_int_eq(r.rc, 1);
        ck_assert_msg(strstr(r.err, bad), "%s", r.err);
        ck_assert_str_eq(r.out, "");
        run_free(&r);
        unlink(a);
        unlink(bad);
}
END_TEST

START_TEST(a_cut_container_stops_after_the_events_merged_before) {
        const char *a = json_file("a.jsonl", A);
        const char *b = ocf_file("b.avro", "b1:11,b2:12,b3:21,b4:22");
        const char *paths[2] = {a, b};
        struct stat sb;
        struct run r;
        /* Cut the last block (one record) in half. */
        ck_assert_int_eq(stat(b, &sb), 0);
        ck_assert_int_eq(truncate(b, sb.st_size - 30), 0);
        r = replay(paths, 2);
        ck_assert_int_eq(r.rc, 1);
        ck_assert_msg(strstr(r.err, b) && strstr(r.err, "truncated"), "%s",
                      r.err);
        /* b1..b3 (Avro, not listed) were read; b4's block is cut: the
         * replay stops when it is needed, after the events before it. */
        ck_assert_str_eq(r.out, "a1 a2 a3 a4");
        run_free(&r);
        unlink(a);
        unlink(b);
}
END_TEST

START_TEST(stdin_can_be_given_once) {
        const char *paths[2] = {"-", "-"};
        struct run r = replay(paths, 2);
        ck_assert_int_eq(r.rc, 2);
        ck_assert_msg(strstr(r.err, "stdin"), "%s", r.err);
        run_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* --partitions                                                          */

/* A valid event line (with newline) of customer cust: type 'v' a
 * page_viewed (clickstream), 'a' a product_added (cart), 'o' an
 * order_completed (purchase). */
static void typed_line(char *buf, size_t size, const char *id, char type,
                       const char *cust, long long ts) {
        int n = snprintf(buf, size,
                         "{\"event_id\":\"%s\",\"type\":\"%s\","
                         "\"customer_id\":\"%s\",\"anonymous_id\":null,"
                         "\"timestamp\":%lld,\"channel\":\"web\","
                         "\"device_id\":\"d-%s\",\"device_type\":\"desktop\","
                         "\"session_id\":null",
                         id,
                         type == 'v'   ? "page_viewed"
                         : type == 'a' ? "product_added"
                                       : "order_completed",
                         cust, ts, cust);
        ck_assert_int_lt(n, (int)size);
        if (type == 'a')
                n += snprintf(buf + n, size - (size_t)n,
                              ",\"product\":{\"sku\":\"S1\",\"category\":"
                              "\"shoes\",\"price_cents\":5900,\"currency\":"
                              "\"EUR\"},\"cart_id\":\"k-%s\",\"quantity\":1",
                              cust);
        else if (type == 'o')
                n += snprintf(buf + n, size - (size_t)n,
                              ",\"order_id\":\"o-%s\",\"value_cents\":5900,"
                              "\"currency\":\"EUR\",\"cart_id\":null,"
                              "\"checkout_id\":null,\"products\":[{\"sku\":"
                              "\"S1\",\"category\":\"shoes\",\"quantity\":1,"
                              "\"price_cents\":5900}]",
                              id);
        ck_assert_int_lt(n, (int)size - 2);
        snprintf(buf + n, size - (size_t)n, "}\n");
}

/* Writes the events "id/type/customer/ts,..." (types as typed_line) whose
 * type is in only (NULL: all) to a JSON lines file. The path lives in one
 * of 8 rotating buffers of its own (nd_test_tmp_path's are reused by every
 * replay). */
static const char *typed_file(const char *name, const char *spec,
                              const char *only) {
        static char kept[8][256];
        static int next;
        char *path = kept[next++ % 8];
        FILE *f;
        snprintf(path, sizeof(kept[0]), "%s",
                 nd_test_tmp_path("replay-test", name));
        f = fopen(path, "w");
        char id[32], cust[32], line[1024], type;
        long long ts;
        int n;
        ck_assert_ptr_nonnull(f);
        while (sscanf(spec, "%31[^/]/%c/%31[^/]/%lld%n", id, &type, cust, &ts,
                      &n) == 4) {
                ck_assert_msg(strchr("vao", type), "bad type in %s", spec);
                typed_line(line, sizeof(line), id, type, cust, ts);
                if (!only || strchr(only, type))
                        fputs(line, f);
                spec += n;
                if (*spec == ',')
                        spec++;
        }
        ck_assert_int_eq(fclose(f), 0);
        return path;
}

/* One customer's events at one instant on all three topics, in the
 * "wrong" file order (purchase, cart, clickstream), then a late one on
 * clickstream and on cart. */
#define TIES "o1/o/bob/100,a1/a/bob/100,v1/v/bob/100,v2/v/bob/90,a2/a/bob/95"

START_TEST(a_task_takes_ties_clickstream_then_cart_then_purchase) {
        const char *mixed = typed_file("mixed.jsonl", TIES, NULL);
        const char *v = typed_file("v.jsonl", TIES, "v");
        const char *a = typed_file("a.jsonl", TIES, "a");
        const char *o = typed_file("o.jsonl", TIES, "o");
        const char *one[1] = {mixed}, *split[3] = {o, a, v};
        struct run r;

        /* Without --partitions: the file order, as before. */
        r = replay(one, 1);
        ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
        ck_assert_str_eq(r.out, "o1 a1 v1 v2 a2");
        run_free(&r);
        /* One task: the lanes merge; at 100 clickstream goes first, then
         * its late v2 (its lane's order), then cart (a1, its late a2),
         * then purchase. */
        r = replay_parts(one, 1, 1);
        ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
        ck_assert_str_eq(r.out, "v1 v2 a1 a2 o1");
        ck_assert_msg(strstr(r.err, "5 events, 0 bad lines, 5 actions") &&
                          strstr(r.err, "(1 task)"),
                      "%s", r.err);
        run_free(&r);
        /* One file per topic, given purchase first: the ties still go by
         * topic with --partitions ... */
        r = replay_parts(split, 3, 1);
        ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
        ck_assert_str_eq(r.out, "v1 v2 a1 a2 o1");
        run_free(&r);
        /* ... and by --input order without. */
        r = replay(split, 3);
        ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
        ck_assert_str_eq(r.out, "o1 a1 a2 v1 v2");
        run_free(&r);
        unlink(mixed);
        unlink(v);
        unlink(a);
        unlink(o);
}
END_TEST

/* Within a topic, a tie goes to the input given first. */
START_TEST(ties_on_one_topic_go_to_the_input_given_first) {
        const char *x = typed_file("x.jsonl", "ax/a/bob/100", NULL);
        const char *y =
            typed_file("y.jsonl", "ay/a/bob/100,vy/v/bob/100", NULL);
        const char *xy[2] = {x, y}, *yx[2] = {y, x};
        struct run r = replay_parts(xy, 2, 1);
        ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
        ck_assert_str_eq(r.out, "vy ax ay");
        run_free(&r);
        r = replay_parts(yx, 2, 1);
        ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
        ck_assert_str_eq(r.out, "vy ay ax");
        run_free(&r);
        unlink(x);
        unlink(y);
}
END_TEST

/* Four customers on three topics, with ties across topics and events that
 * go back within a topic. */
#define CROWD                                                    \
        "a1/a/alice/10,v1/v/bob/10,o1/o/carol/12,v2/v/alice/10," \
        "a2/a/bob/8,v3/v/dave/11,o2/o/alice/10,a3/a/carol/12,"   \
        "v4/v/carol/12,a4/a/dave/9,v5/v/alice/7,o3/o/bob/10,"    \
        "a5/a/alice/20,v6/v/dave/11,o4/o/dave/11"

static const struct crowd_case {
        int parts;
        const char *want;
} crowd_cases[] = {
    /* All in one task. Lanes: clickstream v1 v2 v3 v4 v5 v6 (10 10 11 12
     * 7 11), cart a1 a2 a3 a4 a5 (10 8 12 9 20), purchase o1 o2 o3 o4 (12
     * 10 10 11). At 10 clickstream wins twice, then a1 and the late a2;
     * v3 at 11; at 12 clickstream again, and its late v5 and v6 follow;
     * a3 beats o1 at 12, a4 follows; purchase drains before a5 at 20. */
    {1, "v1 v2 a1 a2 v3 v4 v5 v6 a3 a4 o1 o2 o3 o4 a5"},
    /* Task 0 (bob, carol, dave): a2 at 8 first; v1, v3 at 11 before the
     * three at 12, which go clickstream (v4, then v6 behind it), cart (a3,
     * then a4), purchase (o1 o3 o4). Task 1 (alice): v2 wins the triple
     * tie at 10 and its late v5 follows, a1 beats o2 at 10, a5 at 20. */
    {2, "a2 v1 v3 v4 v6 a3 a4 o1 o3 o4 "
        "v2 v5 a1 o2 a5"},
    /* Task 0 (alice, bob): the ties at 10 go v1 v2 (v5 behind), a1 (a2
     * behind), o2 o3, then a5. Task 1 (dave): a4 at 9, then the ties at
     * 11. Task 2 (carol): the ties at 12. */
    {3, "v1 v2 v5 a1 a2 o2 o3 a5 "
        "a4 v3 v6 o4 "
        "v4 a3 o1"},
};

START_TEST(a_mixed_file_and_one_file_per_topic_give_the_same_tasks) {
        const struct crowd_case *c = &crowd_cases[_i];
        const char *mixed = typed_file("mixed.jsonl", CROWD, NULL);
        const char *v = typed_file("v.jsonl", CROWD, "v");
        const char *a = typed_file("a.jsonl", CROWD, "a");
        const char *o = typed_file("o.jsonl", CROWD, "o");
        const char *half1 = typed_file("h1.jsonl", CROWD, "va");
        const char *one[1] = {mixed};
        const char *const orders[][3] = {{v, a, o}, {o, v, a}, {a, o, v}};
        const char *halves[2] = {o, half1};
        char want_stats[64];
        struct run r = replay_parts(one, 1, c->parts);

        ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
        ck_assert_str_eq(r.out, c->want);
        snprintf(want_stats, sizeof(want_stats), "(sums over %d tasks)",
                 c->parts);
        ck_assert_msg(strstr(r.err, "15 events, 0 bad lines, 15 actions") &&
                          (c->parts == 1 || strstr(r.err, want_stats)),
                      "%s", r.err);
        run_free(&r);
        for (int k = 0; k < 3; k++) {
                r = replay_parts(orders[k], 3, c->parts);
                ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
                ck_assert_msg(!strcmp(r.out, c->want),
                              "files in order %d: '%s', want '%s'", k, r.out,
                              c->want);
                run_free(&r);
        }
        /* purchase alone, then clickstream and cart mixed */
        r = replay_parts(halves, 2, c->parts);
        ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
        ck_assert_str_eq(r.out, c->want);
        run_free(&r);
        unlink(mixed);
        unlink(v);
        unlink(a);
        unlink(o);
        unlink(half1);
}
END_TEST

/* A real trigger: a cart reminder 1 h after the last cart change. */
static const char cart_yaml[] = "input:\n"
                                "  format: json\n"
                                "schema:\n"
                                "  dir: " ND_SOURCE_DIR "/schemas\n"
                                "triggers:\n"
                                "  - name: cart_reminder\n"
                                "    type: cart_abandonment\n"
                                "    delays: [1h]\n";

#define T0 1700000000000LL
/* alice's cart at T0 (due T0+1h); bob's at T0+30m (due T0+1h30m) and a
 * page view of his at T0+2h. */
#define WATERMARK_TRACE                                    \
        "a1/a/alice/1700000000000,b1/a/bob/1700001800000," \
        "b2/v/bob/1700007200000"

#define ALICE_REMINDER                                                       \
        "{\"action_id\":\"82b293607bbb0691c2341399203bb8dc\",\"trigger\":"   \
        "\"cart_abandonment\",\"trigger_name\":\"cart_reminder\","           \
        "\"customer_id\":\"alice\",\"anonymous_id\":null,\"channel\":"       \
        "\"web\",\"device_id\":\"d-alice\",\"stage\":0,\"created_at\":"      \
        "1700003600000,\"emitted_at\":1700003600000,\"expires_at\":"         \
        "1700046800000,\"cart_id\":\"k-alice\",\"order_id\":null,\"items\":" \
        "[{\"sku\":\"S1\",\"quantity\":1,\"price_cents\":5900,\"category\":" \
        "\"shoes\"}],\"value_cents\":5900,\"currency\":\"EUR\","             \
        "\"recommended_skus\":[],\"from_channel\":null,\"from_device_id\":"  \
        "null,\"source_event_ids\":[\"a1\"],\"gap_ms\":null}\n"
#define BOB_REMINDER                                                         \
        "{\"action_id\":\"bb99f74209056e267af9269d4cfe18c5\",\"trigger\":"   \
        "\"cart_abandonment\",\"trigger_name\":\"cart_reminder\","           \
        "\"customer_id\":\"bob\",\"anonymous_id\":null,\"channel\":\"web\"," \
        "\"device_id\":\"d-bob\",\"stage\":0,\"created_at\":1700005400000,"  \
        "\"emitted_at\":1700005400000,\"expires_at\":1700048600000,"         \
        "\"cart_id\":\"k-bob\",\"order_id\":null,\"items\":[{\"sku\":"       \
        "\"S1\",\"quantity\":1,\"price_cents\":5900,\"category\":"           \
        "\"shoes\"}],\"value_cents\":5900,\"currency\":\"EUR\","             \
        "\"recommended_skus\":[],\"from_channel\":null,\"from_device_id\":"  \
        "null,\"source_event_ids\":[\"b1\"],\"gap_ms\":null}\n"

static const struct watermark_case {
        int parts; /* 0: no --partitions */
        bool has_end;
        const char *want;
        const char *stats;
} watermark_cases[] = {
    /* One task: bob's page view at T0+2h moves the watermark past both
     * due times, alice's first. */
    {0, false, ALICE_REMINDER BOB_REMINDER,
     "2 actions, 0 timers still pending"},
    {1, false, ALICE_REMINDER BOB_REMINDER,
     "2 actions, 0 timers still pending"},
    /* Two tasks: bob's view moves task 0's watermark only; alice's task
     * 1 never passes T0+1h, so her reminder stays pending. */
    {2, false, BOB_REMINDER, "1 actions, 1 timers still pending"},
    /* With an end time (T0+3h) each task fires at its end: task 0's
     * actions (bob's) come before task 1's although alice's is due
     * earlier. */
    {1, true, ALICE_REMINDER BOB_REMINDER, "2 actions, 0 timers still pending"},
    {2, true, BOB_REMINDER ALICE_REMINDER, "2 actions, 0 timers still pending"},
};

START_TEST(each_task_keeps_its_own_watermark) {
        const struct watermark_case *c = &watermark_cases[_i];
        const char *path = typed_file("w.jsonl", WATERMARK_TRACE, NULL);
        const char *one[1] = {path};
        nd_replay_opts_t opts = {.inputs = one,
                                 .input_cnt = 1,
                                 .partitions = c->parts,
                                 .has_end = c->has_end,
                                 .end_time = T0 + 3 * 3600000};
        struct run r = replay_opts(cart_yaml, opts);
        ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
        ck_assert_str_eq(r.raw, c->want);
        ck_assert_msg(strstr(r.err, c->stats), "%s", r.err);
        run_free(&r);
        unlink(path);
}
END_TEST

/* Every pass reads every input, three lanes each: a bad line is still
 * reported, counted and dead-lettered once. */
START_TEST(a_bad_line_is_reported_once_however_many_passes_read_it) {
        const char *a = typed_file("a.jsonl", CROWD, NULL);
        const char *b = nd_test_tmp_path("replay-test", "b.jsonl");
        const char *paths[2] = {a, b};
        char line[1024], want[300];
        const char *p;
        int hits = 0, dlq_lines = 0;
        FILE *f = fopen(b, "w");
        struct run r;
        ck_assert_ptr_nonnull(f);
        typed_line(line, sizeof(line), "b1", 'a', "bob", 12);
        fputs(line, f);
        fputs("{\"event_id\":\"b2\"}\n", f);
        typed_line(line, sizeof(line), "b3", 'o', "alice", 13);
        fputs(line, f);
        fputs("not json\n", f);
        ck_assert_int_eq(fclose(f), 0);
        r = replay_parts(paths, 2, 3);
        ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
        snprintf(want, sizeof(want), "%s:2: MISSING_FIELD", b);
        for (p = r.err; (p = strstr(p, want)) != NULL; p++)
                hits++;
        ck_assert_msg(hits == 1, "%d times '%s' in: %s", hits, want, r.err);
        snprintf(want, sizeof(want), "%s:4: BAD_JSON", b);
        hits = 0;
        for (p = r.err; (p = strstr(p, want)) != NULL; p++)
                hits++;
        ck_assert_msg(hits == 1, "%d times '%s' in: %s", hits, want, r.err);
        ck_assert_msg(strstr(r.err, "17 events, 2 bad lines, 17 actions"), "%s",
                      r.err);
        ck_assert_ptr_nonnull(r.dlq);
        for (p = r.dlq; *p; p++)
                dlq_lines += *p == '\n';
        ck_assert_msg(dlq_lines == 2, "%s", r.dlq);
        snprintf(want, sizeof(want), "{\"input\":\"%s\",\"line\":2,", b);
        ck_assert_msg(!strncmp(r.dlq, want, strlen(want)), "%s", r.dlq);
        /* b1 (bob, cart, 12) and b3 (alice, purchase, 13) in task 0, lanes
         * of the second input after a.jsonl's o2 o3 at 10, before a5 */
        ck_assert_str_eq(r.out, "v1 v2 v5 a1 a2 o2 o3 b1 b3 a5 "
                                "a4 v3 v6 o4 "
                                "v4 a3 o1");
        run_free(&r);
        unlink(a);
        unlink(b);
}
END_TEST

START_TEST(partitions_refuse_stdin_and_bad_counts) {
        const char *a = typed_file("a.jsonl", CROWD, NULL);
        const char *with_stdin[2] = {a, "-"}, *one[1] = {a};
        static const int bad_counts[] = {-1, ND_REPLAY_MAX_PARTITIONS + 1};
        struct run r = replay_parts(with_stdin, 2, 2);
        ck_assert_int_eq(r.rc, 2);
        ck_assert_msg(strstr(r.err, "stdin") && strstr(r.err, "--partitions"),
                      "%s", r.err);
        ck_assert_str_eq(r.out, "");
        run_free(&r);
        for (int i = 0; i < 2; i++) {
                r = replay_parts(one, 1, bad_counts[i]);
                ck_assert_int_eq(r.rc, 2);
                ck_assert_msg(strstr(r.err, "--partitions"), "%s", r.err);
                ck_assert_str_eq(r.out, "");
                run_free(&r);
        }
        /* the largest count works (most tasks empty) */
        r = replay_parts(one, 1, ND_REPLAY_MAX_PARTITIONS);
        ck_assert_msg(r.rc == 0, "rc %d: %s", r.rc, r.err);
        ck_assert_msg(strstr(r.err, "15 events, 0 bad lines, 15 actions"), "%s",
                      r.err);
        run_free(&r);
        unlink(a);
}
END_TEST

Suite *replay_suite(void);
Suite *replay_suite(void) {
        Suite *s = suite_create("replay");
        TCase *tc = tcase_create("merge");
        tcase_add_loop_test(
            tc, inputs_merge_by_timestamp_ties_in_input_order, 0,
            (int)(sizeof(order_cases) / sizeof(order_cases[0])));
        tcase_add_test(tc, json_lines_and_containers_merge_alike);
        suite_add_tcase(s, tc);
        tc = tcase_create("errors");
        tcase_add_test(tc, a_bad_line_names_its_input_and_line);
        tcase_add_test(tc, an_unreadable_input_is_a_setup_error_naming_it);
        tcase_add_test(tc, a_corrupt_container_among_several_fails_naming_it);
        tcase_add_test(tc,
                       a_cut_container_stops_after_the_events_merged_before);
        tcase_add_test(tc, stdin_can_be_given_once);
        suite_add_tcase(s, tc);
        tc = tcase_create("partitions");
        tcase_add_test(tc,
                       a_task_takes_ties_clickstream_then_cart_then_purchase);
        tcase_add_test(tc, ties_on_one_topic_go_to_the_input_given_first);
        tcase_add_loop_test(
            tc, a_mixed_file_and_one_file_per_topic_give_the_same_tasks, 0,
            (int)(sizeof(crowd_cases) / sizeof(crowd_cases[0])));
        tcase_add_loop_test(
            tc, each_task_keeps_its_own_watermark, 0,
            (int)(sizeof(watermark_cases) / sizeof(watermark_cases[0])));
        tcase_add_test(tc,
                       a_bad_line_is_reported_once_however_many_passes_read_it);
        tcase_add_test(tc, partitions_refuse_stdin_and_bad_counts);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(replay_suite());
}
