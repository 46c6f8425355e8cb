/* SPDX-License-Identifier: MIT */
/* Command-line options of the kohlrabi daemon. */
#ifndef KR_CLI_OPTIONS_H
#define KR_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kohlrabi/kohlrabi.h"
#include "logsink.h"
#include "sandbox.h"

/* Longest --shader-cache (Mesa adds its own subdirectories and file names). */
#define SHADER_CACHE_MAX 3072
/* Longest --screenshot-dir: its file names (scanout-N-DATE-TIME.png) must fit
   the daemon's 4000-byte path. */
#define SCREENSHOT_DIR_MAX 3900

struct options {
	/* The device: kr_gpu_config_init()'s defaults, then the daemon's own
	   (a 256M host-visible window; gfxstream blobs as fds the frontend can
	   map), then the command line.  String fields borrow argv. */
	struct kr_gpu_config gpu;
	const char *socket_path; /* may be NULL */
	int fd;			 /* -1 unless --fd or socket activation */
	bool socket_activated;	 /* fd came from systemd (LISTEN_FDS) */
	bool print_capabilities;
	enum log_target log_target; /* --log */
	bool reconnect;
	uint32_t refresh_hz;	       /* display updates per second; 0: after every batch */
	int shmem_bit;		       /* vhost-user SHMEM protocol-feature bit, -1: off */
	const char *screenshot_dir;    /* SIGUSR1 writes each scanout there; may be NULL */
	const char *vnc;	       /* --vnc=[HOST:]PORT; may be NULL */
	const char *vnc_password_file; /* may be NULL */
	const char *input_socket;      /* --input-socket: a vhost-user-input device; may be NULL */
	enum sandbox_mode sandbox;     /* --sandbox (default on) */
	const char *user;	       /* --user USER[:GROUP]; may be NULL */
	const char *shader_cache;      /* --shader-cache: DIR or "off"; NULL: the default */
	const char *print_policy;      /* --print-sandbox-policy=BACKEND; may be NULL */
	bool help, version;
};

/* Parse argv.  Returns 0, or -EINVAL after printing why to stderr. */
int options_parse(struct options *o, int argc, char **argv);
void options_usage(FILE *f);
/* Parse "key=value,key=value" of --gpu (crosvm style). */
int options_parse_gpu(struct options *o, const char *spec);
/* Parse sizes such as 256M, 1G, 4096. */
int options_parse_size(const char *s, uint64_t *out);

#endif
