/* Results for tools: JSON (schema "iovirt-bench", version BENCH_SCHEMA_VERSION;
 * README.md documents it) and CSV, one row per cell. */
#include <stdio.h>

#include "bench/bench.h"

static const char *bench_state_name(enum bench_cell_state s)
{
	return s == BENCH_CELL_OK ? "ok" : s == BENCH_CELL_SKIPPED ? "skipped" : "failed";
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static double bench_ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

int bench_report_json(const struct bench_run *run, const char *path)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -1;
	const struct bench_config *c = &run->config;
	fprintf(f, "{\n  \"schema\": \"iovirt-bench\",\n  \"schema_version\": %d,\n  \"started\": \"%s\",\n",
		BENCH_SCHEMA_VERSION, run->started);
	fprintf(f, "  \"host_tsc_khz\": %.0f,\n", run->host_tsc_khz);
	fprintf(f, "  \"config\": {\"duration_ms\": %u, \"reps\": %u, \"cpus\": %u, \"cpl\": \"%s\", "
		"\"peer\": \"%s\", \"baseline\": %s},\n", c->duration_ms, c->reps, c->cpus,
		c->cpl < 0 ? "auto" : c->cpl == 3 ? "3" : "0", c->peer_qemu ? "qemu" : "none",
		c->baseline ? "true" : "false");
	fprintf(f, "  \"cells\": [");
	for (unsigned i = 0; i < run->ncells; i++) {
		const struct bench_cell *cell = &run->cells[i];
		const struct bench_workload *w = cell->workload;
		unsigned ok = 0;
		for (unsigned r = 0; r < cell->nsamples; r++)
			ok += cell->samples[r].ok;
		fprintf(f, "%s\n    {\"device\": \"%s\", \"model\": \"%s\", \"workload\": \"%s\", \"pattern\": \"%s\", "
			"\"size\": %u, \"qd\": %u, \"state\": \"%s\", \"why\": ", i ? "," : "",
			w->device == BENCH_DISK ? "disk" : "nic", bench_model_name(cell->model), w->name, w->pattern,
			c->bs && w->device == BENCH_DISK ? c->bs : w->size, c->qd ? c->qd : w->qd,
			bench_state_name(cell->state));
		json_string(f, cell->why);
		fprintf(f, ",\n     \"cpl\": %u, \"reps\": %u, \"ok_reps\": %u, \"metrics\": {", cell->cpl, cell->nsamples, ok);
		for (unsigned m = 0; m < BENCH_METRIC_COUNT; m++)
			fprintf(f, "%s\n       \"%s\": {\"median\": %.6g, \"min\": %.6g, \"max\": %.6g}", m ? "," : "",
				bench_metrics[m].key, cell->stat[m].median, cell->stat[m].min, cell->stat[m].max);
		fprintf(f, "},\n     \"baseline_iops\": %.6g, \"ratio_to_host\": %.6g,\n", cell->baseline_iops,
			bench_ratio(cell->stat[BENCH_IOPS].median, cell->baseline_iops));
		fprintf(f, "     \"peer\": {\"ran\": %s, \"ok\": %s, \"iops\": %.6g, \"p50_us\": %.6g, \"p99_us\": %.6g, "
			"\"ratio\": %.6g, \"why\": ", cell->peer_ran ? "true" : "false", cell->peer_ok ? "true" : "false",
			cell->peer_iops, cell->peer_p50_us, cell->peer_p99_us,
			bench_ratio(cell->stat[BENCH_IOPS].median, cell->peer_iops));
		json_string(f, cell->peer_why);
		fprintf(f, "},\n     \"latency_histogram\": {\"unit\": \"cycles\", \"tsc_khz\": %.0f, \"buckets\": [",
			cell->tsc_khz);
		unsigned n = 0;
		for (unsigned b = 0; b < GUEST_LAT_BUCKETS; b++)
			if (cell->lat_hist[b])
				fprintf(f, "%s[%llu, %llu]", n++ ? ", " : "", (unsigned long long)guest_lat_bucket_floor(b),
					(unsigned long long)cell->lat_hist[b]);
		fprintf(f, "]}}");
	}
	fprintf(f, "\n  ]\n}\n");
	return fclose(f);
}

int bench_report_csv(const struct bench_run *run, const char *path)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -1;
	fprintf(f, "device,model,workload,state,cpl,reps");
	for (unsigned m = 0; m < BENCH_METRIC_COUNT; m++)
		fprintf(f, ",%s,%s_min,%s_max", bench_metrics[m].key, bench_metrics[m].key, bench_metrics[m].key);
	fprintf(f, ",baseline_iops,ratio_to_host,peer_iops,ratio_to_peer\n");
	for (unsigned i = 0; i < run->ncells; i++) {
		const struct bench_cell *cell = &run->cells[i];
		fprintf(f, "%s,%s,%s,%s,%u,%u", cell->workload->device == BENCH_DISK ? "disk" : "nic",
			bench_model_name(cell->model), cell->workload->name, bench_state_name(cell->state), cell->cpl,
			cell->nsamples);
		for (unsigned m = 0; m < BENCH_METRIC_COUNT; m++)
			fprintf(f, ",%.6g,%.6g,%.6g", cell->stat[m].median, cell->stat[m].min, cell->stat[m].max);
		fprintf(f, ",%.6g,%.6g,%.6g,%.6g\n", cell->baseline_iops,
			bench_ratio(cell->stat[BENCH_IOPS].median, cell->baseline_iops), cell->peer_iops,
			bench_ratio(cell->stat[BENCH_IOPS].median, cell->peer_iops));
	}
	return fclose(f);
}
