/* iovirt.test=nic: the NIC workload over whichever NIC driver probes
 * (guest/workload_runner.h). Frames the guest sends:
 *   0..5   destination: NIC_PEER_MAC (the loopback peer answers to anything)
 *   6..11  source: the NIC's own address
 *   12..13 EtherType 0x88B5 (IEEE local experimental)
 *   14..21 sequence number (little endian)   22..23 zero
 *   24..   the word nic_fill_word(seq) repeated, the tail cut to the size
 * echo sends up to iovirt.nic.qd frames ahead and expects each back with the
 * two addresses swapped and everything else unchanged; send only transmits. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest/cmdline.h"
#include "guest/io.h"
#include "guest/pci.h"
#include "guest/print.h"
#include "guest/results.h"
#include "guest/string.h"
#include "guest/tests.h"
#include "guest/workload_runner.h"

#define NIC_ETHERTYPE_HI 0x88u
#define NIC_ETHERTYPE_LO 0xB5u
#define NIC_HEADER 24u
#define NIC_MIN_SIZE 60u
#define NIC_MAX_SIZE 1514u
#define NIC_BUF 2048u
#define NIC_MAX_QD 256u
#define NIC_DEFAULT_SIZE 64u
#define NIC_DEFAULT_COUNT 1000u

static const uint8_t nic_peer_mac[6] = { 0x02, 0x10, 0x0F, 0x00, 0x00, 0x01 };

struct nic_run {
	struct guest_nic *nic;
	enum guest_io_mode mode;
	unsigned qd;
	uint32_t size;
	uint64_t ops, bytes, errors, verify_failures, stray;
};

static uint64_t slot_seq[NIC_MAX_QD];
static uint64_t slot_tsc[NIC_MAX_QD];
static uint8_t slot_busy[NIC_MAX_QD];
static uint64_t tx_frame[NIC_BUF / 8];
static uint64_t rx_frame[NIC_BUF / 8];
static char nic_error[128];

#define FAIL(...) (results_set_message(__VA_ARGS__), GUEST_STATUS_FAIL)
#define BAD_PARAMS(...) (results_set_message(__VA_ARGS__), GUEST_STATUS_BAD_PARAMS)

static uint64_t nic_fill_word(uint64_t seq)
{
	return (seq * 0xD6E8FEB86659FD93ull) ^ 0x1F0E1D2C3B4A5968ull;
}

/* Writes frame seq's payload (everything after the addresses) into f. */
static void frame_body(uint8_t *f, uint64_t seq, uint32_t size)
{
	f[12] = NIC_ETHERTYPE_HI;
	f[13] = NIC_ETHERTYPE_LO;
	memcpy(f + 14, &seq, 8);
	f[22] = 0;
	f[23] = 0;
	uint64_t word = nic_fill_word(seq);
	size_t words = (size - NIC_HEADER) / 8u;
	uint64_t *dst = (uint64_t *)(f + NIC_HEADER);
	size_t count = words;
	__asm__ volatile("rep stosq" : "+D"(dst), "+c"(count) : "a"(word) : "memory");
	memcpy(f + NIC_HEADER + words * 8u, &word, (size - NIC_HEADER) % 8u);
}

static bool frame_body_matches(const uint8_t *f, uint64_t seq, uint32_t size)
{
	uint64_t word = nic_fill_word(seq);
	if (f[22] || f[23])
		return false;
	size_t words = (size - NIC_HEADER) / 8u;
	if (words) {
		const uint64_t *src = (const uint64_t *)(f + NIC_HEADER);
		size_t count = words;
		bool equal;
		__asm__ volatile("repe scasq" : "+D"(src), "+c"(count), "=@ccz"(equal) : "a"(word) : "memory");
		if (!equal)
			return false;
	}
	return memcmp(f + NIC_HEADER + words * 8u, &word, (size - NIC_HEADER) % 8u) == 0;
}

/* Matches one received frame against the outstanding ones. */
static void echo_account(struct nic_run *r, int len, uint64_t now, unsigned *in_flight)
{
	const uint8_t *f = (const uint8_t *)rx_frame;
	if (len < (int)NIC_HEADER || f[12] != NIC_ETHERTYPE_HI || f[13] != NIC_ETHERTYPE_LO) {
		r->stray++;   /* not ours: some other host's traffic */
		return;
	}
	uint64_t seq;
	memcpy(&seq, f + 14, 8);
	unsigned slot = (unsigned)(seq % r->qd);
	if (!slot_busy[slot] || slot_seq[slot] != seq) {
		r->verify_failures++;   /* a duplicate, or a sequence never sent */
		return;
	}
	slot_busy[slot] = 0;
	(*in_flight)--;
	workload_record_latency(now - slot_tsc[slot]);
	bool ok = (uint32_t)len == r->size && memcmp(f, r->nic->mac, 6) == 0 && memcmp(f + 6, nic_peer_mac, 6) == 0 &&
		  frame_body_matches(f, seq, r->size);
	if (!ok)
		r->verify_failures++;
	r->ops++;
	r->bytes += (uint32_t)len;
}

/* Echoes sequence numbers first_seq .. first_seq+count-1 (or until the
 * deadline). */
static const char *echo_run(struct nic_run *r, uint64_t first_seq, uint64_t count, uint64_t deadline)
{
	struct guest_nic *nic = r->nic;
	uint8_t *f = (uint8_t *)tx_frame;
	memcpy(f, nic_peer_mac, 6);
	memcpy(f + 6, nic->mac, 6);
	uint64_t sent = first_seq;
	count += first_seq;
	unsigned in_flight = 0;
	bool stalled_before = false;
	struct workload_stall stall;
	for (;;) {
		bool more = deadline ? rdtsc() < deadline : sent < count;
		unsigned batch = 0;
		uint64_t now = rdtsc();
		while (more && !slot_busy[sent % r->qd]) {
			frame_body(f, sent, r->size);
			if (nic->send(nic, f, r->size) != 0)
				break;   /* ring full: kick and reap first */
			unsigned slot = (unsigned)(sent % r->qd);
			slot_busy[slot] = 1;
			slot_seq[slot] = sent;
			slot_tsc[slot] = now;
			sent++;
			in_flight++;
			batch++;
			more = deadline ? more : sent < count;
		}
		if (batch)
			nic->kick(nic);
		if (!more && in_flight == 0)
			return NULL;
		int len = nic->receive(nic, rx_frame, sizeof(rx_frame));
		if (len < 0) {
			r->errors++;
			continue;
		}
		if (len == 0) {
			if (!stalled_before) {
				workload_stall_reset(&stall);
				stalled_before = true;
			} else if (workload_stall_expired(&stall, r->mode)) {
				guest_snprintf(nic_error, sizeof(nic_error),
					       "%s: no frame came back for %u ms with %u in flight (%lu sent)", nic->name,
					       WORKLOAD_STALL_MS, in_flight, sent - first_seq);
				return nic_error;
			}
			if (r->mode == GUEST_IO_IRQ)
				nic->wait(nic);
			else
				__asm__ volatile("pause");
			continue;
		}
		stalled_before = false;
		echo_account(r, len, rdtsc(), &in_flight);
	}
}

static const char *send_run(struct nic_run *r, uint64_t count, uint64_t deadline)
{
	struct guest_nic *nic = r->nic;
	uint8_t *f = (uint8_t *)tx_frame;
	memcpy(f, nic_peer_mac, 6);
	memcpy(f + 6, nic->mac, 6);
	uint64_t sent = 0;
	bool stalled_before = false;
	struct workload_stall stall;
	while (deadline ? rdtsc() < deadline : sent < count) {
		unsigned batch = 0;
		while (batch < r->qd && (deadline || sent < count)) {
			frame_body(f, sent, r->size);
			if (nic->send(nic, f, r->size) != 0)
				break;
			sent++;
			batch++;
		}
		if (batch) {
			nic->kick(nic);
			r->ops += batch;
			r->bytes += (uint64_t)batch * r->size;
			stalled_before = false;
			continue;
		}
		/* The ring is full: wait for the device to send some. */
		if (!stalled_before) {
			workload_stall_reset(&stall);
			stalled_before = true;
		} else if (workload_stall_expired(&stall, r->mode)) {
			guest_snprintf(nic_error, sizeof(nic_error), "%s: transmit ring stayed full for %u ms",
				       nic->name, WORKLOAD_STALL_MS);
			return nic_error;
		}
		if (r->mode == GUEST_IO_IRQ)
			nic->wait(nic);
		else
			__asm__ volatile("pause");
	}
	return NULL;
}

enum guest_status test_nic_run(const struct guest_test_env *env)
{
	static struct guest_nic nic;
	struct pci_scan scan;
	struct guest_io_options opts;
	const char *err = workload_setup(env->cmdline, "iovirt.nic.qd", &scan, &opts);
	if (err)
		return BAD_PARAMS("nic: %s", err);
	struct cmdline_value pattern;
	bool echo = true;
	if (cmdline_lookup(env->cmdline, "iovirt.nic.pattern", &pattern)) {
		if (str_equal_n(pattern.text, pattern.len, "send"))
			echo = false;
		else if (!str_equal_n(pattern.text, pattern.len, "echo"))
			return BAD_PARAMS("nic: iovirt.nic.pattern must be echo or send");
	}
	uint64_t size, count, ms;
	if (!cmdline_lookup_u64(env->cmdline, "iovirt.nic.size", NIC_DEFAULT_SIZE, &size) || size < NIC_MIN_SIZE ||
	    size > NIC_MAX_SIZE)
		return BAD_PARAMS("nic: iovirt.nic.size must be %u..%u bytes (a frame without its FCS)", NIC_MIN_SIZE,
				  NIC_MAX_SIZE);
	if (!cmdline_lookup_u64(env->cmdline, "iovirt.nic.count", NIC_DEFAULT_COUNT, &count) || count == 0)
		return BAD_PARAMS("nic: iovirt.nic.count must be a positive number");
	if (!cmdline_lookup_u64(env->cmdline, "iovirt.nic.ms", 0, &ms))
		return BAD_PARAMS("nic: iovirt.nic.ms must be a number of milliseconds");
	if (ms && !guest_results.tsc_khz)
		return BAD_PARAMS("nic: iovirt.nic.ms needs a known TSC rate and this CPU reports none; use "
				  "iovirt.nic.count");
	if (opts.queue_depth > NIC_MAX_QD)
		return BAD_PARAMS("nic: iovirt.nic.qd is at most %u", NIC_MAX_QD);

	err = workload_nic_open(env->cmdline, &scan, &opts, &nic);
	if (err)
		return FAIL("nic: %s", err);

	struct nic_run r = { .nic = &nic, .mode = opts.mode, .qd = opts.queue_depth, .size = (uint32_t)size };
	workload_results_begin(nic.kind, r.qd, r.size);
	guest_printf("nic: %s pattern=%s size=%u qd=%u mode=%s\n", nic.name, echo ? "echo" : "send", r.size, r.qd,
		     opts.mode == GUEST_IO_IRQ ? "irq" : "poll");

	uint64_t first_seq = 0;
	if (echo) {
		/* Untimed: one frame there and back, so receiver start-up (QEMU's
		 * e1000 holds RX for a second after RCTL is written) and link
		 * bring-up stay out of the numbers. */
		err = echo_run(&r, 0, 1, 0);
		if (err)
			return FAIL("nic: warm-up: %s", err);
		if (r.verify_failures || r.errors)
			return FAIL("nic: warm-up frame came back wrong");
		workload_results_begin(nic.kind, r.qd, r.size);
		r.ops = r.bytes = r.stray = 0;
		first_seq = 1;
	}
	uint64_t deadline = ms ? workload_deadline_after_ms(ms) : 0;
	struct workload_phase measured;
	workload_phase_begin(&measured, &nic.notifications, &nic.interrupts);
	err = echo ? echo_run(&r, first_seq, count, deadline) : send_run(&r, count, deadline);
	workload_phase_end(&measured);
	struct guest_workload_results *w = &guest_results.workload;
	w->ops = r.ops;
	w->bytes = r.bytes;
	w->errors = r.errors;
	w->verify_failures = r.verify_failures;

	guest_printf("RESULT pattern=%s\n", echo ? "echo" : "send");
	guest_printf("RESULT mode=%s\n", opts.mode == GUEST_IO_IRQ ? "irq" : "poll");
	guest_printf("RESULT nic_stray_frames=%lu\n", r.stray);
	workload_print_results();

	if (err)
		return FAIL("nic: %s", err);
	if (r.errors)
		return FAIL("nic: %s reported %lu receive errors", nic.name, r.errors);
	if (r.verify_failures)
		return FAIL("nic: %lu frames came back wrong (payload, length, addresses or sequence)",
			    r.verify_failures);
	if (!deadline && r.ops != count)
		return FAIL("nic: %lu of %lu frames completed", r.ops, count);
	results_set_message("nic: %s %s: %lu frames of %u bytes at qd %u%s", nic.name, echo ? "echo" : "send", r.ops,
			    r.size, r.qd, echo ? ", every one back intact" : " sent");
	return GUEST_STATUS_PASS;
}
