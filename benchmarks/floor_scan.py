#!/usr/bin/env python3
"""The floor under ``vfioctl list --json`` in Python: a bare scan of the files
``list`` must read per function, confined the cheapest way vfioctl could
(``lstat`` before opening, as ``Root`` does on a fixture root), no model, no
output.  Run by bench_speed.py as its own process:

    python benchmarks/floor_scan.py TREE

Per function: ``readlink`` of ``bus/pci/devices/<bdf>``, then ``config``
(64 bytes), ``driver_override`` and ``numa_node``, each ``lstat`` + open +
read + close.  Groups, slots, drivers, names and holders are not read.
"""

import os
import sys

R = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW


def main(tree: str) -> int:
    d = tree + "/sys/bus/pci/devices"
    lstat, open_, read, close, readlink = os.lstat, os.open, os.read, os.close, os.readlink
    n = 0
    for name in sorted(os.listdir(d)):
        real = os.path.normpath(d + "/" + readlink(d + "/" + name))
        for a in ("/config", "/driver_override", "/numa_node"):
            p = real + a
            try:
                lstat(p)
                fd = open_(p, R)
            except OSError:
                continue
            read(fd, 64)
            close(fd)
        n += 1
    return 0 if n else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
