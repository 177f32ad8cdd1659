/*
 * nudge — property tables (STYLE.md §1.5: one table drives parsing,
 * validation, defaults and the generated docs/configuration.md).
 *
 * A table is an array of nd_cfg_prop_t ended by ND_CFG_END. Each entry names
 * a dotted key relative to where the table is applied ("time.max_out_of_
 * orderness" at the top level, "delays" inside one trigger), its type, the
 * offsetof() of the field it fills in the caller's struct, its default in the
 * same syntax a user writes (so the docs show the default as text and there is
 * one parser), its bounds and its documentation.
 *
 * Field types by property type:
 *   STR        char *            owned by the struct; freed by nd_cfg_free()
 *   INT        int64_t           within [min, max]
 *   BOOL       bool              true/false/yes/no/on/off
 *   DURATION   int64_t (ms)      "1500", "1500ms", "5s", "10m", "1h", "3d"
 *   SIZE       int64_t (bytes)   "1048576", "64k", "512M", "2G"
 *   ENUM       int               index into names[]
 *   DURATIONS  nd_cfg_durations_t  a YAML list of durations (at most 16)
 *   ENUMSET    uint32_t          a YAML list of names[] -> bit (1u << index)
 *
 * Bounds: min and max are inclusive; min == max == 0 means "no bound" (any
 * int64_t for INT, any non-negative value for DURATION and SIZE). Durations
 * take an optional fraction with a unit ("1.5h") when the result is a whole
 * number of milliseconds; sizes are binary (k = 1024) and case-insensitive.
 * In text form (defaults, environment) a list is "[1h, 24h]" or "1h,24h";
 * in YAML it is a sequence, flow or block. ENUM and ENUMSET names match
 * exactly. An ENUMSET has at most 32 names.
 */
#ifndef ND_CONFIG_PUBLIC_H
#define ND_CONFIG_PUBLIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nudge/err.h"

#define ND_CFG_LIST_MAX 16

typedef enum {
        ND_CFG_T_END = 0,
        ND_CFG_T_STR,
        ND_CFG_T_INT,
        ND_CFG_T_BOOL,
        ND_CFG_T_DURATION,
        ND_CFG_T_SIZE,
        ND_CFG_T_ENUM,
        ND_CFG_T_DURATIONS,
        ND_CFG_T_ENUMSET,
} nd_cfg_type_t;

typedef struct nd_cfg_durations_s {
        int cnt;
        int64_t ms[ND_CFG_LIST_MAX];
} nd_cfg_durations_t;

/* Flags */
#define ND_CFG_F_REQUIRED 0x1 /* no default: the key must be given */

typedef struct nd_cfg_prop_s {
        const char *name; /* dotted key */
        nd_cfg_type_t type;
        size_t offset;            /* offsetof() into the target struct */
        const char *def;          /* default, in config syntax; NULL = none */
        int64_t min, max;         /* INT, DURATION, SIZE; DURATIONS items */
        const char *const *names; /* ENUM, ENUMSET: NULL-terminated */
        unsigned flags;
        const char *doc; /* one or two sentences, Markdown */
} nd_cfg_prop_t;

#define ND_CFG_STR(name, def, off, doc) \
        { name, ND_CFG_T_STR, off, def, 0, 0, NULL, 0, doc }
#define ND_CFG_INT(name, def, off, min, max, doc) \
        { name, ND_CFG_T_INT, off, def, min, max, NULL, 0, doc }
#define ND_CFG_BOOL(name, def, off, doc) \
        { name, ND_CFG_T_BOOL, off, def, 0, 1, NULL, 0, doc }
#define ND_CFG_DURATION(name, def, off, min, max, doc) \
        { name, ND_CFG_T_DURATION, off, def, min, max, NULL, 0, doc }
#define ND_CFG_SIZE(name, def, off, min, max, doc) \
        { name, ND_CFG_T_SIZE, off, def, min, max, NULL, 0, doc }
#define ND_CFG_ENUM(name, def, off, names, doc) \
        { name, ND_CFG_T_ENUM, off, def, 0, 0, names, 0, doc }
#define ND_CFG_DURATIONS(name, def, off, min, max, doc) \
        { name, ND_CFG_T_DURATIONS, off, def, min, max, NULL, 0, doc }
#define ND_CFG_ENUMSET(name, def, off, names, doc) \
        { name, ND_CFG_T_ENUMSET, off, def, 0, 0, names, 0, doc }
#define ND_CFG_END \
        { NULL, ND_CFG_T_END, 0, NULL, 0, 0, NULL, 0, NULL }

/** Durations in milliseconds, for min/max bounds. */
#define ND_MS(x)   ((int64_t)(x))
#define ND_SEC(x)  ((int64_t)(x)*1000)
#define ND_MIN(x)  ((int64_t)(x)*60 * 1000)
#define ND_HOUR(x) ((int64_t)(x)*3600 * 1000)
#define ND_DAY(x)  ((int64_t)(x)*86400 * 1000)

/**
 * Fills base (a struct laid out as table describes) with every default.
 * Returns ND_OK, or ND_ERR_CONFIG with errstr naming a bad default (a bug in
 * the table, caught by the tests).
 */
nd_err_t nd_cfg_defaults(const nd_cfg_prop_t *table, void *base, char *errstr,
                         size_t errstr_size);

/**
 * Sets one property from its text form: the same parser the YAML loader and
 * the environment overrides use. errstr gets "expected ..., got '...'".
 */
nd_err_t nd_cfg_set(const nd_cfg_prop_t *prop, void *base, const char *value,
                    char *errstr, size_t errstr_size);

/** Frees what nd_cfg_defaults()/nd_cfg_set() allocated in base (STR). */
void nd_cfg_free(const nd_cfg_prop_t *table, void *base);

#endif
