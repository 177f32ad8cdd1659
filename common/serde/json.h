/*
 * json — the JSON side of serde: one JSON object per record decoded into
 * nd_event_t / nd_product_rec_t, and actions written as JSON lines.
 *
 * Only serde calls the decoders (nd_serde_decode_json() and
 * nd_serde_decode_product_json() wrap them and add the contract checks);
 * the writers nd_action_write_json(), nd_event_write_json() and
 * nd_product_write_json() are for everyone, through serde.h, which
 * includes this header. The dependency is one way: json needs only the
 * public headers (the names of nudge/event.h and nudge/action.h), never
 * serde.h.
 *
 * Parsing uses jansson (libjansson, Debian's well-kept JSON library, which
 * avro-c itself depends on). Decoded strings point into the document the
 * nd_json_dec_t keeps until its next decode or nd_json_dec_fini(), lists into
 * its scratch arrays. Field rules: the names of TRIGGERS.md §1; a missing
 * field and null are the same; unknown fields are ignored; a required field
 * that is missing or null is MISSING_FIELD, a value of the wrong JSON type
 * BAD_TYPE, an unknown enum name BAD_ENUM, a list over its cap BAD_LENGTH,
 * unparseable text BAD_JSON. Defaults follow the reader schemas: channel
 * "other", device_type "unknown", quantity of a line 1, in_stock true.
 *
 * Thread safety: one thread at a time per nd_json_dec_t.
 */
#ifndef ND_JSON_H
#define ND_JSON_H

#include <stddef.h>

#include "nudge/action.h"
#include "nudge/err.h"
#include "nudge/event.h"

typedef struct nd_json_dec_s {
        void *doc; /* json_t *: the last parsed record */
        nd_line_item_t lines[ND_EVENT_MAX_ITEMS];
        nd_str_t strs[ND_PRODUCT_MAX_COMPLEMENTS];
} nd_json_dec_t;

void nd_json_dec_init(nd_json_dec_t *dec);
void nd_json_dec_fini(nd_json_dec_t *dec);

/** Decodes without the contract checks (serde adds them). */
nd_err_t nd_json_decode_event(nd_json_dec_t *dec, const void *buf, size_t len,
                              nd_event_t *ev, char *errstr, size_t errstr_size);
nd_err_t nd_json_decode_product(nd_json_dec_t *dec, const void *buf, size_t len,
                                nd_product_rec_t *prod, char *errstr,
                                size_t errstr_size);

/**
 * Writes act as one line of JSON (the field names of §4, a trailing '\n')
 * into buf, NUL-terminated. ND_OK and *lenp (without the NUL), or
 * ND_ERR_INVAL when cap is too small (*lenp: the length needed).
 */
nd_err_t nd_action_write_json(const nd_action_t *act, char *buf, size_t cap,
                              size_t *lenp);

/**
 * Writes ev as one JSON object (TRIGGERS.md §1 field names: the fields of
 * its topic's schema, nulls as null, a trailing '\n') into buf,
 * NUL-terminated; as nd_action_write_json(). nd_serde_decode_json() reads
 * it back as the same event.
 */
nd_err_t nd_event_write_json(const nd_event_t *ev, char *buf, size_t cap,
                             size_t *lenp);

/** Same for a catalog record (every field of schemas/catalog.avsc). */
nd_err_t nd_product_write_json(const nd_product_rec_t *prod, char *buf,
                               size_t cap, size_t *lenp);

#endif
