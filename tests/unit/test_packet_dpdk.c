/* The DPDK back end on real DPDK ports: net_ring0, whose tx queue feeds its
 * own rx queue (one ring per queue pair when created with no options), so
 * what is sent comes back unchanged and in order. The EAL starts once per
 * process; each test closes its ports, so tests pass in any order and with
 * CK_FORK=no too. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/packet_engine.h"
#include "tests/test_registry.h"

#define RING_FRAMES 200

static void frame_fill(uint8_t *buf, size_t len, uint32_t seq)
{
	static const uint8_t hdr[14] = { 0x02, 0, 0, 0, 0, 0xaa, 0x02, 0, 0, 0, 0, 0xbb, 0x88, 0xb5 };
	memcpy(buf, hdr, sizeof(hdr));
	for (size_t i = sizeof(hdr); i < len; i++)
		buf[i] = (uint8_t)(seq * 31 + i * 7 + (i >> 8));
}

static uint32_t ring_frame_len(unsigned i)
{
	return 60 + (i * 97) % (1514 - 60 + 1);     /* spread over 60..1514 */
}

START_TEST(test_dpdk_net_ring_frames_round_trip)
{
	char err[512];
	struct packet_port *port = packet_port_open("dpdk:net_ring0", err, sizeof(err));
	ck_assert_msg(port != NULL, "%s", err);
	ck_assert_int_eq(packet_port_notify_fd(port), -1);    /* poll mode */

	static uint8_t tx[RING_FRAMES][1514], rx[RING_FRAMES][1514];
	struct iovec tx_iov[RING_FRAMES][2], rx_iov[RING_FRAMES][2];
	struct packet_frame out[RING_FRAMES], in[RING_FRAMES];
	uint64_t bytes = 0;
	for (unsigned i = 0; i < RING_FRAMES; i++) {
		uint32_t len = ring_frame_len(i);
		frame_fill(tx[i], len, i);
		tx_iov[i][0] = (struct iovec){ tx[i], 14 };
		tx_iov[i][1] = (struct iovec){ tx[i] + 14, len - 14 };
		out[i] = (struct packet_frame){ .iov = tx_iov[i], .iovcnt = 2 };
		rx_iov[i][0] = (struct iovec){ rx[i], 100 };
		rx_iov[i][1] = (struct iovec){ rx[i] + 100, sizeof(rx[i]) - 100 };
		in[i] = (struct packet_frame){ .iov = rx_iov[i], .iovcnt = 2 };
		bytes += len;
	}
	/* Uneven bursts, larger than the back end's internal burst of 32. */
	unsigned sent = 0;
	sent += packet_port_send(port, out, 1);
	sent += packet_port_send(port, out + 1, 70);
	sent += packet_port_send(port, out + 71, RING_FRAMES - 71);
	ck_assert_uint_eq(sent, RING_FRAMES);

	unsigned got = 0;
	for (unsigned tries = 0; got < RING_FRAMES && tries < 1000; tries++)
		got += packet_port_receive(port, in + got, RING_FRAMES - got);
	ck_assert_uint_eq(got, RING_FRAMES);
	for (unsigned i = 0; i < RING_FRAMES; i++) {
		ck_assert_uint_eq(in[i].len, ring_frame_len(i));
		ck_assert(!in[i].truncated);
		ck_assert_mem_eq(rx[i], tx[i], ring_frame_len(i));
	}
	ck_assert_uint_eq(packet_port_receive(port, in, 1), 0);

	struct packet_stats st;
	packet_port_get_stats(port, &st);
	ck_assert_uint_eq(st.tx_frames, RING_FRAMES);
	ck_assert_uint_eq(st.rx_frames, RING_FRAMES);
	ck_assert_uint_eq(st.tx_bytes, bytes);
	ck_assert_uint_eq(st.rx_bytes, bytes);
	ck_assert_uint_eq(st.tx_dropped + st.rx_dropped + st.tx_invalid, 0);
	packet_port_close(port);
}
END_TEST

/* Closing removes the virtual device, so the same name opens again, and two
 * ports on one device are refused. */
START_TEST(test_dpdk_reopen_and_double_open)
{
	char err[512];
	struct packet_port *a = packet_port_open("dpdk:net_ring1", err, sizeof(err));
	ck_assert_msg(a != NULL, "%s", err);
	struct packet_port *dup = packet_port_open("dpdk:net_ring1", err, sizeof(err));
	ck_assert_ptr_null(dup);
	ck_assert_msg(strstr(err, "already open") != NULL, "%s", err);
	packet_port_close(a);

	a = packet_port_open("dpdk:net_ring1", err, sizeof(err));
	ck_assert_msg(a != NULL, "reopen: %s", err);
	uint8_t frame[60], back[60];
	frame_fill(frame, sizeof(frame), 5);
	struct iovec v = { frame, sizeof(frame) }, r = { back, sizeof(back) };
	struct packet_frame out = { .iov = &v, .iovcnt = 1 }, in = { .iov = &r, .iovcnt = 1 };
	ck_assert_uint_eq(packet_port_send(a, &out, 1), 1);
	ck_assert_uint_eq(packet_port_receive(a, &in, 1), 1);
	ck_assert_mem_eq(back, frame, sizeof(frame));
	packet_port_close(a);
}
END_TEST

START_TEST(test_dpdk_bad_vdev_one_line_error)
{
	char err[512] = "";
	struct packet_port *port = packet_port_open("dpdk:net_nosuchdriver0", err, sizeof(err));
	ck_assert_ptr_null(port);
	ck_assert_msg(strstr(err, "net_nosuchdriver0") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "cannot create") != NULL, "%s", err);
	ck_assert_msg(strchr(err, '\n') == NULL, "several lines: %s", err);
	/* The EAL survives a failed device: a good one still opens. */
	port = packet_port_open("dpdk:net_ring2", err, sizeof(err));
	ck_assert_msg(port != NULL, "%s", err);
	packet_port_close(port);
}
END_TEST

static Suite *packet_dpdk_suite(void)
{
	Suite *s = suite_create("packet_dpdk");
	TCase *tc = tcase_create("net_ring");
	tcase_set_timeout(tc, 30);     /* EAL start is ~0.2 s, more on a loaded host */
	tcase_add_test(tc, test_dpdk_net_ring_frames_round_trip);
	tcase_add_test(tc, test_dpdk_reopen_and_double_open);
	tcase_add_test(tc, test_dpdk_bad_vdev_one_line_error);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(packet_dpdk_suite)
