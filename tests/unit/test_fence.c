/* SPDX-License-Identifier: MIT */
/*
 * Deferred fences: a backend whose fences retire later (as virgl's do) holds
 * fenced responses back and completes them in fence order per timeline.
 * A fake backend, the 2d one with an asynchronous create_fence, drives it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpu.h"
#include "harness.h"

static struct renderer_ops fake_ops;
static unsigned fences_created;
static uint64_t seqs[16]; /* what create_fence was given, in order */
static int fence_error;	  /* create_fence answers this when non-zero */

static int
fake_fence(struct renderer *r, uint64_t seq, uint32_t ctx_id, uint8_t ring_idx, bool on_ring)
{
	(void)r;
	(void)ctx_id;
	(void)ring_idx;
	(void)on_ring;
	if (fence_error)
		return fence_error;
	if (fences_created < 16)
		seqs[fences_created] = seq;
	fences_created++;
	return 0;
}

static int
fake_ctx_create(struct renderer *r, uint32_t ctx_id, uint32_t capset_id, const char *name,
		uint32_t nlen)
{
	(void)r;
	(void)ctx_id;
	(void)capset_id;
	(void)name;
	(void)nlen;
	return 0;
}

static void
fake_ctx_destroy(struct renderer *r, uint32_t ctx_id)
{
	(void)r;
	(void)ctx_id;
}

static unsigned transfers_3d;

/* 3D resources: a 1x1 2D resource of the 2d backend stands in. */
static int
fake_create_3d(struct renderer *r, const struct renderer_res_3d *a, struct resource **out)
{
	struct renderer_res_2d a2 = {a->id, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 1, 1};
	int ret = r2d_ops.resource_create_2d(r, &a2, out);

	if (ret == 0) {
		(*out)->width = a->width;
		(*out)->height = a->height;
	}
	return ret;
}

static int
fake_transfer_3d(struct renderer *r, struct resource *res, const struct renderer_transfer *t)
{
	(void)r;
	(void)res;
	(void)t;
	transfers_3d++;
	return 0;
}

static int
fake_submit(struct renderer *r, uint32_t ctx_id, void *buf, uint32_t size)
{
	(void)r;
	(void)ctx_id;
	(void)buf;
	(void)size;
	return 0;
}

static uint32_t
fake_num_capsets(struct renderer *r)
{
	(void)r;
	return 0;
}

static int
fake_capset_info(struct renderer *r, uint32_t index, struct renderer_capset *out)
{
	(void)r;
	(void)index;
	(void)out;
	return -EINVAL;
}

static int
fake_capset_get(struct renderer *r, uint32_t id, uint32_t version, void *buf, uint32_t size)
{
	(void)r;
	(void)id;
	(void)version;
	(void)buf;
	(void)size;
	return -EINVAL;
}

/* The fake: the 2d backend plus contexts, 3D resources and late fences. */
static void
fake_ops_init(void)
{
	fake_ops = r2d_ops;
	fake_ops.name = "fake-async";
	fake_ops.create_fence = fake_fence;
	fake_ops.features = (1ull << VIRTIO_GPU_F_CONTEXT_INIT) | (1ull << VIRTIO_GPU_F_VIRGL);
	fake_ops.ctx_create = fake_ctx_create;
	fake_ops.ctx_destroy = fake_ctx_destroy;
	fake_ops.resource_create_3d = fake_create_3d;
	fake_ops.transfer_3d = fake_transfer_3d;
	fake_ops.submit_3d = fake_submit;
	fake_ops.num_capsets = fake_num_capsets;
	fake_ops.capset_info = fake_capset_info;
	fake_ops.capset_get = fake_capset_get;
}

static struct harness *
fake_new(void)
{
	struct kr_gpu_config cfg;
	struct harness *h = calloc(1, sizeof(*h));

	fake_ops_init();
	transfers_3d = 0;
	fences_created = 0;
	fence_error = 0;
	assert_non_null(h);
	kr_gpu_config_init(&cfg);
	cfg.max_hostmem = 32u << 20;
	assert_int_equal(gpu_create_with_ops(&cfg, &h_callbacks, h, &fake_ops, &h->gpu), 0);
	h->mem_a = calloc(1, H_SIZE_A);
	assert_non_null(h->mem_a);
	struct kr_mem_region region = {H_GPA_A, H_SIZE_A, h->mem_a};
	assert_int_equal(kr_gpu_set_memory(h->gpu, &region, 1), 0);
	h->next_gpa = H_GPA_A;
	return h;
}

struct req {
	struct virtio_gpu_ctrl_hdr q;
	struct iovec in, out;
	struct kr_chain chain;
	uint8_t resp[512];
};

static int
submit(struct harness *h, struct req *r, uint64_t cookie, uint32_t flags, uint64_t fence,
       uint32_t ctx, uint8_t ring)
{
	size_t n = 77;

	r->q = (struct virtio_gpu_ctrl_hdr){.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO,
					    .flags = flags,
					    .fence_id = fence,
					    .ctx_id = ctx,
					    .ring_idx = ring};
	r->in = (struct iovec){&r->q, sizeof(r->q)};
	r->out = (struct iovec){r->resp, sizeof(r->resp)};
	r->chain = (struct kr_chain){&r->in, 1, &r->out, 1, cookie};
	memset(r->resp, 0xa5, sizeof(r->resp));
	int ret = kr_gpu_ctrl(h->gpu, &r->chain, &n);
	if (ret == 0)
		assert_int_equal(n, sizeof(struct virtio_gpu_resp_display_info));
	else
		assert_int_equal(n, 0);
	return ret;
}

static void
test_global_timeline(void **state)
{
	struct harness *h = fake_new();
	struct req *r = calloc(5, sizeof(*r));

	(void)state;
	assert_int_equal(submit(h, &r[0], 10, VIRTIO_GPU_FLAG_FENCE, 1, 0, 0), -EINPROGRESS);
	assert_int_equal(submit(h, &r[1], 11, VIRTIO_GPU_FLAG_FENCE, 2, 0, 0), -EINPROGRESS);
	assert_int_equal(submit(h, &r[2], 12, 0, 0, 0, 0), 0); /* unfenced: at once */
	assert_int_equal(submit(h, &r[3], 13, VIRTIO_GPU_FLAG_FENCE, 3, 0, 0), -EINPROGRESS);
	assert_int_equal(fences_created, 3);
	/* The renderer sees the core's sequence, not the guest's fence ids. */
	assert_int_equal(seqs[0], 1);
	assert_int_equal(seqs[2], 3);
	/* Responses are written at once (nothing of the chain is kept); only
	   the completion waits. */
	assert_int_equal(r[0].resp[0], VIRTIO_GPU_RESP_OK_DISPLAY_INFO & 0xff);
	assert_int_equal(h->n_done, 0);

	gpu_fence_retired(h->gpu, 2, 0, 0, false);
	assert_int_equal(h->n_done, 2);
	assert_int_equal(h->done_cookies[0], 10);
	assert_int_equal(h->done_cookies[1], 11);
	assert_int_equal(h->done_len[0], sizeof(struct virtio_gpu_resp_display_info));
	assert_int_equal(h->n_fences, 2);
	assert_int_equal(h->fences[0], 1);
	assert_int_equal(h->fences[1], 2);
	struct virtio_gpu_resp_display_info d;
	memcpy(&d, r[1].resp, sizeof(d));
	assert_int_equal(d.hdr.type, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	assert_int_equal(d.hdr.flags, VIRTIO_GPU_FLAG_FENCE);
	assert_int_equal(d.hdr.fence_id, 2);
	assert_int_equal(d.pmodes[0].r.width, 1280);

	/* Retiring an old fence again completes nothing. */
	gpu_fence_retired(h->gpu, 2, 0, 0, false);
	assert_int_equal(h->n_done, 2);
	gpu_fence_retired(h->gpu, 3, 0, 0, false);
	assert_int_equal(h->n_done, 3);
	assert_int_equal(h->done_cookies[2], 13);

	/* Reset drops what is pending, without completing it (ASan: no leak). */
	assert_int_equal(submit(h, &r[4], 14, VIRTIO_GPU_FLAG_FENCE, 4, 0, 0), -EINPROGRESS);
	kr_gpu_reset(h->gpu);
	gpu_fence_retired(h->gpu, 4, 0, 0, false);
	assert_int_equal(h->n_done, 3);
	free(r);
	h_free(h);
}

static void
test_ring_timelines(void **state)
{
	struct harness *h = fake_new();
	struct req *r = calloc(4, sizeof(*r));
	const uint32_t fr = VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX;

	(void)state;
	for (uint32_t ctx = 1; ctx <= 2; ctx++) {
		struct virtio_gpu_ctx_create cc = {
			.hdr = {.type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = ctx}};
		struct virtio_gpu_ctrl_hdr resp;
		struct iovec in = {&cc, sizeof(cc)}, out = {&resp, sizeof(resp)};
		struct kr_chain ch = {&in, 1, &out, 1, 0};
		size_t n;
		assert_int_equal(kr_gpu_ctrl(h->gpu, &ch, &n), 0);
		assert_int_equal(resp.type, VIRTIO_GPU_RESP_OK_NODATA);
	}
	/* Rings that cannot be: answered at once, fence echoed, none created. */
	static const struct {
		uint32_t ctx;
		uint8_t ring;
		uint32_t type;
	} bad[] = {{1, 64, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER},
		   {1, 255, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER},
		   {9, 0, VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct virtio_gpu_ctrl_hdr q = {.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO,
						.flags = fr,
						.fence_id = 77,
						.ctx_id = bad[i].ctx,
						.ring_idx = bad[i].ring};
		struct virtio_gpu_ctrl_hdr resp;
		struct iovec in = {&q, sizeof(q)}, out = {&resp, sizeof(resp)};
		struct kr_chain ch = {&in, 1, &out, 1, 0};
		size_t n;
		assert_int_equal(kr_gpu_ctrl(h->gpu, &ch, &n), 0);
		assert_int_equal(resp.type, bad[i].type);
		assert_int_equal(resp.fence_id, 77);
		assert_int_equal(resp.ctx_id, bad[i].ctx);
		assert_int_equal(fences_created, 0);
	}
	assert_int_equal(submit(h, &r[0], 1, fr, 10, 1, 0), -EINPROGRESS);
	assert_int_equal(submit(h, &r[1], 2, fr, 5, 1, 1), -EINPROGRESS);
	assert_int_equal(submit(h, &r[2], 3, fr, 6, 2, 1), -EINPROGRESS);
	assert_int_equal(submit(h, &r[3], 4, VIRTIO_GPU_FLAG_FENCE, 1, 0, 0), -EINPROGRESS);
	/* Ring 1 of context 1 retires: only its request completes. */
	gpu_fence_retired(h->gpu, 100, 1, 1, true);
	assert_int_equal(h->n_done, 1);
	assert_int_equal(h->done_cookies[0], 2);
	struct virtio_gpu_ctrl_hdr hdr;
	memcpy(&hdr, r[1].resp, sizeof(hdr));
	assert_int_equal(hdr.flags, fr);
	assert_int_equal(hdr.ring_idx, 1);
	assert_int_equal(hdr.ctx_id, 1);
	/* The global timeline does not complete ring fences. */
	gpu_fence_retired(h->gpu, 100, 0, 0, false);
	assert_int_equal(h->n_done, 2);
	assert_int_equal(h->done_cookies[1], 4);
	/* Sequences: r[0] 1, r[1] 2, r[2] 3, r[3] 4. */
	gpu_fence_retired(h->gpu, 0, 1, 0, true); /* below 1: nothing */
	assert_int_equal(h->n_done, 2);
	gpu_fence_retired(h->gpu, seqs[0], 1, 0, true);
	gpu_fence_retired(h->gpu, seqs[2], 2, 1, true);
	assert_int_equal(h->n_done, 4);
	assert_int_equal(h->done_cookies[2], 1);
	assert_int_equal(h->done_cookies[3], 3);
	free(r);
	h_free(h);
}

/*
 * A renderer still holding a fence from before a reset (virgl's in-flight
 * fences, gfxstream's queue of retirements) retires it after the reset: it
 * must not complete what the reloaded driver sent since, whose fence ids
 * start near 1 again.
 */
static void
test_retirement_from_before_reset(void **state)
{
	struct harness *h = fake_new();
	struct req *r = calloc(3, sizeof(*r));

	(void)state;
	assert_non_null(r);
	assert_int_equal(submit(h, &r[0], 1, VIRTIO_GPU_FLAG_FENCE, 500, 0, 0), -EINPROGRESS);
	uint64_t old = seqs[0];
	kr_gpu_reset(h->gpu);
	assert_int_equal(submit(h, &r[1], 2, VIRTIO_GPU_FLAG_FENCE, 1, 0, 0), -EINPROGRESS);
	assert_true(seqs[1] > old); /* never reused */
	gpu_fence_retired(h->gpu, old, 0, 0, false);
	assert_int_equal(h->n_done, 0);
	struct kr_gpu_stats st;
	kr_gpu_get_stats(h->gpu, &st);
	assert_int_equal(st.pending, 1);
	gpu_fence_retired(h->gpu, seqs[1], 0, 0, false);
	assert_int_equal(h->n_done, 1);
	assert_int_equal(h->done_cookies[0], 2);
	assert_int_equal(h->n_fences, 1);
	assert_int_equal(h->fences[0], 1); /* the guest's id, not the sequence */
	free(r);
	h_free(h);
}

/*
 * Fence N means "everything up to N is done": a fence the renderer cannot
 * create (virgl at 4096 in flight) must not complete its request before
 * the earlier ones of its timeline; with none earlier it completes at once.
 */
static void
test_fence_not_created_keeps_order(void **state)
{
	struct harness *h = fake_new();
	struct req *r = calloc(4, sizeof(*r));

	(void)state;
	assert_non_null(r);
	assert_int_equal(submit(h, &r[0], 1, VIRTIO_GPU_FLAG_FENCE, 1, 0, 0), -EINPROGRESS);
	fence_error = -EBUSY;
	assert_int_equal(submit(h, &r[1], 2, VIRTIO_GPU_FLAG_FENCE, 2, 0, 0), -EINPROGRESS);
	assert_int_equal(h->n_done, 0);
	fence_error = 0;
	assert_int_equal(submit(h, &r[2], 3, VIRTIO_GPU_FLAG_FENCE, 3, 0, 0), -EINPROGRESS);
	gpu_fence_retired(h->gpu, seqs[0], 0, 0, false);
	assert_int_equal(h->n_done, 2);
	assert_int_equal(h->done_cookies[0], 1);
	assert_int_equal(h->done_cookies[1], 2);
	assert_int_equal(h->fences[1], 2);
	gpu_fence_retired(h->gpu, seqs[1], 0, 0, false);
	assert_int_equal(h->n_done, 3);
	/* Nothing earlier on the timeline: answered at once. */
	fence_error = -EBUSY;
	assert_int_equal(submit(h, &r[3], 4, VIRTIO_GPU_FLAG_FENCE, 4, 0, 0), 0);
	assert_int_equal(h->n_fences, 4);
	free(r);
	h_free(h);
}

static uint32_t
create_3d(struct harness *h, uint32_t id, uint32_t w, uint32_t hgt, uint32_t samples)
{
	struct virtio_gpu_resource_create_3d c = {.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_3D),
						  .resource_id = id,
						  .target = 2,	/* PIPE_TEXTURE_2D */
						  .format = 31, /* R32G32B32A32_FLOAT */
						  .width = w,
						  .height = hgt,
						  .depth = 1,
						  .array_size = 1,
						  .nr_samples = samples};
	return h_cmd(h, &c, sizeof(c));
}

/* The host-memory cap counts every sample: 512x256 at 16 bytes a texel
   (R32G32B32A32_FLOAT) and 4 samples is 8 MiB, so a 32 MiB cap takes four
   (not sixteen). */
static void
test_3d_charge_counts_samples(void **state)
{
	struct harness *h = fake_new();
	uint32_t id = 1;

	(void)state;
	while (id <= 16 && create_3d(h, id, 512, 256, 4) == VIRTIO_GPU_RESP_OK_NODATA)
		id++;
	assert_int_equal(id - 1, 4);
	assert_int_equal(create_3d(h, 100, 512, 256, 0), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
	struct kr_gpu_stats st;
	kr_gpu_get_stats(h->gpu, &st);
	assert_int_equal(st.hostmem_used, 32u << 20);
	h_free(h);
}

/* A 3D transfer whose stride or layer stride wraps 32 bits (or whose last
   row starts past the backing) never reaches the renderer. */
static void
test_3d_transfer_layout(void **state)
{
	struct harness *h = fake_new();
	static const struct {
		uint32_t stride, layer_stride, hgt, d;
		uint64_t offset;
		uint32_t want;
	} cases[] = {
		{0x80000000u, 0, 3, 1, 0, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER},
		{0, 0x55555556u, 1, 4, 0, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER},
		{4096, 0, 64, 1, 0, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER}, /* past the backing */
		{4096, 0, 2, 1, 0xfffffffffull, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER},
		{256, 0, 64, 1, 0, VIRTIO_GPU_RESP_OK_NODATA},
		{0, 0, 64, 1, 0, VIRTIO_GPU_RESP_OK_NODATA}, /* the renderer's own stride */
	};

	(void)state;
	assert_int_equal(create_3d(h, 1, 64, 64, 0), VIRTIO_GPU_RESP_OK_NODATA);
	assert_true(h_attach_new(h, 1, 64 * 64 * 4) != 0);
	unsigned want_calls = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct virtio_gpu_transfer_host_3d t = {
			.hdr = h_hdr(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D),
			.box = {0, 0, 0, 64, cases[i].hgt, 1},
			.offset = cases[i].offset,
			.resource_id = 1,
			.stride = cases[i].stride,
			.layer_stride = cases[i].layer_stride};
		/* A 2D texture has one layer: a depth above 1 counts as layers
		   only for arrays, so check the layer stride on an array. */
		if (cases[i].d > 1) {
			assert_int_equal(h_unref(h, 1), VIRTIO_GPU_RESP_OK_NODATA);
			struct virtio_gpu_resource_create_3d c = {
				.hdr = h_hdr(VIRTIO_GPU_CMD_RESOURCE_CREATE_3D),
				.resource_id = 1,
				.target = 2,
				.format = 1,
				.width = 64,
				.height = 64,
				.depth = 1,
				.array_size = 8};
			assert_int_equal(h_cmd(h, &c, sizeof(c)), VIRTIO_GPU_RESP_OK_NODATA);
			assert_true(h_attach_new(h, 1, 64 * 64 * 4) != 0);
			t.box.d = cases[i].d;
		}
		assert_int_equal(h_cmd(h, &t, sizeof(t)), cases[i].want);
		want_calls += cases[i].want == VIRTIO_GPU_RESP_OK_NODATA;
		assert_int_equal(transfers_3d, want_calls);
	}
	h_free(h);
}

static void
test_sync_backend(void **state)
{
	/* The 2d backend retires at once: responses come back synchronously. */
	struct harness *h = h_new(NULL);
	struct req r;

	(void)state;
	assert_int_equal(submit(h, &r, 1, VIRTIO_GPU_FLAG_FENCE, 42, 0, 0), 0);
	assert_int_equal(h->n_fences, 1);
	assert_int_equal(h->fences[0], 42);
	assert_int_equal(h->n_done, 0); /* ctrl_done is only for deferred requests */
	h_free(h);
}

static char all_logs[1024];

static void
log_all(void *user, enum kr_log_level level, const char *msg)
{
	(void)user;
	(void)level;
	strncat(all_logs, msg, sizeof(all_logs) - strlen(all_logs) - 2);
	strcat(all_logs, "\n");
}

/* Ops that declare a feature without every method of its group, or half
   of a pair, are refused at creation, naming the missing method. */
static void
test_incomplete_ops_refused(void **state)
{
	static const struct {
		size_t offset;
		const char *named;
	} cases[] = {
		{offsetof(struct renderer_ops, submit_3d), "submit_3d"},
		{offsetof(struct renderer_ops, capset_get), "capset_get"},
		{offsetof(struct renderer_ops, ctx_destroy), "ctx_destroy"},
		{offsetof(struct renderer_ops, resource_create_blob), "resource_create_blob"},
		{offsetof(struct renderer_ops, resource_pixels), "resource_pixels"},
		{offsetof(struct renderer_ops, resource_unmap), "resource_unmap"},
	};
	struct kr_gpu_config cfg;
	struct kr_gpu_callbacks cbs = {.version = 1, .log = log_all};
	struct kr_gpu *gpu = NULL;

	(void)state;
	kr_gpu_config_init(&cfg);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_ops_init();
		fake_ops.features |= 1ull << VIRTIO_GPU_F_RESOURCE_BLOB;
		if (cases[i].offset == offsetof(struct renderer_ops, resource_unmap))
			fake_ops.resource_map = gfxstream_ops.resource_map; /* a pair, half given */
		void *none = NULL;
		memcpy((char *)&fake_ops + cases[i].offset, &none, sizeof(none));
		all_logs[0] = 0;
		assert_int_equal(gpu_create_with_ops(&cfg, &cbs, NULL, &fake_ops, &gpu), -EINVAL);
		assert_null(gpu);
		char want[96];
		snprintf(want, sizeof(want), "has no %s method", cases[i].named);
		assert_non_null(strstr(all_logs, want));
	}
	/* Complete, it starts. */
	fake_ops_init();
	assert_int_equal(gpu_create_with_ops(&cfg, &cbs, NULL, &fake_ops, &gpu), 0);
	kr_gpu_destroy(gpu);
}

/* A missing optional method answers "unsupported" through its wrapper. */
static void
test_missing_method_unsupported(void **state)
{
	struct harness *h = h_new(NULL); /* the 2d backend: no 3D, capsets, maps */
	struct renderer *r = h->gpu->renderer;
	struct renderer_map m;
	uint8_t b[4];

	(void)state;
	assert_int_equal(renderer_submit_3d(r, 1, b, 4), -EOPNOTSUPP);
	assert_int_equal(renderer_ctx_create(r, 1, 0, "", 1), -EOPNOTSUPP);
	assert_int_equal(renderer_capset_get(r, 1, 0, b, 4), -EOPNOTSUPP);
	assert_int_equal(renderer_num_capsets(r), 0);
	assert_int_equal(renderer_resource_map(r, NULL, &m), -EOPNOTSUPP);
	assert_int_equal(renderer_blob_read(r, NULL, 0, b, 4), -EOPNOTSUPP);
	assert_int_equal(renderer_create_fence(r, 1, 0, 0, false), -EOPNOTSUPP);
	assert_false(renderer_fences_async(r));
	renderer_ctx_destroy(r, 1); /* nothing to do, and no crash */
	renderer_resource_unmap(r, NULL);
	assert_int_equal(renderer_attach_backing(r, NULL), 0);
	h_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_global_timeline),
		cmocka_unit_test(test_ring_timelines),
		cmocka_unit_test(test_retirement_from_before_reset),
		cmocka_unit_test(test_fence_not_created_keeps_order),
		cmocka_unit_test(test_3d_charge_counts_samples),
		cmocka_unit_test(test_3d_transfer_layout),
		cmocka_unit_test(test_sync_backend),
		cmocka_unit_test(test_incomplete_ops_refused),
		cmocka_unit_test(test_missing_method_unsupported),
	};
	return cmocka_run_group_tests_name("fence", tests, NULL, NULL);
}
