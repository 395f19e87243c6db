/* The split ring on its own: free-running 16-bit indices across the wrap,
 * the used_event window, unpop, and chain accessors. */
#include <check.h>
#include <string.h>

#include "iommu/dma_space.h"
#include "split/virtio_spec.h"
#include "split/virtqueue.h"
#include "tests/test_registry.h"
#include "tests/test_vm_fixture.h"

#define VQ_SIZE 8
#define DESC  0x100000u
#define AVAIL 0x101000u
#define USED  0x102000u
#define BUF   0x110000u

static unsigned fatal_reports;

static void report(void *opaque, struct virtqueue *vq, bool fatal, const char *msg)
{
	(void)opaque; (void)vq; (void)msg;
	fatal_reports += fatal;
}

static uint16_t *r16(struct vm *vm, uint64_t gpa) { return test_vm_ram(vm, gpa, 2); }

static void post(struct vm *vm, uint16_t *avail_idx, uint16_t head)
{
	*r16(vm, AVAIL + 4 + 2u * (*avail_idx % VQ_SIZE)) = head;
	(*avail_idx)++;
	__atomic_store_n(r16(vm, AVAIL + 2), *avail_idx, __ATOMIC_RELEASE);
}

START_TEST(test_virtqueue_indices_wrap)
{
	struct vm *vm = test_vm_create(4u << 20);
	struct virtqueue vq;
	virtqueue_init(&vq, vm->dma, 0, report, NULL);
	char why[128];
	ck_assert_int_eq(virtqueue_setup(&vq, VQ_SIZE, DESC, AVAIL, USED, true, false, why,
					 sizeof(why)), 0);
	struct virtq_desc d = { BUF, 100, VIRTQ_DESC_F_WRITE, 0 };
	memcpy(test_vm_ram(vm, DESC, 16), &d, 16);
	/* Start just below the wrap, as a long-running driver would be. */
	vq.last_avail = vq.used_idx = vq.published_used = vq.signalled_used = 65533;
	uint16_t avail_idx = 65533;
	*r16(vm, USED + 2) = 65533;
	struct iovec iov[4];
	struct virtqueue_chain chain = { .iov = iov, .iov_cap = 4 };
	unsigned interrupts = 0;
	*r16(vm, AVAIL + 4 + 2u * VQ_SIZE) = 1;   /* used_event: after entry 1 (past the wrap) */
	for (unsigned i = 0; i < 6; i++) {
		post(vm, &avail_idx, 0);
		ck_assert_uint_eq(virtqueue_pending(&vq), 1);
		ck_assert_int_eq(virtqueue_pop(&vq, &chain), VIRTQUEUE_GOT_CHAIN);
		ck_assert_int_eq(chain.error, VIRTQUEUE_CHAIN_OK);
		ck_assert_uint_eq(chain.writable_bytes, 100);
		ck_assert_int_eq(virtqueue_pop(&vq, &chain), VIRTQUEUE_EMPTY);
		ck_assert_uint_eq(virtqueue_chain_copy_to(&chain, 98, "xyz", 3), 2);
		virtqueue_push(&vq, chain.head, 100);
		interrupts += virtqueue_should_interrupt(&vq);
	}
	/* Used idx went 65534, 65535, 0, 1, 2, 3: only the fill of entry 1
	 * (idx 1 -> 2) crosses used_event. */
	ck_assert_uint_eq(*r16(vm, USED + 2), 3);
	ck_assert_uint_eq(interrupts, 1);
	ck_assert_uint_eq(fatal_reports, 0);
	ck_assert_mem_eq(test_vm_ram(vm, BUF + 98, 2), "xy", 2);

	/* unpop gives the chain back; a jump by more than the size breaks. */
	post(vm, &avail_idx, 0);
	ck_assert_int_eq(virtqueue_pop(&vq, &chain), VIRTQUEUE_GOT_CHAIN);
	virtqueue_unpop(&vq, 1);
	ck_assert_uint_eq(virtqueue_pending(&vq), 1);
	__atomic_store_n(r16(vm, AVAIL + 2), (uint16_t)(avail_idx + VQ_SIZE), __ATOMIC_RELEASE);
	ck_assert_int_eq(virtqueue_pop(&vq, &chain), VIRTQUEUE_BROKEN);
	ck_assert_uint_eq(fatal_reports, 1);
	ck_assert_int_eq(virtqueue_pop(&vq, &chain), VIRTQUEUE_EMPTY);   /* stays stopped */
	test_vm_destroy(vm);
}
END_TEST

START_TEST(test_virtqueue_chain_trim_and_order)
{
	struct vm *vm = test_vm_create(4u << 20);
	struct virtqueue vq;
	virtqueue_init(&vq, vm->dma, 0, report, NULL);
	char why[128];
	ck_assert_int_eq(virtqueue_setup(&vq, VQ_SIZE, DESC, AVAIL, USED, false, false, why,
					 sizeof(why)), 0);
	struct virtq_desc d[3] = {
		{ BUF, 10, VIRTQ_DESC_F_NEXT, 1 },
		{ BUF + 100, 20, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2 },
		{ BUF + 200, 5, 0, 0 },   /* readable after writable */
	};
	memcpy(test_vm_ram(vm, DESC, sizeof(d)), d, sizeof(d));
	uint16_t avail_idx = 0;
	post(vm, &avail_idx, 0);
	struct iovec iov[4];
	struct virtqueue_chain chain = { .iov = iov, .iov_cap = 4 };
	ck_assert_int_eq(virtqueue_pop(&vq, &chain), VIRTQUEUE_GOT_CHAIN);
	ck_assert_int_eq(chain.error, VIRTQUEUE_CHAIN_BAD_ORDER);
	ck_assert_uint_eq(chain.ndesc, 3);
	ck_assert_uint_eq(chain.last_addr, BUF + 200);
	/* Fixed order: trim the readable part to [3, 10 - 2). */
	d[2].flags = VIRTQ_DESC_F_WRITE;
	memcpy(test_vm_ram(vm, DESC, sizeof(d)), d, sizeof(d));
	post(vm, &avail_idx, 0);
	ck_assert_int_eq(virtqueue_pop(&vq, &chain), VIRTQUEUE_GOT_CHAIN);
	ck_assert_int_eq(chain.error, VIRTQUEUE_CHAIN_OK);
	ck_assert_uint_eq(chain.readable_bytes, 10);
	ck_assert_uint_eq(chain.writable_bytes, 25);
	unsigned n;
	struct iovec *v = virtqueue_chain_trim(&chain, true, 18, 3, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_eq(v[0].iov_base, test_vm_ram(vm, BUF + 118, 1));
	ck_assert_uint_eq(v[0].iov_len, 2);
	ck_assert_uint_eq(v[1].iov_len, 2);
	test_vm_destroy(vm);
}
END_TEST

static Suite *virtqueue_suite(void)
{
	Suite *s = suite_create("virtqueue");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_virtqueue_indices_wrap);
	tcase_add_test(tc, test_virtqueue_chain_trim_and_order);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(virtqueue_suite)
