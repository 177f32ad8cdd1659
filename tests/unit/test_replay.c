/*
 * test_replay.c — `nudge replay` over several inputs (common/cli/replay.c),
 * through nd_replay_run() with the passthrough processor, which forwards
 * every record as it comes: the output lists the events in the order the
 * task applied them. Checked: the merge by timestamp with ties in --input
 * order, each input keeping its own order when its timestamps go back;
 * JSON lines and container files mixed; a bad line among inputs naming its
 * file; an unreadable input; a damaged container among several stopping
 * the replay after the events merged before the damage.
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
        char *err; /* stderr */
        char *dlq; /* the dead-letter file */
};

static void run_free(struct run *r) {
        nd_free(r->out);
        nd_free(r->err);
        nd_free(r->dlq);
}

/* Replays inputs with the passthrough processor; stderr is captured. */
static struct run replay(const char *const *inputs, int cnt) {
        nd_config_t *cfg = NULL;
        char errstr[512];
        const char *out = nd_test_tmp_path("replay-test", "out.jsonl"),
                   *err = nd_test_tmp_path("replay-test", "err.txt");
        const char *dlq = nd_test_tmp_path("replay-test", "dlq.jsonl");
        nd_replay_opts_t opts = {.inputs = inputs,
                                 .input_cnt = cnt,
                                 .output = out,
                                 .dead_letter = dlq};
        struct run r;
        int saved, fd;
        size_t len = 0;
        char *raw, *p, *w;

        ck_assert_int_eq(nd_config_load_string("pt.yaml", passthrough_yaml,
                                               strlen(passthrough_yaml),
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
        nd_free(raw);
        unlink(out);
        unlink(err);
        unlink(dlq);
        return r;
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
        return s;
}

int main(void) {
        return nd_test_main(replay_suite());
}
