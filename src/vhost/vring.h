/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues (virtio 1.x, 2.7) in guest memory shared by the frontend.
 * Every index, address and length read from the ring is validated; each
 * descriptor is copied once before use.  A ring that breaks the rules is
 * marked broken and no longer processed until it is set up again.
 */
#ifndef KR_VRING_H
#define KR_VRING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vu_mem.h"

#define VRING_MAX_NUM 32768u
/* Most iovecs one request may become (descriptors split across regions). */
#define VRING_MAX_IOV 1024u

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
} __attribute__((packed));

#define VRING_DESC_F_NEXT	   1
#define VRING_DESC_F_WRITE	   2
#define VRING_DESC_F_INDIRECT	   4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY	   1

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
} __attribute__((packed));

struct vring {
	uint32_t num;			     /* 0: not set up */
	uint64_t desc_ua, avail_ua, used_ua; /* frontend addresses from SET_VRING_ADDR */
	bool addr_set;			     /* ... were given (0 is a valid address) */
	/* Borrowed, into the memory table's mappings: valid until the table is
	   replaced or cleared (vu.c maps them again from the *_ua addresses
	   right after, or NULLs them), the ring is reset, or num changes. */
	struct vring_desc *desc;
	uint16_t *avail; /* flags, idx, ring[num], used_event */
	uint16_t *used;	 /* flags, idx, elems[num], avail_event */
	uint16_t last_avail;
	uint16_t used_idx;
	uint16_t signalled_used; /* used_idx at the last interrupt */
	bool signalled_valid;
	int kick_fd;	       /* owned, -1 */
	int call_fd;	       /* owned, -1 */
	bool started;	       /* kick fd received */
	bool enabled;	       /* SET_VRING_ENABLE */
	bool broken;	       /* the driver broke the rules */
	bool event_idx;	       /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;	       /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	uint32_t pending_used; /* used entries not yet signalled */
	uint32_t gen;	       /* bumped each time the ring stops (kept by vring_reset
				  only through vu.c's stop_queue) */
};

/* One request popped from the ring: host iovecs, readable first. */
struct vring_req {
	uint16_t head;
	size_t n_in, n_out;
	struct iovec iov[VRING_MAX_IOV]; /* in[0..n_in), out after */
};

void vring_init(struct vring *vr);
/* Close fds and forget the ring (memory is not ours). */
void vring_reset(struct vring *vr);
/* Translate the ring addresses through the memory table.  -EINVAL when they
   are misaligned, outside mapped memory or num is unset. */
int vring_map(struct vring *vr, const struct vu_mem *mem);

/*
 * Pop the next available request.  Returns 1 with *req filled, 0 when the
 * ring is empty, -EIO when the ring is malformed (the ring is then marked
 * broken).
 */
int vring_pop(struct vring *vr, const struct vu_mem *mem, struct vring_req *req);
/* Put a finished request on the used ring (no interrupt yet). */
void vring_push(struct vring *vr, uint16_t head, uint32_t len);
/* Publish used entries and interrupt the driver if it wants one. */
void vring_flush(struct vring *vr);
/* Tell the driver where to kick next (event index), after a batch. */
void vring_set_avail_event(struct vring *vr);
/* Requests still on the available ring. */
bool vring_has_avail(const struct vring *vr);
/* Give back the request vring_pop returned last (it is popped again, read
   anew from guest memory, next time). */
void vring_unpop(struct vring *vr);

#endif
