/* Host checks before pass-through, against a made-up sysfs and /dev tree:
 * each failure must name the problem and the commands that fix it. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "passthrough/vfio_host.h"
#include "tests/test_registry.h"
#include "tests/test_util.h"

struct tree {
	char root[256], sysfs[300], dev[300];
	struct vfio_host_paths paths;
};

static void mkdirs(const char *path)
{
	char tmp[1100];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(tmp, 0755);
			*p = '/';
		}
	}
	mkdir(tmp, 0755);
}

static void touch(const char *path)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
}

/* Adds a PCI function in IOMMU group `group`, bound to driver ("" = none). */
static void add_function(struct tree *t, const char *bdf, int group, const char *driver)
{
	char path[1024], target[1024];
	snprintf(path, sizeof(path), "%s/devices/pci0000:00/%s", t->sysfs, bdf);
	mkdirs(path);
	snprintf(path, sizeof(path), "%s/bus/pci/devices", t->sysfs);
	mkdirs(path);
	snprintf(path, sizeof(path), "%s/bus/pci/devices/%s", t->sysfs, bdf);
	snprintf(target, sizeof(target), "%s/devices/pci0000:00/%s", t->sysfs, bdf);
	ck_assert_int_eq(symlink(target, path), 0);
	if (driver[0]) {
		snprintf(target, sizeof(target), "%s/bus/pci/drivers/%s", t->sysfs, driver);
		mkdirs(target);
		snprintf(path, sizeof(path), "%s/devices/pci0000:00/%s/driver", t->sysfs, bdf);
		ck_assert_int_eq(symlink(target, path), 0);
	}
	snprintf(target, sizeof(target), "%s/kernel/iommu_groups/%d/devices", t->sysfs, group);
	mkdirs(target);
	snprintf(path, sizeof(path), "%s/kernel/iommu_groups/%d/devices/%s", t->sysfs, group, bdf);
	snprintf(target, sizeof(target), "%s/devices/pci0000:00/%s", t->sysfs, bdf);
	ck_assert_int_eq(symlink(target, path), 0);
	snprintf(path, sizeof(path), "%s/devices/pci0000:00/%s/iommu_group", t->sysfs, bdf);
	snprintf(target, sizeof(target), "%s/kernel/iommu_groups/%d", t->sysfs, group);
	ck_assert_int_eq(symlink(target, path), 0);
}

static void tree_create(struct tree *t, bool vfio_present)
{
	test_make_temp_dir(t->root, sizeof(t->root));
	snprintf(t->sysfs, sizeof(t->sysfs), "%s/sys", t->root);
	snprintf(t->dev, sizeof(t->dev), "%s/dev", t->root);
	char path[1024];
	snprintf(path, sizeof(path), "%s/vfio", t->dev);
	mkdirs(path);
	if (vfio_present) {
		snprintf(path, sizeof(path), "%s/vfio/vfio", t->dev);
		touch(path);
	}
	t->paths.sysfs = t->sysfs;
	t->paths.dev = t->dev;
}

static void tree_destroy(struct tree *t)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(bdf_forms)
{
	char bdf[VFIO_BDF_LEN], err[256];
	ck_assert_int_eq(vfio_host_parse_bdf("00:03.0", bdf, err, sizeof(err)), 0);
	ck_assert_str_eq(bdf, "0000:00:03.0");
	ck_assert_int_eq(vfio_host_parse_bdf("0001:1A:1f.7", bdf, err, sizeof(err)), 0);
	ck_assert_str_eq(bdf, "0001:1a:1f.7");
	ck_assert_int_eq(vfio_host_parse_bdf("00:20.0", bdf, err, sizeof(err)), -1);
	ck_assert_int_eq(vfio_host_parse_bdf("00:03.0x", bdf, err, sizeof(err)), -1);
	ck_assert_int_eq(vfio_host_parse_bdf("nvme0", bdf, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "host=nvme0 is not a PCI address"));
}
END_TEST

START_TEST(no_vfio_says_load_vfio_pci)
{
	struct tree t;
	tree_create(&t, false);
	add_function(&t, "0000:00:03.0", 5, "vfio-pci");
	char err[1024];
	int group = -1;
	ck_assert_int_eq(vfio_host_check(&t.paths, "0000:00:03.0", &group, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "VFIO not available on this host"));
	ck_assert_ptr_nonnull(strstr(err, "modprobe vfio-pci"));
	tree_destroy(&t);
}
END_TEST

START_TEST(missing_device_is_named)
{
	struct tree t;
	tree_create(&t, true);
	char err[1024];
	int group;
	ck_assert_int_eq(vfio_host_check(&t.paths, "0000:00:09.0", &group, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "0000:00:09.0: device not found"));
	tree_destroy(&t);
}
END_TEST

START_TEST(other_driver_gives_rebind_commands)
{
	struct tree t;
	tree_create(&t, true);
	add_function(&t, "0000:00:04.0", 6, "e1000");
	char err[1024], expect[1200];
	int group;
	ck_assert_int_eq(vfio_host_check(&t.paths, "0000:00:04.0", &group, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "device is bound to e1000, not vfio-pci"));
	snprintf(expect, sizeof(expect), "echo vfio-pci > %s/bus/pci/devices/0000:00:04.0/driver_override; "
		 "echo 0000:00:04.0 > %s/bus/pci/devices/0000:00:04.0/driver/unbind; "
		 "echo 0000:00:04.0 > %s/bus/pci/drivers_probe", t.sysfs, t.sysfs, t.sysfs);
	ck_assert_msg(strstr(err, expect), "got: %s", err);
	tree_destroy(&t);
}
END_TEST

START_TEST(non_viable_group_names_its_members)
{
	struct tree t;
	tree_create(&t, true);
	add_function(&t, "0000:01:01.0", 7, "vfio-pci");
	add_function(&t, "0000:01:02.0", 7, "e1000");
	add_function(&t, "0000:00:05.0", 7, "");
	char err[1024];
	int group;
	ck_assert_int_eq(vfio_host_check(&t.paths, "0000:01:01.0", &group, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "IOMMU group 7 is not viable"), "got: %s", err);
	ck_assert_ptr_nonnull(strstr(err, "0000:01:02.0 is bound to e1000"));
	ck_assert_ptr_nonnull(strstr(err, "0000:00:05.0"));
	ck_assert_ptr_nonnull(strstr(err, "echo vfio-pci > "));
	tree_destroy(&t);
}
END_TEST

START_TEST(viable_group_passes)
{
	struct tree t;
	tree_create(&t, true);
	add_function(&t, "0000:01:01.0", 7, "vfio-pci");
	add_function(&t, "0000:01:02.0", 7, "vfio-pci");
	add_function(&t, "0000:00:05.0", 7, "pcieport");
	char path[1024], err[1024];
	snprintf(path, sizeof(path), "%s/vfio/7", t.dev);
	touch(path);
	int group = -1;
	ck_assert_msg(vfio_host_check(&t.paths, "0000:01:01.0", &group, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_eq(group, 7);
	tree_destroy(&t);
}
END_TEST

static Suite *vfio_host_suite(void)
{
	Suite *s = suite_create("vfio_host");
	TCase *tc = tcase_create("host");
	tcase_add_test(tc, bdf_forms);
	tcase_add_test(tc, no_vfio_says_load_vfio_pci);
	tcase_add_test(tc, missing_device_is_named);
	tcase_add_test(tc, other_driver_gives_rebind_commands);
	tcase_add_test(tc, non_viable_group_names_its_members);
	tcase_add_test(tc, viable_group_passes);
	suite_add_tcase(s, tc);
	return s;
}

TEST_SUITE_REGISTER(vfio_host_suite)
