/* SPDX-License-Identifier: MIT */
/* The headless display sink: a scanout (plus cursor) written as a PNG file. */
#ifndef KR_DISPLAY_PNG_SINK_H
#define KR_DISPLAY_PNG_SINK_H

#include <stdint.h>

struct png_frame {
	const void *pixels; /* borrowed */
	uint32_t width, height, stride;
	uint32_t format; /* VIRTIO_GPU_FORMAT_* */
};

/*
 * Write frame as an 8-bit RGBA PNG at path.  cursor may be NULL; otherwise it
 * is blended over the frame with its top-left corner at (cx, cy).
 * Returns 0 or -errno (-EINVAL for an unknown format, -EIO for libpng errors).
 */
int png_write_frame(const char *path, const struct png_frame *frame, const struct png_frame *cursor,
		    int32_t cx, int32_t cy);

#endif
