/* The contract between iovirt and its built-in test guest. Shared by the VMM
 * (core/guest_ctl.c) and the guest; only fixed-width types, no libc.
 *
 * Parameters travel on the PVH command line ("iovirt.test=msix ..."), so the
 * same guest runs under QEMU with -append. Results come back two ways: a
 * binary results block whose guest-physical address the guest reports on a
 * port, and "RESULT key=value" lines on the serial console (what QEMU runs
 * can read). "Done" is a byte written to the port of QEMU's isa-debug-exit
 * device, so under QEMU (-device isa-debug-exit) the same write ends QEMU. */
#ifndef IOVIRT_GUEST_ABI_H
#define IOVIRT_GUEST_ABI_H

#include <stdint.h>

/* Guest control ports (PIO). */
#define GUEST_CTL_PORT_BASE      0x500
#define GUEST_CTL_PORT_COUNT     0x10
#define GUEST_CTL_PORT_BOOTED    0x500  /* 32-bit out, first instruction: value GUEST_BOOT_MAGIC */
#define GUEST_CTL_PORT_DONE      0x501  /* 8-bit out: status (enum guest_status); isa-debug-exit's port */
#define GUEST_CTL_PORT_RESULTS_LO 0x504 /* 32-bit out: results block GPA, low half */
#define GUEST_CTL_PORT_RESULTS_HI 0x508 /* 32-bit out: high half; this write publishes it */
#define GUEST_CTL_PORT_PHASE     0x50C  /* 32-bit out: GUEST_PHASE_BEGIN / _END around the measured
					 * phase, so the VMM's per-I/O counts cover exactly it */
#define GUEST_PHASE_BEGIN 1u
#define GUEST_PHASE_END   2u

#define GUEST_BOOT_MAGIC    0x10B00700u
#define GUEST_RESULTS_MAGIC 0x52564F49u   /* "IOVR" */
#define GUEST_RESULTS_VERSION 2

enum guest_status {
	GUEST_STATUS_PASS = 0,
	GUEST_STATUS_FAIL = 1,       /* a check inside the guest failed */
	GUEST_STATUS_EXCEPTION = 2,  /* an unexpected CPU exception */
	GUEST_STATUS_BAD_PARAMS = 3, /* command line not understood */
};

/* Tests the guest knows (iovirt.test=NAME). */
#define GUEST_TEST_BOOT       "boot"       /* banner, PCI scan, done */
#define GUEST_TEST_MSIX       "msix"       /* MSI-X round trip with the iovirt test device */
#define GUEST_TEST_EXCEPTION  "exception"  /* a deliberate #UD, reported by the IDT handler */
#define GUEST_TEST_IDLE       "idle"       /* never done: for stop-path tests */
#define GUEST_TEST_TRIPLE_FAULT "triplefault" /* empty IDT + exception: the VMM reports a fatal error */

/* PCI identity of the iovirt test device (emulated/pci_testdev.c). BAR0 is a
 * 4 KiB MMIO register page; BAR1 holds the MSI-X table and PBA. */
#define IOVIRT_PCI_VENDOR_ID     0x1b36   /* Red Hat's QEMU range: not a real product */
#define IOVIRT_TESTDEV_DEVICE_ID 0x10f0
#define TESTDEV_REG_FIRE_VECTOR  0x00  /* 32-bit write: raise this MSI-X vector */
#define TESTDEV_REG_FIRED_COUNT  0x04  /* 32-bit read: vectors raised so far */
#define TESTDEV_REG_SCRATCH      0x08  /* 32-bit read/write scratch */
#define TESTDEV_REG_INTX_ACK     0x0c  /* 32-bit: reads 1 while INTx is asserted; a write deasserts it */
#define TESTDEV_MSIX_VECTORS     4

/* Console lines (added with the guest; plain "\n" line ends):
 *   "iovirt test guest: booted via PVH"   always the guest's first line
 *   "cmdline: <command line>"             always the second
 *   "PCI 00:dd.f vvvv:dddd class cccccc"  one per function found on bus 0
 *   "EXCEPTION vector=N error=0xE rip=0xR cpl=C" on a CPU exception (C: 0 or 3)
 *   "RESULT key=value"                    last, in this order: test, status
 *       (pass|fail|exception|bad_params), pci_functions, interrupts,
 *       exception_vector (only with status=exception), tsc_khz, tsc_cycles
 *       (tsc_at_done - tsc_at_entry), message (the rest of the line). */

#define GUEST_MESSAGE_LEN 128

/* Workloads: iovirt.test=disk or iovirt.test=nic run the shared workload
 * runner (guest/workload.c) over whichever driver finds its device. Keys on
 * the command line (defaults in brackets):
 *   iovirt.dev=auto|nvme|virtio-blk|e1000|virtio-net   device to use [auto: first found]
 *   iovirt.disk.pattern=randread|randwrite|seqread|seqwrite|verify [verify]
 *        verify: writes a distinct pattern to every block of the span, reads it
 *        all back and compares; the others measure and check what they read
 *        where the pattern is known
 *   iovirt.disk.bs=BYTES [4096]   iovirt.disk.qd=N [1]   iovirt.disk.span=BYTES [4 MiB]
 *   iovirt.disk.ops=N [1000]      iovirt.disk.ms=MS (run for a time instead of ops)
 *   iovirt.io.mode=irq|poll [irq]: completions by interrupt, or by polling
 *   iovirt.nic.pattern=echo|send [echo]: echo waits for each frame to come back
 *        (the loopback peer swaps MACs) and checks its payload
 *   iovirt.nic.size=BYTES [64]    iovirt.nic.count=N [1000]   iovirt.nic.ms=MS
 *   iovirt.nic.qd=N [1]: echo frames in flight, or send frames per kick
 *   iovirt.nvme.shadow=on: NVMe shadow doorbells when the controller has them
 *   iovirt.cpl=0|3 [0]: the privilege level of the measured driver loop. 3 runs
 *        it like a user-space driver inside the guest (probe stays in ring 0);
 *        on PVM hosts ring 3 runs natively but its exits cost more (guest/usermode.h).
 *        Reported as "RESULT cpl=N" and in guest_workload_results.cpl
 */
#define GUEST_TEST_DISK "disk"
#define GUEST_TEST_NIC  "nic"
#define GUEST_TEST_DMA_ESCAPE "dma-escape" /* hostile: disk DMA just past guest RAM must fail */
#define GUEST_TEST_USER_EXCEPTION "user-exception" /* ud2 in ring 3: reported with its CPL */

enum guest_device_kind {
	GUEST_DEVICE_NONE = 0,
	GUEST_DEVICE_NVME = 1,
	GUEST_DEVICE_VIRTIO_BLK = 2,
	GUEST_DEVICE_E1000 = 3,
	GUEST_DEVICE_VIRTIO_NET = 4,
};

/* Per-I/O latency histogram in TSC cycles, log-linear: 8 buckets per power of
 * two, so any value is placed within 12.5%; 256 buckets cover 2^32 cycles. */
#define GUEST_LAT_BUCKETS 256
#define GUEST_LAT_SUB_BITS 3

static inline unsigned guest_lat_bucket(uint64_t cycles)
{
	if (cycles < (1u << GUEST_LAT_SUB_BITS))
		return (unsigned)cycles;
	unsigned log2 = 63u - (unsigned)__builtin_clzll(cycles);
	unsigned sub = (unsigned)(cycles >> (log2 - GUEST_LAT_SUB_BITS)) & ((1u << GUEST_LAT_SUB_BITS) - 1);
	unsigned b = ((log2 - GUEST_LAT_SUB_BITS + 1) << GUEST_LAT_SUB_BITS) + sub;
	return b < GUEST_LAT_BUCKETS ? b : GUEST_LAT_BUCKETS - 1;
}

/* Smallest cycle count that falls in bucket b. */
static inline uint64_t guest_lat_bucket_floor(unsigned b)
{
	if (b < (1u << GUEST_LAT_SUB_BITS))
		return b;
	unsigned log2 = (b >> GUEST_LAT_SUB_BITS) + GUEST_LAT_SUB_BITS - 1;
	uint64_t sub = b & ((1u << GUEST_LAT_SUB_BITS) - 1);
	return (1ull << log2) | (sub << (log2 - GUEST_LAT_SUB_BITS));
}

struct guest_workload_results {
	uint32_t device_kind;        /* enum guest_device_kind */
	uint32_t queue_depth;
	uint32_t block_size;         /* disk: bytes per I/O; nic: frame bytes */
	uint32_t cpl;                /* ring the measured loop ran in (0 or 3) */
	uint64_t ops;                /* I/Os completed or frames echoed */
	uint64_t bytes;
	uint64_t errors;             /* I/Os the device failed */
	uint64_t verify_failures;    /* I/Os whose data did not match */
	uint64_t cycles;             /* TSC cycles of the measured phase */
	uint64_t interrupts;         /* device interrupts taken in the phase */
	uint64_t notifications;      /* doorbell writes / virtqueue kicks the driver made */
	uint32_t lat_hist[GUEST_LAT_BUCKETS];
};

struct guest_results {
	uint32_t magic;              /* GUEST_RESULTS_MAGIC */
	uint32_t version;            /* GUEST_RESULTS_VERSION */
	uint32_t status;             /* enum guest_status */
	uint32_t pci_functions;      /* functions found by the PCI scan */
	uint64_t tsc_at_entry;       /* TSC at the first C instruction */
	uint64_t tsc_at_done;
	uint64_t tsc_khz;            /* as the guest measured or was told; 0 if unknown */
	uint32_t exception_vector;   /* valid when status == GUEST_STATUS_EXCEPTION */
	uint32_t exception_error;
	uint64_t exception_rip;
	uint32_t interrupts;         /* MSI-X interrupts the guest handled */
	uint32_t reserved0;
	char message[GUEST_MESSAGE_LEN]; /* NUL-terminated, human readable */
	struct guest_workload_results workload; /* iovirt.test=disk|nic */
};

#endif
