/* PVH loader: ELF32/ELF64 images built here byte by byte, loaded into real
 * guest RAM; start_info, memory map and command line read back; bad images
 * refused with the message a user would see. */
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/guest_ram.h"
#include "core/pvh_loader.h"
#include "tests/test_registry.h"

#define RAM_SIZE     (4u << 20)
#define LOAD_PADDR   0x100000u
#define ENTRY        0x100010u
#define PAYLOAD_SIZE 0x300u
#define BSS_SIZE     0x500u

/* File layout of the test images. */
#define PHDR_OFFSET    0x40u
#define NOTE_OFFSET    0x100u
#define PAYLOAD_OFFSET 0x200u

struct test_image {
	uint8_t bytes[0x1000];
	size_t size;
};

/* What to put in the image; zero fields take the defaults above. */
struct image_spec {
	bool is32;
	uint16_t machine;
	uint64_t paddr;
	uint64_t memsz;
	uint64_t load_offset;       /* p_offset of the PT_LOAD */
	bool offset_set;
	const uint8_t *note;        /* raw note bytes; NULL: a good PVH note */
	size_t note_len;
	bool no_note;               /* no PT_NOTE at all */
	bool entry64;               /* 8-byte entry descriptor */
	uint32_t entry;
};

static size_t put_note(uint8_t *p, uint32_t namesz, uint32_t descsz, uint32_t type,
		       const char *name, const void *desc)
{
	memcpy(p, &namesz, 4);
	memcpy(p + 4, &descsz, 4);
	memcpy(p + 8, &type, 4);
	size_t pos = 12;
	memcpy(p + pos, name, namesz);
	pos += (namesz + 3) & ~3u;
	memcpy(p + pos, desc, descsz);
	pos += (descsz + 3) & ~3u;
	return pos;
}

static void payload_pattern(uint8_t *p)
{
	for (unsigned i = 0; i < PAYLOAD_SIZE; i++)
		p[i] = (uint8_t)(i * 13 + 5);
}

static void build_image(struct test_image *img, const struct image_spec *spec)
{
	memset(img, 0, sizeof(*img));
	uint8_t *b = img->bytes;
	uint64_t paddr = spec->paddr ? spec->paddr : LOAD_PADDR;
	uint64_t memsz = spec->memsz ? spec->memsz : PAYLOAD_SIZE + BSS_SIZE;
	uint64_t load_offset = spec->offset_set ? spec->load_offset : PAYLOAD_OFFSET;
	uint32_t entry = spec->entry ? spec->entry : ENTRY;
	uint16_t machine = spec->machine ? spec->machine : (spec->is32 ? EM_386 : EM_X86_64);

	/* Notes: an unrelated one first, so the scan has to walk. */
	uint8_t notes[0x100];
	size_t note_len = 0;
	uint32_t version = 0x1234;
	note_len += put_note(notes, 4, 4, 1, "GNU", &version);
	if (spec->note) {
		memcpy(notes + note_len, spec->note, spec->note_len);
		note_len += spec->note_len;
	} else if (spec->entry64) {
		uint64_t e = entry;
		note_len += put_note(notes + note_len, 4, 8, XEN_ELFNOTE_PHYS32_ENTRY, "Xen", &e);
	} else {
		note_len += put_note(notes + note_len, 4, 4, XEN_ELFNOTE_PHYS32_ENTRY, "Xen", &entry);
	}
	memcpy(b + NOTE_OFFSET, notes, note_len);
	payload_pattern(b + PAYLOAD_OFFSET);
	unsigned phnum = spec->no_note ? 1 : 2;

	if (spec->is32) {
		Elf32_Ehdr eh = { .e_type = ET_EXEC, .e_machine = machine, .e_version = EV_CURRENT,
				  .e_entry = 0x1234, .e_phoff = PHDR_OFFSET, .e_ehsize = sizeof(Elf32_Ehdr),
				  .e_phentsize = sizeof(Elf32_Phdr), .e_phnum = phnum };
		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS32;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(b, &eh, sizeof(eh));
		Elf32_Phdr ph[2] = {
			{ .p_type = PT_LOAD, .p_offset = (uint32_t)load_offset, .p_vaddr = 0xc0000000u,
			  .p_paddr = (uint32_t)paddr, .p_filesz = PAYLOAD_SIZE, .p_memsz = (uint32_t)memsz,
			  .p_flags = PF_R | PF_X, .p_align = 0x1000 },
			{ .p_type = PT_NOTE, .p_offset = NOTE_OFFSET, .p_filesz = (uint32_t)note_len,
			  .p_memsz = (uint32_t)note_len, .p_align = 4 },
		};
		memcpy(b + PHDR_OFFSET, ph, sizeof(ph));
	} else {
		Elf64_Ehdr eh = { .e_type = ET_EXEC, .e_machine = machine, .e_version = EV_CURRENT,
				  .e_entry = 0xffffffff81000000ull, .e_phoff = PHDR_OFFSET,
				  .e_ehsize = sizeof(Elf64_Ehdr), .e_phentsize = sizeof(Elf64_Phdr),
				  .e_phnum = phnum };
		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(b, &eh, sizeof(eh));
		Elf64_Phdr ph[2] = {
			{ .p_type = PT_LOAD, .p_offset = load_offset, .p_vaddr = 0xffffffff81000000ull,
			  .p_paddr = paddr, .p_filesz = PAYLOAD_SIZE, .p_memsz = memsz,
			  .p_flags = PF_R | PF_X, .p_align = 0x1000 },
			{ .p_type = PT_NOTE, .p_offset = NOTE_OFFSET, .p_filesz = note_len,
			  .p_memsz = note_len, .p_align = 4 },
		};
		memcpy(b + PHDR_OFFSET, ph, sizeof(ph));
	}
	img->size = PAYLOAD_OFFSET + PAYLOAD_SIZE;
}

static struct guest_ram ram;

static void ram_setup(void)
{
	char err[256];
	ck_assert_msg(guest_ram_create(&ram, RAM_SIZE, err, sizeof(err)) == 0, "%s", err);
	/* Poison, so zeroed bss and untouched memory are both visible. */
	memset(ram.host_base, 0xAA, RAM_SIZE);
}

static void ram_teardown(void)
{
	guest_ram_destroy(&ram);
}

static uint8_t *gpa(uint64_t addr)
{
	return ram.host_base + addr;
}

/* Loads spec and expects failure with exactly want. */
static void expect_refused(const struct test_image *img, const char *want)
{
	char err[256] = "";
	struct pvh_boot boot = { .entry = 0xdead };
	ck_assert_int_eq(pvh_load_named(&ram, "kernel.elf", img->bytes, img->size, "x", &boot,
					err, sizeof(err)), -1);
	ck_assert_str_eq(err, want);
	ck_assert_uint_eq(boot.entry, 0xdead);     /* boot untouched */
	ck_assert_uint_eq(*gpa(LOAD_PADDR), 0xAA);  /* RAM untouched */
	ck_assert_uint_eq(*gpa(PVH_START_INFO_GPA), 0xAA);
}

static void check_loaded(const struct pvh_boot *boot, const char *cmdline)
{
	uint8_t want[PAYLOAD_SIZE];
	payload_pattern(want);
	ck_assert_mem_eq(gpa(LOAD_PADDR), want, PAYLOAD_SIZE);
	for (unsigned i = 0; i < BSS_SIZE; i++)
		ck_assert_uint_eq(*gpa(LOAD_PADDR + PAYLOAD_SIZE + i), 0);
	ck_assert_uint_eq(*gpa(LOAD_PADDR + PAYLOAD_SIZE + BSS_SIZE), 0xAA);   /* not past memsz */
	ck_assert_uint_eq(*gpa(LOAD_PADDR - 1), 0xAA);

	ck_assert_uint_eq(boot->entry, ENTRY);
	ck_assert_uint_eq(boot->start_info_gpa, PVH_START_INFO_GPA);
	ck_assert_uint_eq(boot->image_low, LOAD_PADDR);
	ck_assert_uint_eq(boot->image_high, LOAD_PADDR + PAYLOAD_SIZE + BSS_SIZE);

	struct hvm_start_info si;
	memcpy(&si, gpa(boot->start_info_gpa), sizeof(si));
	ck_assert_uint_eq(si.magic, 0x336ec578u);
	ck_assert_uint_eq(si.version, 1);
	ck_assert_uint_eq(si.flags, 0);
	ck_assert_uint_eq(si.nr_modules, 0);
	ck_assert_uint_eq(si.modlist_paddr, 0);
	ck_assert_uint_eq(si.rsdp_paddr, 0);
	ck_assert_uint_eq(si.reserved, 0);
	if (cmdline) {
		ck_assert_uint_eq(si.cmdline_paddr, PVH_CMDLINE_GPA);
		ck_assert_str_eq((const char *)gpa(si.cmdline_paddr), cmdline);
	} else {
		ck_assert_uint_eq(si.cmdline_paddr, 0);
	}
	ck_assert_uint_lt(si.memmap_paddr, 0x10000);

	/* 4 MiB of RAM: low RAM, legacy hole, RAM above 1 MiB, IOAPIC, LAPIC. */
	static const struct hvm_memmap_table_entry want_map[] = {
		{ 0x0, 0xA0000, 1, 0 },
		{ 0xA0000, 0x60000, 2, 0 },
		{ 0x100000, RAM_SIZE - 0x100000, 1, 0 },
		{ 0xFEC00000, 0x1000, 2, 0 },
		{ 0xFEE00000, 0x1000, 2, 0 },
	};
	ck_assert_uint_eq(si.memmap_entries, 5);
	for (unsigned i = 0; i < 5; i++) {
		struct hvm_memmap_table_entry e;
		memcpy(&e, gpa(si.memmap_paddr + i * sizeof(e)), sizeof(e));
		ck_assert_uint_eq(e.addr, want_map[i].addr);
		ck_assert_uint_eq(e.size, want_map[i].size);
		ck_assert_uint_eq(e.type, want_map[i].type);
		ck_assert_uint_eq(e.reserved, 0);
	}
}

START_TEST(loads_elf64)
{
	struct test_image img;
	build_image(&img, &(struct image_spec){ 0 });
	struct pvh_boot boot;
	char err[256] = "";
	const char *cmdline = "console=ttyS0 iovirt.test=boot";
	ck_assert_msg(pvh_load(&ram, img.bytes, img.size, cmdline, &boot, err, sizeof(err)) == 0,
		      "%s", err);
	check_loaded(&boot, cmdline);
}
END_TEST

START_TEST(loads_elf32)
{
	struct test_image img;
	build_image(&img, &(struct image_spec){ .is32 = true });
	struct pvh_boot boot;
	char err[256] = "";
	ck_assert_msg(pvh_load(&ram, img.bytes, img.size, "iovirt.test=msix", &boot, err, sizeof(err)) == 0,
		      "%s", err);
	check_loaded(&boot, "iovirt.test=msix");
}
END_TEST

START_TEST(loads_64bit_entry_descriptor_without_cmdline)
{
	struct test_image img;
	build_image(&img, &(struct image_spec){ .entry64 = true });
	struct pvh_boot boot;
	char err[256] = "";
	ck_assert_msg(pvh_load(&ram, img.bytes, img.size, NULL, &boot, err, sizeof(err)) == 0, "%s", err);
	check_loaded(&boot, NULL);
}
END_TEST

START_TEST(loads_from_a_file)
{
	struct test_image img;
	build_image(&img, &(struct image_spec){ .is32 = true });
	char path[] = "/tmp/iovirt-pvh-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, img.bytes, img.size), (ssize_t)img.size);
	close(fd);
	struct pvh_boot boot;
	char err[256] = "";
	int rc = pvh_load_file(&ram, path, "", &boot, err, sizeof(err));
	unlink(path);
	ck_assert_msg(rc == 0, "%s", err);
	check_loaded(&boot, "");
}
END_TEST

START_TEST(file_errors_name_the_file)
{
	struct pvh_boot boot;
	char err[256] = "";
	ck_assert_int_eq(pvh_load_file(&ram, "/nonexistent/kernel.elf", NULL, &boot, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "/nonexistent/kernel.elf: No such file or directory");
	ck_assert_int_eq(pvh_load_file(&ram, "/tmp", NULL, &boot, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "/tmp: not a regular file");

	char path[] = "/tmp/iovirt-pvh-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);   /* empty file */
	int rc = pvh_load_file(&ram, path, NULL, &boot, err, sizeof(err));
	unlink(path);
	ck_assert_int_eq(rc, -1);
	char want[256];
	snprintf(want, sizeof(want), "%s: not an ELF file", path);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(refuses_non_elf)
{
	struct test_image img = { .size = 200 };
	memcpy(img.bytes, "#!/bin/sh\necho not a kernel\n", 28);
	expect_refused(&img, "kernel.elf: not an ELF file");
	img.size = 3;
	memcpy(img.bytes, ELFMAG, 3);
	expect_refused(&img, "kernel.elf: not an ELF file");

	/* pvh_load names the buffer generically. */
	char err[256] = "";
	struct pvh_boot boot;
	ck_assert_int_eq(pvh_load(&ram, img.bytes, img.size, NULL, &boot, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "ELF image: not an ELF file");
}
END_TEST

START_TEST(refuses_truncated_header)
{
	struct test_image img;
	build_image(&img, &(struct image_spec){ 0 });
	img.size = 30;
	expect_refused(&img, "kernel.elf: truncated (ELF header needs 64 bytes, file has 30)");
	/* Program headers cut off. */
	build_image(&img, &(struct image_spec){ 0 });
	img.size = PHDR_OFFSET + 0x50;
	expect_refused(&img, "kernel.elf: truncated (program headers at offset 0x40 extend past the end of the file, 144 bytes)");
}
END_TEST

START_TEST(refuses_wrong_class_and_machine)
{
	struct test_image img;
	build_image(&img, &(struct image_spec){ 0 });
	img.bytes[EI_CLASS] = 3;
	expect_refused(&img, "kernel.elf: unsupported ELF class 3 (expected 32- or 64-bit)");

	build_image(&img, &(struct image_spec){ 0 });
	img.bytes[EI_DATA] = ELFDATA2MSB;
	expect_refused(&img, "kernel.elf: not a little-endian ELF file; iovirt boots x86 kernels only");

	build_image(&img, &(struct image_spec){ .machine = EM_AARCH64 });
	expect_refused(&img, "kernel.elf: ELF machine 183 is not x86 or x86-64");
	build_image(&img, &(struct image_spec){ .is32 = true, .machine = EM_ARM });
	expect_refused(&img, "kernel.elf: ELF machine 40 is not x86 or x86-64");
}
END_TEST

START_TEST(refuses_kernel_without_pvh_note)
{
	struct test_image img;
	build_image(&img, &(struct image_spec){ .no_note = true });
	expect_refused(&img, "kernel.elf: no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); iovirt boots PVH kernels only");

	/* A Xen note of another type, and a type-18 note from another owner. */
	uint8_t note[64];
	uint32_t e = ENTRY;
	size_t n = put_note(note, 4, 4, 17, "Xen", &e);
	n += put_note(note + n, 4, 4, XEN_ELFNOTE_PHYS32_ENTRY, "Xem", &e);
	build_image(&img, &(struct image_spec){ .note = note, .note_len = n });
	expect_refused(&img, "kernel.elf: no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); iovirt boots PVH kernels only");
}
END_TEST

START_TEST(refuses_malformed_notes)
{
	struct test_image img;
	uint8_t note[64];
	uint32_t e = ENTRY;
	/* Descriptor length far beyond the segment (the note segment starts with
	 * a 20-byte GNU note, so this one sits at offset 0x14). */
	size_t n = put_note(note, 4, 4, XEN_ELFNOTE_PHYS32_ENTRY, "Xen", &e);
	uint32_t huge = 0x1000;
	memcpy(note + 4, &huge, 4);
	build_image(&img, &(struct image_spec){ .note = note, .note_len = n });
	expect_refused(&img, "kernel.elf: malformed ELF note at offset 0x14 of segment 1 "
		       "(name 4 + descriptor 4096 bytes run past the segment's 40)");

	/* A name size that would wrap 32-bit arithmetic. */
	n = put_note(note, 4, 4, XEN_ELFNOTE_PHYS32_ENTRY, "Xen", &e);
	uint32_t wrap = 0xfffffffe;
	memcpy(note, &wrap, 4);
	build_image(&img, &(struct image_spec){ .note = note, .note_len = n });
	expect_refused(&img, "kernel.elf: malformed ELF note at offset 0x14 of segment 1 "
		       "(name 4294967294 + descriptor 4 bytes run past the segment's 40)");

	/* The PVH note with a 2-byte descriptor. */
	n = put_note(note, 4, 2, XEN_ELFNOTE_PHYS32_ENTRY, "Xen", &e);
	build_image(&img, &(struct image_spec){ .note = note, .note_len = n });
	expect_refused(&img, "kernel.elf: malformed PVH entry note (descriptor of 2 bytes, expected 4 or 8)");

	/* An entry above 4 GiB, and one outside the loaded segment. */
	uint64_t far = 0x100000000ull;
	n = put_note(note, 4, 8, XEN_ELFNOTE_PHYS32_ENTRY, "Xen", &far);
	build_image(&img, &(struct image_spec){ .note = note, .note_len = n });
	expect_refused(&img, "kernel.elf: PVH entry 0x100000000 is above 4 GiB");
	build_image(&img, &(struct image_spec){ .entry = LOAD_PADDR + PAYLOAD_SIZE + BSS_SIZE });
	expect_refused(&img, "kernel.elf: PVH entry 0x100800 is not inside any loaded segment");

	/* Note segment itself past the end of the file. */
	build_image(&img, &(struct image_spec){ 0 });
	Elf64_Phdr ph;
	memcpy(&ph, img.bytes + PHDR_OFFSET + sizeof(ph), sizeof(ph));
	ph.p_offset = 0x10000;
	memcpy(img.bytes + PHDR_OFFSET + sizeof(ph), &ph, sizeof(ph));
	expect_refused(&img, "kernel.elf: truncated (note segment 1 at offset 0x10000, 0x28 bytes, "
		       "extends past the end of the file, 1280 bytes)");
}
END_TEST

START_TEST(refuses_segment_outside_ram)
{
	struct test_image img;
	build_image(&img, &(struct image_spec){ .paddr = RAM_SIZE - 0x400, .entry = RAM_SIZE - 0x400 });
	expect_refused(&img, "kernel.elf: segment at 0x3ffc00 (size 0x800) lies outside guest RAM (4 MiB)");
	build_image(&img, &(struct image_spec){ .paddr = 0xfffffffffffff000ull, .memsz = 0x2000 });
	expect_refused(&img, "kernel.elf: segment at 0xfffffffffffff000 (size 0x2000) lies outside guest RAM (4 MiB)");
	/* Into the boot area. */
	build_image(&img, &(struct image_spec){ .paddr = 0x5c00, .entry = 0x5c00 });
	expect_refused(&img, "kernel.elf: segment at 0x5c00 (size 0x800) overlaps the PVH boot area "
		       "0x6000-0x7fff; link the kernel elsewhere");
}
END_TEST

START_TEST(refuses_segment_data_past_end_of_file)
{
	struct test_image img;
	build_image(&img, &(struct image_spec){ .load_offset = 0x400, .offset_set = true });
	expect_refused(&img, "kernel.elf: truncated (segment 0's data at offset 0x400, 0x300 bytes, "
		       "extends past the end of the file, 1280 bytes)");
	/* p_offset + p_filesz wraps 64 bits. */
	build_image(&img, &(struct image_spec){ .load_offset = UINT64_MAX - 0x10, .offset_set = true });
	expect_refused(&img, "kernel.elf: truncated (segment 0's data at offset 0xffffffffffffffef, "
		       "0x300 bytes, extends past the end of the file, 1280 bytes)");
	/* filesz larger than memsz. */
	build_image(&img, &(struct image_spec){ .memsz = 0x100 });
	expect_refused(&img, "kernel.elf: segment 0 has more file bytes (0x300) than memory bytes (0x100)");
}
END_TEST

START_TEST(refuses_overlong_cmdline)
{
	struct test_image img;
	build_image(&img, &(struct image_spec){ 0 });
	char *cmdline = malloc(PVH_CMDLINE_MAX + 1);
	memset(cmdline, 'a', PVH_CMDLINE_MAX);
	cmdline[PVH_CMDLINE_MAX] = '\0';
	char err[256] = "";
	struct pvh_boot boot;
	ck_assert_int_eq(pvh_load(&ram, img.bytes, img.size, cmdline, &boot, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "ELF image: command line is 4096 characters; PVH boot allows at most 4095");
	/* Exactly at the limit fits. */
	cmdline[PVH_CMDLINE_MAX - 1] = '\0';
	ck_assert_msg(pvh_load(&ram, img.bytes, img.size, cmdline, &boot, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq((const char *)gpa(PVH_CMDLINE_GPA), cmdline);
	free(cmdline);
}
END_TEST

/* The real built-in guest, when its build has produced it. */
START_TEST(loads_built_guest_if_present)
{
	const char *path = "build/guest.elf";
	if (access(path, R_OK) != 0)
		return;   /* not built yet: nothing to check */
	struct guest_ram big;
	char err[256] = "";
	ck_assert_msg(guest_ram_create(&big, 64u << 20, err, sizeof(err)) == 0, "%s", err);
	struct pvh_boot boot;
	int rc = pvh_load_file(&big, path, "iovirt.test=boot", &boot, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert_uint_ne(boot.entry, 0);
	ck_assert_uint_ge(boot.entry, boot.image_low);
	ck_assert_uint_lt(boot.entry, boot.image_high);
	guest_ram_destroy(&big);
}
END_TEST

static Suite *pvh_loader_suite(void)
{
	Suite *s = suite_create("pvh_loader");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, ram_setup, ram_teardown);
	tcase_add_test(tc, loads_elf64);
	tcase_add_test(tc, loads_elf32);
	tcase_add_test(tc, loads_64bit_entry_descriptor_without_cmdline);
	tcase_add_test(tc, loads_from_a_file);
	tcase_add_test(tc, file_errors_name_the_file);
	tcase_add_test(tc, refuses_non_elf);
	tcase_add_test(tc, refuses_truncated_header);
	tcase_add_test(tc, refuses_wrong_class_and_machine);
	tcase_add_test(tc, refuses_kernel_without_pvh_note);
	tcase_add_test(tc, refuses_malformed_notes);
	tcase_add_test(tc, refuses_segment_outside_ram);
	tcase_add_test(tc, refuses_segment_data_past_end_of_file);
	tcase_add_test(tc, refuses_overlong_cmdline);
	tcase_add_test(tc, loads_built_guest_if_present);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(pvh_loader_suite)
