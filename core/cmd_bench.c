/* `iovirt bench`: the host-native baselines and the boot comparison. The
 * model matrix (emulated/split/passthrough on the guest) joins it as the
 * device models land. */
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
#include "bench/boot_compare.h"
#include "core/cli.h"
#include "core/guest_image.h"

#define BENCH_MAX_LIST 8

static void cmd_bench_help(FILE *out)
{
	fprintf(out,
		"usage: iovirt bench [--baseline] [--boot] [options]\n"
		"\n"
		"With no mode, runs --baseline. The model matrix (emulated, split, passthrough on\n"
		"the built-in guest) is not in this build yet.\n"
		"\n"
		"  --baseline         host-native upper bound: 4 KiB random read/write at each QD and\n"
		"                     128 KiB sequential read on the block engine, and a packet echo\n"
		"                     through the packet engine; no guest involved\n"
		"  --boot             iovirt run vs QEMU booting the same guest.elf: time to banner,\n"
		"                     to exit, and VMM memory apart from guest RAM\n"
		"  --duration MS      per measurement (default 2000 disk, 1000 packet)\n"
		"  --qd LIST          queue depths, e.g. 1,8,32 (default)\n"
		"  --disk-file FILE   measure this file (it is overwritten!) instead of a temporary one\n"
		"  --direct           O_DIRECT for the disk baseline\n"
		"  --nic-backend LIST packet back ends, e.g. loopback,dpdk:net_ring0 (default)\n"
		"  --frame-size LIST  frame sizes in bytes (default 64,1500)\n"
		"  --runs N           boot comparison runs per VMM (default 5)\n"
		"  --cpu N            pin the measuring thread to CPU N (default: the current one)\n"
		"  --json FILE        also write the results as JSON\n"
		"  -h, --help         this text\n");
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

int cmd_bench(int argc, char **argv)
{
	enum { OPT_BASELINE = 256, OPT_BOOT, OPT_DURATION, OPT_QD, OPT_DISK_FILE, OPT_DIRECT,
	       OPT_NIC_BACKEND, OPT_FRAME_SIZE, OPT_RUNS, OPT_CPU, OPT_JSON };
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
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool baseline = false, boot = false;
	struct baseline_disk_config disk = { .cpu = -1 };
	struct baseline_packet_config packet = { .cpu = -1 };
	unsigned qds[BENCH_MAX_LIST], sizes[BENCH_MAX_LIST], runs = 5;
	const char *backends[BENCH_MAX_LIST];
	char backend_text[512];
	const char *json = NULL;
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
			disk.duration_ms = packet.duration_ms = (unsigned)value;
			break;
		case OPT_QD:
			if ((n = cmd_bench_parse_list(optarg, 1, 1024, qds)) < 0)
				return cmd_bench_usage("--qd wants a list like 1,8,32 (1 to 1024), not", optarg);
			disk.qds = qds;
			disk.nqds = (unsigned)n;
			break;
		case OPT_DISK_FILE: disk.path = optarg; break;
		case OPT_DIRECT: disk.direct = true; break;
		case OPT_NIC_BACKEND: {
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
		case 'h': cmd_bench_help(stdout); return CLI_EXIT_OK;
		default:
			fprintf(stderr, "iovirt bench: unknown option or missing value in '%s'; "
				"see iovirt bench --help\n", argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cmd_bench_usage("unexpected argument", argv[optind]);
	if (!baseline && !boot)
		baseline = true;
	if (baseline && boot && json)
		return cmd_bench_usage("--json takes one mode at a time; drop --baseline or --boot, not",
				       json);

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
		printf("\nmodel matrix (emulated, split, passthrough): not in this build yet\n");
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
