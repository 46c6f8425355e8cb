/* SPDX-License-Identifier: MIT */
#include "vu_mem.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

static bool
overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen; /* callers checked no wrap */
}

/* Validate r and map [0, mmap_offset + size) of fd into *out; others are
   the regions it must not overlap. */
static int
map_region(const struct vu_region *r, int fd, const struct vu_mregion *others, unsigned n_others,
	   struct vu_mregion *out)
{
	struct stat st;
	uint64_t end;

	if (r->size == 0 || r->size > SIZE_MAX / 2 ||
	    __builtin_add_overflow(r->gpa, r->size, &end) ||
	    __builtin_add_overflow(r->uaddr, r->size, &end) ||
	    __builtin_add_overflow(r->mmap_offset, r->size, &end) || end > SIZE_MAX / 2 || fd < 0)
		return -EINVAL;
	for (unsigned j = 0; j < n_others; j++) {
		if (overlaps(r->gpa, r->size, others[j].gpa, others[j].size) ||
		    overlaps(r->uaddr, r->size, others[j].uaddr, others[j].size))
			return -EINVAL;
	}
	/* Touching pages past the end of the file would raise SIGBUS. */
	if (fstat(fd, &st) < 0 || (S_ISREG(st.st_mode) && (uint64_t)st.st_size < end))
		return -EINVAL;
	void *map = mmap(NULL, (size_t)end, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	*out = (struct vu_mregion){
		.gpa = r->gpa,
		.size = r->size,
		.uaddr = r->uaddr,
		.host = (uint8_t *)map + r->mmap_offset,
		.map = map,
		.map_len = (size_t)end,
	};
	return 0;
}

int
vu_mem_replace(struct vu_mem *m, const struct vu_region *regs, unsigned n, const int *fds,
	       struct vu_mem *old)
{
	struct vu_mem next = {0};
	int ret = 0;

	if (n == 0 || n > VU_MAX_REGIONS)
		return -EINVAL;
	for (unsigned i = 0; i < n && ret == 0; i++) {
		ret = map_region(&regs[i], fds[i], next.r, i, &next.r[i]);
		next.n = ret == 0 ? i + 1 : i;
	}
	if (ret < 0) {
		vu_mem_clear(&next);
		return ret;
	}
	*old = *m;
	*m = next;
	return 0;
}

int
vu_mem_add(struct vu_mem *m, const struct vu_region *r, int fd)
{
	if (m->n >= VU_MAX_MEM_SLOTS)
		return -ENOSPC;
	int ret = map_region(r, fd, m->r, m->n, &m->r[m->n]);
	if (ret == 0)
		m->n++;
	return ret;
}

int
vu_mem_remove(struct vu_mem *m, const struct vu_region *r, struct vu_mem *old)
{
	for (unsigned i = 0; i < m->n; i++) {
		const struct vu_mregion *x = &m->r[i];
		if (x->gpa != r->gpa || x->uaddr != r->uaddr || x->size != r->size)
			continue;
		memset(old, 0, sizeof(*old));
		old->r[0] = *x;
		old->n = 1;
		memmove(&m->r[i], &m->r[i + 1], (m->n - i - 1) * sizeof(m->r[0]));
		m->n--;
		memset(&m->r[m->n], 0, sizeof(m->r[0]));
		return 0;
	}
	return -ENOENT;
}

void
vu_mem_clear(struct vu_mem *m)
{
	for (unsigned i = 0; i < m->n; i++)
		munmap(m->r[i].map, m->r[i].map_len);
	memset(m, 0, sizeof(*m));
}

void *
vu_mem_gpa(const struct vu_mem *m, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < m->n; i++) {
		const struct vu_mregion *r = &m->r[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

void *
vu_mem_uva(const struct vu_mem *m, uint64_t uaddr, uint64_t len)
{
	for (unsigned i = 0; i < m->n; i++) {
		const struct vu_mregion *r = &m->r[i];
		if (uaddr >= r->uaddr && uaddr - r->uaddr < r->size &&
		    len <= r->size - (uaddr - r->uaddr))
			return r->host + (uaddr - r->uaddr);
	}
	return NULL;
}

int
vu_mem_gpa_iov(const struct vu_mem *m, uint64_t gpa, uint64_t len, struct iovec *iov, size_t max,
	       size_t *n)
{
	while (len > 0) {
		const struct vu_mregion *r = NULL;
		for (unsigned i = 0; i < m->n; i++) {
			if (gpa >= m->r[i].gpa && gpa - m->r[i].gpa < m->r[i].size) {
				r = &m->r[i];
				break;
			}
		}
		if (!r)
			return -EFAULT;
		if (*n >= max)
			return -E2BIG;
		uint64_t off = gpa - r->gpa, chunk = r->size - off;
		if (chunk > len)
			chunk = len;
		iov[*n].iov_base = r->host + off;
		iov[*n].iov_len = (size_t)chunk;
		(*n)++;
		gpa += chunk;
		len -= chunk;
	}
	return 0;
}
