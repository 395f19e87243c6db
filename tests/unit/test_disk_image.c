/* Disk images: size rules, clear refusals, and a temporary disk that leaves
 * nothing behind. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/disk_image.h"
#include "tests/test_registry.h"

static unsigned dir_entries(const char *path)
{
	DIR *d = opendir(path);
	ck_assert_ptr_nonnull(d);
	unsigned n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* A file of `size` bytes in a fresh directory; returns its path in out. */
static void make_file(char *dir, char *out, size_t outlen, uint64_t size)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(out, outlen, "%s/disk.img", dir);
	int fd = open(out, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

static void remove_file(const char *dir, const char *path)
{
	unlink(path);
	rmdir(dir);
}

START_TEST(test_open_raw_file)
{
	char dir[] = "/var/tmp/iovirt-img-XXXXXX", path[64], err[256];
	make_file(dir, path, sizeof(path), 3 << 20);
	struct disk_image img;
	ck_assert_msg(disk_image_open(&img, path, NULL, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(img.size, 3 << 20);
	ck_assert(!img.read_only && !img.block_device && !img.temporary);
	ck_assert_int_eq(fcntl(img.fd, F_GETFL) & O_ACCMODE, O_RDWR);
	disk_image_close(&img);
	disk_image_close(&img);

	struct disk_image_options ro = { .read_only = true };
	ck_assert_msg(disk_image_open(&img, path, &ro, err, sizeof(err)) == 0, "%s", err);
	ck_assert(img.read_only);
	ck_assert_int_eq(fcntl(img.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	disk_image_close(&img);

	struct disk_image_options direct = { .direct = true };
	ck_assert_msg(disk_image_open(&img, path, &direct, err, sizeof(err)) == 0, "%s", err);
	ck_assert(fcntl(img.fd, F_GETFL) & O_DIRECT);
	disk_image_close(&img);
	remove_file(dir, path);
}
END_TEST

START_TEST(test_refuses_bad_sizes_and_kinds)
{
	char dir[] = "/var/tmp/iovirt-img-XXXXXX", path[64], err[256];
	struct disk_image img;
	make_file(dir, path, sizeof(path), 1000);
	ck_assert_int_eq(disk_image_open(&img, path, NULL, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "not a multiple of 512"));
	ck_assert_ptr_nonnull(strstr(err, "truncate -s 1024"));
	ck_assert_int_eq(img.fd, -1);

	ck_assert_int_eq(truncate(path, 0), 0);
	ck_assert_int_eq(disk_image_open(&img, path, NULL, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "is empty"));
	remove_file(dir, path);

	ck_assert_int_eq(disk_image_open(&img, path, NULL, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "does not exist"));
	ck_assert_int_eq(disk_image_open(&img, "/var/tmp", NULL, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "directory"));
	ck_assert_int_eq(disk_image_open(&img, "/dev/null", NULL, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "neither a regular file nor a block device"));
	ck_assert_int_eq(disk_image_open(&img, NULL, NULL, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_temp_disk_leaves_nothing_behind)
{
	char dir[] = "/var/tmp/iovirt-tmpdir-XXXXXX", err[256];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
	setenv("TMPDIR", dir, 1);
	struct disk_image img;
	int rc = disk_image_create_temp(&img, 0, NULL, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert(img.temporary);
	ck_assert_uint_eq(img.size, DISK_IMAGE_DEFAULT_TEMP_SIZE);
	struct stat st;
	ck_assert_int_eq(fstat(img.fd, &st), 0);
	ck_assert_uint_eq((uint64_t)st.st_size, DISK_IMAGE_DEFAULT_TEMP_SIZE);
	ck_assert_uint_eq(st.st_nlink, 0);          /* never has (or no longer has) a name */
	ck_assert_uint_lt((uint64_t)st.st_blocks * 512, 1 << 20);  /* sparse */
	ck_assert_uint_eq(dir_entries(dir), 0);
	/* Usable as a disk. */
	char data[512] = "iovirt";
	ck_assert_int_eq(pwrite(img.fd, data, sizeof(data), 4096), 512);
	int fd = img.fd;
	disk_image_close(&img);
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_uint_eq(dir_entries(dir), 0);

	/* Error paths leave nothing either: a size that is not whole sectors. */
	ck_assert_int_eq(disk_image_create_temp(&img, 1000, NULL, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "multiple of 512"));
	ck_assert_uint_eq(dir_entries(dir), 0);
	ck_assert_int_eq(rmdir(dir), 0);

	/* A TMPDIR that does not exist gets one line naming it. */
	ck_assert_int_eq(disk_image_create_temp(&img, 1 << 20, NULL, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, dir));
	ck_assert_ptr_nonnull(strstr(err, "TMPDIR"));
	ck_assert_int_eq(img.fd, -1);

	if (old) {
		setenv("TMPDIR", old, 1);
		free(old);
	} else {
		unsetenv("TMPDIR");
	}
}
END_TEST

START_TEST(test_temp_dir_default)
{
	char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
	unsetenv("TMPDIR");
	ck_assert_str_eq(disk_image_temp_dir(), "/var/tmp");
	setenv("TMPDIR", "", 1);
	ck_assert_str_eq(disk_image_temp_dir(), "/var/tmp");
	setenv("TMPDIR", "/somewhere", 1);
	ck_assert_str_eq(disk_image_temp_dir(), "/somewhere");
	if (old) {
		setenv("TMPDIR", old, 1);
		free(old);
	} else {
		unsetenv("TMPDIR");
	}
}
END_TEST

static Suite *disk_image_suite(void)
{
	Suite *s = suite_create("disk_image");
	TCase *tc = tcase_create("disk_image");
	tcase_add_test(tc, test_open_raw_file);
	tcase_add_test(tc, test_refuses_bad_sizes_and_kinds);
	tcase_add_test(tc, test_temp_disk_leaves_nothing_behind);
	tcase_add_test(tc, test_temp_dir_default);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(disk_image_suite)
