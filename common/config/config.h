/*
 * config — the engine's configuration: one YAML file, one property table.
 *
 * nd_config_load() reads the file with libyaml, flattens nested mappings into
 * dotted keys (so `time: {max_out_of_orderness: 5s}` and
 * `time.max_out_of_orderness: 5s` are the same key), applies the table in
 * config.c, passes everything under `kafka` through to librdkafka untouched,
 * parses each entry of `triggers` with its processor's own table, applies
 * environment overrides, and validates. Every error names the file, the line,
 * the key and what is wrong; the caller prints it and exits with code 2.
 *
 * YAML syntax errors read "FILE:LINE:COLUMN: invalid YAML: what", with
 * libyaml's position, since no key is known there.
 *
 * Environment overrides (for containers) win over the file:
 *   NUDGE_<KEY>          the key upper-cased, '.' as '_'
 *                        (NUDGE_TIME_MAX_OUT_OF_ORDERNESS=2s)
 *   NUDGE_KAFKA_<PROP>   a librdkafka property, Confluent-image style:
 *                        '_' -> '.', '__' -> '_', '___' -> '-'
 *                        (NUDGE_KAFKA_BOOTSTRAP_SERVERS=kafka:9092)
 * Other NUDGE_* variables are ignored, since other tools may set some; a
 * misspelt override is therefore silent (`nudge check-config -v` shows what
 * took effect). Triggers have no environment overrides.
 *
 * Thread safety: load once at start; the result is read-only afterwards and
 * may be read from any thread.
 */
#ifndef ND_CONFIG_H
#define ND_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nudge/config.h"
#include "nudge/processor.h"

typedef enum {
        ND_GUARANTEE_EXACTLY_ONCE = 0,
        ND_GUARANTEE_AT_LEAST_ONCE,
} nd_guarantee_t;

typedef enum {
        ND_FORMAT_AVRO = 0,
        ND_FORMAT_JSON,
} nd_format_t;

/* errors.tolerance: what a record that cannot be used does. */
typedef enum {
        ND_TOLERANCE_DEAD_LETTER = 0, /* to the dead-letter topic, go on */
        ND_TOLERANCE_STOP,            /* stop before it, exit status 3 */
} nd_tolerance_t;

typedef struct nd_kv_s {
        char *key;
        char *value;
} nd_kv_t;

/** One entry of `triggers:`. */
typedef struct nd_trigger_conf_s {
        char *name;                    /* unique */
        const nd_processor_def_t *def; /* from the type */
        void *conf;                    /* def->config_size bytes */
        int line;                      /* where it starts in the file */
} nd_trigger_conf_t;

typedef struct nd_config_s {
        char *path; /* the file, or NULL for defaults only */

        /* application */
        char *application_id; /* application.id */

        /* log */
        int log_level;  /* log.level: nd_log_level_t */
        bool log_json;  /* log.format == json */
        int log_format; /* log.format: 0 text, 1 json */

        /* kafka: passed through to librdkafka as they are */
        nd_kv_t *kafka;
        int kafka_cnt;

        /* topics */
        char *topic_clickstream;  /* topics.clickstream */
        char *topic_cart;         /* topics.cart */
        char *topic_purchase;     /* topics.purchase */
        char *topic_catalog;      /* topics.catalog */
        char *topic_actions;      /* topics.actions */
        bool actions_per_channel; /* topics.actions_per_channel */
        char *topic_dead_letter;  /* topics.dead_letter */

        /* input */
        int input_format; /* input.format: nd_format_t */

        /* schema */
        char *schema_registry_url;     /* schema.registry.url ("" = none) */
        char *schema_dir;              /* schema.dir */
        int64_t schema_id_clickstream; /* schema.ids.clickstream */
        int64_t schema_id_cart;        /* schema.ids.cart */
        int64_t schema_id_purchase;    /* schema.ids.purchase */
        int64_t schema_id_catalog;     /* schema.ids.catalog */
        int64_t schema_id_action;      /* schema.ids.action */

        /* processing */
        int64_t threads;              /* processing.threads */
        int guarantee;                /* processing.guarantee: nd_guarantee_t */
        int64_t commit_interval_ms;   /* processing.commit_interval */
        int64_t shutdown_timeout_ms;  /* processing.shutdown_timeout */
        int64_t batch_size;           /* processing.batch_size */
        int64_t max_task_idle_ms;     /* processing.max_task_idle */
        int64_t cross_topic_grace_ms; /* processing.cross_topic_grace */
        int64_t rejoin_timeout_ms;    /* processing.rejoin_timeout */

        /* time (TRIGGERS.md §2) */
        int64_t max_out_of_orderness_ms; /* time.max_out_of_orderness */
        int64_t idle_advance_after_ms;   /* time.idle_advance_after */

        /* state */
        int64_t state_ttl_ms; /* state.ttl */

        /* errors */
        int errors_tolerance;            /* errors.tolerance: nd_tolerance_t */
        int64_t errors_retry_timeout_ms; /* errors.retry_timeout (0: none) */

        /* embedded broker (used when kafka.bootstrap.servers is unset) */
        int64_t embedded_brokers;    /* embedded.brokers */
        int64_t embedded_partitions; /* embedded.partitions */

        /* metrics / health HTTP endpoint */
        char *http_listen; /* http.listen ("" = off) */

        /* triggers */
        nd_trigger_conf_t *triggers;
        int trigger_cnt;
} nd_config_t;

/**
 * Finds a processor definition by type name ("cart_abandonment"); the
 * runtime passes the registry's lookup so that config stays below it.
 */
typedef const nd_processor_def_t *(*nd_processor_lookup_t)(const char *type);

/**
 * Loads path (NULL: defaults and environment only) into a new config.
 * On error returns ND_ERR_CONFIG (or ND_ERR_IO when the file cannot be
 * read), *cfgp is NULL and errstr holds "FILE:LINE: key 'K': what is wrong".
 */
nd_err_t nd_config_load(const char *path, nd_processor_lookup_t lookup,
                        nd_config_t **cfgp, char *errstr, size_t errstr_size);

/**
 * Like nd_config_load() on the len bytes at yaml, which need not end in NUL;
 * name stands for the file in messages and in cfg->path. For tests, fuzzing
 * and configurations that do not live in a file.
 */
nd_err_t nd_config_load_string(const char *name, const char *yaml, size_t len,
                               nd_processor_lookup_t lookup, nd_config_t **cfgp,
                               char *errstr, size_t errstr_size);

/** nd_config_destroy(NULL) is a no-op. */
void nd_config_destroy(nd_config_t *cfg);

/** The value of a kafka.* property, or NULL when not set. */
const char *nd_config_kafka_get(const nd_config_t *cfg, const char *key);

/** True when no bootstrap.servers is configured: run the embedded broker. */
bool nd_config_is_embedded(const nd_config_t *cfg);

/**
 * Writes docs/configuration.md: every top-level property and every
 * processor's properties, from the tables. defs ends with NULL.
 */
void nd_config_write_doc(FILE *out, const nd_processor_def_t *const *defs);

/** Writes the effective configuration as YAML (for `check-config -v`). */
void nd_config_dump(FILE *out, const nd_config_t *cfg);

#endif
