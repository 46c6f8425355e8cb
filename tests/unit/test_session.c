/* SPDX-License-Identifier: MIT */
/*
 * A whole 2D session through the public API, as a guest driver plays it:
 * create -> attach (scattered backing) -> transfer -> set scanout -> flush ->
 * cursor -> unref, for each of the 8 formats.  The display callbacks must
 * receive exactly the guest's pixels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define OK VIRTIO_GPU_RESP_OK_NODATA
/* DRM fourccs spelled out from drm_fourcc.h's character codes. */
#define FOURCC(a, b, c, d)                                                                         \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define DRM_FORMAT_ARGB8888 FOURCC('A', 'R', '2', '4')
#define DRM_FORMAT_XRGB8888 FOURCC('X', 'R', '2', '4')
#define DRM_FORMAT_BGRA8888 FOURCC('B', 'A', '2', '4')
#define DRM_FORMAT_BGRX8888 FOURCC('B', 'X', '2', '4')
#define DRM_FORMAT_ABGR8888 FOURCC('A', 'B', '2', '4')
#define DRM_FORMAT_RGBX8888 FOURCC('R', 'X', '2', '4')
#define DRM_FORMAT_RGBA8888 FOURCC('R', 'A', '2', '4')
#define DRM_FORMAT_XBGR8888 FOURCC('X', 'B', '2', '4')

static const struct {
	uint32_t virtio;
	uint32_t drm;
} formats[] = {
	{VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, DRM_FORMAT_ARGB8888},
	{VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, DRM_FORMAT_XRGB8888},
	{VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM, DRM_FORMAT_BGRA8888},
	{VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM, DRM_FORMAT_BGRX8888},
	{VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, DRM_FORMAT_ABGR8888},
	{VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM, DRM_FORMAT_RGBX8888},
	{VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM, DRM_FORMAT_RGBA8888},
	{VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM, DRM_FORMAT_XBGR8888},
};

/* A guest framebuffer scattered over three entries, one crossing regions. */
struct fb {
	uint32_t w, h, size;
	uint64_t gpa[3];
	uint32_t len[3];
};

static uint8_t *
fb_byte(struct harness *h, const struct fb *fb, uint32_t off)
{
	for (int i = 0; i < 3; i++) {
		if (off < fb->len[i])
			return h_host(h, fb->gpa[i] + off);
		off -= fb->len[i];
	}
	fail_msg("offset past the framebuffer");
	return NULL;
}

static void
fb_fill(struct harness *h, const struct fb *fb, uint32_t x0, uint32_t y0, uint32_t w, uint32_t hh,
	uint32_t seed)
{
	for (uint32_t y = y0; y < y0 + hh; y++)
		for (uint32_t x = x0; x < x0 + w; x++)
			for (uint32_t c = 0; c < 4; c++)
				*fb_byte(h, fb, (y * fb->w + x) * 4 + c) =
					(uint8_t)(x * 7 + y * 13 + c * 61 + seed);
}

static void
expect_pixels(struct harness *h, const struct fb *fb, const struct h_update *u, uint32_t sx,
	      uint32_t sy)
{
	for (uint32_t y = 0; y < u->rect.height; y++)
		for (uint32_t x = 0; x < u->rect.width; x++)
			for (uint32_t c = 0; c < 4; c++) {
				uint32_t gx = sx + u->rect.x + x, gy = sy + u->rect.y + y;
				uint8_t want = *fb_byte(h, fb, (gy * fb->w + gx) * 4 + c);
				uint8_t got = u->pixels[((size_t)y * u->rect.width + x) * 4 + c];
				if (want != got)
					fail_msg("pixel (%u,%u) byte %u: want %u got %u", gx, gy, c,
						 want, got);
			}
}

static void
play_session(struct harness *h, uint32_t format, uint32_t id)
{
	struct fb fb = {.w = 61, .h = 37}; /* odd sizes: no row is aligned */
	fb.size = fb.w * fb.h * 4;
	/* Entry 0 ends in region A, entry 1 spans A->B, entry 2 in region C. */
	fb.len[0] = 1000;
	fb.len[1] = 5000;
	fb.len[2] = fb.size - 6000;
	fb.gpa[0] = H_GPA_B - 10000;
	fb.gpa[1] = H_GPA_B - 2000;
	fb.gpa[2] = H_GPA_C + 64 * (id % 16);
	fb_fill(h, &fb, 0, 0, fb.w, fb.h, id);

	assert_int_equal(h_create_2d(h, id, format, fb.w, fb.h), OK);
	assert_int_equal(h_attach(h, id, fb.gpa, fb.len, 3), OK);
	assert_int_equal(h_transfer(h, id, 0, 0, fb.w, fb.h, 0), OK);
	assert_int_equal(h->n_changing, 0); /* not shown yet: nobody to warn */

	/* Show a sub-rectangle of the resource. */
	const uint32_t sx = 5, sy = 3, sw = 50, sh = 30;
	unsigned sets = h->n_set;
	assert_int_equal(h_set_scanout(h, 0, id, sx, sy, sw, sh), OK);
	assert_int_equal(h->n_set, sets + 1);
	assert_int_equal(h->last_set.format, format);
	assert_int_equal(h->last_set.width, sw);
	assert_int_equal(h->last_set.height, sh);
	assert_int_equal(kr_format_to_drm(format) != 0, 1);

	/* Flush the whole resource: the update is clipped to the scanout. */
	unsigned n = h->n_updates;
	assert_int_equal(h_flush(h, id, 0, 0, fb.w, fb.h), OK);
	assert_int_equal(h->n_updates, n + 1);
	struct h_update *u = &h->updates[n];
	assert_int_equal(u->format, format);
	assert_int_equal(u->rect.x, 0);
	assert_int_equal(u->rect.y, 0);
	assert_int_equal(u->rect.width, sw);
	assert_int_equal(u->rect.height, sh);
	expect_pixels(h, &fb, u, sx, sy);

	/* Redraw a small rectangle, transfer only it (offset of its first pixel).
	   The display hears first that shown pixels are about to change. */
	const uint32_t rx = 20, ry = 10, rw = 9, rh = 6;
	fb_fill(h, &fb, rx, ry, rw, rh, id + 100);
	unsigned changing = h->n_changing;
	assert_int_equal(h_transfer(h, id, rx, ry, rw, rh, (ry * fb.w + rx) * 4), OK);
	assert_int_equal(h->n_changing, changing + 1);
	assert_int_equal(h->changing_scanout, 0);
	assert_int_equal(h_flush(h, id, rx, ry, rw, rh), OK);
	assert_int_equal(h->n_updates, n + 2);
	u = &h->updates[n + 1];
	assert_int_equal(u->rect.x, rx - sx);
	assert_int_equal(u->rect.y, ry - sy);
	assert_int_equal(u->rect.width, rw);
	assert_int_equal(u->rect.height, rh);
	expect_pixels(h, &fb, u, sx, sy);

	/* A flush partly outside the scanout is clipped; wholly outside: none. */
	assert_int_equal(h_flush(h, id, 0, 0, 8, 6), OK);
	assert_int_equal(h->n_updates, n + 3);
	u = &h->updates[n + 2];
	assert_int_equal(u->rect.x, 0);
	assert_int_equal(u->rect.y, 0);
	assert_int_equal(u->rect.width, 3);
	assert_int_equal(u->rect.height, 3);
	expect_pixels(h, &fb, u, sx, sy);
	assert_int_equal(h_flush(h, id, 56, 34, 5, 3), OK);
	assert_int_equal(h->n_updates, n + 3);

	/* Every pixel shown equals the guest's, including untouched ones. */
	for (uint32_t y = 0; y < sh; y++)
		for (uint32_t x = 0; x < sw; x++)
			for (uint32_t c = 0; c < 4; c++) {
				uint8_t want = *fb_byte(h, &fb, ((sy + y) * fb.w + sx + x) * 4 + c);
				uint8_t got = ((const uint8_t *)h->last_set
						       .pixels)[(size_t)y * h->last_set.stride +
								x * 4 + c];
				assert_int_equal(want, got);
			}

	/* Cursor: a 64x64 resource of the same format. */
	uint32_t cid = id + 1000;
	assert_int_equal(h_create_2d(h, cid, format, 64, 64), OK);
	uint64_t cgpa = h_attach_new(h, cid, 64 * 64 * 4);
	uint8_t *cpx = h_host(h, cgpa);
	for (int i = 0; i < 64 * 64 * 4; i++)
		cpx[i] = (uint8_t)(i * 3 + id);
	assert_int_equal(h_transfer(h, cid, 0, 0, 64, 64, 0), OK);
	h_cursor(h, VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, cid, 30, 20, 1, 2);
	assert_true(h->last_cursor.visible);
	assert_true(h->cursor_had_pixels);
	assert_int_equal(h->last_cursor.format, format);
	assert_memory_equal(h->cursor_pixels, cpx, 64 * 64 * 4);
	h_cursor(h, VIRTIO_GPU_CMD_MOVE_CURSOR, 0, 0, 31, 21, 0, 0);
	assert_int_equal(h->last_cursor.x, 31);
	assert_int_equal(h->last_cursor.y, 21);

	/* Tear down as the driver does. */
	unsigned dis = h->n_disable;
	assert_int_equal(h_set_scanout(h, 0, 0, 0, 0, 0, 0), OK);
	assert_int_equal(h->n_disable, dis + 1);
	h_cursor(h, VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 0, 0, 0, 0, 0);
	assert_false(h->last_cursor.visible);
	assert_int_equal(h_detach(h, id), OK);
	assert_int_equal(h_unref(h, id), OK);
	assert_int_equal(h_unref(h, cid), OK);
}

static void
test_all_formats(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		struct harness *h = h_new(NULL);
		struct kr_gpu_stats s;
		play_session(h, formats[i].virtio, (uint32_t)(i + 1));
		kr_gpu_get_stats(h->gpu, &s);
		assert_int_equal(s.resources, 0);
		assert_int_equal(s.hostmem_used, 0);
		h_free(h);
	}
}

static void
test_format_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		assert_int_equal(kr_format_to_drm(formats[i].virtio), formats[i].drm);
		assert_int_equal(kr_format_bpp(formats[i].virtio), 4);
	}
	assert_int_equal(kr_format_to_drm(0), 0);
	assert_int_equal(kr_format_bpp(5), 0);
}

/* Two devices in one process keep separate state. */
static void
test_two_devices(void **state)
{
	struct harness *a = h_new(NULL), *b = h_new(NULL);

	(void)state;
	play_session(a, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1);
	assert_int_equal(h_create_2d(a, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8), OK);
	/* The same id is free on the other device. */
	assert_int_equal(h_create_2d(b, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 16, 16), OK);
	assert_int_equal(h_unref(b, 1), OK);
	assert_int_equal(h_unref(b, 1), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	play_session(b, VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, 2);
	assert_int_equal(h_unref(a, 1), OK);
	assert_int_equal(a->n_updates, 3);
	assert_int_equal(b->n_updates, 3);
	h_free(a);
	h_free(b);
}

/* A page flip (SET_SCANOUT to another resource of the same size) tells the
   display nothing before its scanout_set: the new frame replaces the old
   whole, so the old frame's pending damage is not staged (it was, a full
   frame copy on every flip); a switch to another size still warns first. */
static void
test_flip_stages_nothing(void **state)
{
	struct harness *h = h_new(NULL);
	const uint32_t fmt = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM;

	(void)state;
	for (uint32_t id = 1; id <= 3; id++) {
		uint32_t w = id == 3 ? 32 : 64;
		assert_int_equal(h_create_2d(h, id, fmt, w, 48), OK);
		assert_true(h_attach_new(h, id, w * 48 * 4) != 0);
		assert_int_equal(h_transfer(h, id, 0, 0, w, 48, 0), OK);
	}
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0, 64, 48), OK);
	assert_int_equal(h_flush(h, 1, 0, 0, 64, 48), OK);
	unsigned changing = h->n_changing, sets = h->n_set;
	assert_int_equal(h_set_scanout(h, 0, 2, 0, 0, 64, 48), OK); /* flip */
	assert_int_equal(h->n_changing, changing);
	assert_int_equal(h->n_set, sets + 1);
	assert_int_equal(h_flush(h, 2, 0, 0, 64, 48), OK);
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0, 64, 48), OK); /* and back */
	assert_int_equal(h->n_changing, changing);
	assert_int_equal(h_set_scanout(h, 0, 3, 0, 0, 32, 48), OK); /* another size */
	assert_int_equal(h->n_changing, changing + 1);
	assert_int_equal(h->n_changing_stale, 0);
	h_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_formats),
		cmocka_unit_test(test_format_table),
		cmocka_unit_test(test_two_devices),
		cmocka_unit_test(test_flip_stages_nothing),
	};
	return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}
