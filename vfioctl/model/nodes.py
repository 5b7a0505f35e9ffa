"""VFIO node names as the kernel spells them (kernel-vfio.md §4).

These are *node paths inside a root*, the text ``/proc/<pid>/fd`` links and
udev's ``DEVNAME`` carry; :meth:`vfioctl.sysfs.root.Root.node` maps them to a
real path under the root before anything is opened.  Nothing else spells them.
"""

from __future__ import annotations

DEV_VFIO = "/dev/vfio/"
#: the legacy container (``container.c``: misc device "vfio/vfio")
CONTAINER = "/dev/vfio/vfio"
#: the iommufd misc device
IOMMUFD = "/dev/iommu"
#: device cdevs (``device_cdev.c``: devnode "vfio/devices/%s")
CDEV_DIR = "/dev/vfio/devices/"


def group(number: int, noiommu: bool = False) -> str:
    """``/dev/vfio/N``, or ``/dev/vfio/noiommu-N`` for a fake noiommu group."""
    return f"{DEV_VFIO}noiommu-{number}" if noiommu else f"{DEV_VFIO}{number}"


def cdev(name: str) -> str:
    """``/dev/vfio/devices/vfioX``."""
    return CDEV_DIR + name


def is_vfio_node(path: str) -> bool:
    return path.startswith(DEV_VFIO) or path == IOMMUFD
