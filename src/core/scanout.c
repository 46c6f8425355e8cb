/* SPDX-License-Identifier: MIT */
/*
 * Scanout and cursor state, and what the display is told of it: what each
 * scanout shows, blob shadows, and the callbacks that hand pixels out.
 */
#include "scanout.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>

#include "gpu.h"
#include "util/iov.h"
#include "util/rect.h"

static struct resource *
lookup(struct kr_gpu *gpu, uint32_t id)
{
	return id ? restab_lookup(&gpu->resources, id) : NULL;
}

/* Fill info for scanout i, which shows a live resource. */
bool
scanout_info(struct kr_gpu *gpu, uint32_t i, const struct kr_rect *fresh,
	     struct kr_scanout_info *info)
{
	struct scanout *s = &gpu->scanouts[i];
	struct resource *res = lookup(gpu, s->resource_id);
	const uint8_t *pixels;
	uint32_t stride;

	if (res && s->blob) {
		*info = (struct kr_scanout_info){
			.scanout_id = i,
			.resource_id = res->id,
			.width = s->rect.width,
			.height = s->rect.height,
			.format = s->blob_format,
			.stride = s->rect.width * 4,
			.pixels = s->shadow,
		};
		return true;
	}
	if (!res || renderer_resource_pixels(gpu->renderer, res, fresh, &pixels, &stride) < 0)
		return false;
	*info = (struct kr_scanout_info){
		.scanout_id = i,
		.resource_id = res->id,
		.width = s->rect.width,
		.height = s->rect.height,
		.format = res->format,
		.stride = stride,
		.pixels = pixels + (size_t)s->rect.y * stride + (size_t)s->rect.x * 4,
	};
	return true;
}

void
scanout_defer(struct kr_gpu *gpu, uint32_t i, const struct kr_rect *r)
{
	rect_union(&gpu->scanouts[i].deferred, r);
}

bool
scanout_sync(struct kr_gpu *gpu, uint32_t i)
{
	struct scanout *s = &gpu->scanouts[i];
	struct kr_rect fresh = s->deferred;
	struct kr_scanout_info info;

	if (!fresh.width || !fresh.height)
		return false;
	s->deferred = (struct kr_rect){0};
	if (!scanout_info(gpu, i, &fresh, &info)) /* no live resource, or no readback */
		return false;
	struct kr_rect d = {fresh.x - s->rect.x, fresh.y - s->rect.y, fresh.width, fresh.height};
	if (gpu->cb.scanout_update)
		gpu->cb.scanout_update(gpu->user, &info, &d);
	return true;
}

/* Scanout i's pixels are about to be rewritten or freed: warn the display,
   which may still hold them (kr_scanout_info.pixels). */
void
scanout_notify_changing(struct kr_gpu *gpu, uint32_t i)
{
	struct kr_scanout_info info;

	/* A deferred frame is reported while it is still there to read. */
	scanout_sync(gpu, i);
	/* What the display holds: no readback (fresh NULL). */
	if (gpu->cb.version >= 2 && gpu->cb.scanout_changing && scanout_info(gpu, i, NULL, &info))
		gpu->cb.scanout_changing(gpu->user, &info);
}

/* Forget what scanout i shows (no scanout_set callback).  The display is
   told first, while the old pixels (a blob's shadow, freed here) are still
   there to copy, unless this is a flip (see scanout.h). */
void
scanout_clear(struct kr_gpu *gpu, uint32_t i, bool flip)
{
	struct scanout *s = &gpu->scanouts[i];
	struct resource *res = lookup(gpu, s->resource_id);

	if (res && !flip)
		scanout_notify_changing(gpu, i);
	if (res)
		res->scanout_mask &= ~(1u << i);
	if (s->shadow) {
		gpu->hostmem_used -= (uint64_t)s->rect.width * s->rect.height * 4;
		free(s->shadow);
		s->shadow = NULL;
	}
	s->blob = false;
	s->resource_id = 0;
	s->rect = s->deferred = (struct kr_rect){0};
}

void
scanout_disable(struct kr_gpu *gpu, uint32_t i)
{
	scanout_clear(gpu, i, false);
	if (gpu->cb.scanout_set)
		gpu->cb.scanout_set(gpu->user, i, NULL);
}

void
cursor_notify(struct kr_gpu *gpu, bool with_shape)
{
	struct cursor *cur = &gpu->cursor;
	struct kr_cursor_info info = {
		.scanout_id = cur->scanout_id,
		.x = cur->x,
		.y = cur->y,
		.hot_x = cur->hot_x,
		.hot_y = cur->hot_y,
		.visible = cur->resource_id != 0,
	};
	struct resource *res = lookup(gpu, cur->resource_id);
	const uint8_t *pixels;

	if (with_shape && res &&
	    renderer_resource_pixels(gpu->renderer, res,
				     &(struct kr_rect){0, 0, res->width, res->height}, &pixels,
				     &info.stride) == 0) {
		info.pixels = pixels;
		info.format = res->format;
	}
	if (gpu->cb.cursor)
		gpu->cb.cursor(gpu->user, &info);
}

/* The guest is about to rewrite res: warn the display of each scanout showing it. */
void
scanout_resource_changing(struct kr_gpu *gpu, struct resource *res)
{
	if (!res->scanout_mask)
		return; /* the common case, on every transfer */
	for (uint32_t i = 0; i < gpu->cfg.num_scanouts; i++) {
		if (res->scanout_mask & (1u << i))
			scanout_notify_changing(gpu, i);
	}
}

/* Copy len bytes at off of a blob (guest backing or host memory). */
static int
blob_read(struct kr_gpu *gpu, struct resource *res, struct iov_cursor *cur, uint64_t off, void *dst,
	  size_t len)
{
	if (res->backing) {
		if (!res->backing->iov)
			return -EFAULT;
		return iov_cursor_read(cur, off, dst, len) ? 0 : -EFAULT;
	}
	return renderer_blob_read(gpu->renderer, res, off, dst, len);
}

/* Copy rectangle d (relative to scanout i, inside it) of the blob into the
   scanout's shadow; shown says the display already has that shadow (it is
   warned first).  A new shadow is filled before scanout_set: the display
   still holds the old scanout's pixels then, already staged. */
int
scanout_blob_refresh(struct kr_gpu *gpu, uint32_t i, struct resource *res, const struct kr_rect *d,
		     bool shown)
{
	struct scanout *s = &gpu->scanouts[i];
	struct iov_cursor cur;

	if (shown)
		scanout_notify_changing(gpu, i);
	if (res->backing && res->backing->iov)
		iov_cursor_init(&cur, res->backing->iov, res->backing->n_iov);
	for (uint32_t y = d->y; y < d->y + d->height; y++) {
		uint64_t off = s->blob_offset + (uint64_t)y * s->blob_stride + (uint64_t)d->x * 4;
		uint8_t *dst = s->shadow + ((size_t)y * s->rect.width + d->x) * 4;
		int ret = blob_read(gpu, res, &cur, off, dst, (size_t)d->width * 4);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void
cursor_update(struct kr_gpu *gpu, const struct virtio_gpu_update_cursor *q, bool move)
{
	uint32_t scanout = le32toh(q->pos.scanout_id);
	struct cursor *cur = &gpu->cursor;

	if (scanout >= gpu->cfg.num_scanouts) {
		log_bug_guest(&gpu->log, "cursor on scanout %u", scanout);
		return;
	}
	if (!move) {
		uint32_t id = le32toh(q->resource_id);
		struct resource *res = lookup(gpu, id);
		if (id && (!res || res->width != KR_CURSOR_SIZE || res->height != KR_CURSOR_SIZE)) {
			log_bug_guest(&gpu->log, "cursor resource %u is not 64x64", id);
			return;
		}
		cur->resource_id = id;
		cur->hot_x = le32toh(q->hot_x);
		cur->hot_y = le32toh(q->hot_y);
	}
	cur->scanout_id = scanout;
	cur->x = le32toh(q->pos.x);
	cur->y = le32toh(q->pos.y);
	cursor_notify(gpu, !move);
}
