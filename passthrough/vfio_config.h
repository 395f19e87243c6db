/* Config-space virtualization for a passed-through PCI function: which bytes
 * the guest sees from the physical device (through the VFIO config region)
 * and which iovirt owns. iovirt owns the BARs (guest addresses, sizing), the
 * command register (emulated, then forwarded), the ROM BAR (hidden), INTx
 * line/pin, the header type's multi-function bit and the MSI-X capability
 * body (core/pci_msix emulates the table); MSI is hidden from the capability
 * chain so the guest uses MSI-X or INTx. Everything else passes through.
 *
 * The physical side is reached through a small ops table, so the logic is
 * the same for the VFIO region and a unit test's fake. */
#ifndef IOVIRT_PASSTHROUGH_VFIO_CONFIG_H
#define IOVIRT_PASSTHROUGH_VFIO_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pci.h"

struct vfio_config_ops {
	/* Physical config space access; 0 on success, -1 on failure. */
	int (*read)(void *opaque, unsigned offset, void *buf, unsigned len);
	int (*write)(void *opaque, unsigned offset, const void *buf, unsigned len);
};

/* Who serves a config byte. */
enum vfio_config_byte {
	VFIO_CFG_PHYS = 0,    /* the device */
	VFIO_CFG_EMULATED,    /* iovirt's pci_device config */
	VFIO_CFG_FORWARD,     /* emulated, and writes also go to the device (command) */
	VFIO_CFG_POINTER,     /* a capability pointer rewritten to skip hidden capabilities */
	VFIO_CFG_HIDDEN,      /* reads zero, writes dropped */
};

#define PCI_CAP_ID_MSI 0x05

struct vfio_config;
/* Told after a guest write touched the command register, a BAR or the MSI-X
 * Message Control (under the config lock): the model re-syncs memory slots
 * and interrupts. */
typedef void (*vfio_config_changed_fn)(struct vfio_config *cfg, void *opaque);

struct vfio_config {
	struct pci_device pci;           /* first: hooks get back here from it */
	const struct vfio_config_ops *ops;
	void *opaque;
	uint8_t phys[PCI_CONFIG_SPACE_SIZE];   /* the device's config at init */
	uint8_t kind[PCI_CONFIG_SPACE_SIZE];   /* enum vfio_config_byte per byte */
	uint8_t pointer[PCI_CONFIG_SPACE_SIZE];/* guest value of VFIO_CFG_POINTER bytes */
	unsigned msix_cap;               /* 0: none shown */
	unsigned msix_vectors, msix_table_bar, msix_pba_bar;
	uint32_t msix_table_offset, msix_pba_offset;
	vfio_config_changed_fn changed;
	void *changed_opaque;
	uint64_t phys_errors;            /* physical accesses that failed */
};

/* Reads the physical config, initializes cfg->pci with the device's IDs and
 * works out the virtual view (capability chain with MSI skipped). Returns 0,
 * or -1 after logging why (unreadable config, no device there). */
int vfio_config_init(struct vfio_config *cfg, const char *name, const struct vfio_config_ops *ops,
		     void *opaque, struct device_counters *counters);

/* The BAR's kind as the physical register says (PCI_BAR_UNUSED for an unused
 * BAR or the upper half of a 64-bit one) and whether it is prefetchable. */
enum pci_bar_type vfio_config_bar_type(const struct vfio_config *cfg, unsigned index,
				       bool *prefetchable);

/* Adds the emulated MSI-X capability at the device's own offset (after the
 * BAR that holds the table is declared). Returns 0, 1 when the device has no
 * usable MSI-X (table and PBA in different BARs: hidden, INTx only), or -1. */
int vfio_config_add_msix(struct vfio_config *cfg);

/* Installs the config hooks; call after pci_device_register. */
void vfio_config_attach(struct vfio_config *cfg, vfio_config_changed_fn changed, void *opaque);

/* Writes the guest's command register bits that concern the device to it. */
int vfio_config_forward_command(struct vfio_config *cfg);

#endif
