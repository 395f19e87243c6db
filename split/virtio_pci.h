/* The virtio 1.x PCI transport, modern only: one 64-bit MMIO BAR holding the
 * common configuration, ISR, device configuration and notify areas (each
 * named by a vendor capability), MSI-X in the same BAR (a config vector plus
 * one per queue), INTx when MSI-X is off, and the PCI-config access
 * capability. Device models (virtio-blk, virtio-net) embed a struct
 * virtio_pci and see queues only through it.
 *
 * Notifications: each queue has its own notify address and eventfd. With
 * KVM the address is a KVM ioeventfd (no exit per kick); without (unit
 * tests) or for an access the ioeventfd does not catch, the BAR handler
 * signals the same eventfd. The VM's I/O thread watches the eventfds and
 * calls the model's queue_notify there.
 *
 * Threads: register accesses run on vCPU threads under `lock`; queue state
 * (the struct virtqueue) belongs to the I/O thread: enabling a queue,
 * DRIVER_OK and reset are carried out there (io_thread_call_sync). */
#ifndef IOVIRT_SPLIT_VIRTIO_PCI_H
#define IOVIRT_SPLIT_VIRTIO_PCI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/counters.h"
#include "core/pci.h"
#include "split/virtio_ioeventfd.h"
#include "split/virtqueue.h"

struct vm;

#define VIRTIO_PCI_MAX_QUEUES      16
#define VIRTIO_PCI_QUEUE_SIZE_MAX  256
#define VIRTIO_PCI_DEVICE_CFG_MAX  64

/* BAR0 (64-bit) layout. */
#define VIRTIO_PCI_BAR             0
#define VIRTIO_PCI_BAR_SIZE        0x8000u
#define VIRTIO_PCI_COMMON_OFFSET   0x0000u
#define VIRTIO_PCI_ISR_OFFSET      0x1000u
#define VIRTIO_PCI_DEVICE_OFFSET   0x2000u
#define VIRTIO_PCI_NOTIFY_OFFSET   0x3000u
#define VIRTIO_PCI_NOTIFY_MULT     4u
#define VIRTIO_PCI_MSIX_TABLE      0x4000u
#define VIRTIO_PCI_MSIX_PBA        0x6000u

/* What a device model plugs in. Every callback runs on the I/O thread. */
struct virtio_device_ops {
	/* Queue q was kicked (or the model should look at it again). */
	void (*queue_notify)(void *opaque, unsigned q);
	/* DRIVER_OK: the queues the driver enabled are live. May be NULL. */
	void (*start)(void *opaque);
	/* The driver reset the device: forget requests in flight (they may
	 * still complete on the host; their results must not reach the rings).
	 * May be NULL. */
	void (*reset)(void *opaque);
	/* True while host I/O started before a reset is still running; the
	 * status register reads non-zero until it is done. May be NULL. */
	bool (*busy)(void *opaque);
};

struct virtio_pci_queue {
	struct virtio_pci *vdev;
	unsigned index;
	/* Driver-programmed, under vdev->lock. */
	uint16_t size;
	atomic_uint msix_vector;
	bool enabled;
	uint64_t desc, driver, device;
	/* I/O-thread-owned ring state. */
	struct virtqueue vq;
	/* Notification. */
	int kick_fd;
	int watch_id;
	enum virtio_ioeventfd_mode ioeventfd_mode;
};

struct virtio_pci_config {
	const char *name;            /* "virtio-blk": PCI name and fault prefix */
	uint16_t device_type;        /* VIRTIO_ID_* */
	uint32_t class_code;
	uint64_t device_features;    /* device-specific bits; the transport adds its own */
	unsigned nqueues;            /* 1..VIRTIO_PCI_MAX_QUEUES */
	uint16_t queue_size_max;     /* power of two, <= VIRTIO_PCI_QUEUE_SIZE_MAX */
	const uint8_t *device_config;/* initial device configuration */
	unsigned device_config_size; /* <= VIRTIO_PCI_DEVICE_CFG_MAX */
	const struct virtio_device_ops *ops;
	void *opaque;
	struct device_counters *counters;
};

struct virtio_pci {
	struct pci_device pci;
	struct vm *vm;
	const struct virtio_device_ops *ops;
	void *opaque;
	struct device_counters *counters;
	char name[32];

	pthread_mutex_t lock;        /* register state below */
	uint64_t device_features;    /* offered */
	uint64_t driver_features;    /* accepted by the driver */
	uint32_t device_feature_select, driver_feature_select;
	atomic_uint status;          /* device_status; NEEDS_RESET set from the I/O thread */
	atomic_uint isr;
	atomic_uint config_vector;
	uint8_t config_generation;
	uint16_t queue_select;
	uint8_t device_config[VIRTIO_PCI_DEVICE_CFG_MAX];
	unsigned device_config_size;

	unsigned nqueues;
	uint16_t queue_size_max;
	struct virtio_pci_queue queues[VIRTIO_PCI_MAX_QUEUES];
	bool live;                   /* DRIVER_OK and not reset (I/O thread) */

	/* ioeventfds follow the BAR (under pci.config_lock). */
	uint64_t notify_base;        /* guest address the fds are registered at; 0: none */
	int pci_cfg_cap;             /* offset of the PCI-config access capability */
};

/* Builds the PCI function and puts it on the VM's PCI bus; the eventfds are
 * watched on vm->io. Returns 0, or -1 with one line in err (then nothing is
 * left to undo). */
int virtio_pci_init(struct virtio_pci *vdev, struct vm *vm, const struct virtio_pci_config *config,
		    char *err, size_t errlen);
/* Stops kick delivery (no queue_notify after this returns). The I/O thread
 * must be stopped or the caller must be on it. */
void virtio_pci_quiesce(struct virtio_pci *vdev);
/* Quiesces if needed and frees everything init made. */
void virtio_pci_fini(struct virtio_pci *vdev);
/* A VM reset: virtio reset plus PCI config back to its placement. */
void virtio_pci_reset(struct virtio_pci *vdev);

/* For models, on the I/O thread: */
struct virtqueue *virtio_pci_vq(struct virtio_pci *vdev, unsigned q);
/* Negotiated features (valid once FEATURES_OK was accepted). */
uint64_t virtio_pci_features(struct virtio_pci *vdev);
bool virtio_pci_has_feature(struct virtio_pci *vdev, unsigned bit);
/* The model published used entries on q: interrupt the driver if it wants. */
void virtio_pci_queue_interrupt(struct virtio_pci *vdev, unsigned q);
/* Marks the device broken (DEVICE_NEEDS_RESET) and raises a config-change
 * interrupt. */
void virtio_pci_needs_reset(struct virtio_pci *vdev);
/* Counts and logs a guest mistake (rate-limited). */
void virtio_pci_fault(struct virtio_pci *vdev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* True when the device may touch guest memory (DRIVER_OK, bus master on). */
bool virtio_pci_dma_allowed(struct virtio_pci *vdev);
/* Device configuration changed: bumps the generation and raises a
 * config-change interrupt. Any thread but the I/O thread (it takes `lock`,
 * which a vCPU may hold while it waits for the I/O thread). */
void virtio_pci_set_device_config(struct virtio_pci *vdev, unsigned offset, const void *data,
				  unsigned len);

#endif
