/* The modern virtio-over-PCI transport from the driver side: the vendor
 * capabilities that locate the common configuration, notification, ISR and
 * device-specific regions in the BARs; the status handshake and feature
 * negotiation; queue setup with MSI-X vectors. Legacy (I/O BAR) devices are
 * not driven: transitional devices are used through their modern interface
 * and VIRTIO_F_VERSION_1 is required. */
#ifndef IOVIRT_GUEST_VIRTIO_PCI_H
#define IOVIRT_GUEST_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/msix.h"
#include "guest/pci.h"
#include "guest/virtqueue.h"

#define VIRTIO_PCI_VENDOR_ID 0x1af4
/* Modern IDs are 0x1040 + device type; transitional ones are fixed. */
#define VIRTIO_PCI_MODERN_ID_BASE 0x1040
#define VIRTIO_ID_NET   1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_PCI_TRANSITIONAL_NET_ID   0x1000
#define VIRTIO_PCI_TRANSITIONAL_BLOCK_ID 0x1001

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE        1u
#define VIRTIO_STATUS_DRIVER             2u
#define VIRTIO_STATUS_DRIVER_OK          4u
#define VIRTIO_STATUS_FEATURES_OK        8u
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED             128u

/* Transport feature bits (device-type bits are in each driver). */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX     29
#define VIRTIO_F_VERSION_1          32
#define VIRTIO_F_ACCESS_PLATFORM    33

#define VIRTIO_FEATURE(bit) (1ull << (bit))

/* "No MSI-X vector" for config_msix_vector and queue_msix_vector. */
#define VIRTIO_MSI_NO_VECTOR 0xFFFFu

struct virtio_pci_device {
	const struct pci_function *fn;
	uint64_t common;           /* common configuration structure */
	uint64_t notify_base;      /* notification region */
	uint32_t notify_multiplier;
	uint64_t notify_len;
	uint64_t isr;              /* one byte: bit 0 queue, bit 1 config */
	uint64_t device_cfg;       /* device-specific configuration */
	uint64_t device_cfg_len;
	uint64_t features;         /* negotiated */
	bool msix;                 /* MSI-X vectors in use (else polled) */
	struct msix_table msix_table;
	uint8_t first_vector;      /* IDT vector of MSI-X entry 0 */
};

/* True if fn is a virtio device of this type (modern or transitional ID). */
bool virtio_pci_matches(const struct pci_function *fn, uint16_t virtio_id);

/* Finds the capabilities, resets the device and takes it through
 * ACKNOWLEDGE, DRIVER, feature negotiation (offered & wanted; VERSION_1 is
 * required) and FEATURES_OK, checking the device kept it. On failure the
 * device is marked FAILED. NULL on success, else a one-line reason. */
const char *virtio_pci_start(struct virtio_pci_device *dev, const struct pci_function *fn,
			     uint64_t wanted_features);

/* Routes MSI-X entries 0..count-1 to IDT vectors first_vector.. and makes
 * entry 0 the configuration-change vector. Without this call every vector is
 * VIRTIO_MSI_NO_VECTOR (polling). */
const char *virtio_pci_enable_msix(struct virtio_pci_device *dev, uint8_t first_vector, unsigned count);

/* Sets queue `index` up with min(device maximum, max_size) entries (rounded
 * down to a power of two), MSI-X entry msix_entry (VIRTIO_MSI_NO_VECTOR to
 * poll), and enables it. */
const char *virtio_pci_setup_queue(struct virtio_pci_device *dev, struct virtq *q, uint16_t index,
				   uint16_t max_size, uint16_t msix_entry);

/* Sets DRIVER_OK and reads the status back; fails if the device wants a
 * reset. */
const char *virtio_pci_driver_ok(struct virtio_pci_device *dev);

uint8_t virtio_pci_status(const struct virtio_pci_device *dev);
bool virtio_pci_needs_reset(const struct virtio_pci_device *dev);
/* Reading the ISR clears it. */
uint8_t virtio_pci_isr_read(const struct virtio_pci_device *dev);

/* Device-specific configuration reads, bounds-checked against the region
 * (0 beyond it). Multi-byte fields are read inside a config_generation
 * check so they are never torn. */
uint8_t virtio_pci_config_read8(const struct virtio_pci_device *dev, uint32_t offset);
uint16_t virtio_pci_config_read16(const struct virtio_pci_device *dev, uint32_t offset);
uint32_t virtio_pci_config_read32(const struct virtio_pci_device *dev, uint32_t offset);
uint64_t virtio_pci_config_read64(const struct virtio_pci_device *dev, uint32_t offset);

/* MSI-X interrupts counted so far on entry `entry` (0 when polled). */
uint32_t virtio_pci_interrupt_count(const struct virtio_pci_device *dev, uint16_t entry);

#endif
