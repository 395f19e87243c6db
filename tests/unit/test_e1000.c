/* The emulated e1000 driven as a guest driver would drive it: EEPROM, PHY,
 * transmit (legacy, context + data, multi-descriptor), receive, interrupts,
 * against the loopback reflector (and a DPDK net_ring port). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/device.h"
#include "core/io_thread.h"
#include "core/irq.h"
#include "core/pci.h"
#include "tests/test_registry.h"
#include "tests/test_vm_fixture.h"
#include "tests/unit/test_e1000_guest.h"

#define RCTL_DEFAULT (E1000_RCTL_SECRC | E1000_RCTL_BAM | E1000_RCTL_BSIZE_2048)
#define MSI_ADDRESS 0xfee00000u
#define MSI_DATA    0x41u

static uint64_t eventfd_take(int fd)
{
	uint64_t v = 0;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		ck_assert_int_eq(errno, EAGAIN);
	return v;
}

static void msi_enable(struct e1000_guest *g)
{
	unsigned slot = (unsigned)g->nic->pci.slot, cap = g->nic->msi_cap;
	ck_assert_uint_eq(test_vm_pci_config_read32(g->vm, slot, cap) & 0xff, PCI_CAP_ID_MSI);
	test_vm_pci_config_write32(g->vm, slot, cap + 4, MSI_ADDRESS);
	test_vm_pci_config_write32(g->vm, slot, cap + 8, 0);
	test_vm_pci_config_write32(g->vm, slot, cap + 12, MSI_DATA);
	uint32_t dw0 = test_vm_pci_config_read32(g->vm, slot, cap);
	test_vm_pci_config_write32(g->vm, slot, cap, dw0 | (uint32_t)E1000_MSI_CTRL_ENABLE << 16);
	ck_assert(atomic_load(&g->nic->msi_enabled));
	ck_assert_uint_eq(g->nic->msi->address, MSI_ADDRESS);
	ck_assert_uint_eq(g->nic->msi->data, MSI_DATA);
}

START_TEST(test_e1000_eeprom_mac)
{
	struct e1000_guest g;
	eg_create(&g, "mac=52:54:00:ab:cd:ef");
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
	uint8_t read_mac[6];
	uint16_t sum = 0;
	for (uint32_t w = 0; w < E1000_EEPROM_WORDS; w++) {
		eg_write(&g, E1000_EERD, w << E1000_EERD_ADDR_SHIFT | E1000_EERD_START);
		uint32_t v = eg_read(&g, E1000_EERD);
		ck_assert(v & E1000_EERD_DONE);
		uint16_t word = (uint16_t)(v >> E1000_EERD_DATA_SHIFT);
		if (w < 3) {
			read_mac[2 * w] = (uint8_t)word;
			read_mac[2 * w + 1] = (uint8_t)(word >> 8);
		}
		sum = (uint16_t)(sum + word);
	}
	ck_assert_mem_eq(read_mac, mac, 6);
	ck_assert_uint_eq(sum, E1000_EEPROM_SUM);
	/* RAL0/RAH0 come loaded from the EEPROM, address valid. */
	ck_assert_uint_eq(eg_read(&g, E1000_RAL(0)), 0xab005452u);
	ck_assert_uint_eq(eg_read(&g, E1000_RAH(0)), E1000_RAH_AV | 0xefcd);

	/* The same word 1 through the microwire pins: start bit, opcode 10, 6 address bits. */
	uint32_t base = E1000_EECD_CS | E1000_EECD_REQ;
	eg_write(&g, E1000_EECD, E1000_EECD_REQ);
	ck_assert(eg_read(&g, E1000_EECD) & E1000_EECD_GNT);
	uint32_t bits = 0x6u << 6 | 1u;     /* 110 000001 */
	for (int i = 8; i >= 0; i--) {
		uint32_t di = (bits >> i) & 1 ? E1000_EECD_DI : 0;
		eg_write(&g, E1000_EECD, base | di);
		eg_write(&g, E1000_EECD, base | di | E1000_EECD_SK);
		eg_write(&g, E1000_EECD, base | di);
	}
	uint16_t word = 0;
	for (int i = 0; i < 16; i++) {
		eg_write(&g, E1000_EECD, base | E1000_EECD_SK);
		word = (uint16_t)(word << 1 | ((eg_read(&g, E1000_EECD) & E1000_EECD_DO) ? 1 : 0));
		eg_write(&g, E1000_EECD, base);
	}
	ck_assert_uint_eq(word, 0xab00u);   /* MAC bytes 2 and 3 */
	eg_write(&g, E1000_EECD, 0);
	eg_destroy(&g);
}
END_TEST

static uint32_t mdic_op(struct e1000_guest *g, uint32_t op, unsigned phy, unsigned reg, uint16_t data)
{
	eg_write(g, E1000_MDIC, op | phy << E1000_MDIC_PHY_SHIFT | reg << E1000_MDIC_REG_SHIFT | data);
	uint32_t v = eg_read(g, E1000_MDIC);
	ck_assert(v & E1000_MDIC_READY);
	return v;
}

START_TEST(test_e1000_link_up_through_mdic)
{
	struct e1000_guest g;
	eg_create(&g, "");
	uint32_t id1 = mdic_op(&g, E1000_MDIC_OP_READ, 1, E1000_PHY_ID1, 0) & 0xffff;
	uint32_t id2 = mdic_op(&g, E1000_MDIC_OP_READ, 1, E1000_PHY_ID2, 0) & 0xffff;
	ck_assert_uint_eq(id1 << 16 | id2, 0x01410c20u);
	/* Restart autonegotiation: the bit self-clears and the link is up. */
	mdic_op(&g, E1000_MDIC_OP_WRITE, 1, E1000_PHY_CTRL, 0x1140 | E1000_PHY_CTRL_RESTART_AN);
	ck_assert_uint_eq(mdic_op(&g, E1000_MDIC_OP_READ, 1, E1000_PHY_CTRL, 0) & 0xffff, 0x1140);
	uint32_t st = mdic_op(&g, E1000_MDIC_OP_READ, 1, E1000_PHY_STATUS, 0);
	ck_assert(st & E1000_PHY_STATUS_LINK);
	ck_assert(st & E1000_PHY_STATUS_AN_DONE);
	/* No PHY at address 2. */
	ck_assert(mdic_op(&g, E1000_MDIC_OP_READ, 2, E1000_PHY_ID1, 0) & E1000_MDIC_ERROR);
	/* Set link up: STATUS shows link, full duplex, 1000 Mb/s; LSC raised. */
	eg_read(&g, E1000_ICR);
	eg_write(&g, E1000_CTRL, eg_read(&g, E1000_CTRL) | E1000_CTRL_SLU);
	uint32_t status = eg_read(&g, E1000_STATUS);
	ck_assert_uint_eq(status & 0xc3, E1000_STATUS_LU | E1000_STATUS_FD | E1000_STATUS_SPEED_1000);
	ck_assert_uint_eq(eg_read(&g, E1000_ICR), E1000_ICR_LSC);
	ck_assert_uint_eq(eg_read(&g, E1000_ICR), 0);   /* read-to-clear */
	/* Powering the PHY down drops the link. */
	mdic_op(&g, E1000_MDIC_OP_WRITE, 1, E1000_PHY_CTRL, 0x1140 | E1000_PHY_CTRL_POWER_DOWN);
	ck_assert_uint_eq(eg_read(&g, E1000_STATUS) & E1000_STATUS_LU, 0);
	eg_destroy(&g);
}
END_TEST

START_TEST(test_e1000_echo_legacy_sizes)
{
	struct e1000_guest g;
	eg_create(&g, "");
	eg_rings_init(&g, 16, 16, RCTL_DEFAULT);
	static const uint32_t sizes[] = { 60, 64, 42, 1000, 1514, 128 };
	for (unsigned round = 0; round < 3; round++)   /* wraps both rings */
		for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			eg_echo_ok(&g, sizes[i], round * 10 + i);
	struct packet_stats ps;
	packet_port_get_stats(g.nic->nic.port, &ps);
	ck_assert_uint_eq(ps.tx_frames, 18);
	ck_assert_uint_eq(ps.rx_frames, 18);
	ck_assert_uint_eq(counter_get(&g.nic->counters.requests), 36);
	ck_assert_uint_eq(eg_read(&g, E1000_STAT_GPTC), 18);
	ck_assert_uint_eq(eg_read(&g, E1000_STAT_GPRC), 18);
	ck_assert_uint_eq(eg_read(&g, E1000_STAT_GPRC), 0);  /* clear on read */
	ck_assert_uint_eq(eg_faults(&g), 0);
	eg_destroy(&g);
}
END_TEST

/* One echo as an interrupt-driven driver does it costs TDT + ICR + RDT. */
START_TEST(test_e1000_register_exits_per_echo)
{
	struct e1000_guest g;
	eg_create(&g, "");
	eg_rings_init(&g, 16, 16, RCTL_DEFAULT);
	eg_write(&g, E1000_IMS, E1000_ICR_RXT0 | E1000_ICR_TXDW);
	uint64_t before = eg_mmio_exits(&g);
	for (uint32_t i = 0; i < 10; i++) {
		uint8_t frame[64];
		eg_frame_fill(&g, frame, sizeof(frame), eg_peer_mac, i);
		eg_tx_put(&g, frame, 0, sizeof(frame) | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
		eg_tx_kick(&g);                                      /* exit 1 */
		eg_rx_wait(&g);
		ck_assert(eg_read(&g, E1000_ICR) & E1000_ICR_RXT0);  /* exit 2 */
		uint8_t in[128], errors;
		unsigned ndesc;
		ck_assert_uint_eq(eg_rx_take(&g, in, sizeof(in), &ndesc, &errors), 64); /* exit 3 */
	}
	ck_assert_uint_eq(eg_mmio_exits(&g) - before, 30);
	eg_destroy(&g);
}
END_TEST

START_TEST(test_e1000_multi_descriptor_tx_and_rx)
{
	struct e1000_guest g;
	eg_create(&g, "");
	/* 256-byte receive buffers: a 1000-byte frame takes 4 descriptors. */
	eg_rings_init(&g, 16, 32, E1000_RCTL_SECRC | E1000_RCTL_BSIZE_256);
	uint8_t frame[1000], in[2048];
	eg_frame_fill(&g, frame, sizeof(frame), eg_peer_mac, 7);
	/* Three transmit descriptors, EOP and RS on the last only. */
	eg_tx_put(&g, frame, 0, 100, 0);
	eg_tx_put(&g, frame + 100, 0, 500, 0);
	eg_tx_put(&g, frame + 600, 0, 400 | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	eg_tx_kick(&g);
	ck_assert_uint_eq(eg_tx_status(&g, 2) & E1000_TXD_STA_DD, E1000_TXD_STA_DD);
	ck_assert_uint_eq(eg_tx_status(&g, 0) & E1000_TXD_STA_DD, 0);   /* no RS: no write-back */
	eg_rx_wait(&g);
	unsigned ndesc;
	uint8_t errors;
	ck_assert_uint_eq(eg_rx_take(&g, in, sizeof(in), &ndesc, &errors), 1000);
	ck_assert_uint_eq(ndesc, 4);
	ck_assert_mem_eq(in + 12, frame + 12, 1000 - 12);

	/* A frame held back until its EOP descriptor is posted. */
	eg_tx_put(&g, frame, 0, 300, 0);
	eg_tx_kick(&g);
	ck_assert_uint_eq(eg_read(&g, E1000_TDH), 3);
	ck_assert(!eg_rx_ready(&g));
	eg_tx_put(&g, frame + 300, 0, 700 | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	eg_tx_kick(&g);
	ck_assert_uint_eq(eg_read(&g, E1000_TDH), 5);
	eg_rx_wait(&g);
	ck_assert_uint_eq(eg_rx_take(&g, in, sizeof(in), &ndesc, &errors), 1000);
	ck_assert_mem_eq(in + 12, frame + 12, 1000 - 12);
	ck_assert_uint_eq(eg_faults(&g), 0);
	eg_destroy(&g);
}
END_TEST

static uint16_t ip_header_sum(const uint8_t *h, unsigned len)
{
	uint32_t sum = 0;
	for (unsigned i = 0; i < len; i += 2)
		sum += (uint32_t)h[i] << 8 | h[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

START_TEST(test_e1000_context_and_data_descriptors)
{
	struct e1000_guest g;
	eg_create(&g, "");
	eg_rings_init(&g, 16, 16, RCTL_DEFAULT);
	/* An IPv4 frame whose header checksum the device fills in. */
	uint8_t frame[200], in[2048];
	eg_frame_fill(&g, frame, sizeof(frame), eg_peer_mac, 3);
	frame[12] = 0x08;
	frame[13] = 0x00;
	static const uint8_t ip[20] = { 0x45, 0, 0, 186, 0x12, 0x34, 0, 0, 64, 17, 0, 0,
					10, 0, 0, 1, 10, 0, 0, 2 };
	memcpy(frame + 14, ip, sizeof(ip));
	uint64_t ctx = 14u | 24u << 8 | 33ull << 16;   /* IPCSS, IPCSO, IPCSE */
	eg_tx_put(&g, NULL, ctx, E1000_TXD_CMD_DEXT | E1000_TXD_DTYP_CTX | E1000_TXD_CMD_RS, 0);
	eg_tx_put(&g, frame, 0, 80 | E1000_TXD_CMD_DEXT | E1000_TXD_DTYP_DATA,
		  E1000_TXD_POPTS_IXSM);
	eg_tx_put(&g, frame + 80, 0, 120 | E1000_TXD_CMD_DEXT | E1000_TXD_DTYP_DATA |
		  E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	eg_tx_kick(&g);
	ck_assert(eg_tx_status(&g, 0) & E1000_TXD_STA_DD);
	ck_assert(eg_tx_status(&g, 2) & E1000_TXD_STA_DD);
	eg_rx_wait(&g);
	unsigned ndesc;
	uint8_t errors;
	ck_assert_uint_eq(eg_rx_take(&g, in, sizeof(in), &ndesc, &errors), 200);
	ck_assert_uint_eq(ip_header_sum(in + 14, 20), 0xffff);   /* valid header checksum */
	ck_assert_uint_ne(in[24] | in[25], 0);
	ck_assert_mem_eq(in + 34, frame + 34, 200 - 34);
	/* The guest's own buffer was not written. */
	ck_assert_uint_eq(*(uint8_t *)test_vm_ram(g.vm, EG_TX_BUFS + EG_SLOT_BYTES + 24, 1), 0);
	ck_assert_uint_eq(eg_faults(&g), 0);
	eg_destroy(&g);
}
END_TEST

static uint32_t crc32_bitwise(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xffffffffu;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
	}
	return ~crc;
}

START_TEST(test_e1000_receive_keeps_fcs_without_secrc)
{
	struct e1000_guest g;
	eg_create(&g, "");
	eg_rings_init(&g, 8, 8, E1000_RCTL_BSIZE_2048);
	uint8_t frame[100], in[2048];
	eg_frame_fill(&g, frame, sizeof(frame), eg_peer_mac, 1);
	eg_tx_put(&g, frame, 0, 100 | E1000_TXD_CMD_EOP, 0);
	eg_tx_kick(&g);
	eg_rx_wait(&g);
	unsigned ndesc;
	uint8_t errors;
	ck_assert_uint_eq(eg_rx_take(&g, in, sizeof(in), &ndesc, &errors), 104);
	uint32_t fcs = crc32_bitwise(in, 100);
	uint8_t want[4] = { (uint8_t)fcs, (uint8_t)(fcs >> 8), (uint8_t)(fcs >> 16), (uint8_t)(fcs >> 24) };
	ck_assert_mem_eq(in + 100, want, 4);
	eg_destroy(&g);
}
END_TEST

START_TEST(test_e1000_msi_and_icr_masking)
{
	struct e1000_guest g;
	eg_create(&g, "");
	msi_enable(&g);
	int fd = g.nic->msi->eventfd;
	eg_rings_init(&g, 16, 16, RCTL_DEFAULT);
	/* Everything masked: causes collect in ICR, no message. */
	eg_echo_ok(&g, 64, 1);
	ck_assert_uint_eq(eventfd_take(fd), 0);
	ck_assert_uint_eq(eg_read(&g, E1000_ICR) & (E1000_ICR_TXDW | E1000_ICR_RXT0),
			  E1000_ICR_TXDW | E1000_ICR_RXT0);
	ck_assert_uint_eq(eg_read(&g, E1000_ICR), 0);
	/* Unmasking a pending cause sends the message at once. */
	eg_write(&g, E1000_ICS, E1000_ICR_RXT0);
	ck_assert_uint_eq(eventfd_take(fd), 0);
	eg_write(&g, E1000_IMS, E1000_ICR_RXT0 | E1000_ICR_TXDW);
	ck_assert_uint_eq(eg_read(&g, E1000_IMS), E1000_ICR_RXT0 | E1000_ICR_TXDW);
	ck_assert_uint_eq(eventfd_take(fd), 1);
	ck_assert_uint_eq(eg_read(&g, E1000_ICR), E1000_ICR_RXT0);
	/* An echo: TXDW raises one message; RXT0 joins it before ICR is read. */
	uint64_t irqs = counter_get(&g.nic->counters.interrupts);
	eg_echo_ok(&g, 64, 2);
	ck_assert_uint_eq(eventfd_take(fd), 1);
	ck_assert_uint_eq(counter_get(&g.nic->counters.interrupts) - irqs, 1);
	ck_assert_uint_eq(eg_read(&g, E1000_ICR) & (E1000_ICR_TXDW | E1000_ICR_RXT0),
			  E1000_ICR_TXDW | E1000_ICR_RXT0);
	/* IMC masks RXT0: the next echo's receive sends nothing after ICR is read. */
	eg_write(&g, E1000_IMC, E1000_ICR_RXT0 | E1000_ICR_TXDW);
	eg_echo_ok(&g, 64, 3);
	ck_assert_uint_eq(eventfd_take(fd), 0);
	eg_destroy(&g);
}
END_TEST

START_TEST(test_e1000_intx_when_msi_off)
{
	struct e1000_guest g;
	eg_create(&g, "");
	eg_rings_init(&g, 16, 16, RCTL_DEFAULT);
	eg_write(&g, E1000_IMS, E1000_ICR_RXT0);
	uint32_t calls = __atomic_load_n(&g.vm->irq->intx_level_calls, __ATOMIC_RELAXED);
	eg_echo_ok(&g, 64, 1);
	ck_assert(atomic_load(&g.nic->pci.intx_asserted));
	ck_assert_uint_eq(__atomic_load_n(&g.vm->irq->intx_level_calls, __ATOMIC_RELAXED) - calls, 1);
	ck_assert(eg_read(&g, E1000_ICR) & E1000_ICR_RXT0);
	ck_assert(!atomic_load(&g.nic->pci.intx_asserted));
	ck_assert_uint_eq(__atomic_load_n(&g.vm->irq->intx_level_calls, __ATOMIC_RELAXED) - calls, 2);
	/* The status register's interrupt bit followed the line. */
	eg_write(&g, E1000_ICS, E1000_ICR_RXT0);
	ck_assert(test_vm_pci_config_read32(g.vm, (unsigned)g.nic->pci.slot, 4) &
		  (uint32_t)PCI_STATUS_INTERRUPT << 16);
	eg_destroy(&g);
}
END_TEST

static bool msi_pending(void *opaque)
{
	struct e1000_guest *g = opaque;
	pthread_mutex_lock(&g->nic->irq.lock);
	bool held = g->nic->irq.held;
	pthread_mutex_unlock(&g->nic->irq.lock);
	return !held;
}

/* ITR: a second interrupt within ITR x 256 ns of the first waits for the
 * interval (held on the I/O thread's timer), then goes out. */
START_TEST(test_e1000_itr_throttles)
{
	struct e1000_guest g;
	eg_create(&g, "");
	msi_enable(&g);
	int fd = g.nic->msi->eventfd;
	const uint32_t itr = 20000;    /* 5.12 ms */
	eg_write(&g, E1000_ITR, itr);
	ck_assert_uint_eq(eg_read(&g, E1000_ITR), itr);
	eg_write(&g, E1000_IMS, E1000_ICR_TXDW);
	eg_write(&g, E1000_ICS, E1000_ICR_TXDW);
	ck_assert_uint_eq(eventfd_take(fd), 1);
	uint64_t first = g.nic->irq.last_raise_ns;
	eg_read(&g, E1000_ICR);
	eg_write(&g, E1000_ICS, E1000_ICR_TXDW);
	test_vm_poll_io(g.vm, msi_pending, &g);
	ck_assert_uint_eq(eventfd_take(fd), 1);
	ck_assert_uint_ge(g.nic->irq.last_raise_ns - first, (uint64_t)itr * 256);
	eg_destroy(&g);
}
END_TEST

/* CTRL.RST: registers back to reset values, rings and interrupts cleared;
 * the driver programs it again and it serves. */
START_TEST(test_e1000_ctrl_reset)
{
	struct e1000_guest g;
	eg_create(&g, "");
	eg_rings_init(&g, 16, 16, RCTL_DEFAULT);
	eg_echo_ok(&g, 100, 1);
	eg_write(&g, E1000_IMS, E1000_ICR_RXT0);
	eg_write(&g, E1000_CTRL, E1000_CTRL_RST | E1000_CTRL_SLU);
	ck_assert_uint_eq(eg_read(&g, E1000_CTRL) & E1000_CTRL_RST, 0);
	ck_assert_uint_eq(eg_read(&g, E1000_RCTL), 0);
	ck_assert_uint_eq(eg_read(&g, E1000_TDLEN), 0);
	ck_assert_uint_eq(eg_read(&g, E1000_IMS), 0);
	ck_assert_uint_eq(eg_read(&g, E1000_ICR), 0);
	eg_rings_init(&g, 16, 16, RCTL_DEFAULT);
	eg_echo_ok(&g, 100, 2);
	/* The device-level reset (vm reset) does the same, config space included. */
	g.nic->vm->devices[0].ops->reset(g.nic);
	ck_assert(!atomic_load(&g.nic->msi_enabled));
	test_vm_pci_config_write32(g.vm, (unsigned)g.nic->pci.slot, PCI_CFG_COMMAND,
				   PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER);
	eg_rings_init(&g, 16, 16, RCTL_DEFAULT);
	eg_echo_ok(&g, 100, 3);
	ck_assert_uint_eq(eg_faults(&g), 0);
	eg_destroy(&g);
}
END_TEST

/* With the I/O thread running, as in `iovirt run`. */
START_TEST(test_e1000_echo_with_io_thread_running)
{
	struct e1000_guest g;
	eg_create(&g, "");
	char err[256];
	ck_assert_int_eq(io_thread_start(g.vm->io, "io", -1, err, sizeof(err)), 0);
	eg_rings_init(&g, 32, 32, RCTL_DEFAULT);
	for (uint32_t i = 0; i < 100; i++)
		eg_echo_ok(&g, 60 + i * 13, i);
	eg_destroy(&g);
}
END_TEST

START_TEST(test_e1000_dpdk_net_ring)
{
	struct e1000_guest g;
	eg_create(&g, "backend=dpdk:net_ring7");
	ck_assert_int_eq(packet_port_notify_fd(g.nic->nic.port), -1);
	eg_rings_init(&g, 16, 16, RCTL_DEFAULT);
	/* net_ring returns frames unchanged: address them to ourselves. */
	for (uint32_t i = 0; i < 20; i++) {
		uint8_t frame[300], in[2048];
		uint32_t len = 60 + i * 11;
		eg_frame_fill(&g, frame, len, g.nic->nic.mac, i);
		eg_tx_put(&g, frame, 0, len | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
		eg_tx_kick(&g);
		/* Polled inline right after the transmit: no I/O thread needed. */
		ck_assert(__atomic_load_n(&((struct e1000_rx_desc *)test_vm_ram(
			g.vm, EG_RX_RING + 16ull * g.rx_next, 16))->status, __ATOMIC_ACQUIRE) &
			E1000_RXD_STA_DD);
		unsigned ndesc;
		uint8_t errors;
		ck_assert_uint_eq(eg_rx_take(&g, in, sizeof(in), &ndesc, &errors), len);
		ck_assert_mem_eq(in, frame, len);
	}
	eg_destroy(&g);
}
END_TEST

START_TEST(test_e1000_bad_options)
{
	struct vm *vm = test_vm_create(EG_RAM_BYTES);
	char err[512];
	ck_assert_ptr_null(test_vm_add_device(vm, "nic", "model=emulated,speed=10", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "no option 'speed'"));
	ck_assert_ptr_null(test_vm_add_device(vm, "nic", "model=emulated,mac=xx", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "mac=xx"));
	test_vm_destroy(vm);
}
END_TEST

static Suite *e1000_suite(void)
{
	Suite *s = suite_create("e1000");
	TCase *tc = tcase_create("device");
	tcase_add_test(tc, test_e1000_eeprom_mac);
	tcase_add_test(tc, test_e1000_link_up_through_mdic);
	tcase_add_test(tc, test_e1000_echo_legacy_sizes);
	tcase_add_test(tc, test_e1000_register_exits_per_echo);
	tcase_add_test(tc, test_e1000_multi_descriptor_tx_and_rx);
	tcase_add_test(tc, test_e1000_context_and_data_descriptors);
	tcase_add_test(tc, test_e1000_receive_keeps_fcs_without_secrc);
	tcase_add_test(tc, test_e1000_msi_and_icr_masking);
	tcase_add_test(tc, test_e1000_intx_when_msi_off);
	tcase_add_test(tc, test_e1000_itr_throttles);
	tcase_add_test(tc, test_e1000_ctrl_reset);
	tcase_add_test(tc, test_e1000_echo_with_io_thread_running);
	tcase_add_test(tc, test_e1000_dpdk_net_ring);
	tcase_add_test(tc, test_e1000_bad_options);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(e1000_suite)
