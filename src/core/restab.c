/* SPDX-License-Identifier: MIT */
/* The resource table and guest backings: data structures, no device. */
#include "restab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int
backing_translate(const struct guest_mem *m, const struct mem_entry *e, uint32_t n,
		  struct iovec **out_iov, size_t *out_n)
{
	size_t total = 0, cnt;
	struct iovec *iov = NULL;
	int ret;

	for (uint32_t i = 0; i < n; i++) {
		ret = guestmem_translate(m, e[i].gpa, e[i].len, NULL, 0, &cnt);
		if (ret < 0)
			return ret;
		total += cnt; /* at most n * regions: cannot wrap */
	}
	iov = calloc(total, sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	size_t used = 0;
	for (uint32_t i = 0; i < n; i++) {
		ret = guestmem_translate(m, e[i].gpa, e[i].len, iov + used, total - used, &cnt);
		if (ret < 0) {
			free(iov);
			return ret;
		}
		used += cnt;
	}
	*out_iov = iov;
	*out_n = total;
	return 0;
}

int
backing_create(const struct guest_mem *m, const struct mem_entry *entries, uint32_t n,
	       struct backing **out)
{
	struct backing *b = NULL;
	uint64_t last;
	int ret = -EINVAL;

	if (n == 0 || n > BACKING_MAX_ENTRIES)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		if (entries[i].len == 0 ||
		    __builtin_add_overflow(entries[i].gpa, (uint64_t)entries[i].len - 1, &last))
			return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->entries = calloc(n, sizeof(*b->entries));
	if (!b->entries) {
		ret = -ENOMEM;
		goto err;
	}
	memcpy(b->entries, entries, n * sizeof(*entries));
	b->n_entries = n;
	for (uint32_t i = 0; i < n; i++)
		b->size += entries[i].len; /* <= 16384 * 4 GiB: no wrap */
	ret = backing_translate(m, b->entries, n, &b->iov, &b->n_iov);
	if (ret < 0)
		goto err;
	*out = b;
	return 0;
err:
	backing_destroy(b);
	return ret;
}

int
backing_remap(struct backing *b, const struct guest_mem *m)
{
	struct iovec *iov;
	size_t n;
	int ret;

	free(b->iov);
	b->iov = NULL;
	b->n_iov = 0;
	ret = backing_translate(m, b->entries, b->n_entries, &iov, &n);
	if (ret < 0)
		return ret;
	b->iov = iov;
	b->n_iov = n;
	return 0;
}

void
backing_destroy(struct backing *b)
{
	if (!b)
		return;
	free(b->entries);
	free(b->iov);
	free(b);
}

/* Multiplicative hash: resource ids are often small and sequential. */
static uint32_t
slot(const struct restab *t, uint32_t id)
{
	return (id * 2654435761u) & (t->n_buckets - 1);
}

int
restab_init(struct restab *t)
{
	t->n_buckets = 64;
	t->count = 0;
	t->buckets = calloc(t->n_buckets, sizeof(*t->buckets));
	return t->buckets ? 0 : -ENOMEM;
}

void
restab_finish(struct restab *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->n_buckets = 0;
	t->count = 0;
}

struct resource *
restab_lookup(const struct restab *t, uint32_t id)
{
	struct resource *r;

	for (r = t->buckets[slot(t, id)]; r; r = r->hnext) {
		if (r->id == id)
			return r;
	}
	return NULL;
}

static int
grow(struct restab *t)
{
	uint32_t old_n = t->n_buckets;
	struct resource **old = t->buckets;
	struct resource **nb = calloc((size_t)old_n * 2, sizeof(*nb));

	if (!nb)
		return -ENOMEM;
	t->buckets = nb;
	t->n_buckets = old_n * 2;
	for (uint32_t b = 0; b < old_n; b++) {
		struct resource *r = old[b], *next;
		for (; r; r = next) {
			next = r->hnext;
			uint32_t s = slot(t, r->id);
			r->hnext = nb[s];
			nb[s] = r;
		}
	}
	free(old);
	return 0;
}

int
restab_insert(struct restab *t, struct resource *res)
{
	if (restab_lookup(t, res->id))
		return -EEXIST;
	if (t->count >= t->n_buckets && t->n_buckets < (1u << 24)) {
		int ret = grow(t);
		if (ret < 0)
			return ret;
	}
	uint32_t s = slot(t, res->id);
	res->hnext = t->buckets[s];
	t->buckets[s] = res;
	t->count++;
	return 0;
}

struct resource *
restab_remove(struct restab *t, uint32_t id)
{
	struct resource **pp = &t->buckets[slot(t, id)];

	for (; *pp; pp = &(*pp)->hnext) {
		struct resource *r = *pp;
		if (r->id == id) {
			*pp = r->hnext;
			r->hnext = NULL;
			t->count--;
			return r;
		}
	}
	return NULL;
}

struct resource *
restab_first(const struct restab *t)
{
	for (uint32_t b = 0; b < t->n_buckets; b++) {
		if (t->buckets[b])
			return t->buckets[b];
	}
	return NULL;
}
