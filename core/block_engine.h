/* The host block engine: asynchronous reads, writes, flushes, discards and
 * write-zeroes on one file through the I/O thread's io_uring. The emulated
 * NVMe and virtio-blk both end here, so comparing them compares only the
 * models.
 *
 * Requests are caller-owned (embed a struct block_request in the device's
 * own request), so the hot path allocates nothing. Submission happens on the
 * io_thread's loop (or on the thread that drives it inline); completions come
 * back there through complete(cookie, status, bytes).
 *
 * Back-pressure: a request beyond the queue-depth limit is queued inside the
 * engine (FIFO, no allocation: the request links itself) and issued when an
 * earlier one completes, so submit never says "busy" and a device model need
 * not keep a retry list of its own. */
#ifndef IOVIRT_CORE_BLOCK_ENGINE_H
#define IOVIRT_CORE_BLOCK_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/io_thread.h"

/* What device models turn into their own status codes. */
enum block_status {
	BLOCK_OK = 0,
	BLOCK_IO_ERROR,     /* host I/O failed (EIO, EBADF, anything unlisted) */
	BLOCK_NO_SPACE,     /* ENOSPC, EDQUOT, EFBIG */
	BLOCK_READ_ONLY,    /* write to a read-only engine, or EROFS */
	BLOCK_INVALID,      /* out of range, misaligned for O_DIRECT, too many iovecs */
	BLOCK_UNSUPPORTED,  /* the host file cannot do this operation */
};

const char *block_status_name(enum block_status status);
/* Maps a negative errno from the host to a block status. */
enum block_status block_status_from_errno(int neg_errno);

/* Support flags, found by probing at create time. */
#define BLOCK_CAP_FLUSH               (1u << 0)
#define BLOCK_CAP_DISCARD             (1u << 1) /* fallocate PUNCH_HOLE|KEEP_SIZE */
#define BLOCK_CAP_WRITE_ZEROES        (1u << 2) /* available (natively or by writing) */
#define BLOCK_CAP_WRITE_ZEROES_NATIVE (1u << 3) /* fallocate ZERO_RANGE|KEEP_SIZE */
#define BLOCK_CAP_DIRECT              (1u << 4) /* fd is O_DIRECT */
#define BLOCK_CAP_FIXED_FILE          (1u << 5) /* using a registered file */

/* bytes is what was transferred (reads/writes: may be short only for a read
 * that hit end of file; discard/write-zeroes: the range length; flush: 0). */
typedef void (*block_complete_fn)(void *cookie, enum block_status status, uint64_t bytes);

enum block_op {
	BLOCK_OP_READ,
	BLOCK_OP_WRITE,
	BLOCK_OP_FLUSH,
	BLOCK_OP_DISCARD,
	BLOCK_OP_WRITE_ZEROES,
	BLOCK_OP_WRITE_ZEROES_BY_WRITING, /* internal: the fallback */
};

/* Caller-owned; must stay valid (with its iovec array and the memory it
 * points to) until complete runs. All fields are the engine's. */
struct block_request {
	struct io_thread_op op;
	struct block_engine *engine;
	enum block_op kind;
	uint64_t offset;
	uint64_t len;          /* total bytes asked for */
	uint64_t done;         /* bytes finished so far */
	const struct iovec *iov;
	unsigned iovcnt;
	struct iovec *rest;    /* remainder vector after a short transfer */
	unsigned rest_cap;
	unsigned stalls;       /* consecutive EAGAIN/EINTR results */
	uint64_t asked;        /* bytes the SQE in flight asked for */
	block_complete_fn complete;
	void *cookie;
	struct block_request *next_queued;
};

struct block_engine_config {
	int fd;                 /* not owned; must outlive the engine */
	uint64_t size;          /* writes/discards must lie below it */
	bool read_only;         /* also forced when fd is O_RDONLY */
	unsigned queue_depth;   /* requests in flight at most; 0: 64 */
	bool use_fixed_file;    /* register fd with the ring (saves an fget per I/O) */
};

/* Updated on the loop, readable from any thread. */
struct block_engine_stats {
	atomic_uint_fast64_t reads, writes, flushes, discards, write_zeroes;
	atomic_uint_fast64_t bytes_read, bytes_written;
	atomic_uint_fast64_t errors;            /* requests that ended != BLOCK_OK */
	atomic_uint_fast64_t short_resubmits;   /* remainders resubmitted */
	atomic_uint_fast64_t queued;            /* requests that waited for a slot */
};

struct block_engine;

/* Returns NULL with one line in err (bad fd, no free file slot, ...). */
struct block_engine *block_engine_create(struct io_thread *thread,
					 const struct block_engine_config *config,
					 char *err, size_t errlen);
/* The engine must be idle (block_engine_inflight() == 0). */
void block_engine_destroy(struct block_engine *engine);

/* Each submit returns BLOCK_OK when complete() will run exactly once later,
 * or an error status (then complete() is never called): BLOCK_INVALID for a
 * bad range or vector, BLOCK_READ_ONLY, BLOCK_UNSUPPORTED. */
enum block_status block_engine_readv(struct block_engine *engine, struct block_request *req,
				     uint64_t offset, const struct iovec *iov, unsigned iovcnt,
				     block_complete_fn complete, void *cookie);
enum block_status block_engine_writev(struct block_engine *engine, struct block_request *req,
				      uint64_t offset, const struct iovec *iov, unsigned iovcnt,
				      block_complete_fn complete, void *cookie);
/* fdatasync: data written so far and the metadata needed to read it back. */
enum block_status block_engine_flush(struct block_engine *engine, struct block_request *req,
				     block_complete_fn complete, void *cookie);
enum block_status block_engine_discard(struct block_engine *engine, struct block_request *req,
				       uint64_t offset, uint64_t len,
				       block_complete_fn complete, void *cookie);
/* Reads back as zeros afterwards. Natively with ZERO_RANGE when the host file
 * supports it, otherwise by writing zeros (BLOCK_CAP_WRITE_ZEROES_NATIVE
 * tells which). */
enum block_status block_engine_write_zeroes(struct block_engine *engine, struct block_request *req,
					    uint64_t offset, uint64_t len,
					    block_complete_fn complete, void *cookie);

unsigned block_engine_caps(const struct block_engine *engine);
uint64_t block_engine_size(const struct block_engine *engine);
bool block_engine_read_only(const struct block_engine *engine);
unsigned block_engine_inflight(const struct block_engine *engine);  /* on the ring */
unsigned block_engine_waiting(const struct block_engine *engine);   /* held back */
const struct block_engine_stats *block_engine_stats(const struct block_engine *engine);

#endif
