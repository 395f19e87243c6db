/* The e1000 PCI function: identity, BAR0 (the 128 KiB register file; every
 * access traps here), the MSI capability, INTx pin A, and the device life
 * cycle (realize, reset, stats, teardown) behind `--nic model=emulated`. */
#include "emulated/e1000.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/device.h"
#include "core/irq.h"
#include "core/log.h"
#include "core/vm.h"

void e1000_fault(struct e1000 *e, const char *fmt, ...)
{
	counter_add(&e->counters.faults, 1);
	uint64_t n = atomic_fetch_add(&e->faults_logged, 1) + 1;
	if (n > E1000_FAULT_LOG_LIMIT)
		return;
	char text[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_device_fault(e->name, "%s%s", text,
			 n == E1000_FAULT_LOG_LIMIT ? " (further faults are only counted)" : "");
}

/* BAR0 takes aligned 32-bit accesses (what drivers make); a 64-bit access is
 * split low dword first. Anything else is a fault. */
static bool e1000_access_ok(struct e1000 *e, uint64_t offset, uint32_t len, bool write)
{
	if ((len == 4 || len == 8) && offset % len == 0 && offset + len <= E1000_BAR0_SIZE)
		return true;
	e1000_fault(e, "%u-byte register %s at 0x%llx refused (aligned 32-bit accesses only)", len,
		    write ? "write" : "read", (unsigned long long)offset);
	return false;
}

static void e1000_bar0_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct e1000 *e = opaque;
	if (!e1000_access_ok(e, offset, len, false)) {
		memset(data, 0xff, len);
		return;
	}
	for (uint32_t i = 0; i < len; i += 4) {
		uint32_t v = e1000_reg_read(e, (uint32_t)offset + i);
		memcpy((uint8_t *)data + i, &v, 4);
	}
}

static void e1000_bar0_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct e1000 *e = opaque;
	if (!e1000_access_ok(e, offset, len, true))
		return;
	for (uint32_t i = 0; i < len; i += 4) {
		uint32_t v;
		memcpy(&v, (const uint8_t *)data + i, 4);
		e1000_reg_write(e, (uint32_t)offset + i, v);
	}
}

static const struct bus_region_ops e1000_bar0_ops = {
	.read = e1000_bar0_read,
	.write = e1000_bar0_write,
};

/* Runs under the config lock after the guest wrote into the MSI capability. */
static void e1000_msi_config_watch(struct pci_device *dev, void *opaque)
{
	(void)dev;
	e1000_irq_msi_config_changed(opaque);
}

static int e1000_add_msi_capability(struct e1000 *e)
{
	int cap = pci_device_add_capability(&e->pci, PCI_CAP_ID_MSI, E1000_MSI_CAP_LEN);
	if (cap < 0)
		return -1;
	e->msi_cap = (unsigned)cap;
	pci_config_set_u16(&e->pci, e->msi_cap + 2, E1000_MSI_CTRL_64BIT);
	pci_device_set_writable(&e->pci, e->msi_cap + 2, 2, E1000_MSI_CTRL_ENABLE);
	pci_device_set_writable(&e->pci, e->msi_cap + 4, 4, 0xfffffffcu);
	pci_device_set_writable(&e->pci, e->msi_cap + 8, 4, 0xffffffffu);
	pci_device_set_writable(&e->pci, e->msi_cap + 12, 2, 0xffffu);
	return pci_device_watch_config(&e->pci, e->msi_cap + 2, E1000_MSI_CAP_LEN - 2,
				       e1000_msi_config_watch, e);
}

static void e1000_free(struct e1000 *e)
{
	e1000_rx_stop(e);
	e1000_irq_fini(e);
	pci_device_fini(&e->pci);
	irq_msi_line_destroy(e->msi);
	nic_backend_close(&e->nic);
	pthread_mutex_destroy(&e->lock);
	pthread_mutex_destroy(&e->tx.lock);
	pthread_mutex_destroy(&e->rx.lock);
	pthread_mutex_destroy(&e->irq.lock);
	free(e->plain);
	free(e);
}

static int e1000_check_options(const struct device_spec *spec, char *err, size_t errlen)
{
	for (unsigned i = 0; i < spec->noptions; i++) {
		bool known = false;
		for (const char *const *k = nic_backend_option_keys; *k; k++)
			known |= strcmp(*k, spec->options[i].key) == 0;
		if (!known) {
			snprintf(err, errlen, "%s: the emulated e1000 has no option '%s' (it takes "
				 "backend=loopback|tap:NAME|dpdk:VDEV and mac=52:54:00:xx:xx:xx)",
				 spec->text, spec->options[i].key);
			return -1;
		}
	}
	return 0;
}

/* The default MAC's last byte counts the NICs already in the VM. */
static unsigned e1000_nic_index(const struct vm *vm)
{
	unsigned n = 0;
	for (unsigned i = 0; i < vm->ndevices; i++)
		n += strcmp(vm->devices[i].name, "nic") == 0;
	return n;
}

static int e1000_realize(struct vm *vm, const struct device_spec *spec, void **state, char *err,
			 size_t errlen)
{
	if (e1000_check_options(spec, err, errlen) < 0)
		return -1;
	if (!vm->pci || !vm->dma || !vm->io) {
		snprintf(err, errlen, "%s: this VM has no PCI bus, DMA space or I/O thread", spec->text);
		return -1;
	}
	struct e1000 *e = calloc(1, sizeof(*e));
	uint32_t *plain = calloc(E1000_BAR0_SIZE / 4, sizeof(uint32_t));
	if (!e || !plain) {
		free(e);
		free(plain);
		snprintf(err, errlen, "%s: out of memory", spec->text);
		return -1;
	}
	e->plain = plain;
	e->vm = vm;
	e->irq.timer_fd = e->rx.poll_timer_fd = -1;
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_init(&e->tx.lock, NULL);
	pthread_mutex_init(&e->rx.lock, NULL);
	pthread_mutex_init(&e->irq.lock, NULL);
	unsigned index = e1000_nic_index(vm);
	snprintf(e->name, sizeof(e->name), "e1000.%u", index);
	const struct pci_device_id id = {
		.vendor = E1000_VENDOR_ID, .device = E1000_DEVICE_ID,
		.subsystem_vendor = E1000_VENDOR_ID, .subsystem = 0x001e,
		.class_code = E1000_CLASS_CODE, .revision = 3,
	};
	pci_device_init(&e->pci, e->name, &id, &e->counters);
	pci_device_set_intx_pin(&e->pci, PCI_INTX_A);
	if (nic_backend_open(spec, index, &e->nic, err, errlen) < 0) {
		e1000_free(e);
		return -1;
	}
	e1000_regs_init(e);
	e->msi = irq_msi_line_create(vm->irq, &e->counters);
	if (!e->msi || e1000_irq_init(e) < 0 ||
	    pci_device_add_bar(&e->pci, 0, PCI_BAR_MMIO32, E1000_BAR0_SIZE, false, &e1000_bar0_ops,
			       e) < 0 ||
	    e1000_add_msi_capability(e) < 0) {
		snprintf(err, errlen, "%s: could not build the e1000 (see the message above)",
			 spec->text);
		e1000_free(e);
		return -1;
	}
	if (pci_device_register(vm->pci, &e->pci, -1) < 0) {
		snprintf(err, errlen, "%s: could not put the e1000 on the PCI bus (see the message "
			 "above)", spec->text);
		e1000_free(e);
		return -1;
	}
	if (e1000_rx_start(e) < 0) {
		snprintf(err, errlen, "%s: could not watch the packet port on the I/O thread",
			 spec->text);
		e1000_free(e);
		return -1;
	}
	*state = e;
	return 0;
}

static void e1000_reset(void *state)
{
	struct e1000 *e = state;
	pci_device_reset(&e->pci);
	pthread_mutex_lock(&e->pci.config_lock);
	e1000_irq_msi_config_changed(e);
	pthread_mutex_unlock(&e->pci.config_lock);
	e1000_regs_reset(e);
}

/* Migration of a NIC mid-flight is not modelled yet: refuse, loudly. */
static int e1000_save_state(void *state, struct device_state_buf *out)
{
	(void)out;
	log_error("%s: saving e1000 state is not supported yet", ((struct e1000 *)state)->name);
	return -1;
}

static int e1000_load_state(void *state, struct device_state_buf *in)
{
	(void)in;
	log_error("%s: loading e1000 state is not supported yet", ((struct e1000 *)state)->name);
	return -1;
}

static struct device_counters *e1000_stats(void *state)
{
	return &((struct e1000 *)state)->counters;
}

static void e1000_teardown(void *state)
{
	e1000_free(state);
}

static const struct device_model_ops e1000_ops = {
	.function = "nic",
	.model = "emulated",
	.summary = "Intel 82540EM (e1000): trapped registers, MSI or INTx, "
		   "backend=loopback|tap:NAME|dpdk:VDEV, mac=",
	.realize = e1000_realize,
	.reset = e1000_reset,
	.save_state = e1000_save_state,
	.load_state = e1000_load_state,
	.stats = e1000_stats,
	.teardown = e1000_teardown,
};

DEVICE_MODEL_REGISTER(e1000_ops)
