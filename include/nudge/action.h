/*
 * nudge — the action event a processor emits (TRIGGERS.md §4).
 *
 * A processor fills an nd_action_t on its stack, pointing at strings and
 * arrays it owns (its state, or the current event), and hands it to the
 * runtime, which encodes it (Avro in the Confluent wire format with the
 * schema of schemas/action.avsc, or JSON lines in replay) before the call
 * returns. Nothing is kept: the runtime copies the bytes it produces.
 *
 * Field names, types and meaning are those of schemas/action.avsc and
 * docs/action-contract.md. action_id is computed by the processor (a stable
 * hash, see TRIGGERS.md §3); here it is just a string.
 *
 * Thread safety: plain data.
 */
#ifndef ND_ACTION_H
#define ND_ACTION_H

#include <stdbool.h>
#include <stdint.h>

#include "nudge/event.h"

/*
 * The trigger types, written once: XX(NAME, "name", "label"), the label a
 * short word for status lines. The enum, the names, the labels, the parser
 * and the per-type tables (demo, metrics) derive from this list; the
 * symbols of TriggerType in schemas/action.avsc must be these names in this
 * order (an enum index on the wire is the C value), which serde checks when
 * it loads the schema. A processor names the type of its actions in its
 * definition (nd_processor_def_t.trigger), so a type missing here fails the
 * build. Append only: a type's value is its index in every action ever
 * written.
 */
#define ND_TRIGGER_TYPE_MAP(XX)                                    \
        XX(CART_ABANDONMENT, "cart_abandonment", "cart")           \
        XX(BROWSE_ABANDONMENT, "browse_abandonment", "browse")     \
        XX(POST_PURCHASE_UPSELL, "post_purchase_upsell", "upsell") \
        XX(CHANNEL_SWITCH, "channel_switch", "switch")

typedef enum {
        /* A processor that emits no actions (passthrough forwards). */
        ND_TRIGGER_NONE = -1,
#define ND_TRIGGER_ENUM_(name, text, label) ND_TRIGGER_##name,
        ND_TRIGGER_TYPE_MAP(ND_TRIGGER_ENUM_)
#undef ND_TRIGGER_ENUM_
            ND_TRIGGER__CNT
} nd_trigger_type_t;

typedef struct nd_action_s {
        nd_str_t action_id; /* required, not empty */
        /* Filled by the runtime from the processor's definition: whatever a
         * processor leaves here is overwritten by nd_ctx_emit(). */
        nd_trigger_type_t trigger;
        nd_str_t trigger_name; /* required, not empty */
        /* Exactly one is set (TRIGGERS.md §5): customer_id when the key came
         * from customer_id, else anonymous_id. */
        nd_str_t customer_id;
        nd_str_t anonymous_id;
        nd_channel_t channel; /* where to aim */
        nd_str_t device_id;   /* null: any device */
        int32_t stage;        /* 0 except cart_abandonment */
        int64_t created_at;   /* event time of the decision, ms */
        int64_t emitted_at;   /* wall clock, ms */
        int64_t expires_at;   /* ms; only when has_expires_at */
        bool has_expires_at;
        nd_str_t cart_id;
        nd_str_t order_id;
        const nd_line_item_t *items; /* item_cnt lines, best first */
        uint32_t item_cnt;
        int64_t value_cents; /* only when has_value */
        bool has_value;
        nd_str_t currency;
        const nd_str_t *recommended_skus;
        uint32_t recommended_cnt;
        nd_channel_t from_channel; /* only when has_from_channel */
        bool has_from_channel;
        nd_str_t from_device_id;
        const nd_str_t *source_event_ids;
        uint32_t source_event_cnt;
        int64_t gap_ms; /* channel_switch; only when has_gap */
        bool has_gap;
} nd_action_t;

/** "cart_abandonment"...; "?" for a value out of range. */
const char *nd_trigger_type_name(nd_trigger_type_t trigger);
/** Its short label ("cart", "browse"...); "?" for a value out of range. */
const char *nd_trigger_type_label(nd_trigger_type_t trigger);
/** Parses a trigger type name; -1 when unknown. */
int nd_trigger_type_parse(const char *name, size_t len);

/** The action's Kafka key: customer_id when set, else anonymous_id. */
static inline nd_str_t nd_action_key(const nd_action_t *act) {
        return nd_str_is_null(act->customer_id) ? act->anonymous_id
                                                : act->customer_id;
}

#endif
