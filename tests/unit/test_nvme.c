/* The emulated NVMe controller driven as a guest driver would: registers,
 * admin commands, I/O with each PRP form (data compared in guest memory and
 * in the host file), Write Zeroes, DSM, Flush, MSI-X per completion, shadow
 * doorbells and the doorbell exits each costs. */
#include <check.h>
#include <string.h>
#include <unistd.h>

#include "core/pci.h"
#include "tests/test_registry.h"
#include "tests/test_vm_fixture.h"
#include "tests/unit/test_nvme_guest.h"

static struct tn T;

static void setup_enabled(void)
{
	tn_setup_ready(&T);
}

static void teardown(void)
{
	tn_teardown(&T);
}

static void assert_file_bytes(uint64_t offset, uint64_t gpa, uint64_t len)
{
	static uint8_t buf[1 << 20];
	ck_assert_uint_le(len, sizeof(buf));
	ck_assert_int_eq(pread(T.fd, buf, len, (off_t)offset), (ssize_t)len);
	ck_assert_int_eq(memcmp(buf, tn_ram(&T, gpa, len), len), 0);
}

/* Copies the bytes a PRP1/PRP2 pair (no list) describes into out. */
static void gather(uint64_t prp1, uint64_t prp2, uint64_t len, uint8_t *out)
{
	uint64_t first = 4096 - (prp1 & 0xfff);
	if (first > len)
		first = len;
	memcpy(out, tn_ram(&T, prp1, first), first);
	if (len > first)
		memcpy(out + first, tn_ram(&T, prp2, len - first), len - first);
}

/* Writes nlb blocks described by PRP1/PRP2 at slba, reads them back through
 * other pages, compares guest memory and the host file. */
static void write_read_compare(uint64_t slba, uint64_t wgpa, uint64_t wprp2, uint64_t rgpa,
			       uint64_t rprp2, uint32_t nlb, uint32_t seed)
{
	static uint8_t wbuf[8192], rbuf[8192], fbuf[8192];
	uint64_t len = (uint64_t)nlb * 512;
	ck_assert_uint_le(len, sizeof(wbuf));
	tn_fill(&T, wgpa & ~0xfffull, 4096, seed);
	if (wprp2)
		tn_fill(&T, wprp2, 4096, seed + 7);
	memset(tn_ram(&T, rgpa & ~0xfffull, 4096), 0xee, 4096);
	if (rprp2)
		memset(tn_ram(&T, rprp2, 4096), 0xee, 4096);
	ck_assert_uint_eq(tn_rw(&T, true, slba, nlb, wgpa, wprp2).status, 0);
	ck_assert_uint_eq(tn_rw(&T, false, slba, nlb, rgpa, rprp2).status, 0);
	gather(wgpa, wprp2, len, wbuf);
	gather(rgpa, rprp2, len, rbuf);
	ck_assert_int_eq(memcmp(wbuf, rbuf, len), 0);
	ck_assert_int_eq(pread(T.fd, fbuf, len, (off_t)(slba * 512)), (ssize_t)len);
	ck_assert_int_eq(memcmp(wbuf, fbuf, len), 0);
}

START_TEST(test_nvme_registers_enable_disable)
{
	tn_setup(&T, "");
	uint64_t cap = test_vm_mmio_read64(T.vm, T.bar0 + NVME_REG_CAP);
	ck_assert_uint_eq(cap & 0xffff, NVME_MQES);
	ck_assert(cap & NVME_CAP_CQR);
	ck_assert_uint_eq((cap >> 32) & 0xf, 0);          /* DSTRD */
	ck_assert(cap & NVME_CAP_CSS_NVM);
	ck_assert_uint_eq((cap >> 48) & 0xff, 0);         /* MPSMIN = MPSMAX = 4 KiB */
	ck_assert_uint_eq(tn_reg32(&T, NVME_REG_VS), 0x00010400u);
	ck_assert_uint_eq(tn_reg32(&T, NVME_REG_CSTS), 0);
	uint32_t cls = test_vm_pci_config_read32(T.vm, T.slot, PCI_CFG_REVISION) >> 8;
	ck_assert_uint_eq(cls, 0x010802u);
	tn_enable(&T);
	ck_assert_uint_eq(tn_create_io_queues(&T), 0);
	/* Shutdown: SHST reaches complete. */
	tn_wreg32(&T, NVME_REG_CC, tn_reg32(&T, NVME_REG_CC) | 1u << 14);
	test_vm_poll_io(T.vm, NULL, NULL);
	ck_assert_uint_eq(tn_reg32(&T, NVME_REG_CSTS) & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_COMPLETE);
	/* Disable: RDY drops; enable again works with fresh queues. */
	tn_wreg32(&T, NVME_REG_CC, 0);
	test_vm_poll_io(T.vm, NULL, NULL);
	ck_assert_uint_eq(tn_reg32(&T, NVME_REG_CSTS) & NVME_CSTS_RDY, 0);
	tn_reenable(&T);
	write_read_compare(0, TN_DATA, 0, TN_DATA + 0x10000, 0, 8, 1);
	tn_teardown(&T);
}
END_TEST

START_TEST(test_nvme_identify)
{
	struct nvme_sqe c = { .opcode = NVME_ADMIN_IDENTIFY, .prp1 = TN_SCRATCH, .cdw10 = 1 };
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &c).status, 0);
	const uint8_t *id = tn_ram(&T, TN_SCRATCH, 4096);
	ck_assert_uint_eq(id[0] | id[1] << 8, 0x1b36);
	ck_assert_int_eq(memcmp(id + 24, "iovirt emulated NVMe", 20), 0);
	ck_assert_uint_eq(id[77], 7);                     /* MDTS: 512 KiB */
	ck_assert_uint_eq(id[256] | id[257] << 8, 1u << 8);  /* OACS: Doorbell Buffer Config */
	ck_assert_uint_eq(id[259], 3);                    /* AERL */
	ck_assert_uint_eq(id[512], 0x66);
	ck_assert_uint_eq(id[513], 0x44);
	ck_assert_uint_eq(id[516], 1);                    /* NN */
	ck_assert_uint_eq(id[520] & 0xc, 0xc);            /* ONCS: DSM, Write Zeroes */
	ck_assert_uint_eq(id[525] & 1, 1);                /* VWC */
	uint32_t vs;
	memcpy(&vs, id + 80, 4);
	ck_assert_uint_eq(vs, 0x00010400u);

	struct nvme_sqe ns = { .opcode = NVME_ADMIN_IDENTIFY, .nsid = 1, .prp1 = TN_SCRATCH,
			       .cdw10 = 0 };
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &ns).status, 0);
	uint64_t nsze;
	memcpy(&nsze, id, 8);
	ck_assert_uint_eq(nsze, TN_DISK_BYTES / 512);
	ck_assert_uint_eq(id[130], 9);                    /* LBAF0.LBADS: 512 bytes */

	struct nvme_sqe list = { .opcode = NVME_ADMIN_IDENTIFY, .prp1 = TN_SCRATCH, .cdw10 = 2 };
	memset(tn_ram(&T, TN_SCRATCH, 4096), 0xff, 4096);
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &list).status, 0);
	uint32_t first, second;
	memcpy(&first, id, 4);
	memcpy(&second, id + 4, 4);
	ck_assert_uint_eq(first, 1);
	ck_assert_uint_eq(second, 0);

	struct nvme_sqe feat = { .opcode = NVME_ADMIN_GET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES };
	struct tn_cqe r = tn_cmd(&T, &T.admin, &feat);
	ck_assert_uint_eq(r.status, 0);
	ck_assert_uint_eq(r.dw0, (NVME_DEFAULT_IO_QUEUES - 1) * 0x10001u);

	struct nvme_sqe smart = { .opcode = NVME_ADMIN_GET_LOG_PAGE, .prp1 = TN_SCRATCH,
				  .cdw10 = NVME_LOG_SMART | (128u - 1) << 16 };
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &smart).status, 0);
	ck_assert_uint_eq(id[3], 100);                    /* available spare */
}
END_TEST

START_TEST(test_nvme_prp1_only)
{
	write_read_compare(8, TN_DATA, 0, TN_DATA + 0x10000, 0, 8, 2);        /* one page */
	write_read_compare(40, TN_DATA + 0x200, 0, TN_DATA + 0x10600, 0, 1, 3); /* inside a page */
	ck_assert_uint_eq(tn_msix_count(&T, 1), 4);      /* one MSI-X per completion */
}
END_TEST

START_TEST(test_nvme_prp1_prp2)
{
	/* Two pages from page 0, and one page's worth starting mid-page. */
	write_read_compare(64, TN_DATA, TN_DATA + 0x5000, TN_DATA + 0x20000, TN_DATA + 0x30000, 16, 4);
	write_read_compare(100, TN_DATA + 0x800, TN_DATA + 0x7000, TN_DATA + 0x21a00,
			   TN_DATA + 0x31000, 8, 5);
}
END_TEST

START_TEST(test_nvme_prp_list)
{
	/* 64 KiB = 16 pages, scattered in reverse order through a PRP list. */
	uint64_t *list = tn_ram(&T, TN_PRP_LISTS, 4096);
	for (unsigned i = 1; i < 16; i++)
		list[i - 1] = TN_DATA + 0x100000 - i * 0x2000;
	uint64_t w[16], r[16];
	w[0] = TN_DATA + 0x100000;
	for (unsigned i = 1; i < 16; i++)
		w[i] = list[i - 1];
	tn_fill(&T, TN_DATA, 0x102000, 6);
	ck_assert_uint_eq(tn_rw(&T, true, 200, 128, w[0], TN_PRP_LISTS).status, 0);
	for (unsigned i = 0; i < 16; i++)
		assert_file_bytes(200 * 512 + i * 4096ull, w[i], 4096);

	/* Read back through a chained list: the first list page has room for
	 * two entries and a pointer to the next list page. */
	uint64_t chain = TN_PRP_LISTS + 0x2000 - 24;
	uint64_t *l1 = tn_ram(&T, chain, 24), *l2 = tn_ram(&T, TN_PRP_LISTS + 0x3000, 4096);
	r[0] = TN_DATA + 0x140000;
	for (unsigned i = 1; i < 16; i++)
		r[i] = TN_DATA + 0x140000 + i * 0x3000;
	l1[0] = r[1];
	l1[1] = r[2];
	l1[2] = TN_PRP_LISTS + 0x3000;
	for (unsigned i = 3; i < 16; i++)
		l2[i - 3] = r[i];
	ck_assert_uint_eq(tn_rw(&T, false, 200, 128, r[0], chain).status, 0);
	for (unsigned i = 0; i < 16; i++)
		ck_assert_int_eq(memcmp(tn_ram(&T, w[i], 4096), tn_ram(&T, r[i], 4096), 4096), 0);

	/* The largest transfer (MDTS, 512 KiB) through one list page. */
	uint64_t *big = tn_ram(&T, TN_PRP_LISTS + 0x5000, 4096);
	for (unsigned i = 1; i < 128; i++)
		big[i - 1] = TN_DATA + 0x400000 + i * 4096ull;
	tn_fill(&T, TN_DATA + 0x400000, 0x80000, 7);
	ck_assert_uint_eq(tn_rw(&T, true, 1024, 1024, TN_DATA + 0x400000, TN_PRP_LISTS + 0x5000).status,
			  0);
	assert_file_bytes(1024 * 512, TN_DATA + 0x400000, 0x80000);
}
END_TEST

START_TEST(test_nvme_write_zeroes_dsm_flush)
{
	/* 16 KiB of pattern at LBA 16 through a PRP list. */
	uint64_t *wl = tn_ram(&T, TN_PRP_LISTS, 24);
	for (unsigned i = 0; i < 3; i++)
		wl[i] = TN_DATA + 0x1000 * (i + 1);
	tn_fill(&T, TN_DATA, 0x4000, 8);
	ck_assert_uint_eq(tn_rw(&T, true, 16, 32, TN_DATA, TN_PRP_LISTS).status, 0);
	assert_file_bytes(16 * 512, TN_DATA, 0x4000);
	/* Write Zeroes over LBAs 16..23. */
	struct nvme_sqe wz = { .opcode = NVME_IO_WRITE_ZEROES, .nsid = 1, .cdw10 = 16, .cdw12 = 7 };
	ck_assert_uint_eq(tn_cmd(&T, &T.io, &wz).status, 0);
	/* DSM deallocate LBAs 32..39 (8 blocks = one 4 KiB page, hole-punchable). */
	uint32_t *range = tn_ram(&T, TN_SCRATCH, 16);
	range[0] = 0;
	range[1] = 8;
	range[2] = 32;
	range[3] = 0;
	struct nvme_sqe dsm = { .opcode = NVME_IO_DSM, .nsid = 1, .prp1 = TN_SCRATCH, .cdw10 = 0,
				.cdw11 = 1u << 2 };
	ck_assert_uint_eq(tn_cmd(&T, &T.io, &dsm).status, 0);
	struct nvme_sqe flush = { .opcode = NVME_IO_FLUSH, .nsid = 1 };
	ck_assert_uint_eq(tn_cmd(&T, &T.io, &flush).status, 0);

	memset(tn_ram(&T, TN_DATA + 0x40000, 32 * 512), 0xee, 32 * 512);
	ck_assert_uint_eq(tn_rw(&T, false, 16, 8, TN_DATA + 0x40000, 0).status, 0);
	ck_assert_uint_eq(tn_rw(&T, false, 32, 8, TN_DATA + 0x41000, 0).status, 0);
	ck_assert_uint_eq(tn_rw(&T, false, 24, 8, TN_DATA + 0x42000, 0).status, 0);
	static const uint8_t zeros[4096];
	ck_assert_int_eq(memcmp(tn_ram(&T, TN_DATA + 0x40000, 4096), zeros, 4096), 0);
	ck_assert_int_eq(memcmp(tn_ram(&T, TN_DATA + 0x41000, 4096), zeros, 4096), 0);
	/* LBAs 24..31 were neither zeroed nor deallocated: still the pattern. */
	ck_assert_int_eq(memcmp(tn_ram(&T, TN_DATA + 0x42000, 4096), tn_ram(&T, TN_DATA + 0x1000, 4096),
				4096), 0);
	assert_file_bytes(16 * 512, TN_DATA + 0x40000, 4096);
	assert_file_bytes(32 * 512, TN_DATA + 0x41000, 4096);
	struct device_counters *c = &T.ctrl->counters;
	ck_assert_uint_eq(counter_get(&c->bytes_written), 32 * 512);
	ck_assert_uint_eq(counter_get(&c->bytes_read), 3 * 4096);
	ck_assert_uint_eq(counter_get(&c->requests), 1 + 3 + 3);
}
END_TEST

/* QD1, one 4 KiB write per I/O: MMIO doorbell writes (each one a userspace
 * exit on real hardware) with and without shadow doorbells. */
static uint64_t exits_qd1(unsigned n)
{
	uint64_t db0 = nvme_ctrl_doorbell_writes(T.ctrl);
	uint64_t mmio0 = counter_get(&T.ctrl->counters.mmio_exits);
	for (unsigned i = 0; i < n; i++) {
		tn_fill(&T, TN_DATA, 4096, 100 + i);
		ck_assert_uint_eq(tn_rw(&T, true, 8ull * i, 8, TN_DATA, 0).status, 0);
		assert_file_bytes(8ull * i * 512, TN_DATA, 4096);
	}
	uint64_t db = nvme_ctrl_doorbell_writes(T.ctrl) - db0;
	ck_assert_uint_eq(counter_get(&T.ctrl->counters.mmio_exits) - mmio0, db);
	return db;
}

/* Batches of `batch` writes, the driver telling the device after each
 * command (as a driver without batching would), then one reap. */
static uint64_t exits_batched(unsigned batches, unsigned batch)
{
	uint64_t db0 = nvme_ctrl_doorbell_writes(T.ctrl);
	for (unsigned b = 0; b < batches; b++) {
		for (unsigned i = 0; i < batch; i++) {
			unsigned k = b * batch + i;
			tn_fill(&T, TN_DATA + k * 4096ull, 4096, 200 + k);
			struct nvme_sqe c = { .opcode = NVME_IO_WRITE, .nsid = 1,
					      .prp1 = TN_DATA + k * 4096ull, .cdw10 = 8 * k, .cdw12 = 7 };
			tn_submit(&T, &T.io, &c);
		}
		struct tn_cqe done[16];
		tn_wait(&T, &T.io, batch, done);
		for (unsigned i = 0; i < batch; i++)
			ck_assert_uint_eq(done[i].status, 0);
	}
	for (unsigned k = 0; k < batches * batch; k++)
		assert_file_bytes(8ull * k * 512, TN_DATA + k * 4096ull, 4096);
	return nvme_ctrl_doorbell_writes(T.ctrl) - db0;
}

START_TEST(test_nvme_exits_without_shadow)
{
	/* SQ tail + CQ head per I/O. */
	ck_assert_uint_eq(exits_qd1(16), 32);
	ck_assert_uint_eq(exits_batched(4, 8), 4 * (8 + 1));
	ck_assert_uint_eq(nvme_ctrl_shadow_reads(T.ctrl), 0);
}
END_TEST

START_TEST(test_nvme_exits_with_shadow)
{
	tn_teardown(&T);
	tn_setup(&T, "");
	tn_enable(&T);
	ck_assert_uint_eq(tn_doorbell_buffer_config(&T), 0);
	ck_assert_uint_eq(tn_create_io_queues(&T), 0);
	/* The device caught up after each I/O, so each new tail crosses the
	 * EventIdx (one exit); CQ heads never do: the device does not need them. */
	ck_assert_uint_eq(exits_qd1(16), 16);
	/* In a batch only the first command finds the device idle. */
	ck_assert_uint_eq(exits_batched(4, 8), 4);
	ck_assert_uint_gt(nvme_ctrl_shadow_reads(T.ctrl), 0);
	const uint32_t *ev = tn_ram(&T, TN_EVENTIDX, 16);
	ck_assert_uint_eq(ev[2], T.io.sq_tail);             /* SQ 1 EventIdx: tail processed */
}
END_TEST

START_TEST(test_nvme_shadow_off_refuses_dbbuf)
{
	tn_teardown(&T);
	tn_setup(&T, ",shadow=off");
	tn_enable(&T);
	ck_assert_uint_eq(tn_doorbell_buffer_config(&T), NVME_SC_INVALID_OPCODE);
	struct nvme_sqe c = { .opcode = NVME_ADMIN_IDENTIFY, .prp1 = TN_SCRATCH, .cdw10 = 1 };
	ck_assert_uint_eq(tn_cmd(&T, &T.admin, &c).status, 0);
	const uint8_t *id = tn_ram(&T, TN_SCRATCH, 4096);
	ck_assert_uint_eq(id[256] & 1, 0);
	ck_assert_uint_eq(id[257] & 1, 0);                 /* OACS bit 8 clear */
	ck_assert_uint_eq(tn_create_io_queues(&T), 0);
	write_read_compare(0, TN_DATA, 0, TN_DATA + 0x10000, 0, 8, 10);
}
END_TEST

START_TEST(test_nvme_unknown_option)
{
	struct vm *vm = test_vm_create(4 << 20);
	char err[512];
	ck_assert_ptr_null(test_vm_add_device(vm, "disk", "model=emulated,colour=red", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "no option 'colour'"));
	ck_assert_ptr_null(test_vm_add_device(vm, "disk", "model=emulated,queues=0", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "queues=0"));
	ck_assert_ptr_null(test_vm_add_device(vm, "disk", "model=emulated,shadow=maybe", err,
					      sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "shadow=on or shadow=off"));
	test_vm_destroy(vm);
}
END_TEST

static Suite *nvme_suite(void)
{
	Suite *s = suite_create("nvme");
	TCase *plain = tcase_create("plain");
	tcase_add_test(plain, test_nvme_registers_enable_disable);
	tcase_add_test(plain, test_nvme_unknown_option);
	suite_add_tcase(s, plain);
	TCase *tc = tcase_create("enabled");
	tcase_add_checked_fixture(tc, setup_enabled, teardown);
	tcase_add_test(tc, test_nvme_identify);
	tcase_add_test(tc, test_nvme_prp1_only);
	tcase_add_test(tc, test_nvme_prp1_prp2);
	tcase_add_test(tc, test_nvme_prp_list);
	tcase_add_test(tc, test_nvme_write_zeroes_dsm_flush);
	tcase_add_test(tc, test_nvme_exits_without_shadow);
	tcase_add_test(tc, test_nvme_exits_with_shadow);
	tcase_add_test(tc, test_nvme_shadow_off_refuses_dbbuf);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(nvme_suite)
