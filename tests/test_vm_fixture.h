/* A VM without KVM for device-model tests: real guest RAM (memfd), buses,
 * PCI root, DMA space and I/O thread, an irq router that records instead of
 * injecting (its msi_line eventfds are real, so a test can read them). The
 * test plays the guest: it writes descriptors into RAM and registers through
 * the buses, then checks what the device did. */
#ifndef IOVIRT_TESTS_VM_FIXTURE_H
#define IOVIRT_TESTS_VM_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/vm.h"

/* mem_bytes of RAM (at least 2 MiB). Aborts the test on failure. The I/O
 * thread is not started: call test_vm_poll_io() to run completions inline,
 * or io_thread_start() yourself. */
struct vm *test_vm_create(uint64_t mem_bytes);
/* Tears devices down the way vm_destroy does. */
void test_vm_destroy(struct vm *vm);

/* Realizes a device as `iovirt run` would: function "disk"/"nic"/"device",
 * option text as on the command line. Returns the device state, or NULL
 * with the reason in err. */
void *test_vm_add_device(struct vm *vm, const char *function, const char *text, char *err,
			 size_t errlen);

/* Guest memory at gpa (aborts if outside RAM). */
void *test_vm_ram(struct vm *vm, uint64_t gpa, uint64_t len);

/* Register accesses as a vCPU would make them. */
uint32_t test_vm_mmio_read32(struct vm *vm, uint64_t addr);
void test_vm_mmio_write32(struct vm *vm, uint64_t addr, uint32_t value);
uint64_t test_vm_mmio_read64(struct vm *vm, uint64_t addr);
void test_vm_mmio_write64(struct vm *vm, uint64_t addr, uint64_t value);
uint32_t test_vm_pci_config_read32(struct vm *vm, unsigned slot, unsigned offset);
void test_vm_pci_config_write32(struct vm *vm, unsigned slot, unsigned offset, uint32_t value);

/* Runs I/O-thread completions inline until none arrive for a moment, or until
 * done(opaque) when done is given (bounded: aborts the test after 5 s). */
void test_vm_poll_io(struct vm *vm, bool (*done)(void *opaque), void *opaque);

#endif
