/*
 * bench_memory.c — memory per tracked customer.
 *
 * Usage: bench_memory CONFIG [browse|cart] N...
 *
 * For each N, a fresh task with the configured triggers receives, for N
 * distinct known customers, the events of a short visit through the task
 * API (no Kafka, no decode):
 *   browse  page_viewed, then product_viewed (no cart: the state of a
 *           customer who only browsed)
 *   cart    page_viewed, product_viewed, product_added (an open cart of
 *           one line)
 * Event times stay within a few minutes, so no timer fires during the
 * fill. Then it commits once, as the runtime does every commit interval:
 * nd_task_flush() encodes every changed entry into a changelog record
 * (dropped here), which empties the stores' dirty lists. It reports, per
 * customer, after that commit: the state the runtime accounts
 * (nd_task_stats().bytes: stores, entries, blobs, timer heap), the bytes
 * the allocator handed out (jemalloc's stats.allocated delta), the RSS
 * delta, and the RSS delta once jemalloc has been told to purge what was
 * freed (`rss_per_customer_purged`: what the process settles at after
 * jemalloc's decay time); the same three before the commit (`*_before_commit`:
 * the dirty list then holds all N customers, 8 bytes each plus growth slack,
 * which a live task only has for the customers changed in one commit interval);
 * the changelog bytes; and per trigger instance the entries and bytes of
 * its store. One JSON line per N.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef ND_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "catalog.h"
#include "clock.h"
#include "config.h"
#include "mem.h"
#include "registry.h"
#include "store.h"
#include "task.h"

static nd_err_t on_emit(void *arg, nd_task_t *task, int inst,
                        const nd_action_t *act) {
        return ND_OK;
}

static nd_err_t on_forward(void *arg, nd_task_t *task, int inst,
                           const void *key, size_t key_len, const void *value,
                           size_t value_len) {
        return ND_OK;
}

struct log_count {
        size_t records;
        size_t bytes;
};

static nd_err_t on_log(void *arg, const void *key, size_t klen,
                       const void *value, size_t vlen) {
        struct log_count *lc = arg;
        (void)key;
        (void)value;
        lc->records++;
        lc->bytes += klen + vlen;
        return ND_OK;
}

static long long rss_bytes(void) {
        long long pages = 0, rss = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (f) {
                if (fscanf(f, "%lld %lld", &pages, &rss) != 2)
                        rss = 0;
                fclose(f);
        }
        return rss * sysconf(_SC_PAGESIZE);
}

/*
 * Hands freed pages back to the kernel now rather than after jemalloc's
 * decay (10 s by default): what the old tables, heap arrays and dirty
 * lists left behind while growing is not state, and a running process
 * returns it within seconds. Returns false without jemalloc.
 */
static bool purge(void) {
#ifdef ND_HAVE_JEMALLOC
        char cmd[64];
        snprintf(cmd, sizeof(cmd), "arena.%u.purge",
                 (unsigned)MALLCTL_ARENAS_ALL);
        return mallctl(cmd, NULL, NULL, NULL, 0) == 0;
#else
        return false;
#endif
}

static void feed(nd_task_t *task, nd_event_t *ev, nd_event_type_t type,
                 int64_t ts) {
        nd_rec_t rec = {.topic = "bench", .timestamp = ts};
        static uint64_t seq;
        static char id[32];
        int n = snprintf(id, sizeof(id), "m-%" PRIu64, seq++);
        ev->type = type;
        ev->event_id = (nd_str_t){id, (uint32_t)n};
        ev->timestamp = ts;
        ev->has_product = type != ND_EV_PAGE_VIEWED;
        rec.key = ev->key.p;
        rec.key_len = ev->key.len;
        rec.ev = ev;
        nd_task_process(task, &rec);
}

static void run(const nd_config_t *cfg, bool cart, long n) {
        nd_task_conf_t tc = {.cfg = cfg,
                             .partition = 0,
                             .sink = {on_emit, on_forward, NULL},
                             .live = false};
        long long rss0, alloc0, rss1, alloc1, rss2, rss3;
        nd_task_t *task;
        nd_task_stats_t st, st1;
        struct log_count lc = {0, 0};
        char key[32];
        int64_t t0 = 1767225600000LL, t1;

        (void)purge(); /* the previous N's freed pages: not ours */
        rss0 = rss_bytes();
        alloc0 = nd_mem_allocated();
        task = nd_task_new(&tc);
        if (nd_task_start(task) != ND_OK)
                exit(1);
        t1 = nd_clock_mono_ns();
        for (long i = 0; i < n; i++) {
                nd_event_t ev;
                int64_t ts = t0 + i / 100; /* 10 customers per ms */
                int kl = snprintf(key, sizeof(key), "cust-%ld", i);
                memset(&ev, 0, sizeof(ev));
                ev.customer_id = (nd_str_t){key, (uint32_t)kl};
                ev.key = ev.customer_id;
                ev.key_is_customer = true;
                ev.channel = ND_CHANNEL_WEB;
                ev.device_id = (nd_str_t){"dev-1", 5};
                ev.device_type = ND_DEVICE_DESKTOP;
                ev.session_id = (nd_str_t){"s-1", 3};
                ev.product.sku = (nd_str_t){"SKU-00042", 9};
                ev.product.category = (nd_str_t){"shoes", 5};
                ev.product.price_cents = 4999;
                ev.product.has_price = true;
                ev.product.currency = (nd_str_t){"EUR", 3};
                ev.quantity = 1;
                feed(task, &ev, ND_EV_PAGE_VIEWED, ts);
                feed(task, &ev, ND_EV_PRODUCT_VIEWED, ts);
                if (cart) {
                        ev.cart_id = (nd_str_t){"cart-1", 6};
                        feed(task, &ev, ND_EV_PRODUCT_ADDED, ts);
                }
        }
        t1 = nd_clock_mono_ns() - t1;
        nd_task_stats(task, &st1);
        alloc1 = nd_mem_allocated();
        rss1 = rss_bytes();
        if (nd_task_flush(task, on_log, &lc) != ND_OK)
                exit(1);
        nd_task_stats(task, &st);
        rss2 = rss_bytes();
        rss3 = purge() ? rss_bytes() : rss2;
        printf("{\"mode\":\"%s\",\"customers\":%ld,\"fill_s\":%.2f,"
               "\"entries\":%zu,\"timers\":%zu,\"state_bytes\":%zu,"
               "\"state_per_customer\":%.1f,\"allocated_per_customer\":%.1f,"
               "\"rss_per_customer\":%.1f,\"rss_mb\":%.0f,"
               "\"rss_per_customer_purged\":%.1f,"
               "\"state_per_customer_before_commit\":%.1f,"
               "\"allocated_per_customer_before_commit\":%.1f,"
               "\"rss_per_customer_before_commit\":%.1f,"
               "\"changelog_records\":%zu,\"changelog_bytes\":%zu,"
               "\"instances\":[",
               cart ? "cart" : "browse", n, (double)t1 / 1e9, st.entries,
               st.timers_pending, st.bytes, (double)st.bytes / (double)n,
               (double)(nd_mem_allocated() - alloc0) / (double)n,
               (double)(rss2 - rss0) / (double)n, (double)rss2 / 1048576.0,
               (double)(rss3 - rss0) / (double)n, (double)st1.bytes / (double)n,
               (double)(alloc1 - alloc0) / (double)n,
               (double)(rss1 - rss0) / (double)n, lc.records, lc.bytes);
        for (int i = 0; i < nd_task_instance_count(task); i++) {
                nd_store_t *s = nd_task_store(task, i);
                nd_store_entry_t *e;
                size_t pos = 0, keys = 0, blobs = 0, blob_cnt = 0;
                /* Where the bytes go: keys and blobs, summed over entries
                 * (the rest is headers, values and the table). */
                while (s && (e = nd_store_next(s, &pos)) != NULL) {
                        size_t kl, bl;
                        nd_store_key(e, &kl);
                        nd_store_blob(e, &bl);
                        keys += kl;
                        blobs += bl;
                        blob_cnt += bl > 0;
                }
                printf("%s{\"name\":\"%s\",\"type\":\"%s\",\"entries\":%zu,"
                       "\"bytes\":%zu,\"value_size\":%zu,\"key_bytes\":%zu,"
                       "\"blob_bytes\":%zu,\"blobs\":%zu}",
                       i ? "," : "", nd_task_instance(task, i)->name,
                       nd_task_instance(task, i)->def->name,
                       s ? nd_store_count(s) : 0, s ? nd_store_bytes(s) : 0,
                       s ? nd_store_value_size(s) : 0, keys, blobs, blob_cnt);
        }
        printf("]}\n");
        fflush(stdout);
        nd_task_destroy(task);
}

int main(int argc, char **argv) {
        nd_config_t *cfg = NULL;
        char errstr[1024];
        bool cart;
        if (argc < 4) {
                fprintf(stderr,
                        "usage: bench_memory CONFIG browse|cart N...\n");
                return 2;
        }
        if (nd_config_load(argv[1], nd_processor_find, &cfg, errstr,
                           sizeof(errstr)) != ND_OK) {
                fprintf(stderr, "bench_memory: %s\n", errstr);
                return 2;
        }
        cart = !strcmp(argv[2], "cart");
        for (int i = 3; i < argc; i++)
                run(cfg, cart, atol(argv[i]));
        nd_config_destroy(cfg);
        return 0;
}
