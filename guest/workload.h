/* The workload runner's view of a device: every guest disk driver (NVMe,
 * virtio-blk) and NIC driver (e1000, virtio-net) fills one of these, so the
 * same runner (guest/workload.c) drives the emulated, split and pass-through
 * models alike and the numbers differ only by the model.
 *
 * Memory: the guest is identity-mapped, so a buffer's address is its
 * guest-physical (DMA) address. Drivers take DMA memory from page_alloc.h. */
#ifndef IOVIRT_GUEST_WORKLOAD_H
#define IOVIRT_GUEST_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/abi.h"

struct pci_scan;

/* How the runner waits for completions (iovirt.io.mode). */
enum guest_io_mode { GUEST_IO_IRQ = 0, GUEST_IO_POLL = 1 };

struct guest_io_options {
	enum guest_io_mode mode;
	unsigned queue_depth;        /* the most requests the runner keeps in flight */
	const char *cmdline;         /* for driver-specific keys (iovirt.nvme.shadow=on) */
};

struct guest_disk_completion {
	uint16_t tag;                /* as given to submit */
	uint16_t status;             /* 0: success; else device-specific, nonzero */
};

struct guest_disk {
	const char *name;            /* "nvme", "virtio-blk" */
	enum guest_device_kind kind;
	uint64_t blocks;             /* capacity in blocks */
	uint32_t block_size;         /* bytes */
	unsigned max_queue_depth;    /* tags are 0 .. max_queue_depth-1 */
	/* Queues one request (not yet visible to the device until kick). 0, or -1
	 * when the request cannot be queued (bad arguments, ring full). */
	int (*submit)(struct guest_disk *disk, uint16_t tag, bool write, uint64_t lba,
		      uint32_t nblocks, uint64_t buf_phys);
	/* Tells the device about everything submitted since the last kick: one
	 * doorbell write or virtqueue notification (it counts them). */
	void (*kick)(struct guest_disk *disk);
	/* Collects finished requests without blocking; returns how many. */
	unsigned (*reap)(struct guest_disk *disk, struct guest_disk_completion *out, unsigned max);
	/* Interrupt mode: sleeps until the device's interrupt (bounded, returns
	 * even if none came). Poll mode never calls it. */
	void (*wait)(struct guest_disk *disk);
	uint64_t notifications;      /* doorbells/kicks written */
	uint64_t interrupts;         /* the device's interrupts handled */
	void *priv;
};

struct guest_nic {
	const char *name;            /* "e1000", "virtio-net" */
	enum guest_device_kind kind;
	uint8_t mac[6];
	/* Queues one frame for transmit (copied or referenced until sent); 0 or -1
	 * when the ring is full or the frame is bad. */
	int (*send)(struct guest_nic *nic, const void *frame, uint32_t len);
	void (*kick)(struct guest_nic *nic);
	/* Copies out one received frame if there is one: returns its length, 0
	 * when none is waiting, -1 on a device error. */
	int (*receive)(struct guest_nic *nic, void *buf, uint32_t cap);
	void (*wait)(struct guest_nic *nic);
	uint64_t notifications;
	uint64_t interrupts;
	void *priv;
};

/* A driver's entry points: probe finds its device in the scan and brings it
 * up; it returns NULL on success or a one-line reason ("no NVMe controller",
 * "CSTS.CFS set after enable"). */
struct guest_disk_driver {
	const char *name;
	enum guest_device_kind kind;
	const char *(*probe)(const struct pci_scan *scan, const struct guest_io_options *opts,
			     struct guest_disk *disk);
};

struct guest_nic_driver {
	const char *name;
	enum guest_device_kind kind;
	const char *(*probe)(const struct pci_scan *scan, const struct guest_io_options *opts,
			     struct guest_nic *nic);
};

/* The driver tables (guest/workload_drivers.c): one line per driver. */
extern const struct guest_disk_driver *const guest_disk_drivers[];
extern const struct guest_nic_driver *const guest_nic_drivers[];

#endif
