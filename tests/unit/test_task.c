/*
 * test_task.c — the task core and its changelog (common/runtime/task.c,
 * changelog.c) through nd_test_driver, with a purpose-built processor
 * "remind": every event arms the customer's timer at timestamp + delay; on
 * firing it emits one action and deletes the entry. It is small on purpose,
 * so that what fails is the task's order, restore or clock, not the
 * processor.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "nd_test.h"
#include "nd_test_driver.h"
#include "nudge/processor.h"
#include "task.h"

#define T0 1700000000000LL

struct remind_conf {
        int64_t delay;
};

struct remind_val {
        int64_t armed_by_ts;
        int32_t events;
};

static const nd_cfg_prop_t remind_props[] = {
    ND_CFG_DURATION("delay", "1m", offsetof(struct remind_conf, delay), 0,
                    ND_DAY(1), "delay after each event"),
    ND_CFG_END};

static nd_err_t remind_init(nd_ctx_t *ctx, void *state, const void *conf) {
        *(const struct remind_conf **)state = conf;
        return ND_OK;
}

static void remind_process(nd_ctx_t *ctx, void *state, const nd_rec_t *rec) {
        const struct remind_conf *conf = *(const struct remind_conf **)state;
        bool created;
        nd_entry_t *e = nd_ctx_upsert(ctx, rec->ev->key, &created);
        struct remind_val *v = nd_entry_value(e);
        /* a processor's log level is a plain int (nd_ctx_log) */
        if (rec->ev->key.len == 4 && !memcmp(rec->ev->key.p, "loud", 4)) {
                nd_ctx_log(ctx, 9, "loud %d", 9);
                nd_ctx_log(ctx, -3, "quiet %d", -3);
        }
        v->events++;
        v->armed_by_ts = rec->ev->timestamp;
        nd_ctx_changed(ctx, e);
        nd_ctx_timer_set(ctx, e, rec->ev->timestamp + conf->delay);
}

static void remind_timer(nd_ctx_t *ctx, void *state, nd_entry_t *e,
                         int64_t due) {
        struct remind_val *v = nd_entry_value(e);
        char id[33];
        nd_str_t key = nd_entry_key(e);
        nd_str_t parts[2] = {
            key, {nd_ctx_name(ctx), (uint32_t)strlen(nd_ctx_name(ctx))}};
        nd_action_t act = {0};
        (void)state;
        nd_action_id(parts, 2, id);
        act.action_id = (nd_str_t){id, 32};
        act.customer_id = key;
        act.channel = ND_CHANNEL_WEB;
        act.created_at = due;
        act.stage = v->events;
        nd_ctx_emit(ctx, &act);
        nd_ctx_delete(ctx, e);
}

static const nd_processor_def_t remind_def = {
    .abi = ND_PROCESSOR_ABI_1,
    .name = "remind",
    /* Any type: the task under test does not care which. */
    .trigger = ND_TRIGGER_CART_ABANDONMENT,
    .doc = "test processor",
    .config = remind_props,
    .config_size = sizeof(struct remind_conf),
    .state_size = sizeof(void *),
    .value_size = sizeof(struct remind_val),
    .init = remind_init,
    .process = remind_process,
    .on_timer = remind_timer,
};

static const nd_processor_def_t *lookup(const char *type) {
        return strcmp(type, "remind") ? NULL : &remind_def;
}

static const char *const two_triggers =
    "time:\n  max_out_of_orderness: 0\n  idle_advance_after: 1s\n"
    "triggers:\n"
    "  - {name: b_second, type: remind, delay: 1m}\n"
    "  - {name: a_first, type: remind, delay: 1m}\n";

static void view(nd_test_driver_t *drv, const char *cust, int64_t ts) {
        nd_test_driver_pipef(drv,
                             "{\"event_id\":\"e-%s-%lld\",\"type\":\"page_"
                             "viewed\",\"customer_id\":\"%s\",\"anonymous_id\":"
                             "null,\"timestamp\":%lld,\"channel\":\"web\","
                             "\"device_id\":null,\"device_type\":\"desktop\","
                             "\"session_id\":null}",
                             cust, (long long)ts, cust, (long long)ts);
}

/* nd_ctx_log() clamps a level outside the table (it read past the level
 * names before: AddressSanitizer) to the nearest one. */
START_TEST(a_processor_log_level_out_of_range_is_clamped) {
        nd_test_driver_t *drv =
            nd_test_driver_new_lookup(two_triggers, T0, lookup);
        char buf[4096];
        ssize_t n;
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        nd_log_setup(ND_LOG_DEBUG, false);
        nd_log_set_fd(fds[1]);
        view(drv, "loud", T0);
        nd_log_set_fd(2);
        nd_log_setup(ND_LOG_INFO, false);
        close(fds[1]);
        n = read(fds[0], buf, sizeof(buf) - 1);
        close(fds[0]);
        ck_assert_int_gt(n, 0);
        buf[n] = '\0';
        ck_assert_msg(strstr(buf, "ERROR") && strstr(buf, "loud 9"), "%s", buf);
        ck_assert_msg(strstr(buf, "DEBUG") && strstr(buf, "quiet -3"), "%s",
                      buf);
        nd_test_driver_destroy(drv);
}
END_TEST

START_TEST(timer_fires_only_when_watermark_passes_due) {
        nd_test_driver_t *drv =
            nd_test_driver_new_lookup(two_triggers, T0, lookup);
        view(drv, "c1", T0);
        /* W = T0 + 60000 equals D: not yet (W > D is strict). */
        view(drv, "c2", T0 + 60000);
        ck_assert_int_eq(nd_test_driver_output_count(drv), 0);
        view(drv, "c2", T0 + 60001);
        ck_assert_int_eq(nd_test_driver_output_count(drv), 2);
        nd_test_driver_destroy(drv);
}
END_TEST

START_TEST(an_event_at_the_due_time_still_cancels) {
        nd_test_driver_t *drv =
            nd_test_driver_new_lookup(two_triggers, T0, lookup);
        view(drv, "c1", T0);
        view(drv, "c1", T0 + 60000); /* re-arms both to T0 + 120000 */
        view(drv, "c9", T0 + 100000);
        ck_assert_int_eq(nd_test_driver_output_count(drv), 0);
        nd_test_driver_destroy(drv);
}
END_TEST

START_TEST(simultaneous_timers_fire_by_key_then_trigger_name) {
        nd_test_driver_t *drv =
            nd_test_driver_new_lookup(two_triggers, T0, lookup);
        const nd_test_action_t *a;
        view(drv, "zed", T0);
        view(drv, "amy", T0);
        view(drv, "x", T0 + 120000);
        ck_assert_int_eq(nd_test_driver_output_count(drv), 4);
        a = nd_test_driver_read(drv);
        ck_assert_str_eq(nd_test_str(drv, a->act.customer_id), "amy");
        ck_assert_str_eq(nd_test_str(drv, a->act.trigger_name), "a_first");
        a = nd_test_driver_read(drv);
        ck_assert_str_eq(nd_test_str(drv, a->act.customer_id), "amy");
        ck_assert_str_eq(nd_test_str(drv, a->act.trigger_name), "b_second");
        a = nd_test_driver_read(drv);
        ck_assert_str_eq(nd_test_str(drv, a->act.customer_id), "zed");
        ck_assert_int_eq(a->act.created_at, T0 + 60000);
        nd_test_driver_destroy(drv);
}
END_TEST

START_TEST(timers_and_watermark_survive_a_restart) {
        nd_test_driver_t *drv =
            nd_test_driver_new_lookup(two_triggers, T0, lookup);
        const nd_test_action_t *a;
        view(drv, "c1", T0);
        view(drv, "c1", T0 + 1000);
        view(drv, "c2", T0 + 30000);
        ck_assert_uint_eq(nd_test_driver_timers(drv), 4);
        nd_test_driver_restart(drv);
        ck_assert_int_eq(nd_test_driver_watermark(drv), T0 + 30000);
        ck_assert_uint_eq(nd_test_driver_timers(drv), 4);
        ck_assert_uint_eq(nd_test_driver_entries(drv, "a_first"), 2);
        /* An older event must not move W back after the restore. */
        view(drv, "c3", T0);
        ck_assert_int_eq(nd_test_driver_watermark(drv), T0 + 30000);
        /* c3's late event armed a timer at T0 + 60000, already behind
         * c1's: it fires first at the next firing step (§5). */
        view(drv, "c3", T0 + 61001);
        ck_assert_int_eq(nd_test_driver_output_count(drv), 4);
        a = nd_test_driver_read(drv);
        ck_assert_str_eq(nd_test_str(drv, a->act.customer_id), "c3");
        ck_assert_int_eq(a->act.created_at, T0 + 60000);
        nd_test_driver_read(drv);
        a = nd_test_driver_read(drv);
        ck_assert_str_eq(nd_test_str(drv, a->act.customer_id), "c1");
        ck_assert_int_eq(a->act.stage, 2); /* the value came back too */
        ck_assert_int_eq(a->act.created_at, T0 + 61000);
        nd_test_driver_destroy(drv);
}
END_TEST

START_TEST(a_deleted_entry_stays_deleted_after_a_restart) {
        nd_test_driver_t *drv =
            nd_test_driver_new_lookup(two_triggers, T0, lookup);
        view(drv, "c1", T0);
        nd_test_driver_restart(drv);
        view(drv, "c2", T0 + 60001); /* c1 fires and is deleted */
        ck_assert_int_eq(nd_test_driver_output_count(drv), 2);
        nd_test_driver_restart(drv);
        ck_assert_uint_eq(nd_test_driver_entries(drv, "a_first"), 1);
        ck_assert_uint_eq(nd_test_driver_timers(drv), 2);
        nd_test_driver_destroy(drv);
}
END_TEST

START_TEST(idle_input_advances_the_watermark_from_the_wall_clock) {
        /* Event time = wall time here, as in live operation. */
        nd_test_driver_t *drv =
            nd_test_driver_new_lookup(two_triggers, T0, lookup);
        view(drv, "c1", T0);
        ck_assert_int_eq(nd_test_driver_advance_wall(drv, 500), 0);
        ck_assert_int_eq(nd_test_driver_advance_wall(drv, 59000), 0);
        ck_assert_int_eq(nd_test_driver_output_count(drv), 0);
        ck_assert_int_eq(nd_test_driver_advance_wall(drv, 501), 2);
        ck_assert_int_eq(nd_test_driver_output_count(drv), 2);
        ck_assert_int_eq(nd_test_driver_read(drv)->act.emitted_at, T0 + 60001);
        nd_test_driver_destroy(drv);
}
END_TEST

START_TEST(replay_end_time_fires_what_is_due) {
        nd_test_driver_t *drv =
            nd_test_driver_new_lookup(two_triggers, T0, lookup);
        view(drv, "c1", T0);
        ck_assert_int_eq(nd_test_driver_end(drv, T0 + 60000), 0);
        ck_assert_int_eq(nd_test_driver_end(drv, T0 + 60001), 2);
        nd_test_driver_destroy(drv);
}
END_TEST

START_TEST(action_ids_are_stable_and_length_prefixed) {
        char a[33], b[33], c[33];
        nd_str_t p1[2] = {{"ab", 2}, {"c", 1}};
        nd_str_t p2[2] = {{"a", 1}, {"bc", 2}};
        nd_action_id(p1, 2, a);
        nd_action_id(p2, 2, b);
        nd_action_id(p1, 2, c);
        ck_assert_int_eq((int)strlen(a), 32);
        ck_assert_str_ne(a, b);
        ck_assert_str_eq(a, c);
}
END_TEST


/* ---- changelog records (one per customer, every trigger's entry) ---- */

static const char *const two_delays =
    "time:\n  max_out_of_orderness: 0\n  idle_advance_after: 1s\n"
    "triggers:\n"
    "  - {name: b_second, type: remind, delay: 1m}\n"
    "  - {name: a_first, type: remind, delay: 2m}\n";

/* The last record of key in the driver's changelog, or -1. */
static int last_record(nd_test_driver_t *drv, const char *key) {
        int found = -1;
        for (int i = 0; i < nd_test_driver_log_count(drv); i++) {
                nd_str_t k;
                const uint8_t *v;
                size_t vlen;
                nd_test_driver_log(drv, i, &k, &v, &vlen);
                if (k.len == strlen(key) && !memcmp(k.p, key, k.len))
                        found = i;
        }
        return found;
}

/* The tags of record i's entries, in order; returns how many (-1: a
 * tombstone). */
static int record_tags(nd_test_driver_t *drv, int i, uint32_t *tags) {
        nd_str_t k;
        const uint8_t *v;
        size_t vlen, at = 1;
        int n = 0;
        nd_test_driver_log(drv, i, &k, &v, &vlen);
        if (!v)
                return -1;
        ck_assert_int_eq(v[0], ND_TASK_CHANGELOG_FORMAT);
        while (at < vlen) {
                uint32_t len;
                ck_assert_uint_ge(vlen - at, 8);
                tags[n++] = (uint32_t)v[at] | (uint32_t)v[at + 1] << 8 |
                            (uint32_t)v[at + 2] << 16 |
                            (uint32_t)v[at + 3] << 24;
                len = (uint32_t)v[at + 4] | (uint32_t)v[at + 5] << 8 |
                      (uint32_t)v[at + 6] << 16 | (uint32_t)v[at + 7] << 24;
                at += 8 + len;
        }
        ck_assert_uint_eq(at, vlen);
        return n;
}

START_TEST(one_record_per_changed_customer_holds_every_trigger_s_entry) {
        nd_test_driver_t *drv =
            nd_test_driver_new_lookup(two_delays, T0, lookup);
        uint32_t tags[4];
        view(drv, "c1", T0);
        view(drv, "c1", T0 + 10);
        view(drv, "c2", T0 + 20);
        /* c1, c2 and the watermark: not one record per trigger */
        ck_assert_int_eq(nd_test_driver_flush(drv), 3);
        ck_assert_int_eq(record_tags(drv, last_record(drv, "c1"), tags), 2);
        ck_assert_uint_eq(tags[0], nd_task_changelog_tag("b_second"));
        ck_assert_uint_eq(tags[1], nd_task_changelog_tag("a_first"));
        ck_assert_int_eq(nd_test_driver_flush(drv), 0); /* nothing new */
        view(drv, "c2", T0 + 30);
        ck_assert_int_eq(nd_test_driver_flush(drv), 2); /* c2, watermark */
        nd_test_driver_destroy(drv);
}
END_TEST

START_TEST(an_entry_gone_from_one_trigger_leaves_the_record_and_the_store) {
        nd_test_driver_t *drv =
            nd_test_driver_new_lookup(two_delays, T0, lookup);
        uint32_t tags[4];
        view(drv, "c1", T0);
        nd_test_driver_flush(drv);
        /* b_second fires for c1 (1 min) and deletes its entry; a_first's
         * (2 min) stays. */
        view(drv, "c2", T0 + 60001);
        ck_assert_int_eq(nd_test_driver_output_count(drv), 1);
        nd_test_driver_flush(drv);
        ck_assert_int_eq(record_tags(drv, last_record(drv, "c1"), tags), 1);
        ck_assert_uint_eq(tags[0], nd_task_changelog_tag("a_first"));
        /* The whole log replayed in order: c1's first record had both
         * entries, the second only a_first's. */
        nd_test_driver_restart(drv);
        ck_assert_uint_eq(nd_test_driver_entries(drv, "b_second"), 1);
        ck_assert_uint_eq(nd_test_driver_entries(drv, "a_first"), 2);
        /* a_first fires for c1 too: nothing of c1 is left, a tombstone */
        view(drv, "c2", T0 + 120001);
        nd_test_driver_flush(drv);
        ck_assert_int_eq(record_tags(drv, last_record(drv, "c1"), tags), -1);
        nd_test_driver_restart(drv);
        ck_assert_uint_eq(nd_test_driver_entries(drv, "b_second"), 1);
        ck_assert_uint_eq(nd_test_driver_entries(drv, "a_first"), 1);
        nd_test_driver_destroy(drv);
}
END_TEST

START_TEST(restore_skips_removed_triggers_and_refuses_bad_records) {
        nd_test_driver_t *drv =
            nd_test_driver_new_lookup(two_delays, T0, lookup);
        nd_str_t k;
        const uint8_t *v;
        size_t vlen;
        uint8_t buf[512];
        static const uint8_t old_format[] = {2, 0};
        view(drv, "c1", T0);
        view(drv, "c2", T0);
        nd_test_driver_flush(drv);
        nd_test_driver_log(drv, last_record(drv, "c1"), &k, &v, &vlen);
        ck_assert_uint_le(vlen, sizeof(buf));
        /* c1's record under another key: the entries' keys differ */
        nd_test_driver_log_append(drv, "c3", 2, v, vlen, true);
        /* cut short */
        nd_test_driver_log_append(drv, "c1", 2, v, vlen - 1, true);
        /* format 2 (one topic per trigger) is not read */
        nd_test_driver_log_append(drv, "c1", 2, old_format, 2, true);
        nd_test_driver_restart(drv);
        ck_assert_uint_eq(nd_test_driver_entries(drv, "a_first"), 2);
        /* entries of triggers that are no longer configured are skipped:
         * c1's record with both tags changed says c1 has no entry in any
         * of today's triggers */
        memcpy(buf, v, vlen);
        buf[1] ^= 0xff;
        buf[1 + 8 + buf[5]] ^= 0xff;
        nd_test_driver_log_append(drv, "c1", 2, buf, vlen, false);
        nd_test_driver_restart(drv);
        ck_assert_uint_eq(nd_test_driver_entries(drv, "a_first"), 1);
        ck_assert_uint_eq(nd_test_driver_entries(drv, "b_second"), 1);
        nd_test_driver_destroy(drv);
}
END_TEST


START_TEST(an_entry_that_does_not_decode_costs_only_its_own_trigger) {
        /* An entry of another value layout (an earlier build's) in c1's
         * record: that trigger's entry for c1 is dropped, the other
         * trigger's is applied, and the record counts as bad. */
        nd_test_driver_t *drv =
            nd_test_driver_new_lookup(two_delays, T0, lookup);
        nd_str_t k;
        const uint8_t *v;
        size_t vlen, klen;
        uint8_t buf[512];
        uint32_t tags[4];
        const char *first;
        view(drv, "c1", T0);
        view(drv, "c2", T0);
        nd_test_driver_flush(drv);
        ck_assert_int_eq(record_tags(drv, last_record(drv, "c1"), tags), 2);
        first = tags[0] == nd_task_changelog_tag("a_first") ? "a_first"
                                                            : "b_second";
        nd_test_driver_log(drv, last_record(drv, "c1"), &k, &v, &vlen);
        ck_assert_uint_le(vlen, sizeof(buf));
        memcpy(buf, v, vlen);
        /* the first entry: tag, length, then format, key length, key,
         * touched (8), value length (4): make the value length wrong */
        klen = buf[1 + 8 + 1];
        buf[1 + 8 + 2 + klen + 8] ^= 0x01;
        nd_test_driver_log_append(drv, "c1", 2, buf, vlen, true);
        nd_test_driver_restart(drv);
        ck_assert_uint_eq(nd_test_driver_entries(drv, first), 1);
        ck_assert_uint_eq(nd_test_driver_entries(drv, strcmp(first, "a_first")
                                                          ? "a_first"
                                                          : "b_second"),
                          2);
        nd_test_driver_destroy(drv);
}
END_TEST

/* ---- state.ttl ---- */

static nd_err_t count_emit(void *arg, nd_task_t *task, int inst,
                           const nd_action_t *act) {
        (void)task;
        (void)inst;
        (void)act;
        (*(int *)arg)++;
        return ND_OK;
}

static void remind_event(nd_task_t *task, const char *cust, int64_t ts) {
        nd_event_t ev = {0};
        nd_rec_t rec = {.topic = "test", .partition = 0};
        ev.type = ND_EV_PAGE_VIEWED;
        ev.event_id = (nd_str_t){"e", 1};
        ev.customer_id = ev.key = (nd_str_t){cust, (uint32_t)strlen(cust)};
        ev.key_is_customer = true;
        ev.timestamp = ts;
        ev.channel = ND_CHANNEL_WEB;
        rec.key = ev.key.p;
        rec.key_len = ev.key.len;
        rec.timestamp = ts;
        rec.ev = &ev;
        nd_task_process(task, &rec);
}

/* TRIGGERS.md §5: state.ttl never drops state that holds a pending timer;
 * it lives until the timer fires, then expires from its last touch. */
START_TEST(ttl_keeps_an_entry_whose_timer_is_pending) {
        static const char yaml[] =
            "time:\n  max_out_of_orderness: 0\n  idle_advance_after: 1s\n"
            "state:\n  ttl: 1s\n"
            "triggers:\n  - {name: r, type: remind, delay: 1m}\n";
        char errstr[512];
        nd_config_t *cfg;
        int emitted = 0;
        nd_task_conf_t tc = {.partition = 0,
                             .sink = {count_emit, NULL, &emitted},
                             .live = false};
        nd_task_t *task;
        nd_task_stats_t st;

        ck_assert_int_eq(nd_config_load_string("t.yaml", yaml, strlen(yaml),
                                               lookup, &cfg, errstr,
                                               sizeof(errstr)),
                         ND_OK);
        tc.cfg = cfg;
        task = nd_task_new(&tc);
        ck_assert_int_eq(nd_task_start(task), ND_OK);
        remind_event(task, "c1", T0); /* due T0 + 60000, TTL 1 s */
        remind_event(task, "c2", T0 + 30000);
        /* c1 untouched for 30 s > ttl, but its timer is pending. */
        ck_assert_uint_eq(nd_task_evict(task, 1024), 0);
        nd_task_stats(task, &st);
        ck_assert_uint_eq(st.entries, 2);
        ck_assert_uint_eq(st.timers_pending, 2);
        ck_assert_uint_eq(nd_task_end(task, T0 + 60001), 1);
        ck_assert_int_eq(emitted, 1);
        ck_assert_uint_eq(nd_task_end(task, T0 + 90001), 1);
        ck_assert_int_eq(emitted, 2);
        nd_task_destroy(task);
        nd_config_destroy(cfg);
}
END_TEST

static Suite *task_suite(void) {
        Suite *s = suite_create("task");
        TCase *tc = tcase_create("order");
        tcase_add_test(tc, timer_fires_only_when_watermark_passes_due);
        tcase_add_test(tc, a_processor_log_level_out_of_range_is_clamped);
        tcase_add_test(tc, an_event_at_the_due_time_still_cancels);
        tcase_add_test(tc, simultaneous_timers_fire_by_key_then_trigger_name);
        suite_add_tcase(s, tc);
        tc = tcase_create("restore");
        tcase_add_test(tc, timers_and_watermark_survive_a_restart);
        tcase_add_test(tc, a_deleted_entry_stays_deleted_after_a_restart);
        tcase_add_test(
            tc, one_record_per_changed_customer_holds_every_trigger_s_entry);
        tcase_add_test(
            tc, an_entry_gone_from_one_trigger_leaves_the_record_and_the_store);
        tcase_add_test(tc,
                       restore_skips_removed_triggers_and_refuses_bad_records);
        tcase_add_test(
            tc, an_entry_that_does_not_decode_costs_only_its_own_trigger);
        suite_add_tcase(s, tc);
        tc = tcase_create("clock");
        tcase_add_test(tc,
                       idle_input_advances_the_watermark_from_the_wall_clock);
        tcase_add_test(tc, replay_end_time_fires_what_is_due);
        suite_add_tcase(s, tc);
        tc = tcase_create("ids");
        tcase_add_test(tc, action_ids_are_stable_and_length_prefixed);
        suite_add_tcase(s, tc);
        tc = tcase_create("ttl");
        tcase_add_test(tc, ttl_keeps_an_entry_whose_timer_is_pending);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(task_suite());
}
