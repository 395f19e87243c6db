/* A PCI function's type-0 configuration space: read-only and writable bits,
 * BARs that follow the guest's programming onto the buses, the capability
 * list, INTx, reset and saved state. */
#include "core/pci.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/device.h"
#include "core/irq.h"
#include "core/log.h"
#include "core/pci_msix.h"

#define PCI_SAVE_MAGIC   0x44494350u   /* "PCID" */
#define PCI_SAVE_VERSION 1

static uint32_t config_get(const uint8_t *space, unsigned offset, unsigned len)
{
	uint32_t value = 0;
	for (unsigned i = 0; i < len; i++)
		value |= (uint32_t)space[offset + i] << (8 * i);
	return value;
}

static void config_put(uint8_t *space, unsigned offset, unsigned len, uint32_t value)
{
	for (unsigned i = 0; i < len; i++)
		space[offset + i] = (uint8_t)(value >> (8 * i));
}

static void pci_bars_update_locked(struct pci_device *dev);

static bool ranges_overlap(unsigned a, unsigned alen, unsigned b, unsigned blen)
{
	return a < b + blen && b < a + alen;
}

void pci_config_set_u8(struct pci_device *dev, unsigned offset, uint8_t value)
{
	if (offset < PCI_CONFIG_SPACE_SIZE)
		dev->config[offset] = value;
}

void pci_config_set_u16(struct pci_device *dev, unsigned offset, uint16_t value)
{
	if (offset <= PCI_CONFIG_SPACE_SIZE - 2)
		config_put(dev->config, offset, 2, value);
}

void pci_config_set_u32(struct pci_device *dev, unsigned offset, uint32_t value)
{
	if (offset <= PCI_CONFIG_SPACE_SIZE - 4)
		config_put(dev->config, offset, 4, value);
}

void pci_device_set_writable(struct pci_device *dev, unsigned offset, unsigned len, uint32_t mask)
{
	if (len > 4 || offset > PCI_CONFIG_SPACE_SIZE - len)
		return;
	config_put(dev->wmask, offset, len, mask);
}

void pci_device_init(struct pci_device *dev, const char *name, const struct pci_device_id *id,
		     struct device_counters *counters)
{
	memset(dev, 0, sizeof(*dev));
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	dev->slot = -1;
	dev->counters = counters ? counters : &dev->own_counters;
	pthread_mutex_init(&dev->config_lock, NULL);
	pthread_mutex_init(&dev->intx_lock, NULL);
	dev->next_cap = PCI_CFG_FIRST_CAP;
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		dev->bars[i].dev = dev;
		dev->bars[i].index = i;
	}

	pci_config_set_u16(dev, PCI_CFG_VENDOR_ID, id->vendor);
	pci_config_set_u16(dev, PCI_CFG_DEVICE_ID, id->device);
	pci_config_set_u8(dev, PCI_CFG_REVISION, id->revision);
	pci_config_set_u8(dev, PCI_CFG_CLASS_PROG, (uint8_t)id->class_code);
	pci_config_set_u16(dev, PCI_CFG_CLASS_PROG + 1, (uint16_t)(id->class_code >> 8));
	pci_config_set_u16(dev, PCI_CFG_SUBSYS_VENDOR, id->subsystem_vendor);
	pci_config_set_u16(dev, PCI_CFG_SUBSYS_ID, id->subsystem);
	pci_config_set_u8(dev, PCI_CFG_HEADER_TYPE, 0);

	/* Everything else is read-only unless a register below says otherwise. */
	pci_device_set_writable(dev, PCI_CFG_COMMAND, 2,
				PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER |
				PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	config_put(dev->w1cmask, PCI_CFG_STATUS, 2, PCI_STATUS_ERROR_BITS);
	pci_device_set_writable(dev, PCI_CFG_CACHE_LINE, 1, 0xff);
	pci_device_set_writable(dev, PCI_CFG_INT_LINE, 1, 0xff);
}

void pci_device_fini(struct pci_device *dev)
{
	if (dev->root)
		pci_device_unregister(dev);
	if (dev->msix) {
		pci_msix_free(dev->msix);
		dev->msix = NULL;
	}
	pthread_mutex_destroy(&dev->config_lock);
	pthread_mutex_destroy(&dev->intx_lock);
}

void pci_device_fault(struct pci_device *dev, const char *fmt, ...)
{
	uint64_t n = atomic_fetch_add_explicit(&dev->counters->faults, 1, memory_order_relaxed) + 1;
	if (n > PCI_FAULT_LOG_LIMIT)
		return;
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_device_fault(dev->name, "%s%s", msg,
			 n == PCI_FAULT_LOG_LIMIT ? " (further faults are counted, not logged)" : "");
}

/* --- BARs --- */

static bool pci_bar_is_mmio(enum pci_bar_type type)
{
	return type == PCI_BAR_MMIO32 || type == PCI_BAR_MMIO64;
}

int pci_device_add_bar(struct pci_device *dev, unsigned index, enum pci_bar_type type,
		       uint64_t size, bool prefetchable, const struct bus_region_ops *ops,
		       void *opaque)
{
	if (dev->root) {
		log_error("%s: BAR%u declared after the device was registered", dev->name, index);
		return -1;
	}
	unsigned slots = type == PCI_BAR_MMIO64 ? 2 : 1;
	if (type != PCI_BAR_MMIO32 && type != PCI_BAR_MMIO64 && type != PCI_BAR_PIO) {
		log_error("%s: BAR%u has an unknown type %d", dev->name, index, (int)type);
		return -1;
	}
	if (index >= PCI_NUM_BARS || index + slots > PCI_NUM_BARS) {
		log_error("%s: BAR%u does not exist (a function has BAR0..BAR5; a 64-bit BAR "
			  "takes two)", dev->name, index);
		return -1;
	}
	for (unsigned i = index; i < index + slots; i++) {
		if (dev->bars[i].type != PCI_BAR_UNUSED) {
			log_error("%s: BAR%u is already declared", dev->name, i);
			return -1;
		}
	}
	uint64_t min = type == PCI_BAR_PIO ? 4 : 16;
	uint64_t max = type == PCI_BAR_PIO ? 256 : type == PCI_BAR_MMIO32 ? (1ull << 31) : (1ull << 63);
	if (size < min || size > max || (size & (size - 1)) != 0) {
		log_error("%s: BAR%u size 0x%llx must be a power of two in 0x%llx..0x%llx",
			  dev->name, index, (unsigned long long)size, (unsigned long long)min,
			  (unsigned long long)max);
		return -1;
	}
	if (prefetchable && type == PCI_BAR_PIO) {
		log_error("%s: BAR%u: a PIO BAR cannot be prefetchable", dev->name, index);
		return -1;
	}

	struct pci_bar *bar = &dev->bars[index];
	bar->type = type;
	bar->size = size;
	bar->prefetchable = prefetchable;
	bar->ops = ops;
	bar->opaque = opaque;
	char owner[sizeof(dev->name)];
	memcpy(owner, dev->name, sizeof(owner));
	snprintf(bar->region_name, sizeof(bar->region_name), "%s BAR%u", owner, index);

	unsigned reg = PCI_CFG_BAR0 + 4 * index;
	uint64_t addr_mask = ~(size - 1);
	switch (type) {
	case PCI_BAR_PIO:
		/* 16-bit decode: the upper half reads as zero, as x86 has 64K ports. */
		pci_config_set_u32(dev, reg, PCI_BAR_IO_SPACE);
		pci_device_set_writable(dev, reg, 4, (uint32_t)addr_mask & 0xfffcu);
		break;
	case PCI_BAR_MMIO32:
		pci_config_set_u32(dev, reg, prefetchable ? PCI_BAR_MEM_PREFETCH : 0);
		pci_device_set_writable(dev, reg, 4, (uint32_t)addr_mask & ~0xfu);
		break;
	case PCI_BAR_MMIO64:
		pci_config_set_u32(dev, reg, PCI_BAR_MEM_TYPE_64 |
				   (prefetchable ? PCI_BAR_MEM_PREFETCH : 0));
		pci_device_set_writable(dev, reg, 4, (uint32_t)addr_mask & ~0xfu);
		pci_device_set_writable(dev, reg + 4, 4, (uint32_t)(addr_mask >> 32));
		dev->bars[index + 1].type = PCI_BAR_MMIO64_HIGH;
		break;
	default:
		break;
	}
	return 0;
}

int pci_bar_add_overlay(struct pci_device *dev, unsigned index, uint64_t offset, uint64_t len,
			const struct bus_region_ops *ops, void *opaque)
{
	if (index >= PCI_NUM_BARS || !pci_bar_is_mmio(dev->bars[index].type)) {
		log_error("%s: BAR%u is not an MMIO BAR", dev->name, index);
		return -1;
	}
	struct pci_bar *bar = &dev->bars[index];
	if (len == 0 || offset >= bar->size || len > bar->size - offset) {
		log_error("%s: BAR%u range 0x%llx+0x%llx lies outside the BAR (size 0x%llx)",
			  dev->name, index, (unsigned long long)offset, (unsigned long long)len,
			  (unsigned long long)bar->size);
		return -1;
	}
	for (unsigned i = 0; i < bar->noverlays; i++) {
		const struct pci_bar_overlay *o = &bar->overlays[i];
		if (offset < o->offset + o->len && o->offset < offset + len) {
			log_error("%s: BAR%u ranges at 0x%llx and 0x%llx overlap", dev->name, index,
				  (unsigned long long)offset, (unsigned long long)o->offset);
			return -1;
		}
	}
	if (bar->noverlays == PCI_BAR_MAX_OVERLAYS) {
		log_error("%s: BAR%u has too many forwarded ranges", dev->name, index);
		return -1;
	}
	bar->overlays[bar->noverlays++] = (struct pci_bar_overlay){
		.offset = offset, .len = len, .ops = ops, .opaque = opaque,
	};
	return 0;
}

/* The address the BAR's config registers hold, without type bits. */
static uint64_t pci_bar_decode_locked(const struct pci_device *dev, unsigned index)
{
	const struct pci_bar *bar = &dev->bars[index];
	unsigned reg = PCI_CFG_BAR0 + 4 * index;
	uint32_t lo = config_get(dev->config, reg, 4);
	switch (bar->type) {
	case PCI_BAR_PIO:
		return lo & 0xfffcu;
	case PCI_BAR_MMIO32:
		return lo & ~0xfu;
	case PCI_BAR_MMIO64:
		return ((uint64_t)config_get(dev->config, reg + 4, 4) << 32) | (lo & ~0xfu);
	default:
		return 0;
	}
}

uint64_t pci_device_bar_address(struct pci_device *dev, unsigned index)
{
	if (index >= PCI_NUM_BARS)
		return 0;
	pthread_mutex_lock(&dev->config_lock);
	uint64_t addr = pci_bar_decode_locked(dev, index);
	pthread_mutex_unlock(&dev->config_lock);
	return addr;
}

void pci_device_set_bar_address(struct pci_device *dev, unsigned index, uint64_t addr)
{
	if (index >= PCI_NUM_BARS)
		return;
	struct pci_bar *bar = &dev->bars[index];
	unsigned reg = PCI_CFG_BAR0 + 4 * index;
	pthread_mutex_lock(&dev->config_lock);
	uint32_t lo_mask = config_get(dev->wmask, reg, 4);
	uint32_t type_bits = config_get(dev->config, reg, 4) & ~lo_mask;
	config_put(dev->config, reg, 4, type_bits | ((uint32_t)addr & lo_mask));
	if (bar->type == PCI_BAR_MMIO64)
		config_put(dev->config, reg + 4, 4,
			   (uint32_t)(addr >> 32) & config_get(dev->wmask, reg + 4, 4));
	pci_bars_update_locked(dev);
	pthread_mutex_unlock(&dev->config_lock);
}

/* Finds who serves [offset, offset+len) of a BAR: an overlay, the device
 * (*overlay NULL), or nobody (an access straddling an overlay edge). */
static bool pci_bar_route(const struct pci_bar *bar, uint64_t offset, uint32_t len,
			  const struct pci_bar_overlay **overlay)
{
	*overlay = NULL;
	for (unsigned i = 0; i < bar->noverlays; i++) {
		const struct pci_bar_overlay *o = &bar->overlays[i];
		if (offset >= o->offset + o->len || o->offset >= offset + len)
			continue;
		if (offset < o->offset || offset + len > o->offset + o->len)
			return false;
		*overlay = o;
		return true;
	}
	return true;
}

static void pci_bar_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct pci_bar *bar = opaque;
	const struct pci_bar_overlay *o;
	if (!pci_bar_route(bar, offset, len, &o)) {
		pci_device_fault(bar->dev, "BAR%u: %u-byte read at 0x%llx straddles the MSI-X "
				 "range", bar->index, len, (unsigned long long)offset);
		memset(data, 0xff, len);
	} else if (o) {
		o->ops->read(o->opaque, offset - o->offset, data, len);
	} else if (bar->ops && bar->ops->read) {
		bar->ops->read(bar->opaque, offset, data, len);
	} else {
		memset(data, 0xff, len);
	}
}

static void pci_bar_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct pci_bar *bar = opaque;
	const struct pci_bar_overlay *o;
	if (!pci_bar_route(bar, offset, len, &o))
		pci_device_fault(bar->dev, "BAR%u: %u-byte write at 0x%llx straddles the MSI-X "
				 "range", bar->index, len, (unsigned long long)offset);
	else if (o)
		o->ops->write(o->opaque, offset - o->offset, data, len);
	else if (bar->ops && bar->ops->write)
		bar->ops->write(bar->opaque, offset, data, len);
}

static const struct bus_region_ops pci_bar_region_ops = {
	.read = pci_bar_read,
	.write = pci_bar_write,
};

static void pci_bar_unmap(struct pci_bar *bar)
{
	if (!bar->mapped)
		return;
	struct pci_root *root = bar->dev->root;
	struct bus *bus = bar->type == PCI_BAR_PIO ? root->pio : root->mmio;
	bus_unregister(bus, bar->mapped_addr, bar);
	bar->mapped = false;
}

/* Puts each BAR on its bus where the config registers say, if the command
 * register lets it decode. Address 0 means "not assigned": guests park a BAR
 * there, and port 0 / physical page 0 are never a device's. */
static void pci_bars_update_locked(struct pci_device *dev)
{
	if (!dev->root)
		return;
	uint16_t command = (uint16_t)config_get(dev->config, PCI_CFG_COMMAND, 2);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *bar = &dev->bars[i];
		if (bar->type != PCI_BAR_PIO && !pci_bar_is_mmio(bar->type))
			continue;
		bool pio = bar->type == PCI_BAR_PIO;
		uint64_t addr = pci_bar_decode_locked(dev, i);
		bool decode = command & (pio ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY);
		bool fits = addr + bar->size > addr &&
			    (!pio || addr + bar->size <= PCI_PIO_WINDOW_END);
		bool want = decode && addr != 0 && fits;
		if (bar->mapped && (!want || bar->mapped_addr != addr))
			pci_bar_unmap(bar);
		if (!want || bar->mapped)
			continue;
		struct bus *bus = pio ? dev->root->pio : dev->root->mmio;
		if (bus_register(bus, addr, bar->size, &pci_bar_region_ops, bar, bar->region_name,
				 dev->counters) == 0) {
			bar->mapped = true;
			bar->mapped_addr = addr;
		} else {
			pci_device_fault(dev, "BAR%u programmed to 0x%llx, which is taken; it stays "
					 "unmapped", i, (unsigned long long)addr);
		}
	}
}

static void pci_device_unmap_bars(struct pci_device *dev)
{
	pthread_mutex_lock(&dev->config_lock);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		pci_bar_unmap(&dev->bars[i]);
	pthread_mutex_unlock(&dev->config_lock);
}

/* --- Capabilities, watches, hooks --- */

int pci_device_add_capability(struct pci_device *dev, uint8_t id, unsigned len)
{
	if (dev->root) {
		log_error("%s: capability 0x%02x added after the device was registered", dev->name, id);
		return -1;
	}
	unsigned offset = (dev->next_cap + 3u) & ~3u;
	if (len < 2 || offset + len > PCI_CONFIG_SPACE_SIZE) {
		log_error("%s: capability 0x%02x of %u bytes does not fit in config space",
			  dev->name, id, len);
		return -1;
	}
	dev->config[offset] = id;
	dev->config[offset + 1] = 0;
	if (dev->last_cap)
		dev->config[dev->last_cap + 1] = (uint8_t)offset;
	else
		dev->config[PCI_CFG_CAP_PTR] = (uint8_t)offset;
	uint16_t status = (uint16_t)config_get(dev->config, PCI_CFG_STATUS, 2);
	pci_config_set_u16(dev, PCI_CFG_STATUS, status | PCI_STATUS_CAP_LIST);
	dev->last_cap = (uint8_t)offset;
	dev->next_cap = offset + len;
	return (int)offset;
}

int pci_device_watch_config(struct pci_device *dev, unsigned offset, unsigned len,
			    pci_config_watch_fn fn, void *opaque)
{
	if (dev->nwatches == PCI_MAX_CONFIG_WATCHES) {
		log_error("%s: too many config watches", dev->name);
		return -1;
	}
	dev->watches[dev->nwatches].offset = offset;
	dev->watches[dev->nwatches].len = len;
	dev->watches[dev->nwatches].fn = fn;
	dev->watches[dev->nwatches].opaque = opaque;
	dev->nwatches++;
	return 0;
}

void pci_device_set_config_hooks(struct pci_device *dev, const struct pci_config_hooks *hooks)
{
	dev->hooks = hooks;
}

/* --- INTx and bus mastering --- */

void pci_device_set_intx_pin(struct pci_device *dev, unsigned pin)
{
	if (pin > PCI_INTX_D)
		pin = PCI_INTX_NONE;
	pci_config_set_u8(dev, PCI_CFG_INT_PIN, (uint8_t)pin);
}

static void pci_intx_update_locked(struct pci_device *dev)
{
	bool disabled = atomic_load(&dev->command) & PCI_COMMAND_INTX_DISABLE;
	bool out = atomic_load(&dev->intx_asserted) && !disabled && dev->root && dev->intx_gsi;
	if (out == dev->intx_output)
		return;
	dev->intx_output = out;
	if (dev->root)
		irq_intx_set_level(dev->root->irq, dev->intx_gsi, out);
	if (out)
		counter_add(&dev->counters->interrupts, 1);
}

void pci_device_set_intx(struct pci_device *dev, bool level)
{
	pthread_mutex_lock(&dev->intx_lock);
	atomic_store(&dev->intx_asserted, level);
	pci_intx_update_locked(dev);
	pthread_mutex_unlock(&dev->intx_lock);
}

bool pci_device_bus_master_enabled(const struct pci_device *dev)
{
	return atomic_load(&dev->command) & PCI_COMMAND_BUS_MASTER;
}

/* --- Config accesses --- */

static bool pci_config_access_ok(unsigned offset, unsigned len)
{
	return (len == 1 || len == 2 || len == 4) && offset < PCI_CONFIG_SPACE_SIZE &&
	       (offset & 3) + len <= 4;
}

uint32_t pci_config_emulated_read(struct pci_device *dev, unsigned offset, unsigned len)
{
	if (!pci_config_access_ok(offset, len))
		return 0xffffffffu;
	uint32_t value = config_get(dev->config, offset, len);
	/* The interrupt status bit is live, not stored. */
	if (ranges_overlap(offset, len, PCI_CFG_STATUS, 1) && atomic_load(&dev->intx_asserted))
		value |= (uint32_t)PCI_STATUS_INTERRUPT << (8 * (PCI_CFG_STATUS - offset));
	return value;
}

void pci_config_emulated_write(struct pci_device *dev, unsigned offset, unsigned len, uint32_t value)
{
	if (!pci_config_access_ok(offset, len))
		return;
	for (unsigned i = 0; i < len; i++) {
		unsigned at = offset + i;
		uint8_t byte = (uint8_t)(value >> (8 * i));
		uint8_t next = (uint8_t)((dev->config[at] & ~dev->wmask[at]) | (byte & dev->wmask[at]));
		dev->config[at] = (uint8_t)(next & ~(byte & dev->w1cmask[at]));
	}
	bool command = ranges_overlap(offset, len, PCI_CFG_COMMAND, 2);
	bool bars = ranges_overlap(offset, len, PCI_CFG_BAR0, 4 * PCI_NUM_BARS);
	if (command) {
		atomic_store(&dev->command, config_get(dev->config, PCI_CFG_COMMAND, 2));
		pthread_mutex_lock(&dev->intx_lock);
		pci_intx_update_locked(dev);
		pthread_mutex_unlock(&dev->intx_lock);
	}
	if (command || bars)
		pci_bars_update_locked(dev);
	for (unsigned i = 0; i < dev->nwatches; i++)
		if (ranges_overlap(offset, len, dev->watches[i].offset, dev->watches[i].len))
			dev->watches[i].fn(dev, dev->watches[i].opaque);
}

uint32_t pci_config_read(struct pci_device *dev, unsigned offset, unsigned len)
{
	if (!pci_config_access_ok(offset, len))
		return 0xffffffffu;
	uint32_t value;
	pthread_mutex_lock(&dev->config_lock);
	if (!dev->hooks || !dev->hooks->read || !dev->hooks->read(dev, offset, len, &value))
		value = pci_config_emulated_read(dev, offset, len);
	pthread_mutex_unlock(&dev->config_lock);
	if (len < 4)
		value &= (1u << (8 * len)) - 1;
	return value;
}

void pci_config_write(struct pci_device *dev, unsigned offset, unsigned len, uint32_t value)
{
	if (!pci_config_access_ok(offset, len))
		return;
	if (len < 4)
		value &= (1u << (8 * len)) - 1;
	pthread_mutex_lock(&dev->config_lock);
	if (!dev->hooks || !dev->hooks->write || !dev->hooks->write(dev, offset, len, value))
		pci_config_emulated_write(dev, offset, len, value);
	pthread_mutex_unlock(&dev->config_lock);
}

/* --- Registration support, reset, saved state --- */

void pci_device_attached(struct pci_device *dev, unsigned intx_gsi)
{
	pthread_mutex_lock(&dev->config_lock);
	dev->intx_gsi = dev->config[PCI_CFG_INT_PIN] ? intx_gsi : 0;
	dev->config[PCI_CFG_INT_LINE] = dev->config[PCI_CFG_INT_PIN] ? (uint8_t)intx_gsi : 0xff;
	memcpy(dev->reset_config, dev->config, sizeof(dev->config));
	atomic_store(&dev->command, config_get(dev->config, PCI_CFG_COMMAND, 2));
	pci_bars_update_locked(dev);
	pthread_mutex_unlock(&dev->config_lock);
}

void pci_device_detached(struct pci_device *dev)
{
	pci_device_set_intx(dev, false);
	pci_device_unmap_bars(dev);
}

void pci_device_reset(struct pci_device *dev)
{
	pthread_mutex_lock(&dev->config_lock);
	if (dev->root) {
		memcpy(dev->config, dev->reset_config, sizeof(dev->config));
		atomic_store(&dev->command, config_get(dev->config, PCI_CFG_COMMAND, 2));
		pci_bars_update_locked(dev);
	}
	pthread_mutex_unlock(&dev->config_lock);
	pci_device_set_intx(dev, false);
	if (dev->msix)
		pci_msix_reset(dev->msix);
}

int pci_device_save_state(struct pci_device *dev, struct device_state_buf *out)
{
	uint32_t header[2] = { PCI_SAVE_MAGIC, PCI_SAVE_VERSION };
	uint8_t config[PCI_CONFIG_SPACE_SIZE];
	pthread_mutex_lock(&dev->config_lock);
	memcpy(config, dev->config, sizeof(config));
	pthread_mutex_unlock(&dev->config_lock);
	uint8_t intx = atomic_load(&dev->intx_asserted);
	uint8_t has_msix = dev->msix != NULL;
	if (device_state_put(out, header, sizeof(header)) < 0 ||
	    device_state_put(out, config, sizeof(config)) < 0 ||
	    device_state_put(out, &intx, 1) < 0 || device_state_put(out, &has_msix, 1) < 0)
		return -1;
	return dev->msix ? pci_msix_save_state(dev->msix, out) : 0;
}

int pci_device_load_state(struct pci_device *dev, struct device_state_buf *in)
{
	uint32_t header[2];
	uint8_t config[PCI_CONFIG_SPACE_SIZE];
	uint8_t intx, has_msix;
	if (device_state_get(in, header, sizeof(header)) < 0 ||
	    device_state_get(in, config, sizeof(config)) < 0 ||
	    device_state_get(in, &intx, 1) < 0 || device_state_get(in, &has_msix, 1) < 0) {
		log_error("%s: saved PCI state is truncated", dev->name);
		return -1;
	}
	if (header[0] != PCI_SAVE_MAGIC || header[1] != PCI_SAVE_VERSION) {
		log_error("%s: saved PCI state has magic 0x%x version %u; expected 0x%x version %u",
			  dev->name, header[0], header[1], PCI_SAVE_MAGIC, PCI_SAVE_VERSION);
		return -1;
	}
	if (memcmp(config, dev->config, 4) != 0 || (has_msix != 0) != (dev->msix != NULL)) {
		log_error("%s: saved PCI state belongs to a different device (%04x:%04x)", dev->name,
			  config_get(config, PCI_CFG_VENDOR_ID, 2), config_get(config, PCI_CFG_DEVICE_ID, 2));
		return -1;
	}
	pthread_mutex_lock(&dev->config_lock);
	/* Only guest-writable bits come from the saved image; the rest is what
	 * this build of the device says, so a doctored image cannot change it. */
	for (unsigned i = 0; i < PCI_CONFIG_SPACE_SIZE; i++)
		dev->config[i] = (uint8_t)((dev->config[i] & ~dev->wmask[i]) | (config[i] & dev->wmask[i]));
	atomic_store(&dev->command, config_get(dev->config, PCI_CFG_COMMAND, 2));
	pci_bars_update_locked(dev);
	pthread_mutex_unlock(&dev->config_lock);
	pci_device_set_intx(dev, intx != 0);
	return dev->msix ? pci_msix_load_state(dev->msix, in) : 0;
}
