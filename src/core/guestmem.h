/* SPDX-License-Identifier: MIT */
/*
 * Guest physical memory map: the regions the embedder handed to
 * kr_gpu_set_memory(), sorted by guest physical address, and translation of
 * guest ranges to host iovecs.
 */
#ifndef KR_GUESTMEM_H
#define KR_GUESTMEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "kohlrabi/kohlrabi.h"

struct guest_mem {
	struct kr_mem_region *regions; /* owned array, sorted by gpa; the memory is borrowed */
	size_t n;
};

/* Replace the map.  -EINVAL for size 0, a NULL host pointer, a range that
   wraps 64 bits or regions that overlap; the old map stays on error. */
int guestmem_set(struct guest_mem *m, const struct kr_mem_region *regions, size_t n);
void guestmem_finish(struct guest_mem *m);

/*
 * Translate [gpa, gpa + len) into host iovecs, one per region it crosses.
 * out may be NULL (count only).  Writes at most max iovecs; *count gets the
 * number needed.  -EFAULT when any byte is outside guest memory, -EINVAL
 * when len is 0 or the range wraps.
 */
int guestmem_translate(const struct guest_mem *m, uint64_t gpa, uint64_t len, struct iovec *out,
		       size_t max, size_t *count);

#endif
