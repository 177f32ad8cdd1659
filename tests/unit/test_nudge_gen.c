/*
 * test_nudge_gen.c — the load generator, black box: runs the nudge-gen
 * binary to files and checks what it wrote (determinism, the contract of
 * TRIGGERS.md §1, the catalog, and the shares of the mix on a large
 * sample, which are statistical but fixed by the seed), and that its Avro
 * container files (-o FILE.avro) hold the events of its JSON lines.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem.h"
#include "nd_test.h"
#include "ocf.h"
#include "serde.h"

#define GEN ND_BINARY_DIR "/tools/nudge-gen/nudge-gen"

/* Runs nudge-gen with args (NULL-terminated); returns its exit code, or -1
 * when it did not end within timeout_ms (then it is killed). */
static int run_gen(const char *const *args, int timeout_ms) {
        const char *argv[64] = {GEN};
        int n = 1, status;
        pid_t pid;
        while (args[n - 1] && n < 63) {
                argv[n] = args[n - 1];
                n++;
        }
        argv[n] = NULL;
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int fd = open("/dev/null", O_WRONLY);
                if (fd >= 0) {
                        dup2(fd, 1);
                        dup2(fd, 2);
                }
                execv(GEN, (char *const *)argv);
                _exit(127);
        }
        for (int waited = 0; waited <= timeout_ms; waited += 10) {
                if (waitpid(pid, &status, WNOHANG) == pid)
                        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
                nd_test_pause_ms(10);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
}

static void generate(const char *path, const char *seed, const char *events,
                     const char *catalog) {
        const char *args[] = {
            "--seed",   seed, "--events", events,
            "--output", path, "-q",       catalog ? "--catalog-out" : NULL,
            catalog,    NULL};
        ck_assert_msg(access(GEN, X_OK) == 0,
                      "%s is missing: build the nudge-gen target", GEN);
        ck_assert_int_eq(run_gen(args, 60000), 0);
}

/* Calls cb for every line of path decoded with the serde JSON decoder
 * (which runs the contract checks); fails the test on a bad line. */
static void each_event(const char *path,
                       void (*cb)(void *arg, long i, const nd_event_t *ev),
                       void *arg) {
        nd_serde_conf_t sc = {0};
        nd_serde_t *serde;
        char errstr[256];
        size_t len;
        char *buf = nd_test_slurp(path, &len), *line = buf, *nl;
        long i = 0;
        ck_assert_int_eq(nd_serde_new(&sc, &serde, errstr, sizeof(errstr)),
                         ND_OK);
        while ((nl = strchr(line, '\n')) != NULL) {
                nd_event_t ev;
                nd_err_t err =
                    nd_serde_decode_json(serde, line, (size_t)(nl - line), &ev,
                                         errstr, sizeof(errstr));
                ck_assert_msg(err == ND_OK, "line %ld: %s: %.*s", i + 1, errstr,
                              (int)(nl - line), line);
                cb(arg, i++, &ev);
                line = nl + 1;
        }
        ck_assert_int_eq(*line, '\0');
        nd_serde_destroy(serde);
        nd_free(buf);
}

START_TEST(same_seed_gives_a_byte_identical_file) {
        const char *a = nd_test_tmp_path("gen-test", "a.jsonl"),
                   *b = nd_test_tmp_path("gen-test", "b.jsonl");
        const char *c = nd_test_tmp_path("gen-test", "c.jsonl");
        size_t la, lb, lc;
        char *da, *db, *dc;
        generate(a, "42", "20000", NULL);
        generate(b, "42", "20000", NULL);
        generate(c, "43", "20000", NULL);
        da = nd_test_slurp(a, &la);
        db = nd_test_slurp(b, &lb);
        dc = nd_test_slurp(c, &lc);
        ck_assert_uint_gt(la, 1000000);
        ck_assert_uint_eq(la, lb);
        ck_assert_int_eq(memcmp(da, db, la), 0);
        ck_assert(la != lc || memcmp(da, dc, la) != 0);
        nd_free(da);
        nd_free(db);
        nd_free(dc);
        unlink(a);
        unlink(b);
        unlink(c);
}
END_TEST

struct contract {
        long events;
        long by_type[ND_EV__CNT];
        long channels[ND_CHANNEL__CNT];
        long with_products;
};

static void check_contract(void *arg, long i, const nd_event_t *ev) {
        struct contract *c = arg;
        char want[64];
        int n = snprintf(want, sizeof(want), "-%ld", i);
        /* The key is customer_id when set, else anonymous_id, and the
         * event id ends in the event's sequence number. */
        ck_assert(!nd_str_is_null(ev->key));
        ck_assert(ev->key_is_customer == !nd_str_is_null(ev->customer_id));
        ck_assert(
            ev->event_id.len > (uint32_t)n &&
            !memcmp(ev->event_id.p + ev->event_id.len - n, want, (size_t)n));
        ck_assert(!nd_str_is_null(ev->device_id));
        ck_assert(!nd_str_is_null(ev->session_id));
        if (ev->type >= ND_EV_PRODUCT_ADDED &&
            ev->type <= ND_EV_CHECKOUT_STARTED)
                ck_assert(!nd_str_is_null(ev->cart_id));
        if (ev->type == ND_EV_CHECKOUT_STARTED ||
            ev->type >= ND_EV_ORDER_COMPLETED) {
                ck_assert(ev->has_products && ev->product_cnt > 0);
                c->with_products++;
        }
        if (ev->type >= ND_EV_ORDER_COMPLETED) {
                int64_t sum = 0;
                for (uint32_t k = 0; k < ev->product_cnt; k++)
                        sum += ev->products[k].price_cents *
                               ev->products[k].quantity;
                ck_assert(ev->has_value);
                ck_assert_int_eq(ev->value_cents, sum);
        }
        c->events++;
        c->by_type[ev->type]++;
        c->channels[ev->channel]++;
}

START_TEST(every_event_decodes_and_meets_the_contract) {
        const char *p = nd_test_tmp_path("gen-test", "contract.jsonl");
        struct contract c = {0};
        generate(p, "5", "50000", NULL);
        each_event(p, check_contract, &c);
        ck_assert_int_eq(c.events, 50000);
        /* Every type and the main channels occur. */
        for (int t = 0; t < ND_EV__CNT; t++)
                ck_assert_msg(c.by_type[t] > 0, "no %s",
                              nd_event_type_name((nd_event_type_t)t));
        ck_assert_int_gt(c.channels[ND_CHANNEL_WEB], 0);
        ck_assert_int_gt(c.channels[ND_CHANNEL_APP], 0);
        ck_assert_int_gt(c.channels[ND_CHANNEL_EMAIL], 0);
        ck_assert_int_gt(c.channels[ND_CHANNEL_PUSH], 0);
        ck_assert_int_gt(c.channels[ND_CHANNEL_STORE], 0);
        unlink(p);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Shares                                                              */

#define EVENTS 300000
#define NCUST  100000

struct cart {
        bool seen, early, ordered;
        char dev[2][32]; /* first two distinct devices of its cart views */
        int devs;
};

struct mix {
        struct cart *carts;
        long cart_cap;
        bool *order_early, *order_back;
        long order_cap;
        signed char *known; /* per customer number: -1 unseen, 0/1 */
        int64_t max_ts;
        long late;
        long events;
        long half; /* carts and orders before this event are "early" */
};

static long num_after(nd_str_t s, char sep) {
        const char *p = s.p + s.len;
        long v = 0, mul = 1;
        while (p > s.p && p[-1] != sep) {
                p--;
                v += (p[0] - '0') * mul;
                mul *= 10;
        }
        return v;
}

static void count_mix(void *arg, long i, const nd_event_t *ev) {
        struct mix *m = arg;
        long k = num_after(ev->key, '-');
        m->events++;
        if (ev->timestamp < m->max_ts)
                m->late++;
        else
                m->max_ts = ev->timestamp;
        ck_assert_int_lt(k, NCUST);
        m->known[k] = ev->key_is_customer;
        if (!nd_str_is_null(ev->cart_id) && ev->type >= ND_EV_PRODUCT_ADDED &&
            ev->type <= ND_EV_CHECKOUT_STARTED) {
                long c = num_after(ev->cart_id, '-');
                struct cart *ct;
                ck_assert_int_lt(c, m->cart_cap);
                ct = &m->carts[c];
                if (!ct->seen) {
                        ct->seen = true;
                        ct->early = i < m->half;
                }
                /* A device switch shows as cart events on a second
                 * device (or channel). */
                char dev[32];
                snprintf(dev, sizeof(dev), "%.*s/%d", (int)ev->device_id.len,
                         ev->device_id.p, (int)ev->channel);
                if (ct->devs == 0 || (ct->devs == 1 && strcmp(ct->dev[0], dev)))
                        strcpy(ct->dev[ct->devs++], dev);
        }
        if (ev->type == ND_EV_ORDER_COMPLETED) {
                long o = num_after(ev->order_id, '-');
                ck_assert_int_lt(o, m->order_cap);
                m->order_early[o] = i < m->half;
                if (!nd_str_is_null(ev->cart_id))
                        m->carts[num_after(ev->cart_id, '-')].ordered = true;
        }
        if (ev->type == ND_EV_ORDER_REFUNDED ||
            ev->type == ND_EV_ORDER_CANCELLED)
                m->order_back[num_after(ev->order_id, '-')] = true;
}

START_TEST(mix_shares_match_the_options_on_a_large_sample) {
        const char *p = nd_test_tmp_path("gen-test", "mix.jsonl");
        struct mix m = {0};
        long carts = 0, abandoned = 0, switched = 0, orders = 0, back = 0;
        long known = 0, seen = 0;
        const char *args[] = {"--seed",      "9",      "--events", "300000",
                              "--customers", "100000", "--output", p,
                              "-q",          NULL};
        ck_assert_int_eq(run_gen(args, 60000), 0);
        m.half = EVENTS / 2;
        m.cart_cap = EVENTS;
        m.carts = nd_calloc((size_t)m.cart_cap, sizeof(*m.carts));
        m.order_cap = EVENTS;
        m.order_early = nd_calloc((size_t)m.order_cap, 1);
        m.order_back = nd_calloc((size_t)m.order_cap, 1);
        m.known = nd_malloc(NCUST);
        memset(m.known, -1, NCUST);
        each_event(p, count_mix, &m);

        /* Carts and orders that began in the first half have had time to
         * end, so the shares are not biased by sessions still running. */
        for (long c = 0; c < m.cart_cap; c++) {
                if (!m.carts[c].seen || !m.carts[c].early)
                        continue;
                carts++;
                abandoned += !m.carts[c].ordered;
                switched += m.carts[c].devs > 1;
        }
        for (long o = 0; o < m.order_cap; o++) {
                if (!m.order_early[o])
                        continue;
                orders++;
                back += m.order_back[o];
        }
        for (long k = 0; k < NCUST; k++) {
                if (m.known[k] < 0)
                        continue;
                seen++;
                known += m.known[k];
        }
        ck_assert_int_gt(carts, 3000);
        ck_assert_int_gt(orders, 800);
        ck_assert_double_eq_tol((double)abandoned / (double)carts, 0.70, 0.03);
        ck_assert_double_eq_tol((double)switched / (double)carts, 0.15, 0.025);
        ck_assert_double_eq_tol((double)back / (double)orders, 0.05, 0.02);
        ck_assert_double_eq_tol((double)known / (double)seen, 0.60, 0.02);
        ck_assert_double_eq_tol((double)m.late / (double)m.events, 0.02, 0.005);
        nd_free(m.carts);
        nd_free(m.order_early);
        nd_free(m.order_back);
        nd_free(m.known);
        unlink(p);
}
END_TEST

START_TEST(zero_shares_give_no_abandonment_and_no_late_events) {
        const char *p = nd_test_tmp_path("gen-test", "zero.jsonl");
        struct mix m = {0};
        long carts = 0, abandoned = 0;
        const char *args[] = {"--seed",
                              "3",
                              "--events",
                              "100000",
                              "--abandon-share",
                              "0",
                              "--ooo-share",
                              "0",
                              "--switch-share",
                              "0",
                              "--output",
                              p,
                              "-q",
                              NULL};
        ck_assert_int_eq(run_gen(args, 60000), 0);
        m.half = 50000;
        m.cart_cap = m.order_cap = 100000;
        m.carts = nd_calloc((size_t)m.cart_cap, sizeof(*m.carts));
        m.order_early = nd_calloc((size_t)m.order_cap, 1);
        m.order_back = nd_calloc((size_t)m.order_cap, 1);
        m.known = nd_malloc(NCUST);
        each_event(p, count_mix, &m);
        ck_assert_int_eq(m.late, 0);
        for (long c = 0; c < m.cart_cap; c++) {
                if (!m.carts[c].seen || !m.carts[c].early)
                        continue;
                carts++;
                abandoned += !m.carts[c].ordered;
                ck_assert_int_le(m.carts[c].devs, 1);
        }
        ck_assert_int_gt(carts, 1000);
        /* Only carts still open when the stream stops lack an order. */
        ck_assert_int_lt(abandoned, carts / 50);
        nd_free(m.carts);
        nd_free(m.order_early);
        nd_free(m.order_back);
        nd_free(m.known);
        unlink(p);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Catalog                                                             */

struct skus {
        bool *used;
        int cap;
};

static void note_skus(void *arg, long i, const nd_event_t *ev) {
        struct skus *s = arg;
        if (ev->has_product)
                s->used[num_after(ev->product.sku, '-')] = true;
        for (uint32_t k = 0; k < ev->product_cnt; k++)
                s->used[num_after(ev->products[k].sku, '-')] = true;
}

START_TEST(catalog_holds_every_sku_the_events_use) {
        const char *p = nd_test_tmp_path("gen-test", "cat-events.jsonl");
        const char *cp = nd_test_tmp_path("gen-test", "catalog.jsonl");
        nd_serde_conf_t sc = {0};
        nd_serde_t *serde;
        struct skus s = {0};
        bool in_catalog[1000] = {false};
        long out_of_stock = 0, with_complements = 0, products = 0;
        char errstr[256];
        size_t len;
        char *buf, *line, *nl;

        generate(p, "11", "30000", cp);
        s.cap = 1000;
        s.used = nd_calloc(1000, 1);
        each_event(p, note_skus, &s);
        ck_assert_int_eq(nd_serde_new(&sc, &serde, errstr, sizeof(errstr)),
                         ND_OK);
        buf = nd_test_slurp(cp, &len);
        for (line = buf; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
                nd_product_rec_t prod;
                ck_assert_int_eq(nd_serde_decode_product_json(
                                     serde, line, (size_t)(nl - line), &prod,
                                     errstr, sizeof(errstr)),
                                 ND_OK);
                long k = num_after(prod.sku, '-');
                ck_assert_int_lt(k, 1000);
                in_catalog[k] = true;
                products++;
                out_of_stock += !prod.in_stock;
                with_complements += prod.complement_cnt > 0;
                for (uint32_t c = 0; c < prod.complement_cnt; c++) {
                        ck_assert(!nd_str_eq(prod.complements[c], prod.sku));
                        ck_assert_int_lt(num_after(prod.complements[c], '-'),
                                         1000);
                }
        }
        ck_assert_int_eq(products, 1000);
        for (int k = 0; k < 1000; k++)
                if (s.used[k])
                        ck_assert_msg(in_catalog[k], "SKU-%05d not in catalog",
                                      k);
        ck_assert_int_gt(out_of_stock, 0);
        ck_assert_int_gt(with_complements, 500);
        nd_free(buf);
        nd_free(s.used);
        nd_serde_destroy(serde);
        unlink(p);
        unlink(cp);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Avro object container files                                         */

static const char *const topics[3] = {"clickstream", "cart", "purchase"};

/* STEM.<topic>.avro of -o STEM.avro */
static const char *ocf_path(const char *stem, int t) {
        static char paths[6][256];
        static int next;
        char *p = paths[next++ % 6];
        snprintf(p, 256, "%s.%s.avro", stem, topics[t]);
        return p;
}

/* -o path (STEM.avro) with 30000 events; codec NULL: the default. */
static void generate_to(const char *path, const char *seed, const char *codec,
                        bool quiet) {
        const char *args[12];
        int n = 0;
        args[n++] = "--seed";
        args[n++] = seed;
        args[n++] = "--events";
        args[n++] = "30000";
        args[n++] = "--output";
        args[n++] = path;
        if (codec) {
                args[n++] = "--codec";
                args[n++] = codec;
        }
        if (quiet)
                args[n++] = "-q";
        args[n] = NULL;
        ck_assert_int_eq(run_gen(args, 60000), 0);
}

struct ocf_cmp {
        nd_serde_t *serde;
        FILE *f[3];
        nd_ocf_reader_t *rd[3];
        long per_topic[3];
        char *buf;
};

/* Every JSON line is the next record of its topic's container: the Avro
 * event written back as JSON is the line, byte for byte (so every field is
 * equal), and the fields the engine keys and orders by are the same. */
static void compare_with_ocf(void *arg, long i, const nd_event_t *ev) {
        struct ocf_cmp *c = arg;
        const char *topic = nd_event_type_topic(ev->type);
        nd_event_t oev;
        char errstr[256], line[16384];
        size_t len, olen;
        int t = !strcmp(topic, "clickstream") ? 0
                : !strcmp(topic, "cart")      ? 1
                                              : 2;
        ck_assert_str_eq(topic, topics[t]);
        ck_assert_int_eq(nd_event_write_json(ev, line, sizeof(line), &len),
                         ND_OK);
        ck_assert_msg(
            nd_ocf_reader_next(c->rd[t], &oev, errstr, sizeof(errstr)) == ND_OK,
            "event %ld: %s: no record %ld: %s", i, topic, c->per_topic[t] + 1,
            errstr);
        c->per_topic[t]++;
        ck_assert_int_eq(oev.type, ev->type);
        ck_assert_int_eq(oev.timestamp, ev->timestamp);
        ck_assert(nd_str_eq(oev.key, ev->key));
        ck_assert(oev.key_is_customer == ev->key_is_customer);
        ck_assert(nd_str_eq(oev.event_id, ev->event_id));
        ck_assert_int_eq(nd_event_write_json(&oev, c->buf, 16384, &olen),
                         ND_OK);
        ck_assert_msg(olen == len && !memcmp(c->buf, line, len),
                      "event %ld differs:\n json %.*s avro %.*s", i, (int)len,
                      line, (int)olen, c->buf);
}

static const char *const codecs[2] = {"null", "deflate"};

START_TEST(avro_output_holds_the_events_of_the_json_lines) {
        const char *codec = codecs[_i];
        const char *json = nd_test_tmp_path("gen-test", "same.jsonl");
        const char *stem = nd_test_tmp_path("gen-test", "same");
        char avro[256], errstr[256];
        struct ocf_cmp c = {0};
        nd_serde_conf_t sc = {0};
        long total = 0;

        snprintf(avro, sizeof(avro), "%s.avro", stem);
        generate(json, "21", "30000", NULL);
        generate_to(avro, "21", _i ? codec : NULL, true);
        ck_assert_int_ne(access(avro, F_OK), 0); /* no STEM.avro itself */
        ck_assert_int_eq(nd_serde_new(&sc, &c.serde, errstr, sizeof(errstr)),
                         ND_OK);
        c.buf = nd_malloc(16384);
        for (int t = 0; t < 3; t++) {
                c.f[t] = fopen(ocf_path(stem, t), "rb");
                ck_assert_msg(c.f[t] != NULL, "%s is missing",
                              ocf_path(stem, t));
                ck_assert_msg(nd_ocf_reader_open(c.serde, c.f[t], &c.rd[t],
                                                 errstr,
                                                 sizeof(errstr)) == ND_OK,
                              "%s: %s", ocf_path(stem, t), errstr);
                ck_assert_str_eq(nd_ocf_reader_topic(c.rd[t]), topics[t]);
                ck_assert_int_eq(nd_ocf_reader_codec(c.rd[t]),
                                 _i ? ND_OCF_CODEC_DEFLATE : ND_OCF_CODEC_NULL);
        }
        each_event(json, compare_with_ocf, &c);
        for (int t = 0; t < 3; t++) {
                nd_event_t ev;
                nd_ocf_stats_t st;
                /* nothing more in the container than in the JSON lines */
                ck_assert_int_eq(
                    nd_ocf_reader_next(c.rd[t], &ev, errstr, sizeof(errstr)),
                    ND_ERR_NOENT);
                nd_ocf_reader_stats(c.rd[t], &st);
                ck_assert_uint_eq(st.records, (uint64_t)c.per_topic[t]);
                ck_assert_uint_eq(st.skipped, 0);
                ck_assert_int_gt(c.per_topic[t], 0);
                total += c.per_topic[t];
                nd_ocf_reader_close(c.rd[t]);
                fclose(c.f[t]);
                unlink(ocf_path(stem, t));
        }
        ck_assert_int_eq(total, 30000);
        nd_free(c.buf);
        nd_serde_destroy(c.serde);
        unlink(json);
}
END_TEST

START_TEST(avro_output_is_byte_identical_for_a_seed) {
        const char *a = nd_test_tmp_path("gen-test", "ocf-a"),
                   *b = nd_test_tmp_path("gen-test", "ocf-b");
        const char *c = nd_test_tmp_path("gen-test", "ocf-c");
        char pa[256], pb[256], pc[256];
        uint8_t sync[3][16];

        snprintf(pa, sizeof(pa), "%s.avro", a);
        snprintf(pb, sizeof(pb), "%s.avro", b);
        snprintf(pc, sizeof(pc), "%s.avro", c);
        generate_to(pa, "42", NULL, false);
        generate_to(pb, "42", NULL, true);
        generate_to(pc, "43", NULL, true);
        for (int t = 0; t < 3; t++) {
                size_t la, lb, lc;
                char *da = nd_test_slurp(ocf_path(a, t), &la);
                char *db = nd_test_slurp(ocf_path(b, t), &lb);
                char *dc = nd_test_slurp(ocf_path(c, t), &lc);
                ck_assert_uint_gt(la, 1000);
                ck_assert_msg(la == lb && !memcmp(da, db, la),
                              "%s: not the same bytes for the same seed",
                              topics[t]);
                ck_assert(la != lc || memcmp(da, dc, la) != 0);
                /* the sync marker ends the file; one per file */
                memcpy(sync[t], da + la - 16, 16);
                for (int u = 0; u < t; u++)
                        ck_assert(memcmp(sync[u], sync[t], 16) != 0);
                nd_free(da);
                nd_free(db);
                nd_free(dc);
                unlink(ocf_path(a, t));
                unlink(ocf_path(b, t));
                unlink(ocf_path(c, t));
        }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Command line                                                        */

START_TEST(bad_options_exit_with_status_2) {
        static const char *const bad[][4] = {
            {"--known-share", "1.5", "-o", "/dev/null"},
            {"--rate", "-1", "-o", "/dev/null"},
            {"--customers", "0", "-o", "/dev/null"},
            {"--format", "xml", "-o", "/dev/null"},
            {"--events", "10", NULL, NULL},            /* no destination */
            {"--codec", "deflate", "-o", "/dev/null"}, /* not .avro */
            {"--codec", "zip", "-o", "/tmp/nd-gen-never.avro"},
            {"--format", "json", "-o", "/tmp/nd-gen-never.avro"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                const char *args[5] = {bad[i][0], bad[i][1], bad[i][2],
                                       bad[i][3], NULL};
                ck_assert_int_eq(run_gen(args, 10000), 2);
        }
        {
                const char *args[] = {"--help", NULL};
                ck_assert_int_eq(run_gen(args, 10000), 0);
        }
}
END_TEST

Suite *nudge_gen_suite(void);
Suite *nudge_gen_suite(void) {
        Suite *s = suite_create("nudge_gen");
        TCase *tc = tcase_create("output");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, same_seed_gives_a_byte_identical_file);
        tcase_add_test(tc, every_event_decodes_and_meets_the_contract);
        tcase_add_test(tc, catalog_holds_every_sku_the_events_use);
        suite_add_tcase(s, tc);
        tc = tcase_create("mix");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, mix_shares_match_the_options_on_a_large_sample);
        tcase_add_test(tc, zero_shares_give_no_abandonment_and_no_late_events);
        suite_add_tcase(s, tc);
        tc = tcase_create("avro");
        tcase_set_timeout(tc, 120);
        tcase_add_loop_test(tc, avro_output_holds_the_events_of_the_json_lines,
                            0, 2);
        tcase_add_test(tc, avro_output_is_byte_identical_for_a_seed);
        suite_add_tcase(s, tc);
        tc = tcase_create("cli");
        tcase_add_test(tc, bad_options_exit_with_status_2);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(nudge_gen_suite());
}
