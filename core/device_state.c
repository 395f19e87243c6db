/* Saved device state as a growable byte buffer (snapshots, migration). */
#include <stdlib.h>
#include <string.h>

#include "core/device.h"

int device_state_put(struct device_state_buf *buf, const void *data, size_t len)
{
	if (buf->len + len < buf->len)
		return -1;
	if (buf->len + len > buf->cap) {
		size_t cap = buf->cap ? buf->cap : 256;
		while (cap < buf->len + len)
			cap *= 2;
		uint8_t *grown = realloc(buf->data, cap);
		if (!grown)
			return -1;
		buf->data = grown;
		buf->cap = cap;
	}
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	return 0;
}

int device_state_get(struct device_state_buf *buf, void *data, size_t len)
{
	if (buf->pos > buf->len || len > buf->len - buf->pos)
		return -1;
	memcpy(data, buf->data + buf->pos, len);
	buf->pos += len;
	return 0;
}

void device_state_free(struct device_state_buf *buf)
{
	free(buf->data);
	*buf = (struct device_state_buf){ 0 };
}
