/* SPDX-License-Identifier: MIT */
/*
 * Resources and their guest backing: the data the core shares with the
 * renderers (the one core header a backend includes; core/restab.h has
 * the table and the backing's lifecycle, for the core alone).
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

#endif
