/* test_store.c — the keyed state store: table, entries, TTL, changelog. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "nd_test.h"
#include "store.h"

struct rec {
        int64_t n;
        char tag[24];
};

static size_t keyf(char *buf, int i) {
        return (size_t)sprintf(buf, "customer-%06d", i);
}

static nd_store_entry_t *put(nd_store_t *st, int i, int64_t ts) {
        char k[32];
        size_t kl = keyf(k, i);
        nd_store_entry_t *e;
        bool created;
        ck_assert_int_eq(nd_store_upsert(st, k, kl, ts, &e, &created), ND_OK);
        ((struct rec *)nd_store_value(e))->n = i;
        return e;
}

static nd_store_entry_t *get(nd_store_t *st, int i) {
        char k[32];
        size_t kl = keyf(k, i);
        return nd_store_get(st, k, kl);
}

/* ---- hash ---- */

static const struct hcase {
        const char *in;
        uint64_t out;
} hcases[] = {
    /* XXH3-64, seed 0 (values from the Python xxhash package) */
    {"", 0x2D06800538D394C2ULL},
    {"a", 0xE6C632B61E964E1FULL},
    {"abc", 0x78AF5F94892F3950ULL},
    {"customer-0000001", 0xAC1DDD6FEDA43931ULL},
    {"The quick brown fox jumps over the lazy dog", 0xCE7D19A5418FB365ULL},
};

START_TEST(hash_matches_xxh3_reference_vectors) {
        const struct hcase *c = &hcases[_i];
        ck_assert_uint_eq(nd_store_hash(c->in, strlen(c->in)), c->out);
}
END_TEST

/* ---- table ---- */

START_TEST(upsert_creates_a_zeroed_entry_then_finds_it) {
        nd_store_t *st = nd_store_new("carts", sizeof(struct rec));
        nd_store_entry_t *e, *e2;
        bool created = false;
        size_t klen;
        struct rec *r;
        ck_assert_int_eq(nd_store_upsert(st, "alice", 5, 10, &e, &created),
                         ND_OK);
        ck_assert(created);
        r = nd_store_value(e);
        ck_assert_int_eq(r->n, 0);
        ck_assert_int_eq(r->tag[23], 0);
        r->n = 42;
        ck_assert_int_eq(nd_store_upsert(st, "alice", 5, 5, &e2, &created),
                         ND_OK);
        ck_assert(!created);
        ck_assert_ptr_eq(e, e2);
        ck_assert_int_eq(((struct rec *)nd_store_value(e2))->n, 42);
        ck_assert_str_eq(nd_store_key(e, &klen), "alice");
        ck_assert_uint_eq(klen, 5);
        ck_assert_ptr_eq(nd_store_get(st, "alice", 5), e);
        ck_assert_ptr_null(nd_store_get(st, "alic", 4));
        ck_assert_ptr_null(nd_store_get(st, "bob", 3));
        ck_assert_uint_eq(nd_store_count(st), 1);
        ck_assert_str_eq(nd_store_name(st), "carts");
        nd_store_destroy(st);
        nd_store_destroy(NULL);
}
END_TEST

START_TEST(entries_never_move_when_the_table_grows) {
        enum { N = 20000 };
        nd_store_t *st = nd_store_new("s", sizeof(struct rec));
        nd_store_entry_t **ptrs = malloc(N * sizeof(*ptrs));
        int i;
        for (i = 0; i < N; i++)
                ptrs[i] = put(st, i, i);
        ck_assert_uint_eq(nd_store_count(st), N);
        for (i = 0; i < N; i++) {
                ck_assert_ptr_eq(get(st, i), ptrs[i]);
                ck_assert_int_eq(((struct rec *)nd_store_value(ptrs[i]))->n, i);
        }
        free(ptrs);
        nd_store_destroy(st);
}
END_TEST

START_TEST(lookups_stay_exact_through_random_inserts_and_deletes) {
        enum { N = 4000, OPS = 40000 };
        nd_store_t *st = nd_store_new("s", sizeof(struct rec));
        bool *in = calloc(N, sizeof(*in));
        size_t live = 0;
        int op, i;
        srand(7);
        for (op = 0; op < OPS; op++) {
                i = rand() % N;
                if (in[i]) {
                        nd_store_entry_t *e = get(st, i);
                        ck_assert_ptr_nonnull(e);
                        ck_assert_int_eq(((struct rec *)nd_store_value(e))->n,
                                         i);
                        nd_store_delete(st, e);
                        in[i] = false;
                        live--;
                } else {
                        ck_assert_ptr_null(get(st, i));
                        put(st, i, op);
                        in[i] = true;
                        live++;
                }
                if (op % 5000 == 0)
                        nd_store_flush(st, NULL, NULL, 0);
        }
        ck_assert_uint_eq(nd_store_count(st), live);
        for (i = 0; i < N; i++)
                ck_assert_int_eq(get(st, i) != NULL, in[i]);
        free(in);
        nd_store_destroy(st);
}
END_TEST

START_TEST(iteration_visits_every_entry_once) {
        enum { N = 1000 };
        nd_store_t *st = nd_store_new("s", sizeof(struct rec));
        int *seen = calloc(N, sizeof(*seen));
        size_t pos = 0, n = 0;
        nd_store_entry_t *e;
        int i;
        for (i = 0; i < N; i++)
                put(st, i, 0);
        while ((e = nd_store_next(st, &pos)) != NULL) {
                seen[((struct rec *)nd_store_value(e))->n]++;
                n++;
        }
        ck_assert_uint_eq(n, N);
        for (i = 0; i < N; i++)
                ck_assert_int_eq(seen[i], 1);
        free(seen);
        nd_store_destroy(st);
}
END_TEST

START_TEST(keys_longer_than_255_bytes_are_invalid) {
        nd_store_t *st = nd_store_new("s", 8);
        char k[300];
        nd_store_entry_t *e = (void *)1;
        memset(k, 'k', sizeof(k));
        ck_assert_int_eq(nd_store_upsert(st, k, 256, 0, &e, NULL),
                         ND_ERR_INVAL);
        ck_assert_ptr_null(e);
        ck_assert_ptr_null(nd_store_get(st, k, 256));
        ck_assert_int_eq(nd_store_upsert(st, k, 255, 0, &e, NULL), ND_OK);
        ck_assert_ptr_eq(nd_store_get(st, k, 255), e);
        ck_assert_int_eq(nd_store_upsert(st, "", 0, 0, &e, NULL), ND_OK);
        ck_assert_ptr_eq(nd_store_get(st, "", 0), e);
        nd_store_destroy(st);
}
END_TEST

START_TEST(values_are_16_byte_aligned_for_every_key_length) {
        nd_store_t *st = nd_store_new("s", 40);
        char k[255];
        size_t kl;
        memset(k, 'x', sizeof(k));
        for (kl = 0; kl <= sizeof(k); kl++) {
                nd_store_entry_t *e;
                ck_assert_int_eq(nd_store_upsert(st, k, kl, 0, &e, NULL),
                                 ND_OK);
                ck_assert_uint_eq((uintptr_t)nd_store_value(e) % 16, 0);
                memset(nd_store_value(e), 0xab, 40);
        }
        /* Writing whole values never spilled into a key. */
        for (kl = 0; kl <= sizeof(k); kl++) {
                size_t got;
                nd_store_entry_t *e = nd_store_get(st, k, kl);
                ck_assert_ptr_nonnull(e);
                ck_assert_int_eq(memcmp(nd_store_key(e, &got), k, kl), 0);
                ck_assert_uint_eq(got, kl);
        }
        nd_store_destroy(st);
}
END_TEST

START_TEST(touch_keeps_the_latest_event_time) {
        nd_store_t *st = nd_store_new("s", 8);
        nd_store_entry_t *e;
        nd_store_upsert(st, "k", 1, 100, &e, NULL);
        ck_assert_int_eq(nd_store_touched(e), 100);
        nd_store_flush(st, NULL, NULL, 0);
        nd_store_touch(st, e, 50);
        ck_assert_int_eq(nd_store_touched(e), 100);
        ck_assert(!nd_store_is_dirty(e));
        nd_store_touch(st, e, 150);
        ck_assert_int_eq(nd_store_touched(e), 150);
        ck_assert(nd_store_is_dirty(e));
        nd_store_destroy(st);
}
END_TEST

START_TEST(bytes_account_entries_blobs_and_tombstones) {
        nd_store_t *st = nd_store_new("s", 64);
        size_t empty = nd_store_bytes(st), one, blob;
        nd_store_entry_t *e;
        nd_store_upsert(st, "k", 1, 0, &e, NULL);
        one = nd_store_bytes(st);
        ck_assert_uint_ge(one, empty + 64 + 1);
        ck_assert_int_eq(nd_store_blob_resize(st, e, 1000), ND_OK);
        blob = nd_store_bytes(st);
        ck_assert_uint_ge(blob, one + 1000);
        nd_store_delete(st, e);
        /* The tombstone waits for the flush; its blob is gone already. */
        ck_assert_uint_eq(nd_store_bytes(st), one);
        ck_assert_uint_eq(nd_store_dirty_count(st), 1);
        nd_store_flush(st, NULL, NULL, 0);
        ck_assert_uint_eq(nd_store_bytes(st), empty);
        nd_store_destroy(st);
}
END_TEST

/* ---- blobs ---- */

START_TEST(blob_resize_keeps_the_prefix_and_zeroes_growth) {
        nd_store_t *st = nd_store_new("s", 8);
        nd_store_entry_t *e;
        size_t len;
        unsigned char *b;
        size_t i;
        nd_store_upsert(st, "k", 1, 0, &e, NULL);
        ck_assert_ptr_null(nd_store_blob(e, &len));
        ck_assert_uint_eq(len, 0);
        ck_assert_int_eq(nd_store_blob_set(st, e, "hello", 5), ND_OK);
        for (i = 6; i < 5000; i += 97) {
                ck_assert_int_eq(nd_store_blob_resize(st, e, i), ND_OK);
                b = nd_store_blob(e, &len);
                ck_assert_uint_eq(len, i);
                ck_assert_int_eq(memcmp(b, "hello", 5), 0);
                ck_assert_int_eq(b[i - 1], 0);
                b[i - 1] = 0; /* keep the tail zero for the next round */
        }
        ck_assert_int_eq(nd_store_blob_resize(st, e, 3), ND_OK);
        b = nd_store_blob(e, &len);
        ck_assert_uint_eq(len, 3);
        ck_assert_int_eq(memcmp(b, "hel", 3), 0);
        ck_assert_int_eq(nd_store_blob_resize(st, e, ND_STORE_BLOB_MAX + 1),
                         ND_ERR_BAD_LENGTH);
        ck_assert_int_eq(nd_store_blob_resize(st, e, 0), ND_OK);
        ck_assert_ptr_null(nd_store_blob(e, &len));
        nd_store_destroy(st);
}
END_TEST

START_TEST(blob_out_of_memory_leaves_the_blob_unchanged) {
        nd_store_t *st = nd_store_new("s", 8);
        nd_store_entry_t *e;
        long n, calls;
        nd_store_upsert(st, "k", 1, 0, &e, NULL);
        ck_assert_int_eq(nd_store_blob_set(st, e, "abc", 3), ND_OK);
        for (n = 1;; n++) {
                size_t before = nd_store_bytes(st), len;
                nd_err_t err;
                char big[4096];
                memset(big, 'z', sizeof(big));
                nd_mem_fail_nth(n);
                err = nd_store_blob_set(st, e, big, sizeof(big));
                calls = nd_mem_fail_nth(0);
                if (err == ND_OK) {
                        ck_assert_int_eq(
                            memcmp(nd_store_blob(e, &len), big, sizeof(big)),
                            0);
                        break;
                }
                ck_assert_int_eq(err, ND_ERR_NOMEM);
                ck_assert_uint_eq(nd_store_bytes(st), before);
                ck_assert_int_eq(memcmp(nd_store_blob(e, &len), "abc", 3), 0);
                ck_assert_uint_eq(len, 3);
                ck_assert_int_le(n, calls);
        }
        ck_assert_int_eq(n, 2); /* exactly one allocation was in the way */
        nd_store_destroy(st);
}
END_TEST

/* ---- TTL ---- */

static bool keep_odd(nd_store_t *st, nd_store_entry_t *e, void *arg) {
        int *calls = arg;
        (*calls)++;
        return ((struct rec *)nd_store_value(e))->n % 2 == 0;
}

START_TEST(eviction_is_bounded_per_call_and_resumes) {
        enum { N = 1000, TTL = 100 };
        nd_store_t *st = nd_store_new("s", sizeof(struct rec));
        size_t total = 0, got;
        int i, calls = 0;
        for (i = 0; i < N; i++)
                put(st, i, i); /* touched at i */
        nd_store_flush(st, NULL, NULL, 0);
        /* W = 700: expired when 700 > touched + 100, i.e. touched < 600. */
        do {
                got = nd_store_evict_expired(st, 700, TTL, 16, NULL, NULL);
                ck_assert_uint_le(got, 16);
                total += got;
        } while (++calls < 10000 && nd_store_count(st) > N - 600);
        ck_assert_uint_eq(total, 600);
        ck_assert_uint_eq(nd_store_count(st), N - 600);
        for (i = 0; i < N; i++)
                ck_assert_int_eq(get(st, i) != NULL, i >= 600);
        /* An entry touched exactly ttl before W is not expired yet. */
        ck_assert_ptr_nonnull(get(st, 600));
        ck_assert_uint_eq(nd_store_dirty_count(st), 600); /* tombstones */
        ck_assert_uint_eq(
            nd_store_evict_expired(st, INT64_MIN, TTL, 100000, NULL, NULL), 0);
        nd_store_destroy(st);
}
END_TEST

START_TEST(eviction_callback_can_keep_an_entry) {
        nd_store_t *st = nd_store_new("s", sizeof(struct rec));
        int i, calls = 0;
        for (i = 0; i < 100; i++)
                put(st, i, 0);
        ck_assert_uint_eq(
            nd_store_evict_expired(st, 1000, 10, 1 << 20, keep_odd, &calls),
            50);
        /* Each entry was offered at least once (a wrapped cluster may
         * shift one back under the cursor and be offered twice). */
        ck_assert_int_ge(calls, 100);
        ck_assert_int_le(calls, 150);
        for (i = 0; i < 100; i++)
                ck_assert_int_eq(get(st, i) != NULL, i % 2 == 1);
        nd_store_destroy(st);
}
END_TEST

/* ---- dirty list and changelog ---- */

struct log {
        char lines[64][48];
        int n;
        int fail_at; /* return an error at this call (1-based), 0 = never */
        int calls;
};

static nd_err_t log_item(nd_store_t *st, const void *key, size_t klen,
                         const nd_store_entry_t *e, void *arg) {
        struct log *lg = arg;
        if (++lg->calls == lg->fail_at)
                return ND_ERR_KAFKA;
        snprintf(lg->lines[lg->n++], sizeof(lg->lines[0]), "%s %.*s",
                 e ? "put" : "del", (int)klen, (const char *)key);
        return ND_OK;
}

static void lines_are(struct log *lg, const char *want) {
        char got[1024] = "";
        int i;
        for (i = 0; i < lg->n; i++) {
                strcat(got, lg->lines[i]);
                strcat(got, ";");
        }
        ck_assert_str_eq(got, want);
}

START_TEST(dirty_list_keeps_first_change_order_with_tombstones) {
        nd_store_t *st = nd_store_new("s", 8);
        nd_store_entry_t *a, *b, *c;
        struct log lg = {.n = 0};
        nd_store_upsert(st, "a", 1, 0, &a, NULL);
        nd_store_upsert(st, "b", 1, 0, &b, NULL);
        nd_store_flush(st, NULL, NULL, 0);
        ck_assert_uint_eq(nd_store_dirty_count(st), 0);
        nd_store_mark_dirty(st, b);
        nd_store_mark_dirty(st, a);
        nd_store_mark_dirty(st, b); /* already dirty: stays in place */
        nd_store_upsert(st, "c", 1, 0, &c, NULL);
        nd_store_delete(st, a);
        nd_store_upsert(st, "a", 1, 0, &a, NULL); /* re-created */
        ck_assert_uint_eq(nd_store_dirty_count(st), 4);
        ck_assert_int_eq(nd_store_dirty_foreach(st, log_item, &lg), ND_OK);
        lines_are(&lg, "put b;del a;put c;put a;");
        ck_assert_uint_eq(nd_store_dirty_count(st), 4);
        lg.n = 0;
        ck_assert_int_eq(nd_store_flush(st, log_item, &lg, 0), ND_OK);
        lines_are(&lg, "put b;del a;put c;put a;");
        ck_assert_uint_eq(nd_store_dirty_count(st), 0);
        ck_assert(!nd_store_is_dirty(a));
        nd_store_destroy(st);
}
END_TEST

START_TEST(flush_stops_at_an_error_and_resumes_there) {
        nd_store_t *st = nd_store_new("s", 8);
        nd_store_entry_t *e;
        struct log lg = {.n = 0, .fail_at = 3};
        nd_store_upsert(st, "a", 1, 0, &e, NULL);
        nd_store_upsert(st, "b", 1, 0, &e, NULL);
        nd_store_upsert(st, "c", 1, 0, &e, NULL);
        nd_store_upsert(st, "d", 1, 0, &e, NULL);
        ck_assert_int_eq(nd_store_flush(st, log_item, &lg, 1), ND_OK);
        ck_assert_uint_eq(nd_store_dirty_count(st), 3);
        ck_assert_int_eq(nd_store_flush(st, log_item, &lg, 0), ND_ERR_KAFKA);
        ck_assert_uint_eq(nd_store_dirty_count(st), 2);
        ck_assert_int_eq(nd_store_flush(st, log_item, &lg, 0), ND_OK);
        lines_are(&lg, "put a;put b;put c;put d;");
        nd_store_destroy(st);
}
END_TEST

/* A changelog topic in memory: the last record per key wins on replay. */
struct changelog {
        struct {
                char key[32];
                size_t klen;
                unsigned char *val; /* NULL = tombstone */
                size_t len;
        } recs[4096];
        int n;
};

static nd_err_t to_changelog(nd_store_t *st, const void *key, size_t klen,
                             const nd_store_entry_t *e, void *arg) {
        struct changelog *cl = arg;
        int i = cl->n++;
        ck_assert_int_lt(cl->n, 4096);
        memcpy(cl->recs[i].key, key, klen);
        cl->recs[i].klen = klen;
        cl->recs[i].val = NULL;
        if (e) {
                size_t need = nd_store_entry_encoded_size(st, e), len;
                cl->recs[i].val = malloc(need);
                ck_assert_int_eq(
                    nd_store_entry_encode(st, e, cl->recs[i].val, need, &len),
                    ND_OK);
                ck_assert_uint_eq(len, need);
                cl->recs[i].len = len;
        }
        return ND_OK;
}

static void replay(nd_store_t *st, struct changelog *cl) {
        int i;
        for (i = 0; i < cl->n; i++) {
                if (cl->recs[i].val)
                        ck_assert_int_eq(
                            nd_store_entry_decode_into(st, cl->recs[i].val,
                                                       cl->recs[i].len, NULL),
                            ND_OK);
                else
                        nd_store_restore_tombstone(st, cl->recs[i].key,
                                                   cl->recs[i].klen);
        }
}

static void free_changelog(struct changelog *cl) {
        int i;
        for (i = 0; i < cl->n; i++)
                free(cl->recs[i].val);
}

static void assert_same(nd_store_t *a, nd_store_t *b) {
        size_t pos = 0;
        nd_store_entry_t *ea, *eb;
        ck_assert_uint_eq(nd_store_count(a), nd_store_count(b));
        while ((ea = nd_store_next(a, &pos)) != NULL) {
                size_t kl, la, lb;
                const void *k = nd_store_key(ea, &kl);
                const void *ba, *bb;
                eb = nd_store_get(b, k, kl);
                ck_assert_ptr_nonnull(eb);
                ck_assert_int_eq(nd_store_touched(ea), nd_store_touched(eb));
                ck_assert_int_eq(memcmp(nd_store_value(ea), nd_store_value(eb),
                                        nd_store_value_size(a)),
                                 0);
                ba = nd_store_blob(ea, &la);
                bb = nd_store_blob(eb, &lb);
                ck_assert_uint_eq(la, lb);
                if (la)
                        ck_assert_int_eq(memcmp(ba, bb, la), 0);
        }
}

START_TEST(changelog_replay_restores_an_equal_store) {
        struct changelog *cl = calloc(1, sizeof(*cl));
        nd_store_t *st = nd_store_new("s", sizeof(struct rec));
        nd_store_t *copy = nd_store_new("s", sizeof(struct rec));
        int i;
        /* Three commit intervals of puts, blob changes and deletes. */
        for (i = 0; i < 300; i++) {
                nd_store_entry_t *e = put(st, i, 1000 + i);
                snprintf(((struct rec *)nd_store_value(e))->tag, 24, "t%d", i);
                if (i % 3 == 0)
                        nd_store_blob_set(st, e, "items+sku+qty", 5 + i % 7);
        }
        ck_assert_int_eq(nd_store_flush(st, to_changelog, cl, 0), ND_OK);
        for (i = 0; i < 300; i += 5)
                nd_store_delete(st, get(st, i));
        for (i = 1; i < 300; i += 10) {
                nd_store_entry_t *e = get(st, i);
                ((struct rec *)nd_store_value(e))->n = -i;
                nd_store_mark_dirty(st, e);
        }
        ck_assert_int_eq(nd_store_flush(st, to_changelog, cl, 0), ND_OK);
        put(st, 0, 5); /* deleted then re-created */
        nd_store_touch(st, get(st, 2), 99999);
        ck_assert_int_eq(nd_store_flush(st, to_changelog, cl, 0), ND_OK);

        replay(copy, cl);
        assert_same(st, copy);
        assert_same(copy, st);
        ck_assert_uint_eq(nd_store_dirty_count(copy), 0);
        free_changelog(cl);
        free(cl);
        nd_store_destroy(st);
        nd_store_destroy(copy);
}
END_TEST

START_TEST(encode_reports_the_size_a_short_buffer_needs) {
        nd_store_t *st = nd_store_new("s", 16);
        nd_store_entry_t *e;
        unsigned char buf[64];
        size_t len = 0;
        nd_store_upsert(st, "key", 3, 7, &e, NULL);
        nd_store_blob_set(st, e, "xy", 2);
        ck_assert_int_eq(nd_store_entry_encode(st, e, buf, 10, &len),
                         ND_ERR_INVAL);
        ck_assert_uint_eq(len, 1 + 1 + 3 + 8 + 4 + 16 + 4 + 2);
        ck_assert_int_eq(nd_store_entry_encode(st, e, buf, sizeof(buf), &len),
                         ND_OK);
        ck_assert_int_eq(buf[0], ND_STORE_FORMAT_V2);
        ck_assert_int_eq(buf[1], 3);
        ck_assert_int_eq(memcmp(buf + 2, "key", 3), 0);
        ck_assert_int_eq(buf[5], 7); /* touched, little-endian */
        nd_store_destroy(st);
}
END_TEST

START_TEST(decode_rejects_every_truncation_and_corruption) {
        nd_store_t *st = nd_store_new("s", 16);
        nd_store_t *dst = nd_store_new("d", 16);
        nd_store_t *other = nd_store_new("o", 17);
        nd_store_entry_t *e;
        unsigned char buf[128], bad[129];
        size_t len, cut;
        nd_store_upsert(st, "key", 3, 7, &e, NULL);
        nd_store_blob_set(st, e, "blob", 4);
        nd_store_entry_encode(st, e, buf, sizeof(buf), &len);
        for (cut = 0; cut < len; cut++) {
                nd_err_t err = nd_store_entry_decode_into(dst, buf, cut, NULL);
                ck_assert_msg(err == ND_ERR_TRUNCATED ||
                                  err == ND_ERR_BAD_LENGTH,
                              "cut %zu gave %d", cut, err);
        }
        memcpy(bad, buf, len);
        bad[len] = 0;
        ck_assert_int_eq(nd_store_entry_decode_into(dst, bad, len + 1, NULL),
                         ND_ERR_BAD_LENGTH);
        bad[0] = 1; /* format 1: its values held pointers */
        ck_assert_int_eq(nd_store_entry_decode_into(dst, bad, len, NULL),
                         ND_ERR_BAD_MAGIC);
        ck_assert_int_eq(nd_store_entry_decode_into(other, buf, len, NULL),
                         ND_ERR_BAD_LENGTH);
        ck_assert_uint_eq(nd_store_count(dst), 0);
        ck_assert_uint_eq(nd_store_count(other), 0);
        ck_assert_int_eq(nd_store_entry_decode_into(dst, buf, len, &e), ND_OK);
        ck_assert_ptr_eq(nd_store_get(dst, "key", 3), e);
        nd_store_destroy(st);
        nd_store_destroy(dst);
        nd_store_destroy(other);
}
END_TEST

START_TEST(upsert_out_of_memory_changes_nothing) {
        nd_store_t *st = nd_store_new("s", 8);
        nd_store_entry_t *e = (nd_store_entry_t *)&e;
        bool created = true;
        size_t before = nd_store_bytes(st);
        nd_mem_fail_nth(1);
        ck_assert_int_eq(nd_store_upsert(st, "key", 3, 7, &e, &created),
                         ND_ERR_NOMEM);
        nd_mem_fail_nth(0);
        ck_assert_ptr_null(e);
        ck_assert_uint_eq(nd_store_count(st), 0);
        ck_assert_uint_eq(nd_store_bytes(st), before);
        ck_assert_ptr_null(nd_store_get(st, "key", 3));
        /* The same call succeeds once memory is there. */
        ck_assert_int_eq(nd_store_upsert(st, "key", 3, 7, &e, &created), ND_OK);
        ck_assert(created);
        ck_assert_ptr_eq(nd_store_get(st, "key", 3), e);
        nd_store_destroy(st);
}
END_TEST

START_TEST(decode_out_of_memory_changes_nothing) {
        nd_store_t *st = nd_store_new("s", 8);
        nd_store_t *dst = nd_store_new("d", 8);
        nd_store_entry_t *e;
        unsigned char buf[256];
        size_t len, before;
        long n;
        nd_store_upsert(st, "key", 3, 7, &e, NULL);
        nd_store_blob_set(st, e, "a cart of items", 15);
        nd_store_entry_encode(st, e, buf, sizeof(buf), &len);
        before = nd_store_bytes(dst);
        for (n = 1;; n++) {
                nd_err_t err;
                nd_mem_fail_nth(n);
                err = nd_store_entry_decode_into(dst, buf, len, NULL);
                nd_mem_fail_nth(0);
                if (err == ND_OK)
                        break;
                ck_assert_int_eq(err, ND_ERR_NOMEM);
                ck_assert_uint_eq(nd_store_count(dst), 0);
                ck_assert_uint_eq(nd_store_bytes(dst), before);
        }
        ck_assert_int_gt(n, 1);
        ck_assert_ptr_nonnull(nd_store_get(dst, "key", 3));
        nd_store_destroy(st);
        nd_store_destroy(dst);
}
END_TEST

static Suite *store_suite(void) {
        Suite *s = suite_create("store");
        TCase *tc = tcase_create("hash");
        tcase_add_loop_test(tc, hash_matches_xxh3_reference_vectors, 0,
                            sizeof(hcases) / sizeof(hcases[0]));
        suite_add_tcase(s, tc);
        tc = tcase_create("table");
        tcase_add_test(tc, upsert_creates_a_zeroed_entry_then_finds_it);
        tcase_add_test(tc, entries_never_move_when_the_table_grows);
        tcase_add_test(tc,
                       lookups_stay_exact_through_random_inserts_and_deletes);
        tcase_add_test(tc, iteration_visits_every_entry_once);
        tcase_add_test(tc, keys_longer_than_255_bytes_are_invalid);
        tcase_add_test(tc, values_are_16_byte_aligned_for_every_key_length);
        tcase_add_test(tc, touch_keeps_the_latest_event_time);
        tcase_add_test(tc, bytes_account_entries_blobs_and_tombstones);
        suite_add_tcase(s, tc);
        tc = tcase_create("blob");
        tcase_add_test(tc, blob_resize_keeps_the_prefix_and_zeroes_growth);
        tcase_add_test(tc, blob_out_of_memory_leaves_the_blob_unchanged);
        suite_add_tcase(s, tc);
        tc = tcase_create("ttl");
        tcase_add_test(tc, eviction_is_bounded_per_call_and_resumes);
        tcase_add_test(tc, eviction_callback_can_keep_an_entry);
        suite_add_tcase(s, tc);
        tc = tcase_create("changelog");
        tcase_add_test(tc, dirty_list_keeps_first_change_order_with_tombstones);
        tcase_add_test(tc, flush_stops_at_an_error_and_resumes_there);
        tcase_add_test(tc, changelog_replay_restores_an_equal_store);
        tcase_add_test(tc, encode_reports_the_size_a_short_buffer_needs);
        tcase_add_test(tc, decode_rejects_every_truncation_and_corruption);
        tcase_add_test(tc, decode_out_of_memory_changes_nothing);
        tcase_add_test(tc, upsert_out_of_memory_changes_nothing);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(store_suite());
}
