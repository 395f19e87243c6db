/* DMA-able memory for the drivers: whole pages from guest RAM above the
 * image, found through the PVH memory map. Never freed (a test run is short). */
#ifndef IOVIRT_GUEST_PAGE_ALLOC_H
#define IOVIRT_GUEST_PAGE_ALLOC_H

#include <stdint.h>

struct pvh_start_info;

/* Called once at boot with the start_info the loader passed. */
void page_alloc_init(const struct pvh_start_info *start_info);
/* `count` zeroed, contiguous 4 KiB pages aligned to `align` bytes (a power of
 * two, at least 4096); NULL when RAM runs out. */
void *page_alloc(uint64_t count, uint64_t align);
/* One past the highest guest-physical RAM byte in the memory map (0 when
 * there is no map). */
uint64_t page_alloc_ram_top(void);
/* The same without zeroing: for data buffers the caller fills anyway (every
 * guest kernel-mode store is emulated on these hosts, so zeroing costs). */
void *page_alloc_uninit(uint64_t count, uint64_t align);

#endif
