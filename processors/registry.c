/* registry.c — one line per processor; see registry.h. */
#include <string.h>

#include "registry.h"

extern const nd_processor_def_t nd_proc_passthrough;
extern const nd_processor_def_t nd_proc_cart_abandonment;
extern const nd_processor_def_t nd_proc_browse_abandonment;
extern const nd_processor_def_t nd_proc_post_purchase_upsell;
extern const nd_processor_def_t nd_proc_channel_switch;

const nd_processor_def_t *const nd_processors[] = {
    &nd_proc_passthrough,        &nd_proc_cart_abandonment,
    &nd_proc_browse_abandonment, &nd_proc_post_purchase_upsell,
    &nd_proc_channel_switch,     NULL,
};

const nd_processor_def_t *nd_processor_find(const char *type) {
        for (int i = 0; nd_processors[i]; i++)
                if (!strcmp(nd_processors[i]->name, type))
                        return nd_processors[i];
        return NULL;
}
