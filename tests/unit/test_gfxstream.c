/* SPDX-License-Identifier: MIT */
/*
 * The gfxstream backend over the fake library (tests/fake-gfxstream): the
 * dlopen path, argument marshalling, capsets (a library that leaves max_ver
 * untouched), context init, blob create -> map -> MAP_BLOB, hostile map
 * offsets, fences from another thread, synchronously inside create_fence,
 * and out of order; the seed's 3D-resource pipe mode and scanout readback.
 */
#include <dlfcn.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpu.h"
#include "harness.h"

#define OK    VIRTIO_GPU_RESP_OK_NODATA
#define PARAM VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER
#define FMT   VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM

static struct {
	void *h;
	void (*set_mode)(int);
	const char *(*log)(void);
	void (*clear_log)(void);
	unsigned (*fire)(bool);
	unsigned (*live)(void);
} fake;

static void *
sym(const char *name)
{
	void *p = dlsym(fake.h, name);
	assert_non_null(p);
	return p;
}

static int
setup(void **state)
{
	(void)state;
	fake.h = dlopen(FAKE_GS_PATH, RTLD_NOW | RTLD_LOCAL);
	if (!fake.h)
		return -1;
	void *p;
	p = sym("fake_gs_set_fence_mode");
	memcpy(&fake.set_mode, &p, sizeof(p));
	p = sym("fake_gs_log");
	memcpy(&fake.log, &p, sizeof(p));
	p = sym("fake_gs_clear_log");
	memcpy(&fake.clear_log, &p, sizeof(p));
	p = sym("fake_gs_fire");
	memcpy(&fake.fire, &p, sizeof(p));
	p = sym("fake_gs_live_resources");
	memcpy(&fake.live, &p, sizeof(p));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	dlclose(fake.h);
	return 0;
}

static struct harness *
gs_new(int mode, uint64_t window)
{
	struct kr_gpu_config cfg;

	kr_gpu_config_init(&cfg);
	cfg.backend = "gfxstream";
	cfg.backends.gfxstream.lib = FAKE_GS_PATH;
	cfg.hostmem_window = window;
	fake.set_mode(mode);
	fake.clear_log();
	return h_new(&cfg);
}

static void
gs_free(struct harness *h)
{
	h_free(h);
	assert_non_null(strstr(fake.log(), "teardown"));
	assert_int_equal(fake.live(), 0);
}

static bool
logged(const char *line)
{
	return strstr(fake.log(), line) != NULL;
}

static uint32_t
ctx_create(struct harness *h, uint32_t ctx, uint32_t init, const char *name)
{
	struct virtio_gpu_ctx_create q = {.hdr = h_hdr(VIRTIO_GPU_CMD_CTX_CREATE),
					  .nlen = (uint32_t)strlen(name),
					  .context_init = init};
	q.hdr.ctx_id = ctx;
	memcpy(q.debug_name, name, strlen(name));
	return h_cmd(h, &q, sizeof(q));
}

static uint32_t
host_blob(struct harness *h, uint32_t ctx, uint32_t id, uint64_t blob_id, uint64_t size)
{
	struct virtio_gpu_resource_create_blob q = {
		.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB),
		.resource_id = id,
		.blob_mem = VIRTIO_GPU_BLOB_MEM_HOST3D,
		.blob_flags = VIRTIO_GPU_BLOB_FLAG_USE_MAPPABLE,
		.blob_id = blob_id,
		.size = size};
	q.hdr.ctx_id = ctx;
	return h_cmd(h, &q, sizeof(q));
}

static uint32_t
map_blob(struct harness *h, uint32_t id, uint64_t offset, uint32_t *map_info)
{
	struct virtio_gpu_resource_map_blob q = {.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB),
						 .resource_id = id,
						 .offset = offset};
	struct virtio_gpu_resp_map_info r = {0};
	uint32_t type = h_send(h, &q, sizeof(q), &r, sizeof(r), NULL);
	if (map_info)
		*map_info = r.map_info;
	return type;
}

static uint32_t
unmap_blob(struct harness *h, uint32_t id)
{
	struct virtio_gpu_resource_unmap_blob q = {.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB),
						   .resource_id = id};
	return h_cmd(h, &q, sizeof(q));
}

static void
test_missing_library(void **state)
{
	struct kr_gpu_config cfg;
	struct kr_gpu *gpu = NULL;

	(void)state;
	kr_gpu_config_init(&cfg);
	cfg.backend = "gfxstream";
	cfg.backends.gfxstream.lib = "/nonexistent/libgfxstream_backend.so.0";
	cfg.log_level = KR_LOG_ERROR;
	struct harness rec = {0};
	assert_int_equal(kr_gpu_create(&cfg, &h_callbacks, &rec, &gpu), -ENOENT);
	assert_null(gpu);
	assert_non_null(strstr(rec.last_log, "cannot start"));
	/* A library without the ABI: libc has no stream_renderer_init. */
	cfg.backends.gfxstream.lib = "libc.so.6";
	assert_int_equal(kr_gpu_create(&cfg, &h_callbacks, &rec, &gpu), -ENOEXEC);
}

/* The config's versions: a version 3 struct still names the library and
   flags in its flat fields; version 4 takes them from .backends and
   refuses the flat ones (they would be ignored). */
static void
test_config_versions(void **state)
{
	struct kr_gpu_config cfg;
	struct kr_gpu *gpu = NULL;
	struct harness rec = {0};

	(void)state;
	kr_gpu_config_init(&cfg);
	cfg.version = 3;
	cfg.backend = "gfxstream";
	cfg.gfxstream_lib = FAKE_GS_PATH;
	cfg.gfxstream_flags = 0xe8;
	fake.clear_log();
	assert_int_equal(kr_gpu_create(&cfg, &h_callbacks, &rec, &gpu), 0);
	assert_true(logged("flags=0xe8"));
	kr_gpu_destroy(gpu);
	gpu = NULL;
	cfg.version = 4; /* flat fields set: refused, saying where they went */
	assert_int_equal(kr_gpu_create(&cfg, &h_callbacks, &rec, &gpu), -EINVAL);
	assert_null(gpu);
	assert_non_null(strstr(rec.last_log, ".backends"));
	cfg.gfxstream_lib = NULL;
	cfg.gfxstream_flags = 0;
	cfg.backends.gfxstream.lib = FAKE_GS_PATH;
	cfg.backends.gfxstream.flags = KR_GFXSTREAM_FLAGS_FD_BLOBS;
	fake.clear_log();
	assert_int_equal(kr_gpu_create(&cfg, &h_callbacks, &rec, &gpu), 0);
	assert_true(logged("flags=0xe8"));
	kr_gpu_destroy(gpu);
}

static void
test_init_and_capsets(void **state)
{
	struct harness *h = gs_new(0, 0);
	uint32_t ncaps = 0;

	(void)state;
	/* user data, flags VK|SURFACELESS, fence callback */
	assert_true(logged("init n=3 flags=0x28 user=1 cb=1"));
	uint64_t f = kr_gpu_features(h->gpu);
	assert_true(f & (1ull << VIRTIO_GPU_F_CONTEXT_INIT));
	assert_true(f & (1ull << VIRTIO_GPU_F_RESOURCE_BLOB));
	assert_true(f & (1ull << VIRTIO_GPU_F_VIRGL));
	/* Capset 8 left max_ver/max_size untouched and 9 is empty: only 3. */
	assert_int_equal(kr_gpu_config_read(h->gpu, 12, &ncaps, 4), 0);
	assert_int_equal(ncaps, 1);
	struct virtio_gpu_get_capset_info qi = {.hdr = h_hdr(VIRTIO_GPU_CMD_GET_CAPSET_INFO)};
	struct virtio_gpu_resp_capset_info ri;
	assert_int_equal(h_send(h, &qi, sizeof(qi), &ri, sizeof(ri), NULL),
			 VIRTIO_GPU_RESP_OK_CAPSET_INFO);
	assert_int_equal(ri.capset_id, 3);
	assert_int_equal(ri.capset_max_version, 1);
	assert_int_equal(ri.capset_max_size, 104);
	qi.capset_index = 1;
	assert_int_equal(h_send(h, &qi, sizeof(qi), &ri, sizeof(ri), NULL),
			 VIRTIO_GPU_RESP_OK_CAPSET_INFO);
	assert_int_equal(ri.capset_id, 0);
	struct virtio_gpu_get_capset q = {
		.hdr = h_hdr(VIRTIO_GPU_CMD_GET_CAPSET), .capset_id = 3, .capset_version = 1};
	uint8_t resp[sizeof(struct virtio_gpu_ctrl_hdr) + 104];
	size_t n;
	assert_int_equal(h_send(h, &q, sizeof(q), resp, sizeof(resp), &n),
			 VIRTIO_GPU_RESP_OK_CAPSET);
	assert_int_equal(n, sizeof(resp));
	for (int i = 0; i < 104; i++)
		assert_int_equal(resp[sizeof(struct virtio_gpu_ctrl_hdr) + i], i + 1);
	q.capset_id = 8;
	assert_int_equal(h_cmd(h, &q, sizeof(q)), PARAM);
	q.capset_id = 3;
	q.capset_version = 2;
	assert_int_equal(h_cmd(h, &q, sizeof(q)), PARAM);
	/* One device per process. */
	struct kr_gpu_config cfg;
	struct kr_gpu *second = NULL;
	kr_gpu_config_init(&cfg);
	cfg.backend = "gfxstream";
	cfg.backends.gfxstream.lib = FAKE_GS_PATH;
	assert_int_equal(kr_gpu_create(&cfg, NULL, NULL, &second), -EBUSY);
	gs_free(h);
}

static void
test_contexts_and_submit(void **state)
{
	struct harness *h = gs_new(0, 0);

	(void)state;
	assert_int_equal(ctx_create(h, 5, 3, "vkcube"), OK);
	assert_true(logged("context_create 5 nlen=6 name=vkcube init=3"));
	assert_int_equal(ctx_create(h, 5, 3, "again"), VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);
	assert_int_equal(ctx_create(h, 0, 3, "zero"), VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);
	/* Capsets the library does not offer. */
	assert_int_equal(ctx_create(h, 6, 8, "gles"), PARAM);
	assert_int_equal(ctx_create(h, 6, 200, "bad"), PARAM);
	/* Only the low 8 bits carry the capset. */
	assert_int_equal(ctx_create(h, 6, 0x103, "high"), OK);
	assert_true(logged("context_create 6 nlen=4 name=high init=3"));

	struct {
		struct virtio_gpu_cmd_submit q;
		uint32_t words[4];
	} s = {.q = {.hdr = h_hdr(VIRTIO_GPU_CMD_SUBMIT_3D), .size = 16},
	       .words = {0xcafe0001, 2, 3, 4}};
	s.q.hdr.ctx_id = 5;
	assert_int_equal(h_cmd(h, &s, sizeof(s)), OK);
	assert_true(logged("submit_cmd ctx=5 size=16 first=0xcafe0001 fences=0"));
	s.q.size = 0xffffffffu;
	assert_int_equal(h_cmd(h, &s, sizeof(s)), PARAM);
	s.q.size = 20; /* more than the request holds */
	assert_int_equal(h_cmd(h, &s, sizeof(s)), PARAM);
	s.q.size = 16;
	s.q.hdr.ctx_id = 9;
	assert_int_equal(h_cmd(h, &s, sizeof(s)), VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);

	struct virtio_gpu_ctx_destroy d = {.hdr = h_hdr(VIRTIO_GPU_CMD_CTX_DESTROY)};
	d.hdr.ctx_id = 6;
	assert_int_equal(h_cmd(h, &d, sizeof(d)), OK);
	assert_true(logged("context_destroy 6"));
	gs_free(h);
	/* Contexts alive at teardown are destroyed first. */
	assert_true(logged("context_destroy 5"));
}

static void
test_blob_map(void **state)
{
	const uint64_t window = 1 << 20;
	struct harness *h = gs_new(0, window);
	uint32_t info = 0;

	(void)state;
	assert_int_equal(ctx_create(h, 1, 3, "ring"), OK);
	assert_int_equal(host_blob(h, 1, 10, 7, 5000), OK);
	assert_true(logged("create_blob 10 ctx=1 mem=2 flags=1 blob_id=7 size=5000 iov=0"));
	/* create_blob "succeeded" but made nothing: caught by mapping it. */
	assert_int_equal(host_blob(h, 1, 11, 0xdead, 4096), PARAM);
	assert_int_equal(fake.live(), 1);
	/* Host blobs need a live context. */
	assert_int_equal(host_blob(h, 2, 11, 8, 4096), VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);

	assert_int_equal(map_blob(h, 10, 0x10000, &info), VIRTIO_GPU_RESP_OK_MAP_INFO);
	assert_int_equal(info, VIRTIO_GPU_MAP_CACHE_WC);
	assert_int_equal(h->n_maps, 1);
	assert_int_equal(h->last_map.offset, 0x10000);
	assert_int_equal(h->last_map.size, 8192); /* 5000 rounded to pages */
	assert_true(h->last_map.fd >= 0);
	assert_non_null(h->last_map.host);
	assert_int_equal(h->last_map.map_info, VIRTIO_GPU_MAP_CACHE_WC);
	/* The fd and the pointer both are the blob's memory: byte i = 7 + i. */
	for (int i = 0; i < 16; i++) {
		assert_int_equal(h->map_fd_bytes[i], 7 + i);
		assert_int_equal(((uint8_t *)h->last_map.host)[i], 7 + i);
	}

	/* Hostile maps: twice, overlapping, unaligned, wrapping, outside. */
	assert_int_equal(map_blob(h, 10, 0x20000, NULL), PARAM);
	assert_int_equal(host_blob(h, 1, 12, 9, 4096), OK);
	assert_int_equal(map_blob(h, 12, 0x11000, NULL), PARAM); /* inside 10's pages */
	assert_int_equal(map_blob(h, 12, 0x10800, NULL), PARAM); /* unaligned */
	assert_int_equal(map_blob(h, 12, 0xfffffffffffff000ull, NULL), PARAM);
	assert_int_equal(map_blob(h, 12, window, NULL), PARAM); /* just past the end */
	assert_int_equal(map_blob(h, 12, window - 4096, NULL), VIRTIO_GPU_RESP_OK_MAP_INFO);
	assert_int_equal(map_blob(h, 99, 0, NULL), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(h->n_maps, 2);

	/* The embedder refusing: the guest gets an error, nothing stays mapped. */
	assert_int_equal(host_blob(h, 1, 13, 10, 4096), OK);
	h->map_result = -ENOSPC;
	assert_int_equal(map_blob(h, 13, 0x40000, NULL), VIRTIO_GPU_RESP_ERR_UNSPEC);
	h->map_result = 0;
	assert_int_equal(map_blob(h, 13, 0x40000, NULL), VIRTIO_GPU_RESP_OK_MAP_INFO);

	/* A host blob on a scanout: its bytes reach the display (blob_read). */
	assert_int_equal(host_blob(h, 1, 14, 1, 4096), OK);
	struct virtio_gpu_set_scanout_blob sb = {.hdr = h_hdr(VIRTIO_GPU_CMD_SET_SCANOUT_BLOB),
						 .r = {0, 0, 16, 16},
						 .resource_id = 14,
						 .width = 16,
						 .height = 16,
						 .format = FMT,
						 .strides = {64}};
	assert_int_equal(h_cmd(h, &sb, sizeof(sb)), OK);
	struct virtio_gpu_resource_flush fl = {.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_FLUSH),
					       .r = {0, 0, 16, 16},
					       .resource_id = 14};
	assert_int_equal(h_cmd(h, &fl, sizeof(fl)), OK);
	assert_int_equal(h->n_updates, 1);
	for (int i = 0; i < 16 * 16 * 4; i++)
		assert_int_equal(h->updates[0].pixels[i], (uint8_t)(1 + i));
	assert_int_equal(h_unref(h, 14), OK);

	assert_int_equal(unmap_blob(h, 10), OK);
	assert_int_equal(h->n_unmaps, 1);
	assert_int_equal(h->last_unmap_offset, 0x10000);
	assert_int_equal(h->last_unmap_size, 8192);
	assert_int_equal(unmap_blob(h, 10), PARAM);
	/* The freed range can be used again. */
	assert_int_equal(map_blob(h, 10, 0x10000, NULL), VIRTIO_GPU_RESP_OK_MAP_INFO);
	/* Unref of a mapped blob unmaps it first. */
	assert_int_equal(h_unref(h, 12), OK);
	assert_int_equal(h->n_unmaps, 2);
	assert_int_equal(h->last_unmap_offset, window - 4096);
	assert_true(logged("resource_unref 12"));
	/* Reset unmaps the rest. */
	kr_gpu_reset(h->gpu);
	assert_int_equal(h->n_unmaps, 4);
	assert_int_equal(fake.live(), 0);
	gs_free(h);
}

static void
test_blob_without_window(void **state)
{
	struct harness *h = gs_new(0, 0);

	(void)state;
	assert_int_equal(ctx_create(h, 1, 3, "x"), OK);
	assert_int_equal(host_blob(h, 1, 10, 7, 4096), OK);
	assert_int_equal(map_blob(h, 10, 0, NULL), PARAM); /* a window of 0 bytes */
	/* A library mapping smaller than the blob is given back (and the blob
	   mapped through its exported fd instead). */
	assert_int_equal(host_blob(h, 1, 12, 0x5a11, 8192), OK);
	assert_true(logged("resource_map 12"));
	assert_true(logged("resource_unmap 12"));
	assert_true(logged("export_blob 12"));
	assert_int_equal(h->n_maps, 0);
	/* A guest blob goes to the library with its iovecs. */
	uint64_t gpa = h_alloc(h, 8192);
	struct {
		struct virtio_gpu_resource_create_blob q;
		struct virtio_gpu_mem_entry e;
	} g = {.q = {.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB),
		     .resource_id = 11,
		     .blob_mem = VIRTIO_GPU_BLOB_MEM_GUEST,
		     .nr_entries = 1,
		     .blob_id = 0,
		     .size = 8192},
	       .e = {.addr = gpa, .length = 8192}};
	assert_int_equal(h_cmd(h, &g, sizeof(g)), OK);
	assert_true(logged("create_blob 11 ctx=0 mem=1 flags=0 blob_id=0 size=8192 iov=1"));
	/* The library keeps those iovecs: a new memory map (the same memory
	   mapped elsewhere, as after SET_MEM_TABLE) must hand it new ones, and
	   the old ones must never be used again. */
	uint8_t *moved = malloc(H_SIZE_A);
	assert_non_null(moved);
	memcpy(moved, h->mem_a, H_SIZE_A);
	struct kr_mem_region regions[] = {{H_GPA_C, H_SIZE_C, h->mem_c},
					  {H_GPA_A, H_SIZE_A, moved},
					  {H_GPA_B, H_SIZE_B, h->mem_b}};
	fake.clear_log();
	assert_int_equal(kr_gpu_set_memory(h->gpu, regions, 3), 0);
	free(h->mem_a);
	h->mem_a = moved;
	assert_true(logged("detach_iov 11"));
	assert_true(logged("attach_iov 11 n=1"));
	gs_free(h);
}

struct fenced {
	struct virtio_gpu_ctrl_hdr q;
	struct iovec in, out;
	struct kr_chain chain;
	struct virtio_gpu_ctrl_hdr resp;
};

static int
send_fenced(struct harness *h, struct fenced *f, uint64_t cookie, uint64_t fence, uint32_t ctx,
	    int ring)
{
	size_t n;

	f->q = h_hdr(VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
	f->q.flags = VIRTIO_GPU_FLAG_FENCE | (ring >= 0 ? VIRTIO_GPU_FLAG_INFO_RING_IDX : 0);
	f->q.fence_id = fence;
	f->q.ctx_id = ctx;
	f->q.ring_idx = ring >= 0 ? (uint8_t)ring : 0;
	f->in = (struct iovec){&f->q, sizeof(f->q)};
	f->out = (struct iovec){&f->resp, sizeof(f->resp)};
	f->chain = (struct kr_chain){&f->in, 1, &f->out, 1, cookie};
	memset(&f->resp, 0, sizeof(f->resp));
	return kr_gpu_ctrl(h->gpu, &f->chain, &n);
}

/* Poll until n requests completed (the fake's thread needs a moment). */
static void
poll_until(struct harness *h, unsigned n)
{
	for (int i = 0; i < 2000 && h->n_done < n; i++) {
		kr_gpu_poll(h->gpu);
		if (h->n_done < n)
			usleep(1000);
	}
	assert_int_equal(h->n_done, n);
}

static void
fence_round(int mode)
{
	struct harness *h = gs_new(mode, 0);
	struct fenced *f = calloc(6, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(ctx_create(h, 5, 3, "f"), OK);
	assert_int_equal(send_fenced(h, &f[0], 100, 1, 5, 0), -EINPROGRESS);
	assert_int_equal(send_fenced(h, &f[1], 101, 2, 5, 0), -EINPROGRESS);
	assert_int_equal(send_fenced(h, &f[2], 102, 1, 5, 1), -EINPROGRESS);
	assert_int_equal(send_fenced(h, &f[3], 103, 3, 5, 0), -EINPROGRESS);
	assert_int_equal(send_fenced(h, &f[4], 104, 50, 0, -1), -EINPROGRESS);
	/* Ring 64 never reaches the library. */
	assert_int_equal(send_fenced(h, &f[5], 105, 9, 5, 64), 0);
	assert_int_equal(f[5].resp.type, PARAM);
	/* The library gets the core's fence sequence (1, 2, ...), not the
	   guest's ids. */
	assert_true(logged("create_fence flags=3 id=1 ctx=5 ring=0"));
	assert_true(logged("create_fence flags=3 id=3 ctx=5 ring=1"));
	assert_true(logged("create_fence flags=1 id=5 ctx=0 ring=0"));
	assert_false(logged("id=6 "));
	/* Nothing completes inside kr_gpu_ctrl, even when the library fired
	   synchronously: completions wait for poll. */
	assert_int_equal(h->n_done, 0);
	if (mode == 2)
		assert_int_equal(fake.fire(true), 5); /* newest first */
	poll_until(h, 5);
	/* Per timeline, in fence order: ring 0 of ctx 5 is 100, 101, 103. */
	unsigned pos[6] = {0};
	for (unsigned i = 0; i < h->n_done; i++)
		pos[h->done_cookies[i] - 100] = i;
	assert_true(pos[0] < pos[1]);
	assert_true(pos[1] < pos[3]);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(f[i].resp.type, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
		assert_int_equal(f[i].resp.fence_id, f[i].q.fence_id);
	}
	assert_int_equal(f[2].resp.ring_idx, 1);
	assert_int_equal(f[2].resp.flags, VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX);
	struct kr_gpu_stats st;
	kr_gpu_get_stats(h->gpu, &st);
	assert_int_equal(st.pending, 0);
	free(f);
	gs_free(h);
}

static void
test_fences_thread(void **state)
{
	(void)state;
	fence_round(0);
}

static void
test_fences_sync(void **state)
{
	(void)state;
	fence_round(1);
}

static void
test_fences_reversed(void **state)
{
	(void)state;
	fence_round(2);
}

/* A retirement the library queued before a device reset must not complete
   a request the reloaded driver made after it (its fence ids restart at 1). */
static void
test_fence_from_before_reset(void **state)
{
	struct harness *h = gs_new(2, 0);
	struct fenced *f = calloc(2, sizeof(*f));

	(void)state;
	assert_non_null(f);
	assert_int_equal(ctx_create(h, 5, 3, "old"), OK);
	assert_int_equal(send_fenced(h, &f[0], 100, 500, 5, 0), -EINPROGRESS);
	assert_int_equal(fake.fire(false), 1); /* queued in the backend, not yet polled */
	kr_gpu_reset(h->gpu);
	assert_int_equal(ctx_create(h, 5, 3, "new"), OK);
	assert_int_equal(send_fenced(h, &f[1], 101, 1, 5, 0), -EINPROGRESS);
	kr_gpu_poll(h->gpu); /* delivers the old retirement */
	assert_int_equal(h->n_done, 0);
	assert_int_equal(fake.fire(false), 1);
	poll_until(h, 1);
	assert_int_equal(h->done_cookies[0], 101);
	assert_int_equal(f[1].resp.fence_id, 1);
	free(f);
	gs_free(h);
}

static void
test_pipe_resources_and_scanout(void **state)
{
	struct harness *h = gs_new(0, 0);

	(void)state;
	assert_int_equal(ctx_create(h, 1, 3, "pipe"), OK);
	/* A buffer resource used as a pipe (the seed's mode without blobs). */
	struct virtio_gpu_resource_create_3d c = {.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_3D),
						  .resource_id = 20,
						  .target = 0,
						  .format = 64,
						  .width = 256,
						  .height = 1,
						  .depth = 1,
						  .array_size = 1};
	assert_int_equal(h_cmd(h, &c, sizeof(c)), OK);
	assert_true(logged("resource_create 20 target=0 format=64"));
	uint64_t gpa = h_attach_new(h, 20, 256);
	assert_true(gpa != 0);
	uint8_t *mem = h_host(h, gpa);
	for (int i = 0; i < 256; i++)
		mem[i] = (uint8_t)(255 - i);
	struct virtio_gpu_transfer_host_3d t = {.hdr = h_hdr(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D),
						.box = {0, 0, 0, 256, 1, 1},
						.resource_id = 20};
	t.hdr.ctx_id = 1;
	assert_int_equal(h_cmd(h, &t, sizeof(t)), OK);
	memset(mem, 0, 256);
	t.hdr.type = VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D;
	assert_int_equal(h_cmd(h, &t, sizeof(t)), OK);
	for (int i = 0; i < 256; i++)
		assert_int_equal(mem[i], 255 - i);

	/* A 2D resource on the scanout: flush reads it back. */
	assert_int_equal(h_create_2d(h, 21, FMT, 16, 8), OK);
	gpa = h_attach_new(h, 21, 16 * 8 * 4);
	mem = h_host(h, gpa);
	for (int i = 0; i < 16 * 8 * 4; i++)
		mem[i] = (uint8_t)(i * 3);
	assert_int_equal(h_transfer(h, 21, 0, 0, 16, 8, 0), OK);
	assert_int_equal(h_set_scanout(h, 0, 21, 0, 0, 16, 8), OK);
	assert_int_equal(h_flush(h, 21, 0, 0, 16, 8), OK);
	assert_int_equal(h->n_updates, 1);
	assert_memory_equal(h->updates[0].pixels, mem, 16 * 8 * 4);
	gs_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_missing_library),
		cmocka_unit_test(test_init_and_capsets),
		cmocka_unit_test(test_config_versions),
		cmocka_unit_test(test_contexts_and_submit),
		cmocka_unit_test(test_blob_map),
		cmocka_unit_test(test_blob_without_window),
		cmocka_unit_test(test_fences_thread),
		cmocka_unit_test(test_fences_sync),
		cmocka_unit_test(test_fences_reversed),
		cmocka_unit_test(test_fence_from_before_reset),
		cmocka_unit_test(test_pipe_resources_and_scanout),
	};
	return cmocka_run_group_tests_name("gfxstream", tests, setup, teardown);
}
