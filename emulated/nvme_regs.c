/* BAR0 of the emulated NVMe controller, on the vCPU that trapped: the
 * register file and the doorbells. Nothing here waits for I/O: state
 * changes that involve queues (enable, reset, shutdown) are handed to the
 * I/O thread through kick_fd, and the guest polls CSTS for the outcome, as
 * the specification has it. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/vm.h"
#include "emulated/nvme.h"
#include "iommu/dma_space.h"

static void nvme_kick(struct nvme_ctrl *ctrl)
{
	uint64_t one = 1;
	/* Fails only when the counter is saturated, which still wakes the loop. */
	ssize_t n = write(ctrl->kick_fd, &one, sizeof(one));
	(void)n;
}

static uint64_t nvme_cap(const struct nvme_ctrl *ctrl)
{
	(void)ctrl;
	return (uint64_t)NVME_MQES | NVME_CAP_CQR | (20ull << NVME_CAP_TO_SHIFT) |
	       (0ull << NVME_CAP_DSTRD_SHIFT) | NVME_CAP_CSS_NVM |
	       (0ull << NVME_CAP_MPSMIN_SHIFT) | (0ull << NVME_CAP_MPSMAX_SHIFT);
}

void nvme_intx_update_locked(struct nvme_ctrl *ctrl)
{
	/* INTx follows unread completions unless the guest masked vector 0. */
	pci_device_set_intx(&ctrl->pci, ctrl->intx_wanted && !(ctrl->intms & 1));
}

static uint64_t nvme_reg_read_locked(struct nvme_ctrl *ctrl, uint64_t offset)
{
	switch (offset) {
	case NVME_REG_CAP: return nvme_cap(ctrl);
	case NVME_REG_CAP + 4: return nvme_cap(ctrl) >> 32;
	case NVME_REG_VS: return NVME_VS_1_4;
	case NVME_REG_INTMS:
	case NVME_REG_INTMC: return ctrl->intms;
	case NVME_REG_CC: return ctrl->cc;
	case NVME_REG_CSTS: return atomic_load(&ctrl->csts);
	case NVME_REG_AQA: return ctrl->aqa;
	case NVME_REG_ASQ: return ctrl->asq;
	case NVME_REG_ASQ + 4: return ctrl->asq >> 32;
	case NVME_REG_ACQ: return ctrl->acq;
	case NVME_REG_ACQ + 4: return ctrl->acq >> 32;
	default: return 0;   /* reserved registers read zero */
	}
}

static void nvme_cc_write_locked(struct nvme_ctrl *ctrl, uint32_t value)
{
	uint32_t old = ctrl->cc;
	ctrl->cc = value & NVME_CC_WRITABLE;
	bool kick = false;
	if ((old & NVME_CC_EN) && !(value & NVME_CC_EN)) {
		ctrl->pending_reset = true;
		ctrl->pending_enable = false;
		kick = true;
	} else if (!(old & NVME_CC_EN) && (value & NVME_CC_EN)) {
		ctrl->pending_enable = true;
		kick = true;
	}
	if (NVME_CC_SHN(value) && !NVME_CC_SHN(old)) {
		uint32_t csts = atomic_load(&ctrl->csts) & ~NVME_CSTS_SHST_MASK;
		atomic_store(&ctrl->csts, csts | NVME_CSTS_SHST_OCCURRING);
		ctrl->pending_shutdown = true;
		kick = true;
	}
	if (kick)
		nvme_kick(ctrl);
}

/* Registers are 32-bit; CAP, ASQ and ACQ may also be accessed as one
 * 64-bit access. */
static bool nvme_reg_access_ok(struct nvme_ctrl *ctrl, uint64_t offset, uint32_t len, bool write)
{
	if (len == 4 && offset % 4 == 0)
		return true;
	if (len == 8 && (offset == NVME_REG_CAP || offset == NVME_REG_ASQ || offset == NVME_REG_ACQ))
		return true;
	nvme_fault(ctrl, "%u-byte register %s at 0x%llx refused (32-bit aligned, or 64-bit "
		   "CAP/ASQ/ACQ)", len, write ? "write" : "read", (unsigned long long)offset);
	return false;
}

static void nvme_doorbell_write(struct nvme_ctrl *ctrl, uint64_t offset, uint32_t value)
{
	counter_add(&ctrl->db_writes, 1);
	uint64_t index = (offset - NVME_REG_DOORBELLS) / 4;   /* CAP.DSTRD = 0 */
	if (index >= 2 * (uint64_t)(ctrl->max_io_queues + 1)) {
		/* Past every queue the controller can have: the loop raises the
		 * Invalid Doorbell Register event; remember nothing here. */
		nvme_fault(ctrl, "doorbell write at 0x%llx: no queue %llu (the controller has "
			   "queues 0..%u)", (unsigned long long)offset,
			   (unsigned long long)(index / 2), ctrl->max_io_queues);
		atomic_store(&ctrl->db_bad_register, true);
		nvme_kick(ctrl);
		return;
	}
	unsigned qid = (unsigned)(index / 2);
	/* With shadow doorbells the loop reads the shadow slot; keep it in step
	 * with an MMIO write so the two never disagree (a driver may ring the
	 * MMIO doorbell without updating the shadow, e.g. for the admin queue). */
	uint32_t *shadow = __atomic_load_n(&ctrl->shadow, __ATOMIC_ACQUIRE);
	if (shadow && qid > 0)
		__atomic_store_n(&shadow[index], value, __ATOMIC_RELEASE);
	atomic_store(&ctrl->db_value[index], value);
	atomic_store(&ctrl->db_dirty[index], true);
	nvme_kick(ctrl);
}

static void nvme_bar0_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct nvme_ctrl *ctrl = opaque;
	if (!nvme_reg_access_ok(ctrl, offset, len, false)) {
		memset(data, 0xff, len);
		return;
	}
	uint64_t value = 0;
	if (offset < NVME_REG_DOORBELLS) {
		pthread_mutex_lock(&ctrl->lock);
		value = nvme_reg_read_locked(ctrl, offset);
		if (len == 8)
			value = (value & 0xffffffffu) | nvme_reg_read_locked(ctrl, offset + 4) << 32;
		pthread_mutex_unlock(&ctrl->lock);
	}
	/* Doorbells are write-only: they read zero. */
	memcpy(data, &value, len);
}

static void nvme_bar0_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct nvme_ctrl *ctrl = opaque;
	uint64_t start = monotonic_ns();
	if (!nvme_reg_access_ok(ctrl, offset, len, true))
		return;
	uint64_t value = 0;
	memcpy(&value, data, len);
	if (offset >= NVME_REG_DOORBELLS) {
		nvme_doorbell_write(ctrl, offset, (uint32_t)value);
		counter_add(&ctrl->counters.vmm_cpu_ns, monotonic_ns() - start);
		return;
	}
	pthread_mutex_lock(&ctrl->lock);
	bool enabled = ctrl->cc & NVME_CC_EN;
	switch (offset) {
	case NVME_REG_INTMS:
		ctrl->intms |= (uint32_t)value;
		nvme_intx_update_locked(ctrl);
		break;
	case NVME_REG_INTMC:
		ctrl->intms &= ~(uint32_t)value;
		nvme_intx_update_locked(ctrl);
		break;
	case NVME_REG_CC:
		nvme_cc_write_locked(ctrl, (uint32_t)value);
		break;
	case NVME_REG_AQA:
	case NVME_REG_ASQ:
	case NVME_REG_ASQ + 4:
	case NVME_REG_ACQ:
	case NVME_REG_ACQ + 4:
		/* The admin queue is read at enable; changing it while enabled
		 * would desynchronize the guest from the controller. */
		if (enabled) {
			nvme_fault(ctrl, "admin queue register 0x%llx written while CC.EN=1; ignored",
				   (unsigned long long)offset);
			break;
		}
		if (offset == NVME_REG_AQA)
			ctrl->aqa = (uint32_t)value & 0x0fff0fffu;
		else if (offset == NVME_REG_ASQ)
			ctrl->asq = len == 8 ? value : (ctrl->asq & ~0xffffffffull) | (uint32_t)value;
		else if (offset == NVME_REG_ASQ + 4)
			ctrl->asq = (ctrl->asq & 0xffffffffu) | value << 32;
		else if (offset == NVME_REG_ACQ)
			ctrl->acq = len == 8 ? value : (ctrl->acq & ~0xffffffffull) | (uint32_t)value;
		else
			ctrl->acq = (ctrl->acq & 0xffffffffu) | value << 32;
		break;
	case NVME_REG_NSSR:
		break;   /* NVM subsystem reset is not supported (CAP.NSSRS = 0) */
	default:
		break;   /* read-only or reserved: ignored */
	}
	pthread_mutex_unlock(&ctrl->lock);
	counter_add(&ctrl->counters.vmm_cpu_ns, monotonic_ns() - start);
}

const struct bus_region_ops nvme_bar0_ops = {
	.read = nvme_bar0_read,
	.write = nvme_bar0_write,
};
