#include "core/io_thread.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <time.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"

/* An eventfd watch is an io_uring read of the 8-byte counter, re-armed after
 * each completion: a kick costs one CQE and no extra syscall (a poll would
 * need a read(2) on top). */
struct eventfd_watch {
	struct io_thread_op op;
	struct io_thread *thread;
	int id;
	int fd;
	uint64_t value;
	io_thread_fd_fn fn;
	void *opaque;
	bool active;   /* false once unwatched: no more callbacks */
	bool armed;    /* a read is in flight */
	struct eventfd_watch *next;
};

struct posted_call {
	io_thread_call_fn fn;
	void *opaque;
	struct posted_call *next;
};

struct io_thread {
	struct io_uring ring;
	int wake_fd;
	struct eventfd_watch wake_watch;
	struct eventfd_watch *watches;  /* loop-owned */
	int next_watch_id;

	pthread_mutex_t lock;           /* calls, file slots */
	pthread_cond_t call_done;
	struct posted_call *calls_head, *calls_tail;
	bool file_slot_used[IO_THREAD_MAX_FILES];
	bool files_registered;

	pthread_t thread;
	atomic_bool started;
	atomic_bool stop_requested;
};

static void watch_arm(struct eventfd_watch *w)
{
	struct io_uring_sqe *sqe = io_thread_get_sqe(w->thread);
	if (!sqe) {
		log_error("io thread: no submission slot to re-arm the watch on fd %d", w->fd);
		return;
	}
	io_uring_prep_read(sqe, w->fd, &w->value, sizeof(w->value), 0);
	io_uring_sqe_set_data(sqe, &w->op);
	w->armed = true;
}

static void watch_unlink_free(struct eventfd_watch *w)
{
	struct io_thread *t = w->thread;
	for (struct eventfd_watch **p = &t->watches; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	if (w != &t->wake_watch)
		free(w);
}

static void watch_complete(struct io_thread_op *op, int res, unsigned cqe_flags)
{
	(void)cqe_flags;
	struct eventfd_watch *w = (struct eventfd_watch *)op;
	w->armed = false;
	if (w->active && res == (int)sizeof(w->value)) {
		w->fn(w->opaque, w->value);
	} else if (w->active && res < 0 && res != -EAGAIN && res != -EINTR && res != -ECANCELED) {
		log_error("io thread: reading watched eventfd %d failed: %s; it is no longer watched",
			  w->fd, strerror(-res));
		w->active = false;
	}
	/* fn may have unwatched itself. */
	if (w->active)
		watch_arm(w);
	else
		watch_unlink_free(w);
}

static void run_posted_calls(void *opaque, uint64_t count)
{
	(void)count;
	struct io_thread *t = opaque;
	pthread_mutex_lock(&t->lock);
	struct posted_call *c = t->calls_head;
	t->calls_head = t->calls_tail = NULL;
	pthread_mutex_unlock(&t->lock);
	while (c) {
		struct posted_call *next = c->next;
		c->fn(c->opaque);
		free(c);
		c = next;
	}
}

struct io_thread *io_thread_create(unsigned entries, char *err, size_t errlen)
{
	if (entries == 0)
		entries = IO_THREAD_DEFAULT_ENTRIES;
	if (entries > 4096 || (entries & (entries - 1))) {
		snprintf(err, errlen, "io thread: ring size %u is not a power of two up to 4096", entries);
		return NULL;
	}
	struct io_thread *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "io thread: out of memory");
		return NULL;
	}
	/* COOP_TASKRUN: completions are run when we enter the kernel anyway, so
	 * skip the IPIs that would interrupt us to run them earlier. */
	struct io_uring_params p = { .flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL };
	int r = io_uring_queue_init_params(entries, &t->ring, &p);
	if (r == -EINVAL) {
		memset(&p, 0, sizeof(p));
		r = io_uring_queue_init_params(entries, &t->ring, &p);
	}
	if (r < 0) {
		snprintf(err, errlen,
			 "io thread: cannot set up io_uring (%s); iovirt needs io_uring: check "
			 "kernel.io_uring_disabled and the seccomp/container policy",
			 strerror(-r));
		free(t);
		return NULL;
	}
	t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->wake_fd < 0) {
		snprintf(err, errlen, "io thread: eventfd: %s", strerror(errno));
		io_uring_queue_exit(&t->ring);
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->call_done, NULL);
	t->files_registered = io_uring_register_files_sparse(&t->ring, IO_THREAD_MAX_FILES) == 0;
	t->next_watch_id = 1;

	t->wake_watch = (struct eventfd_watch){
		.op.complete = watch_complete, .thread = t, .id = 0, .fd = t->wake_fd,
		.fn = run_posted_calls, .opaque = t, .active = true,
	};
	watch_arm(&t->wake_watch);
	io_uring_submit(&t->ring);
	return t;
}

void io_thread_destroy(struct io_thread *t)
{
	if (!t)
		return;
	io_thread_stop(t);
	/* Tearing down the ring cancels the watch reads still in flight. */
	io_uring_queue_exit(&t->ring);
	while (t->watches) {
		struct eventfd_watch *w = t->watches;
		t->watches = w->next;
		free(w);
	}
	while (t->calls_head) {
		struct posted_call *c = t->calls_head;
		t->calls_head = c->next;
		free(c);
	}
	close(t->wake_fd);
	pthread_cond_destroy(&t->call_done);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

int io_thread_poll_once(struct io_thread *t, bool wait)
{
	int r = io_uring_submit_and_wait(&t->ring, wait ? 1 : 0);
	if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME)
		return r;
	int handled = 0;
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(&t->ring, &cqe) == 0) {
		struct io_thread_op *op = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		unsigned flags = cqe->flags;
		/* Release the slot before the callback, which may submit more. */
		io_uring_cqe_seen(&t->ring, cqe);
		if (op)
			op->complete(op, res, flags);
		handled++;
	}
	return handled;
}

int io_thread_run_until(struct io_thread *t, io_thread_done_fn done, void *opaque)
{
	while (!done(opaque)) {
		int r = io_thread_poll_once(t, true);
		if (r < 0)
			return r;
	}
	/* Hand over whatever the last completions queued. */
	int r = io_uring_submit(&t->ring);
	return r < 0 ? r : 0;
}

static void *io_thread_main(void *arg)
{
	struct io_thread *t = arg;
	while (!atomic_load(&t->stop_requested)) {
		int r = io_thread_poll_once(t, true);
		if (r < 0) {
			log_error("io thread: io_uring_enter failed: %s; the I/O loop stops",
				  strerror(-r));
			break;
		}
	}
	io_uring_submit(&t->ring);
	return NULL;
}

int io_thread_start(struct io_thread *t, const char *name, int cpu, char *err, size_t errlen)
{
	if (atomic_load(&t->started)) {
		snprintf(err, errlen, "io thread: already started");
		return -1;
	}
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	atomic_store(&t->stop_requested, false);
	/* Flip ownership before the thread can run, so it sees itself as owner. */
	atomic_store(&t->started, true);
	int r = pthread_create(&t->thread, &attr, io_thread_main, t);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		atomic_store(&t->started, false);
		snprintf(err, errlen, "io thread: cannot start thread%s: %s",
			 cpu >= 0 ? " (is the CPU number valid?)" : "", strerror(r));
		return -1;
	}
	if (name) {
		char short_name[16];
		snprintf(short_name, sizeof(short_name), "%s", name);
		pthread_setname_np(t->thread, short_name);
	}
	return 0;
}

static void request_stop(void *opaque)
{
	struct io_thread *t = opaque;
	atomic_store(&t->stop_requested, true);
}

void io_thread_stop(struct io_thread *t)
{
	if (!atomic_load(&t->started))
		return;
	if (pthread_equal(pthread_self(), t->thread)) {
		log_error("io thread: stop called on the loop itself; ignored");
		return;
	}
	if (io_thread_call(t, request_stop, t) != 0)
		atomic_store(&t->stop_requested, true); /* the next wake-up ends it */
	pthread_join(t->thread, NULL);
	atomic_store(&t->started, false);
}

bool io_thread_running(const struct io_thread *t)
{
	return atomic_load(&t->started);
}

bool io_thread_on_loop(const struct io_thread *t)
{
	return !atomic_load(&t->started) || pthread_equal(pthread_self(), t->thread);
}

int io_thread_call(struct io_thread *t, io_thread_call_fn fn, void *opaque)
{
	struct posted_call *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = (struct posted_call){ .fn = fn, .opaque = opaque };
	pthread_mutex_lock(&t->lock);
	if (t->calls_tail)
		t->calls_tail->next = c;
	else
		t->calls_head = c;
	t->calls_tail = c;
	pthread_mutex_unlock(&t->lock);
	uint64_t one = 1;
	/* Only fails when the counter is saturated, which still wakes the loop. */
	ssize_t n = write(t->wake_fd, &one, sizeof(one));
	(void)n;
	return 0;
}

struct sync_call {
	struct io_thread *thread;
	io_thread_call_fn fn;
	void *opaque;
	bool done;
};

static void run_sync_call(void *opaque)
{
	struct sync_call *sc = opaque;
	sc->fn(sc->opaque);
	pthread_mutex_lock(&sc->thread->lock);
	sc->done = true;
	pthread_cond_broadcast(&sc->thread->call_done);
	pthread_mutex_unlock(&sc->thread->lock);
}

int io_thread_call_sync(struct io_thread *t, io_thread_call_fn fn, void *opaque)
{
	if (io_thread_on_loop(t)) {
		fn(opaque);
		return 0;
	}
	struct sync_call sc = { .thread = t, .fn = fn, .opaque = opaque };
	int r = io_thread_call(t, run_sync_call, &sc);
	if (r != 0)
		return r;
	pthread_mutex_lock(&t->lock);
	while (!sc.done)
		pthread_cond_wait(&t->call_done, &t->lock);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

struct watch_args {
	struct io_thread *thread;
	int fd;
	io_thread_fd_fn fn;
	void *opaque;
	int result;
};

static void watch_on_loop(void *opaque)
{
	struct watch_args *a = opaque;
	struct io_thread *t = a->thread;
	struct eventfd_watch *w = calloc(1, sizeof(*w));
	if (!w) {
		a->result = -ENOMEM;
		return;
	}
	*w = (struct eventfd_watch){
		.op.complete = watch_complete, .thread = t, .id = t->next_watch_id++,
		.fd = a->fd, .fn = a->fn, .opaque = a->opaque, .active = true,
		.next = t->watches,
	};
	t->watches = w;
	watch_arm(w);
	a->result = w->id;
}

int io_thread_watch_eventfd(struct io_thread *t, int fd, io_thread_fd_fn fn, void *opaque)
{
	if (fd < 0 || !fn)
		return -EINVAL;
	struct watch_args a = { .thread = t, .fd = fd, .fn = fn, .opaque = opaque, .result = -EIO };
	int r = io_thread_call_sync(t, watch_on_loop, &a);
	return r < 0 ? r : a.result;
}

struct unwatch_args {
	struct io_thread *thread;
	int id;
	int result;
};

static void unwatch_on_loop(void *opaque)
{
	struct unwatch_args *a = opaque;
	struct io_thread *t = a->thread;
	a->result = -ENOENT;
	for (struct eventfd_watch *w = t->watches; w; w = w->next) {
		if (w->id != a->id || !w->active)
			continue;
		w->active = false;
		a->result = 0;
		if (w->armed) {
			/* Freed when the cancelled read completes. */
			struct io_uring_sqe *sqe = io_thread_get_sqe(t);
			if (sqe) {
				io_uring_prep_cancel(sqe, &w->op, 0);
				io_uring_sqe_set_data(sqe, NULL);
			}
		}
		/* Unarmed means we are inside its callback: watch_complete frees it. */
		return;
	}
}

int io_thread_unwatch(struct io_thread *t, int watch_id)
{
	struct unwatch_args a = { .thread = t, .id = watch_id, .result = -ENOENT };
	int r = io_thread_call_sync(t, unwatch_on_loop, &a);
	return r < 0 ? r : a.result;
}

int io_thread_register_file(struct io_thread *t, int fd)
{
	if (!t->files_registered)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&t->lock);
	int slot = -1;
	for (int i = 0; i < IO_THREAD_MAX_FILES; i++) {
		if (!t->file_slot_used[i]) {
			slot = i;
			break;
		}
	}
	int r = -ENFILE;
	if (slot >= 0) {
		r = io_uring_register_files_update(&t->ring, (unsigned)slot, &fd, 1);
		if (r == 1) {
			t->file_slot_used[slot] = true;
			r = slot;
		} else if (r >= 0) {
			r = -EIO;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

void io_thread_unregister_file(struct io_thread *t, int slot)
{
	if (slot < 0 || slot >= IO_THREAD_MAX_FILES)
		return;
	int none = -1;
	pthread_mutex_lock(&t->lock);
	if (t->file_slot_used[slot]) {
		io_uring_register_files_update(&t->ring, (unsigned)slot, &none, 1);
		t->file_slot_used[slot] = false;
	}
	pthread_mutex_unlock(&t->lock);
}

struct io_uring_sqe *io_thread_get_sqe(struct io_thread *t)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);
	if (!sqe) {
		io_uring_submit(&t->ring);
		sqe = io_uring_get_sqe(&t->ring);
	}
	return sqe;
}

struct io_uring *io_thread_ring(struct io_thread *t)
{
	return &t->ring;
}

uint64_t io_thread_cpu_ns(const struct io_thread *t)
{
	if (!atomic_load(&t->started))
		return 0;
	clockid_t clock;
	struct timespec ts;
	if (pthread_getcpuclockid(t->thread, &clock) != 0 || clock_gettime(clock, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
