/*
 * nudge — error codes.
 *
 * 0 is success and every error is negative, everywhere (STYLE.md §4). The
 * codes come from one map, ND_ERR_MAP, which also gives each its name, its
 * text and its class: RETRIABLE errors are worth a retry with backoff (broker
 * trouble, timeouts), RECORD errors concern one input record (it is counted
 * and dead-lettered, the process goes on), FATAL errors stop the process.
 */
#ifndef ND_ERR_H
#define ND_ERR_H

#include <stdarg.h>
#include <stddef.h>

typedef enum {
        ND_ERR_CLASS_NONE = 0,
        ND_ERR_CLASS_RETRIABLE,
        ND_ERR_CLASS_RECORD,
        ND_ERR_CLASS_FATAL,
} nd_err_class_t;

/* XX(NAME, value, class, text) */
#define ND_ERR_MAP(XX)                                                   \
        XX(NOMEM, -1, FATAL, "out of memory")                            \
        XX(INVAL, -2, FATAL, "invalid argument")                         \
        XX(TIMEOUT, -3, RETRIABLE, "timed out")                          \
        XX(BAD_RECORD, -4, RECORD, "malformed record")                   \
        XX(CONFIG, -5, FATAL, "bad configuration")                       \
        XX(IO, -6, FATAL, "I/O error")                                   \
        XX(KAFKA, -7, RETRIABLE, "Kafka error")                          \
        XX(KAFKA_FATAL, -8, FATAL, "fatal Kafka error")                  \
        XX(NOENT, -9, FATAL, "not found")                                \
        XX(TRUNCATED, -10, RECORD, "record truncated")                   \
        XX(BAD_MAGIC, -11, RECORD, "bad magic byte")                     \
        XX(UNKNOWN_SCHEMA, -12, RECORD, "unknown schema id")             \
        XX(BAD_VARINT, -13, RECORD, "varint overflow")                   \
        XX(BAD_LENGTH, -14, RECORD, "negative or oversized length")      \
        XX(BAD_ENUM, -15, RECORD, "invalid enum index")                  \
        XX(BAD_UNION, -16, RECORD, "invalid union branch")               \
        XX(MISSING_FIELD, -17, RECORD, "missing required field")         \
        XX(WRONG_KEY, -18, RECORD, "Kafka key is not the customer key")  \
        XX(BAD_JSON, -19, RECORD, "malformed JSON")                      \
        XX(BAD_TYPE, -20, RECORD, "field has the wrong type")            \
        XX(FENCED, -21, FATAL, "producer fenced by a newer instance")    \
        XX(ABORTABLE, -22, RETRIABLE, "transaction must be aborted")     \
        XX(STATE, -23, FATAL, "invalid state")                           \
        XX(SHUTDOWN, -24, NONE, "shutting down")                         \
        XX(INCOMPATIBLE_SCHEMA, -25, RECORD,                             \
           "writer schema cannot be read with the reader schema")        \
        XX(REGISTRY, -26, RETRIABLE, "schema registry unavailable")      \
        XX(WRONG_TOPIC, -27, RECORD,                                     \
           "event type does not belong on this topic")                   \
        XX(INPUT_STOP, -28, FATAL,                                       \
           "stopped at a record that cannot be used (errors.tolerance)") \
        XX(OUTPUT_TOO_LARGE, -29, RECORD,                                \
           "output larger than the producer may send")

typedef enum {
        ND_OK = 0,
#define ND_ERR_ENUM_(name, val, cls, text) ND_ERR_##name = val,
        ND_ERR_MAP(ND_ERR_ENUM_)
#undef ND_ERR_ENUM_
} nd_err_t;

/**
 * The one "printf into errstr" of setup functions (STYLE.md §4): formats
 * the message into errstr (errstr_size bytes, always NUL-terminated and
 * truncated to fit; nothing is written when errstr is NULL or errstr_size
 * 0) and returns err, so that a failure path reads
 * `return nd_err_fmt(errstr, errstr_size, ND_ERR_CONFIG, "...", ...);`.
 * Never allocates. Any thread.
 */
nd_err_t nd_err_fmt(char *errstr, size_t errstr_size, nd_err_t err,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/** nd_err_fmt() with a va_list (ap is consumed when errstr is written). */
nd_err_t nd_err_vfmt(char *errstr, size_t errstr_size, nd_err_t err,
                     const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/** Human-readable text of err, like uv_strerror(). Never NULL. */
const char *nd_err_str(nd_err_t err);
/** The code's name without prefix ("BAD_MAGIC"), like uv_err_name(). */
const char *nd_err_name(nd_err_t err);
/** The class of err; ND_ERR_CLASS_NONE for ND_OK. */
nd_err_class_t nd_err_class(nd_err_t err);

#endif
