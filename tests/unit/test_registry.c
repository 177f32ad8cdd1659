/*
 * test_registry.c — the processor registry against the trigger type list
 * (nudge/action.h ND_TRIGGER_TYPE_MAP): every processor that emits actions
 * names the type whose name is its own, every type has its processor, and
 * the action schema's TriggerType symbols are the list in order.
 */
#include <stdio.h>
#include <string.h>

#include "mem.h"
#include "nd_test.h"
#include "nudge/action.h"
#include "registry.h"

START_TEST(each_processor_names_its_own_trigger_type) {
        for (int i = 0; nd_processors[i]; i++) {
                const nd_processor_def_t *def = nd_processors[i];
                int t = nd_trigger_type_parse(def->name, strlen(def->name));
                ck_assert_msg((int)def->trigger == t,
                              "processor %s: .trigger is %d, its name is "
                              "trigger type %d (-1: none)",
                              def->name, (int)def->trigger, t);
        }
}
END_TEST

START_TEST(every_trigger_type_has_a_processor) {
        for (int t = 0; t < ND_TRIGGER__CNT; t++) {
                const char *name = nd_trigger_type_name((nd_trigger_type_t)t);
                const nd_processor_def_t *def = nd_processor_find(name);
                ck_assert_msg(def != NULL, "trigger type %s has no processor",
                              name);
                ck_assert_int_eq(def->trigger, t);
        }
        for (int t = 0; t < ND_TRIGGER__CNT; t++)
                for (int u = t + 1; u < ND_TRIGGER__CNT; u++)
                        ck_assert_str_ne(
                            nd_trigger_type_label((nd_trigger_type_t)t),
                            nd_trigger_type_label((nd_trigger_type_t)u));
        ck_assert_str_eq(nd_trigger_type_label(ND_TRIGGER_CART_ABANDONMENT),
                         "cart");
        ck_assert_str_eq(nd_trigger_type_label(ND_TRIGGER__CNT), "?");
        ck_assert_str_eq(nd_trigger_type_name(ND_TRIGGER__CNT), "?");
        ck_assert_str_eq(nd_trigger_type_name(ND_TRIGGER_NONE), "?");
}
END_TEST

START_TEST(action_schema_symbols_are_the_list_in_order) {
        char *avsc = nd_test_slurp(ND_SOURCE_DIR "/schemas/action.avsc", NULL);
        const char *p = strstr(avsc, "\"TriggerType\"");
        ck_assert_ptr_nonnull(p);
        p = strstr(p, "\"symbols\"");
        ck_assert_ptr_nonnull(p);
        for (int t = 0; t < ND_TRIGGER__CNT; t++) {
                char q[64];
                snprintf(q, sizeof(q), "\"%s\"",
                         nd_trigger_type_name((nd_trigger_type_t)t));
                const char *at = strstr(p, q);
                ck_assert_msg(at != NULL && at < strchr(p, ']'),
                              "%s missing or out of order", q);
                p = at + strlen(q);
        }
        ck_assert_msg(strchr(p, '"') > strchr(p, ']'),
                      "TriggerType has symbols beyond the list");
        nd_free(avsc);
}
END_TEST

static Suite *registry_suite(void) {
        Suite *s = suite_create("registry");
        TCase *tc = tcase_create("trigger_types");
        tcase_add_test(tc, each_processor_names_its_own_trigger_type);
        tcase_add_test(tc, every_trigger_type_has_a_processor);
        tcase_add_test(tc, action_schema_symbols_are_the_list_in_order);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return nd_test_main(registry_suite());
}
