/* Reading back what the built-in test guest did, wherever it ran: its
 * "RESULT key=value" console lines, the disk image its verify workload
 * stamped (layout in guest/test_disk.c), and the QEMU runner the tests that
 * check the guest against QEMU's own devices share, with a frame reflector
 * for QEMU's UDP socket netdev. */
#ifndef IOVIRT_TESTS_GUEST_OUTPUT_H
#define IOVIRT_TESTS_GUEST_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TEST_GUEST_ELF "build/guest.elf"
#define TEST_QEMU "qemu-system-x86_64"
/* isa-debug-exit's exit code for a guest status (enum guest_status). */
#define TEST_QEMU_EXIT_CODE(status) ((int)(((unsigned)(status) << 1) | 1u))

/* The value of output's "RESULT key=N" line (decimal, or hex with 0x), or -1
 * if there is none. */
long long test_result_number(const char *output, const char *key);

/* A fresh temporary image of bytes bytes, every one of them filler; its
 * path in path. Returns an open read-write fd; the caller unlinks path. */
int test_make_filled_image(char *path, size_t cap, uint64_t bytes, uint8_t filler);

/* Asserts that the image behind fd is what the guest's verify pattern with
 * this seed leaves: every block_size block of the first span bytes starts
 * with its LBA and the seed (8 bytes each, little endian) and the rest is the
 * fill word (lba * 0x9E3779B97F4A7C15) ^ seed repeated; every byte from span
 * to image_bytes is still filler. */
void test_assert_image_stamped(int fd, uint64_t image_bytes, uint64_t span, uint64_t block_size, uint64_t seed,
			       uint8_t filler);

/* True when QEMU is in PATH. Otherwise says why on stderr and returns false,
 * except under CI=true, where a missing QEMU fails the test. */
bool test_qemu_available(const char *test_name);

/* The far end of QEMU's UDP socket netdev: every frame (one datagram) goes
 * back with its destination and source MAC addresses swapped, as iovirt's
 * loopback back end does. */
struct test_frame_reflector {
	unsigned corrupt_frame;  /* in: 1-based frame whose byte 40 is flipped; 0: none */
	unsigned frames;         /* out: frames reflected */
};

/* Runs QEMU (q35, TCG, 256 MiB, no default devices) on the built-in guest
 * with the extra arguments (NULL-terminated) and the guest command line,
 * bounded by `timeout 60`. With a reflector, it also adds "-netdev
 * socket,id=n,..." whose far end is reflected here while QEMU runs: attach a
 * NIC with "-device MODEL,netdev=n". QEMU's stdout and stderr land in output
 * (NUL-terminated, truncated to cap). Returns QEMU's exit status. */
int test_run_qemu_guest(const char *const *extra_args, const char *cmdline, struct test_frame_reflector *reflector,
			char *output, size_t cap);

/* Runs a whole QEMU command line on the built-in guest as given (argv
 * NULL-terminated, argv[0] looked up in PATH), e.g. the one README.md
 * documents; output and return as test_run_qemu_guest. */
int test_run_qemu_command(const char *const *argv, char *output, size_t cap);

#endif
