/* The workload runner's shared parts (guest/workload.c), used by the disk and
 * NIC workloads (guest/test_disk.c, guest/test_nic.c): option parsing, driver
 * choice by iovirt.dev, the latency histogram, bounded waits and the RESULT
 * lines. The drivers themselves only see guest/workload.h. */
#ifndef IOVIRT_GUEST_WORKLOAD_RUNNER_H
#define IOVIRT_GUEST_WORKLOAD_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/results.h"
#include "guest/workload.h"

/* Longest a run may go without any completion before it is declared hung. */
#define WORKLOAD_STALL_MS 5000u

/* Reads iovirt.io.mode, the queue depth under qd_key (default 1) and
 * iovirt.cpl (kept for workload_phase_begin). NULL, or a one-line reason
 * naming the bad key. */
const char *workload_io_options_parse(const char *cmdline, const char *qd_key,
				      struct guest_io_options *opts);

/* The start the disk and NIC workloads share: scans bus 0 (its function
 * count goes into guest_results) and parses the I/O options as above. NULL,
 * or the options' one-line reason. */
const char *workload_setup(const char *cmdline, const char *qd_key, struct pci_scan *scan,
			   struct guest_io_options *opts);

/* Probes the driver iovirt.dev names (auto: the first whose probe succeeds).
 * NULL on success, else a one-line reason (every tried driver's reason). */
const char *workload_disk_open(const char *cmdline, const struct pci_scan *scan,
			       const struct guest_io_options *opts, struct guest_disk *disk);
const char *workload_nic_open(const char *cmdline, const struct pci_scan *scan,
			      const struct guest_io_options *opts, struct guest_nic *nic);

/* The measured phase: the device's counters (notifications, interrupts) it
 * reads and their values when it began, and its starting TSC. */
struct workload_phase {
	const uint64_t *notifications, *interrupts;
	uint64_t notifications_start, interrupts_start;
	uint64_t start_tsc;
};

/* Brackets the measured phase for the VMM (GUEST_CTL_PORT_PHASE), so its
 * per-I/O counters cover exactly that phase (the markers are ignored under
 * QEMU). With iovirt.cpl=3, begin returns in ring 3 (guest/usermode.h) and
 * end back in ring 0; begin records the ring in guest_results.workload.cpl.
 * The TSC is read inside the markers; end stores the phase's cycles and the
 * growth of the two counters into guest_results.workload. */
void workload_phase_begin(struct workload_phase *phase, const uint64_t *notifications,
			  const uint64_t *interrupts);
void workload_phase_end(const struct workload_phase *phase);

/* Clears guest_results.workload and stamps the run's shape into it. */
void workload_results_begin(enum guest_device_kind kind, unsigned queue_depth, uint32_t block_size);
/* One I/O's latency into the results histogram. */
static inline void workload_record_latency(uint64_t cycles)
{
	guest_results.workload.lat_hist[guest_lat_bucket(cycles)]++;
}

/* A stall watch: started when the runner begins waiting with work
 * outstanding, reset on progress. Uses the TSC when its rate is known, else
 * counts waits (irq mode: each is bounded by the driver) or polls. */
struct workload_stall {
	uint64_t start_tsc;
	uint64_t rounds;
};
void workload_stall_reset(struct workload_stall *s);
/* True once the watch has gone WORKLOAD_STALL_MS (or its round bound). */
bool workload_stall_expired(struct workload_stall *s, enum guest_io_mode mode);

/* TSC value ms milliseconds from now; 0 when the TSC rate is unknown. */
uint64_t workload_deadline_after_ms(uint64_t ms);

/* Percentile (0..100) of the recorded latencies: the lowest cycle count of
 * the histogram bucket holding it; 0 if nothing was recorded. */
uint64_t workload_latency_percentile(unsigned percent);

/* Prints the workload RESULT lines common to disk and NIC runs (ops, bytes,
 * errors, verify_failures, cycles, interrupts, notifications, iops,
 * p50/p99/max cycles). */
void workload_print_results(void);

const char *workload_device_kind_name(enum guest_device_kind kind);

#endif
