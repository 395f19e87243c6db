/* Ring 3 for the workload's driver loop: see guest/usermode.h. */
#include "guest/usermode.h"

#include <stddef.h>

#include "guest/asm_defs.h"
#include "guest/cmdline.h"
#include "guest/interrupts.h"
#include "guest/page_alloc.h"
#include "guest/print.h"
#include "guest/results.h"

#define RFLAGS_IOPL3 0x3000u
/* Present, DPL0, type 9: an available 64-bit TSS. */
#define TSS_DESCRIPTOR_ACCESS 0x89ull
/* Interrupt frames and the exception report's calls; never deep. */
#define KERNEL_STACK_PAGES 2u

struct __attribute__((packed)) tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];             /* rsp[0]: the stack a ring-3 interrupt switches to */
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;         /* offset of io_bitmap below */
};

_Static_assert(sizeof(struct tss64) == 104, "64-bit TSS");

/* IOPL 3 alone lets ring 3 do port I/O on a real CPU and under TCG, but PVM
 * runs ring 3 with the hardware IOPL at 0 and emulates the faulting in/out,
 * checking the guest's IOPL as 0: then only the TSS I/O bitmap lets it
 * through. So the TSS carries one that allows every port (a clear bit
 * allows; the byte after it must be all ones). */
#define IO_PORTS 65536u

struct __attribute__((packed)) tss_with_io_bitmap {
	struct tss64 tss;
	uint8_t io_bitmap[IO_PORTS / 8];
	uint8_t io_bitmap_end;
};

#define TSS_PAGES ((sizeof(struct tss_with_io_bitmap) + 4095u) / 4096u)

/* The 16-byte slot in guest/entry.S's GDT. */
extern uint64_t gdt_tss_descriptor[2];

static bool tss_loaded;

const char *usermode_cpl_parse(const char *cmdline, unsigned *cpl)
{
	uint64_t value;
	if (!cmdline_lookup_u64(cmdline, "iovirt.cpl", 0, &value) || (value != 0 && value != 3))
		return "iovirt.cpl must be 0 (driver loop in ring 0) or 3 (in ring 3)";
	*cpl = (unsigned)value;
	return NULL;
}

/* Only when ring 3 is asked for, so ring-0 runs spend no emulated
 * instructions on it. The TSS and stack come from page_alloc, not .bss,
 * which entry clears for every run. */
bool usermode_prepare(void)
{
	if (tss_loaded)
		return true;
	uint8_t *stack = page_alloc_uninit(KERNEL_STACK_PAGES, 4096);
	void *pages = page_alloc_uninit(TSS_PAGES, 4096);
	if (!stack || !pages)
		return false;
	/* Zeroed by 8-byte stores: each repetition is emulated in ring 0. */
	uint64_t *words = pages;
	size_t count = (sizeof(struct tss_with_io_bitmap) + 7u) / 8u;
	__asm__ volatile("rep stosq" : "+D"(words), "+c"(count) : "a"(0ull) : "memory");
	struct tss_with_io_bitmap *t = pages;
	t->tss.rsp[0] = (uintptr_t)(stack + KERNEL_STACK_PAGES * 4096u);
	t->tss.iomap_base = offsetof(struct tss_with_io_bitmap, io_bitmap);
	t->io_bitmap_end = 0xFF;
	uint64_t base = (uintptr_t)t, limit = sizeof(*t) - 1;
	gdt_tss_descriptor[0] = (limit & 0xFFFF) | (base & 0xFFFFFF) << 16 | TSS_DESCRIPTOR_ACCESS << 40 |
				(limit >> 16 & 0xF) << 48 | (base >> 24 & 0xFF) << 56;
	gdt_tss_descriptor[1] = base >> 32;
	__asm__ volatile("ltr %w0" : : "r"((uint16_t)GDT_TSS) : "memory");
	tss_loaded = true;
	return true;
}

bool usermode_enter(void)
{
	if (usermode_cpl() == 3)
		return true;
	if (!usermode_prepare())
		return false;
	/* iretq to the next instruction with ring-3 selectors and the same RSP.
	 * DS and ES hold a DPL0 selector: iretq nulls them, which 64-bit mode
	 * allows. */
	__asm__ volatile("movq %%rsp, %%rax\n\t"
			 "pushq %[ss]\n\t"
			 "pushq %%rax\n\t"
			 "pushfq\n\t"
			 "orq %[iopl], (%%rsp)\n\t"
			 "pushq %[cs]\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "iretq\n"
			 "1:"
			 :
			 : [ss] "i"(GDT_USER_DATA), [cs] "i"(GDT_USER_CODE64), [iopl] "i"(RFLAGS_IOPL3)
			 : "rax", "memory", "cc");
	return true;
}

void usermode_leave(void)
{
	if (usermode_cpl() != 0)
		__asm__ volatile("ud2\n\t.byte %c0, %c1" : : "i"(USER_GATE_MARK), "i"(USER_GATE_RETURN) : "memory");
}

/* Ring 3's hlt: the gate halts in ring 0 and comes back. */
static void usermode_gate_halt(void)
{
	__asm__ volatile("ud2\n\t.byte %c0, %c1" : : "i"(USER_GATE_MARK), "i"(USER_GATE_HALT) : "memory");
}

bool usermode_wait_msix(unsigned index, uint32_t seen, unsigned max_slices)
{
	if (usermode_cpl() == 0)
		return interrupts_wait_msix(index, seen, max_slices);
	if (index >= VECTOR_MSIX_COUNT)
		return false;
	return interrupts_wait_msix_halting(index, seen, max_slices, usermode_gate_halt);
}

enum guest_status test_user_exception_run(const struct guest_test_env *env)
{
	(void)env;
	if (!usermode_enter()) {
		results_set_message("user-exception: no guest memory for the ring-0 interrupt stack");
		return GUEST_STATUS_FAIL;
	}
	guest_printf("user-exception: in ring %u, executing ud2\n", usermode_cpl());
	__asm__ volatile("ud2");
	usermode_leave();
	results_set_message("user-exception: ud2 in ring 3 did not fault");
	return GUEST_STATUS_FAIL;
}
