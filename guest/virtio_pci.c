#include "guest/virtio_pci.h"

#include <stdarg.h>
#include <stddef.h>

#include "guest/asm_defs.h"
#include "guest/interrupts.h"
#include "guest/io.h"
#include "guest/lapic.h"
#include "guest/print.h"

/* Vendor-specific capability and its cfg_type values. */
#define PCI_CAP_ID_VENDOR      0x09
#define VIRTIO_PCI_CAP_COMMON  1
#define VIRTIO_PCI_CAP_NOTIFY  2
#define VIRTIO_PCI_CAP_ISR     3
#define VIRTIO_PCI_CAP_DEVICE  4

/* Capability fields (config-space offsets from the capability). */
#define CAP_BYTE_LEN       2
#define CAP_BYTE_CFG_TYPE  3
#define CAP_BYTE_BAR       4
#define CAP_OFFSET         8
#define CAP_LENGTH         12
#define CAP_NOTIFY_MULT    16
#define CAP_NOTIFY_MIN_LEN 20

/* The common configuration structure. */
#define COMMON_DEVICE_FEATURE_SELECT 0x00
#define COMMON_DEVICE_FEATURE        0x04
#define COMMON_DRIVER_FEATURE_SELECT 0x08
#define COMMON_DRIVER_FEATURE        0x0C
#define COMMON_CONFIG_MSIX_VECTOR    0x10
#define COMMON_NUM_QUEUES            0x12
#define COMMON_DEVICE_STATUS         0x14
#define COMMON_CONFIG_GENERATION     0x15
#define COMMON_QUEUE_SELECT          0x16
#define COMMON_QUEUE_SIZE            0x18
#define COMMON_QUEUE_MSIX_VECTOR     0x1A
#define COMMON_QUEUE_ENABLE          0x1C
#define COMMON_QUEUE_NOTIFY_OFF      0x1E
#define COMMON_QUEUE_DESC            0x20
#define COMMON_QUEUE_DRIVER          0x28
#define COMMON_QUEUE_DEVICE          0x30
#define COMMON_MIN_LEN               0x38

#define PCI_REG_STATUS      0x06
#define PCI_REG_CAP_POINTER 0x34
#define PCI_STATUS_CAP_LIST (1u << 4)
#define PCI_CAP_WALK_LIMIT  48
#define PCI_BAR_COUNT       6

/* The guest maps only the low 4 GiB. */
#define IDENTITY_MAP_END (1ull << 32)

/* A reset normally completes within the write; this only bounds a broken one. */
#define RESET_POLL_LIMIT      100000u
#define GENERATION_RETRY_LIMIT 64u

static char virtio_error[128];

static inline uint8_t mmio_read8(uint64_t addr)
{
	return *(volatile uint8_t *)(uintptr_t)addr;
}

static inline void mmio_write8(uint64_t addr, uint8_t value)
{
	*(volatile uint8_t *)(uintptr_t)addr = value;
}

static inline uint16_t mmio_read16(uint64_t addr)
{
	return *(volatile uint16_t *)(uintptr_t)addr;
}

static inline void mmio_write16(uint64_t addr, uint16_t value)
{
	*(volatile uint16_t *)(uintptr_t)addr = value;
}

/* 64-bit fields go as two 32-bit accesses, low half first (allowed by the
 * transport, and what every device model handles). */
static void mmio_write64_split(uint64_t addr, uint64_t value)
{
	mmio_write32(addr, (uint32_t)value);
	mmio_write32(addr + 4, (uint32_t)(value >> 32));
}

bool virtio_pci_matches(const struct pci_function *fn, uint16_t virtio_id)
{
	if (fn->vendor_id != VIRTIO_PCI_VENDOR_ID)
		return false;
	if (fn->device_id == VIRTIO_PCI_MODERN_ID_BASE + virtio_id)
		return true;
	return (virtio_id == VIRTIO_ID_NET && fn->device_id == VIRTIO_PCI_TRANSITIONAL_NET_ID) ||
	       (virtio_id == VIRTIO_ID_BLOCK && fn->device_id == VIRTIO_PCI_TRANSITIONAL_BLOCK_ID);
}

static uint8_t config_read8(const struct pci_function *fn, uint8_t offset)
{
	return (uint8_t)(pci_config_read32(fn, offset & 0xFC) >> (8 * (offset & 3)));
}

/* The region one capability describes, as a guest-physical range inside the
 * identity map; false if the BAR is not a usable memory BAR. */
static bool cap_region(const struct pci_function *fn, uint8_t cap, uint64_t *addr, uint64_t *len)
{
	uint8_t bar = config_read8(fn, cap + CAP_BYTE_BAR);
	if (bar >= PCI_BAR_COUNT)
		return false;
	uint64_t base = pci_bar_memory_address(fn, bar);
	uint64_t offset = pci_config_read32(fn, cap + CAP_OFFSET);
	uint64_t length = pci_config_read32(fn, cap + CAP_LENGTH);
	if (base == 0 || length == 0)
		return false;
	uint64_t start = base + offset;
	if (start < base || start >= IDENTITY_MAP_END || length > IDENTITY_MAP_END - start)
		return false;
	*addr = start;
	*len = length;
	return true;
}

/* Takes the first usable capability of each type, as the transport asks. */
static const char *find_capabilities(struct virtio_pci_device *dev)
{
	const struct pci_function *fn = dev->fn;
	uint64_t common_len = 0, isr_len = 0;
	if (!(pci_config_read16(fn, PCI_REG_STATUS) & PCI_STATUS_CAP_LIST))
		return "device has no PCI capability list (a legacy-only virtio device)";
	uint8_t pos = config_read8(fn, PCI_REG_CAP_POINTER) & 0xFC;
	for (unsigned walked = 0; pos >= 0x40 && walked < PCI_CAP_WALK_LIMIT; walked++) {
		uint32_t header = pci_config_read32(fn, pos);
		uint8_t next = (uint8_t)(header >> 8) & 0xFC;
		uint8_t cap_len = (uint8_t)(header >> 16), type = (uint8_t)(header >> 24);
		uint64_t addr, len;
		if ((header & 0xFF) != PCI_CAP_ID_VENDOR || !cap_region(fn, pos, &addr, &len)) {
			pos = next;
			continue;
		}
		if (type == VIRTIO_PCI_CAP_COMMON && !dev->common) {
			dev->common = addr;
			common_len = len;
		} else if (type == VIRTIO_PCI_CAP_NOTIFY && !dev->notify_base && cap_len >= CAP_NOTIFY_MIN_LEN) {
			dev->notify_base = addr;
			dev->notify_len = len;
			dev->notify_multiplier = pci_config_read32(fn, pos + CAP_NOTIFY_MULT);
		} else if (type == VIRTIO_PCI_CAP_ISR && !dev->isr) {
			dev->isr = addr;
			isr_len = len;
		} else if (type == VIRTIO_PCI_CAP_DEVICE && !dev->device_cfg) {
			dev->device_cfg = addr;
			dev->device_cfg_len = len;
		}
		pos = next;
	}
	if (!dev->common || common_len < COMMON_MIN_LEN)
		return "no usable common configuration capability (is the device modern, with memory BARs below 4 GiB?)";
	if (!dev->notify_base)
		return "no usable notification capability";
	if (!dev->isr || isr_len < 1)
		return "no usable ISR capability";
	return NULL;
}

uint8_t virtio_pci_status(const struct virtio_pci_device *dev)
{
	return mmio_read8(dev->common + COMMON_DEVICE_STATUS);
}

bool virtio_pci_needs_reset(const struct virtio_pci_device *dev)
{
	return (virtio_pci_status(dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET) != 0;
}

uint8_t virtio_pci_isr_read(const struct virtio_pci_device *dev)
{
	return mmio_read8(dev->isr);
}

static void status_add(struct virtio_pci_device *dev, uint8_t bits)
{
	mmio_write8(dev->common + COMMON_DEVICE_STATUS, (uint8_t)(virtio_pci_status(dev) | bits));
}

/* Marks the device FAILED and formats the reason. */
__attribute__((format(printf, 2, 3)))
static const char *fail(struct virtio_pci_device *dev, const char *fmt, ...)
{
	if (dev->common)
		status_add(dev, VIRTIO_STATUS_FAILED);
	va_list ap;
	va_start(ap, fmt);
	guest_vsnprintf(virtio_error, sizeof(virtio_error), fmt, ap);
	va_end(ap);
	return virtio_error;
}

static const char *reset(struct virtio_pci_device *dev)
{
	mmio_write8(dev->common + COMMON_DEVICE_STATUS, 0);
	for (unsigned i = 0; i < RESET_POLL_LIMIT; i++)
		if (virtio_pci_status(dev) == 0)
			return NULL;
	return "device status did not read 0 after reset";
}

static uint64_t read_device_features(const struct virtio_pci_device *dev)
{
	mmio_write32(dev->common + COMMON_DEVICE_FEATURE_SELECT, 0);
	uint64_t low = mmio_read32(dev->common + COMMON_DEVICE_FEATURE);
	mmio_write32(dev->common + COMMON_DEVICE_FEATURE_SELECT, 1);
	uint64_t high = mmio_read32(dev->common + COMMON_DEVICE_FEATURE);
	return high << 32 | low;
}

static void write_driver_features(const struct virtio_pci_device *dev, uint64_t features)
{
	mmio_write32(dev->common + COMMON_DRIVER_FEATURE_SELECT, 0);
	mmio_write32(dev->common + COMMON_DRIVER_FEATURE, (uint32_t)features);
	mmio_write32(dev->common + COMMON_DRIVER_FEATURE_SELECT, 1);
	mmio_write32(dev->common + COMMON_DRIVER_FEATURE, (uint32_t)(features >> 32));
}

const char *virtio_pci_start(struct virtio_pci_device *dev, const struct pci_function *fn,
			     uint64_t wanted_features)
{
	*dev = (struct virtio_pci_device){ .fn = fn };
	const char *err = find_capabilities(dev);
	if (err)
		return err;
	pci_enable_memory_and_bus_master(fn);
	err = reset(dev);
	if (err)
		return err;
	status_add(dev, VIRTIO_STATUS_ACKNOWLEDGE);
	status_add(dev, VIRTIO_STATUS_DRIVER);

	uint64_t offered = read_device_features(dev);
	if (!(offered & VIRTIO_FEATURE(VIRTIO_F_VERSION_1)))
		return fail(dev, "device does not offer VIRTIO_F_VERSION_1 (features 0x%lx); only modern virtio is driven",
			    offered);
	/* A device that DMAs through a platform IOMMU sees our identity map
	 * unchanged, so that feature costs nothing to accept. */
	dev->features = offered & (wanted_features | VIRTIO_FEATURE(VIRTIO_F_ACCESS_PLATFORM));
	write_driver_features(dev, dev->features);
	status_add(dev, VIRTIO_STATUS_FEATURES_OK);
	uint8_t status = virtio_pci_status(dev);
	if (!(status & VIRTIO_STATUS_FEATURES_OK))
		return fail(dev, "device cleared FEATURES_OK for features 0x%lx (status 0x%x)", dev->features,
			    status);
	guest_printf("virtio %02x:%02x.%u: offered 0x%lx, accepted 0x%lx\n", fn->bus, fn->device, fn->function,
		     offered, dev->features);
	return NULL;
}

const char *virtio_pci_enable_msix(struct virtio_pci_device *dev, uint8_t first_vector, unsigned count)
{
	const char *err = msix_enable(dev->fn, first_vector, count, lapic_id(), &dev->msix_table);
	if (err)
		return fail(dev, "%s", err);
	dev->msix = true;
	dev->first_vector = first_vector;
	mmio_write16(dev->common + COMMON_CONFIG_MSIX_VECTOR, 0);
	if (mmio_read16(dev->common + COMMON_CONFIG_MSIX_VECTOR) != 0)
		return fail(dev, "device refused MSI-X entry 0 for configuration changes");
	return NULL;
}

const char *virtio_pci_setup_queue(struct virtio_pci_device *dev, struct virtq *q, uint16_t index,
				   uint16_t max_size, uint16_t msix_entry)
{
	uint64_t c = dev->common;
	uint16_t num_queues = mmio_read16(c + COMMON_NUM_QUEUES);
	if (index >= num_queues)
		return fail(dev, "device has %u queues, queue %u wanted", num_queues, index);
	mmio_write16(c + COMMON_QUEUE_SELECT, index);
	uint16_t device_max = mmio_read16(c + COMMON_QUEUE_SIZE);
	if (device_max == 0)
		return fail(dev, "queue %u is not available (size 0)", index);
	uint16_t size = device_max < max_size ? device_max : max_size;
	while (size & (size - 1))
		size &= (uint16_t)(size - 1);
	const char *err = virtq_init(q, index, size, (dev->features & VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX)) != 0);
	if (err)
		return fail(dev, "%s", err);

	uint64_t notify_off = (uint64_t)mmio_read16(c + COMMON_QUEUE_NOTIFY_OFF) * dev->notify_multiplier;
	if (notify_off > dev->notify_len || dev->notify_len - notify_off < sizeof(uint16_t))
		return fail(dev, "queue %u notify offset 0x%lx is outside the notification region", index,
			    notify_off);
	q->notify_addr = dev->notify_base + notify_off;

	mmio_write16(c + COMMON_QUEUE_SIZE, size);
	if (!dev->msix)
		msix_entry = VIRTIO_MSI_NO_VECTOR;
	mmio_write16(c + COMMON_QUEUE_MSIX_VECTOR, msix_entry);
	if (mmio_read16(c + COMMON_QUEUE_MSIX_VECTOR) != msix_entry)
		return fail(dev, "device refused MSI-X entry %u for queue %u", msix_entry, index);
	mmio_write64_split(c + COMMON_QUEUE_DESC, (uint64_t)(uintptr_t)q->desc);
	mmio_write64_split(c + COMMON_QUEUE_DRIVER, (uint64_t)(uintptr_t)q->avail);
	mmio_write64_split(c + COMMON_QUEUE_DEVICE, (uint64_t)(uintptr_t)q->used);
	mmio_write16(c + COMMON_QUEUE_ENABLE, 1);
	return NULL;
}

const char *virtio_pci_driver_ok(struct virtio_pci_device *dev)
{
	status_add(dev, VIRTIO_STATUS_DRIVER_OK);
	uint8_t status = virtio_pci_status(dev);
	if (status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return fail(dev, "device set DEVICE_NEEDS_RESET after DRIVER_OK (status 0x%x)", status);
	if (!(status & VIRTIO_STATUS_DRIVER_OK))
		return fail(dev, "device status 0x%x lacks DRIVER_OK after it was set", status);
	return NULL;
}

/* Reads a device-config field of `width` bytes, retrying while the
 * generation changes underneath. */
static uint64_t config_read(const struct virtio_pci_device *dev, uint32_t offset, unsigned width)
{
	if (!dev->device_cfg || offset > dev->device_cfg_len || dev->device_cfg_len - offset < width)
		return 0;
	uint64_t addr = dev->device_cfg + offset, value = 0;
	for (unsigned tries = 0; tries < GENERATION_RETRY_LIMIT; tries++) {
		uint8_t before = mmio_read8(dev->common + COMMON_CONFIG_GENERATION);
		switch (width) {
		case 1: value = mmio_read8(addr); break;
		case 2: value = mmio_read16(addr); break;
		case 4: value = mmio_read32(addr); break;
		default: value = mmio_read32(addr) | (uint64_t)mmio_read32(addr + 4) << 32; break;
		}
		if (mmio_read8(dev->common + COMMON_CONFIG_GENERATION) == before)
			break;
	}
	return value;
}

uint8_t virtio_pci_config_read8(const struct virtio_pci_device *dev, uint32_t offset)
{
	return (uint8_t)config_read(dev, offset, 1);
}

uint16_t virtio_pci_config_read16(const struct virtio_pci_device *dev, uint32_t offset)
{
	return (uint16_t)config_read(dev, offset, 2);
}

uint32_t virtio_pci_config_read32(const struct virtio_pci_device *dev, uint32_t offset)
{
	return (uint32_t)config_read(dev, offset, 4);
}

uint64_t virtio_pci_config_read64(const struct virtio_pci_device *dev, uint32_t offset)
{
	return config_read(dev, offset, 8);
}

uint32_t virtio_pci_interrupt_count(const struct virtio_pci_device *dev, uint16_t entry)
{
	if (!dev->msix)
		return 0;
	unsigned index = (unsigned)dev->first_vector - VECTOR_MSIX_BASE + entry;
	return index < VECTOR_MSIX_COUNT ? msix_vector_counts[index] : 0;
}
