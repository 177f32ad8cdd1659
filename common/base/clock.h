/*
 * clock — wall-clock and monotonic time, injectable for tests.
 *
 * Event-time logic never reads these: it runs on record timestamps. The wall
 * clock feeds the hybrid clock's idle advance (TRIGGERS.md §2), emitted_at
 * and timeouts. Tests pin the wall clock with nd_clock_set_fake().
 *
 * Thread safety: readers anywhere; nd_clock_set_fake() from tests only.
 */
#ifndef ND_CLOCK_H
#define ND_CLOCK_H

#include <stdint.h>

/** Milliseconds since the Unix epoch (UTC), or the fake time when set. */
int64_t nd_clock_wall_ms(void);
/** Monotonic nanoseconds, for durations and deadlines; never faked. */
int64_t nd_clock_mono_ns(void);
/** Monotonic milliseconds. */
int64_t nd_clock_mono_ms(void);
/** Pins the wall clock at ms (tests); a negative value unpins it. */
void nd_clock_set_fake(int64_t ms);

#endif
