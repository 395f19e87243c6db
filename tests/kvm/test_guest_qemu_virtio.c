/* The guest's virtio drivers against QEMU's virtio-blk-pci and virtio-net-pci
 * (q35, TCG): a disk run whose stamped blocks are then read from the host
 * image, and a network echo through a UDP socket netdev with a reflector in
 * this process (each datagram is one Ethernet frame; it goes back with the
 * MACs swapped). QEMU's devices are the reference the VMM's split back ends
 * are measured against, so the drivers must work with both. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/abi.h"
#include "tests/test_registry.h"

#define GUEST_ELF "build/guest.elf"
#define QEMU "qemu-system-x86_64"
#define QEMU_EXIT_CODE(status) (((status) << 1) | 1)

/* The disk workload's verify blocks (guest/test_disk.c): word 0 the LBA,
 * word 1 the run's seed, every other word (lba * DISK_FILL_MULTIPLIER) ^ seed. */
#define DISK_FILL_MULTIPLIER 0x9E3779B97F4A7C15ull
#define DISK_IO_BYTES    4096u
#define DISK_IMAGE_BYTES (4u << 20)
#define DISK_SPAN_BYTES  (512u << 10)
#define IMAGE_FILLER     0xEE

static char qemu_output[65536];

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

static bool qemu_available(const char *test_name)
{
	if (program_in_path(QEMU))
		return true;
	const char *ci = getenv("CI");
	ck_assert_msg(!(ci && strcmp(ci, "true") == 0),
		      "%s: %s not found in PATH and CI=true; install Debian's qemu-system-x86", test_name, QEMU);
	fprintf(stderr, "%s: skipped: %s not found in PATH (install qemu-system-x86 to run it)\n", test_name, QEMU);
	return false;
}

/* Echoes one datagram waiting on sock back to peer_port with the two MAC
 * addresses swapped. Returns 1 if one was echoed, 0 if none was waiting. */
static int reflect_one(int sock, uint16_t peer_port)
{
	uint8_t frame[2048];
	ssize_t n = recv(sock, frame, sizeof(frame), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	ck_assert_msg(n >= 14, "reflector: datagram of %zd bytes is not an Ethernet frame", n);
	uint8_t mac[6];
	memcpy(mac, frame, 6);
	memcpy(frame, frame + 6, 6);
	memcpy(frame + 6, mac, 6);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(peer_port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(sendto(sock, frame, (size_t)n, 0, (struct sockaddr *)&to, sizeof(to)), n);
	return 1;
}

/* Runs QEMU with the documented base command plus extra (NULL-terminated),
 * collecting its output; while it runs, datagrams on reflector_sock (if >= 0)
 * are echoed to reflector_peer_port. Returns the exit status; *echoed counts
 * the frames reflected. */
static int run_qemu(const char *const *extra, const char *cmdline, int reflector_sock,
		    uint16_t reflector_peer_port, unsigned *echoed)
{
	ck_assert_msg(access(GUEST_ELF, R_OK) == 0,
		      "%s not found: run the tests from the repository root after 'make %s'", GUEST_ELF, GUEST_ELF);
	const char *argv[64];
	unsigned argc = 0;
	const char *base[] = {
		"timeout", "60", QEMU, "-machine", "q35", "-accel", "tcg", "-m", "256",
		"-kernel", GUEST_ELF, "-nographic", "-no-reboot", "-device", "isa-debug-exit",
		"-net", "none", "-append", cmdline,
	};
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		argv[argc++] = base[i];
	for (size_t i = 0; extra[i]; i++) {
		ck_assert_uint_lt(argc, 63);
		argv[argc++] = extra[i];
	}
	argv[argc] = NULL;

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
		if (reflector_sock >= 0)
			close(reflector_sock);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	size_t used = 0;
	*echoed = 0;
	for (;;) {
		struct pollfd fds[2] = { { .fd = pipefd[0], .events = POLLIN }, { .fd = reflector_sock, .events = POLLIN } };
		int ready = poll(fds, reflector_sock >= 0 ? 2 : 1, -1);
		if (ready < 0 && errno == EINTR)
			continue;
		ck_assert_int_gt(ready, 0);
		if (reflector_sock >= 0 && (fds[1].revents & POLLIN))
			while (reflect_one(reflector_sock, reflector_peer_port))
				(*echoed)++;
		if (!(fds[0].revents & (POLLIN | POLLHUP)))
			continue;
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

/* The value of a "RESULT key=N" line (decimal, or hex with 0x), or -1 if
 * absent. */
static long long result_number(const char *key)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "\nRESULT %s=", key);
	const char *p = strstr(qemu_output, needle);
	return p ? (long long)strtoull(p + strlen(needle), NULL, 0) : -1;
}

static void assert_guest_passed(int code)
{
	ck_assert_msg(code == QEMU_EXIT_CODE(GUEST_STATUS_PASS), "exit code %d, want %d; output:\n%s", code,
		      QEMU_EXIT_CODE(GUEST_STATUS_PASS), qemu_output);
	ck_assert_msg(strstr(qemu_output, "\nRESULT status=pass\n") != NULL, "no pass line; output:\n%s", qemu_output);
}

/* A fresh image of DISK_IMAGE_BYTES filled with IMAGE_FILLER. */
static int make_disk_image(char *path, size_t cap)
{
	snprintf(path, cap, "/tmp/iovirt-virtio-blk-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	static uint8_t filler[DISK_IMAGE_BYTES];
	memset(filler, IMAGE_FILLER, sizeof(filler));
	ck_assert_int_eq(pwrite(fd, filler, sizeof(filler), 0), (ssize_t)sizeof(filler));
	return fd;
}

/* Every block of the span holds what the verify pattern wrote; everything
 * after it is still the filler. Compared in plain C and asserted once: each
 * Check assertion costs a system call. */
static void assert_image_stamped(int fd, uint64_t seed, uint64_t block_size)
{
	static uint8_t image[DISK_IMAGE_BYTES];
	ck_assert_int_eq(pread(fd, image, sizeof(image), 0), (ssize_t)sizeof(image));
	for (uint64_t lba = 0; lba < DISK_SPAN_BYTES / block_size; lba++) {
		for (uint64_t i = 0; i < block_size / 8; i++) {
			uint64_t word, want = i == 0 ? lba : i == 1 ? seed : (lba * DISK_FILL_MULTIPLIER) ^ seed;
			memcpy(&word, image + lba * block_size + i * 8, sizeof(word));
			if (word != want)
				ck_abort_msg("image block %" PRIu64 " word %" PRIu64 ": 0x%016" PRIx64 ", want 0x%016" PRIx64,
					     lba, i, word, want);
		}
	}
	for (size_t off = DISK_SPAN_BYTES; off < sizeof(image); off++)
		if (image[off] != IMAGE_FILLER)
			ck_abort_msg("image byte %zu beyond the span was changed to 0x%02x", off, image[off]);
}

/* The disk workload's verify pattern over virtio-blk-pci with these
 * properties: the guest checks what it reads back, the test checks the
 * image QEMU wrote. */
static void run_disk_case(const char *device_options, const char *guest_keys, bool polled)
{
	char image_path[64];
	int fd = make_disk_image(image_path, sizeof(image_path));
	char drive[128], device[192], cmdline[256];
	snprintf(drive, sizeof(drive), "file=%s,if=none,id=d,format=raw", image_path);
	snprintf(device, sizeof(device), "virtio-blk-pci,drive=d,%s", device_options);
	snprintf(cmdline, sizeof(cmdline),
		 "iovirt.test=disk iovirt.dev=virtio-blk iovirt.disk.pattern=verify iovirt.disk.bs=%u "
		 "iovirt.disk.span=%u %s", DISK_IO_BYTES, DISK_SPAN_BYTES, guest_keys);
	const char *extra[] = { "-drive", drive, "-device", device, NULL };
	unsigned echoed;
	int code = run_qemu(extra, cmdline, -1, 0, &echoed);
	/* Gone from /tmp whatever the checks say; fd still reads it. */
	unlink(image_path);
	assert_guest_passed(code);
	long long seed = result_number("disk_seed"), block_size = result_number("disk_block_size");
	ck_assert_msg(seed != -1 && block_size == 512, "disk_seed / disk_block_size missing; output:\n%s", qemu_output);
	assert_image_stamped(fd, (uint64_t)seed, (uint64_t)block_size);
	close(fd);

	/* Every block written once and read once, through the virtqueue. */
	long long ios = 2 * DISK_SPAN_BYTES / DISK_IO_BYTES;
	ck_assert_int_eq(result_number("ops"), ios);
	ck_assert_int_eq(result_number("errors"), 0);
	ck_assert_int_eq(result_number("verify_failures"), 0);
	/* One notification per kick at most, and the device asked for some. */
	long long notifications = result_number("notifications");
	ck_assert_int_ge(notifications, 1);
	ck_assert_int_le(notifications, ios);
	if (polled)
		ck_assert_int_eq(result_number("device_interrupts"), 0);
	else
		ck_assert_int_ge(result_number("device_interrupts"), 1);
}

START_TEST(test_qemu_virtio_blk_indirect_event_idx_msix)
{
	if (!qemu_available(__func__))
		return;
	run_disk_case("disable-legacy=on", "iovirt.disk.qd=8", false);
	ck_assert_ptr_nonnull(strstr(qemu_output, "indirect descriptors, event idx, MSI-X, flush"));
	/* The accepted feature set: VERSION_1, EVENT_IDX, INDIRECT_DESC,
	 * BLK_SIZE and FLUSH; nothing QEMU offers beyond what the driver uses. */
	ck_assert_msg(strstr(qemu_output, "accepted 0x130000240\n") != NULL, "features; output:\n%s", qemu_output);
}
END_TEST

START_TEST(test_qemu_virtio_blk_direct_chains_flags_polled)
{
	if (!qemu_available(__func__))
		return;
	/* Transitional ID (1af4:1001) with the ring features off: direct
	 * three-descriptor chains and the flag-based suppression. */
	run_disk_case("indirect_desc=off,event_idx=off", "iovirt.disk.qd=32 iovirt.io.mode=poll", true);
	ck_assert_ptr_nonnull(strstr(qemu_output, " 1af4:1001 class 010000\n"));
	ck_assert_ptr_nonnull(strstr(qemu_output, "direct chains, notify flags, polled, flush"));
}
END_TEST

/* A bound UDP socket on 127.0.0.1; its port in *port. */
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

static void run_net_case(const char *device_options, const char *guest_keys, unsigned frames)
{
	uint16_t reflector_port, qemu_port;
	int reflector = udp_socket_on_loopback(&reflector_port);
	/* A free port for QEMU's end: bound, noted and released just before
	 * QEMU binds it. */
	int probe = udp_socket_on_loopback(&qemu_port);
	close(probe);
	char netdev[128], device[192], cmdline[256];
	snprintf(netdev, sizeof(netdev), "socket,id=n,udp=127.0.0.1:%u,localaddr=127.0.0.1:%u", reflector_port,
		 qemu_port);
	snprintf(device, sizeof(device), "virtio-net-pci,netdev=n,romfile=,%s", device_options);
	snprintf(cmdline, sizeof(cmdline), "iovirt.test=nic iovirt.dev=virtio-net iovirt.nic.pattern=echo "
		 "iovirt.nic.count=%u %s", frames, guest_keys);
	const char *extra[] = { "-netdev", netdev, "-device", device, NULL };
	unsigned echoed;
	int code = run_qemu(extra, cmdline, reflector, qemu_port, &echoed);
	close(reflector);
	assert_guest_passed(code);
	/* Each frame went through the reflector once, plus the runner's
	 * untimed warm-up frame. */
	ck_assert_uint_eq(echoed, frames + 1);
	ck_assert_int_eq(result_number("ops"), frames);
	ck_assert_int_eq(result_number("errors"), 0);
	ck_assert_int_eq(result_number("verify_failures"), 0);
	ck_assert_int_eq(result_number("nic_stray_frames"), 0);
	/* At least one transmit notification per kick's batch; never more than
	 * a transmit and a receive refill per frame. */
	long long notifications = result_number("notifications");
	ck_assert_int_ge(notifications, 1);
	ck_assert_int_le(notifications, 2 * (long long)frames);
}

START_TEST(test_qemu_virtio_net_echo_mergeable_msix)
{
	if (!qemu_available(__func__))
		return;
	run_net_case("disable-legacy=on", "iovirt.nic.size=64 iovirt.nic.qd=8", 200);
	ck_assert_ptr_nonnull(strstr(qemu_output, "\nvirtio-net: mac 52:54:00:12:34:56, rx/tx queues 256/256, "
					       "mergeable rx buffers, event idx, MSI-X, link up\n"));
	ck_assert_int_ge(result_number("device_interrupts"), 1);
}
END_TEST

START_TEST(test_qemu_virtio_net_echo_full_frames_polled)
{
	if (!qemu_available(__func__))
		return;
	run_net_case("mrg_rxbuf=off,event_idx=off,indirect_desc=off", "iovirt.nic.size=1514 iovirt.io.mode=poll", 50);
	ck_assert_ptr_nonnull(strstr(qemu_output, "whole-frame rx buffers, notify flags, polled, link up\n"));
	ck_assert_int_eq(result_number("device_interrupts"), 0);
}
END_TEST

static Suite *guest_qemu_virtio_suite(void)
{
	Suite *s = suite_create("guest_qemu_virtio");
	TCase *tc = tcase_create("virtio");
	/* Each run is bounded by `timeout 60`; this only backs that up. */
	tcase_set_timeout(tc, 200);
	tcase_add_test(tc, test_qemu_virtio_blk_indirect_event_idx_msix);
	tcase_add_test(tc, test_qemu_virtio_blk_direct_chains_flags_polled);
	tcase_add_test(tc, test_qemu_virtio_net_echo_mergeable_msix);
	tcase_add_test(tc, test_qemu_virtio_net_echo_full_frames_polled);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(guest_qemu_virtio_suite)
