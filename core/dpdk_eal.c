/* Lazy, once-per-process start of DPDK's EAL with iovirt's defaults.
 *
 * Debian's DPDK is a shared build whose drivers (bus_vdev, net_ring,
 * mempool_ring, ...) are plugins under <libdir>/dpdk/pmds-<ABI>/; nothing
 * links them, so without them even the mbuf pool cannot be created. The EAL
 * loads its compiled-in plugin directory by itself, but we also pass that
 * directory with -d, found next to the librte_eal actually loaded, so a
 * DPDK built with another default path still works (loading a plugin twice
 * is harmless). IOVIRT_DPDK_PMD_DIR overrides the directory.
 *
 * Devices other than a PCI NIC are not put on the EAL command line: they are
 * hot-plugged after start (rte_dev_probe), so a bad --vdev string costs one
 * port, not the EAL for the rest of the process. */
#include "core/dpdk_eal.h"

#include <dlfcn.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>

#include "core/log.h"

#define EAL_MAX_ARGS 24
#define EAL_ERR_LEN  256

enum eal_state { EAL_NOT_STARTED, EAL_RUNNING, EAL_FAILED };

static pthread_mutex_t eal_lock = PTHREAD_MUTEX_INITIALIZER;
static enum eal_state eal_state = EAL_NOT_STARTED;
static char eal_error[EAL_ERR_LEN];
static char eal_pci[128];            /* the PCI device allowed at start, or "" */

static bool is_directory(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* <dir of librte_eal>/dpdk/pmds-<ABI>, the ABI taken from the library's
 * real file name (librte_eal.so.23.0 -> pmds-23.0). */
static bool eal_plugin_dir(char *out, size_t outlen)
{
	const char *env = getenv("IOVIRT_DPDK_PMD_DIR");
	if (env != NULL && env[0] != '\0') {
		snprintf(out, outlen, "%s", env);
		return true;
	}
	Dl_info info;
	char real[PATH_MAX];
	if (dladdr((void *)rte_eal_init, &info) == 0 || info.dli_fname == NULL ||
	    realpath(info.dli_fname, real) == NULL)
		return false;
	char *slash = strrchr(real, '/');
	const char *so = strstr(slash ? slash : real, ".so.");
	if (slash == NULL || so == NULL)
		return false;           /* a static build has no plugins */
	*slash = '\0';
	if ((size_t)snprintf(out, outlen, "%s/dpdk/pmds-%s", real, so + 4) < outlen && is_directory(out))
		return true;
	/* ABI suffix not matched: take any plugin directory beside it. */
	char pattern[PATH_MAX + 16];
	snprintf(pattern, sizeof(pattern), "%s/dpdk/pmds-*", real);
	glob_t g;
	bool found = false;
	if (glob(pattern, GLOB_ONLYDIR, NULL, &g) == 0 && g.gl_pathc > 0) {
		snprintf(out, outlen, "%s", g.gl_pathv[g.gl_pathc - 1]);
		found = true;
	}
	globfree(&g);
	return found;
}

/* The first non-empty line of a captured log, trimmed. */
static void first_log_line(const char *text, char *out, size_t outlen)
{
	out[0] = '\0';
	if (text == NULL || outlen == 0)
		return;
	while (*text == '\n' || *text == ' ')
		text++;
	size_t len = strcspn(text, "\n");
	if (len >= outlen)
		len = outlen - 1;
	memcpy(out, text, len);
	out[len] = '\0';
}

int dpdk_eal_call_logged(int (*fn)(void *arg), void *arg, char *why, size_t whylen)
{
	char *text = NULL;
	size_t size = 0;
	FILE *capture = open_memstream(&text, &size);
	if (capture != NULL)
		rte_openlog_stream(capture);
	int ret = fn(arg);
	if (capture != NULL) {
		rte_openlog_stream(NULL);
		fclose(capture);
	}
	if (why != NULL && whylen > 0) {
		why[0] = '\0';
		if (ret < 0)
			first_log_line(text, why, whylen);
	}
	if (ret >= 0 && text != NULL && size > 0)
		log_debug("dpdk: %s", text);
	free(text);
	return ret;
}

struct eal_init_call {
	int argc;
	char **argv;
};

static int eal_init_fn(void *arg)
{
	struct eal_init_call *call = arg;
	return rte_eal_init(call->argc, call->argv);
}

static int eal_start_locked(const char *pci_devargs)
{
	char cpu_arg[32], plugin_dir[PATH_MAX], log_arg[32];
	char *args[EAL_MAX_ARGS];
	int argc = 0;

	/* The EAL pins the calling thread to its lcore; keep the caller's mask. */
	cpu_set_t saved;
	bool have_saved = pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0;
	int cpu = sched_getcpu();
	/* lcore 0 on whatever CPU we are on, however high its number. */
	snprintf(cpu_arg, sizeof(cpu_arg), "--lcores=0@%d", cpu < 0 ? 0 : cpu);
	snprintf(log_arg, sizeof(log_arg), "--log-level=%s",
		 log_get_level() >= LOG_DEBUG ? "info" : "error");

	args[argc++] = "iovirt";
	args[argc++] = "--no-huge";
	args[argc++] = "-m";
	args[argc++] = "256";
	args[argc++] = "--no-shconf";      /* no config file lock: processes do not collide */
	args[argc++] = "--no-telemetry";
	args[argc++] = "--file-prefix=iovirt";
	args[argc++] = log_arg;
	args[argc++] = cpu_arg;
	bool have_plugin_dir = eal_plugin_dir(plugin_dir, sizeof(plugin_dir));
	if (have_plugin_dir) {
		args[argc++] = "-d";
		args[argc++] = plugin_dir;
	}
	char pci_arg[sizeof(eal_pci)];
	if (pci_devargs == NULL) {
		args[argc++] = "--no-pci";
	} else {
		snprintf(pci_arg, sizeof(pci_arg), "%s", pci_devargs);
		args[argc++] = "-a";
		args[argc++] = pci_arg;
	}
	args[argc] = NULL;

	struct eal_init_call call = { .argc = argc, .argv = args };
	char why[160];
	int ret = dpdk_eal_call_logged(eal_init_fn, &call, why, sizeof(why));
	if (have_saved)
		pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	if (ret < 0) {
		snprintf(eal_error, sizeof(eal_error), "DPDK EAL failed to start: %s%s%s",
			 rte_strerror(rte_errno), why[0] ? ": " : "", why);
		return -1;
	}
	snprintf(eal_pci, sizeof(eal_pci), "%s", pci_devargs ? pci_devargs : "");
	log_debug("dpdk: EAL started (plugins %s)", have_plugin_dir ? plugin_dir : "EAL default");
	return 0;
}

int dpdk_eal_start(const char *pci_devargs, char *err, size_t errlen)
{
	int ret = 0;
	pthread_mutex_lock(&eal_lock);
	switch (eal_state) {
	case EAL_NOT_STARTED:
		if (eal_start_locked(pci_devargs) == 0) {
			eal_state = EAL_RUNNING;
		} else {
			eal_state = EAL_FAILED;
			snprintf(err, errlen, "%s", eal_error);
			ret = -1;
		}
		break;
	case EAL_RUNNING:
		if (pci_devargs != NULL && strcmp(pci_devargs, eal_pci) != 0) {
			snprintf(err, errlen, "DPDK was started %s; a PCI NIC must be the first DPDK "
				 "device this process opens", eal_pci[0] ? "for another PCI device" :
				 "without PCI (--no-pci) for a virtual device");
			ret = -1;
		}
		break;
	case EAL_FAILED:
		snprintf(err, errlen, "%s (an earlier start failed; it cannot be retried in this process)",
			 eal_error);
		ret = -1;
		break;
	}
	pthread_mutex_unlock(&eal_lock);
	return ret;
}
