/*
 * mem — every allocation of the runtime goes through here (STYLE.md §5).
 *
 * Release builds link jemalloc, which then serves malloc() for the whole
 * process, librdkafka and avro-c included; sanitizer builds leave it out so
 * that AddressSanitizer sees every allocation. The fixed-size calls abort on
 * out-of-memory: there is no sane way to go on. nd_trymalloc() is for sizes
 * taken from input; it returns ND_ERR_NOMEM instead, and is where tests
 * inject failures with nd_mem_fail_nth().
 *
 * Thread safety: all functions may be called from any thread.
 */
#ifndef ND_MEM_H
#define ND_MEM_H

#include <stddef.h>
#include "nudge/err.h"

void *nd_malloc(size_t size);
void *nd_calloc(size_t nmemb, size_t size);
void *nd_realloc(void *ptr, size_t size);
char *nd_strdup(const char *s);
char *nd_strndup(const char *s, size_t n);
/** nd_free(NULL) is a no-op. */
void nd_free(void *ptr);

/** Allocates size bytes into *out, or returns ND_ERR_NOMEM (and *out=NULL). */
nd_err_t nd_trymalloc(void **out, size_t size);

/**
 * Testing: make the n-th following nd_trymalloc() call fail (1 = the next
 * one); 0 turns injection off. Returns how many calls were made since the
 * previous nd_mem_fail_nth(), so an OOM loop knows when it has covered all.
 */
long nd_mem_fail_nth(long n);

/** Bytes the allocator reports as allocated by the application, or -1. */
long long nd_mem_allocated(void);
/** The allocator's name: "jemalloc 5.3.0-..." or "libc". */
const char *nd_mem_allocator(void);

#endif
