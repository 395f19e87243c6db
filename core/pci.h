/* PCI: the root complex (configuration mechanism #1 on ports 0xCF8/0xCFC, a
 * host bridge at 00:00.0, bus 0 only) and the type-0 function every PCI
 * device model embeds: config space with read-only/writable masks, BARs that
 * follow the guest's programming onto the buses, a capability list, INTx.
 *
 * Threads: config accesses and BAR moves run on vCPU threads under the
 * device's config lock (config hooks and watches run inside it and must not
 * call pci_config_read/pci_config_write); pci_device_set_intx and
 * pci_device_bus_master_enabled may be called from any thread. BAR access
 * callbacks run with no PCI lock held. */
#ifndef IOVIRT_CORE_PCI_H
#define IOVIRT_CORE_PCI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/counters.h"

struct irq_router;
struct pci_msix;
struct device_state_buf;

#define PCI_SLOTS            32
#define PCI_NUM_BARS         6
#define PCI_CONFIG_SPACE_SIZE 256

/* Type-0 header offsets. */
#define PCI_CFG_VENDOR_ID    0x00
#define PCI_CFG_DEVICE_ID    0x02
#define PCI_CFG_COMMAND      0x04
#define PCI_CFG_STATUS       0x06
#define PCI_CFG_REVISION     0x08
#define PCI_CFG_CLASS_PROG   0x09   /* class code: prog-if, subclass, class */
#define PCI_CFG_CACHE_LINE   0x0c
#define PCI_CFG_HEADER_TYPE  0x0e
#define PCI_CFG_BAR0         0x10
#define PCI_CFG_SUBSYS_VENDOR 0x2c
#define PCI_CFG_SUBSYS_ID    0x2e
#define PCI_CFG_ROM          0x30
#define PCI_CFG_CAP_PTR      0x34
#define PCI_CFG_INT_LINE     0x3c
#define PCI_CFG_INT_PIN      0x3d
#define PCI_CFG_FIRST_CAP    0x40   /* capabilities live in [0x40, 0x100) */

#define PCI_COMMAND_IO            0x0001
#define PCI_COMMAND_MEMORY        0x0002
#define PCI_COMMAND_BUS_MASTER    0x0004
#define PCI_COMMAND_PARITY        0x0040
#define PCI_COMMAND_SERR          0x0100
#define PCI_COMMAND_INTX_DISABLE  0x0400

#define PCI_STATUS_INTERRUPT      0x0008
#define PCI_STATUS_CAP_LIST       0x0010
#define PCI_STATUS_ERROR_BITS     0xf900  /* write-1-to-clear error bits */

#define PCI_BAR_IO_SPACE          0x1
#define PCI_BAR_MEM_TYPE_64       0x4
#define PCI_BAR_MEM_PREFETCH      0x8

#define PCI_CAP_ID_MSIX           0x11
#define PCI_CAP_ID_VENDOR         0x09

/* INTx pins and their fixed routing: pin P of slot S drives IOAPIC GSI
 * PCI_INTX_GSI_BASE + ((S + P - 1) % 4), the usual swizzle, so devices in
 * neighbouring slots spread over GSIs 16..19. */
#define PCI_INTX_NONE  0
#define PCI_INTX_A     1
#define PCI_INTX_B     2
#define PCI_INTX_C     3
#define PCI_INTX_D     4
#define PCI_INTX_GSI_BASE 16

/* Where the VMM places PIO BARs (MMIO BARs go in GUEST_PCI_MMIO_BASE..END). */
#define PCI_PIO_WINDOW_BASE 0xc000u
#define PCI_PIO_WINDOW_END  0x10000u

/* The host bridge's identity: iovirt's own ID in the same vendor range as the
 * test device (guest/abi.h). */
#define IOVIRT_HOST_BRIDGE_DEVICE_ID 0x10f1

enum pci_bar_type {
	PCI_BAR_UNUSED = 0,
	PCI_BAR_MMIO32,
	PCI_BAR_MMIO64,
	PCI_BAR_PIO,
	PCI_BAR_MMIO64_HIGH,   /* upper half of the BAR below it; not declared by devices */
};

/* A sub-range of a BAR served by someone other than the device (the MSI-X
 * table and PBA); the BAR dispatcher forwards accesses that fall inside. */
struct pci_bar_overlay {
	uint64_t offset, len;
	const struct bus_region_ops *ops;
	void *opaque;
};

#define PCI_BAR_MAX_OVERLAYS 2

struct pci_device;

struct pci_bar {
	struct pci_device *dev;
	unsigned index;
	enum pci_bar_type type;
	uint64_t size;
	bool prefetchable;
	const struct bus_region_ops *ops;
	void *opaque;
	struct pci_bar_overlay overlays[PCI_BAR_MAX_OVERLAYS];
	unsigned noverlays;
	bool mapped;              /* registered on its bus at mapped_addr */
	uint64_t mapped_addr;
	char region_name[48];
};

/* A device that virtualizes config space itself (VFIO pass-through) sets
 * hooks: they see every guest access first and return true when they handled
 * it; false falls back to the emulated config space. A hook may call
 * pci_config_emulated_read/write for the ranges it leaves to the core. */
struct pci_config_hooks {
	bool (*read)(struct pci_device *dev, unsigned offset, unsigned len, uint32_t *value);
	bool (*write)(struct pci_device *dev, unsigned offset, unsigned len, uint32_t value);
};

/* Told after an emulated config write touched [offset, offset+len); runs
 * under the config lock (MSI-X watches its Message Control this way). */
typedef void (*pci_config_watch_fn)(struct pci_device *dev, void *opaque);

#define PCI_MAX_CONFIG_WATCHES 4

struct pci_device_id {
	uint16_t vendor, device;
	uint16_t subsystem_vendor, subsystem;
	uint32_t class_code;      /* 24 bits: class << 16 | subclass << 8 | prog-if */
	uint8_t revision;
};

struct pci_root;

struct pci_device {
	char name[32];
	struct pci_root *root;    /* set while registered */
	int slot;                 /* function 0 of this slot on bus 0 */
	struct device_counters *counters;   /* the model's; faults and INTx counted here */

	pthread_mutex_t config_lock;
	uint8_t config[PCI_CONFIG_SPACE_SIZE];
	uint8_t wmask[PCI_CONFIG_SPACE_SIZE];    /* bits the guest may write */
	uint8_t w1cmask[PCI_CONFIG_SPACE_SIZE];  /* bits a guest 1 clears */
	uint8_t reset_config[PCI_CONFIG_SPACE_SIZE]; /* config after placement */
	uint8_t last_cap;         /* offset of the last capability, 0 if none */
	unsigned next_cap;        /* where the next capability goes */
	atomic_uint command;      /* copy of the command register for other threads */

	struct pci_bar bars[PCI_NUM_BARS];
	const struct pci_config_hooks *hooks;

	struct {
		unsigned offset, len;
		pci_config_watch_fn fn;
		void *opaque;
	} watches[PCI_MAX_CONFIG_WATCHES];
	unsigned nwatches;

	/* INTx: asserted is what the device wants; output what the IOAPIC sees
	 * (asserted and not disabled by the command register). */
	pthread_mutex_t intx_lock;
	unsigned intx_gsi;
	atomic_bool intx_asserted;
	bool intx_output;

	struct pci_msix *msix;    /* owned; freed by pci_device_fini */
	struct device_counters own_counters; /* used when the model passes none */
};

/* --- Root complex (core/pci_host_bridge.c) --- */

struct pci_root {
	struct bus *pio, *mmio;
	struct irq_router *irq;
	pthread_mutex_t lock;            /* config address, slots, allocation */
	uint32_t config_address;         /* 0xCF8 as the guest wrote it */
	struct pci_device *slots[PCI_SLOTS];
	struct pci_device host_bridge;
	uint64_t mmio_next;              /* BAR placement cursors */
	uint32_t pio_next;
};

/* Claims 0xCF8..0xCFF on pio and registers the host bridge at 00:00.0.
 * Returns NULL after logging why. */
struct pci_root *pci_root_create(struct bus *pio, struct bus *mmio, struct irq_router *irq);
/* Releases the ports and the BARs of devices still registered (which are
 * detached, not freed). Call before irq_router_destroy. */
void pci_root_destroy(struct pci_root *root);

/* Puts dev at function 0 of `slot` (1..31), or the lowest free slot when
 * slot is -1; places its BARs (naturally aligned; MMIO in the 32-bit window,
 * PIO in 0xC000..0xFFFF), routes INTx and creates MSI-X vectors. Decoding is
 * off until the guest sets the command register. Returns 0, or -1 after
 * logging one line saying what is wrong. */
int pci_device_register(struct pci_root *root, struct pci_device *dev, int slot);
/* Removes dev from the buses and its slot and destroys its MSI-X vectors'
 * msi_lines (pci_device_fini frees the rest). */
void pci_device_unregister(struct pci_device *dev);

/* The function at bus 0 `slot` function 0, or NULL. */
struct pci_device *pci_root_device(struct pci_root *root, unsigned slot);

/* --- A device's config space (core/pci_config.c) --- */

/* Moves BAR index to addr as if the guest had programmed it (placement and
 * tests); the bus registration follows if decoding is on. */
void pci_device_set_bar_address(struct pci_device *dev, unsigned index, uint64_t addr);
/* For core/pci_host_bridge.c: the device joined the root (snapshots the reset
 * image, sets the interrupt line to intx_gsi) or is leaving it. */
void pci_device_attached(struct pci_device *dev, unsigned intx_gsi);
void pci_device_detached(struct pci_device *dev);

/* Sets up the header: IDs, header type 0, no BARs or capabilities yet.
 * counters may be NULL (the device then counts into its own). */
void pci_device_init(struct pci_device *dev, const char *name, const struct pci_device_id *id,
		     struct device_counters *counters);
/* Unregisters dev if needed and frees its MSI-X state and locks. */
void pci_device_fini(struct pci_device *dev);

/* Declares BAR `index` (a 64-bit BAR also takes index+1). size: a power of
 * two, at least 16 for MMIO and 4..256 for PIO. Before registration only.
 * Returns 0, or -1 after logging why. */
int pci_device_add_bar(struct pci_device *dev, unsigned index, enum pci_bar_type type,
		       uint64_t size, bool prefetchable, const struct bus_region_ops *ops,
		       void *opaque);
/* Forwards accesses to [offset, offset+len) of BAR index to ops. */
int pci_bar_add_overlay(struct pci_device *dev, unsigned index, uint64_t offset, uint64_t len,
			const struct bus_region_ops *ops, void *opaque);
/* The guest address BAR index decodes at (0 when unassigned). */
uint64_t pci_device_bar_address(struct pci_device *dev, unsigned index);

/* Appends a capability of `len` bytes (>= 2) with id; returns its config
 * offset, or -1 when it does not fit. Before registration only. */
int pci_device_add_capability(struct pci_device *dev, uint8_t id, unsigned len);
/* Makes `mask` bits of the len-byte register at offset guest-writable. */
void pci_device_set_writable(struct pci_device *dev, unsigned offset, unsigned len, uint32_t mask);
/* Initial values, set by the model before registration. */
void pci_config_set_u8(struct pci_device *dev, unsigned offset, uint8_t value);
void pci_config_set_u16(struct pci_device *dev, unsigned offset, uint16_t value);
void pci_config_set_u32(struct pci_device *dev, unsigned offset, uint32_t value);
int pci_device_watch_config(struct pci_device *dev, unsigned offset, unsigned len,
			    pci_config_watch_fn fn, void *opaque);
void pci_device_set_config_hooks(struct pci_device *dev, const struct pci_config_hooks *hooks);

/* INTA..INTD (PCI_INTX_A + n), or PCI_INTX_NONE. Before registration only. */
void pci_device_set_intx_pin(struct pci_device *dev, unsigned pin);
/* Drives the device's INTx level; the IOAPIC sees it unless the guest set
 * INTx Disable. The status register's interrupt bit follows the device's
 * level either way. Any thread. */
void pci_device_set_intx(struct pci_device *dev, bool level);

/* True while the guest allows the device to master the bus: every DMA a
 * model starts must check it and refuse when false. Any thread. */
bool pci_device_bus_master_enabled(const struct pci_device *dev);

/* A guest access to config space (offset < 256, len 1/2/4, not crossing a
 * dword): the hooks first, then emulation. Takes the config lock. */
uint32_t pci_config_read(struct pci_device *dev, unsigned offset, unsigned len);
void pci_config_write(struct pci_device *dev, unsigned offset, unsigned len, uint32_t value);
/* The emulated config space alone; only from within a config hook. */
uint32_t pci_config_emulated_read(struct pci_device *dev, unsigned offset, unsigned len);
void pci_config_emulated_write(struct pci_device *dev, unsigned offset, unsigned len, uint32_t value);

/* Back to the state after registration: BARs where the VMM placed them,
 * decoding off, INTx low, MSI-X disabled with every vector masked. */
void pci_device_reset(struct pci_device *dev);
/* Config space and MSI-X state, for migration and snapshots. Loading checks
 * the saved identity against dev and re-maps BARs and vectors. */
int pci_device_save_state(struct pci_device *dev, struct device_state_buf *out);
int pci_device_load_state(struct pci_device *dev, struct device_state_buf *in);

/* Counts a guest mistake in dev's counters and logs it (the first
 * PCI_FAULT_LOG_LIMIT of each device). */
#define PCI_FAULT_LOG_LIMIT 16
void pci_device_fault(struct pci_device *dev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
