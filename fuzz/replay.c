/* SPDX-License-Identifier: MIT */
/*
 * Replays saved inputs through a fuzz target without the fuzzer runtime:
 * `replay_<target> DIR|FILE...` runs LLVMFuzzerTestOneInput on every file
 * (directories are read one level deep, in name order).  A broken invariant
 * aborts; otherwise it prints how many inputs ran and exits 0, or 1 when it
 * found no input at all (a corpus that went missing is a failure).
 *
 * The inputs run inside the daemon's sandbox (src/cli/sandbox.h: the
 * gfxstream policy, the widest, as the targets reach every backend),
 * entered before the first input: what the library does for a hostile
 * input must stay within what the daemon is allowed.  The harness adds its
 * own in-process frontend's calls (REPLAY_HARNESS) and a scratch directory
 * under /tmp; KR_REPLAY_SANDBOX=off|log changes the mode.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/sandbox.h"
#include "fuzz.h"
#include "util/util.h"

/* What the harnesses call beyond the daemon's policy, because they do per
   input what the daemon does once before it enters the sandbox: the
   whole-daemon target runs daemon_setup (its timers, epoll, eventfds, the
   socket directory it makes, binds, listens on and removes) and the vhost
   target writes guest memory into its memfd; the replay itself lists the
   corpus directories it is given. */
static const char *const REPLAY_HARNESS[] = {
	"bind",	      "listen",	  "socketpair",	   "mkdir",   "rmdir",	  "fchmod",	    "chmod",
	"getdents64", "eventfd2", "epoll_create1", "geteuid", "pwrite64", "timerfd_create", NULL};

static int
enter_sandbox(int argc, char **argv)
{
	struct sandbox sb;
	struct logger log;
	const char *mode = getenv("KR_REPLAY_SANDBOX");
	struct sandbox_config sc = {.mode = SANDBOX_ON,
				    .backend = "gfxstream",
				    .scratch_dir = "/tmp",
				    .harness_syscalls = REPLAY_HARNESS};
	int ret;

	if (mode && sandbox_parse_mode(mode, &sc.mode) < 0) {
		fprintf(stderr, "replay: KR_REPLAY_SANDBOX wants on, off or log\n");
		return -EINVAL;
	}
	for (int i = 1; i < argc && i <= (int)ARRAY_SIZE(sc.read_paths); i++)
		sc.read_paths[i - 1] = argv[i];
	if (argc - 1 > (int)ARRAY_SIZE(sc.read_paths)) {
		fprintf(stderr, "replay: at most %zu paths inside the sandbox\n",
			ARRAY_SIZE(sc.read_paths));
		return -E2BIG;
	}
	logger_init(&log, KR_LOG_WARN, NULL, NULL);
	ret = sandbox_prepare(&sb, &sc, &log);
	return ret ?: sandbox_enter(&sb);
}

static int
run_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf = NULL;
	long len;
	int ret = -EIO;

	if (!fp) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (fseek(fp, 0, SEEK_END) < 0 || (len = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) < 0)
		goto out;
	buf = malloc(len ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, fp) != (size_t)len)
		goto out;
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	ret = 0;
out:
	if (ret < 0)
		fprintf(stderr, "replay: %s: cannot read\n", path);
	free(buf);
	fclose(fp);
	return ret;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file of dir; returns how many, or a negative errno. */
static int
run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;

	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));
			if (!nn) {
				ret = -ENOMEM;
				goto out;
			}
			names = nn;
		}
		size_t len = strlen(dir) + strlen(e->d_name) + 2;
		if (!(names[n] = malloc(len))) {
			ret = -ENOMEM;
			goto out;
		}
		snprintf(names[n++], len, "%s/%s", dir, e->d_name);
	}
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n && ret >= 0; i++) {
		int r = run_file(names[i]);
		ret = r < 0 ? r : ret + 1;
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return ret;
}

int
main(int argc, char **argv)
{
	int total = 0;

	if (enter_sandbox(argc, argv) < 0)
		return 1;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int r;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		r = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : (run_file(argv[i]) ?: 1);
		if (r < 0)
			return 1;
		total += r;
	}
	printf("replay: %d inputs, no invariant broken\n", total);
	return total > 0 ? 0 : 1;
}
