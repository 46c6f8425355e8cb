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

/* Runs of virgl format numbers (virgl_hw.h's enum virgl_formats) whose sizes
   repeat with a period: format F of a run takes bytes[(F - first) % period]. */
struct texel_run {
	uint16_t first, last;
	uint8_t period;
	uint8_t bytes[5];
};

static const struct texel_run texel_runs[] = {
	{1, 4, 1, {4}},			/* B8G8R8A8 .. X8R8G8B8 */
	{5, 7, 1, {2}},			/* B5G5R5A1, B4G4R4A4, B5G6R5 */
	{8, 8, 1, {4}},			/* R10G10B10A2 */
	{9, 11, 1, {1}},		/* L8, A8, I8 */
	{12, 16, 1, {2}},		/* L8A8, L16, UYVY, YUYV, Z16 */
	{17, 22, 1, {4}},		/* Z32, Z32F, the Z24S8 family */
	{23, 23, 1, {1}},		/* S8 */
	{24, 27, 4, {8, 16, 24, 32}},	/* R64 .. R64G64B64A64 */
	{28, 47, 4, {4, 8, 12, 16}},	/* the 32-bit channel formats */
	{48, 63, 4, {2, 4, 6, 8}},	/* the 16-bit channel formats */
	{64, 68, 5, {1, 2, 3, 4, 4}},	/* R8 .. R8G8B8A8, X8B8G8R8 */
	{69, 85, 4, {1, 2, 3, 4}},	/* the 8-bit scaled and snorm formats */
	{87, 90, 4, {4, 8, 12, 16}},	/* the fixed formats */
	{91, 94, 4, {2, 4, 6, 8}},	/* the 16-bit float formats */
	{95, 95, 1, {1}},		/* L8 sRGB */
	{96, 96, 1, {2}},		/* L8A8 sRGB */
	{97, 97, 1, {3}},		/* R8G8B8 sRGB */
	{98, 104, 1, {4}},		/* the 32-bit sRGB formats */
	{105, 116, 1, {1}},		/* DXT, RGTC: at most a byte per texel */
	{117, 118, 1, {2}},		/* subsampled */
	{121, 125, 5, {4, 2, 4, 4, 4}}, /* A8B8G8R8, B5G5R5X1, R10G10B10A2, R11G11B10F, R9G9B9E5 */
	{126, 126, 1, {8}},		/* Z32F_S8X24 */
	{131, 136, 1, {4}},		/* B10G10R10A2 .. X24S8 (B4G4R4X4 is 2: charged 4) */
	{137, 138, 2, {4, 8}},		/* S8X24, X32_S8X24 */
	{177, 184, 4, {1, 2, 3, 4}},	/* 8-bit uint and sint */
	{185, 192, 4, {2, 4, 6, 8}},	/* 16-bit uint and sint */
	{193, 200, 4, {4, 8, 12, 16}},	/* 32-bit uint and sint */
};

uint32_t
format_virgl_texel_bytes(uint32_t format)
{
	for (size_t i = 0; i < sizeof(texel_runs) / sizeof(texel_runs[0]); i++) {
		const struct texel_run *r = &texel_runs[i];
		if (format >= r->first && format <= r->last)
			return r->bytes[(format - r->first) % r->period];
	}
	return 32;
}
