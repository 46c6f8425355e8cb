/* SPDX-License-Identifier: MIT */
#include "guestmem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int
cmp_region(const void *a, const void *b)
{
	const struct kr_mem_region *ra = a, *rb = b;

	return ra->gpa < rb->gpa ? -1 : ra->gpa > rb->gpa;
}

int
guestmem_set(struct guest_mem *m, const struct kr_mem_region *regions, size_t n)
{
	struct kr_mem_region *copy = NULL;
	uint64_t end;

	if (n > 0) {
		if (!regions)
			return -EINVAL;
		copy = calloc(n, sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, regions, n * sizeof(*copy));
		qsort(copy, n, sizeof(*copy), cmp_region);
	}
	for (size_t i = 0; i < n; i++) {
		if (copy[i].size == 0 || !copy[i].host ||
		    __builtin_add_overflow(copy[i].gpa, copy[i].size - 1, &end) ||
		    (uintptr_t)copy[i].host + (copy[i].size - 1) < (uintptr_t)copy[i].host)
			goto err;
		if (i + 1 < n && end >= copy[i + 1].gpa)
			goto err;
	}
	free(m->regions);
	m->regions = copy;
	m->n = n;
	return 0;
err:
	free(copy);
	return -EINVAL;
}

void
guestmem_finish(struct guest_mem *m)
{
	free(m->regions);
	m->regions = NULL;
	m->n = 0;
}

/* The region holding gpa, or NULL. */
static const struct kr_mem_region *
find(const struct guest_mem *m, uint64_t gpa)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct kr_mem_region *r = &m->regions[mid];

		if (gpa < r->gpa)
			hi = mid;
		else if (gpa - r->gpa >= r->size)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

int
guestmem_translate(const struct guest_mem *m, uint64_t gpa, uint64_t len, struct iovec *out,
		   size_t max, size_t *count)
{
	uint64_t last;
	size_t n = 0;

	if (len == 0 || __builtin_add_overflow(gpa, len - 1, &last))
		return -EINVAL;
	while (len > 0) {
		const struct kr_mem_region *r = find(m, gpa);
		if (!r)
			return -EFAULT;
		uint64_t off = gpa - r->gpa;
		uint64_t chunk = r->size - off;
		if (chunk > len)
			chunk = len;
		if (chunk > SIZE_MAX)
			return -EFAULT;
		if (out && n < max) {
			out[n].iov_base = (uint8_t *)r->host + off;
			out[n].iov_len = (size_t)chunk;
		}
		n++;
		gpa += chunk;
		len -= chunk;
	}
	*count = n;
	return 0;
}
