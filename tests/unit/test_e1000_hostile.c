/* The e1000 against a hostile guest: each bad ring, index, buffer or frame
 * gets a logged fault (counted), nothing is written outside guest RAM, and
 * the device then still echoes a frame. */
#include <string.h>

#include "core/pci.h"
#include "tests/test_registry.h"
#include "tests/test_vm_fixture.h"
#include "tests/unit/test_e1000_guest.h"

#define RCTL_DEFAULT (E1000_RCTL_SECRC | E1000_RCTL_BAM | E1000_RCTL_BSIZE_2048)
#define OUTSIDE_RAM  0xf0000000u

static void setup(struct e1000_guest *g)
{
	eg_create(g, "");
	eg_rings_init(g, 16, 16, RCTL_DEFAULT);
	eg_echo_ok(g, 64, 0);
	ck_assert_uint_eq(eg_faults(g), 0);
}

/* What a driver does after trouble: program the rings again, then echo. */
static void recover_and_echo(struct e1000_guest *g)
{
	eg_rings_init(g, 16, 16, RCTL_DEFAULT);
	eg_echo_ok(g, 64, 100);
	eg_echo_ok(g, 1514, 101);
	eg_destroy(g);
}

static uint64_t port_tx_frames(struct e1000_guest *g)
{
	struct packet_stats ps;
	packet_port_get_stats(g->nic->nic.port, &ps);
	return ps.tx_frames;
}

START_TEST(test_e1000_tx_ring_outside_ram)
{
	struct e1000_guest g;
	setup(&g);
	uint64_t f0 = eg_faults(&g), sent = port_tx_frames(&g);
	eg_write(&g, E1000_TDBAL, OUTSIDE_RAM);
	eg_write(&g, E1000_TDH, 0);
	eg_write(&g, E1000_TDT, 3);
	ck_assert_uint_eq(eg_faults(&g), f0 + 1);
	ck_assert_uint_eq(eg_read(&g, E1000_TDH), 0);       /* ring stopped */
	eg_write(&g, E1000_TDT, 4);
	ck_assert_uint_eq(eg_faults(&g), f0 + 1);           /* stays stopped, one fault */
	/* Straddling the end of RAM is refused as a whole too. */
	eg_write(&g, E1000_TDBAL, EG_RAM_BYTES - 64);
	eg_write(&g, E1000_TDLEN, 256);
	eg_write(&g, E1000_TDH, 0);
	eg_write(&g, E1000_TDT, 2);
	ck_assert_uint_eq(eg_faults(&g), f0 + 2);
	ck_assert_uint_eq(port_tx_frames(&g), sent);
	recover_and_echo(&g);
}
END_TEST

START_TEST(test_e1000_rx_ring_outside_ram)
{
	struct e1000_guest g;
	setup(&g);
	uint64_t f0 = eg_faults(&g);
	eg_write(&g, E1000_RDBAH, 0x1);                     /* 4 GiB up: no RAM there */
	uint8_t frame[64];
	eg_frame_fill(&g, frame, 64, eg_peer_mac, 9);
	eg_tx_put(&g, frame, 0, 64 | E1000_TXD_CMD_EOP, 0);
	eg_tx_kick(&g);
	test_vm_poll_io(g.vm, NULL, NULL);
	ck_assert_uint_eq(eg_faults(&g), f0 + 1);
	ck_assert_uint_eq(eg_read(&g, E1000_STAT_MPC), 1);  /* dropped, counted */
	ck_assert(eg_read(&g, E1000_ICR) & E1000_ICR_RXO);
	recover_and_echo(&g);
}
END_TEST

START_TEST(test_e1000_ring_length_not_multiple_of_128)
{
	struct e1000_guest g;
	setup(&g);
	uint64_t f0 = eg_faults(&g);
	uint32_t tdt = eg_read(&g, E1000_TDT);
	eg_write(&g, E1000_TDLEN, 100);
	ck_assert_uint_eq(eg_faults(&g), f0 + 1);
	eg_write(&g, E1000_TDT, 1);                          /* refused: no valid length */
	ck_assert_uint_eq(eg_faults(&g), f0 + 2);
	ck_assert_uint_eq(eg_read(&g, E1000_TDT), tdt);
	eg_write(&g, E1000_RDLEN, 200);
	ck_assert_uint_eq(eg_faults(&g), f0 + 3);
	uint8_t frame[64];
	eg_frame_fill(&g, frame, 64, eg_peer_mac, 1);
	eg_write(&g, E1000_TDLEN, 256);                      /* transmit fixed, receive not */
	eg_write(&g, E1000_TDH, 0);
	g.tx_next = 0;
	eg_tx_put(&g, frame, 0, 64 | E1000_TXD_CMD_EOP, 0);
	eg_tx_kick(&g);
	test_vm_poll_io(g.vm, NULL, NULL);
	ck_assert_uint_eq(eg_faults(&g), f0 + 4);            /* the receive ring stops */
	ck_assert_uint_eq(eg_read(&g, E1000_STAT_MPC), 1);
	recover_and_echo(&g);
}
END_TEST

START_TEST(test_e1000_ring_length_zero)
{
	struct e1000_guest g;
	setup(&g);
	uint64_t f0 = eg_faults(&g);
	eg_write(&g, E1000_TDLEN, 0);
	eg_write(&g, E1000_RDLEN, 0);
	ck_assert_uint_eq(eg_faults(&g), f0 + 2);
	eg_write(&g, E1000_TDT, 5);
	ck_assert_uint_eq(eg_faults(&g), f0 + 3);
	recover_and_echo(&g);
}
END_TEST

START_TEST(test_e1000_tail_past_ring_end)
{
	struct e1000_guest g;
	setup(&g);
	uint64_t f0 = eg_faults(&g), sent = port_tx_frames(&g);
	uint32_t tdt = eg_read(&g, E1000_TDT), rdt = eg_read(&g, E1000_RDT);
	eg_write(&g, E1000_TDT, 16);                         /* the ring has 0..15 */
	ck_assert_uint_eq(eg_faults(&g), f0 + 1);
	ck_assert_uint_eq(eg_read(&g, E1000_TDT), tdt);
	eg_write(&g, E1000_TDT, 0xffffffffu);
	ck_assert_uint_eq(eg_faults(&g), f0 + 1);            /* already stopped: logged once */
	ck_assert_uint_eq(port_tx_frames(&g), sent);
	eg_write(&g, E1000_RDT, 1000);
	ck_assert_uint_eq(eg_faults(&g), f0 + 2);
	ck_assert_uint_eq(eg_read(&g, E1000_RDT), rdt);
	/* A head written past the end stops the ring when it is used. */
	eg_write(&g, E1000_TDH, 40);
	eg_write(&g, E1000_TDT, 1);
	ck_assert_uint_eq(eg_faults(&g), f0 + 3);
	recover_and_echo(&g);
}
END_TEST

START_TEST(test_e1000_tx_buffer_outside_ram)
{
	struct e1000_guest g;
	setup(&g);
	uint64_t f0 = eg_faults(&g), sent = port_tx_frames(&g);
	uint32_t slot = g.tx_next;
	eg_tx_put(&g, NULL, OUTSIDE_RAM, 64 | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	/* A buffer that starts in RAM and runs past its end. */
	eg_tx_put(&g, NULL, EG_RAM_BYTES - 16, 64 | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	eg_tx_kick(&g);
	ck_assert_uint_eq(eg_faults(&g), f0 + 2);
	ck_assert_uint_eq(port_tx_frames(&g), sent);         /* nothing went out */
	ck_assert(eg_tx_status(&g, slot) & E1000_TXD_STA_DD);/* but both completed */
	ck_assert(eg_tx_status(&g, slot + 1) & E1000_TXD_STA_DD);
	ck_assert_uint_eq(eg_read(&g, E1000_TDH), g.tx_next);
	/* The ring keeps going without re-programming. */
	eg_echo_ok(&g, 64, 5);
	recover_and_echo(&g);
}
END_TEST

START_TEST(test_e1000_rx_buffer_outside_ram)
{
	struct e1000_guest g;
	setup(&g);
	uint64_t f0 = eg_faults(&g);
	struct e1000_rx_desc *d = test_vm_ram(g.vm, EG_RX_RING + 16ull * g.rx_next, 16);
	d->buffer_addr = EG_RAM_BYTES - 1024;                /* 2048-byte buffer past the end */
	uint8_t frame[64], in[2048], errors;
	unsigned ndesc;
	eg_frame_fill(&g, frame, 64, eg_peer_mac, 2);
	eg_tx_put(&g, frame, 0, 64 | E1000_TXD_CMD_EOP, 0);
	eg_tx_kick(&g);
	eg_rx_wait(&g);
	ck_assert_uint_eq(eg_faults(&g), f0 + 1);
	ck_assert_uint_eq(eg_rx_take(&g, in, sizeof(in), &ndesc, &errors), 0);
	ck_assert_uint_eq(errors, E1000_RXD_ERR_RXE);
	/* The tail of RAM was not written. */
	uint8_t *tail = test_vm_ram(g.vm, EG_RAM_BYTES - 1024, 1024);
	for (unsigned i = 0; i < 1024; i++)
		ck_assert_uint_eq(tail[i], 0);
	eg_echo_ok(&g, 64, 6);
	recover_and_echo(&g);
}
END_TEST

START_TEST(test_e1000_tx_no_eop_around_the_ring)
{
	struct e1000_guest g;
	setup(&g);
	uint64_t f0 = eg_faults(&g), sent = port_tx_frames(&g);
	uint8_t chunk[64];
	eg_frame_fill(&g, chunk, 64, eg_peer_mac, 3);
	uint32_t head = eg_read(&g, E1000_TDH);
	for (unsigned i = 0; i < 15; i++)                     /* every descriptor the ring can hold */
		eg_tx_put(&g, chunk, 0, 64 | E1000_TXD_CMD_RS, 0);
	eg_tx_kick(&g);
	ck_assert_uint_eq(eg_faults(&g), f0 + 1);
	ck_assert_uint_eq(port_tx_frames(&g), sent);
	ck_assert_uint_eq(eg_read(&g, E1000_TDH), g.tx_next);
	ck_assert_uint_eq(eg_read(&g, E1000_TDH), (head + 15) % 16);
	eg_echo_ok(&g, 64, 7);
	recover_and_echo(&g);
}
END_TEST

START_TEST(test_e1000_tx_zero_length_descriptors)
{
	struct e1000_guest g;
	setup(&g);
	uint64_t f0 = eg_faults(&g), sent = port_tx_frames(&g);
	/* A zero-length descriptor inside a frame carries nothing. */
	uint8_t frame[100], in[2048], errors;
	unsigned ndesc;
	eg_frame_fill(&g, frame, 100, eg_peer_mac, 4);
	eg_tx_put(&g, frame, 0, 50, 0);
	eg_tx_put(&g, NULL, OUTSIDE_RAM, 0, 0);
	eg_tx_put(&g, frame + 50, 0, 50 | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	eg_tx_kick(&g);
	eg_rx_wait(&g);
	ck_assert_uint_eq(eg_rx_take(&g, in, sizeof(in), &ndesc, &errors), 100);
	ck_assert_mem_eq(in + 12, frame + 12, 88);
	ck_assert_uint_eq(eg_faults(&g), f0);
	/* A frame of nothing but a zero-length descriptor: dropped, fault. */
	uint32_t slot = g.tx_next;
	eg_tx_put(&g, NULL, 0, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	eg_tx_kick(&g);
	ck_assert_uint_eq(eg_faults(&g), f0 + 1);
	ck_assert(eg_tx_status(&g, slot) & E1000_TXD_STA_DD);
	ck_assert_uint_eq(port_tx_frames(&g), sent + 1);
	eg_echo_ok(&g, 64, 8);
	recover_and_echo(&g);
}
END_TEST

START_TEST(test_e1000_tx_frame_too_long)
{
	struct e1000_guest g;
	setup(&g);
	uint64_t f0 = eg_faults(&g), sent = port_tx_frames(&g);
	static uint8_t big[4000];
	eg_frame_fill(&g, big, sizeof(big), eg_peer_mac, 5);
	eg_tx_put(&g, big, 0, 1500, 0);
	eg_tx_put(&g, big + 1500, 0, 1500, 0);
	eg_tx_put(&g, big + 3000, 0, 1000 | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	/* One descriptor claiming 64 KiB - 1 at the start of RAM. */
	eg_tx_put(&g, NULL, 0, 0xffff | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	eg_tx_kick(&g);
	ck_assert_uint_eq(eg_faults(&g), f0 + 2);
	ck_assert_uint_eq(port_tx_frames(&g), sent);
	ck_assert_uint_eq(eg_read(&g, E1000_TDH), g.tx_next);
	/* TSO is not offered: a TSE frame is dropped the same way. */
	eg_tx_put(&g, big, 0, 100 | E1000_TXD_CMD_DEXT | E1000_TXD_DTYP_DATA | E1000_TXD_CMD_TSE |
		  E1000_TXD_CMD_EOP, 0);
	eg_tx_kick(&g);
	ck_assert_uint_eq(eg_faults(&g), f0 + 3);
	eg_echo_ok(&g, 64, 9);
	recover_and_echo(&g);
}
END_TEST

START_TEST(test_e1000_rx_no_free_descriptor_drops_and_counts)
{
	struct e1000_guest g;
	setup(&g);
	uint64_t f0 = eg_faults(&g);
	/* Take every posted buffer back: RDT = RDH means none free. */
	eg_write(&g, E1000_RDT, eg_read(&g, E1000_RDH));
	eg_write(&g, E1000_IMS, E1000_ICR_RXO);
	for (unsigned i = 0; i < 3; i++) {
		uint8_t frame[64];
		eg_frame_fill(&g, frame, 64, eg_peer_mac, i);
		eg_tx_put(&g, frame, 0, 64 | E1000_TXD_CMD_EOP, 0);
		eg_tx_kick(&g);
	}
	test_vm_poll_io(g.vm, NULL, NULL);
	ck_assert_uint_eq(eg_read(&g, E1000_STAT_MPC), 3);
	ck_assert(eg_read(&g, E1000_ICR) & E1000_ICR_RXO);
	ck_assert(!eg_rx_ready(&g));
	ck_assert_uint_eq(eg_faults(&g), f0);               /* a full ring is not a fault */
	recover_and_echo(&g);
}
END_TEST

START_TEST(test_e1000_bad_register_accesses)
{
	struct e1000_guest g;
	setup(&g);
	uint64_t f0 = eg_faults(&g);
	uint16_t half = 0x1234;
	uint8_t byte;
	bus_write(&g.vm->mmio_bus, g.bar + E1000_TDT, &half, 2);
	bus_read(&g.vm->mmio_bus, g.bar + E1000_ICR + 1, &byte, 1);
	ck_assert_uint_eq(byte, 0xff);
	ck_assert_uint_eq(eg_faults(&g), f0 + 2);
	/* Unknown and read-only registers: reads zero, writes ignored. */
	eg_write(&g, 0x1f000, 0xdeadbeef);
	ck_assert_uint_eq(eg_read(&g, 0x1f000), 0);
	eg_write(&g, E1000_STATUS, 0);
	ck_assert(eg_read(&g, E1000_STATUS) & E1000_STATUS_LU);
	/* EERD past the EEPROM. */
	eg_write(&g, E1000_EERD, 0x80u << E1000_EERD_ADDR_SHIFT | E1000_EERD_START);
	ck_assert_uint_eq(eg_faults(&g), f0 + 3);
	/* Bus mastering off: no DMA at all, then back on. */
	unsigned slot = (unsigned)g.nic->pci.slot;
	test_vm_pci_config_write32(g.vm, slot, PCI_CFG_COMMAND, PCI_COMMAND_MEMORY);
	uint64_t sent = port_tx_frames(&g);
	uint8_t frame[64];
	eg_frame_fill(&g, frame, 64, eg_peer_mac, 1);
	eg_tx_put(&g, frame, 0, 64 | E1000_TXD_CMD_EOP, 0);
	eg_tx_kick(&g);
	ck_assert_uint_eq(port_tx_frames(&g), sent);
	ck_assert_uint_eq(eg_faults(&g), f0 + 4);
	test_vm_pci_config_write32(g.vm, slot, PCI_CFG_COMMAND,
				   PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER);
	recover_and_echo(&g);
}
END_TEST

static Suite *e1000_hostile_suite(void)
{
	Suite *s = suite_create("e1000_hostile");
	TCase *tc = tcase_create("hostile");
	tcase_add_test(tc, test_e1000_tx_ring_outside_ram);
	tcase_add_test(tc, test_e1000_rx_ring_outside_ram);
	tcase_add_test(tc, test_e1000_ring_length_not_multiple_of_128);
	tcase_add_test(tc, test_e1000_ring_length_zero);
	tcase_add_test(tc, test_e1000_tail_past_ring_end);
	tcase_add_test(tc, test_e1000_tx_buffer_outside_ram);
	tcase_add_test(tc, test_e1000_rx_buffer_outside_ram);
	tcase_add_test(tc, test_e1000_tx_no_eop_around_the_ring);
	tcase_add_test(tc, test_e1000_tx_zero_length_descriptors);
	tcase_add_test(tc, test_e1000_tx_frame_too_long);
	tcase_add_test(tc, test_e1000_rx_no_free_descriptor_drops_and_counts);
	tcase_add_test(tc, test_e1000_bad_register_accesses);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(e1000_hostile_suite)
