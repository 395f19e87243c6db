/* The PCI root complex: configuration mechanism #1 on ports 0xCF8 (address)
 * and 0xCFC..0xCFF (data), the host bridge at 00:00.0, slots of bus 0, and
 * the VMM's placement of BARs before the guest sees them. */
#include "core/pci.h"

#include <stdlib.h>
#include <string.h>

#include "core/guest_ram.h"
#include "core/log.h"
#include "core/pci_msix.h"
#include "guest/abi.h"

#define PCI_CONFIG_ADDRESS_PORT 0xcf8
#define PCI_CONFIG_DATA_PORT    0xcfc
#define PCI_CONFIG_ENABLE       0x80000000u
/* Enable, bus, device, function, register (dword aligned); the rest reads 0. */
#define PCI_CONFIG_ADDRESS_MASK 0x80fffffcu

#define PCI_CLASS_HOST_BRIDGE   0x060000u

static void pci_address_port_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct pci_root *root = opaque;
	/* Only a dword access at 0xCF8 is the address register. */
	if (offset != 0 || len != 4) {
		memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&root->lock);
	uint32_t value = root->config_address;
	pthread_mutex_unlock(&root->lock);
	memcpy(data, &value, 4);
}

static void pci_address_port_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct pci_root *root = opaque;
	if (offset != 0 || len != 4)
		return;
	uint32_t value;
	memcpy(&value, data, 4);
	pthread_mutex_lock(&root->lock);
	root->config_address = value & PCI_CONFIG_ADDRESS_MASK;
	pthread_mutex_unlock(&root->lock);
}

static const struct bus_region_ops pci_address_port_ops = {
	.read = pci_address_port_read,
	.write = pci_address_port_write,
};

/* The function the address register selects, and the config offset for a
 * data-port access at `offset` (0..3), or NULL if nothing answers there. */
static struct pci_device *pci_selected_function(struct pci_root *root, uint64_t offset,
						unsigned *config_offset)
{
	pthread_mutex_lock(&root->lock);
	uint32_t address = root->config_address;
	unsigned bus = (address >> 16) & 0xff;
	unsigned slot = (address >> 11) & 0x1f;
	unsigned function = (address >> 8) & 0x7;
	struct pci_device *dev = NULL;
	if ((address & PCI_CONFIG_ENABLE) && bus == 0 && function == 0)
		dev = root->slots[slot];
	pthread_mutex_unlock(&root->lock);
	*config_offset = (address & 0xfc) + (unsigned)offset;
	return dev;
}

static void pci_data_port_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	unsigned config_offset;
	struct pci_device *dev = pci_selected_function(opaque, offset, &config_offset);
	uint32_t value = 0xffffffffu;
	if (dev && (len == 1 || len == 2 || len == 4) && offset + len <= 4) {
		counter_add(&dev->counters->pio_exits, 1);
		value = pci_config_read(dev, config_offset, len);
	}
	memset(data, 0xff, len);
	memcpy(data, &value, len < 4 ? len : 4);
}

static void pci_data_port_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	unsigned config_offset;
	struct pci_device *dev = pci_selected_function(opaque, offset, &config_offset);
	if (!dev || !(len == 1 || len == 2 || len == 4) || offset + len > 4)
		return;
	uint32_t value = 0;
	memcpy(&value, data, len);
	counter_add(&dev->counters->pio_exits, 1);
	pci_config_write(dev, config_offset, len, value);
}

static const struct bus_region_ops pci_data_port_ops = {
	.read = pci_data_port_read,
	.write = pci_data_port_write,
};

static uint64_t align_up(uint64_t value, uint64_t alignment)
{
	return (value + alignment - 1) & ~(alignment - 1);
}

/* Gives every BAR a naturally aligned home: MMIO (either width) in the 32-bit
 * window, PIO in 0xC000..0xFFFF. Bump allocation: devices are not unplugged. */
static int pci_place_bars_locked(struct pci_root *root, struct pci_device *dev)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *bar = &dev->bars[i];
		uint64_t addr;
		if (bar->type == PCI_BAR_PIO) {
			addr = align_up(root->pio_next, bar->size);
			if (addr + bar->size > PCI_PIO_WINDOW_END) {
				log_error("%s: no room for BAR%u (%llu ports) in the PCI port window "
					  "0x%x..0x%x; use fewer devices with port BARs", dev->name, i,
					  (unsigned long long)bar->size, PCI_PIO_WINDOW_BASE,
					  PCI_PIO_WINDOW_END - 1);
				return -1;
			}
			root->pio_next = (uint32_t)(addr + bar->size);
		} else if (bar->type == PCI_BAR_MMIO32 || bar->type == PCI_BAR_MMIO64) {
			addr = align_up(root->mmio_next, bar->size);
			if (bar->size > GUEST_PCI_MMIO_END - GUEST_PCI_MMIO_BASE ||
			    addr > GUEST_PCI_MMIO_END - bar->size) {
				log_error("%s: no room for BAR%u (0x%llx bytes) in the PCI MMIO window "
					  "0x%llx..0x%llx; use fewer or smaller devices", dev->name, i,
					  (unsigned long long)bar->size,
					  (unsigned long long)GUEST_PCI_MMIO_BASE,
					  (unsigned long long)GUEST_PCI_MMIO_END - 1);
				return -1;
			}
			root->mmio_next = addr + bar->size;
		} else {
			continue;
		}
		pci_device_set_bar_address(dev, i, addr);
	}
	return 0;
}

static int pci_attach_locked(struct pci_root *root, struct pci_device *dev, int slot)
{
	if (dev->root) {
		log_error("%s: already on the PCI bus at slot %d", dev->name, dev->slot);
		return -1;
	}
	if (slot < 0) {
		for (unsigned s = 1; s < PCI_SLOTS && slot < 0; s++)
			if (!root->slots[s])
				slot = (int)s;
		if (slot < 0) {
			log_error("%s: all %u PCI slots are taken; remove a device", dev->name,
				  PCI_SLOTS - 1);
			return -1;
		}
	} else if (slot >= PCI_SLOTS) {
		log_error("%s: PCI slot %d does not exist; use slot=1..%d", dev->name, slot,
			  PCI_SLOTS - 1);
		return -1;
	} else if (root->slots[slot]) {
		log_error("%s: PCI slot %d is taken by %s; choose another slot or leave it out",
			  dev->name, slot, root->slots[slot]->name);
		return -1;
	}

	uint64_t mmio_next = root->mmio_next;
	uint32_t pio_next = root->pio_next;
	if (pci_place_bars_locked(root, dev) < 0)
		goto undo;
	if (dev->msix && pci_msix_attach(dev->msix, root->irq) < 0) {
		log_error("%s: could not create its MSI-X vectors", dev->name);
		goto undo;
	}
	root->slots[slot] = dev;
	dev->slot = slot;
	dev->root = root;
	unsigned pin = dev->config[PCI_CFG_INT_PIN];
	unsigned gsi = pin ? PCI_INTX_GSI_BASE + ((unsigned)slot + pin - 1) % 4 : 0;
	pci_device_attached(dev, gsi);
	return 0;
undo:
	root->mmio_next = mmio_next;
	root->pio_next = pio_next;
	return -1;
}

int pci_device_register(struct pci_root *root, struct pci_device *dev, int slot)
{
	if (slot == 0) {
		log_error("%s: PCI slot 0 is the host bridge's; use slot=1..%d", dev->name,
			  PCI_SLOTS - 1);
		return -1;
	}
	pthread_mutex_lock(&root->lock);
	int ret = pci_attach_locked(root, dev, slot);
	pthread_mutex_unlock(&root->lock);
	return ret;
}

void pci_device_unregister(struct pci_device *dev)
{
	struct pci_root *root = dev->root;
	if (!root)
		return;
	pci_device_detached(dev);
	if (dev->msix)
		pci_msix_detach(dev->msix);
	pthread_mutex_lock(&root->lock);
	if (dev->slot >= 0 && dev->slot < PCI_SLOTS && root->slots[dev->slot] == dev)
		root->slots[dev->slot] = NULL;
	pthread_mutex_unlock(&root->lock);
	dev->root = NULL;
	dev->slot = -1;
}

struct pci_device *pci_root_device(struct pci_root *root, unsigned slot)
{
	if (slot >= PCI_SLOTS)
		return NULL;
	pthread_mutex_lock(&root->lock);
	struct pci_device *dev = root->slots[slot];
	pthread_mutex_unlock(&root->lock);
	return dev;
}

struct pci_root *pci_root_create(struct bus *pio, struct bus *mmio, struct irq_router *irq)
{
	struct pci_root *root = calloc(1, sizeof(*root));
	if (!root) {
		log_error("PCI root: out of memory");
		return NULL;
	}
	root->pio = pio;
	root->mmio = mmio;
	root->irq = irq;
	root->mmio_next = GUEST_PCI_MMIO_BASE;
	root->pio_next = PCI_PIO_WINDOW_BASE;
	pthread_mutex_init(&root->lock, NULL);

	const struct pci_device_id bridge_id = {
		.vendor = IOVIRT_PCI_VENDOR_ID, .device = IOVIRT_HOST_BRIDGE_DEVICE_ID,
		.subsystem_vendor = IOVIRT_PCI_VENDOR_ID, .subsystem = IOVIRT_HOST_BRIDGE_DEVICE_ID,
		.class_code = PCI_CLASS_HOST_BRIDGE,
	};
	pci_device_init(&root->host_bridge, "pci-host-bridge", &bridge_id, NULL);
	pthread_mutex_lock(&root->lock);
	int ret = pci_attach_locked(root, &root->host_bridge, 0);
	pthread_mutex_unlock(&root->lock);
	if (ret < 0)
		goto fail_bridge;

	if (bus_register(pio, PCI_CONFIG_ADDRESS_PORT, 4, &pci_address_port_ops, root,
			 "pci-config-address", NULL) < 0)
		goto fail_bridge;
	if (bus_register(pio, PCI_CONFIG_DATA_PORT, 4, &pci_data_port_ops, root,
			 "pci-config-data", NULL) < 0) {
		bus_unregister(pio, PCI_CONFIG_ADDRESS_PORT, root);
		goto fail_bridge;
	}
	return root;

fail_bridge:
	log_error("PCI root: could not claim the configuration ports 0xCF8..0xCFF");
	pci_device_fini(&root->host_bridge);
	pthread_mutex_destroy(&root->lock);
	free(root);
	return NULL;
}

void pci_root_destroy(struct pci_root *root)
{
	if (!root)
		return;
	bus_unregister(root->pio, PCI_CONFIG_ADDRESS_PORT, root);
	bus_unregister(root->pio, PCI_CONFIG_DATA_PORT, root);
	for (unsigned s = 1; s < PCI_SLOTS; s++) {
		struct pci_device *dev = pci_root_device(root, s);
		if (dev)
			pci_device_unregister(dev);
	}
	pci_device_fini(&root->host_bridge);
	pthread_mutex_destroy(&root->lock);
	free(root);
}
