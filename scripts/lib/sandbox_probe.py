#!/usr/bin/python3
"""Run by scripts/test_package.sh inside the packaged unit's sandbox (scripts/lib/unit_exec.py),
in place of the exporter: tries what the unit's settings forbid and a few things they allow."""
# Each line: what was tried, and the errno it got (or ALLOWED). The errno tells the unit's
# setting from the mere lack of root: EROFS, not EACCES, for a read-only tree.
import ctypes, errno, mmap, os, resource, socket
def attempt(what, f):
    try:
        f()
        print(f"{what}: ALLOWED")
    except OSError as e:
        print(f"{what}: {errno.errorcode.get(e.errno, e.errno)}")
def unshare():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER: unprivileged users may, unless refused
        raise OSError(ctypes.get_errno(), "unshare")
attempt("write /etc", lambda: open("/etc/mpe-probe", "w"))
attempt("write /var/lib", lambda: open("/var/lib/mpe-probe", "w"))
attempt("list /home", lambda: os.listdir("/home"))
attempt("AF_NETLINK socket", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW))
attempt("AF_PACKET socket", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))
attempt("new user namespace", unshare)
attempt("lower its own priority (@resources)", lambda: os.nice(1))
attempt("writable and executable memory", lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC))
attempt("read /proc/meminfo", lambda: open("/proc/meminfo").read())
print("pid 1 visible:", os.path.exists("/proc/1"))
print("user", os.getuid(), "private /tmp:", os.listdir("/tmp") == [])
attempt("write /tmp", lambda: open("/tmp/x", "w").write("x"))
attempt("TCP socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
