/*
 * metrics.c — the registry behind /metrics.
 *
 * OVERALL DESIGN. The registry is a sorted array of families, each holding
 * a sorted array of series and a list of collectors. Everything structural
 * (adding a family, a series, a collector; removing callbacks; rendering)
 * happens under one mutex, so the renderer sees stable arrays. The values
 * themselves are plain 64-bit atomics inside each series: a counter is a
 * uint64_t, a gauge is the bit pattern of a double (set with a store,
 * added to with a compare-and-swap loop), a histogram is one count per
 * bucket plus the bits of its double sum. Updates use relaxed ordering:
 * each value is exact on its own, and a scrape may see a histogram's sum
 * and buckets a few observations apart, which Prometheus tolerates (the
 * count we print is the sum of the buckets, so `_count` always equals the
 * `+Inf` bucket).
 *
 * Series are allocated one by one and never move, so a handle is a plain
 * pointer into the series and stays valid until the registry dies. Series
 * and families are only removed by nd_metrics_remove_callbacks() (callback
 * series) and nd_metrics_destroy(), never static ones: a handle held by a
 * worker can never dangle.
 *
 * Rendering gathers the rows of a family (static series, then whatever the
 * collectors emit into a sink), sorts them by label values and prints them.
 * Collector rows are copied into the sink and freed once the family is
 * printed, so the memory of a render is bounded by its largest family plus
 * the output.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "metrics.h"

const double nd_metrics_latency_buckets[] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const int nd_metrics_latency_bucket_cnt =
    (int)(sizeof(nd_metrics_latency_buckets) /
          sizeof(nd_metrics_latency_buckets[0]));

struct nd_counter_s {
        _Atomic uint64_t v;
};

struct nd_gauge_s {
        _Atomic uint64_t bits; /* a double's bit pattern */
};

struct nd_histogram_s {
        int bucket_cnt;            /* finite bounds; +Inf comes after */
        const double *bounds;      /* the family's */
        _Atomic uint64_t sum_bits; /* a double's bit pattern */
        _Atomic uint64_t counts[]; /* bucket_cnt + 1, not cumulative */
};

struct series {
        char **values;          /* the family's label_cnt values */
        nd_metrics_value_fn fn; /* NULL: a static series */
        void *arg;
        union {
                nd_counter_t c;
                nd_gauge_t g;
        } u;
        nd_histogram_t *h; /* histograms only */
};

struct collector {
        nd_metrics_collect_fn fn;
        void *arg;
};

struct family {
        char *name;
        char *help;
        nd_metric_type_t type;
        int label_cnt;
        char **label_names;
        double *bounds; /* histograms only */
        int bucket_cnt;
        struct series **series; /* sorted by label values */
        int series_cnt, series_cap;
        struct collector *colls;
        int coll_cnt, coll_cap;
};

struct nd_metrics_s {
        pthread_mutex_t lock;
        struct family **fams; /* sorted by name */
        int fam_cnt, fam_cap;
};

/* One printed line's worth of data, gathered before sorting. */
struct row {
        const char *const *values;
        const struct series *s; /* NULL: an emitted value */
        double v;
};

struct nd_metrics_sink_s {
        const struct family *fam;
        struct row *rows;
        int cnt, cap;
        char **owned; /* emitted label copies, one per row */
        int owned_cnt;
};

struct buf {
        char *p;
        size_t len, cap;
};

static uint64_t d2u(double d) {
        uint64_t u;
        memcpy(&u, &d, sizeof(u));
        return u;
}

static double u2d(uint64_t u) {
        double d;
        memcpy(&d, &u, sizeof(d));
        return d;
}

/* Grows array arr of cnt elements (room for cap) so that one more fits. */
#define GROW(arr, cnt, cap)                                                    \
        do {                                                                   \
                if ((cnt) >= (cap)) {                                          \
                        (cap) = (cap) ? (cap)*2 : 8;                           \
                        (arr) =                                                \
                            nd_realloc((arr), (size_t)(cap) * sizeof(*(arr))); \
                }                                                              \
        } while (0)

/* ------------------------------------------------------------------ */
/* Names and label values.                                             */

static bool valid_name(const char *s, bool colon) {
        if (!s || !*s)
                return false;
        for (const char *p = s; *p; p++) {
                char c = *p;
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          c == '_' || (colon && c == ':') ||
                          (p != s && c >= '0' && c <= '9');
                if (!ok)
                        return false;
        }
        return true;
}

static bool all_digits(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

/* Digit-only strings compare as numbers (partition 2 before 10). */
static int value_cmp(const char *a, const char *b) {
        if (all_digits(a) && all_digits(b)) {
                while (*a == '0' && a[1])
                        a++;
                while (*b == '0' && b[1])
                        b++;
                size_t la = strlen(a), lb = strlen(b);
                if (la != lb)
                        return la < lb ? -1 : 1;
        }
        return strcmp(a, b);
}

static int values_cmp(const char *const *a, const char *const *b, int cnt) {
        for (int i = 0; i < cnt; i++) {
                int c = value_cmp(a[i], b[i]);
                if (c)
                        return c;
        }
        return 0;
}

static char **copy_strings(const char *const *src, int cnt) {
        char **dst;
        if (cnt == 0)
                return NULL;
        dst = nd_malloc((size_t)cnt * sizeof(*dst));
        for (int i = 0; i < cnt; i++)
                dst[i] = nd_strdup(src[i]);
        return dst;
}

static void free_strings(char **s, int cnt) {
        if (!s)
                return;
        for (int i = 0; i < cnt; i++)
                nd_free(s[i]);
        nd_free(s);
}

/* ------------------------------------------------------------------ */
/* Registry.                                                           */

nd_metrics_t *nd_metrics_new(void) {
        nd_metrics_t *reg = nd_calloc(1, sizeof(*reg));
        pthread_mutex_init(&reg->lock, NULL);
        return reg;
}

static void series_free(struct series *s, int label_cnt) {
        free_strings(s->values, label_cnt);
        nd_free(s->h);
        nd_free(s);
}

static void family_free(struct family *f) {
        for (int i = 0; i < f->series_cnt; i++)
                series_free(f->series[i], f->label_cnt);
        nd_free(f->series);
        nd_free(f->colls);
        free_strings(f->label_names, f->label_cnt);
        nd_free(f->bounds);
        nd_free(f->help);
        nd_free(f->name);
        nd_free(f);
}

void nd_metrics_destroy(nd_metrics_t *reg) {
        if (!reg)
                return;
        for (int i = 0; i < reg->fam_cnt; i++)
                family_free(reg->fams[i]);
        nd_free(reg->fams);
        pthread_mutex_destroy(&reg->lock);
        nd_free(reg);
}

static const char *type_name(nd_metric_type_t type) {
        switch (type) {
        case ND_METRIC_COUNTER:
                return "counter";
        case ND_METRIC_GAUGE:
                return "gauge";
        case ND_METRIC_HISTOGRAM:
                return "histogram";
        }
        return "untyped";
}

static bool check_args(const char *name, nd_metric_type_t type, int label_cnt,
                       const char *const *label_names,
                       const char *const *label_values) {
        if (!valid_name(name, true)) {
                nd_log_warn("metrics", "invalid metric name '%s'",
                            name ? name : "(null)");
                return false;
        }
        if (label_cnt < 0 || label_cnt > ND_METRICS_MAX_LABELS ||
            (label_cnt > 0 && !label_names)) {
                nd_log_warn("metrics", "%s: bad label count %d", name,
                            label_cnt);
                return false;
        }
        for (int i = 0; i < label_cnt; i++) {
                const char *l = label_names[i];
                if (!valid_name(l, false) || !strncmp(l, "__", 2) ||
                    (type == ND_METRIC_HISTOGRAM && !strcmp(l, "le"))) {
                        nd_log_warn("metrics", "%s: invalid label name '%s'",
                                    name, l ? l : "(null)");
                        return false;
                }
                for (int j = 0; j < i; j++)
                        if (!strcmp(l, label_names[j])) {
                                nd_log_warn("metrics",
                                            "%s: label '%s' given twice", name,
                                            l);
                                return false;
                        }
                if (label_values && !label_values[i]) {
                        nd_log_warn("metrics", "%s: label '%s' has no value",
                                    name, l);
                        return false;
                }
        }
        return true;
}

/*
 * The family called name, created when missing; NULL when it exists with
 * another shape. Called with the lock held.
 */
static struct family *family_get(nd_metrics_t *reg, const char *name,
                                 const char *help, nd_metric_type_t type,
                                 int label_cnt, const char *const *label_names,
                                 const double *bounds, int bucket_cnt) {
        int lo = 0, hi = reg->fam_cnt;
        struct family *f;

        while (lo < hi) {
                int mid = (lo + hi) / 2;
                int c = strcmp(reg->fams[mid]->name, name);
                if (c == 0) {
                        f = reg->fams[mid];
                        bool same = f->type == type &&
                                    f->label_cnt == label_cnt &&
                                    f->bucket_cnt == bucket_cnt;
                        for (int i = 0; same && i < label_cnt; i++)
                                same =
                                    !strcmp(f->label_names[i], label_names[i]);
                        for (int i = 0; same && i < bucket_cnt; i++)
                                same = f->bounds[i] == bounds[i];
                        if (!same)
                                nd_log_warn("metrics",
                                            "%s: registered again with another "
                                            "type, labels or buckets",
                                            name);
                        return same ? f : NULL;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        f = nd_calloc(1, sizeof(*f));
        f->name = nd_strdup(name);
        f->help = nd_strdup(help ? help : "");
        f->type = type;
        f->label_cnt = label_cnt;
        f->label_names = copy_strings(label_names, label_cnt);
        if (bucket_cnt > 0) {
                f->bounds = nd_malloc((size_t)bucket_cnt * sizeof(double));
                memcpy(f->bounds, bounds, (size_t)bucket_cnt * sizeof(double));
        }
        f->bucket_cnt = bucket_cnt;
        GROW(reg->fams, reg->fam_cnt, reg->fam_cap);
        memmove(&reg->fams[lo + 1], &reg->fams[lo],
                (size_t)(reg->fam_cnt - lo) * sizeof(*reg->fams));
        reg->fams[lo] = f;
        reg->fam_cnt++;
        return f;
}

/*
 * The series of f with these label values: *found tells whether it
 * existed; otherwise a new one is inserted in order. Lock held.
 */
static struct series *series_get(struct family *f,
                                 const char *const *label_values, bool *found) {
        int lo = 0, hi = f->series_cnt;
        struct series *s;

        while (lo < hi) {
                int mid = (lo + hi) / 2;
                int c = values_cmp((const char *const *)f->series[mid]->values,
                                   label_values, f->label_cnt);
                if (c == 0) {
                        *found = true;
                        return f->series[mid];
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        s = nd_calloc(1, sizeof(*s));
        s->values = copy_strings(label_values, f->label_cnt);
        if (f->type == ND_METRIC_HISTOGRAM) {
                size_t n = (size_t)f->bucket_cnt + 1;
                s->h = nd_calloc(1, sizeof(*s->h) + n * sizeof(uint64_t));
                s->h->bucket_cnt = f->bucket_cnt;
                s->h->bounds = f->bounds;
        }
        GROW(f->series, f->series_cnt, f->series_cap);
        memmove(&f->series[lo + 1], &f->series[lo],
                (size_t)(f->series_cnt - lo) * sizeof(*f->series));
        f->series[lo] = s;
        f->series_cnt++;
        return s;
}

/* Registers a static series; NULL on a mismatch. */
static struct series *reg_static(nd_metrics_t *reg, nd_metric_type_t type,
                                 const char *name, const char *help,
                                 int label_cnt, const char *const *label_names,
                                 const char *const *label_values,
                                 const double *bounds, int bucket_cnt) {
        struct family *f;
        struct series *s = NULL;
        bool found;

        if (!reg ||
            !check_args(name, type, label_cnt, label_names, label_values))
                return NULL;
        if (label_cnt > 0 && !label_values) {
                nd_log_warn("metrics", "%s: label values missing", name);
                return NULL;
        }
        pthread_mutex_lock(&reg->lock);
        f = family_get(reg, name, help, type, label_cnt, label_names, bounds,
                       bucket_cnt);
        if (f) {
                s = series_get(f, label_values, &found);
                if (found && s->fn) {
                        nd_log_warn("metrics",
                                    "%s: series already computed by a "
                                    "callback",
                                    name);
                        s = NULL;
                }
        }
        pthread_mutex_unlock(&reg->lock);
        return s;
}

nd_counter_t *nd_metrics_counter(nd_metrics_t *reg, const char *name,
                                 const char *help, int label_cnt,
                                 const char *const *label_names,
                                 const char *const *label_values) {
        struct series *s =
            reg_static(reg, ND_METRIC_COUNTER, name, help, label_cnt,
                       label_names, label_values, NULL, 0);
        return s ? &s->u.c : NULL;
}

nd_gauge_t *nd_metrics_gauge(nd_metrics_t *reg, const char *name,
                             const char *help, int label_cnt,
                             const char *const *label_names,
                             const char *const *label_values) {
        struct series *s =
            reg_static(reg, ND_METRIC_GAUGE, name, help, label_cnt, label_names,
                       label_values, NULL, 0);
        return s ? &s->u.g : NULL;
}

nd_histogram_t *nd_metrics_histogram(nd_metrics_t *reg, const char *name,
                                     const char *help, int label_cnt,
                                     const char *const *label_names,
                                     const char *const *label_values,
                                     const double *bounds, int bucket_cnt) {
        struct series *s;

        if (bucket_cnt < 1 || bucket_cnt > ND_METRICS_MAX_BUCKETS || !bounds) {
                nd_log_warn("metrics", "%s: bad bucket count %d",
                            name ? name : "(null)", bucket_cnt);
                return NULL;
        }
        for (int i = 0; i < bucket_cnt; i++)
                if (!isfinite(bounds[i]) ||
                    (i > 0 && !(bounds[i] > bounds[i - 1]))) {
                        nd_log_warn("metrics",
                                    "%s: bucket bounds must be finite and "
                                    "increasing",
                                    name ? name : "(null)");
                        return NULL;
                }
        s = reg_static(reg, ND_METRIC_HISTOGRAM, name, help, label_cnt,
                       label_names, label_values, bounds, bucket_cnt);
        return s ? s->h : NULL;
}

nd_err_t nd_metrics_gauge_fn(nd_metrics_t *reg, nd_metric_type_t type,
                             const char *name, const char *help, int label_cnt,
                             const char *const *label_names,
                             const char *const *label_values,
                             nd_metrics_value_fn fn, void *arg) {
        struct family *f;
        struct series *s;
        bool found = false;
        nd_err_t err = ND_ERR_INVAL;

        if (!reg || !fn || type == ND_METRIC_HISTOGRAM ||
            (label_cnt > 0 && !label_values) ||
            !check_args(name, type, label_cnt, label_names, label_values))
                return ND_ERR_INVAL;
        pthread_mutex_lock(&reg->lock);
        f = family_get(reg, name, help, type, label_cnt, label_names, NULL, 0);
        if (!f)
                goto out;
        s = series_get(f, label_values, &found);
        if (found) {
                nd_log_warn("metrics", "%s: series registered twice", name);
                goto out;
        }
        s->fn = fn;
        s->arg = arg;
        err = ND_OK;
out:
        pthread_mutex_unlock(&reg->lock);
        return err;
}

nd_err_t nd_metrics_collector(nd_metrics_t *reg, nd_metric_type_t type,
                              const char *name, const char *help, int label_cnt,
                              const char *const *label_names,
                              nd_metrics_collect_fn fn, void *arg) {
        struct family *f;
        nd_err_t err = ND_ERR_INVAL;

        if (!reg || !fn || type == ND_METRIC_HISTOGRAM ||
            !check_args(name, type, label_cnt, label_names, NULL))
                return ND_ERR_INVAL;
        pthread_mutex_lock(&reg->lock);
        f = family_get(reg, name, help, type, label_cnt, label_names, NULL, 0);
        if (f) {
                GROW(f->colls, f->coll_cnt, f->coll_cap);
                f->colls[f->coll_cnt].fn = fn;
                f->colls[f->coll_cnt].arg = arg;
                f->coll_cnt++;
                err = ND_OK;
        }
        pthread_mutex_unlock(&reg->lock);
        return err;
}

int nd_metrics_remove_callbacks(nd_metrics_t *reg, void *arg) {
        int removed = 0;

        if (!reg)
                return 0;
        pthread_mutex_lock(&reg->lock);
        for (int i = 0; i < reg->fam_cnt; i++) {
                struct family *f = reg->fams[i];
                int k = 0;
                for (int j = 0; j < f->series_cnt; j++) {
                        struct series *s = f->series[j];
                        if (s->fn && s->arg == arg) {
                                series_free(s, f->label_cnt);
                                removed++;
                        } else {
                                f->series[k++] = s;
                        }
                }
                f->series_cnt = k;
                k = 0;
                for (int j = 0; j < f->coll_cnt; j++) {
                        if (f->colls[j].arg == arg)
                                removed++;
                        else
                                f->colls[k++] = f->colls[j];
                }
                f->coll_cnt = k;
        }
        pthread_mutex_unlock(&reg->lock);
        return removed;
}

/* ------------------------------------------------------------------ */
/* Updates: the hot path. Relaxed atomics, no lock, no allocation.     */

void nd_counter_add(nd_counter_t *c, uint64_t n) {
        if (c)
                atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}

void nd_gauge_set(nd_gauge_t *g, double v) {
        if (g)
                atomic_store_explicit(&g->bits, d2u(v), memory_order_relaxed);
}

void nd_gauge_add(nd_gauge_t *g, double delta) {
        uint64_t old;

        if (!g)
                return;
        old = atomic_load_explicit(&g->bits, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(
            &g->bits, &old, d2u(u2d(old) + delta), memory_order_relaxed,
            memory_order_relaxed))
                ;
}

void nd_histogram_observe(nd_histogram_t *h, double v) {
        int i = 0;
        uint64_t old;

        /* A NaN would poison the sum for good; it measures nothing. */
        if (!h || isnan(v))
                return;
        while (i < h->bucket_cnt && v > h->bounds[i])
                i++;
        atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
        old = atomic_load_explicit(&h->sum_bits, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(
            &h->sum_bits, &old, d2u(u2d(old) + v), memory_order_relaxed,
            memory_order_relaxed))
                ;
}

uint64_t nd_counter_value(const nd_counter_t *c) {
        return c ? atomic_load_explicit(&((nd_counter_t *)c)->v,
                                        memory_order_relaxed)
                 : 0;
}

double nd_gauge_value(const nd_gauge_t *g) {
        return g ? u2d(atomic_load_explicit(&((nd_gauge_t *)g)->bits,
                                            memory_order_relaxed))
                 : 0;
}

uint64_t nd_histogram_count(const nd_histogram_t *h) {
        uint64_t n = 0;
        if (!h)
                return 0;
        for (int i = 0; i <= h->bucket_cnt; i++)
                n += atomic_load_explicit(&((nd_histogram_t *)h)->counts[i],
                                          memory_order_relaxed);
        return n;
}

double nd_histogram_sum(const nd_histogram_t *h) {
        return h ? u2d(atomic_load_explicit(&((nd_histogram_t *)h)->sum_bits,
                                            memory_order_relaxed))
                 : 0;
}

/* ------------------------------------------------------------------ */
/* Rendering.                                                          */

static void buf_put(struct buf *b, const char *s, size_t n) {
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 4096;
                while (b->len + n + 1 > cap)
                        cap *= 2;
                b->p = nd_realloc(b->p, cap);
                b->cap = cap;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s) {
        buf_put(b, s, strlen(s));
}

/* HELP text escapes \ and newline; label values also escape ". */
static void buf_escaped(struct buf *b, const char *s, bool quote) {
        const char *run = s;
        for (; *s; s++) {
                const char *rep = NULL;
                if (*s == '\\')
                        rep = "\\\\";
                else if (*s == '\n')
                        rep = "\\n";
                else if (quote && *s == '"')
                        rep = "\\\"";
                if (!rep)
                        continue;
                buf_put(b, run, (size_t)(s - run));
                buf_str(b, rep);
                run = s + 1;
        }
        buf_put(b, run, (size_t)(s - run));
}

/*
 * The shortest text that reads back as v: integers without exponent or
 * point, the rest with %.15g when that round-trips, else %.17g.
 */
static void fmt_double(char *out, size_t size, double v) {
        if (isnan(v)) {
                snprintf(out, size, "NaN");
        } else if (isinf(v)) {
                snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
        } else if (v == trunc(v) && fabs(v) < 1e15) {
                snprintf(out, size, "%.0f", v);
        } else {
                snprintf(out, size, "%.15g", v);
                if (strtod(out, NULL) != v)
                        snprintf(out, size, "%.17g", v);
        }
}

static void buf_double(struct buf *b, double v) {
        char tmp[40];
        fmt_double(tmp, sizeof(tmp), v);
        buf_str(b, tmp);
}

static void buf_u64(struct buf *b, uint64_t v) {
        char tmp[24];
        snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
        buf_str(b, tmp);
}

/* name{l1="v1",...,le="x"} — le NULL for none; no braces when empty. */
static void buf_labels(struct buf *b, const struct family *f,
                       const char *const *values, const char *le) {
        if (f->label_cnt == 0 && !le)
                return;
        buf_str(b, "{");
        for (int i = 0; i < f->label_cnt; i++) {
                if (i)
                        buf_str(b, ",");
                buf_str(b, f->label_names[i]);
                buf_str(b, "=\"");
                buf_escaped(b, values[i], true);
                buf_str(b, "\"");
        }
        if (le) {
                if (f->label_cnt)
                        buf_str(b, ",");
                buf_str(b, "le=\"");
                buf_str(b, le);
                buf_str(b, "\"");
        }
        buf_str(b, "}");
}

void nd_metrics_sink_emit(nd_metrics_sink_t *sink,
                          const char *const *label_values, double value) {
        const struct family *f = sink->fam;
        size_t need = 0;
        char **copy, *p;

        for (int i = 0; i < f->label_cnt; i++)
                need += strlen(label_values[i] ? label_values[i] : "") + 1;
        /* One block: the pointer array, then the strings. */
        copy = nd_malloc((size_t)f->label_cnt * sizeof(char *) + need + 1);
        p = (char *)(copy + f->label_cnt);
        for (int i = 0; i < f->label_cnt; i++) {
                const char *v = label_values[i] ? label_values[i] : "";
                size_t n = strlen(v) + 1;
                memcpy(p, v, n);
                copy[i] = p;
                p += n;
        }
        GROW(sink->rows, sink->cnt, sink->cap);
        sink->rows[sink->cnt].values = (const char *const *)copy;
        sink->rows[sink->cnt].s = NULL;
        sink->rows[sink->cnt].v = value;
        sink->cnt++;
        sink->owned_cnt++;
}

static int row_cmp(const void *a, const void *b, void *cnt) {
        const struct row *ra = a, *rb = b;
        return values_cmp(ra->values, rb->values, *(const int *)cnt);
}

static void render_histogram(struct buf *b, const struct family *f,
                             const struct series *s) {
        const nd_histogram_t *h = s->h;
        const char *const *values = (const char *const *)s->values;
        uint64_t cum = 0;
        char le[40];

        for (int i = 0; i <= h->bucket_cnt; i++) {
                cum += atomic_load_explicit(&((nd_histogram_t *)h)->counts[i],
                                            memory_order_relaxed);
                if (i < h->bucket_cnt)
                        fmt_double(le, sizeof(le), h->bounds[i]);
                else
                        snprintf(le, sizeof(le), "+Inf");
                buf_str(b, f->name);
                buf_str(b, "_bucket");
                buf_labels(b, f, values, le);
                buf_str(b, " ");
                buf_u64(b, cum);
                buf_str(b, "\n");
        }
        buf_str(b, f->name);
        buf_str(b, "_sum");
        buf_labels(b, f, values, NULL);
        buf_str(b, " ");
        buf_double(b, nd_histogram_sum(h));
        buf_str(b, "\n");
        buf_str(b, f->name);
        buf_str(b, "_count");
        buf_labels(b, f, values, NULL);
        buf_str(b, " ");
        buf_u64(b, cum);
        buf_str(b, "\n");
}

static void render_family(struct buf *b, const struct family *f,
                          nd_metrics_sink_t *sink) {
        buf_str(b, "# HELP ");
        buf_str(b, f->name);
        buf_str(b, " ");
        buf_escaped(b, f->help, false);
        buf_str(b, "\n# TYPE ");
        buf_str(b, f->name);
        buf_str(b, " ");
        buf_str(b, type_name(f->type));
        buf_str(b, "\n");

        sink->fam = f;
        sink->cnt = 0;
        sink->owned_cnt = 0;
        for (int i = 0; i < f->series_cnt; i++) {
                const struct series *s = f->series[i];
                GROW(sink->rows, sink->cnt, sink->cap);
                sink->rows[sink->cnt].values = (const char *const *)s->values;
                sink->rows[sink->cnt].s = s;
                sink->rows[sink->cnt].v = 0;
                sink->cnt++;
        }
        for (int i = 0; i < f->coll_cnt; i++)
                f->colls[i].fn(f->colls[i].arg, sink);
        /* Static series are sorted already; only emitted rows need it. */
        if (sink->owned_cnt > 0 && f->label_cnt > 0) {
                int cnt = f->label_cnt;
                qsort_r(sink->rows, (size_t)sink->cnt, sizeof(*sink->rows),
                        row_cmp, &cnt);
        }

        for (int i = 0; i < sink->cnt; i++) {
                const struct row *r = &sink->rows[i];
                const struct series *s = r->s;
                if (s && f->type == ND_METRIC_HISTOGRAM) {
                        render_histogram(b, f, s);
                        continue;
                }
                buf_str(b, f->name);
                buf_labels(b, f, r->values, NULL);
                buf_str(b, " ");
                if (!s)
                        buf_double(b, r->v);
                else if (s->fn)
                        buf_double(b, s->fn(s->arg));
                else if (f->type == ND_METRIC_COUNTER)
                        buf_u64(b, nd_counter_value(&s->u.c));
                else
                        buf_double(b, nd_gauge_value(&s->u.g));
                buf_str(b, "\n");
        }
        for (int i = 0; i < sink->cnt; i++)
                if (!sink->rows[i].s)
                        nd_free((void *)sink->rows[i].values);
}

nd_err_t nd_metrics_render(nd_metrics_t *reg, char **out, size_t *len) {
        struct buf b = {0};
        nd_metrics_sink_t sink = {0};

        *out = NULL;
        if (len)
                *len = 0;
        if (!reg)
                return ND_ERR_INVAL;
        buf_put(&b, "", 0);
        pthread_mutex_lock(&reg->lock);
        for (int i = 0; i < reg->fam_cnt; i++)
                render_family(&b, reg->fams[i], &sink);
        pthread_mutex_unlock(&reg->lock);
        nd_free(sink.rows);
        *out = b.p;
        if (len)
                *len = b.len;
        return ND_OK;
}
