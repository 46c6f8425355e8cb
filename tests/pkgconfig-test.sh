#!/bin/sh
# Install into a scratch root, then build and run the README example with only
# what kohlrabi.pc says: proves the header, library and .pc file are installed.
set -eu
build_root=$1
src=$2
extra_cflags=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build_root" --destdir "$tmp/root" --no-rebuild >/dev/null
pc=$(dirname "$(find "$tmp/root" -name kohlrabi.pc | head -n 1)")
export PKG_CONFIG_PATH="$pc" PKG_CONFIG_SYSROOT_DIR="$tmp/root"
# shellcheck disable=SC2046
# shellcheck disable=SC2086
cc -std=c17 -Wall -Wextra -Werror $extra_cflags -o "$tmp/example" "$src" $(pkg-config --cflags --libs kohlrabi)
LD_LIBRARY_PATH=$(dirname "$(find "$tmp/root" -name 'libkohlrabi.so' | head -n 1)") "$tmp/example"
