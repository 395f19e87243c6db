#include "tests/unit/test_virtio_driver.h"

#include <check.h>
#include <string.h>

#include "core/bus.h"
#include "core/pci.h"
#include "core/pci_msix.h"
#include "split/virtio_spec.h"
#include "tests/test_vm_fixture.h"

static uint8_t cfg_read8(struct vm *vm, unsigned slot, unsigned offset)
{
	return (uint8_t)(test_vm_pci_config_read32(vm, slot, offset & ~3u) >> (8 * (offset & 3)));
}

static uint32_t cfg_read32(struct vm *vm, unsigned slot, unsigned offset)
{
	return test_vm_pci_config_read32(vm, slot, offset);
}

void tvd_open(struct tvd *d, struct vm *vm, uint16_t device_id, unsigned nth,
	      struct device_counters *counters, uint64_t alloc_base)
{
	memset(d, 0, sizeof(*d));
	d->vm = vm;
	d->counters = counters;
	d->alloc_next = alloc_base;
	unsigned found = 0;
	for (unsigned slot = 1; slot < PCI_SLOTS && !d->slot; slot++) {
		uint32_t id = cfg_read32(vm, slot, 0);
		if (id == ((uint32_t)device_id << 16 | VIRTIO_PCI_VENDOR_ID) && found++ == nth)
			d->slot = slot;
	}
	ck_assert_msg(d->slot != 0, "virtio device 0x%x #%u not on the bus", device_id, nth);
	ck_assert_int_eq(cfg_read8(vm, d->slot, PCI_CFG_REVISION), VIRTIO_PCI_REVISION);
	uint32_t lo = cfg_read32(vm, d->slot, PCI_CFG_BAR0);
	ck_assert_int_eq(lo & 0x7, PCI_BAR_MEM_TYPE_64);
	d->bar = ((uint64_t)cfg_read32(vm, d->slot, PCI_CFG_BAR0 + 4) << 32) | (lo & ~0xfu);
	ck_assert(d->bar != 0);
	test_vm_pci_config_write32(vm, d->slot, PCI_CFG_COMMAND,
				   PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER);
	bool have[5] = { false };
	for (unsigned at = cfg_read8(vm, d->slot, PCI_CFG_CAP_PTR), n = 0; at && n < 48;
	     at = cfg_read8(vm, d->slot, at + 1), n++) {
		uint8_t id = cfg_read8(vm, d->slot, at);
		if (id == PCI_CAP_ID_MSIX) {
			d->msix_cap = at;
			uint32_t table = cfg_read32(vm, d->slot, at + 4);
			ck_assert_int_eq(table & 7, 0);
			d->msix_table = d->bar + (table & ~7u);
			continue;
		}
		if (id != PCI_CAP_ID_VENDOR)
			continue;
		uint8_t type = cfg_read8(vm, d->slot, at + VIRTIO_PCI_CAP_OFF_TYPE);
		uint8_t bar = cfg_read8(vm, d->slot, at + VIRTIO_PCI_CAP_OFF_BAR);
		uint64_t addr = d->bar + cfg_read32(vm, d->slot, at + VIRTIO_PCI_CAP_OFF_OFFSET);
		if (type == VIRTIO_PCI_CAP_PCI_CFG || type > VIRTIO_PCI_CAP_DEVICE_CFG)
			continue;
		ck_assert_int_eq(bar, 0);
		have[type] = true;
		switch (type) {
		case VIRTIO_PCI_CAP_COMMON_CFG: d->common = addr; break;
		case VIRTIO_PCI_CAP_ISR_CFG: d->isr = addr; break;
		case VIRTIO_PCI_CAP_DEVICE_CFG: d->device = addr; break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			d->notify = addr;
			d->notify_mult = cfg_read32(vm, d->slot, at + VIRTIO_PCI_CAP_OFF_MULT);
			break;
		}
	}
	ck_assert(have[VIRTIO_PCI_CAP_COMMON_CFG] && have[VIRTIO_PCI_CAP_NOTIFY_CFG] &&
		  have[VIRTIO_PCI_CAP_ISR_CFG] && have[VIRTIO_PCI_CAP_DEVICE_CFG]);
	ck_assert(d->msix_cap != 0);
	ck_assert_int_eq(d->notify_mult, 4);
}

uint64_t tvd_alloc(struct tvd *d, uint64_t size, uint64_t align)
{
	uint64_t at = (d->alloc_next + align - 1) & ~(align - 1);
	d->alloc_next = at + size;
	memset(test_vm_ram(d->vm, at, size), 0, size);
	return at;
}

uint32_t tvd_common_read(struct tvd *d, unsigned offset, unsigned len)
{
	uint32_t v = 0;
	ck_assert(bus_read(&d->vm->mmio_bus, d->common + offset, &v, len));
	return v;
}

void tvd_common_write(struct tvd *d, unsigned offset, unsigned len, uint32_t value)
{
	ck_assert(bus_write(&d->vm->mmio_bus, d->common + offset, &value, len));
}

uint8_t tvd_status(struct tvd *d)
{
	return (uint8_t)tvd_common_read(d, VIRTIO_COMMON_STATUS, 1);
}

uint32_t tvd_device_cfg_read(struct tvd *d, unsigned offset, unsigned len)
{
	uint32_t v = 0;
	ck_assert(bus_read(&d->vm->mmio_bus, d->device + offset, &v, len));
	return v;
}

uint64_t tvd_device_features(struct tvd *d)
{
	tvd_common_write(d, VIRTIO_COMMON_DFSELECT, 4, 0);
	uint64_t lo = tvd_common_read(d, VIRTIO_COMMON_DF, 4);
	tvd_common_write(d, VIRTIO_COMMON_DFSELECT, 4, 1);
	return lo | (uint64_t)tvd_common_read(d, VIRTIO_COMMON_DF, 4) << 32;
}

uint8_t tvd_negotiate(struct tvd *d, uint64_t features)
{
	tvd_common_write(d, VIRTIO_COMMON_STATUS, 1, 0);
	ck_assert_int_eq(tvd_status(d), 0);
	memset(d->q, 0, sizeof(d->q));
	tvd_common_write(d, VIRTIO_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE);
	tvd_common_write(d, VIRTIO_COMMON_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	tvd_common_write(d, VIRTIO_COMMON_GFSELECT, 4, 0);
	tvd_common_write(d, VIRTIO_COMMON_GF, 4, (uint32_t)features);
	tvd_common_write(d, VIRTIO_COMMON_GFSELECT, 4, 1);
	tvd_common_write(d, VIRTIO_COMMON_GF, 4, (uint32_t)(features >> 32));
	tvd_common_write(d, VIRTIO_COMMON_STATUS, 1,
			 VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	return tvd_status(d);
}

void tvd_enable_msix(struct tvd *d, unsigned nqueues)
{
	for (unsigned v = 0; v <= nqueues; v++) {
		uint64_t e = d->msix_table + v * PCI_MSIX_ENTRY_SIZE;
		test_vm_mmio_write32(d->vm, e + PCI_MSIX_ENTRY_ADDR_LO, 0xfee00000u);
		test_vm_mmio_write32(d->vm, e + PCI_MSIX_ENTRY_ADDR_HI, 0);
		test_vm_mmio_write32(d->vm, e + PCI_MSIX_ENTRY_DATA, 0x40 + v);
		test_vm_mmio_write32(d->vm, e + PCI_MSIX_ENTRY_CTRL, 0);
	}
	uint32_t head = test_vm_pci_config_read32(d->vm, d->slot, d->msix_cap);
	test_vm_pci_config_write32(d->vm, d->slot, d->msix_cap,
				   head | (uint32_t)PCI_MSIX_CTRL_ENABLE << 16);
	tvd_common_write(d, VIRTIO_COMMON_MSIX, 2, 0);
	ck_assert_int_eq(tvd_common_read(d, VIRTIO_COMMON_MSIX, 2), 0);
}

bool tvd_setup_queue(struct tvd *d, unsigned q, uint16_t size)
{
	ck_assert_uint_lt(q, TVD_MAX_QUEUES);
	struct tvd_queue *tq = &d->q[q];
	memset(tq, 0, sizeof(*tq));
	tq->size = size;
	tq->desc = tvd_alloc(d, 16u * size, 16);
	tq->avail = tvd_alloc(d, 6u + 2u * size, 2);
	tq->used = tvd_alloc(d, 6u + 8u * size, 4);
	tvd_common_write(d, VIRTIO_COMMON_Q_SELECT, 2, q);
	tvd_common_write(d, VIRTIO_COMMON_Q_SIZE, 2, size);
	tvd_common_write(d, VIRTIO_COMMON_Q_DESCLO, 4, (uint32_t)tq->desc);
	tvd_common_write(d, VIRTIO_COMMON_Q_DESCHI, 4, (uint32_t)(tq->desc >> 32));
	tvd_common_write(d, VIRTIO_COMMON_Q_AVAILLO, 4, (uint32_t)tq->avail);
	tvd_common_write(d, VIRTIO_COMMON_Q_AVAILHI, 4, 0);
	tvd_common_write(d, VIRTIO_COMMON_Q_USEDLO, 4, (uint32_t)tq->used);
	tvd_common_write(d, VIRTIO_COMMON_Q_USEDHI, 4, 0);
	tvd_common_write(d, VIRTIO_COMMON_Q_MSIX, 2, q + 1);
	ck_assert_int_eq(tvd_common_read(d, VIRTIO_COMMON_Q_NOFF, 2), q);
	tvd_common_write(d, VIRTIO_COMMON_Q_ENABLE, 2, 1);
	return tvd_common_read(d, VIRTIO_COMMON_Q_ENABLE, 2) == 1;
}

void tvd_driver_ok(struct tvd *d)
{
	uint8_t s = tvd_status(d);
	tvd_common_write(d, VIRTIO_COMMON_STATUS, 1, s | VIRTIO_STATUS_DRIVER_OK);
	ck_assert(tvd_status(d) & VIRTIO_STATUS_DRIVER_OK);
}

void tvd_write_desc(struct tvd *d, unsigned q, uint16_t index, uint64_t addr, uint32_t len,
		    uint16_t flags, uint16_t next)
{
	struct virtq_desc desc = { .addr = addr, .len = len, .flags = flags, .next = next };
	memcpy(test_vm_ram(d->vm, d->q[q].desc + 16u * index, 16), &desc, 16);
}

static uint16_t *ring16(struct tvd *d, uint64_t gpa)
{
	return test_vm_ram(d->vm, gpa, 2);
}

void tvd_avail_set_idx(struct tvd *d, unsigned q, uint16_t idx)
{
	d->q[q].avail_idx = idx;
	__atomic_store_n(ring16(d, d->q[q].avail + 2), idx, __ATOMIC_RELEASE);
}

void tvd_avail_add(struct tvd *d, unsigned q, uint16_t head)
{
	struct tvd_queue *tq = &d->q[q];
	*ring16(d, tq->avail + 4 + 2u * (tq->avail_idx % tq->size)) = head;
	tvd_avail_set_idx(d, q, (uint16_t)(tq->avail_idx + 1));
}

void tvd_set_used_event(struct tvd *d, unsigned q, uint16_t value)
{
	*ring16(d, d->q[q].avail + 4 + 2u * d->q[q].size) = value;
}

uint16_t tvd_avail_event(struct tvd *d, unsigned q)
{
	return *ring16(d, d->q[q].used + 4 + 8u * d->q[q].size);
}

uint16_t tvd_used_flags(struct tvd *d, unsigned q)
{
	return *ring16(d, d->q[q].used);
}

void tvd_set_avail_flags(struct tvd *d, unsigned q, uint16_t flags)
{
	*ring16(d, d->q[q].avail) = flags;
}

uint16_t tvd_post(struct tvd *d, unsigned q, const struct tvd_buf *bufs, unsigned n)
{
	struct tvd_queue *tq = &d->q[q];
	ck_assert_uint_le(n, tq->size);
	uint16_t head = tq->next_desc;
	for (unsigned i = 0; i < n; i++) {
		uint16_t index = (uint16_t)((head + i) % tq->size);
		uint16_t next = (uint16_t)((head + i + 1) % tq->size);
		tvd_write_desc(d, q, index, bufs[i].gpa, bufs[i].len,
			       (uint16_t)((bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
					  (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)), next);
	}
	tq->next_desc = (uint16_t)((head + n) % tq->size);
	tvd_avail_add(d, q, head);
	return head;
}

uint16_t tvd_post_indirect(struct tvd *d, unsigned q, const struct tvd_buf *bufs, unsigned n)
{
	struct tvd_queue *tq = &d->q[q];
	uint64_t table = tvd_alloc(d, 16u * n, 16);
	for (unsigned i = 0; i < n; i++) {
		struct virtq_desc desc = {
			.addr = bufs[i].gpa, .len = bufs[i].len, .next = (uint16_t)(i + 1),
			.flags = (uint16_t)((bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
		};
		memcpy(test_vm_ram(d->vm, table + 16u * i, 16), &desc, 16);
	}
	uint16_t head = tq->next_desc;
	tvd_write_desc(d, q, head, table, 16u * n, VIRTQ_DESC_F_INDIRECT, 0);
	tq->next_desc = (uint16_t)((head + 1) % tq->size);
	tvd_avail_add(d, q, head);
	return head;
}

void tvd_kick(struct tvd *d, unsigned q)
{
	uint16_t value = (uint16_t)q;
	ck_assert(bus_write(&d->vm->mmio_bus, d->notify + q * d->notify_mult, &value, 2));
}

struct tvd_wait {
	struct tvd *d;
	unsigned q;
};

static bool tvd_wait_done(void *opaque)
{
	struct tvd_wait *w = opaque;
	struct tvd_queue *tq = &w->d->q[w->q];
	uint16_t idx = __atomic_load_n(ring16(w->d, tq->used + 2), __ATOMIC_ACQUIRE);
	return idx != tq->used_seen;
}

void tvd_wait_used(struct tvd *d, unsigned q)
{
	struct tvd_wait w = { d, q };
	test_vm_poll_io(d->vm, tvd_wait_done, &w);
}

bool tvd_get_used(struct tvd *d, unsigned q, uint32_t *id, uint32_t *len)
{
	struct tvd_queue *tq = &d->q[q];
	uint16_t idx = __atomic_load_n(ring16(d, tq->used + 2), __ATOMIC_ACQUIRE);
	if (idx == tq->used_seen)
		return false;
	const uint8_t *e = test_vm_ram(d->vm, tq->used + 4 + 8u * (tq->used_seen % tq->size), 8);
	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
	tq->used_seen++;
	return true;
}
