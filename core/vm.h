/* A KVM virtual machine: its RAM, buses, interrupt routing, PCI root, default
 * DMA space, vCPUs and devices. */
#ifndef IOVIRT_CORE_VM_H
#define IOVIRT_CORE_VM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/bus.h"
#include "core/counters.h"
#include "core/guest_ram.h"
#include "core/irq.h"
#include "core/run_counters.h"

struct pci_root;
struct dma_space;
struct vcpu;
struct device_model_ops;
struct guest_results;
struct uart_8250;
struct io_thread;

#define VM_MAX_DEVICES 32

struct vm_device {
	const struct device_model_ops *ops;
	void *state;
	char name[48];
};

/* Why the VM stopped. */
enum vm_stop_reason {
	VM_RUNNING = 0,
	VM_STOP_GUEST_DONE,     /* guest wrote its done port */
	VM_STOP_GUEST_SHUTDOWN, /* guest asked for shutdown or reset */
	VM_STOP_TIMEOUT,        /* --timeout passed */
	VM_STOP_SIGNAL,         /* SIGINT/SIGTERM */
	VM_STOP_FATAL,          /* triple fault, internal error, failed entry */
};

struct vm {
	int kvm_fd;
	int vm_fd;
	int vcpu_mmap_size;
	struct guest_ram ram;
	struct bus pio_bus;
	struct bus mmio_bus;
	struct irq_router *irq;
	struct pci_root *pci;
	struct dma_space *dma;       /* default space: all guest RAM, read-write */
	struct io_thread *io;        /* the VM's I/O thread: block I/O, kicks, back ends */
	unsigned ncpus;
	struct vcpu *vcpus;
	struct vm_device devices[VM_MAX_DEVICES];
	unsigned ndevices;

	/* Stop state, set once by whoever stops the VM first. */
	atomic_int stop_reason;
	int guest_status;            /* status byte from the done port */
	int stop_signal;             /* the signal, for VM_STOP_SIGNAL */
	char stop_message[256];

	/* Guest control (core/guest_ctl.c). */
	uint64_t results_gpa;
	bool results_published;
	uint64_t ns_start;           /* CLOCK_MONOTONIC at `iovirt run` start */
	uint64_t ns_first_insn;      /* when the guest's first instruction trapped */
	uint64_t ns_done;
	/* The guest's measured phase: snapshots at its begin and end markers. */
	unsigned phase_marks;        /* 0 none, 1 begun, 2 ended */
	struct run_counters phase_begin, phase_end;
	FILE *console_out;
	bool console_owned;          /* opened by us (--console FILE), closed by us */
	bool console_created;        /* and it did not exist before: removed if the run never starts */
	char console_path[4096];
	struct uart_8250 *uart;
	int stop_eventfd;            /* signalled once the VM starts stopping */
};

struct vm_config {
	uint64_t mem_bytes;
	unsigned ncpus;
	const char *console_path;    /* NULL: stdout */
};

/* Starts every vCPU and waits until the guest is done, a vCPU hits a fatal
 * error, SIGINT/SIGTERM arrives, or timeout_ms (0: none) passes. Joins the
 * vCPU threads before returning the stop reason. */
enum vm_stop_reason vm_run(struct vm *vm, uint64_t timeout_ms);

/* Opens /dev/kvm and builds an empty VM (RAM, irqchip, buses, PCI root, DMA
 * space, console, guest control). Returns NULL with one line in err. */
struct vm *vm_create(const struct vm_config *config, char *err, size_t errlen);
void vm_destroy(struct vm *vm);
/* For a run that failed before the guest started: also removes a console
 * file the VM created, so a failed start leaves nothing behind. */
void vm_destroy_unstarted(struct vm *vm);

/* Records the first reason the VM stops and kicks every vCPU out of KVM_RUN. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool vm_stopping(const struct vm *vm);

/* Adds a realized device so it is reset, counted and torn down with the VM. */
int vm_add_device(struct vm *vm, const struct device_model_ops *ops, void *state, const char *name);

uint64_t monotonic_ns(void);

#endif
