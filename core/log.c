#include "core/log.h"

#include <stdio.h>
#include <pthread.h>

static enum log_level current_level = LOG_WARN;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = { "error", "warning", "info", "debug" };

void log_set_level(enum log_level level) { current_level = level; }
enum log_level log_get_level(void) { return current_level; }

static void log_vline(const char *prefix, const char *fmt, va_list ap)
{
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "iovirt: %s: ", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (level > current_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vline(level_names[level], fmt, ap);
	va_end(ap);
}

void log_device_fault(const char *device, const char *fmt, ...)
{
	char prefix[96];
	snprintf(prefix, sizeof(prefix), "device fault: %s", device);
	va_list ap;
	va_start(ap, fmt);
	log_vline(prefix, fmt, ap);
	va_end(ap);
}
