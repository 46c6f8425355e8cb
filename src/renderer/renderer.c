/* SPDX-License-Identifier: MIT */
/* The registry of built-in backends. */
#include "renderer.h"

#include <errno.h>
#include <linux/virtio_gpu.h>
#include <stddef.h>
#include <string.h>

#include "util/log.h"
#include "util/util.h"

static const struct {
	const char *name;
	const struct renderer_ops *ops;
} registry[] = {
	{"2d", &r2d_ops},
#if KR_HAVE_VIRGL
	{"virgl", &virgl_ops},
	{"3d", &virgl_ops},
	{"venus", &venus_ops},
#endif
	{"gfxstream", &gfxstream_ops},
};

static const char *const names[] = {
	"2d",
#if KR_HAVE_VIRGL
	"virgl",     "3d", "venus",
#endif
	"gfxstream", NULL,
};

const struct renderer_ops *
renderer_lookup(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(registry); i++) {
		if (strcmp(registry[i].name, name) == 0)
			return registry[i].ops;
	}
	return NULL;
}

const char *const *
renderer_names(void)
{
	return names;
}

/* ---- creation: the ops are checked first ---- */

/* Methods that must all be there, or all be missing, for a feature bit
   (or, with bit -1, whenever any of them is there). */
#define M(name)                                                                                    \
	{                                                                                          \
#name, offsetof(struct renderer_ops, name)                                         \
	}
struct method {
	const char *name;
	size_t offset;
};

static const struct {
	int bit; /* VIRTIO_GPU_F_*: needed when declared; -1: a pair or group */
	const char *what;
	struct method m[8];
} groups[] = {
	{-2,
	 "required",
	 {M(create), M(destroy), M(resource_create_2d), M(resource_destroy), M(transfer_to_host_2d),
	  M(resource_pixels)}},
	{VIRTIO_GPU_F_VIRGL,
	 "3D (VIRGL)",
	 {M(resource_create_3d), M(transfer_3d), M(ctx_create), M(ctx_destroy), M(submit_3d),
	  M(num_capsets), M(capset_info), M(capset_get)}},
	{VIRTIO_GPU_F_RESOURCE_BLOB, "blobs (RESOURCE_BLOB)", {M(resource_create_blob)}},
	{VIRTIO_GPU_F_CONTEXT_INIT, "CONTEXT_INIT", {M(ctx_create), M(ctx_destroy)}},
	{-1, "capsets", {M(num_capsets), M(capset_info), M(capset_get)}},
	{-1, "blob mapping", {M(resource_map), M(resource_unmap)}},
	{-1, "backing hooks", {M(attach_backing), M(detach_backing)}},
	{-1, "context resources", {M(ctx_attach), M(ctx_detach)}},
};

static bool
has(const struct renderer_ops *ops, const struct method *m)
{
	void *fn;

	memcpy(&fn, (const char *)ops + m->offset, sizeof(fn));
	return fn != NULL;
}

/* NULL when ops are complete, else the first method missing (and its group). */
static const struct method *
ops_missing(const struct renderer_ops *ops, const char **group)
{
	for (size_t g = 0; g < ARRAY_SIZE(groups); g++) {
		bool any = false, all = true;
		const struct method *miss = NULL;
		for (const struct method *m = groups[g].m; m < groups[g].m + 8 && m->name; m++) {
			bool h = has(ops, m);
			any |= h;
			all &= h;
			if (!h && !miss)
				miss = m;
		}
		bool needed = groups[g].bit == -2 ||
			      (groups[g].bit >= 0 && (ops->features >> groups[g].bit) & 1) ||
			      (groups[g].bit == -1 && any);
		if (needed && !all) {
			*group = groups[g].what;
			return miss;
		}
	}
	return NULL;
}

int
renderer_create(const struct renderer_ops *ops, const struct renderer_init *init,
		struct renderer **out)
{
	const char *group = NULL;
	const struct method *miss = ops_missing(ops, &group);
	int ret;

	if (miss) {
		log_bug_host(init->log, "backend %s declares %s but has no %s method",
			     ops->name ? ops->name : "?", group, miss->name);
		return -EINVAL;
	}
	ret = ops->create(init, out);
	if (ret < 0)
		return ret;
	(*out)->ops = ops;
	(*out)->log = init->log;
	(*out)->host = init->host;
	return 0;
}

void
renderer_destroy(struct renderer *r)
{
	r->ops->destroy(r);
}

uint64_t
renderer_features(const struct renderer *r)
{
	return r->ops->features;
}

bool
renderer_fences_async(const struct renderer *r)
{
	return r->ops->create_fence != NULL;
}

bool
renderer_pixels_read_back(const struct renderer *r)
{
	return r->ops->pixels_read_back;
}

/* ---- the methods: one wrapper each; a missing optional one is -EOPNOTSUPP ---- */

#define CALL(r, name, ...) ((r)->ops->name ? (r)->ops->name((r), __VA_ARGS__) : -EOPNOTSUPP)
#define CALL_VOID(r, name, ...)                                                                    \
	do {                                                                                       \
		if ((r)->ops->name)                                                                \
			(r)->ops->name((r), __VA_ARGS__);                                          \
	} while (0)

int
renderer_resource_create_2d(struct renderer *r, const struct renderer_res_2d *a,
			    struct resource **out)
{
	return CALL(r, resource_create_2d, a, out);
}

void
renderer_resource_destroy(struct renderer *r, struct resource *res)
{
	r->ops->resource_destroy(r, res);
}

int
renderer_transfer_to_host_2d(struct renderer *r, struct resource *res, const struct kr_rect *rect,
			     uint64_t offset)
{
	return CALL(r, transfer_to_host_2d, res, rect, offset);
}

int
renderer_resource_pixels(struct renderer *r, struct resource *res, const struct kr_rect *fresh,
			 const uint8_t **pixels, uint32_t *stride)
{
	return CALL(r, resource_pixels, res, fresh, pixels, stride);
}

int
renderer_resource_create_3d(struct renderer *r, const struct renderer_res_3d *a,
			    struct resource **out)
{
	return CALL(r, resource_create_3d, a, out);
}

int
renderer_attach_backing(struct renderer *r, struct resource *res)
{
	/* Backends that do not read the backing themselves need no word. */
	return r->ops->attach_backing ? r->ops->attach_backing(r, res) : 0;
}

void
renderer_detach_backing(struct renderer *r, struct resource *res)
{
	CALL_VOID(r, detach_backing, res);
}

int
renderer_transfer_3d(struct renderer *r, struct resource *res, const struct renderer_transfer *t)
{
	return CALL(r, transfer_3d, res, t);
}

int
renderer_ctx_create(struct renderer *r, uint32_t ctx_id, uint32_t capset_id, const char *name,
		    uint32_t nlen)
{
	return CALL(r, ctx_create, ctx_id, capset_id, name, nlen);
}

void
renderer_ctx_destroy(struct renderer *r, uint32_t ctx_id)
{
	CALL_VOID(r, ctx_destroy, ctx_id);
}

void
renderer_ctx_attach(struct renderer *r, uint32_t ctx_id, struct resource *res)
{
	CALL_VOID(r, ctx_attach, ctx_id, res);
}

void
renderer_ctx_detach(struct renderer *r, uint32_t ctx_id, struct resource *res)
{
	CALL_VOID(r, ctx_detach, ctx_id, res);
}

int
renderer_submit_3d(struct renderer *r, uint32_t ctx_id, void *buf, uint32_t size)
{
	return CALL(r, submit_3d, ctx_id, buf, size);
}

uint32_t
renderer_num_capsets(struct renderer *r)
{
	return r->ops->num_capsets ? r->ops->num_capsets(r) : 0;
}

int
renderer_capset_info(struct renderer *r, uint32_t index, struct renderer_capset *out)
{
	return CALL(r, capset_info, index, out);
}

int
renderer_capset_get(struct renderer *r, uint32_t id, uint32_t version, void *buf, uint32_t size)
{
	return CALL(r, capset_get, id, version, buf, size);
}

int
renderer_resource_create_blob(struct renderer *r, const struct renderer_blob *a,
			      struct resource **out)
{
	return CALL(r, resource_create_blob, a, out);
}

int
renderer_resource_map(struct renderer *r, struct resource *res, struct renderer_map *out)
{
	return CALL(r, resource_map, res, out);
}

void
renderer_resource_unmap(struct renderer *r, struct resource *res)
{
	CALL_VOID(r, resource_unmap, res);
}

int
renderer_blob_read(struct renderer *r, struct resource *res, uint64_t off, void *dst, size_t len)
{
	return CALL(r, blob_read, res, off, dst, len);
}

int
renderer_create_fence(struct renderer *r, uint64_t seq, uint32_t ctx_id, uint8_t ring_idx,
		      bool on_ring)
{
	return CALL(r, create_fence, seq, ctx_id, ring_idx, on_ring);
}

void
renderer_poll(struct renderer *r)
{
	if (r->ops->poll)
		r->ops->poll(r);
}

int
renderer_fence_fd(struct renderer *r)
{
	int fd = r->ops->fence_fd ? r->ops->fence_fd(r) : -1;

	return fd >= 0 ? fd : -ENOTSUP;
}
