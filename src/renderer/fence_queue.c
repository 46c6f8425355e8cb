/* SPDX-License-Identifier: MIT */
/* The retired-fence mailbox (fence_queue.h). */
#include "fence_queue.h"

#include <stdlib.h>

#include "renderer.h"

void
fence_queue_init(struct fence_queue *q)
{
	*q = (struct fence_queue){0};
	pthread_mutex_init(&q->lock, NULL);
}

void
fence_queue_fini(struct fence_queue *q)
{
	pthread_mutex_destroy(&q->lock);
	free(q->retired);
	q->retired = NULL;
	q->n = q->cap = 0;
}

void
fence_queue_push(struct fence_queue *q, uint64_t seq, uint32_t ctx_id, uint8_t ring_idx,
		 bool on_ring)
{
	pthread_mutex_lock(&q->lock);
	for (size_t i = 0; i < q->n; i++) {
		struct fence_timeline *t = &q->retired[i];
		if (t->on_ring == on_ring && t->ctx_id == ctx_id && t->ring_idx == ring_idx) {
			if (seq > t->seq)
				t->seq = seq;
			goto out;
		}
	}
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		struct fence_timeline *grown = realloc(q->retired, cap * sizeof(*grown));
		if (!grown) {
			q->lost = true;
			goto out;
		}
		q->retired = grown;
		q->cap = cap;
	}
	q->retired[q->n++] = (struct fence_timeline){ctx_id, ring_idx, on_ring, seq};
out:
	pthread_mutex_unlock(&q->lock);
}

void
fence_queue_drain(struct fence_queue *q, struct renderer *r, const char *who)
{
	struct fence_timeline *list;
	size_t n;
	bool lost;

	pthread_mutex_lock(&q->lock);
	list = q->retired;
	n = q->n;
	lost = q->lost;
	q->retired = NULL;
	q->n = q->cap = 0;
	q->lost = false;
	pthread_mutex_unlock(&q->lock);
	for (size_t i = 0; i < n; i++)
		renderer_fence_retired(r, list[i].seq, list[i].ctx_id, list[i].ring_idx,
				       list[i].on_ring);
	free(list);
	if (lost) {
		/* Out of memory in the callback: better early than never. */
		log_bug_host(r->log, "%s: fences lost; completing all pending", who);
		renderer_fence_retire_all(r);
	}
}
