/* The TSC frequency, from what the (virtual) CPU says about itself. */
#ifndef IOVIRT_GUEST_TSC_H
#define IOVIRT_GUEST_TSC_H

#include <stdint.h>

/* kHz from the hypervisor timing leaf 0x40000010, else CPUID 0x15 (crystal
 * ratio), else 0x16 (nominal base MHz); 0 when none of them says. */
uint64_t tsc_khz_detect(void);

#endif
