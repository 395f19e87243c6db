#include "tests/test_util.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

bool test_kvm_available(const char *test_name)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return true;
	}
	const char *ci = getenv("CI");
	if (ci && strcmp(ci, "true") == 0)
		ck_abort_msg("%s: /dev/kvm unusable (%s) but CI=true: KVM tests must run", test_name,
			     strerror(errno));
	fprintf(stderr, "SKIP %s: /dev/kvm unusable (%s)\n", test_name, strerror(errno));
	return false;
}

static void test_drain(int fd, char *buf, size_t cap)
{
	size_t used = 0;
	char scratch[4096];
	for (;;) {
		ssize_t n = read(fd, scratch, sizeof(scratch));
		if (n <= 0)
			break;
		size_t take = (size_t)n;
		if (cap && used + take > cap - 1)
			take = cap - 1 - used;
		memcpy(buf + used, scratch, take);
		used += take;
	}
	if (cap)
		buf[used] = '\0';
}

int test_run_iovirt(const char *const *args, bool empty_dev, char *out, size_t out_cap,
		    char *err, size_t err_cap)
{
	char out_path[] = "/tmp/iovirt-test-out-XXXXXX";
	char err_path[] = "/tmp/iovirt-test-err-XXXXXX";
	int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
	ck_assert_int_ge(out_fd, 0);
	ck_assert_int_ge(err_fd, 0);
	unlink(out_path);
	unlink(err_path);

	const char *argv[64] = { "build/iovirt" };
	unsigned n = 1;
	for (; args[n - 1] && n < 63; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;

	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(out_fd, 1);
		dup2(err_fd, 2);
		if (empty_dev) {
			/* A world without /dev/kvm, for this process only. */
			if (unshare(CLONE_NEWNS) < 0 ||
			    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
			    mount("none", "/dev", "tmpfs", 0, NULL) < 0) {
				fprintf(stderr, "test: cannot hide /dev: %s\n", strerror(errno));
				_exit(99);
			}
		}
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "test: exec %s: %s\n", argv[0], strerror(errno));
		_exit(98);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	lseek(out_fd, 0, SEEK_SET);
	lseek(err_fd, 0, SEEK_SET);
	test_drain(out_fd, out, out_cap);
	test_drain(err_fd, err, err_cap);
	close(out_fd);
	close(err_fd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

long test_read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t used = 0;
	while (used < cap - 1) {
		ssize_t n = read(fd, buf + used, cap - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	close(fd);
	return (long)used;
}

unsigned test_count_lines(const char *text)
{
	unsigned lines = 0;
	for (const char *p = text; *p; p++)
		if (*p == '\n')
			lines++;
	return lines;
}

void test_make_temp_dir(char *dir, size_t cap)
{
	snprintf(dir, cap, "/tmp/iovirt-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

int test_dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}
