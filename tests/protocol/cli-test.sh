#!/bin/sh
# The daemon's command line: help, version, capabilities JSON, refused options
# with messages that name what is expected, and exit codes.
set -u
kr=$1
fails=0
n=0
check() { # name, expected status, grep pattern (on stdout+stderr), command...
	name=$1 want=$2 pat=$3
	shift 3
	n=$((n + 1))
	out=$("$@" 2>&1)
	got=$?
	if [ "$got" -eq "$want" ] && printf '%s' "$out" | grep -q -- "$pat"; then
		echo "ok $n - $name"
	else
		echo "not ok $n - $name (exit $got, wanted $want; output: $(printf '%s' "$out" | head -c 300))"
		fails=$((fails + 1))
	fi
}
check "help" 0 "Usage: kohlrabi" "$kr" --help
check "help lists every option" 0 "print-capabilities" "$kr" -h
check "version" 0 "^kohlrabi [0-9]" "$kr" --version
check "capabilities" 0 '"type": "gpu"' "$kr" --print-capabilities
n=$((n + 1))
if "$kr" -c | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["type"]=="gpu" and isinstance(d["features"], list)'; then
	echo "ok $n - capabilities are JSON"
else
	echo "not ok $n - capabilities are JSON"
	fails=$((fails + 1))
fi
check "no socket" 2 "exactly one of --socket-path and --fd" "$kr"
check "socket and fd" 2 "exactly one" "$kr" -s /tmp/x.sock -f 3
check "unknown option" 2 "unknown option" "$kr" --bogus
check "unknown backend" 2 "expected 2d, virgl, 3d, venus or gfxstream" "$kr" --backend=metal -s /tmp/x
check "gpu unknown key" 2 "expected backend, width, height" "$kr" --gpu backend=2d,colour=red -s /tmp/x
check "gpu bad value" 2 "width wants 1..16384, got '0'" "$kr" --gpu width=0 -s /tmp/x
check "gpu range" 2 "width wants 1..16384, got '99999999'" "$kr" --gpu width=99999999 -s /tmp/x
check "gpu displays range" 2 "displays wants 1..16" "$kr" --gpu backend=2d,displays=17 -s /tmp/x
check "gpu bad edid" 2 "edid wants true or false" "$kr" --gpu edid=maybe -s /tmp/x
check "help as -?" 0 "Usage: kohlrabi" "$kr" -?
check "empty socket path" 2 "--socket-path wants a path" "$kr" -s ""
check "bad --log" 2 "expected stderr, syslog or auto" "$kr" --log=file -s /tmp/x
check "gpu not key=value" 2 "not KEY=VALUE" "$kr" --gpu 2d -s /tmp/x
check "bad size" 2 "bad size" "$kr" --max-hostmem=lots -s /tmp/x
check "bad log level" 2 "expected error, warn, info, debug" "$kr" --log-level=loud -s /tmp/x
check "gfxstream without its library" 1 "cannot load libgfxstream_backend.so.0.*--gfxstream-lib" \
	"$kr" --backend=gfxstream -s /tmp/kr-cli-test.sock
check "gfxstream library path missing" 1 "cannot load /nonexistent/libgfxstream_backend.so.0" \
	"$kr" --backend=gfxstream --gfxstream-lib=/nonexistent/libgfxstream_backend.so.0 \
	-s /tmp/kr-cli-test.sock
check "gfxstream library without the ABI" 1 "no stream_renderer_init" \
	"$kr" --gpu backend=gfxstream --gfxstream-lib=libc.so.6 -s /tmp/kr-cli-test.sock
check "screenshot dir too long" 2 "wants a directory of 1..3900 bytes" "$kr" \
	--screenshot-dir="/$(printf '%03900d' 0)" -s /tmp/x
check "screenshot dir empty" 2 "wants a directory of 1..3900 bytes" "$kr" --screenshot-dir= -s /tmp/x
check "shmem bit taken" 2 "not a bit kohlrabi already uses" "$kr" --shmem-protocol-bit=3 -s /tmp/x
check "shmem bit range" 2 "wants 0..63" "$kr" --shmem-protocol-bit=64 -s /tmp/x
check "window not page sized" 2 "not a multiple of 4K" "$kr" --hostmem-window=5000 -s /tmp/x
check "max contexts 0" 2 "wants 1..1048576" "$kr" --max-contexts=0 -s /tmp/x
if ! "$kr" -c | grep -q venus; then
	check "venus without Venus" 1 "venus: not available.*virglrenderer 1.0 or newer" \
		"$kr" --backend=venus -s /tmp/kr-cli-test.sock
fi
check "--fd not a socket" 1 "not a socket" "$kr" --fd 0
if "$kr" -c | grep -q virgl; then
	# An unusable render node: virgl warns and runs surfaceless; it exits 0
	# here because the frontend (none: fd 0 closed below) is gone at once.
	# Without leak detection: a daemon that ends this early can leave Mesa
	# 128 bytes from a library already unloaded, which no suppression can
	# name (our own code's leaks: the virgl unit tests and e2e daemons).
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	check "virgl: missing render node falls back" 0 "virgl runs surfaceless" \
		python3 -c 'import socket, subprocess, sys
a, b = socket.socketpair(); b.close()
sys.exit(subprocess.run([sys.argv[1], "--backend=virgl", "-r", "/nonexistent/renderD128",
	"--log=stderr", "--fd", str(a.fileno())], pass_fds=[a.fileno()]).returncode)' "$kr"
fi
echo "1..$n"
[ "$fails" -eq 0 ]
