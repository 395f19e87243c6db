/* MSI-X from the driver side: find the capability, locate the table and PBA
 * through their BARs, route entries to the LAPIC, enable. */
#ifndef IOVIRT_GUEST_MSIX_H
#define IOVIRT_GUEST_MSIX_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/pci.h"

struct msix_table {
	uint64_t table;        /* guest-physical address of entry 0 */
	uint64_t pba;          /* guest-physical address of the pending bits */
	unsigned size;         /* entries the device has */
	uint8_t cap;           /* config offset of the capability */
};

/* Enables memory space and bus mastering, programs entries 0..count-1 with
 * address 0xFEE00000 | apic_id << 12 and data first_vector + i, unmasks them,
 * then sets MSI-X enable and clears the function mask. Returns NULL on
 * success, else a one-line reason (and the device is left as it was found,
 * except perhaps for the command register). */
const char *msix_enable(const struct pci_function *fn, uint8_t first_vector, unsigned count,
			uint32_t apic_id, struct msix_table *out);

void msix_entry_set_masked(const struct msix_table *t, unsigned entry, bool masked);
bool msix_entry_pending(const struct msix_table *t, unsigned entry);

#endif
