/* Constants shared by the assembly files and C. guest/abi.h carries C types,
 * so the values the entry code needs are repeated here and checked against
 * abi.h at compile time (guest/main.c). Only #defines in this file. */
#ifndef IOVIRT_GUEST_ASM_DEFS_H
#define IOVIRT_GUEST_ASM_DEFS_H

#define ASM_PORT_BOOTED  0x500        /* GUEST_CTL_PORT_BOOTED */
#define ASM_BOOT_MAGIC   0x10B00700   /* GUEST_BOOT_MAGIC */

/* Selectors in the guest's own GDT (guest/entry.S). */
#define GDT_CODE64 0x08
#define GDT_DATA   0x10

/* Interrupt vectors. The MSI-X block is what msix_setup() programs. */
#define VECTOR_LAPIC_TIMER  0x30   /* wakes hlt so waits are bounded */
#define VECTOR_MSIX_BASE    0x40
#define VECTOR_MSIX_COUNT   16
#define VECTOR_SPURIOUS     0x5F   /* the highest vector in the IDT */

#define LAPIC_BASE      0xFEE00000
#define LAPIC_REG_EOI   0xB0

#endif
