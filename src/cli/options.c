/* SPDX-License-Identifier: MIT */
#include "options.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "display/vnc.h"
#include "logsink.h"
#include "util/log.h"

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
		"      --backend=NAME        renderer: 2d, virgl (alias 3d), venus or\n"
		"                            gfxstream; default 2d.  venus is virgl with\n"
		"                            Vulkan (capset 4) required: virglrenderer 1.0+\n"
		"                            and its render server.  Names not built in are\n"
		"                            refused.\n"
		"  -v, --virgl               same as --backend=virgl\n"
		"  -r, --render-node=PATH    DRM render node for GPU backends (2d needs none)\n"
		"      --gpu=KEY=VAL,...     crosvm-style device options: backend=2d|virgl|3d|\n"
		"                            gfxstream, width=N, height=N, displays=N (1..16),\n"
		"                            edid=true|false, max-hostmem=SIZE\n"
		"      --max-hostmem=SIZE    host memory for guest resources (default 1G: 24\n"
		"                            buffers of the largest mode, 5120x2160; suffixes\n"
		"                            K, M, G)\n"
		"      --max-resources=N     live resources at once (default %u)\n"
		"      --max-contexts=N      live 3D contexts at once (default %u)\n"
		"      --hostmem-window=SIZE host-visible shared memory region that blobs are\n"
		"                            mapped into (RESOURCE_MAP_BLOB; default 256M, 0: "
		"none)\n"
		"      --shmem-protocol-bit=N  vhost-user protocol-feature bit of SHMEM (the\n"
		"                            MAP/UNMAP backend messages): 22 (QEMU 11.1 and\n"
		"                            crosvm, default), 20 (QEMU's earlier series),\n"
		"                            21 (rust-vmm); off: never\n"
		"      --gfxstream-lib=PATH  the gfxstream renderer library (default: search\n"
		"                            libgfxstream_backend.so.0, then .so)\n"
		"      --gfxstream-flags=N   stream_renderer flags (default 0xe8: Vulkan,\n"
		"                            surfaceless, external + system blobs: memory the\n"
		"                            frontend can map)\n"
		"      --vnc=[HOST:]PORT     kohlrabi's own console: a VNC server per scanout\n"
		"                            on PORT, PORT+1, ... (HOST default 127.0.0.1);\n"
		"                            --vnc=unix:PATH listens on PATH (PATH-N, ...)\n"
		"      --vnc-password-file=FILE  VNC authentication with FILE's first line\n"
		"      --input-socket=PATH   also serve a vhost-user-input device (keyboard and\n"
		"                            tablet) on PATH, fed by the VNC clients\n"
		"      --screenshot-dir=DIR  on SIGUSR1, write what each scanout shows to\n"
		"                            DIR/scanout-N-DATE-TIME.png (no frontend needed)\n"
		"      --refresh-rate=HZ     display updates sent to the frontend per second\n"
		"                            (default 60; 0: after every batch of commands).\n"
		"                            Flushes never wait for the display either way.\n"
		"\n"
		"Sandbox:\n"
		"      --sandbox=MODE        on (default), off or log.  on: once set up, the\n"
		"                            daemon keeps no capabilities, runs with\n"
		"                            no_new_privs, open files and tasks limited, reaches\n"
		"                            only its libraries, /dev/dri, --screenshot-dir and\n"
		"                            its sockets' directories (Landlock), and may make\n"
		"                            only its backend's syscalls (seccomp: others kill\n"
		"                            it).  log: the same, but a syscall outside the list\n"
		"                            fails with ENOSYS and is named on stderr (debugging)\n"
		"  -u, --user=USER[:GROUP]   run as USER once set up (needs root); started as\n"
		"                            root without it, kohlrabi switches to nobody\n"
		"      --shader-cache=DIR|off  where Mesa keeps compiled shaders (virgl,\n"
		"                            venus), the one place the sandbox lets it write\n"
		"                            (default: $MESA_SHADER_CACHE_DIR, else systemd's\n"
		"                            $CACHE_DIRECTORY, else /var/cache/kohlrabi/shaders\n"
		"                            when kohlrabi switches user, else\n"
		"                            ${XDG_CACHE_HOME:-~/.cache}/kohlrabi/shaders).\n"
		"                            off: every shader is compiled anew (heavy GL\n"
		"                            scenes about a third slower on llvmpipe)\n"
		"      --print-sandbox-policy=BACKEND  print the syscalls BACKEND's policy\n"
		"                            allows and exit\n"
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
	static const char *const known[] = {"2d", "virgl", "3d", "venus", "gfxstream"};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (!strcmp(name, known[i]))
			return known[i];
	}
	say("unknown backend '%.64s' (expected 2d, virgl, 3d, venus or gfxstream)", name);
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
			o->gpu.backend = b;
		} else if (!strcmp(kv, "width")) {
			ret = gpu_u32(kv, val, 1, MODE_MAX, &o->gpu.scanouts[0].width);
		} else if (!strcmp(kv, "height")) {
			ret = gpu_u32(kv, val, 1, MODE_MAX, &o->gpu.scanouts[0].height);
		} else if (!strcmp(kv, "displays")) {
			ret = gpu_u32(kv, val, 1, KR_MAX_SCANOUTS, &o->gpu.num_scanouts);
		} else if (!strcmp(kv, "edid")) {
			ret = parse_bool(val, &o->gpu.edid);
			if (ret < 0)
				say("--gpu: edid wants true or false, got '%.64s'", val);
		} else if (!strcmp(kv, "max-hostmem")) {
			ret = options_parse_size(val, &o->gpu.max_hostmem);
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

/* ---- the command line: one table entry and one setter per option ---- */

static int
set_socket_path(struct options *o, const char *arg)
{
	if (!*arg) {
		say("--socket-path wants a path, got ''");
		return -EINVAL;
	}
	o->socket_path = arg;
	return 0;
}

static int
set_fd(struct options *o, const char *arg)
{
	uint32_t fd;

	if (parse_u32(arg, 0, 65535, &fd) < 0) {
		say("--fd wants a file descriptor number");
		return -EINVAL;
	}
	o->fd = (int)fd;
	return 0;
}

static int
set_print_capabilities(struct options *o, const char *arg)
{
	(void)arg;
	o->print_capabilities = true;
	return 0;
}

static int
set_render_node(struct options *o, const char *arg)
{
	o->gpu.backends.virgl.render_node = arg;
	return 0;
}

static int
set_virgl(struct options *o, const char *arg)
{
	(void)arg;
	o->gpu.backend = "virgl";
	return 0;
}

static int
set_backend(struct options *o, const char *arg)
{
	o->gpu.backend = backend_name(arg);
	return o->gpu.backend ? 0 : -EINVAL;
}

static int
set_max_hostmem(struct options *o, const char *arg)
{
	if (options_parse_size(arg, &o->gpu.max_hostmem) == 0)
		return 0;
	say("--max-hostmem: bad size '%s'", arg);
	return -EINVAL;
}

static int
set_max_resources(struct options *o, const char *arg)
{
	if (parse_u32(arg, 1, UINT32_MAX, &o->gpu.max_resources) == 0)
		return 0;
	say("--max-resources: bad number '%s'", arg);
	return -EINVAL;
}

static int
set_log_level(struct options *o, const char *arg)
{
	for (int i = KR_LOG_ERROR; i <= KR_LOG_DEBUG; i++) {
		if (!strcmp(arg, log_level_name((enum kr_log_level)i))) {
			o->gpu.log_level = (enum kr_log_level)i;
			return 0;
		}
	}
	if (!strcmp(arg, "warning")) {
		o->gpu.log_level = KR_LOG_WARN;
		return 0;
	}
	say("--log-level: '%s' (expected error, warn, info, debug)", arg);
	return -EINVAL;
}

static int
set_log(struct options *o, const char *arg)
{
	if (logsink_parse(arg, &o->log_target) == 0)
		return 0;
	say("--log: '%.64s' (expected stderr, syslog or auto)", arg);
	return -EINVAL;
}

static int
set_gpu(struct options *o, const char *arg)
{
	return options_parse_gpu(o, arg) < 0 ? -EINVAL : 0;
}

static int
set_reconnect(struct options *o, const char *arg)
{
	(void)arg;
	o->reconnect = true;
	return 0;
}

static int
set_refresh_rate(struct options *o, const char *arg)
{
	if (parse_u32(arg, 0, 1000, &o->refresh_hz) == 0)
		return 0;
	say("--refresh-rate wants 0..1000 (Hz), got '%s'", arg);
	return -EINVAL;
}

static int
set_max_contexts(struct options *o, const char *arg)
{
	if (parse_u32(arg, 1, 1u << 20, &o->gpu.max_contexts) == 0)
		return 0;
	say("--max-contexts wants 1..1048576, got '%s'", arg);
	return -EINVAL;
}

static int
set_hostmem_window(struct options *o, const char *arg)
{
	uint64_t *w = &o->gpu.hostmem_window;

	if (options_parse_size(arg, w) == 0 && *w % 4096 == 0 && *w <= (1ull << 40))
		return 0;
	say("--hostmem-window: '%s' is not a multiple of 4K up to 1T", arg);
	return -EINVAL;
}

static int
set_shmem_bit(struct options *o, const char *arg)
{
	uint32_t bit;

	if (!strcmp(arg, "off")) {
		o->shmem_bit = -1;
		return 0;
	}
	if (parse_u32(arg, 0, 63, &bit) == 0 && bit != 3 && bit != 5 && bit != 9 && bit != 13) {
		o->shmem_bit = (int)bit;
		return 0;
	}
	say("--shmem-protocol-bit wants 0..63 (not a bit kohlrabi already uses: 3, 5, 9, 13) "
	    "or off, got '%s'",
	    arg);
	return -EINVAL;
}

static int
set_gfxstream_lib(struct options *o, const char *arg)
{
	o->gpu.backends.gfxstream.lib = arg;
	return 0;
}

static int
set_gfxstream_flags(struct options *o, const char *arg)
{
	char *end;

	errno = 0;
	unsigned long v = strtoul(arg, &end, 0);
	if (errno || end == arg || *end || !v || v > UINT32_MAX) {
		say("--gfxstream-flags wants a non-zero 32-bit number, got '%s'", arg);
		return -EINVAL;
	}
	o->gpu.backends.gfxstream.flags = (uint32_t)v;
	return 0;
}

static int
set_screenshot_dir(struct options *o, const char *arg)
{
	if (!*arg || strlen(arg) > SCREENSHOT_DIR_MAX) {
		say("--screenshot-dir wants a directory of 1..%d bytes", SCREENSHOT_DIR_MAX);
		return -EINVAL;
	}
	o->screenshot_dir = arg;
	return 0;
}

static int
set_shader_cache(struct options *o, const char *arg)
{
	if (strcmp(arg, "off") && (arg[0] != '/' || strlen(arg) > SHADER_CACHE_MAX)) {
		say("--shader-cache wants off or an absolute directory of at most %d bytes, got "
		    "'%.64s'",
		    SHADER_CACHE_MAX, arg);
		return -EINVAL;
	}
	o->shader_cache = arg;
	return 0;
}

static int
set_vnc(struct options *o, const char *arg)
{
	char host[256];
	int port;

	if (vnc_parse_listen(arg, host, sizeof(host), &port) < 0) {
		say("--vnc wants [HOST:]PORT (PORT 1..65535; HOST 127.0.0.1 unless given) or "
		    "unix:PATH, got '%.64s'",
		    arg);
		return -EINVAL;
	}
	o->vnc = arg;
	return 0;
}

static int
set_input_socket(struct options *o, const char *arg)
{
	if (!*arg) {
		say("--input-socket wants a path, got ''");
		return -EINVAL;
	}
	o->input_socket = arg;
	return 0;
}

static int
set_vnc_password_file(struct options *o, const char *arg)
{
	o->vnc_password_file = arg;
	return 0;
}

static int
set_help(struct options *o, const char *arg)
{
	(void)arg;
	o->help = true;
	return 0;
}

static int
set_sandbox(struct options *o, const char *arg)
{
	if (sandbox_parse_mode(arg, &o->sandbox) < 0) {
		say("--sandbox wants on, off or log, not '%s'", arg);
		return -EINVAL;
	}
	return 0;
}

static int
set_user(struct options *o, const char *arg)
{
	if (!*arg || *arg == ':' || strlen(arg) > 200) {
		say("--user wants USER or USER:GROUP, not '%s'", arg);
		return -EINVAL;
	}
	o->user = arg;
	return 0;
}

static int
set_print_policy(struct options *o, const char *arg)
{
	o->print_policy = arg;
	return 0;
}

static int
set_version(struct options *o, const char *arg)
{
	(void)arg;
	o->version = true;
	return 0;
}

static const struct opt_def {
	const char *name;
	char short_name; /* 0: long only */
	bool has_arg;
	int (*set)(struct options *o, const char *arg); /* arg NULL without has_arg */
} opt_defs[] = {
	{"socket-path", 's', true, set_socket_path},
	{"fd", 'f', true, set_fd},
	{"print-capabilities", 'c', false, set_print_capabilities},
	{"render-node", 'r', true, set_render_node},
	{"virgl", 'v', false, set_virgl},
	{"backend", 0, true, set_backend},
	{"max-hostmem", 0, true, set_max_hostmem},
	{"max-resources", 0, true, set_max_resources},
	{"log-level", 0, true, set_log_level},
	{"log", 0, true, set_log},
	{"gpu", 0, true, set_gpu},
	{"reconnect", 0, false, set_reconnect},
	{"refresh-rate", 0, true, set_refresh_rate},
	{"max-contexts", 0, true, set_max_contexts},
	{"hostmem-window", 0, true, set_hostmem_window},
	{"shmem-protocol-bit", 0, true, set_shmem_bit},
	{"gfxstream-lib", 0, true, set_gfxstream_lib},
	{"gfxstream-flags", 0, true, set_gfxstream_flags},
	{"screenshot-dir", 0, true, set_screenshot_dir},
	{"vnc", 0, true, set_vnc},
	{"vnc-password-file", 0, true, set_vnc_password_file},
	{"input-socket", 0, true, set_input_socket},
	{"sandbox", 0, true, set_sandbox},
	{"user", 'u', true, set_user},
	{"shader-cache", 0, true, set_shader_cache},
	{"print-sandbox-policy", 0, true, set_print_policy},
	{"help", 'h', false, set_help},
	{"version", 'V', false, set_version},
};

#define N_OPTS (sizeof(opt_defs) / sizeof(opt_defs[0]))

/* getopt_long's tables from opt_defs: long options answer 256 + index. */
static void
getopt_tables(struct option *longopts, char *shortopts)
{
	char *s = shortopts;

	*s++ = ':';
	for (size_t i = 0; i < N_OPTS; i++) {
		longopts[i] = (struct option){opt_defs[i].name,
					      opt_defs[i].has_arg ? required_argument : no_argument,
					      NULL, 256 + (int)i};
		if (opt_defs[i].short_name) {
			*s++ = opt_defs[i].short_name;
			if (opt_defs[i].has_arg)
				*s++ = ':';
		}
	}
	*s = 0;
	longopts[N_OPTS] = (struct option){NULL, 0, NULL, 0};
}

/* The entry getopt_long's answer c stands for, or NULL. */
static const struct opt_def *
opt_of(int c)
{
	if (c >= 256 && (size_t)(c - 256) < N_OPTS)
		return &opt_defs[c - 256];
	for (size_t i = 0; i < N_OPTS; i++) {
		if (opt_defs[i].short_name && opt_defs[i].short_name == c)
			return &opt_defs[i];
	}
	return NULL;
}

/* The defaults: the library's, then the daemon's own. */
static void
options_defaults(struct options *o)
{
	*o = (struct options){.fd = -1, .refresh_hz = 60, .shmem_bit = 22};
	kr_gpu_config_init(&o->gpu);
	o->gpu.hostmem_window = 256ull << 20;
	o->gpu.backends.gfxstream.flags = KR_GFXSTREAM_FLAGS_FD_BLOBS;
}

/* After the options: where the socket comes from. */
static int
options_socket(struct options *o)
{
	if (o->help || o->version || o->print_capabilities || o->print_policy)
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

int
options_parse(struct options *o, int argc, char **argv)
{
	struct option longopts[N_OPTS + 1];
	char shortopts[2 * N_OPTS + 2];
	int c;

	options_defaults(o);
	getopt_tables(longopts, shortopts);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct opt_def *d = opt_of(c);
		if (d) {
			if (d->set(o, d->has_arg ? optarg : NULL) < 0)
				return -EINVAL;
		} else if (c == ':') {
			say("option '%s' needs a value", argv[optind - 1]);
			return -EINVAL;
		} else if (c == '?' && optopt == '?') { /* -?, as QEMU's vhost-user daemons */
			o->help = true;
		} else {
			say("unknown option '%s' (see --help)", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		say("unexpected argument '%s' (see --help)", argv[optind]);
		return -EINVAL;
	}
	return options_socket(o);
}
