/* The lab NIC's wire: QEMU's `-netdev socket,udp=...` sends each Ethernet
 * frame the e1000 transmits as one UDP datagram here; this sends it back
 * with source and destination MAC swapped (what the guest's echo workload
 * expects of its peer) and counts frames, so the host side can check that
 * frames really crossed the passed-through NIC.
 * Usage: frame_reflector PORT COUNT_FILE   (stops on SIGTERM, writing the count) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: frame_reflector PORT COUNT_FILE\n");
		return 2;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		perror("frame_reflector: bind");
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_term };   /* no SA_RESTART: recvfrom returns */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	unsigned long frames = 0, bytes = 0;
	unsigned char frame[65536];
	while (!stop) {
		struct sockaddr_in from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(fd, frame, sizeof(frame), 0, (struct sockaddr *)&from, &fromlen);
		if (n < 14)
			continue;   /* interrupted, or not an Ethernet frame */
		unsigned char mac[6];
		memcpy(mac, frame, 6);
		memcpy(frame, frame + 6, 6);
		memcpy(frame + 6, mac, 6);
		sendto(fd, frame, (size_t)n, 0, (struct sockaddr *)&from, fromlen);
		frames++;
		bytes += (unsigned long)n;
	}
	FILE *out = fopen(argv[2], "w");
	if (out) {
		fprintf(out, "frames=%lu bytes=%lu\n", frames, bytes);
		fclose(out);
	}
	return 0;
}
