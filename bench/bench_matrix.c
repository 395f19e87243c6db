/* Runs the benchmark matrix: every selected (device, model, workload) cell,
 * `reps` times, each a fresh VM booting the built-in guest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/baseline_disk.h"
#include "bench/baseline_packet.h"
#include "bench/bench.h"
#include "core/guest_run.h"

/* The default matrix. Sequential reads run at QD 8: deep enough to stream,
 * shallow enough that the guest's own cost per request still shows. */
const struct bench_workload bench_workloads[] = {
	{ "randread-4k-qd1", BENCH_DISK, "randread", 4096, 1 },
	{ "randread-4k-qd32", BENCH_DISK, "randread", 4096, 32 },
	{ "randwrite-4k-qd1", BENCH_DISK, "randwrite", 4096, 1 },
	{ "randwrite-4k-qd32", BENCH_DISK, "randwrite", 4096, 32 },
	{ "seqread-128k-qd8", BENCH_DISK, "seqread", 131072, 8 },
	{ "echo-64", BENCH_NIC, "echo", 64, 1 },
	{ "echo-1500", BENCH_NIC, "echo", 1500, 1 },
};
const unsigned bench_workload_count = sizeof(bench_workloads) / sizeof(bench_workloads[0]);

/* The guest's disk span for the benchmark: big enough to spread random I/O,
 * small enough that the untimed fill before reads stays short. */
#define BENCH_DISK_SPAN (2u << 20)
#define BENCH_GUEST_MEM (128ull << 20)
#define BENCH_RUN_TIMEOUT_MS 120000
#define BENCH_PROBE_MS 300

static const char *const model_names[BENCH_MODEL_COUNT] = { "emulated", "split", "passthrough" };

const char *bench_model_name(enum bench_model model)
{
	return model < BENCH_MODEL_COUNT ? model_names[model] : "?";
}

void bench_config_defaults(struct bench_config *config)
{
	memset(config, 0, sizeof(*config));
	config->duration_ms = 1000;
	config->reps = 3;
	config->cpus = 1;
	config->devices[BENCH_DISK] = config->devices[BENCH_NIC] = true;
	for (unsigned m = 0; m < BENCH_MODEL_COUNT; m++)
		config->models[m] = true;
	config->cpl = -1;
	config->baseline = true;
}

static bool bench_workload_selected(const struct bench_config *config, const struct bench_workload *w)
{
	if (!config->devices[w->device])
		return false;
	if (!config->workload_filter)
		return true;
	size_t len = strlen(w->name);
	for (const char *p = config->workload_filter; p && *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == len && strncmp(p, w->name, n) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

static unsigned bench_size(const struct bench_config *c, const struct bench_workload *w)
{
	return w->device == BENCH_DISK && c->bs ? c->bs : w->size;
}

static unsigned bench_qd(const struct bench_config *c, const struct bench_workload *w)
{
	return c->qd ? c->qd : w->qd;
}

/* The command-line pieces for one run of a cell. */
static int bench_guest_config(const struct bench_run *run, const struct bench_cell *cell, unsigned cpl,
			      unsigned duration_ms, struct guest_run_config *gc, char *cmdline, size_t cap,
			      char *err, size_t errlen)
{
	const struct bench_config *c = &run->config;
	const struct bench_workload *w = cell->workload;
	guest_run_config_defaults(gc);
	gc->mem_bytes = BENCH_GUEST_MEM;
	gc->ncpus = c->cpus;
	gc->console_path = "/dev/null";
	gc->timeout_ms = BENCH_RUN_TIMEOUT_MS;
	char spec[512];
	if (w->device == BENCH_DISK) {
		if (cell->model == BENCH_PASSTHROUGH)
			snprintf(spec, sizeof(spec), "model=passthrough,host=%s", c->vfio_disk);
		else
			snprintf(spec, sizeof(spec), "model=%s%s%s", bench_model_name(cell->model),
				 c->disk_options ? "," : "", c->disk_options ? c->disk_options : "");
		snprintf(cmdline, cap,
			 "iovirt.test=disk iovirt.disk.pattern=%s iovirt.disk.bs=%u iovirt.disk.qd=%u "
			 "iovirt.disk.span=%u iovirt.disk.ms=%u iovirt.cpl=%u",
			 w->pattern, bench_size(c, w), bench_qd(c, w), BENCH_DISK_SPAN, duration_ms, cpl);
	} else {
		if (cell->model == BENCH_PASSTHROUGH)
			snprintf(spec, sizeof(spec), "model=passthrough,host=%s", c->vfio_nic);
		else
			snprintf(spec, sizeof(spec), "model=%s,backend=%s", bench_model_name(cell->model),
				 c->nic_backend ? c->nic_backend : "loopback");
		snprintf(cmdline, cap,
			 "iovirt.test=nic iovirt.nic.pattern=%s iovirt.nic.size=%u iovirt.nic.qd=%u "
			 "iovirt.nic.ms=%u iovirt.cpl=%u",
			 w->pattern, bench_size(c, w), bench_qd(c, w), duration_ms, cpl);
	}
	gc->cmdline = cmdline;
	return guest_run_add_device(gc, w->device == BENCH_DISK ? "disk" : "nic", spec, err, errlen);
}

/* One guest run of a cell; the sample says whether it produced figures. */
static void bench_run_once(struct bench_run *run, struct bench_cell *cell, unsigned cpl, unsigned duration_ms,
			   struct bench_sample *sample, uint64_t *hist)
{
	struct guest_run_config gc;
	char cmdline[512], err[512];
	memset(sample, 0, sizeof(*sample));
	if (bench_guest_config(run, cell, cpl, duration_ms, &gc, cmdline, sizeof(cmdline), err, sizeof(err)) < 0) {
		snprintf(cell->why, sizeof(cell->why), "%s", err);
		return;
	}
	struct guest_run_outcome *o = calloc(1, sizeof(*o));
	if (!o) {
		snprintf(cell->why, sizeof(cell->why), "out of memory");
		return;
	}
	if (guest_run(&gc, o, err, sizeof(err)) < 0) {
		snprintf(cell->why, sizeof(cell->why), "%s", err);
	} else {
		bench_sample_from_outcome(o, sample, hist);
		sample->cpl = o->results.workload.cpl;
		if (o->results.tsc_khz)
			cell->tsc_khz = (double)o->results.tsc_khz;
		if (!sample->ok)
			snprintf(cell->why, sizeof(cell->why), "guest %s: %s",
				 o->reason == VM_STOP_GUEST_DONE ? guest_status_name(o->guest_status)
								 : vm_stop_reason_name(o->reason),
				 o->have_results ? o->results.message : o->stop_message);
		else if (o->results.workload.verify_failures || o->results.workload.errors)
			sample->ok = false; /* the guest says pass only without these; belt and braces */
	}
	free(o);
}

/* The faster ring for this cell's model, from one short run in each. */
static unsigned bench_pick_cpl(struct bench_run *run, struct bench_cell *cell)
{
	struct bench_sample s0, s3;
	bench_run_once(run, cell, 0, BENCH_PROBE_MS, &s0, NULL);
	bench_run_once(run, cell, 3, BENCH_PROBE_MS, &s3, NULL);
	if (run->config.progress)
		fprintf(run->config.progress, "bench: %s %s: ring 0 %.0f IOPS, ring 3 %.0f IOPS (probe)\n",
			cell->workload->device == BENCH_DISK ? "disk" : "nic", bench_model_name(cell->model),
			s0.ok ? s0.value[BENCH_IOPS] : 0, s3.ok && s3.cpl == 3 ? s3.value[BENCH_IOPS] : 0);
	if (s3.ok && s3.cpl == 3 && (!s0.ok || s3.value[BENCH_IOPS] > s0.value[BENCH_IOPS]))
		return 3;
	return 0;
}

static void bench_baseline_for(struct bench_run *run)
{
	const struct bench_config *c = &run->config;
	for (unsigned i = 0; i < run->ncells; i++) {
		struct bench_cell *cell = &run->cells[i];
		const struct bench_workload *w = cell->workload;
		if (cell->state != BENCH_CELL_OK || cell->baseline_iops)
			continue;
		double iops = 0;
		unsigned size = bench_size(c, w), qd = bench_qd(c, w);
		if (w->device == BENCH_DISK) {
			enum baseline_disk_workload bw;
			if (!strcmp(w->pattern, "randread") && size == 4096) bw = BASELINE_RANDREAD_4K;
			else if (!strcmp(w->pattern, "randwrite") && size == 4096) bw = BASELINE_RANDWRITE_4K;
			else if (!strcmp(w->pattern, "seqread") && size == 131072) bw = BASELINE_SEQREAD_128K;
			else continue; /* no host-native twin for this shape */
			/* The same span as the guest's, so both work on the same amount of
			 * (page-cached) data, and unpinned like the VM's I/O thread, whose
			 * io_uring workers may use every CPU. */
			struct baseline_disk_config bc = {
				.file_size = BENCH_DISK_SPAN, .duration_ms = c->duration_ms, .qds = &qd, .nqds = 1,
				.workloads = BASELINE_WORKLOAD_BIT(bw), .cpu = BASELINE_CPU_UNPINNED,
			};
			struct baseline_disk_result r;
			unsigned n = 0;
			if (baseline_disk_run(&bc, &r, 1, &n, NULL) == 0 && n == 1)
				iops = r.iops;
		} else {
			const char *backend = c->nic_backend ? c->nic_backend : "loopback";
			struct baseline_packet_config pc = {
				.backends = &backend, .nbackends = 1, .frame_sizes = &size, .nsizes = 1,
				.duration_ms = c->duration_ms, .cpu = -1,
			};
			struct baseline_packet_result r;
			unsigned n = 0;
			if (baseline_packet_run(&pc, &r, 1, &n, NULL) == 0 && n == 1)
				iops = r.packets_per_s;
		}
		/* Every model of the same workload shares the one measurement. */
		for (unsigned j = i; j < run->ncells; j++)
			if (run->cells[j].workload == w)
				run->cells[j].baseline_iops = iops;
	}
}

int bench_run_matrix(struct bench_run *run)
{
	struct bench_config *c = &run->config;
	time_t now = time(NULL);
	strftime(run->started, sizeof(run->started), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	run->ncells = 0;
	for (unsigned d = 0; d < 2; d++) {
		for (unsigned m = 0; m < BENCH_MODEL_COUNT; m++) {
			if (!c->models[m])
				continue;
			for (unsigned i = 0; i < bench_workload_count; i++) {
				const struct bench_workload *w = &bench_workloads[i];
				if (w->device != d || !bench_workload_selected(c, w) || run->ncells == BENCH_MAX_CELLS)
					continue;
				struct bench_cell *cell = &run->cells[run->ncells++];
				memset(cell, 0, sizeof(*cell));
				cell->workload = w;
				cell->model = (enum bench_model)m;
				const char *bdf = d == BENCH_DISK ? c->vfio_disk : c->vfio_nic;
				if (m == BENCH_PASSTHROUGH && !bdf) {
					cell->state = BENCH_CELL_SKIPPED;
					snprintf(cell->why, sizeof(cell->why),
						 "no VFIO device named: give --vfio-%s BDF (a device bound to vfio-pci), "
						 "or run 'make lab'", d == BENCH_DISK ? "disk" : "nic");
				}
			}
		}
	}
	if (run->ncells == 0)
		return -1;

	unsigned total_runs = 0, done_runs = 0;
	for (unsigned i = 0; i < run->ncells; i++)
		if (run->cells[i].state == BENCH_CELL_OK)
			total_runs += c->reps;
	int picked_cpl[2][BENCH_MODEL_COUNT];
	memset(picked_cpl, -1, sizeof(picked_cpl));
	for (unsigned i = 0; i < run->ncells; i++) {
		struct bench_cell *cell = &run->cells[i];
		if (cell->state != BENCH_CELL_OK)
			continue;
		int *cpl = &picked_cpl[cell->workload->device][cell->model];
		if (*cpl < 0)
			*cpl = c->cpl >= 0 ? c->cpl : (int)bench_pick_cpl(run, cell);
		cell->cpl = (unsigned)*cpl;
		for (unsigned r = 0; r < c->reps && r < BENCH_MAX_REPS; r++) {
			struct bench_sample *s = &cell->samples[cell->nsamples++];
			bench_run_once(run, cell, cell->cpl, c->duration_ms, s, cell->lat_hist);
			done_runs++;
			if (c->progress)
				fprintf(c->progress, "bench [%u/%u] %-4s %-9s %-18s rep %u/%u: %s%.0f IOPS%s%s\n",
					done_runs, total_runs, cell->workload->device == BENCH_DISK ? "disk" : "nic",
					bench_model_name(cell->model), cell->workload->name, r + 1, c->reps,
					s->ok ? "" : "FAILED ", s->value[BENCH_IOPS], s->ok ? "" : ": ",
					s->ok ? "" : cell->why);
		}
		unsigned ok = 0;
		for (unsigned r = 0; r < cell->nsamples; r++) {
			/* Report the ring the guest says it ran in, not the one asked for. */
			if (cell->samples[r].ok && ok++ == 0)
				cell->cpl = cell->samples[r].cpl;
		}
		if (ok == 0)
			cell->state = BENCH_CELL_FAILED;
		else if (ok == cell->nsamples)
			cell->why[0] = '\0';
		bench_cell_summarize(cell);
	}
	if (c->baseline) {
		if (c->progress)
			fprintf(c->progress, "bench: host-native baselines for the ratio column\n");
		bench_baseline_for(run);
	}
	for (unsigned i = 0; i < run->ncells; i++)
		if (run->cells[i].tsc_khz)
			run->host_tsc_khz = run->cells[i].tsc_khz;
	if (c->peer_qemu)
		bench_run_qemu_peer(run);
	return 0;
}
