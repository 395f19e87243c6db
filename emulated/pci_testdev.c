/* The iovirt PCI test device (`--device testdev`): a register page in BAR0
 * that raises interrupts on request, MSI-X in BAR1, INTx pin A when MSI-X is
 * off. The test guest uses it to check the PCI and interrupt paths end to end.
 * IDs and register offsets are in guest/abi.h. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/device.h"
#include "core/log.h"
#include "core/pci.h"
#include "core/pci_msix.h"
#include "core/vm.h"
#include "guest/abi.h"

#define TESTDEV_REGS_SIZE     0x1000
#define TESTDEV_MSIX_BAR      1
#define TESTDEV_MSIX_BAR_SIZE 0x1000
#define TESTDEV_MSIX_TABLE    0x000
#define TESTDEV_MSIX_PBA      0x800
#define TESTDEV_CLASS         0xff0000u   /* "does not fit a defined class" */

#define TESTDEV_SAVE_MAGIC    0x56445354u /* "TSDV" */
#define TESTDEV_SAVE_VERSION  1

struct pci_testdev {
	struct pci_device pci;
	struct device_counters counters;
	atomic_uint fired_count;
	atomic_uint scratch;
};

/* FIRE_VECTOR: MSI-X when the guest enabled it, else INTx (level, held
 * until the guest acknowledges through TESTDEV_REG_INTX_ACK). */
static void testdev_fire(struct pci_testdev *td, uint32_t vector)
{
	if (vector >= TESTDEV_MSIX_VECTORS) {
		pci_device_fault(&td->pci, "FIRE_VECTOR %u: the device has vectors 0..%u", vector,
				 TESTDEV_MSIX_VECTORS - 1);
		return;
	}
	switch (pci_msix_notify(td->pci.msix, vector)) {
	case PCI_MSIX_FIRED:
	case PCI_MSIX_PENDING:
		break;
	case PCI_MSIX_NO_BUS_MASTER:
		pci_device_fault(&td->pci, "FIRE_VECTOR %u with bus mastering off: the MSI-X "
				 "message was not sent (set Bus Master in the command register)",
				 vector);
		return;
	case PCI_MSIX_DISABLED:
		pci_device_set_intx(&td->pci, true);
		break;
	case PCI_MSIX_BAD_VECTOR:
		return;   /* unreachable: checked above */
	}
	atomic_fetch_add(&td->fired_count, 1);
}

static bool testdev_access_ok(struct pci_testdev *td, uint64_t offset, uint32_t len, bool write)
{
	if (len == 4 && offset % 4 == 0)
		return true;
	pci_device_fault(&td->pci, "%u-byte register %s at 0x%llx refused (32-bit aligned only)",
			 len, write ? "write" : "read", (unsigned long long)offset);
	return false;
}

static void testdev_reg_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct pci_testdev *td = opaque;
	if (!testdev_access_ok(td, offset, len, false)) {
		memset(data, 0xff, len);
		return;
	}
	uint32_t value = 0;   /* unused offsets read zero */
	switch (offset) {
	case TESTDEV_REG_FIRED_COUNT:
		value = atomic_load(&td->fired_count);
		break;
	case TESTDEV_REG_SCRATCH:
		value = atomic_load(&td->scratch);
		break;
	case TESTDEV_REG_INTX_ACK:
		value = atomic_load(&td->pci.intx_asserted) ? 1 : 0;
		break;
	default:
		break;
	}
	memcpy(data, &value, 4);
}

static void testdev_reg_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct pci_testdev *td = opaque;
	if (!testdev_access_ok(td, offset, len, true))
		return;
	uint32_t value;
	memcpy(&value, data, 4);
	switch (offset) {
	case TESTDEV_REG_FIRE_VECTOR:
		testdev_fire(td, value);
		break;
	case TESTDEV_REG_SCRATCH:
		atomic_store(&td->scratch, value);
		break;
	case TESTDEV_REG_INTX_ACK:
		pci_device_set_intx(&td->pci, false);
		break;
	default:
		break;        /* read-only or unused: ignored */
	}
}

static const struct bus_region_ops testdev_reg_ops = {
	.read = testdev_reg_read,
	.write = testdev_reg_write,
};

static void testdev_free(struct pci_testdev *td)
{
	pci_device_fini(&td->pci);
	free(td);
}

static int testdev_parse_slot(const struct device_spec *spec, int *slot, char *err, size_t errlen)
{
	*slot = -1;
	for (unsigned i = 0; i < spec->noptions; i++) {
		const char *key = spec->options[i].key, *value = spec->options[i].value;
		if (strcmp(key, "slot") != 0) {
			snprintf(err, errlen, "%s: testdev has no option '%s' (it takes slot=1..%d)",
				 spec->text, key, PCI_SLOTS - 1);
			return -1;
		}
		char *end;
		errno = 0;
		long n = strtol(value, &end, 0);
		if (errno || *end || end == value || n < 1 || n >= PCI_SLOTS) {
			snprintf(err, errlen, "%s: slot=%s is not a PCI slot number (use 1..%d)",
				 spec->text, value, PCI_SLOTS - 1);
			return -1;
		}
		*slot = (int)n;
	}
	return 0;
}

static int testdev_realize(struct vm *vm, const struct device_spec *spec, void **state,
			   char *err, size_t errlen)
{
	int slot;
	if (testdev_parse_slot(spec, &slot, err, errlen) < 0)
		return -1;
	if (!vm->pci) {
		snprintf(err, errlen, "%s: this VM has no PCI bus", spec->text);
		return -1;
	}
	struct pci_testdev *td = calloc(1, sizeof(*td));
	if (!td) {
		snprintf(err, errlen, "%s: out of memory", spec->text);
		return -1;
	}
	const struct pci_device_id id = {
		.vendor = IOVIRT_PCI_VENDOR_ID, .device = IOVIRT_TESTDEV_DEVICE_ID,
		.subsystem_vendor = IOVIRT_PCI_VENDOR_ID, .subsystem = IOVIRT_TESTDEV_DEVICE_ID,
		.class_code = TESTDEV_CLASS, .revision = 1,
	};
	pci_device_init(&td->pci, "testdev", &id, &td->counters);
	pci_device_set_intx_pin(&td->pci, PCI_INTX_A);
	if (pci_device_add_bar(&td->pci, 0, PCI_BAR_MMIO32, TESTDEV_REGS_SIZE, false,
			       &testdev_reg_ops, td) < 0 ||
	    pci_device_add_bar(&td->pci, TESTDEV_MSIX_BAR, PCI_BAR_MMIO32, TESTDEV_MSIX_BAR_SIZE,
			       false, NULL, NULL) < 0 ||
	    !pci_msix_init(&td->pci, TESTDEV_MSIX_VECTORS, TESTDEV_MSIX_BAR, TESTDEV_MSIX_TABLE,
			   TESTDEV_MSIX_PBA)) {
		snprintf(err, errlen, "%s: could not build the device (see the message above)",
			 spec->text);
		testdev_free(td);
		return -1;
	}
	if (pci_device_register(vm->pci, &td->pci, slot) < 0) {
		snprintf(err, errlen, "%s: could not put the device on the PCI bus (see the message "
			 "above)", spec->text);
		testdev_free(td);
		return -1;
	}
	*state = td;
	return 0;
}

static void testdev_reset(void *state)
{
	struct pci_testdev *td = state;
	atomic_store(&td->fired_count, 0);
	atomic_store(&td->scratch, 0);
	pci_device_reset(&td->pci);
}

static int testdev_save_state(void *state, struct device_state_buf *out)
{
	struct pci_testdev *td = state;
	uint32_t words[4] = {
		TESTDEV_SAVE_MAGIC, TESTDEV_SAVE_VERSION,
		atomic_load(&td->fired_count), atomic_load(&td->scratch),
	};
	if (device_state_put(out, words, sizeof(words)) < 0)
		return -1;
	return pci_device_save_state(&td->pci, out);
}

static int testdev_load_state(void *state, struct device_state_buf *in)
{
	struct pci_testdev *td = state;
	uint32_t words[4];
	if (device_state_get(in, words, sizeof(words)) < 0 || words[0] != TESTDEV_SAVE_MAGIC ||
	    words[1] != TESTDEV_SAVE_VERSION) {
		log_error("testdev: saved state is truncated or not a testdev's (version %u expected)",
			  TESTDEV_SAVE_VERSION);
		return -1;
	}
	if (pci_device_load_state(&td->pci, in) < 0)
		return -1;
	atomic_store(&td->fired_count, words[2]);
	atomic_store(&td->scratch, words[3]);
	return 0;
}

static struct device_counters *testdev_stats(void *state)
{
	return &((struct pci_testdev *)state)->counters;
}

static void testdev_teardown(void *state)
{
	testdev_free(state);
}

static const struct device_model_ops pci_testdev_ops = {
	.function = "testdev",
	.model = "emulated",
	.summary = "iovirt PCI test device: MSI-X/INTx on request (guest/abi.h)",
	.realize = testdev_realize,
	.reset = testdev_reset,
	.save_state = testdev_save_state,
	.load_state = testdev_load_state,
	.stats = testdev_stats,
	.teardown = testdev_teardown,
};

DEVICE_MODEL_REGISTER(pci_testdev_ops)
