/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the split-virtqueue walker (src/vhost/vring.c).
 *
 * Guest memory is three separately allocated regions (A and B adjacent in
 * guest physical addresses, a hole, then C), so that any access past a
 * region is caught.  The input picks the ring size (a power of two as
 * SET_VRING_NUM allows), the ring addresses (aligned or not, inside, across
 * or outside the regions), the negotiated INDIRECT_DESC and EVENT_IDX, and
 * fills the memory: descriptor chains, indirect tables, avail indices and
 * heads of any value.  Then it alternates pops (each request's buffers are
 * read and written in full) with guest writes into the rings.  Invariants:
 * a popped request has head < num, at most VRING_MAX_IOV buffers, readable
 * ones first, each inside one region; a broken ring stays broken.
 */
#include <errno.h>
#include <stdbool.h>

#include "fuzz.h"
#include "vhost/vring.h"

#define REGION	  0x4000ull
#define N_REGIONS 3
#define MAX_STEPS 32

static const uint64_t gpas[N_REGIONS] = {0x0, REGION, 0x100000};
static const uint64_t uaddrs[N_REGIONS] = {0x7f0000000000ull, 0x7f0000800000ull, 0x7f0001000000ull};
static uint8_t *g_host[N_REGIONS]; /* the fuzzer process's guest memory */
static struct vring_req g_req;	   /* large: not on the stack */

static bool
inside_region(const struct iovec *v)
{
	const uint8_t *p = v->iov_base;

	for (unsigned i = 0; i < N_REGIONS; i++)
		if (p >= g_host[i] && v->iov_len <= REGION && p + v->iov_len <= g_host[i] + REGION)
			return true;
	return false;
}

/* A ring address: the start of a region plus a small offset (aligned or
   not), near an edge, or anything. */
static uint64_t
fz_ua(struct fz *f)
{
	uint8_t sel = fz_u8(f);
	unsigned r = sel % N_REGIONS;

	if (sel < 200)
		return uaddrs[r] + (fz_u8(f) & 0x7f) * 16u + (sel & 0x80 ? fz_u8(f) % 16 : 0);
	if (sel < 240)
		return uaddrs[r] + REGION - fz_u8(f) * 2u;
	return fz_val64(f);
}

/* Overwrite a few bytes of guest memory (the driver at work). */
static void
guest_write(struct fz *f)
{
	unsigned r = fz_u8(f) % N_REGIONS;
	uint32_t off = fz_u16(f) % REGION;
	uint32_t len = fz_u8(f) % 32;

	for (uint32_t i = 0; i < len && off + i < REGION; i++)
		g_host[r][off + i] = fz_u8(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = {data, size}, *f = &in;
	struct vu_mem mem = {.n = N_REGIONS};
	struct vring vr;

	for (unsigned i = 0; i < N_REGIONS; i++) {
		if (!g_host[i]) {
			g_host[i] = malloc(REGION);
			FZ_CHECK(g_host[i]);
		}
		mem.r[i] = (struct vu_mregion){
			.gpa = gpas[i], .size = REGION, .uaddr = uaddrs[i], .host = g_host[i]};
	}
	vring_init(&vr);
	vr.num = 1u << (fz_u8(f) % 16); /* 1 .. VRING_MAX_NUM */
	vr.desc_ua = fz_ua(f);
	vr.avail_ua = fz_ua(f);
	vr.used_ua = fz_ua(f);
	uint8_t feat = fz_u8(f);
	vr.indirect = feat & 1;
	vr.event_idx = feat & 2;
	/* The memory, from the input (zeros when it runs out). */
	for (unsigned i = 0; i < N_REGIONS; i++) {
		size_t take = f->n < REGION ? f->n / (N_REGIONS - i) : REGION;
		memset(g_host[i], 0, REGION);
		memcpy(g_host[i], f->p, take);
		f->p += take;
		f->n -= take;
	}
	/* Interleaved with the memory bytes, steps come from the tail: reread the
	   input from the start for them. */
	in = (struct fz){data, size};
	f->p += size / 2;
	f->n -= size / 2;

	if (vring_map(&vr, &mem) < 0) {
		FZ_CHECK(!vr.desc && !vr.avail && !vr.used);
		return 0;
	}
	bool was_broken = false;
	for (unsigned step = 0; step < MAX_STEPS; step++) {
		int r = vring_pop(&vr, &mem, &g_req);

		FZ_CHECK(r == 1 || r == 0 || r == -EIO);
		FZ_CHECK(!was_broken || r == -EIO);
		if (r == 1) {
			FZ_CHECK(g_req.head < vr.num);
			FZ_CHECK(g_req.n_in + g_req.n_out <= VRING_MAX_IOV);
			uint32_t written = 0;
			for (size_t i = 0; i < g_req.n_in + g_req.n_out; i++) {
				struct iovec *v = &g_req.iov[i];
				FZ_CHECK(v->iov_len > 0 && inside_region(v));
				if (i < g_req.n_in) {
					volatile const uint8_t *p = v->iov_base;
					(void)p[0];
					(void)p[v->iov_len - 1];
				} else {
					memset(v->iov_base, 0x5a, v->iov_len);
					written += (uint32_t)v->iov_len;
				}
			}
			vring_push(&vr, g_req.head, written);
		} else if (r == -EIO) {
			FZ_CHECK(vr.broken);
			was_broken = true;
		}
		if (fz_u8(f) & 1)
			vring_flush(&vr);
		vring_set_avail_event(&vr);
		if (fz_u8(f) < 96)
			guest_write(f);
		if (!f->n && r != 1)
			break;
	}
	vring_flush(&vr);
	vring_reset(&vr);
	return 0;
}
