/*
 * nd_proc_test — run the `nudge` binary as a child process from a test:
 * write a configuration file, start `nudge run`, wait for a line in its log
 * with a deadline, stop it with a signal and collect its exit status. The
 * child's stdout and stderr go to a log file that the test can search and
 * that is printed when an assertion about it fails.
 */
#ifndef ND_PROC_TEST_H
#define ND_PROC_TEST_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct nd_proc_s {
        pid_t pid;
        char log[256]; /* path of the child's output */
        int status;    /* exit status once reaped, else -1 */
} nd_proc_t;

/** Writes text to a new temporary file; returns its path (static ring). */
const char *nd_proc_write_file(const char *prefix, const char *text);

/**
 * Starts ND_BINARY_DIR/nudge with argv (NULL-terminated, without argv[0]),
 * extra environment entries "K=V" in env (NULL-terminated, may be NULL).
 */
void nd_proc_start(nd_proc_t *p, const char *const *argv,
                   const char *const *env);

/** True once the child's log contains the extended regex re (deadline). */
bool nd_proc_wait_log(nd_proc_t *p, const char *re, int timeout_ms);

/** Sends sig; returns the exit code (128+signal when killed) within
 * timeout_ms, or -1 when it did not exit (then it is SIGKILLed). */
int nd_proc_stop(nd_proc_t *p, int sig, int timeout_ms);

/** Waits for the child to exit on its own; exit code or -1 on timeout. */
int nd_proc_wait(nd_proc_t *p, int timeout_ms);

/** Prints the child's log to stderr (for failure diagnosis). */
void nd_proc_dump(const nd_proc_t *p);

/** Runs nudge to completion with argv; returns its exit code and leaves its
 * output in p->log. */
int nd_proc_run(nd_proc_t *p, const char *const *argv, int timeout_ms);

/** Runs another program (argv[0], looked up in PATH) to completion within
 * timeout_ms; returns its exit code (-1: killed at the deadline), printing
 * its output to stderr when it is not 0. */
int nd_proc_tool(const char *const *argv, int timeout_ms);

#endif
