/* SPDX-License-Identifier: MIT */
#include "pixfmt.h"

#include <errno.h>
#include <linux/virtio_gpu.h>

pixman_format_code_t
pixfmt_from_virtio(uint32_t virtio_format)
{
	/* virtio names bytes in memory order; pixman names a native word. */
	switch (virtio_format) {
	case VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM: return PIXMAN_a8r8g8b8;
	case VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM: return PIXMAN_x8r8g8b8;
	case VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM: return PIXMAN_b8g8r8a8;
	case VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM: return PIXMAN_b8g8r8x8;
	case VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM: return PIXMAN_a8b8g8r8;
	case VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM: return PIXMAN_r8g8b8x8;
	case VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM: return PIXMAN_r8g8b8a8;
	case VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM: return PIXMAN_x8b8g8r8;
	default: return 0;
	}
}

int
pixfmt_copy(const struct pixfmt_image *src, const struct pixfmt_image *dst, const struct kr_rect *r)
{
	pixman_image_t *s, *d;
	int ret = -ENOMEM;

	if (!src->format || !dst->format)
		return -EINVAL;
	/* pixman writes only into the destination. */
	s = pixman_image_create_bits(src->format, (int)src->width, (int)src->height,
				     (uint32_t *)(uintptr_t)src->bits, (int)src->stride);
	d = pixman_image_create_bits(dst->format, (int)dst->width, (int)dst->height,
				     (uint32_t *)(uintptr_t)dst->bits, (int)dst->stride);
	if (s && d) {
		pixman_image_composite32(PIXMAN_OP_SRC, s, NULL, d, (int)r->x, (int)r->y, 0, 0,
					 (int)r->x, (int)r->y, (int)r->width, (int)r->height);
		ret = 0;
	}
	if (s)
		pixman_image_unref(s);
	if (d)
		pixman_image_unref(d);
	return ret;
}
