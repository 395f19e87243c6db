/* iovirt.test=idle: never finishes. Lets the VMM's stop paths (signals,
 * --timeout) be tested against a guest that is alive but silent. */
#include "guest/serial.h"
#include "guest/tests.h"

enum guest_status test_idle_run(const struct guest_test_env *env)
{
	(void)env;
	serial_puts("idle: waiting to be stopped\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}
