/* The terminal table: one row per cell, medians with min-max for throughput. */
#include <stdio.h>

#include "bench/bench.h"

static void bench_fmt(char *buf, size_t cap, double v)
{
	if (v >= 100)
		snprintf(buf, cap, "%.0f", v);
	else if (v >= 10)
		snprintf(buf, cap, "%.1f", v);
	else
		snprintf(buf, cap, "%.2f", v);
}

void bench_report_table(const struct bench_run *run, FILE *out)
{
	fprintf(out, "\n%-4s %-11s %-18s %3s %22s %8s %8s %8s %8s %7s %7s %7s %6s %7s %8s %7s\n", "dev", "model",
		"workload", "cpl", "IOPS median (min-max)", "MB/s", "p50 us", "p99 us", "p99.9us", "exits", "kvm ex",
		"kicks", "irqs", "VMM us", "vs host", "vs QEMU");
	for (unsigned i = 0; i < run->ncells; i++) {
		const struct bench_cell *c = &run->cells[i];
		const char *dev = c->workload->device == BENCH_DISK ? "disk" : "nic";
		if (c->state != BENCH_CELL_OK) {
			fprintf(out, "%-4s %-11s %-18s %s: %s\n", dev, bench_model_name(c->model), c->workload->name,
				c->state == BENCH_CELL_SKIPPED ? "skipped" : "FAILED", c->why);
			continue;
		}
		char iops[48], host[16] = "n/a", peer[16] = "-";
		snprintf(iops, sizeof(iops), "%.0f (%.0f-%.0f)", c->stat[BENCH_IOPS].median, c->stat[BENCH_IOPS].min,
			 c->stat[BENCH_IOPS].max);
		if (c->baseline_iops > 0)
			snprintf(host, sizeof(host), "%.4fx", c->stat[BENCH_IOPS].median / c->baseline_iops);
		if (c->peer_ran)
			snprintf(peer, sizeof(peer), c->peer_ok && c->peer_iops > 0 ? "%.2fx" : "fail",
				 c->stat[BENCH_IOPS].median / (c->peer_iops > 0 ? c->peer_iops : 1));
		char v[9][16];
		const enum bench_metric cols[9] = { BENCH_MBPS, BENCH_P50_US, BENCH_P99_US, BENCH_P999_US,
						    BENCH_USER_EXITS, BENCH_KERNEL_EXITS, BENCH_KICKS,
						    BENCH_INTERRUPTS, BENCH_VMM_CPU_US };
		for (unsigned k = 0; k < 9; k++)
			bench_fmt(v[k], sizeof(v[k]), c->stat[cols[k]].median);
		fprintf(out, "%-4s %-11s %-18s %3u %22s %8s %8s %8s %8s %7s %7s %7s %6s %7s %8s %7s\n", dev,
			bench_model_name(c->model), c->workload->name, c->cpl, iops, v[0], v[1], v[2], v[3], v[4],
			v[5], v[6], v[7], v[8], host, peer);
		if (c->why[0])
			fprintf(out, "%-35s note: %s\n", "", c->why);
	}
	fprintf(out, "\nPer-I/O columns (exits .. VMM us) are medians over %u repetitions of the guest's measured\n"
		"phase: exits = every exit to the VMM; kvm ex = KVM's own count, ioeventfd kicks included;\n"
		"kicks = notifications that never left the kernel; irqs = interrupts the device raised;\n"
		"VMM us = VMM CPU per I/O (exit handling + I/O thread). vs host = IOPS / host-native\n"
		"baseline on the same engine; vs QEMU = IOPS / QEMU's device model running the same guest.\n",
		run->config.reps);
}
