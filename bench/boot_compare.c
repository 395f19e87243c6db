#include "bench/boot_compare.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/process_memory.h"

#include "bench/child_process.h"

#define BOOT_BANNER "iovirt test guest: booted via PVH"
#define BOOT_CHILD_TIMEOUT_MS 120000

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Runs argv with stdout and stderr on one pipe; watches for the banner and
 * samples the child's memory until it exits. Returns the exit status. */
static int boot_measure_child(char *const argv[], struct boot_sample *s, char *output, size_t cap)
{
	double t0 = now_ms();
	int fd;
	pid_t pid = child_start_with_output(argv, false, &fd);
	if (pid < 0)
		return -1;
	size_t used = 0;
	output[0] = '\0';
	bool open_pipe = true;
	while (open_pipe) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int r = poll(&pfd, 1, 2);
		uint64_t rss = process_rss_apart_from_shmem_kib(pid);
		if (rss > s->peak_rss_kib)
			s->peak_rss_kib = rss;
		if (r > 0) {
			char buf[4096];
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n <= 0) {
				open_pipe = false;
			} else {
				size_t take = (size_t)n < cap - 1 - used ? (size_t)n : cap - 1 - used;
				memcpy(output + used, buf, take);
				used += take;
				output[used] = '\0';
				if (s->ms_to_banner == 0 && strstr(output, BOOT_BANNER))
					s->ms_to_banner = now_ms() - t0;
			}
		}
		if (now_ms() - t0 > BOOT_CHILD_TIMEOUT_MS) {
			kill(pid, SIGKILL);
			break;
		}
	}
	close(fd);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	s->ms_to_exit = now_ms() - t0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static struct boot_compare_stat boot_stat(const struct boot_compare_result *r, size_t field_offset)
{
	double v[BOOT_COMPARE_MAX_RUNS];
	unsigned n = 0;
	for (unsigned i = 0; i < r->nsamples; i++) {
		if (!r->samples[i].ok)
			continue;
		const char *base = (const char *)&r->samples[i];
		if (field_offset == offsetof(struct boot_sample, peak_rss_kib))
			v[n++] = (double)*(const uint64_t *)(base + field_offset);
		else
			v[n++] = *(const double *)(base + field_offset);
	}
	struct boot_compare_stat st = { 0 };
	if (n == 0)
		return st;
	qsort(v, n, sizeof(v[0]), cmp_double);
	st.min = v[0];
	st.max = v[n - 1];
	st.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return st;
}

static void boot_summarize(struct boot_compare_result *r)
{
	r->banner = boot_stat(r, offsetof(struct boot_sample, ms_to_banner));
	r->exit = boot_stat(r, offsetof(struct boot_sample, ms_to_exit));
	r->first_insn = boot_stat(r, offsetof(struct boot_sample, ms_to_first_insn));
	r->rss = boot_stat(r, offsetof(struct boot_sample, peak_rss_kib));
}

static bool qemu_available(char *path, size_t cap)
{
	static const char *const dirs[] = { "/usr/bin", "/usr/local/bin" };
	for (unsigned i = 0; i < 2; i++) {
		snprintf(path, cap, "%s/qemu-system-x86_64", dirs[i]);
		if (access(path, X_OK) == 0)
			return true;
	}
	return false;
}

int boot_compare_run(const struct boot_compare_config *config, struct boot_compare_result results[2],
		     FILE *progress)
{
	memset(results, 0, 2 * sizeof(results[0]));
	results[0].vmm = "iovirt (KVM)";
	results[1].vmm = "QEMU (TCG)";
	unsigned runs = config->runs > BOOT_COMPARE_MAX_RUNS ? BOOT_COMPARE_MAX_RUNS : config->runs;
	char mem[32], qemu[256], memobj[96], output[65536];
	snprintf(mem, sizeof(mem), "%uM", config->mem_mib);

	results[0].available = true;
	char *iovirt_argv[] = { (char *)config->iovirt_path, "run", "--mem", mem, "--stats",
				"--timeout", "120", NULL };
	results[1].available = qemu_available(qemu, sizeof(qemu));
	if (!results[1].available)
		snprintf(results[1].why_not, sizeof(results[1].why_not),
			 "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)");
	/* Guest RAM as a memfd in QEMU too, so RssAnon+RssFile excludes it in both. */
	snprintf(memobj, sizeof(memobj), "memory-backend-memfd,id=ram,size=%uM", config->mem_mib);
	char *qemu_argv[] = { qemu, "-machine", "q35,memory-backend=ram", "-accel", "tcg", "-m", mem,
			      "-object", memobj, "-kernel", (char *)config->guest_path, "-display", "none",
			      "-serial", "stdio", "-monitor", "none", "-no-reboot", "-device",
			      "isa-debug-exit", "-append", "iovirt.test=boot", NULL };

	for (unsigned i = 0; i < runs; i++) {
		for (unsigned v = 0; v < 2; v++) {
			struct boot_compare_result *r = &results[v];
			if (!r->available)
				continue;
			struct boot_sample *s = &r->samples[r->nsamples++];
			memset(s, 0, sizeof(*s));
			int status = boot_measure_child(v == 0 ? iovirt_argv : qemu_argv, s, output, sizeof(output));
			/* iovirt exits 0 on pass; QEMU's isa-debug-exit gives (0 << 1) | 1. */
			s->ok = status == (v == 0 ? 0 : 1) && s->ms_to_banner > 0;
			if (v == 0) {
				const char *line = strstr(output, "first guest instruction ");
				if (line)
					s->ms_to_first_insn = strtod(line + strlen("first guest instruction "), NULL);
			}
			if (progress)
				fprintf(progress, "boot %u/%u %-13s banner %8.2f ms  exit %8.2f ms  rss %6llu KiB%s\n",
					i + 1, runs, r->vmm, s->ms_to_banner, s->ms_to_exit,
					(unsigned long long)s->peak_rss_kib, s->ok ? "" : "  (FAILED)");
			if (!s->ok && !r->why_not[0])
				snprintf(r->why_not, sizeof(r->why_not), "run %u exited %d without a clean boot",
					 i + 1, status);
		}
	}
	boot_summarize(&results[0]);
	boot_summarize(&results[1]);
	return 0;
}

void boot_compare_print_table(const struct boot_compare_result results[2], FILE *out)
{
	fprintf(out, "\n%-14s %28s %28s %28s %22s\n", "VMM", "first insn ms (min-max)",
		"banner ms (min-max)", "done+exit ms (min-max)", "peak RSS KiB*");
	for (unsigned v = 0; v < 2; v++) {
		const struct boot_compare_result *r = &results[v];
		if (!r->available) {
			fprintf(out, "%-14s skipped: %s\n", r->vmm, r->why_not);
			continue;
		}
		char fi[40] = "n/a";
		if (v == 0)
			snprintf(fi, sizeof(fi), "%.2f (%.2f-%.2f)", r->first_insn.median, r->first_insn.min,
				 r->first_insn.max);
		fprintf(out, "%-14s %28s %12.2f (%6.2f-%6.2f) %12.2f (%6.2f-%6.2f) %10.0f (%.0f-%.0f)\n",
			r->vmm, fi, r->banner.median, r->banner.min, r->banner.max, r->exit.median,
			r->exit.min, r->exit.max, r->rss.median, r->rss.min, r->rss.max);
		if (r->why_not[0])
			fprintf(out, "%-14s note: %s\n", "", r->why_not);
	}
	if (results[0].available && results[1].available && results[1].exit.median > 0)
		fprintf(out, "iovirt/QEMU: time to exit %.3fx, peak RSS %.3fx\n",
			results[0].exit.median / results[1].exit.median,
			results[0].rss.median / (results[1].rss.median > 0 ? results[1].rss.median : 1));
	fprintf(out, "* RssAnon+RssFile: resident memory apart from guest RAM (a memfd in both VMMs).\n"
		"  QEMU runs SeaBIOS before the guest and translates with TCG (KVM is not usable by QEMU here).\n");
}

int boot_compare_write_json(const struct boot_compare_result results[2], const char *path)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -1;
	fprintf(f, "{\n  \"benchmark\": \"boot\",\n  \"vmms\": [\n");
	for (unsigned v = 0; v < 2; v++) {
		const struct boot_compare_result *r = &results[v];
		fprintf(f, "    {\"vmm\": \"%s\", \"available\": %s, \"runs\": %u,\n", r->vmm,
			r->available ? "true" : "false", r->nsamples);
		fprintf(f, "     \"ms_to_first_insn\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f},\n",
			r->first_insn.median, r->first_insn.min, r->first_insn.max);
		fprintf(f, "     \"ms_to_banner\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f},\n",
			r->banner.median, r->banner.min, r->banner.max);
		fprintf(f, "     \"ms_to_exit\": {\"median\": %.3f, \"min\": %.3f, \"max\": %.3f},\n",
			r->exit.median, r->exit.min, r->exit.max);
		fprintf(f, "     \"peak_rss_kib\": {\"median\": %.0f, \"min\": %.0f, \"max\": %.0f}}%s\n",
			r->rss.median, r->rss.min, r->rss.max, v == 0 ? "," : "");
	}
	fprintf(f, "  ]\n}\n");
	return fclose(f);
}
