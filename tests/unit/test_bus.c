/* The PIO/MMIO bus: dispatch by interval, overlap refusal, unclaimed accesses. */
#include <string.h>

#include "core/bus.h"
#include "tests/test_registry.h"

struct fake_device {
	uint64_t last_offset;
	uint32_t last_len;
	uint64_t last_value;
	unsigned reads, writes;
};

static void fake_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct fake_device *d = opaque;
	d->reads++;
	d->last_offset = offset;
	d->last_len = len;
	uint64_t v = 0xA000 + offset;
	memcpy(data, &v, len);
}

static void fake_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct fake_device *d = opaque;
	d->writes++;
	d->last_offset = offset;
	d->last_len = len;
	d->last_value = 0;
	memcpy(&d->last_value, data, len);
}

static const struct bus_region_ops fake_ops = { .read = fake_read, .write = fake_write };

START_TEST(test_bus_dispatch_by_interval)
{
	struct bus bus;
	bus_init(&bus, BUS_MMIO);
	struct fake_device a = { 0 }, b = { 0 };
	struct device_counters ca = { 0 };
	ck_assert_int_eq(bus_register(&bus, 0x1000, 0x100, &fake_ops, &a, "a", &ca), 0);
	ck_assert_int_eq(bus_register(&bus, 0x3000, 0x10, &fake_ops, &b, "b", NULL), 0);

	uint32_t v = 0x11223344;
	ck_assert(bus_write(&bus, 0x1010, &v, 4));
	ck_assert_uint_eq(a.writes, 1);
	ck_assert_uint_eq(a.last_offset, 0x10);
	ck_assert_uint_eq(a.last_value, 0x11223344);
	ck_assert_uint_eq(b.writes, 0);

	uint16_t r = 0;
	ck_assert(bus_read(&bus, 0x300e, &r, 2));
	ck_assert_uint_eq(b.reads, 1);
	ck_assert_uint_eq(r, 0xA00e);

	/* Last byte of a is in, first byte past it is not. */
	uint8_t byte;
	ck_assert(bus_read(&bus, 0x10ff, &byte, 1));
	ck_assert(!bus_read(&bus, 0x1100, &byte, 1));
	/* An access straddling the end of a region is not claimed by it. */
	ck_assert(!bus_read(&bus, 0x10fe, &v, 4));
	ck_assert_uint_eq(counter_get(&ca.mmio_exits), 2);
	bus_destroy(&bus);
}
END_TEST

START_TEST(test_bus_refuses_overlaps)
{
	struct bus bus;
	bus_init(&bus, BUS_PIO);
	struct fake_device a = { 0 };
	ck_assert_int_eq(bus_register(&bus, 0x100, 0x10, &fake_ops, &a, "a", NULL), 0);
	ck_assert_int_eq(bus_register(&bus, 0x10f, 1, &fake_ops, &a, "tail", NULL), -1);
	ck_assert_int_eq(bus_register(&bus, 0xf8, 0x10, &fake_ops, &a, "head", NULL), -1);
	ck_assert_int_eq(bus_register(&bus, 0x0, 0x1000, &fake_ops, &a, "cover", NULL), -1);
	ck_assert_int_eq(bus_register(&bus, 0x104, 2, &fake_ops, &a, "inside", NULL), -1);
	ck_assert_int_eq(bus_register(&bus, 0x200, 0, &fake_ops, &a, "empty", NULL), -1);
	ck_assert_int_eq(bus_register(&bus, ~0ull - 2, 8, &fake_ops, &a, "wraps", NULL), -1);
	/* Adjacent on both sides is fine. */
	ck_assert_int_eq(bus_register(&bus, 0xf0, 0x10, &fake_ops, &a, "before", NULL), 0);
	ck_assert_int_eq(bus_register(&bus, 0x110, 0x10, &fake_ops, &a, "after", NULL), 0);
	ck_assert_uint_eq(bus.nregions, 3);
	bus_destroy(&bus);
}
END_TEST

START_TEST(test_bus_unregister_then_unclaimed)
{
	struct bus bus;
	bus_init(&bus, BUS_MMIO);
	struct fake_device a = { 0 }, other = { 0 };
	ck_assert_int_eq(bus_register(&bus, 0x5000, 0x1000, &fake_ops, &a, "a", NULL), 0);
	ck_assert_int_eq(bus_unregister(&bus, 0x5000, &other), -1); /* not its region */
	ck_assert_int_eq(bus_unregister(&bus, 0x5000, &a), 0);
	uint32_t v = 0;
	ck_assert(!bus_read(&bus, 0x5000, &v, 4));
	ck_assert_uint_eq(v, 0xffffffff);
	ck_assert_uint_eq(a.reads, 0);
	/* The same address again and a new one: counted every time, logged once each. */
	ck_assert(!bus_write(&bus, 0x5000, &v, 4));
	ck_assert(!bus_read(&bus, 0x6000, &v, 4));
	ck_assert_uint_eq(counter_get(&bus.unclaimed_accesses), 3);
	ck_assert_uint_eq(bus.nunclaimed_logged, 2);
	bus_destroy(&bus);
}
END_TEST

START_TEST(test_bus_many_regions_sorted)
{
	struct bus bus;
	bus_init(&bus, BUS_PIO);
	struct fake_device devs[40] = { 0 };
	/* Registered out of order; lookups must still find each one. */
	for (unsigned i = 0; i < 40; i++) {
		unsigned slot = (i * 17) % 40;
		ck_assert_int_eq(bus_register(&bus, 0x1000 + slot * 0x10, 0x8, &fake_ops, &devs[slot],
					      "d", NULL), 0);
	}
	for (unsigned slot = 0; slot < 40; slot++) {
		uint8_t b = 1;
		ck_assert(bus_write(&bus, 0x1000 + slot * 0x10 + 7, &b, 1));
		ck_assert_uint_eq(devs[slot].writes, 1);
		ck_assert(!bus_write(&bus, 0x1000 + slot * 0x10 + 8, &b, 1)); /* the gap */
	}
	bus_destroy(&bus);
}
END_TEST

static Suite *bus_suite(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_bus_dispatch_by_interval);
	tcase_add_test(tc, test_bus_refuses_overlaps);
	tcase_add_test(tc, test_bus_unregister_then_unclaimed);
	tcase_add_test(tc, test_bus_many_regions_sorted);
	suite_add_tcase(s, tc);
	return s;
}
TEST_SUITE_REGISTER(bus_suite)
