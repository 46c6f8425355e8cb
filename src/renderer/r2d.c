/* SPDX-License-Identifier: MIT */
/*
 * The 2d backend: host resources are pixman images over memory we own;
 * TRANSFER_TO_HOST_2D copies from the guest backing into them.  Needs no GPU.
 */
#include <errno.h>
#include <pixman.h>
#include <stdlib.h>
#include <string.h>

#include "renderer.h"
#include "util/iov.h"
#include "util/pixfmt.h"

struct r2d {
	struct renderer base;
};

struct r2d_res {
	struct resource base;
	pixman_image_t *image; /* owned */
	uint8_t *bits;	       /* owned: the pixels the image wraps */
	uint32_t stride;
};

static struct r2d_res *
to_r2d_res(struct resource *res)
{
	return container_of(res, struct r2d_res, base);
}

static int
r2d_create(const struct renderer_init *init, struct renderer **out)
{
	struct r2d *r = calloc(1, sizeof(*r));

	(void)init;
	if (!r)
		return -ENOMEM;
	*out = &r->base;
	return 0;
}

static void
r2d_destroy(struct renderer *r)
{
	free(container_of(r, struct r2d, base));
}

static void
r2d_resource_destroy(struct renderer *r, struct resource *res)
{
	struct r2d_res *rr;

	(void)r;
	if (!res)
		return;
	rr = to_r2d_res(res);
	if (rr->image)
		pixman_image_unref(rr->image);
	free(rr->bits);
	free(rr);
}

static int
r2d_resource_create_2d(struct renderer *r, const struct renderer_res_2d *a, struct resource **out)
{
	pixman_format_code_t pf = pixfmt_from_virtio(a->format);
	uint64_t stride = (uint64_t)a->width * 4;
	struct r2d_res *rr;

	/* pixman takes int sizes; the core's memory cap keeps us far below. */
	if (!pf || stride > INT32_MAX || a->height > INT32_MAX || stride * a->height > SIZE_MAX)
		return -EINVAL;
	rr = calloc(1, sizeof(*rr));
	if (!rr)
		return -ENOMEM;
	rr->base.id = a->id;
	rr->base.format = a->format;
	rr->base.width = a->width;
	rr->base.height = a->height;
	rr->stride = (uint32_t)stride;
	rr->bits = calloc(1, (size_t)(stride * a->height));
	if (!rr->bits)
		goto err;
	rr->image = pixman_image_create_bits(pf, (int)a->width, (int)a->height,
					     (uint32_t *)(void *)rr->bits, (int)stride);
	if (!rr->image)
		goto err;
	*out = &rr->base;
	return 0;
err:
	r2d_resource_destroy(r, &rr->base);
	return -ENOMEM;
}

static int
r2d_transfer_to_host_2d(struct renderer *r, struct resource *res, const struct kr_rect *rect,
			uint64_t offset)
{
	struct r2d_res *rr = to_r2d_res(res);
	const struct backing *b = res->backing;
	struct iov_cursor cur;
	uint64_t src_stride = (uint64_t)res->width * 4;
	size_t row = (size_t)rect->width * 4;
	uint8_t *dst = rr->bits + (size_t)rect->y * rr->stride + (size_t)rect->x * 4;

	(void)r;
	iov_cursor_init(&cur, b->iov, b->n_iov);
	if (rect->x == 0 && rect->width == res->width) {
		/* Whole rows: one copy of contiguous bytes. */
		if (!iov_cursor_read(&cur, offset, dst, (size_t)rect->height * rr->stride))
			return -EFAULT;
		return 0;
	}
	for (uint32_t y = 0; y < rect->height; y++) {
		if (!iov_cursor_read(&cur, offset + y * src_stride, dst, row))
			return -EFAULT;
		dst += rr->stride;
	}
	return 0;
}

/* GUEST blobs only: their pixels stay in guest memory (the core shows them
   through SET_SCANOUT_BLOB). */
static int
r2d_resource_create_blob(struct renderer *r, const struct renderer_blob *a, struct resource **out)
{
	struct r2d_res *rr;

	(void)r;
	if (a->blob_mem != VIRTIO_GPU_BLOB_MEM_GUEST)
		return -EINVAL;
	rr = calloc(1, sizeof(*rr));
	if (!rr)
		return -ENOMEM;
	rr->base.id = a->id;
	*out = &rr->base;
	return 0;
}

static int
r2d_resource_pixels(struct renderer *r, struct resource *res, const struct kr_rect *fresh,
		    const uint8_t **pixels, uint32_t *stride)
{
	struct r2d_res *rr = to_r2d_res(res);

	(void)r;
	(void)fresh; /* the resource's own pixels: always current */
	*pixels = rr->bits;
	*stride = rr->stride;
	return 0;
}

const struct renderer_ops r2d_ops = {
	.name = "2d",
	.features = 1ull << VIRTIO_GPU_F_RESOURCE_BLOB,
	.create = r2d_create,
	.destroy = r2d_destroy,
	.resource_create_2d = r2d_resource_create_2d,
	.resource_destroy = r2d_resource_destroy,
	.transfer_to_host_2d = r2d_transfer_to_host_2d,
	.resource_pixels = r2d_resource_pixels,
	.resource_create_blob = r2d_resource_create_blob,
};
