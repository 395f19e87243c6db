/* The controller's I/O-thread side: enable/reset/shutdown, doorbells (MMIO
 * mailboxes and shadow doorbells with EventIdx), command fetch, completion
 * posting with the phase tag, interrupts, asynchronous events.
 *
 * Flow control without retry lists: a command is fetched only when a
 * request is free in the pool and its CQ has a slot nobody has been promised
 * (cq->reserved), so posting a completion can never find the CQ full. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/pci_msix.h"
#include "core/vm.h"
#include "emulated/nvme.h"
#include "iommu/dma_space.h"

#define NVME_FETCH_BATCH 16   /* commands per SQ per round: keeps SQs fair */

/* --- request pool --- */

static struct nvme_request *nvme_request_get(struct nvme_ctrl *ctrl)
{
	struct nvme_request *req = ctrl->free_list;
	if (req)
		ctrl->free_list = req->next_free;
	return req;
}

void nvme_request_release(struct nvme_request *req)
{
	struct nvme_ctrl *ctrl = req->ctrl;
	free(req->dsm);
	req->dsm = NULL;
	req->next_free = ctrl->free_list;
	ctrl->free_list = req;
}

/* --- queues --- */

static uint32_t nvme_cq_used(const struct nvme_cq *cq)
{
	return (cq->tail + cq->size - cq->head) % cq->size;
}

static bool nvme_cq_has_room(const struct nvme_cq *cq)
{
	return nvme_cq_used(cq) + cq->reserved < cq->size - 1;
}

struct nvme_cq *nvme_cq_create(struct nvme_ctrl *ctrl, uint16_t qid, uint64_t base, uint32_t size,
			       bool irq_enabled, uint16_t vector)
{
	uint8_t *ring = dma_translate(ctrl->dma, base, (uint64_t)size * NVME_CQE_SIZE, DMA_PERM_WRITE);
	if (!ring)
		return NULL;
	struct nvme_cq *cq = calloc(1, sizeof(*cq));
	if (!cq)
		return NULL;
	*cq = (struct nvme_cq){
		.qid = qid, .size = size, .base = base, .ring = ring, .phase = true,
		.irq_enabled = irq_enabled, .vector = vector,
	};
	ctrl->cqs[qid] = cq;
	return cq;
}

struct nvme_sq *nvme_sq_create(struct nvme_ctrl *ctrl, uint16_t qid, uint64_t base, uint32_t size,
			       uint16_t cqid)
{
	const uint8_t *ring = dma_translate(ctrl->dma, base, (uint64_t)size * NVME_SQE_SIZE,
					    DMA_PERM_READ);
	if (!ring)
		return NULL;
	struct nvme_sq *sq = calloc(1, sizeof(*sq));
	if (!sq)
		return NULL;
	*sq = (struct nvme_sq){ .qid = qid, .cqid = cqid, .size = size, .base = base, .ring = ring };
	ctrl->sqs[qid] = sq;
	ctrl->cqs[cqid]->nsqs++;
	return sq;
}

void nvme_cq_destroy(struct nvme_ctrl *ctrl, uint16_t qid)
{
	free(ctrl->cqs[qid]);
	ctrl->cqs[qid] = NULL;
}

void nvme_sq_destroy(struct nvme_ctrl *ctrl, uint16_t qid)
{
	struct nvme_sq *sq = ctrl->sqs[qid];
	if (!sq)
		return;
	if (ctrl->cqs[sq->cqid])
		ctrl->cqs[sq->cqid]->nsqs--;
	free(sq);
	ctrl->sqs[qid] = NULL;
}

/* --- interrupts --- */

static void nvme_intx_recompute(struct nvme_ctrl *ctrl)
{
	bool want = false;
	for (unsigned q = 0; q <= ctrl->max_io_queues && !want; q++) {
		struct nvme_cq *cq = ctrl->cqs[q];
		want = cq && cq->irq_enabled && cq->head != cq->tail;
	}
	pthread_mutex_lock(&ctrl->lock);
	if (want != ctrl->intx_wanted) {
		ctrl->intx_wanted = want;
		nvme_intx_update_locked(ctrl);
	}
	pthread_mutex_unlock(&ctrl->lock);
}

static void nvme_cq_notify(struct nvme_ctrl *ctrl, struct nvme_cq *cq)
{
	if (!cq->irq_enabled)
		return;
	switch (pci_msix_notify(ctrl->pci.msix, cq->vector)) {
	case PCI_MSIX_FIRED:
	case PCI_MSIX_PENDING:
	case PCI_MSIX_BAD_VECTOR:   /* vectors are checked when the CQ is created */
		break;
	case PCI_MSIX_NO_BUS_MASTER:
		nvme_fault(ctrl, "completion on CQ %u with bus mastering off: MSI-X message dropped",
			   cq->qid);
		break;
	case PCI_MSIX_DISABLED:
		pthread_mutex_lock(&ctrl->lock);
		ctrl->intx_wanted = true;
		nvme_intx_update_locked(ctrl);
		pthread_mutex_unlock(&ctrl->lock);
		break;
	}
}

/* --- completions --- */

static uint16_t nvme_status_field(uint16_t status)
{
	uint16_t sct = (status >> 8) & 0x7;
	uint16_t field = (uint16_t)((status & 0xff) | sct << 8);
	/* Media and internal errors may pass on retry; the rest will not. */
	if (status && sct != 2 && status != NVME_SC_INTERNAL)
		field |= NVME_STATUS_DNR;
	return field;
}

static void nvme_cq_post(struct nvme_ctrl *ctrl, struct nvme_cq *cq, const struct nvme_sq *sq,
			 uint16_t cid, uint16_t status, uint32_t dw0)
{
	uint8_t *slot = cq->ring + (size_t)cq->tail * NVME_CQE_SIZE;
	uint32_t words[3] = { dw0, 0, (uint32_t)sq->head | (uint32_t)sq->qid << 16 };
	memcpy(slot, words, sizeof(words));
	uint32_t last = cid | (uint32_t)(nvme_status_field(status) << 1 | (cq->phase ? 1 : 0)) << 16;
	/* The phase tag makes the entry valid: it goes last. */
	__atomic_store_n((uint32_t *)(slot + 12), last, __ATOMIC_RELEASE);
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase = !cq->phase;
	}
	nvme_cq_notify(ctrl, cq);
}

void nvme_error_log_add(struct nvme_ctrl *ctrl, uint16_t sqid, uint16_t cid, uint16_t status,
			uint32_t nsid, uint64_t lba)
{
	struct nvme_error_entry *e = &ctrl->errors[ctrl->error_count % NVME_ERROR_LOG_ENTRIES];
	ctrl->error_count++;
	*e = (struct nvme_error_entry){
		.count = ctrl->error_count, .sqid = sqid, .cid = cid,
		.status = nvme_status_field(status), .param_loc = 0xffff, .lba = lba, .nsid = nsid,
	};
}

static void nvme_sq_finish_delete(struct nvme_ctrl *ctrl, struct nvme_sq *sq);

void nvme_request_complete(struct nvme_request *req, uint16_t status, uint32_t dw0)
{
	struct nvme_ctrl *ctrl = req->ctrl;
	if (ctrl->dying || req->generation != ctrl->generation) {
		nvme_request_release(req);   /* the queues it belonged to are gone */
		return;
	}
	struct nvme_sq *sq = ctrl->sqs[req->sqid];
	struct nvme_cq *cq = ctrl->cqs[req->cqid];
	if (status != NVME_SC_SUCCESS)
		nvme_error_log_add(ctrl, req->sqid, req->cid, status, req->nsid, req->slba);
	if (req->holds_cq_slot)
		cq->reserved--;
	nvme_cq_post(ctrl, cq, sq, req->cid, status, dw0);
	sq->inflight--;
	nvme_request_release(req);
	if (sq->deleting && sq->inflight == 0 && sq->delete_req)
		nvme_sq_finish_delete(ctrl, sq);
}

/* Delete I/O SQ completes once the SQ's commands have: they were already in
 * the block engine and cannot be recalled, so they finish normally first. */
static void nvme_sq_finish_delete(struct nvme_ctrl *ctrl, struct nvme_sq *sq)
{
	struct nvme_request *del = sq->delete_req;
	sq->delete_req = NULL;
	nvme_sq_destroy(ctrl, sq->qid);
	nvme_request_complete(del, NVME_SC_SUCCESS, 0);
}

/* --- asynchronous events --- */

void nvme_aer_post(struct nvme_ctrl *ctrl, uint8_t type, uint8_t info, uint8_t log_page)
{
	/* One report per type until the guest reads the log page (the spec's
	 * masking), and one queued event per type. */
	if (ctrl->aer_masked & (1u << type))
		return;
	for (unsigned i = 0; i < ctrl->naer_queued; i++)
		if (ctrl->aer_queue[i].type == type)
			return;
	if (ctrl->naer_queued == sizeof(ctrl->aer_queue) / sizeof(ctrl->aer_queue[0]))
		return;
	ctrl->aer_queue[ctrl->naer_queued++] = (struct nvme_aer_event){ type, info, log_page };
	nvme_aer_deliver(ctrl);
}

void nvme_aer_deliver(struct nvme_ctrl *ctrl)
{
	struct nvme_cq *cq = ctrl->cqs[0];
	while (ctrl->state == NVME_STATE_ENABLED && cq && ctrl->naer > 0 && ctrl->naer_queued > 0 &&
	       nvme_cq_has_room(cq)) {
		struct nvme_aer_event ev = ctrl->aer_queue[0];
		memmove(&ctrl->aer_queue[0], &ctrl->aer_queue[1],
			--ctrl->naer_queued * sizeof(ctrl->aer_queue[0]));
		struct nvme_request *req = ctrl->aer_reqs[--ctrl->naer];
		ctrl->aer_masked |= (uint8_t)(1u << ev.type);
		nvme_request_complete(req, NVME_SC_SUCCESS,
				      ev.type | (uint32_t)ev.info << 8 | (uint32_t)ev.log_page << 16);
	}
}

static void nvme_doorbell_fault(struct nvme_ctrl *ctrl, uint8_t info)
{
	nvme_error_log_add(ctrl, 0xffff, 0xffff, NVME_SC_INVALID_FIELD, 0, 0);
	nvme_aer_post(ctrl, NVME_AER_TYPE_ERROR, info, NVME_LOG_ERROR);
}

/* --- doorbells --- */

/* Returns true when the tail moved. */
static bool nvme_sq_tail_update(struct nvme_ctrl *ctrl, unsigned qid, uint32_t value)
{
	struct nvme_sq *sq = ctrl->sqs[qid];
	if (!sq || sq->deleting) {
		nvme_fault(ctrl, "SQ %u tail doorbell (%u) for a queue that does not exist; ignored",
			   qid, value);
		nvme_doorbell_fault(ctrl, NVME_AER_INFO_INVALID_DB_REGISTER);
		return false;
	}
	if (value >= sq->size) {
		nvme_fault(ctrl, "SQ %u tail doorbell %u is past the queue's %u entries; ignored",
			   qid, value, sq->size);
		nvme_doorbell_fault(ctrl, NVME_AER_INFO_INVALID_DB_VALUE);
		return false;
	}
	bool moved = sq->tail != value;
	sq->tail = value;
	return moved;
}

static bool nvme_cq_head_update(struct nvme_ctrl *ctrl, unsigned qid, uint32_t value)
{
	struct nvme_cq *cq = ctrl->cqs[qid];
	if (!cq) {
		nvme_fault(ctrl, "CQ %u head doorbell (%u) for a queue that does not exist; ignored",
			   qid, value);
		nvme_doorbell_fault(ctrl, NVME_AER_INFO_INVALID_DB_REGISTER);
		return false;
	}
	uint32_t consumed = (value + cq->size - cq->head) % cq->size;
	if (value >= cq->size || consumed > nvme_cq_used(cq)) {
		nvme_fault(ctrl, "CQ %u head doorbell %u: beyond the queue (%u entries) or past the "
			   "%u completions posted; ignored", qid, value, cq->size, nvme_cq_used(cq));
		nvme_doorbell_fault(ctrl, NVME_AER_INFO_INVALID_DB_VALUE);
		return false;
	}
	if (value == cq->head)
		return false;
	cq->head = value;
	if (ctrl->intx_wanted)
		nvme_intx_recompute(ctrl);
	return true;
}

static void nvme_mmio_doorbells(struct nvme_ctrl *ctrl)
{
	if (atomic_exchange(&ctrl->db_bad_register, false) && ctrl->state == NVME_STATE_ENABLED)
		nvme_doorbell_fault(ctrl, NVME_AER_INFO_INVALID_DB_REGISTER);
	for (unsigned i = 0; i < 2 * (ctrl->max_io_queues + 1); i++) {
		if (!atomic_exchange(&ctrl->db_dirty[i], false))
			continue;
		uint32_t value = atomic_load(&ctrl->db_value[i]);
		if (ctrl->state != NVME_STATE_ENABLED) {
			nvme_fault(ctrl, "doorbell %u written while the controller is not ready; ignored",
				   i);
			continue;
		}
		if (i & 1)
			nvme_cq_head_update(ctrl, i / 2, value);
		else
			nvme_sq_tail_update(ctrl, i / 2, value);
	}
}

/* Reads the shadow doorbells of the I/O queues (the admin queue always uses
 * MMIO). Returns true when a tail or head moved. */
static bool nvme_shadow_poll(struct nvme_ctrl *ctrl)
{
	if (!ctrl->shadow)
		return false;
	bool moved = false;
	for (unsigned q = 1; q <= ctrl->max_io_queues; q++) {
		if (ctrl->sqs[q] && !ctrl->sqs[q]->deleting) {
			uint32_t v = __atomic_load_n(&ctrl->shadow[2 * q], __ATOMIC_ACQUIRE);
			counter_add(&ctrl->shadow_reads, 1);
			if (v != ctrl->sqs[q]->tail)
				moved |= nvme_sq_tail_update(ctrl, q, v);
		}
		if (ctrl->cqs[q]) {
			uint32_t v = __atomic_load_n(&ctrl->shadow[2 * q + 1], __ATOMIC_ACQUIRE);
			counter_add(&ctrl->shadow_reads, 1);
			if (v != ctrl->cqs[q]->head)
				moved |= nvme_cq_head_update(ctrl, q, v);
		}
	}
	return moved;
}

/* EventIdx: an SQ asks for an MMIO doorbell once the guest moves past the
 * tail already processed (the I/O thread has no poller to notice a shadow
 * update by itself). A CQ needs its head only when queued commands wait for
 * its room, or for INTx (then EventIdx = head: any advance rings); else the
 * next SQ doorbell makes us re-read the shadow head anyway, and EventIdx is
 * the slot just behind the head, which no advance of less than a full ring
 * crosses, with either the ring-modular or the free-running 16-bit form of
 * the "new - event - 1 < new - old" test. */
/* True when an SQ completing on cq has commands that wait for its room. */
static bool nvme_cq_blocks_fetch(const struct nvme_ctrl *ctrl, const struct nvme_cq *cq)
{
	if (nvme_cq_has_room(cq))
		return false;
	for (unsigned q = 1; q <= ctrl->max_io_queues; q++) {
		const struct nvme_sq *sq = ctrl->sqs[q];
		if (sq && sq->cqid == cq->qid && !sq->deleting && sq->head != sq->tail)
			return true;
	}
	return false;
}

static void nvme_eventidx_update(struct nvme_ctrl *ctrl)
{
	bool msix = pci_msix_enabled(ctrl->pci.msix);
	for (unsigned q = 1; q <= ctrl->max_io_queues; q++) {
		if (ctrl->sqs[q])
			__atomic_store_n(&ctrl->eventidx[2 * q], ctrl->sqs[q]->tail, __ATOMIC_RELAXED);
		struct nvme_cq *cq = ctrl->cqs[q];
		if (cq) {
			bool need_head = !msix || nvme_cq_blocks_fetch(ctrl, cq);
			uint32_t behind = (cq->head + cq->size - 1) % cq->size;
			__atomic_store_n(&ctrl->eventidx[2 * q + 1], need_head ? cq->head : behind,
					 __ATOMIC_RELAXED);
		}
	}
	/* Publish EventIdx before re-reading the shadow tails (pairs with the
	 * guest's barrier between its shadow write and its EventIdx read). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* --- fetch --- */

static bool nvme_sq_fetch_one(struct nvme_ctrl *ctrl, struct nvme_sq *sq)
{
	struct nvme_cq *cq = ctrl->cqs[sq->cqid];
	if (!nvme_cq_has_room(cq) || !ctrl->free_list)
		return false;
	struct nvme_request *req = nvme_request_get(ctrl);
	struct nvme_sqe sqe;
	/* One copy: the guest may rewrite the slot while we work on it. */
	memcpy(&sqe, sq->ring + (size_t)sq->head * NVME_SQE_SIZE, sizeof(sqe));
	sq->head = (sq->head + 1) % sq->size;
	sq->inflight++;
	cq->reserved++;
	req->ctrl = ctrl;
	req->generation = ctrl->generation;
	req->sqid = sq->qid;
	req->cqid = sq->cqid;
	req->cid = sqe.cid;
	req->opcode = sqe.opcode;
	req->holds_cq_slot = true;
	req->flush_after = false;
	req->nsid = sqe.nsid;
	req->slba = 0;
	req->bytes = 0;
	req->iovcnt = 0;
	req->dsm = NULL;
	if (sq->qid == 0)
		nvme_admin_execute(ctrl, req, &sqe);
	else
		nvme_io_execute(ctrl, req, &sqe);
	return true;
}

static void nvme_run_sqs(struct nvme_ctrl *ctrl)
{
	bool progress = true;
	while (progress && ctrl->state == NVME_STATE_ENABLED) {
		progress = false;
		for (unsigned q = 0; q <= ctrl->max_io_queues; q++) {
			struct nvme_sq *sq = ctrl->sqs[q];
			if (!sq || sq->deleting || sq->head == sq->tail)
				continue;
			if (!pci_device_bus_master_enabled(&ctrl->pci)) {
				nvme_fault(ctrl, "SQ %u has commands but bus mastering is off; not "
					   "fetched", q);
				return;
			}
			for (unsigned n = 0; n < NVME_FETCH_BATCH && sq->head != sq->tail; n++) {
				if (!nvme_sq_fetch_one(ctrl, sq))
					break;
				progress = true;
				/* An admin command may have deleted this queue or reset all. */
				if (ctrl->sqs[q] != sq || ctrl->state != NVME_STATE_ENABLED)
					break;
			}
		}
	}
}

void nvme_process(struct nvme_ctrl *ctrl)
{
	if (ctrl->dying)
		return;
	if (ctrl->processing) {
		ctrl->process_again = true;   /* a completion inside fetch: loop again */
		return;
	}
	ctrl->processing = true;
	do {
		ctrl->process_again = false;
		if (ctrl->state != NVME_STATE_ENABLED)
			break;
		nvme_shadow_poll(ctrl);
		nvme_run_sqs(ctrl);
		nvme_aer_deliver(ctrl);
		if (ctrl->shadow && ctrl->state == NVME_STATE_ENABLED) {
			nvme_eventidx_update(ctrl);
			if (nvme_shadow_poll(ctrl))
				ctrl->process_again = true;
		}
	} while (ctrl->process_again);
	ctrl->processing = false;
}

/* --- enable, reset, shutdown --- */

static void nvme_csts_update(struct nvme_ctrl *ctrl, uint32_t clear, uint32_t set)
{
	uint32_t v = atomic_load(&ctrl->csts);
	atomic_store(&ctrl->csts, (v & ~clear) | set);
}

void nvme_ctrl_reset_queues(struct nvme_ctrl *ctrl)
{
	ctrl->generation++;
	for (unsigned i = 0; i < ctrl->naer; i++)
		nvme_request_release(ctrl->aer_reqs[i]);
	ctrl->naer = ctrl->naer_queued = 0;
	ctrl->aer_masked = 0;
	for (unsigned q = 0; q < NVME_MAX_QUEUES; q++) {
		struct nvme_sq *sq = ctrl->sqs[q];
		if (sq && sq->delete_req)
			nvme_request_release(sq->delete_req);
		free(sq);
		free(ctrl->cqs[q]);
		ctrl->sqs[q] = NULL;
		ctrl->cqs[q] = NULL;
	}
	__atomic_store_n(&ctrl->shadow, NULL, __ATOMIC_RELEASE);
	ctrl->eventidx = NULL;
	ctrl->shadow_on = false;
	ctrl->queues_negotiated = false;
	ctrl->granted_io_queues = ctrl->max_io_queues;
	ctrl->feat_arbitration = ctrl->feat_irq_coalesce = ctrl->feat_async_event = 0;
	ctrl->write_cache = true;
	for (unsigned i = 0; i < 2 * NVME_MAX_QUEUES; i++)
		atomic_store(&ctrl->db_dirty[i], false);
	pthread_mutex_lock(&ctrl->lock);
	ctrl->intx_wanted = false;
	nvme_intx_update_locked(ctrl);
	pthread_mutex_unlock(&ctrl->lock);
	if (ctrl->engine_inflight > 0 || ctrl->shutdown_flush_busy) {
		ctrl->state = NVME_STATE_RESETTING;   /* RDY stays 1 until they finish */
	} else {
		ctrl->state = NVME_STATE_DISABLED;
		nvme_csts_update(ctrl, NVME_CSTS_RDY | NVME_CSTS_CFS, 0);
	}
}

static void nvme_enable(struct nvme_ctrl *ctrl, uint32_t cc, uint32_t aqa, uint64_t asq,
			uint64_t acq)
{
	const char *why = NULL;
	uint32_t sqs = NVME_AQA_ASQS(aqa) + 1, cqs = NVME_AQA_ACQS(aqa) + 1;
	if (NVME_CC_CSS(cc) != 0)
		why = "CC.CSS selects a command set other than NVM";
	else if (NVME_CC_MPS(cc) != 0)
		why = "CC.MPS asks for a page size other than 4 KiB (CAP.MPSMIN = MPSMAX = 4 KiB)";
	else if (NVME_CC_AMS(cc) != 0)
		why = "CC.AMS asks for an arbitration other than round robin";
	else if ((NVME_CC_IOSQES(cc) && NVME_CC_IOSQES(cc) != NVME_SQES_LOG2) ||
		 (NVME_CC_IOCQES(cc) && NVME_CC_IOCQES(cc) != NVME_CQES_LOG2))
		why = "CC.IOSQES/IOCQES are not 6/4 (64-byte SQ and 16-byte CQ entries)";
	else if (sqs < 2 || cqs < 2)
		why = "AQA gives an admin queue of fewer than 2 entries";
	else if ((asq | acq) & (NVME_PAGE_SIZE - 1))
		why = "ASQ/ACQ are not 4 KiB aligned";
	else if (!nvme_cq_create(ctrl, 0, acq, cqs, true, 0))
		why = "ACQ is not in guest RAM";
	else if (!nvme_sq_create(ctrl, 0, asq, sqs, 0)) {
		nvme_cq_destroy(ctrl, 0);
		why = "ASQ is not in guest RAM";
	}
	if (why) {
		nvme_fault(ctrl, "CC.EN=1 refused: %s; controller fatal status set", why);
		nvme_csts_update(ctrl, 0, NVME_CSTS_CFS);
		return;
	}
	ctrl->state = NVME_STATE_ENABLED;
	nvme_csts_update(ctrl, NVME_CSTS_SHST_MASK | NVME_CSTS_CFS, NVME_CSTS_RDY);
}

static void nvme_shutdown_flush_done(void *cookie, enum block_status status, uint64_t bytes)
{
	(void)bytes;
	struct nvme_ctrl *ctrl = cookie;
	ctrl->shutdown_flush_busy = false;
	if (status != BLOCK_OK)
		log_warn("%s: flush at shutdown failed: %s", ctrl->pci.name, block_status_name(status));
	if (ctrl->dying)
		return;
	nvme_csts_update(ctrl, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_COMPLETE);
	nvme_after_engine_completion(ctrl);
}

/* Shutdown completes when what the guest wrote is on stable storage. */
static void nvme_shutdown_progress(struct nvme_ctrl *ctrl)
{
	if (!ctrl->shutdown_wanted || ctrl->engine_inflight > 0 || ctrl->shutdown_flush_busy)
		return;
	ctrl->shutdown_wanted = false;
	if (block_engine_caps(ctrl->disk.engine) & BLOCK_CAP_FLUSH) {
		if (block_engine_flush(ctrl->disk.engine, &ctrl->shutdown_flush,
				       nvme_shutdown_flush_done, ctrl) == BLOCK_OK) {
			ctrl->shutdown_flush_busy = true;
			return;
		}
	}
	nvme_csts_update(ctrl, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_COMPLETE);
}

/* Acts on what the vCPUs asked for through CC, in order: reset, shutdown,
 * enable (deferred while an old generation drains). */
static void nvme_control(struct nvme_ctrl *ctrl)
{
	pthread_mutex_lock(&ctrl->lock);
	bool reset = ctrl->pending_reset, shutdown = ctrl->pending_shutdown;
	ctrl->pending_reset = ctrl->pending_shutdown = false;
	pthread_mutex_unlock(&ctrl->lock);
	if (reset)
		nvme_ctrl_reset_queues(ctrl);
	if (shutdown) {
		ctrl->shutdown_wanted = true;
		nvme_shutdown_progress(ctrl);
	}
	if (ctrl->state != NVME_STATE_DISABLED)
		return;
	pthread_mutex_lock(&ctrl->lock);
	bool enable = ctrl->pending_enable;
	ctrl->pending_enable = false;
	uint32_t cc = ctrl->cc, aqa = ctrl->aqa;
	uint64_t asq = ctrl->asq, acq = ctrl->acq;
	pthread_mutex_unlock(&ctrl->lock);
	if (enable)
		nvme_enable(ctrl, cc, aqa, asq, acq);
}

void nvme_after_engine_completion(struct nvme_ctrl *ctrl)
{
	if (ctrl->dying)
		return;
	if (ctrl->state == NVME_STATE_RESETTING && ctrl->engine_inflight == 0 &&
	    !ctrl->shutdown_flush_busy) {
		ctrl->state = NVME_STATE_DISABLED;
		nvme_csts_update(ctrl, NVME_CSTS_RDY | NVME_CSTS_CFS, 0);
	}
	nvme_shutdown_progress(ctrl);
	if (ctrl->state == NVME_STATE_DISABLED)
		nvme_control(ctrl);
	nvme_process(ctrl);
}

void nvme_loop_kick(void *opaque, uint64_t count)
{
	(void)count;
	struct nvme_ctrl *ctrl = opaque;
	if (ctrl->dying)
		return;
	uint64_t start = monotonic_ns();
	nvme_control(ctrl);
	nvme_mmio_doorbells(ctrl);
	nvme_process(ctrl);
	counter_add(&ctrl->counters.vmm_cpu_ns, monotonic_ns() - start);
}
