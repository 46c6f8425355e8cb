/* SPDX-License-Identifier: MIT */
/*
 * The daemon's sandbox (sandbox.h): rlimits, no_new_privs, capabilities
 * (libcap-ng), Landlock (raw syscalls: no packaged library), the user
 * switch, and a seccomp allow-list per backend (libseccomp) from
 * src/cli/seccomp/BACKEND.inc.
 */
#include "sandbox.h"

#include <cap-ng.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "kohlrabi/kohlrabi.h"
#include "util/util.h"

/* ---- the allow-lists ---- */

#define SYSCALL(name) #name,
static const char *const common_list[] = {
#include "seccomp/common.inc"
};
static const char *const list_2d[] = {
#include "seccomp/2d.inc"
	NULL};
static const char *const list_virgl[] = {
#include "seccomp/virgl.inc"
};
static const char *const list_gfxstream[] = {
#include "seccomp/gfxstream.inc"
};
#if KR_HAVE_VENUS
static const char *const list_render_server[] = {
#include "seccomp/render_server.inc"
};
#endif
#undef SYSCALL

/* What the sanitizer runtimes add: LeakSanitizer stops the world with a
   tracer task (clone without CLONE_THREAD, ptrace of our own threads) and
   reads /proc/self; their reports name their own prctl calls. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define KR_SANITIZER 1
#endif
#ifdef KR_SANITIZER
static const char *const sanitizer_list[] = {
	"open",	    "getdents",	  "ptrace",	  "wait4",     "waitid",    "getdents64",
	"readlink", "readlinkat", "prctl",	  "getrlimit", "setrlimit", "sched_getaffinity",
	"mincore",  "kill",	  "tgkill",	  "getppid",   "sysinfo",   "uname",
	"pipe2",    "dup2",	  "dup3",	  "statx",     "stat",	    "lstat",
	"pread64",  "getuid",	  "geteuid",	  "access",    "faccessat", "faccessat2",
	"exit",	    "munmap",	  "clock_getres",
};
#endif

struct policy {
	const char *name;
	const char *const *list; /* static */
	size_t n;
	bool exec_maps;	    /* mmap/mprotect with PROT_EXEC (a JIT) */
	bool render_server; /* virglrenderer's render server is its child */
	bool is_server;	    /* the render server's own list */
};

static bool
policy_of(const char *backend, struct policy *p)
{
	if (!backend || !strcmp(backend, "2d")) {
		*p = (struct policy){"2d", list_2d, ARRAY_SIZE(list_2d) - 1, false, false};
	} else if (!strcmp(backend, "virgl") || !strcmp(backend, "3d") ||
		   !strcmp(backend, "venus")) {
		*p = (struct policy){"virgl", list_virgl, ARRAY_SIZE(list_virgl), true,
				     KR_HAVE_VENUS};
#if KR_HAVE_VENUS
	} else if (!strcmp(backend, "render-server")) {
		*p = (struct policy){"render-server",
				     list_render_server,
				     ARRAY_SIZE(list_render_server),
				     true,
				     false,
				     true};
#endif
	} else if (!strcmp(backend, "gfxstream")) {
		*p = (struct policy){"gfxstream", list_gfxstream, ARRAY_SIZE(list_gfxstream), true,
				     false};
	} else {
		return false;
	}
	return true;
}

int
sandbox_parse_mode(const char *s, enum sandbox_mode *out)
{
	static const char *const names[] = {
		[SANDBOX_ON] = "on", [SANDBOX_OFF] = "off", [SANDBOX_LOG] = "log"};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcmp(s, names[i])) {
			*out = (enum sandbox_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- --sandbox=log: SIGSYS names the call, which then fails with ENOSYS ---- */

#define NR_MAX 512
/* The signal handler's view: names resolved before the filter exists (the
   handler may not allocate), and which were said already.  Process-wide by
   nature (one handler per process); written only before the filter loads. */
static char nr_names[NR_MAX][24];
static volatile sig_atomic_t nr_said[NR_MAX];

static void
on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	char line[160];
	int nr = si->si_syscall;
	const char *name = nr >= 0 && nr < NR_MAX && nr_names[nr][0] ? nr_names[nr] : "?";

	(void)sig;
	if (nr < 0 || nr >= NR_MAX || !nr_said[nr]) {
		if (nr >= 0 && nr < NR_MAX)
			nr_said[nr] = 1;
		int n = snprintf(line, sizeof(line),
				 "kohlrabi: sandbox: syscall %s (%d) is not allowed; it fails "
				 "with ENOSYS (--sandbox=log)\n",
				 name, nr);
		if (n > 0)
			(void)!write(STDERR_FILENO, line,
				     (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	}
#ifdef __x86_64__
	uc->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
#elif defined(__aarch64__)
	uc->uc_mcontext.regs[0] = (unsigned long long)-ENOSYS;
#else
#error "--sandbox=log: set the syscall's return register for this architecture"
#endif
}

static int
log_mode_setup(void)
{
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO | SA_NODEFER};
	sigset_t set;

	for (int nr = 0; nr < NR_MAX; nr++) {
		char *n = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		if (n)
			snprintf(nr_names[nr], sizeof(nr_names[nr]), "%s", n);
		free(n);
	}
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	return -pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* ---- seccomp ---- */

static int
allow(scmp_filter_ctx ctx, const char *name, struct logger *log)
{
	int nr = seccomp_syscall_resolve_name(name);
	int ret;

	if (nr == __NR_SCMP_ERROR) {
		log_msg(log, KR_LOG_DEBUG, "sandbox: no syscall %s on this architecture", name);
		return 0;
	}
	ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	if (ret == -EEXIST)
		ret = 0; /* listed twice (a backend's list repeats a common one) */
	if (ret < 0)
		log_msg(log, KR_LOG_ERROR, "sandbox: seccomp rule for %s: %s", name,
			strerror(-ret));
	return ret;
}

/* The rules that look at arguments. */
static int
argument_rules(scmp_filter_ctx ctx, const struct policy *p)
{
	int ret = 0;

	/* Limits of our own process only (pid 0). */
	ret = ret
		      ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
					  SCMP_A0(SCMP_CMP_EQ, 0));
	/* Unix sockets only (syslog's reconnect): no network. */
	ret = ret
		      ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
					  SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
#ifdef KR_SANITIZER
	/* Threads and LeakSanitizer's tracer (CLONE_VM without CLONE_THREAD);
	   never a fork. */
	ret = ret
		      ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
					  SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_VM, CLONE_VM));
#else
	/* Threads, never processes. */
	ret = ret
		      ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
					  SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	/* Signals to ourselves only (abort, raise). */
	ret = ret
		      ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
					  SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	/* Thread names; anonymous mappings' names (glibc's stacks). */
	ret = ret
		      ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
					  SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	ret = ret
		      ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
					  SCMP_A0(SCMP_CMP_EQ, PR_GET_NAME));
	ret = ret
		      ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
					  SCMP_A0(SCMP_CMP_EQ, 0x53564d41 /* PR_SET_VMA */));
#endif
	/* virglrenderer ends its render server (our child, in a Landlock domain
	   inside ours: nothing else of this user is reachable) with SIGKILL. */
	if (p->render_server)
		ret = ret
			      ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
						  SCMP_A1(SCMP_CMP_EQ, SIGKILL));
	/* clone3's flags are behind a pointer, out of a filter's reach: ENOSYS
	   makes glibc fall back to clone. */
	ret = ret ?: seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (p->exec_maps) {
		ret = ret ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 0);
		ret = ret ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 0);
	} else {
		/* No code is made after setup: W^X for good. */
		ret = ret
			      ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
						  SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
		ret = ret
			      ?: seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
						  SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	}
	return ret;
}

/* The filter of p, loaded on every thread. */
static int
seccomp_install(const struct policy *p, enum sandbox_mode mode, const char *const *harness,
		struct logger *log)
{
	scmp_filter_ctx ctx =
		seccomp_init(mode == SANDBOX_LOG ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS);
	int ret = 0;

	if (!ctx)
		return -ENOMEM;
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	for (size_t i = 0; ret == 0 && i < ARRAY_SIZE(common_list); i++)
		ret = allow(ctx, common_list[i], log);
	for (size_t i = 0; ret == 0 && i < p->n; i++)
		ret = allow(ctx, p->list[i], log);
#ifdef KR_SANITIZER
	for (size_t i = 0; ret == 0 && i < ARRAY_SIZE(sanitizer_list); i++)
		ret = allow(ctx, sanitizer_list[i], log);
#endif
	for (size_t i = 0; ret == 0 && harness && harness[i]; i++)
		ret = allow(ctx, harness[i], log);
	ret = ret ?: argument_rules(ctx, p);
	ret = ret ?: (mode == SANDBOX_LOG ? log_mode_setup() : 0);
	ret = ret ?: seccomp_load(ctx);
	if (ret > 0)
		ret = -EBUSY; /* TSYNC: that thread could not take the filter */
	seccomp_release(ctx);
	return ret;
}

/* The syscalls that have a rule (with arguments or not): a bit per number. */
static unsigned
count_allowed(const struct policy *p, uint8_t *seen)
{
	static const char *const daemon_args[] = {"socket", "clone",	"tgkill",   "prctl",
						  "mmap",   "mprotect", "prlimit64"};
	static const char *const kill_arg[] = {"kill"}; /* render_server: its end */
	static const char *const server_args[] = {"socket", "clone", "prctl", "kill", "prlimit64"};
	const char *const *lists[] = {common_list, p->list, daemon_args, kill_arg};
	size_t ns[] = {ARRAY_SIZE(common_list), p->n, ARRAY_SIZE(daemon_args),
		       p->render_server ? ARRAY_SIZE(kill_arg) : 0};
	if (p->is_server) { /* its own list and rules only */
		ns[0] = ns[3] = 0;
		lists[2] = server_args;
		ns[2] = ARRAY_SIZE(server_args);
	}
	unsigned n = 0;

	for (size_t l = 0; l < ARRAY_SIZE(lists); l++) {
		for (size_t i = 0; i < ns[l]; i++) {
			int nr = seccomp_syscall_resolve_name(lists[l][i]);
			if (nr >= 0 && nr < NR_MAX && !seen[nr]) {
				seen[nr] = 1;
				n++;
			}
		}
	}
	return n;
}

int
sandbox_print_policy(const char *backend)
{
	uint8_t seen[NR_MAX] = {0};
	struct policy p;

	if (!policy_of(backend, &p))
		return -EINVAL;
	unsigned n = count_allowed(&p, seen);
	if (p.is_server)
		printf("seccomp policy of virglrenderer's render server (render_server.inc): %u "
		       "syscalls allowed\n",
		       n);
	else
		printf("seccomp policy of backend %s (common.inc + %s.inc): %u syscalls allowed\n",
		       p.name, p.name, n);
	for (int nr = 0; nr < NR_MAX; nr++) {
		char *name =
			seen[nr] ? seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr) : NULL;
		if (name)
			printf("  %s\n", name);
		free(name);
	}
	if (p.is_server) {
		printf("with arguments checked: socket (AF_UNIX only), clone (no new namespaces), "
		       "prctl (PR_SET_NAME), kill (SIGKILL only), prlimit64 (own); clone3 fails "
		       "with "
		       "ENOSYS\n");
		return 0;
	}
	printf("with arguments checked: socket (AF_UNIX only), clone (CLONE_THREAD only), "
	       "tgkill (own pid), prlimit64 (own), prctl (PR_SET_NAME, PR_GET_NAME, "
	       "PR_SET_VMA)%s%s; "
	       "clone3 fails with ENOSYS\n",
	       p.exec_maps ? "" : ", mmap and mprotect (never PROT_EXEC)",
	       p.render_server ? ", kill (SIGKILL only)" : "");
	return 0;
}

/* ---- Landlock (Linux 5.13+; its ABI version says which rights exist) ---- */

#define LL_EXECUTE		      (1ull << 0)
#define LL_WRITE_FILE		      (1ull << 1)
#define LL_READ_FILE		      (1ull << 2)
#define LL_READ_DIR		      (1ull << 3)
#define LL_REMOVE_FILE		      (1ull << 5)
#define LL_MAKE_REG		      (1ull << 8)
#define LL_MAKE_SOCK		      (1ull << 9)
#define LL_REMOVE_DIR		      (1ull << 4)
#define LL_MAKE_DIR		      (1ull << 7)
#define LL_ABI1_ALL		      ((1ull << 13) - 1)
#define LL_REFER		      (1ull << 13) /* ABI 2 */
#define LL_TRUNCATE		      (1ull << 14) /* ABI 3 */
#define LL_IOCTL_DEV		      (1ull << 15) /* ABI 5 */
#define LL_NET_BIND_TCP		      (1ull << 0)
#define LL_NET_CONNECT_TCP	      (1ull << 1) /* ABI 4 */
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ull << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL		      (1ull << 1)
#define LL_RULE_PATH_BENEATH	      1
#define LL_RULE_NET_PORT	      2
#define LL_CREATE_RULESET_VERSION     (1u << 0)

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net; /* ABI 4 */
	uint64_t scoped;	     /* ABI 6 */
};
struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));
struct ll_net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
};

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule	    445
#define SYS_landlock_restrict_self  446
#endif

#define LL_READ	       (LL_READ_FILE | LL_READ_DIR)
#define LL_FILE_RIGHTS (LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV)

struct ll {
	int fd; /* the ruleset */
	uint64_t handled;
	struct logger *log;
	const char *exe;	/* borrowed (sandbox.exe): executable too, or NULL */
	const char *shader_dir; /* borrowed (sandbox.shader_dir): Mesa writes there, or NULL */
};

/* Allow access beneath path (a file: only the file rights of access).  A
   path that does not exist needs no access. */
static int
ll_allow(struct ll *ll, const char *path, uint64_t access)
{
	struct ll_path_beneath_attr a;
	struct stat st;
	int fd = open(path, O_PATH | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == EACCES ? 0 : -errno;
	if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
		access &= LL_FILE_RIGHTS;
	a = (struct ll_path_beneath_attr){access & ll->handled, fd};
	if (syscall(SYS_landlock_add_rule, ll->fd, LL_RULE_PATH_BENEATH, &a, 0) < 0) {
		ret = -errno;
		log_msg(ll->log, KR_LOG_ERROR, "sandbox: Landlock rule for %s: %s", path,
			strerror(errno));
	}
	close(fd);
	return ret;
}

/* The directory part of path (a copy in buf): "." for a bare name. */
static const char *
dir_of(const char *path, char *buf, size_t size)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return ".";
	if (slash == path)
		return "/";
	snprintf(buf, size, "%.*s", (int)(slash - path), path);
	return buf;
}

/* What the daemon reads, runs, writes and removes once it is sandboxed. */
static int
ll_rules(struct ll *ll, const struct sandbox_config *cfg)
{
	static const char *const read_exec[] = {"/usr", "/lib", "/lib64", "/lib32"};
	/* /etc: the dynamic loader's cache, Mesa's and the Vulkan/EGL loaders'
	   configuration, the time zone; never the rest (/etc/shadow). */
	static const char *const read_only[] = {
		"/etc/ld.so.cache", "/etc/ld.so.preload", "/etc/localtime", "/etc/drirc",
		"/etc/vulkan",	    "/etc/glvnd",	  "/etc/egl",	    "/sys",
		"/proc/cpuinfo",    "/proc/meminfo",	  "/proc/stat",	    "/proc/self"};
	static const char *const devices[] = {"/dev/dri", "/dev/null", "/dev/zero", "/dev/urandom",
					      "/dev/random"};
	char self[32], buf[PATH_MAX];
	int ret = 0;

	for (size_t i = 0; ret == 0 && i < ARRAY_SIZE(read_exec); i++)
		ret = ll_allow(ll, read_exec[i], LL_READ | LL_EXECUTE);
	for (size_t i = 0; ret == 0 && i < ARRAY_SIZE(read_only); i++)
		ret = ll_allow(ll, read_only[i], LL_READ);
	/* /proc/self resolves to our own /proc/PID: no other process's. */
	snprintf(self, sizeof(self), "/proc/%d", (int)getpid());
	ret = ret ?: ll_allow(ll, self, LL_READ);
	for (size_t i = 0; ret == 0 && i < ARRAY_SIZE(devices); i++)
		ret = ll_allow(ll, devices[i], LL_READ | LL_WRITE_FILE | LL_IOCTL_DEV);
	if (ret == 0 && cfg->render_node)
		ret = ll_allow(ll, cfg->render_node, LL_READ | LL_WRITE_FILE | LL_IOCTL_DEV);
	if (ret == 0 && cfg->gfxstream_lib && strchr(cfg->gfxstream_lib, '/'))
		ret = ll_allow(ll, dir_of(cfg->gfxstream_lib, buf, sizeof(buf)),
			       LL_READ | LL_EXECUTE);
	/* Libraries found through LD_LIBRARY_PATH (gfxstream's, in tests). */
	const char *lp = getenv("LD_LIBRARY_PATH");
	while (ret == 0 && lp && *lp) {
		size_t n = strcspn(lp, ":");
		if (n && n < sizeof(buf)) {
			snprintf(buf, sizeof(buf), "%.*s", (int)n, lp);
			ret = ll_allow(ll, buf, LL_READ | LL_EXECUTE);
		}
		lp += n + (lp[n] == ':');
	}
	/* kohlrabi itself, wherever it is: the render server starts as it. */
	if (ret == 0 && ll->exe)
		ret = ll_allow(ll, ll->exe, LL_READ | LL_EXECUTE);
	for (size_t i = 0; ret == 0 && i < ARRAY_SIZE(cfg->read_paths); i++) {
		if (cfg->read_paths[i])
			ret = ll_allow(ll, cfg->read_paths[i], LL_READ);
	}
	if (ret == 0 && cfg->scratch_dir)
		ret = ll_allow(ll, cfg->scratch_dir,
			       LL_READ | LL_WRITE_FILE | LL_MAKE_REG | LL_MAKE_SOCK |
				       LL_REMOVE_FILE | LL_MAKE_DIR | LL_REMOVE_DIR | LL_TRUNCATE);
	/* Mesa's cache: files written to a temporary name, renamed in place,
	   evicted; directories made per hash prefix. */
	if (ret == 0 && ll->shader_dir)
		ret = ll_allow(ll, ll->shader_dir,
			       LL_READ | LL_WRITE_FILE | LL_MAKE_REG | LL_REMOVE_FILE |
				       LL_MAKE_DIR | LL_REMOVE_DIR | LL_TRUNCATE);
	if (ret == 0 && cfg->screenshot_dir)
		ret = ll_allow(ll, cfg->screenshot_dir,
			       LL_READ | LL_WRITE_FILE | LL_MAKE_REG | LL_REMOVE_FILE |
				       LL_TRUNCATE);
	for (size_t i = 0; ret == 0 && i < ARRAY_SIZE(cfg->sockets); i++) {
		if (cfg->sockets[i])
			ret = ll_allow(ll, dir_of(cfg->sockets[i], buf, sizeof(buf)),
				       LL_MAKE_SOCK | LL_REMOVE_FILE);
	}
	return ret;
}

static int
landlock_setup(struct sandbox *s, const struct sandbox_config *cfg)
{
	struct ll_ruleset_attr attr = {0};
	size_t size = sizeof(attr.handled_access_fs);
	struct ll ll = {-1, 0, s->log, s->exe[0] ? s->exe : NULL,
			s->shader_dir[0] ? s->shader_dir : NULL};
	int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
	int ret = 0;

	if (abi < 1) {
		log_msg(s->log, KR_LOG_WARN,
			"sandbox: this kernel has no Landlock (%s): the daemon can reach every "
			"file its user can; seccomp and the rest still apply",
			strerror(errno));
		return 0;
	}
	s->landlock_abi = abi;
	ll.handled = LL_ABI1_ALL | (abi >= 2 ? LL_REFER : 0) | (abi >= 3 ? LL_TRUNCATE : 0) |
		     (abi >= 5 ? LL_IOCTL_DEV : 0);
	attr.handled_access_fs = ll.handled;
	if (abi >= 4) {
		/* No TCP at all but the VNC console's bind (vnc_setup, after this). */
		attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		size = offsetof(struct ll_ruleset_attr, scoped);
	}
	if (abi >= 6) {
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
		size = sizeof(attr);
	}
	if (abi < 6)
		log_msg(s->log, KR_LOG_WARN, "sandbox: Landlock ABI %d (kernel before 6.12): %s%s",
			abi, abi < 4 ? "TCP is limited by seccomp only; " : "",
			"signals and abstract sockets are not scoped");
	ll.fd = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (ll.fd < 0) {
		ret = -errno;
		log_msg(s->log, KR_LOG_ERROR, "sandbox: Landlock ruleset: %s", strerror(errno));
		goto out;
	}
	ret = ll_rules(&ll, cfg);
	for (unsigned i = 0; ret == 0 && abi >= 4 && i < cfg->vnc_ports; i++) {
		struct ll_net_port_attr np = {LL_NET_BIND_TCP, cfg->vnc_port + i};
		if (syscall(SYS_landlock_add_rule, ll.fd, LL_RULE_NET_PORT, &np, 0) < 0)
			ret = -errno;
	}
	if (ret == 0 && syscall(SYS_landlock_restrict_self, ll.fd, 0) < 0) {
		ret = -errno;
		log_msg(s->log, KR_LOG_ERROR, "sandbox: Landlock: %s", strerror(errno));
	}
out:
	if (ll.fd >= 0)
		close(ll.fd);
	return ret;
}

/* ---- users, capabilities, limits ---- */

/* USER[:GROUP] (names or numbers) into s->uid/gid. */
static int
resolve_user(struct sandbox *s, const char *user)
{
	char name[256];
	const char *spec = user ? user : "nobody";
	const char *colon = strchr(spec, ':');
	struct passwd *pw;
	struct group *gr;

	snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - spec) : (int)strlen(spec), spec);
	pw = getpwnam(name);
	if (!pw) {
		log_msg(s->log, KR_LOG_ERROR, "sandbox: no user '%s'%s", name,
			user ? "" : " to switch to from root: give --user USER[:GROUP]");
		return -ENOENT;
	}
	s->uid = pw->pw_uid;
	s->gid = pw->pw_gid;
	if (colon) {
		gr = getgrnam(colon + 1);
		if (!gr) {
			log_msg(s->log, KR_LOG_ERROR, "sandbox: no group '%s'", colon + 1);
			return -ENOENT;
		}
		s->gid = gr->gr_gid;
	}
	return 0;
}

static int
plan_user(struct sandbox *s, const char *user)
{
	int ret;

	if (geteuid() != 0 && !user)
		return 0; /* already unprivileged */
	ret = resolve_user(s, user);
	if (ret < 0)
		return ret;
	if (geteuid() != 0) {
		if (s->uid == geteuid() && s->gid == getegid())
			return 0;
		log_msg(s->log, KR_LOG_ERROR,
			"sandbox: --user %s needs root (kohlrabi runs as uid %u)", user,
			(unsigned)geteuid());
		return -EPERM;
	}
	if (s->uid == 0)
		log_msg(s->log, KR_LOG_WARN,
			"sandbox: --user %s keeps uid 0 (its capabilities are dropped all the "
			"same)",
			user ? user : "nobody");
	s->switch_user = true;
	return 0;
}

/* Capabilities: none, or only CAP_SETUID and CAP_SETGID until the switch. */
static int
drop_caps(struct sandbox *s, bool keep_setid)
{
	int ret = 0;

	capng_get_caps_process();
	bool bounds = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP);
	capng_clear(bounds ? CAPNG_SELECT_BOTH | CAPNG_SELECT_BOUNDS : CAPNG_SELECT_BOTH);
	if (keep_setid)
		/* The render server, executed as uid 0 under no_new_privs, keeps
		   what is both permitted and in the bounding set: these two, for
		   its own switch (sandbox_render_server). */
		capng_updatev(CAPNG_ADD,
			      CAPNG_EFFECTIVE | CAPNG_PERMITTED |
				      (s->exe[0] && bounds ? CAPNG_BOUNDING_SET : 0),
			      CAP_SETUID, CAP_SETGID, -1);
	int r = capng_apply(bounds ? CAPNG_SELECT_BOTH | CAPNG_SELECT_BOUNDS : CAPNG_SELECT_BOTH);
	if (r < 0) {
		log_msg(s->log, KR_LOG_ERROR, "sandbox: capng_apply: %d", r);
		ret = -EPERM;
	}
	if (ret == 0 && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		ret = -errno;
	if (ret < 0)
		log_msg(s->log, KR_LOG_ERROR, "sandbox: dropping capabilities failed");
	return ret;
}

/* The kernel's word (capget): no capability in any set of this thread. */
static int
no_caps_left(struct sandbox *s)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		if (d[i].effective || d[i].permitted || d[i].inheritable) {
			log_msg(s->log, KR_LOG_ERROR,
				"sandbox: capabilities left after the switch (permitted %08x)",
				d[i].permitted);
			return -EPERM;
		}
	}
	return 0;
}

static int
switch_user(struct sandbox *s)
{
	int death = 0;
	pid_t parent = getppid();

	/* The parent-death signal does not survive a change of credentials:
	   kept across it (a frontend that started us wants us gone with it). */
	prctl(PR_GET_PDEATHSIG, &death, 0, 0, 0);
	/* glibc applies each to every thread (its setxid broadcast); leaving
	   uid 0 clears every thread's capabilities. */
	if (setgroups(1, &s->gid) < 0 || setresgid(s->gid, s->gid, s->gid) < 0 ||
	    setresuid(s->uid, s->uid, s->uid) < 0) {
		log_msg(s->log, KR_LOG_ERROR, "sandbox: switching to uid %u gid %u: %s",
			(unsigned)s->uid, (unsigned)s->gid, strerror(errno));
		return -errno;
	}
	if (death > 0 && prctl(PR_SET_PDEATHSIG, death, 0, 0, 0) == 0 && getppid() != parent)
		raise(death); /* it died in between */
#ifdef KR_SANITIZER
	/* The switch made the process undumpable: LeakSanitizer could not
	   attach to its own threads, nor read /proc/self. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
	return 0;
}

/* Tasks (processes and threads) of uid now: RLIMIT_NPROC counts them. */
static unsigned
tasks_of(uid_t uid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	unsigned n = 0;

	while (d && (e = readdir(d))) {
		char path[300], line[128];
		unsigned threads = 0, u = ~0u;
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		FILE *f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f)) {
			sscanf(line, "Uid: %u", &u);
			sscanf(line, "Threads: %u", &threads);
		}
		if (f)
			fclose(f);
		if (u == uid)
			n += threads;
	}
	if (d)
		closedir(d);
	return n;
}

/* Open files: what the device holds at most (64 memory slots, the queues'
   eventfds, the sockets, the renderer's) with room; tasks: the user's now
   plus the renderer's threads to come.  Both limits are hard. */
#define SANDBOX_NOFILE 1024
#define SANDBOX_TASKS  256

static int
limit(struct sandbox *s, int res, const char *what, rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(res, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
		want = rl.rlim_max; /* never raise it */
	rl = (struct rlimit){want, want};
	if (setrlimit(res, &rl) < 0) {
		log_msg(s->log, KR_LOG_ERROR, "sandbox: %s limit %llu: %s", what,
			(unsigned long long)want, strerror(errno));
		return -errno;
	}
	return 0;
}

/* ---- the socket remover ---- */

/* Once the daemon is another user, the directories its sockets are in may
   not let it remove them at exit (a root-owned 0700 directory, say).  A
   process forked before any of the sandbox, with nothing open but a pipe,
   removes them when the pipe's other end closes: when the daemon (and every
   process it started) is gone.  It removes only what sandbox_enter said the
   daemon had bound (the socket's device and inode), and only if that is
   still there: never a live daemon's socket that a refused one named. */
struct remover_rec {
	uint32_t slot, k; /* sockets[slot], "-k" appended for k > 0 (VNC's PATH-N) */
	uint64_t dev, ino;
};
#define REMOVER_MAX (3 * KR_MAX_SCANOUTS)

static const char *
remover_path(const char *const *paths, uint32_t slot, uint32_t k, char *buf, size_t size)
{
	if (k == 0)
		return paths[slot];
	snprintf(buf, size, "%s-%u", paths[slot], k);
	return buf;
}

static void
remover_main(int fd, const char *const *paths, size_t n)
{
	struct remover_rec recs[REMOVER_MAX];
	size_t got = 0;
	char buf[PATH_MAX];
	struct stat st;
	ssize_t r;

	signal(SIGINT, SIG_IGN); /* the terminal's ^C reaches the whole group */
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	/* It may wait, look and remove; nothing else. */
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	const int calls[] = {SCMP_SYS(read),	       SCMP_SYS(newfstatat), SCMP_SYS(lstat),
			     SCMP_SYS(unlink),	       SCMP_SYS(exit_group), SCMP_SYS(exit),
			     SCMP_SYS(restart_syscall)};
	for (size_t i = 0; ctx && i < ARRAY_SIZE(calls); i++)
		seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0);
	if (!ctx || seccomp_load(ctx) < 0)
		_exit(1);
	/* Records (whole: the daemon writes each in one write), then EOF. */
	while ((r = read(fd, &recs[got], sizeof(recs[got]))) != 0) {
		if (r == sizeof(recs[got]) && got + 1 < REMOVER_MAX && recs[got].slot < n &&
		    paths[recs[got].slot] && recs[got].k < KR_MAX_SCANOUTS)
			got++;
		else if (r < 0 && errno != EINTR)
			break;
	}
	for (size_t i = 0; i < got; i++) {
		const char *p = remover_path(paths, recs[i].slot, recs[i].k, buf, sizeof(buf));
		if (lstat(p, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == recs[i].dev &&
		    st.st_ino == recs[i].ino)
			unlink(p);
	}
	_exit(0);
}

static int
start_remover(struct sandbox *s, const struct sandbox_config *cfg)
{
	int p[2];
	bool any = false;

	for (size_t i = 0; i < ARRAY_SIZE(cfg->sockets); i++) {
		s->sockets[i] = cfg->sockets[i];
		any = any || cfg->sockets[i];
	}
	if (!s->switch_user || !any)
		return 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		/* Nothing of the daemon's stays open here: not its stderr (a
		   reader waiting for its end), not the listening socket. */
		if (dup2(p[0], 3) == 3)
			close_range(4, ~0u, 0);
		close(0);
		close(1);
		close(2);
		remover_main(3, cfg->sockets, ARRAY_SIZE(cfg->sockets));
	}
	close(p[0]);
	s->remover_fd = p[1]; /* closed by exit */
	return 0;
}

/* Tell the remover which sockets setup bound (sandbox_enter, before the
   user switch: while the paths are surely ours). */
static void
remover_tell(struct sandbox *s)
{
	char buf[PATH_MAX];
	struct stat st;

	for (uint32_t i = 0; s->remover_fd >= 0 && i < ARRAY_SIZE(s->sockets); i++) {
		for (uint32_t k = 0; s->sockets[i] && k < KR_MAX_SCANOUTS; k++) {
			const char *p = remover_path(s->sockets, i, k, buf, sizeof(buf));
			if (lstat(p, &st) < 0 || !S_ISSOCK(st.st_mode))
				continue;
			struct remover_rec r = {i, k, st.st_dev, st.st_ino};
			if (write(s->remover_fd, &r, sizeof(r)) != sizeof(r))
				log_msg(s->log, KR_LOG_WARN,
					"sandbox: %s may stay after exit (the remover: %s)", p,
					strerror(errno));
		}
	}
}

/* Whether uid:gid may create files in the directory st describes. */
static bool
writable_by(const struct stat *st, uid_t uid, gid_t gid)
{
	const mode_t wx = S_IWOTH | S_IXOTH;

	if (uid == 0)
		return st->st_uid == 0 ? (st->st_mode & (S_IWUSR | S_IXUSR)) == (S_IWUSR | S_IXUSR)
				       : (st->st_mode & wx) == wx;
	if (st->st_uid == uid)
		return (st->st_mode & (S_IWUSR | S_IXUSR)) == (S_IWUSR | S_IXUSR);
	if (st->st_gid == gid)
		return (st->st_mode & (S_IWGRP | S_IXGRP)) == (S_IWGRP | S_IXGRP);
	return (st->st_mode & wx) == wx;
}

/* --screenshot-dir must exist before Landlock can allow it: made (for the
   user the daemon becomes) when missing; a warning when that user could not
   write there. */
static int
screenshot_dir(struct sandbox *s, const char *dir)
{
	struct stat st;
	uid_t uid = s->switch_user ? s->uid : geteuid();
	gid_t gid = s->switch_user ? s->gid : getegid();

	if (!dir)
		return 0;
	if (mkdir(dir, 0750) == 0) {
		if (s->switch_user && chown(dir, uid, gid) < 0)
			log_msg(s->log, KR_LOG_WARN, "sandbox: chown %s to uid %u: %s", dir,
				(unsigned)uid, strerror(errno));
		log_msg(s->log, KR_LOG_INFO, "made --screenshot-dir %s", dir);
	} else if (errno != EEXIST) {
		log_msg(s->log, KR_LOG_ERROR, "--screenshot-dir %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_msg(s->log, KR_LOG_ERROR, "--screenshot-dir %s is not a directory", dir);
		return -ENOTDIR;
	}
	if (!writable_by(&st, uid, gid))
		log_msg(s->log, KR_LOG_WARN,
			"--screenshot-dir %s: uid %u (the sandbox's user) cannot write there; "
			"screenshots will fail (make it writable, or choose --user)",
			dir, (unsigned)uid);
	return 0;
}

/* mkdir -p path: missing parents are made 0755; 0, or -errno. */
static int
make_parents(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = strchr(buf + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

/* One directory of the shader cache, for uid:gid (the daemon's user, and
   the group the daemon has while it is still root: Mesa opens its cache
   before the switch, as uid 0 without capabilities).  A directory that
   exists must belong to that user and be writable by nobody else: what is
   in it is machine code the daemon runs. */
static int
cache_dir(const char *path, uid_t uid, gid_t gid)
{
	struct stat st;
	int fd;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int ret = fstat(fd, &st) < 0 ? -errno : 0;
	bool switching = uid != geteuid();
	/* Made just now, or by an earlier run as root: given to the user. */
	if (ret == 0 && switching && st.st_uid == geteuid())
		ret = fchown(fd, uid, gid) < 0 || fstat(fd, &st) < 0 ? -errno : 0;
	if (ret == 0 && (st.st_uid != uid || (st.st_mode & S_IWOTH) ||
			 ((st.st_mode & S_IWGRP) && st.st_gid != gid)))
		ret = -EPERM;
	/* The root phase writes through the group (a directory the user made
	   has the user's own). */
	if (ret == 0 && switching && st.st_gid != gid && fchown(fd, uid, gid) < 0)
		ret = -errno;
	if (ret == 0 && fchmod(fd, switching ? 0770 : 0700) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* Mesa (virgl, venus, in the daemon and the render server) keeps compiled
   shaders on disk; without that every shader of every guest program is
   compiled again, which costs llvmpipe about a third of the frame rate in
   heavy scenes.  Its default place (~/.cache of whoever started us) is not
   the sandbox's user's nor inside Landlock's rules, so a directory is
   chosen here, made for that user, and handed to Mesa before the renderer
   starts.  Mesa makes its cache directory (one of three names, by cache
   type) at the renderer's start, still as uid 0: made here first, for the
   user, so that both phases may write there.  Mesa bounds its size
   (MESA_SHADER_CACHE_MAX_SIZE, 1 GiB by default). */
static int
shader_cache(struct sandbox *s, const char *opt)
{
	static const char *const mesa_dirs[] = {"mesa_shader_cache", "mesa_shader_cache_sf",
						"mesa_shader_cache_db"};
	const char *dir = opt, *env = getenv("MESA_SHADER_CACHE_DISABLE");
	bool env_off =
		env && (!strcmp(env, "1") || !strcasecmp(env, "true") || !strcasecmp(env, "yes"));
	char buf[PATH_MAX], sub[PATH_MAX];
	uid_t uid = s->switch_user ? s->uid : geteuid();
	int ret;

	if ((opt && !strcmp(opt, "off")) || (!opt && env_off)) {
		setenv("MESA_SHADER_CACHE_DISABLE", "true", 1);
		log_msg(s->log, KR_LOG_INFO, "shader cache: off (%s): shaders are compiled anew",
			opt ? "--shader-cache=off" : "MESA_SHADER_CACHE_DISABLE");
		return 0;
	}
	const char *cd = getenv("CACHE_DIRECTORY"), *xdg = getenv("XDG_CACHE_HOME"),
		   *home = getenv("HOME");
	if (!dir && (dir = getenv("MESA_SHADER_CACHE_DIR")) && dir[0] != '/')
		dir = NULL;
	if (!dir && cd && cd[0] == '/') { /* systemd's CacheDirectory=: the first one */
		snprintf(buf, sizeof(buf), "%.*s/shaders", (int)strcspn(cd, ":"), cd);
		dir = buf;
	}
	if (!dir && s->switch_user)
		dir = "/var/cache/kohlrabi/shaders";
	if (!dir && xdg && xdg[0] == '/') {
		snprintf(buf, sizeof(buf), "%s/kohlrabi/shaders", xdg);
		dir = buf;
	} else if (!dir && home && home[0] == '/') {
		snprintf(buf, sizeof(buf), "%s/.cache/kohlrabi/shaders", home);
		dir = buf;
	}
	ret = dir && strlen(dir) + 32 < sizeof(sub) ? make_parents(dir) : -ENAMETOOLONG;
	ret = ret ?: cache_dir(dir, uid, getegid());
	for (size_t i = 0; ret == 0 && s->switch_user && i < ARRAY_SIZE(mesa_dirs); i++) {
		int n = snprintf(sub, sizeof(sub), "%s/%s", dir, mesa_dirs[i]);
		ret = n > 0 && (size_t)n < sizeof(sub) ? cache_dir(sub, uid, getegid())
						       : -ENAMETOOLONG;
	}
	if (ret < 0) {
		/* Said, not silent: the daemon runs, only slower. */
		log_msg(s->log, KR_LOG_WARN,
			"shader cache %s: %s (it must be the sandbox's user's, uid %u, and "
			"writable by no one else); shaders are compiled anew (pass "
			"--shader-cache=DIR or off)",
			dir ? dir : "(no HOME)",
			ret == -EPERM ? "someone else's, or writable by others" : strerror(-ret),
			(unsigned)uid);
		setenv("MESA_SHADER_CACHE_DISABLE", "true", 1);
		return 0;
	}
	snprintf(s->shader_dir, sizeof(s->shader_dir), "%s", dir);
	setenv("MESA_SHADER_CACHE_DIR", s->shader_dir, 1);
	unsetenv("MESA_SHADER_CACHE_DISABLE");
	log_msg(s->log, KR_LOG_INFO, "shader cache: %s", s->shader_dir);
	return 0;
}

/* ---- virglrenderer's render server (sandbox.h) ---- */

#if KR_HAVE_VENUS
#define RENDER_SERVER_DEFAULT "/usr/libexec/virgl_render_server"

/* Before the renderer starts (sandbox_prepare): the server starts as
   kohlrabi, told what to become.  RENDER_SERVER_EXEC_PATH given to us is
   still the server run in the end. */
static int
render_server_plan(struct sandbox *s)
{
	const char *real = getenv("RENDER_SERVER_EXEC_PATH");
	uid_t uid = s->switch_user ? s->uid : getuid();
	char val[PATH_MAX + 96];
	ssize_t n = readlink("/proc/self/exe", s->exe, sizeof(s->exe) - 1);
	int len;

	if (n <= 0) {
		log_msg(s->log, KR_LOG_ERROR, "sandbox: /proc/self/exe: %s",
			n < 0 ? strerror(errno) : "empty");
		s->exe[0] = '\0';
		return n < 0 ? -errno : -ENOENT;
	}
	s->exe[n] = '\0';
	len = snprintf(val, sizeof(val), "%d %u %u %d %u %s", (int)s->mode, (unsigned)s->uid,
		       (unsigned)s->gid, s->switch_user, tasks_of(uid) + SANDBOX_TASKS,
		       real && *real ? real : RENDER_SERVER_DEFAULT);
	if (len < 0 || (size_t)len >= sizeof(val))
		return -ENAMETOOLONG;
	if (setenv(SANDBOX_RENDER_SERVER_ENV, val, 1) < 0 ||
	    setenv("RENDER_SERVER_EXEC_PATH", s->exe, 1) < 0)
		return -errno;
	return 0;
}

/* The ELF interpreter (PT_INTERP) of file into buf ("" for a static one). */
static int
elf_interp(const char *file, char *buf, size_t size)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	int ret = -ENOEXEC;

	buf[0] = '\0';
	if (fd < 0)
		return -errno;
	if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(ph))
		goto out;
	ret = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) !=
		    sizeof(ph)) {
			ret = -ENOEXEC;
			break;
		}
		if (ph.p_type != PT_INTERP)
			continue;
		if (ph.p_filesz < 2 || ph.p_filesz > size ||
		    pread(fd, buf, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz)
			ret = -ENOEXEC;
		else
			buf[ph.p_filesz - 1] = '\0';
		break;
	}
out:
	close(fd);
	return ret;
}

/* A Landlock layer on top of the daemon's: nothing but path (and its
   dynamic loader) may be executed. */
static int
exec_only(struct sandbox *s, const char *path)
{
	struct ll_ruleset_attr attr = {.handled_access_fs = LL_EXECUTE};
	struct ll ll = {-1, LL_EXECUTE, s->log, NULL};
	char interp[PATH_MAX];
	int ret = elf_interp(path, interp, sizeof(interp));

	if (ret < 0) {
		log_msg(s->log, KR_LOG_ERROR, "render server: %s: %s", path, strerror(-ret));
		return ret;
	}
	if (syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION) < 1)
		return 0; /* the daemon said so already */
	ll.fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr.handled_access_fs), 0);
	if (ll.fd < 0)
		return -errno;
	ret = ll_allow(&ll, path, LL_EXECUTE);
	if (ret == 0 && interp[0])
		ret = ll_allow(&ll, interp, LL_EXECUTE);
	if (ret == 0 && syscall(SYS_landlock_restrict_self, ll.fd, 0) < 0)
		ret = -errno;
	close(ll.fd);
	return ret;
}

/* The server's filter: its list, the rules on arguments; the calls
   outside it kill it, or with --sandbox=log pass and the kernel logs them
   (the audit log, dmesg: the handler that names them in the daemon does
   not survive exec). */
static int
render_server_filter(struct sandbox *s)
{
	const uint64_t namespaces = CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
				    CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
	scmp_filter_ctx ctx =
		seccomp_init(s->mode == SANDBOX_LOG ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS);
	int ret = 0;

	if (!ctx)
		return -ENOMEM;
	for (size_t i = 0; ret == 0 && i < ARRAY_SIZE(list_render_server); i++)
		ret = allow(ctx, list_render_server[i], s->log);
#ifdef KR_SANITIZER
	for (size_t i = 0; ret == 0 && i < ARRAY_SIZE(sanitizer_list); i++)
		ret = allow(ctx, sanitizer_list[i], s->log); /* until the exec */
#endif
	/* One argument checked each (clone3: ENOSYS, as the daemon's). */
	const struct {
		int nr;
		struct scmp_arg_cmp cmp;
	} rules[] = {
		{SCMP_SYS(clone), SCMP_A0(SCMP_CMP_MASKED_EQ, namespaces, 0)},
		{SCMP_SYS(prctl), SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME)},
		{SCMP_SYS(socket), SCMP_A0(SCMP_CMP_EQ, AF_UNIX)},
		{SCMP_SYS(kill), SCMP_A1(SCMP_CMP_EQ, SIGKILL)},
		{SCMP_SYS(prlimit64), SCMP_A0(SCMP_CMP_EQ, 0)},
	};
	for (size_t i = 0; ret == 0 && i < ARRAY_SIZE(rules); i++)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, rules[i].nr, 1, rules[i].cmp);
	ret = ret ?: seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	ret = ret ?: seccomp_load(ctx);
	seccomp_release(ctx);
	return ret;
}

int
sandbox_render_server(char **argv)
{
	const char *env = getenv(SANDBOX_RENDER_SERVER_ENV);
	struct logger log;
	struct sandbox s = {.log = &log, .remover_fd = -1};
	char path[PATH_MAX];
	int mode = -1, sw = 0, off = 0, ret = -EINVAL;
	unsigned uid = 0, gid = 0, tasks = 0;

	logger_init(&log, KR_LOG_WARN, NULL, NULL);
	if (!env || sscanf(env, "%d %u %u %d %u %n", &mode, &uid, &gid, &sw, &tasks, &off) != 5 ||
	    off == 0 || env[off] != '/' || mode < SANDBOX_ON || mode > SANDBOX_LOG ||
	    snprintf(path, sizeof(path), "%s", env + off) >= (int)sizeof(path)) {
		log_msg(&log, KR_LOG_ERROR, "render server: %s is malformed",
			SANDBOX_RENDER_SERVER_ENV);
		return 1;
	}
	s.mode = (enum sandbox_mode)mode;
	s.uid = uid;
	s.gid = gid;
	s.switch_user = sw;
	unsetenv(SANDBOX_RENDER_SERVER_ENV);
	unsetenv("RENDER_SERVER_EXEC_PATH");
	ret = exec_only(&s, path);
	ret = ret ?: (s.switch_user ? switch_user(&s) : 0);
	ret = ret ?: no_caps_left(&s);
	ret = ret ?: limit(&s, RLIMIT_NPROC, "tasks", tasks);
	ret = ret ?: render_server_filter(&s);
	if (ret == 0) {
		argv[0] = path;
		execv(path, argv);
		ret = -errno;
	}
	log_msg(&log, KR_LOG_ERROR, "render server: not started (%s): %s", path, strerror(-ret));
	return 1;
}
#else
int
sandbox_render_server(char **argv)
{
	(void)argv;
	fprintf(stderr, "kohlrabi: %s is set, but this kohlrabi has no render server\n",
		SANDBOX_RENDER_SERVER_ENV);
	return 1;
}
#endif

/* ---- the two steps ---- */

int
sandbox_prepare(struct sandbox *s, const struct sandbox_config *cfg, struct logger *log)
{
	int ret;

	*s = (struct sandbox){
		.mode = cfg->mode, .log = log, .remover_fd = -1, .harness = cfg->harness_syscalls};
	if (cfg->mode == SANDBOX_OFF) {
		log_msg(log, KR_LOG_WARN,
			"sandbox: off (--sandbox=off): a compromised daemon has every right of "
			"uid %u",
			(unsigned)geteuid());
		return 0;
	}
	struct policy p;
	if (!policy_of(cfg->backend, &p)) {
		log_msg(log, KR_LOG_ERROR, "sandbox: no seccomp policy for backend %s",
			cfg->backend);
		return -EINVAL;
	}
	s->policy = p.name;
	ret = plan_user(s, cfg->user);
	ret = ret ?: start_remover(s, cfg);
	ret = ret ?: screenshot_dir(s, cfg->screenshot_dir);
	if (ret == 0 && !strcmp(p.name, "virgl"))
		ret = shader_cache(s, cfg->shader_cache);
	ret = ret ?: limit(s, RLIMIT_NOFILE, "open files", SANDBOX_NOFILE);
	if (ret == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		ret = -errno;
#if KR_HAVE_VENUS
	if (ret == 0 && p.render_server)
		ret = render_server_plan(s);
#endif
	ret = ret ?: drop_caps(s, s->switch_user);
	ret = ret ?: landlock_setup(s, cfg);
	s->prepared = ret == 0;
	return ret;
}

int
sandbox_enter(struct sandbox *s)
{
	struct policy p;
	int ret = 0;

	if (!s->prepared)
		return 0;
	policy_of(s->policy, &p);
	remover_tell(s);
	if (s->switch_user)
		ret = switch_user(s);
	/* Leaving uid 0 cleared every thread's capabilities (prepare kept only
	   CAP_SETUID/CAP_SETGID, and only for the switch): checked, not assumed. */
	ret = ret ?: no_caps_left(s);
	ret = ret
		      ?: limit(s, RLIMIT_NPROC, "tasks",
			       tasks_of(s->switch_user ? s->uid : getuid()) + SANDBOX_TASKS);
	uid_t uid = getuid();
	gid_t gid = getgid();
	ret = ret ?: seccomp_install(&p, s->mode, s->harness, s->log);
	if (ret < 0) {
		log_msg(s->log, KR_LOG_ERROR, "sandbox: could not be entered: %s", strerror(-ret));
		return ret;
	}
	log_msg(s->log, KR_LOG_INFO,
		"sandbox: %s: seccomp policy %s (%s), Landlock ABI %d, uid %u gid %u, no "
		"capabilities, no_new_privs",
		s->mode == SANDBOX_LOG ? "log" : "on", p.name,
		s->mode == SANDBOX_LOG ? "other calls fail with ENOSYS and are logged"
				       : "other calls kill the process",
		s->landlock_abi, (unsigned)uid, (unsigned)gid);
	return 0;
}

#if KR_SANDBOX_TEST_TRIGGER
/* ---- test builds only: what a compromised daemon would try ---- */

#include <sys/mount.h>
#include <sys/ptrace.h>

static int
try_one(const char *what)
{
	if (!strcmp(what, "execve")) {
		char *const argv[] = {"/bin/true", NULL};
		return execve(argv[0], argv, argv + 1);
	}
	if (!strncmp(what, "open:", 5))
		return open(what + 5, O_RDONLY | O_CLOEXEC);
	if (!strcmp(what, "socket"))
		return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!strcmp(what, "ptrace"))
		return (int)ptrace(PTRACE_ATTACH, getppid(), NULL, NULL);
	if (!strcmp(what, "mount"))
		return mount("none", "/tmp", "tmpfs", 0, NULL);
	if (!strcmp(what, "fork")) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		return pid < 0 ? -1 : 0;
	}
	errno = EINVAL;
	return -2;
}

void
sandbox_test_trigger(struct logger *log, const char *actions)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "%s", actions);
	for (char *save, *a = strtok_r(buf, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
		log_msg(log, KR_LOG_WARN, "sandbox test: trying %s", a);
		int r = try_one(a);
		if (r == -2)
			log_msg(log, KR_LOG_ERROR, "sandbox test: unknown action %s", a);
		else if (r < 0)
			log_msg(log, KR_LOG_WARN, "sandbox test: %s refused: %s", a,
				strerror(errno));
		else
			log_msg(log, KR_LOG_ERROR, "sandbox test: %s SUCCEEDED", a);
		if (r >= 0 && strcmp(a, "fork") && strcmp(a, "ptrace"))
			close(r);
	}
}
#endif
