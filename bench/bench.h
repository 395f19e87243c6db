/* The main job: a matrix of device x model x workload on the built-in guest,
 * each cell run `reps` times, every figure read from counters or from the
 * guest's own clock, never guessed. The pieces: bench_matrix.c runs cells,
 * bench_sample.c turns one run into figures, bench_report_*.c write the
 * table, JSON, CSV and HTML, bench_qemu.c runs the same guest under QEMU. */
#ifndef IOVIRT_BENCH_BENCH_H
#define IOVIRT_BENCH_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "guest/abi.h"

#define BENCH_MAX_REPS 20
#define BENCH_MAX_CELLS 64
#define BENCH_SCHEMA_VERSION 1

enum bench_device { BENCH_DISK = 0, BENCH_NIC = 1 };

enum bench_model { BENCH_EMULATED = 0, BENCH_SPLIT = 1, BENCH_PASSTHROUGH = 2, BENCH_MODEL_COUNT };

struct bench_workload {
	const char *name;            /* "randread-4k-qd1", "echo-64" */
	enum bench_device device;
	const char *pattern;         /* the guest's iovirt.disk.pattern / iovirt.nic.pattern */
	unsigned size;               /* block size or frame size, bytes */
	unsigned qd;
};

/* Figures of one run; every one is per I/O (or per frame echoed) except the
 * throughput and latency ones. */
enum bench_metric {
	BENCH_IOPS,              /* I/Os (or echoes) per second, guest TSC */
	BENCH_MBPS,              /* 10^6 bytes per second */
	BENCH_P50_US,
	BENCH_P99_US,
	BENCH_P999_US,
	BENCH_USER_EXITS,        /* every exit to the VMM in the measured phase */
	BENCH_DEVICE_PIO,        /* of those, PIO exits into the device */
	BENCH_DEVICE_MMIO,       /* of those, MMIO exits into the device */
	BENCH_KERNEL_EXITS,      /* KVM's own exit count (includes the above) */
	BENCH_KICKS,             /* ioeventfd notifications (never reach user space) */
	BENCH_INTERRUPTS,        /* interrupts the device raised (pass-through: the guest took) */
	BENCH_VMM_CPU_US,        /* VMM time: exit handling + the I/O thread */
	BENCH_NOTIFICATIONS,     /* doorbell writes / kicks the guest made */
	BENCH_METRIC_COUNT
};

struct bench_metric_info {
	const char *key;             /* JSON/CSV name */
	const char *label;           /* table heading */
	const char *unit;
	bool per_io;
};
extern const struct bench_metric_info bench_metrics[BENCH_METRIC_COUNT];

struct bench_sample {
	bool ok;
	double value[BENCH_METRIC_COUNT];
	unsigned cpl;                /* ring the guest's driver loop ran in */
};

struct bench_stat {
	double median, min, max;
};

enum bench_cell_state { BENCH_CELL_OK, BENCH_CELL_SKIPPED, BENCH_CELL_FAILED };

struct bench_cell {
	const struct bench_workload *workload;
	enum bench_model model;
	enum bench_cell_state state;
	char why[520];               /* for skipped and failed cells */
	unsigned cpl;                /* mode used (0 or 3) */
	unsigned nsamples;
	struct bench_sample samples[BENCH_MAX_REPS];
	struct bench_stat stat[BENCH_METRIC_COUNT];
	uint64_t lat_hist[GUEST_LAT_BUCKETS];   /* summed over the repetitions, in cycles */
	double tsc_khz;
	double baseline_iops;        /* host-native, same workload; 0 if not measured */
	/* The same guest and workload under QEMU's device model (--peer qemu). */
	bool peer_ran;
	bool peer_ok;
	char peer_why[160];
	double peer_iops, peer_p50_us, peer_p99_us;
};

struct bench_config {
	unsigned duration_ms;        /* measured phase per run */
	unsigned reps;
	unsigned cpus;
	bool devices[2];             /* disk, nic */
	bool models[BENCH_MODEL_COUNT];
	const char *workload_filter; /* comma list of workload names; NULL: all */
	unsigned bs;                 /* override the disk workloads' block size (0: theirs) */
	unsigned qd;                 /* override every workload's queue depth (0: theirs) */
	const char *disk_options;    /* extra --disk options, e.g. "path=/tmp/x.img" */
	const char *nic_backend;     /* --nic backend=...; NULL: loopback */
	const char *vfio_disk;       /* BDF for the passthrough disk rows */
	const char *vfio_nic;
	int cpl;                     /* 0, 3, or -1: measure both, keep the faster */
	bool baseline;               /* run the host-native baseline for the ratio column */
	bool peer_qemu;
	FILE *progress;
};

struct bench_run {
	struct bench_config config;
	unsigned ncells;
	struct bench_cell cells[BENCH_MAX_CELLS];
	double host_tsc_khz;
	char started[32];            /* ISO-8601 UTC */
};

extern const struct bench_workload bench_workloads[];
extern const unsigned bench_workload_count;
const char *bench_model_name(enum bench_model model);

void bench_config_defaults(struct bench_config *config);
/* Runs the whole matrix; 0, or -1 when no cell could run at all. */
int bench_run_matrix(struct bench_run *run);

/* One guest run's figures (bench_sample.c). */
struct guest_run_outcome;
void bench_sample_from_outcome(const struct guest_run_outcome *outcome, struct bench_sample *sample,
			       uint64_t lat_hist_out[GUEST_LAT_BUCKETS]);
void bench_cell_summarize(struct bench_cell *cell);
/* Percentile (0..100] of a cycle histogram, in cycles (bucket midpoint). */
double bench_hist_percentile(const uint64_t *hist, double percent);

/* QEMU side by side (bench_qemu.c): fills the peer fields of each cell. */
void bench_run_qemu_peer(struct bench_run *run);

/* Reports (bench_report_*.c). */
void bench_report_table(const struct bench_run *run, FILE *out);
int bench_report_json(const struct bench_run *run, const char *path);
int bench_report_csv(const struct bench_run *run, const char *path);
int bench_report_html(const struct bench_run *run, const char *dir);

#endif
