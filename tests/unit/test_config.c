/* test_config.c — config: YAML, the property tables, environment, docs. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "mem.h"
#include "nd_test.h"
#include "registry.h"

/* A fake processor with one property of every type, for trigger tests. */
struct fake_conf {
        char *campaign;
        int64_t max_items;
        bool enabled;
        int64_t delay_ms;
        int64_t budget;
        int mode;
        nd_cfg_durations_t delays;
        uint32_t channels;
        char *note;
};

static const char *const modes[] = {"fast", "slow", NULL};
static const char *const channels[] = {"web", "app", "email", "sms", NULL};

#define FK(f) offsetof(struct fake_conf, f)
static const nd_cfg_prop_t fake_props[] = {
    {"campaign", ND_CFG_T_STR, FK(campaign), NULL, 0, 0, NULL,
     ND_CFG_F_REQUIRED, "Required campaign id."},
    ND_CFG_INT("max_items", "3", FK(max_items), 1, 10, "Items."),
    ND_CFG_BOOL("enabled", "true", FK(enabled), "On or off."),
    ND_CFG_DURATION("delay", "3d", FK(delay_ms), ND_MIN(1), ND_DAY(30),
                    "Delay."),
    ND_CFG_SIZE("budget", "64k", FK(budget), 1024, 1LL << 30, "Bytes."),
    ND_CFG_ENUM("mode", "fast", FK(mode), modes, "Mode."),
    ND_CFG_DURATIONS("delays", "[1h, 24h]", FK(delays), ND_MIN(1), ND_DAY(7),
                     "Stages."),
    ND_CFG_ENUMSET("channels", "web,app", FK(channels), channels, "Channels."),
    ND_CFG_STR("window.note", "", FK(note), "A nested key."),
    ND_CFG_END};

static nd_err_t fake_check(const void *conf, char *errstr, size_t errstr_size) {
        const struct fake_conf *fc = conf;
        for (int i = 1; i < fc->delays.cnt; i++) {
                if (fc->delays.ms[i] <= fc->delays.ms[i - 1]) {
                        snprintf(errstr, errstr_size, "delays must increase");
                        return ND_ERR_CONFIG;
                }
        }
        return ND_OK;
}

static const nd_processor_def_t fake_def = {
    .abi = ND_PROCESSOR_ABI_1,
    .name = "fake",
    .doc = "A test processor.",
    .config = fake_props,
    .config_size = sizeof(struct fake_conf),
    .config_check = fake_check,
};

static const nd_processor_def_t *lookup(const char *type) {
        if (!strcmp(type, "fake"))
                return &fake_def;
        return nd_processor_find(type);
}

static char errbuf[1024];

static nd_err_t load(const char *yaml, nd_config_t **cfgp) {
        errbuf[0] = '\0';
        return nd_config_load_string("nudge.yaml", yaml, strlen(yaml), lookup,
                                     cfgp, errbuf, sizeof(errbuf));
}

static nd_config_t *load_ok(const char *yaml) {
        nd_config_t *cfg = NULL;
        nd_err_t err = load(yaml, &cfg);
        ck_assert_msg(err == ND_OK, "'%s' failed: %s", yaml, errbuf);
        ck_assert_ptr_nonnull(cfg);
        return cfg;
}

static void load_fails(const char *yaml, const char *want) {
        nd_config_t *cfg = (nd_config_t *)&cfg;
        ck_assert_int_eq(load(yaml, &cfg), ND_ERR_CONFIG);
        ck_assert_ptr_null(cfg);
        ck_assert_msg(strstr(errbuf, want), "'%s': got '%s', want '%s'", yaml,
                      errbuf, want);
}

/* Table-driven cases: YAML text -> one field's value, or an error. */
enum kind { K_ERR, K_I64, K_INT, K_BOOL, K_STR, K_U32, K_LIST, K_KAFKA };

struct cfg_case {
        const char *yaml;
        enum kind kind;
        int trig;       /* -1: the config; else triggers[trig].conf */
        size_t off;     /* field in that struct */
        int64_t i;      /* K_I64, K_INT, K_BOOL, K_U32 */
        const char *s;  /* K_STR value, K_LIST "1,2", K_KAFKA key, K_ERR */
        const char *kv; /* K_KAFKA value */
};

#define C(f) offsetof(nd_config_t, f)
#define I64(y, f, v) \
        { y, K_I64, -1, C(f), v, NULL, NULL }
#define INT(y, f, v) \
        { y, K_INT, -1, C(f), v, NULL, NULL }
#define BOOL(y, f, v) \
        { y, K_BOOL, -1, C(f), v, NULL, NULL }
#define STR(y, f, v) \
        { y, K_STR, -1, C(f), 0, v, NULL }
#define KAFKA(y, k, v) \
        { y, K_KAFKA, -1, 0, 0, k, v }
#define ERR(y, e) \
        { y, K_ERR, -1, 0, 0, e, NULL }
#define T_I64(y, f, v) \
        { y, K_I64, 0, FK(f), v, NULL, NULL }
#define T_INT(y, f, v) \
        { y, K_INT, 0, FK(f), v, NULL, NULL }
#define T_BOOL(y, f, v) \
        { y, K_BOOL, 0, FK(f), v, NULL, NULL }
#define T_STR(y, f, v) \
        { y, K_STR, 0, FK(f), 0, v, NULL }
#define T_U32(y, f, v) \
        { y, K_U32, 0, FK(f), v, NULL, NULL }
#define T_LIST(y, f, v) \
        { y, K_LIST, 0, FK(f), 0, v, NULL }

#define MOO  "time.max_out_of_orderness: "
#define THR  "processing.threads: "
#define FAKE "triggers:\n  - name: t\n    type: fake\n    campaign: c\n"

static const struct cfg_case cases[] = {
    /* Durations: every form. */
    I64(MOO "1500", max_out_of_orderness_ms, 1500),
    I64(MOO "1500ms", max_out_of_orderness_ms, 1500),
    I64(MOO "5s", max_out_of_orderness_ms, 5000),
    I64(MOO "10m", max_out_of_orderness_ms, 600000),
    I64(MOO "1h", max_out_of_orderness_ms, 3600000),
    I64(MOO "1d", max_out_of_orderness_ms, 86400000),
    I64(MOO "0", max_out_of_orderness_ms, 0),
    I64(MOO "1.5s", max_out_of_orderness_ms, 1500),
    I64(MOO "0.25m", max_out_of_orderness_ms, 15000),
    I64(MOO "'2s'", max_out_of_orderness_ms, 2000),
    I64("state.ttl: 3650d", state_ttl_ms, 3650LL * 86400000),
    I64("processing.commit_interval: 1ms", commit_interval_ms, 1),
    /* Durations: every error names file, line and key. */
    ERR(MOO "5 parsecs",
        "nudge.yaml:1: key 'time.max_out_of_orderness': expected a duration "
        "such as 500ms, 5s, 10m, 1h or 3d, got '5 parsecs'"),
    ERR(MOO "-5s", "expected a duration such as 500ms, 5s, 10m, 1h or 3d, "
                   "got '-5s'"),
    ERR(MOO "5x", "got '5x'"),
    ERR(MOO "5S", "got '5S'"),
    ERR(MOO "5 s", "got '5 s'"),
    ERR(MOO "5s junk", "got '5s junk'"),
    ERR(MOO "''", "key 'time.max_out_of_orderness': expected a duration"),
    ERR(MOO, "nudge.yaml:1: key 'time.max_out_of_orderness': expected a "
             "duration such as 500ms, 5s, 10m, 1h or 3d, got ''"),
    ERR(MOO ".5s", "got '.5s'"),
    ERR(MOO "5.s", "got '5.s'"),
    ERR(MOO "s", "got 's'"),
    ERR(MOO "1.5", "expected a whole number of milliseconds, got '1.5'"),
    ERR(MOO "1.0001s", "expected a whole number of milliseconds"),
    ERR(MOO "2d", "expected a duration between 0ms and 1d, got '2d'"),
    ERR(MOO "99999999999999999999",
        "expected a duration between 0ms and 1d, got '99999999999999999999'"),
    ERR(MOO "9999999999999999d", "between 0ms and 1d"),
    ERR("processing.commit_interval: 0", "expected a duration between 1ms "
                                         "and 1m, got '0'"),
    ERR("\n\n" MOO "[1s]", "nudge.yaml:3: key 'time.max_out_of_orderness': "
                           "expected a duration such as 500ms, 5s, 10m, 1h "
                           "or 3d, got a list"),
    /* Integers. */
    I64(THR "8", threads, 8),
    I64(THR "+3", threads, 3),
    I64(THR "64", threads, 64),
    I64("schema.ids.action: 2147483647", schema_id_action, 2147483647),
    ERR(THR "0", "key 'processing.threads': expected an integer between 1 "
                 "and 64, got '0'"),
    ERR(THR "65", "between 1 and 64, got '65'"),
    ERR(THR "-1", "between 1 and 64, got '-1'"),
    ERR(THR "abc", "expected an integer, got 'abc'"),
    ERR(THR "1.5", "expected an integer, got '1.5'"),
    ERR(THR "0x10", "expected an integer, got '0x10'"),
    ERR(THR "99999999999999999999", "between 1 and 64"),
    ERR("schema.ids.cart: 2147483648", "between 1 and 2147483647"),
    /* Booleans. */
    BOOL("topics.actions_per_channel: true", actions_per_channel, 1),
    BOOL("topics.actions_per_channel: yes", actions_per_channel, 1),
    BOOL("topics.actions_per_channel: On", actions_per_channel, 1),
    BOOL("topics.actions_per_channel: TRUE", actions_per_channel, 1),
    BOOL("topics.actions_per_channel: false", actions_per_channel, 0),
    BOOL("topics.actions_per_channel: no", actions_per_channel, 0),
    BOOL("topics.actions_per_channel: off", actions_per_channel, 0),
    ERR("topics.actions_per_channel: maybe",
        "key 'topics.actions_per_channel': expected true or false, got "
        "'maybe'"),
    ERR("topics.actions_per_channel: 1", "expected true or false, got '1'"),
    /* Enums, and the derived log_json. */
    INT("log.level: debug", log_level, ND_LOG_DEBUG),
    INT("log.level: warn", log_level, ND_LOG_WARN),
    INT("log.level: error", log_level, ND_LOG_ERROR),
    INT("log.format: json", log_format, 1),
    BOOL("log.format: json", log_json, 1),
    BOOL("log.format: text", log_json, 0),
    INT("input.format: json", input_format, ND_FORMAT_JSON),
    INT("processing.guarantee: at_least_once", guarantee,
        ND_GUARANTEE_AT_LEAST_ONCE),
    ERR("log.level: loud", "nudge.yaml:1: key 'log.level': expected one of "
                           "debug, info, warn, error, got 'loud'"),
    ERR("log.level: DEBUG", "got 'DEBUG'"),
    ERR("processing.guarantee: exactly-once",
        "expected one of exactly_once, at_least_once, got 'exactly-once'"),
    INT("errors.tolerance: stop", errors_tolerance, ND_TOLERANCE_STOP),
    INT("errors.retry_timeout: 5m", errors_retry_timeout_ms, 300000),
    ERR("errors.tolerance: ignore",
        "nudge.yaml:1: key 'errors.tolerance': expected one of dead_letter, "
        "stop, got 'ignore'"),
    ERR("errors.retry_timeout: 400d", "key 'errors.retry_timeout'"),
    /* Strings. */
    STR("application.id: shop-eu.1", application_id, "shop-eu.1"),
    STR("topics.cart: carts", topic_cart, "carts"),
    STR("schema.registry.url: http://sr:8081", schema_registry_url,
        "http://sr:8081"),
    STR("schema.dir: /etc/nudge/schemas", schema_dir, "/etc/nudge/schemas"),
    STR("http.listen: ''", http_listen, ""),
    STR("http.listen:", http_listen, ""),
    STR("http.listen: 127.0.0.1:0", http_listen, "127.0.0.1:0"),
    STR("http.listen: '[::1]:9464'", http_listen, "[::1]:9464"),
    STR("application.id: \"quoted\" # comment", application_id, "quoted"),
    ERR("http.listen: localhost", "key 'http.listen': expected HOST:PORT"),
    ERR("http.listen: h:99999", "expected HOST:PORT"),
    ERR("application.id: ''", "key 'application.id': expected a non-empty"),
    /* Cross-field: topics non-empty, valid and distinct. */
    ERR("topics:\n  cart: clickstream",
        "nudge.yaml:2: key 'topics.cart': topic 'clickstream' is also "
        "topics.clickstream"),
    ERR("topics:\n  actions: x\n  clickstream: x",
        "nudge.yaml:2: key 'topics.actions': topic 'x' is also "
        "topics.clickstream"),
    ERR("topics.dead_letter: ''",
        "nudge.yaml:1: key 'topics.dead_letter': expected a topic name"),
    ERR("topics.cart: 'my cart'", "got 'my cart'"),
    /* Nesting forms are the same key. */
    I64("time: {max_out_of_orderness: 7s}", max_out_of_orderness_ms, 7000),
    I64("time:\n  max_out_of_orderness: 7s\n", max_out_of_orderness_ms, 7000),
    I64("time:\n  idle_advance_after: 2s\ntime.max_out_of_orderness: 7s",
        max_out_of_orderness_ms, 7000),
    I64("time:\n  idle_advance_after: 2s\ntime.max_out_of_orderness: 7s",
        idle_advance_after_ms, 2000),
    I64("schema: {ids: {cart: 9}}", schema_id_cart, 9),
    I64("schema:\n  ids.cart: 9", schema_id_cart, 9),
    I64("schema.ids: {cart: 9}", schema_id_cart, 9),
    I64("time:\nstate: {}\nschema.ids:\n", max_out_of_orderness_ms, 5000),
    /* Duplicates name both lines, in any mix of forms. */
    ERR("time.max_out_of_orderness: 1s\ntime: {max_out_of_orderness: 2s}",
        "nudge.yaml:2: key 'time.max_out_of_orderness': duplicate key "
        "(first set at line 1)"),
    ERR("log:\n  level: info\nlog:\n  format: json",
        "nudge.yaml:3: key 'log': duplicate key (first set at line 1)"),
    ERR("log.level: info\n\nlog.level: debug",
        "nudge.yaml:3: key 'log.level': duplicate key (first set at line 1)"),
    ERR("kafka: {a: 1}\nkafka.a: 2",
        "nudge.yaml:2: key 'kafka.a': duplicate key (first set at line 1)"),
    /* Unknown keys, with a suggestion when one is close. */
    ERR("foo: 1", "nudge.yaml:1: key 'foo': unknown key"),
    ERR("log.level: info\ntime.max_out_of_order: 5s",
        "nudge.yaml:2: key 'time.max_out_of_order': unknown key (did you "
        "mean 'time.max_out_of_orderness'?)"),
    ERR("tim: {max_out_of_orderness: 5s}",
        "key 'tim.max_out_of_orderness': unknown key (did you mean "
        "'time.max_out_of_orderness'?)"),
    ERR("trigers: []", "unknown key (did you mean 'triggers'?)"),
    ERR("kakfa.bootstrap.servers: k:9092",
        "unknown key (did you mean 'kafka.bootstrap.servers'?)"),
    ERR("time: 5s", "nudge.yaml:1: key 'time': expected a mapping of keys "
                    "such as max_out_of_orderness, got a value"),
    ERR("schema.ids: [1]", "key 'schema.ids': expected a mapping of keys "
                           "such as clickstream, got a value"),
    ERR("processing.threads.max: 5", "key 'processing.threads.max'"),
    /* Wrong YAML: libyaml's line and column. */
    ERR("log.level: info\nkey: value: other",
        "nudge.yaml:2:11: invalid YAML: mapping values are not allowed"),
    ERR("time:\n\tmax_out_of_orderness: 5s", "nudge.yaml:2:1: invalid YAML"),
    ERR("a: [1, 2\n", "invalid YAML"),
    ERR("a: 'unterminated\n", "invalid YAML"),
    ERR("a: *nope", "invalid YAML"),
    ERR("- a\n- b", "nudge.yaml:1: the top level must be a mapping"),
    ERR("just text", "the top level must be a mapping"),
    ERR("log.level: info\n---\nlog.level: warn",
        "nudge.yaml:3: only one YAML document is allowed"),
    ERR("? [a, b]\n: c", "keys must be non-empty strings"),
    ERR("'': 1", "keys must be non-empty strings"),
    ERR("application.id: \"a\\0b\"", "NUL"),
    /* Empty files are the defaults; anchors and aliases work. */
    I64("", threads, 1),
    I64("# nothing but a comment\n", threads, 1),
    I64("---\n...\n", threads, 1),
    I64("processing: {batch_size: &n 4, threads: *n}", threads, 4),
    I64("time:\n  max_out_of_orderness: &d 3s\n  idle_advance_after: *d",
        idle_advance_after_ms, 3000),
    /* Kafka: passed through as written, flattened the same way. */
    KAFKA("kafka:\n  bootstrap.servers: k:9092", "bootstrap.servers", "k:9092"),
    KAFKA("kafka: {bootstrap: {servers: k:9092}}", "bootstrap.servers",
          "k:9092"),
    KAFKA("kafka.linger.ms: 5", "linger.ms", "5"),
    KAFKA("kafka.producer.transactional.id: t", "producer.transactional.id",
          "t"),
    ERR("processing.guarantee: at_least_once\nkafka.transactional.id: t",
        "key 'kafka.transactional.id': only under processing.guarantee "
        "exactly_once"),
    ERR("processing.guarantee: at_least_once\n"
        "kafka.producer.transactional.id: t",
        "key 'kafka.producer.transactional.id': only under"),
    KAFKA("kafka: {enable.idempotence: true}", "enable.idempotence", "true"),
    KAFKA("kafka: {enable.idempotence: yes}", "enable.idempotence", "yes"),
    KAFKA("kafka: {x: 0x10}", "x", "0x10"),
    KAFKA("kafka: {x: 1.50}", "x", "1.50"),
    KAFKA("kafka: {bootstrap.servers: [a:1, b:2]}", "bootstrap.servers",
          "a:1,b:2"),
    KAFKA("kafka: {ssl: {key: {password: pw}}}", "ssl.key.password", "pw"),
    KAFKA("kafka: {bootstrap.servers: }", "bootstrap.servers", ""),
    ERR("kafka: 5", "nudge.yaml:1: key 'kafka': expected a mapping of "
                    "librdkafka properties"),
    ERR("kafka: {x: [[1]]}", "key 'kafka.x': expected a value or a list"),
    /* Triggers: the shipped passthrough. */
    /* passthrough's conf is private: its one field, a bool, is at 0. */
    {"triggers:\n  - name: p\n    type: passthrough\n    log_records: true",
     K_BOOL, 0, 0, 1, NULL, NULL},
    /* Triggers: every property type of the fake processor, defaults. */
    T_STR(FAKE, campaign, "c"),
    T_I64(FAKE, max_items, 3),
    T_BOOL(FAKE, enabled, 1),
    T_I64(FAKE, delay_ms, 3LL * 86400000),
    T_I64(FAKE, budget, 65536),
    T_INT(FAKE, mode, 0),
    T_LIST(FAKE, delays, "3600000,86400000"),
    T_U32(FAKE, channels, 0x3),
    T_STR(FAKE, note, ""),
    /* ... and set. */
    T_I64(FAKE "    max_items: 10", max_items, 10),
    T_BOOL(FAKE "    enabled: off", enabled, 0),
    T_I64(FAKE "    delay: 90m", delay_ms, 5400000),
    T_I64(FAKE "    budget: 512M", budget, 512LL << 20),
    T_I64(FAKE "    budget: 2kb", budget, 2048),
    T_I64(FAKE "    budget: 1.5k", budget, 1536),
    T_I64(FAKE "    budget: 4096", budget, 4096),
    T_INT(FAKE "    mode: slow", mode, 1),
    T_LIST(FAKE "    delays: [10m, 2h, 1d]", delays, "600000,7200000,86400000"),
    T_LIST(FAKE "    delays:\n      - 10m\n      - 2h", delays,
           "600000,7200000"),
    T_LIST(FAKE "    delays: 2h", delays, "7200000"),
    T_LIST(FAKE "    delays: '[1h, 2h]'", delays, "3600000,7200000"),
    T_LIST(FAKE "    delays: []", delays, ""),
    T_U32(FAKE "    channels: [email, sms]", channels, 0xc),
    T_U32(FAKE "    channels:\n    - web\n    - web", channels, 0x1),
    T_U32(FAKE "    channels: []", channels, 0),
    T_STR(FAKE "    window: {note: hi}", note, "hi"),
    T_STR(FAKE "    window.note: hi", note, "hi"),
    T_STR("triggers:\n- {name: t, type: fake, campaign: x}", campaign, "x"),
    /* Triggers: errors. */
    ERR(FAKE "    max_items: 11",
        "nudge.yaml:5: key 'triggers[0].max_items': expected an integer "
        "between 1 and 10, got '11'"),
    ERR(FAKE "    max_items: [1, 2]",
        "key 'triggers[0].max_items': expected an integer, got a list"),
    ERR(FAKE "    delay: 30s", "key 'triggers[0].delay': expected a "
                               "duration between 1m and 30d, got '30s'"),
    ERR(FAKE "    budget: 1", "expected a size between 1k and 1G, got '1'"),
    ERR(FAKE "    budget: 12 parsecs",
        "expected a size such as 1048576, 64k, 512M or 2G"),
    ERR(FAKE "    budget: 1.0001k", "expected a whole number of bytes"),
    ERR(FAKE "    mode: medium", "expected one of fast, slow"),
    ERR(FAKE "    delays: [1h, 5 parsecs]",
        "nudge.yaml:5: key 'triggers[0].delays': item 2: expected a "
        "duration such as 500ms"),
    ERR(FAKE "    delays: [1h, 30d]", "item 2: expected a duration between "
                                      "1m and 7d, got '30d'"),
    ERR(FAKE "    delays: [1h, [2h]]", "got a nested list"),
    ERR(FAKE "    delays: [1h, {a: 2h}]", "got a nested mapping"),
    ERR(FAKE "    delays: [1m,2m,3m,4m,5m,6m,7m,8m,9m,10m,11m,12m,13m,14m,"
             "15m,16m,17m]",
        "expected at most 16 durations, got 17"),
    ERR(FAKE "    delays: '[1h, 2h'", "malformed list"),
    ERR(FAKE "    delays: '1h,,2h'", "malformed list"),
    ERR(FAKE "    delays: [2h, 1h]",
        "nudge.yaml:2: key 'triggers[0]': delays must increase"),
    ERR(FAKE "    channels: [web, fax]",
        "key 'triggers[0].channels': item 2: expected one of web, app, "
        "email, sms, got 'fax'"),
    ERR(FAKE "    max_itemz: 3", "nudge.yaml:5: key 'triggers[0].max_itemz': "
                                 "unknown key (did you mean 'max_items'?)"),
    ERR(FAKE "    window: {size: 1h}", "key 'triggers[0].window.size': "
                                       "unknown key"),
    ERR(FAKE "    mode: fast\n    mode: slow",
        "nudge.yaml:6: key 'triggers[0].mode': duplicate key (first set at "
        "line 5)"),
    ERR(FAKE "    window: {note: a}\n    window.note: b",
        "nudge.yaml:6: key 'triggers[0].window.note': duplicate key"),
    ERR("triggers:\n  - name: t\n    type: fake",
        "nudge.yaml:2: key 'triggers[0].campaign': required by trigger type "
        "'fake'"),
    ERR("triggers:\n  - type: passthrough",
        "nudge.yaml:2: key 'triggers[0].name': missing"),
    ERR("triggers:\n  - name: t", "key 'triggers[0].type': missing"),
    ERR("triggers:\n  - name: t\n    type:",
        "nudge.yaml:3: key 'triggers[0].type': expected a string"),
    ERR("triggers:\n  - name: t\n    type: nope",
        "nudge.yaml:3: key 'triggers[0].type': unknown trigger type 'nope'"),
    ERR("triggers:\n  - name: a b\n    type: passthrough",
        "key 'triggers[0].name': expected a name of letters, digits"),
    ERR("triggers:\n  - name: t\n    type: passthrough\n"
        "  - name: t\n    type: passthrough",
        "nudge.yaml:4: key 'triggers[1].name': duplicate trigger name 't' "
        "(first at line 2)"),
    /* a pair whose XXH3-64 agree in the low 32 bits (found by search) */
    ERR("triggers:\n  - name: t245305\n    type: passthrough\n"
        "  - name: t282795\n    type: passthrough",
        "nudge.yaml:4: key 'triggers[1].name': trigger names 't282795' and "
        "'t245305' (line 2) have the same changelog tag: rename one"),
    ERR("triggers:\n  - name: t\n    type: passthrough\n    log_record: 1",
        "did you mean 'log_records'?"),
    ERR("triggers:\n  - name: t\n    type: passthrough\n    log_records: 1",
        "key 'triggers[0].log_records': expected true or false, got '1'"),
    ERR("triggers: 5",
        "nudge.yaml:1: key 'triggers': expected a list of triggers"),
    ERR("triggers:\n  - passthrough",
        "nudge.yaml:2: key 'triggers[0]': expected a mapping"),
    INT("triggers:\n", trigger_cnt, 0),
    INT("triggers: []", trigger_cnt, 0),
};

static bool list_eq(const nd_cfg_durations_t *d, const char *want) {
        char got[512] = "";
        size_t off = 0;
        for (int i = 0; i < d->cnt; i++)
                off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%lld",
                                        i ? "," : "", (long long)d->ms[i]);
        return !strcmp(got, want);
}

START_TEST(every_case_gives_its_value_or_its_error) {
        const struct cfg_case *c = &cases[_i];
        nd_config_t *cfg;
        const char *base;

        if (c->kind == K_ERR) {
                load_fails(c->yaml, c->s);
                return;
        }
        cfg = load_ok(c->yaml);
        base = (const char *)cfg + c->off;
        if (c->trig >= 0) {
                ck_assert_int_gt(cfg->trigger_cnt, c->trig);
                base = (const char *)cfg->triggers[c->trig].conf + c->off;
        }
        switch (c->kind) {
        case K_I64:
                ck_assert_msg(*(const int64_t *)(const void *)base == c->i,
                              "'%s': got %lld, want %lld", c->yaml,
                              (long long)*(const int64_t *)(const void *)base,
                              (long long)c->i);
                break;
        case K_INT:
                ck_assert_int_eq(*(const int *)(const void *)base, c->i);
                break;
        case K_BOOL:
                ck_assert_int_eq(*(const bool *)(const void *)base, c->i);
                break;
        case K_U32:
                ck_assert_uint_eq(*(const uint32_t *)(const void *)base,
                                  (uint32_t)c->i);
                break;
        case K_STR:
                ck_assert_str_eq(*(char *const *)(const void *)base, c->s);
                break;
        case K_LIST:
                ck_assert_msg(
                    list_eq((const nd_cfg_durations_t *)(const void *)base,
                            c->s),
                    "'%s': list differs from %s", c->yaml, c->s);
                break;
        case K_KAFKA:
                ck_assert_ptr_nonnull(nd_config_kafka_get(cfg, c->s));
                ck_assert_str_eq(nd_config_kafka_get(cfg, c->s), c->kv);
                break;
        case K_ERR:
                break;
        }
        nd_config_destroy(cfg);
}
END_TEST

START_TEST(defaults_are_the_documented_ones) {
        nd_config_t *cfg = load_ok("");
        ck_assert_str_eq(cfg->path, "nudge.yaml");
        ck_assert_str_eq(cfg->application_id, "nudge");
        ck_assert_int_eq(cfg->log_level, ND_LOG_INFO);
        ck_assert_int_eq(cfg->log_format, 0);
        ck_assert(!cfg->log_json);
        ck_assert_int_eq(cfg->kafka_cnt, 0);
        ck_assert_str_eq(cfg->topic_clickstream, "clickstream");
        ck_assert_str_eq(cfg->topic_cart, "cart");
        ck_assert_str_eq(cfg->topic_purchase, "purchase");
        ck_assert_str_eq(cfg->topic_catalog, "catalog");
        ck_assert_str_eq(cfg->topic_actions, "actions");
        ck_assert(!cfg->actions_per_channel);
        ck_assert_str_eq(cfg->topic_dead_letter, "nudge-dead-letter");
        ck_assert_int_eq(cfg->input_format, ND_FORMAT_AVRO);
        ck_assert_str_eq(cfg->schema_registry_url, "");
        ck_assert_str_eq(cfg->schema_dir, "schemas");
        ck_assert_int_eq(cfg->schema_id_clickstream, 1);
        ck_assert_int_eq(cfg->schema_id_cart, 2);
        ck_assert_int_eq(cfg->schema_id_purchase, 3);
        ck_assert_int_eq(cfg->schema_id_catalog, 4);
        ck_assert_int_eq(cfg->schema_id_action, 5);
        ck_assert_int_eq(cfg->threads, 1);
        ck_assert_int_eq(cfg->guarantee, ND_GUARANTEE_EXACTLY_ONCE);
        ck_assert_int_eq(cfg->commit_interval_ms, 100);
        ck_assert_int_eq(cfg->shutdown_timeout_ms, 10000);
        ck_assert_int_eq(cfg->batch_size, 1000);
        ck_assert_int_eq(cfg->max_out_of_orderness_ms, 5000);
        ck_assert_int_eq(cfg->idle_advance_after_ms, 1000);
        ck_assert_int_eq(cfg->state_ttl_ms, 30LL * 86400000);
        ck_assert_int_eq(cfg->embedded_brokers, 1);
        ck_assert_int_eq(cfg->embedded_partitions, 3);
        ck_assert_str_eq(cfg->http_listen, "0.0.0.0:9464");
        ck_assert_int_eq(cfg->trigger_cnt, 0);
        ck_assert(nd_config_is_embedded(cfg));
        nd_config_destroy(cfg);
}
END_TEST

START_TEST(no_path_means_defaults_and_environment) {
        nd_config_t *cfg = NULL;
        setenv("NUDGE_PROCESSING_THREADS", "4", 1);
        ck_assert_int_eq(
            nd_config_load(NULL, lookup, &cfg, errbuf, sizeof(errbuf)), ND_OK);
        ck_assert_ptr_null(cfg->path);
        ck_assert_int_eq(cfg->threads, 4);
        ck_assert_int_eq(cfg->batch_size, 1000);
        nd_config_destroy(cfg);
        unsetenv("NUDGE_PROCESSING_THREADS");
}
END_TEST

START_TEST(destroy_of_null_is_a_noop) {
        nd_config_destroy(NULL);
        ck_assert(true);
}
END_TEST

START_TEST(several_triggers_keep_file_order_and_lines) {
        nd_config_t *cfg = load_ok("log.level: info\n"
                                   "triggers:\n"
                                   "  - name: first\n"
                                   "    type: passthrough\n"
                                   "  - name: second.one-2\n"
                                   "    type: fake\n"
                                   "    campaign: spring\n"
                                   "    channels: [sms]\n");
        struct fake_conf *fc;
        ck_assert_int_eq(cfg->trigger_cnt, 2);
        ck_assert_str_eq(cfg->triggers[0].name, "first");
        ck_assert_ptr_eq(cfg->triggers[0].def,
                         nd_processor_find("passthrough"));
        ck_assert_int_eq(cfg->triggers[0].line, 3);
        ck_assert_str_eq(cfg->triggers[1].name, "second.one-2");
        ck_assert_ptr_eq(cfg->triggers[1].def, &fake_def);
        ck_assert_int_eq(cfg->triggers[1].line, 5);
        fc = cfg->triggers[1].conf;
        ck_assert_str_eq(fc->campaign, "spring");
        ck_assert_uint_eq(fc->channels, 1u << 3);
        nd_config_destroy(cfg);
}
END_TEST

START_TEST(a_failed_trigger_frees_what_was_built) {
        /* ASan finds the leak if a half-built trigger is not freed. */
        load_fails("triggers:\n"
                   "  - {name: a, type: fake, campaign: x, window.note: y}\n"
                   "  - {name: b, type: fake, campaign: y, window.note: z,"
                   " delays: [3h, 1h]}\n",
                   "nudge.yaml:3: key 'triggers[1]': delays must increase");
        load_fails("triggers:\n"
                   "  - {name: a, type: fake, window.note: y}\n",
                   "required by trigger type 'fake'");
}
END_TEST

START_TEST(kafka_properties_keep_file_order) {
        nd_config_t *cfg = load_ok("kafka:\n"
                                   "  client.id: me\n"
                                   "  bootstrap.servers: k1:9092\n"
                                   "kafka.acks: all\n");
        ck_assert_int_eq(cfg->kafka_cnt, 3);
        ck_assert_str_eq(cfg->kafka[0].key, "client.id");
        ck_assert_str_eq(cfg->kafka[1].key, "bootstrap.servers");
        ck_assert_str_eq(cfg->kafka[2].key, "acks");
        ck_assert_str_eq(cfg->kafka[2].value, "all");
        ck_assert_ptr_null(nd_config_kafka_get(cfg, "linger.ms"));
        ck_assert(!nd_config_is_embedded(cfg));
        nd_config_destroy(cfg);
}
END_TEST

START_TEST(embedded_when_bootstrap_servers_is_absent_or_empty) {
        nd_config_t *cfg = load_ok("kafka: {client.id: x}");
        ck_assert(nd_config_is_embedded(cfg));
        nd_config_destroy(cfg);
        cfg = load_ok("kafka: {bootstrap.servers: ''}");
        ck_assert(nd_config_is_embedded(cfg));
        nd_config_destroy(cfg);
        cfg = load_ok("kafka: {bootstrap.servers: ' '}");
        ck_assert(nd_config_is_embedded(cfg));
        nd_config_destroy(cfg);
        cfg = load_ok("kafka: {bootstrap.servers: 'k:1'}");
        ck_assert(!nd_config_is_embedded(cfg));
        nd_config_destroy(cfg);
}
END_TEST

/* Environment overrides, each a (variable, value, YAML) case. */
struct env_case {
        const char *var;
        const char *value;
        const char *yaml;
        const char *kafka_key; /* NULL: check the dump instead */
        const char *want;      /* kafka value, dump line or error */
        bool fails;
};

static const struct env_case env_cases[] = {
    {"NUDGE_TIME_MAX_OUT_OF_ORDERNESS", "2s", MOO "5s", NULL,
     "  max_out_of_orderness: 2s\n", false},
    {"NUDGE_LOG_FORMAT", "json", "", NULL, "  format: json\n", false},
    {"NUDGE_SCHEMA_IDS_CART", "42", "schema: {ids: {cart: 7}}", NULL,
     "  ids.cart: 42\n", false},
    {"NUDGE_TOPICS_ACTIONS_PER_CHANNEL", "yes", "", NULL,
     "  actions_per_channel: true\n", false},
    {"NUDGE_TOPICS_ACTIONS", "acts", "", NULL, "  actions: \"acts\"\n", false},
    {"NUDGE_HTTP_LISTEN", "", "", NULL, "  listen: \"\"\n", false},
    {"NUDGE_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092", "", "bootstrap.servers",
     "kafka:9092", false},
    {"NUDGE_KAFKA_BOOTSTRAP_SERVERS", "env:1", "kafka.bootstrap.servers: f:1",
     "bootstrap.servers", "env:1", false},
    {"NUDGE_KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM", "none", "",
     "ssl.endpoint.identification.algorithm", "none", false},
    {"NUDGE_KAFKA_A__B", "1", "", "a_b", "1", false},
    {"NUDGE_KAFKA_A___B", "1", "", "a-b", "1", false},
    {"NUDGE_KAFKA_A____B", "1", "", "a-.b", "1", false},
    {"NUDGE_KAFKA_SASL_PASSWORD", "s3cret", "", "sasl.password", "s3cret",
     false},
    {"NUDGE_PROCESSING_THREADS", "0", "", NULL,
     "environment NUDGE_PROCESSING_THREADS: key 'processing.threads': "
     "expected an integer between 1 and 64, got '0'",
     true},
    {"NUDGE_TIME_IDLE_ADVANCE_AFTER", "soon", "", NULL,
     "environment NUDGE_TIME_IDLE_ADVANCE_AFTER: key "
     "'time.idle_advance_after': expected a duration",
     true},
    {"NUDGE_TOPICS_CART", "purchase", "", NULL,
     "environment NUDGE_TOPICS_CART: key 'topics.cart': topic 'purchase' is "
     "also topics.purchase",
     true},
    {"NUDGE_TOPICS_CART", "x", "topics.clickstream: x", NULL,
     "environment NUDGE_TOPICS_CART: key 'topics.cart': topic 'x' is also "
     "topics.clickstream",
     true},
    /* Unknown NUDGE_ variables are ignored (other tools set some). */
    {"NUDGE_CONFIG", "/etc/other.yaml", "", NULL, "  threads: 1\n", false},
    {"NUDGE_TIME_MAX_OUT_OF_ORDER", "1s", "", NULL,
     "  max_out_of_orderness: 5s\n", false},
    {"nudge_log_level", "debug", "", NULL, "  level: info\n", false},
};

START_TEST(environment_overrides_the_file) {
        const struct env_case *c = &env_cases[_i];
        nd_config_t *cfg = NULL;
        char *dump = NULL;
        size_t len = 0;
        FILE *out;
        nd_err_t err;

        setenv(c->var, c->value, 1);
        err = load(c->yaml, &cfg);
        unsetenv(c->var);
        if (c->fails) {
                ck_assert_int_eq(err, ND_ERR_CONFIG);
                ck_assert_msg(strstr(errbuf, c->want), "got '%s', want '%s'",
                              errbuf, c->want);
                return;
        }
        ck_assert_msg(err == ND_OK, "%s=%s: %s", c->var, c->value, errbuf);
        if (c->kafka_key) {
                ck_assert_ptr_nonnull(nd_config_kafka_get(cfg, c->kafka_key));
                ck_assert_str_eq(nd_config_kafka_get(cfg, c->kafka_key),
                                 c->want);
                ck_assert_int_eq(cfg->kafka_cnt, 1);
        } else {
                out = open_memstream(&dump, &len);
                nd_config_dump(out, cfg);
                fclose(out);
                ck_assert_msg(strstr(dump, c->want), "dump lacks '%s':\n%s",
                              c->want, dump);
                free(dump);
        }
        nd_config_destroy(cfg);
}
END_TEST

static char *read_file(const char *path) {
        FILE *fp = fopen(path, "r");
        char *buf;
        long n;
        if (!fp)
                return NULL;
        fseek(fp, 0, SEEK_END);
        n = ftell(fp);
        rewind(fp);
        buf = nd_malloc((size_t)n + 1);
        buf[fread(buf, 1, (size_t)n, fp)] = '\0';
        fclose(fp);
        return buf;
}

START_TEST(missing_file_is_an_io_error_with_strerror) {
        nd_config_t *cfg = (nd_config_t *)&cfg;
        ck_assert_int_eq(nd_config_load("/nonexistent/nudge.yaml", lookup, &cfg,
                                        errbuf, sizeof(errbuf)),
                         ND_ERR_IO);
        ck_assert_ptr_null(cfg);
        ck_assert_str_eq(errbuf, "/nonexistent/nudge.yaml: cannot open: No "
                                 "such file or directory");
        ck_assert_int_eq(
            nd_config_load("/tmp", lookup, &cfg, errbuf, sizeof(errbuf)),
            ND_ERR_IO);
        ck_assert_ptr_nonnull(strstr(errbuf, "Is a directory"));
}
END_TEST

START_TEST(file_errors_name_the_path_as_given) {
        char dir[] = "/tmp/nd_config_XXXXXX", path[64];
        nd_config_t *cfg = NULL;
        FILE *fp;
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/nudge.yaml", dir);
        fp = fopen(path, "w");
        fputs("# example\nlog:\n  level: loud\n", fp);
        fclose(fp);
        ck_assert_int_eq(
            nd_config_load(path, lookup, &cfg, errbuf, sizeof(errbuf)),
            ND_ERR_CONFIG);
        unlink(path);
        rmdir(dir);
        ck_assert_ptr_eq(strstr(errbuf, path), errbuf);
        ck_assert_ptr_nonnull(
            strstr(errbuf, "nudge.yaml:3: key 'log.level': expected one of"));
}
END_TEST

START_TEST(invalid_utf8_is_a_config_error) {
        nd_config_t *cfg = NULL;
        const char bad[] = "application.id: \xff\xfe\n";
        ck_assert_int_eq(nd_config_load_string("n.yaml", bad, sizeof(bad) - 1,
                                               lookup, &cfg, errbuf,
                                               sizeof(errbuf)),
                         ND_ERR_CONFIG);
        ck_assert_ptr_nonnull(strstr(errbuf, "n.yaml: invalid YAML"));
}
END_TEST

START_TEST(deep_nesting_and_alias_bombs_are_refused) {
        char deep[4096] = "";
        size_t off = 0;
        for (int i = 0; i < 40; i++)
                off += (size_t)snprintf(deep + off, sizeof(deep) - off,
                                        "a%d: {", i);
        off += (size_t)snprintf(deep + off, sizeof(deep) - off, "x: 1");
        for (int i = 0; i < 40; i++)
                deep[off++] = '}';
        deep[off] = '\0';
        load_fails(deep, "nested more than 32 levels deep");
        load_fails("a: &a {x: 1, y: 1, z: 1, w: 1, v: 1, u: 1, t: 1, s: 1}\n"
                   "b: &b {a: *a, b: *a, c: *a, d: *a, e: *a, f: *a, g: *a}\n"
                   "c: &c {a: *b, b: *b, c: *b, d: *b, e: *b, f: *b, g: *b}\n"
                   "d: &d {a: *c, b: *c, c: *c, d: *c, e: *c, f: *c, g: *c}\n"
                   "e: &e {a: *d, b: *d, c: *d, d: *d, e: *d, f: *d, g: *d}\n"
                   "f: &f {a: *e, b: *e, c: *e, d: *e, e: *e, f: *e, g: *e}\n"
                   "g: &g {a: *f, b: *f, c: *f, d: *f, e: *f, f: *f, g: *f}\n",
                   "too large");
}
END_TEST

static char *dump_of(const nd_config_t *cfg) {
        char *dump = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&dump, &len);
        nd_config_dump(out, cfg);
        fclose(out);
        return dump;
}

START_TEST(dump_reloads_to_the_same_config) {
        nd_config_t *cfg = load_ok("application.id: shop\n"
                                   "log: {level: debug, format: json}\n"
                                   "kafka: {bootstrap.servers: 'k:1', "
                                   "\"odd key\": 'say \"hi\"'}\n"
                                   "schema.ids.action: 77\n"
                                   "time.max_out_of_orderness: 1500\n"
                                   "state.ttl: 36h\n"
                                   "triggers:\n"
                                   "  - {name: p, type: passthrough}\n"
                                   "  - name: f\n"
                                   "    type: fake\n"
                                   "    campaign: \"c\\\\d\"\n"
                                   "    budget: 3M\n"
                                   "    delays: [90s, 2h]\n"
                                   "    channels: [sms, web]\n");
        nd_config_t *again = NULL;
        char *d1 = dump_of(cfg), *d2;
        ck_assert_msg(load(d1, &again) == ND_OK, "%s\n%s", errbuf, d1);
        d2 = dump_of(again);
        /* The first line names the source, which differs. */
        ck_assert_str_eq(strchr(d1, '\n'), strchr(d2, '\n'));
        ck_assert_ptr_nonnull(strstr(d1, "  max_out_of_orderness: 1500ms\n"));
        ck_assert_ptr_nonnull(strstr(d1, "  ttl: 36h\n"));
        ck_assert_ptr_nonnull(strstr(d1, "    budget: 3M\n"));
        ck_assert_ptr_nonnull(strstr(d1, "    delays: [90s, 2h]\n"));
        ck_assert_ptr_nonnull(strstr(d1, "    channels: [web, sms]\n"));
        ck_assert_ptr_nonnull(strstr(d1, "  \"odd key\": \"say \\\"hi\\\"\""));
        free(d1);
        free(d2);
        nd_config_destroy(again);
        nd_config_destroy(cfg);
}
END_TEST

START_TEST(dump_redacts_passwords_and_secrets) {
        nd_config_t *cfg = load_ok("kafka:\n"
                                   "  sasl.username: me\n"
                                   "  sasl.password: hunter2\n"
                                   "  ssl.key.password: hunter3\n"
                                   "  sasl.oauthbearer.client.secret: s3\n");
        char *d = dump_of(cfg);
        ck_assert_ptr_nonnull(strstr(d, "sasl.username: \"me\""));
        ck_assert_ptr_nonnull(strstr(d, "sasl.password: \"[redacted]\""));
        ck_assert_ptr_null(strstr(d, "hunter"));
        ck_assert_ptr_null(strstr(d, "s3\""));
        /* Redaction is only in the dump: the value itself is intact. */
        ck_assert_str_eq(nd_config_kafka_get(cfg, "sasl.password"), "hunter2");
        free(d);
        nd_config_destroy(cfg);
}
END_TEST

static char *doc_of(const nd_processor_def_t *const *defs) {
        char *doc = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&doc, &len);
        nd_config_write_doc(out, defs);
        fclose(out);
        return doc;
}

START_TEST(docs_match_the_tables) {
        char *want = doc_of(nd_processors);
        char *have = read_file(ND_SOURCE_DIR "/docs/configuration.md");
        ck_assert_msg(have && !strcmp(have, want),
                      "docs/configuration.md is out of date with the "
                      "property tables; regenerate it with "
                      "`build/nudge config-doc > docs/configuration.md`");
        free(want);
        nd_free(have);
}
END_TEST

START_TEST(docs_are_deterministic_and_cover_every_key) {
        static const nd_processor_def_t *const defs[] = {&fake_def, NULL};
        char *a = doc_of(defs), *b = doc_of(defs);
        nd_config_t *cfg = load_ok("");
        char *dump = dump_of(cfg), *line, *save = NULL, *section = NULL;
        ck_assert_str_eq(a, b);
        ck_assert_ptr_nonnull(strstr(a, "| `triggers[].delays` | list of "
                                        "durations | `[1h, 24h]` | 1m .. 7d "
                                        "each, at most 16 | Stages. |"));
        ck_assert_ptr_nonnull(
            strstr(a, "| `triggers[].campaign` | string | required |"));
        ck_assert_ptr_nonnull(
            strstr(a, "| `time.max_out_of_orderness` | duration | `5s` | "
                      "0ms .. 1d |"));
        ck_assert_ptr_nonnull(strstr(a, "| `http.listen` | string | "
                                        "`0.0.0.0:9464` |"));
        /* Every key the dump shows has its row in the docs. */
        for (line = strtok_r(dump, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
                char key[128];
                if (line[0] == '#' || !strncmp(line, "kafka", 5) ||
                    !strncmp(line, "triggers", 8))
                        continue;
                if (line[0] != ' ') {
                        section = line;
                        *strchr(section, ':') = '\0';
                        continue;
                }
                *strchr(line, ':') = '\0';
                snprintf(key, sizeof(key), "| `%s.%s` |", section, line + 2);
                ck_assert_msg(strstr(a, key), "docs lack %s", key);
        }
        free(dump);
        free(a);
        free(b);
        nd_config_destroy(cfg);
}
END_TEST

START_TEST(shipped_configs_load) {
        nd_config_t *cfg = NULL;
        ck_assert_msg(nd_config_load(ND_SOURCE_DIR "/config/nudge.yaml",
                                     nd_processor_find, &cfg, errbuf,
                                     sizeof(errbuf)) == ND_OK,
                      "%s", errbuf);
        ck_assert(!nd_config_is_embedded(cfg));
        ck_assert_int_ge(cfg->trigger_cnt, 1);
        nd_config_destroy(cfg);
        ck_assert_msg(nd_config_load(ND_SOURCE_DIR "/config/demo.yaml",
                                     nd_processor_find, &cfg, errbuf,
                                     sizeof(errbuf)) == ND_OK,
                      "%s", errbuf);
        ck_assert(nd_config_is_embedded(cfg));
        /* the demo runs the four trigger types */
        ck_assert_int_eq(cfg->trigger_cnt, 4);
        ck_assert_str_eq(cfg->triggers[0].def->name, "cart_abandonment");
        nd_config_destroy(cfg);
}
END_TEST

START_TEST(every_processor_table_has_valid_defaults) {
        char why[512];
        for (int i = 0; nd_processors[i]; i++) {
                const nd_processor_def_t *def = nd_processors[i];
                void *conf = nd_calloc(1, def->config_size);
                ck_assert_msg(nd_cfg_defaults(def->config, conf, why,
                                              sizeof(why)) == ND_OK,
                              "%s: %s", def->name, why);
                if (def->config_check)
                        ck_assert_msg(
                            def->config_check(conf, why, sizeof(why)) == ND_OK,
                            "%s: %s", def->name, why);
                nd_cfg_free(def->config, conf);
                nd_free(conf);
        }
}
END_TEST

START_TEST(cfg_set_changes_nothing_on_error) {
        struct fake_conf fc = {0};
        char why[256];
        ck_assert_int_eq(nd_cfg_defaults(fake_props, &fc, why, sizeof(why)),
                         ND_OK);
        ck_assert_int_eq(nd_cfg_set(&fake_props[6], &fc, "1h, 2h, 1 parsec",
                                    why, sizeof(why)),
                         ND_ERR_CONFIG);
        ck_assert_str_eq(why, "item 3: expected a duration such as 500ms, 5s, "
                              "10m, 1h or 3d, got '1 parsec'");
        ck_assert_int_eq(fc.delays.cnt, 2);
        ck_assert_int_eq(fc.delays.ms[1], 86400000);
        ck_assert_int_eq(
            nd_cfg_set(&fake_props[1], &fc, "11", why, sizeof(why)),
            ND_ERR_CONFIG);
        ck_assert_int_eq(fc.max_items, 3);
        ck_assert_int_eq(nd_cfg_set(&fake_props[0], &fc, "x", why, sizeof(why)),
                         ND_OK);
        ck_assert_int_eq(nd_cfg_set(&fake_props[0], &fc, "y", why, sizeof(why)),
                         ND_OK);
        ck_assert_str_eq(fc.campaign, "y");
        nd_cfg_free(fake_props, &fc);
        ck_assert_ptr_null(fc.campaign);
}
END_TEST

static Suite *config_suite(void) {
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("values");
        tcase_add_loop_test(tc, every_case_gives_its_value_or_its_error, 0,
                            (int)(sizeof(cases) / sizeof(cases[0])));
        tcase_add_test(tc, defaults_are_the_documented_ones);
        tcase_add_test(tc, cfg_set_changes_nothing_on_error);
        tcase_add_test(tc, destroy_of_null_is_a_noop);
        suite_add_tcase(s, tc);
        tc = tcase_create("triggers");
        tcase_add_test(tc, several_triggers_keep_file_order_and_lines);
        tcase_add_test(tc, a_failed_trigger_frees_what_was_built);
        tcase_add_test(tc, every_processor_table_has_valid_defaults);
        suite_add_tcase(s, tc);
        tc = tcase_create("kafka");
        tcase_add_test(tc, kafka_properties_keep_file_order);
        tcase_add_test(tc, embedded_when_bootstrap_servers_is_absent_or_empty);
        suite_add_tcase(s, tc);
        tc = tcase_create("environment");
        tcase_add_loop_test(tc, environment_overrides_the_file, 0,
                            (int)(sizeof(env_cases) / sizeof(env_cases[0])));
        tcase_add_test(tc, no_path_means_defaults_and_environment);
        suite_add_tcase(s, tc);
        tc = tcase_create("files");
        tcase_add_test(tc, missing_file_is_an_io_error_with_strerror);
        tcase_add_test(tc, file_errors_name_the_path_as_given);
        tcase_add_test(tc, invalid_utf8_is_a_config_error);
        tcase_add_test(tc, deep_nesting_and_alias_bombs_are_refused);
        tcase_add_test(tc, shipped_configs_load);
        suite_add_tcase(s, tc);
        tc = tcase_create("output");
        tcase_add_test(tc, dump_reloads_to_the_same_config);
        tcase_add_test(tc, dump_redacts_passwords_and_secrets);
        tcase_add_test(tc, docs_match_the_tables);
        tcase_add_test(tc, docs_are_deterministic_and_cover_every_key);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        /* The tests own the NUDGE_ environment: drop what the caller set. */
        for (;;) {
                char name[256] = "";
                for (char **e = environ; *e; e++) {
                        if (!strncmp(*e, "NUDGE_", 6)) {
                                snprintf(name, sizeof(name), "%.*s",
                                         (int)strcspn(*e, "="), *e);
                                break;
                        }
                }
                if (!name[0])
                        break;
                unsetenv(name);
        }
        return nd_test_main(config_suite());
}
