/* Host-side checks for VFIO pass-through, read from sysfs. */
#include "passthrough/vfio_host.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const struct vfio_host_paths vfio_host_default_paths = { .sysfs = "/sys", .dev = "/dev" };

#define VFIO_DRIVER "vfio-pci"

int vfio_host_parse_bdf(const char *text, char bdf[VFIO_BDF_LEN], char *err, size_t errlen)
{
	unsigned domain = 0, bus, slot, func;
	int used = 0;
	size_t n = strlen(text);
	bool ok = false;
	if (sscanf(text, "%4x:%2x:%2x.%1x%n", &domain, &bus, &slot, &func, &used) == 4 &&
	    (size_t)used == n && n == 12)
		ok = true;
	else if (sscanf(text, "%2x:%2x.%1x%n", &bus, &slot, &func, &used) == 3 &&
		 (size_t)used == n && n == 7)
		ok = true;
	if (!ok || slot > 31 || func > 7) {
		snprintf(err, errlen, "host=%s is not a PCI address: write it as in lspci -D, "
			 "e.g. host=0000:00:03.0", text);
		return -1;
	}
	snprintf(bdf, VFIO_BDF_LEN, "%04x:%02x:%02x.%x", domain, bus, slot, func);
	return 0;
}

/* Basename of the symlink at path, "" when there is none. */
static int link_basename(const char *path, char *out, size_t len)
{
	char target[PATH_MAX];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		out[0] = '\0';
		return -1;
	}
	target[n] = '\0';
	const char *base = strrchr(target, '/');
	snprintf(out, len, "%s", base ? base + 1 : target);
	return 0;
}

int vfio_host_driver(const struct vfio_host_paths *paths, const char *bdf, char *driver, size_t len)
{
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", paths->sysfs, bdf);
	if (stat(path, &st) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/driver", paths->sysfs, bdf);
	link_basename(path, driver, len);
	return 0;
}

/* The commands that move bdf from its driver (if any) to vfio-pci. */
static void rebind_commands(const struct vfio_host_paths *paths, const char *bdf, bool bound,
			    char *out, size_t len)
{
	const char *s = paths->sysfs;
	if (bound)
		snprintf(out, len, "echo vfio-pci > %s/bus/pci/devices/%s/driver_override; "
			 "echo %s > %s/bus/pci/devices/%s/driver/unbind; echo %s > %s/bus/pci/drivers_probe",
			 s, bdf, bdf, s, bdf, bdf, s);
	else
		snprintf(out, len, "echo vfio-pci > %s/bus/pci/devices/%s/driver_override; "
			 "echo %s > %s/bus/pci/drivers_probe", s, bdf, bdf, s);
}

/* Drivers that may hold a function in a group without breaking isolation:
 * vfio-pci, the PCIe port driver (bridges) and pci-stub. */
static bool driver_is_harmless(const char *driver)
{
	return driver[0] == '\0' || strcmp(driver, VFIO_DRIVER) == 0 ||
	       strcmp(driver, "pcieport") == 0 || strcmp(driver, "pci-stub") == 0;
}

static int group_check(const struct vfio_host_paths *paths, const char *bdf, int group,
		       char *err, size_t errlen)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/kernel/iommu_groups/%d/devices", paths->sysfs, group);
	DIR *dir = opendir(path);
	if (!dir) {
		snprintf(err, errlen, "%s: cannot list IOMMU group %d (%s): %s", bdf, group, path,
			 strerror(errno));
		return -1;
	}
	char others[256] = "", first_bad[VFIO_BDF_LEN] = "", first_driver[64] = "";
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, bdf) == 0)
			continue;
		size_t used = strlen(others), name_len = strlen(de->d_name);
		if (used + name_len + 2 < sizeof(others)) {   /* the list is for the message only */
			if (used)
				others[used++] = ' ';
			memcpy(others + used, de->d_name, name_len + 1);
		}
		char driver[64];
		if (vfio_host_driver(paths, de->d_name, driver, sizeof(driver)) == 0 &&
		    !driver_is_harmless(driver) && !first_bad[0]) {
			snprintf(first_bad, sizeof(first_bad), "%.12s", de->d_name);
			snprintf(first_driver, sizeof(first_driver), "%s", driver);
		}
	}
	closedir(dir);
	if (!first_bad[0])
		return 0;
	char fix[512];
	rebind_commands(paths, first_bad, true, fix, sizeof(fix));
	snprintf(err, errlen, "%s: IOMMU group %d is not viable: it also holds %s, and %s is bound "
		 "to %s; bind every device of the group to vfio-pci (or unbind it): %s", bdf, group,
		 others, first_bad, first_driver, fix);
	return -1;
}

int vfio_host_check(const struct vfio_host_paths *paths, const char *bdf, int *group,
		    char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof(path), "%s/vfio/vfio", paths->dev);
	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "VFIO not available on this host (%s missing): load vfio-pci "
			 "with 'modprobe vfio-pci' (the kernel needs CONFIG_VFIO and an IOMMU)", path);
		return -1;
	}
	char driver[64];
	if (vfio_host_driver(paths, bdf, driver, sizeof(driver)) < 0) {
		snprintf(err, errlen, "%s: device not found (no %s/bus/pci/devices/%s); lspci -D "
			 "lists the host's PCI addresses", bdf, paths->sysfs, bdf);
		return -1;
	}
	if (strcmp(driver, VFIO_DRIVER) != 0) {
		char fix[512];
		rebind_commands(paths, bdf, driver[0] != '\0', fix, sizeof(fix));
		if (driver[0])
			snprintf(err, errlen, "%s: device is bound to %s, not vfio-pci; rebind it: %s",
				 bdf, driver, fix);
		else
			snprintf(err, errlen, "%s: device is bound to no driver, not vfio-pci; bind it: %s",
				 bdf, fix);
		return -1;
	}
	char name[32];
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s/iommu_group", paths->sysfs, bdf);
	if (link_basename(path, name, sizeof(name)) < 0) {
		snprintf(err, errlen, "%s: device has no IOMMU group: boot the host with the IOMMU on "
			 "(intel_iommu=on or amd_iommu=on on the kernel command line)", bdf);
		return -1;
	}
	char *end;
	long n = strtol(name, &end, 10);
	if (*end || end == name || n < 0 || n > INT_MAX) {
		snprintf(err, errlen, "%s: IOMMU group '%s' is not a number", bdf, name);
		return -1;
	}
	*group = (int)n;
	if (group_check(paths, bdf, *group, err, errlen) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/vfio/%d", paths->dev, *group);
	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s: %s is missing although the device is bound to vfio-pci",
			 bdf, path);
		return -1;
	}
	return 0;
}
