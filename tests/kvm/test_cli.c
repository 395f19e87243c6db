/* The iovirt command on bad input: one clear line, a non-zero exit. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/cli.h"
#include "tests/test_registry.h"
#include "tests/test_util.h"

static char out[16384], err[16384];

#define RUN(empty_dev, ...) \
	test_run_iovirt((const char *const[]){ __VA_ARGS__, NULL }, empty_dev, out, sizeof(out), err, sizeof(err))

/* The whole complaint is one line on stderr containing `needle`. */
static void assert_one_line_error(int status, const char *needle)
{
	ck_assert_msg(status == CLI_EXIT_USAGE, "exit %d, stderr: %s", status, err);
	ck_assert_msg(test_count_lines(err) == 1, "expected one line, got: %s", err);
	ck_assert_msg(strstr(err, needle) != NULL, "'%s' not in: %s", needle, err);
}

START_TEST(test_cli_help_and_version)
{
	ck_assert_int_eq(RUN(false, "--help"), 0);
	ck_assert_ptr_nonnull(strstr(out, "iovirt run"));
	ck_assert_int_eq(RUN(false, "run", "--help"), 0);
	static const char *const run_options[] = { "--mem", "--cpus", "--kernel", "--cmdline",
						   "--console", "--disk", "--nic", "--device", "--timeout" };
	for (unsigned i = 0; i < sizeof(run_options) / sizeof(run_options[0]); i++)
		ck_assert_msg(strstr(out, run_options[i]) != NULL, "run --help lacks %s", run_options[i]);
	ck_assert_int_eq(RUN(false, "--version"), 0);
	ck_assert_ptr_nonnull(strstr(out, IOVIRT_VERSION));
	assert_one_line_error(RUN(false, "frobnicate"), "unknown command");
	assert_one_line_error(RUN(false, "run", "--bogus"), "--help");
	assert_one_line_error(RUN(false, "run", "stray"), "unexpected argument");
}
END_TEST

START_TEST(test_cli_bad_sizes_and_counts)
{
	assert_one_line_error(RUN(false, "run", "--mem", "lots"), "--mem");
	assert_one_line_error(RUN(false, "run", "--mem", "12Q"), "--mem");
	assert_one_line_error(RUN(false, "run", "--cpus", "0"), "--cpus");
	assert_one_line_error(RUN(false, "run", "--timeout", "-1"), "--timeout");
}
END_TEST

START_TEST(test_cli_mem_larger_than_host)
{
	REQUIRE_KVM();
	assert_one_line_error(RUN(false, "run", "--mem", "64T"), "more than this host");
	ck_assert_str_eq(out, ""); /* nothing started, so no guest output */
}
END_TEST

START_TEST(test_cli_vcpus_over_kvm_limit)
{
	REQUIRE_KVM();
	assert_one_line_error(RUN(false, "run", "--cpus", "5000"), "vCPUs");
}
END_TEST

START_TEST(test_cli_bad_kernels)
{
	REQUIRE_KVM();
	assert_one_line_error(RUN(false, "run", "--kernel", "/nonexistent/vmlinux"), "No such file");
	/* A text file and a host ELF without the PVH note. */
	assert_one_line_error(RUN(false, "run", "--kernel", "Makefile"), "not an ELF");
	assert_one_line_error(RUN(false, "run", "--kernel", "build/iovirt"), "PVH");
}
END_TEST

START_TEST(test_cli_bad_devices)
{
	assert_one_line_error(RUN(false, "run", "--disk", "model=bogus,path=x.img"), "unknown model 'bogus'");
	assert_one_line_error(RUN(false, "run", "--disk", "path=x.img"), "model=");
	assert_one_line_error(RUN(false, "run", "--nic", "model=split,,backend=loopback"), "empty option");
	assert_one_line_error(RUN(false, "run", "--device", "no-such-device"), "no back end");
}
END_TEST

START_TEST(test_cli_no_kvm)
{
	/* Runs the binary where /dev is empty: needs root for the mount namespace. */
	if (geteuid() != 0) {
		fprintf(stderr, "SKIP %s: needs root to hide /dev/kvm\n", __func__);
		return;
	}
	assert_one_line_error(RUN(true, "run"), "/dev/kvm does not exist");
}
END_TEST

START_TEST(test_cli_console_unwritable)
{
	REQUIRE_KVM();
	assert_one_line_error(RUN(false, "run", "--console", "/nonexistent/dir/console.txt"), "--console");
}
END_TEST

START_TEST(test_cli_failed_start_leaves_nothing)
{
	REQUIRE_KVM();
	char dir[64], console[96];
	test_make_temp_dir(dir, sizeof(dir));
	snprintf(console, sizeof(console), "%s/console.txt", dir);
	assert_one_line_error(RUN(false, "run", "--console", console, "--kernel", "Makefile"), "not an ELF");
	ck_assert_int_eq(test_dir_entries(dir), 0);
	/* A console file that was there before is the user's: kept. */
	FILE *f = fopen(console, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	assert_one_line_error(RUN(false, "run", "--console", console, "--kernel", "Makefile"), "not an ELF");
	ck_assert_int_eq(test_dir_entries(dir), 1);
	unlink(console);
	rmdir(dir);
}
END_TEST

START_TEST(test_cli_runs_builtin_guest)
{
	REQUIRE_KVM();
	ck_assert_msg(RUN(false, "run", "--mem", "64M", "--timeout", "60", "--stats") == 0, "stderr: %s", err);
	ck_assert_ptr_nonnull(strstr(out, "iovirt test guest: booted via PVH"));
	ck_assert_ptr_nonnull(strstr(err, "first guest instruction"));
	ck_assert_msg(RUN(false, "run", "--mem", "64M", "--timeout", "60", "--cmdline", "iovirt.test=exception")
		      == CLI_EXIT_GUEST_FAILED, "stderr: %s", err);
	ck_assert_ptr_nonnull(strstr(err, "exception"));
}
END_TEST

START_TEST(test_cli_triple_fault_is_fatal_with_registers)
{
	REQUIRE_KVM();
	int status = RUN(false, "run", "--mem", "64M", "--timeout", "60", "--cmdline", "iovirt.test=triplefault");
	ck_assert_msg(status == CLI_EXIT_VM_ERROR, "exit %d: %s", status, err);
	ck_assert_msg(strstr(err, "triple fault") != NULL, "stderr: %s", err);
	/* The register dump shows where it died: the IDT the guest emptied. */
	ck_assert_ptr_nonnull(strstr(err, "rip "));
	ck_assert_ptr_nonnull(strstr(err, "idt 0+0"));
}
END_TEST

static Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("binary");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_cli_help_and_version);
	tcase_add_test(tc, test_cli_bad_sizes_and_counts);
	tcase_add_test(tc, test_cli_mem_larger_than_host);
	tcase_add_test(tc, test_cli_vcpus_over_kvm_limit);
	tcase_add_test(tc, test_cli_bad_kernels);
	tcase_add_test(tc, test_cli_bad_devices);
	tcase_add_test(tc, test_cli_no_kvm);
	tcase_add_test(tc, test_cli_console_unwritable);
	tcase_add_test(tc, test_cli_failed_start_leaves_nothing);
	tcase_add_test(tc, test_cli_runs_builtin_guest);
	tcase_add_test(tc, test_cli_triple_fault_is_fatal_with_registers);
	suite_add_tcase(s, tc);
	return s;
}
TEST_SUITE_REGISTER(cli_suite)
