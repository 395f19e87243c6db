/* A minimal e1000 driver for the device-model tests: the test plays the
 * guest, programming rings in guest RAM and registers through the MMIO bus
 * of a test VM (tests/test_vm_fixture.h), then checks what the device did. */
#ifndef IOVIRT_TESTS_UNIT_TEST_E1000_GUEST_H
#define IOVIRT_TESTS_UNIT_TEST_E1000_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "emulated/e1000.h"

#define EG_RAM_BYTES   (4u << 20)
#define EG_TX_RING     0x100000u
#define EG_RX_RING     0x110000u
#define EG_TX_BUFS     0x200000u     /* 4 KiB per transmit slot */
#define EG_RX_BUFS     0x300000u     /* 4 KiB per receive slot (buffers up to 4096) */
#define EG_SLOT_BYTES  0x1000u
#define EG_MAX_DESC    64u

struct e1000_guest {
	struct vm *vm;
	struct e1000 *nic;
	uint64_t bar;
	unsigned ntx, nrx;
	uint32_t tx_next;      /* next transmit descriptor to fill (our TDT) */
	uint32_t rx_next;      /* next receive descriptor to look at */
	uint32_t rx_bufsize;
};

/* A VM with one `--nic model=emulated,<options>` (options may be ""), memory
 * decoding and bus mastering on. Aborts the test on failure. */
void eg_create(struct e1000_guest *g, const char *options);
void eg_destroy(struct e1000_guest *g);

uint32_t eg_read(struct e1000_guest *g, uint32_t offset);
void eg_write(struct e1000_guest *g, uint32_t offset, uint32_t value);
uint64_t eg_faults(const struct e1000_guest *g);
uint64_t eg_mmio_exits(const struct e1000_guest *g);

/* Programs both rings (ntx/nrx descriptors, multiples of 8), posts every
 * receive buffer but one, enables receive (rctl_bits ORed with EN) and
 * transmit (EN|PSP). */
void eg_rings_init(struct e1000_guest *g, unsigned ntx, unsigned nrx, uint32_t rctl_bits);

/* Fills buf with a test frame: destination `dst`, source the NIC's MAC,
 * EtherType 0x88b5, payload from seq. */
void eg_frame_fill(const struct e1000_guest *g, uint8_t *buf, uint32_t len, const uint8_t dst[6],
		   uint32_t seq);
extern const uint8_t eg_peer_mac[6];

/* Puts one descriptor at tx_next (data copied into that slot's buffer when
 * data is not NULL; else addr is used as is) without writing TDT. */
void eg_tx_put(struct e1000_guest *g, const void *data, uint64_t addr, uint32_t lower,
	       uint32_t upper);
/* Writes TDT = tx_next. */
void eg_tx_kick(struct e1000_guest *g);
/* Status byte of transmit descriptor i. */
uint8_t eg_tx_status(struct e1000_guest *g, uint32_t i);

/* Runs the I/O thread inline until descriptor rx_next has DD. */
void eg_rx_wait(struct e1000_guest *g);
/* True if rx_next has DD now (after draining the I/O thread briefly). */
bool eg_rx_ready(struct e1000_guest *g);
/* Collects one frame (descriptors up to EOP) into buf, gives the
 * descriptors back (RDT), returns its length; *ndesc descriptors used. */
uint32_t eg_rx_take(struct e1000_guest *g, uint8_t *buf, uint32_t cap, unsigned *ndesc,
		    uint8_t *errors);

/* Sends one len-byte frame (a legacy descriptor) and checks it comes back
 * from the loopback reflector with its MACs swapped and payload intact. */
void eg_echo_ok(struct e1000_guest *g, uint32_t len, uint32_t seq);

#endif
