/* iovirt.test=triplefault: loads an empty IDT and raises an exception, so
 * the CPU cannot deliver it, nor the double fault: a triple fault, which the
 * VMM must report as a fatal guest error with a register dump. */
#include "guest/results.h"
#include "guest/tests.h"

enum guest_status test_triple_fault_run(const struct guest_test_env *env)
{
	(void)env;
	struct __attribute__((packed)) { uint16_t limit; uint64_t base; } empty_idt = { 0, 0 };
	__asm__ volatile("lidt %0; ud2" : : "m"(empty_idt));
	results_set_message("ud2 with an empty IDT did not triple-fault");
	return GUEST_STATUS_FAIL;
}
