/*
 * faults.h — what the fault tests (tests/faults) share: input events of
 * the three event topics as JSON, and reading back what the engine wrote
 * as a multiset of ids, so that "nothing lost, nothing duplicated" is one
 * comparison.
 *
 * Every wait has a deadline. Thread safety: one thread per object.
 */
#ifndef ND_FAULTS_H
#define ND_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "nd_proc_test.h"

/** The event topics, in the engine's subscription order. */
enum { FT_CLICK = 0, FT_CART, FT_PURCHASE, FT__CNT };

/**
 * One event of topic kind topic as JSON into buf: app_opened (clickstream),
 * product_added of sku S1 to cart k-<customer> (cart) or order_completed
 * of S1 (purchase); event_id id, customer_id customer, timestamp ts.
 */
void ft_event_json(char *buf, size_t size, int topic, const char *id,
                   const char *customer, int64_t ts);

/** A multiset of strings (ids); zero-initialise, then ft_ids_fini(). */
typedef struct ft_ids_s {
        char **v;
        size_t cnt, cap;
        int sorted;
} ft_ids_t;

void ft_ids_add(ft_ids_t *ids, const char *id);
void ft_ids_fini(ft_ids_t *ids);

/** Occurrences of id (sorts ids first). */
size_t ft_ids_count(ft_ids_t *ids, const char *id);

/** Ids present more than once, counting each extra copy (sorts). */
size_t ft_ids_dups(ft_ids_t *ids);

/**
 * Ids of want missing from got, printing the first few to stderr with
 * label (both are sorted; duplicates in want count once).
 */
size_t ft_ids_missing(ft_ids_t *want, ft_ids_t *got, const char *label);

/**
 * Reads topic from the beginning (a new group, read_committed) until every
 * partition reported its end and at least want records were read, or
 * timeout_ms passed: on a topic nobody writes any more, exactly all of
 * it. Each record's id goes into events (JSON values: the "event_id" a
 * passthrough action forwards) or actions (Avro values: the action_id).
 * Returns the records read.
 */
size_t ft_read_ids(const char *topic, size_t want, int timeout_ms,
                   ft_ids_t *events, ft_ids_t *actions);

/** Sum over topic's partitions of their end offsets (what was ever
 * written, transaction markers included); fails the test on error. */
int64_t ft_topic_end(const char *topic);

/**
 * Sum over partitions 0..parts-1 of topic of the offsets group_id has
 * committed (require_stable; a partition without one counts 0), in one
 * request; -1 when the request fails.
 */
int64_t ft_committed_sum(const char *group_id, const char *topic, int parts,
                         int timeout_ms);

/** Lines of p's log that match the extended regex re. */
int ft_log_count(const nd_proc_t *p, const char *re);

/** Waits (deadline) until at least n lines of p's log match re. */
bool ft_wait_log_count(nd_proc_t *p, const char *re, int n, int timeout_ms);

/** Waits (deadline) until the /metrics series on port equals value. */
bool ft_wait_metric_eq(int port, const char *series, double value,
                       int timeout_ms);

#endif
