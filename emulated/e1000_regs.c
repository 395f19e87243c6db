/* The e1000 register file: dispatch of BAR0 offsets, the general registers
 * (CTRL, STATUS), the EEPROM behind EERD and the EECD microwire pins, the
 * PHY behind MDIC, and the clear-on-read statistics. Registers a driver only
 * stores and reads back (flow control, TIPG, delay timers, ...) are kept as
 * written; unknown offsets read zero and ignore writes. */
#include <string.h>

#include "emulated/e1000.h"

/* Offsets whose value is stored as written and has no effect here. */
static bool e1000_reg_is_plain(uint32_t offset)
{
	switch (offset) {
	case E1000_FCAL: case E1000_FCAH: case E1000_FCT: case E1000_VET:
	case E1000_FCTTV: case E1000_TXCW: case E1000_RXCW: case E1000_TIPG:
	case E1000_LEDCTL: case E1000_PBA: case E1000_FCRTL: case E1000_FCRTH:
	case E1000_RDTR: case E1000_RXDCTL: case E1000_RADV: case E1000_RSRPD:
	case E1000_TIDV: case E1000_TXDCTL: case E1000_TADV: case E1000_RXCSUM:
	case E1000_WUC: case E1000_WUFC: case E1000_MANC:
		return true;
	default:
		return offset >= E1000_VFTA && offset < E1000_VFTA + 0x200;
	}
}

/* --- EEPROM --- */

static void e1000_eeprom_fill(struct e1000 *e)
{
	uint16_t *w = e->eeprom;
	memset(w, 0, sizeof(e->eeprom));
	for (int i = 0; i < 3; i++)
		w[i] = (uint16_t)(e->nic.mac[2 * i] | e->nic.mac[2 * i + 1] << 8);
	w[0x0a] = 0x4408;           /* init control 1: the EEPROM's signature bits (01b) set */
	w[0x0b] = 0x001e;           /* subsystem ID, as in config space */
	w[0x0c] = E1000_VENDOR_ID;  /* subsystem vendor */
	w[0x0d] = E1000_DEVICE_ID;
	w[0x0e] = E1000_VENDOR_ID;
	uint16_t sum = 0;
	for (int i = 0; i < E1000_EEPROM_CHECKSUM_WORD; i++)
		sum = (uint16_t)(sum + w[i]);
	w[E1000_EEPROM_CHECKSUM_WORD] = (uint16_t)(E1000_EEPROM_SUM - sum);
}

enum { EE_IDLE, EE_OPCODE, EE_ADDRESS, EE_READ, EE_IGNORE };
#define EE_ADDRESS_BITS 6      /* 64 words */
#define EE_OPCODE_READ  0x2    /* after the start bit: 10b */

/* One rising edge of SK with CS high: a bit of DI in, maybe a bit of DO out. */
static void e1000_eeprom_clock(struct e1000 *e, bool di)
{
	switch (e->ee.state) {
	case EE_IDLE:
		if (di) {       /* the start bit; leading zeros are ignored */
			e->ee.state = EE_OPCODE;
			e->ee.bits = 0;
			e->ee.shift = 0;
		}
		break;
	case EE_OPCODE:
		e->ee.shift = e->ee.shift << 1 | di;
		if (++e->ee.bits == 2) {
			e->ee.state = e->ee.shift == EE_OPCODE_READ ? EE_ADDRESS : EE_IGNORE;
			e->ee.bits = 0;
			e->ee.shift = 0;
		}
		break;
	case EE_ADDRESS:
		e->ee.shift = e->ee.shift << 1 | di;
		if (++e->ee.bits == EE_ADDRESS_BITS) {
			e->ee.address = (uint16_t)e->ee.shift;
			e->ee.word = e->eeprom[e->ee.address];
			e->ee.state = EE_READ;
			e->ee.bits = 0;
			e->eecd &= ~E1000_EECD_DO;   /* the dummy zero before the data */
		}
		break;
	case EE_READ: {
		/* Data MSB first; a sequential read rolls on to the next word. */
		bool bit = (e->ee.word >> (15 - e->ee.bits)) & 1;
		e->eecd = bit ? e->eecd | E1000_EECD_DO : e->eecd & ~E1000_EECD_DO;
		if (++e->ee.bits == 16) {
			e->ee.address = (uint16_t)((e->ee.address + 1) % E1000_EEPROM_WORDS);
			e->ee.word = e->eeprom[e->ee.address];
			e->ee.bits = 0;
		}
		break;
	}
	default:
		break;
	}
}

/* lock held */
static void e1000_eecd_write(struct e1000 *e, uint32_t value)
{
	uint32_t old = e->eecd;
	uint32_t pins = E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI | E1000_EECD_REQ;
	e->eecd = (old & ~pins) | (value & pins);
	/* Access is granted at once: nothing else in the model shares the EEPROM. */
	e->eecd = (e->eecd & E1000_EECD_REQ) ? e->eecd | E1000_EECD_GNT : e->eecd & ~E1000_EECD_GNT;
	if (!(value & E1000_EECD_CS)) {
		e->ee.state = EE_IDLE;
		e->eecd &= ~E1000_EECD_DO;
		return;
	}
	if (!(old & E1000_EECD_SK) && (value & E1000_EECD_SK))
		e1000_eeprom_clock(e, value & E1000_EECD_DI);
}

static void e1000_eerd_write(struct e1000 *e, uint32_t value)
{
	if (!(value & E1000_EERD_START))
		return;
	uint32_t address = (value >> E1000_EERD_ADDR_SHIFT) & 0xff;
	uint16_t data = 0;
	if (address < E1000_EEPROM_WORDS)
		data = e->eeprom[address];
	else
		e1000_fault(e, "EERD read of EEPROM word 0x%x: the EEPROM has %u words", address,
			    E1000_EEPROM_WORDS);
	e->eerd = (uint32_t)data << E1000_EERD_DATA_SHIFT | address << E1000_EERD_ADDR_SHIFT |
		  E1000_EERD_DONE;
}

/* --- PHY --- */

static void e1000_phy_reset(struct e1000 *e)
{
	uint16_t *p = e->phy;
	memset(p, 0, sizeof(e->phy));
	p[E1000_PHY_CTRL] = 0x1140;          /* autoneg on, full duplex, 1000 Mb/s */
	p[E1000_PHY_STATUS] = 0x796d;        /* capabilities, link up, autoneg complete */
	p[E1000_PHY_ID1] = E1000_PHY_ID1_VALUE;
	p[E1000_PHY_ID2] = E1000_PHY_ID2_VALUE;
	p[E1000_PHY_AUTONEG_ADV] = 0x01e1;
	p[E1000_PHY_LP_ABILITY] = 0x45e1;    /* the partner offers the same, and more */
	p[6] = 0x0001;                       /* autoneg expansion: partner can negotiate */
	p[E1000_PHY_1000T_CTRL] = 0x0300;
	p[E1000_PHY_1000T_STATUS] = 0x3c00;  /* partner 1000FD/HD, local and remote receiver OK */
	p[E1000_PHY_EXT_STATUS] = 0x3000;    /* 1000BASE-T full and half duplex */
	p[E1000_PHY_SPEC_CTRL] = 0x0068;
	p[E1000_PHY_SPEC_STATUS] = 0xac00;   /* 1000 Mb/s, full duplex, resolved, link */
}

static bool e1000_phy_link_up(const struct e1000 *e)
{
	return !(e->phy[E1000_PHY_CTRL] & E1000_PHY_CTRL_POWER_DOWN);
}

/* lock held */
static void e1000_phy_write(struct e1000 *e, unsigned reg, uint16_t value)
{
	switch (reg) {
	case E1000_PHY_CTRL:
		if (value & E1000_PHY_CTRL_RESET) {
			e1000_phy_reset(e);
			return;
		}
		/* Restart autonegotiation completes at once; both bits self-clear. */
		e->phy[reg] = value & ~(E1000_PHY_CTRL_RESTART_AN);
		break;
	case E1000_PHY_AUTONEG_ADV:
	case E1000_PHY_1000T_CTRL:
	case E1000_PHY_SPEC_CTRL:
	case 20: case 22: case 24: case 25: case 26: case 29: case 30:
		e->phy[reg] = value;         /* vendor pages and LED control: stored */
		break;
	default:
		break;                       /* status and ID registers are read-only */
	}
	bool up = e1000_phy_link_up(e);
	uint16_t link = E1000_PHY_STATUS_LINK | E1000_PHY_STATUS_AN_DONE;
	e->phy[E1000_PHY_STATUS] = up ? e->phy[E1000_PHY_STATUS] | link
				      : e->phy[E1000_PHY_STATUS] & ~link;
}

/* lock held; returns the interrupt causes to raise */
static uint32_t e1000_mdic_write(struct e1000 *e, uint32_t value)
{
	unsigned phy = (value >> E1000_MDIC_PHY_SHIFT) & 0x1f;
	unsigned reg = (value >> E1000_MDIC_REG_SHIFT) & 0x1f;
	uint32_t op = value & (3u << 26);
	uint32_t result = value & ~(E1000_MDIC_READY | E1000_MDIC_ERROR);
	if (phy != E1000_PHY_ADDRESS) {
		result |= E1000_MDIC_ERROR;      /* no PHY answers there */
	} else if (op == E1000_MDIC_OP_READ) {
		result = (result & ~E1000_MDIC_DATA_MASK) | e->phy[reg];
	} else if (op == E1000_MDIC_OP_WRITE) {
		e1000_phy_write(e, reg, (uint16_t)(value & E1000_MDIC_DATA_MASK));
	} else {
		result |= E1000_MDIC_ERROR;
	}
	e->mdic = result | E1000_MDIC_READY;
	return (value & E1000_MDIC_INT_EN) ? E1000_ICR_MDAC : 0;
}

/* --- General registers --- */

static uint32_t e1000_status_locked(const struct e1000 *e)
{
	uint32_t status = E1000_STATUS_FD | E1000_STATUS_SPEED_1000;
	if (e1000_phy_link_up(e))
		status |= E1000_STATUS_LU;
	return status;
}

void e1000_stat_add(struct e1000 *e, uint32_t offset, uint64_t n)
{
	atomic_fetch_add_explicit(&e->stats[(offset - E1000_STATS_BASE) / 4], n,
				  memory_order_relaxed);
}

/* 64-bit counters live in their low slot; reading the high half clears. */
static bool e1000_stat_is_high_half(uint32_t offset)
{
	return offset == E1000_STAT_GORCH || offset == E1000_STAT_GOTCH ||
	       offset == E1000_STAT_TORH || offset == E1000_STAT_TOTH;
}

static bool e1000_stat_is_low_half(uint32_t offset)
{
	return offset == E1000_STAT_GORCL || offset == E1000_STAT_GOTCL ||
	       offset == E1000_STAT_TORL || offset == E1000_STAT_TOTL;
}

static uint32_t e1000_stat_read(struct e1000 *e, uint32_t offset)
{
	unsigned index = (offset - E1000_STATS_BASE) / 4;
	if (e1000_stat_is_low_half(offset))
		return (uint32_t)atomic_load(&e->stats[index]);
	if (e1000_stat_is_high_half(offset))
		return (uint32_t)(atomic_exchange(&e->stats[index - 1], 0) >> 32);
	uint64_t v = atomic_exchange(&e->stats[index], 0);
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

void e1000_regs_init(struct e1000 *e)
{
	e1000_regs_reset(e);
}

/* Called without any e1000 lock held. */
void e1000_regs_reset(struct e1000 *e)
{
	e1000_tx_reset(e);
	e1000_rx_reset(e);
	pthread_mutex_lock(&e->lock);
	e->ctrl = E1000_CTRL_FD;
	e->ctrl_ext = e->eerd = e->mdic = 0;
	e->eecd = E1000_EECD_PRES;
	memset(&e->ee, 0, sizeof(e->ee));
	e1000_eeprom_fill(e);
	e1000_phy_reset(e);
	memset(e->plain, 0, E1000_BAR0_SIZE);
	pthread_mutex_unlock(&e->lock);
	for (unsigned i = 0; i < E1000_STATS_WORDS; i++)
		atomic_store(&e->stats[i], 0);
	e1000_irq_reset(e);
}

static void e1000_ctrl_write(struct e1000 *e, uint32_t value)
{
	if (value & E1000_CTRL_RST) {
		e1000_regs_reset(e);    /* RST self-clears: CTRL reads its reset value */
		return;
	}
	uint32_t causes = 0;
	pthread_mutex_lock(&e->lock);
	if ((value & E1000_CTRL_SLU) && !(e->ctrl & E1000_CTRL_SLU))
		causes |= E1000_ICR_LSC;
	if (value & E1000_CTRL_PHY_RST)
		e1000_phy_reset(e);
	e->ctrl = value & ~(E1000_CTRL_RST | E1000_CTRL_PHY_RST);
	pthread_mutex_unlock(&e->lock);
	if (causes)
		e1000_irq_raise(e, causes);
}

static bool e1000_is_rx_reg(uint32_t offset)
{
	return offset == E1000_RCTL || (offset >= E1000_RDBAL && offset <= E1000_RDT) ||
	       (offset >= E1000_MTA && offset < E1000_MTA + 4 * E1000_MTA_WORDS) ||
	       (offset >= E1000_RAL(0) && offset < E1000_RAL(E1000_RA_ENTRIES));
}

static bool e1000_is_tx_reg(uint32_t offset)
{
	return offset == E1000_TCTL || (offset >= E1000_TDBAL && offset <= E1000_TDT);
}

uint32_t e1000_reg_read(struct e1000 *e, uint32_t offset)
{
	if (e1000_is_rx_reg(offset))
		return e1000_rx_reg_read(e, offset);
	if (e1000_is_tx_reg(offset))
		return e1000_tx_reg_read(e, offset);
	if (offset >= E1000_STATS_BASE && offset < E1000_STATS_END)
		return e1000_stat_read(e, offset);
	switch (offset) {
	case E1000_ICR:
		/* A polling driver reads ICR: a poll-mode port gets looked at too. */
		e1000_rx_poll_if_polled(e);
		return e1000_irq_read_icr(e);
	case E1000_IMS:
	case E1000_ITR:
		return e1000_irq_read(e, offset);
	case E1000_ICS:
	case E1000_IMC:
		return 0;                   /* write-only */
	default:
		break;
	}
	uint32_t v = 0;
	pthread_mutex_lock(&e->lock);
	switch (offset) {
	case E1000_CTRL:     v = e->ctrl; break;
	case E1000_STATUS:   v = e1000_status_locked(e); break;
	case E1000_EECD:     v = e->eecd; break;
	case E1000_EERD:     v = e->eerd; break;
	case E1000_CTRL_EXT: v = e->ctrl_ext; break;
	case E1000_MDIC:     v = e->mdic; break;
	default:
		if (e1000_reg_is_plain(offset))
			v = e->plain[offset / 4];
		break;
	}
	pthread_mutex_unlock(&e->lock);
	return v;
}

void e1000_reg_write(struct e1000 *e, uint32_t offset, uint32_t value)
{
	if (e1000_is_rx_reg(offset)) {
		e1000_rx_reg_write(e, offset, value);
		return;
	}
	if (e1000_is_tx_reg(offset)) {
		e1000_tx_reg_write(e, offset, value);
		return;
	}
	switch (offset) {
	case E1000_CTRL:
		e1000_ctrl_write(e, value);
		return;
	case E1000_ICR:
	case E1000_ICS:
	case E1000_IMS:
	case E1000_IMC:
	case E1000_ITR:
		e1000_irq_write(e, offset, value);
		return;
	default:
		break;
	}
	uint32_t causes = 0;
	pthread_mutex_lock(&e->lock);
	switch (offset) {
	case E1000_EECD:     e1000_eecd_write(e, value); break;
	case E1000_EERD:     e1000_eerd_write(e, value); break;
	case E1000_CTRL_EXT: e->ctrl_ext = value; break;
	case E1000_MDIC:     causes = e1000_mdic_write(e, value); break;
	default:
		if (e1000_reg_is_plain(offset))
			e->plain[offset / 4] = value;
		break;               /* read-only (STATUS, statistics) or unknown */
	}
	pthread_mutex_unlock(&e->lock);
	if (causes)
		e1000_irq_raise(e, causes);
}
