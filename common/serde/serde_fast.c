/*
 * serde_fast.c — the specialised decoders of the shipped schemas.
 *
 * WHY: the plan interpreter pays a dispatch, an end check and a few loads
 * from the op per field (about 3 ns a field here); a record of our own
 * schemas has ~17 fields, and the bar (20x avro-c) leaves about
 * 35 ns for all of them. So the four reader schemas also have a decoder
 * written out in C, run when a writer plan has exactly the signature of
 * the reader's own plan (nd__serde_plan_specialise): the field order,
 * types, unions and enum maps it was written for. Producers on the current
 * schemas hit it; any other writer schema, and any record these functions
 * do not accept, goes to the interpreter, which decodes it or reports the
 * precise error. So these functions never explain anything: false means
 * "ask the interpreter". Their correctness is checked against the
 * interpreter and avro-c by tests/unit/test_serde_diff.c (writer = reader,
 * every branch) and the fuzzers; a schema edit that changes the signature
 * switches them off (canonical_signature in serde.c) rather than making
 * them wrong.
 *
 * The reader schemas' field orders are in schemas/<topic>.avsc; enum symbols
 * are in the C enums' order, so an enum index is the C value (plus the
 * topic's first type for `type`).
 */
#include <string.h>

#include "serde_int.h"

/* x as read from little-endian bytes. */
static inline uint64_t le64(uint64_t x) {
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        return __builtin_bswap64(x);
#else
        return x;
#endif
}

/* A varint of at most maxb bytes at p (< end): the next p, or NULL. */
static inline __attribute__((always_inline)) const uint8_t *
sp_var(const uint8_t *p, const uint8_t *end, int maxb, uint64_t *out) {
        uint64_t v = 0;
        if (__builtin_expect(p < end && *p < 0x80, 1)) {
                *out = *p;
                return p + 1;
        }
        if (__builtin_expect(end - p >= 8, 1)) {
                /* Up to 8 bytes at once: find the last byte (high bit
                 * clear), keep those bytes, squeeze out the high bits. */
                uint64_t x, stop;
                unsigned len;
                memcpy(&x, p, 8);
                x = le64(x);
                stop = ~x & 0x8080808080808080ULL;
                if (__builtin_expect(stop != 0, 1)) {
                        len = (unsigned)__builtin_ctzll(stop) / 8 + 1;
                        if (len > (unsigned)maxb ||
                            (len == 5 && maxb == 5 && (x >> 32 & 0xff) > 0x0f))
                                return NULL;
                        if (len < 8)
                                x &= (1ULL << (8 * len)) - 1;
                        x = (x & 0x007f007f007f007fULL) |
                            (x & 0x7f007f007f007f00ULL) >> 1;
                        x = (x & 0x00003fff00003fffULL) |
                            (x & 0x3fff00003fff0000ULL) >> 2;
                        x = (x & 0x000000000fffffffULL) |
                            (x & 0x0fffffff00000000ULL) >> 4;
                        *out = x;
                        return p + len;
                }
        }
        if (__builtin_expect(end - p >= 10, 1)) {
                /* room for the longest varint: no end check per byte */
                for (int i = 0; i < maxb; i++) {
                        uint64_t b = p[i];
                        v |= (b & 0x7f) << (7 * i);
                        if (b < 0x80) {
                                if (i == maxb - 1 &&
                                    b > (maxb == 10 ? 1u : 0x0fu))
                                        return NULL;
                                *out = v;
                                return p + i + 1;
                        }
                }
                return NULL;
        }
        for (int i = 0; i < maxb; i++) {
                uint64_t b;
                if (p + i >= end)
                        return NULL;
                b = p[i];
                v |= (b & 0x7f) << (7 * i);
                if (b < 0x80) {
                        if (i == maxb - 1 && b > (maxb == 10 ? 1u : 0x0fu))
                                return NULL;
                        *out = v;
                        return p + i + 1;
                }
        }
        return NULL;
}

#define SP_FAIL() return NULL
#define SP_CHECK(x)                \
        do {                       \
                if (!(x))          \
                        SP_FAIL(); \
        } while (0)
#define SP_LONG(dst)                                             \
        do {                                                     \
                uint64_t u_;                                     \
                SP_CHECK((p = sp_var(p, end, 10, &u_)) != NULL); \
                (dst) = ZZ64(u_);                                \
        } while (0)
#define SP_INT(dst)                                             \
        do {                                                    \
                uint64_t u_;                                    \
                SP_CHECK((p = sp_var(p, end, 5, &u_)) != NULL); \
                (dst) = ZZ32(u_);                               \
        } while (0)
/* An enum index below n into dst (a C enum). */
#define SP_ENUM(dst, n, base)                           \
        do {                                            \
                int64_t e_;                             \
                SP_INT(e_);                             \
                SP_CHECK(e_ >= 0 && e_ < (n));          \
                (dst) = (__typeof__(dst))((base) + e_); \
        } while (0)
#define SP_STR(dst)                                 \
        do {                                        \
                int64_t l_;                         \
                SP_LONG(l_);                        \
                SP_CHECK(l_ >= 0 && l_ <= end - p); \
                (dst).p = (const char *)p;          \
                (dst).len = (uint32_t)l_;           \
                p += l_;                            \
        } while (0)
/* ["null", T]: the branch byte (0 or 2), then T when it is 2. The field
 * was zeroed before: null stores nothing. */
#define SP_NULLABLE(then)                  \
        do {                               \
                SP_CHECK(p < end);         \
                if (*p == 2) {             \
                        p++;               \
                        then;              \
                } else {                   \
                        SP_CHECK(*p == 0); \
                        p++;               \
                }                          \
        } while (0)
#define SP_NSTR(dst)       SP_NULLABLE(SP_STR(dst))
#define SP_NLONG(dst, has) SP_NULLABLE(SP_LONG(dst); (has) = true)

/* The envelope shared by the three event schemas, up to session_id. */
#define SP_ENVELOPE(ntypes, first)                   \
        SP_STR(ev->event_id);                        \
        SP_ENUM(ev->type, ntypes, first);            \
        SP_NSTR(ev->customer_id);                    \
        SP_NSTR(ev->anonymous_id);                   \
        SP_LONG(ev->timestamp);                      \
        SP_ENUM(ev->channel, ND_CHANNEL__CNT, 0);    \
        SP_NSTR(ev->device_id);                      \
        SP_ENUM(ev->device_type, ND_DEVICE__CNT, 0); \
        SP_NSTR(ev->session_id)

static inline __attribute__((always_inline)) const uint8_t *
sp_product(const uint8_t *p, const uint8_t *end, nd_event_t *ev) {
        SP_CHECK(p < end);
        if (*p++ == 0)
                return p;
        SP_CHECK(p[-1] == 2);
        ev->has_product = true;
        SP_STR(ev->product.sku);
        SP_NSTR(ev->product.category);
        SP_NLONG(ev->product.price_cents, ev->product.has_price);
        SP_NSTR(ev->product.currency);
        return p;
}

/* ["null", array of LineItem] into serde->lines. */
static const uint8_t *sp_lines(nd_serde_t *serde, const uint8_t *p,
                               const uint8_t *end, nd_event_t *ev) {
        uint32_t n = 0;
        SP_CHECK(p < end);
        if (*p++ == 0)
                return p;
        SP_CHECK(p[-1] == 2);
        for (;;) {
                int64_t cnt;
                SP_LONG(cnt);
                if (cnt == 0)
                        break;
                /* negative counts (blocks with sizes): the interpreter;
                 * a line takes at least 4 bytes */
                SP_CHECK(cnt > 0 && cnt <= ND_EVENT_MAX_ITEMS - n &&
                         cnt <= (end - p) / 4);
                for (int64_t k = 0; k < cnt; k++, n++) {
                        nd_line_item_t *li = &serde->lines[n];
                        memset(li, 0, sizeof(*li));
                        SP_STR(li->sku);
                        SP_NSTR(li->category);
                        SP_INT(li->quantity);
                        SP_NLONG(li->price_cents, li->has_price);
                }
        }
        ev->has_products = true;
        ev->products = serde->lines;
        ev->product_cnt = n;
        return p;
}

static const uint8_t *sp_clickstream(nd_serde_t *serde, const uint8_t *p,
                                     const uint8_t *end, void *out) {
        nd_event_t *ev = out;
        (void)serde;
        SP_ENVELOPE(5, ND_EV_PAGE_VIEWED);
        SP_CHECK((p = sp_product(p, end, ev)) != NULL);
        SP_NSTR(ev->campaign_id);
        SP_NSTR(ev->action_id);
        return p;
}

static const uint8_t *sp_cart(nd_serde_t *serde, const uint8_t *p,
                              const uint8_t *end, void *out) {
        nd_event_t *ev = out;
        SP_ENVELOPE(4, ND_EV_PRODUCT_ADDED);
        SP_NSTR(ev->cart_id);
        SP_CHECK((p = sp_product(p, end, ev)) != NULL);
        SP_NULLABLE(SP_INT(ev->quantity); ev->has_quantity = true);
        SP_CHECK((p = sp_lines(serde, p, end, ev)) != NULL);
        SP_NSTR(ev->checkout_id);
        return p;
}

static const uint8_t *sp_purchase(nd_serde_t *serde, const uint8_t *p,
                                  const uint8_t *end, void *out) {
        nd_event_t *ev = out;
        SP_ENVELOPE(3, ND_EV_ORDER_COMPLETED);
        SP_STR(ev->order_id);
        SP_NLONG(ev->value_cents, ev->has_value);
        SP_NSTR(ev->currency);
        SP_NSTR(ev->cart_id);
        SP_NSTR(ev->checkout_id);
        SP_CHECK((p = sp_lines(serde, p, end, ev)) != NULL);
        return p;
}

static const uint8_t *sp_catalog(nd_serde_t *serde, const uint8_t *p,
                                 const uint8_t *end, void *out) {
        nd_product_rec_t *prod = out;
        uint32_t n = 0;
        SP_STR(prod->sku);
        SP_NSTR(prod->name);
        SP_NSTR(prod->category);
        SP_NLONG(prod->price_cents, prod->has_price);
        SP_NSTR(prod->currency);
        SP_CHECK(p < end && *p <= 1);
        prod->in_stock = *p++;
        for (;;) {
                int64_t cnt;
                SP_LONG(cnt);
                if (cnt == 0)
                        break;
                SP_CHECK(cnt > 0 && cnt <= ND_PRODUCT_MAX_COMPLEMENTS - n &&
                         cnt <= end - p);
                for (int64_t k = 0; k < cnt; k++, n++)
                        SP_STR(serde->strs[n]);
        }
        prod->complements = serde->strs;
        prod->complement_cnt = n;
        return p;
}

#undef SP_FAIL
#undef SP_CHECK
#undef SP_LONG
#undef SP_INT
#undef SP_ENUM
#undef SP_STR
#undef SP_NULLABLE
#undef SP_NSTR
#undef SP_NLONG
#undef SP_ENVELOPE

/* In nd__serde_reader_defs order. The signatures:
 * fnv1a(nd__serde_plan_signature()) of each shipped reader schema against
 * itself; update them together with the decoders when a schema changes
 * (nd_serde_new logs the new value). */
fast_fn const nd__serde_fast_fns[READER_CNT] = {sp_clickstream, sp_cart,
                                                sp_purchase, sp_catalog};
const uint64_t nd__serde_fast_sigs[READER_CNT] = {
    0xb449126b2d4223ccULL, 0xe623030784393947ULL, 0xcf1e054b0a472f99ULL,
    0x5c077eaaa9e71ff1ULL};
