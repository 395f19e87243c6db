/* Each test file registers its Check suite from a constructor, so adding a
 * test file needs no edit elsewhere. Run one suite with CK_RUN_SUITE=name. */
#ifndef IOVIRT_TESTS_REGISTRY_H
#define IOVIRT_TESTS_REGISTRY_H

#include <check.h>

typedef Suite *(*test_suite_fn)(void);

void test_register_suite(test_suite_fn fn);

#define TEST_SUITE_REGISTER(fn) \
	static void __attribute__((constructor)) test_register_##fn(void) { test_register_suite(fn); }

#endif
