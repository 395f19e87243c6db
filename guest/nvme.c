/* The guest's NVMe driver: see guest/nvme.h. One controller, admin queue
 * polled, one I/O queue pair whose completions come by MSI-X or polling.
 * Every register access is a trap on an emulated controller, so the I/O path
 * touches BAR0 only for the one SQ tail doorbell per kick and one CQ head
 * doorbell per reaped batch (fewer with shadow doorbells). */
#include "guest/nvme.h"

#include <stddef.h>

#include "guest/cmdline.h"
#include "guest/interrupts.h"
#include "guest/io.h"
#include "guest/lapic.h"
#include "guest/msix.h"
#include "guest/page_alloc.h"
#include "guest/pci.h"
#include "guest/print.h"
#include "guest/string.h"
#include "guest/usermode.h"

#define NVME_CLASS_CODE 0x010802u
#define PCI_CAP_ID_MSIX 0x11

/* Controller registers (BAR0). 64-bit ones are accessed as two dwords, low
 * half first, which every controller must accept. */
#define NVME_REG_CAP   0x00
#define NVME_REG_VS    0x08
#define NVME_REG_INTMS 0x0C
#define NVME_REG_CC    0x14
#define NVME_REG_CSTS  0x1C
#define NVME_REG_AQA   0x24
#define NVME_REG_ASQ   0x28
#define NVME_REG_ACQ   0x30
#define NVME_REG_DOORBELLS 0x1000

#define NVME_CC_EN        (1u << 0)
#define NVME_CC_IOSQES_64 (6u << 16)
#define NVME_CC_IOCQES_16 (4u << 20)
#define NVME_CSTS_RDY     (1u << 0)
#define NVME_CSTS_CFS     (1u << 1)

#define NVME_ADMIN_CREATE_SQ   0x01
#define NVME_ADMIN_CREATE_CQ   0x05
#define NVME_ADMIN_IDENTIFY    0x06
#define NVME_ADMIN_SET_FEATURES 0x09
#define NVME_ADMIN_DBBUF_CONFIG 0x7C
#define NVME_CMD_WRITE 0x01
#define NVME_CMD_READ  0x02

#define NVME_FEATURE_NUM_QUEUES 0x07
#define NVME_IDENTIFY_NAMESPACE  0x00
#define NVME_IDENTIFY_CONTROLLER 0x01
#define NVME_OACS_DBBUF (1u << 8)

#define NVME_PAGE 4096u
#define NVME_ADMIN_DEPTH 16u
#define NVME_SQE_BYTES 64u
#define NVME_CQE_BYTES 16u
#define NVME_IO_QID 1u
/* One PRP list page per tag, no chaining: 512 entries after PRP1's page. */
#define NVME_PRP_LIST_ENTRIES (NVME_PAGE / 8u)
#define NVME_MAX_TRANSFER_CAP ((uint64_t)NVME_PRP_LIST_ENTRIES * NVME_PAGE)

/* Bounds, in wait slices of ~1 ms. */
#define NVME_ADMIN_TIMEOUT_SLICES 5000u
#define NVME_IO_WAIT_SLICES 10u
/* The MSI-X wait slot that no device uses: a plain 1 ms sleep. */
#define SLEEP_SLOT (VECTOR_MSIX_COUNT - 1u)

struct nvme_sqe {
	uint32_t cdw0;        /* opcode | command id << 16 */
	uint32_t nsid;
	uint64_t reserved;
	uint64_t mptr;
	uint64_t prp1;
	uint64_t prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};
_Static_assert(sizeof(struct nvme_sqe) == NVME_SQE_BYTES, "SQE layout");

struct nvme_cqe {
	uint32_t result;
	uint32_t reserved;
	uint32_t sq_head_and_id;
	uint32_t cid_phase_status; /* cid 15:0, phase 16, status 31:17 */
};
_Static_assert(sizeof(struct nvme_cqe) == NVME_CQE_BYTES, "CQE layout");

struct nvme_queue_pair {
	struct nvme_sqe *sq;
	volatile struct nvme_cqe *cq;
	uint16_t depth;
	uint16_t sq_tail;
	uint16_t sq_tail_told;    /* the last tail the controller was told */
	uint16_t sq_head;         /* from the newest CQE */
	uint16_t cq_head;
	uint16_t phase;
	uint64_t sq_doorbell, cq_doorbell;
	unsigned shadow_sq, shadow_cq;  /* dword indexes into the shadow pages */
};

struct nvme_controller {
	uint64_t regs;
	uint32_t doorbell_stride;
	struct nvme_queue_pair admin, io;
	uint16_t admin_cid;
	uint64_t *prp_lists;      /* one page per tag */
	uint64_t max_transfer;
	bool irq;
	unsigned msix_index;
	uint32_t msix_seen;
	volatile uint32_t *shadow;    /* shadow doorbells, or NULL */
	volatile uint32_t *event_idx;
	struct guest_disk *disk;
};

static struct nvme_controller nvme;
static char nvme_error[96];

static void sleep_slice(void)
{
	interrupts_wait_msix(SLEEP_SLOT, msix_vector_counts[SLEEP_SLOT], 1);
}

static uint32_t reg_read(uint32_t offset)
{
	return mmio_read32(nvme.regs + offset);
}

static void reg_write(uint32_t offset, uint32_t value)
{
	mmio_write32(nvme.regs + offset, value);
}

static void reg_write64(uint32_t offset, uint64_t value)
{
	reg_write(offset, (uint32_t)value);
	reg_write(offset + 4, (uint32_t)(value >> 32));
}

/* Ring position a - b in a ring of depth entries. */
static uint16_t ring_distance(uint16_t a, uint16_t b, uint16_t depth)
{
	return (uint16_t)((a + depth - b) % depth);
}

/* With shadow doorbells, the controller asks for an MMIO write only when the
 * new value passes the event index it published (as virtio's event index). */
static bool shadow_needs_mmio(unsigned slot, uint16_t new_value, uint16_t old_value, uint16_t depth)
{
	nvme.shadow[slot] = new_value;
	/* The shadow store must be visible before the event index is read. */
	__asm__ volatile("mfence" : : : "memory");
	uint16_t event = (uint16_t)nvme.event_idx[slot];
	if (event >= depth)
		return true;
	return ring_distance(new_value, (uint16_t)(event + 1) % depth, depth) <
	       ring_distance(new_value, old_value, depth);
}

/* Writes a doorbell unless the shadow protocol says the controller will see
 * the new value anyway. Returns whether an MMIO write was made. */
static bool doorbell_write(uint64_t doorbell, unsigned slot, uint16_t new_value, uint16_t old_value,
			   uint16_t depth, bool always_mmio)
{
	if (nvme.shadow) {
		bool need = shadow_needs_mmio(slot, new_value, old_value, depth);
		if (!need && !always_mmio)
			return false;
	}
	mmio_write32(doorbell, new_value);
	return true;
}

static void queue_pair_init(struct nvme_queue_pair *q, unsigned qid, uint16_t depth, void *sq, void *cq)
{
	memset(q, 0, sizeof(*q));
	q->sq = sq;
	q->cq = cq;
	q->depth = depth;
	q->phase = 1;
	q->sq_doorbell = nvme.regs + NVME_REG_DOORBELLS + (2u * qid) * nvme.doorbell_stride;
	q->cq_doorbell = nvme.regs + NVME_REG_DOORBELLS + (2u * qid + 1u) * nvme.doorbell_stride;
	q->shadow_sq = 2u * qid * (nvme.doorbell_stride / 4u);
	q->shadow_cq = (2u * qid + 1u) * (nvme.doorbell_stride / 4u);
}

/* --- admin queue (polled) --- */

static const char *admin_command(struct nvme_sqe *cmd, uint32_t *result)
{
	struct nvme_queue_pair *q = &nvme.admin;
	uint16_t cid = nvme.admin_cid++;
	cmd->cdw0 = (cmd->cdw0 & 0xFFu) | (uint32_t)cid << 16;
	q->sq[q->sq_tail] = *cmd;
	uint16_t old = q->sq_tail;
	q->sq_tail = (uint16_t)((q->sq_tail + 1u) % q->depth);
	/* The admin queue always gets its MMIO doorbell: controllers differ on
	 * whether shadow doorbells cover it, so the shadow is only kept current. */
	doorbell_write(q->sq_doorbell, q->shadow_sq, q->sq_tail, old, q->depth, true);
	for (unsigned slice = 0; slice < NVME_ADMIN_TIMEOUT_SLICES; slice++) {
		volatile struct nvme_cqe *e = &q->cq[q->cq_head];
		uint32_t dw3 = e->cid_phase_status;
		if (((dw3 >> 16) & 1u) != q->phase) {
			if (reg_read(NVME_REG_CSTS) & NVME_CSTS_CFS)
				return "CSTS.CFS set while an admin command was outstanding";
			sleep_slice();
			continue;
		}
		uint32_t res = e->result;
		uint16_t old_head = q->cq_head;
		q->cq_head = (uint16_t)((q->cq_head + 1u) % q->depth);
		if (q->cq_head == 0)
			q->phase ^= 1u;
		doorbell_write(q->cq_doorbell, q->shadow_cq, q->cq_head, old_head, q->depth, true);
		if ((dw3 & 0xFFFFu) != cid) {
			guest_snprintf(nvme_error, sizeof(nvme_error),
				       "admin completion for command id %u, expected %u", dw3 & 0xFFFFu, cid);
			return nvme_error;
		}
		uint32_t status = dw3 >> 17;
		if (status) {
			guest_snprintf(nvme_error, sizeof(nvme_error), "admin opcode 0x%x failed: status 0x%x",
				       cmd->cdw0 & 0xFFu, status);
			return nvme_error;
		}
		if (result)
			*result = res;
		return NULL;
	}
	guest_snprintf(nvme_error, sizeof(nvme_error), "admin opcode 0x%x got no completion in %u ms",
		       cmd->cdw0 & 0xFFu, NVME_ADMIN_TIMEOUT_SLICES);
	return nvme_error;
}

/* Waits (bounded by CAP.TO) until CSTS.RDY equals want. */
static const char *wait_ready(uint32_t want, uint32_t timeout_500ms)
{
	unsigned slices = (timeout_500ms ? timeout_500ms : 1u) * 500u + 100u;
	for (unsigned i = 0; i < slices; i++) {
		uint32_t csts = reg_read(NVME_REG_CSTS);
		if (csts == 0xFFFFFFFFu)
			return "CSTS reads all ones: controller not responding";
		if (want && (csts & NVME_CSTS_CFS))
			return "CSTS.CFS set after enable";
		if ((csts & NVME_CSTS_RDY) == want)
			return NULL;
		sleep_slice();
	}
	return want ? "CSTS.RDY did not become 1 within CAP.TO" : "CSTS.RDY did not become 0 within CAP.TO";
}

static const char *identify(uint8_t *page, uint32_t cns, uint32_t nsid)
{
	struct nvme_sqe cmd = { .cdw0 = NVME_ADMIN_IDENTIFY, .nsid = nsid, .prp1 = (uintptr_t)page,
				.cdw10 = cns };
	return admin_command(&cmd, NULL);
}

static uint32_t le32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64_at(const uint8_t *p)
{
	return le32_at(p) | (uint64_t)le32_at(p + 4) << 32;
}

/* Identify controller and namespace 1: transfer limit, block size, capacity. */
static const char *identify_all(struct guest_disk *disk, uint32_t mpsmin_bytes, bool *dbbuf)
{
	uint8_t *page = page_alloc_uninit(1, NVME_PAGE);
	if (!page)
		return "out of memory for the identify buffer";
	const char *err = identify(page, NVME_IDENTIFY_CONTROLLER, 0);
	if (err)
		return err;
	uint8_t mdts = page[77];
	uint32_t oacs = (uint32_t)page[256] | (uint32_t)page[257] << 8;
	uint32_t namespaces = le32_at(page + 516);
	uint8_t sqes = page[512], cqes = page[513];
	if ((sqes & 0xF) > 6 || (sqes >> 4) < 6 || (cqes & 0xF) > 4 || (cqes >> 4) < 4)
		return "controller does not take 64-byte SQEs and 16-byte CQEs";
	if (namespaces < 1)
		return "controller reports no namespaces";
	*dbbuf = (oacs & NVME_OACS_DBBUF) != 0;
	nvme.max_transfer = NVME_MAX_TRANSFER_CAP;
	if (mdts && mdts < 20 && ((uint64_t)mpsmin_bytes << mdts) < nvme.max_transfer)
		nvme.max_transfer = (uint64_t)mpsmin_bytes << mdts;

	err = identify(page, NVME_IDENTIFY_NAMESPACE, 1);
	if (err)
		return err;
	uint64_t nsze = le64_at(page);
	uint8_t nlbaf = page[25], flbas = page[26] & 0xFu;
	if (nsze == 0)
		return "namespace 1 is inactive (NSZE 0)";
	if (flbas > nlbaf)
		return "FLBAS names an LBA format beyond NLBAF";
	uint32_t lbaf = le32_at(page + 128 + 4u * flbas);
	unsigned lbads = (lbaf >> 16) & 0xFFu;
	if ((lbaf & 0xFFFFu) != 0)
		return "namespace 1 uses metadata; only plain LBA formats are supported";
	if (lbads < 9 || lbads > 12) {
		guest_snprintf(nvme_error, sizeof(nvme_error), "LBA data size 2^%u is not 512..4096", lbads);
		return nvme_error;
	}
	disk->block_size = 1u << lbads;
	disk->blocks = nsze;
	return NULL;
}

/* Shadow doorbells: both pages zeroed, except the admin queue's current
 * values, so the controller never reads a stale admin tail. */
static const char *shadow_doorbells_enable(void)
{
	uint32_t *pages = page_alloc(2, NVME_PAGE);
	if (!pages)
		return "out of memory for shadow doorbells";
	nvme.shadow = pages;
	nvme.event_idx = pages + NVME_PAGE / 4u;
	struct nvme_queue_pair *a = &nvme.admin;
	nvme.shadow[a->shadow_sq] = (uint16_t)((a->sq_tail + 1u) % a->depth); /* the config command itself */
	nvme.shadow[a->shadow_cq] = a->cq_head;
	struct nvme_sqe cmd = { .cdw0 = NVME_ADMIN_DBBUF_CONFIG, .prp1 = (uintptr_t)nvme.shadow,
				.prp2 = (uintptr_t)nvme.event_idx };
	const char *err = admin_command(&cmd, NULL);
	if (err) {
		nvme.shadow = NULL;
		nvme.event_idx = NULL;
	}
	return err;
}

static const char *create_io_queues(uint16_t depth)
{
	size_t sq_pages = ((size_t)depth * NVME_SQE_BYTES + NVME_PAGE - 1) / NVME_PAGE;
	size_t cq_pages = ((size_t)depth * NVME_CQE_BYTES + NVME_PAGE - 1) / NVME_PAGE;
	void *sq = page_alloc_uninit(sq_pages, NVME_PAGE);
	void *cq = page_alloc(cq_pages, NVME_PAGE); /* phase bits start at 0 */
	if (!sq || !cq)
		return "out of memory for the I/O queues";
	queue_pair_init(&nvme.io, NVME_IO_QID, depth, sq, cq);

	uint32_t qsize = (uint32_t)(depth - 1u) << 16;
	uint32_t cq_flags = 1u; /* physically contiguous */
	if (nvme.irq)
		cq_flags |= 2u | (uint32_t)nvme.msix_index << 16;
	struct nvme_sqe create_cq = { .cdw0 = NVME_ADMIN_CREATE_CQ, .prp1 = (uintptr_t)cq,
				      .cdw10 = qsize | NVME_IO_QID, .cdw11 = cq_flags };
	const char *err = admin_command(&create_cq, NULL);
	if (err)
		return err;
	struct nvme_sqe create_sq = { .cdw0 = NVME_ADMIN_CREATE_SQ, .prp1 = (uintptr_t)sq,
				      .cdw10 = qsize | NVME_IO_QID, .cdw11 = 1u | NVME_IO_QID << 16 };
	return admin_command(&create_sq, NULL);
}

/* --- I/O path --- */

static int nvme_submit(struct guest_disk *disk, uint16_t tag, bool write, uint64_t lba, uint32_t nblocks,
		       uint64_t buf_phys)
{
	struct nvme_queue_pair *q = &nvme.io;
	uint64_t bytes = (uint64_t)nblocks * disk->block_size;
	if (tag >= disk->max_queue_depth || nblocks == 0 || bytes > nvme.max_transfer ||
	    lba >= disk->blocks || nblocks > disk->blocks - lba || (buf_phys & 3u) ||
	    buf_phys > (1ull << 32) - bytes)
		return -1;
	uint16_t next = (uint16_t)((q->sq_tail + 1u) % q->depth);
	if (next == q->sq_head)
		return -1;

	uint64_t prp2 = 0;
	uint64_t first = NVME_PAGE - (buf_phys & (NVME_PAGE - 1u));
	if (bytes > first) {
		uint64_t rest_start = buf_phys + first;
		uint64_t rest = bytes - first;
		if (rest <= NVME_PAGE) {
			prp2 = rest_start;
		} else {
			uint64_t *list = nvme.prp_lists + (size_t)tag * NVME_PRP_LIST_ENTRIES;
			unsigned pages = (unsigned)((rest + NVME_PAGE - 1u) / NVME_PAGE);
			for (unsigned i = 0; i < pages; i++)
				list[i] = rest_start + (uint64_t)i * NVME_PAGE;
			prp2 = (uintptr_t)list;
		}
	}
	struct nvme_sqe *e = &q->sq[q->sq_tail];
	e->cdw0 = (write ? NVME_CMD_WRITE : NVME_CMD_READ) | (uint32_t)tag << 16;
	e->nsid = 1;
	e->reserved = 0;
	e->mptr = 0;
	e->prp1 = buf_phys;
	e->prp2 = prp2;
	e->cdw10 = (uint32_t)lba;
	e->cdw11 = (uint32_t)(lba >> 32);
	e->cdw12 = nblocks - 1u;
	e->cdw13 = 0;
	e->cdw14 = 0;
	e->cdw15 = 0;
	q->sq_tail = next;
	return 0;
}

static void nvme_kick(struct guest_disk *disk)
{
	struct nvme_queue_pair *q = &nvme.io;
	if (q->sq_tail == q->sq_tail_told)
		return;
	/* SQE stores before the doorbell: x86 keeps stores in order; this stops
	 * the compiler from sinking them. */
	__asm__ volatile("" : : : "memory");
	if (doorbell_write(q->sq_doorbell, q->shadow_sq, q->sq_tail, q->sq_tail_told, q->depth, false))
		disk->notifications++;
	q->sq_tail_told = q->sq_tail;
}

static unsigned nvme_reap(struct guest_disk *disk, struct guest_disk_completion *out, unsigned max)
{
	struct nvme_queue_pair *q = &nvme.io;
	uint16_t old_head = q->cq_head;
	unsigned n = 0;
	while (n < max) {
		volatile struct nvme_cqe *e = &q->cq[q->cq_head];
		uint32_t dw3 = e->cid_phase_status;
		if (((dw3 >> 16) & 1u) != q->phase)
			break;
		uint16_t sq_head = (uint16_t)e->sq_head_and_id;
		if (sq_head < q->depth)
			q->sq_head = sq_head;
		out[n].tag = (uint16_t)dw3;
		/* Status without the phase bit; a nonzero one is an error. */
		out[n].status = (uint16_t)(dw3 >> 17);
		n++;
		q->cq_head = (uint16_t)(q->cq_head + 1u);
		if (q->cq_head == q->depth) {
			q->cq_head = 0;
			q->phase ^= 1u;
		}
	}
	if (n && doorbell_write(q->cq_doorbell, q->shadow_cq, q->cq_head, old_head, q->depth, false))
		disk->notifications++;
	return n;
}

static void nvme_wait(struct guest_disk *disk)
{
	/* Interrupts stay off outside the hlt, so one that arrived since the
	 * last reap is still pending and ends this wait at once. */
	uint32_t seen = msix_vector_counts[nvme.msix_index];
	usermode_wait_msix(nvme.msix_index, seen, NVME_IO_WAIT_SLICES);
	uint32_t now = msix_vector_counts[nvme.msix_index];
	disk->interrupts += now - nvme.msix_seen;
	nvme.msix_seen = now;
}

/* --- probe --- */

static const struct pci_function *find_controller(const struct pci_scan *scan)
{
	unsigned kept = scan->count < PCI_SCAN_MAX ? scan->count : PCI_SCAN_MAX;
	for (unsigned i = 0; i < kept; i++)
		if (scan->functions[i].class_code == NVME_CLASS_CODE)
			return &scan->functions[i];
	return NULL;
}

static const char *nvme_probe(const struct pci_scan *scan, const struct guest_io_options *opts,
			      struct guest_disk *disk)
{
	const struct pci_function *fn = find_controller(scan);
	if (!fn)
		return "no NVMe controller (class 010802) on bus 0";
	memset(&nvme, 0, sizeof(nvme));
	nvme.regs = pci_bar_memory_address(fn, 0);
	if (nvme.regs == 0 || nvme.regs > (1ull << 32) - 0x2000u)
		return "BAR0 is unassigned or above 4 GiB";
	nvme.irq = opts->mode == GUEST_IO_IRQ;

	if (nvme.irq) {
		/* Entry 0 takes admin completions (unused: admin is polled), the
		 * last entry programmed takes the I/O queue's. */
		uint8_t cap = pci_find_capability(fn, PCI_CAP_ID_MSIX);
		if (cap == 0)
			return "irq mode needs MSI-X and the controller has none (try iovirt.io.mode=poll)";
		unsigned table_size = (pci_config_read16(fn, (uint8_t)(cap + 2)) & 0x7FFu) + 1u;
		unsigned vectors = table_size >= 2 ? 2 : 1;
		struct msix_table table;
		const char *err = msix_enable(fn, VECTOR_MSIX_BASE, vectors, lapic_id(), &table);
		if (err) {
			guest_snprintf(nvme_error, sizeof(nvme_error), "irq mode needs MSI-X: %s", err);
			return nvme_error;
		}
		nvme.msix_index = vectors - 1u;
		nvme.msix_seen = msix_vector_counts[nvme.msix_index];
	} else {
		pci_enable_memory_and_bus_master(fn);
	}

	uint32_t cap_lo = reg_read(NVME_REG_CAP), cap_hi = reg_read(NVME_REG_CAP + 4);
	if (cap_lo == 0xFFFFFFFFu && cap_hi == 0xFFFFFFFFu)
		return "CAP reads all ones: controller not responding";
	unsigned mqes = (cap_lo & 0xFFFFu) + 1u;
	uint32_t timeout = (cap_lo >> 24) & 0xFFu;
	nvme.doorbell_stride = 4u << (cap_hi & 0xFu);
	unsigned mpsmin = (cap_hi >> 16) & 0xFu;
	if (!(cap_hi & (1u << 5)))
		return "controller lacks the NVM command set (CAP.CSS bit 0)";
	if (mpsmin != 0)
		return "controller's smallest page size (CAP.MPSMIN) is above 4 KiB";
	if (mqes < 2)
		return "CAP.MQES allows no usable queue";

	/* Disable first: firmware (or a previous run) may have left it enabled. */
	if (reg_read(NVME_REG_CC) & NVME_CC_EN)
		reg_write(NVME_REG_CC, 0);
	const char *err = wait_ready(0, timeout);
	if (err)
		return err;

	void *asq = page_alloc_uninit(1, NVME_PAGE);
	void *acq = page_alloc(1, NVME_PAGE);
	nvme.prp_lists = page_alloc_uninit(opts->queue_depth, NVME_PAGE);
	if (!asq || !acq || !nvme.prp_lists)
		return "out of memory for the admin queues";
	uint16_t admin_depth = mqes < NVME_ADMIN_DEPTH ? (uint16_t)mqes : NVME_ADMIN_DEPTH;
	queue_pair_init(&nvme.admin, 0, admin_depth, asq, acq);
	reg_write(NVME_REG_AQA, (uint32_t)(admin_depth - 1u) << 16 | (uint32_t)(admin_depth - 1u));
	reg_write64(NVME_REG_ASQ, (uintptr_t)asq);
	reg_write64(NVME_REG_ACQ, (uintptr_t)acq);
	reg_write(NVME_REG_CC, NVME_CC_EN | NVME_CC_IOSQES_64 | NVME_CC_IOCQES_16);
	err = wait_ready(NVME_CSTS_RDY, timeout);
	if (err)
		return err;

	bool dbbuf = false;
	err = identify_all(disk, 4096u, &dbbuf);
	if (err)
		return err;

	uint32_t granted = 0;
	struct nvme_sqe queues = { .cdw0 = NVME_ADMIN_SET_FEATURES, .cdw10 = NVME_FEATURE_NUM_QUEUES,
				   .cdw11 = 0 };
	err = admin_command(&queues, &granted);
	if (err)
		return err;

	struct cmdline_value shadow;
	bool want_shadow = opts->cmdline && cmdline_lookup(opts->cmdline, "iovirt.nvme.shadow", &shadow) &&
			   str_equal_n(shadow.text, shadow.len, "on");
	if (want_shadow && !dbbuf)
		guest_printf("nvme: iovirt.nvme.shadow=on but the controller lacks Doorbell Buffer Config; "
			     "using MMIO doorbells\n");
	if (want_shadow && dbbuf) {
		err = shadow_doorbells_enable();
		if (err)
			return err;
	}

	unsigned depth = opts->queue_depth + 1u;
	if (depth > mqes)
		depth = mqes;
	err = create_io_queues((uint16_t)depth);
	if (err)
		return err;

	disk->name = "nvme";
	disk->kind = GUEST_DEVICE_NVME;
	disk->max_queue_depth = depth - 1u;
	disk->submit = nvme_submit;
	disk->kick = nvme_kick;
	disk->reap = nvme_reap;
	disk->wait = nvme_wait;
	disk->priv = &nvme;
	nvme.disk = disk;
	guest_printf("nvme: %lu blocks of %u bytes, queue depth %u, max transfer %lu, %s%s\n", disk->blocks,
		     disk->block_size, disk->max_queue_depth, nvme.max_transfer, nvme.irq ? "msi-x" : "polled",
		     nvme.shadow ? ", shadow doorbells" : "");
	return NULL;
}

const struct guest_disk_driver nvme_disk_driver = {
	.name = "nvme",
	.kind = GUEST_DEVICE_NVME,
	.probe = nvme_probe,
};
