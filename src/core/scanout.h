/* SPDX-License-Identifier: MIT */
/* Scanout and cursor state and the display callbacks (core only). */
#ifndef KR_SCANOUT_H
#define KR_SCANOUT_H

#include <linux/virtio_gpu.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kohlrabi/kohlrabi.h"
#include "resource.h"

struct kr_gpu;

struct scanout {
	struct kr_scanout_config mode; /* what GET_DISPLAY_INFO reports */
	uint8_t *edid;		       /* owned, may be NULL: set by the embedder */
	size_t edid_len;
	uint32_t resource_id; /* 0: disabled */
	struct kr_rect rect;  /* the shown part of the resource */
	/* SET_SCANOUT_BLOB: the rect is copied out of the blob into shadow at
	   each flush (blob memory is not ours to hand to the display). */
	bool blob;
	uint32_t blob_format;
	uint32_t blob_stride;
	uint64_t blob_offset; /* of the rect's first pixel in the blob */
	uint8_t *shadow;      /* owned: rect.width x rect.height x 4, charged */
	/* defer_readback: the part of rect (resource coordinates) flushed or
	   newly shown and not yet read back nor reported (kr_gpu_present). */
	struct kr_rect deferred;
};

struct cursor {
	uint32_t resource_id; /* 0: hidden */
	uint32_t scanout_id;
	uint32_t x, y, hot_x, hot_y;
};

/* Fill info for scanout i, which shows a live resource.  fresh (inside the
   resource, may be NULL) is the part whose current pixels are wanted: a
   renderer that reads back refreshes only that (renderer_resource_pixels). */
bool scanout_info(struct kr_gpu *gpu, uint32_t i, const struct kr_rect *fresh,
		  struct kr_scanout_info *info);
/* Scanout i's pixels are about to be rewritten or freed: report a deferred
   flush first (scanout_sync), then warn the display, which may still hold
   them (kr_scanout_info.pixels). */
void scanout_notify_changing(struct kr_gpu *gpu, uint32_t i);
/* Read back scanout i's deferred damage and report it (scanout_update).
   Returns whether there was any. */
bool scanout_sync(struct kr_gpu *gpu, uint32_t i);
/* Add rectangle r (resource coordinates, inside the scanout) to what scanout
   i reports at the next kr_gpu_present. */
void scanout_defer(struct kr_gpu *gpu, uint32_t i, const struct kr_rect *r);
/* The guest is about to rewrite res: warn each scanout's display showing it. */
void scanout_resource_changing(struct kr_gpu *gpu, struct resource *res);
/* Forget what scanout i shows (no scanout_set callback); the display is
   told first, while the old pixels are still there, unless flip: another
   resource of the same size takes a scanout that shows no blob at once (the
   display takes the new one whole, and the old pixels stay as they are). */
void scanout_clear(struct kr_gpu *gpu, uint32_t i, bool flip);
/* scanout_clear, then scanout_set(NULL). */
void scanout_disable(struct kr_gpu *gpu, uint32_t i);
/* Copy rectangle d (relative to scanout i, inside it) of blob res into
   the scanout's shadow; shown: the display already has that shadow. */
int scanout_blob_refresh(struct kr_gpu *gpu, uint32_t i, struct resource *res,
			 const struct kr_rect *d, bool shown);
/* Tell the display where the cursor is (and its image, with_shape). */
void cursor_notify(struct kr_gpu *gpu, bool with_shape);
/* UPDATE_CURSOR (move: MOVE_CURSOR), already validated. */
void cursor_update(struct kr_gpu *gpu, const struct virtio_gpu_update_cursor *q, bool move);

#endif
