/* The host-native packet baseline: the packet engine driven straight from
 * this process, with no guest and no device model. One frame is sent, its
 * echo received, then the next: a ping-pong that measures the engine's round
 * trip, against which every NIC model's numbers are read. The echo comes
 * from the back end itself: the loopback reflector (MACs swapped), or a
 * DPDK net_ring port, whose tx queue feeds its own rx queue. The thread is
 * pinned to one CPU for the run. */
#ifndef IOVIRT_BENCH_BASELINE_PACKET_H
#define IOVIRT_BENCH_BASELINE_PACKET_H

#include <stdint.h>
#include <stdio.h>

struct baseline_packet_config {
	const char *const *backends;  /* NULL: "loopback", "dpdk:net_ring0" */
	unsigned nbackends;
	const unsigned *frame_sizes;  /* frame bytes without FCS; NULL: 64, 1500 */
	unsigned nsizes;
	unsigned duration_ms;         /* per (back end, size); 0: 1000 */
	int cpu;                      /* pin to this CPU; -1: the CPU we are on */
};

struct baseline_packet_result {
	char backend[64];
	unsigned frame_size;
	double open_ms;               /* opening the port (DPDK: includes EAL start
				       * for the first DPDK port of the process) */
	uint64_t round_trips;         /* echoes received and checked */
	uint64_t lost;                /* echoes that never came back (1 s wait) */
	uint64_t bad;                 /* echoes of the wrong length or content */
	uint64_t drops;               /* the port's tx_dropped + rx_dropped */
	double seconds;
	double packets_per_s;         /* round trips per second */
	double mb_per_s;              /* frame bytes echoed per second, one way, 10^6 */
	double rtt_mean_us;
	double rtt_p50_us;
	double rtt_p99_us;
	double cpu_ns_per_packet;     /* process user+system CPU per round trip */
};

/* Runs each back end at each frame size, in that order, writing up to max
 * results. Progress lines (one per result) go to progress if not NULL. A back
 * end that cannot be opened is skipped with one line on stderr. Returns 0,
 * or -1 if anything was skipped or the configuration is invalid. */
int baseline_packet_run(const struct baseline_packet_config *config,
			struct baseline_packet_result *out, unsigned max, unsigned *n,
			FILE *progress);

#endif
