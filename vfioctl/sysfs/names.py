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
import re

from vfioctl.model.host import Host
from vfioctl.sysfs.root import Root

UDEV_DATA = "run/udev/data"
PCI_IDS = ("usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids", "usr/share/pci.ids")


def _udev_names(root: Root, bdf: str) -> tuple[str | None, str | None]:
    raw = root.read(root.join(f"{UDEV_DATA}/+pci:{bdf}"), 8192, "udev")
    if raw is None:
        return None, None
    data = raw.decode("utf-8", "replace")
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
        if not root.live:
            try:
                p = root.resolve(root.join(rel))   # the root's copy, resolved inside it
            except OSError:
                p = None
            if p is not None and os.path.isfile(p):
                return p
        p = "/" + rel
        if os.path.isfile(p):
            return p
    return None


def parse_pci_ids(path: str, vendors: set[int], warn=None) -> dict[tuple[int, int | None], str]:
    """Names for ``(vendor, None)`` and ``(vendor, device)`` of the wanted vendors.

    Jumps to each vendor's line (``\nvvvv  Name``) with ``bytes.find`` instead
    of parsing the whole 1.3 MB file line by line; its device lines
    (``\tdddd  Name``) follow until the next unindented line.
    """
    from vfioctl.sysfs.root import read_file
    try:
        data = read_file(path, "pci.ids")   # regular, bounded, non-blocking
    except OSError as e:
        if warn is not None:
            warn(f"{path}: {e.strerror}; pci.ids names not used")
        return {}
    if data is None:
        return {}
    return lookup_pci_ids(data, vendors)


def lookup_pci_ids(data: bytes, vendors: set[int]) -> dict[tuple[int, int | None], str]:
    """:func:`parse_pci_ids` over the file's bytes, already read."""
    out: dict[tuple[int, int | None], str] = {}
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
    names = NameCache(root, warn=host.warnings.append)
    for fn in host.functions.values():
        names.fill(fn)


_BLOCK_END = re.compile(rb"\n[^\t#]")


def lookup_name(data: bytes, vendor: int, device: int | None,
                end_vendors: int | None = None) -> tuple[str | None, str | None]:
    """(vendor name, device name) from pci.ids' bytes, as :func:`parse_pci_ids`
    finds them, without walking the vendor's device lines: the vendor line,
    the end of its block (the next line that is not indented or a comment),
    then the ``\tdddd  `` line inside it."""
    if end_vendors is None:
        end_vendors = data.find(b"\nC ")
        if end_vendors < 0:
            end_vendors = len(data)
    i = data.find(b"\n%04x  " % vendor, 0, end_vendors)
    if i < 0:
        return None, None
    eol = data.find(b"\n", i + 1)
    if eol < 0:
        eol = len(data)
    vname = data[i + 7:eol].decode("utf-8", "replace").strip()
    if device is None:
        return vname, None
    j = data.find(b"\n\t%04x  " % device, eol, end_vendors)
    if j < 0 or _BLOCK_END.search(data, eol, j + 1):   # found in another vendor's block
        return vname, None
    eol2 = data.find(b"\n", j + 1)
    if eol2 < 0:
        eol2 = len(data)
    return vname, data[j + 8:eol2].decode("utf-8", "replace").strip()


class NameCache:
    """Names for functions read one at a time (a host read on demand): the
    udev database per function, else pci.ids looked up per vendor, once."""

    def __init__(self, root: Root, warn=None):
        self.root = root
        self.warn = warn
        self.have_udev = root.isdir(root.join(UDEV_DATA))
        self.data: bytes | None | bool = False   # pci.ids; False: not read yet
        self.table: dict[tuple[int, int | None], tuple[str | None, str | None]] = {}
        self.end = -1   # where the vendor section of pci.ids ends

    def fill(self, fn) -> None:
        v, d = _udev_names(self.root, str(fn.address)) if self.have_udev else (None, None)
        fn.vendor_name, fn.device_name = v, d
        if (v is not None and d is not None) or fn.vendor is None:
            return
        if self.data is False:
            path = find_pci_ids(self.root)
            self.data = None
            if path is not None:
                from vfioctl.sysfs.root import read_file
                try:
                    self.data = read_file(path, "pci.ids")   # regular, bounded, non-blocking
                except OSError as e:
                    if self.warn is not None:
                        self.warn(f"{path}: {e.strerror}; pci.ids names not used")
        if self.data is None:
            return
        key = (fn.vendor, fn.device)
        hit = self.table.get(key)
        if hit is None:
            if self.end < 0:
                self.end = self.data.find(b"\nC ")
                if self.end < 0:
                    self.end = len(self.data)
            hit = self.table[key] = lookup_name(self.data, fn.vendor, fn.device, self.end)
        fn.vendor_name = fn.vendor_name or hit[0]
        fn.device_name = fn.device_name or hit[1]
