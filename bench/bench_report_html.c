/* A self-contained HTML page with inline SVG charts: throughput by model,
 * latency distributions (CDF from the guest's histograms), and exits and
 * interrupts per I/O. No scripts, no external files. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bench/bench.h"

#define CHART_W 460
#define CHART_H 220
#define PLOT_L 56
#define PLOT_R 12
#define PLOT_T 28
#define PLOT_B 48

static const char *const model_colors[BENCH_MODEL_COUNT] = { "#d95f02", "#1b9e77", "#7570b3" };
#define PEER_COLOR "#999999"

static void html_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

static void svg_begin(FILE *f, const char *title)
{
	fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' viewBox='0 0 %d %d' "
		"font-family='sans-serif' font-size='11'>\n<rect width='100%%' height='100%%' fill='white'/>\n"
		"<text x='%d' y='16' font-size='13' font-weight='bold'>", CHART_W, CHART_H, CHART_W, CHART_H, PLOT_L);
	html_escape(f, title);
	fprintf(f, "</text>\n");
}

/* 152000 -> "152k": tick labels people read at a glance. */
static void svg_number(char *buf, size_t cap, double v)
{
	if (v >= 1e6)
		snprintf(buf, cap, "%.3gM", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, cap, "%.3gk", v / 1e3);
	else
		snprintf(buf, cap, "%.3g", v);
}

/* A y axis from 0 to max with 4 gridlines. */
static void svg_y_axis(FILE *f, double max, const char *unit)
{
	int h = CHART_H - PLOT_T - PLOT_B;
	for (int i = 0; i <= 4; i++) {
		char label[32];
		svg_number(label, sizeof(label), max * i / 4);
		int y = CHART_H - PLOT_B - h * i / 4;
		fprintf(f, "<line x1='%d' x2='%d' y1='%d' y2='%d' stroke='#ddd'/>"
			"<text x='%d' y='%d' text-anchor='end'>%s</text>\n", PLOT_L, CHART_W - PLOT_R, y, y, PLOT_L - 4,
			y + 4, label);
	}
	fprintf(f, "<text x='10' y='%d' transform='rotate(-90 10 %d)' text-anchor='middle'>%s</text>\n",
		CHART_H / 2, CHART_H / 2, unit);
}

struct bar_series {
	const char *name;
	const char *color;
	double value[BENCH_MAX_CELLS], lo[BENCH_MAX_CELLS], hi[BENCH_MAX_CELLS];
	bool present[BENCH_MAX_CELLS];
};

/* Grouped bars: one group per category, one bar per series, min-max whiskers. */
static void svg_bars(FILE *f, const char *title, const char *unit, const char *const *categories,
		     unsigned ncat, const struct bar_series *series, unsigned nseries)
{
	double max = 0;
	for (unsigned s = 0; s < nseries; s++)
		for (unsigned c = 0; c < ncat; c++)
			if (series[s].present[c])
				max = fmax(max, fmax(series[s].value[c], series[s].hi[c]));
	if (max <= 0)
		max = 1;
	svg_begin(f, title);
	svg_y_axis(f, max, unit);
	int w = CHART_W - PLOT_L - PLOT_R, h = CHART_H - PLOT_T - PLOT_B;
	double group = (double)w / (ncat ? ncat : 1), bar = group * 0.8 / (nseries ? nseries : 1);
	for (unsigned c = 0; c < ncat; c++) {
		double gx = PLOT_L + group * c + group * 0.1;
		for (unsigned s = 0; s < nseries; s++) {
			if (!series[s].present[c])
				continue;
			double v = series[s].value[c];
			double x = gx + bar * s, y = CHART_H - PLOT_B - h * v / max;
			fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='%s'><title>%s %s: %.4g</title></rect>\n",
				x, y, bar * 0.9, CHART_H - PLOT_B - y, series[s].color, series[s].name, categories[c], v);
			if (series[s].hi[c] > series[s].lo[c]) {
				double y1 = CHART_H - PLOT_B - h * series[s].lo[c] / max;
				double y2 = CHART_H - PLOT_B - h * series[s].hi[c] / max;
				double cx = x + bar * 0.45;
				fprintf(f, "<line x1='%.1f' x2='%.1f' y1='%.1f' y2='%.1f' stroke='black'/>\n", cx, cx, y1, y2);
			}
		}
		/* "randread-4k-qd32" as "randread-4k" over "qd32", so neighbours do not collide. */
		const char *cut = strrchr(categories[c], '-');
		int head = cut ? (int)(cut - categories[c]) : (int)strlen(categories[c]);
		double cx = PLOT_L + group * (c + 0.5);
		fprintf(f, "<text x='%.1f' y='%d' text-anchor='middle' font-size='10'>%.*s</text>\n", cx,
			CHART_H - PLOT_B + 13, head, categories[c]);
		if (cut)
			fprintf(f, "<text x='%.1f' y='%d' text-anchor='middle' font-size='10'>%s</text>\n", cx,
				CHART_H - PLOT_B + 25, cut + 1);
	}
	int lx = PLOT_L;
	for (unsigned s = 0; s < nseries; s++) {
		bool has_data = false;
		for (unsigned c = 0; c < ncat; c++)
			has_data |= series[s].present[c];
		if (!has_data)
			continue; /* no legend entry for a model that has no bar */
		fprintf(f, "<rect x='%d' y='%d' width='10' height='10' fill='%s'/><text x='%d' y='%d'>%s</text>\n", lx,
			CHART_H - 12, series[s].color, lx + 14, CHART_H - 3, series[s].name);
		lx += 24 + 6 * (int)strlen(series[s].name);
	}
	fprintf(f, "</svg>\n");
}

/* Cumulative distribution of one workload's latency, one line per model,
 * log-scaled time axis. */
static void svg_cdf(FILE *f, const struct bench_run *run, const struct bench_workload *w)
{
	double lo = 1e30, hi = 0;
	for (unsigned i = 0; i < run->ncells; i++) {
		const struct bench_cell *c = &run->cells[i];
		if (c->workload != w || c->state != BENCH_CELL_OK || c->tsc_khz <= 0)
			continue;
		for (unsigned b = 0; b < GUEST_LAT_BUCKETS; b++) {
			if (!c->lat_hist[b])
				continue;
			double us = guest_lat_bucket_floor(b) * 1000.0 / c->tsc_khz;
			lo = fmin(lo, us);
			hi = fmax(hi, us);
		}
	}
	if (hi <= 0)
		return;
	lo = pow(10, floor(log10(fmax(lo, 0.01))));
	hi = pow(10, ceil(log10(hi * 1.2)));
	char title[96];
	snprintf(title, sizeof(title), "latency CDF: %s", w->name);
	svg_begin(f, title);
	int pw = CHART_W - PLOT_L - PLOT_R, ph = CHART_H - PLOT_T - PLOT_B;
	for (double d = lo; d <= hi * 1.001; d *= 10) {
		double x = PLOT_L + pw * log10(d / lo) / log10(hi / lo);
		fprintf(f, "<line x1='%.1f' x2='%.1f' y1='%d' y2='%d' stroke='#ddd'/><text x='%.1f' y='%d' "
			"text-anchor='middle'>%g us</text>\n", x, x, PLOT_T, CHART_H - PLOT_B, x, CHART_H - PLOT_B + 14, d);
	}
	for (int i = 0; i <= 4; i++) {
		int y = CHART_H - PLOT_B - ph * i / 4;
		fprintf(f, "<line x1='%d' x2='%d' y1='%d' y2='%d' stroke='#eee'/><text x='%d' y='%d' "
			"text-anchor='end'>%.2f</text>\n", PLOT_L, CHART_W - PLOT_R, y, y, PLOT_L - 4, y + 4, i / 4.0);
	}
	unsigned legend = 0;
	for (unsigned i = 0; i < run->ncells; i++) {
		const struct bench_cell *c = &run->cells[i];
		if (c->workload != w || c->state != BENCH_CELL_OK || c->tsc_khz <= 0)
			continue;
		uint64_t total = 0, seen = 0;
		for (unsigned b = 0; b < GUEST_LAT_BUCKETS; b++)
			total += c->lat_hist[b];
		if (!total)
			continue;
		fprintf(f, "<polyline fill='none' stroke-width='2' stroke='%s' points='", model_colors[c->model]);
		for (unsigned b = 0; b < GUEST_LAT_BUCKETS; b++) {
			if (!c->lat_hist[b])
				continue;
			seen += c->lat_hist[b];
			double us = guest_lat_bucket_floor(b) * 1000.0 / c->tsc_khz;
			double x = PLOT_L + pw * log10(fmax(us, lo) / lo) / log10(hi / lo);
			double y = CHART_H - PLOT_B - ph * (double)seen / (double)total;
			fprintf(f, "%.1f,%.1f ", x, y);
		}
		fprintf(f, "'/>\n<rect x='%d' y='%d' width='10' height='10' fill='%s'/><text x='%d' y='%d'>%s</text>\n",
			PLOT_L + 100 * (int)legend, CHART_H - 14, model_colors[c->model], PLOT_L + 100 * (int)legend + 14,
			CHART_H - 5, bench_model_name(c->model));
		legend++;
	}
	fprintf(f, "</svg>\n");
}

/* One bar chart per device: a metric across workloads, a bar per model (and
 * QEMU's, for throughput, when it ran). */
static void chart_metric(FILE *f, const struct bench_run *run, enum bench_device dev, enum bench_metric m,
			 const char *title, bool with_peer)
{
	const char *cats[BENCH_MAX_CELLS];
	unsigned ncat = 0;
	static struct bar_series series[BENCH_MODEL_COUNT + 1];
	memset(series, 0, sizeof(series));
	for (unsigned s = 0; s < BENCH_MODEL_COUNT; s++) {
		series[s].name = bench_model_name((enum bench_model)s);
		series[s].color = model_colors[s];
	}
	series[BENCH_MODEL_COUNT].name = "QEMU";
	series[BENCH_MODEL_COUNT].color = PEER_COLOR;
	for (unsigned wi = 0; wi < bench_workload_count; wi++) {
		const struct bench_workload *w = &bench_workloads[wi];
		if (w->device != dev)
			continue;
		bool any = false;
		for (unsigned i = 0; i < run->ncells; i++) {
			const struct bench_cell *c = &run->cells[i];
			if (c->workload != w || c->state != BENCH_CELL_OK)
				continue;
			any = true;
			struct bar_series *s = &series[c->model];
			s->present[ncat] = true;
			s->value[ncat] = c->stat[m].median;
			s->lo[ncat] = c->stat[m].min;
			s->hi[ncat] = c->stat[m].max;
			if (with_peer && c->peer_ok) {
				/* QEMU's bar stands beside ours; one per workload is enough. */
				struct bar_series *p = &series[BENCH_MODEL_COUNT];
				if (!p->present[ncat] || c->peer_iops > p->value[ncat]) {
					p->present[ncat] = true;
					p->value[ncat] = c->peer_iops;
				}
			}
		}
		if (any)
			cats[ncat++] = w->name;
	}
	if (ncat == 0)
		return;
	bool peer_any = false;
	for (unsigned c = 0; c < ncat; c++)
		peer_any |= series[BENCH_MODEL_COUNT].present[c];
	svg_bars(f, title, bench_metrics[m].unit, cats, ncat, series, BENCH_MODEL_COUNT + (peer_any ? 1 : 0));
}

int bench_report_html(const struct bench_run *run, const char *dir)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -1;
	char path[4096];
	snprintf(path, sizeof(path), "%s/index.html", dir);
	FILE *f = fopen(path, "we");
	if (!f)
		return -1;
	fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>iovirt bench %s</title>\n"
		"<style>body{font-family:sans-serif;margin:24px;max-width:1000px}svg{margin:6px;border:1px solid #eee}"
		"table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px;"
		"text-align:right}th{background:#f4f4f4}td.l{text-align:left}</style></head><body>\n", run->started);
	fprintf(f, "<h1>iovirt: pass-through vs emulation vs split drivers</h1>\n<p>Started %s; %u repetitions of "
		"%u ms per cell; medians, whiskers min&ndash;max. Guest driver ring chosen per model "
		"(cpl column). Host TSC %.0f kHz.</p>\n", run->started, run->config.reps, run->config.duration_ms,
		run->host_tsc_khz);
	fprintf(f, "<h2>Throughput by model</h2>\n");
	chart_metric(f, run, BENCH_DISK, BENCH_IOPS, "disk: IOPS", true);
	chart_metric(f, run, BENCH_NIC, BENCH_IOPS, "nic: echoes per second", true);
	fprintf(f, "<h2>Latency distributions</h2>\n");
	for (unsigned wi = 0; wi < bench_workload_count; wi++)
		svg_cdf(f, run, &bench_workloads[wi]);
	fprintf(f, "<h2>Exits and interrupts per I/O</h2>\n");
	chart_metric(f, run, BENCH_DISK, BENCH_USER_EXITS, "disk: exits to the VMM per I/O", false);
	chart_metric(f, run, BENCH_DISK, BENCH_KERNEL_EXITS, "disk: KVM exits per I/O", false);
	chart_metric(f, run, BENCH_DISK, BENCH_INTERRUPTS, "disk: interrupts per I/O", false);
	chart_metric(f, run, BENCH_NIC, BENCH_USER_EXITS, "nic: exits to the VMM per echo", false);
	chart_metric(f, run, BENCH_NIC, BENCH_KERNEL_EXITS, "nic: KVM exits per echo", false);
	chart_metric(f, run, BENCH_NIC, BENCH_INTERRUPTS, "nic: interrupts per echo", false);
	chart_metric(f, run, BENCH_DISK, BENCH_VMM_CPU_US, "disk: VMM CPU us per I/O", false);

	fprintf(f, "<h2>All cells</h2>\n<table><tr><th>device</th><th>model</th><th>workload</th><th>cpl</th>");
	for (unsigned m = 0; m < BENCH_METRIC_COUNT; m++)
		fprintf(f, "<th>%s<br>(%s)</th>", bench_metrics[m].label, bench_metrics[m].unit);
	fprintf(f, "<th>vs host</th><th>vs QEMU</th><th class='l'>note</th></tr>\n");
	for (unsigned i = 0; i < run->ncells; i++) {
		const struct bench_cell *c = &run->cells[i];
		fprintf(f, "<tr><td class='l'>%s</td><td class='l'>%s</td><td class='l'>%s</td><td>%u</td>",
			c->workload->device == BENCH_DISK ? "disk" : "nic", bench_model_name(c->model), c->workload->name,
			c->cpl);
		for (unsigned m = 0; m < BENCH_METRIC_COUNT; m++)
			fprintf(f, c->state == BENCH_CELL_OK ? "<td>%.4g</td>" : "<td>-</td>", c->stat[m].median);
		if (c->state == BENCH_CELL_OK && c->baseline_iops > 0)
			fprintf(f, "<td>%.4f</td>", c->stat[BENCH_IOPS].median / c->baseline_iops);
		else
			fprintf(f, "<td>-</td>");
		if (c->peer_ok && c->peer_iops > 0)
			fprintf(f, "<td>%.3f</td>", c->stat[BENCH_IOPS].median / c->peer_iops);
		else
			fprintf(f, "<td>-</td>");
		fprintf(f, "<td class='l'>");
		html_escape(f, c->state == BENCH_CELL_SKIPPED ? "skipped: " : c->state == BENCH_CELL_FAILED ? "failed: " : "");
		html_escape(f, c->why);
		if (c->peer_ran && !c->peer_ok) {
			html_escape(f, " QEMU: ");
			html_escape(f, c->peer_why);
		}
		fprintf(f, "</td></tr>\n");
	}
	fprintf(f, "</table>\n<p>How to read this: README.md, section \"Reading the benchmark\".</p>\n</body></html>\n");
	return fclose(f);
}
