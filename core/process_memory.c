#include "core/process_memory.h"

#include <stdio.h>

uint64_t process_rss_apart_from_shmem_kib(pid_t pid)
{
	char path[64], line[256];
	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	unsigned long long anon = 0, file = 0;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "RssAnon: %llu", &anon);
		sscanf(line, "RssFile: %llu", &file);
	}
	fclose(f);
	return anon + file;
}
