/* Every guest driver the workload runner can use, tried in this order when
 * iovirt.dev=auto. Add one line per driver. */
#include <stddef.h>

#include "guest/workload.h"

const struct guest_disk_driver *const guest_disk_drivers[] = {
	NULL,
};

const struct guest_nic_driver *const guest_nic_drivers[] = {
	NULL,
};
