/*
 * registry — the list of processors compiled into nudge.
 *
 * One hand-written line per processor in registry.c, greppable like nginx's
 * module list. Thread safety: read-only, any thread.
 */
#ifndef ND_REGISTRY_H
#define ND_REGISTRY_H

#include "nudge/processor.h"

/** Every processor, ending with NULL. */
extern const nd_processor_def_t *const nd_processors[];

/** The processor whose name is type, or NULL. */
const nd_processor_def_t *nd_processor_find(const char *type);

#endif
