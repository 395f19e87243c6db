#include "guest/virtqueue.h"

#include <stddef.h>

#include "guest/page_alloc.h"

#define PAGE_SIZE 4096ull

/* The device runs on another CPU (QEMU's or iovirt's I/O thread). x86 keeps
 * stores in order and loads in order, so publishing and reaping need only the
 * compiler held back; the one reordering x86 does, a load passing an earlier
 * store, matters where we store an index and then read the device's
 * suppression word: that takes a full fence. */
#define store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define load_acquire(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define full_fence()        __atomic_thread_fence(__ATOMIC_SEQ_CST)

uint64_t virtq_desc_bytes(uint16_t size)
{
	return (uint64_t)size * sizeof(struct virtq_desc);
}

uint64_t virtq_avail_bytes(uint16_t size)
{
	return sizeof(struct virtq_avail) + (uint64_t)size * sizeof(uint16_t) + sizeof(uint16_t);
}

uint64_t virtq_used_bytes(uint16_t size)
{
	return sizeof(struct virtq_used) + (uint64_t)size * sizeof(struct virtq_used_elem) + sizeof(uint16_t);
}

static void *alloc_zeroed(uint64_t bytes)
{
	return page_alloc((bytes + PAGE_SIZE - 1) / PAGE_SIZE, PAGE_SIZE);
}

const char *virtq_init(struct virtq *q, uint16_t index, uint16_t size, bool event_idx)
{
	if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1)))
		return "virtqueue size is not a power of two up to 256";
	q->index = index;
	q->size = size;
	q->event_idx = event_idx;
	q->desc = alloc_zeroed(virtq_desc_bytes(size));
	q->avail = alloc_zeroed(virtq_avail_bytes(size));
	q->used = alloc_zeroed(virtq_used_bytes(size));
	if (!q->desc || !q->avail || !q->used)
		return "out of guest memory for the virtqueue rings";
	q->used_event = &q->avail->ring[size];
	q->avail_event = (volatile uint16_t *)&q->used->ring[size];
	q->notify_addr = 0;
	for (uint16_t i = 0; i < size; i++) {
		q->desc[i].next = (uint16_t)(i + 1);
		q->head_count[i] = 0;
	}
	q->free_head = 0;
	q->num_free = size;
	q->avail_idx = q->kicked_avail_idx = q->last_used_idx = 0;
	q->notifications = 0;
	/* No interrupts until a waiter arms one: the flag without event idx,
	 * and with it an event index the device has just passed. */
	q->avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	*q->used_event = (uint16_t)(q->last_used_idx - 1);
	return NULL;
}

static void fill_descriptor(struct virtq_desc *d, const struct virtq_buf *b, bool more)
{
	d->addr = b->addr;
	d->len = b->len;
	d->flags = (uint16_t)((b->device_writes ? VIRTQ_DESC_F_WRITE : 0) | (more ? VIRTQ_DESC_F_NEXT : 0));
}

static void make_available(struct virtq *q, uint16_t head, uint16_t tail, uint16_t count, uint16_t token)
{
	q->head_token[head] = token;
	q->head_count[head] = count;
	q->head_tail[head] = tail;
	q->avail->ring[q->avail_idx & (q->size - 1)] = head;
	q->avail_idx++;
}

int virtq_add_chain(struct virtq *q, const struct virtq_buf *bufs, unsigned n, uint16_t token)
{
	if (n == 0 || n > q->num_free)
		return -1;
	/* Free descriptors are linked by next already: fill them in list order
	 * and the chain needs no next written. */
	uint16_t head = q->free_head, d = head;
	for (unsigned i = 0;; i++) {
		fill_descriptor(&q->desc[d], &bufs[i], i + 1 < n);
		if (i + 1 == n)
			break;
		d = q->desc[d].next;
	}
	q->free_head = q->desc[d].next;
	q->num_free = (uint16_t)(q->num_free - n);
	make_available(q, head, d, (uint16_t)n, token);
	return 0;
}

int virtq_add_indirect(struct virtq *q, struct virtq_desc *table, const struct virtq_buf *bufs,
		       unsigned n, uint16_t token)
{
	if (n == 0 || n > VIRTQ_MAX_SIZE || q->num_free == 0)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		fill_descriptor(&table[i], &bufs[i], i + 1 < n);
		table[i].next = (uint16_t)(i + 1);
	}
	uint16_t head = q->free_head;
	q->free_head = q->desc[head].next;
	q->num_free--;
	q->desc[head].addr = (uint64_t)(uintptr_t)table;
	q->desc[head].len = (uint32_t)(n * sizeof(struct virtq_desc));
	q->desc[head].flags = VIRTQ_DESC_F_INDIRECT;
	make_available(q, head, head, 1, token);
	return 0;
}

void virtq_publish(struct virtq *q)
{
	store_release(&q->avail->idx, q->avail_idx);
}

/* The device asked to hear when entry number `event` becomes available:
 * true if that entry is among the ones just made available, [old, new), in
 * 16-bit wrap-around arithmetic. */
static bool event_in_window(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool virtq_kick(struct virtq *q)
{
	virtq_publish(q);
	uint16_t old_idx = q->kicked_avail_idx, new_idx = q->avail_idx;
	if (old_idx == new_idx)
		return false;
	q->kicked_avail_idx = new_idx;
	full_fence();
	bool wanted;
	if (q->event_idx)
		wanted = event_in_window(load_acquire(q->avail_event), new_idx, old_idx);
	else
		wanted = !(load_acquire(&q->used->flags) & VIRTQ_USED_F_NO_NOTIFY);
	if (!wanted)
		return false;
	*(volatile uint16_t *)(uintptr_t)q->notify_addr = q->index;
	q->notifications++;
	return true;
}

bool virtq_has_used(const struct virtq *q)
{
	return load_acquire(&q->used->idx) != q->last_used_idx;
}

bool virtq_get_used(struct virtq *q, uint16_t *token, uint32_t *written, bool *bad)
{
	*bad = false;
	if (load_acquire(&q->used->idx) == q->last_used_idx)
		return false;
	const volatile struct virtq_used_elem *e = &q->used->ring[q->last_used_idx & (q->size - 1)];
	uint32_t id = e->id, len = e->len;
	q->last_used_idx++;
	if (id >= q->size || q->head_count[id] == 0) {
		*bad = true;
		return false;
	}
	/* Back onto the free list: the chain is still linked by next, so only
	 * its tail needs to point at the old head. */
	uint16_t head = (uint16_t)id, count = q->head_count[id];
	q->desc[q->head_tail[head]].next = q->free_head;
	q->free_head = head;
	q->num_free = (uint16_t)(q->num_free + count);
	q->head_count[head] = 0;
	*token = q->head_token[head];
	*written = len;
	return true;
}

bool virtq_arm_interrupt(struct virtq *q)
{
	if (q->event_idx)
		*q->used_event = q->last_used_idx;
	else
		q->avail->flags = 0;
	full_fence();
	return virtq_has_used(q);
}

void virtq_disarm_interrupt(struct virtq *q)
{
	if (q->event_idx)
		*q->used_event = (uint16_t)(q->last_used_idx - 1);
	else
		q->avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
}
