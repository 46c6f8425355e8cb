/* SPDX-License-Identifier: MIT */
/* virtio-gpu formats as pixman formats (for the 2d backend and display sinks). */
#ifndef KR_PIXFMT_H
#define KR_PIXFMT_H

#include <pixman.h>
#include <stdint.h>

/* The pixman format with the same bytes in memory on this (little-endian)
   host, or 0 for an unknown format. */
pixman_format_code_t pixfmt_from_virtio(uint32_t virtio_format);

#endif
