/* Guest RAM: one memfd (so out-of-process back ends and snapshots can map it),
 * laid out as low RAM below the 32-bit PCI MMIO window and high RAM above 4 GiB. */
#ifndef IOVIRT_CORE_GUEST_RAM_H
#define IOVIRT_CORE_GUEST_RAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Guest-physical memory map. */
#define GUEST_LOW_RAM_MAX      0xC0000000ull   /* low RAM ends here at most */
#define GUEST_PCI_MMIO_BASE    0xC0000000ull   /* 32-bit BARs are placed here */
#define GUEST_PCI_MMIO_END     0xFEC00000ull   /* IOAPIC and LAPIC live above */
#define GUEST_IOAPIC_BASE      0xFEC00000ull
#define GUEST_LAPIC_BASE       0xFEE00000ull
#define GUEST_HIGH_RAM_BASE    0x100000000ull

#define GUEST_RAM_MAX_REGIONS 2

struct guest_ram_region {
	uint64_t gpa;           /* guest-physical start */
	uint64_t size;
	uint8_t *host;          /* host mapping of this region */
	uint64_t memfd_offset;  /* where the region starts in the memfd */
};

struct guest_ram {
	int memfd;
	uint64_t size;          /* total bytes of RAM */
	uint8_t *host_base;     /* whole memfd mapped here, contiguously */
	unsigned nregions;
	struct guest_ram_region regions[GUEST_RAM_MAX_REGIONS];
};

/* Creates and maps `size` bytes of RAM. On failure returns -1 and writes one
 * line to err saying what is wrong. */
int guest_ram_create(struct guest_ram *ram, uint64_t size, char *err, size_t errlen);
void guest_ram_destroy(struct guest_ram *ram);

/* Host pointer for [gpa, gpa+len) if it lies wholly inside one RAM region,
 * otherwise NULL. Overflow-safe. Device models go through iommu/ instead. */
void *guest_ram_host_ptr(const struct guest_ram *ram, uint64_t gpa, uint64_t len);

#endif
