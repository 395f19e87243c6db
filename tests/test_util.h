/* Helpers shared by the test files. */
#ifndef IOVIRT_TESTS_UTIL_H
#define IOVIRT_TESTS_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* True when /dev/kvm can be used. Without it a test returns early after
 * printing why, except under CI=true, where the missing device fails it. */
bool test_kvm_available(const char *test_name);
#define REQUIRE_KVM() do { if (!test_kvm_available(__func__)) return; } while (0)

/* Runs build/iovirt with argv (NULL-terminated, without the program name),
 * optionally inside a private mount namespace with an empty /dev. Captures
 * stdout and stderr (NUL-terminated, truncated to cap). Returns the exit
 * status, or -1 if it did not exit normally. */
int test_run_iovirt(const char *const *args, bool empty_dev, char *out, size_t out_cap,
		    char *err, size_t err_cap);

/* Reads a whole small file into buf (NUL-terminated). Returns bytes or -1. */
long test_read_file(const char *path, char *buf, size_t cap);
/* Counts lines in text. */
unsigned test_count_lines(const char *text);
/* Makes a fresh temporary directory; returns its path in dir. */
void test_make_temp_dir(char *dir, size_t cap);
/* Number of entries in a directory, ignoring . and .. (-1 if unreadable). */
int test_dir_entries(const char *dir);

#endif
