#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/device.h"

static int device_spec_copy(char *dst, size_t cap, const char *src, size_t len,
			    const char *what, const struct device_spec *spec, char *err, size_t errlen)
{
	if (len >= cap) {
		snprintf(err, errlen, "%s: %s is too long (at most %zu characters)", spec->text, what, cap - 1);
		return -1;
	}
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

static int device_spec_add_option(struct device_spec *spec, const char *word, size_t len,
				  char *err, size_t errlen)
{
	const char *eq = memchr(word, '=', len);
	if (!eq || eq == word) {
		snprintf(err, errlen, "%s: '%.*s' is not key=value", spec->text, (int)len, word);
		return -1;
	}
	size_t klen = (size_t)(eq - word);
	const char *value = eq + 1;
	size_t vlen = len - klen - 1;
	if (vlen == 0) {
		snprintf(err, errlen, "%s: '%.*s' has an empty value", spec->text, (int)klen, word);
		return -1;
	}
	char key[sizeof(spec->options[0].key)];
	if (device_spec_copy(key, sizeof(key), word, klen, "an option name", spec, err, errlen) < 0)
		return -1;
	if (strcmp(key, "model") == 0) {
		if (spec->model[0]) {
			snprintf(err, errlen, "%s: model= given twice", spec->text);
			return -1;
		}
		return device_spec_copy(spec->model, sizeof(spec->model), value, vlen, "model", spec, err,
					errlen);
	}
	if (device_spec_get(spec, key)) {
		snprintf(err, errlen, "%s: %s= given twice", spec->text, key);
		return -1;
	}
	if (spec->noptions == DEVICE_MAX_OPTIONS) {
		snprintf(err, errlen, "%s: too many options (at most %d)", spec->text, DEVICE_MAX_OPTIONS);
		return -1;
	}
	unsigned i = spec->noptions;
	memcpy(spec->options[i].key, key, klen + 1);
	if (device_spec_copy(spec->options[i].value, sizeof(spec->options[i].value), value, vlen,
			     "a value", spec, err, errlen) < 0)
		return -1;
	spec->noptions++;
	return 0;
}

int device_spec_parse(const char *function, const char *text, struct device_spec *spec,
		      char *err, size_t errlen)
{
	memset(spec, 0, sizeof(*spec));
	snprintf(spec->text, sizeof(spec->text), "--%s %s", function, text);
	bool is_generic = strcmp(function, "device") == 0;
	if (!is_generic)
		snprintf(spec->function, sizeof(spec->function), "%s", function);

	const char *p = text;
	bool first = true;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == 0) {
			snprintf(err, errlen, "%s: empty option (two commas, or a trailing comma)", spec->text);
			return -1;
		}
		/* --device NAME[,key=value...]: the first bare word names the device. */
		if (first && is_generic && !memchr(p, '=', len)) {
			if (device_spec_copy(spec->function, sizeof(spec->function), p, len, "the device name",
					     spec, err, errlen) < 0)
				return -1;
		} else if (device_spec_add_option(spec, p, len, err, errlen) < 0) {
			return -1;
		}
		first = false;
		if (!end)
			break;
		p = end + 1;
		if (!*p) {
			snprintf(err, errlen, "%s: trailing comma", spec->text);
			return -1;
		}
	}
	if (!spec->function[0]) {
		snprintf(err, errlen, "%s: name the device first, e.g. --device testdev", spec->text);
		return -1;
	}
	if (!spec->model[0]) {
		/* A bare --device NAME is emulated by the VMM; disks and NICs must say. */
		if (is_generic) {
			snprintf(spec->model, sizeof(spec->model), "%s",
				 strcmp(spec->function, "vfio") == 0 ? "passthrough" : "emulated");
		} else {
			snprintf(err, errlen, "%s: say which I/O model: model=emulated, model=split or "
				 "model=passthrough", spec->text);
			return -1;
		}
	}
	return 0;
}

const char *device_spec_get(const struct device_spec *spec, const char *key)
{
	for (unsigned i = 0; i < spec->noptions; i++)
		if (strcmp(spec->options[i].key, key) == 0)
			return spec->options[i].value;
	return NULL;
}
