/* nd_test.c — see nd_test.h. */
#include "nd_test.h"

#include <time.h>

#include "clock.h"

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
