/* Polled output on the first 8250 UART (COM1). */
#ifndef IOVIRT_GUEST_SERIAL_H
#define IOVIRT_GUEST_SERIAL_H

#include <stddef.h>

void serial_putc(char c);
void serial_write(const char *s, size_t len);
void serial_puts(const char *s);

#endif
