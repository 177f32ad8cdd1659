/*
 * catalog — the product catalog as a global table (TRIGGERS.md §3,
 * post_purchase_upsell): sku -> the latest product record.
 *
 * Fed from the compacted catalog topic (every instance reads every
 * partition; a null value deletes the sku) or, in replay, from a file.
 * Records are copied in: one store entry per sku whose blob packs the
 * record's strings and complements, so a lookup returns a stable
 * nd_product_rec_t without allocating.
 *
 * Thread safety: one writer; readers on the same thread (each worker keeps
 * its own copy, so no locks).
 */
#ifndef ND_CATALOG_H
#define ND_CATALOG_H

#include <stddef.h>

#include "nudge/err.h"
#include "nudge/event.h"

typedef struct nd_catalog_s nd_catalog_t;

nd_catalog_t *nd_catalog_new(void);
void nd_catalog_destroy(nd_catalog_t *cat);

/** Inserts or replaces rec (copied). ND_ERR_INVAL for an empty sku. */
nd_err_t nd_catalog_put(nd_catalog_t *cat, const nd_product_rec_t *rec);
/** Removes sku (a tombstone on the compacted topic). */
void nd_catalog_delete(nd_catalog_t *cat, nd_str_t sku);
/** The record of sku, or NULL. Valid until the next put/delete of sku. */
const nd_product_rec_t *nd_catalog_get(const nd_catalog_t *cat, nd_str_t sku);
size_t nd_catalog_count(const nd_catalog_t *cat);
size_t nd_catalog_bytes(const nd_catalog_t *cat);

#endif
