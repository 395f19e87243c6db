#include "tests/unit/test_nvme_guest.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/io_thread.h"
#include "core/pci.h"
#include "core/pci_msix.h"
#include "core/irq.h"
#include "tests/test_vm_fixture.h"

void *tn_ram(struct tn *t, uint64_t gpa, uint64_t len)
{
	return test_vm_ram(t->vm, gpa, len);
}

void tn_fill(struct tn *t, uint64_t gpa, uint64_t len, uint32_t seed)
{
	uint8_t *p = tn_ram(t, gpa, len);
	uint32_t x = seed * 2654435761u + 1;
	for (uint64_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
}

uint32_t tn_reg32(struct tn *t, uint64_t off)
{
	return test_vm_mmio_read32(t->vm, t->bar0 + off);
}

void tn_wreg32(struct tn *t, uint64_t off, uint32_t v)
{
	test_vm_mmio_write32(t->vm, t->bar0 + off, v);
}

/* The driver's view of the admin and I/O queue pairs as on a fresh start. */
static void queues_fresh(struct tn *t)
{
	t->admin = (struct tn_queue){ .qid = 0, .size = TN_ADMIN_SIZE, .sq = TN_ASQ, .cq = TN_ACQ,
				      .phase = true };
	t->io = (struct tn_queue){ .qid = 1, .size = TN_IO_SIZE, .sq = TN_IOSQ, .cq = TN_IOCQ,
				   .phase = true };
}

void tn_setup(struct tn *t, const char *extra)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->path, sizeof(t->path), "/tmp/iovirt-nvme-test-XXXXXX");
	t->fd = mkstemp(t->path);
	ck_assert_int_ge(t->fd, 0);
	ck_assert_int_eq(ftruncate(t->fd, TN_DISK_BYTES), 0);
	t->vm = test_vm_create(TN_RAM);
	char text[256], err[512];
	snprintf(text, sizeof(text), "model=emulated,path=%s%s", t->path, extra);
	t->ctrl = test_vm_add_device(t->vm, "disk", text, err, sizeof(err));
	ck_assert_msg(t->ctrl != NULL, "%s", err);
	struct pci_device *pci = nvme_ctrl_pci(t->ctrl);
	t->slot = (unsigned)pci->slot;
	t->bar0 = pci_device_bar_address(pci, 0);
	t->msix_bar = pci_device_bar_address(pci, NVME_MSIX_BAR);
	test_vm_pci_config_write32(t->vm, t->slot, PCI_CFG_COMMAND,
				   PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER);
	unsigned cap = pci->msix->cap_offset;
	uint32_t dw = test_vm_pci_config_read32(t->vm, t->slot, cap);
	test_vm_pci_config_write32(t->vm, t->slot, cap, dw | (uint32_t)PCI_MSIX_CTRL_ENABLE << 16);
	for (unsigned v = 0; v < pci->msix->nvectors; v++) {
		uint64_t e = t->msix_bar + NVME_MSIX_TABLE + v * PCI_MSIX_ENTRY_SIZE;
		test_vm_mmio_write32(t->vm, e + PCI_MSIX_ENTRY_ADDR_LO, 0xfee00000u);
		test_vm_mmio_write32(t->vm, e + PCI_MSIX_ENTRY_ADDR_HI, 0);
		test_vm_mmio_write32(t->vm, e + PCI_MSIX_ENTRY_DATA, 0x40 + v);
		test_vm_mmio_write32(t->vm, e + PCI_MSIX_ENTRY_CTRL, 0);
	}
	ck_assert(pci_msix_enabled(pci->msix));
	memset(tn_ram(t, TN_ASQ, 0x100000), 0, 0x100000);
	queues_fresh(t);
}

void tn_teardown(struct tn *t)
{
	test_vm_destroy(t->vm);
	close(t->fd);
	unlink(t->path);
}

static bool tn_ready(void *opaque)
{
	struct tn *t = opaque;
	return tn_reg32(t, NVME_REG_CSTS) & (NVME_CSTS_RDY | NVME_CSTS_CFS);
}

void tn_enable(struct tn *t)
{
	tn_wreg32(t, NVME_REG_AQA, (TN_ADMIN_SIZE - 1) << 16 | (TN_ADMIN_SIZE - 1));
	test_vm_mmio_write64(t->vm, t->bar0 + NVME_REG_ASQ, TN_ASQ);
	test_vm_mmio_write64(t->vm, t->bar0 + NVME_REG_ACQ, TN_ACQ);
	tn_wreg32(t, NVME_REG_CC, NVME_CC_EN | 6u << 16 | 4u << 20);
	test_vm_poll_io(t->vm, tn_ready, t);
	ck_assert_uint_eq(tn_reg32(t, NVME_REG_CSTS) & 3, NVME_CSTS_RDY);
}

void tn_setup_ready(struct tn *t)
{
	tn_setup(t, "");
	tn_enable(t);
	ck_assert_uint_eq(tn_create_io_queues(t), 0);
}

void tn_reenable(struct tn *t)
{
	memset(tn_ram(t, TN_ASQ, 0x4000), 0, 0x4000);
	queues_fresh(t);
	tn_enable(t);
	ck_assert_uint_eq(tn_create_io_queues(t), 0);
}

/* Linux's test: ring when the new index passed the event index. */
static bool tn_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

static uint32_t *tn_shadow_slot(struct tn *t, uint64_t base, unsigned index)
{
	return tn_ram(t, base + index * 4, 4);
}

/* Tells the device a doorbell value: MMIO, or shadow + EventIdx. */
static void tn_doorbell(struct tn *t, unsigned index, uint16_t value, uint16_t old)
{
	if (t->shadow && index >= 2) {
		__atomic_store_n(tn_shadow_slot(t, TN_SHADOW, index), value, __ATOMIC_SEQ_CST);
		uint16_t ev = (uint16_t)__atomic_load_n(tn_shadow_slot(t, TN_EVENTIDX, index),
							 __ATOMIC_SEQ_CST);
		if (!tn_need_event(ev, value, old))
			return;
	}
	tn_wreg32(t, NVME_REG_DOORBELLS + index * 4, value);
}

uint16_t tn_queue_sqe(struct tn *t, struct tn_queue *q, struct nvme_sqe *sqe)
{
	sqe->cid = t->next_cid++;
	memcpy(tn_ram(t, q->sq + (uint64_t)q->sq_tail * 64, 64), sqe, 64);
	q->sq_tail = (uint16_t)((q->sq_tail + 1) % q->size);
	return sqe->cid;
}

void tn_ring_sq(struct tn *t, struct tn_queue *q)
{
	tn_doorbell(t, 2u * q->qid, q->sq_tail, q->sq_tail_told);
	q->sq_tail_told = q->sq_tail;
}

uint16_t tn_submit(struct tn *t, struct tn_queue *q, struct nvme_sqe *sqe)
{
	uint16_t cid = tn_queue_sqe(t, q, sqe);
	tn_ring_sq(t, q);
	return cid;
}

struct tn_wait_args {
	struct tn *t;
	struct tn_queue *q;
	unsigned n;
};

static bool tn_cqe_ready(struct tn *t, struct tn_queue *q, unsigned k)
{
	unsigned slot = (q->cq_head + k) % q->size;
	bool phase = ((q->cq_head + k) / q->size) % 2 ? !q->phase : q->phase;
	const uint8_t *e = tn_ram(t, q->cq + slot * 16ull, 16);
	uint16_t sp = __atomic_load_n((const uint16_t *)(e + 14), __ATOMIC_ACQUIRE);
	return (sp & 1) == phase;
}

static bool tn_cqes_ready(void *opaque)
{
	struct tn_wait_args *a = opaque;
	return tn_cqe_ready(a->t, a->q, a->n - 1);
}

void tn_wait(struct tn *t, struct tn_queue *q, unsigned n, struct tn_cqe *out)
{
	struct tn_wait_args a = { t, q, n };
	test_vm_poll_io(t->vm, tn_cqes_ready, &a);
	for (unsigned k = 0; k < n; k++) {
		const uint8_t *e = tn_ram(t, q->cq + q->cq_head * 16ull, 16);
		struct tn_cqe c;
		memcpy(&c.dw0, e, 4);
		memcpy(&c.sq_head, e + 8, 2);
		memcpy(&c.sq_id, e + 10, 2);
		memcpy(&c.cid, e + 12, 2);
		uint16_t sp;
		memcpy(&sp, e + 14, 2);
		c.status = (sp >> 1) & 0x7ff;
		if (out)
			out[k] = c;
		if (++q->cq_head == q->size) {
			q->cq_head = 0;
			q->phase = !q->phase;
		}
	}
	tn_doorbell(t, 2u * q->qid + 1, q->cq_head, q->cq_head_told);
	q->cq_head_told = q->cq_head;
}

struct tn_cqe tn_cmd(struct tn *t, struct tn_queue *q, struct nvme_sqe *sqe)
{
	uint16_t cid = tn_submit(t, q, sqe);
	struct tn_cqe c;
	tn_wait(t, q, 1, &c);
	ck_assert_uint_eq(c.cid, cid);
	ck_assert_uint_eq(c.sq_id, q->qid);
	return c;
}

uint16_t tn_create_io_queues(struct tn *t)
{
	struct nvme_sqe cq = { .opcode = NVME_ADMIN_CREATE_CQ, .prp1 = TN_IOCQ,
			       .cdw10 = (TN_IO_SIZE - 1) << 16 | 1, .cdw11 = 1u << 16 | 0x3 };
	uint16_t st = tn_cmd(t, &t->admin, &cq).status;
	if (st)
		return st;
	struct nvme_sqe sq = { .opcode = NVME_ADMIN_CREATE_SQ, .prp1 = TN_IOSQ,
			       .cdw10 = (TN_IO_SIZE - 1) << 16 | 1, .cdw11 = 1u << 16 | 0x1 };
	return tn_cmd(t, &t->admin, &sq).status;
}

uint16_t tn_doorbell_buffer_config(struct tn *t)
{
	memset(tn_ram(t, TN_SHADOW, 4096), 0, 4096);
	memset(tn_ram(t, TN_EVENTIDX, 4096), 0, 4096);
	struct nvme_sqe c = { .opcode = NVME_ADMIN_DOORBELL_BUFFER_CONFIG, .prp1 = TN_SHADOW,
			      .prp2 = TN_EVENTIDX };
	uint16_t st = tn_cmd(t, &t->admin, &c).status;
	if (st == 0)
		t->shadow = true;
	return st;
}

struct tn_cqe tn_rw(struct tn *t, bool write, uint64_t slba, uint32_t nlb, uint64_t prp1,
		    uint64_t prp2)
{
	struct nvme_sqe c = {
		.opcode = write ? NVME_IO_WRITE : NVME_IO_READ, .nsid = 1, .prp1 = prp1, .prp2 = prp2,
		.cdw10 = (uint32_t)slba, .cdw11 = (uint32_t)(slba >> 32), .cdw12 = nlb - 1,
	};
	return tn_cmd(t, &t->io, &c);
}

uint64_t tn_msix_count(struct tn *t, unsigned vector)
{
	struct pci_device *pci = nvme_ctrl_pci(t->ctrl);
	uint64_t v = 0;
	if (read(pci->msix->lines[vector]->eventfd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}
