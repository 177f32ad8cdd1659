/*
 * act — the parts of an action that every trigger fills the same way
 * (TRIGGERS.md §4; docs/action-contract.md), written once for all of them:
 *
 *   - the key: exactly one of customer_id and anonymous_id is set, the one
 *     the customer's key came from (nd_act_set_key);
 *   - expiry: the `expires_after` property, whose row in the property table
 *     (and so its line in docs/configuration.md) is ND_ACT_CFG_EXPIRES_AFTER,
 *     and its rule, expires_at = created_at + expires_after, 0 leaving
 *     expires_at null (nd_act_set_expiry).
 *
 * Header only: static inline, on the emit path of every trigger.
 * Thread safety: plain data.
 */
#ifndef ND_PROC_ACT_H
#define ND_PROC_ACT_H

#include <stdbool.h>
#include <stdint.h>

#include "nudge/processor.h"

/**
 * The `expires_after` row of a processor's property table: dflt is its
 * default (a duration, e.g. "12h"), offset the field's offsetof (int64_t ms).
 */
#define ND_ACT_CFG_EXPIRES_AFTER(dflt, offset)                          \
        ND_CFG_DURATION("expires_after", dflt, offset, 0, ND_DAY(365),  \
                        "`expires_at` = `created_at` + this; 0 leaves " \
                        "`expires_at` null.")

/** Sets customer_id to key when is_customer, else anonymous_id. */
static inline void nd_act_set_key(nd_action_t *act, nd_str_t key,
                                  bool is_customer) {
        if (is_customer)
                act->customer_id = key;
        else
                act->anonymous_id = key;
}

/**
 * expires_at = created_at + expires_after (saturating); expires_after 0
 * leaves expires_at null. Call after setting created_at.
 */
static inline void nd_act_set_expiry(nd_action_t *act, int64_t expires_after) {
        if (expires_after > 0) {
                act->expires_at =
                    nd_time_add_sat(act->created_at, expires_after);
                act->has_expires_at = true;
        }
}

#endif
