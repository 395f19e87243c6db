/* The part of the PVH boot ABI the guest reads: struct hvm_start_info, which
 * the loader's %ebx points at (layout per xen's arch-x86/hvm/start_info.h). */
#ifndef IOVIRT_GUEST_PVH_H
#define IOVIRT_GUEST_PVH_H

#include <stdint.h>

#define PVH_START_INFO_MAGIC 0x336ec578u

struct pvh_start_info {
	uint32_t magic;
	uint32_t version;          /* 1 and up have the memory map */
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;    /* NUL-terminated, or 0 */
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;     /* version >= 1 */
	uint32_t memmap_entries;   /* version >= 1 */
	uint32_t reserved;
};

struct pvh_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;             /* 1 = RAM */
	uint32_t reserved;
};

#define PVH_MEMMAP_TYPE_RAM 1u

_Static_assert(sizeof(struct pvh_start_info) == 56, "hvm_start_info layout");
_Static_assert(sizeof(struct pvh_memmap_entry) == 24, "hvm_memmap_table_entry layout");

#endif
