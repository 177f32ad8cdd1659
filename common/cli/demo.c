/*
 * demo.c — `nudge demo`. OVERALL DESIGN
 *
 * Everything runs in this process: the embedded broker (librdkafka's mock
 * cluster), the engine with the four triggers (nd_runtime, its own worker
 * threads), a generator thread that walks customers through journeys and
 * produces their events, and, on the main thread, a read_committed reader of
 * the actions topic plus the live view.
 *
 * The journeys (one state machine per customer, paced by the wall clock):
 * browse products and leave (browse_abandonment), fill a cart and leave
 * (cart_abandonment, two stages), move from the laptop to the phone with a
 * cart open and either carry on there or not (channel_switch), check out and
 * order (post_purchase_upsell from the catalog's complements), sometimes
 * refund (which cancels the upsell). Event time is the wall clock, and the
 * demo's configuration uses delays of seconds instead of hours, so the whole
 * story plays out in the demo's run time; the hybrid clock fires the last
 * timers after the input stops.
 *
 * What a downstream sender would see is counted by the read_committed
 * reader; the per-trigger counts and the sample actions come from the
 * runtime's emit tap. At the end both counts must agree: every action
 * emitted was committed exactly once.
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
#include "serde.h"

#define SKUS         40
#define SAMPLE_BYTES 1024
#define EV_BYTES     2048

enum jstate { J_IDLE, J_BROWSE, J_CART, J_SWITCHED, J_CHECKOUT, J_ORDERED };

struct customer {
        enum jstate st;
        int64_t next; /* wall ms of its next step */
        int views;
        int cart_lines;
        int cart_skus[6];
        int cart_no; /* cart id counter */
        int orders;
        bool anon;
        bool on_b; /* now on the second device */
};

struct demo {
        const nd_config_t *cfg;
        const nd_demo_opts_t *opts;
        nd_kio_client_t *producer;
        struct customer *cust;
        uint64_t rng;
        uint64_t seq;
        atomic_ullong produced;
        atomic_ullong by_type[ND_EV__CNT];
        atomic_bool gen_done;
        atomic_bool gen_stop;
        /* tap (worker threads) */
        pthread_mutex_t lock;
        atomic_ullong emitted[ND_TRIGGER__CNT];
        char sample[ND_TRIGGER__CNT][SAMPLE_BYTES];
        bool sample_new[ND_TRIGGER__CNT];
        /* reader (main thread) */
        uint64_t committed;
};

static uint64_t rnd(uint64_t *s) {
        /* xorshift64*: deterministic for a seed */
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        return *s * 2685821657736338717ULL;
}

static int pct(struct demo *d) {
        return (int)(rnd(&d->rng) % 100);
}

static const char *topic_of(const nd_config_t *cfg, nd_event_type_t t) {
        const char *name = nd_event_type_topic(t);
        if (!strcmp(name, "cart"))
                return cfg->topic_cart;
        if (!strcmp(name, "purchase"))
                return cfg->topic_purchase;
        return cfg->topic_clickstream;
}

static int sku_price(int sku) {
        return 990 + sku * 250;
}

/* Writes the common envelope; returns the length. */
static int envelope(struct demo *d, char *buf, size_t cap, int id,
                    struct customer *c, nd_event_type_t t) {
        char key[32];
        bool b = c->on_b;
        snprintf(key, sizeof(key), "%s-%05d", c->anon ? "anon" : "cust", id);
        return snprintf(
            buf, cap,
            "{\"event_id\":\"demo-%llu\",\"type\":\"%s\","
            "\"customer_id\":%s%s%s,\"anonymous_id\":%s%s%s,"
            "\"timestamp\":%lld,\"channel\":\"%s\",\"device_id\":"
            "\"%s-%d\",\"device_type\":\"%s\",\"session_id\":\"s-%d-%d\"",
            (unsigned long long)++d->seq, nd_event_type_name(t),
            c->anon ? "" : "\"", c->anon ? "null" : key, c->anon ? "" : "\"",
            c->anon ? "\"" : "", c->anon ? key : "null", c->anon ? "\"" : "",
            (long long)nd_clock_wall_ms(), b ? "app" : "web",
            b ? "phone" : "laptop", id, b ? "mobile" : "desktop", id,
            c->cart_no);
}

static void send(struct demo *d, int id, struct customer *c, nd_event_type_t t,
                 int sku) {
        char buf[EV_BYTES], key[32];
        int n = envelope(d, buf, sizeof(buf), id, c, t);
        if (sku >= 0)
                n += snprintf(buf + n, sizeof(buf) - (size_t)n,
                              ",\"product\":{\"sku\":\"SKU-%03d\","
                              "\"category\":\"cat-%d\",\"price_cents\":%d,"
                              "\"currency\":\"EUR\"}",
                              sku, sku % 5, sku_price(sku));
        if (t == ND_EV_PRODUCT_ADDED || t == ND_EV_PRODUCT_REMOVED ||
            t == ND_EV_CHECKOUT_STARTED || t == ND_EV_CART_VIEWED ||
            t == ND_EV_ORDER_COMPLETED)
                n += snprintf(buf + n, sizeof(buf) - (size_t)n,
                              ",\"cart_id\":\"cart-%d-%d\",\"quantity\":1", id,
                              c->cart_no);
        if (t == ND_EV_ORDER_COMPLETED || t == ND_EV_ORDER_REFUNDED) {
                int total = 0;
                for (int i = 0; i < c->cart_lines; i++)
                        total += sku_price(c->cart_skus[i]);
                n += snprintf(buf + n, sizeof(buf) - (size_t)n,
                              ",\"order_id\":\"order-%d-%d\",\"value_cents\":"
                              "%d,\"currency\":\"EUR\",\"checkout_id\":null",
                              id, c->orders, total);
        }
        if (t == ND_EV_ORDER_COMPLETED) {
                n += snprintf(buf + n, sizeof(buf) - (size_t)n,
                              ",\"products\":[");
                for (int i = 0; i < c->cart_lines; i++)
                        n += snprintf(buf + n, sizeof(buf) - (size_t)n,
                                      "%s{\"sku\":\"SKU-%03d\",\"category\":"
                                      "\"cat-%d\",\"quantity\":1,"
                                      "\"price_cents\":%d}",
                                      i ? "," : "", c->cart_skus[i],
                                      c->cart_skus[i] % 5,
                                      sku_price(c->cart_skus[i]));
                n += snprintf(buf + n, sizeof(buf) - (size_t)n, "]");
        }
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, "}");
        snprintf(key, sizeof(key), "%s-%05d", c->anon ? "anon" : "cust", id);
        if (nd_kio_client_produce(d->producer, topic_of(d->cfg, t), key,
                                  strlen(key), buf, (size_t)n) == ND_OK) {
                atomic_fetch_add(&d->produced, 1);
                atomic_fetch_add(&d->by_type[t], 1);
        }
}

/* One step of a customer's journey; schedules the next. */
static void step(struct demo *d, int id, struct customer *c, int64_t now) {
        int sku = (int)(rnd(&d->rng) % SKUS);
        int64_t next = now + 400 + (int64_t)(rnd(&d->rng) % 1200);
        switch (c->st) {
        case J_IDLE:
                c->on_b = false;
                c->views = 0;
                send(d, id, c, ND_EV_PAGE_VIEWED, -1);
                c->st = J_BROWSE;
                break;
        case J_BROWSE:
                send(d, id, c, ND_EV_PRODUCT_VIEWED, sku);
                if (++c->views < 2)
                        break;
                if (pct(d) < 45) {
                        c->cart_no++;
                        c->cart_lines = 1;
                        c->cart_skus[0] = sku;
                        send(d, id, c, ND_EV_PRODUCT_ADDED, sku);
                        c->st = J_CART;
                } else if (pct(d) < 50) {
                        c->st = J_IDLE; /* left: browse reminder */
                        next = now + 30000;
                }
                break;
        case J_CART: {
                int r = pct(d);
                if (r < 20) {
                        c->on_b = true; /* picks up the phone */
                        send(d, id, c, ND_EV_APP_OPENED, -1);
                        c->st = J_SWITCHED;
                } else if (r < 40 && c->cart_lines < 6) {
                        c->cart_skus[c->cart_lines++] = sku;
                        send(d, id, c, ND_EV_PRODUCT_ADDED, sku);
                } else if (r < 65) {
                        c->st = J_IDLE; /* walks away: cart reminders */
                        next = now + 30000;
                } else {
                        send(d, id, c, ND_EV_CHECKOUT_STARTED, -1);
                        c->st = J_CHECKOUT;
                }
                break;
        }
        case J_SWITCHED:
                if (pct(d) < 50) {
                        /* carries on by itself on the phone */
                        c->cart_skus[c->cart_lines < 6 ? c->cart_lines++ : 5] =
                            sku;
                        send(d, id, c, ND_EV_PRODUCT_ADDED, sku);
                        c->st = J_CART;
                } else {
                        send(d, id, c, ND_EV_PAGE_VIEWED, -1);
                        c->st = J_IDLE; /* continue-on-device nudge */
                        next = now + 30000;
                }
                break;
        case J_CHECKOUT:
                c->orders++;
                send(d, id, c, ND_EV_ORDER_COMPLETED, -1);
                c->st = J_ORDERED;
                break;
        case J_ORDERED:
                if (pct(d) < 15)
                        send(d, id, c, ND_EV_ORDER_REFUNDED, -1);
                c->cart_lines = 0;
                c->st = J_IDLE;
                next = now + 20000;
                break;
        }
        c->next = next;
}

static void *generator_main(void *arg) {
        struct demo *d = arg;
        const nd_demo_opts_t *o = d->opts;
        int64_t start = nd_clock_mono_ms();
        int64_t end = start + o->duration_ms;
        uint64_t sent = 0;
        int rr = 0;

        while (!*o->stop && !atomic_load(&d->gen_stop) &&
               nd_clock_mono_ms() < end) {
                int64_t elapsed = nd_clock_mono_ms() - start;
                uint64_t due = (uint64_t)(elapsed * o->rate / 1000);
                int64_t now = nd_clock_wall_ms();
                int tries = 0;
                while (sent < due && tries < o->customers) {
                        struct customer *c = &d->cust[rr];
                        int id = rr;
                        rr = (rr + 1) % o->customers;
                        tries++;
                        if (c->next > now)
                                continue;
                        step(d, id, c, now);
                        sent++;
                        tries = 0;
                }
                if (sent < due)
                        sent = due; /* every customer is pausing */
                nd_kio_client_poll(d->producer, 10);
        }
        nd_kio_client_flush(d->producer, 10000);
        atomic_store(&d->gen_done, true);
        return NULL;
}

static nd_err_t publish_catalog(struct demo *d) {
        char buf[1024];
        for (int s = 0; s < SKUS; s++) {
                char sku[16];
                int n = snprintf(buf, sizeof(buf),
                                 "{\"sku\":\"SKU-%03d\",\"name\":\"Product "
                                 "%d\",\"category\":\"cat-%d\","
                                 "\"price_cents\":%d,\"currency\":\"EUR\","
                                 "\"in_stock\":%s,\"complements\":[",
                                 s, s, s % 5, sku_price(s),
                                 s % 7 == 6 ? "false" : "true");
                for (int k = 1; k <= 3; k++)
                        n += snprintf(buf + n, sizeof(buf) - (size_t)n,
                                      "%s\"SKU-%03d\"", k > 1 ? "," : "",
                                      (s + k * 3) % SKUS);
                n += snprintf(buf + n, sizeof(buf) - (size_t)n, "]}");
                snprintf(sku, sizeof(sku), "SKU-%03d", s);
                if (nd_kio_client_produce(d->producer, d->cfg->topic_catalog,
                                          sku, strlen(sku), buf,
                                          (size_t)n) != ND_OK)
                        return ND_ERR_KAFKA;
        }
        return nd_kio_client_flush(d->producer, 10000);
}

static void tap(void *arg, const nd_action_t *act) {
        struct demo *d = arg;
        char line[SAMPLE_BYTES];
        size_t len;
        if (act->trigger >= ND_TRIGGER__CNT)
                return;
        atomic_fetch_add(&d->emitted[act->trigger], 1);
        if (nd_action_write_json(act, line, sizeof(line), &len) != ND_OK)
                return;
        pthread_mutex_lock(&d->lock);
        memcpy(d->sample[act->trigger], line, len + 1);
        d->sample_new[act->trigger] = true;
        pthread_mutex_unlock(&d->lock);
}

static void on_action(void *arg, const nd_rec_t *rec) {
        struct demo *d = arg;
        (void)rec;
        d->committed++;
}

static uint64_t emitted_total(struct demo *d) {
        uint64_t n = 0;
        for (int i = 0; i < ND_TRIGGER__CNT; i++)
                n += atomic_load(&d->emitted[i]);
        return n;
}

static void status_line(struct demo *d, nd_runtime_t *rt, double secs,
                        uint64_t *last_in, bool tty) {
        nd_runtime_stats_t st;
        nd_runtime_stats(rt, &st);
        printf("%s[%5.1fs] events %7llu (%5llu/s) |", tty ? "\r" : "", secs,
               (unsigned long long)atomic_load(&d->produced),
               (unsigned long long)(st.records_in - *last_in));
        /* WHY a loop: a new trigger type shows here without a demo edit. */
        for (int t = 0; t < ND_TRIGGER__CNT; t++)
                printf(" %s %4llu ",
                       nd_trigger_type_label((nd_trigger_type_t)t),
                       (unsigned long long)atomic_load(&d->emitted[t]));
        printf("| committed %5llu%s", (unsigned long long)d->committed,
               tty ? "" : "\n");
        fflush(stdout);
        *last_in = st.records_in;
}

/* Prints the newest action of one trigger type, round robin. */
static void show_sample(struct demo *d, int *turn, bool tty) {
        for (int k = 0; k < ND_TRIGGER__CNT; k++) {
                int t = (*turn + k) % ND_TRIGGER__CNT;
                char line[SAMPLE_BYTES];
                bool fresh;
                pthread_mutex_lock(&d->lock);
                fresh = d->sample_new[t];
                if (fresh) {
                        memcpy(line, d->sample[t], sizeof(line));
                        d->sample_new[t] = false;
                }
                pthread_mutex_unlock(&d->lock);
                if (!fresh)
                        continue;
                printf("%s  %s: %s", tty ? "\n" : "",
                       nd_trigger_type_name((nd_trigger_type_t)t), line);
                *turn = t + 1;
                return;
        }
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
        int64_t start, last_status, last_sample, stable_since = 0;
        uint64_t last_in = 0, last_emitted = 0;
        bool tty = isatty(1);
        int rc = 1, turn = 0;

        pthread_mutex_init(&d.lock, NULL);
        d.cust = nd_calloc((size_t)opts->customers, sizeof(*d.cust));
        for (int i = 0; i < opts->customers; i++)
                d.cust[i].anon = rnd(&d.rng) % 10 < 3;
        printf("nudge demo: embedded Kafka, ~%d events/s from %d customers "
               "for %.0f s (Ctrl-C stops early)\n",
               opts->rate, opts->customers, opts->duration_ms / 1000.0);
        if (nd_embedded_start(cfg, &mc, errstr, sizeof(errstr)) != ND_OK) {
                fprintf(stderr, "nudge demo: %s\n", errstr);
                goto out;
        }
        bootstrap = nd_kio_cluster_bootstraps(mc);
        printf("embedded broker at %s (kcat -b %s -L)\n", bootstrap, bootstrap);
        printf("triggers:");
        for (int i = 0; i < cfg->trigger_cnt; i++)
                printf(" %s (%s)", cfg->triggers[i].name,
                       cfg->triggers[i].def->name);
        printf("\n");

        d.producer =
            nd_kio_producer_new(cfg, bootstrap, errstr, sizeof(errstr));
        if (!d.producer || publish_catalog(&d) != ND_OK) {
                fprintf(stderr, "nudge demo: catalog: %s\n", errstr);
                goto out;
        }
        printf("catalog: %d products published to %s\n\n", SKUS,
               cfg->topic_catalog);
        rt = nd_runtime_new(cfg, bootstrap);
        nd_runtime_set_tap(rt, tap, &d);
        if (nd_runtime_start(rt, errstr, sizeof(errstr)) != ND_OK) {
                fprintf(stderr, "nudge demo: %s\n", errstr);
                goto out;
        }
        reader = nd_kio_reader_new(cfg, bootstrap, cfg->topic_actions, true,
                                   errstr, sizeof(errstr));
        if (!reader) {
                fprintf(stderr, "nudge demo: %s\n", errstr);
                goto out;
        }
        if (pthread_create(&gen, NULL, generator_main, &d) != 0)
                goto out;
        gen_started = true;

        start = last_status = last_sample = nd_clock_mono_ms();
        for (;;) {
                int64_t now = nd_clock_mono_ms();
                uint64_t em;
                nd_kio_client_read(reader, 5000, 100, on_action, &d);
                if (now - last_status >= 1000) {
                        status_line(&d, rt, (now - start) / 1000.0, &last_in,
                                    tty);
                        last_status = now;
                }
                if (now - last_sample >= 3000) {
                        show_sample(&d, &turn, tty);
                        last_sample = now;
                }
                if (nd_runtime_stopping(rt) || *opts->stop)
                        break;
                if (!atomic_load(&d.gen_done))
                        continue;
                /* Input over: the hybrid clock fires what is left. Wait
                 * until no action came for 3 s and all were committed. */
                em = emitted_total(&d);
                if (em != last_emitted || !stable_since) {
                        last_emitted = em;
                        stable_since = now;
                }
                if (now - stable_since >= 3000 && d.committed >= em)
                        break;
                if (now - start > opts->duration_ms + 40000)
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
                /* what the last commit made visible */
                if (reader)
                        while (nd_kio_client_read(reader, 5000, 500, on_action,
                                                  &d) > 0)
                                ;
                nd_runtime_stats(rt, &st);
                if (rc == 0) {
                        uint64_t em = emitted_total(&d);
                        printf("\nsummary\n  events produced   %llu:",
                               (unsigned long long)atomic_load(&d.produced));
                        for (int i = 0; i < ND_EV__CNT; i++)
                                if (atomic_load(&d.by_type[i]))
                                        printf(" %s %llu",
                                               nd_event_type_name(
                                                   (nd_event_type_t)i),
                                               (unsigned long long)atomic_load(
                                                   &d.by_type[i]));
                        printf("\n  engine consumed   %llu (dead-lettered "
                               "%llu)\n",
                               (unsigned long long)st.records_in,
                               (unsigned long long)st.dead_letter);
                        printf("  actions emitted   %llu:",
                               (unsigned long long)em);
                        for (int i = 0; i < ND_TRIGGER__CNT; i++)
                                printf(
                                    " %s %llu",
                                    nd_trigger_type_name((nd_trigger_type_t)i),
                                    (unsigned long long)atomic_load(
                                        &d.emitted[i]));
                        printf("\n  actions committed %llu (read back with "
                               "read_committed)\n",
                               (unsigned long long)d.committed);
                        printf("  transactions      %llu committed, %llu "
                               "aborted\n",
                               (unsigned long long)st.commits,
                               (unsigned long long)st.aborts);
                        if (d.committed != em) {
                                printf("  MISMATCH: emitted and committed "
                                       "differ\n");
                                rc = 1;
                        } else if (em) {
                                printf("  every action emitted was committed "
                                       "exactly once\n");
                        }
                }
        }
        nd_kio_client_destroy(reader);
        nd_kio_client_destroy(d.producer);
        nd_runtime_destroy(rt);
        nd_kio_cluster_destroy(mc);
        nd_free(d.cust);
        pthread_mutex_destroy(&d.lock);
        return rc;
}
