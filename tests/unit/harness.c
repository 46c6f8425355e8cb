/* SPDX-License-Identifier: MIT */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void
cb_fence(void *user, uint64_t fence_id, uint32_t ctx_id, uint8_t ring_idx)
{
	struct harness *h = user;

	(void)ctx_id;
	(void)ring_idx;
	if (h->n_fences < H_MAX_EVENTS)
		h->fences[h->n_fences] = fence_id;
	h->n_fences++;
}

static void
cb_done(void *user, uint64_t cookie, size_t len)
{
	struct harness *h = user;

	if (h->n_done < H_MAX_EVENTS) {
		h->done_cookies[h->n_done] = cookie;
		h->done_len[h->n_done] = len;
	}
	h->n_done++;
}

static void
cb_scanout_set(void *user, uint32_t scanout_id, const struct kr_scanout_info *info)
{
	struct harness *h = user;

	assert_true(scanout_id < KR_MAX_SCANOUTS);
	/* Like a display that defers its copies: the old pixels are not read
	   again once the scanout is set anew. */
	if (info) {
		assert_int_equal(info->scanout_id, scanout_id);
		h->n_set++;
		h->last_set = *info;
		h->held[scanout_id] = *info;
		h->scanout_on[scanout_id] = true;
	} else {
		h->n_disable++;
		h->scanout_on[scanout_id] = false;
		h->held[scanout_id] = (struct kr_scanout_info){0};
	}
}

static void
cb_update(void *user, const struct kr_scanout_info *info, const struct kr_rect *r)
{
	struct harness *h = user;

	assert_true(r->x + r->width <= info->width);
	assert_true(r->y + r->height <= info->height);
	h->update_src = info->pixels;
	h->update_stride = info->stride;
	if (h->n_updates < H_MAX_EVENTS) {
		struct h_update *u = &h->updates[h->n_updates];
		u->scanout_id = info->scanout_id;
		u->rect = *r;
		u->format = info->format;
		u->width = info->width;
		u->height = info->height;
		u->pixels = malloc((size_t)r->width * r->height * 4 + 1);
		assert_non_null(u->pixels);
		for (uint32_t y = 0; y < r->height; y++)
			memcpy(u->pixels + (size_t)y * r->width * 4,
			       (const uint8_t *)info->pixels + (size_t)(r->y + y) * info->stride +
				       (size_t)r->x * 4,
			       (size_t)r->width * 4);
	}
	h->n_updates++;
}

static void
cb_cursor(void *user, const struct kr_cursor_info *c)
{
	struct harness *h = user;

	h->n_cursor++;
	h->last_cursor = *c;
	h->cursor_had_pixels = c->pixels != NULL;
	if (c->pixels) {
		for (int y = 0; y < 64; y++)
			memcpy(h->cursor_pixels + y * 256,
			       (const uint8_t *)c->pixels + y * c->stride, 256);
	}
	h->last_cursor.pixels = NULL;
}

static void
cb_changing(void *user, const struct kr_scanout_info *info)
{
	struct harness *h = user;

	h->n_changing++;
	h->changing_scanout = info->scanout_id;
	assert_true(info->scanout_id < KR_MAX_SCANOUTS);
	/* A deferring display copies what it holds now: the library must call
	   this while those pixels are alive, i.e. for the shown resource before
	   it switches (ASan catches a read of freed pixels here). */
	const struct kr_scanout_info *held = &h->held[info->scanout_id];
	if (!held->pixels)
		return;
	if (held->resource_id != info->resource_id || held->pixels != info->pixels)
		h->n_changing_stale++;
	for (uint32_t y = 0; y < held->height; y++)
		memcpy(h->changing_row, (const uint8_t *)held->pixels + (size_t)y * held->stride,
		       (size_t)held->width * 4 < sizeof(h->changing_row) ? (size_t)held->width * 4
									 : sizeof(h->changing_row));
}

static void
cb_config(void *user)
{
	struct harness *h = user;

	h->n_config_changed++;
}

static void
cb_log(void *user, enum kr_log_level level, const char *msg)
{
	struct harness *h = user;

	(void)level;
	h->n_logs++;
	snprintf(h->last_log, sizeof(h->last_log), "%s", msg);
}

static int
cb_map_blob(void *user, const struct kr_blob_map *m)
{
	struct harness *h = user;

	h->n_maps++;
	h->last_map = *m;
	memset(h->map_fd_bytes, 0, sizeof(h->map_fd_bytes));
	if (m->fd >= 0)
		assert_int_equal(
			pread(m->fd, h->map_fd_bytes, sizeof(h->map_fd_bytes), (off_t)m->fd_offset),
			sizeof(h->map_fd_bytes));
	return h->map_result;
}

static int
cb_unmap_blob(void *user, uint64_t offset, uint64_t size)
{
	struct harness *h = user;

	h->n_unmaps++;
	h->last_unmap_offset = offset;
	h->last_unmap_size = size;
	return 0;
}

const struct kr_gpu_callbacks h_callbacks = {
	.version = KR_GPU_CALLBACKS_VERSION,
	.ctrl_done = cb_done,
	.fence_done = cb_fence,
	.scanout_set = cb_scanout_set,
	.scanout_update = cb_update,
	.cursor = cb_cursor,
	.config_changed = cb_config,
	.log = cb_log,
	.scanout_changing = cb_changing,
	.map_blob = cb_map_blob,
	.unmap_blob = cb_unmap_blob,
};

struct harness *
h_new(const struct kr_gpu_config *cfg)
{
	return h_new_flags(cfg, 0);
}

struct harness *
h_new_flags(const struct kr_gpu_config *cfg, uint32_t cb_flags)
{
	struct kr_gpu_callbacks cbs = h_callbacks;
	struct kr_gpu_config def;
	struct harness *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	if (!cfg) {
		kr_gpu_config_init(&def);
		cfg = &def;
	}
	h->mem_a = calloc(1, H_SIZE_A);
	h->mem_b = calloc(1, H_SIZE_B);
	h->mem_c = calloc(1, H_SIZE_C);
	assert_non_null(h->mem_a);
	assert_non_null(h->mem_b);
	assert_non_null(h->mem_c);
	cbs.flags = cb_flags;
	assert_int_equal(kr_gpu_create(cfg, &cbs, h, &h->gpu), 0);
	struct kr_mem_region regions[] = {
		{H_GPA_C, H_SIZE_C, h->mem_c},
		{H_GPA_A, H_SIZE_A, h->mem_a},
		{H_GPA_B, H_SIZE_B, h->mem_b},
	};
	assert_int_equal(kr_gpu_set_memory(h->gpu, regions, 3), 0);
	h->next_gpa = H_GPA_A;
	return h;
}

void
h_free(struct harness *h)
{
	if (!h)
		return;
	kr_gpu_destroy(h->gpu);
	for (unsigned i = 0; i < h->n_updates && i < H_MAX_EVENTS; i++)
		free(h->updates[i].pixels);
	free(h->mem_a);
	free(h->mem_b);
	free(h->mem_c);
	free(h);
}

void *
h_host(struct harness *h, uint64_t gpa)
{
	if (gpa >= H_GPA_A && gpa < H_GPA_A + H_SIZE_A)
		return h->mem_a + (gpa - H_GPA_A);
	if (gpa >= H_GPA_B && gpa < H_GPA_B + H_SIZE_B)
		return h->mem_b + (gpa - H_GPA_B);
	if (gpa >= H_GPA_C && gpa < H_GPA_C + H_SIZE_C)
		return h->mem_c + (gpa - H_GPA_C);
	fail_msg("gpa 0x%llx not in test memory", (unsigned long long)gpa);
	return NULL;
}

uint64_t
h_alloc(struct harness *h, uint64_t size)
{
	uint64_t gpa = h->next_gpa;

	size = (size + 4095) & ~4095ull;
	assert_true(gpa + size <= H_GPA_B + H_SIZE_B);
	h->next_gpa += size;
	return gpa;
}

uint32_t
h_send(struct harness *h, const void *req, size_t len, void *resp, size_t cap, size_t *resp_len)
{
	struct iovec in = {(void *)req, len};
	struct iovec out = {resp, cap};
	struct kr_chain chain = {&in, 1, &out, cap ? 1 : 0, 0};
	size_t n = 0;

	memset(resp, 0xa5, cap); /* catch bytes the device fails to write */
	assert_int_equal(kr_gpu_ctrl(h->gpu, &chain, &n), 0);
	assert_true(n <= cap);
	if (resp_len)
		*resp_len = n;
	if (n < 4)
		return 0;
	uint32_t type;
	memcpy(&type, resp, 4);
	return type;
}

uint32_t
h_cmd(struct harness *h, const void *req, size_t len)
{
	uint8_t resp[sizeof(struct virtio_gpu_resp_edid)];
	size_t n;
	uint32_t type = h_send(h, req, len, resp, sizeof(resp), &n);

	/* Every plain response is exactly a header. */
	if (type == VIRTIO_GPU_RESP_OK_NODATA || type >= VIRTIO_GPU_RESP_ERR_UNSPEC)
		assert_int_equal(n, sizeof(struct virtio_gpu_ctrl_hdr));
	return type;
}

uint32_t
h_send_chunked(struct harness *h, const void *req, size_t len, size_t chunk, void *resp, size_t cap)
{
	size_t n_in = (len + chunk - 1) / chunk, n_out = (cap + chunk - 1) / chunk;
	struct iovec *in = calloc(n_in + 1, sizeof(*in)), *out = calloc(n_out + 1, sizeof(*out));
	size_t n = 0;

	assert_non_null(in);
	assert_non_null(out);
	for (size_t i = 0; i < n_in; i++) {
		in[i].iov_base = (uint8_t *)req + i * chunk;
		in[i].iov_len = ((len - i * chunk) < chunk ? (len - i * chunk) : chunk);
	}
	for (size_t i = 0; i < n_out; i++) {
		out[i].iov_base = (uint8_t *)resp + i * chunk;
		out[i].iov_len = ((cap - i * chunk) < chunk ? (cap - i * chunk) : chunk);
	}
	struct kr_chain chain = {in, n_in, out, n_out, 0};
	memset(resp, 0xa5, cap);
	assert_int_equal(kr_gpu_ctrl(h->gpu, &chain, &n), 0);
	free(in);
	free(out);
	uint32_t type = 0;
	if (n >= 4)
		memcpy(&type, resp, 4);
	return type;
}

struct virtio_gpu_ctrl_hdr
h_hdr(uint32_t type)
{
	return (struct virtio_gpu_ctrl_hdr){.type = type};
}

uint32_t
h_create_2d(struct harness *h, uint32_t id, uint32_t format, uint32_t w, uint32_t hgt)
{
	struct virtio_gpu_resource_create_2d c = {
		.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D),
		.resource_id = id,
		.format = format,
		.width = w,
		.height = hgt,
	};
	return h_cmd(h, &c, sizeof(c));
}

uint32_t
h_unref(struct harness *h, uint32_t id)
{
	struct virtio_gpu_resource_unref c = {.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_UNREF),
					      .resource_id = id};
	return h_cmd(h, &c, sizeof(c));
}

uint32_t
h_attach(struct harness *h, uint32_t id, const uint64_t *gpas, const uint32_t *lens, uint32_t n)
{
	size_t len = sizeof(struct virtio_gpu_resource_attach_backing) +
		     (size_t)n * sizeof(struct virtio_gpu_mem_entry);
	uint8_t *buf = calloc(1, len);
	struct virtio_gpu_resource_attach_backing a = {
		.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING),
		.resource_id = id,
		.nr_entries = n,
	};

	assert_non_null(buf);
	memcpy(buf, &a, sizeof(a));
	for (uint32_t i = 0; i < n; i++) {
		struct virtio_gpu_mem_entry e = {.addr = gpas[i], .length = lens[i]};
		memcpy(buf + sizeof(a) + i * sizeof(e), &e, sizeof(e));
	}
	uint32_t type = h_cmd(h, buf, len);
	free(buf);
	return type;
}

uint64_t
h_attach_new(struct harness *h, uint32_t id, uint64_t size)
{
	uint64_t gpa = h_alloc(h, size);
	uint32_t len = (uint32_t)size;

	if (h_attach(h, id, &gpa, &len, 1) != VIRTIO_GPU_RESP_OK_NODATA)
		return 0;
	return gpa;
}

uint32_t
h_detach(struct harness *h, uint32_t id)
{
	struct virtio_gpu_resource_detach_backing c = {
		.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING), .resource_id = id};
	return h_cmd(h, &c, sizeof(c));
}

uint32_t
h_transfer(struct harness *h, uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t hgt,
	   uint64_t offset)
{
	struct virtio_gpu_transfer_to_host_2d c = {
		.hdr = h_hdr(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D),
		.r = {x, y, w, hgt},
		.offset = offset,
		.resource_id = id,
	};
	return h_cmd(h, &c, sizeof(c));
}

uint32_t
h_set_scanout(struct harness *h, uint32_t scanout, uint32_t id, uint32_t x, uint32_t y, uint32_t w,
	      uint32_t hgt)
{
	struct virtio_gpu_set_scanout c = {
		.hdr = h_hdr(VIRTIO_GPU_CMD_SET_SCANOUT),
		.r = {x, y, w, hgt},
		.scanout_id = scanout,
		.resource_id = id,
	};
	return h_cmd(h, &c, sizeof(c));
}

uint32_t
h_flush(struct harness *h, uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t hgt)
{
	struct virtio_gpu_resource_flush c = {
		.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_FLUSH),
		.r = {x, y, w, hgt},
		.resource_id = id,
	};
	return h_cmd(h, &c, sizeof(c));
}

void
h_cursor(struct harness *h, uint32_t type, uint32_t scanout, uint32_t id, uint32_t x, uint32_t y,
	 uint32_t hot_x, uint32_t hot_y)
{
	struct virtio_gpu_update_cursor c = {
		.hdr = h_hdr(type),
		.pos = {scanout, x, y, 0},
		.resource_id = id,
		.hot_x = hot_x,
		.hot_y = hot_y,
	};
	struct iovec in = {&c, sizeof(c)};
	struct kr_chain chain = {&in, 1, NULL, 0, 0};
	size_t n = 99;

	assert_int_equal(kr_gpu_cursor(h->gpu, &chain, &n), 0);
	assert_int_equal(n, 0);
}
