/* Interrupts for device models: MSI/MSI-X vectors as KVM GSI routes fed by
 * irqfds, and INTx lines on the in-kernel IOAPIC. Raising either is a write
 * to a file descriptor or a VM ioctl, safe from any thread and never takes a
 * vCPU lock. */
#ifndef IOVIRT_CORE_IRQ_H
#define IOVIRT_CORE_IRQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/counters.h"

#define IRQ_MAX_GSI        1024
#define IRQ_IOAPIC_PINS    24
#define IRQ_FIRST_MSI_GSI  IRQ_IOAPIC_PINS  /* GSIs below are irqchip pins */

struct msi_line;

/* Owns a VM's GSI routing table. With vm_fd < 0 (unit tests) routes are kept
 * and eventfds are real, but nothing is handed to KVM. */
struct irq_router {
	int vm_fd;
	pthread_mutex_t lock;
	struct msi_line *lines[IRQ_MAX_GSI];
	uint32_t intx_level_calls;        /* KVM_IRQ_LINE ioctls made (tests read it) */
};

struct irq_router *irq_router_create(int vm_fd);
void irq_router_destroy(struct irq_router *router);

/* One MSI or MSI-X vector. The eventfd is bound to the GSI by KVM_IRQFD while
 * the line is enabled, so signalling it injects the message in the kernel. */
struct msi_line {
	struct irq_router *router;
	unsigned gsi;
	int eventfd;
	uint64_t address;
	uint32_t data;
	bool routed;     /* a GSI route with address/data is installed */
	bool irqfd_on;   /* eventfd attached with KVM_IRQFD */
	struct device_counters *counters; /* interrupts counted here; may be NULL */
};

/* Allocates a GSI and an eventfd; not routed or enabled yet. NULL on failure. */
struct msi_line *irq_msi_line_create(struct irq_router *router, struct device_counters *counters);
void irq_msi_line_destroy(struct msi_line *line);
/* Programs the message (address/data as the guest wrote them). */
int irq_msi_line_set_message(struct msi_line *line, uint64_t address, uint32_t data);
/* Attaches (true) or detaches (false) the eventfd from the GSI. */
int irq_msi_line_set_enabled(struct msi_line *line, bool enabled);
/* Raises the vector: one eventfd write. Any thread. */
void irq_msi_line_fire(struct msi_line *line);

/* INTx: level of an IOAPIC pin (GSI < IRQ_IOAPIC_PINS) via KVM_IRQ_LINE. */
int irq_intx_set_level(struct irq_router *router, unsigned gsi, bool level);

#endif
