/* SPDX-License-Identifier: MIT */
/*
 * Resources, their guest backing and the resource table.
 *
 * A resource is allocated by the renderer (which embeds struct resource in
 * its own struct) and owned by the table once inserted; the core destroys it
 * through the renderer's resource_destroy.  The backing is owned by the
 * resource.
 */
#ifndef KR_RESOURCE_H
#define KR_RESOURCE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guestmem.h"

/* Most entries one ATTACH_BACKING may carry (as QEMU). */
#define BACKING_MAX_ENTRIES 16384u

struct mem_entry {
	uint64_t gpa;
	uint32_t len;
};

struct backing {
	struct mem_entry *entries; /* owned: what the guest attached */
	uint32_t n_entries;
	uint64_t size;	   /* sum of the entry lengths */
	struct iovec *iov; /* owned: host translation, NULL while unmapped */
	size_t n_iov;
};

/* Validate and translate entries (copied).  -EINVAL: an entry of length 0
   or wrapping; -EFAULT: outside guest memory; -ENOMEM. */
int backing_create(const struct guest_mem *m, const struct mem_entry *entries, uint32_t n,
		   struct backing **out);
/* Translate again after the memory map changed.  On -EFAULT the backing is
   left unmapped (b->iov == NULL) until a later remap succeeds. */
int backing_remap(struct backing *b, const struct guest_mem *m);
void backing_destroy(struct backing *b);

struct resource {
	uint32_t id;
	uint32_t format; /* VIRTIO_GPU_FORMAT_* */
	uint32_t width, height;
	bool is_3d; /* created by RESOURCE_CREATE_3D */
	uint32_t target, depth, array_size, last_level;
	uint64_t hostmem;	 /* bytes charged against max_hostmem */
	struct backing *backing; /* owned, may be NULL */
	uint32_t scanout_mask;	 /* bit n: shown on scanout n */
	bool is_blob;		 /* created by RESOURCE_CREATE_BLOB */
	uint32_t blob_mem, blob_flags;
	uint64_t blob_size;
	bool mapped; /* shown in the host-visible window */
	uint64_t map_offset, map_size;
	bool has_uuid;
	uint8_t uuid[16];
	struct resource *hnext; /* table chain */
};

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

#endif
