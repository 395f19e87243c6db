/* VFIO PCI pass-through: a host PCI function bound to vfio-pci appears on
 * the guest's PCI bus. Its BARs are the device's own registers mapped into
 * the guest as KVM memory slots (no exits), except the pages holding the
 * MSI-X table and PBA, which trap and are emulated by core/pci_msix. The
 * device DMAs into guest RAM through the host IOMMU (vfio_container).
 *
 * Interrupts never pass through the VMM: MSI-X vectors are VFIO eventfds that
 * are the msi_lines' irqfds; INTx is a VFIO eventfd bound to the INTx GSI by
 * a resampling irqfd whose resample eventfd is VFIO's unmask eventfd, so the
 * guest's EOI unmasks the line in the kernel.
 *
 * Models: --disk model=passthrough,host=BDF, --nic model=passthrough,host=BDF,
 * --device vfio,host=BDF (one back end under three names). */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/vfio.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/device.h"
#include "core/irq.h"
#include "core/log.h"
#include "core/pci.h"
#include "core/pci_msix.h"
#include "core/vm.h"
#include "passthrough/vfio_config.h"
#include "passthrough/vfio_container.h"
#include "passthrough/vfio_host.h"

#define PAGE_SIZE_4K      4096ull
#define VFIO_BAR_SLOTS    4    /* memory slots per BAR: pieces around the MSI-X pages */

struct vfio_bar_slot {
	uint64_t offset, len;      /* within the BAR, page aligned */
	int slot;                  /* KVM slot number */
	bool on;
	uint64_t gpa;              /* where it is mapped while on */
};

struct vfio_bar {
	struct vfio_pci *dev;
	unsigned index;
	uint64_t region_offset;    /* of the BAR in the device fd */
	uint64_t size;
	void *map;                 /* whole BAR mmapped, or NULL */
	struct vfio_bar_slot slots[VFIO_BAR_SLOTS];
	unsigned nslots;
};

struct vfio_pci {
	struct vfio_config cfg;    /* first: the PCI core hands back &cfg.pci */
	struct device_counters counters;
	struct vm *vm;
	char bdf[VFIO_BDF_LEN];
	int group;
	struct vfio_container *container;
	int device_fd;
	uint32_t device_flags;
	uint64_t config_offset;
	struct vfio_bar bars[PCI_NUM_BARS];
	bool msix_irqs_on;
	bool intx_on;
	int intx_fd, intx_unmask_fd;
	unsigned intx_gsi;
};

/* --- Physical config space through the VFIO config region --- */

static int vfio_pci_config_read(void *opaque, unsigned offset, void *buf, unsigned len)
{
	struct vfio_pci *d = opaque;
	ssize_t n = pread(d->device_fd, buf, len, (off_t)(d->config_offset + offset));
	return n == (ssize_t)len ? 0 : -1;
}

static int vfio_pci_config_write(void *opaque, unsigned offset, const void *buf, unsigned len)
{
	struct vfio_pci *d = opaque;
	ssize_t n = pwrite(d->device_fd, buf, len, (off_t)(d->config_offset + offset));
	return n == (ssize_t)len ? 0 : -1;
}

static const struct vfio_config_ops vfio_pci_config_ops = {
	.read = vfio_pci_config_read,
	.write = vfio_pci_config_write,
};

/* --- Trapped BAR accesses (PIO BARs, unmappable BARs, MSI-X pages) --- */

static void vfio_bar_trap_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct vfio_bar *bar = opaque;
	if (offset >= bar->size || len > bar->size - offset ||
	    pread(bar->dev->device_fd, data, len, (off_t)(bar->region_offset + offset)) != (ssize_t)len) {
		pci_device_fault(&bar->dev->cfg.pci, "BAR%u: %u-byte read at 0x%llx failed",
				 bar->index, len, (unsigned long long)offset);
		memset(data, 0xff, len);
	}
}

static void vfio_bar_trap_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct vfio_bar *bar = opaque;
	if (offset >= bar->size || len > bar->size - offset ||
	    pwrite(bar->dev->device_fd, data, len, (off_t)(bar->region_offset + offset)) != (ssize_t)len)
		pci_device_fault(&bar->dev->cfg.pci, "BAR%u: %u-byte write at 0x%llx failed",
				 bar->index, len, (unsigned long long)offset);
}

static const struct bus_region_ops vfio_bar_trap_ops = {
	.read = vfio_bar_trap_read,
	.write = vfio_bar_trap_write,
};

/* --- BAR memory slots --- */

static int vfio_slot_set(struct vfio_pci *d, struct vfio_bar *bar, struct vfio_bar_slot *s,
			 uint64_t gpa, uint64_t size)
{
	if (d->vm->vm_fd < 0)
		return 0;   /* unit-test VM: nothing to tell KVM */
	struct kvm_userspace_memory_region region = {
		.slot = (uint32_t)s->slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)((uint8_t *)bar->map + s->offset),
	};
	if (ioctl(d->vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		log_error("%s: KVM_SET_USER_MEMORY_REGION slot %d gpa 0x%llx+0x%llx: %s",
			  d->cfg.pci.name, s->slot, (unsigned long long)gpa,
			  (unsigned long long)size, strerror(errno));
		return -1;
	}
	return 0;
}

/* Makes the memory slots follow the BARs as the PCI core placed them: a slot
 * is present exactly while its BAR decodes at an address. */
static void vfio_pci_sync_slots(struct vfio_pci *d)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct vfio_bar *bar = &d->bars[i];
		const struct pci_bar *pb = &d->cfg.pci.bars[i];
		for (unsigned k = 0; k < bar->nslots; k++) {
			struct vfio_bar_slot *s = &bar->slots[k];
			bool want = pb->mapped;
			uint64_t gpa = pb->mapped_addr + s->offset;
			if (s->on && (!want || s->gpa != gpa)) {
				vfio_slot_set(d, bar, s, s->gpa, 0);
				s->on = false;
			}
			if (want && !s->on && vfio_slot_set(d, bar, s, gpa, s->len) == 0) {
				s->on = true;
				s->gpa = gpa;
			}
		}
	}
}

/* Pieces of [0, size) that may be mapped: everything but the pages that
 * hold the MSI-X table and PBA (which must trap). */
static void vfio_bar_plan_slots(struct vfio_pci *d, struct vfio_bar *bar)
{
	uint64_t holes[2][2];
	unsigned nholes = 0;
	const struct vfio_config *cfg = &d->cfg;
	if (cfg->pci.msix && cfg->msix_table_bar == bar->index) {
		uint64_t t0 = cfg->msix_table_offset, t1 = t0 + 16ull * cfg->msix_vectors;
		uint64_t p0 = cfg->msix_pba_offset, p1 = p0 + 8ull * ((cfg->msix_vectors + 63) / 64);
		holes[nholes][0] = t0 & ~(PAGE_SIZE_4K - 1);
		holes[nholes++][1] = (t1 + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1);
		holes[nholes][0] = p0 & ~(PAGE_SIZE_4K - 1);
		holes[nholes++][1] = (p1 + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1);
		if (holes[1][0] < holes[0][0]) {
			uint64_t a = holes[0][0], b = holes[0][1];
			holes[0][0] = holes[1][0], holes[0][1] = holes[1][1];
			holes[1][0] = a, holes[1][1] = b;
		}
	}
	uint64_t at = 0;
	for (unsigned h = 0; h <= nholes; h++) {
		uint64_t end = h < nholes ? holes[h][0] : bar->size;
		if (end > at && bar->nslots < VFIO_BAR_SLOTS)
			bar->slots[bar->nslots++] = (struct vfio_bar_slot){ .offset = at, .len = end - at, .slot = -1 };
		if (h < nholes && holes[h][1] > at)
			at = holes[h][1];
	}
}

static int vfio_bar_setup(struct vfio_pci *d, unsigned index)
{
	struct vfio_bar *bar = &d->bars[index];
	bar->dev = d;
	bar->index = index;
	struct vfio_region_info info = { .argsz = sizeof(info), .index = VFIO_PCI_BAR0_REGION_INDEX + index };
	if (ioctl(d->device_fd, VFIO_DEVICE_GET_REGION_INFO, &info) < 0 || info.size == 0)
		return 0;   /* BAR not implemented */
	bool prefetchable;
	enum pci_bar_type type = vfio_config_bar_type(&d->cfg, index, &prefetchable);
	if (type == PCI_BAR_UNUSED)
		return 0;
	bar->region_offset = info.offset;
	bar->size = info.size;
	if (pci_device_add_bar(&d->cfg.pci, index, type, info.size, prefetchable,
			       &vfio_bar_trap_ops, bar) < 0)
		return -1;
	/* Whole-BAR mmap when VFIO allows it and KVM can map whole pages of it. */
	if (type != PCI_BAR_PIO && (info.flags & VFIO_REGION_INFO_FLAG_MMAP) &&
	    info.size >= PAGE_SIZE_4K) {
		void *map = mmap(NULL, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, d->device_fd,
				 (off_t)info.offset);
		if (map == MAP_FAILED)
			log_warn("%s: BAR%u cannot be mmapped (%s); its accesses will trap",
				 d->cfg.pci.name, index, strerror(errno));
		else
			bar->map = map;
	}
	return 0;
}

static int vfio_bars_map(struct vfio_pci *d)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct vfio_bar *bar = &d->bars[i];
		if (!bar->map)
			continue;
		vfio_bar_plan_slots(d, bar);
		for (unsigned k = 0; k < bar->nslots; k++) {
			bar->slots[k].slot = vfio_container_slot_alloc(d->container);
			if (bar->slots[k].slot < 0) {
				log_error("%s: out of KVM memory slots for BARs", d->cfg.pci.name);
				return -1;
			}
		}
	}
	return 0;
}

/* --- Interrupts --- */

static int vfio_irq_set(struct vfio_pci *d, unsigned index, uint32_t action, const int *fds,
			unsigned count)
{
	size_t size = sizeof(struct vfio_irq_set) + sizeof(int) * count;
	struct vfio_irq_set *set = calloc(1, size);
	if (!set)
		return -1;
	set->argsz = (uint32_t)size;
	set->flags = (count ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE) | action;
	set->index = index;
	set->start = 0;
	set->count = count;
	if (count)
		memcpy(set->data, fds, sizeof(int) * count);
	int rc = ioctl(d->device_fd, VFIO_DEVICE_SET_IRQS, set);
	free(set);
	if (rc < 0) {
		log_error("%s: VFIO_DEVICE_SET_IRQS index %u count %u: %s", d->cfg.pci.name, index,
			  count, strerror(errno));
		return -1;
	}
	return 0;
}

static void vfio_intx_disable(struct vfio_pci *d)
{
	if (!d->intx_on)
		return;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)d->intx_fd, .gsi = d->intx_gsi,
				   .flags = KVM_IRQFD_FLAG_DEASSIGN };
	ioctl(d->vm->vm_fd, KVM_IRQFD, &irqfd);
	vfio_irq_set(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, NULL, 0);
	d->intx_on = false;
}

/* INTx without a VMM hop: VFIO masks the line and signals intx_fd; KVM
 * raises the GSI; on the guest's EOI KVM lowers it and signals the resample
 * fd, which is VFIO's unmask eventfd. */
static int vfio_intx_enable(struct vfio_pci *d)
{
	if (d->intx_on || d->intx_fd < 0 || d->vm->vm_fd < 0 || !d->intx_gsi)
		return 0;
	if (vfio_irq_set(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, &d->intx_fd, 1) < 0)
		return -1;
	if (vfio_irq_set(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_UNMASK, &d->intx_unmask_fd, 1) < 0)
		goto fail;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)d->intx_fd, .gsi = d->intx_gsi,
				   .flags = KVM_IRQFD_FLAG_RESAMPLE,
				   .resamplefd = (uint32_t)d->intx_unmask_fd };
	if (ioctl(d->vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		log_error("%s: KVM_IRQFD (resample) for INTx GSI %u: %s", d->cfg.pci.name,
			  d->intx_gsi, strerror(errno));
		goto fail;
	}
	d->intx_on = true;
	return 0;
fail:
	vfio_irq_set(d, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, NULL, 0);
	return -1;
}

/* MSI-X on the device follows the guest's enable bit; its vectors signal the
 * msi_lines' eventfds, which KVM turns into the guest's messages. */
static void vfio_msix_sync(struct vfio_pci *d)
{
	struct pci_msix *msix = d->cfg.pci.msix;
	if (!msix || !msix->lines)
		return;
	bool want = pci_msix_enabled(msix);
	if (want == d->msix_irqs_on)
		return;
	if (want) {
		int *fds = calloc(msix->nvectors, sizeof(int));
		if (!fds)
			return;
		for (unsigned v = 0; v < msix->nvectors; v++)
			fds[v] = msix->lines[v]->eventfd;
		vfio_intx_disable(d);   /* VFIO runs one interrupt type at a time */
		if (vfio_irq_set(d, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, fds,
				 msix->nvectors) == 0)
			d->msix_irqs_on = true;
		free(fds);
	} else {
		vfio_irq_set(d, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, NULL, 0);
		d->msix_irqs_on = false;
		vfio_intx_enable(d);
	}
}

static void vfio_pci_config_changed(struct vfio_config *cfg, void *opaque)
{
	(void)cfg;
	struct vfio_pci *d = opaque;
	vfio_pci_sync_slots(d);
	vfio_msix_sync(d);
}

/* --- Life cycle --- */

static void vfio_pci_device_reset(struct vfio_pci *d)
{
	if ((d->device_flags & VFIO_DEVICE_FLAGS_RESET) &&
	    ioctl(d->device_fd, VFIO_DEVICE_RESET) < 0)
		log_warn("%s: VFIO_DEVICE_RESET: %s", d->cfg.pci.name, strerror(errno));
}

static void vfio_pci_free(struct vfio_pci *d)
{
	if (d->device_fd >= 0) {
		vfio_intx_disable(d);
		if (d->msix_irqs_on)
			vfio_irq_set(d, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, NULL, 0);
	}
	if (d->cfg.pci.root)
		pci_device_unregister(&d->cfg.pci);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		struct vfio_bar *bar = &d->bars[i];
		for (unsigned k = 0; k < bar->nslots; k++) {
			if (bar->slots[k].on)
				vfio_slot_set(d, bar, &bar->slots[k], bar->slots[k].gpa, 0);
			vfio_container_slot_free(d->container, bar->slots[k].slot);
		}
		if (bar->map)
			munmap(bar->map, bar->size);
	}
	if (d->device_fd >= 0) {
		vfio_pci_device_reset(d);   /* leave the device quiet for its next user */
		close(d->device_fd);
	}
	if (d->cfg.ops)
		pci_device_fini(&d->cfg.pci);
	if (d->container)
		vfio_container_leave(d->container, d->group);
	if (d->intx_fd >= 0)
		close(d->intx_fd);
	if (d->intx_unmask_fd >= 0)
		close(d->intx_unmask_fd);
	free(d);
}

static int vfio_pci_parse(const struct device_spec *spec, char bdf[VFIO_BDF_LEN], int *slot,
			  char *err, size_t errlen)
{
	const char *host = NULL;
	*slot = -1;
	for (unsigned i = 0; i < spec->noptions; i++) {
		const char *key = spec->options[i].key, *value = spec->options[i].value;
		if (strcmp(key, "host") == 0) {
			host = value;
		} else if (strcmp(key, "slot") == 0) {
			char *end;
			long n = strtol(value, &end, 0);
			if (*end || end == value || n < 1 || n >= PCI_SLOTS) {
				snprintf(err, errlen, "%s: slot=%s is not a PCI slot number (use 1..%d)",
					 spec->text, value, PCI_SLOTS - 1);
				return -1;
			}
			*slot = (int)n;
		} else {
			snprintf(err, errlen, "%s: pass-through has no option '%s' (it takes "
				 "host=BDF and slot=N)", spec->text, key);
			return -1;
		}
	}
	if (!host) {
		snprintf(err, errlen, "%s: pass-through needs host=BDF, the host PCI address of a "
			 "device bound to vfio-pci (e.g. host=0000:00:03.0)", spec->text);
		return -1;
	}
	return vfio_host_parse_bdf(host, bdf, err, errlen);
}

static int vfio_pci_open_device(struct vfio_pci *d, int group_fd, char *err, size_t errlen)
{
	d->device_fd = ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, d->bdf);
	if (d->device_fd < 0) {
		snprintf(err, errlen, "%s: VFIO_GROUP_GET_DEVICE_FD: %s", d->bdf, strerror(errno));
		return -1;
	}
	struct vfio_device_info info = { .argsz = sizeof(info) };
	if (ioctl(d->device_fd, VFIO_DEVICE_GET_INFO, &info) < 0 || !(info.flags & VFIO_DEVICE_FLAGS_PCI)) {
		snprintf(err, errlen, "%s: not a VFIO PCI device", d->bdf);
		return -1;
	}
	d->device_flags = info.flags;
	struct vfio_region_info cfg = { .argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	if (ioctl(d->device_fd, VFIO_DEVICE_GET_REGION_INFO, &cfg) < 0 || cfg.size < PCI_CONFIG_SPACE_SIZE) {
		snprintf(err, errlen, "%s: no readable config region", d->bdf);
		return -1;
	}
	d->config_offset = cfg.offset;
	return 0;
}

static int vfio_pci_realize(struct vm *vm, const struct device_spec *spec, void **state,
			    char *err, size_t errlen)
{
	char bdf[VFIO_BDF_LEN];
	int slot, group;
	if (vfio_pci_parse(spec, bdf, &slot, err, errlen) < 0)
		return -1;
	if (vfio_host_check(&vfio_host_default_paths, bdf, &group, err, errlen) < 0)
		return -1;
	struct vfio_pci *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "%s: out of memory", spec->text);
		return -1;
	}
	d->vm = vm;
	d->device_fd = d->intx_fd = d->intx_unmask_fd = -1;
	d->group = group;
	memcpy(d->bdf, bdf, sizeof(bdf));
	int group_fd;
	d->container = vfio_container_join(vm, vfio_host_default_paths.dev, group, &group_fd, err, errlen);
	if (!d->container)
		goto fail_quiet;
	if (vfio_pci_open_device(d, group_fd, err, errlen) < 0)
		goto fail_quiet;
	vfio_pci_device_reset(d);
	char name[32];
	snprintf(name, sizeof(name), "vfio %s", bdf);
	if (vfio_config_init(&d->cfg, name, &vfio_pci_config_ops, d, &d->counters) < 0)
		goto fail;
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		if (vfio_bar_setup(d, i) < 0)
			goto fail;
	if (vfio_config_add_msix(&d->cfg) < 0)
		goto fail;
	if (vfio_bars_map(d) < 0)
		goto fail;
	d->intx_fd = eventfd(0, EFD_CLOEXEC);
	d->intx_unmask_fd = eventfd(0, EFD_CLOEXEC);
	if (d->intx_fd < 0 || d->intx_unmask_fd < 0) {
		snprintf(err, errlen, "%s: eventfd: %s", bdf, strerror(errno));
		goto fail_quiet;
	}
	if (pci_device_register(vm->pci, &d->cfg.pci, slot) < 0)
		goto fail;
	d->intx_gsi = d->cfg.pci.intx_gsi;
	/* Decoding and mastering start off, as after reset. */
	pthread_mutex_lock(&d->cfg.pci.config_lock);
	vfio_config_forward_command(&d->cfg);
	pthread_mutex_unlock(&d->cfg.pci.config_lock);
	vfio_config_attach(&d->cfg, vfio_pci_config_changed, d);
	if (vfio_intx_enable(d) < 0)
		goto fail;
	log_info("%s: passed through (IOMMU group %d, %s%s)", bdf, group,
		 d->cfg.pci.msix ? "MSI-X" : "no MSI-X",
		 d->intx_gsi ? ", INTx by resampling irqfd" : "");
	*state = d;
	return 0;
fail:
	snprintf(err, errlen, "%s: could not set up the device (see the message above)", spec->text);
fail_quiet:
	vfio_pci_free(d);
	return -1;
}

static void vfio_pci_reset(void *state)
{
	struct vfio_pci *d = state;
	vfio_intx_disable(d);
	if (d->msix_irqs_on) {
		vfio_irq_set(d, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, NULL, 0);
		d->msix_irqs_on = false;
	}
	vfio_pci_device_reset(d);
	pci_device_reset(&d->cfg.pci);
	pthread_mutex_lock(&d->cfg.pci.config_lock);
	vfio_config_forward_command(&d->cfg);
	vfio_pci_sync_slots(d);
	pthread_mutex_unlock(&d->cfg.pci.config_lock);
	vfio_intx_enable(d);
}

static int vfio_pci_save_state(void *state, struct device_state_buf *out)
{
	(void)out;
	struct vfio_pci *d = state;
	log_error("%s: a passed-through device cannot be saved or migrated (its state is in the "
		  "hardware)", d->bdf);
	return -1;
}

static int vfio_pci_load_state(void *state, struct device_state_buf *in)
{
	return vfio_pci_save_state(state, (struct device_state_buf *)in);
}

static struct device_counters *vfio_pci_stats(void *state)
{
	return &((struct vfio_pci *)state)->counters;
}

static void vfio_pci_teardown(void *state)
{
	vfio_pci_free(state);
}

#define VFIO_PCI_OPS(var, fn, what)                                            \
	static const struct device_model_ops var = {                          \
		.function = fn,                                                \
		.model = "passthrough",                                        \
		.summary = what " passed through with VFIO (host=BDF bound to vfio-pci)", \
		.realize = vfio_pci_realize,                                   \
		.reset = vfio_pci_reset,                                       \
		.save_state = vfio_pci_save_state,                             \
		.load_state = vfio_pci_load_state,                             \
		.stats = vfio_pci_stats,                                       \
		.teardown = vfio_pci_teardown,                                 \
	};                                                                     \
	DEVICE_MODEL_REGISTER(var)

VFIO_PCI_OPS(vfio_pci_disk_ops, "disk", "a host disk controller (NVMe)")
VFIO_PCI_OPS(vfio_pci_nic_ops, "nic", "a host NIC")
VFIO_PCI_OPS(vfio_pci_device_ops, "vfio", "any host PCI function")
