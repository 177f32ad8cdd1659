/*
 * store — a task's keyed state: one open-addressing hash table per task and
 * store name, from customer key to a compact fixed-size record.
 *
 * An entry is ONE allocation: a 16-byte header (last-touched event time,
 * blob length, key length, flags), a value of exactly value_size bytes
 * chosen when the store is created (the processor's per-customer record,
 * zeroed on creation, 16-byte aligned, at a fixed offset from the entry so
 * that nd_store_entry_of() finds the entry from it), the key bytes, and a
 * tail that holds a small blob in place. The table holds pointers to
 * entries, so growing the table never moves an entry.
 *
 * POINTER LIFETIME. A pointer to an entry (and to its key, its value and any
 * nd_timer_t inside the value) stays valid across every call of this API —
 * inserts, table growth, flushes, encodes — until that entry is deleted:
 * by nd_store_delete(), by nd_store_evict_expired() (after its callback
 * agreed), by nd_store_restore_tombstone(), or by nd_store_destroy(). A blob
 * pointer (nd_store_blob) is also invalidated by nd_store_blob_resize() /
 * nd_store_blob_set() on that entry. Before an entry goes away, every timer
 * armed inside its value must be cancelled (common/timer.h): the store does
 * not know where the processor keeps them, so the eviction callback is the
 * hook where the runtime does it.
 *
 * VARIABLE-SIZE DATA. Each entry may own one byte blob (nd_store_blob_*),
 * capped at ND_STORE_BLOB_MAX: a cart's items live there, not in a tree of
 * mallocs. A blob that fits the entry's tail (the bytes up to the
 * allocator's size class, at least 8) lives there; a longer one is a
 * separate buffer, grown geometrically. Either way it is accounted.
 *
 * CHANGELOG. Entries changed since the last flush sit on a dirty list (an
 * array of entry pointers owned by the store, back to a small size after
 * each flush that empties it), in the order they first became dirty;
 * deleted entries stay on it as
 * tombstones (value memory held until flushed). nd_store_flush() hands each
 * one to a callback that writes the changelog record (key = customer key,
 * value = nd_store_entry_encode() bytes, or a null value for a tombstone).
 * Replaying those records through nd_store_entry_decode_into() and
 * nd_store_restore_tombstone() rebuilds the store exactly. The encoding is
 * described in docs/internals/STORE.md (versioned by its first byte).
 *
 * TTL. Each entry records the latest event time it was touched at. Once
 * W > touched + ttl it is expired; nd_store_evict_expired() removes expired
 * entries a bounded number of slots per call, resuming where it stopped.
 *
 * Memory: nd_store_bytes() counts the table, the dirty list, every entry
 * (tombstones too) and every separate blob, in bytes requested from the
 * allocator. Entries are requested at jemalloc's size classes (the slack
 * becomes blob room), so for them requested = allocated.
 *
 * Thread safety: none. A store belongs to one task and is used on the task's
 * thread only.
 */
#ifndef ND_STORE_H
#define ND_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nudge/err.h"

#define ND_STORE_KEY_MAX   255       /* longer keys: ND_ERR_INVAL */
#define ND_STORE_VALUE_MAX 65000     /* largest value_size */
#define ND_STORE_BLOB_MAX  (1 << 20) /* largest blob: ND_ERR_BAD_LENGTH */
#define ND_STORE_FORMAT_V2 2         /* first byte of an encoded entry */

typedef struct nd_store_s nd_store_t;
typedef struct nd_store_entry_s nd_store_entry_t;

/**
 * A new, empty store. name is copied; value_size (0..ND_STORE_VALUE_MAX) is
 * the size of every entry's value. Never NULL (aborts on OOM).
 */
nd_store_t *nd_store_new(const char *name, size_t value_size);
/** Frees the store, its entries, blobs and tombstones. NULL is fine. */
void nd_store_destroy(nd_store_t *st);
const char *nd_store_name(const nd_store_t *st);
size_t nd_store_value_size(const nd_store_t *st);
/** Grows the table so that n entries fit without rehashing (restore). */
void nd_store_reserve(nd_store_t *st, size_t n);

/** The hash the store uses: XXH64 of the key with seed 0. */
uint64_t nd_store_hash(const void *key, size_t klen);

/** The entry for key, or NULL. Keys longer than ND_STORE_KEY_MAX: NULL. */
nd_store_entry_t *nd_store_get(const nd_store_t *st, const void *key,
                               size_t klen);
/**
 * The entry for key, created when absent (value zeroed, blob empty, dirty),
 * and touched at ts (see nd_store_touch). *created (may be NULL) tells which.
 * Returns ND_ERR_INVAL when klen > ND_STORE_KEY_MAX: the caller dead-letters
 * the record. Allocates only when the key is new; ND_ERR_NOMEM when that
 * allocation fails (the store is unchanged). *entryp is NULL on any error.
 */
nd_err_t nd_store_upsert(nd_store_t *st, const void *key, size_t klen,
                         int64_t ts, nd_store_entry_t **entryp, bool *created);
/**
 * Removes e from the store and records a tombstone for the changelog. e and
 * everything inside it are invalid afterwards; cancel its timers first.
 */
void nd_store_delete(nd_store_t *st, nd_store_entry_t *e);

/** The entry's value: value_size bytes, 16-byte aligned, stable address. */
void *nd_store_value(const nd_store_entry_t *e);
/**
 * The entry whose value starts at value (container-of: the value is at a
 * fixed offset in every entry). value must come from nd_store_value().
 */
nd_store_entry_t *nd_store_entry_of(const void *value);
/** The entry's key bytes (NUL-terminated for convenience); *klen its length. */
const void *nd_store_key(const nd_store_entry_t *e, size_t *klen);
/** The latest event time the entry was touched at (INT64_MIN: never). */
int64_t nd_store_touched(const nd_store_entry_t *e);
/**
 * Records activity at event time ts: the last-touched time becomes
 * max(touched, ts). When it moves, the entry is marked dirty (the time is
 * part of the changelog, so a restored store evicts at the same moment).
 */
void nd_store_touch(nd_store_t *st, nd_store_entry_t *e, int64_t ts);

/** Number of live entries (tombstones excluded). */
size_t nd_store_count(const nd_store_t *st);
/** Memory accounted to the store, in bytes (see the header comment). */
size_t nd_store_bytes(const nd_store_t *st);
/**
 * Iteration in table order: start with *pos = 0; returns the next entry or
 * NULL at the end. Inserting or deleting during an iteration may skip or
 * repeat entries (never crash); modifying values is fine.
 */
nd_store_entry_t *nd_store_next(const nd_store_t *st, size_t *pos);

/** The entry's blob and its length (NULL and 0 when it has none). */
void *nd_store_blob(const nd_store_entry_t *e, size_t *len);
/**
 * Sets the blob's length to len, keeping the first min(old, len) bytes and
 * zeroing the rest; len 0 frees it. ND_ERR_BAD_LENGTH beyond
 * ND_STORE_BLOB_MAX, ND_ERR_NOMEM when the allocation fails (the blob is
 * then unchanged). Does not mark the entry dirty.
 */
nd_err_t nd_store_blob_resize(nd_store_t *st, nd_store_entry_t *e, size_t len);
/** Replaces the blob by a copy of data[0..len). Errors as blob_resize. */
nd_err_t nd_store_blob_set(nd_store_t *st, nd_store_entry_t *e,
                           const void *data, size_t len);

/**
 * Called for each expired entry before it is evicted. Return true to evict
 * it (after cancelling its timers), false to keep it for now. Must not
 * insert or delete entries. An entry may be offered more than once.
 */
typedef bool(nd_store_evict_cb)(nd_store_t *st, nd_store_entry_t *e, void *arg);
/**
 * Examines at most max table slots (and never the whole table twice), from
 * where the previous call stopped, and evicts the entries with
 * W > touched + ttl (cb may be NULL: evict all of them). Evicted entries
 * leave tombstones. Returns how many it evicted. A full sweep takes about
 * table-capacity / max calls.
 */
size_t nd_store_evict_expired(nd_store_t *st, int64_t W, int64_t ttl,
                              size_t max, nd_store_evict_cb *cb, void *arg);

/** Puts e on the dirty list (no-op when it is already there). O(1). */
void nd_store_mark_dirty(nd_store_t *st, nd_store_entry_t *e);
bool nd_store_is_dirty(const nd_store_entry_t *e);
/** Number of dirty entries plus tombstones awaiting a flush. */
size_t nd_store_dirty_count(const nd_store_t *st);

/**
 * One changelog item: e is the entry to write, or NULL for a tombstone of
 * key. e may be passed to nd_store_entry_encode(). Must not modify the store.
 */
typedef nd_err_t(nd_store_flush_cb)(nd_store_t *st, const void *key,
                                    size_t klen, const nd_store_entry_t *e,
                                    void *arg);
/** Calls cb for every dirty item in order, leaving them dirty. */
nd_err_t nd_store_dirty_foreach(nd_store_t *st, nd_store_flush_cb *cb,
                                void *arg);
/**
 * Calls cb for at most max dirty items (0 = all) in order and takes each off
 * the list once cb returns ND_OK (tombstones are freed then). Stops at the
 * first error, which it returns, leaving that item first on the list. cb may
 * be NULL to just forget the dirty set.
 */
nd_err_t nd_store_flush(nd_store_t *st, nd_store_flush_cb *cb, void *arg,
                        size_t max);

/** Bytes nd_store_entry_encode() writes for e. */
size_t nd_store_entry_encoded_size(const nd_store_t *st,
                                   const nd_store_entry_t *e);
/**
 * Writes e (key, touched time, value bytes, blob) to buf. *lenp gets the
 * encoded size; ND_ERR_INVAL (nothing written) when cap is smaller.
 */
nd_err_t nd_store_entry_encode(const nd_store_t *st, const nd_store_entry_t *e,
                               void *buf, size_t cap, size_t *lenp);
/**
 * Restore: applies one encoded entry, creating or overwriting the entry of
 * its key, without marking anything dirty. *entryp (may be NULL) gets the
 * entry: re-bind its timers (nd_timers_rearm) once the restore is complete.
 * Errors: ND_ERR_TRUNCATED, ND_ERR_BAD_MAGIC (unknown format),
 * ND_ERR_BAD_LENGTH (value size differs from the store's, key or blob too
 * long, trailing bytes), ND_ERR_NOMEM (blob); on error the store is unchanged.
 */
nd_err_t nd_store_entry_decode_into(nd_store_t *st, const void *buf, size_t len,
                                    nd_store_entry_t **entryp);
/** Restore of a tombstone: deletes key if present, recording nothing. */
void nd_store_restore_tombstone(nd_store_t *st, const void *key, size_t klen);

#endif
