/* NVM command set on the block engine: Read, Write, Flush, Write Zeroes and
 * Dataset Management (deallocate). Data moves zero-copy: the PRPs become
 * iovecs straight into guest memory and the engine reads/writes them. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "emulated/nvme.h"
#include "iommu/dma_space.h"

#define NVME_DSM_MAX_RANGES 256
#define NVME_DSM_ATTR_DEALLOCATE (1u << 2)
#define NVME_RW_FUA (1u << 30)

static uint16_t nvme_status_from_block(enum block_status st, bool write)
{
	switch (st) {
	case BLOCK_OK: return NVME_SC_SUCCESS;
	case BLOCK_NO_SPACE: return NVME_SC_CAPACITY_EXCEEDED;
	case BLOCK_READ_ONLY: return NVME_SC_NS_WRITE_PROTECTED;
	case BLOCK_INVALID:
	case BLOCK_UNSUPPORTED: return NVME_SC_INVALID_FIELD;
	case BLOCK_IO_ERROR:
	default: return write ? NVME_SC_WRITE_FAULT : NVME_SC_UNRECOVERED_READ;
	}
}

/* LBA range [slba, slba+nlb) inside the namespace, overflow-safe. */
static bool nvme_lba_range_ok(const struct nvme_ctrl *ctrl, uint64_t slba, uint64_t nlb)
{
	return slba < ctrl->nsze && nlb <= ctrl->nsze - slba;
}

static void nvme_io_done(void *cookie, enum block_status status, uint64_t bytes);

/* Deallocated blocks must read back as zeros (Identify says so): punching
 * a hole guarantees that in a regular file; elsewhere zeros are written. */
static enum block_status nvme_deallocate(struct nvme_ctrl *ctrl, struct nvme_request *req,
					 uint64_t slba, uint64_t nlb)
{
	uint64_t off = slba * NVME_LBA_SIZE, len = nlb * NVME_LBA_SIZE;
	if ((block_engine_caps(ctrl->disk.engine) & BLOCK_CAP_DISCARD) &&
	    !ctrl->disk.image.block_device)
		return block_engine_discard(ctrl->disk.engine, &req->blk, off, len, nvme_io_done, req);
	return block_engine_write_zeroes(ctrl->disk.engine, &req->blk, off, len, nvme_io_done, req);
}

/* Next non-empty DSM range, or BLOCK_OK with nothing submitted (*submitted
 * false) when all are done. */
static enum block_status nvme_dsm_next(struct nvme_ctrl *ctrl, struct nvme_request *req,
				       bool *submitted)
{
	*submitted = false;
	while (req->dsm_next < req->dsm_count) {
		const struct nvme_dsm_range *r = &req->dsm[req->dsm_next++];
		if (r->nlb == 0)
			continue;
		req->slba = r->slba;
		enum block_status st = nvme_deallocate(ctrl, req, r->slba, r->nlb);
		if (st == BLOCK_OK)
			*submitted = true;
		return st;
	}
	return BLOCK_OK;
}

static void nvme_io_count(struct nvme_ctrl *ctrl, const struct nvme_request *req)
{
	counter_add(&ctrl->counters.requests, 1);
	if (req->opcode == NVME_IO_READ) {
		counter_add(&ctrl->counters.bytes_read, req->bytes);
		ctrl->host_reads++;
		ctrl->units_read += req->bytes / NVME_LBA_SIZE;
	} else if (req->opcode == NVME_IO_WRITE) {
		counter_add(&ctrl->counters.bytes_written, req->bytes);
		ctrl->host_writes++;
		ctrl->units_written += req->bytes / NVME_LBA_SIZE;
	}
}

static void nvme_io_done(void *cookie, enum block_status status, uint64_t bytes)
{
	struct nvme_request *req = cookie;
	struct nvme_ctrl *ctrl = req->ctrl;
	ctrl->engine_inflight--;
	if (ctrl->dying || req->generation != ctrl->generation) {
		nvme_request_release(req);   /* reset or teardown: nothing to post */
		nvme_after_engine_completion(ctrl);
		return;
	}
	bool write = req->opcode != NVME_IO_READ;
	if (status == BLOCK_OK && req->opcode == NVME_IO_READ && bytes != req->bytes)
		status = BLOCK_IO_ERROR;   /* short read: the image shrank under us */
	if (status == BLOCK_OK && req->flush_after) {
		req->flush_after = false;
		status = block_engine_flush(ctrl->disk.engine, &req->blk, nvme_io_done, req);
		if (status == BLOCK_OK) {
			ctrl->engine_inflight++;
			return;
		}
	}
	if (status == BLOCK_OK && req->dsm) {
		bool submitted;
		status = nvme_dsm_next(ctrl, req, &submitted);
		if (submitted) {
			ctrl->engine_inflight++;
			return;
		}
	}
	if (status == BLOCK_OK)
		nvme_io_count(ctrl, req);
	nvme_request_complete(req, nvme_status_from_block(status, write), 0);
	nvme_after_engine_completion(ctrl);
}

static void nvme_io_submitted(struct nvme_ctrl *ctrl, struct nvme_request *req, enum block_status st,
			      bool write)
{
	if (st == BLOCK_OK) {
		ctrl->engine_inflight++;
		return;
	}
	nvme_request_complete(req, nvme_status_from_block(st, write), 0);
}

static void nvme_io_rw(struct nvme_ctrl *ctrl, struct nvme_request *req, const struct nvme_sqe *sqe,
		       bool write)
{
	uint64_t slba = sqe->cdw10 | (uint64_t)sqe->cdw11 << 32;
	uint64_t nlb = (sqe->cdw12 & 0xffff) + 1ull;
	req->slba = slba;
	if (!nvme_lba_range_ok(ctrl, slba, nlb)) {
		nvme_fault(ctrl, "%s of LBAs %llu+%llu: the namespace has %llu", write ? "write" : "read",
			   (unsigned long long)slba, (unsigned long long)nlb,
			   (unsigned long long)ctrl->nsze);
		nvme_request_complete(req, NVME_SC_LBA_RANGE, 0);
		return;
	}
	uint64_t bytes = nlb * NVME_LBA_SIZE;
	if (bytes > NVME_MAX_TRANSFER) {
		nvme_fault(ctrl, "%s of %llu bytes exceeds MDTS (%u bytes)", write ? "write" : "read",
			   (unsigned long long)bytes, NVME_MAX_TRANSFER);
		nvme_request_complete(req, NVME_SC_INVALID_FIELD, 0);
		return;
	}
	if (write && block_engine_read_only(ctrl->disk.engine)) {
		nvme_request_complete(req, NVME_SC_NS_WRITE_PROTECTED, 0);
		return;
	}
	req->bytes = bytes;
	/* The device reads guest memory for a write and writes it for a read. */
	uint16_t st = nvme_prp_map(ctrl->dma, sqe->prp1, sqe->prp2, bytes,
				   write ? DMA_PERM_READ : DMA_PERM_WRITE, req->iov, NVME_MAX_IOV,
				   &req->iovcnt);
	if (st) {
		nvme_fault(ctrl, "%s cid %u: PRP1 0x%llx PRP2 0x%llx do not describe %llu bytes of "
			   "guest RAM (status 0x%x)", write ? "write" : "read", req->cid,
			   (unsigned long long)sqe->prp1, (unsigned long long)sqe->prp2,
			   (unsigned long long)bytes, st);
		nvme_request_complete(req, st, 0);
		return;
	}
	req->flush_after = write && ((sqe->cdw12 & NVME_RW_FUA) || !ctrl->write_cache) &&
			   (block_engine_caps(ctrl->disk.engine) & BLOCK_CAP_FLUSH);
	uint64_t off = slba * NVME_LBA_SIZE;
	enum block_status bst = write
		? block_engine_writev(ctrl->disk.engine, &req->blk, off, req->iov, req->iovcnt,
				      nvme_io_done, req)
		: block_engine_readv(ctrl->disk.engine, &req->blk, off, req->iov, req->iovcnt,
				     nvme_io_done, req);
	nvme_io_submitted(ctrl, req, bst, write);
}

static void nvme_io_flush(struct nvme_ctrl *ctrl, struct nvme_request *req)
{
	if (!(block_engine_caps(ctrl->disk.engine) & BLOCK_CAP_FLUSH)) {
		counter_add(&ctrl->counters.requests, 1);
		nvme_request_complete(req, NVME_SC_SUCCESS, 0);   /* nothing is cached */
		return;
	}
	nvme_io_submitted(ctrl, req, block_engine_flush(ctrl->disk.engine, &req->blk, nvme_io_done,
							req), true);
}

static void nvme_io_write_zeroes(struct nvme_ctrl *ctrl, struct nvme_request *req,
				 const struct nvme_sqe *sqe)
{
	uint64_t slba = sqe->cdw10 | (uint64_t)sqe->cdw11 << 32;
	uint64_t nlb = (sqe->cdw12 & 0xffff) + 1ull;
	req->slba = slba;
	if (!nvme_lba_range_ok(ctrl, slba, nlb)) {
		nvme_fault(ctrl, "write zeroes of LBAs %llu+%llu: the namespace has %llu",
			   (unsigned long long)slba, (unsigned long long)nlb,
			   (unsigned long long)ctrl->nsze);
		nvme_request_complete(req, NVME_SC_LBA_RANGE, 0);
		return;
	}
	if (block_engine_read_only(ctrl->disk.engine)) {
		nvme_request_complete(req, NVME_SC_NS_WRITE_PROTECTED, 0);
		return;
	}
	nvme_io_submitted(ctrl, req, block_engine_write_zeroes(ctrl->disk.engine, &req->blk,
							       slba * NVME_LBA_SIZE,
							       nlb * NVME_LBA_SIZE, nvme_io_done,
							       req), true);
}

static void nvme_io_dsm(struct nvme_ctrl *ctrl, struct nvme_request *req, const struct nvme_sqe *sqe)
{
	unsigned count = (sqe->cdw10 & 0xff) + 1;
	if (!(sqe->cdw11 & NVME_DSM_ATTR_DEALLOCATE)) {
		/* Only hints (integral read/write, ...): nothing to do. */
		counter_add(&ctrl->counters.requests, 1);
		nvme_request_complete(req, NVME_SC_SUCCESS, 0);
		return;
	}
	if (block_engine_read_only(ctrl->disk.engine)) {
		nvme_request_complete(req, NVME_SC_NS_WRITE_PROTECTED, 0);
		return;
	}
	req->dsm = calloc(count, sizeof(*req->dsm));
	if (!req->dsm) {
		nvme_request_complete(req, NVME_SC_INTERNAL, 0);
		return;
	}
	_Static_assert(sizeof(struct nvme_dsm_range) == 16, "DSM range is 16 bytes");
	uint16_t st = nvme_prp_from_guest(ctrl->dma, sqe->prp1, sqe->prp2, req->dsm,
					  (uint64_t)count * sizeof(*req->dsm));
	if (st) {
		nvme_fault(ctrl, "DSM cid %u: range list PRPs are not in guest RAM", req->cid);
		nvme_request_complete(req, st, 0);
		return;
	}
	for (unsigned i = 0; i < count; i++) {
		if (!nvme_lba_range_ok(ctrl, req->dsm[i].slba, req->dsm[i].nlb) && req->dsm[i].nlb) {
			nvme_fault(ctrl, "DSM range %u: LBAs %llu+%u past the namespace", i,
				   (unsigned long long)req->dsm[i].slba, req->dsm[i].nlb);
			req->slba = req->dsm[i].slba;
			nvme_request_complete(req, NVME_SC_LBA_RANGE, 0);
			return;
		}
	}
	req->dsm_count = count;
	req->dsm_next = 0;
	bool submitted;
	enum block_status bst = nvme_dsm_next(ctrl, req, &submitted);
	if (submitted) {
		ctrl->engine_inflight++;
		return;
	}
	if (bst == BLOCK_OK)
		counter_add(&ctrl->counters.requests, 1);
	nvme_request_complete(req, nvme_status_from_block(bst, true), 0);
}

void nvme_io_execute(struct nvme_ctrl *ctrl, struct nvme_request *req, const struct nvme_sqe *sqe)
{
	if (sqe->flags & 0xc3) {
		/* Fused operations and SGLs are not offered (Identify says so). */
		nvme_request_complete(req, NVME_SC_INVALID_FIELD, 0);
		return;
	}
	switch (sqe->opcode) {
	case NVME_IO_FLUSH:
	case NVME_IO_WRITE:
	case NVME_IO_READ:
	case NVME_IO_WRITE_ZEROES:
	case NVME_IO_DSM:
		break;
	default:
		nvme_fault(ctrl, "I/O command opcode 0x%02x (cid %u) is not supported", sqe->opcode,
			   sqe->cid);
		nvme_request_complete(req, NVME_SC_INVALID_OPCODE, 0);
		return;
	}
	bool broadcast_ok = sqe->opcode == NVME_IO_FLUSH && sqe->nsid == 0xffffffffu;
	if (sqe->nsid != NVME_NSID && !broadcast_ok) {
		nvme_fault(ctrl, "I/O command 0x%02x (cid %u) for namespace %u: only namespace %u "
			   "exists", sqe->opcode, sqe->cid, sqe->nsid, NVME_NSID);
		nvme_request_complete(req, NVME_SC_INVALID_NAMESPACE, 0);
		return;
	}
	switch (sqe->opcode) {
	case NVME_IO_FLUSH: nvme_io_flush(ctrl, req); break;
	case NVME_IO_WRITE: nvme_io_rw(ctrl, req, sqe, true); break;
	case NVME_IO_READ: nvme_io_rw(ctrl, req, sqe, false); break;
	case NVME_IO_WRITE_ZEROES: nvme_io_write_zeroes(ctrl, req, sqe); break;
	case NVME_IO_DSM: nvme_io_dsm(ctrl, req, sqe); break;
	}
}
