/* PCI root complex and config space, driven the way a guest drives them:
 * through ports 0xCF8/0xCFC on the PIO bus and BAR accesses on the buses. */
#include <stdlib.h>
#include <string.h>

#include "core/bus.h"
#include "core/device.h"
#include "core/guest_ram.h"
#include "core/irq.h"
#include "core/pci.h"
#include "guest/abi.h"
#include "tests/test_registry.h"

static struct bus pio, mmio;
static struct irq_router *irq;
static struct pci_root *root;

struct fake_dev;

struct fake_bar_ctx {
	struct fake_dev *dev;
	unsigned bar;
};

/* A device model that records what reaches its BARs. */
struct fake_dev {
	struct pci_device pci;
	struct device_counters counters;
	unsigned reads, writes;
	unsigned last_bar;
	uint64_t last_offset;
	uint32_t last_len;
	uint64_t last_value;
	struct fake_bar_ctx ctx[PCI_NUM_BARS];
};

static void fake_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct fake_bar_ctx *ctx = opaque;
	ctx->dev->reads++;
	ctx->dev->last_bar = ctx->bar;
	ctx->dev->last_offset = offset;
	ctx->dev->last_len = len;
	/* Low half names the BAR and offset; offsets here are < 0x10000. */
	uint64_t value = 0x5a5a5a5a00000000ull | 0xa5000000u | ctx->bar << 16 | offset;
	memcpy(data, &value, len);
}

static void fake_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct fake_bar_ctx *ctx = opaque;
	ctx->dev->writes++;
	ctx->dev->last_bar = ctx->bar;
	ctx->dev->last_offset = offset;
	ctx->dev->last_len = len;
	ctx->dev->last_value = 0;
	memcpy(&ctx->dev->last_value, data, len);
}

static const struct bus_region_ops fake_ops = { .read = fake_read, .write = fake_write };

static const struct pci_device_id fake_id = {
	.vendor = 0x1234, .device = 0xabcd, .subsystem_vendor = 0x5678, .subsystem = 0x9abc,
	.class_code = 0x010802, .revision = 0x07,
};

/* BAR0: 4 KiB MMIO32; BAR2-3: 16 KiB prefetchable MMIO64; BAR4: 32 ports. */
static void fake_init(struct fake_dev *f, unsigned pin)
{
	memset(f, 0, sizeof(*f));
	pci_device_init(&f->pci, "fake", &fake_id, &f->counters);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		f->ctx[i] = (struct fake_bar_ctx){ .dev = f, .bar = i };
	ck_assert_int_eq(pci_device_add_bar(&f->pci, 0, PCI_BAR_MMIO32, 0x1000, false, &fake_ops,
					    &f->ctx[0]), 0);
	ck_assert_int_eq(pci_device_add_bar(&f->pci, 2, PCI_BAR_MMIO64, 0x4000, true, &fake_ops,
					    &f->ctx[2]), 0);
	ck_assert_int_eq(pci_device_add_bar(&f->pci, 4, PCI_BAR_PIO, 32, false, &fake_ops,
					    &f->ctx[4]), 0);
	pci_device_set_intx_pin(&f->pci, pin);
}

static void setup(void)
{
	bus_init(&pio, BUS_PIO);
	bus_init(&mmio, BUS_MMIO);
	irq = irq_router_create(-1);
	ck_assert_ptr_nonnull(irq);
	root = pci_root_create(&pio, &mmio, irq);
	ck_assert_ptr_nonnull(root);
}

static void teardown(void)
{
	pci_root_destroy(root);
	irq_router_destroy(irq);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}

static uint32_t config_address(unsigned bus, unsigned slot, unsigned fn, unsigned offset)
{
	return 0x80000000u | bus << 16 | slot << 11 | fn << 8 | (offset & 0xfc);
}

static void select_function(unsigned bus, unsigned slot, unsigned fn, unsigned offset)
{
	uint32_t address = config_address(bus, slot, fn, offset);
	ck_assert(bus_write(&pio, 0xcf8, &address, 4));
}

static uint32_t cfg_read_at(unsigned bus, unsigned slot, unsigned fn, unsigned offset, unsigned len)
{
	select_function(bus, slot, fn, offset);
	uint32_t value = 0;
	ck_assert(bus_read(&pio, 0xcfc + (offset & 3), &value, len));
	return value;
}

static uint32_t cfg_read(unsigned slot, unsigned offset, unsigned len)
{
	return cfg_read_at(0, slot, 0, offset, len);
}

static void cfg_write(unsigned slot, unsigned offset, unsigned len, uint32_t value)
{
	select_function(0, slot, 0, offset);
	ck_assert(bus_write(&pio, 0xcfc + (offset & 3), &value, len));
}

static uint32_t mmio_read32(uint64_t addr, bool *claimed)
{
	uint32_t value = 0;
	*claimed = bus_read(&mmio, addr, &value, 4);
	return value;
}

START_TEST(test_host_bridge_identity)
{
	ck_assert_uint_eq(cfg_read(0, 0x00, 4),
			  (uint32_t)IOVIRT_HOST_BRIDGE_DEVICE_ID << 16 | IOVIRT_PCI_VENDOR_ID);
	ck_assert_uint_eq(cfg_read(0, 0x08, 4) >> 8, 0x060000);
	ck_assert_uint_eq(cfg_read(0, PCI_CFG_HEADER_TYPE, 1), 0);
	ck_assert_ptr_eq(pci_root_device(root, 0), &root->host_bridge);
}
END_TEST

START_TEST(test_config_access_sizes)
{
	struct fake_dev f;
	fake_init(&f, PCI_INTX_A);
	ck_assert_int_eq(pci_device_register(root, &f.pci, 3), 0);

	ck_assert_uint_eq(cfg_read(3, 0x00, 4), 0xabcd1234u);
	ck_assert_uint_eq(cfg_read(3, 0x00, 2), 0x1234);
	ck_assert_uint_eq(cfg_read(3, 0x02, 2), 0xabcd);
	ck_assert_uint_eq(cfg_read(3, 0x00, 1), 0x34);
	ck_assert_uint_eq(cfg_read(3, 0x01, 1), 0x12);
	ck_assert_uint_eq(cfg_read(3, 0x02, 1), 0xcd);
	ck_assert_uint_eq(cfg_read(3, 0x03, 1), 0xab);
	ck_assert_uint_eq(cfg_read(3, 0x08, 4), 0x01080207u);
	ck_assert_uint_eq(cfg_read(3, 0x2c, 4), 0x9abc5678u);

	/* Byte write at 0xCFC (cache line size), read back by word and dword. */
	cfg_write(3, PCI_CFG_CACHE_LINE, 1, 0x10);
	ck_assert_uint_eq(cfg_read(3, PCI_CFG_CACHE_LINE, 2), 0x0010);
	/* Byte write at 0xCFC into the interrupt line; the pin beside it stays. */
	cfg_write(3, PCI_CFG_INT_LINE, 1, 0x0b);
	ck_assert_uint_eq(cfg_read(3, PCI_CFG_INT_LINE, 4) & 0xffff, 0x010b);
	/* Word write at 0xCFC (command), dword write of a BAR. */
	cfg_write(3, PCI_CFG_COMMAND, 2, PCI_COMMAND_BUS_MASTER);
	ck_assert_uint_eq(cfg_read(3, PCI_CFG_COMMAND, 2), PCI_COMMAND_BUS_MASTER);
	cfg_write(3, PCI_CFG_BAR0, 4, 0xd0000000u);
	ck_assert_uint_eq(cfg_read(3, PCI_CFG_BAR0, 4), 0xd0000000u);
	/* Word write at 0xCFE lands in the upper half of the dword. */
	cfg_write(3, PCI_CFG_BAR0 + 2, 2, 0xd123);
	ck_assert_uint_eq(cfg_read(3, PCI_CFG_BAR0, 4), 0xd1230000u);
	/* Byte write at 0xCFD. */
	cfg_write(3, PCI_CFG_BAR0 + 1, 1, 0x50);
	ck_assert_uint_eq(cfg_read(3, PCI_CFG_BAR0, 4), 0xd1235000u);

	/* The address register reads back with reserved bits dropped. */
	uint32_t address = 0xff00180fu | 0x80000000u, back = 0;
	ck_assert(bus_write(&pio, 0xcf8, &address, 4));
	ck_assert(bus_read(&pio, 0xcf8, &back, 4));
	ck_assert_uint_eq(back, 0x8000180cu);
	/* Only a dword access at 0xCF8 is the address register. */
	uint8_t byte = 0;
	ck_assert(bus_write(&pio, 0xcf8, &byte, 1));
	ck_assert(bus_read(&pio, 0xcf8, &back, 4));
	ck_assert_uint_eq(back, 0x8000180cu);

	/* Config accesses count as PIO exits of the function they reach. */
	uint64_t exits = counter_get(&f.counters.pio_exits);
	cfg_read(3, 0x00, 4);
	cfg_write(3, PCI_CFG_CACHE_LINE, 1, 0x20);
	cfg_read(7, 0x00, 4);
	ck_assert_uint_eq(counter_get(&f.counters.pio_exits), exits + 2);
	pci_device_fini(&f.pci);
}
END_TEST

START_TEST(test_absent_functions_read_all_ones)
{
	struct fake_dev f;
	fake_init(&f, PCI_INTX_NONE);
	ck_assert_int_eq(pci_device_register(root, &f.pci, 3), 0);

	ck_assert_uint_eq(cfg_read(7, 0x00, 4), 0xffffffffu);
	ck_assert_uint_eq(cfg_read(7, 0x02, 2), 0xffff);
	ck_assert_uint_eq(cfg_read(7, 0x03, 1), 0xff);
	ck_assert_uint_eq(cfg_read_at(0, 3, 1, 0x00, 4), 0xffffffffu);   /* function 1 */
	ck_assert_uint_eq(cfg_read_at(1, 3, 0, 0x00, 4), 0xffffffffu);   /* bus 1 */
	ck_assert_uint_eq(cfg_read_at(0, 3, 0, 0x00, 4), 0xabcd1234u);

	/* Enable bit clear: nothing answers. */
	uint32_t address = config_address(0, 3, 0, 0) & ~0x80000000u, value = 0;
	ck_assert(bus_write(&pio, 0xcf8, &address, 4));
	ck_assert(bus_read(&pio, 0xcfc, &value, 4));
	ck_assert_uint_eq(value, 0xffffffffu);
	/* Writes through a disabled address, or to an absent function, go nowhere. */
	address = config_address(0, 3, 0, PCI_CFG_COMMAND) & ~0x80000000u;
	uint32_t command = PCI_COMMAND_BUS_MASTER;
	ck_assert(bus_write(&pio, 0xcf8, &address, 4));
	ck_assert(bus_write(&pio, 0xcfc, &command, 2));
	ck_assert_uint_eq(cfg_read(3, PCI_CFG_COMMAND, 2), 0);
	select_function(0, 3, 1, PCI_CFG_COMMAND);
	ck_assert(bus_write(&pio, 0xcfc, &command, 2));
	ck_assert_uint_eq(cfg_read(3, PCI_CFG_COMMAND, 2), 0);
	/* A data access that runs past 0xCFF is not the data port's. */
	select_function(0, 3, 0, 0);
	uint16_t word = 0;
	ck_assert(!bus_read(&pio, 0xcff, &word, 2));
	ck_assert_uint_eq(word, 0xffff);
	pci_device_fini(&f.pci);
}
END_TEST

START_TEST(test_bar_sizing)
{
	struct fake_dev f;
	fake_init(&f, PCI_INTX_NONE);
	ck_assert_int_eq(pci_device_register(root, &f.pci, 2), 0);
	const uint32_t expect[PCI_NUM_BARS] = {
		0xfffff000u,          /* 4 KiB, 32-bit, non-prefetchable */
		0,                    /* unused */
		0xffffc00cu,          /* 16 KiB, 64-bit, prefetchable */
		0xffffffffu,          /* its upper half */
		0x0000ffe1u,          /* 32 ports, 16-bit decode */
		0,
	};
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		unsigned reg = PCI_CFG_BAR0 + 4 * i;
		uint32_t saved = cfg_read(2, reg, 4);
		cfg_write(2, reg, 4, 0xffffffffu);
		ck_assert_msg(cfg_read(2, reg, 4) == expect[i], "BAR%u sized 0x%x, expected 0x%x", i,
			      cfg_read(2, reg, 4), expect[i]);
		cfg_write(2, reg, 4, saved);
		ck_assert_uint_eq(cfg_read(2, reg, 4), saved);
	}
	/* No expansion ROM: its BAR sizes to zero. */
	cfg_write(2, PCI_CFG_ROM, 4, 0xffffffffu);
	ck_assert_uint_eq(cfg_read(2, PCI_CFG_ROM, 4), 0);
	/* The type bits survive an address write. */
	cfg_write(2, PCI_CFG_BAR0 + 8, 4, 0xe0000000u);
	ck_assert_uint_eq(cfg_read(2, PCI_CFG_BAR0 + 8, 4), 0xe000000cu);
	cfg_write(2, PCI_CFG_BAR0 + 16, 4, 0xd000u);
	ck_assert_uint_eq(cfg_read(2, PCI_CFG_BAR0 + 16, 4), 0xd001u);
	pci_device_fini(&f.pci);
}
END_TEST

START_TEST(test_bar_placement)
{
	struct fake_dev a, b;
	fake_init(&a, PCI_INTX_NONE);
	ck_assert_int_eq(pci_device_register(root, &a.pci, -1), 0);
	fake_init(&b, PCI_INTX_NONE);
	ck_assert_int_eq(pci_device_register(root, &b.pci, -1), 0);
	ck_assert_int_eq(a.pci.slot, 1);
	ck_assert_int_eq(b.pci.slot, 2);

	uint64_t ranges[6][2];
	unsigned n = 0;
	struct fake_dev *devs[2] = { &a, &b };
	for (unsigned d = 0; d < 2; d++) {
		for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
			const struct pci_bar *bar = &devs[d]->pci.bars[i];
			if (bar->type != PCI_BAR_MMIO32 && bar->type != PCI_BAR_MMIO64 &&
			    bar->type != PCI_BAR_PIO)
				continue;
			uint64_t addr = pci_device_bar_address(&devs[d]->pci, i);
			ck_assert_uint_eq(addr % bar->size, 0);
			if (bar->type == PCI_BAR_PIO) {
				ck_assert_uint_ge(addr, PCI_PIO_WINDOW_BASE);
				ck_assert_uint_le(addr + bar->size, PCI_PIO_WINDOW_END);
			} else {
				ck_assert_uint_ge(addr, GUEST_PCI_MMIO_BASE);
				ck_assert_uint_le(addr + bar->size, GUEST_PCI_MMIO_END);
			}
			ranges[n][0] = addr;
			ranges[n][1] = addr + bar->size;
			n++;
		}
	}
	ck_assert_uint_eq(n, 6);
	/* No two BARs of the same kind share an address. */
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = i + 1; j < n; j++)
			if ((i % 3 == 2) == (j % 3 == 2))
				ck_assert(ranges[i][1] <= ranges[j][0] || ranges[j][1] <= ranges[i][0]);
	/* The guest sees the placed address in config space. */
	ck_assert_uint_eq(cfg_read(1, PCI_CFG_BAR0, 4), (uint32_t)ranges[0][0]);
	pci_device_fini(&a.pci);
	pci_device_fini(&b.pci);
}
END_TEST

START_TEST(test_bar_reprogram_moves_region)
{
	struct fake_dev f;
	fake_init(&f, PCI_INTX_NONE);
	ck_assert_int_eq(pci_device_register(root, &f.pci, 5), 0);
	cfg_write(5, PCI_CFG_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	uint64_t old_addr = pci_device_bar_address(&f.pci, 0);
	bool claimed;
	ck_assert_uint_eq(mmio_read32(old_addr + 0x24, &claimed), 0xa5000024u);
	ck_assert(claimed);

	uint64_t new_addr = 0xd0000000u;
	cfg_write(5, PCI_CFG_BAR0, 4, (uint32_t)new_addr);
	mmio_read32(old_addr + 0x24, &claimed);
	ck_assert(!claimed);
	unsigned reads = f.reads;
	uint32_t value = 0x5a5a1234;
	ck_assert(bus_write(&mmio, new_addr + 0x10, &value, 4));
	ck_assert_uint_eq(f.writes, 1);
	ck_assert_uint_eq(f.last_bar, 0);
	ck_assert_uint_eq(f.last_offset, 0x10);
	ck_assert_uint_eq(f.last_value, 0x5a5a1234);
	ck_assert_uint_eq(reads, 1);

	/* The 64-bit BAR moves above 4 GiB once both halves are written. */
	uint64_t high = 0x2340000000ull;
	cfg_write(5, PCI_CFG_BAR0 + 8, 4, (uint32_t)high);
	cfg_write(5, PCI_CFG_BAR0 + 12, 4, (uint32_t)(high >> 32));
	ck_assert_uint_eq(pci_device_bar_address(&f.pci, 2), high);
	uint64_t wide = 0;
	ck_assert(bus_read(&mmio, high + 0x3ff8, &wide, 8));
	ck_assert_uint_eq(wide, 0x5a5a5a5aa5023ff8ull);
	ck_assert_uint_eq(f.last_len, 8);

	/* The PIO BAR moves too. */
	uint64_t old_port = pci_device_bar_address(&f.pci, 4);
	uint8_t byte = 0;
	ck_assert(bus_read(&pio, old_port + 3, &byte, 1));
	ck_assert_uint_eq(byte, 3);
	cfg_write(5, PCI_CFG_BAR0 + 16, 4, 0xe000);
	ck_assert(!bus_read(&pio, old_port + 3, &byte, 1));
	ck_assert(bus_read(&pio, 0xe000 + 5, &byte, 1));
	ck_assert_uint_eq(byte, 5);
	ck_assert_uint_eq(f.last_bar, 4);

	/* Onto a range someone else owns (the config ports): refused, counted. */
	uint64_t faults = counter_get(&f.counters.faults);
	cfg_write(5, PCI_CFG_BAR0 + 16, 4, 0x0ce0);
	ck_assert_uint_eq(counter_get(&f.counters.faults), faults + 1);
	ck_assert(!bus_read(&pio, 0xe000, &byte, 1));
	ck_assert_uint_eq(cfg_read(0, 0, 2), IOVIRT_PCI_VENDOR_ID);
	pci_device_fini(&f.pci);
}
END_TEST

START_TEST(test_command_register_gates_decoding)
{
	struct fake_dev f;
	fake_init(&f, PCI_INTX_NONE);
	ck_assert_int_eq(pci_device_register(root, &f.pci, 4), 0);
	uint64_t bar0 = pci_device_bar_address(&f.pci, 0);
	uint64_t port = pci_device_bar_address(&f.pci, 4);
	bool claimed;
	uint8_t byte;

	/* Decoding is off after registration. */
	mmio_read32(bar0, &claimed);
	ck_assert(!claimed);
	ck_assert(!bus_read(&pio, port, &byte, 1));

	cfg_write(4, PCI_CFG_COMMAND, 2, PCI_COMMAND_MEMORY);
	mmio_read32(bar0, &claimed);
	ck_assert(claimed);
	ck_assert(!bus_read(&pio, port, &byte, 1));

	cfg_write(4, PCI_CFG_COMMAND, 2, PCI_COMMAND_IO);
	mmio_read32(bar0, &claimed);
	ck_assert(!claimed);
	ck_assert(bus_read(&pio, port, &byte, 1));

	cfg_write(4, PCI_CFG_COMMAND, 2, 0);
	ck_assert(!bus_read(&pio, port, &byte, 1));
	ck_assert_uint_eq(f.reads, 2);

	/* Bus mastering is visible to the model, for DMA checks. */
	ck_assert(!pci_device_bus_master_enabled(&f.pci));
	cfg_write(4, PCI_CFG_COMMAND, 2, PCI_COMMAND_BUS_MASTER);
	ck_assert(pci_device_bus_master_enabled(&f.pci));
	cfg_write(4, PCI_CFG_COMMAND, 1, 0);
	ck_assert(!pci_device_bus_master_enabled(&f.pci));
	pci_device_fini(&f.pci);
}
END_TEST

START_TEST(test_capability_list_walk)
{
	struct fake_dev plain;
	fake_init(&plain, PCI_INTX_NONE);
	ck_assert_int_eq(pci_device_register(root, &plain.pci, 1), 0);
	ck_assert_uint_eq(cfg_read(1, PCI_CFG_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
	ck_assert_uint_eq(cfg_read(1, PCI_CFG_CAP_PTR, 1), 0);

	struct fake_dev f;
	fake_init(&f, PCI_INTX_NONE);
	const uint8_t ids[3] = { PCI_CAP_ID_VENDOR, 0x05, 0x10 };
	const unsigned lens[3] = { 6, 10, 0x14 };
	int offsets[3];
	for (unsigned i = 0; i < 3; i++) {
		offsets[i] = pci_device_add_capability(&f.pci, ids[i], lens[i]);
		ck_assert_int_ge(offsets[i], PCI_CFG_FIRST_CAP);
	}
	ck_assert_int_eq(pci_device_register(root, &f.pci, 2), 0);
	ck_assert_int_eq(pci_device_add_capability(&f.pci, 0x09, 4), -1); /* too late */

	ck_assert_uint_ne(cfg_read(2, PCI_CFG_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
	unsigned at = cfg_read(2, PCI_CFG_CAP_PTR, 1), seen = 0;
	unsigned prev_end = PCI_CFG_FIRST_CAP;
	while (at != 0) {
		ck_assert_uint_lt(seen, 3);
		ck_assert_uint_eq(at % 4, 0);
		ck_assert_uint_ge(at, prev_end);        /* no overlap with the one before */
		ck_assert_uint_eq(at, (unsigned)offsets[seen]);
		ck_assert_uint_eq(cfg_read(2, at, 1), ids[seen]);
		prev_end = at + lens[seen];
		at = cfg_read(2, at + 1, 1);
		seen++;
	}
	ck_assert_uint_eq(seen, 3);
	/* Capability bytes are read-only unless their owner opens them. */
	cfg_write(2, (unsigned)offsets[0], 4, 0xffffffffu);
	ck_assert_uint_eq(cfg_read(2, (unsigned)offsets[0], 2), (unsigned)offsets[1] << 8 | ids[0]);

	/* A capability that does not fit is refused. */
	struct fake_dev g;
	fake_init(&g, PCI_INTX_NONE);
	ck_assert_int_eq(pci_device_add_capability(&g.pci, 0x09, 0xc0), 0x40);
	ck_assert_int_eq(pci_device_add_capability(&g.pci, 0x09, 4), -1);
	ck_assert_int_eq(pci_device_add_capability(&g.pci, 0x09, 1), -1);
	pci_device_fini(&g.pci);
	pci_device_fini(&f.pci);
	pci_device_fini(&plain.pci);
}
END_TEST

START_TEST(test_read_only_registers)
{
	struct fake_dev f;
	fake_init(&f, PCI_INTX_B);
	ck_assert_int_eq(pci_device_add_capability(&f.pci, PCI_CAP_ID_VENDOR, 8), 0x40);
	ck_assert_int_eq(pci_device_register(root, &f.pci, 6), 0);
	uint32_t before[64];
	for (unsigned i = 0; i < 64; i++)
		before[i] = cfg_read(6, i * 4, 4);

	cfg_write(6, 0x00, 4, 0xffffffffu);      /* IDs */
	cfg_write(6, 0x08, 4, 0xffffffffu);      /* revision, class */
	cfg_write(6, 0x0c, 4, 0xffffffffu);      /* cache line RW; latency, header, BIST RO */
	cfg_write(6, 0x2c, 4, 0xffffffffu);      /* subsystem */
	cfg_write(6, 0x34, 4, 0xffffffffu);      /* capability pointer */
	cfg_write(6, PCI_CFG_INT_PIN, 1, 0x4);   /* pin */
	cfg_write(6, PCI_CFG_STATUS, 2, 0xffff); /* status: RO and clear-on-one bits */
	ck_assert_uint_eq(cfg_read(6, 0x00, 4), before[0]);
	ck_assert_uint_eq(cfg_read(6, 0x08, 4), before[2]);
	ck_assert_uint_eq(cfg_read(6, 0x0c, 4), (before[3] & ~0xffu) | 0xff);
	ck_assert_uint_eq(cfg_read(6, 0x2c, 4), before[11]);
	ck_assert_uint_eq(cfg_read(6, 0x34, 4), before[13]);
	ck_assert_uint_eq(cfg_read(6, PCI_CFG_INT_PIN, 1), PCI_INTX_B);
	ck_assert_uint_eq(cfg_read(6, PCI_CFG_STATUS, 2), PCI_STATUS_CAP_LIST);

	/* Only the command bits the device implements stick. */
	cfg_write(6, PCI_CFG_COMMAND, 2, 0xffff);
	ck_assert_uint_eq(cfg_read(6, PCI_CFG_COMMAND, 2),
			  PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER |
			  PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	/* Unused BARs and the rest of the header stay zero. */
	cfg_write(6, PCI_CFG_BAR0 + 4, 4, 0x12345678u);
	cfg_write(6, PCI_CFG_BAR0 + 20, 4, 0x12345678u);
	cfg_write(6, 0x28, 4, 0x12345678u);
	cfg_write(6, 0xfc, 4, 0x12345678u);
	ck_assert_uint_eq(cfg_read(6, PCI_CFG_BAR0 + 4, 4), 0);
	ck_assert_uint_eq(cfg_read(6, PCI_CFG_BAR0 + 20, 4), 0);
	ck_assert_uint_eq(cfg_read(6, 0x28, 4), 0);
	ck_assert_uint_eq(cfg_read(6, 0xfc, 4), 0);
	pci_device_fini(&f.pci);
}
END_TEST

/* A pass-through-style hook: owns 0x40..0x4f, leaves the rest to the core,
 * and counts every access it is shown. */
static unsigned hook_reads, hook_writes;
static uint32_t hook_last_write;

static bool hook_read(struct pci_device *dev, unsigned offset, unsigned len, uint32_t *value)
{
	(void)dev;
	hook_reads++;
	if (offset < 0x40 || offset >= 0x50)
		return false;
	*value = (0xc0ffee00u | offset) & (len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1);
	return true;
}

static bool hook_write(struct pci_device *dev, unsigned offset, unsigned len, uint32_t value)
{
	hook_writes++;
	if (offset >= 0x40 && offset < 0x50) {
		hook_last_write = value;
		return true;
	}
	if (offset == PCI_CFG_CACHE_LINE) {
		/* Handled, but through the emulated space (as VFIO would for BARs). */
		pci_config_emulated_write(dev, offset, len, value ^ 0x01);
		return true;
	}
	return false;
}

static const struct pci_config_hooks test_hooks = { .read = hook_read, .write = hook_write };

START_TEST(test_config_hooks_see_every_access)
{
	struct fake_dev f;
	fake_init(&f, PCI_INTX_NONE);
	pci_device_set_config_hooks(&f.pci, &test_hooks);
	ck_assert_int_eq(pci_device_register(root, &f.pci, 9), 0);
	hook_reads = hook_writes = 0;

	ck_assert_uint_eq(cfg_read(9, 0x44, 4), 0xc0ffee44u);
	ck_assert_uint_eq(cfg_read(9, 0x48, 1), 0x48);
	ck_assert_uint_eq(cfg_read(9, 0x00, 4), 0xabcd1234u);   /* fell through */
	cfg_write(9, 0x4c, 4, 0x600dcafe);
	ck_assert_uint_eq(hook_last_write, 0x600dcafe);
	cfg_write(9, PCI_CFG_CACHE_LINE, 1, 0x20);
	ck_assert_uint_eq(cfg_read(9, PCI_CFG_CACHE_LINE, 1), 0x21);
	cfg_write(9, PCI_CFG_COMMAND, 2, PCI_COMMAND_MEMORY);   /* fell through */
	ck_assert_uint_eq(cfg_read(9, PCI_CFG_COMMAND, 2), PCI_COMMAND_MEMORY);
	ck_assert_uint_eq(hook_reads, 5);
	ck_assert_uint_eq(hook_writes, 3);
	pci_device_fini(&f.pci);
}
END_TEST

START_TEST(test_intx)
{
	struct fake_dev f;
	fake_init(&f, PCI_INTX_A);
	ck_assert_int_eq(pci_device_register(root, &f.pci, 3), 0);
	ck_assert_uint_eq(cfg_read(3, PCI_CFG_INT_PIN, 1), 1);
	ck_assert_uint_eq(cfg_read(3, PCI_CFG_INT_LINE, 1), 16 + (3 + 0) % 4);

	uint32_t calls = irq->intx_level_calls;
	pci_device_set_intx(&f.pci, true);
	ck_assert_uint_eq(irq->intx_level_calls, calls + 1);
	ck_assert_uint_ne(cfg_read(3, PCI_CFG_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	ck_assert_uint_eq(counter_get(&f.counters.interrupts), 1);
	pci_device_set_intx(&f.pci, true);          /* already high: no second ioctl */
	ck_assert_uint_eq(irq->intx_level_calls, calls + 1);

	/* INTx Disable drops the line; the status bit still shows the device's level. */
	cfg_write(3, PCI_CFG_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
	ck_assert_uint_eq(irq->intx_level_calls, calls + 2);
	ck_assert_uint_ne(cfg_read(3, PCI_CFG_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	pci_device_set_intx(&f.pci, false);
	ck_assert_uint_eq(irq->intx_level_calls, calls + 2);
	ck_assert_uint_eq(cfg_read(3, PCI_CFG_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	pci_device_set_intx(&f.pci, true);
	ck_assert_uint_eq(irq->intx_level_calls, calls + 2);
	cfg_write(3, PCI_CFG_COMMAND, 2, 0);        /* re-enabled while asserted */
	ck_assert_uint_eq(irq->intx_level_calls, calls + 3);
	ck_assert_uint_eq(counter_get(&f.counters.interrupts), 2);
	pci_device_set_intx(&f.pci, false);
	ck_assert_uint_eq(irq->intx_level_calls, calls + 4);

	/* The swizzle: slot 4 pin B lands on 16 + (4 + 1) % 4. */
	struct fake_dev g;
	fake_init(&g, PCI_INTX_B);
	ck_assert_int_eq(pci_device_register(root, &g.pci, 4), 0);
	ck_assert_uint_eq(cfg_read(4, PCI_CFG_INT_LINE, 1), 17);
	ck_assert_uint_eq(g.pci.intx_gsi, 17);
	pci_device_fini(&g.pci);
	pci_device_fini(&f.pci);
}
END_TEST

START_TEST(test_register_errors)
{
	struct fake_dev a, b;
	fake_init(&a, PCI_INTX_NONE);
	ck_assert_int_eq(pci_device_register(root, &a.pci, 0), -1);    /* host bridge's */
	ck_assert_int_eq(pci_device_register(root, &a.pci, 32), -1);
	ck_assert_int_eq(pci_device_register(root, &a.pci, 8), 0);
	ck_assert_int_eq(pci_device_register(root, &a.pci, 9), -1);    /* already in */
	fake_init(&b, PCI_INTX_NONE);
	ck_assert_int_eq(pci_device_register(root, &b.pci, 8), -1);    /* taken */
	ck_assert_int_eq(pci_device_register(root, &b.pci, -1), 0);
	ck_assert_int_eq(b.pci.slot, 1);
	ck_assert_int_eq(pci_device_add_bar(&b.pci, 1, PCI_BAR_MMIO32, 0x1000, false, NULL, NULL), -1);

	struct pci_device d;
	pci_device_init(&d, "bad-bars", &fake_id, NULL);
	ck_assert_int_eq(pci_device_add_bar(&d, 0, PCI_BAR_MMIO32, 0x1800, false, NULL, NULL), -1);
	ck_assert_int_eq(pci_device_add_bar(&d, 0, PCI_BAR_MMIO32, 8, false, NULL, NULL), -1);
	ck_assert_int_eq(pci_device_add_bar(&d, 5, PCI_BAR_MMIO64, 0x1000, false, NULL, NULL), -1);
	ck_assert_int_eq(pci_device_add_bar(&d, 6, PCI_BAR_MMIO32, 0x1000, false, NULL, NULL), -1);
	ck_assert_int_eq(pci_device_add_bar(&d, 0, PCI_BAR_PIO, 512, false, NULL, NULL), -1);
	ck_assert_int_eq(pci_device_add_bar(&d, 0, PCI_BAR_PIO, 16, true, NULL, NULL), -1);
	ck_assert_int_eq(pci_device_add_bar(&d, 0, PCI_BAR_MMIO64, 0x1000, false, NULL, NULL), 0);
	ck_assert_int_eq(pci_device_add_bar(&d, 1, PCI_BAR_MMIO32, 0x1000, false, NULL, NULL), -1);
	/* A BAR larger than the whole window cannot be placed. */
	ck_assert_int_eq(pci_device_add_bar(&d, 2, PCI_BAR_MMIO64, 1ull << 32, false, NULL, NULL), 0);
	ck_assert_int_eq(pci_device_register(root, &d, -1), -1);
	ck_assert_ptr_null(d.root);
	pci_device_fini(&d);

	/* Unregistering frees the slot and the BARs' bus ranges. */
	cfg_write(8, PCI_CFG_COMMAND, 2, PCI_COMMAND_MEMORY);
	uint64_t bar0 = pci_device_bar_address(&a.pci, 0);
	bool claimed;
	mmio_read32(bar0, &claimed);
	ck_assert(claimed);
	pci_device_unregister(&a.pci);
	mmio_read32(bar0, &claimed);
	ck_assert(!claimed);
	ck_assert_ptr_null(pci_root_device(root, 8));
	ck_assert_uint_eq(cfg_read(8, 0, 4), 0xffffffffu);
	pci_device_fini(&a.pci);
	pci_device_fini(&b.pci);
}
END_TEST

START_TEST(test_reset_and_saved_state)
{
	struct fake_dev f;
	fake_init(&f, PCI_INTX_A);
	ck_assert_int_eq(pci_device_register(root, &f.pci, 3), 0);
	uint64_t placed = pci_device_bar_address(&f.pci, 0);
	cfg_write(3, PCI_CFG_BAR0, 4, 0xd0000000u);
	cfg_write(3, PCI_CFG_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_BUS_MASTER);
	cfg_write(3, PCI_CFG_INT_LINE, 1, 0x0a);

	struct device_state_buf saved = { 0 };
	ck_assert_int_eq(pci_device_save_state(&f.pci, &saved), 0);

	pci_device_reset(&f.pci);
	ck_assert_uint_eq(pci_device_bar_address(&f.pci, 0), placed);
	ck_assert_uint_eq(cfg_read(3, PCI_CFG_COMMAND, 2), 0);
	ck_assert_uint_eq(cfg_read(3, PCI_CFG_INT_LINE, 1), 19);
	ck_assert(!pci_device_bus_master_enabled(&f.pci));
	bool claimed;
	mmio_read32(0xd0000000u, &claimed);
	ck_assert(!claimed);

	ck_assert_int_eq(pci_device_load_state(&f.pci, &saved), 0);
	ck_assert_uint_eq(pci_device_bar_address(&f.pci, 0), 0xd0000000u);
	ck_assert_uint_eq(cfg_read(3, PCI_CFG_INT_LINE, 1), 0x0a);
	ck_assert(pci_device_bus_master_enabled(&f.pci));
	ck_assert_uint_eq(mmio_read32(0xd0000000u + 8, &claimed), 0xa5000008u);
	ck_assert(claimed);

	/* A doctored image cannot change read-only bits; a truncated one fails. */
	saved.pos = 0;
	saved.data[8 + 0x0e] = 0x80;       /* header type, after the 8-byte header */
	ck_assert_int_eq(pci_device_load_state(&f.pci, &saved), 0);
	ck_assert_uint_eq(cfg_read(3, PCI_CFG_HEADER_TYPE, 1), 0);
	saved.pos = 0;
	saved.len = 100;
	ck_assert_int_eq(pci_device_load_state(&f.pci, &saved), -1);
	device_state_free(&saved);
	pci_device_fini(&f.pci);
}
END_TEST

static Suite *pci_suite(void)
{
	Suite *s = suite_create("pci");
	TCase *tc = tcase_create("config");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_host_bridge_identity);
	tcase_add_test(tc, test_config_access_sizes);
	tcase_add_test(tc, test_absent_functions_read_all_ones);
	tcase_add_test(tc, test_bar_sizing);
	tcase_add_test(tc, test_bar_placement);
	tcase_add_test(tc, test_bar_reprogram_moves_region);
	tcase_add_test(tc, test_command_register_gates_decoding);
	tcase_add_test(tc, test_capability_list_walk);
	tcase_add_test(tc, test_read_only_registers);
	tcase_add_test(tc, test_config_hooks_see_every_access);
	tcase_add_test(tc, test_intx);
	tcase_add_test(tc, test_register_errors);
	tcase_add_test(tc, test_reset_and_saved_state);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(pci_suite)
