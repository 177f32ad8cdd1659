/* test_base.c — err, mem, log and clock: the base layer. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "mem.h"
#include "nd_test.h"
#include "nudge/err.h"
#include "nudge/time.h"

START_TEST(err_codes_have_names_texts_and_classes) {
        ck_assert_str_eq(nd_err_name(ND_OK), "OK");
        ck_assert_str_eq(nd_err_name(ND_ERR_BAD_MAGIC), "BAD_MAGIC");
        ck_assert_str_eq(nd_err_str(ND_ERR_UNKNOWN_SCHEMA),
                         "unknown schema id");
        ck_assert_int_eq(nd_err_class(ND_ERR_TRUNCATED), ND_ERR_CLASS_RECORD);
        ck_assert_int_eq(nd_err_class(ND_ERR_TIMEOUT), ND_ERR_CLASS_RETRIABLE);
        ck_assert_int_eq(nd_err_class(ND_ERR_CONFIG), ND_ERR_CLASS_FATAL);
        ck_assert_str_eq(nd_err_name((nd_err_t)-9999), "UNKNOWN");
}
END_TEST

START_TEST(every_error_is_negative_and_distinct) {
#define XX(name, val, cls, text) ck_assert_int_lt(ND_ERR_##name, 0);
        ND_ERR_MAP(XX)
#undef XX
        static const int vals[] = {
#define XX(name, val, cls, text) val,
            ND_ERR_MAP(XX)
#undef XX
        };
        size_t n = sizeof(vals) / sizeof(vals[0]);
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        ck_assert_int_ne(vals[i], vals[j]);
}
END_TEST

START_TEST(err_fmt_writes_truncates_and_returns_the_code) {
        char buf[8];
        ck_assert_int_eq(
            nd_err_fmt(buf, sizeof(buf), ND_ERR_CONFIG, "key '%s'", "abc"),
            ND_ERR_CONFIG);
        ck_assert_str_eq(buf, "key 'ab"); /* truncated, terminated */
        ck_assert_int_eq(nd_err_fmt(NULL, 0, ND_ERR_IO, "%d", 1), ND_ERR_IO);
        buf[0] = 'x';
        ck_assert_int_eq(nd_err_fmt(buf, 0, ND_ERR_INVAL, "no"), ND_ERR_INVAL);
        ck_assert_int_eq(buf[0], 'x'); /* size 0: nothing written */
}
END_TEST

START_TEST(time_arithmetic_saturates) {
        ck_assert_int_eq(nd_time_add_sat(1, 2), 3);
        ck_assert_int_eq(nd_time_add_sat(INT64_MAX - 1, 5), INT64_MAX);
        ck_assert_int_eq(nd_time_add_sat(INT64_MIN + 1, -5), INT64_MIN);
        ck_assert_int_eq(nd_time_add_sat(INT64_MAX, -1), INT64_MAX - 1);
        ck_assert_int_eq(nd_time_sub_sat(5, 7), -2);
        ck_assert_int_eq(nd_time_sub_sat(INT64_MIN + 1, 5), INT64_MIN);
        ck_assert_int_eq(nd_time_sub_sat(INT64_MAX - 1, -5), INT64_MAX);
}
END_TEST

START_TEST(trymalloc_fails_on_the_nth_call_only) {
        void *a, *b, *c;
        nd_mem_fail_nth(2);
        ck_assert_int_eq(nd_trymalloc(&a, 16), ND_OK);
        ck_assert_int_eq(nd_trymalloc(&b, 16), ND_ERR_NOMEM);
        ck_assert_ptr_null(b);
        ck_assert_int_eq(nd_trymalloc(&c, 16), ND_OK);
        ck_assert_int_eq(nd_mem_fail_nth(0), 3);
        nd_free(a);
        nd_free(c);
        nd_free(NULL);
}
END_TEST

START_TEST(strndup_copies_and_terminates) {
        char *s = nd_strndup("abcdef", 3);
        ck_assert_str_eq(s, "abc");
        nd_free(s);
}
END_TEST

static char *capture_log(bool json, const char *msg) {
        int fds[2];
        static char buf[4096];
        ssize_t n;
        ck_assert_int_eq(pipe(fds), 0);
        nd_log_set_fd(fds[1]);
        nd_log_setup(ND_LOG_INFO, json);
        nd_log_debug("test", "hidden %d", 1);
        nd_log_info("test", "%s", msg);
        close(fds[1]);
        n = read(fds[0], buf, sizeof(buf) - 1);
        close(fds[0]);
        nd_log_set_fd(2);
        buf[n > 0 ? n : 0] = '\0';
        return buf;
}

START_TEST(log_text_line_has_level_module_and_message) {
        char *line = capture_log(false, "hello");
        ck_assert_ptr_nonnull(strstr(line, " INFO  test: hello\n"));
        ck_assert_ptr_null(strstr(line, "hidden"));
}
END_TEST

START_TEST(log_json_line_escapes_quotes_and_newlines) {
        char *line = capture_log(true, "say \"hi\"\nbye");
        ck_assert_ptr_nonnull(strstr(line, "\"level\":\"info\""));
        ck_assert_ptr_nonnull(strstr(line, "\"module\":\"test\""));
        ck_assert_ptr_nonnull(
            strstr(line, "\"msg\":\"say \\\"hi\\\"\\nbye\"}\n"));
}
END_TEST

START_TEST(log_level_names_parse) {
        ck_assert_int_eq(nd_log_level_parse("debug"), ND_LOG_DEBUG);
        ck_assert_int_eq(nd_log_level_parse("warning"), ND_LOG_WARN);
        ck_assert_int_eq(nd_log_level_parse("loud"), -1);
}
END_TEST

START_TEST(wall_clock_can_be_pinned) {
        nd_clock_set_fake(1234);
        ck_assert_int_eq(nd_clock_wall_ms(), 1234);
        nd_clock_set_fake(-1);
        ck_assert_int_gt(nd_clock_wall_ms(), 1600000000000LL);
}
END_TEST

static Suite *base_suite(void) {
        Suite *s = suite_create("base");
        TCase *tc = tcase_create("err");
        tcase_add_test(tc, err_codes_have_names_texts_and_classes);
        tcase_add_test(tc, every_error_is_negative_and_distinct);
        tcase_add_test(tc, err_fmt_writes_truncates_and_returns_the_code);
        tcase_add_test(tc, time_arithmetic_saturates);
        suite_add_tcase(s, tc);
        tc = tcase_create("mem");
        tcase_add_test(tc, trymalloc_fails_on_the_nth_call_only);
        tcase_add_test(tc, strndup_copies_and_terminates);
        suite_add_tcase(s, tc);
        tc = tcase_create("log");
        tcase_add_test(tc, log_text_line_has_level_module_and_message);
        tcase_add_test(tc, log_json_line_escapes_quotes_and_newlines);
        tcase_add_test(tc, log_level_names_parse);
        suite_add_tcase(s, tc);
        tc = tcase_create("clock");
        tcase_add_test(tc, wall_clock_can_be_pinned);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(base_suite());
}
