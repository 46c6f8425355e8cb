/* SPDX-License-Identifier: MIT */
#include "vud.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vhost/vu_proto.h"

#define SCRATCH_SIZE (2u << 20) /* request/response buffers at the top of memory */
#define RING_SPACE   8192u

static int
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -EPIPE;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int64_t
vud_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
read_all(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;

	while (len) {
		struct pollfd pfd = {fd, POLLIN, 0};
		int r = poll(&pfd, 1, timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return -ETIMEDOUT;
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -ECONNRESET : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- display side: answers the backend, records what it shows ---- */

static void
display_reply(struct vud *v, uint32_t request, const void *payload, uint32_t size)
{
	struct vu_hdr h = {request, VUGPU_FLAG_REPLY, size};

	if (write_all(v->display_fd, &h, sizeof(h)) == 0)
		write_all(v->display_fd, payload, size);
}

static void
display_msg(struct vud *v, const struct vu_hdr *h, uint8_t *p)
{
	struct vud_display *d = &v->disp;

	pthread_mutex_lock(&d->lock);
	switch (h->request) {
	case VUGPU_GET_PROTOCOL_FEATURES: {
		uint64_t f = 1ull << VUGPU_PROTOCOL_F_EDID;
		d->n_queries++;
		pthread_mutex_unlock(&d->lock);
		display_reply(v, h->request, &f, sizeof(f));
		return;
	}
	case VUGPU_GET_DISPLAY_INFO: {
		struct virtio_gpu_resp_display_info info = {
			.hdr.type = VIRTIO_GPU_RESP_OK_DISPLAY_INFO};
		uint32_t size = sizeof(info);
		info.pmodes[0].r.width = d->mode_w;
		info.pmodes[0].r.height = d->mode_h;
		info.pmodes[0].enabled = 1;
		if (d->lie == VUD_DISPLAY_ZERO)
			info.pmodes[0].r.width = info.pmodes[0].r.height = 0;
		else if (d->lie == VUD_DISPLAY_HUGE)
			info.pmodes[0].r.width = info.pmodes[0].r.height = 65535;
		else if (d->lie == VUD_DISPLAY_SHORT_REPLY)
			size -= 4;
		d->n_queries++;
		pthread_mutex_unlock(&d->lock);
		display_reply(v, h->request, &info, size);
		return;
	}
	case VUGPU_GET_EDID: {
		/* A recognisable EDID: header, then bytes 0x40.., checksum. */
		struct virtio_gpu_resp_edid e = {.hdr.type = VIRTIO_GPU_RESP_OK_EDID, .size = 128};
		static const uint8_t magic[8] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
		memcpy(e.edid, magic, 8);
		for (int i = 8; i < 127; i++)
			e.edid[i] = (uint8_t)(0x40 + i);
		uint8_t sum = 0;
		for (int i = 0; i < 127; i++)
			sum = (uint8_t)(sum + e.edid[i]);
		e.edid[127] = (uint8_t)(0x100 - sum);
		d->n_queries++;
		pthread_mutex_unlock(&d->lock);
		display_reply(v, h->request, &e, sizeof(e));
		return;
	}
	case VUGPU_SCANOUT: {
		struct vugpu_scanout s;
		if (h->size < sizeof(s))
			break;
		memcpy(&s, p, sizeof(s));
		d->n_scanout++;
		d->width = s.width;
		d->height = s.height;
		free(d->fb);
		d->fb = s.width ? calloc((size_t)s.width * s.height, 4) : NULL;
		break;
	}
	case VUGPU_UPDATE: {
		struct vugpu_update u;
		if (h->size < sizeof(u))
			break;
		memcpy(&u, p, sizeof(u));
		d->n_update++;
		if (!d->fb || (uint64_t)u.width * u.height * 4 + sizeof(u) != h->size ||
		    u.x + u.width > d->width || u.y + u.height > d->height)
			break;
		for (uint32_t y = 0; y < u.height; y++)
			memcpy(d->fb + (size_t)(u.y + y) * d->width + u.x,
			       p + sizeof(u) + (size_t)y * u.width * 4, (size_t)u.width * 4);
		break;
	}
	case VUGPU_CURSOR_UPDATE: {
		struct vugpu_cursor_update c;
		if (h->size != sizeof(c))
			break;
		memcpy(&c, p, sizeof(c));
		d->n_cursor_update++;
		d->cursor_x = c.pos.x;
		d->cursor_y = c.pos.y;
		d->cursor_hot_x = c.hot_x;
		d->cursor_hot_y = c.hot_y;
		memcpy(d->cursor, c.data, sizeof(d->cursor));
		break;
	}
	case VUGPU_CURSOR_POS:
	case VUGPU_CURSOR_POS_HIDE: {
		struct vugpu_cursor_pos c;
		if (h->size != sizeof(c))
			break;
		memcpy(&c, p, sizeof(c));
		if (h->request == VUGPU_CURSOR_POS)
			d->n_cursor_pos++;
		else
			d->n_cursor_hide++;
		d->cursor_x = c.x;
		d->cursor_y = c.y;
		break;
	}
	default: break;
	}
	pthread_mutex_unlock(&d->lock);
}

static void *
display_main(void *arg)
{
	struct vud *v = arg;

	for (;;) {
		struct vu_hdr h;
		while (__atomic_load_n(&v->disp.paused, __ATOMIC_ACQUIRE))
			usleep(1000);
		if (read_all(v->display_fd, &h, sizeof(h), -1) < 0 || h.size > (64u << 20))
			break;
		uint8_t *p = malloc(h.size ? h.size : 1);
		if (!p || read_all(v->display_fd, p, h.size, 5000) < 0) {
			free(p);
			break;
		}
		display_msg(v, &h, p);
		free(p);
	}
	pthread_mutex_lock(&v->disp.lock);
	v->disp.closed = true;
	pthread_mutex_unlock(&v->disp.lock);
	return NULL;
}

/* ---- the backend channel: SHMEM_MAP / SHMEM_UNMAP ---- */

static bool
shmem_range_ok(const struct vud *v, const struct vu_mmap *m)
{
	return m->shmid == 1 && m->len && !(m->shm_offset % 4096) && !(m->len % 4096) &&
	       m->len <= v->shmem_size && m->shm_offset <= v->shmem_size - m->len;
}

static uint64_t
backend_msg(struct vud *v, const struct vu_hdr *h, const struct vu_mmap *m, int fd)
{
	if (h->size != sizeof(*m) || !shmem_range_ok(v, m))
		return 1;
	if (h->request == VU_BACKEND_SHMEM_MAP) {
		int prot = PROT_READ | (m->flags & VU_MMAP_RW ? PROT_WRITE : 0);
		if (fd < 0 || __atomic_load_n(&v->shmem_refuse, __ATOMIC_ACQUIRE) ||
		    mmap(v->shmem + m->shm_offset, m->len, prot, MAP_SHARED | MAP_FIXED, fd,
			 (off_t)m->fd_offset) == MAP_FAILED) {
			__atomic_add_fetch(&v->n_shmem_refused, 1, __ATOMIC_RELEASE);
			return 1;
		}
		__atomic_add_fetch(&v->n_shmem_map, 1, __ATOMIC_RELEASE);
		return 0;
	}
	if (h->request == VU_BACKEND_SHMEM_UNMAP) {
		if (mmap(v->shmem + m->shm_offset, m->len, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
			 0) == MAP_FAILED)
			return 1;
		__atomic_add_fetch(&v->n_shmem_unmap, 1, __ATOMIC_RELEASE);
		return 0;
	}
	return 1;
}

static int mem_table_msg(struct vud *v);

/* Our answer to a request that wants one, as v->backend_peer says. */
static int
backend_answer(struct vud *v, int fd, uint32_t request, uint64_t status)
{
	struct {
		struct vu_hdr h;
		uint64_t u64[2];
	} __attribute__((packed)) r = {{request, VU_VERSION | VU_FLAG_REPLY, 8}, {status, 0}};

	switch (__atomic_load_n(&v->backend_peer, __ATOMIC_ACQUIRE)) {
	case VUD_PEER_WRONG_REQUEST:
		r.h.request = request == VU_BACKEND_SHMEM_MAP ? VU_BACKEND_SHMEM_UNMAP
							      : VU_BACKEND_SHMEM_MAP;
		break;
	case VUD_PEER_OVERSIZED: r.h.size = 16; break;
	case VUD_PEER_MEMTABLE_FIRST:
		/* QEMU commits the region change (a new table, its reply
		   awaited) before it reads on; the main thread is meanwhile in
		   a queue request, not on the socket. */
		if (mem_table_msg(v) < 0)
			return -EPIPE;
		break;
	case VUD_PEER_LATE:
		for (int i = 0; i < 150 && !__atomic_load_n(&v->backend_stop, __ATOMIC_ACQUIRE);
		     i++)
			usleep(10000);
		break;
	default: break;
	}
	return write_all(fd, &r, sizeof(r.h) + r.h.size);
}

/* The guest's memory as one region of the memory table. */
static struct vu_region
guest_region(struct vud *v)
{
	return (struct vu_region){VUD_GPA_BASE, v->mem_size, vud_uaddr(v, VUD_GPA_BASE), 0};
}

/* VUD_SHM_GPA: where our host-visible region sits in the guest's
   physical map for VUD_PEER_COMMIT_AFTER's tables (past guest memory). */
#define VUD_SHM_GPA 0x100000000ull

/* VUD_PEER_COMMIT_AFTER, after the ack: the table change a frontend that
   maps the region into the guest's memory makes (QEMU 11.1). */
static int
commit_after(struct vud *v, uint32_t request, const struct vu_mmap *m, int fd)
{
	struct vu_region r = {VUD_SHM_GPA + m->shm_offset, m->len,
			      (uint64_t)(uintptr_t)(v->shmem + m->shm_offset), m->fd_offset};
	struct vu_mem_single one = {0, r};
	bool slots = v->protocol_features & (1ull << VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS);
	int ret;

	usleep(50 * 1000);
	if (request == VU_BACKEND_SHMEM_UNMAP)
		return slots ? vud_msg_ack(v, VU_REM_MEM_REG, &one, sizeof(one), NULL, 0)
			     : mem_table_msg(v);
	/* Counted before it is sent: the daemon may answer the guest as soon
	   as it has read it, before our thread sees the reply. */
	__atomic_add_fetch(&v->n_map_commits, 1, __ATOMIC_RELEASE);
	if (slots) {
		ret = vud_msg_ack(v, VU_ADD_MEM_REG, &one, sizeof(one), &fd, 1);
	} else {
		struct vu_mem_table mt = {.nregions = 2};
		int fds[2] = {v->memfd, fd};
		mt.regions[0] = guest_region(v);
		mt.regions[1] = r;
		ret = vud_msg_ack(v, VU_SET_MEM_TABLE, &mt, 8 + 2 * sizeof(struct vu_region), fds,
				  2);
	}
	return ret;
}

static void *
backend_main(void *arg)
{
	struct vud *v = arg;
	int bfd = v->backend_fd;

	while (!__atomic_load_n(&v->backend_stop, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd = {bfd, POLLIN, 0};
		if (__atomic_load_n(&v->backend_peer, __ATOMIC_ACQUIRE) == VUD_PEER_SILENT) {
			usleep(10000);
			continue;
		}
		if (poll(&pfd, 1, 10) <= 0 ||
		    __atomic_load_n(&v->backend_peer, __ATOMIC_ACQUIRE) == VUD_PEER_SILENT)
			continue;
		struct {
			struct vu_hdr h;
			struct vu_mmap m;
		} __attribute__((packed)) req;
		union {
			char buf[CMSG_SPACE(4 * sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = {&req, sizeof(req)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl.buf,
				    .msg_controllen = sizeof(ctl.buf)};
		int fd = -1;
		ssize_t n = recvmsg(bfd, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
		if (n <= 0)
			break;
		__atomic_add_fetch(&v->n_backend_req, 1, __ATOMIC_RELEASE);
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k; i++) {
				int f;
				memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (fd < 0)
					fd = f;
				else
					close(f);
			}
		}
		uint64_t status = (size_t)n == sizeof(req) ? backend_msg(v, &req.h, &req.m, fd) : 1;
		bool stop = (req.h.flags & VU_FLAG_NEED_REPLY) &&
			    backend_answer(v, bfd, req.h.request, status) < 0;
		if (!stop && status == 0 &&
		    __atomic_load_n(&v->backend_peer, __ATOMIC_ACQUIRE) == VUD_PEER_COMMIT_AFTER)
			stop = commit_after(v, req.h.request, &req.m, fd) < 0;
		if (fd >= 0)
			close(fd);
		if (stop)
			break;
	}
	return NULL;
}

/* End our backend thread; the channel stays open. */
static void
backend_thread_stop(struct vud *v)
{
	__atomic_store_n(&v->backend_stop, true, __ATOMIC_RELEASE);
	if (v->backend_running)
		pthread_join(v->backend_thread, NULL);
	v->backend_running = false;
	v->backend_stop = false;
}

int
vud_new_backend_channel(struct vud *v)
{
	int sv[2], ret;

	backend_thread_stop(v);
	if (v->backend_fd >= 0)
		close(v->backend_fd);
	v->backend_fd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	v->backend_fd = sv[0];
	if (pthread_create(&v->backend_thread, NULL, backend_main, v) != 0) {
		close(sv[1]);
		return -EAGAIN;
	}
	v->backend_running = true;
	ret = vud_msg_ack(v, VU_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1);
	close(sv[1]);
	return ret;
}

/* Ask for the region's size, reserve it, and hand the backend a channel. */
static int
shmem_setup(struct vud *v)
{
	struct vu_shmem_config c;
	int ret;

	if ((ret = vud_send_raw(v, VU_GET_SHMEM_CONFIG, VU_VERSION, NULL, 0, NULL, 0)) < 0 ||
	    (ret = vud_recv_reply(v, VU_GET_SHMEM_CONFIG, &c, sizeof(c))) < 0)
		return ret;
	if (c.nregions < 2 || !c.memory_sizes[1])
		return -EPROTO;
	v->shmem_size = c.memory_sizes[1];
	v->shmem = mmap(NULL, v->shmem_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			-1, 0);
	if (v->shmem == MAP_FAILED) {
		v->shmem = NULL;
		return -errno;
	}
	return vud_new_backend_channel(v);
}

/* ---- vhost-user messages ---- */

int
vud_send_raw(struct vud *v, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
	     const int *fds, unsigned n_fds)
{
	struct vu_hdr h = {request, flags, size};
	union {
		char buf[CMSG_SPACE(16 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2] = {{&h, sizeof(h)}, {(void *)payload, size}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = size ? 2 : 1};

	if (n_fds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n_fds * sizeof(int));
	}
	ssize_t w = sendmsg(v->sock, &mh, MSG_NOSIGNAL);
	return w == (ssize_t)(sizeof(h) + size) ? 0 : -EPIPE;
}

int
vud_recv_reply(struct vud *v, uint32_t request, void *payload, uint32_t size)
{
	struct vu_hdr h;
	int ret = read_all(v->sock, &h, sizeof(h), 5000);

	if (ret < 0)
		return ret;
	if (h.request != request || !(h.flags & VU_FLAG_REPLY) || h.size != size)
		return -EPROTO;
	return read_all(v->sock, payload, size, 5000);
}

static int
msg(struct vud *v, uint32_t request, const void *payload, uint32_t size, const int *fds,
    unsigned n_fds)
{
	return vud_send_raw(v, request, VU_VERSION, payload, size, fds, n_fds);
}

int
vud_msg_ack(struct vud *v, uint32_t request, const void *payload, uint32_t size, const int *fds,
	    unsigned n_fds)
{
	uint64_t status;
	int ret = vud_send_raw(v, request, VU_VERSION | VU_FLAG_NEED_REPLY, payload, size, fds,
			       n_fds);

	if (ret == 0)
		ret = vud_recv_reply(v, request, &status, sizeof(status));
	return ret < 0 ? ret : status ? -EIO : 0;
}

bool
vud_peer_closed(struct vud *v, int timeout_ms)
{
	uint8_t b[256];
	struct pollfd pfd = {v->sock, POLLIN, 0};

	for (;;) {
		int r = poll(&pfd, 1, timeout_ms);
		if (r <= 0)
			return false;
		ssize_t n = recv(v->sock, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0)
			return false;
	}
}

/* ---- setup ---- */

int
vud_connect(struct vud *v, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	v->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (v->sock < 0)
		return -errno;
	for (int i = 0; i < 3000; i++) { /* 30 s: a backend under valgrind starts slowly */
		int status;
		if (connect(v->sock, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
		/* A backend of ours that exited will never listen. */
		if (v->child > 0 && waitpid(v->child, &status, WNOHANG) == v->child) {
			v->reaped = true;
			v->exit_status =
				WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			v->child = 0;
			return -ECONNREFUSED;
		}
		usleep(10000);
	}
	return -ETIMEDOUT;
}

/* The socket path of a spawned backend, in its temporary directory. */
static void
sock_path(const struct vud *v, char *buf, size_t len)
{
	snprintf(buf, len, "%s/gpu.sock", v->sock_dir);
}

/* The backend's stderr: copied to ours and appended to v->log_path. */
static void *
log_main(void *arg)
{
	struct vud *v = arg;
	int out = open(v->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	char buf[4096];
	ssize_t n;

	while ((n = read(v->log_fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (write(STDERR_FILENO, buf, (size_t)n) < 0 ||
		    (out >= 0 && write(out, buf, (size_t)n) < 0))
			continue; /* best effort: the copy is for reading, not for failing */
	}
	if (out >= 0)
		close(out);
	return NULL;
}

int
vud_spawn_flags(struct vud *v, char *const argv[], unsigned flags)
{
	char *dir = v->sock_dir, path[96];
	char *args[32];
	int n = 0, err[2] = {-1, -1};

	memset(v, 0, sizeof(*v));
	v->sock = v->display_fd = v->memfd = v->backend_fd = v->backend_held = v->log_fd = -1;
	pthread_mutex_init(&v->disp.lock, NULL);
	snprintf(dir, sizeof(v->sock_dir), "/tmp/vud-XXXXXX");
	if (!mkdtemp(dir))
		return -errno;
	sock_path(v, path, sizeof(path));
	for (; argv[n] && n < 31; n++)
		args[n] = strcmp(argv[n], "{socket}") ? argv[n] : path;
	args[n] = NULL;
	if ((flags & VUD_SPAWN_LOG) && pipe2(err, O_CLOEXEC) < 0)
		return -errno;
	v->child = fork();
	if (v->child < 0)
		return -errno;
	if (v->child == 0) {
		/* The backend dies with us: one left behind (a failed test, a
		   killed benchmark) would serve on and hold our stdout open. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
			_exit(127);
		if (err[1] >= 0 && dup2(err[1], STDERR_FILENO) < 0)
			_exit(127);
		execv(args[0], args);
		_exit(127);
	}
	if (flags & VUD_SPAWN_LOG) {
		close(err[1]);
		v->log_fd = err[0];
		snprintf(v->log_path, sizeof(v->log_path), "%s/stderr.log", dir);
		if (pthread_create(&v->log_thread, NULL, log_main, v) != 0)
			return -EAGAIN;
		v->log_running = true;
	}
	return vud_connect(v, path);
}

int
vud_spawn(struct vud *v, char *const argv[])
{
	return vud_spawn_flags(v, argv, 0);
}

/* Complete lines of the backend's stderr that contain text. */
static unsigned
log_count(const struct vud *v, const char *text)
{
	FILE *f = v->log_path[0] ? fopen(v->log_path, "r") : NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned n = 0;

	if (!f)
		return 0;
	while ((len = getline(&line, &cap, f)) > 0)
		n += line[len - 1] == '\n' && strstr(line, text);
	free(line);
	fclose(f);
	return n;
}

bool
vud_wait_log(struct vud *v, const char *text, unsigned n, int timeout_ms)
{
	int64_t deadline = vud_now_ms() + timeout_ms;

	for (;;) {
		if (log_count(v, text) >= n)
			return true;
		if (vud_now_ms() >= deadline)
			return false;
		usleep(5000);
	}
}

int
vud_wait_exit(struct vud *v, int timeout_ms)
{
	int64_t deadline = vud_now_ms() + timeout_ms;
	int status;

	if (v->reaped)
		return v->exit_status;
	if (v->child <= 0)
		return -ECHILD;
	for (;;) {
		if (waitpid(v->child, &status, WNOHANG) == v->child)
			break;
		if (vud_now_ms() >= deadline)
			return -ETIMEDOUT;
		usleep(5000);
	}
	v->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	v->reaped = true;
	v->child = 0;
	return v->exit_status;
}

static void
ring_layout(struct vud *v, unsigned q)
{
	uint64_t base = VUD_GPA_BASE + q * (RING_SPACE / 2);
	struct vud_ring *r = &v->q[q];

	r->desc_gpa = base;
	r->avail_gpa = base + 16 * VUD_QUEUE_SIZE;
	r->used_gpa = (r->avail_gpa + 6 + 2 * VUD_QUEUE_SIZE + 3) & ~3ull;
	r->num = VUD_QUEUE_SIZE;
}

uint64_t
vud_uaddr(const struct vud *v, uint64_t gpa)
{
	return (v->uaddr_set ? v->uaddr : (uintptr_t)v->mem) + (gpa - VUD_GPA_BASE);
}

static int
mem_table_msg(struct vud *v)
{
	struct vu_mem_table mt = {.nregions = 1};
	struct vu_region r = guest_region(v);
	uint64_t slots = 0;
	int ret;

	if (v->protocol_features & (1ull << VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS)) {
		struct vu_mem_single one = {0, r};
		if ((ret = msg(v, VU_GET_MAX_MEM_SLOTS, NULL, 0, NULL, 0)) < 0 ||
		    (ret = vud_recv_reply(v, VU_GET_MAX_MEM_SLOTS, &slots, 8)) < 0)
			return ret;
		if (slots == 0)
			return -EPROTO;
		return vud_msg_ack(v, VU_ADD_MEM_REG, &one, sizeof(one), &v->memfd, 1);
	}
	mt.regions[0] = r;
	return vud_msg_ack(v, VU_SET_MEM_TABLE, &mt, 8 + sizeof(struct vu_region), &v->memfd, 1);
}

int
vud_set_mem_table(struct vud *v)
{
	return mem_table_msg(v);
}

int
vud_start(struct vud *v, uint64_t want, unsigned mem_mb)
{
	uint64_t f;
	int ret;

	v->mem_size = (size_t)mem_mb << 20;
	v->memfd = memfd_create("vud-guest", MFD_CLOEXEC);
	if (v->memfd < 0 || ftruncate(v->memfd, (off_t)v->mem_size) < 0)
		return -errno;
	v->mem = mmap(NULL, v->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->memfd, 0);
	if (v->mem == MAP_FAILED)
		return -errno;
	v->heap = VUD_GPA_BASE + RING_SPACE;
	if (!v->disp.mode_w) {
		v->disp.mode_w = 1280;
		v->disp.mode_h = 800;
	}

	if ((ret = msg(v, VU_GET_FEATURES, NULL, 0, NULL, 0)) < 0 ||
	    (ret = vud_recv_reply(v, VU_GET_FEATURES, &f, sizeof(f))) < 0)
		return ret;
	if (!(f & (1ull << VU_F_PROTOCOL_FEATURES)) || !(f & (1ull << VIRTIO_F_VERSION_1)))
		return -ENOTSUP;
	if ((ret = msg(v, VU_GET_PROTOCOL_FEATURES, NULL, 0, NULL, 0)) < 0 ||
	    (ret = vud_recv_reply(v, VU_GET_PROTOCOL_FEATURES, &v->protocol_features, 8)) < 0)
		return ret;
	uint64_t keep = (1ull << VU_PROTOCOL_F_REPLY_ACK) | (1ull << VU_PROTOCOL_F_CONFIG);
	if (v->want_shmem)
		keep |= (1ull << VU_PROTOCOL_F_BACKEND_REQ) | (1ull << v->shmem_bit);
	if (v->want_mem_slots)
		keep |= 1ull << VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS;
	v->protocol_features &= keep;
	if (!(v->protocol_features & (1ull << VU_PROTOCOL_F_REPLY_ACK)))
		return -ENOTSUP;
	if ((ret = msg(v, VU_SET_PROTOCOL_FEATURES, &v->protocol_features, 8, NULL, 0)) < 0 ||
	    (ret = msg(v, VU_SET_OWNER, NULL, 0, NULL, 0)) < 0)
		return ret;
	if (v->want_shmem && (v->protocol_features & (1ull << v->shmem_bit)) &&
	    (v->protocol_features & (1ull << VU_PROTOCOL_F_BACKEND_REQ)) &&
	    (ret = shmem_setup(v)) < 0)
		return ret;
	v->features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VU_F_PROTOCOL_FEATURES) | (f & want);
	if ((ret = vud_msg_ack(v, VU_SET_FEATURES, &v->features, 8, NULL, 0)) < 0)
		return ret;
	if ((ret = mem_table_msg(v)) < 0)
		return ret;
	/* The display socket comes before the rings start, as QEMU does it. */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	v->display_fd = sv[0];
	if (pthread_create(&v->display_thread, NULL, display_main, v) != 0)
		return -EAGAIN;
	v->display_running = true;
	ret = vud_msg_ack(v, VU_GPU_SET_SOCKET, NULL, 0, &sv[1], 1);
	close(sv[1]);
	if (ret < 0)
		return ret;
	for (unsigned q = 0; q < 2; q++) {
		struct vud_ring *r = &v->q[q];
		ring_layout(v, q);
		memset(vud_host(v, r->desc_gpa), 0, RING_SPACE / 2);
		r->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		r->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		struct vu_vring_state num = {q, VUD_QUEUE_SIZE}, base = {q, 0}, en = {q, 1};
		struct vu_vring_addr addr = {
			.index = q,
			.desc = vud_uaddr(v, r->desc_gpa),
			.used = vud_uaddr(v, r->used_gpa),
			.avail = vud_uaddr(v, r->avail_gpa),
		};
		uint64_t kick = q, call = q;
		if ((ret = vud_msg_ack(v, VU_SET_VRING_NUM, &num, sizeof(num), NULL, 0)) < 0 ||
		    (ret = vud_msg_ack(v, VU_SET_VRING_BASE, &base, sizeof(base), NULL, 0)) < 0 ||
		    (ret = vud_msg_ack(v, VU_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0)) < 0 ||
		    (ret = vud_msg_ack(v, VU_SET_VRING_CALL, &call, 8, &r->call, 1)) < 0 ||
		    (ret = vud_msg_ack(v, VU_SET_VRING_KICK, &kick, 8, &r->kick, 1)) < 0 ||
		    (ret = vud_msg_ack(v, VU_SET_VRING_ENABLE, &en, sizeof(en), NULL, 0)) < 0)
			return ret;
	}
	return 0;
}

void
vud_disconnect(struct vud *v)
{
	if (v->sock >= 0)
		close(v->sock);
	v->sock = -1;
	if (v->display_fd >= 0)
		shutdown(v->display_fd, SHUT_RDWR);
	vud_pause_display(v, false);
	if (v->display_running)
		pthread_join(v->display_thread, NULL);
	v->display_running = false;
	if (v->display_fd >= 0)
		close(v->display_fd);
	v->display_fd = -1;
	v->disp.closed = false;
	for (unsigned q = 0; q < 2; q++) {
		if (v->q[q].kick > 0)
			close(v->q[q].kick);
		if (v->q[q].call > 0)
			close(v->q[q].call);
		v->q[q] = (struct vud_ring){0};
	}
	backend_thread_stop(v);
	if (v->backend_fd >= 0 &&
	    __atomic_load_n(&v->backend_peer, __ATOMIC_ACQUIRE) == VUD_PEER_SILENT) {
		if (v->backend_held >= 0)
			close(v->backend_held);
		v->backend_held = v->backend_fd; /* silent to the end */
	} else if (v->backend_fd >= 0) {
		close(v->backend_fd);
	}
	v->backend_fd = -1;
	if (v->shmem)
		munmap(v->shmem, v->shmem_size);
	v->shmem = NULL;
	if (v->mem && v->mem != MAP_FAILED)
		munmap(v->mem, v->mem_size);
	v->mem = NULL;
	if (v->memfd >= 0)
		close(v->memfd);
	v->memfd = -1;
}

int
vud_reconnect(struct vud *v)
{
	char path[96];

	vud_disconnect(v);
	sock_path(v, path, sizeof(path));
	return vud_connect(v, path);
}

int
vud_stop(struct vud *v)
{
	int status = v->reaped ? v->exit_status : -1;

	if (v->stopped)
		return status;
	v->stopped = true;
	if (v->sock >= 0)
		close(v->sock);
	v->sock = -1;
	if (v->child > 0) {
		for (int i = 0; i < 3000; i++) {
			if (waitpid(v->child, &status, WNOHANG) == v->child)
				goto reaped;
			usleep(10000);
		}
		kill(v->child, SIGKILL);
		waitpid(v->child, &status, 0);
		status = -1;
		goto done;
	reaped:
		status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
done:
	vud_disconnect(v);
	if (v->backend_held >= 0)
		close(v->backend_held);
	v->backend_held = -1;
	if (v->log_running)
		pthread_join(v->log_thread, NULL); /* the backend is gone: EOF */
	v->log_running = false;
	if (v->log_fd >= 0)
		close(v->log_fd);
	v->log_fd = -1;
	if (v->log_path[0])
		unlink(v->log_path);
	free(v->disp.fb);
	v->disp.fb = NULL;
	pthread_mutex_destroy(&v->disp.lock);
	if (v->sock_dir[0]) {
		char path[96];
		sock_path(v, path, sizeof(path));
		unlink(path);
		rmdir(v->sock_dir);
	}
	return status;
}

void *
vud_host(struct vud *v, uint64_t gpa)
{
	if (gpa < VUD_GPA_BASE || gpa - VUD_GPA_BASE >= v->mem_size)
		return NULL;
	return v->mem + (gpa - VUD_GPA_BASE);
}

uint64_t
vud_alloc(struct vud *v, size_t size)
{
	uint64_t gpa = v->heap;

	size = (size + 4095) & ~(size_t)4095;
	if (gpa + size > VUD_GPA_BASE + v->mem_size - SCRATCH_SIZE)
		return 0;
	v->heap += size;
	return gpa;
}

void
vud_reset_heap(struct vud *v)
{
	v->heap = VUD_GPA_BASE + RING_SPACE;
}

/* ---- requests ---- */

struct vring_desc_raw *
vud_desc(struct vud *v, unsigned q)
{
	return vud_host(v, v->q[q].desc_gpa);
}

/* Put head on the available ring, without a kick. */
static void
publish(struct vud *v, unsigned q, uint16_t head)
{
	struct vud_ring *r = &v->q[q];
	uint16_t *avail = vud_host(v, r->avail_gpa);

	avail[2 + r->avail_idx % r->num] = head;
	r->avail_idx++;
	__atomic_store_n(&avail[1], r->avail_idx, __ATOMIC_RELEASE);
}

void
vud_kick(struct vud *v, unsigned q)
{
	uint64_t one = 1;

	if (write(v->q[q].kick, &one, sizeof(one)) < 0)
		perror("vud: kick");
}

void
vud_publish(struct vud *v, unsigned q, uint16_t head)
{
	publish(v, q, head);
	vud_kick(v, q);
}

uint16_t
vud_used_idx(struct vud *v, unsigned q)
{
	uint16_t *used = vud_host(v, v->q[q].used_gpa);

	return __atomic_load_n(&used[1], __ATOMIC_ACQUIRE);
}

int
vud_wait_used(struct vud *v, unsigned q, int timeout_ms, uint32_t *id)
{
	struct vud_ring *r = &v->q[q];
	uint16_t *used = vud_host(v, r->used_gpa);

	for (int waited = 0;; waited += 5) {
		uint16_t idx = __atomic_load_n(&used[1], __ATOMIC_ACQUIRE);
		if (idx != r->used_seen) {
			uint32_t elem[2];
			memcpy(elem, (uint8_t *)used + 4 + 8 * (r->used_seen % r->num), 8);
			r->used_seen++;
			if (id)
				*id = elem[0];
			return (int)elem[1];
		}
		if (waited >= timeout_ms)
			return -ETIMEDOUT;
		struct pollfd pfd = {r->call, POLLIN, 0};
		uint64_t n;
		if (poll(&pfd, 1, 5) > 0 && read(r->call, &n, sizeof(n)) < 0)
			return -errno;
	}
}

int
vud_request(struct vud *v, unsigned q, const void *req, size_t len, void *resp, size_t cap,
	    int timeout_ms)
{
	uint64_t scratch = VUD_GPA_BASE + v->mem_size - SCRATCH_SIZE;
	uint64_t resp_gpa = scratch + ((len + 4095) & ~(size_t)4095);
	struct vring_desc_raw *d = vud_desc(v, q);
	int ret;

	if (len + cap + 4096 > SCRATCH_SIZE)
		return -E2BIG;
	memcpy(vud_host(v, scratch), req, len);
	memset(vud_host(v, resp_gpa), 0xa5, cap);
	d[0] = (struct vring_desc_raw){scratch, (uint32_t)len, cap ? 1 : 0, 1};
	d[1] = (struct vring_desc_raw){resp_gpa, (uint32_t)cap, 2, 0};
	vud_publish(v, q, 0);
	ret = vud_wait_used(v, q, timeout_ms, NULL);
	if (ret > 0 && resp)
		memcpy(resp, vud_host(v, resp_gpa), (size_t)ret < cap ? (size_t)ret : cap);
	return ret;
}

int
vud_submit(struct vud *v, unsigned q, struct vud_req *r, unsigned n)
{
	uint64_t scratch = VUD_GPA_BASE + v->mem_size - SCRATCH_SIZE;
	size_t slot = n ? (SCRATCH_SIZE / n) & ~(size_t)4095 : 0;
	struct vring_desc_raw *d = vud_desc(v, q);

	if (!n || n > v->q[q].num / 2u)
		return -E2BIG;
	for (unsigned i = 0; i < n; i++) {
		uint64_t req_gpa = scratch + i * slot;
		size_t req_room = (r[i].len + 4095) & ~(size_t)4095;
		if (req_room + r[i].cap > slot)
			return -E2BIG;
		r[i].resp_gpa = req_gpa + req_room;
		r[i].used = -ETIMEDOUT;
		if (r[i].len) /* a buffer for the device alone has no request */
			memcpy(vud_host(v, req_gpa), r[i].req, r[i].len);
		memset(vud_host(v, r[i].resp_gpa), 0xa5, r[i].cap);
		d[2 * i] = (struct vring_desc_raw){req_gpa, (uint32_t)r[i].len, r[i].cap ? 1 : 0,
						   (uint16_t)(2 * i + 1)};
		d[2 * i + 1] = (struct vring_desc_raw){r[i].resp_gpa, (uint32_t)r[i].cap, 2, 0};
	}
	for (unsigned i = 0; i < n; i++)
		publish(v, q, (uint16_t)(2 * i));
	vud_kick(v, q);
	return 0;
}

int
vud_collect(struct vud *v, unsigned q, struct vud_req *r, unsigned n, int timeout_ms)
{
	int64_t deadline = vud_now_ms() + timeout_ms;

	for (unsigned got = 0; got < n; got++) {
		int64_t left = deadline - vud_now_ms();
		uint32_t id;
		int len = vud_wait_used(v, q, left > 0 ? (int)left : 0, &id);
		if (len < 0)
			return len;
		if (id % 2 || id / 2 >= n || r[id / 2].used >= 0)
			return -EPROTO; /* not a head of this batch, or twice */
		struct vud_req *x = &r[id / 2];
		x->used = len;
		if (x->resp)
			memcpy(x->resp, vud_host(v, x->resp_gpa),
			       (size_t)len < x->cap ? (size_t)len : x->cap);
	}
	return 0;
}

int
vud_requests(struct vud *v, unsigned q, struct vud_req *r, unsigned n, int timeout_ms)
{
	int ret = vud_submit(v, q, r, n);

	return ret < 0 ? ret : vud_collect(v, q, r, n, timeout_ms);
}

uint32_t
vud_cmd(struct vud *v, const void *req, size_t len)
{
	struct virtio_gpu_ctrl_hdr h;
	int n = vud_request(v, 0, req, len, &h, sizeof(h), 5000);

	return n == (int)sizeof(h) ? h.type : 0;
}

bool
vud_wait_count(struct vud *v, const unsigned *counter, unsigned n, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 5) {
		pthread_mutex_lock(&v->disp.lock);
		bool ok = *counter >= n;
		pthread_mutex_unlock(&v->disp.lock);
		if (ok)
			return true;
		usleep(5000);
	}
	return false;
}

bool
vud_wait_updates(struct vud *v, unsigned n, int timeout_ms)
{
	return vud_wait_count(v, &v->disp.n_update, n, timeout_ms);
}

bool
vud_wait_frame(struct vud *v, const uint32_t *want, uint32_t w, uint32_t h, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 5) {
		pthread_mutex_lock(&v->disp.lock);
		bool ok = v->disp.fb && v->disp.width == w && v->disp.height == h;
		for (size_t i = 0; ok && i < (size_t)w * h; i++)
			ok = (v->disp.fb[i] & 0xffffff) == (want[i] & 0xffffff);
		pthread_mutex_unlock(&v->disp.lock);
		if (ok)
			return true;
		usleep(5000);
	}
	return false;
}

void
vud_pause_display(struct vud *v, bool paused)
{
	__atomic_store_n(&v->disp.paused, paused, __ATOMIC_RELEASE);
}

/* ---- driver helpers ---- */

uint32_t
vud_create_2d(struct vud *v, uint32_t id, uint32_t format, uint32_t w, uint32_t h)
{
	struct virtio_gpu_resource_create_2d c = {.hdr.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
						  .resource_id = id,
						  .format = format,
						  .width = w,
						  .height = h};

	return vud_cmd(v, &c, sizeof(c));
}

uint32_t
vud_attach(struct vud *v, uint32_t id, uint64_t gpa, uint32_t len)
{
	struct {
		struct virtio_gpu_resource_attach_backing a;
		struct virtio_gpu_mem_entry e;
	} at = {{{.type = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING}, id, 1}, {gpa, len, 0}};

	return vud_cmd(v, &at, sizeof(at));
}

uint32_t
vud_ctx_create(struct vud *v, uint32_t ctx, uint32_t context_init)
{
	struct virtio_gpu_ctx_create c = {.hdr = {.type = VIRTIO_GPU_CMD_CTX_CREATE, .ctx_id = ctx},
					  .nlen = 5,
					  .context_init = context_init,
					  .debug_name = "vtest"};

	return vud_cmd(v, &c, sizeof(c));
}

uint32_t
vud_blob_host3d(struct vud *v, uint32_t ctx, uint32_t id, uint64_t blob_id, uint64_t size)
{
	struct virtio_gpu_resource_create_blob b = {
		.hdr = {.type = VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB, .ctx_id = ctx},
		.resource_id = id,
		.blob_mem = VIRTIO_GPU_BLOB_MEM_HOST3D,
		.blob_flags = VIRTIO_GPU_BLOB_FLAG_USE_MAPPABLE,
		.blob_id = blob_id,
		.size = size};

	return vud_cmd(v, &b, sizeof(b));
}

int
vud_cmd_ok(struct vud *v, const void *req, size_t len)
{
	uint32_t t = vud_cmd(v, req, len);

	if (t != VIRTIO_GPU_RESP_OK_NODATA) {
		fprintf(stderr, "vud: command 0x%x answered 0x%x\n",
			((const struct virtio_gpu_ctrl_hdr *)req)->type, t);
		return -EPROTO;
	}
	return 0;
}

int
vud_stop_queue(struct vud *v, uint32_t q, uint32_t *last_avail)
{
	struct vu_vring_state st = {q, 0};
	int ret = vud_send_raw(v, VU_GET_VRING_BASE, VU_VERSION, &st, sizeof(st), NULL, 0);

	if (ret == 0)
		ret = vud_recv_reply(v, VU_GET_VRING_BASE, &st, sizeof(st));
	if (ret == 0 && st.index != q)
		ret = -EPROTO;
	if (ret == 0 && last_avail)
		*last_avail = st.num;
	return ret;
}

/* ---- the spawned backend, seen from /proc ---- */

long
vud_backend_rss_kib(const struct vud *v)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)v->child);
	if (v->child <= 0 || !(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

long
vud_backend_fds(const struct vud *v)
{
	char path[64];
	long n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)v->child);
	if (v->child <= 0 || !(d = opendir(path)))
		return -1;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}
