"""Turn what a user typed into PCI functions and groups.

DEVICE may be a full (``0000:81:00.0``) or short (``81:00.0``) address, a
cdev name (``vfio3``), a cdev node (``/dev/vfio/devices/vfio3``) or a sysfs
path (``/sys/bus/pci/devices/0000:81:00.0``, ``/sys/devices/pci0000:80/...``).
"""

from __future__ import annotations

import re

from vfioctl.errors import NotFoundError, UsageError
from vfioctl.model.address import PciAddress
from vfioctl.model.host import Host, IommuGroup, PciFunction
from vfioctl.model import nodes

_VFIO = re.compile(r"^(?:/dev/vfio/devices/)?(vfio\d+)$")
_BDF_IN_PATH = re.compile(r"([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])")
_SHORT = re.compile(r"^[0-9a-fA-F]{2}:[0-9a-fA-F]{1,2}\.[0-7]$")

HINT_FORMS = ("use DDDD:BB:DD.F (e.g. 0000:81:00.0), BB:DD.F, vfioX, "
              "/dev/vfio/devices/vfioX or a sysfs device path")


def resolve_device(host: Host, text: str) -> PciFunction:
    t = text.strip()
    m = _VFIO.match(t)
    if m:
        name = m.group(1)
        hits = [f for f in host.functions.values() if f.vfio_dev == name]
        if not hits:
            raise NotFoundError(f"no device has the vfio cdev {name}",
                                "'vfioctl list --vfio' shows the vfio devices and their cdevs",
                                device=text)
        return hits[0]
    if "/" in t:
        found = _BDF_IN_PATH.findall(t)
        if not found or not (t.startswith("/sys/") or t.startswith("sys/")
                             or "/sys/" in t):
            raise UsageError(f"{text!r} is not a PCI address, vfio cdev or sysfs path",
                             HINT_FORMS, device=text)
        addr = PciAddress.parse(found[-1])
        return _by_address(host, addr, text)
    if _SHORT.match(t):
        a = PciAddress.parse(t)
        hits = [f for f in host.functions.values()
                if (f.address.bus, f.address.slot, f.address.function) == (a.bus, a.slot, a.function)]
        if len(hits) > 1:
            raise UsageError(f"{text!r} is ambiguous: " + ", ".join(
                sorted(str(f.address) for f in hits)), "give the full address with its domain",
                device=text)
        if hits:
            return hits[0]
        return _by_address(host, a, text)
    a = PciAddress.try_parse(t)
    if a is None:
        raise UsageError(f"{text!r} is not a PCI address, vfio cdev or sysfs path",
                         HINT_FORMS, device=text)
    return _by_address(host, a, text)


def _by_address(host: Host, addr: PciAddress, text: str) -> PciFunction:
    f = host.functions.get(addr)
    if f is None:
        raise NotFoundError(f"no PCI function {addr} on this host",
                            "'vfioctl list' shows the functions present", device=text)
    return f


def resolve_group(host: Host, text: str) -> IommuGroup:
    t = text.strip()
    if t.startswith(nodes.DEV_VFIO):
        t = t[len(nodes.DEV_VFIO):]
    if t.startswith("noiommu-"):
        t = t[len("noiommu-"):]
    try:
        n = int(t)
    except ValueError:
        raise UsageError(f"{text!r} is not an IOMMU group number",
                         "give a number as 'vfioctl groups' lists them", group=text) from None
    g = host.groups.get(n)
    if g is None:
        raise NotFoundError(f"no IOMMU group {n} on this host",
                            "'vfioctl groups' lists the groups present", group=text)
    return g
