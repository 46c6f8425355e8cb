/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user-gpu display protocol, backend side: scanouts, pixel updates
 * and the cursor sent to the frontend (QEMU) over the socket it handed us
 * with VHOST_USER_GPU_SET_SOCKET, and the synchronous queries
 * (protocol features, display info, EDID) it answers.
 */
#ifndef KR_VUGPU_H
#define KR_VUGPU_H

#include <linux/virtio_gpu.h>
#include <stdbool.h>
#include <stdint.h>

#include "kohlrabi/kohlrabi.h"
#include "util/log.h"

struct vugpu {
	int fd;			/* owned, -1 when none */
	uint64_t features;	/* display protocol features agreed */
	uint8_t *buf;		/* owned: message being built */
	size_t cap;
	struct logger *log;	/* borrowed */
	uint64_t bytes_sent;
};

void vugpu_init(struct vugpu *v, struct logger *log);
/* Take fd and negotiate protocol features.  -errno on failure (fd closed). */
int vugpu_attach(struct vugpu *v, int fd);
void vugpu_detach(struct vugpu *v);
void vugpu_finish(struct vugpu *v);
static inline bool
vugpu_connected(const struct vugpu *v)
{
	return v->fd >= 0;
}

int vugpu_get_display_info(struct vugpu *v, struct virtio_gpu_resp_display_info *out);
/* -EOPNOTSUPP when the frontend has no EDID support. */
int vugpu_get_edid(struct vugpu *v, uint32_t scanout, struct virtio_gpu_resp_edid *out);

/* Display events, from libkohlrabi's callbacks.  Errors drop the socket. */
void vugpu_scanout(struct vugpu *v, uint32_t scanout_id, const struct kr_scanout_info *info);
void vugpu_update(struct vugpu *v, const struct kr_scanout_info *info, const struct kr_rect *r);
void vugpu_cursor(struct vugpu *v, const struct kr_cursor_info *c);

#endif
