/* Ring 3 for the workload's driver loop (iovirt.cpl=3). On the PVM hosts
 * every CPL0 instruction is emulated while CPL3 code runs natively, so a
 * driver that seldom exits (split, pass-through) runs its hot loop far faster
 * in ring 3; one that traps on every register access (emulated) pays more
 * per exit there. This lets a benchmark measure both.
 *
 * The switch keeps the code and the stack: usermode_enter() returns to its
 * caller in ring 3 (IOPL 3 plus an allow-all TSS I/O bitmap, so port I/O
 * works on every back end; IF stays off as the runner keeps it),
 * usermode_leave() returns in ring 0. All memory is user-accessible
 * (guest/page_tables.S). Interrupts and exceptions taken in ring 3 run on a
 * separate kernel stack through the TSS; ring 3 reaches ring 0 through the
 * #UD gates of guest/asm_defs.h. */
#ifndef IOVIRT_GUEST_USERMODE_H
#define IOVIRT_GUEST_USERMODE_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/tests.h"

/* Reads iovirt.cpl (0 or 3, default 0) into *cpl. NULL, or a one-line reason. */
const char *usermode_cpl_parse(const char *cmdline, unsigned *cpl);

/* The current privilege level, from CS. */
static inline unsigned usermode_cpl(void)
{
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return cs & 3u;
}

/* Loads the TSS whose RSP0 ring-3 interrupts switch to (once, in ring 0).
 * False if there is no guest memory for that stack. */
bool usermode_prepare(void);
/* Continues the caller in ring 3 (from ring 0; a no-op in ring 3); prepares
 * first if needed. False, still in ring 0, if preparing failed. */
bool usermode_enter(void);
/* Continues the caller in ring 0 (a no-op there). */
void usermode_leave(void);

/* interrupts_wait_msix() at either privilege level: in ring 3 the hlt goes
 * through the USER_GATE_HALT gate. Same contract: sleeps with interrupts
 * enabled until msix_vector_counts[index] != seen or max_slices 1 ms slices
 * have passed; true if it changed. */
bool usermode_wait_msix(unsigned index, uint32_t seen, unsigned max_slices);

/* iovirt.test=user-exception: enters ring 3 and executes ud2; the exception
 * handler reports vector 6 at CPL 3 and ends the run. */
enum guest_status test_user_exception_run(const struct guest_test_env *env);

#endif
