#include "guest/msix.h"

#include <stddef.h>

#include "guest/io.h"
#include "guest/print.h"

#define PCI_CAP_ID_MSIX 0x11

#define MSIX_CAP_CONTROL 2
#define MSIX_CAP_TABLE   4
#define MSIX_CAP_PBA     8

#define MSIX_CONTROL_ENABLE        (1u << 15)
#define MSIX_CONTROL_FUNCTION_MASK (1u << 14)
#define MSIX_CONTROL_SIZE_MASK     0x7FFu
#define MSIX_BIR_MASK              0x7u

#define MSIX_ENTRY_SIZE         16
#define MSIX_ENTRY_ADDR_LOW     0
#define MSIX_ENTRY_ADDR_HIGH    4
#define MSIX_ENTRY_DATA         8
#define MSIX_ENTRY_VECTOR_CTRL  12
#define MSIX_VECTOR_CTRL_MASKED 1u

#define MSI_ADDRESS_BASE   0xFEE00000u
#define MSI_ADDRESS_DEST_SHIFT 12

/* The guest maps only the low 4 GiB. */
#define IDENTITY_MAP_END (1ull << 32)

static char msix_error[96];

/* Guest-physical address of the structure a table/PBA register points at. */
static const char *locate(const struct pci_function *fn, uint32_t reg, uint64_t bytes,
			  const char *what, uint64_t *addr)
{
	unsigned bir = reg & MSIX_BIR_MASK;
	uint64_t base = pci_bar_memory_address(fn, bir);
	if (base == 0) {
		guest_snprintf(msix_error, sizeof(msix_error),
			       "MSI-X %s is in BAR%u, which is not an assigned memory BAR", what, bir);
		return msix_error;
	}
	uint64_t start = base + (reg & ~MSIX_BIR_MASK);
	if (start < base || start > IDENTITY_MAP_END || bytes > IDENTITY_MAP_END - start) {
		guest_snprintf(msix_error, sizeof(msix_error),
			       "MSI-X %s at 0x%lx is outside the guest's 4 GiB identity map", what, start);
		return msix_error;
	}
	*addr = start;
	return NULL;
}

const char *msix_enable(const struct pci_function *fn, uint8_t first_vector, unsigned count,
			uint32_t apic_id, struct msix_table *out)
{
	uint8_t cap = pci_find_capability(fn, PCI_CAP_ID_MSIX);
	if (cap == 0)
		return "device has no MSI-X capability";
	uint16_t control = pci_config_read16(fn, cap + MSIX_CAP_CONTROL);
	unsigned size = (control & MSIX_CONTROL_SIZE_MASK) + 1u;
	if (count > size) {
		guest_snprintf(msix_error, sizeof(msix_error),
			       "device has %u MSI-X vectors, %u wanted", size, count);
		return msix_error;
	}
	struct msix_table t = { .size = size, .cap = cap };
	const char *err = locate(fn, pci_config_read32(fn, cap + MSIX_CAP_TABLE),
				 (uint64_t)size * MSIX_ENTRY_SIZE, "table", &t.table);
	if (!err)
		err = locate(fn, pci_config_read32(fn, cap + MSIX_CAP_PBA),
			     ((uint64_t)size + 63) / 64 * 8, "PBA", &t.pba);
	if (err)
		return err;

	pci_enable_memory_and_bus_master(fn);
	/* Entries are written with the whole function masked. */
	pci_config_write16(fn, cap + MSIX_CAP_CONTROL,
			   (uint16_t)(control | MSIX_CONTROL_ENABLE | MSIX_CONTROL_FUNCTION_MASK));
	for (unsigned i = 0; i < count; i++) {
		uint64_t entry = t.table + (uint64_t)i * MSIX_ENTRY_SIZE;
		mmio_write32(entry + MSIX_ENTRY_ADDR_LOW, MSI_ADDRESS_BASE | apic_id << MSI_ADDRESS_DEST_SHIFT);
		mmio_write32(entry + MSIX_ENTRY_ADDR_HIGH, 0);
		mmio_write32(entry + MSIX_ENTRY_DATA, (uint32_t)first_vector + i);
	}
	for (unsigned i = 0; i < count; i++)
		msix_entry_set_masked(&t, i, false);
	pci_config_write16(fn, cap + MSIX_CAP_CONTROL,
			   (uint16_t)((control | MSIX_CONTROL_ENABLE) & ~MSIX_CONTROL_FUNCTION_MASK));
	*out = t;
	return NULL;
}

/* Read-modify-write: the other vector control bits are reserved. */
void msix_entry_set_masked(const struct msix_table *t, unsigned entry, bool masked)
{
	uint64_t ctrl = t->table + (uint64_t)entry * MSIX_ENTRY_SIZE + MSIX_ENTRY_VECTOR_CTRL;
	uint32_t value = mmio_read32(ctrl);
	if (masked)
		value |= MSIX_VECTOR_CTRL_MASKED;
	else
		value &= ~MSIX_VECTOR_CTRL_MASKED;
	mmio_write32(ctrl, value);
}

bool msix_entry_pending(const struct msix_table *t, unsigned entry)
{
	uint32_t bits = mmio_read32(t->pba + (entry / 32) * 4);
	return (bits >> (entry % 32)) & 1;
}
