/* virtio-blk over the virtio-pci transport (`--disk model=split`): requests
 * from the virtqueues go to the shared block engine (core/disk_backend.h)
 * with the guest's buffers as iovecs, so data is never copied by the VMM.
 * Completions arrive on the I/O thread, which writes the status byte,
 * publishes the used entry and interrupts the driver if it wants one.
 *
 * A request the device cannot carry out (bad buffers, out of range, wrong
 * direction, oversized) ends with VIRTIO_BLK_S_IOERR and a logged fault; an
 * unknown or unnegotiated type with VIRTIO_BLK_S_UNSUPP. Without a writable
 * status byte the chain is returned with used length 0. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/device.h"
#include "core/disk_backend.h"
#include "core/log.h"
#include "core/vm.h"
#include "iommu/dma_space.h"
#include "split/virtio_pci.h"
#include "split/virtio_spec.h"

#define VIRTIO_BLK_QUEUE_SIZE   256
#define VIRTIO_BLK_MAX_QUEUES   8
#define VIRTIO_BLK_SEG_MAX      126u           /* data segments per request */
#define VIRTIO_BLK_SIZE_MAX     (1u << 20)     /* bytes per segment */
/* Header and status besides the data; each descriptor may straddle the
 * boundary between two RAM regions and come out as two pieces. */
#define VIRTIO_BLK_REQ_IOV      (2 * (VIRTIO_BLK_SEG_MAX + 2))
#define VIRTIO_BLK_MAX_DWZ_SECTORS (1u << 22)  /* 2 GiB per discard / write-zeroes */
#define VIRTIO_BLK_CLASS        0x010000u      /* mass storage, SCSI: what drivers expect */

struct virtio_blk;
struct virtio_blk_queue;

struct virtio_blk_req {
	struct block_request breq;
	struct virtio_blk_queue *bq;
	struct virtio_blk_req *next_free;
	uint32_t generation;
	uint32_t type;
	uint64_t status_gpa;
	uint32_t used_len;       /* bytes written into the chain, status byte included */
	uint64_t data_len;
	struct virtqueue_chain chain;
	struct iovec iov[VIRTIO_BLK_REQ_IOV];
};

struct virtio_blk_queue {
	struct virtio_blk *blk;
	unsigned index;
	struct virtio_blk_req *reqs;
	struct virtio_blk_req *free;
	bool starved;            /* stopped taking chains: every request slot busy */
};

struct virtio_blk {
	struct virtio_pci vdev;
	struct device_counters counters;
	struct vm *vm;
	struct disk_backend disk;
	bool disk_open;
	unsigned nqueues;
	struct virtio_blk_queue queues[VIRTIO_BLK_MAX_QUEUES];
	uint32_t generation;     /* bumped by each driver reset (I/O thread) */
	atomic_uint inflight;    /* requests on the block engine */
	uint64_t capacity;       /* 512-byte sectors */
	unsigned caps;
	bool read_only;
	char id[VIRTIO_BLK_ID_BYTES];
};

static uint32_t le32_at(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t le64_at(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static void put_le16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put_le32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_le64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* --- Completion --- */

static void blk_req_free(struct virtio_blk_req *req)
{
	struct virtio_blk_queue *bq = req->bq;
	req->next_free = bq->free;
	bq->free = req;
}

/* Status byte, used entry; the caller decides about the interrupt. */
static void blk_req_finish(struct virtio_blk_req *req, uint8_t status)
{
	struct virtio_blk *blk = req->bq->blk;
	struct virtqueue *vq = virtio_pci_vq(&blk->vdev, req->bq->index);
	uint32_t used_len = req->used_len;
	if (status != VIRTIO_BLK_S_OK)
		used_len = 1;
	if (dma_write(blk->vm->dma, req->status_gpa, &status, 1) < 0)
		used_len = 0;   /* the fault is the DMA space's to count */
	virtqueue_push(vq, req->chain.head, used_len);
	counter_add(&blk->counters.requests, 1);
	blk_req_free(req);
}

/* A chain with no usable status byte still goes back to the driver. */
static void blk_req_return_unanswered(struct virtio_blk_req *req)
{
	struct virtio_blk *blk = req->bq->blk;
	virtqueue_push(virtio_pci_vq(&blk->vdev, req->bq->index), req->chain.head, 0);
	blk_req_free(req);
}

static void blk_process(struct virtio_blk_queue *bq);

static void blk_engine_done(void *cookie, enum block_status status, uint64_t bytes)
{
	struct virtio_blk_req *req = cookie;
	struct virtio_blk_queue *bq = req->bq;
	struct virtio_blk *blk = bq->blk;
	atomic_fetch_sub(&blk->inflight, 1);
	if (req->generation != blk->generation) {
		/* The driver reset the device meanwhile: its rings are gone. */
		blk_req_free(req);
		return;
	}
	uint8_t vstatus = VIRTIO_BLK_S_OK;
	if (status == BLOCK_UNSUPPORTED)
		vstatus = VIRTIO_BLK_S_UNSUPP;
	else if (status != BLOCK_OK)
		vstatus = VIRTIO_BLK_S_IOERR;
	if (vstatus == VIRTIO_BLK_S_OK) {
		if (req->type == VIRTIO_BLK_T_IN) {
			counter_add(&blk->counters.bytes_read, bytes);
			req->used_len = (uint32_t)bytes + 1;
		} else if (req->type == VIRTIO_BLK_T_OUT) {
			counter_add(&blk->counters.bytes_written, bytes);
		}
	} else {
		log_debug("%s: request type %u: host I/O ended %s", blk->vdev.name, req->type,
			  block_status_name(status));
	}
	blk_req_finish(req, vstatus);
	virtio_pci_queue_interrupt(&blk->vdev, bq->index);
	if (bq->starved) {
		bq->starved = false;
		blk_process(bq);
	}
}

/* --- Request decoding --- */

/* Refuses one request: counted and logged, IOERR to the driver. */
static void blk_req_fail(struct virtio_blk_req *req, const char *why)
{
	struct virtio_blk *blk = req->bq->blk;
	virtio_pci_fault(&blk->vdev, "queue %u request at head %u: %s", req->bq->index,
			 req->chain.head, why);
	blk_req_finish(req, VIRTIO_BLK_S_IOERR);
}

static enum block_status blk_submit_rw(struct virtio_blk_req *req, uint64_t sector, bool write)
{
	struct virtio_blk *blk = req->bq->blk;
	struct virtqueue_chain *chain = &req->chain;
	unsigned n;
	struct iovec *iov = write ? virtqueue_chain_trim(chain, false, VIRTIO_BLK_REQ_HDR_SIZE, 0, &n)
				  : virtqueue_chain_trim(chain, true, 0, 1, &n);
	return write ? block_engine_writev(blk->disk.engine, &req->breq,
					   sector * VIRTIO_BLK_SECTOR_SIZE, iov, n, blk_engine_done, req)
		     : block_engine_readv(blk->disk.engine, &req->breq,
					  sector * VIRTIO_BLK_SECTOR_SIZE, iov, n, blk_engine_done, req);
}

static bool blk_range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t sectors)
{
	return sector <= blk->capacity && sectors <= blk->capacity - sector;
}

/* Returns true when the request went to the block engine (it completes
 * later); false when it was answered here. */
static bool blk_req_start(struct virtio_blk_req *req)
{
	struct virtio_blk *blk = req->bq->blk;
	struct virtio_pci *vdev = &blk->vdev;
	struct virtqueue_chain *chain = &req->chain;
	req->generation = blk->generation;
	req->used_len = 1;
	if (!chain->last_writable || chain->last_len == 0) {
		virtio_pci_fault(vdev, "queue %u request at head %u: the last buffer is not a "
				 "device-writable status byte; returned unanswered", req->bq->index,
				 chain->head);
		blk_req_return_unanswered(req);
		return false;
	}
	req->status_gpa = chain->last_addr + chain->last_len - 1;
	if (chain->error) {
		char why[96];
		snprintf(why, sizeof(why), "%s", virtqueue_chain_error_name(chain->error));
		blk_req_fail(req, why);
		return false;
	}
	uint8_t hdr[VIRTIO_BLK_REQ_HDR_SIZE];
	if (chain->readable_bytes < sizeof(hdr) ||
	    virtqueue_chain_copy_from(chain, 0, hdr, sizeof(hdr)) != sizeof(hdr)) {
		blk_req_fail(req, "no 16-byte device-readable request header");
		return false;
	}
	req->type = le32_at(hdr);
	uint64_t sector = le64_at(hdr + 8);
	uint64_t extra_readable = chain->readable_bytes - sizeof(hdr);
	uint64_t extra_writable = chain->writable_bytes - 1;
	if (chain->max_desc_len > VIRTIO_BLK_SIZE_MAX) {
		blk_req_fail(req, "a buffer is larger than size_max");
		return false;
	}
	enum block_status submitted;
	switch (req->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		bool write = req->type == VIRTIO_BLK_T_OUT;
		uint64_t len = write ? extra_readable : extra_writable;
		if (write ? extra_writable != 0 : extra_readable != 0) {
			blk_req_fail(req, write ? "write with device-writable data buffers"
						: "read with device-readable data buffers");
			return false;
		}
		if (len % VIRTIO_BLK_SECTOR_SIZE) {
			blk_req_fail(req, "data length is not a multiple of 512 bytes");
			return false;
		}
		if (!blk_range_ok(blk, sector, len / VIRTIO_BLK_SECTOR_SIZE)) {
			blk_req_fail(req, "sectors beyond the end of the disk");
			return false;
		}
		if (write && blk->read_only) {
			blk_req_fail(req, "write to a read-only disk");
			return false;
		}
		if (len == 0) {
			blk_req_finish(req, VIRTIO_BLK_S_OK);
			return false;
		}
		req->data_len = len;
		submitted = blk_submit_rw(req, sector, write);
		break;
	}
	case VIRTIO_BLK_T_FLUSH:
		if (!virtio_pci_has_feature(vdev, VIRTIO_BLK_F_FLUSH)) {
			blk_req_finish(req, VIRTIO_BLK_S_UNSUPP);
			return false;
		}
		submitted = block_engine_flush(blk->disk.engine, &req->breq, blk_engine_done, req);
		break;
	case VIRTIO_BLK_T_GET_ID: {
		size_t n = extra_writable < VIRTIO_BLK_ID_BYTES ? (size_t)extra_writable
								: VIRTIO_BLK_ID_BYTES;
		virtqueue_chain_copy_to(chain, 0, blk->id, n);
		req->used_len = (uint32_t)n + 1;
		blk_req_finish(req, VIRTIO_BLK_S_OK);
		return false;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		bool discard = req->type == VIRTIO_BLK_T_DISCARD;
		if (!virtio_pci_has_feature(vdev, discard ? VIRTIO_BLK_F_DISCARD
							  : VIRTIO_BLK_F_WRITE_ZEROES)) {
			blk_req_finish(req, VIRTIO_BLK_S_UNSUPP);
			return false;
		}
		uint8_t seg[VIRTIO_BLK_DWZ_SEG_SIZE];
		if (extra_readable != sizeof(seg) ||
		    virtqueue_chain_copy_from(chain, VIRTIO_BLK_REQ_HDR_SIZE, seg, sizeof(seg)) !=
			    sizeof(seg)) {
			blk_req_fail(req, "discard/write-zeroes needs exactly one 16-byte segment "
					  "(max_discard_seg and max_write_zeroes_seg are 1)");
			return false;
		}
		uint64_t start = le64_at(seg);
		uint32_t count = le32_at(seg + 8), flags = le32_at(seg + 12);
		/* The unmap bit is meaningless for discard and the rest reserved. */
		if ((flags & ~VIRTIO_BLK_WZ_FLAG_UNMAP) || (discard && flags)) {
			blk_req_finish(req, VIRTIO_BLK_S_UNSUPP);
			return false;
		}
		if (count == 0 || count > VIRTIO_BLK_MAX_DWZ_SECTORS ||
		    !blk_range_ok(blk, start, count)) {
			blk_req_fail(req, "discard/write-zeroes range is empty, too long or beyond "
					  "the end of the disk");
			return false;
		}
		uint64_t offset = start * VIRTIO_BLK_SECTOR_SIZE;
		uint64_t len = (uint64_t)count * VIRTIO_BLK_SECTOR_SIZE;
		submitted = discard ? block_engine_discard(blk->disk.engine, &req->breq, offset, len,
							   blk_engine_done, req)
				    : block_engine_write_zeroes(blk->disk.engine, &req->breq, offset,
								len, blk_engine_done, req);
		break;
	}
	default:
		blk_req_finish(req, VIRTIO_BLK_S_UNSUPP);
		return false;
	}
	if (submitted != BLOCK_OK) {
		log_debug("%s: request type %u refused by the block engine: %s", vdev->name,
			  req->type, block_status_name(submitted));
		blk_req_finish(req, submitted == BLOCK_UNSUPPORTED ? VIRTIO_BLK_S_UNSUPP
								   : VIRTIO_BLK_S_IOERR);
		return false;
	}
	atomic_fetch_add(&blk->inflight, 1);
	return true;
}

static void blk_process(struct virtio_blk_queue *bq)
{
	struct virtio_blk *blk = bq->blk;
	struct virtqueue *vq = virtio_pci_vq(&blk->vdev, bq->index);
	bool answered = false;
	for (;;) {
		while (bq->free) {
			struct virtio_blk_req *req = bq->free;
			req->chain.iov = req->iov;
			req->chain.iov_cap = VIRTIO_BLK_REQ_IOV;
			if (virtqueue_pop(vq, &req->chain) != VIRTQUEUE_GOT_CHAIN)
				break;
			bq->free = req->next_free;
			if (!blk_req_start(req))
				answered = true;
		}
		if (!bq->free) {
			/* A completion frees a slot and brings us back. */
			bq->starved = true;
			break;
		}
		virtqueue_set_notification(vq, true);
		if (!virtqueue_pending(vq))
			break;
	}
	if (answered)
		virtio_pci_queue_interrupt(&blk->vdev, bq->index);
}

/* --- Transport callbacks (I/O thread) --- */

static void blk_queue_notify(void *opaque, unsigned q)
{
	struct virtio_blk *blk = opaque;
	if (q < blk->nqueues)
		blk_process(&blk->queues[q]);
}

static void blk_reset(void *opaque)
{
	struct virtio_blk *blk = opaque;
	/* Requests in flight finish on the host but no longer reach the rings. */
	blk->generation++;
	for (unsigned q = 0; q < blk->nqueues; q++)
		blk->queues[q].starved = false;
}

static bool blk_busy(void *opaque)
{
	struct virtio_blk *blk = opaque;
	return atomic_load(&blk->inflight) != 0;
}

static const struct virtio_device_ops virtio_blk_device_ops = {
	.queue_notify = blk_queue_notify,
	.reset = blk_reset,
	.busy = blk_busy,
};

/* --- Device model --- */

static void blk_free(struct virtio_blk *blk)
{
	virtio_pci_quiesce(&blk->vdev);
	if (blk->disk_open)
		disk_backend_close(blk->vm, &blk->disk);   /* reaps what is in flight */
	virtio_pci_fini(&blk->vdev);
	for (unsigned q = 0; q < VIRTIO_BLK_MAX_QUEUES; q++)
		free(blk->queues[q].reqs);
	free(blk);
}

static int blk_check_options(const struct device_spec *spec, unsigned *nqueues, char *err,
			     size_t errlen)
{
	*nqueues = 1;
	for (unsigned i = 0; i < spec->noptions; i++) {
		const char *key = spec->options[i].key;
		bool known = strcmp(key, "queues") == 0;
		for (unsigned k = 0; !known && disk_backend_option_keys[k]; k++)
			known = strcmp(key, disk_backend_option_keys[k]) == 0;
		if (!known) {
			snprintf(err, errlen, "%s: the split disk has no option '%s' (it takes path=, "
				 "size=, readonly=, direct=, qd=, queues=)", spec->text, key);
			return -1;
		}
	}
	const char *text = device_spec_get(spec, "queues");
	uint64_t n = 1;
	if (text && cli_parse_uint(text, 1, VIRTIO_BLK_MAX_QUEUES, &n) < 0) {
		snprintf(err, errlen, "%s: queues=%s: give a number of request queues from 1 to %d",
			 spec->text, text, VIRTIO_BLK_MAX_QUEUES);
		return -1;
	}
	*nqueues = (unsigned)n;
	return 0;
}

static void blk_make_id(struct virtio_blk *blk, const struct device_spec *spec)
{
	/* The serial the guest sees: the image's file name, so disks can be
	 * told apart; 20 bytes, NUL-padded (not terminated when full). */
	const char *path = device_spec_get(spec, "path");
	const char *base = path ? strrchr(path, '/') : NULL;
	base = base ? base + 1 : path;
	char text[64];
	snprintf(text, sizeof(text), "iovirt-%s", base && *base ? base : "temp");
	memset(blk->id, 0, sizeof(blk->id));
	memcpy(blk->id, text, strnlen(text, sizeof(blk->id)));
}

static int blk_realize(struct vm *vm, const struct device_spec *spec, void **state, char *err,
		       size_t errlen)
{
	unsigned nqueues;
	if (blk_check_options(spec, &nqueues, err, errlen) < 0)
		return -1;
	struct virtio_blk *blk = calloc(1, sizeof(*blk));
	if (!blk) {
		snprintf(err, errlen, "%s: out of memory", spec->text);
		return -1;
	}
	blk->vm = vm;
	blk->nqueues = nqueues;
	for (unsigned q = 0; q < nqueues; q++) {
		struct virtio_blk_queue *bq = &blk->queues[q];
		bq->blk = blk;
		bq->index = q;
		bq->reqs = calloc(VIRTIO_BLK_QUEUE_SIZE, sizeof(*bq->reqs));
		if (!bq->reqs) {
			snprintf(err, errlen, "%s: out of memory", spec->text);
			free(blk);
			return -1;
		}
		for (unsigned i = VIRTIO_BLK_QUEUE_SIZE; i-- > 0;) {
			bq->reqs[i].bq = bq;
			blk_req_free(&bq->reqs[i]);
		}
	}
	if (disk_backend_open(vm, spec, &blk->disk, err, errlen) < 0) {
		for (unsigned q = 0; q < nqueues; q++)
			free(blk->queues[q].reqs);
		free(blk);
		return -1;
	}
	blk->disk_open = true;
	blk->caps = block_engine_caps(blk->disk.engine);
	blk->read_only = block_engine_read_only(blk->disk.engine);
	blk->capacity = block_engine_size(blk->disk.engine) / VIRTIO_BLK_SECTOR_SIZE;
	blk_make_id(blk, spec);

	uint64_t features = VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
			    VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE);
	if (blk->caps & BLOCK_CAP_FLUSH)
		features |= VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	if (blk->read_only)
		features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	else {
		if (blk->caps & BLOCK_CAP_DISCARD)
			features |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD);
		if (blk->caps & BLOCK_CAP_WRITE_ZEROES)
			features |= VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	}
	if (nqueues > 1)
		features |= VIRTIO_BIT(VIRTIO_BLK_F_MQ);

	uint8_t config[VIRTIO_BLK_CFG_SIZE] = { 0 };
	put_le64(config + VIRTIO_BLK_CFG_CAPACITY, blk->capacity);
	put_le32(config + VIRTIO_BLK_CFG_SIZE_MAX, VIRTIO_BLK_SIZE_MAX);
	put_le32(config + VIRTIO_BLK_CFG_SEG_MAX, VIRTIO_BLK_SEG_MAX);
	put_le32(config + VIRTIO_BLK_CFG_BLK_SIZE, VIRTIO_BLK_SECTOR_SIZE);
	put_le16(config + VIRTIO_BLK_CFG_NUM_QUEUES, (uint16_t)nqueues);
	put_le32(config + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, VIRTIO_BLK_MAX_DWZ_SECTORS);
	put_le32(config + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, 1);
	put_le32(config + VIRTIO_BLK_CFG_DISCARD_ALIGN, 1);
	put_le32(config + VIRTIO_BLK_CFG_MAX_WZ_SECTORS, VIRTIO_BLK_MAX_DWZ_SECTORS);
	put_le32(config + VIRTIO_BLK_CFG_MAX_WZ_SEG, 1);
	config[VIRTIO_BLK_CFG_WZ_MAY_UNMAP] = 1;

	const struct virtio_pci_config tc = {
		.name = "virtio-blk",
		.device_type = VIRTIO_ID_BLOCK,
		.class_code = VIRTIO_BLK_CLASS,
		.device_features = features,
		.nqueues = nqueues,
		.queue_size_max = VIRTIO_BLK_QUEUE_SIZE,
		.device_config = config,
		.device_config_size = sizeof(config),
		.ops = &virtio_blk_device_ops,
		.opaque = blk,
		.counters = &blk->counters,
	};
	char why[256];
	if (virtio_pci_init(&blk->vdev, vm, &tc, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", spec->text, why);
		disk_backend_close(vm, &blk->disk);
		for (unsigned q = 0; q < nqueues; q++)
			free(blk->queues[q].reqs);
		free(blk);
		return -1;
	}
	*state = blk;
	return 0;
}

static void blk_model_reset(void *state)
{
	struct virtio_blk *blk = state;
	virtio_pci_reset(&blk->vdev);
}

/* Saving needs the rings' device-side indices and requests in flight
 * drained; not done yet, so migration of this model is refused. */
static int blk_save_state(void *state, struct device_state_buf *out)
{
	(void)state;
	(void)out;
	log_error("virtio-blk (split): saving device state is not supported yet");
	return -1;
}

static int blk_load_state(void *state, struct device_state_buf *in)
{
	(void)state;
	(void)in;
	log_error("virtio-blk (split): loading device state is not supported yet");
	return -1;
}

static struct device_counters *blk_stats(void *state)
{
	return &((struct virtio_blk *)state)->counters;
}

static void blk_teardown(void *state)
{
	blk_free(state);
}

static const struct device_model_ops virtio_blk_model_ops = {
	.function = "disk",
	.model = "split",
	.summary = "virtio-blk (modern virtio-pci, split rings) on the io_uring block engine",
	.realize = blk_realize,
	.reset = blk_model_reset,
	.save_state = blk_save_state,
	.load_state = blk_load_state,
	.stats = blk_stats,
	.teardown = blk_teardown,
};

DEVICE_MODEL_REGISTER(virtio_blk_model_ops)
