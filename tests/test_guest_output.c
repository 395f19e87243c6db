#include "tests/test_guest_output.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The multiplier of the verify pattern's fill word (guest/test_disk.c). */
#define DISK_FILL_MULTIPLIER 0x9E3779B97F4A7C15ull

long long test_result_number(const char *output, const char *key)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "\nRESULT %s=", key);
	const char *p = strstr(output, needle);
	return p ? (long long)strtoull(p + strlen(needle), NULL, 0) : -1;
}

int test_make_filled_image(char *path, size_t cap, uint64_t bytes, uint8_t filler)
{
	snprintf(path, cap, "/tmp/iovirt-disk-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_msg(fd >= 0, "mkstemp %s: %s", path, strerror(errno));
	uint8_t chunk[65536];
	memset(chunk, filler, sizeof(chunk));
	for (uint64_t off = 0; off < bytes;) {
		size_t len = bytes - off < sizeof(chunk) ? (size_t)(bytes - off) : sizeof(chunk);
		ck_assert_int_eq(pwrite(fd, chunk, len, (off_t)off), (ssize_t)len);
		off += len;
	}
	return fd;
}

/* Compared in plain C and asserted once per finding: each Check assertion
 * costs a system call, and an image has a million words. */
void test_assert_image_stamped(int fd, uint64_t image_bytes, uint64_t span, uint64_t block_size, uint64_t seed,
			       uint8_t filler)
{
	ck_assert_msg(block_size >= 16 && block_size % 8 == 0 && span % block_size == 0 && span <= image_bytes,
		      "image check: block size %" PRIu64 ", span %" PRIu64 ", image %" PRIu64 " do not fit", block_size,
		      span, image_bytes);
	uint8_t *image = malloc(image_bytes);
	ck_assert_ptr_nonnull(image);
	ck_assert_int_eq(pread(fd, image, image_bytes, 0), (ssize_t)image_bytes);
	for (uint64_t lba = 0; lba < span / block_size; lba++) {
		for (uint64_t i = 0; i < block_size / 8; i++) {
			uint64_t word, want = i == 0 ? lba : i == 1 ? seed : (lba * DISK_FILL_MULTIPLIER) ^ seed;
			memcpy(&word, image + lba * block_size + i * 8, sizeof(word));
			if (word != want) {
				free(image);
				ck_abort_msg("image block %" PRIu64 " word %" PRIu64 ": 0x%016" PRIx64 ", want 0x%016" PRIx64,
					     lba, i, word, want);
			}
		}
	}
	for (uint64_t off = span; off < image_bytes; off++) {
		if (image[off] != filler) {
			uint8_t found = image[off];
			free(image);
			ck_abort_msg("image byte %" PRIu64 " beyond the span was changed to 0x%02x (filler 0x%02x)", off,
				     found, filler);
		}
	}
	free(image);
}

static bool program_in_path(const char *name)
{
	const char *path = getenv("PATH");
	char candidate[4096];
	while (path && *path) {
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

bool test_qemu_available(const char *test_name)
{
	if (program_in_path(TEST_QEMU))
		return true;
	const char *ci = getenv("CI");
	ck_assert_msg(!(ci && strcmp(ci, "true") == 0),
		      "%s: %s not found in PATH and CI=true; install Debian's qemu-system-x86", test_name, TEST_QEMU);
	fprintf(stderr, "%s: skipped: %s not found in PATH (install qemu-system-x86 to run it)\n", test_name,
		TEST_QEMU);
	return false;
}

/* A UDP socket bound to a free port on 127.0.0.1; the port in *port. */
static int udp_socket_on_loopback(uint16_t *port)
{
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(sock, 0);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(bind(sock, (struct sockaddr *)&addr, sizeof(addr)), 0);
	socklen_t len = sizeof(addr);
	ck_assert_int_eq(getsockname(sock, (struct sockaddr *)&addr, &len), 0);
	*port = ntohs(addr.sin_port);
	return sock;
}

/* Sends one waiting datagram back where it came from with the MACs swapped.
 * Returns 1 if one was reflected, 0 if none was waiting. */
static int reflect_one(int sock, struct test_frame_reflector *r)
{
	uint8_t frame[2048];
	struct sockaddr_in from;
	socklen_t from_len = sizeof(from);
	ssize_t n = recvfrom(sock, frame, sizeof(frame), MSG_DONTWAIT, (struct sockaddr *)&from, &from_len);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	ck_assert_msg(n >= 14, "reflector: datagram of %zd bytes is not an Ethernet frame", n);
	uint8_t mac[6];
	memcpy(mac, frame, 6);
	memcpy(frame, frame + 6, 6);
	memcpy(frame + 6, mac, 6);
	r->frames++;
	if (r->frames == r->corrupt_frame && n > 40)
		frame[40] ^= 0x5A;
	ck_assert_int_eq(sendto(sock, frame, (size_t)n, 0, (struct sockaddr *)&from, from_len), n);
	return 1;
}

/* The runs need the guest built first, and the paths are relative. */
static void assert_guest_elf_built(void)
{
	ck_assert_msg(access(TEST_GUEST_ELF, R_OK) == 0,
		      "%s not found: run the tests from the repository root after 'make %s'", TEST_GUEST_ELF,
		      TEST_GUEST_ELF);
}

/* Runs argv with stdin from /dev/null and stdout and stderr into output,
 * reflecting frames on reflector_sock (when >= 0) while it runs. Returns the
 * exit status; asserts it exited normally. */
static int run_qemu(const char *const *argv, int reflector_sock, struct test_frame_reflector *reflector, char *output,
		    size_t cap)
{
	ck_assert_uint_gt(cap, 0);
	int pipefd[2];
	ck_assert_int_eq(pipe2(pipefd, O_CLOEXEC), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0 || dup2(pipefd[1], STDOUT_FILENO) < 0 ||
		    dup2(pipefd[1], STDERR_FILENO) < 0)
			_exit(126);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	size_t used = 0;
	for (;;) {
		struct pollfd fds[2] = { { .fd = pipefd[0], .events = POLLIN }, { .fd = reflector_sock, .events = POLLIN } };
		int ready = poll(fds, reflector_sock >= 0 ? 2 : 1, -1);
		if (ready < 0 && errno == EINTR)
			continue;
		ck_assert_int_gt(ready, 0);
		if (reflector_sock >= 0 && (fds[1].revents & POLLIN))
			while (reflect_one(reflector_sock, reflector))
				;
		if (!(fds[0].revents & (POLLIN | POLLHUP)))
			continue;
		char chunk[4096];
		ssize_t n = read(pipefd[0], chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t keep = (size_t)n;
		if (keep > cap - 1 - used)
			keep = cap - 1 - used;
		memcpy(output + used, chunk, keep);
		used += keep;
	}
	output[used] = '\0';
	close(pipefd[0]);
	if (reflector_sock >= 0)
		close(reflector_sock);
	int wstatus;
	ck_assert_int_eq(waitpid(pid, &wstatus, 0), pid);
	ck_assert_msg(WIFEXITED(wstatus), "QEMU did not exit normally; output:\n%s", output);
	return WEXITSTATUS(wstatus);
}

int test_run_qemu_command(const char *const *argv, char *output, size_t cap)
{
	assert_guest_elf_built();
	return run_qemu(argv, -1, NULL, output, cap);
}

int test_run_qemu_guest(const char *const *extra_args, const char *cmdline, struct test_frame_reflector *reflector,
			char *output, size_t cap)
{
	assert_guest_elf_built();
	const char *argv[64];
	size_t argc = 0;
	/* -nodefaults: no default NIC (q35's e1000e) and no VGA next to ours. */
	const char *base[] = { "timeout", "60", TEST_QEMU, "-machine", "q35", "-accel", "tcg", "-m", "256",
			       "-kernel", TEST_GUEST_ELF, "-display", "none", "-nodefaults", "-serial", "stdio",
			       "-no-reboot", "-device", "isa-debug-exit", "-append", cmdline };
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		argv[argc++] = base[i];

	int reflector_sock = -1;
	char netdev[128];
	if (reflector) {
		uint16_t reflector_port, qemu_port;
		reflector_sock = udp_socket_on_loopback(&reflector_port);
		/* QEMU's end: a port that was free a moment ago, released just
		 * before QEMU binds it. */
		int probe = udp_socket_on_loopback(&qemu_port);
		close(probe);
		snprintf(netdev, sizeof(netdev), "socket,id=n,udp=127.0.0.1:%u,localaddr=127.0.0.1:%u", reflector_port,
			 qemu_port);
		argv[argc++] = "-netdev";
		argv[argc++] = netdev;
		reflector->frames = 0;
	}
	for (size_t i = 0; extra_args[i]; i++) {
		ck_assert_uint_lt(argc, sizeof(argv) / sizeof(argv[0]) - 1);
		argv[argc++] = extra_args[i];
	}
	argv[argc] = NULL;

	return run_qemu(argv, reflector_sock, reflector, output, cap);
}
