/* Interrupt delivery for the tests: the LAPIC as the only source, per-vector
 * counts of MSI-X interrupts, and bounded waits for them. */
#ifndef IOVIRT_GUEST_INTERRUPTS_H
#define IOVIRT_GUEST_INTERRUPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/asm_defs.h"

/* Bumped by the MSI-X stubs (guest/interrupt_stubs.S); index = vector -
 * VECTOR_MSIX_BASE. */
extern volatile uint32_t msix_vector_counts[VECTOR_MSIX_COUNT];
extern volatile uint32_t lapic_timer_expiries;

/* One wait slice: 1 ms with the 1 GHz LAPIC bus clock of KVM and QEMU. */
#define WAIT_SLICE_LAPIC_COUNT 1000000u

/* Masks the 8259 PICs (firmware may have left the timer routed to a vector
 * that is an exception here) and enables the LAPIC. */
void interrupts_init(void);
uint32_t interrupts_msix_total(void);

/* Sleeps with interrupts enabled until msix_vector_counts[index] differs from
 * seen, or max_slices wait slices have passed. True if it changed. */
bool interrupts_wait_msix(unsigned index, uint32_t seen, unsigned max_slices);
/* The same wait with the sleep step supplied: halt must enable interrupts
 * and halt until one arrives (ring 3 goes through a gate for that). */
bool interrupts_wait_msix_halting(unsigned index, uint32_t seen, unsigned max_slices, void (*halt)(void));

#endif
