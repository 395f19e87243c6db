/* The guest's e1000 driver: see guest/e1000.h. Register traps are the cost
 * on an emulated NIC, so the data path writes TDT once per kick and RDT once
 * per batch of reposted receive buffers, and frames are copied with one
 * string instruction each way. */
#include "guest/e1000.h"

#include <stddef.h>

#include "guest/interrupts.h"
#include "guest/io.h"
#include "guest/lapic.h"
#include "guest/msix.h"
#include "guest/page_alloc.h"
#include "guest/pci.h"
#include "guest/print.h"
#include "guest/string.h"
#include "guest/usermode.h"

#define INTEL_VENDOR_ID 0x8086u
#define E1000_82540EM_ID 0x100Eu
#define E1000E_82574_ID 0x10D3u

#define E1000_CTRL   0x0000
#define E1000_STATUS 0x0008
#define E1000_EERD   0x0014
#define E1000_ICR    0x00C0
#define E1000_ITR    0x00C4
#define E1000_IMS    0x00D0
#define E1000_IMC    0x00D8
#define E1000_RCTL   0x0100
#define E1000_TCTL   0x0400
#define E1000_TIPG   0x0410
#define E1000_RDBAL  0x2800
#define E1000_RDBAH  0x2804
#define E1000_RDLEN  0x2808
#define E1000_RDH    0x2810
#define E1000_RDT    0x2818
#define E1000_RDTR   0x2820
#define E1000_TDBAL  0x3800
#define E1000_TDBAH  0x3804
#define E1000_TDLEN  0x3808
#define E1000_TDH    0x3810
#define E1000_TDT    0x3818
#define E1000_RAL0   0x5400
#define E1000_RAH0   0x5404

#define CTRL_ASDE (1u << 5)
#define CTRL_SLU  (1u << 6)
#define CTRL_RST  (1u << 26)
#define STATUS_LU (1u << 1)
#define RCTL_EN    (1u << 1)
#define RCTL_BAM   (1u << 15)
#define RCTL_SECRC (1u << 26)   /* strip the FCS: frames come back as sent */
#define TCTL_EN  (1u << 1)
#define TCTL_PSP (1u << 3)
#define TCTL_CT_DEFAULT   (0x0Fu << 4)
#define TCTL_COLD_DEFAULT (0x40u << 12)
#define TIPG_DEFAULT (10u | 8u << 10 | 6u << 20)
#define RAH_AV (1u << 31)
/* Causes: TX written back, RX timer, RX min threshold, RX overrun, link. */
#define IMS_WANTED ((1u << 0) | (1u << 7) | (1u << 4) | (1u << 6) | (1u << 2))

#define DESC_DD  0x01u
#define DESC_EOP 0x01u   /* RX status EOP is bit 1; TX cmd EOP is bit 0 */
#define RX_STATUS_EOP 0x02u
#define RX_ERRORS_BAD 0x87u  /* CE, SE, SEQ, RXE */
#define TX_CMD_EOP  0x01u
#define TX_CMD_IFCS 0x02u
#define TX_CMD_RS   0x08u

#define RING_SIZE 64u          /* a multiple of 8: rings are 128-byte units */
#define BUF_SIZE 2048u
#define FRAME_MIN 14u
#define FRAME_MAX 1514u
#define RX_REPOST_BATCH 16u

#define PCI_CAP_ID_MSI  0x05
#define PCI_CAP_ID_MSIX 0x11
/* The NIC's MSI-X/MSI slot, apart from the disk drivers' 0 and 1. */
#define E1000_VECTOR_INDEX 4u
#define E1000_WAIT_SLICES 10u
/* Without interrupts a wait is a bounded spin on the descriptors. */
#define E1000_POLL_SPINS 100000u
#define SLEEP_SLOT (VECTOR_MSIX_COUNT - 1u)

struct e1000_rx_desc {
	uint64_t addr;
	uint16_t length;
	uint16_t checksum;
	uint8_t status;
	uint8_t errors;
	uint16_t special;
};

struct e1000_tx_desc {
	uint64_t addr;
	uint16_t length;
	uint8_t cso;
	uint8_t cmd;
	uint8_t status;
	uint8_t css;
	uint16_t special;
};

_Static_assert(sizeof(struct e1000_rx_desc) == 16 && sizeof(struct e1000_tx_desc) == 16, "descriptor size");

struct e1000_device {
	uint64_t regs;
	volatile struct e1000_rx_desc *rx;
	volatile struct e1000_tx_desc *tx;
	uint8_t *rx_bufs, *tx_bufs;
	unsigned rx_next;        /* next descriptor the device fills */
	unsigned rx_unposted;    /* consumed, not yet returned by RDT */
	unsigned tx_tail;
	unsigned tx_tail_told;
	unsigned tx_clean;       /* oldest descriptor not yet seen done */
	bool irq;
	uint32_t irq_seen;
};

static struct e1000_device e1000;
static char e1000_error[96];

static uint32_t reg_read(uint32_t offset)
{
	return mmio_read32(e1000.regs + offset);
}

static void reg_write(uint32_t offset, uint32_t value)
{
	mmio_write32(e1000.regs + offset, value);
}

static void sleep_slice(void)
{
	interrupts_wait_msix(SLEEP_SLOT, msix_vector_counts[SLEEP_SLOT], 1);
}

/* Takes back transmitted descriptors; true if any ring slot is free. */
static bool tx_reclaim(void)
{
	while (e1000.tx_clean != e1000.tx_tail && (e1000.tx[e1000.tx_clean].status & DESC_DD))
		e1000.tx_clean = (e1000.tx_clean + 1u) % RING_SIZE;
	return (e1000.tx_tail + 1u) % RING_SIZE != e1000.tx_clean;
}

static int e1000_send(struct guest_nic *nic, const void *frame, uint32_t len)
{
	(void)nic;
	if (len < FRAME_MIN || len > FRAME_MAX)
		return -1;
	if ((e1000.tx_tail + 1u) % RING_SIZE == e1000.tx_clean && !tx_reclaim())
		return -1;
	unsigned slot = e1000.tx_tail;
	memcpy(e1000.tx_bufs + (size_t)slot * BUF_SIZE, frame, len);
	volatile struct e1000_tx_desc *d = &e1000.tx[slot];
	d->length = (uint16_t)len;
	d->status = 0;
	d->cmd = TX_CMD_EOP | TX_CMD_IFCS | TX_CMD_RS;
	e1000.tx_tail = (slot + 1u) % RING_SIZE;
	return 0;
}

static void e1000_kick(struct guest_nic *nic)
{
	if (e1000.tx_tail == e1000.tx_tail_told)
		return;
	__asm__ volatile("" : : : "memory");
	reg_write(E1000_TDT, e1000.tx_tail);
	e1000.tx_tail_told = e1000.tx_tail;
	nic->notifications++;
}

/* Hands consumed receive buffers back to the device with one RDT write. */
static void rx_repost(struct guest_nic *nic)
{
	if (!e1000.rx_unposted)
		return;
	__asm__ volatile("" : : : "memory");
	reg_write(E1000_RDT, (e1000.rx_next + RING_SIZE - 1u) % RING_SIZE);
	e1000.rx_unposted = 0;
	nic->notifications++;
}

static int e1000_receive(struct guest_nic *nic, void *buf, uint32_t cap)
{
	volatile struct e1000_rx_desc *d = &e1000.rx[e1000.rx_next];
	uint8_t status = d->status;
	if (!(status & DESC_DD)) {
		rx_repost(nic);
		return 0;
	}
	uint32_t len = d->length;
	int result = (int)len;
	/* A frame split over buffers, a bad one, or one too big is dropped. */
	if (!(status & RX_STATUS_EOP) || (d->errors & RX_ERRORS_BAD) || len > cap || len > BUF_SIZE)
		result = -1;
	else
		memcpy(buf, e1000.rx_bufs + (size_t)e1000.rx_next * BUF_SIZE, len);
	d->status = 0;
	e1000.rx_next = (e1000.rx_next + 1u) % RING_SIZE;
	if (++e1000.rx_unposted >= RX_REPOST_BATCH)
		rx_repost(nic);
	return result;
}

/* Something for the runner: a received frame, or room in a TX ring that
 * was full when the wait began (free slots alone are no reason to wake). */
static bool work_ready(bool tx_was_full)
{
	if (e1000.rx[e1000.rx_next].status & DESC_DD)
		return true;
	return tx_was_full && tx_reclaim();
}

static void e1000_wait(struct guest_nic *nic)
{
	rx_repost(nic);
	bool tx_full = !tx_reclaim();
	if (!e1000.irq) {
		for (unsigned i = 0; i < E1000_POLL_SPINS && !work_ready(tx_full); i++)
			__asm__ volatile("pause");
		return;
	}
	uint32_t seen = msix_vector_counts[E1000_VECTOR_INDEX];
	/* Reading ICR acknowledges the causes, so the next event raises a new
	 * message; work that arrived before it is caught by the check after. */
	(void)reg_read(E1000_ICR);
	if (!work_ready(tx_full))
		usermode_wait_msix(E1000_VECTOR_INDEX, seen, E1000_WAIT_SLICES);
	uint32_t now = msix_vector_counts[E1000_VECTOR_INDEX];
	nic->interrupts += now - e1000.irq_seen;
	e1000.irq_seen = now;
}

/* --- bring-up --- */

/* Programs a single-message MSI capability for one vector. */
static void msi_enable(const struct pci_function *fn, uint8_t cap, uint8_t vector)
{
	uint16_t control = pci_config_read16(fn, (uint8_t)(cap + 2));
	uint32_t address = 0xFEE00000u | lapic_id() << 12;
	pci_enable_memory_and_bus_master(fn);
	pci_config_write16(fn, (uint8_t)(cap + 4), (uint16_t)address);
	pci_config_write16(fn, (uint8_t)(cap + 6), (uint16_t)(address >> 16));
	uint8_t data_offset = 8;
	if (control & 0x80u) { /* 64-bit address */
		pci_config_write16(fn, (uint8_t)(cap + 8), 0);
		pci_config_write16(fn, (uint8_t)(cap + 10), 0);
		data_offset = 12;
	}
	pci_config_write16(fn, (uint8_t)(cap + data_offset), vector);
	/* One message (MME 0), enabled. */
	pci_config_write16(fn, (uint8_t)(cap + 2), (uint16_t)((control & ~0x70u) | 1u));
}

/* MSI-X if offered, else MSI, else none (polling). The 82574 routes its
 * MSI-X causes through IVAR, which this driver does not program, so it uses
 * MSI. NULL or a reason. */
static const char *interrupts_setup(const struct pci_function *fn, bool e1000e)
{
	uint8_t vector = (uint8_t)(VECTOR_MSIX_BASE + E1000_VECTOR_INDEX);
	if (!e1000e && pci_find_capability(fn, PCI_CAP_ID_MSIX)) {
		/* One entry: entry 0 carries every cause. */
		struct msix_table table;
		const char *err = msix_enable(fn, vector, 1, lapic_id(), &table);
		if (err) {
			guest_snprintf(e1000_error, sizeof(e1000_error), "MSI-X: %s", err);
			return e1000_error;
		}
		return NULL;
	}
	uint8_t msi = pci_find_capability(fn, PCI_CAP_ID_MSI);
	if (msi) {
		msi_enable(fn, msi, vector);
		return NULL;
	}
	e1000.irq = false;
	pci_enable_memory_and_bus_master(fn);
	guest_printf("e1000: no MSI or MSI-X capability; completions are polled\n");
	return NULL;
}

static const char *reset(void)
{
	reg_write(E1000_IMC, 0xFFFFFFFFu);
	reg_write(E1000_CTRL, reg_read(E1000_CTRL) | CTRL_RST);
	for (unsigned i = 0; i < 100; i++) {
		sleep_slice();
		if (!(reg_read(E1000_CTRL) & CTRL_RST)) {
			reg_write(E1000_IMC, 0xFFFFFFFFu);
			(void)reg_read(E1000_ICR);
			return NULL;
		}
	}
	return "CTRL.RST did not clear within 100 ms";
}

/* RAL0/RAH0 as the device loaded them from its EEPROM; the EEPROM itself
 * through EERD when they are empty (82540EM layout). */
static const char *read_mac(uint8_t mac[6], bool e1000e)
{
	uint32_t ral = reg_read(E1000_RAL0), rah = reg_read(E1000_RAH0);
	if ((rah & RAH_AV) && (ral || (rah & 0xFFFFu))) {
		for (unsigned i = 0; i < 4; i++)
			mac[i] = (uint8_t)(ral >> (8 * i));
		mac[4] = (uint8_t)rah;
		mac[5] = (uint8_t)(rah >> 8);
		return NULL;
	}
	if (e1000e)
		return "RAL0/RAH0 hold no MAC address";
	for (unsigned word = 0; word < 3; word++) {
		reg_write(E1000_EERD, 1u | word << 8);
		uint32_t v = 0;
		unsigned spins = 0;
		while (!((v = reg_read(E1000_EERD)) & (1u << 4)) && ++spins < 1000)
			;
		if (spins >= 1000)
			return "EEPROM read through EERD did not complete";
		mac[2 * word] = (uint8_t)(v >> 16);
		mac[2 * word + 1] = (uint8_t)(v >> 24);
	}
	reg_write(E1000_RAL0, (uint32_t)mac[0] | (uint32_t)mac[1] << 8 | (uint32_t)mac[2] << 16 |
				      (uint32_t)mac[3] << 24);
	reg_write(E1000_RAH0, (uint32_t)mac[4] | (uint32_t)mac[5] << 8 | RAH_AV);
	return NULL;
}

static const char *rings_setup(void)
{
	void *rx = page_alloc(1, 4096), *tx = page_alloc(1, 4096);
	e1000.rx_bufs = page_alloc_uninit(RING_SIZE * BUF_SIZE / 4096u, 4096);
	e1000.tx_bufs = page_alloc_uninit(RING_SIZE * BUF_SIZE / 4096u, 4096);
	if (!rx || !tx || !e1000.rx_bufs || !e1000.tx_bufs)
		return "out of memory for the rings";
	e1000.rx = rx;
	e1000.tx = tx;
	for (unsigned i = 0; i < RING_SIZE; i++) {
		e1000.rx[i].addr = (uintptr_t)(e1000.rx_bufs + (size_t)i * BUF_SIZE);
		e1000.tx[i].addr = (uintptr_t)(e1000.tx_bufs + (size_t)i * BUF_SIZE);
	}
	reg_write(E1000_RDBAL, (uint32_t)(uintptr_t)rx);
	reg_write(E1000_RDBAH, 0);
	reg_write(E1000_RDLEN, RING_SIZE * sizeof(struct e1000_rx_desc));
	reg_write(E1000_RDH, 0);
	/* All but one descriptor to the device: RDT == RDH would mean none. */
	reg_write(E1000_RDT, RING_SIZE - 1u);
	reg_write(E1000_RDTR, 0);
	reg_write(E1000_TDBAL, (uint32_t)(uintptr_t)tx);
	reg_write(E1000_TDBAH, 0);
	reg_write(E1000_TDLEN, RING_SIZE * sizeof(struct e1000_tx_desc));
	reg_write(E1000_TDH, 0);
	reg_write(E1000_TDT, 0);
	reg_write(E1000_TIPG, TIPG_DEFAULT);
	reg_write(E1000_TCTL, TCTL_EN | TCTL_PSP | TCTL_CT_DEFAULT | TCTL_COLD_DEFAULT);
	/* 2048-byte buffers (BSIZE 0), broadcast, our unicast address. */
	reg_write(E1000_RCTL, RCTL_EN | RCTL_BAM | RCTL_SECRC);
	return NULL;
}

static const char *e1000_probe(const struct pci_scan *scan, const struct guest_io_options *opts,
			       struct guest_nic *nic)
{
	const struct pci_function *fn = pci_scan_find(scan, INTEL_VENDOR_ID, E1000_82540EM_ID);
	bool e1000e = false;
	if (!fn) {
		fn = pci_scan_find(scan, INTEL_VENDOR_ID, E1000E_82574_ID);
		e1000e = fn != NULL;
	}
	if (!fn)
		return "no e1000 (8086:100e or 8086:10d3) on bus 0";
	memset(&e1000, 0, sizeof(e1000));
	e1000.regs = pci_bar_memory_address(fn, 0);
	if (e1000.regs == 0 || e1000.regs > (1ull << 32) - 0x20000u)
		return "BAR0 is unassigned or above 4 GiB";
	e1000.irq = opts->mode == GUEST_IO_IRQ;
	const char *err;
	if (e1000.irq) {
		err = interrupts_setup(fn, e1000e);
		if (err)
			return err;
	} else {
		pci_enable_memory_and_bus_master(fn);
	}
	err = reset();
	if (!err)
		err = read_mac(nic->mac, e1000e);
	if (err)
		return err;
	reg_write(E1000_CTRL, (reg_read(E1000_CTRL) | CTRL_SLU | CTRL_ASDE) & ~CTRL_RST);
	err = rings_setup();
	if (err)
		return err;
	reg_write(E1000_ITR, 0);
	if (e1000.irq) {
		e1000.irq_seen = msix_vector_counts[E1000_VECTOR_INDEX];
		reg_write(E1000_IMS, IMS_WANTED);
	}
	/* Link-up is reported, not waited for: a loopback peer has no PHY. */
	uint32_t status = reg_read(E1000_STATUS);

	nic->name = "e1000";
	nic->kind = GUEST_DEVICE_E1000;
	nic->send = e1000_send;
	nic->kick = e1000_kick;
	nic->receive = e1000_receive;
	nic->wait = e1000_wait;
	nic->priv = &e1000;
	guest_printf("e1000: %s mac %02x:%02x:%02x:%02x:%02x:%02x link %s, %s\n", e1000e ? "82574" : "82540EM",
		     nic->mac[0], nic->mac[1], nic->mac[2], nic->mac[3], nic->mac[4], nic->mac[5],
		     (status & STATUS_LU) ? "up" : "down", e1000.irq ? "interrupts" : "polled");
	return NULL;
}

const struct guest_nic_driver e1000_nic_driver = {
	.name = "e1000",
	.kind = GUEST_DEVICE_E1000,
	.probe = e1000_probe,
};
