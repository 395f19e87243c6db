#include "emulated/uart_8250.h"

#include <string.h>

#include "core/bus.h"
#include "core/irq.h"

/* Register offsets from the base port. */
enum {
	UART_RBR_THR = 0, /* DLL when LCR.DLAB */
	UART_IER = 1,     /* DLM when LCR.DLAB */
	UART_IIR_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define UART_LCR_DLAB   0x80
#define UART_IER_THRI   0x02
#define UART_IIR_NONE   0x01
#define UART_IIR_THRI   0x02
#define UART_LSR_THRE   0x20
#define UART_LSR_TEMT   0x40
#define UART_MCR_LOOP   0x10
#define UART_MSR_DEFAULT 0xb0 /* DCD, DSR, CTS: a terminal is always there */

static void uart_update_irq_locked(struct uart_8250 *uart)
{
	if (!uart->irq)
		return;
	bool level = (uart->ier & UART_IER_THRI) && uart->thr_interrupt_pending;
	/* Only edges cost an ioctl: a polled console prints with no syscall per byte. */
	if (level == uart->irq_level)
		return;
	uart->irq_level = level;
	irq_intx_set_level(uart->irq, UART_COM1_GSI, level);
	if (level)
		counter_add(&uart->counters.interrupts, 1);
}

static void uart_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct uart_8250 *uart = opaque;
	uint8_t value = 0;
	pthread_mutex_lock(&uart->lock);
	switch (offset) {
	case UART_RBR_THR:
		value = (uart->lcr & UART_LCR_DLAB) ? uart->dll : 0; /* no input */
		break;
	case UART_IER:
		value = (uart->lcr & UART_LCR_DLAB) ? uart->dlm : uart->ier;
		break;
	case UART_IIR_FCR:
		if ((uart->ier & UART_IER_THRI) && uart->thr_interrupt_pending) {
			value = UART_IIR_THRI;
			uart->thr_interrupt_pending = 0; /* reading IIR acknowledges THRE */
			uart_update_irq_locked(uart);
		} else {
			value = UART_IIR_NONE;
		}
		break;
	case UART_LCR: value = uart->lcr; break;
	case UART_MCR: value = uart->mcr; break;
	case UART_LSR: value = UART_LSR_THRE | UART_LSR_TEMT; break; /* output never blocks */
	case UART_MSR: value = UART_MSR_DEFAULT; break;
	case UART_SCR: value = uart->scr; break;
	}
	pthread_mutex_unlock(&uart->lock);
	memset(data, 0, len);
	*(uint8_t *)data = value;
}

static void uart_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	(void)len;
	struct uart_8250 *uart = opaque;
	uint8_t value = *(const uint8_t *)data;
	pthread_mutex_lock(&uart->lock);
	switch (offset) {
	case UART_RBR_THR:
		if (uart->lcr & UART_LCR_DLAB) {
			uart->dll = value;
		} else {
			if (!(uart->mcr & UART_MCR_LOOP) && uart->out) {
				fputc(value, uart->out);
				if (value == '\n')
					fflush(uart->out);
			}
			uart->bytes_out++;
			counter_add(&uart->counters.bytes_written, 1);
			uart->thr_interrupt_pending = 1;
			uart_update_irq_locked(uart);
		}
		break;
	case UART_IER:
		if (uart->lcr & UART_LCR_DLAB) {
			uart->dlm = value;
		} else {
			/* Enabling THRI with an empty THR raises it at once, as on hardware. */
			if ((value & UART_IER_THRI) && !(uart->ier & UART_IER_THRI))
				uart->thr_interrupt_pending = 1;
			uart->ier = value & 0x0f;
			uart_update_irq_locked(uart);
		}
		break;
	case UART_IIR_FCR: break; /* FIFO control: no FIFO to control */
	case UART_LCR: uart->lcr = value; break;
	case UART_MCR: uart->mcr = value & 0x1f; break;
	case UART_SCR: uart->scr = value; break;
	default: break; /* LSR and MSR are read-only */
	}
	pthread_mutex_unlock(&uart->lock);
}

static const struct bus_region_ops uart_ops = { .read = uart_read, .write = uart_write };

int uart_8250_init(struct uart_8250 *uart, struct bus *pio, struct irq_router *irq, FILE *out)
{
	memset(uart, 0, sizeof(*uart));
	pthread_mutex_init(&uart->lock, NULL);
	uart->out = out;
	uart->irq = irq;
	return bus_register(pio, UART_COM1_BASE, 8, &uart_ops, uart, "uart-8250", &uart->counters);
}

void uart_8250_destroy(struct uart_8250 *uart, struct bus *pio)
{
	bus_unregister(pio, UART_COM1_BASE, uart);
	if (uart->out)
		fflush(uart->out);
	pthread_mutex_destroy(&uart->lock);
}
