/* SPDX-License-Identifier: MIT */
#include "vugpu.h"

#include <errno.h>
#include <pixman.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/pixfmt.h"
#include "vhost/vu_proto.h"

/* How long a query may wait for the frontend's answer. */
#define REPLY_TIMEOUT_MS 5000

void
vugpu_init(struct vugpu *v, struct logger *log, const struct vugpu_ops *ops, void *user)
{
	memset(v, 0, sizeof(*v));
	v->fd = -1;
	v->log = log;
	v->ops = ops;
	v->user = user;
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
}

void
vugpu_finish(struct vugpu *v)
{
	vugpu_detach(v);
	free(v->buf);
	v->buf = NULL;
	v->cap = 0;
}

static int
reserve(struct vugpu *v, size_t len)
{
	if (len <= v->cap)
		return 0;
	uint8_t *b = realloc(v->buf, len);
	if (!b)
		return -ENOMEM;
	v->buf = b;
	v->cap = len;
	return 0;
}

static int
write_all(struct vugpu *v, const void *data, size_t len)
{
	const uint8_t *p = data;

	v->bytes_sent += len;
	while (len > 0) {
		ssize_t w = send(v->fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno ?: -EPIPE;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static void
fail(struct vugpu *v, const char *what, int err)
{
	log_msg(v->log, KR_LOG_WARN, "display socket: %s: %s; display output stops", what,
		strerror(-err));
	vugpu_detach(v);
}

/* Send header + payload (payload may already sit in v->buf after the header). */
static int
send_msg(struct vugpu *v, uint32_t request, uint32_t flags, const void *payload, uint32_t size)
{
	struct vu_hdr h = {request, flags, size};
	int ret;

	if (v->fd < 0)
		return -ENOTCONN;
	ret = reserve(v, sizeof(h) + size);
	if (ret < 0)
		return ret;
	memcpy(v->buf, &h, sizeof(h));
	if (payload && payload != v->buf + sizeof(h))
		memcpy(v->buf + sizeof(h), payload, size);
	return write_all(v, v->buf, sizeof(h) + size);
}

static int
read_timed(struct vugpu *v, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		struct pollfd pfd = {v->fd, POLLIN, 0};
		int r = poll(&pfd, 1, REPLY_TIMEOUT_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 ? -ETIMEDOUT : -errno;
		ssize_t n = read(v->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -ECONNRESET : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
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
		if (send_msg(v, VUGPU_SET_PROTOCOL_FEATURES, 0, &v->features, sizeof(v->features)) <
		    0)
			break;
		v->negotiated = true;
		if (v->ops && v->ops->ready)
			v->ops->ready(v->user);
		break;
	}
	case VUGPU_GET_DISPLAY_INFO:
		if (h->size == sizeof(struct virtio_gpu_resp_display_info)) {
			struct virtio_gpu_resp_display_info info;
			memcpy(&info, p, sizeof(info));
			v->display_info_replies++;
			if (v->ops && v->ops->display_info)
				v->ops->display_info(v->user, &info);
		}
		break;
	case VUGPU_GET_EDID:
		if (h->size == sizeof(struct virtio_gpu_resp_edid) && v->edid_count) {
			struct virtio_gpu_resp_edid e;
			uint32_t id = v->edid_queue[v->edid_head];
			v->edid_head = (v->edid_head + 1) % VUGPU_MAX_PENDING;
			v->edid_count--;
			memcpy(&e, p, sizeof(e));
			if (v->ops && v->ops->edid)
				v->ops->edid(v->user, id, &e);
		}
		break;
	default: /* unblock notes and anything else: nothing to do */ break;
	}
}

int
vugpu_read(struct vugpu *v)
{
	uint8_t p[4096];
	struct vu_hdr h;
	int ret;

	if (v->fd < 0)
		return -ENOTCONN;
	ret = read_timed(v, &h, sizeof(h));
	if (ret == 0 && h.size > sizeof(p))
		ret = -EPROTO;
	if (ret == 0)
		ret = read_timed(v, p, h.size);
	if (ret < 0) {
		if (ret == -ECONNRESET)
			vugpu_detach(v);
		else
			fail(v, "read", ret);
		return ret;
	}
	if (h.flags & VUGPU_FLAG_REPLY)
		handle_reply(v, &h, p);
	return v->fd >= 0 ? 0 : -ENOTCONN;
}

int
vugpu_attach(struct vugpu *v, int fd)
{
	int ret;

	vugpu_detach(v);
	v->fd = fd;
	ret = send_msg(v, VUGPU_GET_PROTOCOL_FEATURES, 0, NULL, 0);
	if (ret < 0)
		fail(v, "protocol features", ret);
	return ret;
}

int
vugpu_request_display_info(struct vugpu *v)
{
	int ret = send_msg(v, VUGPU_GET_DISPLAY_INFO, 0, NULL, 0);

	if (ret < 0 && v->fd >= 0)
		fail(v, "display info", ret);
	return ret;
}

int
vugpu_request_edid(struct vugpu *v, uint32_t scanout)
{
	int ret;

	if (!(v->features & (1ull << VUGPU_PROTOCOL_F_EDID)))
		return -EOPNOTSUPP;
	if (v->edid_count == VUGPU_MAX_PENDING)
		return -EBUSY;
	ret = send_msg(v, VUGPU_GET_EDID, 0, &scanout, sizeof(scanout));
	if (ret < 0) {
		if (v->fd >= 0)
			fail(v, "EDID", ret);
		return ret;
	}
	v->edid_queue[(v->edid_head + v->edid_count) % VUGPU_MAX_PENDING] = scanout;
	v->edid_count++;
	return 0;
}

/* Handle messages until done(v) or timeout_ms passed. */
static int
wait_until(struct vugpu *v, bool (*done)(const struct vugpu *, unsigned), unsigned arg,
	   int timeout_ms)
{
	int ret = 0;

	for (int waited = 0; ret == 0 && v->fd >= 0 && !done(v, arg); waited += 10) {
		struct pollfd pfd = {v->fd, POLLIN, 0};
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		int r = poll(&pfd, 1, 10);
		if (r > 0)
			ret = vugpu_read(v);
		else if (r < 0 && errno != EINTR)
			ret = -errno;
	}
	return ret ? ret : v->fd >= 0 ? 0 : -ENOTCONN;
}

static bool
have_display_info(const struct vugpu *v, unsigned want)
{
	return v->display_info_replies >= want;
}

static bool
no_edid_pending(const struct vugpu *v, unsigned unused)
{
	(void)unused;
	return v->negotiated && v->edid_count == 0;
}

static bool
is_negotiated(const struct vugpu *v, unsigned unused)
{
	(void)unused;
	return v->negotiated;
}

int
vugpu_sync_display_info(struct vugpu *v, int timeout_ms)
{
	unsigned want;
	int ret = wait_until(v, is_negotiated, 0, timeout_ms);

	if (ret < 0 || !v->negotiated)
		return ret < 0 ? ret : -ETIMEDOUT;
	want = v->display_info_replies + 1;
	ret = vugpu_request_display_info(v);
	return ret < 0 ? ret : wait_until(v, have_display_info, want, timeout_ms);
}

int
vugpu_sync_edids(struct vugpu *v, int timeout_ms)
{
	return wait_until(v, no_edid_pending, 0, timeout_ms);
}

void
vugpu_scanout(struct vugpu *v, uint32_t scanout_id, const struct kr_scanout_info *info)
{
	struct vugpu_scanout s = {scanout_id, info ? info->width : 0, info ? info->height : 0};
	int ret;

	if (v->fd < 0)
		return;
	ret = send_msg(v, VUGPU_SCANOUT, 0, &s, sizeof(s));
	if (ret < 0)
		fail(v, "scanout", ret);
}

void
vugpu_update(struct vugpu *v, const struct kr_scanout_info *info, const struct kr_rect *r)
{
	const size_t hdr = sizeof(struct vu_hdr) + sizeof(struct vugpu_update);
	uint64_t bytes = (uint64_t)r->width * r->height * 4;
	pixman_format_code_t pf = pixfmt_from_virtio(info->format);
	int ret;

	if (v->fd < 0 || !r->width || !r->height)
		return;
	if (!pf || bytes > UINT32_MAX - sizeof(struct vugpu_update)) {
		ret = -EINVAL;
		goto err;
	}
	ret = reserve(v, hdr + (size_t)bytes);
	if (ret < 0)
		goto err;
	/* The frontend reads x8r8g8b8 rows of width * 4 bytes. */
	struct vugpu_update u = {info->scanout_id, r->x, r->y, r->width, r->height};
	memcpy(v->buf + sizeof(struct vu_hdr), &u, sizeof(u));
	uint8_t *dst_bits = v->buf + hdr;
	pixman_image_t *src =
		pixman_image_create_bits(pf, (int)(r->x + r->width), (int)(r->y + r->height),
					 (uint32_t *)(uintptr_t)info->pixels, (int)info->stride);
	pixman_image_t *dst =
		pixman_image_create_bits(PIXMAN_x8r8g8b8, (int)r->width, (int)r->height,
					 (uint32_t *)(void *)dst_bits, (int)(r->width * 4));
	if (src && dst)
		pixman_image_composite32(PIXMAN_OP_SRC, src, NULL, dst, (int)r->x, (int)r->y, 0, 0,
					 0, 0, (int)r->width, (int)r->height);
	if (src)
		pixman_image_unref(src);
	if (dst)
		pixman_image_unref(dst);
	if (!src || !dst) {
		ret = -ENOMEM;
		goto err;
	}
	ret = send_msg(v, VUGPU_UPDATE, 0, v->buf + sizeof(struct vu_hdr),
		       (uint32_t)(sizeof(u) + bytes));
	if (ret == 0)
		return;
err:
	fail(v, "update", ret);
}

void
vugpu_cursor(struct vugpu *v, const struct kr_cursor_info *c)
{
	struct vugpu_cursor_pos pos = {c->scanout_id, c->x, c->y};
	int ret;

	if (v->fd < 0)
		return;
	if (!c->visible) {
		ret = send_msg(v, VUGPU_CURSOR_POS_HIDE, 0, &pos, sizeof(pos));
	} else if (!c->pixels) {
		ret = send_msg(v, VUGPU_CURSOR_POS, 0, &pos, sizeof(pos));
	} else {
		struct vugpu_cursor_update *u = calloc(1, sizeof(*u));
		pixman_format_code_t pf = pixfmt_from_virtio(c->format);
		if (!u || !pf) {
			free(u);
			ret = -ENOMEM;
			goto out;
		}
		u->pos = pos;
		u->hot_x = c->hot_x;
		u->hot_y = c->hot_y;
		/* The frontend takes a8r8g8b8 words. */
		pixman_image_t *src = pixman_image_create_bits(
			pf, 64, 64, (uint32_t *)(uintptr_t)c->pixels, (int)c->stride);
		pixman_image_t *dst = pixman_image_create_bits(
			PIXMAN_a8r8g8b8, 64, 64,
			(uint32_t *)(void *)((uint8_t *)u +
					     offsetof(struct vugpu_cursor_update, data)),
			64 * 4);
		if (src && dst)
			pixman_image_composite32(PIXMAN_OP_SRC, src, NULL, dst, 0, 0, 0, 0, 0, 0,
						 64, 64);
		if (src)
			pixman_image_unref(src);
		if (dst)
			pixman_image_unref(dst);
		ret = src && dst ? send_msg(v, VUGPU_CURSOR_UPDATE, 0, u, sizeof(*u)) : -ENOMEM;
		free(u);
	}
out:
	if (ret < 0)
		fail(v, "cursor", ret);
}
