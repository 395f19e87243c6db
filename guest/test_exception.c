/* iovirt.test=exception: a deliberate #UD. The expected outcome is the IDT
 * handler's report (status GUEST_STATUS_EXCEPTION, vector 6), so reaching the
 * end of this function is the failure. */
#include "guest/results.h"
#include "guest/tests.h"

enum guest_status test_exception_run(const struct guest_test_env *env)
{
	(void)env;
	__asm__ volatile("ud2");
	results_set_message("ud2 did not raise #UD");
	return GUEST_STATUS_FAIL;
}
