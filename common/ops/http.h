/*
 * http — the operations endpoint: /metrics, /healthz, /readyz.
 *
 * A small HTTP/1.1 server on libmicrohttpd with its own polling thread:
 *
 *   GET /metrics  200, the registry in the Prometheus text format
 *                 (Content-Type: text/plain; version=0.0.4; charset=utf-8)
 *   GET /healthz  200 "ok" while health_cb says the process works, else 503
 *                 with its reason (an orchestrator restarts the process)
 *   GET /readyz   200 "ready" once ready_cb says every assigned task is
 *                 restored and consuming, else 503 with its reason (an
 *                 orchestrator keeps traffic and disruptions away)
 *   anything else 404; a method other than GET or HEAD, 405
 *
 * Bodies end in a newline. A NULL callback always answers "yes".
 *
 * Thread safety: start and stop from one thread. The callbacks and the
 * registry's collectors run on the server's thread, concurrently with the
 * rest of the process, and must read what they report in a thread-safe way.
 */
#ifndef ND_HTTP_H
#define ND_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"
#include "nudge/err.h"

typedef struct nd_http_s nd_http_t;

/**
 * A health or readiness check: returns true when healthy (ready); when not,
 * it may write a short reason ("restoring 3 of 12 tasks") into reason, a
 * buffer of reason_size bytes that starts empty.
 */
typedef bool (*nd_http_check_fn)(void *arg, char *reason, size_t reason_size);

/**
 * Starts serving on listen, "HOST:PORT": "0.0.0.0:9464", "127.0.0.1:0"
 * (port 0: the kernel picks one, see nd_http_port()), "[::1]:9464",
 * ":9464" (every IPv4 address) or "localhost:9464" (the first address the
 * name resolves to). reg (may be NULL: /metrics is then empty) and arg are
 * borrowed and must outlive the server.
 *
 * Returns ND_OK and *srvp, or ND_ERR_CONFIG (listen unparsable or
 * unresolvable) or ND_ERR_IO (the address cannot be bound) with errstr.
 */
nd_err_t nd_http_start(const char *listen, nd_metrics_t *reg,
                       nd_http_check_fn ready_cb, nd_http_check_fn health_cb,
                       void *arg, nd_http_t **srvp, char *errstr,
                       size_t errstr_size);

/** The port the server is bound to (useful after port 0). */
int nd_http_port(const nd_http_t *srv);

/**
 * Stops the server: closes the socket, waits for the thread (a request in
 * progress completes first) and frees srv. nd_http_stop(NULL) is a no-op.
 */
void nd_http_stop(nd_http_t *srv);

#endif
