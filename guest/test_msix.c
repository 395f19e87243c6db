/* iovirt.test=msix: MSI-X round trips with the iovirt test device
 * (emulated/pci_testdev.c): every vector once, then per-vector masking with
 * the pending bit and delivery on unmask. */
#include <stdbool.h>

#include "guest/interrupts.h"
#include "guest/io.h"
#include "guest/lapic.h"
#include "guest/msix.h"
#include "guest/pci.h"
#include "guest/results.h"
#include "guest/tests.h"

/* In wait slices of ~1 ms: generous, since a slow host only makes the wait
 * end sooner relative to its bound, never fail a working device. */
#define DELIVERY_WAIT_SLICES 500
/* How long a masked vector must stay quiet. Device models raise MSIs during
 * the trapped write, so a leak would show well within this. */
#define MASKED_WAIT_SLICES   10

#define SCRATCH_PATTERN 0x5A17C0DEu
#define BAR0_SIZE       4096u

_Static_assert(TESTDEV_MSIX_VECTORS <= VECTOR_MSIX_COUNT, "IDT has a stub per test device vector");

/* Sets the message (format-checked) and evaluates to the fail status. */
#define FAIL(...) (results_set_message(__VA_ARGS__), GUEST_STATUS_FAIL)

static uint32_t fired_count(uint64_t regs)
{
	return mmio_read32(regs + TESTDEV_REG_FIRED_COUNT);
}

static void fire(uint64_t regs, unsigned entry)
{
	mmio_write32(regs + TESTDEV_REG_FIRE_VECTOR, entry);
}

/* Each vector once, in order; each must arrive on its own vector only. */
static enum guest_status check_each_vector(uint64_t regs)
{
	for (unsigned i = 0; i < TESTDEV_MSIX_VECTORS; i++) {
		uint32_t seen = msix_vector_counts[i];
		fire(regs, i);
		if (!interrupts_wait_msix(i, seen, DELIVERY_WAIT_SLICES))
			return FAIL("msix: entry %u (vector 0x%x) was not delivered within the wait bound",
				    i, VECTOR_MSIX_BASE + i);
	}
	for (unsigned i = 0; i < VECTOR_MSIX_COUNT; i++) {
		uint32_t want = i < TESTDEV_MSIX_VECTORS ? 1 : 0;
		if (msix_vector_counts[i] != want)
			return FAIL("msix: vector 0x%x counted %u interrupts", VECTOR_MSIX_BASE + i,
				    msix_vector_counts[i]);
	}
	return GUEST_STATUS_PASS;
}

/* A masked entry must hold its message pending and send it on unmask. */
static enum guest_status check_masking(const struct msix_table *table, uint64_t regs)
{
	uint32_t seen = msix_vector_counts[0];
	msix_entry_set_masked(table, 0, true);
	fire(regs, 0);
	if (interrupts_wait_msix(0, seen, MASKED_WAIT_SLICES))
		return FAIL("msix: masked entry 0 was delivered (%u interrupts)", msix_vector_counts[0] - seen);
	if (!msix_entry_pending(table, 0))
		return FAIL("msix: masked entry 0 fired but its PBA pending bit is clear");
	msix_entry_set_masked(table, 0, false);
	if (!interrupts_wait_msix(0, seen, DELIVERY_WAIT_SLICES))
		return FAIL("msix: pending entry 0 was not delivered after unmask");
	if (msix_entry_pending(table, 0))
		return FAIL("msix: entry 0 delivered but its PBA pending bit is still set");
	if (msix_vector_counts[0] != seen + 1)
		return FAIL("msix: entry 0 delivered %u times after unmask", msix_vector_counts[0] - seen);
	return GUEST_STATUS_PASS;
}

enum guest_status test_msix_run(const struct guest_test_env *env)
{
	(void)env;
	struct pci_scan scan;
	pci_scan_bus0(&scan);
	guest_results.pci_functions = scan.count;

	const struct pci_function *dev = pci_scan_find(&scan, IOVIRT_PCI_VENDOR_ID, IOVIRT_TESTDEV_DEVICE_ID);
	if (!dev)
		return FAIL("msix: iovirt test device %04x:%04x not found on bus 0",
			    IOVIRT_PCI_VENDOR_ID, IOVIRT_TESTDEV_DEVICE_ID);
	uint64_t regs = pci_bar_memory_address(dev, 0);
	if (regs == 0 || regs > (1ull << 32) - BAR0_SIZE)
		return FAIL("msix: test device BAR0 is unassigned or above 4 GiB (0x%lx)", regs);

	struct msix_table table;
	const char *err = msix_enable(dev, VECTOR_MSIX_BASE, TESTDEV_MSIX_VECTORS, lapic_id(), &table);
	if (err) {
		results_set_message("msix: %s", err);
		return GUEST_STATUS_FAIL;
	}

	mmio_write32(regs + TESTDEV_REG_SCRATCH, SCRATCH_PATTERN);
	uint32_t scratch = mmio_read32(regs + TESTDEV_REG_SCRATCH);
	if (scratch != SCRATCH_PATTERN)
		return FAIL("msix: BAR0 scratch register read back 0x%x, wrote 0x%x", scratch, SCRATCH_PATTERN);

	uint32_t fired_before = fired_count(regs);
	enum guest_status status = check_each_vector(regs);
	if (status != GUEST_STATUS_PASS)
		return status;
	uint32_t fired = fired_count(regs) - fired_before;
	if (fired != TESTDEV_MSIX_VECTORS)
		return FAIL("msix: FIRED_COUNT advanced by %u for %u fires", fired, TESTDEV_MSIX_VECTORS);

	status = check_masking(&table, regs);
	if (status != GUEST_STATUS_PASS)
		return status;
	fired = fired_count(regs) - fired_before;
	if (fired != TESTDEV_MSIX_VECTORS + 1)
		return FAIL("msix: FIRED_COUNT advanced by %u for %u fires", fired, TESTDEV_MSIX_VECTORS + 1);

	results_set_message("msix: %u vectors delivered; masked entry held pending, delivered on unmask",
			    TESTDEV_MSIX_VECTORS);
	return GUEST_STATUS_PASS;
}
