/* SPDX-License-Identifier: MIT */
/*
 * libkohlrabi: the host side of a virtio-gpu device.
 *
 * The library decodes and executes virtio-gpu commands.  It does no I/O of its
 * own: the embedder (a VMM, or the kohlrabi vhost-user daemon) walks the
 * virtqueues, translates descriptors to host pointers and hands each request to
 * kr_gpu_ctrl() or kr_gpu_cursor().  Display output, fence completion and log
 * messages come back through callbacks.
 *
 * Threading: a struct kr_gpu is not thread-safe; call every function for one
 * device from one thread at a time.  Distinct devices are independent (the
 * library has no global state), with one documented exception: backends that
 * wrap libraries with process-wide state (virgl, gfxstream) refuse a second
 * live device with -EBUSY.
 *
 * Errors: every function returning int returns 0 on success or a negative
 * errno value.
 */
#ifndef KOHLRABI_H
#define KOHLRABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KR_EXPORT __attribute__((visibility("default")))
#else
#define KR_EXPORT
#endif

#define KR_MAX_SCANOUTS 16
/* Host memory guest resources may take by default: 24 32-bit buffers of the
   largest mode the guest kernel offers from our EDID (5120x2160, 42 MiB). */
#define KR_DEFAULT_MAX_HOSTMEM	 (1024ull * 1024 * 1024)
#define KR_DEFAULT_MAX_RESOURCES 16384u
#define KR_DEFAULT_MAX_CONTEXTS	 1024u
/* The virtio shared memory region id of the host-visible window. */
#define KR_SHMID_HOST_VISIBLE 1
/* Cursor images are always 64x64 pixels. */
#define KR_CURSOR_SIZE 64

struct kr_gpu;

enum kr_log_level {
	KR_LOG_ERROR = 0,
	KR_LOG_WARN = 1,
	KR_LOG_INFO = 2,
	KR_LOG_DEBUG = 3,
};

struct kr_scanout_config {
	uint32_t width;	 /* preferred mode, 1..16384 */
	uint32_t height; /* preferred mode, 1..16384 */
	bool enabled;	 /* reported as connected in GET_DISPLAY_INFO */
};

#define KR_GPU_CONFIG_VERSION 4

/* gfxstream renderer flags (STREAM_RENDERER_FLAGS_*): Vulkan on EGL
   surfaceless, the default; and that plus external and system blobs, whose
   memory comes as an fd another process (a vhost-user frontend) can map. */
#define KR_GFXSTREAM_FLAGS_DEFAULT  0x28u
#define KR_GFXSTREAM_FLAGS_FD_BLOBS 0xe8u

/* Version 4: the knobs of one backend each (kr_gpu_config.backends). */
struct kr_backend_config {
	struct {
		/* The DRM render node to render on; NULL = EGL surfaceless (Mesa
		   llvmpipe when there is no GPU).  Borrowed. */
		const char *render_node;
	} virgl;
	struct {
		/* The library to load (borrowed); NULL = search
		   libgfxstream_backend.so.0, then libgfxstream_backend.so. */
		const char *lib;
		/* Renderer flags; 0 = KR_GFXSTREAM_FLAGS_DEFAULT. */
		uint32_t flags;
	} gfxstream;
};

/*
 * Device configuration.  Fill it with kr_gpu_config_init() and change what you
 * need.  Zero in max_hostmem / max_resources selects the default.
 */
struct kr_gpu_config {
	uint32_t version;      /* KR_GPU_CONFIG_VERSION */
	const char *backend;   /* borrowed: "2d", "virgl", "3d", "gfxstream"; NULL = "2d" */
	uint32_t num_scanouts; /* 1..KR_MAX_SCANOUTS */
	struct kr_scanout_config scanouts[KR_MAX_SCANOUTS];
	bool edid;		     /* offer VIRTIO_GPU_F_EDID */
	uint64_t max_hostmem;	     /* bytes of host memory for resources; 0 = 256 MiB */
	uint32_t max_resources;	     /* live resources at once; 0 = KR_DEFAULT_MAX_RESOURCES */
	enum kr_log_level log_level; /* messages above this level are dropped */
	/* Version 2 and 3 only (version 4: backends.virgl.render_node, and
	   this must be NULL). */
	const char *render_node;
	/* Version 3.  Bytes of the host-visible shared memory region (virtio
	   shmid 1) that RESOURCE_MAP_BLOB maps blobs into; 0 = no region (the
	   guest's MAP_BLOB then fails).  Mapping needs the map_blob callback. */
	uint64_t hostmem_window;
	/* Version 3 only (version 4: backends.gfxstream.lib and .flags, and
	   these must be NULL and 0). */
	const char *gfxstream_lib;
	uint32_t gfxstream_flags;
	/* Most 3D contexts alive at once; 0 = KR_DEFAULT_MAX_CONTEXTS. */
	uint32_t max_contexts;
	/* Version 4.  Each backend's own knobs. */
	struct kr_backend_config backends;
};

/* A readable or writable part of one request, in host virtual addresses. */
struct kr_chain {
	const struct iovec *in; /* borrowed: driver -> device (request) */
	size_t n_in;
	const struct iovec *out; /* borrowed: device -> driver (response) */
	size_t n_out;
	uint64_t cookie; /* the embedder's token, handed back by ctrl_done */
};

struct kr_rect {
	uint32_t x, y, width, height;
};

/* Pixels of a scanout as they sit in the host resource. */
struct kr_scanout_info {
	uint32_t scanout_id;
	uint32_t resource_id;
	uint32_t width, height; /* size of the scanout rectangle (the mode) */
	uint32_t format;	/* VIRTIO_GPU_FORMAT_* (byte order in memory) */
	uint32_t stride;	/* bytes per row of pixels */
	const void *pixels;	/* borrowed: the scanout's top-left pixel; valid until
				   the next scanout_set of this scanout (set again or
				   disabled, also by an unref, reset or destroy).
				   Before the library rewrites or frees these pixels
				   it calls scanout_changing with this info (version
				   2 callbacks): copy what you still need then; do not
				   read the old pointer once scanout_set is called.
				   NULL in a scanout_set not read back yet
				   (KR_GPU_CB_DEFER_READBACK): keep showing what you
				   have until an update brings pixels. */
};

struct kr_cursor_info {
	uint32_t scanout_id;
	uint32_t x, y;	       /* position of the hot spot on the scanout */
	uint32_t hot_x, hot_y; /* hot spot inside the image */
	bool visible;
	/* When the shape changed: 64x64 pixels, 4 bytes each, in format.
	   NULL when only the position changed or the cursor is hidden. */
	const void *pixels; /* borrowed: valid for the duration of the callback */
	uint32_t stride;
	uint32_t format; /* VIRTIO_GPU_FORMAT_* */
};

/* A blob to show in the host-visible window (RESOURCE_MAP_BLOB). */
struct kr_blob_map {
	uint64_t offset;    /* in the window, page aligned */
	uint64_t size;	    /* bytes, a multiple of the page size */
	int fd;		    /* borrowed: a mappable fd of the blob, -1 when none */
	uint64_t fd_offset; /* where the blob starts in fd */
	void *host;	    /* borrowed: the blob mapped in this process, may be NULL */
	uint32_t map_info;  /* VIRTIO_GPU_MAP_CACHE_* */
	bool writable;
};

#define KR_GPU_CALLBACKS_VERSION 4

/* kr_gpu_callbacks.flags (version 4). */
/* The embedder calls kr_gpu_present() at each refresh of its display.  A
   renderer whose scanout pixels are a copy read back from it (virgl,
   gfxstream) then reads back a flushed frame only there, and only the damage
   since the last present: a frame the guest replaced before the refresh (a
   page flip) is never read back.  In exchange scanout_set may come with
   pixels NULL (not read back yet) and flushes of such scanouts report no
   scanout_update at once: kr_gpu_present reports them, with their pixels.
   What is shown is what the resource holds at the refresh, as with a display
   that samples the guest's texture (QEMU's in-process virtio-gpu-gl).  2D
   and blob scanouts are reported at once as without the flag. */
#define KR_GPU_CB_DEFER_READBACK (1u << 0)

/*
 * Callbacks to the embedder.  Every pointer may be NULL.  They are called from
 * inside the library calls that cause them and must not call back into the
 * same device.
 */
struct kr_gpu_callbacks {
	uint32_t version; /* KR_GPU_CALLBACKS_VERSION */
	/* A deferred request (kr_gpu_ctrl returned -EINPROGRESS) is complete:
	   its fence retired; its response (resp_len bytes) was written when
	   kr_gpu_ctrl ran. */
	void (*ctrl_done)(void *user, uint64_t cookie, size_t resp_len);
	/* A fence retired.  Called in fence order per timeline. */
	void (*fence_done)(void *user, uint64_t fence_id, uint32_t ctx_id, uint8_t ring_idx);
	/* A scanout was (re)configured (info != NULL) or disabled (info == NULL
	   and scanout_id gives which). */
	void (*scanout_set)(void *user, uint32_t scanout_id, const struct kr_scanout_info *info);
	/* A rectangle of a scanout changed (rect is relative to the scanout). */
	void (*scanout_update)(void *user, const struct kr_scanout_info *info,
			       const struct kr_rect *rect);
	/* Cursor shape, position or visibility changed. */
	void (*cursor)(void *user, const struct kr_cursor_info *cursor);
	/* The config space changed (events_read gained a bit): raise a config
	   interrupt. */
	void (*config_changed)(void *user);
	/* A log message (no trailing newline).  NULL: messages go to stderr. */
	void (*log)(void *user, enum kr_log_level level, const char *msg);
	/* Version 2.  The pixels of a shown scanout are about to be rewritten by
	   the guest (a transfer into its resource) or freed (the scanout is set
	   to something else, disabled, its resource unreferenced, the device
	   reset): copy what was flushed but not yet shown now.  Lets a display
	   defer its copies to its refresh.  Not called for a page flip (the
	   scanout set to another resource of the same size, no blob before):
	   the scanout_set that follows at once hands over the new frame whole,
	   and the old pixels are neither rewritten nor freed by it. */
	void (*scanout_changing)(void *user, const struct kr_scanout_info *info);
	/* Version 3.  Map a blob into the host-visible window at map->offset
	   (fd and/or host give its memory; dup the fd to keep it).  0 or a
	   negative errno (the guest's MAP_BLOB then fails). */
	int (*map_blob)(void *user, const struct kr_blob_map *map);
	/* Remove what map_blob mapped at offset (guest UNMAP_BLOB, the blob's
	   unref, or a reset).  The library forgets the mapping either way. */
	int (*unmap_blob)(void *user, uint64_t offset, uint64_t size);
	/* Version 4.  KR_GPU_CB_* */
	uint32_t flags;
};

/* A region of guest physical memory mapped into this process. */
struct kr_mem_region {
	uint64_t gpa;  /* guest physical address of the first byte */
	uint64_t size; /* bytes */
	void *host;    /* borrowed: where the first byte is mapped here */
};

/* Fill cfg with the defaults: "2d", one 1280x800 enabled scanout, EDID on. */
KR_EXPORT void kr_gpu_config_init(struct kr_gpu_config *cfg);

/*
 * Create a device.  On success *out owns the device (free with
 * kr_gpu_destroy).  -EINVAL: bad configuration; -ENOENT: the backend is not
 * built in (the log lists the available ones); -ENOMEM.
 * cbs may be NULL; it is copied.  user is handed to every callback.
 */
KR_EXPORT int kr_gpu_create(const struct kr_gpu_config *cfg, const struct kr_gpu_callbacks *cbs,
			    void *user, struct kr_gpu **out);
/* Destroy a device and everything it owns.  Accepts NULL. */
KR_EXPORT void kr_gpu_destroy(struct kr_gpu *gpu);

/* Names of the backends built into this library, NULL-terminated. */
KR_EXPORT const char *const *kr_backends(void);

/*
 * Replace the guest memory map.  The regions are copied; the memory they
 * point at is borrowed and must stay mapped until the next call or
 * kr_gpu_destroy.  Regions must not overlap (-EINVAL).  Backings attached
 * earlier are translated again; parts no longer mapped make transfers from
 * them fail until memory returns.
 */
KR_EXPORT int kr_gpu_set_memory(struct kr_gpu *gpu, const struct kr_mem_region *regions, size_t n);

/* VIRTIO_GPU_F_* feature bits the device offers (bit n = feature n). */
KR_EXPORT uint64_t kr_gpu_features(const struct kr_gpu *gpu);
/* The features the driver accepted (subset of the offered ones, else -EINVAL).
   Until called, every offered feature counts as accepted. */
KR_EXPORT int kr_gpu_set_features(struct kr_gpu *gpu, uint64_t features);

/*
 * Process one control-queue request.  chain->in holds the request,
 * chain->out receives the response.  The response is always written before
 * this returns, and nothing of the chain (iovec arrays or the memory they
 * point at) is used after it returns.  Returns 0 and sets *resp_len to the
 * bytes written (what fits, when out is too small), or -EINPROGRESS when
 * the request is fenced and its fence has not retired: the response is in
 * place but the request is complete only when ctrl_done(cookie, resp_len)
 * is called (put it on the used ring then, not before).  Only the cookie is
 * kept until then; kr_gpu_reset drops it without ctrl_done.  Guest errors
 * are answered in the response and are not errors of this function.
 */
KR_EXPORT int kr_gpu_ctrl(struct kr_gpu *gpu, const struct kr_chain *chain, size_t *resp_len);

/* Process one cursor-queue request.  Cursor commands have no response:
 *resp_len is always 0. */
KR_EXPORT int kr_gpu_cursor(struct kr_gpu *gpu, const struct kr_chain *chain, size_t *resp_len);

/* Let the renderer retire finished fences (backends with asynchronous work). */
KR_EXPORT void kr_gpu_poll(struct kr_gpu *gpu);

/* The display refreshes now (KR_GPU_CB_DEFER_READBACK): read back what was
   flushed since the last call, on each scanout whose pixels are a
   readback, and report it with scanout_update before returning.  Without
   the flag, or with nothing flushed, it does nothing.  Returns the number of
   scanouts reported. */
KR_EXPORT unsigned kr_gpu_present(struct kr_gpu *gpu);
/* Whether kr_gpu_present has something to report (arm the refresh timer). */
KR_EXPORT bool kr_gpu_present_pending(const struct kr_gpu *gpu);

/* An fd that becomes readable when kr_gpu_poll may retire fences (virgl's
   fence thread signals it), so that an event loop need not poll on a timer;
   kr_gpu_poll drains it.  It belongs to the device and stays open, the same
   fd, until kr_gpu_destroy (a reset keeps it); stop watching it before.
   -ENOTSUP: this backend has none (poll while requests wait). */
KR_EXPORT int kr_gpu_fence_fd(struct kr_gpu *gpu);

/* Complete every request waiting for its fence now (ctrl_done for each, in
   order), without waiting for the fences: for when the queue stops (a VMM
   stopping the VM takes the ring back and would otherwise lose them; their
   responses are already written).  Their fences are reported done early;
   the renderer's later retirement of them completes nothing. */
KR_EXPORT void kr_gpu_complete_pending(struct kr_gpu *gpu);

/* The virtio-gpu config space (struct virtio_gpu_config, 16 bytes,
   little-endian).  Reads past the end or writes to read-only fields:
   -EINVAL.  Writing events_clear clears those bits of events_read. */
KR_EXPORT int kr_gpu_config_read(const struct kr_gpu *gpu, uint32_t offset, void *buf,
				 uint32_t len);
KR_EXPORT int kr_gpu_config_write(struct kr_gpu *gpu, uint32_t offset, const void *buf,
				  uint32_t len);

/* Change a display (hotplug or resize): updates GET_DISPLAY_INFO, sets
   VIRTIO_GPU_EVENT_DISPLAY and calls config_changed. */
KR_EXPORT int kr_gpu_set_display(struct kr_gpu *gpu, uint32_t scanout_id,
				 const struct kr_scanout_config *mode);

/* Replace the modes GET_DISPLAY_INFO reports for scanouts 0..n-1 without
   raising an event (for embedders whose display owner answers the queries,
   like a vhost-user frontend).  -EINVAL when n or a mode is invalid. */
KR_EXPORT int kr_gpu_set_modes(struct kr_gpu *gpu, const struct kr_scanout_config *modes,
			       uint32_t n);

/* Answer GET_EDID for a scanout with this blob (1..1024 bytes, copied)
   instead of the generated EDID; len 0 returns to the generated one. */
KR_EXPORT int kr_gpu_set_edid(struct kr_gpu *gpu, uint32_t scanout_id, const void *edid,
			      size_t len);

/* Device reset: frees every resource and context, disables scanouts and the
   cursor, drops pending requests (without ctrl_done), keeps the memory map. */
KR_EXPORT void kr_gpu_reset(struct kr_gpu *gpu);

struct kr_gpu_stats {
	uint64_t hostmem_used; /* bytes held by live resources */
	uint32_t resources;    /* live resources */
	uint64_t commands;     /* control commands processed */
	uint64_t errors;       /* commands answered with VIRTIO_GPU_RESP_ERR_* */
	uint32_t pending;      /* requests waiting for their fence (call kr_gpu_poll) */
};
KR_EXPORT void kr_gpu_get_stats(const struct kr_gpu *gpu, struct kr_gpu_stats *stats);

/* What scanout_id shows now (a screenshot without the frontend): the same
   info scanout_set gave, pixels valid until the next call into the library
   for this device.  -ENOENT when the scanout shows nothing, -EINVAL when
   there is no such scanout. */
KR_EXPORT int kr_gpu_get_scanout(struct kr_gpu *gpu, uint32_t scanout_id,
				 struct kr_scanout_info *info);

/* Bytes per pixel of a VIRTIO_GPU_FORMAT_*, 0 when unknown. */
KR_EXPORT uint32_t kr_format_bpp(uint32_t virtio_format);
/* The DRM fourcc (drm_fourcc.h) of a VIRTIO_GPU_FORMAT_*, 0 when unknown. */
KR_EXPORT uint32_t kr_format_to_drm(uint32_t virtio_format);

/* The library version, "MAJOR.MINOR.PATCH". */
KR_EXPORT const char *kr_version(void);

#ifdef __cplusplus
}
#endif
#endif
