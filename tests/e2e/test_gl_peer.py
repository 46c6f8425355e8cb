#!/usr/bin/env python3
"""tests/e2e/test_gl_peer.py: guest GL on kohlrabi --backend=virgl against QEMU's in-process device.

The test guest (host root over 9p for Mesa, piglit and glmark2; one fixed
1024x768 mode from the kernel's built-in EDID, so that both devices show the
guest the same mode list) runs glmark2-es2-drm --validate (every default
scene, XRGB visual) and the piglit tests of tests/e2e/piglit.list, on kohlrabi
and on QEMU's virtio-gpu-gl-pci (-display sdl,gl=on on Xvfb: virglrenderer on
a desktop GL context, llvmpipe here).  TAP checks:
  - kohlrabi's host context is desktop OpenGL core (its log says so);
  - glmark2: every scene runs, no mode-set error, each scene's validation
    result equals the peer's;
  - piglit: no test that passes on the peer fails on kohlrabi, and kohlrabi
    passes at least as many (the list's "peer-fails" lines name the tests
    known to fail on the peer);
  - the guest kernel logs no error response from kohlrabi.
The peer's results are cached (KOHLRABI_CACHE/gl-peer/KEY.json), keyed by
what decides them: the guest image, the packages (QEMU, virglrenderer, Mesa,
piglit, glmark2), the list, the guest runner and this file's PEER_FORMAT.

Usage: test_gl_peer.py [--cache DIR] [--log-dir DIR] [--every N] KOHLRABI_COMMAND...
(--every N: kohlrabi runs every Nth test of the list, e.g. in the slower
sanitizer build; the peer always runs, and is cached with, the whole list)
({socket} in the command is replaced by the socket path)."""
import argparse
import gzip
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest import QEMU, Guest, GuestError, Tap, Xvfb, default_cache  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LIST = os.path.join(HERE, "piglit.list")
RUNNER = os.path.join(HERE, "piglit-run.sh")
PIGLIT = "/usr/lib/x86_64-linux-gnu/piglit"
PROFILES = ("quick_gl", "quick_shader")
APPEND = "drm.edid_firmware=edid/1024x768.bin"
PACKAGES = ("qemu-system-x86", "qemu-system-modules-opengl", "libvirglrenderer1",
            "libgl1-mesa-dri", "libegl-mesa0", "piglit", "glmark2-es2-drm", "xvfb")
PEER_FORMAT = 1  # bump when what the peer's results record changes
CHUNK = 30       # piglit tests per guest command
TEST_SECS = 60   # one piglit test's limit
MODESET = re.compile(r"Failed to set crtc|Failed to find a suitable mode|Invalid pixel format|"
                     r"Could not initialize canvas|0x8cdd")
GLMARK = ("glmark2-es2-drm --visual-config a=0 --validate </dev/null")


def read_list():
    """(test names in order, the names known to fail on the peer)."""
    names, peer_fails = [], set()
    with open(LIST) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("peer-fails "):
                peer_fails.add(line[len("peer-fails "):])
            elif line and not line.startswith("#"):
                names.append(line)
    return names, peer_fails


def commands(names):
    """name -> the command piglit's installed profiles give it."""
    want, found = set(names), {}
    for prof in PROFILES:
        with gzip.open(os.path.join(PIGLIT, "tests", prof + ".xml.gz")) as f:
            for t in ET.parse(f).getroot():
                if t.get("name") in want:
                    cmd = next(o.get("value") for o in t if o.get("name") == "command")
                    # The profile writes a Python list literal of strings.
                    found[t.get("name")] = shlex.join(json.loads(cmd.replace("'", '"')))
    missing = want - set(found)
    if missing:
        raise GuestError(f"{len(missing)} tests of piglit.list are not in this piglit, "
                         f"e.g. {sorted(missing)[0]}")
    return found


def peer_key(image):
    h = hashlib.sha256()
    with open(os.path.join(image, "stamp")) as f:
        h.update(f.read().encode())
    versions = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", *PACKAGES],
                              capture_output=True, text=True).stdout
    h.update(versions.encode())
    for path in (LIST, RUNNER):
        with open(path, "rb") as f:
            h.update(f.read())
    h.update(f"{PEER_FORMAT} {APPEND} {GLMARK}".encode())
    return h.hexdigest()[:16]


def glmark2(g):
    """{scene: validation result} of one glmark2 --validate run, and its output."""
    st, out = g.run(f"chroot /host sh -c '{GLMARK}' 2>&1", timeout=600)
    scenes = dict(re.findall(r"^(\[.*\] .*): Validation: (\w+)", out, re.M))
    return st, scenes, out


def piglit(g, tsv, n):
    """{name: result} of the listed tests, run CHUNK at a time."""
    results = {}
    for first in range(1, n + 1, CHUNK):
        st, out = g.run(f"chroot /host {RUNNER} {tsv} {first} {CHUNK} {TEST_SECS}",
                        timeout=CHUNK * (TEST_SECS + 5))
        for m in re.finditer(r"^KR-PIGLIT\t(.*)\t(\w+)\t\d+$", out, re.M):
            results[m.group(1)] = m.group(2)
    return results


def error_responses(g):
    st, out = g.run("dmesg | grep 'ERROR\\* response' || true")
    return [line for line in out.splitlines() if "response" in line]


def run_guest(g, tsv, n):
    """Everything one device is asked: glmark2, piglit, the kernel's log."""
    g.start()
    st, scenes, out = glmark2(g)
    res = {"glmark2_status": st, "glmark2": scenes,
           "glmark2_modeset": sorted(set(MODESET.findall(out))),
           "glmark2_tail": out.splitlines()[-5:]}
    res["piglit"] = piglit(g, tsv, n)
    res["errors"] = error_responses(g)
    return res


def peer(image, tsv, n, cache, log_dir):
    path = os.path.join(cache, "gl-peer", peer_key(image) + ".json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f), path
    x = Xvfb(os.path.join(log_dir, "xvfb.log"))
    env_display = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = f":{x.num}"
    g = Guest(image, os.path.join(log_dir, "peer.guest.log"), gpu="custom",
              device="virtio-gpu-gl-pci", display="sdl,gl=on", host_root=True, append=APPEND)
    try:
        res = run_guest(g, tsv, n)
    finally:
        g.close()
        x.close()
        if env_display is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = env_display
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(res, f, indent=1)
    os.replace(path + ".tmp", path)
    return res, None


def kohlrabi(cmd, image, tsv, n, log_dir):
    sock_dir = tempfile.mkdtemp(prefix="kr-glpeer-")
    sock = os.path.join(sock_dir, "gpu.sock")
    log_path = os.path.join(log_dir, "kohlrabi.log")
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=0"  # Mesa's allocations at exit are nameless
    backend = subprocess.Popen([a.replace("{socket}", sock) for a in cmd], env=env,
                               stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while not os.path.exists(sock):
        if backend.poll() is not None or time.monotonic() > deadline:
            raise GuestError(f"kohlrabi did not start; see {log_path}")
        time.sleep(0.05)
    g = Guest(image, os.path.join(log_dir, "kohlrabi.guest.log"), gpu="vhost-user",
              socket_path=sock, host_root=True, append=APPEND)
    try:
        res = run_guest(g, tsv, n)
    finally:
        g.close()
        try:
            res_status = backend.wait(timeout=20)
        except subprocess.TimeoutExpired:
            backend.kill()
            res_status = "hung"
    res["exit"] = res_status
    with open(log_path) as f:
        res["log"] = f.read()
    return res


def check_glmark2(tap, k, p):
    scenes = sorted(p["glmark2"])
    tap.result(k["glmark2_status"] == 0 and len(k["glmark2"]) == len(scenes) and
               len(scenes) >= 30 and not k["glmark2_modeset"],
               "glmark2: every scene runs on kohlrabi with no mode-set error",
               f"{len(k['glmark2'])} scenes ran (the peer: {len(scenes)}); exit "
               f"{k['glmark2_status']}; mode-set errors: {k['glmark2_modeset'] or 'none'}\n" +
               "\n".join(k["glmark2_tail"]))
    diff = [f"{s}: kohlrabi {k['glmark2'].get(s, 'missing')}, peer {p['glmark2'][s]}"
            for s in scenes if k["glmark2"].get(s) != p["glmark2"][s]]
    ok = sum(1 for s in scenes if k["glmark2"].get(s) == "Success")
    tap.result(not diff and scenes, "glmark2: each scene validates as on the peer",
               "\n".join(diff) or f"{ok} of {len(scenes)} scenes validate on both")


def check_piglit(tap, k, p, names, peer_fails):
    count = {d: sum(1 for t in names if res["piglit"].get(t) == "pass")
             for d, res in (("kohlrabi", k), ("peer", p))}
    lost = [f"{t}: {k['piglit'].get(t, 'missing')} (peer: pass)" for t in names
            if p["piglit"].get(t) == "pass" and k["piglit"].get(t) != "pass"]
    tap.result(all(t in p["piglit"] for t in names) and len(k["piglit"]) == len(names) and
               not lost and count["kohlrabi"] >= count["peer"],
               "piglit: every test that passes on the peer passes on kohlrabi",
               f"kohlrabi passes {count['kohlrabi']}, the peer {count['peer']}, of "
               f"{len(names)} (results: kohlrabi {len(k['piglit'])}, peer "
               f"{len(p['piglit'])})\n" + "\n".join(lost))
    failing = sorted(t for t in p["piglit"] if p["piglit"][t] not in ("pass", "skip"))
    if sorted(peer_fails) != failing:
        print(f"# the peer's failures differ from piglit.list's peer-fails lines: {failing}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", default=default_cache())
    ap.add_argument("--log-dir", default=None)
    ap.add_argument("--every", type=int, default=1, help="kohlrabi runs every Nth test only")
    ap.add_argument("backend", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    if not args.backend:
        ap.error("give the kohlrabi command")
    for need, how in ((QEMU, "scripts/install-deps guest"), (PIGLIT, "scripts/install-deps guest"),
                      ("/usr/bin/Xvfb", "scripts/install-deps guest")):
        if not os.path.exists(need):
            print(f"Bail out! {need} missing: run {how}")
            return 1
    log_dir = args.log_dir or tempfile.mkdtemp(prefix="kr-glpeer-logs-")
    os.makedirs(log_dir, exist_ok=True)
    image = os.path.join(args.cache, "guest")
    subprocess.run([os.path.join(HERE, "..", "..", "scripts", "build-guest"), args.cache],
                   check=True, stdout=sys.stderr)
    tap = Tap()
    names, peer_fails = read_list()
    tsv = os.path.join(log_dir, "piglit.tsv")
    try:
        cmds = commands(names)
        with open(tsv, "w") as f:
            f.writelines(f"{n}\t{cmds[n]}\n" for n in names)
        t0 = time.monotonic()
        p, cached = peer(image, tsv, len(names), args.cache, log_dir)
        print(f"# the peer's results: {cached or f'measured in {time.monotonic() - t0:.0f} s'}",
              flush=True)
        t0 = time.monotonic()
        names = names[::max(args.every, 1)]
        ktsv = os.path.join(log_dir, "piglit-kohlrabi.tsv")
        with open(ktsv, "w") as f:
            f.writelines(f"{n}\t{cmds[n]}\n" for n in names)
        k = kohlrabi(args.backend, image, ktsv, len(names), log_dir)
        print(f"# kohlrabi: {time.monotonic() - t0:.0f} s; logs in {log_dir}", flush=True)
    except (GuestError, subprocess.CalledProcessError) as e:
        tap.result(False, "the guests ran", str(e))
        print(f"1..{tap.n}")
        return 1
    tap.result("host GL is desktop OpenGL core" in k["log"],
               "kohlrabi's virglrenderer runs on a desktop OpenGL core context",
               "\n".join(line for line in k["log"].splitlines() if "virgl:" in line))
    check_glmark2(tap, k, p)
    check_piglit(tap, k, p, names, peer_fails)
    tap.result(not k["errors"], "the guest kernel logs no error response from kohlrabi",
               "\n".join(k["errors"][:10] + [f"(the peer: {len(p['errors'])})"]))
    tap.result(k["exit"] == 0, "kohlrabi exits 0 when the guest goes", f"exit {k['exit']}")
    print(f"1..{tap.n}")
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
