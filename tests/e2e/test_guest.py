#!/usr/bin/env python3
"""Real-guest end-to-end test of a vhost-user-gpu backend.

A Linux guest (Debian's kernel, busybox initramfs, modetest) boots under
QEMU 10 (TCG) on the backend given on the command line; its virtio-gpu driver
must bind, modetest's pattern must appear in QMP screendumps pixel for pixel
as on QEMU's in-process virtio-gpu-pci (the reference, made once and cached),
at 1280x800 and 640x480, after a module reload and after a reboot; the cursor
must reach the backend's display path.  Output is TAP.

Usage: test_guest.py [--cache DIR] [--log-dir DIR] [--only NAME] BACKEND ARGS...
       ("{socket}" in ARGS is replaced by the socket path)
"""

import argparse
import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest import (QEMU, Guest, GuestError, Tap, default_cache, read_png, read_ppm,  # noqa: E402
                   write_png)

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODES = [(1280, 800), (640, 480)]


def connector(g):
    out = g.check("modetest -M virtio_gpu -c")
    m = re.search(r"^(\d+)\s+\d+\s+connected", out, re.M)
    if not m:
        raise GuestError("no connected connector:\n" + out)
    return m.group(1)


def stop_modetest(g):
    g.run("killall modetest 2>/dev/null; sleep 0.2; true")


def colours(shot):
    rgb = shot[2]
    return len({rgb[i:i + 3] for i in range(0, len(rgb), 3 * 101)})


def show_pattern(g, w, h, dump, extra="", expect=None, timeout=60):
    """Start modetest on w x h and return the screen (w, h, rgb).

    With expect: wait until the screen equals it (returning the last screen on
    timeout, for the caller to report).  Without: wait until modetest's
    pattern (many colours, unlike the console) is there and steady."""
    stop_modetest(g)
    conn = connector(g)
    before = g.screendump(dump)
    g.check(f"(sleep 100000 | modetest -M virtio_gpu -s {conn}:{w}x{h} {extra} "
            f">/tmp/mt.log 2>&1 &); true")
    deadline = time.monotonic() + timeout
    last, steady = None, 0
    while time.monotonic() < deadline:
        shot = g.screendump(dump)
        if expect is not None:
            if shot == expect:
                return shot
        else:
            steady = steady + 1 if shot == last else 0
            if (shot[0], shot[1]) == (w, h) and shot != before and steady >= 2 \
                    and colours(shot) >= 8:
                return shot
        last = shot
        if g.run("pidof modetest")[0] != 0:
            raise GuestError("modetest exited:\n" + g.check("cat /tmp/mt.log"))
        time.sleep(0.5)
    if expect is not None:
        return last
    raise GuestError(f"modetest's pattern never settled at {w}x{h} (last {last[0]}x{last[1]})")


def diff(a, b):
    if a[0] != b[0] or a[1] != b[1]:
        return f"size {a[0]}x{a[1]} vs {b[0]}x{b[1]}"
    pa, pb = a[2], b[2]
    bad = sum(1 for i in range(0, len(pa), 3) if pa[i:i + 3] != pb[i:i + 3])
    return f"{bad} of {a[0] * a[1]} pixels differ" if bad else ""


def qemu_version():
    out = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout
    return out.split("\n")[0]


def references(image, cache, log_dir, modes=None):
    """Reference screens from QEMU's in-process virtio-gpu-pci, cached."""
    modes = modes or MODES
    with open(os.path.join(image, "stamp")) as f:
        stamp = f.read().strip()
    key = stamp + "-" + re.sub(r"[^0-9.]", "", qemu_version().split("(")[0])
    ref_dir = os.path.join(cache, "e2e-ref", key)
    paths = {m: os.path.join(ref_dir, f"{m[0]}x{m[1]}.ppm") for m in modes}
    if all(os.path.exists(p) for p in paths.values()):
        return {m: read_ppm(p) for m, p in paths.items()}
    os.makedirs(ref_dir, exist_ok=True)
    g = Guest(image, os.path.join(log_dir, "reference.log"), gpu="inprocess")
    try:
        g.start()
        refs = {}
        for m in modes:
            tmp = paths[m] + ".tmp"
            refs[m] = show_pattern(g, m[0], m[1], tmp)
            os.replace(tmp, paths[m])
        return refs
    finally:
        g.close()


def fnv1a(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def stop_all(g, backend, log, sock_dir):
    """Quit the guest; the backend's exit status once it followed (killed
    after 15 s); its log closed and its socket directory removed."""
    g.close()
    try:
        status = backend.wait(timeout=15)
    except subprocess.TimeoutExpired:
        backend.kill()
        status = backend.wait()
    log.close()
    shutil.rmtree(sock_dir, ignore_errors=True)
    return status


def finish(tap, status):
    """The last check of every scenario, the TAP plan, the exit status."""
    tap.result(status == 0, "backend exits 0 when the frontend disconnects", f"exit status {status}")
    print(f"1..{tap.n}", flush=True)
    return 1 if tap.failed else 0


def start_backend(args, log_dir, env=None, log_name="backend.log"):
    sock_dir = tempfile.mkdtemp(prefix="kr-e2e-sock-")
    sock = os.path.join(sock_dir, "gpu.sock")
    cmd = [a.replace("{socket}", sock) for a in args.backend]
    log = open(os.path.join(log_dir, log_name), "w")
    backend = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    for _ in range(200):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    return backend, sock, sock_dir, log


def virgl_main(args, image, log_dir, tap):
    """The virgl backend under a real guest, GL from the host's Mesa over 9p."""
    env = dict(os.environ)
    # Mesa unloads its driver at exit; its allocations are nameless to LeakSanitizer.
    env["ASAN_OPTIONS"] = "detect_leaks=0"
    # Mesa's shader cache, in a fresh directory the sandbox's user can reach.
    cache_top = tempfile.mkdtemp(prefix="kr-e2e-shaders-")
    os.chmod(cache_top, 0o755)
    cache = os.path.join(cache_top, "shaders")
    args.backend = args.backend + [f"--shader-cache={cache}"]
    backend, sock, sock_dir, log = start_backend(args, log_dir, env)
    g = Guest(image, os.path.join(log_dir, "guest.log"), gpu="vhost-user", socket_path=sock,
              host_root=True)
    try:
        boot = g.start()
        st, out = g.run("dmesg | grep 'features: +virgl'")
        tap.result(st == 0, "the guest kernel reports +virgl", f"boot {boot:.1f} s; {out.strip()}")
        st, out = g.run(f"chroot /host {args.virgl} /dev/dri/renderD128", timeout=300)
        m = re.search(r"GLPROBE renderer=(.*) version=(.*) mismatches=(\d+)", out)
        ok = st == 0 and m is not None and "virgl" in m.group(1) and m.group(3) == "0"
        tap.result(ok, "guest GLES program renders the exact image through virgl",
                   out.strip() or f"exit {st}")
        # kmscube stops on input: give it a FIFO whose writer never writes.
        st, out = g.run("chroot /host sh -c 'rm -f /dev/shm/hold; mkfifo /dev/shm/hold; "
                        "sleep 300 >/dev/shm/hold 2>/dev/null & "
                        "kmscube -D /dev/dri/card0 -c 60 </dev/shm/hold; st=$?; kill $!; exit $st' "
                        "2>&1 | tail -n 5", timeout=300)
        m = re.search(r"Rendered (\d+) frames", out)
        tap.result(st == 0 and m is not None and int(m.group(1)) >= 59,
                   "kmscube runs 60 frames on the virgl device", out.strip())
        # Compiled shaders were kept, written after the sandbox closed in
        # (by its user): without that every shader is compiled anew.
        entries = [os.path.join(r, f) for r, _, fs in
                   os.walk(os.path.join(cache, "mesa_shader_cache")) for f in fs if f != "index"]
        owners = {os.stat(e).st_uid for e in entries}
        want_uid = 65534 if os.geteuid() == 0 else os.geteuid()
        tap.result(len(entries) > 0 and owners == {want_uid},
                   "the sandboxed daemon keeps compiled shaders in --shader-cache",
                   f"{len(entries)} entries under {cache}, owned by {sorted(owners)}")
        name = "a 3D scanout reaches the display exactly as the guest reads it back"
        try:
            g.check(f"(chroot /host {args.virgl} --scanout /dev/dri/card0 "
                    ">/host/dev/shm/gp.log 2>&1 &); true")
            want, deadline = None, time.monotonic() + 120
            while want is None and time.monotonic() < deadline:
                m = re.search(r"GLPROBE-SCANOUT (\d+)x(\d+) fnv=([0-9a-f]+) mismatches=(\d+)",
                              g.check("cat /host/dev/shm/gp.log"))
                if m and m.group(4) != "0":
                    raise GuestError("the guest's own readback is wrong: " + m.group(0))
                if m:
                    want = (int(m.group(1)), int(m.group(2)), int(m.group(3), 16))
                else:
                    time.sleep(0.5)
            if want is None:
                raise GuestError("glprobe --scanout: " + g.check("cat /host/dev/shm/gp.log"))
            got = None
            while time.monotonic() < deadline:
                w, h, rgb = g.screendump(os.path.join(log_dir, "virgl-scanout.ppm"))
                got = (w, h, fnv1a(rgb))
                if got == want:
                    break
                time.sleep(0.5)
            tap.result(got == want, name,
                       f"guest readback {want[0]}x{want[1]} fnv {want[2]:08x}; "
                       f"screendump {got[0]}x{got[1]} fnv {got[2]:08x}")
            vnc = option_value(args.backend, "--vnc")
            if vnc and args.vncgrab:
                # The same 3D scanout (virgl's readback) through the VNC console.
                vname = "VNC console: a VNC client's frame of the 3D scanout equals the guest's"
                out, shot = os.path.join(log_dir, "virgl-vnc.ppm"), None
                while time.monotonic() < deadline:
                    if subprocess.run([args.vncgrab, vnc, out], capture_output=True,
                                      timeout=30).returncode == 0:
                        shot = read_ppm(out)
                        if (shot[0], shot[1], fnv1a(shot[2])) == want:
                            break
                    time.sleep(0.5)
                seen = (shot[0], shot[1], fnv1a(shot[2])) if shot else None
                tap.result(seen == want, vname, f"VNC frame {seen}, guest readback {want}")
            g.run("killall glprobe; true")
        except GuestError as e:
            tap.result(False, name, str(e))
    except GuestError as e:
        tap.result(False, "virgl guest scenario", str(e))
    finally:
        status = stop_all(g, backend, log, sock_dir)
        shutil.rmtree(cache_top, ignore_errors=True)
    return finish(tap, status)



def option_value(backend_cmd, name):
    """The value a kohlrabi command line gives option name, or None."""
    for i, a in enumerate(backend_cmd):
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
        if a == name and i + 1 < len(backend_cmd):
            return backend_cmd[i + 1]
    return None


def screenshot_dir(backend_cmd):
    return option_value(backend_cmd, "--screenshot-dir")


def vnc_frame(name, g, vncgrab, vnc, mode, expect, log_dir, tap):
    """modetest at mode; a VNC client's frame (vncgrab) must equal the
    reference, as QEMU's screendump of the same guest does."""
    show_pattern(g, mode[0], mode[1], os.path.join(log_dir, "vnc.ppm"), expect=expect)
    out = os.path.join(log_dir, f"vnc-{mode[0]}x{mode[1]}.ppm")
    deadline, shot, err = time.monotonic() + 20, None, ""
    while time.monotonic() < deadline:
        p = subprocess.run([vncgrab, vnc if ":" in vnc else f"127.0.0.1:{vnc}", out],
                           capture_output=True, text=True, timeout=30)
        err = p.stderr
        if p.returncode == 0:
            shot = read_ppm(out)
            if shot == expect:
                break
        time.sleep(0.5)
    d = diff(shot, expect) if shot else f"vncgrab: {err.strip()}"
    tap.result(not d, name, d or f"{mode[0]}x{mode[1]}: identical to the reference")


def backend_screenshot(name, backend, shot_dir, expect, log_dir, tap):
    """SIGUSR1 to the backend: the PNG it writes of scanout 0 must equal the
    reference (QEMU's in-process device showing the same pattern)."""
    os.makedirs(shot_dir, exist_ok=True)
    before = set(os.listdir(shot_dir))
    backend.send_signal(signal.SIGUSR1)
    new = []
    deadline = time.monotonic() + 10
    while not new and time.monotonic() < deadline:
        new = [f for f in os.listdir(shot_dir) if f not in before and f.endswith(".png")]
        time.sleep(0.1)
    if not new:
        tap.result(False, name, f"no new PNG in {shot_dir} within 10 s")
        return
    shot = read_png(os.path.join(shot_dir, sorted(new)[0]))
    d = diff(shot, expect)
    if d:
        write_png(os.path.join(log_dir, "sigusr1-expected.png"), *expect)
    tap.result(not d and sorted(new)[0].startswith("scanout-0-"), name,
               d or f"{sorted(new)[0]}: {shot[0]}x{shot[1]}, identical to the reference")


# Linux key codes of the letters typed (linux/input-event-codes.h).
KEYS = {"k": 37, "o": 24, "h": 35, "l": 38, "r": 19, "a": 30, "b": 48, "i": 23}


def typed_keys(g, word, type_it):
    """Open the guest's evdev node of kohlrabi's input device, run
    type_it(), and return (node, key codes pressed in order, error)."""
    ev = g.check("for e in /sys/class/input/event*; do grep -q kohlrabi $e/device/name && "
                 "basename $e; done; true").strip()
    if not ev:
        return None, [], "no input device named kohlrabi in the guest:\n" + \
            g.check("cat /proc/bus/input/devices")
    g.check(f"(cat /dev/input/{ev} > /tmp/ev.bin &); true")
    # Events reach only readers that have the node open: wait until cat has.
    g.check(f"for i in $(seq 50); do ls -l /proc/$(pidof cat)/fd 2>/dev/null | grep -q {ev} "
            "&& break; sleep 0.1; done; ls -l /proc/$(pidof cat)/fd | grep -q " + ev)
    err = type_it()
    got = []
    for _ in range(40):
        raw = bytes.fromhex(g.check("hexdump -v -e '1/1 \"%02x\"' /tmp/ev.bin; echo").strip())
        got = [int.from_bytes(raw[i + 18:i + 20], "little") for i in range(0, len(raw) - 23, 24)
               if int.from_bytes(raw[i + 16:i + 18], "little") == 1  # EV_KEY
               and int.from_bytes(raw[i + 20:i + 24], "little") == 1  # pressed
               and int.from_bytes(raw[i + 18:i + 20], "little") < 0x100]  # keys, not BTN_*
        if len(got) >= len(word):
            break
        time.sleep(0.25)
    g.run("killall cat")
    return ev, got, err


def vnc_typing(name, g, vncgrab, vnc, tap):
    """A VNC client types a word; the guest's evdev node of the input device
    delivers those key presses, in order."""
    word = "kohlrabi"

    def type_it():
        p = subprocess.run([vncgrab, vnc if ":" in vnc else f"127.0.0.1:{vnc}", "--type", word],
                           capture_output=True, text=True, timeout=30)
        return None if p.returncode == 0 else "vncgrab: " + p.stderr.strip()

    ev, got, err = typed_keys(g, word, type_it)
    want = [KEYS[c] for c in word]
    tap.result(not err and got == want, name,
               err or f"{ev}: key presses {got} (typed '{word}': {want})")


def web_console(name, g, vnc, expect, log_dir, tap):
    """noVNC (Debian's novnc, through websockify) in headless Chromium: the
    page's canvas shows the guest's frame (a browser screenshot compared
    with the reference) and keys typed into the page reach the guest."""
    import cdp
    from guest import read_png

    port = vnc.rsplit(":", 1)[-1]
    web = subprocess.Popen(["websockify", "--web", "/usr/share/novnc", "127.0.0.1:6087",
                            f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                           stderr=open(os.path.join(log_dir, "websockify.log"), "w"))
    browser = None
    try:
        show_pattern(g, expect[0], expect[1], os.path.join(log_dir, "web.ppm"), expect=expect)
        browser = cdp.Chromium()
        browser.call("Page.enable")
        browser.call("Page.navigate", {"url": "http://127.0.0.1:6087/vnc_lite.html?"
                                               "host=127.0.0.1&port=6087"})
        rect, shot = None, None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rect = browser.evaluate(
                "(() => { const c = document.querySelector('canvas'); if (!c) return null;"
                " const r = c.getBoundingClientRect();"
                " return [c.width, c.height, r.x, r.y]; })()")
            if rect and rect[0] == expect[0] and rect[1] == expect[1]:
                png = base64.b64decode(browser.call("Page.captureScreenshot", {
                    "format": "png", "captureBeyondViewport": True,
                    "clip": {"x": rect[2], "y": rect[3], "width": rect[0], "height": rect[1],
                             "scale": 1}})["data"])
                path = os.path.join(log_dir, "web-console.png")
                open(path, "wb").write(png)
                shot = read_png(path)
                if shot == expect:
                    break
            time.sleep(0.5)
        d = diff(shot, expect) if shot else f"no {expect[0]}x{expect[1]} canvas (saw {rect})"
        tap.result(not d, name + ": the page shows the guest's frame",
                   d or f"{expect[0]}x{expect[1]} canvas at {rect[2]:.0f},{rect[3]:.0f}: "
                   "identical to the reference")

        word = "kohlrabi"

        def type_it():
            cx, cy = rect[2] + 10, rect[3] + 10  # focus the canvas
            for kind in ("mousePressed", "mouseReleased"):
                browser.call("Input.dispatchMouseEvent", {"type": kind, "x": cx, "y": cy,
                                                          "button": "left", "clickCount": 1})
            for c in word:
                key = {"key": c, "code": "Key" + c.upper(), "text": c,
                       "windowsVirtualKeyCode": ord(c.upper())}
                browser.call("Input.dispatchKeyEvent", {"type": "keyDown", **key})
                browser.call("Input.dispatchKeyEvent", {"type": "keyUp", **key})
            return None

        ev, got, err = typed_keys(g, word, type_it)
        want = [KEYS[c] for c in word]
        tap.result(not err and got == want, name + ": keys typed into the page reach the guest",
                   err or f"{ev}: key presses {got} (typed '{word}': {want})")
    except (cdp.CdpError, OSError) as e:
        tap.result(False, name, str(e))
    finally:
        if browser:
            browser.close()
        web.terminate()
        web.wait()


def prepare(cache, log_dir, prefix):
    """The log directory (a new one under /tmp without log_dir) and the test
    guest, built (or taken from the cache) by scripts/build-guest."""
    log_dir = log_dir or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(log_dir, exist_ok=True)
    subprocess.run([os.path.join(TOP, "scripts", "build-guest"), cache], check=True,
                   stdout=sys.stderr)
    return log_dir, os.path.join(cache, "guest")

def generic_main(args, image, log_dir, tap):
    """QEMU 11.1 (from the trixie root) with its generic vhost-user device on
    the backend: no display socket, every device feature reaches the guest.
    The guest's kernel reports blobs and the host-visible region; what it
    shows is seen through the backend's own console (VNC, SIGUSR1)."""
    subprocess.run([os.path.join(TOP, "scripts", "build-trixie"), args.cache], check=True,
                   stdout=sys.stderr)
    root = os.path.join(args.cache, "trixie")
    qemu = trixie_qemu(root)
    ver = subprocess.run(qemu + ["--version"], capture_output=True, text=True).stdout
    print(f"# {ver.splitlines()[0] if ver else 'no QEMU in the trixie root'}", flush=True)
    refs = references(image, args.cache, log_dir, modes=[(1280, 800)])
    expect = refs[(1280, 800)]
    vnc = option_value(args.backend, "--vnc")
    backend, sock, sock_dir, log = start_backend(args, log_dir)
    g = Guest(image, os.path.join(log_dir, "guest.log"), gpu="generic", socket_path=sock,
              qemu=qemu)
    try:
        boot = g.start()
        st, out = g.run("dmesg | grep 'features:'")
        ok = st == 0 and "+resource_blob" in out and "+host_visible" in out
        tap.result(ok, "generic device: the guest kernel reports blobs and the host-visible "
                   "region", f"boot {boot:.1f} s; " + " | ".join(out.split("\n")[:2]))
        name = "generic device: the guest's modetest pattern, seen over VNC, equals the reference"
        conn = connector(g)
        g.check(f"(sleep 100000 | modetest -M virtio_gpu -s {conn}:1280x800 "
                ">/tmp/mt.log 2>&1 &); true")
        out_ppm, shot = os.path.join(log_dir, "generic-vnc.ppm"), None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if vnc and args.vncgrab and subprocess.run(
                    [args.vncgrab, vnc, out_ppm], capture_output=True, timeout=30).returncode == 0:
                shot = read_ppm(out_ppm)
                if shot == expect:
                    break
            time.sleep(0.5)
        d = diff(shot, expect) if shot else "no VNC frame (is --vnc given?)"
        tap.result(not d, name, d or "1280x800: identical to the reference")
    except GuestError as e:
        tap.result(False, "generic device guest scenario", str(e))
    finally:
        status = stop_all(g, backend, log, sock_dir)
    return finish(tap, status)


def trixie_qemu(root):
    """QEMU 11.1 of the trixie root, run on this host with the root's loader."""
    return [os.path.join(TOP, "scripts", "trixie-run"), root, "/usr/bin/qemu-system-x86_64",
            "-L", os.path.join(root, "usr", "share", "qemu")]


def trixie_guest(args, log_dir, image, name):
    """kohlrabi built in the trixie root (scripts/trixie-build: virglrenderer
    1.1 with its render server) and run chrooted there (scripts/trixie-chroot)
    with --backend=NAME, under QEMU 11.1's generic vhost-user device; the
    guest sees the same root over 9p (Mesa 26's guest drivers)."""
    root = os.path.join(args.cache, "trixie")
    exe = os.path.join(TOP, "build-trixie-asan" if args.asan else "build-trixie", "kohlrabi")
    args.backend = [os.path.join(TOP, "scripts", "trixie-chroot"), root, exe, f"--backend={name}",
                    "--socket-path", "{socket}", "--log-level", "info"]
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"  # Mesa's allocations at exit
    backend, sock, sock_dir, log = start_backend(args, log_dir, env, f"backend-{name}.log")
    g = Guest(image, os.path.join(log_dir, f"guest-{name}.log"), gpu="generic", socket_path=sock,
              qemu=trixie_qemu(root), host_root=root)
    return g, (backend, log, sock_dir)


ICD = "VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/virtio_icd.json"


def check_features(g, tap, name, boot, capset=4):
    st, out = g.run("dmesg | grep -E 'features:|cap set'")
    ok = (st == 0 and "+resource_blob" in out and "+host_visible" in out
          and "+context_init" in out and re.search(rf"cap set \d+: id {capset},", out) is not None)
    tap.result(ok, f"{name}: the guest kernel reports blobs, context init, the host-visible "
               f"region and capset {capset}", f"boot {boot:.1f} s; " + " | ".join(out.split("\n")))


def check_vkcheck(g, tap, name, frames=30, icd=ICD, device="Venus"):
    """Compute into host-visible memory and rendered frames read back, every
    byte checked in the guest (tests/e2e/vk/vkcheck.c): the ring, the blobs
    mapped through the shared-memory region, fences retiring."""
    st, out = g.run(f"chroot /host env {icd} /usr/local/bin/kr-vkcheck --frames {frames} 2>&1",
                    timeout=300)
    m = re.search(r"VKCHECK device=(.*) driver=(\S+) .*compute_bytes=(\d+) "
                  r"compute_mismatches=(\d+) frames=(\d+) frame_bytes=(\d+) "
                  r"frame_mismatches=(\d+) fps=(\S+)", out)
    ok = (st == 0 and m is not None and device in m.group(1) and int(m.group(3)) > 0
          and m.group(4) == "0" and int(m.group(5)) == frames and int(m.group(6)) > 0
          and m.group(7) == "0")
    tap.result(ok, f"{name}: a guest Vulkan program's compute and rendered frames are exact",
               (m.group(0) if m else out.strip()[-400:]) or f"exit {st}")


def check_render_server(tap):
    """virglrenderer's render server and its Venus workers (forked per
    context) run confined: the sandbox's user, no_new_privs, a seccomp filter
    (mode 2), no capabilities; and they exist (a live Venus context)."""
    seen = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                st = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        except OSError:
            continue
        if st.get("Name", "").startswith("virgl_render_se"):
            seen.append((pid, st))
    ok = bool(seen) and all(
        st["Uid"].split()[0] != "0" and st["NoNewPrivs"] == "1" and st["Seccomp"] == "2"
        and int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0 for _, st in seen)
    tap.result(ok, "venus: the render server's processes run sandboxed (user, no_new_privs, "
               "seccomp, no capabilities)", " | ".join(
                   f"pid {p} uid {st['Uid'].split()[0]} nnp {st['NoNewPrivs']} seccomp "
                   f"{st['Seccomp']} capeff {st['CapEff']}" for p, st in seen) or "none found")


def venus_main(args, log_dir, image, tap):
    """Vulkan (Venus) and GL (virgl) in real guests on QEMU 11.1's generic
    vhost-user device: --backend=venus, then --backend=virgl (GL with blobs
    and context init, Vulkan beside it in the same guest)."""
    build = ["--asan"] if args.asan else []
    subprocess.run([os.path.join(TOP, "scripts", "trixie-build"), *build, args.cache],
                   check=True, stdout=sys.stderr)
    g, b = trixie_guest(args, log_dir, image, "venus")
    try:
        check_features(g, tap, "venus", g.start())
        st, out = g.run(f"chroot /host env {ICD} vulkaninfo --summary 2>&1 | "
                        "grep -E 'deviceName|driverName|driverInfo'", timeout=300)
        ok = st == 0 and "Virtio-GPU Venus" in out and re.search(r"driverName\s*=\s*venus", out)
        tap.result(bool(ok), "venus: vulkaninfo in the guest names the Venus device",
                   " | ".join(x.strip() for x in out.split("\n")))
        check_vkcheck(g, tap, "venus")
        check_render_server(tap)
        # The blob, map and ring families from a hostile guest program
        # (tests/e2e/virtgpu_hostile.c, DRM ioctls), then Vulkan again.
        st, out = g.run("chroot /host /usr/local/bin/kr-virtgpu-hostile 2>&1", timeout=300)
        m = re.search(r"HOSTILE passed=(\d+) failed=(\d+)", out)
        ok = st == 0 and m is not None and int(m.group(1)) >= 5 and m.group(2) == "0"
        tap.result(ok, "venus: a hostile guest's blobs, maps and ring submissions get the "
                   "right answers", " | ".join(x for x in out.split("\n") if x.startswith(
                       ("case", "HOSTILE"))) or f"exit {st}")
        check_vkcheck(g, tap, "venus, after the hostile program", frames=5)
    except GuestError as e:
        tap.result(False, "venus guest scenario", str(e))
    finally:
        status = stop_all(g, *b)
    tap.result(status == 0, "venus: backend exits 0 when the frontend disconnects",
               f"exit status {status}")
    g, b = trixie_guest(args, log_dir, image, "virgl")
    try:
        check_features(g, tap, "virgl", g.start())
        st, out = g.run("chroot /host /usr/local/bin/kr-glprobe /dev/dri/renderD128 2>&1",
                        timeout=300)
        m = re.search(r"GLPROBE renderer=(.*) version=(.*) mismatches=(\d+) glerror=(\S+)", out)
        ok = (st == 0 and m is not None and "virgl" in m.group(1) and m.group(3) == "0"
              and m.group(4) == "0x0")
        tap.result(ok, "virgl: a guest GLES program renders the exact image (blobs, context "
                   "init on)", (m.group(0) if m else out.strip()[-400:]) or f"exit {st}")
        check_vkcheck(g, tap, "virgl", frames=5)
    except GuestError as e:
        tap.result(False, "virgl guest scenario", str(e))
    finally:
        status = stop_all(g, *b)
    if args.host_kohlrabi and os.environ.get("KOHLRABI_GFXSTREAM_LIB"):
        tap.result(status == 0, "virgl: backend exits 0 when the frontend disconnects",
                   f"exit status {status}")
        status = gfxstream_main(args, log_dir, image, tap)
    elif args.host_kohlrabi:
        gfxstream_main(args, log_dir, image, tap)  # says it is not run
    return finish(tap, status)


def gfxstream_main(args, log_dir, image, tap):
    """gfxstream (Vulkan, capset 3) in a real guest on QEMU 11.1's generic
    device: kohlrabi --backend=gfxstream with the host library that
    KOHLRABI_GFXSTREAM_LIB names (built locally from gfxstream's public
    source; not packaged, never committed), Mesa's gfxstream guest driver
    from KOHLRABI_GFXSTREAM_GUEST_ROOT (default: the trixie root) over 9p,
    the host library's Vulkan on KOHLRABI_GFXSTREAM_VK_ICD (default
    lavapipe).  Without a library it is reported as not run."""
    lib = os.environ.get("KOHLRABI_GFXSTREAM_LIB")
    if not lib:
        print("# gfxstream in a real guest: not run (KOHLRABI_GFXSTREAM_LIB names no gfxstream "
              "host library; build one from gfxstream's public source to run it)", flush=True)
        return None
    root = os.path.join(args.cache, "trixie")
    subprocess.run([os.path.join(TOP, "scripts", "build-trixie"), args.cache], check=True,
                   stdout=sys.stderr)
    guest_root = os.environ.get("KOHLRABI_GFXSTREAM_GUEST_ROOT", root)
    icd = os.environ.get("KOHLRABI_GFXSTREAM_VK_ICD",
                         "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json")
    args.backend = ["env", f"VK_ICD_FILENAMES={icd}", args.host_kohlrabi, "--backend=gfxstream",
                    f"--gfxstream-lib={lib}", "--socket-path", "{socket}", "--log-level", "info"]
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=1"  # the library's allocations
    backend, sock, sock_dir, log = start_backend(args, log_dir, env)
    g = Guest(image, os.path.join(log_dir, "guest.log"), gpu="generic", socket_path=sock,
              qemu=trixie_qemu(root), host_root=guest_root)
    gicd = "VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/gfxstream_vk_icd.json"
    try:
        check_features(g, tap, "gfxstream", g.start(), capset=3)
        st, out = g.run(f"chroot /host env {gicd} vulkaninfo --summary 2>&1 | "
                        "grep -E 'deviceName|driverName|driverInfo'", timeout=300)
        tap.result(st == 0 and "deviceName" in out,
                   "gfxstream: vulkaninfo in the guest names a device",
                   " | ".join(x.strip() for x in out.split("\n")))
        check_vkcheck(g, tap, "gfxstream", icd=gicd, device="")
    except GuestError as e:
        tap.result(False, "gfxstream guest scenario", str(e))
    finally:
        status = stop_all(g, backend, log, sock_dir)
    return status


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", default=default_cache())
    ap.add_argument("--log-dir", default=None)
    ap.add_argument("--only", default=None, help="run only tests whose name contains this")
    ap.add_argument("--virgl", metavar="GLPROBE", default=None,
                    help="run the virgl scenario with this guest GL program instead")
    ap.add_argument("--vncgrab", help="tests/e2e/vncgrab, to check the backend's --vnc console")
    ap.add_argument("--generic", action="store_true",
                    help="QEMU 11.1's generic vhost-user device (scripts/build-trixie)")
    ap.add_argument("--venus", action="store_true",
                    help="Venus in a real guest (scripts/trixie-build; the backend command "
                    "is the trixie build's)")
    ap.add_argument("--host-kohlrabi", default=None,
                    help="with --venus: this build's daemon, for gfxstream in a real guest "
                    "after Venus and virgl (only with KOHLRABI_GFXSTREAM_LIB)")
    ap.add_argument("--asan", action="store_true",
                    help="with --venus: the trixie root's ASan + UBSan build")
    ap.add_argument("backend", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    if not args.backend and not args.venus:
        ap.error("give the backend command")
    if not os.path.exists(QEMU):
        print("Bail out! qemu-system-x86_64 missing: run scripts/install-deps guest")
        return 1
    log_dir, image = prepare(args.cache, args.log_dir, "kr-e2e-")
    tap = Tap()
    print(f"# {qemu_version()}; logs in {log_dir}", flush=True)
    if args.virgl:
        return virgl_main(args, image, log_dir, tap)
    if args.generic:
        return generic_main(args, image, log_dir, tap)
    if args.venus:
        return venus_main(args, log_dir, image, tap)

    t0 = time.monotonic()
    refs = references(image, args.cache, log_dir)
    print(f"# references ready in {time.monotonic() - t0:.1f} s", flush=True)

    sock_dir = tempfile.mkdtemp(prefix="kr-e2e-sock-")
    sock = os.path.join(sock_dir, "gpu.sock")
    cmd = [a.replace("{socket}", sock) for a in args.backend]
    if screenshot_dir(cmd):
        # The sandboxed daemon writes there as its own user (nobody when
        # this runs as root).
        os.makedirs(screenshot_dir(cmd), exist_ok=True)
        os.chmod(screenshot_dir(cmd), 0o777)
    backend_log = open(os.path.join(log_dir, "backend.log"), "w")
    backend = subprocess.Popen(cmd, stdout=backend_log, stderr=subprocess.STDOUT)
    for _ in range(200):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    input_sock = option_value(cmd, "--input-socket")
    g = Guest(image, os.path.join(log_dir, "guest.log"), gpu="vhost-user", socket_path=sock,
              input_socket=input_sock)

    def want(name):
        return not args.only or args.only in name

    def compare(name, mode, label):
        shot = show_pattern(g, mode[0], mode[1], os.path.join(log_dir, f"{label}.ppm"),
                            expect=refs[mode])
        d = diff(shot, refs[mode])
        if d:
            write_png(os.path.join(log_dir, f"{label}.png"), *shot)
            write_png(os.path.join(log_dir, f"{label}-expected.png"), *refs[mode])
        tap.result(not d, name, d or f"{mode[0]}x{mode[1]}: identical to the reference")

    try:
        try:
            boot = g.start()
            bound = g.run("ls /sys/class/drm/card0 >/dev/null && dmesg | grep -c 'virtio_gpu\\|virtio-pci'")
            tap.result(bound[0] == 0, "boot: the guest's virtio-gpu driver binds",
                       f"boot to userspace in {boot:.1f} s")
        except GuestError as e:
            tap.result(False, "boot: the guest's virtio-gpu driver binds", str(e))
            raise
        steps = [
            ("modetest 1280x800 pattern matches the reference",
             lambda n: compare(n, (1280, 800), "1280x800")),
        ]
        shot_dir = screenshot_dir(args.backend)
        if shot_dir:
            steps.append(("SIGUSR1: the backend's own screenshot equals the reference",
                          lambda n: backend_screenshot(n, backend, shot_dir,
                                                       refs[(1280, 800)], log_dir, tap)))
        vnc = option_value(args.backend, "--vnc")
        if vnc and args.vncgrab:
            for mode in [(1280, 800), (640, 480)]:
                steps.append((f"VNC console: a VNC client's frame equals the reference at "
                              f"{mode[0]}x{mode[1]}",
                              lambda n, m=mode: vnc_frame(n, g, args.vncgrab, vnc, m, refs[m],
                                                          log_dir, tap)))
        if vnc and args.vncgrab and input_sock:
            steps.append(("VNC keys reach the guest through the input device",
                          lambda n: vnc_typing(n, g, args.vncgrab, vnc, tap)))
        if vnc and input_sock and shutil.which("chromium") and shutil.which("websockify"):
            steps.append(("web console (noVNC in headless Chromium)",
                          lambda n: web_console(n, g, vnc, refs[(1280, 800)], log_dir, tap)))
        steps.append(("modetest 640x480 pattern matches the reference",
                      lambda n: compare(n, (640, 480), "640x480")))
        for name, fn in steps:
            if want(name):
                try:
                    fn(name)
                except GuestError as e:
                    tap.result(False, name, str(e))

        name = "cursor reaches the display path (modetest -C)"
        if want(name):
            try:
                before = open(os.path.join(log_dir, "backend.log")).read().count("cursor:")
                show_pattern(g, 1280, 800, os.path.join(log_dir, "cursor.ppm"), "-C",
                             expect=refs[(1280, 800)])
                time.sleep(2)
                stop_modetest(g)
                time.sleep(0.5)
                log = open(os.path.join(log_dir, "backend.log")).read()
                shapes = log.count("cursor: shape")
                moves = log.count("cursor:") - before
                tap.result(shapes > 0 and moves > 1, name,
                           f"{shapes} cursor shapes and {moves} cursor events sent to the frontend")
            except GuestError as e:
                tap.result(False, name, str(e))

        name = "virtio-gpu module unload and reload"
        if want(name):
            try:
                stop_modetest(g)
                g.check("rmmod virtio_gpu")
                gone = g.run("ls /sys/class/drm/card0")[0] != 0
                g.check("insmod /lib/modules/virtio-gpu.ko")
                g.check("for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /dev/dri/card0 ] && break; sleep 0.5; done; [ -e /dev/dri/card0 ]")
                if not gone:
                    tap.result(False, name, "card0 still there after rmmod")
                else:
                    compare(name, (1280, 800), "reload")
            except GuestError as e:
                tap.result(False, name, str(e))

        name = "guest reboot"
        if want(name):
            try:
                stop_modetest(g)
                secs = g.reboot()
                print(f"# rebooted in {secs:.1f} s", flush=True)
                compare(name, (1280, 800), "reboot")
            except GuestError as e:
                tap.result(False, name, str(e))
    except GuestError:
        pass
    finally:
        status = stop_all(g, backend, backend_log, sock_dir)
    print(f"# logs in {log_dir}", flush=True)
    return finish(tap, status)


if __name__ == "__main__":
    sys.exit(main())
