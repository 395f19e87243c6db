/* --peer qemu: the same guest.elf (embedded in this binary) and the same
 * workload under QEMU's nvme, virtio-blk-pci, e1000 and virtio-net-pci, so
 * each model's figure has a counterpart we did not write. QEMU runs with TCG
 * here (its KVM accelerator does not work on these hosts), which the report
 * says. Its guest TSC ticks at the host's rate, so cycles convert with the
 * host TSC frequency our own runs report. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/child_process.h"
#include "core/guest_image.h"

#define QEMU_BIN "qemu-system-x86_64"
#define QEMU_TIMEOUT "120"
#define QEMU_DISK_OPS 400
#define QEMU_NIC_COUNT 300

/* Echoes each datagram (one Ethernet frame from QEMU's socket netdev) back
 * with the MAC addresses swapped, like the loopback reflector. */
struct udp_reflector {
	int sock;
	uint16_t port, peer_port;
	pthread_t thread;
	atomic_bool stop;
};

static void *udp_reflector_main(void *arg)
{
	struct udp_reflector *r = arg;
	uint8_t frame[2048];
	while (!atomic_load(&r->stop)) {
		struct pollfd pfd = { .fd = r->sock, .events = POLLIN };
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		ssize_t n = recv(r->sock, frame, sizeof(frame), MSG_DONTWAIT);
		if (n < 14)
			continue;
		uint8_t mac[6];
		memcpy(mac, frame, 6);
		memcpy(frame, frame + 6, 6);
		memcpy(frame + 6, mac, 6);
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(r->peer_port),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		sendto(r->sock, frame, (size_t)n, 0, (struct sockaddr *)&to, sizeof(to));
	}
	return NULL;
}

static uint16_t udp_free_port(int *sock_out)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(s, (struct sockaddr *)&a, &len) < 0) {
		if (s >= 0)
			close(s);
		return 0;
	}
	*sock_out = s;
	return ntohs(a.sin_port);
}

static int udp_reflector_start(struct udp_reflector *r)
{
	memset(r, 0, sizeof(*r));
	int peer_sock = -1;
	r->port = udp_free_port(&r->sock);
	r->peer_port = udp_free_port(&peer_sock); /* reserved for QEMU, released just before it binds */
	if (!r->port || !r->peer_port)
		return -1;
	close(peer_sock);
	if (pthread_create(&r->thread, NULL, udp_reflector_main, r) != 0) {
		close(r->sock);
		return -1;
	}
	return 0;
}

static void udp_reflector_stop(struct udp_reflector *r)
{
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	close(r->sock);
}

static long long qemu_result(const char *out, const char *key)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "RESULT %s=", key);
	const char *p = strstr(out, needle);
	return p ? strtoll(p + strlen(needle), NULL, 0) : -1;
}

/* Runs argv, collecting stdout+stderr into out; returns the exit status. */
static int qemu_run(char *const argv[], char *out, size_t cap)
{
	out[0] = '\0';
	int fd;
	pid_t pid = child_start_with_output(argv, true, &fd);
	if (pid < 0)
		return -1;
	size_t used = 0;
	ssize_t n;
	while ((n = read(fd, out + used, cap - 1 - used)) > 0)
		used += (size_t)n;
	out[used] = '\0';
	close(fd);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void bench_qemu_cell(struct bench_run *run, struct bench_cell *cell, const char *guest_path)
{
	const struct bench_workload *w = cell->workload;
	const struct bench_config *c = &run->config;
	unsigned size = w->device == BENCH_DISK && c->bs ? c->bs : w->size, qd = c->qd ? c->qd : w->qd;
	cell->peer_ran = true;
	char cmdline[512], dev[160], backend[160] = "", image[64] = "";
	struct udp_reflector reflector;
	bool reflecting = false;
	if (w->device == BENCH_DISK) {
		snprintf(image, sizeof(image), "/tmp/iovirt-bench-qemu-XXXXXX");
		int fd = mkstemp(image);
		if (fd < 0 || ftruncate(fd, 64 << 20) < 0) {
			snprintf(cell->peer_why, sizeof(cell->peer_why), "cannot create a disk image: %s", strerror(errno));
			if (fd >= 0)
				close(fd);
			return;
		}
		close(fd);
		snprintf(backend, sizeof(backend), "file=%s,if=none,id=d,format=raw", image);
		snprintf(dev, sizeof(dev), cell->model == BENCH_EMULATED ? "nvme,drive=d,serial=iovirt"
									 : "virtio-blk-pci,drive=d,disable-legacy=on");
		snprintf(cmdline, sizeof(cmdline),
			 "iovirt.test=disk iovirt.disk.pattern=%s iovirt.disk.bs=%u iovirt.disk.qd=%u "
			 "iovirt.disk.span=%u iovirt.disk.ops=%u iovirt.cpl=%u", w->pattern, size, qd, 2u << 20,
			 QEMU_DISK_OPS, cell->cpl);
	} else {
		if (udp_reflector_start(&reflector) < 0) {
			snprintf(cell->peer_why, sizeof(cell->peer_why), "cannot start the UDP frame reflector");
			return;
		}
		reflecting = true;
		snprintf(backend, sizeof(backend), "socket,id=n,udp=127.0.0.1:%u,localaddr=127.0.0.1:%u",
			 reflector.port, reflector.peer_port);
		snprintf(dev, sizeof(dev), cell->model == BENCH_EMULATED ? "e1000,netdev=n"
									 : "virtio-net-pci,netdev=n,disable-legacy=on");
		snprintf(cmdline, sizeof(cmdline),
			 "iovirt.test=nic iovirt.nic.pattern=%s iovirt.nic.size=%u iovirt.nic.qd=%u "
			 "iovirt.nic.count=%u iovirt.cpl=%u", w->pattern, size, qd, QEMU_NIC_COUNT, cell->cpl);
	}
	char *argv[] = { "timeout", QEMU_TIMEOUT, QEMU_BIN, "-machine", "q35", "-accel", "tcg", "-m", "128",
			 "-nodefaults", "-kernel", (char *)guest_path, "-display", "none", "-serial", "stdio",
			 "-monitor", "none", "-no-reboot", "-device", "isa-debug-exit",
			 w->device == BENCH_DISK ? "-drive" : "-netdev", backend, "-device", dev, "-append", cmdline, NULL };
	static char out[65536];
	int status = qemu_run(argv, out, sizeof(out));
	if (reflecting)
		udp_reflector_stop(&reflector);
	if (image[0])
		unlink(image);
	long long ops = qemu_result(out, "ops"), cycles = qemu_result(out, "cycles");
	double khz = run->host_tsc_khz;
	/* isa-debug-exit turns the guest's status 0 into exit code 1. */
	if (status != 1 || ops <= 0 || cycles <= 0 || khz <= 0) {
		const char *msg = strstr(out, "RESULT message=");
		snprintf(cell->peer_why, sizeof(cell->peer_why), "QEMU exit %d%s%.100s", status, msg ? ": " : "",
			 msg ? msg + strlen("RESULT message=") : "");
		char *nl = strchr(cell->peer_why, '\n');
		if (nl)
			*nl = '\0';
		return;
	}
	cell->peer_ok = true;
	cell->peer_iops = (double)ops / ((double)cycles / (khz * 1000.0));
	cell->peer_p50_us = (double)qemu_result(out, "p50_cycles") * 1000.0 / khz;
	cell->peer_p99_us = (double)qemu_result(out, "p99_cycles") * 1000.0 / khz;
}

void bench_run_qemu_peer(struct bench_run *run)
{
	FILE *progress = run->config.progress;
	/* QEMU boots the very guest embedded here, handed over as an inherited memfd. */
	int fd = memfd_create("guest.elf", 0);
	if (fd < 0 || write(fd, guest_image_start, guest_image_size()) != (ssize_t)guest_image_size()) {
		for (unsigned i = 0; i < run->ncells; i++)
			snprintf(run->cells[i].peer_why, sizeof(run->cells[i].peer_why), "cannot stage the guest for QEMU");
		if (fd >= 0)
			close(fd);
		return;
	}
	char guest_path[64];
	snprintf(guest_path, sizeof(guest_path), "/proc/self/fd/%d", fd);
	for (unsigned i = 0; i < run->ncells; i++) {
		struct bench_cell *cell = &run->cells[i];
		if (cell->state != BENCH_CELL_OK || cell->model == BENCH_PASSTHROUGH)
			continue;
		if (progress)
			fprintf(progress, "bench: QEMU peer %s %s %s\n", cell->workload->device == BENCH_DISK ? "disk" : "nic",
				bench_model_name(cell->model), cell->workload->name);
		bench_qemu_cell(run, cell, guest_path);
	}
	close(fd);
}
