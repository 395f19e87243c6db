#include "bench/baseline_disk.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/block_engine.h"
#include "core/disk_image.h"
#include "core/io_thread.h"

/* Latency histogram, log-linear: exact below 32 ns, then 32 buckets per
 * power of two (bucket width <= 1/32 of its value). Fixed size, so millions
 * of I/Os cost nothing to record. */
#define HIST_SUB_BITS 5
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct latency_hist {
	uint64_t counts[HIST_BUCKETS];
	uint64_t total;
	double sum_ns;
};

static unsigned hist_bucket(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - HIST_SUB_BITS;
	return (msb - HIST_SUB_BITS + 1) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

/* Midpoint of a bucket's value range. */
static double hist_bucket_value(unsigned b)
{
	if (b < HIST_SUB)
		return b;
	unsigned group = b / HIST_SUB;           /* >= 1 */
	unsigned shift = group - 1;
	uint64_t low = ((uint64_t)(HIST_SUB + b % HIST_SUB)) << shift;
	uint64_t width = 1ull << shift;
	return (double)low + (double)(width - 1) / 2.0;
}

static void hist_add(struct latency_hist *h, uint64_t ns)
{
	h->counts[hist_bucket(ns)]++;
	h->total++;
	h->sum_ns += (double)ns;
}

static double hist_quantile_ns(const struct latency_hist *h, double q)
{
	if (h->total == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)h->total);
	if (rank >= h->total)
		rank = h->total - 1;
	uint64_t seen = 0;
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		seen += h->counts[b];
		if (seen > rank)
			return hist_bucket_value(b);
	}
	return 0;
}

struct run;

struct io_slot {
	struct block_request req;
	struct iovec iov;
	uint64_t start_ns;
	struct run *run;
};

struct run {
	struct block_engine *engine;
	enum baseline_disk_workload workload;
	unsigned block_size;
	uint64_t nblocks;
	uint64_t seq_cursor;
	uint64_t rng;
	uint64_t deadline_ns;
	unsigned outstanding;
	uint64_t ops, bytes, errors;
	struct latency_hist hist;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void slot_complete(void *cookie, enum block_status status, uint64_t bytes);

static bool slot_issue(struct io_slot *s)
{
	struct run *r = s->run;
	uint64_t block;
	if (r->workload == BASELINE_SEQREAD_128K) {
		block = r->seq_cursor;
		r->seq_cursor = (r->seq_cursor + 1) % r->nblocks;
	} else {
		block = xorshift64(&r->rng) % r->nblocks;
	}
	uint64_t offset = block * r->block_size;
	enum block_status st;
	s->start_ns = now_ns();
	if (r->workload == BASELINE_RANDWRITE_4K)
		st = block_engine_writev(r->engine, &s->req, offset, &s->iov, 1, slot_complete, s);
	else
		st = block_engine_readv(r->engine, &s->req, offset, &s->iov, 1, slot_complete, s);
	if (st != BLOCK_OK) {
		r->errors++;
		return false;
	}
	r->outstanding++;
	return true;
}

static void slot_complete(void *cookie, enum block_status status, uint64_t bytes)
{
	struct io_slot *s = cookie;
	struct run *r = s->run;
	uint64_t t = now_ns();
	r->outstanding--;
	if (status != BLOCK_OK || bytes != r->block_size) {
		r->errors++;
		return; /* a failing run winds down instead of spinning on errors */
	}
	hist_add(&r->hist, t - s->start_ns);
	r->ops++;
	r->bytes += bytes;
	if (t < r->deadline_ns)
		slot_issue(s);
}

static bool run_drained(void *opaque)
{
	const struct run *r = opaque;
	return r->outstanding == 0;
}

/* Reads the whole file once so the measured run finds it in page cache. */
static int warm_file(int fd, uint64_t size, void *buf, size_t buflen)
{
	for (uint64_t off = 0; off < size; ) {
		ssize_t n = pread(fd, buf, buflen, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (uint64_t)n;
	}
	return 0;
}

static int fill_file(int fd, uint64_t size, void *buf, size_t buflen)
{
	memset(buf, 0xA5, buflen);
	for (uint64_t off = 0; off < size; ) {
		size_t len = size - off < buflen ? (size_t)(size - off) : buflen;
		ssize_t n = pwrite(fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (uint64_t)n;
	}
	return 0;
}

static double rusage_cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

const char *baseline_disk_workload_name(enum baseline_disk_workload w)
{
	switch (w) {
	case BASELINE_RANDREAD_4K: return "randread";
	case BASELINE_RANDWRITE_4K: return "randwrite";
	case BASELINE_SEQREAD_128K: return "seqread";
	default: return "?";
	}
}

static unsigned workload_block_size(enum baseline_disk_workload w)
{
	return w == BASELINE_SEQREAD_128K ? 128u * 1024 : 4096u;
}

#define WARM_CHUNK (1u << 20)

static int measure(struct io_thread *thread, struct block_engine *engine, const struct disk_image *img,
		   const struct baseline_disk_config *config, enum baseline_disk_workload workload,
		   unsigned qd, uint8_t *buffers, uint8_t *warm_buf, struct baseline_disk_result *out)
{
	struct run *r = calloc(1, sizeof(*r));
	struct io_slot *slots = calloc(qd, sizeof(*slots));
	if (!r || !slots) {
		free(r);
		free(slots);
		fprintf(stderr, "baseline: out of memory\n");
		return -1;
	}
	r->engine = engine;
	r->workload = workload;
	r->block_size = workload_block_size(workload);
	r->nblocks = img->size / r->block_size;
	r->rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)qd << 32) ^ workload;
	for (unsigned i = 0; i < qd; i++) {
		slots[i].run = r;
		slots[i].iov.iov_base = buffers + (size_t)i * r->block_size;
		slots[i].iov.iov_len = r->block_size;
	}
	if (!config->direct && warm_file(img->fd, img->size, warm_buf, WARM_CHUNK) != 0) {
		fprintf(stderr, "baseline: cannot read %s to warm it: %s\n", img->path, strerror(errno));
		free(slots);
		free(r);
		return -1;
	}
	unsigned duration = config->duration_ms ? config->duration_ms : 2000;
	double cpu0 = rusage_cpu_us();
	uint64_t t0 = now_ns();
	r->deadline_ns = t0 + (uint64_t)duration * 1000000ull;
	for (unsigned i = 0; i < qd; i++)
		slot_issue(&slots[i]);
	int rc = io_thread_run_until(thread, run_drained, r);
	uint64_t t1 = now_ns();
	double cpu1 = rusage_cpu_us();
	if (rc < 0) {
		fprintf(stderr, "baseline: the I/O loop failed: %s\n", strerror(-rc));
		free(slots);
		free(r);
		return -1;
	}
	double secs = (double)(t1 - t0) / 1e9;
	*out = (struct baseline_disk_result){
		.workload = workload,
		.name = baseline_disk_workload_name(workload),
		.block_size = r->block_size,
		.qd = qd,
		.ops = r->ops,
		.bytes = r->bytes,
		.errors = r->errors,
		.seconds = secs,
		.iops = secs > 0 ? (double)r->ops / secs : 0,
		.mb_per_s = secs > 0 ? (double)r->bytes / secs / 1e6 : 0,
		.lat_mean_us = r->hist.total ? r->hist.sum_ns / (double)r->hist.total / 1e3 : 0,
		.lat_p50_us = hist_quantile_ns(&r->hist, 0.50) / 1e3,
		.lat_p99_us = hist_quantile_ns(&r->hist, 0.99) / 1e3,
		.cpu_us_per_io = r->ops ? (cpu1 - cpu0) / (double)r->ops : 0,
	};
	free(slots);
	free(r);
	return 0;
}

static const unsigned default_qds[] = { 1, 8, 32 };

int baseline_disk_run(const struct baseline_disk_config *config,
		      struct baseline_disk_result *results, unsigned max, unsigned *n,
		      FILE *progress)
{
	*n = 0;
	const unsigned *qds = config->qds ? config->qds : default_qds;
	unsigned nqds = config->qds ? config->nqds : 3;
	unsigned max_qd = 0;
	if (nqds == 0 || nqds > BASELINE_MAX_QDS) {
		fprintf(stderr, "baseline: give 1 to %d queue depths\n", BASELINE_MAX_QDS);
		return -1;
	}
	for (unsigned i = 0; i < nqds; i++) {
		if (qds[i] == 0 || qds[i] > 1024) {
			fprintf(stderr, "baseline: queue depth %u is out of range (1..1024)\n", qds[i]);
			return -1;
		}
		if (qds[i] > max_qd)
			max_qd = qds[i];
	}
	unsigned workloads = config->workloads ? config->workloads
					       : (1u << BASELINE_WORKLOAD_COUNT) - 1;

	/* Pin before anything touches the file, restore the caller's mask after. */
	cpu_set_t old_mask, mask;
	bool pinned = config->cpu != BASELINE_CPU_UNPINNED &&
		      sched_getaffinity(0, sizeof(old_mask), &old_mask) == 0;
	int cpu = config->cpu >= 0 ? config->cpu : sched_getcpu();
	CPU_ZERO(&mask);
	CPU_SET(cpu < 0 ? 0 : cpu, &mask);
	if (pinned && sched_setaffinity(0, sizeof(mask), &mask) != 0) {
		fprintf(stderr, "baseline: cannot pin to CPU %d: %s; give a CPU this process may use\n",
			cpu, strerror(errno));
		return -1;
	}

	char err[256];
	int ret = -1;
	struct disk_image img = { .fd = -1 };
	struct io_thread *thread = NULL;
	struct block_engine *engine = NULL;
	uint8_t *buffers = NULL, *warm_buf = NULL;
	struct disk_image_options opts = { .direct = config->direct };
	int rc = config->path ? disk_image_open(&img, config->path, &opts, err, sizeof(err))
			      : disk_image_create_temp(&img, config->file_size, &opts, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "baseline: %s\n", err);
		goto out;
	}
	if (img.size < 128u * 1024) {
		fprintf(stderr, "baseline: %s is too small; give at least 128 KiB\n", img.path);
		goto out;
	}
	buffers = aligned_alloc(4096, (size_t)max_qd * 128 * 1024);
	warm_buf = aligned_alloc(4096, WARM_CHUNK);
	if (!buffers || !warm_buf) {
		fprintf(stderr, "baseline: out of memory\n");
		goto out;
	}
	memset(buffers, 0x5A, (size_t)max_qd * 128 * 1024);
	if (img.temporary && fill_file(img.fd, img.size, warm_buf, WARM_CHUNK) != 0) {
		fprintf(stderr, "baseline: cannot fill the temporary file: %s\n", strerror(errno));
		goto out;
	}
	unsigned entries = 256;
	while (entries < 2 * max_qd)
		entries *= 2;
	thread = io_thread_create(entries, err, sizeof(err));
	if (!thread) {
		fprintf(stderr, "baseline: %s\n", err);
		goto out;
	}
	struct block_engine_config ec = { .fd = img.fd, .size = img.size, .queue_depth = max_qd,
					  .use_fixed_file = config->fixed_file };
	engine = block_engine_create(thread, &ec, err, sizeof(err));
	if (!engine) {
		fprintf(stderr, "baseline: %s\n", err);
		goto out;
	}
	for (unsigned w = 0; w < BASELINE_WORKLOAD_COUNT; w++) {
		if (!(workloads & BASELINE_WORKLOAD_BIT(w)))
			continue;
		for (unsigned i = 0; i < nqds && *n < max; i++) {
			struct baseline_disk_result *res = &results[*n];
			if (measure(thread, engine, &img, config, w, qds[i], buffers, warm_buf, res) != 0)
				goto out;
			(*n)++;
			if (progress) {
				fprintf(progress, "%-9s %3uk qd%-3u %9.0f IOPS %8.1f MB/s  lat p50 %7.1f us"
					"  p99 %7.1f us  cpu %5.2f us/io%s\n",
					res->name, res->block_size / 1024, res->qd, res->iops, res->mb_per_s,
					res->lat_p50_us, res->lat_p99_us, res->cpu_us_per_io,
					res->errors ? "  (ERRORS)" : "");
				fflush(progress);
			}
		}
	}
	ret = 0;
out:
	block_engine_destroy(engine);
	io_thread_destroy(thread);
	disk_image_close(&img);
	free(buffers);
	free(warm_buf);
	if (pinned)
		sched_setaffinity(0, sizeof(old_mask), &old_mask);
	return ret;
}
