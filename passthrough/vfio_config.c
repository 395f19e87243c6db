/* Config-space virtualization for pass-through: the guest's view merges the
 * physical config (VFIO config region) with iovirt's emulated pci_device. */
#include "passthrough/vfio_config.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/pci_msix.h"

#define PCI_HEADER_MULTIFUNCTION 0x80
#define PCI_CAP_MAX_COUNT        48   /* (256 - 64) / 4: more means a loop */

/* Command bits the physical device must follow: decoding, mastering, error
 * reporting and INTx masking. The rest stays iovirt's. */
#define VFIO_COMMAND_FORWARD_MASK (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER | \
				   PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE)

static uint32_t bytes_get(const uint8_t *p, unsigned len)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < len; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static void kind_set(struct vfio_config *cfg, unsigned offset, unsigned len, enum vfio_config_byte kind)
{
	for (unsigned i = offset; i < offset + len && i < PCI_CONFIG_SPACE_SIZE; i++)
		cfg->kind[i] = (uint8_t)kind;
}

/* Length of an MSI capability from its Message Control. */
static unsigned msi_cap_len(const uint8_t *phys, unsigned cap)
{
	uint16_t ctrl = (uint16_t)bytes_get(phys + cap + 2, 2);
	unsigned len = 10;
	if (ctrl & 0x0080)    /* 64-bit address */
		len += 4;
	if (ctrl & 0x0100)    /* per-vector masking: reserved, mask, pending */
		len += 10;
	return len;
}

/* Reads MSI-X's table/PBA location; false when the device's layout cannot be
 * emulated (table and PBA in different BARs). */
static bool msix_layout_read(struct vfio_config *cfg, unsigned cap)
{
	if (cap + PCI_MSIX_CAP_LEN > PCI_CONFIG_SPACE_SIZE)
		return false;
	uint16_t ctrl = (uint16_t)bytes_get(cfg->phys + cap + 2, 2);
	uint32_t table = bytes_get(cfg->phys + cap + 4, 4);
	uint32_t pba = bytes_get(cfg->phys + cap + 8, 4);
	cfg->msix_vectors = (ctrl & PCI_MSIX_CTRL_TABLE_SIZE) + 1u;
	cfg->msix_table_bar = table & 7u;
	cfg->msix_table_offset = table & ~7u;
	cfg->msix_pba_bar = pba & 7u;
	cfg->msix_pba_offset = pba & ~7u;
	if (cfg->msix_table_bar >= PCI_NUM_BARS || cfg->msix_table_bar != cfg->msix_pba_bar) {
		log_warn("%s: MSI-X table (BAR%u) and PBA (BAR%u) are not in one BAR; MSI-X is "
			 "hidden and the guest gets INTx", cfg->pci.name, cfg->msix_table_bar,
			 cfg->msix_pba_bar);
		return false;
	}
	return true;
}

/* Walks the physical capability chain and builds the guest's: every
 * capability but MSI (and MSI-X when it cannot be emulated), with the
 * pointers rewritten to skip the hidden ones. */
static void capabilities_virtualize(struct vfio_config *cfg)
{
	unsigned shown[PCI_CAP_MAX_COUNT], nshown = 0;
	bool visited[PCI_CONFIG_SPACE_SIZE] = { false };
	unsigned cap = (cfg->phys[PCI_CFG_STATUS] & PCI_STATUS_CAP_LIST) ? cfg->phys[PCI_CFG_CAP_PTR] & 0xfcu : 0;
	unsigned count = 0;
	while (cap >= PCI_CFG_FIRST_CAP && cap <= PCI_CONFIG_SPACE_SIZE - 4 && !visited[cap] &&
	       count++ < PCI_CAP_MAX_COUNT) {
		visited[cap] = true;
		uint8_t id = cfg->phys[cap];
		if (id == PCI_CAP_ID_MSI) {
			kind_set(cfg, cap, msi_cap_len(cfg->phys, cap), VFIO_CFG_HIDDEN);
		} else if (id == PCI_CAP_ID_MSIX && !cfg->msix_cap && msix_layout_read(cfg, cap)) {
			cfg->msix_cap = cap;
			kind_set(cfg, cap + 2, PCI_MSIX_CAP_LEN - 2, VFIO_CFG_EMULATED);
			shown[nshown++] = cap;
		} else if (id == PCI_CAP_ID_MSIX) {
			kind_set(cfg, cap, PCI_MSIX_CAP_LEN, VFIO_CFG_HIDDEN);
		} else {
			shown[nshown++] = cap;
		}
		cap = cfg->phys[cap + 1] & 0xfcu;
	}
	cfg->kind[PCI_CFG_CAP_PTR] = VFIO_CFG_POINTER;
	cfg->pointer[PCI_CFG_CAP_PTR] = nshown ? (uint8_t)shown[0] : 0;
	for (unsigned i = 0; i < nshown; i++) {
		cfg->kind[shown[i] + 1] = VFIO_CFG_POINTER;
		cfg->pointer[shown[i] + 1] = i + 1 < nshown ? (uint8_t)shown[i + 1] : 0;
	}
}

int vfio_config_init(struct vfio_config *cfg, const char *name, const struct vfio_config_ops *ops,
		     void *opaque, struct device_counters *counters)
{
	uint8_t phys[PCI_CONFIG_SPACE_SIZE];
	if (ops->read(opaque, 0, phys, sizeof(phys)) < 0) {
		log_error("%s: cannot read the device's config space", name);
		return -1;
	}
	uint16_t vendor = (uint16_t)bytes_get(phys + PCI_CFG_VENDOR_ID, 2);
	if (vendor == 0xffff || vendor == 0) {
		log_error("%s: config space reads vendor 0x%04x: no device answers", name, vendor);
		return -1;
	}
	if ((phys[PCI_CFG_HEADER_TYPE] & 0x7f) != 0) {
		log_error("%s: header type %u is not a plain function (bridges cannot be passed "
			  "through)", name, phys[PCI_CFG_HEADER_TYPE] & 0x7f);
		return -1;
	}
	const struct pci_device_id id = {
		.vendor = vendor,
		.device = (uint16_t)bytes_get(phys + PCI_CFG_DEVICE_ID, 2),
		.subsystem_vendor = (uint16_t)bytes_get(phys + PCI_CFG_SUBSYS_VENDOR, 2),
		.subsystem = (uint16_t)bytes_get(phys + PCI_CFG_SUBSYS_ID, 2),
		.class_code = bytes_get(phys + PCI_CFG_CLASS_PROG, 3),
		.revision = phys[PCI_CFG_REVISION],
	};
	pci_device_init(&cfg->pci, name, &id, counters);
	cfg->ops = ops;
	cfg->opaque = opaque;
	memcpy(cfg->phys, phys, sizeof(phys));
	memset(cfg->kind, VFIO_CFG_PHYS, sizeof(cfg->kind));
	memset(cfg->pointer, 0, sizeof(cfg->pointer));
	cfg->msix_cap = 0;
	cfg->phys_errors = 0;

	kind_set(cfg, PCI_CFG_COMMAND, 2, VFIO_CFG_FORWARD);
	kind_set(cfg, PCI_CFG_HEADER_TYPE, 1, VFIO_CFG_EMULATED);
	kind_set(cfg, PCI_CFG_BAR0, 4 * PCI_NUM_BARS, VFIO_CFG_EMULATED);
	kind_set(cfg, PCI_CFG_ROM, 4, VFIO_CFG_EMULATED);      /* no ROM: reads 0 */
	kind_set(cfg, PCI_CFG_INT_LINE, 2, VFIO_CFG_EMULATED);
	/* Single function on iovirt's bus, whatever the host slot holds. */
	pci_config_set_u8(&cfg->pci, PCI_CFG_HEADER_TYPE, 0);
	unsigned pin = phys[PCI_CFG_INT_PIN];
	if (pin >= PCI_INTX_A && pin <= PCI_INTX_D)
		pci_device_set_intx_pin(&cfg->pci, pin);
	capabilities_virtualize(cfg);
	return 0;
}

enum pci_bar_type vfio_config_bar_type(const struct vfio_config *cfg, unsigned index,
				       bool *prefetchable)
{
	*prefetchable = false;
	if (index >= PCI_NUM_BARS)
		return PCI_BAR_UNUSED;
	for (unsigned i = 0; i < index; i++) {
		uint32_t below = bytes_get(cfg->phys + PCI_CFG_BAR0 + 4 * i, 4);
		if (i + 1 == index && !(below & PCI_BAR_IO_SPACE) && (below & 0x6) == PCI_BAR_MEM_TYPE_64)
			return PCI_BAR_UNUSED;   /* upper half of a 64-bit BAR */
	}
	uint32_t reg = bytes_get(cfg->phys + PCI_CFG_BAR0 + 4 * index, 4);
	if (reg & PCI_BAR_IO_SPACE)
		return PCI_BAR_PIO;
	*prefetchable = (reg & PCI_BAR_MEM_PREFETCH) != 0;
	if ((reg & 0x6) == PCI_BAR_MEM_TYPE_64)
		return index + 1 < PCI_NUM_BARS ? PCI_BAR_MMIO64 : PCI_BAR_UNUSED;
	return PCI_BAR_MMIO32;
}

int vfio_config_add_msix(struct vfio_config *cfg)
{
	if (!cfg->msix_cap)
		return 1;
	if (cfg->pci.bars[cfg->msix_table_bar].type != PCI_BAR_MMIO32 &&
	    cfg->pci.bars[cfg->msix_table_bar].type != PCI_BAR_MMIO64) {
		log_error("%s: the MSI-X table's BAR%u is not a memory BAR", cfg->pci.name,
			  cfg->msix_table_bar);
		return -1;
	}
	/* Put the emulated capability where the device has it, so the guest's
	 * offsets are the device's. */
	cfg->pci.next_cap = cfg->msix_cap;
	if (!pci_msix_init(&cfg->pci, cfg->msix_vectors, cfg->msix_table_bar,
			   cfg->msix_table_offset, cfg->msix_pba_offset))
		return -1;
	return 0;
}

static int phys_write_run(struct vfio_config *cfg, unsigned offset, const uint8_t *bytes, unsigned len)
{
	if (cfg->ops->write(cfg->opaque, offset, bytes, len) < 0) {
		cfg->phys_errors++;
		return -1;
	}
	return 0;
}

int vfio_config_forward_command(struct vfio_config *cfg)
{
	uint16_t guest = (uint16_t)bytes_get(cfg->pci.config + PCI_CFG_COMMAND, 2);
	uint8_t cur[2];
	if (cfg->ops->read(cfg->opaque, PCI_CFG_COMMAND, cur, 2) < 0) {
		cfg->phys_errors++;
		return -1;
	}
	uint16_t value = (uint16_t)((bytes_get(cur, 2) & ~VFIO_COMMAND_FORWARD_MASK) |
				    (guest & VFIO_COMMAND_FORWARD_MASK));
	uint8_t out[2] = { (uint8_t)value, (uint8_t)(value >> 8) };
	return phys_write_run(cfg, PCI_CFG_COMMAND, out, 2);
}

static bool touches(unsigned offset, unsigned len, unsigned start, unsigned n)
{
	return offset < start + n && start < offset + len;
}

static bool vfio_config_hook_read(struct pci_device *dev, unsigned offset, unsigned len, uint32_t *value)
{
	struct vfio_config *cfg = (struct vfio_config *)dev;
	uint8_t phys[4] = { 0xff, 0xff, 0xff, 0xff };
	bool need_phys = false;
	for (unsigned i = 0; i < len; i++)
		need_phys |= cfg->kind[offset + i] == VFIO_CFG_PHYS;
	if (need_phys && cfg->ops->read(cfg->opaque, offset, phys, len) < 0) {
		cfg->phys_errors++;
		memset(phys, 0xff, sizeof(phys));
	}
	uint32_t emulated = pci_config_emulated_read(dev, offset, len);
	uint32_t v = 0;
	for (unsigned i = 0; i < len; i++) {
		unsigned at = offset + i;
		uint8_t byte;
		switch (cfg->kind[at]) {
		case VFIO_CFG_PHYS:
			byte = phys[i];
			break;
		case VFIO_CFG_POINTER:
			byte = cfg->pointer[at];
			break;
		case VFIO_CFG_HIDDEN:
			byte = 0;
			break;
		default:
			byte = (uint8_t)(emulated >> (8 * i));
			break;
		}
		v |= (uint32_t)byte << (8 * i);
	}
	*value = v;
	return true;
}

static bool vfio_config_hook_write(struct pci_device *dev, unsigned offset, unsigned len, uint32_t value)
{
	struct vfio_config *cfg = (struct vfio_config *)dev;
	/* The emulated image takes every write (its write masks keep read-only
	 * bytes), so BARs, command and MSI-X state follow the guest. */
	pci_config_emulated_write(dev, offset, len, value);
	uint8_t bytes[4];
	for (unsigned i = 0; i < 4; i++)
		bytes[i] = (uint8_t)(value >> (8 * i));
	unsigned i = 0;
	while (i < len) {
		if (cfg->kind[offset + i] != VFIO_CFG_PHYS) {
			i++;
			continue;
		}
		unsigned start = i;
		while (i < len && cfg->kind[offset + i] == VFIO_CFG_PHYS)
			i++;
		phys_write_run(cfg, offset + start, bytes + start, i - start);
	}
	bool command = touches(offset, len, PCI_CFG_COMMAND, 2);
	if (command)
		vfio_config_forward_command(cfg);
	bool changed = command || touches(offset, len, PCI_CFG_BAR0, 4 * PCI_NUM_BARS) ||
		       (cfg->msix_cap && touches(offset, len, cfg->msix_cap + 2, 2));
	if (changed && cfg->changed)
		cfg->changed(cfg, cfg->changed_opaque);
	return true;
}

static const struct pci_config_hooks vfio_config_hooks = {
	.read = vfio_config_hook_read,
	.write = vfio_config_hook_write,
};

void vfio_config_attach(struct vfio_config *cfg, vfio_config_changed_fn changed, void *opaque)
{
	cfg->changed = changed;
	cfg->changed_opaque = opaque;
	pci_device_set_config_hooks(&cfg->pci, &vfio_config_hooks);
}
