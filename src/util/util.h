/* SPDX-License-Identifier: MIT */
/* Small helpers shared by every module: container_of, array sizes, min/max. */
#ifndef KR_UTIL_H
#define KR_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a)			(sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define MIN(a, b)			((a) < (b) ? (a) : (b))
#define MAX(a, b)			((a) > (b) ? (a) : (b))

#if defined(__GNUC__)
#define KR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define KR_PRINTF(f, a)
#endif

#endif
