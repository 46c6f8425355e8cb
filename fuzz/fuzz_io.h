/* SPDX-License-Identifier: MIT */
/*
 * Shared by the fuzz targets that talk to the device over sockets: counting
 * the process's open fds (a leak is a finding) and sending or receiving
 * bytes with fds attached, never blocking.
 */
#ifndef KR_FUZZ_IO_H
#define KR_FUZZ_IO_H

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FZ_FD_SCAN 1024 /* fds 0 .. FZ_FD_SCAN-1 are counted */
#define FZ_MAX_FDS 10	/* most fds one message carries */

static inline unsigned
fz_open_fds(void)
{
	unsigned n = 0;

	for (int fd = 0; fd < FZ_FD_SCAN; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* Send len bytes with n fds (at most FZ_MAX_FDS) attached: 0, or -errno
   (-EAGAIN also when only part went out). */
static inline int
fz_send_fds(int sock, const void *p, size_t len, const int *fds, unsigned n)
{
	union {
		char buf[CMSG_SPACE(FZ_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {(void *)p, len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t w;

	if (n > FZ_MAX_FDS)
		n = FZ_MAX_FDS;
	if (n) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	}
	do {
		w = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (w < 0 && errno == EINTR);
	return w == (ssize_t)len ? 0 : w < 0 ? -errno : -EAGAIN;
}

/* recv() without waiting, closing whatever fds come along. */
static inline ssize_t
fz_recv_drop_fds(int sock, void *p, size_t len)
{
	union {
		char buf[CMSG_SPACE(FZ_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {p, len};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	ssize_t r = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (r < 0)
		return r;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
	return r;
}

#endif
