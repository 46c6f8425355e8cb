#!/usr/bin/env python3
"""libvirt launches kohlrabi: a domain with <video><driver name='vhostuser'/>,
the test guest booted directly (TCG, memfd shared memory), and checks that
libvirt found and started kohlrabi (its command line), the guest's driver
binds, `virsh screenshot` equals QEMU's in-process virtio-gpu-pci showing the
same pattern, suspend/resume and reset keep the device serving, destroy leaves
no process behind, and with accel3d='yes' the guest reports +virgl.

libvirtd and virtlogd are started by hand when they are not running (no
systemd as PID 1) and stopped again; the domains, the JSON override and the
daemons this test started are removed at the end.

Usage: test_libvirt.py [--cache DIR] [--log-dir DIR] (--daemon PATH | --installed)
  --daemon PATH  make libvirt use PATH: an override in /etc/qemu/vhost-user/
                 with the packaged file's name (50-kohlrabi-gpu.json), which
                 libvirt prefers to the one in /usr/share/qemu/vhost-user/
  --installed    the installed package's own JSON and daemon (/usr/libexec/kohlrabi)
TAP on stdout."""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest import Guest, GuestError, default_cache, read_png, write_png  # noqa: E402
from test_guest import TOP, Tap, diff, prepare, references, show_pattern  # noqa: E402

VIRSH = ["virsh", "-q", "-c", "qemu:///system"]
OVERRIDE = "/etc/qemu/vhost-user/50-kohlrabi-gpu.json"
PACKAGED = "/usr/share/qemu/vhost-user/50-kohlrabi-gpu.json"


def virsh(*args, check=True, timeout=120):
    p = subprocess.run(VIRSH + list(args), capture_output=True, text=True, timeout=timeout)
    if check and p.returncode:
        raise GuestError(f"virsh {' '.join(args)}: {p.stderr.strip() or p.stdout.strip()}")
    return p.stdout.strip()


def processes(binary):
    """{pid: argv} of the running processes whose executable is binary."""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = [a.decode() for a in f.read().split(b"\0") if a]
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if argv and os.path.realpath(exe) == os.path.realpath(binary):
            found[int(pid)] = argv
    return found


def user_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                import pwd
                return pwd.getpwuid(int(line.split()[1])).pw_name
    return "?"


class Daemons:
    """libvirtd and virtlogd: running already, or started here (and stopped)."""

    def __init__(self, tmp):
        self.started = []
        self.tmp = tmp

    def up(self):
        if subprocess.run(VIRSH + ["version"], capture_output=True).returncode == 0:
            return "already running"
        with open("/proc/1/comm") as f:
            systemd = f.read().strip() == "systemd"
        if systemd:
            for unit in ("virtlogd.socket", "libvirtd.socket", "libvirtd.service"):
                subprocess.run(["systemctl", "start", unit], check=True)
                self.started.append(("unit", unit))
        else:
            for name in ("virtlogd", "libvirtd"):
                pidfile = os.path.join(self.tmp, f"{name}.pid")
                subprocess.run([name, "-d", "-p", pidfile], check=True)
                self.started.append(("pidfile", pidfile))
        for _ in range(100):
            if subprocess.run(VIRSH + ["version"], capture_output=True).returncode == 0:
                return "started by the test" + (" (systemctl)" if systemd else " (no systemd)")
            time.sleep(0.1)
        raise GuestError("libvirtd does not answer on qemu:///system")

    def down(self):
        for kind, what in reversed(self.started):
            if kind == "unit":
                subprocess.run(["systemctl", "stop", what])
                continue
            try:
                with open(what) as f:
                    pid = int(f.read().strip())
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.05)
            except (OSError, ValueError):
                pass


class LibvirtGuest(Guest):
    """The test guest as a libvirt domain: the serial console on a unix socket
    that QEMU listens on, screens from `virsh screenshot`."""

    def __init__(self, image, log_path, name, tmp, accel3d):
        super().__init__(image, log_path)
        self.name = name
        self.dir = tmp
        self.accel3d = accel3d
        self.serial = os.path.join(tmp, f"{name}.serial")
        self.sock = None

    def xml(self):
        kernel = os.path.join(self.dir, "vmlinuz")
        initrd = os.path.join(self.dir, "initrd.img")
        return f"""<domain type='qemu'>
  <name>{self.name}</name>
  <memory unit='MiB'>512</memory>
  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='unix'><source mode='bind' path='{self.serial}'/><target port='0'/></serial>
    <video>
      <model type='virtio' heads='1'><acceleration accel3d='{self.accel3d}'/></model>
      <driver name='vhostuser'/>
    </video>
    <memballoon model='none'/>
  </devices>
</domain>
"""

    def start(self, timeout=120):
        path = os.path.join(self.dir, f"{self.name}.xml")
        with open(path, "w") as f:
            f.write(self.xml())
        virsh("define", path)
        t0 = time.monotonic()
        virsh("start", self.name)
        # QEMU listens on the console from its start; the guest needs seconds to boot.
        for _ in range(200):
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(self.serial)
                break
            except OSError:
                self.sock.close()
                time.sleep(0.05)
        else:
            raise GuestError(f"no serial console at {self.serial}")
        self._start_reader(self.sock.makefile("rb"))
        self._wait_ready(timeout)
        return time.monotonic() - t0

    def _send(self, data):
        self.sock.sendall(data)

    def _exited(self):
        return f"the domain's console closed ({virsh('domstate', self.name, check=False)})"

    def screendump(self, path):
        png = path + ".png"
        virsh("screenshot", self.name, png)
        return read_png(png)

    def close(self):
        virsh("destroy", self.name, check=False)
        virsh("undefine", self.name, check=False)
        if self.sock:
            self.sock.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.log.close()


def wait_gone(binary, pids, secs=20):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        left = set(processes(binary)) & set(pids)
        if not left:
            return set()
        time.sleep(0.1)
    return left


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", default=default_cache())
    ap.add_argument("--log-dir", default=None)
    grp = ap.add_mutually_exclusive_group(required=True)
    grp.add_argument("--daemon")
    grp.add_argument("--installed", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("1..0 # SKIP the system libvirtd needs root")
        return 77
    if not shutil.which("libvirtd") or not shutil.which("virsh"):
        print("Bail out! libvirtd or virsh missing: run scripts/install-deps libvirt")
        return 1
    log_dir, image = prepare(args.cache, args.log_dir, "kr-libvirt-")
    refs = references(image, args.cache, log_dir, modes=[(1280, 800)])
    tap = Tap()
    # Files the libvirt-qemu user reads: a world-readable copy of the guest.
    tmp = tempfile.mkdtemp(prefix="kr-libvirt-run-")
    os.chmod(tmp, 0o777)
    for f in ("vmlinuz", "initrd.img"):
        shutil.copy(os.path.join(image, f), tmp)
    daemons = Daemons(tmp)
    saved_override = None
    if args.installed:
        binary = "/usr/libexec/kohlrabi"
    else:
        binary = os.path.abspath(args.daemon)
        if os.path.exists(OVERRIDE):
            with open(OVERRIDE) as f:
                saved_override = f.read()
        os.makedirs(os.path.dirname(OVERRIDE), exist_ok=True)
        with open(OVERRIDE, "w") as f:
            json.dump({"description": "kohlrabi (test_libvirt.py override)", "type": "gpu",
                       "binary": binary}, f)
    guests = []
    try:
        how = daemons.up()
        print(f"# libvirtd {virsh('version', '--daemon').splitlines()[-1].strip()}; {how}; "
              f"logs in {log_dir}", flush=True)
        if args.installed:
            with open(PACKAGED) as f:
                tap.result(json.load(f)["binary"] == binary,
                           "the installed JSON names the installed daemon", PACKAGED)
        before = set(processes(binary))
        g = LibvirtGuest(image, os.path.join(log_dir, "guest.log"), f"kr-test-{os.getpid()}",
                         tmp, "no")
        guests.append(g)
        boot = g.start()
        ours = {pid: argv for pid, argv in processes(binary).items() if pid not in before}
        line = "; ".join(" ".join(a) for a in ours.values())
        users = {user_of(pid) for pid in ours}
        ok = len(ours) == 1 and all(any(a.startswith("--fd") for a in argv)
                                    for argv in ours.values())
        tap.result(ok, "libvirt launched kohlrabi", f"{line} (as {', '.join(users)})")
        st, out = g.run("ls /sys/bus/virtio/drivers/virtio_gpu | grep -c virtio; "
                        "dmesg | grep '\[drm\] features:'")
        tap.result(st == 0, "the guest's virtio-gpu driver binds", f"boot {boot:.1f} s\n{out}")

        want = refs[(1280, 800)]
        shot = show_pattern(g, 1280, 800, os.path.join(log_dir, "screen"), expect=want)
        d = diff(shot, want)
        if d:
            write_png(os.path.join(log_dir, "libvirt.png"), *shot)
            write_png(os.path.join(log_dir, "expected.png"), *want)
        tap.result(not d, "virsh screenshot equals the in-process device's screen",
                   d or "1280x800 modetest pattern: identical")

        virsh("suspend", g.name)
        state = virsh("domstate", g.name)
        virsh("resume", g.name)
        st, _ = g.run("true", timeout=30)
        again = g.screendump(os.path.join(log_dir, "resumed"))
        tap.result(state == "paused" and st == 0 and not diff(again, want),
                   "virsh suspend / resume: paused, then serving the same screen",
                   f"state while suspended: {state}; {diff(again, want) or 'screen unchanged'}")

        pids = set(ours)
        virsh("reset", g.name)
        t0 = time.monotonic()
        g._wait_ready(120)
        st, out = g.run("ls /sys/bus/virtio/drivers/virtio_gpu | grep -c virtio")
        alive = set(processes(binary)) & pids
        tap.result(st == 0 and alive == pids, "virsh reset: the guest reboots onto the device",
                   f"up again in {time.monotonic() - t0:.1f} s; kohlrabi {sorted(alive)}")

        virsh("destroy", g.name)
        left = wait_gone(binary, pids)
        qemu_left = [p for p, a in processes("/usr/bin/qemu-system-x86_64").items()
                     if any(g.name in x for x in a)]
        tap.result(not left and not qemu_left, "virsh destroy leaves no process",
                   f"kohlrabi left: {sorted(left)}; qemu left: {qemu_left}")

        g3 = LibvirtGuest(image, os.path.join(log_dir, "guest-3d.log"),
                          f"kr-test3d-{os.getpid()}", tmp, "yes")
        guests.append(g3)
        g3.start()
        st, out = g3.run("dmesg | grep 'features: +virgl'")
        tap.result(st == 0, "accel3d='yes': the guest reports +virgl", out.strip())
    except GuestError as e:
        tap.result(False, "the libvirt scenario ran to its end", str(e))
    finally:
        for g in guests:
            g.close()
        if not args.installed:
            if saved_override is None:
                os.unlink(OVERRIDE)
            else:
                with open(OVERRIDE, "w") as f:
                    f.write(saved_override)
        daemons.down()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"1..{tap.n}")
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
