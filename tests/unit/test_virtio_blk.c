/* virtio-blk (split model) driven as a guest would drive it: features
 * through the common config, rings in guest RAM, kicks on the notify area,
 * completions run on the I/O thread inline. Data is checked in guest
 * memory and in the host file. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/device.h"
#include "split/virtio_spec.h"
#include "tests/test_registry.h"
#include "tests/test_vm_fixture.h"
#include "tests/unit/test_virtio_driver.h"

#define BLK_RAM         (32ull << 20)
#define BLK_DISK_BYTES  (1u << 20)
#define BLK_QSIZE       16
#define BLK_DEVICE_ID   (VIRTIO_PCI_DEVICE_ID_BASE + VIRTIO_ID_BLOCK)

struct blk_env {
	struct vm *vm;
	void *state;
	struct tvd d;
	struct device_counters *c;
	char path[64];
	int fd;
	uint64_t hdr, status, data, data2;
};

static const uint64_t blk_wanted = VIRTIO_BIT(VIRTIO_F_VERSION_1) |
	VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |
	VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |
	VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
	VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);

/* Negotiation, MSI-X, queue 0, DRIVER_OK. */
static void blk_bring_up(struct blk_env *e, uint64_t extra_features)
{
	uint64_t offered = tvd_device_features(&e->d);
	uint64_t want = (blk_wanted | extra_features) & offered;
	ck_assert(want & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	ck_assert(tvd_negotiate(&e->d, want) & VIRTIO_STATUS_FEATURES_OK);
	tvd_enable_msix(&e->d, 1);
	ck_assert(tvd_setup_queue(&e->d, 0, BLK_QSIZE));
	tvd_driver_ok(&e->d);
}

static void blk_env_add(struct blk_env *e, struct vm *vm, unsigned nth, uint64_t alloc_base)
{
	memset(e, 0, sizeof(*e));
	e->vm = vm;
	snprintf(e->path, sizeof(e->path), "/tmp/iovirt-vblk-XXXXXX");
	e->fd = mkstemp(e->path);
	ck_assert_int_ge(e->fd, 0);
	ck_assert_int_eq(ftruncate(e->fd, BLK_DISK_BYTES), 0);
	char text[128], err[256];
	snprintf(text, sizeof(text), "model=split,path=%s", e->path);
	e->state = test_vm_add_device(vm, "disk", text, err, sizeof(err));
	ck_assert_msg(e->state != NULL, "%s", err);
	e->c = device_model_find("disk", "split")->stats(e->state);
	tvd_open(&e->d, vm, BLK_DEVICE_ID, nth, e->c, alloc_base);
	e->hdr = tvd_alloc(&e->d, 16, 16);
	e->status = tvd_alloc(&e->d, 1, 1);
	e->data = tvd_alloc(&e->d, 64 * 1024, 4096);
	e->data2 = tvd_alloc(&e->d, 64 * 1024, 4096);
}

static void blk_env_close(struct blk_env *e)
{
	close(e->fd);
	unlink(e->path);
}

static void blk_set_hdr(struct blk_env *e, uint32_t type, uint64_t sector)
{
	uint8_t *h = test_vm_ram(e->vm, e->hdr, 16);
	memset(h, 0, 16);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	*(uint8_t *)test_vm_ram(e->vm, e->status, 1) = 0xee;
}

static uint8_t blk_status(struct blk_env *e)
{
	return *(uint8_t *)test_vm_ram(e->vm, e->status, 1);
}

/* Posts a prepared chain, kicks, waits; checks the used id; returns len. */
static uint32_t blk_submit(struct blk_env *e, const struct tvd_buf *bufs, unsigned n, bool indirect)
{
	uint16_t head = indirect ? tvd_post_indirect(&e->d, 0, bufs, n) : tvd_post(&e->d, 0, bufs, n);
	tvd_kick(&e->d, 0);
	tvd_wait_used(&e->d, 0);
	uint32_t id, len;
	ck_assert(tvd_get_used(&e->d, 0, &id, &len));
	ck_assert_uint_eq(id, head);
	return len;
}

/* header, one data buffer (if len), status. */
static uint8_t blk_request(struct blk_env *e, uint32_t type, uint64_t sector, uint64_t data,
			   uint32_t len, bool device_writes_data, uint32_t *used_len)
{
	blk_set_hdr(e, type, sector);
	struct tvd_buf bufs[3] = { { e->hdr, 16, false } };
	unsigned n = 1;
	if (len)
		bufs[n++] = (struct tvd_buf){ data, len, device_writes_data };
	bufs[n++] = (struct tvd_buf){ e->status, 1, true };
	uint32_t l = blk_submit(e, bufs, n, false);
	if (used_len)
		*used_len = l;
	return blk_status(e);
}

static void fill_pattern(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + seed * 31 + (i >> 9));
}

/* The device still serves: write and read back 4 KiB at sector 40. */
static void blk_check_serves(struct blk_env *e, unsigned seed)
{
	uint8_t *w = test_vm_ram(e->vm, e->data, 4096), *r = test_vm_ram(e->vm, e->data2, 4096);
	fill_pattern(w, 4096, seed);
	memset(r, 0, 4096);
	ck_assert_int_eq(blk_request(e, VIRTIO_BLK_T_OUT, 40, e->data, 4096, false, NULL),
			 VIRTIO_BLK_S_OK);
	ck_assert_int_eq(blk_request(e, VIRTIO_BLK_T_IN, 40, e->data2, 4096, true, NULL),
			 VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(w, r, 4096);
}

static struct vm *blk_vm_one(struct blk_env *e)
{
	struct vm *vm = test_vm_create(BLK_RAM);
	blk_env_add(e, vm, 0, 1u << 20);
	blk_bring_up(e, 0);
	return vm;
}

START_TEST(test_virtio_blk_write_read_host_file)
{
	struct blk_env e;
	struct vm *vm = blk_vm_one(&e);
	/* Device config: capacity in sectors, seg_max, blk_size. */
	uint64_t capacity = tvd_device_cfg_read(&e.d, VIRTIO_BLK_CFG_CAPACITY, 4) |
			    (uint64_t)tvd_device_cfg_read(&e.d, VIRTIO_BLK_CFG_CAPACITY + 4, 4) << 32;
	ck_assert_uint_eq(capacity, BLK_DISK_BYTES / 512);
	ck_assert_uint_eq(tvd_device_cfg_read(&e.d, VIRTIO_BLK_CFG_BLK_SIZE, 4), 512);
	ck_assert_uint_eq(tvd_device_cfg_read(&e.d, VIRTIO_BLK_CFG_SEG_MAX, 4), 126);

	/* An 8 KiB write in two data buffers at sector 3. */
	uint8_t *w = test_vm_ram(vm, e.data, 8192);
	fill_pattern(w, 8192, 1);
	blk_set_hdr(&e, VIRTIO_BLK_T_OUT, 3);
	struct tvd_buf out[] = { { e.hdr, 16, false }, { e.data, 4096, false },
				 { e.data + 4096, 4096, false }, { e.status, 1, true } };
	ck_assert_uint_eq(blk_submit(&e, out, 4, false), 1);
	ck_assert_int_eq(blk_status(&e), VIRTIO_BLK_S_OK);
	uint8_t host[8192];
	ck_assert_int_eq(pread(e.fd, host, sizeof(host), 3 * 512), (ssize_t)sizeof(host));
	ck_assert_mem_eq(host, w, sizeof(host));
	uint8_t before[512];
	ck_assert_int_eq(pread(e.fd, before, 512, 2 * 512), 512);
	for (unsigned i = 0; i < 512; i++)
		ck_assert_int_eq(before[i], 0);

	/* Read it back through an indirect table into one buffer. */
	uint8_t *r = test_vm_ram(vm, e.data2, 8192);
	memset(r, 0, 8192);
	blk_set_hdr(&e, VIRTIO_BLK_T_IN, 3);
	struct tvd_buf in[] = { { e.hdr, 16, false }, { e.data2, 8192, true }, { e.status, 1, true } };
	ck_assert_uint_eq(blk_submit(&e, in, 3, true), 8192 + 1);
	ck_assert_int_eq(blk_status(&e), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(r, w, 8192);

	ck_assert_uint_eq(counter_get(&e.c->requests), 2);
	ck_assert_uint_eq(counter_get(&e.c->bytes_written), 8192);
	ck_assert_uint_eq(counter_get(&e.c->bytes_read), 8192);
	ck_assert_uint_eq(counter_get(&e.c->ioeventfd_kicks), 2);
	ck_assert_uint_eq(counter_get(&e.c->interrupts), 2);
	ck_assert_uint_eq(counter_get(&e.c->faults), 0);
	test_vm_destroy(vm);
	blk_env_close(&e);
}
END_TEST

START_TEST(test_virtio_blk_flush_id_discard_zeroes)
{
	struct blk_env e;
	struct vm *vm = blk_vm_one(&e);
	uint32_t used;
	ck_assert_int_eq(blk_request(&e, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &used), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(used, 1);

	char *id = test_vm_ram(vm, e.data, 20);
	memset(id, 0, 20);
	ck_assert_int_eq(blk_request(&e, VIRTIO_BLK_T_GET_ID, 0, e.data, 20, true, &used),
			 VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(used, 21);
	const char *base = strrchr(e.path, '/') + 1;
	char expect[21] = { 0 };
	snprintf(expect, sizeof(expect), "iovirt-%s", base);
	ck_assert_mem_eq(id, expect, 20);

	/* Discard and write-zeroes each read back zero, host file included. */
	const uint32_t types[2] = { VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES };
	for (unsigned t = 0; t < 2; t++) {
		uint8_t *w = test_vm_ram(vm, e.data, 8192);
		fill_pattern(w, 8192, 5 + t);
		ck_assert_int_eq(blk_request(&e, VIRTIO_BLK_T_OUT, 64, e.data, 8192, false, NULL),
				 VIRTIO_BLK_S_OK);
		uint8_t *seg = test_vm_ram(vm, e.data2, 16);
		uint64_t sector = 64;
		uint32_t count = 16, flags = 0;
		memcpy(seg, &sector, 8);
		memcpy(seg + 8, &count, 4);
		memcpy(seg + 12, &flags, 4);
		ck_assert_int_eq(blk_request(&e, types[t], 0, e.data2, 16, false, NULL),
				 VIRTIO_BLK_S_OK);
		uint8_t *r = test_vm_ram(vm, e.data, 8192);
		memset(r, 0xaa, 8192);
		ck_assert_int_eq(blk_request(&e, VIRTIO_BLK_T_IN, 64, e.data, 8192, true, NULL),
				 VIRTIO_BLK_S_OK);
		uint8_t host[8192];
		ck_assert_int_eq(pread(e.fd, host, sizeof(host), 64 * 512), (ssize_t)sizeof(host));
		for (unsigned i = 0; i < 8192; i++) {
			ck_assert_int_eq(r[i], 0);
			ck_assert_int_eq(host[i], 0);
		}
	}
	/* Discard with the unmap flag is unsupported by definition. */
	uint8_t *seg = test_vm_ram(vm, e.data2, 16);
	uint32_t unmap = VIRTIO_BLK_WZ_FLAG_UNMAP;
	memcpy(seg + 12, &unmap, 4);
	ck_assert_int_eq(blk_request(&e, VIRTIO_BLK_T_DISCARD, 0, e.data2, 16, false, NULL),
			 VIRTIO_BLK_S_UNSUPP);
	/* An unknown type too. */
	ck_assert_int_eq(blk_request(&e, 0x77, 0, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	test_vm_destroy(vm);
	blk_env_close(&e);
}
END_TEST

START_TEST(test_virtio_blk_event_idx_suppression)
{
	struct blk_env e;
	struct vm *vm = test_vm_create(BLK_RAM);
	blk_env_add(&e, vm, 0, 1u << 20);
	blk_bring_up(&e, VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	/* Interrupt only once used entry 2 (the third completion) is written. */
	tvd_set_used_event(&e.d, 0, 2);
	uint64_t base = counter_get(&e.c->interrupts);
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_int_eq(blk_request(&e, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL),
				 VIRTIO_BLK_S_OK);
		ck_assert_uint_eq(counter_get(&e.c->interrupts) - base, i == 2 ? 1 : 0);
		/* The device asks for a kick at the next entry. */
		ck_assert_uint_eq(tvd_avail_event(&e.d, 0), i + 1);
	}
	/* used_event behind: no interrupt until it is crossed again (wraps). */
	ck_assert_int_eq(blk_request(&e, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(counter_get(&e.c->interrupts) - base, 1);
	tvd_set_used_event(&e.d, 0, 4);
	ck_assert_int_eq(blk_request(&e, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(counter_get(&e.c->interrupts) - base, 2);

	/* Without EVENT_IDX: VIRTQ_AVAIL_F_NO_INTERRUPT suppresses. */
	blk_bring_up(&e, 0);
	base = counter_get(&e.c->interrupts);
	tvd_set_avail_flags(&e.d, 0, VIRTQ_AVAIL_F_NO_INTERRUPT);
	ck_assert_int_eq(blk_request(&e, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(counter_get(&e.c->interrupts) - base, 0);
	tvd_set_avail_flags(&e.d, 0, 0);
	ck_assert_int_eq(blk_request(&e, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(counter_get(&e.c->interrupts) - base, 1);
	ck_assert_uint_eq(tvd_used_flags(&e.d, 0), 0);   /* kicks wanted */
	test_vm_destroy(vm);
	blk_env_close(&e);
}
END_TEST

/* Request-level mistakes: IOERR, a fault, and the next request works. */
START_TEST(test_virtio_blk_hostile_requests_fail_with_ioerr)
{
	struct blk_env e;
	struct vm *vm = blk_vm_one(&e);
	uint64_t faults = 0;
	struct {
		const char *what;
		uint64_t data;
		uint32_t len;
		bool device_writes;
		uint32_t type;
		uint64_t sector;
	} cases[] = {
		{ "buffer outside RAM", BLK_RAM + 4096, 4096, true, VIRTIO_BLK_T_IN, 0 },
		{ "buffer wrapping the address space", ~0ull - 100, 4096, false, VIRTIO_BLK_T_OUT, 0 },
		{ "zero-length buffer", e.data, 0, true, VIRTIO_BLK_T_IN, 0 },
		{ "buffer above size_max", e.data, 2u << 20, true, VIRTIO_BLK_T_IN, 0 },
		{ "read into a device-readable buffer", e.data, 4096, false, VIRTIO_BLK_T_IN, 0 },
		{ "write from a device-writable buffer", e.data, 4096, true, VIRTIO_BLK_T_OUT, 0 },
		{ "not a multiple of 512", e.data, 1000, true, VIRTIO_BLK_T_IN, 0 },
		{ "beyond the end of the disk", e.data, 4096, true, VIRTIO_BLK_T_IN,
		  BLK_DISK_BYTES / 512 - 4 },
		{ "sector overflow", e.data, 4096, true, VIRTIO_BLK_T_IN, ~0ull / 512 },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		blk_set_hdr(&e, cases[i].type, cases[i].sector);
		struct tvd_buf bufs[] = { { e.hdr, 16, false },
					  { cases[i].data, cases[i].len, cases[i].device_writes },
					  { e.status, 1, true } };
		/* A zero-length descriptor is posted as such (tvd_post keeps it). */
		uint32_t used = blk_submit(&e, bufs, 3, false);
		ck_assert_msg(blk_status(&e) == VIRTIO_BLK_S_IOERR, "%s: status %u", cases[i].what,
			      blk_status(&e));
		ck_assert_uint_eq(used, 1);
		ck_assert_msg(counter_get(&e.c->faults) > faults, "%s: no fault counted", cases[i].what);
		faults = counter_get(&e.c->faults);
		ck_assert(!(tvd_status(&e.d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
		blk_check_serves(&e, i);
	}
	/* A chain whose last buffer is readable: no status byte to write. */
	blk_set_hdr(&e, VIRTIO_BLK_T_IN, 0);
	struct tvd_buf bad[] = { { e.hdr, 16, false }, { e.data, 512, false } };
	ck_assert_uint_eq(blk_submit(&e, bad, 2, false), 0);
	ck_assert_uint_gt(counter_get(&e.c->faults), faults);
	blk_check_serves(&e, 99);
	test_vm_destroy(vm);
	blk_env_close(&e);
}
END_TEST

/* Ring-level corruption: DEVICE_NEEDS_RESET and a config interrupt; a second
 * device keeps serving; a reset brings the first back. */
enum ring_attack {
	ATTACK_LOOP, ATTACK_AVAIL_JUMP, ATTACK_HEAD_RANGE, ATTACK_NEXT_RANGE,
	ATTACK_INDIRECT_SIZE, ATTACK_INDIRECT_NESTED, ATTACK_INDIRECT_LOOP,
	ATTACK_INDIRECT_OUTSIDE, ATTACK_COUNT,
};

static void blk_attack(struct blk_env *e, enum ring_attack attack)
{
	struct tvd *d = &e->d;
	uint64_t table = tvd_alloc(d, 64, 16);
	struct virtq_desc *t = test_vm_ram(e->vm, table, 64);
	blk_set_hdr(e, VIRTIO_BLK_T_IN, 0);
	switch (attack) {
	case ATTACK_LOOP:   /* 0 -> 1 -> 2 -> 0 */
		tvd_write_desc(d, 0, 0, e->hdr, 16, VIRTQ_DESC_F_NEXT, 1);
		tvd_write_desc(d, 0, 1, e->data, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
		tvd_write_desc(d, 0, 2, e->status, 1, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0);
		tvd_avail_add(d, 0, 0);
		break;
	case ATTACK_AVAIL_JUMP:
		tvd_avail_set_idx(d, 0, (uint16_t)(d->q[0].avail_idx + BLK_QSIZE + 1));
		break;
	case ATTACK_HEAD_RANGE:
		tvd_avail_add(d, 0, BLK_QSIZE);
		break;
	case ATTACK_NEXT_RANGE:
		tvd_write_desc(d, 0, 0, e->hdr, 16, VIRTQ_DESC_F_NEXT, 200);
		tvd_avail_add(d, 0, 0);
		break;
	case ATTACK_INDIRECT_SIZE:
		tvd_write_desc(d, 0, 0, table, 24, VIRTQ_DESC_F_INDIRECT, 0);
		tvd_avail_add(d, 0, 0);
		break;
	case ATTACK_INDIRECT_NESTED:
		t[0] = (struct virtq_desc){ table, 32, VIRTQ_DESC_F_INDIRECT, 0 };
		tvd_write_desc(d, 0, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
		tvd_avail_add(d, 0, 0);
		break;
	case ATTACK_INDIRECT_LOOP:
		t[0] = (struct virtq_desc){ e->hdr, 16, VIRTQ_DESC_F_NEXT, 1 };
		t[1] = (struct virtq_desc){ e->status, 1, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 0 };
		tvd_write_desc(d, 0, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
		tvd_avail_add(d, 0, 0);
		break;
	case ATTACK_INDIRECT_OUTSIDE:
		tvd_write_desc(d, 0, 0, BLK_RAM - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
		tvd_avail_add(d, 0, 0);
		break;
	case ATTACK_COUNT:
		break;
	}
	tvd_kick(d, 0);
	test_vm_poll_io(e->vm, NULL, NULL);
}

START_TEST(test_virtio_blk_corrupt_rings_need_reset)
{
	struct vm *vm = test_vm_create(BLK_RAM);
	struct blk_env a, b;
	blk_env_add(&a, vm, 0, 1u << 20);
	blk_env_add(&b, vm, 1, 12u << 20);
	blk_bring_up(&a, 0);
	blk_bring_up(&b, 0);
	for (int attack = 0; attack < ATTACK_COUNT; attack++) {
		uint64_t faults = counter_get(&a.c->faults), irqs = counter_get(&a.c->interrupts);
		blk_attack(&a, (enum ring_attack)attack);
		ck_assert_msg(tvd_status(&a.d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET,
			      "attack %d: DEVICE_NEEDS_RESET not set", attack);
		ck_assert_uint_gt(counter_get(&a.c->faults), faults);
		/* The config-change interrupt on vector 0, and ISR says so. */
		ck_assert_uint_eq(counter_get(&a.c->interrupts), irqs + 1);
		uint8_t isr = 0;
		ck_assert(bus_read(&vm->mmio_bus, a.d.isr, &isr, 1));
		ck_assert(isr & VIRTIO_ISR_CONFIG);
		uint32_t id, len;
		ck_assert(!tvd_get_used(&a.d, 0, &id, &len));
		/* The other disk is untouched. */
		blk_check_serves(&b, (unsigned)attack);
		/* Reset brings the first back. */
		blk_bring_up(&a, 0);
		ck_assert(!(tvd_status(&a.d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
		blk_check_serves(&a, (unsigned)attack + 50);
	}
	/* Indirect tables without the feature negotiated break the queue too. */
	uint64_t offered = tvd_device_features(&a.d);
	ck_assert(tvd_negotiate(&a.d, offered & ~VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) &
					       blk_wanted) & VIRTIO_STATUS_FEATURES_OK);
	tvd_enable_msix(&a.d, 1);
	ck_assert(tvd_setup_queue(&a.d, 0, BLK_QSIZE));
	tvd_driver_ok(&a.d);
	blk_set_hdr(&a, VIRTIO_BLK_T_IN, 0);
	struct tvd_buf bufs[] = { { a.hdr, 16, false }, { a.status, 1, true } };
	tvd_post_indirect(&a.d, 0, bufs, 2);
	tvd_kick(&a.d, 0);
	test_vm_poll_io(vm, NULL, NULL);
	ck_assert(tvd_status(&a.d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	test_vm_destroy(vm);
	blk_env_close(&a);
	blk_env_close(&b);
}
END_TEST

START_TEST(test_virtio_blk_transport_refusals)
{
	struct blk_env e;
	struct vm *vm = test_vm_create(BLK_RAM);
	blk_env_add(&e, vm, 0, 1u << 20);
	/* Device identity and the features the transport must offer. */
	uint32_t ids = test_vm_pci_config_read32(vm, e.d.slot, 0);
	ck_assert_uint_eq(ids, 0x10421af4u);
	uint64_t offered = tvd_device_features(&e.d);
	ck_assert(offered & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	ck_assert(offered & VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	ck_assert(offered & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
	/* Without VERSION_1, or with a bit not offered, FEATURES_OK stays clear. */
	ck_assert(!(tvd_negotiate(&e.d, VIRTIO_BIT(VIRTIO_BLK_F_FLUSH)) & VIRTIO_STATUS_FEATURES_OK));
	ck_assert(!(tvd_negotiate(&e.d, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(50)) &
		    VIRTIO_STATUS_FEATURES_OK));
	ck_assert(tvd_negotiate(&e.d, VIRTIO_BIT(VIRTIO_F_VERSION_1)) & VIRTIO_STATUS_FEATURES_OK);
	tvd_enable_msix(&e.d, 1);
	/* Queue rings outside RAM, misaligned, or a size that is no power of two:
	 * queue_enable stays 0. */
	tvd_common_write(&e.d, VIRTIO_COMMON_Q_SELECT, 2, 0);
	struct { uint16_t size; uint64_t desc; } bad[] = {
		{ 16, BLK_RAM - 64 }, { 16, (1u << 20) + 8 }, { 12, 1u << 20 }, { 512, 1u << 20 },
	};
	for (unsigned i = 0; i < 4; i++) {
		uint64_t f = counter_get(&e.c->faults);
		tvd_common_write(&e.d, VIRTIO_COMMON_Q_SIZE, 2, bad[i].size);
		tvd_common_write(&e.d, VIRTIO_COMMON_Q_DESCLO, 4, (uint32_t)bad[i].desc);
		tvd_common_write(&e.d, VIRTIO_COMMON_Q_AVAILLO, 4, 2u << 20);
		tvd_common_write(&e.d, VIRTIO_COMMON_Q_USEDLO, 4, 3u << 20);
		tvd_common_write(&e.d, VIRTIO_COMMON_Q_ENABLE, 2, 1);
		ck_assert_uint_eq(tvd_common_read(&e.d, VIRTIO_COMMON_Q_ENABLE, 2), 0);
		ck_assert_uint_gt(counter_get(&e.c->faults), f);
	}
	/* A vector the table lacks reads back as NO_VECTOR; max queue size 256. */
	tvd_common_write(&e.d, VIRTIO_COMMON_Q_MSIX, 2, 7);
	ck_assert_uint_eq(tvd_common_read(&e.d, VIRTIO_COMMON_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	ck_assert_uint_eq(tvd_common_read(&e.d, VIRTIO_COMMON_NUMQ, 2), 1);
	blk_bring_up(&e, 0);
	blk_check_serves(&e, 3);
	test_vm_destroy(vm);
	blk_env_close(&e);
}
END_TEST

START_TEST(test_virtio_blk_bad_options)
{
	struct vm *vm = test_vm_create(BLK_RAM);
	char err[256] = "";
	ck_assert_ptr_null(test_vm_add_device(vm, "disk", "model=split,queues=0", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "queues=0"));
	ck_assert_ptr_null(test_vm_add_device(vm, "disk", "model=split,color=red", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "'color'"));
	/* queues=2: two request queues with their own vectors. */
	void *state = test_vm_add_device(vm, "disk", "model=split,queues=2,size=1M", err, sizeof(err));
	ck_assert_msg(state != NULL, "%s", err);
	struct tvd d;
	tvd_open(&d, vm, BLK_DEVICE_ID, 0, device_model_find("disk", "split")->stats(state), 1u << 20);
	ck_assert_uint_eq(tvd_common_read(&d, VIRTIO_COMMON_NUMQ, 2), 2);
	ck_assert_uint_eq(tvd_device_cfg_read(&d, VIRTIO_BLK_CFG_NUM_QUEUES, 2), 2);
	ck_assert(tvd_device_features(&d) & VIRTIO_BIT(VIRTIO_BLK_F_MQ));
	test_vm_destroy(vm);
}
END_TEST

static Suite *virtio_blk_suite(void)
{
	Suite *s = suite_create("virtio_blk");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_virtio_blk_write_read_host_file);
	tcase_add_test(tc, test_virtio_blk_flush_id_discard_zeroes);
	tcase_add_test(tc, test_virtio_blk_event_idx_suppression);
	tcase_add_test(tc, test_virtio_blk_hostile_requests_fail_with_ioerr);
	tcase_add_test(tc, test_virtio_blk_corrupt_rings_need_reset);
	tcase_add_test(tc, test_virtio_blk_transport_refusals);
	tcase_add_test(tc, test_virtio_blk_bad_options);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(virtio_blk_suite)
