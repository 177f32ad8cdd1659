/*
 * catalog.c — see catalog.h. Each sku is a store entry whose value is an
 * nd_product_rec_t and whose blob holds the complements array followed by
 * the string bytes; the record's pointers point into the blob and are set
 * again after every put (the blob may move then).
 */
#include "catalog.h"

#include <stdint.h>
#include <string.h>

#include "mem.h"
#include "store.h"

struct nd_catalog_s {
        nd_store_t *st;
};

nd_catalog_t *nd_catalog_new(void) {
        nd_catalog_t *cat = nd_calloc(1, sizeof(*cat));
        cat->st = nd_store_new("catalog", sizeof(nd_product_rec_t));
        return cat;
}

void nd_catalog_destroy(nd_catalog_t *cat) {
        if (!cat)
                return;
        nd_store_destroy(cat->st);
        nd_free(cat);
}

static char *put_str(nd_str_t *dst, nd_str_t src, char *p) {
        if (src.len)
                memcpy(p, src.p, src.len);
        dst->p = src.len ? p : NULL;
        dst->len = src.len;
        return p + src.len;
}

nd_err_t nd_catalog_put(nd_catalog_t *cat, const nd_product_rec_t *rec) {
        nd_store_entry_t *e;
        nd_product_rec_t *r;
        size_t need = rec->complement_cnt * sizeof(nd_str_t);
        nd_str_t *comps;
        char *p, *blob;
        bool created;
        nd_err_t err;

        if (nd_str_is_null(rec->sku))
                return ND_ERR_INVAL;
        /* WHY + 7: a small blob lives inside the entry right after the
         * key (store.c), at any alignment; the array is aligned by hand. */
        need += 7 + rec->sku.len + rec->name.len + rec->category.len +
                rec->currency.len;
        for (uint32_t i = 0; i < rec->complement_cnt; i++)
                need += rec->complements[i].len;
        err =
            nd_store_upsert(cat->st, rec->sku.p, rec->sku.len, 0, &e, &created);
        if (err != ND_OK)
                return err;
        if ((err = nd_store_blob_resize(cat->st, e, need)) != ND_OK) {
                if (created)
                        nd_store_delete(cat->st, e);
                return err;
        }
        r = nd_store_value(e);
        blob = nd_store_blob(e, NULL);
        comps = (nd_str_t *)(((uintptr_t)blob + 7) & ~(uintptr_t)7);
        p = (char *)(comps + rec->complement_cnt);
        *r = *rec;
        p = put_str(&r->sku, rec->sku, p);
        p = put_str(&r->name, rec->name, p);
        p = put_str(&r->category, rec->category, p);
        p = put_str(&r->currency, rec->currency, p);
        for (uint32_t i = 0; i < rec->complement_cnt; i++)
                p = put_str(&comps[i], rec->complements[i], p);
        r->complements = rec->complement_cnt ? comps : NULL;
        /* The catalog is rebuilt from its topic, not from a changelog. */
        nd_store_flush(cat->st, NULL, NULL, 0);
        return ND_OK;
}

void nd_catalog_delete(nd_catalog_t *cat, nd_str_t sku) {
        nd_store_entry_t *e = nd_store_get(cat->st, sku.p, sku.len);
        if (e) {
                nd_store_delete(cat->st, e);
                nd_store_flush(cat->st, NULL, NULL, 0);
        }
}

const nd_product_rec_t *nd_catalog_get(const nd_catalog_t *cat, nd_str_t sku) {
        nd_store_entry_t *e;
        if (nd_str_is_null(sku))
                return NULL;
        e = nd_store_get(cat->st, sku.p, sku.len);
        return e ? nd_store_value(e) : NULL;
}

size_t nd_catalog_count(const nd_catalog_t *cat) {
        return nd_store_count(cat->st);
}

size_t nd_catalog_bytes(const nd_catalog_t *cat) {
        return nd_store_bytes(cat->st);
}
