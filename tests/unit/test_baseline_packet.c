/* The packet baseline really echoes frames and reports what it measured;
 * no assertion depends on how fast the machine is. */
#include <stdio.h>

#include "bench/baseline_packet.h"
#include "tests/test_registry.h"

START_TEST(test_baseline_packet_loopback_echoes)
{
	const char *const backends[] = { "loopback" };
	const unsigned sizes[] = { 64, 1500 };
	struct baseline_packet_config config = {
		.backends = backends, .nbackends = 1,
		.frame_sizes = sizes, .nsizes = 2,
		.duration_ms = 50, .cpu = -1,
	};
	struct baseline_packet_result r[4];
	unsigned n = 99;
	ck_assert_int_eq(baseline_packet_run(&config, r, 4, &n, NULL), 0);
	ck_assert_uint_eq(n, 2);
	for (unsigned i = 0; i < n; i++) {
		ck_assert_str_eq(r[i].backend, "loopback");
		ck_assert_uint_eq(r[i].frame_size, sizes[i]);
		ck_assert_uint_gt(r[i].round_trips, 0);
		ck_assert_uint_eq(r[i].lost + r[i].bad + r[i].drops, 0);
		ck_assert(r[i].rtt_p50_us > 0 && r[i].rtt_p50_us <= r[i].rtt_p99_us);
		ck_assert(r[i].packets_per_s > 0);
		ck_assert(r[i].mb_per_s > 0);
	}
}
END_TEST

START_TEST(test_baseline_packet_refuses_bad_input)
{
	const char *const backends[] = { "nosuch:thing", "loopback" };
	const unsigned bad_size[] = { 20 };
	struct baseline_packet_result r[4];
	unsigned n = 99;
	struct baseline_packet_config config = {
		.backends = backends + 1, .nbackends = 1,
		.frame_sizes = bad_size, .nsizes = 1, .duration_ms = 10, .cpu = -1,
	};
	ck_assert_int_eq(baseline_packet_run(&config, r, 4, &n, NULL), -1);
	ck_assert_uint_eq(n, 0);

	/* A back end that cannot open is skipped, the others still run. */
	const unsigned ok_size[] = { 64 };
	config.backends = backends;
	config.nbackends = 2;
	config.frame_sizes = ok_size;
	ck_assert_int_eq(baseline_packet_run(&config, r, 4, &n, NULL), -1);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(r[0].backend, "loopback");
	ck_assert_uint_gt(r[0].round_trips, 0);
}
END_TEST

static Suite *baseline_packet_suite(void)
{
	Suite *s = suite_create("baseline_packet");
	TCase *tc = tcase_create("loopback");
	tcase_add_test(tc, test_baseline_packet_loopback_echoes);
	tcase_add_test(tc, test_baseline_packet_refuses_bad_input);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(baseline_packet_suite)
