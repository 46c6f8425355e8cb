/* SPDX-License-Identifier: MIT */
#include "logsink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

static const int priorities[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

/* stderr is closed or /dev/null: nobody reads what goes there. */
static bool
stderr_unusable(void)
{
	struct stat st, null;

	if (fstat(STDERR_FILENO, &st) < 0)
		return true;
	return S_ISCHR(st.st_mode) && stat("/dev/null", &null) == 0 && S_ISCHR(null.st_mode) &&
	       st.st_rdev == null.st_rdev;
}

/* systemd says which stream is the journal's in JOURNAL_STREAM=dev:ino. */
static bool
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int
logsink_parse(const char *s, enum log_target *out)
{
	static const char *const names[] = {"auto", "stderr", "syslog"};

	for (int i = 0; i < 3; i++) {
		if (!strcmp(s, names[i])) {
			*out = (enum log_target)i;
			return 0;
		}
	}
	return -EINVAL;
}

void
logsink_open(struct logsink *s, enum log_target want)
{
	*s = (struct logsink){.target = want};
	if (want == LOG_TARGET_AUTO)
		s->target = stderr_unusable() ? LOG_TARGET_SYSLOG : LOG_TARGET_STDERR;
	if (s->target == LOG_TARGET_SYSLOG) {
		openlog("kohlrabi", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		s->open = true;
	} else {
		s->journal = stderr_is_journal();
	}
}

void
logsink_write(struct logsink *s, enum kr_log_level level, const char *msg)
{
	const char *name = log_level_name(level);
	struct timespec ts;
	struct tm tm;
	char when[32];

	if (s->target == LOG_TARGET_SYSLOG) {
		syslog(priorities[level], "%s: %s", name, msg);
		return;
	}
	if (s->journal) { /* the journal adds time and pid; "<N>" sets the priority */
		fprintf(stderr, "<%d>%s: %s\n", priorities[level], name, msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld kohlrabi[%ld]: %s: %s\n", when, ts.tv_nsec / 1000000,
		(long)getpid(), name, msg);
}

void
logsink_close(struct logsink *s)
{
	if (s->open)
		closelog();
	s->open = false;
}

void
say(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "kohlrabi: %s\n", msg);
	if (stderr_unusable()) {
		openlog("kohlrabi", LOG_PID, LOG_DAEMON);
		syslog(LOG_ERR, "%s", msg);
		closelog();
	}
}
