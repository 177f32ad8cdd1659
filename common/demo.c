/*
 * demo.c — `nudge demo`. OVERALL DESIGN
 *
 * Everything runs in this process: the embedded broker (librdkafka's mock
 * cluster), the engine (nd_runtime, its own worker threads), a generator
 * thread that produces synthetic customer journeys as JSON events at a fixed
 * rate, and, on the main thread, a read_committed reader of the actions
 * topic that drives the live view. Reading the actions back through a
 * read_committed consumer shows what a downstream sender would see: only
 * committed transactions.
 *
 * The rate is paced in 10 ms slices and capped by the demo's options; the
 * mock cluster keeps every record in memory, so the default run stays far
 * below what it can hold (docs/embedded-broker.md).
 */
#include "demo.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kio.h"
#include "log.h"
#include "mem.h"
#include "runtime.h"

#define SAMPLE_MAX   3
#define SAMPLE_BYTES 600

static const char *const ev_types[] = {
    "page_viewed",   "product_viewed",   "products_searched", "app_opened",
    "product_added", "product_removed",  "cart_viewed",       "checkout_started",
    "order_completed"};
/* weights in per mille, same order */
static const int ev_weights[] = {250, 300, 60, 60, 150, 30, 50, 50, 50};

struct demo {
        const nd_config_t *cfg;
        const nd_demo_opts_t *opts;
        nd_kio_client_t *producer;
        atomic_ullong produced;
        atomic_ullong by_type[9];
        atomic_bool gen_done;
        atomic_bool gen_stop;       /* the main thread ends generation */
        uint64_t rng;
        /* reader side (main thread only) */
        uint64_t actions_read;
        int samples;
        char sample[SAMPLE_MAX][SAMPLE_BYTES];
};

static uint64_t rnd(uint64_t *s) {
        /* xorshift64*: deterministic for a seed, good enough for traffic */
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        return *s * 2685821657736338717ULL;
}

static int pick_type(uint64_t *s) {
        int r = (int)(rnd(s) % 1000);
        for (int i = 0; i < 9; i++) {
                if (r < ev_weights[i])
                        return i;
                r -= ev_weights[i];
        }
        return 0;
}

static const char *topic_of(const nd_config_t *cfg, int type) {
        if (type <= 3)
                return cfg->topic_clickstream;
        if (type <= 7)
                return cfg->topic_cart;
        return cfg->topic_purchase;
}

/* One event as JSON (TRIGGERS.md §1 field names); returns its length. */
static int make_event(struct demo *d, char *buf, size_t cap, char *key,
                      size_t key_cap, int *typep) {
        uint64_t *s = &d->rng;
        int c = (int)(rnd(s) % (uint64_t)d->opts->customers);
        bool known = c % 10 < 7;
        int type = pick_type(s);
        bool mobile = rnd(s) % 2;
        int sku = (int)(rnd(s) % 50);
        unsigned long long n = atomic_load(&d->produced);
        int len;

        snprintf(key, key_cap, known ? "cust-%05d" : "anon-%05d", c);
        len = snprintf(
            buf, cap,
            "{\"event_id\":\"demo-%llu\",\"type\":\"%s\","
            "\"customer_id\":%s%s%s,\"anonymous_id\":%s%s%s,"
            "\"timestamp\":%lld,\"channel\":\"%s\",\"device_id\":\"dev-%d-%c\","
            "\"device_type\":\"%s\",\"session_id\":\"s-%d\"",
            n, ev_types[type], known ? "\"" : "", known ? key : "null",
            known ? "\"" : "", known ? "null" : "\"", known ? "" : key,
            known ? "" : "\"", (long long)nd_clock_wall_ms(),
            mobile ? "app" : "web", c, mobile ? 'm' : 'd',
            mobile ? "mobile" : "desktop", c);
        if (type == 1 || type == 4 || type == 5)
                len += snprintf(buf + len, cap - (size_t)len,
                                ",\"product\":{\"sku\":\"SKU-%03d\","
                                "\"category\":\"cat-%d\",\"price_cents\":%d,"
                                "\"currency\":\"EUR\"}",
                                sku, sku % 7, 500 + sku * 100);
        if (type >= 4 && type <= 7)
                len += snprintf(buf + len, cap - (size_t)len,
                                ",\"cart_id\":\"cart-%d\",\"quantity\":1", c);
        if (type == 8)
                len += snprintf(buf + len, cap - (size_t)len,
                                ",\"order_id\":\"order-%llu\",\"value_cents\":"
                                "%d,\"currency\":\"EUR\",\"cart_id\":"
                                "\"cart-%d\",\"checkout_id\":null,"
                                "\"products\":[{\"sku\":\"SKU-%03d\","
                                "\"category\":\"cat-%d\",\"quantity\":1,"
                                "\"price_cents\":%d}]",
                                n, 500 + sku * 100, c, sku, sku % 7,
                                500 + sku * 100);
        len += snprintf(buf + len, cap - (size_t)len, "}");
        *typep = type;
        return len;
}

static void *generator_main(void *arg) {
        struct demo *d = arg;
        const nd_demo_opts_t *o = d->opts;
        int64_t start = nd_clock_mono_ms();
        int64_t end = start + o->duration_ms;
        char buf[1024], key[32];
        uint64_t sent = 0;

        while (!*o->stop && !atomic_load(&d->gen_stop) &&
               nd_clock_mono_ms() < end) {
                /* Pace by elapsed time: the count due by now, in 10 ms
                 * slices, so a slow slice catches up in the next. */
                int64_t elapsed = nd_clock_mono_ms() - start;
                uint64_t due = (uint64_t)(elapsed * o->rate / 1000);
                while (sent < due) {
                        int type;
                        int len = make_event(d, buf, sizeof(buf), key,
                                             sizeof(key), &type);
                        if (nd_kio_client_produce(d->producer,
                                                  topic_of(d->cfg, type), key,
                                                  strlen(key), buf,
                                                  (size_t)len) != ND_OK)
                                break;
                        sent++;
                        atomic_fetch_add(&d->produced, 1);
                        atomic_fetch_add(&d->by_type[type], 1);
                }
                nd_kio_client_poll(d->producer, 10);
        }
        nd_kio_client_flush(d->producer, 10000);
        atomic_store(&d->gen_done, true);
        return NULL;
}

static void on_action(void *arg, const nd_rec_t *rec) {
        struct demo *d = arg;
        d->actions_read++;
        if (d->samples < SAMPLE_MAX && d->actions_read % 997 == 1) {
                size_t n = rec->value_len < SAMPLE_BYTES - 1
                               ? rec->value_len
                               : SAMPLE_BYTES - 1;
                memcpy(d->sample[d->samples], rec->value, n);
                d->sample[d->samples][n] = '\0';
                d->samples++;
        }
}

static void status_line(struct demo *d, nd_runtime_t *rt, double secs,
                        uint64_t *last_in, bool tty) {
        nd_runtime_stats_t st;
        nd_runtime_stats(rt, &st);
        printf("%s[%5.1fs] produced %8llu | engine in %8llu (%6llu/s) out "
               "%8llu | committed txns %5llu | actions read (read_committed) "
               "%8llu%s",
               tty ? "\r" : "", secs,
               (unsigned long long)atomic_load(&d->produced),
               (unsigned long long)st.records_in,
               (unsigned long long)(st.records_in - *last_in),
               (unsigned long long)st.records_out,
               (unsigned long long)st.commits,
               (unsigned long long)d->actions_read, tty ? "" : "\n");
        fflush(stdout);
        *last_in = st.records_in;
}

int nd_demo_run(const nd_config_t *cfg, const nd_demo_opts_t *opts) {
        struct demo d = {.cfg = cfg, .opts = opts, .rng = opts->seed | 1};
        nd_kio_cluster_t *mc = NULL;
        nd_runtime_t *rt = NULL;
        nd_kio_client_t *reader = NULL;
        pthread_t gen;
        bool gen_started = false;
        char errstr[512];
        const char *bootstrap;
        int64_t start, last_status, drain_deadline = 0;
        uint64_t last_in = 0;
        bool tty = isatty(1);
        int rc = 1;
        nd_err_t err;

        printf("nudge demo: embedded Kafka, %d events/s from %d customers "
               "for %.0f s (Ctrl-C stops early)\n",
               opts->rate, opts->customers, opts->duration_ms / 1000.0);
        {
                /* The mock keeps 5 MiB per partition (docs/embedded-broker.md);
                 * every event becomes one ~330-byte action record. */
                double per_part = (double)opts->rate *
                                  (opts->duration_ms / 1000.0) * 330.0 /
                                  (double)cfg->embedded_partitions;
                if (per_part > 4.0 * 1024 * 1024)
                        printf("warning: ~%.1f MiB per partition exceeds what "
                               "the embedded broker keeps comfortably (5 MiB "
                               "per partition): raise embedded.partitions or "
                               "shorten the run\n",
                               per_part / (1024.0 * 1024.0));
        }
        if (nd_embedded_start(cfg, &mc, errstr, sizeof(errstr)) != ND_OK) {
                fprintf(stderr, "nudge demo: %s\n", errstr);
                return 1;
        }
        bootstrap = nd_kio_cluster_bootstraps(mc);
        printf("embedded broker at %s (kcat -b %s -L)\n", bootstrap,
               bootstrap);
        printf("triggers:");
        for (int i = 0; i < cfg->trigger_cnt; i++)
                printf(" %s (%s)", cfg->triggers[i].name,
                       cfg->triggers[i].def->name);
        printf("\n\n");

        rt = nd_runtime_new(cfg, bootstrap);
        if ((err = nd_runtime_start(rt, errstr, sizeof(errstr))) != ND_OK) {
                fprintf(stderr, "nudge demo: %s\n", errstr);
                goto out;
        }
        d.producer = nd_kio_producer_new(cfg, bootstrap, errstr,
                                         sizeof(errstr));
        reader = nd_kio_reader_new(cfg, bootstrap, cfg->topic_actions, true,
                                   errstr, sizeof(errstr));
        if (!d.producer || !reader) {
                fprintf(stderr, "nudge demo: %s\n", errstr);
                goto out;
        }
        if (pthread_create(&gen, NULL, generator_main, &d) != 0)
                goto out;
        gen_started = true;

        start = last_status = nd_clock_mono_ms();
        for (;;) {
                int64_t now = nd_clock_mono_ms();
                nd_kio_client_read(reader, 5000, 100, on_action, &d);
                if (now - last_status >= 1000) {
                        status_line(&d, rt, (now - start) / 1000.0, &last_in,
                                    tty);
                        last_status = now;
                }
                if (nd_runtime_stopping(rt))
                        break;
                if (!atomic_load(&d.gen_done))
                        continue;
                /* Generation ended: drain until every record made it through
                 * (passthrough: one output per input) or 15 s passed. */
                if (!drain_deadline)
                        drain_deadline = now + 15000;
                if (*opts->stop || now > drain_deadline ||
                    d.actions_read >= atomic_load(&d.produced))
                        break;
        }
        status_line(&d, rt, (nd_clock_mono_ms() - start) / 1000.0, &last_in,
                    tty);
        if (tty)
                printf("\n");
        rc = 0;
out:
        if (gen_started) {
                atomic_store(&d.gen_stop, true);
                pthread_join(gen, NULL);
        }
        if (rt) {
                nd_runtime_stats_t st;
                nd_runtime_request_stop(rt);
                if (nd_runtime_wait(rt, (int)cfg->shutdown_timeout_ms) != ND_OK)
                        rc = 1;
                nd_runtime_stats(rt, &st);
                if (rc == 0) {
                        printf("\nsample records on the actions topic:\n");
                        for (int i = 0; i < d.samples; i++)
                                printf("  %s\n", d.sample[i]);
                        printf("\nsummary\n");
                        printf("  events produced       %llu (",
                               (unsigned long long)atomic_load(&d.produced));
                        for (int i = 0; i < 9; i++)
                                printf("%s%s %llu", i ? ", " : "", ev_types[i],
                                       (unsigned long long)atomic_load(
                                           &d.by_type[i]));
                        printf(")\n");
                        printf("  engine consumed       %llu\n",
                               (unsigned long long)st.records_in);
                        printf("  engine produced       %llu\n",
                               (unsigned long long)st.records_out);
                        printf("  transactions          %llu committed, %llu "
                               "aborted\n",
                               (unsigned long long)st.commits,
                               (unsigned long long)st.aborts);
                        printf("  actions read back     %llu (read_committed)\n",
                               (unsigned long long)d.actions_read);
                        if (d.actions_read < atomic_load(&d.produced) &&
                            !*opts->stop)
                                rc = 1;
                }
        }
        nd_kio_client_destroy(reader);
        nd_kio_client_destroy(d.producer);
        nd_runtime_destroy(rt);
        nd_kio_cluster_destroy(mc);
        return rc;
}
