/* SPDX-License-Identifier: MIT */
#include "png_sink.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/pixfmt.h"

static pixman_image_t *
wrap(const struct png_frame *f)
{
	pixman_format_code_t pf = pixfmt_from_virtio(f->format);

	if (!pf || f->stride % 4 || !f->width || !f->height)
		return NULL;
	/* pixman never writes to a source image. */
	return pixman_image_create_bits(pf, (int)f->width, (int)f->height,
					(uint32_t *)(uintptr_t)f->pixels, (int)f->stride);
}

/* libpng part, kept apart: nothing here changes after setjmp. */
static int
encode(FILE *fp, png_bytep *rows, uint32_t width, uint32_t height)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png ? png_create_info_struct(png) : NULL;

	if (!png || !info) {
		png_destroy_write_struct(&png, NULL);
		return -ENOMEM;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return -EIO;
	}
	png_init_io(png, fp);
	png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGBA, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	png_write_image(png, rows);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return 0;
}

int
png_write_frame(const char *path, const struct png_frame *frame, const struct png_frame *cursor,
		int32_t cx, int32_t cy)
{
	pixman_image_t *src = NULL, *cur = NULL, *dst = NULL;
	uint8_t **rows = NULL;
	FILE *fp = NULL;
	int ret = -EINVAL;

	src = wrap(frame);
	if (!src || (cursor && !(cur = wrap(cursor))))
		goto out;
	/* a8b8g8r8 is R, G, B, A in memory on little-endian: PNG's RGBA. */
	dst = pixman_image_create_bits(PIXMAN_a8b8g8r8, (int)frame->width, (int)frame->height, NULL,
				       0);
	rows = calloc(frame->height, sizeof(*rows));
	if (!dst || !rows) {
		ret = -ENOMEM;
		goto out;
	}
	pixman_image_composite32(PIXMAN_OP_SRC, src, NULL, dst, 0, 0, 0, 0, 0, 0, (int)frame->width,
				 (int)frame->height);
	if (cur)
		pixman_image_composite32(PIXMAN_OP_OVER, cur, NULL, dst, 0, 0, 0, 0, cx, cy,
					 (int)cursor->width, (int)cursor->height);
	uint8_t *bits = (uint8_t *)pixman_image_get_data(dst);
	int stride = pixman_image_get_stride(dst);
	for (uint32_t y = 0; y < frame->height; y++)
		rows[y] = bits + (size_t)y * (size_t)stride;

	fp = fopen(path, "wb");
	if (!fp) {
		ret = -errno;
		goto out;
	}
	ret = encode(fp, rows, frame->width, frame->height);
out:
	if (fp && fclose(fp) != 0 && ret == 0)
		ret = -errno;
	free(rows);
	if (dst)
		pixman_image_unref(dst);
	if (cur)
		pixman_image_unref(cur);
	if (src)
		pixman_image_unref(src);
	return ret;
}
