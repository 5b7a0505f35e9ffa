"""Human names for PCI ids, cheapest source first, never slow.

1. The udev database under the root (``run/udev/data/+pci:<bdf>``, lines
   ``E:ID_VENDOR_FROM_DATABASE=`` / ``E:ID_MODEL_FROM_DATABASE=``): the very
   files libudev/pyudev read on a live host, read here through the root so
   that fixtures and ``vfioctl snapshot`` trees keep their names and no
   ctypes call sits on the listing path.  One small read per device.
2. A ``pci.ids`` file (the root's, then the host's usual locations), looked
   up only for the vendor ids present.
3. Otherwise ids only.

``VFIOCTL_PCI_IDS=PATH|none`` overrides the pci.ids lookup (tests use it).
"""

from __future__ import annotations

import os

from vfioctl.model.host import Host
from vfioctl.sysfs.root import Root

UDEV_DATA = "run/udev/data"
PCI_IDS = ("usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids", "usr/share/pci.ids")


def _udev_names(root: Root, bdf: str) -> tuple[str | None, str | None]:
    try:
        with open(root.join(f"{UDEV_DATA}/+pci:{bdf}"), "rb") as f:
            data = f.read(8192).decode("utf-8", "replace")
    except OSError:
        return None, None
    v = d = None
    for line in data.splitlines():
        if line.startswith("E:ID_VENDOR_FROM_DATABASE="):
            v = line.split("=", 1)[1]
        elif line.startswith("E:ID_MODEL_FROM_DATABASE="):
            d = line.split("=", 1)[1]
    return v, d


def find_pci_ids(root: Root) -> str | None:
    """The root's pci.ids, else the host's; ``VFIOCTL_PCI_IDS`` (a path, or
    ``none``) overrides both."""
    env = os.environ.get("VFIOCTL_PCI_IDS")
    if env:
        return None if env == "none" else env
    for rel in PCI_IDS:
        for base in ((root.path, "/") if not root.live else ("/",)):
            p = os.path.join(base, rel)
            if os.path.isfile(p):
                return p
    return None


def parse_pci_ids(path: str, vendors: set[int]) -> dict[tuple[int, int | None], str]:
    """Names for ``(vendor, None)`` and ``(vendor, device)`` of the wanted vendors.

    Jumps to each vendor's line (``\nvvvv  Name``) with ``bytes.find`` instead
    of parsing the whole 1.3 MB file line by line; its device lines
    (``\tdddd  Name``) follow until the next unindented line.
    """
    out: dict[tuple[int, int | None], str] = {}
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return {}
    end_vendors = data.find(b"\nC ")          # the device-class section follows
    if end_vendors < 0:
        end_vendors = len(data)
    for v in vendors:
        key = b"\n%04x  " % v
        i = data.find(key, 0, end_vendors)
        if i < 0:
            continue
        eol = data.find(b"\n", i + 1)
        out[(v, None)] = data[i + 7:eol].decode("utf-8", "replace").strip()
        pos = eol + 1
        while pos < end_vendors and data[pos:pos + 1] in (b"\t", b"#"):
            eol = data.find(b"\n", pos)
            if eol < 0:
                eol = len(data)
            line = data[pos:eol]
            if line[:1] == b"\t" and line[1:2] != b"\t":
                try:
                    out[(v, int(line[1:5], 16))] = line[7:].decode("utf-8", "replace").strip()
                except ValueError:
                    pass
            pos = eol + 1
    return out


def fill_names(host: Host, root: Root) -> None:
    """Set ``vendor_name``/``device_name`` on every function where known."""
    missing = []
    have_udev = os.path.isdir(root.join(UDEV_DATA))
    for fn in host.functions.values():
        v, d = _udev_names(root, str(fn.address)) if have_udev else (None, None)
        fn.vendor_name, fn.device_name = v, d
        if v is None or d is None:
            missing.append(fn)
    if not missing:
        return
    path = find_pci_ids(root)
    if path is None:
        return
    table = parse_pci_ids(path, {f.vendor for f in missing if f.vendor is not None})
    for fn in missing:
        if fn.vendor is None:
            continue
        fn.vendor_name = fn.vendor_name or table.get((fn.vendor, None))
        if fn.device is not None:
            fn.device_name = fn.device_name or table.get((fn.vendor, fn.device))
