/* MSI-X emulation and the iovirt PCI test device, driven through the buses
 * as a guest would. No KVM: the msi_line eventfds are real, so a delivered
 * vector shows up as a count on its eventfd. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bus.h"
#include "core/device.h"
#include "core/irq.h"
#include "core/pci.h"
#include "core/pci_msix.h"
#include "core/vm.h"
#include "guest/abi.h"
#include "tests/test_registry.h"

#define DEV_SLOT    2
#define NVECTORS    8
#define TABLE_OFF   0x800
#define PBA_OFF     0xc00

static struct bus pio, mmio;
static struct irq_router *irq;
static struct pci_root *root;

/* A device with its own registers and the MSI-X structures in one BAR. */
static struct pci_device dev;
static struct device_counters counters;
static struct pci_msix *msix;
static unsigned reg_accesses;
static uint64_t bar0;

static void reg_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	(void)opaque;
	reg_accesses++;
	uint32_t value = 0xd0d00000u | (uint32_t)offset;
	memcpy(data, &value, len < 4 ? len : 4);
}

static void reg_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	(void)opaque; (void)offset; (void)data; (void)len;
	reg_accesses++;
}

static const struct bus_region_ops reg_ops = { .read = reg_read, .write = reg_write };

static void cfg_select(unsigned slot, unsigned offset)
{
	uint32_t address = 0x80000000u | slot << 11 | (offset & 0xfc);
	ck_assert(bus_write(&pio, 0xcf8, &address, 4));
}

static uint32_t cfg_read(unsigned slot, unsigned offset, unsigned len)
{
	cfg_select(slot, offset);
	uint32_t value = 0;
	ck_assert(bus_read(&pio, 0xcfc + (offset & 3), &value, len));
	return value;
}

static void cfg_write(unsigned slot, unsigned offset, unsigned len, uint32_t value)
{
	cfg_select(slot, offset);
	ck_assert(bus_write(&pio, 0xcfc + (offset & 3), &value, len));
}

static uint32_t rd32(uint64_t addr)
{
	uint32_t value = 0;
	ck_assert(bus_read(&mmio, addr, &value, 4));
	return value;
}

static void wr32(uint64_t addr, uint32_t value)
{
	ck_assert(bus_write(&mmio, addr, &value, 4));
}

static uint64_t entry(unsigned vector, unsigned field)
{
	return bar0 + TABLE_OFF + vector * PCI_MSIX_ENTRY_SIZE + field;
}

/* Interrupts delivered on vector's eventfd since the last look. */
static uint64_t fired(unsigned vector)
{
	uint64_t count = 0;
	ssize_t n = read(msix->lines[vector]->eventfd, &count, sizeof(count));
	if (n < 0) {
		ck_assert_int_eq(errno, EAGAIN);
		return 0;
	}
	ck_assert_int_eq(n, 8);
	return count;
}

static unsigned msix_cap(unsigned slot)
{
	for (unsigned at = cfg_read(slot, PCI_CFG_CAP_PTR, 1), n = 0; at && n < 48;
	     at = cfg_read(slot, at + 1, 1), n++)
		if (cfg_read(slot, at, 1) == PCI_CAP_ID_MSIX)
			return at;
	return 0;
}

static void msix_control(uint16_t value)
{
	cfg_write(DEV_SLOT, msix_cap(DEV_SLOT) + 2, 2, value);
}

static void program_vector(unsigned vector, uint64_t address, uint32_t data, bool masked)
{
	wr32(entry(vector, PCI_MSIX_ENTRY_ADDR_LO), (uint32_t)address);
	wr32(entry(vector, PCI_MSIX_ENTRY_ADDR_HI), (uint32_t)(address >> 32));
	wr32(entry(vector, PCI_MSIX_ENTRY_DATA), data);
	wr32(entry(vector, PCI_MSIX_ENTRY_CTRL), masked ? PCI_MSIX_ENTRY_CTRL_MASK : 0);
}

static bool pba_bit(unsigned vector)
{
	uint64_t word = 0;
	ck_assert(bus_read(&mmio, bar0 + PBA_OFF + vector / 64 * 8, &word, 8));
	return (word >> (vector % 64)) & 1;
}

static void setup(void)
{
	bus_init(&pio, BUS_PIO);
	bus_init(&mmio, BUS_MMIO);
	irq = irq_router_create(-1);
	ck_assert_ptr_nonnull(irq);
	root = pci_root_create(&pio, &mmio, irq);
	ck_assert_ptr_nonnull(root);

	memset(&counters, 0, sizeof(counters));
	reg_accesses = 0;
	const struct pci_device_id id = { .vendor = 0x1234, .device = 0x5678, .class_code = 0xff0000 };
	pci_device_init(&dev, "msix-dev", &id, &counters);
	ck_assert_int_eq(pci_device_add_bar(&dev, 0, PCI_BAR_MMIO32, 0x1000, false, &reg_ops, NULL), 0);
	msix = pci_msix_init(&dev, NVECTORS, 0, TABLE_OFF, PBA_OFF);
	ck_assert_ptr_nonnull(msix);
	ck_assert_int_eq(pci_device_register(root, &dev, DEV_SLOT), 0);
	bar0 = pci_device_bar_address(&dev, 0);
	cfg_write(DEV_SLOT, PCI_CFG_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER);
}

static void teardown(void)
{
	pci_device_fini(&dev);
	pci_root_destroy(root);
	irq_router_destroy(irq);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}

START_TEST(test_msix_capability)
{
	unsigned cap = msix_cap(DEV_SLOT);
	ck_assert_uint_ne(cap, 0);
	ck_assert_uint_eq(cfg_read(DEV_SLOT, cap + 2, 2), NVECTORS - 1);
	ck_assert_uint_eq(cfg_read(DEV_SLOT, cap + 4, 4), TABLE_OFF | 0);
	ck_assert_uint_eq(cfg_read(DEV_SLOT, cap + 8, 4), PBA_OFF | 0);
	/* Only Enable and Function Mask are writable. */
	msix_control(0xffff);
	ck_assert_uint_eq(cfg_read(DEV_SLOT, cap + 2, 2),
			  PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_FUNC_MASK | (NVECTORS - 1));
	cfg_write(DEV_SLOT, cap + 4, 4, 0x12345678);
	ck_assert_uint_eq(cfg_read(DEV_SLOT, cap + 4, 4), TABLE_OFF);
	ck_assert(pci_msix_enabled(msix));
	msix_control(0);
	ck_assert(!pci_msix_enabled(msix));
}
END_TEST

START_TEST(test_msix_table_programming)
{
	/* Out of reset every vector is masked with a zero message. */
	for (unsigned v = 0; v < NVECTORS; v++) {
		ck_assert_uint_eq(rd32(entry(v, PCI_MSIX_ENTRY_CTRL)), PCI_MSIX_ENTRY_CTRL_MASK);
		ck_assert_uint_eq(rd32(entry(v, PCI_MSIX_ENTRY_DATA)), 0);
	}
	program_vector(2, 0xfee01003ull, 0x4041, true);
	ck_assert_uint_eq(msix->lines[2]->address, 0xfee01000ull);   /* dword aligned */
	ck_assert_uint_eq(msix->lines[2]->data, 0x4041);
	ck_assert_uint_eq(rd32(entry(2, PCI_MSIX_ENTRY_ADDR_LO)), 0xfee01000u);
	ck_assert_uint_eq(rd32(entry(2, PCI_MSIX_ENTRY_DATA)), 0x4041);

	/* 8-byte accesses: the address pair, then data + control. */
	uint64_t address = 0x00000001fee02000ull;
	ck_assert(bus_write(&mmio, entry(5, PCI_MSIX_ENTRY_ADDR_LO), &address, 8));
	uint64_t data_ctrl = (uint64_t)PCI_MSIX_ENTRY_CTRL_MASK << 32 | 0x55;
	ck_assert(bus_write(&mmio, entry(5, PCI_MSIX_ENTRY_DATA), &data_ctrl, 8));
	ck_assert_uint_eq(msix->lines[5]->address, address);
	ck_assert_uint_eq(msix->lines[5]->data, 0x55);
	uint64_t back = 0;
	ck_assert(bus_read(&mmio, entry(5, PCI_MSIX_ENTRY_ADDR_LO), &back, 8));
	ck_assert_uint_eq(back, address);
	ck_assert(bus_read(&mmio, entry(5, PCI_MSIX_ENTRY_DATA), &back, 8));
	ck_assert_uint_eq(back, data_ctrl);
	/* Reserved control bits read as zero. */
	wr32(entry(5, PCI_MSIX_ENTRY_CTRL), 0xfffffffe);
	ck_assert_uint_eq(rd32(entry(5, PCI_MSIX_ENTRY_CTRL)), 0);
	/* The other vectors are untouched. */
	ck_assert_uint_eq(msix->lines[4]->data, 0);
	ck_assert_uint_eq(counter_get(&counters.faults), 0);
}
END_TEST

START_TEST(test_msix_bar_shared_with_device_registers)
{
	ck_assert_uint_eq(rd32(bar0 + 0x10), 0xd0d00010u);
	wr32(bar0 + 0x7fc, 1);
	ck_assert_uint_eq(rd32(bar0 + 0xffc), 0xd0d00ffcu);   /* past the PBA */
	ck_assert_uint_eq(reg_accesses, 3);
	program_vector(0, 0xfee00000u, 0x31, true);
	rd32(entry(0, PCI_MSIX_ENTRY_DATA));
	rd32(bar0 + PBA_OFF);
	ck_assert_uint_eq(reg_accesses, 3);                    /* MSI-X kept its ranges */
	ck_assert_uint_eq(msix->lines[0]->data, 0x31);
}
END_TEST

START_TEST(test_msix_masked_vector_goes_pending)
{
	program_vector(3, 0xfee00000u, 0x33, true);
	msix_control(PCI_MSIX_CTRL_ENABLE);
	ck_assert(!msix->lines[3]->irqfd_on);
	ck_assert_int_eq(pci_msix_notify(msix, 3), PCI_MSIX_PENDING);
	ck_assert_int_eq(pci_msix_notify(msix, 3), PCI_MSIX_PENDING);
	ck_assert_uint_eq(fired(3), 0);
	ck_assert(pba_bit(3));
	ck_assert(!pba_bit(2));
	ck_assert_uint_eq(rd32(bar0 + PBA_OFF), 1u << 3);
	ck_assert_uint_eq(counter_get(&counters.interrupts), 0);
	/* The PBA is read-only. */
	wr32(bar0 + PBA_OFF, 0);
	ck_assert(pba_bit(3));

	/* Unmasking sends the pending message once and clears the bit. */
	wr32(entry(3, PCI_MSIX_ENTRY_CTRL), 0);
	ck_assert(msix->lines[3]->irqfd_on);
	ck_assert_uint_eq(fired(3), 1);
	ck_assert(!pba_bit(3));
	ck_assert_uint_eq(counter_get(&counters.interrupts), 1);
	ck_assert_int_eq(pci_msix_notify(msix, 3), PCI_MSIX_FIRED);
	ck_assert_int_eq(pci_msix_notify(msix, 3), PCI_MSIX_FIRED);
	ck_assert_uint_eq(fired(3), 2);
	ck_assert_uint_eq(fired(2), 0);
	ck_assert_uint_eq(counter_get(&counters.interrupts), 3);

	/* Masked again: no signal, pending instead. */
	wr32(entry(3, PCI_MSIX_ENTRY_CTRL), PCI_MSIX_ENTRY_CTRL_MASK);
	ck_assert(!msix->lines[3]->irqfd_on);
	ck_assert_int_eq(pci_msix_notify(msix, 3), PCI_MSIX_PENDING);
	ck_assert_uint_eq(fired(3), 0);
	ck_assert(pba_bit(3));
}
END_TEST

START_TEST(test_msix_function_mask)
{
	program_vector(1, 0xfee00000u, 0x21, false);
	program_vector(6, 0xfee00000u, 0x26, false);
	msix_control(PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_FUNC_MASK);
	ck_assert(!msix->lines[1]->irqfd_on);
	ck_assert_int_eq(pci_msix_notify(msix, 1), PCI_MSIX_PENDING);
	ck_assert_int_eq(pci_msix_notify(msix, 6), PCI_MSIX_PENDING);
	ck_assert_uint_eq(fired(1) + fired(6), 0);
	ck_assert(pba_bit(1) && pba_bit(6));

	msix_control(PCI_MSIX_CTRL_ENABLE);
	ck_assert(msix->lines[1]->irqfd_on);
	ck_assert_uint_eq(fired(1), 1);
	ck_assert_uint_eq(fired(6), 1);
	ck_assert(!pba_bit(1) && !pba_bit(6));

	/* MSI-X off: nothing is sent or held; the device must use INTx. */
	msix_control(0);
	ck_assert(!msix->lines[1]->irqfd_on);
	ck_assert_int_eq(pci_msix_notify(msix, 1), PCI_MSIX_DISABLED);
	ck_assert_uint_eq(fired(1), 0);
	ck_assert(!pba_bit(1));
}
END_TEST

START_TEST(test_msix_needs_bus_master)
{
	program_vector(0, 0xfee00000u, 0x30, false);
	msix_control(PCI_MSIX_CTRL_ENABLE);
	cfg_write(DEV_SLOT, PCI_CFG_COMMAND, 2, PCI_COMMAND_MEMORY);
	ck_assert_int_eq(pci_msix_notify(msix, 0), PCI_MSIX_NO_BUS_MASTER);
	ck_assert_uint_eq(fired(0), 0);
	cfg_write(DEV_SLOT, PCI_CFG_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER);
	ck_assert_int_eq(pci_msix_notify(msix, 0), PCI_MSIX_FIRED);
	ck_assert_uint_eq(fired(0), 1);
}
END_TEST

START_TEST(test_msix_bad_table_accesses)
{
	program_vector(4, 0xfee00000u, 0x1234, true);
	uint64_t faults = counter_get(&counters.faults);
	uint16_t half = 0xbeef;
	ck_assert(bus_write(&mmio, entry(4, PCI_MSIX_ENTRY_DATA), &half, 2));
	uint8_t byte = 0x77;
	ck_assert(bus_write(&mmio, entry(4, PCI_MSIX_ENTRY_DATA) + 1, &byte, 1));
	uint32_t word = 0xabcd;
	ck_assert(bus_write(&mmio, entry(4, PCI_MSIX_ENTRY_DATA) + 2, &word, 4));  /* misaligned */
	uint64_t wide = 0;
	ck_assert(bus_write(&mmio, entry(4, PCI_MSIX_ENTRY_ADDR_HI), &wide, 8));   /* misaligned */
	ck_assert_uint_eq(counter_get(&counters.faults), faults + 4);
	ck_assert_uint_eq(rd32(entry(4, PCI_MSIX_ENTRY_DATA)), 0x1234);
	ck_assert_uint_eq(rd32(entry(4, PCI_MSIX_ENTRY_ADDR_LO)), 0xfee00000u);
	ck_assert_uint_eq(msix->lines[4]->data, 0x1234);

	/* Bad reads return all-ones and are counted too. */
	half = 0;
	ck_assert(bus_read(&mmio, entry(4, PCI_MSIX_ENTRY_DATA), &half, 2));
	ck_assert_uint_eq(half, 0xffff);
	ck_assert(bus_read(&mmio, bar0 + PBA_OFF + 2, &half, 2));
	ck_assert_uint_eq(half, 0xffff);
	/* An access straddling the end of the table. */
	ck_assert(bus_read(&mmio, bar0 + TABLE_OFF + NVECTORS * 16 - 4, &wide, 8));
	ck_assert_uint_eq(wide, ~0ull);
	ck_assert_uint_eq(counter_get(&counters.faults), faults + 7);
	ck_assert_uint_eq(reg_accesses, 0);
}
END_TEST

START_TEST(test_msix_out_of_range_vector)
{
	msix_control(PCI_MSIX_CTRL_ENABLE);
	ck_assert_int_eq(pci_msix_notify(msix, NVECTORS), PCI_MSIX_BAD_VECTOR);
	ck_assert_int_eq(pci_msix_notify(msix, 0xffffffffu), PCI_MSIX_BAD_VECTOR);
	ck_assert_uint_eq(rd32(bar0 + PBA_OFF), 0);
	ck_assert_uint_eq(counter_get(&counters.interrupts), 0);
}
END_TEST

START_TEST(test_msix_reset_and_saved_state)
{
	program_vector(2, 0xfee0f000u, 0x42, false);
	program_vector(7, 0xfee0e000u, 0x47, true);
	msix_control(PCI_MSIX_CTRL_ENABLE);
	ck_assert_int_eq(pci_msix_notify(msix, 7), PCI_MSIX_PENDING);

	struct device_state_buf saved = { 0 };
	ck_assert_int_eq(pci_device_save_state(&dev, &saved), 0);

	pci_device_reset(&dev);
	ck_assert(!pci_msix_enabled(msix));
	ck_assert_uint_eq(cfg_read(DEV_SLOT, msix_cap(DEV_SLOT) + 2, 2), NVECTORS - 1);
	ck_assert(!msix->lines[2]->irqfd_on);
	cfg_write(DEV_SLOT, PCI_CFG_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER);
	ck_assert_uint_eq(rd32(entry(2, PCI_MSIX_ENTRY_CTRL)), PCI_MSIX_ENTRY_CTRL_MASK);
	ck_assert_uint_eq(rd32(entry(2, PCI_MSIX_ENTRY_DATA)), 0);
	ck_assert_uint_eq(rd32(bar0 + PBA_OFF), 0);

	ck_assert_int_eq(pci_device_load_state(&dev, &saved), 0);
	ck_assert(pci_msix_enabled(msix));
	ck_assert(msix->lines[2]->irqfd_on);
	ck_assert_uint_eq(msix->lines[2]->data, 0x42);
	ck_assert_uint_eq(rd32(entry(7, PCI_MSIX_ENTRY_ADDR_LO)), 0xfee0e000u);
	ck_assert(pba_bit(7));
	wr32(entry(7, PCI_MSIX_ENTRY_CTRL), 0);
	ck_assert_uint_eq(fired(7), 1);
	device_state_free(&saved);
}
END_TEST

/* --- The iovirt test device, realized through the device registry. --- */

static struct vm *test_vm;
static void *testdev_state;
static const struct device_model_ops *testdev_ops;
static uint64_t regs, msix_bar;
static struct pci_device *testdev;

static int testdev_realize_text(const char *text, char *err, size_t errlen)
{
	struct device_spec spec;
	ck_assert_int_eq(device_spec_parse("device", text, &spec, err, errlen), 0);
	testdev_ops = device_model_find(spec.function, spec.model);
	ck_assert_ptr_nonnull(testdev_ops);
	return testdev_ops->realize(test_vm, &spec, &testdev_state, err, errlen);
}

static void testdev_setup(void)
{
	test_vm = calloc(1, sizeof(*test_vm));
	ck_assert_ptr_nonnull(test_vm);
	bus_init(&test_vm->pio_bus, BUS_PIO);
	bus_init(&test_vm->mmio_bus, BUS_MMIO);
	test_vm->irq = irq_router_create(-1);
	test_vm->pci = pci_root_create(&test_vm->pio_bus, &test_vm->mmio_bus, test_vm->irq);
	ck_assert_ptr_nonnull(test_vm->pci);
	char err[256] = "";
	ck_assert_msg(testdev_realize_text("testdev", err, sizeof(err)) == 0, "%s", err);
	testdev = pci_root_device(test_vm->pci, 1);
	ck_assert_ptr_nonnull(testdev);
	regs = pci_device_bar_address(testdev, 0);
	msix_bar = pci_device_bar_address(testdev, 1);
	msix = testdev->msix;
}

static void testdev_teardown(void)
{
	testdev_ops->teardown(testdev_state);
	pci_root_destroy(test_vm->pci);
	irq_router_destroy(test_vm->irq);
	bus_destroy(&test_vm->pio_bus);
	bus_destroy(&test_vm->mmio_bus);
	free(test_vm);
}

static uint32_t td_cfg_read(unsigned offset, unsigned len)
{
	uint32_t address = 0x80000000u | 1u << 11 | (offset & 0xfc), value = 0;
	ck_assert(bus_write(&test_vm->pio_bus, 0xcf8, &address, 4));
	ck_assert(bus_read(&test_vm->pio_bus, 0xcfc + (offset & 3), &value, len));
	return value;
}

static void td_cfg_write(unsigned offset, unsigned len, uint32_t value)
{
	uint32_t address = 0x80000000u | 1u << 11 | (offset & 0xfc);
	ck_assert(bus_write(&test_vm->pio_bus, 0xcf8, &address, 4));
	ck_assert(bus_write(&test_vm->pio_bus, 0xcfc + (offset & 3), &value, len));
}

static uint32_t td_rd(uint64_t addr)
{
	uint32_t value = 0;
	ck_assert(bus_read(&test_vm->mmio_bus, addr, &value, 4));
	return value;
}

static void td_wr(uint64_t addr, uint32_t value)
{
	ck_assert(bus_write(&test_vm->mmio_bus, addr, &value, 4));
}

static unsigned td_msix_cap(void)
{
	for (unsigned at = td_cfg_read(PCI_CFG_CAP_PTR, 1), n = 0; at && n < 48;
	     at = td_cfg_read(at + 1, 1), n++)
		if (td_cfg_read(at, 1) == PCI_CAP_ID_MSIX)
			return at;
	return 0;
}

START_TEST(test_testdev_identity_and_registers)
{
	ck_assert_uint_eq(td_cfg_read(0, 4),
			  (uint32_t)IOVIRT_TESTDEV_DEVICE_ID << 16 | IOVIRT_PCI_VENDOR_ID);
	ck_assert_uint_eq(td_cfg_read(PCI_CFG_INT_PIN, 1), PCI_INTX_A);
	unsigned cap = td_msix_cap();
	ck_assert_uint_ne(cap, 0);
	ck_assert_uint_eq((td_cfg_read(cap + 2, 2) & PCI_MSIX_CTRL_TABLE_SIZE) + 1, TESTDEV_MSIX_VECTORS);
	ck_assert_uint_eq(td_cfg_read(cap + 4, 4) & 7, 1);      /* table in BAR1 */

	td_cfg_write(PCI_CFG_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER);
	ck_assert_uint_eq(td_rd(regs + TESTDEV_REG_SCRATCH), 0);
	td_wr(regs + TESTDEV_REG_SCRATCH, 0xfeedf00d);
	ck_assert_uint_eq(td_rd(regs + TESTDEV_REG_SCRATCH), 0xfeedf00d);
	ck_assert_uint_eq(td_rd(regs + TESTDEV_REG_FIRED_COUNT), 0);
	td_wr(regs + TESTDEV_REG_FIRED_COUNT, 99);               /* read-only */
	ck_assert_uint_eq(td_rd(regs + TESTDEV_REG_FIRED_COUNT), 0);

	struct device_counters *c = testdev_ops->stats(testdev_state);
	ck_assert_uint_eq(counter_get(&c->mmio_exits), 6);
	ck_assert_uint_eq(counter_get(&c->faults), 0);
	uint16_t half = 0;
	ck_assert(bus_read(&test_vm->mmio_bus, regs + TESTDEV_REG_SCRATCH, &half, 2));
	ck_assert_uint_eq(half, 0xffff);
	ck_assert_uint_eq(counter_get(&c->faults), 1);
}
END_TEST

START_TEST(test_testdev_fires_msix_and_intx)
{
	struct device_counters *c = testdev_ops->stats(testdev_state);
	td_cfg_write(PCI_CFG_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER);

	/* MSI-X off: FIRE_VECTOR raises INTx A until acknowledged. */
	uint32_t calls = test_vm->irq->intx_level_calls;
	td_wr(regs + TESTDEV_REG_FIRE_VECTOR, 0);
	ck_assert_uint_eq(test_vm->irq->intx_level_calls, calls + 1);
	ck_assert_uint_ne(td_cfg_read(PCI_CFG_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	ck_assert_uint_eq(td_rd(regs + TESTDEV_REG_INTX_ACK), 1);
	td_wr(regs + TESTDEV_REG_INTX_ACK, 1);
	ck_assert_uint_eq(td_rd(regs + TESTDEV_REG_INTX_ACK), 0);
	ck_assert_uint_eq(test_vm->irq->intx_level_calls, calls + 2);
	ck_assert_uint_eq(td_rd(regs + TESTDEV_REG_FIRED_COUNT), 1);

	/* MSI-X on, vector 1 programmed and unmasked through BAR1. */
	td_cfg_write(td_msix_cap() + 2, 2, PCI_MSIX_CTRL_ENABLE);
	uint64_t e1 = msix_bar + 1 * PCI_MSIX_ENTRY_SIZE;
	td_wr(e1 + PCI_MSIX_ENTRY_ADDR_LO, 0xfee00000u);
	td_wr(e1 + PCI_MSIX_ENTRY_ADDR_HI, 0);
	td_wr(e1 + PCI_MSIX_ENTRY_DATA, 0x51);
	td_wr(e1 + PCI_MSIX_ENTRY_CTRL, 0);
	ck_assert_uint_eq(msix->lines[1]->data, 0x51);
	td_wr(regs + TESTDEV_REG_FIRE_VECTOR, 1);
	ck_assert_uint_eq(fired(1), 1);
	ck_assert_uint_eq(fired(0), 0);
	ck_assert_uint_eq(test_vm->irq->intx_level_calls, calls + 2);

	/* Vector 2 is still masked: pending in the PBA (BAR1 + 0x800). */
	td_wr(regs + TESTDEV_REG_FIRE_VECTOR, 2);
	ck_assert_uint_eq(fired(2), 0);
	ck_assert_uint_eq(td_rd(msix_bar + 0x800), 1u << 2);
	ck_assert_uint_eq(td_rd(regs + TESTDEV_REG_FIRED_COUNT), 3);
	ck_assert_uint_eq(counter_get(&c->interrupts), 2);   /* INTx + vector 1 */

	/* Out of range: a device fault, nothing raised. */
	td_wr(regs + TESTDEV_REG_FIRE_VECTOR, TESTDEV_MSIX_VECTORS);
	td_wr(regs + TESTDEV_REG_FIRE_VECTOR, 0x80000000u);
	ck_assert_uint_eq(counter_get(&c->faults), 2);
	ck_assert_uint_eq(td_rd(regs + TESTDEV_REG_FIRED_COUNT), 3);
	ck_assert_uint_eq(td_rd(msix_bar + 0x800), 1u << 2);
}
END_TEST

START_TEST(test_testdev_reset_save_load)
{
	td_cfg_write(PCI_CFG_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER);
	td_wr(regs + TESTDEV_REG_SCRATCH, 0x1234);
	td_wr(regs + TESTDEV_REG_FIRE_VECTOR, 3);      /* INTx: MSI-X is off */
	struct device_state_buf saved = { 0 };
	ck_assert_int_eq(testdev_ops->save_state(testdev_state, &saved), 0);

	testdev_ops->reset(testdev_state);
	ck_assert_uint_eq(td_cfg_read(PCI_CFG_COMMAND, 2), 0);
	ck_assert_uint_eq(td_cfg_read(PCI_CFG_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	td_cfg_write(PCI_CFG_COMMAND, 2, PCI_COMMAND_MEMORY);
	ck_assert_uint_eq(td_rd(regs + TESTDEV_REG_SCRATCH), 0);
	ck_assert_uint_eq(td_rd(regs + TESTDEV_REG_FIRED_COUNT), 0);

	ck_assert_int_eq(testdev_ops->load_state(testdev_state, &saved), 0);
	ck_assert_uint_eq(td_cfg_read(PCI_CFG_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER);
	ck_assert_uint_eq(td_rd(regs + TESTDEV_REG_SCRATCH), 0x1234);
	ck_assert_uint_eq(td_rd(regs + TESTDEV_REG_FIRED_COUNT), 1);
	ck_assert_uint_eq(td_rd(regs + TESTDEV_REG_INTX_ACK), 1);

	/* Someone else's state is refused. */
	saved.pos = 0;
	saved.data[0] ^= 0xff;
	ck_assert_int_eq(testdev_ops->load_state(testdev_state, &saved), -1);
	device_state_free(&saved);
}
END_TEST

START_TEST(test_testdev_options)
{
	char err[256] = "";
	void *state = NULL;
	struct device_spec spec;
	ck_assert_int_eq(device_spec_parse("device", "testdev,colour=blue", &spec, err, sizeof(err)), 0);
	ck_assert_int_eq(testdev_ops->realize(test_vm, &spec, &state, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "colour"));
	ck_assert_int_eq(device_spec_parse("device", "testdev,slot=40", &spec, err, sizeof(err)), 0);
	ck_assert_int_eq(testdev_ops->realize(test_vm, &spec, &state, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "slot=40"));
	ck_assert_int_eq(device_spec_parse("device", "testdev,slot=1", &spec, err, sizeof(err)), 0);
	ck_assert_int_eq(testdev_ops->realize(test_vm, &spec, &state, err, sizeof(err)), -1);

	/* A second one in slot 9. */
	ck_assert_int_eq(device_spec_parse("device", "testdev,slot=9", &spec, err, sizeof(err)), 0);
	ck_assert_msg(testdev_ops->realize(test_vm, &spec, &state, err, sizeof(err)) == 0, "%s", err);
	struct pci_device *second = pci_root_device(test_vm->pci, 9);
	ck_assert_ptr_nonnull(second);
	ck_assert_uint_ne(pci_device_bar_address(second, 0), regs);
	testdev_ops->teardown(state);
	ck_assert_ptr_null(pci_root_device(test_vm->pci, 9));
}
END_TEST

static Suite *pci_msix_suite(void)
{
	Suite *s = suite_create("pci_msix");
	TCase *tc = tcase_create("msix");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_msix_capability);
	tcase_add_test(tc, test_msix_table_programming);
	tcase_add_test(tc, test_msix_bar_shared_with_device_registers);
	tcase_add_test(tc, test_msix_masked_vector_goes_pending);
	tcase_add_test(tc, test_msix_function_mask);
	tcase_add_test(tc, test_msix_needs_bus_master);
	tcase_add_test(tc, test_msix_bad_table_accesses);
	tcase_add_test(tc, test_msix_out_of_range_vector);
	tcase_add_test(tc, test_msix_reset_and_saved_state);
	suite_add_tcase(s, tc);

	TCase *td = tcase_create("testdev");
	tcase_add_checked_fixture(td, testdev_setup, testdev_teardown);
	tcase_add_test(td, test_testdev_identity_and_registers);
	tcase_add_test(td, test_testdev_fires_msix_and_intx);
	tcase_add_test(td, test_testdev_reset_save_load);
	tcase_add_test(td, test_testdev_options);
	suite_add_tcase(s, td);
	return s;
}

TEST_SUITE_REGISTER(pci_msix_suite)
