/* Boot comparison: `iovirt run` against QEMU booting the same guest.elf, each
 * as a child process, timed from fork to the guest's banner and to exit, with
 * the child's peak resident memory apart from guest RAM. */
#ifndef IOVIRT_BENCH_BOOT_COMPARE_H
#define IOVIRT_BENCH_BOOT_COMPARE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define BOOT_COMPARE_MAX_RUNS 50

struct boot_compare_config {
	const char *iovirt_path;   /* the iovirt binary (normally /proc/self/exe) */
	const char *guest_path;    /* guest.elf for QEMU */
	unsigned runs;             /* per VMM */
	unsigned mem_mib;
};

struct boot_sample {
	bool ok;
	double ms_to_banner;       /* fork -> banner line on the serial console */
	double ms_to_exit;         /* fork -> process exit (guest done) */
	double ms_to_first_insn;   /* iovirt only: from its own --stats */
	uint64_t peak_rss_kib;     /* RssAnon + RssFile: guest RAM is a memfd in both */
};

struct boot_compare_stat { double median, min, max; };

struct boot_compare_result {
	const char *vmm;           /* "iovirt (KVM)" or "QEMU (TCG)" */
	bool available;
	char why_not[160];
	unsigned nsamples;
	struct boot_sample samples[BOOT_COMPARE_MAX_RUNS];
	struct boot_compare_stat banner, exit, first_insn, rss;
};

/* Fills results[0] (iovirt) and results[1] (QEMU). Progress to progress. */
int boot_compare_run(const struct boot_compare_config *config, struct boot_compare_result results[2],
		     FILE *progress);
void boot_compare_print_table(const struct boot_compare_result results[2], FILE *out);
int boot_compare_write_json(const struct boot_compare_result results[2], const char *path);

#endif
