/* SPDX-License-Identifier: MIT */
/* The registry of built-in backends. */
#include "renderer.h"

#include <string.h>

#include "util/util.h"

static const struct {
	const char *name;
	const struct renderer_ops *ops;
} registry[] = {
	{"2d", &r2d_ops},
#if KR_HAVE_VIRGL
	{"virgl", &virgl_ops},
	{"3d", &virgl_ops},
#endif
	{"gfxstream", &gfxstream_ops},
};

static const char *const names[] = {
	"2d",
#if KR_HAVE_VIRGL
	"virgl",     "3d",
#endif
	"gfxstream", NULL,
};

const struct renderer_ops *
renderer_lookup(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(registry); i++) {
		if (strcmp(registry[i].name, name) == 0)
			return registry[i].ops;
	}
	return NULL;
}

const char *const *
renderer_names(void)
{
	return names;
}
