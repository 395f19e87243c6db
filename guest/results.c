#include "guest/results.h"

#include <stdarg.h>
#include <stdbool.h>

#include "guest/interrupts.h"
#include "guest/io.h"
#include "guest/print.h"

struct guest_results guest_results;

static const char *result_test_name = "none";
static bool finishing;

void results_begin(uint64_t tsc_at_entry, uint64_t tsc_khz)
{
	guest_results.magic = GUEST_RESULTS_MAGIC;
	guest_results.version = GUEST_RESULTS_VERSION;
	guest_results.tsc_at_entry = tsc_at_entry;
	guest_results.tsc_khz = tsc_khz;
}

void results_set_test(const char *name)
{
	result_test_name = name;
}

void results_set_message(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	guest_vsnprintf(guest_results.message, sizeof(guest_results.message), fmt, ap);
	va_end(ap);
}

static const char *status_name(enum guest_status status)
{
	switch (status) {
	case GUEST_STATUS_PASS:
		return "pass";
	case GUEST_STATUS_FAIL:
		return "fail";
	case GUEST_STATUS_EXCEPTION:
		return "exception";
	case GUEST_STATUS_BAD_PARAMS:
		return "bad_params";
	}
	return "unknown";
}

static __attribute__((noreturn)) void signal_done_and_halt(enum guest_status status)
{
	outb(GUEST_CTL_PORT_DONE, (uint8_t)status);
	for (;;)
		__asm__ volatile("cli; hlt");
}

void results_finish(enum guest_status status)
{
	interrupts_disable();
	if (finishing)
		signal_done_and_halt(status);
	finishing = true;

	struct guest_results *r = &guest_results;
	r->status = status;
	r->interrupts = interrupts_msix_total();
	r->tsc_at_done = rdtsc();

	guest_printf("RESULT test=%s\n", result_test_name);
	guest_printf("RESULT status=%s\n", status_name(status));
	guest_printf("RESULT pci_functions=%u\n", r->pci_functions);
	guest_printf("RESULT interrupts=%u\n", r->interrupts);
	if (status == GUEST_STATUS_EXCEPTION)
		guest_printf("RESULT exception_vector=%u\n", r->exception_vector);
	guest_printf("RESULT tsc_khz=%lu\n", r->tsc_khz);
	guest_printf("RESULT tsc_cycles=%lu\n", r->tsc_at_done - r->tsc_at_entry);
	guest_printf("RESULT message=%s\n", r->message);

	/* The high half publishes: the block is complete before either write. */
	uint64_t gpa = (uintptr_t)r;
	__asm__ volatile("" : : : "memory");
	outl(GUEST_CTL_PORT_RESULTS_LO, (uint32_t)gpa);
	outl(GUEST_CTL_PORT_RESULTS_HI, (uint32_t)(gpa >> 32));
	signal_done_and_halt(status);
}
