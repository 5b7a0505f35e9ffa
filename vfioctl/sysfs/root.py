"""The filesystem root every path is built from.

``Root("/")`` is the live host; ``Root("tests/fixtures/x")`` a fixture tree
holding ``sys/``, ``dev/`` and ``proc/``.  No other module joins paths onto
``/sys``, ``/dev`` or ``/proc``: they ask the root.  Paths *inside* the root
that the kernel itself would print (``/dev/vfio/12``) are called *node paths*
and are turned into real paths with :meth:`Root.node`.
"""

from __future__ import annotations

import os

# Relative locations (the kernel's layout, kernel-vfio.md §4).
PCI_DEVICES = "sys/bus/pci/devices"
PCI_DRIVERS = "sys/bus/pci/drivers"
PCI_SLOTS = "sys/bus/pci/slots"
IOMMU_GROUPS = "sys/kernel/iommu_groups"
CLASS_VFIO = "sys/class/vfio"
CLASS_VFIO_DEV = "sys/class/vfio-dev"
CLASS_IOMMU = "sys/class/iommu"
NOIOMMU_PARAM = "sys/module/vfio/parameters/enable_unsafe_noiommu_mode"
DEV_VFIO = "dev/vfio"
DEV_VFIO_DEVICES = "dev/vfio/devices"
DEV_IOMMU = "dev/iommu"
PROC = "proc"


class Root:
    """A filesystem root; see the module docstring."""

    __slots__ = ("path",)

    def __init__(self, path: str | os.PathLike = "/"):
        self.path = os.path.abspath(os.fspath(path))

    @property
    def live(self) -> bool:
        return self.path == "/"

    def join(self, rel: str) -> str:
        """Real path of ``rel`` (relative to the root, no leading slash)."""
        return os.path.join(self.path, rel)

    def node(self, node_path: str) -> str:
        """Real path of a node path such as ``/dev/vfio/12``."""
        return os.path.join(self.path, node_path.lstrip("/"))

    def to_node(self, real: str) -> str:
        """Inverse of :meth:`node`: a real path under the root as a node path."""
        rel = os.path.relpath(real, self.path)
        return "/" + rel

    def sys(self, rel: str = "") -> str:
        return os.path.join(self.path, "sys", rel) if rel else os.path.join(self.path, "sys")

    def __repr__(self) -> str:
        return f"Root({self.path!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Root) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)
