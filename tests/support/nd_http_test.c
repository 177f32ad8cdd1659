/* nd_http_test.c — see nd_http_test.h. */
#include "nd_http_test.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nd_test.h"

static size_t on_data(char *p, size_t sz, size_t n, void *arg) {
        nd_http_body_t *b = arg;
        size_t k = sz * n;
        if (b->len + k >= sizeof(b->buf))
                k = sizeof(b->buf) - 1 - b->len;
        memcpy(b->buf + b->len, p, k);
        b->len += k;
        b->buf[b->len] = '\0';
        return sz * n;
}

long nd_http_get(int port, const char *path, nd_http_body_t *b) {
        char url[128];
        long code = 0;
        CURL *c = curl_easy_init();
        b->len = 0;
        b->buf[0] = '\0';
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        if (curl_easy_perform(c) == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup(c);
        return code;
}

double nd_http_metric(const nd_http_body_t *b, const char *series) {
        const char *p = b->buf;
        size_t n = strlen(series);
        while ((p = strstr(p, series))) {
                if ((p == b->buf || p[-1] == '\n') && p[n] == ' ')
                        return atof(p + n + 1);
                p += n;
        }
        return -1;
}

struct want {
        int port;
        const char *series;
        double value;
        nd_http_body_t *b;
};

static bool reached(void *arg) {
        struct want *w = arg;
        return nd_http_get(w->port, "/metrics", w->b) == 200 &&
               nd_http_metric(w->b, w->series) >= w->value;
}

bool nd_http_wait_metric(int port, const char *series, double value,
                         int timeout_ms) {
        static nd_http_body_t b;
        struct want w = {port, series, value, &b};
        return nd_test_wait(reached, &w, timeout_ms, 50);
}

int nd_http_port_of(const nd_proc_t *p) {
        FILE *f = fopen(p->log, "r");
        char line[4096];
        int port = -1;
        while (f && fgets(line, sizeof(line), f)) {
                const char *s = strstr(line, "(port ");
                if (s && strstr(line, "HTTP on"))
                        port = atoi(s + 6);
        }
        if (f)
                fclose(f);
        return port;
}
