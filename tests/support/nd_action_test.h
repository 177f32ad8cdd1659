/*
 * nd_action_test — reading the engine's actions back in tests: a
 * Confluent-framed Avro action (magic byte, 4-byte schema id, body) decoded
 * with avro-c's generic reader and schemas/action.avsc, as any downstream
 * sender would, into the few fields tests compare.
 *
 * Thread safety: the schema is loaded once per process (Check forks each
 * test); call from one thread.
 */
#ifndef ND_ACTION_TEST_H
#define ND_ACTION_TEST_H

#include <stddef.h>
#include <stdint.h>

typedef struct nd_at_action_s {
        char id[64];
        char trigger[40];      /* the trigger type, e.g. cart_abandonment */
        char trigger_name[64]; /* the configured name */
        char customer[128];    /* customer_id, else anonymous_id */
        char channel[16];
        int stage;
        int64_t created_at;
} nd_at_action_t;

/**
 * Decodes the framed action value (len bytes) into *out. Fails the running
 * Check test when the value is not a framed action a standard Avro reader
 * can decode.
 */
void nd_at_decode(const void *value, size_t len, nd_at_action_t *out);

#endif
