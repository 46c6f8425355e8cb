/* SPDX-License-Identifier: MIT */
/* Fenced requests waiting for their fence (core only). */
#ifndef KR_FENCE_H
#define KR_FENCE_H

#include <linux/virtio_gpu.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kohlrabi/kohlrabi.h"

struct kr_gpu;

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

/* Hold a fenced request's completion (its response already written, len
   bytes) until its fence retires; true when queued, false: complete it now. */
bool fence_defer(struct kr_gpu *gpu, const struct kr_chain *chain, size_t len,
		 const struct virtio_gpu_ctrl_hdr *h, bool on_ring);
/* Renderers report a retired fence here, by the sequence number create_fence
   was given: completes, in order, every pending request of that timeline
   with a sequence <= the retired one.  Unknown sequences complete nothing. */
void gpu_fence_retired(struct kr_gpu *gpu, uint64_t seq, uint32_t ctx_id, uint8_t ring_idx,
		       bool on_ring);
/* A renderer lost track of its fences: complete every pending request now. */
void gpu_fence_retire_all(struct kr_gpu *gpu);
/* Forget every pending request without completing it (teardown). */
void fence_drop_all(struct kr_gpu *gpu);

#endif
