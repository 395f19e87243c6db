/* One guest run from start to stop: the piece `iovirt run`, the tests and the
 * benchmark share. Validates every device option before anything starts, so a
 * bad option leaves nothing half-built. */
#ifndef IOVIRT_CORE_GUEST_RUN_H
#define IOVIRT_CORE_GUEST_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/counters.h"
#include "core/device.h"
#include "core/run_counters.h"
#include "core/vm.h"
#include "guest/abi.h"

#define GUEST_RUN_MAX_DEVICES 16

struct guest_run_config {
	uint64_t mem_bytes;
	unsigned ncpus;
	const char *kernel_path;      /* NULL: the built-in test guest */
	const char *cmdline;          /* NULL: "" */
	const char *console_path;     /* NULL: stdout */
	uint64_t timeout_ms;          /* 0: none */
	unsigned ndevices;
	struct device_spec devices[GUEST_RUN_MAX_DEVICES];
};

struct guest_run_outcome {
	enum vm_stop_reason reason;
	char stop_message[256];
	int guest_status;               /* valid when reason == VM_STOP_GUEST_DONE */
	int stop_signal;                /* valid when reason == VM_STOP_SIGNAL */
	bool have_results;
	struct guest_results results;
	uint64_t ns_to_first_insn;      /* 0 if the guest never said it booted */
	uint64_t ns_to_done;            /* 0 if the guest never said done */
	uint64_t vmm_rss_kib;           /* resident memory apart from guest RAM */
	uint64_t unclaimed_pio, unclaimed_mmio;
	uint64_t dma_faults;
	struct run_counters totals;     /* everything counted, at the end of the run */
	/* The guest's measured phase (between its phase markers), when it had one:
	 * what that phase alone cost. */
	bool have_phase;
	struct run_counters phase;
};

void guest_run_config_defaults(struct guest_run_config *config);
/* Adds a device option ("disk", "model=split,path=x"), checking that a back
 * end implements it. Returns 0, or -1 with one line in err. */
int guest_run_add_device(struct guest_run_config *config, const char *function, const char *text,
			 char *err, size_t errlen);
/* Builds the VM, boots the guest, waits for it to stop and tears everything
 * down. Returns 0 when the guest ran (whatever it reported), -1 with one line
 * in err when the VM could not be set up. */
int guest_run(const struct guest_run_config *config, struct guest_run_outcome *outcome,
	      char *err, size_t errlen);

const char *vm_stop_reason_name(enum vm_stop_reason reason);
const char *guest_status_name(int status);

#endif
