#include "guest/print.h"

#include <stdbool.h>
#include <stdint.h>

#include "guest/serial.h"

/* Where formatted characters go: the serial port, or a bounded buffer. */
struct print_sink {
	char *buf;      /* NULL: serial */
	size_t len;
	size_t pos;
};

static void sink_putc(struct print_sink *sink, char c)
{
	if (!sink->buf) {
		serial_putc(c);
		return;
	}
	if (sink->pos + 1 < sink->len)
		sink->buf[sink->pos++] = c;
}

static void sink_pad(struct print_sink *sink, char c, int count)
{
	for (; count > 0; count--)
		sink_putc(sink, c);
}

static void format_unsigned(struct print_sink *sink, uint64_t value, unsigned base, bool upper,
			    bool negative, int width, char pad)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = digits[value % base];
		value /= base;
	} while (value);
	int len = n + (negative ? 1 : 0);
	if (negative && pad == '0')
		sink_putc(sink, '-');
	sink_pad(sink, pad, width - len);
	if (negative && pad != '0')
		sink_putc(sink, '-');
	while (n)
		sink_putc(sink, tmp[--n]);
}

static void format(struct print_sink *sink, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			sink_putc(sink, *fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		int width = 0;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		int precision = -1;
		if (*fmt == '.') {
			fmt++;
			if (*fmt == '*') {
				precision = va_arg(ap, int);
				fmt++;
			} else {
				precision = 0;
				while (*fmt >= '0' && *fmt <= '9')
					precision = precision * 10 + (*fmt++ - '0');
			}
		}
		int longs = 0;
		while (*fmt == 'l' || *fmt == 'z') {
			longs = *fmt == 'z' ? 2 : longs + 1;
			fmt++;
		}
		switch (*fmt) {
		case 'd': {
			int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
			uint64_t mag = v < 0 ? -(uint64_t)v : (uint64_t)v;
			format_unsigned(sink, mag, 10, false, v < 0, width, pad);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			format_unsigned(sink, v, *fmt == 'u' ? 10 : 16, *fmt == 'X', false, width, pad);
			break;
		}
		case 'p':
			sink_putc(sink, '0');
			sink_putc(sink, 'x');
			format_unsigned(sink, (uintptr_t)va_arg(ap, void *), 16, false, false, width, pad);
			break;
		case 'c':
			sink_putc(sink, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			int n = 0;
			while (s[n] && (precision < 0 || n < precision))
				n++;
			sink_pad(sink, ' ', width - n);
			for (int i = 0; i < n; i++)
				sink_putc(sink, s[i]);
			break;
		}
		case '%':
			sink_putc(sink, '%');
			break;
		case '\0':
			return;
		default:
			/* Unknown conversion: show it rather than guess. */
			sink_putc(sink, '%');
			sink_putc(sink, *fmt);
			break;
		}
	}
}

void guest_printf(const char *fmt, ...)
{
	struct print_sink sink = { 0 };
	va_list ap;
	va_start(ap, fmt);
	format(&sink, fmt, ap);
	va_end(ap);
}

void guest_vsnprintf(char *buf, size_t len, const char *fmt, va_list ap)
{
	struct print_sink sink = { .buf = buf, .len = len, .pos = 0 };
	if (len == 0)
		return;
	format(&sink, fmt, ap);
	buf[sink.pos] = '\0';
}

void guest_snprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	guest_vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}
