/* SPDX-License-Identifier: MIT */
#include "vu.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "vu_proto.h"

/* A frontend that stops halfway through a message (or stops reading our
   reply) is dropped after this: the longest the loop waits on it. */
#define VU_RECV_TIMEOUT_S 2
/* The longest wait for the frontend's ack of a backend-channel request, for
   the whole reply; past it the channel is closed (see backend_request). */
#define VU_BACKEND_ACK_TIMEOUT_MS 1000
#define VU_MAP_COMMIT_FIRST_MS	  250
#define VU_MAP_COMMIT_MS	  1000

#define DEVICE_FEATURE_MASK ((1ull << 24) - 1)

struct vu_msg {
	struct vu_hdr hdr;
	union {
		uint64_t u64;
		struct vu_vring_state state;
		struct vu_vring_addr addr;
		struct vu_mem_table mem;
		struct vu_mem_single single;
		struct vu_config config;
		uint8_t raw[VU_MAX_PAYLOAD];
	} p;
	int fds[VU_MAX_REGIONS];
	unsigned n_fds;
};

static const char *
req_name(uint32_t r)
{
	static const char *const names[] = {
		[VU_GET_FEATURES] = "GET_FEATURES",
		[VU_SET_FEATURES] = "SET_FEATURES",
		[VU_SET_OWNER] = "SET_OWNER",
		[VU_RESET_OWNER] = "RESET_OWNER",
		[VU_SET_MEM_TABLE] = "SET_MEM_TABLE",
		[VU_SET_LOG_BASE] = "SET_LOG_BASE",
		[VU_SET_LOG_FD] = "SET_LOG_FD",
		[VU_SET_VRING_NUM] = "SET_VRING_NUM",
		[VU_SET_VRING_ADDR] = "SET_VRING_ADDR",
		[VU_SET_VRING_BASE] = "SET_VRING_BASE",
		[VU_GET_VRING_BASE] = "GET_VRING_BASE",
		[VU_SET_VRING_KICK] = "SET_VRING_KICK",
		[VU_SET_VRING_CALL] = "SET_VRING_CALL",
		[VU_SET_VRING_ERR] = "SET_VRING_ERR",
		[VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
		[VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
		[VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
		[VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
		[VU_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
		[VU_GET_CONFIG] = "GET_CONFIG",
		[VU_SET_CONFIG] = "SET_CONFIG",
		[VU_GPU_SET_SOCKET] = "GPU_SET_SOCKET",
		[VU_RESET_DEVICE] = "RESET_DEVICE",
		[VU_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
		[VU_ADD_MEM_REG] = "ADD_MEM_REG",
		[VU_REM_MEM_REG] = "REM_MEM_REG",
		[VU_SET_STATUS] = "SET_STATUS",
		[VU_GET_STATUS] = "GET_STATUS",
		[VU_GET_SHMEM_CONFIG] = "GET_SHMEM_CONFIG",
	};
	return r < ARRAY_SIZE(names) && names[r] ? names[r] : "unknown";
}

uint64_t
vu_dev_offered(const struct vu_dev *d)
{
	return (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
	       (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VU_F_PROTOCOL_FEATURES) |
	       (d->cb->features(d->user) & DEVICE_FEATURE_MASK);
}

/* The SHMEM protocol-feature bit as a mask, 0 when there is no region. */
static uint64_t
shmem_feature(const struct vu_dev *d)
{
	if (!d->shmem_size || d->shmem_bit < 0 || d->shmem_bit >= 64)
		return 0;
	return 1ull << d->shmem_bit;
}

static uint64_t
protocol_offered(const struct vu_dev *d)
{
	return (1ull << VU_PROTOCOL_F_REPLY_ACK) | (1ull << VU_PROTOCOL_F_CONFIG) |
	       (1ull << VU_PROTOCOL_F_RESET_DEVICE) | (1ull << VU_PROTOCOL_F_BACKEND_REQ) |
	       (1ull << VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS) | shmem_feature(d);
}

static bool
shmem_negotiated(const struct vu_dev *d)
{
	return d->protocol_features & shmem_feature(d);
}

void
vu_dev_init(struct vu_dev *d, const struct vu_ops *ops, void *user, struct logger *log)
{
	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->backend_fd = -1;
	d->shmem_bit = -1;
	d->cb = ops;
	d->user = user;
	d->log = log;
	for (unsigned q = 0; q < VU_MAX_QUEUES; q++)
		vring_init(&d->vq[q]);
}

static void
stop_queue(struct vu_dev *d, unsigned q)
{
	struct vring *vr = &d->vq[q];
	bool event_idx = vr->event_idx, indirect = vr->indirect;
	uint32_t gen = vr->gen + 1; /* what was popped before is not waited for */

	if (vr->started)
		d->cb->queue_state(d->user, q, false);
	if (vr->last_avail || vr->used_idx)
		d->vq_used_since_reset = true;
	vring_flush(vr);
	vring_reset(vr);
	vr->event_idx = event_idx;
	vr->indirect = indirect;
	vr->gen = gen;
}

static void
reset_all(struct vu_dev *d)
{
	for (unsigned q = 0; q < VU_MAX_QUEUES; q++)
		stop_queue(d, q);
	d->cb->reset(d->user);
	d->vq_used_since_reset = false;
}

/* A frontend that stops halfway, or never acks, must not hang the device. */
static void
set_timeouts(int fd)
{
	struct timeval tv = {.tv_sec = VU_RECV_TIMEOUT_S};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int
vu_dev_attach(struct vu_dev *d, int fd)
{
	if (d->fd >= 0)
		return -EBUSY;
	set_timeouts(fd);
	d->fd = fd;
	d->features = d->protocol_features = 0;
	d->features_set = d->owner = false;
	d->messages = 0;
	d->map_commit = 0;
	return 0;
}

static void
close_fds(struct vu_msg *m)
{
	for (unsigned i = 0; i < m->n_fds; i++) {
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	}
	m->n_fds = 0;
}

/* Deferred memory-table messages nobody will apply. */
static void
drop_deferred(struct vu_dev *d)
{
	for (unsigned i = 0; i < d->n_deferred; i++) {
		close_fds(d->deferred[i]);
		free(d->deferred[i]);
		d->deferred[i] = NULL;
	}
	d->n_deferred = 0;
}

void
vu_dev_detach(struct vu_dev *d)
{
	/* The frontend is gone (or being dropped): nobody answers on the
	   backend channel, so the reset below unmaps blobs locally at once. */
	if (d->backend_fd >= 0)
		close(d->backend_fd);
	d->backend_fd = -1;
	drop_deferred(d);
	reset_all(d);
	struct vu_mem old = d->mem;
	memset(&d->mem, 0, sizeof(d->mem));
	d->cb->mem_changed(d->user, &d->mem); /* forgotten first, then unmapped */
	vu_mem_clear(&old);
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Read exactly len bytes before the deadline (CLOCK_MONOTONIC ms). */
static int
read_before(int fd, void *buf, size_t len, uint64_t deadline)
{
	uint8_t *p = buf;

	while (len > 0) {
		uint64_t now = mono_ms();
		struct pollfd pfd = {fd, POLLIN, 0};
		if (now >= deadline)
			return -ETIMEDOUT;
		int r = poll(&pfd, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 ? -ETIMEDOUT : -errno;
		ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return n == 0 ? -ECONNRESET : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
recv_msg(struct vu_dev *d, struct vu_msg *m)
{
	union {
		char buf[CMSG_SPACE(VU_MAX_REGIONS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {&m->hdr, sizeof(m->hdr)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	ssize_t r;
	int ret;

	do {
		r = recvmsg(d->fd, &mh, MSG_CMSG_CLOEXEC);
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ECONNRESET;
	if (r < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (m->n_fds < VU_MAX_REGIONS)
				m->fds[m->n_fds++] = fd;
			else
				close(fd);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		log_msg(d->log, KR_LOG_ERROR, "vhost-user: too many fds on one message");
		return -EPROTO;
	}
	/* The rest of the message follows promptly or the frontend is dropped:
	   one deadline for all of it, however it trickles in. */
	uint64_t deadline = mono_ms() + VU_RECV_TIMEOUT_S * 1000;
	if ((size_t)r < sizeof(m->hdr) &&
	    (ret = read_before(d->fd, (uint8_t *)&m->hdr + r, sizeof(m->hdr) - (size_t)r,
			       deadline)) < 0)
		return ret;
	if ((m->hdr.flags & VU_FLAG_VERSION_MASK) != VU_VERSION ||
	    (m->hdr.flags & ~VU_FLAGS_KNOWN) || (m->hdr.flags & VU_FLAG_REPLY)) {
		log_msg(d->log, KR_LOG_ERROR, "vhost-user: bad flags 0x%x on %s", m->hdr.flags,
			req_name(m->hdr.request));
		return -EPROTO;
	}
	if (m->hdr.size > VU_MAX_PAYLOAD) {
		log_msg(d->log, KR_LOG_ERROR, "vhost-user: %s payload of %u bytes",
			req_name(m->hdr.request), m->hdr.size);
		return -EPROTO;
	}
	return read_before(d->fd, &m->p, m->hdr.size, deadline);
}

static int
send_reply(struct vu_dev *d, uint32_t request, const void *payload, uint32_t size)
{
	struct {
		struct vu_hdr hdr;
		uint8_t p[VU_MAX_PAYLOAD];
	} r = {.hdr = {request, VU_VERSION | VU_FLAG_REPLY, size}};
	size_t len = sizeof(r.hdr) + size;
	const uint8_t *b = (const uint8_t *)&r;

	memcpy(r.p, payload, size);
	while (len > 0) {
		ssize_t w = send(d->fd, b, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -EPIPE;
		b += w;
		len -= (size_t)w;
	}
	return 0;
}

static int
reply_u64(struct vu_dev *d, uint32_t request, uint64_t v)
{
	return send_reply(d, request, &v, sizeof(v));
}

/* Checks a message's payload size and fd count. */
static bool
shape_ok(const struct vu_msg *m, uint32_t size, unsigned fds)
{
	return m->hdr.size == size && m->n_fds == fds;
}

static struct vring *
ring_of(struct vu_dev *d, uint32_t index)
{
	return index < VU_MAX_QUEUES ? &d->vq[index] : NULL;
}

static void
start_if_ready(struct vu_dev *d, unsigned q)
{
	struct vring *vr = &d->vq[q];

	if (!vr->started || !vr->enabled || vr->broken)
		return;
	d->cb->queue_state(d->user, q, true);
	d->cb->queue_kick(d->user, q);
}

/* A new size for a ring that may already have addresses: they must hold
   the new size too (the checks of SET_VRING_ADDR, run again). */
static int
set_num(struct vu_dev *d, struct vring *vr, uint32_t num)
{
	uint32_t old = vr->num;

	vr->num = num;
	if (!vr->addr_set || vring_map(vr, &d->mem) == 0)
		return 0;
	log_msg(d->log, KR_LOG_ERROR, "vhost-user: ring of %u entries does not fit its addresses",
		num);
	vr->num = old;
	if (vring_map(vr, &d->mem) < 0)
		vr->broken = true;
	return -EPROTO;
}

/* The table changed (old: what left it, still mapped; NULL: nothing did): every ring with
   addresses is mapped again (or stops) before anything can read it, the
   device and its renderers let go of the old regions (detaching backings
   they hold) while they are still mapped; then they go. */
static int
table_changed(struct vu_dev *d, struct vu_mem *old)
{
	for (unsigned q = 0; q < VU_MAX_QUEUES; q++) {
		struct vring *vr = &d->vq[q];
		if (vr->addr_set && vring_map(vr, &d->mem) < 0)
			vr->broken = true;
	}
	int ret = d->cb->mem_changed(d->user, &d->mem);
	if (old)
		vu_mem_clear(old);
	return ret;
}

static int
handle_mem_table(struct vu_dev *d, struct vu_msg *m)
{
	uint32_t n = m->p.mem.nregions;
	struct vu_mem old;

	if (m->hdr.size < 8 || n == 0 || n > VU_MAX_REGIONS ||
	    m->hdr.size < 8 + n * sizeof(struct vu_region) || m->n_fds != n)
		return -EPROTO;
	int ret = vu_mem_replace(&d->mem, m->p.mem.regions, n, m->fds, &old);
	return ret < 0 ? ret : table_changed(d, &old);
}

static bool
mem_slots(const struct vu_dev *d)
{
	return d->protocol_features & (1ull << VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS);
}

static int
handle_fd_msg(struct vu_dev *d, struct vu_msg *m)
{
	struct vring *vr;
	bool nofd;
	int fd;

	if (m->hdr.size != 8)
		return -EPROTO;
	nofd = m->p.u64 & VU_VRING_NOFD;
	if ((m->p.u64 & ~(uint64_t)(VU_VRING_IDX_MASK | VU_VRING_NOFD)) ||
	    m->n_fds != (nofd ? 0u : 1u))
		return -EPROTO;
	vr = ring_of(d, (uint32_t)(m->p.u64 & VU_VRING_IDX_MASK));
	if (!vr)
		return -EPROTO;
	fd = nofd ? -1 : m->fds[0];
	m->n_fds = 0; /* taken */
	switch (m->hdr.request) {
	case VU_SET_VRING_KICK:
		if (vr->kick_fd >= 0)
			close(vr->kick_fd);
		vr->kick_fd = fd;
		if (!vr->desc) {
			if (fd >= 0)
				close(fd);
			vr->kick_fd = -1;
			return -EPROTO; /* a ring without addresses cannot start */
		}
		vr->started = true;
		if (!(d->features & (1ull << VU_F_PROTOCOL_FEATURES)))
			vr->enabled = true;
		start_if_ready(d, (unsigned)(vr - d->vq));
		return 0;
	case VU_SET_VRING_CALL:
		if (vr->call_fd >= 0)
			close(vr->call_fd);
		vr->call_fd = fd;
		return 0;
	default: /* SET_VRING_ERR: we never report ring errors this way */
		if (fd >= 0)
			close(fd);
		return 0;
	}
}

/* Returns 1 when the reply was sent by the handler, 0 for success without
   one, negative errno for failure. */
/* ---- the requests: one handler each, shapes in the table ---- */

static int
on_get_features(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	(void)vr;
	return reply_u64(d, m->hdr.request, vu_dev_offered(d)) ?: 1;
}

static int
on_set_features(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	(void)vr;
	/* QEMU 10 acks transport bits it never saw offered (RING_RESET): we
	   ignore what we did not offer rather than drop the frontend. */
	if (m->p.u64 & ~vu_dev_offered(d))
		log_msg(d->log, KR_LOG_INFO, "vhost-user: ignoring features 0x%llx",
			(unsigned long long)(m->p.u64 & ~vu_dev_offered(d)));
	d->features = m->p.u64 & vu_dev_offered(d);
	d->features_set = true;
	for (unsigned q = 0; q < VU_MAX_QUEUES; q++) {
		d->vq[q].event_idx = d->features & (1ull << VIRTIO_RING_F_EVENT_IDX);
		d->vq[q].indirect = d->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	}
	return d->cb->set_features(d->user, d->features & DEVICE_FEATURE_MASK);
}

static int
on_set_owner(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	(void)m;
	(void)vr;
	d->owner = true;
	return 0;
}

static int
on_reset(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	(void)m;
	(void)vr;
	reset_all(d);
	return 0;
}

static int
on_get_protocol_features(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	(void)vr;
	return reply_u64(d, m->hdr.request, protocol_offered(d)) ?: 1;
}

static int
on_set_protocol_features(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	(void)vr;
	if (m->p.u64 & ~protocol_offered(d))
		return -EPROTO;
	d->protocol_features = m->p.u64;
	return 0;
}

static int
on_get_queue_num(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	(void)vr;
	return reply_u64(d, m->hdr.request, VU_MAX_QUEUES) ?: 1;
}

static int
on_mem_table(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	(void)vr;
	return handle_mem_table(d, m);
}

/* ADD_MEM_REG: one region and its fd; the others stay mapped. */
static int
on_add_mem_reg(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	(void)vr;
	if (!mem_slots(d))
		return -EPROTO;
	int ret = vu_mem_add(&d->mem, &m->p.single.region, m->fds[0]);
	return ret < 0 ? ret : table_changed(d, NULL);
}

/* REM_MEM_REG: named by guest address, frontend address and size (the
   spec lets a frontend attach an fd, which is closed unused). */
static int
on_rem_mem_reg(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	struct vu_mem old;

	(void)vr;
	if (!mem_slots(d) || m->hdr.size != sizeof(struct vu_mem_single) || m->n_fds > 1)
		return -EPROTO;
	int ret = vu_mem_remove(&d->mem, &m->p.single.region, &old);
	return ret < 0 ? ret : table_changed(d, &old);
}

static int
on_get_max_mem_slots(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	(void)vr;
	if (!mem_slots(d))
		return -EPROTO;
	return reply_u64(d, m->hdr.request, VU_MAX_MEM_SLOTS) ?: 1;
}

static int
on_vring_num(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	uint64_t v = m->p.state.num;

	if (v == 0 || v > VRING_MAX_NUM || (v & (v - 1)) || vr->started)
		return -EPROTO;
	return set_num(d, vr, (uint32_t)v);
}

static int
on_vring_addr(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	if (vr->started)
		return -EPROTO;
	vr->desc_ua = m->p.addr.desc;
	vr->avail_ua = m->p.addr.avail;
	vr->used_ua = m->p.addr.used;
	vr->addr_set = true;
	if (vring_map(vr, &d->mem) < 0) {
		vr->addr_set = false;
		log_msg(d->log, KR_LOG_ERROR, "vhost-user: ring %u addresses not usable",
			m->p.addr.index);
		return -EPROTO;
	}
	return 0;
}

static int
on_vring_base(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	if (m->p.state.num > 0xffff || vr->started)
		return -EPROTO;
	/* A control queue that restarts from 0 after use: the driver reset
	   the device (reboot, module reload). */
	if (m->p.state.index == 0 && m->p.state.num == 0 && d->vq_used_since_reset) {
		d->cb->reset(d->user);
		d->vq_used_since_reset = false;
	}
	vr->last_avail = vr->used_idx = (uint16_t)m->p.state.num;
	vr->signalled_valid = false;
	return 0;
}

static int
on_get_vring_base(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	struct vu_vring_state st = {m->p.state.index, vr->last_avail};

	stop_queue(d, m->p.state.index);
	return send_reply(d, m->hdr.request, &st, sizeof(st)) ?: 1;
}

static int
on_vring_fd(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	(void)vr;
	return handle_fd_msg(d, m);
}

static int
on_vring_enable(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	if (m->p.state.num > 1)
		return -EPROTO;
	vr->enabled = m->p.state.num;
	if (vr->enabled)
		start_if_ready(d, m->p.state.index);
	else if (vr->started)
		d->cb->queue_state(d->user, m->p.state.index, false);
	return 0;
}

/* GET_CONFIG and SET_CONFIG: a header and size bytes, no fds. */
static bool
config_shape_ok(const struct vu_msg *m)
{
	const struct vu_config *c = &m->p.config;

	return !m->n_fds && m->hdr.size >= VU_CONFIG_HDR && c->size <= sizeof(c->payload) &&
	       m->hdr.size == VU_CONFIG_HDR + c->size;
}

static int
on_get_config(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	struct vu_config *c = &m->p.config;

	(void)vr;
	if (!config_shape_ok(m))
		return -EPROTO;
	memset(c->payload, 0, c->size);
	if (d->cb->get_config(d->user, c->offset, c->payload, c->size) < 0)
		return send_reply(d, m->hdr.request, c, 0) ?: 1; /* size 0: failure */
	return send_reply(d, m->hdr.request, c, VU_CONFIG_HDR + c->size) ?: 1;
}

static int
on_set_config(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	struct vu_config *c = &m->p.config;

	(void)vr;
	if (!config_shape_ok(m))
		return -EPROTO;
	return d->cb->set_config(d->user, c->offset, c->payload, c->size);
}

static int
on_backend_req_fd(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	(void)vr;
	if (!(d->protocol_features & (1ull << VU_PROTOCOL_F_BACKEND_REQ)))
		return -EPROTO;
	if (d->backend_fd >= 0)
		close(d->backend_fd);
	d->backend_fd = m->fds[0];
	m->n_fds = 0;
	set_timeouts(d->backend_fd);
	return 0;
}

static int
on_get_shmem_config(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	struct vu_shmem_config c = {0};

	(void)vr;
	if (!shmem_negotiated(d))
		return -EPROTO;
	c.nregions = KR_SHMID_HOST_VISIBLE + 1;
	c.memory_sizes[KR_SHMID_HOST_VISIBLE] = d->shmem_size;
	return send_reply(d, m->hdr.request, &c, sizeof(c)) ?: 1;
}

static int
on_gpu_set_socket(struct vu_dev *d, struct vu_msg *m, struct vring *vr)
{
	(void)vr;
	d->cb->gpu_socket(d->user, m->fds[0]);
	m->n_fds = 0;
	return 0;
}

/* Payload sizes a request may have; ANY: its handler checks the shape. */
#define ANY  -1
#define NONE -2

static const struct req_def {
	uint32_t request;
	int size, alt_size; /* bytes accepted (alt_size NONE: only size) */
	unsigned fds;	    /* exactly this many, unless size is ANY */
	bool ring;	    /* the payload's first u32 must name a ring */
	int (*handle)(struct vu_dev *d, struct vu_msg *m, struct vring *vr);
} req_defs[] = {
	{VU_GET_FEATURES, 0, 8, 0, false, on_get_features},
	{VU_SET_FEATURES, 8, NONE, 0, false, on_set_features},
	{VU_SET_OWNER, 0, NONE, 0, false, on_set_owner},
	{VU_RESET_OWNER, 0, NONE, 0, false, on_reset},
	{VU_RESET_DEVICE, 0, NONE, 0, false, on_reset},
	{VU_GET_PROTOCOL_FEATURES, 0, 8, 0, false, on_get_protocol_features},
	{VU_SET_PROTOCOL_FEATURES, 8, NONE, 0, false, on_set_protocol_features},
	{VU_GET_QUEUE_NUM, 0, 8, 0, false, on_get_queue_num},
	{VU_SET_MEM_TABLE, ANY, NONE, 0, false, on_mem_table},
	{VU_GET_MAX_MEM_SLOTS, 0, NONE, 0, false, on_get_max_mem_slots},
	{VU_ADD_MEM_REG, sizeof(struct vu_mem_single), NONE, 1, false, on_add_mem_reg},
	{VU_REM_MEM_REG, ANY, NONE, 0, false, on_rem_mem_reg},
	{VU_SET_VRING_NUM, 8, NONE, 0, true, on_vring_num},
	{VU_SET_VRING_ADDR, sizeof(struct vu_vring_addr), NONE, 0, true, on_vring_addr},
	{VU_SET_VRING_BASE, 8, NONE, 0, true, on_vring_base},
	{VU_GET_VRING_BASE, 8, NONE, 0, true, on_get_vring_base},
	{VU_SET_VRING_KICK, ANY, NONE, 0, false, on_vring_fd},
	{VU_SET_VRING_CALL, ANY, NONE, 0, false, on_vring_fd},
	{VU_SET_VRING_ERR, ANY, NONE, 0, false, on_vring_fd},
	{VU_SET_VRING_ENABLE, 8, NONE, 0, true, on_vring_enable},
	{VU_GET_CONFIG, ANY, NONE, 0, false, on_get_config},
	{VU_SET_CONFIG, ANY, NONE, 0, false, on_set_config},
	{VU_SET_BACKEND_REQ_FD, 0, NONE, 1, false, on_backend_req_fd},
	{VU_GET_SHMEM_CONFIG, 0, sizeof(struct vu_shmem_config), 0, false, on_get_shmem_config},
	{VU_GPU_SET_SOCKET, 0, NONE, 1, false, on_gpu_set_socket},
};

/* 0, 1 (a reply was sent), or -EPROTO and friends (drop the frontend). */
static int
handle(struct vu_dev *d, struct vu_msg *m)
{
	const struct req_def *r = NULL;
	struct vring *vr = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(req_defs) && !r; i++)
		r = req_defs[i].request == m->hdr.request ? &req_defs[i] : NULL;
	if (!r) {
		log_msg(d->log, KR_LOG_ERROR, "vhost-user: unsupported request %u (%s)",
			m->hdr.request, req_name(m->hdr.request));
		return -EPROTO;
	}
	if (r->size != ANY && !shape_ok(m, (uint32_t)r->size, r->fds) &&
	    (r->alt_size == NONE || !shape_ok(m, (uint32_t)r->alt_size, r->fds)))
		return -EPROTO;
	if (r->ring && !(vr = ring_of(d, m->p.state.index)))
		return -EPROTO;
	return r->handle(d, m, vr);
}

/* The backend channel can no longer be trusted to pair requests with
   replies: close it.  Later requests fail at once (-EOPNOTSUPP) until the
   frontend hands a new one. */
static void
backend_drop(struct vu_dev *d, const char *why, int err)
{
	log_msg(d->log, KR_LOG_WARN,
		"vhost-user: backend channel: %s (%s); closed until the frontend sends a new "
		"one (SET_BACKEND_REQ_FD)",
		why, strerror(-err));
	close(d->backend_fd);
	d->backend_fd = -1;
}

/* Whether a memory table holds a region of the awaited mapping's file. */
static bool
table_maps_awaited(const struct vu_dev *d, const struct vu_msg *m)
{
	struct stat st;

	for (unsigned i = 0; i < m->n_fds; i++) {
		if (fstat(m->fds[i], &st) == 0 && st.st_dev == d->awaited.dev &&
		    st.st_ino == d->awaited.ino)
			return true;
	}
	return false;
}

static bool
is_table_msg(uint32_t request)
{
	return request == VU_SET_MEM_TABLE || request == VU_ADD_MEM_REG ||
	       request == VU_REM_MEM_REG;
}

/*
 * A memory-table message (SET_MEM_TABLE, ADD/REM_MEM_REG) the frontend sent
 * while we wait on the backend channel: taken in and acknowledged now,
 * applied by vu_dev_apply_deferred once the request being served is done
 * (its chain may point into the current table).  QEMU updates the table
 * when a SHMEM map changes and waits for our reply before it reads the next
 * backend request, so without this the next map would wait for an ack that
 * cannot come.  A SET_MEM_TABLE drops what was deferred before it (a table
 * is complete).  Anything else is left on the socket for the loop: -EAGAIN,
 * and the socket is not read again during this wait.  More deferred
 * messages than the table has slots (twice, plus one) is a frontend gone
 * wrong: -ENOSPC, the connection is shut down.
 */
static int
defer_front(struct vu_dev *d)
{
	struct vu_hdr h;
	struct vu_msg *m;
	ssize_t n = recv(d->fd, &h, sizeof(h), MSG_PEEK | MSG_DONTWAIT);
	int ret;

	if (n != (ssize_t)sizeof(h) || !is_table_msg(h.request))
		return -EAGAIN;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	ret = recv_msg(d, m);
	if (ret == 0 && m->hdr.request != VU_SET_MEM_TABLE &&
	    d->n_deferred == ARRAY_SIZE(d->deferred))
		ret = -ENOSPC;
	if (ret < 0) {
		/* Half read, or too many: the connection cannot go on. */
		shutdown(d->fd, SHUT_RDWR);
		close_fds(m);
		free(m);
		return ret;
	}
	d->messages++;
	if (d->awaited.active)
		d->awaited.seen |= table_maps_awaited(d, m);
	if (m->hdr.request == VU_SET_MEM_TABLE)
		drop_deferred(d);
	d->deferred[d->n_deferred++] = m;
	log_msg(d->log, KR_LOG_DEBUG,
		"vhost-user: %s (%u fds) while a backend request waits: acknowledged, applied "
		"after the request",
		req_name(m->hdr.request), m->n_fds);
	if ((m->hdr.flags & VU_FLAG_NEED_REPLY) &&
	    (d->protocol_features & (1ull << VU_PROTOCOL_F_REPLY_ACK)))
		reply_u64(d, m->hdr.request, 0);
	return 0;
}

/*
 * Wait, taking in the frontend's memory-table messages meanwhile
 * (defer_front), until deadline or:
 *  - backend: the backend channel is readable (data, or a hang-up that
 *    read_before reports); if the frontend sends something else first, the
 *    wait goes on without watching it;
 *  - !backend: a table held the awaited mapping (d->awaited.seen); if the
 *    frontend sends something else first: -EAGAIN.
 * 0, -ETIMEDOUT, or -errno of poll.
 */
static int
await_events(struct vu_dev *d, bool backend, uint64_t deadline)
{
	bool front = d->fd >= 0;

	for (;;) {
		if (!backend && d->awaited.seen)
			return 0;
		uint64_t now = mono_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd pfd[2] = {{backend ? d->backend_fd : -1, POLLIN, 0},
					{front ? d->fd : -1, POLLIN, 0}};
		int r = poll(pfd, 2, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (pfd[0].revents)
			return 0;
		if (pfd[1].revents && defer_front(d) < 0) {
			if (!backend)
				return -EAGAIN;
			front = false;
		}
	}
}

int
vu_dev_apply_deferred(struct vu_dev *d)
{
	int ret = 0;

	for (unsigned i = 0; i < d->n_deferred && ret == 0; i++) {
		struct vu_msg *m = d->deferred[i];
		ret = handle(d, m);
		if (ret < 0) {
			/* Already acknowledged: the frontend's view is wrong; hang up. */
			log_msg(d->log, KR_LOG_ERROR,
				"vhost-user: deferred %s refused: %s; dropping the frontend",
				req_name(m->hdr.request), strerror(-ret));
			if (d->fd >= 0)
				shutdown(d->fd, SHUT_RDWR);
		}
	}
	drop_deferred(d);
	return ret < 0 ? ret : 0;
}

/*
 * Send a request on the backend channel and wait for its ack.  The channel
 * carries one request at a time and nothing else comes from the frontend on
 * it, so the reply must be the ack of this request: anything unsolicited,
 * malformed, for another request, or later than VU_BACKEND_ACK_TIMEOUT_MS
 * drops the channel (a late ack would otherwise be taken for the next
 * request's).  The wait is bounded once per channel.
 */
static int
backend_request(struct vu_dev *d, uint32_t request, const struct vu_mmap *p, int fd)
{
	bool ack = d->protocol_features & (1ull << VU_PROTOCOL_F_REPLY_ACK);
	struct {
		struct vu_hdr hdr;
		struct vu_mmap p;
	} __attribute__((packed))
	msg = {{request, VU_VERSION | (ack ? VU_FLAG_NEED_REPLY : 0), sizeof(*p)}, *p};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {&msg, sizeof(msg)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t w;
	uint8_t junk;

	if (!shmem_negotiated(d) || d->backend_fd < 0)
		return -EOPNOTSUPP;
	w = recv(d->backend_fd, &junk, 1, MSG_PEEK | MSG_DONTWAIT);
	if (w >= 0) {
		backend_drop(d, w ? "unsolicited bytes" : "closed by the frontend",
			     w ? -EPROTO : -ECONNRESET);
		return -EPIPE;
	}
	if (fd >= 0) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do {
		w = sendmsg(d->backend_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (w < 0 && errno == EINTR);
	if (w != (ssize_t)sizeof(msg)) {
		backend_drop(d, "send failed", w < 0 ? -errno : -EPIPE);
		return -EPIPE;
	}
	if (!ack)
		return 0;
	struct {
		struct vu_hdr hdr;
		uint64_t u64;
	} __attribute__((packed)) r;
	uint64_t deadline = mono_ms() + VU_BACKEND_ACK_TIMEOUT_MS;
	int ret = await_events(d, true, deadline);
	if (ret == 0)
		ret = read_before(d->backend_fd, &r.hdr, sizeof(r.hdr), deadline);
	if (ret == 0 &&
	    (r.hdr.request != request || (r.hdr.flags & VU_FLAG_VERSION_MASK) != VU_VERSION ||
	     !(r.hdr.flags & VU_FLAG_REPLY) || r.hdr.size != 8))
		ret = -EPROTO;
	if (ret == 0)
		ret = read_before(d->backend_fd, &r.u64, sizeof(r.u64), deadline);
	if (ret < 0) {
		backend_drop(d,
			     ret == -ETIMEDOUT ? "no ack in time"
			     : ret == -EPROTO  ? "a reply that is not this request's ack"
					       : "reply failed",
			     ret);
		return ret;
	}
	return r.u64 ? -EIO : 0;
}

/* After a map's ack: until the frontend's memory table holds fd's file
   (QEMU's commit of the mapping); see vu.h.  Only a wait that ran out
   teaches us this frontend sends no such table; one cut short by another
   message does not. */
static void
await_map_commit(struct vu_dev *d, int fd)
{
	struct stat st;

	if (d->map_commit < 0 || d->fd < 0 || fstat(fd, &st) < 0)
		return;
	d->awaited.active = true;
	d->awaited.seen = false;
	d->awaited.dev = st.st_dev;
	d->awaited.ino = st.st_ino;
	int ms = d->map_commit ? VU_MAP_COMMIT_MS : VU_MAP_COMMIT_FIRST_MS;
	int ret = await_events(d, false, mono_ms() + (uint64_t)ms);
	d->awaited.active = false;
	if (d->awaited.seen) {
		d->map_commit = 1;
	} else if (ret == -ETIMEDOUT) {
		log_msg(d->log, KR_LOG_WARN,
			"vhost-user: the frontend acknowledged a blob mapping but sent no memory "
			"table with it within %d ms; not waiting for one again on this connection "
			"(the guest may see a new mapping before the frontend has made it)",
			ms);
		d->map_commit = -1;
	}
}

int
vu_dev_shmem_map(struct vu_dev *d, uint8_t shmid, int fd, uint64_t fd_offset, uint64_t shm_offset,
		 uint64_t len, bool writable)
{
	struct vu_mmap p = {.shmid = shmid,
			    .fd_offset = fd_offset,
			    .shm_offset = shm_offset,
			    .len = len,
			    .flags = writable ? VU_MMAP_RW : 0};

	if (fd < 0)
		return -EBADF;
	int ret = backend_request(d, VU_BACKEND_SHMEM_MAP, &p, fd);
	if (ret == 0 && (d->protocol_features & (1ull << VU_PROTOCOL_F_REPLY_ACK)))
		await_map_commit(d, fd);
	return ret;
}

int
vu_dev_shmem_unmap(struct vu_dev *d, uint8_t shmid, uint64_t shm_offset, uint64_t len)
{
	struct vu_mmap p = {.shmid = shmid, .shm_offset = shm_offset, .len = len};

	return backend_request(d, VU_BACKEND_SHMEM_UNMAP, &p, -1);
}

int
vu_dev_dispatch(struct vu_dev *d)
{
	struct vu_msg *m;
	int ret;

	/* A table taken in during an ack wait comes before what follows it. */
	if (vu_dev_apply_deferred(d) < 0)
		return -EPROTO;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	ret = recv_msg(d, m);
	if (ret < 0) {
		if (ret != -ECONNRESET)
			log_msg(d->log, KR_LOG_ERROR, "vhost-user: receive failed: %s",
				strerror(-ret));
		goto out;
	}
	d->messages++;
	log_msg(d->log, KR_LOG_DEBUG, "vhost-user: %s (%u bytes, %u fds)", req_name(m->hdr.request),
		m->hdr.size, m->n_fds);
	ret = handle(d, m);
	if (ret < 0) {
		log_msg(d->log, KR_LOG_ERROR, "vhost-user: %s refused: %s",
			req_name(m->hdr.request), strerror(-ret));
		/* With REPLY_ACK the frontend learns it; the connection is dropped
		   all the same, since its view of the device is now wrong. */
		if ((m->hdr.flags & VU_FLAG_NEED_REPLY) &&
		    (d->protocol_features & (1ull << VU_PROTOCOL_F_REPLY_ACK)))
			reply_u64(d, m->hdr.request, 1);
		goto out;
	}
	if (ret == 0 && (m->hdr.flags & VU_FLAG_NEED_REPLY) &&
	    (d->protocol_features & (1ull << VU_PROTOCOL_F_REPLY_ACK)))
		ret = reply_u64(d, m->hdr.request, 0);
	else
		ret = 0;
out:
	close_fds(m);
	free(m);
	return ret;
}
