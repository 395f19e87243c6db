/* iovirt.cpl=3 on KVM: the built-in guest runs its workload's driver loop in
 * ring 3 (guest/usermode.c) and still gets every byte right; an exception
 * taken in ring 3 is reported with its vector and CPL. */
#include <stdio.h>
#include <string.h>

#include "tests/test_guest_boot.h"
#include "tests/test_registry.h"
#include "tests/test_util.h"

/* verify writes then reads the whole span, one 4 KiB I/O each. */
#define DISK_SIZE_BYTES (1u << 20)
#define VERIFY_OPS (2u * DISK_SIZE_BYTES / 4096u)

static char console_text[65536];

/* Runs the built-in guest with cmdline and at most one disk; the serial
 * output lands in console_text. */
static void run_guest(const char *cmdline, const char *disk, struct guest_run_outcome *outcome)
{
	test_boot_guest(cmdline, "disk", disk, outcome, console_text, sizeof(console_text));
}

static void check_verify_in_ring3(const char *disk, const char *device_line)
{
	struct guest_run_outcome o;
	run_guest("iovirt.test=disk iovirt.disk.pattern=verify iovirt.cpl=3", disk, &o);
	ck_assert_msg(o.guest_status == GUEST_STATUS_PASS, "status %d: %s; console:\n%s", o.guest_status,
		      o.results.message, console_text);
	const struct guest_workload_results *w = &o.results.workload;
	ck_assert_uint_eq(w->cpl, 3);
	ck_assert_uint_eq(w->ops, VERIFY_OPS);
	ck_assert_uint_eq(w->bytes, 2ull * DISK_SIZE_BYTES);
	ck_assert_uint_eq(w->errors, 0);
	ck_assert_uint_eq(w->verify_failures, 0);
	ck_assert_msg(strstr(console_text, "\nRESULT cpl=3\n") != NULL, "console:\n%s", console_text);
	ck_assert_msg(strstr(console_text, device_line) != NULL, "console:\n%s", console_text);
	/* The ring switches sit outside the phase markers: the VMM saw the phase. */
	ck_assert(o.have_phase);
}

START_TEST(test_usermode_verify_split_disk)
{
	REQUIRE_KVM();
	check_verify_in_ring3("model=split,size=1M", "\nRESULT device=virtio-blk\n");
}
END_TEST

START_TEST(test_usermode_verify_emulated_disk)
{
	REQUIRE_KVM();
	check_verify_in_ring3("model=emulated,size=1M", "\nRESULT device=nvme\n");
}
END_TEST

/* Without the key the loop stays in ring 0, and says so. */
START_TEST(test_usermode_default_is_ring0)
{
	REQUIRE_KVM();
	struct guest_run_outcome o;
	run_guest("iovirt.test=disk iovirt.disk.pattern=randread iovirt.disk.ops=20", "model=split,size=1M", &o);
	ck_assert_msg(o.guest_status == GUEST_STATUS_PASS, "%s; console:\n%s", o.results.message, console_text);
	ck_assert_uint_eq(o.results.workload.cpl, 0);
	ck_assert_uint_eq(o.results.workload.ops, 20);
	ck_assert_msg(strstr(console_text, "\nRESULT cpl=0\n") != NULL, "console:\n%s", console_text);
}
END_TEST

START_TEST(test_usermode_bad_cpl_is_bad_params)
{
	REQUIRE_KVM();
	struct guest_run_outcome o;
	run_guest("iovirt.test=disk iovirt.cpl=1", NULL, &o);
	ck_assert_int_eq(o.guest_status, GUEST_STATUS_BAD_PARAMS);
	ck_assert_msg(strstr(o.results.message, "iovirt.cpl must be 0") != NULL, "message: %s", o.results.message);
}
END_TEST

START_TEST(test_usermode_exception_reports_cpl3)
{
	REQUIRE_KVM();
	struct guest_run_outcome o;
	run_guest("iovirt.test=user-exception", NULL, &o);
	ck_assert_int_eq(o.guest_status, GUEST_STATUS_EXCEPTION);
	ck_assert_uint_eq(o.results.status, GUEST_STATUS_EXCEPTION);
	ck_assert_uint_eq(o.results.exception_vector, 6);   /* #UD from ud2 */
	ck_assert_uint_ge(o.results.exception_rip, 0x100000);
	ck_assert_msg(strstr(console_text, "user-exception: in ring 3, executing ud2\n") != NULL, "console:\n%s",
		      console_text);
	char line[96];
	snprintf(line, sizeof(line), "EXCEPTION vector=6 error=0x0 rip=0x%lx cpl=3\n",
		 (unsigned long)o.results.exception_rip);
	ck_assert_msg(strstr(console_text, line) != NULL, "want \"%s\" in console:\n%s", line, console_text);
	ck_assert_msg(strstr(o.results.message, "in ring 3") != NULL, "message: %s", o.results.message);
}
END_TEST

static Suite *guest_usermode_suite(void)
{
	Suite *s = suite_create("guest_usermode");
	TCase *tc = tcase_create("ring3");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_usermode_verify_split_disk);
	tcase_add_test(tc, test_usermode_verify_emulated_disk);
	tcase_add_test(tc, test_usermode_default_is_ring0);
	tcase_add_test(tc, test_usermode_bad_cpl_is_bad_params);
	tcase_add_test(tc, test_usermode_exception_reports_cpl3);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(guest_usermode_suite)
