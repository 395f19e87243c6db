/* DPDK's Environment Abstraction Layer, started lazily and once per process
 * (the EAL cannot be initialised twice): only a configuration that names a
 * DPDK NIC pays its ~150 ms start-up and its 256 MiB of memory. */
#ifndef IOVIRT_CORE_DPDK_EAL_H
#define IOVIRT_CORE_DPDK_EAL_H

#include <stdbool.h>
#include <stddef.h>

/* Starts the EAL if it is not running: no hugepages (--no-huge -m 256), no
 * shared config files, no telemetry socket, quiet logs, one lcore on the
 * calling thread's CPU (the thread's CPU affinity is restored afterwards),
 * and DPDK's PMD plugin directory loaded with -d. pci_devargs NULL means no
 * PCI scan (--no-pci); otherwise only that device is allowed (-a) and probed.
 * A PCI NIC must therefore be the first DPDK device a process opens.
 * Returns 0, or -1 with one line in err (a failed start is final for the
 * process and every later call reports the same error). */
int dpdk_eal_start(const char *pci_devargs, char *err, size_t errlen);

/* Runs fn(arg) with DPDK's log captured; on failure (fn returns < 0) copies
 * the first line DPDK logged, which names the cause, into why (else ""). */
int dpdk_eal_call_logged(int (*fn)(void *arg), void *arg, char *why, size_t whylen);

#endif
