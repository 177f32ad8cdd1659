/*
 * nd_test — helpers shared by every Check suite.
 *
 * nd_test_main() runs one suite and returns the process exit code, so each
 * test file ends with `int main(void) { return nd_test_main(x_suite()); }`.
 * ND_WAIT_UNTIL polls a condition with a deadline instead of sleeping a
 * fixed time (STYLE.md §7).
 */
#ifndef ND_TEST_H
#define ND_TEST_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int nd_test_main(Suite *s);

/** Polls cond every step_ms until it is true or timeout_ms passes. */
bool nd_test_wait(bool (*cond)(void *arg), void *arg, int timeout_ms,
                  int step_ms);

/** Sleeps ms milliseconds: only as the poll step of a bounded wait. */
void nd_test_pause_ms(int ms);

/**
 * A path /tmp/nd-<prefix>-<pid>-<name> for a test's scratch file. The
 * string lives in one of 8 rotating buffers: copy it to keep it longer.
 */
const char *nd_test_tmp_path(const char *prefix, const char *name);

/**
 * The whole file at path, NUL-terminated, from nd_malloc (the caller
 * nd_free()s it); its length in *lenp when lenp is not NULL. Fails the
 * test when the file cannot be read.
 */
char *nd_test_slurp(const char *path, size_t *lenp);

#endif
