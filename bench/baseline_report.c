#include "bench/baseline_report.h"

void baseline_report_disk_table(const struct baseline_disk_result *r, unsigned n, FILE *out)
{
	fprintf(out, "\nhost-native disk baseline (block engine, no guest)\n");
	fprintf(out, "%-10s %6s %4s %12s %10s %10s %10s %12s %7s\n", "workload", "bs", "qd", "IOPS",
		"MB/s", "p50 us", "p99 us", "CPU us/io", "errors");
	for (unsigned i = 0; i < n; i++)
		fprintf(out, "%-10s %5uK %4u %12.0f %10.1f %10.2f %10.2f %12.2f %7llu\n", r[i].name,
			r[i].block_size / 1024, r[i].qd, r[i].iops, r[i].mb_per_s, r[i].lat_p50_us,
			r[i].lat_p99_us, r[i].cpu_us_per_io, (unsigned long long)r[i].errors);
}

void baseline_report_packet_table(const struct baseline_packet_result *r, unsigned n, FILE *out)
{
	fprintf(out, "\nhost-native packet echo baseline (packet engine, no guest)\n");
	fprintf(out, "%-16s %6s %12s %10s %10s %10s %12s %6s %6s\n", "back end", "bytes", "packets/s",
		"MB/s", "p50 us", "p99 us", "CPU ns/pkt", "lost", "bad");
	for (unsigned i = 0; i < n; i++)
		fprintf(out, "%-16s %6u %12.0f %10.1f %10.2f %10.2f %12.0f %6llu %6llu\n", r[i].backend,
			r[i].frame_size, r[i].packets_per_s, r[i].mb_per_s, r[i].rtt_p50_us,
			r[i].rtt_p99_us, r[i].cpu_ns_per_packet, (unsigned long long)r[i].lost,
			(unsigned long long)r[i].bad);
}

int baseline_report_json(const struct baseline_disk_result *disk, unsigned ndisk,
			 const struct baseline_packet_result *packet, unsigned npacket, const char *path)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -1;
	fprintf(f, "{\n  \"benchmark\": \"baseline\",\n  \"disk\": [");
	for (unsigned i = 0; i < ndisk; i++) {
		const struct baseline_disk_result *r = &disk[i];
		fprintf(f, "%s\n    {\"workload\": \"%s\", \"block_size\": %u, \"qd\": %u, \"ops\": %llu, "
			"\"errors\": %llu, \"seconds\": %.6f, \"iops\": %.1f, \"mb_per_s\": %.3f, "
			"\"lat_mean_us\": %.3f, \"lat_p50_us\": %.3f, \"lat_p99_us\": %.3f, "
			"\"cpu_us_per_io\": %.4f}", i ? "," : "", r->name, r->block_size, r->qd,
			(unsigned long long)r->ops, (unsigned long long)r->errors, r->seconds, r->iops,
			r->mb_per_s, r->lat_mean_us, r->lat_p50_us, r->lat_p99_us, r->cpu_us_per_io);
	}
	fprintf(f, "\n  ],\n  \"packet\": [");
	for (unsigned i = 0; i < npacket; i++) {
		const struct baseline_packet_result *r = &packet[i];
		fprintf(f, "%s\n    {\"backend\": \"%s\", \"frame_size\": %u, \"round_trips\": %llu, "
			"\"lost\": %llu, \"bad\": %llu, \"drops\": %llu, \"seconds\": %.6f, "
			"\"packets_per_s\": %.1f, \"mb_per_s\": %.3f, \"rtt_p50_us\": %.3f, "
			"\"rtt_p99_us\": %.3f, \"cpu_ns_per_packet\": %.1f, \"open_ms\": %.1f}",
			i ? "," : "", r->backend, r->frame_size, (unsigned long long)r->round_trips,
			(unsigned long long)r->lost, (unsigned long long)r->bad, (unsigned long long)r->drops,
			r->seconds, r->packets_per_s, r->mb_per_s, r->rtt_p50_us, r->rtt_p99_us,
			r->cpu_ns_per_packet, r->open_ms);
	}
	fprintf(f, "\n  ]\n}\n");
	return fclose(f);
}
