/* The packet engine's front: back-end strings, frame validation and counting,
 * and the loopback reflector that is every NIC's default peer. */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/packet_engine.h"
#include "tests/test_registry.h"

static const uint8_t mac_a[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0xaa };
static const uint8_t mac_b[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0xbb };

/* dst, src, ethertype 0x88b5 (local experimental), then bytes that depend on
 * seq and position so a misplaced byte shows. */
static void frame_fill(uint8_t *buf, size_t len, uint32_t seq)
{
	memcpy(buf, mac_a, 6);
	memcpy(buf + 6, mac_b, 6);
	buf[12] = 0x88;
	buf[13] = 0xb5;
	for (size_t i = 14; i < len; i++)
		buf[i] = (uint8_t)(seq * 7 + i * 13);
}

static bool fd_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

START_TEST(test_reflector_echo_swaps_macs_all_sizes)
{
	char err[256];
	struct packet_port *port = packet_port_open("loopback", err, sizeof(err));
	ck_assert_msg(port != NULL, "%s", err);
	uint8_t tx[1514], rx[1514];
	uint64_t bytes = 0;
	unsigned frames = 0;
	for (uint32_t len = 60; len <= 1514; len++) {
		frame_fill(tx, len, len);
		/* Three segments on send, two on receive: both paths scatter. */
		struct iovec tx_iov[3] = {
			{ tx, 5 }, { tx + 5, 20 }, { tx + 25, len - 25 },
		};
		struct packet_frame out = { .iov = tx_iov, .iovcnt = 3 };
		ck_assert_uint_eq(packet_port_send(port, &out, 1), 1);
		memset(rx, 0, sizeof(rx));
		struct iovec rx_iov[2] = { { rx, 9 }, { rx + 9, sizeof(rx) - 9 } };
		struct packet_frame in = { .iov = rx_iov, .iovcnt = 2 };
		ck_assert_uint_eq(packet_port_receive(port, &in, 1), 1);
		ck_assert_uint_eq(in.len, len);
		ck_assert(!in.truncated);
		ck_assert_mem_eq(rx, mac_b, 6);
		ck_assert_mem_eq(rx + 6, mac_a, 6);
		ck_assert_mem_eq(rx + 12, tx + 12, len - 12);
		bytes += len;
		frames++;
	}
	struct packet_frame none = { .iov = NULL, .iovcnt = 0 };
	ck_assert_uint_eq(packet_port_receive(port, &none, 1), 0);
	struct packet_stats st;
	packet_port_get_stats(port, &st);
	ck_assert_uint_eq(st.tx_frames, frames);
	ck_assert_uint_eq(st.rx_frames, frames);
	ck_assert_uint_eq(st.tx_bytes, bytes);
	ck_assert_uint_eq(st.rx_bytes, bytes);
	ck_assert_uint_eq(st.tx_dropped + st.tx_invalid + st.rx_dropped + st.rx_truncated, 0);
	packet_port_close(port);
}
END_TEST

START_TEST(test_reflector_bounded_queue_counts_drops)
{
	enum { SENT = 300, DEPTH = 256 };
	char err[256];
	struct packet_port *port = packet_port_open(NULL, err, sizeof(err));   /* default */
	ck_assert_msg(port != NULL, "%s", err);
	ck_assert_str_eq(packet_port_backend(port), "loopback");
	int fd = packet_port_notify_fd(port);
	ck_assert_int_ge(fd, 0);
	ck_assert(!fd_readable(fd));

	static uint8_t tx[SENT][64];
	struct iovec iov[SENT];
	struct packet_frame frames[SENT];
	for (unsigned i = 0; i < SENT; i++) {
		frame_fill(tx[i], sizeof(tx[i]), i);
		iov[i] = (struct iovec){ tx[i], sizeof(tx[i]) };
		frames[i] = (struct packet_frame){ .iov = &iov[i], .iovcnt = 1 };
	}
	ck_assert_uint_eq(packet_port_send(port, frames, SENT), DEPTH);
	ck_assert(fd_readable(fd));

	static uint8_t rx[SENT][64];
	struct iovec rx_iov[SENT];
	struct packet_frame in[SENT];
	for (unsigned i = 0; i < SENT; i++) {
		rx_iov[i] = (struct iovec){ rx[i], sizeof(rx[i]) };
		in[i] = (struct packet_frame){ .iov = &rx_iov[i], .iovcnt = 1 };
	}
	/* Part of the queue first: the fd stays readable while frames wait. */
	ck_assert_uint_eq(packet_port_receive(port, in, 10), 10);
	ck_assert(fd_readable(fd));
	ck_assert_uint_eq(packet_port_receive(port, in + 10, SENT - 10), DEPTH - 10);
	/* Cleared by the receive that finds nothing, as a poll loop ends. */
	ck_assert_uint_eq(packet_port_receive(port, in, 1), 0);
	ck_assert(!fd_readable(fd));
	for (unsigned i = 0; i < DEPTH; i++) {
		ck_assert_uint_eq(in[i].len, 64);
		ck_assert_mem_eq(rx[i] + 12, tx[i] + 12, 64 - 12);   /* in order, first DEPTH kept */
	}
	struct packet_stats st;
	packet_port_get_stats(port, &st);
	ck_assert_uint_eq(st.tx_frames, DEPTH);
	ck_assert_uint_eq(st.tx_dropped, SENT - DEPTH);
	ck_assert_uint_eq(st.rx_frames, DEPTH);

	/* Room again after the drain; the next send makes the fd readable. */
	ck_assert_uint_eq(packet_port_send(port, frames, 1), 1);
	ck_assert(fd_readable(fd));
	/* A receiver that took that frame without finding the queue empty has
	 * not asked to be woken: the next send writes no notification. */
	ck_assert_uint_eq(packet_port_receive(port, in, 1), 1);
	ck_assert_uint_eq(packet_port_receive(port, in, 1), 0);
	ck_assert(!fd_readable(fd));
	ck_assert_uint_eq(packet_port_send(port, frames, 1), 1);
	ck_assert(fd_readable(fd));
	packet_port_close(port);
}
END_TEST

START_TEST(test_receive_into_small_buffer_truncates)
{
	char err[256];
	struct packet_port *port = packet_port_open("loopback", err, sizeof(err));
	ck_assert_msg(port != NULL, "%s", err);
	uint8_t tx[1000], rx[100 + 16];
	frame_fill(tx, sizeof(tx), 1);
	memset(rx, 0xee, sizeof(rx));
	struct iovec out_iov = { tx, sizeof(tx) }, in_iov = { rx, 100 };
	struct packet_frame out = { .iov = &out_iov, .iovcnt = 1 };
	struct packet_frame in = { .iov = &in_iov, .iovcnt = 1 };
	ck_assert_uint_eq(packet_port_send(port, &out, 1), 1);
	ck_assert_uint_eq(packet_port_receive(port, &in, 1), 1);
	ck_assert_uint_eq(in.len, 100);
	ck_assert(in.truncated);
	ck_assert_mem_eq(rx + 12, tx + 12, 100 - 12);
	for (unsigned i = 100; i < sizeof(rx); i++)
		ck_assert_uint_eq(rx[i], 0xee);                  /* nothing past the buffer */
	struct packet_stats st;
	packet_port_get_stats(port, &st);
	ck_assert_uint_eq(st.rx_truncated, 1);
	ck_assert_uint_eq(st.rx_bytes, 100);
	packet_port_close(port);
}
END_TEST

START_TEST(test_invalid_frames_dropped_rest_of_burst_sent)
{
	char err[256];
	struct packet_port *port = packet_port_open("loopback", err, sizeof(err));
	ck_assert_msg(port != NULL, "%s", err);
	static uint8_t big[PACKET_FRAME_MAX + 1];
	uint8_t ok1[60], ok2[80], runt[13];
	frame_fill(ok1, sizeof(ok1), 1);
	frame_fill(ok2, sizeof(ok2), 2);
	frame_fill(big, sizeof(big), 3);
	struct iovec v_ok1 = { ok1, sizeof(ok1) }, v_ok2 = { ok2, sizeof(ok2) };
	struct iovec v_runt = { runt, sizeof(runt) }, v_big = { big, sizeof(big) };
	/* Segments whose lengths wrap size_t when summed. */
	struct iovec v_wrap[2] = { { ok1, SIZE_MAX }, { ok1, 64 } };
	static struct iovec v_many[PACKET_FRAME_IOV_MAX + 1];
	for (unsigned i = 0; i < PACKET_FRAME_IOV_MAX + 1; i++)
		v_many[i] = (struct iovec){ ok1, 1 };
	struct packet_frame burst[] = {
		{ .iov = &v_ok1, .iovcnt = 1 },
		{ .iov = &v_runt, .iovcnt = 1 },
		{ .iov = &v_big, .iovcnt = 1 },
		{ .iov = v_wrap, .iovcnt = 2 },
		{ .iov = v_many, .iovcnt = PACKET_FRAME_IOV_MAX + 1 },
		{ .iov = NULL, .iovcnt = 3 },
		{ .iov = &v_ok2, .iovcnt = 1 },
	};
	ck_assert_uint_eq(packet_port_send(port, burst, 7), 2);
	struct packet_stats st;
	packet_port_get_stats(port, &st);
	ck_assert_uint_eq(st.tx_frames, 2);
	ck_assert_uint_eq(st.tx_invalid, 5);
	ck_assert_uint_eq(st.tx_bytes, sizeof(ok1) + sizeof(ok2));

	uint8_t rx[2][128];
	struct iovec rv[2] = { { rx[0], 128 }, { rx[1], 128 } };
	struct packet_frame in[2] = { { .iov = &rv[0], .iovcnt = 1 }, { .iov = &rv[1], .iovcnt = 1 } };
	ck_assert_uint_eq(packet_port_receive(port, in, 2), 2);
	ck_assert_uint_eq(in[0].len, sizeof(ok1));
	ck_assert_uint_eq(in[1].len, sizeof(ok2));
	ck_assert_mem_eq(rx[1] + 12, ok2 + 12, sizeof(ok2) - 12);
	packet_port_close(port);
}
END_TEST

/* Every refusal is one line naming what was wrong. */
static void assert_refused(const char *backend, const char *must_mention)
{
	char err[512] = "";
	struct packet_port *port = packet_port_open(backend, err, sizeof(err));
	ck_assert_msg(port == NULL, "'%s' was accepted", backend);
	ck_assert_msg(err[0] != '\0', "'%s': no message", backend);
	ck_assert_msg(strchr(err, '\n') == NULL, "'%s': message has several lines: %s", backend, err);
	ck_assert_msg(strstr(err, must_mention) != NULL, "'%s': message '%s' lacks '%s'",
		      backend, err, must_mention);
}

START_TEST(test_bad_backend_strings_refused)
{
	assert_refused("dpdk:", "needs a device");
	assert_refused("dpdk:,iface=lo", "needs a device");
	assert_refused("ftp:somewhere", "unknown NIC back end 'ftp:somewhere'");
	assert_refused("dpdk", "needs a device");
	assert_refused("loopback:x", "takes no argument");
	assert_refused("tap:", "needs an interface name");
	assert_refused("tap:averyveryverylongname", "at most 15");
	assert_refused("tap:a/b", "not a valid interface name");
	char huge[PACKET_BACKEND_MAX + 10];
	memset(huge, 'x', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	memcpy(huge, "tap:", 4);
	assert_refused(huge, "too long");
}
END_TEST

START_TEST(test_iov_helpers_bounds)
{
	uint8_t a[4] = { 1, 2, 3, 4 }, b[3] = { 5, 6, 7 }, out[8];
	struct iovec v[2] = { { a, 4 }, { b, 3 } };
	size_t len = 0;
	ck_assert(packet_iov_length(v, 2, 7, &len));
	ck_assert_uint_eq(len, 7);
	ck_assert(!packet_iov_length(v, 2, 6, &len));
	memset(out, 0, sizeof(out));
	ck_assert_uint_eq(packet_iov_gather(out, 5, v, 2), 5);
	ck_assert_mem_eq(out, ((uint8_t[]){ 1, 2, 3, 4, 5, 0 }), 6);
	const uint8_t src[8] = { 9, 8, 7, 6, 5, 4, 3, 2 };
	ck_assert_uint_eq(packet_iov_scatter(v, 2, src, 8), 7);   /* only 7 bytes of room */
	ck_assert_mem_eq(a, src, 4);
	ck_assert_mem_eq(b, src + 4, 3);
}
END_TEST

static Suite *packet_engine_suite(void)
{
	Suite *s = suite_create("packet_engine");
	TCase *tc = tcase_create("reflector");
	tcase_add_test(tc, test_reflector_echo_swaps_macs_all_sizes);
	tcase_add_test(tc, test_reflector_bounded_queue_counts_drops);
	tcase_add_test(tc, test_receive_into_small_buffer_truncates);
	tcase_add_test(tc, test_invalid_frames_dropped_rest_of_burst_sent);
	suite_add_tcase(s, tc);
	tc = tcase_create("backend_strings");
	tcase_add_test(tc, test_bad_backend_strings_refused);
	tcase_add_test(tc, test_iov_helpers_bounds);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(packet_engine_suite)
