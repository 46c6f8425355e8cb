/* SPDX-License-Identifier: MIT */
/*
 * A mailbox of retired fences, for renderer libraries that report fences
 * from their own threads: the callback (any thread) only records the newest
 * retired fence of each timeline; the device's thread drains the box into
 * the core (renderer_fence_retired) from the backend's poll().  A fence
 * retires every earlier one of its timeline, so the box holds at most one
 * entry per timeline.
 */
#ifndef KR_FENCE_QUEUE_H
#define KR_FENCE_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct renderer;

struct fence_timeline {
	uint32_t ctx_id;
	uint8_t ring_idx;
	bool on_ring;
	uint64_t seq; /* newest retired (the core's fence sequence) */
};

struct fence_queue {
	pthread_mutex_t lock;		/* guards the fields below */
	struct fence_timeline *retired; /* owned: timelines with fences to retire */
	size_t n, cap;
	bool lost; /* a fence could not be recorded: retire everything */
};

void fence_queue_init(struct fence_queue *q);
void fence_queue_fini(struct fence_queue *q);
/* Any thread: seq (the core's sequence) of this timeline has retired. */
void fence_queue_push(struct fence_queue *q, uint64_t seq, uint32_t ctx_id, uint8_t ring_idx,
		      bool on_ring);
/* The device's thread: retire what was recorded into the core; who names
   the backend in the log line when fences were lost. */
void fence_queue_drain(struct fence_queue *q, struct renderer *r, const char *who);

#endif
