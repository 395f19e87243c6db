/* The guest's C entry: banner, parameters, run one test, report. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest/abi.h"
#include "guest/asm_defs.h"
#include "guest/cmdline.h"
#include "guest/idt.h"
#include "guest/interrupts.h"
#include "guest/io.h"
#include "guest/print.h"
#include "guest/pvh.h"
#include "guest/results.h"
#include "guest/serial.h"
#include "guest/string.h"
#include "guest/page_alloc.h"
#include "guest/tests.h"
#include "guest/tsc.h"
#include "guest/usermode.h"

_Static_assert(ASM_PORT_BOOTED == GUEST_CTL_PORT_BOOTED, "entry.S boot port matches guest/abi.h");
_Static_assert(ASM_BOOT_MAGIC == GUEST_BOOT_MAGIC, "entry.S boot magic matches guest/abi.h");

/* Longer command lines are cut here (iovirt allows 4095 characters). */
#define CMDLINE_MAX 1024

struct guest_test {
	const char *name;
	enum guest_status (*run)(const struct guest_test_env *env);
};

static const struct guest_test guest_tests[] = {
	{ GUEST_TEST_BOOT, test_boot_run },
	{ GUEST_TEST_MSIX, test_msix_run },
	{ GUEST_TEST_EXCEPTION, test_exception_run },
	{ GUEST_TEST_IDLE, test_idle_run },
	{ GUEST_TEST_TRIPLE_FAULT, test_triple_fault_run },
	{ GUEST_TEST_DISK, test_disk_run },
	{ GUEST_TEST_NIC, test_nic_run },
	{ GUEST_TEST_DMA_ESCAPE, test_dma_escape_run },
	{ GUEST_TEST_USER_EXCEPTION, test_user_exception_run },
};

#define GUEST_TEST_COUNT (sizeof(guest_tests) / sizeof(guest_tests[0]))

static char cmdline[CMDLINE_MAX];

/* Copies the command line out of the loader's boot area, bounded. */
static void copy_cmdline(const struct pvh_start_info *info)
{
	if (info->cmdline_paddr == 0 || info->cmdline_paddr >= (1ull << 32))
		return;
	const char *src = (const char *)(uintptr_t)info->cmdline_paddr;
	size_t n = 0;
	while (n < CMDLINE_MAX - 1 && src[n]) {
		cmdline[n] = src[n];
		n++;
	}
	cmdline[n] = '\0';
}

void guest_main(uint32_t start_info_paddr);

void guest_main(uint32_t start_info_paddr)
{
	uint64_t tsc_at_entry = rdtsc();
	idt_install();
	results_begin(tsc_at_entry, tsc_khz_detect());

	const struct pvh_start_info *info = (const struct pvh_start_info *)(uintptr_t)start_info_paddr;
	bool pvh_ok = info != NULL && info->magic == PVH_START_INFO_MAGIC;
	if (pvh_ok) {
		copy_cmdline(info);
		page_alloc_init(info);
	}
	serial_puts("iovirt test guest: booted via PVH\n");
	guest_printf("cmdline: %s\n", cmdline);
	if (!pvh_ok) {
		results_set_message("hvm_start_info at 0x%x has the wrong magic; boot this guest by PVH",
				    start_info_paddr);
		results_finish(GUEST_STATUS_BAD_PARAMS);
	}

	interrupts_init();
	struct cmdline_value test = { .text = GUEST_TEST_BOOT, .len = sizeof(GUEST_TEST_BOOT) - 1 };
	cmdline_lookup(cmdline, "iovirt.test", &test);
	for (size_t i = 0; i < GUEST_TEST_COUNT; i++) {
		if (!str_equal_n(test.text, test.len, guest_tests[i].name))
			continue;
		results_set_test(guest_tests[i].name);
		struct guest_test_env env = { .cmdline = cmdline };
		results_finish(guest_tests[i].run(&env));
	}
	results_set_message("unknown test iovirt.test=%.*s; use boot, msix, exception, idle, triplefault, disk, nic, dma-escape or user-exception",
			    (int)test.len, test.text);
	results_finish(GUEST_STATUS_BAD_PARAMS);
}
