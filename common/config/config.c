/*
 * config.c — the loader of the engine's configuration: the YAML file, the
 * engine's property table, triggers and environment overrides.
 *
 * OVERALL DESIGN: the file is loaded with libyaml's document API into a node
 * tree, which keeps every node's line. collect() walks a mapping and
 * flattens it into "leaves": a dotted key, the line of its last key, and the
 * value node (a scalar or a sequence; mappings are walked into). So
 * `time: {max_out_of_orderness: 5s}` and `time.max_out_of_orderness: 5s`
 * both become the leaf "time.max_out_of_orderness", and a key given twice in
 * either form is caught by comparing leaves. Each top-level leaf then goes to
 * exactly one place: `triggers` to load_triggers(), which flattens each entry
 * the same way and applies it with that processor's own table; `kafka.*` to
 * the passthrough list; anything else to props[] below, the one table that
 * also gives the defaults, the bounds, the docs (nd_config_write_doc) and
 * the dump (nd_config_dump), both written by config_doc.c. Every value,
 * whether from the file, a default or the environment, goes through
 * nd_cfg_set() (the property engine, config_prop.c), so there is one parser
 * per type. Environment overrides come after the file, and cross-field
 * checks last; to name the culprit in a cross-field error, the loader
 * remembers where each property was last set (line or environment variable).
 *
 * Nothing here is on a hot path: configs are small, so lookups are linear
 * and duplicate checks quadratic. The walk is bounded in depth and in nodes
 * visited, because YAML aliases can make a small file describe a huge tree.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <yaml.h>

#include "config_int.h"
#include "log.h"
#include "mem.h"

/* Keys visited: defeats alias bombs and keeps the duplicate check cheap. */
#define MAX_VISITS 10000
#define MAX_DEPTH  32 /* nesting of mappings */

/* ---------------------------------------------------------------------- */
/* The table                                                               */

static const char *const log_levels[] = {"debug", "info", "warn", "error",
                                         NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const input_formats[] = {"avro", "json", NULL};
static const char *const guarantees[] = {"exactly_once", "at_least_once", NULL};
static const char *const tolerances[] = {"dead_letter", "stop", NULL};

/* WHY: ENUM fields store the index into names[], so the orders must agree. */
_Static_assert(ND_LOG_DEBUG == 0 && ND_LOG_INFO == 1 && ND_LOG_WARN == 2 &&
                   ND_LOG_ERROR == 3,
               "log_levels[] follows nd_log_level_t");
_Static_assert(ND_FORMAT_AVRO == 0 && ND_FORMAT_JSON == 1,
               "input_formats[] follows nd_format_t");
_Static_assert(ND_GUARANTEE_EXACTLY_ONCE == 0 &&
                   ND_GUARANTEE_AT_LEAST_ONCE == 1,
               "guarantees[] follows nd_guarantee_t");
_Static_assert(ND_TOLERANCE_DEAD_LETTER == 0 && ND_TOLERANCE_STOP == 1,
               "tolerances[] follows nd_tolerance_t");

#define F(field) offsetof(nd_config_t, field)

static const nd_cfg_prop_t props[] = {
    ND_CFG_STR("application.id", "nudge", F(application_id),
               "Names this deployment: the prefix of its consumer group, "
               "transactional ids and changelog topic. Instances with the "
               "same id share the work."),
    ND_CFG_ENUM("log.level", "info", F(log_level), log_levels,
                "Lowest level that is logged."),
    ND_CFG_ENUM("log.format", "text", F(log_format), log_formats,
                "`text` for people, `json` for one JSON object per line "
                "(log collectors)."),
    ND_CFG_STR("topics.clickstream", "clickstream", F(topic_clickstream),
               "Input: page, product, search, app-open and message-click "
               "events."),
    ND_CFG_STR("topics.cart", "cart", F(topic_cart), "Input: cart events."),
    ND_CFG_STR("topics.purchase", "purchase", F(topic_purchase),
               "Input: order events."),
    ND_CFG_STR("topics.catalog", "catalog", F(topic_catalog),
               "Input: product records, keyed by sku (compacted)."),
    ND_CFG_STR("topics.actions", "actions", F(topic_actions),
               "Output: the actions the triggers emit."),
    ND_CFG_BOOL("topics.actions_per_channel", "false", F(actions_per_channel),
                "Send each action to `<topics.actions>.<channel>` "
                "(`actions.email`, ...) instead of the one actions topic."),
    ND_CFG_STR("topics.dead_letter", "nudge-dead-letter", F(topic_dead_letter),
               "Where input records that cannot be used go, with headers "
               "saying why."),
    ND_CFG_ENUM("input.format", "avro", F(input_format), input_formats,
                "Encoding of the input topics: Confluent-framed Avro or one "
                "JSON object per record."),
    ND_CFG_STR("schema.registry.url", "", F(schema_registry_url),
               "Confluent Schema Registry to fetch writer schemas from; "
               "empty: only the schemas in `schema.dir`."),
    ND_CFG_STR("schema.dir", "schemas", F(schema_dir),
               "Directory of the `.avsc` files. A relative path is looked "
               "up in the working directory, then beside the configuration "
               "file and in its parent folder, then in "
               "`/usr/share/nudge/schemas` and the source tree."),
    ND_CFG_INT("schema.ids.clickstream", "1", F(schema_id_clickstream), 1,
               2147483647,
               "Schema id of the clickstream schema when no registry is "
               "used."),
    ND_CFG_INT("schema.ids.cart", "2", F(schema_id_cart), 1, 2147483647,
               "Schema id of the cart schema when no registry is used."),
    ND_CFG_INT("schema.ids.purchase", "3", F(schema_id_purchase), 1, 2147483647,
               "Schema id of the purchase schema when no registry is used."),
    ND_CFG_INT("schema.ids.catalog", "4", F(schema_id_catalog), 1, 2147483647,
               "Schema id of the catalog schema when no registry is used."),
    ND_CFG_INT("schema.ids.action", "5", F(schema_id_action), 1, 2147483647,
               "Schema id written in front of every action."),
    ND_CFG_INT("processing.threads", "1", F(threads), 1, 64,
               "Worker threads, each with its own consumer, producer and "
               "tasks. More than the partition count is useless."),
    ND_CFG_ENUM("processing.guarantee", "exactly_once", F(guarantee),
                guarantees,
                "`exactly_once`: actions, state changes and input offsets "
                "commit in one Kafka transaction. `at_least_once`: no "
                "transactions; a crash may repeat actions."),
    ND_CFG_DURATION("processing.commit_interval", "100ms",
                    F(commit_interval_ms), ND_MS(1), ND_SEC(60),
                    "How often a worker commits (one transaction per "
                    "interval): lower is fresher, higher is cheaper."),
    ND_CFG_DURATION("processing.shutdown_timeout", "10s",
                    F(shutdown_timeout_ms), 0, ND_HOUR(1),
                    "How long a clean shutdown may take to commit and close "
                    "before it gives up."),
    ND_CFG_INT("processing.batch_size", "1000", F(batch_size), 1, 100000,
               "Most records a worker takes from its consumer at a time."),
    ND_CFG_DURATION(
        "processing.max_task_idle", "30s", F(max_task_idle_ms), 0, ND_HOUR(1),
        "How long a task holds its records back while one of its "
        "partitions has none buffered and has not reached its end (Kafka "
        "Streams' `max.task.idle.ms`): a task applies its topics' records "
        "merged by event time, so it waits for the partition behind. Past "
        "this it goes on without it (counted in "
        "`nudge_records_enforced_total`, logged). 30s: longer than any "
        "healthy fetch (fetch.wait.max.ms is 50 ms, a request times out "
        "after 30 s), short enough that a partition whose leader is away "
        "does not stop the task for long. 0: never wait (order only "
        "among what was fetched)."),
    ND_CFG_DURATION(
        "processing.cross_topic_grace", "0ms", F(cross_topic_grace_ms), 0,
        ND_SEC(10),
        "How long a record waits, while another topic of its task has "
        "nothing buffered and is at its end, for records of that topic "
        "fetched in the same moment (librdkafka hands a fetch response "
        "over one partition at a time). Orders a customer's events "
        "produced on different topics within this time of each other as "
        "replay does, at that much latency for such records. 0: no wait; "
        "events produced at the same moment on two topics may then be "
        "applied in either order."),
    ND_CFG_DURATION(
        "processing.rejoin_timeout", "5m", F(rejoin_timeout_ms), 0, ND_HOUR(1),
        "How long a worker tries to start over after a fatal error of "
        "its Kafka clients (a static member fenced after a broker outage "
        "longer than `session.timeout.ms`, a transactional producer "
        "fenced after one longer than `transaction.timeout.ms`): it drops "
        "its tasks and uncommitted work, recreates its consumer and "
        "producer, rejoins the group and restores from the changelogs, "
        "retrying with backoff (each attempt logged with the reason, "
        "counted in `nudge_consumer_recreations_total`). Counted from the "
        "first error until the worker commits again; errors in between "
        "count against the same bound. Past it the process exits 1. 0: "
        "exit at the first fatal error."),
    ND_CFG_DURATION("time.max_out_of_orderness", "5s",
                    F(max_out_of_orderness_ms), 0, ND_DAY(1),
                    "The watermark lags the highest event time seen by this "
                    "much (TRIGGERS.md §2)."),
    ND_CFG_DURATION("time.idle_advance_after", "1s", F(idle_advance_after_ms),
                    ND_MS(1), ND_HOUR(1),
                    "A task that has consumed everything and stayed idle "
                    "this long moves its watermark with the wall clock "
                    "(TRIGGERS.md §2)."),
    ND_CFG_DURATION("state.ttl", "30d", F(state_ttl_ms), ND_SEC(1),
                    ND_DAY(3650),
                    "Per-customer state untouched this long is dropped."),
    ND_CFG_ENUM("errors.tolerance", "dead_letter", F(errors_tolerance),
                tolerances,
                "What an input record that can never be used does (bad "
                "bytes, a schema id the registry does not know, a missing "
                "field, a wrong key or topic: the codes in "
                "docs/action-contract.md). `dead_letter`: it goes to the "
                "dead-letter topic with the reason and processing goes on. "
                "`stop`: nudge commits what came before it, logs the reason "
                "and exits with status 3; it is read again after a restart. "
                "Transient errors never dead-letter (see "
                "`errors.retry_timeout`)."),
    ND_CFG_DURATION(
        "errors.retry_timeout", "0ms", F(errors_retry_timeout_ms), 0,
        ND_DAY(365),
        "How long a transient error (the schema registry unreachable, "
        "answering HTTP 5xx, 429 or another non-404 error, timing out) may "
        "hold a task back. Meanwhile the task's partitions are paused "
        "(`nudge_partitions_paused`, `/readyz` not ready) and the record "
        "is retried with backoff (0.25 s doubling to 10 s); nothing past "
        "it commits. Past this bound the record is treated as one that "
        "can never be used (`errors.tolerance`). 0: no bound, wait for the "
        "registry for ever."),
    ND_CFG_INT("embedded.brokers", "1", F(embedded_brokers), 1, 5,
               "Brokers of the embedded cluster (used when "
               "`kafka.bootstrap.servers` is not set)."),
    ND_CFG_INT("embedded.partitions", "3", F(embedded_partitions), 1, 256,
               "Partitions of each topic of the embedded cluster."),
    ND_CFG_STR("http.listen", "0.0.0.0:9464", F(http_listen),
               "`HOST:PORT` of the metrics and health endpoint "
               "(`/metrics`, `/healthz`); empty turns it off."),
    ND_CFG_END};

#define NPROPS (sizeof(props) / sizeof(props[0]) - 1)

/* The writers (config_doc.c) walk the table through these. */
const nd_cfg_prop_t *const nd__config_props = props;
const size_t nd__config_nprops = NPROPS;

/* ---------------------------------------------------------------------- */
/* Loading                                                                 */

static const nd_cfg_prop_t *find_prop(const nd_cfg_prop_t *table,
                                      const char *name) {
        for (const nd_cfg_prop_t *prop = table; prop && prop->name; prop++)
                if (!strcmp(prop->name, name))
                        return prop;
        return NULL;
}

static bool is_list_type(nd_cfg_type_t type) {
        return type == ND_CFG_T_DURATIONS || type == ND_CFG_T_ENUMSET;
}

struct leaf {
        char *key;        /* flattened, dotted */
        int line;         /* of the (last) key, 1-based */
        yaml_node_t *val; /* scalar or sequence */
};

struct leaves {
        struct leaf *v;
        int cnt;
        int cap;
};

struct loader {
        const char *name; /* the file, for messages */
        nd_processor_lookup_t lookup;
        nd_config_t *cfg;
        yaml_document_t *doc;
        int visits;
        char where[32];          /* "triggers[2]" while loading one */
        int line[NPROPS];        /* where props[i] was set; 0: not in file */
        const char *env[NPROPS]; /* or the "NUDGE_X=v" entry that set it */
        char *errstr;
        size_t errstr_size;
};

static nd_err_t vfail(struct loader *ld, const char *env, int line,
                      const char *key, const char *fmt, va_list ap) {
        char msg[ND__CONFIG_WHY_MAX + 256], where[256];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        if (env)
                snprintf(where, sizeof(where), "environment %.*s",
                         (int)strcspn(env, "="), env);
        else if (line > 0)
                snprintf(where, sizeof(where), "%s:%d", ld->name, line);
        else
                snprintf(where, sizeof(where), "%s", ld->name);
        if (key)
                return nd_err_fmt(ld->errstr, ld->errstr_size, ND_ERR_CONFIG,
                                  "%s: key '%s': %s", where, key, msg);
        return nd_err_fmt(ld->errstr, ld->errstr_size, ND_ERR_CONFIG, "%s: %s",
                          where, msg);
}

__attribute__((format(printf, 4, 5))) static nd_err_t
fail(struct loader *ld, int line, const char *key, const char *fmt, ...) {
        va_list ap;
        nd_err_t err;
        va_start(ap, fmt);
        err = vfail(ld, NULL, line, key, fmt, ap);
        va_end(ap);
        return err;
}

__attribute__((format(printf, 4, 5))) static nd_err_t
fail_env(struct loader *ld, const char *env, const char *key, const char *fmt,
         ...) {
        va_list ap;
        nd_err_t err;
        va_start(ap, fmt);
        err = vfail(ld, env, 0, key, fmt, ap);
        va_end(ap);
        return err;
}

/* Where props[i] was last set, as fail() wants it. */
__attribute__((format(printf, 3, 4))) static nd_err_t
fail_prop(struct loader *ld, int i, const char *fmt, ...) {
        va_list ap;
        nd_err_t err;
        va_start(ap, fmt);
        err = vfail(ld, ld->env[i], ld->line[i], props[i].name, fmt, ap);
        va_end(ap);
        return err;
}

static int node_line(const yaml_node_t *node) {
        return (int)node->start_mark.line + 1;
}

static const char *scalar(const yaml_node_t *node) {
        return (const char *)node->data.scalar.value;
}

/* A YAML null: an empty plain scalar, `~` or `null`. */
static bool is_null(const yaml_node_t *node) {
        const char *s;
        if (node->type != YAML_SCALAR_NODE ||
            node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        s = scalar(node);
        return !*s || !strcmp(s, "~") || !strcmp(s, "null") ||
               !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static const char *scalar_text(const yaml_node_t *node) {
        return is_null(node) ? "" : scalar(node);
}

static void leaves_free(struct leaves *lv) {
        for (int i = 0; i < lv->cnt; i++)
                nd_free(lv->v[i].key);
        nd_free(lv->v);
        lv->v = NULL;
        lv->cnt = lv->cap = 0;
}

static char *join_key(const char *prefix, const char *key) {
        size_t plen = prefix ? strlen(prefix) : 0, klen = strlen(key);
        char *s = nd_malloc(plen + klen + 2);
        if (plen) {
                memcpy(s, prefix, plen);
                s[plen++] = '.';
        }
        memcpy(s + plen, key, klen + 1);
        return s;
}

/* The key as messages show it: "triggers[0].delays" inside a trigger. */
static const char *shown_key(struct loader *ld, const char *key, char *buf,
                             size_t size) {
        if (!ld->where[0])
                return key;
        snprintf(buf, size, "%s%s%s", ld->where, key ? "." : "",
                 key ? key : "");
        return buf;
}

/* Flattens mapping node into out; prefix is the dotted path so far. */
static nd_err_t collect(struct loader *ld, yaml_node_t *map, const char *prefix,
                        int depth, struct leaves *out) {
        yaml_node_pair_t *pair;
        nd_err_t err = ND_OK;
        char buf[320];

        for (pair = map->data.mapping.pairs.start;
             pair < map->data.mapping.pairs.top; pair++) {
                yaml_node_t *k = yaml_document_get_node(ld->doc, pair->key);
                yaml_node_t *v = yaml_document_get_node(ld->doc, pair->value);
                char *full;

                if (++ld->visits > MAX_VISITS)
                        return fail(ld, node_line(map),
                                    shown_key(ld, prefix, buf, sizeof(buf)),
                                    "the document is too large (more than "
                                    "%d nodes once aliases are expanded)",
                                    MAX_VISITS);
                if (k->type != YAML_SCALAR_NODE || !*scalar(k))
                        return fail(ld, node_line(k),
                                    shown_key(ld, prefix, buf, sizeof(buf)),
                                    "keys must be non-empty strings");
                if (strlen(scalar(k)) != k->data.scalar.length)
                        return fail(ld, node_line(k),
                                    shown_key(ld, prefix, buf, sizeof(buf)),
                                    "a key contains a NUL character");
                for (yaml_node_pair_t *q = map->data.mapping.pairs.start;
                     q < pair; q++) {
                        yaml_node_t *qk =
                            yaml_document_get_node(ld->doc, q->key);
                        if (qk->type == YAML_SCALAR_NODE &&
                            !strcmp(scalar(qk), scalar(k))) {
                                full = join_key(prefix, scalar(k));
                                err =
                                    fail(ld, node_line(k),
                                         shown_key(ld, full, buf, sizeof(buf)),
                                         "duplicate key (first set at "
                                         "line %d)",
                                         node_line(qk));
                                nd_free(full);
                                return err;
                        }
                }
                full = join_key(prefix, scalar(k));
                if (v->type == YAML_MAPPING_NODE) {
                        if (depth >= MAX_DEPTH)
                                err =
                                    fail(ld, node_line(k),
                                         shown_key(ld, full, buf, sizeof(buf)),
                                         "nested more than %d levels deep",
                                         MAX_DEPTH);
                        else
                                err = collect(ld, v, full, depth + 1, out);
                        nd_free(full);
                        if (err)
                                return err;
                        continue;
                }
                if (v->type == YAML_SCALAR_NODE &&
                    strlen(scalar(v)) != v->data.scalar.length) {
                        err = fail(ld, node_line(k),
                                   shown_key(ld, full, buf, sizeof(buf)),
                                   "the value contains a NUL character");
                        nd_free(full);
                        return err;
                }
                for (int i = 0; i < out->cnt; i++) {
                        if (!strcmp(out->v[i].key, full)) {
                                err =
                                    fail(ld, node_line(k),
                                         shown_key(ld, full, buf, sizeof(buf)),
                                         "duplicate key (first set at "
                                         "line %d)",
                                         out->v[i].line);
                                nd_free(full);
                                return err;
                        }
                }
                if (out->cnt == out->cap) {
                        out->cap = out->cap ? out->cap * 2 : 16;
                        out->v = nd_realloc(out->v,
                                            (size_t)out->cap * sizeof(*out->v));
                }
                out->v[out->cnt++] = (struct leaf){full, node_line(k), v};
        }
        return ND_OK;
}

/* Edit distance, for "did you mean". Long strings get no suggestion. */
static int distance(const char *a, const char *b) {
        int la = (int)strlen(a), lb = (int)strlen(b);
        int row[129], prev_diag, tmp;
        if (la > 128 || lb > 128)
                return 1 << 20;
        for (int j = 0; j <= lb; j++)
                row[j] = j;
        for (int i = 1; i <= la; i++) {
                prev_diag = row[0];
                row[0] = i;
                for (int j = 1; j <= lb; j++) {
                        int best = prev_diag + (a[i - 1] != b[j - 1]);
                        if (row[j] + 1 < best)
                                best = row[j] + 1;
                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        tmp = row[j];
                        row[j] = best;
                        prev_diag = tmp;
                }
        }
        return row[lb];
}

static void consider(const char *key, const char *cand, int *best,
                     const char **bestp) {
        int d = distance(key, cand);
        if (d < *best) {
                *best = d;
                *bestp = cand;
        }
}

/* "unknown key", with the closest candidate when it is close enough. */
static nd_err_t unknown_key(struct loader *ld, int line, const char *key,
                            const char *shown, const nd_cfg_prop_t *table,
                            const char *const *extra) {
        int best = 1 << 20;
        const char *cand = NULL;
        size_t dot = strcspn(key, ".");
        char first[64];

        for (const nd_cfg_prop_t *p = table; p && p->name; p++)
                consider(key, p->name, &best, &cand);
        for (int i = 0; extra && extra[i]; i++)
                consider(key, extra[i], &best, &cand);
        if (cand && best <= 2 + (int)strlen(key) / 4)
                return fail(ld, line, shown, "unknown key (did you mean '%s'?)",
                            cand);
        /* "kakfa.bootstrap.servers": the section name is what is wrong. */
        if (table == props && key[dot] == '.' && dot < sizeof(first)) {
                memcpy(first, key, dot);
                first[dot] = '\0';
                if (distance(first, "kafka") <= 2)
                        return fail(ld, line, shown,
                                    "unknown key (did you mean 'kafka%s'?)",
                                    key + dot);
        }
        return fail(ld, line, shown, "unknown key");
}

/* Applies a leaf (scalar or sequence) to one property. */
static nd_err_t apply_leaf(struct loader *ld, const nd_cfg_prop_t *prop,
                           void *base, const struct leaf *lf,
                           const char *shown) {
        char why[ND__CONFIG_WHY_MAX], what[320];
        const char *items[ND__CONFIG_LIST_ITEMS_MAX];
        yaml_node_t *v = lf->val;
        int cnt = 0;

        if (v->type == YAML_SCALAR_NODE) {
                if (nd_cfg_set(prop, base, scalar_text(v), why, sizeof(why)))
                        return fail(ld, lf->line, shown, "%s", why);
                return ND_OK;
        }
        nd__config_describe(prop, false, what, sizeof(what));
        if (!is_list_type(prop->type))
                return fail(ld, lf->line, shown, "expected %s, got a list",
                            what);
        for (yaml_node_item_t *it = v->data.sequence.items.start;
             it < v->data.sequence.items.top; it++) {
                yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
                if (item->type != YAML_SCALAR_NODE)
                        return fail(ld, node_line(item), shown,
                                    "expected a list of values, got a "
                                    "nested %s",
                                    item->type == YAML_MAPPING_NODE ? "mapping"
                                                                    : "list");
                if (cnt == ND__CONFIG_LIST_ITEMS_MAX)
                        return fail(ld, lf->line, shown, "more than %d items",
                                    ND__CONFIG_LIST_ITEMS_MAX);
                items[cnt++] = scalar_text(item);
        }
        if (nd__config_set_list(prop, base, items, cnt, why, sizeof(why)))
                return fail(ld, lf->line, shown, "%s", why);
        return ND_OK;
}

/* Sets (or replaces) one kafka property; takes nothing. */
static void kafka_put(nd_config_t *cfg, const char *key, const char *value) {
        for (int i = 0; i < cfg->kafka_cnt; i++) {
                if (!strcmp(cfg->kafka[i].key, key)) {
                        nd_free(cfg->kafka[i].value);
                        cfg->kafka[i].value = nd_strdup(value);
                        return;
                }
        }
        cfg->kafka = nd_realloc(cfg->kafka, (size_t)(cfg->kafka_cnt + 1) *
                                                sizeof(*cfg->kafka));
        cfg->kafka[cfg->kafka_cnt].key = nd_strdup(key);
        cfg->kafka[cfg->kafka_cnt].value = nd_strdup(value);
        cfg->kafka_cnt++;
}

/* kafka.<key>: a scalar as written, or a list joined with ','. */
static nd_err_t load_kafka(struct loader *ld, const struct leaf *lf) {
        yaml_node_t *v = lf->val;
        char *joined;
        size_t len = 0;

        if (v->type == YAML_SCALAR_NODE) {
                kafka_put(ld->cfg, lf->key + 6, scalar_text(v));
                return ND_OK;
        }
        for (yaml_node_item_t *it = v->data.sequence.items.start;
             it < v->data.sequence.items.top; it++) {
                yaml_node_t *item = yaml_document_get_node(ld->doc, *it);
                if (item->type != YAML_SCALAR_NODE)
                        return fail(ld, node_line(item), lf->key,
                                    "expected a value or a list of values");
                len += strlen(scalar_text(item)) + 1;
        }
        joined = nd_malloc(len + 1);
        joined[0] = '\0';
        for (yaml_node_item_t *it = v->data.sequence.items.start;
             it < v->data.sequence.items.top; it++) {
                if (it != v->data.sequence.items.start)
                        strcat(joined, ",");
                strcat(joined,
                       scalar_text(yaml_document_get_node(ld->doc, *it)));
        }
        kafka_put(ld->cfg, lf->key + 6, joined);
        nd_free(joined);
        return ND_OK;
}

static bool valid_trigger_name(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
                        return false;
        return true;
}

/* The leaf named key, which must be a non-null scalar, or NULL. */
static nd_err_t trigger_word(struct loader *ld, struct leaves *lv,
                             const char *key, int idx, int line,
                             const struct leaf **out) {
        char shown[64];
        snprintf(shown, sizeof(shown), "triggers[%d].%s", idx, key);
        for (int i = 0; i < lv->cnt; i++) {
                if (strcmp(lv->v[i].key, key))
                        continue;
                if (lv->v[i].val->type != YAML_SCALAR_NODE ||
                    is_null(lv->v[i].val))
                        return fail(ld, lv->v[i].line, shown,
                                    "expected a string");
                *out = &lv->v[i];
                return ND_OK;
        }
        return fail(ld, line, shown, "missing: every trigger needs a %s", key);
}

static nd_err_t load_trigger(struct loader *ld, yaml_node_t *item, int idx) {
        nd_config_t *cfg = ld->cfg;
        nd_trigger_conf_t *t;
        const nd_processor_def_t *def;
        const struct leaf *name = NULL, *type = NULL;
        struct leaves lv = {0};
        bool *given = NULL;
        char shown[320], why[ND__CONFIG_WHY_MAX];
        int line = node_line(item), nprops = 0;
        nd_err_t err;

        if (item->type != YAML_MAPPING_NODE) {
                snprintf(shown, sizeof(shown), "triggers[%d]", idx);
                return fail(ld, line, shown,
                            "expected a mapping with a name, a type and the "
                            "trigger's properties");
        }
        snprintf(ld->where, sizeof(ld->where), "triggers[%d]", idx);
        err = collect(ld, item, NULL, 1, &lv);
        ld->where[0] = '\0';
        if (err || (err = trigger_word(ld, &lv, "name", idx, line, &name)))
                goto out;
        snprintf(shown, sizeof(shown), "triggers[%d].name", idx);
        if (!valid_trigger_name(scalar(name->val))) {
                err = fail(ld, name->line, shown,
                           "expected a name of letters, digits, '_', '.' and "
                           "'-', got '%s'",
                           scalar(name->val));
                goto out;
        }
        for (int i = 0; i < cfg->trigger_cnt; i++) {
                if (!strcmp(cfg->triggers[i].name, scalar(name->val))) {
                        err = fail(ld, name->line, shown,
                                   "duplicate trigger name '%s' (first at "
                                   "line %d)",
                                   scalar(name->val), cfg->triggers[i].line);
                        goto out;
                }
                /* The changelog tells a trigger's entries by 32 bits of
                 * the name's XXH3-64 (runtime/changelog.c,
                 * nd_task_changelog_tag): two names must differ there too
                 * (about one pair in 4 billion does not). */
                if ((uint32_t)XXH3_64bits(cfg->triggers[i].name,
                                          strlen(cfg->triggers[i].name)) ==
                    (uint32_t)XXH3_64bits(scalar(name->val),
                                          strlen(scalar(name->val)))) {
                        err = fail(ld, name->line, shown,
                                   "trigger names '%s' and '%s' (line %d) "
                                   "have the same changelog tag: rename one",
                                   scalar(name->val), cfg->triggers[i].name,
                                   cfg->triggers[i].line);
                        goto out;
                }
        }
        if ((err = trigger_word(ld, &lv, "type", idx, line, &type)))
                goto out;
        def = ld->lookup ? ld->lookup(scalar(type->val)) : NULL;
        if (!def) {
                snprintf(shown, sizeof(shown), "triggers[%d].type", idx);
                err = fail(ld, type->line, shown, "unknown trigger type '%s'",
                           scalar(type->val));
                goto out;
        }

        /* From here the entry exists, so nd_config_destroy() frees it. */
        t = &cfg->triggers[cfg->trigger_cnt++];
        t->name = nd_strdup(scalar(name->val));
        t->def = def;
        t->line = line;
        t->conf = nd_calloc(1, def->config_size);
        snprintf(shown, sizeof(shown), "triggers[%d]", idx);
        if (def->config &&
            nd_cfg_defaults(def->config, t->conf, why, sizeof(why))) {
                err = fail(ld, line, shown, "%s", why);
                goto out;
        }
        for (const nd_cfg_prop_t *p = def->config; p && p->name; p++)
                nprops++;
        given = nd_calloc((size_t)nprops + 1, sizeof(*given));
        for (int i = 0; i < lv.cnt; i++) {
                const struct leaf *lf = &lv.v[i];
                static const char *const words[] = {"name", "type", NULL};
                const nd_cfg_prop_t *prop;
                if (lf == name || lf == type)
                        continue;
                snprintf(shown, sizeof(shown), "triggers[%d].%s", idx, lf->key);
                if (!(prop = find_prop(def->config, lf->key))) {
                        err = unknown_key(ld, lf->line, lf->key, shown,
                                          def->config, words);
                        goto out;
                }
                if ((err = apply_leaf(ld, prop, t->conf, lf, shown)))
                        goto out;
                given[prop - def->config] = true;
        }
        for (int i = 0; i < nprops; i++) {
                if ((def->config[i].flags & ND_CFG_F_REQUIRED) && !given[i]) {
                        snprintf(shown, sizeof(shown), "triggers[%d].%s", idx,
                                 def->config[i].name);
                        err = fail(ld, line, shown,
                                   "required by trigger type '%s'", def->name);
                        goto out;
                }
        }
        if (def->config_check &&
            def->config_check(t->conf, why, sizeof(why)) != ND_OK) {
                snprintf(shown, sizeof(shown), "triggers[%d]", idx);
                err = fail(ld, line, shown, "%s", why);
        }
out:
        nd_free(given);
        leaves_free(&lv);
        return err;
}

static nd_err_t load_triggers(struct loader *ld, const struct leaf *lf) {
        yaml_node_t *v = lf->val;
        int n;
        nd_err_t err;

        if (v->type == YAML_SCALAR_NODE) {
                if (is_null(v))
                        return ND_OK;
                return fail(ld, lf->line, lf->key,
                            "expected a list of triggers");
        }
        n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
        ld->cfg->triggers = nd_calloc((size_t)n, sizeof(nd_trigger_conf_t));
        for (int i = 0; i < n; i++) {
                yaml_node_t *item = yaml_document_get_node(
                    ld->doc, v->data.sequence.items.start[i]);
                if ((err = load_trigger(ld, item, i)))
                        return err;
        }
        return ND_OK;
}

/* A key that only groups others ("time", "schema.ids"). */
static bool is_section(const char *key) {
        size_t len = strlen(key);
        for (size_t i = 0; i < NPROPS; i++)
                if (!strncmp(props[i].name, key, len) &&
                    props[i].name[len] == '.')
                        return true;
        return false;
}

/* The first property of a section, for messages. */
static const char *section_example(const char *key) {
        size_t len = strlen(key);
        for (size_t i = 0; i < NPROPS; i++)
                if (!strncmp(props[i].name, key, len) &&
                    props[i].name[len] == '.')
                        return props[i].name + len + 1;
        return "?";
}

static nd_err_t load_root(struct loader *ld, yaml_node_t *root) {
        static const char *const extra[] = {"kafka", "triggers", NULL};
        struct leaves lv = {0};
        nd_err_t err;

        if (root->type != YAML_MAPPING_NODE) {
                err = fail(ld, node_line(root), NULL,
                           "the top level must be a mapping of keys");
                goto out;
        }
        if ((err = collect(ld, root, NULL, 1, &lv)))
                goto out;
        for (int i = 0; i < lv.cnt; i++) {
                const struct leaf *lf = &lv.v[i];
                const nd_cfg_prop_t *prop;
                if (!strcmp(lf->key, "triggers")) {
                        err = load_triggers(ld, lf);
                } else if (!strcmp(lf->key, "kafka")) {
                        if (!is_null(lf->val))
                                err = fail(ld, lf->line, lf->key,
                                           "expected a mapping of librdkafka "
                                           "properties");
                } else if (!strncmp(lf->key, "kafka.", 6)) {
                        err = load_kafka(ld, lf);
                } else if ((prop = find_prop(props, lf->key))) {
                        err = apply_leaf(ld, prop, ld->cfg, lf, lf->key);
                        ld->line[prop - props] = lf->line;
                } else if (is_section(lf->key)) {
                        if (!is_null(lf->val))
                                err = fail(ld, lf->line, lf->key,
                                           "expected a mapping of keys such "
                                           "as %s, got a value",
                                           section_example(lf->key));
                } else {
                        err = unknown_key(ld, lf->line, lf->key, lf->key, props,
                                          extra);
                }
                if (err)
                        goto out;
        }
out:
        leaves_free(&lv);
        return err;
}

/* "bootstrap.servers" from "BOOTSTRAP_SERVERS", Confluent-image style. */
static char *kafka_env_key(const char *s, size_t len) {
        char *key = nd_malloc(len + 1), *o = key;
        for (size_t i = 0; i < len;) {
                size_t run = 0;
                if (s[i] != '_') {
                        *o++ = (char)tolower((unsigned char)s[i++]);
                        continue;
                }
                while (i < len && s[i] == '_') {
                        run++;
                        i++;
                }
                for (; run >= 3; run -= 3)
                        *o++ = '-';
                if (run == 2)
                        *o++ = '_';
                else if (run == 1)
                        *o++ = '.';
        }
        *o = '\0';
        return key;
}

/* "NUDGE_TIME_MAX_OUT_OF_ORDERNESS" for "time.max_out_of_orderness". */
static void env_name(const char *key, char *buf, size_t size) {
        size_t i = 0, off = (size_t)snprintf(buf, size, "NUDGE_");
        for (; key[i] && off + i + 1 < size; i++)
                buf[off + i] =
                    key[i] == '.' ? '_' : (char)toupper((unsigned char)key[i]);
        buf[off + i] = '\0';
}

static nd_err_t apply_env(struct loader *ld) {
        char name[160], why[ND__CONFIG_WHY_MAX];

        for (char **e = environ; e && *e; e++) {
                const char *eq = strchr(*e, '=');
                size_t len;
                if (strncmp(*e, "NUDGE_", 6) || !eq)
                        continue;
                len = (size_t)(eq - *e);
                if (len > 12 && !strncmp(*e, "NUDGE_KAFKA_", 12)) {
                        char *key = kafka_env_key(*e + 12, len - 12);
                        kafka_put(ld->cfg, key, eq + 1);
                        nd_free(key);
                        continue;
                }
                for (size_t i = 0; i < NPROPS; i++) {
                        env_name(props[i].name, name, sizeof(name));
                        if (strlen(name) != len || strncmp(name, *e, len))
                                continue;
                        if (nd_cfg_set(&props[i], ld->cfg, eq + 1, why,
                                       sizeof(why)))
                                return fail_env(ld, *e, props[i].name, "%s",
                                                why);
                        ld->env[i] = *e;
                        ld->line[i] = 0;
                }
        }
        return ND_OK;
}

static bool valid_topic(const char *s) {
        size_t len = strlen(s);
        if (!len || len > 249 || !strcmp(s, ".") || !strcmp(s, ".."))
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
                        return false;
        return true;
}

static nd_err_t validate(struct loader *ld) {
        nd_config_t *cfg = ld->cfg;
        const char *listen = cfg->http_listen;
        int topics[NPROPS], ntopics = 0;

        cfg->log_json = cfg->log_format == 1;
        for (size_t i = 0; i < NPROPS; i++) {
                const char *name = props[i].name;
                if (!strcmp(name, "application.id") &&
                    !valid_topic(cfg->application_id))
                        return fail_prop(ld, (int)i,
                                         "expected a non-empty id of letters, "
                                         "digits, '.', '_' and '-', got '%s'",
                                         cfg->application_id);
                if (strncmp(name, "topics.", 7) ||
                    props[i].type != ND_CFG_T_STR)
                        continue;
                if (!valid_topic(
                        *(char **)(void *)((char *)cfg + props[i].offset)))
                        return fail_prop(
                            ld, (int)i,
                            "expected a topic name of at most 249 letters, "
                            "digits, '.', '_' and '-', got '%s'",
                            *(char **)(void *)((char *)cfg + props[i].offset));
                topics[ntopics++] = (int)i;
        }
        for (int a = 0; a < ntopics; a++) {
                for (int b = a + 1; b < ntopics; b++) {
                        const nd_cfg_prop_t *pa = &props[topics[a]];
                        const nd_cfg_prop_t *pb = &props[topics[b]];
                        const char *ta =
                            *(char **)(void *)((char *)cfg + pa->offset);
                        const char *tb =
                            *(char **)(void *)((char *)cfg + pb->offset);
                        /* Blame the one that was set, not the default. */
                        int blame = ld->line[topics[b]] || ld->env[topics[b]]
                                        ? topics[b]
                                        : topics[a];
                        const nd_cfg_prop_t *other =
                            blame == topics[b] ? pa : pb;
                        if (strcmp(ta, tb))
                                continue;
                        return fail_prop(ld, blame,
                                         "topic '%s' is also %s; every topic "
                                         "must be distinct",
                                         ta, other->name);
                }
        }
        /* A transactional producer under at-least-once would never be
         * initialised: every produce fails and nothing is ever emitted. */
        if (cfg->guarantee != ND_GUARANTEE_EXACTLY_ONCE) {
                static const char *const tid[] = {"transactional.id",
                                                  "producer.transactional.id"};
                for (int i = 0; i < 2; i++)
                        if (nd_config_kafka_get(cfg, tid[i])) {
                                char key[64];
                                snprintf(key, sizeof(key), "kafka.%s", tid[i]);
                                return fail(ld, 0, key,
                                            "only under "
                                            "processing.guarantee "
                                            "exactly_once (at_least_once "
                                            "uses no transactions)");
                        }
        }
        if (*listen) {
                const char *colon = strrchr(listen, ':');
                int64_t port;
                if (!colon || nd__config_parse_int(colon + 1, &port) != ND_OK ||
                    colon[1] == '-' || colon[1] == '+' || port > 65535) {
                        for (size_t i = 0; i < NPROPS; i++)
                                if (!strcmp(props[i].name, "http.listen"))
                                        return fail_prop(
                                            ld, (int)i,
                                            "expected HOST:PORT (or empty "
                                            "for off), got '%s'",
                                            listen);
                }
        }
        return ND_OK;
}

static nd_err_t yaml_fail(struct loader *ld, const yaml_parser_t *parser,
                          nd_err_t err) {
        if (parser->error == YAML_READER_ERROR)
                return nd_err_fmt(ld->errstr, ld->errstr_size, err,
                                  "%s: invalid YAML: %s at byte %zu", ld->name,
                                  parser->problem ? parser->problem
                                                  : "read error",
                                  parser->problem_offset);
        if (parser->context)
                return nd_err_fmt(
                    ld->errstr, ld->errstr_size, err,
                    "%s:%zu:%zu: invalid YAML: %s (%s at line %zu)", ld->name,
                    parser->problem_mark.line + 1,
                    parser->problem_mark.column + 1,
                    parser->problem ? parser->problem : "error",
                    parser->context, parser->context_mark.line + 1);
        return nd_err_fmt(ld->errstr, ld->errstr_size, err,
                          "%s:%zu:%zu: invalid YAML: %s", ld->name,
                          parser->problem_mark.line + 1,
                          parser->problem_mark.column + 1,
                          parser->problem ? parser->problem : "error");
}

/* Loads from parser (or defaults only when parser is NULL) into ld->cfg. */
static nd_err_t load(struct loader *ld, yaml_parser_t *parser,
                     nd_err_t read_err) {
        yaml_document_t doc, extra;
        yaml_node_t *root;
        nd_err_t err;
        char why[ND__CONFIG_WHY_MAX];

        if ((err = nd_cfg_defaults(props, ld->cfg, why, sizeof(why))))
                return fail(ld, 0, NULL, "%s", why);
        if (!parser)
                goto env;
        if (!yaml_parser_load(parser, &doc))
                /* WHY: a reader error is also bad UTF-8, a config error. */
                return yaml_fail(ld, parser,
                                 parser->error == YAML_READER_ERROR &&
                                         parser->problem &&
                                         !strcmp(parser->problem, "input error")
                                     ? read_err
                                     : ND_ERR_CONFIG);
        ld->doc = &doc;
        root = yaml_document_get_root_node(&doc);
        /* WHY: "---\n...\n" is a document whose root is a null scalar. */
        if (root && is_null(root))
                root = NULL;
        if (root) {
                /* WHY: a second document would be silently ignored. */
                if (!yaml_parser_load(parser, &extra)) {
                        err = yaml_fail(ld, parser, ND_ERR_CONFIG);
                } else {
                        yaml_node_t *r2 = yaml_document_get_root_node(&extra);
                        if (r2)
                                err = fail(ld, node_line(r2), NULL,
                                           "only one YAML document is "
                                           "allowed");
                        yaml_document_delete(&extra);
                }
                if (!err)
                        err = load_root(ld, root);
        }
        yaml_document_delete(&doc);
        ld->doc = NULL;
        if (err)
                return err;
env:
        if ((err = apply_env(ld)))
                return err;
        return validate(ld);
}

static nd_err_t load_common(const char *name, FILE *fp, const char *yaml,
                            size_t len, nd_processor_lookup_t lookup,
                            nd_config_t **cfgp, char *errstr,
                            size_t errstr_size) {
        struct loader ld = {.name = name ? name : "(defaults)",
                            .lookup = lookup,
                            .errstr = errstr,
                            .errstr_size = errstr_size};
        yaml_parser_t parser;
        bool have_parser = fp || yaml;
        nd_err_t err;

        *cfgp = NULL;
        ld.cfg = nd_calloc(1, sizeof(*ld.cfg));
        ld.cfg->path = name ? nd_strdup(name) : NULL;
        if (have_parser) {
                if (!yaml_parser_initialize(&parser)) {
                        nd_config_destroy(ld.cfg);
                        return nd_err_fmt(errstr, errstr_size, ND_ERR_NOMEM,
                                          "%s: out of memory", ld.name);
                }
                if (fp)
                        yaml_parser_set_input_file(&parser, fp);
                else
                        yaml_parser_set_input_string(
                            &parser, (const unsigned char *)yaml, len);
        }
        err = load(&ld, have_parser ? &parser : NULL,
                   fp ? ND_ERR_IO : ND_ERR_CONFIG);
        if (have_parser)
                yaml_parser_delete(&parser);
        if (err) {
                nd_config_destroy(ld.cfg);
                return err;
        }
        *cfgp = ld.cfg;
        return ND_OK;
}

/*
 * A relative schema.dir is resolved once, here, so that nudge finds its
 * schemas whatever the working directory: the first candidate holding
 * clickstream.avsc wins; when none does, the value stays as written and the
 * serde's error names it.
 */
static void resolve_schema_dir(nd_config_t *cfg) {
        enum { CAP = PATH_MAX + 64 };
        char cand[4][CAP], base[PATH_MAX];
        const char *dir = cfg->schema_dir;
        int n = 0, w;

        if (!dir || !*dir || dir[0] == '/' || strlen(dir) >= PATH_MAX / 2)
                return;
        if (snprintf(cand[n], CAP, "%s", dir) < CAP)
                n++;
        if (cfg->path) {
                const char *slash = strrchr(cfg->path, '/');
                w = snprintf(base, sizeof(base), "%.*s",
                             slash ? (int)(slash - cfg->path) : 1,
                             slash ? cfg->path : ".");
                if (w > 0 && w < PATH_MAX / 2) {
                        if (snprintf(cand[n], CAP, "%s/%s", base, dir) < CAP)
                                n++;
                        if (snprintf(cand[n], CAP, "%s/../%s", base, dir) < CAP)
                                n++;
                }
        }
        if (snprintf(cand[n], CAP, "/usr/share/nudge/%s", dir) < CAP)
                n++;
        for (int i = 0; i < n; i++) {
                char probe[CAP + 32];
                if (snprintf(probe, sizeof(probe), "%s/clickstream.avsc",
                             cand[i]) >= (int)sizeof(probe))
                        continue;
                if (access(probe, R_OK) == 0) {
                        char *abs = realpath(cand[i], NULL);
                        nd_free(cfg->schema_dir);
                        cfg->schema_dir = nd_strdup(abs ? abs : cand[i]);
                        free(abs);
                        return;
                }
        }
#ifdef ND_SOURCE_DIR
        if (!strcmp(dir, "schemas")) {
                nd_free(cfg->schema_dir);
                cfg->schema_dir = nd_strdup(ND_SOURCE_DIR "/schemas");
        }
#endif
}

nd_err_t nd_config_load(const char *path, nd_processor_lookup_t lookup,
                        nd_config_t **cfgp, char *errstr, size_t errstr_size) {
        FILE *fp;
        struct stat st;
        nd_err_t err;

        if (!path) {
                err = load_common(NULL, NULL, NULL, 0, lookup, cfgp, errstr,
                                  errstr_size);
                if (err == ND_OK)
                        resolve_schema_dir(*cfgp);
                return err;
        }
        *cfgp = NULL;
        if (!(fp = fopen(path, "r")))
                return nd_err_fmt(errstr, errstr_size, ND_ERR_IO,
                                  "%s: cannot open: %s", path, strerror(errno));
        if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
                fclose(fp);
                return nd_err_fmt(errstr, errstr_size, ND_ERR_IO,
                                  "%s: cannot read: %s", path,
                                  strerror(EISDIR));
        }
        err = load_common(path, fp, NULL, 0, lookup, cfgp, errstr, errstr_size);
        fclose(fp);
        if (err == ND_OK)
                resolve_schema_dir(*cfgp);
        return err;
}

nd_err_t nd_config_load_string(const char *name, const char *yaml, size_t len,
                               nd_processor_lookup_t lookup, nd_config_t **cfgp,
                               char *errstr, size_t errstr_size) {
        /* WHY "": libyaml reads len bytes; a NULL yaml means defaults. */
        return load_common(name ? name : "(string)", NULL, yaml ? yaml : "",
                           yaml ? len : 0, lookup, cfgp, errstr, errstr_size);
}

void nd_config_destroy(nd_config_t *cfg) {
        if (!cfg)
                return;
        nd_cfg_free(props, cfg);
        for (int i = 0; i < cfg->kafka_cnt; i++) {
                nd_free(cfg->kafka[i].key);
                nd_free(cfg->kafka[i].value);
        }
        nd_free(cfg->kafka);
        for (int i = 0; i < cfg->trigger_cnt; i++) {
                nd_trigger_conf_t *t = &cfg->triggers[i];
                if (t->def && t->def->config)
                        nd_cfg_free(t->def->config, t->conf);
                nd_free(t->conf);
                nd_free(t->name);
        }
        nd_free(cfg->triggers);
        nd_free(cfg->path);
        nd_free(cfg);
}

const char *nd_config_kafka_get(const nd_config_t *cfg, const char *key) {
        for (int i = 0; i < cfg->kafka_cnt; i++)
                if (!strcmp(cfg->kafka[i].key, key))
                        return cfg->kafka[i].value;
        return NULL;
}

bool nd_config_is_embedded(const nd_config_t *cfg) {
        const char *v = nd_config_kafka_get(cfg, "bootstrap.servers");
        for (; v && *v; v++)
                if (!isspace((unsigned char)*v))
                        return false;
        return true;
}
