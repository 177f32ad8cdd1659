/*
 * test_kio_partition.c — nd_kio_partition_of() (common/kio/kio.h) gives
 * every key the partition the producers give it (TRIGGERS.md §1): the Java
 * client's default partitioner, toPositive(Utils.murmur2(key)) % n, which
 * librdkafka's murmur2 partitioners match. replay --partitions relies on it
 * to hand each event to the task live would.
 *
 * The expected values come from two independent places: the vectors of
 * Kafka's UtilsTest.testMurmur2 (clients/src/test/java/org/apache/kafka/
 * common/utils/UtilsTest.java), and ref_murmur2() below, a line-by-line
 * port of Utils.murmur2 that is itself checked against those vectors. The
 * port then covers what the vectors do not: every tail length (0..3 bytes
 * after the last whole word), bytes with the high bit set (Java's bytes are
 * signed: `& 0xff`), and many partition counts.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kio.h"
#include "nd_test.h"

/* Kafka's Utils.murmur2, as a signed 32-bit int (Java's int). */
static int32_t ref_murmur2(const unsigned char *data, size_t length) {
        const uint32_t seed = 0x9747b28c, m = 0x5bd1e995;
        const int r = 24;
        uint32_t h = seed ^ (uint32_t)length;
        size_t length4 = length / 4;

        for (size_t i = 0; i < length4; i++) {
                size_t i4 = i * 4;
                uint32_t k = (uint32_t)(data[i4 + 0] & 0xff) +
                             ((uint32_t)(data[i4 + 1] & 0xff) << 8) +
                             ((uint32_t)(data[i4 + 2] & 0xff) << 16) +
                             ((uint32_t)(data[i4 + 3] & 0xff) << 24);
                k *= m;
                k ^= k >> r;
                k *= m;
                h *= m;
                h ^= k;
        }
        switch (length % 4) {
        case 3:
                h ^= (uint32_t)(data[(length & ~(size_t)3) + 2] & 0xff) << 16;
                /* fall through */
        case 2:
                h ^= (uint32_t)(data[(length & ~(size_t)3) + 1] & 0xff) << 8;
                /* fall through */
        case 1:
                h ^= (uint32_t)(data[length & ~(size_t)3] & 0xff);
                h *= m;
        }
        h ^= h >> 13;
        h *= m;
        h ^= h >> 15;
        return (int32_t)h;
}

/* The Java partitioner: Utils.toPositive(murmur2) % n. */
static int32_t java_partition(int32_t hash, int32_t n) {
        return (int32_t)(((uint32_t)hash & 0x7fffffff) % (uint32_t)n);
}

/* UtilsTest.testMurmur2: Utils.murmur2 of the UTF-8 bytes of the string. */
static const struct {
        const char *key;
        int32_t hash;
} utils_test[] = {
    {"21", -973932308},
    {"foobar", -790332482},
    {"a-little-bit-long-string", -985981536},
    {"a-little-bit-longer-string", -1486304829},
    {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
    {"abc", 479470107},
};
#define UTILS_TEST_CNT ((int)(sizeof(utils_test) / sizeof(utils_test[0])))

static const int32_t counts[] = {1,  2,   3,   4,    5,    6,    7,
                                 8,  12,  16,  24,   32,   48,   64,
                                 97, 100, 256, 1000, 1024, 65536};
#define COUNT_CNT ((int)(sizeof(counts) / sizeof(counts[0])))

START_TEST(the_reference_port_gives_kafkas_vectors) {
        const char *key = utils_test[_i].key;
        ck_assert_int_eq(ref_murmur2((const unsigned char *)key, strlen(key)),
                         utils_test[_i].hash);
}
END_TEST

START_TEST(kafkas_vectors_land_where_java_puts_them) {
        const char *key = utils_test[_i].key;
        for (int c = 0; c < COUNT_CNT; c++)
                ck_assert_msg(
                    nd_kio_partition_of(key, strlen(key), counts[c]) ==
                        java_partition(utils_test[_i].hash, counts[c]),
                    "'%s' over %d partitions: %d, Java: %d", key,
                    (int)counts[c],
                    (int)nd_kio_partition_of(key, strlen(key), counts[c]),
                    (int)java_partition(utils_test[_i].hash, counts[c]));
}
END_TEST

/* Keys of every length 1..40 (so every tail length), customer-like ones
 * and bytes with the high bit set, against the port. */
START_TEST(every_tail_length_and_high_bytes_match_the_port) {
        unsigned char key[64];
        int checked = 0;
        for (int len = 1; len <= 40; len++) {
                for (int variant = 0; variant < 3; variant++) {
                        for (int i = 0; i < len; i++)
                                key[i] = variant == 0
                                             ? (unsigned char)('a' + i % 26)
                                         : variant == 1
                                             ? (unsigned char)(0x80 + i * 7)
                                             : (unsigned char)(0xff - i);
                        for (int c = 0; c < COUNT_CNT; c++) {
                                int32_t want = java_partition(
                                    ref_murmur2(key, (size_t)len), counts[c]);
                                ck_assert_int_eq(
                                    nd_kio_partition_of(key, (size_t)len,
                                                        counts[c]),
                                    want);
                                checked++;
                        }
                }
        }
        for (int i = 0; i < 5000; i++) {
                char cust[32];
                int len = snprintf(cust, sizeof(cust), "cust-%d", i);
                ck_assert_int_eq(
                    nd_kio_partition_of(cust, (size_t)len, 6),
                    java_partition(
                        ref_murmur2((unsigned char *)cust, (size_t)len), 6));
                checked++;
        }
        ck_assert_int_eq(checked, 40 * 3 * COUNT_CNT + 5000);
}
END_TEST

/* A few literal partitions, so that a change in both the port and the
 * function (the same mistake twice) still shows. */
START_TEST(literal_partitions) {
        ck_assert_int_eq(nd_kio_partition_of("alice", 5, 2), 1);
        ck_assert_int_eq(nd_kio_partition_of("bob", 3, 2), 0);
        ck_assert_int_eq(nd_kio_partition_of("c4", 2, 2), 0);
        ck_assert_int_eq(nd_kio_partition_of("c5", 2, 3), 0);
        ck_assert_int_eq(nd_kio_partition_of("dave", 4, 3), 1);
        ck_assert_int_eq(nd_kio_partition_of("carol", 5, 3), 2);
}
END_TEST

Suite *kio_partition_suite(void);
Suite *kio_partition_suite(void) {
        Suite *s = suite_create("kio_partition");
        TCase *tc = tcase_create("murmur2");
        tcase_add_loop_test(tc, the_reference_port_gives_kafkas_vectors, 0,
                            UTILS_TEST_CNT);
        tcase_add_loop_test(tc, kafkas_vectors_land_where_java_puts_them, 0,
                            UTILS_TEST_CNT);
        tcase_add_test(tc, every_tail_length_and_high_bytes_match_the_port);
        tcase_add_test(tc, literal_partitions);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(kio_partition_suite());
}
