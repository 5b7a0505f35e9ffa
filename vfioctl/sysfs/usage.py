"""What the host is using a PCI function for: the facts behind bind's guards.

All reads are under one root and bounded (fixture-friendly: a tree written
by :class:`vfioctl.testing.builder.TreeBuilder` answers like a live host):

* ``boot_vga`` of the function (linux ``pci-sysfs.c boot_vga_show``);
* network interfaces below it (``net/<if>``) and, per interface, its routes
  (``proc/net/route``, ``proc/net/ipv6_route``) and non-link-local IPv6
  addresses (``proc/net/if_inet6``); an IPv4 address shows as its connected
  route, which is what dpdk-devbind looks at (``ip -o route``);
* disks below it (``block/`` entries of ``sys/block/*`` that resolve under
  the function's directory), their partitions, and for each: mounts
  (``proc/mounts``), swap (``proc/swaps``) and holders (``holders/`` - md,
  LVM, dm);
* character devices below it (``uevent`` ``DEVNAME=``) and the processes
  holding them open (``proc/*/fd`` links to ``/dev/<DEVNAME>``).
"""

from __future__ import annotations

import os

from vfioctl.sysfs.root import PCI_DEVICES, PROC, Root

MAX_READ = 1 << 20
MAX_WALK = 4000


def _read(path: str, limit: int = MAX_READ) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        import stat
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


def devdir(root: Root, bdf: str) -> str | None:
    p = root.join(f"{PCI_DEVICES}/{bdf}")
    if not os.path.lexists(p):
        return None
    real = os.path.realpath(p)
    return real if real.startswith(root.path) and os.path.isdir(real) else None


def boot_vga(root: Root, bdf: str) -> bool:
    d = devdir(root, bdf)
    return d is not None and (_read(os.path.join(d, "boot_vga"), 16) or "").strip() == "1"


def driver_of(root: Root, bdf: str) -> str | None:
    d = devdir(root, bdf)
    if d is None:
        return None
    try:
        return os.path.basename(os.readlink(os.path.join(d, "driver")))
    except OSError:
        return None


def override_of(root: Root, bdf: str) -> str | None:
    d = devdir(root, bdf)
    s = (_read(os.path.join(d, "driver_override"), 4096) or "").strip() if d else ""
    return None if s in ("", "(null)") else s


def node_exists(root: Root, node: str) -> bool:
    return os.path.exists(root.node(node))


def _walk(d: str):
    """Directories below ``d`` (not following links), bounded."""
    n = 0
    for top, dirs, files in os.walk(d):
        n += 1
        if n > MAX_WALK:
            return
        # another PCI function below a bridge is not ours
        dirs[:] = [x for x in dirs if not (x.count(":") == 2 and "." in x)]
        yield top, dirs, files


def net_interfaces(root: Root, bdf: str) -> list[str]:
    d = devdir(root, bdf)
    if d is None:
        return []
    try:
        return sorted(os.listdir(os.path.join(d, "net")))
    except OSError:
        return []


def iface_usage(root: Root, ifname: str) -> dict:
    """{"routes": [...], "addresses": [...]} for one interface."""
    routes, addrs = [], []
    txt = _read(root.join(f"{PROC}/net/route")) or ""
    for line in txt.splitlines()[1:]:
        f = line.split()
        if len(f) >= 8 and f[0] == ifname:
            try:
                dst = ".".join(str(b) for b in bytes.fromhex(f[1])[::-1])
                mask = bin(int(f[7], 16)).count("1")
            except ValueError:
                continue
            if dst.startswith("169.254."):
                continue  # dpdk-devbind ignores link-local routes too
            routes.append(f"{dst}/{mask}")
    txt = _read(root.join(f"{PROC}/net/ipv6_route")) or ""
    for line in txt.splitlines():
        f = line.split()
        if len(f) >= 10 and f[9] == ifname and not f[0].startswith(("fe80", "ff00")):
            routes.append(_v6(f[0]) + "/" + str(int(f[1], 16)))
    txt = _read(root.join(f"{PROC}/net/if_inet6")) or ""
    for line in txt.splitlines():
        f = line.split()
        if len(f) >= 6 and f[5] == ifname and f[3] != "20":  # 0x20: link-local scope
            addrs.append(_v6(f[0]))
    return {"routes": routes, "addresses": addrs}


def _v6(h: str) -> str:
    try:
        import ipaddress
        return str(ipaddress.IPv6Address(bytes.fromhex(h)))
    except ValueError:
        return h


def block_devices(root: Root, bdf: str) -> list[str]:
    """Disks whose sysfs directory lies below the function's."""
    d = devdir(root, bdf)
    if d is None:
        return []
    out = []
    bdir = root.join("sys/block")
    try:
        names = sorted(os.listdir(bdir))
    except OSError:
        return []
    for n in names:
        real = os.path.realpath(os.path.join(bdir, n))
        if real.startswith(d + "/"):
            out.append(n)
    return out


def block_usage(root: Root, disk: str) -> list[str]:
    """What uses a disk or its partitions: mounts, swap, holders."""
    real = os.path.realpath(root.join(f"sys/block/{disk}"))
    names = [disk]
    try:
        for e in sorted(os.listdir(real)):
            if e.startswith(disk) and os.path.isdir(os.path.join(real, e)):
                names.append(e)
    except OSError:
        pass
    out = []
    mounts = _read(root.join(f"{PROC}/mounts")) or ""
    for line in mounts.splitlines():
        f = line.split()
        if len(f) >= 3 and f[0].startswith("/dev/") and f[0][5:] in names:
            out.append(f"{f[0]} is mounted on {f[1]} ({f[2]})")
    swaps = _read(root.join(f"{PROC}/swaps")) or ""
    for line in swaps.splitlines()[1:]:
        f = line.split()
        if f and f[0].startswith("/dev/") and f[0][5:] in names:
            out.append(f"{f[0]} is in use as swap")
    for n in names:
        hdir = os.path.join(real, "holders") if n == disk else os.path.join(real, n, "holders")
        try:
            hs = sorted(os.listdir(hdir))
        except OSError:
            continue
        for h in hs:
            dmname = (_read(root.join(f"sys/block/{h}/dm/name"), 256) or "").strip()
            out.append(f"/dev/{n} is held by {h}" + (f" ({dmname})" if dmname else "")
                       + " (md, LVM or device-mapper)")
    return out


def chardev_names(root: Root, bdf: str) -> list[str]:
    """``DEVNAME`` of every class device below the function (snd/controlC0, dri/card0...)."""
    d = devdir(root, bdf)
    if d is None:
        return []
    out = []
    for top, dirs, files in _walk(d):
        if "uevent" in files and top != d:
            txt = _read(os.path.join(top, "uevent"), 4096) or ""
            typ = ""
            name = None
            for line in txt.splitlines():
                if line.startswith("DEVNAME="):
                    name = line[8:]
                elif line.startswith("DEVTYPE="):
                    typ = line[8:]
            if name and typ not in ("disk", "partition"):
                out.append(name)
    return sorted(set(out))


def node_holders(root: Root, nodes_: list[str]) -> list[tuple[int, str, str]]:
    """(pid, comm, node) of processes with an fd on any of ``nodes_`` (/dev/... paths)."""
    if not nodes_:
        return []
    want = set(nodes_)
    out = []
    pdir = root.join(PROC)
    try:
        pids = [p for p in os.listdir(pdir) if p.isdigit()]
    except OSError:
        return []
    me = str(os.getpid()) if root.live else None
    for pid in pids:
        if pid == me:
            continue
        fddir = os.path.join(pdir, pid, "fd")
        try:
            fds = os.listdir(fddir)
        except OSError:
            continue
        for fdn in fds:
            try:
                t = os.readlink(os.path.join(fddir, fdn))
            except OSError:
                continue
            if t in want:
                comm = (_read(os.path.join(pdir, pid, "comm"), 64) or "?").strip()
                out.append((int(pid), comm, t))
                break
    return sorted(out)


def read_modalias(root: Root, bdf: str) -> str | None:
    """The function's ``modalias`` attribute (``pci:v...d...sv...sd...bc..sc..i..``)."""
    d = devdir(root, bdf)
    s = (_read(os.path.join(d, "modalias"), 256) or "").strip() if d else ""
    return s or None


def driver_dir_name(root: Root, module: str) -> str | None:
    """The driver directory a module registers: its name, else ``_`` -> ``-``."""
    for cand in (module, module.replace("_", "-")):
        if os.path.isdir(root.join(f"sys/bus/pci/drivers/{cand}")):
            return cand
    return None
