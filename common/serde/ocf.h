/*
 * ocf — Avro object container files of events: a streaming reader (for
 * `nudge replay`) and a writer (nudge-gen, tests, benchmarks).
 *
 * Format (Avro specification, "Object Container Files"): the magic
 * "Obj\x01", a metadata map (bytes values) with avro.schema (the writer
 * schema's JSON) and avro.codec ("null" or "deflate"; absent means null),
 * a 16-byte sync marker, then blocks of (record count, byte size, the
 * records back to back, possibly deflated, the sync marker again).
 *
 * One file holds the events of ONE topic: its writer schema is a
 * ClickstreamEvent, CartEvent or PurchaseEvent record (any version that
 * resolves against our reader schema of that name, as with the schema
 * registry). The reader compiles the writer schema into serde's decode plan
 * once and decodes every record with it, zero copy: decoded strings point
 * into the reader's block buffer.
 *
 * Memory: the reader keeps one read buffer (1 MiB, grown to the largest
 * block) and, for deflate, one buffer of the inflated block; blocks larger
 * than ND_OCF_MAX_BLOCK (compressed or inflated) are refused. Nothing is
 * allocated per record and the file is read in large chunks.
 *
 * Errors of nd_ocf_reader_next():
 *   - ND_ERR_NOENT: the end of the file, at a block boundary;
 *   - a RECORD-class error: one record is bad and was skipped (call next
 *     again). A record that decodes but fails the contract checks costs
 *     that record only; one that does not decode leaves no way to find the
 *     next record of its block, so the rest of the block is skipped too
 *     (counted in nd_ocf_reader_stats().skipped, said in errstr);
 *   - a FATAL-class error (ND_ERR_IO, ND_ERR_NOMEM): the file is unusable
 *     from here on (a bad sync marker, a truncated block, a negative or
 *     oversized count or size, a deflate error, a read error); errstr says
 *     which block at which byte offset. Further calls return it again.
 *
 * Thread safety: a reader or writer is used by one thread at a time, the
 * same that uses its nd_serde_t.
 */
#ifndef ND_OCF_H
#define ND_OCF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nudge/err.h"
#include "nudge/event.h"
#include "serde.h"

/** The largest block (compressed or inflated) a reader accepts. */
#define ND_OCF_MAX_BLOCK (64u << 20)

/** The file magic. */
#define ND_OCF_MAGIC     "Obj\x01"
#define ND_OCF_MAGIC_LEN 4

typedef enum {
        ND_OCF_CODEC_NULL = 0,
        ND_OCF_CODEC_DEFLATE,
} nd_ocf_codec_t;

typedef struct nd_ocf_reader_s nd_ocf_reader_t;
typedef struct nd_ocf_writer_s nd_ocf_writer_t;

/** true when buf (len bytes) starts with the container magic. */
bool nd_ocf_has_magic(const void *buf, size_t len);

/**
 * Reads the header of the container file f (from its current position)
 * and compiles its writer schema with serde. ND_OK and *rp; else *rp NULL
 * and errstr: ND_ERR_BAD_MAGIC (not a container file), ND_ERR_IO (a
 * truncated or corrupt header, an unknown codec, a read error),
 * ND_ERR_UNKNOWN_SCHEMA / ND_ERR_INCOMPATIBLE_SCHEMA (a writer schema that
 * is not one of our event records or cannot be read with it). f stays the
 * caller's: it is read, never closed. serde must outlive the reader.
 */
nd_err_t nd_ocf_reader_open(nd_serde_t *serde, FILE *f, nd_ocf_reader_t **rp,
                            char *errstr, size_t errstr_size);

/**
 * The next event into *ev (borrowed until the next call: its strings point
 * into the reader's buffers). See the errors above.
 */
nd_err_t nd_ocf_reader_next(nd_ocf_reader_t *r, nd_event_t *ev, char *errstr,
                            size_t errstr_size);

/**
 * The Avro body (unframed, as the writer schema encodes it) of the event
 * the last nd_ocf_reader_next() returned with ND_OK; valid as that event.
 */
void nd_ocf_reader_raw(const nd_ocf_reader_t *r, const void **bufp,
                       size_t *lenp);

/** The topic of the file's records: "clickstream", "cart" or "purchase". */
const char *nd_ocf_reader_topic(const nd_ocf_reader_t *r);

/** The codec of the file. */
nd_ocf_codec_t nd_ocf_reader_codec(const nd_ocf_reader_t *r);

typedef struct nd_ocf_stats_s {
        uint64_t blocks;  /* blocks read */
        uint64_t records; /* records returned (ND_OK) or skipped alone */
        uint64_t skipped; /* records lost with the rest of a bad block */
} nd_ocf_stats_t;

void nd_ocf_reader_stats(const nd_ocf_reader_t *r, nd_ocf_stats_t *st);

/** Frees r (not its FILE). nd_ocf_reader_close(NULL) is a no-op. */
void nd_ocf_reader_close(nd_ocf_reader_t *r);

typedef struct nd_ocf_writer_opts_s {
        nd_ocf_codec_t codec;
        size_t block_size;   /* bytes of records per block; 0: 64 KiB */
        const uint8_t *sync; /* 16 bytes, or NULL: random */
} nd_ocf_writer_opts_t;

/**
 * Starts a container file on f (at its current position) for events of
 * the topic of topic_of, with our reader schema of that topic as the
 * writer schema. opts NULL: null codec, 64 KiB blocks, a random sync
 * marker. ND_OK and *wp, or ND_ERR_INVAL / ND_ERR_IO with errstr. f stays
 * the caller's.
 */
nd_err_t nd_ocf_writer_open(nd_serde_t *serde, FILE *f,
                            nd_event_type_t topic_of,
                            const nd_ocf_writer_opts_t *opts,
                            nd_ocf_writer_t **wp, char *errstr,
                            size_t errstr_size);

/**
 * Appends ev. ND_ERR_INVAL when ev is not of the file's topic or cannot
 * be encoded (nd_serde_encode_event()); ND_ERR_IO when a block could not
 * be written.
 */
nd_err_t nd_ocf_writer_append(nd_ocf_writer_t *w, const nd_event_t *ev);

/**
 * Writes the last block, flushes f and frees w (also on error). ND_OK or
 * ND_ERR_IO (some block was not written). nd_ocf_writer_close(NULL) is
 * ND_OK.
 */
nd_err_t nd_ocf_writer_close(nd_ocf_writer_t *w);

#endif
