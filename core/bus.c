#include "core/bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

void bus_init(struct bus *bus, enum bus_kind kind)
{
	memset(bus, 0, sizeof(*bus));
	bus->kind = kind;
	pthread_rwlock_init(&bus->lock, NULL);
	pthread_mutex_init(&bus->unclaimed_lock, NULL);
}

void bus_destroy(struct bus *bus)
{
	free(bus->regions);
	bus->regions = NULL;
	bus->nregions = bus->capacity = 0;
	pthread_rwlock_destroy(&bus->lock);
	pthread_mutex_destroy(&bus->unclaimed_lock);
}

static const char *bus_name(const struct bus *bus)
{
	return bus->kind == BUS_PIO ? "PIO" : "MMIO";
}

/* Index of the first region whose base is > addr. */
static unsigned bus_upper_bound(const struct bus *bus, uint64_t addr)
{
	unsigned lo = 0, hi = bus->nregions;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (bus->regions[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_region_ops *ops, void *opaque, const char *name,
		 struct device_counters *counters)
{
	if (len == 0 || base + len < base) {
		log_error("%s bus: %s: invalid range 0x%llx+0x%llx", bus_name(bus), name,
			  (unsigned long long)base, (unsigned long long)len);
		return -1;
	}
	pthread_rwlock_wrlock(&bus->lock);
	unsigned pos = bus_upper_bound(bus, base);
	/* Only the neighbours can overlap: the one before and the one at pos. */
	const struct bus_region *clash = NULL;
	if (pos > 0) {
		const struct bus_region *prev = &bus->regions[pos - 1];
		if (prev->base + prev->len > base)
			clash = prev;
	}
	if (!clash && pos < bus->nregions && bus->regions[pos].base < base + len)
		clash = &bus->regions[pos];
	if (clash) {
		/* Debug only: a guest moving a BAR onto a taken range would flood the log;
		 * callers report the refusal in their own words. */
		log_debug("%s bus: %s at 0x%llx+0x%llx overlaps %s at 0x%llx+0x%llx", bus_name(bus),
			  name, (unsigned long long)base, (unsigned long long)len, clash->name,
			  (unsigned long long)clash->base, (unsigned long long)clash->len);
		pthread_rwlock_unlock(&bus->lock);
		return -1;
	}
	if (bus->nregions == bus->capacity) {
		unsigned cap = bus->capacity ? bus->capacity * 2 : 16;
		struct bus_region *grown = realloc(bus->regions, cap * sizeof(*grown));
		if (!grown) {
			pthread_rwlock_unlock(&bus->lock);
			log_error("%s bus: out of memory", bus_name(bus));
			return -1;
		}
		bus->regions = grown;
		bus->capacity = cap;
	}
	memmove(&bus->regions[pos + 1], &bus->regions[pos],
		(bus->nregions - pos) * sizeof(bus->regions[0]));
	bus->regions[pos] = (struct bus_region){
		.base = base, .len = len, .ops = ops, .opaque = opaque,
		.name = name, .counters = counters,
	};
	bus->nregions++;
	pthread_rwlock_unlock(&bus->lock);
	return 0;
}

int bus_unregister(struct bus *bus, uint64_t base, void *opaque)
{
	int ret = -1;
	pthread_rwlock_wrlock(&bus->lock);
	unsigned pos = bus_upper_bound(bus, base);
	if (pos > 0 && bus->regions[pos - 1].base == base && bus->regions[pos - 1].opaque == opaque) {
		memmove(&bus->regions[pos - 1], &bus->regions[pos],
			(bus->nregions - pos) * sizeof(bus->regions[0]));
		bus->nregions--;
		ret = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

static const struct bus_region *bus_find_locked(const struct bus *bus, uint64_t addr, uint32_t len)
{
	unsigned pos = bus_upper_bound(bus, addr);
	if (pos == 0)
		return NULL;
	const struct bus_region *r = &bus->regions[pos - 1];
	/* The whole access must fall inside the region. */
	if (addr - r->base >= r->len || len > r->len - (addr - r->base))
		return NULL;
	return r;
}

static void bus_note_unclaimed(struct bus *bus, uint64_t addr, uint32_t len, bool is_write)
{
	counter_add(&bus->unclaimed_accesses, 1);
	pthread_mutex_lock(&bus->unclaimed_lock);
	bool seen = false;
	for (unsigned i = 0; i < bus->nunclaimed_logged; i++) {
		if (bus->unclaimed_logged[i] == addr) {
			seen = true;
			break;
		}
	}
	bool log_it = !seen && bus->nunclaimed_logged < BUS_UNCLAIMED_LOG_MAX;
	if (log_it)
		bus->unclaimed_logged[bus->nunclaimed_logged++] = addr;
	pthread_mutex_unlock(&bus->unclaimed_lock);
	if (log_it)
		log_info("%s bus: unclaimed %u-byte %s at 0x%llx (logged once per address)",
			 bus_name(bus), len, is_write ? "write" : "read", (unsigned long long)addr);
}

/* The callback runs on a copy of the region with the lock dropped, so a
 * callback may itself move regions (a BAR write). That is safe because
 * devices are torn down only after every vCPU has stopped. */
static bool bus_claim(struct bus *bus, uint64_t addr, uint32_t len, struct bus_region *out)
{
	pthread_rwlock_rdlock(&bus->lock);
	const struct bus_region *r = bus_find_locked(bus, addr, len);
	if (r)
		*out = *r;
	pthread_rwlock_unlock(&bus->lock);
	if (r && out->counters)
		counter_add(bus->kind == BUS_PIO ? &out->counters->pio_exits : &out->counters->mmio_exits, 1);
	return r != NULL;
}

bool bus_read(struct bus *bus, uint64_t addr, void *data, uint32_t len)
{
	struct bus_region region;
	if (!bus_claim(bus, addr, len, &region)) {
		memset(data, 0xff, len);
		bus_note_unclaimed(bus, addr, len, false);
		return false;
	}
	if (region.ops->read)
		region.ops->read(region.opaque, addr - region.base, data, len);
	else
		memset(data, 0xff, len);
	return true;
}

bool bus_write(struct bus *bus, uint64_t addr, const void *data, uint32_t len)
{
	struct bus_region region;
	if (!bus_claim(bus, addr, len, &region)) {
		bus_note_unclaimed(bus, addr, len, true);
		return false;
	}
	if (region.ops->write)
		region.ops->write(region.opaque, addr - region.base, data, len);
	return true;
}
