/*
 * schema_registry — a small client of the Confluent schema registry REST
 * API: GET {url}/schemas/ids/{id} -> {"schema": "...", "schemaType": ...}.
 *
 * Only serde uses it, when schema.registry.url is set: at the first sight of
 * a schema id in a frame it asks here, and keeps the compiled plan. The
 * client caches every schema text it fetched for its own life, so one id is
 * requested at most once (successful answers only: a 404 is not cached here,
 * serde keeps its own negative cache). Calls block for at most the timeout.
 *
 * The URL may carry user:password@ (basic auth, as Confluent clients do) and
 * several comma-separated URLs; they are tried in order until one answers.
 *
 * Errors: ND_ERR_UNKNOWN_SCHEMA when the registry says the id does not exist
 * (HTTP 404) or the schema is not Avro; ND_ERR_REGISTRY (RETRIABLE) when it
 * cannot be reached, answers 5xx or something unreadable.
 *
 * Thread safety: one thread at a time per client (serde has one per
 * nd_serde_t), plus the client's own fetch thread in async mode. Creating
 * clients is thread-safe.
 */
#ifndef ND_SCHEMA_REGISTRY_H
#define ND_SCHEMA_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "nudge/err.h"

typedef struct nd_schema_registry_s nd_schema_registry_t;

/** ND_OK, or ND_ERR_CONFIG with errstr when url is empty or unusable. */
nd_err_t nd_schema_registry_new(const char *url, long timeout_ms,
                                nd_schema_registry_t **regp, char *errstr,
                                size_t errstr_size);
/** nd_schema_registry_destroy(NULL) is a no-op. */
void nd_schema_registry_destroy(nd_schema_registry_t *reg);

/**
 * The schema text of id. *schemap points into the client's cache and stays
 * valid until nd_schema_registry_destroy(); *lenp is its length.
 */
nd_err_t nd_schema_registry_get(nd_schema_registry_t *reg, int32_t id,
                                const char **schemap, size_t *lenp,
                                char *errstr, size_t errstr_size);

/**
 * Async mode, for the engine's workers (from then on the client is used by
 * the calling thread and its own fetch thread): get() never blocks; an id
 * not cached is queued for the fetch thread and answered ND_ERR_REGISTRY
 * ("waiting for the schema registry's answer") until the answer is in. A
 * failure is remembered for 0.2 s (unreachable, 5xx, ...) or 30 s (404),
 * then asked again. destroy() joins the thread (at most one request's
 * timeout).
 */
nd_err_t nd_schema_registry_async(nd_schema_registry_t *reg, char *errstr,
                                  size_t errstr_size);

/** HTTP requests made so far (tests check the cache with it). */
long nd_schema_registry_requests(const nd_schema_registry_t *reg);

#endif
