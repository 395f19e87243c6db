/* Tables for people and JSON for tools, from the host-native baselines. */
#ifndef IOVIRT_BENCH_BASELINE_REPORT_H
#define IOVIRT_BENCH_BASELINE_REPORT_H

#include <stdio.h>

#include "bench/baseline_disk.h"
#include "bench/baseline_packet.h"

void baseline_report_disk_table(const struct baseline_disk_result *r, unsigned n, FILE *out);
void baseline_report_packet_table(const struct baseline_packet_result *r, unsigned n, FILE *out);
/* Writes {"benchmark":"baseline","disk":[...],"packet":[...]}; 0 or -1. */
int baseline_report_json(const struct baseline_disk_result *disk, unsigned ndisk,
			 const struct baseline_packet_result *packet, unsigned npacket, const char *path);

#endif
