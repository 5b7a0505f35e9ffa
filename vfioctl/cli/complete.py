"""Dynamic completion of DEVICE and GROUP arguments, without typer/rich/pyudev.

The shell scripts in ``completions/`` call ``vfioctl __complete KIND [--root DIR]
[--demo] [PREFIX]``; this module answers from one directory listing:

* ``devices``       every PCI function (``sys/bus/pci/devices``);
* ``vfio-devices``  functions bound to vfio-pci or a variant (``sys/bus/pci/drivers/*vfio*``);
* ``groups``        IOMMU group numbers (``sys/kernel/iommu_groups``).
"""

from __future__ import annotations

import os
import sys

#: Every command of the app (kept in sync by tests/test_completions.py).
COMMANDS = ("list", "groups", "show", "reset-info", "tree", "hot-reset", "reset", "check",
            "snapshot", "watch", "completion", "doctor", "bind", "unbind", "export",
            "libvirt-hook")

KINDS = ("devices", "vfio-devices", "groups")


def candidates(root: str, kind: str) -> list[str]:
    from vfioctl.sysfs.root import IOMMU_GROUPS, PCI_DEVICES, PCI_DRIVERS, Root
    r = Root(root)
    try:
        if kind == "devices":
            return sorted(r.listdir(r.join(PCI_DEVICES)))
        if kind == "vfio-devices":
            out: set[str] = set()
            drv = r.join(PCI_DRIVERS)
            for d in r.listdir(drv):
                if d == "vfio-pci" or d.replace("_", "-").endswith("-vfio-pci"):
                    out.update(n for n in r.listdir(os.path.join(drv, d)) if ":" in n)
            return sorted(out)
        if kind == "groups":
            return sorted((g for g in r.listdir(r.join(IOMMU_GROUPS)) if g.isdigit()), key=int)
    except OSError:
        return []
    return []


def main(args: list[str]) -> int:
    if not args or args[0] not in KINDS:
        sys.stderr.write("usage: vfioctl __complete {devices|vfio-devices|groups} "
                         "[--root DIR] [--demo] [PREFIX]\n")
        return 2
    kind, rest = args[0], args[1:]
    root = os.environ.get("VFIOCTL_ROOT") or "/"
    prefix = ""
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "--root" and i + 1 < len(rest):
            root = rest[i + 1]
            i += 2
            continue
        if a.startswith("--root="):
            root = a.split("=", 1)[1]
        elif a == "--demo":
            from vfioctl.testing.demo import demo_root
            root = demo_root()
        else:
            prefix = a
        i += 1
    root = os.path.expanduser(root)
    for c in candidates(root, kind):
        if c.startswith(prefix) or (kind != "groups" and c[5:].startswith(prefix)):
            sys.stdout.write(c + "\n")
    return 0
