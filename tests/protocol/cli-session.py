#!/usr/bin/env python3
"""The daemon as users start it: --gpu keys in any order, socket paths that are
live or stale, systemd socket activation, and where the log goes (stderr with
time and pid, the journal's priority prefix, syslog when stderr is /dev/null).

Usage: cli-session.py KOHLRABI.  TAP on stdout."""
import fcntl
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

KR = os.path.abspath(sys.argv[1])
TMP = tempfile.mkdtemp(prefix="kr-cli-")
n = failed = 0


def result(ok, name, diag=""):
    global n, failed
    n += 1
    print(f"{'ok' if ok else 'not ok'} {n} - {name}", flush=True)
    if not ok:
        failed += 1
        print(f"cli-session: FAILED: {name}: {diag[-2000:]}", file=sys.stderr, flush=True)


def hung_up(*args, env=None):
    """Run the daemon on a connected socket whose peer is gone: it starts,
    logs its configuration, sees the hang-up and exits."""
    a, b = socket.socketpair()
    b.close()
    p = subprocess.run([KR, "--fd", str(a.fileno()), "--log-level=info", "--log=stderr", *args],
                       pass_fds=[a.fileno()], stderr=subprocess.PIPE, text=True, timeout=20,
                       env=env)
    a.close()
    return p.returncode, p.stderr


def config_line(err):
    m = re.search(r"info: kohlrabi \S+: (.*)", err)
    return m.group(1) if m else None


# --- --gpu: every key first, in the middle and last -----------------------------
KEYS = {  # key: (value, what the configuration line then says)
    "backend": ("2d", "backend 2d,"),
    "width": ("1024", "of 1024x"),
    "height": ("600", "x600,"),
    "displays": ("2", "2 displays"),
    "edid": ("false", "EDID off"),
    "max-hostmem": ("64M", "max-hostmem 64 MiB"),
}
for key, (val, want) in KEYS.items():
    others = [f"{k}={v}" for k, (v, _) in KEYS.items() if k != key]
    for pos, where in ((0, "first"), (len(others) // 2, "in the middle"), (len(others), "last")):
        spec = others[:pos] + [f"{key}={val}"] + others[pos:]
        st, err = hung_up("--gpu", ",".join(spec))
        line = config_line(err) or ""
        ok = st == 0 and all(w in line for _, w in KEYS.values())
        result(ok, f"--gpu {key} {where}", f"exit {st}: {err}")
st, err = hung_up("--gpu", "backend=gfxstream,width=800", "--gfxstream-lib=/nonexistent/lib.so")
result(st == 1 and "cannot load /nonexistent/lib.so" in err and "gfxstream,width" not in err,
       "--gpu backend=gfxstream,... names the backend alone", err)
st, err = hung_up()
result(st == 0 and re.search(r"info: frontend disconnected", err) is not None
       and "warn" not in err, "a frontend hang-up is info, not a warning", err)

# --- log lines -----------------------------------------------------------------------
stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} kohlrabi\[(\d+)\]: (error|warn|info|debug): ")
lines = [ln for ln in err.splitlines() if ln]
result(lines != [] and all(stamp.match(ln) for ln in lines), "stderr lines carry time, pid, level",
       err)


def journal_run():
    a, b = socket.socketpair()
    b.close()
    r, w = os.pipe()
    st = os.fstat(w)
    env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    p = subprocess.Popen([KR, "--fd", str(a.fileno()), "--log-level=info"], pass_fds=[a.fileno()],
                         stderr=w, env=env)
    os.close(w)
    a.close()
    out = b""
    while chunk := os.read(r, 4096):
        out += chunk
    os.close(r)
    return p.wait(timeout=20), out.decode()


st, err = journal_run()
lines = [ln for ln in err.splitlines() if ln]
result(st == 0 and lines != [] and all(re.match(r"^<[3-7]>(error|warn|info|debug): ", ln)
                                       for ln in lines) and "<6>info: frontend disconnected" in err,
       "under the journal: priority prefix, no own timestamp", err)

# --- socket paths ----------------------------------------------------------------------


def wait_for(path, proc, secs=10):
    end = time.monotonic() + secs
    while not os.path.exists(path) and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.02)
    return os.path.exists(path)


def connect(path, proc, secs=10):
    """Connect once the daemon listens (the path may exist before: stale)."""
    end = time.monotonic() + secs
    while True:
        c = socket.socket(socket.AF_UNIX)
        c.settimeout(10)
        try:
            c.connect(path)
            return c
        except (ConnectionRefusedError, FileNotFoundError):
            c.close()
            if proc.poll() is not None or time.monotonic() > end:
                raise
            time.sleep(0.02)


def vhost_get_features(sock):
    """One vhost-user round trip: GET_FEATURES (1), the reply's u64."""
    sock.sendall(struct.pack("<III", 1, 1, 0))
    hdr = b""
    while len(hdr) < 20:
        chunk = sock.recv(20 - len(hdr))
        if not chunk:
            return None
        hdr += chunk
    req, flags, size, feats = struct.unpack("<IIIQ", hdr)
    return feats if req == 1 and flags & 0x4 and size == 8 else None


path = os.path.join(TMP, "live.sock")
first = subprocess.Popen([KR, "-s", path, "--log=stderr"], stderr=subprocess.PIPE, text=True)
try:
    up = wait_for(path, first)
    p = subprocess.run([KR, "-s", path, "--log=stderr"], stderr=subprocess.PIPE, text=True,
                       timeout=20)
    result(up and p.returncode == 1 and "another process is serving" in p.stderr,
           "a live socket is refused with what to do", p.stderr)
    alive = first.poll() is None
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(10)
    c.connect(path)
    feats = vhost_get_features(c)
    c.close()
    result(alive and feats is not None and feats & (1 << 32),
           "the first daemon outlived the check and serves", f"features {feats}")
finally:
    first.terminate()
    first.wait(timeout=20)

stale = os.path.join(TMP, "stale.sock")
s = socket.socket(socket.AF_UNIX)
s.bind(stale)
s.close()
p = subprocess.Popen([KR, "-s", stale, "--log=stderr", "--log-level=info"],
                     stderr=subprocess.PIPE, text=True)
try:
    c = connect(stale, p)
    ok = vhost_get_features(c) is not None
    c.close()
finally:
    p.terminate()
    p.wait(timeout=20)
result(ok, "a stale socket is taken over")
p = subprocess.run([KR, "-s", "", "--log=stderr"], stderr=subprocess.PIPE, text=True, timeout=20)
result(p.returncode == 2 and "--socket-path wants a path" in p.stderr, "-s '' is refused",
       p.stderr)

# --- systemd socket activation -------------------------------------------------------


def activated(nfds, *args):
    path = os.path.join(TMP, f"act{nfds}.sock")
    if os.path.exists(path):
        os.unlink(path)
    lst0 = socket.socket(socket.AF_UNIX)
    lst0.bind(path)
    lst0.listen(1)
    orig = lst0.detach()  # off fds 3.., which are the daemon's
    lst = socket.socket(fileno=fcntl.fcntl(orig, fcntl.F_DUPFD_CLOEXEC, 20))
    os.close(orig)
    fds = []
    for i in range(nfds):  # fds 3.. as systemd passes them
        os.dup2(lst.fileno(), 3 + i, inheritable=True)
        fds.append(3 + i)
    # LISTEN_PID is the daemon's own pid, as systemd sets it after fork: sh execs it.
    p = subprocess.Popen(["sh", "-c", f'LISTEN_PID=$$ LISTEN_FDS={nfds} exec "$0" "$@"', KR,
                          "--log=stderr", "--log-level=info", *args],
                         pass_fds=fds, stderr=subprocess.PIPE, text=True)
    for fd in fds:
        os.close(fd)
    return p, lst, path


p, lst, path = activated(1)
try:
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(10)
    c.connect(path)
    feats = vhost_get_features(c)
    c.close()
finally:
    lst.close()
    st = p.wait(timeout=20)
err = p.stderr.read()
result(feats is not None and feats & (1 << 32) and st == 0
       and "socket systemd passed" in err, "socket activation: serves the passed socket", err)
p, lst, path = activated(2)
st = p.wait(timeout=20)
lst.close()
err = p.stderr.read()
result(st == 2 and "kohlrabi serves one" in err, "socket activation: two sockets are refused", err)


# --- syslog ----------------------------------------------------------------------------
def syslog_case():
    """In a private mount namespace: a tmpfs /dev with our own /dev/null and a
    /dev/log we read; the daemon's stderr is /dev/null and --log is auto."""
    script = r"""
import os, socket, subprocess, sys
kr = sys.argv[1]
subprocess.run(["mount", "-t", "tmpfs", "kr-dev", "/dev"], check=True)
os.mknod("/dev/null", 0o20666, os.makedev(1, 3))
log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
log.bind("/dev/log")
log.settimeout(10)
a, b = socket.socketpair()
b.close()
with open("/dev/null", "w") as null:
    st = subprocess.run([kr, "--fd", str(a.fileno()), "--log-level=info"], pass_fds=[a.fileno()],
                        stderr=null, timeout=20).returncode
got = []
try:
    while True:
        got.append(log.recv(4096).decode())
        log.settimeout(0.5)
except socket.timeout:
    pass
print(st)
print("\n".join(got))
"""
    try:
        p = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, "-c",
                            script, KR], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        return None
    if p.returncode != 0:
        return None
    return p.stdout


out = syslog_case()
if out is None:
    n += 1
    print(f"ok {n} - # SKIP no private mount namespace here (unshare -m) for a /dev/log", flush=True)
else:
    st, _, msgs = out.partition("\n")
    result(st.strip() == "0" and re.search(r"kohlrabi\[\d+\]: info: frontend disconnected", msgs)
           is not None, "stderr on /dev/null: the log goes to syslog", out)

# --- SIGUSR1: a screenshot, the daemon serves on ----------------------------------------


def sigusr1_case(*args):
    """A listening daemon gets SIGUSR1 and then SIGTERM: its log, its status."""
    sock = os.path.join(TMP, "usr1.sock")
    p = subprocess.Popen([KR, "-s", sock, "--log-level=info", "--log=stderr", *args],
                         stderr=subprocess.PIPE, text=True)
    try:
        if not wait_for(sock, p):
            return None, p.communicate(timeout=10)[1]
        # Both pending at once: signalfd hands out SIGUSR1 (10) before SIGTERM
        # (15); had SIGUSR1 killed the daemon, its status would say so (-10).
        p.send_signal(signal.SIGUSR1)
        p.send_signal(signal.SIGTERM)
        err = p.communicate(timeout=20)[1]
        return p.returncode, err
    finally:
        if p.poll() is None:
            p.kill()


st, err = sigusr1_case()
result(st == 0 and "SIGUSR1: no --screenshot-dir" in err,
       "SIGUSR1 without --screenshot-dir: a warning, the daemon serves on", err)
shots = os.path.join(TMP, "shots")
os.mkdir(shots)
st, err = sigusr1_case("--screenshot-dir", shots)
result(st == 0 and "no scanout shows anything" in err and not os.listdir(shots),
       "SIGUSR1 before any scanout: nothing written, said so", err)

print(f"1..{n}")
sys.exit(1 if failed else 0)
