"""A test guest under QEMU 10 (TCG): Debian's kernel and a busybox initramfs
(scripts/build-guest), driven through its serial console, with QMP for
screendumps.  The GPU is QEMU's in-process virtio-gpu-pci or a vhost-user-gpu
backend listening on a socket."""

import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

QEMU = shutil.which("qemu-system-x86_64") or "/usr/bin/qemu-system-x86_64"


class GuestError(Exception):
    pass


def default_cache():
    """Where built guests and reference screens are kept: outside any checkout,
    so that a fresh clone reuses them ($KOHLRABI_CACHE, else
    ${XDG_CACHE_HOME:-$HOME/.cache}/kohlrabi; scripts/build-guest agrees)."""
    if os.environ.get("KOHLRABI_CACHE"):
        return os.environ["KOHLRABI_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kohlrabi")


def read_ppm(path):
    """(width, height, rgb bytes) of a binary PPM."""
    with open(path, "rb") as f:
        data = f.read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P6" or fields[3] != b"255":
        raise GuestError(f"{path}: not an 8-bit P6 PPM")
    w, h = int(fields[1]), int(fields[2])
    pixels = data[pos + 1:pos + 1 + w * h * 3]
    if len(pixels) != w * h * 3:
        raise GuestError(f"{path}: truncated")
    return w, h, pixels


def read_png(path):
    """(width, height, rgb bytes) of an 8-bit RGB (or RGBA), non-interlaced PNG,
    such as QEMU's screendump and virsh screenshot write (stdlib only)."""
    import struct
    import zlib

    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise GuestError(f"{path}: not a PNG")
    pos, idat, w = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise GuestError(f"{path}: PNG depth {depth} type {ctype} not handled")
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + n
    if w is None:
        raise GuestError(f"{path}: no IHDR")
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    prev = bytearray(stride)
    out = bytearray()
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        elif ftype != 0:
            raise GuestError(f"{path}: PNG filter {ftype}")
        out += line if bpp == 3 else b"".join(line[i:i + 3] for i in range(0, stride, 4))
        prev = line
    return w, h, bytes(out)


def write_png(path, w, h, rgb):
    """Write RGB bytes as a PNG (stdlib only)."""
    import struct
    import zlib

    raw = b"".join(b"\0" + rgb[y * w * 3:(y + 1) * w * 3] for y in range(h))

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        f.write(chunk(b"IEND", b""))


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def result(self, ok, name, diag=""):
        self.n += 1
        print(f"{'ok' if ok else 'not ok'} {self.n} - {name}", flush=True)
        for line in diag.splitlines():
            print(f"# {line}", flush=True)
        if not ok:
            self.failed += 1
            # stderr too: meson test --print-errorlogs shows it in make check's output
            print(f"e2e: FAILED: {name}", file=sys.stderr)
            for line in diag.splitlines()[-20:]:
                print(f"e2e:   {line}", file=sys.stderr)
            sys.stderr.flush()


class Xvfb:
    """An Xvfb on a free display :N (QEMU's SDL GL display needs an X server),
    run through prefix (a command, e.g. the trixie root's chroot) if given."""

    def __init__(self, log_path, prefix=()):
        self.num = next(n for n in range(90, 200)
                        if not os.path.exists(f"/tmp/.X11-unix/X{n}") and
                        not os.path.exists(f"/tmp/.X{n}-lock"))
        self.proc = subprocess.Popen([*prefix, "Xvfb", f":{self.num}", "-screen", "0",
                                      "1280x1024x24", "-nolisten", "tcp"],
                                     stdout=subprocess.DEVNULL, stderr=open(log_path, "w"))
        deadline = time.monotonic() + 20
        while not os.path.exists(f"/tmp/.X11-unix/X{self.num}"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise GuestError(f"Xvfb did not start; see {log_path}")
            time.sleep(0.1)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Backend:
    """A vhost-user backend process: cmd with "{socket}" replaced by a fresh
    socket path (self.socket), stderr to log_path; ready once the socket
    exists.  close() waits for it to exit (it does when the guest hangs up)."""

    def __init__(self, cmd, log_path, timeout=10):
        self.tmp = tempfile.mkdtemp(prefix="kr-backend-")
        self.socket = os.path.join(self.tmp, "gpu.sock")
        self.proc = subprocess.Popen([a.replace("{socket}", self.socket) for a in cmd],
                                     stdout=subprocess.DEVNULL, stderr=open(log_path, "w"))
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise GuestError(f"{cmd[0]} did not listen on its socket; see {log_path}")
            time.sleep(0.05)

    def close(self):
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Guest:
    def __init__(self, image_dir, log_path, gpu="inprocess", socket_path=None,
                 xres=1280, yres=800, host_root=False, input_socket=None, qemu=None,
                 device=None, display="none", append="", extra=()):
        self.image_dir = image_dir
        self.log_path = log_path
        self.gpu = gpu
        self.socket_path = socket_path
        self.xres, self.yres = xres, yres
        self.host_root = host_root
        self.input_socket = input_socket
        # Another QEMU (a command prefix, e.g. QEMU 11.1 from the trixie root).
        self.qemu = qemu or [QEMU]
        # gpu="custom": these -device options instead (e.g. QEMU's own
        # virtio-gpu-gl-pci with Venus, which needs a GL display).
        self.device = device
        self.display = display
        # More kernel command line (e.g. drm.edid_firmware= for a fixed mode list).
        self.append = append
        # More QEMU arguments (e.g. -device virtio-tablet-pci).
        self.extra = list(extra)
        self.proc = None
        self.lines = queue.Queue()
        self.tmp = tempfile.mkdtemp(prefix="kr-guest-")
        self.qmp_path = os.path.join(self.tmp, "qmp.sock")
        self.qmp = None
        self.seq = 0
        self.log = open(log_path, "a", buffering=1)

    # -- lifecycle --
    def start(self, timeout=90):
        args = [*self.qemu, "-accel", "tcg", "-m", "512M",
                "-object", "memory-backend-memfd,id=mem,size=512M,share=on",
                "-machine", "q35,memory-backend=mem", "-vga", "none", "-nodefaults",
                "-display", self.display, "-serial", "stdio", "-monitor", "none",
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
                "-kernel", os.path.join(self.image_dir, "vmlinuz"),
                "-initrd", os.path.join(self.image_dir, "initrd.img"),
                "-append", f"console=ttyS0 quiet panic=-1 {self.append}".strip()]
        if self.host_root:
            # The host's root (or another root: a path), read-only, for
            # chroot at /host (the guest gets Mesa).
            path = "/" if self.host_root is True else self.host_root
            args += ["-virtfs", f"local,path={path},mount_tag=hostroot,security_model=none,"
                     "readonly=on"]
        if self.gpu == "generic":
            # QEMU 11's generic vhost-user device: every device feature of the
            # backend reaches the guest, and the SHMEM region; no display socket.
            args += ["-chardev", f"socket,id=vgpu,path={self.socket_path}",
                     "-device", "vhost-user-test-device-pci,chardev=vgpu,virtio-id=16,"
                     "num_vqs=2,config_size=16"]
        elif self.gpu == "custom":
            args += ["-device", self.device]
        elif self.gpu == "inprocess":
            args += ["-device", f"virtio-gpu-pci,xres={self.xres},yres={self.yres}"]
        else:
            args += ["-chardev", f"socket,id=vgpu,path={self.socket_path}",
                     "-device", f"vhost-user-gpu-pci,chardev=vgpu,xres={self.xres},yres={self.yres}"]
        if self.input_socket:
            args += ["-chardev", f"socket,id=vinput,path={self.input_socket}",
                     "-device", "vhost-user-input-pci,chardev=vinput"]
        args += self.extra
        self.log.write("$ " + " ".join(args) + "\n")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self._start_reader(self.proc.stdout)
        self._wait_ready(timeout)
        boot = time.monotonic() - t0
        self._connect_qmp()
        return boot

    def _start_reader(self, stream):
        threading.Thread(target=self._reader, args=(stream,), daemon=True).start()

    def _send(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _exited(self):
        return f"QEMU exited (status {self.proc.wait()}); see {self.log_path}"

    def _reader(self, stream):
        buf = b""
        while True:
            try:
                chunk = stream.read1(4096)
            except OSError:
                chunk = b""
            if not chunk:
                self.lines.put(None)
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace").rstrip("\r")
                self.log.write(text + "\n")
                self.lines.put(text)

    def _next_line(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise GuestError("timed out waiting for the guest")
        try:
            line = self.lines.get(timeout=left)
        except queue.Empty:
            raise GuestError("timed out waiting for the guest") from None
        if line is None:
            raise GuestError(self._exited())
        return line

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            line = self._next_line(deadline)
            if "KR-GUEST-ERROR" in line:
                raise GuestError(line)
            if line.startswith("KR-GUEST-READY"):
                return

    def _connect_qmp(self):
        for _ in range(100):
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.qmp_path)
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise GuestError("QMP socket never appeared")
        self.qmp = s.makefile("rw")
        json.loads(self.qmp.readline())  # greeting
        self._qmp("qmp_capabilities")

    def _qmp(self, cmd, **args):
        self.qmp.write(json.dumps({"execute": cmd, "arguments": args}) + "\n")
        self.qmp.flush()
        while True:
            msg = json.loads(self.qmp.readline())
            if "return" in msg:
                return msg["return"]
            if "error" in msg:
                raise GuestError(f"QMP {cmd}: {msg['error']}")

    def close(self):
        if self.proc and self.proc.poll() is None:
            try:
                self._qmp("quit")
            except Exception:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.qmp:
            try:
                self.qmp.close()
            except Exception:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.log.close()

    # -- guest commands --
    def run(self, cmd, timeout=60):
        """Run a shell command in the guest: (status, output)."""
        self.seq += 1
        tag = str(self.seq)
        self.log.write(f">>> {tag} {cmd}\n")
        self._send(f"{tag} {cmd}\n".encode())
        deadline = time.monotonic() + timeout
        out = []
        while True:
            line = self._next_line(deadline)
            if line.startswith(f"KR-DONE {tag} "):
                return int(line.split()[2]), "\n".join(out)
            out.append(line)

    def check(self, cmd, timeout=60):
        status, out = self.run(cmd, timeout)
        if status:
            raise GuestError(f"guest command failed ({status}): {cmd}\n{out}")
        return out

    def reboot(self, timeout=90):
        t0 = time.monotonic()
        self._send(b"0 reboot -f\n")
        self._wait_ready(timeout)
        return time.monotonic() - t0

    def screendump(self, path):
        self._qmp("screendump", filename=path)
        return read_ppm(path)
