/* iovirt.test=dma-escape: a hostile guest. It asks its disk to DMA to or
 * from guest-physical memory just past the end of its RAM, once with a Read
 * (device to memory) and once with a Write (memory to device), and requires
 * that the device refuses both with an error status: the emulated and split
 * models through iommu/, a passed-through device through the host IOMMU
 * (which logs a DMAR fault; lab/init.sh checks that). Reaching RAM outside
 * the guest is the failure.
 *
 * iovirt.escape.via picks what lies past RAM:
 *   data      (default) the data buffer itself;
 *   prp-list  (NVMe only) the PRP list of a 3-page transfer whose data page
 *             is in RAM: the first DMA the controller makes is the fetch of
 *             that list. QEMU's NVMe (the VFIO lab's device) reports a
 *             refused fetch as Data Transfer Error but completes a refused
 *             data transfer with success (its DMA helpers bounce the data
 *             through a buffer and drop the IOMMU's error), so the lab uses
 *             this form. The controller is reset and driven here directly,
 *             on polled queues, because the driver builds its lists in RAM.
 * Both forms use the disk's last blocks, far from the spans other tests
 * check. */
#include <stdbool.h>
#include <stdint.h>

#include "guest/cmdline.h"
#include "guest/interrupts.h"
#include "guest/io.h"
#include "guest/page_alloc.h"
#include "guest/pci.h"
#include "guest/print.h"
#include "guest/results.h"
#include "guest/string.h"
#include "guest/tests.h"
#include "guest/workload_runner.h"

#define ESCAPE_WAITS 2000u
#define ESCAPE_DATA_BYTES 4096u
/* PRP1's page, then two pages that need a PRP list. */
#define ESCAPE_LIST_BYTES (3u * 4096u)

/* NVMe Data Transfer Error: status code type 0 (generic), code 0x04, in the
 * 15-bit status field (SC bits 7:0, SCT bits 10:8). */
#define NVME_STATUS_CODE_MASK 0x7FFu
#define NVME_STATUS_DATA_TRANSFER_ERROR 0x004u

/* One I/O on tag 0 from/to phys; returns its completion status, or -1 if it
 * never completed, -2 if the driver refused to queue it. */
static int escape_io(struct guest_disk *disk, enum guest_io_mode mode, bool write, uint64_t lba,
		     uint64_t phys)
{
	if (disk->submit(disk, 0, write, lba, ESCAPE_DATA_BYTES / disk->block_size, phys) < 0)
		return -2;
	disk->kick(disk);
	struct guest_disk_completion done;
	for (unsigned i = 0; i < ESCAPE_WAITS; i++) {
		if (disk->reap(disk, &done, 1) == 1)
			return done.status;
		if (mode == GUEST_IO_IRQ)
			disk->wait(disk);
	}
	return -1;
}

/* --- iovirt.escape.via=prp-list: the controller on polled queues --- */

#define ESC_REG_CAP  0x00
#define ESC_REG_CC   0x14
#define ESC_REG_CSTS 0x1C
#define ESC_REG_AQA  0x24
#define ESC_REG_ASQ  0x28
#define ESC_REG_ACQ  0x30
#define ESC_REG_DOORBELLS 0x1000
#define ESC_CC_ENABLE (1u | 6u << 16 | 4u << 20)   /* EN, 64-byte SQEs, 16-byte CQEs */
#define ESC_CSTS_RDY 1u
#define ESC_CSTS_CFS 2u
#define ESC_QUEUE_DEPTH 4u
#define ESC_IO_QID 1u
#define ESC_SLEEP_SLOT (VECTOR_MSIX_COUNT - 1u)   /* no device uses it: a plain 1 ms sleep */

struct esc_sqe {
	uint32_t cdw0, nsid;
	uint64_t reserved, mptr, prp1, prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};
_Static_assert(sizeof(struct esc_sqe) == 64, "SQE layout");

struct esc_cqe {
	uint32_t result, reserved, sq_head_and_id;
	uint32_t cid_phase_status;   /* cid 15:0, phase 16, status 31:17 */
};
_Static_assert(sizeof(struct esc_cqe) == 16, "CQE layout");

struct esc_queue {
	struct esc_sqe *sq;
	volatile struct esc_cqe *cq;
	uint16_t sq_tail, cq_head, phase, next_cid;
	uint64_t sq_doorbell, cq_doorbell;
};

struct esc_controller {
	uint64_t regs;
	uint32_t stride;
	struct esc_queue admin, io;
};

static void esc_sleep(void)
{
	interrupts_wait_msix(ESC_SLEEP_SLOT, msix_vector_counts[ESC_SLEEP_SLOT], 1);
}

static const char *esc_wait_ready(const struct esc_controller *c, uint32_t want, unsigned slices)
{
	for (unsigned i = 0; i < slices; i++) {
		uint32_t csts = mmio_read32(c->regs + ESC_REG_CSTS);
		if (csts == 0xFFFFFFFFu)
			return "CSTS reads all ones";
		if (want && (csts & ESC_CSTS_CFS))
			return "CSTS.CFS set";
		if ((csts & ESC_CSTS_RDY) == want)
			return NULL;
		esc_sleep();
	}
	return want ? "CSTS.RDY stayed 0" : "CSTS.RDY stayed 1";
}

static void esc_queue_init(const struct esc_controller *c, struct esc_queue *q, unsigned qid, void *sq,
			   void *cq)
{
	q->sq = sq;
	q->cq = cq;
	q->sq_tail = q->cq_head = q->next_cid = 0;
	q->phase = 1;
	q->sq_doorbell = c->regs + ESC_REG_DOORBELLS + (2u * qid) * c->stride;
	q->cq_doorbell = c->regs + ESC_REG_DOORBELLS + (2u * qid + 1u) * c->stride;
}

/* Submits one command and polls for its completion: the 15-bit status, or -1
 * if none came within `slices` ms. */
static int esc_command(struct esc_queue *q, struct esc_sqe cmd, unsigned slices)
{
	uint16_t cid = q->next_cid++;
	cmd.cdw0 = (cmd.cdw0 & 0xFFu) | (uint32_t)cid << 16;
	q->sq[q->sq_tail] = cmd;
	q->sq_tail = (uint16_t)((q->sq_tail + 1u) % ESC_QUEUE_DEPTH);
	__asm__ volatile("" : : : "memory");   /* the SQE before the doorbell */
	mmio_write32(q->sq_doorbell, q->sq_tail);
	for (unsigned i = 0; i < slices; i++) {
		uint32_t dw3 = q->cq[q->cq_head].cid_phase_status;
		if (((dw3 >> 16) & 1u) == q->phase) {
			q->cq_head = (uint16_t)((q->cq_head + 1u) % ESC_QUEUE_DEPTH);
			if (q->cq_head == 0)
				q->phase ^= 1u;
			mmio_write32(q->cq_doorbell, q->cq_head);
			if ((dw3 & 0xFFFFu) != cid)
				return -1;
			return (int)(dw3 >> 17);
		}
		esc_sleep();
	}
	return -1;
}

/* Resets the controller the driver brought up and starts it again with a
 * polled admin queue and one polled I/O queue pair. NULL, or why not. */
static const char *esc_controller_start(struct esc_controller *c, const struct pci_scan *scan)
{
	const struct pci_function *fn = NULL;
	for (unsigned i = 0; i < scan->count && i < PCI_SCAN_MAX; i++)
		if (scan->functions[i].class_code == 0x010802u)
			fn = &scan->functions[i];
	if (!fn)
		return "no NVMe controller on bus 0";
	c->regs = pci_bar_memory_address(fn, 0);
	if (!c->regs)
		return "NVMe BAR0 is not a memory BAR";
	uint32_t cap_lo = mmio_read32(c->regs + ESC_REG_CAP);
	uint32_t cap_hi = mmio_read32(c->regs + ESC_REG_CAP + 4);
	c->stride = 4u << (cap_hi & 0xFu);
	unsigned ready_slices = ((cap_lo >> 24) & 0xFFu) * 500u + 100u;
	void *asq = page_alloc(1, 4096), *acq = page_alloc(1, 4096);
	void *iosq = page_alloc(1, 4096), *iocq = page_alloc(1, 4096);
	if (!asq || !acq || !iosq || !iocq)
		return "out of guest memory for queues";

	mmio_write32(c->regs + ESC_REG_CC, 0);
	const char *err = esc_wait_ready(c, 0, ready_slices);
	if (err)
		return err;
	mmio_write32(c->regs + ESC_REG_AQA, (ESC_QUEUE_DEPTH - 1u) << 16 | (ESC_QUEUE_DEPTH - 1u));
	mmio_write32(c->regs + ESC_REG_ASQ, (uint32_t)(uintptr_t)asq);
	mmio_write32(c->regs + ESC_REG_ASQ + 4, 0);
	mmio_write32(c->regs + ESC_REG_ACQ, (uint32_t)(uintptr_t)acq);
	mmio_write32(c->regs + ESC_REG_ACQ + 4, 0);
	mmio_write32(c->regs + ESC_REG_CC, ESC_CC_ENABLE);
	if ((err = esc_wait_ready(c, 1, ready_slices)))
		return err;
	esc_queue_init(c, &c->admin, 0, asq, acq);

	uint32_t qsize = (ESC_QUEUE_DEPTH - 1u) << 16 | ESC_IO_QID;
	struct esc_sqe create_cq = { .cdw0 = 0x05, .prp1 = (uintptr_t)iocq, .cdw10 = qsize,
				     .cdw11 = 1u /* contiguous, no interrupts */ };
	if (esc_command(&c->admin, create_cq, 5000) != 0)
		return "Create I/O Completion Queue failed";
	struct esc_sqe create_sq = { .cdw0 = 0x01, .prp1 = (uintptr_t)iosq, .cdw10 = qsize,
				     .cdw11 = ESC_IO_QID << 16 | 1u };
	if (esc_command(&c->admin, create_sq, 5000) != 0)
		return "Create I/O Submission Queue failed";
	esc_queue_init(c, &c->io, ESC_IO_QID, iosq, iocq);
	return NULL;
}

/* A Read or Write of ESCAPE_LIST_BYTES whose first page is `page` (in RAM)
 * and whose PRP list pointer is `list`. */
static int esc_list_io(struct esc_controller *c, bool write, uint64_t lba, uint32_t nblocks, void *page,
		       uint64_t list)
{
	struct esc_sqe io = { .cdw0 = write ? 0x01u : 0x02u, .nsid = 1, .prp1 = (uintptr_t)page,
			      .prp2 = list, .cdw10 = (uint32_t)lba, .cdw11 = (uint32_t)(lba >> 32),
			      .cdw12 = nblocks - 1u };
	return esc_command(&c->io, io, ESCAPE_WAITS);
}

enum escape_via { VIA_DATA, VIA_PRP_LIST };

static void report(const char *via, uint64_t outside, uint64_t lba, int read_status, int write_status)
{
	guest_printf("RESULT escape_via=%s\n", via);
	guest_printf("RESULT escape_addr=0x%lx\n", outside);
	guest_printf("RESULT escape_lba=%lu\n", lba);
	guest_printf("RESULT escape_read_status=%d\n", read_status);
	guest_printf("RESULT escape_write_status=%d\n", write_status);
}

enum guest_status test_dma_escape_run(const struct guest_test_env *env)
{
	static struct guest_disk disk;
	struct pci_scan scan;
	pci_scan_bus0(&scan);
	guest_results.pci_functions = scan.count;
	struct cmdline_value v;
	enum escape_via via = VIA_DATA;
	if (cmdline_lookup(env->cmdline, "iovirt.escape.via", &v)) {
		if (str_equal_n(v.text, v.len, "prp-list")) {
			via = VIA_PRP_LIST;
		} else if (!str_equal_n(v.text, v.len, "data")) {
			results_set_message("dma-escape: iovirt.escape.via=%.*s; use data or prp-list",
					    (int)v.len, v.text);
			return GUEST_STATUS_BAD_PARAMS;
		}
	}
	struct guest_io_options opts;
	const char *err = workload_io_options_parse(env->cmdline, "iovirt.disk.qd", &opts);
	if (err) {
		results_set_message("dma-escape: %s", err);
		return GUEST_STATUS_BAD_PARAMS;
	}
	err = workload_disk_open(env->cmdline, &scan, &opts, &disk);
	if (err) {
		results_set_message("dma-escape: %s", err);
		return GUEST_STATUS_FAIL;
	}
	uint64_t outside = (page_alloc_ram_top() + 4095u) & ~4095ull;
	uint64_t bytes = via == VIA_DATA ? ESCAPE_DATA_BYTES : ESCAPE_LIST_BYTES;
	if (disk.block_size == 0 || bytes % disk.block_size || disk.blocks < bytes / disk.block_size) {
		results_set_message("dma-escape: %s has %lu blocks of %u bytes: too small", disk.name,
				    disk.blocks, disk.block_size);
		return GUEST_STATUS_FAIL;
	}
	uint32_t nblocks = (uint32_t)(bytes / disk.block_size);
	uint64_t lba = disk.blocks - nblocks;   /* the disk's last blocks */
	int read_status, write_status;
	if (via == VIA_DATA) {
		guest_printf("dma-escape: %s, data buffer at 0x%lx, just past guest RAM; LBA %lu\n",
			     disk.name, outside, lba);
		read_status = escape_io(&disk, opts.mode, false, lba, outside);
		write_status = escape_io(&disk, opts.mode, true, lba, outside);
	} else {
		if (disk.kind != GUEST_DEVICE_NVME) {
			results_set_message("dma-escape: iovirt.escape.via=prp-list needs an NVMe disk, not %s",
					    disk.name);
			return GUEST_STATUS_BAD_PARAMS;
		}
		static struct esc_controller ctrl;
		void *page = page_alloc(1, 4096);
		if (!page) {
			results_set_message("dma-escape: out of guest memory");
			return GUEST_STATUS_FAIL;
		}
		if ((err = esc_controller_start(&ctrl, &scan))) {
			results_set_message("dma-escape: restarting the NVMe on polled queues: %s", err);
			return GUEST_STATUS_FAIL;
		}
		guest_printf("dma-escape: %s, PRP list at 0x%lx, just past guest RAM; LBA %lu\n", disk.name,
			     outside, lba);
		read_status = esc_list_io(&ctrl, false, lba, nblocks, page, outside);
		write_status = esc_list_io(&ctrl, true, lba, nblocks, page, outside);
	}
	report(via == VIA_DATA ? "data" : "prp-list", outside, lba, read_status, write_status);
	if (read_status == 0 || write_status == 0) {
		results_set_message("dma-escape: %s completed DMA outside guest RAM (read %d, write %d)",
				    disk.name, read_status, write_status);
		return GUEST_STATUS_FAIL;
	}
	if (read_status < 0 || write_status < 0) {
		results_set_message("dma-escape: %s never completed the refused DMA (read %d, write %d)",
				    disk.name, read_status, write_status);
		return GUEST_STATUS_FAIL;
	}
	/* A refused list fetch is a data transfer error, nothing else: another
	 * status would mean the command failed for some other reason. */
	if (via == VIA_PRP_LIST &&
	    ((read_status & NVME_STATUS_CODE_MASK) != NVME_STATUS_DATA_TRANSFER_ERROR ||
	     (write_status & NVME_STATUS_CODE_MASK) != NVME_STATUS_DATA_TRANSFER_ERROR)) {
		results_set_message("dma-escape: %s failed the I/Os but not with Data Transfer Error "
				    "(read 0x%x, write 0x%x)", disk.name, (unsigned)read_status,
				    (unsigned)write_status);
		return GUEST_STATUS_FAIL;
	}
	results_set_message("dma-escape: %s refused DMA outside guest RAM via %s (status 0x%x, 0x%x)",
			    disk.name, via == VIA_DATA ? "data" : "prp-list", (unsigned)read_status,
			    (unsigned)write_status);
	return GUEST_STATUS_PASS;
}
