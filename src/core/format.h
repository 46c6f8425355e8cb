/* SPDX-License-Identifier: MIT */
/* The 2D pixel formats (core only). */
#ifndef KR_FORMAT_H
#define KR_FORMAT_H

#include <stdint.h>

/* Bytes per pixel of a VIRTIO_GPU_FORMAT_*, 0 when unknown. */
uint32_t format_bpp(uint32_t format);

#endif
