/* SPDX-License-Identifier: MIT */
/* virtio-gpu formats as pixman formats (for the 2d backend and display sinks). */
#ifndef KR_PIXFMT_H
#define KR_PIXFMT_H

#include <pixman.h>
#include <stdint.h>

#include "kohlrabi/kohlrabi.h"

/* The pixman format with the same bytes in memory on this (little-endian)
   host, or 0 for an unknown format. */
pixman_format_code_t pixfmt_from_virtio(uint32_t virtio_format);

/* Pixels in memory: a pixman format, width x height, stride bytes a row. */
struct pixfmt_image {
	pixman_format_code_t format; /* 0: unknown (pixfmt_copy fails) */
	const void *bits;	     /* borrowed; written through only as a destination */
	uint32_t width, height, stride;
};

/* Copy (and convert) rectangle r of src to the same place in dst; r lies
   inside both.  0, -EINVAL for an unknown format, -ENOMEM. */
int pixfmt_copy(const struct pixfmt_image *src, const struct pixfmt_image *dst,
		const struct kr_rect *r);

#endif
