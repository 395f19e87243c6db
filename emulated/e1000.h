/* The emulated Intel 82540EM (`--nic model=emulated`): every register access
 * traps into the VMM and is emulated here; frames go to and come from the
 * host packet engine through core/nic_backend.h.
 *
 * Files: e1000.c (PCI function, BAR0 dispatch, MSI capability, life cycle),
 * e1000_regs.c (register file, EEPROM, MDIC/PHY, statistics), e1000_irq.c
 * (ICR/IMS/ITR and delivery), e1000_tx.c, e1000_rx.c.
 *
 * Threads and locks: register accesses arrive on vCPU threads, receive runs
 * on the VM's I/O thread (or inline for poll-mode ports). Lock order:
 * tx.lock -> rx.lock -> lock -> irq.lock; a path takes only the ones it needs
 * in that order. Ring state is only touched under its ring lock.
 *
 * Interrupts: plain MSI (one vector, 64-bit address, no per-vector mask) via
 * an msi_line, else INTx pin A. ITR is honoured: an interrupt that would
 * follow the previous one sooner than ITR x 256 ns is held back by a timerfd
 * on the I/O thread and raised when the interval ends. RDTR/RADV/TIDV/TADV
 * are stored but not used (no extra delay). */
#ifndef IOVIRT_EMULATED_E1000_H
#define IOVIRT_EMULATED_E1000_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/counters.h"
#include "core/nic_backend.h"
#include "core/pci.h"
#include "emulated/e1000_regs.h"

struct vm;
struct msi_line;

#define E1000_MSI_CAP_LEN     14      /* ID, next, control, 64-bit address, data */
#define E1000_MSI_CTRL_ENABLE 0x0001
#define E1000_MSI_CTRL_64BIT  0x0080
#define PCI_CAP_ID_MSI        0x05

#define E1000_STATS_WORDS ((E1000_STATS_END - E1000_STATS_BASE) / 4)
#define E1000_RX_MAX_DESC_PER_FRAME 16   /* enough for a max frame + FCS in 256-byte buffers */
#define E1000_POLL_INTERVAL_NS 1000000u  /* poll-mode (DPDK) ports, from the I/O thread */
#define E1000_FAULT_LOG_LIMIT PCI_FAULT_LOG_LIMIT

/* One descriptor ring as the driver programmed it. */
struct e1000_ring {
	uint32_t bal, bah, len;     /* as the registers read back */
	uint32_t head, tail;
	/* Set by a fault in the ring's set-up (outside RAM, bad length, index past
	 * the end): the device stops using the ring, as the hardware would, until
	 * the driver rewrites base, length or head, toggles EN, or resets. */
	bool stopped;
	bool len_invalid;           /* the last length written was not a multiple of 128 */
};

/* Checksum offload state from the last context descriptor. */
struct e1000_tx_context {
	uint8_t ipcss, ipcso, tucss, tucso;
	uint16_t ipcse, tucse;
};

struct e1000 {
	struct pci_device pci;
	struct device_counters counters;
	struct vm *vm;
	struct nic_backend nic;
	char name[32];

	/* MSI: the capability's config offset and the line it drives. */
	unsigned msi_cap;
	struct msi_line *msi;
	atomic_bool msi_enabled;

	/* General registers, EEPROM interface, PHY. */
	pthread_mutex_t lock;
	uint32_t ctrl, ctrl_ext, eecd, eerd, mdic;
	uint16_t eeprom[E1000_EEPROM_WORDS];
	uint16_t phy[E1000_PHY_REGS];
	struct {                    /* microwire shift state behind EECD */
		unsigned state, bits;
		uint32_t shift;
		uint16_t address, word;
	} ee;
	uint32_t *plain;            /* registers kept as written (E1000_BAR0_SIZE / 4) */

	struct {
		pthread_mutex_t lock;
		uint32_t icr, ims, itr;
		bool asserted;          /* the interrupt was raised and ICR not yet cleared */
		bool held;              /* an assertion waits for the ITR interval */
		uint64_t last_raise_ns;
		int timer_fd;
		int timer_watch;
	} irq;

	struct {
		pthread_mutex_t lock;
		uint32_t tctl;
		struct e1000_ring ring;
		struct e1000_tx_context ctx;
		uint8_t bounce[PACKET_FRAME_MAX];   /* only for padding and checksum insertion */
	} tx;

	struct {
		pthread_mutex_t lock;
		uint32_t rctl;
		struct e1000_ring ring;
		uint32_t ral[E1000_RA_ENTRIES], rah[E1000_RA_ENTRIES];
		uint32_t mta[E1000_MTA_WORDS];
		int notify_watch;       /* watch on the port's eventfd, or 0 */
		int poll_timer_fd;      /* poll-mode ports: periodic timer, else -1 */
		int poll_watch;
		uint8_t discard[PACKET_FRAME_MAX];  /* frames that find no buffer land here */
	} rx;

	atomic_uint_fast64_t stats[E1000_STATS_WORDS];
	atomic_uint_fast64_t faults_logged;
};

/* Device fault: counted in the device counters, logged up to a limit. */
void e1000_fault(struct e1000 *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* e1000_regs.c */
void e1000_regs_init(struct e1000 *e);
/* Everything a CTRL.RST or device reset puts back (PCI config excepted). */
void e1000_regs_reset(struct e1000 *e);
uint32_t e1000_reg_read(struct e1000 *e, uint32_t offset);
void e1000_reg_write(struct e1000 *e, uint32_t offset, uint32_t value);
void e1000_stat_add(struct e1000 *e, uint32_t offset, uint64_t n);

/* e1000_irq.c */
int e1000_irq_init(struct e1000 *e);
void e1000_irq_fini(struct e1000 *e);
/* Sets causes in ICR and raises the interrupt if they are enabled. Any thread. */
void e1000_irq_raise(struct e1000 *e, uint32_t causes);
uint32_t e1000_irq_read_icr(struct e1000 *e);   /* read-to-clear */
void e1000_irq_write(struct e1000 *e, uint32_t offset, uint32_t value); /* ICS/IMS/IMC/ITR */
uint32_t e1000_irq_read(struct e1000 *e, uint32_t offset);             /* IMS/ITR */
void e1000_irq_reset(struct e1000 *e);
/* MSI enable/address/data changed in config space (or was reset). */
void e1000_irq_msi_config_changed(struct e1000 *e);

/* e1000_tx.c: TDT/TCTL/ring registers (vCPU threads). */
void e1000_tx_reset(struct e1000 *e);
void e1000_tx_reg_write(struct e1000 *e, uint32_t offset, uint32_t value);
uint32_t e1000_tx_reg_read(struct e1000 *e, uint32_t offset);

/* e1000_rx.c: RCTL/ring/filter registers, and the receive path. */
int e1000_rx_start(struct e1000 *e);   /* watches the port on the I/O thread */
void e1000_rx_stop(struct e1000 *e);
void e1000_rx_reset(struct e1000 *e);
void e1000_rx_reg_write(struct e1000 *e, uint32_t offset, uint32_t value);
uint32_t e1000_rx_reg_read(struct e1000 *e, uint32_t offset);
/* Moves waiting frames from the port into the ring; any thread (serialised
 * by rx.lock). Returns frames delivered. */
unsigned e1000_rx_drain(struct e1000 *e);
/* For poll-mode ports: drain now (after a transmit, RDT write, ICR read). */
void e1000_rx_poll_if_polled(struct e1000 *e);

/* e1000_ring.c: what the two rings share. */
/* Validates the ring against its registers and translates its descriptors
 * through the DMA space; on a problem logs a fault, stops the ring and
 * returns NULL. Ring lock held; the pointer is good for this pass. */
void *e1000_ring_map(struct e1000 *e, struct e1000_ring *ring, const char *which);
static inline uint32_t e1000_ring_count(const struct e1000_ring *ring)
{
	return ring->len / E1000_DESC_SIZE;
}
static inline uint64_t e1000_ring_base(const struct e1000_ring *ring)
{
	return (uint64_t)ring->bah << 32 | ring->bal;
}
/* Ring register write common to rx and tx (BAL, BAH, LEN, H, T at +0,4,8,0x10,0x18). */
void e1000_ring_reg_write(struct e1000 *e, struct e1000_ring *ring, const char *which,
			  uint32_t reg, uint32_t value);
uint32_t e1000_ring_reg_read(const struct e1000_ring *ring, uint32_t reg);

#endif
