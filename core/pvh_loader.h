/* PVH boot loader: puts an ELF kernel (the built-in test guest, or a Linux
 * vmlinux with CONFIG_PVH) into guest RAM and writes the hvm_start_info the
 * PVH boot ABI hands the kernel in ebx, together with the command line and an
 * E820-style memory map.
 *
 * What the vCPU must do with the result (not done here): enter boot.entry in
 * 32-bit protected mode, paging off, flat 4 GiB code and data segments,
 * ebx = boot.start_info_gpa, interrupts off. */
#ifndef IOVIRT_CORE_PVH_LOADER_H
#define IOVIRT_CORE_PVH_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "core/guest_ram.h"

/* The ELF note that makes a kernel PVH-bootable: owner "Xen", this type,
 * descriptor = the 32-bit physical entry address (4 or 8 bytes). */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

#define HVM_START_INFO_MAGIC   0x336ec578u
#define HVM_START_INFO_VERSION 1u   /* version 1 added the memory map */

/* E820 memory types used in the PVH memory map. */
#define HVM_MEMMAP_TYPE_RAM      1u
#define HVM_MEMMAP_TYPE_RESERVED 2u

/* Layout of the PVH boot ABI structures (all little endian, packed by
 * construction: every field is naturally aligned). */
struct hvm_start_info {
	uint32_t magic;            /* HVM_START_INFO_MAGIC */
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;    /* NUL-terminated ASCII, or 0 */
	uint64_t rsdp_paddr;       /* ACPI RSDP, or 0: iovirt has no ACPI tables */
	uint64_t memmap_paddr;     /* array of struct hvm_memmap_table_entry */
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;             /* HVM_MEMMAP_TYPE_* */
	uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info layout");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry layout");

/* The boot area: start_info, then the memory map, then the command line, all
 * below 0x10000. No loaded segment may overlap [PVH_BOOT_AREA_BASE,
 * PVH_BOOT_AREA_END); it must not be used for anything else before entry. */
#define PVH_BOOT_AREA_BASE     0x6000u
#define PVH_START_INFO_GPA     0x6000u
#define PVH_MEMMAP_GPA         0x6040u
#define PVH_MEMMAP_MAX_ENTRIES 16u
#define PVH_CMDLINE_GPA        0x7000u
#define PVH_CMDLINE_MAX        4096u   /* bytes including the NUL: 4095 characters */
#define PVH_BOOT_AREA_END      (PVH_CMDLINE_GPA + PVH_CMDLINE_MAX)

struct pvh_boot {
	uint32_t entry;            /* guest-physical entry point from the note */
	uint32_t start_info_gpa;   /* goes into ebx */
	uint64_t image_low;        /* lowest guest-physical byte loaded */
	uint64_t image_high;       /* one past the highest byte loaded (incl. bss) */
};

/* Loads the ELF image (ELF32 or ELF64, little endian, x86 or x86-64) from a
 * buffer: every PT_LOAD at its p_paddr (file bytes copied, the rest zeroed),
 * then the boot area. cmdline may be NULL (no command line). On failure
 * returns -1 with one line in err, e.g. "ELF image: not an ELF file"; guest
 * RAM is untouched unless the image passed every check. */
int pvh_load(struct guest_ram *ram, const void *image, size_t size, const char *cmdline,
	     struct pvh_boot *boot, char *err, size_t errlen);

/* Same, with name leading the error line ("built-in guest: ..."). */
int pvh_load_named(struct guest_ram *ram, const char *name, const void *image, size_t size,
		   const char *cmdline, struct pvh_boot *boot, char *err, size_t errlen);

/* Same, reading the image from path (which leads the error line). */
int pvh_load_file(struct guest_ram *ram, const char *path, const char *cmdline,
		  struct pvh_boot *boot, char *err, size_t errlen);

#endif
