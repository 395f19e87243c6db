/* Descriptor ring registers shared by the receive and transmit rings (base,
 * length, head, tail) and the checks every ring passes before the device
 * touches it. A ring that fails a check is stopped, as the hardware stops a
 * queue on a bad set-up, and a fault is logged; rewriting base, length or
 * head (re-initialising the ring) starts it again. */
#include "emulated/e1000.h"

#include "iommu/dma_space.h"
#include "core/vm.h"

/* Offsets inside a ring's register block (RDBAL/TDBAL + ...). */
#define RING_BAL 0x00
#define RING_BAH 0x04
#define RING_LEN 0x08
#define RING_H   0x10
#define RING_T   0x18

static void e1000_ring_stop(struct e1000 *e, struct e1000_ring *ring, const char *which,
			    const char *why)
{
	if (!ring->stopped)
		e1000_fault(e, "%s ring stopped: %s", which, why);
	ring->stopped = true;
}

void e1000_ring_reg_write(struct e1000 *e, struct e1000_ring *ring, const char *which,
			  uint32_t reg, uint32_t value)
{
	switch (reg) {
	case RING_BAL:
		ring->bal = value & ~0xfu;    /* 16-byte aligned: bits 3:0 read zero */
		ring->stopped = false;
		break;
	case RING_BAH:
		ring->bah = value;
		ring->stopped = false;
		break;
	case RING_LEN:
		ring->len = value & (E1000_RING_LEN_MAX - E1000_RING_ALIGN);
		ring->len_invalid = value % E1000_RING_ALIGN != 0 || value >= E1000_RING_LEN_MAX ||
				    ring->len == 0;
		ring->stopped = false;
		if (ring->len_invalid)
			e1000_fault(e, "%sLEN 0x%x: the ring length must be a non-zero multiple of "
				    "128 bytes below 1 MiB", which[0] == 'r' ? "RD" : "TD", value);
		break;
	case RING_H:
		ring->head = value & 0xffff;
		ring->stopped = false;
		break;
	case RING_T:
		/* Zero is the reset value: a driver may write it before the length. */
		if (value != 0 && (ring->len_invalid || value >= e1000_ring_count(ring))) {
			e1000_ring_stop(e, ring, which, "tail written past the end of the ring "
					"(or the ring has no valid length)");
			return;
		}
		ring->tail = value & 0xffff;
		break;
	default:
		break;
	}
}

uint32_t e1000_ring_reg_read(const struct e1000_ring *ring, uint32_t reg)
{
	switch (reg) {
	case RING_BAL: return ring->bal;
	case RING_BAH: return ring->bah;
	case RING_LEN: return ring->len;
	case RING_H:   return ring->head;
	case RING_T:   return ring->tail;
	default:       return 0;
	}
}

void *e1000_ring_map(struct e1000 *e, struct e1000_ring *ring, const char *which)
{
	if (ring->stopped)
		return NULL;
	if (ring->len_invalid) {
		e1000_ring_stop(e, ring, which, "length is zero or not a multiple of 128");
		return NULL;
	}
	if (ring->len == 0)
		return NULL;          /* never programmed since reset: nothing to use */
	uint32_t n = e1000_ring_count(ring);
	if (ring->head >= n || ring->tail >= n) {
		e1000_ring_stop(e, ring, which, "head or tail past the end of the ring");
		return NULL;
	}
	/* The whole ring at once: one translation per pass, and a ring that is
	 * not wholly in (host-contiguous) guest RAM is refused up front. */
	void *desc = dma_translate(e->vm->dma, e1000_ring_base(ring), ring->len, DMA_PERM_RW);
	if (!desc) {
		e1000_ring_stop(e, ring, which, "descriptors lie outside guest RAM");
		return NULL;
	}
	return desc;
}
