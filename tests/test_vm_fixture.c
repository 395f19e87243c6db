#include "tests/test_vm_fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/device.h"
#include "core/io_thread.h"
#include "core/pci.h"
#include "iommu/dma_space.h"

struct vm *test_vm_create(uint64_t mem_bytes)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	ck_assert_ptr_nonnull(vm);
	char err[256];
	vm->kvm_fd = vm->vm_fd = vm->stop_eventfd = -1;
	bus_init(&vm->pio_bus, BUS_PIO);
	bus_init(&vm->mmio_bus, BUS_MMIO);
	ck_assert_msg(guest_ram_create(&vm->ram, mem_bytes, err, sizeof(err)) == 0, "%s", err);
	vm->irq = irq_router_create(-1);
	vm->pci = pci_root_create(&vm->pio_bus, &vm->mmio_bus, vm->irq);
	vm->dma = dma_space_create_for_ram(&vm->ram);
	vm->io = io_thread_create(IO_THREAD_DEFAULT_ENTRIES, err, sizeof(err));
	ck_assert_msg(vm->irq && vm->pci && vm->dma && vm->io, "fixture: %s", err);
	return vm;
}

void test_vm_destroy(struct vm *vm)
{
	if (vm->io && io_thread_running(vm->io))
		io_thread_stop(vm->io);
	for (unsigned i = vm->ndevices; i-- > 0;)
		if (vm->devices[i].ops->teardown)
			vm->devices[i].ops->teardown(vm->devices[i].state);
	io_thread_destroy(vm->io);
	dma_space_destroy(vm->dma);
	pci_root_destroy(vm->pci);
	irq_router_destroy(vm->irq);
	guest_ram_destroy(&vm->ram);
	bus_destroy(&vm->pio_bus);
	bus_destroy(&vm->mmio_bus);
	free(vm);
}

void *test_vm_add_device(struct vm *vm, const char *function, const char *text, char *err,
			 size_t errlen)
{
	struct device_spec spec;
	if (device_spec_parse(function, text, &spec, err, errlen) < 0)
		return NULL;
	const struct device_model_ops *ops = device_model_find(spec.function, spec.model);
	if (!ops) {
		snprintf(err, errlen, "no model %s/%s", spec.function, spec.model);
		return NULL;
	}
	void *state = NULL;
	if (ops->realize(vm, &spec, &state, err, errlen) < 0)
		return NULL;
	ck_assert_int_eq(vm_add_device(vm, ops, state, spec.function), 0);
	return state;
}

void *test_vm_ram(struct vm *vm, uint64_t gpa, uint64_t len)
{
	void *p = guest_ram_host_ptr(&vm->ram, gpa, len);
	ck_assert_msg(p != NULL, "0x%llx+%llu is outside guest RAM", (unsigned long long)gpa,
		      (unsigned long long)len);
	return p;
}

uint32_t test_vm_mmio_read32(struct vm *vm, uint64_t addr)
{
	uint32_t v = 0;
	bus_read(&vm->mmio_bus, addr, &v, 4);
	return v;
}

void test_vm_mmio_write32(struct vm *vm, uint64_t addr, uint32_t value)
{
	bus_write(&vm->mmio_bus, addr, &value, 4);
}

uint64_t test_vm_mmio_read64(struct vm *vm, uint64_t addr)
{
	uint64_t v = 0;
	bus_read(&vm->mmio_bus, addr, &v, 8);
	return v;
}

void test_vm_mmio_write64(struct vm *vm, uint64_t addr, uint64_t value)
{
	bus_write(&vm->mmio_bus, addr, &value, 8);
}

static void test_vm_config_address(struct vm *vm, unsigned slot, unsigned offset)
{
	uint32_t address = 0x80000000u | (slot << 11) | (offset & 0xfc);
	bus_write(&vm->pio_bus, 0xCF8, &address, 4);
}

uint32_t test_vm_pci_config_read32(struct vm *vm, unsigned slot, unsigned offset)
{
	test_vm_config_address(vm, slot, offset);
	uint32_t v = 0;
	bus_read(&vm->pio_bus, 0xCFC, &v, 4);
	return v;
}

void test_vm_pci_config_write32(struct vm *vm, unsigned slot, unsigned offset, uint32_t value)
{
	test_vm_config_address(vm, slot, offset);
	bus_write(&vm->pio_bus, 0xCFC, &value, 4);
}

static double test_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void test_vm_poll_io(struct vm *vm, bool (*done)(void *opaque), void *opaque)
{
	double start = test_now(), quiet_since = start;
	for (;;) {
		if (done && done(opaque))
			return;
		int n = io_thread_poll_once(vm->io, false);
		ck_assert_int_ge(n, 0);
		double now = test_now();
		if (n > 0)
			quiet_since = now;
		else if (!done && now - quiet_since > 0.05)
			return;
		ck_assert_msg(now - start < 5.0, "I/O did not finish within 5 s");
	}
}
