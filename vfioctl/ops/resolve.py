"""Turn what a user typed into PCI functions and groups.

DEVICE may be a full (``0000:81:00.0``) or short (``81:00.0``) address, a
cdev name (``vfio3``), a cdev node (``/dev/vfio/devices/vfio3``) or a sysfs
path (``/sys/bus/pci/devices/0000:81:00.0``, ``/sys/devices/pci0000:80/...``).

Strict (issue 8): the short form means domain 0000, as documented (another
domain's function with the same bus/device/function is named in the
not-found error, never chosen); a path is normalised before it is matched
and must lie under ``/sys/bus/pci/devices/``, ``/sys/devices/`` or
``/dev/vfio/devices/``.
"""

from __future__ import annotations

import posixpath
import re

from vfioctl.errors import NotFoundError, UsageError
from vfioctl.model.address import PciAddress
from vfioctl.model.host import Host, IommuGroup, PciFunction
from vfioctl.model import nodes

_VFIO = re.compile(r"^(?:/dev/vfio/devices/)?(vfio\d+)$")
_BDF_IN_PATH = re.compile(r"([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])")
_SHORT = re.compile(r"^[0-9a-fA-F]{2}:[0-9a-fA-F]{1,2}\.[0-7]$")

_CDEV_DIR = "/dev/vfio/devices/"
_SYSFS_PREFIXES = ("/sys/bus/pci/devices/", "/sys/devices/")

HINT_FORMS = ("use DDDD:BB:DD.F (e.g. 0000:81:00.0), BB:DD.F, vfioX, "
              "/dev/vfio/devices/vfioX or a sysfs device path")


def resolve_device(host: Host, text: str) -> PciFunction:
    t = text.strip()
    m = _VFIO.match(t)
    if m:
        name = m.group(1)
        hits = host.by_vfio_dev(name)
        if not hits:
            raise NotFoundError(f"no device has the vfio cdev {name}",
                                "'vfioctl list --vfio' shows the vfio devices and their cdevs",
                                device=text)
        return hits[0]
    if "/" in t:
        # normalised first: /sys/../etc/0000:81:00.0 is /etc/0000:81:00.0
        if "\0" in t:
            raise UsageError(f"{text!r} is not a PCI address, vfio cdev or sysfs path",
                             HINT_FORMS, device=text)
        norm = posixpath.normpath("/" + t.lstrip("/"))
        if norm.startswith(_CDEV_DIR):
            m = _VFIO.match(norm)
            if m:
                return resolve_device(host, m.group(1))
        found = _BDF_IN_PATH.findall(norm)
        if not found or not norm.startswith(_SYSFS_PREFIXES):
            raise UsageError(f"{text!r} is not a PCI address, vfio cdev or sysfs path",
                             HINT_FORMS, device=text)
        if norm.startswith(_SYSFS_PREFIXES[0]) and norm.count("/") != 5:
            # /sys/bus/pci/devices/<bdf> and nothing below it
            raise UsageError(f"{text!r} is not a PCI device directory", HINT_FORMS, device=text)
        if norm.startswith("/sys/devices/") and not _BDF_IN_PATH.fullmatch(
                norm.rsplit("/", 1)[1]):
            raise UsageError(f"{text!r} does not end in a PCI device directory", HINT_FORMS,
                             device=text)
        addr = PciAddress.parse(found[-1])
        return _by_address(host, addr, text)
    if _SHORT.match(t):
        # documented: the short form means domain 0000 (vfioctl(8), DEVICE)
        a = PciAddress.parse(t)
        f = host.functions.get(a)
        if f is not None:
            return f
        others = sorted(str(x.address) for x in host.functions_at(a.bus, a.slot, a.function))
        if others:
            raise NotFoundError(f"no PCI function {a} on this host (the short form {t} means "
                                f"domain 0000); in other domains: {', '.join(others)}",
                                "give the full address with its domain", device=text)
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
