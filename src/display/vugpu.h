/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user-gpu display protocol, backend side: scanouts, pixel updates
 * and the cursor sent to the frontend (QEMU) over the socket it handed us
 * with VHOST_USER_GPU_SET_SOCKET, and the queries (protocol features, display
 * info, EDID) it answers.
 *
 * Display output never stalls command completion: a flush only copies the
 * damaged pixels into a staged frame per scanout (so later guest writes
 * cannot tear what is shown); vugpu_present(), driven by the caller's refresh
 * timer, sends the damage of each staged frame; everything goes out through a
 * non-blocking queue drained when the socket is writable, and no new frame
 * is queued while the previous one is still in flight.
 */
#ifndef KR_VUGPU_H
#define KR_VUGPU_H

#include <linux/virtio_gpu.h>
#include <stdbool.h>
#include <stdint.h>

#include "kohlrabi/kohlrabi.h"
#include "util/log.h"

struct vugpu_ops {
	/* The frontend's display configuration / a scanout's EDID arrived;
	   NULL when the frontend answered with a message of the wrong size
	   (the query is answered all the same). */
	void (*display_info)(void *user, const struct virtio_gpu_resp_display_info *info);
	void (*edid)(void *user, uint32_t scanout, const struct virtio_gpu_resp_edid *edid);
	/* Protocol features are agreed: queries may be sent. */
	void (*ready)(void *user);
};

#define VUGPU_MAX_PENDING 32
/* Output the frontend has not read yet beyond which the display is dropped. */
#define VUGPU_MAX_QUEUED (64u << 20)

/*
 * A scanout's frame as the frontend will get it.  Flushed damage first stays
 * in the guest's resource (pending, read from source at present time); it is
 * copied into pixels only when the guest is about to overwrite the resource
 * before the next present (vugpu_changing) — so a page flip costs no copy
 * beyond the one per refresh.
 */
struct vugpu_stage {
	uint32_t width, height;	       /* 0: scanout disabled */
	uint32_t *pixels;	       /* owned: x8r8g8b8, width * height */
	struct kr_scanout_info source; /* the shown resource's pixels (borrowed) */
	bool has_source;
	struct kr_rect pending; /* flushed, still only in source */
	struct kr_rect staged;	/* flushed, copied into pixels */
};

struct vugpu {
	int fd;		   /* owned, -1 when none */
	uint64_t features; /* display protocol features agreed */
	bool negotiated;
	uint32_t edid_queue[VUGPU_MAX_PENDING]; /* scanouts of EDID queries in flight */
	unsigned edid_head, edid_count;
	unsigned display_info_replies;
	const struct vugpu_ops *cb; /* borrowed, may be NULL: the listener */
	void *user;		    /* borrowed: handed to cb */
	uint8_t in[4096 + 12];	    /* a message arriving in pieces */
	size_t in_len;
	uint8_t *out; /* owned: bytes queued for the socket */
	size_t out_len, out_off, out_cap;
	struct vugpu_stage stage[KR_MAX_SCANOUTS];
	struct logger *log;		    /* borrowed */
	bool sent_scanout[KR_MAX_SCANOUTS]; /* the frontend has a surface of stage size */
	/* The cursor as the frontend last heard of it: a move to the same
	   place is not sent again (weston moves it there every frame). */
	bool cursor_known, cursor_hidden;
	uint32_t cursor_at[3]; /* scanout, x, y */
	uint64_t bytes_sent, frames_sent, updates_merged, copies;
	uint64_t grows; /* times the output queue was reallocated */
};

void vugpu_init(struct vugpu *v, struct logger *log, const struct vugpu_ops *ops, void *user);
/*
 * Take fd and start negotiating protocol features.  Nothing here waits for
 * the frontend: it may be blocked on us (QEMU holds its lock while it hands
 * us the socket).  Replies arrive through vugpu_read().
 */
int vugpu_attach(struct vugpu *v, int fd);
void vugpu_detach(struct vugpu *v);
void vugpu_finish(struct vugpu *v);
static inline bool
vugpu_connected(const struct vugpu *v)
{
	return v->fd >= 0;
}
/* Bytes are waiting for the socket to become writable. */
static inline bool
vugpu_busy(const struct vugpu *v)
{
	return v->out_off < v->out_len;
}
/* The socket may be readable: handle what arrived, without waiting (a
   message cut short is kept for the next call).  -errno when the socket is
   gone (it is then closed). */
int vugpu_read(struct vugpu *v);
/* The socket is writable: send what is queued.  -errno when it is gone. */
int vugpu_pump(struct vugpu *v);

/* Ask for the display configuration / an EDID; answers come to ops (nothing
   here waits for them). */
int vugpu_request_display_info(struct vugpu *v);
/* -EOPNOTSUPP when the frontend has no EDID support. */
int vugpu_request_edid(struct vugpu *v, uint32_t scanout);
/* Display events, from libkohlrabi's callbacks.  Scanout and cursor
   messages are queued at once; pixels are staged until vugpu_present(). */
void vugpu_scanout(struct vugpu *v, uint32_t scanout_id, const struct kr_scanout_info *info);
void vugpu_update(struct vugpu *v, const struct kr_scanout_info *info, const struct kr_rect *r);
void vugpu_cursor(struct vugpu *v, const struct kr_cursor_info *c);
/* The shown resource is about to change: stage what is pending. */
void vugpu_changing(struct vugpu *v, const struct kr_scanout_info *info);
/* Damage is staged and not yet sent. */
bool vugpu_has_damage(const struct vugpu *v);
/* Send the staged damage of every scanout, unless the previous frame is
   still in flight.  Returns true when damage remains (present again later). */
bool vugpu_present(struct vugpu *v);

#endif
