/* SPDX-License-Identifier: MIT */
/*
 * The kohlrabi daemon's glue: one epoll loop serving the vhost-user
 * connection, the virtqueue kicks, the display socket, timers and signals;
 * requests go to libkohlrabi and its display callbacks go to the frontend.
 * main.c runs it; the whole-daemon fuzz target drives it step by step.
 */
#ifndef KR_CLI_DAEMON_H
#define KR_CLI_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "display/vugpu.h"
#include "kohlrabi/kohlrabi.h"
#include "logsink.h"
#include "options.h"
#include "util/log.h"
#include "vhost/vu.h"

struct daemon {
	struct options opt;
	struct logger log;
	/* Where messages go (NULL: stderr); set before daemon_setup. */
	void (*log_fn)(void *user, enum kr_log_level level, const char *msg);
	struct logsink sink; /* where messages go without log_fn */
	bool no_signals;     /* do not take SIGINT/SIGTERM (an embedding test) */
	struct kr_gpu *gpu;  /* owned */
	struct vu_dev vu;
	struct vugpu display;
	int epfd;      /* owned */
	int listen_fd; /* owned, -1 */
	int signal_fd; /* owned, -1 */
	int timer_fd;  /* owned: display refresh */
	int poll_fd;   /* owned: fence polling */
	bool poll_armed;
	bool timer_armed;
	uint64_t last_present_ns;
	bool display_out_watched;  /* EPOLLOUT on the display socket */
	int hold_fd;		   /* owned: the held control queue's deadline */
	bool ctrl_held;		   /* the control queue waits for the display */
	uint32_t held_type;	   /* ... to answer this (GET_DISPLAY_INFO or GET_EDID) */
	bool release_hold;	   /* ... and the display just answered */
	bool display_fresh;	   /* the next GET_DISPLAY_INFO may be answered */
	bool display_unresponsive; /* a query timed out; not waited for again
				      until the frontend answers something */
	struct kr_scanout_config modes[KR_MAX_SCANOUTS]; /* last good, per scanout */
	bool quit;
	int exit_code;
	struct vring_req *req; /* owned: scratch for one request */
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
