/* SPDX-License-Identifier: MIT */
/*
 * A virtio-input device on a vhost-user connection (QEMU's
 * vhost-user-input-pci): one device with a keyboard, the mouse buttons and
 * wheel, and an absolute pointer (a tablet: ABS_X/ABS_Y 0..32767 over the
 * whole desktop).  Events come from kohlrabi's VNC console, from its thread,
 * through vu_input_post(); the loop that runs the device moves them into the
 * event queue when vu_input_events() is called (eventfd readable).
 *
 * The driver's config requests (select/subsel written, the answer read) and
 * its status queue (LEDs: read and dropped) get the checks every guest input
 * gets; nothing the guest gives is kept but select and subsel.
 */
#ifndef KR_VHOST_VU_INPUT_H
#define KR_VHOST_VU_INPUT_H

#include <linux/virtio_input.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/log.h"
#include "vu.h"

/* Events waiting for event-queue buffers; more are dropped (counted). */
#define VU_INPUT_QUEUE	 1024
#define VU_INPUT_ABS_MAX 32767

/* What the device asks of the loop: watch queue q's kick fd (call
   vu_input_kick when readable). */
struct vu_input_loop {
	void *user; /* borrowed */
	int (*watch_kick)(void *user, unsigned q, int fd, bool on);
};

struct vu_input {
	struct vu_dev vu;
	struct logger *log; /* borrowed */
	struct vu_input_loop loop;
	uint8_t select, subsel; /* the driver's last config request */
	struct vring_req *req;	/* owned: scratch */
	int event_fd;		/* owned: eventfd, readable while events wait */
	pthread_mutex_t lock;	/* guards queue..dropped (vu_input_post's thread) */
	struct virtio_input_event queue[VU_INPUT_QUEUE]; /* little-endian, as sent */
	unsigned head, count;
	uint64_t dropped;
	uint64_t delivered; /* events written into the guest's buffers */
};

int vu_input_init(struct vu_input *in, struct logger *log, const struct vu_input_loop *loop);
void vu_input_finish(struct vu_input *in);
int vu_input_attach(struct vu_input *in, int fd);
void vu_input_detach(struct vu_input *in);
/* The connection is readable; -errno when it ended. */
int vu_input_message(struct vu_input *in);
void vu_input_kick(struct vu_input *in, unsigned q);
/* event_fd is readable: deliver what waits, as far as the guest gave room. */
void vu_input_events(struct vu_input *in);
/* An event in host order (linux/input-event-codes.h). */
struct vu_input_ev {
	uint16_t type, code;
	int32_t value;
};
/* Any thread: queue n events; an EV_SYN/SYN_REPORT should end each group. */
void vu_input_post(struct vu_input *in, const struct vu_input_ev *ev, unsigned n);

#endif
