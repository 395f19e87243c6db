/* PRP walking: PRP1 (may start inside a page), then PRP2 as the second page
 * or as a pointer to a PRP list whose last entry chains to the next list
 * page when more entries are needed than the page holds. The walk reads
 * exactly as many entries as the transfer length needs, so a list that
 * points at itself or runs on forever cannot make it loop; a chain back to
 * a list page already read is refused outright. */
#include <string.h>

#include "emulated/nvme.h"
#include "iommu/dma_space.h"

#define NVME_PRP_ENTRIES_PER_PAGE (NVME_PAGE_SIZE / 8)
#define NVME_PRP_MAX_LIST_PAGES   4   /* MDTS needs 1 list page, 2 with an offset */

/* Appends the host pieces of [addr, addr+len) to iov, merging with the
 * previous piece when host memory continues. */
static uint16_t prp_add_piece(struct dma_space *dma, uint64_t addr, uint64_t len, unsigned perm,
			      struct iovec *iov, unsigned max_iov, unsigned *niov)
{
	struct iovec piece[2];
	unsigned got = 0;
	if (dma_translate_sg(dma, addr, len, perm, piece, 2, &got) < 0)
		return NVME_SC_DATA_TRANSFER_ERROR;
	for (unsigned i = 0; i < got; i++) {
		if (*niov > 0) {
			struct iovec *last = &iov[*niov - 1];
			if ((uint8_t *)last->iov_base + last->iov_len == piece[i].iov_base) {
				last->iov_len += piece[i].iov_len;
				continue;
			}
		}
		if (*niov >= max_iov)
			return NVME_SC_DATA_TRANSFER_ERROR;
		iov[(*niov)++] = piece[i];
	}
	return NVME_SC_SUCCESS;
}

uint16_t nvme_prp_map(struct dma_space *dma, uint64_t prp1, uint64_t prp2, uint64_t len,
		      unsigned perm, struct iovec *iov, unsigned max_iov, unsigned *niov)
{
	*niov = 0;
	if (len == 0)
		return NVME_SC_SUCCESS;
	if (len > NVME_MAX_TRANSFER)
		return NVME_SC_INVALID_FIELD;
	if (prp1 & 0x3)
		return NVME_SC_INVALID_PRP_OFFSET;   /* PRP1 must be dword aligned */
	uint64_t offset = prp1 & (NVME_PAGE_SIZE - 1);
	uint64_t first = NVME_PAGE_SIZE - offset;
	if (first > len)
		first = len;
	uint16_t st = prp_add_piece(dma, prp1, first, perm, iov, max_iov, niov);
	if (st)
		return st;
	uint64_t left = len - first;
	if (left == 0)
		return NVME_SC_SUCCESS;
	if (left <= NVME_PAGE_SIZE) {
		/* PRP2 is the second (and last) data page. */
		if (prp2 & (NVME_PAGE_SIZE - 1))
			return NVME_SC_INVALID_PRP_OFFSET;
		return prp_add_piece(dma, prp2, left, perm, iov, max_iov, niov);
	}

	/* PRP2 points to a list; entries are 8 bytes, so it is qword aligned. */
	uint64_t list = prp2;
	if (list & 0x7)
		return NVME_SC_INVALID_PRP_OFFSET;
	uint64_t entries_left = (left + NVME_PAGE_SIZE - 1) / NVME_PAGE_SIZE;
	uint64_t visited[NVME_PRP_MAX_LIST_PAGES];
	unsigned nvisited = 0;
	uint64_t entries[NVME_PRP_ENTRIES_PER_PAGE];
	while (entries_left > 0) {
		uint64_t list_page = list & ~(uint64_t)(NVME_PAGE_SIZE - 1);
		for (unsigned i = 0; i < nvisited; i++)
			if (visited[i] == list_page)
				return NVME_SC_INVALID_FIELD;   /* the chain loops */
		if (nvisited == NVME_PRP_MAX_LIST_PAGES)
			return NVME_SC_INVALID_FIELD;
		visited[nvisited++] = list_page;
		uint64_t in_page = (NVME_PAGE_SIZE - (list & (NVME_PAGE_SIZE - 1))) / 8;
		/* All remaining entries fit here, or the last slot chains on. */
		bool chains = entries_left > in_page;
		uint64_t to_read = chains ? in_page : entries_left;
		if (dma_read(dma, list, entries, to_read * 8) < 0)
			return NVME_SC_DATA_TRANSFER_ERROR;
		uint64_t data_entries = chains ? to_read - 1 : to_read;
		for (uint64_t i = 0; i < data_entries; i++) {
			uint64_t page = entries[i];
			if (page & (NVME_PAGE_SIZE - 1))
				return NVME_SC_INVALID_PRP_OFFSET;
			uint64_t chunk = left < NVME_PAGE_SIZE ? left : NVME_PAGE_SIZE;
			st = prp_add_piece(dma, page, chunk, perm, iov, max_iov, niov);
			if (st)
				return st;
			left -= chunk;
		}
		entries_left -= data_entries;
		if (chains) {
			list = entries[to_read - 1];
			if (list & 0x7)
				return NVME_SC_INVALID_PRP_OFFSET;
		}
	}
	return NVME_SC_SUCCESS;
}

uint16_t nvme_prp_to_guest(struct dma_space *dma, uint64_t prp1, uint64_t prp2, const void *src,
			   uint64_t len)
{
	struct iovec iov[NVME_MAX_IOV];
	unsigned n;
	uint16_t st = nvme_prp_map(dma, prp1, prp2, len, DMA_PERM_WRITE, iov, NVME_MAX_IOV, &n);
	if (st)
		return st;
	const uint8_t *p = src;
	for (unsigned i = 0; i < n; i++) {
		memcpy(iov[i].iov_base, p, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	return NVME_SC_SUCCESS;
}

uint16_t nvme_prp_from_guest(struct dma_space *dma, uint64_t prp1, uint64_t prp2, void *dst,
			     uint64_t len)
{
	struct iovec iov[NVME_MAX_IOV];
	unsigned n;
	uint16_t st = nvme_prp_map(dma, prp1, prp2, len, DMA_PERM_READ, iov, NVME_MAX_IOV, &n);
	if (st)
		return st;
	uint8_t *p = dst;
	for (unsigned i = 0; i < n; i++) {
		memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	return NVME_SC_SUCCESS;
}
