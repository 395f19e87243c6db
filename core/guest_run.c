#include "core/guest_run.h"

#include <stdio.h>
#include <string.h>

#include "core/guest_ctl.h"
#include "core/guest_image.h"
#include "core/log.h"
#include "core/process_memory.h"
#include "core/pvh_loader.h"
#include "core/vcpu.h"
#include "iommu/dma_space.h"

void guest_run_config_defaults(struct guest_run_config *config)
{
	memset(config, 0, sizeof(*config));
	config->mem_bytes = 256ull << 20;
	config->ncpus = 1;
}

static const char *const known_models[] = { "emulated", "split", "passthrough" };

int guest_run_add_device(struct guest_run_config *config, const char *function, const char *text,
			 char *err, size_t errlen)
{
	if (config->ndevices == GUEST_RUN_MAX_DEVICES) {
		snprintf(err, errlen, "too many devices (at most %d)", GUEST_RUN_MAX_DEVICES);
		return -1;
	}
	struct device_spec *spec = &config->devices[config->ndevices];
	if (device_spec_parse(function, text, spec, err, errlen) < 0)
		return -1;
	if (!device_model_find(spec->function, spec->model)) {
		bool known = false;
		for (unsigned i = 0; i < sizeof(known_models) / sizeof(known_models[0]); i++)
			known |= strcmp(spec->model, known_models[i]) == 0;
		if (!known)
			snprintf(err, errlen, "%s: unknown model '%s' (models: emulated, split, passthrough)",
				 spec->text, spec->model);
		else
			snprintf(err, errlen, "%s: this build has no back end for a %s %s yet; "
				 "'iovirt --help' lists the device models it has",
				 spec->text, spec->model, spec->function);
		return -1;
	}
	config->ndevices++;
	return 0;
}

const char *vm_stop_reason_name(enum vm_stop_reason reason)
{
	switch (reason) {
	case VM_RUNNING: return "running";
	case VM_STOP_GUEST_DONE: return "guest done";
	case VM_STOP_GUEST_SHUTDOWN: return "guest shutdown";
	case VM_STOP_TIMEOUT: return "timeout";
	case VM_STOP_SIGNAL: return "signal";
	case VM_STOP_FATAL: return "fatal error";
	}
	return "?";
}

const char *guest_status_name(int status)
{
	switch (status) {
	case GUEST_STATUS_PASS: return "pass";
	case GUEST_STATUS_FAIL: return "fail";
	case GUEST_STATUS_EXCEPTION: return "exception";
	case GUEST_STATUS_BAD_PARAMS: return "bad parameters";
	}
	return "unknown";
}

static void guest_run_collect(struct vm *vm, struct guest_run_outcome *out)
{
	out->reason = (enum vm_stop_reason)atomic_load(&vm->stop_reason);
	snprintf(out->stop_message, sizeof(out->stop_message), "%s", vm->stop_message);
	out->guest_status = vm->guest_status;
	out->stop_signal = vm->stop_signal;
	out->have_results = guest_ctl_read_results(vm, &out->results);
	if (vm->ns_first_insn)
		out->ns_to_first_insn = vm->ns_first_insn - vm->ns_start;
	if (vm->ns_done)
		out->ns_to_done = vm->ns_done - vm->ns_start;
	out->vmm_rss_kib = process_rss_apart_from_shmem_kib(0);
	out->unclaimed_pio = counter_get(&vm->pio_bus.unclaimed_accesses);
	out->unclaimed_mmio = counter_get(&vm->mmio_bus.unclaimed_accesses);
	out->dma_faults = dma_space_faults(vm->dma);
	run_counters_snapshot(vm, &out->totals);
	if (vm->phase_marks == 2) {
		out->have_phase = true;
		run_counters_delta(&vm->phase_begin, &vm->phase_end, &out->phase);
	}
}

int guest_run(const struct guest_run_config *config, struct guest_run_outcome *outcome,
	      char *err, size_t errlen)
{
	memset(outcome, 0, sizeof(*outcome));
	struct vm_config vm_config = {
		.mem_bytes = config->mem_bytes,
		.ncpus = config->ncpus,
		.console_path = config->console_path,
	};
	struct vm *vm = vm_create(&vm_config, err, errlen);
	if (!vm)
		return -1;

	const char *cmdline = config->cmdline ? config->cmdline : "";
	struct pvh_boot boot;
	int ret = config->kernel_path
		? pvh_load_file(&vm->ram, config->kernel_path, cmdline, &boot, err, errlen)
		: pvh_load_named(&vm->ram, "built-in guest", guest_image_start, guest_image_size(),
				 cmdline, &boot, err, errlen);
	if (ret < 0)
		goto fail;

	for (unsigned i = 0; i < config->ndevices; i++) {
		const struct device_spec *spec = &config->devices[i];
		const struct device_model_ops *ops = device_model_find(spec->function, spec->model);
		void *state = NULL;
		if (!ops || ops->realize(vm, spec, &state, err, errlen) < 0)
			goto fail;
		char name[48];
		snprintf(name, sizeof(name), "%s%u-%s", spec->function, i, spec->model);
		if (vm_add_device(vm, ops, state, name) < 0) {
			if (ops->teardown)
				ops->teardown(state);
			snprintf(err, errlen, "too many devices");
			goto fail;
		}
	}

	if (vcpu_set_pvh_entry(&vm->vcpus[0], boot.entry, boot.start_info_gpa) < 0) {
		snprintf(err, errlen, "cannot set the boot vCPU's registers");
		goto fail;
	}
	vm_run(vm, config->timeout_ms);
	guest_run_collect(vm, outcome);
	vm_destroy(vm);
	return 0;
fail:
	vm_destroy_unstarted(vm);
	return -1;
}
