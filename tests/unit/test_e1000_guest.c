#include "tests/unit/test_e1000_guest.h"

#include <check.h>
#include <string.h>
#include <unistd.h>

#include "core/io_thread.h"

#include "core/pci.h"
#include "tests/test_vm_fixture.h"

const uint8_t eg_peer_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0xbb };

void eg_create(struct e1000_guest *g, const char *options)
{
	memset(g, 0, sizeof(*g));
	g->vm = test_vm_create(EG_RAM_BYTES);
	char err[512], text[256];
	snprintf(text, sizeof(text), "model=emulated%s%s", *options ? "," : "", options);
	g->nic = test_vm_add_device(g->vm, "nic", text, err, sizeof(err));
	ck_assert_msg(g->nic != NULL, "%s", err);
	g->bar = pci_device_bar_address(&g->nic->pci, 0);
	ck_assert_uint_ne(g->bar, 0);
	uint32_t id = test_vm_pci_config_read32(g->vm, (unsigned)g->nic->pci.slot, 0);
	ck_assert_uint_eq(id, (uint32_t)E1000_DEVICE_ID << 16 | E1000_VENDOR_ID);
	test_vm_pci_config_write32(g->vm, (unsigned)g->nic->pci.slot, PCI_CFG_COMMAND,
				   PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER);
}

void eg_destroy(struct e1000_guest *g)
{
	test_vm_destroy(g->vm);
}

uint32_t eg_read(struct e1000_guest *g, uint32_t offset)
{
	return test_vm_mmio_read32(g->vm, g->bar + offset);
}

void eg_write(struct e1000_guest *g, uint32_t offset, uint32_t value)
{
	test_vm_mmio_write32(g->vm, g->bar + offset, value);
}

uint64_t eg_faults(const struct e1000_guest *g)
{
	return counter_get(&g->nic->counters.faults);
}

uint64_t eg_mmio_exits(const struct e1000_guest *g)
{
	return counter_get(&g->nic->counters.mmio_exits);
}

static struct e1000_rx_desc *eg_rx_desc(struct e1000_guest *g, uint32_t i)
{
	return test_vm_ram(g->vm, EG_RX_RING + 16ull * i, 16);
}

static struct e1000_tx_desc *eg_tx_desc(struct e1000_guest *g, uint32_t i)
{
	return test_vm_ram(g->vm, EG_TX_RING + 16ull * i, 16);
}

void eg_rings_init(struct e1000_guest *g, unsigned ntx, unsigned nrx, uint32_t rctl_bits)
{
	ck_assert(ntx <= EG_MAX_DESC && nrx <= EG_MAX_DESC);
	g->ntx = ntx;
	g->nrx = nrx;
	g->tx_next = g->rx_next = 0;
	static const uint32_t sizes[4] = { 2048, 1024, 512, 256 };
	g->rx_bufsize = (rctl_bits & E1000_RCTL_BSEX) ? 4096 : sizes[(rctl_bits >> 16) & 3];
	memset(test_vm_ram(g->vm, EG_TX_RING, 16 * ntx), 0, 16 * ntx);
	for (unsigned i = 0; i < nrx; i++) {
		struct e1000_rx_desc *d = eg_rx_desc(g, i);
		memset(d, 0, sizeof(*d));
		d->buffer_addr = EG_RX_BUFS + (uint64_t)i * EG_SLOT_BYTES;
	}
	eg_write(g, E1000_TDBAL, EG_TX_RING);
	eg_write(g, E1000_TDBAH, 0);
	eg_write(g, E1000_TDLEN, 16 * ntx);
	eg_write(g, E1000_TDH, 0);
	eg_write(g, E1000_TDT, 0);
	eg_write(g, E1000_RDBAL, EG_RX_RING);
	eg_write(g, E1000_RDBAH, 0);
	eg_write(g, E1000_RDLEN, 16 * nrx);
	eg_write(g, E1000_RDH, 0);
	eg_write(g, E1000_RDT, nrx - 1);
	eg_write(g, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
	eg_write(g, E1000_RCTL, E1000_RCTL_EN | rctl_bits);
}

void eg_frame_fill(const struct e1000_guest *g, uint8_t *buf, uint32_t len, const uint8_t dst[6],
		   uint32_t seq)
{
	memcpy(buf, dst, 6);
	memcpy(buf + 6, g->nic->nic.mac, 6);
	buf[12] = 0x88;
	buf[13] = 0xb5;
	for (uint32_t i = 14; i < len; i++)
		buf[i] = (uint8_t)(seq * 13 + i * 7 + (i >> 8));
}

void eg_tx_put(struct e1000_guest *g, const void *data, uint64_t addr, uint32_t lower,
	       uint32_t upper)
{
	if (data) {
		addr = EG_TX_BUFS + (uint64_t)g->tx_next * EG_SLOT_BYTES;
		uint32_t len = lower & E1000_TXD_LEN_MASK;
		ck_assert_uint_le(len, EG_SLOT_BYTES);
		memcpy(test_vm_ram(g->vm, addr, len ? len : 1), data, len);
	}
	struct e1000_tx_desc *d = eg_tx_desc(g, g->tx_next);
	d->addr = addr;
	d->lower = lower;
	d->upper = upper;
	g->tx_next = (g->tx_next + 1) % g->ntx;
}

void eg_tx_kick(struct e1000_guest *g)
{
	eg_write(g, E1000_TDT, g->tx_next);
}

uint8_t eg_tx_status(struct e1000_guest *g, uint32_t i)
{
	return (uint8_t)eg_tx_desc(g, i)->upper;
}

static bool eg_rx_dd(void *opaque)
{
	struct e1000_guest *g = opaque;
	return __atomic_load_n(&eg_rx_desc(g, g->rx_next)->status, __ATOMIC_ACQUIRE) &
	       E1000_RXD_STA_DD;
}

void eg_rx_wait(struct e1000_guest *g)
{
	if (!io_thread_running(g->vm->io)) {
		test_vm_poll_io(g->vm, eg_rx_dd, g);
		return;
	}
	/* The started I/O thread owns the ring: just watch the descriptor. */
	for (unsigned i = 0; !eg_rx_dd(g); i++) {
		ck_assert_msg(i < 100000, "no frame within 5 s");
		usleep(50);
	}
}

bool eg_rx_ready(struct e1000_guest *g)
{
	test_vm_poll_io(g->vm, NULL, NULL);
	return eg_rx_dd(g);
}

uint32_t eg_rx_take(struct e1000_guest *g, uint8_t *buf, uint32_t cap, unsigned *ndesc,
		    uint8_t *errors)
{
	uint32_t len = 0;
	unsigned used = 0;
	*errors = 0;
	for (;;) {
		struct e1000_rx_desc *d = eg_rx_desc(g, g->rx_next);
		ck_assert_msg(d->status & E1000_RXD_STA_DD, "descriptor %u of a frame not done",
			      g->rx_next);
		ck_assert_uint_le(len + d->length, cap);
		ck_assert_uint_le(d->length, g->rx_bufsize);
		if (d->length)
			memcpy(buf + len, test_vm_ram(g->vm, d->buffer_addr, d->length), d->length);
		len += d->length;
		*errors |= d->errors;
		bool eop = d->status & E1000_RXD_STA_EOP;
		d->status = 0;
		d->buffer_addr = EG_RX_BUFS + (uint64_t)g->rx_next * EG_SLOT_BYTES;
		/* The descriptor goes back as the new tail (one stays unposted). */
		eg_write(g, E1000_RDT, g->rx_next);
		g->rx_next = (g->rx_next + 1) % g->nrx;
		used++;
		ck_assert_uint_lt(used, g->nrx);
		if (eop)
			break;
	}
	*ndesc = used;
	return len;
}

void eg_echo_ok(struct e1000_guest *g, uint32_t len, uint32_t seq)
{
	uint8_t out[2048], in[2048];
	ck_assert_uint_le(len, sizeof(out));
	eg_frame_fill(g, out, len, eg_peer_mac, seq);
	uint32_t slot = g->tx_next;
	eg_tx_put(g, out, 0, len | E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS, 0);
	eg_tx_kick(g);
	ck_assert_msg(eg_tx_status(g, slot) & E1000_TXD_STA_DD, "transmit descriptor not done");
	eg_rx_wait(g);
	unsigned ndesc;
	uint8_t errors;
	uint32_t got = eg_rx_take(g, in, sizeof(in), &ndesc, &errors);
	uint32_t want = len < 60 ? 60 : len;   /* PSP pads */
	ck_assert_uint_eq(got, want);
	ck_assert_uint_eq(errors, 0);
	ck_assert_mem_eq(in, g->nic->nic.mac, 6);
	ck_assert_mem_eq(in + 6, eg_peer_mac, 6);
	ck_assert_mem_eq(in + 12, out + 12, len - 12);
}
