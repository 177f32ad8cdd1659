/*
 * nd_test_driver.c — see nd_test_driver.h. The driver is a task (the same
 * code the engine runs per partition) with an in-memory sink and an
 * in-memory changelog, and a pinned wall clock.
 */
#include "nd_test_driver.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "clock.h"
#include "config.h"
#include "mem.h"
#include "registry.h"
#include "serde.h"
#include "store.h"
#include "task.h"

#define STR_RING 16

struct log_rec {
        bool bad; /* nd_test_driver_log_append(): expected refused */
        void *key;
        size_t klen;
        void *value; /* NULL: tombstone */
        size_t vlen;
};

struct nd_test_driver_s {
        nd_config_t *cfg;
        nd_serde_t *serde;
        nd_catalog_t *catalog;
        nd_task_t *task;
        int64_t wall;
        int64_t last_pipe_wall;
        nd_test_action_t *out;
        int out_cnt, out_cap, out_read;
        struct log_rec *log;
        int log_cnt, log_cap;
        char *ring[STR_RING];
        int ring_next;
};

/* Deep copy of an action into one allocation. */
static size_t str_need(nd_str_t s) {
        return s.len;
}

static char *copy_str(nd_str_t *dst, nd_str_t src, char *p) {
        if (src.len)
                memcpy(p, src.p, src.len);
        dst->p = src.len ? p : NULL;
        dst->len = src.len;
        return p + src.len;
}

static void *action_copy(const nd_action_t *a, nd_action_t *out) {
        size_t need = 0;
        char *buf, *p;
        nd_line_item_t *items;
        nd_str_t *recs, *srcs;
        need += str_need(a->action_id) + str_need(a->trigger_name) +
                str_need(a->customer_id) + str_need(a->anonymous_id) +
                str_need(a->device_id) + str_need(a->cart_id) +
                str_need(a->order_id) + str_need(a->currency) +
                str_need(a->from_device_id);
        need += a->item_cnt * sizeof(nd_line_item_t);
        for (uint32_t i = 0; i < a->item_cnt; i++)
                need += a->items[i].sku.len + a->items[i].category.len;
        need += a->recommended_cnt * sizeof(nd_str_t);
        for (uint32_t i = 0; i < a->recommended_cnt; i++)
                need += a->recommended_skus[i].len;
        need += a->source_event_cnt * sizeof(nd_str_t);
        for (uint32_t i = 0; i < a->source_event_cnt; i++)
                need += a->source_event_ids[i].len;
        buf = nd_malloc(need + 16);
        *out = *a;
        items = (nd_line_item_t *)buf;
        recs = (nd_str_t *)(items + a->item_cnt);
        srcs = recs + a->recommended_cnt;
        p = (char *)(srcs + a->source_event_cnt);
        p = copy_str(&out->action_id, a->action_id, p);
        p = copy_str(&out->trigger_name, a->trigger_name, p);
        p = copy_str(&out->customer_id, a->customer_id, p);
        p = copy_str(&out->anonymous_id, a->anonymous_id, p);
        p = copy_str(&out->device_id, a->device_id, p);
        p = copy_str(&out->cart_id, a->cart_id, p);
        p = copy_str(&out->order_id, a->order_id, p);
        p = copy_str(&out->currency, a->currency, p);
        p = copy_str(&out->from_device_id, a->from_device_id, p);
        for (uint32_t i = 0; i < a->item_cnt; i++) {
                items[i] = a->items[i];
                p = copy_str(&items[i].sku, a->items[i].sku, p);
                p = copy_str(&items[i].category, a->items[i].category, p);
        }
        for (uint32_t i = 0; i < a->recommended_cnt; i++)
                p = copy_str(&recs[i], a->recommended_skus[i], p);
        for (uint32_t i = 0; i < a->source_event_cnt; i++)
                p = copy_str(&srcs[i], a->source_event_ids[i], p);
        out->items = a->item_cnt ? items : NULL;
        out->recommended_skus = a->recommended_cnt ? recs : NULL;
        out->source_event_ids = a->source_event_cnt ? srcs : NULL;
        return buf;
}

static nd_err_t sink_emit(void *arg, nd_task_t *task, int inst,
                          const nd_action_t *act) {
        nd_test_driver_t *drv = arg;
        nd_test_action_t *ta;
        char line[65536];
        size_t len;
        (void)task;
        (void)inst;
        ck_assert_msg(nd_action_write_json(act, line, sizeof(line), &len) ==
                          ND_OK,
                      "an emitted action does not serialize (missing "
                      "action_id or trigger_name?)");
        if (drv->out_cnt == drv->out_cap) {
                drv->out_cap = drv->out_cap ? drv->out_cap * 2 : 16;
                drv->out = nd_realloc(drv->out,
                                      (size_t)drv->out_cap * sizeof(*drv->out));
        }
        ta = &drv->out[drv->out_cnt++];
        /* The copy's buffer starts at its items array or strings; keep the
         * base pointer in json's slot pair: json is allocated separately. */
        ta->json = nd_strndup(line, len);
        {
                void *base = action_copy(act, &ta->act);
                /* WHY stash: the base pointer is needed to free the copy;
                 * store it just after the json string's terminator. */
                ta->json = nd_realloc(ta->json, len + 1 + sizeof(void *));
                memcpy(ta->json + len + 1, &base, sizeof(void *));
        }
        return ND_OK;
}

static void action_free(nd_test_action_t *ta) {
        void *base;
        size_t len = strlen(ta->json);
        memcpy(&base, ta->json + len + 1, sizeof(void *));
        nd_free(base);
        nd_free(ta->json);
}

static nd_err_t sink_forward(void *arg, nd_task_t *task, int inst,
                             const void *key, size_t key_len, const void *value,
                             size_t value_len) {
        (void)arg;
        (void)task;
        (void)inst;
        (void)key;
        (void)key_len;
        (void)value;
        (void)value_len;
        return ND_OK;
}

static nd_task_t *make_task(nd_test_driver_t *drv) {
        nd_task_conf_t tc = {.cfg = drv->cfg,
                             .partition = 0,
                             .sink = {sink_emit, sink_forward, drv},
                             .catalog = drv->catalog,
                             .live = true};
        return nd_task_new(&tc);
}

nd_test_driver_t *nd_test_driver_new(const char *yaml, int64_t wall_ms) {
        return nd_test_driver_new_lookup(yaml, wall_ms, nd_processor_find);
}

nd_test_driver_t *nd_test_driver_new_lookup(
    const char *yaml, int64_t wall_ms,
    const nd_processor_def_t *(*lookup)(const char *type)) {
        nd_test_driver_t *drv = nd_calloc(1, sizeof(*drv));
        nd_serde_conf_t sc;
        char errstr[1024];
        nd_err_t err;

        err = nd_config_load_string("test.yaml", yaml, strlen(yaml), lookup,
                                    &drv->cfg, errstr, sizeof(errstr));
        ck_assert_msg(err == ND_OK, "test configuration: %s", errstr);
        nd_serde_conf_from_config(&sc, drv->cfg);
        sc.schema_dir = ND_SOURCE_DIR "/schemas";
        err = nd_serde_new(&sc, &drv->serde, errstr, sizeof(errstr));
        ck_assert_msg(err == ND_OK, "serde: %s", errstr);
        drv->catalog = nd_catalog_new();
        drv->wall = wall_ms;
        drv->last_pipe_wall = wall_ms;
        nd_clock_set_fake(wall_ms);
        drv->task = make_task(drv);
        ck_assert_int_eq(nd_task_start(drv->task), ND_OK);
        return drv;
}

void nd_test_driver_destroy(nd_test_driver_t *drv) {
        if (!drv)
                return;
        nd_task_destroy(drv->task);
        for (int i = 0; i < drv->out_cnt; i++)
                action_free(&drv->out[i]);
        nd_free(drv->out);
        for (int i = 0; i < drv->log_cnt; i++) {
                nd_free(drv->log[i].key);
                nd_free(drv->log[i].value);
        }
        nd_free(drv->log);
        for (int i = 0; i < STR_RING; i++)
                nd_free(drv->ring[i]);
        nd_catalog_destroy(drv->catalog);
        nd_serde_destroy(drv->serde);
        nd_config_destroy(drv->cfg);
        nd_clock_set_fake(-1);
        nd_free(drv);
}

void nd_test_driver_catalog(nd_test_driver_t *drv, const char *json) {
        nd_product_rec_t prod;
        char errstr[512];
        nd_err_t err = nd_serde_decode_product_json(
            drv->serde, json, strlen(json), &prod, errstr, sizeof(errstr));
        ck_assert_msg(err == ND_OK, "catalog record %s: %s", json, errstr);
        ck_assert_int_eq(nd_catalog_put(drv->catalog, &prod), ND_OK);
}

nd_err_t nd_test_driver_pipe(nd_test_driver_t *drv, const char *json) {
        nd_event_t ev;
        nd_rec_t rec = {.topic = "test", .partition = 0};
        char errstr[512];
        nd_err_t err = nd_serde_decode_json(drv->serde, json, strlen(json), &ev,
                                            errstr, sizeof(errstr));
        if (err != ND_OK)
                return err;
        rec.value = json;
        rec.value_len = strlen(json);
        rec.key = ev.key.p;
        rec.key_len = ev.key.len;
        rec.timestamp = ev.timestamp;
        rec.ev = &ev;
        nd_task_process(drv->task, &rec);
        drv->last_pipe_wall = drv->wall;
        return ND_OK;
}

void nd_test_driver_pipef(nd_test_driver_t *drv, const char *fmt, ...) {
        char buf[8192];
        va_list ap;
        nd_err_t err;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        err = nd_test_driver_pipe(drv, buf);
        ck_assert_msg(err == ND_OK, "event does not decode (%s): %s",
                      nd_err_name(err), buf);
}

int nd_test_driver_advance_wall(nd_test_driver_t *drv, int64_t ms) {
        drv->wall += ms;
        nd_clock_set_fake(drv->wall);
        return (int)nd_task_idle(drv->task, drv->wall, drv->last_pipe_wall,
                                 true);
}

int nd_test_driver_end(nd_test_driver_t *drv, int64_t end_time) {
        return (int)nd_task_end(drv->task, end_time);
}

int64_t nd_test_driver_watermark(const nd_test_driver_t *drv) {
        return nd_task_watermark(drv->task);
}

int nd_test_driver_output_count(const nd_test_driver_t *drv) {
        return drv->out_cnt - drv->out_read;
}

const nd_test_action_t *nd_test_driver_read(nd_test_driver_t *drv) {
        if (drv->out_read >= drv->out_cnt)
                return NULL;
        return &drv->out[drv->out_read++];
}

void nd_test_driver_clear(nd_test_driver_t *drv) {
        drv->out_read = drv->out_cnt;
}

size_t nd_test_driver_entries(const nd_test_driver_t *drv, const char *name) {
        for (int i = 0; i < nd_task_instance_count(drv->task); i++)
                if (!strcmp(nd_task_instance(drv->task, i)->name, name)) {
                        struct nd_store_s *st = nd_task_store(drv->task, i);
                        nd_task_stats_t s;
                        if (!st)
                                return 0;
                        nd_task_stats(drv->task, &s);
                        return nd_store_count(st);
                }
        ck_abort_msg("no trigger named %s", name);
        return 0;
}

size_t nd_test_driver_timers(const nd_test_driver_t *drv) {
        nd_task_stats_t s;
        nd_task_stats(drv->task, &s);
        return s.timers_pending;
}

static nd_err_t log_cb(void *arg, const void *key, size_t klen,
                       const void *value, size_t vlen) {
        nd_test_driver_t *drv = arg;
        struct log_rec *r;
        if (drv->log_cnt == drv->log_cap) {
                drv->log_cap = drv->log_cap ? drv->log_cap * 2 : 64;
                drv->log = nd_realloc(drv->log,
                                      (size_t)drv->log_cap * sizeof(*drv->log));
        }
        r = &drv->log[drv->log_cnt++];
        r->bad = false;
        r->key = nd_malloc(klen ? klen : 1);
        memcpy(r->key, key, klen);
        r->klen = klen;
        r->value = value ? nd_malloc(vlen ? vlen : 1) : NULL;
        if (value)
                memcpy(r->value, value, vlen);
        r->vlen = vlen;
        return ND_OK;
}

void nd_test_driver_restart(nd_test_driver_t *drv) {
        ck_assert_int_eq(nd_task_flush(drv->task, log_cb, drv), ND_OK);
        nd_task_destroy(drv->task);
        drv->task = make_task(drv);
        for (int i = 0; i < drv->log_cnt; i++)
                ck_assert_int_eq(nd_task_restore(drv->task, drv->log[i].key,
                                                 drv->log[i].klen,
                                                 drv->log[i].value,
                                                 drv->log[i].vlen, NULL),
                                 drv->log[i].bad ? ND_ERR_BAD_RECORD : ND_OK);
        nd_task_restored(drv->task);
        ck_assert_int_eq(nd_task_start(drv->task), ND_OK);
}

const char *nd_test_str(nd_test_driver_t *drv, nd_str_t s) {
        char *p = nd_strndup(s.p ? s.p : "", s.len);
        nd_free(drv->ring[drv->ring_next]);
        drv->ring[drv->ring_next] = p;
        drv->ring_next = (drv->ring_next + 1) % STR_RING;
        return p;
}

int nd_test_driver_flush(nd_test_driver_t *drv) {
        int before = drv->log_cnt;
        ck_assert_int_eq(nd_task_flush(drv->task, log_cb, drv), ND_OK);
        return drv->log_cnt - before;
}

int nd_test_driver_log_count(const nd_test_driver_t *drv) {
        return drv->log_cnt;
}

void nd_test_driver_log(const nd_test_driver_t *drv, int i, nd_str_t *key,
                        const uint8_t **value, size_t *vlen) {
        ck_assert_int_lt(i, drv->log_cnt);
        *key = (nd_str_t){drv->log[i].key, (uint32_t)drv->log[i].klen};
        *value = drv->log[i].value;
        *vlen = drv->log[i].vlen;
}

void nd_test_driver_log_append(nd_test_driver_t *drv, const void *key,
                               size_t klen, const void *value, size_t vlen,
                               bool bad) {
        ck_assert_int_eq(log_cb(drv, key, klen, value, vlen), ND_OK);
        drv->log[drv->log_cnt - 1].bad = bad;
}
