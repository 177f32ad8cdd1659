/* mem.c — allocation wrappers; see mem.h for why they exist. */
#include "mem.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ND_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

static atomic_long fail_at; /* 0 = off; else fail when calls reaches it */
static atomic_long calls;

static void oom(size_t size) {
        /* WHY fprintf and not nd_log: logging may itself need memory. */
        fprintf(stderr, "nudge: out of memory allocating %zu bytes\n", size);
        abort();
}

void *nd_malloc(size_t size) {
        void *p = malloc(size ? size : 1);
        if (!p)
                oom(size);
        return p;
}

void *nd_calloc(size_t nmemb, size_t size) {
        void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
        if (!p)
                oom(nmemb * size);
        return p;
}

void *nd_realloc(void *ptr, size_t size) {
        void *p = realloc(ptr, size ? size : 1);
        if (!p)
                oom(size);
        return p;
}

char *nd_strdup(const char *s) {
        return nd_strndup(s, strlen(s));
}

char *nd_strndup(const char *s, size_t n) {
        char *p = nd_malloc(n + 1);
        memcpy(p, s, n);
        p[n] = '\0';
        return p;
}

void nd_free(void *ptr) {
        free(ptr);
}

nd_err_t nd_trymalloc(void **out, size_t size) {
        long at = atomic_load_explicit(&fail_at, memory_order_relaxed);
        if (at > 0) {
                long n = atomic_fetch_add(&calls, 1) + 1;
                if (n == at) {
                        *out = NULL;
                        return ND_ERR_NOMEM;
                }
        }
        *out = malloc(size ? size : 1);
        return *out ? ND_OK : ND_ERR_NOMEM;
}

long nd_mem_fail_nth(long n) {
        long prev = atomic_exchange(&calls, 0);
        atomic_store(&fail_at, n);
        return prev;
}

long long nd_mem_allocated(void) {
#ifdef ND_HAVE_JEMALLOC
        uint64_t epoch = 1;
        size_t sz = sizeof(epoch);
        size_t allocated = 0;
        mallctl("epoch", &epoch, &sz, &epoch, sz);
        sz = sizeof(allocated);
        if (mallctl("stats.allocated", &allocated, &sz, NULL, 0) == 0)
                return (long long)allocated;
#endif
        return -1;
}

const char *nd_mem_allocator(void) {
#ifdef ND_HAVE_JEMALLOC
        static char name[64];
        const char *v = NULL;
        size_t sz = sizeof(v);
        if (!name[0]) {
                if (mallctl("version", &v, &sz, NULL, 0) == 0 && v)
                        snprintf(name, sizeof(name), "jemalloc %s", v);
                else
                        snprintf(name, sizeof(name), "jemalloc");
        }
        return name;
#else
        return "libc";
#endif
}
