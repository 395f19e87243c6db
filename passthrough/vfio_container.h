/* The VFIO type1 container of a VM: one per VM, shared by every passed-
 * through device's IOMMU group, and the hardware back end of vm->dma, so all
 * guest RAM is mapped in the host IOMMU at IOVA = guest-physical address and
 * unmapped when the last device goes. It also hands out the KVM memory slot
 * numbers the devices' BAR mappings use. */
#ifndef IOVIRT_PASSTHROUGH_VFIO_CONTAINER_H
#define IOVIRT_PASSTHROUGH_VFIO_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct vfio_container;

/* KVM memory slots for BARs: guest RAM uses the low numbers. */
#define VFIO_SLOT_BASE  32
#define VFIO_SLOT_COUNT 64

/* Opens /dev/vfio/<group>, checks it is viable and joins it to vm's
 * container (created, set to VFIO_TYPE1v2_IOMMU and made vm->dma's back end
 * on first use). Returns the container with *group_fd set, or NULL with one
 * line in err. */
struct vfio_container *vfio_container_join(struct vm *vm, const char *dev_root, int group,
					   int *group_fd, char *err, size_t errlen);
/* Drops one reference to group; the last device of the VM unmaps all DMA
 * and closes the container. */
void vfio_container_leave(struct vfio_container *c, int group);

/* A free KVM memory slot number, or -1. */
int vfio_container_slot_alloc(struct vfio_container *c);
void vfio_container_slot_free(struct vfio_container *c, int slot);

/* MAP_DMA / UNMAP_DMA ioctls issued so far (stats, tests). */
uint64_t vfio_container_map_count(const struct vfio_container *c);

#endif
