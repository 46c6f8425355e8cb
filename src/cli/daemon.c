/* SPDX-License-Identifier: MIT */
/* The daemon's event loop and its glue between vhost-user, libkohlrabi and
   the display socket (daemon.h). */
#include "daemon.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "display/vugpu.h"
#include "kohlrabi/kohlrabi.h"
#include "logsink.h"
#include "options.h"
#include "util/log.h"
#include "vhost/vu.h"
#include "vhost/vu_proto.h"

/* How long the control queue waits for the frontend's modes or EDIDs before
   a GET_DISPLAY_INFO / GET_EDID is answered from what is known.  The loop
   itself never waits: the request stays on the ring meanwhile. */
#define DISPLAY_QUERY_TIMEOUT_MS 1000

/* How often fences are polled while requests wait for them (backends whose
   fences retire asynchronously, like virgl). */
#define FENCE_POLL_NS 500000

enum tag {
	TAG_LISTEN = 1,
	TAG_CONN,
	TAG_SIGNAL,
	TAG_DISPLAY,
	TAG_TIMER,
	TAG_POLL,
	TAG_HOLD,
	TAG_KICK0
};

/* The library's and the daemon's messages: to the embedder's log_fn, else
   to the sink --log chose. */
static void
daemon_log(void *user, enum kr_log_level level, const char *msg)
{
	struct daemon *d = user;

	if (d->log_fn)
		d->log_fn(NULL, level, msg);
	else
		logsink_write(&d->sink, level, msg);
}

static int
watch(struct daemon *d, int fd, uint32_t tag, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};

	if (!on)
		return epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
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
display_watch(struct daemon *d)
{
	bool want = vugpu_busy(&d->display);
	struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0),
				 .data.u32 = TAG_DISPLAY};

	if (want != d->display_out_watched && d->display.fd >= 0 &&
	    epoll_ctl(d->epfd, EPOLL_CTL_MOD, d->display.fd, &ev) == 0)
		d->display_out_watched = want;
}

static void
present(struct daemon *d)
{
	d->last_present_ns = now_ns();
	vugpu_present(&d->display);
	display_watch(d);
}

/* Staged damage goes out at the next refresh tick (at once with rate 0). */
static void
schedule_present(struct daemon *d)
{
	if (!vugpu_has_damage(&d->display) || d->timer_armed || vugpu_busy(&d->display))
		return;
	if (!d->opt.refresh_hz) {
		present(d);
		return;
	}
	uint64_t period = 1000000000ull / d->opt.refresh_hz, now = now_ns();
	uint64_t due = d->last_present_ns + period;
	uint64_t wait = due > now ? due - now : 1;
	struct itimerspec it = {
		.it_value = {(time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull)}};
	if (timerfd_settime(d->timer_fd, 0, &it, NULL) == 0)
		d->timer_armed = true;
	else
		present(d);
}

/* Retire finished fences; keep polling while requests wait for theirs. */
static void
poll_fences(struct daemon *d)
{
	struct kr_gpu_stats st;

	kr_gpu_poll(d->gpu);
	kr_gpu_get_stats(d->gpu, &st);
	bool want = st.pending > 0;
	if (want == d->poll_armed)
		return;
	struct itimerspec it = {0};
	if (want)
		it.it_value.tv_nsec = it.it_interval.tv_nsec = FENCE_POLL_NS;
	if (timerfd_settime(d->poll_fd, 0, &it, NULL) == 0)
		d->poll_armed = want;
}

static void
on_scanout_set(void *user, uint32_t scanout_id, const struct kr_scanout_info *info)
{
	struct daemon *d = user;

	vugpu_scanout(&d->display, scanout_id, info);
}

static void
on_scanout_changing(void *user, const struct kr_scanout_info *info)
{
	struct daemon *d = user;

	vugpu_changing(&d->display, info);
}

static void
on_update(void *user, const struct kr_scanout_info *info, const struct kr_rect *rect)
{
	struct daemon *d = user;

	vugpu_update(&d->display, info, rect);
}

static void
on_cursor(void *user, const struct kr_cursor_info *c)
{
	struct daemon *d = user;

	log_msg(&d->log, KR_LOG_DEBUG, "cursor: %s scanout %u at %u,%u hot %u,%u",
		!c->visible ? "hide"
		: c->pixels ? "shape"
			    : "move",
		c->scanout_id, c->x, c->y, c->hot_x, c->hot_y);
	vugpu_cursor(&d->display, c);
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
	struct daemon *d = user;
	unsigned q = (unsigned)(cookie >> 16) & 0xffff;
	struct vring *vr = q < VU_MAX_QUEUES ? &d->vu.vq[q] : NULL;

	/* A ring stopped since the request was popped (maybe set up again)
	   no longer waits for it: the frontend took its index back. */
	if (!vr || !vr->used || (uint32_t)(cookie >> 32) != vr->gen)
		return;
	vring_push(vr, (uint16_t)cookie, (uint32_t)len);
	vring_flush(vr);
}

/* ---- vhost-user device glue ---- */

static uint64_t
dev_features(void *user)
{
	struct daemon *d = user;

	return kr_gpu_features(d->gpu);
}

static int
dev_set_features(void *user, uint64_t features)
{
	struct daemon *d = user;

	return kr_gpu_set_features(d->gpu, features & kr_gpu_features(d->gpu));
}

static int
dev_get_config(void *user, uint32_t offset, void *buf, uint32_t len)
{
	struct daemon *d = user;

	return kr_gpu_config_read(d->gpu, offset, buf, len);
}

static int
dev_set_config(void *user, uint32_t offset, const void *buf, uint32_t len)
{
	struct daemon *d = user;
	const uint32_t clear_off = offsetof(struct virtio_gpu_config, events_clear);

	/* The frontend writes the whole structure; only events_clear counts. */
	if (offset > clear_off || offset + len < clear_off + 4 || len > 16)
		return 0;
	return kr_gpu_config_write(d->gpu, clear_off, (const uint8_t *)buf + (clear_off - offset),
				   4);
}

static int
dev_mem_changed(void *user, const struct vu_mem *mem)
{
	struct daemon *d = user;
	struct kr_mem_region r[VU_MAX_REGIONS];

	for (unsigned i = 0; i < mem->n; i++)
		r[i] = (struct kr_mem_region){mem->r[i].gpa, mem->r[i].size, mem->r[i].host};
	return kr_gpu_set_memory(d->gpu, r, mem->n);
}

static void release_hold(struct daemon *d, bool fresh);

static void
dev_queue_state(void *user, unsigned q, bool started)
{
	struct daemon *d = user;
	int fd = d->vu.vq[q].kick_fd;

	/* A stopping control queue: the held request stays on the ring (the
	   frontend gets its index back), and what waits for a fence is
	   completed now, while the ring is still ours to write. */
	if (q == 0 && !started) {
		release_hold(d, false);
		kr_gpu_complete_pending(d->gpu);
	}

	if (fd >= 0)
		watch(d, fd, TAG_KICK0 + q, started);
}

/* The frontend answered (its modes: info; else an EDID): the held query
   goes on once what it waits for is in. */
static void
display_answered(struct daemon *d, bool info)
{
	d->display_unresponsive = false;
	if (d->ctrl_held &&
	    (info ? d->held_type == VIRTIO_GPU_CMD_GET_DISPLAY_INFO
		  : d->held_type == VIRTIO_GPU_CMD_GET_EDID && !d->display.edid_count))
		d->release_hold = true; /* after the display event (handle_event) */
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
	struct daemon *d = user;
	uint32_t n = d->opt.gpu.num_scanouts;
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
			d->modes[i].width = w, d->modes[i].height = h;
		d->modes[i].enabled = enabled;
	}
	if (lied)
		log_bug_guest(&d->log, "frontend: display info %s; keeping the last good modes",
			      info ? "with an impossible mode" : "of the wrong size");
	kr_gpu_set_modes(d->gpu, d->modes, n);
	display_answered(d, true);
}

static void
on_edid(void *user, uint32_t scanout, const struct virtio_gpu_resp_edid *e)
{
	struct daemon *d = user;

	if (d->opt.gpu.edid && e && e->size >= 128 && e->size <= sizeof(e->edid))
		kr_gpu_set_edid(d->gpu, scanout, e->edid, e->size);
	display_answered(d, false);
}

static void
on_display_ready(void *user)
{
	struct daemon *d = user;

	vugpu_request_display_info(&d->display);
	for (uint32_t i = 0; i < d->opt.gpu.num_scanouts && d->opt.gpu.edid; i++)
		vugpu_request_edid(&d->display, i);
}

static const struct vugpu_ops display_ops = {
	.display_info = on_display_info,
	.edid = on_edid,
	.ready = on_display_ready,
};

static void
dev_gpu_socket(void *user, int fd)
{
	struct daemon *d = user;

	if (vugpu_connected(&d->display))
		watch(d, d->display.fd, TAG_DISPLAY, false);
	d->display_out_watched = false;
	d->display_unresponsive = false;
	if (vugpu_attach(&d->display, fd) < 0)
		return;
	watch(d, d->display.fd, TAG_DISPLAY, true);
	display_watch(d);
	log_msg(&d->log, KR_LOG_INFO, "display socket connected");
}

static void
dev_reset(void *user)
{
	struct daemon *d = user;

	release_hold(d, false);
	kr_gpu_reset(d->gpu);
	log_msg(&d->log, KR_LOG_INFO, "device reset");
}

static void dev_queue_kick(void *user, unsigned q);

static void
hold_timer(struct daemon *d, bool on)
{
	struct itimerspec it = {0};

	it.it_value.tv_sec = on ? DISPLAY_QUERY_TIMEOUT_MS / 1000 : 0;
	it.it_value.tv_nsec = on ? (DISPLAY_QUERY_TIMEOUT_MS % 1000) * 1000000l : 0;
	timerfd_settime(d->hold_fd, 0, &it, NULL);
}

/*
 * Should this request wait for the frontend (GET_DISPLAY_INFO: its current
 * modes; GET_EDID: the EDIDs asked for)?  Then the control queue holds: the
 * request goes back on the ring (nothing of it is kept) and is popped
 * again once the frontend answers or DISPLAY_QUERY_TIMEOUT_MS pass; the loop
 * goes on serving everything else meanwhile.  A frontend that let a query
 * time out is not waited for again until it answers something.
 */
static bool
hold_for_display(struct daemon *d, const struct kr_chain *chain)
{
	struct vugpu *v = &d->display;
	uint32_t type = 0;

	if (chain->n_in && chain->in[0].iov_len >= 4)
		memcpy(&type, chain->in[0].iov_base, 4); /* routing only: the library
							    reads the request itself */
	if (!vugpu_connected(v) || d->display_unresponsive)
		return false;
	if (type == VIRTIO_GPU_CMD_GET_DISPLAY_INFO) {
		if (d->display_fresh) {
			d->display_fresh = false;
			return false;
		}
		/* Before the negotiation ends, on_display_ready asks. */
		if (v->negotiated && vugpu_request_display_info(v) < 0)
			return false;
	} else if (type != VIRTIO_GPU_CMD_GET_EDID || (v->negotiated && !v->edid_count)) {
		return false;
	}
	d->ctrl_held = true;
	d->held_type = type;
	hold_timer(d, true);
	return true;
}

/* The held control queue goes on (answer, timeout, stop or hang-up). */
static void
release_hold(struct daemon *d, bool fresh)
{
	bool was = d->ctrl_held;

	d->ctrl_held = d->release_hold = false;
	d->display_fresh = fresh && d->held_type == VIRTIO_GPU_CMD_GET_DISPLAY_INFO;
	hold_timer(d, false);
	if (was && fresh)
		dev_queue_kick(d, 0); /* pops the held request again */
}

static void
dev_queue_kick(void *user, unsigned q)
{
	struct daemon *d = user;
	struct vring *vr = &d->vu.vq[q];
	struct vring_req *req = d->req;
	int ret;

	if (!vr->started || !vr->enabled || (q == 0 && d->ctrl_held))
		return;
	do {
		while ((ret = vring_pop(vr, &d->vu.mem, req)) == 1) {
			struct kr_chain chain = {req->iov, req->n_in, req->iov + req->n_in,
						 req->n_out, cookie_of(vr, q, req->head)};
			size_t len = 0;
			int r;
			if (q == 0 && hold_for_display(d, &chain)) {
				vring_unpop(vr);
				break;
			}
			if (q == 0) {
				r = kr_gpu_ctrl(d->gpu, &chain, &len);
			} else {
				r = kr_gpu_cursor(d->gpu, &chain, &len);
			}
			if (r == -EINPROGRESS)
				continue; /* completed by on_ctrl_done */
			vring_push(vr, req->head, (uint32_t)len);
		}
		vring_set_avail_event(vr);
	} while (ret == 0 && !(q == 0 && d->ctrl_held) && vring_has_avail(vr));
	vring_flush(vr);
	poll_fences(d);
	schedule_present(d);
	display_watch(d);
	if (ret < 0) {
		log_msg(&d->log, KR_LOG_ERROR,
			"queue %u: the driver broke the ring; device needs a reset", q);
		if (vr->kick_fd >= 0)
			watch(d, vr->kick_fd, TAG_KICK0 + q, false);
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

/* ---- connection lifecycle ---- */

static int
listen_on(struct daemon *d, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_msg(&d->log, KR_LOG_ERROR, "socket path too long (%zu bytes, at most %zu): %s",
			strlen(path), sizeof(sa.sun_path) - 1, path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	/* A stale socket from an earlier run is replaced; anything else is not. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_msg(&d->log, KR_LOG_ERROR,
				"%s exists and is not a socket; remove it or choose another "
				"--socket-path",
				path);
			return -EEXIST;
		}
		/* Taken over only when nobody listens there (a stale socket). */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		int live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : errno;
		close(fd);
		if (live == 0 || live == EAGAIN) {
			log_msg(&d->log, KR_LOG_ERROR,
				"another process is serving %s; stop it or choose another "
				"--socket-path",
				path);
			return -EADDRINUSE;
		}
		if (live != ECONNREFUSED) {
			log_msg(&d->log, KR_LOG_ERROR, "cannot tell whether %s is in use: %s", path,
				strerror(live));
			return -live;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		int err = -errno;
		log_msg(&d->log, KR_LOG_ERROR, "cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

static void
connection_closed(struct daemon *d, int why)
{
	/* A peer that hung up before its first message was no frontend (another
	   kohlrabi checking whether this socket is live, say): listen on. */
	bool probe = why == -ECONNRESET && d->vu.messages == 0 && d->listen_fd >= 0;

	release_hold(d, false);
	d->display_unresponsive = false;
	if (vugpu_connected(&d->display))
		watch(d, d->display.fd, TAG_DISPLAY, false);
	vugpu_detach(&d->display);
	watch(d, d->vu.fd, TAG_CONN, false);
	vu_dev_detach(&d->vu);
	if (probe) {
		log_msg(&d->log, KR_LOG_DEBUG,
			"a peer hung up before its first message; listening on");
		watch(d, d->listen_fd, TAG_LISTEN, true);
		return;
	}
	if (why == -ECONNRESET) {
		log_msg(&d->log, KR_LOG_INFO, "frontend disconnected");
	} else {
		log_msg(&d->log, KR_LOG_ERROR, "connection dropped: %s", strerror(-why));
		d->exit_code = 1;
	}
	if (d->opt.reconnect && d->listen_fd >= 0) {
		log_msg(&d->log, KR_LOG_INFO, "waiting for the next frontend");
		d->exit_code = 0;
		watch(d, d->listen_fd, TAG_LISTEN, true);
	} else {
		d->quit = true;
	}
}

static int
adopt(struct daemon *d, int fd)
{
	int ret = vu_dev_attach(&d->vu, fd);

	if (ret == 0)
		ret = watch(d, fd, TAG_CONN, true);
	return ret;
}

static void
handle_event(struct daemon *d, uint32_t tag)
{
	int ret;

	switch (tag) {
	case TAG_LISTEN: {
		int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (d->vu.fd >= 0) { /* one frontend at a time */
			close(fd);
			return;
		}
		watch(d, d->listen_fd, TAG_LISTEN, false);
		if (adopt(d, fd) < 0)
			close(fd);
		else
			log_msg(&d->log, KR_LOG_INFO, "frontend connected");
		return;
	}
	case TAG_CONN:
		ret = vu_dev_dispatch(&d->vu);
		if (ret < 0)
			connection_closed(d, ret);
		return;
	case TAG_SIGNAL: {
		struct signalfd_siginfo si;
		if (read(d->signal_fd, &si, sizeof(si)) == sizeof(si))
			log_msg(&d->log, KR_LOG_INFO, "signal %u: exiting", si.ssi_signo);
		d->quit = true;
		return;
	}
	case TAG_DISPLAY:
		/* On failure vugpu closed the socket, which also leaves epoll. */
		if (d->display.fd >= 0 && vugpu_busy(&d->display))
			vugpu_pump(&d->display);
		if (d->display.fd >= 0)
			vugpu_read(&d->display);
		/* An answer, or no display left to wait for: the held query
		   is answered from what is known now. */
		if (d->release_hold || (d->ctrl_held && d->display.fd < 0))
			release_hold(d, true);
		if (d->display.fd < 0) {
			d->display_out_watched = false;
			return;
		}
		display_watch(d);
		schedule_present(d); /* the previous frame is out */
		return;
	case TAG_POLL: {
		uint64_t n;
		if (read(d->poll_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
			return;
		poll_fences(d);
		schedule_present(d);
		display_watch(d);
		return;
	}
	case TAG_HOLD: {
		uint64_t n;
		if (read(d->hold_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
			return;
		if (!d->ctrl_held)
			return;
		log_msg(&d->log, KR_LOG_WARN,
			"the frontend did not answer a display query in %d ms; answering from "
			"the last known modes until it answers again",
			DISPLAY_QUERY_TIMEOUT_MS);
		d->display_unresponsive = true;
		release_hold(d, true);
		return;
	}
	case TAG_TIMER: {
		uint64_t n;
		if (read(d->timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
			return;
		d->timer_armed = false;
		present(d);
		return;
	}
	default:
		if (tag >= TAG_KICK0 && tag < TAG_KICK0 + VU_MAX_QUEUES) {
			struct vring *vr = &d->vu.vq[tag - TAG_KICK0];
			uint64_t n;
			if (read(vr->kick_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
				return;
			dev_queue_kick(d, tag - TAG_KICK0);
		}
		return;
	}
}

/* Blobs reach the frontend's host-visible region as SHMEM_MAP requests. */
static int
on_map_blob(void *user, const struct kr_blob_map *m)
{
	struct daemon *d = user;

	return vu_dev_shmem_map(&d->vu, KR_SHMID_HOST_VISIBLE, m->fd, m->fd_offset, m->offset,
				m->size, m->writable);
}

static int
on_unmap_blob(void *user, uint64_t offset, uint64_t size)
{
	struct daemon *d = user;

	return vu_dev_shmem_unmap(&d->vu, KR_SHMID_HOST_VISIBLE, offset, size);
}

/* dir holds a DRM render node (renderD*) this process may open. */
static bool
have_render_node(const char *dir)
{
	DIR *dd = opendir(dir);
	struct dirent *e;
	bool found = false;

	if (!dd)
		return false;
	while (!found && (e = readdir(dd))) {
		if (!strncmp(e->d_name, "renderD", 7))
			found = faccessat(dirfd(dd), e->d_name, R_OK | W_OK, 0) == 0;
	}
	closedir(dd);
	return found;
}

void
daemon_print_capabilities(FILE *f, const char *dri_dir)
{
	const char *const *b = kr_backends();
	bool virgl = false;
	/* libvirt insists on a render node when one is advertised: only where
	   one exists (virgl runs surfaceless without). */
	bool node = have_render_node(dri_dir);

	for (; *b; b++)
		virgl |= !strcmp(*b, "virgl");
	fprintf(f, "{\n  \"type\": \"gpu\",\n  \"features\": [");
	if (node)
		fprintf(f, "\n    \"render-node\"%s", virgl ? "," : "");
	if (virgl)
		fprintf(f, "\n    \"virgl\"");
	fprintf(f, "\n  ]\n}\n");
}

int
daemon_setup(struct daemon *d)
{
	struct kr_gpu_config cfg;
	struct kr_gpu_callbacks cbs = {
		.version = KR_GPU_CALLBACKS_VERSION,
		.ctrl_done = on_ctrl_done,
		.scanout_set = on_scanout_set,
		.scanout_update = on_update,
		.cursor = on_cursor,
		.log = daemon_log,
		.scanout_changing = on_scanout_changing,
		.map_blob = on_map_blob,
		.unmap_blob = on_unmap_blob,
	};
	sigset_t mask;
	int ret;

	if (!d->log_fn)
		logsink_open(&d->sink, d->opt.log_target);
	logger_init(&d->log, d->opt.gpu.log_level, daemon_log, d);
	cfg = d->opt.gpu;
	/* Every display starts in the first one's mode; only the first is on. */
	for (uint32_t i = 0; i < cfg.num_scanouts; i++)
		cfg.scanouts[i] = d->modes[i] = (struct kr_scanout_config){
			cfg.scanouts[0].width, cfg.scanouts[0].height, i == 0};
	/* SIGINT and SIGTERM arrive through signal_fd.  Blocked before the device
	   exists: threads that renderer libraries start inherit the mask, so no
	   thread of theirs takes the signal's default action (death). */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (!d->no_signals)
		sigprocmask(SIG_BLOCK, &mask, NULL);
	ret = kr_gpu_create(&cfg, &cbs, d, &d->gpu);
	if (ret < 0) {
		log_msg(&d->log, KR_LOG_ERROR, "cannot create the %s device: %s",
			d->opt.gpu.backend, strerror(-ret));
		return ret;
	}
	log_msg(&d->log, KR_LOG_INFO,
		"kohlrabi %s: backend %s, %u display%s of %ux%u, EDID %s, max-hostmem %llu MiB, "
		"max-resources %u",
		KR_VERSION, cfg.backend, cfg.num_scanouts, cfg.num_scanouts == 1 ? "" : "s",
		cfg.scanouts[0].width, cfg.scanouts[0].height, cfg.edid ? "on" : "off",
		(unsigned long long)(cfg.max_hostmem >> 20), cfg.max_resources);
	if (cfg.backends.virgl.render_node && !strcmp(cfg.backend, "2d"))
		log_msg(&d->log, KR_LOG_INFO, "the 2d backend does not use %s",
			cfg.backends.virgl.render_node);
	d->req = calloc(1, sizeof(*d->req));
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!d->req || d->epfd < 0)
		return -ENOMEM;
	signal(SIGPIPE, SIG_IGN);
	if (!d->no_signals) {
		d->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC);
		if (d->signal_fd < 0 || watch(d, d->signal_fd, TAG_SIGNAL, true) < 0)
			return -errno;
	}
	d->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d->timer_fd < 0 || watch(d, d->timer_fd, TAG_TIMER, true) < 0)
		return -errno;
	d->poll_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d->poll_fd < 0 || watch(d, d->poll_fd, TAG_POLL, true) < 0)
		return -errno;
	d->hold_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d->hold_fd < 0 || watch(d, d->hold_fd, TAG_HOLD, true) < 0)
		return -errno;
	vu_dev_init(&d->vu, &vu_gpu_ops, d, &d->log);
	d->vu.shmem_size = d->opt.gpu.hostmem_window;
	d->vu.shmem_bit = d->opt.shmem_bit;
	vugpu_init(&d->display, &d->log, &display_ops, d);

	if (d->opt.socket_path) {
		d->listen_fd = listen_on(d, d->opt.socket_path);
		if (d->listen_fd < 0)
			return d->listen_fd;
		log_msg(&d->log, KR_LOG_INFO, "listening on %s", d->opt.socket_path);
		return watch(d, d->listen_fd, TAG_LISTEN, true);
	}
	int listening = 0;
	socklen_t sl = sizeof(listening);
	if (getsockopt(d->opt.fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &sl) < 0) {
		log_msg(&d->log, KR_LOG_ERROR, "--fd %d is not a socket: %s", d->opt.fd,
			strerror(errno));
		return -EBADF;
	}
	if (listening) {
		d->listen_fd = d->opt.fd;
		log_msg(&d->log, KR_LOG_INFO, "listening on %s %d",
			d->opt.socket_activated ? "the socket systemd passed, fd" : "--fd",
			d->opt.fd);
		return watch(d, d->listen_fd, TAG_LISTEN, true);
	}
	return adopt(d, d->opt.fd);
}

void
daemon_init(struct daemon *d)
{
	*d = (struct daemon){.listen_fd = -1,
			     .signal_fd = -1,
			     .epfd = -1,
			     .timer_fd = -1,
			     .poll_fd = -1,
			     .hold_fd = -1};
}

int
daemon_step(struct daemon *d, int timeout_ms)
{
	struct epoll_event ev[16];
	int n = epoll_wait(d->epfd, ev, 16, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n && !d->quit; i++)
		handle_event(d, ev[i].data.u32);
	return n;
}

void
daemon_teardown(struct daemon *d)
{
	if (d->vu.cb)
		vu_dev_detach(&d->vu);
	vugpu_finish(&d->display);
	kr_gpu_destroy(d->gpu);
	d->gpu = NULL;
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		if (d->opt.socket_path)
			unlink(d->opt.socket_path);
	}
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	if (d->timer_fd >= 0)
		close(d->timer_fd);
	if (d->poll_fd >= 0)
		close(d->poll_fd);
	if (d->hold_fd >= 0)
		close(d->hold_fd);
	if (d->epfd >= 0)
		close(d->epfd);
	d->listen_fd = d->signal_fd = d->timer_fd = d->poll_fd = d->hold_fd = d->epfd = -1;
	free(d->req);
	d->req = NULL;
	logsink_close(&d->sink);
}

void
daemon_refresh(struct daemon *d)
{
	d->timer_armed = false;
	present(d);
}
