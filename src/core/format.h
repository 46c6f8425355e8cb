/* SPDX-License-Identifier: MIT */
/* The 2D pixel formats, and the sizes of virgl's 3D formats (core only). */
#ifndef KR_FORMAT_H
#define KR_FORMAT_H

#include <stdint.h>

/* Bytes per pixel of a VIRTIO_GPU_FORMAT_*, 0 when unknown. */
uint32_t format_bpp(uint32_t format);

/* Bytes per texel a 3D resource of virgl (gallium) format FORMAT takes in
   the host renderer, for charging it to the host memory cap: a block
   format's share of its block rounded up to a byte, and the widest
   format's 32 for a format this table does not know. */
uint32_t format_virgl_texel_bytes(uint32_t format);

#endif
