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

int
vu_mem_replace(struct vu_mem *m, const struct vu_region *regs, unsigned n, const int *fds,
	       struct vu_mem *old)
{
	struct vu_mem next = {0};
	uint64_t end;
	int ret = -EINVAL;

	if (n == 0 || n > VU_MAX_REGIONS)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		const struct vu_region *r = &regs[i];
		struct stat st;
		if (r->size == 0 || r->size > SIZE_MAX / 2 ||
		    __builtin_add_overflow(r->gpa, r->size, &end) ||
		    __builtin_add_overflow(r->uaddr, r->size, &end) ||
		    __builtin_add_overflow(r->mmap_offset, r->size, &end) || end > SIZE_MAX / 2 ||
		    fds[i] < 0)
			goto err;
		for (unsigned j = 0; j < i; j++) {
			if (overlaps(r->gpa, r->size, regs[j].gpa, regs[j].size) ||
			    overlaps(r->uaddr, r->size, regs[j].uaddr, regs[j].size))
				goto err;
		}
		/* Touching pages past the end of the file would raise SIGBUS. */
		if (fstat(fds[i], &st) < 0 || (S_ISREG(st.st_mode) && (uint64_t)st.st_size < end))
			goto err;
		void *map = mmap(NULL, (size_t)end, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
		if (map == MAP_FAILED) {
			ret = -errno;
			goto err;
		}
		next.r[i] = (struct vu_mregion){
			.gpa = r->gpa,
			.size = r->size,
			.uaddr = r->uaddr,
			.host = (uint8_t *)map + r->mmap_offset,
			.map = map,
			.map_len = (size_t)end,
		};
		next.n = i + 1;
	}
	*old = *m;
	*m = next;
	return 0;
err:
	vu_mem_clear(&next);
	return ret;
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
