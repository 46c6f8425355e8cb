/* SPDX-License-Identifier: MIT */
/*
 * The virgl backend on the real virglrenderer (EGL surfaceless, Mesa
 * llvmpipe): capsets, contexts, a 3D transfer round trip, a 2D scanout read
 * back, fence ordering, hostile 3D commands.
 */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define OK		VIRTIO_GPU_RESP_OK_NODATA
#define E_CTX		VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID
#define E_PARAM		VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER
#define BGRA		VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM
#define BIND_RT_SAMPLER ((1u << 1) | (1u << 3))

static struct harness *
vnew(void)
{
	struct kr_gpu_config cfg;

	kr_gpu_config_init(&cfg);
	cfg.backend = "virgl";
	return h_new(&cfg);
}

static uint32_t
ctx_create(struct harness *h, uint32_t id, const char *name, uint32_t nlen)
{
	struct virtio_gpu_ctx_create c = {.hdr = {.type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = id},
					  .nlen = nlen};
	memcpy(c.debug_name, name, strlen(name) < 64 ? strlen(name) : 64);
	return h_cmd(h, &c, sizeof(c));
}

static uint32_t
create_3d_fmt(struct harness *h, uint32_t id, uint32_t format, uint32_t w, uint32_t hh,
	      uint32_t last_level)
{
	struct virtio_gpu_resource_create_3d c = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_3D,
						  .resource_id = id,
						  .target = 2,
						  .format = format,
						  .bind = BIND_RT_SAMPLER,
						  .width = w,
						  .height = hh,
						  .depth = 1,
						  .array_size = 1,
						  .last_level = last_level};
	return h_cmd(h, &c, sizeof(c));
}

static uint32_t
create_3d(struct harness *h, uint32_t id, uint32_t w, uint32_t hh, uint32_t last_level)
{
	return create_3d_fmt(h, id, BGRA, w, hh, last_level);
}

static uint32_t
transfer_3d(struct harness *h, uint32_t type, uint32_t ctx, uint32_t id, uint32_t level,
	    struct virtio_gpu_box box, uint32_t stride)
{
	struct virtio_gpu_transfer_host_3d t = {.hdr = {.type = type, .ctx_id = ctx},
						.box = box,
						.resource_id = id,
						.level = level,
						.stride = stride};
	return h_cmd(h, &t, sizeof(t));
}

static void
count_warnings(void *user, enum kr_log_level level, const char *msg)
{
	if (level == KR_LOG_WARN && strstr(msg, "virgl runs surfaceless"))
		++*(unsigned *)user;
}

static void
test_device_and_capsets(void **state)
{
	struct harness *h = vnew();
	struct kr_gpu_config cfg;
	struct kr_gpu *second = NULL;

	(void)state;
	assert_true(kr_gpu_features(h->gpu) & (1ull << VIRTIO_GPU_F_VIRGL));
	/* virglrenderer is process-wide: one device at a time. */
	kr_gpu_config_init(&cfg);
	cfg.backend = "3d";
	assert_int_equal(kr_gpu_create(&cfg, NULL, NULL, &second), -EBUSY);
	assert_null(second);
	h_free(h);
	/* A render node that is not there: a warning, then surfaceless. */
	struct kr_gpu_callbacks cbs = {.version = KR_GPU_CALLBACKS_VERSION, .log = count_warnings};
	unsigned warnings = 0;
	cfg.backends.virgl.render_node = "/nonexistent/renderD128";
	assert_int_equal(kr_gpu_create(&cfg, &cbs, &warnings, &second), 0);
	assert_non_null(second);
	assert_int_equal(warnings, 1);
	assert_true(kr_gpu_features(second) & (1ull << VIRTIO_GPU_F_VIRGL));
	kr_gpu_destroy(second);
	h = vnew(); /* surfaceless again after it */

	uint32_t n;
	assert_int_equal(kr_gpu_config_read(h->gpu, 12, &n, 4), 0);
	assert_int_equal(n, 2);
	uint32_t max_size[2];
	for (uint32_t i = 0; i < 3; i++) {
		struct virtio_gpu_get_capset_info q = {.hdr.type = VIRTIO_GPU_CMD_GET_CAPSET_INFO,
						       .capset_index = i};
		struct virtio_gpu_resp_capset_info r;
		assert_int_equal(h_send(h, &q, sizeof(q), &r, sizeof(r), NULL),
				 VIRTIO_GPU_RESP_OK_CAPSET_INFO);
		if (i < 2) {
			assert_int_equal(r.capset_id, i + 1);
			assert_int_equal(r.capset_max_version, i + 1);
			assert_true(r.capset_max_size > 64 && r.capset_max_size < 65536);
			max_size[i] = r.capset_max_size;
		} else {
			assert_int_equal(r.capset_id | r.capset_max_version | r.capset_max_size, 0);
		}
	}
	size_t cap = sizeof(struct virtio_gpu_ctrl_hdr) + max_size[1] + 64, len;
	uint8_t *buf = malloc(cap);
	struct virtio_gpu_get_capset g = {
		.hdr.type = VIRTIO_GPU_CMD_GET_CAPSET, .capset_id = 2, .capset_version = 2};
	assert_int_equal(h_send(h, &g, sizeof(g), buf, cap, &len), VIRTIO_GPU_RESP_OK_CAPSET);
	assert_int_equal(len, sizeof(struct virtio_gpu_ctrl_hdr) + max_size[1]);
	uint32_t max_version;
	memcpy(&max_version, buf + sizeof(struct virtio_gpu_ctrl_hdr), 4);
	assert_true(max_version >= 1);	  /* virgl caps start with their version */
	assert_int_equal(buf[len], 0xa5); /* nothing past the capset */
	g.capset_version = 3;
	assert_int_equal(h_cmd(h, &g, sizeof(g)), E_PARAM);
	g.capset_id = 9;
	g.capset_version = 0;
	assert_int_equal(h_cmd(h, &g, sizeof(g)), E_PARAM);
	free(buf);
	h_free(h);
}

/* 3D resources are charged their format's size: the largest mode the EDID
   offers (5120x2160) fits eight times over under the default cap (it was
   charged 16 bytes a texel, and the second one failed); a format four times
   as wide is charged four times as much, and an unknown one the widest. */
static void
test_3d_charge(void **state)
{
	struct harness *h = vnew();
	struct kr_gpu_config cfg;

	(void)state;
	for (uint32_t id = 1; id <= 8; id++)
		assert_int_equal(create_3d_fmt(h, id, 2 /* B8G8R8X8 */, 5120, 2160, 0), OK);
	h_free(h);

	kr_gpu_config_init(&cfg);
	cfg.backend = "virgl";
	cfg.max_hostmem = 1u << 20;
	cfg.log_level = KR_LOG_DEBUG;
	h = h_new(&cfg);
	for (uint32_t id = 1; id <= 3; id++) /* 3 x 256 KiB */
		assert_int_equal(create_3d_fmt(h, id, 1 /* B8G8R8A8 */, 256, 256, 0), OK);
	assert_int_equal(create_3d_fmt(h, 4, 31 /* R32G32B32A32_FLOAT */, 128, 128, 0), OK);
	assert_int_equal(create_3d_fmt(h, 5, 31, 128, 129, 0), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	/* The debug log names the resource and the failed check. */
	assert_non_null(strstr(h->last_log, "RESOURCE_CREATE_3D answered 0x1201: resource 5: "
					    "128x129x1 format 31 over the host memory cap"));
	h_free(h);
	/* An unknown format: 32 bytes a texel (16 would fit 512 KiB here). */
	h = h_new(&cfg);
	assert_int_equal(create_3d_fmt(h, 1, 9999, 182, 181, 0), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	h_free(h);
}

static void
test_contexts(void **state)
{
	struct harness *h = vnew();
	char longname[200];

	(void)state;
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(ctx_create(h, 1, "kohlrabi-test", 13), OK);
	assert_int_equal(ctx_create(h, 1, "again", 5), E_CTX);
	assert_int_equal(ctx_create(h, 0, "zero", 4), E_CTX);
	/* An unterminated 64-byte name with a huge nlen is clamped. */
	assert_int_equal(ctx_create(h, 2, longname, 0xffffffff), OK);
	struct virtio_gpu_ctx_destroy d = {
		.hdr = {.type = VIRTIO_GPU_CMD_CTX_DESTROY, .ctx_id = 7}};
	assert_int_equal(h_cmd(h, &d, sizeof(d)), E_CTX);
	assert_int_equal(create_3d(h, 10, 16, 16, 0), OK);
	struct virtio_gpu_ctx_resource a = {
		.hdr = {.type = VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE, .ctx_id = 1},
		.resource_id = 10};
	assert_int_equal(h_cmd(h, &a, sizeof(a)), OK);
	a.resource_id = 11;
	assert_int_equal(h_cmd(h, &a, sizeof(a)), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	a.resource_id = 10;
	a.hdr.ctx_id = 9;
	assert_int_equal(h_cmd(h, &a, sizeof(a)), E_CTX);
	a.hdr.type = VIRTIO_GPU_CMD_CTX_DETACH_RESOURCE;
	a.hdr.ctx_id = 1;
	assert_int_equal(h_cmd(h, &a, sizeof(a)), OK);
	d.hdr.ctx_id = 1;
	assert_int_equal(h_cmd(h, &d, sizeof(d)), OK);
	assert_int_equal(h_cmd(h, &d, sizeof(d)), E_CTX);
	h_free(h); /* context 2 and the resource are freed with the device */
}

static void
test_transfer_round_trip(void **state)
{
	struct harness *h = vnew();
	const uint32_t w = 32, hh = 16, stride = w * 4;

	(void)state;
	assert_int_equal(ctx_create(h, 1, "rt", 2), OK);
	assert_int_equal(create_3d(h, 5, w, hh, 2), OK);
	/* A context reaches only the resources attached to it. */
	struct virtio_gpu_ctx_resource a = {
		.hdr = {.type = VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE, .ctx_id = 1}, .resource_id = 5};
	assert_int_equal(h_cmd(h, &a, sizeof(a)), OK);
	uint64_t gpa = h_attach_new(h, 5, stride * hh);
	assert_true(gpa);
	uint32_t *px = h_host(h, gpa);
	for (uint32_t i = 0; i < w * hh; i++)
		px[i] = 0xff000000u | i * 0x010307u;
	uint32_t *want = malloc(stride * hh);
	memcpy(want, px, stride * hh);
	struct virtio_gpu_box all = {0, 0, 0, w, hh, 1};
	assert_int_equal(transfer_3d(h, VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, 1, 5, 0, all, stride),
			 OK);
	memset(px, 0, stride * hh);
	assert_int_equal(transfer_3d(h, VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D, 1, 5, 0, all, stride),
			 OK);
	assert_memory_equal(px, want, stride * hh);
	/* Hostile boxes and levels. */
	struct virtio_gpu_box out = {0, 0, 0, w + 1, hh, 1};
	assert_int_equal(transfer_3d(h, VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, 1, 5, 0, out, stride),
			 E_PARAM);
	out = (struct virtio_gpu_box){0xffffffff, 0, 0, 2, 1, 1};
	assert_int_equal(transfer_3d(h, VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, 1, 5, 0, out, stride),
			 E_PARAM);
	out = (struct virtio_gpu_box){0, 0, 0, w / 2, hh / 2, 2}; /* depth 2 of a 2D texture */
	assert_int_equal(transfer_3d(h, VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, 1, 5, 1, out, stride),
			 E_PARAM);
	out = (struct virtio_gpu_box){0, 0, 0, w / 2 + 1, 1, 1}; /* wider than level 1 */
	assert_int_equal(transfer_3d(h, VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, 1, 5, 1, out, stride),
			 E_PARAM);
	assert_int_equal(transfer_3d(h, VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, 1, 5, 3, all, stride),
			 E_PARAM); /* level over last_level */
	assert_int_equal(transfer_3d(h, VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, 4, 5, 0, all, stride),
			 E_CTX);
	/* A stride that wraps 32 bits over three rows: virglrenderer 0.10
	   accepted it (and read outside the backing); the core refuses. */
	struct virtio_gpu_box three = {0, 0, 0, 4, 3, 1};
	assert_int_equal(
		transfer_3d(h, VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D, 1, 5, 0, three, 0x80000000u),
		E_PARAM);
	assert_int_equal(transfer_3d(h, VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, 1, 5, 0, three, 4096),
			 E_PARAM); /* the last row starts past the backing */
	free(want);
	h_free(h);
}

static void
test_submit_hostile(void **state)
{
	struct harness *h = vnew();
	struct {
		struct virtio_gpu_cmd_submit s;
		uint32_t dw[4];
	} q = {.s = {.hdr = {.type = VIRTIO_GPU_CMD_SUBMIT_3D, .ctx_id = 1}, .size = 16}};

	(void)state;
	assert_int_equal(h_cmd(h, &q, sizeof(q)), E_CTX);
	assert_int_equal(ctx_create(h, 1, "s", 1), OK);
	q.s.size = 0xffffffff;
	assert_int_equal(h_cmd(h, &q, sizeof(q)), E_PARAM);
	q.s.size = 20; /* more than the request holds */
	assert_int_equal(h_cmd(h, &q, sizeof(q)), E_PARAM);
	q.s.size = 6; /* not a multiple of 4 */
	assert_int_equal(h_cmd(h, &q, sizeof(q)), E_PARAM);
	q.s.size = 0;
	assert_int_equal(h_cmd(h, &q, sizeof(q)), OK);
	/* Garbage commands: virglrenderer refuses them, nothing breaks. */
	q.s.size = 16;
	q.dw[0] = 0xdeadbeef;
	q.dw[1] = 0xffffffff;
	uint32_t t = h_cmd(h, &q, sizeof(q));
	assert_true(t == OK || t == E_PARAM);
	assert_int_equal(ctx_create(h, 2, "after", 5), OK); /* still serving */
	h_free(h);
}

static void
test_scanout_readback(void **state)
{
	struct harness *h = vnew();
	const uint32_t w = 40, hh = 24;

	(void)state;
	assert_int_equal(h_create_2d(h, 3, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, w, hh), OK);
	uint64_t gpa = h_attach_new(h, 3, w * hh * 4);
	uint32_t *px = h_host(h, gpa);
	for (uint32_t i = 0; i < w * hh; i++)
		px[i] = i * 0x00050301u;
	assert_int_equal(h_transfer(h, 3, 0, 0, w, hh, 0), OK);
	assert_int_equal(h_set_scanout(h, 0, 3, 0, 0, w, hh), OK);
	assert_int_equal(h_flush(h, 3, 0, 0, w, hh), OK);
	assert_int_equal(h->n_updates, 1);
	struct h_update *u = &h->updates[0];
	for (uint32_t i = 0; i < w * hh; i++) {
		uint32_t got;
		memcpy(&got, u->pixels + i * 4, 4);
		assert_int_equal(got & 0xffffff, px[i] & 0xffffff);
	}
	/* New pixels everywhere, a flush of a 5x3 part: only that part is read
	   back (the rest of the display's copy keeps the first frame; every
	   flush, and every transfer to a scanout, read the whole resource back
	   before). */
	for (uint32_t i = 0; i < w * hh; i++)
		px[i] = 0x00abcdefu;
	assert_int_equal(h_transfer(h, 3, 0, 0, w, hh, 0), OK);
	assert_int_equal(h_flush(h, 3, 7, 4, 5, 3), OK);
	assert_int_equal(h->n_updates, 2);
	for (uint32_t y = 0; y < hh; y++)
		for (uint32_t x = 0; x < w; x++) {
			uint32_t got;
			bool damaged = x >= 7 && x < 12 && y >= 4 && y < 7;
			memcpy(&got, h->update_src + (size_t)y * h->update_stride + x * 4, 4);
			assert_int_equal(got & 0xffffff,
					 damaged ? 0xabcdefu
						 : (y * w + x) * 0x00050301u & 0xffffff);
		}
	h_free(h);
}

static void
fill(uint32_t *px, uint32_t n, uint32_t v)
{
	for (uint32_t i = 0; i < n; i++)
		px[i] = v;
}

/* Every pixel of update u (a tightly packed copy) is v. */
static void
assert_update_is(const struct h_update *u, uint32_t v)
{
	for (uint32_t i = 0; i < u->rect.width * u->rect.height; i++) {
		uint32_t got;
		memcpy(&got, u->pixels + (size_t)i * 4, 4);
		assert_int_equal(got & 0xffffff, v & 0xffffff);
	}
}

/* KR_GPU_CB_DEFER_READBACK: a flush is read back and reported only at
   kr_gpu_present, a frame flipped away before it never (every flush and
   every SET_SCANOUT read back at once before), a transfer into a shown
   resource reports the deferred frame first, and an unref loses nothing. */
static void
test_deferred_readback(void **state)
{
	struct kr_gpu_config cfg;
	const uint32_t w = 40, hh = 24;

	(void)state;
	kr_gpu_config_init(&cfg);
	cfg.backend = "virgl";
	struct harness *h = h_new_flags(&cfg, KR_GPU_CB_DEFER_READBACK);
	uint32_t *a = NULL, *b = NULL;
	for (uint32_t id = 3; id <= 4; id++) {
		assert_int_equal(h_create_2d(h, id, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, w, hh), OK);
		uint32_t *px = h_host(h, h_attach_new(h, id, w * hh * 4));
		*(id == 3 ? &a : &b) = px;
	}
	fill(a, w * hh, 0x111111);
	assert_int_equal(h_transfer(h, 3, 0, 0, w, hh, 0), OK);
	assert_int_equal(h_set_scanout(h, 0, 3, 0, 0, w, hh), OK);
	assert_int_equal(h->n_set, 1);
	assert_null(h->last_set.pixels); /* not read back yet */
	assert_int_equal(h_flush(h, 3, 0, 0, w, hh), OK);
	assert_int_equal(h->n_updates, 0);
	assert_true(kr_gpu_present_pending(h->gpu));
	assert_int_equal(kr_gpu_present(h->gpu), 1);
	assert_false(kr_gpu_present_pending(h->gpu));
	assert_int_equal(h->n_updates, 1);
	assert_int_equal(h->updates[0].rect.width, w);
	assert_int_equal(h->updates[0].rect.height, hh);
	assert_update_is(&h->updates[0], 0x111111);
	assert_int_equal(kr_gpu_present(h->gpu), 0); /* nothing new */

	/* Page flips to B and back to A between two refreshes: B's frame is
	   never reported, A's newest is. */
	fill(b, w * hh, 0x222222);
	assert_int_equal(h_transfer(h, 4, 0, 0, w, hh, 0), OK);
	assert_int_equal(h_set_scanout(h, 0, 4, 0, 0, w, hh), OK);
	assert_int_equal(h_flush(h, 4, 0, 0, w, hh), OK);
	fill(a, w * hh, 0x333333);
	assert_int_equal(h_transfer(h, 3, 0, 0, w, hh, 0), OK);
	assert_int_equal(h_set_scanout(h, 0, 3, 0, 0, w, hh), OK);
	assert_int_equal(h_flush(h, 3, 0, 0, w, hh), OK);
	assert_int_equal(h->n_updates, 1);
	assert_int_equal(h->n_set, 3);
	assert_int_equal(kr_gpu_present(h->gpu), 1);
	assert_int_equal(h->n_updates, 2);
	assert_int_equal(h->updates[1].rect.width, w); /* newly shown: whole */
	assert_update_is(&h->updates[1], 0x333333);

	/* A flushed part, then a transfer into the shown resource before the
	   refresh: the flushed frame is reported before it is overwritten. */
	fill(a, w * hh, 0x444444);
	assert_int_equal(h_transfer(h, 3, 0, 0, w, hh, 0), OK);
	assert_int_equal(h_flush(h, 3, 7, 4, 5, 3), OK);
	assert_int_equal(h->n_updates, 2);
	unsigned changing = h->n_changing;
	fill(a, w * hh, 0x555555);
	assert_int_equal(h_transfer(h, 3, 0, 0, w, hh, 0), OK);
	assert_int_equal(h->n_updates, 3);
	assert_int_equal(h->n_changing, changing + 1);
	struct h_update *u = &h->updates[2];
	assert_int_equal(u->rect.x, 7);
	assert_int_equal(u->rect.y, 4);
	assert_int_equal(u->rect.width, 5);
	assert_int_equal(u->rect.height, 3);
	assert_update_is(u, 0x444444);
	assert_false(kr_gpu_present_pending(h->gpu));

	/* Flushed, then the resource goes: its frame is reported first. */
	assert_int_equal(h_flush(h, 3, 0, 0, 2, 2), OK);
	assert_int_equal(h_unref(h, 3), OK);
	assert_int_equal(h->n_updates, 4);
	assert_update_is(&h->updates[3], 0x555555);
	assert_int_equal(h->n_disable, 1);
	assert_false(kr_gpu_present_pending(h->gpu));
	assert_int_equal(kr_gpu_present(h->gpu), 0);
	h_free(h);
}

/* Sleep until the fence fd says fences retired (virglrenderer's thread
   retires them), then let the device retire them. */
static void
wait_fences(struct harness *h)
{
	struct pollfd p = {.fd = kr_gpu_fence_fd(h->gpu), .events = POLLIN};

	assert_true(p.fd >= 0);
	assert_int_equal(poll(&p, 1, 10000), 1); /* woken, not timed out */
	kr_gpu_poll(h->gpu);
}

static void
test_fences_in_order(void **state)
{
	struct harness *h = vnew();
	struct virtio_gpu_ctrl_hdr q[3];
	uint8_t resp[3][512];
	struct iovec in[3], out[3];
	size_t n;

	(void)state;
	for (int i = 0; i < 3; i++) {
		q[i] = (struct virtio_gpu_ctrl_hdr){.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO,
						    .flags = VIRTIO_GPU_FLAG_FENCE,
						    .fence_id = 100 + (uint64_t)i};
		in[i] = (struct iovec){&q[i], sizeof(q[i])};
		out[i] = (struct iovec){resp[i], sizeof(resp[i])};
		struct kr_chain chain = {&in[i], 1, &out[i], 1, (uint64_t)i};
		int ret = kr_gpu_ctrl(h->gpu, &chain, &n);
		assert_true(ret == 0 || ret == -EINPROGRESS);
	}
	for (int i = 0; i < 50 && h->n_fences < 3; i++)
		wait_fences(h);
	assert_int_equal(h->n_fences, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(h->fences[i], 100 + i);
	for (unsigned i = 0; i < h->n_done; i++)
		assert_int_equal(h->done_cookies[i], i + (3 - h->n_done));
	h_free(h);
}

/* The fence fd wakes a loop that sleeps: after a fenced request, poll(2)
   on it returns (no timer), and kr_gpu_poll then retires the fence and
   drains the fd. */
static void
test_fence_fd_wakes(void **state)
{
	struct harness *h = vnew();
	struct virtio_gpu_ctrl_hdr q = {.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO,
					.flags = VIRTIO_GPU_FLAG_FENCE,
					.fence_id = 7};
	uint8_t resp[512];
	struct iovec in = {&q, sizeof(q)}, out = {resp, sizeof(resp)};
	struct kr_chain chain = {&in, 1, &out, 1, 1};
	size_t n;

	(void)state;
	int fd = kr_gpu_fence_fd(h->gpu);
	assert_true(fd >= 0);
	int ret = kr_gpu_ctrl(h->gpu, &chain, &n);
	assert_true(ret == 0 || ret == -EINPROGRESS);
	for (int i = 0; i < 50 && h->n_fences == 0; i++)
		wait_fences(h);
	assert_int_equal(h->n_fences, 1);
	assert_int_equal(h->fences[0], 7);
	/* Drained: nothing more to say. */
	struct pollfd p = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 0), 0);
	assert_int_equal(kr_gpu_fence_fd(h->gpu), fd); /* the same fd while the device lives */
	h_free(h);
}

/* Fences of the device before a reset retire after it: the new driver's
   request (fence ids from 1 again) completes once, by its own fence. */
static void
test_fences_across_reset(void **state)
{
	struct harness *h = vnew();
	struct virtio_gpu_ctrl_hdr q[2];
	uint8_t resp[2][512];
	struct iovec in[2], out[2];
	size_t n;

	(void)state;
	for (int i = 0; i < 2; i++) {
		q[i] = (struct virtio_gpu_ctrl_hdr){.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO,
						    .flags = VIRTIO_GPU_FLAG_FENCE,
						    .fence_id = i ? 1 : 500};
		in[i] = (struct iovec){&q[i], sizeof(q[i])};
		out[i] = (struct iovec){resp[i], sizeof(resp[i])};
		struct kr_chain chain = {&in[i], 1, &out[i], 1, 10 + (uint64_t)i};
		assert_int_equal(kr_gpu_ctrl(h->gpu, &chain, &n), -EINPROGRESS);
		if (i == 0)
			kr_gpu_reset(h->gpu); /* the fence stays in flight in virglrenderer */
	}
	for (int i = 0; i < 50 && h->n_done < 1; i++)
		wait_fences(h);
	for (int i = 0; i < 20; i++)
		kr_gpu_poll(h->gpu); /* anything late would show now */
	assert_int_equal(h->n_done, 1);
	assert_int_equal(h->done_cookies[0], 11);
	assert_int_equal(h->n_fences, 1);
	assert_int_equal(h->fences[0], 1);
	struct kr_gpu_stats st;
	kr_gpu_get_stats(h->gpu, &st);
	assert_int_equal(st.pending, 0);
	h_free(h);
}

int
main(void)
{
	/* Keep Mesa's driver mapped after EGL closes it, so that LeakSanitizer
	   can name (and tests/lsan.supp suppress) its process-lifetime
	   allocations. */
	dlopen("/usr/lib/x86_64-linux-gnu/dri/swrast_dri.so", RTLD_NOW | RTLD_NODELETE);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_and_capsets),
		cmocka_unit_test(test_contexts),
		cmocka_unit_test(test_transfer_round_trip),
		cmocka_unit_test(test_submit_hostile),
		cmocka_unit_test(test_scanout_readback),
		cmocka_unit_test(test_fences_in_order),
		cmocka_unit_test(test_fences_across_reset),
		cmocka_unit_test(test_3d_charge),
		cmocka_unit_test(test_fence_fd_wakes),
		cmocka_unit_test(test_deferred_readback),
	};
	return cmocka_run_group_tests_name("virgl", tests, NULL, NULL);
}
