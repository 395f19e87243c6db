/* virtio-net over the virtio-pci transport (`--nic model=split`): one queue
 * pair (queue 0 receive, queue 1 transmit) on the shared packet engine
 * (core/nic_backend.h). Offers MAC, STATUS (link always up) and MRG_RXBUF;
 * the 12-byte virtio_net_hdr of VERSION_1 is written on receive and skipped
 * on transmit. Frames go between the port and guest memory without a VMM
 * bounce buffer: transmit hands the port iovecs into the guest's buffers,
 * receive lets the port fill the guest's posted buffers.
 *
 * What drives receive, all on the VM's I/O thread:
 *  - the port's notify fd (loopback, tap) is watched;
 *  - a DPDK port has none, so a timerfd polls it every
 *    VIRTIO_NET_POLL_INTERVAL_NS while the device exists (DPDK is a polling
 *    stack; this bounds the added latency without a dedicated core);
 *  - a receive-queue kick (the driver posted buffers) and every transmit
 *    batch (an echo often comes straight back) also look.
 * When the guest has no buffers the frames wait in the port (which drops
 * on overflow, like a wire) until it posts more. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/device.h"
#include "core/io_thread.h"
#include "core/log.h"
#include "core/nic_backend.h"
#include "core/vm.h"
#include "split/virtio_pci.h"
#include "split/virtio_spec.h"

#define VIRTIO_NET_QUEUE_SIZE   256
#define VIRTIO_NET_RX_QUEUE     0
#define VIRTIO_NET_TX_QUEUE     1
#define VIRTIO_NET_TX_BATCH     32
#define VIRTIO_NET_TX_IOV       (PACKET_FRAME_IOV_MAX + 2)   /* the header may be apart */
#define VIRTIO_NET_RX_CHAINS    32    /* buffers one mergeable frame may take */
#define VIRTIO_NET_RX_CHAIN_IOV 16
#define VIRTIO_NET_POLL_INTERVAL_NS 200000
#define VIRTIO_NET_CLASS        0x020000u   /* network, Ethernet */

struct net_tx_slot {
	struct virtqueue_chain chain;
	struct iovec iov[VIRTIO_NET_TX_IOV];
};

struct net_rx_slot {
	struct virtqueue_chain chain;
	struct iovec iov[VIRTIO_NET_RX_CHAIN_IOV];
};

struct virtio_net {
	struct virtio_pci vdev;
	struct device_counters counters;
	struct vm *vm;
	struct nic_backend nic;
	bool nic_open;
	int rx_watch;            /* watch on the port's notify fd or on poll_fd */
	int poll_fd;             /* timerfd for ports without a notify fd, or -1 */
	bool mergeable;          /* MRG_RXBUF negotiated (set at DRIVER_OK) */
	struct net_tx_slot tx[VIRTIO_NET_TX_BATCH];
	struct packet_frame tx_frames[VIRTIO_NET_TX_BATCH];
	struct net_rx_slot rx[VIRTIO_NET_RX_CHAINS];
	struct iovec rx_iov[VIRTIO_NET_RX_CHAINS * VIRTIO_NET_RX_CHAIN_IOV];
};

/* --- Receive --- */

/* Takes one usable receive chain into slot; refused chains go straight
 * back with length 0. Returns false when the queue has nothing usable. */
static bool net_rx_take(struct virtio_net *net, struct virtqueue *vq, struct net_rx_slot *slot,
			bool first, bool *returned)
{
	for (;;) {
		slot->chain.iov = slot->iov;
		slot->chain.iov_cap = VIRTIO_NET_RX_CHAIN_IOV;
		if (virtqueue_pop(vq, &slot->chain) != VIRTQUEUE_GOT_CHAIN)
			return false;
		const struct virtqueue_chain *c = &slot->chain;
		const char *why = NULL;
		if (c->error)
			why = virtqueue_chain_error_name(c->error);
		else if (c->readable_bytes)
			why = "device-readable buffers in a receive chain";
		else if (first && c->writable_bytes < VIRTIO_NET_HDR_SIZE)
			why = "a receive buffer smaller than the 12-byte header";
		if (!why)
			return true;
		virtio_pci_fault(&net->vdev, "receive chain at head %u: %s; returned unused",
				 c->head, why);
		virtqueue_push(vq, c->head, 0);
		*returned = true;
	}
}

static void net_rx(struct virtio_net *net)
{
	struct virtqueue *vq = virtio_pci_vq(&net->vdev, VIRTIO_NET_RX_QUEUE);
	if (!virtio_pci_dma_allowed(&net->vdev) || !vq->ready)
		return;
	bool pushed = false;
	/* Mergeable: gather buffers for the largest frame before receiving,
	 * since the frame's size is known only once it is in them. */
	uint64_t need = net->mergeable ? VIRTIO_NET_HDR_SIZE + PACKET_FRAME_MAX : 1;
	for (;;) {
		unsigned nchains = 0;
		uint64_t room = 0;
		while (nchains < VIRTIO_NET_RX_CHAINS && (nchains == 0 || room < need) &&
		       (nchains == 0 || net->mergeable)) {
			if (!net_rx_take(net, vq, &net->rx[nchains], nchains == 0, &pushed))
				break;
			room += net->rx[nchains].chain.writable_bytes;
			nchains++;
		}
		if (nchains == 0 || (net->mergeable && room < need && nchains < VIRTIO_NET_RX_CHAINS)) {
			/* Short of buffers: leave them posted, hear about the next. */
			virtqueue_unpop(vq, nchains);
			if (vq->broken)
				break;
			uint16_t seen = virtqueue_avail_idx(vq);
			virtqueue_set_notification(vq, true);
			if (virtqueue_avail_idx(vq) != seen)
				continue;
			break;
		}
		unsigned niov = 0;
		for (unsigned i = 0; i < nchains; i++) {
			struct virtqueue_chain *c = &net->rx[i].chain;
			for (unsigned k = c->nreadable; k < c->niov; k++)
				net->rx_iov[niov++] = c->iov[k];
		}
		/* The header goes first; the frame after it. */
		struct virtqueue_chain scratch = {
			.iov = net->rx_iov, .iov_cap = niov, .niov = niov, .nreadable = niov,
		};
		unsigned nframe_iov;
		struct iovec *frame_iov = virtqueue_chain_trim(&scratch, false, VIRTIO_NET_HDR_SIZE, 0,
							       &nframe_iov);
		struct packet_frame frame = { .iov = frame_iov, .iovcnt = nframe_iov };
		if (packet_port_receive(net->nic.port, &frame, 1) == 0) {
			virtqueue_unpop(vq, nchains);
			break;   /* the port is empty and armed again */
		}
		if (frame.truncated) {
			/* Counted by the port; the buffers serve the next frame. */
			virtqueue_unpop(vq, nchains);
			continue;
		}
		uint64_t left = VIRTIO_NET_HDR_SIZE + (uint64_t)frame.len;
		unsigned used = 0;
		uint32_t lens[VIRTIO_NET_RX_CHAINS];
		while (used < nchains && left) {
			uint64_t n = net->rx[used].chain.writable_bytes;
			lens[used] = (uint32_t)(n < left ? n : left);
			left -= lens[used];
			used++;
		}
		uint8_t hdr[VIRTIO_NET_HDR_SIZE] = { 0 };
		uint16_t num_buffers = (uint16_t)used;
		memcpy(hdr + VIRTIO_NET_HDR_OFF_NUM_BUFFERS, &num_buffers, 2);
		virtqueue_chain_copy_to(&net->rx[0].chain, 0, hdr, sizeof(hdr));
		for (unsigned i = 0; i < used; i++)
			virtqueue_push_deferred(vq, net->rx[i].chain.head, lens[i]);
		virtqueue_unpop(vq, nchains - used);
		/* All buffers of a frame become visible at once. */
		virtqueue_publish(vq);
		pushed = true;
		counter_add(&net->counters.requests, 1);
		counter_add(&net->counters.bytes_read, frame.len);
	}
	if (pushed)
		virtio_pci_queue_interrupt(&net->vdev, VIRTIO_NET_RX_QUEUE);
}

/* --- Transmit --- */

/* Checks one transmit chain; on success points *frame at its bytes after
 * the header. */
static bool net_tx_frame(struct virtio_net *net, struct virtqueue_chain *chain,
			 struct packet_frame *frame)
{
	const char *why = NULL;
	if (chain->error)
		why = virtqueue_chain_error_name(chain->error);
	else if (chain->writable_bytes)
		why = "device-writable buffers in a transmit chain";
	else if (chain->readable_bytes < VIRTIO_NET_HDR_SIZE + PACKET_FRAME_MIN)
		why = "shorter than the 12-byte header and an Ethernet header";
	else if (chain->readable_bytes - VIRTIO_NET_HDR_SIZE > PACKET_FRAME_MAX)
		why = "a frame longer than the 1522-byte maximum (no segmentation offload offered)";
	if (why) {
		virtio_pci_fault(&net->vdev, "transmit chain at head %u: %s; dropped", chain->head,
				 why);
		return false;
	}
	unsigned n;
	struct iovec *iov = virtqueue_chain_trim(chain, false, VIRTIO_NET_HDR_SIZE, 0, &n);
	*frame = (struct packet_frame){ .iov = iov, .iovcnt = n };
	return true;
}

static void net_tx(struct virtio_net *net)
{
	struct virtqueue *vq = virtio_pci_vq(&net->vdev, VIRTIO_NET_TX_QUEUE);
	if (!virtio_pci_dma_allowed(&net->vdev) || !vq->ready)
		return;
	for (;;) {
		unsigned nchains = 0, nframes = 0;
		uint64_t bytes = 0;
		while (nchains < VIRTIO_NET_TX_BATCH) {
			struct net_tx_slot *slot = &net->tx[nchains];
			slot->chain.iov = slot->iov;
			slot->chain.iov_cap = VIRTIO_NET_TX_IOV;
			if (virtqueue_pop(vq, &slot->chain) != VIRTQUEUE_GOT_CHAIN)
				break;
			struct packet_frame *f = &net->tx_frames[nframes];
			if (net_tx_frame(net, &slot->chain, f)) {
				bytes += slot->chain.readable_bytes - VIRTIO_NET_HDR_SIZE;
				nframes++;
			}
			nchains++;
		}
		if (nchains == 0) {
			if (vq->broken)
				break;
			uint16_t seen = virtqueue_avail_idx(vq);
			virtqueue_set_notification(vq, true);
			if (virtqueue_avail_idx(vq) != seen || virtqueue_pending(vq))
				continue;
			break;
		}
		/* The port copies or writes the frames before it returns, so the
		 * buffers can go back at once. */
		if (nframes)
			packet_port_send(net->nic.port, net->tx_frames, nframes);
		for (unsigned i = 0; i < nchains; i++)
			virtqueue_push_deferred(vq, net->tx[i].chain.head, 0);
		virtqueue_publish(vq);
		counter_add(&net->counters.requests, nframes);
		counter_add(&net->counters.bytes_written, bytes);
		virtio_pci_queue_interrupt(&net->vdev, VIRTIO_NET_TX_QUEUE);
	}
	net_rx(net);
}

/* --- Callbacks (I/O thread) --- */

static void net_queue_notify(void *opaque, unsigned q)
{
	struct virtio_net *net = opaque;
	if (q == VIRTIO_NET_TX_QUEUE)
		net_tx(net);
	else
		net_rx(net);
}

static void net_start(void *opaque)
{
	struct virtio_net *net = opaque;
	net->mergeable = virtio_pci_has_feature(&net->vdev, VIRTIO_NET_F_MRG_RXBUF);
}

static void net_port_ready(void *opaque, uint64_t count)
{
	(void)count;
	net_rx(opaque);
}

static const struct virtio_device_ops virtio_net_device_ops = {
	.queue_notify = net_queue_notify,
	.start = net_start,
};

/* --- Device model --- */

static void net_free(struct virtio_net *net)
{
	virtio_pci_quiesce(&net->vdev);
	if (net->rx_watch > 0)
		io_thread_unwatch(net->vm->io, net->rx_watch);
	virtio_pci_fini(&net->vdev);
	if (net->poll_fd >= 0)
		close(net->poll_fd);
	if (net->nic_open)
		nic_backend_close(&net->nic);
	free(net);
}

static unsigned net_nic_index(const struct vm *vm)
{
	unsigned n = 0;
	for (unsigned i = 0; i < vm->ndevices; i++)
		if (strcmp(vm->devices[i].ops->function, "nic") == 0)
			n++;
	return n;
}

static int net_check_options(const struct device_spec *spec, char *err, size_t errlen)
{
	for (unsigned i = 0; i < spec->noptions; i++) {
		const char *key = spec->options[i].key;
		bool known = false;
		for (unsigned k = 0; !known && nic_backend_option_keys[k]; k++)
			known = strcmp(key, nic_backend_option_keys[k]) == 0;
		if (!known) {
			snprintf(err, errlen, "%s: the split NIC has no option '%s' (it takes "
				 "backend=loopback|tap:NAME|dpdk:DEVARGS and mac=)", spec->text, key);
			return -1;
		}
	}
	return 0;
}

static int net_watch_receive(struct virtio_net *net, char *err, size_t errlen)
{
	int fd = packet_port_notify_fd(net->nic.port);
	if (fd < 0) {
		net->poll_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (net->poll_fd < 0) {
			snprintf(err, errlen, "timerfd: %s", strerror(errno));
			return -1;
		}
		struct itimerspec its = {
			.it_interval = { .tv_nsec = VIRTIO_NET_POLL_INTERVAL_NS },
			.it_value = { .tv_nsec = VIRTIO_NET_POLL_INTERVAL_NS },
		};
		timerfd_settime(net->poll_fd, 0, &its, NULL);
		fd = net->poll_fd;
	}
	net->rx_watch = io_thread_watch_eventfd(net->vm->io, fd, net_port_ready, net);
	if (net->rx_watch < 0) {
		snprintf(err, errlen, "cannot watch the port for received frames: %s",
			 strerror(-net->rx_watch));
		net->rx_watch = 0;
		return -1;
	}
	return 0;
}

static int net_realize(struct vm *vm, const struct device_spec *spec, void **state, char *err,
		       size_t errlen)
{
	if (net_check_options(spec, err, errlen) < 0)
		return -1;
	struct virtio_net *net = calloc(1, sizeof(*net));
	if (!net) {
		snprintf(err, errlen, "%s: out of memory", spec->text);
		return -1;
	}
	net->vm = vm;
	net->poll_fd = -1;
	if (nic_backend_open(spec, net_nic_index(vm), &net->nic, err, errlen) < 0) {
		free(net);
		return -1;
	}
	net->nic_open = true;

	uint8_t config[VIRTIO_NET_CFG_SIZE] = { 0 };
	memcpy(config + VIRTIO_NET_CFG_MAC, net->nic.mac, 6);
	uint16_t status = VIRTIO_NET_S_LINK_UP, pairs = 1, mtu = 1500;
	memcpy(config + VIRTIO_NET_CFG_STATUS, &status, 2);
	memcpy(config + VIRTIO_NET_CFG_MAX_PAIRS, &pairs, 2);
	memcpy(config + VIRTIO_NET_CFG_MTU, &mtu, 2);
	const struct virtio_pci_config tc = {
		.name = "virtio-net",
		.device_type = VIRTIO_ID_NET,
		.class_code = VIRTIO_NET_CLASS,
		.device_features = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
				   VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF),
		.nqueues = 2,
		.queue_size_max = VIRTIO_NET_QUEUE_SIZE,
		.device_config = config,
		.device_config_size = sizeof(config),
		.ops = &virtio_net_device_ops,
		.opaque = net,
		.counters = &net->counters,
	};
	char why[256];
	if (virtio_pci_init(&net->vdev, vm, &tc, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", spec->text, why);
		nic_backend_close(&net->nic);
		free(net);
		return -1;
	}
	if (net_watch_receive(net, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", spec->text, why);
		net_free(net);
		return -1;
	}
	*state = net;
	return 0;
}

static void net_model_reset(void *state)
{
	struct virtio_net *net = state;
	virtio_pci_reset(&net->vdev);
}

/* Device-side ring indices are not saved yet: migration of this model is
 * refused rather than done wrong. */
static int net_save_state(void *state, struct device_state_buf *out)
{
	(void)state;
	(void)out;
	log_error("virtio-net (split): saving device state is not supported yet");
	return -1;
}

static int net_load_state(void *state, struct device_state_buf *in)
{
	(void)state;
	(void)in;
	log_error("virtio-net (split): loading device state is not supported yet");
	return -1;
}

static struct device_counters *net_stats(void *state)
{
	return &((struct virtio_net *)state)->counters;
}

static void net_teardown(void *state)
{
	net_free(state);
}

static const struct device_model_ops virtio_net_model_ops = {
	.function = "nic",
	.model = "split",
	.summary = "virtio-net (modern virtio-pci, split rings, mergeable rx) on the packet engine",
	.realize = net_realize,
	.reset = net_model_reset,
	.save_state = net_save_state,
	.load_state = net_load_state,
	.stats = net_stats,
	.teardown = net_teardown,
};

DEVICE_MODEL_REGISTER(virtio_net_model_ops)
