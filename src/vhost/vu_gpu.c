/* SPDX-License-Identifier: MIT */
/* The virtio-gpu device on a vhost-user connection (vu_gpu.h). */
#include "vu_gpu.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vring.h"

/* The library's messages go where the loop's go. */
static void
gpu_log(void *user, enum kr_log_level level, const char *msg)
{
	struct vu_gpu *g = user;

	if (g->log->fn)
		g->log->fn(g->log->user, level, msg);
}

/* ---- libkohlrabi callbacks -> the frontend ---- */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Watch the display socket for writability only while output is queued. */
static void
display_watch(struct vu_gpu *g)
{
	bool want = vugpu_busy(&g->display);

	if (want != g->display_out_watched && g->display.fd >= 0 &&
	    g->loop.watch_display(g->loop.user, g->display.fd, true, want) == 0)
		g->display_out_watched = want;
}

static void
present(struct vu_gpu *g)
{
	g->last_present_ns = now_ns();
	/* Flushed 3D frames are read back only now, unless a frame is still
	   in flight: then the next refresh reads the newest one. */
	if (!vugpu_busy(&g->display))
		g->readbacks += kr_gpu_present(g->gpu);
	vugpu_present(&g->display);
	display_watch(g);
}

/* Staged damage goes out at the next refresh tick (at once with rate 0). */
static void
schedule_present(struct vu_gpu *g)
{
	if ((!vugpu_has_damage(&g->display) && !kr_gpu_present_pending(g->gpu)) || g->timer_armed ||
	    vugpu_busy(&g->display))
		return;
	if (!g->refresh_hz) {
		present(g);
		return;
	}
	uint64_t period = 1000000000ull / g->refresh_hz, now = now_ns();
	uint64_t due = g->last_present_ns + period;
	uint64_t wait = due > now ? due - now : 1;
	if (g->loop.timer(g->loop.user, VU_GPU_TIMER_REFRESH, wait) == 0)
		g->timer_armed = true;
	else
		present(g);
}

/* Retire finished fences; keep polling while requests wait for theirs. */
static void
poll_fences(struct vu_gpu *g)
{
	struct kr_gpu_stats st;

	kr_gpu_poll(g->gpu);
	if (g->fence_fd >= 0)
		return; /* the fd wakes the loop when fences retire */
	kr_gpu_get_stats(g->gpu, &st);
	bool want = st.pending > 0;
	if (want == g->poll_armed)
		return;
	if (g->loop.timer(g->loop.user, VU_GPU_TIMER_FENCES, want ? VU_GPU_FENCE_POLL_NS : 0) == 0)
		g->poll_armed = want;
}

static void
on_scanout_set(void *user, uint32_t scanout_id, const struct kr_scanout_info *info)
{
	struct vu_gpu *g = user;

	vugpu_scanout(&g->display, scanout_id, info);
	if (g->sink.user)
		g->sink.scanout(g->sink.user, scanout_id, info);
}

static void
on_scanout_changing(void *user, const struct kr_scanout_info *info)
{
	struct vu_gpu *g = user;

	vugpu_changing(&g->display, info);
}

static void
on_update(void *user, const struct kr_scanout_info *info, const struct kr_rect *rect)
{
	struct vu_gpu *g = user;

	vugpu_update(&g->display, info, rect);
	if (g->sink.user)
		g->sink.update(g->sink.user, info, rect);
}

static void
on_cursor(void *user, const struct kr_cursor_info *c)
{
	struct vu_gpu *g = user;

	log_msg(g->log, KR_LOG_DEBUG, "cursor: %s scanout %u at %u,%u hot %u,%u",
		!c->visible ? "hide"
		: c->pixels ? "shape"
			    : "move",
		c->scanout_id, c->x, c->y, c->hot_x, c->hot_y);
	vugpu_cursor(&g->display, c);
	if (g->sink.user)
		g->sink.cursor(g->sink.user, c);
}

/* A request's cookie: the ring's generation, the queue and the head. */
static uint64_t
cookie_of(const struct vring *vr, unsigned q, uint16_t head)
{
	return ((uint64_t)vr->gen << 32) | ((uint64_t)q << 16) | head;
}

static void
on_ctrl_done(void *user, uint64_t cookie, size_t len)
{
	struct vu_gpu *g = user;
	unsigned q = (unsigned)(cookie >> 16) & 0xffff;
	struct vring *vr = q < VU_MAX_QUEUES ? &g->vu.vq[q] : NULL;

	/* A ring stopped since the request was popped (maybe set up again)
	   no longer waits for it: the frontend took its index back. */
	if (!vr || !vr->used || (uint32_t)(cookie >> 32) != vr->gen)
		return;
	vring_push(vr, (uint16_t)cookie, (uint32_t)len);
	vring_flush(vr);
}

/* ---- the transport's device callbacks ---- */

static uint64_t
dev_features(void *user)
{
	struct vu_gpu *g = user;

	return kr_gpu_features(g->gpu);
}

static int
dev_set_features(void *user, uint64_t features)
{
	struct vu_gpu *g = user;

	return kr_gpu_set_features(g->gpu, features & kr_gpu_features(g->gpu));
}

static int
dev_get_config(void *user, uint32_t offset, void *buf, uint32_t len)
{
	struct vu_gpu *g = user;

	return kr_gpu_config_read(g->gpu, offset, buf, len);
}

static int
dev_set_config(void *user, uint32_t offset, const void *buf, uint32_t len)
{
	struct vu_gpu *g = user;
	const uint32_t clear_off = offsetof(struct virtio_gpu_config, events_clear);

	/* The frontend writes the whole structure; only events_clear counts. */
	if (offset > clear_off || offset + len < clear_off + 4 || len > 16)
		return 0;
	return kr_gpu_config_write(g->gpu, clear_off, (const uint8_t *)buf + (clear_off - offset),
				   4);
}

static int
dev_mem_changed(void *user, const struct vu_mem *mem)
{
	struct vu_gpu *g = user;
	struct kr_mem_region r[VU_MAX_MEM_SLOTS];

	for (unsigned i = 0; i < mem->n; i++)
		r[i] = (struct kr_mem_region){mem->r[i].gpa, mem->r[i].size, mem->r[i].host};
	return kr_gpu_set_memory(g->gpu, r, mem->n);
}

static void release_hold(struct vu_gpu *g, bool fresh);

static void
dev_queue_state(void *user, unsigned q, bool started)
{
	struct vu_gpu *g = user;
	int fd = g->vu.vq[q].kick_fd;

	/* A stopping control queue: the held request stays on the ring (the
	   frontend gets its index back), and what waits for a fence is
	   completed now, while the ring is still ours to write. */
	if (q == 0 && !started) {
		release_hold(g, false);
		kr_gpu_complete_pending(g->gpu);
	}

	if (fd >= 0)
		g->loop.watch_kick(g->loop.user, q, fd, started);
}

/* The frontend answered (its modes: info; else an EDID): the held query
   goes on once what it waits for is in. */
static void
display_answered(struct vu_gpu *g, bool info)
{
	g->display_unresponsive = false;
	if (g->ctrl_held &&
	    (info ? g->held_type == VIRTIO_GPU_CMD_GET_DISPLAY_INFO
		  : g->held_type == VIRTIO_GPU_CMD_GET_EDID && !g->display.edid_count))
		g->release_hold = true; /* after the display event (handle_event) */
}

/*
 * The frontend owns the display: its modes are the device's.  What it says
 * is checked like any frontend data: a scanout reported enabled with an
 * impossible size (0x0, 65535x65535) keeps its last good mode, a malformed
 * reply (info NULL) keeps them all; enabled = 0 disables the scanout (its
 * size is kept for when it returns).
 */
static void
on_display_info(void *user, const struct virtio_gpu_resp_display_info *info)
{
	struct vu_gpu *g = user;
	uint32_t n = g->num_scanouts;
	bool lied = !info;

	for (uint32_t i = 0; i < n && info; i++) {
		uint32_t w = info->pmodes[i].r.width, h = info->pmodes[i].r.height;
		bool enabled = info->pmodes[i].enabled != 0;
		bool valid = w >= 1 && w <= 16384 && h >= 1 && h <= 16384;
		if (enabled && !valid) {
			lied = true;
			continue;
		}
		if (valid)
			g->modes[i].width = w, g->modes[i].height = h;
		g->modes[i].enabled = enabled;
	}
	if (lied)
		log_bug_guest(g->log, "frontend: display info %s; keeping the last good modes",
			      info ? "with an impossible mode" : "of the wrong size");
	kr_gpu_set_modes(g->gpu, g->modes, n);
	display_answered(g, true);
}

static void
on_edid(void *user, uint32_t scanout, const struct virtio_gpu_resp_edid *e)
{
	struct vu_gpu *g = user;

	if (g->edid && e && e->size >= 128 && e->size <= sizeof(e->edid))
		kr_gpu_set_edid(g->gpu, scanout, e->edid, e->size);
	display_answered(g, false);
}

static void
on_display_ready(void *user)
{
	struct vu_gpu *g = user;

	vugpu_request_display_info(&g->display);
	for (uint32_t i = 0; i < g->num_scanouts && g->edid; i++)
		vugpu_request_edid(&g->display, i);
}

static const struct vugpu_ops display_ops = {
	.display_info = on_display_info,
	.edid = on_edid,
	.ready = on_display_ready,
};

static void
dev_gpu_socket(void *user, int fd)
{
	struct vu_gpu *g = user;

	if (vugpu_connected(&g->display))
		g->loop.watch_display(g->loop.user, g->display.fd, false, false);
	g->display_out_watched = false;
	g->display_unresponsive = false;
	if (vugpu_attach(&g->display, fd) < 0)
		return;
	g->loop.watch_display(g->loop.user, g->display.fd, true, false);
	display_watch(g);
	log_msg(g->log, KR_LOG_INFO, "display socket connected");
}

static void
dev_reset(void *user)
{
	struct vu_gpu *g = user;

	release_hold(g, false);
	kr_gpu_reset(g->gpu);
	log_msg(g->log, KR_LOG_INFO, "device reset");
}

static void dev_queue_kick(void *user, unsigned q);

static void
hold_timer(struct vu_gpu *g, bool on)
{
	g->loop.timer(g->loop.user, VU_GPU_TIMER_HOLD,
		      on ? VU_GPU_DISPLAY_QUERY_MS * 1000000ull : 0);
}

/*
 * Should this request wait for the frontend (GET_DISPLAY_INFO: its current
 * modes; GET_EDID: the EDIDs asked for)?  Then the control queue holds: the
 * request goes back on the ring (nothing of it is kept) and is popped
 * again once the frontend answers or VU_GPU_DISPLAY_QUERY_MS pass; the loop
 * goes on serving everything else meanwhile.  A frontend that let a query
 * time out is not waited for again until it answers something.
 */
static bool
hold_for_display(struct vu_gpu *g, const struct kr_chain *chain)
{
	struct vugpu *v = &g->display;
	uint32_t type = 0;

	if (chain->n_in && chain->in[0].iov_len >= 4)
		memcpy(&type, chain->in[0].iov_base, 4); /* routing only: the library
							    reads the request itself */
	if (!vugpu_connected(v) || g->display_unresponsive)
		return false;
	if (type == VIRTIO_GPU_CMD_GET_DISPLAY_INFO) {
		if (g->display_fresh) {
			g->display_fresh = false;
			return false;
		}
		/* Before the negotiation ends, on_display_ready asks. */
		if (v->negotiated && vugpu_request_display_info(v) < 0)
			return false;
	} else if (type != VIRTIO_GPU_CMD_GET_EDID || (v->negotiated && !v->edid_count)) {
		return false;
	}
	g->ctrl_held = true;
	g->held_type = type;
	hold_timer(g, true);
	return true;
}

/* The held control queue goes on (answer, timeout, stop or hang-up). */
static void
release_hold(struct vu_gpu *g, bool fresh)
{
	bool was = g->ctrl_held;

	g->ctrl_held = g->release_hold = false;
	g->display_fresh = fresh && g->held_type == VIRTIO_GPU_CMD_GET_DISPLAY_INFO;
	hold_timer(g, false);
	if (was && fresh)
		dev_queue_kick(g, 0); /* pops the held request again */
}

static void
dev_queue_kick(void *user, unsigned q)
{
	struct vu_gpu *g = user;
	struct vring *vr = &g->vu.vq[q];
	struct vring_req *req = g->req;
	int ret;

	if (!vr->started || !vr->enabled || (q == 0 && g->ctrl_held))
		return;
	do {
		while ((ret = vring_pop(vr, &g->vu.mem, req)) == 1) {
			struct kr_chain chain = {req->iov, req->n_in, req->iov + req->n_in,
						 req->n_out, cookie_of(vr, q, req->head)};
			size_t len = 0;
			int r;
			if (q == 0 && hold_for_display(g, &chain)) {
				vring_unpop(vr);
				break;
			}
			if (q == 0) {
				r = kr_gpu_ctrl(g->gpu, &chain, &len);
			} else {
				r = kr_gpu_cursor(g->gpu, &chain, &len);
			}
			if (r == -EINPROGRESS)
				continue; /* completed by on_ctrl_done */
			vring_push(vr, req->head, (uint32_t)len);
		}
		vring_set_avail_event(vr);
	} while (ret == 0 && !(q == 0 && g->ctrl_held) && vring_has_avail(vr));
	vring_flush(vr);
	/* A memory table that came during a blob map's ack wait. */
	vu_dev_apply_deferred(&g->vu);
	poll_fences(g);
	schedule_present(g);
	display_watch(g);
	if (ret < 0) {
		log_msg(g->log, KR_LOG_ERROR,
			"queue %u: the driver broke the ring; device needs a reset", q);
		if (vr->kick_fd >= 0)
			g->loop.watch_kick(g->loop.user, q, vr->kick_fd, false);
	}
}

static const struct vu_ops vu_gpu_ops = {
	.features = dev_features,
	.set_features = dev_set_features,
	.get_config = dev_get_config,
	.set_config = dev_set_config,
	.mem_changed = dev_mem_changed,
	.queue_kick = dev_queue_kick,
	.queue_state = dev_queue_state,
	.gpu_socket = dev_gpu_socket,
	.reset = dev_reset,
};

/* Blobs reach the frontend's host-visible region as SHMEM_MAP requests. */
static int
on_map_blob(void *user, const struct kr_blob_map *m)
{
	struct vu_gpu *g = user;

	return vu_dev_shmem_map(&g->vu, KR_SHMID_HOST_VISIBLE, m->fd, m->fd_offset, m->offset,
				m->size, m->writable);
}

static int
on_unmap_blob(void *user, uint64_t offset, uint64_t size)
{
	struct vu_gpu *g = user;

	return vu_dev_shmem_unmap(&g->vu, KR_SHMID_HOST_VISIBLE, offset, size);
}

/* ---- what the loop calls ---- */

/* Fences wake the loop through the device's fd where both can; else they
   are polled on the timer while requests wait.  Said once. */
static void
watch_fences(struct vu_gpu *g)
{
	int fd = kr_gpu_fence_fd(g->gpu);

	if (fd >= 0 && g->loop.watch_fences && g->loop.watch_fences(g->loop.user, fd, true) == 0)
		g->fence_fd = fd;
	if (g->fence_fd >= 0)
		log_msg(g->log, KR_LOG_INFO, "fences: the renderer's fence fd wakes the loop");
	else if (fd >= 0)
		log_msg(g->log, KR_LOG_INFO,
			"fences: polled every %u us while requests wait (the loop could not "
			"watch the renderer's fence fd)",
			VU_GPU_FENCE_POLL_NS / 1000);
}

int
vu_gpu_init(struct vu_gpu *g, const struct kr_gpu_config *cfg, uint32_t refresh_hz, int shmem_bit,
	    struct logger *log, const struct vu_gpu_loop *loop)
{
	struct kr_gpu_callbacks cbs = {
		.version = KR_GPU_CALLBACKS_VERSION,
		.ctrl_done = on_ctrl_done,
		.scanout_set = on_scanout_set,
		.scanout_update = on_update,
		.cursor = on_cursor,
		.log = gpu_log,
		.scanout_changing = on_scanout_changing,
		.map_blob = on_map_blob,
		.unmap_blob = on_unmap_blob,
		.flags = KR_GPU_CB_DEFER_READBACK,
	};
	int ret;

	*g = (struct vu_gpu){.log = log,
			     .loop = *loop,
			     .fence_fd = -1,
			     .refresh_hz = refresh_hz,
			     .num_scanouts = cfg->num_scanouts,
			     .edid = cfg->edid};
	memcpy(g->modes, cfg->scanouts, sizeof(g->modes));
	vugpu_init(&g->display, log, &display_ops, g);
	ret = kr_gpu_create(cfg, &cbs, g, &g->gpu);
	if (ret < 0) {
		log_msg(log, KR_LOG_ERROR, "cannot create the %s device: %s",
			cfg->backend ? cfg->backend : "2d", strerror(-ret));
		return ret;
	}
	watch_fences(g);
	/* The transport only once there is a device for its callbacks. */
	vu_dev_init(&g->vu, &vu_gpu_ops, g, log);
	g->vu.shmem_size = cfg->hostmem_window;
	g->vu.shmem_bit = shmem_bit;
	g->req = calloc(1, sizeof(*g->req));
	return g->req ? 0 : -ENOMEM;
}

void
vu_gpu_finish(struct vu_gpu *g)
{
	if (!g->log)
		return; /* vu_gpu_init never ran */
	if (g->vu.cb)
		vu_dev_detach(&g->vu);
	vugpu_finish(&g->display);
	if (g->fence_fd >= 0)
		g->loop.watch_fences(g->loop.user, g->fence_fd, false);
	g->fence_fd = -1;
	kr_gpu_destroy(g->gpu);
	g->gpu = NULL;
	free(g->req);
	g->req = NULL;
}

int
vu_gpu_attach(struct vu_gpu *g, int fd)
{
	return vu_dev_attach(&g->vu, fd);
}

void
vu_gpu_detach(struct vu_gpu *g)
{
	const struct vugpu *v = &g->display;
	struct kr_gpu_stats st;

	kr_gpu_get_stats(g->gpu, &st);
	log_msg(g->log, KR_LOG_INFO,
		"so far: %llu commands; %llu frames (%llu MiB) sent to the display socket, "
		"%llu flushes merged into a pending frame, %llu frames staged, "
		"%llu read back from the renderer at a refresh",
		(unsigned long long)st.commands, (unsigned long long)v->frames_sent,
		(unsigned long long)(v->bytes_sent >> 20), (unsigned long long)v->updates_merged,
		(unsigned long long)v->copies, (unsigned long long)g->readbacks);
	release_hold(g, false);
	g->display_unresponsive = false;
	if (vugpu_connected(&g->display))
		g->loop.watch_display(g->loop.user, g->display.fd, false, false);
	g->display_out_watched = false;
	vugpu_detach(&g->display);
	vu_dev_detach(&g->vu);
}

int
vu_gpu_message(struct vu_gpu *g)
{
	return vu_dev_dispatch(&g->vu);
}

bool
vu_gpu_was_probe(const struct vu_gpu *g)
{
	return g->vu.messages == 0;
}

void
vu_gpu_kick(struct vu_gpu *g, unsigned q)
{
	uint64_t n;

	if (q >= VU_MAX_QUEUES || g->vu.vq[q].kick_fd < 0 ||
	    (read(g->vu.vq[q].kick_fd, &n, sizeof(n)) < 0 && errno != EAGAIN))
		return;
	dev_queue_kick(g, q);
}

void
vu_gpu_display_ready(struct vu_gpu *g)
{
	/* On failure vugpu closed the socket (the loop's watch ends with it). */
	if (g->display.fd >= 0 && vugpu_busy(&g->display))
		vugpu_pump(&g->display);
	if (g->display.fd >= 0)
		vugpu_read(&g->display);
	/* An answer, or no display left to wait for: the held query is
	   answered from what is known now. */
	if (g->release_hold || (g->ctrl_held && g->display.fd < 0))
		release_hold(g, true);
	if (g->display.fd < 0) {
		g->display_out_watched = false;
		return;
	}
	display_watch(g);
	schedule_present(g); /* the previous frame is out */
}

void
vu_gpu_timer(struct vu_gpu *g, enum vu_gpu_timer t)
{
	switch (t) {
	case VU_GPU_TIMER_FENCES:
		poll_fences(g);
		schedule_present(g);
		display_watch(g);
		break;
	case VU_GPU_TIMER_HOLD:
		if (!g->ctrl_held)
			break;
		log_msg(g->log, KR_LOG_WARN,
			"the frontend did not answer a display query in %d ms; answering from "
			"the last known modes until it answers again",
			VU_GPU_DISPLAY_QUERY_MS);
		g->display_unresponsive = true;
		release_hold(g, true);
		break;
	case VU_GPU_TIMER_REFRESH:
		g->timer_armed = false;
		present(g);
		break;
	}
}
