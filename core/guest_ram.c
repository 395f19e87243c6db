#include "core/guest_ram.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

static void guest_ram_layout(struct guest_ram *ram)
{
	uint64_t low = ram->size < GUEST_LOW_RAM_MAX ? ram->size : GUEST_LOW_RAM_MAX;
	ram->nregions = 1;
	ram->regions[0] = (struct guest_ram_region){
		.gpa = 0, .size = low, .host = ram->host_base, .memfd_offset = 0,
	};
	if (ram->size > low) {
		ram->nregions = 2;
		ram->regions[1] = (struct guest_ram_region){
			.gpa = GUEST_HIGH_RAM_BASE, .size = ram->size - low,
			.host = ram->host_base + low, .memfd_offset = low,
		};
	}
}

int guest_ram_create(struct guest_ram *ram, uint64_t size, char *err, size_t errlen)
{
	memset(ram, 0, sizeof(*ram));
	ram->memfd = -1;
	if (size < (2u << 20) || size % 4096) {
		snprintf(err, errlen, "--mem %llu bytes: guest RAM must be a multiple of 4 KiB and at least 2 MiB",
			 (unsigned long long)size);
		return -1;
	}
	/* Refuse what the host cannot give rather than die later in a page fault. */
	struct sysinfo si;
	if (sysinfo(&si) == 0) {
		uint64_t host_total = (uint64_t)si.totalram * si.mem_unit;
		if (size > host_total) {
			snprintf(err, errlen, "--mem %llu MiB is more than this host's %llu MiB of RAM; ask for less",
				 (unsigned long long)(size >> 20), (unsigned long long)(host_total >> 20));
			return -1;
		}
	}
	ram->memfd = memfd_create("iovirt-guest-ram", MFD_CLOEXEC);
	if (ram->memfd < 0) {
		snprintf(err, errlen, "guest RAM: memfd_create: %s", strerror(errno));
		return -1;
	}
	if (ftruncate(ram->memfd, (off_t)size) < 0) {
		snprintf(err, errlen, "guest RAM: cannot size memfd to %llu MiB: %s",
			 (unsigned long long)(size >> 20), strerror(errno));
		goto fail;
	}
	void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, ram->memfd, 0);
	if (base == MAP_FAILED) {
		snprintf(err, errlen, "guest RAM: cannot map %llu MiB: %s",
			 (unsigned long long)(size >> 20), strerror(errno));
		goto fail;
	}
	ram->host_base = base;
	ram->size = size;
	guest_ram_layout(ram);
	return 0;
fail:
	close(ram->memfd);
	ram->memfd = -1;
	return -1;
}

void guest_ram_destroy(struct guest_ram *ram)
{
	if (ram->host_base)
		munmap(ram->host_base, ram->size);
	if (ram->memfd >= 0)
		close(ram->memfd);
	memset(ram, 0, sizeof(*ram));
	ram->memfd = -1;
}

void *guest_ram_host_ptr(const struct guest_ram *ram, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < ram->nregions; i++) {
		const struct guest_ram_region *r = &ram->regions[i];
		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		uint64_t off = gpa - r->gpa;
		if (len > r->size - off)
			return NULL;
		return r->host + off;
	}
	return NULL;
}
