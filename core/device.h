/* Device registry. A back end announces each (function, model) pair it
 * implements with an ops table; the core finds models by name and never
 * switches on the model. */
#ifndef IOVIRT_CORE_DEVICE_H
#define IOVIRT_CORE_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "core/counters.h"

struct vm;

#define DEVICE_MAX_OPTIONS 16

/* One --disk/--nic/--device option as the user wrote it, split into parts. */
struct device_spec {
	char function[16];   /* "disk", "nic", or the name after --device */
	char model[32];      /* "emulated", "split", "passthrough", ... */
	unsigned noptions;
	struct {
		char key[32];
		char value[256];
	} options[DEVICE_MAX_OPTIONS];
	char text[512];      /* the original text, for messages */
};

/* Saved device state: a growable byte buffer (migration and snapshots). */
struct device_state_buf {
	uint8_t *data;
	size_t len, cap;
	size_t pos;          /* read position for load */
};

struct device_model_ops {
	const char *function;
	const char *model;
	const char *summary;     /* one line for --help */
	/* Creates the device in vm from spec; on failure returns -1 and writes one
	 * line to err. */
	int (*realize)(struct vm *vm, const struct device_spec *spec, void **state,
		       char *err, size_t errlen);
	void (*reset)(void *state);
	int (*save_state)(void *state, struct device_state_buf *out);
	int (*load_state)(void *state, struct device_state_buf *in);
	/* Counters of this device instance. */
	struct device_counters *(*stats)(void *state);
	void (*teardown)(void *state);
};

void device_model_register(const struct device_model_ops *ops);
const struct device_model_ops *device_model_find(const char *function, const char *model);
/* Iterate registered models (for --help): returns NULL past the end. */
const struct device_model_ops *device_model_at(unsigned index);

#define DEVICE_MODEL_REGISTER(ops_var) \
	static void __attribute__((constructor)) device_model_register_##ops_var(void) \
	{ device_model_register(&ops_var); }

/* Parses "model=split,path=disk.img" given the function ("disk"). For
 * --device the first bare word is the function: "testdev" or "vfio,host=...".
 * Returns 0, or -1 with one line in err. */
int device_spec_parse(const char *function, const char *text, struct device_spec *spec,
		      char *err, size_t errlen);
/* Value of key in spec, or NULL. */
const char *device_spec_get(const struct device_spec *spec, const char *key);

/* Byte-buffer helpers for save/load. */
int device_state_put(struct device_state_buf *buf, const void *data, size_t len);
int device_state_get(struct device_state_buf *buf, void *data, size_t len);
void device_state_free(struct device_state_buf *buf);

#endif
