/* SPDX-License-Identifier: MIT */
/* Resources on a device: added with their charge, destroyed with everything
   that shows or maps them. */
#include <errno.h>

#include "gpu.h"
#include "restab.h"
#include "scanout.h"

int
resource_add(struct kr_gpu *gpu, struct resource *res, uint64_t charge)
{
	res->hostmem = charge;
	if (restab_insert(&gpu->resources, res) < 0) {
		struct backing *b = res->backing;
		res->backing = NULL; /* the renderer frees a resource without one */
		renderer_resource_destroy(gpu->renderer, res);
		backing_destroy(b);
		return -ENOMEM;
	}
	gpu->hostmem_used += charge;
	return 0;
}

void
resource_unmap_blob(struct kr_gpu *gpu, struct resource *res)
{
	if (!res->mapped)
		return;
	if (gpu->cb.version >= 3 && gpu->cb.unmap_blob &&
	    gpu->cb.unmap_blob(gpu->user, res->map_offset, res->map_size) < 0)
		log_msg(&gpu->log, KR_LOG_WARN, "blob %u: the host-visible window kept it",
			res->id);
	renderer_resource_unmap(gpu->renderer, res);
	res->mapped = false;
	res->map_offset = res->map_size = 0;
}

void
resource_destroy(struct kr_gpu *gpu, struct resource *res)
{
	for (uint32_t i = 0; i < gpu->cfg.num_scanouts; i++) {
		if (res->scanout_mask & (1u << i))
			scanout_disable(gpu, i);
	}
	if (gpu->cursor.resource_id == res->id) {
		gpu->cursor.resource_id = 0;
		cursor_notify(gpu, false);
	}
	resource_unmap_blob(gpu, res);
	restab_remove(&gpu->resources, res->id);
	if (res->backing && res->backing->iov)
		renderer_detach_backing(gpu->renderer, res);
	backing_destroy(res->backing);
	res->backing = NULL;
	gpu->hostmem_used -= res->hostmem;
	renderer_resource_destroy(gpu->renderer, res);
}
