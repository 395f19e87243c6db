/* The device side of a virtio split virtqueue: the three rings in guest
 * memory (descriptor table, available ring, used ring), walked only through
 * iommu/ with every guest-supplied index, address and length checked.
 *
 * Errors come in two weights:
 *  - the ring itself is corrupt (the available index jumped by more than the
 *    queue size, a head or next index out of range, a descriptor loop or a
 *    chain longer than the queue, a malformed or nested indirect table): the
 *    device cannot tell which buffers are the driver's, so the queue stops
 *    ("broken") and the transport sets DEVICE_NEEDS_RESET;
 *  - one chain's buffers are unusable (outside guest memory, zero length,
 *    too big, a readable buffer after a writable one, too many pieces): the
 *    chain is still consumed and handed to the device with chain->error set,
 *    so the device fails that one request and goes on.
 *
 * Threads: one owner at a time (the VM's I/O thread once the queue runs). */
#ifndef IOVIRT_SPLIT_VIRTQUEUE_H
#define IOVIRT_SPLIT_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct dma_space;
struct virtqueue;

#define VIRTQUEUE_MAX_SIZE       32768u
/* Entries an indirect table may hold: far above what drivers use (Linux
 * sizes tables by segment count), low enough to bound the walk. */
#define VIRTQUEUE_INDIRECT_MAX   1024u

enum virtqueue_chain_error {
	VIRTQUEUE_CHAIN_OK = 0,
	VIRTQUEUE_CHAIN_BAD_ADDRESS,   /* a buffer lies outside what the DMA space maps */
	VIRTQUEUE_CHAIN_ZERO_LENGTH,   /* a descriptor of length 0 */
	VIRTQUEUE_CHAIN_TOO_BIG,       /* more than 4 GiB in one chain */
	VIRTQUEUE_CHAIN_BAD_ORDER,     /* a device-readable buffer after a writable one */
	VIRTQUEUE_CHAIN_TOO_MANY_IOV,  /* more pieces than the device's iovec array holds */
};

const char *virtqueue_chain_error_name(enum virtqueue_chain_error error);

/* One descriptor chain as the device sees it: host iovecs into guest memory,
 * device-readable ones first (iov[0..nreadable)), then writable ones. */
struct virtqueue_chain {
	struct iovec *iov;          /* caller's array ... */
	unsigned iov_cap;           /* ... and its size */
	uint16_t head;              /* what goes back in the used ring */
	unsigned niov, nreadable;
	uint64_t readable_bytes, writable_bytes;
	unsigned ndesc;             /* buffer descriptors walked (not counting an indirect one) */
	uint32_t max_desc_len;      /* the longest buffer descriptor */
	/* The last buffer descriptor, so a device can still write a status
	 * byte (virtio-blk) into a chain whose other buffers were refused. */
	uint64_t last_addr;
	uint32_t last_len;
	bool last_writable;
	enum virtqueue_chain_error error;
};

/* Told about guest mistakes: fatal ones broke the queue. */
typedef void (*virtqueue_report_fn)(void *opaque, struct virtqueue *vq, bool fatal,
				    const char *message);

struct virtqueue {
	struct dma_space *dma;
	unsigned index;
	virtqueue_report_fn report;
	void *report_opaque;

	uint16_t size;
	bool ready;                 /* set up and not stopped */
	bool broken;                /* stopped by a corrupt ring until reset */
	bool event_idx;             /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;              /* VIRTIO_F_INDIRECT_DESC negotiated */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint8_t *desc, *avail, *used;   /* host views, translated once at setup */

	uint16_t last_avail;        /* next available-ring entry to take */
	uint16_t used_idx;          /* our copy of used->idx (incl. unpublished entries) */
	uint16_t published_used;    /* what used->idx holds */
	uint16_t signalled_used;    /* used->idx at the last interrupt decision */
};

/* Resets vq to "not set up", keeping dma, index and report. */
void virtqueue_init(struct virtqueue *vq, struct dma_space *dma, unsigned index,
		    virtqueue_report_fn report, void *opaque);
void virtqueue_reset(struct virtqueue *vq);

/* Checks size (a power of two, 1..VIRTQUEUE_MAX_SIZE), alignment and that
 * each ring lies in memory the DMA space maps with the access the device
 * needs; then the queue is ready with its indices at zero. Returns 0, or -1
 * with the reason in why. */
int virtqueue_setup(struct virtqueue *vq, uint16_t size, uint64_t desc_gpa, uint64_t avail_gpa,
		    uint64_t used_gpa, bool event_idx, bool indirect, char *why, size_t whylen);

enum virtqueue_pop_result {
	VIRTQUEUE_BROKEN = -1,      /* the ring is corrupt: the queue is stopped now */
	VIRTQUEUE_EMPTY = 0,
	VIRTQUEUE_GOT_CHAIN = 1,    /* chain filled; check chain->error */
};

/* Takes the next available chain. chain->iov/iov_cap must be set. */
enum virtqueue_pop_result virtqueue_pop(struct virtqueue *vq, struct virtqueue_chain *chain);
/* Gives back the last n chains taken and not yet pushed (a device that
 * found it could not use them yet). */
void virtqueue_unpop(struct virtqueue *vq, unsigned n);
/* The driver's available index as it is now (0 when not ready). */
uint16_t virtqueue_avail_idx(struct virtqueue *vq);
/* Available chains not taken yet (0 when not ready). */
unsigned virtqueue_pending(struct virtqueue *vq);

/* Writes a used element; the driver sees it at the next publish. */
void virtqueue_push_deferred(struct virtqueue *vq, uint16_t head, uint32_t len);
/* Makes pushed elements visible: used->idx with release ordering. */
void virtqueue_publish(struct virtqueue *vq);
static inline void virtqueue_push(struct virtqueue *vq, uint16_t head, uint32_t len)
{
	virtqueue_push_deferred(vq, head, len);
	virtqueue_publish(vq);
}

/* After publishing: does the driver want an interrupt for what was added
 * since the last call? Honours used_event (EVENT_IDX) or
 * VIRTQ_AVAIL_F_NO_INTERRUPT. */
bool virtqueue_should_interrupt(struct virtqueue *vq);

/* Asks the driver to notify (true) or not to bother (false) when it adds
 * buffers: avail_event with EVENT_IDX (set to the driver's current index:
 * a kick for anything added after now), VIRTQ_USED_F_NO_NOTIFY otherwise.
 * After enabling, re-check the available index: a buffer may have arrived
 * without a kick. */
void virtqueue_set_notification(struct virtqueue *vq, bool enable);

/* Copies between a chain's buffers and host memory. `offset` counts from
 * the start of the readable (copy_from) or writable (copy_to) part. Return
 * the bytes copied. */
size_t virtqueue_chain_copy_from(const struct virtqueue_chain *chain, uint64_t offset, void *dst,
				 size_t len);
size_t virtqueue_chain_copy_to(const struct virtqueue_chain *chain, uint64_t offset,
			       const void *src, size_t len);
/* Trims the chain's iovecs in place to [skip, total - drop_tail) of the
 * readable (writable false) or writable part and returns where that range
 * starts in chain->iov with *count iovecs. The chain's other accessors are
 * not valid afterwards. */
struct iovec *virtqueue_chain_trim(struct virtqueue_chain *chain, bool writable, uint64_t skip,
				   uint64_t drop_tail, unsigned *count);

#endif
