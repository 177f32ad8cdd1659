/* clock.c — see clock.h. */
#include "clock.h"

#include <stdatomic.h>
#include <time.h>

static atomic_llong fake_ms = -1;

int64_t nd_clock_wall_ms(void) {
        struct timespec ts;
        long long f = atomic_load_explicit(&fake_ms, memory_order_relaxed);
        if (f >= 0)
                return f;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t nd_clock_mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t nd_clock_mono_ms(void) {
        return nd_clock_mono_ns() / 1000000;
}

void nd_clock_set_fake(int64_t ms) {
        atomic_store(&fake_ms, ms);
}
