/* SPDX-License-Identifier: MIT */
/*
 * kohlrabi-demo2d: plays the 2D session a guest's virtio-gpu driver plays
 * (create, attach a scattered backing, transfer, set scanout, flush, cursor)
 * against libkohlrabi over simulated guest memory, and writes what the
 * display received as a PNG.
 */
#include <errno.h>
#include <getopt.h>
#include <kohlrabi/kohlrabi.h>
#include <linux/virtio_gpu.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "display/png_sink.h"

#define GUEST_BASE 0x100000ull
#define PAGE	   4096u

struct demo {
	struct kr_gpu *gpu;
	uint8_t *ram; /* owned: simulated guest memory */
	uint64_t ram_size;
	uint64_t next;	/* bump allocator, guest physical */
	uint8_t *frame; /* owned: what the display shows */
	uint32_t width, height;
	uint8_t cursor[64 * 64 * 4];
	bool cursor_visible;
	int32_t cursor_x, cursor_y;
	unsigned updates;
};

static void
on_update(void *user, const struct kr_scanout_info *info, const struct kr_rect *r)
{
	struct demo *d = user;

	for (uint32_t y = r->y; y < r->y + r->height; y++)
		memcpy(d->frame + ((size_t)y * d->width + r->x) * 4,
		       (const uint8_t *)info->pixels + (size_t)y * info->stride + (size_t)r->x * 4,
		       (size_t)r->width * 4);
	d->updates++;
}

static void
on_cursor(void *user, const struct kr_cursor_info *c)
{
	struct demo *d = user;

	d->cursor_visible = c->visible;
	d->cursor_x = (int32_t)c->x - (int32_t)c->hot_x;
	d->cursor_y = (int32_t)c->y - (int32_t)c->hot_y;
	if (c->pixels) {
		for (int y = 0; y < 64; y++)
			memcpy(d->cursor + y * 256, (const uint8_t *)c->pixels + y * c->stride,
			       256);
	}
}

static void
on_log(void *user, enum kr_log_level level, const char *msg)
{
	(void)user;
	fprintf(stderr, "kohlrabi-demo2d: libkohlrabi %s: %s\n",
		level == KR_LOG_ERROR ? "error" : "warning", msg);
}

static int
request(struct demo *d, const void *req, size_t len)
{
	struct virtio_gpu_ctrl_hdr resp;
	struct iovec in = {(void *)req, len}, out = {&resp, sizeof(resp)};
	struct kr_chain chain = {&in, 1, &out, 1, 0};
	size_t n;
	int ret = kr_gpu_ctrl(d->gpu, &chain, &n);

	if (ret < 0)
		return ret;
	if (n < sizeof(resp) || resp.type != VIRTIO_GPU_RESP_OK_NODATA) {
		fprintf(stderr, "kohlrabi-demo2d: command 0x%x answered 0x%x\n",
			((const struct virtio_gpu_ctrl_hdr *)req)->type, resp.type);
		return -EPROTO;
	}
	return 0;
}

/* Create a resource with a backing of scattered pages, as a guest would. */
static int
create(struct demo *d, uint32_t id, uint32_t w, uint32_t h, uint64_t *gpa)
{
	struct virtio_gpu_resource_create_2d c = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
		.resource_id = id,
		.format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
		.width = w,
		.height = h,
	};
	if (id == 2)
		c.format = VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM;
	uint64_t size = (uint64_t)w * h * 4;
	uint32_t pages = (uint32_t)((size + PAGE - 1) / PAGE);
	size_t len = sizeof(struct virtio_gpu_resource_attach_backing) +
		     pages * sizeof(struct virtio_gpu_mem_entry);
	struct virtio_gpu_resource_attach_backing *a = calloc(1, len);
	struct virtio_gpu_mem_entry *e = (void *)(a + 1);
	int ret;

	if (!a)
		return -ENOMEM;
	*gpa = GUEST_BASE + d->next;
	d->next += (uint64_t)pages * PAGE;
	a->hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING;
	a->resource_id = id;
	a->nr_entries = pages;
	for (uint32_t i = 0; i < pages; i++) {
		e[i].addr = *gpa + (uint64_t)i * PAGE;
		e[i].length = PAGE;
	}
	ret = request(d, &c, sizeof(c));
	if (ret == 0)
		ret = request(d, a, len);
	free(a);
	return ret;
}

static int
transfer_flush(struct demo *d, uint32_t id, uint32_t w, uint32_t x, uint32_t y, uint32_t rw,
	       uint32_t rh, bool flush)
{
	struct virtio_gpu_transfer_to_host_2d t = {
		.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
		.r = {x, y, rw, rh},
		.offset = ((uint64_t)y * w + x) * 4,
		.resource_id = id,
	};
	struct virtio_gpu_resource_flush f = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH,
		.r = {x, y, rw, rh},
		.resource_id = id,
	};
	int ret = request(d, &t, sizeof(t));

	if (ret == 0 && flush)
		ret = request(d, &f, sizeof(f));
	return ret;
}

/* Colour bars over a grey ramp, with a frame: easy to check by eye. */
static void
draw_pattern(uint32_t *px, uint32_t w, uint32_t h)
{
	static const uint32_t bars[] = {0xffffff, 0xffff00, 0x00ffff, 0x00ff00,
					0xff00ff, 0xff0000, 0x0000ff, 0x000000};
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++) {
			uint32_t v;
			if (y < h * 2 / 3) {
				v = bars[x * 8 / w];
			} else {
				uint32_t g = x * 255 / (w - 1);
				v = g << 16 | g << 8 | g;
			}
			if (x < 4 || y < 4 || x >= w - 4 || y >= h - 4)
				v = 0xff8000;
			px[(size_t)y * w + x] = v;
		}
}

static void
draw_arrow(uint32_t *px)
{
	for (uint32_t y = 0; y < 64; y++)
		for (uint32_t x = 0; x < 64; x++) {
			bool inside = x <= y / 2 + 1 && y < 40;
			bool edge = inside && (x == 0 || x == y / 2 + 1 || y == 39);
			px[y * 64 + x] = edge ? 0xff000000 : inside ? 0xffffffff : 0;
		}
}

static void
usage(FILE *f)
{
	fprintf(f, "Usage: kohlrabi-demo2d [--width W] [--height H] OUTPUT.png\n"
		   "Plays a 2D virtio-gpu session on libkohlrabi (2d backend) over\n"
		   "simulated guest memory and writes the scanout, cursor included, as PNG.\n"
		   "  -W, --width W    mode width (default 1280)\n"
		   "  -H, --height H   mode height (default 800)\n"
		   "  -h, --help       this text\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {{"width", required_argument, NULL, 'W'},
					     {"height", required_argument, NULL, 'H'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	struct demo d = {.width = 1280, .height = 800};
	struct kr_gpu_config cfg;
	struct kr_gpu_callbacks cbs = {.version = KR_GPU_CALLBACKS_VERSION,
				       .scanout_update = on_update,
				       .cursor = on_cursor,
				       .log = on_log};
	uint64_t fb_gpa, cur_gpa;
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "W:H:h", opts, NULL)) != -1) {
		char *end;
		unsigned long v;
		switch (c) {
		case 'W':
		case 'H':
			v = strtoul(optarg, &end, 10);
			if (*end || v < 64 || v > 4096) {
				fprintf(stderr, "kohlrabi-demo2d: --%s wants 64..4096, got '%s'\n",
					c == 'W' ? "width" : "height", optarg);
				return 2;
			}
			*(c == 'W' ? &d.width : &d.height) = (uint32_t)v;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	const char *path = argv[optind];

	kr_gpu_config_init(&cfg);
	cfg.scanouts[0].width = d.width;
	cfg.scanouts[0].height = d.height;
	d.ram_size = (uint64_t)d.width * d.height * 4 + 64 * 64 * 4 + 2 * PAGE;
	d.ram = calloc(1, d.ram_size);
	d.frame = calloc((size_t)d.width * d.height, 4);
	if (!d.ram || !d.frame) {
		fprintf(stderr, "kohlrabi-demo2d: out of memory\n");
		goto out;
	}
	if (kr_gpu_create(&cfg, &cbs, &d, &d.gpu) < 0) {
		fprintf(stderr, "kohlrabi-demo2d: cannot create the device\n");
		goto out;
	}
	struct kr_mem_region region = {GUEST_BASE, d.ram_size, d.ram};
	if (kr_gpu_set_memory(d.gpu, &region, 1) < 0)
		goto out;

	/* The guest driver's session. */
	if (create(&d, 1, d.width, d.height, &fb_gpa) < 0)
		goto out;
	draw_pattern((uint32_t *)(void *)(d.ram + (fb_gpa - GUEST_BASE)), d.width, d.height);
	struct virtio_gpu_set_scanout s = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT,
		.r = {0, 0, d.width, d.height},
		.resource_id = 1,
	};
	if (transfer_flush(&d, 1, d.width, 0, 0, d.width, d.height, false) < 0 ||
	    request(&d, &s, sizeof(s)) < 0 ||
	    transfer_flush(&d, 1, d.width, 0, 0, d.width, d.height, true) < 0)
		goto out;
	/* A damaged rectangle, as a blinking text cursor would make. */
	uint32_t *fb = (uint32_t *)(void *)(d.ram + (fb_gpa - GUEST_BASE));
	uint32_t bx = d.width / 2 - 40, by = d.height * 5 / 6 - 20;
	for (uint32_t y = by; y < by + 40; y++)
		for (uint32_t x = bx; x < bx + 80; x++)
			fb[(size_t)y * d.width + x] = 0x2060c0;
	if (transfer_flush(&d, 1, d.width, bx, by, 80, 40, true) < 0)
		goto out;
	if (create(&d, 2, 64, 64, &cur_gpa) < 0)
		goto out;
	draw_arrow((uint32_t *)(void *)(d.ram + (cur_gpa - GUEST_BASE)));
	if (transfer_flush(&d, 2, 64, 0, 0, 64, 64, false) < 0)
		goto out;
	struct virtio_gpu_update_cursor uc = {
		.hdr.type = VIRTIO_GPU_CMD_UPDATE_CURSOR,
		.pos = {0, d.width / 3, d.height / 3, 0},
		.resource_id = 2,
	};
	struct iovec in = {&uc, sizeof(uc)};
	struct kr_chain chain = {&in, 1, NULL, 0, 0};
	size_t n;
	if (kr_gpu_cursor(d.gpu, &chain, &n) < 0)
		goto out;

	struct png_frame frame = {d.frame, d.width, d.height, d.width * 4,
				  VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM};
	struct png_frame cursor = {d.cursor, 64, 64, 256, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM};
	int err = png_write_frame(path, &frame, d.cursor_visible ? &cursor : NULL, d.cursor_x,
				  d.cursor_y);
	if (err < 0) {
		fprintf(stderr, "kohlrabi-demo2d: %s: %s\n", path, strerror(-err));
		goto out;
	}
	struct kr_gpu_stats st;
	kr_gpu_get_stats(d.gpu, &st);
	printf("kohlrabi-demo2d: %llu commands, %llu errors, %u display updates, %ux%u -> %s\n",
	       (unsigned long long)st.commands, (unsigned long long)st.errors, d.updates, d.width,
	       d.height, path);
	ret = 0;
out:
	kr_gpu_destroy(d.gpu);
	free(d.ram);
	free(d.frame);
	return ret;
}
