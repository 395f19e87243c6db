/* `iovirt run`: boot one guest with the devices the command line names. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "core/cli.h"
#include "core/guest_run.h"
#include "core/log.h"

static void cmd_run_help(FILE *out)
{
	fprintf(out,
		"usage: iovirt run [options]\n"
		"\n"
		"Boots a PVH guest (by default the built-in test guest, embedded in this binary)\n"
		"and runs it until it says it is done, it crashes, or you stop it (Ctrl-C).\n"
		"\n"
		"  --mem SIZE         guest RAM, e.g. 256M or 1G (default 256M)\n"
		"  --cpus N           number of vCPUs (default 1; the guest runs on vCPU 0)\n"
		"  --kernel ELF       boot this PVH ELF instead of the built-in guest\n"
		"  --cmdline STR      guest command line; the built-in guest reads\n"
		"                     iovirt.test=boot|msix|exception|idle|triplefault\n"
		"                     (default boot)\n"
		"  --console FILE     write the guest's serial output to FILE (default stdout)\n"
		"  --disk SPEC        add a disk: model=MODEL,key=value...\n"
		"  --nic SPEC         add a NIC:  model=MODEL,key=value...\n"
		"  --device SPEC      add another device: NAME[,key=value...], e.g. testdev\n"
		"  --timeout SEC      stop the guest if it is not done after SEC seconds\n"
		"  --stats            print exit, interrupt and boot-time counters at the end\n"
		"  -v, --verbose      more VMM messages (repeat for debug)\n"
		"  -h, --help         this text\n"
		"\n"
		"MODEL is emulated, split or passthrough; 'iovirt --help' lists the device models\n"
		"this binary implements. Exit status: 0 guest passed, 1 guest reported failure,\n"
		"2 bad command line or host setup, 3 the VM failed or timed out,\n"
		"128+N stopped by signal N (SIGINT, SIGTERM) after a clean shutdown.\n");
}

static void cmd_run_print_stats(const struct guest_run_outcome *o)
{
	fprintf(stderr, "boot: first guest instruction %.2f ms, done %.2f ms after start\n",
		o->ns_to_first_insn / 1e6, o->ns_to_done / 1e6);
	fprintf(stderr, "VMM resident memory apart from guest RAM: %llu KiB\n",
		(unsigned long long)o->vmm_rss_kib);
	const struct run_counters *t = &o->totals;
	fprintf(stderr, "vCPU exits to the VMM: %llu total, %llu PIO, %llu MMIO, %llu other; "
		"%.2f ms handling them\n", (unsigned long long)t->vcpu.exits,
		(unsigned long long)t->vcpu.pio_exits, (unsigned long long)t->vcpu.mmio_exits,
		(unsigned long long)t->vcpu.other_exits, t->vcpu.handling_ns / 1e6);
	fprintf(stderr, "KVM in-kernel counters: %llu exits (%llu I/O, %llu MMIO, %llu halt), "
		"%llu interrupt injections\n", (unsigned long long)t->kernel.exits,
		(unsigned long long)t->kernel.io_exits, (unsigned long long)t->kernel.mmio_exits,
		(unsigned long long)t->kernel.halt_exits, (unsigned long long)t->kernel.irq_injections);
	fprintf(stderr, "unclaimed accesses: %llu PIO, %llu MMIO; DMA faults: %llu\n",
		(unsigned long long)o->unclaimed_pio, (unsigned long long)o->unclaimed_mmio,
		(unsigned long long)o->dma_faults);
	if (o->have_phase && o->have_results && o->results.workload.ops) {
		const struct run_counters *p = &o->phase;
		double ops = (double)o->results.workload.ops;
		struct device_counter_values d;
		run_counters_device_total(p, &d);
		fprintf(stderr, "measured phase: %llu I/Os in %.1f ms; per I/O: %.3f userspace exits "
			"(%.3f device PIO, %.3f device MMIO), %.3f in-kernel exits, %.3f ioeventfd kicks, "
			"%.3f interrupts, %.2f us VMM CPU\n", (unsigned long long)o->results.workload.ops,
			p->ns / 1e6, p->vcpu.exits / ops, d.pio_exits / ops, d.mmio_exits / ops,
			p->kernel.exits / ops, d.ioeventfd_kicks / ops, d.interrupts / ops,
			(p->vcpu.handling_ns + p->io_thread_cpu_ns) / 1e3 / ops);
	}
	for (unsigned i = 0; i < t->ndevices; i++) {
		const struct device_counter_values *c = &t->devices[i].values;
		fprintf(stderr, "device %s: %llu PIO exits, %llu MMIO exits, %llu ioeventfd kicks, "
			"%llu interrupts, %llu requests, %llu faults\n", t->devices[i].name,
			(unsigned long long)c->pio_exits, (unsigned long long)c->mmio_exits,
			(unsigned long long)c->ioeventfd_kicks, (unsigned long long)c->interrupts,
			(unsigned long long)c->requests, (unsigned long long)c->faults);
	}
}

static int cmd_run_usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "iovirt run: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	return CLI_EXIT_USAGE;
}

int cmd_run(int argc, char **argv)
{
	enum { OPT_MEM = 256, OPT_CPUS, OPT_KERNEL, OPT_CMDLINE, OPT_CONSOLE, OPT_DISK, OPT_NIC,
	       OPT_DEVICE, OPT_TIMEOUT, OPT_STATS };
	static const struct option options[] = {
		{ "mem", required_argument, NULL, OPT_MEM },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "console", required_argument, NULL, OPT_CONSOLE },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "nic", required_argument, NULL, OPT_NIC },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct guest_run_config config;
	guest_run_config_defaults(&config);
	bool stats = false;
	int verbosity = LOG_WARN;
	char err[512];
	uint64_t value;

	optind = 1;
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, "vh", options, NULL)) != -1) {
		switch (opt) {
		case OPT_MEM:
			if (cli_parse_size(optarg, &config.mem_bytes) < 0)
				return cmd_run_usage_error("--mem '%s': give a size such as 256M or 2G", optarg);
			break;
		case OPT_CPUS:
			if (cli_parse_uint(optarg, 1, 65535, &value) < 0)
				return cmd_run_usage_error("--cpus '%s': give a count from 1 up", optarg);
			config.ncpus = (unsigned)value;
			break;
		case OPT_KERNEL: config.kernel_path = optarg; break;
		case OPT_CMDLINE: config.cmdline = optarg; break;
		case OPT_CONSOLE: config.console_path = optarg; break;
		case OPT_DISK:
		case OPT_NIC:
		case OPT_DEVICE: {
			const char *function = opt == OPT_DISK ? "disk" : opt == OPT_NIC ? "nic" : "device";
			if (guest_run_add_device(&config, function, optarg, err, sizeof(err)) < 0)
				return cmd_run_usage_error("%s", err);
			break;
		}
		case OPT_TIMEOUT:
			if (cli_parse_uint(optarg, 1, 86400, &value) < 0)
				return cmd_run_usage_error("--timeout '%s': give whole seconds, 1 to 86400", optarg);
			config.timeout_ms = value * 1000;
			break;
		case OPT_STATS: stats = true; break;
		case 'v': verbosity++; break;
		case 'h': cmd_run_help(stdout); return CLI_EXIT_OK;
		default:
			if (optopt)
				fprintf(stderr, "iovirt run: option -%c needs a value or is unknown; "
					"see iovirt run --help\n", optopt);
			else
				fprintf(stderr, "iovirt run: unknown option or missing value in '%s'; "
					"see iovirt run --help\n", argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return cmd_run_usage_error("unexpected argument '%s'; see iovirt run --help", argv[optind]);
	log_set_level(verbosity > LOG_DEBUG ? LOG_DEBUG : (enum log_level)verbosity);

	struct guest_run_outcome outcome;
	if (guest_run(&config, &outcome, err, sizeof(err)) < 0) {
		fprintf(stderr, "iovirt: %s\n", err);
		return CLI_EXIT_USAGE;
	}
	if (stats)
		cmd_run_print_stats(&outcome);

	switch (outcome.reason) {
	case VM_STOP_GUEST_DONE:
		if (outcome.guest_status == GUEST_STATUS_PASS) {
			fprintf(stderr, "iovirt: guest done: pass\n");
			return CLI_EXIT_OK;
		}
		fprintf(stderr, "iovirt: guest done: %s (status %d)%s%s\n",
			guest_status_name(outcome.guest_status), outcome.guest_status,
			outcome.have_results && outcome.results.message[0] ? ": " : "",
			outcome.have_results ? outcome.results.message : "");
		return CLI_EXIT_GUEST_FAILED;
	case VM_STOP_GUEST_SHUTDOWN:
		fprintf(stderr, "iovirt: %s\n", outcome.stop_message);
		return CLI_EXIT_OK;
	case VM_STOP_SIGNAL:
		/* The shell convention, so scripts can tell an interrupted run. */
		fprintf(stderr, "iovirt: %s; the VM was shut down cleanly\n", outcome.stop_message);
		return 128 + outcome.stop_signal;
	default:
		fprintf(stderr, "iovirt: %s: %s\n", vm_stop_reason_name(outcome.reason), outcome.stop_message);
		return CLI_EXIT_VM_ERROR;
	}
}
