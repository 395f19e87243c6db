/* A split virtqueue from the driver side: the descriptor table with its free
 * list, the available ring the driver publishes to, the used ring it reaps,
 * and both directions of notification suppression (VIRTIO_F_RING_EVENT_IDX,
 * or the flags when it is not negotiated).
 *
 * The guest is identity-mapped, so ring and buffer addresses are
 * guest-physical. Tokens are small numbers the caller picks per chain (a
 * request tag, a buffer index); the used ring gives them back. */
#ifndef IOVIRT_GUEST_VIRTQUEUE_H
#define IOVIRT_GUEST_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>

#define VIRTQ_DESC_F_NEXT     1u
#define VIRTQ_DESC_F_WRITE    2u
#define VIRTQ_DESC_F_INDIRECT 4u

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u
#define VIRTQ_USED_F_NO_NOTIFY     1u

/* The largest ring this driver sets up (and the most tokens it tracks). */
#define VIRTQ_MAX_SIZE 256u

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];      /* then used_event */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[];   /* then avail_event */
};

/* One buffer of a chain: device_writes marks the parts the device fills. */
struct virtq_buf {
	uint64_t addr;
	uint32_t len;
	bool device_writes;
};

struct virtq {
	uint16_t index;             /* queue number on the device */
	uint16_t size;              /* a power of two, <= VIRTQ_MAX_SIZE */
	bool event_idx;             /* VIRTIO_F_RING_EVENT_IDX negotiated */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	volatile uint16_t *used_event;   /* in the avail ring, after ring[size] */
	volatile uint16_t *avail_event;  /* in the used ring, after ring[size] */
	uint64_t notify_addr;       /* 16-bit write of index = notification */

	uint16_t free_head;         /* descriptor free list, chained by next */
	uint16_t num_free;
	uint16_t avail_idx;         /* our copy of avail->idx */
	uint16_t kicked_avail_idx;  /* avail_idx at the last notification check */
	uint16_t last_used_idx;     /* next used entry to reap */
	uint16_t head_token[VIRTQ_MAX_SIZE];  /* token per chain head */
	uint16_t head_count[VIRTQ_MAX_SIZE];  /* descriptors per chain head; 0 = free */
	uint16_t head_tail[VIRTQ_MAX_SIZE];   /* last descriptor of each chain */

	uint64_t notifications;     /* notify writes actually made */
};

/* Bytes of the three parts for a ring of `size` entries (each part gets its
 * own page-aligned allocation, so alignment is never an issue). */
uint64_t virtq_desc_bytes(uint16_t size);
uint64_t virtq_avail_bytes(uint16_t size);
uint64_t virtq_used_bytes(uint16_t size);

/* Allocates the (zeroed) rings and builds the free list. The device starts
 * without interrupts requested: see virtq_arm_interrupt. NULL on success,
 * else a one-line reason. */
const char *virtq_init(struct virtq *q, uint16_t index, uint16_t size, bool event_idx);

/* Queues a chain of n buffers, device-readable ones first, as direct
 * descriptors. Not visible to the device until virtq_publish. 0, or -1 when
 * the chain does not fit (or n is 0). */
int virtq_add_chain(struct virtq *q, const struct virtq_buf *bufs, unsigned n, uint16_t token);
/* The same through one indirect descriptor: the caller's table (16-byte
 * aligned, n entries, stays untouched until the chain is used) is filled in. */
int virtq_add_indirect(struct virtq *q, struct virtq_desc *table, const struct virtq_buf *bufs,
		       unsigned n, uint16_t token);

/* Makes everything added so far visible to the device (one store of
 * avail->idx, after the entries). */
void virtq_publish(struct virtq *q);
/* Publishes, then notifies the device if it asked to hear about the entries
 * added since the last kick (avail_event, or the NO_NOTIFY flag). True if a
 * notification was written. */
bool virtq_kick(struct virtq *q);

/* True if the device has used entries not yet reaped. */
bool virtq_has_used(const struct virtq *q);
/* Takes the next used chain: its token and the bytes the device wrote; frees
 * its descriptors. False when none is waiting, or (with *bad set) when the
 * device named a descriptor that is not the head of a chain in flight; the
 * entry is skipped then. */
bool virtq_get_used(struct virtq *q, uint16_t *token, uint32_t *written, bool *bad);

/* Asks for an interrupt at the next used entry (used_event = last reaped, or
 * the NO_INTERRUPT flag cleared). Returns true if used entries are already
 * waiting, so the caller must not sleep. */
bool virtq_arm_interrupt(struct virtq *q);
/* Withdraws the request (without event idx: sets NO_INTERRUPT again; with it,
 * the device raises at most the one interrupt it was asked for). */
void virtq_disarm_interrupt(struct virtq *q);

#endif
