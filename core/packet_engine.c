/* Back-end string parsing, frame validation and counting shared by every
 * packet back end. */
#include "core/packet_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/counters.h"

static const struct packet_port_ops *const packet_backends[] = {
	&packet_reflector_ops,
	&packet_tap_ops,
	&packet_dpdk_ops,
};

static const struct packet_port_ops *packet_backend_find(const char *scheme, size_t len)
{
	for (size_t i = 0; i < sizeof(packet_backends) / sizeof(packet_backends[0]); i++) {
		const char *name = packet_backends[i]->scheme;
		if (strlen(name) == len && memcmp(name, scheme, len) == 0)
			return packet_backends[i];
	}
	return NULL;
}

struct packet_port *packet_port_open(const char *backend, char *err, size_t errlen)
{
	if (backend == NULL || backend[0] == '\0')
		backend = "loopback";
	size_t total = strlen(backend);
	if (total >= PACKET_BACKEND_MAX) {
		snprintf(err, errlen, "NIC back end '%.40s...' is too long (%zu characters, at most %u)",
			 backend, total, PACKET_BACKEND_MAX - 1);
		return NULL;
	}
	const char *colon = strchr(backend, ':');
	size_t scheme_len = colon ? (size_t)(colon - backend) : total;
	const char *arg = colon ? colon + 1 : "";
	const struct packet_port_ops *ops = packet_backend_find(backend, scheme_len);
	if (ops == NULL) {
		snprintf(err, errlen, "unknown NIC back end '%s': use loopback, tap:NAME or dpdk:DEVICE "
			 "(e.g. dpdk:net_ring0)", backend);
		return NULL;
	}
	if (ops == &packet_reflector_ops && colon != NULL) {
		snprintf(err, errlen, "NIC back end '%s': loopback takes no argument", backend);
		return NULL;
	}

	struct packet_port *port = calloc(1, sizeof(*port));
	if (port == NULL) {
		snprintf(err, errlen, "NIC back end '%s': out of memory", backend);
		return NULL;
	}
	port->ops = ops;
	port->notify_fd = -1;
	memcpy(port->backend, backend, total + 1);
	if (ops->open(port, arg, err, errlen) != 0) {
		free(port);
		return NULL;
	}
	return port;
}

void packet_port_close(struct packet_port *port)
{
	if (port == NULL)
		return;
	port->ops->close(port);
	free(port);
}

bool packet_iov_length(const struct iovec *iov, unsigned iovcnt, size_t limit, size_t *len)
{
	size_t sum = 0;
	for (unsigned i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > limit - sum)
			return false;
		sum += iov[i].iov_len;
	}
	*len = sum;
	return true;
}

size_t packet_iov_gather(void *dst, size_t cap, const struct iovec *iov, unsigned iovcnt)
{
	uint8_t *out = dst;
	size_t done = 0;
	for (unsigned i = 0; i < iovcnt && done < cap; i++) {
		size_t chunk = iov[i].iov_len < cap - done ? iov[i].iov_len : cap - done;
		memcpy(out + done, iov[i].iov_base, chunk);
		done += chunk;
	}
	return done;
}

size_t packet_iov_scatter(const struct iovec *iov, unsigned iovcnt, const void *src, size_t len)
{
	const uint8_t *in = src;
	size_t done = 0;
	for (unsigned i = 0; i < iovcnt && done < len; i++) {
		size_t chunk = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;
		memcpy(iov[i].iov_base, in + done, chunk);
		done += chunk;
	}
	return done;
}

static bool packet_frame_valid(const struct packet_frame *frame, size_t *len)
{
	if (frame->iovcnt > PACKET_FRAME_IOV_MAX || (frame->iovcnt > 0 && frame->iov == NULL))
		return false;
	if (!packet_iov_length(frame->iov, frame->iovcnt, PACKET_FRAME_MAX, len))
		return false;
	return *len >= PACKET_FRAME_MIN;
}

/* Back ends see only valid frames; a bad one in the middle of a burst splits
 * it so the rest still go out. */
unsigned packet_port_send(struct packet_port *port, const struct packet_frame *frames, unsigned n)
{
	struct packet_counters *c = &port->counters;
	unsigned sent_total = 0, start = 0;
	uint64_t bytes = 0;
	while (start < n) {
		unsigned end = start;
		uint64_t run_bytes = 0;
		size_t len = 0;
		while (end < n && packet_frame_valid(&frames[end], &len)) {
			run_bytes += len;
			end++;
		}
		if (end > start) {
			unsigned sent = port->ops->send(port, frames + start, end - start);
			sent_total += sent;
			if (sent == end - start) {
				bytes += run_bytes;
			} else {
				for (unsigned i = start; i < start + sent; i++) {
					packet_iov_length(frames[i].iov, frames[i].iovcnt, PACKET_FRAME_MAX, &len);
					bytes += len;
				}
				counter_add(&c->tx_dropped, end - start - sent);
			}
		}
		if (end < n) {
			counter_add(&c->tx_invalid, 1);
			end++;
		}
		start = end;
	}
	counter_add(&c->tx_frames, sent_total);
	counter_add(&c->tx_bytes, bytes);
	return sent_total;
}

unsigned packet_port_receive(struct packet_port *port, struct packet_frame *frames, unsigned n)
{
	if (n == 0)
		return 0;
	unsigned got = port->ops->receive(port, frames, n);
	uint64_t bytes = 0, truncated = 0;
	for (unsigned i = 0; i < got; i++) {
		bytes += frames[i].len;
		truncated += frames[i].truncated;
	}
	struct packet_counters *c = &port->counters;
	counter_add(&c->rx_frames, got);
	counter_add(&c->rx_bytes, bytes);
	if (truncated)
		counter_add(&c->rx_truncated, truncated);
	return got;
}

int packet_port_notify_fd(const struct packet_port *port)
{
	return port->notify_fd;
}

void packet_port_get_stats(const struct packet_port *port, struct packet_stats *out)
{
	const struct packet_counters *c = &port->counters;
	*out = (struct packet_stats){
		.tx_frames = counter_get(&c->tx_frames),
		.tx_bytes = counter_get(&c->tx_bytes),
		.tx_dropped = counter_get(&c->tx_dropped),
		.tx_invalid = counter_get(&c->tx_invalid),
		.rx_frames = counter_get(&c->rx_frames),
		.rx_bytes = counter_get(&c->rx_bytes),
		.rx_dropped = counter_get(&c->rx_dropped),
		.rx_truncated = counter_get(&c->rx_truncated),
	};
	if (port->ops->stats)
		port->ops->stats((struct packet_port *)port, out);
}

const char *packet_port_backend(const struct packet_port *port)
{
	return port->backend;
}
