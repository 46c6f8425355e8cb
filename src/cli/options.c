/* SPDX-License-Identifier: MIT */
#include "options.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logsink.h"

/* Largest --gpu width and height (the library's scanout limit). */
#define MODE_MAX 16384u

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
		"                            Without -s and -f, the socket a systemd socket\n"
		"                            unit passes (LISTEN_FDS) is used.\n"
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
		"      --log=WHERE           stderr, syslog or auto (default: syslog when\n"
		"                            stderr is closed or /dev/null, as under libvirt;\n"
		"                            else stderr, with time and pid on each line)\n"
		"  -h, -?, --help            this text\n"
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

/* The backend's canonical name (static storage), or NULL after saying why. */
static const char *
backend_name(const char *name)
{
	static const char *const known[] = {"2d", "virgl", "3d", "gfxstream"};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (!strcmp(name, known[i]))
			return known[i];
	}
	say("unknown backend '%.64s' (expected 2d, virgl, 3d or gfxstream)", name);
	return NULL;
}

/* One numeric --gpu key: the value, or a message that gives the range. */
static int
gpu_u32(const char *key, const char *val, uint32_t min, uint32_t max, uint32_t *out)
{
	if (parse_u32(val, min, max, out) == 0)
		return 0;
	say("--gpu: %s wants %u..%u, got '%.64s'", key, min, max, val);
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
			say("--gpu: '%s' is not KEY=VALUE", kv);
			ret = -EINVAL;
			break;
		}
		*val++ = 0;
		if (!strcmp(kv, "backend")) {
			const char *b = backend_name(val);
			if (!b) {
				ret = -EINVAL;
				break;
			}
			o->backend = b;
		} else if (!strcmp(kv, "width")) {
			ret = gpu_u32(kv, val, 1, MODE_MAX, &o->width);
		} else if (!strcmp(kv, "height")) {
			ret = gpu_u32(kv, val, 1, MODE_MAX, &o->height);
		} else if (!strcmp(kv, "displays")) {
			ret = gpu_u32(kv, val, 1, KR_MAX_SCANOUTS, &o->num_scanouts);
		} else if (!strcmp(kv, "edid")) {
			ret = parse_bool(val, &o->edid);
			if (ret < 0)
				say("--gpu: edid wants true or false, got '%.64s'", val);
		} else if (!strcmp(kv, "max-hostmem")) {
			ret = options_parse_size(val, &o->max_hostmem);
			if (ret < 0)
				say("--gpu: max-hostmem wants a size such as 256M, "
				    "got '%.64s'",
				    val);
		} else {
			say("--gpu: unknown key '%.64s' (expected backend, width, "
			    "height, displays, edid, max-hostmem)",
			    kv);
			ret = -EINVAL;
		}
		if (ret < 0)
			break;
	}
	free(copy);
	return ret;
}

/* systemd's socket activation: LISTEN_PID is ours and LISTEN_FDS names the
   sockets from fd 3 on.  0 with o->fd set, 1 when nothing was passed,
   -EINVAL after saying why.  The variables are unset so that no child
   takes them for its own. */
static int
socket_activation(struct options *o)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	uint32_t p, n;

	if (!pid || !fds || parse_u32(pid, 1, INT32_MAX, &p) < 0 || (pid_t)p != getpid())
		return 1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (parse_u32(fds, 0, 1024, &n) < 0 || n != 1) {
		say("systemd passed %s sockets; kohlrabi serves one (give the socket unit one "
		    "ListenStream=)",
		    fds);
		return -EINVAL;
	}
	if (fcntl(3, F_SETFD, FD_CLOEXEC) < 0) {
		say("the socket systemd passed (fd 3): %s", strerror(errno));
		return -EINVAL;
	}
	o->fd = 3; /* SD_LISTEN_FDS_START */
	o->socket_activated = true;
	return 0;
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
		OPT_GFXSTREAM_FLAGS,
		OPT_LOG
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
		{"log", required_argument, NULL, OPT_LOG},
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
		case 's':
			if (!*optarg) {
				say("--socket-path wants a path, got ''");
				return -EINVAL;
			}
			o->socket_path = optarg;
			break;
		case 'f':
			if (parse_u32(optarg, 0, 65535, &fd) < 0) {
				say("--fd wants a file descriptor number");
				return -EINVAL;
			}
			o->fd = (int)fd;
			break;
		case 'c': o->print_capabilities = true; break;
		case 'r': o->render_node = optarg; break;
		case 'v': o->backend = "virgl"; break;
		case OPT_BACKEND:
			o->backend = backend_name(optarg);
			if (!o->backend)
				return -EINVAL;
			break;
		case OPT_MAX_HOSTMEM:
			if (options_parse_size(optarg, &o->max_hostmem) < 0) {
				say("--max-hostmem: bad size '%s'", optarg);
				return -EINVAL;
			}
			break;
		case OPT_MAX_RESOURCES:
			if (parse_u32(optarg, 1, UINT32_MAX, &o->max_resources) < 0) {
				say("--max-resources: bad number '%s'", optarg);
				return -EINVAL;
			}
			break;
		case OPT_LOG_LEVEL: {
			size_t i;
			for (i = 0; i < 4 && strcmp(optarg, levels[i]); i++)
				;
			if (!strcmp(optarg, "warning"))
				i = KR_LOG_WARN;
			if (i == 4) {
				say("--log-level: '%s' (expected error, warn, info, "
				    "debug)",
				    optarg);
				return -EINVAL;
			}
			o->log_level = (enum kr_log_level)i;
			break;
		}
		case OPT_LOG:
			if (logsink_parse(optarg, &o->log_target) < 0) {
				say("--log: '%.64s' (expected stderr, syslog or auto)", optarg);
				return -EINVAL;
			}
			break;
		case OPT_GPU:
			if (options_parse_gpu(o, optarg) < 0)
				return -EINVAL;
			break;
		case OPT_RECONNECT: o->reconnect = true; break;
		case OPT_REFRESH:
			if (parse_u32(optarg, 0, 1000, &o->refresh_hz) < 0) {
				say("--refresh-rate wants 0..1000 (Hz), got '%s'", optarg);
				return -EINVAL;
			}
			break;
		case OPT_MAX_CONTEXTS:
			if (parse_u32(optarg, 1, 1u << 20, &o->max_contexts) < 0) {
				say("--max-contexts wants 1..1048576, got '%s'", optarg);
				return -EINVAL;
			}
			break;
		case OPT_WINDOW:
			if (options_parse_size(optarg, &o->hostmem_window) < 0 ||
			    o->hostmem_window % 4096 || o->hostmem_window > (1ull << 40)) {
				say("--hostmem-window: '%s' is not a multiple of 4K "
				    "up "
				    "to 1T",
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
				say("--shmem-protocol-bit wants 0..63 (not a bit "
				    "kohlrabi already uses: 3, 5, 9, 13) or off, got '%s'",
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
				say("--gfxstream-flags wants a non-zero 32-bit "
				    "number, "
				    "got '%s'",
				    optarg);
				return -EINVAL;
			}
			o->gfxstream_flags = (uint32_t)v;
			break;
		}
		case 'h': o->help = true; break;
		case 'V': o->version = true; break;
		case ':': say("option '%s' needs a value", argv[optind - 1]); return -EINVAL;
		case '?':
			if (optopt == '?') { /* -?, as QEMU's vhost-user daemons take it */
				o->help = true;
				break;
			}
			/* fall through */
		default: say("unknown option '%s' (see --help)", argv[optind - 1]); return -EINVAL;
		}
	}
	if (optind < argc) {
		say("unexpected argument '%s' (see --help)", argv[optind]);
		return -EINVAL;
	}
	if (o->help || o->version || o->print_capabilities)
		return 0;
	if (!o->socket_path && o->fd < 0) {
		int ret = socket_activation(o);
		if (ret <= 0)
			return ret;
	}
	if (!o->socket_path == (o->fd < 0)) {
		say("give exactly one of --socket-path and --fd (or start kohlrabi from a systemd "
		    "socket unit)");
		return -EINVAL;
	}
	return 0;
}
