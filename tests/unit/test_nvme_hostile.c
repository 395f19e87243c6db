/* A hostile guest against the emulated NVMe controller: every bad input
 * gets the status the specification gives (or an asynchronous event), is
 * counted as a device fault, and is followed by a normal I/O that must
 * still succeed with the right data. */
#include <check.h>
#include <string.h>
#include <unistd.h>

#include "core/io_thread.h"
#include "core/pci_msix.h"
#include "tests/test_registry.h"
#include "tests/test_vm_fixture.h"
#include "tests/unit/test_nvme_guest.h"

static struct tn T;
static uint32_t seed = 1000;

static void setup(void)
{
	tn_setup_ready(&T);
}

static void teardown(void)
{
	tn_teardown(&T);
}

static uint64_t faults(void)
{
	return counter_get(&T.ctrl->counters.faults);
}

/* The proof that the controller still serves: write, read back, compare
 * (guest memory and host file). */
static void normal_io(void)
{
	uint64_t slba = 64 + (seed % 32) * 8;
	tn_fill(&T, TN_DATA, 4096, seed++);
	memset(tn_ram(&T, TN_DATA + 0x10000, 4096), 0, 4096);
	ck_assert_uint_eq(tn_rw(&T, true, slba, 8, TN_DATA, 0).status, 0);
	ck_assert_uint_eq(tn_rw(&T, false, slba, 8, TN_DATA + 0x10000, 0).status, 0);
	ck_assert_int_eq(memcmp(tn_ram(&T, TN_DATA, 4096), tn_ram(&T, TN_DATA + 0x10000, 4096), 4096),
			 0);
	uint8_t buf[4096];
	ck_assert_int_eq(pread(T.fd, buf, 4096, (off_t)(slba * 512)), 4096);
	ck_assert_int_eq(memcmp(buf, tn_ram(&T, TN_DATA, 4096), 4096), 0);
}

static uint16_t submit_aer(void)
{
	struct nvme_sqe c = { .opcode = NVME_ADMIN_ASYNC_EVENT };
	return tn_submit(&T, &T.admin, &c);
}

START_TEST(test_nvme_doorbell_past_queue_size)
{
	uint16_t aer = submit_aer();
	test_vm_poll_io(T.vm, NULL, NULL);
	uint64_t f = faults();
	tn_wreg32(&T, NVME_REG_DOORBELLS + 2 * 4, TN_IO_SIZE + 5);   /* SQ 1 tail */
	struct tn_cqe ev;
	tn_wait(&T, &T.admin, 1, &ev);
	ck_assert_uint_eq(ev.cid, aer);
	ck_assert_uint_eq(ev.status, 0);
	/* Error event, Invalid Doorbell Write Value, Error Information log. */
	ck_assert_uint_eq(ev.dw0, NVME_AER_TYPE_ERROR | NVME_AER_INFO_INVALID_DB_VALUE << 8 |
				  NVME_LOG_ERROR << 16);
	ck_assert_uint_eq(faults(), f + 1);
	/* A CQ head past the completions posted is refused the same way. */
	tn_wreg32(&T, NVME_REG_DOORBELLS + 3 * 4, 7);
	test_vm_poll_io(T.vm, NULL, NULL);
	ck_assert_uint_eq(faults(), f + 2);
	/* The error log holds the event; reading it unmasks the event type. */
	struct nvme_sqe log = { .opcode = NVME_ADMIN_GET_LOG_PAGE, .prp1 = TN_SCRATCH,
				.cdw10 = NVME_LOG_ERROR | (16u - 1) << 16 };
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &log).status, 0);
	uint64_t count;
	memcpy(&count, tn_ram(&T, TN_SCRATCH, 8), 8);
	ck_assert_uint_ge(count, 2);
	normal_io();
}
END_TEST

START_TEST(test_nvme_doorbell_for_missing_queue)
{
	uint16_t aer = submit_aer();
	uint64_t f = faults();
	tn_wreg32(&T, NVME_REG_DOORBELLS + 2 * 3 * 4, 1);   /* SQ 3 was never created */
	struct tn_cqe ev;
	tn_wait(&T, &T.admin, 1, &ev);
	ck_assert_uint_eq(ev.cid, aer);
	ck_assert_uint_eq(ev.dw0, NVME_AER_TYPE_ERROR | NVME_AER_INFO_INVALID_DB_REGISTER << 8 |
				  NVME_LOG_ERROR << 16);
	/* Past every queue the controller could have: ignored, counted. */
	tn_wreg32(&T, 0x1ff8, 3);
	test_vm_poll_io(T.vm, NULL, NULL);
	ck_assert_uint_eq(faults(), f + 2);
	normal_io();
}
END_TEST

START_TEST(test_nvme_aer_limit)
{
	for (unsigned i = 0; i <= NVME_AERL; i++)
		submit_aer();
	struct nvme_sqe c = { .opcode = NVME_ADMIN_ASYNC_EVENT };
	struct tn_cqe r = tn_cmd(&T, &T.admin, &c);
	ck_assert_uint_eq(r.status, NVME_SC_AER_LIMIT);
	normal_io();
}
END_TEST

START_TEST(test_nvme_prp_outside_ram)
{
	uint64_t f = faults();
	ck_assert_uint_eq(tn_rw(&T, false, 0, 8, 0x7f0000000000ull, 0).status,
			  NVME_SC_DATA_TRANSFER_ERROR);
	/* PRP2 page outside RAM. */
	ck_assert_uint_eq(tn_rw(&T, true, 0, 16, TN_DATA, TN_RAM).status, NVME_SC_DATA_TRANSFER_ERROR);
	/* A list entry outside RAM. */
	uint64_t *list = tn_ram(&T, TN_PRP_LISTS, 16);
	list[0] = TN_DATA + 0x1000;
	list[1] = 0xfee00000ull;
	ck_assert_uint_eq(tn_rw(&T, false, 0, 24, TN_DATA, TN_PRP_LISTS).status,
			  NVME_SC_DATA_TRANSFER_ERROR);
	/* The PRP list itself outside RAM. */
	ck_assert_uint_eq(tn_rw(&T, false, 0, 24, TN_DATA, TN_RAM + 0x1000).status,
			  NVME_SC_DATA_TRANSFER_ERROR);
	ck_assert_uint_ge(faults(), f + 4);
	normal_io();
}
END_TEST

START_TEST(test_nvme_prp_list_loops_and_offsets)
{
	/* A list page whose chain pointer points back at itself. */
	uint64_t self = TN_PRP_LISTS + 0x1000 - 16;
	uint64_t *l = tn_ram(&T, self, 16);
	l[0] = TN_DATA + 0x1000;
	l[1] = self;
	ck_assert_uint_eq(tn_rw(&T, false, 0, 64, TN_DATA, self).status, NVME_SC_INVALID_FIELD);
	/* PRP2 as a data page must have offset 0. */
	ck_assert_uint_eq(tn_rw(&T, false, 0, 16, TN_DATA, TN_DATA + 0x1010).status,
			  NVME_SC_INVALID_PRP_OFFSET);
	/* PRP1 must be dword aligned. */
	ck_assert_uint_eq(tn_rw(&T, false, 0, 1, TN_DATA + 2, 0).status, NVME_SC_INVALID_PRP_OFFSET);
	/* A list entry with an offset. */
	uint64_t *list = tn_ram(&T, TN_PRP_LISTS, 16);
	list[0] = TN_DATA + 0x1000;
	list[1] = TN_DATA + 0x2200;
	ck_assert_uint_eq(tn_rw(&T, false, 0, 24, TN_DATA, TN_PRP_LISTS).status,
			  NVME_SC_INVALID_PRP_OFFSET);
	/* Past MDTS. */
	struct nvme_sqe big = { .opcode = NVME_IO_READ, .nsid = 1, .prp1 = TN_DATA,
				.prp2 = TN_PRP_LISTS, .cdw12 = 1024 };
	ck_assert_uint_eq(tn_cmd(&T, &T.io, &big).status, NVME_SC_INVALID_FIELD);
	normal_io();
}
END_TEST

START_TEST(test_nvme_lba_range_opcode_namespace)
{
	uint64_t nsze = TN_DISK_BYTES / 512;
	ck_assert_uint_eq(tn_rw(&T, false, nsze - 4, 8, TN_DATA, 0).status, NVME_SC_LBA_RANGE);
	ck_assert_uint_eq(tn_rw(&T, true, UINT64_MAX - 2, 8, TN_DATA, 0).status, NVME_SC_LBA_RANGE);
	struct nvme_sqe wz = { .opcode = NVME_IO_WRITE_ZEROES, .nsid = 1, .cdw10 = (uint32_t)nsze };
	ck_assert_uint_eq(tn_cmd(&T, &T.io, &wz).status, NVME_SC_LBA_RANGE);
	uint32_t *range = tn_ram(&T, TN_SCRATCH, 16);
	range[0] = 0;
	range[1] = 16;
	range[2] = (uint32_t)nsze - 8;
	range[3] = 0;
	struct nvme_sqe dsm = { .opcode = NVME_IO_DSM, .nsid = 1, .prp1 = TN_SCRATCH, .cdw11 = 4 };
	ck_assert_uint_eq(tn_cmd(&T, &T.io, &dsm).status, NVME_SC_LBA_RANGE);
	struct nvme_sqe bad = { .opcode = 0x7f, .nsid = 1 };
	ck_assert_uint_eq(tn_cmd(&T, &T.io, &bad).status, NVME_SC_INVALID_OPCODE);
	struct nvme_sqe bad_admin = { .opcode = 0xc5 };
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &bad_admin).status, NVME_SC_INVALID_OPCODE);
	struct nvme_sqe ns2 = { .opcode = NVME_IO_READ, .nsid = 2, .prp1 = TN_DATA };
	ck_assert_uint_eq(tn_cmd(&T, &T.io, &ns2).status, NVME_SC_INVALID_NAMESPACE);
	struct nvme_sqe ns0 = { .opcode = NVME_IO_WRITE, .nsid = 0, .prp1 = TN_DATA };
	ck_assert_uint_eq(tn_cmd(&T, &T.io, &ns0).status, NVME_SC_INVALID_NAMESPACE);
	struct nvme_sqe id_ns = { .opcode = NVME_ADMIN_IDENTIFY, .nsid = 7, .prp1 = TN_SCRATCH };
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &id_ns).status, NVME_SC_INVALID_NAMESPACE);
	normal_io();
}
END_TEST

START_TEST(test_nvme_bad_queue_commands)
{
	/* qid beyond the granted queues, too large, base outside RAM, missing
	 * CQ, PC=0, bad vector, deleting a CQ in use. */
	struct nvme_sqe c = { .opcode = NVME_ADMIN_CREATE_CQ, .prp1 = TN_DATA,
			      .cdw10 = 15u << 16 | 9, .cdw11 = 3 };
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &c).status, NVME_SC_QID_INVALID);
	c.cdw10 = (uint32_t)(NVME_MQES + 1) << 16 | 2;   /* MQES+2 entries: one too many */
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &c).status, NVME_SC_QUEUE_SIZE);
	c.prp1 = TN_RAM - 0x1000;                  /* 8 KiB: runs off the end of RAM */
	c.cdw10 = 511u << 16 | 2;
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &c).status, NVME_SC_INVALID_FIELD);
	c.prp1 = 0x7f0000000000ull;
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &c).status, NVME_SC_INVALID_FIELD);
	c.prp1 = TN_DATA;
	c.cdw11 = 2;                               /* PC=0 */
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &c).status, NVME_SC_INVALID_FIELD);
	c.cdw11 = 40u << 16 | 3;                   /* vector 40 of 5 */
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &c).status, NVME_SC_INVALID_VECTOR);
	struct nvme_sqe s = { .opcode = NVME_ADMIN_CREATE_SQ, .prp1 = TN_DATA,
			      .cdw10 = 15u << 16 | 2, .cdw11 = 3u << 16 | 1 };
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &s).status, NVME_SC_CQ_INVALID);
	s.cdw10 = 15u << 16 | 1;                   /* SQ 1 exists already */
	s.cdw11 = 1u << 16 | 1;
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &s).status, NVME_SC_QID_INVALID);
	struct nvme_sqe d = { .opcode = NVME_ADMIN_DELETE_CQ, .cdw10 = 1 };
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &d).status, NVME_SC_INVALID_QUEUE_DELETION);
	d.cdw10 = 0;
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &d).status, NVME_SC_QID_INVALID);
	struct nvme_sqe ds = { .opcode = NVME_ADMIN_DELETE_SQ, .cdw10 = 3 };
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &ds).status, NVME_SC_QID_INVALID);
	normal_io();
	/* A proper delete of both, then create again. */
	ds.cdw10 = 1;
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &ds).status, 0);
	d.cdw10 = 1;
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &d).status, 0);
	memset(tn_ram(&T, TN_IOCQ, 4096), 0, 4096);
	T.io = (struct tn_queue){ .qid = 1, .size = TN_IO_SIZE, .sq = TN_IOSQ, .cq = TN_IOCQ,
				  .phase = true };
	ck_assert_uint_eq(tn_create_io_queues(&T), 0);
	normal_io();
}
END_TEST

static bool not_ready(void *opaque)
{
	(void)opaque;
	return !(tn_reg32(&T, NVME_REG_CSTS) & NVME_CSTS_RDY);
}

START_TEST(test_nvme_disable_with_io_in_flight)
{
	/* Eight writes reach the block engine, then the guest clears CC.EN. */
	for (unsigned i = 0; i < 8; i++) {
		struct nvme_sqe c = { .opcode = NVME_IO_WRITE, .nsid = 1, .prp1 = TN_DATA + i * 4096ull,
				      .cdw10 = 8 * i, .cdw12 = 7 };
		tn_submit(&T, &T.io, &c);
	}
	ck_assert_int_ge(io_thread_poll_once(T.vm->io, false), 1);   /* fetch + submit */
	tn_wreg32(&T, NVME_REG_CC, 0);
	test_vm_poll_io(T.vm, not_ready, NULL);
	/* RDY dropped only once nothing of the old controller was in flight. */
	ck_assert_uint_eq(T.ctrl->engine_inflight, 0);
	ck_assert_uint_eq(tn_reg32(&T, NVME_REG_CSTS), 0);
	/* Whatever completions were posted before the reset, none came after:
	 * re-enable from scratch and serve I/O. */
	tn_reenable(&T);
	normal_io();
}
END_TEST

START_TEST(test_nvme_enable_with_bad_admin_queue)
{
	tn_teardown(&T);
	tn_setup(&T, "");
	uint64_t f = faults();
	tn_wreg32(&T, NVME_REG_AQA, 15u << 16 | 15u);
	test_vm_mmio_write64(T.vm, T.bar0 + NVME_REG_ASQ, 0x7f0000000000ull);
	test_vm_mmio_write64(T.vm, T.bar0 + NVME_REG_ACQ, TN_ACQ);
	tn_wreg32(&T, NVME_REG_CC, NVME_CC_EN | 6u << 16 | 4u << 20);
	test_vm_poll_io(T.vm, NULL, NULL);
	ck_assert_uint_eq(tn_reg32(&T, NVME_REG_CSTS) & 3, NVME_CSTS_CFS);
	ck_assert_uint_eq(faults(), f + 1);
	tn_wreg32(&T, NVME_REG_CC, 0);
	test_vm_poll_io(T.vm, NULL, NULL);
	ck_assert_uint_eq(tn_reg32(&T, NVME_REG_CSTS), 0);
	tn_enable(&T);
	ck_assert_uint_eq(tn_create_io_queues(&T), 0);
	normal_io();
}
END_TEST

START_TEST(test_nvme_bus_master_off_and_intx)
{
	/* With bus mastering off nothing is fetched; turning it on and ringing
	 * again serves the command. */
	test_vm_pci_config_write32(T.vm, T.slot, 4, PCI_COMMAND_MEMORY);
	tn_fill(&T, TN_DATA, 4096, 77);
	struct nvme_sqe c = { .opcode = NVME_IO_WRITE, .nsid = 1, .prp1 = TN_DATA, .cdw12 = 7 };
	tn_submit(&T, &T.io, &c);
	test_vm_poll_io(T.vm, NULL, NULL);
	ck_assert_uint_eq(T.ctrl->sqs[1]->head, 0);
	test_vm_pci_config_write32(T.vm, T.slot, 4, PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER);
	tn_wreg32(&T, NVME_REG_DOORBELLS + 8, T.io.sq_tail);
	struct tn_cqe r;
	tn_wait(&T, &T.io, 1, &r);
	ck_assert_uint_eq(r.status, 0);
	/* MSI-X off: INTx follows unread completions and INTMS. */
	struct pci_device *pci = nvme_ctrl_pci(T.ctrl);
	unsigned cap = pci->msix->cap_offset;
	uint32_t dw = test_vm_pci_config_read32(T.vm, T.slot, cap);
	test_vm_pci_config_write32(T.vm, T.slot, cap, dw & ~((uint32_t)PCI_MSIX_CTRL_ENABLE << 16));
	uint64_t irq0 = counter_get(&T.ctrl->counters.interrupts);
	ck_assert_uint_eq(tn_rw(&T, false, 0, 8, TN_DATA + 0x10000, 0).status, 0);
	ck_assert_uint_eq(counter_get(&T.ctrl->counters.interrupts), irq0 + 1);
	test_vm_poll_io(T.vm, NULL, NULL);
	ck_assert(!atomic_load(&pci->intx_asserted));   /* head doorbell consumed it */
	tn_wreg32(&T, NVME_REG_INTMS, 1);
	struct nvme_sqe rd = { .opcode = NVME_IO_READ, .nsid = 1, .prp1 = TN_DATA + 0x10000,
			       .cdw12 = 7 };
	tn_submit(&T, &T.io, &rd);
	test_vm_poll_io(T.vm, NULL, NULL);
	/* A completion is waiting, but INTMS masks the pin. */
	ck_assert_uint_eq(tn_reg32(&T, NVME_REG_INTMS), 1);
	ck_assert(!atomic_load(&pci->intx_asserted));
	tn_wreg32(&T, NVME_REG_INTMC, 1);
	ck_assert(atomic_load(&pci->intx_asserted));
	ck_assert(pci->intx_output);
	tn_wait(&T, &T.io, 1, &r);
	test_vm_poll_io(T.vm, NULL, NULL);
	ck_assert(!atomic_load(&pci->intx_asserted));
	ck_assert_int_eq(memcmp(tn_ram(&T, TN_DATA, 4096), tn_ram(&T, TN_DATA + 0x10000, 4096), 4096), 0);
}
END_TEST

static Suite *nvme_hostile_suite(void)
{
	Suite *s = suite_create("nvme_hostile");
	TCase *tc = tcase_create("hostile");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_nvme_doorbell_past_queue_size);
	tcase_add_test(tc, test_nvme_doorbell_for_missing_queue);
	tcase_add_test(tc, test_nvme_aer_limit);
	tcase_add_test(tc, test_nvme_prp_outside_ram);
	tcase_add_test(tc, test_nvme_prp_list_loops_and_offsets);
	tcase_add_test(tc, test_nvme_lba_range_opcode_namespace);
	tcase_add_test(tc, test_nvme_bad_queue_commands);
	tcase_add_test(tc, test_nvme_disable_with_io_in_flight);
	tcase_add_test(tc, test_nvme_enable_with_bad_admin_queue);
	tcase_add_test(tc, test_nvme_bus_master_off_and_intx);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(nvme_hostile_suite)
