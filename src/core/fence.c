/* SPDX-License-Identifier: MIT */
/*
 * Fenced requests waiting for their fence: queued in submission order,
 * retired by the renderer per timeline (the global one, or a context's
 * ring), completed through fence_done and ctrl_done.
 */
#include "fence.h"

#include <endian.h>
#include <stdlib.h>

#include "gpu.h"

/* The newest pending request of this timeline, or NULL. */
static struct pending *
timeline_last(struct kr_gpu *gpu, const struct pending *p)
{
	struct pending *last = NULL;

	for (struct pending *q = gpu->pending_head; q; q = q->next) {
		if (q->on_ring == p->on_ring &&
		    (!p->on_ring || (q->ctx_id == p->ctx_id && q->ring_idx == p->ring_idx)))
			last = q;
	}
	return last;
}

/*
 * Hold a fenced request's completion (its response is already written)
 * until its fence retires.  Returns true when it was queued.  A fence the
 * renderer cannot create still completes in timeline order: the request
 * retires with the newest earlier one of its timeline, or at once when
 * there is none.
 */
bool
fence_defer(struct kr_gpu *gpu, const struct kr_chain *chain, size_t len,
	    const struct virtio_gpu_ctrl_hdr *h, bool on_ring)
{
	struct pending *p = calloc(1, sizeof(*p)), *last;

	if (!p) {
		log_msg(&gpu->log, KR_LOG_WARN, "out of memory: fence %llu completes at once",
			(unsigned long long)le64toh(h->fence_id));
		return false;
	}
	*p = (struct pending){
		.cookie = chain->cookie,
		.seq = ++gpu->fence_seq,
		.fence_id = le64toh(h->fence_id),
		.ctx_id = le32toh(h->ctx_id),
		.ring_idx = h->ring_idx,
		.on_ring = on_ring,
		.resp_len = len,
	};
	if (renderer_create_fence(gpu->renderer, p->seq, p->ctx_id, p->ring_idx, on_ring) < 0) {
		last = timeline_last(gpu, p);
		if (!last) {
			free(p);
			return false;
		}
		p->seq = last->seq;
	}
	*gpu->pending_tail = p;
	gpu->pending_tail = &p->next;
	return true;
}

static bool
same_timeline(const struct pending *p, uint32_t ctx_id, uint8_t ring_idx, bool on_ring)
{
	if (!on_ring)
		return !p->on_ring;
	return p->on_ring && p->ctx_id == ctx_id && p->ring_idx == ring_idx;
}

/* Complete the pending requests that match (all of them when all). */
static void
retire(struct kr_gpu *gpu, uint64_t seq, uint32_t ctx_id, uint8_t ring_idx, bool on_ring, bool all)
{
	struct pending **pp = &gpu->pending_head, *p;

	while ((p = *pp)) {
		if (!all && (!same_timeline(p, ctx_id, ring_idx, on_ring) || p->seq > seq)) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		if (gpu->pending_tail == &p->next)
			gpu->pending_tail = pp;
		if (gpu->cb.fence_done)
			gpu->cb.fence_done(gpu->user, p->fence_id, p->ctx_id, p->ring_idx);
		if (gpu->cb.ctrl_done)
			gpu->cb.ctrl_done(gpu->user, p->cookie, p->resp_len);
		free(p);
	}
}

void
gpu_fence_retired(struct kr_gpu *gpu, uint64_t seq, uint32_t ctx_id, uint8_t ring_idx, bool on_ring)
{
	retire(gpu, seq, ctx_id, ring_idx, on_ring, false);
}

void
gpu_fence_retire_all(struct kr_gpu *gpu)
{
	retire(gpu, 0, 0, 0, false, true);
}

/* Forget every pending request without completing it (device teardown). */
void
fence_drop_all(struct kr_gpu *gpu)
{
	struct pending *p, *next;

	for (p = gpu->pending_head; p; p = next) {
		next = p->next;
		free(p);
	}
	gpu->pending_head = NULL;
	gpu->pending_tail = &gpu->pending_head;
}

KR_EXPORT void
kr_gpu_complete_pending(struct kr_gpu *gpu)
{
	gpu_fence_retire_all(gpu);
}
