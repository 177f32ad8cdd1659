/*
 * metrics — a registry of counters, gauges and histograms, rendered in the
 * Prometheus text exposition format (version 0.0.4).
 *
 * A metric family has a name, a help text, a type and a fixed list of label
 * names; each set of label values is one series. The hot path holds a
 * handle to one series, obtained once at set-up:
 *
 *     nd_counter_t *c = nd_metrics_counter(reg, "nudge_events_in_total",
 *         "Events consumed.", 2, (const char *[]){"topic", "type"},
 *         (const char *[]){"cart", "product_added"});
 *     ...
 *     nd_counter_add(c, 1);        (any thread, no lock: relaxed atomics)
 *
 * Values that live elsewhere (consumer lag, state sizes, ...) are read at
 * scrape time instead: nd_metrics_gauge_fn() for one series computed by a
 * callback, nd_metrics_collector() for a family whose series come and go
 * (lag per assigned partition): its callback emits the series it has now.
 *
 * Output: families sorted by name, series by label values (values made of
 * digits only compare as numbers, so partition 2 comes before 10), HELP and
 * TYPE lines, label values escaped, histograms as cumulative
 * `_bucket{le=...}` series then `_sum` and `_count`.
 *
 * Registration and rendering take the registry's mutex; the update calls
 * (nd_counter_add, nd_gauge_set, nd_histogram_observe, ...) never lock.
 * Callbacks run inside nd_metrics_render(), on the rendering thread, with
 * the mutex held: they must not call into the registry, and must read what
 * they report in a thread-safe way (atomics, or their own lock).
 *
 * Handles stay valid until nd_metrics_destroy(). A NULL registry makes
 * every registration return NULL, and every update accepts a NULL handle
 * as a no-op, so code can be written once for "metrics on" and "off".
 *
 * Thread safety: everything may be called from any thread, except
 * nd_metrics_destroy(), which must run after every other call has ended.
 */
#ifndef ND_METRICS_H
#define ND_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "nudge/err.h"

typedef struct nd_metrics_s nd_metrics_t;
typedef struct nd_counter_s nd_counter_t;
typedef struct nd_gauge_s nd_gauge_t;
typedef struct nd_histogram_s nd_histogram_t;
typedef struct nd_metrics_sink_s nd_metrics_sink_t;

typedef enum {
        ND_METRIC_COUNTER = 0,
        ND_METRIC_GAUGE,
        ND_METRIC_HISTOGRAM,
} nd_metric_type_t;

/** At most this many labels per family, and this many histogram buckets. */
#define ND_METRICS_MAX_LABELS  8
#define ND_METRICS_MAX_BUCKETS 32

/**
 * Bucket bounds in seconds for latencies from 1 ms to 10 s (transaction
 * commits): 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10.
 */
extern const double nd_metrics_latency_buckets[];
extern const int nd_metrics_latency_bucket_cnt;

/** A new empty registry. Aborts on out-of-memory, like nd_malloc(). */
nd_metrics_t *nd_metrics_new(void);

/** Frees the registry and every handle. nd_metrics_destroy(NULL): no-op. */
void nd_metrics_destroy(nd_metrics_t *reg);

/*
 * Registration. name must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* not starting with "__" ("le" is refused for
 * histograms); help may be NULL. label_names and label_values hold
 * label_cnt strings each (NULL arrays when label_cnt is 0); every string is
 * copied. The first registration of a name fixes the family's type, help
 * and label names; later ones must repeat the type and label names.
 * Registering existing label values returns the existing series, so two
 * threads asking for the same series share it.
 *
 * Returns NULL (and logs why) when reg is NULL, a name is invalid, or the
 * call does not match the family already registered under that name.
 */
nd_counter_t *nd_metrics_counter(nd_metrics_t *reg, const char *name,
                                 const char *help, int label_cnt,
                                 const char *const *label_names,
                                 const char *const *label_values);

nd_gauge_t *nd_metrics_gauge(nd_metrics_t *reg, const char *name,
                             const char *help, int label_cnt,
                             const char *const *label_names,
                             const char *const *label_values);

/**
 * A histogram series with bucket_cnt upper bounds, strictly increasing and
 * finite (+Inf is implicit), at most ND_METRICS_MAX_BUCKETS. Every series
 * of a family has the family's first bounds; later calls must pass the
 * same ones.
 */
nd_histogram_t *nd_metrics_histogram(nd_metrics_t *reg, const char *name,
                                     const char *help, int label_cnt,
                                     const char *const *label_names,
                                     const char *const *label_values,
                                     const double *bounds, int bucket_cnt);

/** A callback reading one gauge or counter value at scrape time. */
typedef double (*nd_metrics_value_fn)(void *arg);

/**
 * One series (type ND_METRIC_GAUGE or ND_METRIC_COUNTER) whose value is
 * fn(arg), called at each render. ND_OK, or ND_ERR_INVAL as above (also
 * when the label values are already registered in the family).
 */
nd_err_t nd_metrics_gauge_fn(nd_metrics_t *reg, nd_metric_type_t type,
                             const char *name, const char *help, int label_cnt,
                             const char *const *label_names,
                             const char *const *label_values,
                             nd_metrics_value_fn fn, void *arg);

/**
 * A callback that emits the series it has now with
 * nd_metrics_sink_emit(); it may emit none.
 */
typedef void (*nd_metrics_collect_fn)(void *arg, nd_metrics_sink_t *sink);

/**
 * Adds a collector to family name (type ND_METRIC_GAUGE or
 * ND_METRIC_COUNTER), creating the family when new. A family may have
 * several collectors (one per worker, say) and static series as well; the
 * label values they emit should not repeat each other. ND_OK or
 * ND_ERR_INVAL.
 */
nd_err_t nd_metrics_collector(nd_metrics_t *reg, nd_metric_type_t type,
                              const char *name, const char *help, int label_cnt,
                              const char *const *label_names,
                              nd_metrics_collect_fn fn, void *arg);

/**
 * Emits one series from a collector: label_values holds the family's
 * label count of strings (copied). Only inside the collect callback.
 */
void nd_metrics_sink_emit(nd_metrics_sink_t *sink,
                          const char *const *label_values, double value);

/**
 * Removes every callback (nd_metrics_gauge_fn, nd_metrics_collector)
 * registered with arg. Once it returns, none of them runs again, so arg may
 * be freed. Families and static series stay. Returns how many were removed.
 */
int nd_metrics_remove_callbacks(nd_metrics_t *reg, void *arg);

/*
 * Updates: any thread, lock-free (relaxed atomics), no-ops on NULL.
 */
void nd_counter_add(nd_counter_t *c, uint64_t n);
void nd_gauge_set(nd_gauge_t *g, double v);
void nd_gauge_add(nd_gauge_t *g, double delta);
/** Counts v into the first bucket whose bound is >= v and adds it to sum. */
void nd_histogram_observe(nd_histogram_t *h, double v);

/* Reads, for tests and the runtime's own checks; 0 on NULL. */
uint64_t nd_counter_value(const nd_counter_t *c);
double nd_gauge_value(const nd_gauge_t *g);
uint64_t nd_histogram_count(const nd_histogram_t *h);
double nd_histogram_sum(const nd_histogram_t *h);

/**
 * Renders every family into a new NUL-terminated buffer: *out (free it
 * with nd_free()) of *len bytes, the NUL excluded. Calls the callbacks.
 * ND_OK, or ND_ERR_INVAL when reg is NULL (*out = NULL).
 */
nd_err_t nd_metrics_render(nd_metrics_t *reg, char **out, size_t *len);

#endif
