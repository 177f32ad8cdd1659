/*
 * blob — packed records in an entry's blob, for the trigger processors.
 *
 * A processor's variable-size state (cart lines, pending orders, channel-
 * switch instances) lives in its entry's blob as packed bytes: fixed-size
 * little headers followed by their strings, no pointers, no alignment
 * (every number is read and written with memcpy). The processor keeps the
 * number of bytes in use in its value (`used`); the blob itself may be
 * longer (a failed shrink is harmless), never shorter.
 *
 * nd_blob_splice() is the one primitive that changes the layout: it
 * replaces a byte range by another of any length, moving what follows. It
 * grows the blob before moving anything, so a failure (ND_ERR_BAD_LENGTH
 * past 1 MiB, ND_ERR_NOMEM) leaves the bytes and *used unchanged.
 *
 * Thread safety: as the processor hooks that call them (task thread).
 */
#ifndef ND_PROC_BLOB_H
#define ND_PROC_BLOB_H

#include <stdint.h>
#include <string.h>

#include "nudge/processor.h"

/**
 * Replaces bytes [off, off + old_len) of e's blob (whose first *used bytes
 * are in use) by new_len bytes from src (zeros when src is NULL). src must
 * not point into the blob. Updates *used. Returns ND_OK or an error with
 * the blob unchanged.
 */
nd_err_t nd_blob_splice(nd_ctx_t *ctx, nd_entry_t *e, uint32_t *used,
                        uint32_t off, uint32_t old_len, const void *src,
                        uint32_t new_len);

/** The blob's bytes (NULL when it has none). */
static inline uint8_t *nd_blob_bytes(nd_entry_t *e) {
        size_t len;
        return nd_entry_blob(e, &len);
}

static inline int64_t nd_blob_get_i64(const uint8_t *p) {
        int64_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

static inline void nd_blob_put_i64(uint8_t *p, int64_t v) {
        memcpy(p, &v, sizeof(v));
}

static inline uint32_t nd_blob_get_u32(const uint8_t *p) {
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

static inline void nd_blob_put_u32(uint8_t *p, uint32_t v) {
        memcpy(p, &v, sizeof(v));
}

static inline uint16_t nd_blob_get_u16(const uint8_t *p) {
        uint16_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

static inline void nd_blob_put_u16(uint8_t *p, uint16_t v) {
        memcpy(p, &v, sizeof(v));
}

/** Longest string the packed records keep; longer ones are truncated. */
#define ND_BLOB_STR_MAX 1024

/** s clamped to ND_BLOB_STR_MAX bytes. */
static inline nd_str_t nd_blob_clamp(nd_str_t s) {
        if (s.len > ND_BLOB_STR_MAX)
                s.len = ND_BLOB_STR_MAX;
        return s;
}

#endif
