/* SPDX-License-Identifier: MIT */
/* EDID 1.4 base blocks describing a virtual display (no allocation, no state). */
#ifndef KR_EDID_H
#define KR_EDID_H

#include <stddef.h>
#include <stdint.h>

#define EDID_BLOCK 128
/* Largest mode a detailed timing descriptor can express (12-bit fields). */
#define EDID_MAX_DIM 4095

/*
 * Write a 128-byte EDID whose preferred (detailed) timing is width x height
 * with CVT reduced blanking at 60 Hz (lower when the 655.35 MHz pixel-clock
 * field would overflow).  serial goes into the serial-number field.
 * Returns 0 and *written = 128; -EINVAL when width or height is 0 or above
 * EDID_MAX_DIM, or out_len < 128.
 */
int edid_generate(uint8_t *out, size_t out_len, uint32_t width, uint32_t height, uint32_t serial,
		  size_t *written);

#endif
