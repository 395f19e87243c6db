#include "guest/page_alloc.h"

#include "guest/pvh.h"
#include "guest/string.h"

extern char __image_end[];

#define PAGE_SIZE 4096ull
/* The page tables identity-map 4 GiB and the PCI window starts at 3 GiB:
 * DMA memory stays below it. */
#define PAGE_ALLOC_LIMIT 0xC0000000ull

static uint64_t next_free, region_end, ram_top;

void page_alloc_init(const struct pvh_start_info *info)
{
	uint64_t image_end = ((uint64_t)(uintptr_t)__image_end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	next_free = region_end = ram_top = 0;
	if (!info || info->version < 1 || info->memmap_paddr == 0)
		return;
	const struct pvh_memmap_entry *map = (const struct pvh_memmap_entry *)(uintptr_t)info->memmap_paddr;
	for (uint32_t i = 0; i < info->memmap_entries && i < 128; i++)
		if (map[i].type == PVH_MEMMAP_TYPE_RAM && map[i].addr + map[i].size > ram_top)
			ram_top = map[i].addr + map[i].size;
	/* The RAM range the image sits in; everything above the image is free. */
	for (uint32_t i = 0; i < info->memmap_entries && i < 128; i++) {
		if (map[i].type != PVH_MEMMAP_TYPE_RAM)
			continue;
		uint64_t start = map[i].addr, end = map[i].addr + map[i].size;
		if (image_end < start || image_end >= end)
			continue;
		next_free = image_end;
		region_end = end < PAGE_ALLOC_LIMIT ? end : PAGE_ALLOC_LIMIT;
	}
}

uint64_t page_alloc_ram_top(void)
{
	return ram_top;
}

void *page_alloc_uninit(uint64_t count, uint64_t align)
{
	if (align < PAGE_SIZE || (align & (align - 1)) || count == 0 || count > (1ull << 20))
		return 0;
	uint64_t start = (next_free + align - 1) & ~(align - 1);
	uint64_t bytes = count * PAGE_SIZE;
	if (start < next_free || start > region_end || bytes > region_end - start)
		return 0;
	next_free = start + bytes;
	return (void *)(uintptr_t)start;
}

void *page_alloc(uint64_t count, uint64_t align)
{
	void *p = page_alloc_uninit(count, align);
	if (p)
		memset(p, 0, count * PAGE_SIZE);
	return p;
}
