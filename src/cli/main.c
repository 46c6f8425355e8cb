/* SPDX-License-Identifier: MIT */
/*
 * kohlrabi: the vhost-user-gpu daemon.  Parses the options and runs the
 * event loop of daemon.c until a signal or the last frontend ends it.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "daemon.h"

int
main(int argc, char **argv)
{
	struct daemon d;

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
	if (daemon_setup(&d) < 0) {
		d.exit_code = 1;
		goto out;
	}
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
