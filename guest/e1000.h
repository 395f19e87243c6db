/* The guest's e1000 driver (8086:100e 82540EM; 8086:10d3 82574 e1000e with
 * the same legacy descriptors): one RX and one TX ring of 2048-byte buffers,
 * MSI-X or MSI when the device has them, else polling. */
#ifndef IOVIRT_GUEST_E1000_H
#define IOVIRT_GUEST_E1000_H

#include "guest/workload.h"

extern const struct guest_nic_driver e1000_nic_driver;

#endif
