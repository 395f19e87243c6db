/* DMA address spaces: the only way a device model reaches guest memory.
 *
 * A space is a set of mappings IOVA -> host pointer, each with permissions.
 * Device models translate the addresses a (hostile) guest hands them through
 * a space; anything not mapped with the needed permission is refused and
 * counted as a fault, never touched. The VFIO type1 container attaches to a
 * space as its "backend" so the same mappings are also programmed into the
 * host IOMMU for a passed-through device.
 *
 * Permissions are seen from the device: DMA_PERM_READ lets the device read
 * guest memory (guest -> device data), DMA_PERM_WRITE lets it write guest
 * memory (device -> guest data).
 *
 * Threads: translate/read/write/sg may run concurrently from any thread
 * (vCPUs, I/O thread); map/unmap take the space exclusively. A pointer
 * returned by a translation stays valid only while its mapping does: whoever
 * unmaps memory must first quiesce the devices that may still use it. */
#ifndef IOVIRT_IOMMU_DMA_SPACE_H
#define IOVIRT_IOMMU_DMA_SPACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/guest_ram.h"

#define DMA_PERM_READ  0x1u   /* device may read guest memory */
#define DMA_PERM_WRITE 0x2u   /* device may write guest memory */
#define DMA_PERM_RW    (DMA_PERM_READ | DMA_PERM_WRITE)

/* Faults logged per space before the rest are only counted. */
#define DMA_FAULT_LOG_LIMIT 8

struct dma_space;

/* A hardware back end (the VFIO type1 container) mirrors every mapping.
 * map is called before a mapping becomes visible and may refuse it (return
 * -1: the map fails); unmap is called when a mapping is removed and may fail
 * (return -1: the mapping stays). Both run with the space locked exclusively
 * and must not call back into it. */
struct dma_space_backend {
	int (*map)(void *opaque, uint64_t iova, uint64_t len, void *host, unsigned perm);
	int (*unmap)(void *opaque, uint64_t iova, uint64_t len);
};

/* An empty space; name identifies it in fault messages. NULL if out of memory. */
struct dma_space *dma_space_create(const char *name);

/* The default space of a VM: every RAM region read-write at IOVA = guest-
 * physical address, nothing else. NULL if out of memory. */
struct dma_space *dma_space_create_for_ram(const struct guest_ram *ram);

/* Unmaps everything through the backend (if any), logs a fault summary if
 * faults went unlogged, and frees the space. NULL is accepted. */
void dma_space_destroy(struct dma_space *space);

const char *dma_space_name(const struct dma_space *space);

/* Attaches a backend and replays every existing mapping into it (undoing the
 * replay if one fails). backend NULL detaches the current one, unmapping every
 * mapping from it first. Attaching over an attached backend is refused.
 * Returns 0 or -1. */
int dma_space_set_backend(struct dma_space *space, const struct dma_space_backend *backend,
			  void *opaque);

/* Maps [iova, iova+len) to host with perm (a non-empty subset of DMA_PERM_RW).
 * Refused (-1) for len 0, a range that wraps the IOVA or host address space,
 * a NULL host pointer, an overlap with an existing mapping, or a backend
 * refusal. Adjacent mappings are kept separate (never merged). */
int dma_space_map(struct dma_space *space, uint64_t iova, uint64_t len, void *host,
		  unsigned perm);

/* Removes every mapping lying wholly inside [iova, iova+len). Refused (-1,
 * nothing removed) if no mapping lies inside, or if a mapping straddles either
 * end of the range: mappings are never split (the same rule VFIO type1 has).
 * So unmapping exactly one mapping's range always works. */
int dma_space_unmap(struct dma_space *space, uint64_t iova, uint64_t len);

/* Host pointer for [iova, iova+len) if every byte is mapped with at least
 * perm and the range is host-contiguous: it lies in one mapping, or crosses
 * into IOVA-adjacent mappings whose host addresses also continue. Otherwise
 * NULL, and the fault is counted and logged. A range that wraps past the top
 * of the IOVA space is a fault.
 * len 0 returns NULL without a fault: there is no byte to point at; a zero-
 * length transfer is a no-op for dma_read/dma_write/dma_translate_sg. */
void *dma_translate(struct dma_space *space, uint64_t iova, uint64_t len, unsigned perm);

/* Zero-copy scatter-gather: fills iov with the host pieces of [iova,
 * iova+len), splitting across IOVA-adjacent mappings (and merging pieces that
 * are host-contiguous). Returns 0 with *niov set, or -1 (counted and logged
 * fault) if any byte is unmapped or lacks perm, the range wraps, or it needs
 * more than max_iov pieces. len 0 gives *niov = 0 and returns 0. */
int dma_translate_sg(struct dma_space *space, uint64_t iova, uint64_t len, unsigned perm,
		     struct iovec *iov, unsigned max_iov, unsigned *niov);

/* Copy helpers. dma_read: the device reads guest memory at iova into dst
 * (needs DMA_PERM_READ). dma_write: the device writes src into guest memory
 * (needs DMA_PERM_WRITE). The range may span IOVA-adjacent mappings. Nothing
 * is copied unless the whole range is allowed. Returns 0, or -1 on a fault. */
int dma_read(struct dma_space *space, uint64_t iova, void *dst, uint64_t len);
int dma_write(struct dma_space *space, uint64_t iova, const void *src, uint64_t len);

/* Faults counted on this space so far. */
uint64_t dma_space_faults(const struct dma_space *space);

/* Number of mappings (for tests and stats). */
unsigned dma_space_mapping_count(const struct dma_space *space);

#endif
