/* Compiled as a processor, this reaches for the runtime's Kafka layer.
 * tests/fence/fence.sh expects it not to build: "kio.h" is not on a
 * processor's include path. */
#include "kio.h"
#include "nudge/processor.h"

int nd_fence_probe(void);
int nd_fence_probe(void) {
        return (int)sizeof(nd_kio_t *);
}
