/* Parsing of --disk/--nic/--device options and the model registry. */
#include <stdio.h>
#include <string.h>

#include "core/device.h"
#include "tests/test_registry.h"

START_TEST(test_spec_disk_options)
{
	struct device_spec s;
	char err[256];
	ck_assert_int_eq(device_spec_parse("disk", "model=split,path=disk.img,readonly=on", &s, err,
					   sizeof(err)), 0);
	ck_assert_str_eq(s.function, "disk");
	ck_assert_str_eq(s.model, "split");
	ck_assert_uint_eq(s.noptions, 2);
	ck_assert_str_eq(device_spec_get(&s, "path"), "disk.img");
	ck_assert_str_eq(device_spec_get(&s, "readonly"), "on");
	ck_assert_ptr_null(device_spec_get(&s, "model"));
}
END_TEST

START_TEST(test_spec_generic_device)
{
	struct device_spec s;
	char err[256];
	ck_assert_int_eq(device_spec_parse("device", "testdev", &s, err, sizeof(err)), 0);
	ck_assert_str_eq(s.function, "testdev");
	ck_assert_str_eq(s.model, "emulated");
	ck_assert_int_eq(device_spec_parse("device", "vfio,host=0000:00:02.0", &s, err, sizeof(err)), 0);
	ck_assert_str_eq(s.function, "vfio");
	ck_assert_str_eq(s.model, "passthrough");
	ck_assert_str_eq(device_spec_get(&s, "host"), "0000:00:02.0");
}
END_TEST

START_TEST(test_spec_malformed)
{
	struct device_spec s;
	char err[256];
	static const char *const bad[] = {
		"path=x",                 /* no model */
		"model=split,,path=x",    /* empty option */
		"model=split,",           /* trailing comma */
		"model=split,path",       /* not key=value */
		"model=split,=x",         /* empty key */
		"model=split,path=",      /* empty value */
		"model=split,model=emulated",
		"model=split,path=a,path=b",
		"",
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(device_spec_parse("disk", bad[i], &s, err, sizeof(err)) == -1,
			      "accepted '%s'", bad[i]);
		ck_assert_msg(strstr(err, "--disk") != NULL && !strchr(err, '\n'),
			      "message for '%s' is not one line naming the option: %s", bad[i], err);
	}
	char longval[400];
	memset(longval, 'a', sizeof(longval) - 1);
	longval[sizeof(longval) - 1] = '\0';
	char text[450];
	snprintf(text, sizeof(text), "model=split,path=%s", longval);
	ck_assert_int_eq(device_spec_parse("disk", text, &s, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_state_buffer_round_trip)
{
	struct device_state_buf buf = { 0 };
	for (uint32_t i = 0; i < 1000; i++)
		ck_assert_int_eq(device_state_put(&buf, &i, sizeof(i)), 0);
	for (uint32_t i = 0; i < 1000; i++) {
		uint32_t v;
		ck_assert_int_eq(device_state_get(&buf, &v, sizeof(v)), 0);
		ck_assert_uint_eq(v, i);
	}
	uint32_t v;
	ck_assert_int_eq(device_state_get(&buf, &v, sizeof(v)), -1); /* past the end */
	device_state_free(&buf);
}
END_TEST

static Suite *device_spec_suite(void)
{
	Suite *s = suite_create("device_spec");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_spec_disk_options);
	tcase_add_test(tc, test_spec_generic_device);
	tcase_add_test(tc, test_spec_malformed);
	tcase_add_test(tc, test_state_buffer_round_trip);
	suite_add_tcase(s, tc);
	return s;
}
TEST_SUITE_REGISTER(device_spec_suite)
