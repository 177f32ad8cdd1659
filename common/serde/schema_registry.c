/*
 * schema_registry.c — Confluent schema registry client over libcurl.
 *
 * OVERALL DESIGN: a cache (a small array, ids are few) in front of one
 * blocking GET per unknown id. The answer is parsed with jansson, which also
 * decodes the JSON escapes of the embedded schema text. One CURL easy
 * handle is kept per client so that the connection is reused. Responses are
 * read into a buffer with a hard cap (ND_SR_MAX_RESPONSE): a registry that
 * sends more is treated as unreachable, never as a reason to grow without
 * bound.
 */
#include "schema_registry.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "mem.h"

#define ND_SR_MAX_RESPONSE (4 << 20)
#define ND_SR_MAX_URLS     8

struct cached {
        int32_t id;
        char *schema;
        size_t len;
};

struct nd_schema_registry_s {
        char *urls[ND_SR_MAX_URLS];
        int url_cnt;
        long timeout_ms;
        CURL *curl;
        struct cached *cache;
        int cache_cnt, cache_cap;
        long requests;
        /* response buffer, reused */
        char *body;
        size_t body_len, body_cap;
        int body_overflow;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void) {
        /* WHY here: curl_global_init is not thread-safe and must run once
         * before any handle; pthread_once gives exactly that. */
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

nd_err_t nd_schema_registry_new(const char *url, long timeout_ms,
                                nd_schema_registry_t **regp, char *errstr,
                                size_t errstr_size) {
        nd_schema_registry_t *reg;
        const char *s, *e;

        *regp = NULL;
        if (!url || !*url) {
                snprintf(errstr, errstr_size, "schema.registry.url is empty");
                return ND_ERR_CONFIG;
        }
        pthread_once(&curl_once, curl_init_once);
        reg = nd_calloc(1, sizeof(*reg));
        reg->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
        for (s = url; *s && reg->url_cnt < ND_SR_MAX_URLS; s = *e ? e + 1 : e) {
                size_t n;
                e = strchr(s, ',');
                if (!e)
                        e = s + strlen(s);
                n = (size_t)(e - s);
                while (n > 0 && s[n - 1] == '/')
                        n--; /* "http://r:8081/" + "/schemas" */
                if (n > 0)
                        reg->urls[reg->url_cnt++] = nd_strndup(s, n);
        }
        reg->curl = curl_easy_init();
        if (reg->url_cnt == 0 || !reg->curl) {
                snprintf(errstr, errstr_size,
                         "schema.registry.url '%s' is not usable", url);
                nd_schema_registry_destroy(reg);
                return ND_ERR_CONFIG;
        }
        *regp = reg;
        return ND_OK;
}

void nd_schema_registry_destroy(nd_schema_registry_t *reg) {
        if (!reg)
                return;
        for (int i = 0; i < reg->url_cnt; i++)
                nd_free(reg->urls[i]);
        for (int i = 0; i < reg->cache_cnt; i++)
                nd_free(reg->cache[i].schema);
        nd_free(reg->cache);
        nd_free(reg->body);
        if (reg->curl)
                curl_easy_cleanup(reg->curl);
        nd_free(reg);
}

long nd_schema_registry_requests(const nd_schema_registry_t *reg) {
        return reg->requests;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg) {
        nd_schema_registry_t *reg = arg;
        size_t n = size * nmemb;

        if (reg->body_len + n + 1 > ND_SR_MAX_RESPONSE) {
                reg->body_overflow = 1;
                return 0; /* makes curl fail the transfer */
        }
        if (reg->body_len + n + 1 > reg->body_cap) {
                size_t cap = reg->body_cap ? reg->body_cap : 4096;
                while (cap < reg->body_len + n + 1)
                        cap *= 2;
                reg->body = nd_realloc(reg->body, cap);
                reg->body_cap = cap;
        }
        memcpy(reg->body + reg->body_len, ptr, n);
        reg->body_len += n;
        reg->body[reg->body_len] = '\0';
        return n;
}

/* One GET against one base URL: HTTP status into *status, or a curl error. */
static nd_err_t http_get(nd_schema_registry_t *reg, const char *base,
                         int32_t id, long *status, char *errstr,
                         size_t errstr_size) {
        char url[1024];
        CURLcode rc;
        struct curl_slist *hdrs = NULL;

        snprintf(url, sizeof(url), "%s/schemas/ids/%d", base, (int)id);
        reg->body_len = 0;
        reg->body_overflow = 0;
        curl_easy_reset(reg->curl);
        hdrs = curl_slist_append(
            hdrs, "Accept: application/vnd.schemaregistry.v1+json, "
                  "application/json");
        curl_easy_setopt(reg->curl, CURLOPT_URL, url);
        curl_easy_setopt(reg->curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(reg->curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(reg->curl, CURLOPT_WRITEDATA, reg);
        curl_easy_setopt(reg->curl, CURLOPT_TIMEOUT_MS, reg->timeout_ms);
        curl_easy_setopt(reg->curl, CURLOPT_CONNECTTIMEOUT_MS, reg->timeout_ms);
        curl_easy_setopt(reg->curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(reg->curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(reg->curl, CURLOPT_USERAGENT, "nudge/" ND_VERSION);
        reg->requests++;
        rc = curl_easy_perform(reg->curl);
        curl_slist_free_all(hdrs);
        if (rc != CURLE_OK) {
                snprintf(errstr, errstr_size, "schema registry %s: %s", url,
                         reg->body_overflow ? "response too large"
                                            : curl_easy_strerror(rc));
                return ND_ERR_REGISTRY;
        }
        curl_easy_getinfo(reg->curl, CURLINFO_RESPONSE_CODE, status);
        return ND_OK;
}

/* Takes the "schema" member out of a 200 answer into the cache. */
static nd_err_t parse_answer(nd_schema_registry_t *reg, int32_t id,
                             char *errstr, size_t errstr_size) {
        json_error_t jerr;
        json_t *doc, *schema, *type;
        nd_err_t err = ND_OK;
        struct cached *c;

        doc = json_loadb(reg->body, reg->body_len, 0, &jerr);
        if (!doc || !json_is_object(doc)) {
                snprintf(errstr, errstr_size,
                         "schema registry: unreadable answer for id %d: %s",
                         (int)id, doc ? "not an object" : jerr.text);
                err = ND_ERR_REGISTRY;
                goto out;
        }
        type = json_object_get(doc, "schemaType");
        if (type && (!json_is_string(type) ||
                     strcmp(json_string_value(type), "AVRO") != 0)) {
                snprintf(errstr, errstr_size,
                         "schema id %d is a %s schema, not Avro", (int)id,
                         json_is_string(type) ? json_string_value(type)
                                              : "non-Avro");
                err = ND_ERR_UNKNOWN_SCHEMA;
                goto out;
        }
        schema = json_object_get(doc, "schema");
        if (!json_is_string(schema)) {
                snprintf(errstr, errstr_size,
                         "schema registry: answer for id %d has no schema",
                         (int)id);
                err = ND_ERR_REGISTRY;
                goto out;
        }
        if (reg->cache_cnt == reg->cache_cap) {
                reg->cache_cap = reg->cache_cap ? reg->cache_cap * 2 : 8;
                reg->cache = nd_realloc(reg->cache, (size_t)reg->cache_cap *
                                                        sizeof(*reg->cache));
        }
        c = &reg->cache[reg->cache_cnt++];
        c->id = id;
        c->len = json_string_length(schema);
        c->schema = nd_strndup(json_string_value(schema), c->len);
out:
        json_decref(doc);
        return err;
}

nd_err_t nd_schema_registry_get(nd_schema_registry_t *reg, int32_t id,
                                const char **schemap, size_t *lenp,
                                char *errstr, size_t errstr_size) {
        nd_err_t err = ND_ERR_REGISTRY;
        long status = 0;

        for (int i = 0; i < reg->cache_cnt; i++) {
                if (reg->cache[i].id == id) {
                        *schemap = reg->cache[i].schema;
                        *lenp = reg->cache[i].len;
                        return ND_OK;
                }
        }
        for (int i = 0; i < reg->url_cnt; i++) {
                err = http_get(reg, reg->urls[i], id, &status, errstr,
                               errstr_size);
                if (err != ND_OK)
                        continue; /* next URL */
                if (status == 200) {
                        err = parse_answer(reg, id, errstr, errstr_size);
                        if (err == ND_OK) {
                                struct cached *c =
                                    &reg->cache[reg->cache_cnt - 1];
                                *schemap = c->schema;
                                *lenp = c->len;
                        }
                        return err;
                }
                if (status == 404) {
                        snprintf(errstr, errstr_size,
                                 "schema id %d is not in the registry",
                                 (int)id);
                        return ND_ERR_UNKNOWN_SCHEMA;
                }
                snprintf(errstr, errstr_size,
                         "schema registry %s answered HTTP %ld for id %d",
                         reg->urls[i], status, (int)id);
                err = ND_ERR_REGISTRY;
        }
        return err;
}
