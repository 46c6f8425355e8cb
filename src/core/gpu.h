/* SPDX-License-Identifier: MIT */
/* Device state shared by the core modules (internal). */
#ifndef KR_GPU_H
#define KR_GPU_H

#include <linux/virtio_gpu.h>
#include <stdbool.h>
#include <stdint.h>

#include "guestmem.h"
#include "kohlrabi/kohlrabi.h"
#include "renderer/renderer.h"
#include "restab.h"
#include "util/log.h"

struct scanout {
	struct kr_scanout_config mode; /* what GET_DISPLAY_INFO reports */
	uint8_t *edid;		       /* owned, may be NULL: set by the embedder */
	size_t edid_len;
	uint32_t resource_id; /* 0: disabled */
	struct kr_rect rect;  /* the shown part of the resource */
	/* SET_SCANOUT_BLOB: the rect is copied out of the blob into shadow at
	   each flush (blob memory is not ours to hand to the display). */
	bool blob;
	uint32_t blob_format;
	uint32_t blob_stride;
	uint64_t blob_offset; /* of the rect's first pixel in the blob */
	uint8_t *shadow;      /* owned: rect.width x rect.height x 4, charged */
};

struct cursor {
	uint32_t resource_id; /* 0: hidden */
	uint32_t scanout_id;
	uint32_t x, y, hot_x, hot_y;
};

/*
 * A fenced request whose completion waits for its fence.  Its response was
 * written into the guest's buffer when the command ran: only the used-ring
 * entry (cookie + length) is delayed, so nothing here points into guest
 * memory or anything else another layer may replace.
 */
struct pending {
	struct pending *next; /* owned: the rest of the list */
	uint64_t cookie;
	uint64_t seq;	   /* the core's fence sequence the renderer retires */
	uint64_t fence_id; /* the guest's, echoed to fence_done */
	uint32_t ctx_id;
	uint8_t ring_idx;
	bool on_ring;
	size_t resp_len; /* bytes written into the chain's out buffers */
};

/* Fence rings per context (CONTEXT_INIT): ring_idx 0..63. */
#define GPU_MAX_RINGS 64
/* Largest SUBMIT_3D command stream accepted. */
#define GPU_MAX_SUBMIT (16u << 20)

struct kr_gpu {
	struct kr_gpu_config cfg; /* backend and render_node pointers not kept */
	char *render_node;	  /* owned, may be NULL */
	char *gfxstream_lib;	  /* owned, may be NULL */
	struct kr_gpu_callbacks cb;
	void *user; /* borrowed: handed to callbacks */
	struct logger log;
	struct renderer *renderer; /* owned */
	struct guest_mem mem;
	struct restab resources;
	uint64_t hostmem_used;
	struct scanout scanouts[KR_MAX_SCANOUTS];
	struct cursor cursor;
	uint32_t events_read;
	uint64_t features_offered;
	uint64_t features_acked;
	uint8_t uuid_seed[16];
	struct pending *pending_head;  /* owned list, in submission order */
	struct pending **pending_tail; /* borrowed: last next field */
	/* Fence identity handed to renderers: 1, 2, ... never reused, not even
	   across a reset, so a retirement from before a reset matches nothing. */
	uint64_t fence_seq;
	uint64_t n_commands, n_errors;
	uint32_t *contexts; /* owned: ids of live 3D contexts */
	uint32_t n_contexts;
};

bool gpu_ctx_exists(const struct kr_gpu *gpu, uint32_t ctx_id);
/* Tear down a blob's host-visible mapping, if it has one. */
void gpu_blob_unmap(struct kr_gpu *gpu, struct resource *res);

/* Create a device over explicit renderer ops (the public create looks the
   ops up by name).  Tests use it to plug in fake backends. */
int gpu_create_with_ops(const struct kr_gpu_config *cfg, const struct kr_gpu_callbacks *cbs,
			void *user, const struct renderer_ops *ops, struct kr_gpu **out);

/* Renderers report a retired fence here, by the sequence number create_fence
   was given: completes, in order, every pending request of that timeline
   with a sequence <= the retired one.  Unknown sequences complete nothing. */
void gpu_fence_retired(struct kr_gpu *gpu, uint64_t seq, uint32_t ctx_id, uint8_t ring_idx,
		       bool on_ring);
/* A renderer lost track of its fences: complete every pending request now. */
void gpu_fence_retire_all(struct kr_gpu *gpu);

/* Bytes per pixel of a format, 0 when unknown. */
uint32_t format_bpp(uint32_t format);

/* Destroy one resource: detach from scanouts and cursor, free backing,
   uncharge memory, hand it to the renderer. */
void gpu_resource_destroy(struct kr_gpu *gpu, struct resource *res);

/* Protocol entry points (cmd.c). */
int cmd_ctrl(struct kr_gpu *gpu, const struct kr_chain *chain, size_t *resp_len);
int cmd_cursor(struct kr_gpu *gpu, const struct kr_chain *chain);

static inline bool
gpu_has_feature(const struct kr_gpu *gpu, unsigned bit)
{
	return (gpu->features_acked >> bit) & 1;
}

#endif
