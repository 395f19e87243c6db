/* printf-style formatting for the guest, to the serial console or a buffer.
 * Conversions: %d %u %x %X %s %c %p %%, flag 0, a field width, precision
 * (".N" or ".*") for %s, and the l, ll and z length modifiers. */
#ifndef IOVIRT_GUEST_PRINT_H
#define IOVIRT_GUEST_PRINT_H

#include <stdarg.h>
#include <stddef.h>

void guest_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Always NUL-terminates (when len > 0); output beyond len - 1 is dropped. */
void guest_snprintf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void guest_vsnprintf(char *buf, size_t len, const char *fmt, va_list ap);

#endif
