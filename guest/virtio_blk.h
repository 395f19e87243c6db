/* The guest's virtio-blk driver (1af4:1042, or transitional 1af4:1001 driven
 * as a modern device): one request queue, requests as header / data / status
 * chains (one indirect descriptor each when VIRTIO_F_RING_INDIRECT_DESC is
 * negotiated), MSI-X or polling. */
#ifndef IOVIRT_GUEST_VIRTIO_BLK_H
#define IOVIRT_GUEST_VIRTIO_BLK_H

#include <stdint.h>

#include "guest/workload.h"

extern const struct guest_disk_driver virtio_blk_disk_driver;

/* Queues a FLUSH under `tag` (completed through reap like any request). 0, or
 * -1 when the device did not offer VIRTIO_BLK_F_FLUSH, the tag is busy or the
 * ring is full. The workload interface has no flush, so this is extra. */
int virtio_blk_submit_flush(struct guest_disk *disk, uint16_t tag);

#endif
