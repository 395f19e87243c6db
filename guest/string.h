/* The few string functions the guest (and gcc's generated code) needs. The
 * memory ones use rep string instructions: one emulated instruction instead
 * of a loop of them. */
#ifndef IOVIRT_GUEST_STRING_H
#define IOVIRT_GUEST_STRING_H

#include <stdbool.h>
#include <stddef.h>

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

/* True if the len bytes at s are exactly the NUL-terminated word. */
bool str_equal_n(const char *s, size_t len, const char *word);

#endif
