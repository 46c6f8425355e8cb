/* SPDX-License-Identifier: MIT */
/* Device lifecycle, memory map, features and config space: the public API
   around the command processor (cmd.c) and the state modules. */
#include "gpu.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "config.h"

#define MAX_MODE_DIM 16384

KR_EXPORT const char *
kr_version(void)
{
	return KR_VERSION;
}

KR_EXPORT const char *const *
kr_backends(void)
{
	return renderer_names();
}

KR_EXPORT void
kr_gpu_config_init(struct kr_gpu_config *cfg)
{
	*cfg = (struct kr_gpu_config){
		.version = KR_GPU_CONFIG_VERSION,
		.backend = "2d",
		.num_scanouts = 1,
		.edid = true,
		.max_hostmem = KR_DEFAULT_MAX_HOSTMEM,
		.max_resources = KR_DEFAULT_MAX_RESOURCES,
		.log_level = KR_LOG_WARN,
	};
	cfg->scanouts[0] =
		(struct kr_scanout_config){.width = 1280, .height = 800, .enabled = true};
}

static bool
mode_valid(const struct kr_scanout_config *m)
{
	return m->width >= 1 && m->width <= MAX_MODE_DIM && m->height >= 1 &&
	       m->height <= MAX_MODE_DIM;
}

static void
seed_uuids(struct kr_gpu *gpu)
{
	/* Only needs to be unlikely to repeat across devices and boots. */
	if (getrandom(gpu->uuid_seed, sizeof(gpu->uuid_seed), GRND_NONBLOCK) ==
	    (ssize_t)sizeof(gpu->uuid_seed))
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t a = (uint64_t)ts.tv_sec ^ (uintptr_t)gpu, b = (uint64_t)ts.tv_nsec;
	memcpy(gpu->uuid_seed, &a, 8);
	memcpy(gpu->uuid_seed + 8, &b, 8);
}

/* What the caller's version of the config has, into gpu->cfg, with the
   defaults filled in and the backends' strings copied (owned). */
static int
config_copy(struct kr_gpu *gpu, const struct kr_gpu_config *cfg)
{
	struct kr_backend_config b = {0};
	size_t len = cfg->version >= 4	 ? sizeof(*cfg)
		     : cfg->version == 3 ? offsetof(struct kr_gpu_config, backends)
		     : cfg->version == 2 ? offsetof(struct kr_gpu_config, hostmem_window)
					 : offsetof(struct kr_gpu_config, render_node);

	memcpy(&gpu->cfg, cfg, len);
	if (cfg->version >= 4) {
		/* The flat knobs of versions 2 and 3 are not read: refuse them. */
		if (cfg->render_node || cfg->gfxstream_lib || cfg->gfxstream_flags)
			return -EINVAL;
		b = cfg->backends;
	} else {
		b.virgl.render_node = cfg->version >= 2 ? cfg->render_node : NULL;
		b.gfxstream.lib = cfg->version == 3 ? cfg->gfxstream_lib : NULL;
		b.gfxstream.flags = cfg->version == 3 ? cfg->gfxstream_flags : 0;
	}
	gpu->cfg.backend = NULL;
	gpu->cfg.render_node = NULL;
	gpu->cfg.gfxstream_lib = NULL;
	gpu->cfg.gfxstream_flags = 0;
	if ((b.virgl.render_node && !(gpu->render_node = strdup(b.virgl.render_node))) ||
	    (b.gfxstream.lib && !(gpu->gfxstream_lib = strdup(b.gfxstream.lib))))
		return -ENOMEM;
	b.virgl.render_node = gpu->render_node;
	b.gfxstream.lib = gpu->gfxstream_lib;
	if (!b.gfxstream.flags)
		b.gfxstream.flags = KR_GFXSTREAM_FLAGS_DEFAULT;
	gpu->cfg.backends = b;
	if (!gpu->cfg.max_hostmem)
		gpu->cfg.max_hostmem = KR_DEFAULT_MAX_HOSTMEM;
	if (!gpu->cfg.max_resources)
		gpu->cfg.max_resources = KR_DEFAULT_MAX_RESOURCES;
	if (!gpu->cfg.max_contexts)
		gpu->cfg.max_contexts = KR_DEFAULT_MAX_CONTEXTS;
	return 0;
}

static bool
config_valid(const struct kr_gpu_config *cfg, const struct kr_gpu_callbacks *cbs)
{
	if (!cfg || cfg->version < 1 || cfg->num_scanouts < 1 ||
	    cfg->num_scanouts > KR_MAX_SCANOUTS || cfg->log_level > KR_LOG_DEBUG ||
	    (cbs && cbs->version < 1) ||
	    (cbs && cbs->version >= 4 && (cbs->flags & ~KR_GPU_CB_DEFER_READBACK)))
		return false;
	for (uint32_t i = 0; i < cfg->num_scanouts; i++) {
		if (!mode_valid(&cfg->scanouts[i]))
			return false;
	}
	return true;
}

static void
host_fence_retired(void *core, uint64_t seq, uint32_t ctx_id, uint8_t ring_idx, bool on_ring)
{
	gpu_fence_retired(core, seq, ctx_id, ring_idx, on_ring);
}

static void
host_fence_retire_all(void *core)
{
	gpu_fence_retire_all(core);
}

int
gpu_create_with_ops(const struct kr_gpu_config *cfg, const struct kr_gpu_callbacks *cbs, void *user,
		    const struct renderer_ops *ops, struct kr_gpu **out)
{
	struct kr_gpu *gpu;
	int ret;

	if (!config_valid(cfg, cbs))
		return -EINVAL;
	gpu = calloc(1, sizeof(*gpu));
	if (!gpu)
		return -ENOMEM;
	ret = config_copy(gpu, cfg);
	/* Copy only what the embedder's version of the struct has. */
	if (cbs)
		memcpy(&gpu->cb, cbs,
		       cbs->version >= 4   ? sizeof(*cbs)
		       : cbs->version == 3 ? offsetof(struct kr_gpu_callbacks, flags)
		       : cbs->version == 2 ? offsetof(struct kr_gpu_callbacks, map_blob)
					   : offsetof(struct kr_gpu_callbacks, scanout_changing));
	gpu->user = user;
	gpu->pending_tail = &gpu->pending_head;
	logger_init(&gpu->log, cfg->log_level, gpu->cb.log, user);
	if (ret == -EINVAL)
		log_msg(&gpu->log, KR_LOG_ERROR,
			"kr_gpu_config version 4 keeps backend knobs in .backends; "
			"render_node, gfxstream_lib and gfxstream_flags must be unset");
	if (ret < 0)
		goto err;
	for (uint32_t i = 0; i < cfg->num_scanouts; i++)
		gpu->scanouts[i].mode = cfg->scanouts[i];
	seed_uuids(gpu);
	gpu->features_offered = (1ull << VIRTIO_GPU_F_RESOURCE_UUID) | ops->features;
	if (cfg->edid)
		gpu->features_offered |= 1ull << VIRTIO_GPU_F_EDID;
	gpu->features_acked = gpu->features_offered;
	ret = restab_init(&gpu->resources);
	if (ret < 0)
		goto err;
	struct renderer_init init = {
		.log = &gpu->log,
		.host = {gpu, host_fence_retired, host_fence_retire_all},
		.cfg = &gpu->cfg.backends,
	};
	ret = renderer_create(ops, &init, &gpu->renderer);
	if (ret < 0) {
		log_msg(&gpu->log, KR_LOG_ERROR, "backend %s: cannot start: %s", ops->name,
			strerror(-ret));
		goto err;
	}
	gpu->defer_readback = (gpu->cb.flags & KR_GPU_CB_DEFER_READBACK) &&
			      renderer_pixels_read_back(gpu->renderer);
	*out = gpu;
	return 0;
err:
	kr_gpu_destroy(gpu);
	return ret;
}

KR_EXPORT int
kr_gpu_create(const struct kr_gpu_config *cfg, const struct kr_gpu_callbacks *cbs, void *user,
	      struct kr_gpu **out)
{
	const char *name = cfg && cfg->backend ? cfg->backend : "2d";
	const struct renderer_ops *ops = renderer_lookup(name);

	if (!cfg)
		return -EINVAL;
	if (!ops) {
		struct logger lg;
		char list[128] = "";
		logger_init(&lg, KR_LOG_ERROR, cbs ? cbs->log : NULL, user);
		for (const char *const *n = renderer_names(); *n; n++) {
			strncat(list, n == renderer_names() ? "" : ", ",
				sizeof(list) - strlen(list) - 1);
			strncat(list, *n, sizeof(list) - strlen(list) - 1);
		}
		log_msg(&lg, KR_LOG_ERROR, "backend '%.32s' is not built in; available: %s", name,
			list);
		return -ENOENT;
	}
	return gpu_create_with_ops(cfg, cbs, user, ops, out);
}

static void
drop_state(struct kr_gpu *gpu)
{
	struct resource *res;

	fence_drop_all(gpu);
	for (uint32_t i = 0; i < gpu->n_contexts; i++)
		renderer_ctx_destroy(gpu->renderer, gpu->contexts[i]);
	gpu->n_contexts = 0;
	while (gpu->resources.buckets && (res = restab_first(&gpu->resources)))
		resource_destroy(gpu, res);
	gpu->cursor = (struct cursor){0};
}

KR_EXPORT void
kr_gpu_destroy(struct kr_gpu *gpu)
{
	if (!gpu)
		return;
	if (gpu->renderer)
		drop_state(gpu);
	if (gpu->renderer)
		renderer_destroy(gpu->renderer);
	restab_finish(&gpu->resources);
	guestmem_finish(&gpu->mem);
	for (uint32_t i = 0; i < KR_MAX_SCANOUTS; i++)
		free(gpu->scanouts[i].edid);
	free(gpu->contexts);
	free(gpu->render_node);
	free(gpu->gfxstream_lib);
	free(gpu);
}

KR_EXPORT void
kr_gpu_reset(struct kr_gpu *gpu)
{
	drop_state(gpu);
	gpu->events_read = 0;
	gpu->features_acked = gpu->features_offered;
}

KR_EXPORT int
kr_gpu_set_memory(struct kr_gpu *gpu, const struct kr_mem_region *regions, size_t n)
{
	struct resource *res;
	int ret = guestmem_set(&gpu->mem, regions, n);

	if (ret < 0)
		return ret;
	restab_for_each(&gpu->resources, res)
	{
		if (!res->backing)
			continue;
		/* Backends holding the host iovecs must let go of the old ones. */
		if (res->backing->iov)
			renderer_detach_backing(gpu->renderer, res);
		if (backing_remap(res->backing, &gpu->mem) < 0)
			log_msg(&gpu->log, KR_LOG_WARN,
				"resource %u: backing no longer in guest memory", res->id);
		else
			renderer_attach_backing(gpu->renderer, res);
	}
	return 0;
}

KR_EXPORT uint64_t
kr_gpu_features(const struct kr_gpu *gpu)
{
	return gpu->features_offered;
}

KR_EXPORT int
kr_gpu_set_features(struct kr_gpu *gpu, uint64_t features)
{
	if (features & ~gpu->features_offered)
		return -EINVAL;
	gpu->features_acked = features;
	return 0;
}

KR_EXPORT int
kr_gpu_ctrl(struct kr_gpu *gpu, const struct kr_chain *chain, size_t *resp_len)
{
	return cmd_ctrl(gpu, chain, resp_len);
}

KR_EXPORT int
kr_gpu_cursor(struct kr_gpu *gpu, const struct kr_chain *chain, size_t *resp_len)
{
	if (!resp_len)
		return -EINVAL;
	*resp_len = 0;
	return cmd_cursor(gpu, chain);
}

KR_EXPORT void
kr_gpu_poll(struct kr_gpu *gpu)
{
	renderer_poll(gpu->renderer);
}

KR_EXPORT int
kr_gpu_fence_fd(struct kr_gpu *gpu)
{
	return renderer_fence_fd(gpu->renderer);
}

/* struct virtio_gpu_config as the driver sees it. */
static void
config_bytes(const struct kr_gpu *gpu, struct virtio_gpu_config *c)
{
	uint32_t ncaps = renderer_num_capsets(gpu->renderer);

	c->events_read = htole32(gpu->events_read);
	c->events_clear = 0;
	c->num_scanouts = htole32(gpu->cfg.num_scanouts);
	c->num_capsets = htole32(ncaps);
}

KR_EXPORT int
kr_gpu_config_read(const struct kr_gpu *gpu, uint32_t offset, void *buf, uint32_t len)
{
	struct virtio_gpu_config c;

	if (offset > sizeof(c) || len > sizeof(c) - offset)
		return -EINVAL;
	config_bytes(gpu, &c);
	memcpy(buf, (const uint8_t *)&c + offset, len);
	return 0;
}

KR_EXPORT int
kr_gpu_config_write(struct kr_gpu *gpu, uint32_t offset, const void *buf, uint32_t len)
{
	const uint32_t lo = offsetof(struct virtio_gpu_config, events_clear);
	uint8_t bytes[4] = {0};
	uint32_t clear;

	/* Only events_clear is writable. */
	if (offset < lo || offset > lo + 4 || len > lo + 4 - offset)
		return -EINVAL;
	memcpy(bytes + (offset - lo), buf, len);
	memcpy(&clear, bytes, 4);
	gpu->events_read &= ~le32toh(clear);
	return 0;
}

KR_EXPORT int
kr_gpu_set_display(struct kr_gpu *gpu, uint32_t scanout_id, const struct kr_scanout_config *mode)
{
	if (scanout_id >= gpu->cfg.num_scanouts || !mode || !mode_valid(mode))
		return -EINVAL;
	gpu->scanouts[scanout_id].mode = *mode;
	gpu->events_read |= VIRTIO_GPU_EVENT_DISPLAY;
	if (gpu->cb.config_changed)
		gpu->cb.config_changed(gpu->user);
	return 0;
}

KR_EXPORT int
kr_gpu_set_modes(struct kr_gpu *gpu, const struct kr_scanout_config *modes, uint32_t n)
{
	if (!modes || n == 0 || n > gpu->cfg.num_scanouts)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		if (!mode_valid(&modes[i]))
			return -EINVAL;
	}
	for (uint32_t i = 0; i < n; i++)
		gpu->scanouts[i].mode = modes[i];
	return 0;
}

KR_EXPORT int
kr_gpu_set_edid(struct kr_gpu *gpu, uint32_t scanout_id, const void *edid, size_t len)
{
	struct scanout *s;
	uint8_t *copy = NULL;

	if (scanout_id >= gpu->cfg.num_scanouts || len > 1024 || (len && !edid))
		return -EINVAL;
	s = &gpu->scanouts[scanout_id];
	if (len) {
		copy = malloc(len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, edid, len);
	}
	free(s->edid);
	s->edid = copy;
	s->edid_len = len;
	return 0;
}

KR_EXPORT void
kr_gpu_get_stats(const struct kr_gpu *gpu, struct kr_gpu_stats *stats)
{
	*stats = (struct kr_gpu_stats){
		.hostmem_used = gpu->hostmem_used,
		.resources = gpu->resources.count,
		.commands = gpu->n_commands,
		.errors = gpu->n_errors,
	};
	for (const struct pending *p = gpu->pending_head; p; p = p->next)
		stats->pending++;
}

KR_EXPORT unsigned
kr_gpu_present(struct kr_gpu *gpu)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < gpu->cfg.num_scanouts; i++)
		n += scanout_sync(gpu, i);
	return n;
}

KR_EXPORT bool
kr_gpu_present_pending(const struct kr_gpu *gpu)
{
	for (uint32_t i = 0; i < gpu->cfg.num_scanouts; i++) {
		if (gpu->scanouts[i].deferred.width)
			return true;
	}
	return false;
}

KR_EXPORT int
kr_gpu_get_scanout(struct kr_gpu *gpu, uint32_t scanout_id, struct kr_scanout_info *info)
{
	if (scanout_id >= gpu->cfg.num_scanouts)
		return -EINVAL;
	if (!gpu->scanouts[scanout_id].resource_id ||
	    !scanout_info(gpu, scanout_id, &gpu->scanouts[scanout_id].rect, info))
		return -ENOENT;
	return 0;
}
