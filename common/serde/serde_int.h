/*
 * serde_int.h — what the .c files of serde share (STYLE.md §3, the
 * `<module>_int.h` tier); included by common/serde/serde*.c only.
 *
 * The module is one pipeline cut into files (the OVERALL DESIGN is at the
 * top of serde.c): serde_names.c says what the contract calls things and
 * where each reader field goes in C; serde_plan.c compiles a writer schema
 * into a plan of ops; serde.c owns the nd_serde_t (readers, the plan cache
 * by schema id, the public entry points); serde_interp.c runs any plan,
 * serde_fast.c runs the shipped layouts faster; serde_encode.c writes Avro.
 * This header holds the vocabulary between them: the dst tables' kinds,
 * the plan (ops, branch tables, enum maps), the nd_serde_t itself, and the
 * few nd__serde_* functions one file calls in another. None of those is
 * called per field: the interpreter and the specialised decoders call only
 * functions of their own file, and what runs per record in more than one
 * file (the contract checks, the zigzag decoding) is static inline here.
 *
 * WHY the short names (struct plan, OP_*, D_*, NO_OFF, ZZ64) rather than
 * nd__serde_ ones: they were file-static names of serde.c and are still
 * private to serde's .c files; they read as the plan's own vocabulary.
 * Functions shared between the files carry the nd__serde_ prefix.
 *
 * Thread safety: as serde.h; nothing here is global except the const
 * tables.
 */
#ifndef ND_SERDE_INT_H
#define ND_SERDE_INT_H

#include <avro.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "schema_registry.h"
#include "serde.h"

/* ------------------------------------------------------------------ */
/* Where reader fields go in C (the tables are in serde_names.c)       */

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

enum plan_kind { PLAN_EVENT = 1, PLAN_PRODUCT };

/* The reader schemas, by topic. */
struct reader_def {
        const char *file;
        const char *record; /* unqualified record name */
        enum plan_kind kind;
        const struct dst *dst;
};
#define READER_CNT 4
/* clickstream, cart, purchase, catalog (serde_names.c). */
extern const struct reader_def nd__serde_reader_defs[READER_CNT];

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

/* A specialised decoder (serde_fast.c): decodes the record
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

/* serde_plan.c: compiles writer schema w against reader schema r (the
 * reader of rd; named: its records and enums by unqualified name, for the
 * defaults) into *out. ND_OK, or UNKNOWN_SCHEMA / INCOMPATIBLE_SCHEMA with
 * errstr. Callers hold the avro lock (serde.c). */
nd_err_t nd__serde_plan_build(avro_schema_t w, const struct reader_def *rd,
                              avro_schema_t r, json_t *named, struct plan **out,
                              char *errstr, size_t errstr_size);
/* NULL is a no-op. */
void nd__serde_plan_destroy(struct plan *pl);
/*
 * The signature of a plan: everything the interpreter does with a record,
 * serialised (ops, branch tables, enum maps; not the field paths, which
 * only feed error texts). Two plans with the same signature decode the
 * same bytes into the same fields the same way.
 */
char *nd__serde_plan_signature(const struct plan *pl, size_t *lenp);
/* Gives pl the specialised decoder of reader ri when its signature is the
 * one that decoder was written for (the writer schema has the reader's
 * layout: the common case of producers on the current schema). */
void nd__serde_plan_specialise(struct plan *pl, const char *canon, int ri,
                               unsigned flags);

/* serde_fast.c, in nd__serde_reader_defs order: the specialised decoders
 * and the signature hash each was written for. */
extern fast_fn const nd__serde_fast_fns[READER_CNT];
extern const uint64_t nd__serde_fast_sigs[READER_CNT];

/* ------------------------------------------------------------------ */
/* The decoder object                                                  */

struct reader {
        avro_schema_t schema;
        json_t *json;  /* the parsed .avsc */
        json_t *named; /* unqualified name -> its JSON, for defaults */
        char *text;
        size_t text_len;
};

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

/* ------------------------------------------------------------------ */
/* Decoding                                                            */

/* Zigzag decoding of a varint's raw bits. */
#define ZZ64(u) ((int64_t)((u) >> 1) ^ -(int64_t)((u)&1))
#define ZZ32(u) ((int64_t)(int32_t)((uint32_t)((u) >> 1) ^ -(uint32_t)((u)&1)))

/*
 * serde_interp.c: runs plan pl over the record at p (start: where messages
 * count bytes from; out: a struct fresh from nd__serde_event_reset() or
 * nd__serde_product_reset()): with its specialised decoder when it has one
 * and that takes the record, else with the interpreter, which also words
 * every error. usedp NULL: the record must end exactly at end; else *usedp
 * is the length it took.
 */
nd_err_t nd__serde_run_plan(nd_serde_t *serde, const struct plan *pl,
                            const uint8_t *start, const uint8_t *p,
                            const uint8_t *end, void *out, size_t *usedp,
                            char *errstr, size_t errstr_size);

/* The clean structs every decode starts from (per record: inline).
 * WHY not memset for the event: for this 336-byte struct gcc emits `rep
 * stos`, whose start-up cost was ~15% of a whole decode; 8-byte stores
 * (unrolled, may alias anything) are several times cheaper. */
typedef uint64_t u64_alias __attribute__((may_alias));
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static inline void
nd__serde_event_reset(nd_event_t *ev) {
        u64_alias *w = (u64_alias *)(void *)ev;
        _Static_assert(sizeof(*ev) % 8 == 0, "nd_event_t is 8-byte sized");
#pragma GCC unroll 64
        for (size_t i = 0; i < sizeof(*ev) / 8; i++)
                w[i] = 0;
        ev->quantity = 1;
        ev->channel = ND_CHANNEL_OTHER;
        ev->device_type = ND_DEVICE_UNKNOWN;
}

static inline void nd__serde_product_reset(nd_product_rec_t *prod) {
        memset(prod, 0, sizeof(*prod));
        prod->in_stock = true;
}

/* ------------------------------------------------------------------ */
/* Names and contract checks (serde_names.c)                           */

/* serde_names.c: the names of the event types, and nd_event_type_name()
 * as an inline. WHY here: the messages of nd__serde_check_event name the
 * type; a call to nd_event_type_name() in another file made the check
 * save registers on every record, not only on the failing ones. */
extern const char *const nd__serde_event_type_names[ND_EV__CNT];
static inline const char *nd__serde_event_type_name(nd_event_type_t type) {
        return (unsigned)type < ND_EV__CNT ? nd__serde_event_type_names[type]
                                           : "?";
}

/* ND_OK, or ND_ERR_UNKNOWN_SCHEMA with text when writer schema json (len
 * bytes, named `what` in the text) defines a name twice. */
nd_err_t nd__serde_check_names(const char *json, size_t len, const char *what,
                               char *text, size_t text_size);

/*
 * The encoder writes act->trigger as its TriggerType index, so the symbols
 * of enum TriggerType in schemas/action.avsc (enm: its JSON, or NULL when
 * the schema has none) must be the ND_TRIGGER_TYPE_MAP names in that order.
 * ND_OK, or ND_ERR_CONFIG with errstr naming path, the symbol and its index.
 */
nd_err_t nd__serde_check_trigger_types(json_t *enm, const char *path,
                                       char *errstr, size_t errstr_size);

/* Sets ev->key and key_is_customer from the ids. Per record: inline. */
static inline void nd__serde_event_set_key(nd_event_t *ev) {
        ev->key_is_customer = !nd_str_is_null(ev->customer_id);
        ev->key = ev->key_is_customer ? ev->customer_id : ev->anonymous_id;
        if (nd_str_is_null(ev->key))
                ev->key = ND_STR_NULL;
}

/* The contract checks on a const event; the key is derived from the ids,
 * not read from ev->key. Static inline: run for every record decoded and
 * every event encoded (serde.c, serde_encode.c). */
static inline nd_err_t nd__serde_check_event(const nd_event_t *ev, char *errstr,
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
                                         nd__serde_event_type_name(ev->type));
                        return ND_ERR_MISSING_FIELD;
                }
        }
        if (missing) {
                if (errstr && errstr_size)
                        snprintf(errstr, errstr_size,
                                 "field '%s' is empty on %s", missing,
                                 nd__serde_event_type_name(ev->type));
                return ND_ERR_MISSING_FIELD;
        }
        return ND_OK;
}

#endif
