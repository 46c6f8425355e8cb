#!/usr/bin/env python3
"""The daemon's sandbox against what a compromised kohlrabi would try.

A test build's daemon reads KOHLRABI_SANDBOX_TEST at start and, once the
sandbox is on, tries each action it names (src/cli/sandbox.c): execve, a TCP
socket, ptrace of its parent, mount, fork, opening a file.  Each must be
killed by seccomp (SIGSYS, the status says so) or refused (the log says with
what); none may succeed.  The controls: --sandbox=off lets the same actions
through (so these checks can fail), --sandbox=log names the call and goes on,
and the same binary without the trigger serves a frontend, with the state
/proc shows (no_new_privs, seccomp, no capabilities, an unprivileged user
when started as root).  TAP output.

Usage: sandbox.py KOHLRABI"""
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from guest import Tap  # noqa: E402

KR = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="kr-sandbox-")
os.chmod(TMP, 0o755)
tap = Tap()


def start(action=None, *args, env_extra=None):
    sock = os.path.join(TMP, f"gpu-{tap.n}.sock")
    env = dict(os.environ, **(env_extra or {}))
    env.pop("KOHLRABI_SANDBOX_TEST", None)
    if action:
        env["KOHLRABI_SANDBOX_TEST"] = action
    p = subprocess.Popen([KR, "-s", sock, "--log=stderr", "--log-level=info", *args],
                         stderr=subprocess.PIPE, text=True, env=env)
    return p, sock


def finish(p, wait=20):
    """The daemon's status and log: it either ended by itself (killed) or is
    told to end (SIGTERM) once it has had time to try everything."""
    try:
        err = p.communicate(timeout=wait)[1]
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)
        err = p.communicate(timeout=20)[1]
    return p.returncode, err


def run(action, *args, wait=3):
    p, _ = start(action, *args)
    return finish(p, wait)


def serves(sock, p, secs=10):
    """One vhost-user round trip (GET_FEATURES): the reply's u64, or None."""
    end = time.monotonic() + secs
    while not os.path.exists(sock) and p.poll() is None and time.monotonic() < end:
        time.sleep(0.02)
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(10)
    try:
        c.connect(sock)
        c.sendall(struct.pack("<III", 1, 1, 0))
        hdr = b""
        while len(hdr) < 20:
            chunk = c.recv(20 - len(hdr))
            if not chunk:
                return None
            hdr += chunk
        req, flags, size, feats = struct.unpack("<IIIQ", hdr)
        return feats if req == 1 and size == 8 else None
    except OSError:
        return None
    finally:
        c.close()


def status_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


KILLED = -signal.SIGSYS
secret = os.path.join(TMP, "secret")
with open(secret, "w") as f:
    f.write("not for the daemon\n")
os.chmod(secret, 0o644)  # its user may read it; Landlock must not let it

# Every action the seccomp policy must stop, in both builds (the sanitizer
# build allows ptrace for LeakSanitizer: there ptrace must be refused).
for action in ("execve", "socket", "mount", "fork", "ptrace"):
    st, err = run(action)
    killed = st == KILLED and f"sandbox test: trying {action}" in err
    refused = f"sandbox test: {action} refused" in err and action == "ptrace"
    tap.result((killed or refused) and "SUCCEEDED" not in err,
           f"{action} after setup: killed by SIGSYS" + (" (or refused)" if action == "ptrace" else ""),
           f"status {st}\n{err}")

# Files: Landlock refuses what lies outside the daemon's paths, whatever the
# file's mode says; the daemon serves on afterwards.
for path in ("/etc/shadow", secret):
    p, sock = start(f"open:{path}")
    feats = serves(sock, p)
    st, err = finish(p, wait=1)
    tap.result(f"sandbox test: open:{path} refused: Permission denied" in err and
           "SUCCEEDED" not in err and feats is not None and st == 0,
           f"open {path}: refused (EACCES), the daemon serves on", f"status {st}\n{err}")

# Controls.  Off: the same tries succeed (fork, socket, open).
st, err = run("socket,fork,open:" + secret, "--sandbox=off")
tap.result(st == 0 and err.count("SUCCEEDED") == 3 and "sandbox: off" in err,
       "--sandbox=off: the same actions succeed, and the log says the sandbox is off",
       f"status {st}\n{err}")
# Log: the call is named, fails with ENOSYS, the daemon goes on.
p, sock = start("socket", "--sandbox=log")
feats = serves(sock, p)
st, err = finish(p, wait=1)
tap.result(st == 0 and feats is not None and "sandbox: syscall socket (41) is not allowed" in err and
       "sandbox test: socket refused: Function not implemented" in err,
       "--sandbox=log: the call is named, fails with ENOSYS, the daemon serves on",
       f"status {st}\n{err}")

# The same binary without the trigger: serves, and /proc says how.
p, sock = start()
feats = serves(sock, p)
s = status_of(p.pid) if p.poll() is None else {}
fds = len(os.listdir(f"/proc/{p.pid}/fd")) if p.poll() is None else -1
st, err = finish(p, wait=1)
want_uid = "65534" if os.geteuid() == 0 else str(os.geteuid())
tap.result(feats is not None and feats & (1 << 32) and st == 0 and "sandbox: on" in err,
       "without the trigger the sandboxed daemon serves (GET_FEATURES)", f"status {st}\n{err}")
tap.result(s.get("NoNewPrivs") == "1" and s.get("Seccomp") == "2" and
       all(int(s.get(k, "1"), 16) == 0 for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")),
       "no_new_privs, a seccomp filter, no capabilities in any set", repr(s))
tap.result(s.get("Uid", "").split("\t")[0] == want_uid and s.get("Gid", "").split("\t")[0] == want_uid,
       f"runs as uid/gid {want_uid} (root switches to nobody)", repr(s))
print(f"# open file descriptors while serving one frontend: {fds}")
tap.result(0 < fds <= 32, "a handful of open file descriptors", str(fds))
tap.result(not os.path.exists(sock), "its socket is gone after exit (removed for it)", sock)

# --user: a user that is not there is refused at start, before serving.
st, err = run(None, "--user", "kr-no-such-user")
tap.result(st == 1 and "no user 'kr-no-such-user'" in err, "--user with an unknown user: refused",
       f"status {st}\n{err}")

# Mesa's shader cache (--shader-cache, virgl): the one place the sandboxed
# daemon writes compiled code that later daemons run, so it must be the
# sandbox user's and writable by no one else; anything else is refused with
# a warning (the daemon runs on, compiling anew), never used.
has_virgl = subprocess.run([KR, "--print-sandbox-policy=virgl"],
                           capture_output=True).returncode == 0
if has_virgl:
    def cache_run(path, *extra):
        # Mesa unloads its driver at exit; its allocations are nameless to
        # LeakSanitizer (as in the e2e virgl runs).
        p, sock = start(None, "--backend=virgl", f"--shader-cache={path}", *extra,
                        env_extra={"ASAN_OPTIONS": "detect_leaks=0"})
        feats = serves(sock, p, secs=30)
        st, err = finish(p, wait=1)
        return feats is not None and st == 0, err

    good = os.path.join(TMP, "sc", "shaders")
    ok, err = cache_run(good)
    info = os.stat(good) if os.path.isdir(good) else None
    mesa = [os.path.isdir(os.path.join(good, d)) for d in
            ("mesa_shader_cache", "mesa_shader_cache_sf", "mesa_shader_cache_db")]
    tap.result(ok and f"shader cache: {good}" in err and info is not None and
               str(info.st_uid) == want_uid and not info.st_mode & 0o007 and
               (all(mesa) if os.geteuid() == 0 else True),
               "--shader-cache: made for the sandbox's user, closed to others, used",
               f"{info and oct(info.st_mode)} uid {info and info.st_uid} mesa dirs {mesa}\n{err}")
    if os.geteuid() == 0:
        # The user's own directory with the user's group (as Mesa, running as
        # that user, would make it): the root phase must still be able to
        # write there, so it gets group root, and nothing else changes.
        own = os.path.join(TMP, "sc-own")
        os.mkdir(own, 0o700)
        os.chown(own, 65534, 65534)
        ok, err = cache_run(own)
        st = os.stat(own)
        tap.result(ok and f"shader cache: {own}" in err and st.st_uid == 65534 and
                   st.st_gid == 0 and st.st_mode & 0o777 == 0o770,
                   "--shader-cache of the user with its own group: group root for the root phase",
                   f"{oct(st.st_mode)} {st.st_uid}:{st.st_gid}\n{err}")
        grp = os.path.join(TMP, "sc-group")
        os.mkdir(grp)
        os.chown(grp, 65534, 4242)
        os.chmod(grp, 0o770)
    ww = os.path.join(TMP, "sc-world")
    os.mkdir(ww)
    os.chmod(ww, 0o777)
    link = os.path.join(TMP, "sc-link")
    os.symlink(good, link)
    cases = [(ww, "world-writable"), (link, "a symbolic link")]
    if os.geteuid() == 0:
        other = os.path.join(TMP, "sc-other")
        os.mkdir(other, 0o700)
        os.chown(other, 4242, 4242)
        cases.append((other, "another user's"))
        cases.append((grp, "writable by another group"))
    for path, what in cases:
        ok, err = cache_run(path)
        tap.result(ok and f"shader cache {path}: " in err and "compiled anew" in err and
                   f"shader cache: {path}" not in err,
                   f"--shader-cache {what}: refused with a warning, the daemon serves on",
                   err)
    ok, err = cache_run("off")
    tap.result(ok and "shader cache: off" in err, "--shader-cache=off: said, serves", err)
    r = subprocess.run([KR, "-s", os.path.join(TMP, "x.sock"), "--shader-cache=relative/dir"],
                       capture_output=True, text=True, timeout=20)
    tap.result(r.returncode == 2 and "--shader-cache wants off or an absolute directory" in r.stderr,
               "--shader-cache with a relative path: refused at start (usage, 2)", r.stderr)
else:
    print("# no virgl in this build: --shader-cache not tried")

# The render server's instructions (SANDBOX_RENDER_SERVER_ENV, set by the
# daemon for the process virglrenderer execs as kohlrabi): anything malformed
# is refused before any of it is used, and nothing is executed.
for bad in ["", "0 0 0", "0 65534 65534 1 300 relative/path", "9 0 0 0 300 /bin/true",
            "0 x 0 0 300 /bin/true", "0 0 0 0 300 /" + "a" * 5000]:
    env = dict(os.environ, KOHLRABI_RENDER_SERVER_JAIL=bad)
    r = subprocess.run([KR, "--version"], env=env, capture_output=True, text=True, timeout=20)
    tap.result(r.returncode == 1 and ("is malformed" in r.stderr or "no render server" in r.stderr)
               and "kohlrabi 0" not in r.stdout,
               f"render server instructions {bad[:40]!r}: refused, nothing run",
               f"status {r.returncode}\n{r.stderr}")

print(f"1..{tap.n}")
sys.exit(1 if tap.failed else 0)
