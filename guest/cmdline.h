/* The guest's parameters: whitespace-separated words on the PVH command line,
 * "key=value" or a bare "key". Unknown keys are ignored, so a command line can
 * carry parameters for later workloads (qd=, bs=, ...) or for another kernel.
 * When a key appears twice the last one wins. */
#ifndef IOVIRT_GUEST_CMDLINE_H
#define IOVIRT_GUEST_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A value inside the command line (not NUL-terminated). */
struct cmdline_value {
	const char *text;
	size_t len;
};

/* Finds key; a bare key yields an empty value. False if absent. */
bool cmdline_lookup(const char *cmdline, const char *key, struct cmdline_value *value);

/* Parses key's value as an unsigned number: decimal, or hex with 0x. Absent:
 * *out = default_value and true. Present but not a number (or overflowing):
 * false, *out untouched. */
bool cmdline_lookup_u64(const char *cmdline, const char *key, uint64_t default_value,
			uint64_t *out);

#endif
