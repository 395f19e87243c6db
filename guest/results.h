/* The guest's side of the results contract (guest/abi.h): one results block
 * in guest memory, RESULT lines on the console, then the "done" port. */
#ifndef IOVIRT_GUEST_RESULTS_H
#define IOVIRT_GUEST_RESULTS_H

#include <stdint.h>

#include "guest/abi.h"

extern struct guest_results guest_results;

void results_begin(uint64_t tsc_at_entry, uint64_t tsc_khz);
/* The test name the RESULT lines carry ("boot", "msix", ...). */
void results_set_test(const char *name);
void results_set_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints the RESULT lines, publishes the block's address, writes status to
 * the done port and halts for good. Safe to reach again from an exception
 * taken while finishing: the second call only writes the done port. */
__attribute__((noreturn)) void results_finish(enum guest_status status);

#endif
