/* Host-native packet echo baseline: ping-pong of single frames through the
 * packet engine. Every echo is checked (length and the sequence number and
 * pattern it carries), so a number is never reported for frames that did not
 * really come back. */
#include "bench/baseline_packet.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/packet_engine.h"

#define BASELINE_DEFAULT_MS       1000u
#define BASELINE_WARMUP_TRIPS     1000u
#define BASELINE_ECHO_WAIT_NS     1000000000ull
#define BASELINE_SPINS_BEFORE_POLL 4096u
#define BASELINE_MIN_FRAME        60u

static const char *const default_backends[] = { "loopback", "dpdk:net_ring0" };
static const unsigned default_sizes[] = { 64, 1500 };

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The whole frame is built once; each trip only stamps its sequence number,
 * so the measured loop holds the engine's work, not the benchmark's. */
static void frame_build(uint8_t *buf, unsigned len)
{
	static const uint8_t hdr[14] = { 0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x88, 0xb5 };
	memcpy(buf, hdr, sizeof(hdr));
	for (unsigned i = 14; i < len; i++)
		buf[i] = (uint8_t)(i * 7);
}

static void frame_stamp(uint8_t *buf, uint32_t seq)
{
	memcpy(buf + 14, &seq, sizeof(seq));
}

/* MACs are not compared: the reflector swaps them, a ring does not. */
static bool echo_matches(const uint8_t *echo, uint32_t echo_len, const uint8_t *sent, unsigned len)
{
	return echo_len == len && memcmp(echo + 12, sent + 12, len - 12) == 0;
}

/* Spins on receive (the cheapest wait, and the only one DPDK has); after a
 * while sleeps on the notify fd where there is one. */
static bool echo_wait(struct packet_port *port, struct packet_frame *in)
{
	int fd = packet_port_notify_fd(port);
	uint64_t deadline = 0;
	for (unsigned spins = 1;; spins++) {
		if (packet_port_receive(port, in, 1) == 1)
			return true;
		if (spins % 256 != 0)
			continue;
		uint64_t now = clock_ns(CLOCK_MONOTONIC);
		if (deadline == 0)
			deadline = now + BASELINE_ECHO_WAIT_NS;
		else if (now > deadline)
			return false;
		if (fd >= 0 && spins >= BASELINE_SPINS_BEFORE_POLL) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			poll(&p, 1, 10);
		}
	}
}

/* Round-trip histogram: 1 ns buckets below 10 us, 100 ns to 1 ms, 10 us to
 * 100 ms (longer ones land in the last bucket), so percentiles stay within
 * 1% however many millions of trips a run makes. */
#define HIST_FINE     10000u
#define HIST_MID      9900u
#define HIST_COARSE   9900u
#define HIST_BUCKETS  (HIST_FINE + HIST_MID + HIST_COARSE)

static unsigned hist_bucket(uint64_t ns)
{
	if (ns < 10000)
		return (unsigned)ns;
	if (ns < 1000000)
		return HIST_FINE + (unsigned)((ns - 10000) / 100);
	if (ns < 100000000)
		return HIST_FINE + HIST_MID + (unsigned)((ns - 1000000) / 10000);
	return HIST_BUCKETS - 1;
}

static double hist_bucket_us(unsigned b)
{
	if (b < HIST_FINE)
		return b / 1000.0;
	if (b < HIST_FINE + HIST_MID)
		return (10000.0 + (b - HIST_FINE) * 100.0) / 1000.0;
	return (1000000.0 + (b - HIST_FINE - HIST_MID) * 10000.0) / 1000.0;
}

static double hist_percentile_us(const uint64_t *hist, uint64_t total, double p)
{
	if (total == 0)
		return 0;
	uint64_t rank = (uint64_t)(p * (double)(total - 1)) + 1, seen = 0;
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		seen += hist[b];
		if (seen >= rank)
			return hist_bucket_us(b);
	}
	return hist_bucket_us(HIST_BUCKETS - 1);
}

static void run_one(struct packet_port *port, unsigned size, unsigned duration_ms,
		    uint64_t *hist, struct baseline_packet_result *r)
{
	uint8_t tx[PACKET_FRAME_MAX], rx[PACKET_FRAME_MAX];
	struct iovec tx_iov = { tx, size }, rx_iov = { rx, sizeof(rx) };
	struct packet_frame out = { .iov = &tx_iov, .iovcnt = 1 };
	struct packet_frame in = { .iov = &rx_iov, .iovcnt = 1 };
	struct packet_stats before, after;
	uint32_t seq = 0;

	frame_build(tx, size);
	for (unsigned i = 0; i < BASELINE_WARMUP_TRIPS; i++) {
		frame_stamp(tx, seq++);
		packet_port_send(port, &out, 1);
		echo_wait(port, &in);
	}
	packet_port_get_stats(port, &before);

	uint64_t trips = 0, lost = 0, bad = 0, lat_sum = 0;
	uint64_t cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	uint64_t start = clock_ns(CLOCK_MONOTONIC);
	uint64_t end = start + (uint64_t)duration_ms * 1000000ull;
	uint64_t now = start;
	memset(hist, 0, HIST_BUCKETS * sizeof(*hist));
	while (now < end) {
		frame_stamp(tx, seq++);
		uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
		bool back = packet_port_send(port, &out, 1) == 1 && echo_wait(port, &in);
		/* A late echo of an earlier frame is counted and skipped. */
		while (back && !echo_matches(rx, in.len, tx, size)) {
			bad++;
			back = echo_wait(port, &in);
		}
		now = clock_ns(CLOCK_MONOTONIC);
		if (!back) {
			lost++;
			continue;
		}
		uint64_t rtt = now - t0;
		hist[hist_bucket(rtt)]++;
		trips++;
		lat_sum += rtt;
	}
	uint64_t elapsed = now - start;
	uint64_t cpu = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
	packet_port_get_stats(port, &after);

	r->frame_size = size;
	r->round_trips = trips;
	r->lost = lost;
	r->bad = bad;
	r->drops = (after.tx_dropped - before.tx_dropped) + (after.rx_dropped - before.rx_dropped);
	r->seconds = elapsed / 1e9;
	r->packets_per_s = elapsed ? trips / r->seconds : 0;
	r->mb_per_s = r->packets_per_s * size / 1e6;
	r->rtt_mean_us = trips ? lat_sum / 1000.0 / trips : 0;
	r->rtt_p50_us = hist_percentile_us(hist, trips, 0.50);
	r->rtt_p99_us = hist_percentile_us(hist, trips, 0.99);
	r->cpu_ns_per_packet = trips ? (double)cpu / trips : 0;
}

static int pin_thread(int cpu, cpu_set_t *saved)
{
	if (pthread_getaffinity_np(pthread_self(), sizeof(*saved), saved) != 0)
		return -1;
	if (cpu < 0)
		cpu = sched_getcpu();
	if (cpu < 0)
		return -1;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	return pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0 ? 0 : -1;
}

int baseline_packet_run(const struct baseline_packet_config *config,
			struct baseline_packet_result *out, unsigned max, unsigned *n,
			FILE *progress)
{
	*n = 0;
	const char *const *backends = config->backends ? config->backends : default_backends;
	unsigned nbackends = config->backends ? config->nbackends : 2;
	const unsigned *sizes = config->frame_sizes ? config->frame_sizes : default_sizes;
	unsigned nsizes = config->frame_sizes ? config->nsizes : 2;
	unsigned duration_ms = config->duration_ms ? config->duration_ms : BASELINE_DEFAULT_MS;
	for (unsigned i = 0; i < nsizes; i++) {
		if (sizes[i] < BASELINE_MIN_FRAME || sizes[i] > PACKET_FRAME_MAX) {
			fprintf(stderr, "baseline_packet: frame size %u is out of range; use %u..%u bytes\n",
				sizes[i], BASELINE_MIN_FRAME, PACKET_FRAME_MAX);
			return -1;
		}
	}
	uint64_t *hist = malloc(HIST_BUCKETS * sizeof(*hist));
	if (hist == NULL) {
		fprintf(stderr, "baseline_packet: out of memory for the latency histogram\n");
		return -1;
	}
	cpu_set_t saved;
	bool pinned = pin_thread(config->cpu, &saved) == 0;
	int ret = 0;

	for (unsigned b = 0; b < nbackends; b++) {
		char err[512];
		uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
		struct packet_port *port = packet_port_open(backends[b], err, sizeof(err));
		double open_ms = (clock_ns(CLOCK_MONOTONIC) - t0) / 1e6;
		if (port == NULL) {
			fprintf(stderr, "baseline_packet: skipping %s: %s\n", backends[b], err);
			ret = -1;
			continue;
		}
		for (unsigned s = 0; s < nsizes && *n < max; s++) {
			struct baseline_packet_result *r = &out[*n];
			memset(r, 0, sizeof(*r));
			snprintf(r->backend, sizeof(r->backend), "%s", backends[b]);
			r->open_ms = open_ms;
			run_one(port, sizes[s], duration_ms, hist, r);
			(*n)++;
			if (progress != NULL) {
				fprintf(progress, "packet baseline %-16s %5u B: %9.0f pkt/s %8.1f MB/s "
					"rtt p50 %6.2f us p99 %6.2f us cpu %6.0f ns/pkt lost %lu bad %lu\n",
					r->backend, r->frame_size, r->packets_per_s, r->mb_per_s,
					r->rtt_p50_us, r->rtt_p99_us, r->cpu_ns_per_packet,
					(unsigned long)r->lost, (unsigned long)r->bad);
				fflush(progress);
			}
		}
		packet_port_close(port);
	}
	if (pinned)
		pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	free(hist);
	return ret;
}
