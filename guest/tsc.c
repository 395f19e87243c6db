#include "guest/tsc.h"

#include "guest/io.h"

#define CPUID_1_ECX_HYPERVISOR   (1u << 31)
#define CPUID_HYPERVISOR_BASE    0x40000000u
#define CPUID_HYPERVISOR_TIMING  0x40000010u   /* eax: TSC kHz */
#define CPUID_TSC_CRYSTAL        0x15u
#define CPUID_PROCESSOR_FREQ     0x16u

uint64_t tsc_khz_detect(void)
{
	/* Without the hypervisor bit, 0x4000xxxx leaves return unrelated data. */
	if (cpuid(1, 0).ecx & CPUID_1_ECX_HYPERVISOR) {
		struct cpuid_regs base = cpuid(CPUID_HYPERVISOR_BASE, 0);
		if (base.eax >= CPUID_HYPERVISOR_TIMING && base.eax < CPUID_HYPERVISOR_BASE + 0x100) {
			uint32_t khz = cpuid(CPUID_HYPERVISOR_TIMING, 0).eax;
			if (khz)
				return khz;
		}
	}
	uint32_t max_leaf = cpuid(0, 0).eax;
	if (max_leaf >= CPUID_TSC_CRYSTAL) {
		struct cpuid_regs r = cpuid(CPUID_TSC_CRYSTAL, 0);
		/* tsc_hz = crystal_hz * ebx / eax */
		if (r.eax && r.ebx && r.ecx)
			return (uint64_t)r.ecx * r.ebx / r.eax / 1000;
	}
	if (max_leaf >= CPUID_PROCESSOR_FREQ) {
		uint32_t mhz = cpuid(CPUID_PROCESSOR_FREQ, 0).eax & 0xFFFF;
		if (mhz)
			return (uint64_t)mhz * 1000;
	}
	return 0;
}
