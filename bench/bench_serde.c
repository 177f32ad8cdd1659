/*
 * bench_serde.c — decode and encode rate of serde's fast path next to
 * avro-c's generic one, on the same records, on one core.
 *
 * Usage: bench_serde [seconds per measurement]     (default 1)
 *        bench_serde --write-action FILE.avro FILE.json
 *            writes one sample action in both encodings (tests/python)
 *        bench_serde --write-ocf FILE N [deflate]
 *            writes N clickstream product_viewed events (50,000 customers,
 *            1 s apart) as an Avro object container file, for replay
 *            benchmarks (`nudge replay --input FILE`)
 *
 * Records: 1000 distinct clickstream product_viewed events of ~100 bytes
 * with 11 set fields (event_id, type, customer_id, timestamp, channel,
 * device_id, device_type, session_id, product.sku, product.category,
 * product.price_cents), written once by avro-c's generic writer. Measures:
 *   decode fast    nd_serde_decode (specialised decoder of the shipped
 *                  schema, zero copy, contract checks included)
 *   decode plan    the same with ND_SERDE_F_NO_FAST: the plan interpreter,
 *                  as for any other writer schema
 *   decode avro-c  avro_value_read into one reused generic value, from a
 *                  reused memory reader (its best case)
 *   decode avro-c/1  the same with a new memory reader and generic value
 *                  per record (how a straightforward consumer uses it)
 *   decode json    nd_serde_decode_json on the same events as JSON
 *   encode fast    nd_serde_encode_action on a cart_abandonment action
 *   encode avro-c  avro_value_write of the same action as a generic value
 *   ocf read       nd_ocf_reader_next over the same events in a container
 *                  file in memory (fmemopen), 64 KiB blocks, null codec
 * and, with jemalloc, the bytes the thread allocated during the fast loops
 * (the steady state must allocate nothing).
 */
#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ocf.h"
#include "serde.h"

#ifdef ND_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#define NREC 1000

static uint64_t thread_allocated(void) {
#ifdef ND_HAVE_JEMALLOC
        uint64_t v = 0;
        size_t sz = sizeof(v);
        if (mallctl("thread.allocated", &v, &sz, NULL, 0) == 0)
                return v;
#endif
        return 0;
}

static char *slurp(const char *name, size_t *lenp) {
        char path[512];
        static char buf[65536];
        FILE *f;
        snprintf(path, sizeof(path), "%s/schemas/%s", ND_SOURCE_DIR, name);
        f = fopen(path, "rb");
        if (!f) {
                perror(path);
                exit(1);
        }
        *lenp = fread(buf, 1, sizeof(buf) - 1, f);
        buf[*lenp] = '\0';
        fclose(f);
        return buf;
}

static void die(const char *what) {
        fprintf(stderr, "bench_serde: %s: %s\n", what, avro_strerror());
        exit(1);
}

static void set_field_str(avro_value_t *rec, const char *name, const char *v,
                          int branch) {
        avro_value_t f, b;
        avro_value_get_by_name(rec, name, &f, NULL);
        if (avro_value_get_type(&f) == AVRO_UNION) {
                avro_value_set_branch(&f, v ? branch : 0, &b);
                if (!v) {
                        avro_value_set_null(&b);
                        return;
                }
                f = b;
        }
        avro_value_set_string(&f, v);
}

static void set_field_long(avro_value_t *rec, const char *name, int64_t v) {
        avro_value_t f, b;
        avro_value_get_by_name(rec, name, &f, NULL);
        if (avro_value_get_type(&f) == AVRO_UNION) {
                avro_value_set_branch(&f, 1, &b);
                f = b;
        }
        if (avro_value_get_type(&f) == AVRO_INT32)
                avro_value_set_int(&f, (int32_t)v);
        else
                avro_value_set_long(&f, v);
}

static void set_field_enum(avro_value_t *rec, const char *name, int v) {
        avro_value_t f;
        avro_value_get_by_name(rec, name, &f, NULL);
        avro_value_set_enum(&f, v);
}

struct recs {
        uint8_t *buf[NREC];
        size_t len[NREC];
        char *json[NREC];
        size_t json_len[NREC];
        size_t total;
};

static void make_events(struct recs *rs) {
        size_t tlen;
        char *text = slurp("clickstream.avsc", &tlen);
        avro_schema_t s;
        avro_value_iface_t *cls;
        avro_value_t rec, f, b;
        char tmp[6][64];

        if (avro_schema_from_json_length(text, tlen, &s))
                die("clickstream.avsc");
        cls = avro_generic_class_from_schema(s);
        avro_generic_value_new(cls, &rec);
        for (int i = 0; i < NREC; i++) {
                uint8_t out[512];
                avro_writer_t w =
                    avro_writer_memory((char *)out + 5, sizeof(out) - 5);
                snprintf(tmp[0], 64, "evt-%08d-4f1c", i);
                snprintf(tmp[1], 64, "cust-%06d", i * 7919 % 1000003);
                snprintf(tmp[2], 64, "dev-%05d", i % 977);
                snprintf(tmp[3], 64, "sess-%06d", i / 3);
                snprintf(tmp[4], 64, "SKU-%05d", i * 31 % 50000);
                snprintf(tmp[5], 64, "cat-%02d", i % 40);
                set_field_str(&rec, "event_id", tmp[0], 1);
                set_field_enum(&rec, "type", 1); /* product_viewed */
                set_field_str(&rec, "customer_id", tmp[1], 1);
                set_field_str(&rec, "anonymous_id", NULL, 0);
                set_field_long(&rec, "timestamp", 1700000000000LL + i * 37);
                set_field_enum(&rec, "channel", i % 3);
                set_field_str(&rec, "device_id", tmp[2], 1);
                set_field_enum(&rec, "device_type", i % 4);
                set_field_str(&rec, "session_id", tmp[3], 1);
                avro_value_get_by_name(&rec, "product", &f, NULL);
                avro_value_set_branch(&f, 1, &b);
                set_field_str(&b, "sku", tmp[4], 1);
                set_field_str(&b, "category", tmp[5], 1);
                set_field_long(&b, "price_cents", 999 + i % 5000);
                set_field_str(&b, "currency", NULL, 0);
                set_field_str(&rec, "campaign_id", NULL, 0);
                set_field_str(&rec, "action_id", NULL, 0);
                if (avro_value_write(w, &rec))
                        die("write");
                rs->len[i] = (size_t)avro_writer_tell(w) + 5;
                avro_writer_free(w);
                out[0] = 0;
                out[1] = out[2] = out[3] = 0;
                out[4] = 1;
                rs->buf[i] = malloc(rs->len[i]);
                memcpy(rs->buf[i], out, rs->len[i]);
                rs->total += rs->len[i];
                rs->json[i] = malloc(512);
                rs->json_len[i] = (size_t)snprintf(
                    rs->json[i], 512,
                    "{\"event_id\":\"%s\",\"type\":\"product_viewed\","
                    "\"customer_id\":\"%s\",\"anonymous_id\":null,"
                    "\"timestamp\":%lld,\"channel\":\"web\",\"device_id\":"
                    "\"%s\",\"device_type\":\"mobile\",\"session_id\":\"%s\","
                    "\"product\":{\"sku\":\"%s\",\"category\":\"%s\","
                    "\"price_cents\":%d}}",
                    tmp[0], tmp[1], 1700000000000LL + i * 37, tmp[2], tmp[3],
                    tmp[4], tmp[5], 999 + i % 5000);
        }
        avro_value_decref(&rec);
        avro_value_iface_decref(cls);
        avro_schema_decref(s);
}

static const nd_line_item_t items[] = {
    {{"SKU-00001", 9}, {"shoes", 5}, 1, 4999, true},
    {{"SKU-00002", 9}, {"socks", 5}, 3, 599, true},
};
static const nd_str_t srcs[] = {{"evt-00000001-4f1c", 17}};

static nd_action_t sample_action(void) {
        nd_action_t a;
        memset(&a, 0, sizeof(a));
        a.action_id = (nd_str_t){"9f2c4e1a7b3d5f60", 16};
        a.trigger = ND_TRIGGER_CART_ABANDONMENT;
        a.trigger_name = (nd_str_t){"cart_reminder", 13};
        a.customer_id = (nd_str_t){"cust-000042", 11};
        a.channel = ND_CHANNEL_EMAIL;
        a.device_id = (nd_str_t){"dev-00042", 9};
        a.stage = 0;
        a.created_at = 1700003600000LL;
        a.emitted_at = 1700003600123LL;
        a.cart_id = (nd_str_t){"cart-42", 7};
        a.items = items;
        a.item_cnt = 2;
        a.value_cents = 6796;
        a.has_value = true;
        a.currency = (nd_str_t){"EUR", 3};
        a.source_event_ids = srcs;
        a.source_event_cnt = 1;
        return a;
}

/* The same action as an avro-c generic value. */
static void generic_action(avro_value_t *rec) {
        avro_value_t f, b, it;
        set_field_str(rec, "action_id", "9f2c4e1a7b3d5f60", 1);
        set_field_enum(rec, "trigger", 0);
        set_field_str(rec, "trigger_name", "cart_reminder", 1);
        set_field_str(rec, "customer_id", "cust-000042", 1);
        set_field_str(rec, "anonymous_id", NULL, 0);
        set_field_enum(rec, "channel", ND_CHANNEL_EMAIL);
        set_field_str(rec, "device_id", "dev-00042", 1);
        set_field_long(rec, "stage", 0);
        set_field_long(rec, "created_at", 1700003600000LL);
        set_field_long(rec, "emitted_at", 1700003600123LL);
        avro_value_get_by_name(rec, "expires_at", &f, NULL);
        avro_value_set_branch(&f, 0, &b);
        avro_value_set_null(&b);
        /* null: cart_abandonment has no channel-switch gap */
        avro_value_get_by_name(rec, "gap_ms", &f, NULL);
        avro_value_set_branch(&f, 0, &b);
        avro_value_set_null(&b);
        set_field_str(rec, "cart_id", "cart-42", 1);
        set_field_str(rec, "order_id", NULL, 0);
        avro_value_get_by_name(rec, "items", &f, NULL);
        for (int i = 0; i < 2; i++) {
                avro_value_append(&f, &it, NULL);
                set_field_str(&it, "sku", i ? "SKU-00002" : "SKU-00001", 1);
                set_field_long(&it, "quantity", i ? 3 : 1);
                set_field_long(&it, "price_cents", i ? 599 : 4999);
                set_field_str(&it, "category", i ? "socks" : "shoes", 1);
        }
        set_field_long(rec, "value_cents", 6796);
        set_field_str(rec, "currency", "EUR", 1);
        avro_value_get_by_name(rec, "from_channel", &f, NULL);
        avro_value_set_branch(&f, 0, &b);
        avro_value_set_null(&b);
        set_field_str(rec, "from_device_id", NULL, 0);
        avro_value_get_by_name(rec, "source_event_ids", &f, NULL);
        avro_value_append(&f, &it, NULL);
        avro_value_set_string(&it, "evt-00000001-4f1c");
}

static nd_serde_t *new_serde_flags(unsigned flags) {
        nd_serde_conf_t conf = {0};
        nd_serde_t *serde;
        char err[512];
        conf.flags = flags;
        conf.id_clickstream = 1;
        conf.id_action = 5;
        if (nd_serde_new(&conf, &serde, err, sizeof(err))) {
                fprintf(stderr, "bench_serde: %s\n", err);
                exit(1);
        }
        return serde;
}

static nd_serde_t *new_serde(void) {
        return new_serde_flags(0);
}

/* Writes n product_viewed events into f as a container file. */
static int write_events(nd_serde_t *serde, FILE *f, long n,
                        nd_ocf_codec_t codec) {
        nd_ocf_writer_opts_t o = {codec, 0, NULL};
        nd_ocf_writer_t *w;
        char err[256], tmp[6][64];
        if (nd_ocf_writer_open(serde, f, ND_EV_PRODUCT_VIEWED, &o, &w, err,
                               sizeof(err))) {
                fprintf(stderr, "bench_serde: %s\n", err);
                return 1;
        }
        for (long i = 0; i < n; i++) {
                nd_event_t ev;
                memset(&ev, 0, sizeof(ev));
                snprintf(tmp[0], 64, "evt-%010ld-4f1c", i);
                snprintf(tmp[1], 64, "cust-%06ld", i * 7919 % 50000);
                snprintf(tmp[2], 64, "dev-%05ld", i % 977);
                snprintf(tmp[3], 64, "sess-%06ld", i / 3);
                snprintf(tmp[4], 64, "SKU-%05ld", i * 31 % 5000);
                snprintf(tmp[5], 64, "cat-%02ld", i % 40);
                ev.type = ND_EV_PRODUCT_VIEWED;
                ev.event_id = (nd_str_t){tmp[0], (uint32_t)strlen(tmp[0])};
                ev.customer_id = (nd_str_t){tmp[1], (uint32_t)strlen(tmp[1])};
                ev.timestamp = 1700000000000LL + i * 1000;
                ev.channel = (nd_channel_t)(i % 3);
                ev.device_id = (nd_str_t){tmp[2], (uint32_t)strlen(tmp[2])};
                ev.device_type = (nd_device_type_t)(i % 4);
                ev.session_id = (nd_str_t){tmp[3], (uint32_t)strlen(tmp[3])};
                ev.has_product = true;
                ev.product.sku = (nd_str_t){tmp[4], (uint32_t)strlen(tmp[4])};
                ev.product.category =
                    (nd_str_t){tmp[5], (uint32_t)strlen(tmp[5])};
                ev.product.price_cents = 999 + i % 5000;
                ev.product.has_price = true;
                ev.quantity = 1;
                if (nd_ocf_writer_append(w, &ev)) {
                        fprintf(stderr, "bench_serde: append failed\n");
                        nd_ocf_writer_close(w);
                        return 1;
                }
        }
        return nd_ocf_writer_close(w) ? 1 : 0;
}

static int write_ocf(const char *path, long n, bool deflate) {
        nd_serde_t *serde = new_serde();
        FILE *f = fopen(path, "wb");
        int rc;
        if (!f) {
                perror(path);
                return 1;
        }
        rc = write_events(serde, f, n,
                          deflate ? ND_OCF_CODEC_DEFLATE : ND_OCF_CODEC_NULL);
        if (fclose(f))
                rc = 1;
        nd_serde_destroy(serde);
        return rc;
}

static int write_action(const char *avro_path, const char *json_path) {
        nd_serde_t *serde = new_serde();
        nd_action_t a = sample_action();
        uint8_t buf[1024];
        char js[2048];
        size_t len, jlen;
        FILE *f;
        if (nd_serde_encode_action(serde, &a, buf, sizeof(buf), &len) ||
            nd_action_write_json(&a, js, sizeof(js), &jlen))
                return 1;
        f = fopen(avro_path, "wb");
        if (!f || fwrite(buf, 1, len, f) != len || fclose(f))
                return 1;
        f = fopen(json_path, "wb");
        if (!f || fwrite(js, 1, jlen, f) != jlen || fclose(f))
                return 1;
        nd_serde_destroy(serde);
        return 0;
}

struct result {
        const char *name;
        double ns;
        uint64_t alloc;
        long long ops;
};

static void print(const struct result *r) {
        printf("%-16s %10.1f ns/op %10.2f M ops/s  %12lld ops", r->name, r->ns,
               1000.0 / r->ns, r->ops);
        if (r->alloc != (uint64_t)-1)
                printf("  %llu bytes allocated", (unsigned long long)r->alloc);
        printf("\n");
}

int main(int argc, char **argv) {
        double secs = 1.0;
        struct recs rs = {0};
        nd_serde_t *serde;
        nd_event_t ev;
        char err[256];
        int64_t budget, t0, t;
        long long ops;
        uint64_t a0;
        struct result fast, plan, gen, gen2, json, enc, genc, ocf;
        nd_serde_t *slow;
        char *ocf_mem = NULL;
        size_t ocf_len = 0;
        avro_schema_t cs, as;
        avro_value_iface_t *ccls, *acls;
        avro_value_t crec, arec;
        avro_reader_t rd;
        avro_writer_t wr;
        size_t tlen;
        char *text;
        uint8_t out[1024];
        nd_action_t act = sample_action();
        volatile int64_t sink = 0;

        if (argc == 4 && !strcmp(argv[1], "--write-action"))
                return write_action(argv[2], argv[3]);
        if ((argc == 4 || argc == 5) && !strcmp(argv[1], "--write-ocf"))
                return write_ocf(argv[2], atol(argv[3]),
                                 argc == 5 && !strcmp(argv[4], "deflate"));
        if (argc > 1)
                secs = atof(argv[1]);
        budget = (int64_t)(secs * 1e9);
        make_events(&rs);
        serde = new_serde();
        slow = new_serde_flags(ND_SERDE_F_NO_FAST);
        printf("records: %d clickstream events, %.1f bytes on average "
               "(frame included); allocator: %s\n",
               NREC, (double)rs.total / NREC,
#ifdef ND_HAVE_JEMALLOC
               "jemalloc"
#else
               "libc"
#endif
        );

        /* warm up and check */
        for (int i = 0; i < NREC; i++)
                if (nd_serde_decode(serde, rs.buf[i], rs.len[i], &ev, err,
                                    sizeof(err))) {
                        fprintf(stderr, "decode: %s\n", err);
                        return 1;
                }

#define MEASURE(res, label, body)                        \
        do {                                             \
                ops = 0;                                 \
                a0 = thread_allocated();                 \
                t0 = nd_clock_mono_ns();                 \
                do {                                     \
                        for (int i = 0; i < NREC; i++) { \
                                body;                    \
                        }                                \
                        ops += NREC;                     \
                        t = nd_clock_mono_ns();          \
                } while (t - t0 < budget);               \
                res.name = label;                        \
                res.ns = (double)(t - t0) / (double)ops; \
                res.ops = ops;                           \
                res.alloc = thread_allocated() - a0;     \
        } while (0)

        MEASURE(fast, "decode fast", {
                nd_serde_decode(serde, rs.buf[i], rs.len[i], &ev, NULL, 0);
                sink += ev.timestamp;
        });

        MEASURE(plan, "decode plan", {
                nd_serde_decode(slow, rs.buf[i], rs.len[i], &ev, NULL, 0);
                sink += ev.timestamp;
        });

        text = slurp("clickstream.avsc", &tlen);
        if (avro_schema_from_json_length(text, tlen, &cs))
                die("clickstream.avsc");
        ccls = avro_generic_class_from_schema(cs);
        avro_generic_value_new(ccls, &crec);
        rd = avro_reader_memory((const char *)rs.buf[0] + 5,
                                (int64_t)rs.len[0] - 5);
        MEASURE(gen, "decode avro-c", {
                avro_reader_memory_set_source(rd, (const char *)rs.buf[i] + 5,
                                              (int64_t)rs.len[i] - 5);
                if (avro_value_read(rd, &crec))
                        die("avro_value_read");
        });

        MEASURE(gen2, "decode avro-c/1", {
                avro_reader_t r1 = avro_reader_memory(
                    (const char *)rs.buf[i] + 5, (int64_t)rs.len[i] - 5);
                avro_value_t v1;
                avro_generic_value_new(ccls, &v1);
                if (avro_value_read(r1, &v1))
                        die("avro_value_read");
                avro_value_decref(&v1);
                avro_reader_free(r1);
        });

        MEASURE(json, "decode json", {
                nd_serde_decode_json(serde, rs.json[i], rs.json_len[i], &ev,
                                     NULL, 0);
                sink += ev.timestamp;
        });

        MEASURE(enc, "encode fast", {
                size_t len;
                act.emitted_at = i;
                nd_serde_encode_action(serde, &act, out, sizeof(out), &len);
                sink += (int64_t)len;
        });

        text = slurp("action.avsc", &tlen);
        if (avro_schema_from_json_length(text, tlen, &as))
                die("action.avsc");
        acls = avro_generic_class_from_schema(as);
        avro_generic_value_new(acls, &arec);
        generic_action(&arec);
        wr = avro_writer_memory((const char *)out + 5, sizeof(out) - 5);
        MEASURE(genc, "encode avro-c", {
                avro_writer_memory_set_dest(wr, (const char *)out + 5,
                                            sizeof(out) - 5);
                if (avro_value_write(wr, &arec))
                        die("avro_value_write");
        });
        {
                size_t len;
                nd_serde_encode_action(serde, &act, out + 512, 512, &len);
                printf("action: %zu bytes (fast) vs %lld (avro-c body + 5)\n",
                       len, (long long)avro_writer_tell(wr) + 5);
        }

        {
                /* the OCF read path: one pass over a 100,000-event file in
                 * memory is one "op" batch of NREC records, repeated */
                FILE *mf = open_memstream(&ocf_mem, &ocf_len);
                FILE *rf;
                nd_ocf_reader_t *ord = NULL;
                if (write_events(serde, mf, 100 * NREC, ND_OCF_CODEC_NULL))
                        return 1;
                fclose(mf);
                rf = fmemopen(ocf_mem, ocf_len, "rb");
                MEASURE(ocf, "ocf read", {
                        if (!ord || nd_ocf_reader_next(ord, &ev, NULL, 0)) {
                                nd_ocf_reader_close(ord);
                                rewind(rf);
                                if (nd_ocf_reader_open(serde, rf, &ord, err,
                                                       sizeof(err)) ||
                                    nd_ocf_reader_next(ord, &ev, NULL, 0))
                                        return 1;
                        }
                        sink += ev.timestamp;
                });
                nd_ocf_reader_close(ord);
                fclose(rf);
                free(ocf_mem);
        }

        print(&fast);
        print(&plan);
        print(&gen);
        print(&gen2);
        print(&json);
        print(&enc);
        print(&genc);
        print(&ocf);
        printf("decode speed-up over avro-c: %.1fx (reused reader and "
               "value), %.1fx (new ones per record), %.1fx (plan "
               "interpreter); encode: %.1fx\n",
               gen.ns / fast.ns, gen2.ns / fast.ns, gen.ns / plan.ns,
               genc.ns / enc.ns);
        if (fast.alloc != 0 || plan.alloc != 0 || enc.alloc != 0)
                printf("WARNING: the fast paths allocated memory\n");

        avro_reader_free(rd);
        avro_writer_free(wr);
        avro_value_decref(&crec);
        avro_value_decref(&arec);
        avro_value_iface_decref(ccls);
        avro_value_iface_decref(acls);
        avro_schema_decref(cs);
        avro_schema_decref(as);
        nd_serde_destroy(serde);
        nd_serde_destroy(slow);
        for (int i = 0; i < NREC; i++) {
                free(rs.buf[i]);
                free(rs.json[i]);
        }
        return (int)(sink & 0);
}
