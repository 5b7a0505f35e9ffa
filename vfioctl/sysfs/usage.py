"""What the host is using a PCI function for: the facts behind bind's guards.

All reads go through the confined :class:`~vfioctl.sysfs.root.Root` API
(links resolved inside the root, no FIFO or device node opened, every read
bounded by its kind in ``LIMITS``; fixture-friendly: a tree written by
:class:`vfioctl.testing.builder.TreeBuilder` answers like a live host):

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
import stat

from vfioctl.sysfs.root import PCI_DEVICES, PCI_DRIVERS, PROC, Root

MAX_WALK = 4000


def _text(root: Root, path: str, limit: int = 4096, kind: str = "attribute") -> str | None:
    """A bounded, non-blocking read through the root (links confined, only
    regular files on a fixture root); None when missing or odd."""
    b = root.read(path, limit, kind)
    return None if b is None else b.decode("utf-8", "replace")


def _table(root: Root, rel: str) -> str:
    """A /proc table (mounts, swaps, net/route...), bounded."""
    return _text(root, root.join(rel), 1 << 20, "table") or ""


def devdir(root: Root, bdf: str) -> str | None:
    p = root.join(f"{PCI_DEVICES}/{bdf}")
    try:
        real = root.realpath(p)
    except OSError:
        return None
    return real if root.isdir(real) else None


def boot_vga(root: Root, bdf: str) -> bool:
    d = devdir(root, bdf)
    return d is not None and (_text(root, os.path.join(d, "boot_vga"), 16) or "").strip() == "1"


def driver_of(root: Root, bdf: str) -> str | None:
    d = devdir(root, bdf)
    if d is None:
        return None
    try:
        return os.path.basename(root.readlink(os.path.join(d, "driver")))
    except OSError:
        return None


def override_of(root: Root, bdf: str) -> str | None:
    d = devdir(root, bdf)
    s = (_text(root, os.path.join(d, "driver_override")) or "").strip() if d else ""
    return None if s in ("", "(null)") else s


def node_exists(root: Root, node: str) -> bool:
    return root.lexists(root.node(node))


def _walk(root: Root, d: str):
    """Directories below the (resolved) directory ``d``, never following a
    link, bounded: (dir, subdirs, files) like ``os.walk``."""
    todo = [d]
    n = 0
    while todo:
        top = todo.pop()
        n += 1
        if n > MAX_WALK:
            return
        try:
            names = sorted(root.listdir(top))
        except OSError:
            continue
        dirs, files = [], []
        for x in names:
            try:
                st = os.lstat(os.path.join(top, x))
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                dirs.append(x)
            elif stat.S_ISREG(st.st_mode):
                files.append(x)
        # another PCI function below a bridge is not ours
        dirs = [x for x in dirs if not (x.count(":") == 2 and "." in x)]
        yield top, dirs, files
        todo.extend(os.path.join(top, x) for x in reversed(dirs))


def net_interfaces(root: Root, bdf: str) -> list[str]:
    d = devdir(root, bdf)
    if d is None:
        return []
    try:
        return sorted(root.listdir(os.path.join(d, "net")))
    except OSError:
        return []


def iface_usage(root: Root, ifname: str) -> dict:
    """{"routes": [...], "addresses": [...]} for one interface."""
    routes, addrs = [], []
    txt = _table(root, f"{PROC}/net/route")
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
    txt = _table(root, f"{PROC}/net/ipv6_route")
    for line in txt.splitlines():
        f = line.split()
        if len(f) >= 10 and f[9] == ifname and not f[0].startswith(("fe80", "ff00")):
            routes.append(_v6(f[0]) + "/" + str(int(f[1], 16)))
    txt = _table(root, f"{PROC}/net/if_inet6")
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
        names = sorted(root.listdir(bdir))
    except OSError:
        return []
    for n in names:
        try:
            real = root.realpath(os.path.join(bdir, n))
        except OSError:
            continue   # a link leading outside the root (recorded in root.warnings)
        if real.startswith(d + "/"):
            out.append(n)
    return out


def block_usage(root: Root, disk: str) -> list[str]:
    """What uses a disk or its partitions: mounts, swap, holders."""
    try:
        real = root.realpath(root.join(f"sys/block/{disk}"))
    except OSError:
        return []
    names = [disk]
    try:
        for e in sorted(root.listdir(real)):
            if e.startswith(disk) and root.isdir(os.path.join(real, e)):
                names.append(e)
    except OSError:
        pass
    out = []
    mounts = _table(root, f"{PROC}/mounts")
    for line in mounts.splitlines():
        f = line.split()
        if len(f) >= 3 and f[0].startswith("/dev/") and f[0][5:] in names:
            out.append(f"{f[0]} is mounted on {f[1]} ({f[2]})")
    swaps = _table(root, f"{PROC}/swaps")
    for line in swaps.splitlines()[1:]:
        f = line.split()
        if f and f[0].startswith("/dev/") and f[0][5:] in names:
            out.append(f"{f[0]} is in use as swap")
    for n in names:
        hdir = os.path.join(real, "holders") if n == disk else os.path.join(real, n, "holders")
        try:
            hs = sorted(root.listdir(hdir))
        except OSError:
            continue
        for h in hs:
            dmname = (_text(root, root.join(f"sys/block/{h}/dm/name"), 256) or "").strip()
            out.append(f"/dev/{n} is held by {h}" + (f" ({dmname})" if dmname else "")
                       + " (md, LVM or device-mapper)")
    return out


def chardev_names(root: Root, bdf: str) -> list[str]:
    """``DEVNAME`` of every class device below the function (snd/controlC0, dri/card0...)."""
    d = devdir(root, bdf)
    if d is None:
        return []
    out = []
    for top, dirs, files in _walk(root, d):
        if "uevent" in files and top != d:
            txt = _text(root, os.path.join(top, "uevent")) or ""
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
    return node_holders_seen(root, nodes_)[0]


def node_holders_seen(root: Root, nodes_: list[str]) -> tuple[list[tuple[int, str, str]], int]:
    """:func:`node_holders`, and how many processes could not be examined
    (their ``fd`` directory unreadable: not root) -- or -1 when ``proc``
    itself could not be listed.  A holder among those is not seen."""
    if not nodes_:
        return [], 0
    want = set(nodes_)
    out = []
    pdir = root.join(PROC)
    try:
        pids = [p for p in root.listdir(pdir) if p.isdigit()]
    except OSError:
        return [], -1
    me = str(os.getpid()) if root.live else None
    unseen = 0
    for pid in pids:
        if pid == me:
            continue
        fddir = os.path.join(pdir, pid, "fd")
        try:
            fds = root.listdir(fddir)
        except PermissionError:
            unseen += 1
            continue
        except OSError:
            continue
        for fdn in fds:
            try:
                t = root.readlink(os.path.join(fddir, fdn))
            except OSError:
                continue
            if t in want:
                comm = (_text(root, os.path.join(pdir, pid, "comm"), 64, "proc") or "?").strip()
                out.append((int(pid), comm, t))
                break
    return sorted(out), unseen


def read_modalias(root: Root, bdf: str) -> str | None:
    """The function's ``modalias`` attribute (``pci:v...d...sv...sd...bc..sc..i..``)."""
    d = devdir(root, bdf)
    s = (_text(root, os.path.join(d, "modalias"), 256) or "").strip() if d else ""
    return s or None


def driver_dir_name(root: Root, module: str) -> str | None:
    """The driver directory a module registers: its name, else ``_`` -> ``-``."""
    for cand in (module, module.replace("_", "-")):
        if root.isdir(root.join(f"{PCI_DRIVERS}/{cand}")):
            return cand
    return None
