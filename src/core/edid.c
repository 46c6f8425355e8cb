/* SPDX-License-Identifier: MIT */
#include "edid.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* CVT reduced blanking, first version. */
#define RB_HBLANK	 160
#define RB_HFRONT	 48
#define RB_HSYNC	 32
#define RB_VFRONT	 3
#define RB_VSYNC	 6
#define RB_VBACK_MIN	 6
#define RB_MIN_VBLANK_US 460
#define REFRESH		 60
/* 10 MHz, in 10 kHz units: slower clocks read as invalid data. */
#define MIN_CLOCK 1000

/* "KRB" as three 5-bit letters, big-endian. */
#define MANUFACTURER ((('K' - '@') << 10) | (('R' - '@') << 5) | ('B' - '@'))

static void
descriptor_text(uint8_t *d, uint8_t tag, const char *text)
{
	size_t n = strlen(text);

	memset(d, 0, 18);
	d[3] = tag;
	memset(d + 5, ' ', 13);
	if (n > 12)
		n = 12;
	memcpy(d + 5, text, n);
	d[5 + n] = '\n';
}

int
edid_generate(uint8_t *out, size_t out_len, uint32_t width, uint32_t height, uint32_t serial,
	      size_t *written)
{
	static const uint8_t magic[8] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
	/* sRGB primaries and D65 white point, 10-bit fractions. */
	static const uint16_t chroma[8] = {655, 338, 307, 614, 154, 61, 320, 337};
	uint8_t *e = out;

	if (!out || !written || out_len < EDID_BLOCK || width == 0 || height == 0 ||
	    width > EDID_MAX_DIM || height > EDID_MAX_DIM)
		return -EINVAL;
	memset(e, 0, EDID_BLOCK);
	memcpy(e, magic, sizeof(magic));
	e[8] = MANUFACTURER >> 8;
	e[9] = MANUFACTURER & 0xff;
	e[10] = 0x01; /* product code */
	for (int i = 0; i < 4; i++)
		e[12 + i] = (uint8_t)(serial >> (8 * i));
	e[16] = 0;	     /* week unspecified */
	e[17] = 2024 - 1990; /* model year */
	e[18] = 1;
	e[19] = 4;
	e[20] = 0x80 | 0x20 | 0x05; /* digital, 8 bits per colour, DisplayPort */
	/* Physical size as if at 96 dots per inch. */
	uint32_t wmm = width * 254 / 960, hmm = height * 254 / 960;
	e[21] = (uint8_t)(wmm / 10 < 1 ? 1 : wmm / 10 > 255 ? 255 : wmm / 10);
	e[22] = (uint8_t)(hmm / 10 < 1 ? 1 : hmm / 10 > 255 ? 255 : hmm / 10);
	e[23] = 120;  /* gamma 2.2 */
	e[24] = 0x06; /* sRGB default, preferred timing is native; RGB 4:4:4 */
	e[25] = (uint8_t)((chroma[0] & 3) << 6 | (chroma[1] & 3) << 4 | (chroma[2] & 3) << 2 |
			  (chroma[3] & 3));
	e[26] = (uint8_t)((chroma[4] & 3) << 6 | (chroma[5] & 3) << 4 | (chroma[6] & 3) << 2 |
			  (chroma[7] & 3));
	for (int i = 0; i < 8; i++)
		e[27 + i] = (uint8_t)(chroma[i] >> 2);
	/* No established timings (35..37); standard timings unused. */
	for (int i = 38; i < 54; i++)
		e[i] = 0x01;

	/* Detailed timing: vertical blank long enough for 460 us at 60 Hz. */
	uint32_t hblank = RB_HBLANK, htotal = width + hblank;
	uint32_t vblank = (height * RB_MIN_VBLANK_US * REFRESH + 999999) / 1000000 + 1;
	if (vblank < RB_VFRONT + RB_VSYNC + RB_VBACK_MIN)
		vblank = RB_VFRONT + RB_VSYNC + RB_VBACK_MIN;
	uint32_t vtotal = height + vblank;
	uint64_t clock = ((uint64_t)htotal * vtotal * REFRESH + 9999) / 10000; /* 10 kHz */
	if (clock < MIN_CLOCK) {
		/* Tiny modes: a longer vertical blank lifts the clock to what sinks accept. */
		uint64_t pixels = (uint64_t)MIN_CLOCK * 10000 / REFRESH;
		vtotal = (uint32_t)((pixels + htotal - 1) / htotal); /* <= 1036: fits 12 bits */
		vblank = vtotal - height;
		clock = MIN_CLOCK;
	}
	if (clock > 0xffff)
		clock = 0xffff; /* the refresh rate drops below 60 Hz instead */
	/* The clock was rounded up to 10 kHz: widen the blank to stay near 60 Hz. */
	uint64_t wide = clock * 10000 / ((uint64_t)vtotal * REFRESH) - width;
	if (clock < 0xffff && wide > hblank && wide <= 0xfff)
		hblank = (uint32_t)wide;
	uint8_t *d = e + 54;
	d[0] = (uint8_t)(clock & 0xff);
	d[1] = (uint8_t)(clock >> 8);
	d[2] = (uint8_t)(width & 0xff);
	d[3] = (uint8_t)(hblank & 0xff);
	d[4] = (uint8_t)((width >> 8) << 4 | (hblank >> 8));
	d[5] = (uint8_t)(height & 0xff);
	d[6] = (uint8_t)(vblank & 0xff);
	d[7] = (uint8_t)((height >> 8) << 4 | (vblank >> 8));
	d[8] = RB_HFRONT;
	d[9] = RB_HSYNC;
	d[10] = RB_VFRONT << 4 | RB_VSYNC;
	d[11] = 0;
	uint32_t dw = wmm > 4095 ? 4095 : wmm ? wmm : 1, dh = hmm > 4095 ? 4095 : hmm ? hmm : 1;
	d[12] = (uint8_t)(dw & 0xff);
	d[13] = (uint8_t)(dh & 0xff);
	d[14] = (uint8_t)((dw >> 8) << 4 | (dh >> 8));
	d[17] = 0x18 | 0x02; /* digital separate sync, +hsync -vsync (CVT-RB) */

	/* Range limits: what the detailed timing needs, with room. */
	d = e + 72;
	d[3] = 0xfd;
	d[5] = 1;				    /* min vertical Hz */
	d[6] = REFRESH + 15;			    /* max vertical Hz */
	d[7] = 1;				    /* min horizontal kHz */
	d[8] = 255;				    /* max horizontal kHz */
	d[9] = (uint8_t)((clock + 999) / 1000 + 1); /* max pixel clock, 10 MHz */
	d[10] = 0x01;				    /* range limits only */
	d[11] = 0x0a;
	memset(d + 12, ' ', 6);

	descriptor_text(e + 90, 0xfc, "kohlrabi");
	char sn[13];
	snprintf(sn, sizeof(sn), "KR%u", serial);
	descriptor_text(e + 108, 0xff, sn);

	e[126] = 0; /* no extension blocks */
	uint8_t sum = 0;
	for (int i = 0; i < EDID_BLOCK - 1; i++)
		sum = (uint8_t)(sum + e[i]);
	e[127] = (uint8_t)(0x100 - sum);
	*written = EDID_BLOCK;
	return 0;
}
