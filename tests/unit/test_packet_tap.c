/* The tap back end carrying real frames through the kernel: a forked child
 * enters a network namespace of its own (so the host's interfaces are never
 * touched), opens tap:iovt0, brings it up, and exchanges frames with a packet
 * socket bound to the same interface, in both directions. Without the
 * privilege for that the test is skipped with the reason, except under
 * CI=true, where it must run. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/packet_engine.h"
#include "tests/test_registry.h"

#define TAP_NAME       "iovt0"
#define TAP_ETHERTYPE  0x88b5       /* local experimental: nothing else sends it */
#define TAP_FRAMES_IN  8
#define TAP_WAIT_MS    5000         /* a hang guard, not a speed check */
#define EXIT_SKIP      77

static void frame_fill(uint8_t *buf, size_t len, uint32_t seq)
{
	static const uint8_t hdr[12] = { 0x02, 0, 0, 0, 0, 0xaa, 0x02, 0, 0, 0, 0, 0xbb };
	memcpy(buf, hdr, sizeof(hdr));
	buf[12] = TAP_ETHERTYPE >> 8;
	buf[13] = TAP_ETHERTYPE & 0xff;
	buf[14] = (uint8_t)seq;
	for (size_t i = 15; i < len; i++)
		buf[i] = (uint8_t)(seq * 11 + i * 3);
}

/* The child's checks report on stderr and end it with a failing status, as
 * Check's assertions cannot cross the extra fork. */
#define CHILD_REQUIRE(cond, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "tap test: " __VA_ARGS__); \
		fputc('\n', stderr); \
		_exit(1); \
	} \
} while (0)

static int link_up(const char *name)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	int ret = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (ret == 0) {
		ifr.ifr_flags |= IFF_UP;
		ret = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
	return ret;
}

/* Keeps the kernel's own IPv6 chatter (router solicitations, MLD) off the
 * new interface; the ethertype filter below would cope anyway. */
static void quiet_ipv6(void)
{
	int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0)
			(void)0;
		close(fd);
	}
}

/* Waits for a frame of our ethertype on the port, skipping any other. */
static unsigned tap_receive_ours(struct packet_port *port, uint8_t *buf, size_t cap)
{
	struct iovec iov = { buf, cap };
	for (;;) {
		struct packet_frame in = { .iov = &iov, .iovcnt = 1 };
		if (packet_port_receive(port, &in, 1) == 1) {
			if (in.len >= 14 && buf[12] == (TAP_ETHERTYPE >> 8) && buf[13] == (TAP_ETHERTYPE & 0xff))
				return in.len;
			continue;
		}
		struct pollfd p = { .fd = packet_port_notify_fd(port), .events = POLLIN };
		if (poll(&p, 1, TAP_WAIT_MS) != 1)
			return 0;
	}
}

static void tap_child(void)
{
	if (unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr, "tap test skipped: unshare(CLONE_NEWNET): %s (needs CAP_SYS_ADMIN)\n",
			strerror(errno));
		_exit(EXIT_SKIP);
	}
	quiet_ipv6();
	char err[512];
	struct packet_port *port = packet_port_open("tap:" TAP_NAME, err, sizeof(err));
	if (port == NULL) {
		fprintf(stderr, "tap test skipped: %s\n", err);
		_exit(EXIT_SKIP);
	}
	CHILD_REQUIRE(link_up(TAP_NAME) == 0, "cannot bring %s up: %s", TAP_NAME, strerror(errno));
	int notify = packet_port_notify_fd(port);
	CHILD_REQUIRE(notify >= 0, "tap port has no notify fd");

	int ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(TAP_ETHERTYPE));
	CHILD_REQUIRE(ps >= 0, "packet socket: %s", strerror(errno));
	struct sockaddr_ll sll;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(TAP_ETHERTYPE);
	sll.sll_ifindex = (int)if_nametoindex(TAP_NAME);
	CHILD_REQUIRE(sll.sll_ifindex > 0, "no ifindex for %s", TAP_NAME);
	CHILD_REQUIRE(bind(ps, (struct sockaddr *)&sll, sizeof(sll)) == 0, "bind: %s", strerror(errno));

	/* Engine -> kernel: the frame arrives on the interface and the packet
	 * socket sees it, byte for byte. Two segments, as a descriptor chain. */
	uint8_t out[200], got[2048];
	frame_fill(out, sizeof(out), 0xa5);
	struct iovec seg[2] = { { out, 50 }, { out + 50, sizeof(out) - 50 } };
	struct packet_frame frame = { .iov = seg, .iovcnt = 2 };
	CHILD_REQUIRE(packet_port_send(port, &frame, 1) == 1, "send to the tap failed");
	struct pollfd p = { .fd = ps, .events = POLLIN };
	CHILD_REQUIRE(poll(&p, 1, TAP_WAIT_MS) == 1, "the packet socket saw no frame");
	ssize_t n = recv(ps, got, sizeof(got), 0);
	CHILD_REQUIRE(n == (ssize_t)sizeof(out), "packet socket got %zd bytes, want %zu", n, sizeof(out));
	CHILD_REQUIRE(memcmp(got, out, sizeof(out)) == 0, "frame changed on the way into the kernel");

	/* Kernel -> engine: frames sent out of the interface by the packet
	 * socket are read by the posted io_uring reads, and the notify fd fires. */
	bool seen[TAP_FRAMES_IN] = { false };
	for (unsigned i = 0; i < TAP_FRAMES_IN; i++) {
		uint8_t f[64 + 100];
		size_t len = 64 + i * 10;
		frame_fill(f, len, i);
		CHILD_REQUIRE(sendto(ps, f, len, 0, (struct sockaddr *)&sll, sizeof(sll)) == (ssize_t)len,
			      "packet socket send: %s", strerror(errno));
	}
	for (unsigned i = 0; i < TAP_FRAMES_IN; i++) {
		unsigned len = tap_receive_ours(port, got, sizeof(got));
		CHILD_REQUIRE(len > 0, "frame %u of %u never reached the tap port", i + 1, TAP_FRAMES_IN);
		unsigned seq = got[14];
		CHILD_REQUIRE(seq < TAP_FRAMES_IN && !seen[seq], "unexpected or repeated frame %u", seq);
		seen[seq] = true;
		uint8_t want[64 + 100];
		frame_fill(want, 64 + seq * 10, seq);
		CHILD_REQUIRE(len == 64 + seq * 10, "frame %u: %u bytes, want %u", seq, len, 64 + seq * 10);
		CHILD_REQUIRE(memcmp(got, want, len) == 0, "frame %u changed on the way out", seq);
	}
	struct packet_stats st;
	packet_port_get_stats(port, &st);
	CHILD_REQUIRE(st.tx_frames == 1 && st.tx_bytes == sizeof(out), "tx stats %lu frames %lu bytes",
		      (unsigned long)st.tx_frames, (unsigned long)st.tx_bytes);
	CHILD_REQUIRE(st.rx_frames >= TAP_FRAMES_IN, "rx stats %lu frames", (unsigned long)st.rx_frames);
	close(ps);
	packet_port_close(port);
	_exit(0);
}

START_TEST(test_tap_frames_both_ways_in_netns)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		tap_child();
	int status = 0;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "tap test child died (status %#x)", status);
	const char *ci = getenv("CI");
	if (WEXITSTATUS(status) == EXIT_SKIP) {
		ck_assert_msg(ci == NULL || strcmp(ci, "true") != 0,
			      "CI=true: the tap test must run here, but it could not (reason above)");
		return;
	}
	ck_assert_msg(WEXITSTATUS(status) == 0, "tap test failed in its namespace (reason above)");
}
END_TEST

/* Names the kernel would refuse are caught before any privilege is needed. */
START_TEST(test_tap_name_rules)
{
	char err[256];
	ck_assert_ptr_null(packet_port_open("tap:0123456789abcdef", err, sizeof(err)));
	ck_assert_msg(strstr(err, "at most 15") != NULL, "%s", err);
	ck_assert_ptr_null(packet_port_open("tap:..", err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a valid interface name") != NULL, "%s", err);
	ck_assert_ptr_null(packet_port_open("tap:with space", err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a valid interface name") != NULL, "%s", err);
}
END_TEST

static Suite *packet_tap_suite(void)
{
	Suite *s = suite_create("packet_tap");
	TCase *tc = tcase_create("tap");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_tap_frames_both_ways_in_netns);
	tcase_add_test(tc, test_tap_name_rules);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(packet_tap_suite)
