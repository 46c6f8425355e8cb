#!/bin/sh
# kohlrabi-bench against kohlrabi: it runs, and its JSON holds sane figures.
set -eu
bench=$1
daemon=$2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$bench" --iterations 50 --json "$out" --name kohlrabi -- "$daemon" --socket-path '{socket}' \
	--log-level error
python3 - "$out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for k in ("rtt_p50_us", "rtt_p99_us", "transfer_mb_s", "memcpy_mb_s", "frames_per_s",
          "fence_p50_us", "fence_p99_us"):
    assert r[k] > 0, (k, r[k])
assert r["rtt_p50_us"] <= r["rtt_p99_us"] and r["fence_p50_us"] <= r["fence_p99_us"]
assert 0 < r["transfer_vs_memcpy"] < 10
print("ok - kohlrabi-bench figures:", r)
PY
