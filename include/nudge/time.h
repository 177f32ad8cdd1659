/*
 * nudge — time arithmetic of the processor API and the runtime.
 *
 * Times are int64 milliseconds since the epoch (TRIGGERS.md §2). INT64_MIN
 * means "before everything" and INT64_MAX "never"; sums and differences
 * saturate at those bounds instead of wrapping, so a due time computed
 * from "never" stays "never" and a timestamp near either end cannot jump
 * to the other.
 */
#ifndef ND_TIME_H
#define ND_TIME_H

#include <stdint.h>

/** a + b, saturated to the int64 range. */
static inline int64_t nd_time_add_sat(int64_t a, int64_t b) {
        int64_t r;
        if (__builtin_add_overflow(a, b, &r))
                return b > 0 ? INT64_MAX : INT64_MIN;
        return r;
}

/** a - b, saturated to the int64 range. */
static inline int64_t nd_time_sub_sat(int64_t a, int64_t b) {
        int64_t r;
        if (__builtin_sub_overflow(a, b, &r))
                return b > 0 ? INT64_MIN : INT64_MAX;
        return r;
}

#endif
