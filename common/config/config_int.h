/*
 * config_int.h — what the three files of the config module share, and
 * nothing else includes.
 *
 *   config_prop.c  the property engine: parses, bounds-checks, formats and
 *                  sets one value of any nd_cfg_prop_t table (nd_cfg_*)
 *   config.c       the loader: YAML file and environment -> nd_config_t,
 *                  the engine's own table, triggers, file:line errors
 *   config_doc.c   the writers: docs/configuration.md and the effective
 *                  configuration of `check-config -v`
 *
 * The loader and the writers both read the engine's table and format values
 * the way the engine parses them, so a value printed by the dump or the docs
 * reads back as the same value. Nothing here is on a hot path. Threads: the
 * same as config.h (load once, read anywhere).
 */
#ifndef ND_CONFIG_INT_H
#define ND_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Room for one value's error ("expected ..., got '...'") before the loader
 * adds the file, line and key. */
#define ND__CONFIG_WHY_MAX 512
/* Items of one list value before checking (the limit of the property,
 * ND_CFG_LIST_MAX, is checked afterwards, with a message). */
#define ND__CONFIG_LIST_ITEMS_MAX 64

/*
 * The engine's own property table (config.c), ended by ND_CFG_END, and its
 * length without the end. The writers walk it in order: the order of the
 * table is the order of docs/configuration.md and of the dump.
 */
extern const nd_cfg_prop_t *const nd__config_props;
extern const size_t nd__config_nprops;

/** True when prop has bounds (min == max == 0 means "no bound"). */
static inline bool nd__config_has_bounds(const nd_cfg_prop_t *prop) {
        return prop->min != 0 || prop->max != 0;
}

/**
 * Writes ms in the largest unit that divides it exactly ("1d", "90s",
 * "0ms"): text nd_cfg_set() reads back as ms. buf is size bytes, always
 * NUL-terminated (32 bytes hold any value).
 */
void nd__config_fmt_duration(int64_t ms, char *buf, size_t size);

/** Like nd__config_fmt_duration() for sizes, in binary units ("64k"). */
void nd__config_fmt_size(int64_t bytes, char *buf, size_t size);

/**
 * Joins the NULL-terminated names with sep into buf (size bytes, truncated
 * to fit), each in backquotes when code is true. names may be NULL.
 */
void nd__config_join_names(const char *const *names, const char *sep, bool code,
                           char *buf, size_t size);

/**
 * What a valid value of prop looks like, for "expected ..., got '...'":
 * "an integer between 1 and 64" when ranged and prop has bounds, else
 * "an integer". buf is size bytes, truncated to fit.
 */
void nd__config_describe(const nd_cfg_prop_t *prop, bool ranged, char *buf,
                         size_t size);

/**
 * Sets a list property (DURATIONS or ENUMSET) from cnt items, the way
 * nd_cfg_set() does from "[a, b]" text; the loader calls it for a YAML
 * sequence. The field changes only on success; on error returns
 * ND_ERR_CONFIG with errstr "item N: expected ...".
 */
nd_err_t nd__config_set_list(const nd_cfg_prop_t *prop, void *base,
                             const char *const *items, int cnt, char *errstr,
                             size_t errstr_size);

/**
 * Parses a decimal integer with an optional sign into *out, as INT
 * properties are parsed (for checks outside the table, such as the port of
 * http.listen). Returns ND_OK, or ND_ERR_CONFIG when s is not one whole
 * integer or does not fit in 64 bits (*out is then unchanged).
 */
nd_err_t nd__config_parse_int(const char *s, int64_t *out);

#endif
