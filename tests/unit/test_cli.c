/* SPDX-License-Identifier: MIT */
/*
 * The daemon's command line and capabilities (src/cli): "render-node" is
 * advertised only where a render node exists, and --gpu keys parse in any
 * order into options that own nothing of argv.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/daemon.h"
#include "cli/options.h"

/* What daemon_print_capabilities prints for dir. */
static char *
capabilities(const char *dir)
{
	static char buf[512];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	assert_non_null(f);
	daemon_print_capabilities(f, dir);
	fclose(f);
	return buf;
}

static void
touch(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_CREAT | O_RDWR, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static void
test_render_node_only_where_one_exists(void **state)
{
	char dir[] = "/tmp/kr-dri-XXXXXX";

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_null(strstr(capabilities("/nonexistent/dri"), "render-node"));
	assert_null(strstr(capabilities(dir), "render-node"));
	touch(dir, "card0"); /* a primary node is not a render node */
	assert_null(strstr(capabilities(dir), "render-node"));
	touch(dir, "renderD128");
	char *caps = capabilities(dir);
	assert_non_null(strstr(caps, "\"render-node\""));
	assert_non_null(strstr(caps, "\"type\": \"gpu\""));
	char path[256];
	snprintf(path, sizeof(path), "%s/renderD128", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/card0", dir);
	unlink(path);
	rmdir(dir);
}

static int
parse(struct options *o, const char *gpu)
{
	char a0[] = "kohlrabi", a1[] = "-s", a2[] = "/tmp/x.sock", a3[] = "--gpu";
	char *spec = strdup(gpu);
	char *argv[] = {a0, a1, a2, a3, spec, NULL};

	assert_non_null(spec);
	int ret = options_parse(o, 5, argv);
	/* Nothing of the options may point into the argument once it is gone. */
	memset(spec, 'x', strlen(spec));
	free(spec);
	return ret;
}

static void
test_gpu_backend_any_position(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(parse(&o, "backend=gfxstream,width=640"), 0);
	assert_string_equal(o.gpu.backend, "gfxstream");
	assert_int_equal(o.gpu.scanouts[0].width, 640);
	assert_int_equal(parse(&o, "width=640,backend=3d,height=480"), 0);
	assert_string_equal(o.gpu.backend, "3d");
	assert_int_equal(o.gpu.scanouts[0].height, 480);
	assert_int_equal(parse(&o, "edid=false,backend=2d"), 0);
	assert_string_equal(o.gpu.backend, "2d");
	assert_false(o.gpu.edid);
	assert_int_equal(parse(&o, "width=16385"), -EINVAL);
	assert_int_equal(parse(&o, "backend=2d,displays=17"), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_node_only_where_one_exists),
		cmocka_unit_test(test_gpu_backend_any_position),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
