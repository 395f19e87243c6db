/* Internal to the virtio PCI transport (split/virtio_pci*.c): the common
 * configuration register file, as BAR0 and the transport's own reset see it.
 * Device models use split/virtio_pci.h only. */
#ifndef IOVIRT_SPLIT_VIRTIO_PCI_COMMON_H
#define IOVIRT_SPLIT_VIRTIO_PCI_COMMON_H

#include <stdint.h>

#include "split/virtio_pci.h"

/* A driver access of len bytes at offset into the common configuration
 * (vCPU thread; takes vdev->lock). A width the field does not take is a
 * fault: reads return all ones, writes are ignored. */
void virtio_pci_common_read(struct virtio_pci *vdev, unsigned offset, void *data, uint32_t len);
void virtio_pci_common_write(struct virtio_pci *vdev, unsigned offset, const void *data,
			     uint32_t len);

/* Virtio reset: the device's reset runs on the I/O thread, then every
 * register the driver programs goes back to its initial value. vdev->lock
 * held. */
void virtio_pci_reset_locked(struct virtio_pci *vdev);

#endif
