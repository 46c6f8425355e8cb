/* SPDX-License-Identifier: MIT */
/*
 * The renderer interface: one const struct renderer_ops per backend file,
 * found by name in the registry (renderer.c).  The core validates every
 * guest value before calling a method; methods see only sane arguments.
 *
 * The core calls methods only through the renderer_*() wrappers below: a
 * missing optional method answers -EOPNOTSUPP (or does nothing), and
 * renderer_create() refuses ops whose declared features lack a method of
 * their group.  A backend sees the core only through struct renderer: its
 * logger and the fence-retirement entry points; everything else it needs
 * comes in struct renderer_init at creation.
 */
#ifndef KR_RENDERER_H
#define KR_RENDERER_H

#include <linux/virtio_gpu.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "core/resource.h"
#include "kohlrabi/kohlrabi.h"
#include "util/log.h"

struct renderer;

/* The core's side, handed to the backend: fence retirement only. */
struct renderer_host {
	void *core; /* borrowed: handed back to the functions */
	/* A fence retired, by the sequence create_fence was given. */
	void (*fence_retired)(void *core, uint64_t seq, uint32_t ctx_id, uint8_t ring_idx,
			      bool on_ring);
	/* The backend lost track of its fences: complete every pending one. */
	void (*fence_retire_all)(void *core);
};

/* What a backend is created with.  Pointers are borrowed and live as long
   as the renderer. */
struct renderer_init {
	struct logger *log;
	struct renderer_host host;
	const struct kr_backend_config *cfg; /* the backend's knobs, defaults filled in */
};

struct renderer_res_2d {
	uint32_t id;
	uint32_t format;	/* a known VIRTIO_GPU_FORMAT_* */
	uint32_t width, height; /* non-zero, size already charged */
};

struct renderer_res_3d {
	uint32_t id, target, format, bind;
	uint32_t width, height, depth, array_size, last_level, nr_samples, flags;
};

struct renderer_transfer {
	uint32_t ctx_id, level, stride, layer_stride;
	uint32_t x, y, z, w, h, d; /* the box, validated against the level */
	uint64_t offset;
	bool to_host;
};

struct renderer_blob {
	uint32_t id, ctx_id; /* ctx_id: a live context, or 0 for GUEST blobs */
	uint32_t blob_mem;   /* VIRTIO_GPU_BLOB_MEM_* */
	uint32_t blob_flags; /* VIRTIO_GPU_BLOB_FLAG_* */
	uint64_t blob_id;
	uint64_t size;		       /* non-zero; the backing holds at least this */
	const struct backing *backing; /* borrowed, mapped; NULL for HOST3D */
};

/* A host mapping of a blob, for RESOURCE_MAP_BLOB. */
struct renderer_map {
	void *host;	    /* in this process, may be NULL when fd is given */
	uint64_t size;	    /* bytes of the mapping, at least the blob size */
	int fd;		    /* the renderer's, valid until resource_unmap; -1 when none */
	uint64_t fd_offset; /* where the blob starts in fd */
	uint32_t map_info;  /* VIRTIO_GPU_MAP_CACHE_* */
};

struct renderer_capset {
	uint32_t id;
	uint32_t max_version;
	uint32_t max_size;
};

struct renderer_ops {
	const char *name;
	uint64_t features; /* VIRTIO_GPU_F_* bits the backend adds (1ull << bit) */
	/* resource_pixels hands out a copy read back from the renderer (not
	   the resource's own memory): the core may defer it to the display's
	   refresh (KR_GPU_CB_DEFER_READBACK). */
	bool pixels_read_back;

	/* Required.  create allocates the backend's struct (embedding struct
	   renderer); renderer_create() fills in ops, log and host. */
	int (*create)(const struct renderer_init *init, struct renderer **out);
	void (*destroy)(struct renderer *r);

	/* Allocate a resource (renderer struct embedding struct resource) with
	   id/format/width/height filled in.  -ENOMEM when the host cannot. */
	int (*resource_create_2d)(struct renderer *r, const struct renderer_res_2d *a,
				  struct resource **out);
	/* Free a resource allocated above; its backing is already gone. */
	void (*resource_destroy)(struct renderer *r, struct resource *res);
	/* Copy rect (inside the resource) from res->backing (mapped, and holding
	   offset + (height-1)*width*bpp + rect.width*bpp bytes). */
	int (*transfer_to_host_2d)(struct renderer *r, struct resource *res,
				   const struct kr_rect *rect, uint64_t offset);
	/* Host pixels of a resource for the display path.  A renderer that
	   keeps a copy (a readback) refreshes only fresh, the part (inside the
	   resource) whose current pixels the caller needs; fresh NULL: the copy
	   as it is (read whole only the first time). */
	int (*resource_pixels)(struct renderer *r, struct resource *res,
			       const struct kr_rect *fresh, const uint8_t **pixels,
			       uint32_t *stride);

	/* Optional: 3D (VIRGL feature).  Errors answer ERR_UNSPEC unless noted. */
	int (*resource_create_3d)(struct renderer *r, const struct renderer_res_3d *a,
				  struct resource **out);
	/* res->backing was attached / is about to go (also around a memory map
	   change).  Optional: backends that read the backing themselves. */
	int (*attach_backing)(struct renderer *r, struct resource *res);
	void (*detach_backing)(struct renderer *r, struct resource *res);
	int (*transfer_3d)(struct renderer *r, struct resource *res,
			   const struct renderer_transfer *t);
	/* name: nlen bytes, NUL-terminated, at most 64 */
	int (*ctx_create)(struct renderer *r, uint32_t ctx_id, uint32_t capset_id, const char *name,
			  uint32_t nlen);
	void (*ctx_destroy)(struct renderer *r, uint32_t ctx_id);
	void (*ctx_attach)(struct renderer *r, uint32_t ctx_id, struct resource *res);
	void (*ctx_detach)(struct renderer *r, uint32_t ctx_id, struct resource *res);
	/* buf: size bytes (a multiple of 4), 4-byte aligned, ours */
	int (*submit_3d)(struct renderer *r, uint32_t ctx_id, void *buf, uint32_t size);

	/* Optional: capsets (index < num). */
	uint32_t (*num_capsets)(struct renderer *r);
	int (*capset_info)(struct renderer *r, uint32_t index, struct renderer_capset *out);
	int (*capset_get)(struct renderer *r, uint32_t id, uint32_t version, void *buf,
			  uint32_t size);

	/* Optional: blobs (RESOURCE_BLOB).  Allocate a resource with id set
	   (width/height 0).  -EINVAL answers INVALID_PARAMETER. */
	int (*resource_create_blob)(struct renderer *r, const struct renderer_blob *a,
				    struct resource **out);
	/* Map a MAPPABLE host blob (until resource_unmap or destroy). */
	int (*resource_map)(struct renderer *r, struct resource *res, struct renderer_map *out);
	void (*resource_unmap)(struct renderer *r, struct resource *res);
	/* Copy len bytes at off (inside the blob) of a host blob's memory, for
	   scanouts of HOST3D blobs. */
	int (*blob_read)(struct renderer *r, struct resource *res, uint64_t off, void *dst,
			 size_t len);

	/* Optional: a fence that retires later, through gpu_fence_retired(seq).
	   seq is the core's (never reused, increasing), not the guest's fence
	   id.  NULL: fences retire as soon as the command is done.  On failure
	   the request completes after the earlier fences of its timeline. */
	int (*create_fence)(struct renderer *r, uint64_t seq, uint32_t ctx_id, uint8_t ring_idx,
			    bool on_ring);
	/* Optional: look for finished work. */
	void (*poll)(struct renderer *r);
	/* Optional: an fd (the renderer's, open until destroy) that becomes
	   readable when poll may retire fences; poll drains it. */
	int (*fence_fd)(struct renderer *r);
};

struct renderer {
	const struct renderer_ops *ops;
	struct logger *log; /* borrowed: the device's */
	struct renderer_host host;
};

/* Backends report retired fences here. */
static inline void
renderer_fence_retired(struct renderer *r, uint64_t seq, uint32_t ctx_id, uint8_t ring_idx,
		       bool on_ring)
{
	r->host.fence_retired(r->host.core, seq, ctx_id, ring_idx, on_ring);
}

static inline void
renderer_fence_retire_all(struct renderer *r)
{
	r->host.fence_retire_all(r->host.core);
}

/* Check ops (required methods; each declared feature's group complete;
   methods that come in pairs) and create the renderer.  -EINVAL (logged)
   for incomplete ops, else what the backend's create returns. */
int renderer_create(const struct renderer_ops *ops, const struct renderer_init *init,
		    struct renderer **out);
void renderer_destroy(struct renderer *r);
uint64_t renderer_features(const struct renderer *r);
/* Fences retire later through renderer_fence_retired (create_fence set). */
bool renderer_fences_async(const struct renderer *r);
/* resource_pixels reads back (renderer_ops.pixels_read_back). */
bool renderer_pixels_read_back(const struct renderer *r);

/* The methods, in the order of struct renderer_ops. */
int renderer_resource_create_2d(struct renderer *r, const struct renderer_res_2d *a,
				struct resource **out);
void renderer_resource_destroy(struct renderer *r, struct resource *res);
int renderer_transfer_to_host_2d(struct renderer *r, struct resource *res,
				 const struct kr_rect *rect, uint64_t offset);
int renderer_resource_pixels(struct renderer *r, struct resource *res, const struct kr_rect *fresh,
			     const uint8_t **pixels, uint32_t *stride);
int renderer_resource_create_3d(struct renderer *r, const struct renderer_res_3d *a,
				struct resource **out);
int renderer_attach_backing(struct renderer *r, struct resource *res);
void renderer_detach_backing(struct renderer *r, struct resource *res);
int renderer_transfer_3d(struct renderer *r, struct resource *res,
			 const struct renderer_transfer *t);
int renderer_ctx_create(struct renderer *r, uint32_t ctx_id, uint32_t capset_id, const char *name,
			uint32_t nlen);
void renderer_ctx_destroy(struct renderer *r, uint32_t ctx_id);
void renderer_ctx_attach(struct renderer *r, uint32_t ctx_id, struct resource *res);
void renderer_ctx_detach(struct renderer *r, uint32_t ctx_id, struct resource *res);
int renderer_submit_3d(struct renderer *r, uint32_t ctx_id, void *buf, uint32_t size);
uint32_t renderer_num_capsets(struct renderer *r);
int renderer_capset_info(struct renderer *r, uint32_t index, struct renderer_capset *out);
int renderer_capset_get(struct renderer *r, uint32_t id, uint32_t version, void *buf,
			uint32_t size);
int renderer_resource_create_blob(struct renderer *r, const struct renderer_blob *a,
				  struct resource **out);
int renderer_resource_map(struct renderer *r, struct resource *res, struct renderer_map *out);
void renderer_resource_unmap(struct renderer *r, struct resource *res);
int renderer_blob_read(struct renderer *r, struct resource *res, uint64_t off, void *dst,
		       size_t len);
int renderer_create_fence(struct renderer *r, uint64_t seq, uint32_t ctx_id, uint8_t ring_idx,
			  bool on_ring);
void renderer_poll(struct renderer *r);
/* The renderer's fence fd, or -ENOTSUP (poll on a timer instead). */
int renderer_fence_fd(struct renderer *r);

/* The backend called name ("3d" is an alias of "virgl"), or NULL. */
const struct renderer_ops *renderer_lookup(const char *name);
/* NULL-terminated names of the built-in backends. */
const char *const *renderer_names(void);

extern const struct renderer_ops r2d_ops;
#if KR_HAVE_VIRGL
extern const struct renderer_ops virgl_ops;
extern const struct renderer_ops venus_ops; /* virgl with Venus required */
#endif
extern const struct renderer_ops gfxstream_ops;

#endif
