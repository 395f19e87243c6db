/* IDT entry points. Exceptions never return: they hand the frame to
 * exception_report() (guest/exception.c). The MSI-X and timer handlers are
 * a handful of instructions because each one is emulated on the target host:
 * count, EOI the LAPIC, iretq. */
#include "guest/asm_defs.h"

/* One stub per exception; its address goes into exception_stub_table in
 * vector order. The CPU pushes an error code only for some vectors; the
 * others push a 0 so the frame has one shape. */
	.macro exception_stub vector, cpu_pushes_error
	.text
	.balign 16
1:
	.if \cpu_pushes_error == 0
	pushq $0
	.endif
	pushq $\vector
	jmp exception_common
	.section .rodata.exception_stub_table, "a"
	.quad 1b
	.text
	.endm

	.macro msix_stub index
	.text
	.balign 16
1:
	pushq $\index
	jmp msix_common
	.section .rodata.msix_stub_table, "a"
	.quad 1b
	.text
	.endm

	.section .rodata.exception_stub_table, "a"
	.balign 8
	.globl exception_stub_table
exception_stub_table:
	.section .rodata.msix_stub_table, "a"
	.balign 8
	.globl msix_stub_table
msix_stub_table:

	exception_stub 0, 0     /* #DE */
	exception_stub 1, 0     /* #DB */
	exception_stub 2, 0     /* NMI */
	exception_stub 3, 0     /* #BP */
	exception_stub 4, 0     /* #OF */
	exception_stub 5, 0     /* #BR */
	exception_stub 6, 0     /* #UD */
	exception_stub 7, 0     /* #NM */
	exception_stub 8, 1     /* #DF */
	exception_stub 9, 0
	exception_stub 10, 1    /* #TS */
	exception_stub 11, 1    /* #NP */
	exception_stub 12, 1    /* #SS */
	exception_stub 13, 1    /* #GP */
	exception_stub 14, 1    /* #PF */
	exception_stub 15, 0
	exception_stub 16, 0    /* #MF */
	exception_stub 17, 1    /* #AC */
	exception_stub 18, 0    /* #MC */
	exception_stub 19, 0    /* #XM */
	exception_stub 20, 0    /* #VE */
	exception_stub 21, 1    /* #CP */
	exception_stub 22, 0
	exception_stub 23, 0
	exception_stub 24, 0
	exception_stub 25, 0
	exception_stub 26, 0
	exception_stub 27, 0
	exception_stub 28, 0
	exception_stub 29, 1    /* #VC */
	exception_stub 30, 1    /* #SX */
	exception_stub 31, 0

	.set msix_index, 0
	.rept VECTOR_MSIX_COUNT
	msix_stub msix_index
	.set msix_index, msix_index + 1
	.endr

	.text
/* Stack: vector, error code, then the CPU's rip, cs, rflags, rsp, ss. */
exception_common:
	movq %rsp, %rdi
	andq $-16, %rsp
	call exception_report
1:	cli
	hlt
	jmp 1b

/* Stack: MSI-X vector index, then the CPU's frame. */
msix_common:
	pushq %rax
	movq 8(%rsp), %rax
	incl msix_vector_counts(, %rax, 4)
	movl $(LAPIC_BASE + LAPIC_REG_EOI), %eax
	movl $0, (%rax)
	popq %rax
	addq $8, %rsp
	iretq

	.globl lapic_timer_stub
lapic_timer_stub:
	pushq %rax
	incl lapic_timer_expiries(%rip)
	movl $(LAPIC_BASE + LAPIC_REG_EOI), %eax
	movl $0, (%rax)
	popq %rax
	iretq

/* #UD. A ring-3 gate ("ud2; .byte USER_GATE_MARK, gate", guest/usermode.c)
 * is run here; any other #UD is reported like every exception. The checks
 * are few because each instruction is emulated on the PVM hosts. The gates
 * are harmless from ring 0 too, so the CPL is not checked. A #UD is a fault:
 * the frame's rip is the ud2, and the gate resumes 4 bytes on.
 * Stack: rip, cs, rflags, rsp, ss. */
	.globl invalid_opcode_stub
invalid_opcode_stub:
	pushq %rax
	movq 8(%rsp), %rax
	cmpl $USER_GATE_SIGNATURE(USER_GATE_HALT), (%rax)
	popq %rax                        /* flags survive the pop */
	je user_gate_halt
	pushq %rax
	movq 8(%rsp), %rax
	cmpl $USER_GATE_SIGNATURE(USER_GATE_RETURN), (%rax)
	popq %rax
	je user_gate_return
	pushq $0
	pushq $VECTOR_INVALID_OPCODE
	jmp exception_common

/* The gate leaves IF as ring 3 had it (off), so sti;hlt is as atomic as in
 * ring 0; the wake-up interrupt runs on this (RSP0) stack, and iretq gives
 * ring 3 back its IF=0. */
user_gate_halt:
	addq $4, (%rsp)
	sti
	hlt
	cli
	iretq

/* Back to ring 0 for good, on the stack ring 3 was using (usermode_leave()).
 * The test guest trusts its ring 3: the split is about where a driver runs,
 * not about isolation. */
user_gate_return:
	addq $4, (%rsp)
	movq $GDT_CODE64, 8(%rsp)
	andq $~0x3000, 16(%rsp)          /* IOPL back to 0 */
	movq $GDT_DATA, 32(%rsp)
	iretq

/* A spurious interrupt gets no EOI. */
	.globl spurious_stub
spurious_stub:
	iretq
