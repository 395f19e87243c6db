#include "core/disk_backend.h"

#include <stdio.h>
#include <string.h>

#include "core/cli.h"
#include "core/device.h"
#include "core/io_thread.h"
#include "core/vm.h"

const char *const disk_backend_option_keys[] = { "path", "size", "readonly", "direct", "qd", NULL };

/* on/off flag; absent means off. */
static int disk_backend_flag(const struct device_spec *spec, const char *key, bool *value,
			     char *err, size_t errlen)
{
	const char *text = device_spec_get(spec, key);
	*value = false;
	if (!text)
		return 0;
	if (strcmp(text, "on") == 0 || strcmp(text, "yes") == 0 || strcmp(text, "1") == 0) {
		*value = true;
		return 0;
	}
	if (strcmp(text, "off") == 0 || strcmp(text, "no") == 0 || strcmp(text, "0") == 0)
		return 0;
	snprintf(err, errlen, "%s: %s=%s: say on or off", spec->text, key, text);
	return -1;
}

int disk_backend_open(struct vm *vm, const struct device_spec *spec, struct disk_backend *disk,
		      char *err, size_t errlen)
{
	memset(disk, 0, sizeof(*disk));
	disk->image.fd = -1;
	struct disk_image_options opts = { 0 };
	if (disk_backend_flag(spec, "readonly", &opts.read_only, err, errlen) < 0 ||
	    disk_backend_flag(spec, "direct", &opts.direct, err, errlen) < 0)
		return -1;
	uint64_t qd = 64;
	const char *qd_text = device_spec_get(spec, "qd");
	if (qd_text && cli_parse_uint(qd_text, 1, 4096, &qd) < 0) {
		snprintf(err, errlen, "%s: qd=%s: give a queue depth from 1 to 4096", spec->text, qd_text);
		return -1;
	}
	const char *path = device_spec_get(spec, "path");
	const char *size_text = device_spec_get(spec, "size");
	uint64_t size = 0;
	if (size_text) {
		if (path) {
			snprintf(err, errlen, "%s: size= is for the temporary disk; an image given by "
				 "path= has its own size", spec->text);
			return -1;
		}
		if (cli_parse_size(size_text, &size) < 0 || size == 0) {
			snprintf(err, errlen, "%s: size=%s: give a size such as 64M", spec->text, size_text);
			return -1;
		}
	}
	char why[384];
	int ret = path ? disk_image_open(&disk->image, path, &opts, why, sizeof(why))
		       : disk_image_create_temp(&disk->image, size, &opts, why, sizeof(why));
	if (ret < 0) {
		snprintf(err, errlen, "%s: %s", spec->text, why);
		return -1;
	}
	struct block_engine_config config = {
		.fd = disk->image.fd,
		.size = disk->image.size,
		.read_only = disk->image.read_only,
		.queue_depth = (unsigned)qd,
		.use_fixed_file = true,
	};
	disk->engine = block_engine_create(vm->io, &config, why, sizeof(why));
	if (!disk->engine) {
		snprintf(err, errlen, "%s: %s", spec->text, why);
		disk_image_close(&disk->image);
		return -1;
	}
	return 0;
}

static bool disk_backend_idle(void *opaque)
{
	return block_engine_inflight(opaque) == 0 && block_engine_waiting(opaque) == 0;
}

void disk_backend_close(struct vm *vm, struct disk_backend *disk)
{
	if (disk->engine) {
		/* The loop is stopped by now: reap what the guest left in flight here. */
		if (!disk_backend_idle(disk->engine))
			io_thread_run_until(vm->io, disk_backend_idle, disk->engine);
		block_engine_destroy(disk->engine);
		disk->engine = NULL;
	}
	disk_image_close(&disk->image);
}
