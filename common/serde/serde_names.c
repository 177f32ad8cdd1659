/*
 * serde_names.c — what the contract calls things, and the checks of the
 * contract.
 *
 * The names of the C enums' values as the schemas spell them (event types,
 * channels, device types, trigger types: nd_*_name() and nd_*_parse() of
 * nudge/event.h and nudge/action.h), where each reader field goes in the C
 * structs, by field name (the dst tables the plan compiler reads), the
 * reader schemas by topic and record name, and the checks made on names
 * and values: a writer schema defines each name once, action.avsc's
 * TriggerType symbols are ND_TRIGGER_TYPE_MAP's names in order, and a
 * decoded event carries what its type requires (the per-record part of
 * that last check is nd__serde_check_event() in serde_int.h, inlined into
 * the decode and encode paths).
 */
#include <stdio.h>
#include <string.h>

#include "serde_int.h"

/* ------------------------------------------------------------------ */
/* Names                                                               */

const char *const nd__serde_event_type_names[ND_EV__CNT] = {
    "page_viewed",     "product_viewed",  "products_searched",
    "app_opened",      "message_clicked", "product_added",
    "product_removed", "cart_viewed",     "checkout_started",
    "order_completed", "order_refunded",  "order_cancelled"};
static const char *const channel_names[ND_CHANNEL__CNT] = {
    "web", "app", "email", "sms", "push", "whatsapp", "store", "other"};
static const char *const device_type_names[ND_DEVICE__CNT] = {
    "desktop", "mobile", "tablet", "tv", "kiosk", "unknown"};
static const char *const trigger_type_names[ND_TRIGGER__CNT] = {
#define XX(name, text, label) [ND_TRIGGER_##name] = text,
    ND_TRIGGER_TYPE_MAP(XX)
#undef XX
};
static const char *const trigger_type_labels[ND_TRIGGER__CNT] = {
#define XX(name, text, label) [ND_TRIGGER_##name] = label,
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
        return nd__serde_event_type_name(type);
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
const char *nd_trigger_type_label(nd_trigger_type_t trigger) {
        return (unsigned)trigger < ND_TRIGGER__CNT
                   ? trigger_type_labels[trigger]
                   : "?";
}
int nd_event_type_parse(const char *name, size_t len) {
        return parse_name(nd__serde_event_type_names, ND_EV__CNT, name, len);
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

/* The reader schemas, by topic. */
const struct reader_def nd__serde_reader_defs[] = {
    {"clickstream.avsc", "ClickstreamEvent", PLAN_EVENT, event_dst},
    {"cart.avsc", "CartEvent", PLAN_EVENT, event_dst},
    {"purchase.avsc", "PurchaseEvent", PLAN_EVENT, event_dst},
    {"catalog.avsc", "CatalogProduct", PLAN_PRODUCT, catalog_dst},
};

/* ------------------------------------------------------------------ */
/* A writer schema defines each name once                              */

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
nd_err_t nd__serde_check_names(const char *json, size_t len, const char *what,
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

/* ------------------------------------------------------------------ */
/* The trigger types of schemas/action.avsc                            */

nd_err_t nd__serde_check_trigger_types(json_t *enm, const char *path,
                                       char *errstr, size_t errstr_size) {
        json_t *syms = json_object_get(enm, "symbols");
        size_t n;

        if (!json_is_object(enm) || !json_is_array(syms))
                return nd_err_fmt(errstr, errstr_size, ND_ERR_CONFIG,
                                  "%s: no enum TriggerType with symbols (the "
                                  "type of the action's trigger field)",
                                  path);
        n = json_array_size(syms);
        for (size_t i = 0; i < n || i < ND_TRIGGER__CNT; i++) {
                const char *want =
                    i < ND_TRIGGER__CNT ? trigger_type_names[i] : NULL;
                const char *sym =
                    i < n ? json_string_value(json_array_get(syms, i)) : NULL;
                if (want && sym && strcmp(want, sym) == 0)
                        continue;
                if (!want)
                        return nd_err_fmt(
                            errstr, errstr_size, ND_ERR_CONFIG,
                            "%s: enum TriggerType symbol '%s' at index %zu is "
                            "not a trigger type of nudge (ND_TRIGGER_TYPE_MAP "
                            "in nudge/action.h has %d)",
                            path, sym ? sym : "?", i, (int)ND_TRIGGER__CNT);
                if (!sym)
                        return nd_err_fmt(
                            errstr, errstr_size, ND_ERR_CONFIG,
                            "%s: enum TriggerType has no symbol '%s' at "
                            "index %zu (ND_TRIGGER_TYPE_MAP in nudge/action.h)",
                            path, want, i);
                return nd_err_fmt(
                    errstr, errstr_size, ND_ERR_CONFIG,
                    "%s: enum TriggerType symbol '%s' at index %zu must be "
                    "'%s': actions are written with the index of their type "
                    "in ND_TRIGGER_TYPE_MAP (nudge/action.h)",
                    path, sym, i, want);
        }
        return ND_OK;
}

/* ------------------------------------------------------------------ */
/* Contract checks                                                     */

/* The per-record check is nd__serde_check_event() (serde_int.h). */

nd_err_t nd_serde_validate_event(nd_event_t *ev, char *errstr,
                                 size_t errstr_size) {
        nd__serde_event_set_key(ev);
        return nd__serde_check_event(ev, errstr, errstr_size);
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
