/* SPDX-License-Identifier: MIT */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

void
options_usage(FILE *f)
{
	fprintf(f,
		"Usage: kohlrabi [OPTION]...\n"
		"A virtio-gpu device as a vhost-user backend (vhost-user-gpu).\n"
		"Start it, then point a VMM at its socket, e.g. QEMU:\n"
		"  -chardev socket,id=gpu,path=PATH -device vhost-user-gpu-pci,chardev=gpu\n"
		"  -object memory-backend-memfd,id=mem,size=512M,share=on\n"
		"  -machine q35,memory-backend=mem\n"
		"\n"
		"Connection:\n"
		"  -s, --socket-path=PATH    listen on the Unix socket PATH\n"
		"  -f, --fd=N                use the inherited socket N (connected or listening)\n"
		"      --reconnect           after the frontend disconnects, wait for the next\n"
		"                            one (default: exit 0)\n"
		"  -c, --print-capabilities  print the vhost-user capabilities as JSON and exit\n"
		"\n"
		"Device:\n"
		"      --backend=NAME        renderer: 2d, virgl (alias 3d) or gfxstream;\n"
		"                            default 2d.  Names not built in are refused.\n"
		"  -v, --virgl               same as --backend=virgl\n"
		"  -r, --render-node=PATH    DRM render node for GPU backends (2d needs none)\n"
		"      --gpu=KEY=VAL,...     crosvm-style device options: backend=2d|virgl|3d|\n"
		"                            gfxstream, width=N, height=N, displays=N (1..16),\n"
		"                            edid=true|false, max-hostmem=SIZE\n"
		"      --max-hostmem=SIZE    host memory for guest resources (default 256M;\n"
		"                            suffixes K, M, G)\n"
		"      --max-resources=N     live resources at once (default %u)\n"
		"      --max-contexts=N      live 3D contexts at once (default %u)\n"
		"      --hostmem-window=SIZE host-visible shared memory region that blobs are\n"
		"                            mapped into (RESOURCE_MAP_BLOB; default 256M, 0: "
		"none)\n"
		"      --shmem-protocol-bit=N  vhost-user protocol-feature bit of SHMEM (the\n"
		"                            MAP/UNMAP backend messages): 20 (QEMU's series,\n"
		"                            default), 21 (rust-vmm), 22 (crosvm); off: never\n"
		"      --gfxstream-lib=PATH  the gfxstream renderer library (default: search\n"
		"                            libgfxstream_backend.so.0, then .so)\n"
		"      --gfxstream-flags=N   stream_renderer flags (default 0xe8: Vulkan,\n"
		"                            surfaceless, external + system blobs: memory the\n"
		"                            frontend can map)\n"
		"      --refresh-rate=HZ     display updates sent to the frontend per second\n"
		"                            (default 60; 0: after every batch of commands).\n"
		"                            Flushes never wait for the display either way.\n"
		"\n"
		"Other:\n"
		"      --log-level=LEVEL     error, warn (default), info or debug\n"
		"  -h, --help                this text\n"
		"  -V, --version             print the version\n"
		"\n"
		"The display follows the frontend's configuration (QEMU's xres/yres); --gpu\n"
		"width/height give the mode before the frontend is asked.  Exit status: 0 when\n"
		"the frontend disconnected or on SIGINT/SIGTERM, 1 on errors, 2 on bad usage.\n",
		KR_DEFAULT_MAX_RESOURCES, KR_DEFAULT_MAX_CONTEXTS);
}

int
options_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	errno = 0;
	if (!*s || *s == '-')
		return -EINVAL;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		mul = 1ull << 10;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1ull << 20;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1ull << 30;
		end++;
		break;
	default: break;
	}
	if (*end == 'i' || *end == 'B') /* accept 256MiB, 256MB */
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end || v == 0 || __builtin_mul_overflow((uint64_t)v, mul, out))
		return -EINVAL;
	return 0;
}

static int
parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (!*s || *s == '-')
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int
parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "on") || !strcmp(s, "yes"))
		*out = true;
	else if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "off") || !strcmp(s, "no"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int
check_backend(const char *name)
{
	static const char *const known[] = {"2d", "virgl", "3d", "gfxstream"};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (!strcmp(name, known[i]))
			return 0;
	}
	fprintf(stderr, "kohlrabi: unknown backend '%s' (expected 2d, virgl, 3d or gfxstream)\n",
		name);
	return -EINVAL;
}

int
options_parse_gpu(struct options *o, const char *spec)
{
	char *copy = strdup(spec), *save = NULL;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *val = strchr(kv, '=');
		if (!val) {
			fprintf(stderr, "kohlrabi: --gpu: '%s' is not KEY=VALUE\n", kv);
			ret = -EINVAL;
			break;
		}
		*val++ = 0;
		if (!strcmp(kv, "backend")) {
			ret = check_backend(val);
			if (ret == 0)
				o->backend = spec + (val - copy); /* points into argv */
		} else if (!strcmp(kv, "width")) {
			ret = parse_u32(val, 1, 16384, &o->width);
		} else if (!strcmp(kv, "height")) {
			ret = parse_u32(val, 1, 16384, &o->height);
		} else if (!strcmp(kv, "displays")) {
			ret = parse_u32(val, 1, KR_MAX_SCANOUTS, &o->num_scanouts);
		} else if (!strcmp(kv, "edid")) {
			ret = parse_bool(val, &o->edid);
		} else if (!strcmp(kv, "max-hostmem")) {
			ret = options_parse_size(val, &o->max_hostmem);
		} else {
			fprintf(stderr,
				"kohlrabi: --gpu: unknown key '%s' (expected backend, width, "
				"height, "
				"displays, edid, max-hostmem)\n",
				kv);
			ret = -EINVAL;
			break;
		}
		if (ret < 0) {
			fprintf(stderr, "kohlrabi: --gpu: bad value '%s' for %s\n", val, kv);
			break;
		}
	}
	free(copy);
	return ret;
}

int
options_parse(struct options *o, int argc, char **argv)
{
	enum {
		OPT_BACKEND = 256,
		OPT_MAX_HOSTMEM,
		OPT_MAX_RESOURCES,
		OPT_LOG_LEVEL,
		OPT_GPU,
		OPT_RECONNECT,
		OPT_REFRESH,
		OPT_MAX_CONTEXTS,
		OPT_WINDOW,
		OPT_SHMEM_BIT,
		OPT_GFXSTREAM_LIB,
		OPT_GFXSTREAM_FLAGS
	};
	static const struct option longopts[] = {
		{"socket-path", required_argument, NULL, 's'},
		{"fd", required_argument, NULL, 'f'},
		{"print-capabilities", no_argument, NULL, 'c'},
		{"render-node", required_argument, NULL, 'r'},
		{"virgl", no_argument, NULL, 'v'},
		{"backend", required_argument, NULL, OPT_BACKEND},
		{"max-hostmem", required_argument, NULL, OPT_MAX_HOSTMEM},
		{"max-resources", required_argument, NULL, OPT_MAX_RESOURCES},
		{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
		{"gpu", required_argument, NULL, OPT_GPU},
		{"reconnect", no_argument, NULL, OPT_RECONNECT},
		{"refresh-rate", required_argument, NULL, OPT_REFRESH},
		{"max-contexts", required_argument, NULL, OPT_MAX_CONTEXTS},
		{"hostmem-window", required_argument, NULL, OPT_WINDOW},
		{"shmem-protocol-bit", required_argument, NULL, OPT_SHMEM_BIT},
		{"gfxstream-lib", required_argument, NULL, OPT_GFXSTREAM_LIB},
		{"gfxstream-flags", required_argument, NULL, OPT_GFXSTREAM_FLAGS},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	static const char *const levels[] = {"error", "warn", "info", "debug"};
	uint32_t fd;
	int c;

	*o = (struct options){.fd = -1,
			      .backend = "2d",
			      .max_hostmem = KR_DEFAULT_MAX_HOSTMEM,
			      .max_resources = KR_DEFAULT_MAX_RESOURCES,
			      .log_level = KR_LOG_WARN,
			      .width = 1280,
			      .height = 800,
			      .num_scanouts = 1,
			      .edid = true,
			      .refresh_hz = 60,
			      .hostmem_window = 256ull << 20,
			      .gfxstream_flags = 0xe8,
			      .shmem_bit = 20,
			      .max_contexts = KR_DEFAULT_MAX_CONTEXTS};
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:f:cr:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 's': o->socket_path = optarg; break;
		case 'f':
			if (parse_u32(optarg, 0, 65535, &fd) < 0) {
				fprintf(stderr, "kohlrabi: --fd wants a file descriptor number\n");
				return -EINVAL;
			}
			o->fd = (int)fd;
			break;
		case 'c': o->print_capabilities = true; break;
		case 'r': o->render_node = optarg; break;
		case 'v': o->backend = "virgl"; break;
		case OPT_BACKEND:
			if (check_backend(optarg) < 0)
				return -EINVAL;
			o->backend = optarg;
			break;
		case OPT_MAX_HOSTMEM:
			if (options_parse_size(optarg, &o->max_hostmem) < 0) {
				fprintf(stderr, "kohlrabi: --max-hostmem: bad size '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case OPT_MAX_RESOURCES:
			if (parse_u32(optarg, 1, UINT32_MAX, &o->max_resources) < 0) {
				fprintf(stderr, "kohlrabi: --max-resources: bad number '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_LOG_LEVEL: {
			size_t i;
			for (i = 0; i < 4 && strcmp(optarg, levels[i]); i++)
				;
			if (i == 4) {
				fprintf(stderr,
					"kohlrabi: --log-level: '%s' (expected error, warn, info, "
					"debug)\n",
					optarg);
				return -EINVAL;
			}
			o->log_level = (enum kr_log_level)i;
			break;
		}
		case OPT_GPU:
			if (options_parse_gpu(o, optarg) < 0)
				return -EINVAL;
			break;
		case OPT_RECONNECT: o->reconnect = true; break;
		case OPT_REFRESH:
			if (parse_u32(optarg, 0, 1000, &o->refresh_hz) < 0) {
				fprintf(stderr,
					"kohlrabi: --refresh-rate wants 0..1000 (Hz), got '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_MAX_CONTEXTS:
			if (parse_u32(optarg, 1, 1u << 20, &o->max_contexts) < 0) {
				fprintf(stderr,
					"kohlrabi: --max-contexts wants 1..1048576, got '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_WINDOW:
			if (options_parse_size(optarg, &o->hostmem_window) < 0 ||
			    o->hostmem_window % 4096 || o->hostmem_window > (1ull << 40)) {
				fprintf(stderr,
					"kohlrabi: --hostmem-window: '%s' is not a multiple of 4K "
					"up "
					"to 1T\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_SHMEM_BIT: {
			uint32_t bit;
			if (!strcmp(optarg, "off")) {
				o->shmem_bit = -1;
			} else if (parse_u32(optarg, 0, 63, &bit) == 0 && bit != 3 && bit != 5 &&
				   bit != 9 && bit != 13) {
				o->shmem_bit = (int)bit;
			} else {
				fprintf(stderr,
					"kohlrabi: --shmem-protocol-bit wants 0..63 (not a bit "
					"kohlrabi already uses: 3, 5, 9, 13) or off, got '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		}
		case OPT_GFXSTREAM_LIB: o->gfxstream_lib = optarg; break;
		case OPT_GFXSTREAM_FLAGS: {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 0);
			if (errno || end == optarg || *end || !v || v > UINT32_MAX) {
				fprintf(stderr,
					"kohlrabi: --gfxstream-flags wants a non-zero 32-bit "
					"number, "
					"got '%s'\n",
					optarg);
				return -EINVAL;
			}
			o->gfxstream_flags = (uint32_t)v;
			break;
		}
		case 'h': o->help = true; break;
		case 'V': o->version = true; break;
		case ':':
			fprintf(stderr, "kohlrabi: option '%s' needs a value\n", argv[optind - 1]);
			return -EINVAL;
		default:
			fprintf(stderr, "kohlrabi: unknown option '%s' (see --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kohlrabi: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -EINVAL;
	}
	if (o->help || o->version || o->print_capabilities)
		return 0;
	if (!o->socket_path == (o->fd < 0)) {
		fprintf(stderr, "kohlrabi: give exactly one of --socket-path and --fd\n");
		return -EINVAL;
	}
	return 0;
}
