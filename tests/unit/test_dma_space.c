/* DMA spaces: permissions, boundaries, holes, overflow, scatter-gather,
 * overlap and unmap rules, the default RAM space, fault counting, backends. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/guest_ram.h"
#include "iommu/dma_space.h"
#include "tests/test_registry.h"

static uint8_t buf_a[0x1000];
static uint8_t buf_b[0x1000];
static uint8_t big[0x2000];

START_TEST(read_only_mapping_refuses_write)
{
	struct dma_space *s = dma_space_create("t");
	ck_assert_ptr_nonnull(s);
	memset(buf_a, 0x11, sizeof(buf_a));
	ck_assert_int_eq(dma_space_map(s, 0x1000, sizeof(buf_a), buf_a, DMA_PERM_READ), 0);

	ck_assert_ptr_eq(dma_translate(s, 0x1010, 16, DMA_PERM_READ), buf_a + 0x10);
	ck_assert_ptr_null(dma_translate(s, 0x1010, 16, DMA_PERM_WRITE));
	ck_assert_ptr_null(dma_translate(s, 0x1010, 16, DMA_PERM_RW));
	ck_assert_uint_eq(dma_space_faults(s), 2);

	uint8_t src[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	ck_assert_int_eq(dma_write(s, 0x1000, src, sizeof(src)), -1);
	ck_assert_uint_eq(buf_a[0], 0x11);   /* nothing written */
	uint8_t dst[8];
	ck_assert_int_eq(dma_read(s, 0x1000, dst, sizeof(dst)), 0);
	ck_assert_uint_eq(dst[7], 0x11);
	ck_assert_uint_eq(dma_space_faults(s), 3);

	/* Write-only is the mirror image. */
	ck_assert_int_eq(dma_space_map(s, 0x8000, sizeof(buf_b), buf_b, DMA_PERM_WRITE), 0);
	ck_assert_int_eq(dma_write(s, 0x8004, src, sizeof(src)), 0);
	ck_assert_mem_eq(buf_b + 4, src, sizeof(src));
	ck_assert_int_eq(dma_read(s, 0x8004, dst, sizeof(dst)), -1);
	ck_assert_uint_eq(dma_space_faults(s), 4);
	dma_space_destroy(s);
}
END_TEST

START_TEST(range_straddling_a_hole_is_refused)
{
	struct dma_space *s = dma_space_create("t");
	ck_assert_int_eq(dma_space_map(s, 0x1000, 0x1000, buf_a, DMA_PERM_RW), 0);
	ck_assert_int_eq(dma_space_map(s, 0x3000, 0x1000, buf_b, DMA_PERM_RW), 0);

	ck_assert_ptr_null(dma_translate(s, 0x1f00, 0x200, DMA_PERM_READ));
	struct iovec iov[4];
	unsigned niov = 99;
	ck_assert_int_eq(dma_translate_sg(s, 0x1f00, 0x200, DMA_PERM_READ, iov, 4, &niov), -1);
	ck_assert_uint_eq(niov, 0);
	uint8_t tmp[0x200];
	memset(buf_a, 0x5a, sizeof(buf_a));
	memset(tmp, 0, sizeof(tmp));
	ck_assert_int_eq(dma_write(s, 0x1f00, tmp, sizeof(tmp)), -1);
	ck_assert_uint_eq(buf_a[0xf00], 0x5a);   /* no partial write before the hole */
	/* Entirely inside the hole. */
	ck_assert_ptr_null(dma_translate(s, 0x2800, 4, DMA_PERM_READ));
	ck_assert_uint_eq(dma_space_faults(s), 4);
	dma_space_destroy(s);
}
END_TEST

START_TEST(ranges_that_wrap_are_refused)
{
	struct dma_space *s = dma_space_create("t");
	uint64_t top = UINT64_MAX - 0xfff;   /* last page of the IOVA space */
	ck_assert_int_eq(dma_space_map(s, top, 0x1001, buf_a, DMA_PERM_RW), -1);
	ck_assert_int_eq(dma_space_map(s, top, 0x1000, buf_a, DMA_PERM_RW), 0);

	ck_assert_ptr_eq(dma_translate(s, UINT64_MAX, 1, DMA_PERM_READ), buf_a + 0xfff);
	ck_assert_ptr_eq(dma_translate(s, UINT64_MAX - 0xf, 0x10, DMA_PERM_READ), buf_a + 0xff0);
	ck_assert_ptr_null(dma_translate(s, UINT64_MAX - 0xf, 0x11, DMA_PERM_READ));
	ck_assert_ptr_null(dma_translate(s, top, UINT64_MAX, DMA_PERM_READ));
	uint8_t b[2];
	ck_assert_int_eq(dma_read(s, UINT64_MAX, b, 2), -1);
	ck_assert_uint_eq(dma_space_faults(s), 3);

	/* A host range that would wrap the host address space is refused too. */
	ck_assert_int_eq(dma_space_map(s, 0, 0x1000, (void *)(UINTPTR_MAX - 0x10), DMA_PERM_RW), -1);
	ck_assert_uint_eq(dma_space_mapping_count(s), 1);
	dma_space_destroy(s);
}
END_TEST

START_TEST(exact_boundaries)
{
	struct dma_space *s = dma_space_create("t");
	ck_assert_int_eq(dma_space_map(s, 0x1000, 0x1000, buf_a, DMA_PERM_RW), 0);
	ck_assert_ptr_eq(dma_translate(s, 0x1000, 0x1000, DMA_PERM_RW), buf_a);
	ck_assert_ptr_eq(dma_translate(s, 0x1fff, 1, DMA_PERM_RW), buf_a + 0xfff);
	ck_assert_uint_eq(dma_space_faults(s), 0);
	ck_assert_ptr_null(dma_translate(s, 0x2000, 1, DMA_PERM_READ));
	ck_assert_ptr_null(dma_translate(s, 0xfff, 1, DMA_PERM_READ));
	ck_assert_ptr_null(dma_translate(s, 0x1000, 0x1001, DMA_PERM_READ));
	ck_assert_ptr_null(dma_translate(s, 0xfff, 2, DMA_PERM_READ));
	ck_assert_uint_eq(dma_space_faults(s), 4);
	dma_space_destroy(s);
}
END_TEST

START_TEST(zero_length_is_a_fault_free_no_op)
{
	struct dma_space *s = dma_space_create("t");
	ck_assert_int_eq(dma_space_map(s, 0x1000, 0x1000, buf_a, DMA_PERM_RW), 0);
	ck_assert_ptr_null(dma_translate(s, 0x1000, 0, DMA_PERM_READ));
	struct iovec iov[1];
	unsigned niov = 7;
	ck_assert_int_eq(dma_translate_sg(s, 0x9000, 0, DMA_PERM_READ, iov, 1, &niov), 0);
	ck_assert_uint_eq(niov, 0);
	ck_assert_int_eq(dma_read(s, 0x9000, NULL, 0), 0);
	ck_assert_int_eq(dma_write(s, 0x9000, NULL, 0), 0);
	ck_assert_uint_eq(dma_space_faults(s), 0);
	/* Mapping nothing is refused. */
	ck_assert_int_eq(dma_space_map(s, 0x4000, 0, buf_b, DMA_PERM_RW), -1);
	ck_assert_uint_eq(dma_space_mapping_count(s), 1);
	dma_space_destroy(s);
}
END_TEST

START_TEST(sg_splits_across_adjacent_mappings)
{
	struct dma_space *s = dma_space_create("t");
	/* IOVA-adjacent, host-discontiguous. */
	ck_assert_int_eq(dma_space_map(s, 0x1000, 0x1000, buf_a, DMA_PERM_RW), 0);
	ck_assert_int_eq(dma_space_map(s, 0x2000, 0x1000, buf_b, DMA_PERM_RW), 0);

	struct iovec iov[4];
	unsigned niov = 0;
	ck_assert_int_eq(dma_translate_sg(s, 0x1800, 0x1000, DMA_PERM_WRITE, iov, 4, &niov), 0);
	ck_assert_uint_eq(niov, 2);
	ck_assert_ptr_eq(iov[0].iov_base, buf_a + 0x800);
	ck_assert_uint_eq(iov[0].iov_len, 0x800);
	ck_assert_ptr_eq(iov[1].iov_base, buf_b);
	ck_assert_uint_eq(iov[1].iov_len, 0x800);

	/* One piece is not enough: refused, counted. */
	ck_assert_int_eq(dma_translate_sg(s, 0x1800, 0x1000, DMA_PERM_WRITE, iov, 1, &niov), -1);
	ck_assert_uint_eq(niov, 0);
	/* A single pointer cannot cover host-discontiguous memory. */
	ck_assert_ptr_null(dma_translate(s, 0x1800, 0x1000, DMA_PERM_READ));
	ck_assert_uint_eq(dma_space_faults(s), 2);

	/* The copy helpers cross the seam. */
	uint8_t pattern[0x100], back[0x100];
	for (unsigned i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 1);
	ck_assert_int_eq(dma_write(s, 0x1f80, pattern, sizeof(pattern)), 0);
	ck_assert_mem_eq(buf_a + 0xf80, pattern, 0x80);
	ck_assert_mem_eq(buf_b, pattern + 0x80, 0x80);
	memset(back, 0, sizeof(back));
	ck_assert_int_eq(dma_read(s, 0x1f80, back, sizeof(back)), 0);
	ck_assert_mem_eq(back, pattern, sizeof(pattern));
	dma_space_destroy(s);
}
END_TEST

START_TEST(host_contiguous_neighbours_merge)
{
	struct dma_space *s = dma_space_create("t");
	ck_assert_int_eq(dma_space_map(s, 0x10000, 0x1000, big, DMA_PERM_RW), 0);
	ck_assert_int_eq(dma_space_map(s, 0x11000, 0x1000, big + 0x1000, DMA_PERM_RW), 0);
	ck_assert_ptr_eq(dma_translate(s, 0x10800, 0x1000, DMA_PERM_RW), big + 0x800);
	struct iovec iov[2];
	unsigned niov = 0;
	ck_assert_int_eq(dma_translate_sg(s, 0x10800, 0x1000, DMA_PERM_RW, iov, 1, &niov), 0);
	ck_assert_uint_eq(niov, 1);
	ck_assert_ptr_eq(iov[0].iov_base, big + 0x800);
	ck_assert_uint_eq(iov[0].iov_len, 0x1000);

	/* Adjacent but weaker permission: the whole range must have perm. */
	ck_assert_int_eq(dma_space_map(s, 0x12000, 0x1000, buf_a, DMA_PERM_READ), 0);
	ck_assert_int_eq(dma_translate_sg(s, 0x11f00, 0x200, DMA_PERM_WRITE, iov, 2, &niov), -1);
	ck_assert_int_eq(dma_translate_sg(s, 0x11f00, 0x200, DMA_PERM_READ, iov, 2, &niov), 0);
	ck_assert_uint_eq(niov, 2);
	ck_assert_uint_eq(dma_space_faults(s), 1);
	dma_space_destroy(s);
}
END_TEST

START_TEST(overlaps_are_refused)
{
	struct dma_space *s = dma_space_create("t");
	ck_assert_int_eq(dma_space_map(s, 0x1000, 0x1000, buf_a, DMA_PERM_RW), 0);
	ck_assert_int_eq(dma_space_map(s, 0x1800, 0x100, buf_b, DMA_PERM_RW), -1);    /* inside */
	ck_assert_int_eq(dma_space_map(s, 0x0, 0x1001, buf_b, DMA_PERM_RW), -1);      /* first byte */
	ck_assert_int_eq(dma_space_map(s, 0x1fff, 0x10, buf_b, DMA_PERM_RW), -1);     /* last byte */
	ck_assert_int_eq(dma_space_map(s, 0x0, 0x10000, big, DMA_PERM_RW), -1);       /* covers it */
	ck_assert_int_eq(dma_space_map(s, 0x2000, 0x1000, buf_b, DMA_PERM_RW), 0);    /* adjacent above */
	ck_assert_int_eq(dma_space_map(s, 0x0, 0x1000, big, DMA_PERM_RW), 0);         /* adjacent below */
	ck_assert_uint_eq(dma_space_mapping_count(s), 3);
	/* Bad arguments. */
	ck_assert_int_eq(dma_space_map(s, 0x9000, 0x1000, NULL, DMA_PERM_RW), -1);
	ck_assert_int_eq(dma_space_map(s, 0x9000, 0x1000, buf_a, 0), -1);
	ck_assert_int_eq(dma_space_map(s, 0x9000, 0x1000, buf_a, 0x4), -1);
	ck_assert_uint_eq(dma_space_mapping_count(s), 3);
	/* The refused maps left the originals intact. */
	ck_assert_ptr_eq(dma_translate(s, 0x1800, 1, DMA_PERM_RW), buf_a + 0x800);
	dma_space_destroy(s);
}
END_TEST

START_TEST(unmap_rules)
{
	struct dma_space *s = dma_space_create("t");
	ck_assert_int_eq(dma_space_map(s, 0x1000, 0x1000, buf_a, DMA_PERM_RW), 0);
	ck_assert_ptr_eq(dma_translate(s, 0x1000, 8, DMA_PERM_READ), buf_a);
	/* Partial unmaps would split a mapping: refused, mapping intact. */
	ck_assert_int_eq(dma_space_unmap(s, 0x1000, 0x800), -1);
	ck_assert_int_eq(dma_space_unmap(s, 0x1800, 0x1000), -1);
	ck_assert_ptr_eq(dma_translate(s, 0x1000, 8, DMA_PERM_READ), buf_a);
	/* Nothing there. */
	ck_assert_int_eq(dma_space_unmap(s, 0x5000, 0x1000), -1);
	ck_assert_int_eq(dma_space_unmap(s, 0x1000, 0), -1);

	ck_assert_int_eq(dma_space_unmap(s, 0x1000, 0x1000), 0);
	ck_assert_ptr_null(dma_translate(s, 0x1000, 8, DMA_PERM_READ));
	ck_assert_uint_eq(dma_space_faults(s), 1);
	ck_assert_uint_eq(dma_space_mapping_count(s), 0);

	/* A range holding several whole mappings removes exactly those. */
	ck_assert_int_eq(dma_space_map(s, 0x1000, 0x1000, buf_a, DMA_PERM_RW), 0);
	ck_assert_int_eq(dma_space_map(s, 0x3000, 0x1000, buf_b, DMA_PERM_RW), 0);
	ck_assert_int_eq(dma_space_map(s, 0x8000, 0x1000, big, DMA_PERM_RW), 0);
	ck_assert_int_eq(dma_space_unmap(s, 0x0, 0x5000), 0);
	ck_assert_uint_eq(dma_space_mapping_count(s), 1);
	ck_assert_ptr_eq(dma_translate(s, 0x8000, 1, DMA_PERM_READ), big);
	/* The freed range can be mapped again. */
	ck_assert_int_eq(dma_space_map(s, 0x1000, 0x1000, buf_b, DMA_PERM_READ), 0);
	ck_assert_ptr_eq(dma_translate(s, 0x1004, 4, DMA_PERM_READ), buf_b + 4);
	dma_space_destroy(s);
}
END_TEST

START_TEST(ram_space_covers_ram_and_nothing_else)
{
	struct guest_ram ram;
	char err[256];
	const uint64_t size = 4u << 20;
	ck_assert_msg(guest_ram_create(&ram, size, err, sizeof(err)) == 0, "%s", err);
	struct dma_space *s = dma_space_create_for_ram(&ram);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(dma_space_mapping_count(s), ram.nregions);
	ck_assert_ptr_eq(dma_translate(s, 0, size, DMA_PERM_RW), ram.host_base);
	ck_assert_ptr_eq(dma_translate(s, size - 1, 1, DMA_PERM_RW), ram.host_base + size - 1);
	ck_assert_uint_eq(dma_space_faults(s), 0);
	ck_assert_ptr_null(dma_translate(s, size, 1, DMA_PERM_READ));
	ck_assert_ptr_null(dma_translate(s, size - 4, 8, DMA_PERM_READ));
	ck_assert_ptr_null(dma_translate(s, GUEST_PCI_MMIO_BASE, 4, DMA_PERM_READ));
	ck_assert_ptr_null(dma_translate(s, GUEST_LAPIC_BASE, 4, DMA_PERM_READ));
	ck_assert_ptr_null(dma_translate(s, GUEST_HIGH_RAM_BASE, 4, DMA_PERM_READ));
	ck_assert_uint_eq(dma_space_faults(s), 5);

	const char msg[] = "dma into guest ram";
	ck_assert_int_eq(dma_write(s, 0x123456, msg, sizeof(msg)), 0);
	ck_assert_mem_eq(ram.host_base + 0x123456, msg, sizeof(msg));
	dma_space_destroy(s);
	guest_ram_destroy(&ram);
}
END_TEST

/* Two regions, built by hand: low RAM below the PCI window and high RAM above
 * 4 GiB, without allocating gigabytes. */
START_TEST(ram_space_maps_high_ram_at_its_gpa)
{
	static uint8_t low[0x4000], high[0x2000];
	struct guest_ram ram = {
		.memfd = -1, .size = sizeof(low) + sizeof(high), .nregions = 2,
		.regions = {
			{ .gpa = 0, .size = sizeof(low), .host = low },
			{ .gpa = GUEST_HIGH_RAM_BASE, .size = sizeof(high), .host = high },
		},
	};
	struct dma_space *s = dma_space_create_for_ram(&ram);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(dma_space_mapping_count(s), 2);
	ck_assert_ptr_eq(dma_translate(s, 0x10, 4, DMA_PERM_RW), low + 0x10);
	ck_assert_ptr_eq(dma_translate(s, GUEST_HIGH_RAM_BASE + 0x1ffc, 4, DMA_PERM_RW), high + 0x1ffc);
	ck_assert_ptr_null(dma_translate(s, sizeof(low), 1, DMA_PERM_READ));
	ck_assert_ptr_null(dma_translate(s, GUEST_HIGH_RAM_BASE - 1, 2, DMA_PERM_READ));
	ck_assert_ptr_null(dma_translate(s, GUEST_HIGH_RAM_BASE + sizeof(high), 1, DMA_PERM_READ));
	ck_assert_uint_eq(dma_space_faults(s), 3);
	dma_space_destroy(s);
}
END_TEST

START_TEST(faults_are_all_counted_beyond_the_log_limit)
{
	struct dma_space *s = dma_space_create("noisy");
	ck_assert_str_eq(dma_space_name(s), "noisy");
	uint8_t b[4];
	for (unsigned i = 0; i < DMA_FAULT_LOG_LIMIT * 3; i++)
		ck_assert_int_eq(dma_read(s, 0x1000 * i, b, sizeof(b)), -1);
	ck_assert_uint_eq(dma_space_faults(s), DMA_FAULT_LOG_LIMIT * 3);
	dma_space_destroy(s);
}
END_TEST

/* A backend that records its calls. */
#define MAX_CALLS 16
struct backend_call {
	char op;                /* 'm' or 'u' */
	uint64_t iova, len;
	void *host;
	unsigned perm;
};
struct recording_backend {
	struct backend_call calls[MAX_CALLS];
	unsigned ncalls;
	int refuse_map;         /* return -1 from map */
	int refuse_unmap;
};

static int record_map(void *opaque, uint64_t iova, uint64_t len, void *host, unsigned perm)
{
	struct recording_backend *rb = opaque;
	if (rb->ncalls < MAX_CALLS)
		rb->calls[rb->ncalls++] = (struct backend_call){ 'm', iova, len, host, perm };
	return rb->refuse_map ? -1 : 0;
}

static int record_unmap(void *opaque, uint64_t iova, uint64_t len)
{
	struct recording_backend *rb = opaque;
	if (rb->ncalls < MAX_CALLS)
		rb->calls[rb->ncalls++] = (struct backend_call){ 'u', iova, len, NULL, 0 };
	return rb->refuse_unmap ? -1 : 0;
}

static const struct dma_space_backend recording_ops = { record_map, record_unmap };

static void assert_call(const struct backend_call *c, char op, uint64_t iova, uint64_t len,
			void *host, unsigned perm)
{
	ck_assert_int_eq(c->op, op);
	ck_assert_uint_eq(c->iova, iova);
	ck_assert_uint_eq(c->len, len);
	ck_assert_ptr_eq(c->host, host);
	ck_assert_uint_eq(c->perm, perm);
}

START_TEST(backend_sees_every_map_and_unmap)
{
	struct recording_backend rb = { 0 };
	struct dma_space *s = dma_space_create("hw");
	ck_assert_int_eq(dma_space_map(s, 0x1000, 0x1000, buf_a, DMA_PERM_READ), 0);

	/* Attaching replays what is already mapped. */
	ck_assert_int_eq(dma_space_set_backend(s, &recording_ops, &rb), 0);
	ck_assert_uint_eq(rb.ncalls, 1);
	assert_call(&rb.calls[0], 'm', 0x1000, 0x1000, buf_a, DMA_PERM_READ);
	/* A second backend is refused. */
	ck_assert_int_eq(dma_space_set_backend(s, &recording_ops, &rb), -1);
	ck_assert_uint_eq(rb.ncalls, 1);

	ck_assert_int_eq(dma_space_map(s, 0x40000, 0x2000, big, DMA_PERM_RW), 0);
	ck_assert_uint_eq(rb.ncalls, 2);
	assert_call(&rb.calls[1], 'm', 0x40000, 0x2000, big, DMA_PERM_RW);

	/* Refused maps never reach the backend. */
	ck_assert_int_eq(dma_space_map(s, 0x41000, 0x10, buf_b, DMA_PERM_RW), -1);
	ck_assert_uint_eq(rb.ncalls, 2);

	/* The backend refusing a map fails it. */
	rb.refuse_map = 1;
	ck_assert_int_eq(dma_space_map(s, 0x90000, 0x1000, buf_b, DMA_PERM_WRITE), -1);
	ck_assert_uint_eq(rb.ncalls, 3);
	assert_call(&rb.calls[2], 'm', 0x90000, 0x1000, buf_b, DMA_PERM_WRITE);
	ck_assert_uint_eq(dma_space_mapping_count(s), 2);
	ck_assert_ptr_null(dma_translate(s, 0x90000, 1, DMA_PERM_WRITE));
	rb.refuse_map = 0;

	ck_assert_int_eq(dma_space_unmap(s, 0x40000, 0x2000), 0);
	ck_assert_uint_eq(rb.ncalls, 4);
	assert_call(&rb.calls[3], 'u', 0x40000, 0x2000, NULL, 0);

	/* The backend refusing an unmap keeps the mapping. */
	rb.refuse_unmap = 1;
	ck_assert_int_eq(dma_space_unmap(s, 0x1000, 0x1000), -1);
	ck_assert_uint_eq(rb.ncalls, 5);
	ck_assert_ptr_eq(dma_translate(s, 0x1000, 1, DMA_PERM_READ), buf_a);
	rb.refuse_unmap = 0;

	/* Destroy unmaps what is left from the hardware. */
	dma_space_destroy(s);
	ck_assert_uint_eq(rb.ncalls, 6);
	assert_call(&rb.calls[5], 'u', 0x1000, 0x1000, NULL, 0);
}
END_TEST

START_TEST(backend_replay_failure_detaches_cleanly)
{
	struct recording_backend rb = { 0 };
	struct dma_space *s = dma_space_create("hw");
	ck_assert_int_eq(dma_space_map(s, 0x1000, 0x1000, buf_a, DMA_PERM_RW), 0);
	ck_assert_int_eq(dma_space_map(s, 0x5000, 0x1000, buf_b, DMA_PERM_RW), 0);
	rb.refuse_map = 1;
	ck_assert_int_eq(dma_space_set_backend(s, &recording_ops, &rb), -1);
	ck_assert_uint_eq(rb.ncalls, 1);   /* stopped at the first refusal; nothing to undo */
	rb.refuse_map = 0;
	/* Not attached: maps no longer reach it. */
	ck_assert_int_eq(dma_space_map(s, 0x9000, 0x1000, big, DMA_PERM_RW), 0);
	ck_assert_uint_eq(rb.ncalls, 1);

	/* Attach, then detach: every mapping is removed from the hardware. */
	ck_assert_int_eq(dma_space_set_backend(s, &recording_ops, &rb), 0);
	ck_assert_uint_eq(rb.ncalls, 4);
	ck_assert_int_eq(dma_space_set_backend(s, NULL, NULL), 0);
	ck_assert_uint_eq(rb.ncalls, 7);
	unsigned unmaps = 0;
	for (unsigned i = 4; i < 7; i++)
		unmaps += rb.calls[i].op == 'u';
	ck_assert_uint_eq(unmaps, 3);
	/* The software space still works. */
	ck_assert_ptr_eq(dma_translate(s, 0x5000, 1, DMA_PERM_RW), buf_b);
	dma_space_destroy(s);
	ck_assert_uint_eq(rb.ncalls, 7);
}
END_TEST

/* Translations on two threads while the main thread maps and unmaps another
 * range: every translation of the stable mapping must be right. */
struct translator {
	struct dma_space *space;
	unsigned wrong;
};

static void *translate_loop(void *arg)
{
	struct translator *t = arg;
	for (unsigned i = 0; i < 20000; i++) {
		uint64_t off = (i * 64u) % 0x1000;
		if (dma_translate(t->space, 0x100000 + off, 64, DMA_PERM_READ) != buf_a + off)
			t->wrong++;
	}
	return NULL;
}

START_TEST(concurrent_translate_and_map)
{
	struct dma_space *s = dma_space_create("mt");
	ck_assert_int_eq(dma_space_map(s, 0x100000, 0x1000, buf_a, DMA_PERM_RW), 0);
	struct translator t[2] = { { s, 0 }, { s, 0 } };
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, translate_loop, &t[i]), 0);
	for (unsigned i = 0; i < 2000; i++) {
		/* Below and above the stable mapping, so the array shifts under readers. */
		ck_assert_int_eq(dma_space_map(s, 0x1000, 0x1000, buf_b, DMA_PERM_RW), 0);
		ck_assert_int_eq(dma_space_map(s, 0x200000, 0x1000, big, DMA_PERM_RW), 0);
		ck_assert_int_eq(dma_space_unmap(s, 0x1000, 0x1000), 0);
		ck_assert_int_eq(dma_space_unmap(s, 0x200000, 0x1000), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	ck_assert_uint_eq(t[0].wrong + t[1].wrong, 0);
	ck_assert_uint_eq(dma_space_faults(s), 0);
	dma_space_destroy(s);
}
END_TEST

static Suite *dma_space_suite(void)
{
	Suite *s = suite_create("dma_space");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, read_only_mapping_refuses_write);
	tcase_add_test(tc, range_straddling_a_hole_is_refused);
	tcase_add_test(tc, ranges_that_wrap_are_refused);
	tcase_add_test(tc, exact_boundaries);
	tcase_add_test(tc, zero_length_is_a_fault_free_no_op);
	tcase_add_test(tc, sg_splits_across_adjacent_mappings);
	tcase_add_test(tc, host_contiguous_neighbours_merge);
	tcase_add_test(tc, overlaps_are_refused);
	tcase_add_test(tc, unmap_rules);
	tcase_add_test(tc, ram_space_covers_ram_and_nothing_else);
	tcase_add_test(tc, ram_space_maps_high_ram_at_its_gpa);
	tcase_add_test(tc, faults_are_all_counted_beyond_the_log_limit);
	tcase_add_test(tc, backend_sees_every_map_and_unmap);
	tcase_add_test(tc, backend_replay_failure_detaches_cleanly);
	tcase_add_test(tc, concurrent_translate_and_map);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(dma_space_suite)
