#include "core/block_engine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/counters.h"
#include "core/log.h"

#define BLOCK_DEFAULT_QUEUE_DEPTH 64
#define BLOCK_MAX_STALLS          16   /* EAGAIN/EINTR in a row before giving up */

/* Write-zeroes fallback: one aligned zero block repeated by the iovecs of each
 * write (so O_DIRECT works too), 1 MiB per write. */
#define ZERO_BLOCK_SIZE  (64u * 1024)
#define ZERO_WRITE_IOVS  16u
static uint8_t zero_block[ZERO_BLOCK_SIZE] __attribute__((aligned(4096)));

struct block_engine {
	struct io_thread *thread;
	int fd;
	int sqe_fd;             /* fd, or its fixed-file slot */
	int fixed_slot;         /* -1: not registered */
	uint64_t size;
	bool read_only;
	unsigned caps;
	unsigned queue_depth;
	unsigned inflight;
	unsigned waiting;
	struct block_request *wait_head, *wait_tail;
	struct block_engine_stats stats;
};

const char *block_status_name(enum block_status status)
{
	switch (status) {
	case BLOCK_OK: return "ok";
	case BLOCK_IO_ERROR: return "I/O error";
	case BLOCK_NO_SPACE: return "no space";
	case BLOCK_READ_ONLY: return "read-only";
	case BLOCK_INVALID: return "invalid request";
	case BLOCK_UNSUPPORTED: return "unsupported";
	}
	return "unknown status";
}

enum block_status block_status_from_errno(int neg_errno)
{
	switch (-neg_errno) {
	case 0:
		return BLOCK_OK;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return BLOCK_NO_SPACE;
	case EROFS:
	case EPERM:  /* immutable or append-only file */
		return BLOCK_READ_ONLY;
	case EINVAL:
	case EFAULT:
		return BLOCK_INVALID;
	case EOPNOTSUPP:
	case ENOSYS:
	case ENOTTY:
		return BLOCK_UNSUPPORTED;
	default:
		return BLOCK_IO_ERROR;
	}
}

/* Probes fallocate modes past the end of a regular file (KEEP_SIZE), where
 * they change no data: ZERO_RANGE first, then PUNCH_HOLE on the same range,
 * which also releases anything the first probe preallocated. */
static unsigned probe_caps(int fd, uint64_t size, bool read_only)
{
	unsigned caps = BLOCK_CAP_FLUSH;
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && (fl & O_DIRECT))
		caps |= BLOCK_CAP_DIRECT;
	if (read_only)
		return caps;
	struct stat st;
	if (fstat(fd, &st) != 0)
		return caps;
	if (S_ISBLK(st.st_mode)) {
		/* The kernel offers both on every block device (zeroing falls back
		 * to writes inside the kernel); a device without discard answers
		 * EOPNOTSUPP, which becomes BLOCK_UNSUPPORTED. */
		return caps | BLOCK_CAP_DISCARD | BLOCK_CAP_WRITE_ZEROES | BLOCK_CAP_WRITE_ZEROES_NATIVE;
	}
	if (!S_ISREG(st.st_mode))
		return caps;
	uint64_t end = size > (uint64_t)st.st_size ? size : (uint64_t)st.st_size;
	off_t probe = (off_t)((end + 4095) & ~4095ull);
	if (fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, probe, 4096) == 0)
		caps |= BLOCK_CAP_WRITE_ZEROES_NATIVE;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, probe, 4096) == 0)
		caps |= BLOCK_CAP_DISCARD;
	return caps | BLOCK_CAP_WRITE_ZEROES; /* by writing when not native */
}

struct block_engine *block_engine_create(struct io_thread *thread,
					 const struct block_engine_config *config,
					 char *err, size_t errlen)
{
	int fl = fcntl(config->fd, F_GETFL);
	if (fl < 0) {
		snprintf(err, errlen, "block engine: file descriptor %d is not open (%s)",
			 config->fd, strerror(errno));
		return NULL;
	}
	unsigned qd = config->queue_depth ? config->queue_depth : BLOCK_DEFAULT_QUEUE_DEPTH;
	if (qd > 4096) {
		snprintf(err, errlen, "block engine: queue depth %u is too large (at most 4096)", qd);
		return NULL;
	}
	struct block_engine *e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "block engine: out of memory");
		return NULL;
	}
	e->thread = thread;
	e->fd = config->fd;
	e->sqe_fd = config->fd;
	e->fixed_slot = -1;
	e->size = config->size;
	e->read_only = config->read_only || (fl & O_ACCMODE) == O_RDONLY;
	e->queue_depth = qd;
	e->caps = probe_caps(config->fd, config->size, e->read_only);
	if (config->use_fixed_file) {
		int slot = io_thread_register_file(thread, config->fd);
		if (slot < 0) {
			snprintf(err, errlen, "block engine: cannot register fd %d with io_uring: %s",
				 config->fd, strerror(-slot));
			free(e);
			return NULL;
		}
		e->fixed_slot = slot;
		e->sqe_fd = slot;
		e->caps |= BLOCK_CAP_FIXED_FILE;
	}
	return e;
}

void block_engine_destroy(struct block_engine *e)
{
	if (!e)
		return;
	if (e->inflight || e->waiting) {
		/* Freeing now would let the kernel complete into freed memory. */
		log_error("block engine: destroyed with %u requests in flight and %u waiting; leaking it",
			  e->inflight, e->waiting);
		return;
	}
	if (e->fixed_slot >= 0)
		io_thread_unregister_file(e->thread, e->fixed_slot);
	free(e);
}

/* The part of the caller's vector still to transfer after `skip` bytes. */
static int remainder_vector(struct block_request *r, uint64_t skip,
			    const struct iovec **out, unsigned *outcnt)
{
	if (skip == 0) {
		*out = r->iov;
		*outcnt = r->iovcnt;
		return 0;
	}
	unsigned i = 0;
	while (i < r->iovcnt && skip >= r->iov[i].iov_len) {
		skip -= r->iov[i].iov_len;
		i++;
	}
	unsigned n = r->iovcnt - i;
	if (n > r->rest_cap) {
		struct iovec *v = realloc(r->rest, n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->rest = v;
		r->rest_cap = n;
	}
	memcpy(r->rest, &r->iov[i], n * sizeof(*r->rest));
	r->rest[0].iov_base = (uint8_t *)r->rest[0].iov_base + skip;
	r->rest[0].iov_len -= skip;
	*out = r->rest;
	*outcnt = n;
	return 0;
}

static int zero_vector(struct block_request *r, const struct iovec **out, unsigned *outcnt)
{
	if (r->rest_cap < ZERO_WRITE_IOVS) {
		struct iovec *v = realloc(r->rest, ZERO_WRITE_IOVS * sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->rest = v;
		r->rest_cap = ZERO_WRITE_IOVS;
	}
	uint64_t left = r->len - r->done;
	unsigned n = 0;
	while (left && n < ZERO_WRITE_IOVS) {
		size_t piece = left < ZERO_BLOCK_SIZE ? (size_t)left : ZERO_BLOCK_SIZE;
		r->rest[n].iov_base = zero_block;
		r->rest[n].iov_len = piece;
		left -= piece;
		n++;
	}
	*out = r->rest;
	*outcnt = n;
	return 0;
}

static uint64_t vector_bytes(const struct iovec *v, unsigned n)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < n; i++)
		total += v[i].iov_len;
	return total;
}

static void request_complete(struct io_thread_op *op, int res, unsigned cqe_flags);

/* Puts the request (or its remainder) on the ring. Returns 0 or -errno. */
static int request_issue(struct block_request *r)
{
	struct block_engine *e = r->engine;
	const struct iovec *v = NULL;
	unsigned n = 0;
	int rc = 0;
	if (r->kind == BLOCK_OP_READ || r->kind == BLOCK_OP_WRITE)
		rc = remainder_vector(r, r->done, &v, &n);
	else if (r->kind == BLOCK_OP_WRITE_ZEROES_BY_WRITING)
		rc = zero_vector(r, &v, &n);
	if (rc < 0)
		return rc;

	struct io_uring_sqe *sqe = io_thread_get_sqe(e->thread);
	if (!sqe)
		return -EBUSY;
	off_t pos = (off_t)(r->offset + r->done);
	switch (r->kind) {
	case BLOCK_OP_READ:
		r->asked = vector_bytes(v, n);
		/* The non-vectored op skips importing an iovec. */
		if (n == 1 && v[0].iov_len <= INT_MAX)
			io_uring_prep_read(sqe, e->sqe_fd, v[0].iov_base, (unsigned)v[0].iov_len, pos);
		else
			io_uring_prep_readv(sqe, e->sqe_fd, v, n, pos);
		break;
	case BLOCK_OP_WRITE:
	case BLOCK_OP_WRITE_ZEROES_BY_WRITING:
		r->asked = vector_bytes(v, n);
		if (n == 1 && v[0].iov_len <= INT_MAX)
			io_uring_prep_write(sqe, e->sqe_fd, v[0].iov_base, (unsigned)v[0].iov_len, pos);
		else
			io_uring_prep_writev(sqe, e->sqe_fd, v, n, pos);
		break;
	case BLOCK_OP_FLUSH:
		r->asked = 0;
		io_uring_prep_fsync(sqe, e->sqe_fd, IORING_FSYNC_DATASYNC);
		break;
	case BLOCK_OP_DISCARD:
		r->asked = r->len;
		io_uring_prep_fallocate(sqe, e->sqe_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					(off_t)r->offset, (off_t)r->len);
		break;
	case BLOCK_OP_WRITE_ZEROES:
		r->asked = r->len;
		io_uring_prep_fallocate(sqe, e->sqe_fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
					(off_t)r->offset, (off_t)r->len);
		break;
	}
	if (e->fixed_slot >= 0)
		sqe->flags |= IOSQE_FIXED_FILE;
	r->op.complete = request_complete;
	io_uring_sqe_set_data(sqe, &r->op);
	return 0;
}

static void count_success(struct block_engine *e, const struct block_request *r)
{
	struct block_engine_stats *s = &e->stats;
	switch (r->kind) {
	case BLOCK_OP_READ:
		counter_add(&s->reads, 1);
		counter_add(&s->bytes_read, r->done);
		break;
	case BLOCK_OP_WRITE:
		counter_add(&s->writes, 1);
		counter_add(&s->bytes_written, r->done);
		break;
	case BLOCK_OP_FLUSH:
		counter_add(&s->flushes, 1);
		break;
	case BLOCK_OP_DISCARD:
		counter_add(&s->discards, 1);
		break;
	case BLOCK_OP_WRITE_ZEROES:
	case BLOCK_OP_WRITE_ZEROES_BY_WRITING:
		counter_add(&s->write_zeroes, 1);
		break;
	}
}

static void request_finish(struct block_request *r, enum block_status status);

/* Issues held-back requests while there is room. */
static void promote_waiting(struct block_engine *e)
{
	while (e->wait_head && e->inflight < e->queue_depth) {
		struct block_request *r = e->wait_head;
		e->wait_head = r->next_queued;
		if (!e->wait_head)
			e->wait_tail = NULL;
		e->waiting--;
		e->inflight++;
		int rc = request_issue(r);
		if (rc < 0)
			request_finish(r, block_status_from_errno(rc == -ENOMEM ? -EIO : rc));
	}
}

static void request_finish(struct block_request *r, enum block_status status)
{
	struct block_engine *e = r->engine;
	e->inflight--;
	free(r->rest);
	r->rest = NULL;
	r->rest_cap = 0;
	if (status == BLOCK_OK)
		count_success(e, r);
	else
		counter_add(&e->stats.errors, 1);
	uint64_t bytes = r->kind == BLOCK_OP_FLUSH ? 0 : r->done;
	/* Fill the freed slot before the callback: what it submits queues
	 * behind requests that have waited longer. */
	promote_waiting(e);
	r->complete(r->cookie, status, bytes);
}

static void request_complete(struct io_thread_op *op, int res, unsigned cqe_flags)
{
	(void)cqe_flags;
	struct block_request *r = (struct block_request *)op;
	if (res < 0) {
		if ((res == -EAGAIN || res == -EINTR) && ++r->stalls <= BLOCK_MAX_STALLS) {
			int rc = request_issue(r);
			if (rc < 0)
				request_finish(r, BLOCK_IO_ERROR);
			return;
		}
		request_finish(r, block_status_from_errno(res));
		return;
	}
	r->stalls = 0;
	switch (r->kind) {
	case BLOCK_OP_READ:
	case BLOCK_OP_WRITE:
	case BLOCK_OP_WRITE_ZEROES_BY_WRITING:
		r->done += (uint64_t)res;
		if (r->done >= r->len) {
			request_finish(r, BLOCK_OK);
			return;
		}
		if (res == 0) {
			/* End of file ends a read short; a write that makes no
			 * progress would loop forever. */
			request_finish(r, r->kind == BLOCK_OP_READ ? BLOCK_OK : BLOCK_IO_ERROR);
			return;
		}
		if ((uint64_t)res < r->asked)
			counter_add(&r->engine->stats.short_resubmits, 1);
		if (request_issue(r) < 0)
			request_finish(r, BLOCK_IO_ERROR);
		return;
	case BLOCK_OP_FLUSH:
		request_finish(r, BLOCK_OK);
		return;
	case BLOCK_OP_DISCARD:
	case BLOCK_OP_WRITE_ZEROES:
		r->done = r->len;
		request_finish(r, BLOCK_OK);
		return;
	}
}

static enum block_status request_start(struct block_engine *e, struct block_request *r)
{
	r->engine = e;
	r->done = 0;
	r->rest = NULL;
	r->rest_cap = 0;
	r->stalls = 0;
	r->next_queued = NULL;
	if (e->inflight >= e->queue_depth || e->wait_head) {
		if (e->wait_tail)
			e->wait_tail->next_queued = r;
		else
			e->wait_head = r;
		e->wait_tail = r;
		e->waiting++;
		counter_add(&e->stats.queued, 1);
		return BLOCK_OK;
	}
	e->inflight++;
	int rc = request_issue(r);
	if (rc < 0) {
		e->inflight--;
		free(r->rest);
		r->rest = NULL;
		return BLOCK_IO_ERROR;
	}
	return BLOCK_OK;
}

static bool range_ok(const struct block_engine *e, uint64_t offset, uint64_t len)
{
	return len <= e->size && offset <= e->size - len;
}

static enum block_status rw_submit(struct block_engine *e, struct block_request *r,
				   enum block_op kind, uint64_t offset,
				   const struct iovec *iov, unsigned iovcnt,
				   block_complete_fn complete, void *cookie)
{
	if (!r || !complete || !iov || iovcnt == 0 || iovcnt > IOV_MAX)
		return BLOCK_INVALID;
	if (kind == BLOCK_OP_WRITE && e->read_only)
		return BLOCK_READ_ONLY;
	uint64_t total = 0;
	for (unsigned i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > UINT64_MAX - total)
			return BLOCK_INVALID;
		if (!iov[i].iov_base && iov[i].iov_len)
			return BLOCK_INVALID;
		total += iov[i].iov_len;
	}
	if (!range_ok(e, offset, total) || offset > (uint64_t)INT64_MAX)
		return BLOCK_INVALID;
	*r = (struct block_request){ .kind = kind, .offset = offset, .len = total, .iov = iov,
				     .iovcnt = iovcnt, .complete = complete, .cookie = cookie };
	return request_start(e, r);
}

enum block_status block_engine_readv(struct block_engine *e, struct block_request *r,
				     uint64_t offset, const struct iovec *iov, unsigned iovcnt,
				     block_complete_fn complete, void *cookie)
{
	return rw_submit(e, r, BLOCK_OP_READ, offset, iov, iovcnt, complete, cookie);
}

enum block_status block_engine_writev(struct block_engine *e, struct block_request *r,
				      uint64_t offset, const struct iovec *iov, unsigned iovcnt,
				      block_complete_fn complete, void *cookie)
{
	return rw_submit(e, r, BLOCK_OP_WRITE, offset, iov, iovcnt, complete, cookie);
}

enum block_status block_engine_flush(struct block_engine *e, struct block_request *r,
				     block_complete_fn complete, void *cookie)
{
	if (!r || !complete)
		return BLOCK_INVALID;
	*r = (struct block_request){ .kind = BLOCK_OP_FLUSH, .complete = complete, .cookie = cookie };
	return request_start(e, r);
}

static enum block_status range_submit(struct block_engine *e, struct block_request *r,
				      enum block_op kind, uint64_t offset, uint64_t len,
				      block_complete_fn complete, void *cookie)
{
	if (!r || !complete || len == 0 || !range_ok(e, offset, len))
		return BLOCK_INVALID;
	if (e->read_only)
		return BLOCK_READ_ONLY;
	*r = (struct block_request){ .kind = kind, .offset = offset, .len = len,
				     .complete = complete, .cookie = cookie };
	return request_start(e, r);
}

enum block_status block_engine_discard(struct block_engine *e, struct block_request *r,
				       uint64_t offset, uint64_t len,
				       block_complete_fn complete, void *cookie)
{
	if (!e->read_only && !(e->caps & BLOCK_CAP_DISCARD))
		return BLOCK_UNSUPPORTED;
	return range_submit(e, r, BLOCK_OP_DISCARD, offset, len, complete, cookie);
}

enum block_status block_engine_write_zeroes(struct block_engine *e, struct block_request *r,
					    uint64_t offset, uint64_t len,
					    block_complete_fn complete, void *cookie)
{
	if (!e->read_only && !(e->caps & BLOCK_CAP_WRITE_ZEROES))
		return BLOCK_UNSUPPORTED;
	enum block_op kind = (e->caps & BLOCK_CAP_WRITE_ZEROES_NATIVE)
		? BLOCK_OP_WRITE_ZEROES : BLOCK_OP_WRITE_ZEROES_BY_WRITING;
	return range_submit(e, r, kind, offset, len, complete, cookie);
}

unsigned block_engine_caps(const struct block_engine *e) { return e->caps; }
uint64_t block_engine_size(const struct block_engine *e) { return e->size; }
bool block_engine_read_only(const struct block_engine *e) { return e->read_only; }
unsigned block_engine_inflight(const struct block_engine *e) { return e->inflight; }
unsigned block_engine_waiting(const struct block_engine *e) { return e->waiting; }

const struct block_engine_stats *block_engine_stats(const struct block_engine *e)
{
	return &e->stats;
}
