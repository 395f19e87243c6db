/* The guest's NVMe driver (PCI class 01:08:02): one I/O queue pair on
 * namespace 1, PRP lists for transfers up to MDTS, MSI-X or polling, and
 * shadow doorbells (Doorbell Buffer Config) with iovirt.nvme.shadow=on. */
#ifndef IOVIRT_GUEST_NVME_H
#define IOVIRT_GUEST_NVME_H

#include "guest/workload.h"

extern const struct guest_disk_driver nvme_disk_driver;

#endif
