/* The tests the guest can run, selected by iovirt.test=NAME. Each returns
 * its status and leaves a one-line message in the results block. When a test
 * starts, the IDT is loaded, the LAPIC is enabled (8259s masked) and
 * interrupts are off; guest_results.tsc_khz is set. */
#ifndef IOVIRT_GUEST_TESTS_H
#define IOVIRT_GUEST_TESTS_H

#include "guest/abi.h"

struct guest_test_env {
	const char *cmdline;   /* for test-specific keys */
};

enum guest_status test_boot_run(const struct guest_test_env *env);
enum guest_status test_exception_run(const struct guest_test_env *env);
enum guest_status test_msix_run(const struct guest_test_env *env);
enum guest_status test_idle_run(const struct guest_test_env *env);
enum guest_status test_triple_fault_run(const struct guest_test_env *env);
enum guest_status test_disk_run(const struct guest_test_env *env);
enum guest_status test_nic_run(const struct guest_test_env *env);
enum guest_status test_dma_escape_run(const struct guest_test_env *env);

#endif
