/* The built-in test guest, embedded in the iovirt binary at build time. */
#ifndef IOVIRT_CORE_GUEST_IMAGE_H
#define IOVIRT_CORE_GUEST_IMAGE_H

#include <stddef.h>

extern const unsigned char guest_image_start[];
extern const unsigned char guest_image_end[];

static inline size_t guest_image_size(void)
{
	return (size_t)(guest_image_end - guest_image_start);
}

#endif
