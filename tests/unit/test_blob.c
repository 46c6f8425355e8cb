/* SPDX-License-Identifier: MIT */
/*
 * Blobs in the core with the 2d backend: GUEST blobs, SET_SCANOUT_BLOB and
 * its shadow copy, and the hostile cases (blob larger than its backing,
 * host blobs without a context, mapping guest memory, bad flags).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpu.h"
#include "harness.h"

#define OK    VIRTIO_GPU_RESP_OK_NODATA
#define FMT   VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM
#define PARAM VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER

struct blob_req {
	struct virtio_gpu_resource_create_blob q;
	struct virtio_gpu_mem_entry e[4];
};

static uint32_t
create_blob(struct harness *h, uint32_t id, uint32_t mem, uint32_t flags, uint64_t size,
	    const uint64_t *gpas, const uint32_t *lens, uint32_t n)
{
	struct blob_req r = {.q = {.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB),
				   .resource_id = id,
				   .blob_mem = mem,
				   .blob_flags = flags,
				   .nr_entries = n,
				   .size = size}};
	for (uint32_t i = 0; i < n; i++)
		r.e[i] = (struct virtio_gpu_mem_entry){.addr = gpas[i], .length = lens[i]};
	return h_cmd(h, &r, sizeof(r.q) + n * sizeof(r.e[0]));
}

static uint32_t
scanout_blob(struct harness *h, uint32_t scanout, uint32_t id, uint32_t w, uint32_t hgt,
	     uint32_t stride, uint32_t offset, struct virtio_gpu_rect r)
{
	struct virtio_gpu_set_scanout_blob q = {
		.hdr = h_hdr(VIRTIO_GPU_CMD_SET_SCANOUT_BLOB),
		.r = r,
		.scanout_id = scanout,
		.resource_id = id,
		.width = w,
		.height = hgt,
		.format = FMT,
		.strides = {stride},
		.offsets = {offset},
	};
	return h_cmd(h, &q, sizeof(q));
}

/*
 * A blob scanout replaced in one batch (before the display's refresh) by
 * another blob or a 2D resource: the display holds the first shadow's
 * pixels until then, so the library must tell it (scanout_changing, with
 * the pixels it holds) before freeing them.
 */
static void
test_blob_scanout_replaced(void **state)
{
	struct harness *h = h_new(NULL);
	uint64_t gpa[2];
	uint32_t len[2];
	struct virtio_gpu_rect r = {0, 0, 256, 64};

	(void)state;
	for (uint32_t i = 0; i < 2; i++) {
		len[i] = 256 * 64 * 4;
		gpa[i] = h_alloc(h, len[i]);
		memset(h_host(h, gpa[i]), 0x40 + (int)i, len[i]);
		assert_int_equal(create_blob(h, 1 + i, VIRTIO_GPU_BLOB_MEM_GUEST, 0, len[i],
					     &gpa[i], &len[i], 1),
				 OK);
	}
	assert_int_equal(scanout_blob(h, 0, 1, 256, 64, 1024, 0, r), OK);
	assert_int_equal(scanout_blob(h, 0, 2, 256, 64, 1024, 0, r), OK);
	assert_int_equal(h->n_changing_stale, 0);
	assert_int_equal(h->held[0].resource_id, 2);
	assert_int_equal(h_create_2d(h, 3, FMT, 256, 64), OK);
	assert_int_equal(h_set_scanout(h, 0, 3, 0, 0, 256, 64), OK);
	assert_int_equal(h->n_changing_stale, 0);
	assert_int_equal(h->held[0].resource_id, 3);
	assert_int_equal(scanout_blob(h, 0, 1, 256, 64, 1024, 0, r), OK);
	assert_int_equal(h_unref(h, 1), OK);
	assert_int_equal(h->n_changing_stale, 0);
	struct kr_gpu_stats st;
	kr_gpu_get_stats(h->gpu, &st);
	assert_int_equal(st.resources, 2);
	h_free(h);
}

static void
test_guest_blob_scanout(void **state)
{
	struct harness *h = h_new(NULL);
	const uint32_t w = 64, hgt = 32, stride = 64 * 4 + 64; /* padded rows */
	uint32_t size = stride * hgt + 128, half = 4096;
	/* Two pieces of guest memory, the second far from the first. */
	uint64_t gpas[2] = {h_alloc(h, half), 0};
	h_alloc(h, 8192);
	gpas[1] = h_alloc(h, size - half);
	uint32_t lens[2] = {half, size - half};
	uint8_t *p0 = h_host(h, gpas[0]), *p1 = h_host(h, gpas[1]);

	(void)state;
	for (uint32_t i = 0; i < size; i++)
		*(i < half ? &p0[i] : &p1[i - half]) = (uint8_t)(i * 7);
	assert_int_equal(create_blob(h, 5, VIRTIO_GPU_BLOB_MEM_GUEST,
				     VIRTIO_GPU_BLOB_FLAG_USE_SHAREABLE, size, gpas, lens, 2),
			 OK);
	struct kr_gpu_stats st;
	kr_gpu_get_stats(h->gpu, &st);
	assert_int_equal(st.resources, 1);
	/* Show a 40x20 window at (8, 4) of a framebuffer starting at 128. */
	struct virtio_gpu_rect r = {.x = 8, .y = 4, .width = 40, .height = 20};
	assert_int_equal(scanout_blob(h, 0, 5, w, hgt, stride, 128, r), OK);
	assert_int_equal(h->n_set, 1);
	assert_int_equal(h->last_set.width, 40);
	assert_int_equal(h->last_set.height, 20);
	assert_int_equal(h->last_set.stride, 40 * 4);
	kr_gpu_get_stats(h->gpu, &st);
	assert_true(st.hostmem_used >= 40 * 20 * 4); /* the shadow is charged */
	/* The flush copies what the guest wrote since. */
	for (uint32_t i = 0; i < size; i++)
		*(i < half ? &p0[i] : &p1[i - half]) = (uint8_t)(i * 13 + 1);
	struct virtio_gpu_resource_flush f = {
		.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_FLUSH), .r = {0, 0, w, hgt}, .resource_id = 5};
	assert_int_equal(h_cmd(h, &f, sizeof(f)), OK);
	assert_int_equal(h->n_updates, 1);
	assert_int_equal(h->updates[0].rect.width, 40);
	assert_int_equal(h->updates[0].rect.height, 20);
	for (uint32_t y = 0; y < 20; y++) {
		for (uint32_t x = 0; x < 40 * 4; x++) {
			uint32_t i = 128 + (4 + y) * stride + 8 * 4 + x;
			assert_int_equal(h->updates[0].pixels[y * 160 + x], (uint8_t)(i * 13 + 1));
		}
	}
	/* Transfers to a blob are no-ops (it is guest memory). */
	assert_int_equal(h_transfer(h, 5, 0, 0, 4, 4, 0), OK);
	/* Unref disables the scanout and frees the shadow. */
	assert_int_equal(h_unref(h, 5), OK);
	assert_int_equal(h->n_disable, 1);
	kr_gpu_get_stats(h->gpu, &st);
	assert_int_equal(st.hostmem_used, 0);
	assert_int_equal(st.resources, 0);
	h_free(h);
}

static void
test_hostile_blobs(void **state)
{
	struct harness *h = h_new(NULL);
	uint64_t gpa = h_alloc(h, 8192);
	uint32_t len = 8192;
	const uint32_t G = VIRTIO_GPU_BLOB_MEM_GUEST;

	(void)state;
	/* Larger than its backing. */
	assert_int_equal(create_blob(h, 1, G, 0, 8193, &gpa, &len, 1), PARAM);
	/* Size 0, bad memory type, unknown flags. */
	assert_int_equal(create_blob(h, 1, G, 0, 0, &gpa, &len, 1), PARAM);
	assert_int_equal(create_blob(h, 1, 0, 0, 4096, &gpa, &len, 1), PARAM);
	assert_int_equal(create_blob(h, 1, 4, 0, 4096, &gpa, &len, 1), PARAM);
	assert_int_equal(create_blob(h, 1, G, 8, 4096, &gpa, &len, 1), PARAM);
	/* Guest blob without entries; host blob with entries or no context. */
	assert_int_equal(create_blob(h, 1, G, 0, 4096, NULL, NULL, 0), PARAM);
	assert_int_equal(create_blob(h, 1, VIRTIO_GPU_BLOB_MEM_HOST3D, 0, 4096, &gpa, &len, 1),
			 PARAM);
	assert_int_equal(create_blob(h, 1, VIRTIO_GPU_BLOB_MEM_HOST3D, 0, 4096, NULL, NULL, 0),
			 VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID);
	/* Entries outside guest memory. */
	uint64_t bad = 0x7000000000ull;
	assert_int_equal(create_blob(h, 1, G, 0, 4096, &bad, &len, 1), VIRTIO_GPU_RESP_ERR_UNSPEC);
	/* nr_entries beyond the request. */
	struct virtio_gpu_resource_create_blob q = {
		.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB),
		.resource_id = 1,
		.blob_mem = G,
		.nr_entries = 1000,
		.size = 4096};
	assert_int_equal(h_cmd(h, &q, sizeof(q)), VIRTIO_GPU_RESP_ERR_UNSPEC);
	struct kr_gpu_stats st;
	kr_gpu_get_stats(h->gpu, &st);
	assert_int_equal(st.resources, 0);
	assert_int_equal(st.hostmem_used, 0);

	assert_int_equal(
		create_blob(h, 1, G, VIRTIO_GPU_BLOB_FLAG_USE_MAPPABLE, 8192, &gpa, &len, 1), OK);
	assert_int_equal(create_blob(h, 1, G, 0, 4096, &gpa, &len, 1),
			 VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	/* Guest memory is never mapped by the host: MAP_BLOB refuses. */
	struct virtio_gpu_resource_map_blob m = {.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB),
						 .resource_id = 1};
	assert_int_equal(h_cmd(h, &m, sizeof(m)), PARAM);
	struct virtio_gpu_resource_unmap_blob um = {
		.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB), .resource_id = 1};
	assert_int_equal(h_cmd(h, &um, sizeof(um)), PARAM);
	m.resource_id = um.resource_id = 99;
	assert_int_equal(h_cmd(h, &m, sizeof(m)), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(h_cmd(h, &um, sizeof(um)), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(h->n_maps, 0);
	/* A blob's backing is fixed: no attach, no detach, no SET_SCANOUT. */
	assert_int_equal(h_attach(h, 1, &gpa, &len, 1), VIRTIO_GPU_RESP_ERR_UNSPEC);
	assert_int_equal(h_detach(h, 1), VIRTIO_GPU_RESP_ERR_UNSPEC);
	assert_int_equal(h_set_scanout(h, 0, 1, 0, 0, 16, 16), PARAM);

	/* SET_SCANOUT_BLOB: the framebuffer must fit the blob. */
	struct virtio_gpu_rect r = {0, 0, 32, 32};
	assert_int_equal(scanout_blob(h, 0, 1, 32, 32, 128, 4097, r), PARAM); /* ends at 8193 */
	assert_int_equal(scanout_blob(h, 0, 1, 32, 32, 127, 0, r), PARAM);    /* stride < row */
	/* A stride that is not a whole number of 32-bit pixels. */
	assert_int_equal(scanout_blob(h, 0, 1, 32, 32, 130, 0, r), PARAM);
	assert_int_equal(scanout_blob(h, 0, 1, 32, 32, 0xffffffffu, 0, r), PARAM);
	struct virtio_gpu_rect big = {16, 16, 32, 32};
	assert_int_equal(scanout_blob(h, 0, 1, 32, 32, 128, 0, big), PARAM); /* rect outside */
	struct virtio_gpu_rect wrap = {0xffffffffu, 0, 2, 2};
	assert_int_equal(scanout_blob(h, 0, 1, 32, 32, 128, 0, wrap), PARAM);
	assert_int_equal(scanout_blob(h, 1, 1, 32, 32, 128, 0, r),
			 VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
	assert_int_equal(scanout_blob(h, 0, 7, 32, 32, 128, 0, r),
			 VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	assert_int_equal(h_create_2d(h, 2, FMT, 32, 32), OK);
	assert_int_equal(scanout_blob(h, 0, 2, 32, 32, 128, 0, r),
			 VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID); /* not a blob */
	assert_int_equal(scanout_blob(h, 0, 1, 32, 32, 128, 0, r), OK);
	/* Resource 0 disables it. */
	assert_int_equal(scanout_blob(h, 0, 0, 0, 0, 0, 0, r), OK);
	assert_int_equal(h->n_disable, 1);
	/* Reset frees everything. */
	assert_int_equal(scanout_blob(h, 0, 1, 32, 32, 128, 0, r), OK);
	kr_gpu_reset(h->gpu);
	kr_gpu_get_stats(h->gpu, &st);
	assert_int_equal(st.resources, 0);
	assert_int_equal(st.hostmem_used, 0);
	h_free(h);
}

static void
test_shadow_cap(void **state)
{
	struct kr_gpu_config cfg;

	(void)state;
	kr_gpu_config_init(&cfg);
	cfg.max_hostmem = 64 * 1024;
	struct harness *h = h_new(&cfg);
	uint64_t gpa = h_alloc(h, 1 << 20);
	uint32_t len = 1 << 20;
	assert_int_equal(create_blob(h, 1, VIRTIO_GPU_BLOB_MEM_GUEST, 0, len, &gpa, &len, 1), OK);
	/* 256x256x4 = 256 KiB of shadow: over the cap. */
	struct virtio_gpu_rect r = {0, 0, 256, 256};
	assert_int_equal(scanout_blob(h, 0, 1, 256, 256, 1024, 0, r),
			 VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	struct virtio_gpu_rect small = {0, 0, 64, 32};
	assert_int_equal(scanout_blob(h, 0, 1, 256, 256, 1024, 0, small), OK);
	h_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guest_blob_scanout),
		cmocka_unit_test(test_blob_scanout_replaced),
		cmocka_unit_test(test_hostile_blobs),
		cmocka_unit_test(test_shadow_cap),
	};
	return cmocka_run_group_tests_name("blob", tests, NULL, NULL);
}
