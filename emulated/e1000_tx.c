/* e1000 transmit: a TDT write (on the vCPU thread that trapped) walks the
 * descriptors from TDH to TDT, gathers each frame (legacy descriptors, or a
 * context descriptor plus data descriptors) as iovecs straight into guest
 * memory, sends it through the packet port, writes DD back where RS asks for
 * it and raises TXDW. No TCP segmentation: a TSE descriptor's frame is
 * dropped with a fault. A frame is sent only once its EOP descriptor is
 * available; an unfinished frame waits for the next TDT write.
 *
 * Bad frames (a buffer outside guest RAM, longer than PACKET_FRAME_MAX, more
 * than PACKET_FRAME_IOV_MAX pieces, shorter than an Ethernet header, or no
 * EOP although the frame fills the whole ring) are dropped with a fault and
 * their descriptors completed: the ring keeps going. */
#include <string.h>

#include "core/vm.h"
#include "emulated/e1000.h"
#include "iommu/dma_space.h"

#define E1000_MIN_FRAME 60u    /* what PSP pads short frames to (no FCS) */

struct e1000_tx_frame {
	struct iovec iov[PACKET_FRAME_IOV_MAX];
	unsigned niov;
	uint64_t len;             /* bytes the descriptors describe */
	const char *drop;         /* why the frame is dropped, or NULL */
	bool insert_ip, insert_l4;            /* extended: POPTS from the data descriptors */
	bool insert_legacy;                   /* legacy: IC with CSO/CSS */
	uint8_t legacy_cso, legacy_css;
};

static void e1000_tx_desc_load(const struct e1000_tx_desc *ring, uint32_t i, struct e1000_tx_desc *d)
{
	memcpy(d, &ring[i], sizeof(*d));   /* one snapshot: the guest may change it under us */
}

static void e1000_tx_context_load(struct e1000 *e, const struct e1000_tx_desc *d)
{
	struct e1000_tx_context *c = &e->tx.ctx;
	c->ipcss = (uint8_t)d->addr;
	c->ipcso = (uint8_t)(d->addr >> 8);
	c->ipcse = (uint16_t)(d->addr >> 16);
	c->tucss = (uint8_t)(d->addr >> 32);
	c->tucso = (uint8_t)(d->addr >> 40);
	c->tucse = (uint16_t)(d->addr >> 48);
}

static void e1000_tx_frame_add(struct e1000 *e, struct e1000_tx_frame *f, uint64_t addr, uint32_t len)
{
	f->len += len;
	if (len == 0 || f->drop)
		return;     /* a zero-length descriptor carries nothing; it is still completed */
	if (f->len > PACKET_FRAME_MAX) {
		f->drop = "longer than the largest frame the port carries";
		return;
	}
	unsigned got;
	if (dma_translate_sg(e->vm->dma, addr, len, DMA_PERM_READ, f->iov + f->niov,
			     PACKET_FRAME_IOV_MAX - f->niov, &got) < 0) {
		f->drop = "a buffer lies outside guest RAM (or the frame has too many pieces)";
		return;
	}
	f->niov += got;
}

/* One's-complement sum of frame[start..end] inclusive (end 0: to the last
 * byte), stored complemented at offset, as the checksum offload defines it. */
static void e1000_tx_insert_checksum(struct e1000 *e, uint8_t *frame, uint32_t len, uint32_t start,
				     uint32_t end, uint32_t offset)
{
	if (start >= len || offset + 2 > len || (end && end < start)) {
		e1000_fault(e, "checksum offload offsets (start %u, end %u, at %u) outside the "
			    "%u-byte frame: not inserted", start, end, offset, len);
		return;
	}
	uint32_t last = end && end < len ? end : len - 1;
	uint32_t sum = 0;
	for (uint32_t i = start; i <= last; i += 2)
		sum += (uint32_t)frame[i] << 8 | (i + 1 <= last ? frame[i + 1] : 0);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	uint16_t csum = (uint16_t)~sum;
	frame[offset] = (uint8_t)(csum >> 8);
	frame[offset + 1] = (uint8_t)csum;
}

static void e1000_tx_count(struct e1000 *e, const uint8_t dst0, uint32_t len, bool broadcast)
{
	e1000_stat_add(e, E1000_STAT_TPT, 1);
	e1000_stat_add(e, E1000_STAT_GPTC, 1);
	e1000_stat_add(e, E1000_STAT_GOTCL, len);
	e1000_stat_add(e, E1000_STAT_TOTL, len);
	if (broadcast)
		e1000_stat_add(e, E1000_STAT_BPTC, 1);
	else if (dst0 & 1)
		e1000_stat_add(e, E1000_STAT_MPTC, 1);
	counter_add(&e->counters.requests, 1);
	counter_add(&e->counters.bytes_written, len);
}

/* tx.lock held */
static void e1000_tx_send(struct e1000 *e, struct e1000_tx_frame *f)
{
	uint32_t len = (uint32_t)f->len;
	if (len < PACKET_FRAME_MIN) {
		e1000_fault(e, "transmit frame of %u bytes dropped: shorter than an Ethernet header",
			    len);
		return;
	}
	bool pad = (e->tx.tctl & E1000_TCTL_PSP) && len < E1000_MIN_FRAME;
	struct packet_frame out = { .iov = f->iov, .iovcnt = f->niov };
	struct iovec bounce_iov;
	uint8_t dst[6];
	packet_iov_gather(dst, sizeof(dst), f->iov, f->niov);
	if (pad || f->insert_ip || f->insert_l4 || f->insert_legacy) {
		/* The guest's buffers are read-only to the device: edit a copy. */
		uint8_t *b = e->tx.bounce;
		packet_iov_gather(b, len, f->iov, f->niov);
		const struct e1000_tx_context *c = &e->tx.ctx;
		if (f->insert_ip)
			e1000_tx_insert_checksum(e, b, len, c->ipcss, c->ipcse, c->ipcso);
		if (f->insert_l4)
			e1000_tx_insert_checksum(e, b, len, c->tucss, c->tucse, c->tucso);
		if (f->insert_legacy)
			e1000_tx_insert_checksum(e, b, len, f->legacy_css, 0, f->legacy_cso);
		if (pad) {
			memset(b + len, 0, E1000_MIN_FRAME - len);
			len = E1000_MIN_FRAME;
		}
		bounce_iov = (struct iovec){ .iov_base = b, .iov_len = len };
		out.iov = &bounce_iov;
		out.iovcnt = 1;
	}
	packet_port_send(e->nic.port, &out, 1);
	static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	e1000_tx_count(e, dst[0], len, memcmp(dst, broadcast, 6) == 0);
}

/* Sets DD in each descriptor of [from, to] (ring order) that asked for it
 * with RS; returns whether any was written. */
static bool e1000_tx_complete(struct e1000_tx_desc *ring, uint32_t n, uint32_t from, uint32_t to)
{
	bool wrote = false;
	for (uint32_t i = from;; i = (i + 1) % n) {
		uint32_t lower;
		memcpy(&lower, &ring[i].lower, 4);
		if (lower & E1000_TXD_CMD_RS) {
			uint8_t *status = (uint8_t *)&ring[i].upper;
			__atomic_or_fetch(status, (uint8_t)E1000_TXD_STA_DD, __ATOMIC_RELEASE);
			wrote = true;
		}
		if (i == to)
			break;
	}
	return wrote;
}

/* tx.lock held. Returns the interrupt causes to raise. */
static uint32_t e1000_tx_process_locked(struct e1000 *e)
{
	struct e1000_ring *ring = &e->tx.ring;
	if (!(e->tx.tctl & E1000_TCTL_EN) || ring->head == ring->tail || ring->stopped)
		return 0;
	if (!pci_device_bus_master_enabled(&e->pci)) {
		e1000_fault(e, "TDT written with bus mastering off: transmit waits (set Bus Master "
			    "in the command register)");
		return 0;
	}
	struct e1000_tx_desc *desc = e1000_ring_map(e, ring, "transmit");
	if (!desc)
		return 0;
	uint32_t n = e1000_ring_count(ring);
	bool wrote = false;
	while (ring->head != ring->tail) {
		struct e1000_tx_frame f;
		f.niov = 0;
		f.len = 0;
		f.drop = NULL;
		f.insert_ip = f.insert_l4 = f.insert_legacy = false;
		uint32_t i = ring->head, used = 0;
		bool eop = false;
		for (; i != ring->tail; i = (i + 1) % n) {
			struct e1000_tx_desc d;
			e1000_tx_desc_load(desc, i, &d);
			used++;
			bool ext = d.lower & E1000_TXD_CMD_DEXT;
			uint32_t dtyp = d.lower & E1000_TXD_DTYP_MASK;
			if (ext && dtyp == E1000_TXD_DTYP_CTX) {
				e1000_tx_context_load(e, &d);
				continue;
			}
			if (ext) {
				if (dtyp != E1000_TXD_DTYP_DATA && !f.drop)
					f.drop = "an extended descriptor of unknown type";
				if ((d.lower & E1000_TXD_CMD_TSE) && !f.drop)
					f.drop = "TCP segmentation (TSE) is not supported";
				f.insert_ip |= (d.upper & E1000_TXD_POPTS_IXSM) != 0;
				f.insert_l4 |= (d.upper & E1000_TXD_POPTS_TXSM) != 0;
				e1000_tx_frame_add(e, &f, d.addr, d.lower & E1000_TXD_DLEN_MASK);
			} else {
				if (d.lower & E1000_TXD_CMD_IC) {
					f.insert_legacy = true;
					f.legacy_cso = (uint8_t)(d.lower >> 16);
					f.legacy_css = (uint8_t)(d.upper >> 8);
				}
				e1000_tx_frame_add(e, &f, d.addr, d.lower & E1000_TXD_LEN_MASK);
			}
			if (d.lower & E1000_TXD_CMD_EOP) {
				eop = true;
				break;
			}
		}
		if (!eop) {
			/* A frame can only grow while the ring has room; filling the
			 * ring without an end can never finish. */
			if (used < n - 1)
				break;
			e1000_fault(e, "transmit frame without EOP fills the whole ring (%u "
				    "descriptors): dropped", used);
			i = (ring->tail + n - 1) % n;
		} else if (f.drop) {
			e1000_fault(e, "transmit frame of %llu bytes dropped: %s",
				    (unsigned long long)f.len, f.drop);
		} else {
			e1000_tx_send(e, &f);
		}
		wrote |= e1000_tx_complete(desc, n, ring->head, i);
		ring->head = (i + 1) % n;
	}
	uint32_t causes = wrote ? E1000_ICR_TXDW : 0;
	if (ring->head == ring->tail)
		causes |= E1000_ICR_TXQE;
	return causes;
}

void e1000_tx_reset(struct e1000 *e)
{
	pthread_mutex_lock(&e->tx.lock);
	e->tx.tctl = 0;
	memset(&e->tx.ring, 0, sizeof(e->tx.ring));
	memset(&e->tx.ctx, 0, sizeof(e->tx.ctx));
	pthread_mutex_unlock(&e->tx.lock);
}

void e1000_tx_reg_write(struct e1000 *e, uint32_t offset, uint32_t value)
{
	pthread_mutex_lock(&e->tx.lock);
	if (offset == E1000_TCTL) {
		if ((value & E1000_TCTL_EN) && !(e->tx.tctl & E1000_TCTL_EN))
			e->tx.ring.stopped = false;
		e->tx.tctl = value;
	} else {
		e1000_ring_reg_write(e, &e->tx.ring, "transmit", offset - E1000_TDBAL, value);
	}
	uint32_t causes = 0;
	if (offset == E1000_TDT || offset == E1000_TCTL)
		causes = e1000_tx_process_locked(e);
	pthread_mutex_unlock(&e->tx.lock);
	if (causes)
		e1000_irq_raise(e, causes);
	/* A loopback-like poll-mode port has the frames back already. */
	if (offset == E1000_TDT)
		e1000_rx_poll_if_polled(e);
}

uint32_t e1000_tx_reg_read(struct e1000 *e, uint32_t offset)
{
	pthread_mutex_lock(&e->tx.lock);
	uint32_t v = offset == E1000_TCTL ? e->tx.tctl
					  : e1000_ring_reg_read(&e->tx.ring, offset - E1000_TDBAL);
	pthread_mutex_unlock(&e->tx.lock);
	return v;
}
