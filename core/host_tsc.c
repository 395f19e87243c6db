#include "core/host_tsc.h"

#include <pthread.h>
#include <time.h>
#include <x86intrin.h>

#define HOST_TSC_CALIBRATION_NS 20000000ull

static uint32_t calibrated_khz;
static pthread_once_t calibrate_once = PTHREAD_ONCE_INIT;

static uint64_t host_tsc_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void host_tsc_calibrate(void)
{
	uint64_t ns0 = host_tsc_now_ns(), tsc0 = __rdtsc(), ns1;
	do
		ns1 = host_tsc_now_ns();
	while (ns1 - ns0 < HOST_TSC_CALIBRATION_NS);
	uint64_t tsc1 = __rdtsc();
	calibrated_khz = (uint32_t)((tsc1 - tsc0) * 1000000ull / (ns1 - ns0));
}

uint32_t host_tsc_khz(void)
{
	pthread_once(&calibrate_once, host_tsc_calibrate);
	return calibrated_khz;
}
