/* Every disk and NIC model end to end through iovirt on KVM: the built-in
 * guest's drivers and workload runner against our emulated NVMe / e1000 and
 * split virtio-blk / virtio-net, in this process (guest_run), with the
 * console captured so its RESULT lines can be read back. Besides "the guest
 * passed", each test checks what the model implies: the bytes on the host
 * image, and the exits the guest's measured phase cost (outcome.phase): an
 * emulated device traps every doorbell write, a split one takes its kicks by
 * ioeventfd. Spans and counts are small: a guest I/O costs ~0.4-1 ms here. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/guest_run.h"
#include "tests/test_guest_boot.h"
#include "tests/test_guest_output.h"
#include "tests/test_registry.h"
#include "tests/test_util.h"

#define IMAGE_BYTES (8ull << 20)
#define IMAGE_FILLER 0xEE
#define IO_BYTES 4096u            /* the workload's default iovirt.disk.bs */
#define VERIFY_SPAN (1ull << 20)
#define READONLY_SPAN (256ull << 10)
#define RANDOM_SPAN (1ull << 20)

struct model_case {
	const char *model;
	const char *disk_name;        /* the guest's RESULT device= for its disk */
	const char *nic_name;
	/* Emulated: every doorbell is a register write the VMM traps. Split:
	 * notifications are kicks caught by ioeventfd in the kernel. */
	bool doorbells_trap;
	int refused_dma_status;       /* the completion status a refused DMA gets */
	/* Faults the device logs per write to a read-only disk: NVMe has a
	 * status for it (Namespace Is Write Protected); virtio-blk only IOERR,
	 * for a guest that accepted VIRTIO_BLK_F_RO and wrote anyway. */
	unsigned faults_per_readonly_write;
};

static const struct model_case models[] = {
	/* NVMe: Data Transfer Error (generic SC 0x04) with Do Not Retry. */
	{ "emulated", "nvme", "e1000", true, 0x4004, 0 },
	/* VIRTIO_BLK_S_IOERR. */
	{ "split", "virtio-blk", "virtio-net", false, 1, 1 },
};

static char console_text[65536];

static long long result_number(const char *key)
{
	return test_result_number(console_text, key);
}

/* Runs the built-in guest with one device (function "disk" or "nic") and a
 * command line; the console lands in console_text. The guest must have
 * finished by itself and published its results. */
static void run_guest(const char *function, const char *device, const char *cmdline, struct guest_run_outcome *o)
{
	test_boot_guest(cmdline, function, device, o, console_text, sizeof(console_text));
}

static void assert_guest_passed(const struct guest_run_outcome *o)
{
	ck_assert_msg(o->guest_status == GUEST_STATUS_PASS, "guest status %s: %s; console:\n%s",
		      guest_status_name(o->guest_status), o->results.message, console_text);
	ck_assert_msg(strstr(console_text, "\nRESULT status=pass\n") != NULL, "no pass line; console:\n%s", console_text);
}

/* What the measured phase cost the one device, with the phase required. */
static struct device_counter_values phase_device(const struct guest_run_outcome *o)
{
	ck_assert_msg(o->have_phase, "no measured phase (markers missing); console:\n%s", console_text);
	ck_assert_uint_eq(o->phase.ndevices, 1);
	return o->phase.devices[0].values;
}

/* One line per run for whoever reads the log: the model's per-I/O cost. */
static void note_phase(const char *what, const struct model_case *m, const struct guest_run_outcome *o)
{
	struct device_counter_values d = o->phase.devices[0].values;
	double ops = (double)o->results.workload.ops;
	if (ops == 0)
		return;
	fprintf(stderr,
		"models_e2e: %s %s: %llu ops; per I/O %.3f device MMIO exits, %.3f device PIO exits, %.3f ioeventfd "
		"kicks, %.3f device interrupts, %.3f guest notifications\n",
		m->model, what, (unsigned long long)o->results.workload.ops, (double)d.mmio_exits / ops,
		(double)d.pio_exits / ops, (double)d.ioeventfd_kicks / ops, (double)d.interrupts / ops,
		(double)o->results.workload.notifications / ops);
}

/* The kicks of a split device must not trap: the driver's notifications all
 * arrive as ioeventfd kicks, and the data path has no PIO/MMIO exit into the
 * device at all (the driver reads the device status only after a
 * configuration interrupt). */
static void assert_split_kicks_do_not_exit(const struct device_counter_values *d)
{
	ck_assert_uint_gt(d->ioeventfd_kicks, 0);
	ck_assert_msg(d->pio_exits + d->mmio_exits == 0,
		      "split device: %llu PIO + %llu MMIO exits for %llu kicks in the phase: kicks trapped",
		      (unsigned long long)d->pio_exits, (unsigned long long)d->mmio_exits,
		      (unsigned long long)d->ioeventfd_kicks);
}

/* --- disk --- */

/* Runs the guest with cmdline on --disk model=M,path=IMG<extra_options>,
 * IMG a fresh image of filler. Returns an fd of the image, whose name is
 * already gone, for checks after the run. */
static int run_disk(const struct model_case *m, const char *extra_options, const char *cmdline,
		    struct guest_run_outcome *o)
{
	char image[64], device[256];
	int fd = test_make_filled_image(image, sizeof(image), IMAGE_BYTES, IMAGE_FILLER);
	/* Gone from /tmp whatever the run does; the VMM opens it through our
	 * descriptor's /proc name. */
	unlink(image);
	snprintf(device, sizeof(device), "model=%s,path=/proc/self/fd/%d%s", m->model, fd, extra_options);
	run_guest("disk", device, cmdline, o);
	return fd;
}

static void assert_disk_workload_clean(const struct model_case *m, const struct guest_run_outcome *o, long long ops)
{
	assert_guest_passed(o);
	char device_line[64];
	snprintf(device_line, sizeof(device_line), "\nRESULT device=%s\n", m->disk_name);
	ck_assert_msg(strstr(console_text, device_line) != NULL, "no '%s' line; console:\n%s", device_line + 1,
		      console_text);
	ck_assert_int_eq(result_number("ops"), ops);
	ck_assert_uint_eq(o->results.workload.ops, (uint64_t)ops);
	ck_assert_int_eq(result_number("bytes"), ops * IO_BYTES);
	ck_assert_int_eq(result_number("errors"), 0);
	ck_assert_int_eq(result_number("verify_failures"), 0);
}

/* verify through the model lands on the host file: exactly the stamped blocks
 * over the span, the filler after it. */
START_TEST(test_disk_verify_stamps_the_host_image)
{
	REQUIRE_KVM();
	const struct model_case *m = &models[_i];
	struct guest_run_outcome o;
	char cmdline[128];
	snprintf(cmdline, sizeof(cmdline), "iovirt.test=disk iovirt.disk.pattern=verify iovirt.disk.span=%llu",
		 (unsigned long long)VERIFY_SPAN);
	int fd = run_disk(m, "", cmdline, &o);
	/* Every bs slot of the span written once and read back once. */
	assert_disk_workload_clean(m, &o, 2 * VERIFY_SPAN / IO_BYTES);
	long long seed = result_number("disk_seed"), block_size = result_number("disk_block_size");
	ck_assert_msg(seed != -1 && block_size == 512, "disk_seed / disk_block_size missing; console:\n%s",
		      console_text);
	test_assert_image_stamped(fd, IMAGE_BYTES, VERIFY_SPAN, (uint64_t)block_size, (uint64_t)seed, IMAGE_FILLER);
	close(fd);
	note_phase("verify qd 1", m, &o);
}
END_TEST

/* Asserts what randwrite leaves: each bs slot of the span is either
 * untouched filler or a write whose blocks each start with their LBA and the
 * seed; at least one slot and at most ops slots were written; nothing past
 * the span changed. */
static void assert_image_write_stamps(int fd, uint64_t seed, uint64_t block_size, uint64_t ops)
{
	static uint8_t image[IMAGE_BYTES];
	ck_assert_int_eq(pread(fd, image, sizeof(image), 0), (ssize_t)sizeof(image));
	uint8_t untouched[IO_BYTES];
	memset(untouched, IMAGE_FILLER, sizeof(untouched));
	uint64_t written = 0;
	for (uint64_t slot = 0; slot < RANDOM_SPAN / IO_BYTES; slot++) {
		const uint8_t *s = image + slot * IO_BYTES;
		if (memcmp(s, untouched, IO_BYTES) == 0)
			continue;
		written++;
		for (uint64_t b = 0; b < IO_BYTES / block_size; b++) {
			uint64_t lba = (slot * IO_BYTES) / block_size + b, stamp[2];
			memcpy(stamp, s + b * block_size, sizeof(stamp));
			if (stamp[0] != lba || stamp[1] != seed)
				ck_abort_msg("block %llu holds stamp (%llu, 0x%llx), want (%llu, 0x%llx)",
					     (unsigned long long)lba, (unsigned long long)stamp[0],
					     (unsigned long long)stamp[1], (unsigned long long)lba, (unsigned long long)seed);
		}
	}
	ck_assert_msg(written >= 1 && written <= ops, "%llu slots written by %llu random writes",
		      (unsigned long long)written, (unsigned long long)ops);
	for (uint64_t off = RANDOM_SPAN; off < sizeof(image); off++)
		if (image[off] != IMAGE_FILLER)
			ck_abort_msg("byte %llu beyond the span was written", (unsigned long long)off);
}

/* A random-pattern run (randread or randwrite) over a 1 MiB span of a fresh
 * filler image; returns the image's fd (unlinked) for checks after it. */
static int run_random_pattern(const struct model_case *m, const char *pattern, unsigned qd, unsigned ops,
			      const char *mode, const char *extra_keys, struct guest_run_outcome *o)
{
	char cmdline[256];
	snprintf(cmdline, sizeof(cmdline),
		 "iovirt.test=disk iovirt.disk.pattern=%s iovirt.disk.span=%llu iovirt.disk.qd=%u iovirt.disk.ops=%u iovirt.io.mode=%s %s",
		 pattern, (unsigned long long)RANDOM_SPAN, qd, ops, mode, extra_keys);
	int fd = run_disk(m, "", cmdline, o);
	assert_disk_workload_clean(m, o, ops);
	ck_assert_int_eq(result_number("qd"), qd);
	char mode_line[32];
	snprintf(mode_line, sizeof(mode_line), "\nRESULT mode=%s\n", mode);
	ck_assert_msg(strstr(console_text, mode_line) != NULL, "no '%s' line; console:\n%s", mode_line + 1,
		      console_text);
	char what[64];
	snprintf(what, sizeof(what), "%s qd %u %s%s%s", pattern, qd, mode, *extra_keys ? " " : "", extra_keys);
	note_phase(what, m, o);
	return fd;
}

/* The exits and interrupts a disk phase cost, as the model implies them. */
static void assert_disk_phase_cost(const struct model_case *m, const struct guest_run_outcome *o, bool polled)
{
	struct device_counter_values d = phase_device(o);
	const struct guest_workload_results *w = &o->results.workload;
	if (m->doorbells_trap) {
		/* NVMe without shadow doorbells: every SQ tail and CQ head
		 * doorbell write is an MMIO exit (batched at qd > 1); and in irq
		 * mode each completion raises its CQ's MSI-X. */
		ck_assert_uint_ge(d.mmio_exits, w->notifications);
		ck_assert_uint_gt(d.mmio_exits, 0);
		ck_assert_uint_eq(d.ioeventfd_kicks, 0);
		if (!polled)
			ck_assert_uint_gt(d.interrupts, 0);
	} else {
		assert_split_kicks_do_not_exit(&d);
		/* Every notification the driver made was a kick, none lost. */
		ck_assert_uint_eq(d.ioeventfd_kicks, w->notifications);
		/* Event idx: an interrupt only where the driver armed one, so
		 * none or some, never more than one per completion. */
		ck_assert_uint_le(d.interrupts, w->ops);
	}
	if (polled) {
		ck_assert_uint_eq(d.interrupts, 0);
		ck_assert_int_eq(result_number("device_interrupts"), 0);
	}
}

/* Random reads at qd 8; _i selects the model (i / 2) and completions by
 * interrupt (even) or by polling (odd), when the device raises none. */
START_TEST(test_disk_randread_qd8)
{
	REQUIRE_KVM();
	const struct model_case *m = &models[_i / 2];
	bool polled = _i % 2;
	struct guest_run_outcome o;
	close(run_random_pattern(m, "randread", 8, 64, polled ? "poll" : "irq", "", &o));
	assert_disk_phase_cost(m, &o, polled);
}
END_TEST

/* Random writes at qd 1: one request in flight, so each pays the model's
 * whole notification cost; the writes land where they say. */
START_TEST(test_disk_randwrite_qd1)
{
	REQUIRE_KVM();
	const struct model_case *m = &models[_i];
	struct guest_run_outcome o;
	int fd = run_random_pattern(m, "randwrite", 1, 32, "irq", "", &o);
	long long seed = result_number("disk_seed"), block_size = result_number("disk_block_size");
	ck_assert_msg(seed != -1 && block_size == 512, "disk_seed / disk_block_size missing");
	assert_image_write_stamps(fd, (uint64_t)seed, (uint64_t)block_size, 32);
	close(fd);
	assert_disk_phase_cost(m, &o, false);
	/* At qd 1 an emulated device exits at least once per request. */
	if (m->doorbells_trap)
		ck_assert_uint_ge(phase_device(&o).mmio_exits, o.results.workload.ops);
}
END_TEST

/* NVMe shadow doorbells (Doorbell Buffer Config, offered by default): at
 * qd 1 the same writes cost strictly fewer MMIO exits than without. */
START_TEST(test_nvme_shadow_doorbells_cut_mmio_exits)
{
	REQUIRE_KVM();
	const struct model_case *m = &models[0];
	struct guest_run_outcome plain, shadow;
	close(run_random_pattern(m, "randwrite", 1, 32, "irq", "", &plain));
	ck_assert_ptr_null(strstr(console_text, "shadow doorbells"));
	close(run_random_pattern(m, "randwrite", 1, 32, "irq", "iovirt.nvme.shadow=on", &shadow));
	ck_assert_msg(strstr(console_text, "shadow doorbells") != NULL, "shadow doorbells not in use; console:\n%s",
		      console_text);
	uint64_t plain_exits = phase_device(&plain).mmio_exits, shadow_exits = phase_device(&shadow).mmio_exits;
	ck_assert_uint_ge(plain_exits, plain.results.workload.ops);
	ck_assert_msg(shadow_exits < plain_exits, "MMIO exits with shadow doorbells %llu, without %llu",
		      (unsigned long long)shadow_exits, (unsigned long long)plain_exits);
}
END_TEST

/* Faults every device logged over the whole run. */
static uint64_t run_device_faults(const struct guest_run_outcome *o)
{
	struct device_counter_values total;
	run_counters_device_total(&o->totals, &total);
	return total.faults;
}

/* The image behind fd still holds nothing but the filler; closes fd. */
static void assert_image_untouched(int fd)
{
	test_assert_image_stamped(fd, IMAGE_BYTES, 0, 512, 0, IMAGE_FILLER);
	close(fd);
}

/* A hostile guest: disk DMA just past its RAM. The device refuses both
 * transfers with the model's error status, the DMA space counts both
 * refusals, and the device still completes the write after refusing the
 * read, which is the VMM still serving. Nothing reaches the image. */
START_TEST(test_disk_dma_escape_is_refused)
{
	REQUIRE_KVM();
	const struct model_case *m = &models[_i];
	struct guest_run_outcome o;
	int fd = run_disk(m, "", "iovirt.test=dma-escape", &o);
	assert_guest_passed(&o);
	ck_assert_int_eq(result_number("escape_read_status"), m->refused_dma_status);
	ck_assert_int_eq(result_number("escape_write_status"), m->refused_dma_status);
	/* One refused DMA per escaping transfer, and the device logged each. */
	ck_assert_uint_eq(o.dma_faults, 2);
	ck_assert_uint_eq(run_device_faults(&o), 2);
	ck_assert_uint_eq(o.unclaimed_mmio, 0);
	/* The refused write put nothing on the disk. */
	assert_image_untouched(fd);
}
END_TEST

/* readonly=on: verify's writes fail with the model's error status, its reads
 * then find the filler, the guest reports it, and the image is untouched. */
START_TEST(test_disk_readonly_refuses_writes)
{
	REQUIRE_KVM();
	const struct model_case *m = &models[_i];
	struct guest_run_outcome o;
	char cmdline[128];
	snprintf(cmdline, sizeof(cmdline), "iovirt.test=disk iovirt.disk.pattern=verify iovirt.disk.span=%llu",
		 (unsigned long long)READONLY_SPAN);
	int fd = run_disk(m, ",readonly=on", cmdline, &o);
	ck_assert_msg(o.guest_status == GUEST_STATUS_FAIL, "guest status %s on a read-only disk; console:\n%s",
		      guest_status_name(o.guest_status), console_text);
	ck_assert_ptr_nonnull(strstr(console_text, "\nRESULT status=fail\n"));
	long long slots = (long long)(READONLY_SPAN / IO_BYTES);
	/* Every write failed; every read succeeded and found the filler. */
	ck_assert_int_eq(result_number("errors"), slots);
	ck_assert_int_eq(result_number("ops"), slots);
	ck_assert_int_eq(result_number("verify_failures"), slots);
	char message[128];
	snprintf(message, sizeof(message), "\nRESULT message=disk: %lld of %lld I/Os failed on %s\n", slots, 2 * slots,
		 m->disk_name);
	ck_assert_msg(strstr(console_text, message) != NULL, "no '%s' line; console:\n%s", message + 1, console_text);
	ck_assert_uint_eq(run_device_faults(&o), (uint64_t)slots * m->faults_per_readonly_write);
	ck_assert_uint_eq(o.dma_faults, 0);
	assert_image_untouched(fd);
}
END_TEST

/* --- NIC --- */

static const unsigned nic_sizes[] = { 64, 1514 };

/* Echo through --nic model=M on the loopback back end: each frame comes back
 * with the MACs swapped and its payload checked by the guest. _i selects
 * model (i / 2) and frame size (i % 2). */
START_TEST(test_nic_echo)
{
	REQUIRE_KVM();
	const struct model_case *m = &models[_i / 2];
	unsigned size = nic_sizes[_i % 2], count = 200;
	char device[64], cmdline[128];
	snprintf(device, sizeof(device), "model=%s", m->model);
	snprintf(cmdline, sizeof(cmdline), "iovirt.test=nic iovirt.nic.count=%u iovirt.nic.size=%u", count, size);
	struct guest_run_outcome o;
	run_guest("nic", device, cmdline, &o);
	assert_guest_passed(&o);
	char device_line[64];
	snprintf(device_line, sizeof(device_line), "\nRESULT device=%s\n", m->nic_name);
	ck_assert_msg(strstr(console_text, device_line) != NULL, "no '%s' line; console:\n%s", device_line + 1,
		      console_text);
	ck_assert_int_eq(result_number("ops"), count);
	ck_assert_uint_eq(o.results.workload.ops, count);
	ck_assert_int_eq(result_number("bytes"), (long long)count * size);
	ck_assert_int_eq(result_number("errors"), 0);
	ck_assert_int_eq(result_number("verify_failures"), 0);
	ck_assert_int_eq(result_number("nic_stray_frames"), 0);
	struct device_counter_values d = phase_device(&o);
	char what[48];
	snprintf(what, sizeof(what), "nic echo %u bytes", size);
	note_phase(what, m, &o);
	if (m->doorbells_trap) {
		/* e1000: each frame sent is a trapped TDT write. */
		ck_assert_uint_ge(d.mmio_exits, count);
		ck_assert_uint_eq(d.ioeventfd_kicks, 0);
	} else {
		assert_split_kicks_do_not_exit(&d);
	}
}
END_TEST

static Suite *models_e2e_suite(void)
{
	Suite *s = suite_create("models_e2e");
	TCase *tc = tcase_create("kvm");
	tcase_set_timeout(tc, 120);
	const int nmodels = (int)(sizeof(models) / sizeof(models[0]));
	tcase_add_loop_test(tc, test_disk_verify_stamps_the_host_image, 0, nmodels);
	tcase_add_loop_test(tc, test_disk_randread_qd8, 0, nmodels * 2);
	tcase_add_loop_test(tc, test_disk_randwrite_qd1, 0, nmodels);
	tcase_add_test(tc, test_nvme_shadow_doorbells_cut_mmio_exits);
	tcase_add_loop_test(tc, test_disk_dma_escape_is_refused, 0, nmodels);
	tcase_add_loop_test(tc, test_disk_readonly_refuses_writes, 0, nmodels);
	tcase_add_loop_test(tc, test_nic_echo, 0, nmodels * 2);
	suite_add_tcase(s, tc);
	return s;
}
TEST_SUITE_REGISTER(models_e2e_suite)
