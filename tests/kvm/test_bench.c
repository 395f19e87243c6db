/* The benchmark: a short run of the whole matrix (tiny durations), its JSON
 * checked against the documented schema, and exits per I/O checked against
 * what each model implies. No timing is asserted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "core/cli.h"
#include "tests/test_json.h"
#include "tests/test_registry.h"
#include "tests/test_util.h"

static char out[65536], err[65536];

static double metric(const struct json_value *cell, const char *key)
{
	const struct json_value *m = json_get(json_get(cell, "metrics"), key);
	ck_assert_msg(m && m->type == JSON_OBJECT, "metric %s missing", key);
	const struct json_value *median = json_get(m, "median");
	ck_assert_msg(median && median->type == JSON_NUMBER, "metric %s has no median", key);
	ck_assert_msg(json_get(m, "min") && json_get(m, "max"), "metric %s lacks min/max", key);
	return median->number;
}

static const char *string_of(const struct json_value *object, const char *key)
{
	const struct json_value *v = json_get(object, key);
	ck_assert_msg(v && v->type == JSON_STRING, "\"%s\" is not a string", key);
	return v->string;
}

static double number_of(const struct json_value *object, const char *key)
{
	const struct json_value *v = json_get(object, key);
	ck_assert_msg(v && v->type == JSON_NUMBER, "\"%s\" is not a number", key);
	return v->number;
}

START_TEST(test_bench_short_matrix)
{
	REQUIRE_KVM();
	char dir[64], json_path[96], csv_path[96], report[96], index[128];
	test_make_temp_dir(dir, sizeof(dir));
	snprintf(json_path, sizeof(json_path), "%s/bench.json", dir);
	snprintf(csv_path, sizeof(csv_path), "%s/bench.csv", dir);
	snprintf(report, sizeof(report), "%s/report", dir);
	int status = test_run_iovirt((const char *const[]){ "bench", "--reps", "1", "--duration", "150", "--cpl", "0",
							    "--no-baseline", "--json", json_path, "--csv", csv_path,
							    "--report", report, NULL },
				     false, out, sizeof(out), err, sizeof(err));
	ck_assert_msg(status == 0, "bench exit %d; stderr:\n%s", status, err);
	ck_assert_ptr_nonnull(strstr(err, "bench [1/"));              /* progress was shown */
	ck_assert_ptr_nonnull(strstr(out, "IOPS median (min-max)"));  /* the table */

	static char text[1 << 20];
	ck_assert_int_gt(test_read_file(json_path, text, sizeof(text)), 0);
	char why[256];
	struct json_value *doc = json_parse(text, why, sizeof(why));
	ck_assert_msg(doc != NULL, "%s", why);
	ck_assert_str_eq(string_of(doc, "schema"), "iovirt-bench");
	ck_assert_int_eq((int)number_of(doc, "schema_version"), BENCH_SCHEMA_VERSION);
	string_of(doc, "started");
	ck_assert(number_of(doc, "host_tsc_khz") > 0);
	const struct json_value *config = json_get(doc, "config");
	ck_assert_int_eq((int)number_of(config, "reps"), 1);
	ck_assert_str_eq(string_of(config, "cpl"), "0");
	const struct json_value *cells = json_get(doc, "cells");
	ck_assert(cells && cells->type == JSON_ARRAY);
	/* Every workload in every model: passthrough rows are there, skipped with a reason. */
	ck_assert_uint_eq(cells->count, bench_workload_count * BENCH_MODEL_COUNT);
	unsigned ok_cells = 0;
	for (size_t i = 0; i < cells->count; i++) {
		const struct json_value *c = cells->items[i];
		const char *model = string_of(c, "model"), *state = string_of(c, "state"), *name = string_of(c, "workload");
		const char *device = string_of(c, "device");
		if (!strcmp(model, "passthrough")) {
			ck_assert_str_eq(state, "skipped");
			ck_assert_ptr_nonnull(strstr(string_of(c, "why"), "--vfio-"));
			continue;
		}
		ck_assert_msg(!strcmp(state, "ok"), "%s %s %s: %s (%s)", device, model, name, state, string_of(c, "why"));
		ok_cells++;
		ck_assert_int_eq((int)number_of(c, "ok_reps"), 1);
		ck_assert_int_eq((int)number_of(c, "cpl"), 0);
		for (unsigned m = 0; m < BENCH_METRIC_COUNT; m++)
			metric(c, bench_metrics[m].key);
		/* Work was done and its data checked (a cell is ok only if the guest passed). */
		ck_assert_msg(metric(c, "iops") > 0 && metric(c, "mb_per_s") > 0, "%s %s: no work", model, name);
		ck_assert(metric(c, "p50_us") > 0 && metric(c, "p99_us") >= metric(c, "p50_us"));
		const struct json_value *hist = json_get(json_get(c, "latency_histogram"), "buckets");
		ck_assert(hist && hist->type == JSON_ARRAY && hist->count > 0);
		double device_exits = metric(c, "device_pio_exits_per_io") + metric(c, "device_mmio_exits_per_io");
		if (!strcmp(model, "split")) {
			/* Kicks end in ioeventfds: no userspace exit into the device. */
			ck_assert_msg(device_exits == 0, "split %s: %.3f device exits per I/O", name, device_exits);
			ck_assert_msg(metric(c, "ioeventfd_kicks_per_io") > 0, "split %s: no kicks", name);
		} else {
			/* Every doorbell traps; at QD 1 each request rings at least once. */
			ck_assert_msg(device_exits > 0, "emulated %s: no device exits", name);
			if (number_of(c, "qd") == 1)
				ck_assert_msg(metric(c, "device_mmio_exits_per_io") >= 1,
					      "emulated %s: %.3f MMIO exits per I/O at QD 1", name,
					      metric(c, "device_mmio_exits_per_io"));
			ck_assert(metric(c, "ioeventfd_kicks_per_io") == 0);
		}
		const struct json_value *peer = json_get(c, "peer");
		ck_assert(peer && json_get(peer, "ran") && json_get(peer, "ran")->type == JSON_BOOL);
	}
	ck_assert_uint_eq(ok_cells, bench_workload_count * 2);
	json_free(doc);

	ck_assert_int_gt(test_read_file(csv_path, text, sizeof(text)), 0);
	ck_assert_uint_eq(test_count_lines(text), 1 + bench_workload_count * BENCH_MODEL_COUNT);
	ck_assert(!strncmp(text, "device,model,workload,state,cpl,reps,iops,", 42));
	snprintf(index, sizeof(index), "%s/index.html", report);
	ck_assert_int_gt(test_read_file(index, text, sizeof(text)), 0);
	ck_assert_ptr_nonnull(strstr(text, "<svg"));
	ck_assert_ptr_nonnull(strstr(text, "latency CDF"));
	unlink(json_path);
	unlink(csv_path);
	unlink(index);
	rmdir(report);
	rmdir(dir);
}
END_TEST

START_TEST(test_bench_bad_options)
{
	static const char *const bad[][4] = {
		{ "bench", "--model", "bogus", NULL },
		{ "bench", "--workload", "randread-9k", NULL },
		{ "bench", "--cpl", "2", NULL },
		{ "bench", "--reps", "0", NULL },
		{ "bench", "--peer", "xen", NULL },
		{ "bench", "--qd", "1,8", NULL },
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int status = test_run_iovirt(bad[i], false, out, sizeof(out), err, sizeof(err));
		ck_assert_msg(status == CLI_EXIT_USAGE, "%s %s: exit %d", bad[i][1], bad[i][2], status);
		ck_assert_msg(test_count_lines(err) == 1, "%s %s: %s", bad[i][1], bad[i][2], err);
	}
}
END_TEST

START_TEST(test_json_reader_rejects_garbage)
{
	char why[128];
	static const char *const bad[] = { "", "{", "{\"a\":}", "[1,]", "{\"a\" 1}", "\"x", "1 2", "nul" };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_value *v = json_parse(bad[i], why, sizeof(why));
		ck_assert_msg(v == NULL, "accepted '%s'", bad[i]);
	}
	struct json_value *v = json_parse("{\"a\": [1, 2.5, \"q\\\"\"], \"b\": true}", why, sizeof(why));
	ck_assert_msg(v != NULL, "%s", why);
	ck_assert_uint_eq(json_get(v, "a")->count, 3);
	ck_assert_str_eq(json_get(v, "a")->items[2]->string, "q\"");
	json_free(v);
}
END_TEST

static Suite *bench_suite(void)
{
	Suite *s = suite_create("bench");
	TCase *tc = tcase_create("matrix");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_json_reader_rejects_garbage);
	tcase_add_test(tc, test_bench_bad_options);
	tcase_add_test(tc, test_bench_short_matrix);
	suite_add_tcase(s, tc);
	return s;
}
TEST_SUITE_REGISTER(bench_suite)
