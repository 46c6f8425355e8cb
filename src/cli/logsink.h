/* SPDX-License-Identifier: MIT */
/*
 * Where the daemon's messages go: stderr (with a timestamp and the pid on
 * each line, or a syslog priority prefix when stderr is the journal), or
 * syslog.  "auto" picks syslog when stderr is closed or /dev/null (libvirt
 * starts the daemon that way), stderr otherwise.
 */
#ifndef KR_CLI_LOGSINK_H
#define KR_CLI_LOGSINK_H

#include <stdbool.h>

#include "kohlrabi/kohlrabi.h"
#include "util/util.h"

enum log_target { LOG_TARGET_AUTO, LOG_TARGET_STDERR, LOG_TARGET_SYSLOG };

struct logsink {
	enum log_target target; /* resolved: STDERR or SYSLOG */
	bool journal;		/* stderr is the journal's stream */
	bool open;		/* openlog() was called */
};

/* Parse "auto", "stderr" or "syslog"; 0 or -EINVAL. */
int logsink_parse(const char *s, enum log_target *out);
/* Resolve want and open it (syslog: LOG_DAEMON, with the pid). */
void logsink_open(struct logsink *s, enum log_target want);
void logsink_write(struct logsink *s, enum kr_log_level level, const char *msg);
void logsink_close(struct logsink *s);

/* A message of the command line or of setup before the log exists: one line
   "kohlrabi: ..." on stderr, and to syslog too when stderr is unusable. */
void say(const char *fmt, ...) KR_PRINTF(1, 2);

#endif
