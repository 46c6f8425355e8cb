/* SPDX-License-Identifier: MIT */
/*
 * The virtio-gpu device on a vhost-user connection: the glue between the
 * transport (vu.c: messages, memory, rings), libkohlrabi (the device) and
 * the vhost-user-gpu display socket (display/vugpu.c).
 *
 * It does no waiting and owns no event loop: whoever runs the loop (the
 * daemon, src/cli/daemon.c) watches the fds and timers it is asked to
 * through struct vu_gpu_loop and calls back in when they fire.  Another
 * transport (a generic vhost-user device without a display socket, an
 * in-process VMM) is another such module over the same kr_gpu calls.
 */
#ifndef KR_VHOST_VU_GPU_H
#define KR_VHOST_VU_GPU_H

#include <stdbool.h>
#include <stdint.h>

#include "display/vugpu.h"
#include "kohlrabi/kohlrabi.h"
#include "util/log.h"
#include "vu.h"

/* How long the control queue waits for the frontend's modes or EDIDs before
   a GET_DISPLAY_INFO / GET_EDID is answered from what is known.  The loop
   itself never waits: the request stays on the ring meanwhile. */
#define VU_GPU_DISPLAY_QUERY_MS 1000

/* How often fences are polled while requests wait for them (backends whose
   fences retire asynchronously and that have no fence fd). */
#define VU_GPU_FENCE_POLL_NS 500000

enum vu_gpu_timer {
	VU_GPU_TIMER_REFRESH, /* the next display refresh is due */
	VU_GPU_TIMER_FENCES,  /* periodic: poll the renderer's fences */
	VU_GPU_TIMER_HOLD,    /* the held display query times out */
};

/* What the device asks of the loop that runs it. */
struct vu_gpu_loop {
	void *user; /* borrowed: handed back to the functions */
	/* Watch a queue's kick eventfd (call vu_gpu_kick when readable). */
	int (*watch_kick)(void *user, unsigned q, int fd, bool on);
	/* Watch the display socket: readable always, writable with out
	   (call vu_gpu_display_ready on either); on false: no longer. */
	int (*watch_display)(void *user, int fd, bool on, bool out);
	/* Arm timer t to fire in ns (periodically for FENCES), or disarm it
	   (ns 0); call vu_gpu_timer when it fires.  0 or -errno. */
	int (*timer)(void *user, enum vu_gpu_timer t, uint64_t ns);
	/* Watch the device's fence fd (kr_gpu_fence_fd; call vu_gpu_timer
	   with VU_GPU_TIMER_FENCES when readable), or stop; NULL: the loop
	   cannot, and fences are polled on the timer. */
	int (*watch_fences)(void *user, int fd, bool on);
};

/* A display sink beside the frontend's display socket (kohlrabi's own
   console): the same callbacks, in the same order. */
struct vu_gpu_sink {
	void *user; /* borrowed; NULL: no sink */
	void (*scanout)(void *user, uint32_t scanout_id, const struct kr_scanout_info *info);
	void (*update)(void *user, const struct kr_scanout_info *info, const struct kr_rect *r);
	void (*cursor)(void *user, const struct kr_cursor_info *c);
};

struct vu_gpu {
	struct kr_gpu *gpu;	 /* owned */
	struct vu_gpu_sink sink; /* set after vu_gpu_init, may stay empty */
	struct vu_dev vu;
	struct vugpu display;
	struct logger *log; /* borrowed: the loop's */
	struct vu_gpu_loop loop;
	uint32_t refresh_hz; /* display updates per second; 0: after every batch */
	uint32_t num_scanouts;
	bool edid;
	struct vring_req *req; /* owned: scratch for one request */
	bool poll_armed;
	int fence_fd; /* the device's (borrowed, watched), or -1: polled on the timer */
	bool timer_armed;
	uint64_t last_present_ns;
	uint64_t readbacks;	   /* scanouts kr_gpu_present read back */
	bool display_out_watched;  /* writability of the display socket watched */
	bool ctrl_held;		   /* the control queue waits for the display */
	uint32_t held_type;	   /* ... to answer this (GET_DISPLAY_INFO or GET_EDID) */
	bool release_hold;	   /* ... and the display just answered */
	bool display_fresh;	   /* the next GET_DISPLAY_INFO may be answered */
	bool display_unresponsive; /* a query timed out; not waited for again
				      until the frontend answers something */
	struct kr_scanout_config modes[KR_MAX_SCANOUTS]; /* last good, per scanout */
};

/* Create the device (cfg: every scanout in cfg->scanouts[0]'s mode, the
   first one on) and the transport state.  shmem_bit: the SHMEM protocol
   bit, -1: off.  0 or -errno (logged); vu_gpu_finish undoes it either way. */
int vu_gpu_init(struct vu_gpu *g, const struct kr_gpu_config *cfg, uint32_t refresh_hz,
		int shmem_bit, struct logger *log, const struct vu_gpu_loop *loop);
void vu_gpu_finish(struct vu_gpu *g);

/* A frontend connected on fd (owned from now on) / the connection ended. */
int vu_gpu_attach(struct vu_gpu *g, int fd);
void vu_gpu_detach(struct vu_gpu *g);
/* The connection is readable: handle what the frontend sent.  0, or -errno
   when the connection ended (-ECONNRESET: a hang-up). */
int vu_gpu_message(struct vu_gpu *g);
/* A frontend hung up before its first message (a probe). */
bool vu_gpu_was_probe(const struct vu_gpu *g);

/* Queue q was kicked; the display socket is ready; a timer fired. */
void vu_gpu_kick(struct vu_gpu *g, unsigned q);
void vu_gpu_display_ready(struct vu_gpu *g);
void vu_gpu_timer(struct vu_gpu *g, enum vu_gpu_timer t);

#endif
