/* Config-space virtualization for pass-through, against a fake physical
 * config region (a byte array behind the ops table) on a real PCI root. */
#include <check.h>
#include <string.h>

#include "core/pci.h"
#include "core/pci_msix.h"
#include "passthrough/vfio_config.h"
#include "tests/test_registry.h"
#include "tests/test_vm_fixture.h"

struct fake_function {
	uint8_t config[256];
	unsigned writes;          /* write calls that reached the device */
	bool written[256];        /* bytes the guest's writes reached */
	bool fail_reads;
};

static int fake_read(void *opaque, unsigned offset, void *buf, unsigned len)
{
	struct fake_function *f = opaque;
	if (f->fail_reads || offset + len > 256)
		return -1;
	memcpy(buf, f->config + offset, len);
	return 0;
}

static int fake_write(void *opaque, unsigned offset, const void *buf, unsigned len)
{
	struct fake_function *f = opaque;
	if (offset + len > 256)
		return -1;
	memcpy(f->config + offset, buf, len);
	for (unsigned i = 0; i < len; i++)
		f->written[offset + i] = true;
	f->writes++;
	return 0;
}

static const struct vfio_config_ops fake_ops = { .read = fake_read, .write = fake_write };

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }

/* A NIC-like function: 16 KiB 64-bit BAR0 holding MSI-X (table at 0x2000,
 * PBA at 0x3000), a 64-byte PIO BAR2, and capabilities PM -> MSI -> MSI-X
 * -> vendor. Multi-function bit set, INTA. */
static void fake_init(struct fake_function *f)
{
	memset(f, 0, sizeof(*f));
	uint8_t *c = f->config;
	put16(c + 0x00, 0x8086);
	put16(c + 0x02, 0x10d3);
	put16(c + 0x06, PCI_STATUS_CAP_LIST);
	c[0x08] = 0x05;
	put16(c + 0x0a, 0x0200);          /* class 02 subclass 00 */
	c[0x0e] = 0x80;
	put32(c + 0x10, 0xfeb00004);      /* host addresses: never shown */
	put32(c + 0x14, 0x00000000);
	put32(c + 0x18, 0x0000c001);
	put16(c + 0x2c, 0x1af4);
	put16(c + 0x2e, 0x1100);
	put32(c + 0x30, 0xfea00000);
	c[0x34] = 0x40;
	c[0x3d] = PCI_INTX_A;
	c[0x40] = 0x01; c[0x41] = 0x50; put16(c + 0x42, 0x0003);       /* PM */
	c[0x50] = PCI_CAP_ID_MSI; c[0x51] = 0x70; put16(c + 0x52, 0x0080); /* MSI, 64-bit */
	put32(c + 0x54, 0xfee00000);
	c[0x70] = PCI_CAP_ID_MSIX; c[0x71] = 0x90; put16(c + 0x72, 3);  /* 4 vectors */
	put32(c + 0x74, 0x2000 | 0);
	put32(c + 0x78, 0x3000 | 0);
	c[0x90] = PCI_CAP_ID_VENDOR; c[0x91] = 0x00; c[0x92] = 8;
}

struct fixture {
	struct vm *vm;
	struct fake_function fake;
	struct vfio_config cfg;
	unsigned changed_calls;
	int slot;
};

static void count_changes(struct vfio_config *cfg, void *opaque)
{
	(void)cfg;
	((struct fixture *)opaque)->changed_calls++;
}

static void fixture_setup(struct fixture *fx)
{
	memset(fx, 0, sizeof(*fx));
	fx->vm = test_vm_create(4 << 20);
	fake_init(&fx->fake);
	ck_assert_int_eq(vfio_config_init(&fx->cfg, "fake", &fake_ops, &fx->fake, NULL), 0);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		bool pf;
		enum pci_bar_type t = vfio_config_bar_type(&fx->cfg, i, &pf);
		uint64_t size = i == 0 ? 0x4000 : 64;
		if (t != PCI_BAR_UNUSED && (i == 0 || i == 2))
			ck_assert_int_eq(pci_device_add_bar(&fx->cfg.pci, i, t, size, pf, NULL, NULL), 0);
	}
	ck_assert_int_eq(vfio_config_add_msix(&fx->cfg), 0);
	ck_assert_int_eq(pci_device_register(fx->vm->pci, &fx->cfg.pci, 3), 0);
	fx->slot = 3;
	vfio_config_attach(&fx->cfg, count_changes, fx);
	memset(fx->fake.written, 0, sizeof(fx->fake.written));
	fx->fake.writes = 0;
}

static void fixture_teardown(struct fixture *fx)
{
	pci_device_fini(&fx->cfg.pci);
	test_vm_destroy(fx->vm);
}

static uint32_t cfg_read(struct fixture *fx, unsigned offset)
{
	return test_vm_pci_config_read32(fx->vm, (unsigned)fx->slot, offset);
}

static void cfg_write(struct fixture *fx, unsigned offset, uint32_t value)
{
	test_vm_pci_config_write32(fx->vm, (unsigned)fx->slot, offset, value);
}

START_TEST(identity_comes_from_the_device)
{
	struct fixture fx;
	fixture_setup(&fx);
	ck_assert_uint_eq(cfg_read(&fx, 0x00), 0x10d38086u);
	ck_assert_uint_eq(cfg_read(&fx, 0x08), 0x02000005u);
	ck_assert_uint_eq(cfg_read(&fx, 0x2c), 0x11001af4u);
	/* Multi-function bit cleared: iovirt shows one function per slot. */
	ck_assert_uint_eq((cfg_read(&fx, 0x0c) >> 16) & 0xff, 0);
	/* INTA, with the line iovirt routed (not the host's). */
	ck_assert_uint_eq((cfg_read(&fx, 0x3c) >> 8) & 0xff, PCI_INTX_A);
	ck_assert_uint_eq(cfg_read(&fx, 0x3c) & 0xff, fx.cfg.pci.intx_gsi);
	fixture_teardown(&fx);
}
END_TEST

START_TEST(capability_chain_skips_msi)
{
	struct fixture fx;
	fixture_setup(&fx);
	ck_assert_uint_eq(cfg_read(&fx, 0x34) & 0xff, 0x40);
	ck_assert_uint_eq(cfg_read(&fx, 0x40) & 0xffff, 0x7001);    /* PM, next MSI-X */
	ck_assert_uint_eq(cfg_read(&fx, 0x70) & 0xffff, 0x9011);    /* MSI-X, next vendor */
	ck_assert_uint_eq(cfg_read(&fx, 0x90) & 0xffffff, 0x080009); /* vendor, end */
	ck_assert_uint_eq(cfg_read(&fx, 0x50), 0);                  /* MSI hidden */
	ck_assert_uint_eq(cfg_read(&fx, 0x54), 0);
	fixture_teardown(&fx);
}
END_TEST

START_TEST(bars_are_virtual_and_sizable)
{
	struct fixture fx;
	fixture_setup(&fx);
	uint32_t placed = cfg_read(&fx, 0x10);
	ck_assert_uint_eq(placed & 0xf, 0x4);                       /* 64-bit memory */
	ck_assert_uint_ne(placed & ~0xfu, 0xfeb00000u);             /* not the host's address */
	cfg_write(&fx, 0x10, 0xffffffff);
	cfg_write(&fx, 0x14, 0xffffffff);
	cfg_write(&fx, 0x18, 0xffffffff);
	ck_assert_uint_eq(cfg_read(&fx, 0x10), 0xffffc004u);
	ck_assert_uint_eq(cfg_read(&fx, 0x14), 0xffffffffu);
	ck_assert_uint_eq(cfg_read(&fx, 0x18), 0x0000ffc1u);
	ck_assert_uint_eq(cfg_read(&fx, 0x30), 0);                  /* no ROM shown */
	cfg_write(&fx, 0x30, 0xffffffff);
	ck_assert_uint_eq(cfg_read(&fx, 0x30), 0);
	for (unsigned i = 0x10; i < 0x34; i++)
		ck_assert_msg(!fx.fake.written[i], "BAR/ROM byte 0x%x reached the device", i);
	ck_assert_uint_eq(fx.fake.config[0x10], 0x04);              /* device's own BAR intact */
	ck_assert_uint_eq(fx.changed_calls, 3);                     /* three BAR writes */
	fixture_teardown(&fx);
}
END_TEST

START_TEST(command_is_emulated_and_forwarded)
{
	struct fixture fx;
	fixture_setup(&fx);
	cfg_write(&fx, 0x10, 0xd0000000);
	cfg_write(&fx, 0x14, 0);
	unsigned before = fx.changed_calls;
	cfg_write(&fx, 0x04, PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER | 0x0008 /* special cycles */);
	ck_assert_uint_eq(fx.changed_calls, before + 1);
	/* The device follows decode and mastering, not the bit iovirt keeps. */
	uint16_t dev_cmd = (uint16_t)(fx.fake.config[4] | fx.fake.config[5] << 8);
	ck_assert_uint_eq(dev_cmd, PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER);
	ck_assert_uint_eq(cfg_read(&fx, 0x04) & 0xffff, PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER);
	ck_assert(fx.cfg.pci.bars[0].mapped);
	ck_assert_uint_eq(fx.cfg.pci.bars[0].mapped_addr, 0xd0000000u);
	/* Status comes live from the device. */
	put16(fx.fake.config + 6, PCI_STATUS_CAP_LIST | 0x2000);
	ck_assert_uint_eq(cfg_read(&fx, 0x04) >> 16, PCI_STATUS_CAP_LIST | 0x2000);
	fixture_teardown(&fx);
}
END_TEST

START_TEST(msix_capability_is_emulated)
{
	struct fixture fx;
	fixture_setup(&fx);
	ck_assert_uint_eq(cfg_read(&fx, 0x70) >> 16, 3);            /* table size from the device */
	ck_assert_uint_eq(cfg_read(&fx, 0x74), 0x2000u);
	ck_assert_uint_eq(cfg_read(&fx, 0x78), 0x3000u);
	unsigned before = fx.changed_calls;
	cfg_write(&fx, 0x70, (uint32_t)PCI_MSIX_CTRL_ENABLE << 16);
	ck_assert(pci_msix_enabled(fx.cfg.pci.msix));
	ck_assert_uint_eq(fx.changed_calls, before + 1);
	ck_assert(!fx.fake.written[0x72] && !fx.fake.written[0x73]);
	ck_assert_uint_eq(fx.fake.config[0x73], 0);                 /* device's enable untouched */
	fixture_teardown(&fx);
}
END_TEST

START_TEST(other_registers_pass_through)
{
	struct fixture fx;
	fixture_setup(&fx);
	cfg_write(&fx, 0x94, 0xa5a55a5a);
	ck_assert_uint_eq(fx.fake.config[0x94], 0x5a);
	ck_assert_uint_eq(fx.fake.config[0x97], 0xa5);
	ck_assert_uint_eq(cfg_read(&fx, 0x94), 0xa5a55a5au);
	cfg_write(&fx, 0x44, 0x0003);                               /* PM control */
	ck_assert(fx.fake.written[0x44]);
	ck_assert_uint_eq(fx.fake.writes, 2);
	fixture_teardown(&fx);
}
END_TEST

START_TEST(failed_device_reads_give_all_ones)
{
	struct fixture fx;
	fixture_setup(&fx);
	fx.fake.fail_reads = true;
	ck_assert_uint_eq(cfg_read(&fx, 0x00), 0xffffffffu);
	ck_assert_uint_eq(fx.cfg.phys_errors, 1);
	/* Emulated bytes do not need the device. */
	ck_assert_uint_eq(cfg_read(&fx, 0x30), 0);
	ck_assert_uint_eq(fx.cfg.phys_errors, 1);
	fixture_teardown(&fx);
}
END_TEST

START_TEST(capability_loop_is_cut)
{
	struct fake_function f;
	fake_init(&f);
	f.config[0x41] = 0x40;        /* PM points at itself */
	struct vfio_config cfg;
	ck_assert_int_eq(vfio_config_init(&cfg, "loop", &fake_ops, &f, NULL), 0);
	ck_assert_uint_eq(cfg.pointer[0x34], 0x40);
	ck_assert_uint_eq(cfg.pointer[0x41], 0);
	ck_assert_uint_eq(cfg.msix_cap, 0);
	pci_device_fini(&cfg.pci);
}
END_TEST

START_TEST(absent_device_is_refused)
{
	struct fake_function f;
	fake_init(&f);
	memset(f.config, 0xff, sizeof(f.config));
	struct vfio_config cfg;
	ck_assert_int_eq(vfio_config_init(&cfg, "gone", &fake_ops, &f, NULL), -1);
	fake_init(&f);
	f.config[0x0e] = 0x01;        /* a bridge */
	ck_assert_int_eq(vfio_config_init(&cfg, "bridge", &fake_ops, &f, NULL), -1);
}
END_TEST

START_TEST(split_msix_layout_is_hidden)
{
	struct fake_function f;
	fake_init(&f);
	put32(f.config + 0x78, 0x0000 | 2);   /* PBA in BAR2 */
	struct vfio_config cfg;
	ck_assert_int_eq(vfio_config_init(&cfg, "split", &fake_ops, &f, NULL), 0);
	ck_assert_uint_eq(cfg.msix_cap, 0);
	ck_assert_uint_eq(cfg.pointer[0x41], 0x90);   /* PM -> vendor */
	ck_assert_int_eq(vfio_config_add_msix(&cfg), 1);
	pci_device_fini(&cfg.pci);
}
END_TEST

static Suite *vfio_config_suite(void)
{
	Suite *s = suite_create("vfio_config");
	TCase *tc = tcase_create("config");
	tcase_add_test(tc, identity_comes_from_the_device);
	tcase_add_test(tc, capability_chain_skips_msi);
	tcase_add_test(tc, bars_are_virtual_and_sizable);
	tcase_add_test(tc, command_is_emulated_and_forwarded);
	tcase_add_test(tc, msix_capability_is_emulated);
	tcase_add_test(tc, other_registers_pass_through);
	tcase_add_test(tc, failed_device_reads_give_all_ones);
	tcase_add_test(tc, capability_loop_is_cut);
	tcase_add_test(tc, absent_device_is_refused);
	tcase_add_test(tc, split_msix_layout_is_hidden);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(vfio_config_suite)
