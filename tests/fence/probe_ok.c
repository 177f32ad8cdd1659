/* Compiled as a processor: the processor API and processors/lib are in
 * reach. tests/fence/fence.sh expects this to build. */
#include "blob.h"
#include "nudge/processor.h"

int nd_fence_probe(void);
int nd_fence_probe(void) {
        return (int)sizeof(nd_action_t);
}
