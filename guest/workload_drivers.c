/* Every guest driver the workload runner can use, tried in this order when
 * iovirt.dev=auto. Add one line per driver. */
#include <stddef.h>

#include "guest/virtio_blk.h"
#include "guest/virtio_net.h"
#include "guest/workload.h"
#include "guest/nvme.h"
#include "guest/e1000.h"

const struct guest_disk_driver *const guest_disk_drivers[] = {
	&nvme_disk_driver,
	&virtio_blk_disk_driver,
	NULL,
};

const struct guest_nic_driver *const guest_nic_drivers[] = {
	&e1000_nic_driver,
	&virtio_net_nic_driver,
	NULL,
};
