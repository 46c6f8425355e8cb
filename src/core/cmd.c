/* SPDX-License-Identifier: MIT */
/*
 * Control and cursor queue commands: raw bytes -> a local copy of the
 * request -> validation -> handler -> zeroed, filled response.
 *
 * Guest memory is read exactly once per request into struct cmd; handlers
 * work on that copy only.  Handlers return the response type; everything
 * below them returns 0 or -errno.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edid.h"
#include "format.h"
#include "gpu.h"
#include "util/iov.h"

/* Largest fixed request we copy (SET_SCANOUT_BLOB is 96 bytes). */
#define REQ_MAX 128
/* Largest capset a backend may hand out (virgl's are ~1 KiB). */
#define CAPSET_MAX_SIZE (64u * 1024)

struct cmd {
	const struct kr_chain *chain; /* borrowed */
	size_t in_len;		      /* readable bytes in the chain */
	union {
		struct virtio_gpu_ctrl_hdr hdr;
		struct virtio_gpu_resource_create_2d create_2d;
		struct virtio_gpu_resource_unref unref;
		struct virtio_gpu_set_scanout set_scanout;
		struct virtio_gpu_resource_flush flush;
		struct virtio_gpu_transfer_to_host_2d t2d;
		struct virtio_gpu_resource_attach_backing attach;
		struct virtio_gpu_resource_detach_backing detach;
		struct virtio_gpu_get_capset_info capset_info;
		struct virtio_gpu_get_capset capset;
		struct virtio_gpu_cmd_get_edid edid;
		struct virtio_gpu_resource_assign_uuid uuid;
		struct virtio_gpu_update_cursor cursor;
		struct virtio_gpu_ctx_create ctx_create;
		struct virtio_gpu_ctx_resource ctx_res;
		struct virtio_gpu_resource_create_3d create_3d;
		struct virtio_gpu_transfer_host_3d t3d;
		struct virtio_gpu_cmd_submit submit;
		struct virtio_gpu_resource_create_blob create_blob;
		struct virtio_gpu_set_scanout_blob scanout_blob;
		struct virtio_gpu_resource_map_blob map_blob;
		struct virtio_gpu_resource_unmap_blob unmap_blob;
		uint8_t raw[REQ_MAX];
	} req;
	union {
		struct virtio_gpu_ctrl_hdr hdr;
		struct virtio_gpu_resp_display_info display_info;
		struct virtio_gpu_resp_edid edid;
		struct virtio_gpu_resp_capset_info capset_info;
		struct virtio_gpu_resp_resource_uuid uuid;
		struct virtio_gpu_resp_map_info map_info;
	} resp;
	uint8_t *resp_dyn; /* owned, may be NULL: a response larger than resp */
	size_t resp_len;   /* bytes of response (resp_dyn when set, else resp) */
	bool on_ring;	   /* fenced on a context's ring (CONTEXT_INIT) */
	bool ring_bad;	   /* ... on a ring that cannot be: no fence is created */
	char why[96];	   /* why the command was refused, when a handler says */
};

typedef uint32_t (*cmd_handler)(struct kr_gpu *gpu, struct cmd *c);

struct cmd_desc {
	const char *name;
	uint32_t size;	    /* the smallest valid request */
	int feature;	    /* VIRTIO_GPU_F_* required, or -1 */
	cmd_handler handle; /* NULL: known command kohlrabi does not execute */
};

static bool
rect_inside(const struct virtio_gpu_rect *r, uint32_t width, uint32_t height)
{
	uint32_t x = le32toh(r->x), y = le32toh(r->y);
	uint32_t w = le32toh(r->width), h = le32toh(r->height);

	/* Written so that nothing can wrap. */
	return w <= width && x <= width - w && h <= height && y <= height - h;
}

static struct kr_rect
rect_host(const struct virtio_gpu_rect *r)
{
	return (struct kr_rect){le32toh(r->x), le32toh(r->y), le32toh(r->width),
				le32toh(r->height)};
}

static struct resource *
lookup(struct kr_gpu *gpu, uint32_t id)
{
	return id ? restab_lookup(&gpu->resources, id) : NULL;
}

/* Refuse the command with RESP, saying why in the debug log (dispatch). */
static uint32_t KR_PRINTF(3, 4) refuse(struct cmd *c, uint32_t resp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	return resp;
}

/* The resource the request names, or NULL with the reason recorded. */
static struct resource *
find(struct kr_gpu *gpu, struct cmd *c, uint32_t id)
{
	struct resource *res = lookup(gpu, id);

	if (!res)
		snprintf(c->why, sizeof(c->why), "no resource %u", id);
	return res;
}

/* A new resource's id, refused when 0 or taken. */
static bool
id_free(struct kr_gpu *gpu, struct cmd *c, uint32_t id)
{
	if (id && !lookup(gpu, id))
		return true;
	snprintf(c->why, sizeof(c->why), id ? "resource %u exists" : "resource id 0", id);
	return false;
}

static uint32_t
cmd_get_display_info(struct kr_gpu *gpu, struct cmd *c)
{
	struct virtio_gpu_resp_display_info *r = &c->resp.display_info;

	for (uint32_t i = 0; i < gpu->cfg.num_scanouts; i++) {
		const struct kr_scanout_config *m = &gpu->scanouts[i].mode;
		r->pmodes[i].r.width = htole32(m->width);
		r->pmodes[i].r.height = htole32(m->height);
		r->pmodes[i].enabled = htole32(m->enabled ? 1 : 0);
	}
	c->resp_len = sizeof(*r);
	return VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
}

static uint32_t
cmd_get_edid(struct kr_gpu *gpu, struct cmd *c)
{
	uint32_t id = le32toh(c->req.edid.scanout);
	size_t n;

	if (id >= gpu->cfg.num_scanouts)
		return VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
	const struct kr_scanout_config *m = &gpu->scanouts[id].mode;
	if (gpu->scanouts[id].edid) {
		memcpy(c->resp.edid.edid, gpu->scanouts[id].edid, gpu->scanouts[id].edid_len);
		c->resp.edid.size = htole32((uint32_t)gpu->scanouts[id].edid_len);
		c->resp_len = sizeof(c->resp.edid);
		return VIRTIO_GPU_RESP_OK_EDID;
	}
	if (edid_generate(c->resp.edid.edid, sizeof(c->resp.edid.edid), m->width, m->height, id + 1,
			  &n) < 0)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	c->resp.edid.size = htole32((uint32_t)n);
	c->resp_len = sizeof(c->resp.edid);
	return VIRTIO_GPU_RESP_OK_EDID;
}

static uint32_t
cmd_resource_create_2d(struct kr_gpu *gpu, struct cmd *c)
{
	const struct virtio_gpu_resource_create_2d *q = &c->req.create_2d;
	struct renderer_res_2d a = {
		.id = le32toh(q->resource_id),
		.format = le32toh(q->format),
		.width = le32toh(q->width),
		.height = le32toh(q->height),
	};
	struct resource *res;
	uint32_t bpp = format_bpp(a.format);
	uint64_t size;

	if (!id_free(gpu, c, a.id))
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!bpp || !a.width || !a.height)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (__builtin_mul_overflow((uint64_t)a.width * a.height, (uint64_t)bpp, &size) ||
	    size > gpu->cfg.max_hostmem - gpu->hostmem_used ||
	    gpu->resources.count >= gpu->cfg.max_resources) {
		log_bug_guest(&gpu->log, "resource %u: %ux%u does not fit the host memory cap",
			      a.id, a.width, a.height);
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	}
	if (renderer_resource_create_2d(gpu->renderer, &a, &res) < 0)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	return resource_add(gpu, res, size) < 0 ? VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY
						: VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t
cmd_resource_unref(struct kr_gpu *gpu, struct cmd *c)
{
	struct resource *res = find(gpu, c, le32toh(c->req.unref.resource_id));

	if (!res)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	resource_destroy(gpu, res);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t
cmd_set_scanout(struct kr_gpu *gpu, struct cmd *c)
{
	const struct virtio_gpu_set_scanout *q = &c->req.set_scanout;
	uint32_t id = le32toh(q->scanout_id);
	struct kr_scanout_info info;
	struct resource *res;

	if (id >= gpu->cfg.num_scanouts)
		return VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
	if (le32toh(q->resource_id) == 0) {
		scanout_disable(gpu, id);
		return VIRTIO_GPU_RESP_OK_NODATA;
	}
	res = find(gpu, c, le32toh(q->resource_id));
	if (!res)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!rect_inside(&q->r, res->width, res->height) || q->r.width == 0 || q->r.height == 0)
		return refuse(c, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
			      "resource %u: rectangle not inside its %ux%u", res->id, res->width,
			      res->height);
	if (res->is_blob) /* SET_SCANOUT_BLOB shows blobs */
		return refuse(c, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
			      "resource %u: a blob (SET_SCANOUT_BLOB shows blobs)", res->id);
	/* A page flip (another resource of the same size) does not stage the
	   old frame's pending damage for the display: the new one replaces it
	   whole, so a frame replaced before the refresh costs only its
	   transfer. */
	const struct scanout *old = &gpu->scanouts[id];
	scanout_clear(gpu, id,
		      old->resource_id && !old->blob && old->resource_id != res->id &&
			      old->rect.width == le32toh(q->r.width) &&
			      old->rect.height == le32toh(q->r.height));
	gpu->scanouts[id].resource_id = res->id;
	gpu->scanouts[id].rect = rect_host(&q->r);
	res->scanout_mask |= 1u << id;
	if (gpu->defer_readback) {
		/* Read back at the next present, with the flush that follows. */
		scanout_defer(gpu, id, &gpu->scanouts[id].rect);
		info = (struct kr_scanout_info){.scanout_id = id,
						.resource_id = res->id,
						.width = gpu->scanouts[id].rect.width,
						.height = gpu->scanouts[id].rect.height,
						.format = res->format};
	} else if (!scanout_info(gpu, id, &gpu->scanouts[id].rect, &info)) {
		scanout_disable(gpu, id);
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	if (gpu->cb.scanout_set)
		gpu->cb.scanout_set(gpu->user, id, &info);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t
cmd_resource_flush(struct kr_gpu *gpu, struct cmd *c)
{
	const struct virtio_gpu_resource_flush *q = &c->req.flush;
	struct resource *res = find(gpu, c, le32toh(q->resource_id));
	struct kr_scanout_info info;

	if (!res)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	/* A blob's framebuffer size is per scanout: the intersection below
	   keeps a blob flush inside what each scanout shows. */
	if (!res->is_blob && !rect_inside(&q->r, res->width, res->height))
		return refuse(c, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
			      "resource %u: rectangle not inside its %ux%u", res->id, res->width,
			      res->height);
	struct kr_rect f = rect_host(&q->r);
	for (uint32_t i = 0; i < gpu->cfg.num_scanouts; i++) {
		if (!(res->scanout_mask & (1u << i)))
			continue;
		const struct kr_rect *s = &gpu->scanouts[i].rect;
		/* Intersect in 64 bits; both rectangles lie inside the resource. */
		uint64_t x0 = MAX(f.x, s->x), y0 = MAX(f.y, s->y);
		uint64_t x1 = MIN((uint64_t)f.x + f.width, (uint64_t)s->x + s->width);
		uint64_t y1 = MIN((uint64_t)f.y + f.height, (uint64_t)s->y + s->height);
		if (x0 >= x1 || y0 >= y1)
			continue;
		/* Only the damage is read back, in the resource's coordinates. */
		struct kr_rect fresh = {(uint32_t)x0, (uint32_t)y0, (uint32_t)(x1 - x0),
					(uint32_t)(y1 - y0)};
		if (gpu->defer_readback && !gpu->scanouts[i].blob) {
			scanout_defer(gpu, i, &fresh); /* read back when presented */
			continue;
		}
		if (!scanout_info(gpu, i, &fresh, &info))
			continue;
		struct kr_rect d = {(uint32_t)(x0 - s->x), (uint32_t)(y0 - s->y),
				    (uint32_t)(x1 - x0), (uint32_t)(y1 - y0)};
		if (gpu->scanouts[i].blob && scanout_blob_refresh(gpu, i, res, &d, true) < 0)
			continue;
		if (gpu->cb.scanout_update)
			gpu->cb.scanout_update(gpu->user, &info, &d);
	}
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t
cmd_transfer_to_host_2d(struct kr_gpu *gpu, struct cmd *c)
{
	const struct virtio_gpu_transfer_to_host_2d *q = &c->req.t2d;
	struct resource *res = find(gpu, c, le32toh(q->resource_id));
	uint64_t offset = le64toh(q->offset), end;

	if (!res)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (res->is_blob)
		return VIRTIO_GPU_RESP_OK_NODATA; /* the blob is the guest's memory itself */
	if (!rect_inside(&q->r, res->width, res->height))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (!res->backing || !res->backing->iov) {
		log_bug_guest(&gpu->log, "resource %u: transfer without backing", res->id);
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	struct kr_rect r = rect_host(&q->r);
	if (r.width == 0 || r.height == 0)
		return VIRTIO_GPU_RESP_OK_NODATA;
	/* Bytes read: rows of the resource's width, the last one only r.width wide. */
	uint64_t stride = (uint64_t)res->width * format_bpp(res->format);
	end = (uint64_t)(r.height - 1) * stride + (uint64_t)r.width * format_bpp(res->format);
	if (__builtin_add_overflow(end, offset, &end) || end > res->backing->size)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	scanout_resource_changing(gpu, res);
	if (renderer_transfer_to_host_2d(gpu->renderer, res, &r, offset) < 0)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint64_t
backing_meta(const struct backing *b)
{
	return (uint64_t)b->n_entries * sizeof(*b->entries) + (uint64_t)b->n_iov * sizeof(*b->iov);
}

/* Read n memory entries at byte off of the request and translate them. */
static uint32_t
read_backing(struct kr_gpu *gpu, struct cmd *c, size_t off, uint32_t n, uint32_t id,
	     struct backing **out)
{
	struct virtio_gpu_mem_entry *raw = NULL;
	struct mem_entry *ents = NULL;
	struct backing *b = NULL;
	uint32_t type = VIRTIO_GPU_RESP_ERR_UNSPEC;

	/* Bound n before anything is sized by it. */
	if (n == 0 || n > BACKING_MAX_ENTRIES || (uint64_t)n * sizeof(*raw) > c->in_len - off) {
		log_bug_guest(&gpu->log, "resource %u: bad nr_entries %u", id, n);
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	raw = calloc(n, sizeof(*raw));
	ents = calloc(n, sizeof(*ents));
	if (!raw || !ents) {
		type = VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
		goto out;
	}
	iov_to_buf(c->chain->in, c->chain->n_in, off, raw, (size_t)n * sizeof(*raw));
	for (uint32_t i = 0; i < n; i++) {
		ents[i].gpa = le64toh(raw[i].addr);
		ents[i].len = le32toh(raw[i].length);
	}
	int ret = backing_create(&gpu->mem, ents, n, &b);
	if (ret == -ENOMEM) {
		type = VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
		goto out;
	}
	if (ret < 0) {
		log_bug_guest(&gpu->log, "resource %u: backing outside guest memory", id);
		goto out;
	}
	if (backing_meta(b) > gpu->cfg.max_hostmem - gpu->hostmem_used) {
		backing_destroy(b);
		type = VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
		goto out;
	}
	*out = b;
	type = VIRTIO_GPU_RESP_OK_NODATA;
out:
	free(raw);
	free(ents);
	return type;
}

static uint32_t
cmd_attach_backing(struct kr_gpu *gpu, struct cmd *c)
{
	const struct virtio_gpu_resource_attach_backing *q = &c->req.attach;
	struct resource *res = find(gpu, c, le32toh(q->resource_id));
	struct backing *b = NULL;
	uint32_t type;

	if (!res)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (res->backing || res->is_blob) {
		log_bug_guest(&gpu->log, "resource %u: backing attached twice", res->id);
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	type = read_backing(gpu, c, sizeof(*q), le32toh(q->nr_entries), res->id, &b);
	if (type != VIRTIO_GPU_RESP_OK_NODATA)
		return type;
	res->backing = b;
	if (renderer_attach_backing(gpu->renderer, res) < 0) {
		res->backing = NULL;
		backing_destroy(b);
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	uint64_t meta = backing_meta(b);
	gpu->hostmem_used += meta;
	res->hostmem += meta;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t
cmd_detach_backing(struct kr_gpu *gpu, struct cmd *c)
{
	struct resource *res = find(gpu, c, le32toh(c->req.detach.resource_id));

	if (!res)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!res->backing || res->is_blob)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	uint64_t meta = backing_meta(res->backing);
	if (res->backing->iov)
		renderer_detach_backing(gpu->renderer, res);
	gpu->hostmem_used -= meta;
	res->hostmem -= meta;
	backing_destroy(res->backing);
	res->backing = NULL;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t
cmd_get_capset_info(struct kr_gpu *gpu, struct cmd *c)
{
	uint32_t index = le32toh(c->req.capset_info.capset_index);
	struct renderer_capset info;

	c->resp_len = sizeof(c->resp.capset_info);
	/* An index out of range answers OK with every field zero (as QEMU). */
	if (index >= renderer_num_capsets(gpu->renderer) ||
	    renderer_capset_info(gpu->renderer, index, &info) < 0)
		return VIRTIO_GPU_RESP_OK_CAPSET_INFO;
	c->resp.capset_info.capset_id = htole32(info.id);
	c->resp.capset_info.capset_max_version = htole32(info.max_version);
	c->resp.capset_info.capset_max_size = htole32(info.max_size);
	return VIRTIO_GPU_RESP_OK_CAPSET_INFO;
}

/* The backend's capset with this id, if it has one. */
static bool
capset_find(struct kr_gpu *gpu, uint32_t id, struct renderer_capset *info)
{
	uint32_t n = renderer_num_capsets(gpu->renderer);

	for (uint32_t i = 0; i < n; i++) {
		if (renderer_capset_info(gpu->renderer, i, info) == 0 && info->id == id)
			return true;
	}
	return false;
}

static uint32_t
cmd_get_capset(struct kr_gpu *gpu, struct cmd *c)
{
	uint32_t id = le32toh(c->req.capset.capset_id);
	uint32_t version = le32toh(c->req.capset.capset_version);
	struct renderer_capset info;

	if (!capset_find(gpu, id, &info))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (version > info.max_version || info.max_size > CAPSET_MAX_SIZE)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	c->resp_len = sizeof(struct virtio_gpu_ctrl_hdr) + info.max_size;
	c->resp_dyn = calloc(1, c->resp_len);
	if (!c->resp_dyn)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	if (renderer_capset_get(gpu->renderer, id, version,
				c->resp_dyn + sizeof(struct virtio_gpu_ctrl_hdr),
				info.max_size) < 0)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	return VIRTIO_GPU_RESP_OK_CAPSET;
}

static uint64_t
mix64(uint64_t x)
{
	/* splitmix64 finaliser */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint32_t
cmd_assign_uuid(struct kr_gpu *gpu, struct cmd *c)
{
	struct resource *res = find(gpu, c, le32toh(c->req.uuid.resource_id));

	if (!res)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!res->has_uuid) {
		uint64_t s0, s1;
		memcpy(&s0, gpu->uuid_seed, 8);
		memcpy(&s1, gpu->uuid_seed + 8, 8);
		s0 = mix64(s0 ^ res->id);
		s1 = mix64(s1 ^ (s0 + gpu->n_commands));
		memcpy(res->uuid, &s0, 8);
		memcpy(res->uuid + 8, &s1, 8);
		res->uuid[6] = (uint8_t)((res->uuid[6] & 0x0f) | 0x40); /* version 4 */
		res->uuid[8] = (uint8_t)((res->uuid[8] & 0x3f) | 0x80); /* RFC 4122 variant */
		res->has_uuid = true;
	}
	memcpy(c->resp.uuid.uuid, res->uuid, sizeof(res->uuid));
	c->resp_len = sizeof(c->resp.uuid);
	return VIRTIO_GPU_RESP_OK_RESOURCE_UUID;
}

/* A capset a context may be created for: offered, with data. */
static bool
capset_known(struct kr_gpu *gpu, uint32_t id)
{
	struct renderer_capset info;

	return capset_find(gpu, id, &info) && info.max_size;
}

static uint32_t
cmd_ctx_create(struct kr_gpu *gpu, struct cmd *c)
{
	const struct virtio_gpu_ctx_create *q = &c->req.ctx_create;
	uint32_t id = le32toh(q->hdr.ctx_id), nlen = le32toh(q->nlen);
	uint32_t capset = 0;
	char name[sizeof(q->debug_name) + 1];
	uint32_t *grown;

	if (id == 0 || gpu_ctx_exists(gpu, id))
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	if (gpu_has_feature(gpu, VIRTIO_GPU_F_CONTEXT_INIT))
		capset = le32toh(q->context_init) & VIRTIO_GPU_CONTEXT_INIT_CAPSET_ID_MASK;
	else if (q->context_init)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (capset && !capset_known(gpu, capset))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (gpu->n_contexts >= gpu->cfg.max_contexts)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	/* The debug name: at most 64 bytes, always terminated. */
	nlen = MIN(nlen, (uint32_t)sizeof(q->debug_name));
	memcpy(name, q->debug_name, nlen);
	name[nlen] = 0;
	nlen = (uint32_t)strlen(name);
	grown = realloc(gpu->contexts, (gpu->n_contexts + 1) * sizeof(*grown));
	if (!grown)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	gpu->contexts = grown;
	if (renderer_ctx_create(gpu->renderer, id, capset, name, nlen) < 0)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	gpu->contexts[gpu->n_contexts++] = id;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t
cmd_ctx_destroy(struct kr_gpu *gpu, struct cmd *c)
{
	uint32_t id = le32toh(c->req.hdr.ctx_id);

	for (uint32_t i = 0; i < gpu->n_contexts; i++) {
		if (gpu->contexts[i] != id)
			continue;
		gpu->contexts[i] = gpu->contexts[--gpu->n_contexts];
		renderer_ctx_destroy(gpu->renderer, id);
		return VIRTIO_GPU_RESP_OK_NODATA;
	}
	return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
}

static uint32_t
ctx_resource(struct kr_gpu *gpu, struct cmd *c, bool attach)
{
	uint32_t ctx = le32toh(c->req.hdr.ctx_id);
	struct resource *res = find(gpu, c, le32toh(c->req.ctx_res.resource_id));

	if (!gpu_ctx_exists(gpu, ctx))
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	if (!res)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (attach)
		renderer_ctx_attach(gpu->renderer, ctx, res);
	else
		renderer_ctx_detach(gpu->renderer, ctx, res);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t
cmd_ctx_attach(struct kr_gpu *gpu, struct cmd *c)
{
	return ctx_resource(gpu, c, true);
}

static uint32_t
cmd_ctx_detach(struct kr_gpu *gpu, struct cmd *c)
{
	return ctx_resource(gpu, c, false);
}

/* Gallium texture targets (PIPE_BUFFER .. PIPE_TEXTURE_CUBE_ARRAY). */
#define TARGET_MAX    8
#define TARGET_BUFFER 0

/* What a 3D resource is charged to the host memory cap: the format's bytes
   per texel (the widest format's when it is not known) of every sample and
   layer, 22/16 of that with mip levels (their sum is under 22/16 of level
   0).  False when that does not fit 64 bits. */
static bool
charge_3d(const struct renderer_res_3d *a, uint64_t *size)
{
	uint64_t n;

	if (__builtin_mul_overflow((uint64_t)a->width * a->height,
				   (uint64_t)a->depth * a->array_size, &n) ||
	    __builtin_mul_overflow(n, (uint64_t)MAX(a->nr_samples, 1u), &n) ||
	    __builtin_mul_overflow(n, (uint64_t)format_virgl_texel_bytes(a->format), &n) ||
	    __builtin_mul_overflow(n, a->last_level ? 22ull : 16ull, &n))
		return false;
	*size = n / 16;
	return true;
}

static uint32_t
cmd_resource_create_3d(struct kr_gpu *gpu, struct cmd *c)
{
	const struct virtio_gpu_resource_create_3d *q = &c->req.create_3d;
	struct renderer_res_3d a = {
		.id = le32toh(q->resource_id),
		.target = le32toh(q->target),
		.format = le32toh(q->format),
		.bind = le32toh(q->bind),
		.width = le32toh(q->width),
		.height = le32toh(q->height),
		.depth = le32toh(q->depth),
		.array_size = le32toh(q->array_size),
		.last_level = le32toh(q->last_level),
		.nr_samples = le32toh(q->nr_samples),
		.flags = le32toh(q->flags),
	};
	struct resource *res;
	uint64_t size;

	if (!id_free(gpu, c, a.id))
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (a.target > TARGET_MAX || !a.width || !a.height || !a.depth || !a.array_size ||
	    a.last_level > 31 || a.nr_samples > 32)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (!charge_3d(&a, &size) || size > gpu->cfg.max_hostmem - gpu->hostmem_used ||
	    gpu->resources.count >= gpu->cfg.max_resources)
		return refuse(c, VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY,
			      "resource %u: %ux%ux%u format %u over the host memory cap (%llu of "
			      "%llu bytes in use)",
			      a.id, a.width, a.height, a.depth, a.format,
			      (unsigned long long)gpu->hostmem_used,
			      (unsigned long long)gpu->cfg.max_hostmem);
	if (renderer_resource_create_3d(gpu->renderer, &a, &res) < 0)
		return refuse(c, VIRTIO_GPU_RESP_ERR_UNSPEC, "resource %u: the renderer refused it",
			      a.id);
	res->is_3d = true;
	res->target = a.target;
	res->depth = a.depth;
	res->array_size = a.array_size;
	res->last_level = a.last_level;
	return resource_add(gpu, res, size) < 0 ? VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY
						: VIRTIO_GPU_RESP_OK_NODATA;
}

static bool
span_inside(uint32_t pos, uint32_t len, uint32_t size)
{
	return len <= size && pos <= size - len;
}

/*
 * The guest's side of a 3D transfer: the box's last row must start inside
 * the backing, and no offset may pass 32 bits (virglrenderer 0.10 computes
 * them in 32 bits without checking: a wrapped stride reached memory outside
 * the backing).  Stride 0 lets the renderer derive it from the format.
 */
static bool
transfer_layout_ok(const struct renderer_transfer *t, uint64_t backing_size)
{
	uint64_t rows = t->h ? t->h - 1 : 0, layers = t->d ? t->d - 1 : 0;
	uint64_t last = t->offset + rows * t->stride + layers * t->layer_stride;

	/* Both factors of each product are 32-bit: the products cannot wrap. */
	if (t->offset > UINT32_MAX || rows * t->stride > UINT32_MAX ||
	    layers * t->layer_stride > UINT32_MAX)
		return false;
	return last <= UINT32_MAX && last < backing_size;
}

static uint32_t
transfer_3d(struct kr_gpu *gpu, struct cmd *c, bool to_host)
{
	const struct virtio_gpu_transfer_host_3d *q = &c->req.t3d;
	struct resource *res = find(gpu, c, le32toh(q->resource_id));
	struct renderer_transfer t = {
		.ctx_id = le32toh(q->hdr.ctx_id),
		.level = le32toh(q->level),
		.stride = le32toh(q->stride),
		.layer_stride = le32toh(q->layer_stride),
		.x = le32toh(q->box.x),
		.y = le32toh(q->box.y),
		.z = le32toh(q->box.z),
		.w = le32toh(q->box.w),
		.h = le32toh(q->box.h),
		.d = le32toh(q->box.d),
		.offset = le64toh(q->offset),
		.to_host = to_host,
	};

	if (!res)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (t.ctx_id && !gpu_ctx_exists(gpu, t.ctx_id))
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	if (!res->backing || !res->backing->iov)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	if (t.level > (res->is_3d ? res->last_level : 0))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	/* The box must lie inside the level (array layers count as depth). */
	uint32_t lw = MAX(res->width >> t.level, 1u), lh = MAX(res->height >> t.level, 1u);
	uint32_t ld = res->is_3d ? MAX(res->depth >> t.level, 1u) : 1;
	if (res->is_3d && res->array_size > 1)
		ld = res->array_size;
	if (res->is_3d && res->target == TARGET_BUFFER)
		lh = ld = 1;
	if (!span_inside(t.x, t.w, lw) || !span_inside(t.y, t.h, lh) || !span_inside(t.z, t.d, ld))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (!transfer_layout_ok(&t, res->backing->size))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (to_host)
		scanout_resource_changing(gpu, res);
	if (renderer_transfer_3d(gpu->renderer, res, &t) < 0)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t
cmd_transfer_to_host_3d(struct kr_gpu *gpu, struct cmd *c)
{
	return transfer_3d(gpu, c, true);
}

static uint32_t
cmd_transfer_from_host_3d(struct kr_gpu *gpu, struct cmd *c)
{
	return transfer_3d(gpu, c, false);
}

static uint32_t
cmd_submit_3d(struct kr_gpu *gpu, struct cmd *c)
{
	uint32_t ctx = le32toh(c->req.hdr.ctx_id), size = le32toh(c->req.submit.size);
	uint32_t *buf;
	uint32_t type = VIRTIO_GPU_RESP_OK_NODATA;

	if (!gpu_ctx_exists(gpu, ctx))
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	/* Bounded by the request before anything is allocated. */
	if (size % 4 || size > GPU_MAX_SUBMIT || size > c->in_len - sizeof(c->req.submit))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (size == 0)
		return VIRTIO_GPU_RESP_OK_NODATA;
	buf = malloc(size); /* a 4-byte aligned copy of the stream */
	if (!buf)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	iov_to_buf(c->chain->in, c->chain->n_in, sizeof(c->req.submit), buf, size);
	if (renderer_submit_3d(gpu->renderer, ctx, buf, size) < 0)
		type = refuse(c, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
			      "context %u: the renderer rejected a %u-byte command stream", ctx,
			      size);
	free(buf);
	return type;
}

#define BLOB_FLAGS_KNOWN                                                                           \
	(VIRTIO_GPU_BLOB_FLAG_USE_MAPPABLE | VIRTIO_GPU_BLOB_FLAG_USE_SHAREABLE |                  \
	 VIRTIO_GPU_BLOB_FLAG_USE_CROSS_DEVICE)
#define PAGE_SIZE_4K 4096u

static uint32_t
create_blob_error(int ret)
{
	if (ret == -EINVAL)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	return ret == -ENOMEM ? VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY : VIRTIO_GPU_RESP_ERR_UNSPEC;
}

static uint32_t
cmd_resource_create_blob(struct kr_gpu *gpu, struct cmd *c)
{
	const struct virtio_gpu_resource_create_blob *q = &c->req.create_blob;
	struct renderer_blob a = {
		.id = le32toh(q->resource_id),
		.ctx_id = le32toh(q->hdr.ctx_id),
		.blob_mem = le32toh(q->blob_mem),
		.blob_flags = le32toh(q->blob_flags),
		.blob_id = le64toh(q->blob_id),
		.size = le64toh(q->size),
	};
	uint32_t n = le32toh(q->nr_entries);
	struct backing *b = NULL;
	struct resource *res;
	uint64_t charge;
	uint32_t type;

	if (!id_free(gpu, c, a.id))
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (a.blob_mem < VIRTIO_GPU_BLOB_MEM_GUEST ||
	    a.blob_mem > VIRTIO_GPU_BLOB_MEM_HOST3D_GUEST || (a.blob_flags & ~BLOB_FLAGS_KNOWN) ||
	    a.size == 0)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	bool in_guest = a.blob_mem != VIRTIO_GPU_BLOB_MEM_HOST3D;
	bool in_host = a.blob_mem != VIRTIO_GPU_BLOB_MEM_GUEST;
	/* Guest memory comes as entries; host-only blobs carry none. */
	if (in_guest != (n > 0))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (in_host && !gpu_ctx_exists(gpu, a.ctx_id))
		return VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	if (!in_host && !gpu_ctx_exists(gpu, a.ctx_id))
		a.ctx_id = 0;
	charge = in_host ? a.size : 0;
	if (gpu->resources.count >= gpu->cfg.max_resources ||
	    charge > gpu->cfg.max_hostmem - gpu->hostmem_used)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	if (in_guest) {
		type = read_backing(gpu, c, sizeof(*q), n, a.id, &b);
		if (type != VIRTIO_GPU_RESP_OK_NODATA)
			return type;
		if (b->size < a.size) {
			log_bug_guest(&gpu->log, "blob %u: %llu bytes over a backing of %llu", a.id,
				      (unsigned long long)a.size, (unsigned long long)b->size);
			backing_destroy(b);
			return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
		}
		charge += backing_meta(b);
		if (charge > gpu->cfg.max_hostmem - gpu->hostmem_used) {
			backing_destroy(b);
			return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
		}
	}
	a.backing = b;
	int ret = renderer_resource_create_blob(gpu->renderer, &a, &res);
	if (ret < 0) {
		backing_destroy(b);
		return create_blob_error(ret);
	}
	res->is_blob = true;
	res->blob_mem = a.blob_mem;
	res->blob_flags = a.blob_flags;
	res->blob_size = a.size;
	res->backing = b;
	return resource_add(gpu, res, charge) < 0 ? VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY
						  : VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t
cmd_set_scanout_blob(struct kr_gpu *gpu, struct cmd *c)
{
	const struct virtio_gpu_set_scanout_blob *q = &c->req.scanout_blob;
	uint32_t id = le32toh(q->scanout_id), rid = le32toh(q->resource_id);
	uint32_t fb_w = le32toh(q->width), fb_h = le32toh(q->height);
	uint32_t format = le32toh(q->format), stride = le32toh(q->strides[0]);
	uint64_t offset = le32toh(q->offsets[0]), end, shadow_size;
	struct kr_rect r = rect_host(&q->r);
	struct kr_scanout_info info;
	struct resource *res;
	struct scanout *s;

	if (id >= gpu->cfg.num_scanouts)
		return VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
	if (rid == 0) {
		scanout_disable(gpu, id);
		return VIRTIO_GPU_RESP_OK_NODATA;
	}
	res = find(gpu, c, rid);
	if (!res || !res->is_blob)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (format_bpp(format) != 4 || !fb_w || !fb_h || !r.width || !r.height ||
	    !rect_inside(&q->r, fb_w, fb_h) || stride < (uint64_t)fb_w * 4 || stride % 4)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	/* The whole framebuffer must lie inside the blob. */
	if (__builtin_mul_overflow((uint64_t)(fb_h - 1), (uint64_t)stride, &end) ||
	    __builtin_add_overflow(end, offset + (uint64_t)fb_w * 4, &end) || end > res->blob_size)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	s = &gpu->scanouts[id];
	uint64_t old = s->shadow ? (uint64_t)s->rect.width * s->rect.height * 4 : 0;
	/* r lies in the framebuffer, whose rows (stride >= fb_w * 4) end inside the
	   blob (checked above): the product is bounded by the blob size. */
	shadow_size = (uint64_t)r.width * r.height * 4;
	if (shadow_size / 4 / r.width != r.height || shadow_size > SIZE_MAX ||
	    shadow_size > gpu->cfg.max_hostmem - gpu->hostmem_used + old)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	uint8_t *shadow = calloc(1, (size_t)shadow_size);
	if (!shadow)
		return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
	scanout_clear(gpu, id, false); /* the old shadow is freed: the display is told */
	s->resource_id = rid;
	s->rect = r;
	s->blob = true;
	s->blob_format = format;
	s->blob_stride = stride;
	s->blob_offset = offset + (uint64_t)r.y * stride + (uint64_t)r.x * 4;
	s->shadow = shadow;
	gpu->hostmem_used += shadow_size;
	res->scanout_mask |= 1u << id;
	struct kr_rect all = {0, 0, r.width, r.height};
	if (scanout_blob_refresh(gpu, id, res, &all, false) < 0 ||
	    !scanout_info(gpu, id, NULL, &info)) {
		log_bug_guest(&gpu->log, "blob %u: cannot read it for scanout %u", rid, id);
		scanout_disable(gpu, id);
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	if (gpu->cb.scanout_set)
		gpu->cb.scanout_set(gpu->user, id, &info);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

/* Whether [off, off + size) of the window is free of mappings. */
static bool
window_free(const struct kr_gpu *gpu, uint64_t off, uint64_t size)
{
	struct resource *r;

	restab_for_each(&gpu->resources, r)
	{
		if (r->mapped && off < r->map_offset + r->map_size && r->map_offset < off + size)
			return false;
	}
	return true;
}

static uint32_t
cmd_map_blob(struct kr_gpu *gpu, struct cmd *c)
{
	struct resource *res = find(gpu, c, le32toh(c->req.map_blob.resource_id));
	uint64_t off = le64toh(c->req.map_blob.offset), window = gpu->cfg.hostmem_window;
	struct renderer_map m = {.fd = -1};

	if (!res || !res->is_blob)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!(res->blob_flags & VIRTIO_GPU_BLOB_FLAG_USE_MAPPABLE) ||
	    res->blob_mem == VIRTIO_GPU_BLOB_MEM_GUEST || res->mapped)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	/* blob_size is charged against max_hostmem, so rounding cannot wrap. */
	uint64_t size = (res->blob_size + PAGE_SIZE_4K - 1) & ~(uint64_t)(PAGE_SIZE_4K - 1);
	if (off % PAGE_SIZE_4K || size > window || off > window - size ||
	    !window_free(gpu, off, size))
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	if (gpu->cb.version < 3 || !gpu->cb.map_blob) {
		log_bug_host(&gpu->log, "blob %u: no host-visible window to map it into", res->id);
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	if (renderer_resource_map(gpu->renderer, res, &m) < 0)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	struct kr_blob_map bm = {
		.offset = off,
		.size = size,
		.fd = m.fd,
		.fd_offset = m.fd_offset,
		.host = m.host,
		.map_info = m.map_info,
		.writable = true,
	};
	if (m.size < res->blob_size || gpu->cb.map_blob(gpu->user, &bm) < 0) {
		log_bug_host(&gpu->log, "blob %u: mapping into the window failed", res->id);
		renderer_resource_unmap(gpu->renderer, res);
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	res->mapped = true;
	res->map_offset = off;
	res->map_size = size;
	c->resp.map_info.map_info = htole32(m.map_info);
	c->resp_len = sizeof(c->resp.map_info);
	return VIRTIO_GPU_RESP_OK_MAP_INFO;
}

static uint32_t
cmd_unmap_blob(struct kr_gpu *gpu, struct cmd *c)
{
	struct resource *res = find(gpu, c, le32toh(c->req.unmap_blob.resource_id));

	if (!res || !res->is_blob)
		return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
	if (!res->mapped)
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	resource_unmap_blob(gpu, res);
	return VIRTIO_GPU_RESP_OK_NODATA;
}

#define HDR		  sizeof(struct virtio_gpu_ctrl_hdr)
#define CMD(t, s, f, h)	  [VIRTIO_GPU_CMD_##t - VIRTIO_GPU_CMD_GET_DISPLAY_INFO] = {#t, s, f, h}
#define CMD3D(t, s, f, h) [VIRTIO_GPU_CMD_##t - VIRTIO_GPU_CMD_CTX_CREATE] = {#t, s, f, h}

static const struct cmd_desc cmds_2d[] = {
	CMD(GET_DISPLAY_INFO, HDR, -1, cmd_get_display_info),
	CMD(RESOURCE_CREATE_2D, sizeof(struct virtio_gpu_resource_create_2d), -1,
	    cmd_resource_create_2d),
	CMD(RESOURCE_UNREF, sizeof(struct virtio_gpu_resource_unref), -1, cmd_resource_unref),
	CMD(SET_SCANOUT, sizeof(struct virtio_gpu_set_scanout), -1, cmd_set_scanout),
	CMD(RESOURCE_FLUSH, sizeof(struct virtio_gpu_resource_flush), -1, cmd_resource_flush),
	CMD(TRANSFER_TO_HOST_2D, sizeof(struct virtio_gpu_transfer_to_host_2d), -1,
	    cmd_transfer_to_host_2d),
	CMD(RESOURCE_ATTACH_BACKING, sizeof(struct virtio_gpu_resource_attach_backing), -1,
	    cmd_attach_backing),
	CMD(RESOURCE_DETACH_BACKING, sizeof(struct virtio_gpu_resource_detach_backing), -1,
	    cmd_detach_backing),
	CMD(GET_CAPSET_INFO, sizeof(struct virtio_gpu_get_capset_info), -1, cmd_get_capset_info),
	CMD(GET_CAPSET, sizeof(struct virtio_gpu_get_capset), -1, cmd_get_capset),
	CMD(GET_EDID, sizeof(struct virtio_gpu_cmd_get_edid), VIRTIO_GPU_F_EDID, cmd_get_edid),
	CMD(RESOURCE_ASSIGN_UUID, sizeof(struct virtio_gpu_resource_assign_uuid),
	    VIRTIO_GPU_F_RESOURCE_UUID, cmd_assign_uuid),
	CMD(RESOURCE_CREATE_BLOB, sizeof(struct virtio_gpu_resource_create_blob),
	    VIRTIO_GPU_F_RESOURCE_BLOB, cmd_resource_create_blob),
	CMD(SET_SCANOUT_BLOB, sizeof(struct virtio_gpu_set_scanout_blob),
	    VIRTIO_GPU_F_RESOURCE_BLOB, cmd_set_scanout_blob),
};

static const struct cmd_desc cmds_3d[] = {
	CMD3D(CTX_CREATE, sizeof(struct virtio_gpu_ctx_create), VIRTIO_GPU_F_VIRGL, cmd_ctx_create),
	CMD3D(CTX_DESTROY, sizeof(struct virtio_gpu_ctx_destroy), VIRTIO_GPU_F_VIRGL,
	      cmd_ctx_destroy),
	CMD3D(CTX_ATTACH_RESOURCE, sizeof(struct virtio_gpu_ctx_resource), VIRTIO_GPU_F_VIRGL,
	      cmd_ctx_attach),
	CMD3D(CTX_DETACH_RESOURCE, sizeof(struct virtio_gpu_ctx_resource), VIRTIO_GPU_F_VIRGL,
	      cmd_ctx_detach),
	CMD3D(RESOURCE_CREATE_3D, sizeof(struct virtio_gpu_resource_create_3d), VIRTIO_GPU_F_VIRGL,
	      cmd_resource_create_3d),
	CMD3D(TRANSFER_TO_HOST_3D, sizeof(struct virtio_gpu_transfer_host_3d), VIRTIO_GPU_F_VIRGL,
	      cmd_transfer_to_host_3d),
	CMD3D(TRANSFER_FROM_HOST_3D, sizeof(struct virtio_gpu_transfer_host_3d), VIRTIO_GPU_F_VIRGL,
	      cmd_transfer_from_host_3d),
	CMD3D(SUBMIT_3D, sizeof(struct virtio_gpu_cmd_submit), VIRTIO_GPU_F_VIRGL, cmd_submit_3d),
	CMD3D(RESOURCE_MAP_BLOB, sizeof(struct virtio_gpu_resource_map_blob),
	      VIRTIO_GPU_F_RESOURCE_BLOB, cmd_map_blob),
	CMD3D(RESOURCE_UNMAP_BLOB, sizeof(struct virtio_gpu_resource_unmap_blob),
	      VIRTIO_GPU_F_RESOURCE_BLOB, cmd_unmap_blob),
};

static const struct cmd_desc *
find_cmd(uint32_t type)
{
	const struct cmd_desc *d = NULL;

	if (type >= VIRTIO_GPU_CMD_GET_DISPLAY_INFO &&
	    type - VIRTIO_GPU_CMD_GET_DISPLAY_INFO < ARRAY_SIZE(cmds_2d))
		d = &cmds_2d[type - VIRTIO_GPU_CMD_GET_DISPLAY_INFO];
	else if (type >= VIRTIO_GPU_CMD_CTX_CREATE &&
		 type - VIRTIO_GPU_CMD_CTX_CREATE < ARRAY_SIZE(cmds_3d))
		d = &cmds_3d[type - VIRTIO_GPU_CMD_CTX_CREATE];
	return d && d->name ? d : NULL;
}

static uint32_t
dispatch(struct kr_gpu *gpu, struct cmd *c)
{
	uint32_t type = le32toh(c->req.hdr.type);
	const struct cmd_desc *d = find_cmd(type);

	if (c->in_len < HDR)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	if (!d) {
		log_bug_guest(&gpu->log, "unknown command 0x%x", type);
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	if (c->in_len < d->size) {
		log_bug_guest(&gpu->log, "%s: %zu bytes, needs %u", d->name, c->in_len, d->size);
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	}
	if (d->feature >= 0 && !gpu_has_feature(gpu, (unsigned)d->feature)) {
		log_bug_guest(&gpu->log, "%s: feature %d not negotiated", d->name, d->feature);
		return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
	}
	if (!d->handle)
		return VIRTIO_GPU_RESP_ERR_UNSPEC;
	if (c->ring_bad) {
		log_bug_guest(&gpu->log, "%s: fence on ring %u of context %u", d->name,
			      c->req.hdr.ring_idx, le32toh(c->req.hdr.ctx_id));
		return c->req.hdr.ring_idx >= GPU_MAX_RINGS
			       ? VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER
			       : VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID;
	}
	log_msg(&gpu->log, KR_LOG_DEBUG, "%s", d->name);
	uint32_t resp = d->handle(gpu, c);
	if (resp >= VIRTIO_GPU_RESP_ERR_UNSPEC && c->why[0])
		log_guest_debug(&gpu->log, "%s answered 0x%x: %s", d->name, resp, c->why);
	return resp;
}

int
cmd_ctrl(struct kr_gpu *gpu, const struct kr_chain *chain, size_t *resp_len)
{
	struct cmd *c;
	int ret = 0;

	if (!chain || (chain->n_in && !chain->in) || (chain->n_out && !chain->out) || !resp_len)
		return -EINVAL;
	c = calloc(1, sizeof(*c)); /* zeroes request and response buffers */
	if (!c)
		return -ENOMEM;
	c->chain = chain;
	c->in_len = iov_size(chain->in, chain->n_in);
	iov_to_buf(chain->in, chain->n_in, 0, c->req.raw, sizeof(c->req.raw));
	c->resp_len = HDR;
	const struct virtio_gpu_ctrl_hdr *q = &c->req.hdr;
	bool fenced = c->in_len >= HDR && (le32toh(q->flags) & VIRTIO_GPU_FLAG_FENCE);
	c->on_ring = fenced && (le32toh(q->flags) & VIRTIO_GPU_FLAG_INFO_RING_IDX) &&
		     gpu_has_feature(gpu, VIRTIO_GPU_F_CONTEXT_INIT);
	c->ring_bad = c->on_ring &&
		      (q->ring_idx >= GPU_MAX_RINGS || !gpu_ctx_exists(gpu, le32toh(q->ctx_id)));

	uint32_t type = dispatch(gpu, c);
	gpu->n_commands++;
	if (type >= VIRTIO_GPU_RESP_ERR_UNSPEC) {
		gpu->n_errors++;
		free(c->resp_dyn);
		c->resp_dyn = NULL;
		c->resp_len = HDR;
		memset(&c->resp, 0, sizeof(c->resp));
	}
	uint8_t *resp = c->resp_dyn ? c->resp_dyn : (uint8_t *)&c->resp;
	struct virtio_gpu_ctrl_hdr h = {.type = htole32(type)};
	bool on_ring = c->on_ring;
	if (fenced) {
		h.flags = htole32(VIRTIO_GPU_FLAG_FENCE |
				  (on_ring ? VIRTIO_GPU_FLAG_INFO_RING_IDX : 0));
		h.fence_id = q->fence_id;
		h.ctx_id = q->ctx_id;
		h.ring_idx = on_ring ? q->ring_idx : 0;
	}
	memcpy(resp, &h, sizeof(h));
	/* Written now, even when completion waits: the chain is not ours after
	   this call returns. */
	size_t n = iov_from_buf(chain->out, chain->n_out, 0, resp, c->resp_len);
	if (fenced && !c->ring_bad && renderer_fences_async(gpu->renderer) &&
	    fence_defer(gpu, chain, n, &h, on_ring)) {
		ret = -EINPROGRESS;
		*resp_len = 0;
		goto out;
	}
	*resp_len = n;
	if (fenced && gpu->cb.fence_done)
		gpu->cb.fence_done(gpu->user, le64toh(h.fence_id), le32toh(h.ctx_id), h.ring_idx);
out:
	free(c->resp_dyn);
	free(c);
	return ret;
}

int
cmd_cursor(struct kr_gpu *gpu, const struct kr_chain *chain)
{
	struct virtio_gpu_update_cursor q = {0};

	if (!chain || (chain->n_in && !chain->in))
		return -EINVAL;
	size_t len = iov_to_buf(chain->in, chain->n_in, 0, &q, sizeof(q));
	uint32_t type = le32toh(q.hdr.type);
	gpu->n_commands++;
	if (len < sizeof(q) ||
	    (type != VIRTIO_GPU_CMD_UPDATE_CURSOR && type != VIRTIO_GPU_CMD_MOVE_CURSOR)) {
		gpu->n_errors++;
		log_bug_guest(&gpu->log, "cursor queue: bad command 0x%x (%zu bytes)", type, len);
		return 0;
	}
	cursor_update(gpu, &q, type == VIRTIO_GPU_CMD_MOVE_CURSOR);
	return 0;
}
