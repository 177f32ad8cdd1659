/*
 * nd_http_test — scraping nudge's HTTP endpoint from tests: GET a path,
 * read one series of /metrics, wait for a series to reach a value, and
 * find the port a `nudge run` child logged (http.listen 127.0.0.1:0).
 */
#ifndef ND_HTTP_TEST_H
#define ND_HTTP_TEST_H

#include <stddef.h>

#include "nd_proc_test.h"

typedef struct nd_http_body_s {
        char buf[1 << 17];
        size_t len;
} nd_http_body_t;

/** GETs http://127.0.0.1:port/path; returns the status (0: no answer). */
long nd_http_get(int port, const char *path, nd_http_body_t *b);

/** The value of the series `series` (name{labels} exactly), or -1. */
double nd_http_metric(const nd_http_body_t *b, const char *series);

/** Waits (deadline) until the series reaches at least value. */
bool nd_http_wait_metric(int port, const char *series, double value,
                         int timeout_ms);

/** The HTTP port a nudge child logged, or -1. */
int nd_http_port_of(const nd_proc_t *p);

#endif
