/* The common configuration register file of the virtio PCI transport: the
 * feature words, device status and the per-queue fields a driver programs,
 * plus the transitions they start on the I/O thread (queue enable,
 * DRIVER_OK, FAILED, reset). BAR0 dispatch in virtio_pci.c hands it every
 * access inside the common configuration area. */
#include "split/virtio_pci_common.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/io_thread.h"
#include "core/log.h"
#include "core/pci_msix.h"
#include "core/vm.h"
#include "split/virtio_spec.h"

/* --- Work carried out on the I/O thread --- */

struct queue_enable_call {
	struct virtio_pci_queue *queue;
	int result;
	char why[160];
};

static void queue_enable_on_loop(void *opaque)
{
	struct queue_enable_call *c = opaque;
	struct virtio_pci_queue *queue = c->queue;
	struct virtio_pci *vdev = queue->vdev;
	c->result = virtqueue_setup(&queue->vq, queue->size, queue->desc, queue->driver,
				    queue->device, virtio_pci_has_feature(vdev, VIRTIO_F_EVENT_IDX),
				    virtio_pci_has_feature(vdev, VIRTIO_F_INDIRECT_DESC), c->why,
				    sizeof(c->why));
	if (c->result == 0)
		virtqueue_set_notification(&queue->vq, true);
}

static void driver_ok_on_loop(void *opaque)
{
	struct virtio_pci *vdev = opaque;
	vdev->live = true;
	if (vdev->ops->start)
		vdev->ops->start(vdev->opaque);
	/* Buffers made available before DRIVER_OK got no kick of their own. */
	for (unsigned q = 0; q < vdev->nqueues; q++)
		if (virtqueue_pending(&vdev->queues[q].vq) &&
		    pci_device_bus_master_enabled(&vdev->pci))
			vdev->ops->queue_notify(vdev->opaque, q);
}

static void stop_on_loop(void *opaque)
{
	struct virtio_pci *vdev = opaque;
	vdev->live = false;
}

static void reset_on_loop(void *opaque)
{
	struct virtio_pci *vdev = opaque;
	vdev->live = false;
	if (vdev->ops->reset)
		vdev->ops->reset(vdev->opaque);
	for (unsigned q = 0; q < vdev->nqueues; q++)
		virtqueue_reset(&vdev->queues[q].vq);
}

static void virtio_pci_run_on_loop(struct virtio_pci *vdev, io_thread_call_fn fn, void *arg)
{
	if (io_thread_call_sync(vdev->vm->io, fn, arg) != 0) {
		/* Only when out of memory for the call record: do it here. */
		log_warn("%s: could not reach the I/O thread; acting on the vCPU thread", vdev->name);
		fn(arg);
	}
}

/* vdev->lock held. */
void virtio_pci_reset_locked(struct virtio_pci *vdev)
{
	virtio_pci_run_on_loop(vdev, reset_on_loop, vdev);
	vdev->driver_features = 0;
	vdev->device_feature_select = vdev->driver_feature_select = 0;
	vdev->queue_select = 0;
	atomic_store(&vdev->status, 0);
	atomic_store(&vdev->isr, 0);
	atomic_store(&vdev->config_vector, VIRTIO_MSI_NO_VECTOR);
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		struct virtio_pci_queue *queue = &vdev->queues[q];
		queue->size = vdev->queue_size_max;
		atomic_store(&queue->msix_vector, VIRTIO_MSI_NO_VECTOR);
		queue->enabled = false;
		queue->desc = queue->driver = queue->device = 0;
	}
	pci_device_set_intx(&vdev->pci, false);
}

/* --- Common configuration (vCPU threads, vdev->lock held) --- */

static uint16_t virtio_pci_vector_or_none(struct virtio_pci *vdev, uint32_t vector)
{
	/* A vector the table does not have reads back as NO_VECTOR: the spec's
	 * way to say the mapping failed. */
	return vector < vdev->pci.msix->nvectors ? (uint16_t)vector : VIRTIO_MSI_NO_VECTOR;
}

static struct virtio_pci_queue *selected_queue(struct virtio_pci *vdev)
{
	return vdev->queue_select < vdev->nqueues ? &vdev->queues[vdev->queue_select] : NULL;
}

static uint32_t common_read_locked(struct virtio_pci *vdev, unsigned offset)
{
	struct virtio_pci_queue *queue = selected_queue(vdev);
	switch (offset) {
	case VIRTIO_COMMON_DFSELECT: return vdev->device_feature_select;
	case VIRTIO_COMMON_DF:
		return vdev->device_feature_select < 2
			? (uint32_t)(vdev->device_features >> (32 * vdev->device_feature_select)) : 0;
	case VIRTIO_COMMON_GFSELECT: return vdev->driver_feature_select;
	case VIRTIO_COMMON_GF:
		return vdev->driver_feature_select < 2
			? (uint32_t)(vdev->driver_features >> (32 * vdev->driver_feature_select)) : 0;
	case VIRTIO_COMMON_MSIX: return atomic_load(&vdev->config_vector);
	case VIRTIO_COMMON_NUMQ: return vdev->nqueues;
	case VIRTIO_COMMON_STATUS: {
		unsigned status = atomic_load(&vdev->status);
		/* After a reset the driver waits for 0: not before host I/O the
		 * old driver started has finished writing guest memory. */
		if (status == 0 && vdev->ops->busy && vdev->ops->busy(vdev->opaque))
			return VIRTIO_STATUS_ACKNOWLEDGE;
		return status;
	}
	case VIRTIO_COMMON_CFGGENERATION: return vdev->config_generation;
	case VIRTIO_COMMON_Q_SELECT: return vdev->queue_select;
	case VIRTIO_COMMON_Q_SIZE: return queue ? queue->size : 0;
	case VIRTIO_COMMON_Q_MSIX: return queue ? atomic_load(&queue->msix_vector) : VIRTIO_MSI_NO_VECTOR;
	case VIRTIO_COMMON_Q_ENABLE: return queue ? queue->enabled : 0;
	case VIRTIO_COMMON_Q_NOFF: return queue ? queue->index : 0;
	case VIRTIO_COMMON_Q_DESCLO: return queue ? (uint32_t)queue->desc : 0;
	case VIRTIO_COMMON_Q_DESCHI: return queue ? (uint32_t)(queue->desc >> 32) : 0;
	case VIRTIO_COMMON_Q_AVAILLO: return queue ? (uint32_t)queue->driver : 0;
	case VIRTIO_COMMON_Q_AVAILHI: return queue ? (uint32_t)(queue->driver >> 32) : 0;
	case VIRTIO_COMMON_Q_USEDLO: return queue ? (uint32_t)queue->device : 0;
	case VIRTIO_COMMON_Q_USEDHI: return queue ? (uint32_t)(queue->device >> 32) : 0;
	case VIRTIO_COMMON_Q_NDATA: return 0;
	case VIRTIO_COMMON_Q_RESET: return 0;
	default: return 0;
	}
}

static void status_write_locked(struct virtio_pci *vdev, uint8_t value)
{
	if (value == 0) {
		virtio_pci_reset_locked(vdev);
		return;
	}
	unsigned old = atomic_load(&vdev->status);
	/* NEEDS_RESET is the device's to set; the driver's copy is ignored. */
	unsigned next = (value & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) |
			(old & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	if ((next & old) != old) {
		virtio_pci_fault(vdev, "device status 0x%02x clears bits of 0x%02x without a reset: "
				 "ignored", value, old);
		return;
	}
	if ((next & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		uint64_t unknown = vdev->driver_features & ~vdev->device_features;
		bool version_1 = vdev->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1);
		if (unknown || !version_1) {
			virtio_pci_fault(vdev, "FEATURES_OK refused: driver features 0x%llx %s",
					 (unsigned long long)vdev->driver_features,
					 unknown ? "include bits the device did not offer"
						 : "lack VIRTIO_F_VERSION_1 (legacy drivers are not "
						   "supported)");
			next &= ~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	if ((next & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) &&
	    !(next & VIRTIO_STATUS_FEATURES_OK)) {
		virtio_pci_fault(vdev, "DRIVER_OK before FEATURES_OK: ignored");
		next &= ~VIRTIO_STATUS_DRIVER_OK;
	}
	atomic_store(&vdev->status, next);
	if ((next & VIRTIO_STATUS_FAILED) && !(old & VIRTIO_STATUS_FAILED))
		virtio_pci_run_on_loop(vdev, stop_on_loop, vdev);
	else if ((next & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK))
		virtio_pci_run_on_loop(vdev, driver_ok_on_loop, vdev);
}

static void queue_enable_locked(struct virtio_pci *vdev, struct virtio_pci_queue *queue,
				uint32_t value)
{
	if (value != 1) {
		virtio_pci_fault(vdev, "queue %u: queue_enable written with %u (only 1 is allowed; "
				 "a reset disables queues)", queue->index, value);
		return;
	}
	if (queue->enabled)
		return;
	if (!(atomic_load(&vdev->status) & VIRTIO_STATUS_FEATURES_OK)) {
		virtio_pci_fault(vdev, "queue %u enabled before FEATURES_OK: ignored", queue->index);
		return;
	}
	if (queue->size > vdev->queue_size_max) {
		virtio_pci_fault(vdev, "queue %u: size %u is above the maximum %u: not enabled",
				 queue->index, queue->size, vdev->queue_size_max);
		return;
	}
	struct queue_enable_call call = { .queue = queue };
	virtio_pci_run_on_loop(vdev, queue_enable_on_loop, &call);
	if (call.result < 0) {
		virtio_pci_fault(vdev, "queue %u not enabled: %s", queue->index, call.why);
		return;
	}
	queue->enabled = true;
}

static void set_half(uint64_t *field, bool high, uint32_t value)
{
	if (high)
		*field = (*field & 0xffffffffull) | ((uint64_t)value << 32);
	else
		*field = (*field & ~0xffffffffull) | value;
}

static void common_write_locked(struct virtio_pci *vdev, unsigned offset, uint32_t value)
{
	struct virtio_pci_queue *queue = selected_queue(vdev);
	bool features_ok = atomic_load(&vdev->status) & VIRTIO_STATUS_FEATURES_OK;
	switch (offset) {
	case VIRTIO_COMMON_DFSELECT:
		vdev->device_feature_select = value;
		return;
	case VIRTIO_COMMON_GFSELECT:
		vdev->driver_feature_select = value;
		return;
	case VIRTIO_COMMON_GF:
		if (features_ok) {
			virtio_pci_fault(vdev, "driver features written after FEATURES_OK: ignored");
			return;
		}
		if (vdev->driver_feature_select < 2) {
			uint64_t shift = 32 * vdev->driver_feature_select;
			vdev->driver_features = (vdev->driver_features & ~(0xffffffffull << shift)) |
						((uint64_t)value << shift);
		} else if (value) {
			virtio_pci_fault(vdev, "driver features word %u: no such features",
					 vdev->driver_feature_select);
		}
		return;
	case VIRTIO_COMMON_MSIX:
		atomic_store(&vdev->config_vector, virtio_pci_vector_or_none(vdev, value));
		return;
	case VIRTIO_COMMON_STATUS:
		status_write_locked(vdev, (uint8_t)value);
		return;
	case VIRTIO_COMMON_Q_SELECT:
		vdev->queue_select = (uint16_t)value;
		return;
	case VIRTIO_COMMON_DF:
	case VIRTIO_COMMON_NUMQ:
	case VIRTIO_COMMON_CFGGENERATION:
	case VIRTIO_COMMON_Q_NOFF:
	case VIRTIO_COMMON_Q_NDATA:
		virtio_pci_fault(vdev, "write to read-only common config field 0x%x: ignored", offset);
		return;
	case VIRTIO_COMMON_Q_RESET:
		virtio_pci_fault(vdev, "queue_reset written, but VIRTIO_F_RING_RESET is not offered");
		return;
	default:
		break;
	}
	if (!queue) {
		virtio_pci_fault(vdev, "write to queue field 0x%x with queue_select %u (the device "
				 "has %u queues): ignored", offset, vdev->queue_select, vdev->nqueues);
		return;
	}
	if (offset == VIRTIO_COMMON_Q_MSIX) {
		atomic_store(&queue->msix_vector, virtio_pci_vector_or_none(vdev, value));
		return;
	}
	if (offset == VIRTIO_COMMON_Q_ENABLE) {
		queue_enable_locked(vdev, queue, value);
		return;
	}
	if (queue->enabled) {
		virtio_pci_fault(vdev, "queue %u: field 0x%x written while the queue is enabled: "
				 "ignored", queue->index, offset);
		return;
	}
	switch (offset) {
	case VIRTIO_COMMON_Q_SIZE: queue->size = (uint16_t)value; break;
	case VIRTIO_COMMON_Q_DESCLO: set_half(&queue->desc, false, value); break;
	case VIRTIO_COMMON_Q_DESCHI: set_half(&queue->desc, true, value); break;
	case VIRTIO_COMMON_Q_AVAILLO: set_half(&queue->driver, false, value); break;
	case VIRTIO_COMMON_Q_AVAILHI: set_half(&queue->driver, true, value); break;
	case VIRTIO_COMMON_Q_USEDLO: set_half(&queue->device, false, value); break;
	case VIRTIO_COMMON_Q_USEDHI: set_half(&queue->device, true, value); break;
	default: break;
	}
}

/* The access width each field takes ("natural" access, spec 4.1.3.1);
 * 64-bit fields also as two 32-bit halves. 0: not a field. */
static unsigned common_field_width(unsigned offset)
{
	switch (offset) {
	case VIRTIO_COMMON_DFSELECT: case VIRTIO_COMMON_DF: case VIRTIO_COMMON_GFSELECT:
	case VIRTIO_COMMON_GF: case VIRTIO_COMMON_Q_DESCLO: case VIRTIO_COMMON_Q_DESCHI:
	case VIRTIO_COMMON_Q_AVAILLO: case VIRTIO_COMMON_Q_AVAILHI: case VIRTIO_COMMON_Q_USEDLO:
	case VIRTIO_COMMON_Q_USEDHI:
		return 4;
	case VIRTIO_COMMON_MSIX: case VIRTIO_COMMON_NUMQ: case VIRTIO_COMMON_Q_SELECT:
	case VIRTIO_COMMON_Q_SIZE: case VIRTIO_COMMON_Q_MSIX: case VIRTIO_COMMON_Q_ENABLE:
	case VIRTIO_COMMON_Q_NOFF: case VIRTIO_COMMON_Q_NDATA: case VIRTIO_COMMON_Q_RESET:
		return 2;
	case VIRTIO_COMMON_STATUS: case VIRTIO_COMMON_CFGGENERATION:
		return 1;
	default:
		return 0;
	}
}

static bool common_is_64bit_lo(unsigned offset)
{
	return offset == VIRTIO_COMMON_Q_DESCLO || offset == VIRTIO_COMMON_Q_AVAILLO ||
	       offset == VIRTIO_COMMON_Q_USEDLO;
}

void virtio_pci_common_read(struct virtio_pci *vdev, unsigned offset, void *data, uint32_t len)
{
	uint64_t value = 0;
	unsigned width = common_field_width(offset);
	pthread_mutex_lock(&vdev->lock);
	if (len == 8 && common_is_64bit_lo(offset)) {
		value = common_read_locked(vdev, offset) |
			(uint64_t)common_read_locked(vdev, offset + 4) << 32;
	} else if (width && len == width) {
		value = common_read_locked(vdev, offset);
	} else {
		virtio_pci_fault(vdev, "common config: %u-byte read at 0x%x (fields take their own "
				 "width)", len, offset);
		value = ~0ull;
	}
	pthread_mutex_unlock(&vdev->lock);
	memcpy(data, &value, len);
}

void virtio_pci_common_write(struct virtio_pci *vdev, unsigned offset, const void *data,
			     uint32_t len)
{
	uint64_t value = 0;
	memcpy(&value, data, len);
	unsigned width = common_field_width(offset);
	pthread_mutex_lock(&vdev->lock);
	if (len == 8 && common_is_64bit_lo(offset)) {
		common_write_locked(vdev, offset, (uint32_t)value);
		common_write_locked(vdev, offset + 4, (uint32_t)(value >> 32));
	} else if (width && len == width) {
		common_write_locked(vdev, offset, (uint32_t)value);
	} else {
		virtio_pci_fault(vdev, "common config: %u-byte write at 0x%x ignored (fields take "
				 "their own width)", len, offset);
	}
	pthread_mutex_unlock(&vdev->lock);
}
