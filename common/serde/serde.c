/*
 * serde.c — Avro (Confluent wire format) <-> nd_event_t / nd_action_t.
 *
 * OVERALL DESIGN
 *
 * avro-c's generic reader costs ~2 µs per small record (DESIGN.md,
 * "Performance model"), so it cannot be the hot path; it stays the
 * reference the fast path is tested against. The fast path is a decode plan:
 * a flat array of ops, one per value the writer schema puts on the wire, each
 * saying how to read it (varint, length-prefixed bytes, enum index, union
 * branch, array blocks) and where to store it in the flat C struct (an
 * offset, or nowhere). Executing a plan is a loop over ops with a switch; no
 * lookups by name, no allocation, strings are slices of the input.
 *
 * A plan is compiled once per schema id by walking avro-c's parsed writer
 * schema against avro-c's parsed reader schema (schemas/<topic>.avsc) with
 * Avro's resolution rules:
 *   - records: fields matched by name; writer-only fields become ops that
 *     store nowhere (a skip); reader-only fields take the reader's default;
 *     a reader-only field without a default makes the schema incompatible;
 *   - promotions int->long->float->double, string<->bytes;
 *   - unions: each writer branch is resolved on its own against the reader
 *     (or the reader union's first matching branch); a branch with no match
 *     fails only when a record uses it (BAD_UNION), a null branch into a
 *     required reader field is MISSING_FIELD;
 *   - enums: writer symbols map to reader symbols by name, then to the C
 *     enum by name; an unknown symbol takes the reader enum's default or is
 *     BAD_ENUM.
 * Where the reader field goes in C is the dst tables (serde_names.c), by
 * field name: a reader field the C struct does not know is decoded and
 * dropped.
 *
 * avro-c 1.11 parses schemas but drops every "default" (and its own resolver
 * refuses a reader field the writer lacks: "Reader field b doesn't appear in
 * writer"), so the defaults, and only they, are read from the reader
 * schema's JSON with jansson, matched to avro-c's records and enums by name.
 *
 * Ops live in one array; a nested block (union branch, array item, map
 * value) follows its op inline and each op knows the index of its next
 * sibling. Errors carry the field path compiled into the op
 * ("products[].sku") with the array indices of the moment filled in.
 *
 * Every read is bounds-checked against the end of the record; varints are at
 * most 10 (long) or 5 (int) bytes; lengths and counts are checked against
 * the bytes left before anything is stored; arrays written into the scratch
 * have a hard cap; arrays of zero-size items share a budget per record; the
 * plan's nesting is capped at ND_SERDE_MAX_DEPTH, so recursion is bounded.
 *
 * FILES. The module is six files along these seams, sharing serde_int.h:
 *   serde_names.c   names of enum values, where reader fields go in C (the
 *                   dst tables), the reader schemas; the contract checks
 *   serde_plan.c    the plan compiler (writer x reader -> ops), signatures
 *   serde.c         this file: the nd_serde_t (reader schemas, the plan
 *                   cache by schema id, the registry), the public
 *                   nd_serde_* decode entry points
 *   serde_interp.c  the plan interpreter, and every decode error text
 *   serde_fast.c    the specialised decoders of the shipped schemas
 *   serde_encode.c  the Avro encoders of actions, events, catalog records
 * json.c (JSON in and out), ocf.c (container files) and schema_registry.c
 * sit beside them; docs/internals/SERDE.md has the whole picture.
 */
#include "serde.h"

#include <avro.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "json.h"
#include "log.h"
#include "mem.h"
#include "schema_registry.h"
#include "serde_int.h"

/* ------------------------------------------------------------------ */
/* The decoder object                                                  */

/* Negative cache life of an id the registry does not know. */
#define ND_SERDE_UNKNOWN_TTL_MS 30000
#define ND_SERDE_MAX_FAILED     1024
/* Life of "the registry cannot be reached" for an id: a record retried
 * after its task's backoff asks again, the records consumed meanwhile do
 * not each wait for a connection to fail. */
#define ND_SERDE_DOWN_TTL_MS 200

/* WHY a lock: avro-c's schema parser reports errors through one global
 * buffer (avro_strerror), so parses on several worker threads at once would
 * mix up messages. Only schema parsing and plan compiling take it: never
 * the decode path. */
static pthread_mutex_t avro_lock = PTHREAD_MUTEX_INITIALIZER;

static void collect_named(json_t *node, json_t *named) {
        size_t i;
        json_t *v;
        const char *key;
        if (json_is_array(node)) {
                json_array_foreach(node, i, v) collect_named(v, named);
                return;
        }
        if (!json_is_object(node))
                return;
        {
                const char *type =
                    json_string_value(json_object_get(node, "type"));
                const char *name =
                    json_string_value(json_object_get(node, "name"));
                if (type && name &&
                    (!strcmp(type, "record") || !strcmp(type, "enum") ||
                     !strcmp(type, "error"))) {
                        const char *dot = strrchr(name, '.');
                        json_object_set(named, dot ? dot + 1 : name, node);
                }
        }
        json_object_foreach(node, key, v) {
                if (!strcmp(key, "default"))
                        continue;
                collect_named(v, named);
        }
}

static nd_err_t read_file(const char *path, char **textp, size_t *lenp,
                          char *errstr, size_t errstr_size) {
        FILE *f = fopen(path, "rb");
        char *text = NULL;
        long n;
        if (!f) {
                snprintf(errstr, errstr_size, "cannot open %s: %s", path,
                         strerror(errno));
                return ND_ERR_IO;
        }
        if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
            fseek(f, 0, SEEK_SET) != 0) {
                fclose(f);
                snprintf(errstr, errstr_size, "cannot read %s", path);
                return ND_ERR_IO;
        }
        text = nd_malloc((size_t)n + 1);
        if (fread(text, 1, (size_t)n, f) != (size_t)n) {
                fclose(f);
                nd_free(text);
                snprintf(errstr, errstr_size, "cannot read %s", path);
                return ND_ERR_IO;
        }
        fclose(f);
        text[n] = '\0';
        *textp = text;
        *lenp = (size_t)n;
        return ND_OK;
}

static void canonical_signature(nd_serde_t *serde, int i);

static nd_err_t load_reader(nd_serde_t *serde, int i, char *errstr,
                            size_t errstr_size) {
        struct reader *rd = &serde->readers[i];
        char path[1024];
        json_error_t jerr;
        nd_err_t err;

        snprintf(path, sizeof(path), "%s/%s", serde->schema_dir,
                 nd__serde_reader_defs[i].file);
        if ((err = read_file(path, &rd->text, &rd->text_len, errstr,
                             errstr_size)))
                return err;
        pthread_mutex_lock(&avro_lock);
        if (avro_schema_from_json_length(rd->text, rd->text_len, &rd->schema)) {
                snprintf(errstr, errstr_size, "%s: %s", path, avro_strerror());
                rd->schema = NULL;
                pthread_mutex_unlock(&avro_lock);
                return ND_ERR_CONFIG;
        }
        pthread_mutex_unlock(&avro_lock);
        rd->json = json_loadb(rd->text, rd->text_len, 0, &jerr);
        if (!rd->json) {
                snprintf(errstr, errstr_size, "%s:%d: %s", path, jerr.line,
                         jerr.text);
                return ND_ERR_CONFIG;
        }
        rd->named = json_object();
        collect_named(rd->json, rd->named);
        if (avro_typeof(rd->schema) != AVRO_RECORD ||
            strcmp(avro_schema_name(rd->schema),
                   nd__serde_reader_defs[i].record)) {
                snprintf(errstr, errstr_size, "%s: expected record %s", path,
                         nd__serde_reader_defs[i].record);
                return ND_ERR_CONFIG;
        }
        canonical_signature(serde, i);
        return ND_OK;
}

/*
 * schemas/action.avsc is not a reader schema (nudge only writes actions)
 * and is not compiled; it is read for one check: the encoder writes
 * act->trigger as the TriggerType index, so that enum's symbols must be
 * the trigger types of nudge/action.h in their order.
 */
static nd_err_t check_action_schema(nd_serde_t *serde, char *errstr,
                                    size_t errstr_size) {
        char path[1024], *text = NULL;
        size_t len = 0;
        json_error_t jerr;
        json_t *doc, *named;
        nd_err_t err;

        snprintf(path, sizeof(path), "%s/action.avsc", serde->schema_dir);
        if ((err = read_file(path, &text, &len, errstr, errstr_size)))
                return err;
        doc = json_loadb(text, len, 0, &jerr);
        nd_free(text);
        if (!doc)
                return nd_err_fmt(errstr, errstr_size, ND_ERR_CONFIG,
                                  "%s:%d: %s", path, jerr.line, jerr.text);
        named = json_object();
        collect_named(doc, named);
        err = nd__serde_check_trigger_types(
            json_object_get(named, "TriggerType"), path, errstr, errstr_size);
        json_decref(named);
        json_decref(doc);
        return err;
}

static uint64_t fnv1a(const char *s, size_t n) {
        uint64_t h = 0xcbf29ce484222325ULL;
        for (size_t i = 0; i < n; i++)
                h = (h ^ (uint8_t)s[i]) * 0x100000001b3ULL;
        return h;
}

/*
 * The reader's plan against itself: when its signature hashes to the one
 * the specialised decoder of this reader was written for, writer plans
 * with this signature get that decoder. A reader schema edited without
 * updating the decoder keeps working, on the interpreter only
 * (tests/unit/test_serde.c checks that the shipped schemas are covered).
 */
static void canonical_signature(nd_serde_t *serde, int i) {
        struct reader *rd = &serde->readers[i];
        struct plan *pl = NULL;
        char *sig;
        size_t n;
        uint64_t h;

        pthread_mutex_lock(&avro_lock);
        if (nd__serde_plan_build(rd->schema, &nd__serde_reader_defs[i],
                                 rd->schema, rd->named, &pl, NULL,
                                 0) != ND_OK) {
                pthread_mutex_unlock(&avro_lock);
                return;
        }
        pthread_mutex_unlock(&avro_lock);
        sig = nd__serde_plan_signature(pl, &n);
        nd__serde_plan_destroy(pl);
        h = fnv1a(sig, n);
        if (h == nd__serde_fast_sigs[i]) {
                serde->fast_sig[i] = sig;
                return;
        }
        nd_log_warn("serde",
                    "%s: signature %016" PRIx64 " is not the specialised "
                    "decoder's %016" PRIx64 ": decoding with the plan "
                    "interpreter only",
                    nd__serde_reader_defs[i].file, h, nd__serde_fast_sigs[i]);
        nd_free(sig);
}

static void entry_free(struct entry *e) {
        nd__serde_plan_destroy(e->plan);
        nd_free(e->errtext);
}

void nd_serde_destroy(nd_serde_t *serde) {
        if (!serde)
                return;
        for (int i = 0; i < serde->ent_cnt; i++)
                entry_free(&serde->ents[i]);
        nd_free(serde->ents);
        for (int i = 0; i < READER_CNT; i++) {
                struct reader *rd = &serde->readers[i];
                if (rd->schema) {
                        pthread_mutex_lock(&avro_lock);
                        avro_schema_decref(rd->schema);
                        pthread_mutex_unlock(&avro_lock);
                }
                json_decref(rd->json);
                json_decref(rd->named);
                nd_free(rd->text);
                nd_free(serde->fast_sig[i]);
        }
        nd_json_dec_fini(&serde->json);
        nd_schema_registry_destroy(serde->reg);
        nd_free(serde->schema_dir);
        nd_free(serde->registry_url);
        nd_free(serde);
}

void nd_serde_conf_from_config(nd_serde_conf_t *conf,
                               const struct nd_config_s *cfg) {
        memset(conf, 0, sizeof(*conf));
        conf->schema_dir = cfg->schema_dir;
        conf->registry_url = cfg->schema_registry_url;
        conf->id_clickstream = (int32_t)cfg->schema_id_clickstream;
        conf->id_cart = (int32_t)cfg->schema_id_cart;
        conf->id_purchase = (int32_t)cfg->schema_id_purchase;
        conf->id_catalog = (int32_t)cfg->schema_id_catalog;
        conf->id_action = (int32_t)cfg->schema_id_action;
}

static struct entry *entry_slot(nd_serde_t *serde, int32_t id) {
        for (int i = 0; i < serde->ent_cnt; i++) {
                if (serde->ents[i].id == id) {
                        if (!serde->ents[i].plan)
                                serde->failed_cnt--;
                        entry_free(&serde->ents[i]);
                        memset(&serde->ents[i], 0, sizeof(serde->ents[i]));
                        serde->ents[i].id = id;
                        return &serde->ents[i];
                }
        }
        if (serde->ent_cnt == serde->ent_cap) {
                serde->ent_cap = serde->ent_cap ? serde->ent_cap * 2 : 8;
                serde->ents = nd_realloc(serde->ents, (size_t)serde->ent_cap *
                                                          sizeof(*serde->ents));
        }
        memset(&serde->ents[serde->ent_cnt], 0, sizeof(serde->ents[0]));
        serde->ents[serde->ent_cnt].id = id;
        return &serde->ents[serde->ent_cnt++];
}

static void entry_fail(nd_serde_t *serde, struct entry *e, nd_err_t err,
                       const char *text, int64_t ttl_ms) {
        e->err = err;
        e->errtext = nd_strdup(text);
        e->expires_ms = ttl_ms ? nd_clock_mono_ms() + ttl_ms : 0;
        if (++serde->failed_cnt > ND_SERDE_MAX_FAILED) {
                /* WHY: ids come from input; a flood of random ids must not
                 * grow the cache without bound. Drop one failed entry. */
                for (int i = 0; i < serde->ent_cnt; i++) {
                        struct entry *f = &serde->ents[i];
                        if (f != e && !f->plan) {
                                entry_free(f);
                                *f = serde->ents[--serde->ent_cnt];
                                serde->failed_cnt--;
                                break;
                        }
                }
        }
}

/* Parses writer schema json and compiles its plan against the reader of
 * the same record name. what names the schema in texts ("schema id 7"). */
static nd_err_t writer_plan(nd_serde_t *serde, const char *json, size_t len,
                            const char *what, struct plan **plp, int *rip,
                            char *text, size_t text_size) {
        avro_schema_t w = NULL;
        nd_err_t err = ND_OK;
        char detail[400];
        int ri = -1;

        *plp = NULL;
        text[0] = '\0';
        if ((err = nd__serde_check_names(json, len, what, text, text_size)) !=
            ND_OK) {
                *rip = -1;
                return err;
        }
        pthread_mutex_lock(&avro_lock);
        if (avro_schema_from_json_length(json, len, &w)) {
                snprintf(text, text_size, "%s does not parse: %s", what,
                         avro_strerror());
                w = NULL;
                err = ND_ERR_UNKNOWN_SCHEMA;
                goto out;
        }
        if (avro_typeof(w) == AVRO_RECORD)
                for (int i = 0; i < READER_CNT; i++)
                        if (!strcmp(avro_schema_name(w),
                                    nd__serde_reader_defs[i].record))
                                ri = i;
        if (ri < 0) {
                snprintf(text, text_size, "%s is %s %s, not one nudge reads",
                         what, avro_schema_type_name(w),
                         avro_typeof(w) == AVRO_RECORD ? avro_schema_name(w)
                                                       : "");
                err = ND_ERR_UNKNOWN_SCHEMA;
                goto out;
        }
        err = nd__serde_plan_build(
            w, &nd__serde_reader_defs[ri], serde->readers[ri].schema,
            serde->readers[ri].named, plp, detail, sizeof(detail));
        if (err)
                snprintf(text, text_size, "%s as %s: %.400s", what,
                         nd__serde_reader_defs[ri].record, detail);
        else
                nd__serde_plan_specialise(*plp, serde->fast_sig[ri], ri,
                                          serde->conf.flags);
out:
        if (w)
                avro_schema_decref(w);
        pthread_mutex_unlock(&avro_lock);
        *rip = ri;
        return err;
}

nd_err_t nd_serde_add_schema(nd_serde_t *serde, int32_t id, const char *json,
                             size_t len, char *errstr, size_t errstr_size) {
        struct plan *pl = NULL;
        struct entry *e;
        nd_err_t err;
        char text[512], what[32];
        int ri;

        snprintf(what, sizeof(what), "schema id %d", (int)id);
        err = writer_plan(serde, json, len, what, &pl, &ri, text, sizeof(text));
        e = entry_slot(serde, id);
        if (err) {
                entry_fail(serde, e, err, text, 0);
                snprintf(errstr, errstr_size, "%s", text);
                return err;
        }
        e->plan = pl;
        serde->stats.plans++;
        return ND_OK;
}

struct nd_serde_plan_s {
        struct plan *pl;
        int reader; /* index in nd__serde_reader_defs */
};

static const char *const reader_topics[READER_CNT] = {"clickstream", "cart",
                                                      "purchase", "catalog"};

nd_err_t nd_serde_plan_new(nd_serde_t *serde, const char *json, size_t len,
                           nd_serde_plan_t **planp, const char **topicp,
                           char *errstr, size_t errstr_size) {
        struct plan *pl;
        char text[512];
        int ri;
        nd_err_t err;

        *planp = NULL;
        err = writer_plan(serde, json, len, "writer schema", &pl, &ri, text,
                          sizeof(text));
        if (err) {
                snprintf(errstr, errstr_size, "%s", text);
                return err;
        }
        serde->stats.plans++;
        *planp = nd_calloc(1, sizeof(**planp));
        (*planp)->pl = pl;
        (*planp)->reader = ri;
        if (topicp)
                *topicp = reader_topics[ri];
        return ND_OK;
}

void nd_serde_plan_destroy(nd_serde_plan_t *plan) {
        if (!plan)
                return;
        nd__serde_plan_destroy(plan->pl);
        nd_free(plan);
}

bool nd_serde_plan_is_event(const nd_serde_plan_t *plan) {
        return plan->pl->kind == PLAN_EVENT;
}

const char *nd_serde_reader_schema(const nd_serde_t *serde, const char *topic,
                                   size_t *lenp) {
        for (int i = 0; i < READER_CNT; i++)
                if (!strcmp(topic, reader_topics[i])) {
                        if (lenp)
                                *lenp = serde->readers[i].text_len;
                        return serde->readers[i].text;
                }
        return NULL;
}

nd_err_t nd_serde_new(const nd_serde_conf_t *conf, nd_serde_t **serdep,
                      char *errstr, size_t errstr_size) {
        nd_serde_t *serde;
        nd_err_t err;
        const struct {
                int32_t id;
                int reader;
        } local[] = {{conf->id_clickstream, 0},
                     {conf->id_cart, 1},
                     {conf->id_purchase, 2},
                     {conf->id_catalog, 3}};

        *serdep = NULL;
        serde = nd_calloc(1, sizeof(*serde));
        serde->conf = *conf;
        serde->schema_dir = nd_strdup(conf->schema_dir && *conf->schema_dir
                                          ? conf->schema_dir
                                          : ND_SOURCE_DIR "/schemas");
        serde->conf.schema_dir = serde->schema_dir;
        if (conf->registry_url && *conf->registry_url) {
                serde->registry_url = nd_strdup(conf->registry_url);
                serde->conf.registry_url = serde->registry_url;
        } else {
                serde->conf.registry_url = NULL;
        }
        nd_json_dec_init(&serde->json);
        for (int i = 0; i < READER_CNT; i++)
                if ((err = load_reader(serde, i, errstr, errstr_size)))
                        goto fail;
        if ((err = check_action_schema(serde, errstr, errstr_size)))
                goto fail;
        if (serde->registry_url) {
                err = nd_schema_registry_new(serde->registry_url,
                                             conf->registry_timeout_ms,
                                             &serde->reg, errstr, errstr_size);
                if (!err && conf->registry_async)
                        err = nd_schema_registry_async(serde->reg, errstr,
                                                       errstr_size);
                if (err)
                        goto fail;
        } else {
                for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
                        struct reader *rd = &serde->readers[local[i].reader];
                        if (local[i].id <= 0)
                                continue;
                        err = nd_serde_add_schema(serde, local[i].id, rd->text,
                                                  rd->text_len, errstr,
                                                  errstr_size);
                        if (err) {
                                err = ND_ERR_CONFIG;
                                goto fail;
                        }
                }
        }
        *serdep = serde;
        return ND_OK;
fail:
        nd_serde_destroy(serde);
        return err;
}

void nd_serde_stats(const nd_serde_t *serde, nd_serde_stats_t *stats) {
        *stats = serde->stats;
}

/* The entry of id: cached, fetched from the registry, or an error. */
static nd_err_t find_plan(nd_serde_t *serde, int32_t id,
                          const struct plan **plp, char *errstr,
                          size_t errstr_size) {
        struct entry *e = NULL;
        const char *text;
        size_t len;
        nd_err_t err;
        char msg[512];

        if (serde->last < serde->ent_cnt && serde->ents[serde->last].id == id)
                e = &serde->ents[serde->last];
        else
                for (int i = 0; i < serde->ent_cnt; i++)
                        if (serde->ents[i].id == id) {
                                e = &serde->ents[i];
                                serde->last = i;
                                break;
                        }
        if (e && !e->plan && e->expires_ms &&
            nd_clock_mono_ms() >= e->expires_ms)
                e = NULL; /* ask the registry again */
        if (e) {
                if (e->plan) {
                        *plp = e->plan;
                        return ND_OK;
                }
                snprintf(errstr, errstr_size, "%s", e->errtext);
                return e->err;
        }
        if (!serde->reg) {
                snprintf(errstr, errstr_size,
                         "schema id %d is not configured (schema.ids: "
                         "clickstream=%d cart=%d purchase=%d catalog=%d)",
                         (int)id, (int)serde->conf.id_clickstream,
                         (int)serde->conf.id_cart, (int)serde->conf.id_purchase,
                         (int)serde->conf.id_catalog);
                return ND_ERR_UNKNOWN_SCHEMA;
        }
        err = nd_schema_registry_get(serde->reg, id, &text, &len, msg,
                                     sizeof(msg));
        if (err == ND_OK) {
                serde->stats.registry_fetches++;
                err =
                    nd_serde_add_schema(serde, id, text, len, msg, sizeof(msg));
        } else if (err == ND_ERR_UNKNOWN_SCHEMA) {
                entry_fail(serde, entry_slot(serde, id), err, msg,
                           ND_SERDE_UNKNOWN_TTL_MS);
        } else if (err == ND_ERR_REGISTRY && !serde->conf.registry_async) {
                /* (async: the client remembers failures itself, and an
                 * answer on its way must be seen as soon as it is in) */
                entry_fail(serde, entry_slot(serde, id), err, msg,
                           ND_SERDE_DOWN_TTL_MS);
        }
        if (err) {
                snprintf(errstr, errstr_size, "%s", msg);
                return err;
        }
        return find_plan(serde, id, plp, errstr, errstr_size);
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */

/* Frame + plan + run; *kind says what the plan decodes into. */
static nd_err_t decode_frame(nd_serde_t *serde, const void *buf, size_t len,
                             enum plan_kind want, void *out, char *errstr,
                             size_t errstr_size) {
        const uint8_t *b = buf;
        const struct plan *pl;
        int32_t id;
        nd_err_t err;

        if (len < 5 || !buf) {
                snprintf(errstr, errstr_size,
                         "record of %zu bytes is shorter than the 5-byte "
                         "Confluent frame",
                         len);
                return ND_ERR_TRUNCATED;
        }
        if (b[0] != 0) {
                snprintf(errstr, errstr_size,
                         "magic byte is 0x%02x, expected 0x00", b[0]);
                return ND_ERR_BAD_MAGIC;
        }
        id = (int32_t)((uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
                       (uint32_t)b[3] << 8 | b[4]);
        if ((err = find_plan(serde, id, &pl, errstr, errstr_size)))
                return err;
        if (pl->kind != want) {
                snprintf(errstr, errstr_size, "schema id %d is %s, not %s",
                         (int)id, pl->reader,
                         want == PLAN_EVENT ? "an event schema"
                                            : "the catalog schema");
                return ND_ERR_UNKNOWN_SCHEMA;
        }
        return nd__serde_run_plan(serde, pl, b, b + 5, b + len, out, NULL,
                                  errstr, errstr_size);
}

static inline nd_err_t finish_event(nd_serde_t *serde, nd_err_t err,
                                    nd_event_t *ev, char *errstr,
                                    size_t errstr_size) {
        if (err == ND_OK) {
                nd__serde_event_set_key(ev);
                if (!(serde->conf.flags & ND_SERDE_F_NO_VALIDATE))
                        err = nd__serde_check_event(ev, errstr, errstr_size);
        }
        if (err)
                serde->stats.failed++;
        else
                serde->stats.decoded++;
        return err;
}

nd_err_t nd_serde_decode(nd_serde_t *serde, const void *buf, size_t len,
                         nd_event_t *ev, char *errstr, size_t errstr_size) {
        const uint8_t *b = buf;
        nd_err_t err;

        nd__serde_event_reset(ev);
        /* WHY a second way in: the common record (the id of the last one,
         * a specialised plan) skips find_plan and the interpreter's setup;
         * a few ns of the ~30 a record costs. Anything else, and anything
         * the specialised decoder refuses, takes the general path. */
        if (__builtin_expect(len >= 5 && b && b[0] == 0 &&
                                 serde->last < serde->ent_cnt,
                             1)) {
                const struct entry *e = &serde->ents[serde->last];
                int32_t id =
                    (int32_t)((uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
                              (uint32_t)b[3] << 8 | b[4]);
                if (e->id == id && e->plan && e->plan->fast &&
                    e->plan->kind == PLAN_EVENT) {
                        if (e->plan->fast(serde, b + 5, b + len, ev) ==
                            b + len) {
                                serde->stats.decoded_fast++;
                                return finish_event(serde, ND_OK, ev, errstr,
                                                    errstr_size);
                        }
                        nd__serde_event_reset(ev);
                }
        }
        err =
            decode_frame(serde, buf, len, PLAN_EVENT, ev, errstr, errstr_size);
        return finish_event(serde, err, ev, errstr, errstr_size);
}

nd_err_t nd_serde_decode_body(nd_serde_t *serde, const nd_serde_plan_t *plan,
                              const void *buf, size_t len, nd_event_t *ev,
                              size_t *usedp, char *errstr, size_t errstr_size) {
        const uint8_t *b = buf;
        size_t used = 0;
        nd_err_t err;

        *usedp = 0;
        nd__serde_event_reset(ev);
        if (plan->pl->kind != PLAN_EVENT) {
                snprintf(errstr, errstr_size,
                         "the writer schema is %s, not an event schema",
                         plan->pl->reader);
                err = ND_ERR_UNKNOWN_SCHEMA;
        } else {
                err = nd__serde_run_plan(serde, plan->pl, b, b, b + len, ev,
                                         &used, errstr, errstr_size);
        }
        err = finish_event(serde, err, ev, errstr, errstr_size);
        if (used && (err == ND_OK || err == ND_ERR_MISSING_FIELD))
                *usedp = used;
        return err;
}

nd_err_t nd_serde_decode_json(nd_serde_t *serde, const void *buf, size_t len,
                              nd_event_t *ev, char *errstr,
                              size_t errstr_size) {
        nd_err_t err = nd_json_decode_event(&serde->json, buf, len, ev, errstr,
                                            errstr_size);
        return finish_event(serde, err, ev, errstr, errstr_size);
}

static nd_err_t finish_product(nd_serde_t *serde, nd_err_t err,
                               nd_product_rec_t *prod, char *errstr,
                               size_t errstr_size) {
        if (err == ND_OK && !(serde->conf.flags & ND_SERDE_F_NO_VALIDATE) &&
            nd_str_is_null(prod->sku)) {
                snprintf(errstr, errstr_size, "field 'sku' is empty");
                err = ND_ERR_MISSING_FIELD;
        }
        if (err)
                serde->stats.failed++;
        else
                serde->stats.decoded++;
        return err;
}

nd_err_t nd_serde_decode_product(nd_serde_t *serde, const void *buf, size_t len,
                                 nd_product_rec_t *prod, char *errstr,
                                 size_t errstr_size) {
        nd_err_t err;
        nd__serde_product_reset(prod);
        err = decode_frame(serde, buf, len, PLAN_PRODUCT, prod, errstr,
                           errstr_size);
        return finish_product(serde, err, prod, errstr, errstr_size);
}

nd_err_t nd_serde_decode_product_json(nd_serde_t *serde, const void *buf,
                                      size_t len, nd_product_rec_t *prod,
                                      char *errstr, size_t errstr_size) {
        nd_err_t err = nd_json_decode_product(&serde->json, buf, len, prod,
                                              errstr, errstr_size);
        return finish_product(serde, err, prod, errstr, errstr_size);
}
