/* What every disk model (emulated NVMe, virtio-blk) stands on: the image
 * named by --disk path=... (or the demo's temporary disk) and a block engine
 * on the VM's I/O thread. Shared so the models differ only in the model. */
#ifndef IOVIRT_CORE_DISK_BACKEND_H
#define IOVIRT_CORE_DISK_BACKEND_H

#include <stddef.h>

#include "core/block_engine.h"
#include "core/disk_image.h"

struct vm;
struct device_spec;

struct disk_backend {
	struct disk_image image;
	struct block_engine *engine;
};

/* Options read from spec: path=FILE (default: a temporary sparse disk that
 * disappears with the VM), size=SIZE (temporary disk only, default 64M),
 * readonly=on|off, direct=on|off (O_DIRECT), qd=N (engine queue depth).
 * Returns 0, or -1 with one line in err. */
int disk_backend_open(struct vm *vm, const struct device_spec *spec, struct disk_backend *disk,
		      char *err, size_t errlen);
/* Waits for requests in flight (the I/O thread must be stopped), then closes. */
void disk_backend_close(struct vm *vm, struct disk_backend *disk);

/* Keys of spec that disk_backend_open reads, for a model's own option check. */
extern const char *const disk_backend_option_keys[];

#endif
