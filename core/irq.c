#include "core/irq.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/log.h"

struct irq_router *irq_router_create(int vm_fd)
{
	struct irq_router *router = calloc(1, sizeof(*router));
	if (!router)
		return NULL;
	router->vm_fd = vm_fd;
	pthread_mutex_init(&router->lock, NULL);
	return router;
}

void irq_router_destroy(struct irq_router *router)
{
	if (!router)
		return;
	for (unsigned gsi = 0; gsi < IRQ_MAX_GSI; gsi++)
		if (router->lines[gsi])
			irq_msi_line_destroy(router->lines[gsi]);
	pthread_mutex_destroy(&router->lock);
	free(router);
}

/* KVM_SET_GSI_ROUTING replaces the whole table, so it is rebuilt from scratch:
 * the irqchip pins KVM routes by default, then every routed MSI line. */
static int irq_router_commit_locked(struct irq_router *router)
{
	if (router->vm_fd < 0)
		return 0;
	unsigned max = 16 + IRQ_IOAPIC_PINS + IRQ_MAX_GSI;
	struct kvm_irq_routing *table =
		calloc(1, sizeof(*table) + max * sizeof(struct kvm_irq_routing_entry));
	if (!table)
		return -1;
	unsigned n = 0;
	for (unsigned pin = 0; pin < IRQ_IOAPIC_PINS; pin++) {
		if (pin < 16) {
			struct kvm_irq_routing_entry *pic = &table->entries[n++];
			pic->gsi = pin;
			pic->type = KVM_IRQ_ROUTING_IRQCHIP;
			pic->u.irqchip.irqchip = pin < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
			pic->u.irqchip.pin = pin % 8;
		}
		struct kvm_irq_routing_entry *ioapic = &table->entries[n++];
		ioapic->gsi = pin;
		ioapic->type = KVM_IRQ_ROUTING_IRQCHIP;
		ioapic->u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		ioapic->u.irqchip.pin = pin;
	}
	for (unsigned gsi = IRQ_FIRST_MSI_GSI; gsi < IRQ_MAX_GSI; gsi++) {
		const struct msi_line *line = router->lines[gsi];
		if (!line || !line->routed)
			continue;
		struct kvm_irq_routing_entry *e = &table->entries[n++];
		e->gsi = gsi;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = (uint32_t)line->address;
		e->u.msi.address_hi = (uint32_t)(line->address >> 32);
		e->u.msi.data = line->data;
	}
	table->nr = n;
	int ret = ioctl(router->vm_fd, KVM_SET_GSI_ROUTING, table);
	if (ret < 0)
		log_error("KVM_SET_GSI_ROUTING (%u routes): %s", n, strerror(errno));
	free(table);
	return ret < 0 ? -1 : 0;
}

struct msi_line *irq_msi_line_create(struct irq_router *router, struct device_counters *counters)
{
	struct msi_line *line = calloc(1, sizeof(*line));
	if (!line)
		return NULL;
	line->router = router;
	line->counters = counters;
	line->eventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (line->eventfd < 0) {
		log_error("MSI line: eventfd: %s", strerror(errno));
		free(line);
		return NULL;
	}
	pthread_mutex_lock(&router->lock);
	for (unsigned gsi = IRQ_FIRST_MSI_GSI; gsi < IRQ_MAX_GSI; gsi++) {
		if (!router->lines[gsi]) {
			router->lines[gsi] = line;
			line->gsi = gsi;
			pthread_mutex_unlock(&router->lock);
			return line;
		}
	}
	pthread_mutex_unlock(&router->lock);
	log_error("MSI line: all %u GSIs are in use", IRQ_MAX_GSI - IRQ_FIRST_MSI_GSI);
	close(line->eventfd);
	free(line);
	return NULL;
}

static int irq_irqfd_assign(const struct msi_line *line, bool assign)
{
	if (line->router->vm_fd < 0)
		return 0;
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)line->eventfd,
		.gsi = line->gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};
	if (ioctl(line->router->vm_fd, KVM_IRQFD, &irqfd) < 0) {
		log_error("KVM_IRQFD %s GSI %u: %s", assign ? "assign" : "deassign", line->gsi,
			  strerror(errno));
		return -1;
	}
	return 0;
}

void irq_msi_line_destroy(struct msi_line *line)
{
	if (!line)
		return;
	struct irq_router *router = line->router;
	pthread_mutex_lock(&router->lock);
	if (line->irqfd_on)
		irq_irqfd_assign(line, false);
	router->lines[line->gsi] = NULL;
	if (line->routed)
		irq_router_commit_locked(router);
	pthread_mutex_unlock(&router->lock);
	close(line->eventfd);
	free(line);
}

int irq_msi_line_set_message(struct msi_line *line, uint64_t address, uint32_t data)
{
	struct irq_router *router = line->router;
	pthread_mutex_lock(&router->lock);
	int ret = 0;
	if (!line->routed || line->address != address || line->data != data) {
		line->address = address;
		line->data = data;
		line->routed = true;
		ret = irq_router_commit_locked(router);
	}
	pthread_mutex_unlock(&router->lock);
	return ret;
}

int irq_msi_line_set_enabled(struct msi_line *line, bool enabled)
{
	struct irq_router *router = line->router;
	pthread_mutex_lock(&router->lock);
	int ret = 0;
	if (enabled != line->irqfd_on) {
		if (enabled && !line->routed) {
			/* KVM would inject through whatever stale route the GSI had. */
			line->routed = true;
			ret = irq_router_commit_locked(router);
		}
		if (ret == 0)
			ret = irq_irqfd_assign(line, enabled);
		if (ret == 0)
			line->irqfd_on = enabled;
	}
	pthread_mutex_unlock(&router->lock);
	return ret;
}

void irq_msi_line_fire(struct msi_line *line)
{
	/* With KVM, a write while no irqfd is attached would be injected late,
	 * when one is attached; the caller keeps pending state instead. */
	if (line->router->vm_fd >= 0 && !line->irqfd_on)
		return;
	uint64_t one = 1;
	if (write(line->eventfd, &one, sizeof(one)) != sizeof(one))
		log_warn("MSI GSI %u: eventfd write: %s", line->gsi, strerror(errno));
	if (line->counters)
		counter_add(&line->counters->interrupts, 1);
}

int irq_intx_set_level(struct irq_router *router, unsigned gsi, bool level)
{
	if (gsi >= IRQ_IOAPIC_PINS)
		return -1;
	__atomic_fetch_add(&router->intx_level_calls, 1, __ATOMIC_RELAXED);
	if (router->vm_fd < 0)
		return 0;
	struct kvm_irq_level irq = { .irq = gsi, .level = level ? 1 : 0 };
	if (ioctl(router->vm_fd, KVM_IRQ_LINE, &irq) < 0) {
		log_error("KVM_IRQ_LINE GSI %u: %s", gsi, strerror(errno));
		return -1;
	}
	return 0;
}
