#!/bin/sh
# Runs in the test guest, inside the host's root (chroot /host): each line of
# LIST ("name<TAB>command", the command as piglit's profile gives it) as
# piglit's runner would (-auto -fbo, PIGLIT_PLATFORM=gbm), one at a time,
# printing "KR-PIGLIT<TAB>name<TAB>result<TAB>milliseconds" per test.  A test
# that prints no result is "crash"; one killed after SECS seconds, "timeout".
# Usage: piglit-run.sh LIST FIRST COUNT [SECS]
list=$1 first=$2 count=$3 secs=${4:-60}
dir=/usr/lib/x86_64-linux-gnu/piglit
export PIGLIT_PLATFORM=gbm PIGLIT_SOURCE_DIR=$dir
cd "$dir" || exit 2
tail -n "+$first" "$list" | head -n "$count" | while IFS='	' read -r name cmd; do
	t0=$(date +%s%3N)
	out=$(eval "timeout -s KILL $secs bin/$cmd -auto -fbo" </dev/null 2>&1)
	st=$?
	res=$(printf '%s\n' "$out" | sed -n 's/^PIGLIT: {"result": "\([a-z]*\)".*/\1/p' | tail -n 1)
	[ -z "$res" ] && res=crash
	[ "$st" -eq 137 ] && res=timeout
	printf 'KR-PIGLIT\t%s\t%s\t%s\n' "$name" "$res" "$(($(date +%s%3N) - t0))"
done
