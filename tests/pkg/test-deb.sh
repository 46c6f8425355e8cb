#!/bin/sh
# The Debian packages: dpkg-buildpackage -b builds kohlrabi, libkohlrabi0 and
# libkohlrabi-dev from a copy of the tree; lintian finds no error or warning;
# installed on this machine they hold what they should (daemon, man page, JSON,
# systemd units that systemd-analyze accepts, the AppArmor rule that
# apparmor_parser accepts inside libvirtd's profile, a library a program
# builds against through pkg-config); libvirt runs the installed daemon
# (tests/e2e/test_libvirt.py --installed); purging takes it all away again.
#
# Usage: test-deb.sh SOURCE_DIR [CACHE_DIR].  Needs root.  TAP on stdout.
set -u
src=$(cd "$1" && pwd)
n=0
fails=0
ok() { # name, status, diagnostic
	n=$((n + 1))
	if [ "$2" -eq 0 ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		printf '%s\n' "$3" | sed 's/^/# /'
		printf 'test-deb: FAILED: %s\n%s\n' "$1" "$3" | head -n 40 >&2
		fails=$((fails + 1))
	fi
}
finish() {
	echo "1..$n"
	[ "$fails" -eq 0 ]
	exit $?
}

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP installing packages needs root"
	exit 77
fi
for p in kohlrabi libkohlrabi0 libkohlrabi-dev; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		echo "Bail out! $p is installed on this machine already; this test would remove it"
		exit 1
	fi
done
for tool in dpkg-buildpackage lintian dh; do
	command -v "$tool" >/dev/null || {
		echo "Bail out! $tool missing: run scripts/install-deps pkg"
		exit 1
	}
done

work=$(mktemp -d /tmp/kr-deb-XXXXXX)
installed=0
cleanup() {
	[ "$installed" -eq 0 ] || dpkg --purge kohlrabi libkohlrabi-dev libkohlrabi0 >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

# --- build ---------------------------------------------------------------------
tree=$work/kohlrabi-0.1.0
mkdir -p "$tree"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$src" && git ls-files -co --exclude-standard | tar -cf - -T -) | tar -xf - -C "$tree"
else
	(cd "$src" && tar -cf - --exclude='./build*' --exclude=./.git .) | tar -xf - -C "$tree"
fi
(cd "$tree" && dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1
st=$?
ok "dpkg-buildpackage -b -us -uc builds" $st "$(tail -n 30 "$work/build.log")"
[ $st -eq 0 ] || finish
have=$(cd "$work" && ls kohlrabi_*.deb libkohlrabi0_*.deb libkohlrabi-dev_*.deb 2>&1)
ok "three packages: kohlrabi, libkohlrabi0, libkohlrabi-dev" $? "$have"

out=$(cd "$work" && lintian --allow-root --fail-on error,warning --display-info *.changes 2>&1)
ok "lintian: no errors or warnings" $? "$out"
[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/# lintian: /'

# --- install -------------------------------------------------------------------
out=$(cd "$work" && DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends \
	install ./kohlrabi_*.deb ./libkohlrabi0_*.deb ./libkohlrabi-dev_*.deb </dev/null 2>&1)
st=$?
installed=1
ok "the packages install" $st "$(printf '%s\n' "$out" | tail -n 20)"
[ $st -eq 0 ] || finish

missing=""
for f in /usr/libexec/kohlrabi /usr/share/man/man1/kohlrabi.1.gz \
	/usr/share/qemu/vhost-user/50-kohlrabi-gpu.json /usr/lib/systemd/system/kohlrabi@.service \
	/usr/lib/systemd/system/kohlrabi@.socket /usr/share/kohlrabi/apparmor/libvirtd \
	/usr/include/kohlrabi/kohlrabi.h; do
	[ -e "$f" ] || missing="$missing $f"
done
ok "kohlrabi's files are in place" "$([ -z "$missing" ]; echo $?)" "missing:$missing"
out=$(/usr/libexec/kohlrabi --version 2>&1)
ok "the installed daemon runs" $? "$out"
out=$(/usr/libexec/kohlrabi --print-capabilities | python3 -c \
	'import json, sys; d = json.load(sys.stdin); assert d["type"] == "gpu", d; print(d)' 2>&1)
ok "the installed daemon's capabilities are JSON" $? "$out"

# A program against the installed library, found through pkg-config.
out=$(cc -o "$work/example" "$src/tests/example/example.c" $(pkg-config --cflags --libs kohlrabi) 2>&1 &&
	"$work/example" 2>&1)
ok "a program builds against libkohlrabi-dev and runs on libkohlrabi0" $? "$out"

if command -v systemd-analyze >/dev/null; then
	out=$(cd "$work" && systemd-analyze verify kohlrabi@vm1.socket kohlrabi@vm1.service 2>&1 |
		grep -v "man:kohlrabi")
	ok "systemd-analyze verify accepts the units" "$([ -z "$out" ]; echo $?)" "$out"
fi

rule='include "/usr/share/kohlrabi/apparmor/libvirtd"'
if [ -e /etc/apparmor.d/usr.sbin.libvirtd ]; then
	grep -qxF "$rule" /etc/apparmor.d/local/usr.sbin.libvirtd
	ok "the AppArmor rule is included in libvirtd's local additions" $? \
		"$(cat /etc/apparmor.d/local/usr.sbin.libvirtd 2>&1)"
	if command -v apparmor_parser >/dev/null; then
		out=$(apparmor_parser -Q -K -T /etc/apparmor.d/usr.sbin.libvirtd 2>&1)
		ok "apparmor_parser accepts libvirtd's profile with the rule" $? "$out"
	fi
fi

# --- libvirt on the installed daemon -------------------------------------------
out=$(python3 "$src/tests/e2e/test_libvirt.py" --installed --log-dir "$work/libvirt" \
	${2:+--cache "$2"} 2>&1)
st=$?
printf '%s\n' "$out" | grep -E '^(ok|not ok|#)' | sed 's/^/# libvirt: /'
ok "libvirt runs the installed daemon (test_libvirt.py --installed)" $st "$out"

# --- purge ------------------------------------------------------------------------
out=$(dpkg --purge kohlrabi libkohlrabi-dev libkohlrabi0 2>&1)
st=$?
installed=0
ok "the packages purge" $st "$out"
left=""
for f in /usr/libexec/kohlrabi /usr/share/qemu/vhost-user/50-kohlrabi-gpu.json; do
	[ -e "$f" ] && left="$left $f"
done
if [ -e /etc/apparmor.d/local/usr.sbin.libvirtd ] &&
	grep -qxF "$rule" /etc/apparmor.d/local/usr.sbin.libvirtd; then
	left="$left (the AppArmor include line)"
fi
ok "purging leaves nothing of kohlrabi" "$([ -z "$left" ]; echo $?)" "left:$left"
finish
