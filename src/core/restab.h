/* SPDX-License-Identifier: MIT */
/* The resource table and the backing's lifecycle (core only). */
#ifndef KR_RESTAB_H
#define KR_RESTAB_H

#include "guestmem.h"
#include "resource.h"

/* Most entries one ATTACH_BACKING may carry (as QEMU). */
#define BACKING_MAX_ENTRIES 16384u

/* Validate and translate entries (copied).  -EINVAL: an entry of length 0
   or wrapping; -EFAULT: outside guest memory; -ENOMEM. */
int backing_create(const struct guest_mem *m, const struct mem_entry *entries, uint32_t n,
		   struct backing **out);
/* Translate again after the memory map changed.  On -EFAULT the backing is
   left unmapped (b->iov == NULL) until a later remap succeeds. */
int backing_remap(struct backing *b, const struct guest_mem *m);
void backing_destroy(struct backing *b);

struct restab {
	struct resource **buckets; /* owned array; entries owned too */
	uint32_t n_buckets;	   /* power of two */
	uint32_t count;
};

int restab_init(struct restab *t);
/* Frees the bucket array only: remove and destroy entries first. */
void restab_finish(struct restab *t);
struct resource *restab_lookup(const struct restab *t, uint32_t id);
/* -EEXIST when the id is taken; -ENOMEM when the table cannot grow. */
int restab_insert(struct restab *t, struct resource *res);
/* Unlink and return the resource, or NULL. */
struct resource *restab_remove(struct restab *t, uint32_t id);
/* Any resource, to drain the table; NULL when empty. */
struct resource *restab_first(const struct restab *t);

#define restab_for_each(t, res)                                                                    \
	for (uint32_t restab_b_ = 0; restab_b_ < (t)->n_buckets; restab_b_++)                      \
		for ((res) = (t)->buckets[restab_b_]; (res); (res) = (res)->hnext)

/* ---- resources on a device (resource.c) ---- */

struct kr_gpu;

/* Insert a resource the renderer made (with its backing, if any), charged
   charge bytes; on failure both are freed (-ENOMEM). */
int resource_add(struct kr_gpu *gpu, struct resource *res, uint64_t charge);
/* Tear down a blob's host-visible mapping, if it has one. */
void resource_unmap_blob(struct kr_gpu *gpu, struct resource *res);
/* Destroy one resource: detach from scanouts and cursor, free backing,
   uncharge memory, hand it to the renderer. */
void resource_destroy(struct kr_gpu *gpu, struct resource *res);

#endif
