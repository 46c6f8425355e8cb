/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the control queue as a stateful sequence of commands.
 *
 * Each input is a program: a device (the 2d backend, or the gfxstream backend
 * over the tests' fake library, whose fences retire at once or only when the
 * program says, and whose flushes are read back at once or at a refresh;
 * small caps) over fake guest memory with a hole, then up to
 * MAX_OPS steps, each a control command built from the input (every command
 * type, ids biased to the few live ones, numbers biased to the edges) and
 * delivered in randomly chunked request and response buffers, or a
 * device-level step (reset, memory map change, fence poll, fences fired), or
 * a well-formed step random bytes rarely spell (a context, a mappable host
 * blob and its mapping, a guest blob on a scanout).
 * Responses that wait for a fence are checked when they complete.  After
 * every step the invariants hold:
 *   - the response has a valid type for its command, its exact size, a zero
 *     header padding, the fence echoed when asked, and nothing written past
 *     the response;
 *   - the host-memory counter equals what the resources and blob shadows
 *     hold, and stays under the cap; the resource count under its cap;
 *   - scanouts and the cursor show live resources only;
 *   - the embedder's blob window holds no overlapping mappings;
 *   - after a reset nothing is left: no resource, no memory, no mapping.
 */
#include <errno.h>
#include <linux/virtio_gpu.h>
#include <stdbool.h>
#include <sys/uio.h>

#include "core/gpu.h"
#include "fake_gs.h"
#include "fuzz.h"
#include "gpu_cmds.h"

#define MAX_OPS	    48
#define MAX_CHUNKS  6
#define MAX_MAPS    64
#define WINDOW	    (1ull << 20)
#define MAX_HOSTMEM (16ull << 20)
#define MAX_RES	    32

/* Guest memory: A and B adjacent (backings may span them), a hole, C. */
#define GPA_A  0x10000ull
#define SIZE_A (1ull << 20)
#define GPA_B  (GPA_A + SIZE_A)
#define SIZE_B (1ull << 20)
#define GPA_C  0x100000000ull
#define SIZE_C (256ull << 10)

struct map {
	uint64_t offset, size;
};

struct cmd_shape;

/* A request whose response waits for its fence. */
struct waiting {
	bool live;
	const struct cmd_shape *sh;
	uint8_t req[sizeof(struct virtio_gpu_ctrl_hdr)]; /* its header */
	struct iovec out[MAX_CHUNKS];			 /* owned chunks */
	size_t n_out, out_total;
};

struct state {
	struct fz in;
	struct map maps[MAX_MAPS];
	unsigned n_maps;
	int map_error;			  /* what map_blob answers */
	struct waiting pend[2 * MAX_OPS]; /* a step delivers at most two requests */
	unsigned n_pend;
};

static uint8_t *g_mem; /* the fuzzer process's guest memory, never freed */

static int
cb_map_blob(void *user, const struct kr_blob_map *m)
{
	struct state *s = user;

	FZ_CHECK(m->size > 0 && m->size % 4096 == 0 && m->offset % 4096 == 0);
	FZ_CHECK(m->offset <= WINDOW && m->size <= WINDOW - m->offset);
	FZ_CHECK(m->fd >= 0 || m->host);
	for (unsigned i = 0; i < s->n_maps; i++)
		FZ_CHECK(m->offset + m->size <= s->maps[i].offset ||
			 s->maps[i].offset + s->maps[i].size <= m->offset);
	if (s->map_error || s->n_maps == MAX_MAPS)
		return -EIO;
	if (m->host) { /* the blob's memory is readable for its whole size */
		volatile const uint8_t *p = m->host;
		(void)p[0];
		(void)p[m->size - 1];
	}
	s->maps[s->n_maps++] = (struct map){m->offset, m->size};
	return 0;
}

static int
cb_unmap_blob(void *user, uint64_t offset, uint64_t size)
{
	struct state *s = user;

	for (unsigned i = 0; i < s->n_maps; i++) {
		if (s->maps[i].offset == offset) {
			FZ_CHECK(s->maps[i].size == size);
			s->maps[i] = s->maps[--s->n_maps];
			return 0;
		}
	}
	FZ_CHECK(!"unmap of a range never mapped");
	return -EINVAL;
}

static void
cb_scanout_update(void *user, const struct kr_scanout_info *info, const struct kr_rect *r)
{
	(void)user;
	FZ_CHECK(r->width && r->height && r->x + (uint64_t)r->width <= info->width &&
		 r->y + (uint64_t)r->height <= info->height);
	/* Touch the last pixel of the rectangle: it must be inside the resource. */
	volatile const uint8_t *p = info->pixels;
	(void)p[(uint64_t)(r->y + r->height - 1) * info->stride + (uint64_t)(r->x + r->width) * 4 -
		1];
}

static void check_done(struct state *s, uint64_t cookie, size_t len);

static void
cb_done(void *user, uint64_t cookie, size_t len)
{
	check_done(user, cookie, len);
}

/* Quiet, unless FUZZ_LOG is set (to see why inputs are refused). */
static void
cb_log(void *user, enum kr_log_level level, const char *msg)
{
	(void)user;
	if (getenv("FUZZ_LOG"))
		fprintf(stderr, "kohlrabi: %d: %s\n", level, msg);
}

/* A guest physical address: region edges, the hole, or anything. */
static uint64_t
fz_gpa(struct fz *f)
{
	static const uint64_t at[] = {GPA_A,
				      GPA_A + 4096,
				      GPA_B - 4096,
				      GPA_B,
				      GPA_B + SIZE_B - 4096,
				      GPA_B + SIZE_B,
				      GPA_C,
				      GPA_C + SIZE_C - 4096,
				      GPA_C + SIZE_C,
				      0,
				      GPA_A - 1};
	uint8_t sel = fz_u8(f);

	if (sel < 160)
		return at[sel % (sizeof(at) / sizeof(at[0]))] + (fz_u8(f) & 3) * 4096u;
	if (sel < 224)
		return GPA_A + fz_below(f, (uint32_t)(SIZE_A + SIZE_B));
	return fz_val64(f);
}

/* Split [0, len) into 1..MAX_CHUNKS heap buffers of exactly their size (so
   that reads and writes past a chunk are caught). */
static size_t
chunk(struct fz *f, size_t len, struct iovec *iov)
{
	size_t n = 1 + fz_below(f, MAX_CHUNKS), at = 0;

	for (size_t i = 0; i < n; i++) {
		size_t left = len - at;
		size_t sz =
			i == n - 1 ? left : (fz_u8(f) < 64 ? 0 : fz_below(f, (uint32_t)left + 1));

		iov[i].iov_base = malloc(sz ? sz : 1);
		FZ_CHECK(iov[i].iov_base);
		iov[i].iov_len = sz;
		at += sz;
	}
	return n;
}

static void
free_chunks(struct iovec *iov, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(iov[i].iov_base);
}

static bool
is_error(uint32_t t)
{
	return t >= VIRTIO_GPU_RESP_ERR_UNSPEC && t <= VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
}

static void
check_response(const struct cmd_shape *sh, const uint8_t *req, const uint8_t *resp, size_t resp_len,
	       size_t out_total)
{
	const struct virtio_gpu_ctrl_hdr *q = (const void *)req, *r = (const void *)resp;

	FZ_CHECK(resp_len <= out_total);
	if (out_total < sizeof(*r)) {
		FZ_CHECK(resp_len == out_total);
		return;
	}
	FZ_CHECK(resp_len >= sizeof(*r));
	if (getenv("FUZZ_LOG"))
		fprintf(stderr, "fuzz: 0x%x -> 0x%x\n", q->type, r->type);
	FZ_CHECK(r->padding[0] == 0 && r->padding[1] == 0 && r->padding[2] == 0);
	/* A random type (the shape of unknown commands) may be a known one. */
	if (!sh->type)
		sh = shape_of(q->type);
	if (is_error(r->type)) {
		FZ_CHECK(resp_len == sizeof(*r));
	} else {
		FZ_CHECK(sh->type && r->type == sh->ok);
		if (sh->ok_size)
			FZ_CHECK(resp_len == (out_total < sh->ok_size ? out_total : sh->ok_size));
	}
	if (q->flags & VIRTIO_GPU_FLAG_FENCE) {
		FZ_CHECK(r->flags & VIRTIO_GPU_FLAG_FENCE);
		FZ_CHECK(r->fence_id == q->fence_id && r->ctx_id == q->ctx_id);
	} else {
		FZ_CHECK(r->flags == 0 && r->fence_id == 0);
	}
	/* No stack or heap garbage: the fuzz build fills uninitialised locals
	   with 0xaa and fresh heap with 0xbe. */
	for (size_t i = sizeof(*r); i + 4 <= resp_len; i += 4) {
		uint32_t v;
		memcpy(&v, resp + i, 4);
		FZ_CHECK(v != 0xaaaaaaaau && v != 0xbebebebeu);
	}
}

static void
check_state(struct state *s, struct kr_gpu *gpu)
{
	struct resource *res;
	uint64_t sum = 0;
	uint32_t count = 0, mapped = 0;

	restab_for_each(&gpu->resources, res)
	{
		sum += res->hostmem;
		count++;
		mapped += res->mapped;
		for (uint32_t i = 0; i < KR_MAX_SCANOUTS; i++)
			if (res->scanout_mask & (1u << i))
				FZ_CHECK(i < gpu->cfg.num_scanouts &&
					 gpu->scanouts[i].resource_id == res->id);
	}
	for (uint32_t i = 0; i < gpu->cfg.num_scanouts; i++) {
		const struct scanout *so = &gpu->scanouts[i];
		if (so->shadow)
			sum += (uint64_t)so->rect.width * so->rect.height * 4;
		if (so->resource_id) {
			res = restab_lookup(&gpu->resources, so->resource_id);
			FZ_CHECK(res && (res->scanout_mask & (1u << i)));
		}
	}
	if (gpu->cursor.resource_id)
		FZ_CHECK(restab_lookup(&gpu->resources, gpu->cursor.resource_id));
	FZ_CHECK(count == gpu->resources.count && count <= MAX_RES);
	FZ_CHECK(sum == gpu->hostmem_used);
	FZ_CHECK(gpu->hostmem_used <= MAX_HOSTMEM);
	FZ_CHECK(mapped == s->n_maps);
}

static void
check_empty(struct state *s, struct kr_gpu *gpu)
{
	struct kr_gpu_stats st;

	kr_gpu_get_stats(gpu, &st);
	FZ_CHECK(st.resources == 0 && st.hostmem_used == 0 && st.pending == 0);
	FZ_CHECK(s->n_maps == 0);
	for (uint32_t i = 0; i < gpu->cfg.num_scanouts; i++)
		FZ_CHECK(gpu->scanouts[i].resource_id == 0 && !gpu->scanouts[i].shadow);
}

static int
set_memory(struct kr_gpu *gpu, uint8_t *mem, unsigned layout)
{
	struct kr_mem_region r[3] = {
		{GPA_A, SIZE_A, mem},
		{GPA_B, SIZE_B, mem + SIZE_A},
		{GPA_C, SIZE_C, mem + SIZE_A + SIZE_B},
	};

	switch (layout % 3) {
	case 0: return kr_gpu_set_memory(gpu, r, 3);
	case 1: return kr_gpu_set_memory(gpu, r, 1); /* B and C unplugged */
	default: return kr_gpu_set_memory(gpu, r + 1, 2);
	}
}

/* One control command, delivered and checked. */
static void
deliver(struct state *s, struct kr_gpu *gpu, const struct cmd_shape *sh, const uint8_t *req,
	size_t req_len)
{
	struct fz *f = &s->in;
	struct iovec in[MAX_CHUNKS] = {0}, out[MAX_CHUNKS] = {0};
	size_t n_in, n_out, out_total, resp_len = 0, at = 0;
	uint8_t sel = fz_u8(f);

	/* Sometimes a request cut short. */
	if (sel >= 240)
		req_len = fz_below(f, (uint32_t)req_len + 1);
	out_total = sel < 200 ? 4096 : fz_below(f, 1200);
	n_in = chunk(f, req_len, in);
	for (size_t i = 0; i < n_in; at += in[i].iov_len, i++)
		memcpy(in[i].iov_base, req + at, in[i].iov_len);
	n_out = chunk(f, out_total, out);
	for (size_t i = 0; i < n_out; i++)
		memset(out[i].iov_base, 0xa5, out[i].iov_len);

	/* The request's slot in pend[] is its cookie. */
	FZ_CHECK(s->n_pend < sizeof(s->pend) / sizeof(s->pend[0]));
	struct waiting *p = &s->pend[s->n_pend];
	struct kr_chain ch = {in, n_in, out, n_out, s->n_pend};
	*p = (struct waiting){.live = true, .sh = sh, .n_out = n_out, .out_total = out_total};
	memcpy(p->out, out, sizeof(out));
	memcpy(p->req, req, sizeof(p->req));
	if (req_len < sizeof(p->req)) /* no header: nothing to compare against */
		p->sh = NULL;
	s->n_pend++;
	int ret = kr_gpu_ctrl(gpu, &ch, &resp_len);
	free_chunks(in, n_in); /* the request is read during the call only */
	if (ret == -EINPROGRESS) {
		/* Only fenced requests wait, until ctrl_done. */
		FZ_CHECK(req_len >= sizeof(p->req) &&
			 (((struct virtio_gpu_ctrl_hdr *)req)->flags & VIRTIO_GPU_FLAG_FENCE));
		FZ_CHECK(p->live);
	} else {
		FZ_CHECK(ret == 0 && p->live);
		check_done(s, ch.cookie, resp_len);
	}
}

/* One control command built from the input. */
static void
step_command(struct state *s, struct kr_gpu *gpu)
{
	const struct cmd_shape *sh = &shapes[fz_below(&s->in, N_SHAPES)];
	static uint8_t req[REQ_MAX];
	size_t len = build_request(&s->in, sh, req, fz_gpa);

	deliver(s, gpu, sh, req, len);
}

struct recipe_ctx {
	struct state *s;
	struct kr_gpu *gpu;
};

static void
recipe_deliver(void *ctx, const struct cmd_shape *sh, const uint8_t *req, size_t len)
{
	struct recipe_ctx *c = ctx;

	deliver(c->s, c->gpu, sh, req, len);
}

/* A well-formed step (gpu_cmds.h), its guest blobs in region A. */
static void
step_recipe(struct state *s, struct kr_gpu *gpu)
{
	struct recipe_ctx c = {s, gpu};

	fz_recipe(&s->in, GPA_A, recipe_deliver, &c);
}

/* A response is complete: check it and free its buffers. */
static void
check_done(struct state *s, uint64_t cookie, size_t resp_len)
{
	static uint8_t resp[8192];
	struct waiting *p;
	size_t at = 0;

	FZ_CHECK(cookie < s->n_pend);
	p = &s->pend[cookie];
	FZ_CHECK(p->live);
	/* Gather what was written; the rest must be untouched. */
	for (size_t i = 0; i < p->n_out; i++) {
		const uint8_t *b = p->out[i].iov_base;
		for (size_t j = 0; j < p->out[i].iov_len; j++, at++) {
			if (at < sizeof(resp))
				resp[at] = b[j];
			if (at >= resp_len)
				FZ_CHECK(b[j] == 0xa5);
		}
	}
	if (p->sh)
		check_response(p->sh, p->req, resp, resp_len, p->out_total);
	free_chunks(p->out, p->n_out);
	p->live = false;
}

/* After a reset (or at the end): requests still waiting were dropped. */
static void
drop_pending(struct state *s)
{
	for (unsigned i = 0; i < s->n_pend; i++) {
		if (s->pend[i].live)
			free_chunks(s->pend[i].out, s->pend[i].n_out);
		s->pend[i].live = false;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state s = {.in = {data, size}};
	struct kr_gpu_config cfg;
	struct kr_gpu *gpu = NULL;
	struct kr_gpu_callbacks cbs = {
		.version = KR_GPU_CALLBACKS_VERSION,
		.ctrl_done = cb_done,
		.scanout_update = cb_scanout_update,
		.log = cb_log,
		.map_blob = cb_map_blob,
		.unmap_blob = cb_unmap_blob,
	};
	struct fz *f = &s.in;

	if (!g_mem) {
		g_mem = malloc(SIZE_A + SIZE_B + SIZE_C);
		FZ_CHECK(g_mem);
	}
	memset(g_mem, fz_u8(f), SIZE_A + SIZE_B + SIZE_C);
	kr_gpu_config_init(&cfg);
	uint8_t backend = fz_u8(f);
	bool gs = backend >= 160 && fake_load();
	if (gs) {
		cfg.backend = "gfxstream";
#ifdef FAKE_GS_PATH
		cfg.backends.gfxstream.lib = FAKE_GS_PATH;
#endif
		g_fake.set_fence_mode(backend & 1 ? 1 : 2);
		g_fake.clear_log();
		/* Readbacks at the embedder's refresh (kr_gpu_present), or at
		   each flush. */
		cbs.flags = backend & 2 ? KR_GPU_CB_DEFER_READBACK : 0;
	}
	cfg.num_scanouts = 1 + fz_u8(f) % 2;
	cfg.scanouts[1] = (struct kr_scanout_config){640, 480, true};
	cfg.max_hostmem = MAX_HOSTMEM;
	cfg.max_resources = MAX_RES;
	cfg.hostmem_window = WINDOW;
	cfg.log_level = KR_LOG_DEBUG;
	FZ_CHECK(kr_gpu_create(&cfg, &cbs, &s, &gpu) == 0);
	FZ_CHECK(set_memory(gpu, g_mem, 0) == 0);
	/* The driver accepts some of the offered features. */
	uint64_t offered = kr_gpu_features(gpu);
	FZ_CHECK(kr_gpu_set_features(gpu, offered & (fz_u8(f) < 64 ? fz_u64(f) : ~0ull)) == 0);

	for (unsigned op = 0; op < MAX_OPS && f->n; op++) {
		uint8_t what = fz_u8(f);

		if (what < 216) {
			step_command(&s, gpu);
		} else if (what < 232) {
			step_recipe(&s, gpu);
		} else if (what < 236) {
			kr_gpu_reset(gpu);
			drop_pending(&s);
			check_empty(&s, gpu);
		} else if (what < 242) {
			FZ_CHECK(set_memory(gpu, g_mem, fz_u8(f)) == 0);
		} else if (what < 245) {
			s.map_error = fz_u8(f) & 1;
		} else if (what < 250 && gs) {
			g_fake.fire(fz_u8(f) & 1); /* then retired by the poll */
			kr_gpu_poll(gpu);
		} else {
			kr_gpu_poll(gpu);
			kr_gpu_present(gpu); /* a refresh */
			FZ_CHECK(!kr_gpu_present_pending(gpu));
		}
		check_state(&s, gpu);
	}
	if (gs) { /* let what waits complete, as the library would */
		g_fake.fire(false);
		kr_gpu_poll(gpu);
	}
	kr_gpu_reset(gpu);
	drop_pending(&s);
	check_empty(&s, gpu);
	kr_gpu_destroy(gpu);
	return 0;
}
