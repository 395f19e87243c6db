/* Starting a program whose output the bench reads while it runs: the QEMU
 * peer runs (bench/bench_qemu.c) and the boot comparison
 * (bench/boot_compare.c). */
#ifndef IOVIRT_BENCH_CHILD_PROCESS_H
#define IOVIRT_BENCH_CHILD_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>

/* Starts argv (argv[0] looked up in PATH when search_path, else run as
 * given) with stdin on /dev/null (when that opens) and stdout and stderr on
 * one pipe. Returns the child's pid and the pipe's read end (close-on-exec)
 * in *read_fd, or -1 with nothing left open. The caller reads to EOF, closes
 * *read_fd and reaps the child. */
pid_t child_start_with_output(char *const argv[], bool search_path, int *read_fd);

#endif
