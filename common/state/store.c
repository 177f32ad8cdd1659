/*
 * store.c — Robin Hood hash table of tagged pointers to one-allocation
 * entries.
 *
 * OVERALL DESIGN. The state of a customer who only browsed must fit in
 * about 128 bytes (issue #6), table and timer heap included, so every byte
 * of a live entry is accounted for here.
 *
 * The table is a power-of-two array of 8-byte slots, filled to at most 80%:
 *
 *     bits  0..44  entry address >> 3 (entries are 8-byte aligned, < 2^48)
 *     bits 45..51  probe distance from the home slot (0..127)
 *     bits 52..63  the top 12 bits of the key's hash (a tag)
 *
 * 0 is an empty slot. Probing is linear with Robin Hood insertion (an
 * incoming key takes the slot of any resident closer to its home slot),
 * which keeps probe lengths short and even, and lets a lookup for an absent
 * key stop as soon as it meets a resident closer to home than itself.
 * Deletion shifts the following cluster back by one slot (no tombstone
 * slots). The home slot is the low bits of the hash; a resident with the
 * same probe distance has the same home, so (distance, tag) filter out all
 * but one in 2^12 of the wrong keys before the entry is touched: about one
 * cache miss per successful lookup. An insertion that would push a probe
 * distance past 127 grows the table instead. Growing needs every entry's
 * hash again: it is recomputed from the key (a cache miss per entry, once
 * per doubling; the 8 bytes a stored hash would cost are 6% of the budget).
 *
 * Entries are allocated once and never move. The layout is
 *
 *     struct nd_store_entry_s (16) | value (value_size) | klen | key | NUL
 *     | tail
 *
 * The value sits at a fixed offset (16), so it is 16-byte aligned and the
 * entry is found from the value's address (nd_store_entry_of: how the task
 * finds an entry from the timer at the start of its value). The size is
 * rounded up to the allocator's size class and the slack, at least 8 bytes,
 * is the tail: a blob that fits lives there; a longer one lives in a
 * separate buffer [u32 cap | u32 0 | bytes] whose address is kept in the
 * tail. Small blobs (a browsing session) thus cost no pointer, no second
 * allocation and no rounding of their own. How much tail a new entry gets
 * follows the store's blob lengths (hint_see). The byte before the key
 * repeats the key length, so a lookup reads one cache line of the entry
 * even when the value is long.
 *
 * The dirty list is an array of entry pointers in the order entries first
 * became dirty (a flush writes the changelog in that order), with a DIRTY
 * flag in the entry to keep it unique. A deleted entry that still has to
 * reach the changelog stays allocated on the list with ND_ENTRY_DELETED set
 * and is freed by the flush. The array costs 8 bytes per entry changed
 * since the last flush, not per entry: a flush that empties it gives it
 * back down to DIRTY_MIN slots.
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

#define ND_ENTRY_DIRTY    0x01
#define ND_ENTRY_DELETED  0x02
#define ND_ENTRY_BLOB_EXT 0x04 /* the blob is a separate buffer */

#define MIN_CAP   16
#define DIRTY_MIN 256
#define TAIL_MIN  8 /* room for a separate blob's address */
#define EXT_HDR   8 /* [u32 cap][u32 0] before a separate blob's bytes */
#define ENTRY_HDR 16

#define BLOB_LEN_BITS 21 /* ND_STORE_BLOB_MAX fits */
#define BLOB_LEN_MASK ((1u << BLOB_LEN_BITS) - 1)
#define HINT_MAX      256 /* largest tail hint, bytes (a multiple of 8) */
#define HINT_UP       8   /* quantile tracker steps: up 8, down 1 */

#define SLOT_PTR_BITS  45
#define SLOT_DIST_BITS 7
#define SLOT_DIST_MAX  ((1u << SLOT_DIST_BITS) - 1)
#define SLOT_TAG_SHIFT (SLOT_PTR_BITS + SLOT_DIST_BITS) /* 52 */

struct nd_store_entry_s {
        int64_t touched;
        uint32_t blob; /* blob length (21 bits) | tail hint << 21 */
        uint16_t koff; /* key offset: ENTRY_HDR + value_size + 1 */
        uint8_t klen;
        uint8_t flags;
        /* value at offset ENTRY_HDR, then key, NUL, tail */
};

_Static_assert(sizeof(struct nd_store_entry_s) == ENTRY_HDR, "entry header");
_Static_assert(ND_STORE_BLOB_MAX <= BLOB_LEN_MASK, "blob length bits");
_Static_assert(HINT_MAX / 8 < (1u << (32 - BLOB_LEN_BITS)), "hint bits");

typedef uint64_t slot_t;

struct nd_store_s {
        slot_t *slots;
        size_t cap; /* power of two */
        size_t count;
        size_t value_size;
        size_t bytes;     /* entries + separate blobs */
        size_t evict_pos; /* eviction cursor */
        size_t hint;      /* tail for new entries: ~P89 of blob lengths */
        nd_store_entry_t **dirty;
        size_t dirty_head, dirty_n, dirty_cap;
        char *name;
};

/*
 * The key hash is XXH3-64 from libxxhash (Debian's libxxhash-dev): fast on
 * the short keys customer ids are, and well tested. It is not persisted
 * (the changelog carries keys, not hashes), so it may change freely.
 */
uint64_t nd_store_hash(const void *key, size_t len) {
        return XXH3_64bits(key, len);
}

/* ---- entry layout ---- */

/* jemalloc's size classes (16-byte quantum, four classes per doubling). */
static size_t size_class(size_t n) {
        size_t lg, step;
        if (n <= 128)
                return (n + 15) & ~(size_t)15;
        lg = 63 - (size_t)__builtin_clzll((unsigned long long)(n - 1));
        step = (size_t)1 << (lg - 2);
        return (n + step - 1) & ~(step - 1);
}

static inline size_t blen(const nd_store_entry_t *e) {
        return e->blob & BLOB_LEN_MASK;
}

static inline void set_blen(nd_store_entry_t *e, size_t len) {
        e->blob = (e->blob & ~BLOB_LEN_MASK) | (uint32_t)len;
}

/* The tail asked for when e was made, at least TAIL_MIN. */
static inline size_t tail_req(size_t hint_units) {
        return hint_units * 8 > TAIL_MIN ? hint_units * 8 : TAIL_MIN;
}

static inline unsigned char *ekey(const nd_store_entry_t *e) {
        return (unsigned char *)e + e->koff;
}

static inline size_t tail_off(const nd_store_entry_t *e) {
        return (size_t)e->koff + e->klen + 1;
}

static inline size_t alloc_size(size_t koff, size_t klen, size_t hint_units) {
        return size_class(koff + klen + 1 + tail_req(hint_units));
}

static inline size_t entry_alloc(const nd_store_entry_t *e) {
        return alloc_size(e->koff, e->klen, e->blob >> BLOB_LEN_BITS);
}

static inline size_t tail_cap(const nd_store_entry_t *e) {
        return entry_alloc(e) - tail_off(e);
}

/*
 * The tail hint follows the blob lengths the store sees, up to HINT_MAX:
 * up HINT_UP bytes when a length is above it, down one when below, so it
 * settles where one length in HINT_UP + 1 is above it (the 89th
 * percentile). New entries get that much tail, so the usual blob of this
 * store (a browsing session) lives in place.
 */
static inline void hint_see(nd_store_t *st, size_t len) {
        if (len > st->hint && st->hint < HINT_MAX)
                st->hint += HINT_UP;
        else if (len < st->hint)
                st->hint--;
}

static inline unsigned char *ext_get(const nd_store_entry_t *e) {
        unsigned char *p;
        memcpy(&p, (const char *)e + tail_off(e), sizeof(p));
        return p;
}

static inline void ext_put(nd_store_entry_t *e, unsigned char *p) {
        memcpy((char *)e + tail_off(e), &p, sizeof(p));
}

static inline uint32_t ext_cap(const unsigned char *p) {
        uint32_t c;
        memcpy(&c, p, sizeof(c));
        return c;
}

/* Bytes of e's separate blob buffer (0 when the blob is in place). */
static inline size_t ext_bytes(const nd_store_entry_t *e) {
        return (e->flags & ND_ENTRY_BLOB_EXT) ? EXT_HDR + ext_cap(ext_get(e))
                                              : 0;
}

/* Frees a separate blob buffer and empties the blob. */
static void blob_clear(nd_store_t *st, nd_store_entry_t *e) {
        if (e->flags & ND_ENTRY_BLOB_EXT) {
                st->bytes -= ext_bytes(e);
                nd_free(ext_get(e));
                e->flags &= (uint8_t)~ND_ENTRY_BLOB_EXT;
        }
        set_blen(e, 0);
}

/* ---- table ---- */

static inline nd_store_entry_t *slot_e(slot_t s) {
        return (nd_store_entry_t
                    *)(uintptr_t)((s & (((uint64_t)1 << SLOT_PTR_BITS) - 1))
                                  << 3);
}

static inline unsigned slot_dist(slot_t s) {
        return (unsigned)(s >> SLOT_PTR_BITS) & SLOT_DIST_MAX;
}

static inline slot_t slot_make(const nd_store_entry_t *e, uint64_t hash,
                               unsigned d) {
        return (uint64_t)(uintptr_t)e >> 3 | (uint64_t)d << SLOT_PTR_BITS |
               (hash >> SLOT_TAG_SHIFT) << SLOT_TAG_SHIFT;
}

static inline slot_t slot_with_dist(slot_t s, unsigned d) {
        return (s & ~((uint64_t)SLOT_DIST_MAX << SLOT_PTR_BITS)) |
               (uint64_t)d << SLOT_PTR_BITS;
}

static inline size_t home(const nd_store_t *st, uint64_t hash) {
        return (size_t)hash & (st->cap - 1);
}

static inline uint64_t entry_hash(const nd_store_entry_t *e) {
        return nd_store_hash(ekey(e), e->klen);
}

/*
 * Inserts an entry known to be absent; the table has room. Returns NULL,
 * or, when some resident would have to move past SLOT_DIST_MAX from home,
 * the entry left without a slot (the table must grow, then it goes in).
 */
static nd_store_entry_t *table_insert(nd_store_t *st, nd_store_entry_t *e,
                                      uint64_t hash) {
        size_t mask = st->cap - 1, i = home(st, hash);
        slot_t cur = slot_make(e, hash, 0);
        unsigned d = 0;
        for (;;) {
                slot_t *s = &st->slots[i];
                unsigned sd;
                if (!*s) {
                        *s = slot_with_dist(cur, d);
                        return NULL;
                }
                sd = slot_dist(*s);
                if (sd < d) {
                        slot_t tmp = *s;
                        *s = slot_with_dist(cur, d);
                        cur = tmp;
                        d = sd;
                }
                i = (i + 1) & mask;
                if (++d > SLOT_DIST_MAX)
                        return slot_e(cur);
        }
}

static void table_resize(nd_store_t *st, size_t cap);

/* table_insert, growing the table until everything has a slot. */
static void table_place(nd_store_t *st, nd_store_entry_t *e, uint64_t hash) {
        while ((e = table_insert(st, e, hash)) != NULL) {
                table_resize(st, st->cap * 2);
                hash = entry_hash(e);
        }
}

static void table_resize(nd_store_t *st, size_t cap) {
        slot_t *old = st->slots;
        size_t oldcap = st->cap, i;
        st->slots = nd_calloc(cap, sizeof(*st->slots));
        st->cap = cap;
        st->evict_pos = 0;
        for (i = 0; i < oldcap; i++) {
                nd_store_entry_t *e;
                if (!old[i])
                        continue;
                e = slot_e(old[i]);
                /* WHY no table_place: overflowing a table twice the size
                 * means resizing again from inside this loop; so grow and
                 * start over instead (never seen in practice). */
                if (table_insert(st, e, entry_hash(e)) != NULL) {
                        nd_free(st->slots);
                        st->slots = old;
                        st->cap = oldcap;
                        table_resize(st, cap * 2);
                        return;
                }
        }
        nd_free(old);
}

static inline bool over_load(size_t count, size_t cap) {
        return count * 5 > cap * 4; /* load factor 0.8 */
}

static size_t find_slot(const nd_store_t *st, const void *key, size_t klen,
                        uint64_t hash) {
        size_t mask = st->cap - 1, i = home(st, hash);
        size_t koff = ENTRY_HDR + st->value_size + 1;
        uint64_t tag = hash >> SLOT_TAG_SHIFT;
        unsigned d = 0;
        for (;;) {
                slot_t s = st->slots[i];
                unsigned sd;
                if (!s)
                        return SIZE_MAX;
                sd = slot_dist(s);
                if (sd < d)
                        return SIZE_MAX;
                if (sd == d && s >> SLOT_TAG_SHIFT == tag) {
                        /* The key and the length byte before it share a
                         * cache line; the header may not (large values). */
                        const unsigned char *k =
                            (const unsigned char *)slot_e(s) + koff;
                        if (k[-1] == klen && memcmp(k, key, klen) == 0)
                                return i;
                }
                i = (i + 1) & mask;
                if (++d > SLOT_DIST_MAX)
                        return SIZE_MAX;
        }
}

static size_t slot_of(const nd_store_t *st, const nd_store_entry_t *e) {
        size_t mask = st->cap - 1, i = home(st, entry_hash(e));
        while (slot_e(st->slots[i]) != e)
                i = (i + 1) & mask;
        return i;
}

/* Backward-shift deletion of slot i. */
static void table_remove_at(nd_store_t *st, size_t i) {
        size_t mask = st->cap - 1, j = (i + 1) & mask;
        while (st->slots[j] && slot_dist(st->slots[j]) > 0) {
                st->slots[i] =
                    slot_with_dist(st->slots[j], slot_dist(st->slots[j]) - 1);
                i = j;
                j = (j + 1) & mask;
        }
        st->slots[i] = 0;
        st->count--;
}

/* ---- lifecycle ---- */

nd_store_t *nd_store_new(const char *name, size_t value_size) {
        nd_store_t *st;
        nd_assert(value_size <= ND_STORE_VALUE_MAX);
        st = nd_calloc(1, sizeof(*st));
        st->name = nd_strdup(name ? name : "");
        st->value_size = value_size;
        st->cap = MIN_CAP;
        st->slots = nd_calloc(st->cap, sizeof(*st->slots));
        st->dirty_cap = DIRTY_MIN;
        st->dirty = nd_malloc(DIRTY_MIN * sizeof(*st->dirty));
        return st;
}

static void entry_free(nd_store_t *st, nd_store_entry_t *e) {
        blob_clear(st, e);
        st->bytes -= entry_alloc(e);
        nd_free(e);
}

void nd_store_destroy(nd_store_t *st) {
        size_t i;
        if (!st)
                return;
        /* Dirty-list tombstones are not in the table; live entries are. */
        for (i = st->dirty_head; i < st->dirty_n; i++)
                if (st->dirty[i]->flags & ND_ENTRY_DELETED)
                        entry_free(st, st->dirty[i]);
        for (i = 0; i < st->cap; i++)
                if (st->slots[i])
                        entry_free(st, slot_e(st->slots[i]));
        nd_free(st->dirty);
        nd_free(st->slots);
        nd_free(st->name);
        nd_free(st);
}

const char *nd_store_name(const nd_store_t *st) {
        return st->name;
}

size_t nd_store_value_size(const nd_store_t *st) {
        return st->value_size;
}

void nd_store_reserve(nd_store_t *st, size_t n) {
        size_t cap = st->cap;
        while (over_load(n, cap))
                cap *= 2;
        if (cap != st->cap)
                table_resize(st, cap);
}

/* ---- entries ---- */

void *nd_store_value(const nd_store_entry_t *e) {
        return (char *)e + ENTRY_HDR;
}

nd_store_entry_t *nd_store_entry_of(const void *value) {
        return (nd_store_entry_t *)((char *)value - ENTRY_HDR);
}

const void *nd_store_key(const nd_store_entry_t *e, size_t *klen) {
        if (klen)
                *klen = e->klen;
        return ekey(e);
}

int64_t nd_store_touched(const nd_store_entry_t *e) {
        return e->touched;
}

nd_store_entry_t *nd_store_get(const nd_store_t *st, const void *key,
                               size_t klen) {
        size_t i;
        if (klen > ND_STORE_KEY_MAX)
                return NULL;
        i = find_slot(st, key, klen, nd_store_hash(key, klen));
        return i == SIZE_MAX ? NULL : slot_e(st->slots[i]);
}

/* The hint, in 8-byte units, that new entries get now. */
static inline size_t hint_units(const nd_store_t *st) {
        return (st->hint + 7) / 8;
}

/*
 * The one way an entry is made: allocated with the blob hint in force,
 * initialised (value zeroed, blob empty, never touched), not yet in the
 * table — upsert adds it at once, a restore only once its blob is set, so
 * that a failed restore leaves the store as it was. The size depends on the
 * key, which comes from input (an event or a changelog record), so the
 * allocation may fail (STYLE.md §5): *ep NULL and ND_ERR_NOMEM.
 */
static nd_err_t entry_new(nd_store_t *st, const void *key, size_t klen,
                          nd_store_entry_t **ep) {
        size_t units = hint_units(st);
        size_t koff = ENTRY_HDR + st->value_size + 1;
        size_t size = alloc_size(koff, klen, units);
        nd_store_entry_t *e;
        void *p;
        nd_err_t err;
        *ep = NULL;
        if ((err = nd_trymalloc(&p, size)) != ND_OK)
                return err;
        e = p;
        /* WHY: the slot keeps address bits 3..47 only. */
        nd_assert(((uintptr_t)e & 7) == 0 &&
                  (uint64_t)(uintptr_t)e >> (SLOT_PTR_BITS + 3) == 0);
        memset(e, 0, size);
        e->touched = INT64_MIN;
        e->koff = (uint16_t)koff;
        e->klen = (uint8_t)klen;
        ekey(e)[-1] = (uint8_t)klen;
        e->blob = (uint32_t)units << BLOB_LEN_BITS;
        if (klen)
                memcpy(ekey(e), key, klen);
        st->bytes += size;
        *ep = e;
        return ND_OK;
}

static void table_add(nd_store_t *st, nd_store_entry_t *e, uint64_t hash) {
        if (over_load(st->count + 1, st->cap))
                table_resize(st, st->cap * 2);
        table_place(st, e, hash);
        st->count++;
}

nd_err_t nd_store_upsert(nd_store_t *st, const void *key, size_t klen,
                         int64_t ts, nd_store_entry_t **entryp, bool *created) {
        uint64_t hash;
        size_t i;
        nd_store_entry_t *e;
        bool is_new = false;
        nd_err_t err;
        *entryp = NULL;
        if (klen > ND_STORE_KEY_MAX)
                return ND_ERR_INVAL;
        hash = nd_store_hash(key, klen);
        i = find_slot(st, key, klen, hash);
        if (i != SIZE_MAX) {
                e = slot_e(st->slots[i]);
        } else {
                if ((err = entry_new(st, key, klen, &e)) != ND_OK)
                        return err;
                table_add(st, e, hash);
                nd_store_mark_dirty(st, e);
                is_new = true;
        }
        nd_store_touch(st, e, ts);
        *entryp = e;
        if (created)
                *created = is_new;
        return ND_OK;
}

void nd_store_touch(nd_store_t *st, nd_store_entry_t *e, int64_t ts) {
        if (ts > e->touched) {
                e->touched = ts;
                nd_store_mark_dirty(st, e);
        }
}

/* Takes e out of the table; frees it now, or leaves it as a tombstone on
 * the dirty list when record is set. */
static void remove_entry(nd_store_t *st, nd_store_entry_t *e, size_t slot,
                         bool record) {
        nd_assert(!(e->flags & ND_ENTRY_DELETED));
        table_remove_at(st, slot);
        if (!record) {
                if (e->flags & ND_ENTRY_DIRTY) {
                        /* WHY: only restore comes here, and a restore
                         * starts with an empty dirty list; keep a tombstone
                         * rather than search the list to take it off. */
                        blob_clear(st, e);
                        e->flags |= ND_ENTRY_DELETED;
                        return;
                }
                entry_free(st, e);
                return;
        }
        /* The blob is not needed for a tombstone: give it back now. */
        blob_clear(st, e);
        nd_store_mark_dirty(st, e);
        e->flags |= ND_ENTRY_DELETED;
}

void nd_store_delete(nd_store_t *st, nd_store_entry_t *e) {
        remove_entry(st, e, slot_of(st, e), true);
}

void nd_store_restore_tombstone(nd_store_t *st, const void *key, size_t klen) {
        size_t i;
        if (klen > ND_STORE_KEY_MAX)
                return;
        i = find_slot(st, key, klen, nd_store_hash(key, klen));
        if (i != SIZE_MAX)
                remove_entry(st, slot_e(st->slots[i]), i, false);
}

size_t nd_store_count(const nd_store_t *st) {
        return st->count;
}

size_t nd_store_bytes(const nd_store_t *st) {
        return sizeof(*st) + strlen(st->name) + 1 +
               st->cap * sizeof(*st->slots) +
               st->dirty_cap * sizeof(*st->dirty) + st->bytes;
}

nd_store_entry_t *nd_store_next(const nd_store_t *st, size_t *pos) {
        size_t i;
        for (i = *pos; i < st->cap; i++) {
                if (st->slots[i]) {
                        *pos = i + 1;
                        return slot_e(st->slots[i]);
                }
        }
        *pos = st->cap;
        return NULL;
}

/* ---- blobs ---- */

void *nd_store_blob(const nd_store_entry_t *e, size_t *len) {
        if (len)
                *len = blen(e);
        if (!blen(e))
                return NULL;
        if (e->flags & ND_ENTRY_BLOB_EXT)
                return ext_get(e) + EXT_HDR;
        return (char *)e + tail_off(e);
}

nd_err_t nd_store_blob_resize(nd_store_t *st, nd_store_entry_t *e, size_t len) {
        unsigned char *old = nd_store_blob(e, NULL), *p;
        size_t have = blen(e), cap = 0, keep;
        bool ext = (e->flags & ND_ENTRY_BLOB_EXT) != 0;
        void *np;
        nd_err_t err;
        if (len > ND_STORE_BLOB_MAX)
                return ND_ERR_BAD_LENGTH;
        if (len == 0) {
                blob_clear(st, e);
                return ND_OK;
        }
        hint_see(st, len);
        keep = have < len ? have : len;
        if (ext)
                cap = ext_cap(ext_get(e));
        if (!ext && len <= tail_cap(e)) {
                /* In place, staying in place. */
                p = (unsigned char *)e + tail_off(e);
                if (len > have)
                        memset(p + have, 0, len - have);
                set_blen(e, len);
                return ND_OK;
        }
        if (ext && len <= cap && len >= cap / 4 && len > tail_cap(e)) {
                /* In its buffer, which still fits well. */
                p = ext_get(e) + EXT_HDR;
                if (len > have)
                        memset(p + have, 0, len - have);
                set_blen(e, len);
                return ND_OK;
        }
        if (len <= tail_cap(e)) {
                /* Back in place from a buffer: nothing to allocate. */
                unsigned char *buf = ext_get(e);
                p = (unsigned char *)e + tail_off(e);
                memmove(p, buf + EXT_HDR, keep);
                if (len > keep)
                        memset(p + keep, 0, len - keep);
                st->bytes -= EXT_HDR + ext_cap(buf);
                nd_free(buf);
                e->flags &= (uint8_t)~ND_ENTRY_BLOB_EXT;
                set_blen(e, len);
                return ND_OK;
        }
        /* A new buffer: grow geometrically (amortised O(1) appends),
         * shrink to fit. */
        if (len > cap) {
                size_t base = ext ? cap : have;
                cap = base * 2 > len ? base * 2 : len;
                if (cap > ND_STORE_BLOB_MAX)
                        cap = ND_STORE_BLOB_MAX;
        } else {
                cap = len;
        }
        /* WHY nd_trymalloc and not realloc: the size comes from input, and
         * on failure the old blob must stay intact. */
        if ((err = nd_trymalloc(&np, EXT_HDR + cap)) != ND_OK)
                return err;
        p = np;
        memset(p, 0, EXT_HDR);
        memcpy(p, &(uint32_t){(uint32_t)cap}, sizeof(uint32_t));
        if (keep)
                memcpy(p + EXT_HDR, old, keep);
        if (len > keep)
                memset(p + EXT_HDR + keep, 0, len - keep);
        if (ext) {
                st->bytes -= ext_bytes(e);
                nd_free(ext_get(e));
        }
        ext_put(e, p);
        e->flags |= ND_ENTRY_BLOB_EXT;
        set_blen(e, len);
        st->bytes += EXT_HDR + cap;
        return ND_OK;
}

nd_err_t nd_store_blob_set(nd_store_t *st, nd_store_entry_t *e,
                           const void *data, size_t len) {
        size_t old = blen(e);
        nd_err_t err;
        if (len > ND_STORE_BLOB_MAX)
                return ND_ERR_BAD_LENGTH;
        /* Drop the old bytes first so that resize copies nothing. */
        set_blen(e, 0);
        if ((err = nd_store_blob_resize(st, e, len)) != ND_OK) {
                set_blen(e, old);
                return err;
        }
        if (len)
                memcpy(nd_store_blob(e, NULL), data, len);
        return ND_OK;
}

/* ---- eviction ---- */

size_t nd_store_evict_expired(nd_store_t *st, int64_t W, int64_t ttl,
                              size_t max, nd_store_evict_cb *cb, void *arg) {
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
                nd_store_entry_t *e =
                    st->slots[i] ? slot_e(st->slots[i]) : NULL;
                if (e && e->touched < limit && (!cb || cb(st, e, arg))) {
                        remove_entry(st, e, i, true);
                        evicted++;
                        /* Slot i may now hold the next entry: look again. */
                        if (st->slots[i])
                                continue;
                }
                st->evict_pos = i + 1;
                moved++;
        }
        return evicted;
}

/* ---- dirty list ---- */

void nd_store_mark_dirty(nd_store_t *st, nd_store_entry_t *e) {
        if (e->flags & ND_ENTRY_DIRTY)
                return;
        e->flags |= ND_ENTRY_DIRTY;
        if (st->dirty_n == st->dirty_cap) {
                if (st->dirty_head > st->dirty_cap / 2) {
                        /* A partial flush left room at the front. */
                        st->dirty_n -= st->dirty_head;
                        memmove(st->dirty, st->dirty + st->dirty_head,
                                st->dirty_n * sizeof(*st->dirty));
                        st->dirty_head = 0;
                } else {
                        st->dirty_cap *= 2;
                        st->dirty = nd_realloc(
                            st->dirty, st->dirty_cap * sizeof(*st->dirty));
                }
        }
        st->dirty[st->dirty_n++] = e;
}

bool nd_store_is_dirty(const nd_store_entry_t *e) {
        return (e->flags & ND_ENTRY_DIRTY) != 0;
}

size_t nd_store_dirty_count(const nd_store_t *st) {
        return st->dirty_n - st->dirty_head;
}

static nd_err_t flush_one(nd_store_t *st, nd_store_entry_t *e,
                          nd_store_flush_cb *cb, void *arg) {
        bool deleted = (e->flags & ND_ENTRY_DELETED) != 0;
        if (!cb)
                return ND_OK;
        return cb(st, ekey(e), e->klen, deleted ? NULL : e, arg);
}

nd_err_t nd_store_dirty_foreach(nd_store_t *st, nd_store_flush_cb *cb,
                                void *arg) {
        size_t i;
        nd_err_t err;
        for (i = st->dirty_head; i < st->dirty_n; i++)
                if ((err = flush_one(st, st->dirty[i], cb, arg)) != ND_OK)
                        return err;
        return ND_OK;
}

nd_err_t nd_store_flush(nd_store_t *st, nd_store_flush_cb *cb, void *arg,
                        size_t max) {
        size_t n = 0;
        nd_err_t err;
        while (st->dirty_head < st->dirty_n && (max == 0 || n < max)) {
                nd_store_entry_t *e = st->dirty[st->dirty_head];
                if ((err = flush_one(st, e, cb, arg)) != ND_OK)
                        return err;
                st->dirty_head++;
                e->flags &= (uint8_t)~ND_ENTRY_DIRTY;
                if (e->flags & ND_ENTRY_DELETED)
                        entry_free(st, e);
                n++;
        }
        if (st->dirty_head == st->dirty_n) {
                st->dirty_head = st->dirty_n = 0;
                /* WHY give it back: it is sized by one commit interval's
                 * changes, which a restore or a burst makes huge. */
                if (st->dirty_cap > DIRTY_MIN) {
                        st->dirty_cap = DIRTY_MIN;
                        st->dirty = nd_realloc(st->dirty,
                                               DIRTY_MIN * sizeof(*st->dirty));
                }
        }
        return ND_OK;
}

/* ---- changelog encoding ----
 *
 *   u8  format (ND_STORE_FORMAT_V2)
 *   u8  key length K
 *   K   key bytes
 *   i64 touched, little-endian
 *   u32 value size V, little-endian (must equal the store's)
 *   V   value bytes
 *   u32 blob length B, little-endian
 *   B   blob bytes
 *
 * Version 2 has the fields of version 1; what changed is the meaning of the
 * value bytes the runtime keeps first in every value
 * (common/runtime/task_int.h: a 16-byte timer with a name index, where version
 * 1 had pointers), so a version 1 record is refused rather than misread.
 */

#define ENC_FIXED (1 + 1 + 8 + 4 + 4)

static unsigned char *put_le(unsigned char *p, uint64_t v, int n) {
        int i;
        for (i = 0; i < n; i++)
                p[i] = (unsigned char)(v >> (8 * i));
        return p + n;
}

static uint64_t get_le(const unsigned char *p, int n) {
        uint64_t v = 0;
        int i;
        for (i = 0; i < n; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

size_t nd_store_entry_encoded_size(const nd_store_t *st,
                                   const nd_store_entry_t *e) {
        return ENC_FIXED + e->klen + st->value_size + blen(e);
}

nd_err_t nd_store_entry_encode(const nd_store_t *st, const nd_store_entry_t *e,
                               void *buf, size_t cap, size_t *lenp) {
        size_t need = nd_store_entry_encoded_size(st, e);
        unsigned char *p = buf;
        *lenp = need;
        if (cap < need)
                return ND_ERR_INVAL;
        *p++ = ND_STORE_FORMAT_V2;
        *p++ = e->klen;
        memcpy(p, ekey(e), e->klen);
        p += e->klen;
        p = put_le(p, (uint64_t)e->touched, 8);
        p = put_le(p, st->value_size, 4);
        memcpy(p, nd_store_value(e), st->value_size);
        p += st->value_size;
        p = put_le(p, blen(e), 4);
        if (blen(e))
                memcpy(p, nd_store_blob(e, NULL), blen(e));
        return ND_OK;
}

nd_err_t nd_store_entry_decode_into(nd_store_t *st, const void *buf, size_t len,
                                    nd_store_entry_t **entryp) {
        const unsigned char *p = buf, *end = p + len, *key, *value, *blob;
        size_t klen, vlen, blen, i;
        int64_t touched;
        nd_store_entry_t *e = NULL;
        uint64_t hash;
        nd_store_entry_t *ne = NULL;
        nd_err_t err;

        if (entryp)
                *entryp = NULL;
        if (len < 2)
                return ND_ERR_TRUNCATED;
        if (p[0] != ND_STORE_FORMAT_V2)
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

        /* Everything that can fail happens before the store changes: a new
         * entry is allocated (input-sized, so nd_trymalloc) but not yet in
         * the table when the blob's allocation fails. */
        hash = nd_store_hash(key, klen);
        i = find_slot(st, key, klen, hash);
        if (i != SIZE_MAX) {
                e = slot_e(st->slots[i]);
        } else {
                if ((err = entry_new(st, key, klen, &ne)) != ND_OK)
                        return err;
                e = ne;
        }
        if ((err = nd_store_blob_set(st, e, blob, blen)) != ND_OK) {
                if (ne)
                        entry_free(st, e);
                return err;
        }
        if (ne)
                table_add(st, e, hash);
        e->touched = touched;
        memcpy(nd_store_value(e), value, vlen);
        if (entryp)
                *entryp = e;
        return ND_OK;
}
