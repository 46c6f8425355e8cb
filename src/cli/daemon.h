/* SPDX-License-Identifier: MIT */
/*
 * The kohlrabi daemon: one epoll loop serving the listening socket, the
 * vhost-user connection, the virtqueue kicks, the display socket, timers and
 * signals for the device of src/vhost/vu_gpu.c.  main.c runs it; the
 * whole-daemon fuzz target drives it step by step.
 */
#ifndef KR_CLI_DAEMON_H
#define KR_CLI_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "display/vnc.h"
#include "display/vugpu.h"
#include "kohlrabi/kohlrabi.h"
#include "logsink.h"
#include "options.h"
#include "sandbox.h"
#include "util/log.h"
#include "vhost/vu.h"
#include "vhost/vu_gpu.h"
#include "vhost/vu_input.h"

struct daemon {
	struct options opt;
	struct logger log;
	/* Where messages go (NULL: stderr); set before daemon_setup. */
	void (*log_fn)(void *user, enum kr_log_level level, const char *msg);
	struct logsink sink;	/* where messages go without log_fn */
	bool no_signals;	/* do not take SIGINT/SIGTERM (an embedding test) */
	struct sandbox sandbox; /* prepared by daemon_setup; main.c enters it */
	struct vu_gpu dev;	/* the device and its connection */
	struct vnc_sink *vnc;	/* owned, NULL without --vnc */
	struct vu_input input;	/* the input device (--input-socket) */
	bool input_on;
	int input_listen_fd; /* owned, -1 */
	int epfd;	     /* owned */
	int listen_fd;	     /* owned, -1 */
	int signal_fd;	     /* owned, -1 */
	int timer_fd;	     /* owned: display refresh */
	int poll_fd;	     /* owned: fence polling */
	int hold_fd;	     /* owned: the held control queue's deadline */
	bool quit;
	int exit_code;
};

/* Fill in the closed state (every fd -1); then set opt (and log_fn). */
void daemon_init(struct daemon *d);
/* Create the device, the loop and its fds, and listen on or adopt the
   socket the options name.  0 or -errno (said on stderr). */
int daemon_setup(struct daemon *d);
/* Wait up to timeout_ms (-1: forever) and handle what is ready.  Returns the
   number of events handled, or -errno when the loop itself failed. */
int daemon_step(struct daemon *d, int timeout_ms);
/* Close everything daemon_setup made (also after it failed). */
void daemon_teardown(struct daemon *d);
/* A display refresh now (what the refresh timer does when it fires). */
void daemon_refresh(struct daemon *d);
/* What --print-capabilities prints: "render-node" when dri_dir (/dev/dri)
   holds a render node we may open, "virgl" when it is built in. */
void daemon_print_capabilities(FILE *f, const char *dri_dir);

#endif
