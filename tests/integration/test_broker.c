/*
 * test_broker.c — the test broker and its helpers (nd_kafka_test.h), and
 * what nudge needs from librdkafka against that broker: topic admin, keyed
 * records with headers, and transactions (read_committed isolation,
 * consume-transform-produce with offsets committed in the transaction).
 *
 * Needs a running broker: scripts/kafka.sh start, then ND_TEST_BOOTSTRAP
 * from .cache/kafka/run/broker.env (docs/internals/TEST-BROKER.md).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "nd_kafka_test.h"
#include "nd_test.h"

#define TMO ND_KT_TIMEOUT_MS

static char errstr[512];

/* Fails the test with the helper's message unless err is ND_OK. */
#define ck_nd_ok(expr)                                             \
        do {                                                       \
                nd_err_t err_ = (expr);                            \
                ck_assert_msg(err_ == ND_OK, "%s: %s (%s)", #expr, \
                              nd_err_name(err_), errstr);          \
        } while (0)

static void new_topic(char *name, size_t size, const char *prefix,
                      int partitions) {
        nd_kt_unique_name(name, size, prefix);
        ck_nd_ok(nd_kt_create_topic(name, partitions, NULL, TMO, errstr,
                                    sizeof(errstr)));
}

START_TEST(broker_is_one_reachable_node_of_the_expected_version) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_conf_t *conf = nd_kt_conf();
        rd_kafka_t *rk;
        const char *version = nd_kt_version();

        nd_log_info("test", "broker %s, Apache Kafka %s, librdkafka %s",
                    nd_kt_bootstrap(), version, rd_kafka_version_str());
        ck_assert_ptr_nonnull(strchr(nd_kt_bootstrap(), ':'));
        ck_assert_str_ne(version, "unknown");
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        ck_assert_msg(rk, "rd_kafka_new: %s", errstr);
        ck_assert_int_eq(rd_kafka_metadata(rk, 1, NULL, &md, TMO),
                         RD_KAFKA_RESP_ERR_NO_ERROR);
        ck_assert_int_eq(md->broker_cnt, 1);
        ck_assert_int_eq(md->orig_broker_id, md->brokers[0].id);
        rd_kafka_metadata_destroy(md);
        rd_kafka_destroy(rk);
}
END_TEST

START_TEST(unique_names_differ_and_keep_their_prefix) {
        char a[ND_KT_NAME_MAX], b[ND_KT_NAME_MAX];
        nd_kt_unique_name(a, sizeof(a), "nd-x");
        nd_kt_unique_name(b, sizeof(b), "nd-x");
        ck_assert_str_ne(a, b);
        ck_assert_int_eq(strncmp(a, "nd-x-", 5), 0);
}
END_TEST

START_TEST(created_topic_has_its_partitions_and_config) {
        static const char *const config[] = {
            "cleanup.policy", "compact", "min.compaction.lag.ms", "1000", NULL};
        char topic[ND_KT_NAME_MAX], value[64];

        nd_kt_unique_name(topic, sizeof(topic), "nd-admin");
        ck_assert_int_eq(nd_kt_topic_partitions(NULL, topic, TMO), 0);
        ck_nd_ok(
            nd_kt_create_topic(topic, 3, config, TMO, errstr, sizeof(errstr)));
        ck_assert_int_eq(nd_kt_topic_partitions(NULL, topic, TMO), 3);
        ck_nd_ok(nd_kt_topic_config(topic, "cleanup.policy", value,
                                    sizeof(value), TMO, errstr,
                                    sizeof(errstr)));
        ck_assert_str_eq(value, "compact");
        ck_nd_ok(nd_kt_topic_config(topic, "min.compaction.lag.ms", value,
                                    sizeof(value), TMO, errstr,
                                    sizeof(errstr)));
        ck_assert_str_eq(value, "1000");
        /* A second create is refused: tests can rely on fresh topics. */
        ck_assert_int_eq(
            nd_kt_create_topic(topic, 3, NULL, TMO, errstr, sizeof(errstr)),
            ND_ERR_KAFKA);
        ck_assert_ptr_nonnull(strstr(errstr, "already exists"));
}
END_TEST

START_TEST(records_come_back_with_keys_values_headers_and_offsets) {
        static const nd_kt_header_t hdrs[] = {
            {"trace", "t-1", 3},
            {"empty", NULL, 0},
            {"trace", "t-2", 3},
        };
        char topic[ND_KT_NAME_MAX], keys[6][8], vals[6][8], val[8];
        nd_kt_msg_t msgs[3];
        nd_kt_recs_t recs = {0};
        rd_kafka_t *c;
        int64_t next[2] = {0, 0};

        new_topic(topic, sizeof(topic), "nd-rt", 2);
        /* k0, k2, k4 to partition 0 without headers; k1, k3, k5 to
         * partition 1 with three headers each. */
        for (int part = 0; part < 2; part++) {
                for (int j = 0; j < 3; j++) {
                        int n = 2 * j + part;
                        snprintf(keys[n], sizeof(keys[n]), "k%d", n);
                        snprintf(vals[n], sizeof(vals[n]), "v%d", n);
                        msgs[j] = nd_kt_msg(keys[n], vals[n]);
                        msgs[j].headers = part ? hdrs : NULL;
                        msgs[j].header_cnt = part ? 3 : 0;
                        msgs[j].timestamp = 1700000000000LL + n;
                }
                ck_nd_ok(nd_kt_produce(topic, part, msgs, 3, TMO, errstr,
                                       sizeof(errstr)));
        }
        /* A tombstone: a null value is not an empty one. */
        msgs[0] = nd_kt_msg("gone", NULL);
        ck_nd_ok(nd_kt_produce(topic, 0, msgs, 1, TMO, errstr, sizeof(errstr)));

        c = nd_kt_consumer_new(topic, NULL, ND_KT_READ_UNCOMMITTED, errstr,
                               sizeof(errstr));
        ck_assert_msg(c, "consumer: %s", errstr);
        ck_assert_uint_eq(nd_kt_consume(c, 7, TMO, &recs), 7);
        for (size_t i = 0; i < recs.cnt; i++) {
                const nd_kt_rec_t *rec = &recs.v[i];
                const nd_kt_header_t *h;
                int n;
                ck_assert_str_eq(rec->topic, topic);
                /* Offsets are dense per partition, in produce order. */
                ck_assert_int_eq(rec->offset, next[rec->partition]++);
                if (strcmp(rec->key, "gone") == 0) {
                        ck_assert_int_eq(rec->partition, 0);
                        ck_assert_ptr_null(rec->value);
                        continue;
                }
                ck_assert_int_eq(sscanf(rec->key, "k%d", &n), 1);
                snprintf(val, sizeof(val), "v%d", n);
                ck_assert_str_eq(rec->value, val);
                ck_assert_uint_eq(rec->value_len, strlen(val));
                ck_assert_int_eq(rec->partition, n % 2);
                ck_assert_int_eq(rec->timestamp, 1700000000000LL + n);
                if (n % 2 == 0) {
                        ck_assert_uint_eq(rec->header_cnt, 0);
                        continue;
                }
                ck_assert_uint_eq(rec->header_cnt, 3);
                h = nd_kt_rec_header(rec, "trace");
                ck_assert_ptr_nonnull(h);
                ck_assert_str_eq(h->value, "t-1"); /* first of the name */
                ck_assert_str_eq(rec->headers[2].value, "t-2");
                h = nd_kt_rec_header(rec, "empty");
                ck_assert_ptr_nonnull(h);
                ck_assert_ptr_null(h->value);
                ck_assert_ptr_null(nd_kt_rec_header(rec, "absent"));
        }
        ck_assert_int_eq(next[0], 4);
        ck_assert_int_eq(next[1], 3);
        ck_assert_ptr_nonnull(nd_kt_recs_find(&recs, "k5"));
        ck_assert_ptr_null(nd_kt_recs_find(&recs, "k6"));
        nd_kt_recs_fini(&recs);
        ck_assert_uint_eq(recs.cnt, 0);
        nd_kt_consumer_destroy(c);
}
END_TEST

/* Commits or aborts the open transaction of p, after a flush. The flush
 * makes aborted records reach the log (so that read_uncommitted sees them)
 * and avoids librdkafka issue #4849 (still open in 2.0.2, seen here with
 * Kafka 3.9.1): an abort right after the first produce can send EndTxn
 * before the broker has processed AddPartitionsToTxn; the coordinator, its
 * transaction still Empty, answers INVALID_TXN_STATE, which librdkafka
 * raises as a fatal error. */
static void end_transaction(rd_kafka_t *p, bool commit) {
        rd_kafka_error_t *error;

        ck_assert_int_eq(nd_kt_flush(p, TMO), ND_OK);
        error = commit ? rd_kafka_commit_transaction(p, TMO)
                       : rd_kafka_abort_transaction(p, TMO);
        ck_assert_msg(!error, "%s: %s", commit ? "commit" : "abort",
                      rd_kafka_error_string(error));
}

/* Runs one transaction on p that sends cnt records "<prefix><i>" and then
 * commits or aborts it. */
static void transaction(rd_kafka_t *p, const char *topic, const char *prefix,
                        int cnt, bool commit) {
        rd_kafka_error_t *error;
        char key[32];

        error = rd_kafka_begin_transaction(p);
        ck_assert_msg(!error, "begin: %s", rd_kafka_error_string(error));
        for (int i = 0; i < cnt; i++) {
                nd_kt_msg_t m;
                snprintf(key, sizeof(key), "%s%d", prefix, i);
                m = nd_kt_msg(key, prefix);
                ck_nd_ok(
                    nd_kt_send(p, topic, 0, &m, 1, errstr, sizeof(errstr)));
        }
        end_transaction(p, commit);
}

static int count_prefix(const nd_kt_recs_t *recs, const char *prefix) {
        int n = 0;
        for (size_t i = 0; i < recs->cnt; i++)
                if (recs->v[i].key &&
                    strncmp(recs->v[i].key, prefix, strlen(prefix)) == 0)
                        n++;
        return n;
}

START_TEST(read_committed_skips_aborted_records_read_uncommitted_does_not) {
        char topic[ND_KT_NAME_MAX], txid[ND_KT_NAME_MAX];
        nd_kt_recs_t recs = {0};
        rd_kafka_t *p, *c;

        new_topic(topic, sizeof(topic), "nd-txn", 1);
        p = nd_kt_producer_new(nd_kt_unique_name(txid, sizeof(txid), "nd-tx"),
                               TMO, errstr, sizeof(errstr));
        ck_assert_msg(p, "producer: %s", errstr);
        transaction(p, topic, "c1-", 3, true);
        transaction(p, topic, "ab-", 4, false);
        /* Committed records after the aborted ones: once a read_committed
         * consumer has them, it has decided about the aborted ones too. */
        transaction(p, topic, "c2-", 2, true);
        ck_assert_int_eq(nd_kt_delivery_failures(), 0);
        rd_kafka_destroy(p);

        c = nd_kt_consumer_new(topic, NULL, ND_KT_READ_COMMITTED, errstr,
                               sizeof(errstr));
        ck_assert_msg(c, "consumer: %s", errstr);
        ck_assert_uint_eq(nd_kt_consume(c, 5, TMO, &recs), 5);
        ck_assert_int_eq(count_prefix(&recs, "c1-"), 3);
        ck_assert_int_eq(count_prefix(&recs, "c2-"), 2);
        ck_assert_int_eq(count_prefix(&recs, "ab-"), 0);
        /* Aborted records and transaction markers still take offsets:
         * 3 records + marker, 4 records + marker, then c2-0 at 9. */
        ck_assert_int_eq(nd_kt_recs_find(&recs, "c2-0")->offset, 9);
        nd_kt_recs_fini(&recs);
        nd_kt_consumer_destroy(c);

        c = nd_kt_consumer_new(topic, NULL, ND_KT_READ_UNCOMMITTED, errstr,
                               sizeof(errstr));
        ck_assert_msg(c, "consumer: %s", errstr);
        ck_assert_uint_eq(nd_kt_consume(c, 9, TMO, &recs), 9);
        ck_assert_int_eq(count_prefix(&recs, "ab-"), 4);
        nd_kt_recs_fini(&recs);
        nd_kt_consumer_destroy(c);
}
END_TEST

/* The consumer positions after recs, as send_offsets_to_transaction wants
 * them: the next offset to read, per partition read. */
static rd_kafka_topic_partition_list_t *next_offsets(const nd_kt_recs_t *recs) {
        rd_kafka_topic_partition_list_t *offs =
            rd_kafka_topic_partition_list_new(2);
        for (size_t i = 0; i < recs->cnt; i++) {
                const nd_kt_rec_t *rec = &recs->v[i];
                rd_kafka_topic_partition_t *tp =
                    rd_kafka_topic_partition_list_find(offs, rec->topic,
                                                       rec->partition);
                if (!tp)
                        tp = rd_kafka_topic_partition_list_add(offs, rec->topic,
                                                               rec->partition);
                if (rec->offset + 1 > tp->offset)
                        tp->offset = rec->offset + 1;
        }
        return offs;
}

/* One consume-transform-produce transaction: upper-cased values to out,
 * input offsets committed with it; commit or abort. */
static void ctp_transaction(rd_kafka_t *p, rd_kafka_t *c,
                            const nd_kt_recs_t *in, const char *out,
                            bool commit) {
        rd_kafka_topic_partition_list_t *offs = next_offsets(in);
        rd_kafka_consumer_group_metadata_t *cgmd;
        rd_kafka_error_t *error;
        char val[32];

        error = rd_kafka_begin_transaction(p);
        ck_assert_msg(!error, "begin: %s", rd_kafka_error_string(error));
        for (size_t i = 0; i < in->cnt; i++) {
                nd_kt_msg_t m;
                size_t j;
                for (j = 0; j < in->v[i].value_len && j < sizeof(val) - 1; j++)
                        val[j] = (char)(in->v[i].value[j] & ~0x20);
                val[j] = '\0';
                m = nd_kt_msg(in->v[i].key, val);
                ck_nd_ok(nd_kt_send(p, out, RD_KAFKA_PARTITION_UA, &m, 1,
                                    errstr, sizeof(errstr)));
        }
        cgmd = rd_kafka_consumer_group_metadata(c);
        error = rd_kafka_send_offsets_to_transaction(p, offs, cgmd, TMO);
        rd_kafka_consumer_group_metadata_destroy(cgmd);
        rd_kafka_topic_partition_list_destroy(offs);
        ck_assert_msg(!error, "send_offsets_to_transaction: %s",
                      rd_kafka_error_string(error));
        end_transaction(p, commit);
}

START_TEST(consume_transform_produce_commits_offsets_only_with_its_output) {
        char in[ND_KT_NAME_MAX], out[ND_KT_NAME_MAX], group[ND_KT_NAME_MAX];
        char txid[ND_KT_NAME_MAX], key[16];
        nd_kt_msg_t msgs[5];
        nd_kt_recs_t recs = {0}, outs = {0};
        rd_kafka_t *p, *c, *oc;
        int64_t off;

        new_topic(in, sizeof(in), "nd-ctp-in", 2);
        new_topic(out, sizeof(out), "nd-ctp-out", 2);
        nd_kt_unique_name(group, sizeof(group), "nd-ctp");
        for (int p0 = 0; p0 < 2; p0++) {
                /* 3 records on partition 0 and 2 on partition 1. */
                for (int i = 0; i < 3 - p0; i++) {
                        snprintf(key, sizeof(key), "p%d-%d", p0, i);
                        msgs[i] = nd_kt_msg(key, "abc");
                        ck_nd_ok(nd_kt_produce(in, p0, &msgs[i], 1, TMO, errstr,
                                               sizeof(errstr)));
                }
        }

        c = nd_kt_consumer_new(in, group, ND_KT_READ_COMMITTED, errstr,
                               sizeof(errstr));
        ck_assert_msg(c, "consumer: %s", errstr);
        ck_assert_uint_eq(nd_kt_consume(c, 5, TMO, &recs), 5);
        p = nd_kt_producer_new(nd_kt_unique_name(txid, sizeof(txid), "nd-tx"),
                               TMO, errstr, sizeof(errstr));
        ck_assert_msg(p, "producer: %s", errstr);

        /* Aborted: neither output nor offsets become visible. */
        ctp_transaction(p, c, &recs, out, false);
        ck_nd_ok(
            nd_kt_committed(group, in, 0, &off, TMO, errstr, sizeof(errstr)));
        ck_assert_int_eq(off, RD_KAFKA_OFFSET_INVALID);

        /* Committed: the same input again, now with its offsets. */
        ctp_transaction(p, c, &recs, out, true);
        ck_nd_ok(
            nd_kt_committed(group, in, 0, &off, TMO, errstr, sizeof(errstr)));
        ck_assert_int_eq(off, 3);
        ck_nd_ok(
            nd_kt_committed(group, in, 1, &off, TMO, errstr, sizeof(errstr)));
        ck_assert_int_eq(off, 2);

        oc = nd_kt_consumer_new(out, NULL, ND_KT_READ_COMMITTED, errstr,
                                sizeof(errstr));
        ck_assert_msg(oc, "consumer: %s", errstr);
        ck_assert_uint_eq(nd_kt_consume(oc, 5, TMO, &outs), 5);
        for (size_t i = 0; i < outs.cnt; i++)
                ck_assert_str_eq(outs.v[i].value, "ABC");
        ck_assert_ptr_nonnull(nd_kt_recs_find(&outs, "p0-2"));
        ck_assert_ptr_nonnull(nd_kt_recs_find(&outs, "p1-1"));
        ck_assert_int_eq(nd_kt_delivery_failures(), 0);

        nd_kt_recs_fini(&outs);
        nd_kt_recs_fini(&recs);
        nd_kt_consumer_destroy(oc);
        rd_kafka_destroy(p);
        nd_kt_consumer_destroy(c);
}
END_TEST

static Suite *broker_suite(void) {
        Suite *s = suite_create("broker");
        TCase *tc = tcase_create("harness");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc,
                       broker_is_one_reachable_node_of_the_expected_version);
        tcase_add_test(tc, unique_names_differ_and_keep_their_prefix);
        tcase_add_test(tc, created_topic_has_its_partitions_and_config);
        suite_add_tcase(s, tc);
        tc = tcase_create("records");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc,
                       records_come_back_with_keys_values_headers_and_offsets);
        suite_add_tcase(s, tc);
        tc = tcase_create("transactions");
        tcase_set_timeout(tc, 120);
        tcase_add_test(
            tc, read_committed_skips_aborted_records_read_uncommitted_does_not);
        tcase_add_test(
            tc, consume_transform_produce_commits_offsets_only_with_its_output);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(broker_suite());
}
