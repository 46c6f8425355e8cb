/* SPDX-License-Identifier: MIT */
/*
 * A fake libgfxstream_backend.so.0 for the tests (never installed): exports
 * the stream_renderer_* 0.1.2 symbols, records every call in a text log,
 * keeps simple host resources (pixels, memfd-backed blobs) and fires fences
 * in one of three ways: from its own thread, synchronously inside
 * create_fence while holding its lock (as the real library may), or when the
 * test says so.  fake_gs_* functions let a test look inside.
 *
 * Capsets: 3 (GFXSTREAM_VULKAN) version 1, 104 bytes, filled with i + 1;
 * 8 (GLES) leaves max_ver/max_size untouched, as the real library may;
 * 9 (COMPOSER) answers 0/0.  Blob id 0xdead "fails" silently: create_blob
 * returns 0 and makes nothing (as the real one can).  Mapped blobs hold
 * byte i = (blob_id + i) & 0xff and report VIRTIO_GPU_MAP_CACHE_WC; blob id 0x5a11
 * maps only half of itself through resource_map (the exported fd has it all).
 *
 * FAKE_GS_FENCE_DELAY_MS (read at init; default 0): thread-mode fences fire
 * that late (else after 1 ms), and each fence made says so on stderr
 * ("fake-gfxstream: fence N held D ms") for a test to wait on.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

struct fence {
	uint32_t flags;
	uint64_t fence_id;
	uint32_t ctx_id;
	uint8_t ring_idx;
};

struct box {
	uint32_t x, y, z, w, h, d;
};

struct create_args {
	uint32_t handle, target, format, bind, width, height, depth, array_size, last_level,
		nr_samples, flags;
};

struct command {
	uint32_t ctx_id;
	uint32_t cmd_size;
	uint8_t *cmd;
	uint32_t num_in_fences;
	void *fences;
};

struct blob_args {
	uint32_t blob_mem, blob_flags;
	uint64_t blob_id, size;
};

struct handle {
	int64_t os_handle;
	uint32_t handle_type;
};

struct param {
	uint64_t key, value;
};

typedef void (*fence_cb)(void *user, struct fence *f);

#define MAX_RES	   256
#define MAX_CTX	   64
#define MAX_FENCES 1024
#define LOG_MAX	   (64 * 1024)

struct res {
	uint32_t id;
	bool live, blob;
	uint32_t width, height;
	uint8_t *pixels; /* width * height * 4 (or width bytes for buffers) */
	size_t size;
	struct iovec *iov; /* attached */
	int n_iov;
	int memfd;
	void *map;
	bool short_map; /* resource_map reports half the size */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool inited, stop;
	void *user;
	fence_cb cb;
	uint64_t flags;
	int mode;     /* 0 thread, 1 sync, 2 manual */
	int delay_ms; /* thread mode: how late fences fire (FAKE_GS_FENCE_DELAY_MS) */
	pthread_t thread;
	struct fence queue[MAX_FENCES];
	unsigned n_queue;
	struct res res[MAX_RES];
	uint32_t ctx[MAX_CTX];
	char log[LOG_MAX];
	size_t log_len;
} fk = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void __attribute__((format(printf, 1, 2))) logf_(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(fk.log + fk.log_len, LOG_MAX - fk.log_len, fmt, ap);
	va_end(ap);
	if (n > 0 && fk.log_len + (size_t)n < LOG_MAX - 1) {
		fk.log_len += (size_t)n;
		fk.log[fk.log_len++] = '\n';
		fk.log[fk.log_len] = 0;
	}
}

static struct res *
find(uint32_t id)
{
	for (int i = 0; i < MAX_RES; i++) {
		if (fk.res[i].live && fk.res[i].id == id)
			return &fk.res[i];
	}
	return NULL;
}

static struct res *
slot(uint32_t id)
{
	if (find(id))
		return NULL;
	for (int i = 0; i < MAX_RES; i++) {
		if (!fk.res[i].live) {
			memset(&fk.res[i], 0, sizeof(fk.res[i]));
			fk.res[i].id = id;
			fk.res[i].memfd = -1;
			fk.res[i].live = true;
			return &fk.res[i];
		}
	}
	return NULL;
}

static void
res_free(struct res *r)
{
	if (r->map)
		munmap(r->map, r->size);
	if (r->memfd >= 0)
		close(r->memfd);
	free(r->pixels);
	free(r->iov);
	memset(r, 0, sizeof(*r));
}

/* Fire queued fences in order; called without the lock held by callers
   that must not hold it, with it in sync mode. */
static void
fire_locked(void)
{
	for (unsigned i = 0; i < fk.n_queue; i++)
		fk.cb(fk.user, &fk.queue[i]);
	fk.n_queue = 0;
}

static void *
worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&fk.lock);
	while (!fk.stop) {
		if (!fk.n_queue) {
			pthread_cond_wait(&fk.cond, &fk.lock);
			continue;
		}
		pthread_mutex_unlock(&fk.lock);
		/* Let the device get ahead of us (or be as late as asked). */
		usleep(fk.delay_ms > 0 ? (useconds_t)fk.delay_ms * 1000 : 1000);
		pthread_mutex_lock(&fk.lock);
		fire_locked();
	}
	pthread_mutex_unlock(&fk.lock);
	return NULL;
}

EXPORT void
fake_gs_set_fence_mode(int mode)
{
	fk.mode = mode;
}

EXPORT const char *
fake_gs_log(void)
{
	return fk.log;
}

EXPORT void
fake_gs_clear_log(void)
{
	pthread_mutex_lock(&fk.lock);
	fk.log_len = 0;
	fk.log[0] = 0;
	pthread_mutex_unlock(&fk.lock);
}

/* Manual mode: fire what is queued, newest first when reverse (a fence
   retires all earlier ones of its timeline, so order must not matter). */
EXPORT unsigned
fake_gs_fire(bool reverse)
{
	pthread_mutex_lock(&fk.lock);
	unsigned n = fk.n_queue;
	for (unsigned i = 0; i < n; i++)
		fk.cb(fk.user, &fk.queue[reverse ? n - 1 - i : i]);
	fk.n_queue = 0;
	pthread_mutex_unlock(&fk.lock);
	return n;
}

EXPORT unsigned
fake_gs_live_resources(void)
{
	unsigned n = 0;

	for (int i = 0; i < MAX_RES; i++)
		n += fk.res[i].live;
	return n;
}

EXPORT int
stream_renderer_init(struct param *params, uint64_t n)
{
	pthread_mutex_lock(&fk.lock);
	fk.user = NULL;
	fk.cb = NULL;
	fk.flags = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (params[i].key == 1)
			fk.user = (void *)(uintptr_t)params[i].value;
		else if (params[i].key == 2)
			fk.flags = params[i].value;
		else if (params[i].key == 3)
			memcpy(&fk.cb, &params[i].value, sizeof(fk.cb));
	}
	logf_("init n=%llu flags=0x%llx user=%d cb=%d", (unsigned long long)n,
	      (unsigned long long)fk.flags, fk.user != NULL, fk.cb != NULL);
	if (fk.inited || !fk.cb || !fk.user) {
		pthread_mutex_unlock(&fk.lock);
		return -1;
	}
	fk.inited = true;
	fk.stop = false;
	const char *delay = getenv("FAKE_GS_FENCE_DELAY_MS");
	fk.delay_ms = delay ? atoi(delay) : 0;
	if (fk.mode == 0)
		pthread_create(&fk.thread, NULL, worker, NULL);
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

EXPORT void
stream_renderer_teardown(void)
{
	pthread_mutex_lock(&fk.lock);
	logf_("teardown");
	fk.stop = true;
	pthread_cond_broadcast(&fk.cond);
	bool join = fk.inited && fk.mode == 0;
	pthread_mutex_unlock(&fk.lock);
	if (join)
		pthread_join(fk.thread, NULL);
	pthread_mutex_lock(&fk.lock);
	for (int i = 0; i < MAX_RES; i++) {
		if (fk.res[i].live)
			res_free(&fk.res[i]);
	}
	memset(fk.ctx, 0, sizeof(fk.ctx));
	fk.n_queue = 0;
	fk.inited = false;
	pthread_mutex_unlock(&fk.lock);
}

EXPORT int
stream_renderer_resource_create(struct create_args *a, struct iovec *iov, uint32_t n)
{
	(void)iov;
	(void)n;
	pthread_mutex_lock(&fk.lock);
	logf_("resource_create %u target=%u format=%u bind=0x%x %ux%u", a->handle, a->target,
	      a->format, a->bind, a->width, a->height);
	struct res *r = slot(a->handle);
	int ret = -1;
	uint64_t size = a->target == 0 ? a->width : (uint64_t)a->width * a->height * 4;
	if (r && size && size <= (64u << 20)) {
		r->width = a->width;
		r->height = a->target == 0 ? 1 : a->height;
		r->size = (size_t)size;
		r->pixels = calloc(1, r->size);
		ret = r->pixels ? 0 : -1;
	}
	if (ret && r)
		res_free(r);
	pthread_mutex_unlock(&fk.lock);
	return ret;
}

EXPORT void
stream_renderer_resource_unref(uint32_t id)
{
	pthread_mutex_lock(&fk.lock);
	logf_("resource_unref %u", id);
	struct res *r = find(id);
	if (r)
		res_free(r);
	pthread_mutex_unlock(&fk.lock);
}

EXPORT int
stream_renderer_context_create(uint32_t ctx, uint32_t nlen, const char *name, uint32_t context_init)
{
	int ret = -1;

	pthread_mutex_lock(&fk.lock);
	logf_("context_create %u nlen=%u name=%.*s init=%u", ctx, nlen, (int)nlen, name,
	      context_init);
	for (int i = 0; i < MAX_CTX; i++) {
		if (fk.ctx[i] == ctx)
			goto out;
	}
	for (int i = 0; i < MAX_CTX; i++) {
		if (!fk.ctx[i]) {
			fk.ctx[i] = ctx;
			ret = 0;
			break;
		}
	}
out:
	pthread_mutex_unlock(&fk.lock);
	return ret;
}

EXPORT void
stream_renderer_context_destroy(uint32_t ctx)
{
	pthread_mutex_lock(&fk.lock);
	logf_("context_destroy %u", ctx);
	for (int i = 0; i < MAX_CTX; i++) {
		if (fk.ctx[i] == ctx)
			fk.ctx[i] = 0;
	}
	pthread_mutex_unlock(&fk.lock);
}

EXPORT int
stream_renderer_submit_cmd(struct command *c)
{
	uint32_t first = 0;

	pthread_mutex_lock(&fk.lock);
	if (c->cmd_size >= 4)
		memcpy(&first, c->cmd, 4);
	logf_("submit_cmd ctx=%u size=%u first=0x%x fences=%u", c->ctx_id, c->cmd_size, first,
	      c->num_in_fences);
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

EXPORT int
stream_renderer_create_fence(const struct fence *f)
{
	int ret = 0;

	pthread_mutex_lock(&fk.lock);
	logf_("create_fence flags=%u id=%llu ctx=%u ring=%u", f->flags,
	      (unsigned long long)f->fence_id, f->ctx_id, f->ring_idx);
	if (fk.n_queue == MAX_FENCES) {
		ret = -1;
	} else {
		fk.queue[fk.n_queue++] = *f;
		if (fk.delay_ms > 0)
			fprintf(stderr, "fake-gfxstream: fence %llu held %d ms\n",
				(unsigned long long)f->fence_id, fk.delay_ms);
		if (fk.mode == 1)
			fire_locked(); /* synchronously, holding our lock */
		else
			pthread_cond_signal(&fk.cond);
	}
	pthread_mutex_unlock(&fk.lock);
	return ret;
}

/* Copy between a resource and iovecs: rows of box->w * 4 bytes with stride
   (0: tight), starting at offset in the iovecs. */
static int
transfer(uint32_t id, uint32_t stride, const struct box *b, uint64_t offset, struct iovec *iov,
	 int n, bool write)
{
	struct res *r = find(id);

	if (!r || r->blob || !b)
		return -1;
	if (!iov) {
		iov = r->iov;
		n = r->n_iov;
	}
	bool buffer = r->height == 1 && r->size == r->width;
	uint32_t bpp = buffer ? 1 : 4;
	uint32_t row = b->w * bpp;
	if (!stride)
		stride = row;
	if ((uint64_t)b->x + b->w > r->width || (uint64_t)b->y + b->h > r->height)
		return -1;
	for (uint32_t y = 0; y < b->h; y++) {
		uint8_t *host = r->pixels + ((size_t)(b->y + y) * r->width + b->x) * bpp;
		uint64_t pos = offset + (uint64_t)y * stride;
		uint32_t done = 0;
		for (int i = 0; i < n && done < row; i++) {
			if (pos >= iov[i].iov_len) {
				pos -= iov[i].iov_len;
				continue;
			}
			size_t k = iov[i].iov_len - pos;
			if (k > row - done)
				k = row - done;
			if (write)
				memcpy(host + done, (uint8_t *)iov[i].iov_base + pos, k);
			else
				memcpy((uint8_t *)iov[i].iov_base + pos, host + done, k);
			done += (uint32_t)k;
			pos = 0;
		}
		if (done < row)
			return -1;
	}
	return 0;
}

EXPORT int
stream_renderer_transfer_read_iov(uint32_t id, uint32_t ctx, uint32_t level, uint32_t stride,
				  uint32_t layer_stride, struct box *b, uint64_t offset,
				  struct iovec *iov, int n)
{
	(void)layer_stride;
	pthread_mutex_lock(&fk.lock);
	logf_("transfer_read %u ctx=%u level=%u box=%u,%u %ux%u offset=%llu iov=%d", id, ctx, level,
	      b ? b->x : 0, b ? b->y : 0, b ? b->w : 0, b ? b->h : 0, (unsigned long long)offset,
	      iov ? n : -1);
	int ret = transfer(id, stride, b, offset, iov, n, false);
	pthread_mutex_unlock(&fk.lock);
	return ret;
}

EXPORT int
stream_renderer_transfer_write_iov(uint32_t id, uint32_t ctx, int level, uint32_t stride,
				   uint32_t layer_stride, struct box *b, uint64_t offset,
				   struct iovec *iov, unsigned n)
{
	(void)layer_stride;
	pthread_mutex_lock(&fk.lock);
	logf_("transfer_write %u ctx=%u level=%d box=%u,%u %ux%u offset=%llu", id, ctx, level,
	      b ? b->x : 0, b ? b->y : 0, b ? b->w : 0, b ? b->h : 0, (unsigned long long)offset);
	int ret = transfer(id, stride, b, offset, iov, (int)n, true);
	pthread_mutex_unlock(&fk.lock);
	return ret;
}

EXPORT int
stream_renderer_resource_attach_iov(int id, struct iovec *iov, int n)
{
	int ret = -1;

	pthread_mutex_lock(&fk.lock);
	logf_("attach_iov %d n=%d", id, n);
	struct res *r = find((uint32_t)id);
	if (r && !r->iov && n > 0) {
		r->iov = malloc((size_t)n * sizeof(*iov));
		if (r->iov) {
			memcpy(r->iov, iov, (size_t)n * sizeof(*iov));
			r->n_iov = n;
			ret = 0;
		}
	}
	pthread_mutex_unlock(&fk.lock);
	return ret;
}

EXPORT void
stream_renderer_resource_detach_iov(int id, struct iovec **iov, int *n)
{
	pthread_mutex_lock(&fk.lock);
	logf_("detach_iov %d", id);
	struct res *r = find((uint32_t)id);
	if (r) {
		free(r->iov);
		r->iov = NULL;
		r->n_iov = 0;
	}
	if (iov)
		*iov = NULL;
	if (n)
		*n = 0;
	pthread_mutex_unlock(&fk.lock);
}

EXPORT void
stream_renderer_ctx_attach_resource(int ctx, int id)
{
	pthread_mutex_lock(&fk.lock);
	logf_("ctx_attach %d %d", ctx, id);
	pthread_mutex_unlock(&fk.lock);
}

EXPORT void
stream_renderer_ctx_detach_resource(int ctx, int id)
{
	pthread_mutex_lock(&fk.lock);
	logf_("ctx_detach %d %d", ctx, id);
	pthread_mutex_unlock(&fk.lock);
}

EXPORT void
stream_renderer_get_cap_set(uint32_t set, uint32_t *max_ver, uint32_t *max_size)
{
	if (set == 3) {
		*max_ver = 1;
		*max_size = 104;
	} else if (set == 9) {
		*max_ver = 0;
		*max_size = 0;
	} /* 8 and anything else: untouched */
}

EXPORT void
stream_renderer_fill_caps(uint32_t set, uint32_t version, void *caps)
{
	pthread_mutex_lock(&fk.lock);
	logf_("fill_caps %u version=%u", set, version);
	pthread_mutex_unlock(&fk.lock);
	if (set == 3) {
		for (int i = 0; i < 104; i++)
			((uint8_t *)caps)[i] = (uint8_t)(i + 1);
	}
}

EXPORT int
stream_renderer_create_blob(uint32_t ctx, uint32_t id, const struct blob_args *b,
			    const struct iovec *iov, uint32_t n, const struct handle *h)
{
	pthread_mutex_lock(&fk.lock);
	logf_("create_blob %u ctx=%u mem=%u flags=%u blob_id=%llu size=%llu iov=%u handle=%d", id,
	      ctx, b->blob_mem, b->blob_flags, (unsigned long long)b->blob_id,
	      (unsigned long long)b->size, n, h != NULL);
	struct res *r = NULL;
	if (b->blob_id == 0xdead || b->size > (64u << 20))
		goto out; /* "succeeds" with nothing made */
	r = slot(id);
	if (!r)
		goto out;
	r->blob = true;
	r->size = (size_t)b->size;
	if (b->blob_mem == 2) { /* HOST3D */
		r->memfd = memfd_create("fake-blob", MFD_CLOEXEC);
		if (r->memfd < 0 || ftruncate(r->memfd, (off_t)r->size) < 0)
			goto fail;
		r->map = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd, 0);
		if (r->map == MAP_FAILED) {
			r->map = NULL;
			goto fail;
		}
		for (size_t i = 0; i < r->size; i++)
			((uint8_t *)r->map)[i] = (uint8_t)(b->blob_id + i);
		r->short_map = b->blob_id == 0x5a11;
	} else if (iov && n) {
		r->iov = malloc(n * sizeof(*iov));
		if (!r->iov)
			goto fail;
		memcpy(r->iov, iov, n * sizeof(*iov));
		r->n_iov = (int)n;
	}
	goto out;
fail:
	res_free(r);
out:
	pthread_mutex_unlock(&fk.lock);
	return 0; /* always, as the real one */
}

EXPORT int
stream_renderer_export_blob(uint32_t id, struct handle *h)
{
	int ret = -1;

	pthread_mutex_lock(&fk.lock);
	logf_("export_blob %u", id);
	struct res *r = find(id);
	if (r && r->memfd >= 0) {
		h->os_handle = dup(r->memfd);
		h->handle_type = 0x4; /* SHM */
		ret = h->os_handle >= 0 ? 0 : -1;
	}
	pthread_mutex_unlock(&fk.lock);
	return ret;
}

EXPORT int
stream_renderer_resource_map(uint32_t id, void **hva, uint64_t *size)
{
	int ret = -1;

	pthread_mutex_lock(&fk.lock);
	logf_("resource_map %u", id);
	struct res *r = find(id);
	if (r && r->map) {
		*hva = r->map;
		*size = r->short_map ? r->size / 2 : r->size;
		ret = 0;
	}
	pthread_mutex_unlock(&fk.lock);
	return ret;
}

EXPORT int
stream_renderer_resource_unmap(uint32_t id)
{
	pthread_mutex_lock(&fk.lock);
	logf_("resource_unmap %u", id);
	pthread_mutex_unlock(&fk.lock);
	return 0;
}

EXPORT int
stream_renderer_resource_map_info(uint32_t id, uint32_t *info)
{
	pthread_mutex_lock(&fk.lock);
	struct res *r = find(id);
	pthread_mutex_unlock(&fk.lock);
	if (!r || !r->map)
		return -1;
	*info = 0x3; /* VIRTIO_GPU_MAP_CACHE_WC */
	return 0;
}

EXPORT int
stream_renderer_vulkan_info(uint32_t id, void *info)
{
	(void)id;
	(void)info;
	return -1;
}
