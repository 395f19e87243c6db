/* The guest's virtio drivers against QEMU's virtio-blk-pci and virtio-net-pci
 * (q35, TCG): a disk run whose stamped blocks are then read from the host
 * image, and a network echo through a UDP socket netdev with a reflector in
 * this process (each datagram is one Ethernet frame; it goes back with the
 * MACs swapped). QEMU's devices are the reference the VMM's split back ends
 * are measured against, so the drivers must work with both. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "guest/abi.h"
#include "tests/test_guest_output.h"
#include "tests/test_registry.h"

#define DISK_IO_BYTES    4096u
#define DISK_IMAGE_BYTES (4u << 20)
#define DISK_SPAN_BYTES  (512u << 10)
#define IMAGE_FILLER     0xEE

static char qemu_output[65536];

static long long result_number(const char *key)
{
	return test_result_number(qemu_output, key);
}

static void assert_guest_passed(int code)
{
	ck_assert_msg(code == TEST_QEMU_EXIT_CODE(GUEST_STATUS_PASS), "exit code %d, want %d; output:\n%s", code,
		      TEST_QEMU_EXIT_CODE(GUEST_STATUS_PASS), qemu_output);
	ck_assert_msg(strstr(qemu_output, "\nRESULT status=pass\n") != NULL, "no pass line; output:\n%s", qemu_output);
}

/* The disk workload's verify pattern over virtio-blk-pci with these
 * properties: the guest checks what it reads back, the test checks the
 * image QEMU wrote. */
static void run_disk_case(const char *device_options, const char *guest_keys, bool polled)
{
	char image_path[64];
	int fd = test_make_filled_image(image_path, sizeof(image_path), DISK_IMAGE_BYTES, IMAGE_FILLER);
	char drive[128], device[192], cmdline[256];
	snprintf(drive, sizeof(drive), "file=%s,if=none,id=d,format=raw", image_path);
	snprintf(device, sizeof(device), "virtio-blk-pci,drive=d,%s", device_options);
	snprintf(cmdline, sizeof(cmdline),
		 "iovirt.test=disk iovirt.dev=virtio-blk iovirt.disk.pattern=verify iovirt.disk.bs=%u "
		 "iovirt.disk.span=%u %s", DISK_IO_BYTES, DISK_SPAN_BYTES, guest_keys);
	const char *extra[] = { "-drive", drive, "-device", device, NULL };
	int code = test_run_qemu_guest(extra, cmdline, NULL, qemu_output, sizeof(qemu_output));
	/* Gone from /tmp whatever the checks say; fd still reads it. */
	unlink(image_path);
	assert_guest_passed(code);
	long long seed = result_number("disk_seed"), block_size = result_number("disk_block_size");
	ck_assert_msg(seed != -1 && block_size == 512, "disk_seed / disk_block_size missing; output:\n%s", qemu_output);
	test_assert_image_stamped(fd, DISK_IMAGE_BYTES, DISK_SPAN_BYTES, (uint64_t)block_size, (uint64_t)seed,
				  IMAGE_FILLER);
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
	/* With EVENT_IDX the device interrupts only when the driver asked, and it
	 * asks only before it sleeps: how often it sleeps depends on timing, so
	 * the bound is one interrupt per completion, and none when polled. */
	if (polled)
		ck_assert_int_eq(result_number("device_interrupts"), 0);
	else
		ck_assert_int_le(result_number("device_interrupts"), ios);
}

START_TEST(test_qemu_virtio_blk_indirect_event_idx_msix)
{
	if (!test_qemu_available(__func__))
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
	if (!test_qemu_available(__func__))
		return;
	/* Transitional ID (1af4:1001) with the ring features off: direct
	 * three-descriptor chains and the flag-based suppression. */
	run_disk_case("indirect_desc=off,event_idx=off", "iovirt.disk.qd=32 iovirt.io.mode=poll", true);
	ck_assert_ptr_nonnull(strstr(qemu_output, " 1af4:1001 class 010000\n"));
	ck_assert_ptr_nonnull(strstr(qemu_output, "direct chains, notify flags, polled, flush"));
}
END_TEST

static void run_net_case(const char *device_options, const char *guest_keys, unsigned frames)
{
	char device[192], cmdline[256];
	snprintf(device, sizeof(device), "virtio-net-pci,netdev=n,romfile=,%s", device_options);
	snprintf(cmdline, sizeof(cmdline), "iovirt.test=nic iovirt.dev=virtio-net iovirt.nic.pattern=echo "
		 "iovirt.nic.count=%u %s", frames, guest_keys);
	const char *extra[] = { "-device", device, NULL };
	struct test_frame_reflector reflector = { .corrupt_frame = 0 };
	int code = test_run_qemu_guest(extra, cmdline, &reflector, qemu_output, sizeof(qemu_output));
	assert_guest_passed(code);
	/* Each frame went through the reflector once, plus the runner's
	 * untimed warm-up frame. */
	ck_assert_uint_eq(reflector.frames, frames + 1);
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
	if (!test_qemu_available(__func__))
		return;
	run_net_case("disable-legacy=on", "iovirt.nic.size=64 iovirt.nic.qd=8", 200);
	ck_assert_ptr_nonnull(strstr(qemu_output, "\nvirtio-net: mac 52:54:00:12:34:56, rx/tx queues 256/256, "
					       "mergeable rx buffers, event idx, MSI-X, link up\n"));
	ck_assert_int_ge(result_number("device_interrupts"), 1);
}
END_TEST

START_TEST(test_qemu_virtio_net_echo_full_frames_polled)
{
	if (!test_qemu_available(__func__))
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
