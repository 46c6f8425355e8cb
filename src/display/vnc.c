/* SPDX-License-Identifier: MIT */
/* kohlrabi's VNC console on libvncserver (vnc.h). */
#include "vnc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/input-event-codes.h>
#include <netdb.h>
#include <pthread.h>
#include <rfb/rfb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/pixfmt.h"
#include "util/rect.h"
#include "vhost/unixsock.h"

/* How long the VNC thread waits in libvncserver per tick: the latency of a
   flushed frame on its way to the clients. */
#define TICK_US 5000
/* A client that does not read for this long is dropped (libvncserver would
   wait 20 s; only the VNC thread waits, never the device's loop). */
#define CLIENT_WAIT_MS 2000
#define MAX_PASSWORD   64

/* ---- X keysyms (RFB key events) to Linux key codes ---- */

static const char letters[] = "qwertyuiopasdfghjklzxcvbnm";
static const uint16_t letter_keys[] = {
	KEY_Q, KEY_W, KEY_E, KEY_R, KEY_T, KEY_Y, KEY_U, KEY_I, KEY_O, KEY_P, KEY_A, KEY_S, KEY_D,
	KEY_F, KEY_G, KEY_H, KEY_J, KEY_K, KEY_L, KEY_Z, KEY_X, KEY_C, KEY_V, KEY_B, KEY_N, KEY_M};
static const struct {
	uint32_t ks;
	uint16_t key;
} keymap[] = {
	{'1', KEY_1},
	{'!', KEY_1},
	{'2', KEY_2},
	{'@', KEY_2},
	{'3', KEY_3},
	{'#', KEY_3},
	{'4', KEY_4},
	{'$', KEY_4},
	{'5', KEY_5},
	{'%', KEY_5},
	{'6', KEY_6},
	{'^', KEY_6},
	{'7', KEY_7},
	{'&', KEY_7},
	{'8', KEY_8},
	{'*', KEY_8},
	{'9', KEY_9},
	{'(', KEY_9},
	{'0', KEY_0},
	{')', KEY_0},
	{'-', KEY_MINUS},
	{'_', KEY_MINUS},
	{'=', KEY_EQUAL},
	{'+', KEY_EQUAL},
	{'[', KEY_LEFTBRACE},
	{'{', KEY_LEFTBRACE},
	{']', KEY_RIGHTBRACE},
	{'}', KEY_RIGHTBRACE},
	{';', KEY_SEMICOLON},
	{':', KEY_SEMICOLON},
	{'\'', KEY_APOSTROPHE},
	{'"', KEY_APOSTROPHE},
	{'`', KEY_GRAVE},
	{'~', KEY_GRAVE},
	{'\\', KEY_BACKSLASH},
	{'|', KEY_BACKSLASH},
	{',', KEY_COMMA},
	{'<', KEY_COMMA},
	{'.', KEY_DOT},
	{'>', KEY_DOT},
	{'/', KEY_SLASH},
	{'?', KEY_SLASH},
	{' ', KEY_SPACE},
	{0xff08, KEY_BACKSPACE},
	{0xff09, KEY_TAB},
	{0xff0d, KEY_ENTER},
	{0xff1b, KEY_ESC},
	{0xffff, KEY_DELETE},
	{0xff50, KEY_HOME},
	{0xff51, KEY_LEFT},
	{0xff52, KEY_UP},
	{0xff53, KEY_RIGHT},
	{0xff54, KEY_DOWN},
	{0xff55, KEY_PAGEUP},
	{0xff56, KEY_PAGEDOWN},
	{0xff57, KEY_END},
	{0xff63, KEY_INSERT},
	{0xffe1, KEY_LEFTSHIFT},
	{0xffe2, KEY_RIGHTSHIFT},
	{0xffe3, KEY_LEFTCTRL},
	{0xffe4, KEY_RIGHTCTRL},
	{0xffe9, KEY_LEFTALT},
	{0xffea, KEY_RIGHTALT},
	{0xffe5, KEY_CAPSLOCK},
	{0xffeb, KEY_LEFTMETA},
	{0xffec, KEY_RIGHTMETA},
};

static uint16_t
keysym_to_key(uint32_t ks)
{
	if (ks >= 'A' && ks <= 'Z')
		ks += 'a' - 'A';
	if (ks >= 'a' && ks <= 'z')
		return letter_keys[strchr(letters, (int)ks) - letters];
	if (ks >= 0xffbe && ks <= 0xffc7) /* F1..F10 */
		return (uint16_t)(KEY_F1 + (ks - 0xffbe));
	if (ks == 0xffc8 || ks == 0xffc9)
		return ks == 0xffc8 ? KEY_F11 : KEY_F12;
	for (size_t i = 0; i < sizeof(keymap) / sizeof(keymap[0]); i++) {
		if (keymap[i].ks == ks)
			return keymap[i].key;
	}
	return 0;
}

struct vnc_sink;

struct vnc_desk {
	struct vnc_sink *sink; /* the owner */
	/* The VNC thread's alone once it runs. */
	rfbScreenInfoPtr screen;
	uint32_t *fb; /* owned: screen->frameBuffer, x8r8g8b8 */
	uint32_t fb_w, fb_h;
	/* Under the sink's lock: what the loop flushed, for the next tick. */
	uint32_t *pend; /* owned: x8r8g8b8, pw * ph */
	uint32_t pw, ph;
	struct kr_rect dirty; /* width 0: nothing */
	uint64_t frames;
	atomic_uint clients;
	int buttons; /* the VNC thread's: the last pointer button mask */
	int unix_fd; /* owned: the listening UNIX socket (unix:PATH), -1 */
	char unix_path[108];
};

struct vnc_sink {
	struct logger *log; /* borrowed */
	pthread_mutex_t lock;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	uint32_t n;
	struct vnc_desk desk[KR_MAX_SCANOUTS];
	char password[MAX_PASSWORD + 1];
	void (*input)(void *user, uint16_t type, uint16_t code, int32_t value);
	void *input_user;
	char *passwords[2]; /* libvncserver's list: password, NULL */
	/* Under the lock: the cursor as the loop last saw it. */
	uint32_t cursor[KR_CURSOR_SIZE * KR_CURSOR_SIZE]; /* a8r8g8b8 */
	uint32_t hot_x, hot_y;
	bool cursor_visible, cursor_changed;
};

/* libvncserver logs through two process-wide functions: its errors go to
   the one sink's logger (kohlrabi runs one), its chatter nowhere. */
static struct logger *vnc_log;

static void __attribute__((format(printf, 1, 2))) log_err(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	buf[strcspn(buf, "\n")] = 0;
	if (vnc_log)
		log_msg(vnc_log, KR_LOG_DEBUG, "vnc: %s", buf);
}

static void __attribute__((format(printf, 1, 2))) log_none(const char *fmt, ...)
{
	(void)fmt;
}

int
vnc_parse_listen(const char *s, char *host, size_t host_len, int *port)
{
	const char *colon = strrchr(s, ':');

	if (!strncmp(s, "unix:", 5)) { /* port 0: host is the socket's path */
		size_t n = strlen(s + 5);
		if (n == 0 || n + 8 >= host_len ||
		    n + 8 >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return -EINVAL;
		memcpy(host, s + 5, n + 1);
		*port = 0;
		return 0;
	}
	const char *p = colon ? colon + 1 : s;
	char *end;
	long v;

	errno = 0;
	v = strtol(p, &end, 10);
	if (!*p || *end || errno || v < 1 || v > 65535)
		return -EINVAL;
	if (colon) {
		size_t n = (size_t)(colon - s);
		if (n == 0 || n >= host_len)
			return -EINVAL;
		memcpy(host, s, n);
		host[n] = 0;
	} else {
		snprintf(host, host_len, "127.0.0.1");
	}
	*port = (int)v;
	return 0;
}

static int
read_password(struct vnc_sink *v, const char *path)
{
	FILE *f = fopen(path, "re");
	int ret = 0;

	if (!f)
		return -errno;
	if (!fgets(v->password, sizeof(v->password), f))
		ret = -EINVAL;
	fclose(f);
	v->password[strcspn(v->password, "\r\n")] = 0;
	if (ret == 0 && !v->password[0])
		ret = -EINVAL;
	v->passwords[0] = v->password;
	v->passwords[1] = NULL;
	return ret;
}

static void
client_gone(rfbClientPtr cl)
{
	struct vnc_desk *d = cl->screen->screenData;

	atomic_fetch_sub(&d->clients, 1);
}

/* Input from a client (the VNC thread): Linux input events, to the sink's
   input callback. */
static void
on_key(rfbBool down, rfbKeySym ks, rfbClientPtr cl)
{
	struct vnc_desk *d = cl->screen->screenData;
	struct vnc_sink *v = d->sink;
	uint16_t key = keysym_to_key((uint32_t)ks);

	if (!v->input || !key)
		return;
	v->input(v->input_user, EV_KEY, key, down ? 1 : 0);
	v->input(v->input_user, EV_SYN, SYN_REPORT, 0);
}

static void
on_pointer(int mask, int x, int y, rfbClientPtr cl)
{
	static const uint16_t buttons[3] = {BTN_LEFT, BTN_MIDDLE, BTN_RIGHT};
	struct vnc_desk *d = cl->screen->screenData;
	struct vnc_sink *v = d->sink;

	rfbDefaultPtrAddEvent(mask, x, y, cl);
	if (!v->input)
		return;
	/* The whole desktop is the tablet's range. */
	uint32_t w = d->fb_w > 1 ? d->fb_w - 1 : 1, h = d->fb_h > 1 ? d->fb_h - 1 : 1;
	uint32_t cx = x < 0 ? 0 : (uint32_t)x > w ? w : (uint32_t)x;
	uint32_t cy = y < 0 ? 0 : (uint32_t)y > h ? h : (uint32_t)y;
	v->input(v->input_user, EV_ABS, ABS_X, (int32_t)((uint64_t)cx * VNC_POINTER_MAX / w));
	v->input(v->input_user, EV_ABS, ABS_Y, (int32_t)((uint64_t)cy * VNC_POINTER_MAX / h));
	for (int b = 0; b < 3; b++) {
		if ((mask ^ d->buttons) & (1 << b))
			v->input(v->input_user, EV_KEY, buttons[b], (mask >> b) & 1);
	}
	if ((mask & ~d->buttons) & (1 << 3)) /* wheel up, pressed */
		v->input(v->input_user, EV_REL, REL_WHEEL, 1);
	if ((mask & ~d->buttons) & (1 << 4))
		v->input(v->input_user, EV_REL, REL_WHEEL, -1);
	d->buttons = mask;
	v->input(v->input_user, EV_SYN, SYN_REPORT, 0);
}

static enum rfbNewClientAction
client_new(rfbClientPtr cl)
{
	struct vnc_desk *d = cl->screen->screenData;

	atomic_fetch_add(&d->clients, 1);
	cl->clientGoneHook = client_gone;
	return RFB_CLIENT_ACCEPT;
}

/* unix:PATH: our own listening socket (libvncserver listens on TCP only);
   the VNC thread accepts and hands each connection to rfbNewClient. */
static int
unix_listen(struct vnc_sink *v, struct vnc_desk *d, const char *path)
{
	size_t n = strlen(path);
	int fd = n < sizeof(d->unix_path) ? unixsock_listen(path, 8, true) : -ENAMETOOLONG;

	if (fd == -EADDRINUSE) {
		log_msg(v->log, KR_LOG_ERROR, "--vnc: another process is serving %s", path);
		return fd;
	}
	if (fd < 0) {
		log_msg(v->log, KR_LOG_ERROR, "--vnc: cannot listen on %s: %s", path,
			strerror(-fd));
		return fd;
	}
	d->unix_fd = fd;
	memcpy(d->unix_path, path, n + 1);
	return 0;
}

static int
desk_listen(struct vnc_sink *v, struct vnc_desk *d, const struct vnc_config *cfg, const char *host,
	    int port)
{
	int argc = 0;
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
	unsigned id = (unsigned)(d - v->desk);

	if (port < 0) {		/* unix:PATH; scanout N > 0 on PATH-N */
		char path[300]; /* vnc_parse_listen kept host short enough for sun_path */
		if (id)
			snprintf(path, sizeof(path), "%s-%u", host, id);
		else
			snprintf(path, sizeof(path), "%s", host);
		int ret = unix_listen(v, d, path);
		if (ret < 0)
			return ret;
		host = "127.0.0.1"; /* not listened on: the TCP side stays closed */
	}
	if (getaddrinfo(host, NULL, &hints, &ai) != 0 || !ai) {
		log_msg(v->log, KR_LOG_ERROR, "--vnc: cannot resolve '%s' (IPv4)", host);
		return -EINVAL;
	}
	d->fb_w = cfg->width;
	d->fb_h = cfg->height;
	d->fb = calloc((size_t)d->fb_w * d->fb_h, 4);
	d->screen = d->fb ? rfbGetScreen(&argc, NULL, (int)d->fb_w, (int)d->fb_h, 8, 3, 4) : NULL;
	if (!d->screen) {
		freeaddrinfo(ai);
		return -ENOMEM;
	}
	rfbScreenInfoPtr s = d->screen;
	s->frameBuffer = (char *)d->fb;
	s->serverFormat.redShift = 16;
	s->serverFormat.greenShift = 8;
	s->serverFormat.blueShift = 0;
	s->desktopName = "kohlrabi";
	s->alwaysShared = TRUE;
	s->listenInterface = ((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr;
	freeaddrinfo(ai);
	s->port = port < 0 ? 0 : port;
	s->autoPort = FALSE;
	s->ipv6port = 0;
	s->httpPort = 0;
	s->screenData = d;
	s->newClientHook = client_new;
	s->kbdAddEvent = on_key;
	s->ptrAddEvent = on_pointer;
	s->deferUpdateTime = 0;
	if (v->passwords[0]) {
		s->authPasswdData = v->passwords;
		s->passwordCheck = rfbCheckPasswordByList;
	}
	rfbInitServer(s);
	if (port < 0) {
		log_msg(v->log, KR_LOG_INFO, "vnc: scanout %u on unix:%s", id, d->unix_path);
		return 0;
	}
	if (s->listenSock < 0) {
		log_msg(v->log, KR_LOG_ERROR, "--vnc: cannot listen on %s:%d", host, port);
		return -EADDRINUSE;
	}
	log_msg(v->log, KR_LOG_INFO, "vnc: scanout %u on %s:%d", id, host, port);
	return 0;
}

/* VNC thread: take the pending frame (and a new size) into the server. */
static void
desk_sync(struct vnc_sink *v, struct vnc_desk *d)
{
	struct kr_rect r;

	pthread_mutex_lock(&v->lock);
	if (d->pend && (d->pw != d->fb_w || d->ph != d->fb_h)) {
		uint32_t *fb = malloc((size_t)d->pw * d->ph * 4);
		if (fb) {
			uint32_t *old = d->fb;
			memcpy(fb, d->pend, (size_t)d->pw * d->ph * 4);
			d->fb = fb;
			d->fb_w = d->pw;
			d->fb_h = d->ph;
			/* Only this thread reads the old one: gone with the call. */
			rfbNewFramebuffer(d->screen, (char *)fb, (int)d->fb_w, (int)d->fb_h, 8, 3,
					  4);
			d->screen->serverFormat.redShift = 16;
			d->screen->serverFormat.greenShift = 8;
			d->screen->serverFormat.blueShift = 0;
			free(old);
			d->dirty = (struct kr_rect){0};
			d->frames++;
			pthread_mutex_unlock(&v->lock);
			rfbMarkRectAsModified(d->screen, 0, 0, (int)d->fb_w, (int)d->fb_h);
			return;
		}
	}
	r = d->dirty;
	if (r.width && d->pend) {
		for (uint32_t y = r.y; y < r.y + r.height; y++)
			memcpy(d->fb + (size_t)y * d->fb_w + r.x, d->pend + (size_t)y * d->pw + r.x,
			       (size_t)r.width * 4);
		d->frames++;
	}
	d->dirty = (struct kr_rect){0};
	pthread_mutex_unlock(&v->lock);
	if (r.width)
		rfbMarkRectAsModified(d->screen, (int)r.x, (int)r.y, (int)(r.x + r.width),
				      (int)(r.y + r.height));
}

/* VNC thread: a new cursor image for every desk (client-side cursor). */
static void
cursor_sync(struct vnc_sink *v)
{
	unsigned char *rich = NULL, *alpha = NULL;
	uint32_t hx, hy;

	pthread_mutex_lock(&v->lock);
	if (!v->cursor_changed) {
		pthread_mutex_unlock(&v->lock);
		return;
	}
	v->cursor_changed = false;
	hx = v->hot_x;
	hy = v->hot_y;
	/* A hidden cursor is a transparent one (vnc_cursor cleared it). */
	for (uint32_t i = 0; i < v->n; i++) {
		size_t px = KR_CURSOR_SIZE * KR_CURSOR_SIZE;
		rich = malloc(px * 4);
		alpha = malloc(px);
		if (!rich || !alpha)
			break;
		for (size_t p = 0; p < px; p++) {
			uint32_t c = v->cursor[p];
			memcpy(rich + p * 4, &c, 4);
			alpha[p] = (unsigned char)(c >> 24);
		}
		rfbCursorPtr cur = calloc(1, sizeof(*cur));
		if (!cur)
			break;
		cur->width = cur->height = KR_CURSOR_SIZE;
		cur->xhot = (unsigned short)(hx < KR_CURSOR_SIZE ? hx : 0);
		cur->yhot = (unsigned short)(hy < KR_CURSOR_SIZE ? hy : 0);
		cur->richSource = rich;
		cur->alphaSource = alpha;
		cur->source = (unsigned char *)rfbMakeMaskFromAlphaSource(KR_CURSOR_SIZE,
									  KR_CURSOR_SIZE, alpha);
		cur->mask = (unsigned char *)rfbMakeMaskFromAlphaSource(KR_CURSOR_SIZE,
									KR_CURSOR_SIZE, alpha);
		cur->cleanup = cur->cleanupSource = cur->cleanupMask = cur->cleanupRichSource =
			TRUE;
		rich = alpha = NULL; /* the cursor's now */
		rfbSetCursor(v->desk[i].screen, cur);
	}
	free(rich);
	free(alpha);
	pthread_mutex_unlock(&v->lock);
}

static void *
vnc_main(void *arg)
{
	struct vnc_sink *v = arg;

	while (!atomic_load(&v->stop)) {
		cursor_sync(v);
		for (uint32_t i = 0; i < v->n; i++) {
			struct vnc_desk *d = &v->desk[i];
			int fd = d->unix_fd >= 0 ? accept4(d->unix_fd, NULL, NULL, SOCK_CLOEXEC)
						 : -1;
			if (fd >= 0 && !rfbNewClient(d->screen, fd))
				close(fd);
			desk_sync(v, d);
			rfbProcessEvents(d->screen, TICK_US / v->n);
		}
	}
	return NULL;
}

int
vnc_sink_create(const struct vnc_config *cfg, struct logger *log, struct vnc_sink **out)
{
	char host[256];
	int port, ret;
	struct vnc_sink *v;

	if (vnc_parse_listen(cfg->listen, host, sizeof(host), &port) < 0 || cfg->num_scanouts < 1 ||
	    cfg->num_scanouts > KR_MAX_SCANOUTS || port + (int)cfg->num_scanouts - 1 > 65535) {
		log_msg(log, KR_LOG_ERROR, "--vnc wants [HOST:]PORT or unix:PATH, got '%s'",
			cfg->listen);
		return -EINVAL;
	}
	if (port == 0)
		port = -1; /* unix:PATH */
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->log = log;
	v->n = cfg->num_scanouts;
	v->input = cfg->input;
	v->input_user = cfg->input_user;
	for (uint32_t i = 0; i < KR_MAX_SCANOUTS; i++) {
		v->desk[i].sink = v;
		v->desk[i].unix_fd = -1;
	}
	pthread_mutex_init(&v->lock, NULL);
	vnc_log = log;
	rfbLog = log_none;
	rfbErr = log_err;
	rfbMaxClientWait = CLIENT_WAIT_MS;
	ret = cfg->password_file ? read_password(v, cfg->password_file) : 0;
	if (ret < 0) {
		log_msg(log, KR_LOG_ERROR, "--vnc-password-file %s: %s", cfg->password_file,
			ret == -EINVAL ? "no password on its first line" : strerror(-ret));
		goto err;
	}
	for (uint32_t i = 0; i < v->n; i++) {
		ret = desk_listen(v, &v->desk[i], cfg, host, port + (int)i);
		if (ret < 0)
			goto err;
	}
	/* No cursor until the guest has one (libvncserver's default arrow
	   would be drawn into the frame of clients without cursor shapes). */
	v->cursor_changed = true;
	cursor_sync(v);
	if (pthread_create(&v->thread, NULL, vnc_main, v) != 0) {
		ret = -EAGAIN;
		goto err;
	}
	v->running = true;
	*out = v;
	return 0;
err:
	vnc_sink_destroy(v);
	return ret;
}

void
vnc_sink_destroy(struct vnc_sink *v)
{
	if (!v)
		return;
	atomic_store(&v->stop, true);
	if (v->running)
		pthread_join(v->thread, NULL);
	for (uint32_t i = 0; i < KR_MAX_SCANOUTS; i++) {
		struct vnc_desk *d = &v->desk[i];
		if (d->screen) {
			rfbShutdownServer(d->screen, TRUE);
			rfbScreenCleanup(d->screen);
		}
		free(d->fb);
		free(d->pend);
		if (d->unix_fd >= 0) {
			close(d->unix_fd);
			unlink(d->unix_path);
		}
	}
	pthread_mutex_destroy(&v->lock);
	if (vnc_log == v->log)
		vnc_log = NULL;
	free(v);
}

/* Copy rect r (relative to the scanout) of info into the pending frame;
   the lock is held. */
static void
copy_rect(struct vnc_desk *d, const struct kr_scanout_info *info, const struct kr_rect *r)
{
	struct pixfmt_image src = {pixfmt_from_virtio(info->format), info->pixels, info->width,
				   info->height, info->stride};
	struct pixfmt_image dst = {PIXMAN_x8r8g8b8, d->pend, d->pw, d->ph, d->pw * 4};

	if (d->pend)
		pixfmt_copy(&src, &dst, r);
}

void
vnc_scanout(struct vnc_sink *v, uint32_t scanout_id, const struct kr_scanout_info *info)
{
	if (!v || scanout_id >= v->n)
		return;
	struct vnc_desk *d = &v->desk[scanout_id];
	pthread_mutex_lock(&v->lock);
	if (info && (info->width != d->pw || info->height != d->ph || !d->pend)) {
		uint32_t *p = calloc((size_t)info->width * info->height, 4);
		if (p) {
			free(d->pend);
			d->pend = p;
			d->pw = info->width;
			d->ph = info->height;
		}
	}
	if (d->pend && info && !info->pixels) {
		/* Not read back yet: the update that brings the pixels follows. */
	} else if (d->pend && info && info->width == d->pw && info->height == d->ph) {
		struct kr_rect all = {0, 0, d->pw, d->ph};
		copy_rect(d, info, &all);
		d->dirty = all;
	} else if (d->pend && !info) { /* off: black, same size */
		memset(d->pend, 0, (size_t)d->pw * d->ph * 4);
		d->dirty = (struct kr_rect){0, 0, d->pw, d->ph};
	}
	pthread_mutex_unlock(&v->lock);
}

void
vnc_update(struct vnc_sink *v, const struct kr_scanout_info *info, const struct kr_rect *r)
{
	if (!v || info->scanout_id >= v->n)
		return;
	struct vnc_desk *d = &v->desk[info->scanout_id];
	pthread_mutex_lock(&v->lock);
	/* The rect lies inside the scanout (the core checked it). */
	if (d->pend && info->width == d->pw && info->height == d->ph && r->width && r->height &&
	    r->x + (uint64_t)r->width <= d->pw && r->y + (uint64_t)r->height <= d->ph) {
		copy_rect(d, info, r);
		rect_union(&d->dirty, r);
	}
	pthread_mutex_unlock(&v->lock);
}

void
vnc_cursor(struct vnc_sink *v, const struct kr_cursor_info *c)
{
	if (!v || (c->visible && !c->pixels))
		return; /* a move: the client draws the cursor where its pointer is */
	pthread_mutex_lock(&v->lock);
	v->cursor_visible = c->visible;
	v->hot_x = c->hot_x;
	v->hot_y = c->hot_y;
	if (!c->visible)
		memset(v->cursor, 0, sizeof(v->cursor));
	else {
		struct pixfmt_image src = {pixfmt_from_virtio(c->format), c->pixels, KR_CURSOR_SIZE,
					   KR_CURSOR_SIZE, c->stride};
		struct pixfmt_image dst = {PIXMAN_a8r8g8b8, v->cursor, KR_CURSOR_SIZE,
					   KR_CURSOR_SIZE, KR_CURSOR_SIZE * 4};
		struct kr_rect all = {0, 0, KR_CURSOR_SIZE, KR_CURSOR_SIZE};
		if (pixfmt_copy(&src, &dst, &all) < 0)
			memset(v->cursor, 0, sizeof(v->cursor));
	}
	v->cursor_changed = true;
	pthread_mutex_unlock(&v->lock);
}

void
vnc_get_stats(struct vnc_sink *v, uint32_t scanout_id, struct vnc_stats *st)
{
	*st = (struct vnc_stats){0};
	if (!v || scanout_id >= v->n)
		return;
	pthread_mutex_lock(&v->lock);
	st->frames = v->desk[scanout_id].frames;
	pthread_mutex_unlock(&v->lock);
	st->clients = atomic_load(&v->desk[scanout_id].clients);
}
