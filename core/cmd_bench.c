/* `iovirt bench`: the model matrix (the main job), the host-native baselines
 * and the boot comparison with QEMU. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench/baseline_disk.h"
#include "bench/baseline_packet.h"
#include "bench/baseline_report.h"
#include "bench/bench.h"
#include "bench/boot_compare.h"
#include "core/cli.h"
#include "core/guest_image.h"

#define BENCH_MAX_LIST 8

static void cmd_bench_help(FILE *out)
{
	fprintf(out,
		"usage: iovirt bench [options]            the model matrix (the main job)\n"
		"       iovirt bench --baseline [options] host-native upper bound, no guest\n"
		"       iovirt bench --boot [--runs N]    boot time and memory next to QEMU\n"
		"\n"
		"The matrix runs device (disk, nic) x model (emulated, split, passthrough) x workload\n"
		"on the built-in guest, each cell a fresh VM, with a temporary disk and the loopback NIC\n"
		"peer by default. Workloads: randread-4k-qd1 randread-4k-qd32 randwrite-4k-qd1\n"
		"randwrite-4k-qd32 seqread-128k-qd8 echo-64 echo-1500.\n"
		"\n"
		"matrix options:\n"
		"  --device disk|nic|all   devices to measure (default all)\n"
		"  --model LIST            emulated,split,passthrough (default all; passthrough needs --vfio-*)\n"
		"  --workload LIST         workload names from the list above (default all)\n"
		"  --duration MS           measured phase per run (default 1000)\n"
		"  --reps N                repetitions per cell (default 3); medians with min-max\n"
		"  --bs BYTES              block size for the disk workloads (default theirs)\n"
		"  --qd N                  queue depth for every workload (default theirs)\n"
		"  --cpus N                vCPUs per VM (default 1)\n"
		"  --disk-options OPTS     extra --disk options, e.g. path=/var/tmp/d.img,direct=on\n"
		"  --nic-backend B         NIC back end: loopback (default), tap:NAME, dpdk:VDEV\n"
		"  --vfio-disk BDF         host NVMe bound to vfio-pci, for the passthrough disk rows\n"
		"  --vfio-nic BDF          host NIC bound to vfio-pci, for the passthrough nic rows\n"
		"  --cpl 0|3|auto          ring for the guest's driver loop (default auto: the faster)\n"
		"  --no-baseline           skip the host-native runs behind the 'vs host' column\n"
		"  --peer qemu             also run each workload under QEMU's device models\n"
		"  --json FILE, --csv FILE, --report DIR (self-contained HTML with SVG charts)\n"
		"\n"
		"baseline options: --qd LIST (1,8,32), --disk-file FILE (overwritten!), --direct,\n"
		"  --nic-backend LIST (loopback,dpdk:net_ring0), --frame-size LIST (64,1500),\n"
		"  --duration MS, --cpu N, --json FILE\n"
		"boot options: --runs N (default 5), --json FILE\n");
}

/* "1,8,32" into values; returns the count or -1. */
static int cmd_bench_parse_list(const char *text, unsigned min, unsigned max, unsigned *values)
{
	unsigned n = 0;
	char copy[256];
	snprintf(copy, sizeof(copy), "%s", text);
	for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;
		if (n == BENCH_MAX_LIST || cli_parse_uint(tok, min, max, &v) < 0)
			return -1;
		values[n++] = (unsigned)v;
	}
	return n ? (int)n : -1;
}

static int cmd_bench_usage(const char *what, const char *arg)
{
	fprintf(stderr, "iovirt bench: %s '%s'; see iovirt bench --help\n", what, arg);
	return CLI_EXIT_USAGE;
}

static int cmd_bench_matrix(struct bench_config *config, const char *json, const char *csv,
			    const char *report)
{
	struct bench_run *run = calloc(1, sizeof(*run));
	if (!run)
		return CLI_EXIT_USAGE;
	run->config = *config;
	run->config.progress = stderr;
	fprintf(stderr, "bench: model matrix, %u repetitions of %u ms per cell (progress below, table at the end)\n",
		config->reps, config->duration_ms);
	int status = CLI_EXIT_OK;
	if (bench_run_matrix(run) < 0) {
		fprintf(stderr, "iovirt bench: no cell matches --device/--model/--workload\n");
		free(run);
		return CLI_EXIT_USAGE;
	}
	bench_report_table(run, stdout);
	if (json && bench_report_json(run, json) < 0)
		status = cmd_bench_usage("cannot write", json);
	if (csv && bench_report_csv(run, csv) < 0)
		status = cmd_bench_usage("cannot write", csv);
	if (report) {
		if (bench_report_html(run, report) < 0)
			status = cmd_bench_usage("cannot write the report into", report);
		else
			fprintf(stderr, "bench: report written to %s/index.html\n", report);
	}
	for (unsigned i = 0; i < run->ncells; i++)
		if (run->cells[i].state == BENCH_CELL_FAILED)
			status = CLI_EXIT_GUEST_FAILED;
	free(run);
	return status;
}

/* Parses a comma list of model names into the selection. */
static int cmd_bench_models(const char *text, bool models[BENCH_MODEL_COUNT])
{
	memset(models, 0, BENCH_MODEL_COUNT * sizeof(bool));
	char copy[128];
	snprintf(copy, sizeof(copy), "%s", text);
	for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned m = 0;
		while (m < BENCH_MODEL_COUNT && strcmp(tok, bench_model_name((enum bench_model)m)))
			m++;
		if (m == BENCH_MODEL_COUNT)
			return -1;
		models[m] = true;
	}
	return 0;
}

static bool cmd_bench_workloads_known(const char *list)
{
	char copy[256];
	snprintf(copy, sizeof(copy), "%s", list);
	for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned i = 0;
		while (i < bench_workload_count && strcmp(tok, bench_workloads[i].name))
			i++;
		if (i == bench_workload_count)
			return false;
	}
	return true;
}

int cmd_bench(int argc, char **argv)
{
	enum { OPT_BASELINE = 256, OPT_BOOT, OPT_DURATION, OPT_QD, OPT_DISK_FILE, OPT_DIRECT,
	       OPT_NIC_BACKEND, OPT_FRAME_SIZE, OPT_RUNS, OPT_CPU, OPT_JSON, OPT_CSV, OPT_REPORT,
	       OPT_DEVICE, OPT_MODEL, OPT_WORKLOAD, OPT_REPS, OPT_BS, OPT_CPUS, OPT_DISK_OPTIONS,
	       OPT_VFIO_DISK, OPT_VFIO_NIC, OPT_CPL, OPT_NO_BASELINE, OPT_PEER };
	static const struct option options[] = {
		{ "baseline", no_argument, NULL, OPT_BASELINE },
		{ "boot", no_argument, NULL, OPT_BOOT },
		{ "duration", required_argument, NULL, OPT_DURATION },
		{ "qd", required_argument, NULL, OPT_QD },
		{ "disk-file", required_argument, NULL, OPT_DISK_FILE },
		{ "direct", no_argument, NULL, OPT_DIRECT },
		{ "nic-backend", required_argument, NULL, OPT_NIC_BACKEND },
		{ "frame-size", required_argument, NULL, OPT_FRAME_SIZE },
		{ "runs", required_argument, NULL, OPT_RUNS },
		{ "cpu", required_argument, NULL, OPT_CPU },
		{ "json", required_argument, NULL, OPT_JSON },
		{ "csv", required_argument, NULL, OPT_CSV },
		{ "report", required_argument, NULL, OPT_REPORT },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "model", required_argument, NULL, OPT_MODEL },
		{ "workload", required_argument, NULL, OPT_WORKLOAD },
		{ "reps", required_argument, NULL, OPT_REPS },
		{ "bs", required_argument, NULL, OPT_BS },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "disk-options", required_argument, NULL, OPT_DISK_OPTIONS },
		{ "vfio-disk", required_argument, NULL, OPT_VFIO_DISK },
		{ "vfio-nic", required_argument, NULL, OPT_VFIO_NIC },
		{ "cpl", required_argument, NULL, OPT_CPL },
		{ "no-baseline", no_argument, NULL, OPT_NO_BASELINE },
		{ "peer", required_argument, NULL, OPT_PEER },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool baseline = false, boot = false;
	struct baseline_disk_config disk = { .cpu = -1 };
	struct baseline_packet_config packet = { .cpu = -1 };
	struct bench_config matrix;
	bench_config_defaults(&matrix);
	unsigned qds[BENCH_MAX_LIST], sizes[BENCH_MAX_LIST], runs = 5;
	int nqds = 0;
	const char *backends[BENCH_MAX_LIST];
	char backend_text[512];
	const char *json = NULL, *csv = NULL, *report = NULL;
	uint64_t value;
	int n;

	optind = 1;
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_BASELINE: baseline = true; break;
		case OPT_BOOT: boot = true; break;
		case OPT_DURATION:
			if (cli_parse_uint(optarg, 10, 600000, &value) < 0)
				return cmd_bench_usage("--duration wants milliseconds, 10 to 600000, not", optarg);
			disk.duration_ms = packet.duration_ms = matrix.duration_ms = (unsigned)value;
			break;
		case OPT_QD:
			if ((nqds = cmd_bench_parse_list(optarg, 1, 1024, qds)) < 0)
				return cmd_bench_usage("--qd wants a depth or a list like 1,8,32 (1 to 1024), not", optarg);
			disk.qds = qds;
			disk.nqds = (unsigned)nqds;
			matrix.qd = qds[0];
			break;
		case OPT_DISK_FILE: disk.path = optarg; break;
		case OPT_DIRECT: disk.direct = true; break;
		case OPT_NIC_BACKEND: {
			matrix.nic_backend = optarg;
			snprintf(backend_text, sizeof(backend_text), "%s", optarg);
			/* Back-end strings hold commas themselves (dpdk:net_tap0,iface=x), so
			 * the list separator is ';' when one is present, else ','. */
			const char *sep = strchr(backend_text, ';') ? ";" : ",";
			packet.nbackends = 0;
			for (char *save = NULL, *tok = strtok_r(backend_text, sep, &save); tok;
			     tok = strtok_r(NULL, sep, &save)) {
				if (packet.nbackends == BENCH_MAX_LIST)
					return cmd_bench_usage("too many back ends in", optarg);
				backends[packet.nbackends++] = tok;
			}
			packet.backends = backends;
			break;
		}
		case OPT_FRAME_SIZE:
			if ((n = cmd_bench_parse_list(optarg, 60, 1514, sizes)) < 0)
				return cmd_bench_usage("--frame-size wants sizes 60 to 1514, not", optarg);
			packet.frame_sizes = sizes;
			packet.nsizes = (unsigned)n;
			break;
		case OPT_RUNS:
			if (cli_parse_uint(optarg, 1, BOOT_COMPARE_MAX_RUNS, &value) < 0)
				return cmd_bench_usage("--runs wants 1 to 50, not", optarg);
			runs = (unsigned)value;
			break;
		case OPT_CPU:
			if (cli_parse_uint(optarg, 0, 4095, &value) < 0)
				return cmd_bench_usage("--cpu wants a CPU number, not", optarg);
			disk.cpu = packet.cpu = (int)value;
			break;
		case OPT_JSON: json = optarg; break;
		case OPT_CSV: csv = optarg; break;
		case OPT_REPORT: report = optarg; break;
		case OPT_DEVICE:
			if (strcmp(optarg, "all") && strcmp(optarg, "disk") && strcmp(optarg, "nic"))
				return cmd_bench_usage("--device wants disk, nic or all, not", optarg);
			matrix.devices[BENCH_DISK] = strcmp(optarg, "nic") != 0;
			matrix.devices[BENCH_NIC] = strcmp(optarg, "disk") != 0;
			break;
		case OPT_MODEL:
			if (cmd_bench_models(optarg, matrix.models) < 0)
				return cmd_bench_usage("--model wants a list of emulated, split, passthrough, not", optarg);
			break;
		case OPT_WORKLOAD:
			if (!cmd_bench_workloads_known(optarg))
				return cmd_bench_usage("--workload names one not in the list (see --help):", optarg);
			matrix.workload_filter = optarg;
			break;
		case OPT_REPS:
			if (cli_parse_uint(optarg, 1, BENCH_MAX_REPS, &value) < 0)
				return cmd_bench_usage("--reps wants 1 to 20, not", optarg);
			matrix.reps = (unsigned)value;
			break;
		case OPT_BS:
			if (cli_parse_uint(optarg, 512, 1u << 20, &value) < 0 || value % 512)
				return cmd_bench_usage("--bs wants a multiple of 512 up to 1 MiB, not", optarg);
			matrix.bs = (unsigned)value;
			break;
		case OPT_CPUS:
			if (cli_parse_uint(optarg, 1, 64, &value) < 0)
				return cmd_bench_usage("--cpus wants 1 to 64, not", optarg);
			matrix.cpus = (unsigned)value;
			break;
		case OPT_DISK_OPTIONS: matrix.disk_options = optarg; break;
		case OPT_VFIO_DISK: matrix.vfio_disk = optarg; break;
		case OPT_VFIO_NIC: matrix.vfio_nic = optarg; break;
		case OPT_CPL:
			if (!strcmp(optarg, "auto"))
				matrix.cpl = -1;
			else if (!strcmp(optarg, "0") || !strcmp(optarg, "3"))
				matrix.cpl = optarg[0] - '0';
			else
				return cmd_bench_usage("--cpl wants 0, 3 or auto, not", optarg);
			break;
		case OPT_NO_BASELINE: matrix.baseline = false; break;
		case OPT_PEER:
			if (strcmp(optarg, "qemu"))
				return cmd_bench_usage("--peer knows only qemu, not", optarg);
			matrix.peer_qemu = true;
			break;
		case 'h': cmd_bench_help(stdout); return CLI_EXIT_OK;
		default:
			fprintf(stderr, "iovirt bench: unknown option or missing value in '%s'; "
				"see iovirt bench --help\n", argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cmd_bench_usage("unexpected argument", argv[optind]);
	if (baseline && boot)
		return cmd_bench_usage("choose one of --baseline and --boot, not both:", "--boot");
	if (!baseline && !boot) {
		if (nqds > 1)
			return cmd_bench_usage("the matrix takes one --qd, not a list:", "--qd");
		return cmd_bench_matrix(&matrix, json, csv, report);
	}
	if (csv || report)
		return cmd_bench_usage("--csv and --report belong to the matrix; drop them with", baseline ? "--baseline" : "--boot");

	int status = CLI_EXIT_OK;
	if (baseline) {
		struct baseline_disk_result disk_results[32];
		struct baseline_packet_result packet_results[32];
		unsigned ndisk = 0, npacket = 0;
		fprintf(stderr, "bench: host-native baseline (progress below; results table at the end)\n");
		if (baseline_disk_run(&disk, disk_results, 32, &ndisk, stderr) < 0)
			status = CLI_EXIT_USAGE;
		if (baseline_packet_run(&packet, packet_results, 32, &npacket, stderr) < 0)
			status = CLI_EXIT_USAGE; /* a back end was skipped: said on stderr */
		baseline_report_disk_table(disk_results, ndisk, stdout);
		baseline_report_packet_table(packet_results, npacket, stdout);
		if (json && baseline_report_json(disk_results, ndisk, packet_results, npacket, json) < 0) {
			fprintf(stderr, "iovirt bench: cannot write %s\n", json);
			status = CLI_EXIT_USAGE;
		}
	}
	if (boot) {
		/* QEMU boots the very guest embedded in this binary: hand it over as an
		 * inherited memfd, so the comparison needs no build tree. */
		int guest_fd = memfd_create("guest.elf", 0);
		if (guest_fd < 0 ||
		    write(guest_fd, guest_image_start, guest_image_size()) != (ssize_t)guest_image_size()) {
			fprintf(stderr, "iovirt bench: cannot stage the built-in guest for QEMU\n");
			return CLI_EXIT_USAGE;
		}
		char guest_path[64];
		snprintf(guest_path, sizeof(guest_path), "/proc/self/fd/%d", guest_fd);
		struct boot_compare_config config = {
			.iovirt_path = "/proc/self/exe", .guest_path = guest_path,
			.runs = runs, .mem_mib = 256,
		};
		struct boot_compare_result *results = calloc(2, sizeof(*results));
		if (!results)
			return CLI_EXIT_USAGE;
		boot_compare_run(&config, results, stderr);
		boot_compare_print_table(results, stdout);
		if (json && boot_compare_write_json(results, json) < 0) {
			fprintf(stderr, "iovirt bench: cannot write %s\n", json);
			status = CLI_EXIT_USAGE;
		}
		if (!results[0].available || results[0].why_not[0])
			status = CLI_EXIT_VM_ERROR;
		free(results);
		close(guest_fd);
	}
	return status;
}
