/* The host packet engine: the one place where every emulated or virtio NIC
 * meets the host network (DESIGN.md principle 1). A port is opened from a
 * back-end string as the CLI takes it:
 *
 *   loopback          built-in reflector: each frame comes back with its MACs
 *                     swapped (the default NIC peer; needs no setup)
 *   tap:NAME          a Linux tap device, frames moved with io_uring
 *   dpdk:DEVARGS      a DPDK ethdev: a virtual device (dpdk:net_ring0,
 *                     dpdk:net_null0, dpdk:net_tap0,iface=x,
 *                     dpdk:net_af_packet0,iface=lo) or a PCI NIC
 *                     (dpdk:0000:00:03.0). DPDK's EAL is started on first use.
 *
 * Frames are Ethernet frames without FCS. A frame is handed over as a list of
 * iovecs, so a device model can point straight into guest memory (already
 * translated and bounds-checked through iommu/) and skip a bounce copy.
 * send copies or writes the frame before it returns: the caller may give the
 * guest its buffers back at once (no back end keeps pointers into them).
 *
 * Threads: one thread may send while another receives on the same port;
 * neither side is re-entrant (one sender, one receiver). Stats may be read
 * from any thread. */
#ifndef IOVIRT_CORE_PACKET_ENGINE_H
#define IOVIRT_CORE_PACKET_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define PACKET_FRAME_MIN   14u    /* an Ethernet header */
#define PACKET_FRAME_MAX   1522u  /* 1500-byte MTU + header + one VLAN tag + slack */
#define PACKET_FRAME_IOV_MAX 64u  /* segments per frame a back end accepts */
#define PACKET_BACKEND_MAX 256u   /* longest back-end string */

/* One frame. On send, iov/iovcnt describe it and len is ignored. On receive,
 * iov/iovcnt are the caller's buffers; the engine sets len (bytes stored) and
 * truncated (the frame was longer than the buffers; its tail is lost). */
struct packet_frame {
	const struct iovec *iov;
	unsigned iovcnt;
	uint32_t len;
	bool truncated;
};

struct packet_stats {
	uint64_t tx_frames, tx_bytes;
	uint64_t tx_dropped;    /* the back end was full or refused the frame */
	uint64_t tx_invalid;    /* shorter than PACKET_FRAME_MIN, longer than MAX, too many segments */
	uint64_t rx_frames, rx_bytes;
	uint64_t rx_dropped;    /* arrived but lost on the host side (oversize, NIC missed) */
	uint64_t rx_truncated;  /* delivered cut short: the caller's buffers were too small */
};

struct packet_port;

/* What a back end implements (core/packet_dpdk.c, packet_tap.c,
 * packet_reflector.c). The engine validates frames before send is called. */
struct packet_port_ops {
	const char *scheme;     /* "dpdk", "tap", "loopback" */
	/* arg is the text after "scheme:" ("" for loopback). Sets port->priv
	 * and port->notify_fd; on failure returns -1 with one line in err. */
	int (*open)(struct packet_port *port, const char *arg, char *err, size_t errlen);
	/* Returns how many of the n frames went out; the engine counts the rest
	 * as dropped. */
	unsigned (*send)(struct packet_port *port, const struct packet_frame *frames, unsigned n);
	/* Fills up to n frames, returns how many; never blocks. */
	unsigned (*receive)(struct packet_port *port, struct packet_frame *frames, unsigned n);
	/* Optional: adds drops only the back end sees (e.g. NIC missed frames). */
	void (*stats)(struct packet_port *port, struct packet_stats *out);
	void (*close)(struct packet_port *port);
};

struct packet_counters {
	atomic_uint_fast64_t tx_frames, tx_bytes, tx_dropped, tx_invalid;
	atomic_uint_fast64_t rx_frames, rx_bytes, rx_dropped, rx_truncated;
};

struct packet_port {
	const struct packet_port_ops *ops;
	void *priv;
	int notify_fd;          /* -1: poll receive instead */
	char backend[PACKET_BACKEND_MAX];
	struct packet_counters counters;
};

/* Opens a port; backend NULL or "" means "loopback". Returns NULL with one
 * line in err saying what is wrong and how to fix it. */
struct packet_port *packet_port_open(const char *backend, char *err, size_t errlen);
void packet_port_close(struct packet_port *port);

/* Sends n frames; returns how many went out. Invalid frames and frames the
 * back end could not take are dropped and counted, like a wire would: a
 * device model completes all its descriptors either way. */
unsigned packet_port_send(struct packet_port *port, const struct packet_frame *frames, unsigned n);
/* Receives up to n frames into the callers' buffers; returns how many.
 * Never blocks. */
unsigned packet_port_receive(struct packet_port *port, struct packet_frame *frames, unsigned n);

/* An fd that polls readable when frames may be waiting (an eventfd), or -1
 * when the back end must be polled (DPDK). Only a receive that returns 0
 * clears and arms it, so: poll, then call receive until it returns 0, then
 * poll again. A receiver that keeps finding frames costs no wake-ups. */
int packet_port_notify_fd(const struct packet_port *port);
void packet_port_get_stats(const struct packet_port *port, struct packet_stats *out);
const char *packet_port_backend(const struct packet_port *port);

/* Helpers for back ends and device models. */
/* Total bytes in iov[0..iovcnt); false if the sum overflows `limit`. */
bool packet_iov_length(const struct iovec *iov, unsigned iovcnt, size_t limit, size_t *len);
/* Gathers up to cap bytes of the iovecs into dst; returns bytes copied. */
size_t packet_iov_gather(void *dst, size_t cap, const struct iovec *iov, unsigned iovcnt);
/* Scatters len bytes of src over the iovecs; returns bytes stored (less than
 * len when the iovecs are too small). */
size_t packet_iov_scatter(const struct iovec *iov, unsigned iovcnt, const void *src, size_t len);

/* Back-end ops tables. */
extern const struct packet_port_ops packet_reflector_ops;
extern const struct packet_port_ops packet_tap_ops;
extern const struct packet_port_ops packet_dpdk_ops;

#endif
