/* iovirt: entry point; dispatches to one file per subcommand. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "core/cli.h"
#include "core/device.h"

static void main_print_help(FILE *out)
{
	fprintf(out,
		"iovirt %s: a small KVM VMM that runs one guest with devices in three I/O models\n"
		"(passthrough: VFIO; emulated: trap-and-emulate NVMe/e1000; split: virtio on io_uring/DPDK)\n"
		"\n"
		"usage: iovirt run [options]      boot a guest (the built-in test guest by default)\n"
		"       iovirt bench [options]    benchmark the I/O models (see iovirt bench --help)\n"
		"       iovirt --help | --version\n"
		"\n"
		"Run 'iovirt run --help' for the options of run.\n"
		"\n"
		"Device models this binary has (function/model):\n",
		IOVIRT_VERSION);
	unsigned n = 0;
	for (const struct device_model_ops *ops; (ops = device_model_at(n)); n++)
		fprintf(out, "  %-8s %-12s %s\n", ops->function, ops->model, ops->summary);
	if (n == 0)
		fprintf(out, "  (none yet)\n");
}

int main(int argc, char **argv)
{
	/* Block SIGINT/SIGTERM before any thread exists, so every thread inherits
	 * the mask and vm_run() can take them from a signalfd. */
	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

	if (argc < 2) {
		main_print_help(stderr);
		return CLI_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		main_print_help(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("iovirt %s\n", IOVIRT_VERSION);
		return CLI_EXIT_OK;
	}
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "bench") == 0)
		return cmd_bench(argc - 1, argv + 1);
	fprintf(stderr, "iovirt: unknown command '%s'; try 'iovirt --help'\n", cmd);
	return CLI_EXIT_USAGE;
}
