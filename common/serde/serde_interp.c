/*
 * serde_interp.c — executing a plan: the plan interpreter, and
 * nd__serde_run_plan, which runs a record through the plan's specialised
 * decoder (serde_fast.c) when it has one and through the interpreter
 * otherwise.
 *
 * Every writer schema decodes here unless serde_fast.c has a decoder for
 * its exact layout, and every record a specialised decoder refuses is
 * decoded here again, so this is also where every decode error is worded
 * ("field 'products[2].sku': ..."). One loop with threaded dispatch over
 * the ops (run), recursion only for array items and map values (bounded by
 * ND_SERDE_MAX_DEPTH); every read is bounds-checked, and all it calls per
 * field is in this file. WHY nd__serde_run_plan lives here and not with
 * the entry points in serde.c: it sets up the interpreter's context and
 * calls run directly, so a record costs the same calls as before the
 * split (a cross-file wrapper around run measured ~3% on the interpreter
 * path).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "serde_int.h"

/* ------------------------------------------------------------------ */
/* Executing a plan                                                    */

struct dctx {
        const uint8_t *p, *end, *start;
        const struct plan *pl;
        nd_serde_t *serde;
        char *errstr;
        size_t errstr_size;
        uint32_t zero_budget; /* items of zero-size arrays left */
        int adepth;
        uint32_t idx[2 * ND_SERDE_MAX_DEPTH + 2];
};

#define ND_SERDE_ZERO_ITEMS 65536

/* Writes "field 'products[2].sku': <msg>" and returns err. */
static nd_err_t fail(struct dctx *c, const struct op *op, nd_err_t err,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noinline, cold));
static nd_err_t fail(struct dctx *c, const struct op *op, nd_err_t err,
                     const char *fmt, ...) {
        char path[512];
        size_t n = 0;
        int k = 0;
        va_list ap;
        const char *s = op ? c->pl->pool + op->path : "";

        if (!c->errstr || !c->errstr_size)
                return err;
        for (; *s && n + 16 < sizeof(path); s++) {
                if ((s[0] == '[' || s[0] == '{') && s[1] == s[0] + 2 &&
                    k < c->adepth) {
                        n += (size_t)snprintf(path + n, sizeof(path) - n,
                                              "%c%" PRIu32 "%c", s[0],
                                              c->idx[k++], s[1]);
                        s++;
                } else {
                        path[n++] = *s;
                }
        }
        path[n] = '\0';
        n = 0;
        if (*path)
                n = (size_t)snprintf(c->errstr, c->errstr_size,
                                     "field '%s': ", path);
        if (n < c->errstr_size) {
                va_start(ap, fmt);
                vsnprintf(c->errstr + n, c->errstr_size - n, fmt, ap);
                va_end(ap);
        }
        return err;
}

static nd_err_t rd_varint_slow(struct dctx *c, const struct op *op,
                               uint64_t *out, int maxbytes) {
        uint64_t v = 0;
        const uint8_t *p = c->p;
        *out = 0;
        for (int i = 0; i < maxbytes; i++) {
                uint8_t byte;
                if (p >= c->end)
                        return fail(c, op, ND_ERR_TRUNCATED,
                                    "record ends inside a number at byte %zu",
                                    (size_t)(p - c->start));
                byte = *p++;
                if (i == maxbytes - 1 &&
                    (maxbytes == 10 ? byte > 1 : byte > 0x0f))
                        return fail(c, op, ND_ERR_BAD_VARINT,
                                    "%s varint overflows at byte %zu",
                                    maxbytes == 10 ? "long" : "int",
                                    (size_t)(p - 1 - c->start));
                v |= (uint64_t)(byte & 0x7f) << (7 * i);
                if (!(byte & 0x80)) {
                        c->p = p;
                        *out = v;
                        return ND_OK;
                }
        }
        return ND_ERR_BAD_VARINT; /* not reached: the last byte is checked */
}

/*
 * A varint of at most maxb bytes when at least 10 bytes are left (no bound
 * checks). Returns UINT64_MAX with *pp untouched when it overflows, and
 * also for a valid varint whose raw bits are all ones (INT64_MIN); the
 * caller then lets rd_varint_slow() decide, decode and report.
 */
static inline uint64_t rd_varint_fast(const uint8_t **pp, int maxb) {
        const uint8_t *p = *pp;
        uint64_t v = 0, byte;
        int i;
        for (i = 0; i < maxb; i++) {
                byte = p[i];
                v |= (byte & 0x7f) << (7 * i);
                if (byte < 0x80)
                        break;
        }
        if (i == maxb || (i == maxb - 1 && byte > (maxb == 10 ? 1u : 0x0fu)))
                return UINT64_MAX;
        if (v == UINT64_MAX)
                return v; /* valid, but the caller cannot tell: redone */
        *pp = p + i + 1;
        return v;
}

static inline nd_err_t rd_long(struct dctx *c, const struct op *op,
                               int64_t *out) {
        uint64_t v = 0;
        nd_err_t err = ND_OK;
        if (c->p < c->end && *c->p < 0x80) {
                v = *c->p++;
        } else if (c->end - c->p >= 10) {
                /* Room for the longest varint: no bound check per byte. */
                const uint8_t *p = c->p;
                uint64_t byte = 0x80;
                for (int sh = 0; sh < 63 && byte >= 0x80; sh += 7) {
                        byte = *p++;
                        v |= (byte & 0x7f) << sh;
                }
                if (byte >= 0x80) { /* the 10th byte: bit 63 only */
                        byte = *p++;
                        if (byte > 1)
                                err = rd_varint_slow(c, op, &v, 10);
                        v |= byte << 63;
                }
                if (!err)
                        c->p = p;
        } else {
                err = rd_varint_slow(c, op, &v, 10);
        }
        *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
        return err;
}

static nd_err_t run(struct dctx *c, uint32_t i, uint32_t end, uint8_t *base);

static nd_err_t run_array(struct dctx *c, const struct op *op, uint32_t i,
                          uint8_t *base) {
        uint32_t n = 0, cap = UINT32_MAX;
        int depth = c->adepth;
        nd_err_t err;
        const uint8_t *end = c->end;

        if (op->dkind == D_LINES)
                cap = ND_EVENT_MAX_ITEMS;
        else if (op->dkind == D_STRS)
                cap = ND_PRODUCT_MAX_COMPLEMENTS;
        c->adepth++;
        for (;;) {
                int64_t cnt;
                if ((err = rd_long(c, op, &cnt)))
                        return err;
                if (cnt == 0)
                        break;
                if (cnt < 0) {
                        int64_t size;
                        if (cnt < -(int64_t)UINT32_MAX)
                                return fail(c, op, ND_ERR_BAD_LENGTH,
                                            "array block count %" PRId64
                                            " is out of range",
                                            cnt);
                        cnt = -cnt;
                        if ((err = rd_long(c, op, &size)))
                                return err;
                        if (size < 0 || size > end - c->p)
                                return fail(c, op, ND_ERR_BAD_LENGTH,
                                            "array block size %" PRId64
                                            " exceeds record",
                                            size);
                }
                if ((uint64_t)cnt > (uint64_t)(cap - n))
                        return fail(c, op, ND_ERR_BAD_LENGTH,
                                    "%" PRIu64 " items exceed the cap of %u",
                                    (uint64_t)cnt + n, (unsigned)cap);
                if (op->a ? (uint64_t)cnt > (uint64_t)(end - c->p) / op->a
                          : (uint64_t)cnt > c->zero_budget)
                        return fail(c, op, ND_ERR_BAD_LENGTH,
                                    "array count %" PRId64 " exceeds record",
                                    cnt);
                if (!op->a)
                        c->zero_budget -= (uint32_t)cnt;
                for (int64_t k = 0; k < cnt; k++, n++) {
                        uint8_t *item = base;
                        c->idx[depth] = n;
                        if (op->dkind == D_LINES) {
                                item = (uint8_t *)&c->serde->lines[n];
                                memset(item, 0, sizeof(nd_line_item_t));
                        } else if (op->dkind == D_STRS) {
                                item = (uint8_t *)&c->serde->strs[n];
                        }
                        if ((err = run(c, i + 1, op->next, item)))
                                return err;
                }
        }
        c->adepth--;
        if (op->dkind == D_LINES || op->dkind == D_STRS) {
                const void *arr = op->dkind == D_LINES
                                      ? (const void *)c->serde->lines
                                      : (const void *)c->serde->strs;
                memcpy(base + op->off, &arr, sizeof(arr));
                memcpy(base + op->cnt_off, &n, sizeof(n));
                if (op->has_off != NO_OFF)
                        base[op->has_off] = 1;
        }
        return ND_OK;
}

static nd_err_t run_map(struct dctx *c, const struct op *op, uint32_t i,
                        uint8_t *base) {
        nd_err_t err;
        int depth = c->adepth++;
        uint32_t n = 0;
        for (;;) {
                int64_t cnt, len;
                if ((err = rd_long(c, op, &cnt)))
                        return err;
                if (cnt == 0)
                        break;
                if (cnt < 0) {
                        int64_t size;
                        if (cnt < -(int64_t)UINT32_MAX)
                                return fail(c, op, ND_ERR_BAD_LENGTH,
                                            "map block count %" PRId64
                                            " is out of range",
                                            cnt);
                        cnt = -cnt;
                        if ((err = rd_long(c, op, &size)))
                                return err;
                        if (size < 0 || size > c->end - c->p)
                                return fail(c, op, ND_ERR_BAD_LENGTH,
                                            "map block size %" PRId64
                                            " exceeds record",
                                            size);
                }
                /* Each entry has a key: at least one byte. */
                if ((uint64_t)cnt > (uint64_t)(c->end - c->p))
                        return fail(c, op, ND_ERR_BAD_LENGTH,
                                    "map count %" PRId64 " exceeds record",
                                    cnt);
                for (int64_t k = 0; k < cnt; k++, n++) {
                        c->idx[depth] = n;
                        if ((err = rd_long(c, op, &len)))
                                return err;
                        if (len < 0 || len > c->end - c->p)
                                return fail(c, op, ND_ERR_BAD_LENGTH,
                                            "map key length %" PRId64
                                            " exceeds record",
                                            len);
                        c->p += len;
                        if ((err = run(c, i + 1, op->next, base)))
                                return err;
                }
        }
        c->adepth--;
        return ND_OK;
}

/*
 * The interpreter. WHY computed goto (a GNU C extension that gcc and clang
 * accept in C11 mode): with one shared switch, every op dispatches through
 * the same indirect branch and the predictor misses; with one jump per
 * handler it learns the op sequence of the schema, which is the same record
 * after record (about 2x here, see docs/benchmarks.md). WHY the local p:
 * stores into the struct go through uint8_t pointers, which may alias
 * c->p, so c->p would be reloaded after every store.
 */
#if defined(__GNUC__) && !defined(__clang__)
/* WHY: gcc otherwise merges the handlers' "goto *" into one shared jump
 * (cross-jumping), which undoes the point of threaded dispatch. */
__attribute__((optimize("no-crossjumping", "no-gcse")))
#endif
static nd_err_t
run(struct dctx *c, uint32_t i, uint32_t end, uint8_t *base) {
        static const void *const jt[] = {
            [0] = &&l_bad,
            [OP_BOOL] = &&l_bool,
            [OP_INT] = &&l_int,
            [OP_LONG] = &&l_long,
            [OP_FLOAT] = &&l_skip,
            [OP_DOUBLE] = &&l_skip,
            [OP_STR] = &&l_str,
            [OP_FIXED] = &&l_skip,
            [OP_ENUM] = &&l_enum,
            [OP_UNION] = &&l_union,
            [OP_ARRAY] = &&l_array,
            [OP_MAP] = &&l_map,
            [OP_SET_TRUE] = &&l_set_true,
            [OP_CONST_I64] = &&l_const_i64,
            [OP_CONST_BOOL] = &&l_const_bool,
            [OP_CONST_ENUM] = &&l_const_enum,
            [OP_CONST_STR] = &&l_const_str,
            [OP_CONST_EMPTY] = &&l_const_empty,
            [OP_JUMP] = &&l_jump,
            [OP_NSTR] = &&l_nstr,
            [OP_NLONG] = &&l_nlong,
            [OP_NINT] = &&l_nint,
        };
        const struct op *const ops = c->pl->ops;
        const uint8_t *p = c->p;
        const uint8_t *const lim = c->end;
        const struct op *op;
        nd_err_t err;
        uint64_t u;

#define DISPATCH(to)                \
        do {                        \
                i = (to);           \
                if (i >= end)       \
                        goto out;   \
                op = &ops[i];       \
                goto *jt[op->code]; \
        } while (0)
#define NEXT() DISPATCH(op->next)
#define VARINT(maxb)                                                         \
        do {                                                                 \
                if (p < lim && *p < 0x80) {                                  \
                        u = *p++;                                            \
                } else if (lim - p >= 10) {                                  \
                        u = rd_varint_fast(&p, maxb);                        \
                        if (u == UINT64_MAX) {                               \
                                c->p = p;                                    \
                                if ((err = rd_varint_slow(c, op, &u, maxb))) \
                                        return err;                          \
                                p = c->p;                                    \
                        }                                                    \
                } else {                                                     \
                        c->p = p;                                            \
                        if ((err = rd_varint_slow(c, op, &u, maxb)))         \
                                return err;                                  \
                        p = c->p;                                            \
                }                                                            \
        } while (0)

        DISPATCH(i);

l_nstr:
        if (p < lim && *p == 0) {
                p++;
                NEXT();
        }
        if (p < lim && *p == 2) {
                p++;
                goto l_str;
        }
        goto l_bad_nullable;
l_str : {
        int64_t len;
        VARINT(10);
        len = ZZ64(u);
        if (len < 0)
                return fail(c, op, ND_ERR_BAD_LENGTH,
                            "negative length %" PRId64, len);
        if (len > lim - p)
                return fail(c, op, ND_ERR_BAD_LENGTH,
                            "length %" PRId64 " exceeds record", len);
        if (op->dkind == D_STR) {
                nd_str_t s = {(const char *)p, (uint32_t)len};
                memcpy(base + op->off, &s, sizeof(s));
        }
        p += len;
        NEXT();
}
l_nlong:
        if (p < lim && *p == 0) {
                p++;
                NEXT();
        }
        if (p < lim && *p == 2) {
                p++;
                goto l_long;
        }
        goto l_bad_nullable;
l_long : {
        int64_t v;
        VARINT(10);
        v = ZZ64(u);
        if (op->dkind == D_I64) {
                memcpy(base + op->off, &v, sizeof(v));
                if (op->has_off != NO_OFF)
                        base[op->has_off] = 1;
        }
        NEXT();
}
l_nint:
        if (p < lim && *p == 0) {
                p++;
                NEXT();
        }
        if (p < lim && *p == 2) {
                p++;
                goto l_int;
        }
        goto l_bad_nullable;
l_int : {
        int64_t v;
        VARINT(5);
        v = ZZ32(u);
        if (op->dkind == D_I64) {
                memcpy(base + op->off, &v, sizeof(v));
                if (op->has_off != NO_OFF)
                        base[op->has_off] = 1;
        }
        NEXT();
}
l_enum : {
        int64_t v;
        int cv;
        VARINT(5);
        v = ZZ32(u);
        if (v < 0 || v >= (int64_t)op->a)
                return fail(c, op, ND_ERR_BAD_ENUM,
                            "enum index %" PRId64 " is not in 0..%u", v,
                            (unsigned)op->a - 1);
        if (op->dkind == D_ENUM) {
                cv = c->pl->emap[op->b + (uint32_t)v];
                if (cv < 0)
                        return fail(c, op, ND_ERR_BAD_ENUM,
                                    "symbol '%s' is not in the reader schema",
                                    c->pl->pool +
                                        c->pl->esym[op->b + (uint32_t)v]);
                memcpy(base + op->off, &cv, sizeof(cv));
        }
        NEXT();
}
l_union : {
        int64_t v;
        const struct branch *br;
        VARINT(10);
        v = ZZ64(u);
        if (v < 0 || v >= (int64_t)op->a)
                return fail(c, op, ND_ERR_BAD_UNION,
                            "union branch %" PRId64 " is not in 0..%u", v,
                            (unsigned)op->a - 1);
        br = &c->pl->br[op->b + (uint32_t)v];
        if (br->kind == BR_MISSING)
                return fail(c, op, ND_ERR_MISSING_FIELD, "null is not allowed");
        if (br->kind == BR_MISMATCH)
                return fail(c, op, ND_ERR_BAD_UNION,
                            "writer branch %s cannot be read with the "
                            "reader schema",
                            c->pl->pool + br->name);
        /* The block runs inline and jumps (or falls) to op->next. */
        DISPATCH(br->start);
}
l_jump:
        NEXT();
l_set_true:
        base[op->off] = 1;
        NEXT();
l_bool:
        if (p >= lim) {
                c->p = p;
                return fail(c, op, ND_ERR_TRUNCATED, "record ends at byte %zu",
                            (size_t)(p - c->start));
        }
        if (*p > 1)
                return fail(c, op, ND_ERR_BAD_TYPE, "boolean byte is %u", *p);
        if (op->dkind == D_BOOL)
                base[op->off] = *p;
        p++;
        NEXT();
l_skip : {
        uint32_t n = op->code == OP_FLOAT    ? 4
                     : op->code == OP_DOUBLE ? 8
                                             : op->a;
        if (n > (size_t)(lim - p))
                return fail(c, op, ND_ERR_TRUNCATED,
                            "record ends inside a %u-byte value", (unsigned)n);
        p += n;
        NEXT();
}
l_array:
        c->p = p;
        if ((err = run_array(c, op, i, base)))
                return err;
        p = c->p;
        NEXT();
l_map:
        c->p = p;
        if ((err = run_map(c, op, i, base)))
                return err;
        p = c->p;
        NEXT();
l_const_i64:
        memcpy(base + op->off, &op->k, sizeof(op->k));
        if (op->has_off != NO_OFF)
                base[op->has_off] = 1;
        NEXT();
l_const_bool:
        base[op->off] = (uint8_t)op->k;
        NEXT();
l_const_enum : {
        int v = (int)op->k;
        memcpy(base + op->off, &v, sizeof(v));
        NEXT();
}
l_const_str:
        memcpy(base + op->off, &c->pl->consts[op->a], sizeof(nd_str_t));
        NEXT();
l_const_empty:
        if (op->has_off != NO_OFF)
                base[op->has_off] = 1;
        NEXT();
l_bad_nullable:
        VARINT(10);
        return fail(c, op, ND_ERR_BAD_UNION,
                    "union branch %" PRId64 " is not in 0..1", ZZ64(u));
l_bad:
        return fail(c, op, ND_ERR_INVAL, "bad plan op %u", op->code);
out:
        c->p = p;
        return ND_OK;
#undef DISPATCH
#undef NEXT
#undef VARINT
}

/* See serde_int.h. */
nd_err_t nd__serde_run_plan(nd_serde_t *serde, const struct plan *pl,
                            const uint8_t *start, const uint8_t *p,
                            const uint8_t *end, void *out, size_t *usedp,
                            char *errstr, size_t errstr_size) {
        struct dctx c;
        nd_err_t err;

        if (pl->fast) {
                const uint8_t *q = pl->fast(serde, p, end, out);
                if (q && (usedp || q == end)) {
                        if (usedp)
                                *usedp = (size_t)(q - p);
                        serde->stats.decoded_fast++;
                        return ND_OK;
                }
                /* the interpreter starts from a clean struct again */
                if (pl->kind == PLAN_EVENT)
                        nd__serde_event_reset(out);
                else
                        nd__serde_product_reset(out);
        }
        c.start = start;
        c.p = p;
        c.end = end;
        c.pl = pl;
        c.serde = serde;
        c.errstr = errstr;
        c.errstr_size = errstr_size;
        c.zero_budget = ND_SERDE_ZERO_ITEMS;
        c.adepth = 0;
        if ((err = run(&c, 0, pl->op_cnt, out)))
                return err;
        if (usedp) {
                *usedp = (size_t)(c.p - p);
                return ND_OK;
        }
        if (c.p != c.end) {
                snprintf(errstr, errstr_size, "%zu bytes left after the record",
                         (size_t)(c.end - c.p));
                return ND_ERR_BAD_LENGTH;
        }
        return ND_OK;
}
