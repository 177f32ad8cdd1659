/*
 * kio_admin.c — topics and the embedded broker.
 *
 * The runtime checks at start that the event topics exist and are
 * co-partitioned, and creates the output and changelog topics that are
 * missing (nd_kio_partition_counts, nd_kio_create_topic). Each call makes
 * a short-lived producer handle from the configuration's kafka.* section
 * (admin_handle) and destroys it before returning: these run once, before
 * the workers, so nothing is kept. The embedded broker is librdkafka's
 * in-process mock cluster (docs/embedded-broker.md); it has no
 * CreateTopics, so its topics are made through the mock API here too.
 * This file is the only one that includes rdkafka_mock.h.
 */
#include "kio_int.h"

#include <stdio.h>
#include <string.h>

#include <librdkafka/rdkafka_mock.h>

#include "log.h"
#include "mem.h"

struct nd_kio_cluster_s {
        rd_kafka_t *rk; /* hosts the mock cluster */
        rd_kafka_mock_cluster_t *mc;
};

/* ------------------------------------------------------------------ */
/* Embedded broker                                                     */

nd_err_t nd_kio_cluster_new(int brokers, nd_kio_cluster_t **out, char *errstr,
                            size_t errstr_size) {
        nd_kio_cluster_t *c = nd_calloc(1, sizeof(*c));
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(kc, nd__kio_log_cb);
        rd_kafka_conf_set(kc, "client.id", "nudge-embedded", NULL, 0);
        c->rk = nd__kio_handle_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
        if (!c->rk)
                goto fail;
        c->mc = rd_kafka_mock_cluster_new(c->rk, brokers);
        if (!c->mc) {
                snprintf(errstr, errstr_size,
                         "could not start the embedded mock cluster");
                goto fail;
        }
        *out = c;
        return ND_OK;
fail:
        nd_kio_cluster_destroy(c);
        *out = NULL;
        return ND_ERR_KAFKA;
}

const char *nd_kio_cluster_bootstraps(const nd_kio_cluster_t *mc) {
        return rd_kafka_mock_cluster_bootstraps(mc->mc);
}

nd_err_t nd_kio_cluster_create_topic(nd_kio_cluster_t *mc, const char *topic,
                                     int partitions) {
        rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(mc->mc, topic, partitions, 1);
        if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                nd_log_error("kio", "embedded: creating topic %s: %s", topic,
                             rd_kafka_err2str(err));
                return ND_ERR_KAFKA;
        }
        return ND_OK;
}

void nd_kio_cluster_destroy(nd_kio_cluster_t *mc) {
        if (!mc)
                return;
        if (mc->mc)
                rd_kafka_mock_cluster_destroy(mc->mc);
        if (mc->rk)
                rd_kafka_destroy(mc->rk);
        nd_free(mc);
}

/* ------------------------------------------------------------------ */
/* Admin                                                               */

static rd_kafka_t *admin_handle(const nd_config_t *cfg, const char *bootstrap,
                                char *errstr, size_t errstr_size) {
        rd_kafka_conf_t *kc =
            nd__kio_build_conf(cfg, "producer", bootstrap, errstr, errstr_size);
        if (!kc)
                return NULL;
        rd_kafka_conf_set(kc, "client.id", "nudge-admin", NULL, 0);
        return nd__kio_handle_new(RD_KAFKA_PRODUCER, kc, errstr, errstr_size);
}

nd_err_t nd_kio_partition_counts(const nd_config_t *cfg, const char *bootstrap,
                                 const char *const *topics, int cnt,
                                 int *counts, int timeout_ms, char *errstr,
                                 size_t errstr_size) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err;
        rd_kafka_t *rk = admin_handle(cfg, bootstrap, errstr, errstr_size);
        if (!rk)
                return ND_ERR_CONFIG;
        /* WHY all topics: asking for one topic by name can make a broker
         * with auto.create.topics.enable create it. */
        err = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
        if (err) {
                rd_kafka_destroy(rk);
                return nd_err_fmt(errstr, errstr_size, ND_ERR_KAFKA,
                                  "cannot read cluster metadata: %s",
                                  rd_kafka_err2str(err));
        }
        for (int i = 0; i < cnt; i++) {
                counts[i] = -1;
                for (int j = 0; j < md->topic_cnt; j++)
                        if (!strcmp(md->topics[j].topic, topics[i]) &&
                            !md->topics[j].err)
                                counts[i] = md->topics[j].partition_cnt;
        }
        rd_kafka_metadata_destroy(md);
        rd_kafka_destroy(rk);
        return ND_OK;
}

nd_err_t nd_kio_create_topic(const nd_config_t *cfg, const char *bootstrap,
                             const char *topic, int partitions, bool compact,
                             int timeout_ms, char *errstr, size_t errstr_size) {
        nd_err_t ret = ND_ERR_KAFKA;
        rd_kafka_NewTopic_t *nt = NULL;
        rd_kafka_queue_t *q = NULL;
        rd_kafka_event_t *ev = NULL;
        rd_kafka_AdminOptions_t *opts = NULL;
        char why[256];
        rd_kafka_t *rk = admin_handle(cfg, bootstrap, errstr, errstr_size);
        if (!rk)
                return ND_ERR_CONFIG;

        nt = rd_kafka_NewTopic_new(topic, partitions, -1, why, sizeof(why));
        if (!nt) {
                ret = nd_err_fmt(errstr, errstr_size, ND_ERR_KAFKA,
                                 "topic %s: %s", topic, why);
                goto out;
        }
        if (compact)
                rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
        q = rd_kafka_queue_new(rk);
        opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, NULL, 0);
        rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
        ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
        if (!ev) {
                ret = nd_err_fmt(errstr, errstr_size, ND_ERR_TIMEOUT,
                                 "creating topic %s: timed out", topic);
                goto out;
        }
        if (rd_kafka_event_error(ev)) {
                ret = nd_err_fmt(errstr, errstr_size, ND_ERR_KAFKA,
                                 "creating topic %s: %s", topic,
                                 rd_kafka_event_error_string(ev));
                goto out;
        } else {
                const rd_kafka_CreateTopics_result_t *res =
                    rd_kafka_event_CreateTopics_result(ev);
                size_t n;
                const rd_kafka_topic_result_t **tr =
                    rd_kafka_CreateTopics_result_topics(res, &n);
                rd_kafka_resp_err_t terr =
                    n ? rd_kafka_topic_result_error(tr[0])
                      : RD_KAFKA_RESP_ERR_NO_ERROR;
                if (terr && terr != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                        ret = nd_err_fmt(
                            errstr, errstr_size, ND_ERR_KAFKA,
                            "creating topic %s: %s", topic,
                            rd_kafka_topic_result_error_string(tr[0]));
                        goto out;
                }
        }
        ret = ND_OK;
out:
        if (ev)
                rd_kafka_event_destroy(ev);
        if (opts)
                rd_kafka_AdminOptions_destroy(opts);
        if (q)
                rd_kafka_queue_destroy(q);
        if (nt)
                rd_kafka_NewTopic_destroy(nt);
        rd_kafka_destroy(rk);
        return ret;
}

int32_t nd_kio_partition_of(const void *key, size_t key_len,
                            int32_t partition_cnt) {
        /* librdkafka's own partitioner function: it reads neither the
         * topic nor the opaques. */
        return rd_kafka_msg_partitioner_murmur2(NULL, key, key_len,
                                                partition_cnt, NULL, NULL);
}
