/* SPDX-License-Identifier: MIT */
/*
 * The frontend's memory table: regions mapped from the fds of SET_MEM_TABLE,
 * and translation of guest physical addresses (descriptors) and frontend
 * virtual addresses (ring addresses) into our own pointers.
 */
#ifndef KR_VU_MEM_H
#define KR_VU_MEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vu_proto.h"

struct vu_mregion {
	uint64_t gpa, size, uaddr;
	uint8_t *host; /* into map */
	void *map;     /* owned mmap, map_len bytes */
	size_t map_len;
};

struct vu_mem {
	struct vu_mregion r[VU_MAX_MEM_SLOTS];
	unsigned n;
};

/*
 * Map n regions from their fds (the fds are borrowed: the caller closes
 * them).  Validates sizes, overflow, overlap and that each fd holds the
 * mapped range.  On success the table it replaces is moved to *old (still
 * mapped) for the caller to clear once nobody uses it; on failure
 * (-EINVAL, -errno of mmap) the old table stays and *old is untouched.
 */
int vu_mem_replace(struct vu_mem *m, const struct vu_region *regs, unsigned n, const int *fds,
		   struct vu_mem *old);
/* ADD_MEM_REG: map one more region (fd borrowed) beside the others, whose
   mappings stay as they are.  -EINVAL (bad or overlapping), -ENOSPC (all
   VU_MAX_MEM_SLOTS used), -errno of mmap. */
int vu_mem_add(struct vu_mem *m, const struct vu_region *r, int fd);
/* REM_MEM_REG: the region of that guest address, frontend address and size
   leaves the table; its mapping is moved to *old (still mapped) for the
   caller to clear.  -ENOENT when there is none. */
int vu_mem_remove(struct vu_mem *m, const struct vu_region *r, struct vu_mem *old);
void vu_mem_clear(struct vu_mem *m);

/* Our pointer for [gpa, gpa + len) when it lies in one region, else NULL. */
void *vu_mem_gpa(const struct vu_mem *m, uint64_t gpa, uint64_t len);
/* The same for the frontend's virtual addresses. */
void *vu_mem_uva(const struct vu_mem *m, uint64_t uaddr, uint64_t len);
/* Append iovecs for [gpa, gpa + len) (may cross adjacent regions) to iov,
   at most max in total starting at *n.  -EFAULT outside memory, -E2BIG when
   max is reached. */
int vu_mem_gpa_iov(const struct vu_mem *m, uint64_t gpa, uint64_t len, struct iovec *iov,
		   size_t max, size_t *n);

#endif
