/* A vCPU: its KVM fd, the shared kvm_run page, and the thread that runs
 * KVM_RUN and dispatches exits to the buses. */
#ifndef IOVIRT_CORE_VCPU_H
#define IOVIRT_CORE_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/counters.h"
#include "core/kvm_stats.h"

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	struct vcpu_counters counters;
	struct kvm_stats kernel_stats;  /* KVM's own counters (fd < 0 if unavailable) */
};

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned index, char *err, size_t errlen);
void vcpu_destroy(struct vcpu *vcpu);
/* Puts the vCPU in the state the PVH ABI gives: 32-bit protected mode, flat
 * segments, paging off, EIP = entry, EBX = start_info. */
int vcpu_set_pvh_entry(struct vcpu *vcpu, uint32_t entry, uint32_t start_info_gpa);
int vcpu_start(struct vcpu *vcpu);
/* Makes KVM_RUN return on that vCPU's thread. Any thread. */
void vcpu_kick(struct vcpu *vcpu);
void vcpu_join(struct vcpu *vcpu);
void vcpu_dump_registers(struct vcpu *vcpu, FILE *out);

#endif
