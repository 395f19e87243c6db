/* The local APIC in xAPIC mode at its default MMIO address. */
#ifndef IOVIRT_GUEST_LAPIC_H
#define IOVIRT_GUEST_LAPIC_H

#include <stdint.h>

/* Software-enables the LAPIC (one fresh from reset drops fixed interrupts),
 * accepts every priority and sets the timer up as a one-shot wake-up source. */
void lapic_enable(void);
uint32_t lapic_id(void);
/* One-shot timer interrupt (VECTOR_LAPIC_TIMER) after count bus cycles. */
void lapic_timer_arm(uint32_t count);
void lapic_timer_stop(void);

#endif
