/* KVM ioeventfds for virtqueue notify addresses: a guest write to the
 * address signals an eventfd inside the kernel, so a kick costs no exit to
 * user space. Datamatch-free: any value the driver writes counts. */
#ifndef IOVIRT_SPLIT_VIRTIO_IOEVENTFD_H
#define IOVIRT_SPLIT_VIRTIO_IOEVENTFD_H

#include <stdint.h>

/* How a notify address was registered. */
enum virtio_ioeventfd_mode {
	VIRTIO_IOEVENTFD_NONE = 0,
	VIRTIO_IOEVENTFD_ANY_LENGTH,   /* one registration, any access size */
	VIRTIO_IOEVENTFD_LEN_2_AND_4,  /* a 2-byte and a 4-byte registration */
};

/* Registers fd for MMIO writes to addr. Returns the mode used, or
 * VIRTIO_IOEVENTFD_NONE after logging why (the write then exits to user
 * space, where the BAR handler signals the same fd). */
enum virtio_ioeventfd_mode virtio_ioeventfd_assign(int vm_fd, uint64_t addr, int fd);
void virtio_ioeventfd_deassign(int vm_fd, uint64_t addr, int fd, enum virtio_ioeventfd_mode mode);

#endif
