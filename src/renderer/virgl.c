/* SPDX-License-Identifier: MIT */
/*
 * The virgl backend (alias 3d): OpenGL passthrough through virglrenderer, on
 * EGL surfaceless (Mesa llvmpipe when there is no GPU) or a render node.
 *
 * virglrenderer keeps process-wide state, so only one device per process may
 * use it: the one exception to "no global state" (a second create gets
 * -EBUSY).  Fences: virglrenderer reports 32-bit fence numbers in order; we
 * hand it our own sequence and map it back to the guest's fences.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <virgl/virglrenderer.h>

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

struct virgl {
	struct renderer base;
	int cookie;		 /* virglrenderer wants a non-NULL cookie */
	const char *render_node; /* borrowed (the device's config); NULL: surfaceless */
	uint32_t seq;
	struct virgl_fence fences[VIRGL_MAX_FENCES]; /* ring of fences in flight */
	unsigned head, count;
};

struct virgl_res {
	struct resource base;
	uint8_t *pixels; /* owned: readback for the display (2D-able resources) */
	uint32_t stride;
	bool attached; /* the backing's iovecs are handed to virglrenderer */
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

static void
write_fence(void *cookie, uint32_t seq)
{
	struct virgl *v = container_of((int *)cookie, struct virgl, cookie);

	/* Retire, in order, every fence up to seq (wrap-aware). */
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

static int
virgl_create(const struct renderer_init *init, struct renderer **out)
{
	static struct virgl_renderer_callbacks cbs_surfaceless = {.version = 2,
								  .write_fence = write_fence};
	static struct virgl_renderer_callbacks cbs_node = {
		.version = 2, .write_fence = write_fence, .get_drm_fd = get_drm_fd};
	struct virgl *v;
	int flags = VIRGL_RENDERER_USE_EGL | VIRGL_RENDERER_USE_GLES;

	if (instance)
		return -EBUSY;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->render_node = init->cfg->virgl.render_node;
	if (v->render_node) {
		/* Check the node ourselves: a clear message beats EGL's. */
		int fd = open(v->render_node, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			log_msg(init->log, KR_LOG_WARN,
				"render node %s: %s; virgl runs surfaceless (Mesa's software "
				"rendering) instead",
				v->render_node, strerror(errno));
			v->render_node = NULL;
		} else {
			close(fd);
		}
	}
	virgl_set_debug_callback(debug_log);
	if (v->render_node && virgl_renderer_init(&v->cookie, flags, &cbs_node) != 0) {
		log_msg(init->log, KR_LOG_WARN,
			"virglrenderer: EGL initialisation on %s failed; virgl runs surfaceless "
			"(Mesa's software rendering) instead",
			v->render_node);
		v->render_node = NULL;
	}
	if (!v->render_node &&
	    virgl_renderer_init(&v->cookie, flags | VIRGL_RENDERER_USE_SURFACELESS,
				&cbs_surfaceless) != 0) {
		log_bug_host(init->log, "virglrenderer: EGL initialisation failed (surfaceless); "
					"install Mesa's EGL drivers (libegl-mesa0)");
		free(v);
		return -ENODEV;
	}
	instance = v;
	*out = &v->base;
	return 0;
}

static void
virgl_destroy(struct renderer *r)
{
	struct virgl *v = to_virgl(r);

	virgl_renderer_cleanup(&v->cookie);
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

static void
virgl_resource_destroy(struct renderer *r, struct resource *res)
{
	struct virgl_res *vr = to_res(res);

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

/* Read a resource back into host memory for the display path. */
static int
virgl_resource_pixels(struct renderer *r, struct resource *res, const uint8_t **pixels,
		      uint32_t *stride)
{
	struct virgl_res *vr = to_res(res);
	uint64_t size = (uint64_t)res->width * res->height * 4;
	struct virgl_box box = {0, 0, 0, res->width, res->height, 1};

	(void)r;
	if (size > SIZE_MAX)
		return -ENOMEM;
	if (!vr->pixels) {
		vr->pixels = malloc((size_t)size);
		if (!vr->pixels)
			return -ENOMEM;
	}
	vr->stride = res->width * 4;
	struct iovec iov = {vr->pixels, (size_t)size};
	if (virgl_renderer_transfer_read_iov(res->id, 0, 0, vr->stride, 0, &box, 0, &iov, 1) != 0)
		return -EIO;
	*pixels = vr->pixels;
	*stride = vr->stride;
	return 0;
}

static int
virgl_ctx_create(struct renderer *r, uint32_t ctx_id, uint32_t capset_id, const char *name,
		 uint32_t nlen)
{
	(void)r;
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
	(void)r;
	return 2; /* VIRGL, VIRGL2 */
}

static int
virgl_capset_info(struct renderer *r, uint32_t index, struct renderer_capset *out)
{
	uint32_t id = index + 1, ver = 0, size = 0;

	(void)r;
	if (index >= 2)
		return -EINVAL;
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
	(void)r;
	virgl_renderer_poll();
}

const struct renderer_ops virgl_ops = {
	.name = "virgl",
	.features = 1ull << VIRTIO_GPU_F_VIRGL,
	.create = virgl_create,
	.destroy = virgl_destroy,
	.resource_create_2d = virgl_resource_create_2d,
	.resource_destroy = virgl_resource_destroy,
	.transfer_to_host_2d = virgl_transfer_2d,
	.resource_pixels = virgl_resource_pixels,
	.resource_create_3d = virgl_resource_create_3d,
	.attach_backing = virgl_attach_backing,
	.detach_backing = virgl_detach_backing,
	.transfer_3d = virgl_transfer_3d,
	.ctx_create = virgl_ctx_create,
	.ctx_destroy = virgl_ctx_destroy,
	.ctx_attach = virgl_ctx_attach,
	.ctx_detach = virgl_ctx_detach,
	.submit_3d = virgl_submit_3d,
	.num_capsets = virgl_num_capsets,
	.capset_info = virgl_capset_info,
	.capset_get = virgl_capset_get,
	.create_fence = virgl_create_fence,
	.poll = virgl_poll,
};
