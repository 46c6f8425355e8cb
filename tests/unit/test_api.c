/* SPDX-License-Identifier: MIT */
/* Public API: configuration, backends, config space, display changes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static char logged[512];

static void
log_fn(void *user, enum kr_log_level level, const char *msg)
{
	(void)user;
	(void)level;
	snprintf(logged, sizeof(logged), "%s", msg);
}

static void
test_config(void **state)
{
	struct kr_gpu_config cfg;
	struct kr_gpu *gpu = (struct kr_gpu *)0x1;

	(void)state;
	kr_gpu_config_init(&cfg);
	assert_string_equal(cfg.backend, "2d");
	assert_int_equal(cfg.num_scanouts, 1);
	assert_int_equal(cfg.scanouts[0].width, 1280);
	assert_int_equal(cfg.scanouts[0].height, 800);
	assert_int_equal(cfg.max_hostmem, 1024ull << 20);
	assert_true(cfg.edid);

	struct kr_gpu_config bad = cfg;
	bad.num_scanouts = 0;
	assert_int_equal(kr_gpu_create(&bad, NULL, NULL, &gpu), -EINVAL);
	bad.num_scanouts = 17;
	assert_int_equal(kr_gpu_create(&bad, NULL, NULL, &gpu), -EINVAL);
	bad = cfg;
	bad.scanouts[0].width = 0;
	assert_int_equal(kr_gpu_create(&bad, NULL, NULL, &gpu), -EINVAL);
	bad = cfg;
	bad.scanouts[0].height = 16385;
	assert_int_equal(kr_gpu_create(&bad, NULL, NULL, &gpu), -EINVAL);
	bad = cfg;
	bad.num_scanouts = 2; /* the second scanout has no mode */
	assert_int_equal(kr_gpu_create(&bad, NULL, NULL, &gpu), -EINVAL);
	bad = cfg;
	bad.version = 0;
	assert_int_equal(kr_gpu_create(&bad, NULL, NULL, &gpu), -EINVAL);
	assert_int_equal(kr_gpu_create(NULL, NULL, NULL, &gpu), -EINVAL);
	assert_ptr_equal(gpu, (struct kr_gpu *)0x1); /* untouched on failure */

	/* Zero caps select the defaults; NULL backend is 2d; 16 scanouts work. */
	cfg.max_hostmem = 0;
	cfg.max_resources = 0;
	cfg.backend = NULL;
	cfg.num_scanouts = 16;
	for (int i = 0; i < 16; i++)
		cfg.scanouts[i] = (struct kr_scanout_config){640 + i, 480, i == 0};
	assert_int_equal(kr_gpu_create(&cfg, NULL, NULL, &gpu), 0);
	uint32_t n;
	assert_int_equal(kr_gpu_config_read(gpu, 8, &n, 4), 0);
	assert_int_equal(n, 16);
	kr_gpu_destroy(gpu);
	kr_gpu_destroy(NULL);
}

static void
test_backends(void **state)
{
	struct kr_gpu_config cfg;
	struct kr_gpu *gpu = NULL;
	struct kr_gpu_callbacks cbs = {.version = 1, .log = log_fn};

	(void)state;
	const char *const *names = kr_backends();
	assert_string_equal(names[0], "2d");
	kr_gpu_config_init(&cfg);
	cfg.backend = "nonesuch";
	logged[0] = 0;
	assert_int_equal(kr_gpu_create(&cfg, &cbs, NULL, &gpu), -ENOENT);
	assert_null(gpu);
	assert_non_null(strstr(logged, "nonesuch"));
	assert_non_null(strstr(logged, "available: 2d"));
	cfg.backend = "2d";
	assert_int_equal(kr_gpu_create(&cfg, &cbs, NULL, &gpu), 0);
	kr_gpu_destroy(gpu);
	assert_string_equal(kr_version(), "0.1.0");
}

static void
test_config_space(void **state)
{
	struct kr_gpu_config cfg;

	(void)state;
	kr_gpu_config_init(&cfg);
	cfg.num_scanouts = 2;
	cfg.scanouts[1] = (struct kr_scanout_config){800, 600, false};
	struct harness *h = h_new(&cfg);
	struct virtio_gpu_config c;
	assert_int_equal(kr_gpu_config_read(h->gpu, 0, &c, sizeof(c)), 0);
	assert_int_equal(c.events_read, 0);
	assert_int_equal(c.events_clear, 0);
	assert_int_equal(c.num_scanouts, 2);
	assert_int_equal(c.num_capsets, 0);
	assert_int_equal(kr_gpu_config_read(h->gpu, 1, &c, 16), -EINVAL);
	assert_int_equal(kr_gpu_config_read(h->gpu, 17, &c, 0), -EINVAL);
	assert_int_equal(kr_gpu_config_read(h->gpu, 0xffffffff, &c, 2), -EINVAL);

	/* Hotplug: the event bit and a config interrupt. */
	struct kr_scanout_config m = {1024, 768, true};
	assert_int_equal(kr_gpu_set_display(h->gpu, 1, &m), 0);
	assert_int_equal(h->n_config_changed, 1);
	uint32_t ev;
	assert_int_equal(kr_gpu_config_read(h->gpu, 0, &ev, 4), 0);
	assert_int_equal(ev, VIRTIO_GPU_EVENT_DISPLAY);
	struct virtio_gpu_resp_display_info r;
	struct virtio_gpu_ctrl_hdr q = {.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO};
	assert_int_equal(h_send(h, &q, sizeof(q), &r, sizeof(r), NULL),
			 VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	assert_int_equal(r.pmodes[1].r.width, 1024);
	assert_int_equal(r.pmodes[1].enabled, 1);
	m.width = 0;
	assert_int_equal(kr_gpu_set_display(h->gpu, 1, &m), -EINVAL);
	m.width = 10;
	assert_int_equal(kr_gpu_set_display(h->gpu, 2, &m), -EINVAL);
	assert_int_equal(h->n_config_changed, 1);

	/* Writes: only events_clear; it clears bits of events_read. */
	uint32_t v = 0;
	assert_int_equal(kr_gpu_config_write(h->gpu, 0, &v, 4), -EINVAL);
	assert_int_equal(kr_gpu_config_write(h->gpu, 8, &v, 4), -EINVAL);
	assert_int_equal(kr_gpu_config_write(h->gpu, 6, &v, 4), -EINVAL);
	v = 2; /* a bit that is not set */
	assert_int_equal(kr_gpu_config_write(h->gpu, 4, &v, 4), 0);
	assert_int_equal(kr_gpu_config_read(h->gpu, 0, &ev, 4), 0);
	assert_int_equal(ev, VIRTIO_GPU_EVENT_DISPLAY);
	v = VIRTIO_GPU_EVENT_DISPLAY;
	assert_int_equal(kr_gpu_config_write(h->gpu, 4, &v, 1), 0); /* a byte write */
	assert_int_equal(kr_gpu_config_read(h->gpu, 0, &ev, 4), 0);
	assert_int_equal(ev, 0);
	h_free(h);
}

/* kr_gpu_cursor checks its out-parameter as kr_gpu_ctrl does. */
static void
test_null_resp_len(void **state)
{
	struct harness *h = h_new(NULL);
	struct virtio_gpu_update_cursor q = {.hdr.type = VIRTIO_GPU_CMD_MOVE_CURSOR};
	struct iovec in = {&q, sizeof(q)};
	struct kr_chain ch = {&in, 1, NULL, 0, 0};

	(void)state;
	assert_int_equal(kr_gpu_cursor(h->gpu, &ch, NULL), -EINVAL);
	assert_int_equal(kr_gpu_ctrl(h->gpu, &ch, NULL), -EINVAL);
	h_free(h);
}

/* kr_gpu_get_scanout: what a scanout shows now, without any frontend. */
static void
test_get_scanout(void **state)
{
	struct harness *h = h_new(NULL);
	struct kr_scanout_info info;
	const uint32_t xrgb = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM;

	(void)state;
	assert_int_equal(kr_gpu_get_scanout(h->gpu, 0, &info), -ENOENT);
	assert_int_equal(kr_gpu_get_scanout(h->gpu, 1, &info), -EINVAL);
	assert_int_equal(h_create_2d(h, 7, xrgb, 8, 4), VIRTIO_GPU_RESP_OK_NODATA);
	uint64_t gpa = h_attach_new(h, 7, 8 * 4 * 4);
	assert_true(gpa != 0);
	uint32_t *px = h_host(h, gpa);
	for (uint32_t i = 0; i < 8 * 4; i++)
		px[i] = 0x00010203u * i;
	assert_int_equal(h_transfer(h, 7, 0, 0, 8, 4, 0), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(h_set_scanout(h, 0, 7, 2, 1, 4, 2), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(kr_gpu_get_scanout(h->gpu, 0, &info), 0);
	assert_int_equal(info.resource_id, 7);
	assert_int_equal(info.width, 4);
	assert_int_equal(info.height, 2);
	assert_int_equal(info.format, xrgb);
	/* The shown rectangle's pixels, row by row. */
	for (uint32_t y = 0; y < 2; y++)
		for (uint32_t x = 0; x < 4; x++) {
			uint32_t v;
			memcpy(&v, info.pixels + (size_t)y * info.stride + x * 4, 4);
			assert_int_equal(v, 0x00010203u * ((y + 1) * 8 + x + 2));
		}
	assert_int_equal(h_set_scanout(h, 0, 0, 0, 0, 0, 0), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(kr_gpu_get_scanout(h->gpu, 0, &info), -ENOENT);
	h_free(h);
}

static void
test_modes_and_edid(void **state)
{
	struct kr_gpu_config cfg;
	struct virtio_gpu_resp_display_info r;
	struct virtio_gpu_resp_edid e;

	(void)state;
	kr_gpu_config_init(&cfg);
	cfg.num_scanouts = 2;
	cfg.scanouts[1] = (struct kr_scanout_config){800, 600, false};
	struct harness *h = h_new(&cfg);
	struct kr_scanout_config m[2] = {{1024, 768, true}, {640, 480, true}};
	assert_int_equal(kr_gpu_set_modes(h->gpu, m, 2), 0);
	assert_int_equal(h->n_config_changed, 0); /* quiet */
	struct virtio_gpu_ctrl_hdr q = {.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO};
	assert_int_equal(h_send(h, &q, sizeof(q), &r, sizeof(r), NULL),
			 VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	assert_int_equal(r.pmodes[0].r.width, 1024);
	assert_int_equal(r.pmodes[1].r.height, 480);
	assert_int_equal(r.pmodes[1].enabled, 1);
	assert_int_equal(kr_gpu_set_modes(h->gpu, m, 3), -EINVAL);
	m[0].width = 0;
	assert_int_equal(kr_gpu_set_modes(h->gpu, m, 1), -EINVAL);

	/* An embedder's EDID replaces the generated one, then goes away. */
	uint8_t blob[256];
	for (int i = 0; i < 256; i++)
		blob[i] = (uint8_t)i;
	assert_int_equal(kr_gpu_set_edid(h->gpu, 1, blob, sizeof(blob)), 0);
	struct virtio_gpu_cmd_get_edid g = {.hdr.type = VIRTIO_GPU_CMD_GET_EDID, .scanout = 1};
	assert_int_equal(h_send(h, &g, sizeof(g), &e, sizeof(e), NULL), VIRTIO_GPU_RESP_OK_EDID);
	assert_int_equal(e.size, 256);
	assert_memory_equal(e.edid, blob, 256);
	assert_int_equal(e.edid[256], 0);
	assert_int_equal(kr_gpu_set_edid(h->gpu, 1, NULL, 0), 0);
	assert_int_equal(h_send(h, &g, sizeof(g), &e, sizeof(e), NULL), VIRTIO_GPU_RESP_OK_EDID);
	assert_int_equal(e.size, 128);
	assert_int_equal(e.edid[1], 0xff);
	assert_int_equal(kr_gpu_set_edid(h->gpu, 2, blob, 10), -EINVAL);
	assert_int_equal(kr_gpu_set_edid(h->gpu, 0, blob, 1025), -EINVAL);
	assert_int_equal(kr_gpu_set_edid(h->gpu, 0, blob, 100), 0); /* freed at destroy */
	h_free(h);
}

/* KR_GPU_CB_DEFER_READBACK: unknown flags are refused; on the 2d backend
   (its pixels are the resource's own memory, nothing to read back) flushes
   are reported at once as without the flag, and kr_gpu_present has nothing
   to do. */
static void
test_defer_flag(void **state)
{
	struct kr_gpu_config cfg;
	struct kr_gpu *gpu = NULL;
	struct kr_gpu_callbacks cbs = {.version = KR_GPU_CALLBACKS_VERSION, .flags = 1u << 7};

	(void)state;
	kr_gpu_config_init(&cfg);
	assert_int_equal(kr_gpu_create(&cfg, &cbs, NULL, &gpu), -EINVAL);
	assert_null(gpu);
	cbs.version = 3; /* no flags field: not read */
	assert_int_equal(kr_gpu_create(&cfg, &cbs, NULL, &gpu), 0);
	kr_gpu_destroy(gpu);

	struct harness *h = h_new_flags(NULL, KR_GPU_CB_DEFER_READBACK);
	assert_int_equal(h_create_2d(h, 7, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 4),
			 VIRTIO_GPU_RESP_OK_NODATA);
	assert_true(h_attach_new(h, 7, 8 * 4 * 4) != 0);
	assert_int_equal(h_set_scanout(h, 0, 7, 0, 0, 8, 4), VIRTIO_GPU_RESP_OK_NODATA);
	assert_non_null(h->last_set.pixels);
	assert_int_equal(h_flush(h, 7, 0, 0, 8, 4), VIRTIO_GPU_RESP_OK_NODATA);
	assert_int_equal(h->n_updates, 1);
	assert_false(kr_gpu_present_pending(h->gpu));
	assert_int_equal(kr_gpu_present(h->gpu), 0);
	assert_int_equal(h->n_updates, 1);
	h_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),	      cmocka_unit_test(test_backends),
		cmocka_unit_test(test_config_space),  cmocka_unit_test(test_modes_and_edid),
		cmocka_unit_test(test_null_resp_len), cmocka_unit_test(test_get_scanout),
		cmocka_unit_test(test_defer_flag),
	};
	return cmocka_run_group_tests_name("api", tests, NULL, NULL);
}
