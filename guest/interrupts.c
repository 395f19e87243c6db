#include "guest/interrupts.h"

#include "guest/io.h"
#include "guest/lapic.h"

#define PIC_MASTER_DATA 0x21
#define PIC_SLAVE_DATA  0xA1

volatile uint32_t msix_vector_counts[VECTOR_MSIX_COUNT];
volatile uint32_t lapic_timer_expiries;

void interrupts_init(void)
{
	outb(PIC_MASTER_DATA, 0xFF);
	outb(PIC_SLAVE_DATA, 0xFF);
	lapic_enable();
}

uint32_t interrupts_msix_total(void)
{
	uint32_t total = 0;
	for (unsigned i = 0; i < VECTOR_MSIX_COUNT; i++)
		total += msix_vector_counts[i];
	return total;
}

bool interrupts_wait_msix(unsigned index, uint32_t seen, unsigned max_slices)
{
	return interrupts_wait_msix_halting(index, seen, max_slices, interrupts_enable_and_halt);
}

bool interrupts_wait_msix_halting(unsigned index, uint32_t seen, unsigned max_slices, void (*halt)(void))
{
	uint32_t start = lapic_timer_expiries;
	bool changed = false;
	for (;;) {
		if (msix_vector_counts[index] != seen) {
			changed = true;
			break;
		}
		if (lapic_timer_expiries - start >= max_slices)
			break;
		/* The timer guarantees the hlt ends even if the MSI never comes. */
		lapic_timer_arm(WAIT_SLICE_LAPIC_COUNT);
		halt();
	}
	lapic_timer_stop();
	return changed;
}
