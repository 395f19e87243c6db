#include "core/run_counters.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "core/device.h"
#include "core/io_thread.h"
#include "core/vcpu.h"
#include "core/vm.h"

static void device_values_read(const struct device_counters *c, struct device_counter_values *v)
{
	v->pio_exits = counter_get(&c->pio_exits);
	v->mmio_exits = counter_get(&c->mmio_exits);
	v->ioeventfd_kicks = counter_get(&c->ioeventfd_kicks);
	v->interrupts = counter_get(&c->interrupts);
	v->requests = counter_get(&c->requests);
	v->bytes_read = counter_get(&c->bytes_read);
	v->bytes_written = counter_get(&c->bytes_written);
	v->faults = counter_get(&c->faults);
	v->vmm_cpu_ns = counter_get(&c->vmm_cpu_ns);
}

void run_counters_snapshot(struct vm *vm, struct run_counters *out)
{
	memset(out, 0, sizeof(*out));
	out->ns = monotonic_ns();
	for (unsigned i = 0; i < vm->ncpus; i++) {
		const struct vcpu *cpu = &vm->vcpus[i];
		out->vcpu.exits += counter_get(&cpu->counters.exits);
		out->vcpu.pio_exits += counter_get(&cpu->counters.pio_exits);
		out->vcpu.mmio_exits += counter_get(&cpu->counters.mmio_exits);
		out->vcpu.other_exits += counter_get(&cpu->counters.other_exits);
		out->vcpu.handling_ns += counter_get(&cpu->counters.handling_ns);
		uint64_t v;
		const struct kvm_stats *k = &cpu->kernel_stats;
		if (kvm_stats_read(k, "exits", &v)) out->kernel.exits += v;
		if (kvm_stats_read(k, "io_exits", &v)) out->kernel.io_exits += v;
		if (kvm_stats_read(k, "mmio_exits", &v)) out->kernel.mmio_exits += v;
		if (kvm_stats_read(k, "halt_exits", &v)) out->kernel.halt_exits += v;
		if (kvm_stats_read(k, "irq_injections", &v)) out->kernel.irq_injections += v;
	}
	if (vm->io)
		out->io_thread_cpu_ns = io_thread_cpu_ns(vm->io);
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		out->process_cpu_ns = ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
				      ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
	for (unsigned i = 0; i < vm->ndevices && i < RUN_COUNTERS_MAX_DEVICES; i++) {
		const struct vm_device *d = &vm->devices[i];
		snprintf(out->devices[i].name, sizeof(out->devices[i].name), "%s", d->name);
		if (d->ops->stats)
			device_values_read(d->ops->stats(d->state), &out->devices[i].values);
		out->ndevices++;
	}
}

#define DELTA(field) delta->field = after->field - before->field

void run_counters_delta(const struct run_counters *before, const struct run_counters *after,
			struct run_counters *delta)
{
	*delta = *after;
	DELTA(ns);
	DELTA(vcpu.exits);
	DELTA(vcpu.pio_exits);
	DELTA(vcpu.mmio_exits);
	DELTA(vcpu.other_exits);
	DELTA(vcpu.handling_ns);
	DELTA(kernel.exits);
	DELTA(kernel.io_exits);
	DELTA(kernel.mmio_exits);
	DELTA(kernel.halt_exits);
	DELTA(kernel.irq_injections);
	DELTA(io_thread_cpu_ns);
	DELTA(process_cpu_ns);
	for (unsigned i = 0; i < after->ndevices && i < before->ndevices; i++) {
		DELTA(devices[i].values.pio_exits);
		DELTA(devices[i].values.mmio_exits);
		DELTA(devices[i].values.ioeventfd_kicks);
		DELTA(devices[i].values.interrupts);
		DELTA(devices[i].values.requests);
		DELTA(devices[i].values.bytes_read);
		DELTA(devices[i].values.bytes_written);
		DELTA(devices[i].values.faults);
		DELTA(devices[i].values.vmm_cpu_ns);
	}
}

void run_counters_device_total(const struct run_counters *c, struct device_counter_values *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < c->ndevices; i++) {
		const struct device_counter_values *v = &c->devices[i].values;
		t->pio_exits += v->pio_exits;
		t->mmio_exits += v->mmio_exits;
		t->ioeventfd_kicks += v->ioeventfd_kicks;
		t->interrupts += v->interrupts;
		t->requests += v->requests;
		t->bytes_read += v->bytes_read;
		t->bytes_written += v->bytes_written;
		t->faults += v->faults;
		t->vmm_cpu_ns += v->vmm_cpu_ns;
	}
}
