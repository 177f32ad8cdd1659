/*
 * json.c — JSON records in, JSON action lines out. See json.h.
 *
 * OVERALL DESIGN: jansson parses the record into a tree (its strings are
 * unescaped and UTF-8-checked there, \u escapes and surrogate pairs
 * included); the decoder then walks a fixed list of field names and points
 * the event's nd_str_t slices at the tree's strings. The tree lives until the
 * next decode, which is what makes those slices valid (json.h). Unlike the
 * Avro path this allocates per record (jansson's tree); JSON input is for
 * pipelines that cannot emit Avro and for replay files, where that is fine.
 *
 * The writers (actions, events, catalog records) format by hand into a
 * caller buffer, counting past its end so that the caller learns the size
 * needed; they allocate nothing.
 */
#include "json.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>


void nd_json_dec_init(nd_json_dec_t *dec) {
        dec->doc = NULL;
}

void nd_json_dec_fini(nd_json_dec_t *dec) {
        json_decref(dec->doc);
        dec->doc = NULL;
}

static const char *jtype(const json_t *v) {
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "an object";
        case JSON_ARRAY:
                return "an array";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
                return "an integer";
        case JSON_REAL:
                return "a real number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        default:
                return "null";
        }
}

/* Field context for messages: "products[3].sku". */
struct jctx {
        char *errstr;
        size_t errstr_size;
        const char *prefix; /* "" or "product." or "products[3]." */
};

static nd_err_t get_str(struct jctx *c, json_t *obj, const char *name,
                        bool required, nd_str_t *out) {
        json_t *v = json_object_get(obj, name);
        if (!v || json_is_null(v)) {
                if (required)
                        return nd_err_fmt(c->errstr, c->errstr_size,
                                          ND_ERR_MISSING_FIELD,
                                          "field '%s%s' is %s", c->prefix, name,
                                          v ? "null" : "missing");
                *out = ND_STR_NULL;
                return ND_OK;
        }
        if (!json_is_string(v))
                return nd_err_fmt(c->errstr, c->errstr_size, ND_ERR_BAD_TYPE,
                                  "field '%s%s' must be a string, not %s",
                                  c->prefix, name, jtype(v));
        if (json_string_length(v) > UINT32_MAX)
                return nd_err_fmt(c->errstr, c->errstr_size, ND_ERR_BAD_LENGTH,
                                  "field '%s%s' is too long", c->prefix, name);
        out->p = json_string_value(v);
        out->len = (uint32_t)json_string_length(v);
        return ND_OK;
}

static nd_err_t get_i64(struct jctx *c, json_t *obj, const char *name,
                        bool required, int64_t *out, bool *has) {
        json_t *v = json_object_get(obj, name);
        if (!v || json_is_null(v)) {
                if (required)
                        return nd_err_fmt(c->errstr, c->errstr_size,
                                          ND_ERR_MISSING_FIELD,
                                          "field '%s%s' is %s", c->prefix, name,
                                          v ? "null" : "missing");
                if (has)
                        *has = false;
                return ND_OK;
        }
        if (!json_is_integer(v))
                return nd_err_fmt(c->errstr, c->errstr_size, ND_ERR_BAD_TYPE,
                                  "field '%s%s' must be an integer, not %s",
                                  c->prefix, name, jtype(v));
        *out = json_integer_value(v);
        if (has)
                *has = true;
        return ND_OK;
}

/* dflt < 0: required. */
static nd_err_t get_enum(struct jctx *c, json_t *obj, const char *name,
                         int (*parse)(const char *, size_t), int dflt,
                         int *out) {
        json_t *v = json_object_get(obj, name);
        int e;
        if (!v || json_is_null(v)) {
                if (dflt < 0)
                        return nd_err_fmt(c->errstr, c->errstr_size,
                                          ND_ERR_MISSING_FIELD,
                                          "field '%s%s' is %s", c->prefix, name,
                                          v ? "null" : "missing");
                *out = dflt;
                return ND_OK;
        }
        if (!json_is_string(v))
                return nd_err_fmt(c->errstr, c->errstr_size, ND_ERR_BAD_TYPE,
                                  "field '%s%s' must be a string, not %s",
                                  c->prefix, name, jtype(v));
        e = parse(json_string_value(v), json_string_length(v));
        if (e < 0)
                return nd_err_fmt(c->errstr, c->errstr_size, ND_ERR_BAD_ENUM,
                                  "field '%s%s': unknown symbol '%.40s'",
                                  c->prefix, name, json_string_value(v));
        *out = e;
        return ND_OK;
}

static nd_err_t get_bool(struct jctx *c, json_t *obj, const char *name,
                         bool dflt, bool *out) {
        json_t *v = json_object_get(obj, name);
        if (!v || json_is_null(v)) {
                *out = dflt;
                return ND_OK;
        }
        if (!json_is_boolean(v))
                return nd_err_fmt(c->errstr, c->errstr_size, ND_ERR_BAD_TYPE,
                                  "field '%s%s' must be a boolean, not %s",
                                  c->prefix, name, jtype(v));
        *out = json_is_true(v);
        return ND_OK;
}

/* The array at name, or NULL for missing/null. */
static nd_err_t get_array(struct jctx *c, json_t *obj, const char *name,
                          size_t cap, json_t **out) {
        json_t *v = json_object_get(obj, name);
        *out = NULL;
        if (!v || json_is_null(v))
                return ND_OK;
        if (!json_is_array(v))
                return nd_err_fmt(c->errstr, c->errstr_size, ND_ERR_BAD_TYPE,
                                  "field '%s%s' must be an array, not %s",
                                  c->prefix, name, jtype(v));
        if (json_array_size(v) > cap)
                return nd_err_fmt(
                    c->errstr, c->errstr_size, ND_ERR_BAD_LENGTH,
                    "field '%s%s': %zu items exceed the cap of %zu", c->prefix,
                    name, json_array_size(v), cap);
        *out = v;
        return ND_OK;
}

static nd_err_t parse_doc(nd_json_dec_t *dec, const void *buf, size_t len,
                          json_t **root, char *errstr, size_t errstr_size) {
        json_error_t jerr;
        nd_json_dec_fini(dec);
        if (!buf)
                len = 0;
        dec->doc =
            json_loadb(buf ? buf : "", len, JSON_REJECT_DUPLICATES, &jerr);
        if (!dec->doc)
                return nd_err_fmt(errstr, errstr_size, ND_ERR_BAD_JSON,
                                  "JSON at byte %d: %s", jerr.position,
                                  jerr.text);
        if (!json_is_object((json_t *)dec->doc))
                return nd_err_fmt(errstr, errstr_size, ND_ERR_BAD_JSON,
                                  "record is %s, not a JSON object",
                                  jtype(dec->doc));
        *root = dec->doc;
        return ND_OK;
}

static nd_err_t get_lines(struct jctx *c, nd_json_dec_t *dec, json_t *obj,
                          nd_event_t *ev) {
        json_t *arr, *it;
        size_t i;
        nd_err_t err;
        char prefix[48];
        struct jctx ic = *c;

        if ((err = get_array(c, obj, "products", ND_EVENT_MAX_ITEMS, &arr)))
                return err;
        if (!arr)
                return ND_OK;
        ic.prefix = prefix;
        json_array_foreach(arr, i, it) {
                nd_line_item_t *li = &dec->lines[i];
                memset(li, 0, sizeof(*li));
                li->quantity = 1;
                snprintf(prefix, sizeof(prefix), "products[%zu].", i);
                if (!json_is_object(it))
                        return nd_err_fmt(c->errstr, c->errstr_size,
                                          ND_ERR_BAD_TYPE,
                                          "field 'products[%zu]' must be an "
                                          "object, not %s",
                                          i, jtype(it));
                if ((err = get_str(&ic, it, "sku", true, &li->sku)) ||
                    (err =
                         get_str(&ic, it, "category", false, &li->category)) ||
                    (err = get_i64(&ic, it, "quantity", false, &li->quantity,
                                   NULL)) ||
                    (err = get_i64(&ic, it, "price_cents", false,
                                   &li->price_cents, &li->has_price)))
                        return err;
        }
        ev->has_products = true;
        ev->product_cnt = (uint32_t)json_array_size(arr);
        ev->products = dec->lines;
        return ND_OK;
}

nd_err_t nd_json_decode_event(nd_json_dec_t *dec, const void *buf, size_t len,
                              nd_event_t *ev, char *errstr,
                              size_t errstr_size) {
        struct jctx c = {errstr, errstr_size, ""};
        json_t *root = NULL, *prod;
        int type, channel, device;
        nd_err_t err;

        memset(ev, 0, sizeof(*ev));
        ev->quantity = 1;
        if ((err = parse_doc(dec, buf, len, &root, errstr, errstr_size)))
                return err;
        if ((err = get_str(&c, root, "event_id", true, &ev->event_id)) ||
            (err =
                 get_enum(&c, root, "type", nd_event_type_parse, -1, &type)) ||
            (err = get_str(&c, root, "customer_id", false, &ev->customer_id)) ||
            (err =
                 get_str(&c, root, "anonymous_id", false, &ev->anonymous_id)) ||
            (err =
                 get_i64(&c, root, "timestamp", true, &ev->timestamp, NULL)) ||
            (err = get_enum(&c, root, "channel", nd_channel_parse,
                            ND_CHANNEL_OTHER, &channel)) ||
            (err = get_str(&c, root, "device_id", false, &ev->device_id)) ||
            (err = get_enum(&c, root, "device_type", nd_device_type_parse,
                            ND_DEVICE_UNKNOWN, &device)) ||
            (err = get_str(&c, root, "session_id", false, &ev->session_id)) ||
            (err = get_str(&c, root, "cart_id", false, &ev->cart_id)) ||
            (err = get_i64(&c, root, "quantity", false, &ev->quantity,
                           &ev->has_quantity)) ||
            (err = get_str(&c, root, "order_id", false, &ev->order_id)) ||
            (err = get_i64(&c, root, "value_cents", false, &ev->value_cents,
                           &ev->has_value)) ||
            (err = get_str(&c, root, "currency", false, &ev->currency)) ||
            (err = get_str(&c, root, "checkout_id", false, &ev->checkout_id)) ||
            (err = get_str(&c, root, "campaign_id", false, &ev->campaign_id)) ||
            (err = get_str(&c, root, "action_id", false, &ev->action_id)) ||
            (err = get_lines(&c, dec, root, ev)))
                return err;
        ev->type = (nd_event_type_t)type;
        ev->channel = (nd_channel_t)channel;
        ev->device_type = (nd_device_type_t)device;
        prod = json_object_get(root, "product");
        if (prod && !json_is_null(prod)) {
                struct jctx pc = {errstr, errstr_size, "product."};
                if (!json_is_object(prod))
                        return nd_err_fmt(errstr, errstr_size, ND_ERR_BAD_TYPE,
                                          "field 'product' must be an object, "
                                          "not %s",
                                          jtype(prod));
                if ((err = get_str(&pc, prod, "sku", true, &ev->product.sku)) ||
                    (err = get_str(&pc, prod, "category", false,
                                   &ev->product.category)) ||
                    (err = get_i64(&pc, prod, "price_cents", false,
                                   &ev->product.price_cents,
                                   &ev->product.has_price)) ||
                    (err = get_str(&pc, prod, "currency", false,
                                   &ev->product.currency)))
                        return err;
                ev->has_product = true;
        }
        if (!ev->has_quantity)
                ev->quantity = 1;
        return ND_OK;
}

nd_err_t nd_json_decode_product(nd_json_dec_t *dec, const void *buf, size_t len,
                                nd_product_rec_t *prod, char *errstr,
                                size_t errstr_size) {
        struct jctx c = {errstr, errstr_size, ""};
        json_t *root = NULL, *arr, *it;
        size_t i;
        nd_err_t err;

        memset(prod, 0, sizeof(*prod));
        if ((err = parse_doc(dec, buf, len, &root, errstr, errstr_size)))
                return err;
        if ((err = get_str(&c, root, "sku", true, &prod->sku)) ||
            (err = get_str(&c, root, "name", false, &prod->name)) ||
            (err = get_str(&c, root, "category", false, &prod->category)) ||
            (err = get_i64(&c, root, "price_cents", false, &prod->price_cents,
                           &prod->has_price)) ||
            (err = get_str(&c, root, "currency", false, &prod->currency)) ||
            (err = get_bool(&c, root, "in_stock", true, &prod->in_stock)) ||
            (err = get_array(&c, root, "complements",
                             ND_PRODUCT_MAX_COMPLEMENTS, &arr)))
                return err;
        if (arr) {
                json_array_foreach(arr, i, it) {
                        if (!json_is_string(it))
                                return nd_err_fmt(
                                    errstr, errstr_size, ND_ERR_BAD_TYPE,
                                    "field 'complements[%zu]' must "
                                    "be a string, not %s",
                                    i, jtype(it));
                        dec->strs[i].p = json_string_value(it);
                        dec->strs[i].len = (uint32_t)json_string_length(it);
                }
                prod->complement_cnt = (uint32_t)json_array_size(arr);
        }
        prod->complements = dec->strs;
        return ND_OK;
}

/* ------------------------------------------------------------------ */
/* Writing actions                                                     */

struct out {
        char *p;
        size_t len, cap;
};

static void o_put(struct out *o, const char *s, size_t n) {
        if (n == 0)
                return;
        if (o->len + n < o->cap)
                memcpy(o->p + o->len, s, n);
        else if (o->len < o->cap)
                memcpy(o->p + o->len, s, o->cap - o->len);
        o->len += n;
}

static void o_lit(struct out *o, const char *s) {
        o_put(o, s, strlen(s));
}

static void o_int(struct out *o, int64_t v) {
        char tmp[24];
        int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);
        o_put(o, tmp, (size_t)n);
}

/* A JSON string; bytes >= 0x80 pass through (the input was UTF-8). */
static void o_str(struct out *o, nd_str_t s) {
        static const char hex[] = "0123456789abcdef";
        size_t run = 0;
        o_put(o, "\"", 1);
        if (s.len == 0) {
                o_put(o, "\"", 1);
                return;
        }
        for (uint32_t i = 0; i < s.len; i++) {
                unsigned char ch = (unsigned char)s.p[i];
                char esc[6];
                size_t n = 0;
                if (ch == '"' || ch == '\\') {
                        esc[0] = '\\';
                        esc[1] = (char)ch;
                        n = 2;
                } else if (ch < 0x20) {
                        memcpy(esc, "\\u00", 4);
                        esc[4] = hex[ch >> 4];
                        esc[5] = hex[ch & 15];
                        n = 6;
                }
                if (n) {
                        o_put(o, s.p + i - run, run);
                        o_put(o, esc, n);
                        run = 0;
                } else {
                        run++;
                }
        }
        o_put(o, s.p + s.len - run, run);
        o_put(o, "\"", 1);
}

static void o_key(struct out *o, const char *key, bool first) {
        if (!first)
                o_put(o, ",", 1);
        o_put(o, "\"", 1);
        o_lit(o, key);
        o_put(o, "\":", 2);
}

static void o_nstr(struct out *o, const char *key, nd_str_t s) {
        o_key(o, key, false);
        if (nd_str_is_null(s))
                o_lit(o, "null");
        else
                o_str(o, s);
}

static void o_nint(struct out *o, const char *key, bool has, int64_t v) {
        o_key(o, key, false);
        if (has)
                o_int(o, v);
        else
                o_lit(o, "null");
}

static void o_strs(struct out *o, const char *key, const nd_str_t *s,
                   uint32_t n) {
        o_key(o, key, false);
        o_put(o, "[", 1);
        for (uint32_t i = 0; i < n; i++) {
                if (i)
                        o_put(o, ",", 1);
                o_str(o, s[i]);
        }
        o_put(o, "]", 1);
}

static nd_str_t cstr(const char *s) {
        return (nd_str_t){s, (uint32_t)strlen(s)};
}

nd_err_t nd_action_write_json(const nd_action_t *act, char *buf, size_t cap,
                              size_t *lenp) {
        struct out o = {buf, 0, cap};

        o_put(&o, "{", 1);
        o_key(&o, "action_id", true);
        o_str(&o, act->action_id);
        o_key(&o, "trigger", false);
        o_str(&o, cstr(nd_trigger_type_name(act->trigger)));
        o_key(&o, "trigger_name", false);
        o_str(&o, act->trigger_name);
        o_nstr(&o, "customer_id", act->customer_id);
        o_nstr(&o, "anonymous_id", act->anonymous_id);
        o_key(&o, "channel", false);
        o_str(&o, cstr(nd_channel_name(act->channel)));
        o_nstr(&o, "device_id", act->device_id);
        o_nint(&o, "stage", true, act->stage);
        o_nint(&o, "created_at", true, act->created_at);
        o_nint(&o, "emitted_at", true, act->emitted_at);
        o_nint(&o, "expires_at", act->has_expires_at, act->expires_at);
        o_nstr(&o, "cart_id", act->cart_id);
        o_nstr(&o, "order_id", act->order_id);
        o_key(&o, "items", false);
        o_put(&o, "[", 1);
        for (uint32_t i = 0; i < act->item_cnt; i++) {
                const nd_line_item_t *it = &act->items[i];
                if (i)
                        o_put(&o, ",", 1);
                o_put(&o, "{", 1);
                o_key(&o, "sku", true);
                o_str(&o, it->sku);
                o_nint(&o, "quantity", true, it->quantity);
                o_nint(&o, "price_cents", it->has_price, it->price_cents);
                o_nstr(&o, "category", it->category);
                o_put(&o, "}", 1);
        }
        o_put(&o, "]", 1);
        o_nint(&o, "value_cents", act->has_value, act->value_cents);
        o_nstr(&o, "currency", act->currency);
        o_strs(&o, "recommended_skus", act->recommended_skus,
               act->recommended_cnt);
        o_key(&o, "from_channel", false);
        if (act->has_from_channel)
                o_str(&o, cstr(nd_channel_name(act->from_channel)));
        else
                o_lit(&o, "null");
        o_nstr(&o, "from_device_id", act->from_device_id);
        o_strs(&o, "source_event_ids", act->source_event_ids,
               act->source_event_cnt);
        o_nint(&o, "gap_ms", act->has_gap, act->gap_ms);
        o_put(&o, "}\n", 2);
        *lenp = o.len;
        if (o.len < cap) {
                buf[o.len] = '\0';
                return ND_OK;
        }
        if (cap)
                buf[cap - 1] = '\0';
        return ND_ERR_INVAL;
}

/* ------------------------------------------------------------------ */
/* Writing events and catalog records                                  */

static nd_err_t o_finish(struct out *o, char *buf, size_t cap, size_t *lenp) {
        o_put(o, "}\n", 2);
        *lenp = o->len;
        if (o->len < cap) {
                buf[o->len] = '\0';
                return ND_OK;
        }
        if (cap)
                buf[cap - 1] = '\0';
        return ND_ERR_INVAL;
}

static void o_product(struct out *o, const nd_event_t *ev) {
        o_key(o, "product", false);
        if (!ev->has_product) {
                o_lit(o, "null");
                return;
        }
        o_put(o, "{", 1);
        o_key(o, "sku", true);
        o_str(o, ev->product.sku);
        o_nstr(o, "category", ev->product.category);
        o_nint(o, "price_cents", ev->product.has_price,
               ev->product.price_cents);
        o_nstr(o, "currency", ev->product.currency);
        o_put(o, "}", 1);
}

static void o_lines(struct out *o, const nd_event_t *ev) {
        o_key(o, "products", false);
        if (!ev->has_products && !ev->product_cnt) {
                o_lit(o, "null");
                return;
        }
        o_put(o, "[", 1);
        for (uint32_t i = 0; i < ev->product_cnt && ev->products; i++) {
                const nd_line_item_t *it = &ev->products[i];
                if (i)
                        o_put(o, ",", 1);
                o_put(o, "{", 1);
                o_key(o, "sku", true);
                o_str(o, it->sku);
                o_nstr(o, "category", it->category);
                o_nint(o, "quantity", true, it->quantity);
                o_nint(o, "price_cents", it->has_price, it->price_cents);
                o_put(o, "}", 1);
        }
        o_put(o, "]", 1);
}

nd_err_t nd_event_write_json(const nd_event_t *ev, char *buf, size_t cap,
                             size_t *lenp) {
        struct out o = {buf, 0, cap};

        /* The fields of the topic's schema, in its order. */
        o_put(&o, "{", 1);
        o_key(&o, "event_id", true);
        o_str(&o, ev->event_id);
        o_key(&o, "type", false);
        o_str(&o, cstr(nd_event_type_name(ev->type)));
        o_nstr(&o, "customer_id", ev->customer_id);
        o_nstr(&o, "anonymous_id", ev->anonymous_id);
        o_nint(&o, "timestamp", true, ev->timestamp);
        o_key(&o, "channel", false);
        o_str(&o, cstr(nd_channel_name(ev->channel)));
        o_nstr(&o, "device_id", ev->device_id);
        o_key(&o, "device_type", false);
        o_str(&o, cstr(nd_device_type_name(ev->device_type)));
        o_nstr(&o, "session_id", ev->session_id);
        if (ev->type <= ND_EV_MESSAGE_CLICKED) {
                o_product(&o, ev);
                o_nstr(&o, "campaign_id", ev->campaign_id);
                o_nstr(&o, "action_id", ev->action_id);
        } else if (ev->type <= ND_EV_CHECKOUT_STARTED) {
                o_nstr(&o, "cart_id", ev->cart_id);
                o_product(&o, ev);
                o_nint(&o, "quantity", ev->has_quantity, ev->quantity);
                o_lines(&o, ev);
                o_nstr(&o, "checkout_id", ev->checkout_id);
        } else {
                o_nstr(&o, "order_id", ev->order_id);
                o_nint(&o, "value_cents", ev->has_value, ev->value_cents);
                o_nstr(&o, "currency", ev->currency);
                o_nstr(&o, "cart_id", ev->cart_id);
                o_nstr(&o, "checkout_id", ev->checkout_id);
                o_lines(&o, ev);
        }
        return o_finish(&o, buf, cap, lenp);
}

nd_err_t nd_product_write_json(const nd_product_rec_t *prod, char *buf,
                               size_t cap, size_t *lenp) {
        struct out o = {buf, 0, cap};

        o_put(&o, "{", 1);
        o_key(&o, "sku", true);
        o_str(&o, prod->sku);
        o_nstr(&o, "name", prod->name);
        o_nstr(&o, "category", prod->category);
        o_nint(&o, "price_cents", prod->has_price, prod->price_cents);
        o_nstr(&o, "currency", prod->currency);
        o_key(&o, "in_stock", false);
        o_lit(&o, prod->in_stock ? "true" : "false");
        o_strs(&o, "complements", prod->complements,
               prod->complements ? prod->complement_cnt : 0);
        return o_finish(&o, buf, cap, lenp);
}
