/* PCI configuration access (mechanism #1, ports 0xCF8/0xCFC) and the bus 0
 * scan. BARs are used as already assigned (by iovirt, or by firmware under
 * QEMU); the guest never moves them. */
#ifndef IOVIRT_GUEST_PCI_H
#define IOVIRT_GUEST_PCI_H

#include <stdint.h>

struct pci_function {
	uint8_t bus;
	uint8_t device;
	uint8_t function;
	uint16_t vendor_id;
	uint16_t device_id;
	uint32_t class_code;   /* base class << 16 | subclass << 8 | prog-if */
};

/* Room for every function of 16 multi-function devices; a busier bus is
 * counted in full but only the first PCI_SCAN_MAX are kept. */
#define PCI_SCAN_MAX 128

struct pci_scan {
	unsigned count;        /* functions found */
	struct pci_function functions[PCI_SCAN_MAX];
};

/* Scans bus 0 (all 32 devices, every function of multi-function devices),
 * printing "PCI 00:dd.f vvvv:dddd class cccccc" per function. */
void pci_scan_bus0(struct pci_scan *scan);
const struct pci_function *pci_scan_find(const struct pci_scan *scan, uint16_t vendor_id,
					 uint16_t device_id);

uint32_t pci_config_read32(const struct pci_function *fn, uint8_t offset);
uint16_t pci_config_read16(const struct pci_function *fn, uint8_t offset);
void pci_config_write16(const struct pci_function *fn, uint8_t offset, uint16_t value);

/* Base address of memory BAR bar (64-bit BARs combined with the next one);
 * 0 when the BAR is an I/O BAR, unassigned or malformed. */
uint64_t pci_bar_memory_address(const struct pci_function *fn, unsigned bar);

/* Memory-space and bus-master enable; INTx off (the tests use MSI-X). */
void pci_enable_memory_and_bus_master(const struct pci_function *fn);

/* Config offset of the first capability with this ID, or 0. */
uint8_t pci_find_capability(const struct pci_function *fn, uint8_t cap_id);

#endif
