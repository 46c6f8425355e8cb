/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the whole daemon in one process (src/cli/daemon.h) — the real
 * vhost-user layer, libkohlrabi and the display sink, driven step by step.
 *
 * The harness plays everyone around the daemon.  The frontend (QEMU) talks
 * over a real unix socket (the daemon listens with --reconnect, so the
 * frontend may hang up and come back), shares two memfds as guest memory and
 * hands eventfds for kicks and calls; the guest driver places control and
 * cursor commands in split virtqueues in that memory and kicks; the display
 * frontend on the far end of GPU_SET_SOCKET answers the backend's queries,
 * or lies, stalls, stays silent or hangs up; a backend-channel peer (its own
 * thread, so that the daemon's synchronous wait for an ack can end) acks the
 * SHMEM_MAP/UNMAP requests, refuses, answers with junk, twice, late, not at
 * all or hangs up, as its script says.  Fences of the fake gfxstream library
 * retire when a step fires them.
 *
 * Input: one configuration byte, then steps, each an opcode byte (modulo
 * N_OPS; 0 does nothing, so zeros pad freely) and its parameters; running
 * out of input yields zeros, i.e. the defaults.  After every step the daemon
 * runs (daemon_step without waiting, bounded) until it is idle, and the
 * harness reads and answers what it sent.  Invariants:
 *   - daemon_step never fails and the daemon never quits;
 *   - every reply on the vhost-user socket is a well-formed reply;
 *   - a ring the daemon may use lies inside its current memory table;
 *   - guest memory the daemon unmapped stays unmapped (a guard is put in its
 *     place), so that a stale pointer into it crashes instead of landing in
 *     reused memory;
 *   - after teardown the process holds exactly the fds it held before.
 * Waits are bounded: the daemon is only ever blocked on a peer that
 * answers from its thread, or on one silent/late backend ack per input.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_gpu.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/daemon.h"
#include "cli/options.h"
#include "fake_gs.h"
#include "fuzz.h"
#include "fuzz_io.h"
#include "gpu_cmds.h"
#include "util/util.h"
#include "vhost/vring.h"
#include "vhost/vu_proto.h"

#define MAX_STEPS   64
#define MEM_SIZE    (2u << 20) /* each of the two memfds */
#define HALF	    (1u << 20)
#define GPA_EXTRA   0x100000000ull /* the extra region of the "more" layout */
#define UA_BASE	    0x7f0000000000ull
#define SLOT_GPA    0x20000ull /* request (first half) and response slots */
#define SLOT_SIZE   4096u
#define RESP_OFF    2048u
#define N_SLOTS	    48
#define TABLE_GPA   0x60000ull /* indirect descriptor tables, 64 bytes a slot */
#define BACKING_GPA HALF       /* region 1: backings and guest blobs */
#define PUMP_STEPS  64
#define PUMP_ROUNDS 16
#define MAX_GUARDS  32
#define MAX_SCRIPT  8

enum op {
	OP_IDLE,
	OP_MSG,	     /* one vhost-user message */
	OP_SESSION,  /* the whole handshake, as QEMU does it */
	OP_RING,     /* one ring set up: NUM, BASE, ADDR, CALL, KICK, ENABLE */
	OP_MEMTABLE, /* SET_MEM_TABLE */
	OP_BACKEND,  /* SET_BACKEND_REQ_FD with a new peer */
	OP_CMD,	     /* a control command of any shape */
	OP_RECIPE,   /* a well-formed one (gpu_cmds.h) */
	OP_SCENE,    /* a 2D scanout, a fenced command, an unref, ... */
	OP_CURSOR,
	OP_KICK,
	OP_FIRE, /* fences retire */
	OP_REFRESH,
	OP_DISPLAY,  /* the display frontend changes its ways or hangs up */
	OP_HANGUP,   /* the frontend hangs up (and maybe comes back) */
	OP_RAW,	     /* raw bytes, then a hang-up */
	OP_SCRIBBLE, /* the guest writes over its memory */
	N_OPS
};

/* One region of a memory table: guest addresses [gpa, +size) are bytes
   [off, +size) of memfd fdi; the frontend's address is ua_base + gpa. */
struct region {
	uint64_t gpa, size, off;
	unsigned fdi;
};

struct view {
	struct region r[4];
	unsigned n;
	uint64_t ua_base;
};

/* The driver's side of a split virtqueue. */
struct ring {
	uint64_t desc, avail, used; /* guest addresses */
	uint32_t num;		    /* the layout's size (0: never laid out) */
	uint32_t num_sent;	    /* what SET_VRING_NUM said last */
	uint16_t avail_idx, next_desc;
	int kick, call; /* owned: our ends, -1 */
};

/* Messages arriving in pieces: the header, then the payload (its first
   bytes kept). */
struct stream {
	uint8_t hdr[VU_HDR_SIZE];
	unsigned hlen;
	uint32_t left;
	uint8_t head[8];
};

typedef bool (*msg_fn)(void *ctx, const struct vu_hdr *h, const uint8_t *head);

enum disp_mode { DISP_ANSWER, DISP_LIE, DISP_SILENT, DISP_STALL };

struct display {
	int fd; /* owned: our end of the display socket, -1 */
	struct stream in;
	enum disp_mode mode;
	uint64_t features;
	uint32_t w, h;	    /* the mode of scanout 0 (1 gets it swapped) */
	uint8_t disabled;   /* scanouts reported disabled, a bit each */
	uint32_t edid_size; /* the size field of EDID answers */
	uint8_t lie;	    /* how answers lie, two bits an answer */
	unsigned answers;
};

enum peer_act {
	ACT_ACK,
	ACT_REFUSE,
	ACT_WRONG_REQ,
	ACT_WRONG_SIZE,
	ACT_JUNK,
	ACT_DOUBLE,
	ACT_HANGUP,
	ACT_SILENT, /* the daemon waits its whole timeout */
	ACT_LATE,   /* the ack comes just before the next request's */
	N_ACTS
};

/* The frontend's end of the backend channel, answered from a thread. */
struct peer {
	int fd; /* owned, -1 */
	pthread_t thread;
	bool running;
	uint8_t script[MAX_SCRIPT]; /* what to do with each request; then acks */
	unsigned n_script;
};

struct harness {
	struct fz in;
	struct daemon d;
	bool gs; /* the gfxstream backend over the fake library */
	int shmem_bit;
	int conn; /* owned: our end of the vhost-user socket, -1 */
	struct stream replies;
	struct view view;
	struct ring ring[VU_MAX_QUEUES];
	struct display disp;
	struct peer peer;
	bool slow_used; /* the one silent or late ack of this input is scripted */
	unsigned slot;
	uint64_t fence_id;
	struct mapping {
		void *addr;
		size_t len;
	} seen[VU_MAX_MEM_SLOTS], guards[MAX_GUARDS];
	unsigned n_seen, n_guards;
};

static int g_memfd[2] = {-1, -1}; /* the guest memory, process-long */
static uint8_t *g_map[2];
static char g_dir[64], g_sock[96];

static void pump(struct harness *h);

/* Quiet, unless FUZZ_LOG is set (to see what an input does). */
static bool
verbose(void)
{
	static int v = -1;

	if (v < 0)
		v = getenv("FUZZ_LOG") != NULL;
	return v;
}

static void
quiet(void *user, enum kr_log_level level, const char *msg)
{
	(void)user;
	if (verbose())
		fprintf(stderr, "kohlrabi[%d]: %s\n", level, msg);
}

static void
cleanup_dir(void)
{
	unlink(g_sock);
	rmdir(g_dir);
}

static void
process_init(void)
{
	if (g_memfd[0] >= 0)
		return;
	snprintf(g_dir, sizeof(g_dir), "/tmp/kr-fuzz-daemon-XXXXXX");
	FZ_CHECK(mkdtemp(g_dir));
	snprintf(g_sock, sizeof(g_sock), "%s/vu.sock", g_dir);
	atexit(cleanup_dir);
	for (unsigned i = 0; i < 2; i++) {
		g_memfd[i] = memfd_create("fuzz-guest", MFD_CLOEXEC);
		FZ_CHECK(g_memfd[i] >= 0 && ftruncate(g_memfd[i], MEM_SIZE) == 0);
		g_map[i] = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, g_memfd[i], 0);
		FZ_CHECK(g_map[i] != MAP_FAILED);
	}
}

/* ---- guest memory, as the harness's current table maps it ---- */

static uint8_t *
host_of(const struct harness *h, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < h->view.n; i++) {
		const struct region *r = &h->view.r[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			return g_map[r->fdi] + r->off + (gpa - r->gpa);
	}
	return NULL;
}

static void
gwrite(const struct harness *h, uint64_t gpa, const void *p, size_t len)
{
	uint8_t *dst = host_of(h, gpa, len);

	if (dst && len)
		memcpy(dst, p, len);
}

static void
gzero(const struct harness *h, uint64_t gpa, size_t len)
{
	uint8_t *dst = host_of(h, gpa, len);

	if (dst)
		memset(dst, 0, len);
}

/* A backing entry's address: region edges, the rings, the extra region, the
   hole, or anything. */
static uint64_t
guest_gpa(struct fz *f)
{
	static const uint64_t at[] = {
		BACKING_GPA, BACKING_GPA + 4096, 2ull * HALF - 4096,	  2ull * HALF,
		HALF - 4096, GPA_EXTRA,		 GPA_EXTRA + HALF - 4096, 0,
		SLOT_GPA};
	uint8_t sel = fz_u8(f);

	if (sel < 160)
		return at[sel % ARRAY_SIZE(at)] + (fz_u8(f) & 3) * 4096u;
	if (sel < 224)
		return BACKING_GPA + fz_below(f, HALF);
	return fz_val64(f);
}

/* ---- byte streams from the daemon ---- */

/* Feed n bytes; done() sees each complete message.  True when one of the
   done() calls returned true. */
static bool
stream_feed(struct stream *s, const uint8_t *p, size_t n, msg_fn done, void *ctx)
{
	bool any = false;
	struct vu_hdr hdr;

	while (n || (s->hlen == VU_HDR_SIZE && !s->left)) {
		if (s->hlen < VU_HDR_SIZE) {
			size_t k = MIN(n, (size_t)(VU_HDR_SIZE - s->hlen));
			memcpy(s->hdr + s->hlen, p, k);
			s->hlen += (unsigned)k;
			p += k;
			n -= k;
			if (s->hlen < VU_HDR_SIZE)
				break;
			memcpy(&hdr, s->hdr, sizeof(hdr));
			s->left = hdr.size;
			memset(s->head, 0, sizeof(s->head));
		}
		memcpy(&hdr, s->hdr, sizeof(hdr));
		size_t k = MIN(n, (size_t)s->left), at = hdr.size - s->left;
		if (at < sizeof(s->head))
			memcpy(s->head + at, p, MIN(k, sizeof(s->head) - at));
		s->left -= (uint32_t)k;
		p += k;
		n -= k;
		if (!s->left) {
			any |= done(ctx, &hdr, s->head);
			s->hlen = 0;
		}
	}
	return any;
}

/* Read what fd has (without waiting): 1 when done() asked for another round,
   0, or -1 when the other end is gone. */
static int
drain(int fd, struct stream *s, msg_fn done, void *ctx)
{
	static uint8_t buf[1 << 16];
	int any = 0;

	for (unsigned i = 0; i < 4096; i++) {
		ssize_t n = fz_recv_drop_fds(fd, buf, sizeof(buf));
		if (n == 0)
			return -1;
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? any : -1;
		any |= stream_feed(s, buf, (size_t)n, done, ctx);
	}
	return any;
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- the vhost-user connection ---- */

static bool
on_reply(void *ctx, const struct vu_hdr *hdr, const uint8_t *head)
{
	(void)ctx;
	(void)head;
	FZ_CHECK((hdr->flags & VU_FLAG_VERSION_MASK) == VU_VERSION &&
		 (hdr->flags & VU_FLAG_REPLY) && hdr->size <= VU_MAX_PAYLOAD);
	return false;
}

static void
conn_open(struct harness *h)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	FZ_CHECK(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", g_sock);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd); /* the backlog is full: the next step tries again */
		return;
	}
	h->conn = fd;
	h->replies = (struct stream){0};
	pump(h);
}

static void
hang_up(struct harness *h)
{
	close_fd(&h->conn);
	pump(h);
}

/* A whole message (the size field always true: a message cut short would
   only make the daemon wait for the rest). */
static void
send_msg(struct harness *h, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
	 const int *fds, unsigned n_fds)
{
	uint8_t buf[VU_HDR_SIZE + VU_MAX_PAYLOAD];
	struct vu_hdr hdr = {request, flags, size};

	if (h->conn < 0)
		conn_open(h);
	if (h->conn < 0 || size > VU_MAX_PAYLOAD)
		return;
	memcpy(buf, &hdr, sizeof(hdr));
	if (size)
		memcpy(buf + sizeof(hdr), payload, size);
	if (fz_send_fds(h->conn, buf, sizeof(hdr) + size, fds, n_fds) == -EAGAIN) {
		pump(h); /* the daemon reads, then there is room */
		if (h->conn >= 0)
			fz_send_fds(h->conn, buf, sizeof(hdr) + size, fds, n_fds);
	}
	pump(h);
}

/* Messages of the recipes ask for an ack, as QEMU's do. */
#define ACKED (VU_VERSION | VU_FLAG_NEED_REPLY)

static void
send_u64(struct harness *h, uint32_t request, uint32_t flags, uint64_t v)
{
	send_msg(h, request, flags, &v, sizeof(v), NULL, 0);
}

static void
send_state(struct harness *h, uint32_t request, uint32_t flags, uint32_t q, uint32_t num)
{
	struct vu_vring_state st = {q, num};

	send_msg(h, request, flags, &st, sizeof(st), NULL, 0);
}

/* A fresh eventfd for SET_VRING_KICK/CALL (the daemon gets its own copy;
   ours replaces *keep), or none. */
static void
send_ring_fd(struct harness *h, uint32_t request, uint32_t flags, uint32_t q, bool nofd, int *keep)
{
	uint64_t v = q | (nofd ? VU_VRING_NOFD : 0);
	int fd = -1;

	if (!nofd) {
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		FZ_CHECK(fd >= 0);
	}
	send_msg(h, request, flags, &v, sizeof(v), &fd, nofd ? 0 : 1);
	if (keep) {
		close_fd(keep);
		*keep = fd;
	} else if (fd >= 0) {
		close(fd);
	}
}

/* ---- the memory table ---- */

static void
mem_table(struct harness *h, uint8_t how, uint8_t corrupt)
{
	static const uint64_t bases[] = {UA_BASE, 0, UA_BASE - (64ull << 30), UA_BASE + HALF};
	unsigned prim = (how >> 2) & 1, other = prim ^ 1, old = h->view.r[0].fdi;
	struct view v = {.ua_base = bases[(how >> 3) & 3]};
	struct vu_mem_table t = {0};
	int fds[4];

	switch (how & 3) {
	case 0: /* two regions, as QEMU splits memory below and above a hole */
	case 3: /* ... and one more, from the other memfd */
		v.r[v.n++] = (struct region){0, HALF, 0, prim};
		v.r[v.n++] = (struct region){HALF, HALF, HALF, prim};
		if ((how & 3) == 3)
			v.r[v.n++] = (struct region){GPA_EXTRA, HALF, HALF, other};
		break;
	case 1: v.r[v.n++] = (struct region){0, 2ull * HALF, 0, prim}; break;
	default: v.r[v.n++] = (struct region){0, HALF, 0, prim}; break; /* fewer */
	}
	/* Another memfd holds what the guest wrote, unless the step says not. */
	if (prim != old && !(how & 0x20))
		memcpy(g_map[prim], g_map[old], MEM_SIZE);
	t.nregions = v.n;
	for (unsigned i = 0; i < v.n; i++) {
		t.regions[i] = (struct vu_region){v.r[i].gpa, v.r[i].size, v.ua_base + v.r[i].gpa,
						  v.r[i].off};
		fds[i] = g_memfd[v.r[i].fdi];
	}
	if (how & 0x40) { /* one field of one region lies */
		uint64_t val = fz_val64(&h->in);
		memcpy((uint8_t *)&t.regions[corrupt % v.n] + 8 * ((corrupt >> 4) % 4), &val, 8);
	}
	h->view = v;
	send_msg(h, VU_SET_MEM_TABLE, ACKED, &t, 8 + v.n * (uint32_t)sizeof(struct vu_region), fds,
		 v.n - ((how & 0x80) ? 1 : 0));
}

/* ---- rings ---- */

static const uint32_t ring_nums[] = {64, 256, 1, 2, 8, 1024, 32768, 3, 0, 512, 16, 4};
/* Where rings go: guest address 0 (user address 0 with base 0), apart, at
   the end of region 0 (growing it crosses into region 1), on top of ring 0. */
static const uint64_t ring_areas[] = {0, 0x10000, HALF - 0x2000, 0x8000};

static void
ring_addr(struct harness *h, unsigned q, uint8_t sel)
{
	struct ring *r = &h->ring[q];
	uint64_t base = ring_areas[(sel + q) % ARRAY_SIZE(ring_areas)];
	uint32_t num = r->num_sent && r->num_sent <= 4096 ? r->num_sent : 64;

	r->num = num;
	r->desc = base;
	r->avail = base + 16ull * num;
	r->used = (r->avail + 6 + 2ull * num + 3) & ~3ull;
	r->next_desc = 0;
	gzero(h, r->desc, r->used + 6 + 8ull * num - r->desc);
	gwrite(h, r->avail + 2, &r->avail_idx, 2);
	struct vu_vring_addr a = {q,
				  sel & 0x40 ? fz_val32(&h->in) : 0,
				  h->view.ua_base + r->desc + (sel & 0x80 ? 8 : 0),
				  h->view.ua_base + r->used,
				  h->view.ua_base + r->avail,
				  0};
	send_msg(h, VU_SET_VRING_ADDR, ACKED, &a, sizeof(a), NULL, 0);
}

static void
ring_num(struct harness *h, unsigned q, uint32_t num)
{
	h->ring[q].num_sent = num;
	send_state(h, VU_SET_VRING_NUM, ACKED, q, num);
}

/* The sequence of vud_start/QEMU; how's bits leave steps out or resize the
   ring after its addresses. */
static void
ring_setup(struct harness *h, unsigned q)
{
	struct fz *f = &h->in;
	uint8_t how = fz_u8(f), num_sel = fz_u8(f), area = fz_u8(f);
	struct ring *r = &h->ring[q];

	ring_num(h, q, ring_nums[num_sel % ARRAY_SIZE(ring_nums)]);
	if (how & 1)
		r->avail_idx = 0;
	send_state(h, VU_SET_VRING_BASE, ACKED, q, r->avail_idx);
	ring_addr(h, q, area);
	if (how & 2)
		ring_num(h, q, r->num_sent * 8);
	if (!(how & 4))
		send_ring_fd(h, VU_SET_VRING_CALL, ACKED, q, false, &r->call);
	if (!(how & 8))
		send_ring_fd(h, VU_SET_VRING_KICK, ACKED, q, false, &r->kick);
	if (!(how & 16))
		send_state(h, VU_SET_VRING_ENABLE, ACKED, q, 1);
}

static void
kick(struct harness *h, unsigned q)
{
	uint64_t one = 1;

	if (h->ring[q].kick >= 0)
		FZ_CHECK(write(h->ring[q].kick, &one, sizeof(one)) == sizeof(one) ||
			 errno == EAGAIN);
	pump(h);
}

/*
 * Put a request (and, with resp, a response buffer) on ring q: form's low
 * bits choose the chain (two descriptors, the request split in two, an
 * indirect table, or a broken one), bit 2 leaves the kick for later.
 */
static void
place(struct harness *h, unsigned q, const void *req, size_t len, bool resp)
{
	struct fz *f = &h->in;
	struct ring *r = &h->ring[q];
	uint8_t form = fz_u8(f);
	unsigned slot = h->slot++ % N_SLOTS, n = 0;
	uint64_t at = SLOT_GPA + slot * SLOT_SIZE;
	struct vring_desc d[3];

	if (!r->num)
		return;
	len = MIN(len, (size_t)RESP_OFF);
	gwrite(h, at, req, len);
	if ((form & 3) == 1 && len > 1) {
		uint32_t cut = 1 + fz_below(f, (uint32_t)len - 1);
		d[n++] = (struct vring_desc){at, cut, 0, 0};
		d[n++] = (struct vring_desc){at + cut, (uint32_t)len - cut, 0, 0};
	} else {
		d[n++] = (struct vring_desc){at, (uint32_t)len, 0, 0};
	}
	if (resp)
		d[n++] = (struct vring_desc){at + RESP_OFF, RESP_OFF, VRING_DESC_F_WRITE, 0};
	if ((form & 3) == 3) { /* the driver gets it wrong */
		d[n - 1].flags ^= fz_u8(f) & 7;
		d[n - 1].len = fz_u8(f) < 128 ? 0 : fz_val32(f);
	}
	if ((form & 3) == 2) { /* all of it in an indirect table */
		uint64_t table = TABLE_GPA + slot * 64u;
		for (unsigned i = 0; i < n; i++) {
			d[i].flags |= i + 1 < n ? VRING_DESC_F_NEXT : 0;
			d[i].next = (uint16_t)(i + 1);
		}
		gwrite(h, table, d, n * sizeof(d[0]));
		d[0] = (struct vring_desc){table, n * (uint32_t)sizeof(d[0]), VRING_DESC_F_INDIRECT,
					   0};
		n = 1;
	}
	uint16_t head = (uint16_t)(r->next_desc % r->num);
	for (unsigned i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((r->next_desc + i) % r->num);
		if (i + 1 < n) {
			d[i].flags |= VRING_DESC_F_NEXT;
			d[i].next = (uint16_t)((idx + 1) % r->num);
		}
		gwrite(h, r->desc + idx * sizeof(d[0]), &d[i], sizeof(d[0]));
	}
	r->next_desc = (uint16_t)(r->next_desc + n);
	gwrite(h, r->avail + 4 + 2ull * (r->avail_idx % r->num), &head, 2);
	r->avail_idx++;
	uint16_t *idx = (uint16_t *)(void *)host_of(h, r->avail + 2, 2);
	if (idx)
		__atomic_store_n(idx, r->avail_idx, __ATOMIC_RELEASE);
	if (!(form & 4))
		kick(h, q);
}

static void
place_ctrl(void *ctx, const struct cmd_shape *sh, const uint8_t *req, size_t len)
{
	(void)sh;
	place(ctx, 0, req, len, true);
}

/* ---- the display frontend ---- */

static void
disp_send(struct display *p, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
	  uint32_t size_field)
{
	uint8_t buf[VU_HDR_SIZE + sizeof(struct virtio_gpu_resp_edid) + 16];
	struct vu_hdr hdr = {request, flags, size_field};

	if (p->fd < 0 || size > sizeof(buf) - sizeof(hdr))
		return;
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), payload, size);
	fz_send_fds(p->fd, buf, sizeof(hdr) + size, NULL, 0);
}

/* The answer to request (of scanout), honest or not. */
static void
disp_answer(struct display *p, uint32_t request, uint32_t scanout)
{
	union {
		uint64_t features;
		struct virtio_gpu_resp_display_info info;
		struct virtio_gpu_resp_edid edid;
		uint8_t raw[sizeof(struct virtio_gpu_resp_edid) + 16];
	} a;
	uint32_t size = 8, flags = VUGPU_FLAG_REPLY;
	unsigned lie = p->mode == DISP_LIE ? (p->lie >> (2 * (p->answers++ % 4))) & 3 : 4;

	memset(&a, 0, sizeof(a));
	switch (request) {
	case VUGPU_GET_PROTOCOL_FEATURES: a.features = p->features; break;
	case VUGPU_GET_DISPLAY_INFO:
		a.info.hdr.type = VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
		for (unsigned i = 0; i < 2; i++) {
			a.info.pmodes[i].r.width = i ? p->h : p->w;
			a.info.pmodes[i].r.height = i ? p->w : p->h;
			a.info.pmodes[i].enabled = !(p->disabled & (1u << i));
		}
		size = sizeof(a.info);
		break;
	case VUGPU_GET_EDID:
		a.edid.hdr.type = VIRTIO_GPU_RESP_OK_EDID;
		a.edid.size = p->edid_size;
		for (unsigned i = 0; i < sizeof(a.edid.edid); i++)
			a.edid.edid[i] = (uint8_t)(i * 7 + scanout);
		size = sizeof(a.edid);
		break;
	default: return;
	}
	switch (lie) {
	case 0: size = size > 8 ? size - 8 : size + 8; break; /* wrong size */
	case 1: request ^= VUGPU_GET_DISPLAY_INFO ^ VUGPU_GET_EDID; break;
	case 2: flags = 0; break; /* not a reply */
	case 3:			  /* cut short: the rest never comes */
		disp_send(p, request, flags, &a, size / 2, size);
		return;
	default: break;
	}
	disp_send(p, request, flags, &a, size, size);
}

static bool
on_display_msg(void *ctx, const struct vu_hdr *hdr, const uint8_t *head)
{
	struct display *p = ctx;
	uint32_t scanout;

	if (verbose())
		fprintf(stderr, "display: message %u (%u bytes)\n", hdr->request, hdr->size);
	if (p->mode == DISP_SILENT)
		return false;
	memcpy(&scanout, head, sizeof(scanout));
	switch (hdr->request) {
	case VUGPU_GET_PROTOCOL_FEATURES:
	case VUGPU_GET_DISPLAY_INFO:
	case VUGPU_GET_EDID: disp_answer(p, hdr->request, scanout); return true;
	default: return false;
	}
}

/* Read what the daemon sent and answer it; true when something was sent. */
static bool
display_serve(struct display *p)
{
	int r;

	if (p->fd < 0 || p->mode == DISP_STALL)
		return false;
	r = drain(p->fd, &p->in, on_display_msg, p);
	if (r < 0)
		close_fd(&p->fd);
	return r > 0;
}

/* How the display frontend behaves from now on (zeros: honest, EDID). */
static void
display_decode(struct fz *f, struct display *p)
{
	static const uint32_t dims[][2] = {{1280, 800}, {640, 480},	{0, 0},	    {65535, 65535},
					   {1, 1},	{16384, 16384}, {16385, 1}, {1024, 768}};
	static const uint32_t edid_sizes[] = {128, 256, 0, 2000};
	uint8_t sel = fz_u8(f), m = fz_u8(f);

	p->mode = (enum disp_mode)(sel % 4);
	p->features = sel & 0x10 ? 0 : 1ull << VUGPU_PROTOCOL_F_EDID;
	p->w = dims[m % 8][0];
	p->h = dims[m % 8][1];
	p->disabled = (m >> 3) & 3;
	p->edid_size = edid_sizes[(m >> 5) & 3];
	p->lie = fz_u8(f);
}

static void
display_attach(struct harness *h)
{
	int sv[2];

	close_fd(&h->disp.fd);
	display_decode(&h->in, &h->disp);
	FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	FZ_CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	h->disp.fd = sv[0];
	h->disp.in = (struct stream){0};
	send_msg(h, VU_GPU_SET_SOCKET, ACKED, NULL, 0, &sv[1], 1);
	close(sv[1]);
}

/* ---- the backend channel's peer ---- */

static void
peer_reply(int fd, uint32_t request, uint32_t size, uint64_t status)
{
	struct {
		struct vu_hdr hdr;
		uint64_t u64;
	} __attribute__((packed)) r = {{request, VU_VERSION | VU_FLAG_REPLY, size}, status};

	fz_send_fds(fd, &r, sizeof(r.hdr) + MIN(size, 8u), NULL, 0);
}

static void *
peer_main(void *arg)
{
	struct peer *p = arg;
	uint8_t req[VU_HDR_SIZE + sizeof(struct vu_mmap)];
	size_t got = 0;
	unsigned n = 0;
	uint32_t late = 0; /* the request whose ack is owed, 0: none */

	for (;;) {
		struct pollfd pfd = {p->fd, POLLIN, 0};
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
		ssize_t r = fz_recv_drop_fds(p->fd, req + got, sizeof(req) - got);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			break;
		if (r < 0 || (got += (size_t)r) < sizeof(req))
			continue;
		got = 0;
		struct vu_hdr hdr;
		memcpy(&hdr, req, sizeof(hdr));
		uint8_t act = n < p->n_script ? p->script[n] : ACT_ACK;
		n++;
		if (verbose())
			fprintf(stderr, "backend: request %u, flags 0x%x: action %u\n", hdr.request,
				hdr.flags, act);
		if (late)
			peer_reply(p->fd, late, 8, 0);
		late = 0;
		if (!(hdr.flags & VU_FLAG_NEED_REPLY) && act != ACT_JUNK)
			continue;
		switch (act) {
		case ACT_REFUSE: peer_reply(p->fd, hdr.request, 8, 1); break;
		case ACT_WRONG_REQ: peer_reply(p->fd, hdr.request ^ 3, 8, 0); break;
		case ACT_WRONG_SIZE: peer_reply(p->fd, hdr.request, 4, 0); break;
		case ACT_JUNK: {
			uint8_t junk[20];
			memset(junk, 0x5a, sizeof(junk));
			fz_send_fds(p->fd, junk, sizeof(junk), NULL, 0);
			break;
		}
		case ACT_DOUBLE:
			peer_reply(p->fd, hdr.request, 8, 0);
			peer_reply(p->fd, hdr.request, 8, 0);
			break;
		case ACT_HANGUP: shutdown(p->fd, SHUT_RDWR); return NULL;
		case ACT_SILENT: break;
		case ACT_LATE: late = hdr.request; break;
		default: peer_reply(p->fd, hdr.request, 8, 0); break;
		}
	}
	return NULL;
}

static void
peer_stop(struct peer *p)
{
	if (p->running) {
		shutdown(p->fd, SHUT_RDWR);
		pthread_join(p->thread, NULL);
	}
	p->running = false;
	close_fd(&p->fd);
}

/* A new backend channel; its peer's script comes from the input (at most
   one silent or late ack per input: each costs the daemon's timeout). */
static void
peer_start(struct harness *h)
{
	struct fz *f = &h->in;
	struct peer *p = &h->peer;
	int sv[2];

	peer_stop(p);
	p->n_script = fz_u8(f) % (MAX_SCRIPT + 1);
	for (unsigned i = 0; i < p->n_script; i++) {
		uint8_t act = fz_u8(f) % N_ACTS;
		if (act == ACT_SILENT || act == ACT_LATE) {
			act = h->slow_used ? ACT_ACK : act;
			h->slow_used = true;
		}
		p->script[i] = act;
	}
	FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	FZ_CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	p->fd = sv[0];
	FZ_CHECK(pthread_create(&p->thread, NULL, peer_main, p) == 0);
	p->running = true;
	send_msg(h, VU_SET_BACKEND_REQ_FD, ACKED, NULL, 0, &sv[1], 1);
	close(sv[1]);
}

/* ---- running the daemon ---- */

/* A refresh timer about to fire is waited for (a few ms at most), so that
   whether it fired does not depend on how fast the step ran. */
static int
near_timer(const struct daemon *d)
{
	struct itimerspec it;

	if (!d->dev.timer_armed || timerfd_gettime(d->timer_fd, &it) < 0 || it.it_value.tv_sec)
		return 0;
	long ms = it.it_value.tv_nsec / 1000000;
	return it.it_value.tv_nsec && ms < 4 ? (int)ms + 1 : 0;
}

static bool
ring_fits(const struct vu_mem *m, const void *p, uint64_t len)
{
	for (unsigned i = 0; i < m->n; i++) {
		const uint8_t *b = m->r[i].host;
		if ((const uint8_t *)p >= b && (uint64_t)((const uint8_t *)p - b) <= m->r[i].size &&
		    len <= m->r[i].size - (uint64_t)((const uint8_t *)p - b))
			return true;
	}
	return false;
}

/* A ring the daemon may use lies inside its current memory table, for its
   current size. */
static void
check_rings(const struct daemon *d)
{
	for (unsigned q = 0; q < VU_MAX_QUEUES; q++) {
		const struct vring *vr = &d->dev.vu.vq[q];
		if (!vr->desc || vr->broken)
			continue;
		FZ_CHECK(ring_fits(&d->dev.vu.mem, vr->desc, 16ull * vr->num));
		FZ_CHECK(ring_fits(&d->dev.vu.mem, vr->avail, 6 + 2ull * vr->num));
		FZ_CHECK(ring_fits(&d->dev.vu.mem, vr->used, 6 + 8ull * vr->num));
	}
}

/* Guest memory the daemon let go of gets a PROT_NONE guard in its place. */
static void
guard_unmapped(struct harness *h)
{
	const struct vu_mem *m = &h->d.dev.vu.mem;

	for (unsigned i = 0; i < h->n_seen; i++) {
		bool live = false;
		for (unsigned j = 0; j < m->n; j++)
			live |= m->r[j].map == h->seen[i].addr;
		if (live || h->n_guards == MAX_GUARDS)
			continue;
		void *g = mmap(h->seen[i].addr, h->seen[i].len, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE,
			       -1, 0);
		if (g == h->seen[i].addr)
			h->guards[h->n_guards++] = h->seen[i];
		else if (g != MAP_FAILED)
			munmap(g, h->seen[i].len);
	}
	h->n_seen = m->n;
	for (unsigned j = 0; j < m->n; j++)
		h->seen[j] = (struct mapping){m->r[j].map, m->r[j].map_len};
}

/* Run the daemon until it is idle, reading and answering what it sent. */
static void
pump(struct harness *h)
{
	for (unsigned round = 0; round < PUMP_ROUNDS; round++) {
		for (unsigned i = 0; i < PUMP_STEPS; i++) {
			int n = daemon_step(&h->d, near_timer(&h->d));
			FZ_CHECK(n >= 0);
			if (n == 0)
				break;
		}
		if (h->conn >= 0 && drain(h->conn, &h->replies, on_reply, h) < 0)
			close_fd(&h->conn);
		if (!display_serve(&h->disp))
			break;
	}
	FZ_CHECK(!h->d.quit);
	check_rings(&h->d);
	guard_unmapped(h);
}

/* ---- steps ---- */

#define FEATURES_ALL                                                                               \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |                    \
	 (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VU_F_PROTOCOL_FEATURES) |                    \
	 (1ull << VIRTIO_GPU_F_VIRGL) | (1ull << VIRTIO_GPU_F_EDID) |                              \
	 (1ull << VIRTIO_GPU_F_RESOURCE_UUID) | (1ull << VIRTIO_GPU_F_RESOURCE_BLOB) |             \
	 (1ull << VIRTIO_GPU_F_CONTEXT_INIT))

/* The features the driver takes: all, less what drop's bits say. */
static uint64_t
features(struct fz *f, uint8_t drop)
{
	static const uint64_t bits[] = {
		1ull << VIRTIO_RING_F_EVENT_IDX,    1ull << VIRTIO_RING_F_INDIRECT_DESC,
		1ull << VU_F_PROTOCOL_FEATURES,	    1ull << VIRTIO_F_VERSION_1,
		1ull << VIRTIO_GPU_F_RESOURCE_BLOB, 1ull << VIRTIO_GPU_F_CONTEXT_INIT,
		1ull << VIRTIO_GPU_F_EDID};
	uint64_t v = FEATURES_ALL;

	for (unsigned i = 0; i < ARRAY_SIZE(bits); i++)
		v &= drop & (1u << i) ? ~bits[i] : ~0ull;
	return drop & 0x80 ? fz_u64(f) : v;
}

static uint64_t
protocol_features(const struct harness *h, uint8_t drop)
{
	uint64_t v = 0;

	v |= drop & 1 ? 0 : 1ull << VU_PROTOCOL_F_REPLY_ACK;
	v |= drop & 2 ? 0 : 1ull << VU_PROTOCOL_F_BACKEND_REQ;
	v |= drop & 4 || h->shmem_bit < 0 ? 0 : 1ull << h->shmem_bit;
	v |= drop & 8 ? 0 : 1ull << VU_PROTOCOL_F_CONFIG;
	v |= drop & 16 ? 0 : 1ull << VU_PROTOCOL_F_RESET_DEVICE;
	v |= drop & 0x80 ? 1ull << VU_PROTOCOL_F_MQ : 0; /* not offered: refused */
	return v;
}

/* The handshake of QEMU's vhost-user-gpu; skip's bits leave parts out. */
static void
step_session(struct harness *h)
{
	struct fz *f = &h->in;
	uint8_t skip = fz_u8(f);

	send_msg(h, VU_GET_FEATURES, VU_VERSION, NULL, 0, NULL, 0);
	send_msg(h, VU_GET_PROTOCOL_FEATURES, VU_VERSION, NULL, 0, NULL, 0);
	send_u64(h, VU_SET_PROTOCOL_FEATURES, VU_VERSION,
		 protocol_features(h, (skip & 1) | (skip & 2 ? 6 : 0)));
	send_msg(h, VU_SET_OWNER, ACKED, NULL, 0, NULL, 0);
	if (!(skip & 2)) {
		if (h->shmem_bit >= 0)
			send_msg(h, VU_GET_SHMEM_CONFIG, VU_VERSION, NULL, 0, NULL, 0);
		peer_start(h);
	}
	send_u64(h, VU_SET_FEATURES, ACKED, features(f, (skip >> 3) & 3));
	mem_table(h, skip & 0x20 ? 1 : 0, 0);
	if (!(skip & 4))
		display_attach(h);
	for (unsigned q = 0; q < VU_MAX_QUEUES && !(skip & 0x40); q++)
		ring_setup(h, q);
}

/* The messages of OP_MSG: rings in the order QEMU sets them up, then the
   rest. */
static const uint32_t requests[] = {
	VU_SET_VRING_NUM,
	VU_SET_VRING_BASE,
	VU_SET_VRING_ADDR,
	VU_SET_VRING_CALL,
	VU_SET_VRING_KICK,
	VU_SET_VRING_ENABLE,
	VU_GET_VRING_BASE,
	VU_SET_VRING_ERR,
	VU_GET_FEATURES,
	VU_SET_FEATURES,
	VU_GET_PROTOCOL_FEATURES,
	VU_SET_PROTOCOL_FEATURES,
	VU_SET_OWNER,
	VU_RESET_OWNER,
	VU_RESET_DEVICE,
	VU_GET_CONFIG,
	VU_SET_CONFIG,
	VU_GET_SHMEM_CONFIG,
	VU_GPU_SET_SOCKET,
	VU_GET_QUEUE_NUM,
	VU_GET_MAX_MEM_SLOTS,
	VU_SET_STATUS,
};

static void
step_msg(struct harness *h)
{
	struct fz *f = &h->in;
	uint32_t request = requests[fz_below(f, ARRAY_SIZE(requests))];
	uint8_t a = fz_u8(f), b = fz_u8(f);
	uint32_t flags = VU_VERSION | (a & 0x80 ? VU_FLAG_NEED_REPLY : 0), q = a & 1;
	struct ring *r = &h->ring[q];

	switch (request) {
	case VU_SET_FEATURES: send_u64(h, request, flags, features(f, b)); break;
	case VU_SET_PROTOCOL_FEATURES: send_u64(h, request, flags, protocol_features(h, b)); break;
	case VU_SET_VRING_NUM: ring_num(h, q, ring_nums[b % ARRAY_SIZE(ring_nums)]); break;
	case VU_SET_VRING_ADDR: ring_addr(h, q, b); break;
	case VU_SET_VRING_BASE: /* where the driver is, or a restart elsewhere */
		r->avail_idx = b & 1 ? r->avail_idx : (uint16_t)(b >> 1);
		send_state(h, request, flags, q, b == 0xff ? 0x10000 : r->avail_idx);
		break;
	case VU_GET_VRING_BASE:
	case VU_SET_VRING_ENABLE: send_state(h, request, flags, q, (b & 7) == 7 ? b : b & 1); break;
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		send_ring_fd(h, request, flags, q, b & 1,
			     request == VU_SET_VRING_KICK   ? &r->kick
			     : request == VU_SET_VRING_CALL ? &r->call
							    : NULL);
		break;
	case VU_GET_CONFIG:
	case VU_SET_CONFIG: {
		struct vu_config c = {b % 24, (a >> 1) % 28, 0, {0}};
		for (uint32_t i = 0; i < c.size; i++)
			c.payload[i] = fz_u8(f);
		send_msg(h, request, flags, &c, VU_CONFIG_HDR + c.size, NULL, 0);
		break;
	}
	case VU_GPU_SET_SOCKET: display_attach(h); break;
	default:
		send_msg(h, request, flags, &b, (b & 15) == 15 ? 1 : 0, NULL, 0); /* 1: refused */
		break;
	}
}

/* Commands the daemon's own paths care about, built whole. */
static void
step_scene(struct harness *h)
{
	struct fz *f = &h->in;
	uint8_t what = fz_u8(f), id = 1 + fz_u8(f) % 4, so = fz_u8(f) % 2;
	uint32_t w = 1 + fz_u8(f) % 128, hh = 1 + fz_u8(f) % 128;
	union {
		struct virtio_gpu_ctrl_hdr hdr;
		struct virtio_gpu_resource_create_2d c2d;
		struct {
			struct virtio_gpu_resource_attach_backing a;
			struct virtio_gpu_mem_entry e;
		} ab;
		struct virtio_gpu_set_scanout ss;
		struct virtio_gpu_transfer_to_host_2d t2d;
		struct virtio_gpu_resource_flush fl;
		struct virtio_gpu_resource_unref un;
		struct virtio_gpu_resource_unmap_blob um;
		struct virtio_gpu_cmd_get_edid ge;
		struct {
			struct virtio_gpu_cmd_submit s;
			uint8_t data[8];
		} sub;
	} r;
	const struct virtio_gpu_rect all = {0, 0, w, hh};

	memset(&r, 0, sizeof(r));
	switch (what % 6) {
	case 0: /* a 2D resource with backing on a scanout, updated and flushed */
		r.c2d = (struct virtio_gpu_resource_create_2d){
			{.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D},
			id,
			VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
			w,
			hh};
		place(h, 0, &r, sizeof(r.c2d), true);
		r.ab.a = (struct virtio_gpu_resource_attach_backing){
			{.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING}, id, 1};
		r.ab.e = (struct virtio_gpu_mem_entry){BACKING_GPA + (fz_u8(f) % 128) * 4096ull,
						       w * hh * 4, 0};
		place(h, 0, &r, sizeof(r.ab), true);
		r.ss = (struct virtio_gpu_set_scanout){
			{.type = VIRTIO_GPU_CMD_SET_SCANOUT}, all, so, id};
		place(h, 0, &r, sizeof(r.ss), true);
		r.t2d = (struct virtio_gpu_transfer_to_host_2d){
			{.type = VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D}, all, 0, id, 0};
		place(h, 0, &r, sizeof(r.t2d), true);
		r.fl = (struct virtio_gpu_resource_flush){
			{.type = VIRTIO_GPU_CMD_RESOURCE_FLUSH}, all, id, 0};
		place(h, 0, &r, sizeof(r.fl), true);
		break;
	case 1: /* a fenced command, on a context's ring or the global timeline */
		r.sub.s.hdr = (struct virtio_gpu_ctrl_hdr){
			.type = what & 0x10 ? VIRTIO_GPU_CMD_SUBMIT_3D
					    : VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
			.flags = VIRTIO_GPU_FLAG_FENCE |
				 (what & 0x20 ? VIRTIO_GPU_FLAG_INFO_RING_IDX : 0),
			.fence_id = ++h->fence_id,
			.ctx_id = what & 0x10 ? 1 + (id & 1) : 0,
			.ring_idx = (uint8_t)(so + (what >> 6))};
		if (what & 0x10) {
			r.sub.s.size = 8;
		} else {
			r.t2d.r = all;
			r.t2d.resource_id = id;
		}
		place(h, 0, &r, what & 0x10 ? sizeof(r.sub) : sizeof(r.t2d), true);
		break;
	case 2:
		r.un = (struct virtio_gpu_resource_unref){
			{.type = VIRTIO_GPU_CMD_RESOURCE_UNREF}, id, 0};
		place(h, 0, &r, sizeof(r.un), true);
		break;
	case 3:
		r.um = (struct virtio_gpu_resource_unmap_blob){
			{.type = VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB}, id, 0};
		place(h, 0, &r, sizeof(r.um), true);
		break;
	case 4: /* the scanout goes dark */
		r.ss = (struct virtio_gpu_set_scanout){
			{.type = VIRTIO_GPU_CMD_SET_SCANOUT}, all, so, 0};
		place(h, 0, &r, sizeof(r.ss), true);
		break;
	default: /* the queries the display frontend answers */
		r.ge.hdr.type =
			what & 0x10 ? VIRTIO_GPU_CMD_GET_EDID : VIRTIO_GPU_CMD_GET_DISPLAY_INFO;
		r.ge.scanout = so;
		place(h, 0, &r, sizeof(r.ge), true);
		break;
	}
}

static void
step_cursor(struct harness *h)
{
	struct fz *f = &h->in;
	uint8_t sel = fz_u8(f), so = fz_u8(f) % 3, x = fz_u8(f), y = fz_u8(f);
	uint32_t id = sel & 2 ? fz_val32(f) : fz_u8(f) % 5;
	uint8_t hot_x = fz_u8(f) % 64, hot_y = fz_u8(f) % 64;
	struct virtio_gpu_update_cursor c = {
		.hdr.type = sel & 1 ? VIRTIO_GPU_CMD_MOVE_CURSOR : VIRTIO_GPU_CMD_UPDATE_CURSOR,
		.pos = {so, x * 8u, y * 8u, 0},
		.resource_id = id,
		.hot_x = hot_x,
		.hot_y = hot_y,
	};

	place(h, 1, &c, sizeof(c), sel & 4);
}

static void
step_fire(struct harness *h)
{
	uint8_t sel = fz_u8(&h->in);

	if (h->gs)
		g_fake.fire(sel & 1);
	/* Retired by the daemon's poll timer (500 us), or here at once. */
	for (unsigned i = 0; i < 3 && (sel & 2) && h->d.dev.poll_armed; i++)
		FZ_CHECK(daemon_step(&h->d, 1) >= 0);
	kr_gpu_poll(h->d.dev.gpu);
	pump(h);
}

static void
step_display(struct harness *h)
{
	struct fz *f = &h->in;
	struct display *p = &h->disp;
	uint8_t sel = fz_u8(f);

	switch (sel % 5) {
	case 0: display_decode(f, p); break;
	case 1: disp_answer(p, VUGPU_GET_DISPLAY_INFO, 0); break; /* unasked */
	case 2: disp_answer(p, sel & 8 ? VUGPU_GET_EDID : VUGPU_GET_PROTOCOL_FEATURES, 0); break;
	case 3: /* a control queue held for the display waits out its deadline
		   (once per input: it takes a second) */
		for (unsigned i = 0; i < 4 && h->d.dev.ctrl_held && !h->slow_used; i++)
			FZ_CHECK(daemon_step(&h->d, 1100) >= 0);
		h->slow_used = true;
		break;
	default: close_fd(&p->fd); break;
	}
	pump(h);
}

/* Raw bytes (maybe with an fd), then the frontend hangs up: a message cut
   short ends at the hang-up instead of making the daemon wait. */
static void
step_raw(struct harness *h)
{
	struct fz *f = &h->in;
	uint8_t sel = fz_u8(f), words = fz_u8(f);
	size_t len = MIN((size_t)words * 4, f->n);
	int fd = g_memfd[sel & 1];

	if (h->conn < 0)
		conn_open(h);
	if (h->conn >= 0 && len)
		fz_send_fds(h->conn, f->p, len, &fd, sel & 2 ? 1 : 0);
	f->p += len;
	f->n -= len;
	if (h->conn >= 0)
		shutdown(h->conn, SHUT_WR);
	pump(h);
	hang_up(h);
}

static void
step_scribble(struct harness *h)
{
	struct fz *f = &h->in;
	uint8_t sel = fz_u8(f), bytes[32];
	const struct ring *r = &h->ring[sel & 1];
	uint32_t off = fz_u16(f), len = fz_u8(f) % sizeof(bytes);
	uint64_t at;

	switch ((sel >> 1) % 4) {
	case 0: at = r->desc + off % (16u * (r->num ? r->num : 1)); break;
	case 1: at = r->avail + off % 64; break;
	case 2: at = SLOT_GPA + off % (N_SLOTS * SLOT_SIZE); break;
	default: at = guest_gpa(f); break;
	}
	for (uint32_t i = 0; i < len; i++)
		bytes[i] = fz_u8(f);
	gwrite(h, at, bytes, len);
}

static void
step(struct harness *h, enum op op)
{
	struct fz *f = &h->in;
	static uint8_t req[REQ_MAX];

	switch (op) {
	case OP_MSG: step_msg(h); break;
	case OP_SESSION: step_session(h); break;
	case OP_RING: ring_setup(h, fz_u8(f) & 1); break;
	case OP_MEMTABLE: {
		uint8_t how = fz_u8(f);
		mem_table(h, how, fz_u8(f));
		break;
	}
	case OP_BACKEND: peer_start(h); break;
	case OP_CMD: {
		const struct cmd_shape *sh = &shapes[fz_below(f, N_SHAPES)];
		size_t len = build_request(f, sh, req, guest_gpa);
		place(h, 0, req, len, true);
		break;
	}
	case OP_RECIPE: fz_recipe(f, BACKING_GPA, place_ctrl, h); break;
	case OP_SCENE: step_scene(h); break;
	case OP_CURSOR: step_cursor(h); break;
	case OP_KICK: kick(h, fz_u8(f) & 1); break;
	case OP_FIRE: step_fire(h); break;
	case OP_REFRESH: daemon_refresh(&h->d); break;
	case OP_DISPLAY: step_display(h); break;
	case OP_HANGUP:
		hang_up(h);
		if (fz_u8(f) & 1)
			conn_open(h);
		break;
	case OP_RAW: step_raw(h); break;
	case OP_SCRIBBLE: step_scribble(h); break;
	default: break;
	}
	pump(h);
}

/* The daemon's options, as a command line would give them; cfg's bits pick
   the backend (gfxstream over the fake library by default, or 2d), the fence
   mode, the refresh rate, one or two displays, EDID and the SHMEM bit. */
static void
configure(struct harness *h, uint8_t cfg)
{
	static const char *const shmem[] = {"--shmem-protocol-bit=20", "--shmem-protocol-bit=21",
					    "--shmem-protocol-bit=off", "--shmem-protocol-bit=22"};
	static const int shmem_bits[] = {20, 21, -1, 22};
	char *argv[] = {
		"kohlrabi",
		"--socket-path",
		g_sock,
		"--reconnect",
		/* One process runs every input: the replay (fuzz/replay.c)
		   sandboxes it once instead. */
		"--sandbox=off",
		h->gs ? "--backend=gfxstream" : "--backend=2d",
#ifdef FAKE_GS_PATH
		"--gfxstream-lib=" FAKE_GS_PATH,
#endif
		"--hostmem-window=1M",
		"--max-hostmem=16M",
		"--max-resources=32",
		cfg & 4 ? "--refresh-rate=1" : "--refresh-rate=0",
		cfg & 8 ? "--gpu=displays=1,width=640,height=480" : "--gpu=displays=2",
		cfg & 16 ? "--gpu=edid=false" : "--gpu=edid=true",
		(char *)shmem[(cfg >> 5) & 3],
		getenv("FUZZ_LOG") ? "--log-level=debug" : "--log-level=error",
	};

	h->shmem_bit = shmem_bits[(cfg >> 5) & 3];
	daemon_init(&h->d);
	FZ_CHECK(options_parse(&h->d.opt, (int)ARRAY_SIZE(argv), argv) == 0);
	h->d.no_signals = true;
	h->d.log_fn = quiet;
	FZ_CHECK(daemon_setup(&h->d) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct harness hs;
	struct harness *h = &hs;

	process_init();
	for (unsigned i = 0; i < 2; i++) /* the guest memory starts zeroed */
		FZ_CHECK(ftruncate(g_memfd[i], 0) == 0 && ftruncate(g_memfd[i], MEM_SIZE) == 0);
	unsigned before = fz_open_fds();

	memset(h, 0, sizeof(*h));
	h->in = (struct fz){data, size};
	h->conn = h->disp.fd = h->peer.fd = -1;
	for (unsigned q = 0; q < VU_MAX_QUEUES; q++)
		h->ring[q].kick = h->ring[q].call = -1;
	h->view = (struct view){{{0, HALF, 0, 0}, {HALF, HALF, HALF, 0}}, 2, UA_BASE};
	uint8_t cfg = fz_u8(&h->in);
	h->gs = !(cfg & 1) && fake_load();
	if (h->gs) {
		g_fake.set_fence_mode(cfg & 2 ? 1 : 2);
		g_fake.clear_log();
	}
	configure(h, cfg);
	conn_open(h);

	for (unsigned n = 0; n < MAX_STEPS && h->in.n;) {
		enum op op = (enum op)(fz_u8(&h->in) % N_OPS);
		if (op == OP_IDLE)
			continue;
		step(h, op);
		n++;
	}

	daemon_teardown(&h->d);
	peer_stop(&h->peer);
	close_fd(&h->conn);
	close_fd(&h->disp.fd);
	for (unsigned q = 0; q < VU_MAX_QUEUES; q++) {
		close_fd(&h->ring[q].kick);
		close_fd(&h->ring[q].call);
	}
	for (unsigned i = 0; i < h->n_guards; i++)
		munmap(h->guards[i].addr, h->guards[i].len);
	FZ_CHECK(fz_open_fds() == before);
	return 0;
}
