/* The emulated NVMe 1.4 controller (`--disk model=emulated`): one namespace
 * on core/disk_backend, every register and doorbell access trapped.
 *
 * Threads and ownership:
 *  - vCPU threads run the BAR0 callbacks (nvme_regs.c). They touch only the
 *    register file (under ctrl->lock) and the doorbell mailboxes (atomics),
 *    then wake the I/O thread through ctrl->kick_fd. They never wait for I/O.
 *  - The VM's I/O thread owns everything else: queues, the request pool, the
 *    block engine, completions, interrupts (nvme_queues.c, nvme_admin.c,
 *    nvme_io.c). So queue state needs no lock.
 *  - A controller reset (CC.EN 1->0) bumps ctrl->generation and frees the
 *    queues at once; requests still in the block engine carry the old
 *    generation and are only released when they finish, never posted.
 *    CSTS.RDY drops to 0 only when none is left, so no DMA of the old
 *    controller can land after the guest sees the reset done. */
#ifndef IOVIRT_EMULATED_NVME_H
#define IOVIRT_EMULATED_NVME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/block_engine.h"
#include "core/counters.h"
#include "core/disk_backend.h"
#include "core/pci.h"
#include "emulated/nvme_defs.h"

struct vm;
struct dma_space;

#define NVME_MAX_IO_QUEUES    64       /* queues=N upper bound */
#define NVME_DEFAULT_IO_QUEUES 4
#define NVME_MAX_QUEUES       (NVME_MAX_IO_QUEUES + 1)   /* + admin */
#define NVME_MQES             1023     /* CAP.MQES: 1024 entries per queue */
#define NVME_MDTS_LOG2        7        /* 2^7 pages = 512 KiB per command */
#define NVME_MAX_TRANSFER     (NVME_PAGE_SIZE << NVME_MDTS_LOG2)
#define NVME_MAX_PRPS         ((NVME_MAX_TRANSFER / NVME_PAGE_SIZE) + 1)
#define NVME_MAX_IOV          NVME_MAX_PRPS
#define NVME_POOL_SIZE        512      /* commands the controller holds at once */
#define NVME_AERL             3        /* 0-based: 4 outstanding AERs */
#define NVME_ACL              3        /* 0-based abort command limit */
#define NVME_ERROR_LOG_ENTRIES 4
#define NVME_BAR0_SIZE        0x2000
#define NVME_MSIX_BAR         4
#define NVME_MSIX_BAR_SIZE    0x1000
#define NVME_MSIX_TABLE       0x000
#define NVME_MSIX_PBA         0x800
#define NVME_LBA_SIZE         512u
#define NVME_NSID             1u

struct nvme_ctrl;

struct nvme_sq {
	uint16_t qid, cqid;
	uint32_t size;
	uint64_t base;
	const uint8_t *ring;     /* host view of the guest ring (checked at create) */
	uint32_t head;           /* next entry the controller fetches */
	uint32_t tail;           /* last valid tail the guest gave */
	unsigned inflight;       /* fetched, not yet completed */
	bool deleting;
	struct nvme_request *delete_req;   /* Delete I/O SQ waiting for inflight 0 */
};

struct nvme_cq {
	uint16_t qid;
	uint32_t size;
	uint64_t base;
	uint8_t *ring;
	uint32_t tail;           /* next slot the controller writes */
	uint32_t head;           /* last valid head the guest gave */
	bool phase;
	bool irq_enabled;
	uint16_t vector;
	unsigned reserved;       /* slots promised to fetched commands */
	unsigned nsqs;           /* SQs that complete here */
};

/* One command from fetch to completion. Pool-owned, never freed while the
 * controller lives, so a late block-engine callback always finds it. */
struct nvme_request {
	struct block_request blk;
	struct nvme_ctrl *ctrl;
	uint32_t generation;
	uint16_t sqid, cqid, cid;
	uint8_t opcode;
	bool holds_cq_slot;      /* counted in cq->reserved */
	bool flush_after;        /* write with FUA or with the write cache off */
	uint32_t nsid;
	uint64_t slba;
	uint64_t bytes;
	/* DSM: the ranges still to deallocate. */
	struct nvme_dsm_range *dsm;
	unsigned dsm_count, dsm_next;
	unsigned iovcnt;
	struct iovec iov[NVME_MAX_IOV];
	struct nvme_request *next_free;
};

struct nvme_dsm_range {
	uint32_t attributes;
	uint32_t nlb;
	uint64_t slba;
};

enum nvme_ctrl_state {
	NVME_STATE_DISABLED,
	NVME_STATE_ENABLED,
	NVME_STATE_RESETTING,    /* queues gone, old requests still in the engine */
};

struct nvme_aer_event {
	uint8_t type, info, log_page;
};

struct nvme_error_entry {
	uint64_t count;
	uint16_t sqid, cid, status, param_loc;
	uint64_t lba;
	uint32_t nsid;
};

struct nvme_ctrl {
	struct pci_device pci;
	struct device_counters counters;
	struct vm *vm;
	struct dma_space *dma;
	struct disk_backend disk;
	uint64_t nsze;           /* namespace size in LBAs */
	unsigned max_io_queues;  /* queues=N */
	unsigned nvectors;
	bool shadow_allowed;     /* shadow=on: Doorbell Buffer Config is offered */
	char serial[21];

	/* --- register file: vCPU side, under lock --- */
	pthread_mutex_t lock;
	uint32_t cc, aqa, intms;
	uint64_t asq, acq;
	atomic_uint csts;
	bool pending_enable, pending_reset, pending_shutdown;
	bool intx_wanted;        /* a CQ has unread entries (for INTx) */

	/* --- doorbell mailboxes: written by vCPUs, drained by the loop --- */
	atomic_uint db_value[2 * NVME_MAX_QUEUES];
	atomic_bool db_dirty[2 * NVME_MAX_QUEUES];
	atomic_bool db_bad_register;           /* a write past every queue */
	atomic_uint_fast64_t db_writes;        /* MMIO doorbell writes (all queues) */
	atomic_uint_fast64_t shadow_reads;     /* shadow doorbell values read */
	int kick_fd;
	int kick_watch;

	/* --- I/O thread side --- */
	enum nvme_ctrl_state state;
	uint32_t generation;
	bool dying;              /* teardown: completions only release */
	bool processing, process_again;
	struct nvme_sq *sqs[NVME_MAX_QUEUES];
	struct nvme_cq *cqs[NVME_MAX_QUEUES];
	struct nvme_request *pool;
	struct nvme_request *free_list;
	unsigned engine_inflight;   /* requests inside the block engine */
	bool shutdown_wanted;    /* CC.SHN seen: flush once the engine is idle */
	bool shutdown_flush_busy;
	struct block_request shutdown_flush;

	/* Features. */
	uint32_t feat_arbitration, feat_irq_coalesce, feat_async_event;
	bool write_cache;
	unsigned granted_io_queues;  /* Number of Queues answer (1-based) */
	bool queues_negotiated;

	/* Shadow doorbells (Doorbell Buffer Config). */
	bool shadow_on;
	uint64_t shadow_gpa, eventidx_gpa;
	uint32_t *shadow;        /* host views of the two guest pages; shadow is
				  * also read by vCPUs (atomically) */
	uint32_t *eventidx;

	/* Asynchronous events. */
	struct nvme_request *aer_reqs[NVME_AERL + 1];
	unsigned naer;
	struct nvme_aer_event aer_queue[8];
	unsigned naer_queued;
	uint8_t aer_masked;      /* event types reported, not yet cleared by a log read */

	/* Logs. */
	struct nvme_error_entry errors[NVME_ERROR_LOG_ENTRIES];
	uint64_t error_count;
	uint64_t host_reads, host_writes, units_read, units_written;
};

/* --- nvme_regs.c: BAR0 on vCPU threads --- */
extern const struct bus_region_ops nvme_bar0_ops;
/* The INTx level from intx_wanted and INTMS; caller holds ctrl->lock. */
void nvme_intx_update_locked(struct nvme_ctrl *ctrl);

/* --- nvme_queues.c: on the I/O thread --- */
/* The kick_fd watch: control actions, doorbells, command fetch. */
void nvme_loop_kick(void *opaque, uint64_t count);
/* Runs everything that may have become possible (fetch, AER delivery). */
void nvme_process(struct nvme_ctrl *ctrl);
void nvme_ctrl_reset_queues(struct nvme_ctrl *ctrl);
/* After a block-engine completion: finishes a reset drain or a shutdown,
 * then fetches what waited for a free request or CQ slot. */
void nvme_after_engine_completion(struct nvme_ctrl *ctrl);
struct nvme_cq *nvme_cq_create(struct nvme_ctrl *ctrl, uint16_t qid, uint64_t base, uint32_t size,
			       bool irq_enabled, uint16_t vector);
struct nvme_sq *nvme_sq_create(struct nvme_ctrl *ctrl, uint16_t qid, uint64_t base, uint32_t size,
			       uint16_t cqid);
void nvme_cq_destroy(struct nvme_ctrl *ctrl, uint16_t qid);
void nvme_sq_destroy(struct nvme_ctrl *ctrl, uint16_t qid);
/* Posts the completion of req (status as enum nvme_status, DNR added for
 * errors) and releases req. Stale requests are only released. */
void nvme_request_complete(struct nvme_request *req, uint16_t status, uint32_t dw0);
void nvme_request_release(struct nvme_request *req);
/* Reports an asynchronous event (delivered when an AER is outstanding). */
void nvme_aer_post(struct nvme_ctrl *ctrl, uint8_t type, uint8_t info, uint8_t log_page);
void nvme_aer_deliver(struct nvme_ctrl *ctrl);
void nvme_error_log_add(struct nvme_ctrl *ctrl, uint16_t sqid, uint16_t cid, uint16_t status,
			uint32_t nsid, uint64_t lba);
/* Counts a hostile guest action (rate-limited log through the PCI core). */
#define nvme_fault(ctrl, ...) pci_device_fault(&(ctrl)->pci, __VA_ARGS__)

/* --- nvme_admin.c --- */
void nvme_admin_execute(struct nvme_ctrl *ctrl, struct nvme_request *req, const struct nvme_sqe *sqe);

/* --- nvme_io.c --- */
void nvme_io_execute(struct nvme_ctrl *ctrl, struct nvme_request *req, const struct nvme_sqe *sqe);

/* --- nvme_prp.c --- */
/* Turns the PRP1/PRP2 description of a len-byte transfer (len <=
 * NVME_MAX_TRANSFER) into host iovecs straight into guest memory, checked
 * through dma with perm (DMA_PERM_WRITE when the device writes the guest).
 * Returns NVME_SC_SUCCESS or the status to complete the command with. */
uint16_t nvme_prp_map(struct dma_space *dma, uint64_t prp1, uint64_t prp2, uint64_t len,
		      unsigned perm, struct iovec *iov, unsigned max_iov, unsigned *niov);
/* Copies between a controller buffer and the PRP-described guest memory. */
uint16_t nvme_prp_to_guest(struct dma_space *dma, uint64_t prp1, uint64_t prp2, const void *src,
			   uint64_t len);
uint16_t nvme_prp_from_guest(struct dma_space *dma, uint64_t prp1, uint64_t prp2, void *dst,
			     uint64_t len);

/* --- for tests and stats --- */
uint64_t nvme_ctrl_doorbell_writes(const struct nvme_ctrl *ctrl);
uint64_t nvme_ctrl_shadow_reads(const struct nvme_ctrl *ctrl);
struct pci_device *nvme_ctrl_pci(struct nvme_ctrl *ctrl);

#endif
