/* Logging for the VMM: one line per message on stderr, prefixed by level. */
#ifndef IOVIRT_CORE_LOG_H
#define IOVIRT_CORE_LOG_H

#include <stdarg.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* A device fault: the guest asked a device model for something invalid.
 * Always logged (rate-limited per device by the caller's counters). */
void log_device_fault(const char *device, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
