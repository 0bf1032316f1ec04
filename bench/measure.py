#!/usr/bin/env python3
"""Runs a command; prints its wall time and the peak total RSS of its whole process tree
(sampled every 50 ms from /proc), so JVM children of PySpark count too.
Usage: measure.py CMD [ARGS...]"""
import os, subprocess, sys, time

def tree_rss(pid):
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return total

start = time.time()
proc = subprocess.Popen(sys.argv[1:])
peak = 0
while proc.poll() is None:
    peak = max(peak, tree_rss(proc.pid))
    time.sleep(0.05)
print(f"    wall {time.time() - start:.2f} s  peak RSS {peak / 2**20:.0f} MiB  (exit {proc.returncode})",
      flush=True)
sys.exit(proc.returncode)
