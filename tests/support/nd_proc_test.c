/* nd_proc_test.c — see nd_proc_test.h. */
#include "nd_proc_test.h"

#include <check.h>
#include <fcntl.h>
#include <regex.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "mem.h"
#include "nd_test.h"

const char *nd_proc_write_file(const char *prefix, const char *text) {
        static char paths[8][256];
        static int next;
        char *path = paths[next++ % 8];
        int fd;
        snprintf(path, 256, "/tmp/%s-XXXXXX", prefix);
        fd = mkstemp(path);
        ck_assert_msg(fd >= 0, "mkstemp %s", path);
        ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        return path;
}

void nd_proc_start(nd_proc_t *p, const char *const *argv,
                   const char *const *env) {
        const char *args[32];
        int n = 0, fd;
        pid_t parent;
        snprintf(p->log, sizeof(p->log), "/tmp/nudge-test-log-XXXXXX");
        fd = mkstemp(p->log);
        ck_assert_msg(fd >= 0, "mkstemp");
        args[n++] = ND_BINARY_DIR "/nudge";
        while (*argv && n < 31)
                args[n++] = *argv++;
        args[n] = NULL;
        p->status = -1;
        parent = getpid();
        p->pid = fork();
        ck_assert_msg(p->pid >= 0, "fork");
        if (p->pid == 0) {
                /* A failed check ends the test process mid-test: the
                 * engine must not outlive it (it would keep consuming and
                 * loading the machine for every later test). */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() != parent)
                        _exit(127); /* it ended before prctl() */
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
                for (; env && *env; env++)
                        putenv((char *)*env);
                execv(args[0], (char *const *)args);
                _exit(127);
        }
        close(fd);
}

static bool log_matches(const nd_proc_t *p, const regex_t *re) {
        FILE *f = fopen(p->log, "r");
        char line[4096];
        bool found = false;
        if (!f)
                return false;
        while (!found && fgets(line, sizeof(line), f))
                found = regexec(re, line, 0, NULL, 0) == 0;
        fclose(f);
        return found;
}

static bool reap(nd_proc_t *p, bool block) {
        int st;
        pid_t r;
        if (p->status >= 0)
                return true;
        r = waitpid(p->pid, &st, block ? 0 : WNOHANG);
        if (r != p->pid)
                return false;
        p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return true;
}

bool nd_proc_wait_log(nd_proc_t *p, const char *re, int timeout_ms) {
        regex_t rx;
        int64_t deadline = nd_clock_mono_ms() + timeout_ms;
        bool found = false;
        ck_assert_int_eq(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
        while (!(found = log_matches(p, &rx)) &&
               nd_clock_mono_ms() < deadline) {
                if (reap(p, false))
                        break; /* it exited: the line will not come */
                nd_test_pause_ms(50);
        }
        if (!found)
                found = log_matches(p, &rx);
        regfree(&rx);
        return found;
}

int nd_proc_wait(nd_proc_t *p, int timeout_ms) {
        int64_t deadline = nd_clock_mono_ms() + timeout_ms;
        while (!reap(p, false)) {
                if (nd_clock_mono_ms() >= deadline)
                        return -1;
                nd_test_pause_ms(20);
        }
        return p->status;
}

int nd_proc_stop(nd_proc_t *p, int sig, int timeout_ms) {
        int rc;
        if (p->status >= 0)
                return p->status;
        kill(p->pid, sig);
        rc = nd_proc_wait(p, timeout_ms);
        if (rc < 0) {
                kill(p->pid, SIGKILL);
                reap(p, true);
                return -1;
        }
        return rc;
}

void nd_proc_dump(const nd_proc_t *p) {
        FILE *f = fopen(p->log, "r");
        char line[4096];
        fprintf(stderr, "---- %s ----\n", p->log);
        while (f && fgets(line, sizeof(line), f))
                fputs(line, stderr);
        if (f)
                fclose(f);
        fprintf(stderr, "---- end ----\n");
}

int nd_proc_run(nd_proc_t *p, const char *const *argv, int timeout_ms) {
        nd_proc_start(p, argv, NULL);
        return nd_proc_stop(p, 0, timeout_ms) < 0 ? -1 : nd_proc_wait(p, 0);
}

/* Runs a tool (PATH lookup) to completion within timeout_ms; returns its
 * exit code, printing its output when it is not 0. */
int nd_proc_tool(const char *const *argv, int timeout_ms) {
        char log[] = "/tmp/nd-tool-log.XXXXXX";
        int fd = mkstemp(log), st = 0, rc = -1;
        int64_t deadline = nd_clock_mono_ms() + timeout_ms;
        pid_t pid;
        ck_assert_int_ge(fd, 0);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
                execvp(argv[0], (char *const *)argv);
                _exit(127);
        }
        close(fd);
        while (waitpid(pid, &st, WNOHANG) != pid) {
                if (nd_clock_mono_ms() > deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &st, 0);
                        st = -1;
                        break;
                }
                nd_test_pause_ms(20);
        }
        if (st != -1 && WIFEXITED(st))
                rc = WEXITSTATUS(st);
        if (rc != 0) {
                char *out = nd_test_slurp(log, NULL);
                fprintf(stderr, "%s exited with %d:\n%s\n", argv[0], rc, out);
                nd_free(out);
        }
        unlink(log);
        return rc;
}
