/*
 * kio_commit.c — the commit protocol and rebalances.
 *
 * nd_kio_commit() first calls the runtime's before_commit (which produces
 * the changelog records), then commits what was consumed and produced
 * since the last commit. Under exactly-once that is the open transaction:
 * the consumed positions go into it (send_offsets_to_transaction with the
 * consumer group metadata, KIP-447), it is committed, and the next one is
 * begun, so outputs, changelog and input offsets become visible together.
 * An abortable error aborts it and rewinds the consumer to the committed
 * offsets (ND_ERR_ABORTABLE: the caller drops its derived state); fencing
 * and fatal errors are returned for the worker to stop. Under at-least-once
 * a commit closes an epoch with a snapshot of the positions, committed
 * asynchronously once the epoch's records are delivered (commit_alos); a
 * failed delivery rewinds instead. Rebalances come through
 * nd__kio_rebalance_cb() on the worker thread, inside nd_kio_poll(): a
 * revocation commits first, a lost assignment aborts. The whole protocol, with
 * the runtime's side: docs/internals/COMMIT.md.
 */
#include "kio_int.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "log.h"

#define KIO_COMMIT_RETRIES 5

static void log_txn_error(const char *what, rd_kafka_error_t *error) {
        nd_log_warn("kio", "%s: %s%s%s", what, rd_kafka_error_string(error),
                    rd_kafka_error_is_retriable(error) ? " (retriable)" : "",
                    rd_kafka_error_txn_requires_abort(error) ? " (abortable)"
                                                             : "");
}

static nd_err_t fatal_from(rd_kafka_error_t *error) {
        rd_kafka_resp_err_t code = rd_kafka_error_code(error);
        if (code == RD_KAFKA_RESP_ERR__FENCED ||
            code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
            code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH)
                return ND_ERR_FENCED;
        return ND_ERR_KAFKA_FATAL;
}

/* A transactional call failed for good: logs it, keeps it for
 * nd_kio_fatal_reason(), takes error and returns ND_ERR_FENCED or
 * ND_ERR_KAFKA_FATAL. */
static nd_err_t txn_fail(nd_kio_t *kio, const char *what,
                         rd_kafka_error_t *error) {
        nd_err_t err = fatal_from(error);
        log_txn_error(what, error);
        snprintf(kio->txn_error, sizeof(kio->txn_error), "%s: %s", what,
                 rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        return err;
}

/* Seeks every assigned partition back to its committed offset. */
static void rewind_to_committed(nd_kio_t *kio) {
        rd_kafka_topic_partition_list_t *parts;
        rd_kafka_resp_err_t err;
        rd_kafka_error_t *error;

        if (!kio->assignment || kio->assignment->cnt == 0)
                return;
        parts = rd_kafka_topic_partition_list_copy(kio->assignment);
        err = rd_kafka_committed(kio->consumer, parts, KIO_TXN_TIMEOUT_MS);
        if (err) {
                nd_log_error("kio", "reading committed offsets: %s",
                             rd_kafka_err2str(err));
                rd_kafka_topic_partition_list_destroy(parts);
                return;
        }
        for (int i = 0; i < parts->cnt; i++)
                if (parts->elems[i].offset < 0)
                        parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
        error =
            rd_kafka_seek_partitions(kio->consumer, parts, KIO_TXN_TIMEOUT_MS);
        if (error) {
                nd_log_error("kio", "rewinding: %s",
                             rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        } else {
                nd_log_warn("kio", "rewound %d partitions to committed offsets",
                            parts->cnt);
        }
        nd__kio_group_rewound(kio);
        rd_kafka_topic_partition_list_destroy(parts);
}

/* ------------------------------------------------------------------ */
/* Exactly-once                                                        */

nd_err_t nd__kio_begin_txn(nd_kio_t *kio) {
        rd_kafka_error_t *error = rd_kafka_begin_transaction(kio->producer);
        if (error)
                return txn_fail(kio, "begin transaction", error);
        kio->in_txn = true;
        return ND_OK;
}

static nd_err_t abort_and_rewind(nd_kio_t *kio) {
        rd_kafka_error_t *error;
        /* WHY flush first: with librdkafka 2.0.2, aborting while the first
         * AddPartitionsToTxn is in flight gets INVALID_TXN_STATE from the
         * broker and is made fatal (librdkafka issue #4849). Waiting for
         * outstanding deliveries avoids the race; their failures are moot,
         * the transaction is being aborted. */
        rd_kafka_flush(kio->producer, KIO_TXN_TIMEOUT_MS);
        error = rd_kafka_abort_transaction(kio->producer, KIO_TXN_TIMEOUT_MS);
        if (error)
                return txn_fail(kio, "abort transaction", error);
        kio->in_txn = false;
        rewind_to_committed(kio);
        kio->pending = false;
        kio->dr_failed = 0;
        return nd__kio_begin_txn(kio) == ND_OK ? ND_ERR_ABORTABLE
                                               : ND_ERR_KAFKA_FATAL;
}

static nd_err_t commit_eos(nd_kio_t *kio) {
        rd_kafka_topic_partition_list_t *pos = nd__kio_group_positions(kio);
        rd_kafka_error_t *error = NULL;

        if (pos) {
                rd_kafka_consumer_group_metadata_t *cgmd =
                    rd_kafka_consumer_group_metadata(kio->consumer);
                error = rd_kafka_send_offsets_to_transaction(
                    kio->producer, pos, cgmd, KIO_TXN_TIMEOUT_MS);
                rd_kafka_consumer_group_metadata_destroy(cgmd);
                rd_kafka_topic_partition_list_destroy(pos);
        }
        for (int attempt = 0; !error; attempt++) {
                error = rd_kafka_commit_transaction(kio->producer,
                                                    KIO_TXN_TIMEOUT_MS);
                if (!error)
                        break;
                /* Retriable commit errors leave the transaction as it was:
                 * commit_transaction() may simply be called again. */
                if (!rd_kafka_error_is_retriable(error) ||
                    attempt + 1 >= KIO_COMMIT_RETRIES)
                        break;
                log_txn_error("commit transaction (retrying)", error);
                rd_kafka_error_destroy(error);
                error = NULL;
        }
        if (error) {
                if (!rd_kafka_error_txn_requires_abort(error) &&
                    !rd_kafka_error_is_retriable(error))
                        return txn_fail(kio, "commit transaction", error);
                log_txn_error("commit transaction", error);
                rd_kafka_error_destroy(error);
                return abort_and_rewind(kio);
        }
        kio->in_txn = false;
        kio->pending = false;
        kio->dr_failed = 0;
        return nd__kio_begin_txn(kio);
}

/* ------------------------------------------------------------------ */
/* At-least-once                                                       */

void nd__kio_snaps_clear(nd_kio_t *kio) {
        for (; kio->snap_first != kio->epoch; kio->snap_first++) {
                uint32_t i = kio->snap_first % KIO_EPOCHS;
                if (kio->snap[i])
                        rd_kafka_topic_partition_list_destroy(kio->snap[i]);
                kio->snap[i] = NULL;
        }
}

/* Commits the offsets of parts (async or not) and frees parts; a failure
 * is logged and returned ("no offset" is not one). */
static rd_kafka_resp_err_t
commit_offsets(nd_kio_t *kio, rd_kafka_topic_partition_list_t *parts,
               int async) {
        rd_kafka_resp_err_t rerr = rd_kafka_commit(kio->consumer, parts, async);
        rd_kafka_topic_partition_list_destroy(parts);
        if (rerr == RD_KAFKA_RESP_ERR__NO_OFFSET)
                return RD_KAFKA_RESP_ERR_NO_ERROR;
        if (rerr)
                nd_log_warn("kio", "offset commit failed: %s",
                            rd_kafka_err2str(rerr));
        return rerr;
}

/*
 * At-least-once, without blocking the loop: commits (asynchronously) the
 * newest snapshot whose epoch, and every epoch before it, has all its
 * records delivered. Called from the poll loop and at every commit.
 */
void nd__kio_alos_try_commit(nd_kio_t *kio) {
        rd_kafka_topic_partition_list_t *ready = NULL;
        if (kio->dr_failed)
                return; /* the next commit rewinds */
        while (kio->snap_first != kio->epoch &&
               kio->outstanding[kio->snap_first % KIO_EPOCHS] == 0) {
                uint32_t i = kio->snap_first % KIO_EPOCHS;
                if (ready)
                        rd_kafka_topic_partition_list_destroy(ready);
                ready = kio->snap[i];
                kio->snap[i] = NULL;
                kio->snap_first++;
        }
        if (ready)
                commit_offsets(kio, ready, 1);
}

static nd_err_t alos_rewind(nd_kio_t *kio, rd_kafka_resp_err_t rerr) {
        nd_log_warn("kio",
                    "%ld deliveries failed (%s): not committing, re-reading "
                    "from the committed offsets",
                    kio->dr_failed, rd_kafka_err2str(rerr));
        rd_kafka_flush(kio->producer, KIO_TXN_TIMEOUT_MS);
        rewind_to_committed(kio);
        nd__kio_snaps_clear(kio);
        memset(kio->outstanding, 0, sizeof(kio->outstanding));
        kio->dr_failed = 0;
        kio->pending = false;
        return ND_ERR_ABORTABLE;
}

/*
 * At-least-once commit. WHY not flush-then-commit every interval: the flush
 * blocks the loop until every record in flight is acknowledged, which put
 * up to a commit interval of latency on every action (measured p99 104 ms
 * at 2k events/s). Instead the interval closes an epoch; its offsets are
 * committed once its records are delivered (alos_try_commit), so offsets
 * never run ahead of outputs and changelog, and the loop never waits.
 * Revocation and close still flush and commit synchronously.
 */
static nd_err_t commit_alos(nd_kio_t *kio) {
        rd_kafka_topic_partition_list_t *pos;
        rd_kafka_resp_err_t rerr = RD_KAFKA_RESP_ERR_NO_ERROR;

        if (kio->dr_failed)
                return alos_rewind(kio, rerr);
        if (kio->sync_commit ||
            kio->epoch - kio->snap_first >= KIO_EPOCHS - 1) {
                rerr = rd_kafka_flush(kio->producer, KIO_TXN_TIMEOUT_MS);
                if (rerr || kio->dr_failed)
                        return alos_rewind(kio, rerr);
                nd__kio_snaps_clear(kio);
                pos = nd__kio_group_positions(kio);
                if (pos &&
                    commit_offsets(kio, pos, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)
                        return ND_ERR_KAFKA;
                kio->pending = false;
                return ND_OK;
        }
        kio->snap[kio->epoch % KIO_EPOCHS] = nd__kio_group_positions(kio);
        kio->epoch++;
        kio->outstanding[kio->epoch % KIO_EPOCHS] = 0;
        kio->pending = false;
        nd__kio_alos_try_commit(kio);
        return ND_OK;
}

/* ------------------------------------------------------------------ */
/* Commit                                                              */

nd_err_t nd_kio_commit(nd_kio_t *kio) {
        int64_t t0;
        nd_err_t err;
        if (kio->conf.before_commit &&
            (err = kio->conf.before_commit(kio->conf.arg)) != ND_OK) {
                nd_log_warn("kio", "worker %d: before commit: %s",
                            kio->conf.thread, nd_err_str(err));
                if (kio->eos)
                        return abort_and_rewind(kio);
                rewind_to_committed(kio);
                kio->pending = false;
                return ND_ERR_ABORTABLE;
        }
        /* A synchronous commit (revocation, close) also settles epochs
         * whose offsets still wait for their deliveries. */
        if (!kio->pending &&
            !(kio->sync_commit && kio->snap_first != kio->epoch)) {
                kio->sync_commit = false;
                return ND_OK;
        }
        t0 = nd_clock_mono_ns();
        err = kio->eos ? commit_eos(kio) : commit_alos(kio);
        kio->sync_commit = false;
        kio->last_commit_ns = nd_clock_mono_ns() - t0;
        nd_log_debug("kio", "worker %d: commit took %.1f ms: %s",
                     kio->conf.thread, kio->last_commit_ns / 1e6,
                     nd_err_str(err));
        return err;
}

int64_t nd_kio_last_commit_ns(const nd_kio_t *kio) {
        return kio->last_commit_ns;
}

bool nd_kio_has_pending(const nd_kio_t *kio) {
        return kio->pending;
}

nd_err_t nd_kio_close(nd_kio_t *kio, int timeout_ms) {
        nd_err_t err = ND_OK;
        rd_kafka_resp_err_t rerr;
        nd_kio_release(kio);
        kio->sync_commit = true;
        err = nd_kio_commit(kio);
        /* The final revocation inside close commits again: a no-op now.
         * Queue references must go before the consumer closes. */
        nd__kio_group_release_queues(kio);
        rerr = rd_kafka_consumer_close(kio->consumer);
        if (rerr)
                nd_log_warn("kio", "consumer close: %s",
                            rd_kafka_err2str(rerr));
        rerr = rd_kafka_flush(kio->producer, timeout_ms);
        if (rerr) {
                nd_log_warn("kio", "producer flush: %s",
                            rd_kafka_err2str(rerr));
                if (err == ND_OK)
                        err = ND_ERR_TIMEOUT;
        }
        return err;
}

/* ------------------------------------------------------------------ */
/* Rebalance                                                           */

/* Distinct partition numbers of a list, into out[]; returns how many. */
static int partition_numbers(const rd_kafka_topic_partition_list_t *parts,
                             int32_t *out) {
        int n = 0;
        for (int i = 0; i < parts->cnt; i++) {
                int32_t p = parts->elems[i].partition;
                bool seen = false;
                for (int j = 0; j < n && !seen; j++)
                        seen = out[j] == p;
                if (!seen)
                        out[n++] = p;
        }
        return n;
}

static void assignment_add(nd_kio_t *kio,
                           const rd_kafka_topic_partition_list_t *parts) {
        for (int i = 0; i < parts->cnt; i++)
                if (!rd_kafka_topic_partition_list_find(
                        kio->assignment, parts->elems[i].topic,
                        parts->elems[i].partition))
                        rd_kafka_topic_partition_list_add(
                            kio->assignment, parts->elems[i].topic,
                            parts->elems[i].partition);
}

static void assignment_del(nd_kio_t *kio,
                           const rd_kafka_topic_partition_list_t *parts) {
        for (int i = 0; i < parts->cnt; i++)
                rd_kafka_topic_partition_list_del(kio->assignment,
                                                  parts->elems[i].topic,
                                                  parts->elems[i].partition);
}

void nd__kio_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t *parts,
                          void *opaque) {
        nd_kio_t *kio = opaque;
        bool cooperative =
            !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
        int32_t *nums =
            nd_calloc((size_t)(parts->cnt ? parts->cnt : 1), sizeof(*nums));
        int n = partition_numbers(parts, nums);
        rd_kafka_error_t *error = NULL;

        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                nd_log_info("kio", "worker %d: assigned %d partitions",
                            kio->conf.thread, parts->cnt);
                if (cooperative)
                        error = rd_kafka_incremental_assign(rk, parts);
                else
                        rd_kafka_assign(rk, parts);
                assignment_add(kio, parts);
                nd__kio_group_assign(kio, parts);
                if (kio->conf.on_assign)
                        kio->conf.on_assign(kio->conf.arg, nums, n);
        } else {
                bool lost = rd_kafka_assignment_lost(rk);
                nd_log_info("kio", "worker %d: %s %d partitions",
                            kio->conf.thread, lost ? "lost" : "revoked",
                            parts->cnt);
                /* Commit before letting go, so that the next owner starts
                 * exactly after what we emitted; a lost assignment may
                 * already belong to someone else: abort instead. */
                if (lost) {
                        if (kio->eos && kio->pending)
                                abort_and_rewind(kio);
                        kio->pending = false;
                } else if ((kio->sync_commit = true, nd_kio_commit(kio)) !=
                           ND_OK) {
                        nd_log_warn("kio",
                                    "commit before revocation failed; the "
                                    "next owner re-reads from the last "
                                    "commit");
                }
                if (kio->conf.on_revoke)
                        kio->conf.on_revoke(kio->conf.arg, nums, n, lost);
                nd__kio_group_revoke(kio,
                                     cooperative ? parts : kio->assignment);
                if (cooperative) {
                        error = rd_kafka_incremental_unassign(rk, parts);
                        assignment_del(kio, parts);
                } else {
                        rd_kafka_assign(rk, NULL);
                        rd_kafka_topic_partition_list_destroy(kio->assignment);
                        kio->assignment = rd_kafka_topic_partition_list_new(16);
                }
        }
        if (error) {
                nd_log_error("kio", "rebalance: %s",
                             rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        }
        nd_free(nums);
}
