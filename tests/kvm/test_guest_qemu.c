/* Boots build/guest.elf in QEMU (q35, TCG) by PVH and checks what the guest
 * prints and the exit code isa-debug-exit turns its status into
 * (status << 1 | 1). This is the same guest binary the benchmark runs under
 * QEMU, so it must keep booting there, not just under iovirt. */
#include <elf.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/abi.h"
#include "tests/test_guest_output.h"
#include "tests/test_registry.h"

#define BANNER "iovirt test guest: booted via PVH\n"

static char qemu_output[65536];

/* Runs the QEMU command README.md documents for one guest command line.
 * Output (stdout and stderr) lands in qemu_output, truncated to fit. Returns
 * the exit status. */
static int run_guest_in_qemu(const char *cmdline)
{
	const char *argv[] = {
		"timeout", "60", TEST_QEMU, "-machine", "q35", "-accel", "tcg", "-m", "256",
		"-kernel", TEST_GUEST_ELF, "-nographic", "-no-reboot", "-device", "isa-debug-exit",
		"-append", cmdline, NULL,
	};
	return test_run_qemu_command(argv, qemu_output, sizeof(qemu_output));
}

/* The value of a "RESULT key=N" line, or -1 if absent. */
static long long result_number(const char *key)
{
	return test_result_number(qemu_output, key);
}

static unsigned count_occurrences(const char *text, const char *needle)
{
	unsigned n = 0;
	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Reads len bytes the guest image places at physical address addr. */
static bool read_guest_image_bytes(uint64_t addr, uint8_t *out, size_t len)
{
	FILE *f = fopen(TEST_GUEST_ELF, "rb");
	if (!f)
		return false;
	bool ok = false;
	Elf64_Ehdr eh;
	if (fread(&eh, sizeof(eh), 1, f) == 1 && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
	    eh.e_ident[EI_CLASS] == ELFCLASS64) {
		for (unsigned i = 0; i < eh.e_phnum && !ok; i++) {
			Elf64_Phdr ph;
			if (fseek(f, (long)(eh.e_phoff + (uint64_t)i * eh.e_phentsize), SEEK_SET) != 0 ||
			    fread(&ph, sizeof(ph), 1, f) != 1)
				break;
			if (ph.p_type != PT_LOAD || addr < ph.p_paddr || addr - ph.p_paddr + len > ph.p_filesz)
				continue;
			ok = fseek(f, (long)(ph.p_offset + (addr - ph.p_paddr)), SEEK_SET) == 0 &&
			     fread(out, 1, len, f) == len;
		}
	}
	fclose(f);
	return ok;
}

START_TEST(test_qemu_boot_prints_banner_and_passes)
{
	if (!test_qemu_available(__func__))
		return;
	int code = run_guest_in_qemu("iovirt.test=boot");
	ck_assert_msg(code == TEST_QEMU_EXIT_CODE(GUEST_STATUS_PASS), "exit code %d, want %d; output:\n%s", code,
		      TEST_QEMU_EXIT_CODE(GUEST_STATUS_PASS), qemu_output);
	/* Firmware text may precede it on the same line; the guest's own
	 * output starts with the banner and the command line right after. */
	ck_assert_msg(strstr(qemu_output, BANNER "cmdline: iovirt.test=boot\n") != NULL,
		      "banner and cmdline lines missing; output:\n%s", qemu_output);
	ck_assert_ptr_nonnull(strstr(qemu_output, "\nRESULT test=boot\n"));
	ck_assert_ptr_nonnull(strstr(qemu_output, "\nRESULT status=pass\n"));
	/* q35's host bridge (the MCH) is always 00:00.0. */
	ck_assert_msg(strstr(qemu_output, "\nPCI 00:00.0 8086:29c0 class 060000\n") != NULL,
		      "q35 host bridge line missing; output:\n%s", qemu_output);
	/* The count it reports is the number of functions it listed. */
	unsigned listed = count_occurrences(qemu_output, "\nPCI 00:");
	ck_assert_uint_ge(listed, 1);
	ck_assert_int_eq(result_number("pci_functions"), (long long)listed);
	ck_assert_int_eq(result_number("interrupts"), 0);
}
END_TEST

START_TEST(test_qemu_exception_reports_ud2)
{
	if (!test_qemu_available(__func__))
		return;
	int code = run_guest_in_qemu("iovirt.test=exception");
	ck_assert_msg(code == TEST_QEMU_EXIT_CODE(GUEST_STATUS_EXCEPTION), "exit code %d, want %d; output:\n%s", code,
		      TEST_QEMU_EXIT_CODE(GUEST_STATUS_EXCEPTION), qemu_output);
	ck_assert_ptr_nonnull(strstr(qemu_output, BANNER "cmdline: iovirt.test=exception\n"));
	const char *line = strstr(qemu_output, "\nEXCEPTION vector=6 error=0x0 rip=0x");
	ck_assert_msg(line != NULL, "EXCEPTION line missing; output:\n%s", qemu_output);
	ck_assert_ptr_nonnull(strstr(qemu_output, "\nRESULT status=exception\n"));
	ck_assert_int_eq(result_number("exception_vector"), 6);

	/* The reported rip must be the ud2 (0f 0b) in the image. */
	uint64_t rip = strtoull(line + strlen("\nEXCEPTION vector=6 error=0x0 rip=0x"), NULL, 16);
	uint8_t insn[2];
	ck_assert_msg(read_guest_image_bytes(rip, insn, sizeof(insn)),
		      "rip 0x%" PRIx64 " is not inside a loaded segment of %s", rip, TEST_GUEST_ELF);
	ck_assert_msg(insn[0] == 0x0f && insn[1] == 0x0b, "bytes at rip 0x%" PRIx64 " are %02x %02x, not ud2",
		      rip, insn[0], insn[1]);
}
END_TEST

START_TEST(test_qemu_unknown_test_is_bad_params)
{
	if (!test_qemu_available(__func__))
		return;
	int code = run_guest_in_qemu("iovirt.test=nosuch");
	ck_assert_msg(code == TEST_QEMU_EXIT_CODE(GUEST_STATUS_BAD_PARAMS), "exit code %d, want %d; output:\n%s", code,
		      TEST_QEMU_EXIT_CODE(GUEST_STATUS_BAD_PARAMS), qemu_output);
	ck_assert_ptr_nonnull(strstr(qemu_output, "\nRESULT status=bad_params\n"));
	ck_assert_ptr_nonnull(strstr(qemu_output, "\nRESULT message=unknown test iovirt.test=nosuch;"));
}
END_TEST

static Suite *guest_qemu_suite(void)
{
	Suite *s = suite_create("guest_qemu");
	TCase *tc = tcase_create("pvh");
	/* Each run is bounded by `timeout 60`; this only backs that up. */
	tcase_set_timeout(tc, 200);
	tcase_add_test(tc, test_qemu_boot_prints_banner_and_passes);
	tcase_add_test(tc, test_qemu_exception_reports_ud2);
	tcase_add_test(tc, test_qemu_unknown_test_is_bad_params);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(guest_qemu_suite)
