/* SPDX-License-Identifier: MIT */
/*
 * The display-protocol sink (src/display/vugpu.c) against a socketpair whose
 * other end is the test: messages that arrive in pieces, replies of the
 * wrong size, and a frontend that stops reading.  Nothing here may wait.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "display/vugpu.h"
#include "vhost/vu_proto.h"

struct seen {
	unsigned ready, infos, null_infos;
	uint32_t width0;
};

static void
on_info(void *user, const struct virtio_gpu_resp_display_info *info)
{
	struct seen *s = user;

	s->infos++;
	if (!info)
		s->null_infos++;
	else
		s->width0 = info->pmodes[0].r.width;
}

static void
on_ready(void *user)
{
	((struct seen *)user)->ready++;
}

static const struct vugpu_ops ops = {.display_info = on_info, .ready = on_ready};

struct pair {
	struct vugpu v;
	struct logger log;
	struct seen seen;
	int peer;
};

static void
pair_open(struct pair *p)
{
	int sv[2];

	memset(p, 0, sizeof(*p));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	logger_init(&p->log, KR_LOG_ERROR, NULL, NULL);
	vugpu_init(&p->v, &p->log, &ops, &p->seen);
	assert_int_equal(vugpu_attach(&p->v, sv[0]), 0);
	p->peer = sv[1];
	struct vu_hdr h;
	assert_int_equal(read(p->peer, &h, sizeof(h)), sizeof(h)); /* GET_PROTOCOL_FEATURES */
	assert_int_equal(h.request, VUGPU_GET_PROTOCOL_FEATURES);
}

static void
pair_close(struct pair *p)
{
	vugpu_finish(&p->v);
	close(p->peer);
}

/* A reply the frontend writes in three pieces is handled once whole; the
   pieces before it neither block nor drop the display. */
static void
test_reply_in_pieces(void **state)
{
	struct pair p;
	struct {
		struct vu_hdr h;
		uint64_t features;
	} __attribute__((packed)) r = {{VUGPU_GET_PROTOCOL_FEATURES, VUGPU_FLAG_REPLY, 8}, 0};
	const uint8_t *b = (const uint8_t *)&r;

	(void)state;
	pair_open(&p);
	assert_int_equal(write(p.peer, b, 5), 5);
	assert_int_equal(vugpu_read(&p.v), 0);
	assert_true(vugpu_connected(&p.v));
	assert_int_equal(p.seen.ready, 0);
	assert_int_equal(write(p.peer, b + 5, 10), 10);
	assert_int_equal(vugpu_read(&p.v), 0);
	assert_int_equal(p.seen.ready, 0);
	assert_int_equal(write(p.peer, b + 15, sizeof(r) - 15), (ssize_t)sizeof(r) - 15);
	assert_int_equal(vugpu_read(&p.v), 0);
	assert_int_equal(p.seen.ready, 1);
	assert_true(p.v.negotiated);
	pair_close(&p);
}

/* GET_DISPLAY_INFO answered with the wrong size (17 modes' worth) still
   answers the query, as "nothing usable" (NULL); a good one follows. */
static void
test_display_info_wrong_size(void **state)
{
	struct pair p;
	uint8_t buf[sizeof(struct vu_hdr) + 17 * 24 + 24] = {0};
	struct vu_hdr h = {VUGPU_GET_DISPLAY_INFO, VUGPU_FLAG_REPLY, 17 * 24 + 24};

	(void)state;
	pair_open(&p);
	memcpy(buf, &h, sizeof(h));
	assert_int_equal(write(p.peer, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	assert_int_equal(vugpu_read(&p.v), 0);
	assert_int_equal(p.seen.infos, 1);
	assert_int_equal(p.seen.null_infos, 1);
	struct {
		struct vu_hdr h;
		struct virtio_gpu_resp_display_info info;
	} __attribute__((packed)) good = {{VUGPU_GET_DISPLAY_INFO, VUGPU_FLAG_REPLY,
					   sizeof(struct virtio_gpu_resp_display_info)}};
	good.info.pmodes[0].r.width = 800;
	assert_int_equal(write(p.peer, &good, sizeof(good)), (ssize_t)sizeof(good));
	assert_int_equal(vugpu_read(&p.v), 0);
	assert_int_equal(p.seen.infos, 2);
	assert_int_equal(p.seen.width0, 800);
	/* Bigger than any message: the display is dropped, not waited on. */
	h.size = 1u << 20;
	assert_int_equal(write(p.peer, &h, sizeof(h)), (ssize_t)sizeof(h));
	assert_int_equal(vugpu_read(&p.v), -EPROTO);
	assert_false(vugpu_connected(&p.v));
	pair_close(&p);
}

/* A frontend that stops reading: 100k cursor moves pile up in the queue,
   which grows geometrically (a handful of reallocations, not one per
   message) and stays under its cap. */
static void
test_stalled_queue_grows_geometrically(void **state)
{
	struct pair p;
	struct kr_cursor_info c = {.visible = true};

	(void)state;
	pair_open(&p);
	for (uint32_t i = 0; i < 100000; i++) {
		c.x = i;
		vugpu_cursor(&p.v, &c);
	}
	assert_true(vugpu_connected(&p.v));
	assert_true(vugpu_busy(&p.v));
	assert_true(p.v.out_len - p.v.out_off > 1000000); /* most of it still queued */
	assert_true(p.v.grows <= 16);
	assert_true(p.v.out_cap <= VUGPU_MAX_QUEUED + 4096);
	pair_close(&p);
}

/* A scanout set before its pixels are read back (KR_GPU_CB_DEFER_READBACK:
   pixels NULL) is never read from: not when the library warns that it
   changes, not at a present; the update that brings pixels is what goes
   out. */
static void
test_scanout_without_pixels(void **state)
{
	struct pair p;
	const uint32_t px[4 * 2] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct kr_scanout_info info = {.scanout_id = 0,
				       .resource_id = 7,
				       .width = 4,
				       .height = 2,
				       .format = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM};

	(void)state;
	pair_open(&p);
	vugpu_scanout(&p.v, 0, &info);
	vugpu_changing(&p.v, &info); /* read NULL before */
	assert_int_equal(p.v.copies, 0);
	info.pixels = px;
	info.stride = 16;
	vugpu_update(&p.v, &info, &(struct kr_rect){1, 0, 2, 2});
	vugpu_present(&p.v);
	assert_int_equal(p.v.copies, 1);
	assert_int_equal(p.v.frames_sent, 1);
	/* The frame sent: the updated part, from px. */
	uint8_t buf[4096];
	ssize_t n = read(p.peer, buf, sizeof(buf));
	assert_true(n > 0);
	const uint8_t *end = buf + n, *m = buf;
	const struct vugpu_update *u = NULL;
	while (m + sizeof(struct vu_hdr) <= end) {
		struct vu_hdr h;
		memcpy(&h, m, sizeof(h));
		if (h.request == VUGPU_UPDATE)
			u = (const struct vugpu_update *)(const void *)(m + sizeof(h));
		m += sizeof(h) + h.size;
	}
	assert_non_null(u);
	assert_int_equal(u->x, 1);
	assert_int_equal(u->width, 2);
	assert_int_equal(u->height, 2);
	uint32_t got[4];
	memcpy(got, (const uint8_t *)u + sizeof(*u), sizeof(got));
	const uint32_t want[4] = {2, 3, 6, 7};
	for (int i = 0; i < 4; i++)
		assert_int_equal(got[i] & 0xffffff, want[i]);
	pair_close(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_in_pieces),
		cmocka_unit_test(test_display_info_wrong_size),
		cmocka_unit_test(test_stalled_queue_grows_geometrically),
		cmocka_unit_test(test_scanout_without_pixels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
