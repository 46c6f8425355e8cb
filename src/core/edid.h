/* SPDX-License-Identifier: MIT */
/*
 * EDID 1.4 base blocks describing a virtual display.  A pure function: it writes only the
 * caller's buffer, allocates nothing and keeps no state, so any thread may call it.
 */
#ifndef KR_EDID_H
#define KR_EDID_H

#include <stddef.h>
#include <stdint.h>

#define EDID_BLOCK 128
/*
 * Largest width or height edid_generate() accepts.  A detailed timing descriptor stores the
 * active and blanking sizes in 12-bit fields, and the base block (no extensions) has no other
 * way to state a preferred mode, so a larger mode cannot be described exactly.  Rather than
 * advertise a native mode that differs from the scanout, such modes are refused; the guest
 * then keeps the modes GET_DISPLAY_INFO reports.
 */
#define EDID_MAX_DIM 4095

/*
 * Write a 128-byte EDID 1.4 base block (extension count 0) into out[0..127]; bytes past 127
 * are not touched.  The first detailed timing, the preferred and native mode, is
 * width x height with CVT reduced-blanking-style blanking (hblank 160: front 48, sync 32;
 * vfront 3, vsync 6, vblank >= 460 us) at 60 Hz.  When the 60 Hz pixel clock exceeds the
 * field's 655.35 MHz (only near 4095 x 4095) the clock saturates and the refresh rate drops
 * instead (36.6 Hz at 4095 x 4095).  serial goes into the serial-number field and a serial
 * string descriptor; the physical size is derived at 96 dpi.
 *
 * Returns 0 and sets *written = 128.  Returns -EINVAL, writing nothing, when out or written
 * is NULL, out_len < 128, or width or height is 0 or above EDID_MAX_DIM (which includes every
 * size above 16384, the largest scanout kohlrabi accepts).
 */
int edid_generate(uint8_t *out, size_t out_len, uint32_t width, uint32_t height, uint32_t serial,
		  size_t *written);

#endif
