/* Boots build/guest.elf in QEMU (q35, TCG) by PVH and checks what the guest
 * prints and the exit code isa-debug-exit turns its status into
 * (status << 1 | 1). This is the same guest binary the benchmark runs under
 * QEMU, so it must keep booting there, not just under iovirt. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/abi.h"
#include "tests/test_registry.h"

#define GUEST_ELF "build/guest.elf"
#define QEMU "qemu-system-x86_64"
#define BANNER "iovirt test guest: booted via PVH\n"

/* isa-debug-exit's exit code for a guest status. */
#define QEMU_EXIT_CODE(status) (((status) << 1) | 1)

static char qemu_output[65536];

static bool program_in_path(const char *name)
{
	const char *path = getenv("PATH");
	if (!path)
		return false;
	char candidate[4096];
	while (*path) {
		size_t len = strcspn(path, ":");
		if (len > 0 && len < sizeof(candidate) - strlen(name) - 2) {
			snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)len, path, name);
			if (access(candidate, X_OK) == 0)
				return true;
		}
		path += len;
		if (*path == ':')
			path++;
	}
	return false;
}

/* False (after saying why) when QEMU is missing; under CI=true that fails. */
static bool qemu_available(const char *test_name)
{
	if (program_in_path(QEMU))
		return true;
	const char *ci = getenv("CI");
	ck_assert_msg(!(ci && strcmp(ci, "true") == 0),
		      "%s: %s not found in PATH and CI=true; install Debian's qemu-system-x86", test_name, QEMU);
	fprintf(stderr, "%s: skipped: %s not found in PATH (install qemu-system-x86 to run it)\n",
		test_name, QEMU);
	return false;
}

/* Runs the documented QEMU command for one guest command line. Output
 * (stdout and stderr) lands in qemu_output, truncated to fit. Returns the
 * exit status. */
static int run_guest_in_qemu(const char *cmdline)
{
	ck_assert_msg(access(GUEST_ELF, R_OK) == 0,
		      "%s not found: run the tests from the repository root after 'make %s'", GUEST_ELF, GUEST_ELF);
	const char *argv[] = {
		"timeout", "60", QEMU, "-machine", "q35", "-accel", "tcg", "-m", "256",
		"-kernel", GUEST_ELF, "-nographic", "-no-reboot", "-device", "isa-debug-exit",
		"-append", cmdline, NULL,
	};
	int pipefd[2];
	ck_assert_int_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(pipefd[1], STDOUT_FILENO) < 0 ||
		    dup2(pipefd[1], STDERR_FILENO) < 0)
			_exit(126);
		close(pipefd[0]);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	size_t used = 0;
	for (;;) {
		char chunk[4096];
		ssize_t n = read(pipefd[0], chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t keep = (size_t)n;
		if (keep > sizeof(qemu_output) - 1 - used)
			keep = sizeof(qemu_output) - 1 - used;
		memcpy(qemu_output + used, chunk, keep);
		used += keep;
	}
	qemu_output[used] = '\0';
	close(pipefd[0]);
	int wstatus;
	ck_assert_int_eq(waitpid(pid, &wstatus, 0), pid);
	ck_assert_msg(WIFEXITED(wstatus), "QEMU did not exit normally; output:\n%s", qemu_output);
	return WEXITSTATUS(wstatus);
}

/* The unsigned value of a "RESULT key=N" line, or -1 if absent. */
static long result_number(const char *key)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "\nRESULT %s=", key);
	const char *p = strstr(qemu_output, needle);
	if (!p)
		return -1;
	return strtol(p + strlen(needle), NULL, 10);
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
	FILE *f = fopen(GUEST_ELF, "rb");
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
	if (!qemu_available(__func__))
		return;
	int code = run_guest_in_qemu("iovirt.test=boot");
	ck_assert_msg(code == QEMU_EXIT_CODE(GUEST_STATUS_PASS), "exit code %d, want %d; output:\n%s", code,
		      QEMU_EXIT_CODE(GUEST_STATUS_PASS), qemu_output);
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
	ck_assert_int_eq(result_number("pci_functions"), (long)listed);
	ck_assert_int_eq(result_number("interrupts"), 0);
}
END_TEST

START_TEST(test_qemu_exception_reports_ud2)
{
	if (!qemu_available(__func__))
		return;
	int code = run_guest_in_qemu("iovirt.test=exception");
	ck_assert_msg(code == QEMU_EXIT_CODE(GUEST_STATUS_EXCEPTION), "exit code %d, want %d; output:\n%s", code,
		      QEMU_EXIT_CODE(GUEST_STATUS_EXCEPTION), qemu_output);
	ck_assert_ptr_nonnull(strstr(qemu_output, BANNER "cmdline: iovirt.test=exception\n"));
	const char *line = strstr(qemu_output, "\nEXCEPTION vector=6 error=0x0 rip=0x");
	ck_assert_msg(line != NULL, "EXCEPTION line missing; output:\n%s", qemu_output);
	ck_assert_ptr_nonnull(strstr(qemu_output, "\nRESULT status=exception\n"));
	ck_assert_int_eq(result_number("exception_vector"), 6);

	/* The reported rip must be the ud2 (0f 0b) in the image. */
	uint64_t rip = strtoull(line + strlen("\nEXCEPTION vector=6 error=0x0 rip=0x"), NULL, 16);
	uint8_t insn[2];
	ck_assert_msg(read_guest_image_bytes(rip, insn, sizeof(insn)),
		      "rip 0x%" PRIx64 " is not inside a loaded segment of %s", rip, GUEST_ELF);
	ck_assert_msg(insn[0] == 0x0f && insn[1] == 0x0b, "bytes at rip 0x%" PRIx64 " are %02x %02x, not ud2",
		      rip, insn[0], insn[1]);
}
END_TEST

START_TEST(test_qemu_unknown_test_is_bad_params)
{
	if (!qemu_available(__func__))
		return;
	int code = run_guest_in_qemu("iovirt.test=nosuch");
	ck_assert_msg(code == QEMU_EXIT_CODE(GUEST_STATUS_BAD_PARAMS), "exit code %d, want %d; output:\n%s", code,
		      QEMU_EXIT_CODE(GUEST_STATUS_BAD_PARAMS), qemu_output);
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
