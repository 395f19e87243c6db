/* A disk image on the host: a raw file or a block device, or the demo disk
 * (a sparse temporary file iovirt creates and removes itself). It hands the
 * block engine an fd and a size.
 *
 * Size rule: a nonzero multiple of 512 bytes. Both guest interfaces (NVMe
 * LBAs, virtio-blk sectors) address whole 512-byte sectors, so a partial tail
 * could be neither read nor written consistently; such a file is refused with
 * the command that fixes it rather than silently rounded. */
#ifndef IOVIRT_CORE_DISK_IMAGE_H
#define IOVIRT_CORE_DISK_IMAGE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISK_IMAGE_SECTOR 512u
#define DISK_IMAGE_DEFAULT_TEMP_SIZE (64ull << 20)

struct disk_image_options {
	bool read_only;
	bool direct;        /* O_DIRECT: bypass the host page cache */
};

struct disk_image {
	int fd;
	uint64_t size;
	bool read_only;
	bool direct;
	bool block_device;
	bool temporary;     /* the demo disk: has no name on the host */
	unsigned logical_block_size;   /* 512, or the device's (O_DIRECT alignment) */
	char path[PATH_MAX];           /* as opened; for a temp disk, its directory */
};

/* Opens a raw file or block device. Returns 0, or -1 with one line in err
 * saying what is wrong and how to fix it. */
int disk_image_open(struct disk_image *img, const char *path,
		    const struct disk_image_options *opts, char *err, size_t errlen);

/* Creates the demo disk: `size` bytes (0: 64 MiB), sparse, in $TMPDIR or
 * /var/tmp. It is unnamed from the start (O_TMPFILE, or unlinked right after
 * mkstemp), so closing it or the process dying leaves nothing behind. */
int disk_image_create_temp(struct disk_image *img, uint64_t size,
			   const struct disk_image_options *opts, char *err, size_t errlen);

/* Closes the fd (a temp disk disappears with it). Safe to call twice. */
void disk_image_close(struct disk_image *img);

/* Directory the demo disk goes in: $TMPDIR if set and non-empty, else /var/tmp. */
const char *disk_image_temp_dir(void);

#endif
