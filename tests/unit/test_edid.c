/* SPDX-License-Identifier: MIT */
/* The EDID generator: a valid 1.4 block whose preferred timing is the mode. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "edid.h"

static void
check_mode(uint32_t w, uint32_t h)
{
	static const uint8_t magic[8] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
	uint8_t e[EDID_BLOCK + 8];
	size_t n = 0;

	memset(e, 0xee, sizeof(e));
	assert_int_equal(edid_generate(e, EDID_BLOCK, w, h, 7, &n), 0);
	assert_int_equal(n, 128);
	assert_int_equal(e[128], 0xee); /* nothing past the block */
	assert_memory_equal(e, magic, 8);
	uint8_t sum = 0;
	for (int i = 0; i < 128; i++)
		sum = (uint8_t)(sum + e[i]);
	assert_int_equal(sum, 0);
	assert_int_equal(e[18], 1);
	assert_int_equal(e[19], 4);
	assert_true(e[20] & 0x80); /* digital */
	assert_true(e[24] & 0x02); /* preferred timing is native (required in 1.4) */
	assert_int_equal(e[126], 0);
	/* Manufacturer letters decode to A..Z. */
	uint16_t m = (uint16_t)(e[8] << 8 | e[9]);
	for (int s = 10; s >= 0; s -= 5)
		assert_true(((m >> s) & 31) >= 1 && ((m >> s) & 31) <= 26);
	assert_int_equal(e[12], 7);

	const uint8_t *d = e + 54;
	uint32_t clock = (uint32_t)(d[0] | d[1] << 8) * 10000;
	uint32_t ha = d[2] | (d[4] & 0xf0) << 4, hb = d[3] | (d[4] & 0x0f) << 8;
	uint32_t va = d[5] | (d[7] & 0xf0) << 4, vb = d[6] | (d[7] & 0x0f) << 8;
	uint32_t hfp = d[8] | (d[11] >> 6) << 8, hsw = d[9] | ((d[11] >> 4) & 3) << 8;
	uint32_t vfp = (d[10] >> 4) | ((d[11] >> 2) & 3) << 4;
	uint32_t vsw = (d[10] & 15) | (d[11] & 3) << 4;
	assert_int_equal(ha, w);
	assert_int_equal(va, h);
	assert_true(clock > 0);
	assert_true(hfp + hsw < hb);
	assert_true(vfp + vsw < vb);
	double hz = (double)clock / ((double)(ha + hb) * (va + vb));
	if (clock < 655350000u) /* unless the clock field saturated */
		assert_true(hz >= 59.0 && hz <= 61.0);
	else
		assert_true(hz > 1.0 && hz < 61.0);
	/* The range limits admit the timing. */
	const uint8_t *r = e + 72;
	assert_int_equal(r[3], 0xfd);
	assert_true(hz >= r[5] && hz <= r[6]);
	assert_true(clock <= (uint32_t)r[9] * 10000000u);
	/* Monitor name. */
	assert_int_equal(e[93], 0xfc);
	assert_memory_equal(e + 95, "kohlrabi\n", 9);
}

static void
test_modes(void **state)
{
	static const uint32_t modes[][2] = {{640, 480},	  {1024, 768},	{1280, 800}, {1920, 1080},
					    {3840, 2160}, {4095, 4095}, {1, 1},	     {17, 4000}};

	(void)state;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		check_mode(modes[i][0], modes[i][1]);
}

static void
test_invalid(void **state)
{
	uint8_t e[EDID_BLOCK];
	size_t n = 99;

	(void)state;
	assert_int_equal(edid_generate(e, sizeof(e), 0, 480, 1, &n), -EINVAL);
	assert_int_equal(edid_generate(e, sizeof(e), 640, 0, 1, &n), -EINVAL);
	assert_int_equal(edid_generate(e, sizeof(e), 4096, 480, 1, &n), -EINVAL);
	assert_int_equal(edid_generate(e, sizeof(e), 640, 16385, 1, &n), -EINVAL);
	assert_int_equal(edid_generate(e, sizeof(e) - 1, 640, 480, 1, &n), -EINVAL);
	assert_int_equal(n, 99);
}

static void
test_serial_differs(void **state)
{
	uint8_t a[EDID_BLOCK], b[EDID_BLOCK];
	size_t n;

	(void)state;
	assert_int_equal(edid_generate(a, sizeof(a), 800, 600, 1, &n), 0);
	assert_int_equal(edid_generate(b, sizeof(b), 800, 600, 2, &n), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(edid_generate(b, sizeof(b), 800, 600, 1, &n), 0);
	assert_memory_equal(a, b, sizeof(a)); /* deterministic */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_serial_differs),
	};
	return cmocka_run_group_tests_name("edid", tests, NULL, NULL);
}
