/* Numbers from the virtio 1.2 specification that the split models share:
 * feature bits, device status bits, split-ring layout and flags, the PCI
 * capability types and the common configuration layout, and the virtio-blk /
 * virtio-net wire formats. Everything on the wire is little endian. */
#ifndef IOVIRT_SPLIT_VIRTIO_SPEC_H
#define IOVIRT_SPLIT_VIRTIO_SPEC_H

#include <stdint.h>

/* --- PCI identity (modern devices only) --- */
#define VIRTIO_PCI_VENDOR_ID       0x1af4
#define VIRTIO_PCI_DEVICE_ID_BASE  0x1040   /* + virtio device type */
#define VIRTIO_PCI_REVISION        1
#define VIRTIO_ID_NET              1
#define VIRTIO_ID_BLOCK            2

/* --- Device status --- */
#define VIRTIO_STATUS_ACKNOWLEDGE      0x01
#define VIRTIO_STATUS_DRIVER           0x02
#define VIRTIO_STATUS_DRIVER_OK        0x04
#define VIRTIO_STATUS_FEATURES_OK      0x08
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED           0x80

/* --- Device-independent feature bits --- */
#define VIRTIO_F_INDIRECT_DESC   28
#define VIRTIO_F_EVENT_IDX       29
#define VIRTIO_F_VERSION_1       32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED     34
#define VIRTIO_F_RING_RESET      40

#define VIRTIO_BIT(n) (1ull << (n))

/* --- Split virtqueue layout --- */
#define VIRTQ_DESC_F_NEXT      1
#define VIRTQ_DESC_F_WRITE     2
#define VIRTQ_DESC_F_INDIRECT  4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

#define VIRTQ_DESC_SIZE        16u   /* addr le64, len le32, flags le16, next le16 */
#define VIRTQ_AVAIL_HDR_SIZE   4u    /* flags le16, idx le16; ring[n]; used_event le16 */
#define VIRTQ_USED_HDR_SIZE    4u    /* flags le16, idx le16; ring[n] of 8; avail_event le16 */
#define VIRTQ_USED_ELEM_SIZE   8u    /* id le32, len le32 */
#define VIRTQ_DESC_ALIGN       16u
#define VIRTQ_AVAIL_ALIGN      2u
#define VIRTQ_USED_ALIGN       4u

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* --- virtio-pci modern transport --- */
#define VIRTIO_PCI_CAP_COMMON_CFG  1
#define VIRTIO_PCI_CAP_NOTIFY_CFG  2
#define VIRTIO_PCI_CAP_ISR_CFG     3
#define VIRTIO_PCI_CAP_DEVICE_CFG  4
#define VIRTIO_PCI_CAP_PCI_CFG     5

/* struct virtio_pci_cap: vndr, next, len, cfg_type, bar, id, pad[2],
 * offset le32, length le32; the notify capability adds the multiplier. */
#define VIRTIO_PCI_CAP_LEN          16u
#define VIRTIO_PCI_NOTIFY_CAP_LEN   20u
#define VIRTIO_PCI_CFG_CAP_LEN      20u   /* cap + pci_cfg_data[4] */
#define VIRTIO_PCI_CAP_OFF_TYPE     3u
#define VIRTIO_PCI_CAP_OFF_BAR      4u
#define VIRTIO_PCI_CAP_OFF_ID       5u
#define VIRTIO_PCI_CAP_OFF_OFFSET   8u
#define VIRTIO_PCI_CAP_OFF_LENGTH   12u
#define VIRTIO_PCI_CAP_OFF_MULT     16u
#define VIRTIO_PCI_CAP_OFF_DATA     16u

/* struct virtio_pci_common_cfg offsets. */
#define VIRTIO_COMMON_DFSELECT      0x00
#define VIRTIO_COMMON_DF            0x04
#define VIRTIO_COMMON_GFSELECT      0x08
#define VIRTIO_COMMON_GF            0x0c
#define VIRTIO_COMMON_MSIX          0x10
#define VIRTIO_COMMON_NUMQ          0x12
#define VIRTIO_COMMON_STATUS        0x14
#define VIRTIO_COMMON_CFGGENERATION 0x15
#define VIRTIO_COMMON_Q_SELECT      0x16
#define VIRTIO_COMMON_Q_SIZE        0x18
#define VIRTIO_COMMON_Q_MSIX        0x1a
#define VIRTIO_COMMON_Q_ENABLE      0x1c
#define VIRTIO_COMMON_Q_NOFF        0x1e
#define VIRTIO_COMMON_Q_DESCLO      0x20
#define VIRTIO_COMMON_Q_DESCHI      0x24
#define VIRTIO_COMMON_Q_AVAILLO     0x28
#define VIRTIO_COMMON_Q_AVAILHI     0x2c
#define VIRTIO_COMMON_Q_USEDLO      0x30
#define VIRTIO_COMMON_Q_USEDHI      0x34
#define VIRTIO_COMMON_Q_NDATA       0x38
#define VIRTIO_COMMON_Q_RESET       0x3a
#define VIRTIO_COMMON_CFG_SIZE      0x3c

#define VIRTIO_MSI_NO_VECTOR        0xffff
#define VIRTIO_ISR_QUEUE            0x1
#define VIRTIO_ISR_CONFIG           0x2

/* --- virtio-blk --- */
#define VIRTIO_BLK_F_SIZE_MAX      1
#define VIRTIO_BLK_F_SEG_MAX       2
#define VIRTIO_BLK_F_RO            5
#define VIRTIO_BLK_F_BLK_SIZE      6
#define VIRTIO_BLK_F_FLUSH         9
#define VIRTIO_BLK_F_MQ            12
#define VIRTIO_BLK_F_DISCARD       13
#define VIRTIO_BLK_F_WRITE_ZEROES  14

#define VIRTIO_BLK_T_IN            0
#define VIRTIO_BLK_T_OUT           1
#define VIRTIO_BLK_T_FLUSH         4
#define VIRTIO_BLK_T_GET_ID        8
#define VIRTIO_BLK_T_DISCARD       11
#define VIRTIO_BLK_T_WRITE_ZEROES  13

#define VIRTIO_BLK_S_OK            0
#define VIRTIO_BLK_S_IOERR         1
#define VIRTIO_BLK_S_UNSUPP        2

#define VIRTIO_BLK_SECTOR_SIZE     512u
#define VIRTIO_BLK_ID_BYTES        20u
#define VIRTIO_BLK_REQ_HDR_SIZE    16u   /* type le32, reserved le32, sector le64 */
#define VIRTIO_BLK_DWZ_SEG_SIZE    16u   /* sector le64, num_sectors le32, flags le32 */
#define VIRTIO_BLK_WZ_FLAG_UNMAP   1u

/* struct virtio_blk_config offsets. */
#define VIRTIO_BLK_CFG_CAPACITY          0
#define VIRTIO_BLK_CFG_SIZE_MAX          8
#define VIRTIO_BLK_CFG_SEG_MAX           12
#define VIRTIO_BLK_CFG_BLK_SIZE          20
#define VIRTIO_BLK_CFG_NUM_QUEUES        34
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG   40
#define VIRTIO_BLK_CFG_DISCARD_ALIGN     44
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS    48
#define VIRTIO_BLK_CFG_MAX_WZ_SEG        52
#define VIRTIO_BLK_CFG_WZ_MAY_UNMAP      56
#define VIRTIO_BLK_CFG_SIZE              60

/* --- virtio-net --- */
#define VIRTIO_NET_F_MAC           5
#define VIRTIO_NET_F_MRG_RXBUF     15
#define VIRTIO_NET_F_STATUS        16

#define VIRTIO_NET_S_LINK_UP       1
#define VIRTIO_NET_HDR_SIZE        12u   /* with VERSION_1, always with num_buffers */
#define VIRTIO_NET_HDR_OFF_NUM_BUFFERS 10u

#define VIRTIO_NET_CFG_MAC         0
#define VIRTIO_NET_CFG_STATUS      6
#define VIRTIO_NET_CFG_MAX_PAIRS   8
#define VIRTIO_NET_CFG_MTU         10
#define VIRTIO_NET_CFG_SIZE        12

#endif
