/* Block engine and I/O thread: data integrity, back-pressure, short I/O,
 * host error mapping, flush/discard/write-zeroes, eventfd watching. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/block_engine.h"
#include "core/counters.h"
#include "core/disk_image.h"
#include "core/io_thread.h"
#include "tests/test_registry.h"

struct completion {
	unsigned count;
	enum block_status status;
	uint64_t bytes;
};

static void record_completion(void *cookie, enum block_status status, uint64_t bytes)
{
	struct completion *c = cookie;
	c->count++;
	c->status = status;
	c->bytes = bytes;
}

static bool completion_seen(void *opaque)
{
	return ((struct completion *)opaque)->count > 0;
}

struct fixture {
	struct io_thread *thread;
	struct disk_image img;
	struct block_engine *engine;
};

static void fixture_open(struct fixture *f, uint64_t size, unsigned qd, bool fixed)
{
	char err[256];
	f->thread = io_thread_create(0, err, sizeof(err));
	ck_assert_msg(f->thread, "%s", err);
	ck_assert_msg(disk_image_create_temp(&f->img, size, NULL, err, sizeof(err)) == 0, "%s", err);
	struct block_engine_config c = { .fd = f->img.fd, .size = f->img.size, .queue_depth = qd,
					 .use_fixed_file = fixed };
	f->engine = block_engine_create(f->thread, &c, err, sizeof(err));
	ck_assert_msg(f->engine, "%s", err);
}

static void fixture_close(struct fixture *f)
{
	ck_assert_uint_eq(block_engine_inflight(f->engine), 0);
	block_engine_destroy(f->engine);
	io_thread_destroy(f->thread);
	disk_image_close(&f->img);
}

/* Runs one read or write of [buf, buf+len) at offset and waits for it. */
static struct completion sync_rw(struct fixture *f, bool write, uint64_t offset, void *buf, size_t len)
{
	struct block_request req;
	struct completion c = { 0 };
	struct iovec iov = { buf, len };
	enum block_status st = write
		? block_engine_writev(f->engine, &req, offset, &iov, 1, record_completion, &c)
		: block_engine_readv(f->engine, &req, offset, &iov, 1, record_completion, &c);
	ck_assert_int_eq(st, BLOCK_OK);
	ck_assert_int_eq(io_thread_run_until(f->thread, completion_seen, &c), 0);
	ck_assert_uint_eq(c.count, 1);
	return c;
}

static uint8_t pattern_byte(uint64_t pos, unsigned seed)
{
	return (uint8_t)((pos * 131u) ^ (pos >> 9) ^ seed);
}

START_TEST(test_vectored_write_read_back)
{
	struct fixture f;
	fixture_open(&f, 1 << 20, 8, true);
	/* Uneven pieces so every iovec boundary falls somewhere different. */
	static const size_t wsizes[] = { 512, 4096, 1536, 8192, 2560 };
	static const size_t rsizes[] = { 3000, 10000, 3896 };
	uint8_t *wbuf[5], *rbuf[3];
	struct iovec wiov[5], riov[3];
	size_t total = 0, pos = 0;
	for (unsigned i = 0; i < 5; i++) {
		wbuf[i] = malloc(wsizes[i]);
		for (size_t j = 0; j < wsizes[i]; j++)
			wbuf[i][j] = pattern_byte(pos++, 7);
		wiov[i] = (struct iovec){ wbuf[i], wsizes[i] };
		total += wsizes[i];
	}
	ck_assert_uint_eq(total, 16896);
	for (unsigned i = 0; i < 3; i++) {
		rbuf[i] = calloc(1, rsizes[i]);
		riov[i] = (struct iovec){ rbuf[i], rsizes[i] };
	}
	struct block_request req;
	struct completion c = { 0 };
	ck_assert_int_eq(block_engine_writev(f.engine, &req, 12288, wiov, 5, record_completion, &c), BLOCK_OK);
	ck_assert_int_eq(io_thread_run_until(f.thread, completion_seen, &c), 0);
	ck_assert_int_eq(c.status, BLOCK_OK);
	ck_assert_uint_eq(c.bytes, total);

	c = (struct completion){ 0 };
	ck_assert_int_eq(block_engine_readv(f.engine, &req, 12288, riov, 3, record_completion, &c), BLOCK_OK);
	ck_assert_int_eq(io_thread_run_until(f.thread, completion_seen, &c), 0);
	ck_assert_int_eq(c.status, BLOCK_OK);
	ck_assert_uint_eq(c.bytes, total);
	pos = 0;
	for (unsigned i = 0; i < 3; i++)
		for (size_t j = 0; j < rsizes[i]; j++, pos++)
			ck_assert_uint_eq(rbuf[i][j], pattern_byte(pos, 7));

	/* And the file itself holds the bytes at that offset. */
	uint8_t check[16896];
	ck_assert_int_eq(pread(f.img.fd, check, sizeof(check), 12288), (ssize_t)sizeof(check));
	for (size_t j = 0; j < sizeof(check); j++)
		ck_assert_uint_eq(check[j], pattern_byte(j, 7));

	const struct block_engine_stats *s = block_engine_stats(f.engine);
	ck_assert_uint_eq(counter_get(&s->writes), 1);
	ck_assert_uint_eq(counter_get(&s->reads), 1);
	ck_assert_uint_eq(counter_get(&s->bytes_written), total);
	ck_assert_uint_eq(counter_get(&s->bytes_read), total);
	ck_assert_uint_eq(counter_get(&s->errors), 0);
	for (unsigned i = 0; i < 5; i++)
		free(wbuf[i]);
	for (unsigned i = 0; i < 3; i++)
		free(rbuf[i]);
	fixture_close(&f);
}
END_TEST

#define BP_REQUESTS 64
#define BP_QD       4
#define BP_BLOCK    4096

struct bp_state {
	unsigned done;
	unsigned ok;
	unsigned max_inflight;
	struct block_engine *engine;
};

static void bp_complete(void *cookie, enum block_status status, uint64_t bytes)
{
	struct bp_state *s = cookie;
	s->done++;
	if (status == BLOCK_OK && bytes == BP_BLOCK)
		s->ok++;
	if (block_engine_inflight(s->engine) > s->max_inflight)
		s->max_inflight = block_engine_inflight(s->engine);
}

static bool bp_all_done(void *opaque)
{
	return ((struct bp_state *)opaque)->done == BP_REQUESTS;
}

START_TEST(test_backpressure_beyond_queue_depth)
{
	struct fixture f;
	fixture_open(&f, 1 << 20, BP_QD, false);
	static uint8_t bufs[BP_REQUESTS][BP_BLOCK];
	struct iovec iov[BP_REQUESTS];
	struct block_request reqs[BP_REQUESTS];
	struct bp_state s = { .engine = f.engine };
	for (unsigned i = 0; i < BP_REQUESTS; i++) {
		memset(bufs[i], 0x40 + i, BP_BLOCK);
		iov[i] = (struct iovec){ bufs[i], BP_BLOCK };
		ck_assert_int_eq(block_engine_writev(f.engine, &reqs[i], (uint64_t)i * BP_BLOCK, &iov[i], 1,
						     bp_complete, &s), BLOCK_OK);
	}
	ck_assert_uint_eq(block_engine_inflight(f.engine), BP_QD);
	ck_assert_uint_eq(block_engine_waiting(f.engine), BP_REQUESTS - BP_QD);
	ck_assert_int_eq(io_thread_run_until(f.thread, bp_all_done, &s), 0);
	ck_assert_uint_eq(s.ok, BP_REQUESTS);
	ck_assert_uint_le(s.max_inflight, BP_QD);
	ck_assert_uint_eq(block_engine_waiting(f.engine), 0);
	ck_assert_uint_eq(counter_get(&block_engine_stats(f.engine)->queued), BP_REQUESTS - BP_QD);

	/* Read them all back at once, again over the limit. */
	s = (struct bp_state){ .engine = f.engine };
	for (unsigned i = 0; i < BP_REQUESTS; i++) {
		memset(bufs[i], 0, BP_BLOCK);
		ck_assert_int_eq(block_engine_readv(f.engine, &reqs[i], (uint64_t)i * BP_BLOCK, &iov[i], 1,
						    bp_complete, &s), BLOCK_OK);
	}
	ck_assert_int_eq(io_thread_run_until(f.thread, bp_all_done, &s), 0);
	ck_assert_uint_eq(s.ok, BP_REQUESTS);
	for (unsigned i = 0; i < BP_REQUESTS; i++)
		for (unsigned j = 0; j < BP_BLOCK; j++)
			ck_assert_uint_eq(bufs[i][j], (uint8_t)(0x40 + i));
	fixture_close(&f);
}
END_TEST

START_TEST(test_read_past_eof_returns_short_count)
{
	struct fixture f;
	fixture_open(&f, 64 * 1024, 8, false);
	/* The file shrinks under the engine, which still believes 64 KiB. */
	uint8_t data[6000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = pattern_byte(i, 3);
	ck_assert_int_eq(ftruncate(f.img.fd, sizeof(data)), 0);
	ck_assert_int_eq(pwrite(f.img.fd, data, sizeof(data), 0), (ssize_t)sizeof(data));
	uint8_t buf[16384];
	memset(buf, 0xEE, sizeof(buf));
	struct completion c = sync_rw(&f, false, 0, buf, sizeof(buf));
	ck_assert_int_eq(c.status, BLOCK_OK);
	ck_assert_uint_eq(c.bytes, sizeof(data));
	ck_assert_mem_eq(buf, data, sizeof(data));
	ck_assert_uint_eq(buf[sizeof(data)], 0xEE);
	/* 6000 of 16384 came back, the remainder was asked for and hit EOF. */
	ck_assert_uint_eq(counter_get(&block_engine_stats(f.engine)->short_resubmits), 1);
	fixture_close(&f);
}
END_TEST

static bool short_resubmitted(void *opaque)
{
	return counter_get(&block_engine_stats(opaque)->short_resubmits) > 0;
}

START_TEST(test_short_read_remainder_resubmitted)
{
	/* A pipe hands out only what was written so far: a guaranteed short read. */
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	char err[256];
	struct io_thread *t = io_thread_create(0, err, sizeof(err));
	ck_assert_msg(t, "%s", err);
	struct block_engine_config cfg = { .fd = p[0], .size = 1 << 20, .queue_depth = 4 };
	struct block_engine *e = block_engine_create(t, &cfg, err, sizeof(err));
	ck_assert_msg(e, "%s", err);
	uint8_t first[4096], second[4096], buf[8192];
	for (unsigned i = 0; i < 4096; i++) {
		first[i] = pattern_byte(i, 1);
		second[i] = pattern_byte(i, 2);
	}
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(write(p[1], first, sizeof(first)), (ssize_t)sizeof(first));
	struct block_request req;
	struct completion c = { 0 };
	/* Two iovecs, split so the remainder starts mid-vector. */
	struct iovec iov[2] = { { buf, 3000 }, { buf + 3000, sizeof(buf) - 3000 } };
	ck_assert_int_eq(block_engine_readv(e, &req, 0, iov, 2, record_completion, &c), BLOCK_OK);
	ck_assert_int_eq(io_thread_run_until(t, short_resubmitted, e), 0);
	ck_assert_uint_eq(c.count, 0);
	ck_assert_int_eq(write(p[1], second, sizeof(second)), (ssize_t)sizeof(second));
	ck_assert_int_eq(io_thread_run_until(t, completion_seen, &c), 0);
	ck_assert_int_eq(c.status, BLOCK_OK);
	ck_assert_uint_eq(c.bytes, sizeof(buf));
	ck_assert_mem_eq(buf, first, sizeof(first));
	ck_assert_mem_eq(buf + 4096, second, sizeof(second));
	block_engine_destroy(e);
	io_thread_destroy(t);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_no_space_on_full_tmpfs)
{
	bool must_run = getenv("CI") && strcmp(getenv("CI"), "true") == 0;
	/* A private mount namespace keeps the tiny tmpfs invisible to everyone
	 * else and gone when this (forked) test process ends. */
	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		ck_assert_msg(!must_run, "CI=true but cannot unshare a mount namespace: %s",
			      strerror(errno));
		fprintf(stderr, "test_no_space_on_full_tmpfs: skipped: cannot unshare a mount "
			"namespace (%s); run as root\n", strerror(errno));
		return;
	}
	char dir[] = "/tmp/iovirt-enospc-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_msg(mount("tmpfs", dir, "tmpfs", 0, "size=256k") == 0, "mount tmpfs: %s", strerror(errno));
	char path[sizeof(dir) + 16];
	snprintf(path, sizeof(path), "%s/disk.img", dir);
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	/* Sparse 1 MiB on a 256 KiB filesystem: writing it all must run out. */
	ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
	char err[256];
	struct io_thread *t = io_thread_create(0, err, sizeof(err));
	ck_assert_msg(t, "%s", err);
	struct block_engine_config cfg = { .fd = fd, .size = 1 << 20, .queue_depth = 4 };
	struct block_engine *e = block_engine_create(t, &cfg, err, sizeof(err));
	ck_assert_msg(e, "%s", err);
	uint8_t *buf = malloc(1 << 20);
	memset(buf, 0x77, 1 << 20);
	struct block_request req;
	struct completion c = { 0 };
	struct iovec iov = { buf, 1 << 20 };
	ck_assert_int_eq(block_engine_writev(e, &req, 0, &iov, 1, record_completion, &c), BLOCK_OK);
	ck_assert_int_eq(io_thread_run_until(t, completion_seen, &c), 0);
	ck_assert_int_eq(c.status, BLOCK_NO_SPACE);
	ck_assert_uint_eq(counter_get(&block_engine_stats(e)->errors), 1);
	block_engine_destroy(e);
	io_thread_destroy(t);
	free(buf);
	close(fd);
	unlink(path);
	ck_assert_int_eq(umount(dir), 0);
	rmdir(dir);
}
END_TEST

START_TEST(test_bad_fd)
{
	char err[256];
	struct io_thread *t = io_thread_create(0, err, sizeof(err));
	ck_assert_msg(t, "%s", err);
	struct block_engine_config cfg = { .fd = -1, .size = 4096 };
	ck_assert_ptr_null(block_engine_create(t, &cfg, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "not open"));

	/* An fd closed after the engine was made fails its I/O with an error
	 * status (EBADF), not a crash. */
	struct disk_image img;
	ck_assert_msg(disk_image_create_temp(&img, 1 << 20, NULL, err, sizeof(err)) == 0, "%s", err);
	int fd = dup(img.fd);
	cfg = (struct block_engine_config){ .fd = fd, .size = img.size };
	struct block_engine *e = block_engine_create(t, &cfg, err, sizeof(err));
	ck_assert_msg(e, "%s", err);
	close(fd);
	uint8_t buf[4096];
	struct block_request req;
	struct completion c = { 0 };
	struct iovec iov = { buf, sizeof(buf) };
	ck_assert_int_eq(block_engine_readv(e, &req, 0, &iov, 1, record_completion, &c), BLOCK_OK);
	ck_assert_int_eq(io_thread_run_until(t, completion_seen, &c), 0);
	ck_assert_int_eq(c.status, BLOCK_IO_ERROR);
	block_engine_destroy(e);

	/* A registered file keeps its own reference: closing the fd is harmless. */
	fd = dup(img.fd);
	cfg = (struct block_engine_config){ .fd = fd, .size = img.size, .use_fixed_file = true };
	e = block_engine_create(t, &cfg, err, sizeof(err));
	ck_assert_msg(e, "%s", err);
	ck_assert(block_engine_caps(e) & BLOCK_CAP_FIXED_FILE);
	close(fd);
	c = (struct completion){ 0 };
	ck_assert_int_eq(block_engine_readv(e, &req, 0, &iov, 1, record_completion, &c), BLOCK_OK);
	ck_assert_int_eq(io_thread_run_until(t, completion_seen, &c), 0);
	ck_assert_int_eq(c.status, BLOCK_OK);
	ck_assert_uint_eq(c.bytes, sizeof(buf));
	block_engine_destroy(e);
	io_thread_destroy(t);
	disk_image_close(&img);
}
END_TEST

START_TEST(test_read_only_image_refuses_writes)
{
	char path[] = "/var/tmp/iovirt-ro-XXXXXX";
	int wfd = mkstemp(path);
	ck_assert_int_ge(wfd, 0);
	uint8_t data[4096];
	memset(data, 0x3C, sizeof(data));
	ck_assert_int_eq(pwrite(wfd, data, sizeof(data), 0), (ssize_t)sizeof(data));
	ck_assert_int_eq(ftruncate(wfd, 1 << 20), 0);
	close(wfd);

	char err[256];
	struct disk_image img;
	struct disk_image_options ro = { .read_only = true };
	ck_assert_msg(disk_image_open(&img, path, &ro, err, sizeof(err)) == 0, "%s", err);
	unlink(path);
	struct io_thread *t = io_thread_create(0, err, sizeof(err));
	ck_assert_msg(t, "%s", err);
	/* The fd is O_RDONLY: the engine is read-only even though not told so. */
	struct block_engine_config cfg = { .fd = img.fd, .size = img.size };
	struct block_engine *e = block_engine_create(t, &cfg, err, sizeof(err));
	ck_assert_msg(e, "%s", err);
	ck_assert(block_engine_read_only(e));
	struct block_request req;
	struct completion c = { 0 };
	uint8_t buf[4096];
	struct iovec iov = { buf, sizeof(buf) };
	ck_assert_int_eq(block_engine_writev(e, &req, 0, &iov, 1, record_completion, &c), BLOCK_READ_ONLY);
	ck_assert_int_eq(block_engine_discard(e, &req, 0, 4096, record_completion, &c), BLOCK_READ_ONLY);
	ck_assert_int_eq(block_engine_write_zeroes(e, &req, 0, 4096, record_completion, &c), BLOCK_READ_ONLY);
	ck_assert_uint_eq(c.count, 0);
	ck_assert_int_eq(block_engine_readv(e, &req, 0, &iov, 1, record_completion, &c), BLOCK_OK);
	ck_assert_int_eq(io_thread_run_until(t, completion_seen, &c), 0);
	ck_assert_int_eq(c.status, BLOCK_OK);
	ck_assert_mem_eq(buf, data, sizeof(data));
	block_engine_destroy(e);
	io_thread_destroy(t);
	disk_image_close(&img);
}
END_TEST

START_TEST(test_flush)
{
	struct fixture f;
	fixture_open(&f, 1 << 20, 8, true);
	uint8_t buf[4096];
	memset(buf, 0x11, sizeof(buf));
	ck_assert_int_eq(sync_rw(&f, true, 8192, buf, sizeof(buf)).status, BLOCK_OK);
	ck_assert(block_engine_caps(f.engine) & BLOCK_CAP_FLUSH);
	struct block_request req;
	struct completion c = { 0 };
	ck_assert_int_eq(block_engine_flush(f.engine, &req, record_completion, &c), BLOCK_OK);
	ck_assert_int_eq(io_thread_run_until(f.thread, completion_seen, &c), 0);
	ck_assert_int_eq(c.status, BLOCK_OK);
	ck_assert_uint_eq(c.bytes, 0);
	ck_assert_uint_eq(counter_get(&block_engine_stats(f.engine)->flushes), 1);
	fixture_close(&f);
}
END_TEST

/* Fills 64 KiB at 64 KiB, clears [68 KiB, 68 KiB + clear_len) with discard or
 * write-zeroes, and checks zeros inside and the pattern around. */
static void check_range_cleared(struct fixture *f, bool discard, uint64_t clear_len)
{
	const uint64_t base = 64 * 1024, len = 64 * 1024 + clear_len, clear_at = base + 4096;
	uint8_t *buf = malloc(len);
	for (uint64_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(pattern_byte(i, 9) | 1);
	ck_assert_int_eq(sync_rw(f, true, base, buf, len).status, BLOCK_OK);
	struct block_request req;
	struct completion c = { 0 };
	enum block_status st = discard
		? block_engine_discard(f->engine, &req, clear_at, clear_len, record_completion, &c)
		: block_engine_write_zeroes(f->engine, &req, clear_at, clear_len, record_completion, &c);
	ck_assert_int_eq(st, BLOCK_OK);
	ck_assert_int_eq(io_thread_run_until(f->thread, completion_seen, &c), 0);
	ck_assert_int_eq(c.status, BLOCK_OK);
	ck_assert_uint_eq(c.bytes, clear_len);
	uint8_t *back = malloc(len);
	memset(back, 0xFF, len);
	struct completion r = sync_rw(f, false, base, back, len);
	ck_assert_int_eq(r.status, BLOCK_OK);
	ck_assert_uint_eq(r.bytes, len);
	for (uint64_t i = 0; i < len; i++) {
		uint64_t off = base + i;
		uint8_t want = (off >= clear_at && off < clear_at + clear_len) ? 0 : buf[i];
		ck_assert_msg(back[i] == want, "byte at %llu is %u, expected %u",
			      (unsigned long long)off, back[i], want);
	}
	free(buf);
	free(back);
}

START_TEST(test_discard_reads_back_zeros)
{
	struct fixture f;
	fixture_open(&f, 4 << 20, 8, true);
	ck_assert_msg(block_engine_caps(f.engine) & BLOCK_CAP_DISCARD,
		      "the temp disk's filesystem (%s) should punch holes", f.img.path);
	check_range_cleared(&f, true, 16384);
	ck_assert_uint_eq(counter_get(&block_engine_stats(f.engine)->discards), 1);
	fixture_close(&f);
}
END_TEST

START_TEST(test_write_zeroes_reads_back_zeros)
{
	struct fixture f;
	fixture_open(&f, 4 << 20, 8, true);
	ck_assert(block_engine_caps(f.engine) & BLOCK_CAP_WRITE_ZEROES);
	check_range_cleared(&f, false, 16384 + 512);
	ck_assert_uint_eq(counter_get(&block_engine_stats(f.engine)->write_zeroes), 1);
	fixture_close(&f);
}
END_TEST

START_TEST(test_write_zeroes_by_writing_on_tmpfs)
{
	/* tmpfs has no ZERO_RANGE, so this takes the write-zeros fallback, over
	 * more than one 1 MiB chunk and an uneven tail. */
	char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
	setenv("TMPDIR", "/dev/shm", 1);
	struct fixture f;
	fixture_open(&f, 4 << 20, 8, false);
	if (old) {
		setenv("TMPDIR", old, 1);
		free(old);
	} else {
		unsetenv("TMPDIR");
	}
	ck_assert(block_engine_caps(f.engine) & BLOCK_CAP_WRITE_ZEROES);
	ck_assert(!(block_engine_caps(f.engine) & BLOCK_CAP_WRITE_ZEROES_NATIVE));
	check_range_cleared(&f, false, (3u << 19) + 512);
	fixture_close(&f);
}
END_TEST

START_TEST(test_invalid_requests_refused_at_submit)
{
	struct fixture f;
	fixture_open(&f, 1 << 20, 8, false);
	uint8_t buf[4096];
	struct iovec iov = { buf, sizeof(buf) };
	struct iovec huge[2] = { { buf, SIZE_MAX }, { buf, 2 } };
	struct block_request req;
	struct completion c = { 0 };
	ck_assert_int_eq(block_engine_readv(f.engine, &req, (1 << 20) - 2048, &iov, 1, record_completion, &c),
			 BLOCK_INVALID);
	ck_assert_int_eq(block_engine_writev(f.engine, &req, UINT64_MAX - 100, &iov, 1, record_completion, &c),
			 BLOCK_INVALID);
	ck_assert_int_eq(block_engine_readv(f.engine, &req, 0, huge, 2, record_completion, &c), BLOCK_INVALID);
	ck_assert_int_eq(block_engine_readv(f.engine, &req, 0, &iov, 0, record_completion, &c), BLOCK_INVALID);
	ck_assert_int_eq(block_engine_discard(f.engine, &req, 0, 0, record_completion, &c), BLOCK_INVALID);
	ck_assert_int_eq(block_engine_write_zeroes(f.engine, &req, 4096, UINT64_MAX, record_completion, &c),
			 BLOCK_INVALID);
	ck_assert_uint_eq(c.count, 0);
	ck_assert_uint_eq(block_engine_inflight(f.engine), 0);
	fixture_close(&f);
}
END_TEST

START_TEST(test_errno_mapping)
{
	ck_assert_int_eq(block_status_from_errno(-ENOSPC), BLOCK_NO_SPACE);
	ck_assert_int_eq(block_status_from_errno(-EDQUOT), BLOCK_NO_SPACE);
	ck_assert_int_eq(block_status_from_errno(-EROFS), BLOCK_READ_ONLY);
	ck_assert_int_eq(block_status_from_errno(-EINVAL), BLOCK_INVALID);
	ck_assert_int_eq(block_status_from_errno(-EOPNOTSUPP), BLOCK_UNSUPPORTED);
	ck_assert_int_eq(block_status_from_errno(-EIO), BLOCK_IO_ERROR);
	ck_assert_int_eq(block_status_from_errno(-EBADF), BLOCK_IO_ERROR);
	ck_assert_str_eq(block_status_name(BLOCK_NO_SPACE), "no space");
}
END_TEST

struct kick_log {
	unsigned calls;
	uint64_t total;
	pthread_t thread;
	sem_t sem;
};

static void on_kick(void *opaque, uint64_t count)
{
	struct kick_log *k = opaque;
	k->calls++;
	k->total += count;
	k->thread = pthread_self();
	sem_post(&k->sem);
}

static bool kicked(void *opaque)
{
	return ((struct kick_log *)opaque)->calls > 0;
}

START_TEST(test_eventfd_watch_inline)
{
	char err[256];
	struct io_thread *t = io_thread_create(0, err, sizeof(err));
	ck_assert_msg(t, "%s", err);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct kick_log k = { 0 };
	sem_init(&k.sem, 0, 0);
	int id = io_thread_watch_eventfd(t, efd, on_kick, &k);
	ck_assert_int_gt(id, 0);
	uint64_t v = 3;
	ck_assert_int_eq(write(efd, &v, sizeof(v)), 8);
	ck_assert_int_eq(io_thread_run_until(t, kicked, &k), 0);
	ck_assert_uint_eq(k.calls, 1);
	ck_assert_uint_eq(k.total, 3);
	/* Watching again after the callback: a second kick arrives too. */
	v = 2;
	ck_assert_int_eq(write(efd, &v, sizeof(v)), 8);
	k.calls = 0;
	ck_assert_int_eq(io_thread_run_until(t, kicked, &k), 0);
	ck_assert_uint_eq(k.total, 5);
	ck_assert_int_eq(io_thread_unwatch(t, id), 0);
	ck_assert_int_eq(io_thread_unwatch(t, id), -ENOENT);
	/* Reap the cancellation, then a kick must go unanswered and unread. */
	for (int i = 0; i < 4; i++)
		io_thread_poll_once(t, false);
	ck_assert_int_eq(write(efd, &v, sizeof(v)), 8);
	for (int i = 0; i < 4; i++)
		io_thread_poll_once(t, false);
	ck_assert_uint_eq(k.total, 5);
	ck_assert_int_eq(read(efd, &v, sizeof(v)), 8);
	ck_assert_uint_eq(v, 2);
	io_thread_destroy(t);
	close(efd);
	sem_destroy(&k.sem);
}
END_TEST

static void record_thread(void *opaque)
{
	*(pthread_t *)opaque = pthread_self();
}

struct threaded_read {
	struct block_engine *engine;
	struct block_request req;
	struct iovec iov;
	enum block_status submit_status;
	enum block_status status;
	uint64_t bytes;
	pthread_t completed_on;
	sem_t done;
};

static void threaded_read_done(void *cookie, enum block_status status, uint64_t bytes)
{
	struct threaded_read *tr = cookie;
	tr->status = status;
	tr->bytes = bytes;
	tr->completed_on = pthread_self();
	sem_post(&tr->done);
}

static void threaded_read_submit(void *opaque)
{
	struct threaded_read *tr = opaque;
	tr->submit_status = block_engine_readv(tr->engine, &tr->req, 4096, &tr->iov, 1,
					       threaded_read_done, tr);
}

START_TEST(test_io_thread_started_runs_calls_kicks_and_io)
{
	struct fixture f;
	fixture_open(&f, 1 << 20, 8, true);
	uint8_t data[4096], buf[4096];
	memset(data, 0x6B, sizeof(data));
	ck_assert_int_eq(pwrite(f.img.fd, data, sizeof(data), 4096), (ssize_t)sizeof(data));
	char err[256];
	ck_assert_msg(io_thread_start(f.thread, "iovirt-io", -1, err, sizeof(err)) == 0, "%s", err);
	ck_assert(io_thread_running(f.thread));
	ck_assert(!io_thread_on_loop(f.thread));

	pthread_t loop_thread = pthread_self();
	ck_assert_int_eq(io_thread_call_sync(f.thread, record_thread, &loop_thread), 0);
	ck_assert(!pthread_equal(loop_thread, pthread_self()));

	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct kick_log k = { 0 };
	sem_init(&k.sem, 0, 0);
	ck_assert_int_gt(io_thread_watch_eventfd(f.thread, efd, on_kick, &k), 0);
	uint64_t v = 1;
	ck_assert_int_eq(write(efd, &v, sizeof(v)), 8);
	sem_wait(&k.sem);
	ck_assert_uint_eq(k.total, 1);
	ck_assert(pthread_equal(k.thread, loop_thread));

	struct threaded_read tr = { .engine = f.engine, .iov = { buf, sizeof(buf) } };
	sem_init(&tr.done, 0, 0);
	ck_assert_int_eq(io_thread_call_sync(f.thread, threaded_read_submit, &tr), 0);
	ck_assert_int_eq(tr.submit_status, BLOCK_OK);
	sem_wait(&tr.done);
	ck_assert_int_eq(tr.status, BLOCK_OK);
	ck_assert_uint_eq(tr.bytes, sizeof(buf));
	ck_assert_mem_eq(buf, data, sizeof(data));
	ck_assert(pthread_equal(tr.completed_on, loop_thread));

	io_thread_stop(f.thread);
	ck_assert(!io_thread_running(f.thread));
	ck_assert(io_thread_on_loop(f.thread));
	/* Stopped is not broken: inline driving picks up where the thread left. */
	v = 4;
	k.calls = 0;
	ck_assert_int_eq(write(efd, &v, sizeof(v)), 8);
	ck_assert_int_eq(io_thread_run_until(f.thread, kicked, &k), 0);
	ck_assert_uint_eq(k.total, 5);
	fixture_close(&f);
	close(efd);
	sem_destroy(&k.sem);
	sem_destroy(&tr.done);
}
END_TEST

static Suite *block_engine_suite(void)
{
	Suite *s = suite_create("block_engine");
	TCase *tc = tcase_create("engine");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_vectored_write_read_back);
	tcase_add_test(tc, test_backpressure_beyond_queue_depth);
	tcase_add_test(tc, test_read_past_eof_returns_short_count);
	tcase_add_test(tc, test_short_read_remainder_resubmitted);
	tcase_add_test(tc, test_no_space_on_full_tmpfs);
	tcase_add_test(tc, test_bad_fd);
	tcase_add_test(tc, test_read_only_image_refuses_writes);
	tcase_add_test(tc, test_flush);
	tcase_add_test(tc, test_discard_reads_back_zeros);
	tcase_add_test(tc, test_write_zeroes_reads_back_zeros);
	tcase_add_test(tc, test_write_zeroes_by_writing_on_tmpfs);
	tcase_add_test(tc, test_invalid_requests_refused_at_submit);
	tcase_add_test(tc, test_errno_mapping);
	suite_add_tcase(s, tc);
	TCase *io = tcase_create("io_thread");
	tcase_set_timeout(io, 30);
	tcase_add_test(io, test_eventfd_watch_inline);
	tcase_add_test(io, test_io_thread_started_runs_calls_kicks_and_io);
	suite_add_tcase(s, io);
	return s;
}

TEST_SUITE_REGISTER(block_engine_suite)
