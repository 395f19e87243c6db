/* Constants shared by the assembly files and C. guest/abi.h carries C types,
 * so the values the entry code needs are repeated here and checked against
 * abi.h at compile time (guest/main.c). Only #defines in this file. */
#ifndef IOVIRT_GUEST_ASM_DEFS_H
#define IOVIRT_GUEST_ASM_DEFS_H

#define ASM_PORT_BOOTED  0x500        /* GUEST_CTL_PORT_BOOTED */
#define ASM_BOOT_MAGIC   0x10B00700   /* GUEST_BOOT_MAGIC */

/* Selectors in the guest's own GDT (guest/entry.S). The user pair and the
 * TSS serve iovirt.cpl=3 (guest/usermode.c); ring-3 selectors carry RPL 3. */
#define GDT_CODE64      0x08
#define GDT_DATA        0x10
#define GDT_USER_DATA   0x1B   /* entry 0x18, DPL3 */
#define GDT_USER_CODE64 0x23   /* entry 0x20, DPL3 */
#define GDT_TSS         0x28   /* 16-byte 64-bit TSS descriptor */

/* Interrupt vectors. The MSI-X block is what msix_setup() programs. */
#define VECTOR_LAPIC_TIMER  0x30   /* wakes hlt so waits are bounded */
#define VECTOR_MSIX_BASE    0x40
#define VECTOR_MSIX_COUNT   16
#define VECTOR_INVALID_OPCODE 6

/* Ring 3's ways into ring 0 (guest/usermode.c): "ud2; .byte MARK, GATE".
 * Not int n with a DPL3 gate: the PVM back end cannot deliver a ring-3
 * software interrupt (the int becomes #UD), while a #UD reaches the guest's
 * IDT on every back end. The #UD stub runs a gate whose four bytes match and
 * reports any other #UD as before. */
#define USER_GATE_MARK    0x67
#define USER_GATE_HALT    1      /* sti; hlt; cli for ring 3 (hlt is privileged) */
#define USER_GATE_RETURN  2      /* continue in ring 0 after the gate */
#define USER_GATE_SIGNATURE(gate) (0x0B0F | (USER_GATE_MARK << 16) | ((gate) << 24))
#define VECTOR_SPURIOUS     0x5F   /* the highest vector in the IDT */

#define LAPIC_BASE      0xFEE00000
#define LAPIC_REG_EOI   0xB0

#endif
