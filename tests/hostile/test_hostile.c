/* SPDX-License-Identifier: MIT */
/*
 * The hostile-input suite: the kohlrabi daemon, through its real vhost-user
 * socket and real shared memory (vud plays the frontend and the guest
 * driver), fed one malformed or abusive input per test.  Each test asserts
 * the exact outcome -- the response type, or the connection dropped, or the
 * queue stopped -- and then that the daemon still serves: a fresh frontend
 * (the daemon runs with --reconnect) or the same one gets answers, the
 * daemon holds exactly the fds it held before, and it exits cleanly on
 * SIGTERM (in the sanitizer build that exit runs LeakSanitizer: a leak
 * fails the test).  argv[1] is the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "vhost/vu_proto.h"
#include "vud.h"

#define OK	  VIRTIO_GPU_RESP_OK_NODATA
#define UNSPEC	  VIRTIO_GPU_RESP_ERR_UNSPEC
#define OOM	  VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY
#define BAD_SCAN  VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID
#define BAD_RES	  VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID
#define BAD_CTX	  VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID
#define BAD_PARAM VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER
#define XRGB	  VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM
#define F(bit)	  (1ull << VIRTIO_GPU_F_##bit)
#define ALL_2D	  (F(EDID) | F(RESOURCE_UUID) | F(RESOURCE_BLOB))
#define GS	  (F(VIRGL) | F(RESOURCE_BLOB) | F(CONTEXT_INIT))
#define MEM_MB	  64
#define MAX_ARGS  16
#define MAP_INFO  VIRTIO_GPU_RESP_OK_MAP_INFO
/* Bounds on waits that end at once when all is well (an exit after
   SIGTERM; a whole test): generous, since only a failure reaches them. */
#define EXIT_MS	  30000
#define TEST_SECS 180
/* What the daemon says (at error level) once it gave up on a ring. */
#define BROKE_RING "queue 0: the driver broke the ring"

static char *daemon_path;
static uint64_t g_want; /* features of the current test's frontend */
static long g_fds;	/* the daemon's open fds with one frontend set up */
/* The current test's daemon and frontend until the test ends it (owned
   by the test; reap() ends it when a failed assertion left it behind). */
static struct vud *g_live;
static volatile sig_atomic_t g_live_child;

/* A test that fails leaves its daemon running: end it here, so that the
   next test starts clean. */
static int
reap(void **state)
{
	(void)state;
	alarm(0);
	if (g_live) {
		if (g_live->child > 0 && !g_live->stopped)
			kill(g_live->child, SIGKILL);
		vud_stop(g_live); /* does nothing if the test stopped it */
		free(g_live);
		g_live = NULL;
	}
	g_live_child = 0;
	return 0;
}

/* A test still running after TEST_SECS: say which one (cmocka's state
   holds its name) and end it and its daemon, rather than hang the suite. */
static const char *g_test_name;

static void
on_alarm(int sig)
{
	static const char msg[] = "hostile: still running after the test's limit: ";

	(void)sig;
	if (g_live_child > 0)
		kill(g_live_child, SIGKILL);
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) > 0 &&
	    write(STDERR_FILENO, g_test_name, strlen(g_test_name)) > 0)
		(void)!write(STDERR_FILENO, "\n", 1);
	_exit(3);
}

static int
arm(void **state)
{
	g_test_name = *state;
	alarm(TEST_SECS);
	return 0;
}

/* Every test: its name as its state, a watchdog, and its daemon reaped. */
#define T(f) cmocka_unit_test_prestate_setup_teardown(f, arm, reap, (void *)#f)

/* A request answered by a bare header: assert its type and length. */
static void
expect(struct vud *v, const void *req, size_t len, uint32_t want)
{
	struct virtio_gpu_ctrl_hdr r;

	memset(&r, 0xee, sizeof(r));
	assert_int_equal(vud_request(v, 0, req, len, &r, sizeof(r), 5000), sizeof(r));
	assert_int_equal(r.type, want);
	assert_int_equal(r.flags, 0);
}

/* The device answers and can still create and free a resource. */
static void
serving(struct vud *v)
{
	struct virtio_gpu_ctrl_hdr q = {.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO};
	struct virtio_gpu_resp_display_info info;
	struct virtio_gpu_resource_unref u = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF,
					      .resource_id = 0x7ffffff0};

	assert_int_equal(vud_request(v, 0, &q, sizeof(q), &info, sizeof(info), 5000), sizeof(info));
	assert_int_equal(info.hdr.type, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	assert_int_equal(vud_create_2d(v, 0x7ffffff0, XRGB, 1, 1), OK);
	expect(v, &u, sizeof(u), OK);
}

/* Start the daemon (--reconnect, plus extra options; its stderr also in a
   file, for vud_wait_log) and a frontend that accepts want, set up by setup
   (may be NULL) before it starts. */
static struct vud *
vlaunch(uint64_t want, void (*setup)(struct vud *), const char *extra, va_list ap)
{
	char *argv[MAX_ARGS] = {daemon_path,   "--socket-path", "{socket}",
				"--reconnect", "--log-level",	"error"};
	struct vud *v = calloc(1, sizeof(*v));
	int n = 6;

	assert_non_null(v);
	g_live = v;
	for (const char *a = extra; a && n < MAX_ARGS - 1; a = va_arg(ap, const char *))
		argv[n++] = (char *)a;
	argv[n] = NULL;
	assert_int_equal(vud_spawn_flags(v, argv, VUD_SPAWN_LOG), 0);
	g_live_child = v->child;
	v->disp.mode_w = 1024;
	v->disp.mode_h = 768;
	if (setup)
		setup(v);
	assert_int_equal(vud_start(v, want, MEM_MB), 0);
	g_want = want;
	serving(v);
	g_fds = vud_backend_fds(v);
	return v;
}

static struct vud *
launch_with(uint64_t want, void (*setup)(struct vud *), const char *extra, ...)
{
	va_list ap;

	va_start(ap, extra);
	struct vud *v = vlaunch(want, setup, extra, ap);
	va_end(ap);
	return v;
}

#define launch(want, ...) launch_with(want, NULL, __VA_ARGS__)

static struct vud *
start(void)
{
	return launch(ALL_2D, NULL);
}

/* The end of every test: still serving, no fd gained or lost, and a clean
   exit (LeakSanitizer runs at it in the sanitizer build). */
static void
finish(struct vud *v)
{
	serving(v);
	assert_int_equal(vud_backend_fds(v), g_fds);
	assert_int_equal(kill(v->child, SIGTERM), 0);
	assert_int_equal(vud_stop(v), 0);
	g_live = NULL;
	g_live_child = 0;
	free(v);
}

/* A new frontend after this one hung up (or was dropped). */
static void
fresh_frontend(struct vud *v)
{
	assert_int_equal(vud_reconnect(v), 0);
	assert_int_equal(vud_start(v, g_want, MEM_MB), 0);
	finish(v);
}

/* The daemon dropped the connection; it then serves the next frontend. */
static void
dropped(struct vud *v)
{
	assert_true(vud_peer_closed(v, 5000));
	fresh_frontend(v);
}

/* The vhost-user connection still answers (GET_FEATURES). */
static bool
alive(struct vud *v)
{
	uint64_t f = 0;

	return vud_send_raw(v, VU_GET_FEATURES, VU_VERSION, NULL, 0, NULL, 0) == 0 &&
	       vud_recv_reply(v, VU_GET_FEATURES, &f, sizeof(f)) == 0 && f != 0;
}

/* The control queue stopped but the connection lives: the daemon said it
   gave up on the ring (after it took that kick and flushed the used ring),
   and the used index did not move. */
static void
queue_stopped(struct vud *v)
{
	assert_true(vud_wait_log(v, BROKE_RING, 1, 5000));
	assert_int_equal(vud_used_idx(v, 0), v->q[0].used_seen);
	assert_true(alive(v));
	fresh_frontend(v);
}

/* Send one vhost-user message that must get the connection dropped. */
static void
drop_on(uint32_t request, uint32_t flags, const void *payload, uint32_t size, const int *fds,
	unsigned n_fds)
{
	struct vud *v = start();

	assert_int_equal(vud_send_raw(v, request, flags, payload, size, fds, n_fds), 0);
	dropped(v);
}

static uint64_t
backing(struct vud *v, uint32_t id, uint32_t size)
{
	struct {
		struct virtio_gpu_resource_attach_backing a;
		struct virtio_gpu_mem_entry e;
	} at = {{{.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING}, id, 1}, {0, size, 0}};

	at.e.addr = vud_alloc(v, size);
	assert_true(at.e.addr != 0);
	expect(v, &at, sizeof(at), OK);
	return at.e.addr;
}

/* ---- control queue: the foundation's validation cases ---- */

static void
test_short_command(void **state)
{
	struct virtio_gpu_resource_create_2d c = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
						  .resource_id = 1,
						  .format = XRGB,
						  .width = 4,
						  .height = 4};
	struct vud *v = start();

	(void)state;
	expect(v, &c, sizeof(c) - 4, UNSPEC);
	expect(v, &c, 10, UNSPEC); /* not even a header */
	finish(v);
}

static void
test_unknown_command(void **state)
{
	struct virtio_gpu_ctrl_hdr q = {.type = 0x1234};
	struct vud *v = start();

	(void)state;
	expect(v, &q, sizeof(q), UNSPEC);
	q.type = VIRTIO_GPU_CMD_UPDATE_CURSOR; /* a cursor command on the control queue */
	expect(v, &q, sizeof(q), UNSPEC);
	finish(v);
}

static void
test_resource_id_zero(void **state)
{
	struct vud *v = start();

	(void)state;
	assert_int_equal(vud_create_2d(v, 0, XRGB, 4, 4), BAD_RES);
	finish(v);
}

static void
test_resource_id_duplicate(void **state)
{
	struct vud *v = start();

	(void)state;
	assert_int_equal(vud_create_2d(v, 1, XRGB, 4, 4), OK);
	assert_int_equal(vud_create_2d(v, 1, XRGB, 8, 8), BAD_RES);
	finish(v);
}

static void
test_resource_id_unknown(void **state)
{
	struct virtio_gpu_resource_unref u = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF,
					      .resource_id = 77};
	struct virtio_gpu_resource_flush f = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH, .r = {0, 0, 1, 1}, .resource_id = 77};
	struct vud *v = start();

	(void)state;
	expect(v, &u, sizeof(u), BAD_RES);
	expect(v, &f, sizeof(f), BAD_RES);
	finish(v);
}

static void
test_create_bad_format(void **state)
{
	struct vud *v = start();

	(void)state;
	assert_int_equal(vud_create_2d(v, 1, 0, 4, 4), BAD_PARAM);
	assert_int_equal(vud_create_2d(v, 1, 0xffffffff, 4, 4), BAD_PARAM);
	finish(v);
}

static void
test_create_zero_size(void **state)
{
	struct vud *v = start();

	(void)state;
	assert_int_equal(vud_create_2d(v, 1, XRGB, 0, 4), BAD_PARAM);
	assert_int_equal(vud_create_2d(v, 1, XRGB, 4, 0), BAD_PARAM);
	finish(v);
}

static void
test_create_over_hostmem(void **state)
{
	struct vud *v = start();

	(void)state;
	/* 4 GiB - 4 bytes in 64 bits; 32-bit arithmetic would wrap to a few bytes. */
	assert_int_equal(vud_create_2d(v, 1, XRGB, 0x10000, 0x4000), OOM);
	assert_int_equal(vud_create_2d(v, 1, XRGB, 0xffffffff, 0xffffffff), OOM);
	finish(v);
}

static void
test_attach_too_many_entries(void **state)
{
	struct virtio_gpu_resource_attach_backing a = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
		.resource_id = 1,
		.nr_entries = 16385};
	struct vud *v = start();

	(void)state;
	assert_int_equal(vud_create_2d(v, 1, XRGB, 4, 4), OK);
	expect(v, &a, sizeof(a), UNSPEC);
	a.nr_entries = 0xffffffff;
	expect(v, &a, sizeof(a), UNSPEC);
	finish(v);
}

static void
test_attach_entries_past_request(void **state)
{
	struct {
		struct virtio_gpu_resource_attach_backing a;
		struct virtio_gpu_mem_entry e[2];
	} at = {{{.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING}, 1, 3}};
	struct vud *v = start();

	(void)state;
	assert_int_equal(vud_create_2d(v, 1, XRGB, 4, 4), OK);
	at.e[0] = at.e[1] = (struct virtio_gpu_mem_entry){vud_alloc(v, 4096), 32, 0};
	expect(v, &at, sizeof(at), UNSPEC); /* 3 entries, 2 in the request */
	finish(v);
}

/* A bad entry (zero length, wrapping, outside memory): ERR_UNSPEC and nothing
   half-attached (a good attach then succeeds). */
static void
attach_bad_entry(uint64_t addr, uint32_t len)
{
	struct {
		struct virtio_gpu_resource_attach_backing a;
		struct virtio_gpu_mem_entry e[2];
	} at = {{{.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING}, 1, 2}};
	struct vud *v = start();

	assert_int_equal(vud_create_2d(v, 1, XRGB, 4, 4), OK);
	at.e[0] = (struct virtio_gpu_mem_entry){vud_alloc(v, 4096), 32, 0};
	at.e[1] = (struct virtio_gpu_mem_entry){addr ? addr : at.e[0].addr + 32, len, 0};
	expect(v, &at, sizeof(at), UNSPEC);
	backing(v, 1, 64);
	finish(v);
}

static void
test_attach_entry_zero_length(void **state)
{
	(void)state;
	attach_bad_entry(0, 0);
}

static void
test_attach_entry_wrapping(void **state)
{
	(void)state;
	attach_bad_entry(0xfffffffffffff000ull, 0x2000);
}

static void
test_attach_entry_outside_memory(void **state)
{
	(void)state;
	attach_bad_entry(0x4000000000ull, 4096);
	/* Partly inside: the last page of guest memory and one past it. */
	attach_bad_entry(VUD_GPA_BASE + MEM_MB * (1ull << 20) - 4096, 8192);
}

static void
test_attach_twice(void **state)
{
	struct vud *v = start();

	(void)state;
	assert_int_equal(vud_create_2d(v, 1, XRGB, 4, 4), OK);
	backing(v, 1, 64);
	struct {
		struct virtio_gpu_resource_attach_backing a;
		struct virtio_gpu_mem_entry e;
	} at = {{{.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING}, 1, 1},
		{vud_alloc(v, 4096), 64, 0}};
	expect(v, &at, sizeof(at), UNSPEC);
	finish(v);
}

static void
test_detach_without_backing(void **state)
{
	struct virtio_gpu_resource_detach_backing d = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, .resource_id = 1};
	struct vud *v = start();

	(void)state;
	assert_int_equal(vud_create_2d(v, 1, XRGB, 4, 4), OK);
	expect(v, &d, sizeof(d), UNSPEC);
	finish(v);
}

static void
test_transfer_rect_outside(void **state)
{
	struct virtio_gpu_transfer_to_host_2d t = {.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
						   .r = {0, 0, 65, 64},
						   .resource_id = 1};
	struct vud *v = start();

	(void)state;
	assert_int_equal(vud_create_2d(v, 1, XRGB, 64, 64), OK);
	backing(v, 1, 64 * 64 * 4);
	expect(v, &t, sizeof(t), BAD_PARAM);
	t.r = (struct virtio_gpu_rect){0xffffffc0, 0, 0x80, 1}; /* x + width wraps to 64 */
	expect(v, &t, sizeof(t), BAD_PARAM);
	t.r = (struct virtio_gpu_rect){0, 0xffffffff, 1, 2};
	expect(v, &t, sizeof(t), BAD_PARAM);
	finish(v);
}

static void
test_transfer_past_backing(void **state)
{
	struct virtio_gpu_transfer_to_host_2d t = {.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
						   .r = {0, 0, 64, 64},
						   .resource_id = 1};
	struct vud *v = start();

	(void)state;
	assert_int_equal(vud_create_2d(v, 1, XRGB, 64, 64), OK);
	backing(v, 1, 64 * 63 * 4); /* one row short */
	expect(v, &t, sizeof(t), BAD_PARAM);
	t.r.height = 1;
	t.offset = 0xfffffffffffff000ull;
	expect(v, &t, sizeof(t), BAD_PARAM);
	finish(v);
}

static void
test_flush_rect_outside(void **state)
{
	struct virtio_gpu_resource_flush f = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH, .r = {1, 0, 64, 64}, .resource_id = 1};
	struct vud *v = start();

	(void)state;
	assert_int_equal(vud_create_2d(v, 1, XRGB, 64, 64), OK);
	expect(v, &f, sizeof(f), BAD_PARAM);
	f.r = (struct virtio_gpu_rect){0, 0xfffffff0, 1, 0x20};
	expect(v, &f, sizeof(f), BAD_PARAM);
	finish(v);
}

static void
test_scanout_id_out_of_range(void **state)
{
	struct virtio_gpu_set_scanout s = {.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT,
					   .r = {0, 0, 64, 64},
					   .scanout_id = 1,
					   .resource_id = 1};
	struct vud *v = start();

	(void)state;
	assert_int_equal(vud_create_2d(v, 1, XRGB, 64, 64), OK);
	expect(v, &s, sizeof(s), BAD_SCAN);
	s.resource_id = 0; /* disabling a scanout that does not exist */
	expect(v, &s, sizeof(s), BAD_SCAN);
	s.scanout_id = 0xffffffff;
	expect(v, &s, sizeof(s), BAD_SCAN);
	finish(v);
}

static void
test_scanout_rect_outside(void **state)
{
	struct virtio_gpu_set_scanout s = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .r = {32, 0, 64, 64}, .resource_id = 1};
	struct vud *v = start();

	(void)state;
	assert_int_equal(vud_create_2d(v, 1, XRGB, 64, 64), OK);
	expect(v, &s, sizeof(s), BAD_PARAM);
	s.r = (struct virtio_gpu_rect){0xffffffff, 0, 2, 1};
	expect(v, &s, sizeof(s), BAD_PARAM);
	finish(v);
}

static void
cursor_cmd(struct vud *v, uint32_t type, uint32_t id)
{
	struct virtio_gpu_update_cursor c = {
		.hdr.type = type, .pos = {0, 10, 10, 0}, .resource_id = id};

	assert_int_equal(vud_request(v, 1, &c, sizeof(c), NULL, 0, 5000), 0);
}

/* UNREF of what is shown on the scanout and as the cursor: released, the
   scanout disabled, the cursor hidden; the id is free again. */
static void
test_unref_shown_resource(void **state)
{
	struct virtio_gpu_set_scanout s = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .r = {0, 0, 64, 64}, .resource_id = 1};
	struct virtio_gpu_resource_unref u = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF,
					      .resource_id = 1};
	struct virtio_gpu_resource_flush f = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH, .r = {0, 0, 64, 64}, .resource_id = 1};
	struct vud *v = start();

	(void)state;
	assert_int_equal(vud_create_2d(v, 1, XRGB, 64, 64), OK);
	backing(v, 1, 64 * 64 * 4);
	expect(v, &s, sizeof(s), OK);
	cursor_cmd(v, VIRTIO_GPU_CMD_UPDATE_CURSOR, 1);
	assert_true(vud_wait_count(v, &v->disp.n_cursor_update, 1, 5000));
	expect(v, &u, sizeof(u), OK);
	assert_true(vud_wait_count(v, &v->disp.n_cursor_hide, 1, 5000));
	expect(v, &f, sizeof(f), BAD_RES);
	assert_int_equal(vud_create_2d(v, 1, XRGB, 64, 64), OK);
	finish(v);
}

static void
test_cursor_not_64x64(void **state)
{
	struct vud *v = start();

	(void)state;
	assert_int_equal(vud_create_2d(v, 1, XRGB, 32, 32), OK);
	assert_int_equal(vud_create_2d(v, 2, XRGB, 64, 64), OK);
	cursor_cmd(v, VIRTIO_GPU_CMD_UPDATE_CURSOR, 1); /* ignored */
	cursor_cmd(v, VIRTIO_GPU_CMD_UPDATE_CURSOR, 3); /* no such resource: ignored */
	cursor_cmd(v, VIRTIO_GPU_CMD_UPDATE_CURSOR, 2);
	assert_true(vud_wait_count(v, &v->disp.n_cursor_update, 1, 5000));
	usleep(100000);
	pthread_mutex_lock(&v->disp.lock);
	assert_int_equal(v->disp.n_cursor_update, 1);
	pthread_mutex_unlock(&v->disp.lock);
	/* A cursor request that is short or of another type: ignored too. */
	struct virtio_gpu_update_cursor c = {.hdr.type = VIRTIO_GPU_CMD_UPDATE_CURSOR,
					     .resource_id = 2};
	assert_int_equal(vud_request(v, 1, &c, 20, NULL, 0, 5000), 0);
	c.hdr.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO;
	assert_int_equal(vud_request(v, 1, &c, sizeof(c), NULL, 0, 5000), 0);
	finish(v);
}

static void
test_capset_info_out_of_range(void **state)
{
	struct virtio_gpu_get_capset_info q = {.hdr.type = VIRTIO_GPU_CMD_GET_CAPSET_INFO,
					       .capset_index = 0};
	struct virtio_gpu_resp_capset_info r;
	struct vud *v = start();

	(void)state;
	for (uint32_t i = 0; i < 2; i++, q.capset_index = 0xffffffff) {
		memset(&r, 0xee, sizeof(r));
		assert_int_equal(vud_request(v, 0, &q, sizeof(q), &r, sizeof(r), 5000), sizeof(r));
		assert_int_equal(r.hdr.type, VIRTIO_GPU_RESP_OK_CAPSET_INFO);
		const uint8_t *p = (const uint8_t *)&r + 4;
		for (size_t j = 0; j < sizeof(r) - 4; j++)
			assert_int_equal(p[j], 0);
	}
	finish(v);
}

static void
test_response_buffer_too_small(void **state)
{
	struct virtio_gpu_ctrl_hdr q = {.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO};
	uint8_t r[100];
	struct vud *v = start();

	(void)state;
	assert_int_equal(vud_request(v, 0, &q, sizeof(q), r, sizeof(r), 5000), sizeof(r));
	assert_int_equal(((struct virtio_gpu_ctrl_hdr *)r)->type, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	assert_int_equal(vud_request(v, 0, &q, sizeof(q), r, 10, 5000), 10);
	finish(v);
}

/* ---- features the driver did not accept; capsets; contexts ---- */

static void
test_blob_without_feature(void **state)
{
	struct virtio_gpu_resource_create_blob b = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB,
						    .resource_id = 1,
						    .blob_mem = VIRTIO_GPU_BLOB_MEM_GUEST,
						    .size = 4096};
	struct virtio_gpu_set_scanout_blob sb = {.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT_BLOB,
						 .resource_id = 1};
	struct virtio_gpu_resource_map_blob m = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB,
						 .resource_id = 1};
	struct vud *v = launch(ALL_2D & ~F(RESOURCE_BLOB), NULL);

	(void)state;
	expect(v, &b, sizeof(b), BAD_PARAM);
	expect(v, &sb, sizeof(sb), BAD_PARAM);
	expect(v, &m, sizeof(m), BAD_PARAM);
	finish(v);
}

static void
test_uuid_without_feature(void **state)
{
	struct virtio_gpu_resource_assign_uuid u = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID,
						    .resource_id = 1};
	struct vud *v = launch(ALL_2D & ~F(RESOURCE_UUID), NULL);

	(void)state;
	assert_int_equal(vud_create_2d(v, 1, XRGB, 4, 4), OK);
	expect(v, &u, sizeof(u), BAD_PARAM);
	finish(v);
}

static void
test_3d_without_feature(void **state)
{
	struct virtio_gpu_ctx_create cc = {.hdr = {.type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = 1}};
	struct virtio_gpu_resource_create_3d c3 = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_3D,
						   .resource_id = 1,
						   .format = XRGB,
						   .width = 4,
						   .height = 4,
						   .depth = 1,
						   .array_size = 1};
	struct {
		struct virtio_gpu_cmd_submit s;
		uint32_t data[4];
	} sub = {{.hdr = {.type = VIRTIO_GPU_CMD_SUBMIT_3D, .ctx_id = 1}, .size = 16}, {0}};
	struct virtio_gpu_transfer_host_3d t = {.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D,
						.resource_id = 1};
	struct vud *v = start(); /* the 2d backend offers no VIRGL */

	(void)state;
	assert_false(v->features & F(VIRGL));
	expect(v, &cc, sizeof(cc), BAD_PARAM);
	expect(v, &c3, sizeof(c3), BAD_PARAM);
	expect(v, &sub, sizeof(sub), BAD_PARAM);
	expect(v, &t, sizeof(t), BAD_PARAM);
	finish(v);
}

#ifdef FAKE_GS_PATH
/* A 3D device: the gfxstream backend over the test's fake library. */
static struct vud *
start_3d(const char *extra)
{
	return launch(ALL_2D | GS, "--backend=gfxstream", "--gfxstream-lib=" FAKE_GS_PATH, extra,
		      NULL);
}
#endif

static void
test_capset_unknown(void **state)
{
	struct virtio_gpu_get_capset q = {
		.hdr.type = VIRTIO_GPU_CMD_GET_CAPSET, .capset_id = 77, .capset_version = 0};
	struct vud *v = start();

	(void)state;
	expect(v, &q, sizeof(q), BAD_PARAM);
	q.capset_id = VIRTIO_GPU_CAPSET_VIRGL; /* not offered by 2d */
	expect(v, &q, sizeof(q), BAD_PARAM);
	finish(v);
}

/* GET_CAPSET with no room for the answer, and with a version above the
   capset's: nothing written, then an error. */
static void
test_capset_size_zero(void **state)
{
#ifdef FAKE_GS_PATH
	struct virtio_gpu_get_capset q = {
		.hdr.type = VIRTIO_GPU_CMD_GET_CAPSET, .capset_id = 3, .capset_version = 1};
	struct vud *v = start_3d(NULL);

	(void)state;
	assert_int_equal(vud_request(v, 0, &q, sizeof(q), NULL, 0, 5000), 0);
	q.capset_version = 0xffffffff;
	expect(v, &q, sizeof(q), BAD_PARAM);
	finish(v);
#else
	(void)state;
#endif
}

static void
test_ctx_create_id_zero(void **state)
{
#ifdef FAKE_GS_PATH
	struct vud *v = start_3d(NULL);

	(void)state;
	assert_int_equal(vud_ctx_create(v, 0, 3), BAD_CTX);
	finish(v);
#else
	(void)state;
#endif
}

static void
test_ctx_create_duplicate(void **state)
{
#ifdef FAKE_GS_PATH
	struct vud *v = start_3d(NULL);

	(void)state;
	assert_int_equal(vud_ctx_create(v, 5, 3), OK);
	assert_int_equal(vud_ctx_create(v, 5, 3), BAD_CTX);
	finish(v);
#else
	(void)state;
#endif
}

static void
test_submit_size_huge(void **state)
{
#ifdef FAKE_GS_PATH
	struct {
		struct virtio_gpu_cmd_submit s;
		uint32_t data[4];
	} sub = {{.hdr = {.type = VIRTIO_GPU_CMD_SUBMIT_3D, .ctx_id = 1}, .size = 0xffffffff}, {0}};
	struct vud *v = start_3d(NULL);

	(void)state;
	assert_int_equal(vud_ctx_create(v, 1, 3), OK);
	expect(v, &sub, sizeof(sub), BAD_PARAM);
	sub.s.size = 0xfffffffc; /* a multiple of 4, still past the request */
	expect(v, &sub, sizeof(sub), BAD_PARAM);
	sub.s.size = 17 * 4; /* past the request by a little */
	expect(v, &sub, sizeof(sub), BAD_PARAM);
	sub.s.hdr.ctx_id = 2;
	expect(v, &sub, sizeof(sub), BAD_CTX);
	finish(v);
#else
	(void)state;
#endif
}

/* A failed command with FLAG_FENCE: the error comes back with fence_id and
   ctx_id echoed (2d: at once; 3D: when the fence retires). */
static void
fenced_failure(struct vud *v, const void *req, size_t len, uint32_t want)
{
	struct virtio_gpu_ctrl_hdr r;

	memset(&r, 0xee, sizeof(r));
	assert_int_equal(vud_request(v, 0, req, len, &r, sizeof(r), 5000), sizeof(r));
	assert_int_equal(r.type, want);
	assert_int_equal(r.flags, VIRTIO_GPU_FLAG_FENCE);
	assert_int_equal(r.fence_id, ((const struct virtio_gpu_ctrl_hdr *)req)->fence_id);
	assert_int_equal(r.ctx_id, ((const struct virtio_gpu_ctrl_hdr *)req)->ctx_id);
}

static void
test_failed_fenced_command(void **state)
{
	struct virtio_gpu_resource_unref u = {.hdr = {.type = VIRTIO_GPU_CMD_RESOURCE_UNREF,
						      .flags = VIRTIO_GPU_FLAG_FENCE,
						      .fence_id = 0x123456789ull,
						      .ctx_id = 7},
					      .resource_id = 99};
	struct vud *v = start();

	(void)state;
	fenced_failure(v, &u, sizeof(u), BAD_RES);
	finish(v);
#ifdef FAKE_GS_PATH
	struct {
		struct virtio_gpu_cmd_submit s;
		uint32_t data[2];
	} sub = {{.hdr = {.type = VIRTIO_GPU_CMD_SUBMIT_3D,
			  .flags = VIRTIO_GPU_FLAG_FENCE,
			  .fence_id = 41,
			  .ctx_id = 1},
		  .size = 0xffffffff},
		 {0}};
	v = start_3d(NULL);
	assert_int_equal(vud_ctx_create(v, 1, 3), OK);
	fenced_failure(v, &sub, sizeof(sub), BAD_PARAM);
	finish(v);
#endif
}

/* ---- vhost-user messages ---- */

static void
test_msg_bad_version(void **state)
{
	(void)state;
	drop_on(VU_GET_FEATURES, 0x2, NULL, 0, NULL, 0);
	drop_on(VU_GET_FEATURES, 0x0, NULL, 0, NULL, 0);
}

static void
test_msg_reserved_flags(void **state)
{
	(void)state;
	drop_on(VU_GET_FEATURES, VU_VERSION | 0x10, NULL, 0, NULL, 0);
	drop_on(VU_GET_FEATURES, VU_VERSION | 0x80000000u, NULL, 0, NULL, 0);
	drop_on(VU_GET_FEATURES, VU_VERSION | VU_FLAG_REPLY, NULL, 0, NULL, 0);
}

static void
test_msg_oversized(void **state)
{
	static uint8_t big[4096];

	(void)state;
	drop_on(VU_SET_VRING_NUM, VU_VERSION, big, sizeof(big), NULL, 0);
	drop_on(VU_GET_CONFIG, VU_VERSION, big, VU_CONFIG_HDR + 257, NULL, 0);
}

static void
test_msg_short_payload(void **state)
{
	uint8_t p[8] = {0};

	(void)state;
	drop_on(VU_SET_FEATURES, VU_VERSION, p, 4, NULL, 0);
	drop_on(VU_SET_VRING_NUM, VU_VERSION, p, 7, NULL, 0);
	drop_on(VU_SET_VRING_ADDR, VU_VERSION, p, 8, NULL, 0);
	drop_on(VU_SET_MEM_TABLE, VU_VERSION, p, 4, NULL, 0);
}

static void
test_msg_unknown_request(void **state)
{
	(void)state;
	drop_on(99, VU_VERSION, NULL, 0, NULL, 0);
	drop_on(0, VU_VERSION, NULL, 0, NULL, 0);
}

/* The frontend hangs up in the middle of a message. */
static void
eof_after(const void *bytes, size_t len)
{
	struct vud *v = start();

	assert_int_equal(send(v->sock, bytes, len, MSG_NOSIGNAL), (ssize_t)len);
	assert_int_equal(shutdown(v->sock, SHUT_WR), 0);
	dropped(v);
}

static void
test_msg_eof_mid_header(void **state)
{
	struct vu_hdr h = {VU_SET_FEATURES, VU_VERSION, 8};

	(void)state;
	eof_after(&h, 5);
}

static void
test_msg_eof_mid_payload(void **state)
{
	struct {
		struct vu_hdr h;
		uint8_t p[4];
	} __attribute__((packed)) m = {{VU_SET_FEATURES, VU_VERSION, 8}, {0}};

	(void)state;
	eof_after(&m, sizeof(m));
}

static void
test_msg_fds_where_none_taken(void **state)
{
	int fd = eventfd(0, EFD_CLOEXEC);
	uint64_t u = 0;

	(void)state;
	assert_true(fd >= 0);
	drop_on(VU_SET_OWNER, VU_VERSION, NULL, 0, &fd, 1);
	drop_on(VU_SET_FEATURES, VU_VERSION, &u, 8, &fd, 1);
	/* NOFD set and an fd anyway. */
	u = VU_VRING_NOFD;
	drop_on(VU_SET_VRING_CALL, VU_VERSION, &u, 8, &fd, 1);
	close(fd);
}

static void
test_msg_too_many_fds(void **state)
{
	struct vu_mem_table mt = {.nregions = 8};
	int fds[12];

	(void)state;
	for (int i = 0; i < 12; i++)
		assert_true((fds[i] = eventfd(0, EFD_CLOEXEC)) >= 0);
	drop_on(VU_SET_MEM_TABLE, VU_VERSION, &mt, sizeof(mt), fds, 12);
	for (int i = 0; i < 12; i++)
		close(fds[i]);
}

/* ---- SET_MEM_TABLE ---- */

static int g_memfd = -1; /* 1 MiB, for region tests */

static void
mem_table(const struct vu_region *regions, uint32_t n, unsigned n_fds, uint32_t flags)
{
	struct vu_mem_table mt = {.nregions = n};
	int fds[VU_MAX_REGIONS + 1];

	for (unsigned i = 0; i < n_fds; i++)
		fds[i] = g_memfd;
	if (regions)
		memcpy(mt.regions, regions,
		       sizeof(*regions) * (n < VU_MAX_REGIONS ? n : VU_MAX_REGIONS));
	drop_on(VU_SET_MEM_TABLE, VU_VERSION | flags, &mt,
		8 + (n < VU_MAX_REGIONS ? n : VU_MAX_REGIONS) * (uint32_t)sizeof(struct vu_region),
		fds, n_fds);
}

static const struct vu_region good_region = {0x100000, 1 << 20, 0x7f0000000000ull, 0};

static void
test_mem_no_regions(void **state)
{
	(void)state;
	mem_table(NULL, 0, 0, 0);
}

static void
test_mem_too_many_regions(void **state)
{
	struct vu_region r[VU_MAX_REGIONS];

	(void)state;
	for (int i = 0; i < VU_MAX_REGIONS; i++)
		r[i] = (struct vu_region){0x100000ull * (uint64_t)(i + 1), 0x100000,
					  0x7f0000000000ull + 0x100000ull * (uint64_t)i, 0};
	mem_table(r, 9, 8, 0);
}

static void
test_mem_fd_count_mismatch(void **state)
{
	(void)state;
	mem_table(&good_region, 1, 2, 0);
	mem_table(&good_region, 1, 0, 0);
}

static void
test_mem_size_zero(void **state)
{
	struct vu_region r = good_region;

	(void)state;
	r.size = 0;
	mem_table(&r, 1, 1, 0);
}

static void
test_mem_overflow(void **state)
{
	struct vu_region r = good_region;

	(void)state;
	r.gpa = 0xfffffffffff00000ull;
	r.size = 2 << 20; /* gpa + size wraps */
	mem_table(&r, 1, 1, 0);
	r = good_region;
	r.mmap_offset = 0xfffffffffff00000ull; /* offset + size wraps */
	mem_table(&r, 1, 1, 0);
	r = good_region;
	r.uaddr = 0xfffffffffff80000ull; /* uaddr + size wraps */
	mem_table(&r, 1, 1, 0);
	r = good_region;
	r.size = 2 << 20; /* more than the fd holds */
	mem_table(&r, 1, 1, 0);
}

static void
test_mem_overlap(void **state)
{
	struct vu_region r[2] = {{0x100000, 1 << 19, 0x7f0000000000ull, 0},
				 {0x140000, 1 << 19, 0x7f1000000000ull, 0}};

	(void)state;
	mem_table(r, 2, 2, VU_FLAG_NEED_REPLY);
	/* Guest addresses apart, frontend addresses overlapping. */
	r[1].gpa = 0x800000;
	r[1].uaddr = 0x7f0000040000ull;
	mem_table(r, 2, 2, 0);
}

static void
test_mem_slots_not_negotiated(void **state)
{
	struct vu_mem_single m = {0, good_region};

	(void)state;
	drop_on(VU_ADD_MEM_REG, VU_VERSION, &m, sizeof(m), &g_memfd, 1);
	drop_on(VU_REM_MEM_REG, VU_VERSION, &m, sizeof(m), NULL, 0);
	drop_on(VU_GET_MAX_MEM_SLOTS, VU_VERSION, NULL, 0, NULL, 0);
}

static void
with_slots(struct vud *v)
{
	v->want_mem_slots = true;
}

/* A 4 KiB region of g_memfd at slot i, apart from the guest's memory. */
static struct vu_mem_single
slot_region(unsigned i)
{
	return (struct vu_mem_single){
		0, {0x40000000ull + i * 4096ull, 4096, 0x7e0000000000ull + i * 4096ull, 0}};
}

/* With CONFIGURE_MEM_SLOTS: what ADD/REM_MEM_REG must refuse (the frontend
   is dropped), and what they must take (a REM with an fd: closed unused;
   the table full at VU_MAX_MEM_SLOTS). */
static void
test_mem_slots_hostile(void **state)
{
	struct vu_mem_single m = slot_region(0);
	struct vud *v;

	(void)state;
	/* Overlapping the guest's memory (ADD_MEM_REG came at vud_start). */
	v = launch_with(ALL_2D, with_slots, NULL);
	m.region.gpa = VUD_GPA_BASE;
	assert_int_equal(vud_send_raw(v, VU_ADD_MEM_REG, VU_VERSION, &m, sizeof(m), &g_memfd, 1),
			 0);
	dropped(v);
	/* No fd; then a region nobody added. */
	v = launch_with(ALL_2D, with_slots, NULL);
	m = slot_region(0);
	assert_int_equal(vud_send_raw(v, VU_ADD_MEM_REG, VU_VERSION, &m, sizeof(m), NULL, 0), 0);
	dropped(v);
	v = launch_with(ALL_2D, with_slots, NULL);
	assert_int_equal(vud_send_raw(v, VU_REM_MEM_REG, VU_VERSION, &m, sizeof(m), NULL, 0), 0);
	dropped(v);
	/* Every slot: the guest's memory and 63 more; then one too many. */
	v = launch_with(ALL_2D, with_slots, NULL);
	for (unsigned i = 0; i + 1 < VU_MAX_MEM_SLOTS; i++) {
		m = slot_region(i);
		assert_int_equal(vud_msg_ack(v, VU_ADD_MEM_REG, &m, sizeof(m), &g_memfd, 1), 0);
	}
	/* A REM carrying an fd (the spec's allowance) frees a slot. */
	m = slot_region(0);
	assert_int_equal(vud_msg_ack(v, VU_REM_MEM_REG, &m, sizeof(m), &g_memfd, 1), 0);
	assert_int_equal(vud_msg_ack(v, VU_ADD_MEM_REG, &m, sizeof(m), &g_memfd, 1), 0);
	assert_int_equal(vud_create_2d(v, 1, XRGB, 4, 4), OK);
	m = slot_region(VU_MAX_MEM_SLOTS);
	assert_int_equal(vud_send_raw(v, VU_ADD_MEM_REG, VU_VERSION, &m, sizeof(m), &g_memfd, 1),
			 0);
	dropped(v);
}

/* ---- ring setup ---- */

static void
test_vring_index_out_of_range(void **state)
{
	struct vu_vring_state st = {2, 64};
	struct vu_vring_addr a = {.index = 2};
	uint64_t u = 2;
	int fd = eventfd(0, EFD_CLOEXEC);

	(void)state;
	drop_on(VU_SET_VRING_NUM, VU_VERSION, &st, 8, NULL, 0);
	drop_on(VU_SET_VRING_BASE, VU_VERSION, &st, 8, NULL, 0);
	drop_on(VU_GET_VRING_BASE, VU_VERSION, &st, 8, NULL, 0);
	drop_on(VU_SET_VRING_ENABLE, VU_VERSION, &st, 8, NULL, 0);
	drop_on(VU_SET_VRING_ADDR, VU_VERSION, &a, sizeof(a), NULL, 0);
	drop_on(VU_SET_VRING_KICK, VU_VERSION, &u, 8, &fd, 1);
	u = 0xffffffffu; /* index bits past the mask */
	drop_on(VU_SET_VRING_CALL, VU_VERSION, &u, 8, &fd, 1);
	close(fd);
}

static void
test_vring_num_zero(void **state)
{
	struct vu_vring_state st = {0, 0};

	(void)state;
	drop_on(VU_SET_VRING_NUM, VU_VERSION, &st, 8, NULL, 0);
}

static void
test_vring_num_not_power_of_two(void **state)
{
	struct vu_vring_state st = {0, 100};

	(void)state;
	drop_on(VU_SET_VRING_NUM, VU_VERSION, &st, 8, NULL, 0);
}

static void
test_vring_num_over_max(void **state)
{
	struct vu_vring_state st = {0, 65536};

	(void)state;
	drop_on(VU_SET_VRING_NUM, VU_VERSION, &st, 8, NULL, 0);
	st.num = 0x80000000u;
	drop_on(VU_SET_VRING_NUM, VU_VERSION, &st, 8, NULL, 0);
	st.num = 70000; /* and a base past 16 bits */
	drop_on(VU_SET_VRING_BASE, VU_VERSION, &st, 8, NULL, 0);
}

static void
test_vring_num_while_running(void **state)
{
	struct vu_vring_state st = {0, 32};

	(void)state;
	drop_on(VU_SET_VRING_NUM, VU_VERSION, &st, 8, NULL, 0);
}

/* SET_VRING_ADDR on a stopped queue with one address changed. */
static void
bad_ring_addr(unsigned which, uint64_t delta_or_abs, bool absolute)
{
	struct vud *v = start();
	uintptr_t base = (uintptr_t)v->mem;
	struct vu_vring_addr a = {
		.index = 0, .desc = base, .avail = base + 4096, .used = base + 8192};

	assert_int_equal(vud_stop_queue(v, 0, NULL), 0);
	switch (which) {
	case 0: a.desc = absolute ? delta_or_abs : a.desc + delta_or_abs; break;
	case 1: a.avail = absolute ? delta_or_abs : a.avail + delta_or_abs; break;
	default: a.used = absolute ? delta_or_abs : a.used + delta_or_abs; break;
	}
	assert_int_equal(vud_send_raw(v, VU_SET_VRING_ADDR, VU_VERSION, &a, sizeof(a), NULL, 0), 0);
	dropped(v);
}

static void
test_vring_addr_misaligned(void **state)
{
	(void)state;
	bad_ring_addr(0, 8, false); /* desc: 16-byte alignment */
	bad_ring_addr(1, 1, false); /* avail: 2 */
	bad_ring_addr(2, 2, false); /* used: 4 */
}

static void
test_vring_addr_outside_memory(void **state)
{
	(void)state;
	bad_ring_addr(0, 0x10, true);
	bad_ring_addr(1, 0xfffffffffffffffeull, true);
	bad_ring_addr(2, 0x7fffff000000ull, true);
	/* Running off the end of the region. */
	bad_ring_addr(0, MEM_MB * (1ull << 20) - 16, false);
}

/* ---- descriptors ---- */

static void
test_desc_head_out_of_range(void **state)
{
	struct vud *v = start();

	(void)state;
	vud_publish(v, 0, VUD_QUEUE_SIZE + 3);
	queue_stopped(v);
}

static void
test_desc_next_out_of_range(void **state)
{
	struct vud *v = start();
	struct vring_desc_raw *d = vud_desc(v, 0);
	uint64_t buf = vud_alloc(v, 4096);

	(void)state;
	d[0] = (struct vring_desc_raw){buf, 24, 1, VUD_QUEUE_SIZE};
	vud_publish(v, 0, 0);
	queue_stopped(v);
}

static void
test_desc_loop(void **state)
{
	struct vud *v = start();
	struct vring_desc_raw *d = vud_desc(v, 0);
	uint64_t buf = vud_alloc(v, 4096);

	(void)state;
	d[0] = (struct vring_desc_raw){buf, 24, 1, 1};
	d[1] = (struct vring_desc_raw){buf, 24, 1, 0};
	vud_publish(v, 0, 0);
	queue_stopped(v);
}

static void
test_desc_outside_memory(void **state)
{
	struct vud *v = start();
	struct vring_desc_raw *d = vud_desc(v, 0);

	(void)state;
	d[0] = (struct vring_desc_raw){0xdead0000000ull, 24, 0, 0};
	vud_publish(v, 0, 0);
	queue_stopped(v);
	v = start();
	d = vud_desc(v, 0);
	d[0] = (struct vring_desc_raw){0xfffffffffffffff0ull, 0x20, 0, 0}; /* wraps */
	vud_publish(v, 0, 0);
	queue_stopped(v);
}

static void
test_desc_readable_after_writable(void **state)
{
	struct vud *v = start();
	struct vring_desc_raw *d = vud_desc(v, 0);
	uint64_t buf = vud_alloc(v, 4096);

	(void)state;
	d[0] = (struct vring_desc_raw){buf, 24, 2 | 1, 1};
	d[1] = (struct vring_desc_raw){buf + 64, 24, 0, 0};
	vud_publish(v, 0, 0);
	queue_stopped(v);
}

static void
test_desc_indirect(void **state)
{
	struct vud *v;
	struct vring_desc_raw *d, *t;
	uint64_t buf;

	(void)state;
	/* Indirect without the feature. */
	v = start();
	d = vud_desc(v, 0);
	buf = vud_alloc(v, 4096);
	d[0] = (struct vring_desc_raw){buf, 32, 4, 0};
	vud_publish(v, 0, 0);
	queue_stopped(v);
	/* Nested, a length not a multiple of 16, a next past the table. */
	for (int c = 0; c < 3; c++) {
		v = launch(ALL_2D | (1ull << VIRTIO_RING_F_INDIRECT_DESC), NULL);
		d = vud_desc(v, 0);
		buf = vud_alloc(v, 4096);
		t = vud_host(v, buf);
		t[0] = (struct vring_desc_raw){buf + 1024, 24, c == 2 ? 1 : 0, 5};
		t[1] = (struct vring_desc_raw){buf + 512, 16, 4, 0};
		d[0] = (struct vring_desc_raw){c == 0 ? buf + 16 : buf, c == 1 ? 20 : 32, 4, 0};
		vud_publish(v, 0, 0);
		queue_stopped(v);
	}
}

/* The avail index jumps more than the ring holds. */
static void
test_avail_index_jump(void **state)
{
	struct vud *v = start();
	uint16_t *avail = vud_host(v, v->q[0].avail_gpa);
	uint64_t one = 1;

	(void)state;
	__atomic_store_n(&avail[1], (uint16_t)(v->q[0].avail_idx + VUD_QUEUE_SIZE + 1),
			 __ATOMIC_RELEASE);
	assert_int_equal(write(v->q[0].kick, &one, sizeof(one)), sizeof(one));
	queue_stopped(v);
}

/* ---- floods against the caps ---- */

/* Resources that fill the host-memory cap (their pixels touched by
   transfers): the next gets OUT_OF_MEMORY and the daemon's RSS stays under
   its start + the cap + a fixed margin. */
static void
test_flood_hostmem(void **state)
{
	const uint32_t cap_mb = 48, margin_mb = 32, side = 1024;
	struct vud *v = launch(ALL_2D, "--max-hostmem=48M", NULL);
	long rss0 = vud_backend_rss_kib(v);
	uint32_t n = 0, last;
	uint64_t gpa = vud_alloc(v, side * side * 4);
	struct {
		struct virtio_gpu_resource_attach_backing a;
		struct virtio_gpu_mem_entry e;
	} at = {{{.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING}, 0, 1},
		{gpa, side * side * 4, 0}};
	struct virtio_gpu_transfer_to_host_2d t = {.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
						   .r = {0, 0, side, side}};

	(void)state;
	memset(vud_host(v, gpa), 0x5a, side * side * 4);
	while ((last = vud_create_2d(v, n + 1, XRGB, side, side)) == OK && n < 100) {
		n++;
		at.a.resource_id = t.resource_id = n;
		expect(v, &at, sizeof(at), OK);
		expect(v, &t, sizeof(t), OK);
	}
	assert_int_equal(last, OOM);
	/* 4 MiB each (+ backing bookkeeping): 11 fit under 48 MiB. */
	assert_int_equal(n, cap_mb / 4 - 1);
	long rss = vud_backend_rss_kib(v);
	printf("# %u resources: daemon RSS %ld -> %ld KiB (cap %u MiB)\n", n, rss0, rss, cap_mb);
	assert_true(rss - rss0 > (long)(n * 4 - 8) * 1024); /* the pixels are real */
	assert_true(rss - rss0 < (long)(cap_mb + margin_mb) * 1024);
	for (uint32_t id = 1; id <= n; id++) {
		struct virtio_gpu_resource_unref u = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF,
						      .resource_id = id};
		expect(v, &u, sizeof(u), OK);
	}
	assert_int_equal(vud_create_2d(v, 1, XRGB, side, side), OK);
	finish(v);
}

static void
test_flood_resources(void **state)
{
	struct vud *v = launch(ALL_2D, "--max-resources=64", NULL);
	struct virtio_gpu_resource_unref u = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF,
					      .resource_id = 10};

	(void)state;
	/* serving() needs one slot: 63 of ours. */
	for (uint32_t id = 1; id <= 63; id++)
		assert_int_equal(vud_create_2d(v, id, XRGB, 1, 1), OK);
	assert_int_equal(vud_create_2d(v, 64, XRGB, 1, 1), OK);
	assert_int_equal(vud_create_2d(v, 65, XRGB, 1, 1), OOM);
	expect(v, &u, sizeof(u), OK);
	u.resource_id = 64;
	expect(v, &u, sizeof(u), OK);
	assert_int_equal(vud_create_2d(v, 65, XRGB, 1, 1), OK);
	finish(v);
}

/* Backings of 16384 entries each (their bookkeeping is host memory too). */
static void
test_flood_backing(void **state)
{
	struct vud *v = launch(ALL_2D, "--max-hostmem=4M", NULL);
	const uint32_t n_ent = 16384;
	size_t len = sizeof(struct virtio_gpu_resource_attach_backing) +
		     n_ent * sizeof(struct virtio_gpu_mem_entry);
	struct virtio_gpu_resource_attach_backing *a = calloc(1, len);
	struct virtio_gpu_mem_entry *e = (struct virtio_gpu_mem_entry *)(a + 1);
	uint64_t page = vud_alloc(v, 4096);
	uint32_t n = 0, last = OK;

	(void)state;
	assert_non_null(a);
	a->hdr.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING;
	a->nr_entries = n_ent;
	for (uint32_t i = 0; i < n_ent; i++)
		e[i] = (struct virtio_gpu_mem_entry){page, 4096, 0};
	while (n < 64) {
		assert_int_equal(vud_create_2d(v, n + 1, XRGB, 1, 1), OK);
		a->resource_id = n + 1;
		struct virtio_gpu_ctrl_hdr r;
		assert_int_equal(vud_request(v, 0, a, len, &r, sizeof(r), 5000), sizeof(r));
		last = r.type;
		if (last != OK)
			break;
		n++;
	}
	free(a);
	assert_int_equal(last, OOM);
	/* At least 16 bytes of bookkeeping per entry: at most 16 under 4 MiB. */
	assert_true(n >= 1 && n <= 16);
	printf("# %u backings of %u entries under a 4 MiB cap\n", n, n_ent);
	finish(v);
}

static void
test_flood_contexts(void **state)
{
#ifdef FAKE_GS_PATH
	struct vud *v = start_3d("--max-contexts=8");
	struct virtio_gpu_ctx_destroy d = {
		.hdr = {.type = VIRTIO_GPU_CMD_CTX_DESTROY, .ctx_id = 3}};

	(void)state;
	for (uint32_t c = 1; c <= 8; c++)
		assert_int_equal(vud_ctx_create(v, c, 3), OK);
	assert_int_equal(vud_ctx_create(v, 9, 3), OOM);
	expect(v, &d, sizeof(d), OK);
	assert_int_equal(vud_ctx_create(v, 9, 3), OK);
	finish(v);
#else
	(void)state;
#endif
}

static void
test_flood_blobs(void **state)
{
#ifdef FAKE_GS_PATH
	struct vud *v = start_3d("--max-hostmem=8M");
	uint32_t n = 0, last;

	(void)state;
	assert_int_equal(vud_ctx_create(v, 1, 3), OK);
	while ((last = vud_blob_host3d(v, 1, n + 1, n + 1, 1 << 20)) == OK && n < 64)
		n++;
	assert_int_equal(last, OOM);
	assert_int_equal(n, 8);
	/* Blobs hold fds while they live: all of them go back. */
	for (uint32_t id = 1; id <= n; id++) {
		struct virtio_gpu_resource_unref u = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF,
						      .resource_id = id};
		expect(v, &u, sizeof(u), OK);
	}
	finish(v);
#else
	(void)state;
#endif
}

/* ---- state changes while something holds on (see docs/architecture.md,
   "Lifetimes") ---- */

#define FB_W	  1024
#define FB_H	  768
#define FB_STRIDE 4096

/* FB_W x FB_H pixels, pixel i = seed + i. */
static void
fill_frame(uint32_t *px, uint32_t seed)
{
	for (uint32_t i = 0; i < FB_W * FB_H; i++)
		px[i] = seed + i;
}

/* A GUEST blob of FB_H rows of FB_STRIDE bytes over guest memory holding
   fill_frame(seed); returns those pixels (the frame it shows). */
static const uint32_t *
guest_blob(struct vud *v, uint32_t id, uint32_t seed)
{
	struct {
		struct virtio_gpu_resource_create_blob b;
		struct virtio_gpu_mem_entry e;
	} c = {{.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB,
		.resource_id = id,
		.blob_mem = VIRTIO_GPU_BLOB_MEM_GUEST,
		.nr_entries = 1,
		.size = FB_STRIDE * FB_H},
	       {vud_alloc(v, FB_STRIDE * FB_H), FB_STRIDE * FB_H, 0}};

	assert_true(c.e.addr != 0);
	uint32_t *px = vud_host(v, c.e.addr);
	fill_frame(px, seed);
	expect(v, &c, sizeof(c), OK);
	return px;
}

static struct virtio_gpu_set_scanout_blob
scanout_blob(uint32_t id)
{
	return (struct virtio_gpu_set_scanout_blob){.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT_BLOB,
						    .r = {0, 0, FB_W, FB_H},
						    .resource_id = id,
						    .width = FB_W,
						    .height = FB_H,
						    .format = XRGB,
						    .strides = {FB_STRIDE}};
}

/* Two requests in one batch (taken before the next display refresh), both
   answered OK_NODATA. */
static void
batch_ok(struct vud *v, const void *a, size_t a_len, const void *b, size_t b_len)
{
	struct virtio_gpu_ctrl_hdr resp[2];
	struct vud_req r[2] = {{a, a_len, &resp[0], sizeof(resp[0]), 0, 0},
			       {b, b_len, &resp[1], sizeof(resp[1]), 0, 0}};

	assert_int_equal(vud_requests(v, 0, r, 2, 5000), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(r[i].used, sizeof(resp[i]));
		assert_int_equal(resp[i].type, OK);
	}
}

/* A blob scanout replaced by another blob before the display showed the
   first: the first shadow is not read after it is freed, the second shows. */
static void
test_scanout_blob_replaced_in_batch(void **state)
{
	struct vud *v = start();
	struct virtio_gpu_set_scanout_blob a = scanout_blob(1), b = scanout_blob(2);

	(void)state;
	guest_blob(v, 1, 0x100000);
	const uint32_t *second = guest_blob(v, 2, 0x200000);
	batch_ok(v, &a, sizeof(a), &b, sizeof(b));
	assert_true(vud_wait_frame(v, second, FB_W, FB_H, 5000));
	finish(v);
}

/* The same with a 2D resource taking the blob's place. */
static void
test_scanout_blob_then_2d_in_batch(void **state)
{
	struct vud *v = start();
	struct virtio_gpu_set_scanout_blob a = scanout_blob(1);
	struct virtio_gpu_set_scanout b = {
		.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT, .r = {0, 0, FB_W, FB_H}, .resource_id = 3};
	struct virtio_gpu_transfer_to_host_2d t = {.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
						   .r = {0, 0, FB_W, FB_H},
						   .resource_id = 3};

	(void)state;
	guest_blob(v, 1, 0x100000);
	assert_int_equal(vud_create_2d(v, 3, XRGB, FB_W, FB_H), OK);
	uint32_t *second = vud_host(v, backing(v, 3, FB_W * FB_H * 4));
	fill_frame(second, 0x300000);
	expect(v, &t, sizeof(t), OK);
	batch_ok(v, &a, sizeof(a), &b, sizeof(b));
	assert_true(vud_wait_frame(v, second, FB_W, FB_H, 5000));
	finish(v);
}

static int
ring0_state(struct vud *v, uint32_t request, uint32_t num)
{
	struct vu_vring_state st = {0, num};

	return vud_msg_ack(v, request, &st, sizeof(st), NULL, 0);
}

/* Ring 0's addresses as vud_start set them, the used ring at used_gpa. */
static int
ring0_addr(struct vud *v, uint64_t used_gpa)
{
	struct vu_vring_addr a = {.index = 0,
				  .desc = vud_uaddr(v, v->q[0].desc_gpa),
				  .used = vud_uaddr(v, used_gpa),
				  .avail = vud_uaddr(v, v->q[0].avail_gpa)};

	return vud_msg_ack(v, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
}

/* Ring 0 started again as QEMU does it: call, kick, enable. */
static void
ring0_start(struct vud *v)
{
	uint64_t idx = 0;

	assert_int_equal(vud_msg_ack(v, VU_SET_VRING_CALL, &idx, 8, &v->q[0].call, 1), 0);
	assert_int_equal(vud_msg_ack(v, VU_SET_VRING_KICK, &idx, 8, &v->q[0].kick, 1), 0);
	assert_int_equal(ring0_state(v, VU_SET_VRING_ENABLE, 1), 0);
}

/* SET_VRING_NUM after SET_VRING_ADDR: a size whose used ring runs past guest
   memory is refused (and the frontend dropped) before any kick. */
static void
test_vring_num_after_addr_too_big(void **state)
{
	struct vud *v = start();
	uint64_t end = VUD_GPA_BASE + MEM_MB * (1ull << 20);

	(void)state;
	assert_int_equal(vud_stop_queue(v, 0, NULL), 0);
	assert_int_equal(ring0_state(v, VU_SET_VRING_NUM, 64), 0);
	assert_int_equal(ring0_state(v, VU_SET_VRING_BASE, 30000), 0);
	/* 64 used entries (518 bytes) fit below the end, 32768 do not. */
	assert_int_equal(ring0_addr(v, end - 1024), 0);
	int ret = ring0_state(v, VU_SET_VRING_NUM, 32768);
	assert_true(ret == -EIO || ret == -ECONNRESET);
	dropped(v);
}

/* A new size after the addresses that still fits: accepted, and the ring
   works at that size (slots past it hold heads that would break it). */
static void
test_vring_num_after_addr_fits(void **state)
{
	struct vud *v = start();
	struct virtio_gpu_resource_unref u = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF,
					      .resource_id = 99};
	uint32_t last;

	(void)state;
	assert_int_equal(vud_stop_queue(v, 0, &last), 0);
	assert_int_equal(last, v->q[0].avail_idx);
	assert_int_equal(ring0_state(v, VU_SET_VRING_NUM, 64), 0);
	assert_int_equal(ring0_state(v, VU_SET_VRING_BASE, last), 0);
	assert_int_equal(ring0_addr(v, v->q[0].used_gpa), 0);
	assert_int_equal(ring0_state(v, VU_SET_VRING_NUM, 32), 0);
	v->q[0].num = 32;
	uint16_t *avail = vud_host(v, v->q[0].avail_gpa);
	for (int i = 32; i < VUD_QUEUE_SIZE; i++)
		avail[2 + i] = 0xffff;
	ring0_start(v);
	for (int i = 0; i < 40; i++) /* around the 32 entries and on */
		expect(v, &u, sizeof(u), BAD_RES);
	finish(v);
}

static void
uaddr_zero(struct vud *v)
{
	v->uaddr_set = true;
	v->uaddr = 0;
}

/* Guest memory (and so the descriptor table) at frontend user address 0,
   then the same table again: the rings are found again and serve. */
static void
test_ring_at_uaddr_zero(void **state)
{
	struct vud *v = launch_with(ALL_2D, uaddr_zero, NULL);

	(void)state;
	assert_int_equal(vud_set_mem_table(v), 0);
	serving(v);
	finish(v);
}

#ifdef FAKE_GS_PATH
/* n (<= 16) fenced SUBMIT_3Ds to context 1, fence ids first.., sent in one
   batch on a gfxstream daemon whose fake fires fences delay_ms late; returns
   once the library holds every fence. */
struct fenced_batch {
	struct {
		struct virtio_gpu_cmd_submit s;
		uint32_t data;
	} sub[16];
	struct virtio_gpu_ctrl_hdr resp[16];
	struct vud_req r[16];
	int n;
	uint64_t first;
};

static struct vud *
start_fenced_batch(struct fenced_batch *b, int n, uint64_t first, const char *delay_ms)
{
	setenv("FAKE_GS_FENCE_DELAY_MS", delay_ms, 1);
	struct vud *v = start_3d(NULL);
	unsetenv("FAKE_GS_FENCE_DELAY_MS");

	assert_in_range(n, 1, 16);
	b->n = n;
	b->first = first;
	assert_int_equal(vud_ctx_create(v, 1, 3), OK);
	for (int i = 0; i < n; i++) {
		b->sub[i].s =
			(struct virtio_gpu_cmd_submit){.hdr = {.type = VIRTIO_GPU_CMD_SUBMIT_3D,
							       .flags = VIRTIO_GPU_FLAG_FENCE,
							       .fence_id = first + (uint64_t)i,
							       .ctx_id = 1},
						       .size = 4};
		b->sub[i].data = 0;
		b->r[i] = (struct vud_req){
			&b->sub[i], sizeof(b->sub[i]), &b->resp[i], sizeof(b->resp[i]), 0, 0};
	}
	assert_int_equal(vud_submit(v, 0, b->r, (unsigned)n), 0);
	assert_true(vud_wait_log(v, "fake-gfxstream: fence ", n, 5000)); /* all in flight */
	return v;
}

/* Each request of the batch came back OK with its own fence. */
static void
assert_fenced_batch_done(const struct fenced_batch *b)
{
	for (int i = 0; i < b->n; i++) {
		assert_int_equal(b->r[i].used, sizeof(b->resp[i]));
		assert_int_equal(b->resp[i].type, OK);
		assert_int_equal(b->resp[i].flags, VIRTIO_GPU_FLAG_FENCE);
		assert_int_equal(b->resp[i].fence_id, b->first + (uint64_t)i);
		assert_int_equal(b->resp[i].ctx_id, 1);
	}
}

/* 16 fenced submits whose fences fire late, the memory table replaced while
   they are in flight: each comes back with its own fence. */
static void
test_fences_across_mem_table(void **state)
{
	struct fenced_batch b;

	(void)state;
	struct vud *v = start_fenced_batch(&b, 16, 100, "1500");
	assert_int_equal(vud_set_mem_table(v), 0);
	assert_int_equal(vud_collect(v, 0, b.r, 16, 5000), 0);
	assert_fenced_batch_done(&b);
	finish(v);
}

/* The control queue stopped (GET_VRING_BASE, as at every VM stop) while
   fenced requests wait for their fences: they are completed before the
   reply, while the ring is still the daemon's; after it the frontend owns
   the index, and a late completion would be lost (the guest's request never
   answered) or land on the restarted ring. */
static void
test_fences_across_queue_stop(void **state)
{
	struct fenced_batch b;
	uint32_t last;

	(void)state;
	struct vud *v = start_fenced_batch(&b, 4, 7, "3000");
	uint16_t before = v->q[0].used_seen;
	assert_int_equal(vud_stop_queue(v, 0, &last), 0);
	/* Answered by the time the reply came: nothing to wait for. */
	assert_int_equal((uint16_t)(vud_used_idx(v, 0) - before), 4);
	assert_int_equal(vud_collect(v, 0, b.r, 4, 0), 0);
	assert_fenced_batch_done(&b);
	assert_int_equal(last, v->q[0].avail_idx);
	/* The ring restarts at the index the reply gave, and serves. */
	assert_int_equal(ring0_state(v, VU_SET_VRING_NUM, VUD_QUEUE_SIZE), 0);
	assert_int_equal(ring0_state(v, VU_SET_VRING_BASE, last), 0);
	assert_int_equal(ring0_addr(v, v->q[0].used_gpa), 0);
	ring0_start(v);
	finish(v);
}

static void
with_shmem(struct vud *v)
{
	v->want_shmem = true;
	v->shmem_bit = 22; /* the daemon's default SHMEM bit */
}

/* gfxstream with a 1 MiB host-visible region mapped through the backend
   channel, a context 1 and HOST3D blobs 1..n of a page each. */
static struct vud *
start_mappable(uint32_t n)
{
	struct vud *v = launch_with(ALL_2D | GS, with_shmem, "--backend=gfxstream",
				    "--gfxstream-lib=" FAKE_GS_PATH, "--hostmem-window=1M", NULL);

	assert_non_null(v->shmem);
	assert_int_equal(vud_ctx_create(v, 1, 3), OK);
	for (uint32_t id = 1; id <= n; id++)
		assert_int_equal(vud_blob_host3d(v, 1, id, id, 4096), OK);
	return v;
}

/* Blobs hold fds while they live: give blobs 1..n back. */
static void
unref_blobs(struct vud *v, uint32_t n)
{
	for (uint32_t id = 1; id <= n; id++) {
		struct virtio_gpu_resource_unref u = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNREF,
						      .resource_id = id};
		expect(v, &u, sizeof(u), OK);
	}
}

/* MAP_BLOB of blob id at page id - 1 of the region: the answer's type. */
static uint32_t
map_blob(struct vud *v, uint32_t id)
{
	struct virtio_gpu_resource_map_blob m = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB,
						 .resource_id = id,
						 .offset = (id - 1) * 4096ull};
	struct virtio_gpu_resp_map_info r;

	memset(&r, 0xee, sizeof(r));
	assert_true(vud_request(v, 0, &m, sizeof(m), &r, sizeof(r), 5000) >= (int)sizeof(r.hdr));
	return r.hdr.type;
}

/* A frontend that sends a new memory table (and waits for its reply)
   before it acks a map or unmap, as QEMU 11.1 does: the daemon takes the
   table in while it waits, so the ack comes and the map succeeds (it
   waited for an ack that could not come, then failed the map). */
static void
test_map_memtable_first(void **state)
{
	struct vud *v = start_mappable(2);

	(void)state;
	__atomic_store_n(&v->backend_peer, VUD_PEER_MEMTABLE_FIRST, __ATOMIC_RELEASE);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(map_blob(v, 1), MAP_INFO);
		assert_int_equal(map_blob(v, 2), MAP_INFO);
		struct virtio_gpu_resource_unmap_blob u = {
			.hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB, .resource_id = 1};
		expect(v, &u, sizeof(u), OK);
		u.resource_id = 2;
		expect(v, &u, sizeof(u), OK);
	}
	assert_int_equal(__atomic_load_n(&v->n_shmem_map, __ATOMIC_ACQUIRE), 6);
	assert_int_equal(__atomic_load_n(&v->n_shmem_unmap, __ATOMIC_ACQUIRE), 6);
	/* The queue still works on the table taken in meanwhile. */
	assert_int_equal(vud_create_2d(v, 9, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64), OK);
	__atomic_store_n(&v->backend_peer, VUD_PEER_ANSWER, __ATOMIC_RELEASE);
	unref_blobs(v, 2);
	finish(v);
}

static void
with_shmem_slots(struct vud *v)
{
	with_shmem(v);
	v->want_mem_slots = true;
}

/* A frontend that acks a map before the guest can see it (QEMU 11.1: the
   ack, then the commit that adds the region, announced by a memory-table
   message): MAP_BLOB is answered only after that message (the guest was
   told at once, touched the region before QEMU mapped it, and read zeros).
   Both ways QEMU announces it: ADD_MEM_REG, and SET_MEM_TABLE. */
static void
map_waits_for_commit(bool slots)
{
	struct vud *v = launch_with(ALL_2D | GS, slots ? with_shmem_slots : with_shmem,
				    "--backend=gfxstream", "--gfxstream-lib=" FAKE_GS_PATH,
				    "--hostmem-window=1M", NULL);

	assert_int_equal(vud_ctx_create(v, 1, 3), OK);
	assert_int_equal(vud_blob_host3d(v, 1, 1, 1, 4096), OK);
	__atomic_store_n(&v->backend_peer, VUD_PEER_COMMIT_AFTER, __ATOMIC_RELEASE);
	for (unsigned round = 0; round < 3; round++) {
		assert_int_equal(map_blob(v, 1), MAP_INFO);
		assert_int_equal(__atomic_load_n(&v->n_map_commits, __ATOMIC_ACQUIRE), round + 1);
		struct virtio_gpu_resource_unmap_blob u = {
			.hdr.type = VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB, .resource_id = 1};
		expect(v, &u, sizeof(u), OK);
	}
	/* The queue still works on the tables taken in meanwhile. */
	assert_int_equal(vud_create_2d(v, 9, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 64), OK);
	usleep(200 * 1000); /* the last unmap's table message */
	__atomic_store_n(&v->backend_peer, VUD_PEER_ANSWER, __ATOMIC_RELEASE);
	unref_blobs(v, 1);
	finish(v);
}

static void
test_map_waits_for_commit_slots(void **state)
{
	(void)state;
	map_waits_for_commit(true);
}

static void
test_map_waits_for_commit_table(void **state)
{
	(void)state;
	map_waits_for_commit(false);
}

/* Our end of the backend channel answers as peer says: the daemon waits at
   most 1 s, closes the channel and fails that MAP_BLOB; later ones fail at
   once without a word on any channel, until a new channel comes. */
static void
backend_peer(int peer)
{
	struct vud *v = start_mappable(3);

	assert_int_equal(map_blob(v, 1), MAP_INFO);
	__atomic_store_n(&v->backend_peer, peer, __ATOMIC_RELEASE);
	/* Failed, not answered late (LATE answers after 1.5 s) nor after
	   map_blob's 5 s (SILENT never answers). */
	assert_int_equal(map_blob(v, 2), UNSPEC);
	__atomic_store_n(&v->backend_peer, VUD_PEER_ANSWER, __ATOMIC_RELEASE);
	/* Two maps were sent; SILENT left the second unread until now: our
	   thread reads it first (it waited in the socket), then we count. */
	for (int i = 0; i < 500 && __atomic_load_n(&v->n_backend_req, __ATOMIC_ACQUIRE) < 2; i++)
		usleep(10000);
	unsigned seen = __atomic_load_n(&v->n_backend_req, __ATOMIC_ACQUIRE);
	assert_int_equal(seen, 2);
	assert_int_equal(map_blob(v, 2), UNSPEC);
	/* Nothing sent on the dropped channel, so nothing waited for. */
	assert_int_equal(__atomic_load_n(&v->n_backend_req, __ATOMIC_ACQUIRE), seen);
	assert_int_equal(vud_new_backend_channel(v), 0);
	assert_int_equal(map_blob(v, 2), MAP_INFO);
	assert_int_equal(map_blob(v, 3), MAP_INFO);
	unref_blobs(v, 3);
	finish(v);
}

static void
test_backend_reply_wrong_request(void **state)
{
	(void)state;
	backend_peer(VUD_PEER_WRONG_REQUEST);
}

static void
test_backend_reply_oversized(void **state)
{
	(void)state;
	backend_peer(VUD_PEER_OVERSIZED);
}

static void
test_backend_reply_late(void **state)
{
	(void)state;
	backend_peer(VUD_PEER_LATE);
}

static void
test_backend_silent(void **state)
{
	(void)state;
	backend_peer(VUD_PEER_SILENT);
}

/* Three mapped blobs, then the backend channel goes silent. */
static struct vud *
mapped_then_silent(void)
{
	struct vud *v = start_mappable(3);

	for (uint32_t id = 1; id <= 3; id++)
		assert_int_equal(map_blob(v, id), MAP_INFO);
	__atomic_store_n(&v->backend_peer, VUD_PEER_SILENT, __ATOMIC_RELEASE);
	return v;
}

/* The frontend hangs up: the daemon does not wait on the silent channel
   before it serves the next one. */
static void
test_hangup_silent_backend(void **state)
{
	struct vud *v = mapped_then_silent();

	(void)state;
	vud_disconnect(v); /* the silent channel stays open */
	__atomic_store_n(&v->backend_peer, VUD_PEER_ANSWER, __ATOMIC_RELEASE);
	assert_int_equal(vud_reconnect(v), 0);
	assert_int_equal(vud_start(v, g_want, MEM_MB), 0);
	finish(v);
}

static void
test_sigterm_silent_backend(void **state)
{
	struct vud *v = mapped_then_silent();

	(void)state;
	assert_int_equal(kill(v->child, SIGTERM), 0);
	assert_int_equal(vud_wait_exit(v, EXIT_MS), 0);
	assert_int_equal(vud_stop(v), 0);
	g_live = NULL;
	g_live_child = 0;
	free(v);
}
#endif

/* GET_DISPLAY_INFO answered with the mode of launch(). */
static void
expect_launch_mode(const struct virtio_gpu_resp_display_info *info)
{
	assert_int_equal(info->hdr.type, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
	assert_int_equal(info->pmodes[0].r.width, 1024);
	assert_int_equal(info->pmodes[0].r.height, 768);
	assert_int_equal(info->pmodes[0].enabled, 1);
}

/* A display that stopped reading: 16 queries all answered with the last
   mode (the daemon gives up on it once, not once per query), and SIGTERM
   still ends the daemon at once. */
static void
test_display_stalled(void **state)
{
	struct virtio_gpu_ctrl_hdr q = {.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO};
	struct virtio_gpu_resp_display_info info[16];
	struct vud_req r[16];
	struct vud *v = start();

	(void)state;
	for (int i = 0; i < 16; i++)
		r[i] = (struct vud_req){&q, sizeof(q), &info[i], sizeof(info[i]), 0, 0};
	vud_pause_display(v, true);
	assert_int_equal(vud_requests(v, 0, r, 16, 5000), 0);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(r[i].used, sizeof(info[i]));
		expect_launch_mode(&info[i]);
	}
	assert_int_equal(kill(v->child, SIGTERM), 0);
	assert_int_equal(vud_wait_exit(v, EXIT_MS), 0);
	assert_int_equal(vud_stop(v), 0);
	g_live = NULL;
	g_live_child = 0;
	free(v);
}

/* A display that answers GET_DISPLAY_INFO with an impossible mode or a
   reply of the wrong size: the guest keeps the last good mode, promptly. */
static void
test_display_lies(void **state)
{
	static const int lies[] = {VUD_DISPLAY_ZERO, VUD_DISPLAY_HUGE, VUD_DISPLAY_SHORT_REPLY};
	struct virtio_gpu_ctrl_hdr q = {.type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO};
	struct virtio_gpu_resp_display_info info;
	struct vud *v = start();

	(void)state;
	/* The last good mode, once the daemon has asked the display. */
	for (int i = 0; i < 4 && (i == 0 || info.pmodes[0].r.width != 1024); i++)
		assert_int_equal(vud_request(v, 0, &q, sizeof(q), &info, sizeof(info), 5000),
				 sizeof(info));
	expect_launch_mode(&info);
	for (size_t l = 0; l < sizeof(lies) / sizeof(lies[0]); l++) {
		pthread_mutex_lock(&v->disp.lock);
		v->disp.lie = lies[l];
		pthread_mutex_unlock(&v->disp.lock);
		int64_t t0 = vud_now_ms();
		for (int i = 0; i < 8; i++) {
			assert_int_equal(
				vud_request(v, 0, &q, sizeof(q), &info, sizeof(info), 5000),
				sizeof(info));
			expect_launch_mode(&info);
		}
		assert_true(vud_now_ms() - t0 < 4000); /* no second-long wait per query */
	}
	pthread_mutex_lock(&v->disp.lock);
	v->disp.lie = VUD_DISPLAY_TRUTH;
	pthread_mutex_unlock(&v->disp.lock);
	finish(v);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		T(test_short_command),
		T(test_unknown_command),
		T(test_resource_id_zero),
		T(test_resource_id_duplicate),
		T(test_resource_id_unknown),
		T(test_create_bad_format),
		T(test_create_zero_size),
		T(test_create_over_hostmem),
		T(test_attach_too_many_entries),
		T(test_attach_entries_past_request),
		T(test_attach_entry_zero_length),
		T(test_attach_entry_wrapping),
		T(test_attach_entry_outside_memory),
		T(test_attach_twice),
		T(test_detach_without_backing),
		T(test_transfer_rect_outside),
		T(test_transfer_past_backing),
		T(test_flush_rect_outside),
		T(test_scanout_id_out_of_range),
		T(test_scanout_rect_outside),
		T(test_unref_shown_resource),
		T(test_cursor_not_64x64),
		T(test_capset_info_out_of_range),
		T(test_response_buffer_too_small),
		T(test_blob_without_feature),
		T(test_uuid_without_feature),
		T(test_3d_without_feature),
		T(test_capset_unknown),
		T(test_capset_size_zero),
		T(test_ctx_create_id_zero),
		T(test_ctx_create_duplicate),
		T(test_submit_size_huge),
		T(test_failed_fenced_command),
		T(test_msg_bad_version),
		T(test_msg_reserved_flags),
		T(test_msg_oversized),
		T(test_msg_short_payload),
		T(test_msg_unknown_request),
		T(test_msg_eof_mid_header),
		T(test_msg_eof_mid_payload),
		T(test_msg_fds_where_none_taken),
		T(test_msg_too_many_fds),
		T(test_mem_no_regions),
		T(test_mem_too_many_regions),
		T(test_mem_fd_count_mismatch),
		T(test_mem_size_zero),
		T(test_mem_overflow),
		T(test_mem_overlap),
		T(test_mem_slots_not_negotiated),
		T(test_mem_slots_hostile),
		T(test_vring_index_out_of_range),
		T(test_vring_num_zero),
		T(test_vring_num_not_power_of_two),
		T(test_vring_num_over_max),
		T(test_vring_num_while_running),
		T(test_vring_addr_misaligned),
		T(test_vring_addr_outside_memory),
		T(test_desc_head_out_of_range),
		T(test_desc_next_out_of_range),
		T(test_desc_loop),
		T(test_desc_outside_memory),
		T(test_desc_readable_after_writable),
		T(test_desc_indirect),
		T(test_avail_index_jump),
		T(test_flood_hostmem),
		T(test_flood_resources),
		T(test_flood_backing),
		T(test_flood_contexts),
		T(test_flood_blobs),
		T(test_scanout_blob_replaced_in_batch),
		T(test_scanout_blob_then_2d_in_batch),
		T(test_vring_num_after_addr_too_big),
		T(test_vring_num_after_addr_fits),
		T(test_ring_at_uaddr_zero),
#ifdef FAKE_GS_PATH
		T(test_fences_across_mem_table),
		T(test_fences_across_queue_stop),
		T(test_backend_reply_wrong_request),
		T(test_backend_reply_oversized),
		T(test_backend_reply_late),
		T(test_backend_silent),
		T(test_map_memtable_first),
		T(test_map_waits_for_commit_slots),
		T(test_map_waits_for_commit_table),
		T(test_hangup_silent_backend),
		T(test_sigterm_silent_backend),
#endif
		T(test_display_stalled),
		T(test_display_lies),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-KOHLRABI\n", argv[0]);
		return 2;
	}
	daemon_path = argv[1];
	/* HOSTILE_FILTER=test_name (a cmocka pattern) runs some tests only. */
	if (getenv("HOSTILE_FILTER"))
		cmocka_set_test_filter(getenv("HOSTILE_FILTER"));
	/* The frontend never dies of a daemon hanging up on it. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	g_memfd = memfd_create("hostile", MFD_CLOEXEC);
	if (g_memfd < 0 || ftruncate(g_memfd, 1 << 20) < 0) {
		perror("memfd");
		return 1;
	}
	return cmocka_run_group_tests_name("hostile", tests, NULL, NULL);
}
