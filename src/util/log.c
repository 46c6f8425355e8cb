/* SPDX-License-Identifier: MIT */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

/* Longest message handed to a handler; longer ones are cut. */
#define LOG_MAX 256

static const char *const level_names[] = {"error", "warn", "info", "debug"};

const char *
log_level_name(enum kr_log_level level)
{
	return (unsigned)level < ARRAY_SIZE(level_names) ? level_names[level] : "?";
}

void
logger_init(struct logger *lg, enum kr_log_level level,
	    void (*fn)(void *, enum kr_log_level, const char *), void *user)
{
	*lg = (struct logger){.fn = fn, .user = user, .level = level};
}

static void KR_PRINTF(4, 0) emit(struct logger *lg, enum kr_log_level level, const char *prefix,
				 const char *fmt, va_list ap)
{
	char msg[LOG_MAX];
	int n = snprintf(msg, sizeof(msg), "%s", prefix);

	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	if (lg->fn)
		lg->fn(lg->user, level, msg);
	else
		fprintf(stderr, "kohlrabi: %s: %s\n", log_level_name(level), msg);
}

void
log_msg(struct logger *lg, enum kr_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > lg->level)
		return;
	va_start(ap, fmt);
	emit(lg, level, "", fmt, ap);
	va_end(ap);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void
log_guest(struct logger *lg, enum kr_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > lg->level)
		return;
	uint64_t now = now_ns();
	if (now - lg->window_start_ns >= LOG_GUEST_WINDOW_NS) {
		if (lg->suppressed)
			log_msg(lg, KR_LOG_WARN, "guest: %llu messages suppressed",
				(unsigned long long)lg->suppressed);
		lg->window_start_ns = now;
		lg->window_count = 0;
		lg->suppressed = 0;
	}
	if (lg->window_count >= LOG_GUEST_BURST) {
		lg->suppressed++;
		return;
	}
	lg->window_count++;
	va_start(ap, fmt);
	emit(lg, level, "guest: ", fmt, ap);
	va_end(ap);
}
