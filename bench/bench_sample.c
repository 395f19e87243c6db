/* One guest run turned into figures, and repetitions into median, min, max. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/guest_run.h"

const struct bench_metric_info bench_metrics[BENCH_METRIC_COUNT] = {
	[BENCH_IOPS] = { "iops", "IOPS", "1/s", false },
	[BENCH_MBPS] = { "mb_per_s", "MB/s", "MB/s", false },
	[BENCH_P50_US] = { "p50_us", "p50", "us", false },
	[BENCH_P99_US] = { "p99_us", "p99", "us", false },
	[BENCH_P999_US] = { "p999_us", "p99.9", "us", false },
	[BENCH_USER_EXITS] = { "user_exits_per_io", "exits", "per I/O", true },
	[BENCH_DEVICE_PIO] = { "device_pio_exits_per_io", "dev PIO", "per I/O", true },
	[BENCH_DEVICE_MMIO] = { "device_mmio_exits_per_io", "dev MMIO", "per I/O", true },
	[BENCH_KERNEL_EXITS] = { "kernel_exits_per_io", "kvm exits", "per I/O", true },
	[BENCH_KICKS] = { "ioeventfd_kicks_per_io", "kicks", "per I/O", true },
	[BENCH_INTERRUPTS] = { "interrupts_per_io", "irqs", "per I/O", true },
	[BENCH_VMM_CPU_US] = { "vmm_cpu_us_per_io", "VMM us", "us per I/O", true },
	[BENCH_NOTIFICATIONS] = { "guest_notifications_per_io", "notifs", "per I/O", true },
};

/* The histogram bucket holding the percentile, reported at its midpoint:
 * buckets are 1/8 of an octave wide, so this is within ~6%. */
double bench_hist_percentile(const uint64_t *hist, double percent)
{
	uint64_t total = 0;
	for (unsigned b = 0; b < GUEST_LAT_BUCKETS; b++)
		total += hist[b];
	if (total == 0)
		return 0;
	double rank = ceil(total * percent / 100.0);
	uint64_t seen = 0;
	for (unsigned b = 0; b < GUEST_LAT_BUCKETS; b++) {
		seen += hist[b];
		if (hist[b] && (double)seen >= rank) {
			double lo = (double)guest_lat_bucket_floor(b);
			double hi = b + 1 < GUEST_LAT_BUCKETS ? (double)guest_lat_bucket_floor(b + 1) : lo;
			return (lo + hi) / 2;
		}
	}
	return 0;
}

void bench_sample_from_outcome(const struct guest_run_outcome *o, struct bench_sample *s,
			       uint64_t lat_hist_out[GUEST_LAT_BUCKETS])
{
	memset(s, 0, sizeof(*s));
	const struct guest_workload_results *w = &o->results.workload;
	double khz = (double)o->results.tsc_khz;
	if (o->reason != VM_STOP_GUEST_DONE || o->guest_status != GUEST_STATUS_PASS || !o->have_results ||
	    w->ops == 0 || w->cycles == 0 || khz <= 0)
		return;
	s->ok = true;
	double ops = (double)w->ops;
	double seconds = (double)w->cycles / (khz * 1000.0);
	double us_per_cycle = 1000.0 / khz;
	uint64_t hist[GUEST_LAT_BUCKETS];
	for (unsigned b = 0; b < GUEST_LAT_BUCKETS; b++) {
		hist[b] = w->lat_hist[b];
		if (lat_hist_out)
			lat_hist_out[b] += w->lat_hist[b];
	}
	s->value[BENCH_IOPS] = ops / seconds;
	s->value[BENCH_MBPS] = (double)w->bytes / seconds / 1e6;
	s->value[BENCH_P50_US] = bench_hist_percentile(hist, 50) * us_per_cycle;
	s->value[BENCH_P99_US] = bench_hist_percentile(hist, 99) * us_per_cycle;
	s->value[BENCH_P999_US] = bench_hist_percentile(hist, 99.9) * us_per_cycle;
	s->value[BENCH_INTERRUPTS] = (double)w->interrupts / ops;
	s->value[BENCH_NOTIFICATIONS] = (double)w->notifications / ops;
	if (o->have_phase) {
		const struct run_counters *p = &o->phase;
		struct device_counter_values d;
		run_counters_device_total(p, &d);
		s->value[BENCH_USER_EXITS] = (double)p->vcpu.exits / ops;
		s->value[BENCH_DEVICE_PIO] = (double)d.pio_exits / ops;
		s->value[BENCH_DEVICE_MMIO] = (double)d.mmio_exits / ops;
		s->value[BENCH_KERNEL_EXITS] = (double)p->kernel.exits / ops;
		s->value[BENCH_KICKS] = (double)d.ioeventfd_kicks / ops;
		/* Interrupts the device raised, where the VMM raises them; a
		 * passed-through device interrupts the guest without the VMM (the
		 * guest's own count stands), and so does a device the VMM saw no
		 * request of. */
		if (d.requests || d.interrupts)
			s->value[BENCH_INTERRUPTS] = (double)d.interrupts / ops;
		s->value[BENCH_VMM_CPU_US] = (double)(p->vcpu.handling_ns + p->io_thread_cpu_ns) / 1e3 / ops;
	}
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

void bench_cell_summarize(struct bench_cell *cell)
{
	for (unsigned m = 0; m < BENCH_METRIC_COUNT; m++) {
		double v[BENCH_MAX_REPS];
		unsigned n = 0;
		for (unsigned i = 0; i < cell->nsamples; i++)
			if (cell->samples[i].ok)
				v[n++] = cell->samples[i].value[m];
		struct bench_stat st = { 0 };
		if (n) {
			qsort(v, n, sizeof(v[0]), bench_cmp_double);
			st.min = v[0];
			st.max = v[n - 1];
			st.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
		}
		cell->stat[m] = st;
	}
}
