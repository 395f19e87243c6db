/* The host TSC frequency, for when KVM cannot say (KVM_GET_TSC_KHZ fails,
 * as under nested KVM in the VFIO lab). A guest TSC without scaling ticks
 * at the host's rate, so the guest's cycle counts convert with it. */
#ifndef IOVIRT_CORE_HOST_TSC_H
#define IOVIRT_CORE_HOST_TSC_H

#include <stdint.h>

/* Measured once against CLOCK_MONOTONIC (about 20 ms), then cached. */
uint32_t host_tsc_khz(void);

#endif
