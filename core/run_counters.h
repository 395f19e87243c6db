/* A snapshot of everything a VM counts, taken at a point in time: at the
 * guest's "measured phase" markers and at the end of a run. The difference
 * of two snapshots is what one phase cost, which is what per-I/O figures in
 * the benchmark are made of. */
#ifndef IOVIRT_CORE_RUN_COUNTERS_H
#define IOVIRT_CORE_RUN_COUNTERS_H

#include <stdint.h>

#define RUN_COUNTERS_MAX_DEVICES 16

struct device_counter_values {
	uint64_t pio_exits, mmio_exits, ioeventfd_kicks, interrupts, requests;
	uint64_t bytes_read, bytes_written, faults, vmm_cpu_ns;
};

struct run_counters {
	uint64_t ns;                   /* CLOCK_MONOTONIC */
	struct {
		uint64_t exits, pio_exits, mmio_exits, other_exits;
		uint64_t handling_ns;      /* vCPU thread time spent handling exits in the VMM */
	} vcpu;                        /* summed over vCPUs */
	struct {
		uint64_t exits, io_exits, mmio_exits, halt_exits, irq_injections;
	} kernel;                      /* KVM binary stats, summed; zero if absent */
	uint64_t io_thread_cpu_ns;
	uint64_t process_cpu_ns;       /* user+system of the whole process (guest time included) */
	unsigned ndevices;
	struct {
		char name[48];
		struct device_counter_values values;
	} devices[RUN_COUNTERS_MAX_DEVICES];
};

struct vm;

void run_counters_snapshot(struct vm *vm, struct run_counters *out);
/* after - before, field by field (device lists must match). */
void run_counters_delta(const struct run_counters *before, const struct run_counters *after,
			struct run_counters *delta);
/* Sum of the devices' values in a snapshot. */
void run_counters_device_total(const struct run_counters *c, struct device_counter_values *total);

#endif
