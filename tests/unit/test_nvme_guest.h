/* The guest side of the emulated NVMe unit tests: a small driver that lays
 * out queues in test-VM RAM, rings doorbells through the MMIO bus (or the
 * shadow doorbells with EventIdx) and waits for completions by polling the
 * I/O thread inline. Shared by the test_nvme*.c suites. */
#ifndef IOVIRT_TESTS_UNIT_TEST_NVME_GUEST_H
#define IOVIRT_TESTS_UNIT_TEST_NVME_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "core/vm.h"
#include "emulated/nvme.h"

/* Guest-physical layout of the test driver. */
#define TN_RAM        (16ull << 20)
#define TN_ASQ        0x100000ull
#define TN_ACQ        0x101000ull
#define TN_IOSQ       0x102000ull
#define TN_IOCQ       0x103000ull
#define TN_SHADOW     0x104000ull
#define TN_EVENTIDX   0x105000ull
#define TN_SCRATCH    0x106000ull   /* Identify / log pages */
#define TN_PRP_LISTS  0x180000ull
#define TN_DATA       0x200000ull   /* data buffers from here */
#define TN_ADMIN_SIZE 16u
#define TN_IO_SIZE    64u
#define TN_DISK_BYTES (1u << 20)

struct tn_queue {
	uint16_t qid;
	uint32_t size;
	uint64_t sq, cq;
	uint16_t sq_tail, cq_head;
	uint16_t sq_tail_told, cq_head_told;   /* last values the device was given */
	bool phase;
};

struct tn {
	struct vm *vm;
	struct nvme_ctrl *ctrl;
	unsigned slot;
	uint64_t bar0, msix_bar;
	char path[64];
	int fd;
	bool shadow;          /* the driver uses shadow doorbells for I/O queues */
	uint16_t next_cid;
	struct tn_queue admin, io;
};

struct tn_cqe {
	uint32_t dw0;
	uint16_t sq_head, sq_id, cid;
	uint16_t status;      /* status field without phase: SC | SCT << 8 (DNR masked off) */
};

/* VM, temp-file disk with `extra` options appended ("" or ",shadow=off"),
 * memory decoding + bus mastering on, MSI-X enabled with every vector
 * unmasked. */
void tn_setup(struct tn *t, const char *extra);
void tn_teardown(struct tn *t);

/* CC.EN=1 with the admin queue, waits for CSTS.RDY. */
void tn_enable(struct tn *t);
/* The usual starting point: tn_setup with no options, enabled, and the I/O
 * queue pair created (asserted). */
void tn_setup_ready(struct tn *t);
/* After the controller was disabled or reset: the admin and I/O rings zeroed,
 * the driver's queue state fresh, enabled again and the I/O queue pair
 * created again (asserted). */
void tn_reenable(struct tn *t);
uint32_t tn_reg32(struct tn *t, uint64_t off);
void tn_wreg32(struct tn *t, uint64_t off, uint32_t v);

/* Fills in cid, writes the SQE to q and rings (or shadows) the tail. */
uint16_t tn_submit(struct tn *t, struct tn_queue *q, struct nvme_sqe *sqe);
/* Puts the SQE in the ring without telling the device. */
uint16_t tn_queue_sqe(struct tn *t, struct tn_queue *q, struct nvme_sqe *sqe);
void tn_ring_sq(struct tn *t, struct tn_queue *q);
/* Waits for the next n CQEs of q, copies them out, then tells the device
 * the new head once. */
void tn_wait(struct tn *t, struct tn_queue *q, unsigned n, struct tn_cqe *out);
/* Submits one command and waits for its completion. */
struct tn_cqe tn_cmd(struct tn *t, struct tn_queue *q, struct nvme_sqe *sqe);

/* Admin helpers; return the status. */
uint16_t tn_create_io_queues(struct tn *t);
uint16_t tn_doorbell_buffer_config(struct tn *t);
/* Read/Write of nlb blocks with explicit PRPs. */
struct tn_cqe tn_rw(struct tn *t, bool write, uint64_t slba, uint32_t nlb, uint64_t prp1,
		    uint64_t prp2);

/* Guest memory. */
void *tn_ram(struct tn *t, uint64_t gpa, uint64_t len);
void tn_fill(struct tn *t, uint64_t gpa, uint64_t len, uint32_t seed);
/* Events counted on an MSI-X vector's eventfd since the last read. */
uint64_t tn_msix_count(struct tn *t, unsigned vector);

#endif
