/*
 * config_prop.c — the property engine: one value of any property table.
 *
 * OVERALL DESIGN: a table (nudge/config.h) is data, and this file is the
 * only code that parses or formats its values: nd_cfg_set() turns the text
 * of one value into its field, whatever asked (a YAML scalar, a default, an
 * environment variable, a test), so every type has exactly one parser and
 * one message for a bad value ("expected a duration between 1ms and 60s,
 * got '0'").
 * Defaults are written in the same syntax as the file and go through the
 * same parser, so a bad default is caught like a bad value. A value is
 * parsed whole, range-checked, then stored: on error the field is left as
 * it was. Lists arrive either as text ("[1h, 24h]", split here) or as the
 * items of a YAML sequence (from the loader, config.c), and both end in
 * nd__config_set_list(). The formatters (durations, sizes, names) live here
 * too, beside the parsers they must agree with: the docs and the dump
 * (config_doc.c) print values in text this file reads back unchanged.
 *
 * The module is three files (config_int.h): this engine, the loader
 * (config.c) and the writers (config_doc.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "mem.h"

/* ---------------------------------------------------------------------- */
/* Values                                                                  */

struct unit {
        const char *suffix;
        int64_t mul;
};

static const struct unit duration_units[] = {
    {"", 1},          {"ms", 1},          {"s", 1000},
    {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 86400 * 1000},
    {NULL, 0}};

static const struct unit size_units[] = {
    {"", 1},           {"b", 1},           {"k", 1LL << 10},
    {"kb", 1LL << 10}, {"kib", 1LL << 10}, {"m", 1LL << 20},
    {"mb", 1LL << 20}, {"mib", 1LL << 20}, {"g", 1LL << 30},
    {"gb", 1LL << 30}, {"gib", 1LL << 30}, {"t", 1LL << 40},
    {"tb", 1LL << 40}, {"tib", 1LL << 40}, {NULL, 0}};

enum { P_OK = 0, P_SYNTAX, P_OVERFLOW, P_FRACTION };

/*
 * Parses "<digits>[.<digits>]<unit>" into a whole number of base units.
 * No sign, no spaces: a negative duration is a syntax error.
 */
static int parse_scaled(const char *s, const struct unit *units, bool nocase,
                        int64_t *out) {
        const char *p = s;
        int64_t ip = 0, fnum = 0, fden = 1, mul = -1, v;
        const struct unit *u;

        if (!isdigit((unsigned char)*p))
                return P_SYNTAX;
        for (; isdigit((unsigned char)*p); p++) {
                int d = *p - '0';
                if (ip > (INT64_MAX - d) / 10)
                        return P_OVERFLOW;
                ip = ip * 10 + d;
        }
        if (*p == '.') {
                p++;
                if (!isdigit((unsigned char)*p))
                        return P_SYNTAX;
                for (; isdigit((unsigned char)*p); p++) {
                        /* WHY 6 digits: fnum * mul then fits in 63 bits. */
                        if (fden >= 1000000)
                                return P_SYNTAX;
                        fnum = fnum * 10 + (*p - '0');
                        fden *= 10;
                }
        }
        for (u = units; u->suffix; u++)
                if (nocase ? !strcasecmp(p, u->suffix) : !strcmp(p, u->suffix))
                        mul = u->mul;
        if (mul < 0)
                return P_SYNTAX;
        if (ip > INT64_MAX / mul)
                return P_OVERFLOW;
        v = ip * mul;
        if (fnum) {
                int64_t f = fnum * mul; /* < 1e6 * 2^40 < 2^63 */
                if (f % fden)
                        return P_FRACTION;
                if (v > INT64_MAX - f / fden)
                        return P_OVERFLOW;
                v += f / fden;
        }
        *out = v;
        return P_OK;
}

static int parse_int(const char *s, int64_t *out) {
        char *end;
        long long v;
        if (!isdigit((unsigned char)s[0]) &&
            !((s[0] == '-' || s[0] == '+') && isdigit((unsigned char)s[1])))
                return P_SYNTAX;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (*end)
                return P_SYNTAX;
        if (errno == ERANGE)
                return P_OVERFLOW;
        *out = v;
        return P_OK;
}

nd_err_t nd__config_parse_int(const char *s, int64_t *out) {
        return parse_int(s, out) == P_OK ? ND_OK : ND_ERR_CONFIG;
}

static int parse_bool(const char *s, bool *out) {
        static const char *const yes[] = {"true", "yes", "on", NULL};
        static const char *const no[] = {"false", "no", "off", NULL};
        for (int i = 0; yes[i]; i++) {
                if (!strcasecmp(s, yes[i])) {
                        *out = true;
                        return P_OK;
                }
                if (!strcasecmp(s, no[i])) {
                        *out = false;
                        return P_OK;
                }
        }
        return P_SYNTAX;
}

static int enum_index(const char *const *names, const char *s) {
        for (int i = 0; names && names[i]; i++)
                if (!strcmp(names[i], s))
                        return i;
        return -1;
}

/* Largest unit that divides ms exactly: 86400000 -> "1d". */
static void fmt_scaled(int64_t v, const struct unit *units, char *buf,
                       size_t size) {
        const struct unit *best = NULL;
        for (const struct unit *u = units; u->suffix; u++)
                if (u->suffix[0] && (v == 0 ? u->mul == 1 : v % u->mul == 0) &&
                    (!best || u->mul > best->mul))
                        best = u;
        snprintf(buf, size, "%lld%s", (long long)(v / best->mul), best->suffix);
}

void nd__config_fmt_duration(int64_t ms, char *buf, size_t size) {
        fmt_scaled(ms, duration_units, buf, size);
}

void nd__config_fmt_size(int64_t bytes, char *buf, size_t size) {
        /* WHY a table of its own: print "64k", not "64kib" or "65536b". */
        static const struct unit short_units[] = {
            {"", 1},          {"k", 1LL << 10}, {"M", 1LL << 20},
            {"G", 1LL << 30}, {"T", 1LL << 40}, {NULL, 0}};
        const struct unit *best = &short_units[0];
        for (const struct unit *u = short_units; u->suffix; u++)
                if (bytes % u->mul == 0 && u->mul > best->mul && bytes)
                        best = u;
        snprintf(buf, size, "%lld%s", (long long)(bytes / best->mul),
                 best->suffix);
}

void nd__config_join_names(const char *const *names, const char *sep, bool code,
                           char *buf, size_t size) {
        size_t off = 0;
        buf[0] = '\0';
        for (int i = 0; names && names[i] && off < size; i++)
                off += (size_t)snprintf(buf + off, size - off, "%s%s%s%s",
                                        i ? sep : "", code ? "`" : "", names[i],
                                        code ? "`" : "");
}

/* What a valid value looks like, for "expected ..., got '...'". */
void nd__config_describe(const nd_cfg_prop_t *prop, bool ranged, char *buf,
                         size_t size) {
        char lo[32], hi[32], names[256];
        switch (prop->type) {
        case ND_CFG_T_STR:
                snprintf(buf, size, "a string");
                break;
        case ND_CFG_T_INT:
                if (ranged && nd__config_has_bounds(prop))
                        snprintf(buf, size, "an integer between %lld and %lld",
                                 (long long)prop->min, (long long)prop->max);
                else
                        snprintf(buf, size, "an integer");
                break;
        case ND_CFG_T_BOOL:
                snprintf(buf, size, "true or false");
                break;
        case ND_CFG_T_DURATION:
        case ND_CFG_T_DURATIONS:
                if (ranged && nd__config_has_bounds(prop)) {
                        nd__config_fmt_duration(prop->min, lo, sizeof(lo));
                        nd__config_fmt_duration(prop->max, hi, sizeof(hi));
                        snprintf(buf, size, "a duration between %s and %s", lo,
                                 hi);
                } else {
                        snprintf(buf, size,
                                 "a duration such as 500ms, 5s, 10m, 1h or 3d");
                }
                break;
        case ND_CFG_T_SIZE:
                if (ranged && nd__config_has_bounds(prop)) {
                        nd__config_fmt_size(prop->min, lo, sizeof(lo));
                        nd__config_fmt_size(prop->max, hi, sizeof(hi));
                        snprintf(buf, size, "a size between %s and %s", lo, hi);
                } else {
                        snprintf(buf, size,
                                 "a size such as 1048576, 64k, 512M or 2G");
                }
                break;
        case ND_CFG_T_ENUM:
        case ND_CFG_T_ENUMSET:
                nd__config_join_names(prop->names, ", ", false, names,
                                      sizeof(names));
                snprintf(buf, size, "one of %s", names);
                break;
        case ND_CFG_T_END:
                snprintf(buf, size, "nothing");
                break;
        }
}

static nd_err_t expected(const nd_cfg_prop_t *prop, int why, const char *value,
                         char *errstr, size_t errstr_size) {
        char what[320];
        if (why == P_FRACTION)
                return nd_err_fmt(errstr, errstr_size, ND_ERR_CONFIG,
                                  "expected a whole number of %s, got '%s'",
                                  prop->type == ND_CFG_T_SIZE ? "bytes"
                                                              : "milliseconds",
                                  value);
        nd__config_describe(prop, why == P_OVERFLOW, what, sizeof(what));
        return nd_err_fmt(errstr, errstr_size, ND_ERR_CONFIG,
                          "expected %s, got '%s'%s", what, value,
                          why == P_OVERFLOW && !nd__config_has_bounds(prop)
                              ? " (too large)"
                              : "");
}

/* One number-like value, range-checked. */
static nd_err_t parse_number(const nd_cfg_prop_t *prop, const char *value,
                             int64_t *out, char *errstr, size_t errstr_size) {
        int why;
        int64_t v = 0;
        if (prop->type == ND_CFG_T_INT)
                why = parse_int(value, &v);
        else if (prop->type == ND_CFG_T_SIZE)
                why = parse_scaled(value, size_units, true, &v);
        else
                why = parse_scaled(value, duration_units, false, &v);
        if (why == P_OK && nd__config_has_bounds(prop) &&
            (v < prop->min || v > prop->max))
                why = P_OVERFLOW;
        if (why != P_OK)
                return expected(prop, why, value, errstr, errstr_size);
        *out = v;
        return ND_OK;
}

/* A list value from its items; the field changes only on success. */
nd_err_t nd__config_set_list(const nd_cfg_prop_t *prop, void *base,
                             const char *const *items, int cnt, char *errstr,
                             size_t errstr_size) {
        char *field = (char *)base + prop->offset;
        char why[ND__CONFIG_WHY_MAX];

        if (prop->type == ND_CFG_T_DURATIONS) {
                nd_cfg_durations_t d = {0};
                if (cnt > ND_CFG_LIST_MAX)
                        return nd_err_fmt(
                            errstr, errstr_size, ND_ERR_CONFIG,
                            "expected at most %d durations, got %d",
                            ND_CFG_LIST_MAX, cnt);
                for (int i = 0; i < cnt; i++) {
                        if (parse_number(prop, items[i], &d.ms[i], why,
                                         sizeof(why)) != ND_OK)
                                return nd_err_fmt(errstr, errstr_size,
                                                  ND_ERR_CONFIG, "item %d: %s",
                                                  i + 1, why);
                }
                d.cnt = cnt;
                memcpy(field, &d, sizeof(d));
        } else {
                uint32_t bits = 0;
                for (int i = 0; i < cnt; i++) {
                        int idx = enum_index(prop->names, items[i]);
                        if (idx < 0 || idx >= 32) {
                                expected(prop, P_SYNTAX, items[i], why,
                                         sizeof(why));
                                return nd_err_fmt(errstr, errstr_size,
                                                  ND_ERR_CONFIG, "item %d: %s",
                                                  i + 1, why);
                        }
                        bits |= 1u << idx;
                }
                memcpy(field, &bits, sizeof(bits));
        }
        return ND_OK;
}

static char *trim(char *s) {
        char *e;
        while (isspace((unsigned char)*s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
                *--e = '\0';
        return s;
}

/* "[1h, 24h]" or "1h,24h" or "" into items pointing into copy. */
static nd_err_t split_list(const nd_cfg_prop_t *prop, char *copy,
                           const char **items, int *cntp, char *errstr,
                           size_t errstr_size) {
        char *s = trim(copy), *item;
        size_t len = strlen(s);
        int cnt = 0;

        if (len && s[0] == '[') {
                if (s[len - 1] != ']')
                        goto bad;
                s[len - 1] = '\0';
                s = trim(s + 1);
        }
        if (!*s) {
                *cntp = 0;
                return ND_OK;
        }
        for (;;) {
                char *comma = strchr(s, ',');
                if (comma)
                        *comma = '\0';
                item = trim(s);
                if (!*item || cnt == ND__CONFIG_LIST_ITEMS_MAX)
                        goto bad;
                items[cnt++] = item;
                if (!comma)
                        break;
                s = comma + 1;
        }
        *cntp = cnt;
        return ND_OK;
bad:
        return nd_err_fmt(errstr, errstr_size, ND_ERR_CONFIG,
                          "expected a list such as [%s], got a malformed list",
                          prop->type == ND_CFG_T_DURATIONS ? "1h, 24h"
                                                           : "a, b");
}

nd_err_t nd_cfg_set(const nd_cfg_prop_t *prop, void *base, const char *value,
                    char *errstr, size_t errstr_size) {
        char *field = (char *)base + prop->offset;
        nd_err_t err = ND_OK;

        switch (prop->type) {
        case ND_CFG_T_STR: {
                char **sp = (char **)(void *)field;
                nd_free(*sp);
                *sp = nd_strdup(value);
                break;
        }
        case ND_CFG_T_INT:
        case ND_CFG_T_DURATION:
        case ND_CFG_T_SIZE: {
                int64_t v;
                if ((err = parse_number(prop, value, &v, errstr,
                                        errstr_size)) == ND_OK)
                        memcpy(field, &v, sizeof(v));
                break;
        }
        case ND_CFG_T_BOOL: {
                bool b;
                if (parse_bool(value, &b) != P_OK)
                        err = expected(prop, P_SYNTAX, value, errstr,
                                       errstr_size);
                else
                        memcpy(field, &b, sizeof(b));
                break;
        }
        case ND_CFG_T_ENUM: {
                int idx = enum_index(prop->names, value);
                if (idx < 0)
                        err = expected(prop, P_SYNTAX, value, errstr,
                                       errstr_size);
                else
                        memcpy(field, &idx, sizeof(idx));
                break;
        }
        case ND_CFG_T_DURATIONS:
        case ND_CFG_T_ENUMSET: {
                const char *items[ND__CONFIG_LIST_ITEMS_MAX];
                char *copy = nd_strdup(value);
                int cnt = 0;
                err = split_list(prop, copy, items, &cnt, errstr, errstr_size);
                if (err == ND_OK)
                        err = nd__config_set_list(prop, base, items, cnt,
                                                  errstr, errstr_size);
                nd_free(copy);
                break;
        }
        case ND_CFG_T_END:
                err = nd_err_fmt(errstr, errstr_size, ND_ERR_INVAL,
                                 "not a property");
                break;
        }
        return err;
}

nd_err_t nd_cfg_defaults(const nd_cfg_prop_t *table, void *base, char *errstr,
                         size_t errstr_size) {
        char why[ND__CONFIG_WHY_MAX];
        for (const nd_cfg_prop_t *prop = table; prop && prop->name; prop++) {
                if (!prop->def)
                        continue;
                if (nd_cfg_set(prop, base, prop->def, why, sizeof(why)) !=
                    ND_OK)
                        return nd_err_fmt(errstr, errstr_size, ND_ERR_CONFIG,
                                          "default of '%s' is invalid: %s",
                                          prop->name, why);
        }
        return ND_OK;
}

void nd_cfg_free(const nd_cfg_prop_t *table, void *base) {
        for (const nd_cfg_prop_t *prop = table; prop && prop->name; prop++) {
                if (prop->type == ND_CFG_T_STR) {
                        char **sp =
                            (char **)(void *)((char *)base + prop->offset);
                        nd_free(*sp);
                        *sp = NULL;
                }
        }
}
