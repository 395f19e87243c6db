#include "core/kvm_stats.h"

#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int kvm_stats_open(struct kvm_stats *stats, int vcpu_fd)
{
	memset(stats, 0, sizeof(*stats));
	stats->fd = ioctl(vcpu_fd, KVM_GET_STATS_FD, 0);
	if (stats->fd < 0)
		return -1;
	struct kvm_stats_header header;
	if (pread(stats->fd, &header, sizeof(header), 0) != sizeof(header) || header.num_desc == 0)
		goto fail;
	size_t desc_size = sizeof(struct kvm_stats_desc) + header.name_size;
	char *descs = malloc(desc_size * header.num_desc);
	if (!descs)
		goto fail;
	if (pread(stats->fd, descs, desc_size * header.num_desc, header.desc_offset) !=
	    (ssize_t)(desc_size * header.num_desc)) {
		free(descs);
		goto fail;
	}
	stats->data_offset = header.data_offset;
	for (uint32_t i = 0; i < header.num_desc && stats->count < KVM_STATS_MAX; i++) {
		const struct kvm_stats_desc *d = (const void *)(descs + i * desc_size);
		/* Plain counters only; histograms (size > 1) are not read here. */
		if (d->size != 1)
			continue;
		unsigned n = stats->count++;
		snprintf(stats->items[n].name, sizeof(stats->items[n].name), "%.*s",
			 (int)header.name_size, d->name);
		stats->items[n].offset = d->offset;
		stats->items[n].cumulative = (d->flags & KVM_STATS_TYPE_MASK) == KVM_STATS_TYPE_CUMULATIVE;
	}
	free(descs);
	return 0;
fail:
	close(stats->fd);
	stats->fd = -1;
	return -1;
}

void kvm_stats_close(struct kvm_stats *stats)
{
	if (stats->fd >= 0)
		close(stats->fd);
	stats->fd = -1;
}

bool kvm_stats_read(const struct kvm_stats *stats, const char *name, uint64_t *value)
{
	if (stats->fd < 0)
		return false;
	for (unsigned i = 0; i < stats->count; i++) {
		if (strcmp(stats->items[i].name, name) != 0)
			continue;
		return pread(stats->fd, value, sizeof(*value), stats->data_offset + stats->items[i].offset) ==
		       sizeof(*value);
	}
	return false;
}
