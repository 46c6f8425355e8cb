/* SPDX-License-Identifier: MIT */
/* Control-queue protocol: every validation case answers the exact response. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define OK	  VIRTIO_GPU_RESP_OK_NODATA
#define E_UNSPEC  VIRTIO_GPU_RESP_ERR_UNSPEC
#define E_OOM	  VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY
#define E_SCANOUT VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID
#define E_RES	  VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID
#define E_PARAM	  VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER
#define FMT	  VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM

/*
 * The test binary links with --wrap=malloc,--wrap=calloc so that a test can
 * see the largest allocation a command makes: sizes chosen by the guest must
 * be bounded before anything is allocated with them.
 */
void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
static size_t biggest_alloc;

void *
__wrap_malloc(size_t size)
{
	if (size > biggest_alloc)
		biggest_alloc = size;
	return __real_malloc(size);
}

void *
__wrap_calloc(size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total))
		total = SIZE_MAX;
	if (total > biggest_alloc)
		biggest_alloc = total;
	return __real_calloc(n, size);
}

static int
setup(void **state)
{
	*state = h_new(NULL);
	return 0;
}

static int
teardown(void **state)
{
	h_free(*state);
	return 0;
}

static void
stats(struct harness *h, struct kr_gpu_stats *s)
{
	kr_gpu_get_stats(h->gpu, s);
}

static void
test_short_commands(void **state)
{
	struct harness *h = *state;
	static const struct {
		uint32_t type;
		size_t size;
	} cmds[] = {
		{VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, sizeof(struct virtio_gpu_resource_create_2d)},
		{VIRTIO_GPU_CMD_RESOURCE_UNREF, sizeof(struct virtio_gpu_resource_unref)},
		{VIRTIO_GPU_CMD_SET_SCANOUT, sizeof(struct virtio_gpu_set_scanout)},
		{VIRTIO_GPU_CMD_RESOURCE_FLUSH, sizeof(struct virtio_gpu_resource_flush)},
		{VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D, sizeof(struct virtio_gpu_transfer_to_host_2d)},
		{VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
		 sizeof(struct virtio_gpu_resource_attach_backing)},
		{VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING,
		 sizeof(struct virtio_gpu_resource_detach_backing)},
		{VIRTIO_GPU_CMD_GET_CAPSET_INFO, sizeof(struct virtio_gpu_get_capset_info)},
		{VIRTIO_GPU_CMD_GET_CAPSET, sizeof(struct virtio_gpu_get_capset)},
		{VIRTIO_GPU_CMD_GET_EDID, sizeof(struct virtio_gpu_cmd_get_edid)},
		{VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID,
		 sizeof(struct virtio_gpu_resource_assign_uuid)},
	};
	uint8_t buf[128];

	/* A resource exists so that a truncated id field could name it. */
	assert_int_equal(h_create_2d(h, 1, FMT, 64, 64), OK);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		memset(buf, 0, sizeof(buf));
		struct virtio_gpu_ctrl_hdr hdr = h_hdr(cmds[i].type);
		memcpy(buf, &hdr, sizeof(hdr));
		buf[24] = 1; /* resource/scanout fields point at something real */
		for (size_t len = 0; len < cmds[i].size; len++)
			assert_int_equal(h_cmd(h, buf, len), E_UNSPEC);
	}
	/* A header alone is enough for GET_DISPLAY_INFO; 23 bytes are not. */
	struct virtio_gpu_ctrl_hdr hdr = h_hdr(VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
	assert_int_equal(h_cmd(h, &hdr, sizeof(hdr) - 1), E_UNSPEC);
	uint8_t resp[512];
	assert_int_equal(h_send(h, &hdr, sizeof(hdr), resp, sizeof(resp), NULL),
			 VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
}

static void
test_unknown_commands(void **state)
{
	struct harness *h = *state;
	static const uint32_t types[] = {0,	 0x00ff, 0x010f, 0x0110, 0x020a,
					 0x020b, 0x0300, 0x0301, 0x1100, 0xffffffff};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		uint8_t req[128] = {0};
		memcpy(req, &types[i], 4);
		assert_int_equal(h_cmd(h, req, sizeof(req)), E_UNSPEC);
	}
	/* The guest cannot flood the log: at most a burst of messages gets out. */
	unsigned before = h->n_logs;
	for (int i = 0; i < 1000; i++) {
		uint32_t t = 0xdead;
		uint8_t req[24] = {0};
		memcpy(req, &t, 4);
		h_cmd(h, req, sizeof(req));
	}
	assert_true(h->n_logs - before <= 10);
}

static void
test_resource_ids(void **state)
{
	struct harness *h = *state;

	assert_int_equal(h_create_2d(h, 0, FMT, 16, 16), E_RES);
	assert_int_equal(h_create_2d(h, 7, FMT, 16, 16), OK);
	assert_int_equal(h_create_2d(h, 7, FMT, 16, 16), E_RES);
	assert_int_equal(h_create_2d(h, 7, FMT, 32, 32), E_RES);
	assert_int_equal(h_unref(h, 0), E_RES);
	assert_int_equal(h_unref(h, 8), E_RES);
	assert_int_equal(h_detach(h, 8), E_RES);
	assert_int_equal(h_transfer(h, 8, 0, 0, 1, 1, 0), E_RES);
	assert_int_equal(h_flush(h, 8, 0, 0, 1, 1), E_RES);
	assert_int_equal(h_set_scanout(h, 0, 8, 0, 0, 1, 1), E_RES);
	uint64_t gpa = H_GPA_A;
	uint32_t len = 4096;
	assert_int_equal(h_attach(h, 8, &gpa, &len, 1), E_RES);
	assert_int_equal(h_attach(h, 0, &gpa, &len, 1), E_RES);
	struct virtio_gpu_resource_assign_uuid u = {
		.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID), .resource_id = 8};
	assert_int_equal(h_cmd(h, &u, sizeof(u)), E_RES);
	assert_int_equal(h_unref(h, 7), OK);
	assert_int_equal(h_unref(h, 7), E_RES);
	/* The id is free again. */
	assert_int_equal(h_create_2d(h, 7, FMT, 16, 16), OK);
	/* The largest id works like any other. */
	assert_int_equal(h_create_2d(h, 0xffffffff, FMT, 16, 16), OK);
	assert_int_equal(h_unref(h, 0xffffffff), OK);
}

static void
test_formats_and_sizes(void **state)
{
	struct harness *h = *state;
	static const uint32_t good[] = {1, 2, 3, 4, 67, 68, 121, 134};
	static const uint32_t bad[] = {0, 5, 66, 69, 120, 122, 133, 135, 0xffffffff};
	uint32_t id = 100;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(h_create_2d(h, id++, good[i], 3, 5), OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(h_create_2d(h, id++, bad[i], 3, 5), E_PARAM);
	assert_int_equal(h_create_2d(h, id++, FMT, 0, 5), E_PARAM);
	assert_int_equal(h_create_2d(h, id++, FMT, 5, 0), E_PARAM);
	assert_int_equal(h_create_2d(h, id++, FMT, 0, 0), E_PARAM);
	/* 2^32-1 squared times 4 bytes overflows 64 bits. */
	assert_int_equal(h_create_2d(h, id++, FMT, 0xffffffff, 0xffffffff), E_OOM);
	/* Sizes whose 32-bit product would wrap to something small. */
	assert_int_equal(h_create_2d(h, id++, FMT, 0x10000, 0x10000), E_OOM);
	assert_int_equal(h_create_2d(h, id++, FMT, 0x40000000, 4), E_OOM);
	struct kr_gpu_stats s;
	stats(h, &s);
	assert_int_equal(s.resources, 8);
	assert_int_equal(s.hostmem_used, 8 * 3 * 5 * 4);
}

static void
test_hostmem_cap(void **state)
{
	struct kr_gpu_config cfg;
	struct kr_gpu_stats s;

	(void)state;
	kr_gpu_config_init(&cfg);
	cfg.max_hostmem = 1 << 20;
	struct harness *h = h_new(&cfg);
	assert_int_equal(h_create_2d(h, 1, FMT, 256, 512), OK); /* 512 KiB */
	assert_int_equal(h_create_2d(h, 2, FMT, 256, 512), OK); /* the cap exactly */
	assert_int_equal(h_create_2d(h, 3, FMT, 1, 1), E_OOM);
	stats(h, &s);
	assert_int_equal(s.hostmem_used, 1 << 20);
	assert_int_equal(h_unref(h, 1), OK);
	assert_int_equal(h_create_2d(h, 3, FMT, 256, 511), OK);
	/* Backing bookkeeping counts against the cap too. */
	assert_int_equal(h_create_2d(h, 4, FMT, 1, 1), OK);
	stats(h, &s);
	uint64_t left = (1 << 20) - s.hostmem_used;
	assert_true(left < 2048);
	uint64_t gpa = h_alloc(h, 4096 * 256);
	uint64_t gpas[256];
	uint32_t lens[256];
	for (int i = 0; i < 256; i++) {
		gpas[i] = gpa + (uint64_t)i * 8192; /* not adjacent: one iovec each */
		lens[i] = 4;
	}
	assert_int_equal(h_attach(h, 4, gpas, lens, 256), E_OOM);
	stats(h, &s);
	assert_true((1 << 20) - s.hostmem_used == left);
	h_free(h);

	kr_gpu_config_init(&cfg);
	cfg.max_resources = 3;
	h = h_new(&cfg);
	for (uint32_t i = 1; i <= 3; i++)
		assert_int_equal(h_create_2d(h, i, FMT, 4, 4), OK);
	assert_int_equal(h_create_2d(h, 4, FMT, 4, 4), E_OOM);
	assert_int_equal(h_unref(h, 2), OK);
	assert_int_equal(h_create_2d(h, 4, FMT, 4, 4), OK);
	h_free(h);
}

static void
attach_raw(struct harness *h, uint32_t id, uint32_t nr, size_t entries_sent, uint32_t expect)
{
	size_t len = sizeof(struct virtio_gpu_resource_attach_backing) +
		     entries_sent * sizeof(struct virtio_gpu_mem_entry);
	uint8_t *buf = calloc(1, len);
	struct virtio_gpu_resource_attach_backing a = {
		.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING),
		.resource_id = id,
		.nr_entries = nr,
	};

	assert_non_null(buf);
	memcpy(buf, &a, sizeof(a));
	for (size_t i = 0; i < entries_sent; i++) {
		struct virtio_gpu_mem_entry e = {.addr = H_GPA_A + (i % 1024) * 4096,
						 .length = 4096};
		memcpy(buf + sizeof(a) + i * sizeof(e), &e, sizeof(e));
	}
	biggest_alloc = 0;
	assert_int_equal(h_cmd(h, buf, len), expect);
	/* A refused nr_entries allocated nothing of its size (the command
	   itself needs about 2 KiB). */
	if (expect != VIRTIO_GPU_RESP_OK_NODATA)
		assert_true(biggest_alloc < 4096);
	free(buf);
}

static void
test_attach_backing(void **state)
{
	struct harness *h = *state;
	struct kr_gpu_stats s0, s1;

	assert_int_equal(h_create_2d(h, 1, FMT, 64, 64), OK);
	stats(h, &s0);
	/* nr_entries bounds, checked before any allocation sized by them. */
	attach_raw(h, 1, 16385, 16385, E_UNSPEC);
	attach_raw(h, 1, 0xffffffff, 4, E_UNSPEC);
	attach_raw(h, 1, 0x10000000, 1, E_UNSPEC); /* * 16 wraps 32 bits */
	attach_raw(h, 1, 5, 4, E_UNSPEC);	   /* more than the request holds */
	attach_raw(h, 1, 16384, 300, E_UNSPEC);
	attach_raw(h, 1, 0, 0, E_UNSPEC);
	stats(h, &s1);
	assert_int_equal(s0.hostmem_used, s1.hostmem_used);

	/* Bad entries: nothing is attached (a good attach then works). */
	uint64_t gpas[3] = {H_GPA_A, H_GPA_A + 8192, 0};
	uint32_t lens[3] = {4096, 4096, 4096};
	lens[1] = 0;
	assert_int_equal(h_attach(h, 1, gpas, lens, 2), E_UNSPEC);
	lens[1] = 4096;
	gpas[1] = 0xfffffffffffff000ull; /* wraps */
	lens[1] = 0x2000;
	assert_int_equal(h_attach(h, 1, gpas, lens, 2), E_UNSPEC);
	gpas[1] = 0; /* below guest memory */
	lens[1] = 4096;
	assert_int_equal(h_attach(h, 1, gpas, lens, 2), E_UNSPEC);
	gpas[1] = H_GPA_B + H_SIZE_B; /* in the hole */
	assert_int_equal(h_attach(h, 1, gpas, lens, 2), E_UNSPEC);
	gpas[1] = H_GPA_C + H_SIZE_C - 100; /* runs off the end of a region */
	lens[1] = 101;
	assert_int_equal(h_attach(h, 1, gpas, lens, 2), E_UNSPEC);
	gpas[1] = 0xffffffffffffffffull;
	lens[1] = 1; /* the last byte of the address space: not guest memory */
	assert_int_equal(h_attach(h, 1, gpas, lens, 2), E_UNSPEC);
	assert_int_equal(h_detach(h, 1), E_UNSPEC); /* still nothing attached */
	stats(h, &s1);
	assert_int_equal(s0.hostmem_used, s1.hostmem_used);

	/* One entry spanning the two adjacent regions is fine. */
	gpas[0] = H_GPA_B - 4096;
	lens[0] = 16384;
	assert_int_equal(h_attach(h, 1, gpas, lens, 1), OK);
	/* Twice: refused, the first backing stays (and nothing leaks: ASan). */
	assert_int_equal(h_attach(h, 1, gpas, lens, 1), E_UNSPEC);
	assert_int_equal(h_transfer(h, 1, 0, 0, 64, 64, 0), OK);
	assert_int_equal(h_detach(h, 1), OK);
	assert_int_equal(h_detach(h, 1), E_UNSPEC);
	stats(h, &s1);
	assert_int_equal(s0.hostmem_used, s1.hostmem_used);
	/* The most entries allowed. */
	attach_raw(h, 1, 16384, 16384, OK);
	assert_int_equal(h_detach(h, 1), OK);
}

static void
test_transfer_bounds(void **state)
{
	struct harness *h = *state;
	const uint32_t w = 16, hh = 8, stride = w * 4, size = stride * hh;

	assert_int_equal(h_create_2d(h, 1, FMT, w, hh), OK);
	assert_int_equal(h_transfer(h, 1, 0, 0, w, hh, 0), E_UNSPEC); /* no backing */
	/* Backing at the very end of region C: the test memory ends there, so a
	   read past the backing is an out-of-bounds read that ASan reports. */
	uint64_t gpa = H_GPA_C + H_SIZE_C - size;
	uint32_t len = size;
	assert_int_equal(h_attach(h, 1, &gpa, &len, 1), OK);
	assert_int_equal(h_transfer(h, 1, 0, 0, w, hh, 0), OK);
	assert_int_equal(h_transfer(h, 1, 0, 0, w + 1, 1, 0), E_PARAM);
	assert_int_equal(h_transfer(h, 1, 0, 0, 1, hh + 1, 0), E_PARAM);
	assert_int_equal(h_transfer(h, 1, w, 0, 1, 1, 0), E_PARAM);
	assert_int_equal(h_transfer(h, 1, 0, hh, 1, 1, 0), E_PARAM);
	assert_int_equal(h_transfer(h, 1, 0xffffffff, 0, 2, 1, 0), E_PARAM); /* x + w wraps */
	assert_int_equal(h_transfer(h, 1, 0, 0xffffffff, 1, 2, 0), E_PARAM);
	assert_int_equal(h_transfer(h, 1, 1, 0, 0xffffffff, 1, 0), E_PARAM);
	/* The exact bytes a rectangle reads: offset + (h-1)*stride + w*4. */
	uint32_t x = 3, y = 5, rw = 4, rh = 3;
	uint64_t need = (uint64_t)(rh - 1) * stride + rw * 4;
	assert_int_equal(h_transfer(h, 1, x, y, rw, rh, size - need), OK);
	assert_int_equal(h_transfer(h, 1, x, y, rw, rh, size - need + 1), E_PARAM);
	assert_int_equal(h_transfer(h, 1, 0, 0, w, hh, 1), E_PARAM);
	assert_int_equal(h_transfer(h, 1, 0, 0, 1, 1, size), E_PARAM);
	assert_int_equal(h_transfer(h, 1, 0, 0, 1, 1, 0xffffffffffffffffull), E_PARAM);
	assert_int_equal(h_transfer(h, 1, 0, 0, 1, 1, 0xfffffffffffffffdull), E_PARAM);
	/* Empty rectangles copy nothing and succeed. */
	assert_int_equal(h_transfer(h, 1, 0, 0, 0, 0, 0), OK);
	/* Flush rectangles. */
	assert_int_equal(h_flush(h, 1, 0, 0, w, hh), OK);
	assert_int_equal(h_flush(h, 1, 0, 0, w + 1, hh), E_PARAM);
	assert_int_equal(h_flush(h, 1, 1, 0, w, hh), E_PARAM);
	assert_int_equal(h_flush(h, 1, 0xffffffff, 0, 2, 1), E_PARAM);
	assert_int_equal(h_flush(h, 1, 0, 0xfffffff0, 1, 0x20), E_PARAM);
}

static void
test_set_scanout(void **state)
{
	struct harness *h = *state;

	assert_int_equal(h_create_2d(h, 1, FMT, 64, 32), OK);
	assert_int_equal(h_set_scanout(h, 1, 1, 0, 0, 64, 32), E_SCANOUT);
	assert_int_equal(h_set_scanout(h, 1, 0, 0, 0, 0, 0), E_SCANOUT);
	assert_int_equal(h_set_scanout(h, 16, 0, 0, 0, 0, 0), E_SCANOUT);
	assert_int_equal(h_set_scanout(h, 0xffffffff, 1, 0, 0, 64, 32), E_SCANOUT);
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0, 65, 32), E_PARAM);
	assert_int_equal(h_set_scanout(h, 0, 1, 1, 0, 64, 32), E_PARAM);
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0xffffffff, 64, 2), E_PARAM);
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0, 0, 32), E_PARAM);
	assert_int_equal(h->n_set, 0);
	assert_int_equal(h_set_scanout(h, 0, 1, 8, 4, 32, 16), OK);
	assert_int_equal(h->n_set, 1);
	assert_int_equal(h->last_set.width, 32);
	assert_int_equal(h->last_set.height, 16);
	assert_int_equal(h->last_set.format, FMT);
	assert_int_equal(h->last_set.resource_id, 1);
	assert_true(h->scanout_on[0]);
	/* Resource 0 disables. */
	assert_int_equal(h_set_scanout(h, 0, 0, 0, 0, 0, 0), OK);
	assert_false(h->scanout_on[0]);
	assert_int_equal(h->n_disable, 1);
	/* Unref while shown: released, the scanout is disabled, flushes stop. */
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0, 64, 32), OK);
	assert_true(h->scanout_on[0]);
	assert_int_equal(h_unref(h, 1), OK);
	assert_false(h->scanout_on[0]);
	assert_int_equal(h->n_disable, 2);
	assert_int_equal(h_flush(h, 1, 0, 0, 1, 1), E_RES);
	assert_int_equal(h_create_2d(h, 1, FMT, 64, 32), OK);
	unsigned upd = h->n_updates;
	assert_int_equal(h_flush(h, 1, 0, 0, 64, 32), OK); /* not on a scanout any more */
	assert_int_equal(h->n_updates, upd);
}

static void
test_cursor(void **state)
{
	struct harness *h = *state;

	assert_int_equal(h_create_2d(h, 1, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64), OK);
	assert_int_equal(h_create_2d(h, 2, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 32, 32), OK);
	assert_int_equal(h_create_2d(h, 3, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 65), OK);
	assert_int_equal(h_create_2d(h, 4, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 65, 64), OK);
	uint64_t gpa = h_attach_new(h, 1, 64 * 64 * 4);
	assert_true(gpa != 0);
	uint32_t *px = h_host(h, gpa);
	for (int i = 0; i < 64 * 64; i++)
		px[i] = 0x80000000u | (uint32_t)i;
	assert_int_equal(h_transfer(h, 1, 0, 0, 64, 64, 0), OK);

	/* Not 64x64, unknown, or a bad scanout: ignored. */
	h_cursor(h, VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 2, 10, 10, 0, 0);
	h_cursor(h, VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 3, 10, 10, 0, 0);
	h_cursor(h, VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 4, 10, 10, 0, 0);
	h_cursor(h, VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 99, 10, 10, 0, 0);
	h_cursor(h, VIRTIO_GPU_CMD_UPDATE_CURSOR, 5, 1, 10, 10, 0, 0);
	h_cursor(h, VIRTIO_GPU_CMD_MOVE_CURSOR, 5, 1, 10, 10, 0, 0);
	h_cursor(h, VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 0, 1, 10, 10, 0, 0);
	assert_int_equal(h->n_cursor, 0);

	h_cursor(h, VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 1, 100, 50, 3, 4);
	assert_int_equal(h->n_cursor, 1);
	assert_true(h->last_cursor.visible);
	assert_true(h->cursor_had_pixels);
	assert_int_equal(h->last_cursor.x, 100);
	assert_int_equal(h->last_cursor.y, 50);
	assert_int_equal(h->last_cursor.hot_x, 3);
	assert_int_equal(h->last_cursor.hot_y, 4);
	assert_int_equal(h->last_cursor.format, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM);
	assert_memory_equal(h->cursor_pixels, px, sizeof(h->cursor_pixels));

	h_cursor(h, VIRTIO_GPU_CMD_MOVE_CURSOR, 0, 0, 200, 150, 0, 0);
	assert_int_equal(h->n_cursor, 2);
	assert_true(h->last_cursor.visible);
	assert_false(h->cursor_had_pixels);
	assert_int_equal(h->last_cursor.x, 200);
	assert_int_equal(h->last_cursor.hot_x, 3); /* kept from the update */

	/* A short cursor command is ignored. */
	struct virtio_gpu_update_cursor c = {.hdr = h_hdr(VIRTIO_GPU_CMD_MOVE_CURSOR)};
	struct iovec in = {&c, sizeof(c) - 1};
	struct kr_chain chain = {&in, 1, NULL, 0, 0};
	size_t n;
	assert_int_equal(kr_gpu_cursor(h->gpu, &chain, &n), 0);
	assert_int_equal(h->n_cursor, 2);

	/* Unref of the cursor resource hides the cursor safely. */
	assert_int_equal(h_unref(h, 1), OK);
	assert_int_equal(h->n_cursor, 3);
	assert_false(h->last_cursor.visible);
	h_cursor(h, VIRTIO_GPU_CMD_MOVE_CURSOR, 0, 0, 1, 1, 0, 0);
	assert_false(h->last_cursor.visible);
	/* Resource 0 hides. */
	assert_int_equal(h_create_2d(h, 1, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64), OK);
	h_cursor(h, VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 1, 1, 1, 0, 0);
	assert_true(h->last_cursor.visible);
	h_cursor(h, VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 0, 1, 1, 0, 0);
	assert_false(h->last_cursor.visible);
}

static void
test_display_info_and_zeroing(void **state)
{
	struct kr_gpu_config cfg;
	struct virtio_gpu_resp_display_info r;
	size_t n;

	(void)state;
	kr_gpu_config_init(&cfg);
	cfg.num_scanouts = 2;
	cfg.scanouts[0] = (struct kr_scanout_config){1024, 768, true};
	cfg.scanouts[1] = (struct kr_scanout_config){640, 480, false};
	struct harness *h = h_new(&cfg);
	struct virtio_gpu_ctrl_hdr q = h_hdr(VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
	assert_int_equal(h_send(h, &q, sizeof(q), &r, sizeof(r), &n),
			 VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	assert_int_equal(n, sizeof(r));
	assert_int_equal(r.hdr.flags, 0);
	assert_int_equal(r.hdr.fence_id, 0);
	assert_int_equal(r.hdr.padding[0] | r.hdr.padding[1] | r.hdr.padding[2], 0);
	assert_int_equal(r.pmodes[0].r.width, 1024);
	assert_int_equal(r.pmodes[0].r.height, 768);
	assert_int_equal(r.pmodes[0].enabled, 1);
	assert_int_equal(r.pmodes[1].r.width, 640);
	assert_int_equal(r.pmodes[1].enabled, 0);
	/* Unused scanouts and every padding byte are zero, not left over. */
	uint8_t zero[sizeof(r.pmodes[0])] = {0};
	for (int i = 2; i < 16; i++)
		assert_memory_equal(&r.pmodes[i], zero, sizeof(zero));
	assert_int_equal(r.pmodes[0].flags, 0);

	/* Too small a writable part: what fits is written and reported. */
	uint8_t small[30];
	assert_int_equal(h_send(h, &q, sizeof(q), small, sizeof(small), &n),
			 VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	assert_int_equal(n, 30);
	assert_memory_equal(small, &r, 30);
	assert_int_equal(h_send(h, &q, sizeof(q), small, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(h_send(h, &q, sizeof(q), small, 0, &n), 0);
	assert_int_equal(n, 0);
	/* Chunked request and response give the same bytes. */
	struct virtio_gpu_resp_display_info r2;
	assert_int_equal(h_send_chunked(h, &q, sizeof(q), 1, &r2, sizeof(r2)),
			 VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	assert_memory_equal(&r, &r2, sizeof(r));
	assert_int_equal(h_send_chunked(h, &q, sizeof(q), 7, &r2, sizeof(r2)),
			 VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	assert_memory_equal(&r, &r2, sizeof(r));
	/* An error response is a header only; the rest is not touched. */
	uint8_t big[64];
	assert_int_equal(h_create_2d(h, 1, FMT, 4, 4), OK);
	struct virtio_gpu_resource_create_2d dup = {.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D),
						    .resource_id = 1,
						    .format = FMT,
						    .width = 4,
						    .height = 4};
	assert_int_equal(h_send(h, &dup, sizeof(dup), big, sizeof(big), &n), E_RES);
	assert_int_equal(n, 24);
	for (int i = 4; i < 24; i++)
		assert_int_equal(big[i], 0);
	assert_int_equal(big[24], 0xa5);
	h_free(h);
}

static void
test_capsets(void **state)
{
	struct harness *h = *state;
	struct virtio_gpu_resp_capset_info r;
	uint32_t n_caps;

	assert_int_equal(kr_gpu_config_read(h->gpu, 12, &n_caps, 4), 0);
	assert_int_equal(n_caps, 0);
	for (uint32_t idx = 0; idx < 3; idx++) {
		struct virtio_gpu_get_capset_info q = {.hdr = h_hdr(VIRTIO_GPU_CMD_GET_CAPSET_INFO),
						       .capset_index = idx};
		size_t n;
		assert_int_equal(h_send(h, &q, sizeof(q), &r, sizeof(r), &n),
				 VIRTIO_GPU_RESP_OK_CAPSET_INFO);
		assert_int_equal(n, sizeof(r));
		uint8_t zero[sizeof(r) - sizeof(r.hdr)] = {0};
		assert_memory_equal((uint8_t *)&r + sizeof(r.hdr), zero, sizeof(zero));
	}
	struct virtio_gpu_get_capset g = {.hdr = h_hdr(VIRTIO_GPU_CMD_GET_CAPSET),
					  .capset_id = VIRTIO_GPU_CAPSET_VIRGL};
	assert_int_equal(h_cmd(h, &g, sizeof(g)), E_PARAM);
	g.capset_id = 0;
	assert_int_equal(h_cmd(h, &g, sizeof(g)), E_PARAM);
}

static void
test_fence_echo(void **state)
{
	struct harness *h = *state;
	struct virtio_gpu_resource_create_2d c = {.hdr = {.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
							  .flags = VIRTIO_GPU_FLAG_FENCE,
							  .fence_id = 0x1122334455667788ull,
							  .ctx_id = 9},
						  .resource_id = 5,
						  .format = FMT,
						  .width = 8,
						  .height = 8};
	struct virtio_gpu_ctrl_hdr r;
	size_t n;

	assert_int_equal(h_send(h, &c, sizeof(c), &r, sizeof(r), &n), OK);
	assert_int_equal(r.flags, VIRTIO_GPU_FLAG_FENCE);
	assert_int_equal(r.fence_id, 0x1122334455667788ull);
	assert_int_equal(r.ctx_id, 9);
	assert_int_equal(h->n_fences, 1);
	assert_int_equal(h->fences[0], 0x1122334455667788ull);
	/* A failing fenced command still echoes fence and context. */
	c.hdr.fence_id = 0x1122334455667789ull;
	assert_int_equal(h_send(h, &c, sizeof(c), &r, sizeof(r), &n), E_RES);
	assert_int_equal(r.flags, VIRTIO_GPU_FLAG_FENCE);
	assert_int_equal(r.fence_id, 0x1122334455667789ull);
	assert_int_equal(r.ctx_id, 9);
	assert_int_equal(h->n_fences, 2);
	/* Unfenced: no fence fields even if the guest filled them. */
	c.hdr.flags = 0;
	c.resource_id = 6;
	assert_int_equal(h_send(h, &c, sizeof(c), &r, sizeof(r), &n), OK);
	assert_int_equal(r.flags, 0);
	assert_int_equal(r.fence_id, 0);
	assert_int_equal(r.ctx_id, 0);
	assert_int_equal(h->n_fences, 2);
	/* INFO_RING_IDX without CONTEXT_INIT: no ring index comes back. */
	c.hdr.flags = VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX;
	c.hdr.ring_idx = 3;
	c.resource_id = 7;
	assert_int_equal(h_send(h, &c, sizeof(c), &r, sizeof(r), &n), OK);
	assert_int_equal(r.flags, VIRTIO_GPU_FLAG_FENCE);
	assert_int_equal(r.ring_idx, 0);
	/* Fences complete in order. */
	for (uint64_t f = 100; f < 110; f++) {
		struct virtio_gpu_ctrl_hdr q = {.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO,
						.flags = VIRTIO_GPU_FLAG_FENCE,
						.fence_id = f};
		uint8_t resp[512];
		h_send(h, &q, sizeof(q), resp, sizeof(resp), NULL);
	}
	assert_int_equal(h->n_fences, 13);
	for (unsigned i = 3; i < 13; i++)
		assert_int_equal(h->fences[i], 100 + i - 3);
}

static void
test_feature_gates(void **state)
{
	struct kr_gpu_config cfg;

	(void)state;
	kr_gpu_config_init(&cfg);
	cfg.edid = false;
	struct harness *h = h_new(&cfg);
	assert_false(kr_gpu_features(h->gpu) & (1ull << VIRTIO_GPU_F_EDID));
	assert_true(kr_gpu_features(h->gpu) & (1ull << VIRTIO_GPU_F_RESOURCE_UUID));
	assert_false(kr_gpu_features(h->gpu) & (1ull << VIRTIO_GPU_F_VIRGL));
	/* 2d offers blobs (GUEST memory); the driver declines them here. */
	assert_true(kr_gpu_features(h->gpu) & (1ull << VIRTIO_GPU_F_RESOURCE_BLOB));
	assert_int_equal(kr_gpu_set_features(h->gpu, kr_gpu_features(h->gpu) &
							     ~(1ull << VIRTIO_GPU_F_RESOURCE_BLOB)),
			 0);
	struct virtio_gpu_cmd_get_edid e = {.hdr = h_hdr(VIRTIO_GPU_CMD_GET_EDID)};
	assert_int_equal(h_cmd(h, &e, sizeof(e)), E_PARAM);
	/* 3D and blob commands without their features. */
	static const uint32_t gated[] = {
		VIRTIO_GPU_CMD_CTX_CREATE,
		VIRTIO_GPU_CMD_CTX_DESTROY,
		VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE,
		VIRTIO_GPU_CMD_CTX_DETACH_RESOURCE,
		VIRTIO_GPU_CMD_RESOURCE_CREATE_3D,
		VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D,
		VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D,
		VIRTIO_GPU_CMD_SUBMIT_3D,
		VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB,
		VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB,
		VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB,
		VIRTIO_GPU_CMD_SET_SCANOUT_BLOB,
	};
	for (size_t i = 0; i < sizeof(gated) / sizeof(gated[0]); i++) {
		uint8_t req[128] = {0};
		memcpy(req, &gated[i], 4);
		assert_int_equal(h_cmd(h, req, sizeof(req)), E_PARAM);
	}
	/* UUID once the driver declined the feature. */
	assert_int_equal(h_create_2d(h, 1, FMT, 4, 4), OK);
	struct virtio_gpu_resource_assign_uuid u = {
		.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID), .resource_id = 1};
	assert_int_equal(h_send(h, &u, sizeof(u), (uint8_t[64]){0}, 64, NULL),
			 VIRTIO_GPU_RESP_OK_RESOURCE_UUID);
	assert_int_equal(kr_gpu_set_features(h->gpu, 1ull << VIRTIO_GPU_F_VIRGL), -EINVAL);
	assert_int_equal(kr_gpu_set_features(h->gpu, 0), 0);
	assert_int_equal(h_cmd(h, &u, sizeof(u)), E_PARAM);
	h_free(h);
}

static void
test_edid(void **state)
{
	struct kr_gpu_config cfg;
	struct virtio_gpu_resp_edid r;
	size_t n;

	(void)state;
	kr_gpu_config_init(&cfg);
	cfg.num_scanouts = 2;
	cfg.scanouts[1] = (struct kr_scanout_config){1920, 1080, true};
	struct harness *h = h_new(&cfg);
	struct virtio_gpu_cmd_get_edid e = {.hdr = h_hdr(VIRTIO_GPU_CMD_GET_EDID), .scanout = 1};
	assert_int_equal(h_send(h, &e, sizeof(e), &r, sizeof(r), &n), VIRTIO_GPU_RESP_OK_EDID);
	assert_int_equal(n, sizeof(r));
	assert_int_equal(r.size, 128);
	static const uint8_t magic[8] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
	assert_memory_equal(r.edid, magic, 8);
	uint8_t sum = 0;
	for (int i = 0; i < 128; i++)
		sum = (uint8_t)(sum + r.edid[i]);
	assert_int_equal(sum, 0);
	/* The preferred timing is the scanout's mode. */
	const uint8_t *d = r.edid + 54;
	assert_int_equal(d[2] | ((d[4] & 0xf0) << 4), 1920);
	assert_int_equal(d[5] | ((d[7] & 0xf0) << 4), 1080);
	for (int i = 128; i < 1024; i++)
		assert_int_equal(r.edid[i], 0);
	e.scanout = 2;
	assert_int_equal(h_cmd(h, &e, sizeof(e)), E_SCANOUT);
	e.scanout = 0xffffffff;
	assert_int_equal(h_cmd(h, &e, sizeof(e)), E_SCANOUT);
	h_free(h);
}

static void
test_uuid(void **state)
{
	struct harness *h = *state;
	struct virtio_gpu_resp_resource_uuid r1, r2, r3;
	struct virtio_gpu_resource_assign_uuid u = {
		.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID), .resource_id = 1};
	size_t n;

	assert_int_equal(h_create_2d(h, 1, FMT, 4, 4), OK);
	assert_int_equal(h_create_2d(h, 2, FMT, 4, 4), OK);
	assert_int_equal(h_send(h, &u, sizeof(u), &r1, sizeof(r1), &n),
			 VIRTIO_GPU_RESP_OK_RESOURCE_UUID);
	assert_int_equal(n, sizeof(r1));
	assert_int_equal(h_send(h, &u, sizeof(u), &r2, sizeof(r2), &n),
			 VIRTIO_GPU_RESP_OK_RESOURCE_UUID);
	assert_memory_equal(r1.uuid, r2.uuid, 16); /* stable per resource */
	u.resource_id = 2;
	assert_int_equal(h_send(h, &u, sizeof(u), &r3, sizeof(r3), &n),
			 VIRTIO_GPU_RESP_OK_RESOURCE_UUID);
	assert_memory_not_equal(r1.uuid, r3.uuid, 16);
	assert_int_equal(r1.uuid[6] >> 4, 4);
	assert_int_equal(r1.uuid[8] >> 6, 2);
}

static void
test_memory_replaced(void **state)
{
	struct harness *h = *state;

	assert_int_equal(h_create_2d(h, 1, FMT, 16, 16), OK);
	uint64_t gpa = h_attach_new(h, 1, 16 * 16 * 4);
	assert_true(gpa);
	assert_int_equal(h_transfer(h, 1, 0, 0, 16, 16, 0), OK);
	/* Only region C left: the backing is gone, transfers fail cleanly. */
	struct kr_mem_region only_c = {H_GPA_C, H_SIZE_C, h->mem_c};
	assert_int_equal(kr_gpu_set_memory(h->gpu, &only_c, 1), 0);
	assert_int_equal(h_transfer(h, 1, 0, 0, 16, 16, 0), E_UNSPEC);
	/* The memory comes back (at another host address): transfers work. */
	uint8_t *copy = malloc(H_SIZE_A);
	assert_non_null(copy);
	memcpy(copy, h->mem_a, H_SIZE_A);
	((uint32_t *)(void *)(copy + (gpa - H_GPA_A)))[0] = 0x00abcdef;
	struct kr_mem_region regions[] = {{H_GPA_A, H_SIZE_A, copy}, {H_GPA_C, H_SIZE_C, h->mem_c}};
	assert_int_equal(kr_gpu_set_memory(h->gpu, regions, 2), 0);
	assert_int_equal(h_transfer(h, 1, 0, 0, 16, 16, 0), OK);
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0, 16, 16), OK);
	uint32_t first;
	memcpy(&first, h->last_set.pixels, 4);
	assert_int_equal(first, 0x00abcdef);
	/* Bad maps are refused and the old one stays. */
	struct kr_mem_region overlap[] = {{0x1000, 0x2000, copy}, {0x2000, 0x1000, copy}};
	assert_int_equal(kr_gpu_set_memory(h->gpu, overlap, 2), -EINVAL);
	struct kr_mem_region zero = {0x1000, 0, copy};
	assert_int_equal(kr_gpu_set_memory(h->gpu, &zero, 1), -EINVAL);
	struct kr_mem_region wrap = {0xfffffffffffff000ull, 0x2000, copy};
	assert_int_equal(kr_gpu_set_memory(h->gpu, &wrap, 1), -EINVAL);
	assert_int_equal(h_transfer(h, 1, 0, 0, 16, 16, 0), OK);
	/* Put the harness memory back before freeing the copy. */
	struct kr_mem_region back[] = {{H_GPA_A, H_SIZE_A, h->mem_a},
				       {H_GPA_B, H_SIZE_B, h->mem_b},
				       {H_GPA_C, H_SIZE_C, h->mem_c}};
	assert_int_equal(kr_gpu_set_memory(h->gpu, back, 3), 0);
	free(copy);
}

static void
test_reset(void **state)
{
	struct harness *h = *state;
	struct kr_gpu_stats s;

	assert_int_equal(h_create_2d(h, 1, FMT, 64, 64), OK);
	assert_true(h_attach_new(h, 1, 64 * 64 * 4));
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0, 64, 64), OK);
	h_cursor(h, VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 1, 1, 1, 0, 0);
	kr_gpu_reset(h->gpu);
	stats(h, &s);
	assert_int_equal(s.resources, 0);
	assert_int_equal(s.hostmem_used, 0);
	assert_false(h->scanout_on[0]);
	assert_false(h->last_cursor.visible);
	/* Ids are free after reset. */
	assert_int_equal(h_create_2d(h, 1, FMT, 64, 64), OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_short_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resource_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_formats_and_sizes, setup, teardown),
		cmocka_unit_test(test_hostmem_cap),
		cmocka_unit_test_setup_teardown(test_attach_backing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transfer_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_scanout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cursor, setup, teardown),
		cmocka_unit_test(test_display_info_and_zeroing),
		cmocka_unit_test_setup_teardown(test_capsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fence_echo, setup, teardown),
		cmocka_unit_test(test_feature_gates),
		cmocka_unit_test(test_edid),
		cmocka_unit_test_setup_teardown(test_uuid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
	};
	return cmocka_run_group_tests_name("cmd", tests, NULL, NULL);
}
