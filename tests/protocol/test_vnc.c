/* SPDX-License-Identifier: MIT */
/*
 * kohlrabi's VNC console (--vnc) seen by a real VNC client (Debian's
 * libvncclient): the frame it receives equals the guest's pixels exactly,
 * a new scanout size reaches it as a resize, a second scanout has its own
 * port, a password is asked when one is set, and hostile clients (gone at
 * once, garbage, a flood of events) leave the device serving and the other
 * clients served.  argv[1] is the daemon.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <linux/input.h>
#include <linux/virtio_input.h>
#include <netinet/in.h>
#include <pthread.h>
#include <rfb/rfbclient.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../vnc_client.h"
#include "vhost/vu_proto.h"
#include "vud.h"

#define OK   VIRTIO_GPU_RESP_OK_NODATA
#define XRGB VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM

static char *daemon_path;

/* A TCP port nobody listens on now (the daemon takes it and the next). */
static int
free_port(void)
{
	for (int tries = 0; tries < 50; tries++) {
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(0x7f000001)};
		socklen_t len = sizeof(a);
		int s = socket(AF_INET, SOCK_STREAM, 0), s2;
		assert_true(s >= 0);
		assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
		int port = ntohs(a.sin_port);
		close(s);
		/* port + 1 must be free too, for a second scanout. */
		a.sin_port = htons((uint16_t)(port + 1));
		s2 = socket(AF_INET, SOCK_STREAM, 0);
		int ok = bind(s2, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(s2);
		if (ok && port < 65535)
			return port;
	}
	fail_msg("no free port pair");
	return -1;
}

static struct vud *
start2(const char *vnc, const char *extra, const char *extra2)
{
	char *argv[] = {daemon_path, "--socket-path", "{socket}",     "--log-level", "error",
			(char *)vnc, (char *)extra,   (char *)extra2, NULL};
	struct vud *v = calloc(1, sizeof(*v));

	assert_non_null(v);
	assert_int_equal(vud_spawn_flags(v, argv, VUD_SPAWN_LOG), 0);
	v->disp.mode_w = 1024;
	v->disp.mode_h = 768;
	assert_int_equal(vud_start(v, 0, 64), 0);
	return v;
}

static struct vud *
start(const char *vnc, const char *extra)
{
	return start2(vnc, extra, NULL);
}

static void
stop(struct vud *v)
{
	kill(v->child, SIGTERM);
	assert_int_equal(vud_stop(v), 0);
	free(v);
}

/* Resource id of w x h XRGB pixels pixel(x, y, seed), shown on scanout. */
static uint32_t
pixel(uint32_t x, uint32_t y, uint32_t seed)
{
	return (x * 7 + y * 131 + seed * 977) * 0x010203u & 0x00ffffffu;
}

static void
show(struct vud *v, uint32_t scanout, uint32_t id, uint32_t w, uint32_t h, uint32_t seed)
{
	uint64_t gpa = vud_alloc(v, (size_t)w * h * 4);
	uint32_t *px = vud_host(v, gpa);

	assert_true(gpa && px);
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			px[y * w + x] = pixel(x, y, seed) | 0xff000000u;
	assert_int_equal(vud_create_2d(v, id, XRGB, w, h), OK);
	assert_int_equal(vud_attach(v, id, gpa, w * h * 4), OK);
	struct virtio_gpu_transfer_to_host_2d t = {.hdr.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
						   .r = {0, 0, w, h},
						   .resource_id = id};
	assert_int_equal(vud_cmd(v, &t, sizeof(t)), OK);
	struct virtio_gpu_set_scanout s = {.hdr.type = VIRTIO_GPU_CMD_SET_SCANOUT,
					   .r = {0, 0, w, h},
					   .scanout_id = scanout,
					   .resource_id = id};
	assert_int_equal(vud_cmd(v, &s, sizeof(s)), OK);
	struct virtio_gpu_resource_flush f = {
		.hdr.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH, .r = {0, 0, w, h}, .resource_id = id};
	assert_int_equal(vud_cmd(v, &f, sizeof(f)), OK);
}

static const char *password_given;

static char *
give_password(rfbClient *c)
{
	(void)c;
	return strdup(password_given ? password_given : "");
}

static void
quiet(const char *fmt, ...)
{
	(void)fmt;
}

static rfbClient *client_at(const char *host, int port);

/* A libvncclient connected to port, in x8r8g8b8; NULL when refused. */
static rfbClient *
client(int port)
{
	return client_at("127.0.0.1", port);
}

/* host: an address, or a UNIX socket's path (libvncclient takes a path
   that starts with '/' as one). */
static rfbClient *
client_at(const char *host, int port)
{
	rfbClient *c = rfbGetClient(8, 3, 4);

	assert_non_null(c);
	c->format.redShift = 16;
	c->format.greenShift = 8;
	c->format.blueShift = 0;
	free(c->serverHost); /* rfbGetClient's own "" */
	c->serverHost = strdup(host);
	c->serverPort = port;
	c->GetPassword = give_password;
	c->appData.encodingsString = "raw";
	/* The cursor as a shape of its own (what kohlrabi sends), never drawn
	   into the frame. */
	c->appData.useRemoteCursor = TRUE;
	if (!rfbInitClient(c, NULL, NULL))
		return NULL; /* rfbInitClient freed c */
	return c;
}

/* Pump the client until its frame is w x h pixel(.., seed) or 10 s pass. */
static bool
client_sees(rfbClient *c, uint32_t w, uint32_t h, uint32_t seed)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if ((uint32_t)c->width == w && (uint32_t)c->height == h && c->frameBuffer) {
			const uint32_t *fb = (const uint32_t *)(void *)c->frameBuffer;
			bool same = true;
			for (uint32_t i = 0; i < w * h && same; i++)
				same = (fb[i] & 0x00ffffffu) == pixel(i % w, i / w, seed);
			if (same)
				return true;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 10) {
			const uint32_t *fb = (const uint32_t *)(void *)c->frameBuffer;
			uint32_t bad = 0, nz = 0;
			for (uint32_t i = 0; fb && i < (uint32_t)(c->width * c->height); i++) {
				if (fb[i] & 0xffffff)
					nz++;
				if (!bad && i < w * h &&
				    (fb[i] & 0xffffffu) != pixel(i % w, i / w, seed))
					bad = i + 1;
			}
			fprintf(stderr,
				"vnc client: %dx%d, first pixel 0x%08x (want %ux%u, 0x%06x), first "
				"bad %u "
				"(0x%08x want 0x%06x), %u non-zero\n",
				c->width, c->height, fb ? fb[0] : 0, w, h, pixel(0, 0, seed), bad,
				bad && fb ? fb[bad - 1] : 0,
				bad ? pixel((bad - 1) % w, (bad - 1) / w, seed) : 0, nz);
			return false;
		}
		SendFramebufferUpdateRequest(c, 0, 0, c->width, c->height, TRUE);
		int n = WaitForMessage(c, 100000);
		if (n < 0 || (n > 0 && !HandleRFBServerMessage(c)))
			return false;
	}
}

static void
test_frame_and_resize(void **state)
{
	char opt[32];
	int port = free_port();

	(void)state;
	snprintf(opt, sizeof(opt), "--vnc=%d", port);
	struct vud *v = start(opt, "--gpu=displays=2");
	show(v, 0, 1, 96, 64, 1);
	rfbClient *c = client(port);
	assert_non_null(c);
	assert_true(client_sees(c, 96, 64, 1));
	/* Another resource of another size on the same scanout: a resize. */
	show(v, 0, 2, 40, 30, 2);
	assert_true(client_sees(c, 40, 30, 2));
	/* The second scanout, on the next port. */
	show(v, 1, 3, 50, 20, 3);
	rfbClient *c2 = client(port + 1);
	assert_non_null(c2);
	assert_true(client_sees(c2, 50, 20, 3));
	vnc_client_free(c2);
	vnc_client_free(c);
	stop(v);
}

/* --vnc=unix:PATH: the console on a UNIX socket (no TCP port at all). */
static void
test_unix_socket(void **state)
{
	char dir[] = "/tmp/kr-vnc-unix-XXXXXX", path[64], opt[96];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vnc.sock", dir);
	snprintf(opt, sizeof(opt), "--vnc=unix:%s", path);
	struct vud *v = start(opt, NULL);
	show(v, 0, 1, 48, 24, 9);
	rfbClient *c = client_at(path, 0);
	assert_non_null(c);
	assert_true(client_sees(c, 48, 24, 9));
	vnc_client_free(c);
	stop(v);
	assert_int_equal(access(path, F_OK), -1); /* removed at exit */
	rmdir(dir);
}

static void
test_password(void **state)
{
	char opt[32], path[] = "/tmp/kr-vnc-pw-XXXXXX";
	int port = free_port(), fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s3cret\n", 7), 7);
	close(fd);
	snprintf(opt, sizeof(opt), "--vnc=127.0.0.1:%d", port);
	char popt[64];
	snprintf(popt, sizeof(popt), "--vnc-password-file=%s", path);
	struct vud *v = start(opt, popt);
	show(v, 0, 1, 16, 16, 4);
	password_given = "wrong";
	assert_null(client(port));
	password_given = "s3cret";
	rfbClient *c = client(port);
	assert_non_null(c);
	assert_true(client_sees(c, 16, 16, 4));
	vnc_client_free(c);
	password_given = NULL;
	stop(v);
	unlink(path);
}

/* Raw TCP to the VNC port: gone at once, garbage, then a flood of key and
   pointer events and huge update requests; the device serves on and a
   well-behaved client still gets the frame. */
static void
test_hostile_clients(void **state)
{
	char opt[32];
	int port = free_port();
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(0x7f000001)};

	(void)state;
	snprintf(opt, sizeof(opt), "--vnc=%d", port);
	struct vud *v = start(opt, NULL);
	show(v, 0, 1, 64, 32, 5);
	long fds = vud_backend_fds(v), rss = vud_backend_rss_kib(v);
	for (int i = 0; i < 20; i++) { /* connect and vanish */
		int s = socket(AF_INET, SOCK_STREAM, 0);
		assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
		close(s);
	}
	int s = socket(AF_INET, SOCK_STREAM, 0); /* garbage instead of a version */
	assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
	char junk[4096];
	memset(junk, 0xa5, sizeof(junk));
	assert_true(send(s, junk, sizeof(junk), MSG_NOSIGNAL) > 0);
	close(s);
	rfbClient *flood = client(port);
	assert_non_null(flood);
	for (int i = 0; i < 20000; i++) {
		SendKeyEvent(flood, 0x61 + (i % 26), i & 1);
		SendPointerEvent(flood, i % 64, i % 32, i & 7);
		if (i % 100 == 0)
			SendFramebufferUpdateRequest(flood, 0, 0, 65535, 65535, FALSE);
	}
	rfbClient *c = client(port);
	assert_non_null(c);
	assert_true(client_sees(c, 64, 32, 5));
	vnc_client_free(flood);
	vnc_client_free(c);
	/* The device serves on, and holds no more fds than before. */
	show(v, 0, 2, 8, 8, 6);
	for (int i = 0; i < 100 && vud_backend_fds(v) > fds; i++)
		usleep(20000); /* the closed clients' sockets go at the VNC thread's next tick */
	assert_int_equal(vud_backend_fds(v), fds);
	/* What the clients sent is not kept: 20,000 events, garbage and
	   requests for 65535x65535 leave the daemon's memory where it was,
	   give or take a few MiB of allocator slack. */
	long grew = vud_backend_rss_kib(v) - rss;
	assert_true(rss > 0 && grew < 16 * 1024);
	stop(v);
}

/* A frontend of the input device (vud, as for the GPU: it offers a display
   socket too, which the input device refuses by closing it). */
static struct vud *
input_frontend(const char *path)
{
	struct vud *in = calloc(1, sizeof(*in));

	assert_non_null(in);
	in->sock = in->display_fd = in->memfd = in->backend_fd = in->backend_held = in->log_fd = -1;
	pthread_mutex_init(&in->disp.lock, NULL);
	assert_int_equal(vud_connect(in, path), 0);
	assert_int_equal(vud_start(in, 0, 16), 0);
	return in;
}

/* SET_CONFIG of select/subsel, then GET_CONFIG of the whole config. */
static void
input_config(struct vud *in, uint8_t select, uint8_t subsel, struct virtio_input_config *out)
{
	struct vu_config c = {.offset = 0, .size = 2};

	c.payload[0] = select;
	c.payload[1] = subsel;
	assert_int_equal(vud_msg_ack(in, VU_SET_CONFIG, &c, VU_CONFIG_HDR + 2, NULL, 0), 0);
	c = (struct vu_config){.offset = 0, .size = sizeof(*out)};
	assert_int_equal(
		vud_send_raw(in, VU_GET_CONFIG, VU_VERSION, &c, VU_CONFIG_HDR + c.size, NULL, 0),
		0);
	assert_int_equal(vud_recv_reply(in, VU_GET_CONFIG, &c, VU_CONFIG_HDR + sizeof(*out)), 0);
	memcpy(out, c.payload, sizeof(*out));
}

/* n event-queue buffers of cap bytes each (writable only), submitted. */
static void
event_buffers(struct vud *in, struct vud_req *r, struct virtio_input_event *ev, unsigned n,
	      size_t cap)
{
	for (unsigned i = 0; i < n; i++)
		r[i] = (struct vud_req){NULL, 0, &ev[i], cap, 0, 0};
	assert_int_equal(vud_submit(in, 0, r, n), 0);
}

/* --input-socket: the virtio-input config the driver reads, VNC keys as
   events in the guest's buffers, and the guest's hostile parts: buffers
   too small or readable only, status-queue garbage, no buffers at all
   while keys flood in, a config write out of range. */
static void
test_input_device(void **state)
{
	char opt[32], dir[] = "/tmp/kr-vnc-in-XXXXXX", path[64], iopt[96];
	struct virtio_input_config cfg;
	struct virtio_input_event ev[8];
	struct vud_req r[8];
	int port = free_port();

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/in.sock", dir);
	snprintf(iopt, sizeof(iopt), "--input-socket=%s", path);
	snprintf(opt, sizeof(opt), "--vnc=%d", port);
	struct vud *v = start2(opt, iopt, NULL);
	show(v, 0, 1, 64, 32, 7);
	struct vud *in = input_frontend(path);

	input_config(in, VIRTIO_INPUT_CFG_ID_NAME, 0, &cfg);
	assert_int_equal(cfg.size, strlen("kohlrabi keyboard and tablet"));
	assert_memory_equal(cfg.u.string, "kohlrabi keyboard and tablet", cfg.size);
	input_config(in, VIRTIO_INPUT_CFG_EV_BITS, EV_ABS, &cfg);
	assert_int_equal(cfg.size, 1);
	assert_int_equal(cfg.u.bitmap[0], (1 << ABS_X) | (1 << ABS_Y));
	input_config(in, VIRTIO_INPUT_CFG_ABS_INFO, ABS_Y, &cfg);
	assert_int_equal(le32toh(cfg.u.abs.max), 32767);
	input_config(in, 0x99, 0x42, &cfg); /* nothing there */
	assert_int_equal(cfg.size, 0);

	/* A 4-byte buffer and a readable-only one are answered empty; the
	   events go to the buffers that fit.  (One batch: vud reuses its
	   descriptors from one submit to the next.) */
	struct vud_req all[6] = {{NULL, 0, &ev[7], 4, 0, 0}, {"x", 1, NULL, 0, 0, 0}};
	for (int i = 0; i < 4; i++)
		all[2 + i] = (struct vud_req){NULL, 0, &ev[i], sizeof(ev[0]), 0, 0};
	assert_int_equal(vud_submit(in, 0, all, 6), 0);
	rfbClient *c = client(port);
	assert_non_null(c);
	SendKeyEvent(c, 'a', TRUE);
	SendKeyEvent(c, 'a', FALSE);
	assert_int_equal(vud_collect(in, 0, all, 6, 5000), 0);
	assert_int_equal(all[0].used, 0);
	assert_int_equal(all[1].used, 0);
	const uint16_t want[4][2] = {
		{EV_KEY, KEY_A}, {EV_SYN, SYN_REPORT}, {EV_KEY, KEY_A}, {EV_SYN, SYN_REPORT}};
	for (int i = 0; i < 4; i++) {
		assert_int_equal(all[2 + i].used, sizeof(ev[0]));
		assert_int_equal(le16toh(ev[i].type), want[i][0]);
		assert_int_equal(le16toh(ev[i].code), want[i][1]);
	}
	assert_int_equal(le32toh(ev[0].value), 1);
	assert_int_equal(le32toh(ev[2].value), 0);

	/* Status-queue garbage is taken and answered empty. */
	static const uint8_t garbage[9] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	assert_int_equal(vud_request(in, 1, garbage, sizeof(garbage), NULL, 0, 5000), 0);

	/* Keys while the guest gives no buffers: held up to a bound, then the
	   first of them delivered once buffers come. */
	for (int i = 0; i < 3000; i++)
		SendKeyEvent(c, 'b', i % 2 == 0);
	SendFramebufferUpdateRequest(c, 0, 0, 1, 1, FALSE); /* after the keys, in order */
	assert_true(client_sees(c, 64, 32, 7));
	event_buffers(in, r, ev, 8, sizeof(ev[0]));
	assert_int_equal(vud_collect(in, 0, r, 8, 5000), 0);
	assert_int_equal(le16toh(ev[0].code), KEY_B);
	assert_int_equal(le32toh(ev[0].value), 1);

	/* A config write past the config: the input frontend is dropped; the
	   GPU serves on, and a new input frontend is taken. */
	struct vu_config bad = {.offset = 200, .size = 8};
	assert_int_equal(
		vud_send_raw(in, VU_SET_CONFIG, VU_VERSION, &bad, VU_CONFIG_HDR + 8, NULL, 0), 0);
	assert_true(vud_peer_closed(in, 5000));
	vud_stop(in);
	free(in);
	show(v, 0, 2, 8, 8, 8);
	in = input_frontend(path);
	input_config(in, VIRTIO_INPUT_CFG_ID_SERIAL, 0, &cfg);
	assert_memory_equal(cfg.u.string, "kohlrabi-0", 10);
	vud_stop(in);
	free(in);
	vnc_client_free(c);
	stop(v);
	rmdir(dir);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_and_resize), cmocka_unit_test(test_password),
		cmocka_unit_test(test_unix_socket),	 cmocka_unit_test(test_hostile_clients),
		cmocka_unit_test(test_input_device),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-KOHLRABI\n", argv[0]);
		return 2;
	}
	daemon_path = argv[1];
	rfbClientLog = rfbClientErr = quiet;
	return cmocka_run_group_tests_name("vnc", tests, NULL, NULL);
}
