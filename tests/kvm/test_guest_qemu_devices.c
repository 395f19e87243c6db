/* The guest's NVMe and e1000 drivers and its workload runner, checked against
 * QEMU's own nvme and e1000 devices (TCG): a device model we did not write.
 * Disk: the verify pattern through QEMU's nvme, then the host image is read
 * back and every block of the span must hold the stamp and fill the guest
 * documents (guest/test_disk.c). NIC: the echo pattern through QEMU's e1000
 * over a UDP socket netdev whose far end is a reflector thread here that
 * swaps the MAC addresses, as iovirt's loopback peer does; a reflector that
 * corrupts one frame must make the guest fail. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/abi.h"
#include "tests/test_registry.h"
#include "tests/test_util.h"

#define GUEST_ELF "build/guest.elf"
#define QEMU "qemu-system-x86_64"
#define QEMU_EXIT_CODE(status) (((status) << 1) | 1)

#define DISK_IMAGE_BYTES (1u << 20)
#define DISK_SPAN 262144u
#define DISK_BS 4096u

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
	fprintf(stderr, "%s: skipped: %s not found in PATH (install qemu-system-x86 to run it)\n", test_name, QEMU);
	return false;
}

/* Runs QEMU (q35, TCG) with the guest, extra device arguments and a guest
 * command line; output lands in qemu_output. Returns the exit status. */
static int run_qemu(const char *const *device_args, const char *cmdline)
{
	ck_assert_msg(access(GUEST_ELF, R_OK) == 0,
		      "%s not found: run the tests from the repository root after 'make %s'", GUEST_ELF, GUEST_ELF);
	const char *argv[40];
	size_t n = 0;
	/* -nodefaults: no default NIC (q35's e1000e) and no VGA next to ours. */
	const char *base[] = { "timeout", "60", QEMU, "-machine", "q35", "-accel", "tcg", "-m", "256",
			       "-kernel", GUEST_ELF, "-display", "none", "-nodefaults", "-serial", "stdio",
			       "-no-reboot", "-device", "isa-debug-exit" };
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		argv[n++] = base[i];
	for (size_t i = 0; device_args[i]; i++) {
		ck_assert_uint_lt(n, sizeof(argv) / sizeof(argv[0]) - 3);
		argv[n++] = device_args[i];
	}
	argv[n++] = "-append";
	argv[n++] = cmdline;
	argv[n] = NULL;

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
		ssize_t got = read(pipefd[0], chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		size_t keep = (size_t)got;
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

/* The value of a "RESULT key=N" line (decimal or 0x hex), or -1 if absent. */
static long long result_number(const char *key)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "\nRESULT %s=", key);
	const char *p = strstr(qemu_output, needle);
	if (!p)
		return -1;
	return (long long)strtoull(p + strlen(needle), NULL, 0);
}

static void assert_status(int code, enum guest_status want)
{
	int want_code = (int)QEMU_EXIT_CODE((unsigned)want);
	ck_assert_msg(code == want_code, "QEMU exit code %d, want %d; output:\n%s", code, want_code, qemu_output);
}

/* --- disk --- */

static void make_zero_image(char *path, size_t cap)
{
	char dir[256];
	test_make_temp_dir(dir, sizeof(dir));
	snprintf(path, cap, "%s/disk.img", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)DISK_IMAGE_BYTES), 0);
	close(fd);
}

static void remove_image(const char *path)
{
	unlink(path);
	char dir[512];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		rmdir(dir);
	}
}

static int run_disk(const char *image, const char *cmdline)
{
	char drive[512];
	snprintf(drive, sizeof(drive), "file=%s,if=none,id=d,format=raw", image);
	const char *args[] = { "-drive", drive, "-device", "nvme,drive=d,serial=iovirt0", NULL };
	return run_qemu(args, cmdline);
}

/* The block layout guest/test_disk.c documents: LBA, seed, fill words. */
static uint64_t disk_fill_word(uint64_t lba, uint64_t seed)
{
	return (lba * 0x9E3779B97F4A7C15ull) ^ seed;
}

START_TEST(test_qemu_nvme_verify_lands_on_the_image)
{
	if (!qemu_available(__func__))
		return;
	char image[300];
	make_zero_image(image, sizeof(image));
	char cmdline[256];
	snprintf(cmdline, sizeof(cmdline),
		 "iovirt.test=disk iovirt.dev=nvme iovirt.disk.pattern=verify iovirt.disk.span=%u iovirt.disk.bs=%u "
		 "iovirt.disk.qd=4",
		 DISK_SPAN, DISK_BS);
	int code = run_disk(image, cmdline);
	assert_status(code, GUEST_STATUS_PASS);
	ck_assert_ptr_nonnull(strstr(qemu_output, "\nRESULT device=nvme\n"));
	/* verify writes every bs slot of the span once and reads it once. */
	ck_assert_int_eq(result_number("ops"), 2 * DISK_SPAN / DISK_BS);
	ck_assert_int_eq(result_number("bytes"), 2LL * DISK_SPAN);
	ck_assert_int_eq(result_number("errors"), 0);
	ck_assert_int_eq(result_number("verify_failures"), 0);
	ck_assert_int_eq(result_number("device_interrupts") > 0, 1);
	ck_assert_int_eq(result_number("notifications") > 0, 1);
	ck_assert_int_eq(result_number("p50_cycles") > 0, 1);
	long long block = result_number("disk_block_size");
	long long seed_value = result_number("disk_seed");
	ck_assert_msg(block == 512 || block == 4096, "disk_block_size %lld; output:\n%s", block, qemu_output);
	ck_assert_msg(seed_value != -1 && seed_value != 0, "no disk_seed line; output:\n%s", qemu_output);
	uint64_t seed = (uint64_t)seed_value;

	/* Every block of the span holds its own LBA, the seed and the fill;
	 * the block after the span was never written. */
	int fd = open(image, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	static uint8_t data[DISK_SPAN + 4096];
	ck_assert_int_eq(pread(fd, data, sizeof(data), 0), (ssize_t)sizeof(data));
	close(fd);
	for (uint64_t lba = 0; lba < DISK_SPAN / (uint64_t)block; lba++) {
		const uint8_t *b = data + lba * (uint64_t)block;
		uint64_t stamp_lba, stamp_seed;
		memcpy(&stamp_lba, b, 8);
		memcpy(&stamp_seed, b + 8, 8);
		ck_assert_msg(stamp_lba == lba && stamp_seed == seed,
			      "block %llu holds stamp (%llu, 0x%llx), want (%llu, 0x%llx)", (unsigned long long)lba,
			      (unsigned long long)stamp_lba, (unsigned long long)stamp_seed, (unsigned long long)lba,
			      (unsigned long long)seed);
		uint64_t want = disk_fill_word(lba, seed);
		for (long long off = 16; off < block; off += 8) {
			uint64_t word;
			memcpy(&word, b + off, 8);
			ck_assert_msg(word == want, "block %llu offset %lld holds 0x%llx, want 0x%llx",
				      (unsigned long long)lba, off, (unsigned long long)word, (unsigned long long)want);
		}
	}
	for (size_t i = DISK_SPAN; i < sizeof(data); i++)
		ck_assert_msg(data[i] == 0, "byte %zu beyond the span was written", i);
	remove_image(image);
}
END_TEST

/* Random reads, polled, with shadow doorbells (QEMU's nvme offers Doorbell
 * Buffer Config): every block read carries the stamp the fill wrote. */
START_TEST(test_qemu_nvme_randread_polled_shadow_doorbells)
{
	if (!qemu_available(__func__))
		return;
	char image[300];
	make_zero_image(image, sizeof(image));
	int code = run_disk(image, "iovirt.test=disk iovirt.disk.pattern=randread iovirt.disk.span=262144 "
				   "iovirt.disk.qd=8 iovirt.disk.ops=300 iovirt.io.mode=poll iovirt.nvme.shadow=on");
	assert_status(code, GUEST_STATUS_PASS);
	ck_assert_ptr_nonnull(strstr(qemu_output, "shadow doorbells"));
	ck_assert_int_eq(result_number("ops"), 300);
	ck_assert_int_eq(result_number("errors"), 0);
	ck_assert_int_eq(result_number("verify_failures"), 0);
	ck_assert_int_eq(result_number("device_interrupts"), 0);
	/* At most a SQ and a CQ doorbell per I/O; the shadow skips some. */
	long long notifications = result_number("notifications");
	ck_assert_msg(notifications > 0 && notifications <= 600, "notifications=%lld", notifications);
	remove_image(image);
}
END_TEST

/* A transfer beyond QEMU's MDTS (512 KiB) is refused with a reason, not
 * sent as a malformed command. */
START_TEST(test_qemu_nvme_transfer_beyond_mdts_fails_cleanly)
{
	if (!qemu_available(__func__))
		return;
	char image[300];
	make_zero_image(image, sizeof(image));
	int code = run_disk(image, "iovirt.test=disk iovirt.disk.bs=1048576 iovirt.disk.span=1048576");
	assert_status(code, GUEST_STATUS_FAIL);
	ck_assert_ptr_nonnull(strstr(qemu_output, "\nRESULT message=disk: nvme refused a write of"));
	remove_image(image);
}
END_TEST

/* --- NIC --- */

struct reflector {
	int fd;
	atomic_bool stop;
	atomic_uint frames;
	unsigned corrupt_frame;   /* 1-based frame number to damage; 0: none */
	pthread_t thread;
};

/* Sends every datagram (one Ethernet frame) back with the MACs swapped. */
static void *reflector_main(void *arg)
{
	struct reflector *r = arg;
	uint8_t frame[2048];
	while (!atomic_load(&r->stop)) {
		struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		struct sockaddr_in from;
		socklen_t from_len = sizeof(from);
		ssize_t n = recvfrom(r->fd, frame, sizeof(frame), 0, (struct sockaddr *)&from, &from_len);
		if (n < 14)
			continue;
		uint8_t mac[6];
		memcpy(mac, frame, 6);
		memcpy(frame, frame + 6, 6);
		memcpy(frame + 6, mac, 6);
		unsigned count = atomic_fetch_add(&r->frames, 1) + 1;
		if (count == r->corrupt_frame && n > 40)
			frame[40] ^= 0x5A;
		(void)sendto(r->fd, frame, (size_t)n, 0, (struct sockaddr *)&from, from_len);
	}
	return NULL;
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.sin_port);
}

static int udp_socket_on_loopback(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static int run_nic(struct reflector *r, const char *cmdline)
{
	r->fd = udp_socket_on_loopback();
	atomic_store(&r->stop, false);
	atomic_store(&r->frames, 0);
	/* QEMU's end: a port that was free a moment ago. */
	int probe = udp_socket_on_loopback();
	uint16_t qemu_port = bound_port(probe);
	close(probe);
	ck_assert_int_eq(pthread_create(&r->thread, NULL, reflector_main, r), 0);
	char netdev[128];
	snprintf(netdev, sizeof(netdev), "socket,id=n,udp=127.0.0.1:%u,localaddr=127.0.0.1:%u", bound_port(r->fd),
		 qemu_port);
	const char *args[] = { "-netdev", netdev, "-device", "e1000,netdev=n", NULL };
	int code = run_qemu(args, cmdline);
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	close(r->fd);
	return code;
}

START_TEST(test_qemu_e1000_echo)
{
	if (!qemu_available(__func__))
		return;
	struct reflector r = { .corrupt_frame = 0 };
	int code = run_nic(&r, "iovirt.test=nic iovirt.dev=e1000 iovirt.nic.count=200 iovirt.nic.qd=4 "
			       "iovirt.nic.size=128");
	assert_status(code, GUEST_STATUS_PASS);
	ck_assert_ptr_nonnull(strstr(qemu_output, "\nRESULT device=e1000\n"));
	ck_assert_int_eq(result_number("ops"), 200);
	ck_assert_int_eq(result_number("bytes"), 200 * 128);
	ck_assert_int_eq(result_number("errors"), 0);
	ck_assert_int_eq(result_number("verify_failures"), 0);
	ck_assert_int_eq(result_number("nic_stray_frames"), 0);
	/* 200 timed frames and the untimed warm-up, each reflected once. */
	ck_assert_uint_eq(atomic_load(&r.frames), 201);
}
END_TEST

START_TEST(test_qemu_e1000_echo_catches_a_corrupted_frame)
{
	if (!qemu_available(__func__))
		return;
	struct reflector r = { .corrupt_frame = 10 };
	int code = run_nic(&r, "iovirt.test=nic iovirt.nic.count=50 iovirt.io.mode=poll");
	assert_status(code, GUEST_STATUS_FAIL);
	ck_assert_int_eq(result_number("verify_failures"), 1);
	ck_assert_int_eq(result_number("ops"), 50);
	ck_assert_ptr_nonnull(strstr(qemu_output, "\nRESULT message=nic: 1 frames came back wrong"));
}
END_TEST

static Suite *guest_qemu_devices_suite(void)
{
	Suite *s = suite_create("guest_qemu_devices");
	TCase *tc = tcase_create("qemu");
	/* Each run is bounded by `timeout 60`; this only backs that up. */
	tcase_set_timeout(tc, 200);
	tcase_add_test(tc, test_qemu_nvme_verify_lands_on_the_image);
	tcase_add_test(tc, test_qemu_nvme_randread_polled_shadow_doorbells);
	tcase_add_test(tc, test_qemu_nvme_transfer_beyond_mdts_fails_cleanly);
	tcase_add_test(tc, test_qemu_e1000_echo);
	tcase_add_test(tc, test_qemu_e1000_echo_catches_a_corrupted_frame);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(guest_qemu_devices_suite)
