/* The 8250 console: output bytes, the divisor latch, status and THRE interrupts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "core/irq.h"
#include "emulated/uart_8250.h"
#include "tests/test_registry.h"

static void outb(struct bus *bus, uint16_t port, uint8_t v) { bus_write(bus, port, &v, 1); }
static uint8_t inb(struct bus *bus, uint16_t port) { uint8_t v = 0; bus_read(bus, port, &v, 1); return v; }

START_TEST(test_uart_output_and_divisor_latch)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	struct bus pio;
	bus_init(&pio, BUS_PIO);
	struct uart_8250 uart;
	ck_assert_int_eq(uart_8250_init(&uart, &pio, NULL, out), 0);

	outb(&pio, 0x3F8, 'o');
	outb(&pio, 0x3F8, 'k');
	/* With DLAB set, the data port is the divisor latch: nothing is printed. */
	outb(&pio, 0x3FB, 0x80);
	outb(&pio, 0x3F8, 0x01);
	outb(&pio, 0x3F9, 0x00);
	ck_assert_uint_eq(inb(&pio, 0x3F8), 0x01);
	outb(&pio, 0x3FB, 0x03);
	outb(&pio, 0x3F8, '\n');
	ck_assert_uint_eq(inb(&pio, 0x3FB), 0x03);
	ck_assert_uint_eq(inb(&pio, 0x3FD) & 0x60, 0x60); /* transmitter always empty */
	ck_assert_uint_eq(inb(&pio, 0x3FE) & 0xb0, 0xb0);
	outb(&pio, 0x3FF, 0x5a);
	ck_assert_uint_eq(inb(&pio, 0x3FF), 0x5a);
	ck_assert_uint_eq(counter_get(&uart.counters.bytes_written), 3);
	ck_assert_uint_eq(counter_get(&uart.counters.pio_exits), 13);

	uart_8250_destroy(&uart, &pio);
	fclose(out);
	ck_assert_uint_eq(size, 3);
	ck_assert_mem_eq(text, "ok\n", 3);
	free(text);
	bus_destroy(&pio);
}
END_TEST

START_TEST(test_uart_loopback_prints_nothing)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	struct bus pio;
	bus_init(&pio, BUS_PIO);
	struct uart_8250 uart;
	ck_assert_int_eq(uart_8250_init(&uart, &pio, NULL, out), 0);
	outb(&pio, 0x3FC, 0x10); /* MCR loopback: drivers probe with it */
	outb(&pio, 0x3F8, 'x');
	uart_8250_destroy(&uart, &pio);
	fclose(out);
	ck_assert_uint_eq(size, 0);
	free(text);
	bus_destroy(&pio);
}
END_TEST

START_TEST(test_uart_thre_interrupt)
{
	struct bus pio;
	bus_init(&pio, BUS_PIO);
	struct irq_router *irq = irq_router_create(-1);
	struct uart_8250 uart;
	ck_assert_int_eq(uart_8250_init(&uart, &pio, irq, NULL), 0);

	ck_assert_uint_eq(inb(&pio, 0x3FA) & 0x0f, 0x01); /* no interrupt pending */
	outb(&pio, 0x3F9, 0x02);                           /* enable THRE interrupt */
	ck_assert_uint_eq(counter_get(&uart.counters.interrupts), 1);
	ck_assert_uint_eq(inb(&pio, 0x3FA) & 0x0f, 0x02); /* THRE, and reading acknowledges */
	ck_assert_uint_eq(inb(&pio, 0x3FA) & 0x0f, 0x01);
	outb(&pio, 0x3F8, 'a');                            /* sent at once: THRE again */
	ck_assert_uint_eq(counter_get(&uart.counters.interrupts), 2);
	ck_assert_uint_eq(inb(&pio, 0x3FA) & 0x0f, 0x02);
	outb(&pio, 0x3F9, 0x00);
	outb(&pio, 0x3F8, 'b');
	ck_assert_uint_eq(counter_get(&uart.counters.interrupts), 2);
	ck_assert_uint_gt(irq->intx_level_calls, 0);
	/* A polled console (THRE interrupt off) costs no irqchip call per byte. */
	uint32_t calls = irq->intx_level_calls;
	for (int i = 0; i < 50; i++)
		outb(&pio, 0x3F8, 'c');
	ck_assert_uint_eq(irq->intx_level_calls, calls);

	uart_8250_destroy(&uart, &pio);
	irq_router_destroy(irq);
	bus_destroy(&pio);
}
END_TEST

static Suite *uart_8250_suite(void)
{
	Suite *s = suite_create("uart_8250");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_uart_output_and_divisor_latch);
	tcase_add_test(tc, test_uart_loopback_prints_nothing);
	tcase_add_test(tc, test_uart_thre_interrupt);
	suite_add_tcase(s, tc);
	return s;
}
TEST_SUITE_REGISTER(uart_8250_suite)
