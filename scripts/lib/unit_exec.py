#!/usr/bin/python3
"""Starts a systemd service's ExecStart as its unit says, on a machine whose PID 1 is not
systemd (this CI's, a container's), so that a test can see the exporter survive the
unit's hardening for real.

    unit_exec.py SERVICE_UNIT [--socket SOCKET_UNIT] [--dropins DIR] [--kill-on-filter]

It reads the unit (and DIR/NAME.d/*.conf drop-ins, as systemctl edit writes them) and applies
every [Service] setting in the order systemd's executor does: the sockets of the .socket
unit (LISTEN_FDS), a clean environment with Environment= and EnvironmentFile=, a private
mount namespace for the Protect*/Private* settings, the capability bounding set, UMask,
User= and Group=, NoNewPrivileges, MemoryDenyWriteExecute (the kernel's PR_SET_MDWE), and
the seccomp filters of SystemCallFilter=, RestrictAddressFamilies=, RestrictNamespaces=,
LockPersonality=, RestrictRealtime=, RestrictSUIDSGID=, ProtectClock=,
ProtectKernelModules= and ProtectKernelLogs=, then execs ExecStart in its own process. A
setting it does not know is an error, never skipped: the unit cannot claim a hardening
this test does not apply.

--kill-on-filter makes SystemCallFilter= kill the process on a call outside it instead of
returning SystemCallErrorNumber=, so that a call the service needs and the filter forbids
is seen, not swallowed.

Needs root (it mounts and changes user) and python3-seccomp.
"""

import ctypes
import errno
import fcntl
import grp
import os
import pwd
import shlex
import socket
import subprocess
import sys

import seccomp

# Settings of [Service] that change nothing inside the running process: systemd's
# supervision, logging that goes where our stdout and stderr go, and RemoveIPC=, which
# acts when the service has stopped.
SUPERVISION = {"Type", "Restart", "RestartSec", "SyslogIdentifier", "TimeoutStopSec",
               "RemoveIPC"}

libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS, CLONE_NEWUTS = 0x00020000, 0x04000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_SET_MDWE = 38, 24, 65
PR_MDWE_REFUSE_EXEC_GAIN = 1


def fail(msg):
    sys.exit(f"unit_exec.py: {msg}")


def check(ret, what):
    if ret != 0:
        e = ctypes.get_errno()
        fail(f"{what}: {os.strerror(e)}")


def parse_unit(path, dropins):
    """{section: [(key, value)]} of the unit, then its drop-ins in name order. An empty
    assignment (Key=) resets the list of that key, as systemd does."""
    files = [path]
    ddir = os.path.join(dropins, os.path.basename(path) + ".d") if dropins else None
    if ddir and os.path.isdir(ddir):
        files += [os.path.join(ddir, f) for f in sorted(os.listdir(ddir)) if f.endswith(".conf")]
    unit = {}
    for f in files:
        section = None
        logical = ""
        for raw in open(f, encoding="utf-8"):
            line = raw.rstrip("\n")
            if line.endswith("\\"):
                logical += line[:-1] + " "
                continue
            line = (logical + line).strip()
            logical = ""
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
                unit.setdefault(section, [])
                continue
            key, _, value = line.partition("=")
            key, value = key.strip(), value.strip()
            entries = unit.setdefault(section, [])
            if value == "":
                # Kept as (key, ""): `CapabilityBoundingSet=` means "none", not "unset".
                entries[:] = [(k, v) for k, v in entries if k != key]
            entries.append((key, value))
    return unit


def read_env_file(path):
    env = {}
    for raw in open(path, encoding="utf-8"):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, _, value = line.partition("=")
        env[key.strip()] = " ".join(shlex.split(value.strip()))
    return env


def exec_words(line, env):
    """ExecStart's words: $VAR alone splits its value on whitespace, ${VAR} stays one word."""
    if line[:1] in "-@+!:":
        fail(f"ExecStart prefix {line[0]!r} is not emulated")
    words = []
    for w in shlex.split(line):
        if w.startswith("$") and not w.startswith("${") and w[1:].isidentifier():
            words += env.get(w[1:], "").split()
        else:
            for k, v in env.items():
                w = w.replace("${" + k + "}", v)
            words.append(w)
    return words


def listen_sockets(socket_unit, dropins):
    """Binds ListenStream= of the .socket unit as systemd does; returns the sockets."""
    entries = parse_unit(socket_unit, dropins).get("Socket", [])
    socks = []
    for key, value in entries:
        if key != "ListenStream":
            fail(f"[Socket] {key}= is not emulated")
        if not value:
            continue
        if value.isdigit():  # a port alone: every address, IPv4 and IPv6 on one socket
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            addr = ("::", int(value))
        elif value.startswith("["):
            host, _, port = value[1:].partition("]:")
            s, addr = socket.socket(socket.AF_INET6, socket.SOCK_STREAM), (host, int(port))
        else:
            host, _, port = value.rpartition(":")
            s, addr = socket.socket(socket.AF_INET, socket.SOCK_STREAM), (host, int(port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(addr)
        s.listen(socket.SOMAXCONN)
        socks.append(s)
    if not socks:
        fail(f"{socket_unit}: no ListenStream=")
    return socks


def mount(src, target, fstype, flags, data=None):
    enc = lambda s: s.encode() if isinstance(s, str) else s  # noqa: E731
    check(libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
          f"mount {target}")


def mounts():
    """(mount point, flags to keep) of every mount, parents first."""
    keep = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}
    out = []
    for line in open("/proc/self/mountinfo"):
        fields = line.split()
        point = fields[4].encode().decode("unicode_escape")
        flags = sum(keep.get(o, 0) for o in fields[5].split(","))
        out.append((point, flags))
    return out


def under(path, roots):
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def inaccessible(path, is_dir=True):
    if is_dir:
        mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "mode=000")
    else:
        mount("/dev/null", path, None, MS_BIND)


def private_dev():
    mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755")
    for name, major, minor in [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
                               ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]:
        os.mknod(f"/dev/{name}", 0o20666, os.makedev(major, minor))
        os.chmod(f"/dev/{name}", 0o666)
    for d in ("pts", "shm", "mqueue"):
        os.mkdir(f"/dev/{d}")
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for name, target in [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")]:
        os.symlink(target, f"/dev/{name}")


def namespace(s):
    """The mount namespace of ProtectSystem=, ProtectHome=, PrivateTmp=, PrivateDevices=,
    ProtectKernelTunables=, ProtectControlGroups=, ProtectKernelLogs=, ProtectProc= and
    ProcSubset=."""
    # PrivateMounts=: our own mount namespace, nothing propagating back to the host.
    check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    if yes(s, "ProtectHostname"):
        check(libc.unshare(CLONE_NEWUTS), "unshare(CLONE_NEWUTS)")
    api = ["/dev", "/proc", "/sys"]
    if s.get("ProtectSystem") == "strict":
        for point, flags in mounts():
            if under(point, api):
                continue
            mount(point, point, None, MS_BIND | MS_REC)
            mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
    elif "ProtectSystem" in s:
        fail(f"ProtectSystem={s['ProtectSystem']} is not emulated (only strict)")
    if yes(s, "PrivateTmp"):
        for d in ("/tmp", "/var/tmp"):
            mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    if yes(s, "ProtectHome"):
        for d in ("/home", "/root", "/run/user"):
            if os.path.isdir(d):
                inaccessible(d)
    if yes(s, "PrivateDevices"):
        private_dev()
    proc_opts = []
    if "ProtectProc" in s:
        proc_opts.append(f"hidepid={s['ProtectProc']}")
    if "ProcSubset" in s:
        proc_opts.append(f"subset={s['ProcSubset']}")
    if proc_opts:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, ",".join(proc_opts))
    if yes(s, "ProtectKernelTunables") or yes(s, "ProtectControlGroups"):
        # /sys whole (cgroups included) read-only; /proc/sys too when it is still visible.
        targets = ["/sys"] + ([] if s.get("ProcSubset") == "pid" else ["/proc/sys"])
        for t in targets:
            mount(t, t, None, MS_BIND | MS_REC)
            mount(None, t, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if yes(s, "ProtectKernelLogs"):
        for f in ("/proc/kmsg", "/dev/kmsg"):
            if os.path.exists(f):
                inaccessible(f, is_dir=False)


def yes(s, key):
    v = s.get(key)
    if v is None:
        return False
    if v in ("yes", "true", "1", "on"):
        return True
    if v in ("no", "false", "0", "off"):
        return False
    fail(f"{key}={v} is not emulated")


def expand(names, seen=None):
    """Syscall names of `names`, @groups expanded by systemd-analyze itself."""
    seen = set() if seen is None else seen
    out = set()
    for n in names:
        if not n.startswith("@"):
            out.add(n)
            continue
        if n in seen:
            continue
        seen.add(n)
        listing = subprocess.run(["systemd-analyze", "syscall-filter", n], check=True,
                                 capture_output=True, text=True).stdout
        members = [ln.strip() for ln in listing.splitlines()[1:]
                   if ln.strip() and not ln.strip().startswith("#")]
        out |= expand(members, seen)
    return out


def known(name):
    """Whether this architecture has the call (libseccomp gives the others negative
    pseudo-numbers, and a rule on one is refused)."""
    try:
        return seccomp.resolve_syscall(seccomp.Arch.NATIVE, name) >= 0
    except (ValueError, RuntimeError):
        return False


def syscall_filter(s, kill):
    """SystemCallFilter=: an allow-list (the first entry without ~), later ~ entries taken
    out; the calls systemd always permits stay allowed."""
    lists = s.get_all("SystemCallFilter")
    if not lists:
        return None
    if lists[0].startswith("~"):
        fail("a SystemCallFilter= deny-list first is not emulated")
    allowed = set()
    for entry in lists:
        deny = entry.startswith("~")
        names = expand(entry.lstrip("~").split())
        allowed = allowed - names if deny else allowed | names
    # systemd.exec(5): always permitted, so that the service can start and end at all.
    allowed |= {"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn",
                "clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep",
                "clock_nanosleep"}
    number = s.get("SystemCallErrorNumber", "EPERM")
    action = seccomp.KILL_PROCESS if kill else seccomp.ERRNO(getattr(errno, number))
    f = seccomp.SyscallFilter(action)
    for name in sorted(n for n in allowed if known(n)):
        f.add_rule(seccomp.ALLOW, name)
    return f


def deny_filter(s):
    """The filters systemd adds for settings other than SystemCallFilter=: each denies
    specific calls or arguments and allows the rest."""
    f = seccomp.SyscallFilter(seccomp.ALLOW)
    eperm = seccomp.ERRNO(errno.EPERM)
    rules = 0
    families = s.get("RestrictAddressFamilies")
    if families:
        allowed = {getattr(socket, fam) for fam in families.split()}
        for fam in range(0, 46):  # AF_MAX on Linux 6.x
            if fam not in allowed:
                f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.EQ, fam))
        f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.GE, 46))
        rules += 1
    if yes(s, "RestrictNamespaces"):
        for call in ("unshare", "setns"):
            f.add_rule(eperm, call)
        clone_new = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
        for bit in range(32):
            if clone_new & (1 << bit):
                f.add_rule(eperm, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, 1 << bit, 1 << bit))
        # clone3's flags are in memory a filter cannot read: systemd answers ENOSYS, and
        # glibc falls back to clone.
        f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
        rules += 1
    if yes(s, "LockPersonality"):
        # As systemd: any persona but the current one (PER_LINUX, 0) is refused.
        f.add_rule(eperm, "personality", seccomp.Arg(0, seccomp.NE, 0))
        rules += 1
    if yes(s, "RestrictRealtime"):
        for policy in (1, 2, 6):  # SCHED_FIFO, SCHED_RR, SCHED_DEADLINE
            f.add_rule(eperm, "sched_setscheduler", seccomp.Arg(1, seccomp.EQ, policy))
        rules += 1
    if yes(s, "RestrictSUIDSGID"):
        for mode_bit in (0o4000, 0o2000):
            f.add_rule(eperm, "chmod", seccomp.Arg(1, seccomp.MASKED_EQ, mode_bit, mode_bit))
            f.add_rule(eperm, "fchmod", seccomp.Arg(1, seccomp.MASKED_EQ, mode_bit, mode_bit))
            f.add_rule(eperm, "fchmodat", seccomp.Arg(2, seccomp.MASKED_EQ, mode_bit, mode_bit))
        rules += 1
    for key, group in (("ProtectClock", "@clock"), ("ProtectKernelModules", "@module")):
        if yes(s, key):
            for call in sorted(n for n in expand([group]) if known(n)):
                f.add_rule(eperm, call)
            rules += 1
    if yes(s, "ProtectKernelLogs"):
        f.add_rule(eperm, "syslog")
        rules += 1
    if yes(s, "ProtectHostname"):
        for call in ("sethostname", "setdomainname"):
            f.add_rule(eperm, call)
        rules += 1
    if yes(s, "MemoryDenyWriteExecute"):
        # systemd before 256 enforces it with these rules; later ones with PR_SET_MDWE,
        # which main() sets too.
        prot_wx, prot_x, shm_exec = 0x2 | 0x4, 0x4, 0o100000
        f.add_rule(eperm, "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, prot_wx, prot_wx))
        f.add_rule(eperm, "mprotect", seccomp.Arg(2, seccomp.MASKED_EQ, prot_x, prot_x))
        f.add_rule(eperm, "pkey_mprotect", seccomp.Arg(2, seccomp.MASKED_EQ, prot_x, prot_x))
        f.add_rule(eperm, "shmat", seccomp.Arg(2, seccomp.MASKED_EQ, shm_exec, shm_exec))
        rules += 1
    return f if rules else None


class Settings(dict):
    """[Service] as a dict of last values, with every value of repeatable keys."""

    def __init__(self, entries):
        super().__init__()
        self.entries = entries
        for k, v in entries:
            self[k] = v

    def get_all(self, key):
        """Every value given since the last reset (`Key=`)."""
        return [v for k, v in self.entries if k == key and v]


HANDLED = {
    "User", "Group", "ExecStart", "Environment", "EnvironmentFile", "UMask",
    "NoNewPrivileges", "CapabilityBoundingSet", "AmbientCapabilities", "MemoryDenyWriteExecute",
    "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables",
    "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
    "ProtectProc", "ProcSubset", "RestrictAddressFamilies", "RestrictNamespaces",
    "LockPersonality", "RestrictRealtime", "RestrictSUIDSGID", "SystemCallArchitectures",
    "SystemCallFilter", "SystemCallErrorNumber", "ProtectHostname", "PrivateMounts",
}


def main():
    args = sys.argv[1:]
    kill = "--kill-on-filter" in args
    args = [a for a in args if a != "--kill-on-filter"]
    opts = {}
    while len(args) > 1 and args[-2] in ("--socket", "--dropins"):
        opts[args[-2]] = args[-1]
        args = args[:-2]
    if len(args) != 1:
        fail("usage: unit_exec.py SERVICE_UNIT [--socket SOCKET_UNIT] [--dropins DIR] [--kill-on-filter]")
    service = args[0]
    dropins = opts.get("--dropins")
    s = Settings(parse_unit(service, dropins).get("Service", []))
    unknown = sorted({k for k, _ in s.entries} - HANDLED - SUPERVISION)
    if unknown:
        fail(f"{service}: [Service] {', '.join(unknown)} not emulated: add them to unit_exec.py")
    if s.get("SystemCallArchitectures", "native") != "native":
        fail("SystemCallArchitectures= other than native is not emulated")
    if s.get("CapabilityBoundingSet", "") or s.get("AmbientCapabilities", ""):
        fail("only empty CapabilityBoundingSet=/AmbientCapabilities= are emulated")

    user = pwd.getpwnam(s.get("User", "root"))
    gid = grp.getgrnam(s["Group"]).gr_gid if "Group" in s else user.pw_gid
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", "HOME": user.pw_dir,
           "USER": user.pw_name, "LOGNAME": user.pw_name, "SHELL": user.pw_shell}
    for e in s.get_all("EnvironmentFile"):
        optional = e.startswith("-")
        path = e.lstrip("-")
        if os.path.exists(path):
            env.update(read_env_file(path))
        elif not optional:
            fail(f"EnvironmentFile={path} does not exist")
    for e in s.get_all("Environment"):
        for pair in shlex.split(e):
            k, _, v = pair.partition("=")
            env[k] = v
    argv = exec_words(s["ExecStart"], env)

    if "--socket" in opts:
        socks = listen_sockets(opts["--socket"], dropins)
        # Moved out of the way first (a socket may sit on a descriptor another one needs),
        # then onto 3, 4, ... without close-on-exec, as systemd passes them.
        raw = [sock.detach() for sock in socks]
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in raw]
        for fd in raw:
            os.close(fd)
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i, inheritable=True)
            os.close(fd)
        env["LISTEN_FDS"] = str(len(raw))
        env["LISTEN_PID"] = str(os.getpid())  # execve keeps the pid

    # Read before ProcSubset=pid hides /proc/sys.
    last_cap = int(open("/proc/sys/kernel/cap_last_cap").read())
    namespace(s)
    if "CapabilityBoundingSet" in s:
        for cap in range(last_cap + 1):
            check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), f"dropping capability {cap}")
    os.umask(int(s.get("UMask", "0022"), 8))
    os.setgroups([gid])
    os.setgid(gid)
    os.setuid(user.pw_uid)
    os.chdir("/")
    # systemd sets no_new_privs for any seccomp filter of an unprivileged service.
    if yes(s, "NoNewPrivileges") or "SystemCallFilter" in s:
        check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
    if yes(s, "MemoryDenyWriteExecute"):
        check(libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0), "PR_SET_MDWE")
    for f in (deny_filter(s), syscall_filter(s, kill)):
        if f is not None:
            f.load()
    os.execve(argv[0], argv, env)


if __name__ == "__main__":
    main()
