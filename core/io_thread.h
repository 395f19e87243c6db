/* The per-VM I/O thread: one io_uring loop that reaps block-engine
 * completions, watches eventfds (ioeventfd virtqueue kicks) and runs
 * functions posted from other threads.
 *
 * Threading rule: the ring has one owner. While the thread is started, only
 * the loop thread touches the ring (block engine submissions included);
 * other threads go through io_thread_call / io_thread_call_sync. While it is
 * not started, whoever calls io_thread_poll_once / io_thread_run_until is the
 * owner (the benchmark baseline and the unit tests drive it inline). */
#ifndef IOVIRT_CORE_IO_THREAD_H
#define IOVIRT_CORE_IO_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct io_uring;
struct io_thread;

/* Something with a request in flight on the ring: the CQE's user_data points
 * to it, and `complete` runs on the loop with the CQE's result and flags. */
struct io_thread_op {
	void (*complete)(struct io_thread_op *op, int res, unsigned cqe_flags);
};

/* Called on the loop when a watched eventfd was signalled; `count` is the
 * counter value the loop read (and so reset). */
typedef void (*io_thread_fd_fn)(void *opaque, uint64_t count);
typedef void (*io_thread_call_fn)(void *opaque);
typedef bool (*io_thread_done_fn)(void *opaque);

#define IO_THREAD_DEFAULT_ENTRIES 256
#define IO_THREAD_MAX_FILES       64   /* registered-file slots per ring */

/* Sets up the ring (entries: SQ size, a power of two up to 4096). Returns NULL
 * with one line in err when io_uring is unavailable: there is no slower
 * fallback, by design. */
struct io_thread *io_thread_create(unsigned entries, char *err, size_t errlen);
/* Stops the thread if running, cancels everything on the ring, closes its fds
 * and frees it. Block engines using it must be destroyed first. */
void io_thread_destroy(struct io_thread *t);

/* Starts the loop on a new thread, pinned to `cpu` when cpu >= 0. */
int io_thread_start(struct io_thread *t, const char *name, int cpu, char *err, size_t errlen);
/* Asks the loop to return and joins the thread. Requests in flight stay on
 * the ring; poll inline or start again to reap them. */
void io_thread_stop(struct io_thread *t);
bool io_thread_running(const struct io_thread *t);
/* CPU time the loop thread has used so far (0 when not started). */
uint64_t io_thread_cpu_ns(const struct io_thread *t);
/* True on the loop thread, or on any thread when the loop is not started. */
bool io_thread_on_loop(const struct io_thread *t);

/* Inline driving. Submits what is queued, then reaps and runs completions.
 * With wait, blocks until at least one completion arrives. Returns the number
 * of completions handled, or a negative errno. */
int io_thread_poll_once(struct io_thread *t, bool wait);
/* Polls (blocking) until done(opaque) is true. Returns 0 or a negative errno. */
int io_thread_run_until(struct io_thread *t, io_thread_done_fn done, void *opaque);

/* Runs fn(opaque) on the loop soon; any thread, never blocks on the loop.
 * Returns 0 or -ENOMEM. Calls run in the order posted. */
int io_thread_call(struct io_thread *t, io_thread_call_fn fn, void *opaque);
/* Runs fn(opaque) on the loop and waits for it; runs it directly when called
 * on the loop or when the loop is not started. */
int io_thread_call_sync(struct io_thread *t, io_thread_call_fn fn, void *opaque);

/* Watches an eventfd: each time it is signalled the loop reads it and calls
 * fn(opaque, count). Any thread. Returns a watch id > 0, or a negative errno.
 * After io_thread_unwatch returns, fn is not called again for that id. */
int io_thread_watch_eventfd(struct io_thread *t, int fd, io_thread_fd_fn fn, void *opaque);
int io_thread_unwatch(struct io_thread *t, int watch_id);

/* Registered files: returns a fixed-file slot holding fd (usable with
 * IOSQE_FIXED_FILE), or a negative errno when none is free. Any thread. */
int io_thread_register_file(struct io_thread *t, int fd);
void io_thread_unregister_file(struct io_thread *t, int slot);

/* For owners of the ring (the block engine): an SQE to fill, submitting what
 * is queued first when the SQ is full. NULL only if the ring is broken. */
struct io_uring_sqe *io_thread_get_sqe(struct io_thread *t);
struct io_uring *io_thread_ring(struct io_thread *t);

#endif
