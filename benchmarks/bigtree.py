"""A big, realistic host tree for benchmarks: ``build_big_tree(path, n=4096)``.

Shaped like a large multi-socket server: several PCI domains, each with four
root complexes (root buses 00, 40, 80, c0: 64 bus numbers each, as on AMD
EPYC hosts).  Every root complex has a host bridge and up to 63 hotplug root
ports; below each root port sits one multifunction endpoint with 8 functions
(a multi-port NIC, an NVMe controller with a management function, an
accelerator...).  Each root port and each endpoint has its own IOMMU group
(ACS on the root ports, none inside the multifunction device); every other
endpoint is bound to vfio-pci, the rest to host drivers, so about half of the
functions are vfio-bound.  Exactly ``n`` functions are written.

The tree is cached: calling again with the same ``path`` and ``n`` reuses it.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vfioctl.testing.builder import TreeBuilder  # noqa: E402

#: (vendor, device, class, host driver) of the endpoints, cycled.
ENDPOINTS = (
    (0x8086, 0x1593, 0x020000, "ice"),          # 4-port NIC
    (0x144D, 0xA824, 0x010802, "nvme"),         # NVMe
    (0x10DE, 0x2330, 0x030200, "nvidia"),       # 3D controller
    (0x15B3, 0x101D, 0x020000, "mlx5_core"),    # ConnectX
)
ROOT_BUSES = (0x00, 0x40, 0x80, 0xC0)
PORTS_PER_COMPLEX = 63
FUNCS_PER_DEVICE = 8


def build_big_tree(path: str, n: int = 4096) -> str:
    """Write (or reuse) a tree of exactly ``n`` PCI functions under ``path``."""
    marker = os.path.join(path, "VFIOCTL-FIXTURE")
    meta = {"scenario": "bigtree", "functions": n, "layout": 1}
    try:
        with open(marker) as f:
            if json.load(f) == meta:
                return os.path.abspath(path)
    except (OSError, ValueError):
        pass
    if os.path.exists(path) and os.listdir(path):
        raise FileExistsError(f"{path} exists and is not a bigtree of {n} functions")
    b = TreeBuilder(path, meta=meta)
    count = 0
    group = 0
    port = 0
    domain = 0
    while count < n:
        for rb in ROOT_BUSES:
            if count >= n:
                break
            dom = f"{domain:04x}"
            b.fn(f"{dom}:{rb:02x}:00.0", None, vendor=0x1022, device=0x14A4, cls=0x060000,
                 group=group, pcie=None)
            group += 1
            count += 1
            for i in range(PORTS_PER_COMPLEX):
                if count >= n:
                    break
                sec = rb + 1 + i
                rp = f"{dom}:{rb:02x}:{1 + i // 8:02x}.{i % 8}"
                b.root_port(rp, sec, group=group, slot=str(port + 1),
                            multifunction=(i % 8 == 0))
                group += 1
                count += 1
                vendor, device, cls, drv = ENDPOINTS[port % len(ENDPOINTS)]
                vfio = port % 2 == 0
                nfun = min(FUNCS_PER_DEVICE, n - count)
                for f in range(nfun):
                    b.fn(f"{dom}:{sec:02x}:00.{f}", rp, vendor=vendor, device=device, cls=cls,
                         driver="vfio-pci" if vfio else drv, group=group, flr=True,
                         multifunction=nfun > 1 and f == 0,
                         reset_method="flr bus" if f == 0 else "flr",
                         numa_node=domain)
                group += 1
                count += nfun
                port += 1
        domain += 1
    return b.write()


def build_proc_tree(path: str, procs: int = 2000, fds: int = 100_000) -> str:
    """Write (or reuse) a root whose ``proc`` holds ``procs`` processes with
    ``fds`` fd links in all (files, sockets, pipes, ttys, and a few VFIO
    nodes: every 97th process holds a group, every 89th a cdev), beside a
    small ``sys``/``dev`` so that vfioctl scans it (``/dev/vfio`` exists)."""
    marker = os.path.join(path, "VFIOCTL-FIXTURE")
    meta = {"scenario": "proctree", "processes": procs, "fds": fds, "layout": 1}
    try:
        with open(marker) as f:
            if json.load(f) == meta:
                return os.path.abspath(path)
    except (OSError, ValueError):
        pass
    if os.path.exists(path) and os.listdir(path):
        raise FileExistsError(f"{path} exists and is not a proc tree of {procs}/{fds}")
    b = TreeBuilder(path, meta=dict(meta, complete=False))   # marked complete at the end
    b.fn("0000:00:00.0", None, vendor=0x8086, device=0x1237, cls=0x060000, group=0)
    b.root_port("0000:00:01.0", 0x01, group=1, slot="1")
    b.fn("0000:01:00.0", "0000:00:01.0", vendor=0x10DE, device=0x2230, cls=0x030000,
         driver="vfio-pci", group=2)
    b.write()
    proc = os.path.join(path, "proc")
    kinds = ("/usr/lib/x86_64-linux-gnu/libc.so.6", "socket:[{}]", "pipe:[{}]", "/dev/pts/{}",
             "anon_inode:[eventfd]", "/var/log/syslog", "/dev/null")
    n = 0
    for i in range(procs):
        pid = 1000 + i
        fd_dir = os.path.join(proc, str(pid), "fd")
        os.makedirs(fd_dir)
        with open(os.path.join(proc, str(pid), "comm"), "w") as f:
            f.write(f"worker-{i}\n")
        mine = fds // procs + (1 if i < fds % procs else 0)
        for k in range(mine):
            t = kinds[(i + k) % len(kinds)].format(10000 + n)
            if k == 5 and i % 97 == 0:
                t = "/dev/vfio/2"
            elif k == 6 and i % 89 == 0:
                t = "/dev/vfio/devices/vfio0"
            os.symlink(t, os.path.join(fd_dir, str(k)))
            n += 1
    with open(marker, "w") as f:
        json.dump(meta, f)
    return os.path.abspath(path)


if __name__ == "__main__":  # pragma: no cover
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path")
    ap.add_argument("-n", type=int, default=4096)
    a = ap.parse_args()
    print(build_big_tree(a.path, a.n))
