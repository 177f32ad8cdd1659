/*
 * bench_restore.c — restoring state from the changelog.
 *
 * Usage: bench_restore CONFIG BOOTSTRAP N [PARTITIONS]
 *
 * Fills a task with N customers who browsed (page_viewed, product_viewed:
 * the state bench_memory measures), writes its changelog to Kafka (the
 * application's compacted changelog topic, PARTITIONS partitions, default
 * 1, records partitioned by key as the engine's producer does; named from
 * application.id, which the caller makes unique), then times what a worker
 * does on assignment: one group-less read_committed reader of all the
 * changelog partitions (nd_kio_table_new) feeding nd_task_restore() into a
 * fresh task per partition until every partition is read to its end, then
 * nd_task_restored(). Prints one JSON line: records, customers, seconds,
 * records/s, and whether the restored task holds what was written.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "kio.h"
#include "mem.h"
#include "registry.h"
#include "task.h"

struct prod {
        nd_kio_client_t *cl;
        const nd_config_t *cfg;
        uint64_t records;
};

struct rest {
        nd_task_t **tasks; /* per partition */
        int parts;
        uint64_t records, bad;
        int64_t apply_ns; /* inside nd_task_restore() */
};

static nd_err_t on_emit(void *arg, nd_task_t *task, int inst,
                        const nd_action_t *act) {
        return ND_OK;
}

static nd_err_t on_forward(void *arg, nd_task_t *task, int inst,
                           const void *key, size_t key_len, const void *value,
                           size_t value_len) {
        return ND_OK;
}

static nd_err_t log_one(void *arg, const void *key, size_t klen,
                        const void *value, size_t vlen) {
        struct prod *p = arg;
        char topic[300];
        nd_task_changelog_topic(p->cfg, topic, sizeof(topic));
        p->records++;
        return nd_kio_client_produce(p->cl, topic, key, klen, value, vlen);
}

static void restore_one(void *arg, const nd_rec_t *rec) {
        struct rest *r = arg;
        int64_t t0 = nd_clock_mono_ns();
        if (rec->partition < 0 || rec->partition >= r->parts ||
            nd_task_restore(r->tasks[rec->partition], rec->key, rec->key_len,
                            rec->value, rec->value_len, NULL) != ND_OK)
                r->bad++;
        r->apply_ns += nd_clock_mono_ns() - t0;
        r->records++;
}

static void fill(nd_task_t *task, long n) {
        int64_t t0 = 1767225600000LL;
        char key[32], id[32];
        for (long i = 0; i < n; i++) {
                nd_event_t ev;
                nd_rec_t rec = {.topic = "bench"};
                int kl = snprintf(key, sizeof(key), "cust-%ld", i);
                memset(&ev, 0, sizeof(ev));
                ev.customer_id = (nd_str_t){key, (uint32_t)kl};
                ev.key = ev.customer_id;
                ev.key_is_customer = true;
                ev.timestamp = t0 + i / 100;
                ev.channel = ND_CHANNEL_WEB;
                ev.device_id = (nd_str_t){"dev-1", 5};
                ev.session_id = (nd_str_t){"s-1", 3};
                ev.product.sku = (nd_str_t){"SKU-00042", 9};
                ev.product.category = (nd_str_t){"shoes", 5};
                ev.product.currency = (nd_str_t){"EUR", 3};
                rec.key = key;
                rec.key_len = (size_t)kl;
                rec.ev = &ev;
                for (int t = 0; t < 2; t++) {
                        int il = snprintf(id, sizeof(id), "r-%ld-%d", i, t);
                        ev.event_id = (nd_str_t){id, (uint32_t)il};
                        ev.type = t ? ND_EV_PRODUCT_VIEWED : ND_EV_PAGE_VIEWED;
                        ev.has_product = t == 1;
                        rec.timestamp = ev.timestamp;
                        nd_task_process(task, &rec);
                }
        }
}

int main(int argc, char **argv) {
        nd_config_t *cfg = NULL;
        nd_task_conf_t tc = {
            .partition = 0, .sink = {on_emit, on_forward, NULL}, .live = false};
        struct prod p = {0};
        struct rest r = {0};
        nd_kio_client_t *tbl = NULL;
        nd_task_t *src;
        nd_task_stats_t s1, s2 = {0};
        char topic[300];
        const char *topics[1] = {topic};
        char errstr[1024];
        int64_t t0;
        double secs, fill_s, write_s;
        long n;
        int parts = argc > 4 ? atoi(argv[4]) : 1;

        if (argc < 4) {
                fprintf(stderr, "usage: bench_restore CONFIG BOOTSTRAP N "
                                "[PARTITIONS]\n");
                return 2;
        }
        n = atol(argv[3]);
        if (parts < 1 || parts > 64) {
                fprintf(stderr, "bench_restore: PARTITIONS: 1 to 64\n");
                return 2;
        }
        if (nd_config_load(argv[1], nd_processor_find, &cfg, errstr,
                           sizeof(errstr)) != ND_OK) {
                fprintf(stderr, "bench_restore: %s\n", errstr);
                return 2;
        }
        tc.cfg = cfg;
        p.cfg = cfg;
        nd_task_changelog_topic(cfg, topic, sizeof(topic));
        if (nd_kio_create_topic(cfg, argv[2], topic, parts, true, 15000, errstr,
                                sizeof(errstr)) != ND_OK) {
                fprintf(stderr, "bench_restore: %s\n", errstr);
                return 1;
        }

        src = nd_task_new(&tc);
        if (nd_task_start(src) != ND_OK)
                return 1;
        t0 = nd_clock_mono_ns();
        fill(src, n);
        fill_s = (double)(nd_clock_mono_ns() - t0) / 1e9;
        nd_task_stats(src, &s1);
        p.cl = nd_kio_producer_new(cfg, argv[2], errstr, sizeof(errstr));
        if (!p.cl) {
                fprintf(stderr, "bench_restore: %s\n", errstr);
                return 1;
        }
        t0 = nd_clock_mono_ns();
        if (nd_task_flush(src, log_one, &p) != ND_OK ||
            nd_kio_client_flush(p.cl, 120000) != ND_OK ||
            nd_kio_client_poll(p.cl, 0) > 0) {
                fprintf(stderr, "bench_restore: writing the changelog "
                                "failed\n");
                return 1;
        }
        write_s = (double)(nd_clock_mono_ns() - t0) / 1e9;
        nd_kio_client_destroy(p.cl);
        nd_task_destroy(src);

        r.parts = parts;
        r.tasks = nd_calloc((size_t)parts, sizeof(*r.tasks));
        for (int i = 0; i < parts; i++) {
                tc.partition = i;
                r.tasks[i] = nd_task_new(&tc);
        }
        t0 = nd_clock_mono_ns();
        tbl = nd_kio_table_new(cfg, argv[2], topics, 1, NULL, 0, errstr,
                               sizeof(errstr));
        if (!tbl) {
                fprintf(stderr, "bench_restore: %s\n", errstr);
                return 1;
        }
        {
                /* as the worker does (runtime.c restore_tasks) */
                int64_t done, total;
                nd_kio_table_progress(tbl, &done, &total);
                for (int i = 0; i < parts && total > 0; i++)
                        nd_task_reserve(r.tasks[i], (size_t)(total / parts));
        }
        while (!nd_kio_table_loaded(tbl) &&
               nd_clock_mono_ns() - t0 < 300 * 1000000000LL)
                nd_kio_client_read(tbl, 100000, 100, restore_one, &r);
        for (int i = 0; i < parts; i++)
                nd_task_restored(r.tasks[i]);
        secs = (double)(nd_clock_mono_ns() - t0) / 1e9;
        for (int i = 0; i < parts; i++) {
                nd_task_stats_t st;
                nd_task_stats(r.tasks[i], &st);
                s2.entries += st.entries;
        }
        printf("{\"customers\":%ld,\"records\":%" PRIu64 ",\"written\":%" PRIu64
               ",\"bad\":%" PRIu64 ",\"restore_s\":%.2f,\"apply_s\":%.2f,"
               "\"records_per_s\":%.0f,\"customers_per_s\":%.0f,"
               "\"entries_before\":%zu,\"entries_after\":%zu,"
               "\"fill_s\":%.2f,\"write_s\":%.2f,\"partitions\":%d}\n",
               n, r.records, p.records, r.bad, secs, (double)r.apply_ns / 1e9,
               (double)r.records / secs, (double)n / secs, s1.entries,
               s2.entries, fill_s, write_s, parts);
        nd_kio_client_destroy(tbl);
        for (int i = 0; i < parts; i++) {
                if (nd_task_start(r.tasks[i]) != ND_OK)
                        return 1;
                nd_task_destroy(r.tasks[i]);
        }
        nd_free(r.tasks);
        nd_config_destroy(cfg);
        return s1.entries == s2.entries ? 0 : 1;
}
