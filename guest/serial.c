#include "guest/serial.h"

#include "guest/io.h"

#define COM1_BASE     0x3F8
#define UART_THR      0    /* transmit holding register */
#define UART_LSR      5    /* line status register */
#define UART_LSR_THRE 0x20 /* THR empty: the next byte may be written */
#define THRE_POLL_LIMIT 100000 /* a UART that never drains must not hang us */

/* No divisor or line setup: both iovirt's and QEMU's 8250 transmit without it,
 * and each port access is a VM exit. */
void serial_putc(char c)
{
	for (unsigned polls = 0; polls < THRE_POLL_LIMIT; polls++)
		if (inb(COM1_BASE + UART_LSR) & UART_LSR_THRE)
			break;
	outb(COM1_BASE + UART_THR, (uint8_t)c);
}

void serial_write(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		serial_putc(s[i]);
}

void serial_puts(const char *s)
{
	while (*s)
		serial_putc(*s++);
}
