/* Resident memory of a process apart from shared memory: RssAnon + RssFile.
 * Guest RAM is a memfd (shmem), so for a VMM this is its own footprint. */
#ifndef IOVIRT_CORE_PROCESS_MEMORY_H
#define IOVIRT_CORE_PROCESS_MEMORY_H

#include <stdint.h>
#include <sys/types.h>

/* pid 0: this process. 0 when the process is gone or unreadable. */
uint64_t process_rss_apart_from_shmem_kib(pid_t pid);

#endif
