/*
 * main.c — `nudge-gen`: synthetic customer traffic for nudge. OVERALL DESIGN
 *
 * The model (gen.c) yields one nd_event_t at a time; this file paces it
 * (events/s, or as fast as possible), encodes it (JSON lines, or Avro in
 * the Confluent wire format) and sends it to Kafka, keyed by the customer
 * key, on the event topic of its type as named in the configuration — or
 * writes it to a file. The catalog the events refer to goes to the catalog
 * topic (key = sku) before the first event, or to --catalog-out.
 *
 * A file named *.avro becomes three Avro object container files, one per
 * event topic (a container holds one writer schema: common/serde/ocf.h):
 * STEM.avro -> STEM.clickstream.avro, STEM.cart.avro, STEM.purchase.avro,
 * each event appended to its topic's file in generation order. Their sync
 * markers are derived from the seed, so a seed gives the same bytes run
 * after run, as it does for JSON lines.
 *
 * Pacing is by elapsed time: every slice, as many events as are due by now
 * are generated, so a slow slice is caught up in the next and the average
 * rate holds. Progress goes to stderr every 2 s on runs longer than that.
 *
 * Exit status: 0 done (or stopped by SIGINT/SIGTERM after flushing), 1 a
 * Kafka or I/O failure, 2 bad usage or configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "gen.h"
#include "kio.h"
#include "log.h"
#include "mem.h"
#include "ocf.h"
#include "registry.h"
#include "replay.h"
#include "serde.h"

#define EXIT_FAIL  1
#define EXIT_USAGE 2
#define BUF_BYTES  16384

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
        (void)sig;
        stop = 1;
}

struct opts {
        nd_gen_opts_t g;
        const char *config;
        const char *bootstrap;
        const char *output;
        const char *catalog_out;
        const char *format;   /* NULL: by destination */
        nd_ocf_codec_t codec; /* of .avro files */
        bool has_codec;
        bool no_catalog;
        int partitions; /* create missing topics; 0: do not */
        double rate;    /* events/s; 0 = as fast as possible */
        bool has_rate;
        int64_t duration_ms;
        uint64_t events;
        bool has_start;
        bool quiet;
};

/* The event topics, in the order of the .avro files. */
#define TOPICS 3
static const char *const topic_names[TOPICS] = {"clickstream", "cart",
                                                "purchase"};
/* One event type of each topic, for nd_ocf_writer_open(). */
static const nd_event_type_t topic_types[TOPICS] = {
    ND_EV_PAGE_VIEWED, ND_EV_PRODUCT_ADDED, ND_EV_ORDER_COMPLETED};

/* One Avro object container file of the .avro output. */
struct ocf_out {
        char *path;
        FILE *f;
        nd_ocf_writer_t *w;
        uint64_t events;
};

struct sink {
        const struct opts *o;
        const nd_config_t *cfg;
        nd_kio_client_t *producer;
        nd_serde_t *serde;
        bool avro;
        FILE *out;
        bool ocf;                     /* -o *.avro: the files below */
        struct ocf_out files[TOPICS]; /* by topic */
        int file_of[ND_EV__CNT];      /* event type -> files[] index */
        char *buf;
        uint64_t bytes;
};

static void usage(FILE *f) {
        fprintf(f, "Usage: nudge-gen [options]\n"
                   "\n"
                   "Synthetic customer traffic for nudge: sessions across "
                   "devices and channels,\n"
                   "browsing, carts, checkouts, orders, refunds, abandoned "
                   "carts, device switches\n"
                   "and out-of-order timestamps. Deterministic for a seed. "
                   "docs/load-generator.md\n"
                   "describes the mix.\n"
                   "\n"
                   "Destination (one of):\n"
                   "  -c, --config FILE         nudge configuration: Kafka "
                   "properties, topic names,\n"
                   "                            input.format\n"
                   "      --bootstrap-servers B Kafka brokers (overrides the "
                   "configuration)\n"
                   "  -o, --output FILE         write events to FILE ('-': "
                   "stdout) as JSON lines;\n"
                   "                            FILE ending in .avro: three "
                   "Avro container files,\n"
                   "                            one per topic, "
                   "STEM.{clickstream,cart,purchase}.avro\n"
                   "      --codec null|deflate  block codec of .avro files "
                   "[null]\n"
                   "      --catalog-out FILE    write the catalog to FILE as "
                   "JSON lines\n"
                   "      --no-catalog          Kafka: do not produce the "
                   "catalog topic\n"
                   "      --format avro|json    Kafka encoding (default: the "
                   "configuration's\n"
                   "                            input.format)\n"
                   "      --partitions N        Kafka: create missing event "
                   "and catalog topics\n"
                   "                            with N partitions\n"
                   "\n"
                   "How much and how fast:\n"
                   "  -r, --rate N              events/s; 0 = as fast as "
                   "possible (default: 1000\n"
                   "                            to Kafka, 0 to a file)\n"
                   "  -e, --events N            stop after N events (a file "
                   "without --duration: 100000)\n"
                   "  -d, --duration D          stop after D (30s, 5m, 1h; "
                   "Kafka default: until\n"
                   "                            SIGINT/SIGTERM)\n"
                   "  -q, --quiet               no progress line\n"
                   "\n"
                   "The mix (defaults in brackets):\n"
                   "  -s, --seed N              random seed [1]\n"
                   "  -n, --customers N         distinct customers [100000]\n"
                   "      --known-share F       customers with a customer_id "
                   "[0.6]\n"
                   "      --sessions N          sessions running at once "
                   "[1000]\n"
                   "      --products N          catalog size [1000]\n"
                   "      --cart-share F        sessions that fill a cart "
                   "[0.3]\n"
                   "      --abandon-share F     carts left without an order "
                   "[0.7]\n"
                   "      --switch-share F      carts continued on another "
                   "device [0.15]\n"
                   "      --refund-share F      orders refunded or cancelled "
                   "[0.05]\n"
                   "      --ooo-share F         events stamped late [0.02]\n"
                   "      --max-lateness D      how late at most [10s]\n"
                   "      --start-time T|now    event time of the first "
                   "event: ms since the\n"
                   "                            epoch, ISO 8601 UTC, or 'now' "
                   "(wall clock per\n"
                   "                            event). Default: now to "
                   "Kafka, 2026-01-01T00:00:00Z\n"
                   "                            to a file (then event time "
                   "advances 1/rate s per\n"
                   "                            event, 1 ms with --rate 0)\n"
                   "  -h, --help                this text\n"
                   "\n"
                   "Exit status: 0 done, 1 Kafka or I/O failure, 2 bad "
                   "usage.\n");
}

/* -o FILE.avro: the Avro container files (see the top of the file). */
static bool is_ocf_path(const char *path) {
        size_t n = path ? strlen(path) : 0;
        return n > 5 && !strcmp(path + n - 5, ".avro");
}

static int parse_duration(const char *s, int64_t *out) {
        char *end;
        double v = strtod(s, &end);
        double mul;
        if (end == s || v < 0)
                return -1;
        if (!*end || !strcmp(end, "ms"))
                mul = !*end ? 1000 : 1;
        else if (!strcmp(end, "s"))
                mul = 1000;
        else if (!strcmp(end, "m"))
                mul = 60000;
        else if (!strcmp(end, "h"))
                mul = 3600000;
        else if (!strcmp(end, "d"))
                mul = 86400000;
        else
                return -1;
        *out = (int64_t)(v * mul);
        return 0;
}

static int parse_share(const char *name, const char *s, double *out) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || *end || v < 0 || v > 1) {
                fprintf(stderr, "nudge-gen: --%s: expected 0..1, got '%s'\n",
                        name, s);
                return -1;
        }
        *out = v;
        return 0;
}

static int parse_long(const char *name, const char *s, long long min,
                      long long max, long long *out) {
        char *end;
        long long v;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (end == s || *end || errno || v < min || v > max) {
                fprintf(stderr,
                        "nudge-gen: --%s: expected %lld..%lld, got '%s'\n",
                        name, min, max, s);
                return -1;
        }
        *out = v;
        return 0;
}

enum {
        O_BOOTSTRAP = 256,
        O_CATALOG_OUT,
        O_NO_CATALOG,
        O_FORMAT,
        O_PARTITIONS,
        O_KNOWN,
        O_SESSIONS,
        O_PRODUCTS,
        O_CART,
        O_ABANDON,
        O_SWITCH,
        O_REFUND,
        O_OOO,
        O_LATENESS,
        O_START,
        O_CODEC,
};

static int parse_args(int argc, char **argv, struct opts *o) {
        static const struct option longopts[] = {
            {"config", required_argument, NULL, 'c'},
            {"bootstrap-servers", required_argument, NULL, O_BOOTSTRAP},
            {"output", required_argument, NULL, 'o'},
            {"catalog-out", required_argument, NULL, O_CATALOG_OUT},
            {"no-catalog", no_argument, NULL, O_NO_CATALOG},
            {"format", required_argument, NULL, O_FORMAT},
            {"partitions", required_argument, NULL, O_PARTITIONS},
            {"rate", required_argument, NULL, 'r'},
            {"events", required_argument, NULL, 'e'},
            {"duration", required_argument, NULL, 'd'},
            {"quiet", no_argument, NULL, 'q'},
            {"seed", required_argument, NULL, 's'},
            {"customers", required_argument, NULL, 'n'},
            {"known-share", required_argument, NULL, O_KNOWN},
            {"sessions", required_argument, NULL, O_SESSIONS},
            {"products", required_argument, NULL, O_PRODUCTS},
            {"cart-share", required_argument, NULL, O_CART},
            {"abandon-share", required_argument, NULL, O_ABANDON},
            {"switch-share", required_argument, NULL, O_SWITCH},
            {"refund-share", required_argument, NULL, O_REFUND},
            {"ooo-share", required_argument, NULL, O_OOO},
            {"max-lateness", required_argument, NULL, O_LATENESS},
            {"start-time", required_argument, NULL, O_START},
            {"codec", required_argument, NULL, O_CODEC},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0}};
        int opt;
        long long v;
        const char *start = NULL;

        nd_gen_opts_default(&o->g);
        while ((opt = getopt_long(argc, argv, "c:o:r:e:d:qs:n:h", longopts,
                                  NULL)) != -1) {
                switch (opt) {
                case 'c':
                        o->config = optarg;
                        break;
                case O_BOOTSTRAP:
                        o->bootstrap = optarg;
                        break;
                case 'o':
                        o->output = optarg;
                        break;
                case O_CATALOG_OUT:
                        o->catalog_out = optarg;
                        break;
                case O_NO_CATALOG:
                        o->no_catalog = true;
                        break;
                case O_FORMAT:
                        if (strcmp(optarg, "avro") && strcmp(optarg, "json")) {
                                fprintf(stderr,
                                        "nudge-gen: --format: "
                                        "expected avro or json, got "
                                        "'%s'\n",
                                        optarg);
                                return -1;
                        }
                        o->format = optarg;
                        break;
                case O_PARTITIONS:
                        if (parse_long("partitions", optarg, 1, 1000, &v))
                                return -1;
                        o->partitions = (int)v;
                        break;
                case 'r': {
                        char *end;
                        o->rate = strtod(optarg, &end);
                        if (end == optarg || *end || o->rate < 0) {
                                fprintf(stderr,
                                        "nudge-gen: --rate: expected "
                                        "events/s >= 0, got '%s'\n",
                                        optarg);
                                return -1;
                        }
                        o->has_rate = true;
                        break;
                }
                case 'e':
                        if (parse_long("events", optarg, 1, INT64_MAX, &v))
                                return -1;
                        o->events = (uint64_t)v;
                        break;
                case 'd':
                        if (parse_duration(optarg, &o->duration_ms) ||
                            o->duration_ms <= 0) {
                                fprintf(stderr,
                                        "nudge-gen: --duration: "
                                        "expected a duration such as "
                                        "30s, got '%s'\n",
                                        optarg);
                                return -1;
                        }
                        break;
                case 'q':
                        o->quiet = true;
                        break;
                case 's':
                        if (parse_long("seed", optarg, 0, INT64_MAX, &v))
                                return -1;
                        o->g.seed = (uint64_t)v;
                        break;
                case 'n':
                        if (parse_long("customers", optarg, 1, 4000000000LL,
                                       &v))
                                return -1;
                        o->g.customers = (long)v;
                        break;
                case O_KNOWN:
                        if (parse_share("known-share", optarg,
                                        &o->g.known_share))
                                return -1;
                        break;
                case O_SESSIONS:
                        if (parse_long("sessions", optarg, 1, 1000000, &v))
                                return -1;
                        o->g.sessions = (int)v;
                        break;
                case O_PRODUCTS:
                        if (parse_long("products", optarg, 10, 10000000, &v))
                                return -1;
                        o->g.products = (int)v;
                        break;
                case O_CART:
                        if (parse_share("cart-share", optarg, &o->g.cart_share))
                                return -1;
                        break;
                case O_ABANDON:
                        if (parse_share("abandon-share", optarg,
                                        &o->g.abandon_share))
                                return -1;
                        break;
                case O_SWITCH:
                        if (parse_share("switch-share", optarg,
                                        &o->g.switch_share))
                                return -1;
                        break;
                case O_REFUND:
                        if (parse_share("refund-share", optarg,
                                        &o->g.refund_share))
                                return -1;
                        break;
                case O_OOO:
                        if (parse_share("ooo-share", optarg, &o->g.ooo_share))
                                return -1;
                        break;
                case O_LATENESS:
                        if (parse_duration(optarg, &o->g.max_lateness_ms) ||
                            o->g.max_lateness_ms < 1) {
                                fprintf(stderr,
                                        "nudge-gen: --max-lateness: "
                                        "expected a duration such as "
                                        "10s, got '%s'\n",
                                        optarg);
                                return -1;
                        }
                        break;
                case O_START:
                        start = optarg;
                        break;
                case O_CODEC:
                        if (strcmp(optarg, "null") &&
                            strcmp(optarg, "deflate")) {
                                fprintf(stderr,
                                        "nudge-gen: --codec: expected null "
                                        "or deflate, got '%s'\n",
                                        optarg);
                                return -1;
                        }
                        o->codec = strcmp(optarg, "null") ? ND_OCF_CODEC_DEFLATE
                                                          : ND_OCF_CODEC_NULL;
                        o->has_codec = true;
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                default:
                        usage(stderr);
                        return -1;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "nudge-gen: unexpected argument '%s'\n",
                        argv[optind]);
                return -1;
        }
        if (!o->output && !o->config && !o->bootstrap) {
                fprintf(stderr, "nudge-gen: give a destination: --output "
                                "FILE, or -c CONFIG / --bootstrap-servers "
                                "for Kafka (see --help)\n");
                return -1;
        }
        if (o->has_codec && !is_ocf_path(o->output)) {
                fprintf(stderr, "nudge-gen: --codec is for Avro container "
                                "files: give -o FILE.avro\n");
                return -1;
        }
        if (!o->has_rate)
                o->rate = o->output ? 0 : 1000;
        if (o->output && !o->events && !o->duration_ms)
                o->events = 100000;
        /* Event time: the wall clock to Kafka unless a start is given;
         * simulated (deterministic) to a file. */
        if (start && !strcmp(start, "now")) {
                o->g.wall_clock = true;
        } else if (start) {
                if (nd_replay_parse_time(start, &o->g.start_ms) != 0) {
                        fprintf(stderr,
                                "nudge-gen: --start-time: expected "
                                "ms since the epoch, an ISO 8601 UTC "
                                "time or 'now', got '%s'\n",
                                start);
                        return -1;
                }
                o->has_start = true;
        } else {
                o->g.wall_clock = !o->output;
        }
        o->g.sim_rate = o->rate > 0 ? o->rate : 1000;
        return 0;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

static const char *topic_of(const nd_config_t *cfg, nd_event_type_t type) {
        const char *t = nd_event_type_topic(type);
        if (!strcmp(t, "clickstream"))
                return cfg->topic_clickstream;
        if (!strcmp(t, "cart"))
                return cfg->topic_cart;
        return cfg->topic_purchase;
}

static nd_err_t encode_event(struct sink *s, const nd_event_t *ev,
                             size_t *lenp) {
        nd_err_t err;
        if (s->avro)
                return nd_serde_encode_event(s->serde, ev, s->buf, BUF_BYTES,
                                             lenp);
        err = nd_event_write_json(ev, s->buf, BUF_BYTES, lenp);
        /* Kafka records carry no newline. */
        if (err == ND_OK && !s->out)
                (*lenp)--;
        return err;
}

static nd_err_t send_event(struct sink *s, const nd_event_t *ev) {
        size_t len;
        nd_err_t err;
        if (s->ocf) {
                struct ocf_out *fo = &s->files[s->file_of[ev->type]];
                fo->events++;
                return nd_ocf_writer_append(fo->w, ev);
        }
        err = encode_event(s, ev, &len);
        if (err != ND_OK)
                return err;
        s->bytes += len;
        if (s->out)
                return fwrite(s->buf, 1, len, s->out) == len ? ND_OK
                                                             : ND_ERR_IO;
        return nd_kio_client_produce(s->producer, topic_of(s->cfg, ev->type),
                                     ev->key.p, ev->key.len, s->buf, len);
}

/* 16 bytes of sync marker from the seed and the topic: the same files for
 * the same seed (a random marker would differ run after run), a different
 * marker per file. splitmix64's finalizer spreads the bits. */
static void sync_marker(uint64_t seed, int topic, uint8_t *sync) {
        uint64_t x = seed ^ ((uint64_t)(topic + 1) << 56) ^ 0x6f63660a5eedULL;
        for (int i = 0; i < 16; i++) {
                uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
                z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
                z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
                sync[i] = (uint8_t)((z ^ (z >> 31)) >> 56);
        }
}

/* Creates STEM.<topic>.avro for the three topics. 0, or EXIT_FAIL with a
 * message (files already created stay, as a cut JSON file would). */
static int open_ocf(struct sink *s) {
        const char *path = s->o->output;
        size_t stem = strlen(path) - 5; /* without ".avro" */
        char errstr[512];

        for (int t = 0; t < ND_EV__CNT; t++) {
                const char *name = nd_event_type_topic((nd_event_type_t)t);
                for (int i = 0; i < TOPICS; i++)
                        if (!strcmp(name, topic_names[i]))
                                s->file_of[t] = i;
        }
        for (int i = 0; i < TOPICS; i++) {
                struct ocf_out *fo = &s->files[i];
                size_t n = stem + strlen(topic_names[i]) + 7;
                uint8_t sync[16];
                nd_ocf_writer_opts_t wo = {
                    .codec = s->o->codec, .block_size = 0, .sync = sync};
                fo->path = nd_malloc(n);
                snprintf(fo->path, n, "%.*s.%s.avro", (int)stem, path,
                         topic_names[i]);
                if (!(fo->f = fopen(fo->path, "wb"))) {
                        fprintf(stderr, "nudge-gen: --output %s: %s\n",
                                fo->path, strerror(errno));
                        return EXIT_FAIL;
                }
                sync_marker(s->o->g.seed, i, sync);
                if (nd_ocf_writer_open(s->serde, fo->f, topic_types[i], &wo,
                                       &fo->w, errstr,
                                       sizeof(errstr)) != ND_OK) {
                        fprintf(stderr, "nudge-gen: --output %s: %s\n",
                                fo->path, errstr);
                        return EXIT_FAIL;
                }
        }
        return 0;
}

/* Writes the last blocks and closes the files (also after an error, then
 * quietly). 0, or EXIT_FAIL with a message. The paths stay for messages. */
static int close_ocf(struct sink *s, bool report) {
        int rc = 0;
        for (int i = 0; i < TOPICS; i++) {
                struct ocf_out *fo = &s->files[i];
                bool bad = nd_ocf_writer_close(fo->w) != ND_OK;
                fo->w = NULL;
                if (fo->f && fclose(fo->f) != 0)
                        bad = true;
                fo->f = NULL;
                if (report && bad) {
                        fprintf(stderr, "nudge-gen: writing %s failed\n",
                                fo->path);
                        rc = EXIT_FAIL;
                }
        }
        return rc;
}

static int write_catalog(struct sink *s, nd_gen_t *gen) {
        FILE *f = NULL;
        int rc = EXIT_FAIL;
        const char *path = s->o->catalog_out;

        if (path && !(f = strcmp(path, "-") ? fopen(path, "w") : stdout)) {
                fprintf(stderr, "nudge-gen: --catalog-out %s: %s\n", path,
                        strerror(errno));
                return EXIT_FAIL;
        }
        for (int i = 0; i < nd_gen_product_count(gen); i++) {
                nd_product_rec_t prod;
                size_t len;
                nd_gen_product(gen, i, &prod);
                if (nd_product_write_json(&prod, s->buf, BUF_BYTES, &len) !=
                    ND_OK)
                        goto out;
                if (f && fwrite(s->buf, 1, len, f) != len) {
                        fprintf(stderr, "nudge-gen: writing %s failed\n", path);
                        goto out;
                }
                if (!s->producer || s->o->no_catalog)
                        continue;
                len--; /* no newline in a record */
                if (s->avro &&
                    nd_serde_encode_product(s->serde, &prod, s->buf, BUF_BYTES,
                                            &len) != ND_OK)
                        goto out;
                if (nd_kio_client_produce(s->producer, s->cfg->topic_catalog,
                                          prod.sku.p, prod.sku.len, s->buf,
                                          len) != ND_OK)
                        goto out;
        }
        rc = 0;
out:
        if (f && f != stdout && fclose(f) != 0)
                rc = EXIT_FAIL;
        return rc;
}

static int create_topics(const struct opts *o, const nd_config_t *cfg) {
        const char *topics[] = {cfg->topic_clickstream, cfg->topic_cart,
                                cfg->topic_purchase, cfg->topic_catalog};
        char errstr[512];
        for (int i = 0; i < 4; i++)
                if (nd_kio_create_topic(cfg, o->bootstrap, topics[i],
                                        o->partitions, i == 3, 15000, errstr,
                                        sizeof(errstr)) != ND_OK) {
                        fprintf(stderr, "nudge-gen: creating %s: %s\n",
                                topics[i], errstr);
                        return -1;
                }
        return 0;
}

static void progress(const struct opts *o, uint64_t n, uint64_t *last_n,
                     int64_t elapsed_ms, bool tty, bool final) {
        static int64_t last_ms;
        double secs = (double)elapsed_ms / 1000.0;
        double dt = (double)(elapsed_ms - last_ms) / 1000.0;
        if (o->quiet)
                return;
        fprintf(stderr,
                "%snudge-gen: %" PRIu64 " events in %.1f s (%.0f/s now, "
                "%.0f/s average)%s",
                tty ? "\r" : "", n, secs,
                dt > 0 ? (double)(n - *last_n) / dt : 0.0,
                secs > 0 ? (double)n / secs : 0.0, tty && !final ? "" : "\n");
        *last_n = n;
        last_ms = elapsed_ms;
}

static int run(struct opts *o) {
        struct sink s = {.o = o};
        nd_config_t *cfg = NULL;
        nd_gen_t *gen = NULL;
        char errstr[1024];
        int rc = EXIT_USAGE;
        int64_t start, last_progress;
        uint64_t sent = 0, last_n = 0;
        bool tty = isatty(2), shown = false;

        if (nd_gen_opts_check(&o->g, errstr, sizeof(errstr)) != ND_OK) {
                fprintf(stderr, "nudge-gen: %s\n", errstr);
                return EXIT_USAGE;
        }
        if (nd_config_load(o->config, nd_processor_find, &cfg, errstr,
                           sizeof(errstr)) != ND_OK) {
                fprintf(stderr, "nudge-gen: %s\n", errstr);
                return EXIT_USAGE;
        }
        nd_log_setup(ND_LOG_WARN, cfg->log_json);
        s.cfg = cfg;
        s.buf = nd_malloc(BUF_BYTES);
        if (o->output) {
                s.ocf = is_ocf_path(o->output);
                if (o->format && !strcmp(o->format, "avro") != s.ocf) {
                        fprintf(stderr, "nudge-gen: a file's format follows "
                                        "its name: .avro for Avro, anything "
                                        "else for JSON lines\n");
                        goto out;
                }
        }
        /* Confluent-framed Avro: to Kafka only (files: JSON or containers) */
        s.avro =
            !o->output && (o->format ? !strcmp(o->format, "avro")
                                     : cfg->input_format == ND_FORMAT_AVRO);
        if (s.avro || s.ocf) {
                nd_serde_conf_t sc;
                nd_serde_conf_from_config(&sc, cfg);
                if (nd_serde_new(&sc, &s.serde, errstr, sizeof(errstr)) !=
                    ND_OK) {
                        fprintf(stderr, "nudge-gen: %s\n", errstr);
                        goto out;
                }
        }
        if (s.ocf) {
                rc = open_ocf(&s);
                if (rc != 0)
                        goto out;
        } else if (o->output) {
                s.out = strcmp(o->output, "-") ? fopen(o->output, "w") : stdout;
                if (!s.out) {
                        fprintf(stderr, "nudge-gen: --output %s: %s\n",
                                o->output, strerror(errno));
                        rc = EXIT_FAIL;
                        goto out;
                }
        } else {
                if (!o->bootstrap && nd_config_is_embedded(cfg)) {
                        fprintf(stderr, "nudge-gen: no Kafka to send to: "
                                        "set kafka.bootstrap.servers or "
                                        "--bootstrap-servers\n");
                        goto out;
                }
                rc = EXIT_FAIL;
                if (o->partitions && create_topics(o, cfg) != 0)
                        goto out;
                s.producer = nd_kio_producer_new(cfg, o->bootstrap, errstr,
                                                 sizeof(errstr));
                if (!s.producer) {
                        fprintf(stderr, "nudge-gen: %s\n", errstr);
                        goto out;
                }
        }
        rc = EXIT_FAIL;
        gen = nd_gen_new(&o->g);
        if ((o->catalog_out || (s.producer && !o->no_catalog)) &&
            write_catalog(&s, gen) != 0)
                goto out;

        start = last_progress = nd_clock_mono_ms();
        while (!stop) {
                int64_t now = nd_clock_mono_ms();
                uint64_t due = UINT64_MAX;
                if (o->duration_ms && now - start >= o->duration_ms)
                        break;
                if (o->events && sent >= o->events)
                        break;
                if (o->rate > 0)
                        due = (uint64_t)((double)(now - start) * o->rate /
                                         1000.0) +
                              1;
                if (o->events && due > o->events)
                        due = o->events;
                /* At most 10 ms of work between checks of the clock. */
                for (int i = 0; sent < due && i < 4096; i++) {
                        nd_event_t ev;
                        nd_gen_next(gen, &ev);
                        if (send_event(&s, &ev) != ND_OK) {
                                fprintf(stderr,
                                        "nudge-gen: %s event "
                                        "%" PRIu64 " failed\n",
                                        s.producer ? "sending" : "writing",
                                        sent);
                                goto out;
                        }
                        sent++;
                }
                if (s.producer) {
                        nd_kio_client_poll(s.producer, sent < due ? 0 : 5);
                } else if (sent >= due) {
                        struct timespec ts = {0, 2000000};
                        nanosleep(&ts, NULL);
                }
                if (now - last_progress >= 2000) {
                        progress(o, sent, &last_n, now - start, tty, false);
                        last_progress = now;
                        shown = true;
                }
        }
        if (s.producer) {
                if (nd_kio_client_flush(s.producer, 30000) != ND_OK ||
                    nd_kio_client_poll(s.producer, 0) > 0) {
                        fprintf(stderr, "nudge-gen: some records were not "
                                        "delivered\n");
                        goto out;
                }
        }
        if (s.out && fflush(s.out) != 0) {
                fprintf(stderr, "nudge-gen: writing %s failed\n", o->output);
                goto out;
        }
        if (shown)
                progress(o, sent, &last_n, nd_clock_mono_ms() - start, tty,
                         true);
        if (s.ocf) {
                if (close_ocf(&s, true) != 0)
                        goto out;
                for (int i = 0; i < TOPICS && !o->quiet; i++)
                        fprintf(stderr,
                                "nudge-gen: wrote %s (%" PRIu64 " events)\n",
                                s.files[i].path, s.files[i].events);
        }
        rc = 0;
out:
        close_ocf(&s, false);
        for (int i = 0; i < TOPICS; i++)
                nd_free(s.files[i].path);
        if (s.out && s.out != stdout && fclose(s.out) != 0 && rc == 0)
                rc = EXIT_FAIL;
        nd_gen_destroy(gen);
        nd_kio_client_destroy(s.producer);
        nd_serde_destroy(s.serde);
        nd_free(s.buf);
        nd_config_destroy(cfg);
        return rc;
}

int main(int argc, char **argv) {
        struct opts o = {0};
        struct sigaction sa;

        if (parse_args(argc, argv, &o) != 0)
                return EXIT_USAGE;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        return run(&o);
}
