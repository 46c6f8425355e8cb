/* SPDX-License-Identifier: MIT */
/*
 * The kohlrabi daemon driven through its real vhost-user socket by vud, the
 * test frontend: feature negotiation, config space, a 2D session whose
 * pixels must reach the display socket exactly, the cursor, device reset,
 * reconnection and the 3D backends (tests/hostile has the hostile-input
 * suite).  argv[1] is the daemon.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "vhost/vu_proto.h"
#include "vud.h"

#define OK   VIRTIO_GPU_RESP_OK_NODATA
#define WANT ((1ull << VIRTIO_GPU_F_EDID) | (1ull << VIRTIO_GPU_F_RESOURCE_UUID))

static char *daemon_path;

static struct vud *
start(uint64_t extra_features)
{
	char *argv[] = {daemon_path, "--socket-path", "{socket}", "--log-level", "error", NULL};
	struct vud *v = calloc(1, sizeof(*v));

	assert_non_null(v);
	assert_int_equal(vud_spawn(v, argv), 0);
	v->disp.mode_w = 1024;
	v->disp.mode_h = 768;
	assert_int_equal(vud_start(v, WANT | extra_features, 64), 0);
	return v;
}

static int
stop(struct vud *v)
{
	int status = vud_stop(v);

	free(v);
	return status;
}

static uint64_t
attach(struct vud *v, uint32_t id, uint32_t size)
{
	struct {
		struct virtio_gpu_resource_attach_backing a;
		struct virtio_gpu_mem_entry e[2];
	} req = {.a = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
		       .resource_id = id,
		       .nr_entries = 2}};
	uint64_t gpa = vud_alloc(v, size);
	uint32_t half = size / 2;

	assert_true(gpa != 0);
	req.e[0] = (struct virtio_gpu_mem_entry){gpa, half, 0};
	req.e[1] = (struct virtio_gpu_mem_entry){gpa + half, size - half, 0};
	assert_int_equal(vud_cmd(v, &req, sizeof(req)), OK);
	return gpa;
}

static uint32_t
transfer_flush(struct vud *v, uint32_t id, uint32_t w, uint32_t h, bool flush)
{
	struct virtio_gpu_transfer_to_host_2d t = {.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
						   .r = {0, 0, w, h},
						   .resource_id = id};
	struct virtio_gpu_resource_flush f = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH, .r = {0, 0, w, h}, .resource_id = id};
	uint32_t r = vud_cmd(v, &t, sizeof(t));

	return r == OK && flush ? vud_cmd(v, &f, sizeof(f)) : r;
}

static void
test_negotiation_and_config(void **state)
{
	struct vud *v = start(0);
	struct vu_config c = {.offset = 0, .size = 16};

	(void)state;
	assert_true(v->features & (1ull << VIRTIO_GPU_F_EDID));
	assert_false(v->features & (1ull << VIRTIO_GPU_F_VIRGL));
	assert_int_equal(
		vud_send_raw(v, VU_GET_CONFIG, VU_VERSION, &c, VU_CONFIG_HDR + 16, NULL, 0), 0);
	assert_int_equal(vud_recv_reply(v, VU_GET_CONFIG, &c, VU_CONFIG_HDR + 16), 0);
	struct virtio_gpu_config cfg;
	memcpy(&cfg, c.payload, sizeof(cfg));
	assert_int_equal(cfg.num_scanouts, 1);
	assert_int_equal(cfg.num_capsets, 0);
	/* GET_DISPLAY_INFO and GET_EDID follow the frontend's display. */
	struct virtio_gpu_ctrl_hdr q = {.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO};
	struct virtio_gpu_resp_display_info info;
	assert_int_equal(vud_request(v, 0, &q, sizeof(q), &info, sizeof(info), 5000), sizeof(info));
	assert_int_equal(info.hdr.type, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	assert_int_equal(info.pmodes[0].r.width, 1024);
	assert_int_equal(info.pmodes[0].r.height, 768);
	assert_int_equal(info.pmodes[0].enabled, 1);
	struct virtio_gpu_cmd_get_edid e = {.hdr.type = VIRTIO_GPU_CMD_GET_EDID};
	struct virtio_gpu_resp_edid er;
	assert_int_equal(vud_request(v, 0, &e, sizeof(e), &er, sizeof(er), 5000), sizeof(er));
	assert_int_equal(er.hdr.type, VIRTIO_GPU_RESP_OK_EDID);
	assert_int_equal(er.size, 128);
	assert_int_equal(er.edid[8], 0x48); /* the frontend's own EDID */
	assert_int_equal(stop(v), 0);	    /* clean disconnect: exit 0 */
}

static void
test_session_pixels(void **state)
{
	struct vud *v = start(0);
	const uint32_t w = 64, h = 48;

	(void)state;
	/* R8G8B8A8: bytes R, G, B, A; the frontend must get x8r8g8b8 words. */
	assert_int_equal(vud_create_2d(v, 1, VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, w, h), OK);
	uint64_t gpa = attach(v, 1, w * h * 4);
	uint8_t *px = vud_host(v, gpa);
	for (uint32_t i = 0; i < w * h; i++) {
		px[i * 4 + 0] = (uint8_t)i;	   /* R */
		px[i * 4 + 1] = (uint8_t)(i >> 3); /* G */
		px[i * 4 + 2] = (uint8_t)(i * 7);  /* B */
		px[i * 4 + 3] = 0x80;
	}
	assert_int_equal(transfer_flush(v, 1, w, h, false), OK);
	struct virtio_gpu_set_scanout s = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .r = {0, 0, w, h}, .resource_id = 1};
	assert_int_equal(vud_cmd(v, &s, sizeof(s)), OK);
	assert_int_equal(transfer_flush(v, 1, w, h, true), OK);
	uint32_t *want = calloc((size_t)w * h, 4);
	assert_non_null(want);
	for (uint32_t i = 0; i < w * h; i++)
		want[i] = (uint32_t)(uint8_t)i << 16 | (uint32_t)(uint8_t)(i >> 3) << 8 |
			  (uint8_t)(i * 7);
	assert_true(vud_wait_frame(v, want, w, h, 5000));
	free(want);
	pthread_mutex_lock(&v->disp.lock);
	assert_int_equal(v->disp.n_scanout, 1);
	pthread_mutex_unlock(&v->disp.lock);

	/* Cursor: a8r8g8b8 words reach the frontend, then moves and a hide. */
	assert_int_equal(vud_create_2d(v, 2, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64), OK);
	uint64_t cgpa = attach(v, 2, 64 * 64 * 4);
	uint32_t *cpx = vud_host(v, cgpa);
	for (uint32_t i = 0; i < 64 * 64; i++)
		cpx[i] = 0xff000000u | i * 977u;
	assert_int_equal(transfer_flush(v, 2, 64, 64, false), OK);
	struct virtio_gpu_update_cursor uc = {.hdr.type = VIRTIO_GPU_CMD_UPDATE_CURSOR,
					      .pos = {0, 100, 200, 0},
					      .resource_id = 2,
					      .hot_x = 3,
					      .hot_y = 4};
	assert_int_equal(vud_request(v, 1, &uc, sizeof(uc), NULL, 0, 5000), 0);
	uc.hdr.type = VIRTIO_GPU_CMD_MOVE_CURSOR;
	uc.pos.x = 150;
	assert_int_equal(vud_request(v, 1, &uc, sizeof(uc), NULL, 0, 5000), 0);
	/* Moves to where it already is (weston's every frame) reach no one;
	   one elsewhere does. */
	assert_int_equal(vud_request(v, 1, &uc, sizeof(uc), NULL, 0, 5000), 0);
	assert_int_equal(vud_request(v, 1, &uc, sizeof(uc), NULL, 0, 5000), 0);
	uc.pos.x = 160;
	assert_int_equal(vud_request(v, 1, &uc, sizeof(uc), NULL, 0, 5000), 0);
	uc.hdr.type = VIRTIO_GPU_CMD_UPDATE_CURSOR;
	uc.resource_id = 0;
	assert_int_equal(vud_request(v, 1, &uc, sizeof(uc), NULL, 0, 5000), 0);
	/* The display thread may still be reading: wait for the hide. */
	vud_wait_count(v, &v->disp.n_cursor_hide, 1, 5000);
	pthread_mutex_lock(&v->disp.lock);
	assert_int_equal(v->disp.n_cursor_update, 1);
	assert_int_equal(v->disp.n_cursor_pos, 2);
	assert_int_equal(v->disp.cursor_x, 160);
	assert_int_equal(v->disp.n_cursor_hide, 1);
	assert_int_equal(v->disp.cursor_hot_x, 3);
	assert_int_equal(v->disp.cursor_hot_y, 4);
	assert_memory_equal(v->disp.cursor, cpx, 64 * 64 * 4);
	pthread_mutex_unlock(&v->disp.lock);
	assert_int_equal(stop(v), 0);
}

/* The driver reset: rings stopped, then started again from index 0. */
static void
test_device_reset(void **state)
{
	struct vud *v = start(0);

	(void)state;
	assert_int_equal(vud_create_2d(v, 5, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 16, 16), OK);
	assert_int_equal(vud_create_2d(v, 5, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 16, 16),
			 VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
	uint32_t reached = 99;
	assert_int_equal(vud_stop_queue(v, 0, &reached), 0);
	assert_int_equal(reached, 2); /* requests consumed */
	assert_int_equal(vud_stop_queue(v, 1, &reached), 0);
	assert_int_equal(reached, 0);
	/* Restart both rings from 0, as a rebooted guest does. */
	for (uint32_t q = 0; q < 2; q++) {
		struct vud_ring *r = &v->q[q];
		struct vu_vring_state num = {q, VUD_QUEUE_SIZE}, base = {q, 0}, en = {q, 1};
		struct vu_vring_addr addr = {.index = q,
					     .desc = (uintptr_t)vud_host(v, r->desc_gpa),
					     .used = (uintptr_t)vud_host(v, r->used_gpa),
					     .avail = (uintptr_t)vud_host(v, r->avail_gpa)};
		uint64_t idx = q;
		memset(vud_host(v, r->desc_gpa), 0, 4096);
		r->avail_idx = r->used_seen = 0;
		assert_int_equal(vud_send_raw(v, VU_SET_VRING_NUM, VU_VERSION, &num, 8, NULL, 0),
				 0);
		assert_int_equal(vud_send_raw(v, VU_SET_VRING_BASE, VU_VERSION, &base, 8, NULL, 0),
				 0);
		assert_int_equal(vud_send_raw(v, VU_SET_VRING_ADDR, VU_VERSION, &addr, sizeof(addr),
					      NULL, 0),
				 0);
		assert_int_equal(
			vud_send_raw(v, VU_SET_VRING_CALL, VU_VERSION, &idx, 8, &r->call, 1), 0);
		assert_int_equal(
			vud_send_raw(v, VU_SET_VRING_KICK, VU_VERSION, &idx, 8, &r->kick, 1), 0);
		assert_int_equal(vud_send_raw(v, VU_SET_VRING_ENABLE, VU_VERSION, &en, 8, NULL, 0),
				 0);
	}
	/* Everything was freed: the id is free again. */
	assert_int_equal(vud_create_2d(v, 5, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 16, 16), OK);
	assert_int_equal(stop(v), 0);
}

/*
 * The display never holds up the guest: with the frontend not reading at
 * all, full-frame transfers and flushes still complete; updates are merged
 * (fewer than flushes), and once the frontend reads again it ends up with the
 * last flushed frame exactly.
 */
static void
test_display_decoupled(void **state)
{
	struct vud *v = start(0);
	const uint32_t w = 1280, h = 800, frames = 40;

	(void)state;
	assert_int_equal(vud_create_2d(v, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, w, h), OK);
	uint64_t gpa = attach(v, 1, w * h * 4);
	uint32_t *px = vud_host(v, gpa);
	struct virtio_gpu_set_scanout s = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .r = {0, 0, w, h}, .resource_id = 1};
	assert_int_equal(vud_cmd(v, &s, sizeof(s)), OK);
	vud_pause_display(v, true);
	for (uint32_t f = 0; f < frames; f++) {
		for (uint32_t i = 0; i < w * h; i += 97)
			px[i] = f * 0x010203u + i;
		/* vud_cmd fails the test after 5 s without an answer. */
		assert_int_equal(transfer_flush(v, 1, w, h, true), OK);
	}
	uint32_t *want = malloc((size_t)w * h * 4);
	assert_non_null(want);
	memcpy(want, px, (size_t)w * h * 4);
	vud_pause_display(v, false);
	assert_true(vud_wait_frame(v, want, w, h, 10000));
	pthread_mutex_lock(&v->disp.lock);
	unsigned updates = v->disp.n_update;
	pthread_mutex_unlock(&v->disp.lock);
	assert_true(updates >= 1 && updates < frames);
	free(want);
	assert_int_equal(stop(v), 0);
}

/* --reconnect: the daemon serves one frontend after another. */
static void
test_reconnect(void **state)
{
	char *argv[] = {daemon_path,   "--socket-path", "{socket}", "--reconnect",
			"--log-level", "error",		NULL};
	struct vud *v = calloc(1, sizeof(*v));

	(void)state;
	assert_non_null(v);
	assert_int_equal(vud_spawn(v, argv), 0);
	assert_int_equal(vud_start(v, WANT, 16), 0);
	assert_int_equal(vud_create_2d(v, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8), OK);
	for (int round = 0; round < 2; round++) {
		/* Hang up; a new frontend finds a fresh device. */
		assert_int_equal(vud_reconnect(v), 0);
		assert_int_equal(vud_start(v, WANT, 16), 0);
		assert_int_equal(vud_create_2d(v, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8), OK);
	}
	/* Still running after the disconnects: stop it with SIGTERM. */
	kill(v->child, SIGTERM);
	assert_int_equal(stop(v), 0);
}

/* A frontend process that dies without stopping its backend (a failed
   assertion, a killed benchmark): the --reconnect daemon it started, which
   would otherwise serve on and hold the test runner's stdout, dies too. */
static void
test_backend_dies_with_frontend(void **state)
{
	char *argv[] = {daemon_path,   "--socket-path", "{socket}", "--reconnect",
			"--log-level", "error",		NULL};
	int p[2];
	pid_t daemon = 0;

	(void)state;
	assert_int_equal(pipe(p), 0);
	pid_t fe = fork();
	assert_true(fe >= 0);
	if (fe == 0) {
		struct vud v;
		close(p[0]);
		if (vud_spawn(&v, argv) != 0 || vud_start(&v, WANT, 16) != 0 ||
		    write(p[1], &v.child, sizeof(v.child)) != sizeof(v.child))
			_exit(1);
		_exit(0); /* no vud_stop */
	}
	close(p[1]);
	assert_int_equal(read(p[0], &daemon, sizeof(daemon)), sizeof(daemon));
	close(p[0]);
	int status;
	assert_int_equal(waitpid(fe, &status, 0), fe);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Gone (or a zombie of whoever adopted it) within 10 s. */
	bool gone = false;
	for (int i = 0; i < 1000 && !gone; i++) {
		char path[64], st = 0;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)daemon);
		FILE *f = fopen(path, "r");
		gone = !f || (fscanf(f, "%*d %*s %c", &st) == 1 && st == 'Z');
		if (f)
			fclose(f);
		if (!gone)
			usleep(10000);
	}
	if (!gone)
		kill(daemon, SIGKILL);
	assert_true(gone);
}

#if KR_HAVE_VIRGL
/* --backend=virgl through the socket: VIRGL offered, capsets, a context, and
   fenced commands completed by the daemon's fence polling. */
static void
test_virgl_backend(void **state)
{
	char *argv[] = {daemon_path,   "--socket-path", "{socket}", "--backend=virgl",
			"--log-level", "error",		NULL};
	struct vud *v = calloc(1, sizeof(*v));

	(void)state;
	assert_non_null(v);
	/* Mesa unloads its driver at exit, leaving its allocations nameless to
	   LeakSanitizer: the daemon's leak check is off here (the in-process
	   virgl unit test keeps Mesa loaded and checks with suppressions). */
	char *saved = getenv("ASAN_OPTIONS") ? strdup(getenv("ASAN_OPTIONS")) : NULL;
	setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
	assert_int_equal(vud_spawn(v, argv), 0);
	if (saved) {
		setenv("ASAN_OPTIONS", saved, 1);
		free(saved);
	} else {
		unsetenv("ASAN_OPTIONS");
	}
	assert_int_equal(vud_start(v, WANT | (1ull << VIRTIO_GPU_F_VIRGL), 64), 0);
	assert_true(v->features & (1ull << VIRTIO_GPU_F_VIRGL));
	struct virtio_gpu_get_capset_info ci = {.hdr.type = VIRTIO_GPU_CMD_GET_CAPSET_INFO,
						.capset_index = 1};
	struct virtio_gpu_resp_capset_info cr;
	assert_int_equal(vud_request(v, 0, &ci, sizeof(ci), &cr, sizeof(cr), 5000), sizeof(cr));
	assert_int_equal(cr.hdr.type, VIRTIO_GPU_RESP_OK_CAPSET_INFO);
	assert_int_equal(cr.capset_id, VIRTIO_GPU_CAPSET_VIRGL2);
	struct virtio_gpu_ctx_create cc = {.hdr = {.type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = 1},
					   .nlen = 4,
					   .debug_name = "test"};
	assert_int_equal(vud_cmd(v, &cc, sizeof(cc)), OK);
	for (uint64_t f = 1; f <= 20; f++) {
		struct virtio_gpu_ctrl_hdr q = {.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO,
						.flags = VIRTIO_GPU_FLAG_FENCE,
						.fence_id = f,
						.ctx_id = 1};
		struct virtio_gpu_resp_display_info r;
		assert_int_equal(vud_request(v, 0, &q, sizeof(q), &r, sizeof(r), 5000), sizeof(r));
		assert_int_equal(r.hdr.type, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
		assert_int_equal(r.hdr.fence_id, f);
		assert_int_equal(r.hdr.flags, VIRTIO_GPU_FLAG_FENCE);
	}
	assert_int_equal(stop(v), 0);
}
#endif

/* ---- gfxstream through the socket, with the host-visible region ---- */

#define GS_FEATURES                                                                                \
	((1ull << VIRTIO_GPU_F_VIRGL) | (1ull << VIRTIO_GPU_F_RESOURCE_BLOB) |                     \
	 (1ull << VIRTIO_GPU_F_CONTEXT_INIT))

static struct vud *
gs_start(const char *lib, const char *daemon_bit, int frontend_bit, const char *window)
{
	char winopt[64];
	snprintf(winopt, sizeof(winopt), "--hostmem-window=%s", window);
	char libopt[512];
	snprintf(libopt, sizeof(libopt), "--gfxstream-lib=%s", lib);
	char bitopt[64];
	snprintf(bitopt, sizeof(bitopt), "--shmem-protocol-bit=%s", daemon_bit);
	char *argv[] = {daemon_path, "--socket-path",
			"{socket}",  "--backend=gfxstream",
			libopt,	     bitopt,
			winopt,	     "--log-level",
			"error",     NULL};
	struct vud *v = calloc(1, sizeof(*v));

	assert_non_null(v);
	assert_int_equal(vud_spawn(v, argv), 0);
	v->want_shmem = frontend_bit >= 0;
	v->shmem_bit = frontend_bit >= 0 ? (unsigned)frontend_bit : 0;
	assert_int_equal(vud_start(v, WANT | GS_FEATURES, 64), 0);
	return v;
}

static uint32_t
gs_map(struct vud *v, uint32_t id, uint64_t offset, uint32_t *info)
{
	struct virtio_gpu_resource_map_blob m = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB, .resource_id = id, .offset = offset};
	struct virtio_gpu_resp_map_info r = {0};
	int n = vud_request(v, 0, &m, sizeof(m), &r, sizeof(r), 5000);
	assert_true(n >= (int)sizeof(r.hdr));
	if (info)
		*info = r.map_info;
	return r.hdr.type;
}

/* Fenced no-ops on rings 0 and 1 of ctx: both must come back, fences echoed. */
static void
gs_ring_fences(struct vud *v, uint32_t ctx)
{
	for (uint8_t ring = 0; ring < 2; ring++) {
		struct virtio_gpu_ctrl_hdr q = {.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO,
						.flags = VIRTIO_GPU_FLAG_FENCE |
							 VIRTIO_GPU_FLAG_INFO_RING_IDX,
						.fence_id = 40 + ring,
						.ctx_id = ctx,
						.ring_idx = ring};
		struct virtio_gpu_resp_display_info r;
		assert_int_equal(vud_request(v, 0, &q, sizeof(q), &r, sizeof(r), 5000), sizeof(r));
		assert_int_equal(r.hdr.type, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
		assert_int_equal(r.hdr.fence_id, 40 + ring);
		assert_int_equal(r.hdr.ring_idx, ring);
		assert_int_equal(r.hdr.flags,
				 VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX);
	}
}

static void
test_gfxstream_shmem(void **state)
{
	(void)state;
	/* The same protocol-feature bit on both sides (rust-vmm's 21 here). */
	struct vud *v = gs_start(FAKE_GS_PATH, "21", 21, "1M");
	uint32_t info = 0;
	assert_true(v->features & (1ull << VIRTIO_GPU_F_CONTEXT_INIT));
	assert_true(v->features & (1ull << VIRTIO_GPU_F_RESOURCE_BLOB));
	assert_int_equal(v->shmem_size, 1 << 20);
	assert_int_equal(vud_ctx_create(v, 1, 3), OK);
	assert_int_equal(vud_blob_host3d(v, 1, 10, 7, 8192), OK);
	assert_int_equal(gs_map(v, 10, 0x3000, &info), VIRTIO_GPU_RESP_OK_MAP_INFO);
	assert_int_equal(info, VIRTIO_GPU_MAP_CACHE_WC);
	assert_int_equal(__atomic_load_n(&v->n_shmem_map, __ATOMIC_ACQUIRE), 1);
	/* The frontend's region now shows the blob's bytes (7 + i), and writes
	   through it reach the same memory. */
	for (int i = 0; i < 8192; i++)
		assert_int_equal(v->shmem[0x3000 + i], (uint8_t)(7 + i));
	/* Hostile offsets never reach the frontend. */
	assert_int_equal(vud_blob_host3d(v, 1, 11, 9, 4096), OK);
	assert_int_equal(gs_map(v, 11, 0x4000, NULL), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gs_map(v, 11, 1 << 20, NULL), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	assert_int_equal(gs_map(v, 11, 0x1001, NULL), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
	/* A frontend that refuses: the guest gets an error; the device lives. */
	__atomic_store_n(&v->shmem_refuse, true, __ATOMIC_RELEASE);
	assert_int_equal(gs_map(v, 11, 0x8000, NULL), VIRTIO_GPU_RESP_ERR_UNSPEC);
	assert_int_equal(__atomic_load_n(&v->n_shmem_refused, __ATOMIC_ACQUIRE), 1);
	__atomic_store_n(&v->shmem_refuse, false, __ATOMIC_RELEASE);
	assert_int_equal(gs_map(v, 11, 0x8000, NULL), VIRTIO_GPU_RESP_OK_MAP_INFO);
	struct virtio_gpu_resource_unmap_blob um = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB,
						    .resource_id = 10};
	assert_int_equal(vud_cmd(v, &um, sizeof(um)), OK);
	assert_int_equal(__atomic_load_n(&v->n_shmem_unmap, __ATOMIC_ACQUIRE), 1);
	/* Unref of a mapped blob unmaps it in the frontend too. */
	struct virtio_gpu_resource_unref ur = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF,
					       .resource_id = 11};
	assert_int_equal(vud_cmd(v, &ur, sizeof(ur)), OK);
	assert_int_equal(__atomic_load_n(&v->n_shmem_unmap, __ATOMIC_ACQUIRE), 2);
	gs_ring_fences(v, 1);
	assert_int_equal(stop(v), 0);

	/* Bits that differ: no region is negotiated, MAP_BLOB fails cleanly. */
	v = gs_start(FAKE_GS_PATH, "20", 22, "1M");
	assert_null(v->shmem);
	assert_int_equal(vud_ctx_create(v, 1, 3), OK);
	assert_int_equal(vud_blob_host3d(v, 1, 10, 7, 8192), OK);
	assert_int_equal(gs_map(v, 10, 0, NULL), VIRTIO_GPU_RESP_ERR_UNSPEC);
	gs_ring_fences(v, 1);
	assert_int_equal(stop(v), 0);
}

/* GFXSTREAM_CONTEXT_CREATE: binds a context to its ring blob. */
struct gs_context_create {
	uint32_t op;
	uint32_t resource_id;
};

/* The real library, when KOHLRABI_GFXSTREAM_LIB names one (skipped otherwise). */
static void
test_gfxstream_real(void **state)
{
	const char *lib = getenv("KOHLRABI_GFXSTREAM_LIB");

	(void)state;
	struct vud *v = gs_start(lib, "20", 20, "64M");
	struct virtio_gpu_get_capset_info ci = {.hdr.type = VIRTIO_GPU_CMD_GET_CAPSET_INFO};
	struct virtio_gpu_resp_capset_info cr;
	uint32_t size = 0;
	for (ci.capset_index = 0; ci.capset_index < 3; ci.capset_index++) {
		assert_int_equal(vud_request(v, 0, &ci, sizeof(ci), &cr, sizeof(cr), 5000),
				 sizeof(cr));
		if (cr.capset_id == 3)
			size = cr.capset_max_size;
	}
	printf("# capset 3 (GFXSTREAM_VULKAN): %u bytes\n", size);
	assert_true(size > 0 && size <= 4096);
	struct virtio_gpu_get_capset gc = {
		.hdr.type = VIRTIO_GPU_CMD_GET_CAPSET, .capset_id = 3, .capset_version = 0};
	uint8_t *caps = calloc(1, sizeof(struct virtio_gpu_ctrl_hdr) + size);
	assert_non_null(caps);
	assert_int_equal(vud_request(v, 0, &gc, sizeof(gc), caps,
				     sizeof(struct virtio_gpu_ctrl_hdr) + size, 5000),
			 (int)(sizeof(struct virtio_gpu_ctrl_hdr) + size));
	assert_int_equal(((struct virtio_gpu_ctrl_hdr *)caps)->type, VIRTIO_GPU_RESP_OK_CAPSET);
	free(caps);
	assert_int_equal(vud_ctx_create(v, 1, 3), OK);
	/* The ring blob (blob_id 0 of a Vulkan context), mapped through us. */
	assert_int_equal(vud_blob_host3d(v, 1, 10, 0, 16 << 20), OK);
	uint32_t info = 0;
	assert_int_equal(gs_map(v, 10, 0, &info), VIRTIO_GPU_RESP_OK_MAP_INFO);
	printf("# ring blob mapped: map_info 0x%x, frontend maps %u\n", info,
	       __atomic_load_n(&v->n_shmem_map, __ATOMIC_ACQUIRE));
	struct {
		struct virtio_gpu_cmd_submit q;
		struct gs_context_create c;
	} s = {.q = {.hdr = {.type = VIRTIO_GPU_CMD_SUBMIT_3D, .ctx_id = 1}, .size = 8},
	       .c = {0x1001, 10}};
	assert_int_equal(vud_cmd(v, &s, sizeof(s)), OK);
	gs_ring_fences(v, 1);
	printf("# fences on rings 0 and 1 signalled\n");
	assert_int_equal(stop(v), 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_negotiation_and_config),
		cmocka_unit_test(test_session_pixels),
		cmocka_unit_test(test_device_reset),
		cmocka_unit_test(test_reconnect),
		cmocka_unit_test(test_backend_dies_with_frontend),
		cmocka_unit_test(test_display_decoupled),
		cmocka_unit_test(test_gfxstream_shmem),
#if KR_HAVE_VIRGL
		cmocka_unit_test(test_virgl_backend),
#endif
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-KOHLRABI\n", argv[0]);
		return 2;
	}
	daemon_path = argv[1];
	int ret = cmocka_run_group_tests_name("vhost", tests, NULL, NULL);
	/* The real gfxstream library runs only when one is named. */
	const char *lib = getenv("KOHLRABI_GFXSTREAM_LIB");
	if (!lib || !*lib) {
		printf("# KOHLRABI_GFXSTREAM_LIB not set: real-library test not run\n");
		return ret;
	}
	const struct CMUnitTest real[] = {cmocka_unit_test(test_gfxstream_real)};
	return ret | cmocka_run_group_tests_name("vhost-gfxstream-real", real, NULL, NULL);
}
