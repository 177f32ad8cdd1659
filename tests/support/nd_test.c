/* nd_test.c — see nd_test.h. */
#include "nd_test.h"

#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "mem.h"

int nd_test_main(Suite *s) {
        SRunner *sr = srunner_create(s);
        int failed;
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}

void nd_test_pause_ms(int ms) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
}

bool nd_test_wait(bool (*cond)(void *arg), void *arg, int timeout_ms,
                  int step_ms) {
        int64_t deadline = nd_clock_mono_ms() + timeout_ms;
        for (;;) {
                if (cond(arg))
                        return true;
                if (nd_clock_mono_ms() >= deadline)
                        return false;
                nd_test_pause_ms(step_ms);
        }
}

const char *nd_test_tmp_path(const char *prefix, const char *name) {
        static char paths[8][256];
        static int next;
        char *p = paths[next++ % 8];
        snprintf(p, sizeof(paths[0]), "/tmp/nd-%s-%d-%s", prefix, (int)getpid(),
                 name);
        return p;
}

char *nd_test_slurp(const char *path, size_t *lenp) {
        FILE *f = fopen(path, "rb");
        struct stat sb;
        char *buf;
        ck_assert_msg(f != NULL, "cannot open %s", path);
        ck_assert_int_eq(fstat(fileno(f), &sb), 0);
        buf = nd_malloc((size_t)sb.st_size + 1);
        ck_assert_uint_eq(fread(buf, 1, (size_t)sb.st_size, f),
                          (size_t)sb.st_size);
        buf[sb.st_size] = '\0';
        fclose(f);
        if (lenp)
                *lenp = (size_t)sb.st_size;
        return buf;
}
