#include "core/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/host_tsc.h"
#include "core/log.h"
#include "core/vm.h"

#define VCPU_KICK_SIGNAL SIGUSR1

static void vcpu_kick_handler(int sig)
{
	(void)sig; /* only there so KVM_RUN returns EINTR */
}

/* Leaf 0x40000010 (the hypervisor timing leaf QEMU and VMware also offer):
 * TSC and LAPIC timer frequency in kHz, so the guest can turn cycles into
 * time without calibrating against a clock it does not have. */
#define CPUID_TIMING_LEAF 0x40000010u
#define KVM_LAPIC_TIMER_KHZ 1000000u

static struct kvm_cpuid_entry2 *vcpu_cpuid_find(struct kvm_cpuid2 *cpuid, uint32_t function)
{
	for (unsigned i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == function)
			return &cpuid->entries[i];
	return NULL;
}

static void vcpu_add_timing_leaf(struct vcpu *vcpu, struct kvm_cpuid2 *cpuid, unsigned capacity)
{
	int tsc_khz = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
	if (tsc_khz <= 0)
		tsc_khz = (int)host_tsc_khz();
	if (tsc_khz <= 0 || vcpu_cpuid_find(cpuid, CPUID_TIMING_LEAF) || cpuid->nent + 2 > capacity)
		return;
	/* Guests look at 0x4000xxxx only with the hypervisor bit set; nested KVM
	 * (the VFIO lab) may offer neither that bit nor the signature leaf. */
	struct kvm_cpuid_entry2 *leaf1 = vcpu_cpuid_find(cpuid, 1);
	if (leaf1)
		leaf1->ecx |= 1u << 31;
	struct kvm_cpuid_entry2 *base = vcpu_cpuid_find(cpuid, 0x40000000u);
	if (!base) {
		base = &cpuid->entries[cpuid->nent++];
		*base = (struct kvm_cpuid_entry2){ .function = 0x40000000u };
		memcpy(&base->ebx, "KVMK", 4);
		memcpy(&base->ecx, "VMKV", 4);
		memcpy(&base->edx, "M\0\0\0", 4);
	}
	if (base->eax < CPUID_TIMING_LEAF)
		base->eax = CPUID_TIMING_LEAF;
	cpuid->entries[cpuid->nent++] = (struct kvm_cpuid_entry2){
		.function = CPUID_TIMING_LEAF, .eax = (uint32_t)tsc_khz, .ebx = KVM_LAPIC_TIMER_KHZ,
	};
}

static int vcpu_setup_cpuid(struct vcpu *vcpu, char *err, size_t errlen)
{
	unsigned nent = 128;
	struct kvm_cpuid2 *cpuid = NULL;
	for (;;) {
		cpuid = calloc(1, sizeof(*cpuid) + nent * sizeof(struct kvm_cpuid_entry2));
		if (!cpuid) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		cpuid->nent = nent;
		if (ioctl(vcpu->vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			break;
		free(cpuid);
		if (errno != E2BIG || nent >= 4096) {
			snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
			return -1;
		}
		nent *= 2;
	}
	vcpu_add_timing_leaf(vcpu, cpuid, nent);
	for (unsigned i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];
		if (e->function == 1) {
			/* Initial APIC ID, so each vCPU knows which one it is. */
			e->ebx = (e->ebx & 0x00ffffffu) | (vcpu->index << 24);
		} else if (e->function == 0xb || e->function == 0x1f) {
			e->edx = vcpu->index; /* x2APIC ID */
		}
	}
	int ret = ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid);
	free(cpuid);
	if (ret < 0) {
		snprintf(err, errlen, "KVM_SET_CPUID2: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned index, char *err, size_t errlen)
{
	memset(vcpu, 0, sizeof(*vcpu));
	vcpu->kernel_stats.fd = -1;
	vcpu->vm = vm;
	vcpu->index = index;
	vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (vcpu->fd < 0) {
		snprintf(err, errlen, "KVM_CREATE_VCPU %u: %s", index, strerror(errno));
		return -1;
	}
	vcpu->run = mmap(NULL, (size_t)vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		snprintf(err, errlen, "vCPU %u: mmap of kvm_run: %s", index, strerror(errno));
		close(vcpu->fd);
		vcpu->fd = -1;
		return -1;
	}
	if (vcpu_setup_cpuid(vcpu, err, errlen) < 0) {
		vcpu_destroy(vcpu);
		return -1;
	}
	if (kvm_stats_open(&vcpu->kernel_stats, vcpu->fd) < 0)
		log_debug("vCPU %u: KVM binary stats unavailable", index);
	return 0;
}

void vcpu_destroy(struct vcpu *vcpu)
{
	kvm_stats_close(&vcpu->kernel_stats);
	if (vcpu->run)
		munmap(vcpu->run, (size_t)vcpu->vm->vcpu_mmap_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

static void vcpu_flat_segment(struct kvm_segment *seg, uint16_t selector, uint8_t type)
{
	*seg = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = selector, .type = type,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
}

int vcpu_set_pvh_entry(struct vcpu *vcpu, uint32_t entry, uint32_t start_info_gpa)
{
	struct kvm_sregs sregs;
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0) {
		log_error("vCPU %u: KVM_GET_SREGS: %s", vcpu->index, strerror(errno));
		return -1;
	}
	vcpu_flat_segment(&sregs.cs, 0x10, 0xb);  /* execute/read, accessed */
	vcpu_flat_segment(&sregs.ds, 0x18, 0x3);  /* read/write, accessed */
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr = (struct kvm_segment){
		.base = 0, .limit = 0x67, .selector = 0x20, .type = 0xb, .present = 1, .s = 0,
	};
	sregs.cr0 = 0x11;   /* PE, ET; paging off as the PVH ABI requires */
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0) {
		log_error("vCPU %u: KVM_SET_SREGS: %s", vcpu->index, strerror(errno));
		return -1;
	}
	struct kvm_regs regs = { .rip = entry, .rbx = start_info_gpa, .rflags = 0x2 };
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0) {
		log_error("vCPU %u: KVM_SET_REGS: %s", vcpu->index, strerror(errno));
		return -1;
	}
	return 0;
}

void vcpu_dump_registers(struct vcpu *vcpu, FILE *out)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(out, "vCPU %u: registers unavailable: %s\n", vcpu->index, strerror(errno));
		return;
	}
	fprintf(out,
		"vCPU %u registers:\n"
		"  rip %016llx  rflags %016llx  rsp %016llx  rbp %016llx\n"
		"  rax %016llx  rbx %016llx  rcx %016llx  rdx %016llx\n"
		"  rsi %016llx  rdi %016llx  r8  %016llx  r9  %016llx\n"
		"  cr0 %016llx  cr2 %016llx  cr3 %016llx  cr4 %016llx  efer %llx\n"
		"  cs %04x (base %llx, l=%u db=%u)  ss %04x  idt %llx+%x  gdt %llx+%x\n",
		vcpu->index, r.rip, r.rflags, r.rsp, r.rbp, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi,
		r.r8, r.r9, s.cr0, s.cr2, s.cr3, s.cr4, s.efer, s.cs.selector, s.cs.base, s.cs.l,
		s.cs.db, s.ss.selector, s.idt.base, s.idt.limit, s.gdt.base, s.gdt.limit);
}

static void vcpu_handle_pio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	counter_add(&vcpu->counters.pio_exits, 1);
	/* String I/O (rep outs/ins) hands over `count` items at once. */
	for (uint32_t i = 0; i < run->io.count; i++) {
		if (run->io.direction == KVM_EXIT_IO_OUT)
			bus_write(&vcpu->vm->pio_bus, run->io.port, data, run->io.size);
		else
			bus_read(&vcpu->vm->pio_bus, run->io.port, data, run->io.size);
		data += run->io.size;
	}
}

static void vcpu_handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	counter_add(&vcpu->counters.mmio_exits, 1);
	uint32_t len = run->mmio.len;
	if (len > sizeof(run->mmio.data))
		len = sizeof(run->mmio.data);
	if (run->mmio.is_write)
		bus_write(&vcpu->vm->mmio_bus, run->mmio.phys_addr, run->mmio.data, len);
	else
		bus_read(&vcpu->vm->mmio_bus, run->mmio.phys_addr, run->mmio.data, len);
}

static void vcpu_fatal(struct vcpu *vcpu, const char *what)
{
	if (vm_stopping(vcpu->vm))
		return;
	vcpu_dump_registers(vcpu, stderr);
	vm_request_stop(vcpu->vm, VM_STOP_FATAL, "vCPU %u: %s", vcpu->index, what);
}

static void *vcpu_thread_main(void *arg)
{
	struct vcpu *vcpu = arg;
	struct kvm_run *run = vcpu->run;
	char what[160];

	while (!vm_stopping(vcpu->vm)) {
		int ret = ioctl(vcpu->fd, KVM_RUN, 0);
		if (ret < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				run->immediate_exit = 0;
				continue;
			}
			snprintf(what, sizeof(what), "KVM_RUN failed: %s", strerror(errno));
			vcpu_fatal(vcpu, what);
			break;
		}
		counter_add(&vcpu->counters.exits, 1);
		uint64_t handling_start = monotonic_ns();
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			vcpu_handle_pio(vcpu);
			break;
		case KVM_EXIT_MMIO:
			vcpu_handle_mmio(vcpu);
			break;
		case KVM_EXIT_HLT:
			/* Only without an in-kernel LAPIC; treat as a stop request. */
			counter_add(&vcpu->counters.hlt_exits, 1);
			vm_request_stop(vcpu->vm, VM_STOP_GUEST_SHUTDOWN, "vCPU %u halted", vcpu->index);
			break;
		case KVM_EXIT_INTR:
			counter_add(&vcpu->counters.other_exits, 1);
			break;
		case KVM_EXIT_SHUTDOWN:
			counter_add(&vcpu->counters.other_exits, 1);
			vcpu_fatal(vcpu, "triple fault (KVM_EXIT_SHUTDOWN): the guest crashed");
			break;
		case KVM_EXIT_FAIL_ENTRY:
			counter_add(&vcpu->counters.other_exits, 1);
			snprintf(what, sizeof(what), "VM entry failed (hardware reason 0x%llx)",
				 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			vcpu_fatal(vcpu, what);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			counter_add(&vcpu->counters.other_exits, 1);
			snprintf(what, sizeof(what), "KVM internal error (suberror %u)", run->internal.suberror);
			vcpu_fatal(vcpu, what);
			break;
		case KVM_EXIT_SYSTEM_EVENT:
			counter_add(&vcpu->counters.other_exits, 1);
			if (run->system_event.type == KVM_SYSTEM_EVENT_CRASH) {
				vcpu_fatal(vcpu, "guest reported a crash");
			} else {
				vm_request_stop(vcpu->vm, VM_STOP_GUEST_SHUTDOWN,
						"guest requested %s",
						run->system_event.type == KVM_SYSTEM_EVENT_RESET ? "reset" : "shutdown");
			}
			break;
		default:
			counter_add(&vcpu->counters.other_exits, 1);
			snprintf(what, sizeof(what), "unhandled KVM exit reason %u", run->exit_reason);
			vcpu_fatal(vcpu, what);
			break;
		}
		counter_add(&vcpu->counters.handling_ns, monotonic_ns() - handling_start);
	}
	return NULL;
}

static void vcpu_install_kick_handler(void)
{
	struct sigaction sa = { .sa_handler = vcpu_kick_handler };
	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL); /* no SA_RESTART: KVM_RUN must return */
}

int vcpu_start(struct vcpu *vcpu)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, vcpu_install_kick_handler);

	/* vCPU threads take the kick signal; every other signal goes to main. */
	sigset_t all, old;
	sigfillset(&all);
	sigdelset(&all, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int ret = pthread_create(&vcpu->thread, NULL, vcpu_thread_main, vcpu);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret != 0) {
		log_error("vCPU %u: cannot start thread: %s", vcpu->index, strerror(ret));
		return -1;
	}
	vcpu->thread_started = true;
	return 0;
}

void vcpu_kick(struct vcpu *vcpu)
{
	if (!vcpu->thread_started)
		return;
	/* immediate_exit covers a kick that lands just before KVM_RUN starts. */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (vcpu->thread_started) {
		pthread_join(vcpu->thread, NULL);
		vcpu->thread_started = false;
	}
}
