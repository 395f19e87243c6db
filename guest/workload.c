/* The workload runner's shared parts: see guest/workload_runner.h. */
#include "guest/workload_runner.h"

#include <stddef.h>

#include "guest/cmdline.h"
#include "guest/io.h"
#include "guest/pci.h"
#include "guest/print.h"
#include "guest/string.h"
#include "guest/usermode.h"

/* Without a TSC rate, how many bounded waits / empty polls count as a stall.
 * Driver waits are bounded to a few ms, so 1000 waits is seconds. */
#define STALL_WAIT_ROUNDS 1000u
#define STALL_POLL_ROUNDS 50000000u

static char open_error[192];
/* iovirt.cpl: the ring workload_phase_begin() runs the measured loop in. */
static unsigned measured_cpl;

const char *workload_io_options_parse(const char *cmdline, const char *qd_key,
				      struct guest_io_options *opts)
{
	static char error[96];
	opts->mode = GUEST_IO_IRQ;
	opts->cmdline = cmdline;
	struct cmdline_value mode;
	if (cmdline_lookup(cmdline, "iovirt.io.mode", &mode)) {
		if (str_equal_n(mode.text, mode.len, "poll"))
			opts->mode = GUEST_IO_POLL;
		else if (!str_equal_n(mode.text, mode.len, "irq"))
			return "iovirt.io.mode must be irq or poll";
	}
	uint64_t qd;
	if (!cmdline_lookup_u64(cmdline, qd_key, 1, &qd) || qd == 0 || qd > 1024) {
		guest_snprintf(error, sizeof(error), "%s must be a number from 1 to 1024", qd_key);
		return error;
	}
	opts->queue_depth = (unsigned)qd;
	const char *why = usermode_cpl_parse(cmdline, &measured_cpl);
	if (why)
		return why;
	/* Ring 3's interrupt stack now, so entering it later cannot fail. */
	if (measured_cpl == 3 && !usermode_prepare())
		return "no guest memory left for the interrupt stack iovirt.cpl=3 needs";
	return NULL;
}

const char *workload_setup(const char *cmdline, const char *qd_key, struct pci_scan *scan,
			   struct guest_io_options *opts)
{
	pci_scan_bus0(scan);
	guest_results.pci_functions = scan->count;
	return workload_io_options_parse(cmdline, qd_key, opts);
}

/* Appends "name: reason" to open_error, separated by "; ". */
static void note_probe_failure(size_t *used, const char *name, const char *reason)
{
	if (*used >= sizeof(open_error) - 1)
		return;
	guest_snprintf(open_error + *used, sizeof(open_error) - *used, "%s%s: %s", *used ? "; " : "", name,
		       reason);
	*used += strlen(open_error + *used);
}

/* iovirt.dev as a driver name, or NULL for auto. */
static bool wanted_device(const char *cmdline, struct cmdline_value *dev)
{
	if (!cmdline_lookup(cmdline, "iovirt.dev", dev) || str_equal_n(dev->text, dev->len, "auto"))
		return false;
	return true;
}

const char *workload_disk_open(const char *cmdline, const struct pci_scan *scan,
			       const struct guest_io_options *opts, struct guest_disk *disk)
{
	struct cmdline_value dev;
	bool named = wanted_device(cmdline, &dev);
	size_t used = 0;
	open_error[0] = '\0';
	for (size_t i = 0; guest_disk_drivers[i]; i++) {
		const struct guest_disk_driver *drv = guest_disk_drivers[i];
		if (named && !str_equal_n(dev.text, dev.len, drv->name))
			continue;
		memset(disk, 0, sizeof(*disk));
		const char *why = drv->probe(scan, opts, disk);
		if (!why)
			return NULL;
		note_probe_failure(&used, drv->name, why);
	}
	if (used == 0) {
		guest_snprintf(open_error, sizeof(open_error), "no disk driver named iovirt.dev=%.*s",
			       named ? (int)dev.len : 4, named ? dev.text : "auto");
	}
	return open_error;
}

const char *workload_nic_open(const char *cmdline, const struct pci_scan *scan,
			      const struct guest_io_options *opts, struct guest_nic *nic)
{
	struct cmdline_value dev;
	bool named = wanted_device(cmdline, &dev);
	size_t used = 0;
	open_error[0] = '\0';
	for (size_t i = 0; guest_nic_drivers[i]; i++) {
		const struct guest_nic_driver *drv = guest_nic_drivers[i];
		if (named && !str_equal_n(dev.text, dev.len, drv->name))
			continue;
		memset(nic, 0, sizeof(*nic));
		const char *why = drv->probe(scan, opts, nic);
		if (!why)
			return NULL;
		note_probe_failure(&used, drv->name, why);
	}
	if (used == 0) {
		guest_snprintf(open_error, sizeof(open_error), "no NIC driver named iovirt.dev=%.*s",
			       named ? (int)dev.len : 4, named ? dev.text : "auto");
	}
	return open_error;
}

void workload_results_begin(enum guest_device_kind kind, unsigned queue_depth, uint32_t block_size)
{
	struct guest_workload_results *w = &guest_results.workload;
	memset(w, 0, sizeof(*w));
	w->device_kind = (uint32_t)kind;
	w->queue_depth = queue_depth;
	w->block_size = block_size;
}

void workload_stall_reset(struct workload_stall *s)
{
	s->start_tsc = rdtsc();
	s->rounds = 0;
}

bool workload_stall_expired(struct workload_stall *s, enum guest_io_mode mode)
{
	s->rounds++;
	uint64_t khz = guest_results.tsc_khz;
	if (khz)
		return rdtsc() - s->start_tsc > (uint64_t)WORKLOAD_STALL_MS * khz;
	return s->rounds > (mode == GUEST_IO_IRQ ? STALL_WAIT_ROUNDS : STALL_POLL_ROUNDS);
}

uint64_t workload_deadline_after_ms(uint64_t ms)
{
	uint64_t khz = guest_results.tsc_khz;
	if (!khz)
		return 0;
	return rdtsc() + ms * khz;
}

uint64_t workload_latency_percentile(unsigned percent)
{
	const struct guest_workload_results *w = &guest_results.workload;
	uint64_t total = 0;
	for (unsigned b = 0; b < GUEST_LAT_BUCKETS; b++)
		total += w->lat_hist[b];
	if (total == 0)
		return 0;
	/* The rank of the sample that is at or above `percent` of them. */
	uint64_t rank = (total * percent + 99) / 100;
	if (rank == 0)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned b = 0; b < GUEST_LAT_BUCKETS; b++) {
		seen += w->lat_hist[b];
		if (seen >= rank)
			return guest_lat_bucket_floor(b);
	}
	return guest_lat_bucket_floor(GUEST_LAT_BUCKETS - 1);
}

const char *workload_device_kind_name(enum guest_device_kind kind)
{
	switch (kind) {
	case GUEST_DEVICE_NVME:
		return "nvme";
	case GUEST_DEVICE_VIRTIO_BLK:
		return "virtio-blk";
	case GUEST_DEVICE_E1000:
		return "e1000";
	case GUEST_DEVICE_VIRTIO_NET:
		return "virtio-net";
	case GUEST_DEVICE_NONE:
		break;
	}
	return "none";
}

void workload_print_results(void)
{
	const struct guest_workload_results *w = &guest_results.workload;
	guest_printf("RESULT device=%s\n", workload_device_kind_name((enum guest_device_kind)w->device_kind));
	guest_printf("RESULT cpl=%u\n", w->cpl);
	guest_printf("RESULT qd=%u\n", w->queue_depth);
	guest_printf("RESULT bs=%u\n", w->block_size);
	guest_printf("RESULT ops=%lu\n", w->ops);
	guest_printf("RESULT bytes=%lu\n", w->bytes);
	guest_printf("RESULT errors=%lu\n", w->errors);
	guest_printf("RESULT verify_failures=%lu\n", w->verify_failures);
	guest_printf("RESULT cycles=%lu\n", w->cycles);
	guest_printf("RESULT device_interrupts=%lu\n", w->interrupts);
	guest_printf("RESULT notifications=%lu\n", w->notifications);
	uint64_t khz = guest_results.tsc_khz;
	if (khz && w->cycles) {
		/* ops * khz * 1000 stays below 2^64 for up to 10^9 ops at 10 GHz. */
		guest_printf("RESULT iops=%lu\n", w->ops * khz * 1000u / w->cycles);
	}
	if (w->ops) {
		guest_printf("RESULT p50_cycles=%lu\n", workload_latency_percentile(50));
		guest_printf("RESULT p99_cycles=%lu\n", workload_latency_percentile(99));
		guest_printf("RESULT max_cycles=%lu\n", workload_latency_percentile(100));
	}
}

/* The ring switches sit outside the markers, so the VMM's phase counts hold
 * only the loop. */
void workload_phase_begin(struct workload_phase *phase, const uint64_t *notifications,
			  const uint64_t *interrupts)
{
	phase->notifications = notifications;
	phase->interrupts = interrupts;
	phase->notifications_start = *notifications;
	phase->interrupts_start = *interrupts;
	if (measured_cpl == 3)
		usermode_enter();
	guest_results.workload.cpl = usermode_cpl();
	outl(GUEST_CTL_PORT_PHASE, GUEST_PHASE_BEGIN);
	phase->start_tsc = rdtsc();
}

void workload_phase_end(const struct workload_phase *phase)
{
	struct guest_workload_results *w = &guest_results.workload;
	w->cycles = rdtsc() - phase->start_tsc;
	outl(GUEST_CTL_PORT_PHASE, GUEST_PHASE_END);
	usermode_leave();
	w->notifications = *phase->notifications - phase->notifications_start;
	w->interrupts = *phase->interrupts - phase->interrupts_start;
}
