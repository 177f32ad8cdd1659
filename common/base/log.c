/* log.c — see log.h. */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static nd_log_level_t threshold = ND_LOG_INFO;
static bool as_json;
static int out_fd = 2;

static const char *const names[] = {"debug", "info", "warn", "error", "off"};

void nd_log_setup(nd_log_level_t level, bool json) {
        threshold = level;
        as_json = json;
}

void nd_log_set_fd(int fd) {
        out_fd = fd;
}

int nd_log_level_parse(const char *name) {
        for (int i = 0; i <= ND_LOG_OFF; i++)
                if (!strcmp(name, names[i]))
                        return i;
        if (!strcmp(name, "warning"))
                return ND_LOG_WARN;
        return -1;
}

const char *nd_log_level_name(nd_log_level_t level) {
        return level <= ND_LOG_OFF ? names[level] : "?";
}

bool nd_log_enabled(nd_log_level_t level) {
        return level >= threshold && threshold != ND_LOG_OFF;
}

/* Appends s to buf[*len..cap) as a JSON string body, escaping as needed. */
static void json_escape(char *buf, size_t *len, size_t cap, const char *s) {
        static const char hex[] = "0123456789abcdef";
        for (; *s && *len + 7 < cap; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\') {
                        buf[(*len)++] = '\\';
                        buf[(*len)++] = (char)c;
                } else if (c == '\n') {
                        buf[(*len)++] = '\\';
                        buf[(*len)++] = 'n';
                } else if (c < 0x20) {
                        memcpy(buf + *len, "\\u00", 4);
                        *len += 4;
                        buf[(*len)++] = hex[c >> 4];
                        buf[(*len)++] = hex[c & 15];
                } else {
                        buf[(*len)++] = (char)c;
                }
        }
}

void nd_logv(nd_log_level_t level, const char *module, const char *fmt,
             va_list ap) {
        char msg[ND_LOG_LINE_MAX];
        char line[ND_LOG_LINE_MAX * 2];
        char ts[32];
        struct timespec now;
        struct tm tm;
        size_t len;
        int n;

        if (!nd_log_enabled(level))
                return;
        n = vsnprintf(msg, sizeof(msg), fmt, ap);
        if (n >= (int)sizeof(msg))
                memcpy(msg + sizeof(msg) - 4, "...", 4);
        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &tm);
        n = (int)strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(ts + n, sizeof(ts) - (size_t)n, ".%03ldZ",
                 now.tv_nsec / 1000000);

        if (as_json) {
                n = snprintf(line, sizeof(line),
                             "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":\"",
                             ts, names[level]);
                len = (size_t)n;
                json_escape(line, &len, sizeof(line), module);
                memcpy(line + len, "\",\"msg\":\"", 9);
                len += 9;
                json_escape(line, &len, sizeof(line) - 3, msg);
                memcpy(line + len, "\"}\n", 3);
                len += 3;
        } else {
                static const char *const up[] = {"DEBUG", "INFO ", "WARN ",
                                                 "ERROR", "OFF  "};
                n = snprintf(line, sizeof(line), "%s %s %s: %s\n", ts,
                             up[level], module, msg);
                len = n < (int)sizeof(line) ? (size_t)n : sizeof(line) - 1;
        }
        /* WHY one write(2): atomic for a pipe up to PIPE_BUF, so concurrent
         * threads never interleave within a line. */
        if (write(out_fd, line, len) < 0)
                return;
}

void nd_log(nd_log_level_t level, const char *module, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        nd_logv(level, module, fmt, ap);
        va_end(ap);
}

void nd__assert_fail(const char *expr, const char *file, int line) {
        nd_log(ND_LOG_ERROR, "assert", "%s:%d: assertion failed: %s", file,
               line, expr);
        abort();
}
