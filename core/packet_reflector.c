/* The built-in loopback peer ("loopback"): every frame sent comes back on the
 * same port with its source and destination MACs swapped, as a macswap
 * forwarder would return it. In-process and bounded: a frame sent while
 * PACKET_REFLECTOR_DEPTH frames wait is dropped. */
#include "core/packet_engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define PACKET_REFLECTOR_DEPTH 256u
#define ETHER_ADDR_LEN 6

struct reflector_slot {
	uint32_t len;
	uint8_t data[PACKET_FRAME_MAX];
};

struct packet_reflector {
	pthread_mutex_t lock;
	unsigned head, count;       /* oldest slot, slots in use */
	/* The eventfd is written only when a receiver found the queue empty (it
	 * may be about to sleep): a receiver that keeps finding frames, like a
	 * ping-pong, costs no system calls. */
	bool armed;                 /* last receive returned nothing */
	bool notified;              /* eventfd written and not yet cleared */
	struct reflector_slot slots[PACKET_REFLECTOR_DEPTH];
};

static void reflector_swap_macs(uint8_t *frame)
{
	uint8_t tmp[ETHER_ADDR_LEN];
	memcpy(tmp, frame, ETHER_ADDR_LEN);
	memcpy(frame, frame + ETHER_ADDR_LEN, ETHER_ADDR_LEN);
	memcpy(frame + ETHER_ADDR_LEN, tmp, ETHER_ADDR_LEN);
}

static int reflector_open(struct packet_port *port, const char *arg, char *err, size_t errlen)
{
	(void)arg;
	struct packet_reflector *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		snprintf(err, errlen, "loopback: out of memory");
		return -1;
	}
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "loopback: eventfd: %s", strerror(errno));
		free(r);
		return -1;
	}
	pthread_mutex_init(&r->lock, NULL);
	r->armed = true;
	port->priv = r;
	port->notify_fd = fd;
	return 0;
}

static unsigned reflector_send(struct packet_port *port, const struct packet_frame *frames, unsigned n)
{
	struct packet_reflector *r = port->priv;
	unsigned queued = 0;
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < n && r->count < PACKET_REFLECTOR_DEPTH; i++) {
		struct reflector_slot *slot = &r->slots[(r->head + r->count) % PACKET_REFLECTOR_DEPTH];
		slot->len = (uint32_t)packet_iov_gather(slot->data, sizeof(slot->data),
							frames[i].iov, frames[i].iovcnt);
		reflector_swap_macs(slot->data);
		r->count++;
		queued++;
	}
	/* Written under the lock, so a receiver's clear cannot fall between the
	 * flag and the write and leave the fd readable with nobody to clear it. */
	if (queued > 0 && r->armed && !r->notified) {
		uint64_t one = 1;
		r->armed = false;
		r->notified = true;
		if (write(port->notify_fd, &one, sizeof(one)) < 0)
			(void)0;   /* only on counter overflow, which one write per clear rules out */
	}
	pthread_mutex_unlock(&r->lock);
	return queued;
}

static unsigned reflector_receive(struct packet_port *port, struct packet_frame *frames, unsigned n)
{
	struct packet_reflector *r = port->priv;
	unsigned got = 0;
	pthread_mutex_lock(&r->lock);
	while (got < n && r->count > 0) {
		struct reflector_slot *slot = &r->slots[r->head];
		struct packet_frame *f = &frames[got++];
		f->len = (uint32_t)packet_iov_scatter(f->iov, f->iovcnt, slot->data, slot->len);
		f->truncated = f->len < slot->len;
		r->head = (r->head + 1) % PACKET_REFLECTOR_DEPTH;
		r->count--;
	}
	/* Nothing waiting: the caller may now sleep on the fd, so clear it and
	 * have the next send write it. */
	if (got == 0) {
		r->armed = true;
		if (r->notified) {
			uint64_t value;
			r->notified = false;
			if (read(port->notify_fd, &value, sizeof(value)) < 0)
				(void)0;   /* EAGAIN: already clear */
		}
	}
	pthread_mutex_unlock(&r->lock);
	return got;
}

static void reflector_close(struct packet_port *port)
{
	struct packet_reflector *r = port->priv;
	close(port->notify_fd);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

const struct packet_port_ops packet_reflector_ops = {
	.scheme = "loopback",
	.open = reflector_open,
	.send = reflector_send,
	.receive = reflector_receive,
	.close = reflector_close,
};
