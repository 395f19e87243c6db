/* The guest control ports of the built-in test guest (guest/abi.h): boot
 * marker, results block address and the "done" status. */
#ifndef IOVIRT_CORE_GUEST_CTL_H
#define IOVIRT_CORE_GUEST_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/abi.h"

struct vm;

int guest_ctl_init(struct vm *vm);
void guest_ctl_destroy(struct vm *vm);
/* Copies the results block the guest published into out; false when there is
 * none or it is malformed (wrong magic, outside RAM). */
bool guest_ctl_read_results(struct vm *vm, struct guest_results *out);

#endif
