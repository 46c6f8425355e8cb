/* SPDX-License-Identifier: MIT */
/* Rectangles of pixels (struct kr_rect): the union of damage. */
#ifndef KR_RECT_H
#define KR_RECT_H

#include <stdint.h>

#include "kohlrabi/kohlrabi.h"
#include "util/util.h"

/* Grow d to cover r too; an empty rectangle (no width or height) adds
   nothing.  Both lie inside one surface, so the edges fit in 33 bits. */
static inline void
rect_union(struct kr_rect *d, const struct kr_rect *r)
{
	if (!r->width || !r->height)
		return;
	if (!d->width || !d->height) {
		*d = *r;
		return;
	}
	uint64_t x0 = MIN(d->x, r->x), y0 = MIN(d->y, r->y);
	uint64_t x1 = MAX((uint64_t)d->x + d->width, (uint64_t)r->x + r->width);
	uint64_t y1 = MAX((uint64_t)d->y + d->height, (uint64_t)r->y + r->height);
	*d = (struct kr_rect){(uint32_t)x0, (uint32_t)y0, (uint32_t)(x1 - x0), (uint32_t)(y1 - y0)};
}

#endif
