/* SPDX-License-Identifier: MIT */
/*
 * A hostile guest program for the blob, map and ring commands: run in a real
 * guest (chrooted into the trixie root over 9p) on kohlrabi through QEMU
 * 11.1's generic vhost-user device.  It talks to the virtio-gpu kernel driver
 * directly (DRM ioctls, no Mesa), so what reaches the device is what it
 * chose: blobs that name no host memory, more host memory than the device
 * allows, garbage on a ring, odd-sized submissions, map/unmap churn.
 *
 *   virtgpu_hostile [RENDER_NODE]
 *
 * Each case runs in a child (a fresh DRM file, so a fresh context) and
 * prints "case NAME: ok|FAIL detail"; the last line is "HOSTILE passed=N
 * failed=N".  Exit 0 when every case got what a correct device answers:
 * refusals where the device must refuse, fences that retire, memory that
 * reads back what was written.  Whether the device survived is the caller's
 * to check (it runs a real program afterwards).
 */
#include <drm/drm.h>
#include <drm/virtgpu_drm.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAPSET_VIRGL2 2
#define CAPSET_VENUS  4
#define MIB	      (1024ull * 1024)

static const char *node = "/dev/dri/renderD128";

static int
ioc(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && (errno == EINTR || errno == EAGAIN));
	return r < 0 ? -errno : 0;
}

/* A fresh DRM file with a context of capset (num_rings rings). */
static int
open_ctx(uint32_t capset, uint32_t rings)
{
	struct drm_virtgpu_context_set_param p[2] = {
		{VIRTGPU_CONTEXT_PARAM_CAPSET_ID, capset},
		{VIRTGPU_CONTEXT_PARAM_NUM_RINGS, rings},
	};
	struct drm_virtgpu_context_init init = {.num_params = 2, .ctx_set_params = (uintptr_t)p};
	int fd = open(node, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	int r = ioc(fd, DRM_IOCTL_VIRTGPU_CONTEXT_INIT, &init);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

static int
blob(int fd, uint32_t mem, uint64_t size, uint64_t blob_id, uint32_t *handle)
{
	struct drm_virtgpu_resource_create_blob b = {
		.blob_mem = mem,
		.blob_flags = VIRTGPU_BLOB_FLAG_USE_MAPPABLE,
		.size = size,
		.blob_id = blob_id,
	};
	int r = ioc(fd, DRM_IOCTL_VIRTGPU_RESOURCE_CREATE_BLOB, &b);

	*handle = b.bo_handle;
	return r;
}

/* Map a blob into this process: MAP_BLOB on the device, then mmap. */
static int
map(int fd, uint32_t handle, size_t size, uint8_t **out)
{
	struct drm_virtgpu_map m = {.handle = handle};
	int r = ioc(fd, DRM_IOCTL_VIRTGPU_MAP, &m);

	if (r < 0)
		return r;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)m.offset);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

static void
close_bo(int fd, uint32_t handle)
{
	struct drm_gem_close c = {.handle = handle};

	ioc(fd, DRM_IOCTL_GEM_CLOSE, &c);
}

/* Submit cmd on ring (or the context's default timeline when ring < 0);
   0 when its fence retired within 30 s. */
static int
submit_wait(int fd, const void *cmd, uint32_t size, int ring)
{
	struct drm_virtgpu_execbuffer e = {
		.flags = VIRTGPU_EXECBUF_FENCE_FD_OUT | (ring >= 0 ? VIRTGPU_EXECBUF_RING_IDX : 0),
		.size = size,
		.command = (uintptr_t)cmd,
		.fence_fd = -1,
		.ring_idx = ring >= 0 ? (uint32_t)ring : 0,
	};
	int r = ioc(fd, DRM_IOCTL_VIRTGPU_EXECBUFFER, &e);

	if (r < 0)
		return r;
	struct pollfd p = {.fd = e.fence_fd, .events = POLLIN};
	r = poll(&p, 1, 30000);
	close(e.fence_fd);
	return r == 1 ? 0 : -ETIMEDOUT;
}

/* A blob that names no host memory: the device refuses it, so its mapping
   fails (the kernel waits for MAP_BLOB's answer). */
static bool
case_bogus_blob(char *why, size_t n)
{
	uint32_t h = 0;
	uint8_t *p = NULL;
	int fd = open_ctx(CAPSET_VENUS, 2), r;

	if (fd < 0)
		return snprintf(why, n, "context: %d", fd), false;
	r = blob(fd, VIRTGPU_BLOB_MEM_HOST3D, MIB, 0xdeadbeefull, &h);
	if (r == 0)
		r = map(fd, h, MIB, &p);
	snprintf(why, n, "create+map: %d", r);
	return r < 0;
}

/* More host memory than the device allows (kohlrabi's --max-hostmem, 256
   MiB by default) in 16 MiB blobs: the ones past the budget are refused,
   and the budget comes back when they are freed. */
static bool
case_budget(char *why, size_t n)
{
	enum { COUNT = 24 };
	uint32_t h[COUNT] = {0};
	uint8_t *p = NULL;
	int fd = open_ctx(CAPSET_VENUS, 2), first, last, again;

	if (fd < 0)
		return snprintf(why, n, "context: %d", fd), false;
	for (int i = 0; i < COUNT; i++)
		blob(fd, VIRTGPU_BLOB_MEM_HOST3D, 16 * MIB, 0, &h[i]);
	first = map(fd, h[0], 16 * MIB, &p);
	if (first == 0)
		munmap(p, 16 * MIB);
	last = map(fd, h[COUNT - 1], 16 * MIB, &p);
	if (last == 0)
		munmap(p, 16 * MIB);
	for (int i = 1; i < COUNT; i++)
		close_bo(fd, h[i]);
	/* The kernel frees window space when the device has answered the
	   unmaps: a few tries. */
	again = -EAGAIN;
	for (int t = 0; t < 50 && again < 0; t++) {
		if (t)
			usleep(100 * 1000);
		if (blob(fd, VIRTGPU_BLOB_MEM_HOST3D, 16 * MIB, 0, &h[1]) == 0)
			again = map(fd, h[1], 16 * MIB, &p);
	}
	snprintf(why, n, "first %d, blob %d (%llu MiB in all) %d, after freeing %d", first, COUNT,
		 (unsigned long long)COUNT * 16, last, again);
	return first == 0 && last < 0 && again == 0;
}

/* Garbage on a ring, an odd-sized submission, garbage on a GL context: the
   device answers each and its fence retires. */
static bool
case_garbage(char *why, size_t n)
{
	static uint32_t junk[1024];
	uint32_t x = 0x12345678;
	int fd = open_ctx(CAPSET_VENUS, 2), gl = open_ctx(CAPSET_VIRGL2, 1);

	if (fd < 0 || gl < 0)
		return snprintf(why, n, "contexts: %d %d", fd, gl), false;
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		junk[i] = x = x * 1103515245u + 12345u;
	int ring = submit_wait(fd, junk, sizeof(junk), 1);
	int odd = submit_wait(fd, junk, 3, 0);
	int big_ring = submit_wait(fd, junk, 4, 7); /* the kernel refuses a ring it has not */
	int glr = submit_wait(gl, junk, sizeof(junk), -1);
	snprintf(why, n, "ring 1: %d, 3 bytes: %d, ring 7: %d, GL: %d", ring, odd, big_ring, glr);
	return ring == 0 && odd == 0 && big_ring == -EINVAL && glr == 0;
}

/* Map, write, read back, unmap, free: 200 times (each map is a SHMEM_MAP,
   each unmap a SHMEM_UNMAP, each a new memory table in QEMU). */
static bool
case_churn(char *why, size_t n)
{
	int fd = open_ctx(CAPSET_VENUS, 2), bad = 0, i;
	uint32_t h = 0;
	uint8_t *p = NULL;

	if (fd < 0)
		return snprintf(why, n, "context: %d", fd), false;
	for (i = 0; i < 200 && !bad; i++) {
		size_t size = (size_t)(1 + i % 16) * 4096;
		int r = blob(fd, VIRTGPU_BLOB_MEM_HOST3D, size, 0, &h);
		if (r == 0)
			r = map(fd, h, size, &p);
		if (r < 0) {
			bad = r;
			break;
		}
		memset(p, i & 0xff, size);
		for (size_t k = 0; k < size && !bad; k += 997)
			if (p[k] != (i & 0xff)) {
				snprintf(why, n,
					 "round %d (%zu bytes): byte %zu reads %u, wrote %u; ", i,
					 size, k, p[k], i & 0xff);
				bad = -EIO;
			}
		munmap(p, size);
		close_bo(fd, h);
	}
	snprintf(why + strlen(why), n - strlen(why), "%d rounds, %d", i, bad);
	return bad == 0 && i == 200;
}

/* Close the blob while it is still mapped, then use the mapping: the memory
   stays until munmap (the kernel holds the object), the device is not
   asked to unmap what the guest still maps. */
static bool
case_close_mapped(char *why, size_t n)
{
	int fd = open_ctx(CAPSET_VENUS, 2), r;
	uint32_t h = 0;
	uint8_t *p = NULL;

	if (fd < 0)
		return snprintf(why, n, "context: %d", fd), false;
	r = blob(fd, VIRTGPU_BLOB_MEM_HOST3D, 8192, 0, &h);
	if (r == 0)
		r = map(fd, h, 8192, &p);
	if (r < 0)
		return snprintf(why, n, "create+map: %d", r), false;
	close_bo(fd, h);
	memset(p, 0x5a, 8192);
	bool same = p[0] == 0x5a && p[8191] == 0x5a;
	munmap(p, 8192);
	close(fd);
	snprintf(why, n, "read back %s", same ? "equal" : "different");
	return same;
}

static const struct {
	const char *name;
	bool (*run)(char *why, size_t n);
} cases[] = {
	{"bogus-blob-id", case_bogus_blob},  {"budget", case_budget},
	{"garbage", case_garbage},	     {"map-churn", case_churn},
	{"close-mapped", case_close_mapped},
};

int
main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	if (argc > 1)
		node = argv[1];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int pipefd[2], status = 0;
		char why[256] = "";
		if (pipe(pipefd) < 0)
			return 1;
		pid_t pid = fork();
		if (pid == 0) {
			close(pipefd[0]);
			bool ok = cases[i].run(why, sizeof(why));
			if (write(pipefd[1], why, strlen(why)) < 0)
				_exit(2);
			_exit(ok ? 0 : 1);
		}
		close(pipefd[1]);
		ssize_t got = read(pipefd[0], why, sizeof(why) - 1);
		why[got > 0 ? got : 0] = '\0';
		close(pipefd[0]);
		waitpid(pid, &status, 0);
		bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
		if (WIFSIGNALED(status))
			snprintf(why + strlen(why), sizeof(why) - strlen(why), " (signal %d)",
				 WTERMSIG(status));
		printf("case %s: %s %s\n", cases[i].name, ok ? "ok" : "FAIL", why);
		fflush(stdout);
		ok ? passed++ : failed++;
	}
	printf("HOSTILE passed=%d failed=%d\n", passed, failed);
	return failed ? 1 : 0;
}
