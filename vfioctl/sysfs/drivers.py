"""The PCI drivers registered with the kernel (``sys/bus/pci/drivers``)."""

from __future__ import annotations

import os

from vfioctl.sysfs.root import PCI_DRIVERS, Root


def pci_drivers(root: Root | str) -> frozenset[str] | None:
    """Names of the registered PCI drivers; None when the directory cannot be read."""
    r = root if isinstance(root, Root) else Root(root)
    try:
        return frozenset(os.listdir(r.join(PCI_DRIVERS)))
    except OSError:
        return None
