"""Change a sysfs-shaped tree the way the kernel does on unbind / vfio bind.

Used by the simulator's conformance environment so a test can unbind a
sibling from vfio-pci (the "function in scope not on vfio-pci" case) on a
fixture or recorded tree, exactly as it would write ``driver/unbind`` on a
real host.
"""

from __future__ import annotations

import os
import shutil

from vfioctl.model.host import is_vfio_driver


def _dev_dir(root: str, bdf: str) -> str:
    link = os.path.join(root, "sys/bus/pci/devices", bdf)
    return os.path.normpath(os.path.join(os.path.dirname(link), os.readlink(link)))


def unbind(root: str, bdf: str) -> str | None:
    """Unbind ``bdf`` from its driver; returns the old driver name."""
    d = _dev_dir(root, bdf)
    drv_link = os.path.join(d, "driver")
    if not os.path.islink(drv_link):
        return None
    drv = os.path.basename(os.readlink(drv_link))
    os.unlink(drv_link)
    try:
        os.unlink(os.path.join(root, "sys/bus/pci/drivers", drv, bdf))
    except FileNotFoundError:
        pass
    vd = os.path.join(d, "vfio-dev")
    if os.path.isdir(vd):
        for name in os.listdir(vd):
            for p in (os.path.join(root, "sys/class/vfio-dev", name),
                      os.path.join(root, "dev/vfio/devices", name)):
                if os.path.lexists(p):
                    os.unlink(p)
        shutil.rmtree(vd)
    _sync_group_node(root, d)
    return drv


def bind_vfio(root: str, bdf: str, vfio_name: str | None = None) -> None:
    """Bind ``bdf`` to vfio-pci (creating vfio-dev/vfioX, the cdev and group nodes)."""
    d = _dev_dir(root, bdf)
    if os.path.islink(os.path.join(d, "driver")):
        unbind(root, bdf)
    drv = os.path.join(root, "sys/bus/pci/drivers/vfio-pci")
    os.makedirs(drv, exist_ok=True)
    os.symlink(os.path.relpath(drv, d), os.path.join(d, "driver"))
    os.symlink(os.path.relpath(d, drv), os.path.join(drv, bdf))
    cls = os.path.join(root, "sys/class/vfio-dev")
    os.makedirs(cls, exist_ok=True)
    if vfio_name is None:
        used = set(os.listdir(cls))
        n = 0
        while f"vfio{n}" in used:
            n += 1
        vfio_name = f"vfio{n}"
    vd = os.path.join(d, "vfio-dev", vfio_name)
    os.makedirs(vd)
    noiommu = _group_is_noiommu(d)
    cdev_dir = os.path.join(root, "dev/vfio/devices")
    if not noiommu and os.path.isdir(cdev_dir):
        with open(os.path.join(vd, "dev"), "w") as f:
            f.write(f"511:{vfio_name[4:]}\n")
        open(os.path.join(cdev_dir, vfio_name), "w").close()
    os.symlink(os.path.relpath(vd, cls), os.path.join(cls, vfio_name))
    _sync_group_node(root, d)


def _group_is_noiommu(devdir: str) -> bool:
    g = os.path.join(devdir, "iommu_group")
    try:
        with open(os.path.join(g, "name")) as f:
            return f.read().strip() == "vfio-noiommu"
    except OSError:
        return False


def _sync_group_node(root: str, devdir: str) -> None:
    """/dev/vfio/N exists while any member of group N is bound to vfio-pci."""
    g = os.path.join(devdir, "iommu_group")
    if not os.path.lexists(g):
        return
    gdir = os.path.normpath(os.path.join(devdir, os.readlink(g)))
    num = os.path.basename(gdir)
    node = ("noiommu-" if _group_is_noiommu(devdir) else "") + num
    bound = False
    for m in os.listdir(os.path.join(gdir, "devices")):
        drv = os.path.join(gdir, "devices", m, "driver")
        if os.path.islink(drv) and is_vfio_driver(os.path.basename(os.readlink(drv))):
            bound = True
    devnode = os.path.join(root, "dev/vfio", node)
    if bound and not os.path.exists(devnode):
        open(devnode, "w").close()
    elif not bound and os.path.exists(devnode):
        os.unlink(devnode)
