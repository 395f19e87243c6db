/* The guest's virtio-net driver (1af4:1041, or transitional 1af4:1000 driven
 * as a modern device): one receive and one transmit queue, a zeroed
 * virtio_net_hdr on every frame sent, receive buffers posted up front
 * (mergeable when VIRTIO_NET_F_MRG_RXBUF is negotiated), MSI-X or polling. */
#ifndef IOVIRT_GUEST_VIRTIO_NET_H
#define IOVIRT_GUEST_VIRTIO_NET_H

#include "guest/workload.h"

extern const struct guest_nic_driver virtio_net_nic_driver;

#endif
