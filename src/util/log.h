/* SPDX-License-Identifier: MIT */
/*
 * Per-device logging.  Each device owns one struct logger; nothing is global.
 * Messages caused by the guest go through log_bug_guest(), which is
 * rate-limited so that a hostile guest cannot flood the host's log.
 */
#ifndef KR_LOG_H
#define KR_LOG_H

#include <stdint.h>

#include "kohlrabi/kohlrabi.h"
#include "util.h"

/* Guest-caused messages: at most LOG_GUEST_BURST per LOG_GUEST_WINDOW_NS. */
#define LOG_GUEST_BURST	    10
#define LOG_GUEST_WINDOW_NS 5000000000ull

struct logger {
	void (*fn)(void *user, enum kr_log_level level, const char *msg); /* may be NULL */
	void *user;							  /* borrowed */
	enum kr_log_level level;
	uint64_t window_start_ns;
	uint32_t window_count;
	uint64_t suppressed;
};

/* "error", "warn", "info" or "debug": the names --log-level takes. */
const char *log_level_name(enum kr_log_level level);
void logger_init(struct logger *lg, enum kr_log_level level,
		 void (*fn)(void *, enum kr_log_level, const char *), void *user);
void log_msg(struct logger *lg, enum kr_log_level level, const char *fmt, ...) KR_PRINTF(3, 4);
/* A message caused by the guest, at level.  Rate-limited (one window for
   all levels); messages are truncated. */
void log_guest(struct logger *lg, enum kr_log_level level, const char *fmt, ...) KR_PRINTF(3, 4);
/* The guest did something invalid. */
#define log_bug_guest(lg, ...) log_guest((lg), KR_LOG_WARN, __VA_ARGS__)
/* A guest's request was refused for a reason worth a debug line. */
#define log_guest_debug(lg, ...) log_guest((lg), KR_LOG_DEBUG, __VA_ARGS__)
/* kohlrabi itself is wrong (an invariant broke). */
#define log_bug_kr(lg, ...) log_msg((lg), KR_LOG_ERROR, "BUG: " __VA_ARGS__)
/* The host environment failed us (allocation, library, system call). */
#define log_bug_host(lg, ...) log_msg((lg), KR_LOG_ERROR, __VA_ARGS__)

#endif
