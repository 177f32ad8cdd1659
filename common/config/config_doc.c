/*
 * config_doc.c — the writers: docs/configuration.md and the effective
 * configuration.
 *
 * OVERALL DESIGN: both outputs are walks of the same tables the loader
 * applies (the engine's own, config.c, and each processor's), so neither
 * can drift from what is accepted: nd_config_write_doc() prints one
 * Markdown table per section of the engine's table and per processor, its
 * defaults as the text a user would write, and tests/unit/test_config.c
 * fails when the committed docs/configuration.md differs from its output.
 * nd_config_dump() prints the loaded nd_config_t as YAML in the table's
 * order (`nudge check-config -v`), each value formatted by the engine's
 * formatters (config_prop.c) so that the dump reads back as the same
 * configuration; kafka values whose key names a password or a secret are
 * redacted. Only the prose that no table holds (syntax, Kafka
 * pass-through, environment overrides) is written out here.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "config_int.h"

#define ND_STR_(x) #x
#define ND_STR(x)  ND_STR_(x)

/* Sections of the engine's table: the first word of its keys, in the order
 * of the docs. */
static const struct section {
        const char *name;
        const char *doc;
} sections[] = {
    {"application", "Identity of this deployment."},
    {"log", "Logging to standard error."},
    {"topics", "Topic names. They must be distinct and valid Kafka topic "
               "names (letters, digits, `.`, `_`, `-`)."},
    {"input", "How input records are encoded."},
    {"schema", "Avro schemas (TRIGGERS.md §1)."},
    {"processing", "Threads, commits and the processing guarantee."},
    {"time", "Event time and the watermark (TRIGGERS.md §2)."},
    {"state", "Per-customer state."},
    {"errors", "What input that cannot be used does: transient errors "
               "(the schema registry cannot be reached) hold the task "
               "back and are retried; records that can never be used go "
               "to the dead-letter topic or stop the engine. "
               "docs/operations.md, \"When input cannot be used\"."},
    {"embedded", "The embedded broker (librdkafka's mock cluster), started "
                 "when `kafka.bootstrap.servers` is absent or empty, so a "
                 "first run needs no Kafka."},
    {"http", "The metrics and health HTTP endpoint."},
    {NULL, NULL},
};

static const char *type_name(nd_cfg_type_t type) {
        switch (type) {
        case ND_CFG_T_STR:
                return "string";
        case ND_CFG_T_INT:
                return "integer";
        case ND_CFG_T_BOOL:
                return "boolean";
        case ND_CFG_T_DURATION:
                return "duration";
        case ND_CFG_T_SIZE:
                return "size";
        case ND_CFG_T_ENUM:
                return "enum";
        case ND_CFG_T_DURATIONS:
                return "list of durations";
        case ND_CFG_T_ENUMSET:
                return "list of names";
        case ND_CFG_T_END:
                break;
        }
        return "?";
}

/* Markdown table cell: no newlines, '|' escaped. */
static void put_cell(FILE *out, const char *s) {
        for (; *s; s++) {
                if (*s == '|')
                        fputs("\\|", out);
                else if (*s == '\n')
                        fputc(' ', out);
                else
                        fputc(*s, out);
        }
}

static void range_text(const nd_cfg_prop_t *prop, char *buf, size_t size) {
        char lo[32], hi[32];
        buf[0] = '\0';
        switch (prop->type) {
        case ND_CFG_T_INT:
                if (nd__config_has_bounds(prop))
                        snprintf(buf, size, "%lld .. %lld",
                                 (long long)prop->min, (long long)prop->max);
                break;
        case ND_CFG_T_DURATION:
        case ND_CFG_T_DURATIONS:
                if (nd__config_has_bounds(prop)) {
                        nd__config_fmt_duration(prop->min, lo, sizeof(lo));
                        nd__config_fmt_duration(prop->max, hi, sizeof(hi));
                        snprintf(buf, size, "%s .. %s%s", lo, hi,
                                 prop->type == ND_CFG_T_DURATIONS
                                     ? " each, at most " ND_STR(ND_CFG_LIST_MAX)
                                     : "");
                } else if (prop->type == ND_CFG_T_DURATIONS) {
                        snprintf(buf, size, "at most " ND_STR(ND_CFG_LIST_MAX));
                }
                break;
        case ND_CFG_T_SIZE:
                if (nd__config_has_bounds(prop)) {
                        nd__config_fmt_size(prop->min, lo, sizeof(lo));
                        nd__config_fmt_size(prop->max, hi, sizeof(hi));
                        snprintf(buf, size, "%s .. %s", lo, hi);
                }
                break;
        case ND_CFG_T_ENUM:
        case ND_CFG_T_ENUMSET:
                nd__config_join_names(prop->names, ", ", true, buf, size);
                break;
        case ND_CFG_T_BOOL:
                snprintf(buf, size, "`true`, `false`");
                break;
        default:
                break;
        }
}

static void doc_row(FILE *out, const char *prefix, const nd_cfg_prop_t *prop) {
        char range[512];
        fprintf(out, "| `%s%s` | %s | ", prefix, prop->name,
                type_name(prop->type));
        if (prop->def && !*prop->def)
                fputs("`\"\"`", out);
        else if (prop->def) {
                fputc('`', out);
                put_cell(out, prop->def);
                fputc('`', out);
        } else {
                fputs((prop->flags & ND_CFG_F_REQUIRED) ? "required" : "none",
                      out);
        }
        range_text(prop, range, sizeof(range));
        fputs(" | ", out);
        put_cell(out, range);
        fputs(" | ", out);
        put_cell(out, prop->doc ? prop->doc : "");
        fputs(" |\n", out);
}

static void doc_table_head(FILE *out) {
        fputs("| Key | Type | Default | Range / values | Description |\n"
              "|---|---|---|---|---|\n",
              out);
}

void nd_config_write_doc(FILE *out, const nd_processor_def_t *const *defs) {
        fputs("# Configuration\n"
              "\n"
              "<!-- Generated from the property tables in common/config/ and "
              "processors/*/ by\n"
              "     `nudge config-doc > docs/configuration.md`. Do not edit: "
              "tests/unit/test_config.c\n"
              "     fails when this file and the tables disagree. -->\n"
              "\n"
              "nudge reads one YAML file. Every key is optional except the "
              "`name` and `type`\n"
              "of each trigger; an empty file runs with the defaults below. "
              "`nudge check-config -v`\n"
              "prints the effective configuration.\n"
              "\n"
              "## Syntax\n"
              "\n"
              "- **Nesting and dotted keys are the same.** "
              "`time: {max_out_of_orderness: 5s}`,\n"
              "  `time.max_out_of_orderness: 5s` and the block form\n"
              "  `time:` / `  max_out_of_orderness: 5s` all set one key, and "
              "the forms may be mixed.\n"
              "- **Durations** are an integer number of milliseconds (`1500`) "
              "or a number with a\n"
              "  unit: `ms`, `s`, `m`, `h`, `d` (`500ms`, `5s`, `1.5h`, `3d`). "
              "No sign, no space.\n"
              "- **Sizes** are a number of bytes (`1048576`) or a number with "
              "`k`, `M`, `G` or `T`\n"
              "  (binary: `64k` is 65536 bytes).\n"
              "- **Booleans** are `true`/`false` (also `yes`/`no`, "
              "`on`/`off`).\n"
              "- **Lists** are YAML sequences, flow or block: "
              "`delays: [1h, 24h]`.\n"
              "- **Mistakes are errors, never ignored:** an unknown key (with "
              "a suggestion when one\n"
              "  is close), a key given twice (in any mix of forms), a value "
              "out of range, a YAML\n"
              "  syntax error. Each message names the file, the line and the "
              "key:\n"
              "  `nudge.yaml:7: key 'time.max_out_of_orderness': expected a "
              "duration such as 500ms,\n"
              "  5s, 10m, 1h or 3d, got '5 parsecs'`.\n",
              out);

        for (const struct section *sec = sections; sec->name; sec++) {
                size_t len = strlen(sec->name);
                fprintf(out, "\n## `%s`\n\n%s\n\n", sec->name, sec->doc);
                doc_table_head(out);
                for (size_t i = 0; i < nd__config_nprops; i++)
                        if (!strncmp(nd__config_props[i].name, sec->name,
                                     len) &&
                            nd__config_props[i].name[len] == '.')
                                doc_row(out, "", &nd__config_props[i]);
        }

        fputs(
            "\n## Kafka properties\n"
            "\n"
            "Every key under `kafka` is a librdkafka property, passed "
            "through as text to the\n"
            "Kafka clients nudge creates (see librdkafka's "
            "CONFIGURATION.md); nudge does not\n"
            "interpret them, except `bootstrap.servers`: when it is absent "
            "or empty, nudge runs\n"
            "the embedded broker (section `embedded`). Nested and dotted "
            "forms are the same\n"
            "(`kafka: {bootstrap.servers: k:9092}` is "
            "`kafka.bootstrap.servers: k:9092`); a YAML\n"
            "list becomes a comma-separated value. Numbers and booleans are "
            "passed as written.\n"
            "`nudge check-config -v` shows values whose key contains "
            "`password` or `secret` as\n"
            "`[redacted]`.\n"
            "\n"
            "```yaml\n"
            "kafka:\n"
            "  bootstrap.servers: kafka-1:9092,kafka-2:9092\n"
            "  security.protocol: SASL_SSL\n"
            "  sasl.mechanisms: PLAIN\n"
            "  sasl.username: nudge\n"
            "  sasl.password: change-me\n"
            "```\n"
            "\n"
            "## Environment overrides\n"
            "\n"
            "Environment variables override the file (for containers):\n"
            "\n"
            "- `NUDGE_<KEY>`: any key of the sections above, upper-cased, "
            "`.` written `_`:\n"
            "  `NUDGE_TIME_MAX_OUT_OF_ORDERNESS=2s`, "
            "`NUDGE_LOG_FORMAT=json`.\n"
            "- `NUDGE_KAFKA_<PROPERTY>`: a Kafka property, Confluent-image "
            "style: `_` is `.`,\n"
            "  `__` is `_` and `___` is `-`, and the name is lower-cased:\n"
            "  `NUDGE_KAFKA_BOOTSTRAP_SERVERS=kafka:9092` sets "
            "`bootstrap.servers`.\n"
            "\n"
            "Values use the same syntax as the file; a list is written "
            "`[1h, 24h]` or `1h,24h`.\n"
            "Errors name the variable: `environment NUDGE_PROCESSING_THREADS: "
            "key\n"
            "'processing.threads': expected an integer between 1 and 64, got "
            "'0'`. Other\n"
            "`NUDGE_*` variables are ignored, because other tools may set "
            "some: a misspelt\n"
            "override is silently ignored, so check the result with "
            "`nudge check-config -v`.\n"
            "Triggers have no environment overrides.\n"
            "\n"
            "## Triggers\n"
            "\n"
            "`triggers` is a list. Each entry has a `name` (required, "
            "unique, letters, digits,\n"
            "`_`, `.`, `-`; it goes into every action as `trigger_name`), a "
            "`type` (one of the\n"
            "processors below) and that type's properties. A type may be "
            "configured several\n"
            "times under different names. Unknown keys are errors.\n"
            "\n"
            "```yaml\n"
            "triggers:\n"
            "  - name: mirror\n"
            "    type: passthrough\n"
            "```\n",
            out);
        for (int i = 0; defs && defs[i]; i++) {
                const nd_processor_def_t *def = defs[i];
                fprintf(out, "\n### `%s`\n\n%s\n\n", def->name,
                        def->doc ? def->doc : "");
                if (!def->config || !def->config->name) {
                        fputs("No properties.\n", out);
                        continue;
                }
                doc_table_head(out);
                for (const nd_cfg_prop_t *p = def->config; p->name; p++)
                        doc_row(out, "triggers[].", p);
        }
}

/* A YAML double-quoted string. */
static void put_quoted(FILE *out, const char *s) {
        fputc('"', out);
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\')
                        fprintf(out, "\\%c", c);
                else if (c < 0x20 || c == 0x7f)
                        fprintf(out, "\\x%02x", c);
                else
                        fputc(c, out);
        }
        fputc('"', out);
}

/* A key as a plain scalar when it is safe, else quoted. */
static void put_key(FILE *out, const char *s) {
        bool plain = isalnum((unsigned char)*s);
        for (const char *p = s; *p && plain; p++)
                plain = isalnum((unsigned char)*p) || strchr("._-", *p);
        if (plain)
                fputs(s, out);
        else
                put_quoted(out, s);
}

static void put_value(FILE *out, const nd_cfg_prop_t *prop, const void *base) {
        const char *field = (const char *)base + prop->offset;
        char buf[64];
        int64_t v;

        switch (prop->type) {
        case ND_CFG_T_STR: {
                const char *s;
                memcpy(&s, field, sizeof(s));
                put_quoted(out, s ? s : "");
                break;
        }
        case ND_CFG_T_INT:
                memcpy(&v, field, sizeof(v));
                fprintf(out, "%lld", (long long)v);
                break;
        case ND_CFG_T_BOOL: {
                bool b;
                memcpy(&b, field, sizeof(b));
                fputs(b ? "true" : "false", out);
                break;
        }
        case ND_CFG_T_DURATION:
                memcpy(&v, field, sizeof(v));
                nd__config_fmt_duration(v, buf, sizeof(buf));
                fputs(buf, out);
                break;
        case ND_CFG_T_SIZE:
                memcpy(&v, field, sizeof(v));
                nd__config_fmt_size(v, buf, sizeof(buf));
                fputs(buf, out);
                break;
        case ND_CFG_T_ENUM: {
                int idx;
                memcpy(&idx, field, sizeof(idx));
                fputs(prop->names[idx], out);
                break;
        }
        case ND_CFG_T_DURATIONS: {
                nd_cfg_durations_t d;
                memcpy(&d, field, sizeof(d));
                fputc('[', out);
                for (int i = 0; i < d.cnt; i++) {
                        nd__config_fmt_duration(d.ms[i], buf, sizeof(buf));
                        fprintf(out, "%s%s", i ? ", " : "", buf);
                }
                fputc(']', out);
                break;
        }
        case ND_CFG_T_ENUMSET: {
                uint32_t bits;
                bool first = true;
                memcpy(&bits, field, sizeof(bits));
                fputc('[', out);
                for (int i = 0; prop->names[i] && i < 32; i++) {
                        if (!(bits & (1u << i)))
                                continue;
                        fprintf(out, "%s%s", first ? "" : ", ", prop->names[i]);
                        first = false;
                }
                fputc(']', out);
                break;
        }
        case ND_CFG_T_END:
                break;
        }
}

static bool is_secret(const char *key) {
        return strcasestr(key, "password") || strcasestr(key, "secret");
}

void nd_config_dump(FILE *out, const nd_config_t *cfg) {
        const char *section = NULL;
        size_t seclen = 0;

        fprintf(out, "# nudge effective configuration (%s%s)\n",
                cfg->path ? "file " : "defaults", cfg->path ? cfg->path : "");
        for (size_t i = 0; i < nd__config_nprops; i++) {
                const char *name = nd__config_props[i].name;
                size_t len = strcspn(name, ".");
                if (!section || len != seclen || strncmp(section, name, len)) {
                        fprintf(out, "%.*s:\n", (int)len, name);
                        section = name;
                        seclen = len;
                }
                fprintf(out, "  %s: ", name + len + 1);
                put_value(out, &nd__config_props[i], cfg);
                fputc('\n', out);
        }
        fputs(cfg->kafka_cnt ? "kafka:\n" : "kafka: {}\n", out);
        for (int i = 0; i < cfg->kafka_cnt; i++) {
                fputs("  ", out);
                put_key(out, cfg->kafka[i].key);
                fputs(": ", out);
                put_quoted(out, is_secret(cfg->kafka[i].key)
                                    ? "[redacted]"
                                    : cfg->kafka[i].value);
                fputc('\n', out);
        }
        fputs(cfg->trigger_cnt ? "triggers:\n" : "triggers: []\n", out);
        for (int i = 0; i < cfg->trigger_cnt; i++) {
                const nd_trigger_conf_t *t = &cfg->triggers[i];
                fputs("  - name: ", out);
                put_quoted(out, t->name);
                fprintf(out, "\n    type: %s\n", t->def->name);
                for (const nd_cfg_prop_t *p = t->def->config; p && p->name;
                     p++) {
                        fprintf(out, "    %s: ", p->name);
                        put_value(out, p, t->conf);
                        fputc('\n', out);
                }
        }
}
