#include "split/virtqueue.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "iommu/dma_space.h"
#include "split/virtio_spec.h"

/* Guest memory is shared with running vCPUs: every ring field is read or
 * written exactly once through these, never cached across a decision. */
static inline uint16_t ring_load16(const uint8_t *p)
{
	return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED);
}

static inline void ring_store16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, v, __ATOMIC_RELAXED);
}

static inline void ring_store32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, v, __ATOMIC_RELAXED);
}

/* Ring field addresses. */
static inline uint8_t *avail_flags(struct virtqueue *vq) { return vq->avail; }
static inline uint8_t *avail_idx(struct virtqueue *vq) { return vq->avail + 2; }
static inline uint8_t *avail_entry(struct virtqueue *vq, uint16_t i)
{
	return vq->avail + VIRTQ_AVAIL_HDR_SIZE + 2u * i;
}
static inline uint8_t *used_event(struct virtqueue *vq) { return avail_entry(vq, vq->size); }
static inline uint8_t *used_flags(struct virtqueue *vq) { return vq->used; }
static inline uint8_t *used_idx(struct virtqueue *vq) { return vq->used + 2; }
static inline uint8_t *used_entry(struct virtqueue *vq, uint16_t i)
{
	return vq->used + VIRTQ_USED_HDR_SIZE + (size_t)VIRTQ_USED_ELEM_SIZE * i;
}
static inline uint8_t *avail_event(struct virtqueue *vq)
{
	return used_entry(vq, vq->size);
}

const char *virtqueue_chain_error_name(enum virtqueue_chain_error error)
{
	switch (error) {
	case VIRTQUEUE_CHAIN_OK: return "ok";
	case VIRTQUEUE_CHAIN_BAD_ADDRESS: return "a buffer outside guest memory";
	case VIRTQUEUE_CHAIN_ZERO_LENGTH: return "a zero-length buffer";
	case VIRTQUEUE_CHAIN_TOO_BIG: return "more than 4 GiB of buffers";
	case VIRTQUEUE_CHAIN_BAD_ORDER: return "a device-readable buffer after a writable one";
	case VIRTQUEUE_CHAIN_TOO_MANY_IOV: return "more buffer pieces than the device takes";
	}
	return "?";
}

static void vq_report(struct virtqueue *vq, bool fatal, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void vq_report(struct virtqueue *vq, bool fatal, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (vq->report)
		vq->report(vq->report_opaque, vq, fatal, msg);
}

/* The ring cannot be trusted any more: stop until the driver resets. */
static enum virtqueue_pop_result vq_break(struct virtqueue *vq, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static enum virtqueue_pop_result vq_break(struct virtqueue *vq, const char *fmt, ...)
{
	char msg[224];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vq->broken = true;
	vq_report(vq, true, "queue %u: %s; the queue is stopped until the driver resets the device",
		  vq->index, msg);
	return VIRTQUEUE_BROKEN;
}

void virtqueue_init(struct virtqueue *vq, struct dma_space *dma, unsigned index,
		    virtqueue_report_fn report, void *opaque)
{
	memset(vq, 0, sizeof(*vq));
	vq->dma = dma;
	vq->index = index;
	vq->report = report;
	vq->report_opaque = opaque;
}

void virtqueue_reset(struct virtqueue *vq)
{
	virtqueue_init(vq, vq->dma, vq->index, vq->report, vq->report_opaque);
}

static void *vq_map_ring(struct virtqueue *vq, const char *what, uint64_t gpa, uint64_t len,
			 uint64_t align, unsigned perm, char *why, size_t whylen)
{
	if (gpa % align) {
		snprintf(why, whylen, "%s address 0x%llx is not %llu-byte aligned", what,
			 (unsigned long long)gpa, (unsigned long long)align);
		return NULL;
	}
	void *p = dma_translate(vq->dma, gpa, len, perm);
	if (!p)
		snprintf(why, whylen, "%s 0x%llx+%llu is not in guest memory the device may %s",
			 what, (unsigned long long)gpa, (unsigned long long)len,
			 perm & DMA_PERM_WRITE ? "write" : "read");
	return p;
}

int virtqueue_setup(struct virtqueue *vq, uint16_t size, uint64_t desc_gpa, uint64_t avail_gpa,
		    uint64_t used_gpa, bool event_idx, bool indirect, char *why, size_t whylen)
{
	virtqueue_reset(vq);
	if (size == 0 || size > VIRTQUEUE_MAX_SIZE || (size & (size - 1))) {
		snprintf(why, whylen, "queue size %u is not a power of two in 1..%u", size,
			 VIRTQUEUE_MAX_SIZE);
		return -1;
	}
	/* The trailing event fields are always covered, negotiated or not. */
	uint64_t desc_len = (uint64_t)VIRTQ_DESC_SIZE * size;
	uint64_t avail_len = VIRTQ_AVAIL_HDR_SIZE + 2ull * size + 2;
	uint64_t used_len = VIRTQ_USED_HDR_SIZE + (uint64_t)VIRTQ_USED_ELEM_SIZE * size + 2;
	vq->desc = vq_map_ring(vq, "descriptor table", desc_gpa, desc_len, VIRTQ_DESC_ALIGN,
			       DMA_PERM_READ, why, whylen);
	if (!vq->desc)
		return -1;
	vq->avail = vq_map_ring(vq, "available ring", avail_gpa, avail_len, VIRTQ_AVAIL_ALIGN,
				DMA_PERM_READ, why, whylen);
	if (!vq->avail)
		return -1;
	vq->used = vq_map_ring(vq, "used ring", used_gpa, used_len, VIRTQ_USED_ALIGN,
			       DMA_PERM_RW, why, whylen);
	if (!vq->used)
		return -1;
	vq->size = size;
	vq->desc_gpa = desc_gpa;
	vq->avail_gpa = avail_gpa;
	vq->used_gpa = used_gpa;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->ready = true;
	return 0;
}

uint16_t virtqueue_avail_idx(struct virtqueue *vq)
{
	if (!vq->ready)
		return 0;
	return __atomic_load_n((uint16_t *)(void *)avail_idx(vq), __ATOMIC_ACQUIRE);
}

unsigned virtqueue_pending(struct virtqueue *vq)
{
	if (!vq->ready || vq->broken)
		return 0;
	uint16_t avail = __atomic_load_n((uint16_t *)(void *)avail_idx(vq), __ATOMIC_ACQUIRE);
	return (uint16_t)(avail - vq->last_avail);
}

static void chain_start(struct virtqueue_chain *chain, uint16_t head)
{
	chain->head = head;
	chain->niov = chain->nreadable = 0;
	chain->readable_bytes = chain->writable_bytes = 0;
	chain->ndesc = 0;
	chain->max_desc_len = 0;
	chain->last_addr = 0;
	chain->last_len = 0;
	chain->last_writable = false;
	chain->error = VIRTQUEUE_CHAIN_OK;
}

/* One buffer descriptor: problems here fail the request, not the queue.
 * The walk goes on after an error so the chain is consumed whole. */
static void chain_add_buffer(struct virtqueue *vq, struct virtqueue_chain *chain,
			     const struct virtq_desc *d)
{
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	chain->ndesc++;
	chain->last_addr = d->addr;
	chain->last_len = d->len;
	chain->last_writable = writable;
	if (d->len > chain->max_desc_len)
		chain->max_desc_len = d->len;
	if (chain->error)
		return;
	if (d->len == 0) {
		chain->error = VIRTQUEUE_CHAIN_ZERO_LENGTH;
		return;
	}
	if (!writable && chain->writable_bytes) {
		chain->error = VIRTQUEUE_CHAIN_BAD_ORDER;
		return;
	}
	if (chain->readable_bytes + chain->writable_bytes + d->len > UINT32_MAX) {
		chain->error = VIRTQUEUE_CHAIN_TOO_BIG;
		return;
	}
	if (chain->niov == chain->iov_cap) {
		chain->error = VIRTQUEUE_CHAIN_TOO_MANY_IOV;
		return;
	}
	unsigned n = 0;
	if (dma_translate_sg(vq->dma, d->addr, d->len, writable ? DMA_PERM_WRITE : DMA_PERM_READ,
			     chain->iov + chain->niov, chain->iov_cap - chain->niov, &n) < 0) {
		/* Most likely outside RAM; a range split into more pieces than we
		 * hold is the other way to get here. */
		chain->error = VIRTQUEUE_CHAIN_BAD_ADDRESS;
		return;
	}
	chain->niov += n;
	if (writable) {
		chain->writable_bytes += d->len;
	} else {
		chain->readable_bytes += d->len;
		chain->nreadable = chain->niov;
	}
}

static void desc_read(const uint8_t *table, unsigned i, struct virtq_desc *d)
{
	/* One copy: the driver may rewrite the entry while we look at it. */
	memcpy(d, table + (size_t)i * VIRTQ_DESC_SIZE, sizeof(*d));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

enum virtqueue_pop_result virtqueue_pop(struct virtqueue *vq, struct virtqueue_chain *chain)
{
	if (!vq->ready || vq->broken)
		return VIRTQUEUE_EMPTY;
	/* Acquire: the entries and descriptors were written before the index. */
	uint16_t avail = __atomic_load_n((uint16_t *)(void *)avail_idx(vq), __ATOMIC_ACQUIRE);
	uint16_t pending = (uint16_t)(avail - vq->last_avail);
	if (pending == 0)
		return VIRTQUEUE_EMPTY;
	if (pending > vq->size)
		return vq_break(vq, "available index moved from %u to %u, more than the queue "
				"size %u", vq->last_avail, avail, vq->size);
	uint16_t head = ring_load16(avail_entry(vq, vq->last_avail & (vq->size - 1)));
	if (head >= vq->size)
		return vq_break(vq, "available ring entry %u names descriptor %u of %u",
				vq->last_avail, head, vq->size);
	vq->last_avail++;
	chain_start(chain, head);

	const uint8_t *table = vq->desc;
	unsigned table_len = vq->size, i = head, walked = 0;
	bool in_indirect = false;
	for (;;) {
		/* Each descriptor once: more steps than entries means a loop. */
		if (++walked > table_len)
			return vq_break(vq, "chain at head %u is longer than its %s (%u entries): a "
					"descriptor loop", head,
					in_indirect ? "indirect table" : "queue", table_len);
		struct virtq_desc d;
		desc_read(table, i, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (in_indirect)
				return vq_break(vq, "chain at head %u: an indirect table points to "
						"another indirect table", head);
			if (!vq->indirect)
				return vq_break(vq, "chain at head %u uses an indirect table, but "
						"VIRTIO_F_INDIRECT_DESC was not negotiated", head);
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return vq_break(vq, "chain at head %u: a descriptor has both INDIRECT "
						"and NEXT set", head);
			if (d.len == 0 || d.len % VIRTQ_DESC_SIZE ||
			    d.len / VIRTQ_DESC_SIZE > VIRTQUEUE_INDIRECT_MAX)
				return vq_break(vq, "chain at head %u: indirect table of %u bytes (a "
						"multiple of 16 up to %u entries expected)", head,
						d.len, VIRTQUEUE_INDIRECT_MAX);
			const uint8_t *itable = dma_translate(vq->dma, d.addr, d.len, DMA_PERM_READ);
			if (!itable)
				return vq_break(vq, "chain at head %u: indirect table 0x%llx+%u is "
						"outside guest memory", head,
						(unsigned long long)d.addr, d.len);
			table = itable;
			table_len = d.len / VIRTQ_DESC_SIZE;
			i = 0;
			walked = 0;
			in_indirect = true;
			continue;
		}
		chain_add_buffer(vq, chain, &d);
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= table_len)
			return vq_break(vq, "chain at head %u: next index %u is outside the %s (%u "
					"entries)", head, d.next,
					in_indirect ? "indirect table" : "queue", table_len);
		i = d.next;
	}
	return VIRTQUEUE_GOT_CHAIN;
}

void virtqueue_unpop(struct virtqueue *vq, unsigned n)
{
	vq->last_avail = (uint16_t)(vq->last_avail - n);
}

void virtqueue_push_deferred(struct virtqueue *vq, uint16_t head, uint32_t len)
{
	if (!vq->ready)
		return;
	uint8_t *e = used_entry(vq, vq->used_idx & (vq->size - 1));
	ring_store32(e, head);
	ring_store32(e + 4, len);
	vq->used_idx++;
}

void virtqueue_publish(struct virtqueue *vq)
{
	if (!vq->ready || vq->published_used == vq->used_idx)
		return;
	/* Release: the elements are visible before the index that covers them. */
	__atomic_store_n((uint16_t *)(void *)used_idx(vq), vq->used_idx, __ATOMIC_RELEASE);
	vq->published_used = vq->used_idx;
}

bool virtqueue_should_interrupt(struct virtqueue *vq)
{
	if (!vq->ready)
		return false;
	/* The index store must be visible before we read the driver's wish, or
	 * a driver that re-enabled interrupts in between would be missed. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t old = vq->signalled_used, now = vq->published_used;
	vq->signalled_used = now;
	if (old == now)
		return false;
	if (vq->event_idx) {
		/* Interrupt when used_event lies in [old, now): the driver asked to
		 * hear once the entry at used_event is filled. */
		uint16_t event = ring_load16(used_event(vq));
		return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
	}
	return !(ring_load16(avail_flags(vq)) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

void virtqueue_set_notification(struct virtqueue *vq, bool enable)
{
	if (!vq->ready)
		return;
	if (vq->event_idx) {
		/* "Kick me when you add past what is there now": the driver's own
		 * index, not last_avail, so a device that left entries waiting on
		 * purpose (rx short of buffers) still hears about the next one.
		 * Leaving it stale while disabled is enough: drivers kick only on
		 * crossing it. */
		if (enable)
			ring_store16(avail_event(vq), virtqueue_avail_idx(vq));
	} else {
		ring_store16(used_flags(vq), enable ? 0 : VIRTQ_USED_F_NO_NOTIFY);
	}
	if (enable)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Walks the readable or writable part of the chain from `offset`. */
static size_t chain_copy(const struct virtqueue_chain *chain, bool writable, uint64_t offset,
			 uint8_t *host, size_t len)
{
	unsigned first = writable ? chain->nreadable : 0;
	unsigned end = writable ? chain->niov : chain->nreadable;
	size_t done = 0;
	for (unsigned i = first; i < end && done < len; i++) {
		size_t seg = chain->iov[i].iov_len;
		if (offset >= seg) {
			offset -= seg;
			continue;
		}
		size_t n = seg - (size_t)offset;
		if (n > len - done)
			n = len - done;
		uint8_t *guest = (uint8_t *)chain->iov[i].iov_base + offset;
		if (writable)
			memcpy(guest, host + done, n);
		else
			memcpy(host + done, guest, n);
		done += n;
		offset = 0;
	}
	return done;
}

size_t virtqueue_chain_copy_from(const struct virtqueue_chain *chain, uint64_t offset, void *dst,
				 size_t len)
{
	return chain_copy(chain, false, offset, dst, len);
}

size_t virtqueue_chain_copy_to(const struct virtqueue_chain *chain, uint64_t offset,
			       const void *src, size_t len)
{
	return chain_copy(chain, true, offset, (uint8_t *)src, len);
}

struct iovec *virtqueue_chain_trim(struct virtqueue_chain *chain, bool writable, uint64_t skip,
				   uint64_t drop_tail, unsigned *count)
{
	unsigned first = writable ? chain->nreadable : 0;
	unsigned end = writable ? chain->niov : chain->nreadable;
	while (first < end && skip) {
		struct iovec *v = &chain->iov[first];
		if (skip < v->iov_len) {
			v->iov_base = (uint8_t *)v->iov_base + skip;
			v->iov_len -= skip;
			skip = 0;
		} else {
			skip -= v->iov_len;
			first++;
		}
	}
	while (end > first && drop_tail) {
		struct iovec *v = &chain->iov[end - 1];
		if (drop_tail < v->iov_len) {
			v->iov_len -= drop_tail;
			drop_tail = 0;
		} else {
			drop_tail -= v->iov_len;
			end--;
		}
	}
	*count = end - first;
	return &chain->iov[first];
}
