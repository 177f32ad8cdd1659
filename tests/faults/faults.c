/* faults.c — see faults.h. */
#include "faults.h"

#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "mem.h"
#include "nd_action_test.h"
#include "nd_http_test.h"
#include "nd_kafka_test.h"
#include "nd_test.h"

void ft_event_json(char *buf, size_t size, int topic, const char *id,
                   const char *customer, int64_t ts) {
        int n = snprintf(buf, size,
                         "{\"event_id\":\"%s\",\"type\":\"%s\","
                         "\"customer_id\":\"%s\",\"anonymous_id\":null,"
                         "\"timestamp\":%" PRId64 ",\"channel\":\"web\","
                         "\"device_id\":\"d-%s\",\"device_type\":\"desktop\","
                         "\"session_id\":null",
                         id,
                         topic == FT_CLICK  ? "app_opened"
                         : topic == FT_CART ? "product_added"
                                            : "order_completed",
                         customer, ts, customer);
        ck_assert(n > 0 && (size_t)n < size);
        if (topic == FT_CART)
                n += snprintf(buf + n, size - (size_t)n,
                              ",\"product\":{\"sku\":\"S1\",\"category\":"
                              "\"shoes\",\"price_cents\":5900,\"currency\":"
                              "\"EUR\"},\"cart_id\":\"k-%s\",\"quantity\":1}",
                              customer);
        else if (topic == FT_PURCHASE)
                n += snprintf(buf + n, size - (size_t)n,
                              ",\"order_id\":\"o-%s\",\"value_cents\":5900,"
                              "\"currency\":\"EUR\",\"cart_id\":null,"
                              "\"checkout_id\":null,\"products\":[{\"sku\":"
                              "\"S1\",\"category\":\"shoes\",\"quantity\":1,"
                              "\"price_cents\":5900}]}",
                              id);
        else
                n += snprintf(buf + n, size - (size_t)n, "}");
        ck_assert((size_t)n < size);
}

void ft_ids_add(ft_ids_t *ids, const char *id) {
        if (ids->cnt == ids->cap) {
                ids->cap = ids->cap ? ids->cap * 2 : 1024;
                ids->v = nd_realloc(ids->v, ids->cap * sizeof(*ids->v));
        }
        ids->v[ids->cnt++] = nd_strdup(id);
        ids->sorted = 0;
}

void ft_ids_fini(ft_ids_t *ids) {
        for (size_t i = 0; i < ids->cnt; i++)
                nd_free(ids->v[i]);
        nd_free(ids->v);
        memset(ids, 0, sizeof(*ids));
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ids_sort(ft_ids_t *ids) {
        if (!ids->sorted && ids->cnt)
                qsort(ids->v, ids->cnt, sizeof(*ids->v), cmp_str);
        ids->sorted = 1;
}

/* Index of the first element >= id. */
static size_t lower_bound(const ft_ids_t *ids, const char *id) {
        size_t lo = 0, hi = ids->cnt;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(ids->v[mid], id) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

size_t ft_ids_count(ft_ids_t *ids, const char *id) {
        size_t i, n = 0;
        ids_sort(ids);
        for (i = lower_bound(ids, id); i < ids->cnt && !strcmp(ids->v[i], id);
             i++)
                n++;
        return n;
}

size_t ft_ids_dups(ft_ids_t *ids) {
        size_t n = 0;
        ids_sort(ids);
        for (size_t i = 1; i < ids->cnt; i++)
                if (!strcmp(ids->v[i], ids->v[i - 1])) {
                        if (n < 5)
                                fprintf(stderr, "duplicate: %s\n", ids->v[i]);
                        n++;
                }
        return n;
}

size_t ft_ids_missing(ft_ids_t *want, ft_ids_t *got, const char *label) {
        size_t n = 0;
        ids_sort(want);
        ids_sort(got);
        for (size_t i = 0; i < want->cnt; i++) {
                size_t j;
                if (i > 0 && !strcmp(want->v[i], want->v[i - 1]))
                        continue;
                j = lower_bound(got, want->v[i]);
                if (j < got->cnt && !strcmp(got->v[j], want->v[i]))
                        continue;
                if (n < 5)
                        fprintf(stderr, "%s: missing %s\n", label, want->v[i]);
                n++;
        }
        return n;
}

/* The "event_id" of a JSON value, into buf. */
static bool json_event_id(const char *v, char *buf, size_t size) {
        const char *p = v ? strstr(v, "\"event_id\":\"") : NULL;
        const char *q;
        if (!p)
                return false;
        p += strlen("\"event_id\":\"");
        if (!(q = strchr(p, '"')) || (size_t)(q - p) >= size)
                return false;
        memcpy(buf, p, (size_t)(q - p));
        buf[q - p] = '\0';
        return true;
}

/* The id of one record read back into events or actions. */
static void take(const void *value, size_t len, ft_ids_t *events,
                 ft_ids_t *actions) {
        char id[128];
        nd_at_action_t act;
        if (value && len > 0 && *(const char *)value == '{') {
                /* a payload is not NUL-terminated */
                char *v = nd_malloc(len + 1);
                bool ok;
                memcpy(v, value, len);
                v[len] = '\0';
                ok = json_event_id(v, id, sizeof(id));
                nd_free(v);
                ck_assert_msg(ok, "a JSON record without an event_id");
                ft_ids_add(events, id);
                return;
        }
        nd_at_decode(value, len, &act);
        ft_ids_add(actions, act.id);
}

size_t ft_read_ids(const char *topic, size_t want, int timeout_ms,
                   ft_ids_t *events, ft_ids_t *actions) {
        rd_kafka_conf_t *conf = nd_kt_conf();
        rd_kafka_topic_partition_list_t *sub;
        rd_kafka_t *rk;
        char errstr[512], group[ND_KT_NAME_MAX];
        int parts = nd_kt_topic_partitions(NULL, topic, timeout_ms), at_end = 0;
        bool *eof;
        size_t total = 0;
        int64_t deadline = nd_clock_mono_ms() + timeout_ms;

        ck_assert_msg(parts > 0, "topic %s has no partitions", topic);
        nd_kt_unique_name(group, sizeof(group), "ft-read");
        if (rd_kafka_conf_set(conf, "group.id", group, errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "isolation.level", "read_committed", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            !(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr,
                                sizeof(errstr)))) {
                rd_kafka_conf_destroy(conf);
                ck_abort_msg("consumer: %s", errstr);
        }
        rd_kafka_poll_set_consumer(rk);
        sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
        ck_assert_int_eq(rd_kafka_subscribe(rk, sub), 0);
        rd_kafka_topic_partition_list_destroy(sub);
        eof = nd_calloc((size_t)parts, sizeof(*eof));
        while ((at_end < parts || total < want) &&
               nd_clock_mono_ms() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (!m)
                        continue;
                if (m->partition >= 0 && m->partition < parts &&
                    (!m->err || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)) {
                        bool end = m->err != 0;
                        if (eof[m->partition] != end)
                                at_end += end ? 1 : -1;
                        eof[m->partition] = end;
                }
                if (!m->err) {
                        take(m->payload, m->len, events, actions);
                        total++;
                } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        fprintf(stderr, "reading %s: %s\n", topic,
                                rd_kafka_message_errstr(m));
                }
                rd_kafka_message_destroy(m);
        }
        if (at_end < parts || total < want)
                fprintf(stderr,
                        "reading %s: %d of %d partitions at their end, %zu "
                        "records, after %d ms\n",
                        topic, at_end, parts, total, timeout_ms);
        nd_free(eof);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return total;
}

int64_t ft_topic_end(const char *topic) {
        char errstr[512];
        int64_t sum = 0;
        int parts = nd_kt_topic_partitions(NULL, topic, 30000);
        ck_assert_msg(parts > 0, "topic %s has no partitions", topic);
        for (int p = 0; p < parts; p++) {
                int64_t end;
                ck_assert_msg(nd_kt_end_offset(topic, p, &end, 30000, errstr,
                                               sizeof(errstr)) == ND_OK,
                              "%s", errstr);
                sum += end;
        }
        return sum;
}

int64_t ft_committed_sum(const char *group_id, const char *topic, int parts,
                         int timeout_ms) {
        rd_kafka_conf_t *conf = nd_kt_conf();
        rd_kafka_topic_partition_list_t *l;
        rd_kafka_t *rk;
        char errstr[512];
        int64_t sum = 0;

        /* read_committed: OffsetFetch with require_stable (KIP-447). */
        if (rd_kafka_conf_set(conf, "group.id", group_id, errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "isolation.level", "read_committed", errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            !(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr,
                                sizeof(errstr)))) {
                rd_kafka_conf_destroy(conf);
                ck_abort_msg("consumer: %s", errstr);
        }
        l = rd_kafka_topic_partition_list_new(parts);
        for (int p = 0; p < parts; p++)
                rd_kafka_topic_partition_list_add(l, topic, p);
        if (rd_kafka_committed(rk, l, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
                sum = -1;
        for (int i = 0; sum >= 0 && i < l->cnt; i++) {
                if (l->elems[i].err)
                        sum = -1;
                else if (l->elems[i].offset > 0)
                        sum += l->elems[i].offset;
        }
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(rk);
        return sum;
}

int ft_log_count(const nd_proc_t *p, const char *re) {
        FILE *f = fopen(p->log, "r");
        char line[4096];
        regex_t rx;
        int n = 0;
        ck_assert_int_eq(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
        while (f && fgets(line, sizeof(line), f))
                n += regexec(&rx, line, 0, NULL, 0) == 0;
        if (f)
                fclose(f);
        regfree(&rx);
        return n;
}

bool ft_wait_log_count(nd_proc_t *p, const char *re, int n, int timeout_ms) {
        int64_t deadline = nd_clock_mono_ms() + timeout_ms;
        while (ft_log_count(p, re) < n) {
                if (nd_clock_mono_ms() >= deadline || nd_proc_wait(p, 0) >= 0)
                        return ft_log_count(p, re) >= n;
                nd_test_pause_ms(50);
        }
        return true;
}

bool ft_wait_metric_eq(int port, const char *series, double value,
                       int timeout_ms) {
        static nd_http_body_t b;
        int64_t deadline = nd_clock_mono_ms() + timeout_ms;
        for (;;) {
                if (nd_http_get(port, "/metrics", &b) == 200 &&
                    nd_http_metric(&b, series) == value)
                        return true;
                if (nd_clock_mono_ms() >= deadline)
                        return false;
                nd_test_pause_ms(100);
        }
}
