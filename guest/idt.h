/* The interrupt descriptor table: exception handlers for vectors 0..31, the
 * MSI-X block, the LAPIC timer and the spurious vector. #UD doubles as ring
 * 3's way into ring 0 (guest/usermode.h). */
#ifndef IOVIRT_GUEST_IDT_H
#define IOVIRT_GUEST_IDT_H

void idt_install(void);

#endif
