/* NVMe 1.4 facts the emulated controller needs: register offsets and
 * fields, command opcodes, status codes, queue entry layouts. Written from
 * the base specification's tables; only what this controller uses. */
#ifndef IOVIRT_EMULATED_NVME_DEFS_H
#define IOVIRT_EMULATED_NVME_DEFS_H

#include <stdint.h>

#define NVME_PAGE_SIZE      4096u
#define NVME_PAGE_SHIFT     12
#define NVME_SQE_SIZE       64u
#define NVME_CQE_SIZE       16u
#define NVME_SQES_LOG2      6
#define NVME_CQES_LOG2      4

/* Controller registers (BAR0 offsets). */
#define NVME_REG_CAP        0x00   /* 64-bit */
#define NVME_REG_VS         0x08
#define NVME_REG_INTMS      0x0c
#define NVME_REG_INTMC      0x10
#define NVME_REG_CC         0x14
#define NVME_REG_CSTS       0x1c
#define NVME_REG_NSSR       0x20
#define NVME_REG_AQA        0x24
#define NVME_REG_ASQ        0x28   /* 64-bit */
#define NVME_REG_ACQ        0x30   /* 64-bit */
#define NVME_REG_DOORBELLS  0x1000

#define NVME_VS_1_4         0x00010400u

/* CAP fields. */
#define NVME_CAP_MQES_MASK  0xffffull
#define NVME_CAP_CQR        (1ull << 16)
#define NVME_CAP_TO_SHIFT   24     /* 500 ms units */
#define NVME_CAP_DSTRD_SHIFT 32
#define NVME_CAP_CSS_NVM    (1ull << 37)
#define NVME_CAP_MPSMIN_SHIFT 48   /* 2^(12 + n) bytes */
#define NVME_CAP_MPSMAX_SHIFT 52

/* CC fields. */
#define NVME_CC_EN          (1u << 0)
#define NVME_CC_CSS(cc)     (((cc) >> 4) & 0x7)
#define NVME_CC_MPS(cc)     (((cc) >> 7) & 0xf)
#define NVME_CC_AMS(cc)     (((cc) >> 11) & 0x7)
#define NVME_CC_SHN(cc)     (((cc) >> 14) & 0x3)
#define NVME_CC_IOSQES(cc)  (((cc) >> 16) & 0xf)
#define NVME_CC_IOCQES(cc)  (((cc) >> 20) & 0xf)
#define NVME_CC_WRITABLE    0x00fffff1u

/* CSTS fields. */
#define NVME_CSTS_RDY       (1u << 0)
#define NVME_CSTS_CFS       (1u << 1)
#define NVME_CSTS_SHST_MASK (3u << 2)
#define NVME_CSTS_SHST_OCCURRING (1u << 2)
#define NVME_CSTS_SHST_COMPLETE  (2u << 2)

/* AQA: 0-based admin queue sizes. */
#define NVME_AQA_ASQS(aqa)  ((aqa) & 0xfff)
#define NVME_AQA_ACQS(aqa)  (((aqa) >> 16) & 0xfff)

/* Admin command opcodes. */
enum nvme_admin_opcode {
	NVME_ADMIN_DELETE_SQ = 0x00,
	NVME_ADMIN_CREATE_SQ = 0x01,
	NVME_ADMIN_GET_LOG_PAGE = 0x02,
	NVME_ADMIN_DELETE_CQ = 0x04,
	NVME_ADMIN_CREATE_CQ = 0x05,
	NVME_ADMIN_IDENTIFY = 0x06,
	NVME_ADMIN_ABORT = 0x08,
	NVME_ADMIN_SET_FEATURES = 0x09,
	NVME_ADMIN_GET_FEATURES = 0x0a,
	NVME_ADMIN_ASYNC_EVENT = 0x0c,
	NVME_ADMIN_DOORBELL_BUFFER_CONFIG = 0x7c,
};

/* NVM command set opcodes. */
enum nvme_io_opcode {
	NVME_IO_FLUSH = 0x00,
	NVME_IO_WRITE = 0x01,
	NVME_IO_READ = 0x02,
	NVME_IO_WRITE_ZEROES = 0x08,
	NVME_IO_DSM = 0x09,
};

/* Status: (status code type << 8) | status code. DNR is added on errors a
 * retry cannot fix. */
#define NVME_SCT_GENERIC    0x000
#define NVME_SCT_CMD        0x100
#define NVME_SCT_MEDIA      0x200
enum nvme_status {
	NVME_SC_SUCCESS = 0x00,
	NVME_SC_INVALID_OPCODE = 0x01,
	NVME_SC_INVALID_FIELD = 0x02,
	NVME_SC_DATA_TRANSFER_ERROR = 0x04,
	NVME_SC_INTERNAL = 0x06,
	NVME_SC_ABORT_REQUESTED = 0x07,
	NVME_SC_ABORTED_SQ_DELETION = 0x08,
	NVME_SC_INVALID_NAMESPACE = 0x0b,
	NVME_SC_COMMAND_SEQUENCE = 0x0c,
	NVME_SC_INVALID_PRP_OFFSET = 0x13,
	NVME_SC_NS_WRITE_PROTECTED = 0x20,
	NVME_SC_LBA_RANGE = 0x80,
	NVME_SC_CAPACITY_EXCEEDED = 0x81,

	NVME_SC_CQ_INVALID = NVME_SCT_CMD | 0x00,
	NVME_SC_QID_INVALID = NVME_SCT_CMD | 0x01,
	NVME_SC_QUEUE_SIZE = NVME_SCT_CMD | 0x02,
	NVME_SC_ABORT_LIMIT = NVME_SCT_CMD | 0x03,
	NVME_SC_AER_LIMIT = NVME_SCT_CMD | 0x05,
	NVME_SC_INVALID_VECTOR = NVME_SCT_CMD | 0x08,
	NVME_SC_INVALID_LOG_PAGE = NVME_SCT_CMD | 0x09,
	NVME_SC_INVALID_QUEUE_DELETION = NVME_SCT_CMD | 0x0c,
	NVME_SC_FEATURE_NOT_SAVEABLE = NVME_SCT_CMD | 0x0d,

	NVME_SC_WRITE_FAULT = NVME_SCT_MEDIA | 0x80,
	NVME_SC_UNRECOVERED_READ = NVME_SCT_MEDIA | 0x81,
};
#define NVME_STATUS_DNR     0x4000u   /* in the 15-bit status field */

/* Features. */
#define NVME_FEAT_ARBITRATION   0x01
#define NVME_FEAT_POWER_MGMT    0x02
#define NVME_FEAT_TEMP_THRESH   0x04
#define NVME_FEAT_VOLATILE_WC   0x06
#define NVME_FEAT_NUM_QUEUES    0x07
#define NVME_FEAT_IRQ_COALESCE  0x08
#define NVME_FEAT_IRQ_CONFIG    0x09
#define NVME_FEAT_ASYNC_EVENT   0x0b

/* Log pages. */
#define NVME_LOG_ERROR          0x01
#define NVME_LOG_SMART          0x02
#define NVME_LOG_FIRMWARE_SLOT  0x03
#define NVME_ERROR_LOG_ENTRY    64u
#define NVME_SMART_LOG_SIZE     512u
#define NVME_FW_LOG_SIZE        512u

/* Asynchronous events. */
#define NVME_AER_TYPE_ERROR     0
#define NVME_AER_TYPE_SMART     1
#define NVME_AER_INFO_INVALID_DB_REGISTER 0x00
#define NVME_AER_INFO_INVALID_DB_VALUE    0x01

/* Identify CNS values. */
#define NVME_CNS_NAMESPACE      0x00
#define NVME_CNS_CONTROLLER     0x01
#define NVME_CNS_ACTIVE_NS_LIST 0x02
#define NVME_IDENTIFY_SIZE      4096u

/* Submission queue entry, as the guest lays it out (little endian). */
struct nvme_sqe {
	uint8_t opcode;
	uint8_t flags;          /* FUSE 1:0, PSDT 7:6 */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2, cdw3;
	uint64_t mptr;
	uint64_t prp1, prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};
_Static_assert(sizeof(struct nvme_sqe) == NVME_SQE_SIZE, "SQE is 64 bytes");

struct nvme_cqe {
	uint32_t dw0;
	uint32_t dw1;
	uint16_t sq_head;
	uint16_t sq_id;
	uint16_t cid;
	uint16_t status_phase;  /* bit 0 phase tag, 15:1 status field */
};
_Static_assert(sizeof(struct nvme_cqe) == NVME_CQE_SIZE, "CQE is 16 bytes");

#endif
