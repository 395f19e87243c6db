/* The ways a running VM stops: SIGTERM/SIGINT, --timeout, and leaving
 * nothing behind. The guest runs iovirt.test=idle, which never finishes. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/cli.h"
#include "tests/test_registry.h"
#include "tests/test_util.h"

/* Starts build/iovirt on the idle guest, waits until the guest says it is
 * idle, sends sig, and returns the exit status; stderr goes to err. */
static int run_idle_and_signal(int sig, char *err, size_t cap)
{
	char dir[64], console[96], errpath[96];
	test_make_temp_dir(dir, sizeof(dir));
	snprintf(console, sizeof(console), "%s/console", dir);
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 2);
		execl("build/iovirt", "build/iovirt", "run", "--mem", "64M", "--cmdline", "iovirt.test=idle",
		      "--console", console, "--timeout", "120", (char *)NULL);
		_exit(98);
	}
	char text[4096] = "";
	for (int i = 0; i < 600 && !strstr(text, "idle: waiting"); i++) {
		usleep(50 * 1000);
		test_read_file(console, text, sizeof(text));
	}
	ck_assert_msg(strstr(text, "idle: waiting") != NULL, "guest never went idle: %s", text);
	ck_assert_int_eq(kill(pid, sig), 0);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	test_read_file(errpath, err, cap);
	unlink(console);
	unlink(errpath);
	rmdir(dir);
	ck_assert_msg(WIFEXITED(status), "iovirt died of signal %d instead of shutting down",
		      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

START_TEST(test_stop_on_sigterm)
{
	REQUIRE_KVM();
	char err[4096];
	int status = run_idle_and_signal(SIGTERM, err, sizeof(err));
	ck_assert_msg(status == 128 + SIGTERM, "exit %d: %s", status, err);
	ck_assert_ptr_nonnull(strstr(err, "shut down cleanly"));
}
END_TEST

START_TEST(test_stop_on_sigint)
{
	REQUIRE_KVM();
	char err[4096];
	int status = run_idle_and_signal(SIGINT, err, sizeof(err));
	ck_assert_msg(status == 128 + SIGINT, "exit %d: %s", status, err);
}
END_TEST

START_TEST(test_stop_on_timeout)
{
	REQUIRE_KVM();
	char out[4096], err[4096];
	int status = test_run_iovirt((const char *const[]){ "run", "--mem", "64M", "--cmdline",
							    "iovirt.test=idle", "--timeout", "1", NULL },
				     false, out, sizeof(out), err, sizeof(err));
	ck_assert_msg(status == CLI_EXIT_VM_ERROR, "exit %d: %s", status, err);
	ck_assert_ptr_nonnull(strstr(err, "--timeout"));
	ck_assert_ptr_nonnull(strstr(out, "idle: waiting"));
}
END_TEST

static Suite *vm_stop_suite(void)
{
	Suite *s = suite_create("vm_stop");
	TCase *tc = tcase_create("kvm");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_stop_on_sigterm);
	tcase_add_test(tc, test_stop_on_sigint);
	tcase_add_test(tc, test_stop_on_timeout);
	suite_add_tcase(s, tc);
	return s;
}
TEST_SUITE_REGISTER(vm_stop_suite)
