/* MSI-X for emulated PCI functions: the capability, the vector table and the
 * pending-bit array inside one of the device's MMIO BARs, and one msi_line
 * (GSI route + irqfd) per vector. */
#ifndef IOVIRT_CORE_PCI_MSIX_H
#define IOVIRT_CORE_PCI_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct pci_device;
struct irq_router;
struct msi_line;
struct device_state_buf;

#define PCI_MSIX_MAX_VECTORS   2048
#define PCI_MSIX_ENTRY_SIZE    16
#define PCI_MSIX_CAP_LEN       12

/* Message Control (capability + 2). */
#define PCI_MSIX_CTRL_TABLE_SIZE  0x07ff
#define PCI_MSIX_CTRL_FUNC_MASK   0x4000
#define PCI_MSIX_CTRL_ENABLE      0x8000

/* Entry layout. */
#define PCI_MSIX_ENTRY_ADDR_LO    0x0
#define PCI_MSIX_ENTRY_ADDR_HI    0x4
#define PCI_MSIX_ENTRY_DATA       0x8
#define PCI_MSIX_ENTRY_CTRL       0xc
#define PCI_MSIX_ENTRY_CTRL_MASK  0x1

struct pci_msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

struct pci_msix {
	struct pci_device *dev;
	pthread_mutex_t lock;       /* table, PBA, enable state, line state */
	unsigned nvectors;
	unsigned bar;
	uint32_t table_offset, pba_offset;
	unsigned cap_offset;
	bool enabled, function_masked;   /* cached from Message Control */
	struct pci_msix_entry *table;
	uint64_t *pba;
	struct msi_line **lines;         /* NULL until the device is registered */
	bool *line_on;                   /* what we last told the line */
};

/* Result of pci_msix_notify. */
enum pci_msix_outcome {
	PCI_MSIX_FIRED,       /* the message went out (irqfd signalled) */
	PCI_MSIX_PENDING,     /* masked: the PBA bit is set, sent on unmask */
	PCI_MSIX_DISABLED,    /* MSI-X is off: the device should use INTx */
	PCI_MSIX_NO_BUS_MASTER, /* the guest turned bus mastering off: dropped */
	PCI_MSIX_BAD_VECTOR,  /* vector >= nvectors: nothing happened */
};

/* Adds the MSI-X capability to dev (before registration) with nvectors
 * vectors whose table and PBA live at table_offset / pba_offset (8-byte
 * aligned, inside the BAR, not overlapping) of MMIO BAR `bar`, which must be
 * declared already. The rest of that BAR still reaches the device. Returns
 * the MSI-X state (also kept in dev->msix, freed by pci_device_fini), or NULL
 * after logging why. */
struct pci_msix *pci_msix_init(struct pci_device *dev, unsigned nvectors, unsigned bar,
			       uint32_t table_offset, uint32_t pba_offset);

/* Raises vector. Any thread. */
enum pci_msix_outcome pci_msix_notify(struct pci_msix *msix, unsigned vector);
bool pci_msix_enabled(struct pci_msix *msix);

/* Called by the PCI core: create the vectors' msi_lines when the device is
 * registered, destroy them when it leaves, free everything at fini. */
int pci_msix_attach(struct pci_msix *msix, struct irq_router *irq);
void pci_msix_detach(struct pci_msix *msix);
void pci_msix_free(struct pci_msix *msix);
/* Every vector masked, nothing pending, disabled (after the config reset). */
void pci_msix_reset(struct pci_msix *msix);
int pci_msix_save_state(struct pci_msix *msix, struct device_state_buf *out);
/* Restores table and PBA, then re-reads Message Control from config space. */
int pci_msix_load_state(struct pci_msix *msix, struct device_state_buf *in);

#endif
