#include "iommu/dma_space.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct dma_mapping {
	uint64_t iova;
	uint64_t last;      /* last IOVA byte; an end bound could overflow at 2^64 */
	uint8_t *host;
	unsigned perm;
};

struct dma_space {
	char name[48];
	/* Writer-preferring, so a rare map/unmap is not starved by a stream of
	 * translations. */
	pthread_rwlock_t lock;
	struct dma_mapping *maps;   /* sorted by iova, never overlapping */
	unsigned nmaps;
	unsigned capacity;
	const struct dma_space_backend *backend;
	void *backend_opaque;
	atomic_uint_fast64_t faults;
};

/* Why an access was refused, for the fault message. */
enum dma_refusal {
	DMA_OK = 0,
	DMA_WRAPS,
	DMA_UNMAPPED,
	DMA_NO_PERMISSION,
	DMA_HOST_DISCONTIGUOUS,
	DMA_TOO_MANY_PIECES,
};

static const char *refusal_text(enum dma_refusal why)
{
	switch (why) {
	case DMA_OK: return "ok";
	case DMA_WRAPS: return "range wraps past the top of the IOVA space";
	case DMA_UNMAPPED: return "IOVA not mapped";
	case DMA_NO_PERMISSION: return "mapping does not permit this access";
	case DMA_HOST_DISCONTIGUOUS: return "range spans host-discontiguous mappings";
	case DMA_TOO_MANY_PIECES: return "range needs more scatter-gather pieces than the caller allows";
	}
	return "unknown";
}

static const char *perm_text(unsigned perm)
{
	switch (perm & DMA_PERM_RW) {
	case DMA_PERM_READ: return "read";
	case DMA_PERM_WRITE: return "write";
	case DMA_PERM_RW: return "read-write";
	}
	return "no-access";
}

static void dma_fault(struct dma_space *space, uint64_t iova, uint64_t len, unsigned perm,
		      enum dma_refusal why, uint64_t at)
{
	uint64_t n = atomic_fetch_add_explicit(&space->faults, 1, memory_order_relaxed) + 1;
	if (n > DMA_FAULT_LOG_LIMIT)
		return;
	log_device_fault(space->name,
			 "DMA %s of %" PRIu64 " bytes at IOVA 0x%" PRIx64 " refused at 0x%" PRIx64 ": %s%s",
			 perm_text(perm), len, iova, at, refusal_text(why),
			 n == DMA_FAULT_LOG_LIMIT ? " (further faults on this space are only counted)" : "");
}

static bool range_last(uint64_t start, uint64_t len, uint64_t *last)
{
	if (len == 0 || len - 1 > UINT64_MAX - start)
		return false;
	*last = start + (len - 1);
	return true;
}

/* Index of the first mapping whose last byte is >= iova (nmaps if none).
 * Caller holds the lock. */
static unsigned first_ending_at_or_after(const struct dma_space *space, uint64_t iova)
{
	unsigned lo = 0, hi = space->nmaps;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (space->maps[mid].last < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Checks that every byte of [iova, last] is mapped with perm, walking IOVA-
 * adjacent mappings; with need_host_contiguous the host addresses must
 * continue too. On success *first is the mapping holding iova and *pieces
 * the number of mappings the range touches. Caller holds the lock. */
static enum dma_refusal check_range(const struct dma_space *space, uint64_t iova, uint64_t last,
				    unsigned perm, bool need_host_contiguous,
				    unsigned *first, unsigned *pieces, uint64_t *at)
{
	unsigned i = first_ending_at_or_after(space, iova);
	*at = iova;
	if (i == space->nmaps || space->maps[i].iova > iova)
		return DMA_UNMAPPED;
	*first = i;
	for (unsigned n = 1;; n++, i++) {
		const struct dma_mapping *m = &space->maps[i];
		if ((m->perm & perm) != perm)
			return DMA_NO_PERMISSION;
		if (m->last >= last) {
			*pieces = n;
			return DMA_OK;
		}
		*at = m->last + 1;
		if (i + 1 == space->nmaps || space->maps[i + 1].iova != m->last + 1)
			return DMA_UNMAPPED;
		if (need_host_contiguous &&
		    space->maps[i + 1].host != m->host + (m->last - m->iova + 1))
			return DMA_HOST_DISCONTIGUOUS;
	}
}

struct dma_space *dma_space_create(const char *name)
{
	struct dma_space *space = calloc(1, sizeof(*space));
	if (!space)
		return NULL;
	snprintf(space->name, sizeof(space->name), "%s", name ? name : "dma");
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	int rc = pthread_rwlock_init(&space->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc != 0) {
		free(space);
		return NULL;
	}
	atomic_init(&space->faults, 0);
	return space;
}

struct dma_space *dma_space_create_for_ram(const struct guest_ram *ram)
{
	struct dma_space *space = dma_space_create("guest-ram");
	if (!space)
		return NULL;
	for (unsigned i = 0; i < ram->nregions && i < GUEST_RAM_MAX_REGIONS; i++) {
		const struct guest_ram_region *r = &ram->regions[i];
		if (dma_space_map(space, r->gpa, r->size, r->host, DMA_PERM_RW) != 0) {
			log_error("DMA space for guest RAM: cannot map region 0x%" PRIx64 "+0x%" PRIx64,
				  r->gpa, r->size);
			dma_space_destroy(space);
			return NULL;
		}
	}
	return space;
}

void dma_space_destroy(struct dma_space *space)
{
	if (!space)
		return;
	if (space->backend)
		dma_space_set_backend(space, NULL, NULL);
	uint64_t faults = dma_space_faults(space);
	if (faults > DMA_FAULT_LOG_LIMIT)
		log_warn("DMA space %s: %" PRIu64 " faults in all, %" PRIu64 " of them not logged",
			 space->name, faults, faults - DMA_FAULT_LOG_LIMIT);
	pthread_rwlock_destroy(&space->lock);
	free(space->maps);
	free(space);
}

const char *dma_space_name(const struct dma_space *space)
{
	return space->name;
}

/* Caller holds the lock exclusively. Unmaps maps[0..count) from the backend,
 * in reverse; returns how many refused. */
static unsigned backend_unmap_all(struct dma_space *space, unsigned count)
{
	unsigned failed = 0;
	while (count-- > 0) {
		const struct dma_mapping *m = &space->maps[count];
		if (space->backend->unmap(space->backend_opaque, m->iova, m->last - m->iova + 1) != 0)
			failed++;
	}
	return failed;
}

int dma_space_set_backend(struct dma_space *space, const struct dma_space_backend *backend,
			  void *opaque)
{
	int rc = 0;
	pthread_rwlock_wrlock(&space->lock);
	if (backend == NULL) {
		if (space->backend) {
			unsigned failed = backend_unmap_all(space, space->nmaps);
			if (failed)
				log_error("DMA space %s: backend refused to unmap %u mappings on detach",
					  space->name, failed);
		}
		space->backend = NULL;
		space->backend_opaque = NULL;
	} else if (space->backend) {
		log_error("DMA space %s already has a backend; detach it first", space->name);
		rc = -1;
	} else {
		space->backend = backend;
		space->backend_opaque = opaque;
		for (unsigned i = 0; i < space->nmaps; i++) {
			const struct dma_mapping *m = &space->maps[i];
			if (backend->map(opaque, m->iova, m->last - m->iova + 1, m->host, m->perm) != 0) {
				backend_unmap_all(space, i);
				space->backend = NULL;
				space->backend_opaque = NULL;
				rc = -1;
				break;
			}
		}
	}
	pthread_rwlock_unlock(&space->lock);
	return rc;
}

int dma_space_map(struct dma_space *space, uint64_t iova, uint64_t len, void *host,
		  unsigned perm)
{
	uint64_t last;
	if (!range_last(iova, len, &last) || host == NULL ||
	    perm == 0 || (perm & ~DMA_PERM_RW) != 0 ||
	    len - 1 > UINTPTR_MAX - (uintptr_t)host)
		return -1;

	int rc = -1;
	pthread_rwlock_wrlock(&space->lock);
	unsigned i = first_ending_at_or_after(space, iova);
	if (i < space->nmaps && space->maps[i].iova <= last)
		goto out;   /* overlaps maps[i] */
	if (space->nmaps == space->capacity) {
		unsigned cap = space->capacity ? space->capacity * 2 : 8;
		struct dma_mapping *grown = realloc(space->maps, cap * sizeof(*grown));
		if (!grown)
			goto out;
		space->maps = grown;
		space->capacity = cap;
	}
	if (space->backend &&
	    space->backend->map(space->backend_opaque, iova, len, host, perm) != 0)
		goto out;
	memmove(&space->maps[i + 1], &space->maps[i], (space->nmaps - i) * sizeof(space->maps[0]));
	space->maps[i] = (struct dma_mapping){ .iova = iova, .last = last, .host = host, .perm = perm };
	space->nmaps++;
	rc = 0;
out:
	pthread_rwlock_unlock(&space->lock);
	return rc;
}

int dma_space_unmap(struct dma_space *space, uint64_t iova, uint64_t len)
{
	uint64_t last;
	if (!range_last(iova, len, &last))
		return -1;

	int rc = -1;
	pthread_rwlock_wrlock(&space->lock);
	unsigned begin = first_ending_at_or_after(space, iova);
	unsigned end = begin;
	while (end < space->nmaps && space->maps[end].iova <= last)
		end++;
	/* [begin, end) intersect the range; each must lie wholly inside it. */
	if (begin == end || space->maps[begin].iova < iova || space->maps[end - 1].last > last)
		goto out;
	bool partial = false;
	if (space->backend) {
		for (unsigned i = begin; i < end; i++) {
			const struct dma_mapping *m = &space->maps[i];
			if (space->backend->unmap(space->backend_opaque, m->iova,
						  m->last - m->iova + 1) != 0) {
				/* Keep the software view in step with what the
				 * hardware may still reach: drop only what was undone. */
				log_error("DMA space %s: backend refused to unmap IOVA 0x%" PRIx64,
					  space->name, m->iova);
				end = i;
				partial = true;
				break;
			}
		}
	}
	memmove(&space->maps[begin], &space->maps[end], (space->nmaps - end) * sizeof(space->maps[0]));
	space->nmaps -= end - begin;
	rc = partial ? -1 : 0;
out:
	pthread_rwlock_unlock(&space->lock);
	return rc;
}

void *dma_translate(struct dma_space *space, uint64_t iova, uint64_t len, unsigned perm)
{
	if (len == 0)
		return NULL;
	uint64_t last, at = iova;
	enum dma_refusal why = DMA_WRAPS;
	void *host = NULL;
	if (range_last(iova, len, &last)) {
		unsigned first, pieces;
		pthread_rwlock_rdlock(&space->lock);
		why = check_range(space, iova, last, perm, true, &first, &pieces, &at);
		if (why == DMA_OK)
			host = space->maps[first].host + (iova - space->maps[first].iova);
		pthread_rwlock_unlock(&space->lock);
	}
	if (!host)
		dma_fault(space, iova, len, perm, why, at);
	return host;
}

/* Caller holds the lock and has checked the range. Writes the host pieces of
 * [iova, iova+len) starting at maps[first], merging host-contiguous ones. */
static unsigned collect_pieces(const struct dma_space *space, unsigned first, uint64_t iova,
			       uint64_t len, struct iovec *iov)
{
	unsigned n = 0;
	for (unsigned i = first; len > 0; i++) {
		const struct dma_mapping *m = &space->maps[i];
		uint64_t avail = m->last - iova + 1;   /* 0 means 2^64: the whole space */
		uint64_t take = (avail != 0 && avail < len) ? avail : len;
		uint8_t *host = m->host + (iova - m->iova);
		if (n > 0 && (uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len == host)
			iov[n - 1].iov_len += take;
		else
			iov[n++] = (struct iovec){ .iov_base = host, .iov_len = take };
		iova += take;
		len -= take;
	}
	return n;
}

/* Counts the pieces collect_pieces would produce after merging. */
static unsigned count_pieces(const struct dma_space *space, unsigned first, unsigned mappings)
{
	unsigned n = 1;
	for (unsigned i = first + 1; i < first + mappings; i++) {
		const struct dma_mapping *prev = &space->maps[i - 1];
		if (space->maps[i].host != prev->host + (prev->last - prev->iova + 1))
			n++;
	}
	return n;
}

int dma_translate_sg(struct dma_space *space, uint64_t iova, uint64_t len, unsigned perm,
		     struct iovec *iov, unsigned max_iov, unsigned *niov)
{
	*niov = 0;
	if (len == 0)
		return 0;
	uint64_t last, at = iova;
	enum dma_refusal why = DMA_WRAPS;
	/* An iovec length is a size_t; on 64-bit hosts that holds any uint64_t. */
	if (range_last(iova, len, &last) && len <= SIZE_MAX) {
		unsigned first, mappings;
		pthread_rwlock_rdlock(&space->lock);
		why = check_range(space, iova, last, perm, false, &first, &mappings, &at);
		if (why == DMA_OK && count_pieces(space, first, mappings) > max_iov)
			why = DMA_TOO_MANY_PIECES;
		if (why == DMA_OK)
			*niov = collect_pieces(space, first, iova, len, iov);
		pthread_rwlock_unlock(&space->lock);
	}
	if (why != DMA_OK) {
		dma_fault(space, iova, len, perm, why, at);
		return -1;
	}
	return 0;
}

/* Copies between guest memory and buf under the read lock, so an unmap cannot
 * pull the memory away mid-copy. to_guest selects the direction. */
static int dma_copy(struct dma_space *space, uint64_t iova, void *buf, uint64_t len,
		    unsigned perm, bool to_guest)
{
	if (len == 0)
		return 0;
	uint64_t last, at = iova;
	enum dma_refusal why = DMA_WRAPS;
	if (range_last(iova, len, &last) && len <= SIZE_MAX) {
		unsigned first, mappings;
		pthread_rwlock_rdlock(&space->lock);
		why = check_range(space, iova, last, perm, false, &first, &mappings, &at);
		if (why == DMA_OK) {
			uint8_t *p = buf;
			uint64_t cur = iova, left = len;
			for (unsigned i = first; left > 0; i++) {
				const struct dma_mapping *m = &space->maps[i];
				uint64_t avail = m->last - cur + 1;
				uint64_t take = (avail != 0 && avail < left) ? avail : left;
				uint8_t *host = m->host + (cur - m->iova);
				if (to_guest)
					memcpy(host, p, take);
				else
					memcpy(p, host, take);
				p += take;
				cur += take;
				left -= take;
			}
		}
		pthread_rwlock_unlock(&space->lock);
	}
	if (why != DMA_OK) {
		dma_fault(space, iova, len, perm, why, at);
		return -1;
	}
	return 0;
}

int dma_read(struct dma_space *space, uint64_t iova, void *dst, uint64_t len)
{
	return dma_copy(space, iova, dst, len, DMA_PERM_READ, false);
}

int dma_write(struct dma_space *space, uint64_t iova, const void *src, uint64_t len)
{
	/* dma_copy only writes through buf when copying from guest memory. */
	return dma_copy(space, iova, (void *)src, len, DMA_PERM_WRITE, true);
}

uint64_t dma_space_faults(const struct dma_space *space)
{
	return atomic_load_explicit(&space->faults, memory_order_relaxed);
}

unsigned dma_space_mapping_count(const struct dma_space *space)
{
	struct dma_space *s = (struct dma_space *)space;   /* the lock is not part of the value */
	pthread_rwlock_rdlock(&s->lock);
	unsigned n = s->nmaps;
	pthread_rwlock_unlock(&s->lock);
	return n;
}
