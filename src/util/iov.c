/* SPDX-License-Identifier: MIT */
#include "iov.h"

#include <string.h>

size_t
iov_size(const struct iovec *iov, size_t n)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++) {
		if (__builtin_add_overflow(total, iov[i].iov_len, &total))
			return SIZE_MAX;
	}
	return total;
}

/* Copy between buf and the list at byte offset; to_iov picks the direction. */
static size_t
iov_copy(const struct iovec *iov, size_t n, size_t offset, uint8_t *buf, size_t len, bool to_iov)
{
	size_t done = 0;

	for (size_t i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;

		if (offset >= l) {
			offset -= l;
			continue;
		}
		size_t chunk = l - offset;
		if (chunk > len - done)
			chunk = len - done;
		uint8_t *at = (uint8_t *)iov[i].iov_base + offset;
		if (to_iov)
			memcpy(at, buf + done, chunk);
		else
			memcpy(buf + done, at, chunk);
		done += chunk;
		offset = 0;
	}
	return done;
}

size_t
iov_to_buf(const struct iovec *iov, size_t n, size_t offset, void *buf, size_t len)
{
	return iov_copy(iov, n, offset, buf, len, false);
}

size_t
iov_from_buf(const struct iovec *iov, size_t n, size_t offset, const void *buf, size_t len)
{
	/* Only read from buf in this direction. */
	return iov_copy(iov, n, offset, (uint8_t *)(uintptr_t)buf, len, true);
}

void
iov_cursor_init(struct iov_cursor *c, const struct iovec *iov, size_t n)
{
	c->iov = iov;
	c->n = n;
	c->idx = 0;
	c->base = 0;
}

bool
iov_cursor_read(struct iov_cursor *c, uint64_t off, void *dst, size_t len)
{
	uint8_t *out = dst;

	if (off < c->base) /* went backwards: restart */
		iov_cursor_init(c, c->iov, c->n);
	while (c->idx < c->n && off >= c->base + c->iov[c->idx].iov_len) {
		c->base += c->iov[c->idx].iov_len;
		c->idx++;
	}
	size_t idx = c->idx;
	uint64_t pos = off - c->base;
	while (len > 0) {
		if (idx >= c->n)
			return false;
		size_t avail = c->iov[idx].iov_len - pos;
		size_t chunk = len < avail ? len : avail;
		memcpy(out, (const uint8_t *)c->iov[idx].iov_base + pos, chunk);
		out += chunk;
		len -= chunk;
		pos = 0;
		idx++;
	}
	return true;
}
