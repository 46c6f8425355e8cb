/* SPDX-License-Identifier: MIT */
/* Command-line options of the kohlrabi daemon. */
#ifndef KR_CLI_OPTIONS_H
#define KR_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kohlrabi/kohlrabi.h"
#include "logsink.h"

struct options {
	const char *socket_path; /* may be NULL */
	int fd;			 /* -1 unless --fd or socket activation */
	bool socket_activated;	 /* fd came from systemd (LISTEN_FDS) */
	bool print_capabilities;
	const char *render_node; /* may be NULL */
	const char *backend;
	uint64_t max_hostmem;
	uint32_t max_resources;
	enum kr_log_level log_level;
	enum log_target log_target; /* --log */
	uint32_t width, height;	    /* preferred mode until the frontend says otherwise */
	uint32_t num_scanouts;
	bool edid;
	bool reconnect;
	uint32_t refresh_hz;	   /* display updates per second; 0: after every batch */
	uint64_t hostmem_window;   /* bytes of the host-visible region (MAP_BLOB) */
	int shmem_bit;		   /* vhost-user SHMEM protocol-feature bit, -1: off */
	const char *gfxstream_lib; /* may be NULL */
	uint32_t gfxstream_flags;  /* 0: the library default we pick */
	uint32_t max_contexts;
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
