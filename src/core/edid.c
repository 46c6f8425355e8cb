/* SPDX-License-Identifier: MIT */
/*
 * EDID 1.4 base block generator (contract in edid.h).  Writes only the caller's 128 bytes;
 * no allocation, no global state.  Offsets follow VESA E-EDID 1.4.
 */
#include "edid.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

/* Blanking in the spirit of CVT reduced blanking (version 1). */
#define RB_HBLANK	 160 /* pixels */
#define RB_HFRONT	 48
#define RB_HSYNC	 32
#define RB_VFRONT	 3 /* lines */
#define RB_VSYNC	 6
#define RB_VBACK_MIN	 6
#define RB_MIN_VBLANK_US 460
#define REFRESH		 60 /* Hz */
/*
 * Pixel clocks are in 10 kHz units.  A tiny mode's clock would be rounded up by a large
 * fraction, so its vertical blank is lengthened until the clock reaches 10 MHz: rounding then
 * moves the refresh rate by at most 0.1 %.  The 16-bit field caps the clock at 655.35 MHz.
 */
#define MIN_CLOCK 1000
#define MAX_CLOCK 0xffff

/* "KRB": three letters of 5 bits each, 'A' = 1, stored big-endian. */
#define MANUFACTURER ((('K' - '@') << 10) | (('R' - '@') << 5) | ('B' - '@'))
#define PRODUCT	     0x0001
#define YEAR	     2024

#define DESC_LEN   18
#define DESC_TEXT  13	/* text bytes in a display descriptor */
#define MM_PER_10K 2646 /* 96 dpi: 25.4 mm / 96 = 0.2646 mm per pixel */

struct edid_timing {
	uint32_t hactive, hblank, vactive, vblank;
	uint32_t clock; /* 10 kHz units */
};

static uint32_t
clamp_u32(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static void
timing_compute(struct edid_timing *t, uint32_t width, uint32_t height)
{
	uint64_t htotal = (uint64_t)width + RB_HBLANK;
	/*
	 * A line lasts 1 / (REFRESH * vtotal) s, so the blank lasts 460 us when
	 * vblank / (height + vblank) >= k with k = REFRESH * 460 us = 0.0276, i.e.
	 * vblank >= height * k / (1 - k).  One line more absorbs the clock's rounding up.
	 */
	const uint64_t k = REFRESH * RB_MIN_VBLANK_US; /* in millionths */
	uint64_t vblank = (height * k + (1000000 - k) - 1) / (1000000 - k) + 1;
	if (vblank < RB_VFRONT + RB_VSYNC + RB_VBACK_MIN)
		vblank = RB_VFRONT + RB_VSYNC + RB_VBACK_MIN;
	uint64_t pixels = htotal * (height + vblank); /* per frame */
	const uint64_t min_pixels = ((uint64_t)MIN_CLOCK * 10000 + REFRESH - 1) / REFRESH;
	if (pixels < min_pixels) {
		uint64_t vtotal = (min_pixels + htotal - 1) / htotal; /* <= 1036 */
		vblank = vtotal - height;
		pixels = htotal * vtotal;
	}
	uint64_t clock = (pixels * REFRESH + 9999) / 10000;
	if (clock > MAX_CLOCK)
		clock = MAX_CLOCK; /* the refresh rate drops below 60 Hz instead */

	assert(width <= 0xfff && height <= 0xfff && vblank <= 0xfff); /* 12-bit fields */
	t->hactive = width;
	t->hblank = RB_HBLANK;
	t->vactive = height;
	t->vblank = (uint32_t)vblank;
	t->clock = (uint32_t)clock;
}

/* Physical size at 96 dpi, rounded to whole millimetres. */
static uint32_t
size_mm(uint32_t pixels)
{
	return (uint32_t)(((uint64_t)pixels * MM_PER_10K + 5000) / 10000);
}

static void
desc_timing(uint8_t *d, const struct edid_timing *t, uint32_t wmm, uint32_t hmm)
{
	wmm = clamp_u32(wmm, 1, 0xfff);
	hmm = clamp_u32(hmm, 1, 0xfff);
	d[0] = (uint8_t)(t->clock & 0xff);
	d[1] = (uint8_t)(t->clock >> 8);
	d[2] = (uint8_t)(t->hactive & 0xff);
	d[3] = (uint8_t)(t->hblank & 0xff);
	d[4] = (uint8_t)((t->hactive >> 8) << 4 | t->hblank >> 8);
	d[5] = (uint8_t)(t->vactive & 0xff);
	d[6] = (uint8_t)(t->vblank & 0xff);
	d[7] = (uint8_t)((t->vactive >> 8) << 4 | t->vblank >> 8);
	d[8] = RB_HFRONT;
	d[9] = RB_HSYNC;
	d[10] = RB_VFRONT << 4 | RB_VSYNC;
	d[11] = 0; /* the high bits of the four fields above */
	d[12] = (uint8_t)(wmm & 0xff);
	d[13] = (uint8_t)(hmm & 0xff);
	d[14] = (uint8_t)((wmm >> 8) << 4 | hmm >> 8);
	d[15] = 0; /* no border */
	d[16] = 0;
	d[17] = 0x18 | 0x02; /* progressive, digital separate sync, vsync -, hsync + (as CVT-RB) */
}

/* A display descriptor holding text: up to 13 bytes, newline-terminated, space-padded. */
static void
desc_text(uint8_t *d, uint8_t tag, const char *text, size_t len)
{
	memset(d, 0, DESC_LEN);
	d[3] = tag;
	memset(d + 5, ' ', DESC_TEXT);
	if (len > DESC_TEXT)
		len = DESC_TEXT;
	memcpy(d + 5, text, len);
	if (len < DESC_TEXT)
		d[5 + len] = '\n';
}

static void
desc_range_limits(uint8_t *d, const struct edid_timing *t)
{
	/*
	 * Wide bare limits: a virtual display takes any rate.  They contain the detailed timing,
	 * whose line rate is at most 60 * (4095 + 118) lines = 253 kHz.
	 */
	memset(d, 0, DESC_LEN);
	d[3] = 0xfd;
	d[4] = 0;				   /* no +255 offsets */
	d[5] = 1;				   /* min vertical, Hz */
	d[6] = REFRESH + 15;			   /* max vertical, Hz */
	d[7] = 1;				   /* min horizontal, kHz */
	d[8] = 255;				   /* max horizontal, kHz */
	d[9] = (uint8_t)((t->clock + 999) / 1000); /* max pixel clock, 10 MHz */
	d[10] = 0x01;				   /* range limits only */
	d[11] = '\n';
	memset(d + 12, ' ', DESC_LEN - 12);
}

static size_t
format_u32(char *buf, uint32_t v) /* buf holds 10 bytes; no terminator */
{
	char rev[10];
	size_t n = 0;

	do {
		rev[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		buf[i] = rev[n - 1 - i];
	return n;
}

int
edid_generate(uint8_t *out, size_t out_len, uint32_t width, uint32_t height, uint32_t serial,
	      size_t *written)
{
	static const uint8_t header[8] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
	/* sRGB primaries and D65 white point as 10-bit binary fractions: Rx Ry Gx Gy Bx By Wx Wy.
	 */
	static const uint16_t chroma[8] = {655, 338, 307, 614, 154, 61, 320, 337};
	struct edid_timing t;
	uint8_t *e = out;

	if (!out || !written || out_len < EDID_BLOCK || width == 0 || height == 0 ||
	    width > EDID_MAX_DIM || height > EDID_MAX_DIM)
		return -EINVAL;
	timing_compute(&t, width, height);
	uint32_t wmm = size_mm(width), hmm = size_mm(height);

	memset(e, 0, EDID_BLOCK);
	memcpy(e, header, sizeof(header));
	e[8] = MANUFACTURER >> 8;
	e[9] = MANUFACTURER & 0xff;
	e[10] = PRODUCT & 0xff;
	e[11] = PRODUCT >> 8;
	for (int i = 0; i < 4; i++)
		e[12 + i] = (uint8_t)(serial >> (8 * i));
	e[16] = 0;	     /* week of manufacture unspecified */
	e[17] = YEAR - 1990; /* year of manufacture */
	e[18] = 1;	     /* EDID 1.4 */
	e[19] = 4;
	e[20] = 0x80 | 0x20 | 0x05; /* digital input, 8 bits per colour, DisplayPort */
	e[21] = (uint8_t)clamp_u32((wmm + 5) / 10, 1, 255); /* screen size, cm */
	e[22] = (uint8_t)clamp_u32((hmm + 5) / 10, 1, 255);
	e[23] = 220 - 100; /* gamma 2.2 */
	/* sRGB is the default colour space; the preferred timing is native; RGB 4:4:4. */
	e[24] = 0x04 | 0x02;
	e[25] = (uint8_t)((chroma[0] & 3) << 6 | (chroma[1] & 3) << 4 | (chroma[2] & 3) << 2 |
			  (chroma[3] & 3));
	e[26] = (uint8_t)((chroma[4] & 3) << 6 | (chroma[5] & 3) << 4 | (chroma[6] & 3) << 2 |
			  (chroma[7] & 3));
	for (int i = 0; i < 8; i++)
		e[27 + i] = (uint8_t)(chroma[i] >> 2);
	/* Established timings (35..37) none; the eight standard timings unused. */
	memset(e + 38, 0x01, 16);

	desc_timing(e + 54, &t, wmm, hmm);
	desc_range_limits(e + 72, &t);
	desc_text(e + 90, 0xfc, "kohlrabi", strlen("kohlrabi"));
	char sn[12] = {'K', 'R'};
	desc_text(e + 108, 0xff, sn, 2 + format_u32(sn + 2, serial));

	e[126] = 0; /* no extension blocks */
	uint8_t sum = 0;
	for (int i = 0; i < EDID_BLOCK - 1; i++)
		sum = (uint8_t)(sum + e[i]);
	e[127] = (uint8_t)(0x100 - sum);
	*written = EDID_BLOCK;
	return 0;
}
