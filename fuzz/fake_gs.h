/* SPDX-License-Identifier: MIT */
/*
 * The fake gfxstream library of the tests (tests/fake-gfxstream), as the fuzz
 * targets drive it: FAKE_GS_PATH names it, fake_load() opens it once per
 * process and finds its controls (false when it is not there).
 */
#ifndef KR_FUZZ_FAKE_GS_H
#define KR_FUZZ_FAKE_GS_H

#include <dlfcn.h>
#include <stdbool.h>

/* The fake gfxstream library's controls (it stays loaded for the process). */
static struct {
	void (*set_fence_mode)(int mode); /* 1: fences fire in create_fence, 2: on fire */
	unsigned (*fire)(bool reverse);
	void (*clear_log)(void);
} g_fake;

static inline bool
fake_load(void)
{
#ifdef FAKE_GS_PATH
	static void *h;

	if (!h && (h = dlopen(FAKE_GS_PATH, RTLD_NOW | RTLD_LOCAL))) {
		*(void **)&g_fake.set_fence_mode = dlsym(h, "fake_gs_set_fence_mode");
		*(void **)&g_fake.fire = dlsym(h, "fake_gs_fire");
		*(void **)&g_fake.clear_log = dlsym(h, "fake_gs_clear_log");
	}
#endif
	return g_fake.set_fence_mode && g_fake.fire && g_fake.clear_log;
}

#endif
