"""Environments the scenario table runs in: the simulator over a tree, or the
real kernel (inside the QEMU guest)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager, ExitStack

from vfioctl.model.address import PciAddress
from vfioctl.sysfs.reader import read_host
from tests.conformance.roles import find_roles


class SimEnv:
    """The simulator over a (copied) fixture or recorded tree."""

    name = "sim"

    def __init__(self, root: str, kind: str):
        self.root, self.kind = root, kind
        self._roles = None

    def kernel(self):
        from vfioctl.kernel.sim import SimKernel
        return SimKernel(self.root)

    def host(self):
        return read_host(self.root)

    def roles(self):
        if self._roles is None:
            self._roles = find_roles(self.host())
        return self._roles

    @contextmanager
    def setup(self, steps, roles):
        from vfioctl.kernel.sim import SimKernel
        from vfioctl.testing import treeops
        with ExitStack() as stack:
            for action, role in steps:
                bdf = roles[role]
                if action == "unbind":
                    drv = treeops.unbind(self.root, bdf)
                    if drv == "vfio-pci":
                        stack.callback(treeops.bind_vfio, self.root, bdf)
                elif action in ("hold-group", "hold-bound-cdev"):
                    holder = SimKernel(self.root, comm="holder")
                    stack.callback(holder.close_all)
                    h = self.host()
                    f = h.functions[PciAddress.parse(bdf)]
                    if action == "hold-group":
                        holder.open_group(h.group_of(f).node)
                    else:
                        ctx = holder.open_iommufd()
                        d = holder.open_cdev(h.cdev_node(f))
                        holder.VFIO_DEVICE_BIND_IOMMUFD(d, ctx)
                else:
                    raise ValueError(action)
            yield


_HOLDER = r"""
import os, sys, time
sys.path.insert(0, sys.argv[1])
what, node = sys.argv[2], sys.argv[3]
if what == "group":
    fd = os.open(node, os.O_RDWR)
else:
    from vfioctl.kernel.real import RealKernel
    k = RealKernel("/")
    ctx = k.open_iommufd()
    d = k.open_cdev(node)
    k.VFIO_DEVICE_BIND_IOMMUFD(d, ctx)
print("ready", flush=True)
time.sleep(600)
"""


class RealEnv:
    """The running kernel (root /): sysfs writes for set-up, child processes as holders."""

    name = "real"

    def __init__(self, kind: str):
        self.root, self.kind = "/", kind
        self._roles = None

    def kernel(self):
        from vfioctl.kernel.real import RealKernel
        return RealKernel("/")

    def host(self):
        return read_host("/")

    def roles(self):
        if self._roles is None:
            self._roles = find_roles(self.host())
        return self._roles

    @staticmethod
    def _write(path: str, text: str) -> None:
        with open(path, "w") as f:
            f.write(text)

    def _rebind(self, bdf: str) -> None:
        self._write(f"/sys/bus/pci/devices/{bdf}/driver_override", "vfio-pci")
        self._write("/sys/bus/pci/drivers_probe", bdf)
        for _ in range(50):
            if os.path.exists(f"/sys/bus/pci/devices/{bdf}/driver"):
                return
            time.sleep(0.05)

    @contextmanager
    def setup(self, steps, roles):
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with ExitStack() as stack:
            for action, role in steps:
                bdf = roles[role]
                if action == "unbind":
                    self._write(f"/sys/bus/pci/devices/{bdf}/driver/unbind", bdf)
                    stack.callback(self._rebind, bdf)
                elif action in ("hold-group", "hold-bound-cdev"):
                    h = self.host()
                    f = h.functions[PciAddress.parse(bdf)]
                    node = h.group_of(f).node if action == "hold-group" else h.cdev_node(f)
                    p = subprocess.Popen([sys.executable, "-c", _HOLDER, repo,
                                          "group" if action == "hold-group" else "cdev", node],
                                         stdout=subprocess.PIPE, text=True)
                    line = p.stdout.readline()
                    if line.strip() != "ready":
                        p.kill()
                        raise RuntimeError(f"holder for {node} did not start")
                    stack.callback(lambda p=p: (p.kill(), p.wait()))
                else:
                    raise ValueError(action)
            self._roles = None
            yield
        self._roles = None
