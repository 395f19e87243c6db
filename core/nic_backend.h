/* What every NIC model (emulated e1000, virtio-net) stands on: a packet port
 * named by --nic backend=... (default: the built-in loopback reflector) and
 * the guest-visible MAC address. */
#ifndef IOVIRT_CORE_NIC_BACKEND_H
#define IOVIRT_CORE_NIC_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/packet_engine.h"

struct device_spec;

struct nic_backend {
	struct packet_port *port;
	uint8_t mac[6];
};

/* Options: backend=loopback|tap:NAME|dpdk:DEVARGS (default loopback),
 * mac=52:54:00:xx:xx:xx (default 52:54:00:12:34:NN, NN = index).
 * Returns 0, or -1 with one line in err. */
int nic_backend_open(const struct device_spec *spec, unsigned index, struct nic_backend *nic,
		     char *err, size_t errlen);
void nic_backend_close(struct nic_backend *nic);

/* Parses "aa:bb:cc:dd:ee:ff"; 0 or -1. */
int nic_parse_mac(const char *text, uint8_t mac[6]);

extern const char *const nic_backend_option_keys[];

#endif
