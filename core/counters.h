/* Counters every device and vCPU keeps, so a benchmark can report exits,
 * interrupts, bytes and CPU per I/O for each model. Updated from any thread. */
#ifndef IOVIRT_CORE_COUNTERS_H
#define IOVIRT_CORE_COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>

struct device_counters {
	atomic_uint_fast64_t pio_exits;       /* userspace PIO exits into this device */
	atomic_uint_fast64_t mmio_exits;      /* userspace MMIO exits into this device */
	atomic_uint_fast64_t ioeventfd_kicks; /* notifications that never left the kernel */
	atomic_uint_fast64_t interrupts;      /* MSI/MSI-X/INTx raised */
	atomic_uint_fast64_t requests;        /* I/O requests completed */
	atomic_uint_fast64_t bytes_read;      /* device -> guest */
	atomic_uint_fast64_t bytes_written;   /* guest -> device */
	atomic_uint_fast64_t faults;          /* guest mistakes the device refused */
	atomic_uint_fast64_t vmm_cpu_ns;      /* VMM CPU spent on this device's I/O */
};

struct vcpu_counters {
	atomic_uint_fast64_t exits;           /* every return from KVM_RUN */
	atomic_uint_fast64_t pio_exits;
	atomic_uint_fast64_t mmio_exits;
	atomic_uint_fast64_t hlt_exits;
	atomic_uint_fast64_t other_exits;
	atomic_uint_fast64_t unclaimed_accesses;
	atomic_uint_fast64_t handling_ns;     /* time spent dispatching exits in the VMM */
};

static inline void counter_add(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t counter_get(const atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

#endif
