/* SPDX-License-Identifier: MIT */
/*
 * Shared by the fuzz targets: reading structured values out of the fuzzer's
 * bytes.  Running out of input yields zeros, so every input is a valid
 * program.  Values are biased toward the edges a hostile guest tries.
 */
#ifndef KR_FUZZ_H
#define KR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fz {
	const uint8_t *p; /* borrowed: the fuzzer's input */
	size_t n;	  /* bytes left */
};

static inline uint8_t
fz_u8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

static inline uint16_t
fz_u16(struct fz *f)
{
	return (uint16_t)(fz_u8(f) | fz_u8(f) << 8);
}

static inline uint32_t
fz_u32(struct fz *f)
{
	return (uint32_t)fz_u16(f) | (uint32_t)fz_u16(f) << 16;
}

static inline uint64_t
fz_u64(struct fz *f)
{
	return (uint64_t)fz_u32(f) | (uint64_t)fz_u32(f) << 32;
}

/* 0 .. n-1 (n > 0). */
static inline uint32_t
fz_below(struct fz *f, uint32_t n)
{
	return n <= 256 ? fz_u8(f) % n : fz_u32(f) % n;
}

/* A 32-bit value: mostly the edges (0, 15, 16, 63, 64, 16384, 16385, 2^31,
   2^32-1, one below or above them), sometimes small, sometimes anything. */
static inline uint32_t
fz_val32(struct fz *f)
{
	static const uint32_t edges[] = {0,	     1,		  15,	       16,	   63,
					 64,	     4096,	  16383,       16384,	   16385,
					 0x7fffffff, 0x80000000u, 0xffffffffu, 0xfffffffeu};
	uint8_t sel = fz_u8(f);

	if (sel < 128)
		return edges[sel % (sizeof(edges) / sizeof(edges[0]))];
	if (sel < 192)
		return fz_u8(f);
	if (sel < 224)
		return fz_u16(f);
	return fz_u32(f);
}

/* A 64-bit value: the 32-bit edges, 2^32, 2^63, 2^64-1, or anything. */
static inline uint64_t
fz_val64(struct fz *f)
{
	static const uint64_t edges[] = {1ull << 32, (1ull << 32) - 1, 1ull << 63, ~0ull,
					 ~0ull - 4095};
	uint8_t sel = fz_u8(f);

	if (sel < 192)
		return fz_val32(f);
	if (sel < 240)
		return edges[sel % (sizeof(edges) / sizeof(edges[0]))];
	return fz_u64(f);
}

/* Stop the run with a message: the fuzzer (or the corpus replay) reports it
   as a crash, with the input that caused it. */
#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
