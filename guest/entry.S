/* PVH entry: 32-bit protected mode, paging off, flat segments, %ebx = the
 * physical address of struct hvm_start_info. Gets to 64-bit C in as few
 * instructions as possible: on the target host every CPL0 instruction is
 * emulated, so the page tables are built at link time (page_tables.S) and
 * nothing here loops except the short .bss clear. */
#include "guest/asm_defs.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

#define CR0_PE  (1 << 0)
#define CR0_MP  (1 << 1)
#define CR0_ET  (1 << 4)
#define CR0_NE  (1 << 5)
#define CR0_WP  (1 << 16)
#define CR0_PG  (1 << 31)
#define CR4_PAE (1 << 5)
#define MSR_EFER 0xC0000080
#define EFER_LME (1 << 8)

	.section .note.pvh, "a", @note
	.balign 4
	.long 4                          /* n_namesz: "Xen\0" */
	.long 4                          /* n_descsz: 32-bit entry address */
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.long pvh_entry32

	.section .text.entry, "ax"
	.code32
	.globl pvh_entry32
pvh_entry32:
	/* First thing: tell the VMM we are alive (it timestamps this). */
	movl $ASM_PORT_BOOTED, %edx
	movl $ASM_BOOT_MAGIC, %eax
	outl %eax, %dx

	lgdt gdt_descriptor
	movl $page_table_pml4, %eax
	movl %eax, %cr3
	movl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $MSR_EFER, %ecx
	xorl %edx, %edx
	movl $EFER_LME, %eax
	wrmsr
	movl $(CR0_PG | CR0_WP | CR0_NE | CR0_ET | CR0_MP | CR0_PE), %eax
	movl %eax, %cr0
	ljmp $GDT_CODE64, $long_mode_entry

	.code64
long_mode_entry:
	/* The loader's selectors may not exist in our GDT; iretq reloads SS. */
	movl $GDT_DATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl $__stack_top, %esp

	cld                              /* PVH leaves DF unspecified */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	shrl $3, %ecx
	xorl %eax, %eax
	rep stosq

	movl %ebx, %edi                  /* guest_main(start_info_paddr) */
	call guest_main
1:	cli
	hlt
	jmp 1b

	/* Writable: ltr marks the TSS descriptor busy, and the descriptor is
	 * filled at run time (its base is split across fields, which the
	 * assembler cannot do to a relocated symbol). */
	.section .data
	.balign 16
gdt:
	.quad 0                          /* null */
	.quad 0x00af9a000000ffff         /* 0x08: 64-bit code, DPL0 */
	.quad 0x00cf92000000ffff         /* 0x10: flat data, DPL0 */
	.quad 0x00cff2000000ffff         /* 0x18: flat data, DPL3 */
	.quad 0x00affa000000ffff         /* 0x20: 64-bit code, DPL3 */
	.globl gdt_tss_descriptor
gdt_tss_descriptor:
	.quad 0, 0                       /* 0x28: 64-bit TSS (guest/usermode.c) */
gdt_end:
	.balign 8
gdt_descriptor:
	.word gdt_end - gdt - 1
	.long gdt
