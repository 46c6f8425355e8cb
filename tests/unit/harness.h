/* SPDX-License-Identifier: MIT */
/*
 * Test harness: a device over fake guest memory, helpers that build
 * requests the way a driver would, and callbacks that record what the
 * device reported.
 */
#ifndef KR_TEST_HARNESS_H
#define KR_TEST_HARNESS_H

#include <linux/virtio_gpu.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kohlrabi/kohlrabi.h"

/* Guest memory: two adjacent regions (a backing may span them), a hole,
   and a third region. */
#define H_GPA_A	 0x100000ull
#define H_SIZE_A (8ull << 20)
#define H_GPA_B	 (H_GPA_A + H_SIZE_A)
#define H_SIZE_B (8ull << 20)
#define H_GPA_C	 0x40000000ull
#define H_SIZE_C (1ull << 20)

#define H_MAX_EVENTS 64

struct h_update {
	uint32_t scanout_id;
	struct kr_rect rect;
	uint32_t format;
	uint32_t width, height;
	uint8_t *pixels; /* owned copy of the updated rectangle, tightly packed */
};

struct harness {
	struct kr_gpu *gpu;
	uint8_t *mem_a, *mem_b, *mem_c; /* owned */
	uint64_t next_gpa;		/* bump allocator in A then B */

	/* Recorded callbacks */
	unsigned n_set, n_disable;
	struct kr_scanout_info last_set;
	bool scanout_on[KR_MAX_SCANOUTS];
	unsigned n_updates;
	struct h_update updates[H_MAX_EVENTS];
	const uint8_t *update_src; /* the last update's info.pixels (borrowed, see Lifetimes) */
	uint32_t update_stride;
	unsigned n_cursor;
	struct kr_cursor_info last_cursor;
	uint8_t cursor_pixels[64 * 64 * 4];
	bool cursor_had_pixels;
	unsigned n_fences;
	uint64_t fences[H_MAX_EVENTS];
	unsigned n_done;
	uint64_t done_cookies[H_MAX_EVENTS];
	size_t done_len[H_MAX_EVENTS];
	unsigned n_config_changed;
	unsigned n_changing;
	uint32_t changing_scanout;
	struct kr_scanout_info held[KR_MAX_SCANOUTS]; /* what a deferring display holds */
	unsigned n_changing_stale; /* scanout_changing for other pixels than those held */
	uint8_t changing_row[16384 * 4];
	unsigned n_logs;
	char last_log[256];
	unsigned n_maps, n_unmaps;
	struct kr_blob_map last_map;
	uint8_t map_fd_bytes[16]; /* read through last_map.fd */
	int map_result;		  /* what map_blob answers */
	uint64_t last_unmap_offset, last_unmap_size;
};

/* cfg may be NULL for the defaults.  Fails the test on error. */
struct harness *h_new(const struct kr_gpu_config *cfg);
/* The same with kr_gpu_callbacks.flags = cb_flags (KR_GPU_CB_*). */
struct harness *h_new_flags(const struct kr_gpu_config *cfg, uint32_t cb_flags);
void h_free(struct harness *h);
/* Device callbacks that record into a harness (user = harness). */
extern const struct kr_gpu_callbacks h_callbacks;

void *h_host(struct harness *h, uint64_t gpa);
uint64_t h_alloc(struct harness *h, uint64_t size);

/* Send a request of len bytes; the response goes to resp (cap bytes).
   Returns the response type (0 if nothing was written). */
uint32_t h_send(struct harness *h, const void *req, size_t len, void *resp, size_t cap,
		size_t *resp_len);
/* Send and return only the response type. */
uint32_t h_cmd(struct harness *h, const void *req, size_t len);
/* The same request split into chunks of at most chunk bytes. */
uint32_t h_send_chunked(struct harness *h, const void *req, size_t len, size_t chunk, void *resp,
			size_t cap);

struct virtio_gpu_ctrl_hdr h_hdr(uint32_t type);
uint32_t h_create_2d(struct harness *h, uint32_t id, uint32_t format, uint32_t w, uint32_t hgt);
uint32_t h_unref(struct harness *h, uint32_t id);
/* Attach n entries (gpa, len pairs). */
uint32_t h_attach(struct harness *h, uint32_t id, const uint64_t *gpas, const uint32_t *lens,
		  uint32_t n);
/* Attach one contiguous backing and return its gpa (0 on failure). */
uint64_t h_attach_new(struct harness *h, uint32_t id, uint64_t size);
uint32_t h_detach(struct harness *h, uint32_t id);
uint32_t h_transfer(struct harness *h, uint32_t id, uint32_t x, uint32_t y, uint32_t w,
		    uint32_t hgt, uint64_t offset);
uint32_t h_set_scanout(struct harness *h, uint32_t scanout, uint32_t id, uint32_t x, uint32_t y,
		       uint32_t w, uint32_t hgt);
uint32_t h_flush(struct harness *h, uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t hgt);
void h_cursor(struct harness *h, uint32_t type, uint32_t scanout, uint32_t id, uint32_t x,
	      uint32_t y, uint32_t hot_x, uint32_t hot_y);

#endif
