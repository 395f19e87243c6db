/* e1000 receive: frames from the packet port land straight in the buffers
 * the driver posted (RDH up to RDT), the port writing into guest memory
 * through iovecs translated by iommu/. The buffer size comes from RCTL
 * (BSIZE/BSEX); a frame longer than one buffer spans several descriptors,
 * EOP on the last. Without RCTL.SECRC the 4-byte FCS is appended (computed,
 * since the port carries frames without it).
 *
 * When frames are read: ports with a notify eventfd (loopback, tap) are
 * watched on the VM's I/O thread, which drains the port until it is empty
 * (the port's contract for re-arming the fd). Poll-mode ports (DPDK) have no
 * fd: they are drained right after each transmit, RDT write and ICR read
 * (inline, on that vCPU thread) and every E1000_POLL_INTERVAL_NS from a
 * timerfd on the I/O thread while RCTL.EN is set. rx.lock serialises all
 * receivers, so the port always sees one receiver at a time.
 *
 * A frame with no free descriptor (ring full, receive off, ring stopped) is
 * dropped and counted in MPC with RXO raised; a frame too long for the
 * descriptors there are is dropped the same way; one longer than the port's
 * maximum counts in ROC. A descriptor whose buffer lies outside guest RAM is
 * handed back with DD|EOP, length 0 and the RXE error bit, the frame dropped
 * and a fault logged. Address filtering follows RAL/RAH, MTA, UPE/MPE/BAM. */
#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/io_thread.h"
#include "core/log.h"
#include "core/vm.h"
#include "emulated/e1000.h"
#include "iommu/dma_space.h"

#define E1000_FCS_LEN 4u
#define RX_IOV_MAX (2 * E1000_RX_MAX_DESC_PER_FRAME)

static uint32_t crc32_table[256];

static void __attribute__((constructor)) e1000_crc32_table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc32_table[i] = c;
	}
}

/* The Ethernet FCS (CRC-32) over len bytes of the iovecs. */
static uint32_t e1000_frame_fcs(const struct iovec *iov, unsigned niov, size_t len)
{
	uint32_t crc = 0xffffffffu;
	for (unsigned i = 0; i < niov && len > 0; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t n = iov[i].iov_len < len ? iov[i].iov_len : len;
		for (size_t k = 0; k < n; k++)
			crc = crc32_table[(crc ^ p[k]) & 0xff] ^ (crc >> 8);
		len -= n;
	}
	return ~crc;
}

/* Stores src at byte offset `at` of the iovecs (which have room). */
static void e1000_iov_store(const struct iovec *iov, unsigned niov, size_t at, const uint8_t *src,
			    size_t len)
{
	for (unsigned i = 0; i < niov && len > 0; i++) {
		if (at >= iov[i].iov_len) {
			at -= iov[i].iov_len;
			continue;
		}
		size_t n = iov[i].iov_len - at < len ? iov[i].iov_len - at : len;
		memcpy((uint8_t *)iov[i].iov_base + at, src, n);
		src += n;
		len -= n;
		at = 0;
	}
}

static uint32_t e1000_rx_buffer_size(uint32_t rctl)
{
	static const uint32_t plain[4] = { 2048, 1024, 512, 256 };
	static const uint32_t extended[4] = { 2048, 16384, 8192, 4096 };  /* BSEX with 00 is reserved */
	unsigned code = (rctl >> E1000_RCTL_BSIZE_SHIFT) & 3;
	return (rctl & E1000_RCTL_BSEX) ? extended[code] : plain[code];
}

/* rx.lock held */
static bool e1000_rx_accept(const struct e1000 *e, const uint8_t dst[6])
{
	uint32_t rctl = e->rx.rctl;
	if (!(dst[0] & 1)) {
		if (rctl & E1000_RCTL_UPE)
			return true;
		uint32_t lo = (uint32_t)dst[0] | dst[1] << 8 | dst[2] << 16 | (uint32_t)dst[3] << 24;
		uint32_t hi = (uint32_t)dst[4] | dst[5] << 8;
		for (unsigned i = 0; i < E1000_RA_ENTRIES; i++)
			if ((e->rx.rah[i] & E1000_RAH_AV) && e->rx.ral[i] == lo &&
			    (e->rx.rah[i] & 0xffff) == hi)
				return true;
		return false;
	}
	static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	if (memcmp(dst, broadcast, 6) == 0)
		return (rctl & E1000_RCTL_BAM) || (rctl & E1000_RCTL_MPE);
	if (rctl & E1000_RCTL_MPE)
		return true;
	/* MTA: 12 bits of the address picked by RCTL.MO index 4096 filter bits. */
	unsigned shift = 4 - ((rctl >> E1000_RCTL_MO_SHIFT) & 3);
	if (shift == 1)
		shift = 0;   /* MO 11b takes bits 43:32 */
	uint32_t hash = (((uint32_t)dst[4] >> shift) | (uint32_t)dst[5] << (8 - shift)) & 0xfff;
	return (e->rx.mta[hash >> 5] >> (hash & 31)) & 1;
}

/* Gives the driver's buffers from RDH on as iovecs, up to what a largest
 * frame needs. Returns the number of descriptors offered; *bad_head is set
 * when the descriptor at RDH has a buffer outside guest RAM. */
static unsigned e1000_rx_offer(struct e1000 *e, const struct e1000_rx_desc *desc, uint32_t bufsize,
			       struct iovec *iov, unsigned *niov, size_t *capacity, bool *bad_head)
{
	struct e1000_ring *ring = &e->rx.ring;
	uint32_t n = e1000_ring_count(ring);
	unsigned k = 0;
	*niov = 0;
	*capacity = 0;
	*bad_head = false;
	for (uint32_t j = ring->head; j != ring->tail && k < E1000_RX_MAX_DESC_PER_FRAME &&
	     *capacity < PACKET_FRAME_MAX + E1000_FCS_LEN; j = (j + 1) % n) {
		uint64_t addr;
		memcpy(&addr, &desc[j].buffer_addr, sizeof(addr));
		unsigned got;
		if (dma_translate_sg(e->vm->dma, addr, bufsize, DMA_PERM_WRITE, iov + *niov,
				     RX_IOV_MAX - *niov, &got) < 0) {
			*bad_head = k == 0;
			break;
		}
		*niov += got;
		*capacity += bufsize;
		k++;
	}
	return k;
}

static void e1000_rx_writeback(struct e1000_rx_desc *d, uint16_t length, uint8_t errors, bool eop)
{
	d->length = length;
	d->checksum = 0;
	d->errors = errors;
	d->special = 0;
	uint8_t status = (uint8_t)(E1000_RXD_STA_DD | (eop ? E1000_RXD_STA_EOP : 0));
	__atomic_store_n(&d->status, status, __ATOMIC_RELEASE);
}

static void e1000_rx_count_good(struct e1000 *e, const uint8_t dst[6], uint32_t len)
{
	e1000_stat_add(e, E1000_STAT_TPR, 1);
	e1000_stat_add(e, E1000_STAT_GPRC, 1);
	e1000_stat_add(e, E1000_STAT_GORCL, len);
	e1000_stat_add(e, E1000_STAT_TORL, len);
	if (dst[0] & 1)
		e1000_stat_add(e, memcmp(dst, "\xff\xff\xff\xff\xff\xff", 6) == 0 ? E1000_STAT_BPRC
										   : E1000_STAT_MPRC, 1);
	counter_add(&e->counters.requests, 1);
	counter_add(&e->counters.bytes_read, len);
}

/* Receives one frame nowhere: the port's queue must still be emptied. */
static bool e1000_rx_discard_one(struct e1000 *e)
{
	struct iovec iov = { .iov_base = e->rx.discard, .iov_len = sizeof(e->rx.discard) };
	struct packet_frame f = { .iov = &iov, .iovcnt = 1 };
	return packet_port_receive(e->nic.port, &f, 1) == 1;
}

/* One frame from the port into the ring. Returns false when the port is
 * empty; *causes collects interrupt causes. rx.lock held. */
static bool e1000_rx_one(struct e1000 *e, struct e1000_rx_desc *desc, uint32_t *causes,
			 unsigned *delivered)
{
	struct e1000_ring *ring = &e->rx.ring;
	uint32_t bufsize = e1000_rx_buffer_size(e->rx.rctl);
	struct iovec iov[RX_IOV_MAX];
	unsigned niov = 0, offered = 0;
	size_t capacity = 0;
	bool bad_head = false;
	if (desc)
		offered = e1000_rx_offer(e, desc, bufsize, iov, &niov, &capacity, &bad_head);
	if (offered == 0) {
		if (!e1000_rx_discard_one(e))
			return false;
		if (bad_head) {
			e1000_fault(e, "receive descriptor %u has a buffer outside guest RAM: frame "
				    "dropped, descriptor returned with RXE", ring->head);
			e1000_rx_writeback(&desc[ring->head], 0, E1000_RXD_ERR_RXE, true);
			ring->head = (ring->head + 1) % e1000_ring_count(ring);
			*causes |= E1000_ICR_RXT0;
		} else {
			e1000_stat_add(e, E1000_STAT_MPC, 1);
			e1000_stat_add(e, E1000_STAT_RNBC, 1);
			*causes |= E1000_ICR_RXO;
		}
		return true;
	}
	struct packet_frame f = { .iov = iov, .iovcnt = niov };
	if (packet_port_receive(e->nic.port, &f, 1) == 0)
		return false;
	bool strip = e->rx.rctl & E1000_RCTL_SECRC;
	size_t total = f.len + (strip ? 0 : E1000_FCS_LEN);
	if (f.truncated || total > capacity) {
		if (capacity >= PACKET_FRAME_MAX + E1000_FCS_LEN) {
			e1000_stat_add(e, E1000_STAT_ROC, 1);
		} else {      /* the driver posted too few buffers for this frame */
			e1000_stat_add(e, E1000_STAT_MPC, 1);
			*causes |= E1000_ICR_RXO;
		}
		return true;
	}
	uint8_t dst[6];
	if (packet_iov_gather(dst, sizeof(dst), iov, niov) < sizeof(dst) || !e1000_rx_accept(e, dst))
		return true;   /* not for us: the buffers stay the driver's, unwritten-back */
	if (!strip) {
		uint32_t fcs = e1000_frame_fcs(iov, niov, f.len);
		uint8_t bytes[4] = { (uint8_t)fcs, (uint8_t)(fcs >> 8), (uint8_t)(fcs >> 16),
				     (uint8_t)(fcs >> 24) };
		e1000_iov_store(iov, niov, f.len, bytes, sizeof(bytes));
	}
	uint32_t n = e1000_ring_count(ring);
	size_t left = total;
	while (left > 0) {
		uint16_t chunk = (uint16_t)(left < bufsize ? left : bufsize);
		left -= chunk;
		e1000_rx_writeback(&desc[ring->head], chunk, 0, left == 0);
		ring->head = (ring->head + 1) % n;
	}
	e1000_rx_count_good(e, dst, (uint32_t)total);
	(*delivered)++;
	*causes |= E1000_ICR_RXT0;
	return true;
}

unsigned e1000_rx_drain(struct e1000 *e)
{
	unsigned delivered = 0;
	uint32_t causes = 0;
	pthread_mutex_lock(&e->rx.lock);
	struct e1000_ring *ring = &e->rx.ring;
	for (;;) {
		/* Mapped per frame: a fault in between stops the ring at once. */
		struct e1000_rx_desc *desc = NULL;
		if ((e->rx.rctl & E1000_RCTL_EN) && ring->head != ring->tail) {
			if (pci_device_bus_master_enabled(&e->pci))
				desc = e1000_ring_map(e, ring, "receive");
			else
				e1000_fault(e, "frame arrived with bus mastering off: dropped");
		}
		if (!e1000_rx_one(e, desc, &causes, &delivered))
			break;
	}
	if (delivered) {
		uint32_t n = e1000_ring_count(ring);
		uint32_t owned = n ? (ring->tail + n - ring->head) % n : 0;
		unsigned rdmts = (e->rx.rctl >> E1000_RCTL_RDMTS_SHIFT) & 3;
		if (rdmts < 3 && owned <= n >> (rdmts + 1))
			causes |= E1000_ICR_RXDMT0;
	}
	pthread_mutex_unlock(&e->rx.lock);
	if (causes)
		e1000_irq_raise(e, causes);
	return delivered;
}

void e1000_rx_poll_if_polled(struct e1000 *e)
{
	if (packet_port_notify_fd(e->nic.port) < 0)
		e1000_rx_drain(e);
}

static void e1000_rx_port_ready(void *opaque, uint64_t count)
{
	(void)count;
	e1000_rx_drain(opaque);
}

/* rx.lock held: the poll timer runs while receive is on. */
static void e1000_rx_poll_timer_set(struct e1000 *e, bool on)
{
	if (e->rx.poll_timer_fd < 0)
		return;
	struct itimerspec its = { 0 };
	if (on) {
		its.it_value.tv_nsec = E1000_POLL_INTERVAL_NS;
		its.it_interval.tv_nsec = E1000_POLL_INTERVAL_NS;
	}
	if (timerfd_settime(e->rx.poll_timer_fd, 0, &its, NULL) < 0)
		log_warn("%s: receive poll timer: %s", e->name, strerror(errno));
}

int e1000_rx_start(struct e1000 *e)
{
	int fd = packet_port_notify_fd(e->nic.port);
	if (fd < 0) {
		e->rx.poll_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (e->rx.poll_timer_fd < 0) {
			log_error("%s: timerfd for polling the port: %s", e->name, strerror(errno));
			return -1;
		}
		fd = e->rx.poll_timer_fd;
	}
	int id = io_thread_watch_eventfd(e->vm->io, fd, e1000_rx_port_ready, e);
	if (id < 0) {
		log_error("%s: watching the packet port: %s", e->name, strerror(-id));
		return -1;
	}
	e->rx.notify_watch = id;
	return 0;
}

void e1000_rx_stop(struct e1000 *e)
{
	if (e->rx.notify_watch > 0)
		io_thread_unwatch(e->vm->io, e->rx.notify_watch);
	e->rx.notify_watch = 0;
	if (e->rx.poll_timer_fd >= 0)
		close(e->rx.poll_timer_fd);
	e->rx.poll_timer_fd = -1;
}

void e1000_rx_reset(struct e1000 *e)
{
	pthread_mutex_lock(&e->rx.lock);
	e->rx.rctl = 0;
	e1000_rx_poll_timer_set(e, false);
	memset(&e->rx.ring, 0, sizeof(e->rx.ring));
	memset(e->rx.ral, 0, sizeof(e->rx.ral));
	memset(e->rx.rah, 0, sizeof(e->rx.rah));
	memset(e->rx.mta, 0, sizeof(e->rx.mta));
	/* Receive address 0 is loaded from the EEPROM's MAC at reset. */
	const uint8_t *m = e->nic.mac;
	e->rx.ral[0] = (uint32_t)m[0] | m[1] << 8 | m[2] << 16 | (uint32_t)m[3] << 24;
	e->rx.rah[0] = (uint32_t)m[4] | m[5] << 8 | E1000_RAH_AV;
	pthread_mutex_unlock(&e->rx.lock);
}

void e1000_rx_reg_write(struct e1000 *e, uint32_t offset, uint32_t value)
{
	bool poll = false;
	pthread_mutex_lock(&e->rx.lock);
	if (offset == E1000_RCTL) {
		bool was_on = e->rx.rctl & E1000_RCTL_EN, on = value & E1000_RCTL_EN;
		if (on && !was_on)
			e->rx.ring.stopped = false;
		if (on != was_on)
			e1000_rx_poll_timer_set(e, on);
		e->rx.rctl = value;
		poll = on;
	} else if (offset >= E1000_MTA && offset < E1000_MTA + 4 * E1000_MTA_WORDS) {
		e->rx.mta[(offset - E1000_MTA) / 4] = value;
	} else if (offset >= E1000_RAL(0) && offset < E1000_RAL(E1000_RA_ENTRIES)) {
		unsigned i = (offset - E1000_RAL(0)) / 8;
		if (offset % 8 == 0)
			e->rx.ral[i] = value;
		else
			e->rx.rah[i] = value & (0xffffu | E1000_RAH_AV | (3u << 16));
	} else {
		e1000_ring_reg_write(e, &e->rx.ring, "receive", offset - E1000_RDBAL, value);
		poll = offset == E1000_RDT;
	}
	pthread_mutex_unlock(&e->rx.lock);
	if (poll)
		e1000_rx_poll_if_polled(e);
}

uint32_t e1000_rx_reg_read(struct e1000 *e, uint32_t offset)
{
	uint32_t v;
	pthread_mutex_lock(&e->rx.lock);
	if (offset == E1000_RCTL) {
		v = e->rx.rctl;
	} else if (offset >= E1000_MTA && offset < E1000_MTA + 4 * E1000_MTA_WORDS) {
		v = e->rx.mta[(offset - E1000_MTA) / 4];
	} else if (offset >= E1000_RAL(0) && offset < E1000_RAL(E1000_RA_ENTRIES)) {
		unsigned i = (offset - E1000_RAL(0)) / 8;
		v = offset % 8 == 0 ? e->rx.ral[i] : e->rx.rah[i];
	} else {
		v = e1000_ring_reg_read(&e->rx.ring, offset - E1000_RDBAL);
	}
	pthread_mutex_unlock(&e->rx.lock);
	return v;
}
