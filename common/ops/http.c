/*
 * http.c — /metrics, /healthz and /readyz on libmicrohttpd.
 *
 * OVERALL DESIGN. We open, bind and listen on the socket ourselves and hand
 * it to MHD (MHD_OPTION_LISTEN_SOCKET): that way a bind failure comes back
 * with its errno ("Address already in use") rather than as a line on
 * stderr, and getsockname() tells the port the kernel picked for port 0.
 * MHD then runs one internal polling thread (poll or epoll, whichever it
 * prefers) that accepts connections and calls handle() for each request.
 * The endpoint serves a scraper and two probes, so connections are capped
 * and idle ones time out; a slow client cannot hold the thread for long.
 *
 * Each /metrics answer is rendered fresh into a buffer that MHD frees with
 * nd_free() once sent. The checks and the registry's collectors run on the
 * MHD thread; the header says what that asks of them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "mem.h"

#define HTTP_MAX_CONNECTIONS 32
#define HTTP_IDLE_TIMEOUT_S  10
#define HTTP_REASON_MAX      256

struct nd_http_s {
        struct MHD_Daemon *daemon;
        int port;
        nd_metrics_t *reg;
        nd_http_check_fn ready_cb;
        nd_http_check_fn health_cb;
        void *arg;
};

static void mhd_log(void *cls, const char *fmt, va_list ap) {
        char line[512];
        size_t n;

        vsnprintf(line, sizeof(line), fmt, ap);
        n = strlen(line);
        while (n > 0 && line[n - 1] == '\n')
                line[--n] = '\0';
        nd_log_warn("http", "%s", line);
}

/*
 * Splits "HOST:PORT" (HOST may be [v6], empty or a name) and resolves it
 * into *res (freeaddrinfo() it).
 */
static nd_err_t resolve(const char *listen, struct addrinfo **res, char *errstr,
                        size_t errstr_size) {
        char host[256];
        const char *colon, *hs = listen, *he, *port;
        struct addrinfo hints;
        char *end;
        long pn;
        int rc;

        if (!listen || !(colon = strrchr(listen, ':')))
                goto bad;
        port = colon + 1;
        he = colon;
        if (*hs == '[') {
                if (he == hs || he[-1] != ']')
                        goto bad;
                hs++;
                he--;
        }
        if ((size_t)(he - hs) >= sizeof(host))
                goto bad;
        memcpy(host, hs, (size_t)(he - hs));
        host[he - hs] = '\0';
        if (strchr(host, ':') && listen[0] != '[')
                goto bad; /* an IPv6 address needs brackets */
        errno = 0;
        pn = strtol(port, &end, 10);
        if (!*port || *end || errno || pn < 0 || pn > 65535)
                goto bad;

        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        hints.ai_family = host[0] ? AF_UNSPEC : AF_INET;
        rc = getaddrinfo(host[0] ? host : NULL, port, &hints, res);
        if (rc != 0) {
                snprintf(errstr, errstr_size,
                         "http.listen '%s': cannot resolve '%s': %s", listen,
                         host, gai_strerror(rc));
                return ND_ERR_CONFIG;
        }
        return ND_OK;
bad:
        snprintf(errstr, errstr_size,
                 "http.listen '%s': expected HOST:PORT (\"0.0.0.0:9464\", "
                 "\"[::1]:9464\") with a port from 0 to 65535",
                 listen ? listen : "(null)");
        return ND_ERR_CONFIG;
}

/* A listening socket on the first address that binds, or -1 and errstr. */
static int listen_on(const char *where, const struct addrinfo *res, int *port,
                     char *errstr, size_t errstr_size) {
        int fd = -1, one = 1, err = 0;
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                            ai->ai_protocol);
                if (fd < 0) {
                        err = errno;
                        continue;
                }
                /* A restarted process must not wait out TIME_WAIT. */
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
                    listen(fd, 64) == 0 &&
                    getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
                        break;
                err = errno;
                close(fd);
                fd = -1;
        }
        if (fd < 0) {
                snprintf(errstr, errstr_size, "http.listen '%s': %s", where,
                         strerror(err ? err : EADDRNOTAVAIL));
                return -1;
        }
        if (ss.ss_family == AF_INET6)
                *port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        else
                *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        return fd;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
                             const char *type, char *body, size_t len,
                             bool owned) {
        struct MHD_Response *resp;
        enum MHD_Result ret;

        if (owned)
                resp = MHD_create_response_from_buffer_with_free_callback(
                    len, body, nd_free);
        else
                resp = MHD_create_response_from_buffer(len, body,
                                                       MHD_RESPMEM_MUST_COPY);
        if (!resp) {
                if (owned)
                        nd_free(body);
                return MHD_NO;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                                "no-store");
        ret = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn,
                                  unsigned int status, const char *text) {
        char body[HTTP_REASON_MAX + 2];
        int n = snprintf(body, sizeof(body), "%s\n", text);
        return reply(conn, status, "text/plain; charset=utf-8", body, (size_t)n,
                     false);
}

static enum MHD_Result check(struct MHD_Connection *conn, nd_http_check_fn cb,
                             void *arg, const char *yes, const char *no) {
        char reason[HTTP_REASON_MAX] = "";

        if (!cb || cb(arg, reason, sizeof(reason)))
                return reply_text(conn, MHD_HTTP_OK, yes);
        reason[sizeof(reason) - 1] = '\0';
        return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                          reason[0] ? reason : no);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls) {
        nd_http_t *srv = cls;
        char *body = NULL;
        size_t len = 0;

        /* Probes carry no body: answer at the first call, and refuse any
         * upload without reading it. */
        if (strcmp(method, MHD_HTTP_METHOD_GET) &&
            strcmp(method, MHD_HTTP_METHOD_HEAD))
                return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                                  "method not allowed");
        if (!strcmp(url, "/metrics")) {
                if (srv->reg) {
                        nd_metrics_render(srv->reg, &body, &len);
                } else {
                        body = nd_strdup("");
                        len = 0;
                }
                return reply(conn, MHD_HTTP_OK,
                             "text/plain; version=0.0.4; charset=utf-8", body,
                             len, true);
        }
        if (!strcmp(url, "/healthz"))
                return check(conn, srv->health_cb, srv->arg, "ok", "unhealthy");
        if (!strcmp(url, "/readyz"))
                return check(conn, srv->ready_cb, srv->arg, "ready",
                             "not ready");
        return reply_text(conn, MHD_HTTP_NOT_FOUND,
                          "not found: try /metrics, /healthz or /readyz");
}

nd_err_t nd_http_start(const char *listen, nd_metrics_t *reg,
                       nd_http_check_fn ready_cb, nd_http_check_fn health_cb,
                       void *arg, nd_http_t **srvp, char *errstr,
                       size_t errstr_size) {
        struct addrinfo *res = NULL;
        nd_http_t *srv = NULL;
        nd_err_t err;
        int fd = -1;

        *srvp = NULL;
        if ((err = resolve(listen, &res, errstr, errstr_size)) != ND_OK)
                goto out;
        srv = nd_calloc(1, sizeof(*srv));
        srv->reg = reg;
        srv->ready_cb = ready_cb;
        srv->health_cb = health_cb;
        srv->arg = arg;
        fd = listen_on(listen, res, &srv->port, errstr, errstr_size);
        if (fd < 0) {
                err = ND_ERR_IO;
                goto out;
        }
        srv->daemon = MHD_start_daemon(
            MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
            handle, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned int)HTTP_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned int)HTTP_IDLE_TIMEOUT_S, MHD_OPTION_END);
        if (!srv->daemon) {
                snprintf(errstr, errstr_size,
                         "http.listen '%s': cannot start the HTTP server",
                         listen);
                err = ND_ERR_IO;
                goto out;
        }
        fd = -1; /* the daemon's now */
        nd_log_info("http",
                    "serving /metrics, /healthz, /readyz on %s "
                    "(port %d)",
                    listen, srv->port);
        *srvp = srv;
        srv = NULL;
        err = ND_OK;
out:
        if (fd >= 0)
                close(fd);
        nd_free(srv);
        if (res)
                freeaddrinfo(res);
        return err;
}

int nd_http_port(const nd_http_t *srv) {
        return srv->port;
}

void nd_http_stop(nd_http_t *srv) {
        if (!srv)
                return;
        MHD_stop_daemon(srv->daemon);
        nd_free(srv);
}
