/*
 * log.h - one line per event on stderr: time, level, message.
 */
#ifndef ALLOT_ENGINE_LOG_H
#define ALLOT_ENGINE_LOG_H

typedef enum log_level {
	LOG_ERROR = 0,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG,
} log_level;

/* -1 for a name that is not a level. */
int log_level_parse(const char *name);
void log_set_level(log_level level);
int log_enabled(log_level level);
void log_write(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_write(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
