#include "core/pvh_loader.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ELF fields are read by plain memcpy into host structs. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the loader assumes a little-endian host");

/* Legacy VGA/BIOS hole: backed by RAM here, but a PC kernel expects it reserved. */
#define LEGACY_HOLE_BASE 0xA0000ull
#define LEGACY_HOLE_END  0x100000ull
#define APIC_PAGE_SIZE   0x1000ull

/* A program header with the class difference removed. */
struct elf_segment {
	uint32_t type;
	uint64_t offset;
	uint64_t paddr;
	uint64_t filesz;
	uint64_t memsz;
	uint64_t align;
};

struct elf_image {
	const char *name;
	const uint8_t *data;
	size_t size;
	bool is64;
	uint64_t phoff;
	uint64_t phentsize;
	unsigned phnum;
};

__attribute__((format(printf, 4, 5)))
static int load_error(const struct elf_image *img, char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return -1;
	int n = snprintf(err, errlen, "%s: ", img->name);
	if (n < 0 || (size_t)n >= errlen)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* "256 MiB", "640 KiB" or "12345 bytes". */
static const char *size_text(uint64_t bytes, char *buf, size_t len)
{
	if (bytes != 0 && bytes % (1024 * 1024) == 0)
		snprintf(buf, len, "%" PRIu64 " MiB", bytes / (1024 * 1024));
	else if (bytes != 0 && bytes % 1024 == 0)
		snprintf(buf, len, "%" PRIu64 " KiB", bytes / 1024);
	else
		snprintf(buf, len, "%" PRIu64 " bytes", bytes);
	return buf;
}

/* True if [offset, offset+len) lies inside the file. Overflow-safe. */
static bool in_file(const struct elf_image *img, uint64_t offset, uint64_t len)
{
	return offset <= img->size && len <= img->size - offset;
}

static void read_segment(const struct elf_image *img, unsigned index, struct elf_segment *seg)
{
	const uint8_t *p = img->data + img->phoff + (uint64_t)index * img->phentsize;
	if (img->is64) {
		Elf64_Phdr ph;
		memcpy(&ph, p, sizeof(ph));
		*seg = (struct elf_segment){ ph.p_type, ph.p_offset, ph.p_paddr,
					     ph.p_filesz, ph.p_memsz, ph.p_align };
	} else {
		Elf32_Phdr ph;
		memcpy(&ph, p, sizeof(ph));
		*seg = (struct elf_segment){ ph.p_type, ph.p_offset, ph.p_paddr,
					     ph.p_filesz, ph.p_memsz, ph.p_align };
	}
}

static int parse_header(struct elf_image *img, char *err, size_t errlen)
{
	const uint8_t *id = img->data;
	if (img->size < SELFMAG || memcmp(id, ELFMAG, SELFMAG) != 0)
		return load_error(img, err, errlen, "not an ELF file");
	if (img->size < EI_NIDENT)
		return load_error(img, err, errlen, "truncated (ELF identification needs %d bytes, file has %zu)",
				  EI_NIDENT, img->size);
	if (id[EI_CLASS] != ELFCLASS32 && id[EI_CLASS] != ELFCLASS64)
		return load_error(img, err, errlen, "unsupported ELF class %u (expected 32- or 64-bit)",
				  id[EI_CLASS]);
	if (id[EI_DATA] != ELFDATA2LSB)
		return load_error(img, err, errlen, "not a little-endian ELF file; iovirt boots x86 kernels only");
	img->is64 = id[EI_CLASS] == ELFCLASS64;

	size_t ehsize = img->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	if (img->size < ehsize)
		return load_error(img, err, errlen, "truncated (ELF header needs %zu bytes, file has %zu)",
				  ehsize, img->size);
	uint16_t type, machine;
	if (img->is64) {
		Elf64_Ehdr eh;
		memcpy(&eh, img->data, sizeof(eh));
		type = eh.e_type;
		machine = eh.e_machine;
		img->phoff = eh.e_phoff;
		img->phentsize = eh.e_phentsize;
		img->phnum = eh.e_phnum;
	} else {
		Elf32_Ehdr eh;
		memcpy(&eh, img->data, sizeof(eh));
		type = eh.e_type;
		machine = eh.e_machine;
		img->phoff = eh.e_phoff;
		img->phentsize = eh.e_phentsize;
		img->phnum = eh.e_phnum;
	}
	if (machine != EM_386 && machine != EM_X86_64)
		return load_error(img, err, errlen, "ELF machine %u is not x86 or x86-64", machine);
	if (type != ET_EXEC && type != ET_DYN)
		return load_error(img, err, errlen, "not an executable ELF file (e_type %u); link the kernel as an executable",
				  type);
	size_t phsize = img->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	if (img->phnum == 0)
		return load_error(img, err, errlen, "no program headers; nothing to load");
	if (img->phentsize < phsize)
		return load_error(img, err, errlen, "program header entries are %" PRIu64 " bytes, expected at least %zu",
				  img->phentsize, phsize);
	if (!in_file(img, img->phoff, img->phentsize * img->phnum))
		return load_error(img, err, errlen, "truncated (program headers at offset 0x%" PRIx64
				  " extend past the end of the file, %zu bytes)", img->phoff, img->size);
	return 0;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	/* Both ranges are known not to wrap. */
	return a < b + blen && b < a + alen;
}

/* Every PT_LOAD must come from inside the file and land wholly in guest RAM,
 * clear of the boot area. Also computes the loaded extent. */
static int check_load_segments(const struct elf_image *img, const struct guest_ram *ram,
			       struct pvh_boot *boot, char *err, size_t errlen)
{
	char sz[32];
	bool any = false;
	boot->image_low = UINT64_MAX;
	boot->image_high = 0;
	for (unsigned i = 0; i < img->phnum; i++) {
		struct elf_segment seg;
		read_segment(img, i, &seg);
		if (seg.type != PT_LOAD || seg.memsz == 0)
			continue;
		if (!in_file(img, seg.offset, seg.filesz))
			return load_error(img, err, errlen, "truncated (segment %u's data at offset 0x%" PRIx64
					  ", 0x%" PRIx64 " bytes, extends past the end of the file, %zu bytes)",
					  i, seg.offset, seg.filesz, img->size);
		if (seg.filesz > seg.memsz)
			return load_error(img, err, errlen, "segment %u has more file bytes (0x%" PRIx64
					  ") than memory bytes (0x%" PRIx64 ")", i, seg.filesz, seg.memsz);
		if (guest_ram_host_ptr(ram, seg.paddr, seg.memsz) == NULL)
			return load_error(img, err, errlen, "segment at 0x%" PRIx64 " (size 0x%" PRIx64
					  ") lies outside guest RAM (%s)", seg.paddr, seg.memsz,
					  size_text(ram->size, sz, sizeof(sz)));
		if (ranges_overlap(seg.paddr, seg.memsz, PVH_BOOT_AREA_BASE,
				   PVH_BOOT_AREA_END - PVH_BOOT_AREA_BASE))
			return load_error(img, err, errlen, "segment at 0x%" PRIx64 " (size 0x%" PRIx64
					  ") overlaps the PVH boot area 0x%x-0x%x; link the kernel elsewhere",
					  seg.paddr, seg.memsz, PVH_BOOT_AREA_BASE, PVH_BOOT_AREA_END - 1);
		any = true;
		if (seg.paddr < boot->image_low)
			boot->image_low = seg.paddr;
		if (seg.paddr + seg.memsz > boot->image_high)
			boot->image_high = seg.paddr + seg.memsz;
	}
	if (!any)
		return load_error(img, err, errlen, "no loadable (PT_LOAD) segments");
	return 0;
}

static uint64_t align_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

/* Walks the notes of one PT_NOTE segment (already checked to lie in the
 * file). Sets *found and *entry on a PVH entry note. */
static int scan_notes(const struct elf_image *img, unsigned index, const struct elf_segment *seg,
		      bool *found, uint64_t *entry, char *err, size_t errlen)
{
	/* Notes are 4-byte aligned; producers that align them to 8 say so in p_align. */
	uint64_t align = seg->align == 8 ? 8 : 4;
	const uint8_t *base = img->data + seg->offset;
	uint64_t pos = 0;
	while (seg->filesz - pos >= sizeof(Elf32_Nhdr)) {
		Elf32_Nhdr nh;   /* same layout for ELF64 notes */
		memcpy(&nh, base + pos, sizeof(nh));
		/* 32-bit sizes in 64-bit arithmetic: these sums cannot wrap. */
		uint64_t name_off = pos + sizeof(nh);
		uint64_t desc_off = name_off + align_up(nh.n_namesz, align);
		uint64_t next = desc_off + align_up(nh.n_descsz, align);
		if (desc_off + nh.n_descsz > seg->filesz)
			return load_error(img, err, errlen, "malformed ELF note at offset 0x%" PRIx64
					  " of segment %u (name %u + descriptor %u bytes run past the segment's %" PRIu64 ")",
					  pos, index, nh.n_namesz, nh.n_descsz, seg->filesz);
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(base + name_off, "Xen", 4) == 0 && !*found) {
			if (nh.n_descsz == 4) {
				uint32_t e32;
				memcpy(&e32, base + desc_off, 4);
				*entry = e32;
			} else if (nh.n_descsz == 8) {
				memcpy(entry, base + desc_off, 8);
			} else {
				return load_error(img, err, errlen, "malformed PVH entry note (descriptor of %u bytes, expected 4 or 8)",
						  nh.n_descsz);
			}
			*found = true;
		}
		if (next >= seg->filesz)
			break;   /* the last note may omit its closing padding */
		pos = next;
	}
	return 0;
}

static int find_pvh_entry(const struct elf_image *img, uint32_t *entry, char *err, size_t errlen)
{
	bool found = false;
	uint64_t value = 0;
	for (unsigned i = 0; i < img->phnum; i++) {
		struct elf_segment seg;
		read_segment(img, i, &seg);
		if (seg.type != PT_NOTE)
			continue;
		if (!in_file(img, seg.offset, seg.filesz))
			return load_error(img, err, errlen, "truncated (note segment %u at offset 0x%" PRIx64
					  ", 0x%" PRIx64 " bytes, extends past the end of the file, %zu bytes)",
					  i, seg.offset, seg.filesz, img->size);
		if (scan_notes(img, i, &seg, &found, &value, err, errlen) != 0)
			return -1;
	}
	if (!found)
		return load_error(img, err, errlen, "no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); iovirt boots PVH kernels only");
	if (value > UINT32_MAX)
		return load_error(img, err, errlen, "PVH entry 0x%" PRIx64 " is above 4 GiB", value);
	*entry = (uint32_t)value;
	return 0;
}

/* The entry must be code the loader put in RAM, not a stray address. */
static bool entry_in_loaded_segment(const struct elf_image *img, uint32_t entry)
{
	for (unsigned i = 0; i < img->phnum; i++) {
		struct elf_segment seg;
		read_segment(img, i, &seg);
		if (seg.type == PT_LOAD && seg.memsz > 0 &&
		    entry >= seg.paddr && entry - seg.paddr < seg.memsz)
			return true;
	}
	return false;
}

static void memmap_add(struct hvm_memmap_table_entry *map, unsigned *n, uint64_t addr,
		       uint64_t size, uint32_t type)
{
	if (size == 0 || *n == PVH_MEMMAP_MAX_ENTRIES)
		return;
	map[(*n)++] = (struct hvm_memmap_table_entry){ .addr = addr, .size = size, .type = type };
}

/* RAM regions with the legacy hole cut out and marked reserved, plus the
 * IOAPIC and LAPIC pages; sorted by address. */
static unsigned build_memmap(const struct guest_ram *ram, struct hvm_memmap_table_entry *map)
{
	unsigned n = 0;
	for (unsigned i = 0; i < ram->nregions && i < GUEST_RAM_MAX_REGIONS; i++) {
		uint64_t start = ram->regions[i].gpa;
		uint64_t end = start + ram->regions[i].size;
		if (start < LEGACY_HOLE_BASE)
			memmap_add(map, &n, start, (end < LEGACY_HOLE_BASE ? end : LEGACY_HOLE_BASE) - start,
				   HVM_MEMMAP_TYPE_RAM);
		uint64_t above = start > LEGACY_HOLE_END ? start : LEGACY_HOLE_END;
		if (end > above)
			memmap_add(map, &n, above, end - above, HVM_MEMMAP_TYPE_RAM);
	}
	memmap_add(map, &n, LEGACY_HOLE_BASE, LEGACY_HOLE_END - LEGACY_HOLE_BASE, HVM_MEMMAP_TYPE_RESERVED);
	memmap_add(map, &n, GUEST_IOAPIC_BASE, APIC_PAGE_SIZE, HVM_MEMMAP_TYPE_RESERVED);
	memmap_add(map, &n, GUEST_LAPIC_BASE, APIC_PAGE_SIZE, HVM_MEMMAP_TYPE_RESERVED);
	for (unsigned i = 1; i < n; i++) {
		struct hvm_memmap_table_entry e = map[i];
		unsigned j = i;
		for (; j > 0 && map[j - 1].addr > e.addr; j--)
			map[j] = map[j - 1];
		map[j] = e;
	}
	return n;
}

static void copy_segments(const struct elf_image *img, struct guest_ram *ram)
{
	for (unsigned i = 0; i < img->phnum; i++) {
		struct elf_segment seg;
		read_segment(img, i, &seg);
		if (seg.type != PT_LOAD || seg.memsz == 0)
			continue;
		uint8_t *dst = guest_ram_host_ptr(ram, seg.paddr, seg.memsz);
		memcpy(dst, img->data + seg.offset, seg.filesz);
		memset(dst + seg.filesz, 0, seg.memsz - seg.filesz);
	}
}

static void write_boot_area(struct guest_ram *ram, const char *cmdline)
{
	uint8_t *area = guest_ram_host_ptr(ram, PVH_BOOT_AREA_BASE, PVH_BOOT_AREA_END - PVH_BOOT_AREA_BASE);
	memset(area, 0, PVH_BOOT_AREA_END - PVH_BOOT_AREA_BASE);

	struct hvm_memmap_table_entry map[PVH_MEMMAP_MAX_ENTRIES];
	unsigned entries = build_memmap(ram, map);
	memcpy(area + (PVH_MEMMAP_GPA - PVH_BOOT_AREA_BASE), map, entries * sizeof(map[0]));

	struct hvm_start_info info = {
		.magic = HVM_START_INFO_MAGIC,
		.version = HVM_START_INFO_VERSION,
		.cmdline_paddr = cmdline ? PVH_CMDLINE_GPA : 0,
		.memmap_paddr = PVH_MEMMAP_GPA,
		.memmap_entries = entries,
	};
	memcpy(area + (PVH_START_INFO_GPA - PVH_BOOT_AREA_BASE), &info, sizeof(info));
	if (cmdline)
		memcpy(area + (PVH_CMDLINE_GPA - PVH_BOOT_AREA_BASE), cmdline, strlen(cmdline) + 1);
}

_Static_assert(PVH_MEMMAP_GPA >= PVH_START_INFO_GPA + sizeof(struct hvm_start_info),
	       "memmap overlaps start_info");
_Static_assert(PVH_MEMMAP_GPA + PVH_MEMMAP_MAX_ENTRIES * sizeof(struct hvm_memmap_table_entry)
	       <= PVH_CMDLINE_GPA, "memmap overlaps the command line");
_Static_assert(PVH_BOOT_AREA_END <= 0x10000, "the boot area must stay below 0x10000");

int pvh_load_named(struct guest_ram *ram, const char *name, const void *image, size_t size,
		   const char *cmdline, struct pvh_boot *boot, char *err, size_t errlen)
{
	struct elf_image img = { .name = name ? name : "ELF image", .data = image, .size = image ? size : 0 };
	if (cmdline && strnlen(cmdline, PVH_CMDLINE_MAX) >= PVH_CMDLINE_MAX)
		return load_error(&img, err, errlen, "command line is %zu characters; PVH boot allows at most %u",
				  strlen(cmdline), PVH_CMDLINE_MAX - 1);
	if (!guest_ram_host_ptr(ram, PVH_BOOT_AREA_BASE, PVH_BOOT_AREA_END - PVH_BOOT_AREA_BASE))
		return load_error(&img, err, errlen, "guest RAM does not cover the PVH boot area at 0x%x-0x%x",
				  PVH_BOOT_AREA_BASE, PVH_BOOT_AREA_END - 1);

	struct pvh_boot result;
	uint32_t entry = 0;
	if (parse_header(&img, err, errlen) != 0 ||
	    check_load_segments(&img, ram, &result, err, errlen) != 0 ||
	    find_pvh_entry(&img, &entry, err, errlen) != 0)
		return -1;
	if (!entry_in_loaded_segment(&img, entry))
		return load_error(&img, err, errlen, "PVH entry 0x%" PRIx32 " is not inside any loaded segment",
				  entry);

	copy_segments(&img, ram);
	write_boot_area(ram, cmdline);
	result.entry = entry;
	result.start_info_gpa = PVH_START_INFO_GPA;
	*boot = result;
	return 0;
}

int pvh_load(struct guest_ram *ram, const void *image, size_t size, const char *cmdline,
	     struct pvh_boot *boot, char *err, size_t errlen)
{
	return pvh_load_named(ram, NULL, image, size, cmdline, boot, err, errlen);
}

int pvh_load_file(struct guest_ram *ram, const char *path, const char *cmdline,
		  struct pvh_boot *boot, char *err, size_t errlen)
{
	struct elf_image named = { .name = path };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return load_error(&named, err, errlen, "%s", strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int saved = errno;
		close(fd);
		return load_error(&named, err, errlen, "%s", strerror(saved));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return load_error(&named, err, errlen, "not a regular file");
	}
	size_t size = (size_t)st.st_size;
	void *image = NULL;
	if (size > 0) {
		image = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (image == MAP_FAILED) {
			int saved = errno;
			close(fd);
			return load_error(&named, err, errlen, "cannot map the file: %s", strerror(saved));
		}
	}
	close(fd);
	int rc = pvh_load_named(ram, path, image, size, cmdline, boot, err, errlen);
	if (image)
		munmap(image, size);
	return rc;
}
