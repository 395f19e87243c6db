#include "guest/virtio_net.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest/asm_defs.h"
#include "guest/interrupts.h"
#include "guest/page_alloc.h"
#include "guest/print.h"
#include "guest/string.h"
#include "guest/usermode.h"
#include "guest/virtio_pci.h"
#include "guest/virtqueue.h"

#define VIRTIO_NET_F_MAC       5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS    16

#define VIRTIO_NET_CFG_MAC    0
#define VIRTIO_NET_CFG_STATUS 6
#define VIRTIO_NET_S_LINK_UP  1u

#define RX_QUEUE 0
#define TX_QUEUE 1
#define QUEUE_MAX_SIZE 256u

/* With VERSION_1 the header always carries num_buffers: 12 bytes. */
struct virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};
_Static_assert(sizeof(struct virtio_net_hdr) == 12, "virtio_net_hdr is 12 bytes in virtio 1.x");

#define ETH_HEADER_LEN 14u
#define TX_FRAME_MAX   1518u    /* 1514 + an 802.1Q tag; no FCS */
#define RX_FRAME_MAX   1526u
/* One buffer per slot, each holding a header and the largest frame. */
#define BUF_SIZE 2048u
_Static_assert(BUF_SIZE >= sizeof(struct virtio_net_hdr) + RX_FRAME_MAX, "a frame fits one buffer");

/* MSI-X: entry 0 configuration, 1 receive, 2 transmit (never armed: sent
 * buffers are reclaimed when the next frame goes out). */
#define NET_FIRST_VECTOR (VECTOR_MSIX_BASE + 8)
#define NET_MSIX_CONFIG  0
#define NET_MSIX_RX      1
#define NET_MSIX_TX      2
#define NET_MSIX_COUNT   3

#define NET_WAIT_SLICES 5
#define NET_POLLS_PER_STATUS_CHECK 4096u

/* A locally administered address for a device that offers no MAC. */
static const uint8_t fallback_mac[6] = { 0x02, 0x69, 0x6f, 0x76, 0x00, 0x01 };

struct virtio_net {
	struct virtio_pci_device pci;
	struct virtq rx, tx;
	uint8_t *rx_bufs;          /* rx.size slots of BUF_SIZE */
	uint8_t *tx_bufs;          /* tx.size slots; headers stay zero */
	uint16_t tx_free[QUEUE_MAX_SIZE];
	uint16_t tx_free_count;
	bool mergeable;
	bool polled;
	bool broken;
	unsigned empty_polls;
	uint32_t config_irqs_seen;   /* configuration interrupts already looked at */
	uint32_t irq_base;
	unsigned bad_used_reports;
};

static struct virtio_net net;

static uint8_t *slot(uint8_t *bufs, uint16_t index)
{
	return bufs + (uint64_t)index * BUF_SIZE;
}

static void update_counts(struct guest_nic *nic)
{
	struct virtio_net *n = nic->priv;
	nic->notifications = n->rx.notifications + n->tx.notifications;
	if (!n->polled)
		nic->interrupts = virtio_pci_interrupt_count(&n->pci, NET_MSIX_RX) - n->irq_base;
}

static void report_bad_used(struct virtio_net *n, const char *queue)
{
	if (n->bad_used_reports++ < 4)
		guest_printf("virtio-net: device used a %s descriptor that heads no buffer in flight\n", queue);
}

static void post_rx_buffer(struct virtio_net *n, uint16_t index)
{
	struct virtq_buf b = { (uint64_t)(uintptr_t)slot(n->rx_bufs, index), BUF_SIZE, true };
	virtq_add_chain(&n->rx, &b, 1, index);
}

/* Sent frames whose buffers the device is done with go back on the stack. */
static void reclaim_tx(struct virtio_net *n)
{
	uint16_t token;
	uint32_t written;
	bool bad;
	for (;;) {
		if (virtq_get_used(&n->tx, &token, &written, &bad))
			n->tx_free[n->tx_free_count++] = token;
		else if (bad)
			report_bad_used(n, "transmit");
		else
			return;
	}
}

static int net_send(struct guest_nic *nic, const void *frame, uint32_t len)
{
	struct virtio_net *n = nic->priv;
	if (n->broken || !frame || len < ETH_HEADER_LEN || len > TX_FRAME_MAX)
		return -1;
	if (n->tx_free_count == 0)
		reclaim_tx(n);
	if (n->tx_free_count == 0)
		return -1;
	uint16_t index = n->tx_free[--n->tx_free_count];
	uint8_t *buf = slot(n->tx_bufs, index);
	memcpy(buf + sizeof(struct virtio_net_hdr), frame, len);
	struct virtq_buf b = { (uint64_t)(uintptr_t)buf, (uint32_t)sizeof(struct virtio_net_hdr) + len, false };
	if (virtq_add_chain(&n->tx, &b, 1, index) != 0) {
		n->tx_free[n->tx_free_count++] = index;
		return -1;
	}
	return 0;
}

static void net_kick(struct guest_nic *nic)
{
	struct virtio_net *n = nic->priv;
	virtq_kick(&n->tx);
	update_counts(nic);
}

/* Whether DEVICE_NEEDS_RESET is worth a look. With MSI-X the device
 * announces it with a configuration interrupt, so the status register (a
 * read that traps to the VMM) is read only then and the data path stays
 * exit-free; polled, it is read every NET_POLLS_PER_STATUS_CHECK empty polls. */
static bool needs_reset_suspected(struct virtio_net *n)
{
	if (n->polled)
		return ++n->empty_polls % NET_POLLS_PER_STATUS_CHECK == 0;
	uint32_t now = virtio_pci_interrupt_count(&n->pci, NET_MSIX_CONFIG);
	if (now == n->config_irqs_seen)
		return false;
	n->config_irqs_seen = now;
	return true;
}

static bool check_needs_reset(struct virtio_net *n)
{
	if (!n->broken && virtio_pci_needs_reset(&n->pci)) {
		n->broken = true;
		guest_printf("virtio-net: device set DEVICE_NEEDS_RESET\n");
	}
	return n->broken;
}

/* Takes the next used receive buffer: its slot and the bytes written. */
static bool next_rx(struct virtio_net *n, uint16_t *index, uint32_t *written)
{
	bool bad;
	for (;;) {
		if (virtq_get_used(&n->rx, index, written, &bad))
			return true;
		if (!bad)
			return false;
		report_bad_used(n, "receive");
	}
}

static int net_receive(struct guest_nic *nic, void *out, uint32_t cap)
{
	struct virtio_net *n = nic->priv;
	uint16_t index;
	uint32_t written;
	if (n->broken)
		return -1;
	if (!next_rx(n, &index, &written)) {
		if (needs_reset_suspected(n) && check_needs_reset(n))
			return -1;
		return 0;
	}
	n->empty_polls = 0;
	const uint8_t *buf = slot(n->rx_bufs, index);
	const struct virtio_net_hdr *hdr = (const struct virtio_net_hdr *)buf;
	uint16_t buffers = n->mergeable ? hdr->num_buffers : 1;
	bool ok = written >= sizeof(*hdr) && written <= BUF_SIZE && buffers >= 1;
	uint32_t frame_len = ok ? written - (uint32_t)sizeof(*hdr) : 0;
	if (ok && frame_len <= cap)
		memcpy(out, buf + sizeof(*hdr), frame_len);
	post_rx_buffer(n, index);
	/* A mergeable frame continues, headerless, in the next used buffers. */
	for (uint16_t i = 1; ok && i < buffers; i++) {
		if (!next_rx(n, &index, &written) || written > BUF_SIZE) {
			ok = false;
			break;
		}
		if (frame_len <= cap && written <= cap - frame_len)
			memcpy((uint8_t *)out + frame_len, slot(n->rx_bufs, index), written);
		frame_len += written;
		post_rx_buffer(n, index);
	}
	/* The device only hears of the returned buffers if it asked to. */
	virtq_kick(&n->rx);
	update_counts(nic);
	if (!ok || frame_len > cap)
		return -1;
	return (int)frame_len;
}

static void net_wait(struct guest_nic *nic)
{
	struct virtio_net *n = nic->priv;
	if (n->polled || n->broken)
		return;
	uint32_t seen = virtio_pci_interrupt_count(&n->pci, NET_MSIX_RX);
	bool woke = true;
	if (!virtq_arm_interrupt(&n->rx))
		woke = usermode_wait_msix(NET_FIRST_VECTOR - VECTOR_MSIX_BASE + NET_MSIX_RX, seen,
					    NET_WAIT_SLICES);
	virtq_disarm_interrupt(&n->rx);
	if (!woke && !virtq_has_used(&n->rx) && needs_reset_suspected(n))
		check_needs_reset(n);
	update_counts(nic);
}

static void read_mac(struct virtio_net *n, uint8_t mac[6])
{
	if (!(n->pci.features & VIRTIO_FEATURE(VIRTIO_NET_F_MAC))) {
		memcpy(mac, fallback_mac, 6);
		return;
	}
	for (unsigned i = 0; i < 6; i++)
		mac[i] = virtio_pci_config_read8(&n->pci, VIRTIO_NET_CFG_MAC + i);
}

static const char *net_setup(struct virtio_net *n, const struct pci_function *fn,
			     const struct guest_io_options *opts, struct guest_nic *nic)
{
	uint64_t wanted = VIRTIO_FEATURE(VIRTIO_F_VERSION_1) | VIRTIO_FEATURE(VIRTIO_F_RING_EVENT_IDX) |
			  VIRTIO_FEATURE(VIRTIO_F_RING_INDIRECT_DESC) | VIRTIO_FEATURE(VIRTIO_NET_F_MAC) |
			  VIRTIO_FEATURE(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_FEATURE(VIRTIO_NET_F_STATUS);
	const char *err = virtio_pci_start(&n->pci, fn, wanted);
	if (err)
		return err;
	n->mergeable = (n->pci.features & VIRTIO_FEATURE(VIRTIO_NET_F_MRG_RXBUF)) != 0;
	n->polled = opts->mode == GUEST_IO_POLL;
	read_mac(n, nic->mac);

	if (!n->polled) {
		err = virtio_pci_enable_msix(&n->pci, NET_FIRST_VECTOR, NET_MSIX_COUNT);
		if (err)
			return err;
	}
	err = virtio_pci_setup_queue(&n->pci, &n->rx, RX_QUEUE, QUEUE_MAX_SIZE, NET_MSIX_RX);
	if (!err)
		err = virtio_pci_setup_queue(&n->pci, &n->tx, TX_QUEUE, QUEUE_MAX_SIZE, NET_MSIX_TX);
	if (err)
		return err;
	/* Receive buffers are overwritten by the device; transmit headers must
	 * read as zero, so those come zeroed and are never written again. */
	n->rx_bufs = page_alloc_uninit(((uint64_t)n->rx.size * BUF_SIZE + 4095) / 4096, 4096);
	n->tx_bufs = page_alloc(((uint64_t)n->tx.size * BUF_SIZE + 4095) / 4096, 4096);
	if (!n->rx_bufs || !n->tx_bufs)
		return "out of guest memory for packet buffers";
	for (uint16_t i = 0; i < n->tx.size; i++)
		n->tx_free[i] = i;
	n->tx_free_count = n->tx.size;
	/* The ring is filled before DRIVER_OK and announced after it: the
	 * device may not be notified earlier. */
	for (uint16_t i = 0; i < n->rx.size; i++)
		post_rx_buffer(n, i);
	virtq_publish(&n->rx);
	err = virtio_pci_driver_ok(&n->pci);
	if (err)
		return err;
	virtq_kick(&n->rx);
	n->irq_base = virtio_pci_interrupt_count(&n->pci, NET_MSIX_RX);

	nic->name = "virtio-net";
	nic->kind = GUEST_DEVICE_VIRTIO_NET;
	nic->send = net_send;
	nic->kick = net_kick;
	nic->receive = net_receive;
	nic->wait = net_wait;
	nic->priv = n;
	update_counts(nic);
	bool link_known = (n->pci.features & VIRTIO_FEATURE(VIRTIO_NET_F_STATUS)) != 0;
	bool link_up = !link_known ||
		       (virtio_pci_config_read16(&n->pci, VIRTIO_NET_CFG_STATUS) & VIRTIO_NET_S_LINK_UP);
	guest_printf("virtio-net: mac %02x:%02x:%02x:%02x:%02x:%02x, rx/tx queues %u/%u, %s, %s%s, link %s\n",
		     nic->mac[0], nic->mac[1], nic->mac[2], nic->mac[3], nic->mac[4], nic->mac[5], n->rx.size,
		     n->tx.size, n->mergeable ? "mergeable rx buffers" : "whole-frame rx buffers",
		     n->rx.event_idx ? "event idx" : "notify flags", n->polled ? ", polled" : ", MSI-X",
		     link_known ? (link_up ? "up" : "down") : "not reported");
	return NULL;
}

static const char *net_probe(const struct pci_scan *scan, const struct guest_io_options *opts,
			     struct guest_nic *nic)
{
	unsigned kept = scan->count < PCI_SCAN_MAX ? scan->count : PCI_SCAN_MAX;
	for (unsigned i = 0; i < kept; i++) {
		if (!virtio_pci_matches(&scan->functions[i], VIRTIO_ID_NET))
			continue;
		net = (struct virtio_net){ 0 };
		return net_setup(&net, &scan->functions[i], opts, nic);
	}
	return "no virtio-net device (1af4:1041 or 1af4:1000) on bus 0";
}

const struct guest_nic_driver virtio_net_nic_driver = {
	.name = "virtio-net",
	.kind = GUEST_DEVICE_VIRTIO_NET,
	.probe = net_probe,
};
