/* Runs every registered Check suite; the closing summary line is what CI reads. */
#include <stdio.h>
#include <stdlib.h>

#include "tests/test_registry.h"

#define MAX_SUITES 64
static test_suite_fn suites[MAX_SUITES];
static unsigned nsuites;

void test_register_suite(test_suite_fn fn)
{
	if (nsuites == MAX_SUITES) {
		fprintf(stderr, "too many test suites; raise MAX_SUITES\n");
		abort();
	}
	suites[nsuites++] = fn;
}

int main(void)
{
	if (nsuites == 0) {
		fprintf(stderr, "no test suites registered\n");
		return 1;
	}
	SRunner *runner = srunner_create(suites[0]());
	for (unsigned i = 1; i < nsuites; i++)
		srunner_add_suite(runner, suites[i]());
	srunner_run_all(runner, CK_NORMAL);
	int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
