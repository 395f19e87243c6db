#include "guest/idt.h"

#include <stdint.h>

#include "guest/asm_defs.h"

/* Vectors above the spurious one are never raised; the IDT ends there. */
#define IDT_VECTORS (VECTOR_SPURIOUS + 1)
#define IDT_GATE_INTERRUPT 0x8E   /* present, DPL0, 64-bit interrupt gate */

struct idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t reserved;
};

_Static_assert(sizeof(struct idt_gate) == 16, "64-bit IDT gate");

struct __attribute__((packed)) idt_pointer {
	uint16_t limit;
	uint64_t base;
};

/* In guest/interrupt_stubs.S. */
extern const uint64_t exception_stub_table[32];
extern const uint64_t msix_stub_table[VECTOR_MSIX_COUNT];
extern const char lapic_timer_stub[];
extern const char spurious_stub[];
extern const char invalid_opcode_stub[];

static struct idt_gate idt[IDT_VECTORS] __attribute__((aligned(16)));

static void idt_set_gate(unsigned vector, uint64_t handler)
{
	idt[vector] = (struct idt_gate){
		.offset_low = (uint16_t)handler,
		.selector = GDT_CODE64,
		.ist = 0,
		.type_attr = IDT_GATE_INTERRUPT,
		.offset_mid = (uint16_t)(handler >> 16),
		.offset_high = (uint32_t)(handler >> 32),
	};
}

void idt_install(void)
{
	for (unsigned v = 0; v < 32; v++)
		idt_set_gate(v, exception_stub_table[v]);
	/* #UD also carries ring 3's gates into ring 0 (guest/asm_defs.h). */
	idt_set_gate(VECTOR_INVALID_OPCODE, (uintptr_t)invalid_opcode_stub);
	for (unsigned i = 0; i < VECTOR_MSIX_COUNT; i++)
		idt_set_gate(VECTOR_MSIX_BASE + i, msix_stub_table[i]);
	idt_set_gate(VECTOR_LAPIC_TIMER, (uintptr_t)lapic_timer_stub);
	idt_set_gate(VECTOR_SPURIOUS, (uintptr_t)spurious_stub);

	struct idt_pointer ptr = { .limit = sizeof(idt) - 1, .base = (uintptr_t)idt };
	__asm__ volatile("lidt %0" : : "m"(ptr));
}
