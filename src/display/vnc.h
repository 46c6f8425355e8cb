/* SPDX-License-Identifier: MIT */
/*
 * kohlrabi's own console: a VNC server (Debian's libvncserver) per scanout,
 * fed by the same display callbacks as the vhost-user-gpu socket.
 *
 * Scanout N is served on port PORT + N (or, with unix:PATH, on PATH for scanout
 * 0 and PATH-N for the others).  The server runs in a thread of its
 * own, so that no VNC client can stall the device's loop: the loop copies
 * flushed pixels into a pending frame under a short lock (vnc_scanout,
 * vnc_update, vnc_cursor); the VNC thread alone owns libvncserver's
 * framebuffers, takes what is pending at each of its ticks, resizes, and
 * talks to the clients.  Nothing the loop passes in is kept past the call.
 */
#ifndef KR_DISPLAY_VNC_H
#define KR_DISPLAY_VNC_H

#include <stdint.h>

#include "kohlrabi/kohlrabi.h"
#include "util/log.h"

struct vnc_sink;

struct vnc_config {
	const char *listen;	   /* "[HOST:]PORT" (HOST defaults to 127.0.0.1) or "unix:PATH" */
	const char *password_file; /* first line is the VNC password; NULL: none */
	uint32_t num_scanouts;	   /* 1..KR_MAX_SCANOUTS */
	uint32_t width, height;	   /* the desktops' size until a scanout is set */
	/* Input from the clients, as Linux input events (EV_KEY with KEY_* and
	   BTN_*, EV_ABS ABS_X/ABS_Y in 0..VNC_POINTER_MAX over the desktop,
	   EV_REL REL_WHEEL, EV_SYN after each), called on the VNC thread.  NULL:
	   input is dropped. */
	void (*input)(void *user, uint16_t type, uint16_t code, int32_t value);
	void *input_user;
};

#define VNC_POINTER_MAX 32767

/* Parse "[HOST:]PORT" (IPv4 dotted quad or a name; PORT 1..65535-N) or
   "unix:PATH" (host gets PATH, port 0; scanout N > 0 listens on PATH-N). */
int vnc_parse_listen(const char *s, char *host, size_t host_len, int *port);
/* Listen (one port per scanout) and start the VNC thread.  0 or -errno,
   logged.  log is borrowed and must outlive the sink. */
int vnc_sink_create(const struct vnc_config *cfg, struct logger *log, struct vnc_sink **out);
void vnc_sink_destroy(struct vnc_sink *v);

/* The display callbacks (info NULL: the scanout is off, shown black). */
void vnc_scanout(struct vnc_sink *v, uint32_t scanout_id, const struct kr_scanout_info *info);
void vnc_update(struct vnc_sink *v, const struct kr_scanout_info *info, const struct kr_rect *r);
void vnc_cursor(struct vnc_sink *v, const struct kr_cursor_info *c);

/* What the clients of scanout_id were sent so far (tests, benchmarks). */
struct vnc_stats {
	uint64_t frames; /* pending frames taken into the server's framebuffer */
	uint32_t clients;
};
void vnc_get_stats(struct vnc_sink *v, uint32_t scanout_id, struct vnc_stats *st);

#endif
