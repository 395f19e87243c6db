/* The host-native disk baseline: the block engine driven straight from this
 * process, with no guest and no device model. Every model's disk numbers are
 * read against it. The engine is polled inline on the calling thread, pinned
 * to one CPU, and the file is warmed right before each run (a reclaimer here
 * evicts cold page cache). */
#ifndef IOVIRT_BENCH_BASELINE_DISK_H
#define IOVIRT_BENCH_BASELINE_DISK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum baseline_disk_workload {
	BASELINE_RANDREAD_4K = 0,
	BASELINE_RANDWRITE_4K,
	BASELINE_SEQREAD_128K,
	BASELINE_WORKLOAD_COUNT
};

#define BASELINE_WORKLOAD_BIT(w) (1u << (w))
#define BASELINE_MAX_QDS 8
#define BASELINE_CPU_UNPINNED (-2)

struct baseline_disk_config {
	const char *path;        /* NULL: a temporary file (filled with data first).
				  * A given file is overwritten by the write runs. */
	uint64_t file_size;      /* temporary file size; 0: 64 MiB */
	unsigned duration_ms;    /* per run; 0: 2000 */
	const unsigned *qds;     /* queue depths; NULL: 1, 8, 32 */
	unsigned nqds;
	unsigned workloads;      /* BASELINE_WORKLOAD_BIT mask; 0: all three */
	int cpu;                 /* pin to this CPU; -1: the CPU we are on;
				  * BASELINE_CPU_UNPINNED: leave scheduling alone */
	bool direct;             /* O_DIRECT (then warming is skipped) */
	bool fixed_file;         /* registered file in the ring */
};

struct baseline_disk_result {
	enum baseline_disk_workload workload;
	const char *name;        /* "randread", "randwrite", "seqread" */
	unsigned block_size;
	unsigned qd;
	uint64_t ops;
	uint64_t bytes;
	uint64_t errors;         /* completions that were not BLOCK_OK */
	double seconds;
	double iops;
	double mb_per_s;         /* 10^6 bytes per second */
	double lat_mean_us;
	double lat_p50_us;
	double lat_p99_us;       /* histogram: within ~3% of the true value */
	double cpu_us_per_io;    /* process user+system CPU / ops */
};

/* Runs each selected workload at each queue depth, in that order, writing up
 * to max results. Progress lines (one per result) go to progress if not NULL.
 * Returns 0, or -1 after printing one line saying why to stderr. */
int baseline_disk_run(const struct baseline_disk_config *config,
		      struct baseline_disk_result *results, unsigned max, unsigned *n,
		      FILE *progress);

const char *baseline_disk_workload_name(enum baseline_disk_workload w);

#endif
