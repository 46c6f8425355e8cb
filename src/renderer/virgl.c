/* SPDX-License-Identifier: MIT */
/*
 * The virgl backend (alias 3d): OpenGL passthrough through virglrenderer, on
 * EGL surfaceless (Mesa llvmpipe when there is no GPU) or a render node.
 *
 * virglrenderer keeps process-wide state, so only one device per process may
 * use it: the one exception to "no global state" (a second create gets
 * -EBUSY).
 *
 * Venus (Vulkan, capset 4) lives here too, not in a backend of its own: it
 * is the same virglrenderer instance, and one guest mixes GL contexts
 * (capsets 1, 2) and Vulkan contexts (capset 4) as QEMU's virtio-gpu-gl
 * with venus=on does.  Built against virglrenderer 1.0 or newer
 * (KR_HAVE_VENUS), the backend runs the render server
 * (/usr/libexec/virgl_render_server: Venus contexts live in its processes)
 * and offers blobs, CONTEXT_INIT and capset 4 when the server answers.  The
 * name "venus" is this backend with Venus required: it fails with the reason
 * when Venus cannot run.
 *
 * Fences: with Venus, virglrenderer reports fences from its sync threads
 * (VIRGL_RENDERER_ASYNC_FENCE_CB); without, from virgl_renderer_poll().
 * Either way the callbacks only record them and poll() retires them into
 * the core.  Context-0 fences carry 32-bit numbers retired in order (we hand
 * virglrenderer our own sequence and map it back); ring fences carry the
 * core's 64-bit sequence itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define VIRGL_RENDERER_UNSTABLE_APIS /* blobs, context fences, Venus flags */
#include <virgl/virglrenderer.h>

#include "fd_offset.h"
#include "fence_queue.h"
#include "renderer.h"

/* virglrenderer.h only declares it; its ABI is virtio_gpu_box's layout. */
struct virgl_box {
	uint32_t x, y, z;
	uint32_t w, h, d;
};

struct virgl_fence {
	uint32_t seq;	   /* virglrenderer's 32-bit fence number */
	uint64_t core_seq; /* the core's fence sequence */
	uint32_t ctx_id;
	uint8_t ring_idx;
	bool on_ring;
};

#define VIRGL_MAX_FENCES 4096

/* The capsets in GET_CAPSET_INFO's index order: VIRGL, VIRGL2, VENUS. */
static const uint32_t capset_ids[] = {1, 2, 4};
#define CAPSET_VENUS 4

struct virgl {
	struct renderer base;
	int cookie;		 /* virglrenderer wants a non-NULL cookie */
	const char *render_node; /* borrowed (the device's config); NULL: surfaceless */
	bool venus;		 /* capset 4 offered: the render server answered */
	bool gles;		 /* the host context is GLES, not desktop GL core */
	uint32_t seq;
	struct virgl_fence fences[VIRGL_MAX_FENCES]; /* ring of context-0 fences in flight */
	unsigned head, count;
	_Atomic uint32_t global_done; /* newest retired context-0 fence (callbacks) */
	struct fence_queue rings;     /* retired ring fences (callbacks) */
	int wake_fd; /* owned: eventfd the fence callbacks signal (fence_fd), or -1 */
};

struct virgl_res {
	struct resource base;
	uint8_t *pixels; /* owned: readback for the display (2D-able resources) */
	uint32_t stride;
	bool attached; /* the backing's iovecs are handed to virglrenderer */
	void *map;     /* a mapped blob's memory, or NULL */
	uint64_t map_size;
	bool own_map;	    /* map is our mmap of fd, not virglrenderer's */
	int fd;		    /* owned: the mapped blob exported (for the frontend), or -1 */
	uint64_t fd_offset; /* where the blob starts in fd */
};

/* The process-wide instance (see the file comment). */
static struct virgl *instance;

static struct virgl *
to_virgl(struct renderer *r)
{
	return container_of(r, struct virgl, base);
}

static struct virgl_res *
to_res(struct resource *res)
{
	return container_of(res, struct virgl_res, base);
}

/* virglrenderer's threads (or virgl_renderer_poll): record only. */
static void
write_fence(void *cookie, uint32_t seq)
{
	struct virgl *v = container_of((int *)cookie, struct virgl, cookie);

	atomic_store(&v->global_done, seq); /* context-0 fences retire in order */
	if (v->wake_fd >= 0)
		eventfd_write(v->wake_fd, 1);
}

static void
write_context_fence(void *cookie, uint32_t ctx_id, uint32_t ring_idx, uint64_t fence_id)
{
	struct virgl *v = container_of((int *)cookie, struct virgl, cookie);

	fence_queue_push(&v->rings, fence_id, ctx_id, (uint8_t)ring_idx, true);
	if (v->wake_fd >= 0)
		eventfd_write(v->wake_fd, 1);
}

/* Retire, in order, every context-0 fence up to the newest retired one
   (wrap-aware). */
static void
retire_global(struct virgl *v)
{
	uint32_t seq = atomic_load(&v->global_done);

	while (v->count) {
		struct virgl_fence f = v->fences[v->head];
		if ((int32_t)(seq - f.seq) < 0)
			break;
		v->head = (v->head + 1) % VIRGL_MAX_FENCES;
		v->count--;
		renderer_fence_retired(&v->base, f.core_seq, f.ctx_id, f.ring_idx, f.on_ring);
	}
}

static void
debug_log(const char *fmt, va_list ap)
{
	(void)fmt;
	(void)ap; /* virglrenderer's chatter is dropped; errors surface as results */
}

/* virglrenderer asks for the node's fd once and owns what we return. */
static int
get_drm_fd(void *cookie)
{
	struct virgl *v = container_of((int *)cookie, struct virgl, cookie);

	return open(v->render_node, O_RDWR | O_CLOEXEC);
}

static struct virgl_renderer_callbacks cbs_surfaceless = {
	.version = 3, .write_fence = write_fence, .write_context_fence = write_context_fence};
static struct virgl_renderer_callbacks cbs_node = {.version = 3,
						   .write_fence = write_fence,
						   .get_drm_fd = get_drm_fd,
						   .write_context_fence = write_context_fence};

/* The render node if it opens; else NULL, said once. */
static const char *
check_render_node(const struct renderer_init *init)
{
	const char *node = init->cfg->virgl.render_node;

	if (!node)
		return NULL;
	/* Check the node ourselves: a clear message beats EGL's. */
	int fd = open(node, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		log_msg(init->log, KR_LOG_WARN,
			"render node %s: %s; virgl runs surfaceless (Mesa's software rendering) "
			"instead",
			node, strerror(errno));
		return NULL;
	}
	close(fd);
	return node;
}

/* virgl_renderer_init on one EGL display: a desktop OpenGL core context
   first (what QEMU's in-process device gives the guest: fp64, shadow
   samplers and the extensions GLES lacks), GLES only where that fails.
   Records which in v->gles.  0 or -ENODEV. */
static int
init_api(struct virgl *v, int flags, struct virgl_renderer_callbacks *cbs)
{
	if (virgl_renderer_init(&v->cookie, flags, cbs) == 0) {
		v->gles = false;
		return 0;
	}
	if (virgl_renderer_init(&v->cookie, flags | VIRGL_RENDERER_USE_GLES, cbs) == 0) {
		v->gles = true;
		return 0;
	}
	return -ENODEV;
}

/* virgl_renderer_init on the render node, else surfaceless.  0 or -ENODEV. */
static int
init_egl(struct virgl *v, const struct renderer_init *init, int flags)
{
	if (v->render_node && init_api(v, flags, &cbs_node) == 0)
		return 0;
	if (v->render_node) {
		log_msg(init->log, KR_LOG_WARN,
			"virglrenderer: EGL initialisation on %s failed; virgl runs surfaceless "
			"(Mesa's software rendering) instead",
			v->render_node);
		v->render_node = NULL;
	}
	return init_api(v, flags | VIRGL_RENDERER_USE_SURFACELESS, &cbs_surfaceless);
}

/* Which host GL the guest's GL runs on: info, or a warning for GLES (the
   guest then lacks desktop-only features). */
static void
say_api(const struct virgl *v, const struct renderer_init *init)
{
	const char *where = v->render_node ? v->render_node : "EGL surfaceless";

	if (v->gles)
		log_msg(init->log, KR_LOG_WARN,
			"virgl: the host has no desktop OpenGL core context on %s: virgl runs on "
			"GLES, and guests lack fp64, some shadow samplers and extensions a "
			"desktop context gives",
			where);
	else
		log_msg(init->log, KR_LOG_INFO, "virgl: host GL is desktop OpenGL core on %s",
			where);
}

#if KR_HAVE_VENUS
#define VENUS_HOW                                                                                  \
	"Venus needs virglrenderer's render server (" RENDER_SERVER_PATH ", package "              \
	"virgl-server) and a Vulkan driver on the host (mesa-vulkan-drivers)"
#define RENDER_SERVER_PATH "/usr/libexec/virgl_render_server"

/* Start virglrenderer with Venus (the render server) if it can; without it
   unless required.  0 or -ENODEV (said why). */
static int
init_with_venus(struct virgl *v, const struct renderer_init *init, int flags, bool require)
{
	const int venus = VIRGL_RENDERER_VENUS | VIRGL_RENDERER_RENDER_SERVER;
	uint32_t ver = 0, size = 0;

	if (init_egl(v, init, flags | venus) == 0) {
		virgl_renderer_get_cap_set(CAPSET_VENUS, &ver, &size);
		if (size)
			goto on;
		/* Up, but the server's capset is empty: no Vulkan device there. */
		virgl_renderer_cleanup(&v->cookie);
	}
	if (require) {
		log_bug_host(init->log, "venus: the render server did not start or found no "
					"Vulkan device; " VENUS_HOW);
		return -ENODEV;
	}
	log_msg(init->log, KR_LOG_WARN,
		"virgl: Venus (Vulkan) is off: the render server did not start or found no "
		"Vulkan device; " VENUS_HOW);
	return init_egl(v, init, flags);
on:
	v->venus = true;
	log_msg(init->log, KR_LOG_INFO, "virgl: Venus (Vulkan, capset 4) is on: %u bytes, v%u",
		size, ver);
	return 0;
}
#endif

static int
create_common(const struct renderer_init *init, bool require_venus, struct renderer **out)
{
	struct virgl *v;
	int flags = VIRGL_RENDERER_USE_EGL, ret;

	if (instance)
		return -EBUSY;
#if !KR_HAVE_VENUS
	if (require_venus) {
		log_bug_host(init->log,
			     "venus: not available: this kohlrabi was built against virglrenderer "
			     "%s; Venus needs virglrenderer 1.0 or newer with its render server "
			     "(Debian 13's libvirglrenderer-dev and virgl-server); --backend=virgl "
			     "gives OpenGL",
			     KR_VIRGL_VERSION);
		return -ENOTSUP;
	}
#endif
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->render_node = check_render_node(init);
	v->wake_fd = -1;
	fence_queue_init(&v->rings);
	virgl_set_debug_callback(debug_log);
#if KR_HAVE_VENUS
	/* Fences from virglrenderer's threads, not only from polling.  Blobs
	   the guest maps reach the frontend as fds: EXTERNAL_BLOB keeps
	   virglrenderer from offering GL buffer storage, whose memory (GL's
	   own, in this process) no fd could share. */
	flags |= VIRGL_RENDERER_THREAD_SYNC | VIRGL_RENDERER_ASYNC_FENCE_CB |
		 VIRGL_RENDERER_USE_EXTERNAL_BLOB;
	v->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ret = v->wake_fd < 0 ? -errno : init_with_venus(v, init, flags, require_venus);
#else
	/* A thread of virglrenderer's waits for the GPU's fences and signals
	   its poll fd (fence_fd), so that fences need no polling timer. */
	flags |= VIRGL_RENDERER_THREAD_SYNC;
	ret = init_egl(v, init, flags);
#endif
	if (ret < 0) {
		if (!require_venus)
			log_bug_host(init->log, "virglrenderer: EGL initialisation failed "
						"(surfaceless); install Mesa's EGL drivers "
						"(libegl-mesa0)");
		if (v->wake_fd >= 0)
			close(v->wake_fd);
		fence_queue_fini(&v->rings);
		free(v);
		return ret;
	}
	say_api(v, init);
	instance = v;
	*out = &v->base;
	return 0;
}

static int
virgl_create(const struct renderer_init *init, struct renderer **out)
{
	return create_common(init, false, out);
}

static int
venus_create(const struct renderer_init *init, struct renderer **out)
{
	return create_common(init, true, out);
}

static void
virgl_destroy(struct renderer *r)
{
	struct virgl *v = to_virgl(r);

	virgl_renderer_cleanup(&v->cookie); /* joins its sync threads */
	if (v->wake_fd >= 0)
		close(v->wake_fd);
	fence_queue_fini(&v->rings);
	instance = NULL;
	free(v);
}

/* Create the virglrenderer resource and our record of it. */
static int
create_res(struct virgl_renderer_resource_create_args *args, struct resource **out)
{
	struct virgl_res *vr = calloc(1, sizeof(*vr));

	if (!vr)
		return -ENOMEM;
	if (virgl_renderer_resource_create(args, NULL, 0) != 0) {
		free(vr);
		return -EINVAL;
	}
	vr->fd = -1;
	vr->base.id = args->handle;
	vr->base.format = args->format;
	vr->base.width = args->width;
	vr->base.height = args->height;
	*out = &vr->base;
	return 0;
}

static int
virgl_resource_create_2d(struct renderer *r, const struct renderer_res_2d *a, struct resource **out)
{
	/* virtio-gpu's 2D formats have the same numbers as virgl's. */
	struct virgl_renderer_resource_create_args args = {
		.handle = a->id,
		.target = 2, /* PIPE_TEXTURE_2D */
		.format = a->format,
		.bind = VIRGL_RES_BIND_RENDER_TARGET | VIRGL_RES_BIND_SAMPLER_VIEW |
			VIRGL_RES_BIND_SCANOUT,
		.width = a->width,
		.height = a->height,
		.depth = 1,
		.array_size = 1,
		.flags = VIRTIO_GPU_RESOURCE_FLAG_Y_0_TOP,
	};
	(void)r;
	return create_res(&args, out);
}

static int
virgl_resource_create_3d(struct renderer *r, const struct renderer_res_3d *a, struct resource **out)
{
	struct virgl_renderer_resource_create_args args = {
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
	(void)r;
	return create_res(&args, out);
}

static void
virgl_detach_backing(struct renderer *r, struct resource *res)
{
	struct virgl_res *vr = to_res(res);
	struct iovec *iov = NULL;
	int n = 0;

	(void)r;
	if (!vr->attached)
		return;
	virgl_renderer_resource_detach_iov((int)res->id, &iov, &n);
	vr->attached = false;
}

/* Let go of a blob's mapping and its exported fd (the frontend has its own). */
static void
virgl_resource_unmap(struct renderer *r, struct resource *res)
{
	struct virgl_res *vr = to_res(res);

	(void)r;
	if (vr->map && vr->own_map)
		munmap(vr->map, (size_t)vr->map_size);
	else if (vr->map)
		virgl_renderer_resource_unmap(res->id);
	vr->map = NULL;
	vr->own_map = false;
	vr->map_size = 0;
	if (vr->fd >= 0)
		close(vr->fd);
	vr->fd = -1;
}

static void
virgl_resource_destroy(struct renderer *r, struct resource *res)
{
	struct virgl_res *vr = to_res(res);

	virgl_resource_unmap(r, res);
	virgl_detach_backing(r, res);
	virgl_renderer_resource_unref(res->id);
	free(vr->pixels);
	free(vr);
}

static int
virgl_attach_backing(struct renderer *r, struct resource *res)
{
	struct virgl_res *vr = to_res(res);

	(void)r;
	if (!res->backing || !res->backing->iov || res->backing->n_iov > INT32_MAX)
		return -EINVAL;
	if (virgl_renderer_resource_attach_iov((int)res->id, res->backing->iov,
					       (int)res->backing->n_iov) != 0)
		return -EINVAL;
	vr->attached = true;
	return 0;
}

static int
virgl_transfer_2d(struct renderer *r, struct resource *res, const struct kr_rect *rect,
		  uint64_t offset)
{
	struct virgl_box box = {rect->x, rect->y, 0, rect->width, rect->height, 1};

	(void)r;
	return virgl_renderer_transfer_write_iov(res->id, 0, 0, 0, 0, &box, offset, NULL, 0)
		       ? -EINVAL
		       : 0;
}

static int
virgl_transfer_3d(struct renderer *r, struct resource *res, const struct renderer_transfer *t)
{
	struct virgl_box box = {t->x, t->y, t->z, t->w, t->h, t->d};
	int ret;

	(void)r;
	if (t->to_host)
		ret = virgl_renderer_transfer_write_iov(res->id, t->ctx_id, (int)t->level,
							t->stride, t->layer_stride, &box, t->offset,
							NULL, 0);
	else
		ret = virgl_renderer_transfer_read_iov(res->id, t->ctx_id, t->level, t->stride,
						       t->layer_stride, &box, t->offset, NULL, 0);
	return ret ? -EINVAL : 0;
}

/* Read (the fresh part of) a resource back into host memory for the
   display path: the copy's rows are the resource's, the box lands at its
   place in them. */
static int
virgl_resource_pixels(struct renderer *r, struct resource *res, const struct kr_rect *fresh,
		      const uint8_t **pixels, uint32_t *stride)
{
	struct virgl_res *vr = to_res(res);
	uint64_t size = (uint64_t)res->width * res->height * 4;
	struct kr_rect all = {0, 0, res->width, res->height};

	(void)r;
	if (size > SIZE_MAX)
		return -ENOMEM;
	if (!vr->pixels) {
		vr->pixels = malloc((size_t)size);
		if (!vr->pixels)
			return -ENOMEM;
		fresh = &all; /* nothing read yet */
	}
	vr->stride = res->width * 4;
	if (fresh && fresh->width && fresh->height) {
		/* The core passes a part inside the resource. */
		struct virgl_box box = {fresh->x, fresh->y, 0, fresh->width, fresh->height, 1};
		uint64_t at = (uint64_t)fresh->y * vr->stride + (uint64_t)fresh->x * 4;
		struct iovec iov = {vr->pixels, (size_t)size};
		if (virgl_renderer_transfer_read_iov(res->id, 0, 0, vr->stride, 0, &box, at, &iov,
						     1) != 0)
			return -EIO;
	}
	*pixels = vr->pixels;
	*stride = vr->stride;
	return 0;
}

static int
virgl_ctx_create(struct renderer *r, uint32_t ctx_id, uint32_t capset_id, const char *name,
		 uint32_t nlen)
{
	if (capset_id == CAPSET_VENUS && !to_virgl(r)->venus)
		return -EINVAL;
	if (capset_id)
		return virgl_renderer_context_create_with_flags(ctx_id, capset_id, nlen, name)
			       ? -EINVAL
			       : 0;
	return virgl_renderer_context_create(ctx_id, nlen, name) ? -EINVAL : 0;
}

static void
virgl_ctx_destroy(struct renderer *r, uint32_t ctx_id)
{
	(void)r;
	virgl_renderer_context_destroy(ctx_id);
}

static void
virgl_ctx_attach(struct renderer *r, uint32_t ctx_id, struct resource *res)
{
	(void)r;
	virgl_renderer_ctx_attach_resource((int)ctx_id, (int)res->id);
}

static void
virgl_ctx_detach(struct renderer *r, uint32_t ctx_id, struct resource *res)
{
	(void)r;
	virgl_renderer_ctx_detach_resource((int)ctx_id, (int)res->id);
}

static int
virgl_submit_3d(struct renderer *r, uint32_t ctx_id, void *buf, uint32_t size)
{
	(void)r;
	return virgl_renderer_submit_cmd(buf, (int)ctx_id, (int)(size / 4)) ? -EINVAL : 0;
}

static uint32_t
virgl_num_capsets(struct renderer *r)
{
	return to_virgl(r)->venus ? 3 : 2; /* VIRGL, VIRGL2 (, VENUS) */
}

static int
virgl_capset_info(struct renderer *r, uint32_t index, struct renderer_capset *out)
{
	uint32_t id, ver = 0, size = 0;

	if (index >= virgl_num_capsets(r))
		return -EINVAL;
	id = capset_ids[index];
	virgl_renderer_get_cap_set(id, &ver, &size);
	*out = (struct renderer_capset){id, ver, size};
	return 0;
}

static int
virgl_capset_get(struct renderer *r, uint32_t id, uint32_t version, void *buf, uint32_t size)
{
	uint32_t ver = 0, need = 0;

	(void)r;
	virgl_renderer_get_cap_set(id, &ver, &need);
	if (need > size)
		return -EINVAL;
	memset(buf, 0, size); /* nothing of ours leaks past what virgl fills */
	virgl_renderer_fill_caps(id, version, buf);
	return 0;
}

static int
virgl_create_fence(struct renderer *r, uint64_t core_seq, uint32_t ctx_id, uint8_t ring_idx,
		   bool on_ring)
{
	struct virgl *v = to_virgl(r);

#if KR_HAVE_VENUS
	/* A context's ring: virglrenderer hands our sequence back. */
	if (on_ring)
		return virgl_renderer_context_create_fence(
			       ctx_id, VIRGL_RENDERER_FENCE_FLAG_MERGEABLE, ring_idx, core_seq)
			       ? -EINVAL
			       : 0;
#endif
	if (v->count == VIRGL_MAX_FENCES)
		return -EBUSY; /* the core completes it after the earlier fences */
	uint32_t seq = ++v->seq;
	if (virgl_renderer_create_fence((int)seq, ctx_id) != 0)
		return -EINVAL;
	v->fences[(v->head + v->count) % VIRGL_MAX_FENCES] =
		(struct virgl_fence){seq, core_seq, ctx_id, ring_idx, on_ring};
	v->count++;
	return 0;
}

static void
virgl_poll(struct renderer *r)
{
	struct virgl *v = to_virgl(r);
	eventfd_t n;

	if (v->wake_fd >= 0)
		eventfd_read(v->wake_fd, &n); /* drained before what it announced is read */
	virgl_renderer_poll();
	retire_global(v);
	fence_queue_drain(&v->rings, r, "virgl");
}

/* Readable when poll may retire fences: our eventfd where virglrenderer
   calls back from its threads, else its own (THREAD_SYNC's), -1 without. */
static int
virgl_fence_fd(struct renderer *r)
{
	struct virgl *v = to_virgl(r);

	return v->wake_fd >= 0 ? v->wake_fd : virgl_renderer_get_poll_fd();
}

#if KR_HAVE_VENUS
static int
virgl_resource_create_blob(struct renderer *r, const struct renderer_blob *a, struct resource **out)
{
	const struct backing *b = a->backing;
	struct virgl_renderer_resource_create_blob_args args = {
		.res_handle = a->id,
		.ctx_id = a->ctx_id,
		.blob_mem = a->blob_mem,
		.blob_flags = a->blob_flags,
		.blob_id = a->blob_id,
		.size = a->size,
	};
	struct virgl_res *vr;

	if (b && (!b->iov || b->n_iov > UINT32_MAX))
		return -EINVAL;
	if (b) {
		args.iovecs = b->iov;
		args.num_iovs = (uint32_t)b->n_iov;
	}
	vr = calloc(1, sizeof(*vr));
	if (!vr)
		return -ENOMEM;
	if (virgl_renderer_resource_create_blob(&args) != 0) {
		log_bug_guest(r->log,
			      "virgl: blob %u (ctx %u, blob_id %llu, %llu bytes) not created",
			      a->id, a->ctx_id, (unsigned long long)a->blob_id,
			      (unsigned long long)a->size);
		free(vr);
		return -EINVAL;
	}
	vr->fd = -1;
	vr->base.id = a->id;
	/* virglrenderer keeps a GUEST blob's iovecs: detach/attach_backing hand
	   it new ones when the memory map changes. */
	vr->attached = b != NULL;
	*out = &vr->base;
	return 0;
}

/* The blob's memory as an fd the frontend can map, or -1; *type is
   VIRGL_RENDERER_BLOB_FD_TYPE_*. */
static int
export_fd(uint32_t id, uint32_t *type)
{
	int fd = -1;

	*type = 0;
	if (virgl_renderer_resource_export_blob(id, type, &fd) != 0 || fd < 0)
		return -1;
	if (*type == VIRGL_RENDERER_BLOB_FD_TYPE_SHM ||
	    *type == VIRGL_RENDERER_BLOB_FD_TYPE_OPAQUE ||
	    *type == VIRGL_RENDERER_BLOB_FD_TYPE_DMABUF)
		return fd;
	close(fd);
	return -1;
}

/* Our own mapping of a shm or dma-buf fd: its bytes start at offset 0. */
static void *
map_fd(int fd, uint64_t size)
{
	struct stat st;

	if (fd < 0 || size > SIZE_MAX || fstat(fd, &st) < 0 ||
	    (S_ISREG(st.st_mode) && (uint64_t)st.st_size < size))
		return NULL;
	void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Map a MAPPABLE host blob: its exported fd for the frontend's window, and
   a mapping here.  Shm and dma-buf fds we map ourselves at offset 0; an
   opaque fd through virglrenderer (its Vulkan device in this process
   imports it), and the frontend gets the offset that mapping uses. */
static int
virgl_resource_map(struct renderer *r, struct resource *res, struct renderer_map *out)
{
	struct virgl_res *vr = to_res(res);
	uint32_t info = VIRGL_RENDERER_MAP_CACHE_CACHED, type = 0;
	uint64_t size = (res->blob_size + 4095) & ~(uint64_t)4095;

	if (vr->fd < 0)
		vr->fd = export_fd(res->id, &type);
	if (!vr->map && type != VIRGL_RENDERER_BLOB_FD_TYPE_OPAQUE &&
	    (vr->map = map_fd(vr->fd, size)) != NULL) {
		vr->map_size = size;
		vr->own_map = true;
	}
	if (!vr->map) {
		void *p = NULL;
		if (virgl_renderer_resource_map(res->id, &p, &size) != 0 || !p) {
			log_bug_guest(r->log, "virgl: blob %u cannot be mapped", res->id);
			return -EINVAL;
		}
		vr->map = p;
		vr->map_size = size;
		vr->fd_offset = 0;
		if (vr->fd >= 0 && fd_offset_of(vr->fd, p, size, &vr->fd_offset) < 0) {
			log_msg(r->log, KR_LOG_WARN,
				"virgl: blob %u: its fd does not back virglrenderer's mapping; "
				"the frontend cannot map it",
				res->id);
			close(vr->fd);
			vr->fd = -1;
		}
	}
	if (virgl_renderer_resource_get_map_info(res->id, &info) != 0)
		info = VIRGL_RENDERER_MAP_CACHE_CACHED;
	*out = (struct renderer_map){
		.host = vr->map,
		.size = vr->map_size,
		.fd = vr->fd,
		.fd_offset = vr->fd_offset,
		.map_info = info & VIRTIO_GPU_MAP_CACHE_MASK,
	};
	return 0;
}

static int
virgl_blob_read(struct renderer *r, struct resource *res, uint64_t off, void *dst, size_t len)
{
	struct virgl_res *vr = to_res(res);
	struct renderer_map m;

	if (!vr->map && virgl_resource_map(r, res, &m) < 0)
		return -EINVAL;
	if (off > vr->map_size || len > vr->map_size - off)
		return -EINVAL;
	memcpy(dst, (const uint8_t *)vr->map + off, len);
	return 0;
}
#endif

#if KR_HAVE_VENUS
#define VIRGL_FEATURES                                                                             \
	((1ull << VIRTIO_GPU_F_VIRGL) | (1ull << VIRTIO_GPU_F_RESOURCE_BLOB) |                     \
	 (1ull << VIRTIO_GPU_F_CONTEXT_INIT))
#define VIRGL_BLOB_OPS                                                                             \
	.resource_create_blob = virgl_resource_create_blob, .resource_map = virgl_resource_map,    \
	.resource_unmap = virgl_resource_unmap, .blob_read = virgl_blob_read,
#else
#define VIRGL_FEATURES (1ull << VIRTIO_GPU_F_VIRGL)
#define VIRGL_BLOB_OPS
#endif

/* Everything but the name and create: virgl and venus are one backend. */
#define VIRGL_OPS                                                                                  \
	.features = VIRGL_FEATURES, .pixels_read_back = true, .destroy = virgl_destroy,            \
	.resource_create_2d = virgl_resource_create_2d,                                            \
	.resource_destroy = virgl_resource_destroy, .transfer_to_host_2d = virgl_transfer_2d,      \
	.resource_pixels = virgl_resource_pixels, .resource_create_3d = virgl_resource_create_3d,  \
	.attach_backing = virgl_attach_backing, .detach_backing = virgl_detach_backing,            \
	.transfer_3d = virgl_transfer_3d, .ctx_create = virgl_ctx_create,                          \
	.ctx_destroy = virgl_ctx_destroy, .ctx_attach = virgl_ctx_attach,                          \
	.ctx_detach = virgl_ctx_detach, .submit_3d = virgl_submit_3d,                              \
	.num_capsets = virgl_num_capsets, .capset_info = virgl_capset_info,                        \
	.capset_get = virgl_capset_get, .create_fence = virgl_create_fence, .poll = virgl_poll,    \
	.fence_fd = virgl_fence_fd, VIRGL_BLOB_OPS

const struct renderer_ops virgl_ops = {.name = "virgl", .create = virgl_create, VIRGL_OPS};
const struct renderer_ops venus_ops = {.name = "venus", .create = venus_create, VIRGL_OPS};
