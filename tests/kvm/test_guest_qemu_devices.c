/* The guest's NVMe and e1000 drivers and its workload runner, checked against
 * QEMU's own nvme and e1000 devices (TCG): a device model we did not write.
 * Disk: the verify pattern through QEMU's nvme, then the host image is read
 * back and every block of the span must hold the stamp and fill the guest
 * documents (guest/test_disk.c). NIC: the echo pattern through QEMU's e1000
 * over a UDP socket netdev whose far end is a reflector here that swaps the
 * MAC addresses, as iovirt's loopback peer does; a reflector that corrupts
 * one frame must make the guest fail. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "guest/abi.h"
#include "tests/test_guest_output.h"
#include "tests/test_registry.h"

#define DISK_IMAGE_BYTES (1u << 20)
#define DISK_SPAN 262144u
#define DISK_BS 4096u

static char qemu_output[65536];

static long long result_number(const char *key)
{
	return test_result_number(qemu_output, key);
}

static void assert_status(int code, enum guest_status want)
{
	int want_code = TEST_QEMU_EXIT_CODE(want);
	ck_assert_msg(code == want_code, "QEMU exit code %d, want %d; output:\n%s", code, want_code, qemu_output);
}

/* --- disk --- */

static int run_disk(const char *image, const char *cmdline)
{
	char drive[512];
	snprintf(drive, sizeof(drive), "file=%s,if=none,id=d,format=raw", image);
	const char *args[] = { "-drive", drive, "-device", "nvme,drive=d,serial=iovirt0", NULL };
	return test_run_qemu_guest(args, cmdline, NULL, qemu_output, sizeof(qemu_output));
}

START_TEST(test_qemu_nvme_verify_lands_on_the_image)
{
	if (!test_qemu_available(__func__))
		return;
	char image[64];
	int fd = test_make_filled_image(image, sizeof(image), DISK_IMAGE_BYTES, 0);
	char cmdline[256];
	snprintf(cmdline, sizeof(cmdline),
		 "iovirt.test=disk iovirt.dev=nvme iovirt.disk.pattern=verify iovirt.disk.span=%u iovirt.disk.bs=%u "
		 "iovirt.disk.qd=4",
		 DISK_SPAN, DISK_BS);
	int code = run_disk(image, cmdline);
	/* Gone from /tmp whatever the checks say; fd still reads it. */
	unlink(image);
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

	/* Every block of the span holds its own LBA, the seed and the fill;
	 * nothing after the span was written. */
	test_assert_image_stamped(fd, DISK_IMAGE_BYTES, DISK_SPAN, (uint64_t)block, (uint64_t)seed_value, 0);
	close(fd);
}
END_TEST

/* Random reads, polled, with shadow doorbells (QEMU's nvme offers Doorbell
 * Buffer Config): every block read carries the stamp the fill wrote. */
START_TEST(test_qemu_nvme_randread_polled_shadow_doorbells)
{
	if (!test_qemu_available(__func__))
		return;
	char image[64];
	close(test_make_filled_image(image, sizeof(image), DISK_IMAGE_BYTES, 0));
	int code = run_disk(image, "iovirt.test=disk iovirt.disk.pattern=randread iovirt.disk.span=262144 "
				   "iovirt.disk.qd=8 iovirt.disk.ops=300 iovirt.io.mode=poll iovirt.nvme.shadow=on");
	unlink(image);
	assert_status(code, GUEST_STATUS_PASS);
	ck_assert_ptr_nonnull(strstr(qemu_output, "shadow doorbells"));
	ck_assert_int_eq(result_number("ops"), 300);
	ck_assert_int_eq(result_number("errors"), 0);
	ck_assert_int_eq(result_number("verify_failures"), 0);
	ck_assert_int_eq(result_number("device_interrupts"), 0);
	/* At most a SQ and a CQ doorbell per I/O; the shadow skips some. */
	long long notifications = result_number("notifications");
	ck_assert_msg(notifications > 0 && notifications <= 600, "notifications=%lld", notifications);
}
END_TEST

/* A transfer beyond QEMU's MDTS (512 KiB) is refused with a reason, not
 * sent as a malformed command. */
START_TEST(test_qemu_nvme_transfer_beyond_mdts_fails_cleanly)
{
	if (!test_qemu_available(__func__))
		return;
	char image[64];
	close(test_make_filled_image(image, sizeof(image), DISK_IMAGE_BYTES, 0));
	int code = run_disk(image, "iovirt.test=disk iovirt.disk.bs=1048576 iovirt.disk.span=1048576");
	unlink(image);
	assert_status(code, GUEST_STATUS_FAIL);
	ck_assert_ptr_nonnull(strstr(qemu_output, "\nRESULT message=disk: nvme refused a write of"));
}
END_TEST

/* --- NIC --- */

static int run_nic(struct test_frame_reflector *r, const char *cmdline)
{
	const char *args[] = { "-device", "e1000,netdev=n", NULL };
	return test_run_qemu_guest(args, cmdline, r, qemu_output, sizeof(qemu_output));
}

START_TEST(test_qemu_e1000_echo)
{
	if (!test_qemu_available(__func__))
		return;
	struct test_frame_reflector r = { .corrupt_frame = 0 };
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
	ck_assert_uint_eq(r.frames, 201);
}
END_TEST

START_TEST(test_qemu_e1000_echo_catches_a_corrupted_frame)
{
	if (!test_qemu_available(__func__))
		return;
	struct test_frame_reflector r = { .corrupt_frame = 10 };
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
