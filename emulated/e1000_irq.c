/* e1000 interrupts: the cause register (ICR, read-to-clear), its mask
 * (IMS/IMC), software causes (ICS), throttling (ITR), and delivery by MSI or
 * INTx pin A.
 *
 * The device's internal interrupt line is "ICR & IMS != 0". INTx follows that
 * level. With MSI a message goes out on each rising edge of the line (a cause
 * becomes pending and enabled while none was), so a driver that reads ICR
 * in its handler gets one message per batch of causes.
 *
 * ITR: a rising edge sooner than ITR x 256 ns after the previous raise is
 * held back; a timerfd watched by the I/O thread raises it when the interval
 * has passed (if the causes are still pending by then). */
#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/io_thread.h"
#include "core/irq.h"
#include "core/log.h"
#include "core/vm.h"
#include "emulated/e1000.h"

#define E1000_ITR_UNIT_NS 256u

static uint64_t e1000_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void e1000_irq_arm_timer(struct e1000 *e, uint64_t delay_ns)
{
	struct itimerspec its = { 0 };
	its.it_value.tv_sec = (time_t)(delay_ns / 1000000000u);
	its.it_value.tv_nsec = (long)(delay_ns % 1000000000u);
	if (delay_ns == 0)
		its.it_value.tv_nsec = 1;   /* zero would disarm */
	if (timerfd_settime(e->irq.timer_fd, 0, &its, NULL) < 0)
		log_warn("%s: ITR timer: %s", e->name, strerror(errno));
}

static void e1000_irq_send(struct e1000 *e)
{
	if (!pci_device_bus_master_enabled(&e->pci)) {
		e1000_fault(e, "interrupt by MSI with bus mastering off: not sent (set Bus Master "
			    "in the command register)");
		return;
	}
	irq_msi_line_fire(e->msi);
}

/* Brings the outputs in line with ICR & IMS; irq.lock held. */
static void e1000_irq_update_locked(struct e1000 *e)
{
	bool level = (e->irq.icr & e->irq.ims) != 0;
	bool msi = atomic_load(&e->msi_enabled);
	if (!level) {
		e->irq.asserted = false;
		if (!msi)
			pci_device_set_intx(&e->pci, false);
		return;
	}
	if (e->irq.asserted || e->irq.held)
		return;
	uint64_t now = e1000_now_ns();
	uint64_t interval = (uint64_t)(e->irq.itr & 0xffff) * E1000_ITR_UNIT_NS;
	if (interval && e->irq.last_raise_ns && now - e->irq.last_raise_ns < interval &&
	    e->irq.timer_fd >= 0) {
		e->irq.held = true;
		e1000_irq_arm_timer(e, interval - (now - e->irq.last_raise_ns));
		return;
	}
	e->irq.asserted = true;
	e->irq.last_raise_ns = now;
	if (msi)
		e1000_irq_send(e);
	else
		pci_device_set_intx(&e->pci, true);
}

static void e1000_irq_timer_expired(void *opaque, uint64_t count)
{
	(void)count;
	struct e1000 *e = opaque;
	pthread_mutex_lock(&e->irq.lock);
	if (e->irq.held) {
		e->irq.held = false;
		e->irq.last_raise_ns = 0;     /* the interval has passed */
		e1000_irq_update_locked(e);
	}
	pthread_mutex_unlock(&e->irq.lock);
}

int e1000_irq_init(struct e1000 *e)
{
	e->irq.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (e->irq.timer_fd < 0) {
		log_error("%s: timerfd for ITR: %s", e->name, strerror(errno));
		return -1;
	}
	int id = io_thread_watch_eventfd(e->vm->io, e->irq.timer_fd, e1000_irq_timer_expired, e);
	if (id < 0) {
		log_error("%s: watching the ITR timer: %s", e->name, strerror(-id));
		return -1;
	}
	e->irq.timer_watch = id;
	return 0;
}

void e1000_irq_fini(struct e1000 *e)
{
	if (e->irq.timer_watch > 0)
		io_thread_unwatch(e->vm->io, e->irq.timer_watch);
	e->irq.timer_watch = 0;
	if (e->irq.timer_fd >= 0)
		close(e->irq.timer_fd);
	e->irq.timer_fd = -1;
}

void e1000_irq_raise(struct e1000 *e, uint32_t causes)
{
	pthread_mutex_lock(&e->irq.lock);
	e->irq.icr |= causes & E1000_ICR_VALID;
	e1000_irq_update_locked(e);
	pthread_mutex_unlock(&e->irq.lock);
}

uint32_t e1000_irq_read_icr(struct e1000 *e)
{
	pthread_mutex_lock(&e->irq.lock);
	uint32_t icr = e->irq.icr;
	e->irq.icr = 0;
	e1000_irq_update_locked(e);
	pthread_mutex_unlock(&e->irq.lock);
	return icr;
}

void e1000_irq_write(struct e1000 *e, uint32_t offset, uint32_t value)
{
	pthread_mutex_lock(&e->irq.lock);
	switch (offset) {
	case E1000_ICR:     /* writing 1s clears those causes */
		e->irq.icr &= ~value;
		break;
	case E1000_ICS:
		e->irq.icr |= value & E1000_ICR_VALID;
		break;
	case E1000_IMS:
		e->irq.ims |= value & E1000_ICR_VALID;
		break;
	case E1000_IMC:
		e->irq.ims &= ~value;
		break;
	case E1000_ITR:
		e->irq.itr = value & 0xffff;
		break;
	default:
		break;
	}
	e1000_irq_update_locked(e);
	pthread_mutex_unlock(&e->irq.lock);
}

uint32_t e1000_irq_read(struct e1000 *e, uint32_t offset)
{
	pthread_mutex_lock(&e->irq.lock);
	uint32_t v = offset == E1000_IMS ? e->irq.ims : offset == E1000_ITR ? e->irq.itr : 0;
	pthread_mutex_unlock(&e->irq.lock);
	return v;
}

void e1000_irq_reset(struct e1000 *e)
{
	pthread_mutex_lock(&e->irq.lock);
	e->irq.icr = e->irq.ims = e->irq.itr = 0;
	e->irq.held = false;
	e->irq.last_raise_ns = 0;
	e1000_irq_update_locked(e);
	pthread_mutex_unlock(&e->irq.lock);
}

/* Under the config lock (a config watch, or the device reset). */
void e1000_irq_msi_config_changed(struct e1000 *e)
{
	const uint8_t *c = e->pci.config + e->msi_cap;
	uint16_t control = (uint16_t)(c[2] | c[3] << 8);
	uint64_t address = 0;
	for (int i = 7; i >= 0; i--)
		address = address << 8 | c[4 + i];
	uint32_t data = (uint32_t)(c[12] | c[13] << 8);
	bool enable = control & E1000_MSI_CTRL_ENABLE;
	irq_msi_line_set_message(e->msi, address, data);
	irq_msi_line_set_enabled(e->msi, enable);
	pthread_mutex_lock(&e->irq.lock);
	bool was = atomic_exchange(&e->msi_enabled, enable);
	if (was != enable) {
		/* Hand the line over: INTx low under MSI, re-evaluated either way. */
		pci_device_set_intx(&e->pci, false);
		e->irq.asserted = false;
		e1000_irq_update_locked(e);
	}
	pthread_mutex_unlock(&e->irq.lock);
}
