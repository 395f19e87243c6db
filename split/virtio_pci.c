#include "split/virtio_pci.h"
#include "split/virtio_pci_common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/io_thread.h"
#include "core/log.h"
#include "core/pci_msix.h"
#include "core/vm.h"
#include "split/virtio_spec.h"

/* Features the transport itself offers on top of the model's. */
#define VIRTIO_PCI_TRANSPORT_FEATURES \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | \
	 VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC))

#define VIRTIO_PCI_SUBSYSTEM_ID 0x1100  /* "not legacy": any value >= 0x40 */

static struct virtio_pci *vdev_of(struct pci_device *dev)
{
	return (struct virtio_pci *)((char *)dev - offsetof(struct virtio_pci, pci));
}

void virtio_pci_fault(struct virtio_pci *vdev, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pci_device_fault(&vdev->pci, "%s", msg);
}

uint64_t virtio_pci_features(struct virtio_pci *vdev)
{
	return vdev->driver_features;
}

bool virtio_pci_has_feature(struct virtio_pci *vdev, unsigned bit)
{
	return bit < 64 && (vdev->driver_features & VIRTIO_BIT(bit));
}

struct virtqueue *virtio_pci_vq(struct virtio_pci *vdev, unsigned q)
{
	return q < vdev->nqueues ? &vdev->queues[q].vq : NULL;
}

bool virtio_pci_dma_allowed(struct virtio_pci *vdev)
{
	return vdev->live && pci_device_bus_master_enabled(&vdev->pci);
}

/* --- Interrupts --- */

static void virtio_pci_raise(struct virtio_pci *vdev, unsigned vector, unsigned isr_bit)
{
	if (pci_msix_enabled(vdev->pci.msix)) {
		if (vector == VIRTIO_MSI_NO_VECTOR)
			return;   /* the driver asked for none */
		switch (pci_msix_notify(vdev->pci.msix, vector)) {
		case PCI_MSIX_FIRED:
		case PCI_MSIX_PENDING:
		case PCI_MSIX_BAD_VECTOR:   /* refused when the driver wrote it */
			return;
		case PCI_MSIX_NO_BUS_MASTER:
			virtio_pci_fault(vdev, "interrupt dropped: bus mastering is off");
			return;
		case PCI_MSIX_DISABLED:
			break;   /* turned off just now: INTx below */
		}
	}
	atomic_fetch_or(&vdev->isr, isr_bit);
	pci_device_set_intx(&vdev->pci, true);
}

void virtio_pci_queue_interrupt(struct virtio_pci *vdev, unsigned q)
{
	if (q >= vdev->nqueues)
		return;
	struct virtio_pci_queue *queue = &vdev->queues[q];
	if (!virtqueue_should_interrupt(&queue->vq))
		return;
	virtio_pci_raise(vdev, atomic_load(&queue->msix_vector), VIRTIO_ISR_QUEUE);
}

static void virtio_pci_config_interrupt(struct virtio_pci *vdev)
{
	/* The ISR config bit is set with MSI-X too, as the spec asks. */
	atomic_fetch_or(&vdev->isr, VIRTIO_ISR_CONFIG);
	unsigned vector = atomic_load(&vdev->config_vector);
	if (pci_msix_enabled(vdev->pci.msix)) {
		if (vector != VIRTIO_MSI_NO_VECTOR)
			pci_msix_notify(vdev->pci.msix, vector);
		return;
	}
	pci_device_set_intx(&vdev->pci, true);
}

void virtio_pci_needs_reset(struct virtio_pci *vdev)
{
	unsigned old = atomic_fetch_or(&vdev->status, VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	if (!(old & VIRTIO_STATUS_DEVICE_NEEDS_RESET) && (old & VIRTIO_STATUS_DRIVER_OK))
		virtio_pci_config_interrupt(vdev);
}

void virtio_pci_set_device_config(struct virtio_pci *vdev, unsigned offset, const void *data,
				  unsigned len)
{
	pthread_mutex_lock(&vdev->lock);
	if (offset <= vdev->device_config_size && len <= vdev->device_config_size - offset) {
		memcpy(vdev->device_config + offset, data, len);
		vdev->config_generation++;
	}
	bool driver_ok = atomic_load(&vdev->status) & VIRTIO_STATUS_DRIVER_OK;
	pthread_mutex_unlock(&vdev->lock);
	if (driver_ok)
		virtio_pci_config_interrupt(vdev);
}

/* A queue found its ring corrupt (fatal) or refused one chain. */
static void virtio_pci_queue_report(void *opaque, struct virtqueue *vq, bool fatal,
				    const char *message)
{
	(void)vq;
	struct virtio_pci *vdev = opaque;
	virtio_pci_fault(vdev, "%s", message);
	if (fatal)
		virtio_pci_needs_reset(vdev);
}

/* --- Kicks (I/O thread) --- */

static void virtio_pci_kick(void *opaque, uint64_t count)
{
	struct virtio_pci_queue *queue = opaque;
	struct virtio_pci *vdev = queue->vdev;
	counter_add(&vdev->counters->ioeventfd_kicks, count);
	if (!vdev->live || !queue->vq.ready)
		return;   /* nothing to look at before DRIVER_OK or queue_enable */
	if (!pci_device_bus_master_enabled(&vdev->pci)) {
		virtio_pci_fault(vdev, "queue %u kicked while bus mastering is off: ignored",
				 queue->index);
		return;
	}
	vdev->ops->queue_notify(vdev->opaque, queue->index);
}

static void virtio_pci_signal_kick(struct virtio_pci_queue *queue)
{
	uint64_t one = 1;
	if (write(queue->kick_fd, &one, sizeof(one)) != sizeof(one))
		log_warn("%s: queue %u kick eventfd: %s", queue->vdev->name, queue->index,
			 strerror(errno));
}

/* --- ioeventfds follow BAR0 (pci.config_lock held) --- */

static void virtio_pci_ioeventfd_sync_locked(struct virtio_pci *vdev)
{
	int vm_fd = vdev->vm->vm_fd;
	if (vm_fd < 0)
		return;   /* no KVM: the BAR handler signals the eventfds */
	const struct pci_bar *bar = &vdev->pci.bars[VIRTIO_PCI_BAR];
	uint64_t want = bar->mapped ? bar->mapped_addr + VIRTIO_PCI_NOTIFY_OFFSET : 0;
	if (want == vdev->notify_base)
		return;
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		struct virtio_pci_queue *queue = &vdev->queues[q];
		if (vdev->notify_base)
			virtio_ioeventfd_deassign(vm_fd, vdev->notify_base + q * VIRTIO_PCI_NOTIFY_MULT,
						  queue->kick_fd, queue->ioeventfd_mode);
		queue->ioeventfd_mode = VIRTIO_IOEVENTFD_NONE;
		if (want)
			queue->ioeventfd_mode = virtio_ioeventfd_assign(
				vm_fd, want + q * VIRTIO_PCI_NOTIFY_MULT, queue->kick_fd);
	}
	vdev->notify_base = want;
}

static void virtio_pci_bar_moved(struct pci_device *dev, void *opaque)
{
	(void)dev;
	virtio_pci_ioeventfd_sync_locked(opaque);
}

static void virtio_pci_ioeventfd_sync(struct virtio_pci *vdev)
{
	pthread_mutex_lock(&vdev->pci.config_lock);
	virtio_pci_ioeventfd_sync_locked(vdev);
	pthread_mutex_unlock(&vdev->pci.config_lock);
}

/* --- BAR0 --- */

static void virtio_bar_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct virtio_pci *vdev = opaque;
	memset(data, 0, len);
	if (offset < VIRTIO_PCI_COMMON_OFFSET + VIRTIO_COMMON_CFG_SIZE) {
		virtio_pci_common_read(vdev, (unsigned)offset, data, len);
	} else if (offset == VIRTIO_PCI_ISR_OFFSET) {
		/* Reading acknowledges: clear and drop INTx. */
		uint8_t isr = (uint8_t)atomic_exchange(&vdev->isr, 0);
		pci_device_set_intx(&vdev->pci, false);
		memcpy(data, &isr, 1);
	} else if (offset >= VIRTIO_PCI_DEVICE_OFFSET &&
		   offset < VIRTIO_PCI_DEVICE_OFFSET + VIRTIO_PCI_DEVICE_CFG_MAX) {
		unsigned at = (unsigned)(offset - VIRTIO_PCI_DEVICE_OFFSET);
		pthread_mutex_lock(&vdev->lock);
		for (unsigned i = 0; i < len && at + i < vdev->device_config_size; i++)
			((uint8_t *)data)[i] = vdev->device_config[at + i];
		pthread_mutex_unlock(&vdev->lock);
	}
	/* The notify area and the gaps read as zero. */
}

static void virtio_bar_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct virtio_pci *vdev = opaque;
	if (offset < VIRTIO_PCI_COMMON_OFFSET + VIRTIO_COMMON_CFG_SIZE) {
		virtio_pci_common_write(vdev, (unsigned)offset, data, len);
	} else if (offset >= VIRTIO_PCI_NOTIFY_OFFSET &&
		   offset < VIRTIO_PCI_NOTIFY_OFFSET + vdev->nqueues * VIRTIO_PCI_NOTIFY_MULT) {
		/* Reached only without an ioeventfd (unit tests, or an access size
		 * KVM did not catch): the same eventfd, so the same path runs. */
		unsigned q = (unsigned)((offset - VIRTIO_PCI_NOTIFY_OFFSET) / VIRTIO_PCI_NOTIFY_MULT);
		virtio_pci_signal_kick(&vdev->queues[q]);
	} else if (offset >= VIRTIO_PCI_DEVICE_OFFSET &&
		   offset < VIRTIO_PCI_DEVICE_OFFSET + VIRTIO_PCI_DEVICE_CFG_MAX) {
		virtio_pci_fault(vdev, "device config is read-only here: %u-byte write at 0x%llx "
				 "ignored", len, (unsigned long long)(offset - VIRTIO_PCI_DEVICE_OFFSET));
	} else {
		virtio_pci_fault(vdev, "%u-byte write at BAR0+0x%llx: no register there", len,
				 (unsigned long long)offset);
	}
}

static const struct bus_region_ops virtio_bar_ops = {
	.read = virtio_bar_read,
	.write = virtio_bar_write,
};

/* --- The PCI-config access capability (VIRTIO_PCI_CAP_PCI_CFG) --- */

/* Where the window points, or false when it does not name a register range
 * of BAR0 outside the MSI-X structures. Config lock held. */
static bool pci_cfg_window(struct virtio_pci *vdev, uint64_t *offset, uint32_t *len)
{
	const uint8_t *cap = vdev->pci.config + vdev->pci_cfg_cap;
	uint32_t off, length;
	memcpy(&off, cap + VIRTIO_PCI_CAP_OFF_OFFSET, 4);
	memcpy(&length, cap + VIRTIO_PCI_CAP_OFF_LENGTH, 4);
	if (cap[VIRTIO_PCI_CAP_OFF_BAR] != VIRTIO_PCI_BAR ||
	    (length != 1 && length != 2 && length != 4) || off % length ||
	    off >= VIRTIO_PCI_MSIX_TABLE) {
		virtio_pci_fault(vdev, "PCI config access window: bar %u offset 0x%x length %u "
				 "does not name a register", cap[VIRTIO_PCI_CAP_OFF_BAR], off, length);
		return false;
	}
	*offset = off;
	*len = length;
	return true;
}

static bool pci_cfg_hits_data(struct virtio_pci *vdev, unsigned offset, unsigned len)
{
	unsigned data = (unsigned)vdev->pci_cfg_cap + VIRTIO_PCI_CAP_OFF_DATA;
	return offset < data + 4 && data < offset + len;
}

static bool virtio_pci_cfg_hook_read(struct pci_device *dev, unsigned offset, unsigned len,
				     uint32_t *value)
{
	struct virtio_pci *vdev = vdev_of(dev);
	if (!pci_cfg_hits_data(vdev, offset, len))
		return false;
	uint64_t bar_offset;
	uint32_t bar_len, data = 0;
	if (pci_cfg_window(vdev, &bar_offset, &bar_len))
		virtio_bar_read(vdev, bar_offset, &data, bar_len);
	unsigned shift = 8 * (offset - (vdev->pci_cfg_cap + VIRTIO_PCI_CAP_OFF_DATA));
	*value = offset >= vdev->pci_cfg_cap + VIRTIO_PCI_CAP_OFF_DATA ? data >> shift : 0;
	return true;
}

static bool virtio_pci_cfg_hook_write(struct pci_device *dev, unsigned offset, unsigned len,
				      uint32_t value)
{
	struct virtio_pci *vdev = vdev_of(dev);
	if (!pci_cfg_hits_data(vdev, offset, len))
		return false;
	uint64_t bar_offset;
	uint32_t bar_len;
	if (offset != vdev->pci_cfg_cap + VIRTIO_PCI_CAP_OFF_DATA) {
		virtio_pci_fault(vdev, "PCI config access: write to pci_cfg_data must start at its "
				 "first byte");
		return true;
	}
	if (pci_cfg_window(vdev, &bar_offset, &bar_len) && bar_len <= len)
		virtio_bar_write(vdev, bar_offset, &value, bar_len);
	return true;
}

static const struct pci_config_hooks virtio_pci_cfg_hooks = {
	.read = virtio_pci_cfg_hook_read,
	.write = virtio_pci_cfg_hook_write,
};

/* --- Setup --- */

static int add_virtio_cap(struct pci_device *dev, uint8_t type, uint32_t offset, uint32_t length,
			  unsigned cap_len)
{
	int at = pci_device_add_capability(dev, PCI_CAP_ID_VENDOR, cap_len);
	if (at < 0)
		return -1;
	pci_config_set_u8(dev, at + 2, (uint8_t)cap_len);
	pci_config_set_u8(dev, at + VIRTIO_PCI_CAP_OFF_TYPE, type);
	pci_config_set_u8(dev, at + VIRTIO_PCI_CAP_OFF_BAR, VIRTIO_PCI_BAR);
	pci_config_set_u32(dev, at + VIRTIO_PCI_CAP_OFF_OFFSET, offset);
	pci_config_set_u32(dev, at + VIRTIO_PCI_CAP_OFF_LENGTH, length);
	return at;
}

static int virtio_pci_build(struct virtio_pci *vdev, char *err, size_t errlen)
{
	struct pci_device *dev = &vdev->pci;
	if (pci_device_add_bar(dev, VIRTIO_PCI_BAR, PCI_BAR_MMIO64, VIRTIO_PCI_BAR_SIZE, false,
			       &virtio_bar_ops, vdev) < 0)
		goto fail;
	int notify = add_virtio_cap(dev, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFFSET,
				    vdev->nqueues * VIRTIO_PCI_NOTIFY_MULT, VIRTIO_PCI_NOTIFY_CAP_LEN);
	if (add_virtio_cap(dev, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFFSET,
			   VIRTIO_COMMON_CFG_SIZE, VIRTIO_PCI_CAP_LEN) < 0 || notify < 0 ||
	    add_virtio_cap(dev, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFFSET, 1,
			   VIRTIO_PCI_CAP_LEN) < 0 ||
	    (vdev->device_config_size &&
	     add_virtio_cap(dev, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFFSET,
			    vdev->device_config_size, VIRTIO_PCI_CAP_LEN) < 0))
		goto fail;
	pci_config_set_u32(dev, notify + VIRTIO_PCI_CAP_OFF_MULT, VIRTIO_PCI_NOTIFY_MULT);
	int cfg = add_virtio_cap(dev, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, VIRTIO_PCI_CFG_CAP_LEN);
	if (cfg < 0)
		goto fail;
	vdev->pci_cfg_cap = cfg;
	pci_device_set_writable(dev, cfg + VIRTIO_PCI_CAP_OFF_BAR, 1, 0xff);
	pci_device_set_writable(dev, cfg + VIRTIO_PCI_CAP_OFF_OFFSET, 4, 0xffffffffu);
	pci_device_set_writable(dev, cfg + VIRTIO_PCI_CAP_OFF_LENGTH, 4, 0xffffffffu);
	pci_device_set_config_hooks(dev, &virtio_pci_cfg_hooks);
	if (!pci_msix_init(dev, vdev->nqueues + 1, VIRTIO_PCI_BAR, VIRTIO_PCI_MSIX_TABLE,
			   VIRTIO_PCI_MSIX_PBA))
		goto fail;
	/* Command and BAR0/1: the notify ioeventfds follow where BAR0 decodes. */
	if (pci_device_watch_config(dev, PCI_CFG_COMMAND, PCI_CFG_BAR0 + 8 - PCI_CFG_COMMAND,
				    virtio_pci_bar_moved, vdev) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "%s: could not build the PCI function (see the message above)",
		 vdev->name);
	return -1;
}

int virtio_pci_init(struct virtio_pci *vdev, struct vm *vm, const struct virtio_pci_config *config,
		    char *err, size_t errlen)
{
	memset(vdev, 0, sizeof(*vdev));
	snprintf(vdev->name, sizeof(vdev->name), "%s", config->name);
	if (config->nqueues == 0 || config->nqueues > VIRTIO_PCI_MAX_QUEUES ||
	    config->queue_size_max == 0 || config->queue_size_max > VIRTIO_PCI_QUEUE_SIZE_MAX ||
	    (config->queue_size_max & (config->queue_size_max - 1)) ||
	    config->device_config_size > VIRTIO_PCI_DEVICE_CFG_MAX || !config->ops ||
	    !config->ops->queue_notify || !config->counters) {
		snprintf(err, errlen, "%s: bad transport parameters (%u queues of up to %u)",
			 config->name, config->nqueues, config->queue_size_max);
		return -1;
	}
	if (!vm->pci || !vm->io) {
		snprintf(err, errlen, "%s: this VM has no PCI bus or I/O thread", config->name);
		return -1;
	}
	vdev->vm = vm;
	vdev->ops = config->ops;
	vdev->opaque = config->opaque;
	vdev->counters = config->counters;
	vdev->device_features = config->device_features | VIRTIO_PCI_TRANSPORT_FEATURES;
	vdev->nqueues = config->nqueues;
	vdev->queue_size_max = config->queue_size_max;
	vdev->device_config_size = config->device_config_size;
	if (config->device_config_size)
		memcpy(vdev->device_config, config->device_config, config->device_config_size);
	pthread_mutex_init(&vdev->lock, NULL);
	atomic_store(&vdev->config_vector, VIRTIO_MSI_NO_VECTOR);
	for (unsigned q = 0; q < VIRTIO_PCI_MAX_QUEUES; q++) {
		struct virtio_pci_queue *queue = &vdev->queues[q];
		queue->vdev = vdev;
		queue->index = q;
		queue->kick_fd = -1;
		queue->size = vdev->queue_size_max;
		atomic_store(&queue->msix_vector, VIRTIO_MSI_NO_VECTOR);
		virtqueue_init(&queue->vq, vm->dma, q, virtio_pci_queue_report, vdev);
	}

	const struct pci_device_id id = {
		.vendor = VIRTIO_PCI_VENDOR_ID,
		.device = (uint16_t)(VIRTIO_PCI_DEVICE_ID_BASE + config->device_type),
		.subsystem_vendor = VIRTIO_PCI_VENDOR_ID,
		.subsystem = VIRTIO_PCI_SUBSYSTEM_ID,
		.class_code = config->class_code,
		.revision = VIRTIO_PCI_REVISION,
	};
	pci_device_init(&vdev->pci, vdev->name, &id, vdev->counters);
	pci_device_set_intx_pin(&vdev->pci, PCI_INTX_A);
	if (virtio_pci_build(vdev, err, errlen) < 0)
		goto fail;
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		struct virtio_pci_queue *queue = &vdev->queues[q];
		queue->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (queue->kick_fd < 0) {
			snprintf(err, errlen, "%s: eventfd: %s", vdev->name, strerror(errno));
			goto fail;
		}
		queue->watch_id = io_thread_watch_eventfd(vm->io, queue->kick_fd, virtio_pci_kick, queue);
		if (queue->watch_id < 0) {
			snprintf(err, errlen, "%s: cannot watch the queue %u eventfd: %s", vdev->name, q,
				 strerror(-queue->watch_id));
			queue->watch_id = 0;
			goto fail;
		}
	}
	if (pci_device_register(vm->pci, &vdev->pci, -1) < 0) {
		snprintf(err, errlen, "%s: could not put the device on the PCI bus (see the message "
			 "above)", vdev->name);
		goto fail;
	}
	virtio_pci_ioeventfd_sync(vdev);
	return 0;
fail:
	virtio_pci_fini(vdev);
	return -1;
}

void virtio_pci_quiesce(struct virtio_pci *vdev)
{
	if (!vdev->vm)
		return;
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		struct virtio_pci_queue *queue = &vdev->queues[q];
		if (queue->watch_id > 0)
			io_thread_unwatch(vdev->vm->io, queue->watch_id);
		queue->watch_id = 0;
	}
	vdev->live = false;
}

void virtio_pci_fini(struct virtio_pci *vdev)
{
	if (!vdev->vm)
		return;
	virtio_pci_quiesce(vdev);
	if (vdev->vm->vm_fd >= 0 && vdev->notify_base) {
		for (unsigned q = 0; q < vdev->nqueues; q++)
			virtio_ioeventfd_deassign(vdev->vm->vm_fd,
						  vdev->notify_base + q * VIRTIO_PCI_NOTIFY_MULT,
						  vdev->queues[q].kick_fd, vdev->queues[q].ioeventfd_mode);
		vdev->notify_base = 0;
	}
	pci_device_fini(&vdev->pci);
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		if (vdev->queues[q].kick_fd >= 0)
			close(vdev->queues[q].kick_fd);
		vdev->queues[q].kick_fd = -1;
	}
	pthread_mutex_destroy(&vdev->lock);
	vdev->vm = NULL;
}

void virtio_pci_reset(struct virtio_pci *vdev)
{
	pthread_mutex_lock(&vdev->lock);
	virtio_pci_reset_locked(vdev);
	pthread_mutex_unlock(&vdev->lock);
	pci_device_reset(&vdev->pci);
	virtio_pci_ioeventfd_sync(vdev);
}
