/* SPDX-License-Identifier: MIT */
/* The 2D pixel formats: bytes per pixel and their DRM fourcc. */
#include "format.h"

#include <linux/virtio_gpu.h>
#include <stddef.h>

#include "kohlrabi/kohlrabi.h"
#include "util/util.h"

static const struct {
	uint32_t format;
	uint32_t drm;
} formats[] = {
	/* virtio names bytes in memory order; DRM names a little-endian word. */
	{VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 0x34325241}, /* ARGB8888 */
	{VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 0x34325258}, /* XRGB8888 */
	{VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM, 0x34324142}, /* BGRA8888 */
	{VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM, 0x34325842}, /* BGRX8888 */
	{VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, 0x34324241}, /* ABGR8888 */
	{VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM, 0x34325852}, /* RGBX8888 */
	{VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM, 0x34324152}, /* RGBA8888 */
	{VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM, 0x34324258}, /* XBGR8888 */
};

uint32_t
format_bpp(uint32_t format)
{
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++) {
		if (formats[i].format == format)
			return 4;
	}
	return 0;
}

KR_EXPORT uint32_t
kr_format_bpp(uint32_t virtio_format)
{
	return format_bpp(virtio_format);
}

KR_EXPORT uint32_t
kr_format_to_drm(uint32_t virtio_format)
{
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++) {
		if (formats[i].format == virtio_format)
			return formats[i].drm;
	}
	return 0;
}
