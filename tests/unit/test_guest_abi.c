/* The latency histogram both the guest and the benchmark read. */
#include "guest/abi.h"
#include "tests/test_registry.h"

START_TEST(test_lat_bucket_brackets_value)
{
	for (uint64_t v = 0; v < (1ull << 31); v = v * 5 / 4 + 1) {
		unsigned b = guest_lat_bucket(v);
		ck_assert_uint_lt(b, GUEST_LAT_BUCKETS);
		ck_assert_msg(guest_lat_bucket_floor(b) <= v, "floor(%u) > %llu", b, (unsigned long long)v);
		if (b + 1 < GUEST_LAT_BUCKETS)
			ck_assert_msg(v < guest_lat_bucket_floor(b + 1), "%llu not below floor(%u)",
				      (unsigned long long)v, b + 1);
		/* Resolution: a bucket is at most 1/8 of its floor wide. */
		if (v >= 8 && b + 1 < GUEST_LAT_BUCKETS)
			ck_assert_uint_le(guest_lat_bucket_floor(b + 1) - guest_lat_bucket_floor(b),
					  guest_lat_bucket_floor(b) / 8 + 1);
	}
	ck_assert_uint_eq(guest_lat_bucket(~0ull), GUEST_LAT_BUCKETS - 1);
}
END_TEST

START_TEST(test_lat_bucket_monotonic)
{
	unsigned last = 0;
	for (uint64_t v = 0; v < 100000; v++) {
		unsigned b = guest_lat_bucket(v);
		ck_assert_uint_ge(b, last);
		last = b;
	}
}
END_TEST

static Suite *guest_abi_suite(void)
{
	Suite *s = suite_create("guest_abi");
	TCase *tc = tcase_create("histogram");
	tcase_add_test(tc, test_lat_bucket_brackets_value);
	tcase_add_test(tc, test_lat_bucket_monotonic);
	suite_add_tcase(s, tc);
	return s;
}
TEST_SUITE_REGISTER(guest_abi_suite)
