/* What the exception stubs call: report the fault once, finish the run. */
#include <stdbool.h>
#include <stdint.h>

#include "guest/print.h"
#include "guest/results.h"

/* The stack as guest/interrupt_stubs.S leaves it. */
struct exception_frame {
	uint64_t vector;
	uint64_t error;
	uint64_t rip;
	uint64_t cs;
	uint64_t rflags;
	uint64_t rsp;
	uint64_t ss;
};

void exception_report(const struct exception_frame *frame) __attribute__((noreturn));

static const char *const exception_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
	"#DF", "vector 9", "#TS", "#NP", "#SS", "#GP", "#PF", "vector 15",
	"#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "vector 22", "vector 23",
	"vector 24", "vector 25", "vector 26", "vector 27", "vector 28", "#VC", "#SX", "vector 31",
};

static bool reporting;

void exception_report(const struct exception_frame *frame)
{
	/* A fault while reporting one: skip the console, just say done. */
	if (reporting)
		results_finish(GUEST_STATUS_EXCEPTION);
	reporting = true;

	/* The ring it came from: iovirt.cpl=3 runs driver loops in ring 3. */
	unsigned cpl = (unsigned)(frame->cs & 3);
	guest_printf("EXCEPTION vector=%lu error=0x%lx rip=0x%lx cpl=%u\n", frame->vector, frame->error, frame->rip,
		     cpl);
	guest_results.exception_vector = (uint32_t)frame->vector;
	guest_results.exception_error = (uint32_t)frame->error;
	guest_results.exception_rip = frame->rip;
	results_set_message("CPU exception %s (vector %lu) at rip 0x%lx, error code 0x%lx, in ring %u",
			    exception_names[frame->vector & 31], frame->vector, frame->rip, frame->error, cpl);
	results_finish(GUEST_STATUS_EXCEPTION);
}
