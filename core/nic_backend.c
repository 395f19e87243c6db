#include "core/nic_backend.h"

#include <stdio.h>
#include <string.h>

#include "core/device.h"

const char *const nic_backend_option_keys[] = { "backend", "mac", NULL };

int nic_parse_mac(const char *text, uint8_t mac[6])
{
	unsigned v[6];
	char tail;
	if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return -1;
	if (strlen(text) != 17)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

int nic_backend_open(const struct device_spec *spec, unsigned index, struct nic_backend *nic,
		     char *err, size_t errlen)
{
	memset(nic, 0, sizeof(*nic));
	const char *mac = device_spec_get(spec, "mac");
	if (mac) {
		if (nic_parse_mac(mac, nic->mac) < 0) {
			snprintf(err, errlen, "%s: mac=%s: give six hex bytes like 52:54:00:12:34:56",
				 spec->text, mac);
			return -1;
		}
		if (nic->mac[0] & 1) {
			snprintf(err, errlen, "%s: mac=%s is a multicast address; the first byte must be even",
				 spec->text, mac);
			return -1;
		}
	} else {
		const uint8_t base[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + index) };
		memcpy(nic->mac, base, 6);
	}
	char why[384];
	nic->port = packet_port_open(device_spec_get(spec, "backend"), why, sizeof(why));
	if (!nic->port) {
		snprintf(err, errlen, "%s: %s", spec->text, why);
		return -1;
	}
	return 0;
}

void nic_backend_close(struct nic_backend *nic)
{
	if (nic->port)
		packet_port_close(nic->port);
	nic->port = NULL;
}
