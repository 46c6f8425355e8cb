/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the cursor queue.
 *
 * Each input sets up a few resources (64x64 and other sizes, any format, with
 * or without backing and content), then runs up to MAX_OPS steps: a cursor
 * command built from the input (UPDATE, MOVE or any type, numbers biased to
 * the edges, request chunked or cut short), or a control command that pulls
 * the rug (unref, detach, reset, scanout change).  Invariants: the cursor
 * queue never answers, the cursor callback names a real scanout and its
 * 64x64 image is readable in full, and the cursor only ever shows a live
 * 64x64 resource.
 */
#include <errno.h>
#include <linux/virtio_gpu.h>
#include <sys/uio.h>

#include "core/gpu.h"
#include "fuzz.h"

#define MAX_OPS	   64
#define MAX_CHUNKS 5
#define GPA	   0x100000ull
#define MEM	   (1ull << 20)

static uint8_t *g_mem; /* the fuzzer process's guest memory, never freed */

struct state {
	struct fz in;
	unsigned n_cursor;
	uint32_t num_scanouts;
};

static void
cb_cursor(void *user, const struct kr_cursor_info *c)
{
	struct state *s = user;

	s->n_cursor++;
	FZ_CHECK(c->scanout_id < s->num_scanouts);
	if (c->pixels) {
		const volatile uint8_t *p = c->pixels;
		unsigned sum = 0;

		FZ_CHECK(c->visible && c->stride >= KR_CURSOR_SIZE * 4);
		for (size_t y = 0; y < KR_CURSOR_SIZE; y++)
			for (size_t x = 0; x < KR_CURSOR_SIZE * 4; x++)
				sum += p[y * c->stride + x];
		(void)sum;
	}
}

static void
cb_log(void *user, enum kr_log_level level, const char *msg)
{
	(void)user;
	(void)level;
	(void)msg;
}

/* A control command from a contiguous buffer; returns the response type. */
static uint32_t
ctrl(struct kr_gpu *gpu, const void *req, size_t len)
{
	struct virtio_gpu_ctrl_hdr r = {0};
	struct iovec in = {(void *)req, len}, out = {&r, sizeof(r)};
	struct kr_chain ch = {&in, 1, &out, 1, 0};
	size_t n = 0;

	FZ_CHECK(kr_gpu_ctrl(gpu, &ch, &n) == 0 && n == sizeof(r));
	return r.type;
}

static uint32_t
fz_small(struct fz *f)
{
	uint8_t sel = fz_u8(f);

	if (sel < 160)
		return KR_CURSOR_SIZE;
	if (sel < 230)
		return fz_u8(f);
	return fz_val32(f);
}

static void
make_resource(struct fz *f, struct kr_gpu *gpu, uint32_t id)
{
	uint8_t sel = fz_u8(f);
	struct virtio_gpu_resource_create_2d c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
		.resource_id = id,
		.format = sel < 128 ? VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM : 1 + fz_u8(f) % 134,
		.width = fz_small(f),
		.height = fz_small(f),
	};
	struct {
		struct virtio_gpu_resource_attach_backing a;
		struct virtio_gpu_mem_entry e;
	} at = {{{.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING}, id, 1},
		{GPA + fz_u8(f) * 4096ull, (uint32_t)fz_val32(f), 0}};
	struct virtio_gpu_transfer_to_host_2d t = {
		.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
		.r = {0, 0, c.width, c.height},
		.resource_id = id,
	};

	if (ctrl(gpu, &c, sizeof(c)) != VIRTIO_GPU_RESP_OK_NODATA || (sel & 1))
		return;
	if (fz_u8(f) < 128)
		at.e.length = 64 * 64 * 4;
	if (ctrl(gpu, &at, sizeof(at)) == VIRTIO_GPU_RESP_OK_NODATA && (sel & 2))
		ctrl(gpu, &t, sizeof(t));
}

static void
step_cursor(struct state *s, struct kr_gpu *gpu)
{
	struct fz *f = &s->in;
	struct virtio_gpu_update_cursor q = {0};
	struct iovec in[MAX_CHUNKS], out = {NULL, 0};
	uint8_t sel = fz_u8(f), buf[sizeof(q)];
	size_t len = sizeof(q), n_in, at = 0, resp_len = 99;

	q.hdr.type = sel < 100	 ? VIRTIO_GPU_CMD_UPDATE_CURSOR
		     : sel < 200 ? VIRTIO_GPU_CMD_MOVE_CURSOR
				 : fz_val32(f);
	q.hdr.flags = fz_u8(f) < 240 ? 0 : fz_val32(f);
	q.pos.scanout_id = fz_u8(f) < 200 ? fz_u8(f) % 3 : fz_val32(f);
	q.pos.x = fz_val32(f);
	q.pos.y = fz_val32(f);
	q.resource_id = fz_u8(f) < 230 ? fz_u8(f) % 5 : fz_val32(f);
	q.hot_x = fz_val32(f);
	q.hot_y = fz_val32(f);
	memcpy(buf, &q, sizeof(q));
	if (fz_u8(f) >= 240)
		len = fz_below(f, sizeof(q) + 1);
	n_in = 1 + fz_below(f, MAX_CHUNKS);
	for (size_t i = 0; i < n_in; i++) {
		size_t sz = i == n_in - 1 ? len - at : fz_below(f, (uint32_t)(len - at) + 1);
		in[i].iov_base = malloc(sz ? sz : 1);
		FZ_CHECK(in[i].iov_base);
		memcpy(in[i].iov_base, buf + at, sz);
		in[i].iov_len = sz;
		at += sz;
	}
	struct kr_chain ch = {in, n_in, &out, fz_u8(f) & 1, 0};
	FZ_CHECK(kr_gpu_cursor(gpu, &ch, &resp_len) == 0 && resp_len == 0);
	for (size_t i = 0; i < n_in; i++)
		free(in[i].iov_base);
}

static void
step_ctrl(struct state *s, struct kr_gpu *gpu)
{
	struct fz *f = &s->in;
	uint32_t id = 1 + fz_u8(f) % 4;
	struct virtio_gpu_resource_unref u = {{.type = VIRTIO_GPU_CMD_RESOURCE_UNREF}, id, 0};
	struct virtio_gpu_resource_detach_backing d = {
		{.type = VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING}, id, 0};
	struct virtio_gpu_set_scanout so = {{.type = VIRTIO_GPU_CMD_SET_SCANOUT},
					    {0, 0, KR_CURSOR_SIZE, KR_CURSOR_SIZE},
					    fz_u8(f) % 2,
					    id};

	switch (fz_u8(f) % 5) {
	case 0: ctrl(gpu, &u, sizeof(u)); break;
	case 1: ctrl(gpu, &d, sizeof(d)); break;
	case 2: ctrl(gpu, &so, sizeof(so)); break;
	case 3: make_resource(f, gpu, id); break;
	default: kr_gpu_reset(gpu); break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state s = {.in = {data, size}};
	struct fz *f = &s.in;
	struct kr_gpu_config cfg;
	struct kr_gpu *gpu = NULL;
	struct kr_gpu_callbacks cbs = {
		.version = KR_GPU_CALLBACKS_VERSION, .cursor = cb_cursor, .log = cb_log};

	if (!g_mem) {
		g_mem = malloc(MEM);
		FZ_CHECK(g_mem);
	}
	memset(g_mem, fz_u8(f), MEM);
	kr_gpu_config_init(&cfg);
	cfg.num_scanouts = s.num_scanouts = 1 + fz_u8(f) % 2;
	cfg.scanouts[1] = (struct kr_scanout_config){640, 480, true};
	cfg.max_hostmem = 4u << 20;
	cfg.log_level = KR_LOG_DEBUG;
	FZ_CHECK(kr_gpu_create(&cfg, &cbs, &s, &gpu) == 0);
	struct kr_mem_region r = {GPA, MEM, g_mem};
	FZ_CHECK(kr_gpu_set_memory(gpu, &r, 1) == 0);

	for (uint32_t id = 1; id <= 4; id++)
		make_resource(f, gpu, id);
	for (unsigned op = 0; op < MAX_OPS && f->n; op++) {
		if (fz_u8(f) < 200)
			step_cursor(&s, gpu);
		else
			step_ctrl(&s, gpu);
		uint32_t cid = gpu->cursor.resource_id;
		if (cid) {
			const struct resource *res = restab_lookup(&gpu->resources, cid);
			FZ_CHECK(res && res->width == KR_CURSOR_SIZE &&
				 res->height == KR_CURSOR_SIZE);
		}
	}
	kr_gpu_destroy(gpu);
	return 0;
}
