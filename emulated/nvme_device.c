/* The emulated NVMe disk as a PCI function (`--disk model=emulated`):
 * options, PCI identity, BARs (BAR0: registers and doorbells, 64-bit;
 * BAR4: MSI-X table and PBA), the I/O-thread wake-up, and the device ops
 * (reset, stats, teardown). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/cli.h"
#include "core/device.h"
#include "core/io_thread.h"
#include "core/log.h"
#include "core/pci_msix.h"
#include "core/vm.h"
#include "emulated/nvme.h"
#include "guest/abi.h"

#define NVME_PCI_DEVICE_ID 0x10f2     /* iovirt's range next to the test device */
#define NVME_PCI_CLASS     0x010802u  /* mass storage, NVM, NVMe I/O controller */

static const char *const nvme_own_option_keys[] = { "shadow", "queues", "slot", NULL };

static bool nvme_key_in(const char *key, const char *const *keys)
{
	for (unsigned i = 0; keys[i]; i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

struct nvme_options {
	bool shadow;
	unsigned queues;
	int slot;
};

static int nvme_parse_options(const struct device_spec *spec, struct nvme_options *o, char *err,
			      size_t errlen)
{
	*o = (struct nvme_options){ .shadow = true, .queues = NVME_DEFAULT_IO_QUEUES, .slot = -1 };
	for (unsigned i = 0; i < spec->noptions; i++) {
		const char *key = spec->options[i].key;
		if (!nvme_key_in(key, nvme_own_option_keys) && !nvme_key_in(key, disk_backend_option_keys)) {
			snprintf(err, errlen, "%s: the emulated NVMe disk has no option '%s' (it takes "
				 "path, size, readonly, direct, qd, shadow, queues, slot)", spec->text, key);
			return -1;
		}
	}
	const char *v = device_spec_get(spec, "shadow");
	if (v) {
		if (strcmp(v, "on") == 0) {
			o->shadow = true;
		} else if (strcmp(v, "off") == 0) {
			o->shadow = false;
		} else {
			snprintf(err, errlen, "%s: shadow=%s: say shadow=on or shadow=off", spec->text, v);
			return -1;
		}
	}
	v = device_spec_get(spec, "queues");
	uint64_t n;
	if (v) {
		if (cli_parse_uint(v, 1, NVME_MAX_IO_QUEUES, &n) < 0) {
			snprintf(err, errlen, "%s: queues=%s: give the number of I/O queue pairs, 1 to %d",
				 spec->text, v, NVME_MAX_IO_QUEUES);
			return -1;
		}
		o->queues = (unsigned)n;
	}
	v = device_spec_get(spec, "slot");
	if (v) {
		if (cli_parse_uint(v, 1, PCI_SLOTS - 1, &n) < 0) {
			snprintf(err, errlen, "%s: slot=%s is not a PCI slot number (use 1..%d)",
				 spec->text, v, PCI_SLOTS - 1);
			return -1;
		}
		o->slot = (int)n;
	}
	return 0;
}

static void nvme_free_queues(struct nvme_ctrl *ctrl)
{
	for (unsigned q = 0; q < NVME_MAX_QUEUES; q++) {
		free(ctrl->sqs[q]);
		free(ctrl->cqs[q]);
		ctrl->sqs[q] = NULL;
		ctrl->cqs[q] = NULL;
	}
}

/* Teardown runs after the vCPUs and the I/O thread stopped. */
static void nvme_teardown(void *state)
{
	struct nvme_ctrl *ctrl = state;
	ctrl->dying = true;
	if (ctrl->kick_watch > 0)
		io_thread_unwatch(ctrl->vm->io, ctrl->kick_watch);
	/* Reaps requests still in flight; their callbacks only release them. */
	disk_backend_close(ctrl->vm, &ctrl->disk);
	nvme_free_queues(ctrl);
	if (ctrl->pool)
		for (unsigned i = 0; i < NVME_POOL_SIZE; i++)
			free(ctrl->pool[i].dsm);
	pci_device_fini(&ctrl->pci);
	if (ctrl->kick_fd >= 0)
		close(ctrl->kick_fd);
	free(ctrl->pool);
	pthread_mutex_destroy(&ctrl->lock);
	free(ctrl);
}

static int nvme_build_pci(struct nvme_ctrl *ctrl, int slot, const struct device_spec *spec,
			  char *err, size_t errlen)
{
	pci_device_set_intx_pin(&ctrl->pci, PCI_INTX_A);
	if (pci_device_add_bar(&ctrl->pci, 0, PCI_BAR_MMIO64, NVME_BAR0_SIZE, false, &nvme_bar0_ops,
			       ctrl) < 0 ||
	    pci_device_add_bar(&ctrl->pci, NVME_MSIX_BAR, PCI_BAR_MMIO32, NVME_MSIX_BAR_SIZE, false,
			       NULL, NULL) < 0 ||
	    !pci_msix_init(&ctrl->pci, ctrl->nvectors, NVME_MSIX_BAR, NVME_MSIX_TABLE,
			   NVME_MSIX_PBA)) {
		snprintf(err, errlen, "%s: could not build the PCI function (see the message above)",
			 spec->text);
		return -1;
	}
	if (pci_device_register(ctrl->vm->pci, &ctrl->pci, slot) < 0) {
		snprintf(err, errlen, "%s: could not put the device on the PCI bus (see the message "
			 "above)", spec->text);
		return -1;
	}
	return 0;
}

static int nvme_realize(struct vm *vm, const struct device_spec *spec, void **state, char *err,
			size_t errlen)
{
	static atomic_uint instances;
	struct nvme_options opts;
	if (nvme_parse_options(spec, &opts, err, errlen) < 0)
		return -1;
	if (!vm->pci || !vm->io || !vm->dma) {
		snprintf(err, errlen, "%s: this VM has no PCI bus, I/O thread or DMA space", spec->text);
		return -1;
	}
	struct nvme_ctrl *ctrl = calloc(1, sizeof(*ctrl));
	if (!ctrl) {
		snprintf(err, errlen, "%s: out of memory", spec->text);
		return -1;
	}
	ctrl->vm = vm;
	ctrl->dma = vm->dma;
	ctrl->kick_fd = -1;
	ctrl->max_io_queues = opts.queues;
	ctrl->granted_io_queues = opts.queues;
	ctrl->nvectors = opts.queues + 1;
	ctrl->shadow_allowed = opts.shadow;
	ctrl->write_cache = true;
	ctrl->state = NVME_STATE_DISABLED;
	snprintf(ctrl->serial, sizeof(ctrl->serial), "IOVIRT%04u", atomic_fetch_add(&instances, 1));
	pthread_mutex_init(&ctrl->lock, NULL);
	const struct pci_device_id id = {
		.vendor = IOVIRT_PCI_VENDOR_ID, .device = NVME_PCI_DEVICE_ID,
		.subsystem_vendor = IOVIRT_PCI_VENDOR_ID, .subsystem = NVME_PCI_DEVICE_ID,
		.class_code = NVME_PCI_CLASS, .revision = 1,
	};
	pci_device_init(&ctrl->pci, "nvme", &id, &ctrl->counters);
	ctrl->disk.image.fd = -1;
	if (disk_backend_open(vm, spec, &ctrl->disk, err, errlen) < 0)
		goto fail;
	ctrl->nsze = ctrl->disk.image.size / NVME_LBA_SIZE;
	ctrl->pool = calloc(NVME_POOL_SIZE, sizeof(*ctrl->pool));
	ctrl->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!ctrl->pool || ctrl->kick_fd < 0) {
		snprintf(err, errlen, "%s: out of memory or file descriptors", spec->text);
		goto fail;
	}
	for (unsigned i = NVME_POOL_SIZE; i-- > 0;) {
		ctrl->pool[i].ctrl = ctrl;
		ctrl->pool[i].next_free = ctrl->free_list;
		ctrl->free_list = &ctrl->pool[i];
	}
	if (nvme_build_pci(ctrl, opts.slot, spec, err, errlen) < 0)
		goto fail;
	ctrl->kick_watch = io_thread_watch_eventfd(vm->io, ctrl->kick_fd, nvme_loop_kick, ctrl);
	if (ctrl->kick_watch < 0) {
		snprintf(err, errlen, "%s: cannot watch the doorbell eventfd: %s", spec->text,
			 strerror(-ctrl->kick_watch));
		goto fail;
	}
	*state = ctrl;
	return 0;
fail:
	ctrl->kick_watch = 0;
	nvme_teardown(ctrl);
	return -1;
}

static void nvme_reset_on_loop(void *opaque)
{
	struct nvme_ctrl *ctrl = opaque;
	nvme_ctrl_reset_queues(ctrl);
	ctrl->shutdown_wanted = false;
	pthread_mutex_lock(&ctrl->lock);
	ctrl->cc = ctrl->aqa = ctrl->intms = 0;
	ctrl->asq = ctrl->acq = 0;
	ctrl->pending_enable = ctrl->pending_reset = ctrl->pending_shutdown = false;
	atomic_store(&ctrl->csts, ctrl->state == NVME_STATE_DISABLED ? 0 : NVME_CSTS_RDY);
	pthread_mutex_unlock(&ctrl->lock);
	ctrl->error_count = 0;
	memset(ctrl->errors, 0, sizeof(ctrl->errors));
}

static bool nvme_drained(void *opaque)
{
	const struct nvme_ctrl *ctrl = opaque;
	return ctrl->state != NVME_STATE_RESETTING;
}

/* A whole-device reset (the VM's, not the guest's CC.EN): vCPUs are stopped. */
static void nvme_reset(void *state)
{
	struct nvme_ctrl *ctrl = state;
	io_thread_call_sync(ctrl->vm->io, nvme_reset_on_loop, ctrl);
	if (!io_thread_running(ctrl->vm->io))
		io_thread_run_until(ctrl->vm->io, nvme_drained, ctrl);
	pci_device_reset(&ctrl->pci);
}

static int nvme_save_state(void *state, struct device_state_buf *out)
{
	(void)out;
	struct nvme_ctrl *ctrl = state;
	log_error("%s: saving the emulated NVMe controller's state is not supported yet",
		  ctrl->pci.name);
	return -1;
}

static int nvme_load_state(void *state, struct device_state_buf *in)
{
	(void)in;
	struct nvme_ctrl *ctrl = state;
	log_error("%s: loading the emulated NVMe controller's state is not supported yet",
		  ctrl->pci.name);
	return -1;
}

static struct device_counters *nvme_stats(void *state)
{
	return &((struct nvme_ctrl *)state)->counters;
}

uint64_t nvme_ctrl_doorbell_writes(const struct nvme_ctrl *ctrl)
{
	return counter_get(&ctrl->db_writes);
}

uint64_t nvme_ctrl_shadow_reads(const struct nvme_ctrl *ctrl)
{
	return counter_get(&ctrl->shadow_reads);
}

struct pci_device *nvme_ctrl_pci(struct nvme_ctrl *ctrl)
{
	return &ctrl->pci;
}

static const struct device_model_ops nvme_device_ops = {
	.function = "disk",
	.model = "emulated",
	.summary = "NVMe 1.4 controller, every register access trapped "
		   "(path=,size=,readonly=,direct=,qd=,shadow=on|off,queues=N,slot=)",
	.realize = nvme_realize,
	.reset = nvme_reset,
	.save_state = nvme_save_state,
	.load_state = nvme_load_state,
	.stats = nvme_stats,
	.teardown = nvme_teardown,
};

DEVICE_MODEL_REGISTER(nvme_device_ops)
