/* Admin commands of the emulated controller, on the I/O thread. All finish
 * at once except Asynchronous Event Request (held until an event) and
 * Delete I/O SQ while that SQ still has commands in the block engine. */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "emulated/nvme.h"
#include "iommu/dma_space.h"

#define NVME_OACS_DBBUF        (1u << 8)
#define NVME_ONCS_DSM          (1u << 2)
#define NVME_ONCS_WRITE_ZEROES (1u << 3)
#define NVME_LPA_EXTENDED      (1u << 2)   /* Get Log Page takes an offset */

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* ASCII field padded with spaces, as Identify wants. */
static void put_text(uint8_t *p, size_t len, const char *text)
{
	memset(p, ' ', len);
	size_t n = strlen(text);
	memcpy(p, text, n < len ? n : len);
}

static void nvme_identify_controller(struct nvme_ctrl *ctrl, uint8_t *id)
{
	put16(id + 0, ctrl->pci.config[PCI_CFG_VENDOR_ID] |
		      ctrl->pci.config[PCI_CFG_VENDOR_ID + 1] << 8);
	put16(id + 2, ctrl->pci.config[PCI_CFG_SUBSYS_VENDOR] |
		      ctrl->pci.config[PCI_CFG_SUBSYS_VENDOR + 1] << 8);
	put_text(id + 4, 20, ctrl->serial);
	put_text(id + 24, 40, "iovirt emulated NVMe");
	put_text(id + 64, 8, "1.0");
	id[72] = 6;                          /* RAB: 64 commands */
	id[77] = NVME_MDTS_LOG2;             /* MDTS in CAP.MPSMIN pages */
	put16(id + 78, 1);                   /* CNTLID */
	put32(id + 80, NVME_VS_1_4);
	put32(id + 92, 0);                   /* OAES: no optional notices */
	id[111] = 1;                         /* CNTRLTYPE: I/O controller */
	put16(id + 256, ctrl->shadow_allowed ? NVME_OACS_DBBUF : 0);
	id[258] = NVME_ACL;
	id[259] = NVME_AERL;
	id[260] = 0x02;                      /* FRMW: one slot, slot 1 read-only */
	id[261] = NVME_LPA_EXTENDED;
	id[262] = NVME_ERROR_LOG_ENTRIES - 1;
	put16(id + 266, 343);                /* WCTEMP, Kelvin */
	put16(id + 268, 373);                /* CCTEMP */
	id[512] = NVME_SQES_LOG2 << 4 | NVME_SQES_LOG2;
	id[513] = NVME_CQES_LOG2 << 4 | NVME_CQES_LOG2;
	put16(id + 514, NVME_POOL_SIZE);     /* MAXCMD */
	put32(id + 516, 1);                  /* NN */
	put16(id + 520, NVME_ONCS_DSM | NVME_ONCS_WRITE_ZEROES);
	id[525] = 1;                         /* VWC present */
	put32(id + 536, 0);                  /* SGLS: PRPs only */
	char nqn[256];
	snprintf(nqn, sizeof(nqn), "nqn.2024-01.io.iovirt:nvme:%s", ctrl->serial);
	memcpy(id + 768, nqn, strlen(nqn));
	put16(id + 2048, 2500);              /* PSD0: 25 W max power */
}

static void nvme_identify_namespace(struct nvme_ctrl *ctrl, uint8_t *id)
{
	put64(id + 0, ctrl->nsze);           /* NSZE */
	put64(id + 8, ctrl->nsze);           /* NCAP */
	put64(id + 16, ctrl->nsze);          /* NUSE */
	id[25] = 0;                          /* NLBAF: one format */
	id[26] = 0;                          /* FLBAS: format 0 */
	id[33] = 0x09;                       /* DLFEAT: deallocated reads zeros; WZ may dealloc */
	put32(id + 128, 9u << 16);           /* LBAF0: 512-byte LBAs, no metadata */
}

static void nvme_admin_identify(struct nvme_ctrl *ctrl, struct nvme_request *req,
				const struct nvme_sqe *sqe)
{
	uint8_t id[NVME_IDENTIFY_SIZE];
	memset(id, 0, sizeof(id));
	switch (sqe->cdw10 & 0xff) {
	case NVME_CNS_NAMESPACE:
		if (sqe->nsid != NVME_NSID) {
			nvme_fault(ctrl, "Identify namespace %u: only namespace %u exists", sqe->nsid,
				   NVME_NSID);
			nvme_request_complete(req, NVME_SC_INVALID_NAMESPACE, 0);
			return;
		}
		nvme_identify_namespace(ctrl, id);
		break;
	case NVME_CNS_CONTROLLER:
		nvme_identify_controller(ctrl, id);
		break;
	case NVME_CNS_ACTIVE_NS_LIST:
		if (sqe->nsid >= 0xfffffffeu) {
			nvme_request_complete(req, NVME_SC_INVALID_NAMESPACE, 0);
			return;
		}
		if (sqe->nsid < NVME_NSID)
			put32(id, NVME_NSID);    /* namespaces above CDW1.NSID */
		break;
	default:
		nvme_request_complete(req, NVME_SC_INVALID_FIELD, 0);
		return;
	}
	nvme_request_complete(req, nvme_prp_to_guest(ctrl->dma, sqe->prp1, sqe->prp2, id, sizeof(id)),
			      0);
}

static bool nvme_queue_id_ok(const struct nvme_ctrl *ctrl, uint16_t qid)
{
	return qid >= 1 && qid <= ctrl->granted_io_queues;
}

static void nvme_admin_create_cq(struct nvme_ctrl *ctrl, struct nvme_request *req,
				 const struct nvme_sqe *sqe)
{
	uint16_t qid = sqe->cdw10 & 0xffff;
	uint32_t size = (sqe->cdw10 >> 16) + 1;
	bool pc = sqe->cdw11 & 1, ien = sqe->cdw11 & 2;
	uint16_t vector = sqe->cdw11 >> 16;
	uint16_t st = NVME_SC_SUCCESS;
	if (!nvme_queue_id_ok(ctrl, qid) || ctrl->cqs[qid])
		st = NVME_SC_QID_INVALID;
	else if (size < 2 || size > NVME_MQES + 1)
		st = NVME_SC_QUEUE_SIZE;
	else if (!pc || (sqe->prp1 & (NVME_PAGE_SIZE - 1)))
		st = NVME_SC_INVALID_FIELD;   /* CAP.CQR: contiguous, page aligned */
	else if (vector >= ctrl->nvectors)
		st = NVME_SC_INVALID_VECTOR;
	else if (!nvme_cq_create(ctrl, qid, sqe->prp1, size, ien, vector))
		st = NVME_SC_INVALID_FIELD;   /* base outside guest RAM */
	if (st)
		nvme_fault(ctrl, "Create I/O CQ %u (size %u, base 0x%llx, vector %u) refused: status "
			   "0x%x", qid, size, (unsigned long long)sqe->prp1, vector, st);
	else if (ctrl->shadow)
		ctrl->shadow[2 * qid + 1] = 0;
	nvme_request_complete(req, st, 0);
}

static void nvme_admin_create_sq(struct nvme_ctrl *ctrl, struct nvme_request *req,
				 const struct nvme_sqe *sqe)
{
	uint16_t qid = sqe->cdw10 & 0xffff;
	uint32_t size = (sqe->cdw10 >> 16) + 1;
	bool pc = sqe->cdw11 & 1;
	uint16_t cqid = sqe->cdw11 >> 16;
	uint16_t st = NVME_SC_SUCCESS;
	if (!nvme_queue_id_ok(ctrl, qid) || ctrl->sqs[qid])
		st = NVME_SC_QID_INVALID;
	else if (cqid == 0 || cqid > ctrl->max_io_queues || !ctrl->cqs[cqid])
		st = NVME_SC_CQ_INVALID;
	else if (size < 2 || size > NVME_MQES + 1)
		st = NVME_SC_QUEUE_SIZE;
	else if (!pc || (sqe->prp1 & (NVME_PAGE_SIZE - 1)))
		st = NVME_SC_INVALID_FIELD;
	else if (!nvme_sq_create(ctrl, qid, sqe->prp1, size, cqid))
		st = NVME_SC_INVALID_FIELD;
	if (st)
		nvme_fault(ctrl, "Create I/O SQ %u (size %u, base 0x%llx, CQ %u) refused: status 0x%x",
			   qid, size, (unsigned long long)sqe->prp1, cqid, st);
	else if (ctrl->shadow)
		ctrl->shadow[2 * qid] = 0;   /* the new queue starts at 0 */
	nvme_request_complete(req, st, 0);
}

static void nvme_admin_delete_sq(struct nvme_ctrl *ctrl, struct nvme_request *req,
				 const struct nvme_sqe *sqe)
{
	uint16_t qid = sqe->cdw10 & 0xffff;
	struct nvme_sq *sq = qid >= 1 && qid <= ctrl->max_io_queues ? ctrl->sqs[qid] : NULL;
	if (!sq || sq->deleting) {
		nvme_request_complete(req, NVME_SC_QID_INVALID, 0);
		return;
	}
	if (sq->inflight == 0) {
		nvme_sq_destroy(ctrl, qid);
		nvme_request_complete(req, NVME_SC_SUCCESS, 0);
		return;
	}
	sq->deleting = true;
	sq->delete_req = req;   /* completed when the last of its commands is */
}

static void nvme_admin_delete_cq(struct nvme_ctrl *ctrl, struct nvme_request *req,
				 const struct nvme_sqe *sqe)
{
	uint16_t qid = sqe->cdw10 & 0xffff;
	struct nvme_cq *cq = qid >= 1 && qid <= ctrl->max_io_queues ? ctrl->cqs[qid] : NULL;
	if (!cq) {
		nvme_request_complete(req, NVME_SC_QID_INVALID, 0);
		return;
	}
	if (cq->nsqs > 0) {
		nvme_fault(ctrl, "Delete I/O CQ %u while %u SQ(s) still complete there", qid, cq->nsqs);
		nvme_request_complete(req, NVME_SC_INVALID_QUEUE_DELETION, 0);
		return;
	}
	nvme_cq_destroy(ctrl, qid);
	nvme_request_complete(req, NVME_SC_SUCCESS, 0);
}

static void nvme_admin_get_log_page(struct nvme_ctrl *ctrl, struct nvme_request *req,
				    const struct nvme_sqe *sqe)
{
	uint8_t lid = sqe->cdw10 & 0xff;
	bool retain = sqe->cdw10 & (1u << 15);
	uint64_t dwords = ((uint64_t)(sqe->cdw11 & 0xffff) << 16 | sqe->cdw10 >> 16) + 1;
	uint64_t offset = sqe->cdw12 | (uint64_t)sqe->cdw13 << 32;
	uint8_t log[NVME_SMART_LOG_SIZE > NVME_ERROR_LOG_ENTRIES * NVME_ERROR_LOG_ENTRY
		    ? NVME_SMART_LOG_SIZE : NVME_ERROR_LOG_ENTRIES * NVME_ERROR_LOG_ENTRY];
	memset(log, 0, sizeof(log));
	size_t size;
	int event_type = -1;
	switch (lid) {
	case NVME_LOG_ERROR:
		size = NVME_ERROR_LOG_ENTRIES * NVME_ERROR_LOG_ENTRY;
		/* Newest first; entries never written stay zero. */
		for (unsigned i = 0; i < NVME_ERROR_LOG_ENTRIES && i < ctrl->error_count; i++) {
			const struct nvme_error_entry *e =
				&ctrl->errors[(ctrl->error_count - 1 - i) % NVME_ERROR_LOG_ENTRIES];
			uint8_t *p = log + i * NVME_ERROR_LOG_ENTRY;
			put64(p + 0, e->count);
			put16(p + 8, e->sqid);
			put16(p + 10, e->cid);
			put16(p + 12, e->status);
			put16(p + 14, e->param_loc);
			put64(p + 16, e->lba);
			put32(p + 24, e->nsid);
		}
		event_type = NVME_AER_TYPE_ERROR;
		break;
	case NVME_LOG_SMART: {
		size = NVME_SMART_LOG_SIZE;
		log[1] = 0x27; log[2] = 0x01;    /* composite temperature 295 K */
		log[3] = 100;                    /* available spare */
		log[4] = 10;                     /* spare threshold */
		/* Data units are thousands of 512-byte units, rounded up. */
		put64(log + 32, (ctrl->units_read + 999) / 1000);
		put64(log + 48, (ctrl->units_written + 999) / 1000);
		put64(log + 64, ctrl->host_reads);
		put64(log + 80, ctrl->host_writes);
		put64(log + 112, 1);             /* power cycles */
		put64(log + 176, ctrl->error_count);
		event_type = NVME_AER_TYPE_SMART;
		break;
	}
	case NVME_LOG_FIRMWARE_SLOT:
		size = NVME_FW_LOG_SIZE;
		log[0] = 1;                      /* active slot 1 */
		put_text(log + 8, 8, "1.0");
		break;
	default:
		nvme_request_complete(req, NVME_SC_INVALID_LOG_PAGE, 0);
		return;
	}
	uint64_t bytes = dwords * 4;
	if ((offset & 3) || offset >= size || bytes > NVME_MAX_TRANSFER) {
		nvme_request_complete(req, NVME_SC_INVALID_FIELD, 0);
		return;
	}
	/* Past the log's end the host gets zeros, like an unwritten page. */
	uint8_t out[NVME_PAGE_SIZE * 2];
	if (bytes > sizeof(out))
		bytes = sizeof(out);
	memset(out, 0, sizeof(out));
	memcpy(out, log + offset, size - offset < bytes ? size - offset : bytes);
	uint16_t st = nvme_prp_to_guest(ctrl->dma, sqe->prp1, sqe->prp2, out, bytes);
	if (st == NVME_SC_SUCCESS && !retain && event_type >= 0) {
		ctrl->aer_masked &= (uint8_t)~(1u << event_type);
		nvme_aer_deliver(ctrl);
	}
	nvme_request_complete(req, st, 0);
}

static void nvme_admin_features(struct nvme_ctrl *ctrl, struct nvme_request *req,
				const struct nvme_sqe *sqe, bool set)
{
	uint8_t fid = sqe->cdw10 & 0xff;
	uint32_t value = sqe->cdw11;
	uint32_t result = 0;
	if (set && (sqe->cdw10 & (1u << 31))) {
		nvme_request_complete(req, NVME_SC_FEATURE_NOT_SAVEABLE, 0);
		return;
	}
	unsigned sel = (sqe->cdw10 >> 8) & 0x7;
	if (!set && sel == 3) {
		/* Supported capabilities: everything here is changeable, nothing saveable. */
		switch (fid) {
		case NVME_FEAT_ARBITRATION: case NVME_FEAT_VOLATILE_WC: case NVME_FEAT_NUM_QUEUES:
		case NVME_FEAT_IRQ_COALESCE: case NVME_FEAT_ASYNC_EVENT: case NVME_FEAT_POWER_MGMT:
		case NVME_FEAT_TEMP_THRESH:
			nvme_request_complete(req, NVME_SC_SUCCESS, 1u << 2);
			return;
		default:
			nvme_request_complete(req, NVME_SC_INVALID_FIELD, 0);
			return;
		}
	}
	bool defaults = !set && sel != 0;   /* default and saved are the same here */
	switch (fid) {
	case NVME_FEAT_ARBITRATION:
		if (set)
			ctrl->feat_arbitration = value;
		result = defaults ? 0 : ctrl->feat_arbitration;
		break;
	case NVME_FEAT_POWER_MGMT:
		if (set && (value & 0x1f) != 0) {
			nvme_request_complete(req, NVME_SC_INVALID_FIELD, 0);
			return;
		}
		break;   /* one power state, 0 */
	case NVME_FEAT_TEMP_THRESH:
		result = 343;
		break;   /* accepted, not enforced */
	case NVME_FEAT_VOLATILE_WC:
		if (set)
			ctrl->write_cache = value & 1;
		result = defaults ? 1 : ctrl->write_cache;
		break;
	case NVME_FEAT_NUM_QUEUES: {
		uint32_t n = ctrl->granted_io_queues - 1;
		if (set) {
			uint16_t nsq = value & 0xffff, ncq = value >> 16;
			if (nsq == 0xffff || ncq == 0xffff) {
				nvme_request_complete(req, NVME_SC_INVALID_FIELD, 0);
				return;
			}
			if (ctrl->queues_negotiated) {
				/* Allowed once after reset: queues may exist by now. */
				nvme_request_complete(req, NVME_SC_COMMAND_SEQUENCE, 0);
				return;
			}
			ctrl->queues_negotiated = true;
			n = nsq > ncq ? nsq : ncq;
			if (n > ctrl->max_io_queues - 1)
				n = ctrl->max_io_queues - 1;
			ctrl->granted_io_queues = n + 1;
		}
		if (defaults)
			n = ctrl->max_io_queues - 1;
		result = n | n << 16;
		break;
	}
	case NVME_FEAT_IRQ_COALESCE:
		/* Accepted and reported back; completions are not delayed. */
		if (set)
			ctrl->feat_irq_coalesce = value & 0xffff;
		result = defaults ? 0 : ctrl->feat_irq_coalesce;
		break;
	case NVME_FEAT_ASYNC_EVENT:
		if (set)
			ctrl->feat_async_event = value;
		result = defaults ? 0 : ctrl->feat_async_event;
		break;
	default:
		nvme_request_complete(req, NVME_SC_INVALID_FIELD, 0);
		return;
	}
	nvme_request_complete(req, NVME_SC_SUCCESS, result);
}

/* Abort is best effort and, here, never succeeds: a command leaves the SQ
 * as soon as the doorbell is seen and is then in the host block engine,
 * which cannot recall it. Completion dword 0 bit 0 = 1 says "not aborted". */
static void nvme_admin_abort(struct nvme_ctrl *ctrl, struct nvme_request *req)
{
	(void)ctrl;
	nvme_request_complete(req, NVME_SC_SUCCESS, 1);
}

static void nvme_admin_async_event(struct nvme_ctrl *ctrl, struct nvme_request *req)
{
	if (ctrl->naer > NVME_AERL) {
		nvme_request_complete(req, NVME_SC_AER_LIMIT, 0);
		return;
	}
	/* Held without a CQ slot: an idle AER must not starve other admin
	 * commands of the admin CQ. Delivery waits for room instead. */
	ctrl->cqs[0]->reserved--;
	req->holds_cq_slot = false;
	ctrl->aer_reqs[ctrl->naer++] = req;
	nvme_aer_deliver(ctrl);
}

static void nvme_admin_doorbell_buffer(struct nvme_ctrl *ctrl, struct nvme_request *req,
				       const struct nvme_sqe *sqe)
{
	if (!ctrl->shadow_allowed) {
		nvme_request_complete(req, NVME_SC_INVALID_OPCODE, 0);   /* shadow=off */
		return;
	}
	uint64_t shadow_gpa = sqe->prp1, eventidx_gpa = sqe->prp2;
	uint32_t *shadow = NULL, *eventidx = NULL;
	if (!((shadow_gpa | eventidx_gpa) & (NVME_PAGE_SIZE - 1))) {
		shadow = dma_translate(ctrl->dma, shadow_gpa, NVME_PAGE_SIZE, DMA_PERM_RW);
		eventidx = dma_translate(ctrl->dma, eventidx_gpa, NVME_PAGE_SIZE, DMA_PERM_RW);
	}
	if (!shadow || !eventidx || shadow_gpa == eventidx_gpa) {
		nvme_fault(ctrl, "Doorbell Buffer Config: 0x%llx / 0x%llx are not two distinct "
			   "page-aligned pages of guest RAM", (unsigned long long)shadow_gpa,
			   (unsigned long long)eventidx_gpa);
		nvme_request_complete(req, NVME_SC_INVALID_FIELD, 0);
		return;
	}
	/* Queues that exist now keep their positions: seed both buffers. */
	for (unsigned q = 1; q <= ctrl->max_io_queues; q++) {
		if (ctrl->sqs[q])
			shadow[2 * q] = eventidx[2 * q] = ctrl->sqs[q]->tail;
		if (ctrl->cqs[q])
			shadow[2 * q + 1] = eventidx[2 * q + 1] = ctrl->cqs[q]->head;
	}
	ctrl->shadow_gpa = shadow_gpa;
	ctrl->eventidx_gpa = eventidx_gpa;
	ctrl->eventidx = eventidx;
	ctrl->shadow_on = true;
	__atomic_store_n(&ctrl->shadow, shadow, __ATOMIC_RELEASE);
	nvme_request_complete(req, NVME_SC_SUCCESS, 0);
}

void nvme_admin_execute(struct nvme_ctrl *ctrl, struct nvme_request *req, const struct nvme_sqe *sqe)
{
	if (sqe->flags & 0xc3) {
		nvme_request_complete(req, NVME_SC_INVALID_FIELD, 0);   /* fused / SGL */
		return;
	}
	switch (sqe->opcode) {
	case NVME_ADMIN_DELETE_SQ: nvme_admin_delete_sq(ctrl, req, sqe); break;
	case NVME_ADMIN_CREATE_SQ: nvme_admin_create_sq(ctrl, req, sqe); break;
	case NVME_ADMIN_GET_LOG_PAGE: nvme_admin_get_log_page(ctrl, req, sqe); break;
	case NVME_ADMIN_DELETE_CQ: nvme_admin_delete_cq(ctrl, req, sqe); break;
	case NVME_ADMIN_CREATE_CQ: nvme_admin_create_cq(ctrl, req, sqe); break;
	case NVME_ADMIN_IDENTIFY: nvme_admin_identify(ctrl, req, sqe); break;
	case NVME_ADMIN_ABORT: nvme_admin_abort(ctrl, req); break;
	case NVME_ADMIN_SET_FEATURES: nvme_admin_features(ctrl, req, sqe, true); break;
	case NVME_ADMIN_GET_FEATURES: nvme_admin_features(ctrl, req, sqe, false); break;
	case NVME_ADMIN_ASYNC_EVENT: nvme_admin_async_event(ctrl, req); break;
	case NVME_ADMIN_DOORBELL_BUFFER_CONFIG: nvme_admin_doorbell_buffer(ctrl, req, sqe); break;
	default:
		nvme_fault(ctrl, "admin opcode 0x%02x (cid %u) is not supported", sqe->opcode, sqe->cid);
		nvme_request_complete(req, NVME_SC_INVALID_OPCODE, 0);
		break;
	}
}
