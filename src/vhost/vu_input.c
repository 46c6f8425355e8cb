/* SPDX-License-Identifier: MIT */
/* The virtio-input device on a vhost-user connection (vu_input.h). */
#include "vu_input.h"

#include <endian.h>
#include <errno.h>
#include <linux/input.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/iov.h"
#include "util/util.h"
#include "vring.h"

#define EVENTQ	0
#define STATUSQ 1

/* ---- the config space: what select/subsel ask for ---- */

static void
set_bit(uint8_t *bitmap, unsigned bit, uint8_t *size)
{
	bitmap[bit / 8] |= (uint8_t)(1u << (bit % 8));
	if (bit / 8 + 1 > *size)
		*size = (uint8_t)(bit / 8 + 1);
}

/* The answer to the driver's (select, subsel), in c (zeroed by the caller). */
static void
config_answer(const struct vu_input *in, struct virtio_input_config *c)
{
	static const char name[] = "kohlrabi keyboard and tablet", serial[] = "kohlrabi-0";

	c->select = in->select;
	c->subsel = in->subsel;
	switch (in->select) {
	case VIRTIO_INPUT_CFG_ID_NAME:
		memcpy(c->u.string, name, sizeof(name) - 1);
		c->size = sizeof(name) - 1;
		break;
	case VIRTIO_INPUT_CFG_ID_SERIAL:
		memcpy(c->u.string, serial, sizeof(serial) - 1);
		c->size = sizeof(serial) - 1;
		break;
	case VIRTIO_INPUT_CFG_ID_DEVIDS:
		c->u.ids.bustype = htole16(BUS_VIRTUAL);
		c->u.ids.vendor = htole16(0x0627); /* as QEMU's virtio-input devices */
		c->u.ids.product = htole16(0x4b52);
		c->u.ids.version = htole16(1);
		c->size = sizeof(c->u.ids);
		break;
	case VIRTIO_INPUT_CFG_EV_BITS:
		if (in->subsel == EV_KEY) {
			for (unsigned k = KEY_ESC; k <= KEY_MICMUTE; k++)
				set_bit(c->u.bitmap, k, &c->size);
			set_bit(c->u.bitmap, BTN_LEFT, &c->size);
			set_bit(c->u.bitmap, BTN_RIGHT, &c->size);
			set_bit(c->u.bitmap, BTN_MIDDLE, &c->size);
		} else if (in->subsel == EV_REL) {
			set_bit(c->u.bitmap, REL_WHEEL, &c->size);
		} else if (in->subsel == EV_ABS) {
			set_bit(c->u.bitmap, ABS_X, &c->size);
			set_bit(c->u.bitmap, ABS_Y, &c->size);
		}
		break;
	case VIRTIO_INPUT_CFG_ABS_INFO:
		if (in->subsel == ABS_X || in->subsel == ABS_Y) {
			c->u.abs.min = 0;
			c->u.abs.max = htole32(VU_INPUT_ABS_MAX);
			c->size = sizeof(c->u.abs);
		}
		break;
	default: break; /* unset, PROP_BITS (none) and unknown: size 0 */
	}
}

static uint64_t
dev_features(void *user)
{
	(void)user;
	return 0; /* virtio-input has no device features */
}

static int
dev_set_features(void *user, uint64_t features)
{
	(void)user;
	return features ? -EINVAL : 0;
}

static int
dev_get_config(void *user, uint32_t offset, void *buf, uint32_t len)
{
	struct vu_input *in = user;
	struct virtio_input_config c;

	if (offset > sizeof(c) || len > sizeof(c) - offset)
		return -EINVAL;
	memset(&c, 0, sizeof(c));
	config_answer(in, &c);
	memcpy(buf, (const uint8_t *)&c + offset, len);
	return 0;
}

/* The driver writes select (byte 0) and subsel (byte 1); the rest is
   read-only and ignored. */
static int
dev_set_config(void *user, uint32_t offset, const void *buf, uint32_t len)
{
	struct vu_input *in = user;
	const uint8_t *b = buf;

	if (offset > sizeof(struct virtio_input_config) ||
	    len > sizeof(struct virtio_input_config) - offset)
		return -EINVAL;
	for (uint32_t i = 0; i < len; i++) {
		if (offset + i == offsetof(struct virtio_input_config, select))
			in->select = b[i];
		else if (offset + i == offsetof(struct virtio_input_config, subsel))
			in->subsel = b[i];
	}
	return 0;
}

static int
dev_mem_changed(void *user, const struct vu_mem *mem)
{
	(void)user;
	(void)mem; /* nothing of guest memory is kept between calls */
	return 0;
}

static void
dev_queue_state(void *user, unsigned q, bool started)
{
	struct vu_input *in = user;
	int fd = in->vu.vq[q].kick_fd;

	if (fd >= 0)
		in->loop.watch_kick(in->loop.user, q, fd, started);
}

static void
dev_gpu_socket(void *user, int fd)
{
	struct vu_input *in = user;

	log_msg(in->log, KR_LOG_WARN,
		"input: a display socket offered to the input device; closed");
	close(fd);
}

static void
dev_reset(void *user)
{
	struct vu_input *in = user;

	in->select = in->subsel = 0;
	pthread_mutex_lock(&in->lock);
	in->head = in->count = 0; /* events meant for the old driver */
	pthread_mutex_unlock(&in->lock);
}

static void deliver(struct vu_input *in);

/* The status queue carries the driver's LED states: taken and dropped. */
static void
drain_status(struct vu_input *in)
{
	struct vring *vr = &in->vu.vq[STATUSQ];
	int ret;

	while ((ret = vring_pop(vr, &in->vu.mem, in->req)) == 1)
		vring_push(vr, in->req->head, 0);
	vring_set_avail_event(vr);
	vring_flush(vr);
	if (ret < 0) {
		log_msg(in->log, KR_LOG_ERROR, "input: the driver broke the status queue");
		if (vr->kick_fd >= 0)
			in->loop.watch_kick(in->loop.user, STATUSQ, vr->kick_fd, false);
	}
}

static void
dev_queue_kick(void *user, unsigned q)
{
	struct vu_input *in = user;
	struct vring *vr = &in->vu.vq[q];

	if (!vr->started || !vr->enabled)
		return;
	if (q == STATUSQ)
		drain_status(in);
	else
		deliver(in); /* new buffers: what waits can go */
}

static const struct vu_ops input_ops = {
	.features = dev_features,
	.set_features = dev_set_features,
	.get_config = dev_get_config,
	.set_config = dev_set_config,
	.mem_changed = dev_mem_changed,
	.queue_kick = dev_queue_kick,
	.queue_state = dev_queue_state,
	.gpu_socket = dev_gpu_socket,
	.reset = dev_reset,
};

/* ---- events: the VNC thread posts, the loop delivers ---- */

static void
deliver(struct vu_input *in)
{
	struct vring *vr = &in->vu.vq[EVENTQ];
	int ret = 0;

	if (!vr->started || !vr->enabled || vr->broken)
		return;
	pthread_mutex_lock(&in->lock);
	while (in->count && (ret = vring_pop(vr, &in->vu.mem, in->req)) == 1) {
		struct vring_req *r = in->req;
		const struct virtio_input_event *e = &in->queue[in->head];
		/* A buffer the driver gave: readable parts make no sense here, and
		   one too small for an event is answered empty. */
		size_t n = iov_from_buf(r->iov + r->n_in, r->n_out, 0, e, sizeof(*e));
		vring_push(vr, r->head, n == sizeof(*e) ? (uint32_t)n : 0);
		if (n == sizeof(*e)) {
			in->head = (in->head + 1) % VU_INPUT_QUEUE;
			in->count--;
			in->delivered++;
		}
	}
	pthread_mutex_unlock(&in->lock);
	vring_set_avail_event(vr);
	vring_flush(vr);
	if (ret < 0) {
		log_msg(in->log, KR_LOG_ERROR, "input: the driver broke the event queue");
		if (vr->kick_fd >= 0)
			in->loop.watch_kick(in->loop.user, EVENTQ, vr->kick_fd, false);
	}
}

void
vu_input_post(struct vu_input *in, const struct vu_input_ev *ev, unsigned n)
{
	uint64_t one = 1;

	pthread_mutex_lock(&in->lock);
	for (unsigned i = 0; i < n; i++) {
		if (in->count == VU_INPUT_QUEUE) {
			in->dropped++; /* the guest reads no events: the newest go */
			continue;
		}
		in->queue[(in->head + in->count) % VU_INPUT_QUEUE] = (struct virtio_input_event){
			htole16(ev[i].type), htole16(ev[i].code), htole32((uint32_t)ev[i].value)};
		in->count++;
	}
	pthread_mutex_unlock(&in->lock);
	if (write(in->event_fd, &one, sizeof(one)) < 0) {
		/* a full counter: the loop is already told */
	}
}

void
vu_input_events(struct vu_input *in)
{
	uint64_t n;

	if (read(in->event_fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: nothing new, deliver anyway */
	}
	deliver(in);
}

/* ---- lifecycle ---- */

int
vu_input_init(struct vu_input *in, struct logger *log, const struct vu_input_loop *loop)
{
	memset(in, 0, sizeof(*in));
	in->log = log;
	in->loop = *loop;
	pthread_mutex_init(&in->lock, NULL);
	in->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	in->req = calloc(1, sizeof(*in->req));
	if (in->event_fd < 0 || !in->req)
		return -ENOMEM;
	vu_dev_init(&in->vu, &input_ops, in, log);
	in->vu.shmem_bit = -1;
	return 0;
}

void
vu_input_finish(struct vu_input *in)
{
	if (!in->log)
		return;
	if (in->vu.cb)
		vu_dev_detach(&in->vu);
	if (in->event_fd >= 0)
		close(in->event_fd);
	in->event_fd = -1;
	free(in->req);
	in->req = NULL;
	pthread_mutex_destroy(&in->lock);
	in->log = NULL;
}

int
vu_input_attach(struct vu_input *in, int fd)
{
	return vu_dev_attach(&in->vu, fd);
}

void
vu_input_detach(struct vu_input *in)
{
	vu_dev_detach(&in->vu);
	dev_reset(in);
}

int
vu_input_message(struct vu_input *in)
{
	return vu_dev_dispatch(&in->vu);
}

void
vu_input_kick(struct vu_input *in, unsigned q)
{
	uint64_t n;

	if (q >= VU_MAX_QUEUES || in->vu.vq[q].kick_fd < 0 ||
	    (read(in->vu.vq[q].kick_fd, &n, sizeof(n)) < 0 && errno != EAGAIN))
		return;
	dev_queue_kick(in, q);
}
