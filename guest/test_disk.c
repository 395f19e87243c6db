/* iovirt.test=disk: the disk workload over whichever disk driver probes
 * (guest/workload_runner.h). Every block written carries a 16-byte stamp, its
 * LBA and the run's seed, so reads can check where data came from:
 *   bytes 0..7   LBA (device blocks, little endian)
 *   bytes 8..15  the run's seed (RESULT disk_seed)
 *   bytes 16..   in full-pattern blocks, the 64-bit word disk_fill_word(lba,
 *                seed) repeated; in stamp-only blocks, whatever was there.
 * verify writes full-pattern blocks over the whole span and compares them in
 * full on read-back; randread/seqread fill the span with stamps outside the
 * timed phase and check the stamp of every block they read; randwrite and
 * seqwrite write stamp-only blocks. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest/cmdline.h"
#include "guest/io.h"
#include "guest/page_alloc.h"
#include "guest/pci.h"
#include "guest/print.h"
#include "guest/results.h"
#include "guest/string.h"
#include "guest/tests.h"
#include "guest/workload_runner.h"

#define DISK_MAX_QD 1024u
#define DISK_DEFAULT_SPAN (4ull << 20)
#define DISK_DEFAULT_BS 4096u
#define DISK_DEFAULT_OPS 1000u

enum disk_pattern { PATTERN_VERIFY, PATTERN_RANDREAD, PATTERN_RANDWRITE, PATTERN_SEQREAD, PATTERN_SEQWRITE };

static const char *const pattern_names[] = {
	[PATTERN_VERIFY] = "verify", [PATTERN_RANDREAD] = "randread", [PATTERN_RANDWRITE] = "randwrite",
	[PATTERN_SEQREAD] = "seqread", [PATTERN_SEQWRITE] = "seqwrite",
};

enum block_check { CHECK_NONE, CHECK_STAMP, CHECK_FULL };

struct phase_spec {
	bool write;
	bool full_pattern;       /* writes: fill whole blocks, not just stamps */
	enum block_check check;  /* reads */
	bool random;
	uint64_t count;          /* I/Os, when deadline is 0 */
	uint64_t deadline;       /* TSC; 0: run count I/Os */
	bool timed;              /* latencies into the histogram */
};

struct disk_run {
	struct guest_disk *disk;
	enum guest_io_mode mode;
	unsigned qd;
	uint32_t bs;
	uint32_t blocks_per_io;
	uint64_t span_ios;       /* bs-sized slots in the span */
	uint64_t seed;
	uint64_t rng;
	uint8_t *bufs;           /* qd buffers of bs bytes */
	uint64_t ops, bytes, errors, verify_failures;
	uint64_t first_bad_lba;
};

/* Per-tag state; tags are 0..qd-1. */
static uint64_t tag_lba[DISK_MAX_QD];
static uint64_t tag_submit_tsc[DISK_MAX_QD];
static uint8_t tag_busy[DISK_MAX_QD];
static uint16_t free_tags[DISK_MAX_QD];
static struct guest_disk_completion completions[DISK_MAX_QD];
static char phase_error[128];

#define FAIL(...) (results_set_message(__VA_ARGS__), GUEST_STATUS_FAIL)
#define BAD_PARAMS(...) (results_set_message(__VA_ARGS__), GUEST_STATUS_BAD_PARAMS)

static uint64_t disk_fill_word(uint64_t lba, uint64_t seed)
{
	return (lba * 0x9E3779B97F4A7C15ull) ^ seed;
}

/* One string instruction fills the rest of the block. */
static void words_fill(uint64_t *dst, uint64_t value, size_t count)
{
	__asm__ volatile("rep stosq" : "+D"(dst), "+c"(count) : "a"(value) : "memory");
}

/* True if all count words equal value (count > 0): one repe scasq. */
static bool words_equal(const uint64_t *src, uint64_t value, size_t count)
{
	bool equal;
	__asm__ volatile("repe scasq" : "+D"(src), "+c"(count), "=@ccz"(equal) : "a"(value) : "memory");
	return equal;
}

static void blocks_stamp(const struct disk_run *r, uint8_t *buf, uint64_t lba, bool full)
{
	uint32_t block_size = r->disk->block_size;
	for (uint32_t i = 0; i < r->blocks_per_io; i++, lba++, buf += block_size) {
		uint64_t *w = (uint64_t *)buf;
		w[0] = lba;
		w[1] = r->seed;
		if (full)
			words_fill(w + 2, disk_fill_word(lba, r->seed), block_size / 8u - 2u);
	}
}

static bool blocks_check(const struct disk_run *r, const uint8_t *buf, uint64_t lba, bool full)
{
	uint32_t block_size = r->disk->block_size;
	for (uint32_t i = 0; i < r->blocks_per_io; i++, lba++, buf += block_size) {
		const uint64_t *w = (const uint64_t *)buf;
		if (w[0] != lba || w[1] != r->seed)
			return false;
		if (full && !words_equal(w + 2, disk_fill_word(lba, r->seed), block_size / 8u - 2u))
			return false;
	}
	return true;
}

static uint64_t next_random(struct disk_run *r)
{
	/* xorshift64 */
	uint64_t x = r->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	r->rng = x;
	return x;
}

static void completion_account(struct disk_run *r, const struct phase_spec *p,
			       const struct guest_disk_completion *c, uint64_t now, unsigned *free_count)
{
	uint16_t tag = c->tag;
	if (tag >= r->qd || !tag_busy[tag]) {
		/* A completion for nothing outstanding: the device's error. */
		r->errors++;
		return;
	}
	tag_busy[tag] = 0;
	free_tags[(*free_count)++] = tag;
	if (p->timed)
		workload_record_latency(now - tag_submit_tsc[tag]);
	if (c->status) {
		r->errors++;
		return;
	}
	if (!p->write && p->check != CHECK_NONE &&
	    !blocks_check(r, r->bufs + (size_t)tag * r->bs, tag_lba[tag], p->check == CHECK_FULL)) {
		if (!r->verify_failures)
			r->first_bad_lba = tag_lba[tag];
		r->verify_failures++;
	}
	if (p->timed) {
		r->ops++;
		r->bytes += r->bs;
	}
}

/* Runs one phase with up to qd requests in flight. NULL, or why it stopped. */
static const char *phase_run(struct disk_run *r, const struct phase_spec *p)
{
	struct guest_disk *disk = r->disk;
	unsigned free_count = 0;
	for (unsigned t = r->qd; t-- > 0;)
		free_tags[free_count++] = (uint16_t)t;
	uint64_t issued = 0;
	unsigned in_flight = 0;
	bool stalled_before = false;
	struct workload_stall stall;
	for (;;) {
		bool more = p->deadline ? rdtsc() < p->deadline : issued < p->count;
		unsigned batch = 0;
		uint64_t now = p->timed ? rdtsc() : 0;
		while (more && free_count) {
			uint16_t tag = free_tags[--free_count];
			uint64_t slot = p->random ? next_random(r) % r->span_ios : issued % r->span_ios;
			uint64_t lba = slot * r->blocks_per_io;
			uint8_t *buf = r->bufs + (size_t)tag * r->bs;
			if (p->write)
				blocks_stamp(r, buf, lba, p->full_pattern);
			if (disk->submit(disk, tag, p->write, lba, r->blocks_per_io, (uintptr_t)buf) != 0) {
				guest_snprintf(phase_error, sizeof(phase_error),
					       "%s refused a %s of %u blocks at LBA %lu (tag %u, %u in flight)",
					       disk->name, p->write ? "write" : "read", r->blocks_per_io, lba, tag,
					       in_flight);
				return phase_error;
			}
			tag_lba[tag] = lba;
			tag_submit_tsc[tag] = now;
			tag_busy[tag] = 1;
			issued++;
			in_flight++;
			batch++;
			more = p->deadline ? more : issued < p->count;
		}
		if (batch)
			disk->kick(disk);
		if (in_flight == 0)
			return NULL;
		unsigned got = disk->reap(disk, completions, r->qd);
		if (got == 0) {
			if (!stalled_before) {
				workload_stall_reset(&stall);
				stalled_before = true;
			} else if (workload_stall_expired(&stall, r->mode)) {
				guest_snprintf(phase_error, sizeof(phase_error),
					       "%s: no completion for %u ms with %u requests in flight", disk->name,
					       WORKLOAD_STALL_MS, in_flight);
				return phase_error;
			}
			if (r->mode == GUEST_IO_IRQ)
				disk->wait(disk);
			else
				__asm__ volatile("pause");
			continue;
		}
		stalled_before = false;
		uint64_t done = p->timed ? rdtsc() : 0;
		for (unsigned i = 0; i < got && i < r->qd; i++) {
			unsigned before = free_count;
			completion_account(r, p, &completions[i], done, &free_count);
			in_flight -= free_count - before;
		}
	}
}

static bool parse_pattern(const char *cmdline, enum disk_pattern *out)
{
	struct cmdline_value v;
	*out = PATTERN_VERIFY;
	if (!cmdline_lookup(cmdline, "iovirt.disk.pattern", &v))
		return true;
	for (unsigned i = 0; i < sizeof(pattern_names) / sizeof(pattern_names[0]); i++) {
		if (str_equal_n(v.text, v.len, pattern_names[i])) {
			*out = (enum disk_pattern)i;
			return true;
		}
	}
	return false;
}

/* Size keys; the span defaults to the disk's size when smaller than 4 MiB. */
static enum guest_status parse_sizes(const char *cmdline, struct disk_run *r, uint64_t *span)
{
	uint64_t bs;
	struct guest_disk *disk = r->disk;
	uint64_t capacity = disk->blocks * disk->block_size;
	if (!cmdline_lookup_u64(cmdline, "iovirt.disk.bs", DISK_DEFAULT_BS, &bs) || bs == 0 ||
	    bs % disk->block_size || bs > (16u << 20))
		return BAD_PARAMS("iovirt.disk.bs must be a multiple of the %u-byte block size, at most 16 MiB",
				  disk->block_size);
	struct cmdline_value unused;
	bool span_given = cmdline_lookup(cmdline, "iovirt.disk.span", &unused);
	if (!cmdline_lookup_u64(cmdline, "iovirt.disk.span", DISK_DEFAULT_SPAN, span) || *span < bs ||
	    *span % bs)
		return BAD_PARAMS("iovirt.disk.span must be a nonzero multiple of iovirt.disk.bs (%lu)", bs);
	if (*span > capacity) {
		if (span_given || capacity < bs)
			return BAD_PARAMS("iovirt.disk.span %lu is larger than the %lu-byte disk", *span, capacity);
		*span = capacity / bs * bs;
	}
	r->bs = (uint32_t)bs;
	r->blocks_per_io = (uint32_t)(bs / disk->block_size);
	r->span_ios = *span / bs;
	return GUEST_STATUS_PASS;
}

enum guest_status test_disk_run(const struct guest_test_env *env)
{
	static struct guest_disk disk;
	struct pci_scan scan;
	struct guest_io_options opts;
	const char *err = workload_setup(env->cmdline, "iovirt.disk.qd", &scan, &opts);
	if (err)
		return BAD_PARAMS("disk: %s", err);
	enum disk_pattern pattern;
	if (!parse_pattern(env->cmdline, &pattern))
		return BAD_PARAMS("disk: iovirt.disk.pattern must be randread, randwrite, seqread, seqwrite or verify");
	uint64_t ops, ms;
	if (!cmdline_lookup_u64(env->cmdline, "iovirt.disk.ops", DISK_DEFAULT_OPS, &ops) || ops == 0)
		return BAD_PARAMS("disk: iovirt.disk.ops must be a positive number");
	if (!cmdline_lookup_u64(env->cmdline, "iovirt.disk.ms", 0, &ms))
		return BAD_PARAMS("disk: iovirt.disk.ms must be a number of milliseconds");
	if (ms && !guest_results.tsc_khz)
		return BAD_PARAMS("disk: iovirt.disk.ms needs a known TSC rate and this CPU reports none; use "
				  "iovirt.disk.ops");

	err = workload_disk_open(env->cmdline, &scan, &opts, &disk);
	if (err)
		return FAIL("disk: %s", err);
	if (disk.block_size < 512 || disk.block_size % 8 || disk.max_queue_depth == 0)
		return FAIL("disk: %s reports block size %u and queue depth %u", disk.name, disk.block_size,
			    disk.max_queue_depth);

	struct disk_run r = { .disk = &disk, .mode = opts.mode };
	r.qd = opts.queue_depth < disk.max_queue_depth ? opts.queue_depth : disk.max_queue_depth;
	if (r.qd > DISK_MAX_QD)
		r.qd = DISK_MAX_QD;
	uint64_t span;
	enum guest_status st = parse_sizes(env->cmdline, &r, &span);
	if (st != GUEST_STATUS_PASS)
		return st;
	r.bufs = page_alloc_uninit(((uint64_t)r.qd * r.bs + 4095u) / 4096u, 4096);
	if (!r.bufs)
		return BAD_PARAMS("disk: not enough guest memory for %u buffers of %u bytes; lower qd or bs", r.qd,
				  r.bs);
	r.seed = (rdtsc() * 0x2545F4914F6CDD1Dull) | 1u;
	r.rng = r.seed;

	workload_results_begin(disk.kind, r.qd, r.bs);
	guest_printf("disk: %s pattern=%s bs=%u qd=%u span=%lu mode=%s seed=0x%lx\n", disk.name,
		     pattern_names[pattern], r.bs, r.qd, span, opts.mode == GUEST_IO_IRQ ? "irq" : "poll", r.seed);

	bool is_read = pattern == PATTERN_RANDREAD || pattern == PATTERN_SEQREAD;
	if (is_read) {
		/* Untimed: give every block a stamp the timed reads can check. */
		struct phase_spec fill = { .write = true, .count = r.span_ios };
		err = phase_run(&r, &fill);
		if (!err && r.errors)
			err = "the fill before the timed reads had I/O errors";
		if (err)
			return FAIL("disk: fill: %s", err);
	}

	uint64_t deadline = ms ? workload_deadline_after_ms(ms) : 0;
	struct phase_spec timed[2];
	unsigned phases = 1;
	switch (pattern) {
	case PATTERN_VERIFY:
		timed[0] = (struct phase_spec){ .write = true, .full_pattern = true, .count = r.span_ios, .timed = true };
		timed[1] = (struct phase_spec){ .check = CHECK_FULL, .count = r.span_ios, .timed = true };
		phases = 2;
		break;
	case PATTERN_RANDREAD:
	case PATTERN_SEQREAD:
		timed[0] = (struct phase_spec){ .check = CHECK_STAMP, .random = pattern == PATTERN_RANDREAD,
						.count = ops, .deadline = deadline, .timed = true };
		break;
	case PATTERN_RANDWRITE:
	case PATTERN_SEQWRITE:
		timed[0] = (struct phase_spec){ .write = true, .random = pattern == PATTERN_RANDWRITE, .count = ops,
						.deadline = deadline, .timed = true };
		break;
	}

	struct workload_phase measured;
	workload_phase_begin(&measured, &disk.notifications, &disk.interrupts);
	err = NULL;
	for (unsigned i = 0; i < phases && !err; i++)
		err = phase_run(&r, &timed[i]);
	workload_phase_end(&measured);
	struct guest_workload_results *w = &guest_results.workload;
	w->ops = r.ops;
	w->bytes = r.bytes;
	w->errors = r.errors;
	w->verify_failures = r.verify_failures;

	guest_printf("RESULT pattern=%s\n", pattern_names[pattern]);
	guest_printf("RESULT mode=%s\n", opts.mode == GUEST_IO_IRQ ? "irq" : "poll");
	guest_printf("RESULT span=%lu\n", span);
	guest_printf("RESULT disk_block_size=%u\n", disk.block_size);
	guest_printf("RESULT disk_seed=0x%lx\n", r.seed);
	workload_print_results();

	if (err)
		return FAIL("disk: %s", err);
	if (r.errors)
		return FAIL("disk: %lu of %lu I/Os failed on %s", r.errors, r.ops + r.errors, disk.name);
	if (r.verify_failures)
		return FAIL("disk: %lu reads did not match what was written (first at LBA %lu)", r.verify_failures,
			    r.first_bad_lba);
	results_set_message("disk: %s %s: %lu I/Os of %u bytes at qd %u, all checked", disk.name,
			    pattern_names[pattern], r.ops, r.bs, r.qd);
	return GUEST_STATUS_PASS;
}
