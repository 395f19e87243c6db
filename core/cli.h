/* Shared pieces of the command line: subcommand entry points and parsers. */
#ifndef IOVIRT_CORE_CLI_H
#define IOVIRT_CORE_CLI_H

#include <stddef.h>
#include <stdint.h>

#define IOVIRT_VERSION "0.1.0"

/* Exit codes of the iovirt command (README.md lists them). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_GUEST_FAILED = 1,   /* the guest ran and reported failure */
	CLI_EXIT_USAGE = 2,          /* bad command line or host setup */
	CLI_EXIT_VM_ERROR = 3,       /* the VM died: triple fault, KVM error, timeout */
};

int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* "256M", "1G", "4096", "2k": bytes. Returns 0, or -1 on a malformed value. */
int cli_parse_size(const char *text, uint64_t *bytes);
/* Decimal unsigned integer in [min, max]. */
int cli_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *value);

#endif
