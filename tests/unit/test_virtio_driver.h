/* A minimal virtio-pci driver for the split-model unit tests: the test plays
 * the guest through tests/test_vm_fixture.h (config space on the PIO bus,
 * BAR0 on the MMIO bus, rings in guest RAM). Raw helpers let a test write
 * the hostile rings a real driver never would. */
#ifndef IOVIRT_TESTS_UNIT_TEST_VIRTIO_DRIVER_H
#define IOVIRT_TESTS_UNIT_TEST_VIRTIO_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/counters.h"
#include "core/vm.h"

#define TVD_MAX_QUEUES 4

struct tvd_queue {
	uint16_t size;
	uint64_t desc, avail, used;   /* guest-physical */
	uint16_t avail_idx;           /* driver's next available index */
	uint16_t used_seen;           /* used entries consumed */
	uint16_t next_desc;           /* next descriptor to hand out (cycling) */
};

struct tvd {
	struct vm *vm;
	unsigned slot;
	uint64_t bar;
	uint64_t common, isr, device, notify;
	uint32_t notify_mult;
	unsigned msix_cap;
	uint64_t msix_table;
	uint64_t alloc_next;
	struct tvd_queue q[TVD_MAX_QUEUES];
	struct device_counters *counters;
};

struct tvd_buf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

/* Finds the nth (0-based) function with this device ID, turns on memory
 * decoding and bus mastering, reads the virtio capabilities. Guest memory
 * for rings and buffers is taken from alloc_base upwards. */
void tvd_open(struct tvd *d, struct vm *vm, uint16_t device_id, unsigned nth,
	      struct device_counters *counters, uint64_t alloc_base);
uint64_t tvd_alloc(struct tvd *d, uint64_t size, uint64_t align);

/* Register access. */
uint32_t tvd_common_read(struct tvd *d, unsigned offset, unsigned len);
void tvd_common_write(struct tvd *d, unsigned offset, unsigned len, uint32_t value);
uint8_t tvd_status(struct tvd *d);
uint32_t tvd_device_cfg_read(struct tvd *d, unsigned offset, unsigned len);

/* Reset, ACKNOWLEDGE|DRIVER, features, FEATURES_OK; returns the status read
 * back (FEATURES_OK set when accepted). */
uint8_t tvd_negotiate(struct tvd *d, uint64_t features);
uint64_t tvd_device_features(struct tvd *d);
/* MSI-X on, every vector unmasked; config vector 0, queue q vector q+1. */
void tvd_enable_msix(struct tvd *d, unsigned nqueues);
/* Lays out rings of `size` entries and enables queue q; returns
 * queue_enable as read back. */
bool tvd_setup_queue(struct tvd *d, unsigned q, uint16_t size);
void tvd_driver_ok(struct tvd *d);

/* Posts a chain (direct descriptors); returns its head. */
uint16_t tvd_post(struct tvd *d, unsigned q, const struct tvd_buf *bufs, unsigned n);
/* Posts a chain through an indirect table; returns its head. */
uint16_t tvd_post_indirect(struct tvd *d, unsigned q, const struct tvd_buf *bufs, unsigned n);
void tvd_kick(struct tvd *d, unsigned q);
/* Runs the I/O thread until a used entry arrives (aborts after 5 s). */
void tvd_wait_used(struct tvd *d, unsigned q);
/* Takes the next used entry if there is one. */
bool tvd_get_used(struct tvd *d, unsigned q, uint32_t *id, uint32_t *len);

/* Raw ring access for hostile tests. */
void tvd_write_desc(struct tvd *d, unsigned q, uint16_t index, uint64_t addr, uint32_t len,
		    uint16_t flags, uint16_t next);
void tvd_avail_add(struct tvd *d, unsigned q, uint16_t head);  /* entry + idx */
void tvd_avail_set_idx(struct tvd *d, unsigned q, uint16_t idx);
void tvd_set_used_event(struct tvd *d, unsigned q, uint16_t value);
uint16_t tvd_avail_event(struct tvd *d, unsigned q);
uint16_t tvd_used_flags(struct tvd *d, unsigned q);
void tvd_set_avail_flags(struct tvd *d, unsigned q, uint16_t flags);

#endif
