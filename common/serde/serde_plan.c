/*
 * serde_plan.c — the plan compiler: a writer schema against a reader
 * schema, by Avro's resolution rules, into a flat array of ops.
 *
 * Compiling runs once per schema id (serde.c caches the result), under
 * serde.c's avro lock; it walks avro-c's parsed schemas and reads only the
 * reader's defaults from its JSON (OVERALL DESIGN in serde.c says why). The
 * output is struct plan (serde_int.h): ops in document order, each nested
 * block inline after its op, union branch tables, enum maps and the string
 * pool of field paths. Its signature (nd__serde_plan_signature) is what
 * decides whether a specialised decoder of serde_fast.c may run a plan
 * instead of the interpreter of serde_interp.c.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "serde_int.h"

void nd__serde_plan_destroy(struct plan *pl) {
        if (!pl)
                return;
        nd_free(pl->ops);
        nd_free(pl->br);
        nd_free(pl->emap);
        nd_free(pl->esym);
        if (pl->consts) {
                for (uint32_t i = 0; i < pl->const_cnt; i++)
                        nd_free((void *)pl->consts[i].p);
                nd_free(pl->consts);
        }
        nd_free(pl->pool);
        nd_free(pl);
}

static uint32_t pool_add(struct plan *pl, const char *s) {
        size_t n = strlen(s) + 1;
        uint32_t at = pl->pool_len;
        if (pl->pool_len + n > pl->pool_cap) {
                pl->pool_cap = pl->pool_cap ? pl->pool_cap * 2 : 1024;
                while (pl->pool_len + n > pl->pool_cap)
                        pl->pool_cap *= 2;
                pl->pool = nd_realloc(pl->pool, pl->pool_cap);
        }
        memcpy(pl->pool + at, s, n);
        pl->pool_len += (uint32_t)n;
        return at;
}

/* Compiler state. */
struct builder {
        struct plan *pl;
        json_t *named; /* reader: unqualified name -> JSON of record/enum */
        char *errstr;
        size_t errstr_size;
};


static uint32_t emit(struct builder *b, uint8_t code, const char *path) {
        struct plan *pl = b->pl;
        struct op *op;
        if (pl->op_cnt == pl->op_cap) {
                pl->op_cap = pl->op_cap ? pl->op_cap * 2 : 64;
                pl->ops = nd_realloc(pl->ops, pl->op_cap * sizeof(*pl->ops));
        }
        op = &pl->ops[pl->op_cnt];
        memset(op, 0, sizeof(*op));
        op->code = code;
        op->has_off = NO_OFF;
        op->next = pl->op_cnt + 1;
        op->path = pool_add(pl, path);
        return pl->op_cnt++;
}

static avro_schema_t deref(avro_schema_t s) {
        while (s && avro_typeof(s) == AVRO_LINK)
                s = avro_schema_link_target(s);
        return s;
}

static const char *type_name(avro_schema_t s) {
        s = deref(s);
        switch (avro_typeof(s)) {
        case AVRO_RECORD:
        case AVRO_ENUM:
        case AVRO_FIXED:
                return avro_schema_name(s);
        default:
                return avro_schema_type_name(s);
        }
}

static bool same_name(avro_schema_t w, avro_schema_t r) {
        /* Avro 1.10+: unqualified names must match (aliases: avro-c has
         * none). */
        return strcmp(avro_schema_name(w), avro_schema_name(r)) == 0;
}

/* w and r are not unions. exact: same type only; else promotions too. */
static bool schemas_match(avro_schema_t w, avro_schema_t r, bool exact) {
        avro_type_t wt = avro_typeof(w), rt = avro_typeof(r);
        if (wt == rt) {
                switch (wt) {
                case AVRO_RECORD:
                case AVRO_ENUM:
                        return same_name(w, r);
                case AVRO_FIXED:
                        return same_name(w, r) && avro_schema_fixed_size(w) ==
                                                      avro_schema_fixed_size(r);
                default:
                        return true;
                }
        }
        if (exact)
                return false;
        switch (wt) {
        case AVRO_INT32:
                return rt == AVRO_INT64 || rt == AVRO_FLOAT ||
                       rt == AVRO_DOUBLE;
        case AVRO_INT64:
                return rt == AVRO_FLOAT || rt == AVRO_DOUBLE;
        case AVRO_FLOAT:
                return rt == AVRO_DOUBLE;
        case AVRO_STRING:
                return rt == AVRO_BYTES;
        case AVRO_BYTES:
                return rt == AVRO_STRING;
        default:
                return false;
        }
}

/* The branch of reader union r that writer schema w resolves to, or NULL. */
static avro_schema_t union_pick(avro_schema_t w, avro_schema_t r) {
        size_t n = avro_schema_union_size(r);
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < n; i++) {
                        avro_schema_t rb =
                            deref(avro_schema_union_branch(r, (int)i));
                        if (avro_typeof(rb) != AVRO_UNION &&
                            schemas_match(w, rb, pass == 0))
                                return rb;
                }
        return NULL;
}

static const struct dst *dst_find(const struct dst *tab, const char *name) {
        for (; tab && tab->name; tab++)
                if (strcmp(tab->name, name) == 0)
                        return tab;
        return NULL;
}

static json_t *named_json(struct builder *b, avro_schema_t s) {
        return b->named ? json_object_get(b->named, avro_schema_name(s)) : NULL;
}

/* Checks that what the reader type r holds can go where d says. */
static nd_err_t check_dst(struct builder *b, avro_schema_t r,
                          const struct dst *d, const char *path) {
        avro_type_t rt = avro_typeof(r);
        bool ok;
        switch (d->kind) {
        case D_STR:
                ok = rt == AVRO_STRING || rt == AVRO_BYTES;
                break;
        case D_I64:
                ok = rt == AVRO_INT32 || rt == AVRO_INT64;
                break;
        case D_BOOL:
                ok = rt == AVRO_BOOLEAN;
                break;
        case D_ENUM:
                ok = rt == AVRO_ENUM;
                break;
        case D_REC:
                ok = rt == AVRO_RECORD;
                break;
        case D_LINES:
        case D_STRS:
                ok = rt == AVRO_ARRAY;
                break;
        default:
                ok = true;
        }
        if (!ok)
                return nd_err_fmt(b->errstr, b->errstr_size,
                                  ND_ERR_INCOMPATIBLE_SCHEMA,
                                  "reader field '%s' is %s, which nudge "
                                  "cannot store there",
                                  path, avro_schema_type_name(r));
        return ND_OK;
}

static nd_err_t compile(struct builder *b, avro_schema_t w, avro_schema_t r,
                        const struct dst *d, uint16_t base, const char *path,
                        int depth);

/* Appends "name" to path into out ("a.b", "products[].sku"). */
static void path_join(char *out, size_t size, const char *path,
                      const char *name) {
        snprintf(out, size, "%s%s%s", path, *path ? "." : "", name);
}

/* Default of reader field rf (JSON jd, may be NULL) into d. */
static nd_err_t compile_default(struct builder *b, avro_schema_t rf, json_t *jd,
                                const struct dst *d, uint16_t base,
                                const char *path) {
        avro_schema_t t = deref(rf);
        uint32_t i;
        if (!jd)
                return nd_err_fmt(b->errstr, b->errstr_size,
                                  ND_ERR_INCOMPATIBLE_SCHEMA,
                                  "reader field '%s' has no default and is "
                                  "not in the writer schema",
                                  path);
        if (avro_typeof(t) == AVRO_UNION) /* the default is the 1st branch's */
                t = deref(avro_schema_union_branch(t, 0));
        if (json_is_null(jd) || !d)
                return ND_OK; /* null, or nothing stores it */
        switch (avro_typeof(t)) {
        case AVRO_BOOLEAN:
                if (!json_is_boolean(jd) || d->kind != D_BOOL)
                        break;
                i = emit(b, OP_CONST_BOOL, path);
                b->pl->ops[i].k = json_is_true(jd);
                b->pl->ops[i].off = (uint16_t)(base + d->off);
                return ND_OK;
        case AVRO_INT32:
        case AVRO_INT64:
                if (!json_is_integer(jd) || d->kind != D_I64)
                        break;
                i = emit(b, OP_CONST_I64, path);
                b->pl->ops[i].k = json_integer_value(jd);
                b->pl->ops[i].off = (uint16_t)(base + d->off);
                if (d->has_off != NO_OFF)
                        b->pl->ops[i].has_off = (uint16_t)(base + d->has_off);
                return ND_OK;
        case AVRO_STRING:
        case AVRO_BYTES: {
                struct plan *pl = b->pl;
                if (!json_is_string(jd) || d->kind != D_STR)
                        break;
                i = emit(b, OP_CONST_STR, path);
                pl->consts = nd_realloc(pl->consts, (pl->const_cnt + 1) *
                                                        sizeof(*pl->consts));
                pl->consts[pl->const_cnt].len =
                    (uint32_t)json_string_length(jd);
                pl->consts[pl->const_cnt].p =
                    nd_strndup(json_string_value(jd), json_string_length(jd));
                pl->ops[i].a = pl->const_cnt++;
                pl->ops[i].off = (uint16_t)(base + d->off);
                return ND_OK;
        }
        case AVRO_ENUM: {
                const char *sym = json_string_value(jd);
                int v = sym ? d->parse(sym, strlen(sym)) : -1;
                if (d->kind != D_ENUM || v < 0)
                        break;
                i = emit(b, OP_CONST_ENUM, path);
                b->pl->ops[i].k = v;
                b->pl->ops[i].off = (uint16_t)(base + d->off);
                return ND_OK;
        }
        case AVRO_ARRAY:
                if (!json_is_array(jd) || json_array_size(jd) != 0 ||
                    (d->kind != D_LINES && d->kind != D_STRS))
                        break;
                i = emit(b, OP_CONST_EMPTY, path);
                b->pl->ops[i].has_off = d->has_off == NO_OFF
                                            ? NO_OFF
                                            : (uint16_t)(base + d->has_off);
                return ND_OK;
        default:
                break;
        }
        return nd_err_fmt(b->errstr, b->errstr_size, ND_ERR_INCOMPATIBLE_SCHEMA,
                          "reader field '%s': nudge cannot apply its default",
                          path);
}

/* Writer record w against reader record r (or NULL: skip), fields of sub. */
static nd_err_t compile_record(struct builder *b, avro_schema_t w,
                               avro_schema_t r, const struct dst *sub,
                               uint16_t base, const char *path, int depth) {
        char fpath[512];
        nd_err_t err;
        size_t wn = avro_schema_record_size(w);

        if (r) {
                /* Reader fields the writer lacks: their defaults. */
                json_t *rj = named_json(b, r);
                json_t *rfields = rj ? json_object_get(rj, "fields") : NULL;
                size_t rn = avro_schema_record_size(r);
                for (size_t j = 0; j < rn; j++) {
                        const char *name =
                            avro_schema_record_field_name(r, (int)j);
                        json_t *jd = NULL;
                        if (avro_schema_record_field_get_index(w, name) >= 0)
                                continue;
                        if (json_is_array(rfields) &&
                            j < json_array_size(rfields))
                                jd = json_object_get(json_array_get(rfields, j),
                                                     "default");
                        path_join(fpath, sizeof(fpath), path, name);
                        err = compile_default(
                            b, avro_schema_record_field_get_by_index(r, (int)j),
                            jd, dst_find(sub, name), base, fpath);
                        if (err)
                                return err;
                }
        }
        for (size_t i = 0; i < wn; i++) {
                const char *name = avro_schema_record_field_name(w, (int)i);
                avro_schema_t wf =
                    avro_schema_record_field_get_by_index(w, (int)i);
                avro_schema_t rf = NULL;
                const struct dst *d = NULL;
                if (r && avro_schema_record_field_get_index(r, name) >= 0) {
                        rf = avro_schema_record_field_get(r, name);
                        d = dst_find(sub, name);
                }
                path_join(fpath, sizeof(fpath), path, name);
                if ((err = compile(b, wf, rf, d, base, fpath, depth + 1)))
                        return err;
        }
        return ND_OK;
}

/* The item of a D_STRS array: one nd_str_t at offset 0. */
static const struct dst str_item_dst = {"", D_STR, 0, NO_OFF, 0, NULL, NULL};

/* Items of an array or values of a map. */
static nd_err_t min_size(avro_schema_t w, int depth, uint32_t *out);

static nd_err_t compile_array(struct builder *b, avro_schema_t w,
                              avro_schema_t r, const struct dst *d,
                              uint16_t base, const char *path, int depth) {
        char ipath[512];
        uint32_t i, item_min = 0;
        const struct dst *item_dst = NULL;
        struct dst line_item = {"", D_REC, 0, NO_OFF, 0, NULL, NULL};
        nd_err_t err;
        avro_schema_t wi = avro_schema_array_items(w);
        avro_schema_t ri = r ? avro_schema_array_items(r) : NULL;

        if ((err = min_size(wi, depth, &item_min)))
                return nd_err_fmt(b->errstr, b->errstr_size, err,
                                  "writer field '%s' nests too deep", path);
        i = emit(b, OP_ARRAY, path);
        b->pl->ops[i].a = item_min;
        if (d && (d->kind == D_LINES || d->kind == D_STRS)) {
                struct op *op = &b->pl->ops[i];
                op->dkind = d->kind;
                op->off = (uint16_t)(base + d->off);
                op->cnt_off = (uint16_t)(base + d->cnt_off);
                op->has_off = d->has_off == NO_OFF
                                  ? NO_OFF
                                  : (uint16_t)(base + d->has_off);
                item_dst = d->kind == D_STRS ? &str_item_dst : NULL;
        }
        snprintf(ipath, sizeof(ipath), "%s[]", path);
        if (d && d->kind == D_LINES) {
                /* A line item is its own base: offsets inside the item. */
                line_item.sub = d->sub;
                item_dst = &line_item;
        }
        err = compile(b, wi, ri, item_dst, 0, ipath, depth + 1);
        if (err)
                return err;
        b->pl->ops[i].next = b->pl->op_cnt;
        return ND_OK;
}

/* Writer w (not a union) against reader r (not a union, matching w). */
static nd_err_t compile_value(struct builder *b, avro_schema_t w,
                              avro_schema_t r, const struct dst *d,
                              uint16_t base, const char *path, int depth) {
        uint32_t i;
        nd_err_t err;
        avro_type_t wt = avro_typeof(w);

        if (d && r && wt != AVRO_NULL && (err = check_dst(b, r, d, path)))
                return err;
        switch (wt) {
        case AVRO_NULL:
                return ND_OK;
        case AVRO_BOOLEAN:
        case AVRO_INT32:
        case AVRO_INT64:
        case AVRO_STRING:
        case AVRO_BYTES:
                i = emit(b,
                         wt == AVRO_BOOLEAN ? OP_BOOL
                         : wt == AVRO_INT32 ? OP_INT
                         : wt == AVRO_INT64 ? OP_LONG
                                            : OP_STR,
                         path);
                if (d) {
                        struct op *op = &b->pl->ops[i];
                        op->dkind = d->kind;
                        op->off = (uint16_t)(base + d->off);
                        if (d->has_off != NO_OFF)
                                op->has_off = (uint16_t)(base + d->has_off);
                }
                return ND_OK;
        case AVRO_FLOAT:
        case AVRO_DOUBLE:
                emit(b, wt == AVRO_FLOAT ? OP_FLOAT : OP_DOUBLE, path);
                return ND_OK;
        case AVRO_FIXED:
                i = emit(b, OP_FIXED, path);
                b->pl->ops[i].a = (uint32_t)avro_schema_fixed_size(w);
                return ND_OK;
        case AVRO_ENUM: {
                struct plan *pl = b->pl;
                uint32_t n = (uint32_t)avro_schema_enum_number_of_symbols(w);
                int dflt = -1;
                json_t *rj = r ? named_json(b, r) : NULL;
                json_t *jd = rj ? json_object_get(rj, "default") : NULL;
                if (d && json_is_string(jd))
                        dflt = d->parse(json_string_value(jd),
                                        json_string_length(jd));
                i = emit(b, OP_ENUM, path);
                if (pl->emap_cnt + n > pl->emap_cap) {
                        pl->emap_cap = (pl->emap_cnt + n) * 2;
                        pl->emap = nd_realloc(pl->emap,
                                              pl->emap_cap * sizeof(*pl->emap));
                        pl->esym = nd_realloc(pl->esym,
                                              pl->emap_cap * sizeof(*pl->esym));
                }
                pl->ops[i].a = n;
                pl->ops[i].b = pl->emap_cnt;
                for (uint32_t k = 0; k < n; k++) {
                        const char *sym = avro_schema_enum_get(w, (int)k);
                        int v = 0;
                        if (d) {
                                bool in_reader =
                                    avro_schema_enum_get_by_name(r, sym) >= 0;
                                v = in_reader ? d->parse(sym, strlen(sym)) : -1;
                                if (v < 0)
                                        v = dflt;
                        }
                        pl->emap[pl->emap_cnt] = v;
                        pl->esym[pl->emap_cnt++] = pool_add(pl, sym);
                }
                if (d) {
                        pl->ops[i].dkind = D_ENUM;
                        pl->ops[i].off = (uint16_t)(base + d->off);
                }
                return ND_OK;
        }
        case AVRO_RECORD:
                if (d && d->kind == D_REC) {
                        if (d->has_off != NO_OFF) {
                                i = emit(b, OP_SET_TRUE, path);
                                b->pl->ops[i].off =
                                    (uint16_t)(base + d->has_off);
                        }
                        return compile_record(b, w, r, d->sub,
                                              (uint16_t)(base + d->off), path,
                                              depth);
                }
                return compile_record(b, w, r, NULL, base, path, depth);
        case AVRO_ARRAY:
                return compile_array(b, w, r, d, base, path, depth);
        case AVRO_MAP: {
                char vpath[512];
                avro_schema_t wv = avro_schema_map_values(w);
                avro_schema_t rv = r ? avro_schema_map_values(r) : NULL;
                i = emit(b, OP_MAP, path);
                snprintf(vpath, sizeof(vpath), "%s{}", path);
                if ((err = compile(b, wv, rv, NULL, 0, vpath, depth + 1)))
                        return err;
                b->pl->ops[i].next = b->pl->op_cnt;
                return ND_OK;
        }
        default:
                return nd_err_fmt(
                    b->errstr, b->errstr_size, ND_ERR_UNKNOWN_SCHEMA,
                    "writer field '%s' has an unsupported type", path);
        }
}

/*
 * The hot shape: a ["null", T] union whose T branch is one leaf op (a string,
 * int or long). The union op and the leaf become one op, so the common
 * nullable field costs one dispatch.
 */
static void fuse_nullable(struct plan *pl, uint32_t i) {
        struct op *u = &pl->ops[i], *leaf = &pl->ops[i + 1];
        const struct branch *b0 = &pl->br[u->b], *b1 = &pl->br[u->b + 1];
        if (u->a != 2 || b0->kind != BR_BLOCK || b1->kind != BR_BLOCK ||
            b0->start != b0->end || b1->start != i + 1 || b1->end != i + 2 ||
            pl->op_cnt != i + 2)
                return;
        if (leaf->code != OP_STR && leaf->code != OP_LONG &&
            leaf->code != OP_INT)
                return;
        u->code = leaf->code == OP_STR    ? OP_NSTR
                  : leaf->code == OP_LONG ? OP_NLONG
                                          : OP_NINT;
        u->dkind = leaf->dkind;
        u->off = leaf->off;
        u->has_off = leaf->has_off;
        u->next = i + 1;
        pl->op_cnt = i + 1;
}

/*
 * Emits the ops that consume one value of writer schema w and store it as
 * reader schema r into d (r NULL: a writer-only value, dropped; d NULL: a
 * reader value C does not keep).
 */
static nd_err_t compile(struct builder *b, avro_schema_t w, avro_schema_t r,
                        const struct dst *d, uint16_t base, const char *path,
                        int depth) {
        w = deref(w);
        r = r ? deref(r) : NULL;
        if (depth > ND_SERDE_MAX_DEPTH)
                return nd_err_fmt(b->errstr, b->errstr_size,
                                  ND_ERR_UNKNOWN_SCHEMA,
                                  "writer schema nests deeper than %d levels "
                                  "at '%s' (recursive?)",
                                  ND_SERDE_MAX_DEPTH, path);
        if (avro_typeof(w) == AVRO_UNION) {
                size_t n = avro_schema_union_size(w);
                struct plan *pl = b->pl;
                uint32_t i = emit(b, OP_UNION, path), bi = pl->br_cnt, next;
                nd_err_t err;
                if (pl->br_cnt + n > pl->br_cap) {
                        pl->br_cap = (uint32_t)(pl->br_cnt + n) * 2;
                        pl->br =
                            nd_realloc(pl->br, pl->br_cap * sizeof(*pl->br));
                }
                pl->br_cnt += (uint32_t)n;
                pl->ops[i].a = (uint32_t)n;
                pl->ops[i].b = bi;
                for (size_t k = 0; k < n; k++) {
                        avro_schema_t wb =
                            deref(avro_schema_union_branch(w, (int)k));
                        avro_schema_t rb = NULL;
                        struct branch *br;
                        uint8_t kind = BR_BLOCK;
                        uint32_t start = b->pl->op_cnt;
                        if (!r)
                                err = compile(b, wb, NULL, NULL, base, path,
                                              depth + 1);
                        else if (avro_typeof(r) == AVRO_UNION &&
                                 (rb = union_pick(wb, r)) != NULL)
                                err = compile_value(b, wb, rb, d, base, path,
                                                    depth + 1);
                        else if (avro_typeof(r) != AVRO_UNION &&
                                 schemas_match(wb, r, false))
                                err = compile_value(b, wb, r, d, base, path,
                                                    depth + 1);
                        else {
                                /* Resolved when a record uses it. */
                                kind = avro_typeof(wb) == AVRO_NULL
                                           ? BR_MISSING
                                           : BR_MISMATCH;
                                err = ND_OK;
                        }
                        if (err)
                                return err;
                        /* Blocks run inline: all but the last end in a
                         * jump to the union's next op (patched below). */
                        if (k + 1 < n && b->pl->op_cnt > start)
                                emit(b, OP_JUMP, path);
                        br = &b->pl->br[bi + k];
                        br->kind = kind;
                        br->start = start;
                        br->end = b->pl->op_cnt;
                        br->name = pool_add(b->pl, type_name(wb));
                }
                pl = b->pl;
                next = pl->op_cnt;
                pl->ops[i].next = next;
                for (size_t k = 0; k < n; k++) {
                        struct branch *br = &pl->br[bi + k];
                        if (br->start == br->end)
                                br->start = br->end = next; /* empty */
                        else if (k + 1 < n)
                                pl->ops[br->end - 1].next = next;
                }
                fuse_nullable(pl, i);
                return ND_OK;
        }
        if (!r)
                return compile_value(b, w, NULL, NULL, base, path, depth);
        if (avro_typeof(r) == AVRO_UNION) {
                avro_schema_t rb = union_pick(w, r);
                if (!rb)
                        return nd_err_fmt(b->errstr, b->errstr_size,
                                          ND_ERR_INCOMPATIBLE_SCHEMA,
                                          "field '%s': writer type %s "
                                          "matches no branch of the reader "
                                          "union",
                                          path, type_name(w));
                return compile_value(b, w, rb, d, base, path, depth);
        }
        if (!schemas_match(w, r, false))
                return nd_err_fmt(
                    b->errstr, b->errstr_size, ND_ERR_INCOMPATIBLE_SCHEMA,
                    "field '%s': writer type %s cannot be read "
                    "as %s",
                    *path ? path : "(record)", type_name(w), type_name(r));
        return compile_value(b, w, r, d, base, path, depth);
}

/* Smallest encoding of a value of w: caps array counts by bytes left. */
static nd_err_t min_size(avro_schema_t w, int depth, uint32_t *out) {
        uint32_t sum = 0, m;
        w = deref(w);
        if (depth > ND_SERDE_MAX_DEPTH)
                return ND_ERR_UNKNOWN_SCHEMA;
        switch (avro_typeof(w)) {
        case AVRO_NULL:
                *out = 0;
                return ND_OK;
        case AVRO_FLOAT:
                *out = 4;
                return ND_OK;
        case AVRO_DOUBLE:
                *out = 8;
                return ND_OK;
        case AVRO_FIXED:
                *out = (uint32_t)avro_schema_fixed_size(w);
                return ND_OK;
        case AVRO_RECORD:
                for (size_t i = 0; i < avro_schema_record_size(w); i++) {
                        nd_err_t err = min_size(
                            avro_schema_record_field_get_by_index(w, (int)i),
                            depth + 1, &m);
                        if (err)
                                return err;
                        sum += m;
                }
                *out = sum;
                return ND_OK;
        default: /* a varint, a length or an index: at least one byte */
                *out = 1;
                return ND_OK;
        }
}

nd_err_t nd__serde_plan_build(avro_schema_t w, const struct reader_def *rd,
                              avro_schema_t r, json_t *named, struct plan **out,
                              char *errstr, size_t errstr_size) {
        struct builder b = {NULL, named, errstr, errstr_size};
        nd_err_t err;

        b.pl = nd_calloc(1, sizeof(*b.pl));
        b.pl->kind = rd->kind;
        b.pl->reader = rd->record;
        /* add_schema picked the reader by the writer's record name. */
        err = compile_record(&b, deref(w), deref(r), rd->dst, 0, "", 0);
        if (err) {
                nd__serde_plan_destroy(b.pl);
                return err;
        }
        *out = b.pl;
        return ND_OK;
}

/* The signature of a plan (serde_int.h). */
char *nd__serde_plan_signature(const struct plan *pl, size_t *lenp) {
        size_t cap = 64 + (size_t)pl->op_cnt * 96 + (size_t)pl->br_cnt * 40 +
                     (size_t)pl->emap_cnt * 12,
               n = 0;
        char *sig = nd_malloc(cap);
#define SIG(...) \
        n += (size_t)snprintf(sig + n, n < cap ? cap - n : 0, __VA_ARGS__)
        SIG("k%d;", (int)pl->kind);
        for (uint32_t i = 0; i < pl->op_cnt; i++) {
                const struct op *op = &pl->ops[i];
                SIG("%u,%u,%u,%u,%u,%u,%u,%u,%lld;", op->code, op->dkind,
                    op->off, op->has_off, op->cnt_off, (unsigned)op->next,
                    (unsigned)op->a, (unsigned)op->b, (long long)op->k);
        }
        for (uint32_t i = 0; i < pl->br_cnt; i++)
                SIG("b%u,%u,%u;", pl->br[i].kind, (unsigned)pl->br[i].start,
                    (unsigned)pl->br[i].end);
        for (uint32_t i = 0; i < pl->emap_cnt; i++)
                SIG("e%d;", (int)pl->emap[i]);
        if (pl->const_cnt) /* defaults: only when the writer lacks fields */
                SIG("c%u;", (unsigned)pl->const_cnt);
#undef SIG
        nd_assert(n < cap);
        *lenp = n;
        return sig;
}

/* See serde_int.h. */
void nd__serde_plan_specialise(struct plan *pl, const char *canon, int ri,
                               unsigned flags) {
        size_t n;
        char *sig;
        if (!canon || (flags & ND_SERDE_F_NO_FAST))
                return;
        sig = nd__serde_plan_signature(pl, &n);
        if (strlen(canon) == n && memcmp(sig, canon, n) == 0)
                pl->fast = nd__serde_fast_fns[ri];
        nd_free(sig);
}
