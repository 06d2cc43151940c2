#!/usr/bin/env python3
"""The machine manager of the local cloud: every instance moto has as pending or running
is a machine of its own, and every volume attached to it a block device inside it.

A machine is
  - a network namespace portal-<hash>-<slot> (hash: of the state directory, so that two
    twins on one host never collide), joined to the host by a veth pair pg<hash>h<slot>
    (host side, holding the twin's link-local address 169.254.A.B/32) and eth0 (inside,
    holding the machine's address/32). The machine's address is moto's PrivateIpAddress
    unless a host route or address already covers it, else one from 100.64.0.0/10
    chosen from the hash. Inside, the only routes are to the host side's address and to
    169.254.169.254 (on lo, where the machine's IMDS listens): nothing else is reachable.
  - a root file system: overlayfs with the host's / as its lower layer and
    instances/<id>/upper as its upper one, so that every write (sudo included) stays in
    upper, which is removed at termination. The host's SSH host keys are whited out;
    the machine gets its own, a user `ubuntu` with passwordless sudo whose
    authorized_keys holds the public key of the instance's KeyName (from moto), and an
    sshd_config of its own.
  - mount, PID, UTS and IPC namespaces (unshare): /proc, /sys, a /dev of its own (tmpfs
    with the usual nodes and devpts), /run; PID 1 is a small reaper. Its sshd is started
    (through nsenter) no earlier than timeline.json's running_at + ssh_delay.
Volumes: a loop device on volumes/<vol>.img, with /dev/nvme<N>n1 and
/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol<id> made inside the machine only
(through /proc/<pid 1>/root). Termination: PID 1 killed (the kernel kills the rest of
its PID namespace; the mounts go with the mount namespace), loop devices released,
namespace, veth and upper dir removed; machine.json says "gone".

Run by bin/local-cloud: machines.py --state-dir DIR --endpoint MOTO_URL. Polls moto
(not the gateway) every 0.2 s. `machines.py clean --state-dir DIR` removes what a
crashed manager left (processes, loop devices, namespaces, links, upper dirs).
"""

import argparse
import glob
import hashlib
import ipaddress
import json
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)
import imds  # noqa: E402
from common import log, read_json, write_atomic  # noqa: E402

POLL = 0.2
USER = "ubuntu"
REGION = "us-east-1"
GIB = 1 << 30
LIVE = ("pending", "running")
INIT_MARK = "portal-twin-init"
INIT_PYTHON = "/usr/bin/python3"  # on the host's / (the machine's lower layer)
BY_ID_PREFIX = "nvme-Amazon_Elastic_Block_Store_"
LOOP_MAJOR = 7
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BOOT_WAIT = 15.0
SSHD_WAIT = 15.0


def run(argv, check=True, stdin_text=None):
    r = subprocess.run(argv, capture_output=True, text=True,
                       input=stdin_text, stdin=None if stdin_text is not None else subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {(r.stderr or r.stdout).strip()}")
    return r.stdout


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return False
    return s[s.rfind(")") + 2:][:1] not in ("Z", "X", "")


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except (OSError, ValueError):
        return []


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


# ---------------------------------------------------------------- names of a twin

class Twin:
    """Names and addresses of the twin that owns one state directory."""

    def __init__(self, state_dir):
        self.dir = os.path.realpath(state_dir)
        self.hash = hashlib.sha256(self.dir.encode()).hexdigest()[:6]
        h = int(self.hash, 16)
        # link-local, never 169.254.169.x (IMDS) nor .0/.255
        self.host_address = f"169.254.{1 + h % 168}.{1 + (h >> 8) % 254}"
        self.fallback_net = ipaddress.ip_network(f"100.{64 + (h >> 16) % 64}.0.0/16")
        self.instances = os.path.join(self.dir, "instances")
        self.volumes = os.path.join(self.dir, "volumes")
        self.record = os.path.join(self.volumes, "attached.json")

    def netns(self, slot):
        return f"portal-{self.hash}-{slot}"

    def veth(self, slot):
        return f"pg{self.hash}h{slot}"

    def peer(self, slot):
        return f"pg{self.hash}m{slot}"

    def our_netns(self):
        out = []
        for line in run(["ip", "netns", "list"], check=False).splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith(f"portal-{self.hash}-"):
                out.append(name)
        return out

    def our_links(self):
        out = []
        for line in run(["ip", "-o", "link", "show"], check=False).splitlines():
            parts = line.split(":")
            if len(parts) > 1:
                name = parts[1].strip().split("@")[0]
                if name.startswith(f"pg{self.hash}"):
                    out.append(name)
        return out

    def image(self, vid):
        return os.path.join(self.volumes, f"{vid}.img")


# ---------------------------------------------------------------- addresses

def host_networks():
    """Every IPv4 network the host routes or holds an address in, but the default route."""
    nets = []
    for line in run(["ip", "-4", "-o", "route", "show", "table", "all"], check=False).splitlines():
        first = line.split()[0] if line.split() else ""
        if first in ("default", "broadcast", "local", "unreachable", "blackhole", "prohibit",
                     "multicast", "throw", "nat", "anycast"):
            if first != "local":
                continue
            first = line.split()[1]
        try:
            nets.append(ipaddress.ip_network(first, strict=False))
        except ValueError:
            pass
    for line in run(["ip", "-4", "-o", "addr", "show"], check=False).splitlines():
        parts = line.split()
        if "inet" in parts:
            try:
                nets.append(ipaddress.ip_interface(parts[parts.index("inet") + 1]).network)
            except ValueError:
                pass
    return nets


def pick_address(twin, wanted, slot, lock, reserved=None):
    """moto's private address if the host neither routes nor holds it (nor is it in
    reserved: picked by a boot that has not made its route yet), else one of the
    twin's fallback range. Under lock, so that two boots never pick the same."""
    reserved = set() if reserved is None else reserved
    with lock:
        nets = host_networks()

        def free(a):
            if str(a) in reserved:
                return False
            if any(a in n for n in nets if n.prefixlen > 0):
                return False
            reserved.add(str(a))
            return True
        try:
            a = ipaddress.ip_address(wanted or "")
            if a.is_private and not a.is_loopback and not a.is_link_local and free(a):
                return str(a)
        except ValueError:
            pass
        hosts = list(twin.fallback_net.hosts())
        for i in range(len(hosts)):
            a = hosts[(slot * 7 + i) % len(hosts)]
            if free(a):
                return str(a)
    raise RuntimeError("no free address for a machine")


# ---------------------------------------------------------------- the machine's root file system

def mkdir_like(upper, rel):
    """Make upper/rel and its parents with the mode and owner of the host's /rel (an
    overlay directory takes its attributes from the upper layer's copy)."""
    path = upper
    for part in [p for p in rel.split("/") if p]:
        path = os.path.join(path, part)
        host = "/" + os.path.relpath(path, upper)
        if not os.path.isdir(path):
            os.mkdir(path)
            try:
                st = os.stat(host)
                os.chmod(path, stat.S_IMODE(st.st_mode))
                os.chown(path, st.st_uid, st.st_gid)
            except OSError:
                os.chmod(path, 0o755)
    return path


def whiteout(upper, rel):
    """Hide the host's /rel from the machine (an overlayfs whiteout)."""
    path = os.path.join(upper, rel.lstrip("/"))
    mkdir_like(upper, os.path.dirname(rel))
    if not os.path.lexists(path):
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(0, 0))


def host_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def add_user(upper, user):
    """The AMI's default user, in the overlay's /etc only: (uid, gid)."""
    passwd = host_text("/etc/passwd")
    for line in passwd.splitlines():
        f = line.split(":")
        if f[0] == user:
            return int(f[2]), int(f[3])
    used = {int(line.split(":")[2]) for line in passwd.splitlines() if line.count(":") >= 3}
    groups = host_text("/etc/group")
    used_g = {int(line.split(":")[2]) for line in groups.splitlines() if line.count(":") >= 3}
    uid = next(u for u in range(1000, 60000) if u not in used and u not in used_g)
    etc = mkdir_like(upper, "etc")
    write_atomic(os.path.join(etc, "passwd"),
                 passwd.rstrip("\n") + f"\n{user}:x:{uid}:{uid}:Ubuntu:/home/{user}:/bin/bash\n")
    lines = []
    for line in groups.splitlines():
        f = line.split(":")
        if len(f) == 4 and f[0] in ("sudo", "adm", "users"):
            members = [m for m in f[3].split(",") if m] + [user]
            line = ":".join(f[:3] + [",".join(members)])
        lines.append(line)
    lines.append(f"{user}:x:{uid}:")
    write_atomic(os.path.join(etc, "group"), "\n".join(lines) + "\n")
    shadow = host_text("/etc/shadow")
    write_atomic(os.path.join(etc, "shadow"), shadow.rstrip("\n") + f"\n{user}:*:20000:0:99999:7:::\n", 0o640)
    try:
        st = os.stat("/etc/shadow")
        os.chown(os.path.join(etc, "shadow"), st.st_uid, st.st_gid)
    except OSError:
        pass
    return uid, uid


def sshd_config(version):
    lines = [
        "# written by the local cloud's machine manager",
        "Port 22",
        "AddressFamily inet",
        "HostKey /etc/ssh/ssh_host_ed25519_key",
        "HostKey /etc/ssh/ssh_host_ecdsa_key",
        "PidFile /run/sshd.pid",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "UsePAM no",
        "UseDNS no",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
        "AllowTcpForwarding yes",
        "MaxSessions 32",
        "MaxStartups 32:30:100",
        "LoginGraceTime 30",
        "Subsystem sftp /usr/lib/openssh/sftp-server",
    ]
    if version >= (9, 8):
        lines.append("PerSourcePenalties no")  # tests fail authentication on purpose
    return "\n".join(lines) + "\n"


def sshd_version():
    r = subprocess.run(["/usr/sbin/sshd", "-V"], capture_output=True, text=True)
    try:
        v = (r.stderr + r.stdout).split("OpenSSH_", 1)[1].split(",")[0].split()[0]
        major, minor = v.split("p")[0].split(".")[:2]
        return int(major), int(minor)
    except (IndexError, ValueError):
        return (0, 0)


# PID 1 of a machine: reaps the orphans of its PID namespace, forever. systemd's signals
# for poweroff (SIGRTMIN+4) and halt (SIGRTMIN+3), which the machine's shutdown, poweroff
# and halt send (SHUTDOWN below): every other process gets SIGTERM, then SIGKILL after
# STOP_GRACE s; a poweroff then ends PID 1 with POWEROFF_STATUS, which the manager takes
# for an instance-initiated shutdown; a halt leaves the machine up with nothing running
# (AWS: "the instance doesn't terminate ... and continues to run").
POWEROFF_STATUS = 64
STOP_GRACE = 2
INIT = (
    "import os, signal, time\n"
    "R = signal.SIGRTMIN\n"
    "waited = [signal.SIGCHLD, R + 3, R + 4]\n"
    "signal.pthread_sigmask(signal.SIG_BLOCK, waited)\n"
    "signal.signal(signal.SIGTERM, lambda *a: os._exit(0))\n"
    "def reap():\n"
    "    try:\n"
    "        while os.waitpid(-1, os.WNOHANG)[0]: pass\n"
    "    except ChildProcessError: return True\n"
    "    return False\n"
    "def stop_all():\n"
    "    os.kill(-1, signal.SIGTERM)\n"
    f"    end = time.monotonic() + {STOP_GRACE}\n"
    "    while not reap() and time.monotonic() < end: time.sleep(0.05)\n"
    "    try: os.kill(-1, signal.SIGKILL)\n"
    "    except ProcessLookupError: pass\n"
    "    while not reap(): time.sleep(0.02)\n"
    "    os.sync()\n"
    "while True:\n"
    "    reap()\n"
    "    info = signal.sigtimedwait(waited, 5)\n"
    "    if info and info.si_signo in (R + 3, R + 4):\n"
    "        stop_all()\n"
    f"        if info.si_signo == R + 4: os._exit({POWEROFF_STATUS})\n"
)

# /usr/sbin/{shutdown,poweroff,halt,reboot} of a machine (it has no systemd): signal PID 1
# as systemd's tools do. shutdown powers off by default (-h too, as systemd's does), -H
# halts; a time (+M, hh:mm) waits in the background, -c cancels; reboot is refused (the
# twin cannot reboot a machine). Signal numbers: SIGRTMIN is 34 on Linux.
SHUTDOWN = r"""#!/bin/sh
# written by the local cloud's machine manager (cloud/machines.py)
me=${0##*/} action=poweroff wait=0
case $me in halt) action=halt ;; reboot) action=reboot ;; esac
for a in "$@"; do
  case $a in
  -H | --halt) action=halt ;;
  -P | -h | --poweroff) action=poweroff ;;
  -r | --reboot) action=reboot ;;
  -c) [ -s /run/twin-shutdown.pid ] && kill "$(cat /run/twin-shutdown.pid)" 2>/dev/null
      rm -f /run/twin-shutdown.pid; exit 0 ;;
  now | +0) wait=0 ;;
  +[0-9]*) wait=$((${a#+} * 60)) ;;
  [0-9]*:[0-9]*) wait=$(( ($(date -d "$a" +%s) - $(date +%s) + 86400) % 86400 )) ;;
  esac
done
if [ "$(id -u)" != 0 ]; then echo "$me: must be root" >&2; exit 1; fi
case $action in
reboot) echo "$me: the local cloud's machines cannot reboot" >&2; exit 1 ;;
halt) sig=37 ;;
*) sig=38 ;;
esac
if [ "$wait" -gt 0 ]; then
  (sleep "$wait"; kill -$sig 1) >/dev/null 2>&1 &
  echo $! >/run/twin-shutdown.pid
  echo "$action scheduled in $wait s; '$me -c' cancels"
  exit 0
fi
kill -$sig 1
"""

# Runs as PID 1 of new mount/PID/UTS/IPC namespaces inside the machine's network
# namespace: builds the root file system, moves into it, becomes INIT.
BOOT = r"""
set -eu
R=$1 U=$2 W=$3 S=$4 H=$5 PY=$6
mount -t overlay overlay -o "lowerdir=/,upperdir=$U,workdir=$W" "$R"
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount -t tmpfs -o mode=755,nosuid tmpfs "$R/dev"
for n in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    IFS=: read name major minor <<EOF
$n
EOF
    mknod -m 666 "$R/dev/$name" c "$major" "$minor"
done
mkdir -p "$R/dev/pts" "$R/dev/shm" "$R/dev/disk/by-id"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$R/run"
mkdir -p "$R/run/sshd" "$R/run/lock"
chmod 1777 "$R/run/lock"
# the twin's own state (keys, other machines' layers) is not the machine's business
if [ -d "$R$S" ]; then mount -t tmpfs -o ro,mode=755 tmpfs "$R$S"; fi
hostname "$H"
cd "$R"
mkdir -p .twin-old-root
pivot_root . .twin-old-root
cd /
umount -l /.twin-old-root
rmdir /.twin-old-root
exec "$PY" -c "$7" portal-twin-init
"""


# ---------------------------------------------------------------- one machine

class Machine:
    def __init__(self, manager, inst, slot):
        self.m = manager
        self.twin = manager.twin
        self.id = inst["InstanceId"]
        self.inst = inst
        self.slot = slot
        self.dir = os.path.join(self.twin.instances, self.id)
        self.netns = self.twin.netns(slot)
        self.veth = self.twin.veth(slot)
        self.address = None
        self.proc = None
        self.pid1 = None
        self.imds = None
        self.state = "booting"
        self.host_keys, self.fingerprints = [], []
        self.ssh_ready_at = None
        self.cancel = threading.Event()
        self.thread = None
        self.devices = {}  # vol id -> N of /dev/nvme<N>n1
        self.root_device = inst.get("RootDeviceName")
        self.lock = threading.Lock()
        self.booted_at = self.ready_at = None
        self.off = False  # PID 1 ended by itself (a poweroff from inside)

    def p(self, *names):
        return os.path.join(self.dir, *names)

    def write_record(self):
        write_atomic(self.p("machine.json"), json.dumps({
            "instance_id": self.id, "address": self.address, "state": self.state,
            "ssh_ready_at": self.ssh_ready_at, "host_keys": self.host_keys,
            "fingerprints": self.fingerprints, "netns": self.netns, "slot": self.slot,
            "pid": self.pid1}, indent=2) + "\n")

    # -- boot

    def start(self):
        self.thread = threading.Thread(target=self._boot_logged, name=f"boot-{self.id}", daemon=True)
        self.thread.start()

    def _boot_logged(self):
        t0 = time.monotonic()
        try:
            self.boot()
            log(f"{self.id}: ready at {self.address} ({self.netns}) in {time.monotonic() - t0:.2f} s")
        except Exception as e:
            if not self.cancel.is_set():
                log(f"{self.id}: boot failed: {type(e).__name__}: {e}")
                self.state = "failed"

    def boot(self):
        t0 = time.monotonic()
        os.makedirs(self.dir, exist_ok=True)
        for d in ("upper", "work", "root"):
            path = self.p(d)
            if os.path.exists(path):
                shutil.rmtree(path, ignore_errors=True)
            os.mkdir(path, 0o755)
        self.address = pick_address(self.twin, self.inst.get("PrivateIpAddress"), self.slot,
                                    self.m.net_lock, self.m.reserved)
        hostname = "ip-" + self.address.replace(".", "-")
        upper = self.p("upper")
        self._prepare_root(upper, hostname)
        self.write_record()
        self._network()
        self._start_namespaces(hostname)
        self.imds = imds.serve(f"/run/netns/{self.netns}", imds.Metadata(self.dir, self._facts(hostname),
                                                                         self.public_key))
        self.booted_at = time.monotonic() - t0
        self._wait_ssh_delay()
        if self.cancel.is_set():
            return
        r = subprocess.run(["nsenter", "-t", str(self.pid1), "-m", "-u", "-i", "-n", "-p", "-r", "-w",
                            "/usr/sbin/sshd"], env={"PATH": PATH, "LANG": "C.UTF-8"},
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError(f"sshd did not start: {r.stderr.strip()}")
        deadline = time.monotonic() + SSHD_WAIT
        while not banner(self.address):
            if self.cancel.is_set():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not answer on {self.address}:22")
            time.sleep(0.02)
        self.ssh_ready_at = time.time()
        self.state = "ready"
        self.ready_at = time.monotonic() - t0
        self.write_record()

    def _prepare_root(self, upper, hostname):
        uid, gid = add_user(upper, USER)
        etc = mkdir_like(upper, "etc")
        write_atomic(os.path.join(etc, "hostname"), hostname + "\n")
        write_atomic(os.path.join(etc, "hosts"),
                     host_text("/etc/hosts").rstrip("\n") + f"\n{self.address} {hostname}\n")
        sudoers = mkdir_like(upper, "etc/sudoers.d")
        write_atomic(os.path.join(sudoers, "90-cloud-init-users"),
                     f"# as cloud-init writes it on Ubuntu AMIs\n{USER} ALL=(ALL) NOPASSWD:ALL\n", 0o440)
        ssh = mkdir_like(upper, "etc/ssh")
        for path in glob.glob("/etc/ssh/ssh_host_*"):
            whiteout(upper, path)
        whiteout(upper, "/etc/ssh/sshd_config.d")
        self.host_keys, self.fingerprints = [], []
        for kind in ("ed25519", "ecdsa"):
            key = os.path.join(ssh, f"ssh_host_{kind}_key")
            for path in (key, key + ".pub"):
                if os.path.lexists(path):
                    os.unlink(path)  # the host's key's whiteout
            run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"root@{hostname}", "-f", key])
            with open(key + ".pub") as f:
                self.host_keys.append(f.read().strip())
            self.fingerprints.append(run(["ssh-keygen", "-l", "-f", key + ".pub"]).strip())
        write_atomic(os.path.join(ssh, "sshd_config"), sshd_config(self.m.sshd_version))
        sbin = mkdir_like(upper, "usr/sbin")
        for name in ("shutdown", "poweroff", "halt", "reboot"):
            if os.path.lexists(os.path.join(sbin, name)):
                os.unlink(os.path.join(sbin, name))
            write_atomic(os.path.join(sbin, name), SHUTDOWN, 0o755)
        self.public_key = self.m.public_key(self.inst.get("KeyName"))
        home = os.path.join(mkdir_like(upper, "home"), USER)
        os.makedirs(os.path.join(home, ".ssh"), exist_ok=True)
        os.chmod(home, 0o750)
        os.chmod(os.path.join(home, ".ssh"), 0o700)
        for name in (".bashrc", ".profile", ".bash_logout"):
            if os.path.exists(f"/etc/skel/{name}"):
                shutil.copyfile(f"/etc/skel/{name}", os.path.join(home, name))
                os.chown(os.path.join(home, name), uid, gid)
        keys = os.path.join(home, ".ssh", "authorized_keys")
        write_atomic(keys, (self.public_key + "\n") if self.public_key else "", 0o600)
        for path in (home, os.path.join(home, ".ssh"), keys):
            os.chown(path, uid, gid)

    def _network(self):
        t = self.twin
        run(["ip", "netns", "add", self.netns])
        peer = t.peer(self.slot)
        run(["ip", "-b", "-"], stdin_text="\n".join([
            f"link add {self.veth} type veth peer name {peer} netns {self.netns}",
            f"addr add {t.host_address}/32 dev {self.veth}",
            f"link set {self.veth} up",
        ]) + "\n")
        run(["ip", "-n", self.netns, "-b", "-"], stdin_text="\n".join([
            f"link set {peer} name eth0",
            f"addr add {self.address}/32 dev eth0",
            "link set eth0 up",
            "link set lo up",
            f"addr add {imds.ADDRESS}/32 dev lo",
            f"route add {t.host_address}/32 dev eth0",
        ]) + "\n")
        run(["ip", "route", "add", f"{self.address}/32", "dev", self.veth, "src", t.host_address])

    def _start_namespaces(self, hostname):
        argv = ["ip", "netns", "exec", self.netns,
                "unshare", "--mount", "--pid", "--uts", "--ipc", "--fork", "--kill-child",
                "--propagation", "private", "--",
                "/bin/sh", "-c", BOOT, "boot", self.p("root"), self.p("upper"), self.p("work"),
                self.twin.dir, hostname, INIT_PYTHON, INIT]
        with open(self.p("boot.log"), "ab") as logf:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                         env={"PATH": PATH, "LANG": "C.UTF-8"}, cwd="/",
                                         start_new_session=True)
        deadline = time.monotonic() + BOOT_WAIT
        while True:
            for kid in children(self.proc.pid):
                # the boot script names INIT_MARK too: wait until it has exec'd INIT,
                # that is, until the root file system is the machine's
                if cmdline(kid).startswith(INIT_PYTHON + " -c ") and cmdline(kid).strip().endswith(INIT_MARK):
                    self.pid1 = kid
            if self.pid1:
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"the machine's boot failed (exit {self.proc.returncode}); "
                                   f"see {self.p('boot.log')}: {tail(self.p('boot.log'))}")
            if time.monotonic() > deadline or self.cancel.is_set():
                raise RuntimeError("the machine's init did not start")
            time.sleep(0.01)

    def _facts(self, hostname):
        i = self.inst
        facts = {
            "ami-id": i.get("ImageId", ""),
            "instance-id": self.id,
            "instance-type": i.get("InstanceType", ""),
            "placement/availability-zone": i.get("Placement", {}).get("AvailabilityZone", ""),
            "placement/region": REGION,
            "local-ipv4": self.address,
            "public-ipv4": self.address,
            "hostname": f"{hostname}.ec2.internal",
            "local-hostname": f"{hostname}.ec2.internal",
            "instance-life-cycle": "spot" if i.get("InstanceLifecycle") == "spot" else "on-demand",
            "security-groups": "\n".join(g.get("GroupName", "") for g in i.get("SecurityGroups", [])),
            "_key_name": i.get("KeyName", ""),
        }
        return facts

    def _wait_ssh_delay(self):
        """sshd answers no earlier than timeline.json's running_at + ssh_delay."""
        while not self.cancel.is_set():
            t = read_json(self.p("timeline.json"))
            if not t:
                return
            at = float(t.get("running_at") or 0) + float(t.get("ssh_delay") or 0)
            if time.time() >= at:
                return
            self.cancel.wait(min(0.1, at - time.time()))

    # -- volumes

    def in_root(self, path):
        return f"/proc/{self.pid1}/root{path}"

    def add_device(self, vid, loop):
        if vid in self.devices:
            return self.devices[vid]
        n = next(k for k in range(1, 64) if k not in self.devices.values())
        minor = int(os.path.basename(loop)[4:])
        node = f"/dev/nvme{n}n1"
        os.mknod(self.in_root(node), 0o660 | stat.S_IFBLK, os.makedev(LOOP_MAJOR, minor))
        os.chown(self.in_root(node), 0, 6)  # group disk
        link = f"/dev/disk/by-id/{BY_ID_PREFIX}{vid.replace('-', '')}"
        if os.path.lexists(self.in_root(link)):
            os.unlink(self.in_root(link))
        os.symlink(f"../../nvme{n}n1", self.in_root(link))
        self.devices[vid] = n
        return n

    def remove_device(self, vid, loop):
        """Unmount (inside the machine) everything on the volume's device, then remove
        its node and link."""
        n = self.devices.pop(vid, None)
        if self.pid1 and alive(self.pid1):
            try:
                rdev = os.stat(loop).st_rdev
                majmin = f"{os.major(rdev)}:{os.minor(rdev)}"
            except OSError:
                majmin = None
            if majmin:
                for target in reversed(mounts_of(self.pid1, majmin)):
                    r = subprocess.run(["nsenter", "-t", str(self.pid1), "-m", "umount", target],
                                       capture_output=True, text=True)
                    if r.returncode != 0:
                        subprocess.run(["nsenter", "-t", str(self.pid1), "-m", "umount", "-l", target],
                                       capture_output=True)
            for path in ([f"/dev/nvme{n}n1"] if n else []) + [
                    f"/dev/disk/by-id/{BY_ID_PREFIX}{vid.replace('-', '')}"]:
                try:
                    os.unlink(self.in_root(path))
                except OSError:
                    pass

    # -- termination

    def destroy(self):
        self.cancel.set()
        if self.thread and self.thread is not threading.current_thread():
            self.thread.join(timeout=30)
        t0 = time.monotonic()
        if self.imds:
            self.imds.shutdown()
            self.imds.server_close()
            self.imds = None
        for vid in [v for v, r in self.m.record.items() if r.get("instance") == self.id]:
            self.m.release(vid)
        kill_machine(self.pid1, self.proc, self.netns)
        self.pid1 = None
        remove_network(self.netns, self.veth)
        self.m.reserved.discard(self.address)
        for d in ("upper", "work", "root"):
            shutil.rmtree(self.p(d), ignore_errors=True)
        self.state = "gone"
        if os.path.isdir(self.dir):
            self.write_record()
        log(f"{self.id}: gone in {time.monotonic() - t0:.2f} s")


def tail(path, n=5):
    try:
        with open(path, errors="replace") as f:
            return " | ".join(f.read().splitlines()[-n:])
    except OSError:
        return ""


def banner(address, timeout=0.5):
    try:
        with socket.create_connection((address, 22), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def mounts_of(pid, majmin):
    out = []
    try:
        with open(f"/proc/{pid}/mountinfo") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4 and fields[2] == majmin:
                    out.append(fields[4].encode().decode("unicode_escape"))
    except OSError:
        pass
    return out


def netns_pids(netns):
    return [int(p) for p in run(["ip", "netns", "pids", netns], check=False).split() if p.isdigit()]


def kill_machine(pid1, proc, netns):
    """SIGKILL to the machine's PID 1 ends its whole PID namespace; then whatever else
    still runs in its network namespace."""
    for pid in ([pid1] if pid1 else []) + netns_pids(netns):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (netns_pids(netns) or (pid1 and alive(pid1))):
        time.sleep(0.02)
    if proc:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def remove_network(netns, veth):
    run(["ip", "netns", "del", netns], check=False)
    if os.path.exists(f"/sys/class/net/{veth}"):
        run(["ip", "link", "del", veth], check=False)


# ---------------------------------------------------------------- loop devices

def our_loops(twin):
    """{'/dev/loopN': vol id} for loop devices backed by our volume files."""
    vdir = os.path.realpath(twin.volumes) + "/"
    out = {}
    for d in glob.glob("/sys/block/loop*"):
        try:
            with open(d + "/loop/backing_file") as f:
                backing = f.read().strip()
        except OSError:
            continue
        backing = backing.removesuffix(" (deleted)")
        if backing.startswith(vdir) and backing.endswith(".img"):
            out["/dev/" + os.path.basename(d)] = os.path.basename(backing)[:-4]
    return out


def detach_loop(loop):
    if os.path.exists(f"/sys/block/{os.path.basename(loop)}/loop/backing_file"):
        os.sync()
        run(["losetup", "-d", loop], check=False)


# ---------------------------------------------------------------- the manager

class Manager:
    def __init__(self, state_dir, endpoint):
        import boto3
        from botocore.config import Config
        self.twin = Twin(state_dir)
        # a manager that restarts (after a crash) boots every machine afresh
        clean(state_dir)
        self.ec2 = boto3.client(
            "ec2", endpoint_url=endpoint, region_name=REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10))
        self.machines = {}
        # Slots whose machines are still being torn down: their namespace and
        # veth names are not free until the teardown has ended.
        self.dying, self.dying_lock = set(), threading.Lock()
        self.net_lock = threading.Lock()
        self.reserved = set()  # addresses of live machines (their routes may not exist yet)
        self.sshd_version = sshd_version()
        self.keys = {}
        os.makedirs(self.twin.instances, exist_ok=True)
        os.makedirs(self.twin.volumes, exist_ok=True)
        self.record = read_json(self.twin.record) or {}
        # volumes moto had in this run: when one is gone (DeleteVolume), so is its data
        self.seen_file = os.path.join(self.twin.volumes, "seen.json")
        self.seen = set(read_json(self.seen_file) or [])
        self.ticks = 0

    def public_key(self, name):
        if not name:
            return None
        if name not in self.keys:
            try:
                r = self.ec2.describe_key_pairs(KeyNames=[name], IncludePublicKey=True)
                self.keys[name] = (r["KeyPairs"][0].get("PublicKey") or "").strip() or None
            except Exception as e:
                log(f"key pair {name}: {e}")
                return None
        return self.keys[name]

    def save_record(self):
        write_atomic(self.twin.record, json.dumps(self.record, indent=2, sort_keys=True) + "\n")

    def free_slot(self):
        with self.dying_lock:
            used = {m.slot for m in self.machines.values()} | self.dying
        return next(s for s in range(1000) if s not in used)

    def instances(self):
        out = {}
        for page in self.ec2.get_paginator("describe_instances").paginate(
                Filters=[{"Name": "instance-state-name", "Values": list(LIVE)}]):
            for res in page.get("Reservations", []):
                for i in res.get("Instances", []):
                    out[i["InstanceId"]] = i
        return out

    def attachments(self):
        """{vol id: (instance id, device, size GiB)} of attached/attaching volumes."""
        out = {}
        for page in self.ec2.get_paginator("describe_volumes").paginate(
                Filters=[{"Name": "attachment.status", "Values": ["attached", "attaching"]}]):
            for v in page.get("Volumes", []):
                for a in v.get("Attachments", []):
                    if a.get("State") in ("attached", "attaching") and a.get("InstanceId"):
                        out[v["VolumeId"]] = (a["InstanceId"], a.get("Device"), int(v.get("Size") or 1))
        return out

    def forget_deleted_volumes(self):
        """Remove the backing file of every volume moto had in this run and has no more
        (a file of an earlier run, whose ids this moto never had, is left alone)."""
        now = set()
        for page in self.ec2.get_paginator("describe_volumes").paginate():
            now.update(v["VolumeId"] for v in page.get("Volumes", []))
        for vid in sorted(self.seen - now):
            if vid not in self.record and os.path.exists(self.twin.image(vid)):
                os.unlink(self.twin.image(vid))
                log(f"{vid}: deleted in EC2; removed {self.twin.image(vid)}")
        if now != self.seen:
            self.seen = now
            write_atomic(self.seen_file, json.dumps(sorted(now)) + "\n")

    def tick(self):
        self.ticks += 1
        if self.ticks % 5 == 1:
            self.forget_deleted_volumes()
        live = self.instances()
        for iid, inst in live.items():
            if iid not in self.machines:
                m = Machine(self, inst, self.free_slot())
                self.machines[iid] = m
                log(f"{iid}: {inst['State']['Name']} in moto; booting a machine (slot {m.slot})")
                m.start()
        for m in list(self.machines.values()):
            self.check_poweroff(m)
        for iid in [i for i in self.machines if i not in live]:
            m = self.machines.pop(iid)
            log(f"{iid}: no longer pending/running in moto; tearing its machine down")
            with self.dying_lock:
                self.dying.add(m.slot)
            threading.Thread(target=self.tear_down, args=(m,), name=f"destroy-{iid}", daemon=True).start()
        want = {}
        for vid, (iid, device, size) in self.attachments().items():
            m = self.machines.get(iid)
            if m and m.pid1 and device != m.root_device:
                want[vid] = (m, size)
        for vid in [v for v in self.record if v not in want or
                    self.record[v].get("instance") != want[v][0].id]:
            self.release(vid)
        for vid, (m, size) in sorted(want.items()):
            try:
                self.ensure(vid, m, size)
            except Exception as e:
                log(f"{vid}: attach to {m.id} failed: {e}")

    def tear_down(self, m):
        try:
            m.destroy()
        finally:
            with self.dying_lock:
                self.dying.discard(m.slot)

    def check_poweroff(self, m):
        """A machine whose PID 1 ended by itself: a poweroff from inside (POWEROFF_STATUS)
        is told to the gateway (instances/<id>/shutdown.json), which stops or terminates
        the instance as its InstanceInitiatedShutdownBehavior says; the machine stays down."""
        if m.cancel.is_set() or m.off or m.proc is None or m.proc.poll() is None:
            return
        with m.lock:
            m.off, m.pid1 = True, None
        status = m.proc.returncode
        if status == POWEROFF_STATUS:
            log(f"{m.id}: shut down from inside (poweroff); instances/{m.id}/shutdown.json for the gateway")
            write_atomic(m.p("shutdown.json"), json.dumps({"at": time.time(), "how": "poweroff"}) + "\n")
        else:
            log(f"{m.id}: the machine's init ended by itself (status {status}); it stays down")

    def ensure(self, vid, m, size_gib):
        img = self.twin.image(vid)
        want = size_gib * GIB
        try:
            have = os.path.getsize(img)
        except FileNotFoundError:
            have = None
        if have is None:
            with open(img, "ab"):
                pass
            os.truncate(img, want)
            log(f"{vid}: created {img} ({size_gib} GiB, sparse)")
        elif have < want:
            os.truncate(img, want)
            log(f"{vid}: grew {img} to {size_gib} GiB")
        loops = {v: lp for lp, v in our_loops(self.twin).items()}
        loop = loops.get(vid)
        if loop is None:
            loop = run(["losetup", "--find", "--show", img]).strip()
            log(f"{vid}: {img} is {loop}")
        else:
            try:
                with open(f"/sys/block/{os.path.basename(loop)}/size") as f:
                    if int(f.read()) * 512 < os.path.getsize(img):
                        run(["losetup", "-c", loop])
                        log(f"{vid}: {loop} grown")
            except (OSError, ValueError):
                pass
        with m.lock:
            if not m.pid1:
                return
            n = m.add_device(vid, loop)
        entry = {"instance": m.id, "loop": loop, "device": f"/dev/nvme{n}n1", "file": img,
                 "link": f"/dev/disk/by-id/{BY_ID_PREFIX}{vid.replace('-', '')}"}
        if self.record.get(vid) != entry:
            self.record[vid] = entry
            self.save_record()
            log(f"{vid}: {entry['device']} on {m.id} ({loop})")

    def release(self, vid):
        r = self.record.get(vid) or {}
        m = self.machines.get(r.get("instance")) or next(
            (x for x in list(self.machines.values()) if vid in x.devices), None)
        loop = r.get("loop")
        if m:
            with m.lock:
                m.remove_device(vid, loop or "")
        if loop and our_loops(self.twin).get(loop) == vid:
            detach_loop(loop)
        self.record.pop(vid, None)
        self.save_record()
        log(f"{vid}: released")

    def shutdown(self):
        for m in list(self.machines.values()):
            m.destroy()
        self.machines.clear()
        for vid in list(self.record):
            self.release(vid)


def clean(state_dir, say=log):
    """Remove whatever a twin's machines left: processes, loop devices, namespaces,
    links, layers. Safe to run at any time the manager is not running."""
    twin = Twin(state_dir)
    count = 0
    for ns in twin.our_netns():
        kill_machine(None, None, ns)
    # boot parents (unshare) whose machine is gone
    for d in glob.glob("/proc/[0-9]*"):
        pid = int(os.path.basename(d))
        c = cmdline(pid)
        if INIT_MARK in c and twin.dir in c:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for loop in our_loops(twin):
        detach_loop(loop)
        count += 1
    for ns in twin.our_netns():
        run(["ip", "netns", "del", ns], check=False)
        count += 1
    for link in twin.our_links():
        run(["ip", "link", "del", link], check=False)
    for d in glob.glob(os.path.join(twin.instances, "i-*")):
        for sub in ("upper", "work", "root"):
            shutil.rmtree(os.path.join(d, sub), ignore_errors=True)
    try:
        os.unlink(twin.record)
    except FileNotFoundError:
        pass
    return count


def leftovers(state_dir):
    """What of a twin's machines still exists: a list of descriptions (empty: clean)."""
    twin = Twin(state_dir)
    out = [f"network namespace {n}" for n in twin.our_netns()]
    out += [f"link {n}" for n in twin.our_links()]
    out += [f"loop device {lp} ({v})" for lp, v in our_loops(twin).items()]
    for d in glob.glob("/proc/[0-9]*"):
        c = cmdline(int(os.path.basename(d)))
        if INIT_MARK in c and twin.dir in c:
            out.append(f"process {os.path.basename(d)}")
    out += [f"layer {d}" for d in glob.glob(os.path.join(twin.instances, "i-*", "upper"))]
    return out


def serve(args):
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        os.environ.pop(k, None)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    manager = Manager(args.state_dir, args.endpoint)
    ready = os.path.join(manager.twin.dir, "machines.ready")
    log(f"machine manager started (pid {os.getpid()}), polling {args.endpoint} every {POLL} s; "
        f"host side {manager.twin.host_address}, names portal-{manager.twin.hash}-*")
    last = None
    while not stop.is_set():
        try:
            manager.tick()
            if not os.path.exists(ready):
                write_atomic(ready, f"{os.getpid()}\n")
            if last:
                log("recovered")
            last = None
        except Exception as e:
            msg = f"{type(e).__name__}: {e}"
            if msg != last:
                log(f"error (retrying every {POLL} s): {msg}")
            last = msg
        stop.wait(POLL)
    log("stopping: tearing every machine down")
    manager.shutdown()
    clean(manager.twin.dir)
    try:
        os.unlink(ready)
    except FileNotFoundError:
        pass
    log("stopped")
    sys.stdout.flush()
    os._exit(0)


def main(argv):
    p = argparse.ArgumentParser(prog="machines.py", description=__doc__.split("\n\n")[0])
    p.add_argument("command", nargs="?", default="serve", choices=["serve", "clean", "leftovers"])
    p.add_argument("--state-dir", required=True)
    p.add_argument("--endpoint", help="moto's URL (serve)")
    args = p.parse_args(argv)
    if args.command == "clean":
        clean(args.state_dir)
        return 0
    if args.command == "leftovers":
        left = leftovers(args.state_dir)
        print("\n".join(left))
        return 1 if left else 0
    if not args.endpoint:
        p.error("serve needs --endpoint")
    serve(args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
