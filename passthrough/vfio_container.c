/* The VM's VFIO type1 container and its DMA back end. */
#include "passthrough/vfio_container.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/log.h"
#include "core/vm.h"
#include "iommu/dma_space.h"

#define VFIO_MAX_GROUPS 16

struct vfio_container {
	struct vfio_container *next;
	struct vm *vm;
	int fd;
	struct { int id, fd; unsigned refs; } groups[VFIO_MAX_GROUPS];
	unsigned ngroups;
	bool iommu_set, backend_on;
	uint64_t slots_used;          /* bit i: slot VFIO_SLOT_BASE + i */
	uint64_t map_calls;
};

/* Containers by VM: devices of one VM share one. */
static pthread_mutex_t containers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vfio_container *containers;

static int container_dma_map(void *opaque, uint64_t iova, uint64_t len, void *host, unsigned perm)
{
	struct vfio_container *c = opaque;
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = ((perm & DMA_PERM_READ) ? VFIO_DMA_MAP_FLAG_READ : 0) |
			 ((perm & DMA_PERM_WRITE) ? VFIO_DMA_MAP_FLAG_WRITE : 0),
		.vaddr = (uint64_t)(uintptr_t)host,
		.iova = iova,
		.size = len,
	};
	c->map_calls++;
	/* With -v: the lab checks that nothing past guest RAM is ever mapped. */
	log_info("vfio: map iova 0x%llx size 0x%llx%s%s", (unsigned long long)iova,
		 (unsigned long long)len, (perm & DMA_PERM_READ) ? " read" : "",
		 (perm & DMA_PERM_WRITE) ? " write" : "");
	if (ioctl(c->fd, VFIO_IOMMU_MAP_DMA, &map) < 0) {
		log_error("vfio: VFIO_IOMMU_MAP_DMA iova 0x%llx+0x%llx: %s (locked-memory limit? "
			  "see ulimit -l)", (unsigned long long)iova, (unsigned long long)len,
			  strerror(errno));
		return -1;
	}
	return 0;
}

static int container_dma_unmap(void *opaque, uint64_t iova, uint64_t len)
{
	struct vfio_container *c = opaque;
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = iova, .size = len,
	};
	c->map_calls++;
	log_info("vfio: unmap iova 0x%llx size 0x%llx", (unsigned long long)iova,
		 (unsigned long long)len);
	if (ioctl(c->fd, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0) {
		log_error("vfio: VFIO_IOMMU_UNMAP_DMA iova 0x%llx+0x%llx: %s",
			  (unsigned long long)iova, (unsigned long long)len, strerror(errno));
		return -1;
	}
	return 0;
}

static const struct dma_space_backend container_dma_backend = {
	.map = container_dma_map,
	.unmap = container_dma_unmap,
};

static struct vfio_container *container_open(struct vm *vm, const char *dev_root, char *err,
					     size_t errlen)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/vfio/vfio", dev_root);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "VFIO not available on this host (cannot open %s: %s): load "
			 "vfio-pci with 'modprobe vfio-pci'", path, strerror(errno));
		return NULL;
	}
	if (ioctl(fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1) {
		snprintf(err, errlen, "VFIO on this host lacks the type1v2 IOMMU (load "
			 "vfio_iommu_type1)");
		close(fd);
		return NULL;
	}
	struct vfio_container *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "vfio: out of memory");
		close(fd);
		return NULL;
	}
	c->vm = vm;
	c->fd = fd;
	return c;
}

static void container_close(struct vfio_container *c)
{
	if (c->backend_on)
		dma_space_set_backend(c->vm->dma, NULL, NULL);   /* unmaps all guest RAM */
	for (unsigned i = 0; i < c->ngroups; i++) {
		ioctl(c->groups[i].fd, VFIO_GROUP_UNSET_CONTAINER);
		close(c->groups[i].fd);
	}
	close(c->fd);
	free(c);
}

static int group_open(struct vfio_container *c, const char *dev_root, int group, char *err,
		      size_t errlen)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/vfio/%d", dev_root, group);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open IOMMU group %s: %s%s", path, strerror(errno),
			 errno == EBUSY ? " (another process has it open)" : "");
		return -1;
	}
	struct vfio_group_status status = { .argsz = sizeof(status) };
	if (ioctl(fd, VFIO_GROUP_GET_STATUS, &status) < 0 ||
	    !(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		snprintf(err, errlen, "IOMMU group %d is not viable: bind every device in "
			 "/sys/kernel/iommu_groups/%d/devices to vfio-pci", group, group);
		close(fd);
		return -1;
	}
	if (ioctl(fd, VFIO_GROUP_SET_CONTAINER, &c->fd) < 0) {
		snprintf(err, errlen, "IOMMU group %d: VFIO_GROUP_SET_CONTAINER: %s", group,
			 strerror(errno));
		close(fd);
		return -1;
	}
	if (!c->iommu_set) {
		if (ioctl(c->fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
			snprintf(err, errlen, "VFIO_SET_IOMMU(type1v2): %s", strerror(errno));
			ioctl(fd, VFIO_GROUP_UNSET_CONTAINER);
			close(fd);
			return -1;
		}
		c->iommu_set = true;
	}
	c->groups[c->ngroups].id = group;
	c->groups[c->ngroups].fd = fd;
	c->groups[c->ngroups].refs = 1;
	c->ngroups++;
	return fd;
}

struct vfio_container *vfio_container_join(struct vm *vm, const char *dev_root, int group,
					   int *group_fd, char *err, size_t errlen)
{
	pthread_mutex_lock(&containers_lock);
	struct vfio_container *c = containers;
	while (c && c->vm != vm)
		c = c->next;
	bool fresh = c == NULL;
	if (fresh && !(c = container_open(vm, dev_root, err, errlen)))
		goto fail;
	for (unsigned i = 0; i < c->ngroups; i++) {
		if (c->groups[i].id == group) {
			c->groups[i].refs++;
			*group_fd = c->groups[i].fd;
			pthread_mutex_unlock(&containers_lock);
			return c;
		}
	}
	if (c->ngroups == VFIO_MAX_GROUPS) {
		snprintf(err, errlen, "too many IOMMU groups in one VM (at most %d)", VFIO_MAX_GROUPS);
		goto fail_fresh;
	}
	int fd = group_open(c, dev_root, group, err, errlen);
	if (fd < 0)
		goto fail_fresh;
	if (!c->backend_on) {
		/* From here on every guest RAM mapping is also in the host IOMMU. */
		if (dma_space_set_backend(vm->dma, &container_dma_backend, c) < 0) {
			snprintf(err, errlen, "could not map guest RAM for DMA in the IOMMU (see the "
				 "message above)");
			goto fail_fresh;
		}
		c->backend_on = true;
	}
	if (fresh) {
		c->next = containers;
		containers = c;
	}
	*group_fd = fd;
	pthread_mutex_unlock(&containers_lock);
	return c;
fail_fresh:
	if (fresh)
		container_close(c);
fail:
	pthread_mutex_unlock(&containers_lock);
	return NULL;
}

void vfio_container_leave(struct vfio_container *c, int group)
{
	pthread_mutex_lock(&containers_lock);
	for (unsigned i = 0; i < c->ngroups; i++) {
		if (c->groups[i].id != group || --c->groups[i].refs > 0)
			continue;
		bool last_group = c->ngroups == 1;
		if (last_group && c->backend_on) {
			/* Unmap before the group leaves: the container loses its IOMMU
			 * with its last group. */
			dma_space_set_backend(c->vm->dma, NULL, NULL);
			c->backend_on = false;
		}
		ioctl(c->groups[i].fd, VFIO_GROUP_UNSET_CONTAINER);
		close(c->groups[i].fd);
		c->groups[i] = c->groups[--c->ngroups];
		break;
	}
	if (c->ngroups == 0) {
		struct vfio_container **p = &containers;
		while (*p && *p != c)
			p = &(*p)->next;
		if (*p)
			*p = c->next;
		container_close(c);
	}
	pthread_mutex_unlock(&containers_lock);
}

int vfio_container_slot_alloc(struct vfio_container *c)
{
	pthread_mutex_lock(&containers_lock);
	int slot = -1;
	for (int i = 0; i < VFIO_SLOT_COUNT; i++) {
		if (!(c->slots_used & (1ull << i))) {
			c->slots_used |= 1ull << i;
			slot = VFIO_SLOT_BASE + i;
			break;
		}
	}
	pthread_mutex_unlock(&containers_lock);
	return slot;
}

void vfio_container_slot_free(struct vfio_container *c, int slot)
{
	if (slot < VFIO_SLOT_BASE || slot >= VFIO_SLOT_BASE + VFIO_SLOT_COUNT)
		return;
	pthread_mutex_lock(&containers_lock);
	c->slots_used &= ~(1ull << (slot - VFIO_SLOT_BASE));
	pthread_mutex_unlock(&containers_lock);
}

uint64_t vfio_container_map_count(const struct vfio_container *c)
{
	return c->map_calls;
}
