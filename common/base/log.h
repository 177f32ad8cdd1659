/*
 * log — leveled logging to stderr, as text or as JSON lines.
 *
 * Each line is formatted into a stack buffer and written with one write(2),
 * so lines from several threads never interleave. Text lines read
 *   2026-11-22T12:00:00.123Z INFO  kio: assigned 6 partitions
 * and JSON lines
 *   {"ts":"2026-11-22T12:00:00.123Z","level":"info","module":"kio","msg":"..."}
 * Lines longer than ND_LOG_LINE_MAX are cut (and end in "...").
 *
 * Thread safety: nd_log_setup() before any thread starts; nd_log() anywhere.
 */
#ifndef ND_LOG_H
#define ND_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#define ND_LOG_LINE_MAX 2048

typedef enum {
        ND_LOG_DEBUG = 0,
        ND_LOG_INFO,
        ND_LOG_WARN,
        ND_LOG_ERROR,
        ND_LOG_OFF,
} nd_log_level_t;

/** Sets the threshold and the format; defaults: INFO, text, fd 2. */
void nd_log_setup(nd_log_level_t level, bool json);
/** Sends log lines to fd instead of stderr (tests). */
void nd_log_set_fd(int fd);
/** Parses "debug", "info", "warn", "error", "off"; -1 when unknown. */
int nd_log_level_parse(const char *name);
const char *nd_log_level_name(nd_log_level_t level);
bool nd_log_enabled(nd_log_level_t level);

void nd_log(nd_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void nd_logv(nd_log_level_t level, const char *module, const char *fmt,
             va_list ap);

/**
 * Internal invariants (STYLE.md §4: internal functions assert, they do not
 * re-check arguments). Active in every build: a broken invariant logs where
 * and aborts, rather than corrupting state that goes to a changelog.
 */
#define nd_assert(cond)                                             \
        do {                                                        \
                if (__builtin_expect(!(cond), 0))                   \
                        nd__assert_fail(#cond, __FILE__, __LINE__); \
        } while (0)
void nd__assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));

#define nd_log_debug(mod, ...)                                  \
        do {                                                    \
                if (nd_log_enabled(ND_LOG_DEBUG))               \
                        nd_log(ND_LOG_DEBUG, mod, __VA_ARGS__); \
        } while (0)
#define nd_log_info(mod, ...)  nd_log(ND_LOG_INFO, mod, __VA_ARGS__)
#define nd_log_warn(mod, ...)  nd_log(ND_LOG_WARN, mod, __VA_ARGS__)
#define nd_log_error(mod, ...) nd_log(ND_LOG_ERROR, mod, __VA_ARGS__)

#endif
