/*
 * schema_registry.c — Confluent schema registry client over libcurl.
 *
 * OVERALL DESIGN: a cache (a small array, ids are few) in front of one
 * blocking GET per unknown id. In async mode (the engine's workers) the
 * GET runs on the client's own fetch thread: nd_schema_registry_get()
 * never blocks, it queues the id and answers ND_ERR_REGISTRY ("asking")
 * until the answer is in, and remembers a failure for a short while (an
 * unknown id for longer) so that a record retried after its task's backoff
 * sees it without a request per record. The answer is parsed with jansson,
 * which also
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
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "mem.h"

#define ND_SR_MAX_RESPONSE (4 << 20)
#define ND_SR_MAX_URLS     8
#define ND_SR_QUEUE        64    /* ids waiting for the fetch thread */
#define ND_SR_MAX_FAILED   1024  /* failures remembered (ids come from input) */
#define ND_SR_DOWN_TTL_MS  200   /* "cannot be reached", remembered */
#define ND_SR_GONE_TTL_MS  30000 /* "no such id", remembered */

/* A failed answer of the fetch thread, remembered until until_ms. */
struct failed {
        int32_t id;
        nd_err_t err;
        int64_t until_ms;
        char text[256];
};

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
        atomic_long requests;
        /* async mode: the fetch thread owns curl and body; lock guards the
         * cache, the queue and the failures */
        bool async;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop;
        int32_t queue[ND_SR_QUEUE];
        int queue_cnt;
        struct failed *failed;
        int failed_cnt, failed_cap;
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
        if (reg->async) {
                pthread_mutex_lock(&reg->lock);
                reg->stop = true;
                pthread_cond_signal(&reg->cond);
                pthread_mutex_unlock(&reg->lock);
                pthread_join(reg->thread, NULL); /* at most one timeout */
                pthread_mutex_destroy(&reg->lock);
                pthread_cond_destroy(&reg->cond);
                nd_free(reg->failed);
        }
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
        return atomic_load(&reg->requests);
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
        atomic_fetch_add(&reg->requests, 1);
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

/* The "schema" member of a 200 answer, copied into *textp. */
static nd_err_t parse_answer(nd_schema_registry_t *reg, int32_t id,
                             char **textp, size_t *lenp, char *errstr,
                             size_t errstr_size) {
        json_error_t jerr;
        json_t *doc, *schema, *type;
        nd_err_t err = ND_OK;

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
        *lenp = json_string_length(schema);
        *textp = nd_strndup(json_string_value(schema), *lenp);
out:
        json_decref(doc);
        return err;
}

/* Asks the registry (every URL in turn) for id: the schema text, copied. */
static nd_err_t ask(nd_schema_registry_t *reg, int32_t id, char **textp,
                    size_t *lenp, char *errstr, size_t errstr_size) {
        nd_err_t err = ND_ERR_REGISTRY;
        long status = 0;
        for (int i = 0; i < reg->url_cnt; i++) {
                err = http_get(reg, reg->urls[i], id, &status, errstr,
                               errstr_size);
                if (err != ND_OK)
                        continue; /* next URL */
                if (status == 200)
                        return parse_answer(reg, id, textp, lenp, errstr,
                                            errstr_size);
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

/* The cached text of id, or NULL (async: under the lock). */
static struct cached *cache_find(nd_schema_registry_t *reg, int32_t id) {
        for (int i = 0; i < reg->cache_cnt; i++)
                if (reg->cache[i].id == id)
                        return &reg->cache[i];
        return NULL;
}

static struct cached *cache_add(nd_schema_registry_t *reg, int32_t id,
                                char *text, size_t len) {
        struct cached *c;
        if (reg->cache_cnt == reg->cache_cap) {
                reg->cache_cap = reg->cache_cap ? reg->cache_cap * 2 : 8;
                reg->cache = nd_realloc(reg->cache, (size_t)reg->cache_cap *
                                                        sizeof(*reg->cache));
        }
        c = &reg->cache[reg->cache_cnt++];
        c->id = id;
        c->schema = text;
        c->len = len;
        return c;
}

/* ------------------------------------------------------------------ */
/* Async mode                                                          */

static void failed_put(nd_schema_registry_t *reg, int32_t id, nd_err_t err,
                       const char *text) {
        struct failed *f = NULL;
        for (int i = 0; i < reg->failed_cnt && !f; i++)
                if (reg->failed[i].id == id)
                        f = &reg->failed[i];
        if (!f && reg->failed_cnt == ND_SR_MAX_FAILED)
                f = &reg->failed[0]; /* a flood of ids: forget one */
        if (!f) {
                if (reg->failed_cnt == reg->failed_cap) {
                        reg->failed_cap =
                            reg->failed_cap ? reg->failed_cap * 2 : 16;
                        reg->failed =
                            nd_realloc(reg->failed, (size_t)reg->failed_cap *
                                                        sizeof(*reg->failed));
                }
                f = &reg->failed[reg->failed_cnt++];
        }
        f->id = id;
        f->err = err;
        f->until_ms = nd_clock_mono_ms() + (err == ND_ERR_UNKNOWN_SCHEMA
                                                ? ND_SR_GONE_TTL_MS
                                                : ND_SR_DOWN_TTL_MS);
        snprintf(f->text, sizeof(f->text), "%s", text);
}

static void *fetch_main(void *arg) {
        nd_schema_registry_t *reg = arg;
        pthread_mutex_lock(&reg->lock);
        while (!reg->stop) {
                int32_t id;
                char *text = NULL, msg[256];
                size_t len = 0;
                nd_err_t err;
                if (reg->queue_cnt == 0) {
                        pthread_cond_wait(&reg->cond, &reg->lock);
                        continue;
                }
                id = reg->queue[0]; /* stays queued while asked */
                pthread_mutex_unlock(&reg->lock);
                err = ask(reg, id, &text, &len, msg, sizeof(msg));
                pthread_mutex_lock(&reg->lock);
                memmove(reg->queue, reg->queue + 1,
                        (size_t)--reg->queue_cnt * sizeof(reg->queue[0]));
                if (err == ND_OK)
                        cache_add(reg, id, text, len);
                else
                        failed_put(reg, id, err, msg);
        }
        pthread_mutex_unlock(&reg->lock);
        return NULL;
}

nd_err_t nd_schema_registry_async(nd_schema_registry_t *reg, char *errstr,
                                  size_t errstr_size) {
        int rc;
        if (reg->async)
                return ND_OK;
        pthread_mutex_init(&reg->lock, NULL);
        pthread_cond_init(&reg->cond, NULL);
        if ((rc = pthread_create(&reg->thread, NULL, fetch_main, reg))) {
                pthread_mutex_destroy(&reg->lock);
                pthread_cond_destroy(&reg->cond);
                return nd_err_fmt(errstr, errstr_size, ND_ERR_INVAL,
                                  "schema registry: cannot start its fetch "
                                  "thread: %s",
                                  strerror(rc));
        }
        reg->async = true;
        return ND_OK;
}

/* get() in async mode: never blocks. */
static nd_err_t get_async(nd_schema_registry_t *reg, int32_t id,
                          const char **schemap, size_t *lenp, char *errstr,
                          size_t errstr_size) {
        struct cached *c;
        nd_err_t err = ND_ERR_REGISTRY;
        bool queued = false;
        pthread_mutex_lock(&reg->lock);
        if ((c = cache_find(reg, id))) {
                *schemap = c->schema;
                *lenp = c->len;
                pthread_mutex_unlock(&reg->lock);
                return ND_OK;
        }
        for (int i = 0; i < reg->failed_cnt; i++) {
                struct failed *f = &reg->failed[i];
                if (f->id != id)
                        continue;
                if (nd_clock_mono_ms() < f->until_ms) {
                        snprintf(errstr, errstr_size, "%s", f->text);
                        err = f->err;
                        pthread_mutex_unlock(&reg->lock);
                        return err;
                }
                *f = reg->failed[--reg->failed_cnt]; /* expired: ask again */
                break;
        }
        for (int i = 0; i < reg->queue_cnt && !queued; i++)
                queued = reg->queue[i] == id;
        if (!queued && reg->queue_cnt < ND_SR_QUEUE) {
                reg->queue[reg->queue_cnt++] = id;
                pthread_cond_signal(&reg->cond);
        }
        pthread_mutex_unlock(&reg->lock);
        snprintf(errstr, errstr_size,
                 "waiting for the schema registry's answer for schema id %d",
                 (int)id);
        return err;
}

nd_err_t nd_schema_registry_get(nd_schema_registry_t *reg, int32_t id,
                                const char **schemap, size_t *lenp,
                                char *errstr, size_t errstr_size) {
        struct cached *c;
        char *text = NULL;
        size_t len = 0;
        nd_err_t err;

        if (reg->async)
                return get_async(reg, id, schemap, lenp, errstr, errstr_size);
        if ((c = cache_find(reg, id))) {
                *schemap = c->schema;
                *lenp = c->len;
                return ND_OK;
        }
        err = ask(reg, id, &text, &len, errstr, errstr_size);
        if (err != ND_OK)
                return err;
        c = cache_add(reg, id, text, len);
        *schemap = c->schema;
        *lenp = c->len;
        return ND_OK;
}
