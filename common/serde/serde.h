/*
 * serde — bytes <-> events and actions (TRIGGERS.md §1 and §4).
 *
 * One nd_serde_t per worker thread. It decodes
 *   - Confluent-framed Avro (magic 0, 4-byte big-endian schema id, body) of
 *     the event topics into nd_event_t, and of the catalog into
 *     nd_product_rec_t, with zero copies: strings point into the message
 *     buffer, lists into arrays owned by the nd_serde_t, and the steady state
 *     allocates nothing;
 *   - JSON, one object per record, into the same structs (strings then point
 *     into a parsed document the nd_serde_t keeps until the next decode);
 * and encodes nd_action_t as Confluent-framed Avro with schemas/action.avsc,
 * events and catalog records with their reader schemas (and as JSON lines).
 * Writer schemas with the shipped layout decode through decoders written
 * out in C; any other goes through the plan interpreter (SERDE.md).
 *
 * Schemas. The reader schemas are schemas/{clickstream,cart,purchase,
 * catalog}.avsc in conf->schema_dir. A record's writer schema is found by
 * the id in its frame: with a registry URL, through the Confluent schema
 * registry (GET /schemas/ids/{id}, a blocking HTTP call at the FIRST sight
 * of an id, cached for the life of the nd_serde_t); without, through the ids
 * of the configuration, each naming one local file. The writer schema is
 * resolved against the reader schema of the same record name with Avro's
 * rules (fields matched by name, reader defaults for fields the writer
 * lacks, writer-only fields skipped, int->long->float->double and
 * string<->bytes promotion, unions matched branch by branch) into a decode
 * plan, compiled once per schema id. See docs/internals/SERDE.md.
 *
 * Lifetime of decoded data: everything an nd_event_t or nd_product_rec_t
 * points to is valid until the next decode call on the same nd_serde_t, and
 * as long as the input buffer lives (Avro).
 *
 * Errors: a bad record returns a RECORD-class nd_err_t (TRUNCATED,
 * BAD_MAGIC, UNKNOWN_SCHEMA, INCOMPATIBLE_SCHEMA, BAD_VARINT, BAD_LENGTH,
 * BAD_ENUM, BAD_UNION, MISSING_FIELD, BAD_JSON, BAD_TYPE) with a short text
 * in errstr naming the field ("field 'products[2].sku': length 4000000
 * exceeds record"). ND_ERR_REGISTRY (RETRIABLE) means the registry could
 * not be asked: the record is fine, retry later, do not dead-letter it.
 *
 * Thread safety: an nd_serde_t is used by one thread at a time. Several may
 * exist in one process; creating them is thread-safe.
 */
#ifndef ND_SERDE_H
#define ND_SERDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h" /* the JSON writers; json.h does not include serde.h */
#include "nudge/action.h"
#include "nudge/err.h"
#include "nudge/event.h"

struct nd_config_s;

typedef struct nd_serde_s nd_serde_t;

/* Flags of nd_serde_conf_t */
/* Skip the contract checks after decoding (required fields per type, the
 * customer key): the differential test and the fuzzers compare raw decodes. */
#define ND_SERDE_F_NO_VALIDATE 0x1
/* Decode with the plan interpreter only, never the specialised decoders of
 * the shipped schemas (tests and the bench compare the two). */
#define ND_SERDE_F_NO_FAST 0x2

/** The most nesting a writer schema may have (also stops recursive ones). */
#define ND_SERDE_MAX_DEPTH 32

typedef struct nd_serde_conf_s {
        const char *schema_dir;   /* NULL or "": ND_SOURCE_DIR "/schemas" */
        const char *registry_url; /* NULL or "": local mode */
        long registry_timeout_ms; /* 0: 5000 */
        /* the registry is asked on a thread of its own: decoding never
         * blocks, a record of an id not fetched yet fails with
         * ND_ERR_REGISTRY until the answer is in (the engine's workers) */
        bool registry_async;
        /* Local mode: the id of each local schema file; 0 = none. In registry
         * mode only id_action is used (the frame of encoded actions). */
        int32_t id_clickstream;
        int32_t id_cart;
        int32_t id_purchase;
        int32_t id_catalog;
        int32_t id_action;
        unsigned flags; /* ND_SERDE_F_* */
} nd_serde_conf_t;

/** Fills conf from the schema.* keys of cfg (strings stay cfg's). */
void nd_serde_conf_from_config(nd_serde_conf_t *conf,
                               const struct nd_config_s *cfg);

/**
 * Creates a decoder/encoder: parses the reader schemas (and in local mode
 * compiles the plans of the configured ids), and checks that the TriggerType
 * symbols of action.avsc in the same directory are the trigger types of
 * nudge/action.h in their order (actions are written with that index).
 * Returns ND_OK, or ND_ERR_CONFIG / ND_ERR_IO with errstr, *serdep NULL.
 */
nd_err_t nd_serde_new(const nd_serde_conf_t *conf, nd_serde_t **serdep,
                      char *errstr, size_t errstr_size);
/** nd_serde_destroy(NULL) is a no-op. */
void nd_serde_destroy(nd_serde_t *serde);

/**
 * Registers writer schema json (len bytes) under id, replacing an earlier
 * one: tests, tools, and the registry path. Returns ND_OK or the error a
 * record with this id would get (UNKNOWN_SCHEMA: not parseable or not one
 * of ours; INCOMPATIBLE_SCHEMA: cannot be read with the reader schema).
 */
nd_err_t nd_serde_add_schema(nd_serde_t *serde, int32_t id, const char *json,
                             size_t len, char *errstr, size_t errstr_size);

/**
 * Decodes one Confluent-framed Avro event. Returns ND_OK and fills *ev, or a
 * RECORD-class error (or ND_ERR_REGISTRY) with errstr. A catalog schema id
 * is UNKNOWN_SCHEMA here. Unless ND_SERDE_F_NO_VALIDATE, also checks the
 * contract (nd_serde_validate_event()).
 */
nd_err_t nd_serde_decode(nd_serde_t *serde, const void *buf, size_t len,
                         nd_event_t *ev, char *errstr, size_t errstr_size);

/** Decodes one JSON object (TRIGGERS.md §1) into *ev; as above. */
nd_err_t nd_serde_decode_json(nd_serde_t *serde, const void *buf, size_t len,
                              nd_event_t *ev, char *errstr, size_t errstr_size);

/** Decodes one Confluent-framed Avro catalog record. */
nd_err_t nd_serde_decode_product(nd_serde_t *serde, const void *buf, size_t len,
                                 nd_product_rec_t *prod, char *errstr,
                                 size_t errstr_size);

/** Decodes one JSON catalog record. */
nd_err_t nd_serde_decode_product_json(nd_serde_t *serde, const void *buf,
                                      size_t len, nd_product_rec_t *prod,
                                      char *errstr, size_t errstr_size);

/**
 * The contract checks both decoders run: sets ev->key / key_is_customer,
 * then ND_ERR_MISSING_FIELD when event_id is empty, neither id is set, a
 * product event lacks product.sku, an order event lacks order_id,
 * message_clicked lacks campaign_id, or a line item lacks its sku.
 */
nd_err_t nd_serde_validate_event(nd_event_t *ev, char *errstr,
                                 size_t errstr_size);

/**
 * ND_OK when the Kafka key (key_len bytes) is ev's customer key, else
 * ND_ERR_WRONG_KEY with errstr quoting both (cut to a readable length).
 */
nd_err_t nd_serde_check_key(const nd_event_t *ev, const void *key,
                            size_t key_len, char *errstr, size_t errstr_size);

/**
 * Encodes act as Confluent-framed Avro (schemas/action.avsc, frame id
 * conf->id_action) into buf. Returns ND_OK and *lenp; ND_ERR_INVAL when
 * cap is too small (*lenp is then the size needed) or a required field
 * (action_id, trigger_name, a known trigger and channel) is missing.
 * Allocation-free.
 */
nd_err_t nd_serde_encode_action(nd_serde_t *serde, const nd_action_t *act,
                                void *buf, size_t cap, size_t *lenp);

/**
 * Encodes ev as Confluent-framed Avro with the reader schema of its topic
 * (by ev->type: schemas/{clickstream,cart,purchase}.avsc) and the configured
 * id of that schema (conf->id_clickstream/id_cart/id_purchase, 0 when not
 * configured). Fields the topic's schema lacks are not written (a
 * clickstream event's cart_id, say). Returns ND_OK and *lenp; ND_ERR_INVAL
 * when cap is too small (*lenp is then the size needed) or ev is not valid:
 * it fails the contract checks of nd_serde_validate_event() (ev->key is
 * not needed: it is derived from the ids), an enum is out of range, a list
 * has more than its cap or a NULL array, or a quantity does not fit the
 * schema's int. Allocation-free; uses serde only for the ids.
 */
nd_err_t nd_serde_encode_event(nd_serde_t *serde, const nd_event_t *ev,
                               void *buf, size_t cap, size_t *lenp);

/**
 * Encodes prod as Confluent-framed Avro (schemas/catalog.avsc, frame id
 * conf->id_catalog); as nd_serde_encode_event(). Invalid: an empty sku, a
 * NULL complements array with complement_cnt > 0, or more than
 * ND_PRODUCT_MAX_COMPLEMENTS of them.
 */
nd_err_t nd_serde_encode_product(nd_serde_t *serde,
                                 const nd_product_rec_t *prod, void *buf,
                                 size_t cap, size_t *lenp);

/* The JSON writers nd_action_write_json(), nd_event_write_json() and
 * nd_product_write_json() are declared in json.h, included above. */

/*
 * Writer schemas without a schema id: Avro object container files carry
 * their writer schema in the header (common/serde/ocf.h builds on these).
 */

/** A decode plan of one writer schema, owned by the caller. */
typedef struct nd_serde_plan_s nd_serde_plan_t;

/**
 * Compiles writer schema json (len bytes) against our reader schema of the
 * same record name, as nd_serde_add_schema() does. ND_OK and *planp, or
 * UNKNOWN_SCHEMA / INCOMPATIBLE_SCHEMA with errstr. *topicp (may be NULL)
 * is the reader: "clickstream", "cart", "purchase" or "catalog".
 */
nd_err_t nd_serde_plan_new(nd_serde_t *serde, const char *json, size_t len,
                           nd_serde_plan_t **planp, const char **topicp,
                           char *errstr, size_t errstr_size);
/** nd_serde_plan_destroy(NULL) is a no-op. */
void nd_serde_plan_destroy(nd_serde_plan_t *plan);
/** true when plan decodes events (false: catalog records). */
bool nd_serde_plan_is_event(const nd_serde_plan_t *plan);

/**
 * Decodes one unframed Avro event body at buf with plan, reading at most
 * len bytes (more may follow: the next record of a block). ND_OK with *ev
 * and *usedp (the bytes the record took), or a RECORD-class error with
 * errstr; *usedp is then the record's length when it was read whole (a
 * contract failure) and 0 when its end is unknown. Contract checks as
 * nd_serde_decode(); lifetime of the decoded data as there.
 */
nd_err_t nd_serde_decode_body(nd_serde_t *serde, const nd_serde_plan_t *plan,
                              const void *buf, size_t len, nd_event_t *ev,
                              size_t *usedp, char *errstr, size_t errstr_size);

/**
 * The unframed Avro body of ev as nd_serde_encode_event() writes it (same
 * rules and errors), for container files.
 */
nd_err_t nd_serde_encode_event_body(const nd_event_t *ev, void *buf, size_t cap,
                                    size_t *lenp);

/**
 * The text of the reader schema of topic ("clickstream", "cart",
 * "purchase", "catalog"), valid while serde lives; NULL if unknown.
 */
const char *nd_serde_reader_schema(const nd_serde_t *serde, const char *topic,
                                   size_t *lenp);

/** Decode counters of this nd_serde_t (tests, bench, metrics). */
typedef struct nd_serde_stats_s {
        uint64_t decoded;          /* records decoded successfully */
        uint64_t decoded_fast;     /* records a specialised decoder read */
        uint64_t failed;           /* records that returned an error */
        uint64_t plans;            /* decode plans compiled */
        uint64_t registry_fetches; /* schema texts fetched over HTTP */
} nd_serde_stats_t;

void nd_serde_stats(const nd_serde_t *serde, nd_serde_stats_t *stats);

#endif
