/*
 * ocf.c — Avro object container files of events. See ocf.h.
 *
 * OVERALL DESIGN
 *
 * The reader is a bounded buffer over the FILE: it reads 1 MiB chunks
 * (more when a block is larger), keeps the unread tail, and hands serde one
 * whole block at a time, so records never straddle a read and decoding
 * needs no copy. A block's records have no individual lengths: serde's plan
 * decoder (nd_serde_decode_body) says how many bytes each took, which is
 * where the next one starts. A deflate block is inflated whole into a
 * second buffer first. Per record there is no allocation and no system call;
 * per block, at most one read and, for deflate, one inflate.
 *
 * Trust: every count, size and length comes from the file. Sizes are
 * checked against ND_OCF_MAX_BLOCK before any allocation (nd_trymalloc),
 * header strings against a smaller cap, and the sync marker after every
 * block, which is what catches a block whose size field lies.
 *
 * ocf.c does not include avro.h: the schema work is serde's (STYLE.md §2).
 * The writer encodes with nd_serde_encode_event_body() and names our reader
 * schema, byte for byte, as the file's writer schema.
 */
#include "ocf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "mem.h"

#define READ_CHUNK    (1u << 20)
#define HEADER_MAX    (1u << 20) /* a metadata key or value */
#define SYNC_LEN      16
#define DEFAULT_BLOCK (64u << 10)

struct nd_ocf_reader_s {
        nd_serde_t *serde;
        FILE *f;
        nd_serde_plan_t *plan;
        const char *topic;
        nd_ocf_codec_t codec;
        uint8_t sync[SYNC_LEN];

        uint8_t *buf; /* file bytes [off, off + len) */
        size_t cap, len, pos;
        uint64_t off; /* file offset of buf[0] */
        bool eof;

        uint8_t *zbuf; /* the inflated block */
        size_t zcap;
        z_stream zs;
        bool zs_ready;

        const uint8_t *rec, *rec_end; /* the records left in the block */
        const uint8_t *last;          /* the last record returned */
        size_t last_len;
        int64_t left;       /* their count */
        uint64_t block_off; /* file offset of the block */

        nd_err_t fatal;
        char *fatal_text;
        nd_ocf_stats_t st;
};

bool nd_ocf_has_magic(const void *buf, size_t len) {
        return len >= ND_OCF_MAGIC_LEN &&
               memcmp(buf, ND_OCF_MAGIC, ND_OCF_MAGIC_LEN) == 0;
}

/*
 * Makes at least need bytes available at buf + pos (need <= the caps
 * above, checked by the callers). Returns ND_OK, ND_ERR_TRUNCATED when the
 * file ends first (pos..len is then all there is), ND_ERR_IO, ND_ERR_NOMEM.
 */
static nd_err_t fill(nd_ocf_reader_t *r, size_t need) {
        if (r->len - r->pos >= need)
                return ND_OK;
        if (r->pos) { /* keep the unread tail only */
                memmove(r->buf, r->buf + r->pos, r->len - r->pos);
                r->len -= r->pos;
                r->off += r->pos;
                r->pos = 0;
        }
        if (need > r->cap) {
                void *nb;
                size_t ncap = r->cap;
                while (ncap < need)
                        ncap *= 2;
                if (nd_trymalloc(&nb, ncap))
                        return ND_ERR_NOMEM;
                memcpy(nb, r->buf, r->len);
                nd_free(r->buf);
                r->buf = nb;
                r->cap = ncap;
        }
        while (r->len < need && !r->eof) {
                size_t n = fread(r->buf + r->len, 1, r->cap - r->len, r->f);
                r->len += n;
                if (n == 0) {
                        if (ferror(r->f))
                                return ND_ERR_IO;
                        r->eof = true;
                }
        }
        return r->len >= need ? ND_OK : ND_ERR_TRUNCATED;
}

/* A zigzag varint long from the stream. */
static nd_err_t rd_long(nd_ocf_reader_t *r, int64_t *out) {
        uint64_t v = 0;
        nd_err_t err;
        for (int i = 0; i < 10; i++) {
                uint8_t b;
                if ((err = fill(r, 1)))
                        return err;
                b = r->buf[r->pos++];
                if (i == 9 && b > 1)
                        return ND_ERR_BAD_VARINT;
                v |= (uint64_t)(b & 0x7f) << (7 * i);
                if (b < 0x80) {
                        *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
                        return ND_OK;
                }
        }
        return ND_ERR_BAD_VARINT;
}

static uint64_t at(const nd_ocf_reader_t *r) {
        return r->off + r->pos;
}

/* The metadata map: keeps avro.schema (in *schemap, allocated) and the
 * codec. */
static nd_err_t read_meta(nd_ocf_reader_t *r, char **schemap, size_t *slenp,
                          char *errstr, size_t errstr_size) {
        char codec[16] = "null";
        nd_err_t err;

        for (;;) {
                int64_t cnt, size;
                if ((err = rd_long(r, &cnt)))
                        goto bad;
                if (cnt == 0)
                        break;
                if (cnt < 0) {
                        /* WHY the test: -INT64_MIN does not exist (found
                         * by fuzz_ocf); it is refused as too many below. */
                        cnt = cnt == INT64_MIN ? INT64_MAX : -cnt;
                        if ((err = rd_long(r, &size)))
                                goto bad;
                }
                if (cnt > 1024)
                        return nd_err_fmt(errstr, errstr_size, ND_ERR_IO,
                                          "header: %" PRId64
                                          " metadata entries at byte %" PRIu64,
                                          cnt, at(r));
                for (int64_t i = 0; i < cnt; i++) {
                        int64_t klen, vlen;
                        char key[64];
                        const uint8_t *val;
                        if ((err = rd_long(r, &klen)))
                                goto bad;
                        if (klen < 0 || klen > HEADER_MAX)
                                goto bad_len;
                        if ((err = fill(r, (size_t)klen)))
                                goto bad;
                        snprintf(key, sizeof(key), "%.*s",
                                 (int)(klen < 63 ? klen : 63),
                                 (const char *)r->buf + r->pos);
                        r->pos += (size_t)klen;
                        if ((err = rd_long(r, &vlen)))
                                goto bad;
                        if (vlen < 0 || vlen > HEADER_MAX)
                                goto bad_len;
                        if ((err = fill(r, (size_t)vlen)))
                                goto bad;
                        val = r->buf + r->pos;
                        if (!strcmp(key, "avro.schema")) {
                                nd_free(*schemap);
                                *schemap =
                                    nd_strndup((const char *)val, (size_t)vlen);
                                *slenp = (size_t)vlen;
                        } else if (!strcmp(key, "avro.codec")) {
                                snprintf(codec, sizeof(codec), "%.*s",
                                         (int)(vlen < 15 ? vlen : 15),
                                         (const char *)val);
                                if (vlen > 15)
                                        codec[0] = '?';
                        }
                        r->pos += (size_t)vlen;
                }
        }
        if (!strcmp(codec, "null"))
                r->codec = ND_OCF_CODEC_NULL;
        else if (!strcmp(codec, "deflate"))
                r->codec = ND_OCF_CODEC_DEFLATE;
        else
                return nd_err_fmt(errstr, errstr_size, ND_ERR_IO,
                                  "codec '%s' is not supported (null, deflate)",
                                  codec);
        if (!*schemap)
                return nd_err_fmt(errstr, errstr_size, ND_ERR_IO,
                                  "header has no avro.schema");
        return ND_OK;
bad_len:
        return nd_err_fmt(errstr, errstr_size, ND_ERR_IO,
                          "header: bad metadata length at byte %" PRIu64,
                          at(r));
bad:
        if (err == ND_ERR_NOMEM || err == ND_ERR_IO)
                return nd_err_fmt(errstr, errstr_size, err, "header: %s",
                                  nd_err_str(err));
        return nd_err_fmt(errstr, errstr_size, ND_ERR_IO,
                          "header is truncated or corrupt at byte %" PRIu64,
                          at(r));
}

nd_err_t nd_ocf_reader_open(nd_serde_t *serde, FILE *f, nd_ocf_reader_t **rp,
                            char *errstr, size_t errstr_size) {
        nd_ocf_reader_t *r = nd_calloc(1, sizeof(*r));
        char *schema = NULL, text[512];
        size_t slen = 0;
        nd_err_t err;

        *rp = NULL;
        r->serde = serde;
        r->f = f;
        r->cap = READ_CHUNK;
        r->buf = nd_malloc(r->cap);
        err = fill(r, ND_OCF_MAGIC_LEN);
        if (err == ND_ERR_IO || err == ND_ERR_NOMEM) {
                nd_err_fmt(errstr, errstr_size, err, "read error: %s",
                           strerror(errno));
                goto fail;
        }
        if (!nd_ocf_has_magic(r->buf, r->len)) {
                err = nd_err_fmt(errstr, errstr_size, ND_ERR_BAD_MAGIC,
                                 "not an Avro object container file (no "
                                 "'Obj\\x01' magic)");
                goto fail;
        }
        r->pos = ND_OCF_MAGIC_LEN;
        if ((err = read_meta(r, &schema, &slen, errstr, errstr_size)))
                goto fail;
        if (fill(r, SYNC_LEN)) {
                err = nd_err_fmt(errstr, errstr_size, ND_ERR_IO,
                                 "header is truncated before its sync marker");
                goto fail;
        }
        memcpy(r->sync, r->buf + r->pos, SYNC_LEN);
        r->pos += SYNC_LEN;
        err = nd_serde_plan_new(serde, schema, slen, &r->plan, &r->topic, text,
                                sizeof(text));
        if (err) {
                nd_err_fmt(errstr, errstr_size, err, "%s", text);
                goto fail;
        }
        if (!nd_serde_plan_is_event(r->plan)) {
                err = nd_err_fmt(errstr, errstr_size, ND_ERR_UNKNOWN_SCHEMA,
                                 "the file holds %s records, not events",
                                 r->topic);
                goto fail;
        }
        if (r->codec == ND_OCF_CODEC_DEFLATE) {
                if (inflateInit2(&r->zs, -15) != Z_OK) {
                        err = nd_err_fmt(errstr, errstr_size, ND_ERR_NOMEM,
                                         "inflateInit2 failed");
                        goto fail;
                }
                r->zs_ready = true;
        }
        nd_free(schema);
        *rp = r;
        return ND_OK;
fail:
        nd_free(schema);
        nd_ocf_reader_close(r);
        return err;
}

void nd_ocf_reader_close(nd_ocf_reader_t *r) {
        if (!r)
                return;
        if (r->zs_ready)
                inflateEnd(&r->zs);
        nd_serde_plan_destroy(r->plan);
        nd_free(r->buf);
        nd_free(r->zbuf);
        nd_free(r->fatal_text);
        nd_free(r);
}

void nd_ocf_reader_raw(const nd_ocf_reader_t *r, const void **bufp,
                       size_t *lenp) {
        *bufp = r->last;
        *lenp = r->last_len;
}

const char *nd_ocf_reader_topic(const nd_ocf_reader_t *r) {
        return r->topic;
}

nd_ocf_codec_t nd_ocf_reader_codec(const nd_ocf_reader_t *r) {
        return r->codec;
}

void nd_ocf_reader_stats(const nd_ocf_reader_t *r, nd_ocf_stats_t *st) {
        *st = r->st;
}

/* Remembers a fatal error: every later call returns it again. */
static nd_err_t fatal(nd_ocf_reader_t *r, nd_err_t err, char *errstr,
                      size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 5, 6), cold));
static nd_err_t fatal(nd_ocf_reader_t *r, nd_err_t err, char *errstr,
                      size_t errstr_size, const char *fmt, ...) {
        char text[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        r->fatal = err;
        r->fatal_text = nd_strdup(text);
        return nd_err_fmt(errstr, errstr_size, err, "%s", text);
}

static nd_err_t inflate_block(nd_ocf_reader_t *r, const uint8_t *src, size_t n,
                              size_t *outp) {
        int zr;
        if (!r->zbuf) {
                r->zcap = n * 4 > READ_CHUNK ? n * 4 : READ_CHUNK;
                if (r->zcap > ND_OCF_MAX_BLOCK)
                        r->zcap = ND_OCF_MAX_BLOCK;
                if (nd_trymalloc((void **)&r->zbuf, r->zcap))
                        return ND_ERR_NOMEM;
        }
        inflateReset(&r->zs);
        r->zs.next_in = (Bytef *)src;
        r->zs.avail_in = (uInt)n;
        r->zs.next_out = r->zbuf;
        r->zs.avail_out = (uInt)r->zcap;
        for (;;) {
                zr = inflate(&r->zs, Z_FINISH);
                if (zr == Z_STREAM_END)
                        break;
                if ((zr == Z_BUF_ERROR || zr == Z_OK) && r->zs.avail_out == 0 &&
                    r->zcap < ND_OCF_MAX_BLOCK) {
                        /* grow the output, keep what is inflated */
                        size_t done = r->zcap, ncap = r->zcap * 2;
                        void *nb;
                        if (ncap > ND_OCF_MAX_BLOCK)
                                ncap = ND_OCF_MAX_BLOCK;
                        if (nd_trymalloc(&nb, ncap))
                                return ND_ERR_NOMEM;
                        memcpy(nb, r->zbuf, done);
                        nd_free(r->zbuf);
                        r->zbuf = nb;
                        r->zcap = ncap;
                        r->zs.next_out = r->zbuf + done;
                        r->zs.avail_out = (uInt)(ncap - done);
                        continue;
                }
                return ND_ERR_BAD_LENGTH; /* corrupt, or over the cap */
        }
        *outp = r->zs.total_out;
        return ND_OK;
}

/* Reads the next block header, data and sync. ND_ERR_NOENT at the end. */
static nd_err_t next_block(nd_ocf_reader_t *r, char *errstr,
                           size_t errstr_size) {
        int64_t cnt, size;
        nd_err_t err;
        const uint8_t *data;
        uint64_t blk = r->st.blocks + 1;

        if ((err = fill(r, 1)) == ND_ERR_TRUNCATED)
                return ND_ERR_NOENT; /* clean end: nothing after the sync */
        r->block_off = at(r);
        if (err || (err = rd_long(r, &cnt)) || (err = rd_long(r, &size)))
                goto bad_read;
        if (cnt < 0 || size < 0 || (uint64_t)size > ND_OCF_MAX_BLOCK)
                return fatal(r, ND_ERR_IO, errstr, errstr_size,
                             "block %" PRIu64 " at byte %" PRIu64
                             ": bad record count %" PRId64 " or size %" PRId64
                             " (at most %u bytes)",
                             blk, r->block_off, cnt, size, ND_OCF_MAX_BLOCK);
        if ((err = fill(r, (size_t)size + SYNC_LEN)))
                goto bad_read;
        data = r->buf + r->pos;
        if (memcmp(data + size, r->sync, SYNC_LEN))
                return fatal(r, ND_ERR_IO, errstr, errstr_size,
                             "block %" PRIu64 " at byte %" PRIu64
                             ": sync marker at byte %" PRIu64
                             " does not match the header's (corrupt file)",
                             blk, r->block_off, at(r) + (uint64_t)size);
        r->pos += (size_t)size + SYNC_LEN;
        if (r->codec == ND_OCF_CODEC_DEFLATE) {
                size_t out = 0;
                err = inflate_block(r, data, (size_t)size, &out);
                if (err == ND_ERR_NOMEM)
                        return fatal(r, err, errstr, errstr_size,
                                     "block %" PRIu64 ": out of memory", blk);
                if (err)
                        return fatal(r, ND_ERR_IO, errstr, errstr_size,
                                     "block %" PRIu64 " at byte %" PRIu64
                                     ": deflate data is corrupt or inflates "
                                     "past %u bytes",
                                     blk, r->block_off, ND_OCF_MAX_BLOCK);
                r->rec = r->zbuf;
                r->rec_end = r->zbuf + out;
        } else {
                r->rec = data;
                r->rec_end = data + size;
        }
        r->left = cnt;
        r->st.blocks++;
        return ND_OK;
bad_read:
        if (err == ND_ERR_TRUNCATED || err == ND_ERR_BAD_VARINT)
                return fatal(r, ND_ERR_IO, errstr, errstr_size,
                             "block %" PRIu64 " at byte %" PRIu64
                             ": the file is truncated or corrupt",
                             blk, r->block_off);
        return fatal(r, err, errstr, errstr_size,
                     "block %" PRIu64 " at byte %" PRIu64 ": %s%s%s", blk,
                     r->block_off, nd_err_str(err),
                     err == ND_ERR_IO ? ": " : "",
                     err == ND_ERR_IO ? strerror(errno) : "");
}

nd_err_t nd_ocf_reader_next(nd_ocf_reader_t *r, nd_event_t *ev, char *errstr,
                            size_t errstr_size) {
        size_t used;
        nd_err_t err;

        if (r->fatal)
                return nd_err_fmt(errstr, errstr_size, r->fatal, "%s",
                                  r->fatal_text);
        while (r->left == 0) {
                if (r->rec != r->rec_end)
                        return fatal(r, ND_ERR_IO, errstr, errstr_size,
                                     "block %" PRIu64 " at byte %" PRIu64
                                     ": %zu bytes left after its records "
                                     "(corrupt file)",
                                     r->st.blocks, r->block_off,
                                     (size_t)(r->rec_end - r->rec));
                if ((err = next_block(r, errstr, errstr_size)))
                        return err;
        }
        err = nd_serde_decode_body(r->serde, r->plan, r->rec,
                                   (size_t)(r->rec_end - r->rec), ev, &used,
                                   errstr, errstr_size);
        if (err == ND_OK || used) {
                r->last = r->rec;
                r->last_len = used;
                r->rec += used;
                r->left--;
                r->st.records++;
                return err;
        }
        /* The record's end is unknown: so is the next one's start. */
        r->st.records++;
        r->st.skipped += (uint64_t)(r->left - 1);
        if (errstr && errstr_size) {
                size_t n = strlen(errstr);
                if (n < errstr_size)
                        snprintf(errstr + n, errstr_size - n,
                                 " (block %" PRIu64 " at byte %" PRIu64
                                 "; its %" PRId64 " later records are "
                                 "skipped)",
                                 r->st.blocks, r->block_off, r->left - 1);
        }
        r->left = 0;
        r->rec = r->rec_end;
        return err;
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */

struct nd_ocf_writer_s {
        nd_serde_t *serde;
        FILE *f;
        nd_event_topic_t topic;
        nd_ocf_codec_t codec;
        uint8_t sync[SYNC_LEN];
        uint8_t *blk; /* encoded records of the open block */
        size_t len, cap, block_size;
        int64_t cnt;
        uint8_t *zbuf;
        size_t zcap;
        bool io_error;
};

static size_t put_long(uint8_t *out, int64_t v) {
        uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
        size_t n = 0;
        while (u >= 0x80) {
                out[n++] = (uint8_t)(u | 0x80);
                u >>= 7;
        }
        out[n++] = (uint8_t)u;
        return n;
}

static void put(nd_ocf_writer_t *w, const void *p, size_t n) {
        if (n && fwrite(p, 1, n, w->f) != n)
                w->io_error = true;
}

static void put_bytes(nd_ocf_writer_t *w, const void *p, size_t n) {
        uint8_t tmp[10];
        put(w, tmp, put_long(tmp, (int64_t)n));
        put(w, p, n);
}

static void random_sync(uint8_t *sync) {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, sync, SYNC_LEN) : -1;
        if (fd >= 0)
                close(fd);
        if (n != SYNC_LEN) { /* WHY: any marker works; unlikely is enough */
                struct timespec ts;
                uint64_t x;
                clock_gettime(CLOCK_REALTIME, &ts);
                x = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^
                    (uint64_t)getpid() ^ (uint64_t)ts.tv_sec << 20;
                for (int i = 0; i < SYNC_LEN; i++) {
                        x ^= x >> 33;
                        x *= 0xff51afd7ed558ccdULL;
                        sync[i] = (uint8_t)(x >> 56);
                }
        }
}

nd_err_t nd_ocf_writer_open(nd_serde_t *serde, FILE *f,
                            nd_event_type_t topic_of,
                            const nd_ocf_writer_opts_t *opts,
                            nd_ocf_writer_t **wp, char *errstr,
                            size_t errstr_size) {
        static const char *const topics[ND_TOPIC__CNT] = {
            [ND_TOPIC_CLICKSTREAM] = "clickstream",
            [ND_TOPIC_CART] = "cart",
            [ND_TOPIC_PURCHASE] = "purchase"};
        static const char *const codecs[2] = {"null", "deflate"};
        nd_ocf_writer_opts_t o = {ND_OCF_CODEC_NULL, 0, NULL};
        nd_ocf_writer_t *w;
        const char *schema;
        size_t slen;
        uint8_t one[1] = {0};

        *wp = NULL;
        if (opts)
                o = *opts;
        if ((unsigned)topic_of >= ND_EV__CNT || (unsigned)o.codec > 1)
                return nd_err_fmt(errstr, errstr_size, ND_ERR_INVAL,
                                  "bad event type or codec");
        w = nd_calloc(1, sizeof(*w));
        w->serde = serde;
        w->f = f;
        w->topic = nd_event_type_topic_of(topic_of);
        w->codec = o.codec;
        w->block_size = o.block_size ? o.block_size : DEFAULT_BLOCK;
        w->cap = w->block_size + 4096;
        w->blk = nd_malloc(w->cap);
        if (o.sync)
                memcpy(w->sync, o.sync, SYNC_LEN);
        else
                random_sync(w->sync);
        schema = nd_serde_reader_schema(serde, topics[w->topic], &slen);

        put(w, ND_OCF_MAGIC, ND_OCF_MAGIC_LEN);
        {
                uint8_t tmp[10];
                put(w, tmp, put_long(tmp, 2)); /* two entries, one block */
        }
        put_bytes(w, "avro.schema", 11);
        put_bytes(w, schema, slen);
        put_bytes(w, "avro.codec", 10);
        put_bytes(w, codecs[w->codec], strlen(codecs[w->codec]));
        put(w, one, 1); /* end of the map */
        put(w, w->sync, SYNC_LEN);
        if (w->io_error) {
                nd_free(w->blk);
                nd_free(w);
                return nd_err_fmt(errstr, errstr_size, ND_ERR_IO,
                                  "cannot write the header: %s",
                                  strerror(errno));
        }
        *wp = w;
        return ND_OK;
}

static void flush_block(nd_ocf_writer_t *w) {
        uint8_t tmp[20];
        size_t n;
        const uint8_t *data = w->blk;
        size_t size = w->len;

        if (w->cnt == 0)
                return;
        if (w->codec == ND_OCF_CODEC_DEFLATE) {
                z_stream zs;
                size_t bound;
                memset(&zs, 0, sizeof(zs));
                if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
                                 Z_DEFAULT_STRATEGY) != Z_OK) {
                        w->io_error = true;
                        return;
                }
                bound = deflateBound(&zs, (uLong)w->len);
                if (bound > w->zcap) {
                        nd_free(w->zbuf);
                        w->zbuf = nd_malloc(bound);
                        w->zcap = bound;
                }
                zs.next_in = w->blk;
                zs.avail_in = (uInt)w->len;
                zs.next_out = w->zbuf;
                zs.avail_out = (uInt)w->zcap;
                if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
                        w->io_error = true;
                size = zs.total_out;
                data = w->zbuf;
                deflateEnd(&zs);
        }
        n = put_long(tmp, w->cnt);
        n += put_long(tmp + n, (int64_t)size);
        put(w, tmp, n);
        put(w, data, size);
        put(w, w->sync, SYNC_LEN);
        w->len = 0;
        w->cnt = 0;
}

nd_err_t nd_ocf_writer_append(nd_ocf_writer_t *w, const nd_event_t *ev) {
        size_t n;
        nd_err_t err;

        if ((unsigned)ev->type >= ND_EV__CNT ||
            nd_event_type_topic_of(ev->type) != w->topic)
                return ND_ERR_INVAL;
        err = nd_serde_encode_event_body(ev, w->blk + w->len, w->cap - w->len,
                                         &n);
        if (err == ND_ERR_INVAL && n > w->cap - w->len) {
                /* does not fit: close the block, make room */
                flush_block(w);
                if (n > w->cap) {
                        nd_free(w->blk);
                        w->cap = n + w->block_size;
                        w->blk = nd_malloc(w->cap);
                }
                err = nd_serde_encode_event_body(ev, w->blk, w->cap, &n);
        }
        if (err)
                return err;
        w->len += n;
        w->cnt++;
        if (w->len >= w->block_size)
                flush_block(w);
        return w->io_error ? ND_ERR_IO : ND_OK;
}

nd_err_t nd_ocf_writer_close(nd_ocf_writer_t *w) {
        bool bad;
        if (!w)
                return ND_OK;
        flush_block(w);
        if (fflush(w->f) != 0)
                w->io_error = true;
        bad = w->io_error;
        nd_free(w->blk);
        nd_free(w->zbuf);
        nd_free(w);
        return bad ? ND_ERR_IO : ND_OK;
}
