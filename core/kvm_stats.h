/* KVM's binary statistics of a vCPU (KVM_GET_STATS_FD): what happened in
 * the kernel, exits the VMM never sees among them, so a benchmark can report
 * in-kernel exits per I/O next to userspace ones. */
#ifndef IOVIRT_CORE_KVM_STATS_H
#define IOVIRT_CORE_KVM_STATS_H

#include <stdbool.h>
#include <stdint.h>

#define KVM_STATS_MAX 128

struct kvm_stats {
	int fd;
	unsigned count;
	uint32_t data_offset;
	struct {
		char name[48];
		uint32_t offset;     /* in the data block */
		bool cumulative;
	} items[KVM_STATS_MAX];
};

/* Opens the stats of a vCPU fd. Returns 0, or -1 when the kernel has none. */
int kvm_stats_open(struct kvm_stats *stats, int vcpu_fd);
void kvm_stats_close(struct kvm_stats *stats);
/* Current value of the named counter ("exits", "io_exits", "mmio_exits",
 * "halt_exits", "irq_injections", ...); false when absent. */
bool kvm_stats_read(const struct kvm_stats *stats, const char *name, uint64_t *value);

#endif
