/* Boots the built-in test guest on KVM and checks what it reports. */
#include <stdio.h>
#include <string.h>

#include "tests/test_guest_boot.h"
#include "tests/test_registry.h"
#include "tests/test_util.h"

static char console_text[65536];

/* Runs the built-in guest with cmdline and the given --device options; the
 * serial output lands in console_text. */
static void boot_guest(const char *cmdline, const char *device, struct guest_run_outcome *outcome)
{
	test_boot_guest(cmdline, "device", device, outcome, console_text, sizeof(console_text));
}

START_TEST(test_boot_banner_and_results)
{
	REQUIRE_KVM();
	struct guest_run_outcome o;
	boot_guest("iovirt.test=boot", NULL, &o);
	ck_assert_msg(strncmp(console_text, "iovirt test guest: booted via PVH\n", 34) == 0,
		      "banner missing; console:\n%s", console_text);
	ck_assert_ptr_nonnull(strstr(console_text, "cmdline: iovirt.test=boot\n"));
	ck_assert_int_eq(o.guest_status, GUEST_STATUS_PASS);
	ck_assert_uint_eq(o.results.status, GUEST_STATUS_PASS);
	/* The host bridge at 00:00.0 is always there, and its line is printed. */
	ck_assert_uint_ge(o.results.pci_functions, 1);
	ck_assert_ptr_nonnull(strstr(console_text, "PCI 00:00.0"));
	ck_assert_uint_gt(o.ns_to_first_insn, 0);
	ck_assert_uint_gt(o.ns_to_done, o.ns_to_first_insn);
	/* Serial output and PCI config cycles are port I/O: each one an exit. */
	ck_assert_uint_ge(o.totals.vcpu.pio_exits, strlen(console_text));
	/* Every exit to user space is first an exit KVM counts in the kernel. */
	if (o.totals.kernel.exits)
		ck_assert_uint_ge(o.totals.kernel.exits, o.totals.vcpu.exits);
	else
		fprintf(stderr, "NOTE %s: this kernel has no KVM binary stats\n", __func__);
}
END_TEST

START_TEST(test_boot_reports_deliberate_exception)
{
	REQUIRE_KVM();
	struct guest_run_outcome o;
	boot_guest("iovirt.test=exception", NULL, &o);
	ck_assert_int_eq(o.guest_status, GUEST_STATUS_EXCEPTION);
	ck_assert_uint_eq(o.results.status, GUEST_STATUS_EXCEPTION);
	ck_assert_uint_eq(o.results.exception_vector, 6); /* #UD from ud2 */
	ck_assert_uint_ge(o.results.exception_rip, 0x100000);
	ck_assert_msg(strstr(console_text, "EXCEPTION vector=6 ") != NULL, "console:\n%s", console_text);
}
END_TEST

START_TEST(test_boot_msix_round_trip)
{
	REQUIRE_KVM();
	struct guest_run_outcome o;
	boot_guest("iovirt.test=msix", "testdev", &o);
	ck_assert_msg(o.guest_status == GUEST_STATUS_PASS, "msix test: %s; console:\n%s",
		      o.results.message, console_text);
	ck_assert_uint_eq(o.totals.ndevices, 1);
	/* Every vector once, plus the masked one delivered again on unmask. */
	ck_assert_uint_eq(o.results.interrupts, TESTDEV_MSIX_VECTORS + 1);
	ck_assert_uint_eq(o.totals.devices[0].values.interrupts, TESTDEV_MSIX_VECTORS + 1);
	ck_assert_uint_gt(o.totals.devices[0].values.mmio_exits, 0);
}
END_TEST

START_TEST(test_boot_unknown_test_is_bad_params)
{
	REQUIRE_KVM();
	struct guest_run_outcome o;
	boot_guest("iovirt.test=no-such-test", NULL, &o);
	ck_assert_int_eq(o.guest_status, GUEST_STATUS_BAD_PARAMS);
}
END_TEST

static Suite *vm_boot_suite(void)
{
	Suite *s = suite_create("vm_boot");
	TCase *tc = tcase_create("kvm");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_boot_banner_and_results);
	tcase_add_test(tc, test_boot_reports_deliberate_exception);
	tcase_add_test(tc, test_boot_msix_round_trip);
	tcase_add_test(tc, test_boot_unknown_test_is_bad_params);
	suite_add_tcase(s, tc);
	return s;
}
TEST_SUITE_REGISTER(vm_boot_suite)
