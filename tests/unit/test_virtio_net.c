/* virtio-net (split model) against the loopback reflector: frames sent on
 * the transmit queue come back on the receive queue with their MACs
 * swapped, through the guest's own buffers. */
#include <check.h>
#include <string.h>

#include "core/device.h"
#include "split/virtio_spec.h"
#include "tests/test_registry.h"
#include "tests/test_vm_fixture.h"
#include "tests/unit/test_virtio_driver.h"

#define NET_RAM        (16ull << 20)
#define NET_QSIZE      16
#define NET_RX         0
#define NET_TX         1
#define NET_DEVICE_ID  (VIRTIO_PCI_DEVICE_ID_BASE + VIRTIO_ID_NET)

struct net_env {
	struct vm *vm;
	struct tvd d;
	struct device_counters *c;
	uint64_t tx_hdr, tx_frame;
};

static void net_env_open(struct net_env *e, uint64_t extra)
{
	memset(e, 0, sizeof(*e));
	e->vm = test_vm_create(NET_RAM);
	char err[256];
	void *state = test_vm_add_device(e->vm, "nic", "model=split,mac=52:54:00:aa:bb:cc", err,
					 sizeof(err));
	ck_assert_msg(state != NULL, "%s", err);
	e->c = device_model_find("nic", "split")->stats(state);
	tvd_open(&e->d, e->vm, NET_DEVICE_ID, 0, e->c, 1u << 20);
	uint64_t offered = tvd_device_features(&e->d);
	uint64_t want = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_NET_F_MAC) |
			VIRTIO_BIT(VIRTIO_NET_F_STATUS) | extra;
	ck_assert_uint_eq(offered & want, want);
	ck_assert(tvd_negotiate(&e->d, want) & VIRTIO_STATUS_FEATURES_OK);
	tvd_enable_msix(&e->d, 2);
	ck_assert(tvd_setup_queue(&e->d, NET_RX, NET_QSIZE));
	ck_assert(tvd_setup_queue(&e->d, NET_TX, NET_QSIZE));
	tvd_driver_ok(&e->d);
	e->tx_hdr = tvd_alloc(&e->d, VIRTIO_NET_HDR_SIZE, 16);
	e->tx_frame = tvd_alloc(&e->d, 2048, 64);
}

static const uint8_t mac_guest[6] = { 0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc };
static const uint8_t mac_peer[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

/* Builds a frame to the peer and posts it (header and frame apart). */
static void net_send(struct net_env *e, uint32_t len, unsigned seed)
{
	uint8_t *f = test_vm_ram(e->vm, e->tx_frame, len);
	memcpy(f, mac_peer, 6);
	memcpy(f + 6, mac_guest, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	for (uint32_t i = 14; i < len; i++)
		f[i] = (uint8_t)(i + seed);
	memset(test_vm_ram(e->vm, e->tx_hdr, VIRTIO_NET_HDR_SIZE), 0, VIRTIO_NET_HDR_SIZE);
	struct tvd_buf bufs[] = { { e->tx_hdr, VIRTIO_NET_HDR_SIZE, false }, { e->tx_frame, len, false } };
	tvd_post(&e->d, NET_TX, bufs, 2);
	tvd_kick(&e->d, NET_TX);
}

/* The reflected frame: MACs swapped, the rest identical. */
static void net_check_echo(struct net_env *e, const uint8_t *got, uint32_t len)
{
	const uint8_t *sent = test_vm_ram(e->vm, e->tx_frame, len);
	ck_assert_mem_eq(got, mac_guest, 6);
	ck_assert_mem_eq(got + 6, mac_peer, 6);
	ck_assert_mem_eq(got + 12, sent + 12, len - 12);
}

static uint64_t net_post_rx(struct net_env *e, unsigned n, uint32_t size)
{
	uint64_t first = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t buf = tvd_alloc(&e->d, size, 64);
		if (i == 0)
			first = buf;
		struct tvd_buf b = { buf, size, true };
		tvd_post(&e->d, NET_RX, &b, 1);
	}
	tvd_kick(&e->d, NET_RX);
	return first;
}

START_TEST(test_virtio_net_loopback_echo)
{
	struct net_env e;
	net_env_open(&e, 0);
	uint8_t mac[6];
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)tvd_device_cfg_read(&e.d, VIRTIO_NET_CFG_MAC + i, 1);
	ck_assert_mem_eq(mac, mac_guest, 6);
	ck_assert_uint_eq(tvd_device_cfg_read(&e.d, VIRTIO_NET_CFG_STATUS, 2), VIRTIO_NET_S_LINK_UP);

	uint64_t rx = net_post_rx(&e, 4, 2048);
	for (unsigned round = 0; round < 3; round++) {
		uint32_t len = 60 + round * 500;
		net_send(&e, len, round);
		tvd_wait_used(&e.d, NET_RX);
		uint32_t id, used;
		ck_assert(tvd_get_used(&e.d, NET_TX, &id, &used));
		ck_assert_uint_eq(used, 0);
		ck_assert(tvd_get_used(&e.d, NET_RX, &id, &used));
		ck_assert_uint_eq(id, round);
		ck_assert_uint_eq(used, VIRTIO_NET_HDR_SIZE + len);
		const uint8_t *buf = test_vm_ram(e.vm, rx + (uint64_t)round * 2048, used);
		uint16_t num_buffers;
		memcpy(&num_buffers, buf + VIRTIO_NET_HDR_OFF_NUM_BUFFERS, 2);
		ck_assert_uint_eq(num_buffers, 1);
		ck_assert_uint_eq(buf[0], 0);   /* flags */
		net_check_echo(&e, buf + VIRTIO_NET_HDR_SIZE, len);
	}
	ck_assert_uint_eq(counter_get(&e.c->requests), 6);
	ck_assert_uint_eq(counter_get(&e.c->bytes_written), 60 + 560 + 1060);
	ck_assert_uint_eq(counter_get(&e.c->bytes_read), 60 + 560 + 1060);
	ck_assert_uint_eq(counter_get(&e.c->ioeventfd_kicks), 4);
	ck_assert_uint_eq(counter_get(&e.c->faults), 0);
	test_vm_destroy(e.vm);
}
END_TEST

START_TEST(test_virtio_net_mergeable_rx_buffers)
{
	struct net_env e;
	net_env_open(&e, VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
	uint64_t rx = net_post_rx(&e, 8, 512);   /* consecutive 512-byte buffers */
	net_send(&e, 1000, 7);
	tvd_wait_used(&e.d, NET_RX);
	uint32_t id, used;
	/* 12 + 1000 bytes: two buffers, both published together. */
	ck_assert(tvd_get_used(&e.d, NET_RX, &id, &used));
	ck_assert_uint_eq(id, 0);
	ck_assert_uint_eq(used, 512);
	ck_assert(tvd_get_used(&e.d, NET_RX, &id, &used));
	ck_assert_uint_eq(id, 1);
	ck_assert_uint_eq(used, 500);
	ck_assert(!tvd_get_used(&e.d, NET_RX, &id, &used));
	const uint8_t *buf = test_vm_ram(e.vm, rx, 1024);
	uint16_t num_buffers;
	memcpy(&num_buffers, buf + VIRTIO_NET_HDR_OFF_NUM_BUFFERS, 2);
	ck_assert_uint_eq(num_buffers, 2);
	net_check_echo(&e, buf + VIRTIO_NET_HDR_SIZE, 1000);

	/* The next frame starts in the third buffer, which was given back. */
	net_send(&e, 100, 8);
	tvd_wait_used(&e.d, NET_RX);
	ck_assert(tvd_get_used(&e.d, NET_RX, &id, &used));
	ck_assert_uint_eq(id, 2);
	ck_assert_uint_eq(used, VIRTIO_NET_HDR_SIZE + 100);
	buf = test_vm_ram(e.vm, rx + 1024, 512);
	memcpy(&num_buffers, buf + VIRTIO_NET_HDR_OFF_NUM_BUFFERS, 2);
	ck_assert_uint_eq(num_buffers, 1);
	net_check_echo(&e, buf + VIRTIO_NET_HDR_SIZE, 100);
	test_vm_destroy(e.vm);
}
END_TEST

/* Mergeable and short of buffers: the frame waits in the port until the
 * driver posts enough, then arrives whole. */
START_TEST(test_virtio_net_waits_for_rx_buffers)
{
	struct net_env e;
	net_env_open(&e, VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	uint64_t rx = net_post_rx(&e, 2, 512);
	net_send(&e, 900, 3);
	test_vm_poll_io(e.vm, NULL, NULL);
	uint32_t id, used;
	ck_assert(!tvd_get_used(&e.d, NET_RX, &id, &used));
	/* The device asked to hear about the next buffer. */
	ck_assert_uint_eq(tvd_avail_event(&e.d, NET_RX), 2);
	net_post_rx(&e, 2, 512);
	tvd_wait_used(&e.d, NET_RX);
	ck_assert(tvd_get_used(&e.d, NET_RX, &id, &used));
	ck_assert_uint_eq(used, 512);
	ck_assert(tvd_get_used(&e.d, NET_RX, &id, &used));
	ck_assert_uint_eq(used, VIRTIO_NET_HDR_SIZE + 900 - 512);
	net_check_echo(&e, test_vm_ram(e.vm, rx + VIRTIO_NET_HDR_SIZE, 900), 900);
	test_vm_destroy(e.vm);
}
END_TEST

START_TEST(test_virtio_net_hostile_chains)
{
	struct net_env e;
	net_env_open(&e, 0);
	uint64_t faults = counter_get(&e.c->faults);
	/* A receive buffer smaller than the header, and a device-readable one,
	 * go back unused (length 0) as soon as the device looks at them. */
	uint64_t tiny = tvd_alloc(&e.d, 8, 8);
	struct tvd_buf t = { tiny, 8, true };
	tvd_post(&e.d, NET_RX, &t, 1);
	struct tvd_buf r = { tvd_alloc(&e.d, 2048, 64), 2048, false };
	tvd_post(&e.d, NET_RX, &r, 1);
	uint64_t good = net_post_rx(&e, 2, 2048);
	test_vm_poll_io(e.vm, NULL, NULL);
	uint32_t id, used;
	for (unsigned i = 0; i < 2; i++) {
		ck_assert(tvd_get_used(&e.d, NET_RX, &id, &used));
		ck_assert_uint_eq(id, i);
		ck_assert_uint_eq(used, 0);
	}
	ck_assert(!tvd_get_used(&e.d, NET_RX, &id, &used));
	ck_assert_uint_eq(counter_get(&e.c->faults), faults + 2);

	/* Transmit: a device-writable buffer, a frame outside RAM, a runt:
	 * each dropped and returned, nothing reaches the wire. */
	struct tvd_buf bad[3][2] = {
		{ { e.tx_hdr, VIRTIO_NET_HDR_SIZE, false }, { e.tx_frame, 64, true } },
		{ { e.tx_hdr, VIRTIO_NET_HDR_SIZE, false }, { NET_RAM - 10, 64, false } },
		{ { e.tx_hdr, VIRTIO_NET_HDR_SIZE, false }, { e.tx_frame, 4, false } },
	};
	for (unsigned i = 0; i < 3; i++) {
		tvd_post(&e.d, NET_TX, bad[i], 2);
		tvd_kick(&e.d, NET_TX);
		tvd_wait_used(&e.d, NET_TX);
		ck_assert(tvd_get_used(&e.d, NET_TX, &id, &used));
		ck_assert_uint_eq(used, 0);
	}
	test_vm_poll_io(e.vm, NULL, NULL);
	ck_assert(!tvd_get_used(&e.d, NET_RX, &id, &used));
	ck_assert_uint_eq(counter_get(&e.c->faults), faults + 5);
	ck_assert_uint_eq(counter_get(&e.c->requests), 0);

	/* The device still serves a good frame. */
	net_send(&e, 200, 1);
	tvd_wait_used(&e.d, NET_RX);
	ck_assert(tvd_get_used(&e.d, NET_RX, &id, &used));
	ck_assert_uint_eq(used, VIRTIO_NET_HDR_SIZE + 200);
	net_check_echo(&e, test_vm_ram(e.vm, good + VIRTIO_NET_HDR_SIZE, 200), 200);
	ck_assert(!(tvd_status(&e.d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET));

	/* A corrupt transmit ring needs a reset; the receive side is separate. */
	tvd_avail_set_idx(&e.d, NET_TX, (uint16_t)(e.d.q[NET_TX].avail_idx + NET_QSIZE + 5));
	tvd_kick(&e.d, NET_TX);
	test_vm_poll_io(e.vm, NULL, NULL);
	ck_assert(tvd_status(&e.d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	test_vm_destroy(e.vm);
}
END_TEST

static Suite *virtio_net_suite(void)
{
	Suite *s = suite_create("virtio_net");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_virtio_net_loopback_echo);
	tcase_add_test(tc, test_virtio_net_mergeable_rx_buffers);
	tcase_add_test(tc, test_virtio_net_waits_for_rx_buffers);
	tcase_add_test(tc, test_virtio_net_hostile_chains);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(virtio_net_suite)
