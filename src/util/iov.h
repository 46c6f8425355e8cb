/* SPDX-License-Identifier: MIT */
/*
 * Scatter-gather helpers over struct iovec arrays (host pointers).
 * Nothing here allocates; every pointer is borrowed from the caller.
 */
#ifndef KR_IOV_H
#define KR_IOV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Total bytes of n iovecs, saturating at SIZE_MAX. */
size_t iov_size(const struct iovec *iov, size_t n);

/* Copy up to len bytes starting at byte offset of the iovec list into buf.
   Returns the bytes copied (less than len when the list ends first). */
size_t iov_to_buf(const struct iovec *iov, size_t n, size_t offset, void *buf, size_t len);

/* Copy up to len bytes from buf into the iovec list at byte offset.
   Returns the bytes written. */
size_t iov_from_buf(const struct iovec *iov, size_t n, size_t offset, const void *buf, size_t len);

/*
 * A forward-only reader over an iovec list: reads at increasing offsets cost
 * O(1) amortised instead of a walk from the start each time.
 */
struct iov_cursor {
	const struct iovec *iov; /* borrowed */
	size_t n;
	size_t idx;  /* current element */
	size_t base; /* list offset of iov[idx] */
};

void iov_cursor_init(struct iov_cursor *c, const struct iovec *iov, size_t n);
/* Copy len bytes at list offset off (off must not go backwards between
   calls) into dst.  Returns false, having copied nothing defined, when the
   list is shorter than off + len. */
bool iov_cursor_read(struct iov_cursor *c, uint64_t off, void *dst, size_t len);

#endif
