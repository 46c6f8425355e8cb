/* SPDX-License-Identifier: MIT */
/* The EDID generator: a valid 1.4 base block whose preferred timing is exactly the mode. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "edid.h"

#define FILL 0xee

struct dtd {
	uint32_t clock_hz;
	uint32_t ha, hb, hfp, hsw;
	uint32_t va, vb, vfp, vsw;
	uint32_t wmm, hmm;
};

/* Decode an 18-byte detailed timing descriptor, every field at its full bit width. */
static void
dtd_parse(const uint8_t *d, struct dtd *t)
{
	t->clock_hz = (uint32_t)(d[0] | d[1] << 8) * 10000u;
	t->ha = d[2] | (uint32_t)(d[4] & 0xf0) << 4;
	t->hb = d[3] | (uint32_t)(d[4] & 0x0f) << 8;
	t->va = d[5] | (uint32_t)(d[7] & 0xf0) << 4;
	t->vb = d[6] | (uint32_t)(d[7] & 0x0f) << 8;
	t->hfp = d[8] | (uint32_t)(d[11] >> 6) << 8;
	t->hsw = d[9] | (uint32_t)((d[11] >> 4) & 3) << 8;
	t->vfp = (uint32_t)(d[10] >> 4) | (uint32_t)((d[11] >> 2) & 3) << 4;
	t->vsw = (uint32_t)(d[10] & 15) | (uint32_t)(d[11] & 3) << 4;
	t->wmm = d[12] | (uint32_t)(d[14] & 0xf0) << 4;
	t->hmm = d[13] | (uint32_t)(d[14] & 0x0f) << 8;
}

static uint8_t
block_sum(const uint8_t *e)
{
	uint8_t sum = 0;

	for (int i = 0; i < EDID_BLOCK; i++)
		sum = (uint8_t)(sum + e[i]);
	return sum;
}

/* Index of the display descriptor (in 72, 90, 108) with this tag, or -1. */
static int
find_descriptor(const uint8_t *e, uint8_t tag)
{
	for (int off = 72; off <= 108; off += 18) {
		const uint8_t *d = e + off;
		if (d[0] == 0 && d[1] == 0 && d[2] == 0 && d[3] == tag && d[4] == 0)
			return off;
	}
	return -1;
}

static void
check_mode(uint32_t w, uint32_t h, uint32_t serial)
{
	static const uint8_t header[8] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
	uint8_t e[EDID_BLOCK + 16];
	size_t n = 0;

	memset(e, FILL, sizeof(e));
	assert_int_equal(edid_generate(e, sizeof(e), w, h, serial, &n), 0);
	assert_int_equal(n, EDID_BLOCK);
	for (size_t i = EDID_BLOCK; i < sizeof(e); i++)
		assert_int_equal(e[i], FILL); /* nothing past the block */

	assert_memory_equal(e, header, sizeof(header));
	assert_int_equal(block_sum(e), 0);
	assert_int_equal(e[18], 1); /* version 1.4 */
	assert_int_equal(e[19], 4);
	assert_int_equal(e[126], 0); /* no extensions */
	/* Manufacturer: three letters A..Z, big-endian 5-bit codes, top bit clear. */
	uint16_t m = (uint16_t)(e[8] << 8 | e[9]);
	assert_int_equal(m & 0x8000, 0);
	for (int s = 10; s >= 0; s -= 5)
		assert_in_range((m >> s) & 31, 1, 26);
	assert_int_equal(e[12] | e[13] << 8 | e[14] << 16 | (uint32_t)e[15] << 24, serial);
	assert_true(e[16] <= 54 || e[16] == 0xff); /* week */
	assert_true(e[17] >= 0x10);		   /* year >= 2006 in EDID 1.4 */
	assert_true(e[20] & 0x80);		   /* digital input */
	assert_in_range((e[20] >> 4) & 7, 1, 6);   /* a defined colour depth */
	assert_int_equal(e[23], 120);		   /* gamma 2.2 */
	assert_true(e[24] & 0x02); /* preferred timing is native (required in 1.4) */
	assert_true(e[24] & 0x04); /* sRGB */
	for (int i = 35; i < 38; i++)
		assert_int_equal(e[i], 0); /* no established timings */
	for (int i = 38; i < 54; i++)
		assert_int_equal(e[i], 0x01); /* standard timing slots unused */

	/* The preferred timing: exactly the mode, at about 60 Hz, with valid blanking. */
	struct dtd t;
	assert_true(e[54] | e[55]); /* a detailed timing, not a display descriptor */
	dtd_parse(e + 54, &t);
	assert_int_equal(t.ha, w);
	assert_int_equal(t.va, h);
	assert_int_equal(t.hb, 160);
	assert_int_equal(t.hfp, 48);
	assert_int_equal(t.hsw, 32);
	assert_int_equal(t.vfp, 3);
	assert_int_equal(t.vsw, 6);
	assert_true(t.hfp + t.hsw < t.hb);
	assert_true(t.vfp + t.vsw < t.vb);
	assert_int_equal(e[54 + 17] & 0x80, 0);	   /* progressive */
	assert_int_equal(e[54 + 17] & 0x18, 0x18); /* digital separate sync */
	assert_true(t.clock_hz > 0);
	double htotal = t.ha + t.hb, vtotal = t.va + t.vb;
	double hz = t.clock_hz / (htotal * vtotal);
	if (t.clock_hz < 655350000u) {
		assert_true(hz >= 59.0 && hz <= 61.0);
	} else {
		/* The 60 Hz clock does not fit 16 bits: only the largest modes may saturate. */
		assert_true(htotal * vtotal * 60.0 > 655350000.0);
		assert_true(hz > 30.0 && hz < 60.0);
	}
	assert_true(t.vb / (hz * vtotal) >= 460e-6); /* reduced blanking's minimum */
	/* Physical size at about 96 dpi, in mm in the timing and in cm in the header. */
	assert_true(t.wmm >= 1 && t.wmm <= 4095 && t.hmm >= 1 && t.hmm <= 4095);
	assert_true(t.wmm + 1 >= w * 25.4 / 96 && t.wmm <= w * 25.4 / 96 + 1);
	assert_true(t.hmm + 1 >= h * 25.4 / 96 && t.hmm <= h * 25.4 / 96 + 1);
	assert_in_range(e[21], 1, 255);
	assert_in_range(e[22], 1, 255);
	assert_true(e[21] + 1 >= w * 2.54 / 96 && (e[21] == 1 || e[21] <= w * 2.54 / 96 + 1));
	assert_true(e[22] + 1 >= h * 2.54 / 96 && (e[22] == 1 || e[22] <= h * 2.54 / 96 + 1));

	/* The range limits admit the timing. */
	int off = find_descriptor(e, 0xfd);
	assert_true(off > 0);
	const uint8_t *r = e + off;
	assert_int_equal(r[4], 0); /* no +255 offsets */
	assert_true(hz >= r[5] && hz <= r[6]);
	double khz = t.clock_hz / htotal / 1000;
	assert_true(khz >= r[7] && khz <= r[8]);
	assert_true(t.clock_hz <= r[9] * 10000000u);

	/* Monitor name: "kohlrabi", newline-terminated, space-padded. */
	off = find_descriptor(e, 0xfc);
	assert_true(off > 0);
	assert_memory_equal(e + off + 5, "kohlrabi\n    ", 13);

	/* The last descriptor is a serial string or a dummy. */
	assert_true(e[108] == 0 && e[109] == 0 && e[110] == 0 && e[112] == 0);
	assert_true(e[111] == 0xff || e[111] == 0x10);
}

static void
test_modes(void **state)
{
	static const uint32_t modes[][2] = {
		{640, 480},   {1024, 768}, {1280, 800}, {1920, 1080}, {3840, 2160}, {1, 1},
		{4095, 4095}, {4095, 1},   {1, 4095},	{4000, 17},   {17, 4000},   {2560, 1600},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		check_mode(modes[i][0], modes[i][1], (uint32_t)i + 1);
	check_mode(800, 600, 0);
	check_mode(800, 600, UINT32_MAX); /* the longest serial string */
}

static void
check_invalid(uint8_t *buf, size_t len, uint32_t w, uint32_t h, size_t *written)
{
	uint8_t before[EDID_BLOCK];

	memset(before, FILL, sizeof(before));
	assert_int_equal(edid_generate(buf, len, w, h, 1, written), -EINVAL);
	if (buf)
		assert_memory_equal(buf, before, sizeof(before)); /* nothing written */
	if (written)
		assert_int_equal(*written, 99);
}

static void
test_invalid(void **state)
{
	uint8_t e[EDID_BLOCK];
	size_t n = 99;

	(void)state;
	memset(e, FILL, sizeof(e));
	check_invalid(e, sizeof(e), 0, 480, &n);
	check_invalid(e, sizeof(e), 640, 0, &n);
	check_invalid(e, sizeof(e), 0, 0, &n);
	check_invalid(e, sizeof(e), 16385, 480, &n);
	check_invalid(e, sizeof(e), 640, 16385, &n);
	check_invalid(e, sizeof(e), UINT32_MAX, UINT32_MAX, &n);
	/* Beyond the 12-bit fields of a detailed timing: refused rather than misdescribed. */
	check_invalid(e, sizeof(e), 4096, 480, &n);
	check_invalid(e, sizeof(e), 640, 4096, &n);
	check_invalid(e, sizeof(e), 16384, 16384, &n);
	check_invalid(e, sizeof(e) - 1, 640, 480, &n); /* short buffer */
	check_invalid(e, 0, 640, 480, &n);
	check_invalid(NULL, sizeof(e), 640, 480, &n);
	check_invalid(e, sizeof(e), 640, 480, NULL);
}

static void
test_serial_differs(void **state)
{
	uint8_t a[EDID_BLOCK], b[EDID_BLOCK];
	size_t n;

	(void)state;
	assert_int_equal(edid_generate(a, sizeof(a), 1920, 1080, 1, &n), 0);
	assert_int_equal(edid_generate(b, sizeof(b), 1920, 1080, 2, &n), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_memory_not_equal(a + 12, b + 12, 4); /* the serial-number field itself */
	assert_int_equal(block_sum(b), 0);
	assert_int_equal(edid_generate(b, sizeof(b), 1920, 1080, 1, &n), 0);
	assert_memory_equal(a, b, sizeof(a)); /* deterministic */
	assert_int_equal(edid_generate(b, sizeof(b), 1920, 1080, 0x100, &n), 0);
	assert_memory_not_equal(a + 12, b + 12, 4); /* every serial byte counts */
}

static void
test_mode_differs(void **state)
{
	uint8_t a[EDID_BLOCK], b[EDID_BLOCK];
	size_t n;

	(void)state;
	assert_int_equal(edid_generate(a, sizeof(a), 1920, 1080, 1, &n), 0);
	assert_int_equal(edid_generate(b, sizeof(b), 1920, 1200, 1, &n), 0);
	assert_memory_not_equal(a + 54, b + 54, 18);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_serial_differs),
		cmocka_unit_test(test_mode_differs),
	};
	return cmocka_run_group_tests_name("edid", tests, NULL, NULL);
}
