/*
 * store.c — Robin Hood hash table of pointers to one-allocation entries.
 *
 * OVERALL DESIGN. The table is an array of 16-byte slots {hash, entry *}
 * with a power-of-two capacity, filled to at most 80%. Probing is linear
 * with Robin Hood insertion (an incoming key takes the slot of any resident
 * that is closer to its home slot), which keeps probe lengths short and
 * even, and lets a lookup for an absent key stop as soon as it meets a
 * resident closer to home than itself. Deletion shifts the following
 * cluster back by one slot (no tombstone slots, so the table never degrades).
 * Because the slot carries the full 64-bit hash, a probe touches the entry
 * itself only on a hash match: one cache miss per successful lookup.
 *
 * Entries are allocated once and never move: growth rehashes the slots only.
 * The entry layout is
 *     struct nd_store_entry_s (48 bytes) | key | NUL | pad to 16 | value
 * so the key shares the header's cache line and the value is aligned for
 * any struct the processor keeps there (including nd_timer_t).
 *
 * The dirty list is singly linked through the entry (append at the tail,
 * pop at the head): a flush writes the changelog in the order entries first
 * changed. A deleted entry that still has to reach the changelog stays
 * allocated on the list with ND_ENTRY_DELETED set and is freed by the flush;
 * this costs its memory for one commit interval but needs no second
 * allocation and no unlinking from the middle of the list.
 *
 * Eviction sweeps the slots with a cursor, max slots per call (STYLE.md §1
 * principle 4: bounded work per call, like redis' active expire). A deletion
 * shifts later slots back onto the cursor's slot, so the sweep looks at that
 * slot again before moving on.
 */
#include "store.h"

#include <xxhash.h>

#include "log.h"
#include <string.h>

#include "mem.h"

#define ND_ENTRY_DIRTY   0x01
#define ND_ENTRY_DELETED 0x02

#define MIN_CAP 16

struct nd_store_entry_s {
        uint64_t hash;
        int64_t touched;
        struct nd_store_entry_s *dirty_next;
        uint8_t *blob;
        uint32_t blob_len;
        uint32_t blob_cap;
        uint16_t voff; /* value offset from the entry's start */
        uint8_t klen;
        uint8_t flags;
        uint32_t alloc; /* bytes of this allocation */
        unsigned char key[];
};

struct slot {
        uint64_t hash;
        nd_store_entry_t *e;
};

struct nd_store_s {
        struct slot *slots;
        size_t cap; /* power of two */
        size_t count;
        size_t value_size;
        size_t bytes;     /* entries + blobs (table added on demand) */
        size_t evict_pos; /* eviction cursor */
        nd_store_entry_t *dirty_head, *dirty_tail;
        size_t dirty_count;
        char *name;
};

/*
 * The key hash is XXH3-64 from libxxhash (Debian's libxxhash-dev): fast on
 * the short keys customer ids are, and well tested. It is not persisted
 * (the changelog carries keys, not hashes), so it may change freely.
 */
uint64_t nd_store_hash(const void *key, size_t len)
{
        return XXH3_64bits(key, len);
}

/* ---- table ---- */

static inline size_t home(const nd_store_t *st, uint64_t hash)
{
        return (size_t)hash & (st->cap - 1);
}

static inline size_t dist(const nd_store_t *st, size_t i)
{
        return (i - home(st, st->slots[i].hash)) & (st->cap - 1);
}

/* Inserts a (hash, entry) known to be absent; the table has room. */
static void table_insert(nd_store_t *st, uint64_t hash, nd_store_entry_t *e)
{
        struct slot cur = {hash, e};
        size_t mask = st->cap - 1, i = home(st, hash), d = 0;
        for (;;) {
                struct slot *s = &st->slots[i];
                size_t sd;
                if (!s->e) {
                        *s = cur;
                        return;
                }
                sd = dist(st, i);
                if (sd < d) {
                        struct slot tmp = *s;
                        *s = cur;
                        cur = tmp;
                        d = sd;
                }
                i = (i + 1) & mask;
                d++;
        }
}

static void table_resize(nd_store_t *st, size_t cap)
{
        struct slot *old = st->slots;
        size_t oldcap = st->cap, i;
        st->slots = nd_calloc(cap, sizeof(*st->slots));
        st->cap = cap;
        for (i = 0; i < oldcap; i++)
                if (old[i].e)
                        table_insert(st, old[i].hash, old[i].e);
        nd_free(old);
        st->evict_pos = 0;
}

static inline bool over_load(size_t count, size_t cap)
{
        return count * 5 > cap * 4; /* load factor 0.8 */
}

static size_t find_slot(const nd_store_t *st, const void *key, size_t klen,
                        uint64_t hash)
{
        size_t mask = st->cap - 1, i = home(st, hash), d = 0;
        for (;;) {
                const struct slot *s = &st->slots[i];
                if (!s->e || dist(st, i) < d)
                        return SIZE_MAX;
                if (s->hash == hash && s->e->klen == klen &&
                    memcmp(s->e->key, key, klen) == 0)
                        return i;
                i = (i + 1) & mask;
                d++;
        }
}

static size_t slot_of(const nd_store_t *st, const nd_store_entry_t *e)
{
        size_t mask = st->cap - 1, i = home(st, e->hash);
        while (st->slots[i].e != e)
                i = (i + 1) & mask;
        return i;
}

/* Backward-shift deletion of slot i. */
static void table_remove_at(nd_store_t *st, size_t i)
{
        size_t mask = st->cap - 1, j = (i + 1) & mask;
        while (st->slots[j].e && dist(st, j) > 0) {
                st->slots[i] = st->slots[j];
                i = j;
                j = (j + 1) & mask;
        }
        st->slots[i].e = NULL;
        st->slots[i].hash = 0;
        st->count--;
}

/* ---- lifecycle ---- */

nd_store_t *nd_store_new(const char *name, size_t value_size)
{
        nd_store_t *st;
        nd_assert(value_size <= ND_STORE_VALUE_MAX);
        st = nd_calloc(1, sizeof(*st));
        st->name = nd_strdup(name ? name : "");
        st->value_size = value_size;
        st->cap = MIN_CAP;
        st->slots = nd_calloc(st->cap, sizeof(*st->slots));
        return st;
}

static void entry_free(nd_store_t *st, nd_store_entry_t *e)
{
        st->bytes -= e->alloc + e->blob_cap;
        nd_free(e->blob);
        nd_free(e);
}

void nd_store_destroy(nd_store_t *st)
{
        nd_store_entry_t *e, *next;
        size_t i;
        if (!st)
                return;
        /* Dirty-list tombstones are not in the table; live entries are. */
        for (e = st->dirty_head; e; e = next) {
                next = e->dirty_next;
                if (e->flags & ND_ENTRY_DELETED)
                        entry_free(st, e);
        }
        for (i = 0; i < st->cap; i++)
                if (st->slots[i].e)
                        entry_free(st, st->slots[i].e);
        nd_free(st->slots);
        nd_free(st->name);
        nd_free(st);
}

const char *nd_store_name(const nd_store_t *st)
{
        return st->name;
}

size_t nd_store_value_size(const nd_store_t *st)
{
        return st->value_size;
}

void nd_store_reserve(nd_store_t *st, size_t n)
{
        size_t cap = st->cap;
        while (over_load(n, cap))
                cap *= 2;
        if (cap != st->cap)
                table_resize(st, cap);
}

/* ---- entries ---- */

void *nd_store_value(const nd_store_entry_t *e)
{
        return (char *)e + e->voff;
}

const void *nd_store_key(const nd_store_entry_t *e, size_t *klen)
{
        if (klen)
                *klen = e->klen;
        return e->key;
}

int64_t nd_store_touched(const nd_store_entry_t *e)
{
        return e->touched;
}

nd_store_entry_t *nd_store_get(const nd_store_t *st, const void *key,
                               size_t klen)
{
        size_t i;
        if (klen > ND_STORE_KEY_MAX)
                return NULL;
        i = find_slot(st, key, klen, nd_store_hash(key, klen));
        return i == SIZE_MAX ? NULL : st->slots[i].e;
}

/* Allocates an entry for key with a zeroed value; not yet in the table. */
static nd_store_entry_t *entry_new(nd_store_t *st, const void *key, size_t klen,
                                   uint64_t hash)
{
        size_t voff = (sizeof(nd_store_entry_t) + klen + 1 + 15) & ~(size_t)15;
        size_t size = voff + st->value_size;
        nd_store_entry_t *e = nd_malloc(size);
        memset(e, 0, sizeof(*e));
        e->hash = hash;
        e->touched = INT64_MIN;
        e->voff = (uint16_t)voff;
        e->klen = (uint8_t)klen;
        e->alloc = (uint32_t)size;
        if (klen)
                memcpy(e->key, key, klen);
        memset(e->key + klen, 0, voff - sizeof(*e) - klen);
        memset((char *)e + voff, 0, st->value_size);
        st->bytes += size;
        return e;
}

static nd_store_entry_t *insert_new(nd_store_t *st, const void *key,
                                    size_t klen, uint64_t hash)
{
        nd_store_entry_t *e = entry_new(st, key, klen, hash);
        if (over_load(st->count + 1, st->cap))
                table_resize(st, st->cap * 2);
        table_insert(st, hash, e);
        st->count++;
        return e;
}

nd_err_t nd_store_upsert(nd_store_t *st, const void *key, size_t klen,
                         int64_t ts, nd_store_entry_t **entryp, bool *created)
{
        uint64_t hash;
        size_t i;
        nd_store_entry_t *e;
        bool is_new = false;
        if (klen > ND_STORE_KEY_MAX) {
                *entryp = NULL;
                return ND_ERR_INVAL;
        }
        hash = nd_store_hash(key, klen);
        i = find_slot(st, key, klen, hash);
        if (i != SIZE_MAX) {
                e = st->slots[i].e;
        } else {
                e = insert_new(st, key, klen, hash);
                nd_store_mark_dirty(st, e);
                is_new = true;
        }
        nd_store_touch(st, e, ts);
        *entryp = e;
        if (created)
                *created = is_new;
        return ND_OK;
}

void nd_store_touch(nd_store_t *st, nd_store_entry_t *e, int64_t ts)
{
        if (ts > e->touched) {
                e->touched = ts;
                nd_store_mark_dirty(st, e);
        }
}

/* Takes e out of the table; frees it now, or leaves it as a tombstone on
 * the dirty list when record is set. */
static void remove_entry(nd_store_t *st, nd_store_entry_t *e, size_t slot,
                         bool record)
{
        nd_assert(!(e->flags & ND_ENTRY_DELETED));
        table_remove_at(st, slot);
        if (!record) {
                if (e->flags & ND_ENTRY_DIRTY) {
                        /* WHY: only restore comes here, and a restore
                         * starts with an empty dirty list; keep a tombstone
                         * rather than walk the list to unlink. */
                        e->flags |= ND_ENTRY_DELETED;
                        return;
                }
                entry_free(st, e);
                return;
        }
        /* The blob is not needed for a tombstone: give it back now. */
        st->bytes -= e->blob_cap;
        nd_free(e->blob);
        e->blob = NULL;
        e->blob_len = e->blob_cap = 0;
        nd_store_mark_dirty(st, e);
        e->flags |= ND_ENTRY_DELETED;
}

void nd_store_delete(nd_store_t *st, nd_store_entry_t *e)
{
        remove_entry(st, e, slot_of(st, e), true);
}

void nd_store_restore_tombstone(nd_store_t *st, const void *key, size_t klen)
{
        size_t i;
        if (klen > ND_STORE_KEY_MAX)
                return;
        i = find_slot(st, key, klen, nd_store_hash(key, klen));
        if (i != SIZE_MAX)
                remove_entry(st, st->slots[i].e, i, false);
}

size_t nd_store_count(const nd_store_t *st)
{
        return st->count;
}

size_t nd_store_bytes(const nd_store_t *st)
{
        return sizeof(*st) + strlen(st->name) + 1 +
               st->cap * sizeof(*st->slots) + st->bytes;
}

nd_store_entry_t *nd_store_next(const nd_store_t *st, size_t *pos)
{
        size_t i;
        for (i = *pos; i < st->cap; i++) {
                if (st->slots[i].e) {
                        *pos = i + 1;
                        return st->slots[i].e;
                }
        }
        *pos = st->cap;
        return NULL;
}

/* ---- blobs ---- */

void *nd_store_blob(const nd_store_entry_t *e, size_t *len)
{
        if (len)
                *len = e->blob_len;
        return e->blob;
}

nd_err_t nd_store_blob_resize(nd_store_t *st, nd_store_entry_t *e, size_t len)
{
        void *p;
        size_t cap;
        nd_err_t err;
        if (len > ND_STORE_BLOB_MAX)
                return ND_ERR_BAD_LENGTH;
        if (len == 0) {
                st->bytes -= e->blob_cap;
                nd_free(e->blob);
                e->blob = NULL;
                e->blob_len = e->blob_cap = 0;
                return ND_OK;
        }
        if (len <= e->blob_cap && len >= e->blob_cap / 4) {
                if (len > e->blob_len)
                        memset(e->blob + e->blob_len, 0, len - e->blob_len);
                e->blob_len = (uint32_t)len;
                return ND_OK;
        }
        /* Grow geometrically (amortised O(1) appends), shrink to fit. */
        cap = len;
        if (len > e->blob_cap) {
                cap = e->blob_cap * 2 > len ? e->blob_cap * 2 : len;
                if (cap > ND_STORE_BLOB_MAX)
                        cap = ND_STORE_BLOB_MAX;
        }
        /* WHY nd_trymalloc and not realloc: the size comes from input, and
         * on failure the old blob must stay intact. */
        if ((err = nd_trymalloc(&p, cap)) != ND_OK)
                return err;
        if (e->blob_len)
                memcpy(p, e->blob, e->blob_len < len ? e->blob_len : len);
        if (len > e->blob_len)
                memset((char *)p + e->blob_len, 0, len - e->blob_len);
        nd_free(e->blob);
        st->bytes += cap - e->blob_cap;
        e->blob = p;
        e->blob_cap = (uint32_t)cap;
        e->blob_len = (uint32_t)len;
        return ND_OK;
}

nd_err_t nd_store_blob_set(nd_store_t *st, nd_store_entry_t *e,
                           const void *data, size_t len)
{
        uint32_t old = e->blob_len;
        nd_err_t err;
        if (len > ND_STORE_BLOB_MAX)
                return ND_ERR_BAD_LENGTH;
        /* Drop the old bytes first so that resize copies nothing. */
        e->blob_len = 0;
        if ((err = nd_store_blob_resize(st, e, len)) != ND_OK) {
                e->blob_len = old;
                return err;
        }
        if (len)
                memcpy(e->blob, data, len);
        return ND_OK;
}

/* ---- eviction ---- */

size_t nd_store_evict_expired(nd_store_t *st, int64_t W, int64_t ttl,
                              size_t max, nd_store_evict_cb *cb, void *arg)
{
        size_t evicted = 0, n, moved = 0;
        int64_t limit;
        /* Expired when W > touched + ttl, i.e. touched < W - ttl; computed
         * so that nothing overflows near the ends of the range. */
        if (ttl < 0)
                ttl = 0;
        if (__builtin_sub_overflow(W, ttl, &limit))
                return 0; /* W - ttl below INT64_MIN: nothing is older */
        /* WHY the second bound: one call never sweeps the table twice,
         * or a callback that keeps entries would see them again. */
        for (n = 0; n < max && moved < st->cap; n++) {
                size_t i = st->evict_pos & (st->cap - 1);
                nd_store_entry_t *e = st->slots[i].e;
                if (e && e->touched < limit && (!cb || cb(st, e, arg))) {
                        remove_entry(st, e, i, true);
                        evicted++;
                        /* Slot i may now hold the next entry: look again. */
                        if (st->slots[i].e)
                                continue;
                }
                st->evict_pos = i + 1;
                moved++;
        }
        return evicted;
}

/* ---- dirty list ---- */

void nd_store_mark_dirty(nd_store_t *st, nd_store_entry_t *e)
{
        if (e->flags & ND_ENTRY_DIRTY)
                return;
        e->flags |= ND_ENTRY_DIRTY;
        e->dirty_next = NULL;
        if (st->dirty_tail)
                st->dirty_tail->dirty_next = e;
        else
                st->dirty_head = e;
        st->dirty_tail = e;
        st->dirty_count++;
}

bool nd_store_is_dirty(const nd_store_entry_t *e)
{
        return (e->flags & ND_ENTRY_DIRTY) != 0;
}

size_t nd_store_dirty_count(const nd_store_t *st)
{
        return st->dirty_count;
}

static nd_err_t flush_one(nd_store_t *st, nd_store_entry_t *e,
                          nd_store_flush_cb *cb, void *arg)
{
        bool deleted = (e->flags & ND_ENTRY_DELETED) != 0;
        if (!cb)
                return ND_OK;
        return cb(st, e->key, e->klen, deleted ? NULL : e, arg);
}

nd_err_t nd_store_dirty_foreach(nd_store_t *st, nd_store_flush_cb *cb,
                                void *arg)
{
        nd_store_entry_t *e;
        nd_err_t err;
        for (e = st->dirty_head; e; e = e->dirty_next)
                if ((err = flush_one(st, e, cb, arg)) != ND_OK)
                        return err;
        return ND_OK;
}

nd_err_t nd_store_flush(nd_store_t *st, nd_store_flush_cb *cb, void *arg,
                        size_t max)
{
        size_t n = 0;
        nd_err_t err;
        while (st->dirty_head && (max == 0 || n < max)) {
                nd_store_entry_t *e = st->dirty_head;
                if ((err = flush_one(st, e, cb, arg)) != ND_OK)
                        return err;
                st->dirty_head = e->dirty_next;
                if (!st->dirty_head)
                        st->dirty_tail = NULL;
                st->dirty_count--;
                e->dirty_next = NULL;
                e->flags &= (uint8_t)~ND_ENTRY_DIRTY;
                if (e->flags & ND_ENTRY_DELETED)
                        entry_free(st, e);
                n++;
        }
        return ND_OK;
}

/* ---- changelog encoding ----
 *
 *   u8  format (ND_STORE_FORMAT_V1)
 *   u8  key length K
 *   K   key bytes
 *   i64 touched, little-endian
 *   u32 value size V, little-endian (must equal the store's)
 *   V   value bytes
 *   u32 blob length B, little-endian
 *   B   blob bytes
 */

#define ENC_FIXED (1 + 1 + 8 + 4 + 4)

static unsigned char *put_le(unsigned char *p, uint64_t v, int n)
{
        int i;
        for (i = 0; i < n; i++)
                p[i] = (unsigned char)(v >> (8 * i));
        return p + n;
}

static uint64_t get_le(const unsigned char *p, int n)
{
        uint64_t v = 0;
        int i;
        for (i = 0; i < n; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

size_t nd_store_entry_encoded_size(const nd_store_t *st,
                                   const nd_store_entry_t *e)
{
        return ENC_FIXED + e->klen + st->value_size + e->blob_len;
}

nd_err_t nd_store_entry_encode(const nd_store_t *st, const nd_store_entry_t *e,
                               void *buf, size_t cap, size_t *lenp)
{
        size_t need = nd_store_entry_encoded_size(st, e);
        unsigned char *p = buf;
        *lenp = need;
        if (cap < need)
                return ND_ERR_INVAL;
        *p++ = ND_STORE_FORMAT_V1;
        *p++ = e->klen;
        memcpy(p, e->key, e->klen);
        p += e->klen;
        p = put_le(p, (uint64_t)e->touched, 8);
        p = put_le(p, st->value_size, 4);
        memcpy(p, nd_store_value(e), st->value_size);
        p += st->value_size;
        p = put_le(p, e->blob_len, 4);
        if (e->blob_len)
                memcpy(p, e->blob, e->blob_len);
        return ND_OK;
}

nd_err_t nd_store_entry_decode_into(nd_store_t *st, const void *buf, size_t len,
                                    nd_store_entry_t **entryp)
{
        const unsigned char *p = buf, *end = p + len, *key, *value, *blob;
        size_t klen, vlen, blen, i;
        int64_t touched;
        nd_store_entry_t *e;
        uint64_t hash;
        void *nb = NULL;
        nd_err_t err;

        if (entryp)
                *entryp = NULL;
        if (len < 2)
                return ND_ERR_TRUNCATED;
        if (p[0] != ND_STORE_FORMAT_V1)
                return ND_ERR_BAD_MAGIC;
        klen = p[1];
        p += 2;
        if ((size_t)(end - p) < klen + 8 + 4)
                return ND_ERR_TRUNCATED;
        key = p;
        p += klen;
        touched = (int64_t)get_le(p, 8);
        vlen = (size_t)get_le(p + 8, 4);
        p += 12;
        if (vlen != st->value_size)
                return ND_ERR_BAD_LENGTH;
        if ((size_t)(end - p) < vlen + 4)
                return ND_ERR_TRUNCATED;
        value = p;
        p += vlen;
        blen = (size_t)get_le(p, 4);
        p += 4;
        if (blen > ND_STORE_BLOB_MAX)
                return ND_ERR_BAD_LENGTH;
        if ((size_t)(end - p) < blen)
                return ND_ERR_TRUNCATED;
        if ((size_t)(end - p) > blen)
                return ND_ERR_BAD_LENGTH;
        blob = p;

        /* Everything that can fail happens before the store changes. */
        if (blen && (err = nd_trymalloc(&nb, blen)) != ND_OK)
                return err;

        hash = nd_store_hash(key, klen);
        i = find_slot(st, key, klen, hash);
        e = i != SIZE_MAX ? st->slots[i].e : insert_new(st, key, klen, hash);
        e->touched = touched;
        memcpy(nd_store_value(e), value, vlen);
        st->bytes -= e->blob_cap;
        nd_free(e->blob);
        e->blob = nb;
        e->blob_len = e->blob_cap = (uint32_t)blen;
        if (blen)
                memcpy(nb, blob, blen);
        st->bytes += blen;
        if (entryp)
                *entryp = e;
        return ND_OK;
}
