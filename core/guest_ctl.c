#include "core/guest_ctl.h"

#include <string.h>

#include "core/bus.h"
#include "core/log.h"
#include "core/vm.h"
#include "iommu/dma_space.h"

static uint32_t guest_ctl_value(const void *data, uint32_t len)
{
	uint32_t v = 0;
	memcpy(&v, data, len < 4 ? len : 4);
	return v;
}

static void guest_ctl_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct vm *vm = opaque;
	uint32_t value = guest_ctl_value(data, len);
	switch (GUEST_CTL_PORT_BASE + offset) {
	case GUEST_CTL_PORT_BOOTED:
		if (value == GUEST_BOOT_MAGIC && vm->ns_first_insn == 0)
			vm->ns_first_insn = monotonic_ns();
		break;
	case GUEST_CTL_PORT_DONE:
		vm->ns_done = monotonic_ns();
		vm->guest_status = (int)(value & 0xff);
		vm_request_stop(vm, VM_STOP_GUEST_DONE, "guest done, status %u", value & 0xff);
		break;
	case GUEST_CTL_PORT_RESULTS_LO:
		vm->results_gpa = (vm->results_gpa & ~0xffffffffull) | value;
		break;
	case GUEST_CTL_PORT_RESULTS_HI:
		vm->results_gpa = (vm->results_gpa & 0xffffffffull) | ((uint64_t)value << 32);
		vm->results_published = true;
		break;
	case GUEST_CTL_PORT_PHASE:
		/* Only the first begin/end pair counts; a confused guest cannot make
		 * the VMM snapshot forever. */
		if (value == GUEST_PHASE_BEGIN && vm->phase_marks == 0) {
			run_counters_snapshot(vm, &vm->phase_begin);
			vm->phase_marks = 1;
		} else if (value == GUEST_PHASE_END && vm->phase_marks == 1) {
			run_counters_snapshot(vm, &vm->phase_end);
			vm->phase_marks = 2;
		}
		break;
	default:
		break;
	}
}

static void guest_ctl_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	memset(data, 0xff, len);
}

static const struct bus_region_ops guest_ctl_ops = { .read = guest_ctl_read, .write = guest_ctl_write };

int guest_ctl_init(struct vm *vm)
{
	return bus_register(&vm->pio_bus, GUEST_CTL_PORT_BASE, GUEST_CTL_PORT_COUNT, &guest_ctl_ops, vm,
			    "guest-ctl", NULL);
}

void guest_ctl_destroy(struct vm *vm)
{
	bus_unregister(&vm->pio_bus, GUEST_CTL_PORT_BASE, vm);
}

bool guest_ctl_read_results(struct vm *vm, struct guest_results *out)
{
	if (!vm->results_published)
		return false;
	/* The address is the guest's word: read it like any device DMA. */
	if (dma_read(vm->dma, vm->results_gpa, out, sizeof(*out)) < 0) {
		log_warn("guest published a results block at 0x%llx, outside guest RAM",
			 (unsigned long long)vm->results_gpa);
		return false;
	}
	if (out->magic != GUEST_RESULTS_MAGIC || out->version != GUEST_RESULTS_VERSION) {
		log_warn("guest results block at 0x%llx has bad magic/version",
			 (unsigned long long)vm->results_gpa);
		return false;
	}
	out->message[GUEST_MESSAGE_LEN - 1] = '\0';
	return true;
}
