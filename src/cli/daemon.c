/* SPDX-License-Identifier: MIT */
/* The daemon's event loop: fds, timers, signals and the listening socket
   around the vhost-user device of src/vhost/vu_gpu.c (daemon.h). */
#include "daemon.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "display/png_sink.h"
#include "display/vugpu.h"
#include "kohlrabi/kohlrabi.h"
#include "logsink.h"
#include "options.h"
#include "util/log.h"
#include "vhost/unixsock.h"
#include "vhost/vu.h"
#include "vhost/vu_input.h"
#include "vhost/vu_proto.h"

enum tag {
	TAG_LISTEN = 1,
	TAG_CONN,
	TAG_SIGNAL,
	TAG_DISPLAY,
	TAG_TIMER,
	TAG_POLL,
	TAG_HOLD,
	TAG_FENCE,
	TAG_INPUT_LISTEN,
	TAG_INPUT_CONN,
	TAG_INPUT_EVENT,
	TAG_IKICK0,			       /* the input device's queues */
	TAG_KICK0 = TAG_IKICK0 + VU_MAX_QUEUES /* the GPU's */
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

/* ---- what the device asks of the loop (struct vu_gpu_loop) ---- */

static int
loop_watch_kick(void *user, unsigned q, int fd, bool on)
{
	return watch(user, fd, TAG_KICK0 + q, on);
}

static int
loop_watch_display(void *user, int fd, bool on, bool out)
{
	struct daemon *d = user;
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.u32 = TAG_DISPLAY};

	if (!on)
		return epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
		return 0;
	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int
loop_timer(void *user, enum vu_gpu_timer t, uint64_t ns)
{
	struct daemon *d = user;
	int fd = t == VU_GPU_TIMER_REFRESH  ? d->timer_fd
		 : t == VU_GPU_TIMER_FENCES ? d->poll_fd
					    : d->hold_fd;
	struct itimerspec it = {
		.it_value = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)}};

	if (t == VU_GPU_TIMER_FENCES)
		it.it_interval = it.it_value;
	return timerfd_settime(fd, 0, &it, NULL) < 0 ? -errno : 0;
}

static int
loop_watch_fences(void *user, int fd, bool on)
{
	return watch(user, fd, TAG_FENCE, on);
}

/* A timer's expiry count, read so that it fires again; false: spurious. */
static bool
timer_read(int fd)
{
	uint64_t n;

	return read(fd, &n, sizeof(n)) == sizeof(n);
}

/* ---- connection lifecycle ---- */

static int
listen_on(struct daemon *d, const char *path)
{
	int fd = unixsock_listen(path, 1, false);

	if (fd == -ENAMETOOLONG)
		log_msg(&d->log, KR_LOG_ERROR, "socket path too long (%zu bytes, at most %zu): %s",
			strlen(path), sizeof(((struct sockaddr_un *)0)->sun_path) - 1, path);
	else if (fd == -EEXIST)
		log_msg(&d->log, KR_LOG_ERROR,
			"%s exists and is not a socket; remove it or choose another --socket-path",
			path);
	else if (fd == -EADDRINUSE)
		log_msg(&d->log, KR_LOG_ERROR,
			"another process is serving %s; stop it or choose another --socket-path",
			path);
	else if (fd < 0)
		log_msg(&d->log, KR_LOG_ERROR, "cannot listen on %s: %s", path, strerror(-fd));
	return fd;
}

static void
connection_closed(struct daemon *d, int why)
{
	/* A peer that hung up before its first message was no frontend (another
	   kohlrabi checking whether this socket is live, say): listen on. */
	bool probe = why == -ECONNRESET && vu_gpu_was_probe(&d->dev) && d->listen_fd >= 0;

	watch(d, d->dev.vu.fd, TAG_CONN, false);
	vu_gpu_detach(&d->dev);
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
	int ret = vu_gpu_attach(&d->dev, fd);

	if (ret == 0)
		ret = watch(d, fd, TAG_CONN, true);
	return ret;
}

/* kohlrabi's VNC console as the device's second display sink. */
static void
vnc_on_scanout(void *user, uint32_t scanout_id, const struct kr_scanout_info *info)
{
	vnc_scanout(user, scanout_id, info);
}

static void
vnc_on_update(void *user, const struct kr_scanout_info *info, const struct kr_rect *r)
{
	vnc_update(user, info, r);
}

static void
vnc_on_cursor(void *user, const struct kr_cursor_info *c)
{
	vnc_cursor(user, c);
}

/* The VNC thread: a client's key or pointer event for the input device. */
static void
vnc_on_input(void *user, uint16_t type, uint16_t code, int32_t value)
{
	struct vu_input_ev ev = {type, code, value};

	vu_input_post(user, &ev, 1);
}

static_assert(VNC_POINTER_MAX == VU_INPUT_ABS_MAX, "the tablet's range is the VNC desktop");

static int
vnc_setup(struct daemon *d, const struct kr_gpu_config *cfg)
{
	struct vnc_config vc = {d->opt.vnc,
				d->opt.vnc_password_file,
				cfg->num_scanouts,
				cfg->scanouts[0].width,
				cfg->scanouts[0].height,
				d->input_on ? vnc_on_input : NULL,
				&d->input};
	int ret;

	if (!d->opt.vnc)
		return 0;
	ret = vnc_sink_create(&vc, &d->log, &d->vnc);
	if (ret < 0)
		return ret;
	d->dev.sink = (struct vu_gpu_sink){d->vnc, vnc_on_scanout, vnc_on_update, vnc_on_cursor};
	return 0;
}

/* SIGUSR1: what each scanout shows, as PNG files in --screenshot-dir
   (scanout-N-YYYYMMDD-HHMMSS.mmm.png; the cursor is not drawn, as in QEMU's
   screendump). */
static void
screenshot(struct daemon *d)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32], path[4000];
	unsigned shown = 0;

	if (!d->opt.screenshot_dir) {
		log_msg(&d->log, KR_LOG_WARN,
			"SIGUSR1: no --screenshot-dir to write a screenshot to");
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	for (uint32_t i = 0; i < d->opt.gpu.num_scanouts; i++) {
		struct kr_scanout_info info;
		if (kr_gpu_get_scanout(d->dev.gpu, i, &info) < 0)
			continue;
		shown++;
		snprintf(path, sizeof(path), "%s/scanout-%u-%s.%03ld.png", d->opt.screenshot_dir, i,
			 stamp, ts.tv_nsec / 1000000);
		struct png_frame f = {info.pixels, info.width, info.height, info.stride,
				      info.format};
		char tmp[sizeof(path) + 8];
		/* Written aside and renamed: a reader never sees half a file. */
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		int ret = png_write_frame(tmp, &f, NULL, 0, 0);
		if (ret == 0 && rename(tmp, path) < 0)
			ret = -errno;
		if (ret < 0)
			unlink(tmp);
		if (ret < 0)
			log_msg(&d->log, KR_LOG_ERROR, "screenshot of scanout %u: %s: %s", i, path,
				strerror(-ret));
		else
			log_msg(&d->log, KR_LOG_INFO, "screenshot of scanout %u (%ux%u): %s", i,
				info.width, info.height, path);
	}
	if (!shown)
		log_msg(&d->log, KR_LOG_INFO, "SIGUSR1: no scanout shows anything to write");
}

/* ---- the input device's socket (--input-socket) ---- */

static int
input_watch_kick(void *user, unsigned q, int fd, bool on)
{
	return watch(user, fd, TAG_IKICK0 + q, on);
}

static int
input_setup(struct daemon *d)
{
	const struct vu_input_loop loop = {d, input_watch_kick};
	int ret;

	if (!d->opt.input_socket)
		return 0;
	ret = vu_input_init(&d->input, &d->log, &loop);
	if (ret < 0)
		return ret;
	d->input_on = true;
	d->input_listen_fd = listen_on(d, d->opt.input_socket);
	if (d->input_listen_fd < 0)
		return d->input_listen_fd;
	log_msg(&d->log, KR_LOG_INFO, "input device: listening on %s", d->opt.input_socket);
	ret = watch(d, d->input_listen_fd, TAG_INPUT_LISTEN, true);
	return ret < 0 ? ret : watch(d, d->input.event_fd, TAG_INPUT_EVENT, true);
}

/* One input frontend at a time; after it hangs up, the next. */
static void
input_event(struct daemon *d, uint32_t tag)
{
	int fd;

	switch (tag) {
	case TAG_INPUT_LISTEN:
		fd = accept4(d->input_listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0 && (d->input.vu.fd >= 0 || vu_input_attach(&d->input, fd) < 0 ||
				watch(d, fd, TAG_INPUT_CONN, true) < 0))
			close(fd);
		else if (fd >= 0)
			log_msg(&d->log, KR_LOG_INFO, "input frontend connected");
		break;
	case TAG_INPUT_CONN:
		if (vu_input_message(&d->input) < 0) {
			watch(d, d->input.vu.fd, TAG_INPUT_CONN, false);
			vu_input_detach(&d->input);
			log_msg(&d->log, KR_LOG_INFO, "input frontend disconnected");
		}
		break;
	case TAG_INPUT_EVENT: vu_input_events(&d->input); break;
	default: vu_input_kick(&d->input, tag - TAG_IKICK0); break;
	}
}

/* A new connection on the listening socket: the frontend, if none is. */
static void
accept_frontend(struct daemon *d)
{
	int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (d->dev.vu.fd >= 0) { /* one frontend at a time */
		close(fd);
		return;
	}
	watch(d, d->listen_fd, TAG_LISTEN, false);
	if (adopt(d, fd) < 0)
		close(fd);
	else
		log_msg(&d->log, KR_LOG_INFO, "frontend connected");
}

static void
handle_event(struct daemon *d, uint32_t tag)
{
	struct signalfd_siginfo si;
	int ret;

	switch (tag) {
	case TAG_LISTEN: accept_frontend(d); break;
	case TAG_CONN:
		ret = vu_gpu_message(&d->dev);
		if (ret < 0)
			connection_closed(d, ret);
		break;
	case TAG_SIGNAL:
		if (read(d->signal_fd, &si, sizeof(si)) != sizeof(si))
			break;
		if (si.ssi_signo == SIGUSR1) {
			screenshot(d);
			break;
		}
		log_msg(&d->log, KR_LOG_INFO, "signal %u: exiting", si.ssi_signo);
		d->quit = true;
		break;
	case TAG_DISPLAY: vu_gpu_display_ready(&d->dev); break;
	case TAG_POLL:
		if (timer_read(d->poll_fd))
			vu_gpu_timer(&d->dev, VU_GPU_TIMER_FENCES);
		break;
	case TAG_FENCE: vu_gpu_timer(&d->dev, VU_GPU_TIMER_FENCES); break;
	case TAG_HOLD:
		if (timer_read(d->hold_fd))
			vu_gpu_timer(&d->dev, VU_GPU_TIMER_HOLD);
		break;
	case TAG_TIMER:
		if (timer_read(d->timer_fd))
			vu_gpu_timer(&d->dev, VU_GPU_TIMER_REFRESH);
		break;
	default:
		if (tag >= TAG_KICK0 && tag < TAG_KICK0 + VU_MAX_QUEUES)
			vu_gpu_kick(&d->dev, tag - TAG_KICK0);
		else if (tag >= TAG_INPUT_LISTEN && tag < TAG_KICK0)
			input_event(d, tag);
		break;
	}
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

/* The loop's fds: signals (unless an embedding test takes them), the three
   timers of struct vu_gpu_loop. */
static int
loop_setup(struct daemon *d, const sigset_t *mask)
{
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return -errno;
	if (!d->no_signals) {
		d->signal_fd = signalfd(-1, mask, SFD_CLOEXEC);
		if (d->signal_fd < 0 || watch(d, d->signal_fd, TAG_SIGNAL, true) < 0)
			return -errno;
	}
	int *fds[] = {&d->timer_fd, &d->poll_fd, &d->hold_fd};
	uint32_t tags[] = {TAG_TIMER, TAG_POLL, TAG_HOLD};
	for (size_t i = 0; i < 3; i++) {
		*fds[i] = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (*fds[i] < 0 || watch(d, *fds[i], tags[i], true) < 0)
			return -errno;
	}
	return 0;
}

/* Listen on --socket-path, or take --fd (listening, or the frontend). */
static int
socket_setup(struct daemon *d)
{
	int listening = 0;
	socklen_t sl = sizeof(listening);

	if (d->opt.socket_path) {
		d->listen_fd = listen_on(d, d->opt.socket_path);
		if (d->listen_fd < 0)
			return d->listen_fd;
		log_msg(&d->log, KR_LOG_INFO, "listening on %s", d->opt.socket_path);
		return watch(d, d->listen_fd, TAG_LISTEN, true);
	}
	if (getsockopt(d->opt.fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &sl) < 0) {
		log_msg(&d->log, KR_LOG_ERROR, "--fd %d is not a socket: %s", d->opt.fd,
			strerror(errno));
		return -EBADF;
	}
	if (!listening)
		return adopt(d, d->opt.fd);
	d->listen_fd = d->opt.fd;
	log_msg(&d->log, KR_LOG_INFO, "listening on %s %d",
		d->opt.socket_activated ? "the socket systemd passed, fd" : "--fd", d->opt.fd);
	return watch(d, d->listen_fd, TAG_LISTEN, true);
}

/* The sandbox's first step, before the device and its threads exist
   (sandbox.h); main.c takes the second once setup is done. */
static int
sandbox_setup(struct daemon *d, const struct kr_gpu_config *cfg)
{
	char vnc_host[512] = "";
	int vnc_port = 0;
	struct sandbox_config sc = {.mode = d->opt.sandbox,
				    .backend = cfg->backend ? cfg->backend : "2d",
				    .user = d->opt.user,
				    .render_node = cfg->backends.virgl.render_node,
				    .gfxstream_lib = cfg->backends.gfxstream.lib,
				    .screenshot_dir = d->opt.screenshot_dir,
				    .shader_cache = d->opt.shader_cache,
				    .read_paths = {d->opt.vnc_password_file},
				    .sockets = {d->opt.socket_path, d->opt.input_socket, NULL}};

	if (d->opt.vnc &&
	    vnc_parse_listen(d->opt.vnc, vnc_host, sizeof(vnc_host), &vnc_port) == 0) {
		if (vnc_port == 0) /* unix:PATH: PATH, PATH-1, ... (argv's, as the options) */
			sc.sockets[2] = d->opt.vnc + strlen("unix:");
		sc.vnc_port = (unsigned)vnc_port; /* TCP: PORT, PORT+1, ... */
		sc.vnc_ports = vnc_port ? cfg->num_scanouts : 0;
	}
	return sandbox_prepare(&d->sandbox, &sc, &d->log);
}

int
daemon_setup(struct daemon *d)
{
	const struct vu_gpu_loop loop = {d, loop_watch_kick, loop_watch_display, loop_timer,
					 loop_watch_fences};
	struct kr_gpu_config cfg = d->opt.gpu;
	sigset_t mask;
	int ret;

	if (!d->log_fn)
		logsink_open(&d->sink, d->opt.log_target);
	logger_init(&d->log, cfg.log_level, daemon_log, d);
	/* Every display starts in the first one's mode; only the first is on. */
	for (uint32_t i = 0; i < cfg.num_scanouts; i++)
		cfg.scanouts[i] = (struct kr_scanout_config){cfg.scanouts[0].width,
							     cfg.scanouts[0].height, i == 0};
	/* SIGINT, SIGTERM and SIGUSR1 (a screenshot) arrive through signal_fd.  Blocked before the
	   device exists: threads that renderer libraries start inherit the mask, so no thread of
	   theirs takes the signal's default action (death). */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	if (!d->no_signals)
		sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	ret = sandbox_setup(d, &cfg);
	if (ret < 0)
		return ret;
	ret = loop_setup(d, &mask);
	if (ret < 0)
		return ret;
	ret = vu_gpu_init(&d->dev, &cfg, d->opt.refresh_hz, d->opt.shmem_bit, &d->log, &loop);
	if (ret < 0)
		return ret;
	ret = input_setup(d);
	if (ret < 0)
		return ret;
	ret = vnc_setup(d, &cfg);
	if (ret < 0)
		return ret;
	log_msg(&d->log, KR_LOG_INFO,
		"kohlrabi %s: backend %s, %u display%s of %ux%u, EDID %s, max-hostmem %llu MiB, "
		"max-resources %u",
		KR_VERSION, cfg.backend, cfg.num_scanouts, cfg.num_scanouts == 1 ? "" : "s",
		cfg.scanouts[0].width, cfg.scanouts[0].height, cfg.edid ? "on" : "off",
		(unsigned long long)(cfg.max_hostmem >> 20), cfg.max_resources);
	if (cfg.backends.virgl.render_node && !strcmp(cfg.backend, "2d"))
		log_msg(&d->log, KR_LOG_INFO, "the 2d backend does not use %s",
			cfg.backends.virgl.render_node);
	return socket_setup(d);
}

void
daemon_init(struct daemon *d)
{
	*d = (struct daemon){.listen_fd = -1,
			     .input_listen_fd = -1,
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
	vu_gpu_finish(&d->dev);
	vnc_sink_destroy(d->vnc); /* after the device: no callback comes any more */
	d->vnc = NULL;
	vu_input_finish(&d->input); /* after the VNC thread, its only poster */
	d->input_on = false;
	if (d->input_listen_fd >= 0) {
		close(d->input_listen_fd);
		unlink(d->opt.input_socket);
	}
	d->input_listen_fd = -1;
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
	logsink_close(&d->sink);
}

void
daemon_refresh(struct daemon *d)
{
	vu_gpu_timer(&d->dev, VU_GPU_TIMER_REFRESH);
}
