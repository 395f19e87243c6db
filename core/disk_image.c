#include "core/disk_image.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct disk_image_options default_options;

static int check_size(const char *what, uint64_t size, char *err, size_t errlen)
{
	if (size == 0) {
		snprintf(err, errlen,
			 "disk image %s is empty; a disk needs a nonzero size that is a multiple of "
			 "512 bytes (e.g. truncate -s 64M %s)", what, what);
		return -1;
	}
	if (size % DISK_IMAGE_SECTOR) {
		unsigned long long up = (size / DISK_IMAGE_SECTOR + 1) * DISK_IMAGE_SECTOR;
		snprintf(err, errlen,
			 "disk image %s is %llu bytes, not a multiple of 512; pad it with "
			 "truncate -s %llu %s", what, (unsigned long long)size, up, what);
		return -1;
	}
	return 0;
}

int disk_image_open(struct disk_image *img, const char *path,
		    const struct disk_image_options *opts, char *err, size_t errlen)
{
	memset(img, 0, sizeof(*img));
	img->fd = -1;
	if (!opts)
		opts = &default_options;
	if (!path || !*path) {
		snprintf(err, errlen, "disk image: no path given; use path=FILE or omit it for a temporary disk");
		return -1;
	}
	int flags = (opts->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | (opts->direct ? O_DIRECT : 0);
	int fd = open(path, flags);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			snprintf(err, errlen, "disk image %s does not exist; create one with truncate -s 64M %s",
				 path, path);
		else if ((e == EACCES || e == EROFS || e == EPERM) && !opts->read_only)
			snprintf(err, errlen, "disk image %s cannot be opened for writing (%s); add "
				 "readonly=on or fix its permissions", path, strerror(e));
		else if (e == EINVAL && opts->direct)
			snprintf(err, errlen, "disk image %s: its filesystem does not support O_DIRECT; "
				 "drop direct=on", path);
		else if (e == EISDIR)
			snprintf(err, errlen, "disk image %s is a directory; give a raw image file or a block device",
				 path);
		else
			snprintf(err, errlen, "disk image %s: cannot open: %s", path, strerror(e));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "disk image %s: fstat: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	uint64_t size;
	unsigned lbs = DISK_IMAGE_SECTOR;
	if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		int ssz = 0;
		if (ioctl(fd, BLKGETSIZE64, &size) != 0) {
			snprintf(err, errlen, "disk image %s: cannot read the block device size: %s",
				 path, strerror(errno));
			close(fd);
			return -1;
		}
		if (ioctl(fd, BLKSSZGET, &ssz) == 0 && ssz >= (int)DISK_IMAGE_SECTOR)
			lbs = (unsigned)ssz;
		img->block_device = true;
	} else {
		snprintf(err, errlen, "disk image %s is neither a regular file nor a block device", path);
		close(fd);
		return -1;
	}
	if (check_size(path, size, err, errlen) != 0) {
		close(fd);
		return -1;
	}
	img->fd = fd;
	img->size = size;
	img->read_only = opts->read_only;
	img->direct = opts->direct;
	img->logical_block_size = lbs;
	snprintf(img->path, sizeof(img->path), "%s", path);
	return 0;
}

const char *disk_image_temp_dir(void)
{
	const char *dir = getenv("TMPDIR");
	return dir && *dir ? dir : "/var/tmp";
}

/* An unnamed file in dir: O_TMPFILE where the filesystem has it, else a
 * mkstemp name that is unlinked before anything else can fail. */
static int open_unnamed(const char *dir, bool direct, char *err, size_t errlen)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
		char name[PATH_MAX];
		if (snprintf(name, sizeof(name), "%s/iovirt-disk-XXXXXX", dir) >= (int)sizeof(name)) {
			snprintf(err, errlen, "temporary disk: TMPDIR path is too long");
			return -1;
		}
		fd = mkostemp(name, O_CLOEXEC);
		if (fd >= 0 && unlink(name) != 0) {
			snprintf(err, errlen, "temporary disk: cannot unlink %s: %s", name, strerror(errno));
			close(fd);
			return -1;
		}
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot create the temporary disk in %s (%s); set TMPDIR to a "
			 "writable directory", dir, strerror(errno));
		return -1;
	}
	if (direct) {
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_DIRECT) != 0) {
			snprintf(err, errlen, "temporary disk: the filesystem of %s does not support "
				 "O_DIRECT; set TMPDIR elsewhere or drop direct=on", dir);
			close(fd);
			return -1;
		}
	}
	return fd;
}

int disk_image_create_temp(struct disk_image *img, uint64_t size,
			   const struct disk_image_options *opts, char *err, size_t errlen)
{
	memset(img, 0, sizeof(*img));
	img->fd = -1;
	if (!opts)
		opts = &default_options;
	if (size == 0)
		size = DISK_IMAGE_DEFAULT_TEMP_SIZE;
	if (check_size("(temporary)", size, err, errlen) != 0)
		return -1;
	if (opts->read_only) {
		snprintf(err, errlen, "temporary disk: a read-only temporary disk would hold only zeros; "
			 "drop readonly=on or give path=FILE");
		return -1;
	}
	const char *dir = disk_image_temp_dir();
	int fd = open_unnamed(dir, opts->direct, err, errlen);
	if (fd < 0)
		return -1;
	if (size > (uint64_t)INT64_MAX)
		errno = EFBIG;
	if (size > (uint64_t)INT64_MAX || ftruncate(fd, (off_t)size) != 0) {
		snprintf(err, errlen, "temporary disk: cannot size it to %llu bytes in %s: %s",
			 (unsigned long long)size, dir, strerror(errno));
		close(fd);
		return -1;
	}
	img->fd = fd;
	img->size = size;
	img->direct = opts->direct;
	img->temporary = true;
	img->logical_block_size = DISK_IMAGE_SECTOR;
	snprintf(img->path, sizeof(img->path), "%s", dir);
	return 0;
}

void disk_image_close(struct disk_image *img)
{
	if (img->fd >= 0)
		close(img->fd);
	img->fd = -1;
}
