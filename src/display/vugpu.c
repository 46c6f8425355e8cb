/* SPDX-License-Identifier: MIT */
#include "vugpu.h"

#include <errno.h>
#include <fcntl.h>
#include <pixman.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/pixfmt.h"
#include "util/rect.h"
#include "util/util.h"
#include "vhost/vu_proto.h"

void
vugpu_init(struct vugpu *v, struct logger *log, const struct vugpu_ops *ops, void *user)
{
	memset(v, 0, sizeof(*v));
	v->fd = -1;
	v->log = log;
	v->cb = ops;
	v->user = user;
}

static void
stage_clear(struct vugpu_stage *s)
{
	free(s->pixels);
	memset(s, 0, sizeof(*s));
}

void
vugpu_detach(struct vugpu *v)
{
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
	v->features = 0;
	v->negotiated = false;
	v->edid_head = v->edid_count = 0;
	v->out_len = v->out_off = 0;
	v->in_len = 0;
	for (unsigned i = 0; i < KR_MAX_SCANOUTS; i++) {
		v->stage[i].pending = v->stage[i].staged = (struct kr_rect){0};
		v->sent_scanout[i] = false;
	}
	v->cursor_known = false;
}

void
vugpu_finish(struct vugpu *v)
{
	vugpu_detach(v);
	for (unsigned i = 0; i < KR_MAX_SCANOUTS; i++)
		stage_clear(&v->stage[i]);
	free(v->out);
	v->out = NULL;
	v->out_cap = 0;
}

static void
fail(struct vugpu *v, const char *what, int err)
{
	log_msg(v->log, KR_LOG_WARN, "display socket: %s: %s; display output stops", what,
		strerror(-err));
	vugpu_detach(v);
}

int
vugpu_pump(struct vugpu *v)
{
	while (v->fd >= 0 && v->out_off < v->out_len) {
		ssize_t w = send(v->fd, v->out + v->out_off, v->out_len - v->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0) {
			fail(v, "send", w < 0 ? -errno : -EPIPE);
			return -EPIPE;
		}
		v->out_off += (size_t)w;
		v->bytes_sent += (uint64_t)w;
	}
	if (v->out_off == v->out_len)
		v->out_off = v->out_len = 0;
	return v->fd >= 0 ? 0 : -ENOTCONN;
}

/* Room for len more bytes at the end of the queue; NULL (display dropped)
   when the frontend lets too much pile up. */
static uint8_t *
queue_space(struct vugpu *v, size_t len)
{
	if (v->out_off && v->out_off == v->out_len)
		v->out_off = v->out_len = 0;
	if (v->out_len - v->out_off + len > VUGPU_MAX_QUEUED) {
		fail(v, "the frontend does not read", -ENOBUFS);
		return NULL;
	}
	if (v->out_len + len > v->out_cap) {
		if (v->out_off) { /* compact first */
			memmove(v->out, v->out + v->out_off, v->out_len - v->out_off);
			v->out_len -= v->out_off;
			v->out_off = 0;
		}
		if (v->out_len + len > v->out_cap) {
			/* Geometric growth: a burst of small messages costs
			   O(n) copies, not O(n^2); the cap above bounds it. */
			size_t cap = MAX(v->out_cap * 2, (size_t)4096);
			while (cap < v->out_len + len)
				cap *= 2;
			cap = MIN(cap, (size_t)VUGPU_MAX_QUEUED + 4096);
			if (cap < v->out_len + len)
				cap = v->out_len + len;
			uint8_t *b = realloc(v->out, cap);
			if (!b) {
				fail(v, "queue", -ENOMEM);
				return NULL;
			}
			v->out = b;
			v->out_cap = cap;
			v->grows++;
		}
	}
	uint8_t *p = v->out + v->out_len;
	v->out_len += len;
	return p;
}

/* Queue a header with room for size payload bytes; returns the payload. */
static uint8_t *
queue_msg(struct vugpu *v, uint32_t request, uint32_t size)
{
	struct vu_hdr h = {request, 0, size};
	uint8_t *p;

	if (v->fd < 0 || !(p = queue_space(v, sizeof(h) + size)))
		return NULL;
	memcpy(p, &h, sizeof(h));
	return p + sizeof(h);
}

static int
send_msg(struct vugpu *v, uint32_t request, const void *payload, uint32_t size)
{
	uint8_t *p = queue_msg(v, request, size);

	if (!p)
		return -ENOTCONN;
	if (size)
		memcpy(p, payload, size);
	return vugpu_pump(v);
}

static void
handle_reply(struct vugpu *v, const struct vu_hdr *h, const uint8_t *p)
{
	switch (h->request) {
	case VUGPU_GET_PROTOCOL_FEATURES: {
		uint64_t theirs;
		if (h->size != sizeof(theirs) || v->negotiated)
			break;
		memcpy(&theirs, p, sizeof(theirs));
		v->features = theirs & (1ull << VUGPU_PROTOCOL_F_EDID);
		if (send_msg(v, VUGPU_SET_PROTOCOL_FEATURES, &v->features, sizeof(v->features)) < 0)
			break;
		v->negotiated = true;
		if (v->cb && v->cb->ready)
			v->cb->ready(v->user);
		break;
	}
	case VUGPU_GET_DISPLAY_INFO: {
		/* A reply of the wrong size still answers the query (NULL):
		   the caller keeps what it knew rather than wait for more. */
		struct virtio_gpu_resp_display_info info;
		bool ok = h->size == sizeof(info);
		if (ok)
			memcpy(&info, p, sizeof(info));
		v->display_info_replies++;
		if (v->cb && v->cb->display_info)
			v->cb->display_info(v->user, ok ? &info : NULL);
		break;
	}
	case VUGPU_GET_EDID:
		if (v->edid_count) {
			struct virtio_gpu_resp_edid e;
			bool ok = h->size == sizeof(e);
			uint32_t id = v->edid_queue[v->edid_head];
			v->edid_head = (v->edid_head + 1) % VUGPU_MAX_PENDING;
			v->edid_count--;
			if (ok)
				memcpy(&e, p, sizeof(e));
			if (v->cb && v->cb->edid)
				v->cb->edid(v->user, id, ok ? &e : NULL);
		}
		break;
	default: /* unblock notes and anything else: nothing to do */ break;
	}
}

int
vugpu_read(struct vugpu *v)
{
	struct vu_hdr h;

	/* Whatever has arrived, without waiting: a message may come in pieces
	   over several calls. */
	while (v->fd >= 0) {
		ssize_t n = recv(v->fd, v->in + v->in_len, sizeof(v->in) - v->in_len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			if (n == 0)
				vugpu_detach(v);
			else
				fail(v, "read", -errno);
			return n == 0 ? -ECONNRESET : -EIO;
		}
		v->in_len += (size_t)n;
		while (v->fd >= 0 && v->in_len >= sizeof(h)) {
			memcpy(&h, v->in, sizeof(h));
			if (h.size > sizeof(v->in) - sizeof(h)) {
				fail(v, "read", -EPROTO);
				return -EPROTO;
			}
			size_t len = sizeof(h) + h.size;
			if (v->in_len < len)
				break;
			if (h.flags & VUGPU_FLAG_REPLY)
				handle_reply(v, &h, v->in + sizeof(h));
			if (v->fd < 0)
				break;
			memmove(v->in, v->in + len, v->in_len - len);
			v->in_len -= len;
		}
	}
	return v->fd >= 0 ? 0 : -ENOTCONN;
}

int
vugpu_attach(struct vugpu *v, int fd)
{
	vugpu_detach(v);
	v->fd = fd;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return send_msg(v, VUGPU_GET_PROTOCOL_FEATURES, NULL, 0);
}

int
vugpu_request_display_info(struct vugpu *v)
{
	return send_msg(v, VUGPU_GET_DISPLAY_INFO, NULL, 0);
}

int
vugpu_request_edid(struct vugpu *v, uint32_t scanout)
{
	int ret;

	if (!(v->features & (1ull << VUGPU_PROTOCOL_F_EDID)))
		return -EOPNOTSUPP;
	if (v->edid_count == VUGPU_MAX_PENDING)
		return -EBUSY;
	ret = send_msg(v, VUGPU_GET_EDID, &scanout, sizeof(scanout));
	if (ret < 0)
		return ret;
	v->edid_queue[(v->edid_head + v->edid_count) % VUGPU_MAX_PENDING] = scanout;
	v->edid_count++;
	return 0;
}

/* Convert a rectangle of the source resource into the staged x8r8g8b8 frame. */
static int
stage_copy(struct vugpu *v, struct vugpu_stage *s, const struct kr_rect *r)
{
	const struct kr_scanout_info *info = &s->source;
	pixman_format_code_t pf = pixfmt_from_virtio(info->format);

	if (!pf || !r->width || !r->height)
		return pf ? 0 : -EINVAL;
	struct pixfmt_image src = {pf, info->pixels, r->x + r->width, r->y + r->height,
				   info->stride};
	struct pixfmt_image dst = {PIXMAN_x8r8g8b8, s->pixels, s->width, s->height, s->width * 4};
	v->copies++;
	return pixfmt_copy(&src, &dst, r);
}

/* Move pending damage from the resource into the staged frame. */
static void
stage_pending(struct vugpu *v, struct vugpu_stage *s)
{
	if (!s->pending.width)
		return;
	if (s->has_source && stage_copy(v, s, &s->pending) == 0)
		rect_union(&s->staged, &s->pending);
	s->pending = (struct kr_rect){0};
}

void
vugpu_scanout(struct vugpu *v, uint32_t scanout_id, const struct kr_scanout_info *info)
{
	struct vugpu_scanout m = {scanout_id, info ? info->width : 0, info ? info->height : 0};
	struct vugpu_stage *s;

	if (scanout_id >= KR_MAX_SCANOUTS)
		return;
	s = &v->stage[scanout_id];
	if (!info) {
		stage_clear(s);
	} else {
		/* The old source's pixels may be gone: libkohlrabi called
		   vugpu_changing (staging what they showed) before it let go
		   of them, so nothing is read from them here. */
		s->has_source = false;
		s->pending = (struct kr_rect){0};
		if (s->width != info->width || s->height != info->height) {
			stage_clear(s);
			s->pixels = calloc((size_t)info->width * info->height, 4);
			if (!s->pixels)
				return;
			s->width = info->width;
			s->height = info->height;
			v->sent_scanout[scanout_id] = false;
		}
		s->source = *info;
		/* No pixels yet (deferred readback): the update that brings
		   them follows before the next present. */
		s->has_source = info->pixels != NULL;
		struct kr_rect all = {0, 0, info->width, info->height};
		rect_union(&s->pending, &all);
	}
	/* A page flip between same-sized resources keeps the frontend's
	   surface: only a new size (or disabling) needs a SCANOUT. */
	if (v->fd >= 0 && (!info || !v->sent_scanout[scanout_id]) &&
	    send_msg(v, VUGPU_SCANOUT, &m, sizeof(m)) == 0)
		v->sent_scanout[scanout_id] = info != NULL;
}

void
vugpu_update(struct vugpu *v, const struct kr_scanout_info *info, const struct kr_rect *r)
{
	struct vugpu_stage *s;

	if (info->scanout_id >= KR_MAX_SCANOUTS)
		return;
	s = &v->stage[info->scanout_id];
	if (!s->pixels || s->width != info->width || s->height != info->height)
		return;
	s->source = *info;
	s->has_source = true;
	if (s->pending.width)
		v->updates_merged++;
	rect_union(&s->pending, r);
}

void
vugpu_changing(struct vugpu *v, const struct kr_scanout_info *info)
{
	if (info->scanout_id < KR_MAX_SCANOUTS)
		stage_pending(v, &v->stage[info->scanout_id]);
}

bool
vugpu_has_damage(const struct vugpu *v)
{
	for (unsigned i = 0; i < KR_MAX_SCANOUTS; i++) {
		if (v->stage[i].pending.width || v->stage[i].staged.width)
			return true;
	}
	return false;
}

bool
vugpu_present(struct vugpu *v)
{
	if (v->fd < 0) {
		/* Nobody to show it to; the frame is resent whole on reconnect. */
		for (unsigned i = 0; i < KR_MAX_SCANOUTS; i++)
			v->stage[i].pending = v->stage[i].staged = (struct kr_rect){0};
		return false;
	}
	if (vugpu_busy(v))
		return vugpu_has_damage(v); /* one frame in flight at a time */
	for (unsigned i = 0; i < KR_MAX_SCANOUTS && v->fd >= 0; i++) {
		struct vugpu_stage *s = &v->stage[i];
		struct kr_rect d = s->staged;
		rect_union(&d, &s->pending);
		stage_pending(v, s);
		s->staged = (struct kr_rect){0};
		if (!d.width || !s->pixels)
			continue;
		if (!v->sent_scanout[i]) {
			struct vugpu_scanout m = {i, s->width, s->height};
			if (send_msg(v, VUGPU_SCANOUT, &m, sizeof(m)) < 0)
				break;
			v->sent_scanout[i] = true;
			d = (struct kr_rect){0, 0, s->width, s->height};
		}
		uint64_t bytes = (uint64_t)d.width * d.height * 4;
		uint8_t *p =
			queue_msg(v, VUGPU_UPDATE, (uint32_t)(sizeof(struct vugpu_update) + bytes));
		if (!p)
			break;
		struct vugpu_update u = {i, d.x, d.y, d.width, d.height};
		memcpy(p, &u, sizeof(u));
		p += sizeof(u);
		for (uint32_t y = 0; y < d.height; y++)
			memcpy(p + (size_t)y * d.width * 4,
			       s->pixels + (size_t)(d.y + y) * s->width + d.x, (size_t)d.width * 4);
		v->frames_sent++;
	}
	vugpu_pump(v);
	return vugpu_has_damage(v);
}

void
vugpu_cursor(struct vugpu *v, const struct kr_cursor_info *c)
{
	struct vugpu_cursor_pos pos = {c->scanout_id, c->x, c->y};

	if (v->fd < 0)
		return;
	const uint32_t at[3] = {c->scanout_id, c->x, c->y};
	/* Shown, and just there: a move to it changes nothing. */
	bool shown_there =
		v->cursor_known && !v->cursor_hidden && !memcmp(at, v->cursor_at, sizeof(at));
	v->cursor_known = true;
	v->cursor_hidden = !c->visible;
	memcpy(v->cursor_at, at, sizeof(at));
	if (!c->visible) {
		send_msg(v, VUGPU_CURSOR_POS_HIDE, &pos, sizeof(pos));
		return;
	}
	if (!c->pixels) {
		if (!shown_there)
			send_msg(v, VUGPU_CURSOR_POS, &pos, sizeof(pos));
		return;
	}
	pixman_format_code_t pf = pixfmt_from_virtio(c->format);
	uint8_t *p =
		pf ? queue_msg(v, VUGPU_CURSOR_UPDATE, sizeof(struct vugpu_cursor_update)) : NULL;
	if (!p)
		return;
	struct vugpu_cursor_update *u = (struct vugpu_cursor_update *)(void *)p;
	memcpy(&u->pos, &pos, sizeof(pos));
	memcpy((uint8_t *)u + offsetof(struct vugpu_cursor_update, hot_x), &c->hot_x, 4);
	memcpy((uint8_t *)u + offsetof(struct vugpu_cursor_update, hot_y), &c->hot_y, 4);
	/* The frontend takes a8r8g8b8 words; the queue keeps 4-byte alignment
	   only by luck, so convert into a local buffer first. */
	uint32_t img[64 * 64];
	struct pixfmt_image src = {pf, c->pixels, 64, 64, c->stride};
	struct pixfmt_image dst = {PIXMAN_a8r8g8b8, img, 64, 64, 64 * 4};
	if (pixfmt_copy(&src, &dst, &(struct kr_rect){0, 0, 64, 64}) < 0)
		memset(img, 0, sizeof(img));
	memcpy((uint8_t *)u + offsetof(struct vugpu_cursor_update, data), img, sizeof(img));
	vugpu_pump(v);
}
