/* MSI-X emulation: capability, vector table, pending-bit array, and one
 * msi_line per vector that is attached to KVM only while the vector can fire
 * (MSI-X enabled, function unmasked, vector unmasked). A notify that finds the
 * vector masked sets its pending bit; unmasking sends it. */
#include "core/pci_msix.h"

#include <stdlib.h>
#include <string.h>

#include "core/device.h"
#include "core/irq.h"
#include "core/log.h"
#include "core/pci.h"

#define PCI_MSIX_SAVE_MAGIC 0x5853494du   /* "MISX" */

static unsigned pba_words(unsigned nvectors)
{
	return (nvectors + 63) / 64;
}

static bool pending_test(const struct pci_msix *msix, unsigned vector)
{
	return msix->pba[vector / 64] & (1ull << (vector % 64));
}

static void pending_set(struct pci_msix *msix, unsigned vector, bool on)
{
	if (on)
		msix->pba[vector / 64] |= 1ull << (vector % 64);
	else
		msix->pba[vector / 64] &= ~(1ull << (vector % 64));
}

static bool vector_can_fire_locked(const struct pci_msix *msix, unsigned vector)
{
	return msix->enabled && !msix->function_masked &&
	       !(msix->table[vector].ctrl & PCI_MSIX_ENTRY_CTRL_MASK);
}

/* Brings a vector's line in step with the masks and sends a pending
 * message once the vector can fire. */
static void vector_sync_locked(struct pci_msix *msix, unsigned vector)
{
	if (!msix->lines)
		return;
	bool on = vector_can_fire_locked(msix, vector);
	if (on != msix->line_on[vector]) {
		irq_msi_line_set_enabled(msix->lines[vector], on);
		msix->line_on[vector] = on;
	}
	if (on && pending_test(msix, vector) && pci_device_bus_master_enabled(msix->dev)) {
		pending_set(msix, vector, false);
		irq_msi_line_fire(msix->lines[vector]);
	}
}

static void vector_program_locked(struct pci_msix *msix, unsigned vector)
{
	if (!msix->lines)
		return;
	const struct pci_msix_entry *e = &msix->table[vector];
	irq_msi_line_set_message(msix->lines[vector], ((uint64_t)e->addr_hi << 32) | e->addr_lo,
				 e->data);
}

/* Message Control was written (config lock held): pick up enable and mask. */
static void msix_control_written(struct pci_device *dev, void *opaque)
{
	struct pci_msix *msix = opaque;
	uint16_t control = (uint16_t)(dev->config[msix->cap_offset + 2] |
				      dev->config[msix->cap_offset + 3] << 8);
	pthread_mutex_lock(&msix->lock);
	msix->enabled = control & PCI_MSIX_CTRL_ENABLE;
	msix->function_masked = control & PCI_MSIX_CTRL_FUNC_MASK;
	for (unsigned v = 0; v < msix->nvectors; v++)
		vector_sync_locked(msix, v);
	pthread_mutex_unlock(&msix->lock);
}

/* The table takes aligned 4- and 8-byte accesses only, as the spec allows
 * nothing else; anything else is the guest's mistake. */
static bool msix_access_ok(struct pci_msix *msix, const char *what, uint64_t offset,
			   uint32_t len, uint64_t size)
{
	if ((len == 4 || len == 8) && offset % len == 0 && offset < size && len <= size - offset)
		return true;
	pci_device_fault(msix->dev, "MSI-X %s: %u-byte access at offset 0x%llx refused "
			 "(aligned 4- or 8-byte accesses only)", what, len,
			 (unsigned long long)offset);
	return false;
}

static uint32_t *entry_dword(struct pci_msix_entry *e, unsigned index)
{
	switch (index) {
	case 0: return &e->addr_lo;
	case 1: return &e->addr_hi;
	case 2: return &e->data;
	default: return &e->ctrl;
	}
}

static void msix_table_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct pci_msix *msix = opaque;
	if (!msix_access_ok(msix, "table", offset, len, (uint64_t)msix->nvectors * PCI_MSIX_ENTRY_SIZE)) {
		memset(data, 0xff, len);
		return;
	}
	unsigned vector = (unsigned)(offset / PCI_MSIX_ENTRY_SIZE);
	unsigned first = (unsigned)(offset % PCI_MSIX_ENTRY_SIZE) / 4;
	uint32_t words[2] = { 0, 0 };
	pthread_mutex_lock(&msix->lock);
	for (unsigned i = 0; i < len / 4; i++)
		words[i] = *entry_dword(&msix->table[vector], first + i);
	pthread_mutex_unlock(&msix->lock);
	memcpy(data, words, len);
}

static void msix_table_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct pci_msix *msix = opaque;
	if (!msix_access_ok(msix, "table", offset, len, (uint64_t)msix->nvectors * PCI_MSIX_ENTRY_SIZE))
		return;
	unsigned vector = (unsigned)(offset / PCI_MSIX_ENTRY_SIZE);
	unsigned first = (unsigned)(offset % PCI_MSIX_ENTRY_SIZE) / 4;
	uint32_t words[2];
	memcpy(words, data, len);
	pthread_mutex_lock(&msix->lock);
	struct pci_msix_entry *e = &msix->table[vector];
	bool message_changed = false, ctrl_changed = false;
	for (unsigned i = 0; i < len / 4; i++) {
		unsigned index = first + i;
		uint32_t value = words[i];
		if (index == 0)
			value &= ~3u;      /* the address is dword aligned */
		else if (index == 3)
			value &= PCI_MSIX_ENTRY_CTRL_MASK; /* other bits are reserved */
		uint32_t *slot = entry_dword(e, index);
		if (*slot == value)
			continue;
		*slot = value;
		if (index == 3)
			ctrl_changed = true;
		else
			message_changed = true;
	}
	if (message_changed)
		vector_program_locked(msix, vector);
	if (ctrl_changed)
		vector_sync_locked(msix, vector);
	pthread_mutex_unlock(&msix->lock);
}

static const struct bus_region_ops msix_table_ops = {
	.read = msix_table_read,
	.write = msix_table_write,
};

static void msix_pba_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct pci_msix *msix = opaque;
	if (!msix_access_ok(msix, "PBA", offset, len, (uint64_t)pba_words(msix->nvectors) * 8)) {
		memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&msix->lock);
	uint64_t word = msix->pba[offset / 8];
	pthread_mutex_unlock(&msix->lock);
	if (len == 4 && offset % 8)
		word >>= 32;
	memcpy(data, &word, len);
}

static void msix_pba_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	/* The PBA is read-only: writes are dropped, bad ones noted. */
	(void)data;
	msix_access_ok(opaque, "PBA", offset, len,
		       (uint64_t)pba_words(((struct pci_msix *)opaque)->nvectors) * 8);
}

static const struct bus_region_ops msix_pba_ops = {
	.read = msix_pba_read,
	.write = msix_pba_write,
};

static void msix_clear_table(struct pci_msix *msix)
{
	/* Vectors come out of reset masked, with nothing pending. */
	memset(msix->table, 0, msix->nvectors * sizeof(msix->table[0]));
	for (unsigned v = 0; v < msix->nvectors; v++)
		msix->table[v].ctrl = PCI_MSIX_ENTRY_CTRL_MASK;
	memset(msix->pba, 0, pba_words(msix->nvectors) * sizeof(msix->pba[0]));
}

struct pci_msix *pci_msix_init(struct pci_device *dev, unsigned nvectors, unsigned bar,
			       uint32_t table_offset, uint32_t pba_offset)
{
	if (dev->root || dev->msix) {
		log_error("%s: MSI-X must be set up once, before the device is registered", dev->name);
		return NULL;
	}
	if (nvectors == 0 || nvectors > PCI_MSIX_MAX_VECTORS) {
		log_error("%s: %u MSI-X vectors requested; 1..%u are possible", dev->name, nvectors,
			  PCI_MSIX_MAX_VECTORS);
		return NULL;
	}
	if (bar >= PCI_NUM_BARS ||
	    (dev->bars[bar].type != PCI_BAR_MMIO32 && dev->bars[bar].type != PCI_BAR_MMIO64)) {
		log_error("%s: MSI-X needs an MMIO BAR; BAR%u is not one", dev->name, bar);
		return NULL;
	}
	if ((table_offset | pba_offset) & 7) {
		log_error("%s: MSI-X table (0x%x) and PBA (0x%x) offsets must be 8-byte aligned",
			  dev->name, table_offset, pba_offset);
		return NULL;
	}

	unsigned overlays_before = dev->bars[bar].noverlays, watches_before = dev->nwatches;
	struct pci_msix *msix = calloc(1, sizeof(*msix));
	if (!msix) {
		log_error("%s: out of memory for MSI-X", dev->name);
		return NULL;
	}
	msix->dev = dev;
	msix->nvectors = nvectors;
	msix->bar = bar;
	msix->table_offset = table_offset;
	msix->pba_offset = pba_offset;
	pthread_mutex_init(&msix->lock, NULL);
	msix->table = calloc(nvectors, sizeof(msix->table[0]));
	msix->pba = calloc(pba_words(nvectors), sizeof(msix->pba[0]));
	msix->lines = NULL;
	msix->line_on = calloc(nvectors, sizeof(msix->line_on[0]));
	if (!msix->table || !msix->pba || !msix->line_on)
		goto oom;
	msix_clear_table(msix);

	/* Both ranges are checked against the BAR (and each other) here. */
	overlays_before = dev->bars[bar].noverlays;
	if (pci_bar_add_overlay(dev, bar, table_offset, (uint64_t)nvectors * PCI_MSIX_ENTRY_SIZE,
				&msix_table_ops, msix) < 0 ||
	    pci_bar_add_overlay(dev, bar, pba_offset, (uint64_t)pba_words(nvectors) * 8,
				&msix_pba_ops, msix) < 0)
		goto fail;
	int cap = pci_device_add_capability(dev, PCI_CAP_ID_MSIX, PCI_MSIX_CAP_LEN);
	if (cap < 0)
		goto fail;
	msix->cap_offset = (unsigned)cap;
	pci_config_set_u16(dev, cap + 2, (uint16_t)(nvectors - 1));
	pci_config_set_u32(dev, cap + 4, table_offset | bar);
	pci_config_set_u32(dev, cap + 8, pba_offset | bar);
	pci_device_set_writable(dev, cap + 2, 2, PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_FUNC_MASK);
	/* Message Control, and the command register: a vector left pending
	 * while bus mastering was off goes out once it is back on. */
	if (pci_device_watch_config(dev, cap + 2, 2, msix_control_written, msix) < 0 ||
	    pci_device_watch_config(dev, PCI_CFG_COMMAND, 2, msix_control_written, msix) < 0)
		goto fail;
	dev->msix = msix;
	return msix;

oom:
	log_error("%s: out of memory for %u MSI-X vectors", dev->name, nvectors);
fail:
	dev->bars[bar].noverlays = overlays_before;
	dev->nwatches = watches_before;
	pci_msix_free(msix);
	return NULL;
}

int pci_msix_attach(struct pci_msix *msix, struct irq_router *irq)
{
	struct msi_line **lines = calloc(msix->nvectors, sizeof(*lines));
	if (!lines)
		return -1;
	for (unsigned v = 0; v < msix->nvectors; v++) {
		lines[v] = irq_msi_line_create(irq, msix->dev->counters);
		if (!lines[v]) {
			while (v-- > 0)
				irq_msi_line_destroy(lines[v]);
			free(lines);
			return -1;
		}
	}
	pthread_mutex_lock(&msix->lock);
	msix->lines = lines;
	for (unsigned v = 0; v < msix->nvectors; v++) {
		const struct pci_msix_entry *e = &msix->table[v];
		msix->line_on[v] = false;
		/* A KVM route per untouched vector would only cost ioctls. */
		if (e->addr_lo || e->addr_hi || e->data)
			vector_program_locked(msix, v);
		vector_sync_locked(msix, v);
	}
	pthread_mutex_unlock(&msix->lock);
	return 0;
}

void pci_msix_detach(struct pci_msix *msix)
{
	pthread_mutex_lock(&msix->lock);
	struct msi_line **lines = msix->lines;
	msix->lines = NULL;
	pthread_mutex_unlock(&msix->lock);
	if (!lines)
		return;
	for (unsigned v = 0; v < msix->nvectors; v++) {
		irq_msi_line_destroy(lines[v]);
		msix->line_on[v] = false;
	}
	free(lines);
}

void pci_msix_free(struct pci_msix *msix)
{
	if (!msix)
		return;
	pci_msix_detach(msix);
	pthread_mutex_destroy(&msix->lock);
	free(msix->table);
	free(msix->pba);
	free(msix->line_on);
	free(msix);
}

enum pci_msix_outcome pci_msix_notify(struct pci_msix *msix, unsigned vector)
{
	if (vector >= msix->nvectors)
		return PCI_MSIX_BAD_VECTOR;
	enum pci_msix_outcome outcome;
	pthread_mutex_lock(&msix->lock);
	if (!msix->enabled) {
		outcome = PCI_MSIX_DISABLED;
	} else if (!vector_can_fire_locked(msix, vector) || !msix->lines) {
		pending_set(msix, vector, true);
		outcome = PCI_MSIX_PENDING;
	} else if (!pci_device_bus_master_enabled(msix->dev)) {
		/* An MSI is a memory write: without bus mastering it never leaves. */
		outcome = PCI_MSIX_NO_BUS_MASTER;
	} else {
		irq_msi_line_fire(msix->lines[vector]);
		outcome = PCI_MSIX_FIRED;
	}
	pthread_mutex_unlock(&msix->lock);
	return outcome;
}

bool pci_msix_enabled(struct pci_msix *msix)
{
	pthread_mutex_lock(&msix->lock);
	bool enabled = msix->enabled;
	pthread_mutex_unlock(&msix->lock);
	return enabled;
}

void pci_msix_reset(struct pci_msix *msix)
{
	pthread_mutex_lock(&msix->lock);
	msix->enabled = false;
	msix->function_masked = false;
	msix_clear_table(msix);
	for (unsigned v = 0; v < msix->nvectors; v++)
		vector_sync_locked(msix, v);
	pthread_mutex_unlock(&msix->lock);
}

int pci_msix_save_state(struct pci_msix *msix, struct device_state_buf *out)
{
	uint32_t header[2] = { PCI_MSIX_SAVE_MAGIC, msix->nvectors };
	pthread_mutex_lock(&msix->lock);
	int ret = device_state_put(out, header, sizeof(header));
	if (ret == 0)
		ret = device_state_put(out, msix->table, msix->nvectors * sizeof(msix->table[0]));
	if (ret == 0)
		ret = device_state_put(out, msix->pba, pba_words(msix->nvectors) * sizeof(msix->pba[0]));
	pthread_mutex_unlock(&msix->lock);
	return ret < 0 ? -1 : 0;
}

int pci_msix_load_state(struct pci_msix *msix, struct device_state_buf *in)
{
	struct pci_device *dev = msix->dev;
	uint32_t header[2];
	if (device_state_get(in, header, sizeof(header)) < 0 || header[0] != PCI_MSIX_SAVE_MAGIC ||
	    header[1] != msix->nvectors) {
		log_error("%s: saved MSI-X state is missing or has another vector count "
			  "(this device has %u)", dev->name, msix->nvectors);
		return -1;
	}
	size_t table_bytes = msix->nvectors * sizeof(msix->table[0]);
	size_t pba_bytes = pba_words(msix->nvectors) * sizeof(msix->pba[0]);
	struct pci_msix_entry *table = malloc(table_bytes);
	uint64_t *pba = malloc(pba_bytes);
	int ret = -1;
	if (!table || !pba || device_state_get(in, table, table_bytes) < 0 ||
	    device_state_get(in, pba, pba_bytes) < 0) {
		log_error("%s: saved MSI-X state is truncated", dev->name);
		goto out;
	}
	/* Lock order as for a guest config write: config, then MSI-X. */
	pthread_mutex_lock(&dev->config_lock);
	pthread_mutex_lock(&msix->lock);
	for (unsigned v = 0; v < msix->nvectors; v++) {
		msix->table[v] = table[v];
		msix->table[v].addr_lo &= ~3u;
		msix->table[v].ctrl &= PCI_MSIX_ENTRY_CTRL_MASK;
		pending_set(msix, v, (pba[v / 64] >> (v % 64)) & 1);
		vector_program_locked(msix, v);
	}
	pthread_mutex_unlock(&msix->lock);
	msix_control_written(dev, msix);
	pthread_mutex_unlock(&dev->config_lock);
	ret = 0;
out:
	free(table);
	free(pba);
	return ret;
}
