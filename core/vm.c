#include "core/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/device.h"
#include "core/guest_ctl.h"
#include "core/io_thread.h"
#include "core/log.h"
#include "core/pci.h"
#include "core/vcpu.h"
#include "emulated/uart_8250.h"
#include "iommu/dma_space.h"

/* Intel VMX needs these two pages reserved below 4 GiB; they sit just under
 * the BIOS area, outside RAM and the PCI window. */
#define VM_TSS_ADDR          0xFFFBD000ull
#define VM_IDENTITY_MAP_ADDR 0xFFFBC000ull

uint64_t monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int vm_open_kvm(char *err, size_t errlen)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			snprintf(err, errlen, "/dev/kvm does not exist: this host has no KVM "
				 "(load kvm_intel or kvm_amd, or enable nested virtualization)");
		else if (errno == EACCES || errno == EPERM)
			snprintf(err, errlen, "/dev/kvm: permission denied: add your user to the "
				 "'kvm' group or run as root");
		else
			snprintf(err, errlen, "/dev/kvm: %s", strerror(errno));
		return -1;
	}
	int version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		snprintf(err, errlen, "/dev/kvm speaks KVM API %d, iovirt needs %d", version, KVM_API_VERSION);
		close(fd);
		return -1;
	}
	return fd;
}

static int vm_check_vcpu_count(int kvm_fd, unsigned ncpus, char *err, size_t errlen)
{
	int max = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max <= 0)
		max = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max <= 0)
		max = 4; /* what the KVM API promises when the capability is absent */
	if (ncpus == 0 || ncpus > (unsigned)max) {
		snprintf(err, errlen, "--cpus %u: KVM on this host allows 1 to %d vCPUs", ncpus, max);
		return -1;
	}
	return 0;
}

static int vm_map_ram(struct vm *vm, char *err, size_t errlen)
{
	for (unsigned i = 0; i < vm->ram.nregions; i++) {
		const struct guest_ram_region *r = &vm->ram.regions[i];
		struct kvm_userspace_memory_region region = {
			.slot = i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->host,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
			snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION (0x%llx+0x%llx): %s",
				 (unsigned long long)r->gpa, (unsigned long long)r->size, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int vm_open_console(struct vm *vm, const char *path, char *err, size_t errlen)
{
	if (!path) {
		vm->console_out = stdout;
		return 0;
	}
	vm->console_created = access(path, F_OK) != 0;
	vm->console_out = fopen(path, "we");
	if (!vm->console_out) {
		snprintf(err, errlen, "--console %s: %s", path, strerror(errno));
		return -1;
	}
	vm->console_owned = true;
	snprintf(vm->console_path, sizeof(vm->console_path), "%s", path);
	return 0;
}

struct vm *vm_create(const struct vm_config *config, char *err, size_t errlen)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	vm->ns_start = monotonic_ns();
	vm->kvm_fd = vm->vm_fd = vm->stop_eventfd = -1;
	vm->ram.memfd = -1;
	bus_init(&vm->pio_bus, BUS_PIO);
	bus_init(&vm->mmio_bus, BUS_MMIO);

	vm->kvm_fd = vm_open_kvm(err, errlen);
	if (vm->kvm_fd < 0)
		goto fail;
	if (vm_check_vcpu_count(vm->kvm_fd, config->ncpus, err, errlen) < 0)
		goto fail;
	vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->vcpu_mmap_size <= 0) {
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		goto fail;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		snprintf(err, errlen, "KVM_CREATE_VM: %s", strerror(errno));
		goto fail;
	}
	/* Only VMX needs these; other back ends may refuse them harmlessly. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)VM_TSS_ADDR) < 0)
		log_debug("KVM_SET_TSS_ADDR: %s (ignored)", strerror(errno));
	uint64_t identity = VM_IDENTITY_MAP_ADDR;
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
		log_debug("KVM_SET_IDENTITY_MAP_ADDR: %s (ignored)", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		snprintf(err, errlen, "KVM_CREATE_IRQCHIP: %s: iovirt needs KVM's in-kernel irqchip",
			 strerror(errno));
		goto fail;
	}
	if (guest_ram_create(&vm->ram, config->mem_bytes, err, errlen) < 0)
		goto fail;
	if (vm_map_ram(vm, err, errlen) < 0)
		goto fail;
	vm->stop_eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_eventfd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	vm->irq = irq_router_create(vm->vm_fd);
	vm->pci = pci_root_create(&vm->pio_bus, &vm->mmio_bus, vm->irq);
	vm->dma = dma_space_create_for_ram(&vm->ram);
	if (!vm->irq || !vm->pci || !vm->dma) {
		snprintf(err, errlen, "cannot set up interrupts, PCI or the DMA space");
		goto fail;
	}
	vm->io = io_thread_create(IO_THREAD_DEFAULT_ENTRIES, err, errlen);
	if (!vm->io)
		goto fail;
	if (vm_open_console(vm, config->console_path, err, errlen) < 0)
		goto fail;
	vm->uart = calloc(1, sizeof(*vm->uart));
	if (!vm->uart || uart_8250_init(vm->uart, &vm->pio_bus, vm->irq, vm->console_out) < 0 ||
	    guest_ctl_init(vm) < 0) {
		snprintf(err, errlen, "cannot set up the console or guest control ports");
		goto fail;
	}

	vm->vcpus = calloc(config->ncpus, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < config->ncpus; i++) {
		if (vcpu_create(vm, &vm->vcpus[i], i, err, errlen) < 0)
			goto fail;
		vm->ncpus++;
	}
	return vm;
fail:
	vm_destroy(vm);
	return NULL;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	/* vCPUs first: no access may be in flight while devices go away. */
	for (unsigned i = 0; i < vm->ncpus; i++) {
		vcpu_kick(&vm->vcpus[i]);
		vcpu_join(&vm->vcpus[i]);
	}
	for (unsigned i = vm->ndevices; i-- > 0;) {
		if (vm->devices[i].ops->teardown)
			vm->devices[i].ops->teardown(vm->devices[i].state);
	}
	if (vm->io)
		io_thread_destroy(vm->io);
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	if (vm->uart) {
		guest_ctl_destroy(vm);
		uart_8250_destroy(vm->uart, &vm->pio_bus);
		free(vm->uart);
	}
	if (vm->console_owned)
		fclose(vm->console_out);
	else if (vm->console_out)
		fflush(vm->console_out);
	if (vm->dma)
		dma_space_destroy(vm->dma);
	if (vm->pci)
		pci_root_destroy(vm->pci);
	if (vm->irq)
		irq_router_destroy(vm->irq);
	if (vm->stop_eventfd >= 0)
		close(vm->stop_eventfd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	guest_ram_destroy(&vm->ram);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	bus_destroy(&vm->pio_bus);
	bus_destroy(&vm->mmio_bus);
	free(vm);
}

void vm_destroy_unstarted(struct vm *vm)
{
	if (!vm)
		return;
	bool remove_console = vm->console_owned && vm->console_created;
	char path[sizeof(vm->console_path)];
	snprintf(path, sizeof(path), "%s", vm->console_path);
	vm_destroy(vm);
	if (remove_console)
		unlink(path);
}

bool vm_stopping(const struct vm *vm)
{
	return atomic_load(&vm->stop_reason) != VM_RUNNING;
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, const char *fmt, ...)
{
	int expected = VM_RUNNING;
	if (!atomic_compare_exchange_strong(&vm->stop_reason, &expected, (int)reason))
		return; /* the first reason wins */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vm->stop_message, sizeof(vm->stop_message), fmt, ap);
	va_end(ap);
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_kick(&vm->vcpus[i]);
	uint64_t one = 1;
	if (vm->stop_eventfd >= 0 && write(vm->stop_eventfd, &one, sizeof(one)) < 0)
		log_warn("stop eventfd: %s", strerror(errno));
}

int vm_add_device(struct vm *vm, const struct device_model_ops *ops, void *state, const char *name)
{
	if (vm->ndevices == VM_MAX_DEVICES) {
		log_error("too many devices (at most %d)", VM_MAX_DEVICES);
		return -1;
	}
	struct vm_device *d = &vm->devices[vm->ndevices++];
	d->ops = ops;
	d->state = state;
	snprintf(d->name, sizeof(d->name), "%s", name);
	return 0;
}

enum vm_stop_reason vm_run(struct vm *vm, uint64_t timeout_ms)
{
	/* SIGINT/SIGTERM arrive as readable events, not as async handlers. */
	sigset_t stop_signals, old;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, &old);
	int sfd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
	int tfd = -1;
	if (timeout_ms) {
		tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
		struct itimerspec its = { .it_value = { .tv_sec = (time_t)(timeout_ms / 1000),
							.tv_nsec = (long)(timeout_ms % 1000) * 1000000 } };
		if (tfd >= 0)
			timerfd_settime(tfd, 0, &its, NULL);
	}

	char err[256];
	if (io_thread_start(vm->io, "iovirt-io", -1, err, sizeof(err)) < 0)
		vm_request_stop(vm, VM_STOP_FATAL, "cannot start the I/O thread: %s", err);
	unsigned started = 0;
	for (; started < vm->ncpus && !vm_stopping(vm); started++)
		if (vcpu_start(&vm->vcpus[started]) < 0)
			break;
	if (started < vm->ncpus && !vm_stopping(vm))
		vm_request_stop(vm, VM_STOP_FATAL, "cannot start vCPU %u", started);

	while (!vm_stopping(vm)) {
		struct pollfd fds[3] = {
			{ .fd = vm->stop_eventfd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = tfd, .events = POLLIN },
		};
		if (poll(fds, 3, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				vm->stop_signal = (int)si.ssi_signo;
				vm_request_stop(vm, VM_STOP_SIGNAL, "stopped by signal %d (%s)",
						(int)si.ssi_signo, strsignal((int)si.ssi_signo));
			}
		}
		if (fds[2].revents & POLLIN)
			vm_request_stop(vm, VM_STOP_TIMEOUT, "guest not done after --timeout %llu ms",
					(unsigned long long)timeout_ms);
	}
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_join(&vm->vcpus[i]);
	/* After the vCPUs: no new requests arrive; device teardown reaps the rest. */
	if (io_thread_running(vm->io))
		io_thread_stop(vm->io);
	if (tfd >= 0)
		close(tfd);
	if (sfd >= 0)
		close(sfd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return (enum vm_stop_reason)atomic_load(&vm->stop_reason);
}
