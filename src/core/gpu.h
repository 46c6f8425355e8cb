/* SPDX-License-Identifier: MIT */
/* Device state shared by the core modules (internal): struct kr_gpu.  The
   state modules (scanout, fence, restab) declare their functions in their
   own headers, which need only a forward declaration of it. */
#ifndef KR_GPU_H
#define KR_GPU_H

#include <linux/virtio_gpu.h>
#include <stdbool.h>
#include <stdint.h>

#include "fence.h"
#include "guestmem.h"
#include "kohlrabi/kohlrabi.h"
#include "renderer/renderer.h"
#include "restab.h"
#include "scanout.h"
#include "util/log.h"

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
	/* KR_GPU_CB_DEFER_READBACK asked for and the renderer reads back:
	   flushes of non-blob scanouts wait for kr_gpu_present (scanout.deferred). */
	bool defer_readback;
};

/* Create a device over explicit renderer ops (the public create looks the
   ops up by name).  Tests use it to plug in fake backends. */
int gpu_create_with_ops(const struct kr_gpu_config *cfg, const struct kr_gpu_callbacks *cbs,
			void *user, const struct renderer_ops *ops, struct kr_gpu **out);

/* Protocol entry points (cmd.c). */
int cmd_ctrl(struct kr_gpu *gpu, const struct kr_chain *chain, size_t *resp_len);
int cmd_cursor(struct kr_gpu *gpu, const struct kr_chain *chain);

static inline bool
gpu_ctx_exists(const struct kr_gpu *gpu, uint32_t ctx_id)
{
	for (uint32_t i = 0; i < gpu->n_contexts; i++) {
		if (gpu->contexts[i] == ctx_id)
			return true;
	}
	return false;
}

static inline bool
gpu_has_feature(const struct kr_gpu *gpu, unsigned bit)
{
	return (gpu->features_acked >> bit) & 1;
}

#endif
