/*
 * kio_group.c — the partition group: what nd_kio_poll() hands out, in
 * which order, and when it holds records back. OVERALL DESIGN
 *
 * A task is one partition number p of the co-partitioned event topics.
 * Its records must be applied in the order replay applies them
 * (TRIGGERS.md §2): the task's partitions merged by event timestamp, each
 * partition in its own order. One fetch cannot give that order: catching
 * up a backlog, one fetch of a sparse topic spans hours of event time while
 * one of a dense topic spans seconds, and merging only what one poll
 * returned let the watermark run ahead and fire timers before the events
 * that cancel them (issue 13: 199,372 actions live where replay gives
 * 51,234). So, as Kafka Streams' PartitionGroup with max.task.idle.ms
 * (KIP-695):
 *
 *   - every consumed record goes into its partition's buffer (a ring of
 *     message pointers with the record's event time, computed once by the
 *     caller's timestamp callback);
 *   - a task hands out the buffered head with the smallest event time
 *     (ties: the topic subscribed first, i.e. clickstream, cart, purchase;
 *     replay --partitions breaks them the same way), but only while every
 *     one of its partitions either has a buffered record or is at its end;
 *   - "at its end" is librdkafka's partition EOF event
 *     (enable.partition.eof), which comes when a fetch reached the end of
 *     the partition — under read_committed its last stable offset, which
 *     offset arithmetic cannot see — also right after an assignment with
 *     nothing to read. A record after it clears it;
 *   - a task that waits longer than processing.max_task_idle for a
 *     partition that is neither buffered nor at its end hands out what it
 *     has anyway, counted as enforced processing (a partition whose leader
 *     is away must not stop the task for ever).
 *
 * Offsets. The positions committed are those of the records handed out
 * (the caller processes a batch before it polls again), never the
 * consumer's position, which counts buffered records nobody processed.
 * A revocation inside the consumer poll then commits exactly what was
 * processed, and the buffers of the revoked partitions are dropped.
 *
 * Queues and memory. Each assigned partition's fetch queue is taken out of
 * the consumer queue (rd_kafka_queue_get_partition + forward NULL) and read
 * only when the partition's ring runs low, so records wait in librdkafka's
 * own per-partition prefetch, whose size librdkafka bounds
 * (queued.min.messages, which kio sets to 10,000 unless given, and
 * queued.max.messages.kbytes): a topic far ahead in event time simply
 * stops being fetched while the others catch up, and nothing fetched is
 * thrown away. (Pausing partitions instead made librdkafka drop their
 * prefetch and fetch it again: +25-100 % CPU catching up a backlog.) The
 * consumer queue still carries rebalances, errors, and the records that
 * reached it in the moment between an assignment and the split; those go
 * into their ring first. All queues wake the worker through one pipe
 * (rd_kafka_queue_io_event_enable) when nothing can be handed out. The
 * rings are allocated once per partition: no allocation per record.
 */
#include "kio_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define RING_MIN   64
#define FILL_LOW   128 /* read a partition's queue below this many buffered */
#define FILL_BATCH 512 /* and take at most this many at a time */

/* ------------------------------------------------------------------ */
/* Lookup                                                              */

/* The subscription index of a message's topic, or -1; pointer compare
 * first, as librdkafka hands out one name pointer per topic handle. */
static int topic_of(nd_kio_t *kio, rd_kafka_topic_t *rkt) {
        const char *name = rd_kafka_topic_name(rkt);
        for (int i = 0; i < kio->sub_cnt; i++)
                if (name == kio->sub_ptr[i])
                        return i;
        for (int i = 0; i < kio->sub_cnt; i++)
                if (!strcmp(name, kio->sub[i])) {
                        kio->sub_ptr[i] = name;
                        return i;
                }
        return -1;
}

int nd__kio_topic_index(nd_kio_t *kio, const char *name) {
        for (int i = 0; i < kio->sub_cnt; i++)
                if (!strcmp(name, kio->sub[i]))
                        return i;
        return -1;
}

/* The buffer of (topic, partition), or NULL when it is not assigned. */
static struct kio_part *part_get(nd_kio_t *kio, int topic, int32_t partition) {
        struct kio_task *t;
        if (topic < 0 || partition < 0 || partition >= kio->task_cap)
                return NULL;
        t = &kio->tasks[partition];
        return t->part[topic].assigned ? &t->part[topic] : NULL;
}

/* ------------------------------------------------------------------ */
/* Buffers                                                             */

static void ring_grow(struct kio_part *q) {
        int cap = q->cap ? q->cap * 2 : RING_MIN;
        struct kio_slot *r = nd_malloc((size_t)cap * sizeof(*r));
        for (int i = 0; i < q->cnt; i++)
                r[i] = q->ring[(q->head + i) % q->cap];
        nd_free(q->ring);
        q->ring = r;
        q->cap = cap;
        q->head = 0;
}

static void ring_push(struct kio_part *q, rd_kafka_message_t *rkm, int64_t ts,
                      int64_t arrived) {
        if (q->cnt == q->cap)
                ring_grow(q);
        q->ring[(q->head + q->cnt) % q->cap] =
            (struct kio_slot){rkm, ts, arrived};
        q->cnt++;
}

/* Puts a record handed out back in front (nd_kio_hold). */
static void ring_unshift(struct kio_part *q, rd_kafka_message_t *rkm,
                         int64_t ts) {
        if (q->cnt == q->cap)
                ring_grow(q);
        q->head = (q->head + q->cap - 1) % q->cap;
        q->ring[q->head] = (struct kio_slot){rkm, ts, 0};
        q->cnt++;
}

static inline struct kio_slot *ring_head(struct kio_part *q) {
        return &q->ring[q->head];
}

static void ring_pop(struct kio_part *q) {
        q->head = (q->head + 1) % q->cap;
        q->cnt--;
}

/* Destroys what a buffer holds. */
static void part_drop(struct kio_part *q) {
        while (q->cnt) {
                rd_kafka_message_destroy(ring_head(q)->rkm);
                ring_pop(q);
        }
        q->head = 0;
}

/* The wake-up pipe every queue writes to when it stops being empty;
 * created with the first assignment. */
static bool wake_init(nd_kio_t *kio) {
        if (kio->wake[1] > 0)
                return true;
        if (pipe(kio->wake) != 0) {
                nd_log_error("kio", "pipe: %s", strerror(errno));
                kio->wake[0] = kio->wake[1] = 0;
                return false;
        }
        for (int i = 0; i < 2; i++)
                fcntl(kio->wake[i], F_SETFL,
                      fcntl(kio->wake[i], F_GETFL) | O_NONBLOCK);
        kio->cq = rd_kafka_queue_get_consumer(kio->consumer);
        rd_kafka_queue_io_event_enable(kio->cq, kio->wake[1], "c", 1);
        return true;
}

/* Stops a partition's queue from waking us and lets it go. */
static void part_queue_drop(struct kio_part *q) {
        if (!q->rkq)
                return;
        rd_kafka_queue_io_event_enable(q->rkq, -1, NULL, 0);
        rd_kafka_queue_destroy(q->rkq);
        q->rkq = NULL;
}

/* ------------------------------------------------------------------ */
/* Assignment                                                          */

void nd__kio_group_assign(nd_kio_t *kio,
                          const rd_kafka_topic_partition_list_t *parts) {
        for (int i = 0; i < parts->cnt; i++) {
                int topic = nd__kio_topic_index(kio, parts->elems[i].topic);
                int32_t p = parts->elems[i].partition;
                struct kio_part *q;
                if (topic < 0 || p < 0)
                        continue;
                if (p >= kio->task_cap) {
                        int cap = kio->task_cap ? kio->task_cap : 16;
                        while (cap <= p)
                                cap *= 2;
                        kio->tasks = nd_realloc(
                            kio->tasks, (size_t)cap * sizeof(*kio->tasks));
                        memset(kio->tasks + kio->task_cap, 0,
                               (size_t)(cap - kio->task_cap) *
                                   sizeof(*kio->tasks));
                        kio->task_cap = cap;
                }
                q = &kio->tasks[p].part[topic];
                if (q->assigned)
                        continue;
                part_drop(q);
                q->assigned = true;
                q->partition = p;
                q->next = -1;
                q->at_end = false;
                /* its records from now on stay in its own queue */
                if (wake_init(kio) &&
                    (q->rkq = rd_kafka_queue_get_partition(
                         kio->consumer, kio->sub[topic], p))) {
                        rd_kafka_queue_forward(q->rkq, NULL);
                        rd_kafka_queue_io_event_enable(q->rkq, kio->wake[1],
                                                       "p", 1);
                }
                if (kio->tasks[p].assigned++ == 0) {
                        kio->tasks[p].hold_since = 0;
                        kio->tasks[p].held_until = 0;
                }
        }
}

void nd__kio_group_revoke(nd_kio_t *kio,
                          const rd_kafka_topic_partition_list_t *parts) {
        for (int i = 0; i < parts->cnt; i++) {
                int topic = nd__kio_topic_index(kio, parts->elems[i].topic);
                struct kio_part *q =
                    part_get(kio, topic, parts->elems[i].partition);
                if (!q)
                        continue;
                part_drop(q);
                part_queue_drop(q);
                q->assigned = false;
                kio->tasks[q->partition].assigned--;
        }
}

void nd__kio_group_rewound(nd_kio_t *kio) {
        for (int p = 0; p < kio->task_cap; p++)
                for (int t = 0; t < kio->sub_cnt; t++) {
                        struct kio_part *q = &kio->tasks[p].part[t];
                        if (!q->assigned)
                                continue;
                        part_drop(q);
                        /* after the seek the fetcher starts over: the end
                         * is reported again */
                        q->at_end = false;
                        q->next = -1;
                }
}

void nd__kio_group_free(nd_kio_t *kio) {
        for (int p = 0; p < kio->task_cap; p++)
                for (int t = 0; t < KIO_MAX_TOPICS; t++) {
                        part_drop(&kio->tasks[p].part[t]);
                        part_queue_drop(&kio->tasks[p].part[t]);
                        nd_free(kio->tasks[p].part[t].ring);
                }
        nd_free(kio->tasks);
        kio->tasks = NULL;
        kio->task_cap = 0;
        nd__kio_group_release_queues(kio);
        if (kio->wake[1] > 0) {
                close(kio->wake[0]);
                close(kio->wake[1]);
                kio->wake[0] = kio->wake[1] = 0;
        }
        nd_free(kio->fill);
        kio->fill = NULL;
}

rd_kafka_topic_partition_list_t *nd__kio_group_positions(nd_kio_t *kio) {
        rd_kafka_topic_partition_list_t *out = NULL;
        for (int p = 0; p < kio->task_cap; p++)
                for (int t = 0; t < kio->sub_cnt; t++) {
                        struct kio_part *q = &kio->tasks[p].part[t];
                        if (!q->assigned || q->next < 0)
                                continue;
                        if (!out)
                                out = rd_kafka_topic_partition_list_new(16);
                        rd_kafka_topic_partition_list_add(out, kio->sub[t], p)
                            ->offset = q->next;
                }
        return out;
}

/* ------------------------------------------------------------------ */
/* Consuming                                                           */

/* One consumed message or event into the group. Returns false when the
 * consumer hit a fatal error. */
static bool route(nd_kio_t *kio, rd_kafka_message_t *rkm) {
        struct kio_part *q;
        int topic = rkm->rkt ? topic_of(kio, rkm->rkt) : -1;
        nd_rec_t rec;
        int64_t ts;
        char why[256];

        if (rkm->err) {
                if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        if ((q = part_get(kio, topic, rkm->partition)))
                                q->at_end = true;
                } else {
                        nd_log_warn("kio", "consumer: %s",
                                    rd_kafka_message_errstr(rkm));
                }
                rd_kafka_message_destroy(rkm);
                if (rd_kafka_fatal_error(kio->consumer, why, sizeof(why))) {
                        nd_log_error("kio", "fatal consumer error: %s", why);
                        return false;
                }
                return true;
        }
        if (!(q = part_get(kio, topic, rkm->partition))) {
                /* from a partition no longer ours: the next owner reads
                 * it from the committed offset */
                rd_kafka_message_destroy(rkm);
                return true;
        }
        nd__kio_fill_rec(&rec, rkm);
        ts = kio->conf.timestamp ? kio->conf.timestamp(kio->conf.arg, &rec)
                                 : rec.timestamp;
        ring_push(q, rkm, ts, kio->now_ms);
        q->at_end = false;
        return true;
}

/* Serves the consumer queue without waiting: rebalances, errors, and
 * records that reached it before their partition's queue was split off.
 * Returns false on a fatal consumer error. */
static bool drain(nd_kio_t *kio) {
        int limit = kio->batch_cap * 4;
        kio->now_ms = nd_clock_mono_ms();
        for (int i = 0; i < limit; i++) {
                rd_kafka_message_t *rkm =
                    rd_kafka_consumer_poll(kio->consumer, 0);
                if (!rkm)
                        break;
                if (!route(kio, rkm))
                        return false;
        }
        return true;
}

/* Reads the queues of the partitions running low into their rings. */
static bool fill(nd_kio_t *kio) {
        if (!kio->fill)
                kio->fill = nd_malloc(FILL_BATCH * sizeof(*kio->fill));
        kio->now_ms = nd_clock_mono_ms();
        for (int p = 0; p < kio->task_cap; p++) {
                if (!kio->tasks[p].assigned)
                        continue;
                for (int t = 0; t < kio->sub_cnt; t++) {
                        struct kio_part *q = &kio->tasks[p].part[t];
                        ssize_t n;
                        if (!q->assigned || !q->rkq || q->cnt >= FILL_LOW)
                                continue;
                        n = rd_kafka_consume_batch_queue(q->rkq, 0, kio->fill,
                                                         FILL_BATCH);
                        for (ssize_t i = 0; i < n; i++)
                                if (!route(kio, kio->fill[i])) {
                                        for (i++; i < n; i++)
                                                rd_kafka_message_destroy(
                                                    kio->fill[i]);
                                        return false;
                                }
                }
        }
        return true;
}

/* Waits up to timeout_ms for a queue to stop being empty. */
static void wait_wake(nd_kio_t *kio, int timeout_ms) {
        struct pollfd pfd = {.fd = kio->wake[0], .events = POLLIN};
        char buf[256];
        if (kio->wake[1] <= 0) {
                /* no assignment yet: the consumer queue brings it */
                rd_kafka_message_t *rkm =
                    rd_kafka_consumer_poll(kio->consumer, timeout_ms);
                if (rkm)
                        route(kio, rkm);
                return;
        }
        if (poll(&pfd, 1, timeout_ms) > 0)
                while (read(kio->wake[0], buf, sizeof(buf)) > 0)
                        ;
}

/* One log line per wait that ran out (not per record). */
static void tell_enforced(nd_kio_t *kio, int32_t p, int64_t waited_ms) {
        const struct kio_task *t = &kio->tasks[p];
        for (int i = 0; i < kio->sub_cnt; i++)
                if (t->part[i].assigned && t->part[i].cnt == 0 &&
                    !t->part[i].at_end)
                        nd_log_warn("kio",
                                    "worker %d: task %d waited %lld ms for "
                                    "%s [%d], which has not reached its end "
                                    "(processing.max_task_idle): going on "
                                    "without it; records of its other "
                                    "topics may be applied before earlier "
                                    "ones of this topic",
                                    kio->conf.thread, (int)p,
                                    (long long)waited_ms, kio->sub[i], (int)p);
}

/*
 * A record whose event time could not be read when it was consumed
 * (INT64_MIN: it goes first) is asked again when it reaches the head: the
 * schema registry may have answered meanwhile (its first sight of a schema
 * id is answered by another thread; an outage ends), and then it merges by
 * its real time. A record that stays unreadable goes first, to be
 * dead-lettered or held.
 */
static void restamp(nd_kio_t *kio, struct kio_slot *sl) {
        nd_rec_t rec;
        if (!kio->conf.timestamp)
                return;
        nd__kio_fill_rec(&rec, sl->rkm);
        sl->ts = kio->conf.timestamp(kio->conf.arg, &rec);
}

/*
 * Hands out task p's records in merge order into recs[n..max); returns the
 * new n. Stops where a partition of the task is empty and not at its end,
 * unless the task waited for it longer than max_task_idle.
 */
static int take_task(nd_kio_t *kio, int32_t p, nd_rec_t *recs, int n, int max,
                     int64_t now) {
        struct kio_task *t = &kio->tasks[p];
        while (n < max) {
                struct kio_part *best = NULL;
                bool blocked = false, enforced = false, empty = false;
                for (int i = 0; i < kio->sub_cnt; i++) {
                        struct kio_part *q = &t->part[i];
                        if (!q->assigned)
                                continue;
                        if (q->cnt == 0) {
                                blocked |= !q->at_end;
                                empty = true;
                                continue;
                        }
                        if (ring_head(q)->ts == INT64_MIN)
                                restamp(kio, ring_head(q));
                        /* strictly smaller: ties to the topic subscribed
                         * first */
                        if (!best || ring_head(q)->ts < ring_head(best)->ts)
                                best = q;
                }
                if (!best) {
                        t->hold_since = 0;
                        break;
                }
                if (blocked) {
                        if (t->hold_since == 0) {
                                t->hold_since = now;
                                t->told = false;
                        }
                        if (now - t->hold_since < kio->max_idle_ms)
                                break;
                        enforced = true;
                        if (!t->told && kio->max_idle_ms > 0)
                                tell_enforced(kio, p, now - t->hold_since);
                        t->told = true;
                } else {
                        t->hold_since = 0;
                        /* processing.cross_topic_grace: an empty partition
                         * "at its end" may be so only until the rest of the
                         * fetch response that brought this record is
                         * handed over */
                        if (empty && kio->grace_ms > 0 &&
                            now - ring_head(best)->arrived < kio->grace_ms) {
                                int64_t at =
                                    ring_head(best)->arrived + kio->grace_ms;
                                if (!kio->wake_at || at < kio->wake_at)
                                        kio->wake_at = at;
                                break;
                        }
                }
                {
                        rd_kafka_message_t *rkm = ring_head(best)->rkm;
                        kio->batch_ts[kio->batch_cnt] = ring_head(best)->ts;
                        ring_pop(best);
                        kio->batch[kio->batch_cnt++] = rkm;
                        nd__kio_fill_rec(&recs[n++], rkm);
                        best->next = rkm->offset + 1;
                        if (enforced)
                                kio->enforced++;
                }
        }
        return n;
}

/* Hands out what every task may take now, up to max, starting with the
 * task after the one that filled the last batch (fair when max cuts). */
static int take(nd_kio_t *kio, nd_rec_t *recs, int max) {
        int64_t now = nd_clock_mono_ms();
        int n = 0;
        if (kio->task_cap == 0)
                return 0;
        for (int k = 0; k < kio->task_cap && n < max; k++) {
                int32_t p = (kio->take_from + k) % kio->task_cap;
                if (kio->tasks[p].assigned == 0)
                        continue;
                if (kio->tasks[p].held_until) {
                        int64_t until = kio->tasks[p].held_until;
                        if (now < until) {
                                if (!kio->wake_at || until < kio->wake_at)
                                        kio->wake_at = until;
                                continue;
                        }
                        kio->tasks[p].held_until = 0;
                }
                n = take_task(kio, p, recs, n, max, now);
                if (n == max)
                        kio->take_from = (p + 1) % kio->task_cap;
        }
        return n;
}

int nd_kio_poll(nd_kio_t *kio, nd_rec_t *recs, int max, int timeout_ms) {
        int n;
        if (kio->batch_cnt)
                nd_kio_release(kio);
        if (max > kio->batch_cap)
                max = kio->batch_cap;
        rd_kafka_poll(kio->producer, 0);
        if (!kio->eos)
                nd__kio_alos_try_commit(kio);
        if (!drain(kio) || !fill(kio))
                return ND_ERR_KAFKA_FATAL;
        kio->wake_at = 0;
        n = take(kio, recs, max);
        if (n == 0 && timeout_ms > 0) {
                /* a record in its grace: wake when the grace ends */
                if (kio->wake_at) {
                        int64_t left = kio->wake_at - nd_clock_mono_ms();
                        if (left < timeout_ms)
                                timeout_ms = left > 0 ? (int)left : 0;
                }
                wait_wake(kio, timeout_ms);
                if (!drain(kio) || !fill(kio))
                        return ND_ERR_KAFKA_FATAL;
                n = take(kio, recs, max);
        }
        if (n)
                kio->pending = true;
        return n;
}

void nd_kio_release(nd_kio_t *kio) {
        for (int i = 0; i < kio->batch_cnt; i++)
                if (kio->batch[i]) /* NULL: held (nd_kio_hold) */
                        rd_kafka_message_destroy(kio->batch[i]);
        kio->batch_cnt = 0;
}

void nd_kio_hold(nd_kio_t *kio, nd_rec_t *recs, int n, int k,
                 int64_t until_ms) {
        int32_t p = recs[k].partition;
        if (n > kio->batch_cnt)
                n = kio->batch_cnt; /* recs[i] is batch[i] */
        /* backwards, so that each goes in front of the ones after it */
        for (int j = n - 1; j >= k; j--) {
                rd_kafka_message_t *rkm = kio->batch[j];
                struct kio_part *q;
                if (!rkm || rkm->partition != p)
                        continue;
                q = part_get(kio, topic_of(kio, rkm->rkt), p);
                if (!q) {
                        rd_kafka_message_destroy(rkm);
                } else {
                        ring_unshift(q, rkm, kio->batch_ts[j]);
                        q->next = rkm->offset;
                }
                kio->batch[j] = NULL;
                recs[j].topic = NULL;
        }
        if (p >= 0 && p < kio->task_cap)
                kio->tasks[p].held_until = until_ms > 0 ? until_ms : 1;
}

int nd_kio_task_partitions(const nd_kio_t *kio, int32_t p) {
        return p >= 0 && p < kio->task_cap ? kio->tasks[p].assigned : 0;
}

/* ------------------------------------------------------------------ */
/* Questions                                                           */

bool nd_kio_partition_caught_up(nd_kio_t *kio, int32_t partition) {
        struct kio_task *t;
        if (partition < 0 || partition >= kio->task_cap)
                return true;
        t = &kio->tasks[partition];
        for (int i = 0; i < kio->sub_cnt; i++)
                if (t->part[i].assigned &&
                    (t->part[i].cnt > 0 || !t->part[i].at_end))
                        return false;
        return true;
}

bool nd_kio_caught_up(nd_kio_t *kio) {
        for (int p = 0; p < kio->task_cap; p++)
                if (kio->tasks[p].assigned &&
                    !nd_kio_partition_caught_up(kio, p))
                        return false;
        return true;
}

uint64_t nd_kio_enforced(const nd_kio_t *kio) {
        return kio->enforced;
}

int nd_kio_waiting_tasks(const nd_kio_t *kio) {
        int n = 0;
        for (int p = 0; p < kio->task_cap; p++)
                n += kio->tasks[p].assigned && kio->tasks[p].hold_since != 0;
        return n;
}

void nd_kio_lag_foreach(nd_kio_t *kio,
                        void (*cb)(void *arg, const char *topic,
                                   int32_t partition, int64_t lag),
                        void *arg) {
        for (int p = 0; p < kio->task_cap; p++)
                for (int t = 0; t < kio->sub_cnt; t++) {
                        struct kio_part *q = &kio->tasks[p].part[t];
                        int64_t lo = -1, hi = -1, lag = -1, from = q->next;
                        if (!q->assigned)
                                continue;
                        if (from < 0 && q->cnt > 0)
                                from = ring_head(q)->rkm->offset;
                        if (rd_kafka_get_watermark_offsets(
                                kio->consumer, kio->sub[t], p, &lo, &hi) == 0 &&
                            hi >= 0 && from >= 0)
                                lag = hi > from ? hi - from : 0;
                        cb(arg, kio->sub[t], p, lag);
                }
}

void nd__kio_group_release_queues(nd_kio_t *kio) {
        for (int p = 0; p < kio->task_cap; p++)
                for (int t = 0; t < KIO_MAX_TOPICS; t++)
                        part_queue_drop(&kio->tasks[p].part[t]);
        if (kio->cq) {
                rd_kafka_queue_io_event_enable(kio->cq, -1, NULL, 0);
                rd_kafka_queue_destroy(kio->cq);
                kio->cq = NULL;
        }
}

void nd__kio_group_reset(nd_kio_t *kio) {
        nd__kio_group_free(kio);
        /* the new consumer's topic handles have names of their own: a
         * stale pointer could equal one of them for another topic */
        memset(kio->sub_ptr, 0, sizeof(kio->sub_ptr));
        kio->take_from = 0;
        kio->wake_at = 0;
}
