/* PIO and MMIO buses: devices claim address ranges and get read/write
 * callbacks on the vCPU thread that trapped. Lookup is by interval. */
#ifndef IOVIRT_CORE_BUS_H
#define IOVIRT_CORE_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/counters.h"

/* `offset` is relative to the start of the claimed range; `data` holds `len`
 * bytes (1, 2, 4 or 8), little endian, as KVM hands them over. */
struct bus_region_ops {
	void (*read)(void *opaque, uint64_t offset, void *data, uint32_t len);
	void (*write)(void *opaque, uint64_t offset, const void *data, uint32_t len);
};

struct bus_region {
	uint64_t base;
	uint64_t len;
	const struct bus_region_ops *ops;
	void *opaque;
	const char *name;
	struct device_counters *counters; /* may be NULL */
};

enum bus_kind { BUS_PIO, BUS_MMIO };

#define BUS_UNCLAIMED_LOG_MAX 64

struct bus {
	enum bus_kind kind;
	pthread_rwlock_t lock;
	struct bus_region *regions;     /* sorted by base, never overlapping */
	unsigned nregions, capacity;
	atomic_uint_fast64_t unclaimed_accesses;
	/* Unclaimed addresses already logged, so each is logged once. */
	pthread_mutex_t unclaimed_lock;
	uint64_t unclaimed_logged[BUS_UNCLAIMED_LOG_MAX];
	unsigned nunclaimed_logged;
};

void bus_init(struct bus *bus, enum bus_kind kind);
void bus_destroy(struct bus *bus);

/* Claims [base, base+len). Returns 0, or -1 (and logs why) if the range is
 * empty, wraps, or overlaps a range already claimed. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_region_ops *ops, void *opaque, const char *name,
		 struct device_counters *counters);
/* Releases the range that starts at base and belongs to opaque. */
int bus_unregister(struct bus *bus, uint64_t base, void *opaque);

/* Dispatch an access. Returns true when a device claimed it; an unclaimed read
 * fills data with all-ones, an unclaimed access is counted and logged once. */
bool bus_read(struct bus *bus, uint64_t addr, void *data, uint32_t len);
bool bus_write(struct bus *bus, uint64_t addr, const void *data, uint32_t len);

#endif
