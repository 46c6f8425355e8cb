/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the vhost-user message parser and state machine
 * (src/vhost/vu.c, vu_mem.c) over a real socket.
 *
 * The input is a sequence of steps: a well-formed-looking message (any
 * request, mostly valid flags, payload fields biased to what a frontend
 * sends and to the edges, the size field and fd count sometimes wrong), raw
 * bytes, or the guest writing into its memory (the memfd).  Messages and raw
 * bytes are sent with sendmsg on a socketpair with 0..VU_MAX_REGIONS+1 fds
 * attached (a 64 KiB memfd that SET_MEM_TABLE can map, or an eventfd for
 * kick and call); raw chunk boundaries need not match message boundaries.
 * Then the sending side shuts down and the device dispatches until it drops
 * the connection.  Queue kicks walk the rings in the mapped memfd.  Invariants: dispatch fails only
 * with a negative errno, the connection is always dropped cleanly at the end, and the number of
 * open fds is the same after as before (every fd received is closed or
 * owned and then closed on detach).
 *
 * An input starting with 0xA5 drives the virtio-input device instead
 * (src/vhost/vu_input.c: its config select/subsel, its event and status
 * queues), with events posted between the steps as the VNC thread would.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "fuzz_io.h"
#include "vhost/vu.h"
#include "vhost/vu_input.h"

#define MEMFD_SIZE (64u << 10)
#define MAX_CHUNK  1024
/* Sends per input: all of them must fit the socket's buffer before the
   device reads (each costs its payload plus ~1 KiB of kernel bookkeeping). */
#define MAX_SENDS 64

static int g_fds[2] = {-1, -1}; /* a memfd and an eventfd, process-long */
static struct vring_req g_req;

static uint64_t
op_features(void *user)
{
	(void)user;
	return 1ull << 0 | 1ull << 1 | 1ull << 3; /* VIRGL, EDID, RESOURCE_UUID */
}

static int
op_set_features(void *user, uint64_t features)
{
	(void)user;
	return features & (1ull << 0) ? -EINVAL : 0;
}

static int
op_get_config(void *user, uint32_t offset, void *buf, uint32_t len)
{
	(void)user;
	if (offset > 16 || len > 16 - offset)
		return -EINVAL;
	memset(buf, 0x11, len);
	return 0;
}

static int
op_set_config(void *user, uint32_t offset, const void *buf, uint32_t len)
{
	(void)user;
	(void)buf;
	return offset == 8 && len == 4 ? 0 : -EINVAL;
}

static int
op_mem_changed(void *user, const struct vu_mem *mem)
{
	(void)user;
	FZ_CHECK(mem->n <= VU_MAX_MEM_SLOTS);
	for (unsigned i = 0; i < mem->n; i++) {
		volatile const uint8_t *p = mem->r[i].host;
		FZ_CHECK(mem->r[i].size > 0);
		(void)p[0];
		(void)p[mem->r[i].size - 1];
	}
	return 0;
}

static void
op_queue_kick(void *user, unsigned q)
{
	struct vu_dev *d = user;
	struct vring *vr = &d->vq[q];

	FZ_CHECK(q < VU_MAX_QUEUES);
	for (int i = 0; i < 16 && vring_pop(vr, &d->mem, &g_req) == 1; i++) {
		for (size_t j = g_req.n_in; j < g_req.n_in + g_req.n_out; j++)
			memset(g_req.iov[j].iov_base, 0, g_req.iov[j].iov_len);
		vring_push(vr, g_req.head, 0);
	}
	vring_flush(vr);
}

static void
op_queue_state(void *user, unsigned q, bool started)
{
	(void)user;
	(void)started;
	FZ_CHECK(q < VU_MAX_QUEUES);
}

static void
op_gpu_socket(void *user, int fd)
{
	(void)user;
	FZ_CHECK(fd >= 0);
	close(fd);
}

static void
op_reset(void *user)
{
	(void)user;
}

static const struct vu_ops ops = {
	.features = op_features,
	.set_features = op_set_features,
	.get_config = op_get_config,
	.set_config = op_set_config,
	.mem_changed = op_mem_changed,
	.queue_kick = op_queue_kick,
	.queue_state = op_queue_state,
	.gpu_socket = op_gpu_socket,
	.reset = op_reset,
};

static void
quiet(void *user, enum kr_log_level level, const char *msg)
{
	(void)user;
	(void)level;
	(void)msg;
}

static int
send_chunk(int sock, const uint8_t *p, size_t len, unsigned nfds, const uint8_t *kinds)
{
	int fds[FZ_MAX_FDS];

	for (unsigned i = 0; i < nfds && i < FZ_MAX_FDS; i++)
		fds[i] = g_fds[kinds[i] & 1];
	return fz_send_fds(sock, p, len, fds, nfds);
}

static const uint32_t requests[] = {
	VU_GET_FEATURES,
	VU_SET_FEATURES,
	VU_SET_OWNER,
	VU_RESET_OWNER,
	VU_SET_MEM_TABLE,
	VU_SET_LOG_BASE,
	VU_SET_LOG_FD,
	VU_SET_VRING_NUM,
	VU_SET_VRING_ADDR,
	VU_SET_VRING_BASE,
	VU_GET_VRING_BASE,
	VU_SET_VRING_KICK,
	VU_SET_VRING_CALL,
	VU_SET_VRING_ERR,
	VU_GET_PROTOCOL_FEATURES,
	VU_SET_PROTOCOL_FEATURES,
	VU_GET_QUEUE_NUM,
	VU_SET_VRING_ENABLE,
	VU_SET_BACKEND_REQ_FD,
	VU_GET_CONFIG,
	VU_SET_CONFIG,
	VU_GPU_SET_SOCKET,
	VU_RESET_DEVICE,
	VU_GET_MAX_MEM_SLOTS,
	VU_ADD_MEM_REG,
	VU_REM_MEM_REG,
	VU_SET_STATUS,
	VU_GET_STATUS,
	VU_GET_SHMEM_CONFIG,
};

#define UADDR 0x7f0000000000ull

/* A ring address in the memfd's mapping (or anything). */
static uint64_t
fz_ring_ua(struct fz *f)
{
	uint8_t sel = fz_u8(f);

	if (sel < 230)
		return UADDR + (sel & 0xf) * 0x1000u + (sel & 0x10 ? fz_u8(f) : 0);
	return fz_val64(f);
}

/* A vring index: 0 or 1 mostly, sometimes past the last ring. */
static uint32_t
fz_index(struct fz *f)
{
	uint8_t sel = fz_u8(f);

	return sel < 240 ? sel % 3 : fz_val32(f);
}

/* A message into buf (header and payload); returns its length and the fds
   to attach in *nfds. */
static size_t
build_msg(struct fz *f, uint8_t *buf, unsigned *nfds)
{
	struct vu_hdr *h = (struct vu_hdr *)buf;
	uint8_t *p = buf + sizeof(*h);
	uint32_t size = 0;
	uint64_t u64;
	uint8_t sel = fz_u8(f);

	h->request = sel < 248 ? requests[fz_below(f, sizeof(requests) / sizeof(requests[0]))]
			       : fz_val32(f);
	h->flags = sel < 220 ? VU_VERSION | (sel & 1 ? VU_FLAG_NEED_REPLY : 0) : fz_val32(f);
	*nfds = 0;
	switch (h->request) {
	case VU_SET_FEATURES:
	case VU_SET_PROTOCOL_FEATURES:
	case VU_SET_LOG_BASE:
	case VU_SET_STATUS:
		u64 = fz_u8(f) < 128 ? ~0ull : fz_u64(f);
		if (h->request == VU_SET_PROTOCOL_FEATURES)
			u64 &= fz_u8(f) < 200 ? 0x1ffffull | 1ull << 20 : ~0ull;
		memcpy(p, &u64, 8);
		size = 8;
		break;
	case VU_SET_MEM_TABLE: {
		struct vu_mem_table t = {.nregions =
						 fz_u8(f) < 220 ? 1u + fz_u8(f) % 2u : fz_val32(f)};
		for (unsigned i = 0; i < VU_MAX_REGIONS; i++) {
			uint8_t r = fz_u8(f);
			t.regions[i].gpa = r < 200 ? i * (uint64_t)MEMFD_SIZE : fz_val64(f);
			t.regions[i].size = r < 200 ? MEMFD_SIZE >> (r & 1) : fz_val64(f);
			t.regions[i].uaddr =
				r < 220 ? UADDR + i * (uint64_t)MEMFD_SIZE : fz_val64(f);
			t.regions[i].mmap_offset = r < 200 ? (r & 2) * 0x2000u : fz_val64(f);
		}
		size = 8 +
		       (t.nregions <= VU_MAX_REGIONS ? t.nregions : 1) * sizeof(struct vu_region);
		memcpy(p, &t, size);
		*nfds = t.nregions <= VU_MAX_REGIONS ? t.nregions : 2;
		break;
	}
	case VU_SET_VRING_NUM:
	case VU_SET_VRING_BASE:
	case VU_GET_VRING_BASE:
	case VU_SET_VRING_ENABLE: {
		uint8_t r = fz_u8(f);
		struct vu_vring_state st = {fz_index(f), r < 200   ? 1u << (r % 16) % 32768
							 : r < 210 ? r % 2
								   : fz_val32(f)};
		if (h->request == VU_SET_VRING_NUM && r < 200)
			st.num = 1u << (r % 16);
		memcpy(p, &st, sizeof(st));
		size = sizeof(st);
		break;
	}
	case VU_SET_VRING_ADDR: {
		struct vu_vring_addr a = {fz_index(f),	 fz_u8(f) < 240 ? 0 : fz_val32(f),
					  fz_ring_ua(f), fz_ring_ua(f),
					  fz_ring_ua(f), 0};
		memcpy(p, &a, sizeof(a));
		size = sizeof(a);
		break;
	}
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
	case VU_SET_LOG_FD: {
		uint8_t r = fz_u8(f);
		u64 = r < 240 ? fz_index(f) | (r & 1 ? VU_VRING_NOFD : 0) : fz_val64(f);
		*nfds = (u64 & VU_VRING_NOFD) ? 0 : 1;
		memcpy(p, &u64, 8);
		size = 8;
		break;
	}
	case VU_GET_CONFIG:
	case VU_SET_CONFIG: {
		struct vu_config c = {
			fz_u8(f) % 24, fz_u8(f) < 240 ? fz_u8(f) % 24 : fz_val32(f), 0, {0}};
		uint32_t n = c.size <= sizeof(c.payload) ? c.size : 0;
		for (uint32_t i = 0; i < n; i++)
			c.payload[i] = fz_u8(f);
		size = VU_CONFIG_HDR + n;
		memcpy(p, &c, size);
		break;
	}
	case VU_SET_BACKEND_REQ_FD:
	case VU_GPU_SET_SOCKET: *nfds = 1; break;
	case VU_ADD_MEM_REG:
	case VU_REM_MEM_REG: {
		/* Slots of a page apart (up to past VU_MAX_MEM_SLOTS), sometimes
		   overlapping, sometimes anything; REM with or without an fd. */
		uint8_t r = fz_u8(f);
		uint64_t slot = fz_u8(f) % (VU_MAX_MEM_SLOTS + 4);
		struct vu_mem_single m = {
			0,
			{r < 200 ? slot * 0x1000 : fz_val64(f), r < 220 ? 0x1000 : fz_val64(f),
			 r < 200 ? UADDR + slot * 0x1000 : fz_val64(f), r < 230 ? 0 : fz_val64(f)}};
		memcpy(p, &m, sizeof(m));
		size = sizeof(m);
		*nfds = h->request == VU_ADD_MEM_REG || (r & 1) ? 1 : 0;
		break;
	}
	default: size = fz_u8(f) < 200 ? 0 : 8; break;
	}
	/* Sometimes the size field or the fd count lies. */
	sel = fz_u8(f);
	if (sel >= 240)
		size = sel & 1 ? fz_val32(f) : fz_below(f, size + 1);
	if (sel >= 224 && sel < 240)
		*nfds = fz_u8(f) % (VU_MAX_REGIONS + 2);
	h->size = size;
	return sizeof(*h) + (size <= VU_MAX_PAYLOAD ? size : 0);
}

static int
input_watch_kick(void *user, unsigned q, int fd, bool on)
{
	(void)user;
	FZ_CHECK(q < VU_MAX_QUEUES && fd >= 0);
	(void)on;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = {data, size}, *f = &in;
	struct logger log;
	struct vu_dev gpu_dev, *dp = &gpu_dev;
	static struct vu_input input; /* large: not on the stack */
	bool is_input = size > 0 && data[0] == 0xa5;
	int sv[2];

	if (g_fds[0] < 0) {
		g_fds[0] = memfd_create("fuzz-guest", MFD_CLOEXEC);
		g_fds[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		FZ_CHECK(g_fds[0] >= 0 && g_fds[1] >= 0 && ftruncate(g_fds[0], MEMFD_SIZE) == 0);
	}
	/* The guest memory starts zeroed every time (the device writes to it). */
	FZ_CHECK(ftruncate(g_fds[0], 0) == 0 && ftruncate(g_fds[0], MEMFD_SIZE) == 0);
	unsigned before = fz_open_fds();
	FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	/* Never block on a full buffer (the device reads only afterwards). */
	FZ_CHECK(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
	logger_init(&log, KR_LOG_ERROR, quiet, NULL);
	if (is_input) {
		const struct vu_input_loop loop = {NULL, input_watch_kick};
		FZ_CHECK(vu_input_init(&input, &log, &loop) == 0);
		dp = &input.vu;
		f->p++;
		f->n--;
	} else {
		vu_dev_init(dp, &ops, dp, &log);
		dp->shmem_size = 1u << 20;
		dp->shmem_bit = 20;
	}
	FZ_CHECK(vu_dev_attach(dp, sv[0]) == 0);

	for (unsigned sends = 0; f->n && sends < MAX_SENDS; sends++) {
		uint8_t sel = fz_u8(f), kinds[VU_MAX_REGIONS + 2];
		unsigned nfds;

		if (sel < 208) { /* a message */
			uint8_t msg[sizeof(struct vu_hdr) + VU_MAX_PAYLOAD] = {0};
			size_t len = build_msg(f, msg, &nfds);
			for (unsigned i = 0; i < nfds; i++)
				kinds[i] = (msg[0] == VU_SET_VRING_KICK ||
					    msg[0] == VU_SET_VRING_CALL) ^
					   (fz_u8(f) >= 240);
			if (send_chunk(sv[1], msg, len, nfds, kinds) < 0)
				break;
		} else if (sel < 216 && is_input) { /* a key and SYN, then the queues walked */
			struct vu_input_ev ev[2] = {{1, fz_u8(f), fz_u8(f) & 1}, {0, 0, 0}};
			vu_input_post(&input, ev, 2);
			vu_input_events(&input);
			vu_input_kick(&input, fz_u8(f) & 1);
		} else if (sel < 232) { /* the guest writes into its memory */
			uint8_t bytes[64];
			uint32_t off = fz_u16(f) % MEMFD_SIZE, len = fz_u8(f) % sizeof(bytes);
			for (uint32_t i = 0; i < len; i++)
				bytes[i] = fz_u8(f);
			FZ_CHECK(pwrite(g_fds[0], bytes, len, off) >= 0);
		} else { /* raw bytes: [length: 2 bytes][bytes], maybe with fds */
			nfds = sel < 248 ? 0 : sel % (VU_MAX_REGIONS + 2);
			for (unsigned i = 0; i < nfds; i++)
				kinds[i] = sel >> (i % 8);
			size_t len = fz_u16(f) % MAX_CHUNK;
			if (len > f->n)
				len = f->n;
			if (!len)
				continue;
			if (send_chunk(sv[1], f->p, len, nfds, kinds) < 0)
				break;
			f->p += len;
			f->n -= len;
		}
	}
	shutdown(sv[1], SHUT_WR);
	for (unsigned i = 0; i < 4096; i++) {
		int r = vu_dev_dispatch(dp);
		FZ_CHECK(r <= 0);
		if (r < 0)
			break;
	}
	vu_dev_detach(dp);
	FZ_CHECK(dp->fd == -1 && dp->backend_fd == -1 && dp->mem.n == 0);
	if (is_input)
		vu_input_finish(&input);
	close(sv[1]);
	FZ_CHECK(fz_open_fds() == before);
	return 0;
}
