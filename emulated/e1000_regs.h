/* The Intel 82540EM (e1000) as a driver sees it: register offsets in BAR0,
 * bit fields, descriptor layouts, EEPROM and PHY words. Facts from Intel's
 * PCI/PCI-X Family of Gigabit Ethernet Controllers (8254x) Software
 * Developer's Manual; shared by the device model and its tests. */
#ifndef IOVIRT_EMULATED_E1000_REGS_H
#define IOVIRT_EMULATED_E1000_REGS_H

#include <stdint.h>

#define E1000_VENDOR_ID      0x8086
#define E1000_DEVICE_ID      0x100e   /* 82540EM desktop */
#define E1000_CLASS_CODE     0x020000 /* network, Ethernet */
#define E1000_BAR0_SIZE      0x20000  /* 128 KiB register file */

/* General registers. */
#define E1000_CTRL     0x0000
#define E1000_STATUS   0x0008
#define E1000_EECD     0x0010
#define E1000_EERD     0x0014
#define E1000_CTRL_EXT 0x0018
#define E1000_MDIC     0x0020
#define E1000_FCAL     0x0028
#define E1000_FCAH     0x002c
#define E1000_FCT      0x0030
#define E1000_VET      0x0038
#define E1000_ICR      0x00c0
#define E1000_ITR      0x00c4
#define E1000_ICS      0x00c8
#define E1000_IMS      0x00d0
#define E1000_IMC      0x00d8
#define E1000_RCTL     0x0100
#define E1000_FCTTV    0x0170
#define E1000_TXCW     0x0178
#define E1000_RXCW     0x0180
#define E1000_TCTL     0x0400
#define E1000_TIPG     0x0410
#define E1000_LEDCTL   0x0e00
#define E1000_PBA      0x1000
#define E1000_FCRTL    0x2160
#define E1000_FCRTH    0x2168
#define E1000_RDBAL    0x2800
#define E1000_RDBAH    0x2804
#define E1000_RDLEN    0x2808
#define E1000_RDH      0x2810
#define E1000_RDT      0x2818
#define E1000_RDTR     0x2820
#define E1000_RXDCTL   0x2828
#define E1000_RADV     0x282c
#define E1000_RSRPD    0x2c00
#define E1000_TDBAL    0x3800
#define E1000_TDBAH    0x3804
#define E1000_TDLEN    0x3808
#define E1000_TDH      0x3810
#define E1000_TDT      0x3818
#define E1000_TIDV     0x3820
#define E1000_TXDCTL   0x3828
#define E1000_TADV     0x382c
#define E1000_STATS_BASE 0x4000   /* statistics: 64 dwords, clear on read */
#define E1000_STATS_END  0x4100
#define E1000_RXCSUM   0x5000
#define E1000_MTA      0x5200     /* multicast table: 128 dwords */
#define E1000_MTA_WORDS 128
#define E1000_RAL(n)   (0x5400 + 8 * (n))
#define E1000_RAH(n)   (0x5404 + 8 * (n))
#define E1000_RA_ENTRIES 16
#define E1000_VFTA     0x5600     /* VLAN filter table: 128 dwords */
#define E1000_WUC      0x5800
#define E1000_WUFC     0x5808
#define E1000_MANC     0x5820

/* Statistics registers (offsets) the model counts; others read zero. */
#define E1000_STAT_MPC    0x4010  /* missed: no descriptor free */
#define E1000_STAT_RNBC   0x40a0  /* receive no buffers */
#define E1000_STAT_ROC    0x40ac  /* receive oversize */
#define E1000_STAT_GPRC   0x4074
#define E1000_STAT_BPRC   0x4078
#define E1000_STAT_MPRC   0x407c
#define E1000_STAT_GPTC   0x4080
#define E1000_STAT_GORCL  0x4088  /* 64-bit: the pair clears when the high half is read */
#define E1000_STAT_GORCH  0x408c
#define E1000_STAT_GOTCL  0x4090
#define E1000_STAT_GOTCH  0x4094
#define E1000_STAT_TORL   0x40c0
#define E1000_STAT_TORH   0x40c4
#define E1000_STAT_TOTL   0x40c8
#define E1000_STAT_TOTH   0x40cc
#define E1000_STAT_TPR    0x40d0
#define E1000_STAT_TPT    0x40d4
#define E1000_STAT_MPTC   0x40f0
#define E1000_STAT_BPTC   0x40f4

/* CTRL */
#define E1000_CTRL_FD      (1u << 0)
#define E1000_CTRL_ASDE    (1u << 5)
#define E1000_CTRL_SLU     (1u << 6)
#define E1000_CTRL_RST     (1u << 26)
#define E1000_CTRL_VME     (1u << 30)
#define E1000_CTRL_PHY_RST (1u << 31)

/* STATUS */
#define E1000_STATUS_FD         (1u << 0)
#define E1000_STATUS_LU         (1u << 1)
#define E1000_STATUS_SPEED_1000 (2u << 6)

/* EECD: microwire bit-bang interface and arbitration. */
#define E1000_EECD_SK      (1u << 0)
#define E1000_EECD_CS      (1u << 1)
#define E1000_EECD_DI      (1u << 2)
#define E1000_EECD_DO      (1u << 3)
#define E1000_EECD_REQ     (1u << 6)
#define E1000_EECD_GNT     (1u << 7)
#define E1000_EECD_PRES    (1u << 8)

/* EERD: one-shot EEPROM word read. */
#define E1000_EERD_START      (1u << 0)
#define E1000_EERD_DONE       (1u << 4)
#define E1000_EERD_ADDR_SHIFT 8
#define E1000_EERD_DATA_SHIFT 16

/* MDIC */
#define E1000_MDIC_DATA_MASK   0xffffu
#define E1000_MDIC_REG_SHIFT   16
#define E1000_MDIC_PHY_SHIFT   21
#define E1000_MDIC_OP_WRITE    (1u << 26)
#define E1000_MDIC_OP_READ     (2u << 26)
#define E1000_MDIC_READY       (1u << 28)
#define E1000_MDIC_INT_EN      (1u << 29)
#define E1000_MDIC_ERROR       (1u << 30)
#define E1000_PHY_ADDRESS      1

/* Interrupt causes (ICR/ICS/IMS/IMC). */
#define E1000_ICR_TXDW   (1u << 0)
#define E1000_ICR_TXQE   (1u << 1)
#define E1000_ICR_LSC    (1u << 2)
#define E1000_ICR_RXSEQ  (1u << 3)
#define E1000_ICR_RXDMT0 (1u << 4)
#define E1000_ICR_RXO    (1u << 6)
#define E1000_ICR_RXT0   (1u << 7)
#define E1000_ICR_MDAC   (1u << 9)
#define E1000_ICR_VALID  0x0001f6dfu   /* causes an 82540EM has */

/* RCTL */
#define E1000_RCTL_EN         (1u << 1)
#define E1000_RCTL_UPE        (1u << 3)
#define E1000_RCTL_MPE        (1u << 4)
#define E1000_RCTL_LPE        (1u << 5)
#define E1000_RCTL_RDMTS_SHIFT 8
#define E1000_RCTL_MO_SHIFT   12
#define E1000_RCTL_BAM        (1u << 15)
#define E1000_RCTL_BSIZE_SHIFT 16
#define E1000_RCTL_BSIZE_2048 (0u << 16)
#define E1000_RCTL_BSIZE_1024 (1u << 16)
#define E1000_RCTL_BSIZE_512  (2u << 16)
#define E1000_RCTL_BSIZE_256  (3u << 16)
#define E1000_RCTL_BSEX       (1u << 25)
#define E1000_RCTL_SECRC      (1u << 26)

/* TCTL */
#define E1000_TCTL_EN   (1u << 1)
#define E1000_TCTL_PSP  (1u << 3)

/* RAH */
#define E1000_RAH_AV    (1u << 31)

/* Descriptor rings: 16-byte descriptors, ring length a multiple of 128. */
#define E1000_DESC_SIZE      16u
#define E1000_RING_ALIGN     128u
#define E1000_RING_LEN_MAX   0x100000u   /* RDLEN/TDLEN hold bits 19:7 */

/* Receive descriptor (legacy). */
struct e1000_rx_desc {
	uint64_t buffer_addr;
	uint16_t length;
	uint16_t checksum;
	uint8_t status;
	uint8_t errors;
	uint16_t special;
};
#define E1000_RXD_STA_DD   (1u << 0)
#define E1000_RXD_STA_EOP  (1u << 1)
#define E1000_RXD_ERR_RXE  (1u << 7)

/* Transmit descriptor: legacy, context (DEXT, DTYP 0) or data (DEXT, DTYP 1),
 * read as two little-endian quadwords. */
struct e1000_tx_desc {
	uint64_t addr;     /* legacy/data: buffer; context: checksum offsets */
	uint32_t lower;    /* legacy: length | CSO << 16 | CMD << 24; ext: length/PAYLEN | DTYP | CMD */
	uint32_t upper;    /* legacy: STA | CSS << 8 | special; ext: STA | POPTS/HDRLEN | special/MSS */
};
#define E1000_TXD_CMD_EOP   (1u << 24)
#define E1000_TXD_CMD_IFCS  (1u << 25)
#define E1000_TXD_CMD_IC    (1u << 26)   /* legacy: insert checksum at CSO */
#define E1000_TXD_CMD_TSE   (1u << 26)   /* extended: TCP segmentation */
#define E1000_TXD_CMD_RS    (1u << 27)
#define E1000_TXD_CMD_DEXT  (1u << 29)
#define E1000_TXD_CMD_VLE   (1u << 30)
#define E1000_TXD_CMD_IDE   (1u << 31)
#define E1000_TXD_DTYP_MASK (0xfu << 20)
#define E1000_TXD_DTYP_CTX  (0u << 20)
#define E1000_TXD_DTYP_DATA (1u << 20)
#define E1000_TXD_LEN_MASK  0xffffu      /* legacy length */
#define E1000_TXD_DLEN_MASK 0xfffffu     /* extended: DTALEN / PAYLEN */
#define E1000_TXD_STA_DD    (1u << 0)    /* in upper */
#define E1000_TXD_POPTS_IXSM (1u << 8)   /* in upper: insert IP checksum */
#define E1000_TXD_POPTS_TXSM (1u << 9)   /* in upper: insert TCP/UDP checksum */

/* EEPROM (64 words on the 82540EM's 93C46). */
#define E1000_EEPROM_WORDS     64
#define E1000_EEPROM_CHECKSUM_WORD 0x3f
#define E1000_EEPROM_SUM       0xbaba   /* words 0..0x3f add up to this */

/* PHY (an M88E1011-like copper PHY at MDIO address 1). */
#define E1000_PHY_CTRL        0
#define E1000_PHY_STATUS      1
#define E1000_PHY_ID1         2
#define E1000_PHY_ID2         3
#define E1000_PHY_AUTONEG_ADV 4
#define E1000_PHY_LP_ABILITY  5
#define E1000_PHY_1000T_CTRL  9
#define E1000_PHY_1000T_STATUS 10
#define E1000_PHY_EXT_STATUS  15
#define E1000_PHY_SPEC_CTRL   16
#define E1000_PHY_SPEC_STATUS 17
#define E1000_PHY_REGS        32
#define E1000_PHY_CTRL_RESET        (1u << 15)
#define E1000_PHY_CTRL_POWER_DOWN   (1u << 11)
#define E1000_PHY_CTRL_RESTART_AN   (1u << 9)
#define E1000_PHY_STATUS_LINK       (1u << 2)
#define E1000_PHY_STATUS_AN_DONE    (1u << 5)
#define E1000_PHY_ID1_VALUE   0x0141
#define E1000_PHY_ID2_VALUE   0x0c20

#endif
