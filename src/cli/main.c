/* SPDX-License-Identifier: MIT */
/*
 * kohlrabi: the vhost-user-gpu daemon.  Parses the options and runs the
 * event loop of daemon.c until a signal or the last frontend ends it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"

int
main(int argc, char **argv)
{
	struct daemon d;
#if KR_SANDBOX_TEST_TRIGGER
	/* Read at start, tried once the sandbox is on (tests/hostile/sandbox.py). */
	const char *trigger = getenv("KOHLRABI_SANDBOX_TEST");
#endif

	/* Started by virglrenderer as its render server: confine, then exec it. */
	if (getenv(SANDBOX_RENDER_SERVER_ENV))
		return sandbox_render_server(argv);
	daemon_init(&d);
	if (options_parse(&d.opt, argc, argv) < 0)
		return 2;
	if (d.opt.help) {
		options_usage(stdout);
		return 0;
	}
	if (d.opt.version) {
		printf("kohlrabi %s\n", KR_VERSION);
		return 0;
	}
	if (d.opt.print_capabilities) {
		daemon_print_capabilities(stdout, "/dev/dri");
		return 0;
	}
	if (d.opt.print_policy)
		return sandbox_print_policy(d.opt.print_policy) < 0 ? 2 : 0;
	/* Set up (the sandbox's first step inside), then the sandbox closes
	   before the first guest request. */
	if (daemon_setup(&d) < 0 || sandbox_enter(&d.sandbox) < 0) {
		d.exit_code = 1;
		goto out;
	}
#if KR_SANDBOX_TEST_TRIGGER
	if (trigger)
		sandbox_test_trigger(&d.log, trigger);
#endif
	while (!d.quit) {
		int n = daemon_step(&d, -1);
		if (n < 0) {
			log_msg(&d.log, KR_LOG_ERROR, "epoll: %s", strerror(-n));
			d.exit_code = 1;
			break;
		}
	}
out:
	daemon_teardown(&d);
	return d.exit_code;
}
