/* Host-side checks before a PCI function can be passed through: VFIO is
 * there, the function exists, it is bound to vfio-pci, it has an IOMMU group
 * and every function in that group is bound to vfio-pci or to nothing. Each
 * failure gets one line saying what is wrong and the commands that fix it. */
#ifndef IOVIRT_PASSTHROUGH_VFIO_HOST_H
#define IOVIRT_PASSTHROUGH_VFIO_HOST_H

#include <stddef.h>

#define VFIO_BDF_LEN 13   /* "dddd:bb:ss.f" + NUL */

/* Where the checks look: "/sys" and "/dev" on a real host; unit tests point
 * them at a made-up tree. */
struct vfio_host_paths {
	const char *sysfs;
	const char *dev;
};

extern const struct vfio_host_paths vfio_host_default_paths;

/* "0000:00:03.0" or "00:03.0" (domain 0) -> canonical "0000:00:03.0".
 * Returns 0, or -1 with one line in err. */
int vfio_host_parse_bdf(const char *text, char bdf[VFIO_BDF_LEN], char *err, size_t errlen);

/* Runs every check for bdf (canonical) and gives its IOMMU group number.
 * Returns 0, or -1 with one line in err. */
int vfio_host_check(const struct vfio_host_paths *paths, const char *bdf, int *group,
		    char *err, size_t errlen);

/* The name of the driver bound to bdf, "" when none. 0, or -1 if no such device. */
int vfio_host_driver(const struct vfio_host_paths *paths, const char *bdf, char *driver, size_t len);

#endif
