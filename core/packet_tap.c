/* tap:NAME — a Linux tap device (IFF_TAP | IFF_NO_PI), frames moved with
 * io_uring. Receive keeps TAP_RX_SLOTS reads posted on the tap fd, so frames
 * land in our buffers as they arrive and receive only reaps completions;
 * an eventfd registered with that ring is the port's notify fd. Send writes
 * each frame straight from the caller's iovecs (no copy in user space) and
 * waits for the writes, so the caller's buffers are free when it returns.
 * Receive and send each own a ring: one thread may send while another
 * receives. The interface's link state and addresses are left to the user
 * (ip link set NAME up), as a tap's owner normally configures them. */
#include "core/packet_engine.h"

#include "core/counters.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TAP_RX_SLOTS   32u
#define TAP_RX_BUF     2048u   /* > PACKET_FRAME_MAX: a longer read means oversize */
#define TAP_TX_DEPTH   64u
#define TAP_CLOSE_WAIT_MS 1000

struct tap_port {
	int fd;
	bool warned_down;           /* each warning once, not per frame */
	bool warned_read;
	char name[IFNAMSIZ];
	struct io_uring rx_ring, tx_ring;
	unsigned rx_inflight;
	uint8_t rx_buf[TAP_RX_SLOTS][TAP_RX_BUF];
};

/* The kernel's rule for interface names (dev_valid_name), so a bad name is
 * refused with a reason rather than a bare EINVAL. */
static int tap_name_check(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name);
	if (len == 0) {
		snprintf(err, errlen, "tap: needs an interface name, e.g. tap:tap0");
		return -1;
	}
	if (len >= IFNAMSIZ) {
		snprintf(err, errlen, "tap:%s: interface name is %zu characters; Linux allows at most %d",
			 name, len, IFNAMSIZ - 1);
		return -1;
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strpbrk(name, "/:% \t\n") != NULL) {
		snprintf(err, errlen, "tap:%s: not a valid interface name (no '/', ':', '%%', spaces, "
			 "'.' or '..')", name);
		return -1;
	}
	return 0;
}

static int tap_create(const char *name, char *err, size_t errlen)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			snprintf(err, errlen, "tap:%s: /dev/net/tun does not exist; load the tun module "
				 "(modprobe tun)", name);
		else
			snprintf(err, errlen, "tap:%s: cannot open /dev/net/tun: %s; run as root or give "
				 "this user access to it", name, strerror(e));
		return -1;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	memcpy(ifr.ifr_name, name, strlen(name) + 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		if (e == EPERM)
			snprintf(err, errlen, "tap:%s: creating a tap device needs CAP_NET_ADMIN; run as "
				 "root or create it first: ip tuntap add %s mode tap user $USER", name, name);
		else if (e == EBUSY)
			snprintf(err, errlen, "tap:%s: the interface is in use by another process", name);
		else if (e == EINVAL)
			snprintf(err, errlen, "tap:%s: an interface of that name exists and is not a tap "
				 "device; pick another name", name);
		else
			snprintf(err, errlen, "tap:%s: cannot create the tap device: %s", name, strerror(e));
		close(fd);
		return -1;
	}
	return fd;
}

static void tap_post_read(struct tap_port *t, unsigned slot)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&t->rx_ring);
	/* The ring has room for every slot, so this cannot run dry. */
	io_uring_prep_read(sqe, t->fd, t->rx_buf[slot], TAP_RX_BUF, 0);
	io_uring_sqe_set_data64(sqe, slot);
	t->rx_inflight++;
}

static int tap_open(struct packet_port *port, const char *arg, char *err, size_t errlen)
{
	if (tap_name_check(arg, err, errlen) != 0)
		return -1;
	struct tap_port *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		snprintf(err, errlen, "tap:%s: out of memory", arg);
		return -1;
	}
	memcpy(t->name, arg, strlen(arg) + 1);
	t->fd = tap_create(arg, err, errlen);
	if (t->fd < 0)
		goto fail_free;
	int ret = io_uring_queue_init(TAP_RX_SLOTS, &t->rx_ring, 0);
	if (ret < 0) {
		snprintf(err, errlen, "tap:%s: io_uring setup failed: %s", arg, strerror(-ret));
		goto fail_fd;
	}
	ret = io_uring_queue_init(TAP_TX_DEPTH, &t->tx_ring, 0);
	if (ret < 0) {
		snprintf(err, errlen, "tap:%s: io_uring setup failed: %s", arg, strerror(-ret));
		goto fail_rx_ring;
	}
	port->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (port->notify_fd < 0) {
		snprintf(err, errlen, "tap:%s: eventfd: %s", arg, strerror(errno));
		goto fail_tx_ring;
	}
	ret = io_uring_register_eventfd(&t->rx_ring, port->notify_fd);
	if (ret < 0) {
		snprintf(err, errlen, "tap:%s: io_uring eventfd registration failed: %s", arg, strerror(-ret));
		goto fail_eventfd;
	}
	for (unsigned i = 0; i < TAP_RX_SLOTS; i++)
		tap_post_read(t, i);
	ret = io_uring_submit(&t->rx_ring);
	if (ret < 0) {
		snprintf(err, errlen, "tap:%s: io_uring submit failed: %s", arg, strerror(-ret));
		goto fail_eventfd;
	}
	port->priv = t;
	return 0;

fail_eventfd:
	close(port->notify_fd);
	port->notify_fd = -1;
fail_tx_ring:
	io_uring_queue_exit(&t->tx_ring);
fail_rx_ring:
	io_uring_queue_exit(&t->rx_ring);
fail_fd:
	close(t->fd);
fail_free:
	free(t);
	return -1;
}

static unsigned tap_send(struct packet_port *port, const struct packet_frame *frames, unsigned n)
{
	struct tap_port *t = port->priv;
	unsigned sent = 0;
	for (unsigned start = 0; start < n; start += TAP_TX_DEPTH) {
		unsigned chunk = n - start < TAP_TX_DEPTH ? n - start : TAP_TX_DEPTH;
		for (unsigned i = 0; i < chunk; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&t->tx_ring);
			io_uring_prep_writev(sqe, t->fd, frames[start + i].iov, frames[start + i].iovcnt, 0);
			io_uring_sqe_set_data64(sqe, start + i);
		}
		int ret = io_uring_submit_and_wait(&t->tx_ring, chunk);
		unsigned submitted = ret < 0 ? 0 : (unsigned)ret;
		if (ret < 0) {
			/* Nothing was taken; drop what we prepared so the ring is clean. */
			io_uring_queue_exit(&t->tx_ring);
			if (io_uring_queue_init(TAP_TX_DEPTH, &t->tx_ring, 0) < 0)
				return sent;
			continue;
		}
		for (unsigned done = 0; done < submitted; done++) {
			struct io_uring_cqe *cqe;
			int wret;
			do
				wret = io_uring_wait_cqe(&t->tx_ring, &cqe);
			while (wret == -EINTR);
			if (wret < 0)
				break;
			size_t len = 0;
			uint64_t idx = io_uring_cqe_get_data64(cqe);
			if (idx < n)
				packet_iov_length(frames[idx].iov, frames[idx].iovcnt, PACKET_FRAME_MAX, &len);
			/* A short or failed write (link down, no carrier) is a drop. */
			if (cqe->res > 0 && (size_t)cqe->res == len)
				sent++;
			else if (cqe->res == -EIO && !t->warned_down) {
				t->warned_down = true;
				log_warn("tap:%s: the interface is down, frames are dropped; bring it up: "
					 "ip link set %s up", t->name, t->name);
			}
			io_uring_cqe_seen(&t->tx_ring, cqe);
		}
	}
	return sent;
}

static unsigned tap_receive(struct packet_port *port, struct packet_frame *frames, unsigned n)
{
	struct tap_port *t = port->priv;
	unsigned got = 0, reposted = 0;
	bool cleared = false;
	struct io_uring_cqe *cqe;
	while (got < n) {
		if (io_uring_peek_cqe(&t->rx_ring, &cqe) != 0) {
			/* Empty: clear the eventfd, then look once more, since a
			 * completion posted just before the clear would be missed. */
			if (got > 0 || cleared)
				break;
			uint64_t value;
			if (read(port->notify_fd, &value, sizeof(value)) < 0)
				(void)0;   /* EAGAIN: nothing signalled */
			cleared = true;
			continue;
		}
		unsigned slot = (unsigned)io_uring_cqe_get_data64(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&t->rx_ring, cqe);
		t->rx_inflight--;
		if (slot >= TAP_RX_SLOTS)
			continue;
		if (res >= (int)PACKET_FRAME_MIN && res <= (int)PACKET_FRAME_MAX) {
			struct packet_frame *f = &frames[got++];
			f->len = (uint32_t)packet_iov_scatter(f->iov, f->iovcnt, t->rx_buf[slot], (size_t)res);
			f->truncated = f->len < (uint32_t)res;
		} else if (res < 0) {
			/* The interface went away or broke: reposting would fail again
			 * at once and wake the I/O loop forever, so retire the slot. */
			if (res != -ECANCELED && !t->warned_read)
				log_warn("tap:%s: read failed: %s; receiving stops", t->name, strerror(-res));
			t->warned_read = true;
			continue;
		} else {
			/* Oversize or runt: the frame is lost. */
			counter_add(&port->counters.rx_dropped, 1);
		}
		tap_post_read(t, slot);
		reposted++;
	}
	if (reposted > 0)
		io_uring_submit(&t->rx_ring);
	return got;
}

/* Cancel the posted reads and wait for them, so no read can land in a
 * buffer after it is freed. */
static void tap_close(struct packet_port *port)
{
	struct tap_port *t = port->priv;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&t->rx_ring);
	if (sqe != NULL) {
		io_uring_prep_cancel_fd(sqe, t->fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, UINT64_MAX);
		io_uring_submit(&t->rx_ring);
	}
	bool cancel_done = sqe == NULL;
	while (t->rx_inflight > 0 || !cancel_done) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = TAP_CLOSE_WAIT_MS * 1000000L };
		if (io_uring_wait_cqe_timeout(&t->rx_ring, &cqe, &ts) < 0)
			break;
		if (io_uring_cqe_get_data64(cqe) == UINT64_MAX)
			cancel_done = true;
		else
			t->rx_inflight--;
		io_uring_cqe_seen(&t->rx_ring, cqe);
	}
	io_uring_queue_exit(&t->rx_ring);
	io_uring_queue_exit(&t->tx_ring);
	close(t->fd);
	close(port->notify_fd);
	/* If the wait timed out, reads may still be live: leak the buffers
	 * rather than let the kernel write into freed memory. */
	if (t->rx_inflight == 0)
		free(t);
}

const struct packet_port_ops packet_tap_ops = {
	.scheme = "tap",
	.open = tap_open,
	.send = tap_send,
	.receive = tap_receive,
	.close = tap_close,
};
