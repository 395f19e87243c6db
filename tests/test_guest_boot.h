/* Booting the built-in test guest on KVM in this process (core/guest_run.h)
 * with its serial console captured, as the KVM suites that read back what the
 * guest printed and published all do. */
#ifndef IOVIRT_TESTS_GUEST_BOOT_H
#define IOVIRT_TESTS_GUEST_BOOT_H

#include <stddef.h>

#include "core/guest_run.h"

/* Runs the built-in guest (64 MiB, bounded by 60 s) with cmdline and at most
 * one device, given as the command line would: option ("disk", "nic" or
 * "device") and its value; none when value is NULL. The console lands in
 * console (NUL-terminated, truncated to cap). Asserts that the guest finished
 * by itself and published its results block. */
void test_boot_guest(const char *cmdline, const char *option, const char *value,
		     struct guest_run_outcome *outcome, char *console, size_t cap);

#endif
