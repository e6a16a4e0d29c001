"""What /proc says of a process, for the benchmark scripts (compare.py, sampler.py): its
CPU time and its resident memory.

CPU time, two readings: utime + stime of the whole process from /proc/PID/stat (finished threads
included, but in clock ticks of 10 ms), and each live thread's run time from
/proc/PID/task/*/schedstat (nanoseconds, but a thread that ends takes its time with it).
"""

import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (which may hold spaces)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_ticks_ms(pid):
    """utime + stime of a process (all its threads, also finished ones), in ms."""
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) * 1000.0 / CLK_TCK


def thread_runtimes(pid):
    """{tid: ns on CPU} of the live threads."""
    out = {}
    base = f"/proc/{pid}/task"
    for tid in os.listdir(base):
        try:
            with open(f"{base}/{tid}/schedstat") as f:
                out[tid] = int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def rss_mib(pid):
    """(VmRSS, RssAnon) in MiB, each None when the kernel does not give it: the resident
    set, and its part not backed by files (heap, stacks; the rest is mostly the executable's
    and the libraries' pages)."""
    v = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, rest = line.partition(":")
            if k in ("VmRSS", "RssAnon"):
                v[k] = int(rest.split()[0]) / 1024.0
    return v.get("VmRSS"), v.get("RssAnon")
