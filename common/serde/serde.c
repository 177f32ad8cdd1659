/*
 * serde.c — Avro (Confluent wire format) <-> nd_event_t / nd_action_t.
 *
 * OVERALL DESIGN
 *
 * avro-c's generic reader costs ~2 µs per small record (DESIGN.md,
 * "Performance model"), so it cannot be the hot path; it stays the
 * reference the fast path is tested against. The fast path is a decode plan:
 * a flat array of ops, one per value the writer schema puts on the wire, each
 * saying how to read it (varint, length-prefixed bytes, enum index, union
 * branch, array blocks) and where to store it in the flat C struct (an
 * offset, or nowhere). Executing a plan is a loop over ops with a switch; no
 * lookups by name, no allocation, strings are slices of the input.
 *
 * A plan is compiled once per schema id by walking avro-c's parsed writer
 * schema against avro-c's parsed reader schema (schemas/<topic>.avsc) with
 * Avro's resolution rules:
 *   - records: fields matched by name; writer-only fields become ops that
 *     store nowhere (a skip); reader-only fields take the reader's default;
 *     a reader-only field without a default makes the schema incompatible;
 *   - promotions int->long->float->double, string<->bytes;
 *   - unions: each writer branch is resolved on its own against the reader
 *     (or the reader union's first matching branch); a branch with no match
 *     fails only when a record uses it (BAD_UNION), a null branch into a
 *     required reader field is MISSING_FIELD;
 *   - enums: writer symbols map to reader symbols by name, then to the C
 *     enum by name; an unknown symbol takes the reader enum's default or is
 *     BAD_ENUM.
 * Where the reader field goes in C is the dst tables below, by field name:
 * a reader field the C struct does not know is decoded and dropped.
 *
 * avro-c 1.11 parses schemas but drops every "default" (and its own resolver
 * refuses a reader field the writer lacks: "Reader field b doesn't appear in
 * writer"), so the defaults, and only they, are read from the reader
 * schema's JSON with jansson, matched to avro-c's records and enums by name.
 *
 * Ops live in one array; a nested block (union branch, array item, map
 * value) follows its op inline and each op knows the index of its next
 * sibling. Errors carry the field path compiled into the op
 * ("products[].sku") with the array indices of the moment filled in.
 *
 * Every read is bounds-checked against the end of the record; varints are at
 * most 10 (long) or 5 (int) bytes; lengths and counts are checked against
 * the bytes left before anything is stored; arrays written into the scratch
 * have a hard cap; arrays of zero-size items share a budget per record; the
 * plan's nesting is capped at ND_SERDE_MAX_DEPTH, so recursion is bounded.
 */
#include "serde.h"

#include <avro.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "json.h"
#include "log.h"
#include "mem.h"
#include "schema_registry.h"

/* ------------------------------------------------------------------ */
/* Names                                                               */

static const char *const event_type_names[ND_EV__CNT] = {
    "page_viewed",     "product_viewed",  "products_searched",
    "app_opened",      "message_clicked", "product_added",
    "product_removed", "cart_viewed",     "checkout_started",
    "order_completed", "order_refunded",  "order_cancelled"};
static const char *const channel_names[ND_CHANNEL__CNT] = {
    "web", "app", "email", "sms", "push", "whatsapp", "store", "other"};
static const char *const device_type_names[ND_DEVICE__CNT] = {
    "desktop", "mobile", "tablet", "tv", "kiosk", "unknown"};
static const char *const trigger_type_names[ND_TRIGGER__CNT] = {
#define XX(name, text) [ND_TRIGGER_##name] = text,
    ND_TRIGGER_TYPE_MAP(XX)
#undef XX
};

static int parse_name(const char *const *names, int cnt, const char *name,
                      size_t len) {
        for (int i = 0; i < cnt; i++)
                if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
                        return i;
        return -1;
}

const char *nd_event_type_name(nd_event_type_t type) {
        return (unsigned)type < ND_EV__CNT ? event_type_names[type] : "?";
}
const char *nd_channel_name(nd_channel_t channel) {
        return (unsigned)channel < ND_CHANNEL__CNT ? channel_names[channel]
                                                   : "?";
}
const char *nd_device_type_name(nd_device_type_t device_type) {
        return (unsigned)device_type < ND_DEVICE__CNT
                   ? device_type_names[device_type]
                   : "?";
}
const char *nd_trigger_type_name(nd_trigger_type_t trigger) {
        return (unsigned)trigger < ND_TRIGGER__CNT ? trigger_type_names[trigger]
                                                   : "?";
}
int nd_event_type_parse(const char *name, size_t len) {
        return parse_name(event_type_names, ND_EV__CNT, name, len);
}
int nd_channel_parse(const char *name, size_t len) {
        return parse_name(channel_names, ND_CHANNEL__CNT, name, len);
}
int nd_device_type_parse(const char *name, size_t len) {
        return parse_name(device_type_names, ND_DEVICE__CNT, name, len);
}
int nd_trigger_type_parse(const char *name, size_t len) {
        return parse_name(trigger_type_names, ND_TRIGGER__CNT, name, len);
}

const char *nd_event_type_topic(nd_event_type_t type) {
        if (type <= ND_EV_MESSAGE_CLICKED)
                return "clickstream";
        if (type <= ND_EV_CHECKOUT_STARTED)
                return "cart";
        if (type < ND_EV__CNT)
                return "purchase";
        return "?";
}

/* ------------------------------------------------------------------ */
/* Where reader fields go in C                                         */

enum dkind {
        D_NONE = 0, /* decode and drop */
        D_STR,      /* nd_str_t */
        D_I64,      /* int64_t (+ has_ flag) */
        D_BOOL,     /* bool */
        D_ENUM,     /* a C enum, through parse */
        D_REC,      /* a nested struct (+ presence flag) */
        D_LINES,    /* array of nd_line_item_t in the scratch */
        D_STRS,     /* array of nd_str_t in the scratch */
};

#define NO_OFF 0xffff

struct dst {
        const char *name;
        uint8_t kind;
        uint16_t off;     /* the field; D_LINES/D_STRS: the pointer */
        uint16_t has_off; /* has_ / presence flag, or NO_OFF */
        uint16_t cnt_off; /* D_LINES/D_STRS: the count */
        int (*parse)(const char *name, size_t len); /* D_ENUM */
        const struct dst *sub; /* D_REC/D_LINES: its fields */
};

#define F_(T, kind, f, has, cnt, parse, sub) \
        { #f, kind, offsetof(T, f), has, cnt, parse, sub }
#define FSTR(T, f)         F_(T, D_STR, f, NO_OFF, 0, NULL, NULL)
#define FI64(T, f, has)    F_(T, D_I64, f, offsetof(T, has), 0, NULL, NULL)
#define FI64_(T, f)        F_(T, D_I64, f, NO_OFF, 0, NULL, NULL)
#define FENUM(T, f, parse) F_(T, D_ENUM, f, NO_OFF, 0, parse, NULL)
#define FEND \
        { NULL, 0, 0, 0, 0, NULL, NULL }

static const struct dst product_dst[] = {
    FSTR(nd_product_t, sku), FSTR(nd_product_t, category),
    FI64(nd_product_t, price_cents, has_price), FSTR(nd_product_t, currency),
    FEND};

static const struct dst line_dst[] = {
    FSTR(nd_line_item_t, sku), FSTR(nd_line_item_t, category),
    FI64_(nd_line_item_t, quantity),
    FI64(nd_line_item_t, price_cents, has_price), FEND};

static const struct dst event_dst[] = {
    FSTR(nd_event_t, event_id),
    FENUM(nd_event_t, type, nd_event_type_parse),
    FSTR(nd_event_t, customer_id),
    FSTR(nd_event_t, anonymous_id),
    FI64_(nd_event_t, timestamp),
    FENUM(nd_event_t, channel, nd_channel_parse),
    FSTR(nd_event_t, device_id),
    FENUM(nd_event_t, device_type, nd_device_type_parse),
    FSTR(nd_event_t, session_id),
    F_(nd_event_t, D_REC, product, offsetof(nd_event_t, has_product), 0, NULL,
       product_dst),
    FSTR(nd_event_t, cart_id),
    FI64(nd_event_t, quantity, has_quantity),
    F_(nd_event_t, D_LINES, products, offsetof(nd_event_t, has_products),
       offsetof(nd_event_t, product_cnt), NULL, line_dst),
    FSTR(nd_event_t, order_id),
    FI64(nd_event_t, value_cents, has_value),
    FSTR(nd_event_t, currency),
    FSTR(nd_event_t, checkout_id),
    FSTR(nd_event_t, campaign_id),
    FSTR(nd_event_t, action_id),
    FEND};

static const struct dst catalog_dst[] = {
    FSTR(nd_product_rec_t, sku),
    FSTR(nd_product_rec_t, name),
    FSTR(nd_product_rec_t, category),
    FI64(nd_product_rec_t, price_cents, has_price),
    FSTR(nd_product_rec_t, currency),
    F_(nd_product_rec_t, D_BOOL, in_stock, NO_OFF, 0, NULL, NULL),
    F_(nd_product_rec_t, D_STRS, complements, NO_OFF,
       offsetof(nd_product_rec_t, complement_cnt), NULL, NULL),
    FEND};

/* The item of a D_STRS array: one nd_str_t at offset 0. */
static const struct dst str_item_dst = {"", D_STR, 0, NO_OFF, 0, NULL, NULL};

enum plan_kind { PLAN_EVENT = 1, PLAN_PRODUCT };

/* The reader schemas, by topic. */
static const struct reader_def {
        const char *file;
        const char *record; /* unqualified record name */
        enum plan_kind kind;
        const struct dst *dst;
} reader_defs[] = {
    {"clickstream.avsc", "ClickstreamEvent", PLAN_EVENT, event_dst},
    {"cart.avsc", "CartEvent", PLAN_EVENT, event_dst},
    {"purchase.avsc", "PurchaseEvent", PLAN_EVENT, event_dst},
    {"catalog.avsc", "CatalogProduct", PLAN_PRODUCT, catalog_dst},
};
#define READER_CNT ((int)(sizeof(reader_defs) / sizeof(reader_defs[0])))

/* ------------------------------------------------------------------ */
/* Plans                                                               */

enum opcode {
        OP_BOOL = 1,
        OP_INT,         /* zigzag varint, 32-bit */
        OP_LONG,        /* zigzag varint, 64-bit */
        OP_FLOAT,       /* 4 bytes, dropped (no float in the contract) */
        OP_DOUBLE,      /* 8 bytes, dropped */
        OP_STR,         /* string or bytes */
        OP_FIXED,       /* a bytes, dropped */
        OP_ENUM,        /* a symbols, map at b */
        OP_UNION,       /* a branches, table at b */
        OP_ARRAY,       /* item block follows; a = min item size; b = cnt_off */
        OP_MAP,         /* value block follows; dropped */
        OP_SET_TRUE,    /* bool at off := true (presence of a record) */
        OP_CONST_I64,   /* defaults: int64 k */
        OP_CONST_BOOL,  /* bool k */
        OP_CONST_ENUM,  /* int k */
        OP_CONST_STR,   /* the string consts[a] */
        OP_CONST_EMPTY, /* empty array: has flag := true, count 0 */
        OP_JUMP,        /* end of a union branch block: go to next */
        OP_NSTR,        /* ["null", string]: a fused union + OP_STR */
        OP_NLONG,       /* ["null", long] */
        OP_NINT,        /* ["null", int] */
};

struct op {
        uint8_t code;
        uint8_t dkind;
        uint16_t off;
        uint16_t has_off;
        uint16_t cnt_off;
        uint32_t next; /* index of the next op of the enclosing block */
        uint32_t a, b;
        uint32_t path; /* offset of the field path in the pool */
        int64_t k;
};

enum br_kind { BR_BLOCK = 0, BR_MISSING, BR_MISMATCH };

struct branch {
        uint8_t kind;
        uint32_t start, end;
        uint32_t name; /* pool offset: the writer branch's type name */
};

struct nd_serde_s;

/* A specialised decoder (see "Specialised decoders"): decodes the record
 * at p (reading below end) into out and returns where it ends; NULL sends
 * the record to the plan interpreter, which then decodes it or says
 * precisely what is wrong. */
typedef const uint8_t *(*fast_fn)(struct nd_serde_s *serde, const uint8_t *p,
                                  const uint8_t *end, void *out);

struct plan {
        enum plan_kind kind;
        const char *reader; /* record name, static */
        fast_fn fast;       /* NULL: the interpreter only */
        struct op *ops;
        uint32_t op_cnt, op_cap;
        struct branch *br;
        uint32_t br_cnt, br_cap;
        int32_t *emap;  /* writer enum index -> C value, -1 unknown */
        uint32_t *esym; /* writer enum index -> pool offset of the symbol */
        uint32_t emap_cnt, emap_cap;
        nd_str_t *consts;
        uint32_t const_cnt;
        char *pool;
        uint32_t pool_len, pool_cap;
};

static void plan_destroy(struct plan *pl) {
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

static nd_err_t plan_build(avro_schema_t w, const struct reader_def *rd,
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
                plan_destroy(b.pl);
                return err;
        }
        *out = b.pl;
        return ND_OK;
}

/*
 * The signature of a plan: everything the interpreter does with a record,
 * serialised (ops, branch tables, enum maps; not the field paths, which
 * only feed error texts). Two plans with the same signature decode the
 * same bytes into the same fields the same way.
 */
static char *plan_signature(const struct plan *pl, size_t *lenp) {
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

static uint64_t fnv1a(const char *s, size_t n) {
        uint64_t h = 0xcbf29ce484222325ULL;
        for (size_t i = 0; i < n; i++)
                h = (h ^ (uint8_t)s[i]) * 0x100000001b3ULL;
        return h;
}

static fast_fn const fast_fns[READER_CNT];
static const uint64_t fast_sigs[READER_CNT];

/* Gives pl the specialised decoder of reader ri when its signature is the
 * one that decoder was written for (the writer schema has the reader's
 * layout: the common case of producers on the current schema). */
static void plan_specialise(struct plan *pl, const char *canon, int ri,
                            unsigned flags) {
        size_t n;
        char *sig;
        if (!canon || (flags & ND_SERDE_F_NO_FAST))
                return;
        sig = plan_signature(pl, &n);
        if (strlen(canon) == n && memcmp(sig, canon, n) == 0)
                pl->fast = fast_fns[ri];
        nd_free(sig);
}

/* ------------------------------------------------------------------ */
/* The decoder object                                                  */

struct reader {
        avro_schema_t schema;
        json_t *json;  /* the parsed .avsc */
        json_t *named; /* unqualified name -> its JSON, for defaults */
        char *text;
        size_t text_len;
};

/* Negative cache life of an id the registry does not know. */
#define ND_SERDE_UNKNOWN_TTL_MS 30000
#define ND_SERDE_MAX_FAILED     1024

struct entry {
        int32_t id;
        struct plan *plan; /* NULL: failed */
        nd_err_t err;
        char *errtext;
        int64_t expires_ms; /* failed entries: 0 = never */
};

struct nd_serde_s {
        nd_serde_conf_t conf;
        char *schema_dir;
        char *registry_url;
        struct reader readers[READER_CNT];
        struct entry *ents;
        int ent_cnt, ent_cap, failed_cnt;
        int last; /* index of the last entry used */
        nd_schema_registry_t *reg;
        nd_serde_stats_t stats;
        nd_line_item_t lines[ND_EVENT_MAX_ITEMS];
        nd_str_t strs[ND_PRODUCT_MAX_COMPLEMENTS];
        nd_json_dec_t json;
        /* per reader: the signature of its plan against itself when the
         * specialised decoder matches it, else NULL (interpreter only) */
        char *fast_sig[READER_CNT];
};

/* WHY a lock: avro-c's schema parser reports errors through one global
 * buffer (avro_strerror), so parses on several worker threads at once would
 * mix up messages. Only schema parsing and plan compiling take it: never
 * the decode path. */
static pthread_mutex_t avro_lock = PTHREAD_MUTEX_INITIALIZER;

static void collect_named(json_t *node, json_t *named) {
        size_t i;
        json_t *v;
        const char *key;
        if (json_is_array(node)) {
                json_array_foreach(node, i, v) collect_named(v, named);
                return;
        }
        if (!json_is_object(node))
                return;
        {
                const char *type =
                    json_string_value(json_object_get(node, "type"));
                const char *name =
                    json_string_value(json_object_get(node, "name"));
                if (type && name &&
                    (!strcmp(type, "record") || !strcmp(type, "enum") ||
                     !strcmp(type, "error"))) {
                        const char *dot = strrchr(name, '.');
                        json_object_set(named, dot ? dot + 1 : name, node);
                }
        }
        json_object_foreach(node, key, v) {
                if (!strcmp(key, "default"))
                        continue;
                collect_named(v, named);
        }
}

static nd_err_t read_file(const char *path, char **textp, size_t *lenp,
                          char *errstr, size_t errstr_size) {
        FILE *f = fopen(path, "rb");
        char *text = NULL;
        long n;
        if (!f) {
                snprintf(errstr, errstr_size, "cannot open %s: %s", path,
                         strerror(errno));
                return ND_ERR_IO;
        }
        if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
            fseek(f, 0, SEEK_SET) != 0) {
                fclose(f);
                snprintf(errstr, errstr_size, "cannot read %s", path);
                return ND_ERR_IO;
        }
        text = nd_malloc((size_t)n + 1);
        if (fread(text, 1, (size_t)n, f) != (size_t)n) {
                fclose(f);
                nd_free(text);
                snprintf(errstr, errstr_size, "cannot read %s", path);
                return ND_ERR_IO;
        }
        fclose(f);
        text[n] = '\0';
        *textp = text;
        *lenp = (size_t)n;
        return ND_OK;
}

static void canonical_signature(nd_serde_t *serde, int i);

static nd_err_t load_reader(nd_serde_t *serde, int i, char *errstr,
                            size_t errstr_size) {
        struct reader *rd = &serde->readers[i];
        char path[1024];
        json_error_t jerr;
        nd_err_t err;

        snprintf(path, sizeof(path), "%s/%s", serde->schema_dir,
                 reader_defs[i].file);
        if ((err = read_file(path, &rd->text, &rd->text_len, errstr,
                             errstr_size)))
                return err;
        pthread_mutex_lock(&avro_lock);
        if (avro_schema_from_json_length(rd->text, rd->text_len, &rd->schema)) {
                snprintf(errstr, errstr_size, "%s: %s", path, avro_strerror());
                rd->schema = NULL;
                pthread_mutex_unlock(&avro_lock);
                return ND_ERR_CONFIG;
        }
        pthread_mutex_unlock(&avro_lock);
        rd->json = json_loadb(rd->text, rd->text_len, 0, &jerr);
        if (!rd->json) {
                snprintf(errstr, errstr_size, "%s:%d: %s", path, jerr.line,
                         jerr.text);
                return ND_ERR_CONFIG;
        }
        rd->named = json_object();
        collect_named(rd->json, rd->named);
        if (avro_typeof(rd->schema) != AVRO_RECORD ||
            strcmp(avro_schema_name(rd->schema), reader_defs[i].record)) {
                snprintf(errstr, errstr_size, "%s: expected record %s", path,
                         reader_defs[i].record);
                return ND_ERR_CONFIG;
        }
        canonical_signature(serde, i);
        return ND_OK;
}

/*
 * The reader's plan against itself: when its signature hashes to the one
 * the specialised decoder of this reader was written for, writer plans
 * with this signature get that decoder. A reader schema edited without
 * updating the decoder keeps working, on the interpreter only
 * (tests/unit/test_serde.c checks that the shipped schemas are covered).
 */
static void canonical_signature(nd_serde_t *serde, int i) {
        struct reader *rd = &serde->readers[i];
        struct plan *pl = NULL;
        char *sig;
        size_t n;
        uint64_t h;

        pthread_mutex_lock(&avro_lock);
        if (plan_build(rd->schema, &reader_defs[i], rd->schema, rd->named, &pl,
                       NULL, 0) != ND_OK) {
                pthread_mutex_unlock(&avro_lock);
                return;
        }
        pthread_mutex_unlock(&avro_lock);
        sig = plan_signature(pl, &n);
        plan_destroy(pl);
        h = fnv1a(sig, n);
        if (h == fast_sigs[i]) {
                serde->fast_sig[i] = sig;
                return;
        }
        nd_log_warn("serde",
                    "%s: signature %016" PRIx64 " is not the specialised "
                    "decoder's %016" PRIx64 ": decoding with the plan "
                    "interpreter only",
                    reader_defs[i].file, h, fast_sigs[i]);
        nd_free(sig);
}

static void entry_free(struct entry *e) {
        plan_destroy(e->plan);
        nd_free(e->errtext);
}

void nd_serde_destroy(nd_serde_t *serde) {
        if (!serde)
                return;
        for (int i = 0; i < serde->ent_cnt; i++)
                entry_free(&serde->ents[i]);
        nd_free(serde->ents);
        for (int i = 0; i < READER_CNT; i++) {
                struct reader *rd = &serde->readers[i];
                if (rd->schema) {
                        pthread_mutex_lock(&avro_lock);
                        avro_schema_decref(rd->schema);
                        pthread_mutex_unlock(&avro_lock);
                }
                json_decref(rd->json);
                json_decref(rd->named);
                nd_free(rd->text);
                nd_free(serde->fast_sig[i]);
        }
        nd_json_dec_fini(&serde->json);
        nd_schema_registry_destroy(serde->reg);
        nd_free(serde->schema_dir);
        nd_free(serde->registry_url);
        nd_free(serde);
}

void nd_serde_conf_from_config(nd_serde_conf_t *conf,
                               const struct nd_config_s *cfg) {
        memset(conf, 0, sizeof(*conf));
        conf->schema_dir = cfg->schema_dir;
        conf->registry_url = cfg->schema_registry_url;
        conf->id_clickstream = (int32_t)cfg->schema_id_clickstream;
        conf->id_cart = (int32_t)cfg->schema_id_cart;
        conf->id_purchase = (int32_t)cfg->schema_id_purchase;
        conf->id_catalog = (int32_t)cfg->schema_id_catalog;
        conf->id_action = (int32_t)cfg->schema_id_action;
}

static struct entry *entry_slot(nd_serde_t *serde, int32_t id) {
        for (int i = 0; i < serde->ent_cnt; i++) {
                if (serde->ents[i].id == id) {
                        if (!serde->ents[i].plan)
                                serde->failed_cnt--;
                        entry_free(&serde->ents[i]);
                        memset(&serde->ents[i], 0, sizeof(serde->ents[i]));
                        serde->ents[i].id = id;
                        return &serde->ents[i];
                }
        }
        if (serde->ent_cnt == serde->ent_cap) {
                serde->ent_cap = serde->ent_cap ? serde->ent_cap * 2 : 8;
                serde->ents = nd_realloc(serde->ents, (size_t)serde->ent_cap *
                                                          sizeof(*serde->ents));
        }
        memset(&serde->ents[serde->ent_cnt], 0, sizeof(serde->ents[0]));
        serde->ents[serde->ent_cnt].id = id;
        return &serde->ents[serde->ent_cnt++];
}

static void entry_fail(nd_serde_t *serde, struct entry *e, nd_err_t err,
                       const char *text, int64_t ttl_ms) {
        e->err = err;
        e->errtext = nd_strdup(text);
        e->expires_ms = ttl_ms ? nd_clock_mono_ms() + ttl_ms : 0;
        if (++serde->failed_cnt > ND_SERDE_MAX_FAILED) {
                /* WHY: ids come from input; a flood of random ids must not
                 * grow the cache without bound. Drop one failed entry. */
                for (int i = 0; i < serde->ent_cnt; i++) {
                        struct entry *f = &serde->ents[i];
                        if (f != e && !f->plan) {
                                entry_free(f);
                                *f = serde->ents[--serde->ent_cnt];
                                serde->failed_cnt--;
                                break;
                        }
                }
        }
}

/* Parses writer schema json and compiles its plan against the reader of
 * the same record name. what names the schema in texts ("schema id 7"). */
/*
 * A schema may not define a name twice (Avro spec, "Names"). avro-c 1.11
 * accepts such a schema and leaks the first definition (found by the OCF
 * fuzzer), so writer schemas from files and registries are checked here,
 * with jansson, before avro-c parses them. Full names: a dotted name is
 * full, else it takes the nearest enclosing namespace.
 */
static bool defines_twice(json_t *j, const char *ns, json_t *seen, int depth,
                          char *dup, size_t dup_size) {
        if (depth > ND_SERDE_MAX_DEPTH)
                return false;
        if (json_is_array(j)) {
                size_t i;
                json_t *v;
                json_array_foreach(
                    j, i, v) if (defines_twice(v, ns, seen, depth + 1, dup,
                                               dup_size)) return true;
                return false;
        }
        if (!json_is_object(j))
                return false;
        {
                const char *type =
                    json_string_value(json_object_get(j, "type"));
                const char *name =
                    json_string_value(json_object_get(j, "name"));
                const char *own =
                    json_string_value(json_object_get(j, "namespace"));
                char full[512];
                char inner[512]; /* per frame: recursion nests names */
                const char *k;
                json_t *v;
                if (own)
                        ns = own;
                if (type && name &&
                    (!strcmp(type, "record") || !strcmp(type, "error") ||
                     !strcmp(type, "enum") || !strcmp(type, "fixed"))) {
                        if (strchr(name, '.') || !ns || !*ns)
                                snprintf(full, sizeof(full), "%s", name);
                        else
                                snprintf(full, sizeof(full), "%s.%s", ns, name);
                        if (json_object_get(seen, full)) {
                                snprintf(dup, dup_size, "%s", full);
                                return true;
                        }
                        json_object_set_new(seen, full, json_true());
                        if (strchr(name, '.')) {
                                /* a full name sets the namespace inside */
                                snprintf(inner, sizeof(inner), "%.*s",
                                         (int)(strrchr(name, '.') - name),
                                         name);
                                ns = inner;
                        }
                }
                json_object_foreach(
                    j, k, v) if ((json_is_object(v) || json_is_array(v)) &&
                                 defines_twice(v, ns, seen, depth + 1, dup,
                                               dup_size)) return true;
        }
        return false;
}

/* ND_OK, or ND_ERR_UNKNOWN_SCHEMA with text when json defines a name twice. */
static nd_err_t check_names(const char *json, size_t len, const char *what,
                            char *text, size_t text_size) {
        json_t *doc = json_loadb(json, len, 0, NULL), *seen;
        char dup[512];
        bool bad;
        if (!doc)
                return ND_OK; /* avro-c reports the parse error */
        seen = json_object();
        bad = defines_twice(doc, NULL, seen, 0, dup, sizeof(dup));
        json_decref(seen);
        json_decref(doc);
        if (!bad)
                return ND_OK;
        snprintf(text, text_size, "%s defines the name %.200s twice", what,
                 dup);
        return ND_ERR_UNKNOWN_SCHEMA;
}

static nd_err_t writer_plan(nd_serde_t *serde, const char *json, size_t len,
                            const char *what, struct plan **plp, int *rip,
                            char *text, size_t text_size) {
        avro_schema_t w = NULL;
        nd_err_t err = ND_OK;
        char detail[400];
        int ri = -1;

        *plp = NULL;
        text[0] = '\0';
        if ((err = check_names(json, len, what, text, text_size)) != ND_OK) {
                *rip = -1;
                return err;
        }
        pthread_mutex_lock(&avro_lock);
        if (avro_schema_from_json_length(json, len, &w)) {
                snprintf(text, text_size, "%s does not parse: %s", what,
                         avro_strerror());
                w = NULL;
                err = ND_ERR_UNKNOWN_SCHEMA;
                goto out;
        }
        if (avro_typeof(w) == AVRO_RECORD)
                for (int i = 0; i < READER_CNT; i++)
                        if (!strcmp(avro_schema_name(w), reader_defs[i].record))
                                ri = i;
        if (ri < 0) {
                snprintf(text, text_size, "%s is %s %s, not one nudge reads",
                         what, avro_schema_type_name(w),
                         avro_typeof(w) == AVRO_RECORD ? avro_schema_name(w)
                                                       : "");
                err = ND_ERR_UNKNOWN_SCHEMA;
                goto out;
        }
        err = plan_build(w, &reader_defs[ri], serde->readers[ri].schema,
                         serde->readers[ri].named, plp, detail, sizeof(detail));
        if (err)
                snprintf(text, text_size, "%s as %s: %.400s", what,
                         reader_defs[ri].record, detail);
        else
                plan_specialise(*plp, serde->fast_sig[ri], ri,
                                serde->conf.flags);
out:
        if (w)
                avro_schema_decref(w);
        pthread_mutex_unlock(&avro_lock);
        *rip = ri;
        return err;
}

nd_err_t nd_serde_add_schema(nd_serde_t *serde, int32_t id, const char *json,
                             size_t len, char *errstr, size_t errstr_size) {
        struct plan *pl = NULL;
        struct entry *e;
        nd_err_t err;
        char text[512], what[32];
        int ri;

        snprintf(what, sizeof(what), "schema id %d", (int)id);
        err = writer_plan(serde, json, len, what, &pl, &ri, text, sizeof(text));
        e = entry_slot(serde, id);
        if (err) {
                entry_fail(serde, e, err, text, 0);
                snprintf(errstr, errstr_size, "%s", text);
                return err;
        }
        e->plan = pl;
        serde->stats.plans++;
        return ND_OK;
}

struct nd_serde_plan_s {
        struct plan *pl;
        int reader; /* index in reader_defs */
};

static const char *const reader_topics[READER_CNT] = {"clickstream", "cart",
                                                      "purchase", "catalog"};

nd_err_t nd_serde_plan_new(nd_serde_t *serde, const char *json, size_t len,
                           nd_serde_plan_t **planp, const char **topicp,
                           char *errstr, size_t errstr_size) {
        struct plan *pl;
        char text[512];
        int ri;
        nd_err_t err;

        *planp = NULL;
        err = writer_plan(serde, json, len, "writer schema", &pl, &ri, text,
                          sizeof(text));
        if (err) {
                snprintf(errstr, errstr_size, "%s", text);
                return err;
        }
        serde->stats.plans++;
        *planp = nd_calloc(1, sizeof(**planp));
        (*planp)->pl = pl;
        (*planp)->reader = ri;
        if (topicp)
                *topicp = reader_topics[ri];
        return ND_OK;
}

void nd_serde_plan_destroy(nd_serde_plan_t *plan) {
        if (!plan)
                return;
        plan_destroy(plan->pl);
        nd_free(plan);
}

bool nd_serde_plan_is_event(const nd_serde_plan_t *plan) {
        return plan->pl->kind == PLAN_EVENT;
}

const char *nd_serde_reader_schema(const nd_serde_t *serde, const char *topic,
                                   size_t *lenp) {
        for (int i = 0; i < READER_CNT; i++)
                if (!strcmp(topic, reader_topics[i])) {
                        if (lenp)
                                *lenp = serde->readers[i].text_len;
                        return serde->readers[i].text;
                }
        return NULL;
}

nd_err_t nd_serde_new(const nd_serde_conf_t *conf, nd_serde_t **serdep,
                      char *errstr, size_t errstr_size) {
        nd_serde_t *serde;
        nd_err_t err;
        const struct {
                int32_t id;
                int reader;
        } local[] = {{conf->id_clickstream, 0},
                     {conf->id_cart, 1},
                     {conf->id_purchase, 2},
                     {conf->id_catalog, 3}};

        *serdep = NULL;
        serde = nd_calloc(1, sizeof(*serde));
        serde->conf = *conf;
        serde->schema_dir = nd_strdup(conf->schema_dir && *conf->schema_dir
                                          ? conf->schema_dir
                                          : ND_SOURCE_DIR "/schemas");
        serde->conf.schema_dir = serde->schema_dir;
        if (conf->registry_url && *conf->registry_url) {
                serde->registry_url = nd_strdup(conf->registry_url);
                serde->conf.registry_url = serde->registry_url;
        } else {
                serde->conf.registry_url = NULL;
        }
        nd_json_dec_init(&serde->json);
        for (int i = 0; i < READER_CNT; i++)
                if ((err = load_reader(serde, i, errstr, errstr_size)))
                        goto fail;
        if (serde->registry_url) {
                err = nd_schema_registry_new(serde->registry_url,
                                             conf->registry_timeout_ms,
                                             &serde->reg, errstr, errstr_size);
                if (err)
                        goto fail;
        } else {
                for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
                        struct reader *rd = &serde->readers[local[i].reader];
                        if (local[i].id <= 0)
                                continue;
                        err = nd_serde_add_schema(serde, local[i].id, rd->text,
                                                  rd->text_len, errstr,
                                                  errstr_size);
                        if (err) {
                                err = ND_ERR_CONFIG;
                                goto fail;
                        }
                }
        }
        *serdep = serde;
        return ND_OK;
fail:
        nd_serde_destroy(serde);
        return err;
}

void nd_serde_stats(const nd_serde_t *serde, nd_serde_stats_t *stats) {
        *stats = serde->stats;
}

/* The entry of id: cached, fetched from the registry, or an error. */
static nd_err_t find_plan(nd_serde_t *serde, int32_t id,
                          const struct plan **plp, char *errstr,
                          size_t errstr_size) {
        struct entry *e = NULL;
        const char *text;
        size_t len;
        nd_err_t err;
        char msg[512];

        if (serde->last < serde->ent_cnt && serde->ents[serde->last].id == id)
                e = &serde->ents[serde->last];
        else
                for (int i = 0; i < serde->ent_cnt; i++)
                        if (serde->ents[i].id == id) {
                                e = &serde->ents[i];
                                serde->last = i;
                                break;
                        }
        if (e && !e->plan && e->expires_ms &&
            nd_clock_mono_ms() >= e->expires_ms)
                e = NULL; /* ask the registry again */
        if (e) {
                if (e->plan) {
                        *plp = e->plan;
                        return ND_OK;
                }
                snprintf(errstr, errstr_size, "%s", e->errtext);
                return e->err;
        }
        if (!serde->reg) {
                snprintf(errstr, errstr_size,
                         "schema id %d is not configured (schema.ids: "
                         "clickstream=%d cart=%d purchase=%d catalog=%d)",
                         (int)id, (int)serde->conf.id_clickstream,
                         (int)serde->conf.id_cart, (int)serde->conf.id_purchase,
                         (int)serde->conf.id_catalog);
                return ND_ERR_UNKNOWN_SCHEMA;
        }
        err = nd_schema_registry_get(serde->reg, id, &text, &len, msg,
                                     sizeof(msg));
        if (err == ND_OK) {
                serde->stats.registry_fetches++;
                err =
                    nd_serde_add_schema(serde, id, text, len, msg, sizeof(msg));
        } else if (err == ND_ERR_UNKNOWN_SCHEMA) {
                entry_fail(serde, entry_slot(serde, id), err, msg,
                           ND_SERDE_UNKNOWN_TTL_MS);
        }
        if (err) {
                snprintf(errstr, errstr_size, "%s", msg);
                return err;
        }
        return find_plan(serde, id, plp, errstr, errstr_size);
}

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

/* Zigzag decoding of a varint's raw bits. */
#define ZZ64(u) ((int64_t)((u) >> 1) ^ -(int64_t)((u)&1))
#define ZZ32(u) ((int64_t)(int32_t)((uint32_t)((u) >> 1) ^ -(uint32_t)((u)&1)))

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

/* ------------------------------------------------------------------ */
/* Specialised decoders                                                */

/*
 * WHY: the plan interpreter pays a dispatch, an end check and a few loads
 * from the op per field (about 3 ns a field here); a record of our own
 * schemas has ~17 fields, and the issue's bar (20x avro-c) leaves about
 * 35 ns for all of them. So the four reader schemas also have a decoder
 * written out in C, run when a writer plan has exactly the signature of
 * the reader's own plan (plan_specialise): the field order, types, unions
 * and enum maps it was written for. Producers on the current schemas hit
 * it; any other writer schema, and any record these functions do not
 * accept, goes to the interpreter, which decodes it or reports the precise
 * error. So these functions never explain anything: false means "ask the
 * interpreter". Their correctness is checked against the interpreter and
 * avro-c by tests/unit/test_serde_diff.c (writer = reader, every branch)
 * and the fuzzers; a schema edit that changes the signature switches them
 * off (canonical_signature) rather than making them wrong.
 *
 * The reader schemas' field orders are in schemas/<topic>.avsc; enum symbols
 * are in the C enums' order, so an enum index is the C value (plus the
 * topic's first type for `type`).
 */

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

/* In reader_defs order. The signatures: fnv1a(plan_signature()) of each
 * shipped reader schema against itself; update them together with the
 * decoders when a schema changes (nd_serde_new logs the new value). */
static fast_fn const fast_fns[READER_CNT] = {sp_clickstream, sp_cart,
                                             sp_purchase, sp_catalog};
static const uint64_t fast_sigs[READER_CNT] = {
    0xb449126b2d4223ccULL, 0xe623030784393947ULL, 0xcf1e054b0a472f99ULL,
    0x5c077eaaa9e71ff1ULL};

static inline void event_reset(nd_event_t *ev);
static void product_reset(nd_product_rec_t *prod);

/*
 * Runs plan pl over the record at p (start: where messages count bytes
 * from). usedp NULL: the record must end exactly at end; else *usedp is
 * the length it took.
 */
static nd_err_t run_plan(nd_serde_t *serde, const struct plan *pl,
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
                        event_reset(out);
                else
                        product_reset(out);
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

/* Frame + plan + run; *kind says what the plan decodes into. */
static nd_err_t decode_frame(nd_serde_t *serde, const void *buf, size_t len,
                             enum plan_kind want, void *out, char *errstr,
                             size_t errstr_size) {
        const uint8_t *b = buf;
        const struct plan *pl;
        int32_t id;
        nd_err_t err;

        if (len < 5 || !buf) {
                snprintf(errstr, errstr_size,
                         "record of %zu bytes is shorter than the 5-byte "
                         "Confluent frame",
                         len);
                return ND_ERR_TRUNCATED;
        }
        if (b[0] != 0) {
                snprintf(errstr, errstr_size,
                         "magic byte is 0x%02x, expected 0x00", b[0]);
                return ND_ERR_BAD_MAGIC;
        }
        id = (int32_t)((uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
                       (uint32_t)b[3] << 8 | b[4]);
        if ((err = find_plan(serde, id, &pl, errstr, errstr_size)))
                return err;
        if (pl->kind != want) {
                snprintf(errstr, errstr_size, "schema id %d is %s, not %s",
                         (int)id, pl->reader,
                         want == PLAN_EVENT ? "an event schema"
                                            : "the catalog schema");
                return ND_ERR_UNKNOWN_SCHEMA;
        }
        return run_plan(serde, pl, b, b + 5, b + len, out, NULL, errstr,
                        errstr_size);
}

/* WHY not memset: for this 336-byte struct gcc emits `rep stos`, whose
 * start-up cost was ~15% of a whole decode; 8-byte stores (unrolled, may
 * alias anything) are several times cheaper. */
typedef uint64_t u64_alias __attribute__((may_alias));
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static inline void
event_reset(nd_event_t *ev) {
        u64_alias *w = (u64_alias *)(void *)ev;
        _Static_assert(sizeof(*ev) % 8 == 0, "nd_event_t is 8-byte sized");
#pragma GCC unroll 64
        for (size_t i = 0; i < sizeof(*ev) / 8; i++)
                w[i] = 0;
        ev->quantity = 1;
        ev->channel = ND_CHANNEL_OTHER;
        ev->device_type = ND_DEVICE_UNKNOWN;
}

static void event_set_key(nd_event_t *ev) {
        ev->key_is_customer = !nd_str_is_null(ev->customer_id);
        ev->key = ev->key_is_customer ? ev->customer_id : ev->anonymous_id;
        if (nd_str_is_null(ev->key))
                ev->key = ND_STR_NULL;
}

static inline nd_err_t check_event(const nd_event_t *ev, char *errstr,
                                   size_t errstr_size);

static inline nd_err_t finish_event(nd_serde_t *serde, nd_err_t err,
                                    nd_event_t *ev, char *errstr,
                                    size_t errstr_size) {
        if (err == ND_OK) {
                event_set_key(ev);
                if (!(serde->conf.flags & ND_SERDE_F_NO_VALIDATE))
                        err = check_event(ev, errstr, errstr_size);
        }
        if (err)
                serde->stats.failed++;
        else
                serde->stats.decoded++;
        return err;
}

nd_err_t nd_serde_decode(nd_serde_t *serde, const void *buf, size_t len,
                         nd_event_t *ev, char *errstr, size_t errstr_size) {
        const uint8_t *b = buf;
        nd_err_t err;

        event_reset(ev);
        /* WHY a second way in: the common record (the id of the last one,
         * a specialised plan) skips find_plan and the interpreter's setup;
         * a few ns of the ~30 a record costs. Anything else, and anything
         * the specialised decoder refuses, takes the general path. */
        if (__builtin_expect(len >= 5 && b && b[0] == 0 &&
                                 serde->last < serde->ent_cnt,
                             1)) {
                const struct entry *e = &serde->ents[serde->last];
                int32_t id =
                    (int32_t)((uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
                              (uint32_t)b[3] << 8 | b[4]);
                if (e->id == id && e->plan && e->plan->fast &&
                    e->plan->kind == PLAN_EVENT) {
                        if (e->plan->fast(serde, b + 5, b + len, ev) ==
                            b + len) {
                                serde->stats.decoded_fast++;
                                return finish_event(serde, ND_OK, ev, errstr,
                                                    errstr_size);
                        }
                        event_reset(ev);
                }
        }
        err =
            decode_frame(serde, buf, len, PLAN_EVENT, ev, errstr, errstr_size);
        return finish_event(serde, err, ev, errstr, errstr_size);
}

nd_err_t nd_serde_decode_body(nd_serde_t *serde, const nd_serde_plan_t *plan,
                              const void *buf, size_t len, nd_event_t *ev,
                              size_t *usedp, char *errstr, size_t errstr_size) {
        const uint8_t *b = buf;
        size_t used = 0;
        nd_err_t err;

        *usedp = 0;
        event_reset(ev);
        if (plan->pl->kind != PLAN_EVENT) {
                snprintf(errstr, errstr_size,
                         "the writer schema is %s, not an event schema",
                         plan->pl->reader);
                err = ND_ERR_UNKNOWN_SCHEMA;
        } else {
                err = run_plan(serde, plan->pl, b, b, b + len, ev, &used,
                               errstr, errstr_size);
        }
        err = finish_event(serde, err, ev, errstr, errstr_size);
        if (used && (err == ND_OK || err == ND_ERR_MISSING_FIELD))
                *usedp = used;
        return err;
}

nd_err_t nd_serde_decode_json(nd_serde_t *serde, const void *buf, size_t len,
                              nd_event_t *ev, char *errstr,
                              size_t errstr_size) {
        nd_err_t err = nd_json_decode_event(&serde->json, buf, len, ev, errstr,
                                            errstr_size);
        return finish_event(serde, err, ev, errstr, errstr_size);
}

static nd_err_t finish_product(nd_serde_t *serde, nd_err_t err,
                               nd_product_rec_t *prod, char *errstr,
                               size_t errstr_size) {
        if (err == ND_OK && !(serde->conf.flags & ND_SERDE_F_NO_VALIDATE) &&
            nd_str_is_null(prod->sku)) {
                snprintf(errstr, errstr_size, "field 'sku' is empty");
                err = ND_ERR_MISSING_FIELD;
        }
        if (err)
                serde->stats.failed++;
        else
                serde->stats.decoded++;
        return err;
}

static void product_reset(nd_product_rec_t *prod) {
        memset(prod, 0, sizeof(*prod));
        prod->in_stock = true;
}

nd_err_t nd_serde_decode_product(nd_serde_t *serde, const void *buf, size_t len,
                                 nd_product_rec_t *prod, char *errstr,
                                 size_t errstr_size) {
        nd_err_t err;
        product_reset(prod);
        err = decode_frame(serde, buf, len, PLAN_PRODUCT, prod, errstr,
                           errstr_size);
        return finish_product(serde, err, prod, errstr, errstr_size);
}

nd_err_t nd_serde_decode_product_json(nd_serde_t *serde, const void *buf,
                                      size_t len, nd_product_rec_t *prod,
                                      char *errstr, size_t errstr_size) {
        nd_err_t err = nd_json_decode_product(&serde->json, buf, len, prod,
                                              errstr, errstr_size);
        return finish_product(serde, err, prod, errstr, errstr_size);
}

/* ------------------------------------------------------------------ */
/* Contract checks                                                     */

/* The contract checks on a const event; the key is derived from the ids,
 * not read from ev->key. */
static inline nd_err_t check_event(const nd_event_t *ev, char *errstr,
                                   size_t errstr_size) {
        const char *missing = NULL;

        if (nd_str_is_null(ev->event_id))
                missing = "event_id";
        else if (nd_str_is_null(ev->customer_id) &&
                 nd_str_is_null(ev->anonymous_id))
                missing = "customer_id or anonymous_id";
        else if ((unsigned)ev->type >= ND_EV__CNT)
                missing = "type";
        if (!missing) {
                switch (ev->type) {
                case ND_EV_PRODUCT_VIEWED:
                case ND_EV_PRODUCT_ADDED:
                case ND_EV_PRODUCT_REMOVED:
                        if (!ev->has_product || nd_str_is_null(ev->product.sku))
                                missing = "product.sku";
                        break;
                case ND_EV_ORDER_COMPLETED:
                case ND_EV_ORDER_REFUNDED:
                case ND_EV_ORDER_CANCELLED:
                        if (nd_str_is_null(ev->order_id))
                                missing = "order_id";
                        break;
                case ND_EV_MESSAGE_CLICKED:
                        if (nd_str_is_null(ev->campaign_id))
                                missing = "campaign_id";
                        break;
                default:
                        break;
                }
        }
        if (!missing && ev->has_product && nd_str_is_null(ev->product.sku))
                missing = "product.sku";
        for (uint32_t i = 0; !missing && i < ev->product_cnt; i++) {
                if (nd_str_is_null(ev->products[i].sku)) {
                        if (errstr && errstr_size)
                                snprintf(errstr, errstr_size,
                                         "field 'products[%u].sku' is empty "
                                         "on %s",
                                         (unsigned)i,
                                         nd_event_type_name(ev->type));
                        return ND_ERR_MISSING_FIELD;
                }
        }
        if (missing) {
                if (errstr && errstr_size)
                        snprintf(errstr, errstr_size,
                                 "field '%s' is empty on %s", missing,
                                 nd_event_type_name(ev->type));
                return ND_ERR_MISSING_FIELD;
        }
        return ND_OK;
}

nd_err_t nd_serde_validate_event(nd_event_t *ev, char *errstr,
                                 size_t errstr_size) {
        event_set_key(ev);
        return check_event(ev, errstr, errstr_size);
}

nd_err_t nd_serde_check_key(const nd_event_t *ev, const void *key,
                            size_t key_len, char *errstr, size_t errstr_size) {
        nd_str_t k = {key, (uint32_t)key_len};
        if (key_len <= UINT32_MAX && (key_len == 0 || key) &&
            nd_str_eq(k, ev->key) && !nd_str_is_null(ev->key))
                return ND_OK;
        snprintf(errstr, errstr_size,
                 "Kafka key '%.*s' is not the customer key '%.*s' (%s)",
                 key ? (int)(key_len > 64 ? 64 : key_len) : 0,
                 key ? (const char *)key : "",
                 (int)(ev->key.len > 64 ? 64 : ev->key.len),
                 ev->key.p ? ev->key.p : "",
                 ev->key_is_customer ? "customer_id" : "anonymous_id");
        return ND_ERR_WRONG_KEY;
}

/* ------------------------------------------------------------------ */
/* Encoding actions                                                    */

/* A bounded writer that keeps counting past cap (for *lenp): once
 * something does not fit, nothing more is written, only counted. WHY
 * always_inline: with the event and catalog encoders as further callers,
 * gcc stopped inlining these and the action encoder got 30% slower. */
#define W_INLINE static inline __attribute__((always_inline))
struct wbuf {
        uint8_t *p, *end;
        size_t over;
};

W_INLINE void w_bytes(struct wbuf *w, const void *src, size_t n) {
        if ((size_t)(w->end - w->p) >= n) {
                memcpy(w->p, src, n);
                w->p += n;
        } else {
                w->end = w->p;
                w->over += n;
        }
}

W_INLINE void w_long(struct wbuf *w, int64_t v) {
        uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
        if (w->end - w->p >= 10) {
                while (u >= 0x80) {
                        *w->p++ = (uint8_t)(u | 0x80);
                        u >>= 7;
                }
                *w->p++ = (uint8_t)u;
        } else {
                uint8_t tmp[10];
                size_t n = 0;
                while (u >= 0x80) {
                        tmp[n++] = (uint8_t)(u | 0x80);
                        u >>= 7;
                }
                tmp[n++] = (uint8_t)u;
                w_bytes(w, tmp, n);
        }
}

/* A one-byte varint (0..63), the union indexes and enum symbols. */
W_INLINE void w_small(struct wbuf *w, unsigned v) {
        uint8_t b = (uint8_t)(v << 1);
        w_bytes(w, &b, 1);
}

W_INLINE void w_str(struct wbuf *w, nd_str_t s) {
        w_long(w, s.len);
        if (s.len)
                w_bytes(w, s.p, s.len);
}

/* ["null","string"]: empty means null. */
W_INLINE void w_nstr(struct wbuf *w, nd_str_t s) {
        if (nd_str_is_null(s)) {
                w_small(w, 0);
        } else {
                w_small(w, 1);
                w_str(w, s);
        }
}

W_INLINE void w_nlong(struct wbuf *w, bool has, int64_t v) {
        w_small(w, has);
        if (has)
                w_long(w, v);
}

static inline void w_strs(struct wbuf *w, const nd_str_t *strs, uint32_t n) {
        if (n) {
                w_long(w, n);
                for (uint32_t i = 0; i < n; i++)
                        w_str(w, strs[i]);
        }
        w_small(w, 0);
}

nd_err_t nd_serde_encode_action(nd_serde_t *serde, const nd_action_t *act,
                                void *buf, size_t cap, size_t *lenp) {
        struct wbuf w = {buf, (uint8_t *)buf + cap, 0};
        uint8_t hdr[5];
        uint32_t id = (uint32_t)serde->conf.id_action;

        *lenp = 0;
        if (nd_str_is_null(act->action_id) ||
            nd_str_is_null(act->trigger_name) ||
            (unsigned)act->trigger >= ND_TRIGGER__CNT ||
            (unsigned)act->channel >= ND_CHANNEL__CNT ||
            (act->has_from_channel &&
             (unsigned)act->from_channel >= ND_CHANNEL__CNT) ||
            (act->item_cnt && !act->items) ||
            (act->recommended_cnt && !act->recommended_skus) ||
            (act->source_event_cnt && !act->source_event_ids))
                return ND_ERR_INVAL;
        hdr[0] = 0;
        hdr[1] = (uint8_t)(id >> 24);
        hdr[2] = (uint8_t)(id >> 16);
        hdr[3] = (uint8_t)(id >> 8);
        hdr[4] = (uint8_t)id;
        w_bytes(&w, hdr, sizeof(hdr));
        /* The field order of schemas/action.avsc. */
        w_str(&w, act->action_id);
        w_small(&w, act->trigger);
        w_str(&w, act->trigger_name);
        w_nstr(&w, act->customer_id);
        w_nstr(&w, act->anonymous_id);
        w_small(&w, act->channel);
        w_nstr(&w, act->device_id);
        w_long(&w, act->stage);
        w_long(&w, act->created_at);
        w_long(&w, act->emitted_at);
        w_nlong(&w, act->has_expires_at, act->expires_at);
        w_nstr(&w, act->cart_id);
        w_nstr(&w, act->order_id);
        if (act->item_cnt) {
                w_long(&w, act->item_cnt);
                for (uint32_t i = 0; i < act->item_cnt; i++) {
                        const nd_line_item_t *it = &act->items[i];
                        w_str(&w, it->sku);
                        w_long(&w, it->quantity);
                        w_nlong(&w, it->has_price, it->price_cents);
                        w_nstr(&w, it->category);
                }
        }
        w_small(&w, 0);
        w_nlong(&w, act->has_value, act->value_cents);
        w_nstr(&w, act->currency);
        w_strs(&w, act->recommended_skus, act->recommended_cnt);
        w_small(&w, act->has_from_channel);
        if (act->has_from_channel)
                w_small(&w, act->from_channel);
        w_nstr(&w, act->from_device_id);
        w_strs(&w, act->source_event_ids, act->source_event_cnt);
        w_nlong(&w, act->has_gap, act->gap_ms);
        *lenp = (size_t)(w.p - (uint8_t *)buf) + w.over;
        return w.over == 0 ? ND_OK : ND_ERR_INVAL;
}

/* ------------------------------------------------------------------ */
/* Encoding events and catalog records                                 */

/* The topic of an event type. */
static nd_event_topic_t event_topic(nd_event_type_t type) {
        return type <= ND_EV_MESSAGE_CLICKED    ? ND_TOPIC_CLICKSTREAM
               : type <= ND_EV_CHECKOUT_STARTED ? ND_TOPIC_CART
                                                : ND_TOPIC_PURCHASE;
}

static bool fits_int(int64_t v) {
        return v >= INT32_MIN && v <= INT32_MAX;
}

/* What the encoders refuse beyond the contract checks. */
static bool event_encodable(const nd_event_t *ev) {
        bool lines = ev->has_products || ev->product_cnt;
        if ((unsigned)ev->type >= ND_EV__CNT ||
            (unsigned)ev->channel >= ND_CHANNEL__CNT ||
            (unsigned)ev->device_type >= ND_DEVICE__CNT ||
            ev->product_cnt > ND_EVENT_MAX_ITEMS ||
            (ev->product_cnt && !ev->products))
                return false;
        if (event_topic(ev->type) == ND_TOPIC_CART && ev->has_quantity &&
            !fits_int(ev->quantity))
                return false;
        for (uint32_t i = 0; lines && i < ev->product_cnt; i++)
                if (!fits_int(ev->products[i].quantity))
                        return false;
        return check_event(ev, NULL, 0) == ND_OK;
}

static void w_product(struct wbuf *w, const nd_event_t *ev) {
        w_small(w, ev->has_product);
        if (!ev->has_product)
                return;
        w_str(w, ev->product.sku);
        w_nstr(w, ev->product.category);
        w_nlong(w, ev->product.has_price, ev->product.price_cents);
        w_nstr(w, ev->product.currency);
}

/* ["null", array of LineItem]: the list when has_products. */
static void w_lines(struct wbuf *w, const nd_event_t *ev) {
        if (!ev->has_products && !ev->product_cnt) {
                w_small(w, 0);
                return;
        }
        w_small(w, 1);
        if (ev->product_cnt) {
                w_long(w, ev->product_cnt);
                for (uint32_t i = 0; i < ev->product_cnt; i++) {
                        const nd_line_item_t *it = &ev->products[i];
                        w_str(w, it->sku);
                        w_nstr(w, it->category);
                        w_long(w, it->quantity);
                        w_nlong(w, it->has_price, it->price_cents);
                }
        }
        w_small(w, 0);
}

/* The body in the field order of the topic's .avsc. */
static void w_event(struct wbuf *w, const nd_event_t *ev) {
        static const nd_event_type_t first[ND_TOPIC__CNT] = {
            [ND_TOPIC_CLICKSTREAM] = ND_EV_PAGE_VIEWED,
            [ND_TOPIC_CART] = ND_EV_PRODUCT_ADDED,
            [ND_TOPIC_PURCHASE] = ND_EV_ORDER_COMPLETED};
        nd_event_topic_t topic = event_topic(ev->type);

        w_str(w, ev->event_id);
        w_small(w, (unsigned)(ev->type - first[topic]));
        w_nstr(w, ev->customer_id);
        w_nstr(w, ev->anonymous_id);
        w_long(w, ev->timestamp);
        w_small(w, ev->channel);
        w_nstr(w, ev->device_id);
        w_small(w, ev->device_type);
        w_nstr(w, ev->session_id);
        switch (topic) {
        case ND_TOPIC_CLICKSTREAM:
                w_product(w, ev);
                w_nstr(w, ev->campaign_id);
                w_nstr(w, ev->action_id);
                break;
        case ND_TOPIC_CART:
                w_nstr(w, ev->cart_id);
                w_product(w, ev);
                w_nlong(w, ev->has_quantity, ev->quantity);
                w_lines(w, ev);
                w_nstr(w, ev->checkout_id);
                break;
        default: /* ND_TOPIC_PURCHASE */
                w_str(w, ev->order_id);
                w_nlong(w, ev->has_value, ev->value_cents);
                w_nstr(w, ev->currency);
                w_nstr(w, ev->cart_id);
                w_nstr(w, ev->checkout_id);
                w_lines(w, ev);
                break;
        }
}

static void w_frame(struct wbuf *w, int32_t id) {
        uint8_t hdr[5];
        hdr[0] = 0;
        hdr[1] = (uint8_t)((uint32_t)id >> 24);
        hdr[2] = (uint8_t)((uint32_t)id >> 16);
        hdr[3] = (uint8_t)((uint32_t)id >> 8);
        hdr[4] = (uint8_t)id;
        w_bytes(w, hdr, sizeof(hdr));
}

static nd_err_t w_done(struct wbuf *w, const void *buf, size_t *lenp) {
        *lenp = (size_t)(w->p - (const uint8_t *)buf) + w->over;
        return w->over == 0 ? ND_OK : ND_ERR_INVAL;
}

nd_err_t nd_serde_encode_event_body(const nd_event_t *ev, void *buf, size_t cap,
                                    size_t *lenp) {
        struct wbuf w = {buf, (uint8_t *)buf + cap, 0};
        *lenp = 0;
        if (!event_encodable(ev))
                return ND_ERR_INVAL;
        w_event(&w, ev);
        return w_done(&w, buf, lenp);
}

nd_err_t nd_serde_encode_event(nd_serde_t *serde, const nd_event_t *ev,
                               void *buf, size_t cap, size_t *lenp) {
        struct wbuf w = {buf, (uint8_t *)buf + cap, 0};
        const int32_t ids[ND_TOPIC__CNT] = {
            [ND_TOPIC_CLICKSTREAM] = serde->conf.id_clickstream,
            [ND_TOPIC_CART] = serde->conf.id_cart,
            [ND_TOPIC_PURCHASE] = serde->conf.id_purchase};
        *lenp = 0;
        if (!event_encodable(ev))
                return ND_ERR_INVAL;
        w_frame(&w, ids[event_topic(ev->type)]);
        w_event(&w, ev);
        return w_done(&w, buf, lenp);
}

nd_err_t nd_serde_encode_product(nd_serde_t *serde,
                                 const nd_product_rec_t *prod, void *buf,
                                 size_t cap, size_t *lenp) {
        struct wbuf w = {buf, (uint8_t *)buf + cap, 0};
        uint8_t b;
        *lenp = 0;
        if (nd_str_is_null(prod->sku) ||
            prod->complement_cnt > ND_PRODUCT_MAX_COMPLEMENTS ||
            (prod->complement_cnt && !prod->complements))
                return ND_ERR_INVAL;
        w_frame(&w, serde->conf.id_catalog);
        w_str(&w, prod->sku);
        w_nstr(&w, prod->name);
        w_nstr(&w, prod->category);
        w_nlong(&w, prod->has_price, prod->price_cents);
        w_nstr(&w, prod->currency);
        b = prod->in_stock ? 1 : 0;
        w_bytes(&w, &b, 1);
        w_strs(&w, prod->complements, prod->complement_cnt);
        return w_done(&w, buf, lenp);
}
