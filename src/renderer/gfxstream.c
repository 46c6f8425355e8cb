/* SPDX-License-Identifier: MIT */
/*
 * The gfxstream backend: API passthrough.  The guest's encoded API stream
 * (SUBMIT_3D) goes to the host gfxstream renderer library, loaded at device
 * creation with dlopen (libgfxstream_backend.so.0, then .so, or the path in
 * kr_gpu_config.gfxstream_lib) and driven through its stream_renderer_* C ABI
 * (release 0.1.2).  The declarations below are ours, written from the ABI's
 * documented layout and checked with static_asserts.
 *
 * Like virglrenderer, the library keeps process-wide state: one device per
 * process (a second create gets -EBUSY).  It stays loaded once opened (it
 * may keep threads and static state after teardown).
 *
 * Fences: the library calls our fence callback from its own threads or
 * synchronously inside create_fence (holding its lock).  The callback only
 * queues the fence; poll() retires queued fences into the core.  A fence
 * retires every earlier one of its timeline, so the queue keeps the newest
 * fence per timeline and stays as small as the number of timelines.
 */
#include <assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fence_queue.h"
#include "renderer.h"

/* ---- the stream_renderer 0.1.2 ABI ---- */

struct sr_param {
	uint64_t key;
	uint64_t value;
};

#define SR_PARAM_USER_DATA	1
#define SR_PARAM_FLAGS		2
#define SR_PARAM_FENCE_CALLBACK 3

#define SR_FLAG_SURFACELESS (1u << 3)
#define SR_FLAG_VK	    (1u << 5)
static_assert(KR_GFXSTREAM_FLAGS_DEFAULT == (SR_FLAG_VK | SR_FLAG_SURFACELESS),
	      "kohlrabi.h's default gfxstream flags are Vulkan + surfaceless");

struct sr_fence {
	uint32_t flags;
	uint64_t fence_id;
	uint32_t ctx_id;
	uint8_t ring_idx;
};
static_assert(sizeof(struct sr_fence) == 24, "stream_renderer_fence size");
static_assert(offsetof(struct sr_fence, fence_id) == 8, "fence_id offset");
static_assert(offsetof(struct sr_fence, ctx_id) == 16, "ctx_id offset");
static_assert(offsetof(struct sr_fence, ring_idx) == 20, "ring_idx offset");

#define SR_FENCE_FLAG_FENCE    (1u << 0)
#define SR_FENCE_FLAG_RING_IDX (1u << 1)

struct sr_create_args {
	uint32_t handle, target, format, bind, width, height, depth, array_size, last_level,
		nr_samples, flags;
};
static_assert(sizeof(struct sr_create_args) == 44, "resource_create_args size");

struct sr_box {
	uint32_t x, y, z, w, h, d;
};
static_assert(sizeof(struct sr_box) == 24, "stream_renderer_box size");

struct sr_command {
	uint32_t ctx_id;
	uint32_t cmd_size;
	uint8_t *cmd;
	uint32_t num_in_fences;
	void *fences;
};
static_assert(sizeof(struct sr_command) == 32, "stream_renderer_command size");
static_assert(offsetof(struct sr_command, cmd) == 8, "cmd offset");
static_assert(offsetof(struct sr_command, fences) == 24, "fences offset");

struct sr_blob {
	uint32_t blob_mem;
	uint32_t blob_flags;
	uint64_t blob_id;
	uint64_t size;
};
static_assert(sizeof(struct sr_blob) == 24, "stream_renderer_create_blob size");

struct sr_handle {
	int64_t os_handle;
	uint32_t handle_type;
};
static_assert(sizeof(struct sr_handle) == 16, "stream_renderer_handle size");

/* Handle types we can mmap in the frontend. */
#define SR_HANDLE_MEM_OPAQUE_FD 0x1
#define SR_HANDLE_MEM_DMABUF	0x2
#define SR_HANDLE_MEM_SHM	0x4

typedef void (*sr_fence_cb)(void *user, struct sr_fence *fence);

struct sr_api {
	int (*init)(struct sr_param *params, uint64_t n);
	void (*teardown)(void);
	int (*resource_create)(struct sr_create_args *args, struct iovec *iov, uint32_t n);
	void (*resource_unref)(uint32_t res);
	int (*context_create)(uint32_t ctx, uint32_t nlen, const char *name, uint32_t context_init);
	void (*context_destroy)(uint32_t ctx);
	int (*submit_cmd)(struct sr_command *cmd);
	int (*create_fence)(const struct sr_fence *fence);
	int (*transfer_read_iov)(uint32_t res, uint32_t ctx, uint32_t level, uint32_t stride,
				 uint32_t layer_stride, struct sr_box *box, uint64_t offset,
				 struct iovec *iov, int n);
	int (*transfer_write_iov)(uint32_t res, uint32_t ctx, int level, uint32_t stride,
				  uint32_t layer_stride, struct sr_box *box, uint64_t offset,
				  struct iovec *iov, unsigned n);
	int (*resource_attach_iov)(int res, struct iovec *iov, int n);
	void (*resource_detach_iov)(int res, struct iovec **iov, int *n);
	void (*ctx_attach_resource)(int ctx, int res);
	void (*ctx_detach_resource)(int ctx, int res);
	void (*get_cap_set)(uint32_t set, uint32_t *max_ver, uint32_t *max_size);
	void (*fill_caps)(uint32_t set, uint32_t version, void *caps);
	int (*create_blob)(uint32_t ctx, uint32_t res, const struct sr_blob *blob,
			   const struct iovec *iov, uint32_t n, const struct sr_handle *handle);
	int (*export_blob)(uint32_t res, struct sr_handle *handle);
	int (*resource_map)(uint32_t res, void **hva, uint64_t *size);
	int (*resource_unmap)(uint32_t res);
	int (*resource_map_info)(uint32_t res, uint32_t *map_info);
	int (*vulkan_info)(uint32_t res, void *info);
	/* Optional. */
	void (*flush)(uint32_t res);
	int (*snapshot)(const char *dir);
	int (*restore)(const char *dir);
	int (*export_fence)(uint64_t fence_id, struct sr_handle *handle);
};

#define SYM(n, opt)                                                                                \
	{                                                                                          \
		"stream_renderer_" #n, offsetof(struct sr_api, n), opt                             \
	}
static const struct {
	const char *name;
	size_t offset;
	bool optional;
} symbols[] = {
	SYM(init, false),
	SYM(teardown, false),
	SYM(resource_create, false),
	SYM(resource_unref, false),
	SYM(context_create, false),
	SYM(context_destroy, false),
	SYM(submit_cmd, false),
	SYM(create_fence, false),
	SYM(transfer_read_iov, false),
	SYM(transfer_write_iov, false),
	SYM(resource_attach_iov, false),
	SYM(resource_detach_iov, false),
	SYM(ctx_attach_resource, false),
	SYM(ctx_detach_resource, false),
	SYM(get_cap_set, false),
	SYM(fill_caps, false),
	SYM(create_blob, false),
	SYM(export_blob, false),
	SYM(resource_map, false),
	SYM(resource_unmap, false),
	SYM(resource_map_info, false),
	SYM(vulkan_info, false),
	SYM(flush, true),
	SYM(snapshot, true),
	SYM(restore, true),
	SYM(export_fence, true),
};

/* ---- the backend ---- */

/* Capsets gfxstream may offer: GFXSTREAM_VULKAN, _GLES, _COMPOSER. */
static const uint32_t capset_ids[] = {3, 8, 9};
#define CAPSET_MAX 65536u

struct gs {
	struct renderer base;
	struct sr_api api;
	struct renderer_capset capsets[3];
	uint32_t n_capsets;
	struct fence_queue fences; /* the fence callback's mailbox */
};

struct gs_res {
	struct resource base;
	uint8_t *pixels; /* owned: readback for the display */
	bool attached;	 /* the backing's iovecs are the library's */
	void *map;	 /* a MAPPABLE blob's memory here, or NULL */
	uint64_t map_size;
	bool own_map; /* map is our mmap of fd (external blobs), not the library's */
	int fd;	      /* owned: the exported blob, -1 until asked for */
};

static atomic_bool in_use;

static struct gs *
to_gs(struct renderer *r)
{
	return container_of(r, struct gs, base);
}

static struct gs_res *
to_res(struct resource *res)
{
	return container_of(res, struct gs_res, base);
}

/* Library threads, or inside create_fence: queue only. */
static void
fence_cb(void *user, struct sr_fence *f)
{
	struct gs *g = user;
	bool on_ring = f->flags & SR_FENCE_FLAG_RING_IDX;

	fence_queue_push(&g->fences, f->fence_id, on_ring ? f->ctx_id : 0,
			 on_ring ? f->ring_idx : 0, on_ring);
}

static void
gs_poll(struct renderer *r)
{
	fence_queue_drain(&to_gs(r)->fences, r, "gfxstream");
}

static void *
open_library(const struct renderer_init *init)
{
	static const char *const defaults[] = {"libgfxstream_backend.so.0",
					       "libgfxstream_backend.so"};
	void *h = NULL;

	const char *lib = init->cfg->gfxstream.lib;

	if (lib) {
		h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
		if (!h)
			log_bug_host(init->log, "gfxstream: cannot load %s: %s", lib, dlerror());
		return h;
	}
	for (size_t i = 0; i < ARRAY_SIZE(defaults) && !h; i++)
		h = dlopen(defaults[i], RTLD_NOW | RTLD_LOCAL);
	if (!h)
		log_bug_host(init->log,
			     "gfxstream: cannot load libgfxstream_backend.so.0: %s; install "
			     "gfxstream's host renderer library, or name it with "
			     "--gfxstream-lib=PATH",
			     dlerror());
	return h;
}

static int
load_symbols(struct logger *log, void *h, struct sr_api *api)
{
	for (size_t i = 0; i < ARRAY_SIZE(symbols); i++) {
		void *sym = dlsym(h, symbols[i].name);
		if (!sym && !symbols[i].optional) {
			log_bug_host(log, "gfxstream: the library has no %s (not the 0.1.2 ABI)",
				     symbols[i].name);
			return -ENOEXEC;
		}
		/* POSIX: a data pointer from dlsym converts to a function pointer. */
		memcpy((uint8_t *)api + symbols[i].offset, &sym, sizeof(sym));
	}
	return 0;
}

static void
probe_capsets(struct gs *g)
{
	for (size_t i = 0; i < ARRAY_SIZE(capset_ids); i++) {
		uint32_t ver = 0, size = 0; /* the library may leave them untouched */
		g->api.get_cap_set(capset_ids[i], &ver, &size);
		if (size == 0 || size > CAPSET_MAX)
			continue;
		g->capsets[g->n_capsets++] = (struct renderer_capset){capset_ids[i], ver, size};
	}
}

static int
gs_create(const struct renderer_init *init, struct renderer **out)
{
	struct gs *g = NULL;
	void *h;
	int ret;

	if (atomic_exchange(&in_use, true))
		return -EBUSY;
	h = open_library(init);
	if (!h) {
		ret = -ENOENT;
		goto err;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		ret = -ENOMEM;
		goto err;
	}
	fence_queue_init(&g->fences);
	ret = load_symbols(init->log, h, &g->api);
	if (ret < 0) {
		dlclose(h); /* nothing of it ran */
		goto err;
	}
	uint32_t flags = init->cfg->gfxstream.flags; /* the core filled in the default */
	sr_fence_cb cb = fence_cb;
	struct sr_param params[3] = {
		{SR_PARAM_USER_DATA, (uint64_t)(uintptr_t)g},
		{SR_PARAM_FLAGS, flags},
		{SR_PARAM_FENCE_CALLBACK, 0},
	};
	memcpy(&params[2].value, &cb, sizeof(cb));
	if (g->api.init(params, ARRAY_SIZE(params)) != 0) {
		log_bug_host(init->log, "gfxstream: stream_renderer_init failed (flags 0x%x)",
			     flags);
		ret = -ENODEV;
		goto err;
	}
	probe_capsets(g);
	*out = &g->base;
	return 0;
err:
	if (g)
		fence_queue_fini(&g->fences);
	free(g);
	atomic_store(&in_use, false);
	return ret;
}

static void
gs_destroy(struct renderer *r)
{
	struct gs *g = to_gs(r);

	g->api.teardown();
	fence_queue_fini(&g->fences);
	free(g);
	atomic_store(&in_use, false);
}

static int
create_res(struct gs *g, struct sr_create_args *args, struct resource **out)
{
	struct gs_res *gr = calloc(1, sizeof(*gr));

	if (!gr)
		return -ENOMEM;
	gr->fd = -1;
	if (g->api.resource_create(args, NULL, 0) != 0) {
		free(gr);
		return -EINVAL;
	}
	gr->base.id = args->handle;
	gr->base.format = args->format;
	gr->base.width = args->width;
	gr->base.height = args->height;
	*out = &gr->base;
	return 0;
}

/* virgl's bind bits, which gfxstream shares. */
#define BIND_RENDER_TARGET (1u << 1)
#define BIND_SAMPLER_VIEW  (1u << 3)
#define BIND_SCANOUT	   (1u << 18)

static int
gs_resource_create_2d(struct renderer *r, const struct renderer_res_2d *a, struct resource **out)
{
	struct sr_create_args args = {
		.handle = a->id,
		.target = 2, /* PIPE_TEXTURE_2D */
		.format = a->format,
		.bind = BIND_RENDER_TARGET | BIND_SAMPLER_VIEW | BIND_SCANOUT,
		.width = a->width,
		.height = a->height,
		.depth = 1,
		.array_size = 1,
	};
	return create_res(to_gs(r), &args, out);
}

static int
gs_resource_create_3d(struct renderer *r, const struct renderer_res_3d *a, struct resource **out)
{
	struct sr_create_args args = {
		.handle = a->id,
		.target = a->target,
		.format = a->format,
		.bind = a->bind,
		.width = a->width,
		.height = a->height,
		.depth = a->depth,
		.array_size = a->array_size,
		.last_level = a->last_level,
		.nr_samples = a->nr_samples,
		.flags = a->flags,
	};
	return create_res(to_gs(r), &args, out);
}

static void
gs_detach_backing(struct renderer *r, struct resource *res)
{
	struct gs_res *gr = to_res(res);
	struct iovec *iov = NULL;
	int n = 0;

	if (!gr->attached)
		return;
	to_gs(r)->api.resource_detach_iov((int)res->id, &iov, &n);
	gr->attached = false;
}

static int
gs_attach_backing(struct renderer *r, struct resource *res)
{
	struct gs_res *gr = to_res(res);

	if (!res->backing || !res->backing->iov || res->backing->n_iov > INT32_MAX)
		return -EINVAL;
	if (to_gs(r)->api.resource_attach_iov((int)res->id, res->backing->iov,
					      (int)res->backing->n_iov) != 0)
		return -EINVAL;
	gr->attached = true;
	return 0;
}

static void
gs_resource_unmap(struct renderer *r, struct resource *res)
{
	(void)r;
	(void)res; /* the library's mapping lives as long as the blob */
}

static void
gs_resource_destroy(struct renderer *r, struct resource *res)
{
	struct gs *g = to_gs(r);
	struct gs_res *gr = to_res(res);

	gs_detach_backing(r, res);
	if (gr->map && gr->own_map)
		munmap(gr->map, gr->map_size);
	else if (gr->map)
		g->api.resource_unmap(res->id);
	if (gr->fd >= 0)
		close(gr->fd);
	g->api.resource_unref(res->id);
	free(gr->pixels);
	free(gr);
}

static int
gs_transfer_2d(struct renderer *r, struct resource *res, const struct kr_rect *rect,
	       uint64_t offset)
{
	struct sr_box box = {rect->x, rect->y, 0, rect->width, rect->height, 1};

	return to_gs(r)->api.transfer_write_iov(res->id, 0, 0, 0, 0, &box, offset, NULL, 0)
		       ? -EINVAL
		       : 0;
}

/* The seed's mode for guests without blobs: 3D resources used as pipes. */
static int
gs_transfer_3d(struct renderer *r, struct resource *res, const struct renderer_transfer *t)
{
	struct sr_api *api = &to_gs(r)->api;
	struct sr_box box = {t->x, t->y, t->z, t->w, t->h, t->d};
	int ret;

	if (t->to_host)
		ret = api->transfer_write_iov(res->id, t->ctx_id, (int)t->level, t->stride,
					      t->layer_stride, &box, t->offset, NULL, 0);
	else
		ret = api->transfer_read_iov(res->id, t->ctx_id, t->level, t->stride,
					     t->layer_stride, &box, t->offset, NULL, 0);
	return ret ? -EINVAL : 0;
}

/* Read a resource back for the display path (flush with readback). */
static int
gs_resource_pixels(struct renderer *r, struct resource *res, const struct kr_rect *fresh,
		   const uint8_t **pixels, uint32_t *stride)
{
	struct gs *g = to_gs(r);
	struct gs_res *gr = to_res(res);
	uint64_t size = (uint64_t)res->width * res->height * 4;
	struct sr_box box = {0, 0, 0, res->width, res->height, 1};
	bool read = fresh != NULL; /* read whole; fresh NULL: the copy as it is */

	if (!size || size > SIZE_MAX)
		return -EINVAL;
	if (!gr->pixels) {
		gr->pixels = calloc(1, (size_t)size);
		if (!gr->pixels)
			return -ENOMEM;
		read = true; /* nothing read yet */
	}
	if (read) {
		if (g->api.flush)
			g->api.flush(res->id);
		struct iovec iov = {gr->pixels, (size_t)size};
		if (g->api.transfer_read_iov(res->id, 0, 0, res->width * 4, 0, &box, 0, &iov, 1) !=
		    0)
			return -EIO;
	}
	*pixels = gr->pixels;
	*stride = res->width * 4;
	return 0;
}

/* Export a blob's memory as an fd we can mmap (and pass on), or -1. */
static int
export_fd(struct gs *g, uint32_t id)
{
	struct sr_handle hd = {.os_handle = -1};

	if (g->api.export_blob(id, &hd) != 0 || hd.os_handle < 0 || hd.os_handle > INT32_MAX)
		return -1;
	if (hd.handle_type == SR_HANDLE_MEM_SHM || hd.handle_type == SR_HANDLE_MEM_DMABUF ||
	    hd.handle_type == SR_HANDLE_MEM_OPAQUE_FD)
		return (int)hd.os_handle;
	close((int)hd.os_handle);
	return -1;
}

/* Map a MAPPABLE host blob here: through the library, or (external blobs,
   which the library will not map) through its exported fd. */
static int
map_blob(struct gs *g, struct gs_res *gr, uint64_t size)
{
	uint32_t id = gr->base.id;

	if (g->api.resource_map(id, &gr->map, &gr->map_size) == 0 && gr->map) {
		if (gr->map_size >= size)
			return 0;
		g->api.resource_unmap(id); /* too small to show the blob: give it back */
	}
	gr->map = NULL;
	gr->map_size = 0;
	gr->fd = export_fd(g, id);
	if (gr->fd < 0 || size > SIZE_MAX)
		return -EINVAL;
	void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, gr->fd, 0);
	if (p == MAP_FAILED) {
		close(gr->fd);
		gr->fd = -1;
		return -EINVAL;
	}
	gr->map = p;
	gr->map_size = size;
	gr->own_map = true;
	return 0;
}

static int
gs_resource_create_blob(struct renderer *r, const struct renderer_blob *a, struct resource **out)
{
	struct gs *g = to_gs(r);
	struct sr_blob blob = {a->blob_mem, a->blob_flags, a->blob_id, a->size};
	const struct backing *b = a->backing;
	struct gs_res *gr;

	if (b && (!b->iov || b->n_iov > UINT32_MAX))
		return -EINVAL;
	gr = calloc(1, sizeof(*gr));
	if (!gr)
		return -ENOMEM;
	gr->fd = -1;
	gr->base.id = a->id;
	/* create_blob answers 0 even when it made nothing: check by mapping. */
	if (g->api.create_blob(a->ctx_id, a->id, &blob, b ? b->iov : NULL,
			       b ? (uint32_t)b->n_iov : 0, NULL) != 0)
		goto fail;
	if (a->blob_mem != VIRTIO_GPU_BLOB_MEM_GUEST &&
	    (a->blob_flags & VIRTIO_GPU_BLOB_FLAG_USE_MAPPABLE) && map_blob(g, gr, a->size) < 0) {
		g->api.resource_unref(a->id);
		goto fail;
	}
	/* The library keeps the backing's iovecs: detach/attach_backing hand
	   it new ones when the memory map changes. */
	gr->attached = b != NULL;
	*out = &gr->base;
	return 0;
fail:
	log_bug_guest(r->log, "gfxstream: blob %u (blob_id %llu, %llu bytes) not created", a->id,
		      (unsigned long long)a->blob_id, (unsigned long long)a->size);
	free(gr);
	return -EINVAL;
}

static int
gs_resource_map(struct renderer *r, struct resource *res, struct renderer_map *out)
{
	struct gs *g = to_gs(r);
	struct gs_res *gr = to_res(res);
	uint32_t info = VIRTIO_GPU_MAP_CACHE_CACHED;

	if (!gr->map)
		return -EINVAL;
	if (gr->fd < 0)
		gr->fd = export_fd(g, res->id);
	if (g->api.resource_map_info(res->id, &info) != 0)
		info = VIRTIO_GPU_MAP_CACHE_CACHED;
	*out = (struct renderer_map){
		.host = gr->map,
		.size = gr->map_size,
		.fd = gr->fd,
		.fd_offset = 0,
		.map_info = info & VIRTIO_GPU_MAP_CACHE_MASK,
	};
	return 0;
}

static int
gs_blob_read(struct renderer *r, struct resource *res, uint64_t off, void *dst, size_t len)
{
	struct gs_res *gr = to_res(res);

	(void)r;
	if (!gr->map || off > gr->map_size || len > gr->map_size - off)
		return -EINVAL;
	memcpy(dst, (const uint8_t *)gr->map + off, len);
	return 0;
}

static int
gs_ctx_create(struct renderer *r, uint32_t ctx_id, uint32_t capset_id, const char *name,
	      uint32_t nlen)
{
	return to_gs(r)->api.context_create(ctx_id, nlen, name, capset_id) ? -EINVAL : 0;
}

static void
gs_ctx_destroy(struct renderer *r, uint32_t ctx_id)
{
	to_gs(r)->api.context_destroy(ctx_id);
}

static void
gs_ctx_attach(struct renderer *r, uint32_t ctx_id, struct resource *res)
{
	to_gs(r)->api.ctx_attach_resource((int)ctx_id, (int)res->id);
}

static void
gs_ctx_detach(struct renderer *r, uint32_t ctx_id, struct resource *res)
{
	to_gs(r)->api.ctx_detach_resource((int)ctx_id, (int)res->id);
}

static int
gs_submit_3d(struct renderer *r, uint32_t ctx_id, void *buf, uint32_t size)
{
	struct sr_command cmd = {.ctx_id = ctx_id, .cmd_size = size, .cmd = buf};

	return to_gs(r)->api.submit_cmd(&cmd) ? -EINVAL : 0;
}

static uint32_t
gs_num_capsets(struct renderer *r)
{
	return to_gs(r)->n_capsets;
}

static int
gs_capset_info(struct renderer *r, uint32_t index, struct renderer_capset *out)
{
	struct gs *g = to_gs(r);

	if (index >= g->n_capsets)
		return -EINVAL;
	*out = g->capsets[index];
	return 0;
}

static int
gs_capset_get(struct renderer *r, uint32_t id, uint32_t version, void *buf, uint32_t size)
{
	struct gs *g = to_gs(r);

	for (uint32_t i = 0; i < g->n_capsets; i++) {
		if (g->capsets[i].id != id)
			continue;
		if (g->capsets[i].max_size > size)
			return -EINVAL;
		memset(buf, 0, size);
		g->api.fill_caps(id, version, buf);
		return 0;
	}
	return -EINVAL;
}

static int
gs_create_fence(struct renderer *r, uint64_t seq, uint32_t ctx_id, uint8_t ring_idx, bool on_ring)
{
	/* The library sees the core's sequence, so what it retires after a
	   device reset cannot match a request made since. */
	struct sr_fence f = {
		.flags = SR_FENCE_FLAG_FENCE | (on_ring ? SR_FENCE_FLAG_RING_IDX : 0),
		.fence_id = seq,
		.ctx_id = ctx_id,
		.ring_idx = on_ring ? ring_idx : 0,
	};

	return to_gs(r)->api.create_fence(&f) ? -EINVAL : 0;
}

const struct renderer_ops gfxstream_ops = {
	.name = "gfxstream",
	.features = (1ull << VIRTIO_GPU_F_VIRGL) | (1ull << VIRTIO_GPU_F_RESOURCE_BLOB) |
		    (1ull << VIRTIO_GPU_F_CONTEXT_INIT),
	.pixels_read_back = true,
	.create = gs_create,
	.destroy = gs_destroy,
	.resource_create_2d = gs_resource_create_2d,
	.resource_destroy = gs_resource_destroy,
	.transfer_to_host_2d = gs_transfer_2d,
	.resource_pixels = gs_resource_pixels,
	.resource_create_3d = gs_resource_create_3d,
	.attach_backing = gs_attach_backing,
	.detach_backing = gs_detach_backing,
	.transfer_3d = gs_transfer_3d,
	.ctx_create = gs_ctx_create,
	.ctx_destroy = gs_ctx_destroy,
	.ctx_attach = gs_ctx_attach,
	.ctx_detach = gs_ctx_detach,
	.submit_3d = gs_submit_3d,
	.num_capsets = gs_num_capsets,
	.capset_info = gs_capset_info,
	.capset_get = gs_capset_get,
	.resource_create_blob = gs_resource_create_blob,
	.resource_map = gs_resource_map,
	.resource_unmap = gs_resource_unmap,
	.blob_read = gs_blob_read,
	.create_fence = gs_create_fence,
	.poll = gs_poll,
};
