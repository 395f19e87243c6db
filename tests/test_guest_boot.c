#include "tests/test_guest_boot.h"

#include <check.h>
#include <stdio.h>
#include <unistd.h>

#include "tests/test_util.h"

#define GUEST_BOOT_MEM_BYTES (64ull << 20)
#define GUEST_BOOT_TIMEOUT_MS 60000

void test_boot_guest(const char *cmdline, const char *option, const char *value,
		     struct guest_run_outcome *outcome, char *console, size_t cap)
{
	char dir[64], console_path[96], err[512], device[256] = "";
	test_make_temp_dir(dir, sizeof(dir));
	snprintf(console_path, sizeof(console_path), "%s/console.txt", dir);

	struct guest_run_config config;
	guest_run_config_defaults(&config);
	config.mem_bytes = GUEST_BOOT_MEM_BYTES;
	config.cmdline = cmdline;
	config.console_path = console_path;
	config.timeout_ms = GUEST_BOOT_TIMEOUT_MS;
	if (value) {
		ck_assert_msg(guest_run_add_device(&config, option, value, err, sizeof(err)) == 0, "%s", err);
		/* Failure messages name the device the run had. */
		snprintf(device, sizeof(device), "--%s %s: ", option, value);
	}
	ck_assert_msg(guest_run(&config, outcome, err, sizeof(err)) == 0, "guest_run: %s", err);
	ck_assert_int_ge(test_read_file(console_path, console, cap), 0);
	unlink(console_path);
	rmdir(dir);
	ck_assert_msg(outcome->reason == VM_STOP_GUEST_DONE, "%sstopped by %s: %s; console:\n%s", device,
		      vm_stop_reason_name(outcome->reason), outcome->stop_message, console);
	ck_assert_msg(outcome->have_results, "guest published no results block; console:\n%s", console);
}
