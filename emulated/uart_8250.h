/* An 8250/16550-compatible UART at the PC's COM1 ports: guest output goes to
 * a FILE; there is no input. */
#ifndef IOVIRT_EMULATED_UART_8250_H
#define IOVIRT_EMULATED_UART_8250_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/counters.h"

#define UART_COM1_BASE 0x3F8
#define UART_COM1_GSI  4

struct bus;
struct irq_router;

struct uart_8250 {
	pthread_mutex_t lock;
	FILE *out;
	struct irq_router *irq;    /* may be NULL: no interrupts */
	uint8_t ier, lcr, mcr, scr, dll, dlm;
	uint8_t thr_interrupt_pending;
	bool irq_level;            /* what the IOAPIC pin was last told */
	uint64_t bytes_out;
	struct device_counters counters;
};

int uart_8250_init(struct uart_8250 *uart, struct bus *pio, struct irq_router *irq, FILE *out);
void uart_8250_destroy(struct uart_8250 *uart, struct bus *pio);

#endif
