#include "guest/pci.h"

#include <stdbool.h>

#include "guest/io.h"
#include "guest/print.h"

#define PCI_CONFIG_ADDRESS 0xCF8
#define PCI_CONFIG_DATA    0xCFC
#define PCI_CONFIG_ENABLE  0x80000000u

#define PCI_REG_ID          0x00
#define PCI_REG_COMMAND     0x04
#define PCI_REG_STATUS      0x06
#define PCI_REG_CLASS       0x08   /* revision in the low byte */
#define PCI_REG_HEADER      0x0C   /* header type in bits 16..23 */
#define PCI_REG_BAR0        0x10
#define PCI_REG_CAP_POINTER 0x34

#define PCI_COMMAND_MEMORY        (1u << 1)
#define PCI_COMMAND_BUS_MASTER    (1u << 2)
#define PCI_COMMAND_INTX_DISABLE  (1u << 10)
#define PCI_STATUS_CAP_LIST       (1u << 4)
#define PCI_HEADER_MULTI_FUNCTION 0x80

#define PCI_BAR_IO           0x1u
#define PCI_BAR_TYPE_MASK    0x6u
#define PCI_BAR_TYPE_64      0x4u
#define PCI_BAR_COUNT        6

/* A capability list is at most (256 - 64) / 4 entries long; a longer walk
 * means a loop in a broken list. */
#define PCI_CAP_WALK_LIMIT 48

static void config_select(const struct pci_function *fn, uint8_t offset)
{
	outl(PCI_CONFIG_ADDRESS, PCI_CONFIG_ENABLE | (uint32_t)fn->bus << 16 |
		 (uint32_t)fn->device << 11 | (uint32_t)fn->function << 8 | (offset & 0xFCu));
}

uint32_t pci_config_read32(const struct pci_function *fn, uint8_t offset)
{
	config_select(fn, offset);
	return inl(PCI_CONFIG_DATA);
}

uint16_t pci_config_read16(const struct pci_function *fn, uint8_t offset)
{
	config_select(fn, offset);
	return inw(PCI_CONFIG_DATA + (offset & 2));
}

void pci_config_write16(const struct pci_function *fn, uint8_t offset, uint16_t value)
{
	config_select(fn, offset);
	outw(PCI_CONFIG_DATA + (offset & 2), value);
}

/* Reads the identity of one function; false if nothing answers there. */
static bool probe_function(struct pci_function *fn)
{
	uint32_t id = pci_config_read32(fn, PCI_REG_ID);
	if ((id & 0xFFFF) == 0xFFFF)
		return false;
	fn->vendor_id = (uint16_t)id;
	fn->device_id = (uint16_t)(id >> 16);
	fn->class_code = pci_config_read32(fn, PCI_REG_CLASS) >> 8;
	return true;
}

static void record_function(struct pci_scan *scan, const struct pci_function *fn)
{
	guest_printf("PCI %02x:%02x.%u %04x:%04x class %06x\n", fn->bus, fn->device, fn->function,
		     fn->vendor_id, fn->device_id, fn->class_code);
	if (scan->count < PCI_SCAN_MAX)
		scan->functions[scan->count] = *fn;
	scan->count++;
}

void pci_scan_bus0(struct pci_scan *scan)
{
	scan->count = 0;
	for (uint8_t dev = 0; dev < 32; dev++) {
		struct pci_function fn = { .bus = 0, .device = dev, .function = 0 };
		if (!probe_function(&fn))
			continue;
		record_function(scan, &fn);
		uint32_t header = pci_config_read32(&fn, PCI_REG_HEADER) >> 16;
		if (!(header & PCI_HEADER_MULTI_FUNCTION))
			continue;
		for (uint8_t f = 1; f < 8; f++) {
			fn.function = f;
			if (probe_function(&fn))
				record_function(scan, &fn);
		}
	}
}

const struct pci_function *pci_scan_find(const struct pci_scan *scan, uint16_t vendor_id,
					 uint16_t device_id)
{
	unsigned kept = scan->count < PCI_SCAN_MAX ? scan->count : PCI_SCAN_MAX;
	for (unsigned i = 0; i < kept; i++)
		if (scan->functions[i].vendor_id == vendor_id && scan->functions[i].device_id == device_id)
			return &scan->functions[i];
	return 0;
}

uint64_t pci_bar_memory_address(const struct pci_function *fn, unsigned bar)
{
	if (bar >= PCI_BAR_COUNT)
		return 0;
	uint32_t low = pci_config_read32(fn, (uint8_t)(PCI_REG_BAR0 + 4 * bar));
	if (low & PCI_BAR_IO)
		return 0;
	uint64_t base = low & ~0xFu;
	if ((low & PCI_BAR_TYPE_MASK) == PCI_BAR_TYPE_64) {
		if (bar + 1 >= PCI_BAR_COUNT)
			return 0;
		base |= (uint64_t)pci_config_read32(fn, (uint8_t)(PCI_REG_BAR0 + 4 * (bar + 1))) << 32;
	}
	return base;
}

void pci_enable_memory_and_bus_master(const struct pci_function *fn)
{
	uint16_t command = pci_config_read16(fn, PCI_REG_COMMAND);
	command |= PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER | PCI_COMMAND_INTX_DISABLE;
	pci_config_write16(fn, PCI_REG_COMMAND, command);
}

uint8_t pci_find_capability(const struct pci_function *fn, uint8_t cap_id)
{
	if (!(pci_config_read16(fn, PCI_REG_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	uint8_t pos = (uint8_t)pci_config_read32(fn, PCI_REG_CAP_POINTER) & 0xFC;
	for (unsigned walked = 0; pos >= 0x40 && walked < PCI_CAP_WALK_LIMIT; walked++) {
		uint32_t header = pci_config_read32(fn, pos);
		if ((header & 0xFF) == cap_id)
			return pos;
		pos = (uint8_t)(header >> 8) & 0xFC;
	}
	return 0;
}
