/* SPDX-License-Identifier: MIT */
/*
 * The daemon's sandbox (--sandbox=on|off|log): what a compromised kohlrabi may
 * still do once it serves a guest.  Two steps around the device's setup:
 *
 *   sandbox_prepare  while the process has one thread, before the renderer
 *                    (and its threads, the render server) exists: resource
 *                    limits, no_new_privs, the capability bounding set
 *                    emptied, Landlock (filesystem and, with ABI 6, abstract
 *                    sockets and signals), and capabilities down to the two a
 *                    later user switch needs.  Every thread and process started
 *                    afterwards inherits all of it.
 *   sandbox_enter    after setup, before the first guest request: the switch
 *                    to the unprivileged user (all threads: glibc's setxid),
 *                    every capability gone, then the seccomp allow-list of the
 *                    backend (src/cli/seccomp/) on every thread (TSYNC).
 *
 * Calls outside the allow-list kill the process (SIGSYS); with
 * --sandbox=log they fail with ENOSYS instead and each is logged once,
 * naming the syscall (for deriving a policy, never for production).
 */
#ifndef KR_CLI_SANDBOX_H
#define KR_CLI_SANDBOX_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "util/log.h"

enum sandbox_mode { SANDBOX_ON, SANDBOX_OFF, SANDBOX_LOG };

/* What the sandbox must leave reachable.  Strings are borrowed, read only
   during sandbox_prepare, except sockets: until sandbox_enter. */
struct sandbox_config {
	enum sandbox_mode mode;
	const char *backend;	    /* "2d", "virgl", "3d", "venus", "gfxstream" */
	const char *user;	    /* --user USER[:GROUP]; NULL: none asked */
	const char *render_node;    /* may be NULL: /dev/dri is allowed anyway */
	const char *gfxstream_lib;  /* may be NULL */
	const char *screenshot_dir; /* may be NULL: written to */
	const char *shader_cache;   /* --shader-cache: a directory, "off", or NULL (default) */
	const char *read_paths[4];  /* read after this (--vnc-password-file; a replay's corpus) */
	/* A test harness in the same process (fuzz/replay.c): a directory it
	   makes and removes things in, and the syscalls it adds (NULL-ended);
	   both NULL for the daemon. */
	const char *scratch_dir;
	const char *const *harness_syscalls;
	const char *sockets[3];	      /* Unix socket paths (or NULL) removed at exit */
	unsigned vnc_port, vnc_ports; /* TCP ports the VNC console binds (0 ports: none) */
};

struct sandbox {
	enum sandbox_mode mode;
	const char *policy; /* static: the seccomp policy's name */
	struct logger *log; /* borrowed */
	bool switch_user;   /* sandbox_enter switches to uid/gid */
	uid_t uid;
	gid_t gid;
	int landlock_abi; /* 0: none (kernel without Landlock) */
	int remover_fd;	  /* owned until exit: its closing tells the socket remover */
	/* Borrowed (sandbox_config.sockets, the options: argv), read by
	   sandbox_enter. */
	const char *sockets[3];
	const char *const *harness; /* borrowed: sandbox_config.harness_syscalls */
	bool prepared;
	/* kohlrabi's own executable when the render server starts as it
	   (sandbox_render_server), else "". */
	char exe[PATH_MAX];
	/* Mesa's shader cache (MESA_SHADER_CACHE_DIR), writable beneath; "":
	   none (not a Mesa backend, or the cache is off). */
	char shader_dir[PATH_MAX];
};

/* Parse --sandbox's value: 0, or -EINVAL. */
int sandbox_parse_mode(const char *s, enum sandbox_mode *out);
/* The steps above; 0 or -errno (said through log).  With SANDBOX_OFF both do
   nothing.  sandbox_enter after a failed or skipped prepare does nothing. */
int sandbox_prepare(struct sandbox *s, const struct sandbox_config *cfg, struct logger *log);
int sandbox_enter(struct sandbox *s);
/* virglrenderer's render server (virgl, venus; virglrenderer 1.x) is a
   process of its own, started from the renderer's setup by fork and exec
   of RENDER_SERVER_EXEC_PATH.  sandbox_prepare points that at kohlrabi, with
   SANDBOX_RENDER_SERVER_ENV saying what to become; main() then calls this
   first: a Landlock layer letting it execute only the server, the user
   switch, the limits, the server's own seccomp list
   (seccomp/render_server.inc), then exec of the real server.  Returns only
   when that failed: the exit status. */
#define SANDBOX_RENDER_SERVER_ENV "KOHLRABI_RENDER_SERVER_JAIL"
int sandbox_render_server(char **argv);
/* Print the allow-list of backend and how many syscalls it allows
   (--print-sandbox-policy=BACKEND, or render-server).  0, or -EINVAL for an
   unknown one. */
int sandbox_print_policy(const char *backend);

#if KR_SANDBOX_TEST_TRIGGER
/* Test builds: try each comma-separated action (execve, open:PATH, socket
   (AF_INET), ptrace (of the parent), mount, fork) and log what happened;
   seccomp kills the process at the first it forbids. */
void sandbox_test_trigger(struct logger *log, const char *actions);
#endif

#endif
