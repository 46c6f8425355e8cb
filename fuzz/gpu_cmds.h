/* SPDX-License-Identifier: MIT */
/*
 * Shared by the fuzz targets that speak the control queue (fuzz_ctrl.c,
 * fuzz_daemon.c): the shape of every command, building one from the
 * fuzzer's bytes, and the well-formed recipes random bytes rarely spell.
 * Guest physical addresses come from the target (its memory layout).
 */
#ifndef KR_FUZZ_GPU_CMDS_H
#define KR_FUZZ_GPU_CMDS_H

#include <linux/virtio_gpu.h>

#include "fuzz.h"

#define MAX_ENTRIES 24

/* Where a target's guest memory is: a backing entry's address. */
typedef uint64_t (*fz_gpa_fn)(struct fz *f);

/* A resource id: mostly one of the few a program uses. */
static inline uint32_t
fz_rid(struct fz *f)
{
	uint8_t sel = fz_u8(f);

	return sel < 224 ? sel % 5 : fz_val32(f);
}

static inline uint32_t
fz_format(struct fz *f)
{
	static const uint32_t fmts[] = {
		VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
		VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM, VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM,
		VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM,
		VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM, VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM};
	uint8_t sel = fz_u8(f);

	return sel < 224 ? fmts[sel % 8] : fz_val32(f);
}

/* A size or coordinate: small mostly, so that resources fit the caps. */
static inline uint32_t
fz_small(struct fz *f)
{
	uint8_t sel = fz_u8(f);

	if (sel < 128)
		return fz_u8(f);
	if (sel < 200)
		return fz_u16(f) % 1024;
	return fz_val32(f);
}

/*
 * Word kinds of each command's body (after the header), one letter per 32-bit
 * word: i resource id, f format, s small number, v any value, k scanout or
 * index, z padding (usually 0), o window offset (usually whole pages), b
 * blob size (usually 1..64 pages, the high word being a z), e
 * "entries follow" (the count), d "data follows" (SUBMIT_3D size).
 */
struct cmd_shape {
	uint32_t type;
	const char *words;
	uint32_t ok; /* the response type on success */
	size_t ok_size;
};

static const struct cmd_shape shapes[] = {
	{VIRTIO_GPU_CMD_GET_DISPLAY_INFO, "", VIRTIO_GPU_RESP_OK_DISPLAY_INFO,
	 sizeof(struct virtio_gpu_resp_display_info)},
	{VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, "ifss", VIRTIO_GPU_RESP_OK_NODATA, 24},
	{VIRTIO_GPU_CMD_RESOURCE_UNREF, "iz", VIRTIO_GPU_RESP_OK_NODATA, 24},
	{VIRTIO_GPU_CMD_SET_SCANOUT, "sssski", VIRTIO_GPU_RESP_OK_NODATA, 24},
	{VIRTIO_GPU_CMD_RESOURCE_FLUSH, "ssssiz", VIRTIO_GPU_RESP_OK_NODATA, 24},
	{VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D, "sssssziz", VIRTIO_GPU_RESP_OK_NODATA, 24},
	{VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, "ie", VIRTIO_GPU_RESP_OK_NODATA, 24},
	{VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, "iz", VIRTIO_GPU_RESP_OK_NODATA, 24},
	{VIRTIO_GPU_CMD_GET_CAPSET_INFO, "kz", VIRTIO_GPU_RESP_OK_CAPSET_INFO,
	 sizeof(struct virtio_gpu_resp_capset_info)},
	{VIRTIO_GPU_CMD_GET_CAPSET, "kk", VIRTIO_GPU_RESP_OK_CAPSET, 0},
	{VIRTIO_GPU_CMD_GET_EDID, "kz", VIRTIO_GPU_RESP_OK_EDID,
	 sizeof(struct virtio_gpu_resp_edid)},
	{VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID, "iz", VIRTIO_GPU_RESP_OK_RESOURCE_UUID,
	 sizeof(struct virtio_gpu_resp_resource_uuid)},
	/* resource_id, blob_mem, blob_flags, nr_entries, blob_id (2), size (2) */
	{VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB, "ikkevvbz", VIRTIO_GPU_RESP_OK_NODATA, 24},
	/* r (4), scanout_id, resource_id, width, height, format, padding,
	   strides[4], offsets[4] */
	{VIRTIO_GPU_CMD_SET_SCANOUT_BLOB, "sssskissfzsvvvsvvv", VIRTIO_GPU_RESP_OK_NODATA, 24},
	{VIRTIO_GPU_CMD_CTX_CREATE, "skvvvvvvvvvvvvvvvv", VIRTIO_GPU_RESP_OK_NODATA, 24},
	{VIRTIO_GPU_CMD_CTX_DESTROY, "", VIRTIO_GPU_RESP_OK_NODATA, 24},
	{VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE, "iz", VIRTIO_GPU_RESP_OK_NODATA, 24},
	{VIRTIO_GPU_CMD_CTX_DETACH_RESOURCE, "iz", VIRTIO_GPU_RESP_OK_NODATA, 24},
	{VIRTIO_GPU_CMD_RESOURCE_CREATE_3D, "ikfvsssssssz", VIRTIO_GPU_RESP_OK_NODATA, 24},
	{VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D, "sssssssvisss", VIRTIO_GPU_RESP_OK_NODATA, 24},
	{VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D, "sssssssvisss", VIRTIO_GPU_RESP_OK_NODATA, 24},
	{VIRTIO_GPU_CMD_SUBMIT_3D, "dz", VIRTIO_GPU_RESP_OK_NODATA, 24},
	{VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB, "izoz", VIRTIO_GPU_RESP_OK_MAP_INFO,
	 sizeof(struct virtio_gpu_resp_map_info)},
	{VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB, "iz", VIRTIO_GPU_RESP_OK_NODATA, 24},
	{0, "vvvvvvvv", 0, 0}, /* any type at all */
};
#define N_SHAPES (sizeof(shapes) / sizeof(shapes[0]))

#define REQ_MAX (sizeof(struct virtio_gpu_ctrl_hdr) + 96 + MAX_ENTRIES * 16 + 512)

/* Build one request into req; returns its length. */
static inline size_t
build_request(struct fz *f, const struct cmd_shape *sh, uint8_t *req, fz_gpa_fn gpa_of)
{
	struct virtio_gpu_ctrl_hdr *h = (struct virtio_gpu_ctrl_hdr *)req;
	uint32_t *w = (uint32_t *)(req + sizeof(*h));
	size_t len = sizeof(*h);
	uint32_t entries = 0, data = 0;
	uint8_t hflags = fz_u8(f);

	memset(req, 0, REQ_MAX);
	h->type = sh->type ? sh->type : fz_val32(f);
	h->flags = (hflags & 1 ? VIRTIO_GPU_FLAG_FENCE : 0) |
		   (hflags & 2 ? VIRTIO_GPU_FLAG_INFO_RING_IDX : 0) |
		   (hflags & 4 ? fz_val32(f) : 0);
	h->fence_id = hflags & 1 ? fz_val64(f) : 0;
	h->ctx_id = hflags & 8 ? fz_val32(f) : fz_u8(f) % 3;
	h->ring_idx = hflags & 2 ? (uint8_t)fz_val32(f) : 0;
	for (const char *c = sh->words; *c; c++, w++, len += 4) {
		switch (*c) {
		case 'i': *w = fz_rid(f); break;
		case 'f': *w = fz_format(f); break;
		case 's': *w = fz_small(f); break;
		case 'k': *w = fz_u8(f) < 200 ? fz_u8(f) % 5 : fz_val32(f); break;
		case 'z': *w = fz_u8(f) < 240 ? 0 : fz_val32(f); break;
		case 'o': *w = fz_u8(f) < 200 ? (fz_u8(f) % 300u) * 4096u : fz_val32(f); break;
		case 'b':
			*w = fz_u8(f) < 200 ? (fz_u8(f) % 64u + 1) * 4096u - fz_u8(f) % 2u
					    : fz_val32(f);
			break;
		case 'e':
			*w = fz_u8(f) < 200 ? fz_u8(f) % 5 : fz_val32(f);
			entries = *w < MAX_ENTRIES ? *w : fz_below(f, MAX_ENTRIES);
			break;
		case 'd':
			*w = fz_val32(f);
			data = *w <= 512 ? *w : fz_below(f, 513);
			break;
		default: *w = fz_val32(f); break;
		}
	}
	for (uint32_t i = 0; i < entries; i++, len += 16) {
		struct virtio_gpu_mem_entry *e = (struct virtio_gpu_mem_entry *)(req + len);
		uint8_t sel = fz_u8(f);

		e->addr = gpa_of(f);
		e->length = sel < 200 ? (fz_u8(f) % 65 + 1) * 4096u - (sel & 1) : fz_val32(f);
		e->padding = 0;
	}
	for (uint32_t i = 0; i < data; i++)
		req[len++] = fz_u8(f);
	return len;
}

static inline const struct cmd_shape *
shape_of(uint32_t type)
{
	for (size_t i = 0; i < N_SHAPES; i++)
		if (shapes[i].type == type)
			return &shapes[i];
	return &shapes[N_SHAPES - 1];
}

/* Hands one built request to the target. */
typedef void (*fz_deliver_fn)(void *target, const struct cmd_shape *sh, const uint8_t *req,
			      size_t len);

/*
 * A well-formed step that random bytes rarely spell: a context, a mappable
 * host blob, its mapping, a guest blob (at blob_gpa, up to 255 pages on)
 * shown on a scanout.  The fuzzer then mutates around the states they reach.
 */

static inline void
fz_recipe(struct fz *f, uint64_t blob_gpa, fz_deliver_fn deliver, void *target)
{
	uint32_t id = 1 + fz_u8(f) % 4, ctx = 1 + fz_u8(f) % 2;
	uint32_t pages = 1 + fz_u8(f) % 16;
	union {
		struct virtio_gpu_ctx_create cc;
		struct virtio_gpu_resource_map_blob map;
		struct virtio_gpu_set_scanout_blob sb;
		struct {
			struct virtio_gpu_resource_create_blob b;
			struct virtio_gpu_mem_entry e;
		} blob;
	} r;

	memset(&r, 0, sizeof(r));
	switch (fz_u8(f) % 4) {
	case 0:
		r.cc.hdr = (struct virtio_gpu_ctrl_hdr){.type = VIRTIO_GPU_CMD_CTX_CREATE,
							.ctx_id = ctx};
		r.cc.context_init = fz_u8(f) & 1 ? 3 : 0;
		deliver(target, shape_of(r.cc.hdr.type), (uint8_t *)&r, sizeof(r.cc));
		break;
	case 1:
		r.blob.b.hdr = (struct virtio_gpu_ctrl_hdr){
			.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB, .ctx_id = ctx};
		r.blob.b.resource_id = id;
		r.blob.b.blob_mem = VIRTIO_GPU_BLOB_MEM_HOST3D;
		r.blob.b.blob_flags = VIRTIO_GPU_BLOB_FLAG_USE_MAPPABLE;
		r.blob.b.blob_id = fz_u8(f);
		r.blob.b.size = pages * 4096ull;
		deliver(target, shape_of(r.blob.b.hdr.type), (uint8_t *)&r, sizeof(r.blob.b));
		break;
	case 2:
		r.map.hdr.type = VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB;
		r.map.resource_id = id;
		r.map.offset = (fz_u8(f) % 260) * 4096ull;
		deliver(target, shape_of(r.map.hdr.type), (uint8_t *)&r, sizeof(r.map));
		break;
	default: {
		uint32_t w = 1 + fz_u8(f) % 64, h = 1 + fz_u8(f) % 64,
			 stride = w * 4 + fz_u8(f) % 8;
		r.blob.b.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB;
		r.blob.b.resource_id = id;
		r.blob.b.blob_mem = VIRTIO_GPU_BLOB_MEM_GUEST;
		r.blob.b.nr_entries = 1;
		r.blob.b.size = (uint64_t)stride * h;
		r.blob.e = (struct virtio_gpu_mem_entry){blob_gpa + fz_u8(f) * 4096ull,
							 (uint32_t)r.blob.b.size, 0};
		deliver(target, shape_of(r.blob.b.hdr.type), (uint8_t *)&r, sizeof(r.blob));
		memset(&r, 0, sizeof(r));
		r.sb.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT_BLOB;
		r.sb.scanout_id = fz_u8(f) % 2;
		r.sb.resource_id = id;
		r.sb.width = w;
		r.sb.height = h;
		r.sb.format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM;
		r.sb.strides[0] = stride;
		r.sb.r = (struct virtio_gpu_rect){0, 0, w - fz_u8(f) % w, h};
		deliver(target, shape_of(r.sb.hdr.type), (uint8_t *)&r, sizeof(r.sb));
		break;
	}
	}
}

#endif
